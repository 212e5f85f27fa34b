//! The harness's own state against what a correct module may do to the
//! process (docs/harness-protocol.md, "What the harness keeps to itself"):
//! each test does the hazardous thing from the smoke code, on the real
//! harness through `run_cell`, and fails if the harness still depended on
//! what was changed.

use crate::common::{command, errors, module_dir};
use extmatrix_core::Scenario;
use extmatrix_protocol::{Event, Forensics};
use extmatrix_runner::{run_cell, Lease, Observation, Termination};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

/// `smoke` on the `json` module in `scenario`, which must outlive
/// `timeout_s`: the observation of a timed-out cell.
fn run_until_timeout(scenario: Scenario, smoke: &str, timeout_s: u64) -> Observation {
    let mut cmd = command(scenario, "json", std::env::temp_dir(), smoke);
    cmd.timeout = Duration::from_secs(timeout_s);
    let obs = run_cell(&cmd, &Lease::none()).unwrap();
    assert!(
        matches!(obs.termination, Termination::TimedOut { .. }),
        "{:?}",
        obs.termination
    );
    obs
}

fn forensics(obs: &Observation) -> Option<&Forensics> {
    obs.events.iter().find_map(|e| match e {
        Event::Forensics(f) => Some(f),
        _ => None,
    })
}

fn dump_signals(obs: &Observation) -> Vec<i32> {
    obs.events
        .iter()
        .filter_map(|e| match e {
            Event::DumpSignal { signal } => Some(*signal),
            _ => None,
        })
        .collect()
}

/// `path` relative to the current directory (`../../x`).
fn relative_to_cwd(path: &Path) -> PathBuf {
    let cwd = std::env::current_dir().unwrap().canonicalize().unwrap();
    let path = path.canonicalize().unwrap();
    let common = cwd
        .components()
        .zip(path.components())
        .take_while(|(a, b)| a == b)
        .count();
    let mut rel: PathBuf = cwd
        .components()
        .skip(common)
        .map(|_| Component::ParentDir)
        .collect();
    rel.extend(path.components().skip(common));
    rel
}

/// Mutations caught: keeping pointers into argv (the title overwrites
/// the module name and its directory, so the re-import cannot find it).
#[test]
fn the_arguments_survive_a_target_that_overwrites_argv() {
    let dir = module_dir("argv_probe");
    // What process-title libraries do: the strings of argv and of the
    // environment, from /proc/self/stat's arg_start to env_end, become
    // the title (environ moved out first so the process keeps its
    // environment).
    let smoke = "import ctypes\n\
                 libc = ctypes.CDLL(None)\n\
                 libc.strdup.restype = libc.calloc.restype = ctypes.c_void_p\n\
                 libc.strdup.argtypes = [ctypes.c_void_p]\n\
                 libc.calloc.argtypes = [ctypes.c_size_t, ctypes.c_size_t]\n\
                 fields = open('/proc/self/stat').read().rsplit(')', 1)[1].split()\n\
                 start, end = int(fields[45]), int(fields[48])  # arg_start, env_end\n\
                 environ = ctypes.c_void_p.in_dll(libc, 'environ')\n\
                 old = ctypes.cast(environ.value, ctypes.POINTER(ctypes.c_void_p))\n\
                 n = 0\n\
                 while old[n]: n += 1\n\
                 new = ctypes.cast(libc.calloc(n + 1, 8), ctypes.POINTER(ctypes.c_void_p))\n\
                 for i in range(n): new[i] = libc.strdup(old[i])\n\
                 environ.value = ctypes.cast(new, ctypes.c_void_p).value\n\
                 ctypes.memset(start, 0, end - start)\n\
                 ctypes.memmove(start, b'argv_probe: busy', 16)\n\
                 assert open('/proc/self/cmdline', 'rb').read().startswith(b'argv_probe: busy')\n\
                 assert m.VALUE == 42\n";
    // Re-imports, not re-inits: CPython 3.12.1's ctypes does not survive
    // a second Py_Initialize.
    let obs = run_cell(
        &command(
            Scenario::Reimport,
            "argv_probe",
            dir.path().to_path_buf(),
            smoke,
        ),
        &Lease::none(),
    )
    .unwrap();
    assert_eq!(errors(&obs), Vec::<String>::new(), "{obs:#?}");
    assert_eq!(obs.cycles().filter(|c| c.ok).count(), 3, "{obs:#?}");
    assert!(obs.reported_done());
}

