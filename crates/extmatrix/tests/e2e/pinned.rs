//! Behaviour pinned before the big refactor (the run moving into a library
//! crate, a typed protocol, the report types in a schema crate). Each test
//! here was checked to fail under a hand-made mutation of the code it pins
//! (named in its doc comment). They are black-box: the real `extmatrix`
//! binary on real matrix files and real fixtures, read through the JSON
//! report, its exit status and the filesystem. They assert only what the
//! refactor keeps: outcomes, exit statuses, `phase`, `exc_type`, counts and
//! cell keys (never step texts of subinterpreter scenarios nor `where`).

use crate::common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------
// helpers

/// Assert that every cell of `run` has outcome `want`, and that the run
/// exited with `status`.
fn assert_only(run: &Run, want: &str, status: i32) {
    let all = cells(&run.report);
    assert!(!all.is_empty(), "no cells:\n{}", run.stdout);
    assert!(
        all.iter().all(|c| c["outcome"] == want),
        "every cell must be {want}:\n{}",
        outcome_lines(&run.report)
    );
    assert_eq!(
        run.status,
        status,
        "a run whose only non-pass cells are {want} exits {status}\n{}\nstderr: {}",
        outcome_lines(&run.report),
        run.stderr
    );
}

/// A matrix (`yaml`, fixtures substituted) whose only cells get `outcome`
/// makes `extmatrix run` exit with `status`.
fn alone(yaml: &str, outcome: &str, status: i32) {
    let (_dir, m) = temp_matrix(yaml);
    assert_only(&run_matrix(&m, &[]), outcome, status);
}

