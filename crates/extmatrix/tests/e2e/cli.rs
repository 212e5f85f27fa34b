//! The command line: exit codes, errors that say where and what to do,
//! filters, build failures and misbehaving targets, on real interpreters.

use crate::common::*;

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
    // So does the summary: the compiler's first error, not its exit status.
    let summary = c["details"]["summary"].as_str().unwrap();
    assert!(
        summary.starts_with("gcc failed while compiling, at broken.c:2: unknown type name"),
        "{summary}"
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
fn a_target_that_exits_the_process_is_its_crash_not_a_harness_error() {
    let dir = tempfile::tempdir().unwrap();
    let m = write_matrix(
        dir.path(),
        "pythons: [cp313]\nscenarios: [import]\ntargets:\n  - name: t\n    c: {fixtures}/isolated_ok.c\n    smoke: \"import os; os._exit(0)\"\n",
    );
    let run = run_matrix(&m, &[]);
    let c = cell(&run.report, "t", "cp313", "import");
    assert_eq!(c["outcome"], "crash");
    assert_eq!(c["details"]["reason"], "ended-by-target");
    assert_eq!(
        c["details"]["summary"],
        "the process exited with status 0 in step `smoke`, ended by the target"
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
        "--expect <FILE>",
        "--strict",
        "--baseline <FILE>",
        "--fail-on <WHEN>",
        "regression:",
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

// ---------------------------------------------------------------------------
// Report paths: what `--json` names is written as what it is, and checked
// before anything runs.

/// One cell: isolated_ok × cp312 × import.
fn one_cell_matrix(dir: &std::path::Path) -> std::path::PathBuf {
    write_matrix(
        dir,
        "pythons: [cp312]\nscenarios: [import]\ntargets:\n  - name: ok\n    c: {fixtures}/isolated_ok.c\n",
    )
}

/// `extmatrix run MATRIX --json JSON` with the tests' cache, `setup` applied
/// to the command first.
fn run_json(
    matrix: &std::path::Path,
    json: &std::path::Path,
    setup: impl FnOnce(&mut std::process::Command),
) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_extmatrix"));
    cmd.args([
        "run",
        matrix.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ])
    .env("NO_COLOR", "1")
    .env("EXTMATRIX_CACHE_DIR", cache_dir());
    setup(&mut cmd);
    cmd.output().expect("extmatrix runs")
}

fn ok_report(text: &str) {
    let v: serde_json::Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(cell(&v, "ok", "cp312", "import")["outcome"], "pass", "{v}");
}

/// Mutation caught: the report renamed over the link (the link became a
/// file, its target kept the old report).
#[test]
fn a_json_symlink_is_followed_and_stays_a_link() {
    let dir = tempfile::tempdir().unwrap();
    let m = one_cell_matrix(dir.path());
    let reports = dir.path().join("reports");
    std::fs::create_dir(&reports).unwrap();
    let target = reports.join("latest.json");
    std::fs::write(&target, "yesterday's report").unwrap();
    let link = dir.path().join("report.json");
    std::os::unix::fs::symlink("reports/latest.json", &link).unwrap();
    let out = run_json(&m, &link, |_| {});
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta = std::fs::symlink_metadata(&link).unwrap();
    assert!(meta.file_type().is_symlink(), "the link stays a link");
    ok_report(&std::fs::read_to_string(&target).unwrap());
}

/// Mutation caught: the report renamed over the FIFO (its reader waited
/// forever, the FIFO became a file).
#[test]
fn a_json_fifo_is_written_to_its_reader() {
    let dir = tempfile::tempdir().unwrap();
    let m = one_cell_matrix(dir.path());
    let fifo = dir.path().join("report.fifo");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let (tx, rx) = std::sync::mpsc::channel();
    {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let _ = tx.send(std::fs::read_to_string(fifo));
        });
    }
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_extmatrix"))
        .args(["run", m.to_str().unwrap(), "--json", fifo.to_str().unwrap()])
        .env("NO_COLOR", "1")
        .env("EXTMATRIX_CACHE_DIR", cache_dir())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let text = rx.recv_timeout(std::time::Duration::from_secs(120));
    let status = child.wait().unwrap();
    if text.is_err() {
        // Unblock the reader thread: open the FIFO for writing once.
        let _ = std::fs::OpenOptions::new().write(true).open(&fifo);
    }
    let text = text.expect("the reader got the report").unwrap();
    assert_eq!(status.code(), Some(0));
    ok_report(&text);
    assert!(std::os::unix::fs::FileTypeExt::is_fifo(
        &std::fs::symlink_metadata(&fifo).unwrap().file_type()
    ));
}

/// A run that exited 0 with its JSON report on stdout: stdout, and where
/// in it the report is (checked to be a good one).
fn json_on_stdout(out: std::process::Output) -> (String, std::ops::Range<usize>) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let start = stdout.find("\n{").expect("the JSON on stdout") + 1;
    let end = stdout.rfind("}\n").unwrap() + 1;
    ok_report(&stdout[start..end]);
    (stdout, start..end)
}

