//! Baselines, which are also the controls: a cell is compared with the
//! same scenario on the same interpreter importing an empty extension
//! module (`extmatrix_baseline`, built beside each harness), with the same
//! cycles, allocator and kind of subinterpreter, whose smoke code imports
//! every module the target pulled in (`pulled_in` events: `json`,
//! `typing`, its dependencies) from the target's directory.
//!
//! - Every cycling cell that ran gets one: CPython keeps memory per cycle
//!   on its own, and more for every module imported in that cycle; the
//!   baseline is what that costs, so the leak rule can subtract it.
//! - Every other cell that crashed, hung or raised gets one as its control:
//!   when the control fails the same way, the interpreter (or what the
//!   target imports) is to blame, not the target (`also-without-target`).
//!
//! One run serves every cell with the same key, and is kept in the cache
//! (kind `baselines`) with its interpreter's harness: the next run with the
//! same harness, scenario, imports, cycles, allocator and kind reads it
//! instead of running it again. A run that timed out or could not start is
//! used once and never kept (a loaded machine must not be remembered as a
//! verdict); one that crashed is kept, as CPython's own re-init crashes
//! are deterministic.

use crate::events::{Event, Observer};
use crate::execute::{cell_command, CellRun};
use crate::provision::Provisioned;
use extmatrix_cache::{Input, Store};
use extmatrix_core::{Scenario, SubinterpKind};
use extmatrix_judge::Evidence;
use extmatrix_plan::{Cell, Plan};
use extmatrix_protocol::{Observation, Stage};
use extmatrix_provision::{KEY_SCHEME, KEY_SCHEME_INPUT, SOURCES_INPUT};
use extmatrix_runner::{parallel_map, CellCommand, Lease};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Which baseline a cell needs: its interpreter's id, its scenario, and
/// for `subinterp-cycle` the kind of subinterpreter the cell's run used
/// (auto picks it from the module's declaration).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BaselineKey {
    pub python: String,
    pub scenario: Scenario,
    pub subinterp: Option<SubinterpKind>,
    /// What the target pulled in, sorted, and where it was imported from
    /// (`None` when it pulled in nothing).
    pub imports: Vec<String>,
    pub module_dir: Option<PathBuf>,
    /// The target ran `site` at every init (`site: true`): so does its baseline.
    pub site: bool,
    /// A control: the imports' errors go through (what is compared). A
    /// leak baseline skips a module that does not import instead, since
    /// it must run every cycle to be read.
    pub control: bool,
}

/// The baseline runs of a run, by key.
#[derive(Debug, Default)]
pub struct Baselines(pub HashMap<BaselineKey, Observation>);

impl Baselines {
    /// The leak baseline a cycling `run` is read against, if it has one.
    pub fn leak_baseline_of(&self, run: &CellRun) -> Option<&Observation> {
        self.0.get(&leak_key_of(run)?)
    }

    /// The control a failing `run` is held against, if it has one.
    pub fn control_of(&self, run: &CellRun) -> Option<&Observation> {
        self.0.get(&control_key_of(run)?)
    }
}

/// The key of a cycling cell's leak baseline; `None` for other cells.
pub fn leak_key_of(run: &CellRun) -> Option<BaselineKey> {
    run.key
        .scenario
        .is_cycling()
        .then(|| key(run, false))
        .flatten()
}

/// The key of a failing cell's control (crash, hang, import-error);
/// `None` for other cells.
pub fn control_key_of(run: &CellRun) -> Option<BaselineKey> {
    let own = extmatrix_judge::judge_cell(&run.facts, &run.evidence);
    extmatrix_judge::wants_control(own.outcome)
        .then(|| key(run, true))
        .flatten()
}

/// The key of `run`'s baseline, a control or not, if it ran.
fn key(run: &CellRun, control: bool) -> Option<BaselineKey> {
    let Evidence::Ran(obs) = &run.evidence else {
        return None;
    };
    // The kind the cell's cycles used: the baseline module declares every
    // kind, so `auto` would pick another one for it. (An inittab cell whose
    // first import failed made none; its control needs none.)
    let subinterp = match run.key.scenario {
        Scenario::SubinterpCycle => Some(cycled_subinterp(obs)?),
        Scenario::Inittab => cycled_subinterp(obs),
        _ => None,
    };
    let mut imports: Vec<String> = obs.pulled_in().map(str::to_owned).collect();
    imports.sort();
    Some(BaselineKey {
        python: run.key.python.clone(),
        scenario: run.key.scenario,
        subinterp,
        module_dir: run
            .command
            .as_ref()
            .map(|c| c.module_dir.clone())
            .filter(|_| !imports.is_empty()),
        site: run.command.as_ref().is_some_and(|c| c.site),
        imports,
        control,
    })
}

/// The kind of subinterpreter a `subinterp-cycle` (or `inittab`) run
/// created, from its steps (`subinterp own 1: create`).
pub fn cycled_subinterp(obs: &Observation) -> Option<SubinterpKind> {
    obs.steps().find_map(|step| match step.stage {
        Stage::Subinterp(kind, Some(_)) => Some(kind),
        _ => None,
    })
}

