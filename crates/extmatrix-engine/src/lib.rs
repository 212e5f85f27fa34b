//! The extmatrix run as a library: *prepare → provision → execute → judge*,
//! reporting through one stream of [`Event`]s to an [`Observer`].
//!
//! The binary is one caller (it draws progress bars from the events and
//! prints the report); a shard runner, a resumed run or a test is another.
//! Execute keeps every cell's raw evidence ([`CellRun`]); judging is a
//! second pass over all of them ([`judge`]), so a rule can read other cells
//! — a leak baseline, a control run.
//!
//! ```text
//! Matrix ──prepare──▶ Plan ──provision──▶ harness + targets per interpreter
//!        ──execute──▶ CellRun per (cell, module) ──judge──▶ Report
//! ```

mod events;
mod execute;
mod interpreters;
mod prepare;
mod provision;

pub use events::{BuildItem, Event, InterpreterProgress, Observer, Silent};
pub use execute::{CellRun, ATTEMPTS};
pub use interpreters::build_interpreters;
pub use prepare::prepare;

use extmatrix_judge::Verdict;
use extmatrix_plan::Plan;
use extmatrix_provision::Store;
use extmatrix_schema::{CellResult, PythonEntry, Report};
use std::time::Instant;

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The matrix file or the command line asks for something this machine
    /// cannot do (an unknown id, a filter that matches nothing, a wrong
    /// build entry): exit status 2.
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

/// Provision, execute and judge `plan`; the report is also sent as
/// [`Event::RunFinished`].
pub fn run(
    plan: &Plan,
    matrix_name: &str,
    store: &Store,
    jobs: usize,
    observer: &dyn Observer,
) -> Report {
    let started = Instant::now();
    let provisioned = provision::provision(plan, store, jobs, observer);
    let runs = execute::execute(plan, &provisioned, jobs, observer);
    let report = Report::new(
        matrix_name.to_owned(),
        plan.pythons.iter().map(python_entry).collect(),
        judge(&runs),
        started.elapsed().as_millis() as u64,
    );
    observer.on(Event::RunFinished { report: &report });
    report
}

/// The second pass: every cell judged with all cells at hand.
pub fn judge(runs: &[CellRun]) -> Vec<CellResult> {
    let verdicts = extmatrix_judge::judge_all(runs.iter().map(|r| (&r.facts, &r.evidence)));
    runs.iter()
        .zip(verdicts)
        .map(|(run, Verdict { outcome, details })| CellResult {
            key: run.key.clone(),
            outcome,
            duration_ms: run.duration_ms,
            details,
        })
        .collect()
}

fn python_entry(p: &extmatrix_pythons::Python) -> PythonEntry {
    PythonEntry {
        id: p.id.clone(),
        version: p.version.to_string(),
        debug: p.debug,
        free_threaded: p.free_threaded,
        path: p.path.display().to_string(),
    }
}
