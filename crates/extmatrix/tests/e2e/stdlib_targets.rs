//! `stdlib:` targets end to end on the machine's pyenv interpreters: CPython's
//! own test modules give CPython's own truth table, a built-in module is an
//! `n/a` row that says why, and `all` finds what lib-dynload ships.
//!
//! The truth table is the one CPython's test_import checks
//! (`_testsinglephase` and `_testmultiphase`): a single-phase module is
//! refused by isolated subinterpreters and, in a legacy one, is served from
//! a shallow copy of the main interpreter's module dict (`m_copy`), whose
//! values are the main interpreter's objects (gh-101758). A multi-phase
//! module that declares per-interpreter-GIL support is isolated everywhere.

use crate::common::*;
use serde_json::Value;

fn outcome(cell: &Value) -> &str {
    cell["outcome"].as_str().unwrap()
}

fn summary(cell: &Value) -> &str {
    cell["details"]["summary"].as_str().unwrap_or("")
}

fn phase_matrix() -> (tempfile::TempDir, std::path::PathBuf) {
    temp_matrix(&format!(
        "pythons: [{}]\nscenarios: [{}]\noptions: {{ cycles: 2, timeout_s: 20 }}\n\
         targets:\n  - name: phase\n    stdlib: [_testsinglephase, _testmultiphase]\n",
        PYTHONS.join(", "),
        SCENARIOS.join(", ")
    ))
}

#[test]
fn singlephase_and_multiphase_modules_give_cpythons_truth_table() {
    let (_dir, matrix) = phase_matrix();
    let run = run_matrix(&matrix, &[]);
    let report = &run.report;
    let isolated = ["subinterp-shared", "subinterp-own"];
    for python in ["cp312", "cp313"] {
        for scenario in isolated {
            let c = module_cell(report, "phase", "_testsinglephase", python, scenario);
            assert_eq!(outcome(c), "refused", "{python} {scenario}: {c}");
        }
        let legacy = module_cell(
            report,
            "phase",
            "_testsinglephase",
            python,
            "subinterp-legacy",
        );
        assert_eq!(outcome(legacy), "shared-state", "{python}: {legacy}");
        // The m_copy is a shallow copy of the main interpreter's module
        // dict: its values, the module's functions and its exception type
        // among them, are the main interpreter's objects.
        let shared: Vec<&str> = legacy["details"]["shared_objects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["path"].as_str().unwrap())
            .collect();
        for attribute in ["sum", "error"] {
            assert!(shared.contains(&attribute), "{python}: {shared:?}");
        }
    }
    for python in PYTHONS {
        for scenario in SCENARIOS {
            let c = module_cell(report, "phase", "_testmultiphase", python, scenario);
            let expected = if python == "cp311" && isolated.contains(&scenario) {
                "n/a" // isolated subinterpreters arrived in 3.12
            } else {
                "pass"
            };
            assert_eq!(outcome(c), expected, "{python} {scenario}: {c}");
        }
        // 3.11 has no _testsinglephase: an n/a row per scenario, not a failure.
        if python == "cp311" {
            let c = module_cell(report, "phase", "_testsinglephase", python, "import");
            assert_eq!(outcome(c), "n/a", "{c}");
            assert!(
                summary(c).contains("cp311 does not ship _testsinglephase"),
                "{c}"
            );
        }
    }
}

#[test]
fn a_listed_built_in_module_is_not_applicable_and_says_why() {
    let (_dir, matrix) = temp_matrix(
        "pythons: [cp313]\nscenarios: [import, subinterp-legacy]\n\
         targets:\n  - name: builtin\n    stdlib: [_abc]\n",
    );
    let run = run_matrix(&matrix, &[]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    for scenario in ["import", "subinterp-legacy"] {
        let c = module_cell(&run.report, "builtin", "_abc", "cp313", scenario);
        assert_eq!(outcome(c), "n/a", "{c}");
        let why = summary(c);
        assert!(
            why.contains("compiled into cp313 (sys.builtin_module_names)")
                && why.contains("libpython's image"),
            "{why}"
        );
    }
}

#[test]
fn all_finds_the_modules_in_lib_dynload_and_lists_the_built_in_ones() {
    let (_dir, matrix) = temp_matrix(
        "pythons: [cp311, cp312]\nscenarios: [import]\noptions: { timeout_s: 20 }\n\
         targets:\n  - name: stdlib\n    stdlib: all\n",
    );
    let run = run_matrix(&matrix, &[]);
    let report = &run.report;
    let csv = module_cell(report, "stdlib", "_csv", "cp312", "import");
    assert_eq!(outcome(csv), "pass", "{csv}");
    // Built in on pyenv's 3.12, so a row that says so.
    let sys = module_cell(report, "stdlib", "sys", "cp312", "import");
    assert_eq!(outcome(sys), "n/a", "{sys}");
    let modules: std::collections::BTreeSet<&str> = cells(report)
        .iter()
        .map(|c| c["module"].as_str().unwrap())
        .collect();
    // A bundled helper library or a Python file is never taken for a module.
    assert!(
        modules.iter().all(|m| !m.contains('.') && !m.is_empty()),
        "{modules:?}"
    );
    assert!(modules.len() > 50, "{modules:?}");
    // Every module gets a row on every interpreter: one that 3.11 does not
    // ship (3.12 added `_testsinglephase`) is n/a there, not missing.
    let absent = module_cell(report, "stdlib", "_testsinglephase", "cp311", "import");
    assert_eq!(outcome(absent), "n/a", "{absent}");
    assert!(
        absent["details"]["summary"]
            .as_str()
            .unwrap()
            .contains("only other interpreters' builds have it"),
        "{absent}"
    );
    let per_python = |p: &str| cells(report).iter().filter(|c| c["python"] == p).count();
    assert_eq!(per_python("cp311"), per_python("cp312"));
}