/// `--json /dev/stdout` with stdout a pipe: the JSON goes down the pipe
/// after the table, and `/dev/stdout` is left alone. (Before, as root, the
/// rename replaced the machine's `/dev/stdout` with a file: this test is
/// not one to run against that version; the next one pins the same rule
/// through a link of its own.)
#[test]
fn json_to_dev_stdout_goes_down_the_pipe_after_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let m = one_cell_matrix(dir.path());
    let out = run_json(&m, std::path::Path::new("/dev/stdout"), |_| {});
    let (stdout, json) = json_on_stdout(out);
    let table_end = stdout.find("1 cells in").expect("the table");
    assert!(table_end < json.start, "{stdout}");
    assert!(
        stdout[json.end..].contains("JSON report: /dev/stdout"),
        "{stdout}"
    );
    assert!(std::fs::symlink_metadata("/dev/stdout")
        .unwrap()
        .file_type()
        .is_symlink());
}

/// Mutation caught: a link to `/dev/stdout` replaced by a file (stdout
/// got no JSON).
#[test]
fn json_to_a_link_to_dev_stdout_goes_down_the_pipe() {
    let dir = tempfile::tempdir().unwrap();
    let m = one_cell_matrix(dir.path());
    let link = dir.path().join("out");
    std::os::unix::fs::symlink("/dev/stdout", &link).unwrap();
    json_on_stdout(run_json(&m, &link, |_| {}));
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
}

/// Mutation caught: the temporary file's 0600 kept.
#[test]
fn a_json_report_gets_the_umask_s_mode() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    let m = one_cell_matrix(dir.path());
    let json = dir.path().join("r.json");
    let out = run_json(&m, &json, |cmd| {
        // SAFETY: umask is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                libc::umask(0o022);
                Ok(())
            });
        }
    });
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mode = std::fs::metadata(&json).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644, "{mode:o}");
}

/// Mutation caught: only the directory's existence checked (a directory
/// or `/proc` path ran every cell, then failed to write).
#[test]
fn a_json_path_that_cannot_take_a_report_exits_2_before_running() {
    let dir = tempfile::tempdir().unwrap();
    let m = one_cell_matrix(dir.path());
    let cache = dir.path().join("cache");
    let subdir = dir.path().join("reports");
    std::fs::create_dir(&subdir).unwrap();
    for (json, says) in [
        (subdir.to_str().unwrap(), "is a directory"),
        (
            "/proc/extmatrix-report.json",
            "no file can be written in /proc",
        ),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_extmatrix"))
            .args(["run", m.to_str().unwrap(), "--json", json, "--cache-dir"])
            .arg(&cache)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{json}: {stderr}");
        assert!(
            stderr.contains(&format!("--json {json}: ")) && stderr.contains(says),
            "{stderr}"
        );
        assert!(
            out.stdout.is_empty(),
            "nothing ran: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(!cache.exists(), "nothing ran: not even the cache was made");
    }
}

// ---------------------------------------------------------------------------
// The matrix file is read up to a cap; the cache directory is checked.

/// `extmatrix ARGS` under an address-space limit (so a version that reads
/// without bound fails fast instead of eating the machine), killed after
/// `secs`.
fn bounded(args: &[&str], secs: u64) -> (Option<i32>, String) {
    use std::os::unix::process::CommandExt;
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_extmatrix"));
    cmd.args(args)
        .env("EXTMATRIX_CACHE_DIR", cache_dir())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    // SAFETY: setrlimit is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 1 << 30,
                rlim_max: 1 << 30,
            };
            libc::setrlimit(libc::RLIMIT_AS, &limit);
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Mutation caught: the matrix read whole (`/dev/zero` grew without bound).
#[test]
fn a_matrix_file_is_read_only_up_to_a_cap() {
    let (status, stderr) = bounded(&["run", "/dev/zero"], 30);
    assert_eq!(status, Some(2), "{stderr}");
    assert!(
        stderr.contains("/dev/zero:1:1048577: the matrix file is longer than 1 MiB"),
        "{stderr}"
    );

    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.yaml");
    std::fs::write(&big, "# padding\n".repeat(200_000)).unwrap();
    let (status, stderr) = bounded(&["run", big.to_str().unwrap()], 30);
    assert_eq!(status, Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("{}:104858:", big.display()))
            && stderr.contains("longer than 1 MiB"),
        "{stderr}"
    );

    // A FIFO whose writer never stops.
    let fifo = dir.path().join("matrix.fifo");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new().write(true).open(fifo).unwrap();
            let chunk = "# endless\n".repeat(1000);
            while f.write_all(chunk.as_bytes()).is_ok() {}
        })
    };
    let (status, stderr) = bounded(&["run", fifo.to_str().unwrap()], 30);
    assert_eq!(status, Some(2), "{stderr}");
    assert!(stderr.contains("longer than 1 MiB"), "{stderr}");
    writer.join().unwrap();
}

/// Mutation caught: a cache directory that is a file accepted (every build
/// failed, cell by cell, and the run exited 1).
#[test]
fn a_cache_dir_that_is_a_file_exits_2_before_running() {
    let dir = tempfile::tempdir().unwrap();
    let m = one_cell_matrix(dir.path());
    let file = dir.path().join("cache");
    std::fs::write(&file, "not a directory").unwrap();
    for args in [
        vec!["run", m.to_str().unwrap()],
        vec!["cache", "list"],
        vec!["pythons"],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_extmatrix"))
            .args(&args)
            .arg("--cache-dir")
            .arg(&file)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "the cache directory {} cannot be used: it is not a directory",
                file.display()
            )) && stderr.contains("--cache-dir"),
            "{args:?}: {stderr}"
        );
        assert!(out.stdout.is_empty(), "{args:?}: nothing ran");
    }
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "not a directory");
}
