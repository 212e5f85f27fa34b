//! The default matrix, end to end on the real interpreters of the machine:
//! every fixture gets exactly its documented outcome in every cell.

use crate::common::*;
use serde_json::Value;

/// Per fixture, the outcome per scenario (in SCENARIOS order) on 3.12+.
/// On 3.11 the isolated-subinterpreter scenarios are n/a.
const EXPECTED: [(&str, [&str; 6]); 9] = [
    (
        "isolated_ok",
        ["pass", "pass", "pass", "pass", "pass", "pass"],
    ),
    (
        "legacy_single",
        [
            "pass",
            "pass",
            "shared-state",
            "shared-state",
            "refused",
            "refused",
        ],
    ),
    (
        "static_type_liar",
        [
            "pass",
            "pass",
            "shared-state",
            "declaration-mismatch",
            "declaration-mismatch",
            "declaration-mismatch",
        ],
    ),
    (
        "crash_on_reinit",
        [
            "pass",
            "crash",
            "shared-state",
            "declaration-mismatch",
            "declaration-mismatch",
            "refused",
        ],
    ),
    (
        "hang_in_subinterp",
        ["pass", "pass", "pass", "hang", "hang", "hang"],
    ),
    (
        "exec_fails_on_reimport",
        [
            "pass",
            "declaration-mismatch|state-clobbered",
            "declaration-mismatch|state-clobbered",
            "declaration-mismatch|state-clobbered",
            "declaration-mismatch|state-clobbered",
            "refused",
        ],
    ),
    (
        "keeps_a_dependency",
        ["pass", "pass", "pass", "pass", "pass", "pass"],
    ),
    (
        "heap_type_in_a_global",
        [
            "pass",
            "pass",
            "shared-state",
            "declaration-mismatch",
            "declaration-mismatch",
            "declaration-mismatch",
        ],
    ),
    (
        "same_module_on_reimport",
        ["pass", "pass", "shared-state", "pass", "refused", "refused"],
    ),
];

const TIMEOUT_S: u64 = 3;

