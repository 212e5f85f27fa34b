//! `--resume`: a run killed mid-way (SIGKILL, as a CI time limit does, or
//! SIGTERM) continues from its journal, runs only the cells it had not
//! finished, and reports what an uninterrupted run reports; a journal of
//! another run is refused.

use crate::common::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Targets whose cells take a while (each appends `<target> <pid>` to
/// `$RESUME_MARKER` from its smoke code, so a test sees which cells a run
/// ran), after two quick ones whose verdicts need their command again after
/// execute: a crash (its control run) and a later instance failing where
/// the first passed (its alone run).
const SLOW: [&str; 3] = ["slow_a", "slow_b", "slow_c"];

fn matrix_yaml() -> String {
    let mut yaml = String::from(
        "pythons: [cp312]\nscenarios: [import, reinit]\noptions: { cycles: 3 }\ntargets:\n\
         \x20 - name: counts_in_a_c_global\n    c: {fixtures}/counts_in_a_c_global.c\n\
         \x20   smoke: \"n = getattr(m, 'calls', 0) + 1; got = m.bump(); m.calls = n; assert got == n, (got, n)\"\n\
         \x20 - name: crash_on_reinit\n    c: {fixtures}/crash_on_reinit.c\n",
    );
    for target in SLOW {
        yaml.push_str(&format!(
            "  - name: {target}\n    c: {{fixtures}}/isolated_ok.c\n    smoke: |\n      \
             import os, time\n      \
             open(os.environ['RESUME_MARKER'], 'a').write('{target} %d\\n' % os.getpid())\n      \
             time.sleep(0.4)\n"
        ));
    }
    yaml
}

/// Cells in the matrix: 5 targets × 2 scenarios.
const CELLS: usize = 10;

/// `extmatrix run MATRIX --jobs 1 ARGS` with the tests' cache, its smoke
/// code's marks going to `marks`.
fn command(matrix: &Path, marks: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_extmatrix"));
    cmd.args(["run", matrix.to_str().unwrap(), "--jobs", "1"])
        .args(args)
        .env("EXTMATRIX_CACHE_DIR", cache_dir())
        .env("NO_COLOR", "1")
        .env("RESUME_MARKER", marks);
    cmd
}

fn run_to_end(matrix: &Path, marks: &Path, args: &[&str]) -> Output {
    command(matrix, marks, args).output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn report(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The cells of the journal at `path` that are whole lines (a kill can cut
/// the last one short), by key.
fn journaled(path: &Path) -> BTreeSet<(String, String)> {
    let text = std::fs::read_to_string(path).unwrap();
    text.split_inclusive('\n')
        .skip(1)
        .filter(|l| l.ends_with('\n'))
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|l| {
            let key = &l["key"];
            (
                key["target"].as_str().unwrap().to_owned(),
                key["scenario"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Start a run with a journal and wait until at least `cells` of its cells
/// are journaled.
fn start_and_wait(matrix: &Path, marks: &Path, json: &Path, cells: usize) -> Child {
    let mut child = command(matrix, marks, &["--json", json.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let journal = journal_of(json);
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::read_to_string(&journal).map_or(0, |t| t.lines().count()) < 1 + cells {
        if Instant::now() > deadline || child.try_wait().unwrap().is_some() {
            let _ = child.kill();
            panic!("the run never journaled {cells} cells");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child
}

fn journal_of(json: &Path) -> PathBuf {
    PathBuf::from(format!("{}.journal", json.display()))
}

/// How many cell processes each target's smoke code ran in.
fn runs_per_target(marks: &Path) -> BTreeMap<String, usize> {
    let text = std::fs::read_to_string(marks).unwrap_or_default();
    let pids: BTreeSet<(&str, &str)> = text.lines().filter_map(|l| l.split_once(' ')).collect();
    let mut runs = BTreeMap::new();
    for (target, _) in pids {
        *runs.entry(target.to_owned()).or_default() += 1;
    }
    runs
}

/// What must be the same in two reports: each cell's key, outcome, summary
/// and reason, in order (durations differ).
fn verdicts(report: &Value) -> Vec<[Value; 7]> {
    cells(report)
        .iter()
        .map(|c| {
            [
                c["target"].clone(),
                c["module"].clone(),
                c["python"].clone(),
                c["scenario"].clone(),
                c["outcome"].clone(),
                c["details"]["summary"].clone(),
                c["details"]["reason"].clone(),
            ]
        })
        .collect()
}

#[test]
fn a_killed_run_resumes_with_only_the_cells_it_had_not_finished() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let matrix = write_matrix(d, &matrix_yaml());
    // The same matrix at another path for the uninterrupted run: cells
    // start longest first by the durations the last run of a matrix file
    // kept, and the cut run below must start in the plan's order (the
    // quick cells first), as a first run does.
    let elsewhere = d.join("uninterrupted");
    std::fs::create_dir(&elsewhere).unwrap();
    let uninterrupted = write_matrix(&elsewhere, &matrix_yaml());

    // Uninterrupted, with --resume and nothing to resume: a fresh run.
    let full_json = d.join("full.json");
    let full = run_to_end(
        &uninterrupted,
        &d.join("full.marks"),
        &["--json", full_json.to_str().unwrap(), "--resume"],
    );
    assert_eq!(full.status.code(), Some(1), "{}", stderr(&full));
    assert!(
        stderr(&full).contains("no journal at")
            && stderr(&full).contains("starting from the first cell"),
        "{}",
        stderr(&full)
    );
    assert!(
        !journal_of(&full_json).exists(),
        "a complete run removes its journal"
    );
    let full = report(&full_json);
    assert_eq!(cells(&full).len(), CELLS);

    // Killed as a CI time limit kills: the two quick targets and a slow
    // cell have ended.
    let json = d.join("cut.json");
    let mut child = start_and_wait(&matrix, &d.join("cut.marks"), &json, 5);
    child.kill().unwrap();
    child.wait().unwrap();
    let journal = journal_of(&json);
    let done = journaled(&journal);
    assert!(
        (5..CELLS).contains(&done.len()),
        "killed after {} cells",
        done.len()
    );
    for quick in [
        ("counts_in_a_c_global", "reinit"),
        ("crash_on_reinit", "reinit"),
    ] {
        assert!(
            done.contains(&(quick.0.to_owned(), quick.1.to_owned())),
            "{done:?}"
        );
    }

    refuses_another_run(d, &matrix, &json);

    let marks = d.join("resumed.marks");
    let resumed = run_to_end(
        &matrix,
        &marks,
        &["--json", json.to_str().unwrap(), "--resume"],
    );
    let err = stderr(&resumed);
    assert_eq!(resumed.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "resuming from {}: {} cells finished earlier",
            journal.display(),
            done.len()
        )),
        "{err}"
    );
    let resumed_report = report(&json);
    assert_eq!(verdicts(&resumed_report), verdicts(&full));
    assert!(resumed_report.get("interrupted").is_none_or(Value::is_null));
    // Each slow cell is one process: the resumed run ran exactly those
    // its journal lacked.
    let ran = runs_per_target(&marks);
    for target in SLOW {
        let missing = ["import", "reinit"]
            .iter()
            .filter(|s| !done.contains(&(target.to_owned(), s.to_string())))
            .count();
        assert_eq!(
            ran.get(target).copied().unwrap_or(0),
            missing,
            "{target}: {ran:?}, journaled {done:?}"
        );
    }
    assert!(!journal.exists(), "the resumed run completed: no journal");
}

/// A journal is refused (exit 2), and left as it is, by a run of another
/// plan (a filter) or another matrix file (the same cells, a comment more).
fn refuses_another_run(d: &Path, matrix: &Path, json: &Path) {
    let journal = journal_of(json);
    let before = std::fs::read(&journal).unwrap();
    let edited = d.join("edited.yaml");
    std::fs::write(
        &edited,
        format!("# edited\n{}", std::fs::read_to_string(matrix).unwrap()),
    )
    .unwrap();
    let json = json.to_str().unwrap();
    for (m, extra) in [
        (matrix, Some("--scenario=reinit")),
        (edited.as_path(), None),
    ] {
        let mut args = vec!["--json", json, "--resume"];
        args.extend(extra);
        let out = run_to_end(m, &d.join("refused.marks"), &args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains(&format!(
                "the journal at {} is of another matrix",
                journal.display()
            )) && err.contains("remove it or run without --resume"),
            "{err}"
        );
        assert_eq!(std::fs::read(&journal).unwrap(), before);
    }
    assert!(
        !d.join("refused.marks").exists(),
        "a refused run ran a cell"
    );
}

#[test]
fn an_interrupted_run_keeps_its_finished_cells_for_resume() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let matrix = write_matrix(d, &matrix_yaml());
    let json = d.join("r.json");
    let child = start_and_wait(&matrix, &d.join("first.marks"), &json, 2);
    // SAFETY: a signal to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(128 + libc::SIGTERM), "{err}");
    assert!(
        err.contains("the same command with --resume runs only the rest"),
        "{err}"
    );
    let partial = report(&json);
    let journal = journal_of(&json);
    let in_report: BTreeSet<(String, String)> = cells(&partial)
        .iter()
        .map(|c| {
            (
                c["target"].as_str().unwrap().to_owned(),
                c["scenario"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(in_report.len() < CELLS, "{}", outcome_lines(&partial));
    assert_eq!(journaled(&journal), in_report);

    let marks = d.join("resumed.marks");
    let resumed = run_to_end(
        &matrix,
        &marks,
        &["--json", json.to_str().unwrap(), "--resume"],
    );
    assert_eq!(resumed.status.code(), Some(1), "{}", stderr(&resumed));
    let complete = report(&json);
    assert_eq!(cells(&complete).len(), CELLS);
    assert!(complete.get("interrupted").is_none_or(Value::is_null));
    let ran = runs_per_target(&marks);
    for target in SLOW {
        let missing = ["import", "reinit"]
            .iter()
            .filter(|s| !in_report.contains(&(target.to_owned(), s.to_string())))
            .count();
        assert_eq!(ran.get(target).copied().unwrap_or(0), missing, "{target}");
    }
    // The later instance that failed ran before the interrupt, which let no
    // alone run start; resumed from the journal, the cell gets its alone
    // run and the verdict an uninterrupted run gives it.
    let outcome = |r: &Value| cell(r, "counts_in_a_c_global", "cp312", "reinit")["outcome"].clone();
    assert_eq!(outcome(&partial), "import-error");
    assert_eq!(outcome(&complete), "declaration-mismatch");
}
