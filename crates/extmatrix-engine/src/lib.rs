//! The extmatrix run as a library: *prepare → provision → execute → judge*,
//! reporting through one stream of [`Event`]s to an [`Observer`].
//!
//! The binary is one caller (it draws progress bars from the events and
//! prints the report); a shard runner or a test is another. A [`Journal`]
//! given to [`run`] keeps every cell as it ends, and lets a later process
//! resume a killed run.
//! Execute keeps every cell's raw evidence ([`CellRun`]); judging is a
//! second pass over all of them ([`judge`]), so a rule can read other cells
//! — a leak baseline, a control run.
//!
//! ```text
//! Matrix ──prepare──▶ Plan ──provision──▶ harness + targets per interpreter
//!        ──execute──▶ CellRun per (cell, module)   (journal: appended as each
//!                     ends; on resume, cells it holds are rebuilt, not run)
//!        ──baselines──▶ the same scenarios without the target (leaks, controls)
//!        ──alone──▶ a failing later instance again, where no first one ran
//!        ──symbols──▶ shared objects named from their images' symbol tables
//!        ──judge──▶ Report (+ each built module's writable globals)
//! ```

mod alone;
mod baseline;
mod events;
mod execute;
mod interpreters;
mod journal;
mod prepare;
mod provision;
mod prune;
mod shard;
mod symbols;
mod timings;

pub use alone::{alone_command, run_alone, AloneRuns};
pub use baseline::{
    control_key_of, cycled_subinterp, leak_key_of, run_baselines, BaselineKey, BaselineMeta,
    Baselines, BASELINES_KIND,
};
pub use events::{BuildItem, Event, InterpreterProgress, Observer, Silent};
pub use execute::{leak_policy, CellRun, ATTEMPTS};
pub use interpreters::build_interpreters;
pub use journal::{this_binary, Finished, Header, Journal, JournalError, JOURNAL_FORMAT};
pub use prepare::{available_pythons, matrix_pythons, prepare};
pub use prune::prune;
pub use shard::shard_info;

use extmatrix_core::Scenario;
use extmatrix_judge::{CellToJudge, Verdict};
use extmatrix_plan::Plan;
use extmatrix_provision::Store;
use extmatrix_schema::{CellKey, CellResult, Interruption, PythonEntry, Report, RunInfo};
pub use extmatrix_verdict::Policy;
use std::path::Path;
use std::time::Instant;
use timings::Timings;

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
/// [`Event::RunFinished`]. After an interrupt (`extmatrix_process::interrupt`:
/// running cells and builds are killed, nothing new starts) it returns the
/// partial report: the cells that finished, and the rest listed as not run.
/// `started` is when the run began (before [`prepare`], whose discovery and
/// interpreter builds count too): the report's wall time. The report is
/// concluded by `policy` (expectations, findings, a baseline, the status:
/// `extmatrix-verdict`). With a `journal`, every cell that runs is appended
/// to it as it ends, and the cells it holds from an earlier process of the
/// same run are not run again (`journal.rs`): the report is the one an
/// uninterrupted run would have made, but for durations.
#[allow(clippy::too_many_arguments)]
pub fn run(
    plan: &Plan,
    matrix_name: &str,
    store: &Store,
    jobs: usize,
    observer: &dyn Observer,
    started: Instant,
    policy: &Policy,
    journal: Option<&Journal>,
) -> Report {
    let provisioned = provision::provision(plan, store, jobs, observer);
    let timings = Timings::load(store, Path::new(matrix_name));
    let mut executed = execute::execute(plan, &provisioned, jobs, observer, journal, &timings);
    timings.save(executed.runs.iter().map(|r| (&r.key, r.duration_ms)));
    let baselines = run_baselines(plan, store, &provisioned, &executed.runs, jobs, observer);
    let made = std::mem::take(&mut executed.alone);
    let alone = run_alone(&executed.runs, made, jobs, observer);
    symbols::name_shared_objects(&mut executed.runs);
    let mut report = Report::new(
        matrix_name.to_owned(),
        plan.pythons.iter().map(python_entry).collect(),
        judge(&executed.runs, &baselines, &alone),
        started.elapsed().as_millis() as u64,
    );
    report.images = symbols::module_images(plan, &provisioned);
    report.run = Some(run_info(started, jobs));
    report.interrupted = extmatrix_process::interrupted().map(|signal| Interruption {
        signal: extmatrix_process::signal_name(signal),
        not_run: executed.not_run,
    });
    extmatrix_verdict::conclude(&mut report, policy);
    observer.on(Event::RunFinished { report: &report });
    report
}

