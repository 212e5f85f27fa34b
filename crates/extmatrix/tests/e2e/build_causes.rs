//! Why a build failed, end to end: the fixtures of fixtures/projects that
//! fail to build (a package's own `#error`, a backend that raises while pip
//! gets the build requirements, a C++ compiler error, a library the linker
//! cannot find, a build dependency the project does not declare, an index
//! that cannot be reached) built by the real pip of real interpreters, each
//! summary asserted; and the statics of a C++ and a PyO3 module named in
//! their author's language.
//!
//! The free-threaded builds come from `just setup`, in the user's cache, so
//! the tests that need cp313t use that cache (as builds.rs does). Failed
//! builds are never cached: those run every time (a few seconds each).

use crate::common::*;
use serde_json::Value;

fn summary<'a>(report: &'a Value, target: &str, python: &str) -> &'a str {
    cell(report, target, python, "import")["details"]["summary"]
        .as_str()
        .unwrap()
}

fn reason<'a>(report: &'a Value, target: &str, python: &str) -> &'a Value {
    &cell(report, target, python, "import")["details"]["reason"]
}

fn outcome<'a>(report: &'a Value, target: &str, python: &str) -> &'a str {
    cell(report, target, python, "import")["outcome"]
        .as_str()
        .unwrap()
}

fn pip_target(name: &str, project: &str) -> String {
    format!(
        "  - name: {name}\n    pip: {}\n    smoke: \"assert m.answer() == 42\"\n",
        fixture_project(project).display()
    )
}

#[test]
fn each_failed_build_names_its_cause_in_one_line() {
    let (_dir, m) = temp_matrix(&format!(
        "pythons: [cp312, cp313t]\nscenarios: [import]\ntargets:\n{}{}{}{}{}",
        pip_target("refuses_in_header", "refuses_free_threaded_313"),
        pip_target("refuses_in_backend", "refuses_free_threaded_313_backend"),
        pip_target("private_api_cpp", "private_api_cpp"),
        pip_target("missing_library", "missing_library"),
        pip_target("undeclared_build_dependency", "undeclared_build_dependency"),
    ));
    let run = run_matrix_with_cache(&m, &[], None);
    let r = &run.report;
    let all = outcome_lines(r);

    // Refused by the package: its own #error, its backend's RuntimeError.
    assert_eq!(
        summary(r, "refuses_in_header", "cp313t"),
        "pip wheel failed while compiling, at include/ftguard.h:7: \
         #error \"the free-threaded build requires CPython 3.14 or newer\"",
        "{all}"
    );
    assert_eq!(
        summary(r, "refuses_in_backend", "cp313t"),
        "pip wheel failed while getting build requirements: RuntimeError: ftrefuse does not \
         support the free-threaded build of CPython 3.13. Upgrade to free-threaded 3.14 or \
         newer, or use the default build.",
        "{all}"
    );
    for target in ["refuses_in_header", "refuses_in_backend"] {
        assert_eq!(outcome(r, target, "cp313t"), "build-failed", "{all}");
        assert_eq!(
            reason(r, target, "cp313t"),
            "build-refused-by-package",
            "{all}"
        );
        // Where the package builds, it is tested as usual.
        assert_eq!(outcome(r, target, "cp312"), "pass", "{all}");
    }

    // Broken builds: no refusal.
    let private = summary(r, "private_api_cpp", "cp313t");
    assert!(
        private.starts_with("pip wheel failed while compiling, at src/privapi.cpp:8: ")
            && private.contains("_PyCriticalSection_SuspendAll")
            && private.contains("was not declared in this scope"),
        "{private}"
    );
    assert_eq!(outcome(r, "private_api_cpp", "cp312"), "pass", "{all}");
    for python in ["cp312", "cp313t"] {
        assert_eq!(
            summary(r, "missing_library", python),
            "pip wheel failed while linking: cannot find -lextmatrix_absent: No such file or directory",
            "{all}"
        );
        assert_eq!(
            summary(r, "undeclared_build_dependency", python),
            "pip wheel failed while getting build requirements: missing build dependency: \
             ModuleNotFoundError: No module named 'Cython'",
            "{all}"
        );
    }
    for (target, python) in [
        ("private_api_cpp", "cp313t"),
        ("missing_library", "cp312"),
        ("undeclared_build_dependency", "cp313t"),
    ] {
        assert_eq!(reason(r, target, python), &Value::Null, "{all}");
    }

    // The cause as data.
    let cause = &cell(r, "refuses_in_header", "cp313t", "import")["details"]["build"]["cause"];
    assert_eq!(cause["phase"], "compiling");
    assert_eq!(cause["kind"], "error-directive");
    assert_eq!(cause["location"], "include/ftguard.h:7");
    let cause = &cell(r, "missing_library", "cp312", "import")["details"]["build"]["cause"];
    assert_eq!(
        (&cause["phase"], &cause["kind"]),
        (&"linking".into(), &"linker-error".into())
    );

    // The table tells a refused build from a broken one, once per build.
    assert!(
        run.stdout.contains("build-failed (refused)"),
        "{}",
        run.stdout
    );
    let refused = run
        .stdout
        .lines()
        .filter(|l| {
            l.starts_with(
                "  build-failed (refused) · refuses_in_header · pip wheel failed while compiling",
            ) && l.ends_with("[build-refused-by-package] — the build for cp313t")
        })
        .count();
    assert_eq!(refused, 1, "{}", run.stdout);
    assert!(
        run.stdout.lines().any(|l| l
            .starts_with("  build-failed · private_api_cpp · pip wheel failed while compiling")
            && l.contains(" — the build for ")
            && l.ends_with("cp313t")),
        "{}",
        run.stdout
    );
}

