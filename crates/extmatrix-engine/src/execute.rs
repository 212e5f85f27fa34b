//! Execute: every cell of the plan, once per module its target built, each
//! in its own harness process (own process group under the harness's
//! supervisor, timeout, memory limit), in parallel.
//! Keeps every cell's raw evidence for the judging pass; decides nothing
//! about outcomes beyond "this cell cannot run".

use crate::alone::AloneRuns;
use crate::events::{Event, Observer};
use crate::journal::Journal;
use crate::provision::{runnable, Provisioned};
use crate::timings::Timings;
use extmatrix_judge::{CellFacts, Evidence, LeakPolicy};
use extmatrix_plan::{Cell, Plan};
use extmatrix_protocol::Observation;
use extmatrix_provision::{BuildFailure, BuiltTarget};
use extmatrix_runner::{parallel_map, CellCommand, Lease, Stress};
use extmatrix_schema::{BuildDetails, CellKey};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Runs of a cell that tell nothing of its target
/// (`extmatrix_judge::says_nothing_of_the_target`).
pub const ATTEMPTS: u32 = 3;

/// One run of the harness — of a cell, its baseline, its control or its
/// alone run — made again while it tells nothing of its target.
pub fn run_retrying(command: &CellCommand, lease: &Lease) -> std::io::Result<Observation> {
    extmatrix_runner::run_cell_retrying(command, ATTEMPTS, lease, &|obs| {
        extmatrix_judge::says_nothing_of_the_target(obs, command.timeout)
    })
}

/// One executed cell: its key, what the judge needs to know, the evidence.
#[derive(Debug, Clone)]
pub struct CellRun {
    pub key: CellKey,
    pub facts: CellFacts,
    pub evidence: Evidence,
    pub duration_ms: u64,
    /// How the harness was run (cells that ran): what a control or an
    /// alone run starts from.
    pub command: Option<CellCommand>,
}

/// A cell for one module, before it runs.
enum Unit {
    /// Its evidence is known without running anything.
    Known(Evidence),
    /// Run `repeat` times (`options.repeat`); the worst run is the cell's.
    Run { command: CellCommand, repeat: u32 },
}

/// What execute did: the cells that ran to an end, and the cells an
/// interrupt left without evidence.
pub struct Executed {
    pub runs: Vec<CellRun>,
    pub not_run: Vec<CellKey>,
    /// The alone runs made right after their cells (not those of cells
    /// resumed from the journal).
    pub alone: AloneRuns,
}

/// Run every cell of `plan` (but those `journal` says an earlier process of
/// this run finished: their `CellRun`s are rebuilt from it), appending each
/// cell that ran to `journal` as it ends. Cells start longest first, by
/// `timings` (`timings.rs`).
pub fn execute(
    plan: &Plan,
    provisioned: &Provisioned,
    jobs: usize,
    observer: &dyn Observer,
    journal: Option<&Journal>,
    timings: &Timings,
) -> Executed {
    let timeout = Duration::from_secs(plan.options.timeout_s);
    let units: Vec<(CellKey, CellFacts, Unit)> = (0..plan.cells.len())
        .flat_map(|i| units_of(plan, provisioned, i, timeout))
        .collect();
    let resumed: Vec<Option<CellRun>> = units.iter().map(|unit| journaled(journal, unit)).collect();
    let pending: Vec<&(CellKey, CellFacts, Unit)> = units
        .iter()
        .zip(&resumed)
        .filter(|(_, resumed)| resumed.is_none())
        .map(|(unit, _)| unit)
        .collect();
    observer.on(Event::ExecuteStarted {
        cells: pending.len(),
    });
    let order = timings.start_order(pending.iter().map(|(key, ..)| key));
    let started: Vec<_> = order.iter().map(|&i| pending[i]).collect();
    let outcomes = parallel_map(
        &started,
        jobs,
        |unit, lease| run_unit(unit, lease, observer, journal),
        |_, _| {},
    );
    let mut in_plan_order: Vec<_> = order.into_iter().zip(outcomes).collect();
    in_plan_order.sort_by_key(|(i, _)| *i);
    // In the plan's order, resumed or not: the report's cells are too.
    let mut outcomes = in_plan_order.into_iter().map(|(_, outcome)| outcome);
    let mut executed = Executed {
        runs: Vec::new(),
        not_run: Vec::new(),
        alone: AloneRuns::default(),
    };
    for resumed in resumed {
        match resumed
            .map(|run| Ok((run, None)))
            .or_else(|| outcomes.next())
        {
            Some(Ok((run, alone))) => {
                if let Some(obs) = alone {
                    executed.alone.0.insert(run.key.clone(), obs);
                }
                executed.runs.push(run);
            }
            Some(Err(key)) => executed.not_run.push(key),
            None => unreachable!("one outcome per pending unit"),
        }
    }
    executed
}

