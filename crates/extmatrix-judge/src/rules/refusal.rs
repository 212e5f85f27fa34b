//! When an ImportError is a correct refusal (`refused`) and when it is an
//! `import-error` (docs/outcomes.md, "When is an ImportError a refusal?").

use crate::{CellFacts, Finding};
use extmatrix_core::{Outcome, Reason, Scenario};
use extmatrix_protocol::{
    Action, Declaration, ErrorPhase, ImportFailure, InitStyle, MultipleInterpreters, Stage,
    SubinterpKind,
};
use extmatrix_schema::Details;

/// CPython's wording when `check_multi_interp_extensions` refuses a module
/// (`_PyImport_CheckSubinterpIncompatibleExtensionAllowed`, 3.12+). It is
/// CPython's, not the harness's, and it is the only thing that tells its
/// refusal from an ImportError the module raises itself.
const CPYTHON_REFUSAL: &str = "does not support loading in subinterpreters";

/// Whether CPython must refuse this module in this scenario, given what it
/// declares (see [`refused_in`]); `subinterp-cycle` picks its kind at run
/// time, so its errors are judged by the kind their step names.
pub fn refusal_expected(scenario: Scenario, free_threaded: bool, declared: &Declaration) -> bool {
    let kind = match scenario {
        Scenario::SubinterpLegacy => SubinterpKind::Legacy,
        Scenario::SubinterpShared => SubinterpKind::Shared,
        Scenario::SubinterpOwn => SubinterpKind::Own,
        _ => return false,
    };
    refused_in(kind, free_threaded, declared)
}

/// Whether a subinterpreter of `kind` must refuse this module. Isolated
/// subinterpreters (check_multi_interp_extensions=1) refuse single-phase
/// modules and modules declaring `not-supported`; an own-GIL one also
/// refuses everything short of `per-interpreter-gil` (multi-phase without
/// the slot means `supported`). On free-threaded builds even the legacy
/// `Py_NewInterpreter()` checks (`_PyInterpreterConfig_LEGACY_INIT` sets
/// check_multi_interp_extensions under Py_GIL_DISABLED).
pub fn refused_in(kind: SubinterpKind, free_threaded: bool, declared: &Declaration) -> bool {
    let single_phase = declared.init == InitStyle::SinglePhase;
    let slot = declared.multiple_interpreters;
    let refuses_unsupported = single_phase || slot == Some(MultipleInterpreters::NotSupported);
    match kind {
        SubinterpKind::Shared => refuses_unsupported,
        SubinterpKind::Legacy => free_threaded && refuses_unsupported,
        SubinterpKind::Own => single_phase || slot != Some(MultipleInterpreters::PerInterpreterGil),
    }
}

/// CPython's refusal: the import itself (not the smoke code) in a
/// subinterpreter raised CPython's ImportError.
pub fn is_refusal(err: &ImportFailure) -> bool {
    err.exc_type == "ImportError"
        && err.phase == ErrorPhase::Import
        && err.step.action == Action::Import
        && matches!(err.step.stage, Stage::Subinterp(..))
        && err.message.contains(CPYTHON_REFUSAL)
}

/// One finding per error but those of the first instance after a second
/// existed (`clobber.rs` judges those): `refused` when it is the refusal
/// the declaration implies, `import-error` otherwise.
pub fn findings(facts: &CellFacts, details: &Details) -> Vec<Finding> {
    // Judged by the kind of subinterpreter the step names: the scenario's
    // own, or the one `subinterp-cycle` picked at run time.
    let expected = |err: &ImportFailure| match err.step.stage {
        Stage::Subinterp(kind, _) => details
            .declared
            .as_ref()
            .is_some_and(|d| refused_in(kind, facts.free_threaded, d)),
        _ => false,
    };
    details
        .errors
        .iter()
        .filter(|err| !super::clobber::is_clobbered(err))
        .map(|err| {
            let refusal = refusal_reason(facts.free_threaded, err);
            let finding = match refusal {
                Some(_) if expected(err) => Finding::new(
                    Outcome::Refused,
                    format!("refused as declared: {}", err.message),
                ),
                _ => Finding::new(Outcome::ImportError, import_error_summary(facts, err)),
            };
            Finding {
                reason: refusal,
                ..finding
            }
        })
        .collect()
}

/// The reason code of CPython's refusal, if `err` is one: on a
/// free-threaded build a legacy subinterpreter refuses too (gh-117649).
fn refusal_reason(free_threaded: bool, err: &ImportFailure) -> Option<Reason> {
    if !is_refusal(err) {
        return None;
    }
    Some(match err.step.stage {
        Stage::Subinterp(SubinterpKind::Legacy, _) if free_threaded => {
            Reason::SubinterpRefusedFreeThreaded
        }
        _ => Reason::SubinterpRefused,
    })
}

