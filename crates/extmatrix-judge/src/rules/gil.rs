//! `gil-enabled`: on a free-threaded build, importing the module turned the
//! GIL back on (it lacks `Py_mod_gil = Py_MOD_GIL_NOT_USED`). Judged in
//! every scenario, not only `free-threading`: a module that silently turns
//! the GIL on must not pass `import` or `reinit` on a free-threaded build.
//! A module that declares `Py_MOD_GIL_NOT_USED` and still had the GIL
//! turned on (by a dependency it imports, or by CPython's check of what
//! its module object says at import time) is `declaration-mismatch`.

use super::declaration::promises_no_gil;
use crate::{CellFacts, Finding};
use extmatrix_core::{Outcome, Reason};
use extmatrix_protocol::{Action, GilState};
use extmatrix_schema::Details;

/// The first reading with the GIL on, if the GIL was off when the harness
/// first looked (right after init, before any import) and on later: only
/// then is it the module's doing.
pub fn reenabled_gil(readings: &[GilState]) -> Option<&GilState> {
    let first = readings.first()?;
    let off_before_import = first.step.action == Action::Init && !first.enabled;
    off_before_import
        .then(|| readings.iter().find(|g| g.enabled))
        .flatten()
}

/// How CPython warns that it re-enabled the GIL for a module
/// (`_PyImport_CheckGILForModule`: a RuntimeWarning naming the GIL). It only
/// chooses the summary's words, never the outcome.
const CPYTHON_WARNING_CATEGORY: &str = "RuntimeWarning";
const CPYTHON_WARNING_MENTIONS: &str = "GIL";

pub fn findings(facts: &CellFacts, details: &Details) -> Option<Finding> {
    if !facts.free_threaded {
        return None;
    }
    let on = reenabled_gil(&details.gil)?;
    // CPython's own RuntimeWarning says best which module did it.
    let warning = details.warnings.iter().find(|w| {
        w.category == CPYTHON_WARNING_CATEGORY && w.message.contains(CPYTHON_WARNING_MENTIONS)
    });
    let why = warning.map_or_else(
        || format!("the GIL is enabled (at step `{}`)", on.step),
        |w| w.message.clone(),
    );
    let finding = if promises_no_gil(details.declared.as_ref()) {
        Finding::new(
            Outcome::DeclarationMismatch,
            format!("declares `Py_mod_gil = not-used` yet importing re-enabled the GIL: {why}"),
        )
    } else {
        Finding::new(
            Outcome::GilEnabled,
            format!("importing re-enabled the GIL: {why}"),
        )
    };
    Some(match warning {
        Some(_) => finding.because(Reason::GilReenabled),
        None => finding,
    })
}

#[cfg(test)]
mod tests {
    use crate::testing::*;
    use crate::{judge_cell, Evidence};
    use extmatrix_core::{Outcome, Scenario};

    const WARNING: &str = "The global interpreter lock (GIL) has been enabled to load module 'x'";

    fn reenabled() -> Vec<extmatrix_protocol::Event> {
        vec![
            gil("init", false),
            event(serde_json::json!({"ev": "warning", "where": "import",
                                      "category": "RuntimeWarning", "message": WARNING})),
            gil("import", true),
            done(),
        ]
    }

    #[test]
    fn a_gil_turned_on_by_the_import_is_gil_enabled_with_cpythons_warning() {
        let v = judge_cell(
            &free_threaded(Scenario::FreeThreading),
            &Evidence::Ran(observation(reenabled(), exited(0))),
        );
        assert_eq!(v.outcome, Outcome::GilEnabled);
        assert_eq!(
            v.details.summary,
            format!("importing re-enabled the GIL: {WARNING}")
        );
    }

    #[test]
    fn without_cpythons_warning_the_summary_names_the_step() {
        let other_warning = |category: &str, message: &str| {
            event(serde_json::json!({"ev": "warning", "where": "import",
                                      "category": category, "message": message}))
        };
        let events = vec![
            gil("init", false),
            other_warning("RuntimeWarning", "unrelated"),
            other_warning("DeprecationWarning", "the GIL is old"),
            gil("smoke on threads", true),
            done(),
        ];
        let v = judge_cell(
            &free_threaded(Scenario::FreeThreading),
            &Evidence::Ran(observation(events, exited(0))),
        );
        assert_eq!(v.outcome, Outcome::GilEnabled);
        assert!(
            v.details.summary.ends_with("at step `smoke on threads`)"),
            "{}",
            v.details.summary
        );
    }

    #[test]
    fn a_gil_already_on_or_never_on_is_not_the_modules_doing() {
        let ft = free_threaded(Scenario::FreeThreading);
        let already_on = vec![gil("init", true), gil("import", true), done()];
        assert_eq!(
            judge_cell(&ft, &Evidence::Ran(observation(already_on, exited(0)))).outcome,
            Outcome::Pass
        );
        let stays_off = vec![gil("init", false), gil("import", false), done()];
        assert_eq!(
            judge_cell(&ft, &Evidence::Ran(observation(stays_off, exited(0)))).outcome,
            Outcome::Pass
        );
        // The first reading must be the one before the import.
        let no_baseline = vec![gil("import", false), gil("smoke on threads", true), done()];
        assert_eq!(
            judge_cell(&ft, &Evidence::Ran(observation(no_baseline, exited(0)))).outcome,
            Outcome::Pass
        );
    }

    #[test]
    fn every_scenario_on_a_free_threaded_build_judges_the_gil() {
        for scenario in [Scenario::Import, Scenario::Reinit, Scenario::SubinterpOwn] {
            let v = judge_cell(
                &free_threaded(scenario),
                &Evidence::Ran(observation(reenabled(), exited(0))),
            );
            assert_eq!(v.outcome, Outcome::GilEnabled, "{scenario}");
            assert_eq!(v.details.reason, Some(extmatrix_core::Reason::GilReenabled));
        }
        // A build with a GIL has nothing to re-enable.
        let v = judge_cell(
            &facts(Scenario::Import),
            &Evidence::Ran(observation(reenabled(), exited(0))),
        );
        assert_eq!(v.outcome, Outcome::Pass);
    }

    #[test]
    fn a_module_that_declared_not_used_is_a_declaration_mismatch() {
        let mut events = reenabled();
        events.insert(
            0,
            event(serde_json::json!({"ev": "declared", "init": "multi-phase", "gil": "not-used"})),
        );
        let v = judge_cell(
            &free_threaded(Scenario::Import),
            &Evidence::Ran(observation(events.clone(), exited(0))),
        );
        assert_eq!(v.outcome, Outcome::DeclarationMismatch);
        assert_eq!(
            v.details.summary,
            format!("declares `Py_mod_gil = not-used` yet importing re-enabled the GIL: {WARNING}")
        );
        events[0] =
            event(serde_json::json!({"ev": "declared", "init": "multi-phase", "gil": "used"}));
        let used = judge_cell(
            &free_threaded(Scenario::Import),
            &Evidence::Ran(observation(events, exited(0))),
        );
        assert_eq!(used.outcome, Outcome::GilEnabled);
    }
}