/// Run one unit: its `CellRun` and its alone run, or its key when an
/// interrupt left it without evidence.
fn run_unit(
    (key, facts, unit): &(CellKey, CellFacts, Unit),
    lease: &Lease,
    observer: &dyn Observer,
    journal: Option<&Journal>,
) -> Result<(CellRun, Option<Observation>), CellKey> {
    if extmatrix_process::interrupted().is_some() {
        return Err(key.clone());
    }
    observer.on(Event::CellStarted { key });
    let started = Instant::now();
    let evidence = match unit {
        Unit::Known(evidence) => evidence.clone(),
        Unit::Run { command, repeat } => run(command, *repeat, facts, lease),
    };
    // Killed by the interrupt, or finished while it came: no verdict
    // on evidence the interrupt may have cut short.
    if extmatrix_process::interrupted().is_some() {
        return Err(key.clone());
    }
    let duration_ms = started.elapsed().as_millis() as u64;
    let command = match unit {
        Unit::Run { command, .. } => Some(command.clone()),
        Unit::Known(_) => None,
    };
    // Journaled before it is reported finished: a cell shown as done
    // survives a kill that comes right after.
    if let (Some(journal), Some(_)) = (journal, &command) {
        journal.record(key, &evidence, duration_ms);
    }
    let verdict = extmatrix_judge::judge_cell(facts, &evidence);
    observer.on(Event::CellFinished {
        key,
        outcome: verdict.outcome,
        summary: &verdict.details.summary,
    });
    let run = CellRun {
        key: key.clone(),
        facts: *facts,
        evidence,
        duration_ms,
        command,
    };
    // Right after the cell, on its job slot, beside the cells still
    // running, not in a phase of its own after the last one.
    let alone = crate::alone::alone_run_of(&run, lease);
    Ok((run, alone))
}

/// The run of a cell an earlier process of this run finished, as the
/// journal has it, with the command this plan gives the cell (what its
/// control and alone run start from). Only cells that run are taken from
/// the journal: known evidence (`n/a`, a failed build) is this run's.
fn journaled(
    journal: Option<&Journal>,
    (key, facts, unit): &(CellKey, CellFacts, Unit),
) -> Option<CellRun> {
    let Unit::Run { command, .. } = unit else {
        return None;
    };
    let finished = journal?.finished(key)?;
    Some(CellRun {
        key: key.clone(),
        facts: *facts,
        evidence: finished.evidence.clone(),
        duration_ms: finished.duration_ms,
        command: Some(command.clone()),
    })
}

/// Run the harness `repeat` times; the evidence is the worst run, carrying
/// every run's outcome. An interrupt stops the runs (and `run_unit` then
/// keeps no verdict for the cell); a harness that cannot be started again
/// ends them with the runs made so far.
fn run(command: &CellCommand, repeat: u32, facts: &CellFacts, lease: &Lease) -> Evidence {
    let mut runs = Vec::new();
    for _ in 0..repeat.max(1) {
        match run_retrying(command, lease) {
            Ok(obs) => runs.push(obs),
            Err(_) if !runs.is_empty() => break,
            Err(e) => {
                return Evidence::CouldNotRun {
                    message: format!(
                        "could not run the harness {}: {e}",
                        command.harness.display()
                    ),
                }
            }
        }
        if extmatrix_process::interrupted().is_some() {
            break;
        }
    }
    Evidence::Ran(extmatrix_judge::worst_run(facts, runs))
}

