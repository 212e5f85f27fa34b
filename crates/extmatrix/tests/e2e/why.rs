//! Why a cell failed, end to end: matrices/why.yaml (a fixture per defect,
//! the clean twin beside it) on cp311, cp312, cp313 and cp313t, with the
//! user's build cache (`just setup` builds cp313t). Each cell must give
//! exactly its outcome and reason code; crash cells carry their forensics,
//! clobbered cells their step, a broken promise its declaration.

use crate::common::*;
use serde_json::Value;

const PYTHONS: [&str; 4] = ["cp311", "cp312", "cp313", "cp313t"];

/// Per (fixture, scenario), `outcome[reason]` per interpreter of PYTHONS.
/// Each fixture's header comment says why.
const EXPECTED: [(&str, &str, [&str; 4]); 72] = [
    (
        "value_in_a_c_global",
        "import",
        ["pass", "pass", "pass", "pass"],
    ),
    (
        "value_in_a_c_global",
        "reinit",
        ["pass", "pass", "pass", "pass"],
    ),
    (
        "value_in_a_c_global",
        "reimport",
        [
            "state-clobbered",
            "state-clobbered",
            "state-clobbered",
            "state-clobbered",
        ],
    ),
    (
        "value_in_a_c_global",
        "subinterp-legacy",
        [
            "state-clobbered",
            "state-clobbered",
            "state-clobbered",
            "refused[subinterp-refused-free-threaded]",
        ],
    ),
    (
        "value_in_a_c_global",
        "subinterp-shared",
        [
            "n/a",
            "refused[subinterp-refused]",
            "refused[subinterp-refused]",
            "refused[subinterp-refused]",
        ],
    ),
    (
        "value_in_a_c_global",
        "subinterp-own",
        [
            "n/a",
            "refused[subinterp-refused]",
            "refused[subinterp-refused]",
            "refused[subinterp-refused]",
        ],
    ),
    (
        "value_via_find_module",
        "import",
        ["pass", "pass", "pass", "pass"],
    ),
    (
        "value_via_find_module",
        "reinit",
        ["pass", "pass", "pass", "pass"],
    ),
    (
        "value_via_find_module",
        "reimport",
        [
            "state-clobbered",
            "state-clobbered",
            "state-clobbered",
            "state-clobbered",
        ],
    ),
    (
        "value_via_find_module",
        "subinterp-legacy",
        [
            "pass",
            "pass",
            "pass",
            "refused[subinterp-refused-free-threaded]",
        ],
    ),
    (
        "value_via_find_module",
        "subinterp-shared",
        [
            "n/a",
            "refused[subinterp-refused]",
            "refused[subinterp-refused]",
            "refused[subinterp-refused]",
        ],
    ),
    (
        "value_via_find_module",
        "subinterp-own",
        [
            "n/a",
            "refused[subinterp-refused]",
            "refused[subinterp-refused]",
            "refused[subinterp-refused]",
        ],
    ),
    (
        "own_gil_value_in_a_c_global",
        "import",
        ["pass", "pass", "pass", "pass"],
    ),
    (
        "own_gil_value_in_a_c_global",
        "reinit",
        ["pass", "pass", "pass", "pass"],
    ),
    (
        "own_gil_value_in_a_c_global",
        "reimport",
        [
            "state-clobbered",
            "declaration-mismatch",
            "declaration-mismatch",
            "declaration-mismatch",
        ],
    ),
    (
        "own_gil_value_in_a_c_global",
        "subinterp-legacy",
        [
            "state-clobbered",
            "declaration-mismatch",
            "declaration-mismatch",
            "declaration-mismatch",
        ],
    ),
    (
        "own_gil_value_in_a_c_global",
        "subinterp-shared",
        [
            "n/a",
            "declaration-mismatch",
            "declaration-mismatch",
            "declaration-mismatch",
        ],
    ),
    (
        "own_gil_value_in_a_c_global",
        "subinterp-own",
        [
            "n/a",
            "declaration-mismatch",
            "declaration-mismatch",
            "declaration-mismatch",
        ],
    ),
    (
        "value_in_module_state",
        "import",
        ["pass", "pass", "pass", "pass"],
    ),
    (
        "value_in_module_state",
        "reinit",
        ["pass", "pass", "pass", "pass"],
    ),
    (
        "value_in_module_state",
        "reimport",
        ["pass", "pass", "pass", "pass"],
    ),
    (
        "value_in_module_state",
        "subinterp-legacy",
        ["pass", "pass", "pass", "pass"],
    ),
    (
        "value_in_module_state",
        "subinterp-shared",
        ["n/a", "pass", "pass", "pass"],
    ),
    (
        "value_in_module_state",
        "subinterp-own",
        ["n/a", "pass", "pass", "pass"],
    ),
    (
        "counts_in_a_c_global",
        "import",
        ["pass", "pass", "pass", "pass"],
    ),
    (
        "counts_in_a_c_global",
        "reinit",
        [
            "state-clobbered",
            "declaration-mismatch",
            "declaration-mismatch",
            "declaration-mismatch",
        ],
    ),
    (
        "counts_in_a_c_global",
        "reimport",
        [
            "state-clobbered",
            "declaration-mismatch",
            "declaration-mismatch",
            "declaration-mismatch",
        ],
    ),
    (
        "counts_in_a_c_global",
        "subinterp-legacy",
        [
            "state-clobbered",
            "declaration-mismatch",
            "declaration-mismatch",
            "declaration-mismatch",
        ],
    ),
    (
        "counts_in_a_c_global",
        "subinterp-shared",
        [
            "n/a",
            "declaration-mismatch",
            "declaration-mismatch",
            "declaration-mismatch",
        ],
    ),
    (
        "counts_in_a_c_global",
        "subinterp-own",
        [
            "n/a",
            "declaration-mismatch",
            "declaration-mismatch",
            "declaration-mismatch",
        ],
    ),
    (
        "declares_no_gil_loads_one_that_needs_it",
        "import",
        [
            "pass",
            "pass",
            "pass",
            "declaration-mismatch[gil-reenabled]",
        ],
    ),
    (
        "declares_no_gil_loads_one_that_needs_it",
        "reinit",
        [
            "pass",
            "pass",
            "pass",
            "declaration-mismatch[gil-reenabled]",
        ],
    ),
    (
        "declares_no_gil_loads_one_that_needs_it",
        "reimport",
        [
            "pass",
            "pass",
            "pass",
            "declaration-mismatch[gil-reenabled]",
        ],
    ),
    (
        "declares_no_gil_loads_one_that_needs_it",
        "subinterp-legacy",
        [
            "pass",
            "pass",
            "pass",
            "import-error[subinterp-refused-free-threaded]",
        ],
    ),
    (
        "declares_no_gil_loads_one_that_needs_it",
        "subinterp-shared",
        [
            "n/a",
            "import-error[subinterp-refused]",
            "import-error[subinterp-refused]",
            "import-error[subinterp-refused]",
        ],
    ),
    (
        "declares_no_gil_loads_one_that_needs_it",
        "subinterp-own",
        [
            "n/a",
            "refused[subinterp-refused]",
            "refused[subinterp-refused]",
            "declaration-mismatch[gil-reenabled]",
        ],
    ),
    (
        "declares_no_gil_but_sets_gil_used",
        "import",
        ["pass", "pass", "pass", "pass"],
    ),
    (
        "declares_no_gil_but_sets_gil_used",
        "reinit",
        ["pass", "pass", "pass", "pass"],
    ),
    (
        "declares_no_gil_but_sets_gil_used",
        "reimport",
        ["pass", "pass", "pass", "pass"],
    ),
    (
        "declares_no_gil_but_sets_gil_used",
        "subinterp-legacy",
        ["pass", "pass", "pass", "pass"],
    ),
    (
        "declares_no_gil_but_sets_gil_used",
        "subinterp-shared",
        ["n/a", "pass", "pass", "pass"],
    ),
    (
        "declares_no_gil_but_sets_gil_used",
        "subinterp-own",
        ["n/a", "pass", "pass", "pass"],
    ),
    (
        "exits_in_subinterp",
        "import",
        ["pass", "pass", "pass", "pass"],
    ),
    (
        "exits_in_subinterp",
        "reinit",
        ["pass", "pass", "pass", "pass"],
    ),
    (
        "exits_in_subinterp",
        "reimport",
        ["pass", "pass", "pass", "pass"],
    ),
    (
        "exits_in_subinterp",
        "subinterp-legacy",
        [
            "crash[ended-by-target]",
            "crash[ended-by-target]",
            "crash[ended-by-target]",
            "crash[ended-by-target]",
        ],
    ),
    (
        "exits_in_subinterp",
        "subinterp-shared",
        [
            "n/a",
            "crash[ended-by-target]",
            "crash[ended-by-target]",
            "crash[ended-by-target]",
        ],
    ),
    (
        "exits_in_subinterp",
        "subinterp-own",
        [
            "n/a",
            "crash[ended-by-target]",
            "crash[ended-by-target]",
            "crash[ended-by-target]",
        ],
    ),
    (
        "fatal_error_on_second_exec",
        "import",
        ["pass", "pass", "pass", "pass"],
    ),
    (
        "fatal_error_on_second_exec",
        "reinit",
        [
            "crash[ended-by-target]",
            "crash[ended-by-target]",
            "crash[ended-by-target]",
            "crash[ended-by-target]",
        ],
    ),
    (
        "fatal_error_on_second_exec",
        "reimport",
        [
            "crash[ended-by-target]",
            "crash[ended-by-target]",
            "crash[ended-by-target]",
            "crash[ended-by-target]",
        ],
    ),
    (
        "fatal_error_on_second_exec",
        "subinterp-legacy",
        [
            "crash[ended-by-target]",
            "crash[ended-by-target]",
            "crash[ended-by-target]",
            "refused[subinterp-refused-free-threaded]",
        ],
    ),
    (
        "fatal_error_on_second_exec",
        "subinterp-shared",
        [
            "n/a",
            "refused[subinterp-refused]",
            "refused[subinterp-refused]",
            "refused[subinterp-refused]",
        ],
    ),
    (
        "fatal_error_on_second_exec",
        "subinterp-own",
        [
            "n/a",
            "refused[subinterp-refused]",
            "refused[subinterp-refused]",
            "refused[subinterp-refused]",
        ],
    ),
    (
        "skips_its_type_on_reinit",
        "import",
        ["pass", "pass", "pass", "pass"],
    ),
    (
        "skips_its_type_on_reinit",
        "reinit",
        [
            "state-clobbered[lost-attributes]",
            "state-clobbered[lost-attributes]",
            "state-clobbered[lost-attributes]",
            "state-clobbered[lost-attributes]",
        ],
    ),
    (
        "skips_its_type_on_reinit",
        "reimport",
        [
            "shared-state",
            "shared-state",
            "shared-state",
            "shared-state",
        ],
    ),
    (
        "skips_its_type_on_reinit",
        "subinterp-legacy",
        [
            "shared-state",
            "shared-state",
            "shared-state",
            "refused[subinterp-refused-free-threaded]",
        ],
    ),
    (
        "skips_its_type_on_reinit",
        "subinterp-shared",
        [
            "n/a",
            "refused[subinterp-refused]",
            "refused[subinterp-refused]",
            "refused[subinterp-refused]",
        ],
    ),
    (
        "skips_its_type_on_reinit",
        "subinterp-own",
        [
            "n/a",
            "refused[subinterp-refused]",
            "refused[subinterp-refused]",
            "refused[subinterp-refused]",
        ],
    ),
    (
        "imports_datetime",
        "import",
        ["pass", "pass", "pass", "pass"],
    ),
    (
        "imports_datetime",
        "reinit",
        ["pass", "crash[also-without-target]", "pass", "pass"],
    ),
    (
        "imports_datetime",
        "reimport",
        ["pass", "pass", "pass", "pass"],
    ),
    (
        "imports_datetime",
        "subinterp-legacy",
        ["pass", "pass", "pass", "pass"],
    ),
    (
        "imports_datetime",
        "subinterp-shared",
        ["n/a", "pass", "pass", "pass"],
    ),
    (
        "imports_datetime",
        "subinterp-own",
        ["n/a", "pass", "pass", "pass"],
    ),
    (
        "imports_datetime_beside_a_runtime",
        "import",
        ["pass", "pass", "pass", "pass"],
    ),
    (
        "imports_datetime_beside_a_runtime",
        "reinit",
        ["pass", "crash[also-without-target]", "pass", "pass"],
    ),
    (
        "imports_datetime_beside_a_runtime",
        "reimport",
        ["pass", "pass", "pass", "pass"],
    ),
    (
        "imports_datetime_beside_a_runtime",
        "subinterp-legacy",
        ["pass", "pass", "pass", "pass"],
    ),
    (
        "imports_datetime_beside_a_runtime",
        "subinterp-shared",
        ["n/a", "pass", "pass", "pass"],
    ),
    (
        "imports_datetime_beside_a_runtime",
        "subinterp-own",
        ["n/a", "pass", "pass", "pass"],
    ),
];

