//! What a cell's process sees of its run, and what survives its crash: on
//! the real harness, through `run_cell`.

use extmatrix_core::Scenario;
use extmatrix_protocol::Event;
use extmatrix_runner::{run_cell, CellCommand, Lease, Observation, Stress, Termination, OBS_FD};
use std::time::Duration;

/// The harness for cp312 (or any non-free-threaded interpreter), built in
/// the cache the extmatrix tests share, and a cell command running
/// `smoke` in `import` on the `json` module (no fixture to build).
fn command(smoke: &str) -> CellCommand {
    let (py, harness) = crate::common::real_harness();
    CellCommand {
        harness,
        scenario: Scenario::Import,
        module: "json".into(),
        module_dir: std::env::temp_dir(),
        smoke: Some(smoke.into()),
        python_exe: py.path.clone(),
        cycles: 1,
        stress: Stress::default(),
        module_file: None,
        debug_allocator: false,
        subinterp: None,
        alone: false,
        site: false,
        timeout: Duration::from_secs(30),
        deadlock: None,
        memory_mb: Some(4096),
    }
}

fn errors(obs: &Observation) -> Vec<String> {
    obs.events
        .iter()
        .filter_map(|e| match e {
            Event::Error(f) => Some(format!("{}: {}", f.exc_type, f.message)),
            _ => None,
        })
        .collect()
}

/// Mutations caught: leaving the token on the harness's command line (any
/// process of the user could read it in /proc); leaving inherited
/// descriptors open in the cell; a low channel descriptor. (The harness's
/// own two memory files for crash forensics are its, not inherited.)
#[test]
fn the_cell_sees_no_token_and_no_descriptor_but_its_own_and_the_channel() {
    let smoke = format!(
        "import os\n\
         for pid in (os.getpid(), os.getppid()):\n    \
             with open(f'/proc/{{pid}}/cmdline', 'rb') as f:\n        \
                 args = f.read().split(b'\\0')\n    \
             token = args[args.index(b'--token') + 1]\n    \
             assert token and set(token) == {{ord('-')}}, token\n\
         def own(fd):  # the harness's crash forensics (memory files)\n    \
             try:\n        \
                 return os.readlink(f'/proc/self/fd/{{fd}}').startswith('/memfd:extmatrix-')\n    \
             except OSError:\n        \
                 return False\n\
         fds = sorted(int(fd) for fd in os.listdir('/proc/self/fd') if not own(fd))\n\
         assert [fd for fd in fds if fd > 2][-1] == {OBS_FD}, fds\n\
         assert len([fd for fd in fds if fd > 2]) == 2, fds  # the channel and listdir's own\n"
    );
    // An inherited descriptor without FD_CLOEXEC, as a careless parent of
    // extmatrix would leave one.
    let leaked = std::fs::File::open("/dev/null").unwrap();
    // SAFETY: clearing FD_CLOEXEC on a descriptor this test owns.
    unsafe {
        libc::fcntl(std::os::fd::AsRawFd::as_raw_fd(&leaked), libc::F_SETFD, 0);
    }
    let obs = run_cell(&command(&smoke), &Lease::none()).unwrap();
    drop(leaked);
    assert_eq!(errors(&obs), Vec::<String>::new(), "{obs:#?}");
    assert_eq!(obs.termination, Termination::Exited { code: 0 });
    assert!(obs.events.contains(&Event::Done));
    assert_eq!(obs.streams.foreign_lines, 0);
}

/// Mutations caught: the supervisor exiting 0 instead of raising the
/// child's signal; the runner not draining the channel after the exit.
#[test]
fn a_crash_is_the_same_signal_and_every_line_before_it_is_kept() {
    let obs = run_cell(
        &command(
            "import os, signal\nprint('before the crash', flush=True)\nos.kill(os.getpid(), signal.SIGSEGV)\n",
        ),
        &Lease::none(),
    )
    .unwrap();
    assert!(
        matches!(&obs.termination, Termination::Signaled { signal, .. } if *signal == libc::SIGSEGV),
        "{:?}",
        obs.termination
    );
    assert_eq!(
        obs.last_step().map(|s| s.to_string()).as_deref(),
        Some("smoke")
    );
    assert!(
        obs.events.contains(&Event::Cleanup { left_behind: 0 }),
        "the supervisor's line comes after the crash: {:?}",
        obs.events
    );
    assert_eq!(obs.stdout_tail, "before the crash\n");
}

/// Mutations caught: timing out a cell whose crash forensics (gdb) run
/// past the timeout, so a crash reads as a hang on a loaded machine.
#[test]
fn a_crash_whose_stacks_outlast_the_timeout_is_still_a_crash() {
    // The crash comes 0.2 s before the timeout, counted from the harness's
    // own start (its supervisor's start time in /proc), so a loaded machine
    // neither makes it late nor gives gdb the time to finish before.
    let mut cmd = command(
        "import os, signal, time\n\
         fields = open(f'/proc/{os.getppid()}/stat').read().rsplit(')', 1)[1].split()\n\
         started = int(fields[19]) / os.sysconf('SC_CLK_TCK')\n\
         uptime = float(open('/proc/uptime').read().split()[0])\n\
         time.sleep(max(0.0, 1.3 - (uptime - started)))\n\
         os.kill(os.getpid(), signal.SIGSEGV)\n",
    );
    cmd.timeout = Duration::from_millis(1500);
    let obs = run_cell(&cmd, &Lease::none()).unwrap();
    assert!(
        matches!(&obs.termination, Termination::Signaled { signal, .. } if *signal == libc::SIGSEGV),
        "{:?}",
        obs.termination
    );
    assert!(
        obs.events
            .iter()
            .any(|e| matches!(e, Event::Forensics(f) if f.signal == "SIGSEGV")),
        "{:?}",
        obs.events
    );
}