/// The errors of a cell as (phase, exc_type).
fn errors(cell: &Value) -> Vec<(String, String)> {
    cell["details"]["errors"]
        .as_array()
        .map(|es| {
            es.iter()
                .map(|e| {
                    (
                        e["phase"].as_str().unwrap_or("").to_owned(),
                        e["exc_type"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn has_shared_objects(cell: &Value) -> bool {
    cell["details"]["shared_objects"]
        .as_array()
        .is_some_and(|s| !s.is_empty())
}

/// Smoke code that fails only when it runs in an interpreter other than
/// the first one it ran in: the first run records `id(sys)` (one `sys` per
/// interpreter) in the process environment, which every later interpreter
/// of the process inherits through `os.environ`. Re-imports in the same
/// interpreter pass.
/// Fails in any subinterpreter, whatever ran before: so a cell's alone run
/// (the later instance in a fresh process) fails too, and the failure
/// stays an `import-error` (3.12's `_xxsubinterpreters`).
const FAILS_IN_SUBINTERPRETER: &str = r#"
      import _xxsubinterpreters as interpreters
      assert interpreters.get_current() == interpreters.get_main(), 'smoke ran in a subinterpreter'
"#;

// ---------------------------------------------------------------------------
// 1. The severity order decides the outcome (and so the exit status).

/// Mutation caught: moving `ImportError` below `SharedState` in `Outcome`
/// (the cell reads `shared-state` and the run exits 0).
#[test]
fn a_failing_smoke_outranks_shared_state() {
    // legacy_single shares Widget with the subinterpreter, whose smoke code
    // fails (in any subinterpreter, alone too).
    let (_dir, m) = temp_matrix(&format!(
        "pythons: [cp312]\nscenarios: [subinterp-legacy]\ntargets:\n  - name: t\n    c: {{fixtures}}/legacy_single.c\n    smoke: |{FAILS_IN_SUBINTERPRETER}"
    ));
    let run = run_matrix(&m, &[]);
    let scenario = "subinterp-legacy";
    let c = cell(&run.report, "t", "cp312", scenario);
    assert!(has_shared_objects(c), "{scenario}: shares Widget: {c}");
    assert!(
        errors(c).contains(&("smoke".into(), "AssertionError".into())),
        "{scenario}: {c}"
    );
    assert_eq!(c["outcome"], "import-error", "{scenario}: {c}");
    assert_eq!(run.status, 1, "{}", outcome_lines(&run.report));
}

// ---------------------------------------------------------------------------
// 2. Exit status per outcome, each alone in its run.

/// Mutation caught: removing `ImportError` from `Outcome::fails_run`.
#[test]
fn exit_status_import_error_alone_is_1() {
    alone("pythons: [cp312]\nscenarios: [import]\ntargets:\n  - name: t\n    c: {fixtures}/isolated_ok.c\n    smoke: \"raise ValueError('smoke fails')\"\n", "import-error", 1);
}

/// Mutation caught: removing `Crash` from `Outcome::fails_run`.
#[test]
fn exit_status_crash_alone_is_1() {
    alone("pythons: [cp312]\nscenarios: [reinit]\noptions: { cycles: 2 }\ntargets:\n  - name: t\n    c: {fixtures}/crash_on_reinit.c\n", "crash", 1);
}

/// Mutation caught: removing `Hang` from `Outcome::fails_run`.
#[test]
fn exit_status_hang_alone_is_1() {
    let (_dir, m) = temp_matrix(
        "pythons: [cp312]\nscenarios: [subinterp-legacy]\ntargets:\n  - name: t\n    c: {fixtures}/hang_in_subinterp.c\n",
    );
    let run = run_matrix(&m, &["--timeout", "2"]);
    assert_only(&run, "hang", 1);
}

/// Mutation caught: removing `BuildFailed` from `Outcome::fails_run`.
#[test]
fn exit_status_build_failed_alone_is_1() {
    let dir = tempfile::tempdir().unwrap();
    write_broken_c_file(dir.path());
    let m = write_matrix(
        dir.path(),
        "pythons: [cp312]\nscenarios: [import]\ntargets:\n  - name: broken\n    c: broken.c\n",
    );
    let run = run_matrix(&m, &[]);
    assert_only(&run, "build-failed", 1);
}

/// Mutation caught: removing `HarnessError` from `Outcome::fails_run`.
#[test]
fn exit_status_harness_error_alone_is_1() {
    // Past the stdout cap, what follows is extmatrix's doing: harness-error.
    alone("pythons: [cp312]\nscenarios: [import]\ntargets:\n  - name: t\n    c: {fixtures}/isolated_ok.c\n    smoke: \"import os\\nfor _ in range(80): os.write(1, b'y' * (1 << 20))\"\n", "harness-error", 1);
}

/// Mutation caught: adding `StateClobbered` to `Outcome::fails_run`.
#[test]
fn exit_status_state_clobbered_alone_is_0() {
    alone("pythons: [cp312]\nscenarios: [reimport]\ntargets:\n  - name: t\n    c: {fixtures}/value_in_a_c_global.c\n    smoke: \"if hasattr(m, 'mine'): assert m.recall() == m.mine\\nm.mine = id(m); m.remember(m.mine)\"\n", "state-clobbered", 0);
}

/// Mutation caught: leaving `DeclarationMismatch` out of `Outcome::fails_run`.
#[test]
fn exit_status_declaration_mismatch_alone_is_1() {
    alone("pythons: [cp312]\nscenarios: [subinterp-own]\ntargets:\n  - name: t\n    c: {fixtures}/static_type_liar.c\n", "declaration-mismatch", 1);
}

/// Mutation caught: adding `SharedState` to `Outcome::fails_run`.
#[test]
fn exit_status_shared_state_alone_is_0() {
    alone("pythons: [cp312]\nscenarios: [reimport]\ntargets:\n  - name: t\n    c: {fixtures}/legacy_single.c\n", "shared-state", 0);
}

/// Mutation caught: adding `Refused` to `Outcome::fails_run`.
#[test]
fn exit_status_refused_alone_is_0() {
    alone("pythons: [cp312]\nscenarios: [subinterp-own]\ntargets:\n  - name: t\n    c: {fixtures}/legacy_single.c\n", "refused", 0);
}

/// Mutation caught: adding `NotApplicable` to `Outcome::fails_run`.
#[test]
fn exit_status_not_applicable_alone_is_0() {
    alone("pythons: [cp311]\nscenarios: [subinterp-own]\ntargets:\n  - name: t\n    c: {fixtures}/isolated_ok.c\n", "n/a", 0);
}

// ---------------------------------------------------------------------------
// 3. Only the import itself can be a refusal.

/// An ImportError with CPython's refusal text, raised by the smoke code, is
/// an `import-error`: in an isolated subinterpreter for a module that
/// declares per-interpreter-GIL support (isolated_ok), and — the case that
/// pins the phase — in the main interpreter of a subinterpreter scenario
/// for a module whose declaration implies a refusal (legacy_single).
///
/// Mutation caught: `is_refusal` ignoring `phase` (legacy_single's cells
/// turn `refused` and the run exits 0).
#[test]
fn an_import_error_raised_by_smoke_code_is_never_a_refusal() {
    let (_dir, m) = temp_matrix(
        r#"pythons: [cp312]
scenarios: [subinterp-shared, subinterp-own]
targets:
  - name: declared_ok
    c: {fixtures}/isolated_ok.c
    smoke: |
      import _xxsubinterpreters as interpreters
      if interpreters.get_current() != interpreters.get_main():
          raise ImportError("module isolated_ok does not support loading in subinterpreters")
  - name: declared_refusal
    c: {fixtures}/legacy_single.c
    smoke: "raise ImportError('module legacy_single does not support loading in subinterpreters')"
"#,
    );
    let run = run_matrix(&m, &[]);
    for target in ["declared_ok", "declared_refusal"] {
        for scenario in ["subinterp-shared", "subinterp-own"] {
            let c = cell(&run.report, target, "cp312", scenario);
            assert_eq!(
                errors(c),
                [("smoke".to_owned(), "ImportError".to_owned())],
                "{target} × {scenario}: {c}"
            );
            assert_eq!(c["outcome"], "import-error", "{target} × {scenario}: {c}");
        }
    }
    assert_eq!(run.status, 1, "{}", outcome_lines(&run.report));
}

// ---------------------------------------------------------------------------
// 4. A timeout kills the whole process group, on time.

/// Processes whose command line is exactly `argv`.
fn processes_running(argv: &[&str]) -> Vec<i32> {
    processes_where(|args| {
        args.len() == argv.len() && args.iter().zip(argv).all(|(a, b)| *a == b.as_bytes())
    })
}

/// The `sleep <marker>` processes still running 2 s from now (a SIGKILLed
/// one gets that long to die), killed so they outlive no test; their pids.
fn sleeps_surviving(marker: &str) -> Vec<i32> {
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut survivors = processes_running(&["sleep", marker]);
    while !survivors.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        survivors = processes_running(&["sleep", marker]);
    }
    for &pid in &survivors {
        // SAFETY: plain syscall on a process this test started (by its marker).
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
    survivors
}

/// Mutations caught: killing only the harness's pid instead of its process
/// group (the `sleep` child survives); polling the child much less often
/// (`POLL` = 5 s: the verdict comes seconds after the timeout).
#[test]
fn a_timeout_kills_the_process_group_within_the_timeout_plus_a_margin() {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    // A unique `sleep` argument marks this cell's child.
    let marker = format!("300.{}{:09}", std::process::id(), nanos);
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("child.pid");
    let m = write_matrix(
        dir.path(),
        &format!(
            "pythons: [cp312]\nscenarios: [import]\ntargets:\n  - name: spawner\n    c: {{fixtures}}/isolated_ok.c\n    smoke: |\n      import subprocess, time\n      p = subprocess.Popen(['sleep', '{marker}'])\n      with open('{}', 'w') as f: f.write(str(p.pid))\n      time.sleep(300)\n",
            pid_file.display()
        ),
    );
    let run = run_matrix(&m, &["--timeout", "2"]);

    let survivors = sleeps_surviving(&marker);

    let c = cell(&run.report, "spawner", "cp312", "import");
    assert_eq!(c["outcome"], "hang", "{c}");
    assert_eq!(run.status, 1);
    assert!(
        pid_file.is_file(),
        "the smoke code started its child before the timeout: {c}"
    );
    assert!(
        survivors.is_empty(),
        "`sleep {marker}` (pid {survivors:?}) outlived its cell: the process group was not killed"
    );
    let ms = c["duration_ms"].as_u64().unwrap();
    assert!(
        (2000..=3500).contains(&ms),
        "the hang verdict took {ms} ms for a 2 s timeout"
    );
}

// ---------------------------------------------------------------------------
// 6. The smoke code runs on the old instance after a re-import, and in the
// subinterpreter.

/// isolated_ok's bump() counts per module object: the first instance
/// returns 1, the fresh instance after `del sys.modules` returns 1 again,
/// and only a second smoke of the *old* instance sees 2.
///
/// Mutation caught: leaving out the "smoke old instance" step of
/// `scenario_reimport` (harness-c/scenarios.c): the cell passes.
#[test]
fn reimport_smokes_the_old_instance_again() {
    let (_dir, m) = temp_matrix(
        "pythons: [cp312]\nscenarios: [import, reimport]\ntargets:\n  - name: t\n    c: {fixtures}/isolated_ok.c\n    smoke: \"assert m.bump() == 1, 'this instance was smoked before'\"\n",
    );
    let run = run_matrix(&m, &[]);
    // One smoke per instance passes.
    assert_eq!(cell(&run.report, "t", "cp312", "import")["outcome"], "pass");
    let c = cell(&run.report, "t", "cp312", "reimport");
    // The first instance failing after a second one exists is clobbered
    // state, from a module that promised isolation a broken promise.
    assert_eq!(c["outcome"], "declaration-mismatch", "{c}");
    assert_eq!(
        errors(c),
        [("smoke".to_owned(), "AssertionError".to_owned())],
        "exactly one failing smoke, on the old instance: {c}"
    );
    assert_eq!(run.status, 1);
}

/// Mutation caught: leaving out `run_smoke` in the subinterpreter of
/// `run_subinterpreter` (harness-c/scenarios.c): the cells pass.
#[test]
fn subinterpreter_scenarios_smoke_the_subinterpreters_module() {
    let (_dir, m) = temp_matrix(&format!(
        "pythons: [cp312]\nscenarios: [reimport, subinterp-legacy, subinterp-shared, subinterp-own]\ntargets:\n  - name: t\n    c: {{fixtures}}/isolated_ok.c\n    smoke: |{FAILS_IN_SUBINTERPRETER}"
    ));
    let run = run_matrix(&m, &[]);
    // Control: the same smoke code passes twice in one interpreter.
    assert_eq!(
        cell(&run.report, "t", "cp312", "reimport")["outcome"],
        "pass",
        "{}",
        outcome_lines(&run.report)
    );
    for scenario in ["subinterp-legacy", "subinterp-shared", "subinterp-own"] {
        let c = cell(&run.report, "t", "cp312", scenario);
        assert_eq!(c["outcome"], "import-error", "{scenario}: {c}");
        assert_eq!(
            errors(c),
            [("smoke".to_owned(), "AssertionError".to_owned())],
            "{scenario}: {c}"
        );
    }
    assert_eq!(run.status, 1);
}

// ---------------------------------------------------------------------------
// 7. `pythons prune`: keeps what a matrix needs, --dry-run, locked entries.

/// A cache entry as `pythons build` leaves it: `<id>-<key>/prefix/...` and
/// `meta.json` (the fields of `extmatrix_cpython_build::Meta`).
fn fake_build(pythons_dir: &Path, id: &str, key: &str) -> PathBuf {
    let dir = pythons_dir.join(format!("{id}-{key}"));
    let bin = dir.join("prefix/bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(bin.join("python3.13"), vec![0u8; 4096]).unwrap();
    let meta = serde_json::json!({
        "id": id,
        "key": key,
        "variant": "debug",
        "configure": ["--with-pydebug", "--enable-shared", "--without-ensurepip"],
        "source_sha256": "0".repeat(64),
        "compiler": "cc (fake) 1.0",
        "seconds": [["configure", 1.0], ["make", 2.0], ["install", 0.5]],
        "size_bytes": 4096,
        "python": {
            "id": id,
            "version": {"major": 3, "minor": 13, "micro": 0},
            "debug": true,
            "free_threaded": false,
            "path": bin.join("python3.13"),
            "found_via": "matrix",
            "build": {
                "include_dir": dir.join("prefix/include/python3.13d"),
                "config_script": bin.join("python3.13d-config"),
                "libdir": dir.join("prefix/lib"),
                "cc": "cc",
                "cflags": "",
                "ccshared": "-fPIC",
                "ldshared": "cc -shared",
                "ext_suffix": ".cpython-313d-x86_64-linux-gnu.so"
            }
        }
    });
    std::fs::write(
        dir.join("meta.json"),
        serde_json::to_string_pretty(&meta).unwrap(),
    )
    .unwrap();
    dir
}

struct PruneCache {
    _dir: tempfile::TempDir,
    cache: PathBuf,
    matrix: PathBuf,
    /// Needed by the matrix (same id and key).
    needed: PathBuf,
    /// Same id as the needed one, another key: not needed.
    stale: PathBuf,
    /// Not needed, but locked (being built) while the test holds `lock`.
    locked: PathBuf,
    /// Renamed into place but never finished (no meta.json).
    partial: PathBuf,
    /// A work directory of an interrupted build.
    leftover: PathBuf,
}

/// A cache with one build the matrix needs and several it does not. The
/// key of the needed one is computed the way `pythons prune` does, from the
/// matrix entry (a small local "tarball").
fn prune_cache() -> PruneCache {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("fake-python.tar.xz"),
        b"not really a tarball",
    )
    .unwrap();
    let matrix = write_matrix(
        dir.path(),
        "pythons:\n  - { id: cp313d, source: { tarball: fake-python.tar.xz }, variant: debug }\ntargets:\n  - name: a\n    c: {fixtures}/isolated_ok.c\n",
    );
    let spec = match &extmatrix_spec::load(&matrix).unwrap().pythons[0] {
        extmatrix_spec::PythonSelector::Build(b) => b.clone(),
        other => panic!("not a build entry: {other:?}"),
    };
    let key = extmatrix_cpython_build::key_of(&spec).expect("the tarball is there");
    let cache = dir.path().join("cache");
    let pythons = cache.join("pythons");
    let needed = fake_build(&pythons, "cp313d", &key);
    let stale = fake_build(&pythons, "cp313d", "00000000deadbeef");
    let locked = fake_build(&pythons, "cp313t", "1111111111111111");
    let partial = pythons.join("cp399-2222222222222222");
    std::fs::create_dir_all(partial.join("prefix")).unwrap();
    let leftover = pythons.join("tmp/cp399-2222222222222222Ab3dE9");
    std::fs::create_dir_all(&leftover).unwrap();
    std::fs::write(leftover.join("config.log"), b"interrupted").unwrap();
    PruneCache {
        _dir: dir,
        cache,
        matrix,
        needed,
        stale,
        locked,
        partial,
        leftover,
    }
}

/// Hold the build lock of `entry` (`<entry>.lock`, flock) until dropped.
fn hold_lock(entry: &Path) -> std::fs::File {
    use std::os::fd::AsRawFd;
    let name = entry.file_name().unwrap().to_string_lossy().into_owned();
    let file = std::fs::File::create(entry.with_file_name(format!("{name}.lock"))).unwrap();
    // SAFETY: flock on an fd we own.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    assert_eq!(rc, 0, "took the lock");
    file
}

fn prune(c: &PruneCache, extra: &[&str]) -> String {
    let mut args = vec![
        "pythons",
        "prune",
        "--cache-dir",
        c.cache.to_str().unwrap(),
        "--matrix",
        c.matrix.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let out = extmatrix_in(&args, None);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    stdout
}

/// Mutations caught: prune keeping nothing (the needed build is removed);
/// prune not skipping locked entries (the locked build is removed).
#[test]
fn prune_keeps_what_the_matrix_needs_and_what_is_locked() {
    let c = prune_cache();
    // The fake entries are complete builds as far as the cache can tell.
    let listed = extmatrix_in(
        &[
            "pythons",
            "--json",
            "--cache-dir",
            c.cache.to_str().unwrap(),
        ],
        None,
    );
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed["built"].as_array().unwrap().len(), 3, "{listed}");

    let lock = hold_lock(&c.locked);
    prune(&c, &[]);
    assert!(
        c.needed.join("meta.json").is_file(),
        "the matrix's build was removed"
    );
    assert!(
        c.locked.join("meta.json").is_file(),
        "a locked entry was removed"
    );
    assert!(!c.stale.exists(), "a build no matrix needs was kept");
    assert!(!c.partial.exists(), "an unfinished entry was kept");
    assert!(
        !c.leftover.exists(),
        "an interrupted work directory was kept"
    );

    // Control: the lock was what kept it.
    drop(lock);
    prune(&c, &[]);
    assert!(!c.locked.exists(), "unlocked, it goes");
    assert!(c.needed.join("meta.json").is_file());
}

/// Mutation caught: `--dry-run` removing anyway.
#[test]
fn prune_dry_run_removes_nothing() {
    let c = prune_cache();
    let stdout = prune(&c, &["--dry-run"]);
    for path in [&c.needed, &c.stale, &c.locked, &c.partial, &c.leftover] {
        assert!(path.exists(), "--dry-run removed {}", path.display());
    }
    // It says what it would remove.
    for path in [&c.stale, &c.locked, &c.partial, &c.leftover] {
        assert!(
            stdout.contains(path.to_str().unwrap()),
            "{} not named:\n{stdout}",
            path.display()
        );
    }
    assert!(!stdout.contains(c.needed.to_str().unwrap()), "{stdout}");
}

// ---------------------------------------------------------------------------
// 8. Options and filters reach the cells; discovery; module names.

/// Mutation caught: the binary passing a fixed `cycles` (5) instead of the
/// matrix's.
#[test]
fn the_matrix_cycles_reach_reinit() {
    let (_dir, m) = temp_matrix(
        "pythons: [cp312]\nscenarios: [reinit]\noptions: { cycles: 3 }\ntargets:\n  - name: t\n    c: {fixtures}/isolated_ok.c\n    smoke: \"assert m.bump() == 1\"\n",
    );
    let run = run_matrix(&m, &[]);
    let c = cell(&run.report, "t", "cp312", "reinit");
    assert_eq!(c["outcome"], "pass", "{c}");
    assert_eq!(c["details"]["cycles"].as_array().unwrap().len(), 3, "{c}");
}

/// Mutation caught: the binary dropping `--scenario` from the filters.
#[test]
fn the_scenario_filter_reaches_the_cells() {
    let (_dir, m) = temp_matrix(
        "pythons: [cp312]\nscenarios: [import, reinit, reimport]\noptions: { cycles: 2 }\ntargets:\n  - name: a\n    c: {fixtures}/isolated_ok.c\n  - name: b\n    c: {fixtures}/isolated_ok.c\n",
    );
    let run = run_matrix(&m, &["--scenario", "reimport"]);
    let keys: Vec<(String, String, String)> = cells(&run.report)
        .iter()
        .map(|c| {
            (
                c["target"].as_str().unwrap().to_owned(),
                c["python"].as_str().unwrap().to_owned(),
                c["scenario"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        keys,
        [
            ("a".into(), "cp312".into(), "reimport".into()),
            ("b".into(), "cp312".into(), "reimport".into()),
        ]
    );
    assert_eq!(run.status, 0);
}

/// Runs the two cells of a matrix whose smoke code waits (up to 3 s) for a
/// second cell to show up in `dir`, and returns how many cells each saw.
/// It waits busy, spinning: a cell that sleeps is idle and gives its job
/// slot back (`a_sleeping_cell_gives_its_job_slot_to_the_next`).
fn peers_seen(jobs: &str) -> Vec<u64> {
    let dir = tempfile::tempdir().unwrap();
    let meeting = dir.path().join("meeting");
    std::fs::create_dir(&meeting).unwrap();
    let smoke = format!(
        "      import os, time\n      d = '{}'\n      open(os.path.join(d, str(os.getpid())), 'w').close()\n      deadline = time.monotonic() + 3\n      while len(os.listdir(d)) < 2 and time.monotonic() < deadline:\n          pass\n      print('peers', len(os.listdir(d)))\n",
        meeting.display()
    );
    let m = write_matrix(
        dir.path(),
        &format!(
            "pythons: [cp312]\nscenarios: [import]\ntargets:\n  - name: a\n    c: {{fixtures}}/isolated_ok.c\n    smoke: |\n{smoke}  - name: b\n    c: {{fixtures}}/isolated_ok.c\n    smoke: |\n{smoke}"
        ),
    );
    let run = run_matrix(&m, &["--jobs", jobs]);
    let mut seen: Vec<u64> = ["a", "b"]
        .iter()
        .map(|t| {
            let c = cell(&run.report, t, "cp312", "import");
            assert_eq!(c["outcome"], "pass", "{c}");
            let out = c["details"]["stdout_tail"].as_str().unwrap_or("");
            out.trim()
                .strip_prefix("peers ")
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("no peer count in {out:?}"))
        })
        .collect();
    seen.sort();
    seen
}

/// Mutation caught: the binary ignoring `--jobs` (it then runs as many cells
/// at once as there are cores).
#[test]
fn jobs_decides_how_many_cells_run_at_once() {
    assert_eq!(peers_seen("1"), [1, 2], "--jobs 1: one cell at a time");
    assert_eq!(peers_seen("2"), [2, 2], "--jobs 2: both cells at once");
}

/// A fake `python3.12` in `dir` that answers discovery's probe as CPython
/// 3.12.`micro` with headers and a python-config script.
fn fake_python(dir: &Path, include: &Path, micro: u32) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let exe = dir.join("python3.12");
    std::fs::write(dir.join("python3.12-config"), "#!/bin/sh\n").unwrap();
    let answer = serde_json::json!({
        "implementation": "cpython",
        "version": [3, 12, micro],
        "executable": exe,
        "debug": false,
        "free_threaded": false,
        "abiflags": "",
        "ldversion": "3.12",
        "bindir": dir,
        "libdir": dir,
        "include": include,
        "cc": "cc",
        "cflags": "",
        "ccshared": "-fPIC",
        "ldshared": "cc -shared",
        "ext_suffix": ".cpython-312-x86_64-linux-gnu.so",
    });
    std::fs::write(&exe, format!("#!/bin/sh\nprintf '%s\\n' '{answer}'\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    exe
}

/// Mutation caught: discovery keeping the first interpreter found under an
/// id instead of the newest patch release.
#[test]
fn the_newest_patch_release_wins_an_id() {
    let dir = tempfile::tempdir().unwrap();
    let include = dir.path().join("include");
    std::fs::create_dir_all(&include).unwrap();
    std::fs::write(include.join("Python.h"), "").unwrap();
    // The older one comes first in PATH.
    let older = fake_python(&dir.path().join("older"), &include, 98);
    let newer = fake_python(&dir.path().join("newer"), &include, 99);
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let path = std::env::join_paths([older.parent().unwrap(), newer.parent().unwrap()]).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_extmatrix"))
        .args(["pythons", "--json", "--cache-dir"])
        .arg(dir.path().join("cache"))
        .env("PATH", path)
        .env("HOME", &empty)
        .env("PYENV_ROOT", &empty)
        .env("XDG_DATA_HOME", &empty)
        .env_remove("UV_PYTHON_INSTALL_DIR")
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let with_id = |list: &str| -> Vec<(String, u64)> {
        v[list]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["id"] == "cp312")
            .map(|p| {
                (
                    p["path"].as_str().unwrap().to_owned(),
                    p["version"]["micro"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(
        with_id("pythons"),
        [(newer.to_str().unwrap().to_owned(), 99)],
        "{v}"
    );
    assert!(
        with_id("shadowed").contains(&(older.to_str().unwrap().to_owned(), 98)),
        "{v}"
    );
}

/// Mutation caught: accepting Python keywords as module names.
#[test]
fn a_keyword_is_not_a_module_name() {
    for keyword in ["class", "None", "pkg.def"] {
        let (_dir, m) = temp_matrix(&format!(
            "pythons: [cp312]\ntargets:\n  - name: a\n    c: {{fixtures}}/isolated_ok.c\n    module: {keyword}\n"
        ));
        let out = extmatrix(&["run", m.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{keyword}: {stderr}");
        assert!(stderr.contains("matrix.yaml:5:13: "), "{keyword}: {stderr}");
        assert!(stderr.contains(keyword), "{keyword}: {stderr}");
    }
}

/// Mutation caught: the probe killing only its direct child on its timeout
/// (a wrapper's `sleep`s lived on, three per attempt).
#[test]
fn a_probe_that_hangs_leaves_nothing_running() {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let marker = format!("600.{}{:09}", std::process::id(), nanos);
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let exe = bin.join("python3.12");
    std::fs::write(
        &exe,
        format!(
            "#!/bin/sh\nsleep {marker} &\nsleep {marker} &\nsleep {marker} &\nsleep {marker}\n"
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    // `sleep` by that name, and nothing else of the machine's in PATH.
    let sleep = ["/bin/sleep", "/usr/bin/sleep"]
        .into_iter()
        .find(|p| Path::new(p).is_file())
        .expect("sleep");
    std::os::unix::fs::symlink(sleep, bin.join("sleep")).unwrap();
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_extmatrix"))
        .args(["pythons", "--json", "--cache-dir"])
        .arg(dir.path().join("cache"))
        .env("PATH", &bin)
        .env("HOME", &empty)
        .env("PYENV_ROOT", &empty)
        .env("XDG_DATA_HOME", &empty)
        .env_remove("UV_PYTHON_INSTALL_DIR")
        .output()
        .unwrap();

    let survivors = sleeps_surviving(&marker);
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let rejected = v["rejected"].as_array().unwrap();
    assert!(
        rejected.iter().any(|r| r["path"] == exe.to_str().unwrap()
            && r["reason"]
                .as_str()
                .unwrap()
                .contains("did not answer the probe")),
        "{v}"
    );
    assert!(
        survivors.is_empty(),
        "`sleep {marker}` (pids {survivors:?}) outlived the probe"
    );
}
