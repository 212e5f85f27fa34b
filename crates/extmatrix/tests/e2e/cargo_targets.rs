//! `cargo:` targets end to end: the PyO3 fixture crate
//! (fixtures/crates/pyo3_counter) built by cargo for each interpreter and
//! run through every scenario, the cache serving a second run without
//! building, and crates that do not build (or build no module) as
//! `build-failed` cells beside a target that runs.
//!
//! The outcome test runs on cp313t, which `just setup` builds into the
//! user's cache, so it uses that cache (as builds.rs does); the others
//! use the tests' shared cache. Either way cargo's target directories
//! persist in the cache (`<cache>/cargo-target/`), so only the first run
//! on a machine compiles PyO3 (about 40 s per interpreter on 2 cores).

use crate::common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn pyo3_counter() -> PathBuf {
    repo_root().join("fixtures/crates/pyo3_counter")
}

const SMOKE: &str = "assert m.bump() >= 1; c = m.Counter(); assert c.bump() == 1";

fn outcome<'a>(report: &'a Value, target: &str, python: &str, scenario: &str) -> &'a str {
    cell(report, target, python, scenario)["outcome"]
        .as_str()
        .unwrap()
}

/// What the fixture's header comment promises, scenario by scenario.
#[test]
fn the_pyo3_fixture_gets_its_documented_outcomes_on_cp312_cp313_and_cp313t() {
    let dir = tempfile::tempdir().unwrap();
    let m = write_matrix(
        dir.path(),
        &format!(
            "pythons: [cp312, cp313, cp313t]\n\
             scenarios: [import, reinit, reimport, subinterp-legacy, subinterp-shared, subinterp-own, free-threading]\n\
             options: {{ cycles: 3, timeout_s: 30, threads: 4 }}\n\
             targets:\n  - name: counter\n    cargo: {}\n    smoke: \"{SMOKE}\"\n",
            pyo3_counter().display()
        ),
    );
    let run = run_matrix_with_cache(&m, &[], None);
    let r = &run.report;
    let all = outcome_lines(r);
    let expected = [
        ("import", ["pass", "pass", "pass"]),
        ("reinit", ["pass", "pass", "pass"]),
        ("reimport", ["shared-state"; 3]),
        // Multi-phase without Py_mod_multiple_interpreters promises
        // subinterpreter support; the per-process type breaks it.
        ("subinterp-legacy", ["declaration-mismatch"; 3]),
        ("subinterp-shared", ["declaration-mismatch"; 3]),
        ("subinterp-own", ["refused"; 3]),
        ("free-threading", ["n/a", "n/a", "pass"]),
    ];
    for (scenario, outcomes) in expected {
        for (python, want) in ["cp312", "cp313", "cp313t"].iter().zip(outcomes) {
            assert_eq!(
                outcome(r, "counter", python, scenario),
                want,
                "{python} × {scenario}\n{all}\n{}",
                run.stderr
            );
        }
    }
    // The module is the crate's lib name, as its PyInit_ export says.
    assert!(
        cells(r).iter().all(|c| c["module"] == "pyo3_counter"),
        "{all}"
    );
    // PyO3's `gil_used = false` is what the free-threaded build reads.
    let ft = cell(r, "counter", "cp313t", "free-threading");
    assert_eq!(ft["details"]["declared"]["gil"], "not-used", "{ft:#}");
    // PyO3 types are created once per process: the shared object is the type.
    let reimport = cell(r, "counter", "cp313", "reimport");
    let why = reimport["details"]["summary"].as_str().unwrap();
    assert!(why.contains("Counter (type"), "{why}");
}

/// The `targets` entries of `lib` for `python` under `cache`: (meta.json,
/// log) contents each.
fn entries_of(cache: &Path, lib: &str, python: &str) -> Vec<(String, String)> {
    let prefix = format!("{lib}-{python}-");
    let mut found: Vec<(String, String)> = std::fs::read_dir(cache.join("targets"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .filter(|e| e.path().is_dir())
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let meta = std::fs::read_to_string(e.path().join("meta.json")).unwrap_or_default();
            let log = std::fs::read_to_string(cache.join(format!("targets/logs/{name}.log")))
                .unwrap_or_default();
            (meta, log)
        })
        .collect();
    found.sort();
    found
}

