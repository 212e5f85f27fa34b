//! What a running cell's processes are doing, read from `/proc` (Linux).
//!
//! Two questions the runner asks while a cell runs, so that a hang costs
//! less than its whole timeout:
//!
//! - Is the cell *idle*? A cell that hangs (a deadlock, a `time.sleep`, a
//!   wait for input that never comes) holds one of the `--jobs` slots until
//!   its timeout while it uses no CPU. Its CPU time not moving for
//!   [`IDLE_AFTER`], while it does not wait for a CPU either, says so; the
//!   runner can then start another cell beside it. Idle is a scheduling
//!   hint and nothing more: it changes no verdict.
//! - Is the cell *deadlocked*? Every thread of its Python process waits on
//!   a lock with no timeout, and nothing will ever release those locks: no
//!   thread of the cell runs, none can wake up by itself. Then waiting out
//!   the timeout teaches nothing, and the runner can end the cell early as a
//!   `hang` with the reason `deadlock`. A sleep, a wait with a timeout
//!   (`threading.Event().wait(5)`, CPython's own GIL wait) or I/O (a read,
//!   a poll) can end by itself, so a thread in one of those is no deadlock;
//!   neither is a thread that runs, is stopped, or whose wait cannot be
//!   read. This verdict must never be wrong, so every doubt says "no".
//!
//! A lock wait, to the kernel, is a `futex` system call with a wait
//! operation and no timeout; `/proc/<pid>/task/<tid>/syscall` shows the
//! call and its arguments for a thread blocked in it, `.../stat` its state.
//! A futex wait is always an interruptible sleep (`S`); a thread in `D` is
//! waiting on the kernel itself (a disk, a page fault inside the call),
//! which ends by itself, so only `S` counts.
//!
//! A third reading is not a question but a measure: how long the scenario
//! process's main thread has waited for a CPU (`Sample::waited_ns`), and of
//! that, what other processes held ([`Watch::waited_for_others`]: no more
//! than the cell's own processes left unused of the CPUs it may use). That
//! is time the machine gave to others, which a timeout must not count
//! against the cell (see `extmatrix-runner`).
//!
//! [`sample`] reads one moment; [`Watch`] turns samples into an
//! [`Activity`] ([`Watch::poll`] does both, the runner's way in). One moment
//! proves nothing — a thread may just be passing through a lock — so a
//! deadlock is declared only after every sample for `deadlock_after` looked
//! like one and nothing of the cell ran meanwhile.
//!
//! The cell's tree: `root` is the harness's supervisor, a child subreaper,
//! so every process the target starts stays below it, whatever group or
//! session it moves to; `focus` is the scenario process (the one that runs
//! Python), a child of root. CPU time counts the whole tree. The deadlock
//! test asks every process below root, not only focus: a child process that
//! sleeps may wake up and release a lock focus waits on (a shared futex) or
//! signal it. Root itself only waits for its child and is not asked.
//!
//! What `/proc` cannot show: a one-shot timer signal that will interrupt the
//! wait (`signal.alarm(n)`). Such a cell is called deadlocked after
//! `deadlock_after`, where waiting out the timeout would have seen the alarm
//! if it was due before. (A periodic timer shows: its handler runs, and the
//! waiting threads' time on a CPU moves.)

use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A process or thread id.
pub type Pid = libc::pid_t;

/// How long a cell's CPU time must stand still before it is [`Activity::Idle`]:
/// long next to a clock tick (10 ms), so a working cell that merely blocked
/// for a moment is not called idle; short next to any timeout. Short
/// matters: a hang holds its job slot until it is called idle, and a run's
/// hangs start first (longest first), so at 300 ms the default matrix's
/// seven hangs held both slots for a second before any other cell ran.
pub const IDLE_AFTER: Duration = Duration::from_millis(150);

/// How often the runner should [`Watch::poll`] a running cell: a few polls
/// inside [`IDLE_AFTER`], and cheap enough (measured on a loaded 2-core VM,
/// a 22-thread process: 0.15 ms to poll it busy, 0.8 ms for a full
/// [`sample`] of every thread — under 2 % of a core at this rate).
pub const SAMPLE_EVERY: Duration = Duration::from_millis(50);

