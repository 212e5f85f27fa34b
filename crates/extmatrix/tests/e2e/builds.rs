//! Interpreters built from source and Debian's debug build, end to end:
//! matrices/full.yaml on cp313t, cp313td, cp313d and cp311d.
//!
//! These use the user's build cache (`~/.cache/extmatrix`, or
//! `$XDG_CACHE_HOME/extmatrix`; `EXTMATRIX_CACHE_DIR` is cleared for them):
//! `just setup` builds the interpreters there before the tests, and a run
//! that needs one that is missing builds it. The source tarball comes
//! from `scripts/fetch-cpython-source`; without it these tests fail with a
//! message saying so.

use crate::common::*;
use serde_json::Value;
use std::process::Command;

fn full_matrix() -> std::path::PathBuf {
    repo_root().join("matrices/full.yaml")
}

/// `extmatrix run matrices/full.yaml ARGS` with the user's build cache.
fn run_full(args: &[&str]) -> Run {
    run_matrix_with_cache(&full_matrix(), args, None)
}

fn warnings_text(cell: &Value) -> String {
    cell["details"]["warnings"]
        .as_array()
        .map(|ws| {
            ws.iter()
                .map(|w| w["message"].as_str().unwrap_or(""))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

#[test]
fn free_threaded_build_reports_gil_reenabled_and_refuses_single_phase() {
    let run = run_full(&[
        "--python",
        "cp313t",
        "--scenario",
        "free-threading,subinterp-legacy,subinterp-shared,subinterp-own",
        "--target",
        "isolated_ok,legacy_single,static_type_liar,exec_fails_on_reimport",
    ]);
    let r = &run.report;
    let py = r["pythons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "cp313t")
        .unwrap();
    assert_eq!(py["free_threaded"], true);
    assert_eq!(py["debug"], false);

    // No Py_mod_gil slot: the import turns the GIL back on, with CPython's warning.
    for target in ["legacy_single", "exec_fails_on_reimport"] {
        let c = cell(r, target, "cp313t", "free-threading");
        assert_eq!(c["outcome"], "gil-enabled", "{target}: {c}");
        let warnings = warnings_text(c);
        assert!(
            warnings.contains(&format!(
                "The global interpreter lock (GIL) has been enabled to load module '{target}'"
            )),
            "{target}: {warnings}"
        );
        assert!(
            c["details"]["gil"]
                .as_array()
                .unwrap()
                .iter()
                .any(|g| g["enabled"] == true),
            "{c}"
        );
    }
    // Py_MOD_GIL_NOT_USED: the GIL stays off, the smoke code runs on 4 threads.
    for target in ["isolated_ok", "static_type_liar"] {
        let c = cell(r, target, "cp313t", "free-threading");
        assert_eq!(c["outcome"], "pass", "{target}: {c}");
        assert!(
            c["details"]["gil"]
                .as_array()
                .unwrap()
                .iter()
                .all(|g| g["enabled"] == false),
            "{c}"
        );
    }
    // A single-phase module is refused by every subinterpreter of a
    // free-threaded build, the legacy one included (gh-117649); its import
    // in the main interpreter has turned the GIL on first, which every
    // scenario of a free-threaded build reports, and which outranks the
    // refusal.
    for scenario in ["subinterp-legacy", "subinterp-shared", "subinterp-own"] {
        let c = cell(r, "legacy_single", "cp313t", scenario);
        assert_eq!(c["outcome"], "gil-enabled", "{scenario}: {c}");
        assert!(c["details"]["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("does not support loading in subinterpreters"));
    }
    assert_eq!(
        cell(r, "isolated_ok", "cp313t", "subinterp-legacy")["outcome"],
        "pass"
    );
}

#[test]
fn debug_builds_report_refcount_totals_per_reinit_cycle() {
    let run = run_full(&[
        "--python",
        "cp313d,cp311d,cp313td",
        "--scenario",
        "reinit",
        "--target",
        "isolated_ok",
    ]);
    for python in ["cp313d", "cp311d", "cp313td"] {
        let py = run.report["pythons"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == python)
            .unwrap();
        assert_eq!(py["debug"], true, "{python}");
        let c = cell(&run.report, "isolated_ok", python, "reinit");
        assert_eq!(c["outcome"], "pass", "{python}: {c}");
        let cycles = c["details"]["cycles"].as_array().unwrap();
        assert_eq!(cycles.len(), 5, "{python}");
        for cycle in cycles {
            assert!(
                cycle["total_refcount"].as_i64().unwrap() > 0,
                "{python}: {cycle}"
            );
            assert!(
                cycle["allocated_blocks"].as_i64().unwrap() > 0,
                "{python}: {cycle}"
            );
        }
    }
}

#[test]
fn debian_debug_build_is_discovered_as_cp311d() {
    let out = extmatrix(&["pythons", "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let p = v["pythons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "cp311d")
        .unwrap_or_else(|| panic!("cp311d not discovered (apt-get install python3.11-dbg): {v}"));
    assert_eq!(p["debug"], true);
    assert_eq!(p["version"]["minor"], 11);
}

#[test]
fn a_second_build_is_a_cache_hit() {
    let matrix = full_matrix();
    let build = [
        "pythons",
        "build",
        "--matrix",
        matrix.to_str().unwrap(),
        "cp313t",
    ];
    let out = extmatrix_in(&build, None);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Built before this test (by `just setup` or another test); now only found.
    let again = extmatrix_in(&build, None);
    let again = String::from_utf8_lossy(&again.stdout);
    assert!(
        again.starts_with("cp313t 3.13.") && again.contains(" cached: "),
        "{again}"
    );
    let listed = extmatrix_with_default_cache(&["pythons"]);
    assert!(
        listed.contains("Built by extmatrix") && listed.contains("cp313t"),
        "{listed}"
    );
}

#[test]
fn free_threading_runs_the_smoke_code_on_threads_at_once() {
    // The same build entry as full.yaml's cp313t (same source and flags:
    // the same cache entry). Every thread signs in on the module, sleeps,
    // then counts the signatures: 4 only if the workers really overlap.
    let matrix = |threads: u32| {
        format!(
            "pythons:\n  - {{ id: cp313t, source: {{ tarball: {} }}, variant: free-threaded }}\n\
             scenarios: [free-threading]\noptions: {{ threads: {threads}, rounds: 1, repeat: 1 }}\ntargets:\n  - name: t\n    \
             c: {{fixtures}}/isolated_ok.c\n    smoke: |\n      import threading, time\n      \
             m.__dict__.setdefault('inside', set()).add(threading.get_ident())\n      time.sleep(0.5)\n      \
             assert len(m.inside) >= 4, len(m.inside)\n",
            tarball().display()
        )
    };
    let four = tempfile::tempdir().unwrap();
    let run = run_matrix_with_cache(&write_matrix(four.path(), &matrix(4)), &[], None);
    let c = cell(&run.report, "t", "cp313t", "free-threading");
    assert_eq!(c["outcome"], "pass", "{c}");
    // On one thread the same smoke code fails: the threads are real.
    let one = tempfile::tempdir().unwrap();
    let run = run_matrix_with_cache(&write_matrix(one.path(), &matrix(1)), &[], None);
    let c = cell(&run.report, "t", "cp313t", "free-threading");
    assert_eq!(c["outcome"], "import-error", "{c}");
    assert_eq!(c["details"]["errors"][0]["exc_type"], "AssertionError");
}

/// The CPython tarball `scripts/fetch-cpython-source cache/cpython` provides.
fn tarball() -> std::path::PathBuf {
    let t = repo_root().join("cache/cpython/Python-3.13.tar.xz");
    assert!(
        t.is_file(),
        "{} is missing: run scripts/fetch-cpython-source cache/cpython",
        t.display()
    );
    t
}

fn build_in(cache: &std::path::Path, matrix: &std::path::Path) -> std::process::Child {
    use std::os::unix::process::CommandExt;
    Command::new(env!("CARGO_BIN_EXE_extmatrix"))
        .args([
            "pythons",
            "build",
            "--matrix",
            matrix.to_str().unwrap(),
            "--cache-dir",
            cache.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap()
}

#[test]
fn a_build_killed_midway_leaves_no_interpreter_behind() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let m = write_matrix(
        dir.path(),
        &format!(
            "pythons:\n  - {{ id: cp313k, source: {{ tarball: {} }}, variant: debug }}\ntargets:\n  - name: a\n    c: {{fixtures}}/isolated_ok.c\n",
            tarball().display()
        ),
    );
    let child = build_in(&cache, &m);
    // Wait until ./configure runs, then kill the whole group mid-build.
    let logs = cache.join("pythons/logs");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let configuring = std::fs::read_dir(&logs)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| {
                std::fs::read_to_string(e.path()).is_ok_and(|log| log.contains("checking for"))
            });
        if configuring {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "configure never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // SAFETY: plain syscall on the child's process group.
    unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());

    // No entry that looks complete, nothing listed as built.
    let entries: Vec<_> = std::fs::read_dir(cache.join("pythons"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(
        entries.iter().all(|p| !p.join("meta.json").exists()),
        "{entries:?}"
    );
    let listed = String::from_utf8_lossy(
        &extmatrix_in(
            &["pythons", "--json", "--cache-dir", cache.to_str().unwrap()],
            None,
        )
        .stdout,
    )
    .into_owned();
    let v: Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(v["built"], serde_json::json!([]));
    // The log of the interrupted build is kept; prune clears the leftovers.
    assert!(std::fs::read_dir(&logs).unwrap().count() >= 1);
    let pruned = extmatrix_in(
        &[
            "pythons",
            "prune",
            "--cache-dir",
            cache.to_str().unwrap(),
            "--matrix",
            m.to_str().unwrap(),
        ],
        None,
    );
    assert!(
        pruned.status.success(),
        "{}",
        String::from_utf8_lossy(&pruned.stderr)
    );
    let leftovers: Vec<_> = std::fs::read_dir(cache.join("pythons/tmp"))
        .into_iter()
        .flatten()
        .flatten()
        .collect();
    assert!(
        leftovers.is_empty(),
        "interrupted work is pruned: {leftovers:?}"
    );
}

#[test]
fn a_url_source_with_the_wrong_sha256_builds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let wrong = "0".repeat(64);
    let m = write_matrix(
        dir.path(),
        &format!(
            "pythons:\n  - {{ id: cp313x, source: {{ url: \"file://{}\", sha256: \"{wrong}\" }}, variant: free-threaded }}\ntargets:\n  - name: a\n    c: {{fixtures}}/isolated_ok.c\n",
            tarball().display()
        ),
    );
    let out = build_in(&cache, &m).wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("matrix.yaml:2:5: ")
            && stderr.contains(&format!("but the matrix says {wrong}")),
        "{stderr}"
    );
    assert!(stderr.contains("nothing was built"), "{stderr}");
    let sources: Vec<_> = std::fs::read_dir(cache.join("pythons/sources"))
        .unwrap()
        .flatten()
        .collect();
    assert!(
        sources.is_empty(),
        "a download that does not match is not kept: {sources:?}"
    );
}

#[test]
fn an_unreachable_source_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    // Nothing listens on the discard port of this machine.
    let m = write_matrix(
        dir.path(),
        &format!(
            "pythons:\n  - {{ id: cp313x, source: {{ url: \"http://127.0.0.1:9/Python-3.13.0.tar.xz\", sha256: \"{}\" }} }}\ntargets:\n  - name: a\n    c: {{fixtures}}/isolated_ok.c\n",
            "a".repeat(64)
        ),
    );
    let out = build_in(&cache, &m).wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("cannot download http://127.0.0.1:9/Python-3.13.0.tar.xz"),
        "{stderr}"
    );
    assert!(!cache
        .join("pythons")
        .read_dir()
        .unwrap()
        .flatten()
        .any(|e| e.path().join("meta.json").exists()));
}

#[test]
fn two_runs_that_need_the_same_build_do_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    // A real interpreter build, made cheap: no optimisation, no test modules.
    let m = write_matrix(
        dir.path(),
        &format!(
            "pythons:\n  - {{ id: cp313q, source: {{ tarball: {} }}, configure: [\"OPT=-O0 -g0\", \"--disable-test-modules\"] }}\n\
             targets:\n  - name: a\n    c: {{fixtures}}/isolated_ok.c\n",
            tarball().display()
        ),
    );
    let first = build_in(&cache, &m);
    let second = build_in(&cache, &m);
    let (first, second) = (
        first.wait_with_output().unwrap(),
        second.wait_with_output().unwrap(),
    );
    let outs = [&first, &second];
    for o in outs {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let stdouts: Vec<String> = outs
        .iter()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .collect();
    let built = stdouts.iter().filter(|s| s.contains(" built in ")).count();
    let cached = stdouts.iter().filter(|s| s.contains(" cached: ")).count();
    assert_eq!((built, cached), (1, 1), "{stdouts:?}");
    let waited = outs
        .iter()
        .any(|o| String::from_utf8_lossy(&o.stderr).contains("waiting for another extmatrix run"));
    assert!(waited, "the second run said it waits");
    let entries: Vec<_> = std::fs::read_dir(cache.join("pythons"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("meta.json").is_file())
        .collect();
    assert_eq!(entries.len(), 1);
    // And the one build works.
    let listed = extmatrix_in(
        &["pythons", "--json", "--cache-dir", cache.to_str().unwrap()],
        None,
    );
    let v: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(v["built"][0]["id"], "cp313q");
    assert_eq!(v["built"][0]["python"]["version"]["minor"], 13);
}

#[test]
fn an_interpreter_in_the_cache_is_named_by_its_id() {
    // Built by `just setup` (or the tests above) into the user's cache; a
    // matrix names it like any found interpreter, without its build entry.
    let dir = tempfile::tempdir().unwrap();
    let m = write_matrix(
        dir.path(),
        "pythons: [cp313t, cp313d]\nscenarios: [free-threading]\ntargets:\n  - name: ok\n    c: {fixtures}/isolated_ok.c\n",
    );
    let run = run_matrix_with_cache(&m, &[], None);
    let ids: Vec<&str> = run.report["pythons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["cp313t", "cp313d"], "{}", run.stderr);
    assert_eq!(
        cell(&run.report, "ok", "cp313t", "free-threading")["outcome"],
        "pass"
    );
    assert_eq!(
        cell(&run.report, "ok", "cp313d", "free-threading")["outcome"],
        "n/a"
    );
    // And `auto` finds it too.
    let auto = write_matrix(
        dir.path(),
        "pythons: auto\nscenarios: [import]\ntargets:\n  - name: ok\n    c: {fixtures}/isolated_ok.c\n",
    );
    let run = run_matrix_with_cache(&auto, &["--python", "cp313td"], None);
    assert_eq!(
        cell(&run.report, "ok", "cp313td", "import")["outcome"],
        "pass"
    );
}
