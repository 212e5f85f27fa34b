//! Leak baselines: every cycling cell that ran is compared with the same
//! scenario on the same interpreter importing an empty extension module
//! (`extmatrix_baseline`, built beside each harness), with the same cycles,
//! allocator and kind of subinterpreter. CPython keeps memory per cycle on
//! its own; the baseline is what that costs, so the leak rule can subtract
//! it. One baseline run serves every cell with the same key.

use crate::events::{Event, Observer};
use crate::execute::{cell_command, CellRun};
use crate::provision::Provisioned;
use extmatrix_core::{Scenario, SubinterpKind};
use extmatrix_judge::Evidence;
use extmatrix_plan::{Cell, Plan};
use extmatrix_protocol::{Observation, Stage};
use extmatrix_runner::parallel_map;
use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

/// Which baseline a cell needs: its interpreter's id, its scenario, and
/// for `subinterp-cycle` the kind of subinterpreter the cell's run used
/// (auto picks it from the module's declaration).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BaselineKey {
    pub python: String,
    pub scenario: Scenario,
    pub subinterp: Option<SubinterpKind>,
}

/// The baseline runs of a run, by key.
#[derive(Debug, Default)]
pub struct Baselines(pub HashMap<BaselineKey, Observation>);

impl Baselines {
    /// The baseline `run` is judged against, if it needs and has one.
    pub fn of(&self, run: &CellRun) -> Option<&Observation> {
        self.0.get(&key_of(run)?)
    }
}

/// The key of a cycling cell that ran; `None` for every other cell.
pub fn key_of(run: &CellRun) -> Option<BaselineKey> {
    let Evidence::Ran(obs) = &run.evidence else {
        return None;
    };
    if !run.key.scenario.is_cycling() {
        return None;
    }
    let python = run.key.python.clone();
    let subinterp = match run.key.scenario {
        Scenario::SubinterpCycle => Some(cycled_subinterp(obs)?),
        _ => None,
    };
    Some(BaselineKey {
        python,
        scenario: run.key.scenario,
        subinterp,
    })
}

/// The kind of subinterpreter a `subinterp-cycle` run created, from its
/// steps (`subinterp own 1: create`).
pub fn cycled_subinterp(obs: &Observation) -> Option<SubinterpKind> {
    obs.steps().find_map(|step| match step.stage {
        Stage::Subinterp(kind, Some(_)) => Some(kind),
        _ => None,
    })
}

/// Run the baselines `runs` need, each once, in parallel.
pub fn run_baselines(
    plan: &Plan,
    provisioned: &Provisioned,
    runs: &[CellRun],
    jobs: usize,
    observer: &dyn Observer,
) -> Baselines {
    let keys: BTreeSet<BaselineKey> = runs.iter().filter_map(key_of).collect();
    let commands: Vec<(BaselineKey, extmatrix_runner::CellCommand)> = keys
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
                c.subinterp = key.subinterp;
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
        |(key, command)| {
            let obs = extmatrix_runner::run_cell_retrying(command, crate::ATTEMPTS).ok();
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
