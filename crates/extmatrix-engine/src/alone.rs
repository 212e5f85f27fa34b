//! Alone runs: every cell whose later instance failed where its first
//! passed (`extmatrix_judge::later_instance_failure`) runs that later
//! instance again, alone, in a fresh process where no earlier instance ran
//! — the same subinterpreter without the main interpreter's import
//! (`--alone`), or a first import for a re-import or a re-init cycle. The
//! judge's `rules/differential.rs` reads the two runs together. Only
//! failing cells get one, so they are not cached.

use crate::baseline::cycled_subinterp;
use crate::events::{Event, Observer};
use crate::execute::CellRun;
use extmatrix_core::{Outcome, Scenario};
use extmatrix_judge::Evidence;
use extmatrix_protocol::Observation;
use extmatrix_runner::{parallel_map, CellCommand, Lease};
use extmatrix_schema::CellKey;
use std::collections::HashMap;

/// The alone runs of a run, by cell.
#[derive(Debug, Default)]
pub struct AloneRuns(pub HashMap<CellKey, Observation>);

impl AloneRuns {
    pub fn of(&self, run: &CellRun) -> Option<&Observation> {
        self.0.get(&run.key)
    }
}

/// The command of `run`'s alone run, if it needs one.
pub fn alone_command(run: &CellRun) -> Option<CellCommand> {
    let Evidence::Ran(obs) = &run.evidence else {
        return None;
    };
    let own = extmatrix_judge::judge_cell(&run.facts, &run.evidence);
    if own.outcome != Outcome::ImportError
        || extmatrix_judge::later_instance_failure(&own.details).is_none()
    {
        return None;
    }
    // Workers at once are no earlier and later instance: a race, not
    // state one instance leaves for the next.
    if run.key.scenario.is_stress() {
        return None;
    }
    let mut command = run.command.clone()?;
    command.scenario = extmatrix_judge::alone_scenario(run.key.scenario);
    command.alone = !matches!(command.scenario, Scenario::Import | Scenario::Inittab);
    match run.key.scenario {
        Scenario::SubinterpCycle => {
            command.subinterp = Some(cycled_subinterp(obs)?);
            command.cycles = 1;
        }
        // Its first cycle in a fresh process: linked in, no earlier cycle.
        Scenario::Inittab => command.cycles = 1,
        _ => {}
    }
    Some(command)
}

/// `run`'s alone run, if it needs one (execute makes it right after the
/// cell). None after an interrupt: a verdict is never read against a run
/// the interrupt cut short.
pub fn alone_run_of(run: &CellRun, lease: &Lease) -> Option<Observation> {
    let obs = run_alone_command(&alone_command(run)?, lease)?;
    extmatrix_process::interrupted().is_none().then_some(obs)
}

fn run_alone_command(command: &CellCommand, lease: &Lease) -> Option<Observation> {
    crate::execute::run_retrying(command, lease).ok()
}

/// Run the alone runs `runs` need that `made` lacks (execute makes each
/// right after its cell; a cell resumed from the journal has none), in
/// parallel.
pub fn run_alone(
    runs: &[CellRun],
    mut made: AloneRuns,
    jobs: usize,
    observer: &dyn Observer,
) -> AloneRuns {
    let commands: Vec<(CellKey, CellCommand)> = runs
        .iter()
        .filter(|r| !made.0.contains_key(&r.key))
        .filter_map(|r| Some((r.key.clone(), alone_command(r)?)))
        .collect();
    if commands.is_empty() || extmatrix_process::interrupted().is_some() {
        return made;
    }
    observer.on(Event::AloneRunsStarted {
        runs: commands.len(),
    });
    let observed = parallel_map(
        &commands,
        jobs,
        |(key, command), lease| {
            let obs = run_alone_command(command, lease);
            observer.on(Event::AloneRunFinished { key });
            Some((key.clone(), obs?))
        },
        |_, _| {},
    );
    made.0.extend(observed.into_iter().flatten());
    made
}
