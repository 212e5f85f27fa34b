//! Expectations, baselines and the run's status, on the default matrix
//! (whose fixtures crash, hang and fail on purpose) and on a copy of it
//! whose fixtures are edited to fail otherwise: the exit status follows
//! `--expect`, `--baseline` and `--fail-on`, and what cannot be compared
//! or matches nothing is refused before anything runs.

use crate::common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The default matrix's deliberate failures on 3.12+ (its header
/// comments), as an expectations file would name them.
const DELIBERATE_FAILURES: &str = r#"
static_type_liar: {"subinterp-*": declaration-mismatch}
crash_on_reinit:
  reinit: crash
  subinterp-legacy: declaration-mismatch
  subinterp-shared: declaration-mismatch
hang_in_subinterp: {"subinterp-*": hang}
exec_fails_on_reimport:
  "re*": [declaration-mismatch, state-clobbered]
  "subinterp-legacy": [declaration-mismatch, state-clobbered]
  "subinterp-shared": [declaration-mismatch, state-clobbered]
heap_type_in_a_global: {"subinterp-*": declaration-mismatch}
"#;

/// `text` as `dir/name`, its path as a string.
fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

/// The default matrix and its fixtures copied into `dir` (same layout), to
/// edit; the matrix's path.
fn copy_of_default_matrix(dir: &Path) -> PathBuf {
    let fixtures = dir.join("harness-c/fixtures");
    std::fs::create_dir_all(&fixtures).unwrap();
    std::fs::create_dir_all(dir.join("matrices")).unwrap();
    for entry in std::fs::read_dir(fixture("")).unwrap().flatten() {
        std::fs::copy(entry.path(), fixtures.join(entry.file_name())).unwrap();
    }
    let matrix = dir.join("matrices/default.yaml");
    std::fs::copy(repo_root().join("matrices/default.yaml"), &matrix).unwrap();
    matrix
}

/// Replace `old` (which must be there) by `new` in the fixture `name` of `dir`.
fn edit_fixture(dir: &Path, name: &str, old: &str, new: &str) {
    let path = dir.join("harness-c/fixtures").join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(old), "{name} has no {old:?}");
    std::fs::write(&path, text.replacen(old, new, 1)).unwrap();
}

/// The cells (target, python, scenario) whose change is `change`.
fn cells_changed(report: &Value, change: &str) -> Vec<(String, String, String)> {
    cells(report)
        .iter()
        .filter(|c| c["change"]["change"] == change)
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap().to_owned();
            (s("target"), s("python"), s("scenario"))
        })
        .collect()
}