fn run_why(args: &[&str]) -> Run {
    run_matrix_with_cache(&repo_root().join("matrices/why.yaml"), args, None)
}

fn outcome_and_reason(cell: &Value) -> String {
    match cell["details"]["reason"].as_str() {
        Some(reason) => format!("{}[{reason}]", cell["outcome"].as_str().unwrap()),
        None => cell["outcome"].as_str().unwrap().to_owned(),
    }
}

#[test]
fn every_fixture_gets_its_outcome_and_reason_and_says_why() {
    let run = run_why(&[]);
    let report = &run.report;
    assert_eq!(cells(report).len(), EXPECTED.len() * PYTHONS.len());
    let mut wrong = Vec::new();
    for (target, scenario, row) in EXPECTED {
        for (python, want) in PYTHONS.iter().zip(row) {
            let got = outcome_and_reason(cell(report, target, python, scenario));
            if got != want {
                wrong.push(format!(
                    "{target} × {python} × {scenario}: got {got}, want {want}"
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // The interpreter's own crash is the only failure left standing...
    assert_eq!(run.status, 1, "the targets' own crashes fail the run");

    // A crash names the fixture's function among its C frames, the fatal
    // message and the step.
    let fatal = &cell(report, "fatal_error_on_second_exec", "cp313", "reinit")["details"];
    assert_eq!(fatal["signal"], "SIGABRT");
    assert_eq!(fatal["step"], "cycle 2: import");
    assert_eq!(
        fatal["fatal_error"],
        "fatal_error_on_second_exec_exec: fatal_error_on_second_exec: exec ran a second time"
    );
    let frames = fatal["forensics"]["c"].as_str().unwrap_or_default();
    assert!(
        frames
            .lines()
            .any(|l| l.starts_with('#') && l.contains("in fatal_error_on_second_exec_exec ")),
        "no C frame names the fixture's exec: {frames}"
    );
    let exited = &cell(report, "exits_in_subinterp", "cp313", "subinterp-own")["details"];
    assert_eq!(exited["exit_code"], 3);
    assert_eq!(exited["step"], "subinterp own: import");

    // Clobbering is found where the first instance is used again.
    let clobbered = &cell(report, "value_in_a_c_global", "cp313", "reimport")["details"];
    assert!(
        clobbered["summary"]
            .as_str()
            .unwrap()
            .contains("`reimport: smoke old instance`: changed by another instance"),
        "{clobbered}"
    );
    let promised = &cell(
        report,
        "own_gil_value_in_a_c_global",
        "cp313",
        "subinterp-own",
    )["details"];
    assert!(
        promised["summary"]
            .as_str()
            .unwrap()
            .starts_with("declares `Py_mod_multiple_interpreters = per-interpreter-gil` yet"),
        "{promised}"
    );

    // The GIL's broken promise names the module that turned it on.
    let gil = &cell(
        report,
        "declares_no_gil_loads_one_that_needs_it",
        "cp313t",
        "import",
    )["details"];
    assert_eq!(gil["declared"]["gil"], "not-used");
    assert!(
        gil["summary"]
            .as_str()
            .unwrap()
            .contains("to load module 'needs_the_gil'"),
        "{gil}"
    );

    // The static scan finds the C global no identity check can see.
    let globals_of = |target: &str| -> Vec<String> {
        report["images"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["target"] == target && i["python"] == "cp313")
            .unwrap()["writable_globals"]
            .as_array()
            .map(|g| {
                g.iter()
                    .map(|g| format!("{} {}", g["name"], g["section"]))
                    .collect()
            })
            .unwrap_or_default()
    };
    assert!(
        globals_of("own_gil_value_in_a_c_global").contains(&r#""remembered" ".bss""#.to_owned()),
        "{:?}",
        globals_of("own_gil_value_in_a_c_global")
    );
    assert!(!globals_of("value_in_module_state")
        .iter()
        .any(|g| g.contains("remembered")));

    // CPython's own re-init crash: the control crashed the same way.
    let datetime = &cell(report, "imports_datetime", "cp312", "reinit")["details"];
    assert_eq!(datetime["control"]["outcome"], "crash", "{datetime}");
    assert!(
        datetime["control"]["imports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m == "datetime"),
        "{datetime}"
    );
    // A sys.modules entry only the target's init can make (Cython's shared
    // runtime module) is no import of the control's: it still crashes
    // the same way, and the module is not blamed.
    let beside = &cell(
        report,
        "imports_datetime_beside_a_runtime",
        "cp312",
        "reinit",
    );
    assert_eq!(beside["outcome"], "crash", "{beside}");
    assert_eq!(
        beside["details"]["reason"], "also-without-target",
        "{beside}"
    );
    let imports = beside["details"]["control"]["imports"].as_array().unwrap();
    assert!(imports.iter().any(|m| m == "datetime"), "{beside}");
    assert!(!imports.iter().any(|m| m == "_beside_runtime"), "{beside}");
    assert!(
        run.stdout.contains("* also without the target"),
        "the table explains its mark: {}",
        run.stdout
    );
}

#[test]
fn a_failure_the_interpreter_shares_does_not_fail_the_run() {
    let run = run_why(&["--target", "imports_datetime", "--python", "cp312"]);
    let datetime = cell(&run.report, "imports_datetime", "cp312", "reinit");
    assert_eq!(outcome_and_reason(datetime), "crash[also-without-target]");
    assert_eq!(run.status, 0, "{}", run.stdout);
}