/// Mutations caught: a relative `--module-dir` or `--python-exe` read
/// against the current directory in a later cycle (after the target's
/// chdir the module is not found, or getpath finds no stdlib).
#[test]
fn relative_paths_survive_a_target_that_changes_directory() {
    let dir = module_dir("cwd_probe");
    let mut cmd = command(
        Scenario::Reinit,
        "cwd_probe",
        relative_to_cwd(dir.path()),
        "import os\nos.chdir('/')\nassert m.VALUE == 42\n",
    );
    cmd.python_exe = relative_to_cwd(&cmd.python_exe);
    assert!(cmd.module_dir.is_relative() && cmd.python_exe.is_relative());
    let obs = run_cell(&cmd, &Lease::none()).unwrap();
    assert_eq!(errors(&obs), Vec::<String>::new(), "{obs:#?}");
    assert_eq!(obs.cycles().filter(|c| c.ok).count(), 3, "{obs:#?}");
}

/// Mutations caught: asking for a hang's stacks with SIGUSR1 (the
/// target's handler gets it, no stacks come); a "no stacks" note when
/// they came; stopping through a signal
/// the target handles (SIGTERM here is the target's; the supervisor, where
/// no target code runs, is the one asked to stop).
#[test]
fn a_hang_is_dumped_and_stopped_whatever_usr1_and_term_handlers_the_target_has() {
    let obs = run_until_timeout(
        Scenario::Import,
        "import signal, time\n\
         signal.signal(signal.SIGUSR1, lambda *a: None)\n\
         signal.signal(signal.SIGTERM, lambda *a: None)\n\
         while True:\n    time.sleep(0.05)\n",
        2,
    );
    let dump = forensics(&obs).unwrap_or_else(|| panic!("no stacks: {obs:#?}"));
    assert!(dump.python.contains("<smoke>"), "{}", dump.python);
    assert!(
        !obs.runner_notes.iter().any(|n| n.contains("no stacks")),
        "stacks came, yet: {:?}",
        obs.runner_notes
    );
}

/// Mutations caught: not noticing that the target took the dump signal
/// (the driver would send the one the target now handles and get no
/// stacks); moving without telling the driver.
#[test]
fn a_target_that_takes_the_dump_signal_moves_the_dump_to_another() {
    // The first smoke takes the harness's dump signal and returns; the
    // re-import's smoke hangs. The step between is where the harness looks.
    let obs = run_until_timeout(
        Scenario::Reimport,
        "import signal, sys, time\n\
         if not hasattr(sys, '_extmatrix_took'):\n    \
             sys._extmatrix_took = signal.SIGRTMAX\n    \
             signal.signal(signal.SIGRTMAX, lambda *a: None)\n\
         else:\n    \
             while True:\n        time.sleep(0.05)\n",
        3,
    );
    let rtmax = libc::SIGRTMAX();
    assert_eq!(dump_signals(&obs), vec![rtmax, rtmax - 1], "{obs:#?}");
    let dump = forensics(&obs).unwrap_or_else(|| panic!("no stacks: {obs:#?}"));
    assert!(dump.python.contains("<smoke>"), "{}", dump.python);
}

