//! What a run tells whoever listens: one stream of events, in the order
//! things happen (the shape of nextest's `reporter/events.rs`). The binary
//! draws progress bars from it; a CI log or a test can listen instead.
//! (The resume journal is not a listener: execute writes each cell to it
//! before the cell's `CellFinished`, and reads it back on resume.) Observers are called from worker threads.

use extmatrix_core::{Outcome, Scenario};
use extmatrix_cpython_build::Phase;
use extmatrix_schema::{CellKey, Report};

/// One thing that happened during a run.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// An interpreter that the matrix builds from source moved on.
    Interpreter {
        id: &'a str,
        progress: InterpreterProgress<'a>,
    },
    /// Provisioning starts: `builds` harness and target builds (cache hits
    /// included).
    ProvisionStarted {
        builds: usize,
    },
    /// A harness or target build starts (it may be found in the cache).
    BuildStarted {
        item: BuildItem<'a>,
    },
    /// A harness or target build finished (or was found in the cache).
    BuildFinished {
        item: BuildItem<'a>,
        ok: bool,
    },
    /// Cells start running: `cells` in all, n/a ones included, but not
    /// those a resumed run takes from its journal.
    ExecuteStarted {
        cells: usize,
    },
    CellStarted {
        key: &'a CellKey,
    },
    /// A cell finished, with the verdict its own evidence gives; the
    /// second judging pass, over all cells, makes the report's verdict.
    CellFinished {
        key: &'a CellKey,
        outcome: Outcome,
        summary: &'a str,
    },
    /// The baselines start: `runs` harness runs of an empty module, one per
    /// (interpreter, scenario, subinterpreter kind, imports) that a cycling
    /// cell (its leak baseline) or a failing cell (its control) needs.
    BaselinesStarted {
        runs: usize,
    },
    /// One baseline run ended (`ok`: it ran to its end).
    BaselineFinished {
        python: &'a str,
        scenario: Scenario,
        ok: bool,
    },
    /// The alone runs start: `runs` cells whose later instance failed
    /// where the first passed run that instance alone.
    AloneRunsStarted {
        runs: usize,
    },
    /// One alone run ended.
    AloneRunFinished {
        key: &'a CellKey,
    },
    /// Every cell is judged; the report is complete.
    RunFinished {
        report: &'a Report,
    },
}

/// The life of one interpreter build.
#[derive(Debug, Clone, Copy)]
pub enum InterpreterProgress<'a> {
    Queued,
    Phase(Phase),
    /// The build's latest output line.
    Line(&'a str),
    /// Another extmatrix holds this entry's lock and is building it.
    Waiting,
    /// Ready: built now (`fresh`) or found in the cache.
    Finished {
        fresh: bool,
    },
    Failed,
}

/// What a provisioning build was for.
#[derive(Debug, Clone, Copy)]
pub enum BuildItem<'a> {
    Harness { python: &'a str },
    Target { target: &'a str, python: &'a str },
}

/// Told about every event of a run.
pub trait Observer: Sync {
    fn on(&self, event: Event<'_>);
}

/// Listens to nothing.
pub struct Silent;

impl Observer for Silent {
    fn on(&self, _: Event<'_>) {}
}
