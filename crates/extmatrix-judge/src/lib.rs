//! Judge cells: turn the evidence of every cell into a [`Verdict`] (an
//! outcome and its details as structured data).
//!
//! Every rule that decides an outcome is in `rules/`, one file per concern,
//! each with its own tests; this file only gathers the details, asks the
//! rules for findings and orders them: a cell can observe several things,
//! the most severe outcome wins (`Outcome`'s order) and every observation
//! stays in the details.
//!
//! Judging is a second pass over *all* cells ([`judge_all`]), after every
//! cell has run, so that a rule can read other cells (a leak baseline, a
//! control run of the same scenario without the target).

mod rules;

pub use rules::control::wants_control;
pub use rules::differential::{alone_scenario, later_instance_failure};
pub use rules::gil::reenabled_gil;
pub use rules::leak::{least_squares, LeakPolicy};
pub use rules::linking::compare as compare_with_file_import;
pub use rules::refusal::refused_in;
pub use rules::refusal::{is_refusal, refusal_expected};
pub use rules::repeat::worst_run;
pub use rules::retry::says_nothing_of_the_target;
pub use rules::shared::counts_as_shared;

use extmatrix_core::{Outcome, PythonVersion, Reason, Scenario};
use extmatrix_protocol::{Event, ImportFailure, Observation};
use extmatrix_schema::{BuildDetails, Details};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The outcome of one cell and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub outcome: Outcome,
    pub details: Details,
}

/// What the judge needs to know about a cell besides its evidence.
#[derive(Debug, Clone, Copy)]
pub struct CellFacts {
    pub scenario: Scenario,
    /// The interpreter is a free-threaded build.
    pub free_threaded: bool,
    /// The interpreter's version: what a module's declaration can say
    /// depends on it (`Py_mod_multiple_interpreters` is 3.12+).
    pub version: PythonVersion,
    /// The timeout the cell was given.
    pub timeout: Duration,
    /// The address-space limit the cell ran under, in MiB (`memory_mb`).
    pub memory_mb: u64,
    /// How the leak rule reads a cycling scenario's figures.
    pub leak: LeakPolicy,
}

/// What the execute stage has for one cell. Plain serde data, like the
/// [`Observation`] it holds, so a run's evidence can be kept (the engine's
/// resume journal) and judged again by a later process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Evidence {
    /// Not run: the interpreter lacks what the scenario needs.
    NotApplicable { reason: String },
    /// Not run: the harness did not build for this interpreter.
    HarnessUnbuilt {
        python: String,
        summary: String,
        build: BuildDetails,
    },
    /// Not run: the target did not build for this interpreter.
    TargetUnbuilt {
        summary: String,
        build: BuildDetails,
    },
    /// Not run: the harness could not be started.
    CouldNotRun { message: String },
    /// The harness ran.
    Ran(Observation),
}

/// One thing a rule found, with its one-line summary and, when the rule
/// knows it, the reason code behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub outcome: Outcome,
    pub summary: String,
    pub reason: Option<Reason>,
}

impl Finding {
    pub fn new(outcome: Outcome, summary: impl Into<String>) -> Self {
        Finding {
            outcome,
            summary: summary.into(),
            reason: None,
        }
    }

    pub fn because(mut self, reason: Reason) -> Self {
        self.reason = Some(reason);
        self
    }
}

/// One cell as the second pass sees it: its facts, its evidence and the
/// other runs made to explain it.
#[derive(Debug, Clone, Copy)]
pub struct CellToJudge<'a> {
    pub facts: &'a CellFacts,
    pub evidence: &'a Evidence,
    /// A cycling cell's leak baseline: the same scenario on the same
    /// interpreter with an empty module that imports what the target
    /// pulled in (skipping any that does not import).
    pub baseline: Option<&'a Observation>,
    /// A failing cell's control: the same, letting the imports' errors
    /// through (`also-without-target`, `rules/control.rs`).
    pub control: Option<&'a Observation>,
    /// For a cell whose later instance failed where its first passed: that
    /// later instance run alone, in a fresh process (`rules/differential.rs`).
    pub alone: Option<&'a Observation>,
}

