//! The cause finder on real build logs (tests/data/build-logs/: pip 23,
//! 24 and 26, gcc and clang, g++ and clang++, GNU ld and rust-lld, rustc
//! and cargo, as the fixtures of fixtures/projects and small crates made
//! them), and on the shapes each rule reads.

use super::*;

fn log(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/build-logs")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn found_in(text: &str, phase: BuildPhase, own_dir: Option<&str>) -> Option<BuildCause> {
    let finder = CauseFinder::new(phase, own_dir.map(Path::new));
    text.lines().for_each(|l| finder.feed(l));
    finder.found()
}

/// What a pip build's log says, as (phase, kind, location, message).
fn pip_cause(name: &str) -> (BuildPhase, CauseKind, Option<String>, String) {
    let c = found_in(&log(name), BuildPhase::Building, None)
        .unwrap_or_else(|| panic!("no cause found in {name}"));
    (c.phase, c.kind, c.location, c.message)
}

fn at(location: &str) -> Option<String> {
    Some(location.to_owned())
}

#[test]
fn a_packages_own_error_directive_is_found_past_pips_wrappers() {
    let directive = r#"#error "the free-threaded build requires CPython 3.14 or newer""#;
    for name in [
        "pip26-gcc-error-directive.log",
        "pip26-clang-error-directive.log",
    ] {
        assert_eq!(
            pip_cause(name),
            (
                BuildPhase::Compiling,
                CauseKind::ErrorDirective,
                at("include/ftguard.h:7"),
                directive.to_owned()
            ),
            "{name}"
        );
    }
}

#[test]
fn a_failed_static_assert_is_the_packages_own_stop() {
    let gxx = found_in(&log("gxx-static-assert.log"), BuildPhase::Compiling, None).unwrap();
    assert_eq!(gxx.kind, CauseKind::ErrorDirective);
    assert_eq!(
        gxx.message,
        "static assertion failed: this package requires Python 3.14 or newer"
    );
    assert_eq!(gxx.location, at("sa.cpp:2"));
    let clang = found_in(
        &log("clangxx-static-assert.log"),
        BuildPhase::Compiling,
        None,
    )
    .unwrap();
    assert_eq!(clang.kind, CauseKind::ErrorDirective);
    assert!(
        clang.message.starts_with("static_assert failed"),
        "{clang:?}"
    );
    assert!(clang
        .message
        .ends_with("\"this package requires Python 3.14 or newer\""));
}

#[test]
fn an_error_directive_in_the_interpreters_headers_is_not_the_packages() {
    let c = found_in(
        &log("gcc-interpreter-header-error.log"),
        BuildPhase::Compiling,
        Some("/src"),
    )
    .unwrap();
    assert_eq!(c.kind, CauseKind::CompilerError);
    assert_eq!(
        c.message,
        r#"#error "The limited API is not currently supported in the free-threaded build""#
    );
    assert!(
        c.location
            .as_deref()
            .unwrap()
            .ends_with("include/python3.13t/Python.h:52"),
        "{c:?}"
    );
}

#[test]
fn a_backends_exception_while_getting_requirements_is_its_last_line() {
    assert_eq!(
        pip_cause("pip26-backend-raises.log"),
        (
            BuildPhase::GettingBuildRequirements,
            CauseKind::PythonException,
            // setup.py runs as `<string>`: no file to name.
            None,
            "RuntimeError: ftrefuse does not support the free-threaded build of CPython 3.13. \
             Upgrade to free-threaded 3.14 or newer, or use the default build."
                .to_owned()
        )
    );
}

#[test]
fn an_undeclared_identifier_is_the_first_compiler_error_of_gxx_and_clangxx() {
    assert_eq!(
        pip_cause("pip26-gxx-undeclared.log"),
        (
            BuildPhase::Compiling,
            CauseKind::CompilerError,
            at("src/privapi.cpp:8"),
            "‘_PyCriticalSection_SuspendAll’ was not declared in this scope; did you mean ‘PyCriticalSection_End’?".to_owned()
        )
    );
    assert_eq!(
        pip_cause("pip26-clangxx-undeclared.log"),
        (
            BuildPhase::Compiling,
            CauseKind::CompilerError,
            at("src/privapi.cpp:8"),
            "use of undeclared identifier '_PyCriticalSection_SuspendAll'; did you mean 'PyCriticalSection_End'?".to_owned()
        )
    );
}