fn import_error_summary(facts: &CellFacts, err: &ImportFailure) -> String {
    let mut s = crate::in_step(err);
    if err.exc_type == "MemoryError" {
        // The usual cause in a cell: its address-space limit.
        s.push_str(&format!(
            " (the cell's memory limit is {} MiB: options.memory_mb)",
            facts.memory_mb
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;
    use crate::{judge_cell, Evidence};
    use extmatrix_protocol::Event;

    fn declaration(init: &str, slot: Option<&str>) -> Declaration {
        match declared(init, slot) {
            Event::Declared(d) => d,
            _ => unreachable!(),
        }
    }

    #[test]
    fn refusals_follow_the_declaration() {
        use Scenario::*;
        let single = declaration("single-phase", None);
        let multi = declaration("multi-phase", None);
        let supported = declaration("multi-phase", Some("supported"));
        let per_gil = declaration("multi-phase", Some("per-interpreter-gil"));
        let not_supported = declaration("multi-phase", Some("not-supported"));
        assert!(refusal_expected(SubinterpShared, false, &single));
        assert!(refusal_expected(SubinterpOwn, false, &single));
        assert!(!refusal_expected(SubinterpLegacy, false, &single));
        assert!(!refusal_expected(SubinterpShared, false, &multi));
        assert!(!refusal_expected(SubinterpShared, false, &supported));
        assert!(refusal_expected(SubinterpOwn, false, &multi));
        assert!(refusal_expected(SubinterpOwn, false, &supported));
        assert!(!refusal_expected(SubinterpOwn, false, &per_gil));
        assert!(refusal_expected(SubinterpShared, false, &not_supported));
        assert!(refusal_expected(SubinterpOwn, false, &not_supported));
        assert!(!refusal_expected(SubinterpLegacy, false, &not_supported));
        // Free-threaded builds check even in legacy subinterpreters.
        assert!(refusal_expected(SubinterpLegacy, true, &single));
        assert!(refusal_expected(SubinterpLegacy, true, &not_supported));
        assert!(!refusal_expected(SubinterpLegacy, true, &per_gil));
        assert!(!refusal_expected(SubinterpLegacy, true, &multi));
        // Nowhere else.
        for s in [Import, Reinit, Reimport, FreeThreading] {
            assert!(!refusal_expected(s, true, &single), "{s}");
        }
    }

    const REFUSAL: &str = "module x does not support loading in subinterpreters";

    fn cell(declared_as: Event, error: Event) -> Outcome {
        let obs = observation(vec![declared_as, error, done()], exited(0));
        judge_cell(&facts(Scenario::SubinterpShared), &Evidence::Ran(obs)).outcome
    }

    #[test]
    fn a_refusal_that_matches_the_declaration_is_refused() {
        let refusal = error_event("subinterp shared: import", "import", "ImportError", REFUSAL);
        assert_eq!(
            cell(declared("single-phase", None), refusal.clone()),
            Outcome::Refused
        );
        // The same refusal of a module that declared support is a failure.
        assert_eq!(
            cell(
                declared("multi-phase", Some("per-interpreter-gil")),
                refusal
            ),
            Outcome::ImportError
        );
    }

    /// subinterp-cycle picks its kind at run time: the step says which, and
    /// the declaration is held against that kind.
    #[test]
    fn a_cycle_refusal_is_judged_by_the_kind_its_step_names() {
        let in_cycle = |kind: &str, declared_as: Event, free_threaded: bool| {
            let refusal = error_event(
                &format!("subinterp {kind} 1: import"),
                "import",
                "ImportError",
                REFUSAL,
            );
            let obs = observation(vec![declared_as, refusal, done()], exited(0));
            let facts = CellFacts {
                free_threaded,
                ..facts(Scenario::SubinterpCycle)
            };
            judge_cell(&facts, &Evidence::Ran(obs)).outcome
        };
        let supported = || declared("multi-phase", Some("supported"));
        assert_eq!(in_cycle("own", supported(), false), Outcome::Refused);
        assert_eq!(in_cycle("shared", supported(), false), Outcome::ImportError);
        let single = || declared("single-phase", None);
        assert_eq!(in_cycle("legacy", single(), true), Outcome::Refused);
        assert_eq!(in_cycle("legacy", single(), false), Outcome::ImportError);
    }

    #[test]
    fn the_same_words_from_the_smoke_code_or_the_main_import_are_an_import_error() {
        let single = || declared("single-phase", None);
        let from_smoke = error_event("subinterp shared: smoke", "smoke", "ImportError", REFUSAL);
        assert_eq!(cell(single(), from_smoke), Outcome::ImportError);
        let smoke_phase_at_import =
            error_event("subinterp shared: import", "smoke", "ImportError", REFUSAL);
        assert_eq!(cell(single(), smoke_phase_at_import), Outcome::ImportError);
        let in_main = error_event("import", "import", "ImportError", REFUSAL);
        assert_eq!(cell(single(), in_main), Outcome::ImportError);
        let other_type = error_event(
            "subinterp shared: import",
            "import",
            "RuntimeError",
            REFUSAL,
        );
        assert_eq!(cell(single(), other_type), Outcome::ImportError);
        let other_words = error_event(
            "subinterp shared: import",
            "import",
            "ImportError",
            "no module",
        );
        assert_eq!(cell(single(), other_words), Outcome::ImportError);
    }

    #[test]
    fn an_import_error_says_what_and_where() {
        let obs = observation(
            vec![
                error_event("cycle 2: import", "import", "ValueError", "boom"),
                done(),
            ],
            exited(0),
        );
        let v = judge_cell(&facts(Scenario::Reinit), &Evidence::Ran(obs));
        assert_eq!(v.outcome, Outcome::ImportError);
        assert_eq!(
            v.details.summary,
            "ValueError in step `cycle 2: import`: boom"
        );
    }
}