/// Mutations caught: a forked copy of the harness writing on the channel
/// (its crash would read as the cell's, its steps as the cell's steps).
#[test]
fn a_process_the_target_forks_never_speaks_for_the_harness() {
    let obs = run_cell(
        &command(
            Scenario::Import,
            "json",
            std::env::temp_dir(),
            "import os, signal\n\
             pid = os.fork()\n\
             if pid == 0:\n    \
                 os.kill(os.getpid(), signal.SIGSEGV)\n\
             os.waitpid(pid, 0)\n",
        ),
        &Lease::none(),
    )
    .unwrap();
    assert_eq!(errors(&obs), Vec::<String>::new(), "{obs:#?}");
    assert_eq!(forensics(&obs), None, "{obs:#?}");
    assert_eq!(obs.termination, Termination::Exited { code: 0 });
}

/// Mutations caught: sending signal 0 (a no-op) when the harness said no
/// signal is left, and waiting for stacks that cannot come without saying
/// why there are none.
#[test]
fn a_target_that_takes_every_free_signal_leaves_a_note_not_a_silence() {
    let obs = run_until_timeout(
        Scenario::Reimport,
        "import signal, sys, time\n\
         if not hasattr(sys, '_extmatrix_took'):\n    \
             sys._extmatrix_took = True\n    \
             for s in range(signal.SIGRTMIN, signal.SIGRTMAX + 1):\n        \
                 signal.signal(s, lambda *a: None)\n\
         else:\n    \
             while True:\n        time.sleep(0.05)\n",
        2,
    );
    assert_eq!(dump_signals(&obs).last(), Some(&0), "{obs:#?}");
    assert_eq!(forensics(&obs), None);
    assert!(
        obs.runner_notes
            .iter()
            .any(|n| n.contains("no stacks at the timeout")),
        "{:?}",
        obs.runner_notes
    );
}

/// Mutations caught: a dump asked for and never answered (the target took
/// the signal in the very step that hangs, before the harness could
/// notice) passing without a word.
#[test]
fn a_dump_signal_taken_in_the_hanging_step_is_said_not_hidden() {
    let obs = run_until_timeout(
        Scenario::Import,
        "import signal, time\n\
         signal.signal(signal.SIGRTMAX, lambda *a: None)\n\
         while True:\n    time.sleep(0.05)\n",
        1,
    );
    assert_eq!(forensics(&obs), None, "{obs:#?}");
    assert!(
        obs.runner_notes
            .iter()
            .any(|n| n.contains("did not answer its dump signal")),
        "{:?}",
        obs.runner_notes
    );
}

/// A cell's process is laid out at the same addresses in every run: what
/// CPython keys by address (its type attribute cache) then keeps the same
/// references from run to run, and a correct module's reference count
/// cannot grow by chance. Mutation caught: randomization left on.
#[test]
fn a_cell_runs_without_address_randomization() {
    const ADDR_NO_RANDOMIZE: u32 = 0x0040000;
    let smoke = format!(
        "with open('/proc/self/personality') as f:\n    \
             persona = int(f.read(), 16)\n\
         assert persona & {ADDR_NO_RANDOMIZE} == {ADDR_NO_RANDOMIZE}, hex(persona)\n"
    );
    let mut cmd = command(Scenario::Import, "json", std::env::temp_dir(), &smoke);
    cmd.timeout = Duration::from_secs(30);
    let obs = run_cell(&cmd, &Lease::none()).unwrap();
    assert!(obs.finished(), "{:?}\n{}", obs.termination, obs.stderr_tail);
    assert!(errors(&obs).is_empty(), "{:?}", errors(&obs));
}

/// Processes that spin on the one CPU this thread runs on from now on (and
/// every cell it starts): other processes that keep a cell from its CPU.
/// Killed when dropped.
struct BusyCpu(Vec<std::process::Child>);

impl BusyCpu {
    fn with(spinners: usize) -> BusyCpu {
        extmatrix_process::pin_to_one_cpu().unwrap();
        let spin = || {
            std::process::Command::new("sh")
                .args(["-c", "while :; do :; done"])
                .spawn()
                .unwrap()
        };
        BusyCpu((0..spinners).map(|_| spin()).collect())
    }
}