/// Run the baselines `runs` need, each once, in parallel.
pub fn run_baselines(
    plan: &Plan,
    store: &Store,
    provisioned: &Provisioned,
    runs: &[CellRun],
    jobs: usize,
    observer: &dyn Observer,
) -> Baselines {
    let keys: BTreeSet<BaselineKey> = runs
        .iter()
        .flat_map(|r| [leak_key_of(r), control_key_of(r)])
        .flatten()
        .collect();
    let commands: Vec<(BaselineKey, CellCommand)> = keys
        .into_iter()
        .filter_map(|key| {
            let python = plan.pythons.iter().position(|p| p.id == key.python)?;
            let harness = provisioned.harnesses[python].as_ref()?.as_ref().ok()?;
            let cell = Cell {
                target: 0,
                python,
                scenario: key.scenario,
            };
            let timeout = Duration::from_secs(plan.options.timeout_s);
            let command = cell_command(plan, harness, cell, timeout, |c| {
                c.module = extmatrix_provision::BASELINE_MODULE.to_owned();
                c.module_dir = extmatrix_provision::baseline_module_dir(harness);
                c.module_file = extmatrix_provision::baseline_module_file(harness);
                c.subinterp = key.subinterp;
                c.site = key.site;
                c.smoke = importing(&key.imports, key.module_dir.as_deref(), key.control);
            });
            Some((key, command))
        })
        .collect();
    if commands.is_empty() || extmatrix_process::interrupted().is_some() {
        return Baselines::default();
    }
    observer.on(Event::BaselinesStarted {
        runs: commands.len(),
    });
    let observed = parallel_map(
        &commands,
        jobs,
        |(key, command), lease| {
            let obs = cached_run(store, key, command, lease);
            observer.on(Event::BaselineFinished {
                python: &key.python,
                scenario: key.scenario,
                ok: obs.as_ref().is_some_and(|o| o.finished()),
            });
            Some((key.clone(), obs?))
        },
        |_, _| {},
    );
    Baselines(observed.into_iter().flatten().collect())
}

/// The baseline's smoke code: import `modules` from `dir` (after the
/// baseline module's own directory), each in every cycle where the target's
/// import brought it in. A control lets an import's error through: it is
/// what is compared. A leak baseline skips a module that does not import:
/// it must run every cycle to be read at all.
fn importing(modules: &[String], dir: Option<&Path>, control: bool) -> Option<String> {
    let dir = dir?;
    let as_python = |s: &str| serde_json::to_string(s).expect("a string serializes");
    let names: Vec<String> = modules.iter().map(|m| as_python(m)).collect();
    let import = if control {
        "    __import__(name)\n"
    } else {
        "    try:\n        __import__(name)\n    except Exception:\n        pass\n"
    };
    Some(format!(
        "import sys\n\
         if {dir} not in sys.path:\n    sys.path.insert(1, {dir})\n\
         for name in [{names}]:\n{import}",
        dir = as_python(&dir.to_string_lossy()),
        names = names.join(", "),
    ))
}

/// The cache kind of baseline runs (`<cache>/baselines/<id>-<key>`).
pub const BASELINES_KIND: &str = "baselines";

/// What a baseline entry holds (`meta.json`): the run itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BaselineMeta {
    pub python: String,
    pub scenario: Scenario,
    pub subinterp: Option<SubinterpKind>,
    pub cycles: u32,
    pub debug_allocator: bool,
    pub observation: Observation,
}

const BUILT_BY: &str = concat!("extmatrix-engine ", env!("CARGO_PKG_VERSION"));
/// The name of a baseline's input that says how it was run.
const RUN_SCHEME_INPUT: &str = "run_scheme";

/// The baseline run of `command`: from the cache, or run now and kept
/// unless it timed out. `None` when the harness could not be started.
fn cached_run(
    store: &Store,
    key: &BaselineKey,
    command: &CellCommand,
    lease: &Lease,
) -> Option<Observation> {
    let name = format!(
        "{}-{}",
        key.python,
        extmatrix_cache::key([
            extmatrix_provision::KEY_SCHEME.as_bytes(),
            extmatrix_runner::RUN_SCHEME.as_bytes(),
            command.harness.as_os_str().as_encoded_bytes(),
            key.scenario.id().as_bytes(),
            key.subinterp.map_or("auto", |k| k.id()).as_bytes(),
            command.smoke.as_deref().unwrap_or("").as_bytes(),
            command.cycles.to_string().as_bytes(),
            &[u8::from(command.debug_allocator)],
            &[u8::from(command.site)],
            format!("{:?}", command.stress).as_bytes(),
        ])
    );
    let mut unfinished = None;
    let entry = store.ensure(BASELINES_KIND, &name, BUILT_BY, &|| {}, |_| {
        let obs = crate::execute::run_retrying(command, lease)?;
        if obs.termination.is_hang() {
            unfinished = Some(obs);
            return Err(std::io::Error::other("the baseline timed out"));
        }
        let inputs = vec![
            Input::program(&command.python_exe),
            Input::file(&command.harness)?,
            Input::value(SOURCES_INPUT, extmatrix_provision::harness_sources_digest()),
            Input::value(KEY_SCHEME_INPUT, KEY_SCHEME),
            Input::value(RUN_SCHEME_INPUT, extmatrix_runner::RUN_SCHEME),
        ];
        let meta = BaselineMeta {
            python: key.python.clone(),
            scenario: key.scenario,
            subinterp: key.subinterp,
            cycles: command.cycles,
            debug_allocator: command.debug_allocator,
            observation: obs,
        };
        Ok::<_, std::io::Error>((meta, inputs))
    });
    match entry {
        Ok(entry) => Some(entry.meta.observation),
        Err(_) => unfinished,
    }
}
