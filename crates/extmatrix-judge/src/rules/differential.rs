//! Differential runs: a later instance that fails where the first passed.
//! When the smoke code passes in the first instance and fails only in a
//! later one (a re-import, a subinterpreter, a `reinit` cycle after the
//! first), the engine runs that later instance *alone*: in a fresh process
//! where no earlier instance ran. Passes alone, fails after: the instances
//! share state — `state-clobbered`, or `declaration-mismatch` from a module
//! that promised isolation — with both runs in the details. Fails alone
//! too: an ordinary `import-error`. (A module that declares own-GIL support
//! and keeps a counter in a C global is the textbook case.)

use super::declaration::broken_isolation_promise;
use crate::{CellFacts, Finding};
use extmatrix_core::{Outcome, Scenario};
use extmatrix_protocol::{ImportFailure, Observation};
use extmatrix_schema::Details;

/// The error of a later instance, when the first instance raised nothing:
/// what an alone run can explain.
pub fn later_instance_failure(details: &Details) -> Option<&ImportFailure> {
    if details
        .errors
        .iter()
        .any(|e| e.step.stage.is_first_instance())
    {
        return None;
    }
    details
        .errors
        .iter()
        .find(|e| !super::clobber::is_clobbered(e))
}

/// The scenario an alone run of `scenario` runs: a fresh process's first
/// import for the re-import and re-init cycles, the same subinterpreter
/// scenario (with `--alone`) for the others.
pub fn alone_scenario(scenario: Scenario) -> Scenario {
    match scenario {
        Scenario::Reinit | Scenario::Reimport => Scenario::Import,
        other => other,
    }
}

/// Hold an import error of a later instance against its alone run.
pub fn compare(
    facts: &CellFacts,
    alone: Option<&Observation>,
    verdict: &mut Finding,
    details: &mut Details,
) {
    if verdict.outcome != Outcome::ImportError {
        return;
    }
    let (Some(alone), Some(err)) = (alone, later_instance_failure(details)) else {
        return;
    };
    let alone_facts = CellFacts {
        scenario: alone_scenario(facts.scenario),
        ..*facts
    };
    let theirs = crate::judge_run(&alone_facts, alone, crate::OtherRuns::default());
    let passed_alone = alone.finished() && theirs.details.errors.is_empty();
    let message = crate::message_suffix(err);
    let verdict_alone = if passed_alone {
        "it passes"
    } else {
        "it fails too"
    };
    let what = format!(
        "step `{}` raised {}{message}, but only after an earlier instance ran: \
         alone, in a fresh process, {verdict_alone}",
        err.step, err.exc_type
    );
    details.alone = Some(super::control::side_run(&theirs, Vec::new()));
    if !passed_alone {
        return;
    }
    let shared =
        broken_isolation_promise(facts, details.declared.as_ref(), &what).unwrap_or_else(|| {
            Finding::new(
                Outcome::StateClobbered,
                format!("instances share state: {what}"),
            )
        });
    verdict.outcome = shared.outcome;
    verdict.summary = shared.summary;
}

#[cfg(test)]
mod tests {
    use crate::testing::*;
    use crate::{judge_one, CellToJudge, Evidence};
    use extmatrix_core::{Outcome, Scenario};
    use extmatrix_protocol::{Event, Observation};

    fn later_failure(at: &str) -> Observation {
        observation(
            vec![
                declared("multi-phase", Some("per-interpreter-gil")),
                error_event(at, "smoke", "AssertionError", "count is 2"),
                done(),
            ],
            exited(0),
        )
    }

    fn judged(
        scenario: Scenario,
        target: &Observation,
        alone: Option<&Observation>,
    ) -> crate::Verdict {
        let f = facts(scenario);
        judge_one(CellToJudge {
            facts: &f,
            evidence: &Evidence::Ran(target.clone()),
            baseline: None,
            control: None,
            alone,
        })
    }

    fn passes() -> Observation {
        observation(vec![step("subinterp own: smoke"), done()], exited(0))
    }

