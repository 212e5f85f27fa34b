//! Findings from hand-made cells: one per culprit, whatever the
//! interpreter, scenario, cycle or address it shows with.

use super::culprit::kind_fix;
use super::findings;
use extmatrix_core::{BuildCause, BuildPhase, CauseKind, Outcome, Reason, Scenario};
use extmatrix_schema::{
    BuildDetails, CellResult, Details, ExpectationCheck, ExpectationStatus, Finding, FindingKind,
    ImportFailure, LeakCheck, LeakDetails, LeakSeries, LeakTest, SharedObject, SideRun,
};
use serde_json::json;

/// A cell of `target` with these details.
fn cell(
    target: &str,
    python: &str,
    scenario: Scenario,
    outcome: Outcome,
    d: Details,
) -> CellResult {
    CellResult {
        details: d,
        ..crate::testing::cell(target, python, scenario, outcome)
    }
}

fn shared(path: &str, type_name: &str, lives: &str, extra: serde_json::Value) -> SharedObject {
    let mut v = json!({"label": "main/subinterp", "path": path, "type": type_name,
        "addr": "0x7f0012345678", "lives": lives, "immortal": false, "interned": false});
    v.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    serde_json::from_value(v).unwrap()
}

/// A static type in the extension's `.data` and its `__new__`, at an
/// address and in an image path that differ with every interpreter.
fn static_type(addr: &str) -> Vec<SharedObject> {
    let tag = addr.trim_start_matches("0x");
    let image = format!(
        "/root/.cache/extmatrix/targets/liar-cp31{tag}-9f{tag}/liar.cpython-31{tag}-x86_64-linux-gnu.so"
    );
    let mut ty = shared(
        "Thing",
        "type",
        "extension",
        json!({"symbol": "Thing_Type", "section": ".data", "image": image}),
    );
    ty.addr = addr.into();
    vec![
        ty,
        shared(
            "Thing.__new__",
            "builtin_function_or_method",
            "heap",
            json!({}),
        ),
    ]
}

fn with_shared(objects: Vec<SharedObject>) -> Details {
    Details {
        shared_objects: objects,
        ..Details::default()
    }
}

fn error(at: &str, exc_type: &str, phase: &str) -> ImportFailure {
    serde_json::from_value(json!({"where": at, "phase": phase, "exc_type": exc_type,
        "message": format!("at 0x{:x}", at.len())}))
    .unwrap()
}

fn ids(found: &[Finding]) -> Vec<&str> {
    found.iter().map(|f| f.id.as_str()).collect()
}

fn cells_of(f: &Finding) -> Vec<String> {
    f.cells
        .iter()
        .map(|c| format!("{}/{}", c.python, c.scenario))
        .collect()
}

#[test]
fn a_static_type_shared_everywhere_is_one_finding_at_its_worst() {
    let cells = vec![
        cell(
            "liar",
            "cp311",
            Scenario::Import,
            Outcome::Pass,
            Details::default(),
        ),
        cell(
            "liar",
            "cp311",
            Scenario::Reimport,
            Outcome::SharedState,
            with_shared(static_type("0x1")),
        ),
        cell(
            "liar",
            "cp312",
            Scenario::Reimport,
            Outcome::SharedState,
            with_shared(static_type("0x2")),
        ),
        cell(
            "liar",
            "cp312",
            Scenario::SubinterpOwn,
            Outcome::DeclarationMismatch,
            with_shared(static_type("0x3")),
        ),
        cell(
            "liar",
            "cp313",
            Scenario::SubinterpLegacy,
            Outcome::SharedState,
            with_shared(static_type("0x4")),
        ),
    ];
    let found = findings(&cells);
    assert_eq!(
        ids(&found),
        ["shared-object:liar:liar:Thing_Type@.data:liar"]
    );
    let f = &found[0];
    assert_eq!(f.kind, FindingKind::SharedObject);
    assert_eq!(f.outcome, Outcome::DeclarationMismatch);
    assert!(f.fails_run, "a declaration-mismatch cell fails the run");
    assert_eq!(
        cells_of(f),
        [
            "cp311/reimport",
            "cp312/reimport",
            "cp312/subinterp-own",
            "cp313/subinterp-legacy"
        ]
    );
    assert_eq!(
        f.title,
        "static `Thing_Type` (.data of extension) is one object for every instance: Thing (type)"
    );
    assert!(f.fix.contains("PyType_FromModuleAndSpec"), "{}", f.fix);
}

