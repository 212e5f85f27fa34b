//! Linked in or loaded from a file: `inittab` registers the module with
//! `PyImport_AppendInittab` (as an embedder that links it statically
//! does), `reinit` imports it from its file; both cycle init/finalize. A
//! module that survives one path and not the other has an init that
//! depends on how it was found (its `__file__`, the loader's spec, a cache
//! keyed by the file): the inittab cell says which way they differ.

use crate::Verdict;
use extmatrix_core::{Outcome, Reason, Scenario};
use extmatrix_protocol::Stage;

/// What a verdict says of its module's init/finalize cycles: `Some(true)`
/// when they failed, `Some(false)` when they passed, `None` when it says
/// nothing of them — the cell did not run, the harness or the interpreter
/// failed on its own, or only inittab's per-cycle subinterpreter failed
/// (reinit has none to compare it with).
fn cycles_failed(v: &Verdict) -> Option<bool> {
    if v.outcome == Outcome::NotApplicable
        || v.outcome == Outcome::HarnessError
        || v.details.reason == Some(Reason::AlsoWithoutTarget)
    {
        return None;
    }
    if !v.outcome.is_finding() {
        return Some(false);
    }
    let failed_at = v
        .details
        .step
        .or_else(|| v.details.errors.first().map(|e| e.step));
    match failed_at {
        Some(step) if !matches!(step.stage, Stage::Cycle(_)) => None,
        _ => Some(true),
    }
}

/// Hold the `inittab` verdict against the same module's `reinit` verdict on
/// the same interpreter: when the cycles pass one way and fail the other,
/// say so in the inittab cell's summary and notes.
pub fn compare(inittab: &mut Verdict, reinit: &Verdict) {
    let (Some(linked), Some(loaded)) = (cycles_failed(inittab), cycles_failed(reinit)) else {
        return;
    };
    if linked == loaded {
        return;
    }
    let file_path = Scenario::Reinit;
    let note = if linked {
        format!(
            "fails only when linked in: {file_path}, which imports the module from its file, {}",
            reinit.outcome
        )
    } else {
        format!(
            "fails only when imported from its file: {file_path} is {}, linked in it passes",
            reinit.outcome
        )
    };
    inittab.details.summary = format!("{}; {note}", inittab.details.summary);
    inittab.details.notes.push(note);
}

#[cfg(test)]
mod tests {
    use super::*;
    use extmatrix_schema::Details;

    fn verdict(outcome: Outcome, summary: &str) -> Verdict {
        Verdict {
            outcome,
            details: Details {
                summary: summary.into(),
                ..Details::default()
            },
        }
    }

    #[test]
    fn a_module_that_fails_one_path_only_is_told_which() {
        let mut inittab = verdict(Outcome::ImportError, "ValueError in step `cycle 1: import`");
        compare(
            &mut inittab,
            &verdict(Outcome::Pass, "5 init/finalize cycles"),
        );
        assert_eq!(
            inittab.details.summary,
            "ValueError in step `cycle 1: import`; fails only when linked in: \
             reinit, which imports the module from its file, pass"
        );
        assert_eq!(inittab.details.notes.len(), 1);

        let mut inittab = verdict(Outcome::Pass, "5 init/finalize cycles");
        compare(&mut inittab, &verdict(Outcome::Crash, "SIGSEGV"));
        assert!(inittab.details.summary.ends_with(
            "fails only when imported from its file: reinit is crash, linked in it passes"
        ));
        assert_eq!(inittab.outcome, Outcome::Pass, "a note, not a verdict");
    }

    #[test]
    fn paths_that_agree_or_a_cell_that_did_not_run_say_nothing() {
        for (mine, theirs) in [
            (Outcome::Crash, Outcome::ImportError),
            (Outcome::Pass, Outcome::Pass),
            (Outcome::Pass, Outcome::NotApplicable),
            (Outcome::NotApplicable, Outcome::Crash),
            (Outcome::HarnessError, Outcome::Pass),
            (Outcome::Pass, Outcome::HarnessError),
        ] {
            let mut inittab = verdict(mine, "s");
            compare(&mut inittab, &verdict(theirs, "t"));
            assert_eq!(inittab.details.summary, "s", "{mine} / {theirs}");
            assert!(inittab.details.notes.is_empty());
        }
    }

    /// What fails outside the cycles says nothing of how the module was
    /// found: inittab's per-cycle subinterpreter, or the interpreter's own
    /// crash (its control failed too).
    #[test]
    fn a_failure_outside_the_cycles_or_also_without_the_target_says_nothing() {
        let mut in_subinterpreter = verdict(Outcome::StateClobbered, "s");
        in_subinterpreter.details.errors.push(
            serde_json::from_value(serde_json::json!({"where": "subinterp shared 1: import",
                "phase": "import", "exc_type": "ImportError", "message": "no"}))
            .unwrap(),
        );
        compare(&mut in_subinterpreter, &verdict(Outcome::Pass, "t"));
        assert_eq!(in_subinterpreter.details.summary, "s");

        let mut crashed = verdict(Outcome::Pass, "s");
        let mut interpreters_own = verdict(Outcome::Crash, "t");
        interpreters_own.details.reason = Some(Reason::AlsoWithoutTarget);
        compare(&mut crashed, &interpreters_own);
        assert_eq!(crashed.details.summary, "s");

        let mut in_a_cycle = verdict(Outcome::Crash, "s");
        in_a_cycle.details.step = Some("cycle 2: import".parse().unwrap());
        compare(&mut in_a_cycle, &verdict(Outcome::Pass, "t"));
        assert!(in_a_cycle
            .details
            .summary
            .contains("fails only when linked in"));
    }
}