/// The units of plan cell `i`: one per module of its target, or, when
/// nothing can run, one per module saying why.
fn units_of(
    plan: &Plan,
    provisioned: &Provisioned,
    i: usize,
    timeout: Duration,
) -> Vec<(CellKey, CellFacts, Unit)> {
    let cell: Cell = plan.cells[i];
    let py = &plan.pythons[cell.python];
    let target = &plan.targets[cell.target];
    let facts = CellFacts {
        scenario: cell.scenario,
        free_threaded: py.free_threaded,
        version: py.version,
        timeout,
        memory_mb: plan.options.memory_mb,
        leak: leak_policy(&plan.options),
    };
    let key = |module: &str| CellKey {
        target: target.name.clone(),
        module: module.to_owned(),
        python: py.id.clone(),
        scenario: cell.scenario,
    };
    let known = |evidence: Evidence| -> Vec<(CellKey, CellFacts, Unit)> {
        module_names(plan, provisioned, cell.target)
            .iter()
            .map(|m| (key(m), facts, Unit::Known(evidence.clone())))
            .collect()
    };
    let (harness, built) = match ready(plan, provisioned, i) {
        Ok(ready) => ready,
        Err(evidence) => return known(*evidence),
    };
    let repeat = plan.options.repeat_of(cell.scenario);
    let runs = built.modules.iter().map(|module| {
        let command = cell_command(plan, harness, cell, timeout, |c| {
            c.module = module.name.clone();
            c.module_dir = built.module_dir.clone();
            c.smoke = target.smoke.clone();
            c.site = target.site;
            c.module_file = Some(module.artifact.clone());
        });
        (key(&module.name), facts, Unit::Run { command, repeat })
    });
    let untestable = built.untestable.iter().map(|u| {
        let reason = u.reason.clone();
        (
            key(&u.name),
            facts,
            Unit::Known(Evidence::NotApplicable { reason }),
        )
    });
    let elsewhere =
        missing_here(plan, provisioned, cell.target, built, &py.id).map(|(name, reason)| {
            (
                key(&name),
                facts,
                Unit::Known(Evidence::NotApplicable { reason }),
            )
        });
    runs.chain(untestable).chain(elsewhere).collect()
}

/// How the leak rule reads cycles, from the matrix's options.
pub fn leak_policy(options: &extmatrix_spec::Options) -> LeakPolicy {
    LeakPolicy {
        warmup: options.warmup,
        kib_per_cycle: options.leak_kib_per_cycle as f64,
        blocks_per_cycle: options.leak_blocks_per_cycle as f64,
    }
}

/// The harness command of `cell` under the matrix's options, before
/// `target` names what it imports: the debug allocator is on for the
/// cycling scenarios (when `options.debug_allocator` says so), where a
/// pointer kept across a cycle would otherwise read a freed object that
/// still looks alive.
pub fn cell_command(
    plan: &Plan,
    harness: &Path,
    cell: Cell,
    timeout: Duration,
    target: impl FnOnce(&mut CellCommand),
) -> CellCommand {
    let py = &plan.pythons[cell.python];
    let mut command = CellCommand {
        harness: harness.to_path_buf(),
        scenario: cell.scenario,
        module: String::new(),
        module_dir: PathBuf::new(),
        smoke: None,
        python_exe: py.path.clone(),
        cycles: plan.options.cycles,
        stress: stress(&plan.options),
        module_file: None,
        debug_allocator: plan.options.debug_allocator && cell.scenario.is_cycling(),
        subinterp: plan.options.subinterp,
        alone: false,
        site: false,
        timeout,
        deadlock: deadlock(&plan.options),
        // A sanitizer's shadow memory reserves terabytes of address
        // space: under RLIMIT_AS its runtime dies before main.
        memory_mb: py
            .build
            .sanitizers()
            .is_empty()
            .then_some(plan.options.memory_mb),
    };
    target(&mut command);
    command
}

