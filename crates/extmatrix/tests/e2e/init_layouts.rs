//! `extmatrix init` then `extmatrix run` on the three repository layouts
//! of issue 16, as a new user runs them in their checkout: a uv workspace
//! whose root is no package and whose extension is a maturin member, a
//! Cargo workspace with a PyO3 member, and a package whose wheel ships its
//! tests' extension modules (fixtures/projects/uv_workspace,
//! cargo_workspace, with_test_modules). Real builds (maturin, cargo,
//! setuptools from PyPI and crates.io, as CI has them), real interpreters.
//!
//! Each layout is copied to the same place under the test target's
//! temporary directory every time, so cargo's target directories in the
//! tests' cache stay usable: only the first run on a machine compiles PyO3
//! (about a minute per crate on 2 cores).

use crate::common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A fresh copy of fixture project `name` at a stable path.
fn checkout(name: &str) -> PathBuf {
    let to = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("init-layouts")
        .join(name);
    if to.exists() {
        std::fs::remove_dir_all(&to).unwrap();
    }
    copy_tree(&fixture_project(name), &to);
    to
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let (src, dest) = (entry.path(), to.join(entry.file_name()));
        if entry.file_type().unwrap().is_dir() {
            // A cargo build in the source tree by hand leaves `target/`.
            if entry.file_name() != "target" {
                copy_tree(&src, &dest);
            }
        } else {
            std::fs::copy(&src, &dest).unwrap();
        }
    }
}

/// `extmatrix init` in `dir`: what it printed, and the file it wrote.
fn init(dir: &Path) -> (String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_extmatrix"))
        .arg("init")
        .current_dir(dir)
        .env("EXTMATRIX_CACHE_DIR", cache_dir())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = std::fs::read_to_string(dir.join("extmatrix.yaml")).unwrap();
    (said, file)
}

/// The file with its (only) smoke line filled in, as a user does.
fn with_smoke(dir: &Path, file: &str, smoke: &str) {
    assert_eq!(file.matches("smoke: \"pass\"").count(), 1, "{file}");
    let filled = file.replace("smoke: \"pass\"", &format!("smoke: \"{smoke}\""));
    std::fs::write(dir.join("extmatrix.yaml"), filled).unwrap();
}

