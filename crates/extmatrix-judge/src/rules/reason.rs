//! Reason codes for failures whose cause the evidence names: a message a
//! known project raises (CPython, Cython, PyO3, numpy), or a shape of the
//! evidence. A reason explains an outcome; it never decides one (the rules
//! that decide, and the reasons they carry, are elsewhere: refusals in
//! `refusal.rs`, the GIL in `gil.rs`, ends of the process in
//! `termination.rs`). docs/outcomes.md ("Reasons") says what each code
//! means and what to fix. A failed build's cause says whether the package
//! refused the interpreter ([`refused_build`]).

use crate::Finding;
use extmatrix_core::{BuildCause, CauseKind, Reason};
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

/// Whether a failed build's cause is the package refusing this interpreter:
/// a stop its author wrote on purpose — its own `#error` or
/// `static_assert`, a build script's error (PyO3's), an exception a build
/// backend raised that is no accident of the code — whose words name the
/// interpreter (Python, CPython, the free-threaded build, the GIL, the
/// limited API) and refuse it ("does not support", "requires", "upgrade",
/// "newer"). A compiler error on an API the interpreter lacks is a broken
/// build, not a refusal: nobody wrote it to stop there.
pub fn refused_build(cause: &BuildCause) -> bool {
    let deliberate = match cause.kind {
        CauseKind::ErrorDirective | CauseKind::BuildScript => true,
        CauseKind::PythonException => !is_accident(&cause.message),
        _ => false,
    };
    let message = cause.message.to_lowercase();
    deliberate && names_the_interpreter(&message) && refuses(&message)
}

/// Exceptions code raises when it breaks, not when its author means it to
/// stop: the message of one of them names no refusal, whatever it says.
fn is_accident(exception_line: &str) -> bool {
    const ACCIDENTS: &[&str] = &[
        "ImportError",
        "ModuleNotFoundError",
        "SyntaxError",
        "NameError",
        "AttributeError",
        "TypeError",
        "KeyError",
        "IndexError",
        "FileNotFoundError",
        "PermissionError",
        "CalledProcessError",
    ];
    let name = exception_line.split(':').next().unwrap_or_default();
    let name = name.rsplit('.').next().unwrap_or(name);
    ACCIDENTS.contains(&name)
}

/// `message` (lower case) names a Python interpreter or a kind of build of one.
fn names_the_interpreter(message: &str) -> bool {
    const NAMES: &[&str] = &[
        "python",
        "free-thread",
        "free thread",
        "nogil",
        "py_gil_disabled",
        "abi3",
        "limited api",
    ];
    NAMES.iter().any(|n| message.contains(n))
        || message
            .split(|c: char| !c.is_ascii_alphanumeric())
            .any(|word| word == "gil")
}

/// `message` (lower case) turns something down or asks for another one.
fn refuses(message: &str) -> bool {
    const REFUSALS: &[&str] = &[
        "not support",
        "unsupported",
        "only support",
        "require",
        "needs ",
        "upgrade",
        "incompatible",
        "not compatible",
        "newer",
        "older",
        "below",
        "at least",
        "minimum",
        "maximum",
    ];
    REFUSALS.iter().any(|r| message.contains(r))
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

    fn build_cause(kind: CauseKind, message: &str) -> BuildCause {
        BuildCause {
            phase: extmatrix_core::BuildPhase::Compiling,
            kind,
            message: message.into(),
            location: None,
        }
    }

    /// The causes of the builds of fixtures/projects and of PyO3's refusal,
    /// as the cause finder reads them from real logs.
    #[test]
    fn a_build_is_refused_when_the_package_stops_it_on_purpose_naming_the_interpreter() {
        let refusals = [
            (CauseKind::ErrorDirective, r#"#error "the free-threaded build requires CPython 3.14 or newer""#),
            (CauseKind::ErrorDirective, "static assertion failed: this package requires Python 3.14 or newer"),
            (CauseKind::PythonException, "RuntimeError: ftrefuse does not support the free-threaded build of CPython 3.13. Upgrade to free-threaded 3.14 or newer, or use the default build."),
            (CauseKind::BuildScript, "PyO3 does not support the free-threaded build of CPython versions below 3.14, the selected Python version is 3.13"),
            (CauseKind::BuildScript, "the configured Python interpreter version (3.14) is newer than PyO3's maximum supported version (3.13)"),
            (CauseKind::PythonException, "SystemExit: this extension needs the GIL"),
            (CauseKind::PythonException, "mypkg.BuildError: mypkg does not support the limited API"),
        ];
        for (kind, message) in refusals {
            assert!(
                refused_build(&build_cause(kind, message)),
                "{kind}: {message}"
            );
        }
        let broken = [
            // Not a stop anyone wrote: a compiler error on an API this build lacks.
            (CauseKind::CompilerError, "‘_PyCriticalSection_SuspendAll’ was not declared in this scope; did you mean ‘PyCriticalSection_End’?"),
            (CauseKind::CompilerError, r#"#error "The limited API is not currently supported in the free-threaded build""#),
            (CauseKind::MissingBuildDependency, "ModuleNotFoundError: No module named 'Cython'"),
            (CauseKind::LinkerError, "cannot find -lpython3.13: No such file or directory"),
            (CauseKind::Network, "Could not connect to server (python.org requires a proxy)"),
            (CauseKind::ToolError, "Python 3.13 is not supported"),
            // Accidents, whatever their words.
            (CauseKind::PythonException, "FileNotFoundError: [Errno 2] No such file or directory: '/usr/include/python3.13/Python.h', required"),
            (CauseKind::PythonException, "ImportError: this module requires Python 3.14"),
            (CauseKind::PythonException, "subprocess.CalledProcessError: Command '['python', 'x']' needs at least 1"),
            // A stop that is not about the interpreter.
            (CauseKind::BuildScript, "this crate needs libfoo 2.0: pkg-config found none"),
            (CauseKind::ErrorDirective, r#"#error "unsupported platform""#),
            // Naming the interpreter without refusing it.
            (CauseKind::ErrorDirective, r#"#error "Python.h must be included first""#),
            // `gil` only as a word: not "fragile".
            (CauseKind::ErrorDirective, r#"#error "fragile build: requires libfoo""#),
        ];
        for (kind, message) in broken {
            assert!(
                !refused_build(&build_cause(kind, message)),
                "{kind}: {message}"
            );
        }
    }
}
