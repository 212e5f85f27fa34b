//! Judge observations: turn what one harness run reported into a [`Verdict`]
//! (an outcome and its details as structured data).
//!
//! Every rule that decides an outcome is here and nowhere else: which shared
//! objects count, when an ImportError is a correct refusal, what a signal or a
//! timeout means. A cell can observe several things; the most severe outcome
//! wins (`Outcome`'s order), and every observation stays in the details.

use extmatrix_core::{Outcome, Scenario};
use extmatrix_runner::{
    CycleFigures, Declaration, Event, GilState, ImportFailure, ImportWarning, Observation,
    SharedObject, Termination,
};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The outcome of one cell and why.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Verdict {
    pub outcome: Outcome,
    pub details: Details,
}

/// Everything a reader needs to act on a cell, as data (rendered by the
/// reporters, kept whole in the JSON report).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Details {
    /// One line: why this outcome.
    pub summary: String,
    /// The step a crash or hang happened in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Exceptions raised by imports or smoke code, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ImportFailure>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub declared: Option<Declaration>,
    /// Objects that count as shared state.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub shared_objects: Vec<SharedObject>,
    /// Objects at the same address that are CPython's own (immortal,
    /// interned, or in libpython's image) and so do not count.
    #[serde(skip_serializing_if = "is_zero")]
    pub core_objects_ignored: usize,
    /// Warnings raised by imports.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<ImportWarning>,
    /// Free-threaded builds: the GIL's state at each point reported.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub gil: Vec<GilState>,
    /// reinit: figures per cycle.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cycles: Vec<CycleFigures>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build: Option<BuildDetails>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub stderr_tail: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub stdout_tail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The failed compile behind a `build-failed` cell.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BuildDetails {
    pub command: String,
    pub output: String,
}

/// Whether an object found at the same address in two places is state the
/// extension shares, rather than CPython's own.
///
/// By where it lives, not by refcount: since 3.13 a static type defined by an
/// extension is immortal too, and it is exactly the bug to catch.
pub fn counts_as_shared(obj: &SharedObject) -> bool {
    match obj.lives.as_str() {
        "extension" => true,
        "libpython" => false,
        // Immortal heap objects and interned strings are the runtime's
        // (CPython shares interned strings between interpreters itself).
        _ => !(obj.immortal || obj.interned),
    }
}

/// Whether CPython must refuse this module in this scenario, given what it
/// declares. Isolated subinterpreters (check_multi_interp_extensions=1)
/// refuse single-phase modules and modules declaring `not-supported`; an
/// own-GIL one also refuses everything short of `per-interpreter-gil`
/// (multi-phase without the slot means `supported`). On free-threaded
/// builds even the legacy `Py_NewInterpreter()` checks
/// (`_PyInterpreterConfig_LEGACY_INIT` sets check_multi_interp_extensions
/// under Py_GIL_DISABLED).
pub fn refusal_expected(scenario: Scenario, free_threaded: bool, declared: &Declaration) -> bool {
    let single_phase = declared.init == "single-phase";
    let slot = declared.multiple_interpreters.as_deref();
    match scenario {
        Scenario::SubinterpShared => single_phase || slot == Some("not-supported"),
        Scenario::SubinterpLegacy if free_threaded => single_phase || slot == Some("not-supported"),
        Scenario::SubinterpOwn => single_phase || slot != Some("per-interpreter-gil"),
        _ => false,
    }
}

/// CPython's ImportError for a module an interpreter will not load.
pub fn is_refusal(err: &ImportFailure) -> bool {
    err.exc_type == "ImportError"
        && err.phase == "import"
        && err
            .message
            .contains("does not support loading in subinterpreters")
}

/// What the judge needs to know about a cell besides its observation.
#[derive(Debug, Clone, Copy)]
pub struct CellFacts {
    pub scenario: Scenario,
    /// The interpreter is a free-threaded build.
    pub free_threaded: bool,
    /// The timeout the cell was given.
    pub timeout: Duration,
}

