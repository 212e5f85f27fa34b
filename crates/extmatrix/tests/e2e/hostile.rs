//! Hostile targets: smoke code that forges verdicts, scribbles on the old
//! observation descriptor, escapes the process group, floods the channel or
//! stdout, hogs memory, stops its supervisor — and a smoke code too long for
//! a command line. The real `extmatrix` binary on real fixtures, read
//! through the JSON report.
//!
//! Every test runs extmatrix with `TMPDIR` inside a directory named after a
//! unique marker, so every harness process has the marker in its command
//! line (`--smoke-file`), and every process the smoke code starts has it in
//! its own (`sleep 3600.<marker>`); the test then checks that no process
//! with the marker is left, and kills any that is.

use crate::common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A unique marker for one test's processes, and a temporary directory
/// named after it.
struct Marker {
    id: String,
    dir: tempfile::TempDir,
}

impl Marker {
    fn new() -> Marker {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let id = format!("{}{:09}", std::process::id(), nanos);
        let dir = tempfile::Builder::new()
            .prefix(&format!("extmatrix-hostile-{id}-"))
            .tempdir()
            .unwrap();
        Marker { id, dir }
    }

    /// `sleep 3600.<marker>` as a Python list, for `os.execvp`.
    fn sleeper(&self) -> String {
        format!("['sleep', '3600.{}']", self.id)
    }

    /// Live processes whose command line contains the marker.
    fn processes(&self) -> Vec<i32> {
        processes_where(|args| mentions(args, &self.id))
    }

    fn kill_all(&self) -> Vec<i32> {
        let left = self.processes();
        for &pid in &left {
            // SAFETY: plain syscall on a process this test started (by its marker).
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
        left
    }

    /// No process of this test is left (a dying one gets a moment).
    fn assert_none_left(&self) {
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut left = self.processes();
        while !left.is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
            left = self.processes();
        }
        let killed = self.kill_all();
        assert!(
            left.is_empty(),
            "processes outlived their cells (killed now): {}",
            describe(&killed)
        );
    }
}

impl Drop for Marker {
    fn drop(&mut self) {
        self.kill_all();
    }
}

