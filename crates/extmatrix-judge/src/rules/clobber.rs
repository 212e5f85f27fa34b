//! `state-clobbered`: a second instance of the module broke the first.
//! After the second instance exists (a re-import, an import in a
//! subinterpreter), the harness runs the smoke code again on the first
//! instance (`smoke old instance`); when that fails, the instances share
//! state the second one changed — a C global, or `PyState_FindModule`,
//! which finds one module per definition however many instances exist.
//! From a module that promised isolation it is `declaration-mismatch`.

use super::declaration::broken_isolation_promise;
use crate::{CellFacts, Finding};
use extmatrix_core::Outcome;
use extmatrix_protocol::{Action, ImportFailure};
use extmatrix_schema::Details;

/// Whether this error is the first instance failing after a second existed.
pub fn is_clobbered(err: &ImportFailure) -> bool {
    err.step.action == Action::SmokeOldInstance
}

pub fn findings(facts: &CellFacts, details: &Details) -> Option<Finding> {
    let err = details.errors.iter().find(|e| is_clobbered(e))?;
    let what = format!(
        "the first instance failed once a second existed: {}",
        crate::in_step(err)
    );
    Some(
        broken_isolation_promise(facts, details.declared.as_ref(), &what)
            .unwrap_or_else(|| Finding::new(Outcome::StateClobbered, what)),
    )
}

#[cfg(test)]
mod tests {
    use crate::testing::*;
    use crate::{judge_cell, Evidence};
    use extmatrix_core::{Outcome, Scenario};

    fn clobbered(declaration: extmatrix_protocol::Event, at: &str) -> crate::Verdict {
        let obs = observation(
            vec![
                declaration,
                error_event(at, "smoke", "AssertionError", "count is 1, not 2"),
                done(),
            ],
            exited(0),
        );
        judge_cell(&facts(Scenario::Reimport), &Evidence::Ran(obs))
    }

    #[test]
    fn the_first_instance_failing_after_a_second_is_state_clobbered() {
        let v = clobbered(
            declared("single-phase", None),
            "reimport: smoke old instance",
        );
        assert_eq!(v.outcome, Outcome::StateClobbered);
        assert_eq!(
            v.details.summary,
            "the first instance failed once a second existed: AssertionError in step \
             `reimport: smoke old instance`: count is 1, not 2"
        );
        let refuses = clobbered(
            declared("multi-phase", Some("not-supported")),
            "subinterp legacy: smoke old instance",
        );
        assert_eq!(refuses.outcome, Outcome::StateClobbered);
    }

    #[test]
    fn from_a_module_that_promised_isolation_it_is_a_declaration_mismatch() {
        let v = clobbered(
            declared("multi-phase", Some("per-interpreter-gil")),
            "subinterp own: smoke old instance",
        );
        assert_eq!(v.outcome, Outcome::DeclarationMismatch);
        assert!(
            v.details.summary.starts_with(
                "declares `Py_mod_multiple_interpreters = per-interpreter-gil` yet the first instance failed"
            ),
            "{}",
            v.details.summary
        );
        let implicit = clobbered(
            declared("multi-phase", None),
            "reimport: smoke old instance",
        );
        assert_eq!(implicit.outcome, Outcome::DeclarationMismatch);
    }

    #[test]
    fn a_failure_of_the_new_instance_is_not_clobbering() {
        let v = clobbered(declared("single-phase", None), "reimport: smoke");
        assert_eq!(v.outcome, Outcome::ImportError);
    }
}