/// Judge one harness run.
pub fn judge(facts: &CellFacts, obs: &Observation) -> Verdict {
    let scenario = facts.scenario;
    let mut details = Details {
        stderr_tail: obs.stderr_tail.clone(),
        stdout_tail: obs.stdout_tail.clone(),
        ..Details::default()
    };
    let mut findings: Vec<(Outcome, String)> = Vec::new();
    let mut done = false;
    let mut fatal = None;
    let mut compared = 0u64;

    for event in &obs.events {
        match event {
            Event::Declared(d) => details.declared = Some(d.clone()),
            Event::Error(e) => details.errors.push(e.clone()),
            Event::Cycle(c) => details.cycles.push(c.clone()),
            Event::Warning(w) => details.warnings.push(w.clone()),
            Event::Gil(g) => details.gil.push(g.clone()),
            Event::Shared(s) if counts_as_shared(s) => details.shared_objects.push(s.clone()),
            Event::Shared(_) => details.core_objects_ignored += 1,
            Event::Compared { .. } => compared += 1,
            Event::Unsupported { reason } => {
                findings.push((Outcome::NotApplicable, reason.clone()))
            }
            Event::Note { message } => details.notes.push(message.clone()),
            Event::Fatal { message } => fatal = Some(message.clone()),
            Event::Done => done = true,
            Event::Start { .. } | Event::Step { .. } | Event::Reachable { .. } => {}
        }
    }
    details.notes.extend(obs.retries.iter().cloned());
    details.notes.extend(
        obs.protocol_errors
            .iter()
            .map(|e| format!("not an event: {e}")),
    );

    for err in &details.errors {
        let expected = details
            .declared
            .as_ref()
            .is_some_and(|d| refusal_expected(scenario, facts.free_threaded, d));
        if is_refusal(err) && expected {
            findings.push((
                Outcome::Refused,
                format!("refused as declared: {}", err.message),
            ));
        } else {
            let message = if err.message.is_empty() {
                String::new()
            } else {
                format!(": {}", err.message)
            };
            findings.push((
                Outcome::ImportError,
                format!(
                    "{} in {} ({}){message}",
                    err.exc_type, err.location, err.phase
                ),
            ));
        }
    }

    // Objects in the extension's own image are the plainest evidence; list them first.
    details
        .shared_objects
        .sort_by_key(|s| s.lives != "extension");
    if !details.shared_objects.is_empty() {
        let first = &details.shared_objects[0];
        let more = details.shared_objects.len() - 1;
        findings.push((
            Outcome::SharedState,
            format!(
                "{} ({}, in {}) is the same object {}{}",
                first.path,
                first.type_name,
                first.lives,
                if first.label == "old/new" {
                    "after re-import"
                } else {
                    "in the subinterpreter"
                },
                if more > 0 {
                    format!(", and {more} more")
                } else {
                    String::new()
                }
            ),
        ));
    }

    // Only a GIL that was off before the import and on after it is the module's doing.
    let gil_off_at_start = details
        .gil
        .first()
        .is_some_and(|g| g.location == "before import" && !g.enabled);
    if scenario == Scenario::FreeThreading && gil_off_at_start {
        if let Some(on) = details.gil.iter().find(|g| g.enabled) {
            let warning = details
                .warnings
                .iter()
                .find(|w| w.category == "RuntimeWarning" && w.message.contains("GIL"))
                .map_or_else(
                    || format!("the GIL is enabled ({})", on.location),
                    |w| w.message.clone(),
                );
            findings.push((
                Outcome::GilEnabled,
                format!("importing re-enabled the GIL: {warning}"),
            ));
        }
    }

    let step = obs.last_step().map(str::to_owned);
    match &obs.termination {
        Termination::Signaled { name, .. } => {
            details.signal = Some(name.clone());
            details.step = step.clone();
            findings.push((
                Outcome::Crash,
                format!("{name} in step `{}`", step.as_deref().unwrap_or("start")),
            ));
        }
        Termination::TimedOut => {
            details.step = step.clone();
            findings.push((
                Outcome::Hang,
                format!(
                    "still in step `{}` after {}s; process group killed",
                    step.as_deref().unwrap_or("start"),
                    facts.timeout.as_secs()
                ),
            ));
        }
        Termination::Exited(code) => {
            if *code != 0 {
                details.exit_code = Some(*code);
            }
            if let Some(message) = fatal {
                findings.push((Outcome::HarnessError, message));
            } else if *code != 0 {
                findings.push((
                    Outcome::HarnessError,
                    format!("harness exited with status {code}"),
                ));
            } else if !done {
                details.step = step.clone();
                findings.push((
                    Outcome::HarnessError,
                    format!(
                        "the process exited (status 0) in step `{}` before the harness finished; did the target call exit()?",
                        step.as_deref().unwrap_or("start")
                    ),
                ));
            }
        }
    }

    // Most severe wins; among equals, the first observed.
    let mut outcome = Outcome::Pass;
    let mut summary = pass_summary(scenario, &details, compared);
    for (o, s) in findings {
        if o > outcome {
            outcome = o;
            summary = s;
        }
    }
    details.summary = summary;
    Verdict { outcome, details }
}

