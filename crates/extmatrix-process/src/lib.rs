//! The process groups extmatrix starts — a cell's harness, a build step —
//! and how it stops them.
//!
//! Everything extmatrix runs gets its own process group, so that whatever
//! it spawns can be killed with it, and so that the terminal's Ctrl-C does
//! not reach it behind extmatrix's back. The price is that extmatrix must
//! kill those groups itself on an interrupt: every [`Supervised`] child is
//! in one registry until it is reaped, and [`kill_all`] kills them all.
//! The runner and the build-step runner share this; the hardening of
//! process supervision (subreapers, cgroups, more signals) goes here.

use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Mutex;

/// The process groups started and not yet reaped.
static RUNNING: Mutex<Vec<libc::pid_t>> = Mutex::new(Vec::new());

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
    reaped: bool,
}

impl Supervised {
    /// Spawn `command` as the leader of a new process group; refused once
    /// extmatrix is [`interrupt`]ed.
    pub fn spawn(command: &mut Command) -> io::Result<Supervised> {
        let refused = || {
            io::Error::new(
                io::ErrorKind::Interrupted,
                "extmatrix was interrupted; nothing new is started",
            )
        };
        if interrupted().is_some() {
            return Err(refused());
        }
        let child = command.process_group(0).spawn()?;
        RUNNING
            .lock()
            .expect("registry lock")
            .push(child.id() as libc::pid_t);
        let supervised = Supervised {
            child,
            reaped: false,
        };
        // An interrupt between the check and the registration missed it.
        if interrupted().is_some() {
            return Err(refused()); // dropping it kills its group
        }
        Ok(supervised)
    }

    /// The child's pid, which is also its group's id.
    pub fn pid(&self) -> libc::pid_t {
        self.child.id() as libc::pid_t
    }

    /// Whether the child has exited, without reaping it: while it is a
    /// zombie its pid — the group's id — cannot be reused, so the group can
    /// still be killed safely.
    pub fn has_exited(&self) -> io::Result<bool> {
        // SAFETY: waitid fills `info`; WNOWAIT leaves the child waitable.
        unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            let rc = libc::waitid(
                libc::P_PID,
                self.pid() as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            );
            if rc < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(info.si_pid() != 0)
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
            running.retain(|&p| p != pid);
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

/// Make the child of `command` die when the thread that spawns it dies
/// (Linux: `PR_SET_PDEATHSIG`), so a killed extmatrix leaves no `make`
/// running. Elsewhere it does nothing.
pub fn die_with_parent(command: &mut Command) {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: getpid/prctl/getppid/kill are async-signal-safe.
        let parent = unsafe { libc::getpid() };
        unsafe {
            command.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
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
    let _ = command;
}

/// Kill every supervised process group that is running (on an interrupt).
pub fn kill_all() {
    if let Ok(running) = RUNNING.lock() {
        for &pgid in running.iter() {
            kill_group(pgid);
        }
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

    /// `kill_all` reaches every test's groups: one test at a time.
    static SERIAL: Mutex<()> = Mutex::new(());

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
        let pids = RUNNING.lock().unwrap().clone();
        assert!(!pids.contains(&a.pid()) && !pids.contains(&b.pid()));
    }

    #[test]
    fn dropping_an_unreaped_child_kills_its_group() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let (s, grandchild) = with_grandchild();
        let pid = s.pid();
        drop(s);
        assert!(gone_soon(grandchild), "the group outlived its Supervised");
        assert!(!RUNNING.lock().unwrap().contains(&pid));
    }

    #[test]
    fn a_child_that_dies_with_its_parent_thread_lives_as_long_as_it() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let (pid_tx, pid_rx) = std::sync::mpsc::channel();
        let (exit_tx, exit_rx) = std::sync::mpsc::channel::<()>();
        let parent = std::thread::spawn(move || {
            let mut cmd = Command::new("sleep");
            cmd.arg("300");
            die_with_parent(&mut cmd);
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
        assert!(!RUNNING.lock().unwrap().contains(&s.pid()));
    }
}
