//! The process groups extmatrix starts — a cell's harness, a build step —
//! and how it stops them.
//!
//! Everything extmatrix runs gets its own process group, so that whatever
//! it spawns can be killed with it, and so that the terminal's Ctrl-C does
//! not reach it behind extmatrix's back. The price is that extmatrix must
//! kill those groups itself on an interrupt: every [`Supervised`] child is
//! in one registry until it is reaped, and [`kill_all`] kills them all.
//! The runner and the build-step runner share this.
//!
//! A process group is not a cage: a process can leave it (`setsid`,
//! `setpgid`, a double fork). A cell's leader is therefore a *supervisor*
//! (the harness's own, `harness-c/supervisor.c`: a child subreaper that
//! kills every process below it when it is done). Such a leader is spawned
//! with [`Supervised::spawn_supervisor`] and asked to stop with SIGTERM
//! first ([`Supervised::stop`], [`kill_all`]), so that it can find what
//! left the group; only then, or if it does not stop in time, is the group
//! killed.

use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[cfg(target_os = "linux")]
pub mod activity;

/// How long [`kill_all`] gives supervisors to clean up after SIGTERM.
pub const STOP_GRACE: Duration = Duration::from_secs(6);

/// A running process group: its id (the leader's pid) and whether the
/// leader is a supervisor that cleans up below itself on SIGTERM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Group {
    pgid: libc::pid_t,
    supervisor: bool,
}

/// The process groups started and not yet reaped.
static RUNNING: Mutex<Vec<Group>> = Mutex::new(Vec::new());

/// The signal that interrupted this extmatrix; 0 while it runs on.
static INTERRUPTED: AtomicI32 = AtomicI32::new(0);

/// Stop everything: remember `signal` (the first one wins), kill every
/// supervised process group, and refuse to start new ones. Whoever is
/// waiting for a child sees it die and can ask [`interrupted`] why.
pub fn interrupt(signal: i32) {
    let _ = INTERRUPTED.compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst);
    kill_all();
}

/// The signal that interrupted this extmatrix, if one did.
pub fn interrupted() -> Option<i32> {
    match INTERRUPTED.load(Ordering::SeqCst) {
        0 => None,
        signal => Some(signal),
    }
}

/// `SIGSEGV` for 11, and so on; `signal N` for the rest.
pub fn signal_name(signal: i32) -> String {
    let name = match signal {
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGILL => "SIGILL",
        libc::SIGKILL => "SIGKILL",
        libc::SIGTERM => "SIGTERM",
        libc::SIGINT => "SIGINT",
        libc::SIGHUP => "SIGHUP",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGSYS => "SIGSYS",
        libc::SIGPIPE => "SIGPIPE",
        _ => return format!("signal {signal}"),
    };
    name.to_owned()
}

/// A child that leads its own process group, registered for [`kill_all`]
/// until it is reaped. Dropped unreaped, it kills its group and reaps.
pub struct Supervised {
    child: Child,
    supervisor: bool,
    reaped: bool,
}

impl Supervised {
    /// Spawn `command` as the leader of a new process group; refused once
    /// extmatrix is [`interrupt`]ed.
    pub fn spawn(command: &mut Command) -> io::Result<Supervised> {
        Self::spawn_group(command, false)
    }

    /// Spawn `command` as the leader of a new process group that is a
    /// supervisor: on SIGTERM it kills everything below it (whatever its
    /// group) and exits. [`Supervised::stop`] and [`kill_all`] send that
    /// first.
    pub fn spawn_supervisor(command: &mut Command) -> io::Result<Supervised> {
        Self::spawn_group(command, true)
    }

    fn spawn_group(command: &mut Command, supervisor: bool) -> io::Result<Supervised> {
        // Registered under the lock, so kill_all never misses a group; and
        // checked under it, so nothing starts after an interrupt.
        let mut running = RUNNING.lock().expect("registry lock");
        if interrupted().is_some() {
            return Err(io::Error::new(
                io::ErrorKind::Interrupted,
                "extmatrix was interrupted; nothing new is started",
            ));
        }
        let child = command.process_group(0).spawn()?;
        running.push(Group {
            pgid: child.id() as libc::pid_t,
            supervisor,
        });
        Ok(Supervised {
            child,
            supervisor,
            reaped: false,
        })
    }