#[test]
fn a_missing_library_is_the_linkers_line_not_collect2s() {
    let missing = (
        BuildPhase::Linking,
        CauseKind::LinkerError,
        None,
        "cannot find -lextmatrix_absent: No such file or directory".to_owned(),
    );
    assert_eq!(pip_cause("pip23-gcc-missing-library.log"), missing);
    assert_eq!(pip_cause("pip26-clang-missing-library.log"), missing);
    let lld = found_in(
        &log("cargo-link-error.log"),
        BuildPhase::Building,
        Some("/src/rc"),
    )
    .unwrap();
    assert_eq!(
        (lld.phase, lld.kind, lld.location, lld.message.as_str()),
        (
            BuildPhase::Linking,
            CauseKind::LinkerError,
            None,
            "unable to find library -lextmatrix_absent"
        )
    );
}

#[test]
fn an_undefined_reference_names_where_it_was_referenced() {
    let gcc = found_in(
        &log("gcc-undefined-reference.log"),
        BuildPhase::Linking,
        None,
    )
    .unwrap();
    assert_eq!(
        (gcc.kind, gcc.location.as_deref(), gcc.message.as_str()),
        (
            CauseKind::LinkerError,
            Some("/src/ur.c:2"),
            "undefined reference to `missing_fn'"
        )
    );
    let clang = found_in(
        &log("clang-undefined-reference.log"),
        BuildPhase::Linking,
        Some("/src"),
    )
    .unwrap();
    assert_eq!(clang.location.as_deref(), Some("ur.c"));
    assert_eq!(clang.message, "undefined reference to `missing_fn'");
}

#[test]
fn a_module_the_backend_cannot_import_is_a_missing_build_dependency() {
    for name in ["pip23-missing-module.log", "pip24-missing-module.log"] {
        assert_eq!(
            pip_cause(name),
            (
                BuildPhase::GettingBuildRequirements,
                CauseKind::MissingBuildDependency,
                None,
                "ModuleNotFoundError: No module named 'Cython'".to_owned()
            ),
            "{name}"
        );
    }
}

#[test]
fn an_unreachable_index_is_a_network_failure_not_a_missing_requirement() {
    for name in ["pip23-network.log", "pip26-network.log"] {
        assert_eq!(
            pip_cause(name),
            (
                BuildPhase::InstallingBuildDependencies,
                CauseKind::Network,
                None,
                "Failed to establish a new connection: [Errno 111] Connection refused (fetching setuptools==80.9.0)".to_owned()
            ),
            "{name}"
        );
    }
    let cargo = found_in(&log("cargo-network.log"), BuildPhase::Building, None).unwrap();
    assert_eq!(cargo.kind, CauseKind::Network);
    assert_eq!(
        cargo.message,
        "Could not connect to server (failed to get `itoa` as a dependency of package `rc v0.1.0 (/src/rc)`)"
    );
    // Without a network failure, a requirement no index has is missing.
    let unresolved = "  Installing build dependencies: started\nERROR: Could not find a version that satisfies the requirement nosuch==1 (from versions: none)\nERROR: No matching distribution found for nosuch==1\n";
    let c = found_in(unresolved, BuildPhase::Building, None).unwrap();
    assert_eq!(
        (c.phase, c.kind, c.message.as_str()),
        (
            BuildPhase::InstallingBuildDependencies,
            CauseKind::MissingBuildDependency,
            "no index has nosuch==1"
        )
    );
}

#[test]
fn rustc_errors_are_located_by_their_arrow() {
    let c = found_in(
        &log("cargo-rustc-error.log"),
        BuildPhase::Building,
        Some("/src/rc"),
    )
    .unwrap();
    assert_eq!(
        (c.phase, c.kind, c.location.as_deref(), c.message.as_str()),
        (
            BuildPhase::Compiling,
            CauseKind::CompilerError,
            Some("src/lib.rs:1"),
            "cannot find value `undefined_value` in this scope"
        )
    );
    // rustc's errors without a code are located the same way; cargo's are not.
    let bare = "error: expected one of `!` or `::`, found `x`\n --> src/lib.rs:3:5\n";
    let c = found_in(bare, BuildPhase::Building, None).unwrap();
    assert_eq!(c.kind, CauseKind::CompilerError);
    assert_eq!(c.location.as_deref(), Some("src/lib.rs:3"));
    let cargo = found_in(
        "error: no matching package named `nope` found\n",
        BuildPhase::Building,
        None,
    )
    .unwrap();
    assert_eq!((cargo.kind, cargo.location), (CauseKind::ToolError, None));
}

#[test]
fn only_a_build_scripts_stderr_section_is_the_scripts() {
    // Its section ends where the indentation does, or at another section.
    for after in [
        "  --- stderr\n  warning: no pkg-config\nerror: no matching package named `nope` found\n",
        "  --- stderr\n  --- stdout\n  error: no matching package named `nope` found\n",
    ] {
        let c = found_in(after, BuildPhase::Building, None).unwrap();
        assert_eq!(c.kind, CauseKind::ToolError, "{after}");
    }
}

