//! matrices/stress.yaml on the seven builds: interpreters at once
//! (`subinterp-parallel`), threads at once (`free-threading`), the module
//! linked in (`inittab`), and `--repeat`; matrices/tsan.yaml under
//! ThreadSanitizer. Each stress fixture fails where
//! its race can happen, in at least one of five runs, with the worker and
//! the round named; each clean twin passes twenty runs out of twenty. These
//! use the user's build cache, as `.ci/run` provisions the built
//! interpreters there.

use crate::common::*;
use serde_json::Value;

fn stress_matrix() -> std::path::PathBuf {
    repo_root().join("matrices/stress.yaml")
}

/// The stress scenarios, which run workers at once.
const AT_ONCE: &str = "subinterp-parallel,free-threading";

fn line(c: &Value) -> String {
    format!(
        "{} × {} × {}: {} ({})",
        c["target"], c["python"], c["scenario"], c["outcome"], c["details"]["summary"]
    )
}

fn ran(c: &Value) -> bool {
    c["outcome"] != "n/a"
}

/// Every cell the matrix's expectations hold (met, never fixed: a race
/// that did not show in five runs is a failure of this test), and the
/// failures say where.
#[test]
fn each_stress_fixture_fails_where_it_can_race_within_five_runs() {
    let run = run_matrix_with_cache(
        &stress_matrix(),
        &[
            "--target",
            "own_gil_counts_in_a_c_global,caches_lazily_without_a_lock",
            "--scenario",
            AT_ONCE,
            "--repeat",
            "5",
            "--strict",
        ],
        None,
    );
    let r = &run.report;
    let cells: Vec<&Value> = cells(r).iter().filter(|c| ran(c)).collect();
    // subinterp-parallel on the five 3.12+ builds, free-threading on two.
    assert_eq!(cells.len(), 2 * (5 + 2), "{}", outcome_lines(r));
    for c in &cells {
        assert_eq!(c["expectation"]["status"], "met", "{}", line(c));
        let repeat = &c["details"]["repeat"];
        assert_eq!(repeat["runs"], 5, "{}", line(c));
        let failed = repeat["failed"].as_u64().unwrap();
        assert!(
            (1..=5).contains(&failed),
            "{}: {failed} of 5 failed",
            line(c)
        );
        let summary = c["details"]["summary"].as_str().unwrap();
        assert!(
            summary.ends_with(&format!("(failed {failed} of 5 runs)")),
            "{summary}"
        );
        // The worst run's error names the worker and its round.
        let err = &c["details"]["errors"][0];
        assert!(err["worker"].as_u64().is_some_and(|w| w >= 1), "{c}");
        assert!(err["round"].as_u64().is_some_and(|n| n >= 1), "{c}");
        assert!(summary.contains(" (worker "), "{summary}");
    }
    assert_eq!(run.status, 0, "{}\n{}", run.stdout, run.stderr);
}

/// Twenty runs of `scenarios` for `targets`: the cells that are not clean
/// in all twenty.
fn unclean_in_twenty_runs(targets: &str, scenarios: &str) -> Vec<String> {
    let run = run_matrix_with_cache(
        &stress_matrix(),
        &[
            "--target",
            targets,
            "--scenario",
            scenarios,
            "--repeat",
            "20",
        ],
        None,
    );
    assert_eq!(run.status, 0, "{}\n{}", run.stdout, run.stderr);
    cells(&run.report)
        .iter()
        .filter(|c| ran(c))
        .filter(|c| {
            let clean = c["outcome"] == "pass" || c["outcome"] == "refused";
            let repeat = &c["details"]["repeat"];
            !(clean && repeat["runs"] == 20 && repeat["failed"] == 0)
        })
        .map(|c| format!("{}; retried: {}", line(c), c["details"]["retries"]))
        .collect()
}