#[test]
fn each_holder_is_its_own_finding_and_a_cell_can_be_in_several() {
    let objects = vec![
        shared("blob", "bytes", "heap", json!({"held_by": "cached_blob"})),
        shared("blob.__class__", "type", "heap", json!({})),
        shared(
            "bump",
            "builtin_function_or_method",
            "heap",
            json!({"from_m_copy": true}),
        ),
        shared("__name__", "str", "heap", json!({"from_m_copy": true})),
        shared("table", "dict", "heap", json!({})),
        shared("other", "dict", "heap", json!({})),
    ];
    let cells = vec![cell(
        "m",
        "cp312",
        Scenario::SubinterpLegacy,
        Outcome::SharedState,
        with_shared(objects),
    )];
    let found = findings(&cells);
    let mut got = ids(&found);
    got.sort();
    assert_eq!(
        got,
        [
            "shared-object:m:m:attr:other:dict",
            "shared-object:m:m:attr:table:dict",
            "shared-object:m:m:held-by:cached_blob",
            "shared-object:m:m:m_copy",
        ]
    );
    assert!(found
        .iter()
        .all(|f| cells_of(f) == ["cp312/subinterp-legacy"]));
    let global = found
        .iter()
        .find(|f| f.id.ends_with("cached_blob"))
        .unwrap();
    assert_eq!(
        global.title,
        "the C global `cached_blob` holds one object for every instance: blob (bytes)"
    );
    assert!(global.fix.contains("PyModule_GetState"), "{}", global.fix);
}

#[test]
fn the_module_itself_holds_what_hangs_off_it() {
    let objects = vec![
        shared("(module)", "module", "heap", json!({})),
        shared("hello", "builtin_function_or_method", "heap", json!({})),
        shared("__file__", "str", "heap", json!({})),
    ];
    let found = findings(&[cell(
        "same",
        "cp313",
        Scenario::Reimport,
        Outcome::SharedState,
        with_shared(objects),
    )]);
    assert_eq!(ids(&found), ["shared-object:same:same:(module)"]);
}

#[test]
fn a_rust_global_is_named_in_its_authors_language() {
    let obj = shared(
        "Fragment",
        "type",
        "heap",
        json!({"held_by": "_ZN6orjson7typeref13FRAGMENT_TYPE17h92779a5a8f2adbdcE",
               "held_by_demangled": "orjson::typeref::FRAGMENT_TYPE"}),
    );
    let found = findings(&[cell(
        "orjson",
        "cp312",
        Scenario::SubinterpOwn,
        Outcome::SharedState,
        with_shared(vec![obj]),
    )]);
    assert_eq!(
        ids(&found),
        ["shared-object:orjson:orjson:held-by:orjson::typeref::FRAGMENT_TYPE"]
    );
}

fn crash(signal: &str, at: &str, frames: &str) -> Details {
    Details {
        signal: Some(signal.into()),
        step: Some(at.parse().unwrap()),
        forensics: Some(serde_json::from_value(json!({"signal": signal, "c": frames})).unwrap()),
        ..Details::default()
    }
}

const IN_HOLDER: &str = "/usr/lib/libc.so.6(raise+0x10) [0x7f01]\n\
    <signal handler called>\n\
    /lib/x86_64-linux-gnu/libc.so.6(memcpy+0x1a) [0x7f02]\n\
    /cache/holder.cpython-312-x86_64-linux-gnu.so(holder_exec+0x1a) [0x7f03]\n\
    /cache/libpython3.12.so.1.0(PyModule_ExecDef+0x5) [0x7f04]\n";