fn pass_summary(scenario: Scenario, details: &Details, compared: u64) -> String {
    match scenario {
        Scenario::FreeThreading => "the GIL stayed disabled after the import".into(),
        Scenario::Reinit => format!("{} init/finalize cycles", details.cycles.len()),
        _ if compared > 0 => "no shared objects".into(),
        _ => "imported; smoke code ran".into(),
    }
}

/// A cell that was not run because the build lacks what it needs.
pub fn not_applicable(reason: String) -> Verdict {
    Verdict {
        outcome: Outcome::NotApplicable,
        details: Details {
            summary: reason,
            ..Details::default()
        },
    }
}

/// A cell whose target did not build for this interpreter.
pub fn build_failed(summary: String, command: String, output: String) -> Verdict {
    Verdict {
        outcome: Outcome::BuildFailed,
        details: Details {
            summary,
            build: Some(BuildDetails { command, output }),
            ..Details::default()
        },
    }
}

/// A cell whose interpreter's harness did not compile: the tool's problem
/// (or the interpreter's), never the target's.
pub fn harness_unbuilt(python: &str, summary: &str, command: String, output: String) -> Verdict {
    Verdict {
        outcome: Outcome::HarnessError,
        details: Details {
            summary: format!("the harness did not build for {python}: {summary}"),
            build: Some(BuildDetails { command, output }),
            ..Details::default()
        },
    }
}

