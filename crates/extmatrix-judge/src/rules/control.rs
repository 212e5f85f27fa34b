//! `also-without-target`: the interpreter's failure, not the module's.
//! CPython has re-init bugs of its own (3.12.1 aborts in `_datetime`'s
//! exec in the second init cycle), so a module that imports `datetime`
//! crashes there through no fault of its own. A failing cell is held
//! against its control: the same scenario on the same interpreter,
//! importing an empty module whose smoke code imports what the target
//! pulled into `sys.modules` (the engine's baseline run). When the control
//! fails the same way — the same outcome in the same stage (the same
//! cycle, the same subinterpreter) — the cell keeps its outcome, says so
//! with the reason `also-without-target`, and does not fail the run.

use crate::{CellFacts, Finding, Verdict};
use extmatrix_core::{Outcome, Reason};
use extmatrix_protocol::{Observation, Step};
use extmatrix_schema::{Details, SideRun};

/// The outcomes a control is asked about: what the target could be wrongly
/// blamed for. (A leak is read against the same run as a baseline.)
pub fn wants_control(outcome: Outcome) -> bool {
    matches!(
        outcome,
        Outcome::Crash | Outcome::Hang | Outcome::ImportError
    )
}

/// The step a failure happened in: where the process crashed or hung,
/// else where the first error was raised.
fn failing_step(details: &Details) -> Option<Step> {
    details
        .step
        .or_else(|| details.errors.first().map(|e| e.step))
}

/// What another run made to explain a cell did, for its details.
pub fn side_run(theirs: &Verdict, imports: Vec<String>) -> SideRun {
    SideRun {
        outcome: theirs.outcome,
        summary: theirs.details.summary.clone(),
        step: failing_step(&theirs.details),
        imports,
    }
}

/// Hold `verdict` against the control run, when there is one: its outcome
/// goes into `details.control`, and a failure it shares becomes
/// `also-without-target`.
pub fn compare(
    facts: &CellFacts,
    target: &Observation,
    control: Option<&Observation>,
    verdict: &mut Finding,
    details: &mut Details,
) {
    let Some(control) = control.filter(|_| wants_control(verdict.outcome)) else {
        return;
    };
    let theirs = crate::judge_run(facts, control, crate::OtherRuns::default());
    let stage = |d: &Details| failing_step(d).map(|s| s.stage);
    let same_way = theirs.outcome == verdict.outcome && stage(&theirs.details) == stage(details);
    details.control = Some(side_run(
        &theirs,
        target.pulled_in().map(str::to_owned).collect(),
    ));
    if same_way {
        verdict.reason = Some(Reason::AlsoWithoutTarget);
        verdict.summary.push_str(&format!(
            " — also without the target: {}",
            theirs.details.summary
        ));
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;
    use crate::{judge_one, CellToJudge, Evidence};
    use extmatrix_core::{Outcome, Reason, Scenario};
    use extmatrix_protocol::{Event, Observation, Termination};

    fn abort_in(steps: &[&str]) -> Observation {
        observation(
            steps.iter().map(|s| step(s)).collect(),
            Termination::Signaled {
                signal: 6,
                name: "SIGABRT".into(),
            },
        )
    }

    fn judged(target: &Observation, control: &Observation) -> crate::Verdict {
        let f = facts(Scenario::Reinit);
        judge_one(CellToJudge {
            facts: &f,
            evidence: &Evidence::Ran(target.clone()),
            baseline: None,
            control: Some(control),
            alone: None,
        })
    }

    #[test]
    fn a_crash_the_control_shares_is_also_without_target() {
        let mut target = abort_in(&["cycle 1: import", "cycle 2: import"]);
        target.events.push(Event::PulledIn {
            module: "datetime".into(),
        });
        let control = abort_in(&["cycle 1: import", "cycle 2: smoke"]);
        let v = judged(&target, &control);
        assert_eq!(v.outcome, Outcome::Crash);
        assert_eq!(v.details.reason, Some(Reason::AlsoWithoutTarget));
        assert_eq!(
            v.details.summary,
            "SIGABRT in step `cycle 2: import` — also without the target: SIGABRT in step `cycle 2: smoke`"
        );
        let c = v.details.control.unwrap();
        assert_eq!(c.outcome, Outcome::Crash);
        assert_eq!(c.step.unwrap().to_string(), "cycle 2: smoke");
        assert_eq!(c.imports, ["datetime"]);
    }

    #[test]
    fn a_control_that_fails_elsewhere_or_otherwise_clears_nothing() {
        let target = abort_in(&["cycle 1: import", "cycle 2: import"]);
        for control in [
            abort_in(&["cycle 1: import", "cycle 2: import", "cycle 3: import"]),
            observation(
                vec![step("cycle 2: import")],
                Termination::TimedOut {
                    after_ms: 1,
                    waited_ms: 0,
                },
            ),
            observation(vec![step("cycle 2: import"), done()], exited(0)),
        ] {
            let v = judged(&target, &control);
            assert_eq!(v.outcome, Outcome::Crash);
            assert_eq!(v.details.reason, None);
            assert!(v.details.control.is_some());
        }
    }

    #[test]
    fn an_import_error_is_compared_by_the_stage_of_its_first_error() {
        let f = facts(Scenario::SubinterpOwn);
        let target = observation(
            vec![
                error_event(
                    "subinterp own: import",
                    "import",
                    "ImportError",
                    "dependency refused",
                ),
                done(),
            ],
            exited(0),
        );
        let control = observation(
            vec![
                error_event(
                    "subinterp own: smoke",
                    "smoke",
                    "ImportError",
                    "dependency refused",
                ),
                done(),
            ],
            exited(0),
        );
        let v = judge_one(CellToJudge {
            facts: &f,
            evidence: &Evidence::Ran(target),
            baseline: None,
            control: Some(&control),
            alone: None,
        });
        assert_eq!(v.outcome, Outcome::ImportError);
        assert_eq!(v.details.reason, Some(Reason::AlsoWithoutTarget));
    }

    #[test]
    fn a_passing_cell_gets_no_control_details() {
        let target = observation(vec![step("cycle 1: import"), done()], exited(0));
        let control = abort_in(&["cycle 1: import"]);
        let v = judged(&target, &control);
        assert_eq!(v.outcome, Outcome::Pass);
        assert_eq!(v.details.control, None);
        assert_eq!(v.details.reason, None);
    }
}