#[test]
fn a_crash_is_keyed_by_signal_action_and_frame_not_by_cycle_or_address() {
    let other_addresses = IN_HOLDER
        .replace("0x1a", "0x2b")
        .replace("[0x7f03]", "[0x5503]");
    let gdb = "#0  0x1 in raise () from /lib/libc.so.6\n#1  <signal handler called>\n\
               #2  0x00007f11 in holder_exec () from /cache/holder.cpython-313-x86_64-linux-gnu.so\n";
    let cells = vec![
        cell(
            "holder",
            "cp311",
            Scenario::Reinit,
            Outcome::Crash,
            crash("SIGSEGV", "cycle 2: import", IN_HOLDER),
        ),
        cell(
            "holder",
            "cp312",
            Scenario::Reinit,
            Outcome::Crash,
            crash("SIGSEGV", "cycle 3: import", &other_addresses),
        ),
        cell(
            "holder",
            "cp313",
            Scenario::Reimport,
            Outcome::Crash,
            crash("SIGSEGV", "reimport: import", gdb),
        ),
        // Another signal, another step, another function: three more culprits.
        cell(
            "holder",
            "cp311",
            Scenario::Import,
            Outcome::Crash,
            crash("SIGABRT", "import", IN_HOLDER),
        ),
        cell(
            "holder",
            "cp312",
            Scenario::Import,
            Outcome::Crash,
            crash("SIGSEGV", "smoke", IN_HOLDER),
        ),
        cell(
            "holder",
            "cp313",
            Scenario::Import,
            Outcome::Crash,
            crash(
                "SIGSEGV",
                "import",
                &IN_HOLDER.replace("holder_exec", "holder_init"),
            ),
        ),
    ];
    let found = findings(&cells);
    let mut got = ids(&found);
    got.sort();
    assert_eq!(
        got,
        [
            "crash:holder:holder:SIGABRT:import:holder_exec",
            "crash:holder:holder:SIGSEGV:import:holder_exec",
            "crash:holder:holder:SIGSEGV:import:holder_init",
            "crash:holder:holder:SIGSEGV:smoke:holder_exec",
        ]
    );
    let same = found
        .iter()
        .find(|f| f.id == "crash:holder:holder:SIGSEGV:import:holder_exec")
        .unwrap();
    assert_eq!(
        cells_of(same),
        ["cp311/reinit", "cp312/reinit", "cp313/reimport"]
    );
    assert_eq!(same.title, "SIGSEGV in `import`, at holder_exec");
    // Stacks that name no extension's image leave the frame out.
    let bare = findings(&[cell(
        "x",
        "cp312",
        Scenario::Import,
        Outcome::Crash,
        crash("SIGSEGV", "import", "#0  f (a=1) at x.c:3\n"),
    )]);
    assert_eq!(ids(&bare), ["crash:x:x:SIGSEGV:import"]);
}

#[test]
fn an_exit_a_fatal_error_and_a_hang_are_keyed_by_how_the_process_ended() {
    let exit = Details {
        exit_code: Some(3),
        step: Some("subinterp own 2: smoke".parse().unwrap()),
        reason: Some(Reason::EndedByTarget),
        ..Details::default()
    };
    let fatal = Details {
        fatal_error: Some("exec_twice: second exec at 0x55aa".into()),
        ..crash("SIGABRT", "cycle 2: import", "")
    };
    let hang = Details {
        step: Some("subinterp own: import".parse().unwrap()),
        ..Details::default()
    };
    let found = findings(&[
        cell("t", "cp312", Scenario::SubinterpCycle, Outcome::Crash, exit),
        cell("t", "cp312", Scenario::Reinit, Outcome::Crash, fatal),
        cell("t", "cp313", Scenario::SubinterpOwn, Outcome::Hang, hang),
    ]);
    assert_eq!(
        ids(&found),
        [
            "hang:t:t:timeout:import",
            "crash:t:t:SIGABRT:import:fatal exec_twice",
            "crash:t:t:exit 3:smoke",
        ]
    );
    let exit = &found[2];
    assert_eq!(exit.reason, Some(Reason::EndedByTarget));
    assert_eq!(exit.fix, Reason::EndedByTarget.what_to_fix());
    let titles: Vec<&str> = found.iter().map(|f| f.title.as_str()).collect();
    assert_eq!(
        titles,
        [
            "hangs in `import`",
            "SIGABRT in `import`, Py_FatalError in exec_twice",
            "the target ends the process (exit 3) in `smoke`",
        ]
    );
}

#[test]
fn a_machine_too_busy_is_one_harness_error_whatever_the_step() {
    let busy = |at: &str| Details {
        step: Some(at.parse().unwrap()),
        reason: Some(Reason::MachineBusy),
        ..Details::default()
    };
    let early = Details {
        step: Some("cycle 2: finalize".parse().unwrap()),
        exit_code: Some(0),
        ..Details::default()
    };
    let found = findings(&[
        cell(
            "t",
            "cp313t",
            Scenario::Reinit,
            Outcome::HarnessError,
            busy("cycle 3: import"),
        ),
        cell(
            "t",
            "cp313td",
            Scenario::Inittab,
            Outcome::HarnessError,
            busy("subinterp own 5: create"),
        ),
        cell("t", "cp313", Scenario::Reinit, Outcome::HarnessError, early),
    ]);
    assert_eq!(
        ids(&found),
        [
            "harness-error:t:t:machine-busy",
            "harness-error:t:t:ended-in:finalize"
        ]
    );
    assert_eq!(found[0].cells.len(), 2);
    assert_eq!(found[0].fix, Reason::MachineBusy.what_to_fix());
}

