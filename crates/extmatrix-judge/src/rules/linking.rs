//! Linked in or loaded from a file: `inittab` registers the module with
//! `PyImport_AppendInittab` (as an embedder that links it statically
//! does), `reinit` imports it from its file; both cycle init/finalize. A
//! module that survives one path and not the other has an init that
//! depends on how it was found (its `__file__`, the loader's spec, a cache
//! keyed by the file): the inittab cell says which way they differ.

use crate::Verdict;
use extmatrix_core::{Outcome, Scenario};

/// Hold the `inittab` verdict against the same module's `reinit` verdict on
/// the same interpreter: when one passes and the other fails, say so in the
/// inittab cell's summary and notes.
pub fn compare(inittab: &mut Verdict, reinit: &Verdict) {
    if inittab.outcome.is_finding() == reinit.outcome.is_finding()
        || [inittab.outcome, reinit.outcome].contains(&Outcome::NotApplicable)
    {
        return;
    }
    let file_path = Scenario::Reinit;
    let note = if inittab.outcome.is_finding() {
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
        ] {
            let mut inittab = verdict(mine, "s");
            compare(&mut inittab, &verdict(theirs, "t"));
            assert_eq!(inittab.details.summary, "s", "{mine} / {theirs}");
            assert!(inittab.details.notes.is_empty());
        }
    }
}