/// `extmatrix run` (no matrix argument) in `dir` on cp313, and its report.
fn run_in(dir: &Path, scenarios: &str) -> (i32, Value) {
    // Under `build/`, which no build reads as a source.
    std::fs::create_dir_all(dir.join("build")).unwrap();
    let json = dir.join("build/report.json");
    let out = Command::new(env!("CARGO_BIN_EXE_extmatrix"))
        .args([
            "run",
            "--python",
            "cp313",
            "--scenario",
            scenarios,
            "--json",
        ])
        .arg(&json)
        .current_dir(dir)
        .env("EXTMATRIX_CACHE_DIR", cache_dir())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let text = std::fs::read_to_string(&json).unwrap_or_else(|_| {
        panic!(
            "no report:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (
        out.status.code().unwrap_or(-1),
        serde_json::from_str(&text).unwrap(),
    )
}

/// The (target, module) of every row of a report.
fn rows(report: &Value) -> Vec<(String, String)> {
    let mut rows: Vec<(String, String)> = cells(report)
        .iter()
        .map(|c| {
            (
                c["target"].as_str().unwrap().to_owned(),
                c["module"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    rows.dedup();
    rows
}

/// Every cell of `report` has `outcome`.
fn all_are(report: &Value, outcome: &str) {
    for c in cells(report) {
        assert_eq!(c["outcome"], outcome, "{}", outcome_lines(report));
    }
}

#[test]
fn a_uv_workspace_gets_a_target_for_its_maturin_member_and_none_for_its_root() {
    let dir = checkout("uv_workspace");
    let (said, file) = init(&dir);
    assert!(
        said.contains("  tally (pip target: crates/tally-python)\n")
            && said.contains("Left out 2 other project(s); the file's comments say which and why."),
        "{said}"
    );
    assert!(
        file.contains("    pip: crates/tally-python\n") && !file.contains("pip: .\n"),
        "{file}"
    );
    assert!(
        file.contains("#   .             not a package: `[tool.uv] package = false`\n"),
        "{file}"
    );
    with_smoke(&dir, &file, "assert m.add(1, 2) == 3");
    let (status, report) = run_in(&dir, "import,reinit");
    // maturin installs the crate's module as a package of its name.
    assert_eq!(rows(&report), [("tally".into(), "tally.tally".into())]);
    all_are(&report, "pass");
    assert_eq!(status, 0);

    // The root as a target, as `init` used to write it: its wheel holds
    // nothing, and the failure names the member that builds something.
    std::fs::write(
        dir.join("extmatrix.yaml"),
        "pythons: [cp313]\nscenarios: [import]\ntargets:\n  - name: root\n    pip: .\n",
    )
    .unwrap();
    let (status, report) = run_in(&dir, "import");
    let root = cell(&report, "root", "cp313", "import");
    assert_eq!(root["outcome"], "build-failed", "{root}");
    let summary = root["details"]["summary"].as_str().unwrap();
    assert!(
        summary.contains("produced no extension module to test")
            && summary.contains(
                "these projects in it build extension modules: crates/tally-python (pip)"
            ),
        "{summary}"
    );
    assert_eq!(status, 1);
}

#[test]
fn a_cargo_workspace_gets_a_target_for_its_pyo3_cdylib_member_only() {
    let dir = checkout("cargo_workspace");
    let (said, file) = init(&dir);
    assert!(
        said.contains("  stats-py (cargo target: crates/stats-py)\n"),
        "{said}"
    );
    assert!(
        file.contains("    cargo: crates/stats-py\n")
            && file.contains("crates/stats-convert  depends on pyo3 but builds no cdylib")
            && file.contains("crates/stats-core     a crate that does not depend on pyo3"),
        "{file}"
    );
    with_smoke(&dir, &file, "assert m.mean([1.0, 3.0]) == 2.0");
    let (status, report) = run_in(&dir, "import,reinit");
    assert_eq!(rows(&report), [("stats-py".into(), "stats".into())]);
    all_are(&report, "pass");
    assert_eq!(status, 0);
}

#[test]
fn a_package_with_test_modules_is_tested_without_them_and_says_what_they_miss() {
    let dir = checkout("with_test_modules");
    let (said, file) = init(&dir);
    assert!(said.contains("  tripack (pip target: .)\n"), "{said}");
    assert!(
        file.contains("    exclude: [\"**.tests.**\", \"**.test.**\"]\n"),
        "{file}"
    );
    with_smoke(&dir, &file, "assert m.triple(2) == 6");
    let (status, report) = run_in(&dir, "import,subinterp-own");
    assert_eq!(rows(&report), [("tripack".into(), "tripack._core".into())]);
    all_are(&report, "pass");
    assert_eq!(status, 0);

    // Without `exclude`, the test module is a row whose import fails for
    // want of the test-only dependency: named, with what to do.
    let file = std::fs::read_to_string(dir.join("extmatrix.yaml")).unwrap();
    let without: String = file
        .lines()
        .filter(|l| !l.trim_start().starts_with("exclude:"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(dir.join("extmatrix.yaml"), without).unwrap();
    let (status, report) = run_in(&dir, "import");
    let core = module_cell(&report, "tripack", "tripack._core", "cp313", "import");
    assert_eq!(core["outcome"], "pass", "{core}");
    let probe = module_cell(
        &report,
        "tripack",
        "tripack.tests._probe",
        "cp313",
        "import",
    );
    assert_eq!(probe["outcome"], "import-error", "{probe}");
    assert_eq!(probe["details"]["reason"], "missing-dependency", "{probe}");
    assert_eq!(
        probe["details"]["errors"][0]["not_found"], "tripack_testkit",
        "{probe}"
    );
    let summary = probe["details"]["summary"].as_str().unwrap();
    assert!(
        summary.contains("tripack_testkit is not installed beside the target")
            && summary.contains("`exclude:`"),
        "{summary}"
    );
    assert_eq!(status, 1);
}