/// A fatal error's first line names a function only when it starts with
/// an identifier: an address or nothing before the colon is not one (an
/// address would split the culprit with every run).
#[test]
fn a_fatal_error_that_names_no_function_is_keyed_without_one() {
    let fatal = |first_line: &str| Details {
        fatal_error: Some(first_line.into()),
        ..crash("SIGABRT", "import", "")
    };
    let found = findings(&[
        cell(
            "f",
            "cp311",
            Scenario::Import,
            Outcome::Crash,
            fatal("0x55aa0010: object freed twice"),
        ),
        cell(
            "f",
            "cp312",
            Scenario::Import,
            Outcome::Crash,
            fatal(": object freed twice"),
        ),
        cell(
            "f",
            "cp313",
            Scenario::Import,
            Outcome::Crash,
            fatal("object freed twice"),
        ),
    ]);
    assert_eq!(ids(&found), ["crash:f:f:SIGABRT:import"]);
    assert_eq!(found[0].cells.len(), 3);
}

/// The frame named is the crash's: the innermost below the signal handler
/// (not the extension's own handler above it) that names a function (not
/// a static one `backtrace` shows as `(+0x…)`) in an extension's `.so`
/// (not the harness's executable, which holds a static libpython).
#[test]
fn the_crash_frame_is_the_innermost_named_extension_function_below_the_handler() {
    const EXT: &str = "/cache/holder-cp312-1a2b/holder.cpython-312-x86_64-linux-gnu.so";
    let its_own_handler = format!(
        "#0  0x00007f10 in holder_on_signal () from {EXT}\n\
         #1  <signal handler called>\n\
         #2  0x00007f11 in holder_exec () from {EXT}\n"
    );
    let unnamed_static = format!(
        "{EXT}(+0x1139) [0x7f03]\n\
         {EXT}(holder_exec+0x1a) [0x7f04]\n"
    );
    let harness_first = format!(
        "/cache/harness/extmatrix-harness-cp312(PyObject_GetAttr+0x1a) [0x5501]\n\
         {EXT}(holder_exec+0x1a) [0x7f04]\n"
    );
    let found = findings(&[
        cell(
            "holder",
            "cp311",
            Scenario::Import,
            Outcome::Crash,
            crash("SIGSEGV", "import", &its_own_handler),
        ),
        cell(
            "holder",
            "cp312",
            Scenario::Import,
            Outcome::Crash,
            crash("SIGSEGV", "import", &unnamed_static),
        ),
        cell(
            "holder",
            "cp313",
            Scenario::Import,
            Outcome::Crash,
            crash("SIGSEGV", "import", &harness_first),
        ),
    ]);
    assert_eq!(
        ids(&found),
        ["crash:holder:holder:SIGSEGV:import:holder_exec"]
    );
    assert_eq!(found[0].cells.len(), 3);
}