fn describe(pids: &[i32]) -> String {
    pids.iter()
        .map(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            format!(
                "{pid}: {}",
                String::from_utf8_lossy(&cmdline).replace('\0', " ")
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// One `extmatrix run` and how much memory it (and the processes it
/// waited for) used at most.
struct HostileRun {
    run: Run,
    max_rss_kib: i64,
    wall: Duration,
}

/// `extmatrix run MATRIX --json <tmp> EXTRA...` with the tests' shared cache
/// and `TMPDIR` in the marker's directory.
fn run_hostile(matrix: &Path, marker: &Marker, extra: &[&str]) -> HostileRun {
    let dir = marker.dir.path();
    let json = dir.join("report.json");
    let tmp = dir.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let out_path = dir.join("stdout.txt");
    let err_path = dir.join("stderr.txt");
    let started = Instant::now();
    // Reaped by wait4 below, which also returns its resource usage.
    #[allow(clippy::zombie_processes)]
    let child = Command::new(env!("CARGO_BIN_EXE_extmatrix"))
        .arg("run")
        .arg(matrix)
        .arg("--json")
        .arg(&json)
        .args(extra)
        .env("NO_COLOR", "1")
        .env("EXTMATRIX_CACHE_DIR", cache_dir())
        .env("TMPDIR", &tmp)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .expect("extmatrix runs");
    let mut status = 0;
    // SAFETY: wait4 on our own child; fills `usage`.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(rc, child.id() as i32, "wait4");
    let wall = started.elapsed();
    let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    let text = std::fs::read_to_string(&json)
        .unwrap_or_else(|e| panic!("no JSON report ({e}); stdout:\n{stdout}\nstderr:\n{stderr}"));
    HostileRun {
        run: Run {
            status: if libc::WIFEXITED(status) {
                libc::WEXITSTATUS(status)
            } else {
                -1
            },
            stdout,
            stderr,
            report: serde_json::from_str(&text).unwrap(),
        },
        max_rss_kib: usage.ru_maxrss,
        wall,
    }
}

/// A matrix of one cp312 `import` cell per (name, smoke code) on
/// isolated_ok, in the marker's directory.
fn matrix(marker: &Marker, options: &str, scenario: &str, targets: &[(&str, String)]) -> PathBuf {
    let mut yaml = format!("pythons: [cp312]\nscenarios: [{scenario}]\n{options}targets:\n");
    for (name, smoke) in targets {
        yaml.push_str(&format!(
            "  - name: {name}\n    c: {{fixtures}}/isolated_ok.c\n    smoke: |\n"
        ));
        for line in smoke.lines() {
            yaml.push_str(&format!("      {line}\n"));
        }
    }
    write_matrix(marker.dir.path(), &yaml)
}

fn notes(cell: &Value) -> String {
    cell["details"]["notes"]
        .as_array()
        .map(|n| {
            n.iter()
                .map(|n| n.as_str().unwrap_or("").to_owned())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------
// Forged and spoiled verdicts (issue 7, item 6)

/// Smoke code that writes a forged `done` to every descriptor above 2 —
/// wherever the channel is — and leaves with `_exit(0)`.
///
/// Before: fd 3 was the channel and trusted whole; the cell passed.
#[test]
fn a_forged_done_and_exit_0_is_not_a_pass() {
    let marker = Marker::new();
    let smoke = "import os\n\
                 for fd in map(int, os.listdir('/proc/self/fd')):\n    \
                     if fd > 2:\n        \
                         try: os.write(fd, b'{\"ev\":\"done\"}\\n')\n        \
                         except OSError: pass\n\
                 os._exit(0)\n";
    let m = matrix(&marker, "", "import", &[("forger", smoke.to_owned())]);
    let h = run_hostile(&m, &marker, &[]);
    let c = cell(&h.run.report, "forger", "cp312", "import");
    // The target ended the process while its smoke code ran: its crash.
    assert_eq!(c["outcome"], "crash", "{c}");
    assert_eq!(c["details"]["reason"], "ended-by-target", "{c}");
    assert!(
        c["details"]["foreign_lines"].as_u64() >= Some(1),
        "the forged line is counted as foreign: {c}"
    );
    assert!(
        notes(c).contains("without this run's token"),
        "the forged line is noted: {c}"
    );
    assert_eq!(h.run.status, 1);
    marker.assert_none_left();
}

/// A library that takes fd 3 for its own log: the third run of the smoke
/// code (re-import's old instance) truncates fd 3, seeks to its start and
/// writes garbage, after the second run raised.
///
/// Before: fd 3 was the channel, a file; the truncation erased the error
/// event and the cell passed.
#[test]
fn garbage_and_truncation_on_fd_3_do_not_change_the_verdict() {
    let marker = Marker::new();
    let smoke = format!(
        "import os\n\
         n = int(os.environ.get('HOSTILE_{id}', '0')) + 1\n\
         os.environ['HOSTILE_{id}'] = str(n)\n\
         if n == 2:\n    \
             raise ValueError('the second smoke fails')\n\
         if n == 3:\n    \
             try:\n        \
                 os.ftruncate(3, 0)\n        \
                 os.lseek(3, 0, os.SEEK_SET)\n        \
                 os.write(3, b'garbage\\n{{\"ev\":\"done\"}}\\n')\n    \
             except OSError:\n        \
                 pass\n",
        id = marker.id
    );
    let m = matrix(&marker, "", "reimport", &[("scribbler", smoke)]);
    let h = run_hostile(&m, &marker, &[]);
    let c = cell(&h.run.report, "scribbler", "cp312", "reimport");
    // The second smoke failed (the smoke code counts in the environment,
    // which the alone run does not share): what the scribbling did after
    // changes nothing.
    assert_eq!(c["outcome"], "declaration-mismatch", "{c}");
    let errors = c["details"]["errors"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        errors.iter().any(|e| e["exc_type"] == "ValueError"),
        "the error raised before the scribbling is kept: {c}"
    );
    marker.assert_none_left();
}

// ---------------------------------------------------------------------------
// Escaping the process group (item 4)

/// Three ways out of the cell's process group: `setsid` in a child,
/// `setpgid` in a child, and the daemon's double fork (`setsid` in the
/// child, which forks the sleeper and exits).
/// Each leaves a `sleep` running and returns; the parent waits until the
/// sleeper has left the group, so the escape is real.
///
/// Before: the cells passed, said nothing, and the sleepers survived.
#[test]
fn processes_that_leave_the_process_group_are_killed_and_reported() {
    let marker = Marker::new();
    let sleeper = marker.sleeper();
    let escape = |leave: &str, double: bool| {
        let exec = if double {
            format!(
                "    if os.fork() == 0:\n        os.write(w, b'x')\n        os.execvp('sleep', {sleeper})\n    os._exit(0)\n"
            )
        } else {
            format!("    os.write(w, b'x')\n    os.execvp('sleep', {sleeper})\n")
        };
        format!(
            "import os\nr, w = os.pipe()\npid = os.fork()\nif pid == 0:\n    {leave}\n{exec}\
             os.close(w)\nassert os.read(r, 1) == b'x'\n{}",
            if double { "os.waitpid(pid, 0)\n" } else { "" }
        )
    };
    let targets = [
        ("setsid", escape("os.setsid()", false)),
        ("setpgid", escape("os.setpgid(0, 0)", false)),
        ("double_fork", escape("os.setsid()", true)),
    ];
    let m = matrix(&marker, "", "import", &targets);
    let h = run_hostile(&m, &marker, &[]);
    for (name, _) in &targets {
        let c = cell(&h.run.report, name, "cp312", "import");
        assert_eq!(c["outcome"], "pass", "{name}: evidence, not a verdict: {c}");
        assert_eq!(c["details"]["left_behind"], 1, "{name}: {c}");
        assert!(
            notes(c).contains("1 process(es) still running below the harness"),
            "{name}: {c}"
        );
    }
    marker.assert_none_left();
}

/// The target stops its supervisor (SIGSTOP) after starting a `setsid`
/// sleeper, then sleeps: at the timeout the supervisor is continued and
/// asked to stop, and still finds the sleeper.
///
/// Before: there was no supervisor (the check for one keeps the smoke code
/// from stopping extmatrix itself) and the sleeper survived.
#[test]
fn a_stopped_supervisor_still_cleans_up_at_the_timeout() {
    let marker = Marker::new();
    let smoke = format!(
        "import os, signal, time\n\
         r, w = os.pipe()\n\
         if os.fork() == 0:\n    \
             os.setsid()\n    \
             os.write(w, b'x')\n    \
             os.execvp('sleep', {})\n\
         os.close(w)\n\
         assert os.read(r, 1) == b'x'\n\
         with open(f'/proc/{{os.getppid()}}/cmdline', 'rb') as f:\n    \
             parent = f.read()\n\
         if b'extmatrix-harness' in parent:\n    \
             os.kill(os.getppid(), signal.SIGSTOP)\n\
         time.sleep(300)\n",
        marker.sleeper()
    );
    let m = matrix(&marker, "", "import", &[("stopper", smoke)]);
    let h = run_hostile(&m, &marker, &["--timeout", "2"]);
    let c = cell(&h.run.report, "stopper", "cp312", "import");
    assert_eq!(c["outcome"], "hang", "{c}");
    assert!(
        c["details"]["left_behind"].as_u64() >= Some(1),
        "the sleeper is reported: {c}"
    );
    marker.assert_none_left();
}

// ---------------------------------------------------------------------------
// Bounded resources (item 5)

/// 1 GiB without a newline, in 1 MiB writes, to every descriptor above 2.
///
/// Before: fd 3 was a file read whole into memory at the end (over 2 GB of
/// RSS in extmatrix).
#[test]
fn a_flood_on_the_channel_is_cut_and_extmatrix_stays_small() {
    let marker = Marker::new();
    let smoke = "import os\n\
                 chunk = b'x' * (1 << 20)\n\
                 for fd in map(int, os.listdir('/proc/self/fd')):\n    \
                     if fd > 2:\n        \
                         try:\n            \
                             for _ in range(1024): os.write(fd, chunk)\n        \
                         except OSError:\n            \
                             pass\n";
    let m = matrix(&marker, "", "import", &[("flood", smoke.to_owned())]);
    let h = run_hostile(&m, &marker, &[]);
    assert!(
        h.max_rss_kib < 400 * 1024,
        "extmatrix (or a process it waited for) peaked at {} MiB",
        h.max_rss_kib / 1024
    );
    let c = cell(&h.run.report, "flood", "cp312", "import");
    assert_eq!(c["outcome"], "harness-error", "{c}");
    let summary = c["details"]["summary"].as_str().unwrap_or("");
    assert!(
        summary.contains("observation channel passed its 16 MiB cap"),
        "{summary}"
    );
    assert!(h.wall < Duration::from_secs(60), "took {:?}", h.wall);
    marker.assert_none_left();
}

/// 3 GiB on stdout, in 1 MiB writes.
///
/// Before: stdout was a file that grew by all of it (on disk), and the
/// report said nothing of what was dropped.
#[test]
fn a_stdout_flood_is_cut_and_says_how_much_was_dropped() {
    let marker = Marker::new();
    let smoke = "import os\n\
                 chunk = b'y' * (1 << 20)\n\
                 for _ in range(3 * 1024):\n    \
                     os.write(1, chunk)\n";
    let m = matrix(&marker, "", "import", &[("chatty", smoke.to_owned())]);
    let h = run_hostile(&m, &marker, &[]);
    let c = cell(&h.run.report, "chatty", "cp312", "import");
    let dropped = c["details"]["stdout_dropped_bytes"].as_u64().unwrap_or(0);
    assert!(
        ((63 << 20)..=(64 << 20)).contains(&dropped),
        "up to the 64 MiB cap, less the tail: {dropped}: {c}"
    );
    assert!(notes(c).contains("stdout cut at 64 MiB"), "{c}");
    // What followed the cut (SIGPIPE here) is extmatrix's doing.
    assert_eq!(c["outcome"], "harness-error", "{c}");
    let summary = c["details"]["summary"].as_str().unwrap_or("");
    assert!(
        summary.starts_with("stdout passed its 64 MiB cap"),
        "{summary}"
    );
    assert!(h.wall < Duration::from_secs(60), "took {:?}", h.wall);
    marker.assert_none_left();
}

/// `bytes(N)` asks for N zeroed bytes at once (calloc: no page is touched
/// when it succeeds), beyond the default limit and beyond a matrix's own.
///
/// Before: no limit; the allocation succeeded and the cells passed.
#[test]
fn a_memory_hog_gets_a_verdict_naming_the_limit() {
    let marker = Marker::new();
    for (options, size, limit) in [
        ("", "8 << 30", "4096 MiB"),
        ("options: { memory_mb: 1024 }\n", "2 << 30", "1024 MiB"),
    ] {
        let m = matrix(
            &marker,
            options,
            "import",
            &[("hog", format!("hoard = bytes({size})\n"))],
        );
        let h = run_hostile(&m, &marker, &[]);
        let c = cell(&h.run.report, "hog", "cp312", "import");
        assert_eq!(c["outcome"], "import-error", "{options}: {c}");
        let summary = c["details"]["summary"].as_str().unwrap_or("");
        assert!(
            summary.starts_with("MemoryError") && summary.contains(limit),
            "{options}: {summary}"
        );
    }
    marker.assert_none_left();
}

// ---------------------------------------------------------------------------
// Smoke code too long for a command line (item 7)

/// 200 KiB of smoke code (comments and assignments, then a real check).
///
/// Before: the smoke code went on the command line; exec failed with
/// "Argument list too long" and the cell was a harness-error.
#[test]
fn a_200_kib_smoke_code_works() {
    let marker = Marker::new();
    let mut smoke = String::new();
    let mut i = 0;
    while smoke.len() < 200 * 1024 {
        smoke.push_str(&format!("pad_{i} = {i}  # padding the smoke code\n"));
        i += 1;
    }
    smoke.push_str(&format!(
        "assert pad_{} == {}\nassert m.bump() == 1\n",
        i - 1,
        i - 1
    ));
    let m = matrix(&marker, "", "import", &[("big", smoke)]);
    let h = run_hostile(&m, &marker, &[]);
    let c = cell(&h.run.report, "big", "cp312", "import");
    assert_eq!(c["outcome"], "pass", "{c}");
    assert_eq!(h.run.status, 0, "{}", h.run.stderr);
    marker.assert_none_left();
}