    /// The child's pid, which is also its group's id.
    pub fn pid(&self) -> libc::pid_t {
        self.child.id() as libc::pid_t
    }

    /// Whether the child has exited, without reaping it: while it is a
    /// zombie its pid — the group's id — cannot be reused, so the group can
    /// still be killed safely.
    pub fn has_exited(&self) -> io::Result<bool> {
        exited_unreaped(self.pid())
    }

    /// Ask a supervisor to stop: SIGTERM (and SIGCONT, in case something
    /// stopped it). It kills what is below it and exits; the caller waits
    /// for that and kills the group if it takes too long. Any other leader:
    /// SIGKILL to the group.
    pub fn stop(&self) {
        if self.supervisor {
            ask_to_stop(self.pid());
        } else {
            self.kill_group();
        }
    }

    /// SIGKILL to the whole group (whatever the child left running in it too).
    pub fn kill_group(&self) {
        kill_group(self.pid());
    }

    /// Take the child off the registry and reap it. In that order: once
    /// reaped, its pid — the group's id — may be reused by an unrelated
    /// process group, which [`kill_all`] must never reach.
    pub fn wait(&mut self) -> io::Result<ExitStatus> {
        let pid = self.pid();
        if let Ok(mut running) = RUNNING.lock() {
            running.retain(|g| g.pgid != pid);
        }
        self.reaped = true;
        self.child.wait()
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        if !self.reaped {
            // Only on an error path: never leave a group running unreaped.
            self.kill_group();
            let _ = self.wait();
        }
    }
}

/// Run this thread, and the threads and processes it starts from now on,
/// on the first CPU it may use: how a test gives a cell a busy CPU to share
/// (the cell, and processes that spin, started after this).
pub fn pin_to_one_cpu() -> io::Result<()> {
    // SAFETY: a zeroed cpu_set_t is an empty set; the calls only read and
    // write the sets given.
    unsafe {
        let mut allowed: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, size_of_val(&allowed), &mut allowed) < 0 {
            return Err(io::Error::last_os_error());
        }
        let first = (0..libc::CPU_SETSIZE as usize)
            .find(|&cpu| libc::CPU_ISSET(cpu, &allowed))
            .ok_or_else(|| io::Error::other("no CPU allowed"))?;
        let mut one: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(first, &mut one);
        if libc::sched_setaffinity(0, size_of_val(&one), &one) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Send the child of `command` `signal` when the thread that spawns it dies
/// (Linux: `PR_SET_PDEATHSIG`), so a killed extmatrix leaves no `make` and
/// no cell running: SIGKILL for a build step, SIGTERM for a supervisor that
/// cleans up below itself. Elsewhere it does nothing.
pub fn die_with_parent(command: &mut Command, signal: i32) {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: getpid/prctl/getppid/kill are async-signal-safe.
        let parent = unsafe { libc::getpid() };
        unsafe {
            command.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, signal) != 0 {
                    return Err(io::Error::last_os_error());
                }
                // The parent may have died before the prctl.
                if libc::getppid() != parent {
                    libc::kill(libc::getpid(), libc::SIGKILL);
                }
                Ok(())
            });
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (command, signal);
}

/// Kill every supervised process group that is running (on an interrupt):
/// supervisors are asked first and given up to [`STOP_GRACE`] to clean up
/// below themselves, then every group is killed. The registry stays locked
/// throughout, so no leader in it can be reaped (and its pid reused) until
/// this is done.
pub fn kill_all() {
    let Ok(running) = RUNNING.lock() else {
        return;
    };
    let supervisors: Vec<libc::pid_t> = running
        .iter()
        .filter(|g| g.supervisor)
        .map(|g| g.pgid)
        .collect();
    for &pid in &supervisors {
        ask_to_stop(pid);
    }
    let deadline = Instant::now() + STOP_GRACE;
    while Instant::now() < deadline
        && !supervisors
            .iter()
            .all(|&pid| exited_unreaped(pid).unwrap_or(true))
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    for g in running.iter() {
        kill_group(g.pgid);
    }
}