#[test]
fn the_first_rustc_error_stays_the_cause() {
    let two = "error[E0425]: cannot find value `a` in this scope\n --> src/lib.rs:1:5\nerror: expected one of `!` or `::`\n --> src/lib.rs:9:1\n";
    let c = found_in(two, BuildPhase::Building, None).unwrap();
    assert_eq!(
        (c.message.as_str(), c.location.as_deref()),
        ("cannot find value `a` in this scope", Some("src/lib.rs:1"))
    );
}

#[test]
fn a_backend_that_cannot_reach_the_network_is_a_network_failure_where_it_raised() {
    let urllib = "Traceback (most recent call last):\n  File \"/p/setup.py\", line 10, in <module>\nurllib.error.URLError: <urlopen error [Errno 111] Connection refused>\n";
    let c = found_in(urllib, BuildPhase::GettingBuildRequirements, Some("/p")).unwrap();
    assert_eq!(
        (c.kind, c.message.as_str(), c.location.as_deref()),
        (
            CauseKind::Network,
            "Connection refused",
            Some("setup.py:10")
        )
    );
    // Nothing but the network's failure: its words alone.
    let c = found_in("WARNING: Retrying after connection broken by 'NewConnectionError(\"Failed to establish a new connection: [Errno 111] Connection refused\")'", BuildPhase::Downloading, None).unwrap();
    assert_eq!(
        (c.phase, c.kind, c.message.as_str()),
        (
            BuildPhase::Downloading,
            CauseKind::Network,
            "Failed to establish a new connection: [Errno 111] Connection refused"
        )
    );
}

#[test]
fn a_build_scripts_own_words_outrank_cargos() {
    let pyo3 = log("cargo-pyo3-refuses.log");
    let refusal = "PyO3 does not support the free-threaded build of CPython versions below 3.14, \
                   the selected Python version is 3.13";
    let c = found_in(&pyo3, BuildPhase::Building, None).unwrap();
    assert_eq!(
        (c.phase, c.kind, c.location.as_deref(), c.message.as_str()),
        (
            BuildPhase::RunningBuildScript,
            CauseKind::BuildScript,
            Some("pyo3-ffi v0.30.1"),
            refusal
        )
    );
    // The same through pip and maturin, indented.
    let nested: String = pyo3.lines().map(|l| format!("      {l}\n")).collect();
    let c = found_in(
        &format!("ERROR: Failed building wheel\n{nested}"),
        BuildPhase::Building,
        None,
    )
    .unwrap();
    assert_eq!(c.message, refusal);
    let panic = found_in(
        &log("cargo-build-script-panic.log"),
        BuildPhase::Building,
        None,
    )
    .unwrap();
    assert_eq!(
        (
            panic.kind,
            panic.location.as_deref(),
            panic.message.as_str()
        ),
        (
            CauseKind::BuildScript,
            Some("build.rs:1"),
            "this crate needs libfoo 2.0: pkg-config found none"
        )
    );
    // Before Rust 1.73 the message and the place were one line.
    assert_eq!(
        panic_location("thread 'main' panicked at 'no libfoo', build.rs:4:5").as_deref(),
        Some("build.rs:4")
    );
}

#[test]
fn wrappers_alone_name_no_cause() {
    let wrappers = "  error: subprocess-exited-with-error\n  × Building wheel for x (pyproject.toml) did not run successfully.\n  │ exit code: 1\n  note: This error originates from a subprocess, and is likely not a problem with pip.\n  ERROR: Failed building wheel for x\nERROR: Failed to build one or more wheels\nerror: could not compile `x` (lib) due to 1 previous error\nerror: command '/usr/bin/gcc' failed with exit code 1\n";
    assert_eq!(found_in(wrappers, BuildPhase::Building, None), None);
    // A failed link with no linker line is still said to be the link (gcc,
    // clang, cargo).
    for conclusion in [
        "collect2: error: ld returned 1 exit status",
        "clang: error: linker command failed with exit code 1 (use -v to see invocation)",
        "error: linking with `cc` failed: exit status: 1",
    ] {
        let c = found_in(conclusion, BuildPhase::Building, None).unwrap();
        assert_eq!(
            (c.phase, c.kind),
            (BuildPhase::Linking, CauseKind::ToolError),
            "{conclusion}"
        );
    }
    // A tool's own error, when nothing says more.
    let c = found_in(
        "gcc: fatal error: no input files\n",
        BuildPhase::Compiling,
        None,
    )
    .unwrap();
    assert_eq!(
        (c.kind, c.message.as_str()),
        (CauseKind::ToolError, "no input files")
    );
}