/// The twins do what their fixtures do, the way that cannot race: twenty
/// runs of each stress scenario (and of `inittab` for the twin of the
/// module kept across cycles) without one failure.
#[test]
fn the_clean_twins_pass_twenty_runs_out_of_twenty() {
    let mut wrong = unclean_in_twenty_runs(
        "own_gil_counts_in_module_state,caches_lazily_with_an_atomic_publish",
        AT_ONCE,
    );
    wrong.extend(unclean_in_twenty_runs(
        "makes_a_fresh_module_every_init",
        "inittab",
    ));
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Once each, the scenarios that do not race: what a cycle keeps shows in
/// the second cycle, from a file or linked in; the PyO3 guard keyed on the
/// interpreter id lets the second main interpreter through to what the
/// first one cached.
#[test]
fn what_a_cycle_keeps_shows_in_the_second_whether_loaded_or_linked_in() {
    let run = run_matrix_with_cache(
        &stress_matrix(),
        &[
            "--target",
            "keeps_its_module_in_a_c_global,makes_a_fresh_module_every_init,pyo3_interpreter_id_guard",
            "--scenario",
            "import,reinit,subinterp-own,inittab",
            "--strict",
        ],
        None,
    );
    let r = &run.report;
    for c in cells(r).iter().filter(|c| ran(c)) {
        let (target, scenario) = (
            c["target"].as_str().unwrap(),
            c["scenario"].as_str().unwrap(),
        );
        let cycles = scenario == "reinit" || scenario == "inittab";
        if target == "keeps_its_module_in_a_c_global" && cycles {
            // It fails in cycle 2, the first init after a finalize (the
            // main interpreter's steps; free-threaded builds also refuse
            // the single-phase module in inittab's legacy subinterpreter).
            let errors = c["details"]["errors"].as_array().map_or(&[][..], |a| a);
            let main_error = errors
                .iter()
                .map(|e| e["where"].as_str().unwrap())
                .find(|w| w.starts_with("cycle "));
            let step = c["details"]["step"].as_str().or(main_error);
            assert!(
                step.is_some_and(|s| s.starts_with("cycle 2: ")),
                "{}: {step:?}",
                line(c)
            );
        }
        if target == "makes_a_fresh_module_every_init" {
            let clean = ["pass", "refused"].contains(&c["outcome"].as_str().unwrap());
            assert!(clean, "{}", line(c));
            assert_eq!(
                c["details"]["errors"].as_array().map_or(0, |e| e
                    .iter()
                    .filter(|e| e["where"].as_str().unwrap().starts_with("cycle "))
                    .count()),
                0,
                "{}",
                line(c)
            );
        }
        if target == "pyo3_interpreter_id_guard" && scenario == "reinit" {
            let err = &c["details"]["errors"][0];
            assert_eq!(err["where"], "cycle 2: smoke", "{}", line(c));
            assert_eq!(err["exc_type"], "AssertionError", "{}", line(c));
        }
        if target == "pyo3_interpreter_id_guard" && scenario == "inittab" {
            // The guard turns the per-cycle subinterpreter away; the
            // second main interpreter gets the first one's submodule.
            let wheres: Vec<&str> = c["details"]["errors"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["where"].as_str().unwrap())
                .collect();
            assert!(
                wheres.contains(&"cycle 2: smoke"),
                "{}: {wheres:?}",
                line(c)
            );
            assert_eq!(c["details"]["reason"], "pyo3-subinterpreter", "{}", line(c));
        }
    }
    assert_eq!(run.status, 0, "{}\n{}", run.stdout, run.stderr);
}

/// Under ThreadSanitizer (matrices/tsan.yaml: free-threaded 3.13 built
/// --with-thread-sanitizer, which `just setup` builds) the counter's race
/// is caught at the access, named by file and line, in the step it
/// happened in; the twin, which locks, is clean, and so is CPython's own
/// code as far as the module is concerned.
#[test]
fn thread_sanitizer_names_the_race_and_passes_the_twin() {
    let run = run_matrix_with_cache(
        &repo_root().join("matrices/tsan.yaml"),
        &["--strict", "--repeat", "5"],
        None,
    );
    let r = &run.report;
    let raced = cell(
        r,
        "own_gil_counts_in_a_c_global",
        "cp313t-tsan",
        "free-threading",
    );
    assert_eq!(raced["outcome"], "crash", "{}", line(raced));
    assert_eq!(raced["details"]["reason"], "sanitizer", "{}", line(raced));
    let summary = raced["details"]["summary"].as_str().unwrap();
    assert!(
        summary.starts_with("ThreadSanitizer: data race ")
            && summary.contains("own_gil_counts_in_a_c_global.c:")
            && summary.contains(" in count_to, in step `smoke on threads`"),
        "{summary}"
    );
    for scenario in ["import", "free-threading"] {
        let twin = cell(r, "own_gil_counts_in_module_state", "cp313t-tsan", scenario);
        assert_eq!(twin["outcome"], "pass", "{}", line(twin));
    }
    assert_eq!(run.status, 0, "{}\n{}", run.stdout, run.stderr);
}