impl Drop for BusyCpu {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `smoke` under `timeout_s`: how the cell ended, and how long it took.
fn run_timed(smoke: &str, timeout_s: u64) -> (Termination, Duration) {
    let dir = module_dir("starved");
    let mut cmd = command(Scenario::Import, "starved", dir.path().to_owned(), smoke);
    cmd.timeout = Duration::from_secs(timeout_s);
    let start = std::time::Instant::now();
    let obs = run_cell(&cmd, &Lease::none()).unwrap();
    (obs.termination, start.elapsed())
}

/// When a cell that timed out was found past its time, and how long it had
/// waited for a CPU other processes held, in ms.
fn timed_out(ended: Termination) -> (u64, u64) {
    match ended {
        Termination::TimedOut {
            after_ms,
            waited_ms,
        } => (after_ms, waited_ms),
        other => panic!("not a timeout: {other:?}"),
    }
}

const FOREVER: &str = "while True:\n    pass\n";

/// A machine too busy to give a cell its CPU is not the cell's fault, and
/// a cell that keeps its CPUs busy itself is not kept waiting by the
/// machine. One test, its parts one after the other on one CPU (at once
/// they would starve each other). Mutations caught: the wait for a CPU
/// counted against the timeout; no limit on waiting; the wait not
/// recorded; the cell's own processes counted as the machine.
#[test]
fn time_a_busy_machine_kept_a_cell_from_its_cpu_does_not_count() {
    // 1 s of CPU beside three spinners: about 4 s against a 3 s timeout.
    let spin_a_second = "import time\nstart = time.process_time()\n\
                         while time.process_time() - start < 1.0:\n    pass\n";
    let (ended, took) = {
        let _busy = BusyCpu::with(3);
        run_timed(spin_a_second, 3)
    };
    assert_eq!(ended, Termination::Exited { code: 0 }, "took {took:?}");
    // Otherwise the timeout was never at stake and this proves nothing.
    assert!(took > Duration::from_secs(3), "took {took:?}");

    // Spinning forever beside one spinner: it ends once it ran 1 s of its
    // own (at about 2 s), or at the limit if other tests took the CPU too,
    // and it says how long it waited.
    let (after_ms, waited_ms) = {
        let _busy = BusyCpu::with(1);
        timed_out(run_timed(FOREVER, 1).0)
    };
    assert!(waited_ms >= 500, "waited {waited_ms} ms of {after_ms}");
    assert!(
        after_ms - waited_ms >= 1000 || after_ms >= 3000,
        "{after_ms} ms, {waited_ms} waiting"
    );
    assert!(after_ms < 3500, "past the limit: {after_ms} ms");

    // Beside four spinners it runs a fifth of the time: the limit, three
    // timeouts, ends it before it ran 1 s of its own.
    let (after_ms, waited_ms) = {
        let _busy = BusyCpu::with(4);
        timed_out(run_timed(FOREVER, 1).0)
    };
    assert!((3000..3500).contains(&after_ms), "{after_ms} ms");
    assert!(
        after_ms - waited_ms < 1000,
        "{after_ms} ms, {waited_ms} waiting"
    );

    // Its own three spinners beside it on its one CPU: it waits as long,
    // but behind itself, and its timeout ends it.
    let own_spinners = format!(
        "import subprocess\n\
         spinners = [subprocess.Popen(['sh', '-c', 'while :; do :; done']) for _ in range(3)]\n\
         {FOREVER}"
    );
    let (after_ms, waited_ms) = {
        let _pinned = BusyCpu::with(0);
        timed_out(run_timed(&own_spinners, 1).0)
    };
    assert!(
        after_ms - waited_ms >= 1000 && after_ms < 2500,
        "{after_ms} ms, {waited_ms} counted as waiting for others"
    );
}