#[test]
fn the_compiler_outranks_the_exception_a_backend_raises_after_it() {
    let meson = "Traceback (most recent call last):\n  File \"/x/site-packages/mesonpy/__init__.py\", line 9, in build\n    run()\nsubprocess.CalledProcessError: Command '['ninja']' returned non-zero exit status 1.\n";
    let c = found_in(
        &format!("../src/m.c:3:1: error: unknown type name 'x'\n{meson}"),
        BuildPhase::Building,
        None,
    )
    .unwrap();
    assert_eq!(c.kind, CauseKind::CompilerError);
    let alone = found_in(meson, BuildPhase::Building, None).unwrap();
    assert_eq!(alone.kind, CauseKind::PythonException);
    // A dependency's frame is shown from its site-packages on.
    assert_eq!(alone.location.as_deref(), Some("mesonpy/__init__.py:9"));
    // Of two tracebacks, the last: a backend's own error after what it caught.
    let two = format!("{meson}\nDuring handling of the above exception, another exception occurred:\n\nTraceback (most recent call last):\n  File \"/p/setup.py\", line 4, in <module>\nRuntimeError: build failed\n");
    let c = found_in(&two, BuildPhase::Building, Some("/p")).unwrap();
    assert_eq!(
        (c.message.as_str(), c.location.as_deref()),
        ("RuntimeError: build failed", Some("setup.py:4"))
    );
}

#[test]
fn a_long_message_is_cut_to_one_summary_line() {
    let long = format!("RuntimeError: {}", "x".repeat(1000));
    let c = found_in(
        &format!("Traceback (most recent call last):\n  File \"a\", line 1\n{long}\n"),
        BuildPhase::Building,
        None,
    )
    .unwrap();
    assert_eq!(c.message.chars().count(), MAX_MESSAGE + 1);
    assert!(c.message.ends_with('…'));
}

#[test]
fn line_shapes() {
    assert_eq!(
        compiler_error("x.c:2: error: oops"),
        Some(CompilerError {
            file: "x.c".into(),
            line: 2,
            message: "oops".into()
        })
    );
    assert_eq!(
        compiler_error("x.c:2:7: fatal error: a.h: No such file or directory").map(|d| d.message),
        Some("a.h: No such file or directory".into())
    );
    assert_eq!(compiler_error("gcc: error: nope"), None);
    // A colon in the file's name, no column.
    assert_eq!(
        compiler_error("dir:x.c:7: error: oops").map(|d| (d.file, d.line)),
        Some(("dir:x.c".into(), 7))
    );
    assert_eq!(compiler_error("a:b:c: error: oops"), None);
    assert_eq!(
        compiler_error("collect2: error: ld returned 1 exit status"),
        None
    );
    assert!(is_error_directive("#  error \"x\""));
    assert!(!is_error_directive("#include <x.h>"));
    assert_eq!(source_line("    7 | #error \"x\""), "#error \"x\"");
    assert_eq!(source_line("a | b"), "a | b");
    assert_eq!(drop_column("src/lib.rs:1:21"), "src/lib.rs:1");
    assert_eq!(drop_column("src/lib.rs:1"), "src/lib.rs:1");
    assert_eq!(
        frame_location("File \"/p/setup.py\", line 12, in <module>").as_deref(),
        Some("/p/setup.py:12")
    );
    assert!(is_exception_line(
        "subprocess.CalledProcessError: Command failed"
    ));
    assert!(is_exception_line("KeyboardInterrupt"));
    assert!(is_exception_line("_pytest.outcomes.Failed: boom"));
    assert!(!is_exception_line(
        "During handling of the above exception, another exception occurred:"
    ));
    assert!(!is_exception_line("error: something"));
    assert!(is_missing_module("ImportError: No module named numpy"));
    assert_eq!(
        pip_step("Preparing metadata (pyproject.toml): started"),
        Some(BuildPhase::PreparingMetadata)
    );
    assert_eq!(
        pip_step("× python setup.py egg_info did not run successfully."),
        Some(BuildPhase::PreparingMetadata)
    );
    assert_eq!(
        pip_step("× python setup.py bdist_wheel did not run successfully."),
        Some(BuildPhase::Building)
    );
    assert_eq!(
        pip_step("× Encountered error while generating package metadata."),
        None
    );
    assert_eq!(
        pip_step("Getting requirements to build wheel: finished with status 'error'"),
        None
    );
    assert_eq!(
        network_failure("[Errno -3] Temporary failure in name resolution"),
        Some("Temporary failure in name resolution".into())
    );
    assert_eq!(network_failure("RuntimeError: no"), None);
    assert!(is_linker_program("/usr/bin/ld"));
    assert!(is_linker_program("ld.lld"));
    assert!(is_linker_program("x86_64-linux-gnu-ld"));
    assert!(!is_linker_program("ur.c"));
    assert_eq!(
        tool_error("clang: error: no such file or directory: 'x.c'").as_deref(),
        Some("no such file or directory: 'x.c'")
    );
    assert_eq!(tool_error("In file x: error: y"), None);
}