/// What a cell is doing, as a [`Watch`] judges it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activity {
    /// Its CPU time, or its wait for a CPU, moved within [`IDLE_AFTER`] (or
    /// it was just started).
    Busy,
    /// Neither its CPU time nor its wait for a CPU has moved for the
    /// watch's `idle_after`.
    Idle,
    /// For the watch's `deadlock_after`, every sample showed every thread
    /// below root waiting on a lock with no timeout, and nothing ran.
    Deadlocked,
}

/// One moment of a cell's process tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// CPU time of root and every descendant, in clock ticks (1/`CLK_TCK`
    /// s, see [`Sample::cpu_time`]): user and system, their own and that of
    /// children they reaped.
    pub cpu_ticks: u64,
    /// The scenario process asked about, if known.
    pub focus: Option<Pid>,
    /// Every thread of every process below root (and root's own when it is
    /// the focus), focus's first. Empty when [`Watch::poll`] did not need
    /// them.
    pub threads: Vec<Thread>,
    /// Time on a CPU of the threads that wait on locks, in ns (their
    /// `schedstat`), summed: it moves if any of them ran at all, where
    /// `cpu_ticks` moves in 10 ms steps (a timer signal handled now and then
    /// does not show there). `None` if one was unreadable or the threads
    /// were not read.
    pub run_ns: Option<u64>,
    /// How long focus's main thread — the one that runs the scenario's
    /// steps — has waited for a CPU since it started, in ns (the
    /// `run_delay` of its `schedstat`): ready to run while other processes
    /// had every CPU. `None` without a focus, or when it was unreadable.
    pub waited_ns: Option<u64>,
}

/// One thread of the tree and what it is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thread {
    pub pid: Pid,
    pub tid: Pid,
    /// Its name (`comm`), e.g. `python3` or a thread name.
    pub comm: String,
    /// The state letter of `stat`: `R` running, `S` sleeping, `D`
    /// uninterruptible, `T`/`t` stopped or traced, `Z` exited…
    pub state: char,
    pub doing: Doing,
}

/// What a thread's `syscall` file (and its state) says it is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Doing {
    /// On a CPU, or ready to be.
    Running,
    /// In a futex wait operation; with no timeout it is a lock wait.
    Lock { timeout: bool },
    /// In `nanosleep` or `clock_nanosleep`: `time.sleep`.
    Sleep { syscall: libc::c_long },
    /// In any other system call: I/O, poll, waitpid, a futex wake…
    Syscall { syscall: libc::c_long },
    /// Blocked in the kernel but not in a system call (a page fault).
    Blocked,
    /// Stopped by a signal or held by a debugger.
    Stopped,
    /// Exited, not yet reaped: it can do nothing anymore.
    Exited,
    /// The `syscall` file could not be read (EACCES under some ptrace
    /// policies, a non-dumpable process): never a lock wait.
    Unknown(String),
}

impl Sample {
    /// Whether this moment looks like a deadlock: there is a focus, and
    /// every live thread below root — at least one of focus's among them —
    /// waits on a lock with no timeout.
    pub fn all_waiting_on_locks(&self) -> bool {
        let Some(focus) = self.focus else {
            return false;
        };
        let mut focus_waits = false;
        for thread in self.threads.iter().filter(|t| t.doing != Doing::Exited) {
            if !thread.waits_on_lock() {
                return false;
            }
            focus_waits |= thread.pid == focus;
        }
        focus_waits
    }

    /// [`Sample::cpu_ticks`] as a duration.
    pub fn cpu_time(&self) -> Duration {
        Duration::from_secs_f64(self.cpu_ticks as f64 / ticks_per_second() as f64)
    }

    /// One line per thread (`tid (comm): what it does`), for a hang's notes;
    /// threads of processes other than focus say which process.
    pub fn describe(&self) -> Vec<String> {
        self.threads
            .iter()
            .map(|t| match self.focus {
                Some(focus) if t.pid == focus => t.to_string(),
                _ => format!("process {}, thread {t}", t.pid),
            })
            .collect()
    }
}