#[test]
fn expected_failures_pass_the_run_and_other_failures_or_regressions_fail_it() {
    let dir = tempfile::tempdir().unwrap();
    let expected = write(dir.path(), "expected.yaml", DELIBERATE_FAILURES);
    let timeout = ["--python", "cp312", "--timeout", "3"];

    // (a) Every deliberate failure expected: exit 0.
    let default = repo_root().join("matrices/default.yaml");
    let mut args = timeout.to_vec();
    args.extend(["--expect", &expected]);
    let a = run_matrix(&default, &args);
    assert_eq!(a.status, 0, "{}\n{}", a.stdout, a.stderr);
    let crash = cell(&a.report, "crash_on_reinit", "cp312", "reinit");
    assert_eq!(crash["outcome"], "crash");
    assert_eq!(crash["expectation"]["status"], "met");
    assert_eq!(
        crash["expectation"]["expected"],
        serde_json::json!(["crash"])
    );
    assert_eq!(crash["expectation"]["from"][0], format!("{expected}:4:3"));
    assert!(a.stdout.contains("┆ crash✓ "), "{}", a.stdout);
    assert_eq!(a.report["status"]["exit_code"], 0);
    let hangs = cells(&a.report)
        .iter()
        .filter(|c| c["outcome"] == "hang")
        .count();
    assert_eq!(
        hangs,
        3,
        "the run has its failures:\n{}",
        outcome_lines(&a.report)
    );
    let baseline = write(dir.path(), "baseline.json", &a.report.to_string());

    // The fixtures edited: crash_on_reinit hangs where it crashed (a worse
    // failure than expected); isolated_ok crashes in a re-initialized
    // interpreter (a passing cell regresses).
    let copy = copy_of_default_matrix(dir.path());
    edit_fixture(
        dir.path(),
        "crash_on_reinit.c",
        "        /* After a finalize this is the faulting access. */",
        "        for (;;) pause();",
    );
    edit_fixture(
        dir.path(),
        "crash_on_reinit.c",
        "#include <Python.h>",
        "#include <Python.h>\n#include <unistd.h>",
    );
    edit_fixture(
        dir.path(),
        "isolated_ok.c",
        "#include <Python.h>",
        "#include <Python.h>\n#include <signal.h>\nstatic int finalized;\nstatic void note_finalized(void) { finalized = 1; }",
    );
    edit_fixture(
        dir.path(),
        "isolated_ok.c",
        "    module_state *st = get_state(module);\n    st->counter = 0;",
        "    static int registered;\n    if (finalized) raise(SIGSEGV);\n    if (!registered) { registered = 1; Py_AtExit(note_finalized); }\n    module_state *st = get_state(module);\n    st->counter = 0;",
    );

    // (b) A failure other than the one expected: exit 1, the cell unexpected.
    let mut args = timeout.to_vec();
    args.extend(["--expect", &expected, "--target", "crash_on_reinit"]);
    let b = run_matrix(&copy, &args);
    assert_eq!(b.status, 1, "{}\n{}", b.stdout, b.stderr);
    let hang = cell(&b.report, "crash_on_reinit", "cp312", "reinit");
    assert_eq!(hang["outcome"], "hang", "{}", outcome_lines(&b.report));
    assert_eq!(hang["expectation"]["status"], "unexpected");
    assert!(
        b.stdout.contains("┆ hang (expected crash) "),
        "{}",
        b.stdout
    );
    let because = b.report["status"]["because"][0].as_str().unwrap();
    assert!(
        because.contains("crash_on_reinit cp312/reinit: hang, expected crash"),
        "{because}"
    );

    // (c) Against the baseline: exactly the cell that got worse regressed.
    let regression = |fail_on: &str| {
        let mut args = timeout.to_vec();
        args.extend(["--target", "isolated_ok,static_type_liar"]);
        args.extend(["--baseline", &baseline, "--fail-on", fail_on]);
        run_matrix(&copy, &args)
    };
    let c = regression("regression");
    assert_eq!(c.status, 1, "{}\n{}", c.stdout, c.stderr);
    let reinit = (
        "isolated_ok".to_owned(),
        "cp312".to_owned(),
        "reinit".to_owned(),
    );
    assert_eq!(
        cells_changed(&c.report, "regressed"),
        std::slice::from_ref(&reinit),
        "{}",
        c.stdout
    );
    assert_eq!(
        cells_changed(&c.report, "unchanged").len(),
        11,
        "{}",
        c.stdout
    );
    assert!(c.stdout.contains("┆ crash (was pass) "), "{}", c.stdout);
    let findings = c.report["findings"].as_array().unwrap();
    let regressed = findings
        .iter()
        .find(|f| f["target"] == "isolated_ok")
        .expect("the new crash is a finding");
    assert_eq!(regressed["fails_run"], true);
    assert!(
        findings
            .iter()
            .filter(|f| f["target"] != "isolated_ok")
            .all(|f| f["fails_run"] == false),
        "under --fail-on regression only what got worse fails: {findings:#?}"
    );
    assert!(
        c.stdout
            .lines()
            .any(|l| l.starts_with("  crash · isolated_ok · ")
                && l.contains(" (regressed) — reinit on cp312")),
        "{}",
        c.stdout
    );
    assert!(
        c.stdout.contains(&format!(
            "1 cell regressed since {baseline}: isolated_ok cp312/reinit: crash, was pass"
        )),
        "{}",
        c.stdout
    );
    let never = regression("never");
    assert_eq!(never.status, 0, "{}\n{}", never.stdout, never.stderr);
    assert_eq!(cells_changed(&never.report, "regressed"), [reinit]);
}