/// The runs made to explain one run (none when judging those runs
/// themselves).
#[derive(Debug, Clone, Copy, Default)]
struct OtherRuns<'a> {
    baseline: Option<&'a Observation>,
    control: Option<&'a Observation>,
    alone: Option<&'a Observation>,
}

/// Judge every cell of a run. Verdicts come back in the order of `cells`.
pub fn judge_all<'a>(cells: impl IntoIterator<Item = CellToJudge<'a>>) -> Vec<Verdict> {
    cells.into_iter().map(judge_one).collect()
}

/// Judge one cell on its own evidence, without a baseline: what the
/// progress display shows as each cell finishes.
pub fn judge_cell(facts: &CellFacts, evidence: &Evidence) -> Verdict {
    judge_one(CellToJudge {
        facts,
        evidence,
        baseline: None,
        control: None,
        alone: None,
    })
}

pub(crate) fn judge_one(cell: CellToJudge<'_>) -> Verdict {
    match cell.evidence {
        Evidence::Ran(obs) => judge_run(
            cell.facts,
            obs,
            OtherRuns {
                baseline: cell.baseline,
                control: cell.control,
                alone: cell.alone,
            },
        ),
        other => rules::provision::verdict(other),
    }
}

/// Judge one run against the runs made to explain it.
fn judge_run(facts: &CellFacts, obs: &Observation, others: OtherRuns<'_>) -> Verdict {
    let mut details = gather(obs);
    let mut findings = rules::applicability::findings(obs);
    findings.extend(rules::leak::findings(facts, &mut details, others.baseline));
    findings.extend(rules::refusal::findings(facts, &details));
    findings.extend(rules::clobber::findings(facts, &details));
    findings.extend(rules::shared::findings(facts, obs, &mut details));
    findings.extend(rules::gil::findings(facts, &details));
    findings.extend(rules::termination::findings(facts, obs, &mut details));
    findings.extend(rules::streams::findings(obs));
    let mut verdict = most_severe(findings).unwrap_or_else(|| {
        Finding::new(Outcome::Pass, pass_summary(facts.scenario, obs, &details))
    });
    // What an error or a warning says explains the outcomes they decide;
    // a process that died is explained by how it died (termination.rs).
    if !matches!(
        verdict.outcome,
        Outcome::Crash | Outcome::Hang | Outcome::HarnessError
    ) {
        rules::reason::explain(&mut verdict, &details, obs.module());
    }
    rules::differential::compare(facts, others.alone, &mut verdict, &mut details);
    rules::control::compare(facts, obs, others.control, &mut verdict, &mut details);
    rules::retry::note(obs, &mut verdict);
    rules::repeat::note(obs, &mut verdict, &mut details);
    details.summary = verdict.summary;
    details.reason = verdict.reason;
    Verdict {
        outcome: verdict.outcome,
        details,
    }
}

/// An error as summaries name it: "AssertionError in step `reimport: smoke`:
/// the message" (without the colon when it has no message).
pub(crate) fn in_step(err: &ImportFailure) -> String {
    format!(
        "{} in step `{}`{}{}",
        err.exc_type,
        err.step,
        err.worker_suffix(),
        message_suffix(err)
    )
}

/// ": the message", or nothing for an error without one.
pub(crate) fn message_suffix(err: &ImportFailure) -> String {
    match err.message.as_str() {
        "" => String::new(),
        m => format!(": {m}"),
    }
}

/// The most severe finding; among equals, the first.
pub fn most_severe(findings: Vec<Finding>) -> Option<Finding> {
    findings
        .into_iter()
        .reduce(|worst, f| if f.outcome > worst.outcome { f } else { worst })
}

/// The observations every verdict keeps, whatever the rules find.
fn gather(obs: &Observation) -> Details {
    let mut details = Details {
        stderr_tail: obs.stderr_tail.clone(),
        stdout_tail: obs.stdout_tail.clone(),
        stderr_dropped_bytes: obs.streams.stderr_dropped_bytes,
        stdout_dropped_bytes: obs.streams.stdout_dropped_bytes,
        foreign_lines: obs.streams.foreign_lines,
        retries: obs.retries.clone(),
        ..Details::default()
    };
    for event in &obs.events {
        match event {
            Event::Declared(d) => details.declared = Some(d.clone()),
            Event::Error(e) => details.errors.push(e.clone()),
            Event::Cycle(c) => details.cycles.push(c.clone()),
            Event::Warning(w) => details.warnings.push(w.clone()),
            Event::Gil(g) => details.gil.push(g.clone()),
            Event::Note { message } => details.notes.push(message.clone()),
            Event::Cleanup { left_behind } => details.left_behind = *left_behind,
            Event::Forensics(f) => details.forensics = Some(f.clone()),
            _ => {}
        }
    }
    details.notes.extend(
        obs.protocol_errors
            .iter()
            .map(|e| format!("not an event: {e}")),
    );
    rules::streams::notes(obs, &mut details.notes);
    details
}