/// An index that cannot be reached (a refused port on this machine) is said
/// to be the network's failure, not the package's.
#[test]
fn a_network_failure_while_fetching_build_dependencies_is_said_as_such() {
    let (dir, m) = temp_matrix(&format!(
        "pythons: [cp312]\nscenarios: [import]\ntargets:\n{}",
        pip_target("two_modules", "two_modules")
    ));
    let json = dir.path().join("report.json");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_extmatrix"))
        .args(["run", m.to_str().unwrap(), "--json", json.to_str().unwrap()])
        .env("EXTMATRIX_CACHE_DIR", cache_dir())
        .env("NO_COLOR", "1")
        // Port 9 (discard) on loopback: nothing listens, the connection is refused.
        .env("PIP_INDEX_URL", "http://127.0.0.1:9/simple/")
        .env("PIP_RETRIES", "1")
        .env("PIP_FIND_LINKS", dir.path())
        .env("PIP_NO_CACHE_DIR", "1")
        .output()
        .unwrap();
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let c = module_cell(&report, "two_modules", "", "cp312", "import");
    assert_eq!(c["outcome"], "build-failed", "{stdout}");
    assert_eq!(
        c["details"]["summary"],
        "pip wheel failed while installing build dependencies: network failure, not the \
         package's fault: Failed to establish a new connection: [Errno 111] Connection refused \
         (fetching setuptools==80.9.0)",
        "{stdout}"
    );
    assert_eq!(c["details"]["build"]["cause"]["kind"], "network");
    assert_eq!(c["details"]["reason"], Value::Null);
}

/// The shared object of each module (a dict) is held by a static; the
/// summary names it demangled, the JSON keeps the mangled name too.
#[test]
fn statics_of_rust_and_cpp_modules_are_named_in_their_authors_language() {
    let (_dir, m) = temp_matrix(&format!(
        "pythons: [cp312]\nscenarios: [reimport]\ntargets:\n\
         {SP}- name: cpp\n    pip: {}\n    smoke: \"{SMOKE}\"\n\
         {SP}- name: rust\n    cargo: {}\n    smoke: \"{SMOKE}\"\n",
        fixture_project("cpp_static_holder").display(),
        repo_root()
            .join("fixtures/crates/pyo3_static_holder")
            .display(),
        SP = "  ",
        SMOKE = "m.registry['n'] = m.registry.get('n', 0) + 1",
    ));
    let run = run_matrix(&m, &[]);
    let r = &run.report;
    let all = outcome_lines(r);
    for (target, demangled, mangled_prefix) in [
        ("cpp", "holder::registry", "_ZN6holderL8registryE"),
        (
            "rust",
            "pyo3_static_holder::REGISTRY",
            "_ZN18pyo3_static_holder8REGISTRY17h",
        ),
    ] {
        let c = cell(r, target, "cp312", "reimport");
        assert_eq!(c["outcome"], "shared-state", "{all}\n{}", run.stderr);
        let summary = c["details"]["summary"].as_str().unwrap();
        assert!(
            summary.contains(&format!(
                "registry (dict, in heap, held by the C global `{demangled}`)"
            )),
            "{summary}"
        );
        let registry = c["details"]["shared_objects"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["path"] == "registry")
            .unwrap_or_else(|| panic!("{c:#}"));
        assert_eq!(registry["held_by_demangled"], demangled);
        let held_by = registry["held_by"].as_str().unwrap();
        assert!(held_by.starts_with(mangled_prefix), "{held_by}");
        // The static scan of the image names it the same way.
        let image = r["images"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["target"] == target)
            .unwrap();
        let global = image["writable_globals"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["name"] == held_by)
            .unwrap_or_else(|| panic!("{image:#}"));
        assert_eq!(global["demangled"], demangled);
    }
}