#[test]
fn an_import_error_is_keyed_by_its_reason_else_by_exception_and_action() {
    let raised = |at: &str, exc: &str, reason: Option<Reason>| Details {
        errors: vec![error(at, exc, "smoke")],
        reason,
        ..Details::default()
    };
    let missing = |name: &str| Details {
        errors: vec![
            serde_json::from_value(json!({"where": "import", "phase": "import",
            "exc_type": "ModuleNotFoundError", "message": "", "not_found": name}))
            .unwrap(),
        ],
        reason: Some(Reason::MissingDependency),
        ..Details::default()
    };
    let cells = vec![
        cell(
            "t",
            "cp311",
            Scenario::Reinit,
            Outcome::ImportError,
            raised("cycle 2: smoke", "ValueError", None),
        ),
        cell(
            "t",
            "cp312",
            Scenario::Reinit,
            Outcome::ImportError,
            raised("cycle 4: smoke", "ValueError", None),
        ),
        cell(
            "t",
            "cp313",
            Scenario::Import,
            Outcome::ImportError,
            raised("smoke", "KeyError", None),
        ),
        cell(
            "t",
            "cp311",
            Scenario::SubinterpShared,
            Outcome::ImportError,
            raised(
                "subinterp shared: import",
                "ImportError",
                Some(Reason::CythonInterpreterChange),
            ),
        ),
        cell(
            "t",
            "cp312",
            Scenario::SubinterpLegacy,
            Outcome::ImportError,
            raised(
                "subinterp legacy: import",
                "ImportError",
                Some(Reason::CythonInterpreterChange),
            ),
        ),
        cell(
            "t",
            "cp312",
            Scenario::SubinterpOwn,
            Outcome::ImportError,
            raised(
                "subinterp own: import",
                "ImportError",
                Some(Reason::SubinterpRefused),
            ),
        ),
        cell(
            "t",
            "cp312",
            Scenario::Import,
            Outcome::ImportError,
            missing("yaml.constructor"),
        ),
        cell(
            "t",
            "cp313",
            Scenario::Reimport,
            Outcome::ImportError,
            missing("yaml"),
        ),
        cell(
            "t",
            "cp311",
            Scenario::Import,
            Outcome::ImportError,
            missing("toml"),
        ),
        cell(
            "t",
            "cp312",
            Scenario::Reimport,
            Outcome::ImportError,
            raised(
                "reimport: smoke",
                "ValueError",
                Some(Reason::AlsoWithoutTarget),
            ),
        ),
    ];
    let found = findings(&cells);
    let mut got = ids(&found);
    got.sort();
    assert_eq!(
        got,
        [
            "import-error:t:t:KeyError:smoke",
            "import-error:t:t:ValueError:smoke",
            "import-error:t:t:also-without-target:ValueError:smoke",
            "import-error:t:t:cython-interpreter-change",
            "import-error:t:t:missing-dependency:toml",
            "import-error:t:t:missing-dependency:yaml",
            "refusal:t:t:subinterp-refused",
        ]
    );
    let by_id = |id: &str| found.iter().find(|f| f.id.ends_with(id)).unwrap();
    assert_eq!(
        cells_of(by_id(":ValueError:smoke")).len(),
        3 - 1,
        "the control's failure is apart"
    );
    assert_eq!(cells_of(by_id("yaml")), ["cp312/import", "cp313/reimport"]);
    let shared_control = by_id("also-without-target:ValueError:smoke");
    assert!(!shared_control.fails_run);
    assert_eq!(shared_control.fix, Reason::AlsoWithoutTarget.what_to_fix());
    assert_eq!(by_id("subinterp-refused").kind, FindingKind::Refusal);
}

#[test]
fn clobbered_state_is_keyed_by_the_failing_action_and_exception() {
    let old = |at: &str| Details {
        errors: vec![error(at, "AssertionError", "smoke")],
        ..Details::default()
    };
    let alone_passes = |at: &str| Details {
        errors: vec![error(at, "ImportError", "import")],
        alone: Some(SideRun {
            outcome: Outcome::Pass,
            summary: "imported".into(),
            step: None,
            imports: vec![],
        }),
        reason: Some(Reason::OncePerProcess),
        ..Details::default()
    };
    let cells = vec![
        cell(
            "c",
            "cp311",
            Scenario::Reimport,
            Outcome::StateClobbered,
            old("reimport: smoke old instance"),
        ),
        cell(
            "c",
            "cp312",
            Scenario::SubinterpOwn,
            Outcome::DeclarationMismatch,
            old("subinterp own: smoke old instance"),
        ),
        cell(
            "c",
            "cp311",
            Scenario::Reinit,
            Outcome::StateClobbered,
            alone_passes("cycle 2: import"),
        ),
        cell(
            "c",
            "cp312",
            Scenario::SubinterpShared,
            Outcome::DeclarationMismatch,
            alone_passes("subinterp shared: import"),
        ),
    ];
    let found = findings(&cells);
    assert_eq!(
        ids(&found),
        [
            "clobbered-state:c:c:import:ImportError",
            "clobbered-state:c:c:smoke old instance:AssertionError",
        ]
    );
    assert_eq!(found[0].outcome, Outcome::DeclarationMismatch);
    assert_eq!(found[0].reason, Some(Reason::OncePerProcess));
    assert_eq!(found[0].fix, Reason::OncePerProcess.what_to_fix());
    assert_eq!(
        cells_of(&found[1]),
        ["cp311/reimport", "cp312/subinterp-own"]
    );
}

fn leak(series: &[(LeakSeries, bool)]) -> Details {
    Details {
        leak: Some(LeakDetails {
            checks: series
                .iter()
                .map(|(s, fired)| LeakCheck {
                    series: *s,
                    test: LeakTest::Slope,
                    values: vec![1.0, 2.0],
                    slope: Some(1.0),
                    spread: None,
                    threshold: None,
                    fired: *fired,
                })
                .collect(),
            ..LeakDetails::default()
        }),
        ..Details::default()
    }
}