#[test]
fn a_baseline_of_another_version_or_of_an_interrupted_run_is_refused() {
    use extmatrix_schema::{Interruption, Report, SCHEMA_VERSION};
    let dir = tempfile::tempdir().unwrap();
    let mut report = Report::new("m.yaml".into(), vec![], vec![], 0);
    let mut newer = serde_json::to_value(&report).unwrap();
    newer["schema_version"] = (SCHEMA_VERSION + 1).into();
    let newer = write(dir.path(), "newer.json", &newer.to_string());
    report.interrupted = Some(Interruption {
        signal: "SIGTERM".into(),
        not_run: vec![],
    });
    let cut = write(
        dir.path(),
        "cut.json",
        &serde_json::to_string(&report).unwrap(),
    );
    let json = dir.path().join("report.json");
    let matrix = repo_root().join("matrices/default.yaml");
    for (baseline, message) in [
        (
            &newer,
            format!(
                "{newer} was written by schema_version {}, this extmatrix reads {SCHEMA_VERSION}: \
                 run the matrix again with this version, or read it with the extmatrix that \
                 wrote it",
                SCHEMA_VERSION + 1
            ),
        ),
        (
            &cut,
            format!("{cut} is of an interrupted run (SIGTERM): 0 cells did not run; use a complete run as the baseline"),
        ),
    ] {
        let out = extmatrix(&[
            "run",
            matrix.to_str().unwrap(),
            "--baseline",
            baseline,
            "--json",
            json.to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(&message), "{stderr}");
        assert!(!json.exists(), "nothing ran");
    }
    let out = extmatrix(&["run", matrix.to_str().unwrap(), "--fail-on", "regression"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("give --baseline FILE"));
}

#[test]
fn an_expectation_matching_no_cell_is_refused_where_it_stands() {
    let (dir, matrix) = temp_matrix(
        "pythons: [cp311, cp312]\nscenarios: [import, reinit]\ntargets:\n  - name: ok\n    c: {fixtures}/isolated_ok.c\n    expect: {reinit: crash, \"cp313/*\": crash}\n",
    );
    let json = dir.path().join("report.json");
    let out = extmatrix(&[
        "run",
        matrix.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "{}:6:29: `cp313/*` matches no cell of target `ok`",
            matrix.display()
        )),
        "{stderr}"
    );
    assert!(!json.exists(), "nothing ran");

    // From an expectations file: its own file:line:col, and unknown targets.
    let (dir, matrix) = temp_matrix(
        "pythons: [cp311, cp312]\nscenarios: [import, reinit]\ntargets:\n  - name: ok\n    c: {fixtures}/isolated_ok.c\n",
    );
    for (text, error) in [
        (
            "ok:\n  \"*/subinterp-*\": refused\n",
            ":2:3: `*/subinterp-*` matches no cell of target `ok`",
        ),
        ("other: {reinit: crash}\n", ":1:1: no target `other` in"),
    ] {
        let file = write(dir.path(), "expected.yaml", text);
        let out = extmatrix(&["run", matrix.to_str().unwrap(), "--expect", &file]);
        assert_eq!(out.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(&format!("{file}{error}")), "{stderr}");
    }
}

#[test]
fn filters_leave_an_expectation_nothing_to_apply_to_and_a_wrong_module_fails_the_run() {
    let (dir, matrix) = temp_matrix(
        "pythons: [cp311, cp312]\nscenarios: [import, reinit]\ntargets:\n  - name: ok\n    c: {fixtures}/isolated_ok.c\n    expect: {\"cp311/reinit\": crash}\n",
    );
    let only = ["--python", "cp312", "--scenario", "import"];
    let run = run_matrix(&matrix, &only);
    assert_eq!(run.status, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(cell(&run.report, "ok", "cp312", "import")["expectation"].is_null());

    let file = write(
        dir.path(),
        "expected.yaml",
        "ok: {\"isolated_okk/*/import\": pass}\n",
    );
    let mut args = only.to_vec();
    args.extend(["--expect", &file]);
    let run = run_matrix(&matrix, &args);
    assert_eq!(run.status, 1, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        run.report["status"]["because"][0],
        format!("{file}:1:6: `isolated_okk/*/import` of target `ok` matched no module it built")
    );
}