/// The second pass: every cell judged with all cells at hand, and each
/// cycling cell with its baseline.
pub fn judge(runs: &[CellRun], baselines: &Baselines, alone: &AloneRuns) -> Vec<CellResult> {
    let mut verdicts = extmatrix_judge::judge_all(runs.iter().map(|r| CellToJudge {
        facts: &r.facts,
        evidence: &r.evidence,
        baseline: baselines.leak_baseline_of(r),
        control: baselines.control_of(r),
        alone: alone.of(r),
    }));
    compare_linked_with_loaded(runs, &mut verdicts);
    runs.iter()
        .zip(verdicts)
        .map(|(run, Verdict { outcome, details })| {
            CellResult::new(run.key.clone(), outcome, run.duration_ms, details)
        })
        .collect()
}

/// Every `inittab` cell held against the `reinit` cell of the same module on
/// the same interpreter, where both ran.
fn compare_linked_with_loaded(runs: &[CellRun], verdicts: &mut [Verdict]) {
    let reinit_of = |key: &CellKey| {
        runs.iter().position(|r| {
            r.key.scenario == Scenario::Reinit
                && (&r.key.target, &r.key.module, &r.key.python)
                    == (&key.target, &key.module, &key.python)
        })
    };
    for (i, run) in runs.iter().enumerate() {
        if run.key.scenario != Scenario::Inittab {
            continue;
        }
        if let Some(j) = reinit_of(&run.key) {
            let reinit = verdicts[j].clone();
            extmatrix_judge::compare_with_file_import(&mut verdicts[i], &reinit);
        }
    }
}

/// When the run began and on what machine.
fn run_info(started: Instant, jobs: usize) -> RunInfo {
    let began = std::time::SystemTime::now() - started.elapsed();
    let read = |path: &str| std::fs::read_to_string(path).map(|s| s.trim().to_owned());
    RunInfo {
        started_at: humantime::format_rfc3339_seconds(began).to_string(),
        host: read("/proc/sys/kernel/hostname").unwrap_or_else(|_| "unknown".into()),
        os: match read("/proc/sys/kernel/osrelease") {
            Ok(release) => format!("Linux {release}"),
            Err(_) => std::env::consts::OS.to_owned(),
        },
        arch: std::env::consts::ARCH.to_owned(),
        cores: extmatrix_runner::cores(),
        jobs,
    }
}

