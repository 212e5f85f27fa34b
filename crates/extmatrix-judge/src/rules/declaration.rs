//! What a module's declaration promises, so the rules can hold its
//! behaviour against it. A declaration is a promise nothing enforces: a
//! module that breaks one is `declaration-mismatch`, worse than the same
//! behaviour from a module that promised nothing.

use crate::{CellFacts, Finding};
use extmatrix_core::{Outcome, PythonVersion};
use extmatrix_protocol::{Declaration, GilSlot, InitStyle, MultipleInterpreters};

/// The first CPython with `Py_mod_multiple_interpreters`.
const SLOT_SINCE: PythonVersion = PythonVersion::new(3, 12, 0);

/// Whether the module promises that its instances share nothing: a
/// multi-phase module whose `Py_mod_multiple_interpreters` is not
/// `not-supported`; absent, it means `supported` (with a shared GIL), but
/// only where the slot exists (3.12+): before, a module had no way to say
/// no. Each instance must then keep its state in its module object, so
/// neither another interpreter nor a second instance can see or change it.
pub fn promises_isolation(declared: Option<&Declaration>, version: PythonVersion) -> bool {
    declared.is_some_and(|d| {
        d.init == InitStyle::MultiPhase
            && match d.multiple_interpreters {
                Some(slot) => slot != MultipleInterpreters::NotSupported,
                None => version >= SLOT_SINCE,
            }
    })
}

/// Whether the module promises to run without the GIL (`Py_mod_gil =
/// Py_MOD_GIL_NOT_USED`).
pub fn promises_no_gil(declared: Option<&Declaration>) -> bool {
    declared.is_some_and(|d| d.gil == Some(GilSlot::NotUsed))
}

/// `declaration-mismatch` for `what` the module did, when its declaration
/// promised isolation ("declares … yet {what}"); `None` when it promised
/// nothing, and `what` is the plain outcome the caller gives.
pub fn broken_isolation_promise(
    facts: &CellFacts,
    declared: Option<&Declaration>,
    what: &str,
) -> Option<Finding> {
    let declared = declared.filter(|d| promises_isolation(Some(d), facts.version))?;
    Some(Finding::new(
        Outcome::DeclarationMismatch,
        format!("{} yet {what}", isolation_promise(declared)),
    ))
}

/// The promise in words, for a summary: "declares `Py_mod_multiple_interpreters
/// = per-interpreter-gil`", or for a multi-phase module without the slot,
/// "is multi-phase (subinterpreters supported by default)".
pub fn isolation_promise(declared: &Declaration) -> String {
    match declared.multiple_interpreters {
        Some(slot) => format!("declares `Py_mod_multiple_interpreters = {slot}`"),
        None => "is multi-phase (subinterpreters supported by default)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn declaration(init: InitStyle, slot: Option<MultipleInterpreters>) -> Declaration {
        Declaration {
            init,
            m_size: Some(0),
            multiple_interpreters: slot,
            gil: None,
        }
    }

    #[test]
    fn isolation_is_promised_by_multi_phase_modules_that_do_not_say_no() {
        use MultipleInterpreters::*;
        let v312 = PythonVersion::new(3, 12, 0);
        let v311 = PythonVersion::new(3, 11, 99);
        for slot in [
            None,
            Some(Supported),
            Some(PerInterpreterGil),
            Some(Unknown),
        ] {
            let d = declaration(InitStyle::MultiPhase, slot);
            assert!(promises_isolation(Some(&d), v312), "{slot:?}");
        }
        // Before 3.12 there is no slot, so saying nothing promises nothing.
        let silent = declaration(InitStyle::MultiPhase, None);
        assert!(!promises_isolation(Some(&silent), v311));
        let refuses = declaration(InitStyle::MultiPhase, Some(NotSupported));
        assert!(!promises_isolation(Some(&refuses), v312));
        let single = declaration(InitStyle::SinglePhase, None);
        assert!(!promises_isolation(Some(&single), v312));
        assert!(!promises_isolation(
            Some(&declaration(InitStyle::None, None)),
            v312
        ));
        assert!(!promises_isolation(None, v312));
        assert_eq!(
            isolation_promise(&declaration(InitStyle::MultiPhase, Some(PerInterpreterGil))),
            "declares `Py_mod_multiple_interpreters = per-interpreter-gil`"
        );
        assert_eq!(
            isolation_promise(&declaration(InitStyle::MultiPhase, None)),
            "is multi-phase (subinterpreters supported by default)"
        );
    }

    #[test]
    fn only_not_used_promises_no_gil() {
        let with = |gil| Declaration {
            gil,
            ..declaration(InitStyle::MultiPhase, None)
        };
        assert!(promises_no_gil(Some(&with(Some(GilSlot::NotUsed)))));
        assert!(!promises_no_gil(Some(&with(Some(GilSlot::Used)))));
        assert!(!promises_no_gil(Some(&with(None))));
        assert!(!promises_no_gil(None));
    }
}