#[test]
fn a_leak_is_a_finding_per_series_that_fired() {
    let found = findings(&[
        cell(
            "l",
            "cp311",
            Scenario::Reinit,
            Outcome::Leak,
            leak(&[(LeakSeries::Blocks, true), (LeakSeries::MallocKib, false)]),
        ),
        cell(
            "l",
            "cp312",
            Scenario::Reimport,
            Outcome::Leak,
            leak(&[(LeakSeries::Blocks, true), (LeakSeries::MallocKib, true)]),
        ),
    ]);
    assert_eq!(ids(&found), ["leak:l:l:blocks", "leak:l:l:malloc_kib"]);
    assert_eq!(cells_of(&found[0]), ["cp311/reinit", "cp312/reimport"]);
    assert_eq!(cells_of(&found[1]), ["cp312/reimport"]);
    assert!(!found[0].fails_run);
}

#[test]
fn a_build_is_keyed_by_its_cause_and_takes_all_its_scenarios() {
    let build = |message: &str| Details {
        summary: format!("pip wheel failed while compiling: {message}"),
        build: Some(BuildDetails {
            command: "pip wheel".into(),
            output: String::new(),
            cause: Some(BuildCause {
                phase: BuildPhase::Compiling,
                kind: CauseKind::CompilerError,
                message: message.into(),
                location: Some("src/m.c:3".into()),
            }),
            log: None,
        }),
        ..Details::default()
    };
    let mut cells = Vec::new();
    for scenario in [Scenario::Import, Scenario::Reinit] {
        cells.push(cell(
            "b",
            "cp313",
            scenario,
            Outcome::BuildFailed,
            build("no member `ob_refcnt`"),
        ));
        cells.push(cell(
            "b",
            "cp312",
            scenario,
            Outcome::BuildFailed,
            build("`_PyLong_AsInt` undeclared"),
        ));
    }
    let found = findings(&cells);
    assert_eq!(
        ids(&found),
        [
            "build-failed:b:b:compiler-error:src/m.c:3:`_PyLong_AsInt` undeclared",
            "build-failed:b:b:compiler-error:src/m.c:3:no member `ob_refcnt`",
        ]
    );
    assert_eq!(cells_of(&found[1]), ["cp313/import", "cp313/reinit"]);
    assert_eq!(
        found[1].title,
        "pip wheel failed while compiling: no member `ob_refcnt`"
    );
}

/// Every cell that is not `pass`, `n/a` or `refused` is in a finding,
/// whatever its details name; those three never are.
#[test]
fn every_notable_cell_belongs_to_a_finding() {
    let cells: Vec<CellResult> = Outcome::ALL
        .iter()
        .map(|o| cell("e", "cp312", Scenario::Import, *o, Details::default()))
        .collect();
    let found = findings(&cells);
    for o in Outcome::ALL {
        let listed = found.iter().any(|f| f.cells.len() == 1 && f.outcome == *o);
        let quiet = matches!(o, Outcome::Pass | Outcome::NotApplicable | Outcome::Refused);
        assert_eq!(listed, !quiet, "{o}");
    }
}

#[test]
fn most_severe_first_then_failing_then_target() {
    let mut expected_crash = cell(
        "a",
        "cp312",
        Scenario::Reinit,
        Outcome::Crash,
        crash("SIGSEGV", "import", ""),
    );
    expected_crash.expectation = Some(ExpectationCheck {
        expected: vec![Outcome::Crash],
        status: ExpectationStatus::Met,
        from: vec!["m.yaml:3:4".into()],
    });
    let cells = vec![
        cell(
            "a",
            "cp312",
            Scenario::Reimport,
            Outcome::SharedState,
            with_shared(static_type("0x1")),
        ),
        expected_crash,
        cell(
            "z",
            "cp312",
            Scenario::Reinit,
            Outcome::Crash,
            crash("SIGSEGV", "import", ""),
        ),
        cell(
            "b",
            "cp312",
            Scenario::Reinit,
            Outcome::Crash,
            crash("SIGSEGV", "import", ""),
        ),
        cell(
            "a",
            "cp312",
            Scenario::Import,
            Outcome::BuildFailed,
            Details::default(),
        ),
    ];
    let found = findings(&cells);
    assert_eq!(
        ids(&found),
        [
            "build-failed:a:a:no-cause",
            "crash:b:b:SIGSEGV:import",
            "crash:z:z:SIGSEGV:import",
            "crash:a:a:SIGSEGV:import",
            "shared-object:a:a:Thing_Type@.data:liar",
        ]
    );
    assert!(!found[3].fails_run, "its only cell met its expectation");
    // The same cells in another order give the same findings, each the same.
    let mut reversed = cells.clone();
    reversed.reverse();
    assert_eq!(ids(&findings(&reversed)), ids(&found));
}

