//! Reason codes for failures whose cause the evidence names: a message a
//! known project raises (CPython, Cython, PyO3, numpy), or a shape of the
//! evidence. A reason explains an outcome; it never decides one (the rules
//! that decide, and the reasons they carry, are elsewhere: refusals in
//! `refusal.rs`, the GIL in `gil.rs`, ends of the process in
//! `termination.rs`). docs/outcomes.md ("Reasons") says what each code
//! means and what to fix.

use crate::Finding;
use extmatrix_core::Reason;
use extmatrix_protocol::{ErrorPhase, ImportFailure};
use extmatrix_schema::Details;

/// Known messages, each the project's own words (from its source).
const KNOWN_MESSAGES: &[(Reason, &str)] = &[
    // Cython's __Pyx_check_single_interpreter.
    (
        Reason::CythonInterpreterChange,
        "Interpreter change detected",
    ),
    // Cython's module exec, run a second time in one process.
    (Reason::CythonNoReinit, "Re-initialisation is not supported"),
    // PyO3's ModuleDef::make_module.
    (
        Reason::Pyo3Subinterpreter,
        "PyO3 modules do not yet support subinterpreters",
    ),
    // numpy's _multiarray_umath, and the guard the isolation HOWTO shows.
    (
        Reason::OncePerProcess,
        "cannot load module more than once per process",
    ),
    // numpy's UserWarning on import in a subinterpreter.
    (
        Reason::NumpySubinterpreterWarning,
        "does not properly support sub-interpreters",
    ),
];

/// Give `verdict` the reason the evidence names when its deciding rule
/// gave none; `target` is the module the harness imported. A missing
/// dependency also says, in the summary, which module and how to provide
/// it.
pub fn explain(verdict: &mut Finding, details: &Details, target: Option<&str>) {
    if verdict.reason.is_some() {
        return;
    }
    verdict.reason = known(details, target);
    if verdict.reason == Some(Reason::MissingDependency) {
        if let Some(err) = target.and_then(|t| missing_dependency(details, t)) {
            verdict.summary.push_str(&advice(err));
        }
    }
}

/// The reason the evidence names: the first error with a known message
/// (or, failing that, the first warning), else a dependency the import
/// did not find, else lost attributes.
fn known(details: &Details, target: Option<&str>) -> Option<Reason> {
    let messages = details
        .errors
        .iter()
        .map(|e| e.message.as_str())
        .chain(details.warnings.iter().map(|w| w.message.as_str()));
    for message in messages {
        if let Some((reason, _)) = KNOWN_MESSAGES.iter().find(|(_, m)| message.contains(m)) {
            return Some(*reason);
        }
    }
    if target.is_some_and(|t| missing_dependency(details, t).is_some()) {
        return Some(Reason::MissingDependency);
    }
    let first_ok = details
        .errors
        .iter()
        .all(|e| !e.step.stage.is_first_instance());
    details
        .errors
        .iter()
        .any(|e| first_ok && lost_an_attribute(e))
        .then_some(Reason::LostAttributes)
}

/// The first error that is a `ModuleNotFoundError` for a module outside
/// `target`'s top-level package. The import system's own `name` says
/// which module it did not find; one of the target's package (a module
/// the build did not produce, the target itself) is not a dependency.
fn missing_dependency<'d>(details: &'d Details, target: &str) -> Option<&'d ImportFailure> {
    let top_level = |name: &str| name.split('.').next().unwrap_or_default().to_owned();
    details.errors.iter().find(|e| {
        e.not_found
            .as_deref()
            .is_some_and(|missing| top_level(missing) != top_level(target))
    })
}

/// What the summary adds for a missing dependency: which module, and how
/// to provide it — or to stop needing it.
fn advice(err: &ImportFailure) -> String {
    let missing = err.not_found.as_deref().unwrap_or_default();
    let or_else = match err.phase {
        ErrorPhase::Smoke => "or import it no longer in `smoke:`",
        _ => "or, if only the project's tests need it, leave this module out with `exclude:`",
    };
    format!(
        " ({missing} is not installed beside the target: declare it in the project's \
         runtime dependencies, which a `pip` target installs; {or_else})"
    )
}