fn pass_summary(scenario: Scenario, obs: &Observation, details: &Details) -> String {
    let compared = obs
        .events
        .iter()
        .any(|e| matches!(e, Event::Compared { .. }));
    match scenario {
        Scenario::FreeThreading => "the GIL stayed disabled after the import".into(),
        Scenario::Reinit => format!("{} init/finalize cycles", details.cycles.len()),
        Scenario::SubinterpCycle => format!("{} subinterpreter cycles", details.cycles.len()),
        Scenario::Inittab => format!(
            "{} init/finalize cycles, linked in with PyImport_AppendInittab",
            details.cycles.len()
        ),
        Scenario::SubinterpParallel => {
            let waves = obs
                .steps()
                .filter(|s| s.action == extmatrix_protocol::Action::InParallel)
                .count();
            format!("{waves} waves of own-GIL interpreters at once")
        }
        _ if compared => "no shared objects".into(),
        _ => "imported; smoke code ran".into(),
    }
}

#[cfg(test)]
pub(crate) mod testing;

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;
    use extmatrix_protocol::Termination;

    #[test]
    fn most_severe_wins_and_lesser_findings_stay_in_the_details() {
        let obs = observation(
            vec![
                step("cycle 2: import"),
                shared_event("extension", true, false),
            ],
            Termination::Signaled {
                signal: 11,
                name: "SIGSEGV".into(),
            },
        );
        let v = judge_cell(&facts(Scenario::Reinit), &Evidence::Ran(obs));
        assert_eq!(v.outcome, Outcome::Crash);
        assert_eq!(
            v.details.step.map(|s| s.to_string()).as_deref(),
            Some("cycle 2: import")
        );
        assert_eq!(v.details.signal.as_deref(), Some("SIGSEGV"));
        assert_eq!(v.details.shared_objects.len(), 1);
    }

    /// A passing stress or inittab cell says what it ran: the waves it
    /// counted, the cycles it reported.
    #[test]
    fn a_pass_says_what_ran() {
        let cycle =
            |n: u32| event(serde_json::json!({"ev": "cycle", "n": n, "us": 5, "rss_kb": 9}));
        let inittab = observation(vec![cycle(1), cycle(2), done()], exited(0));
        let v = judge_cell(&facts(Scenario::Inittab), &Evidence::Ran(inittab));
        assert_eq!(
            v.details.summary,
            "2 init/finalize cycles, linked in with PyImport_AppendInittab"
        );
        let waves = observation(
            vec![
                step("init"),
                step("import"),
                step("subinterp own 1: in parallel"),
                step("subinterp own 2: in parallel"),
                step("subinterp own 2: smoke old instance"),
                step("finalize"),
                done(),
            ],
            exited(0),
        );
        let v = judge_cell(&facts(Scenario::SubinterpParallel), &Evidence::Ran(waves));
        assert_eq!(v.details.summary, "2 waves of own-GIL interpreters at once");
    }

    #[test]
    fn among_equals_the_first_finding_wins() {
        let first = Finding::new(Outcome::ImportError, "first");
        let second = Finding::new(Outcome::ImportError, "second");
        let lesser = Finding::new(Outcome::SharedState, "lesser");
        assert_eq!(
            most_severe(vec![lesser, first.clone(), second]),
            Some(first)
        );
        assert_eq!(most_severe(vec![]), None);
    }

    #[test]
    fn a_failing_smoke_outranks_shared_state() {
        // The documented order: an import error is worse than shared state,
        // so a module that shares state and whose smoke fails is an import
        // error (and fails the run).
        let obs = observation(
            vec![
                shared_event("extension", true, false),
                error_event("reimport: smoke", "smoke", "AssertionError", "boom"),
                done(),
            ],
            exited(0),
        );
        let v = judge_cell(&facts(Scenario::Reimport), &Evidence::Ran(obs));
        assert_eq!(v.outcome, Outcome::ImportError);
        assert!(
            v.details.summary.contains("AssertionError"),
            "{}",
            v.details.summary
        );
        assert!(v.details.summary.contains("step `reimport: smoke`"));
    }

    #[test]
    fn a_clean_run_passes_with_a_summary_of_what_ran() {
        let cycles = vec![Event::Cycle(cycle(1, Some(1), None, Some(1))), done()];
        let v = judge_cell(
            &facts(Scenario::Reinit),
            &Evidence::Ran(observation(cycles, exited(0))),
        );
        assert_eq!(v.outcome, Outcome::Pass);
        assert_eq!(v.details.summary, "1 init/finalize cycles");
        let cycles = vec![
            Event::Cycle(cycle(1, Some(1), None, Some(1))),
            Event::Cycle(cycle(2, Some(1), None, Some(1))),
            done(),
        ];
        let v = judge_cell(
            &facts(Scenario::SubinterpCycle),
            &Evidence::Ran(observation(cycles, exited(0))),
        );
        assert_eq!(v.details.summary, "2 subinterpreter cycles");
        let compared = vec![
            Event::Compared {
                label: extmatrix_protocol::Comparison::OldNew,
                before: 3,
                after: 3,
                same_address: 1,
            },
            shared_event("libpython", false, false),
            done(),
        ];
        let v = judge_cell(
            &facts(Scenario::Reimport),
            &Evidence::Ran(observation(compared, exited(0))),
        );
        assert_eq!(v.outcome, Outcome::Pass);
        assert_eq!(v.details.summary, "no shared objects");
        assert_eq!(v.details.core_objects_ignored, 1);
        let plain = judge_cell(
            &facts(Scenario::Import),
            &Evidence::Ran(observation(vec![done()], exited(0))),
        );
        assert_eq!(plain.details.summary, "imported; smoke code ran");
        let threads = judge_cell(
            &free_threaded(Scenario::FreeThreading),
            &Evidence::Ran(observation(vec![gil("init", false), done()], exited(0))),
        );
        assert_eq!(threads.outcome, Outcome::Pass);
        assert_eq!(
            threads.details.summary,
            "the GIL stayed disabled after the import"
        );
    }

    #[test]
    fn protocol_errors_notes_tails_and_retries_are_kept() {
        let mut obs = observation(
            vec![
                Event::Note {
                    message: "Py_FinalizeEx() returned -1".into(),
                },
                done(),
            ],
            exited(0),
        );
        obs.stdout_tail = "out".into();
        obs.stderr_tail = "err".into();
        obs.protocol_errors.push("garbage".into());
        obs.retries.push(extmatrix_protocol::Attempt {
            termination: Termination::TimedOut {
                after_ms: 9,
                waited_ms: 0,
            },
            last_step: Some("init".parse().unwrap()),
            fatal: None,
            run: None,
        });
        let v = judge_cell(&facts(Scenario::Import), &Evidence::Ran(obs));
        assert_eq!(v.outcome, Outcome::Pass);
        assert_eq!(
            v.details.notes,
            ["Py_FinalizeEx() returned -1", "not an event: garbage"]
        );
        assert_eq!(
            (
                v.details.stdout_tail.as_str(),
                v.details.stderr_tail.as_str()
            ),
            ("out", "err")
        );
        assert_eq!(v.details.retries.len(), 1);
    }

    #[test]
    fn judge_all_keeps_the_order_of_the_cells() {
        let cells = [
            (
                facts(Scenario::Import),
                Evidence::CouldNotRun {
                    message: "no".into(),
                },
            ),
            (
                facts(Scenario::Import),
                Evidence::NotApplicable {
                    reason: "old".into(),
                },
            ),
        ];
        let v = judge_all(cells.iter().map(|(facts, evidence)| CellToJudge {
            facts,
            evidence,
            baseline: None,
            control: None,
            alone: None,
        }));
        assert_eq!(
            v.iter().map(|v| v.outcome).collect::<Vec<_>>(),
            [Outcome::HarnessError, Outcome::NotApplicable]
        );
    }
}
