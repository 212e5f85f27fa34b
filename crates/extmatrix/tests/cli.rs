//! The command line: exit codes, errors that say where and what to do,
//! filters, build failures and misbehaving targets, on real interpreters.

mod common;

use common::*;

fn stderr_of(args: &[&str]) -> (i32, String) {
    let out = extmatrix(args);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_yaml_names_file_line_and_column_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let m = write_matrix(
        dir.path(),
        "pythons: [cp313]\nscenarios: [import]\noptions: { cycles: 2, colour: red }\ntargets:\n  - name: a\n    c: {fixtures}/isolated_ok.c\n",
    );
    let (status, stderr) = stderr_of(&["run", m.to_str().unwrap()]);
    assert_eq!(status, 2, "{stderr}");
    assert!(stderr.contains("matrix.yaml:3:23: "), "{stderr}");
    assert!(stderr.contains("colour"), "{stderr}");
    assert!(stderr.contains("cycles"), "names what is allowed: {stderr}");
}

#[test]
fn unknown_scenario_is_located() {
    let dir = tempfile::tempdir().unwrap();
    let m = write_matrix(
        dir.path(),
        "pythons: [cp313]\nscenarios: [import, subinterp]\ntargets:\n  - name: a\n    c: {fixtures}/isolated_ok.c\n",
    );
    let (status, stderr) = stderr_of(&["run", m.to_str().unwrap()]);
    assert_eq!(status, 2);
    assert!(
        stderr.contains("matrix.yaml:2:21: unknown scenario `subinterp`"),
        "{stderr}"
    );
    assert!(stderr.contains("subinterp-own"), "{stderr}");
}

#[test]
fn missing_c_file_is_located() {
    let dir = tempfile::tempdir().unwrap();
    let m = write_matrix(
        dir.path(),
        "pythons: [cp313]\ntargets:\n  - name: a\n    c: nowhere/missing.c\n",
    );
    let (status, stderr) = stderr_of(&["run", m.to_str().unwrap()]);
    assert_eq!(status, 2);
    assert!(stderr.contains("matrix.yaml:4:8: "), "{stderr}");
    assert!(stderr.contains("missing.c"), "{stderr}");
}