/// A cell the tool could not run at all (no harness, spawn failed).
pub fn harness_error(summary: String) -> Verdict {
    Verdict {
        outcome: Outcome::HarnessError,
        details: Details {
            summary,
            ..Details::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(lives: &str, immortal: bool, interned: bool) -> SharedObject {
        SharedObject {
            label: "old/new".into(),
            path: "X".into(),
            path_before: None,
            type_name: "type".into(),
            addr: "0x1".into(),
            lives: lives.into(),
            image: None,
            immortal,
            interned,
        }
    }

    #[test]
    fn where_an_object_lives_decides() {
        // A static type is immortal on 3.13, and still the extension's.
        assert!(counts_as_shared(&shared("extension", true, false)));
        assert!(!counts_as_shared(&shared("libpython", false, false)));
        assert!(counts_as_shared(&shared("heap", false, false)));
        assert!(!counts_as_shared(&shared("heap", true, false)));
        assert!(!counts_as_shared(&shared("heap", false, true)));
    }

    fn declared(init: &str, slot: Option<&str>) -> Declaration {
        Declaration {
            init: init.into(),
            m_size: None,
            multiple_interpreters: slot.map(String::from),
            gil: None,
        }
    }

    #[test]
    fn refusals_follow_the_declaration() {
        use Scenario::*;
        let single = declared("single-phase", None);
        let multi = declared("multi-phase", None);
        let per_gil = declared("multi-phase", Some("per-interpreter-gil"));
        let not_supported = declared("multi-phase", Some("not-supported"));
        assert!(refusal_expected(SubinterpShared, false, &single));
        assert!(refusal_expected(SubinterpOwn, false, &single));
        assert!(!refusal_expected(SubinterpLegacy, false, &single));
        assert!(!refusal_expected(SubinterpShared, false, &multi));
        assert!(refusal_expected(SubinterpOwn, false, &multi));
        assert!(!refusal_expected(SubinterpOwn, false, &per_gil));
        assert!(refusal_expected(SubinterpShared, false, &not_supported));
        // Free-threaded builds check even in legacy subinterpreters.
        assert!(refusal_expected(SubinterpLegacy, true, &single));
        assert!(!refusal_expected(SubinterpLegacy, true, &per_gil));
    }

    fn facts(scenario: Scenario) -> CellFacts {
        CellFacts {
            scenario,
            free_threaded: false,
            timeout: Duration::from_secs(5),
        }
    }

    #[test]
    fn gil_enabled_only_counts_in_the_free_threading_scenario() {
        let events = vec![
            Event::Gil(GilState {
                location: "before import".into(),
                enabled: false,
            }),
            Event::Warning(ImportWarning {
                location: "import".into(),
                category: "RuntimeWarning".into(),
                message: "The global interpreter lock (GIL) has been enabled to load module 'x'"
                    .into(),
            }),
            Event::Gil(GilState {
                location: "import".into(),
                enabled: true,
            }),
            Event::Done,
        ];
        let ft = CellFacts {
            free_threaded: true,
            ..facts(Scenario::FreeThreading)
        };
        let v = judge(&ft, &observation(events.clone(), Termination::Exited(0)));
        assert_eq!(v.outcome, Outcome::GilEnabled);
        assert!(
            v.details
                .summary
                .contains("has been enabled to load module 'x'"),
            "{}",
            v.details.summary
        );
        // A GIL already on before the import is not the module's doing.
        let already_on = vec![
            Event::Gil(GilState {
                location: "before import".into(),
                enabled: true,
            }),
            Event::Gil(GilState {
                location: "import".into(),
                enabled: true,
            }),
            Event::Done,
        ];
        assert_eq!(
            judge(&ft, &observation(already_on, Termination::Exited(0))).outcome,
            Outcome::Pass
        );
        let import = CellFacts {
            free_threaded: true,
            ..facts(Scenario::Import)
        };
        assert_eq!(
            judge(&import, &observation(events, Termination::Exited(0))).outcome,
            Outcome::Pass
        );
    }

    fn observation(events: Vec<Event>, termination: Termination) -> Observation {
        Observation {
            events,
            protocol_errors: vec![],
            termination,
            stdout_tail: String::new(),
            stderr_tail: String::new(),
            retries: Vec::new(),
        }
    }

    #[test]
    fn most_severe_wins_and_crash_keeps_its_step() {
        let obs = observation(
            vec![
                Event::Step {
                    step: "cycle 2: import".into(),
                },
                Event::Shared(shared("extension", true, false)),
            ],
            Termination::Signaled {
                signal: 11,
                name: "SIGSEGV".into(),
            },
        );
        let v = judge(&facts(Scenario::Reinit), &obs);
        assert_eq!(v.outcome, Outcome::Crash);
        assert_eq!(v.details.step.as_deref(), Some("cycle 2: import"));
        assert_eq!(v.details.signal.as_deref(), Some("SIGSEGV"));
        assert_eq!(
            v.details.shared_objects.len(),
            1,
            "lesser findings stay in the details"
        );
    }

    #[test]
    fn unexpected_refusal_is_an_import_error() {
        let err = ImportFailure {
            location: "subinterp shared".into(),
            phase: "import".into(),
            exc_type: "ImportError".into(),
            message: "module x does not support loading in subinterpreters".into(),
            traceback: None,
        };
        let events =
            |d: Declaration| vec![Event::Declared(d), Event::Error(err.clone()), Event::Done];
        let ok = judge(
            &facts(Scenario::SubinterpShared),
            &observation(
                events(declared("single-phase", None)),
                Termination::Exited(0),
            ),
        );
        assert_eq!(ok.outcome, Outcome::Refused);
        let bad = judge(
            &facts(Scenario::SubinterpShared),
            &observation(
                events(declared("multi-phase", Some("per-interpreter-gil"))),
                Termination::Exited(0),
            ),
        );
        assert_eq!(bad.outcome, Outcome::ImportError);
    }

    #[test]
    fn harness_failures_hangs_and_unsupported_builds() {
        let fatal = judge(
            &facts(Scenario::Import),
            &observation(
                vec![Event::Fatal {
                    message: "Py_InitializeFromConfig failed".into(),
                }],
                Termination::Exited(3),
            ),
        );
        assert_eq!(fatal.outcome, Outcome::HarnessError);
        assert_eq!(fatal.details.summary, "Py_InitializeFromConfig failed");
        assert_eq!(fatal.details.exit_code, Some(3));
        let status = judge(
            &facts(Scenario::Import),
            &observation(vec![], Termination::Exited(7)),
        );
        assert_eq!(status.details.summary, "harness exited with status 7");
        let hang = judge(
            &facts(Scenario::SubinterpOwn),
            &observation(
                vec![Event::Step {
                    step: "subinterp own: import".into(),
                }],
                Termination::TimedOut,
            ),
        );
        assert_eq!(hang.outcome, Outcome::Hang);
        assert_eq!(
            hang.details.summary,
            "still in step `subinterp own: import` after 5s; process group killed"
        );
        let na = judge(
            &facts(Scenario::FreeThreading),
            &observation(
                vec![
                    Event::Unsupported {
                        reason: "needs a free-threaded build".into(),
                    },
                    Event::Done,
                ],
                Termination::Exited(0),
            ),
        );
        assert_eq!(na.outcome, Outcome::NotApplicable);
        assert_eq!(na.details.summary, "needs a free-threaded build");
    }

    #[test]
    fn a_silent_exit_is_a_harness_error() {
        let v = judge(
            &facts(Scenario::Import),
            &observation(
                vec![Event::Step {
                    step: "smoke".into(),
                }],
                Termination::Exited(0),
            ),
        );
        assert_eq!(v.outcome, Outcome::HarnessError);
        assert!(v.details.summary.contains("smoke"));
    }
}