#[test]
fn a_gil_turned_on_against_the_declaration_is_its_own_finding() {
    let d: Details = serde_json::from_value(json!({"summary": "",
        "declared": {"init": "multi-phase", "m_size": 0, "gil": "not-used"},
        "gil": [{"where": "init", "enabled": false}, {"where": "import", "enabled": true}]}))
    .unwrap();
    let found = findings(&[
        cell(
            "g",
            "cp313t",
            Scenario::Import,
            Outcome::DeclarationMismatch,
            d,
        ),
        cell(
            "h",
            "cp313t",
            Scenario::Import,
            Outcome::GilEnabled,
            Details::default(),
        ),
    ]);
    assert_eq!(
        ids(&found),
        ["declaration-broken:g:g:gil-not-used", "gil-enabled:h:h:gil"]
    );
}

/// The same static name in the module's image and in a library bundled
/// beside it is two objects, two findings; each is one finding whatever
/// the interpreter and the cache path its image has.
#[test]
fn the_same_static_name_in_two_images_is_two_findings() {
    let objects = |python: &str| {
        let dir = format!("/root/.cache/extmatrix/targets/dual-{python}-77aa");
        let tag = python.trim_start_matches("cp");
        vec![
            shared(
                "Thing",
                "type",
                "extension",
                json!({"symbol": "Thing_Type", "section": ".data",
                       "image": format!("{dir}/dual.cpython-{tag}-x86_64-linux-gnu.so")}),
            ),
            shared(
                "codec",
                "type",
                "other-image",
                json!({"symbol": "Thing_Type", "section": ".data",
                       "image": format!("{dir}/dual.libs/libthing-3f2a1b9c.so.1.2")}),
            ),
        ]
    };
    let found = findings(&[
        cell(
            "dual",
            "cp312",
            Scenario::Reimport,
            Outcome::SharedState,
            with_shared(objects("cp312")),
        ),
        cell(
            "dual",
            "cp313",
            Scenario::Reimport,
            Outcome::SharedState,
            with_shared(objects("cp313")),
        ),
    ]);
    let mut got = ids(&found);
    got.sort();
    assert_eq!(
        got,
        [
            "shared-object:dual:dual:Thing_Type@.data:dual",
            "shared-object:dual:dual:Thing_Type@.data:libthing-3f2a1b9c",
        ]
    );
    assert!(found
        .iter()
        .all(|f| cells_of(f) == ["cp312/reimport", "cp313/reimport"]));
    let mut titles: Vec<&str> = found.iter().map(|f| f.title.as_str()).collect();
    titles.sort();
    assert_eq!(
        titles,
        [
            "static `Thing_Type` (.data of extension) is one object for every instance: Thing (type)",
            "static `Thing_Type` (.data of other-image `libthing-3f2a1b9c`) is one object for every instance: codec (type)",
        ]
    );
}

/// A finding's reason is the one its most severe cells give, before one a
/// milder cell gives; when those give none, the first any cell gives.
#[test]
fn the_reason_is_the_worst_cells_before_a_milder_ones() {
    let old = |at: &str, reason: Option<Reason>| Details {
        errors: vec![error(at, "AttributeError", "smoke")],
        reason,
        ..Details::default()
    };
    let mild_then_worst = |worst: Option<Reason>| {
        findings(&[
            cell(
                "r",
                "cp311",
                Scenario::Reimport,
                Outcome::StateClobbered,
                old("reimport: smoke old instance", Some(Reason::LostAttributes)),
            ),
            cell(
                "r",
                "cp312",
                Scenario::SubinterpOwn,
                Outcome::DeclarationMismatch,
                old("subinterp own: smoke old instance", worst),
            ),
        ])
    };
    let found = mild_then_worst(Some(Reason::OncePerProcess));
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].outcome, Outcome::DeclarationMismatch);
    assert_eq!(found[0].reason, Some(Reason::OncePerProcess));
    assert_eq!(found[0].fix, Reason::OncePerProcess.what_to_fix());
    let found = mild_then_worst(None);
    assert_eq!(found[0].reason, Some(Reason::LostAttributes));
}