/// Mutation caught: a cargo target built again on every run (the cache
/// not consulted, or a key that changes from run to run).
#[test]
fn a_second_run_is_served_from_the_cache_without_building() {
    let dir = tempfile::tempdir().unwrap();
    let m = write_matrix(
        dir.path(),
        &format!(
            "pythons: [cp312]\nscenarios: [import]\ntargets:\n  - name: counter\n    cargo: {}\n    smoke: \"{SMOKE}\"\n",
            pyo3_counter().display()
        ),
    );
    let first = run_matrix(&m, &[]);
    assert_eq!(
        outcome(&first.report, "counter", "cp312", "import"),
        "pass",
        "{}",
        outcome_lines(&first.report)
    );
    let before = entries_of(&cache_dir(), "pyo3_counter", "cp312");
    assert!(
        before
            .iter()
            .any(|(_, log)| log.contains("cargo build --release --lib")),
        "the build's log names its cargo command: {before:#?}"
    );
    let started = std::time::Instant::now();
    let second = run_matrix(&m, &[]);
    let warm = started.elapsed();
    assert_eq!(
        outcome(&second.report, "counter", "cp312", "import"),
        "pass"
    );
    // Same entries, same stamps, nothing appended to any build log.
    assert_eq!(entries_of(&cache_dir(), "pyo3_counter", "cp312"), before);
    eprintln!("warm run: {warm:?}");
}

/// A crate at `dir/name` with `lib_rs` as its library, no dependencies.
fn write_crate(dir: &Path, name: &str, lib_rs: &str) -> PathBuf {
    let root = dir.join(name);
    std::fs::create_dir_all(root.join("src")).unwrap();
    std::fs::write(
        root.join("Cargo.toml"),
        format!(
            "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
             [lib]\ncrate-type = [\"cdylib\"]\n\n[workspace]\n"
        ),
    )
    .unwrap();
    std::fs::write(root.join("src/lib.rs"), lib_rs).unwrap();
    root
}

/// Mutation caught: a crate that does not compile, or compiles into no
/// module, failing the whole run or taking the other target down; the
/// module name taken from the lib name even when the crate exports
/// another init function.
#[test]
fn crates_that_build_no_module_fail_their_cells_and_other_targets_still_run() {
    let dir = tempfile::tempdir().unwrap();
    let broken = write_crate(
        dir.path(),
        "broken",
        "pub fn answer() -> u32 { \"forty-two\" }\n",
    );
    let no_init = write_crate(
        dir.path(),
        "no_init",
        "#[no_mangle]\npub extern \"C\" fn answer() -> u32 { 42 }\n",
    );
    // Exports PyInit_renamed, not PyInit_other_name: the module is `renamed`.
    // Its init returns NULL with no exception set, so importing it fails.
    let renamed = write_crate(
        dir.path(),
        "other_name",
        "#[no_mangle]\npub extern \"C\" fn PyInit_renamed() -> *mut u8 { std::ptr::null_mut() }\n",
    );
    let m = write_matrix(
        dir.path(),
        &format!(
            "pythons: [cp312]\nscenarios: [import, reinit]\ntargets:\n\
             \x20 - name: broken\n    cargo: {}\n\
             \x20 - name: no_init\n    cargo: {}\n\
             \x20 - name: renamed\n    cargo: {}\n\
             \x20 - name: ok\n    c: {{fixtures}}/isolated_ok.c\n    smoke: \"assert m.bump() >= 1\"\n",
            broken.display(),
            no_init.display(),
            renamed.display()
        ),
    );
    let run = run_matrix(&m, &[]);
    let r = &run.report;
    let all = outcome_lines(r);
    for scenario in ["import", "reinit"] {
        assert_eq!(outcome(r, "ok", "cp312", scenario), "pass", "{all}");
        for target in ["broken", "no_init"] {
            assert_eq!(
                outcome(r, target, "cp312", scenario),
                "build-failed",
                "{all}"
            );
        }
    }
    let broken = &cell(r, "broken", "cp312", "import")["details"];
    let summary = broken["summary"].as_str().unwrap();
    assert_eq!(
        summary, "cargo build failed while compiling, at src/lib.rs:1: mismatched types",
        "rustc's error is the summary: {broken:#}"
    );
    assert_eq!(broken["build"]["cause"]["kind"], "compiler-error");
    let output = broken["build"]["output"].as_str().unwrap();
    assert!(output.contains("src/lib.rs:1:"), "{output}");
    let no_init = cell(r, "no_init", "cp312", "import")["details"]["summary"]
        .as_str()
        .unwrap();
    assert!(
        no_init.contains("libno_init.so exports no PyInit_"),
        "{no_init}"
    );
    let renamed = cell(r, "renamed", "cp312", "import");
    assert_eq!(renamed["module"], "renamed", "{renamed:#}");
    assert_eq!(renamed["outcome"], "import-error", "{renamed:#}");
}