/// The smoke code of a later instance (a re-init, a re-import, a
/// subinterpreter) did not find an attribute: the instance was made, but
/// not whole.
fn lost_an_attribute(err: &ImportFailure) -> bool {
    err.exc_type == "AttributeError"
        && err.phase == ErrorPhase::Smoke
        && !err.step.stage.is_first_instance()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;
    use crate::{judge_cell, Evidence};
    use extmatrix_core::{Outcome, Scenario};
    use extmatrix_protocol::Event;

    fn verdict(scenario: Scenario, events: Vec<Event>) -> crate::Verdict {
        judge_cell(
            &facts(scenario),
            &Evidence::Ran(observation(events, exited(0))),
        )
    }

    #[test]
    fn known_messages_name_their_reason() {
        let cases = [
            (
                "Interpreter change detected - this module can only be loaded into one interpreter per process.",
                Reason::CythonInterpreterChange,
            ),
            (
                "Module 'm' has already been imported. Re-initialisation is not supported.",
                Reason::CythonNoReinit,
            ),
            (
                "PyO3 modules do not yet support subinterpreters, see https://github.com/PyO3/pyo3/issues/576",
                Reason::Pyo3Subinterpreter,
            ),
            (
                "cannot load module more than once per process",
                Reason::OncePerProcess,
            ),
        ];
        for (message, reason) in cases {
            let v = verdict(
                Scenario::SubinterpLegacy,
                vec![
                    error_event("subinterp legacy: import", "import", "ImportError", message),
                    done(),
                ],
            );
            assert_eq!(v.outcome, Outcome::ImportError);
            assert_eq!(v.details.reason, Some(reason), "{message}");
        }
        let unknown = verdict(
            Scenario::Import,
            vec![
                error_event("import", "import", "ImportError", "no module named m"),
                done(),
            ],
        );
        assert_eq!(unknown.details.reason, None);
    }

    #[test]
    fn a_known_warning_names_its_reason_when_no_error_does() {
        let warning = event(
            serde_json::json!({"ev": "warning", "where": "subinterp legacy: import",
            "category": "UserWarning",
            "message": "NumPy was imported from a Python sub-interpreter but NumPy does not properly support sub-interpreters."}),
        );
        let v = verdict(Scenario::SubinterpLegacy, vec![warning, done()]);
        assert_eq!(v.outcome, Outcome::Pass);
        assert_eq!(v.details.reason, Some(Reason::NumpySubinterpreterWarning));
    }

    #[test]
    fn an_attribute_missing_only_in_a_later_instance_is_lost_attributes() {
        let missing = |at: &str| {
            error_event(
                at,
                "smoke",
                "AttributeError",
                "module 'm' has no attribute 'Widget'",
            )
        };
        for at in ["cycle 2: smoke", "reimport: smoke", "subinterp own: smoke"] {
            let v = verdict(Scenario::Reinit, vec![missing(at), done()]);
            assert_eq!(v.outcome, Outcome::ImportError);
            assert_eq!(v.details.reason, Some(Reason::LostAttributes), "{at}");
        }
        // Missing in the first instance too: the smoke code is wrong, not
        // the re-init.
        for first in ["smoke", "cycle 1: smoke"] {
            let v = verdict(
                Scenario::Reinit,
                vec![missing(first), missing("cycle 2: smoke"), done()],
            );
            assert_eq!(v.details.reason, None, "{first}");
        }
        let raised_by_import = verdict(
            Scenario::Reinit,
            vec![
                error_event("cycle 2: import", "import", "AttributeError", "x"),
                done(),
            ],
        );
        assert_eq!(raised_by_import.details.reason, None);
        let other = verdict(
            Scenario::Reinit,
            vec![
                error_event("cycle 2: smoke", "smoke", "KeyError", "x"),
                done(),
            ],
        );
        assert_eq!(other.details.reason, None);
    }

    #[test]
    fn cpythons_refusal_names_the_kind_of_build() {
        let refusal = |at: &str| {
            error_event(
                at,
                "import",
                "ImportError",
                "module m does not support loading in subinterpreters",
            )
        };
        let single = || declared("single-phase", None);
        let v = judge_cell(
            &free_threaded(Scenario::SubinterpLegacy),
            &Evidence::Ran(observation(
                vec![single(), refusal("subinterp legacy: import"), done()],
                exited(0),
            )),
        );
        assert_eq!(v.outcome, Outcome::Refused);
        assert_eq!(v.details.reason, Some(Reason::SubinterpRefusedFreeThreaded));
        // With a GIL a legacy subinterpreter checks nothing: the same words
        // there are the module's own, CPython's plain refusal text.
        let v = verdict(
            Scenario::SubinterpLegacy,
            vec![single(), refusal("subinterp legacy: import"), done()],
        );
        assert_eq!(v.outcome, Outcome::ImportError);
        assert_eq!(v.details.reason, Some(Reason::SubinterpRefused));
        let v = verdict(
            Scenario::SubinterpOwn,
            vec![single(), refusal("subinterp own: import"), done()],
        );
        assert_eq!(v.outcome, Outcome::Refused);
        assert_eq!(v.details.reason, Some(Reason::SubinterpRefused));
        // A refusal the declaration contradicts keeps its reason.
        let v = verdict(
            Scenario::SubinterpOwn,
            vec![
                declared("multi-phase", Some("per-interpreter-gil")),
                refusal("subinterp own: import"),
                done(),
            ],
        );
        assert_eq!(v.outcome, Outcome::ImportError);
        assert_eq!(v.details.reason, Some(Reason::SubinterpRefused));
    }

    /// The harness's `start` event naming `module`, and a
    /// ModuleNotFoundError for `missing` raised in `phase`.
    fn not_found(module: &str, phase: &str, missing: Option<&str>) -> crate::Verdict {
        let start = event(serde_json::json!({"ev": "start", "scenario": "import",
            "compiled_for": "3.13.0", "module": module, "pid": 1}));
        let mut error = serde_json::json!({"ev": "error", "where": phase, "phase": phase,
            "exc_type": "ModuleNotFoundError", "message": "No module named 'x'"});
        if let Some(missing) = missing {
            error["not_found"] = missing.into();
        }
        verdict(Scenario::Import, vec![start, event(error), done()])
    }

    #[test]
    fn a_module_not_found_outside_the_targets_package_is_a_missing_dependency() {
        for (target, missing) in [
            ("pkg.tests._helper", "yaml"),
            ("pkg.tests._helper", "yaml.constructor"),
            ("pkg._core", "pkg_extra"),
            ("_speedups", "_speedups_helper"),
        ] {
            let v = not_found(target, "import", Some(missing));
            assert_eq!(v.outcome, Outcome::ImportError);
            assert_eq!(
                v.details.reason,
                Some(Reason::MissingDependency),
                "{target} {missing}"
            );
            let summary = &v.details.summary;
            assert!(
                summary.starts_with("ModuleNotFoundError in step `import`")
                    && summary.contains(&format!("({missing} is not installed beside the target"))
                    && summary.contains("runtime dependencies")
                    && summary.contains("`exclude:`"),
                "{summary}"
            );
        }
        // Raised by the smoke code: the advice is about the smoke code.
        let v = not_found("pkg._core", "smoke", Some("numpy"));
        assert_eq!(v.details.reason, Some(Reason::MissingDependency));
        assert!(
            v.details
                .summary
                .contains("import it no longer in `smoke:`")
                && !v.details.summary.contains("exclude"),
            "{}",
            v.details.summary
        );
    }

    #[test]
    fn a_module_of_the_targets_own_package_is_no_missing_dependency() {
        for (target, missing) in [
            ("pkg._core", "pkg._core"),
            ("pkg._core", "pkg._generated"),
            ("pkg.tests._helper", "pkg"),
            ("pkg", "pkg.sub"),
        ] {
            let v = not_found(target, "import", Some(missing));
            assert_eq!(v.outcome, Outcome::ImportError);
            assert_eq!(v.details.reason, None, "{target} {missing}");
            assert!(
                !v.details.summary.contains("not installed"),
                "{}",
                v.details.summary
            );
        }
        // Without the import system's `name`, or without knowing the
        // target (an observation kept by an older extmatrix), nothing is
        // guessed from the message.
        assert_eq!(not_found("pkg._core", "import", None).details.reason, None);
        let v = verdict(
            Scenario::Import,
            vec![
                event(
                    serde_json::json!({"ev": "error", "where": "import", "phase": "import",
                    "exc_type": "ModuleNotFoundError", "message": "No module named 'yaml'",
                    "not_found": "yaml"}),
                ),
                done(),
            ],
        );
        assert_eq!(v.details.reason, None);
    }

    #[test]
    fn a_known_message_explains_before_a_missing_dependency() {
        let start = event(
            serde_json::json!({"ev": "start", "scenario": "subinterp-legacy",
            "compiled_for": "3.13.0", "module": "m", "pid": 1}),
        );
        let missing = event(serde_json::json!({"ev": "error", "where": "import",
            "phase": "import", "exc_type": "ModuleNotFoundError",
            "message": "No module named 'yaml'", "not_found": "yaml"}));
        let v = verdict(
            Scenario::SubinterpLegacy,
            vec![
                start,
                missing,
                error_event(
                    "subinterp legacy: import",
                    "import",
                    "ImportError",
                    "PyO3 modules do not yet support subinterpreters",
                ),
                done(),
            ],
        );
        assert_eq!(v.details.reason, Some(Reason::Pyo3Subinterpreter));
        assert!(!v.details.summary.contains("not installed"));
    }

    #[test]
    fn a_crash_is_not_explained_by_an_earlier_error() {
        let obs = observation(
            vec![
                error_event("cycle 2: smoke", "smoke", "AttributeError", "no Widget"),
                step("cycle 3: import"),
            ],
            extmatrix_protocol::Termination::Signaled {
                signal: 11,
                name: "SIGSEGV".into(),
            },
        );
        let v = judge_cell(&facts(Scenario::Reinit), &Evidence::Ran(obs));
        assert_eq!(v.outcome, Outcome::Crash);
        assert_eq!(v.details.reason, None);
    }
}