/// docs/outcomes.md's "Findings" list of each kind's fix, one line per
/// kind: (kind, fix without its final period).
fn documented_kind_fixes() -> Vec<(FindingKind, String)> {
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/outcomes.md"),
    )
    .expect("docs/outcomes.md is readable");
    let section = doc
        .split("\n## Findings")
        .nth(1)
        .expect("a Findings section");
    let list = section
        .split("else the finding's kind's:")
        .nth(1)
        .expect("the kinds' fixes")
        .split("\n\n")
        .find(|p| !p.trim().is_empty())
        .unwrap();
    list.split("\n- ")
        .map(|item| {
            let item = item.split_whitespace().collect::<Vec<_>>().join(" ");
            let (kind, fix) = item.trim_start_matches("- ").split_once(": ").unwrap();
            (
                kind.trim_matches('`').parse().unwrap(),
                fix.trim_end_matches('.').to_owned(),
            )
        })
        .collect()
}

/// A finding without a reason says its kind's fix, as documented; a shared
/// object's depends on its holder, each quoted in the docs.
#[test]
fn a_finding_without_a_reason_says_its_kinds_documented_fix() {
    let documented = documented_kind_fixes();
    let kinds: Vec<FindingKind> = documented.iter().map(|(k, _)| *k).collect();
    assert_eq!(kinds, FindingKind::ALL);
    for (kind, fix) in &documented {
        if *kind == FindingKind::SharedObject {
            assert!(fix.contains(&format!("\"{}\"", kind_fix(*kind))), "{fix}");
        } else {
            assert_eq!(kind_fix(*kind), fix, "{kind}");
        }
    }
    // Through findings: every kind the cells show says its own fix.
    let objects = vec![
        shared(
            "Thing",
            "type",
            "extension",
            json!({"symbol": "Thing_Type", "section": ".data"}),
        ),
        shared("blob", "bytes", "heap", json!({"held_by": "cached_blob"})),
        shared("__name__", "str", "heap", json!({"from_m_copy": true})),
        shared("table", "dict", "heap", json!({})),
    ];
    let mut cells: Vec<CellResult> = Outcome::ALL
        .iter()
        .map(|o| cell("k", "cp312", Scenario::Import, *o, Details::default()))
        .collect();
    cells.push(cell(
        "k",
        "cp312",
        Scenario::Reimport,
        Outcome::SharedState,
        with_shared(objects),
    ));
    cells.push(cell(
        "m",
        "cp312",
        Scenario::Reimport,
        Outcome::SharedState,
        with_shared(vec![shared("(module)", "module", "heap", json!({}))]),
    ));
    let shared_doc = &documented[0].1;
    let found = findings(&cells);
    let mut holder_fixes: Vec<&str> = Vec::new();
    for f in &found {
        assert_eq!(f.reason, None, "{}", f.id);
        if f.kind == FindingKind::SharedObject {
            assert!(shared_doc.contains(&format!("\"{}\"", f.fix)), "{}", f.id);
            if !holder_fixes.contains(&f.fix.as_str()) {
                holder_fixes.push(&f.fix);
            }
        } else {
            assert_eq!(f.fix, kind_fix(f.kind), "{}", f.id);
        }
    }
    assert_eq!(holder_fixes.len(), 5, "one fix per kind of holder");
}

/// The GIL promise is broken only when the module made it and the GIL
/// turned on: either alone leaves the cell to what else it shows.
#[test]
fn a_gil_promise_is_broken_only_when_made_and_the_gil_turns_on() {
    let details = |declared_gil: serde_json::Value, enabled: bool| {
        let mut d: Details = serde_json::from_value(json!({"summary": "",
            "declared": {"init": "multi-phase", "m_size": 0, "gil": declared_gil},
            "gil": [{"where": "import", "enabled": enabled}]}))
        .unwrap();
        d.shared_objects = static_type("0x2");
        d
    };
    for (declared_gil, enabled) in [(json!("not-used"), false), (json!(null), true)] {
        let found = findings(&[cell(
            "g",
            "cp313t",
            Scenario::SubinterpOwn,
            Outcome::DeclarationMismatch,
            details(declared_gil.clone(), enabled),
        )]);
        assert_eq!(
            ids(&found),
            ["shared-object:g:g:Thing_Type@.data:liar"],
            "gil {declared_gil}, enabled {enabled}"
        );
    }
}
