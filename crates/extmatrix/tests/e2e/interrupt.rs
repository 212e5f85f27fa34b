//! SIGINT, SIGTERM and SIGHUP stop a run: the running cell's process group
//! is killed, nothing new starts, the partial report is written and the
//! status is 128 + the signal.

use crate::common::*;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

#[test]
fn a_signal_stops_the_run_with_a_partial_report() {
    for (signal, name) in [
        (libc::SIGTERM, "SIGTERM"),
        (libc::SIGHUP, "SIGHUP"),
        (libc::SIGINT, "SIGINT"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("slow-started");
        let m = write_matrix(
            dir.path(),
            &format!(
                "pythons: [cp312]\nscenarios: [import]\ntargets:\n\
                 \x20 - name: quick\n    c: {{fixtures}}/isolated_ok.c\n\
                 \x20 - name: slow\n    c: {{fixtures}}/isolated_ok.c\n    smoke: |\n      \
                 import os, time\n      open({marker:?}, 'w').write(str(os.getpid()))\n      time.sleep(120)\n\
                 \x20 - name: later\n    c: {{fixtures}}/isolated_ok.c\n",
                marker = marker.to_str().unwrap()
            ),
        );
        let json = dir.path().join("report.json");
        let child = Command::new(env!("CARGO_BIN_EXE_extmatrix"))
            .args([
                "run",
                m.to_str().unwrap(),
                "--jobs",
                "1",
                "--json",
                json.to_str().unwrap(),
            ])
            .env("EXTMATRIX_CACHE_DIR", cache_dir())
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        let harness_pid: i32 = loop {
            if let Some(pid) = std::fs::read_to_string(&marker)
                .ok()
                .and_then(|t| t.parse().ok())
            {
                break pid;
            }
            assert!(
                Instant::now() < deadline,
                "{name}: the slow cell never started"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        let sent = Instant::now();
        // SAFETY: a signal to our own child.
        unsafe { libc::kill(child.id() as i32, signal) };
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            sent.elapsed() < Duration::from_secs(10),
            "{name}: took {:?}",
            sent.elapsed()
        );
        assert_eq!(out.status.code(), Some(128 + signal), "{name}: {stderr}");
        assert!(!alive(harness_pid), "{name}: the running cell survived");

        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        let cells = report["cells"].as_array().unwrap();
        assert_eq!(cells.len(), 1, "{name}: {report}");
        assert_eq!(cells[0]["target"], "quick");
        assert_eq!(cells[0]["outcome"], "pass");
        assert_eq!(report["interrupted"]["signal"], name);
        let not_run: Vec<&str> = report["interrupted"]["not_run"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["target"].as_str().unwrap())
            .collect();
        assert_eq!(not_run, ["slow", "later"], "{name}");
        assert!(
            stdout.contains(&format!("Interrupted by {name}: 2 cells did not run")),
            "{name}: {stdout}"
        );
        assert!(
            stderr.contains(&format!("{name}: running cells and builds killed")),
            "{stderr}"
        );
    }
}

#[test]
fn a_target_that_stops_itself_is_a_hang_and_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("pid");
    let m = write_matrix(
        dir.path(),
        &format!(
            "pythons: [cp312]\nscenarios: [import]\ntargets:\n  - name: t\n    c: {{fixtures}}/isolated_ok.c\n    smoke: |\n      \
             import os, signal\n      open({marker:?}, 'w').write(str(os.getpid()))\n      os.kill(os.getpid(), signal.SIGSTOP)\n",
            marker = marker.to_str().unwrap()
        ),
    );
    let started = Instant::now();
    let run = run_matrix(&m, &["--timeout", "2"]);
    assert!(started.elapsed() < Duration::from_secs(20));
    let c = cell(&run.report, "t", "cp312", "import");
    assert_eq!(c["outcome"], "hang", "{c}");
    assert_eq!(c["details"]["step"], "smoke");
    let pid: i32 = std::fs::read_to_string(&marker).unwrap().parse().unwrap();
    assert!(!alive(pid), "the stopped harness survived");
    assert_eq!(run.status, 1);
}

#[test]
fn a_build_that_hangs_is_killed_at_the_build_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("never.h");
    let path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo on a path we own.
    assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o644) }, 0);
    std::fs::write(
        dir.path().join("hangs.c"),
        "#include <Python.h>\n#include \"never.h\"\n",
    )
    .unwrap();
    let m = write_matrix(
        dir.path(),
        "pythons: [cp312]\nscenarios: [import]\noptions: { build_timeout_s: 2 }\ntargets:\n  - name: hangs\n    c: hangs.c\n  - name: ok\n    c: {fixtures}/isolated_ok.c\n",
    );
    let started = Instant::now();
    let run = run_matrix(&m, &[]);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    let c = cell(&run.report, "hangs", "cp312", "import");
    assert_eq!(c["outcome"], "build-failed", "{c}");
    let summary = c["details"]["summary"].as_str().unwrap();
    assert!(summary.contains("did not finish within 2s"), "{summary}");
    assert_eq!(
        cell(&run.report, "ok", "cp312", "import")["outcome"],
        "pass"
    );
    // No compiler is left waiting on the FIFO.
    let waiting = processes_where(|args| {
        mentions(args, dir.path().to_str().unwrap()) && mentions(args, "hangs.c")
    });
    assert!(
        waiting.is_empty(),
        "a compiler still runs on hangs.c: {waiting:?}"
    );
}