/// On 3.11 the isolated-subinterpreter scenarios are n/a, and a module
/// cannot declare `Py_mod_multiple_interpreters` (3.12+): what is a broken
/// promise on 3.12+ is plain shared state there (or, written `A|B`, B).
fn expected(target_row: &[&'static str; 6], python: &str, scenario_index: usize) -> &'static str {
    let isolated = SCENARIOS[scenario_index].starts_with("subinterp-")
        && SCENARIOS[scenario_index] != "subinterp-legacy";
    let (want, on_311) = match target_row[scenario_index].split_once('|') {
        Some((want, on_311)) => (want, on_311),
        None if target_row[scenario_index] == "declaration-mismatch" => {
            ("declaration-mismatch", "shared-state")
        }
        None => (target_row[scenario_index], target_row[scenario_index]),
    };
    match python {
        "cp311" if isolated => "n/a",
        "cp311" => on_311,
        _ => want,
    }
}

fn shared_paths(cell: &Value) -> Vec<(String, String)> {
    cell["details"]["shared_objects"]
        .as_array()
        .map(|objs| {
            objs.iter()
                .map(|o| {
                    (
                        o["path"].as_str().unwrap().to_owned(),
                        o["lives"].as_str().unwrap().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn every_fixture_gets_its_outcome_on_every_interpreter() {
    let matrix = repo_root().join("matrices/default.yaml");
    let run = run_matrix(&matrix, &["--timeout", &TIMEOUT_S.to_string()]);
    let report = &run.report;

    assert_eq!(report["schema_version"], 1);
    let ids: Vec<&str> = report["pythons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, PYTHONS);
    assert_eq!(
        report["cells"].as_array().unwrap().len(),
        EXPECTED.len() * PYTHONS.len() * SCENARIOS.len()
    );

    let mut wrong = Vec::new();
    for (target, row) in &EXPECTED {
        for python in PYTHONS {
            for (i, scenario) in SCENARIOS.iter().enumerate() {
                let c = cell(report, target, python, scenario);
                let want = expected(row, python, i);
                if c["outcome"] != want {
                    wrong.push(format!(
                        "{target} × {python} × {scenario}: got {} ({}), want {want}",
                        c["outcome"], c["details"]["summary"]
                    ));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "wrong outcomes:\n{}\n\ntable:\n{}",
        wrong.join("\n"),
        run.stdout
    );

    // crash, hang and import-error cells make the run fail.
    assert_eq!(run.status, 1, "stderr: {}", run.stderr);
    // One line for the crash on every interpreter, keyed by its signal and
    // step action (not the cycle).
    assert_eq!(
        run.stdout
            .matches("  crash · crash_on_reinit · SIGSEGV in `import` — reinit on cp311–cp313\n")
            .count(),
        1,
        "{}",
        run.stdout
    );
}

#[test]
fn crash_is_attributed_to_its_signal_and_step() {
    let matrix = repo_root().join("matrices/default.yaml");
    let run = run_matrix(
        &matrix,
        &["--target", "crash_on_reinit", "--scenario", "reinit"],
    );
    for python in PYTHONS {
        let c = cell(&run.report, "crash_on_reinit", python, "reinit");
        assert_eq!(c["outcome"], "crash", "{python}: {c}");
        assert_eq!(c["details"]["signal"], "SIGSEGV", "{python}");
        assert_eq!(c["details"]["step"], "cycle 2: import", "{python}");
        // The first cycle completed and reported its figures.
        assert_eq!(
            c["details"]["cycles"].as_array().unwrap().len(),
            1,
            "{python}"
        );
    }
}

#[test]
fn hang_is_killed_within_timeout_plus_five_seconds() {
    let matrix = repo_root().join("matrices/default.yaml");
    let run = run_matrix(
        &matrix,
        &[
            "--target",
            "hang_in_subinterp",
            "--scenario",
            "subinterp-own,subinterp-legacy",
            "--python",
            "cp313",
            "--timeout",
            "2",
        ],
    );
    for scenario in ["subinterp-own", "subinterp-legacy"] {
        let c = cell(&run.report, "hang_in_subinterp", "cp313", scenario);
        assert_eq!(c["outcome"], "hang", "{c}");
        let label = scenario.trim_start_matches("subinterp-");
        assert_eq!(c["details"]["step"], format!("subinterp {label}: import"));
        let ms = c["duration_ms"].as_u64().unwrap();
        assert!(
            (2000..7000).contains(&ms),
            "hang took {ms} ms for a 2 s timeout"
        );
        // Every thread's stacks, taken just before the kill: the C frames
        // name the fixture's exec, where it waits for its lock forever.
        let stacks = &c["details"]["forensics"];
        // Asked with the dump signal (nothing took SIGRTMAX here).
        assert_eq!(stacks["signal"], "SIGRTMAX", "{c}");
        let frames = stacks["c"].as_str().unwrap_or_default();
        assert!(
            frames
                .lines()
                .any(|l| l.starts_with('#') && l.contains("in hang_in_subinterp_exec ")),
            "{frames}"
        );
        // The Python stack is the import system's, loading the module.
        assert!(
            stacks["python"]
                .as_str()
                .unwrap_or_default()
                .contains("in _find_and_load"),
            "{c}"
        );
    }
}

#[test]
fn shared_objects_name_path_type_and_where_they_live() {
    let matrix = repo_root().join("matrices/default.yaml");
    let run = run_matrix(
        &matrix,
        &[
            "--target",
            "legacy_single,static_type_liar,isolated_ok,same_module_on_reimport,keeps_a_dependency,heap_type_in_a_global",
            "--scenario",
            "reimport,subinterp-own",
        ],
    );
    let report = &run.report;
    for python in PYTHONS {
        // The _collections.deque story: the static type survives del sys.modules.
        let legacy = shared_paths(cell(report, "legacy_single", python, "reimport"));
        assert!(
            legacy.contains(&("Widget".into(), "extension".into())),
            "{python}: {legacy:?}"
        );
        let liar = shared_paths(cell(report, "static_type_liar", python, "reimport"));
        assert_eq!(
            liar.first(),
            Some(&("Thing".into(), "extension".into())),
            "{python}: {liar:?}"
        );
        // A well-isolated module shares nothing; what sits at the same
        // address is CPython's own (None, interned names) and is ignored.
        let ok = cell(report, "isolated_ok", python, "reimport");
        assert!(shared_paths(ok).is_empty(), "{python}: {ok}");
        assert!(
            ok["details"]["core_objects_ignored"].as_u64().unwrap() > 0,
            "{python}: {ok}"
        );
        // The dependency a re-import keeps is the interpreter's module.
        let keeps = cell(report, "keeps_a_dependency", python, "reimport");
        assert!(shared_paths(keeps).is_empty(), "{python}: {keeps}");
        // A module handed back again: said first, as what it is.
        let same = cell(report, "same_module_on_reimport", python, "reimport");
        assert_eq!(
            shared_paths(same).first(),
            Some(&("(module)".into(), "heap".into())),
            "{python}: {same}"
        );
        assert!(
            same["details"]["summary"]
                .as_str()
                .unwrap()
                .starts_with("the module object itself is the same object after re-import"),
            "{python}: {same}"
        );
    }
    // Since 3.13 an extension's static type is immortal; it still counts,
    // because it lives in the extension's image.
    let thing =
        &cell(report, "static_type_liar", "cp313", "subinterp-own")["details"]["shared_objects"][0];
    assert_eq!(thing["path"], "Thing");
    assert_eq!(thing["type"], "type");
    assert_eq!(thing["immortal"], true);
    // Named from the extension's own symbol table: a static, which dladdr
    // cannot name.
    assert_eq!(thing["symbol"], "Thing_Type");
    assert_eq!(thing["section"], ".data");
    // A heap object is named by the C global that keeps it.
    let held = &cell(report, "heap_type_in_a_global", "cp313", "subinterp-own")["details"]
        ["shared_objects"][0];
    assert_eq!(held["path"], "Thing");
    assert_eq!(held["lives"], "heap");
    assert_eq!(held["held_by"], "Thing", "{held}");
    // The static scan: every built module's writable globals, per interpreter.
    let images = report["images"].as_array().unwrap();
    let liar = images
        .iter()
        .find(|i| i["target"] == "static_type_liar" && i["python"] == "cp313")
        .unwrap();
    let globals: Vec<(&str, &str)> = liar["writable_globals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["name"].as_str().unwrap(), g["section"].as_str().unwrap()))
        .collect();
    assert!(globals.contains(&("Thing_Type", ".data")), "{globals:?}");
    assert!(thing["image"]
        .as_str()
        .unwrap()
        .ends_with(".cpython-313-x86_64-linux-gnu.so"));
    // What the module declared is in the details.
    let declared =
        &cell(report, "static_type_liar", "cp313", "subinterp-own")["details"]["declared"];
    assert_eq!(declared["init"], "multi-phase");
    assert_eq!(declared["multiple_interpreters"], "per-interpreter-gil");
    assert_eq!(declared["gil"], "not-used");
}

#[test]
fn reinit_reports_figures_for_every_cycle() {
    let matrix = repo_root().join("matrices/default.yaml");
    let run = run_matrix(
        &matrix,
        &["--target", "isolated_ok", "--scenario", "reinit"],
    );
    assert_eq!(run.status, 0, "{}", run.stdout);
    for python in PYTHONS {
        let c = cell(&run.report, "isolated_ok", python, "reinit");
        let cycles = c["details"]["cycles"].as_array().unwrap();
        assert_eq!(
            cycles.len(),
            5,
            "{python}: cycles from the matrix's options"
        );
        for (i, cycle) in cycles.iter().enumerate() {
            assert_eq!(cycle["n"], i as u64 + 1);
            assert!(cycle["us"].as_u64().unwrap() > 0);
            assert!(cycle["allocated_blocks"].as_i64().unwrap() > 0);
            assert!(cycle["rss_kb"].as_i64().unwrap() > 0);
            assert!(cycle.get("total_refcount").is_none(), "not a debug build");
        }
    }
}