fn exited_unreaped(pid: libc::pid_t) -> io::Result<bool> {
    // SAFETY: waitid fills `info`; WNOWAIT leaves the child waitable.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let rc = libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        );
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(info.si_pid() != 0)
    }
}

fn ask_to_stop(pid: libc::pid_t) {
    // SAFETY: plain syscalls on a registered, unreaped child.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
        libc::kill(pid, libc::SIGCONT);
    }
}

fn kill_group(pgid: libc::pid_t) {
    // SAFETY: plain syscall; ESRCH (the group is already gone) is fine.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn signals_have_their_names() {
        for (signal, name) in [
            (libc::SIGSEGV, "SIGSEGV"),
            (libc::SIGABRT, "SIGABRT"),
            (libc::SIGBUS, "SIGBUS"),
            (libc::SIGFPE, "SIGFPE"),
            (libc::SIGILL, "SIGILL"),
            (libc::SIGKILL, "SIGKILL"),
            (libc::SIGTERM, "SIGTERM"),
            (libc::SIGINT, "SIGINT"),
            (libc::SIGHUP, "SIGHUP"),
            (libc::SIGTRAP, "SIGTRAP"),
            (libc::SIGSYS, "SIGSYS"),
            (libc::SIGPIPE, "SIGPIPE"),
        ] {
            assert_eq!(signal_name(signal), name);
        }
        assert_eq!(signal_name(64), "signal 64");
    }

    /// `kill_all` reaches every test's groups: one test at a time.
    static SERIAL: Mutex<()> = Mutex::new(());

    fn registered(pid: libc::pid_t) -> bool {
        RUNNING.lock().unwrap().iter().any(|g| g.pgid == pid)
    }

    fn alive(pid: libc::pid_t) -> bool {
        // SAFETY: signal 0 only checks for existence.
        unsafe { libc::kill(pid, 0) == 0 }
    }

    /// A shell that starts a grandchild in its group and prints its pid.
    fn with_grandchild() -> (Supervised, libc::pid_t) {
        let dir = std::env::temp_dir().join(format!("extmatrix-process-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pid_file = dir.join(format!("{:?}", Instant::now()).replace(['.', ' '], "_"));
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(format!(
            "sleep 300 & echo $! > {}; wait",
            pid_file.display()
        ));
        let s = Supervised::spawn(&mut cmd).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let grandchild = loop {
            if let Some(pid) = std::fs::read_to_string(&pid_file)
                .ok()
                .and_then(|t| t.trim().parse().ok())
            {
                break pid;
            }
            assert!(Instant::now() < deadline, "the shell never started sleep");
            std::thread::sleep(Duration::from_millis(10));
        };
        (s, grandchild)
    }

    fn gone_soon(pid: libc::pid_t) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            // The grandchild is reparented and reaped by init; until then a zombie.
            let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            if !alive(pid) || state.contains(") Z ") {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    #[test]
    fn killing_the_group_kills_what_the_child_started() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let (mut s, grandchild) = with_grandchild();
        assert!(!s.has_exited().unwrap());
        s.kill_group();
        let status = s.wait().unwrap();
        assert!(!status.success());
        assert!(gone_soon(grandchild), "the grandchild survived");
    }

    fn exits_soon(s: &Supervised) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if s.has_exited().unwrap() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    #[test]
    fn kill_all_reaches_every_registered_group() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let (mut a, a_child) = with_grandchild();
        let (mut b, b_child) = with_grandchild();
        kill_all();
        assert!(exits_soon(&a) && exits_soon(&b), "kill_all missed a group");
        assert!(gone_soon(a_child) && gone_soon(b_child));
        a.wait().unwrap();
        b.wait().unwrap();
        let pids: Vec<_> = RUNNING.lock().unwrap().iter().map(|g| g.pgid).collect();
        assert!(!pids.contains(&a.pid()) && !pids.contains(&b.pid()));
    }

    #[test]
    fn dropping_an_unreaped_child_kills_its_group() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let (s, grandchild) = with_grandchild();
        let pid = s.pid();
        drop(s);
        assert!(gone_soon(grandchild), "the group outlived its Supervised");
        assert!(!registered(pid));
    }

    #[test]
    fn a_child_that_dies_with_its_parent_thread_lives_as_long_as_it() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let (pid_tx, pid_rx) = std::sync::mpsc::channel();
        let (exit_tx, exit_rx) = std::sync::mpsc::channel::<()>();
        let parent = std::thread::spawn(move || {
            let mut cmd = Command::new("sleep");
            cmd.arg("300");
            die_with_parent(&mut cmd, libc::SIGKILL);
            let child = cmd.spawn().unwrap();
            pid_tx.send(child.id() as libc::pid_t).unwrap();
            exit_rx.recv().unwrap();
            std::mem::forget(child);
        });
        let pid = pid_rx.recv().unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        assert!(
            !state.contains(") Z "),
            "it died while its parent thread lived"
        );
        exit_tx.send(()).unwrap();
        parent.join().unwrap();
        assert!(gone_soon(pid), "it outlived its parent thread");
        // SAFETY: reap the zombie this test made.
        unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
    }

    /// A shell that stands in for a supervisor: on SIGTERM it writes
    /// `stopped` to a file and exits 0. Returns once the trap is set.
    fn fake_supervisor(dir: &std::path::Path) -> (Supervised, std::path::PathBuf) {
        let marker = dir.join("stopped");
        let ready = dir.join("ready");
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(format!(
            "trap 'echo stopped > {}; exit 0' TERM; touch {}; while :; do sleep 0.05; done",
            marker.display(),
            ready.display()
        ));
        let s = Supervised::spawn_supervisor(&mut cmd).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !ready.exists() {
            assert!(Instant::now() < deadline, "the shell never set its trap");
            std::thread::sleep(Duration::from_millis(10));
        }
        (s, marker)
    }

    #[test]
    fn kill_all_asks_supervisors_to_stop_before_killing_their_groups() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let dir = tempfile_dir("kill-all");
        let (mut s, stopped) = fake_supervisor(&dir);
        kill_all();
        assert!(exits_soon(&s));
        let status = s.wait().unwrap();
        assert!(
            status.success() && stopped.exists(),
            "SIGTERM first, and time to act on it: {status:?}"
        );
    }

    #[test]
    fn stopping_a_supervisor_is_sigterm_and_stopping_anything_else_is_sigkill() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let dir = tempfile_dir("stop");
        let (mut s, stopped) = fake_supervisor(&dir);
        s.stop();
        assert!(exits_soon(&s));
        assert!(s.wait().unwrap().success() && stopped.exists());

        let (mut plain, grandchild) = with_grandchild();
        plain.stop();
        assert!(exits_soon(&plain));
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&plain.wait().unwrap()),
            Some(libc::SIGKILL)
        );
        assert!(gone_soon(grandchild));
    }

    fn tempfile_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(
            format!(
                "extmatrix-process-{}-{name}-{:?}",
                std::process::id(),
                Instant::now()
            )
            .replace(['.', ' '], "_"),
        );
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn an_exited_child_is_seen_without_being_reaped() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let mut s = Supervised::spawn(&mut Command::new("true")).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !s.has_exited().unwrap() {
            assert!(Instant::now() < deadline);
            std::thread::sleep(Duration::from_millis(5));
        }
        // Not reaped yet: the zombie keeps the pid.
        assert!(std::fs::read_to_string(format!("/proc/{}/stat", s.pid())).is_ok());
        assert!(s.wait().unwrap().success());
        assert!(!registered(s.pid()));
    }
}