/// How long a cell may sit deadlocked before it ends (`deadlock_s`; `0`:
/// never early).
fn deadlock(options: &extmatrix_spec::Options) -> Option<Duration> {
    (options.deadlock_s > 0).then(|| Duration::from_secs(options.deadlock_s))
}

/// The stress scenarios' workers under the matrix's options, on this
/// machine's cores.
pub fn stress(options: &extmatrix_spec::Options) -> Stress {
    let cores = extmatrix_runner::cores();
    Stress {
        threads: options.threads_on(cores),
        interpreters: options.interpreters_on(cores),
        rounds: options.rounds,
        waves: options.waves,
    }
}

/// The harness and the build cell `i` runs with, or the evidence of why it
/// cannot run.
fn ready<'p>(
    plan: &Plan,
    provisioned: &'p Provisioned,
    i: usize,
) -> Result<(&'p PathBuf, &'p BuiltTarget), Box<Evidence>> {
    let cell: Cell = plan.cells[i];
    let py = &plan.pythons[cell.python];
    if !runnable(plan, i) {
        let reason = cell
            .scenario
            .unsupported_reason(py.version, py.free_threaded)
            .unwrap_or_default();
        return Err(Box::new(Evidence::NotApplicable { reason }));
    }
    let harness = match &provisioned.harnesses[cell.python] {
        Some(Ok(path)) => path,
        Some(Err(f)) => {
            return Err(Box::new(Evidence::HarnessUnbuilt {
                python: py.id.clone(),
                summary: f.summary.clone(),
                build: build_details(f),
            }))
        }
        None => unreachable!("a runnable cell's interpreter has a harness build"),
    };
    // A build without modules is a failure already (provision.rs).
    let built = match &provisioned.targets[cell.target][cell.python] {
        Some(Ok(built)) => built,
        Some(Err(f)) => {
            return Err(Box::new(Evidence::TargetUnbuilt {
                summary: f.summary.clone(),
                build: build_details(f),
            }))
        }
        None => unreachable!("a runnable cell's target has a build"),
    };
    Ok((harness, built))
}

/// The modules other builds of target `t` found that `built` (its build
/// for one interpreter) lacks, each with why it is `n/a` there: every
/// module gets a row on every interpreter, and a module a project builds
/// only for some interpreters (or that only some interpreters ship) is not
/// a failure on the others.
fn missing_here(
    plan: &Plan,
    provisioned: &Provisioned,
    t: usize,
    built: &BuiltTarget,
    python: &str,
) -> impl Iterator<Item = (String, String)> {
    let here: Vec<&str> = built
        .modules
        .iter()
        .map(|m| m.name.as_str())
        .chain(built.untestable.iter().map(|u| u.name.as_str()))
        .collect();
    let missing: Vec<String> = module_names(plan, provisioned, t)
        .into_iter()
        .filter(|m| !m.is_empty() && !here.contains(&m.as_str()))
        .collect();
    let python = python.to_owned();
    missing.into_iter().map(move |m| {
        let reason = format!(
            "{m} is not in this target's build for {python}: only other interpreters' builds have it"
        );
        (m, reason)
    })
}

/// The modules target `t` has rows for where nothing ran: those the matrix
/// lists, else every one any of its builds found, else one row with no
/// module name (no build got far enough to say).
fn module_names(plan: &Plan, provisioned: &Provisioned, t: usize) -> Vec<String> {
    let listed = &plan.targets[t].modules;
    if !listed.is_empty() {
        return listed.clone();
    }
    let found: std::collections::BTreeSet<String> = provisioned.targets[t]
        .iter()
        .flatten()
        .flatten()
        .flat_map(|b| {
            let built = b.modules.iter().map(|m| m.name.clone());
            built.chain(b.untestable.iter().map(|u| u.name.clone()))
        })
        .collect();
    if found.is_empty() {
        vec![String::new()]
    } else {
        found.into_iter().collect()
    }
}

fn build_details(f: &BuildFailure) -> BuildDetails {
    BuildDetails {
        command: f.command.clone(),
        output: f.output.clone(),
        cause: f.cause.as_deref().cloned(),
        log: f.log.as_ref().map(|p| p.display().to_string()),
    }
}