fn python_entry(p: &extmatrix_pythons::Python) -> PythonEntry {
    PythonEntry {
        id: p.id.clone(),
        version: p.version.to_string(),
        debug: p.debug,
        free_threaded: p.free_threaded,
        path: p.path.display().to_string(),
        found_via: p.found_via.clone(),
        configure_args: p.build.configure_args.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use extmatrix_core::{Outcome, Scenario};
    use extmatrix_judge::{CellFacts, Evidence};
    use extmatrix_protocol::{Observation, Termination};
    use extmatrix_schema::CellKey;
    use std::time::Duration;

    fn run_of(scenario: Scenario, evidence: Evidence, duration_ms: u64) -> CellRun {
        CellRun {
            key: CellKey {
                target: "t".into(),
                module: "m".into(),
                python: "cp313".into(),
                scenario,
            },
            facts: CellFacts {
                scenario,
                free_threaded: false,
                version: extmatrix_core::PythonVersion::new(3, 13, 0),
                timeout: Duration::from_secs(1),
                memory_mb: 4096,
                leak: leak_policy(&extmatrix_spec::Options::default()),
            },
            evidence,
            duration_ms,
            command: None,
        }
    }

    #[test]
    fn the_judging_pass_reads_each_cells_evidence_and_keeps_its_key() {
        let crashed = Observation::new(
            vec![serde_json::from_str(r#"{"ev":"step","step":"cycle 2: import"}"#).unwrap()],
            Termination::Signaled {
                signal: 11,
                name: "SIGSEGV".into(),
            },
        );
        let runs = [
            run_of(Scenario::Reinit, Evidence::Ran(crashed), 7),
            run_of(
                Scenario::SubinterpOwn,
                Evidence::NotApplicable {
                    reason: "old".into(),
                },
                0,
            ),
        ];
        let cells = judge(&runs, &Baselines::default(), &AloneRuns::default());
        assert_eq!(cells.len(), 2);
        assert_eq!(cells[0].outcome, Outcome::Crash);
        assert_eq!(
            cells[0].details.summary,
            "SIGSEGV in step `cycle 2: import`"
        );
        assert_eq!(cells[0].key, runs[0].key);
        assert_eq!(cells[0].duration_ms, 7);
        assert_eq!(cells[1].outcome, Outcome::NotApplicable);
        assert_eq!(cells[1].key.scenario, Scenario::SubinterpOwn);
    }

    /// An inittab cell is held against the reinit cell of its own module
    /// and interpreter, and no other.
    #[test]
    fn an_inittab_cell_says_when_only_the_file_import_passes() {
        let passed = || {
            let done = serde_json::from_str(r#"{"ev":"done"}"#).unwrap();
            Evidence::Ran(Observation::new(
                vec![done],
                Termination::Exited { code: 0 },
            ))
        };
        let crashed = || {
            let step = serde_json::from_str(r#"{"ev":"step","step":"cycle 2: import"}"#).unwrap();
            let signaled = Termination::Signaled {
                signal: 11,
                name: "SIGSEGV".into(),
            };
            Evidence::Ran(Observation::new(vec![step], signaled))
        };
        let mut other_python = run_of(Scenario::Reinit, crashed(), 1);
        other_python.key.python = "cp312".into();
        let mut other_module = run_of(Scenario::Reinit, crashed(), 1);
        other_module.key.module = "n".into();
        let runs = [
            other_python,
            other_module,
            run_of(Scenario::Inittab, crashed(), 1),
            run_of(Scenario::Reinit, passed(), 1),
        ];
        let cells = judge(&runs, &Baselines::default(), &AloneRuns::default());
        assert_eq!(cells[2].outcome, Outcome::Crash);
        assert!(
            cells[2].details.summary.ends_with(
                "fails only when linked in: reinit, which imports the module from its file, pass"
            ),
            "{}",
            cells[2].details.summary
        );
        assert_eq!(
            cells[0].details.notes,
            Vec::<String>::new(),
            "reinit cells are not told"
        );
    }

    #[test]
    fn a_failing_cycling_cell_gets_a_leak_baseline_and_a_control() {
        let ran = |events: &str, termination: Termination| {
            let events = events
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            Evidence::Ran(Observation::new(events, termination))
        };
        let crashed = run_of(
            Scenario::Reinit,
            ran(
                "{\"ev\":\"pulled_in\",\"module\":\"datetime\"}\n{\"ev\":\"step\",\"step\":\"cycle 2: import\"}",
                Termination::Signaled {
                    signal: 11,
                    name: "SIGSEGV".into(),
                },
            ),
            1,
        );
        let leak = leak_key_of(&crashed).unwrap();
        let control = control_key_of(&crashed).unwrap();
        assert!(!leak.control && control.control);
        assert_eq!(control.imports, ["datetime"]);
        assert_eq!(
            BaselineKey {
                control: false,
                ..control
            },
            leak
        );
        let passed = run_of(
            Scenario::Import,
            ran("{\"ev\":\"done\"}", Termination::Exited { code: 0 }),
            1,
        );
        assert_eq!(
            (leak_key_of(&passed), control_key_of(&passed)),
            (None, None)
        );
        let raised = run_of(
            Scenario::Import,
            ran(
                "{\"ev\":\"error\",\"where\":\"import\",\"phase\":\"import\",\"exc_type\":\"ImportError\",\"message\":\"x\"}\n{\"ev\":\"done\"}",
                Termination::Exited { code: 0 },
            ),
            1,
        );
        assert_eq!(leak_key_of(&raised), None);
        assert!(control_key_of(&raised).is_some_and(|k| k.control));
    }
}