#[test]
fn unknown_python_lists_what_is_there() {
    let dir = tempfile::tempdir().unwrap();
    let m = write_matrix(
        dir.path(),
        "pythons: [cp312, cp399]\ntargets:\n  - name: a\n    c: {fixtures}/isolated_ok.c\n",
    );
    let (status, stderr) = stderr_of(&["run", m.to_str().unwrap()]);
    assert_eq!(status, 2);
    assert!(
        stderr.contains("matrix.yaml:1:18: no interpreter `cp399`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("cp311") && stderr.contains("cp312") && stderr.contains("cp313"),
        "{stderr}"
    );
}

#[test]
fn a_python_filter_typo_exits_2_before_anything_runs() {
    let m = repo_root().join("matrices/default.yaml");
    let (status, stderr) = stderr_of(&["run", m.to_str().unwrap(), "--python", "cp31"]);
    assert_eq!(status, 2, "{stderr}");
    assert!(
        stderr.contains("--python cp31: not in this matrix; it has: cp311, cp312, cp313"),
        "{stderr}"
    );
}

#[test]
fn a_json_path_in_a_missing_directory_exits_2_before_running() {
    let m = repo_root().join("matrices/default.yaml");
    let (status, stderr) = stderr_of(&[
        "run",
        m.to_str().unwrap(),
        "--json",
        "/nonexistent/dir/r.json",
    ]);
    assert_eq!(status, 2, "{stderr}");
    assert!(
        stderr.contains("/nonexistent/dir does not exist"),
        "{stderr}"
    );
}

#[test]
fn an_explicit_interpreter_wins_over_auto_under_the_same_id() {
    let out = extmatrix(&["pythons", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let cp311 = v["pythons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "cp311")
        .unwrap()["path"]
        .as_str()
        .unwrap()
        .to_owned();
    let dir = tempfile::tempdir().unwrap();
    // `auto` first: the explicit entry must still win.
    let m = write_matrix(
        dir.path(),
        &format!("pythons: [auto, {{id: cp313, path: {cp311}}}]\nscenarios: [import]\ntargets:\n  - name: a\n    c: {{fixtures}}/isolated_ok.c\n"),
    );
    let run = run_matrix(&m, &["--python", "cp313"]);
    let pythons = run.report["pythons"].as_array().unwrap();
    assert_eq!(pythons.len(), 1);
    assert_eq!(pythons[0]["id"], "cp313");
    assert!(
        pythons[0]["version"].as_str().unwrap().starts_with("3.11."),
        "{pythons:?}"
    );
    assert_eq!(cell(&run.report, "a", "cp313", "import")["outcome"], "pass");
}

#[test]
fn unknown_filter_value_exits_2() {
    let m = repo_root().join("matrices/default.yaml");
    let (status, stderr) = stderr_of(&["run", m.to_str().unwrap(), "--target", "nope"]);
    assert_eq!(status, 2);
    assert!(
        stderr.contains("--target nope") && stderr.contains("isolated_ok"),
        "{stderr}"
    );
}

#[test]
fn a_clean_module_exits_0_and_filters_narrow_the_plan() {
    let m = repo_root().join("matrices/default.yaml");
    let run = run_matrix(&m, &["--target", "isolated_ok", "--python", "cp312,cp313"]);
    assert_eq!(run.status, 0, "{}", run.stdout);
    let cells = run.report["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 12);
    assert!(cells.iter().all(|c| c["outcome"] == "pass"));
    assert!(run.stdout.contains("12 cells in"), "{}", run.stdout);
}

#[test]
fn a_compile_error_is_a_build_failed_cell_not_an_abort() {
    let dir = tempfile::tempdir().unwrap();
    write_broken_c_file(dir.path());
    let m = write_matrix(
        dir.path(),
        "pythons: [cp313]\nscenarios: [import, reinit]\ntargets:\n  - name: broken\n    c: broken.c\n  - name: ok\n    c: {fixtures}/isolated_ok.c\n",
    );
    let run = run_matrix(&m, &[]);
    assert_eq!(run.status, 1);
    let c = cell(&run.report, "broken", "cp313", "import");
    assert_eq!(c["outcome"], "build-failed");
    let output = c["details"]["build"]["output"].as_str().unwrap();
    assert!(
        output.contains("broken.c:2"),
        "the compiler's message names the line: {output}"
    );
    assert_eq!(
        cell(&run.report, "ok", "cp313", "reinit")["outcome"],
        "pass"
    );
}

#[test]
fn smoke_failures_are_import_errors_with_the_traceback() {
    let dir = tempfile::tempdir().unwrap();
    let m = write_matrix(
        dir.path(),
        "pythons: [cp312]\nscenarios: [import]\ntargets:\n  - name: t\n    c: {fixtures}/isolated_ok.c\n    smoke: |\n      print('chatter on stdout')\n      assert m.bump() == 42, 'bump is not 42'\n",
    );
    let run = run_matrix(&m, &[]);
    let c = cell(&run.report, "t", "cp312", "import");
    assert_eq!(c["outcome"], "import-error");
    let err = &c["details"]["errors"][0];
    assert_eq!(err["exc_type"], "AssertionError");
    assert_eq!(err["phase"], "smoke");
    assert_eq!(err["message"], "bump is not 42");
    assert!(err["traceback"].as_str().unwrap().contains("<smoke>"));
    // What the module prints cannot break the protocol; it is kept.
    assert!(c["details"]["stdout_tail"]
        .as_str()
        .unwrap()
        .contains("chatter on stdout"));
}

#[test]
fn a_target_that_exits_the_process_is_a_harness_error() {
    let dir = tempfile::tempdir().unwrap();
    let m = write_matrix(
        dir.path(),
        "pythons: [cp313]\nscenarios: [import]\ntargets:\n  - name: t\n    c: {fixtures}/isolated_ok.c\n    smoke: \"import os; os._exit(0)\"\n",
    );
    let run = run_matrix(&m, &[]);
    let c = cell(&run.report, "t", "cp313", "import");
    assert_eq!(c["outcome"], "harness-error");
    assert!(
        c["details"]["summary"]
            .as_str()
            .unwrap()
            .contains("`smoke`"),
        "{c}"
    );
}

#[test]
fn pythons_lists_the_interpreters_by_what_they_say() {
    let out = extmatrix(&["pythons", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let pythons = v["pythons"].as_array().unwrap();
    for (id, minor) in [("cp311", 11), ("cp312", 12), ("cp313", 13)] {
        let p = pythons
            .iter()
            .find(|p| p["id"] == id)
            .unwrap_or_else(|| panic!("{id} not found: {v}"));
        assert_eq!(p["version"]["minor"], minor);
        assert_eq!(p["debug"], false);
        assert_eq!(p["free_threaded"], false);
        assert!(std::path::Path::new(p["build"]["config_script"].as_str().unwrap()).is_file());
    }
    let table = extmatrix(&["pythons"]);
    assert_eq!(table.status.code(), Some(0));
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("Found on this machine") && text.contains("cp313"),
        "{text}"
    );
}

#[test]
fn top_level_help_names_every_outcome_and_scenario() {
    let out = extmatrix(&["--help"]);
    let text = String::from_utf8_lossy(&out.stdout).replace('\n', " ");
    for outcome in extmatrix_core::Outcome::ALL {
        assert!(
            text.contains(outcome.id()),
            "--help lacks outcome {outcome}:\n{text}"
        );
    }
    assert!(text.contains("free-threading"), "{text}");
}

#[test]
fn help_teaches() {
    let out = extmatrix(&["run", "--help"]);
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "--json",
        "--python",
        "--scenario",
        "--target",
        "--timeout",
        "Exit status",
        "--jobs",
    ] {
        assert!(text.contains(needle), "run --help lacks {needle}:\n{text}");
    }
}

#[test]
fn prune_without_any_matrix_refuses_rather_than_removing_everything() {
    // `cache prune` and its alias `pythons prune` alike.
    for command in ["pythons", "cache"] {
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_extmatrix"))
            .args([
                command,
                "prune",
                "--cache-dir",
                dir.path().join("cache").to_str().unwrap(),
            ])
            .current_dir(dir.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{command}: {stderr}");
        assert!(stderr.contains("pass --matrix"), "{command}: {stderr}");
    }
}