    #[test]
    fn passing_alone_and_failing_after_is_shared_state_between_instances() {
        let v = judged(
            Scenario::SubinterpOwn,
            &later_failure("subinterp own: smoke"),
            Some(&passes()),
        );
        assert_eq!(v.outcome, Outcome::DeclarationMismatch);
        assert_eq!(
            v.details.summary,
            "declares `Py_mod_multiple_interpreters = per-interpreter-gil` yet step \
             `subinterp own: smoke` raised AssertionError: count is 2, but only after an earlier \
             instance ran: alone, in a fresh process, it passes"
        );
        assert_eq!(v.details.alone.as_ref().unwrap().outcome, Outcome::Pass);
        let mut single = later_failure("reimport: smoke");
        single.events[0] = declared("single-phase", None);
        let v = judged(
            Scenario::Reimport,
            &single,
            Some(&observation(vec![done()], exited(0))),
        );
        assert_eq!(v.outcome, Outcome::StateClobbered);
        assert!(v
            .details
            .summary
            .starts_with("instances share state: step `reimport: smoke` raised AssertionError"));
        // The alone run is judged as what it is: a first import (not as
        // a re-init without cycles).
        let mut cycle = later_failure("cycle 2: smoke");
        cycle.events[0] = declared("single-phase", None);
        let v = judged(
            Scenario::Reinit,
            &cycle,
            Some(&observation(vec![done()], exited(0))),
        );
        assert_eq!(v.outcome, Outcome::StateClobbered);
        assert_eq!(
            v.details.alone.as_ref().unwrap().summary,
            "imported; smoke code ran"
        );
    }

    #[test]
    fn failing_alone_too_stays_an_import_error() {
        let alone = later_failure("subinterp own: smoke");
        let v = judged(
            Scenario::SubinterpOwn,
            &later_failure("subinterp own: smoke"),
            Some(&alone),
        );
        assert_eq!(v.outcome, Outcome::ImportError);
        assert_eq!(
            v.details.alone.as_ref().unwrap().outcome,
            Outcome::ImportError
        );
        // An alone run that did not finish proves nothing either.
        let died = observation(vec![step("subinterp own: smoke")], exited(3));
        let v = judged(
            Scenario::SubinterpOwn,
            &later_failure("subinterp own: smoke"),
            Some(&died),
        );
        assert_eq!(v.outcome, Outcome::ImportError);
    }

    #[test]
    fn only_a_later_instance_whose_first_passed_is_explained() {
        // Without an alone run: as before.
        let v = judged(
            Scenario::SubinterpOwn,
            &later_failure("subinterp own: smoke"),
            None,
        );
        assert_eq!(v.outcome, Outcome::ImportError);
        assert_eq!(v.details.alone, None);
        // The first instance failed too: nothing an alone run can tell.
        let mut both = later_failure("cycle 2: smoke");
        both.events.insert(
            1,
            error_event("cycle 1: smoke", "smoke", "AssertionError", "x"),
        );
        let v = judged(Scenario::Reinit, &both, Some(&passes()));
        assert_eq!(v.outcome, Outcome::ImportError);
        assert_eq!(v.details.alone, None);
        let mut main = later_failure("smoke");
        main.events.push(Event::Done);
        let v = judged(Scenario::Import, &main, Some(&passes()));
        assert_eq!(v.outcome, Outcome::ImportError);
    }

    #[test]
    fn the_alone_scenario_is_a_first_import_or_the_same_subinterpreter() {
        use super::alone_scenario;
        assert_eq!(alone_scenario(Scenario::Reinit), Scenario::Import);
        assert_eq!(alone_scenario(Scenario::Reimport), Scenario::Import);
        assert_eq!(
            alone_scenario(Scenario::SubinterpOwn),
            Scenario::SubinterpOwn
        );
        assert_eq!(
            alone_scenario(Scenario::SubinterpCycle),
            Scenario::SubinterpCycle
        );
    }
}