impl Thread {
    /// Asleep (`S`) in a futex wait with no timeout: only another thread, or
    /// a process sharing the lock, can end it.
    pub fn waits_on_lock(&self) -> bool {
        self.state == 'S' && self.doing == (Doing::Lock { timeout: false })
    }
}

impl fmt::Display for Thread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.tid, self.comm, self.doing)?;
        if self.state == 'D' {
            f.write_str(", uninterruptible")?;
        }
        Ok(())
    }
}

impl fmt::Display for Doing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Doing::Running => f.write_str("running"),
            Doing::Lock { timeout: false } => f.write_str("futex wait, no timeout"),
            Doing::Lock { timeout: true } => f.write_str("futex wait with a timeout"),
            Doing::Sleep { syscall } | Doing::Syscall { syscall } => {
                f.write_str(&syscall_name(*syscall))
            }
            Doing::Blocked => f.write_str("blocked outside a system call"),
            Doing::Stopped => f.write_str("stopped"),
            Doing::Exited => f.write_str("exited"),
            Doing::Unknown(why) => write!(f, "unknown ({why})"),
        }
    }
}

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`), the unit of
/// [`Sample::cpu_ticks`]; 100 when it cannot be asked.
pub fn ticks_per_second() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    // SAFETY: sysconf has no preconditions.
    *TICKS.get_or_init(|| match unsafe { libc::sysconf(libc::_SC_CLK_TCK) } {
        n if n > 0 => n as u64,
        _ => 100,
    })
}

/// Read what the tree below `root` is doing now, asking about the threads of
/// every process below it (and of `focus`: see [`Sample::threads`]).
/// Processes and threads that end while they are read are left out; only
/// `root` itself being unreadable is an error.
pub fn sample(root: Pid, focus: Option<Pid>) -> io::Result<Sample> {
    read_sample(root, focus, |_| true)
}

/// [`sample`], asking about the threads only if `ask_threads` says so, given
/// the tree's CPU ticks: the tree is walked first, the threads read after.
fn read_sample(
    root: Pid,
    focus: Option<Pid>,
    ask_threads: impl FnOnce(u64) -> bool,
) -> io::Result<Sample> {
    let mut reader = ProcReader::default();
    let tree = reader.walk(root, focus)?;
    let mut sample = Sample {
        cpu_ticks: tree.cpu_ticks,
        focus,
        threads: Vec::new(),
        run_ns: None,
        waited_ns: focus.and_then(|pid| reader.waited_for_cpu(pid)),
    };
    if ask_threads(tree.cpu_ticks) {
        sample.run_ns = Some(0);
        for &(pid, tid) in &tree.threads {
            reader.add_thread(pid, tid, &mut sample);
        }
        // Stable: focus's threads first, each process's in /proc order.
        sample.threads.sort_by_key(|t| Some(t.pid) != focus);
    }
    Ok(sample)
}

/// A process tree as walked: its CPU time, and the threads to ask about.
struct Tree {
    cpu_ticks: u64,
    /// (pid, tid) of every thread below root, and of root's if it is focus.
    threads: Vec<(Pid, Pid)>,
}

/// Reads `/proc` files into one reused buffer.
#[derive(Default)]
struct ProcReader {
    buf: String,
}

impl ProcReader {
    /// `/proc` files have no size: one open and one read, no `stat` first
    /// (what `fs::read_to_string` would do).
    fn read(&mut self, path: &str) -> io::Result<&str> {
        self.buf.clear();
        File::open(path)?.read_to_string(&mut self.buf)?;
        Ok(&self.buf)
    }

    /// How long `pid`'s main thread has waited for a CPU, in ns: the second
    /// field of `/proc/<pid>/schedstat` (run time, run delay, time slices).
    fn waited_for_cpu(&mut self, pid: Pid) -> Option<u64> {
        let text = self.read(&format!("/proc/{pid}/schedstat")).ok()?;
        text.split_whitespace().nth(1)?.parse().ok()
    }

    /// Walk the tree below `root` through every thread's children: its
    /// CPU ticks and its threads. Root unreadable is an error (a kernel
    /// without `children` files too: no descendant would ever be seen); a
    /// descendant that ended since its parent was read is left out.
    fn walk(&mut self, root: Pid, focus: Option<Pid>) -> io::Result<Tree> {
        let mut tree = Tree {
            cpu_ticks: 0,
            threads: Vec::new(),
        };
        let mut pending = VecDeque::from([root]);
        let mut seen = HashSet::from([root]);
        while let Some(pid) = pending.pop_front() {
            match self.add_process(pid, pid != root || focus == Some(root), &mut tree) {
                Ok(children) => {
                    pending.extend(children.into_iter().filter(|&child| seen.insert(child)))
                }
                Err(e) if pid == root => return Err(e),
                Err(_) => continue,
            }
        }
        Ok(tree)
    }

    /// Add `pid`'s CPU ticks (and its threads, if `ask_threads`) to `tree`;
    /// its children. An error if it ended (or for a kernel without
    /// `children` files); a thread of it that ended is left out.
    fn add_process(
        &mut self,
        pid: Pid,
        ask_threads: bool,
        tree: &mut Tree,
    ) -> io::Result<Vec<Pid>> {
        let path = format!("/proc/{pid}/stat");
        let ticks = self.read(&path).and_then(|text| {
            parse_stat(text)
                .map(|s| s.ticks)
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unexpected format"))
        });
        tree.cpu_ticks += ticks.map_err(|e| with_path(e, &path))?;
        let tasks = format!("/proc/{pid}/task");
        let mut children = Vec::new();
        for tid in thread_ids(&tasks).map_err(|e| with_path(e, &tasks))? {
            // A child is listed under the thread that forked it.
            let path = format!("{tasks}/{tid}/children");
            let text = match self.read(&path) {
                Ok(text) => text,
                // The main thread's is there as long as the process: if it
                // is not, the kernel has none (no CONFIG_PROC_CHILDREN).
                Err(e) if tid == pid => return Err(with_path(e, &path)),
                Err(_) => continue, // this thread ended
            };
            children.extend(
                text.split_whitespace()
                    .filter_map(|p| p.parse::<Pid>().ok()),
            );
            if ask_threads {
                tree.threads.push((pid, tid));
            }
        }
        Ok(children)
    }

    /// Add what `tid` is doing, and its time on a CPU, to `sample`; nothing
    /// if it ended meanwhile.
    fn add_thread(&mut self, pid: Pid, tid: Pid, sample: &mut Sample) {
        let Some((comm, state)) = self
            .read(&format!("/proc/{pid}/task/{tid}/stat"))
            .ok()
            .and_then(parse_stat)
            .map(|s| (s.comm.to_owned(), s.state))
        else {
            return;
        };
        let doing = match state {
            'R' => Doing::Running,
            'Z' | 'X' | 'x' => Doing::Exited,
            'T' | 't' => Doing::Stopped,
            _ => match doing_from(self.read(&format!("/proc/{pid}/task/{tid}/syscall"))) {
                Some(doing) => doing,
                None => return,
            },
        };
        let thread = Thread {
            pid,
            tid,
            comm,
            state,
            doing,
        };
        // Only a sample of lock waits needs it (see `Sample::run_ns`).
        if thread.waits_on_lock() {
            let run_ns = self
                .read(&format!("/proc/{pid}/task/{tid}/schedstat"))
                .ok()
                .and_then(|text| text.split_whitespace().next()?.parse::<u64>().ok());
            sample.run_ns = sample.run_ns.zip(run_ns).map(|(a, b)| a + b);
        }
        sample.threads.push(thread);
    }
}

/// What a sleeping thread does, from reading its `syscall` file; `None` if
/// the thread is gone. Unreadable otherwise is [`Doing::Unknown`].
fn doing_from(read: io::Result<&str>) -> Option<Doing> {
    match read {
        Ok(text) => Some(classify(parse_syscall(text))),
        Err(e) if gone(&e) => None,
        Err(e) => Some(Doing::Unknown(format!(
            "its syscall file is unreadable: {e}"
        ))),
    }
}

/// The thread ids in a `/proc/<pid>/task` directory.
fn thread_ids(dir: &str) -> io::Result<Vec<Pid>> {
    Ok(std::fs::read_dir(dir)?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect())
}

fn with_path(e: io::Error, path: &str) -> io::Error {
    io::Error::new(e.kind(), format!("reading {path}: {e}"))
}

/// The process or thread ended between two reads.
fn gone(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ESRCH)
}

/// The fields of a `stat` line this module uses.
#[derive(Debug, PartialEq, Eq)]
struct Stat<'a> {
    comm: &'a str,
    state: char,
    /// utime + stime + cutime + cstime (fields 14 to 17).
    ticks: u64,
}

/// Parse `/proc/<pid>/stat` (or a task's). The name (field 2) is in
/// parentheses and may itself contain spaces and parentheses, so the fields
/// after it are counted from the *last* `)`.
fn parse_stat(line: &str) -> Option<Stat<'_>> {
    let open = line.find('(')?;
    let close = line.rfind(')')?;
    let comm = line.get(open + 1..close)?;
    // Field 3 (the state) is the first after the name.
    let rest: Vec<&str> = line[close + 1..].split_whitespace().collect();
    let field = |n: usize| rest.get(n - 3).copied();
    let state = field(3)?.chars().next()?;
    let mut ticks = 0u64;
    for n in 14..=17 {
        ticks = ticks.checked_add(field(n)?.parse().ok()?)?;
    }
    Some(Stat { comm, state, ticks })
}

/// A `syscall` file: `running`; `-1 sp pc` (blocked, not in a system
/// call); or `nr arg1 … arg6 sp pc`, the number in decimal, the rest in hex.
#[derive(Debug, Clone, PartialEq, Eq)]
enum SyscallLine {
    Running,
    NotInSyscall,
    In { nr: libc::c_long, args: [u64; 6] },
    Unparsable(String),
}

fn parse_syscall(text: &str) -> SyscallLine {
    let text = text.trim();
    let mut words = text.split_whitespace();
    let nr = match words.next() {
        Some("running") => return SyscallLine::Running,
        Some(word) => word.parse::<libc::c_long>().ok(),
        None => None,
    };
    match nr {
        Some(nr) if nr < 0 => SyscallLine::NotInSyscall,
        Some(nr) => {
            let mut args = [0u64; 6];
            for arg in &mut args {
                match words.next().and_then(parse_hex) {
                    Some(value) => *arg = value,
                    None => return SyscallLine::Unparsable(text.to_owned()),
                }
            }
            SyscallLine::In { nr, args }
        }
        None => SyscallLine::Unparsable(text.to_owned()),
    }
}

fn parse_hex(word: &str) -> Option<u64> {
    u64::from_str_radix(word.strip_prefix("0x")?, 16).ok()
}

/// The futex operations that block until woken (or timed out); the
/// operation is the second argument, less the flags that only say which
/// clock and whether the futex is private to the process.
const FUTEX_WAIT_OPS: [libc::c_int; 5] = [
    libc::FUTEX_WAIT,
    libc::FUTEX_LOCK_PI,
    libc::FUTEX_WAIT_BITSET,
    libc::FUTEX_WAIT_REQUEUE_PI,
    libc::FUTEX_LOCK_PI2,
];

/// What a thread that is not running (nor stopped, nor exited) does.
fn classify(line: SyscallLine) -> Doing {
    match line {
        SyscallLine::Running => Doing::Running,
        SyscallLine::NotInSyscall => Doing::Blocked,
        SyscallLine::Unparsable(text) => Doing::Unknown(format!("its syscall file says {text:?}")),
        SyscallLine::In { nr, args } if nr == libc::SYS_futex => {
            let op =
                args[1] as libc::c_int & !(libc::FUTEX_PRIVATE_FLAG | libc::FUTEX_CLOCK_REALTIME);
            if FUTEX_WAIT_OPS.contains(&op) {
                // The fourth argument points at the timeout; NULL: none.
                Doing::Lock {
                    timeout: args[3] != 0,
                }
            } else {
                Doing::Syscall { syscall: nr }
            }
        }
        SyscallLine::In { nr, .. }
            if nr == libc::SYS_nanosleep || nr == libc::SYS_clock_nanosleep =>
        {
            Doing::Sleep { syscall: nr }
        }
        SyscallLine::In { nr, .. } => Doing::Syscall { syscall: nr },
    }
}

/// The name of a system call a hung thread is likely to be in (the numbers
/// are the machine's: `libc` has them per architecture); others by number.
fn syscall_name(nr: libc::c_long) -> String {
    #[cfg(target_arch = "x86_64")]
    const ARCH_ONLY: &[(libc::c_long, &str)] = &[
        (libc::SYS_poll, "poll"),
        (libc::SYS_select, "select"),
        (libc::SYS_epoll_wait, "epoll_wait"),
        (libc::SYS_pause, "pause"),
        (libc::SYS_accept, "accept"),
    ];
    #[cfg(not(target_arch = "x86_64"))]
    const ARCH_ONLY: &[(libc::c_long, &str)] = &[];
    const COMMON: &[(libc::c_long, &str)] = &[
        (libc::SYS_futex, "futex"),
        (libc::SYS_nanosleep, "nanosleep"),
        (libc::SYS_clock_nanosleep, "clock_nanosleep"),
        (libc::SYS_read, "read"),
        (libc::SYS_readv, "readv"),
        (libc::SYS_pread64, "pread64"),
        (libc::SYS_write, "write"),
        (libc::SYS_recvfrom, "recvfrom"),
        (libc::SYS_recvmsg, "recvmsg"),
        (libc::SYS_sendto, "sendto"),
        (libc::SYS_sendmsg, "sendmsg"),
        (libc::SYS_accept4, "accept4"),
        (libc::SYS_connect, "connect"),
        (libc::SYS_ppoll, "ppoll"),
        (libc::SYS_pselect6, "pselect6"),
        (libc::SYS_epoll_pwait, "epoll_pwait"),
        (libc::SYS_wait4, "wait4"),
        (libc::SYS_waitid, "waitid"),
        (libc::SYS_rt_sigtimedwait, "rt_sigtimedwait"),
        (libc::SYS_rt_sigsuspend, "rt_sigsuspend"),
        (libc::SYS_restart_syscall, "restart_syscall"),
        (libc::SYS_flock, "flock"),
        (libc::SYS_fcntl, "fcntl"),
        (libc::SYS_openat, "openat"),
    ];
    COMMON
        .iter()
        .chain(ARCH_ONLY)
        .find(|(n, _)| *n == nr)
        .map(|(_, name)| (*name).to_owned())
        .unwrap_or_else(|| format!("syscall {nr}"))
}

/// Judges a cell from its samples over time: [`Activity::Idle`] when its CPU
/// time stood still for `idle_after`, [`Activity::Deadlocked`] when for
/// `deadlock_after` every sample looked like a deadlock and nothing ran.
#[derive(Debug, Clone)]
pub struct Watch {
    idle_after: Duration,
    deadlock_after: Option<Duration>,
    /// The cell's demand for CPU last seen, and when it was first seen at
    /// that value.
    cpu: Option<(CpuDemand, Instant)>,
    /// The first sample of the current run of deadlock-like samples (its
    /// progress counters) and when it was taken.
    stuck: Option<(Progress, Instant)>,
    /// The CPUs the cell may use: this process's, which it inherits.
    cpus: u32,
    /// The last sample's moment, the tree's CPU time and focus's wait.
    last: Option<(Instant, Duration, Duration)>,
    /// How long focus's main thread waited for a CPU that other processes
    /// held (see [`Watch::waited_for_others`]).
    waited_for_others: Duration,
}

/// What moves while a cell uses a CPU or waits for one: its CPU ticks, and
/// focus's wait for a CPU in steps of a tick (10 ms), so that the
/// microseconds a sleeping thread waits at each wake-up are not wanting one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CpuDemand {
    cpu_ticks: u64,
    waited_ticks: Option<u64>,
}

/// One tick of [`CpuDemand::waited_ticks`], in ns.
const WAIT_TICK_NS: u64 = 10_000_000;

/// What moves when anything in the tree runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Progress {
    cpu_ticks: u64,
    run_ns: Option<u64>,
}

impl Watch {
    /// `deadlock_after`: `None` never says [`Activity::Deadlocked`] (the
    /// matrix's `deadlock_s: 0`).
    pub fn new(idle_after: Duration, deadlock_after: Option<Duration>) -> Watch {
        Watch {
            idle_after,
            deadlock_after,
            cpu: None,
            stuck: None,
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
            last: None,
            waited_for_others: Duration::ZERO,
        }
    }

    /// Sample the tree below `root` now and say what the cell is doing; the
    /// sample is for a hang's notes ([`Sample::describe`]). Its threads are
    /// read only when they can matter — deadlock detection is on and the
    /// CPU ticks have not moved since the last poll — so a busy cell costs
    /// a third of a full [`sample`]. Errors are [`sample`]'s (root gone).
    pub fn poll(&mut self, root: Pid, focus: Option<Pid>) -> io::Result<(Activity, Sample)> {
        let at = Instant::now();
        let last_ticks = self.cpu.map(|(demand, _)| demand.cpu_ticks);
        let detect = self.deadlock_after.is_some();
        let sample = read_sample(root, focus, |ticks| detect && last_ticks == Some(ticks))?;
        Ok((self.observe(at, &sample), sample))
    }

    /// Take the sample made at `at` (samples in time order) and say what
    /// the cell is doing.
    pub fn observe(&mut self, at: Instant, sample: &Sample) -> Activity {
        self.count_the_wait(at, sample);
        let idle = self.idle(at, sample);
        if self.deadlocked(at, sample) {
            Activity::Deadlocked
        } else if idle {
            Activity::Idle
        } else {
            Activity::Busy
        }
    }

    /// How long, over the samples observed, focus's main thread was ready
    /// to run while processes other than the cell's held the CPUs it may
    /// use: what a timeout should not count against the cell.
    pub fn waited_for_others(&self) -> Duration {
        self.waited_for_others
    }

    /// Add what focus's main thread waited for a CPU since the last sample,
    /// up to the CPU time the cell's own processes left unused on its CPUs
    /// meanwhile: a cell whose own threads and children keep every CPU busy
    /// waits behind itself, which is its own doing.
    fn count_the_wait(&mut self, at: Instant, sample: &Sample) {
        let Some(waited) = sample.waited_ns.map(Duration::from_nanos) else {
            return;
        };
        let cpu = sample.cpu_time();
        if let Some((then, cpu_then, waited_then)) = self.last {
            let span = at.saturating_duration_since(then);
            let unused = span
                .saturating_mul(self.cpus)
                .saturating_sub(cpu.saturating_sub(cpu_then));
            self.waited_for_others += waited.saturating_sub(waited_then).min(unused);
        }
        self.last = Some((at, cpu, waited));
    }

    /// Whether the CPU ticks, and focus's wait for a CPU, have stood still
    /// for `idle_after`. A cell kept waiting for a CPU is not idle, though
    /// its ticks barely move: it wants one, and a cell started beside it
    /// would only keep it waiting longer.
    fn idle(&mut self, at: Instant, sample: &Sample) -> bool {
        let now = CpuDemand {
            cpu_ticks: sample.cpu_ticks,
            waited_ticks: sample.waited_ns.map(|ns| ns / WAIT_TICK_NS),
        };
        match self.cpu {
            Some((demand, since)) if demand == now => {
                at.saturating_duration_since(since) >= self.idle_after
            }
            _ => {
                self.cpu = Some((now, at));
                false
            }
        }
    }

    /// Whether the run of deadlock-like samples that `sample` continues (or
    /// starts) has lasted `deadlock_after`; any sample that is not like
    /// one, or shows that something ran, ends the run.
    fn deadlocked(&mut self, at: Instant, sample: &Sample) -> bool {
        let Some(deadlock_after) = self.deadlock_after else {
            return false;
        };
        if !sample.all_waiting_on_locks() {
            self.stuck = None;
            return false;
        }
        let progress = Progress {
            cpu_ticks: sample.cpu_ticks,
            run_ns: sample.run_ns,
        };
        match self.stuck {
            Some((before, since)) if before == progress => {
                at.saturating_duration_since(since) >= deadlock_after
            }
            _ => {
                self.stuck = Some((progress, at));
                false
            }
        }
    }
}

#[cfg(test)]
mod tests;
