//! Run cells: one harness process per cell, in its own process group under
//! its own supervisor, with a timeout, and turn what it reported into an
//! [`Observation`].
//!
//! The harness writes JSON lines to the observation channel: a pipe to this
//! process on a high descriptor ([`OBS_FD`]), every line starting with a
//! token drawn for this run. The pipe is read while the cell runs and until
//! every writer is gone, so every line written before a crash is read; a
//! pipe cannot be seeked or truncated, and a line without the token is set
//! aside as foreign (see `extmatrix_protocol::ChannelReader`). stdout and
//! stderr are pipes too, of which only the tails are kept. Nothing read is
//! unbounded: the channel is read up to [`CHANNEL_CAP`], each output up to
//! [`OUTPUT_CAP`]; past a cap the pipe is closed, so the writer's next write
//! fails, and the observation says so.
//!
//! The harness is its own supervisor (`harness-c/supervisor.c`): it kills
//! every process the target left below it, whatever its group, and reports
//! how many. At the timeout the harness is first asked for every thread's
//! stacks (the dump signal it announced, answered with a `forensics`
//! event; at most [`DUMP_GRACE`]), then the supervisor is asked to stop
//! (SIGTERM); if it does not within [`STOP_GRACE`], the process group is
//! killed. A harness that said it is crashing (`crashing`) gets
//! [`CRASH_GRACE`] more before the timeout counts: its stacks may take
//! long, and a crash stays a crash. A cell runs under an address-space
//! limit ([`CellCommand::memory_mb`]). Nothing in
//! this crate judges: see `extmatrix-judge`.

mod pool;

pub use extmatrix_process::STOP_GRACE;
pub use extmatrix_protocol::{Attempt, Observation, Streams, Termination, CHANNEL_CAP, OUTPUT_CAP};
pub use pool::{cores, idle_cap, parallel_map, Lease};

use extmatrix_core::{Scenario, SubinterpKind};
use extmatrix_process::activity::{self, Activity, Watch};
use extmatrix_process::{signal_name, Supervised};
use extmatrix_protocol::ChannelReader;
use std::io::{PipeReader, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Everything one harness process needs.
#[derive(Debug, Clone)]
pub struct CellCommand {
    pub harness: PathBuf,
    pub scenario: Scenario,
    pub module: String,
    pub module_dir: PathBuf,
    /// Passed to the harness in a file (`--smoke-file`), whatever its size.
    pub smoke: Option<String>,
    pub python_exe: PathBuf,
    pub cycles: u32,
    /// How many workers the stress scenarios run, and how much each does.
    pub stress: Stress,
    /// `inittab`: the extension file whose `PyInit_<name>` is registered.
    pub module_file: Option<PathBuf>,
    /// Initialize every interpreter with CPython's debug allocator.
    pub debug_allocator: bool,
    /// `subinterp-cycle`'s subinterpreters; `None`: from the declaration.
    pub subinterp: Option<SubinterpKind>,
    /// `subinterp-*`: import in the subinterpreter only, never in the main
    /// interpreter (a later instance where no first one ran).
    pub alone: bool,
    /// Run `site` at every init (the target asked for it); off, only the
    /// module directory's own `.pth` files are read.
    pub site: bool,
    pub timeout: Duration,
    /// How long every thread of the Python process may wait on a lock with
    /// no timeout, using no CPU, before the cell ends as deadlocked (its
    /// stacks taken as at a timeout); `None`: only the timeout ends it.
    pub deadlock: Option<Duration>,
    /// The address-space limit (`RLIMIT_AS`) of the cell's processes, in
    /// MiB; `None`: none.
    pub memory_mb: Option<u64>,
}

/// The workers of the stress scenarios (`subinterp-parallel`,
/// `free-threading`), each at most 256 (the harness's limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stress {
    /// Threads running the smoke code at once in `free-threading`.
    pub threads: u32,
    /// Own-GIL interpreters at once in `subinterp-parallel`.
    pub interpreters: u32,
    /// Runs of the smoke code per worker.
    pub rounds: u32,
    /// Waves of `subinterp-parallel`.
    pub waves: u32,
}

impl Default for Stress {
    /// The least that still runs workers at once: two of them, once.
    fn default() -> Self {
        Stress {
            threads: 2,
            interpreters: 2,
            rounds: 1,
            waves: 1,
        }
    }
}

/// The descriptor the harness writes its observations to: high, so that a
/// library that takes fd 3 (or any low descriptor) for its own log does not
/// write into it by accident.
pub const OBS_FD: RawFd = 1000;
/// How much of stdout/stderr a cell keeps.
pub const TAIL_BYTES: usize = 4096;
/// How often a running child is checked on.
const POLL: Duration = Duration::from_millis(10);
/// How often a child whose pipes are all closed is checked for its exit.
const EXIT_POLL: Duration = Duration::from_millis(1);
/// How long the streams may stay open after the harness ended (held open
/// by a process outside the cell) before the runner stops reading.
const DRAIN: Duration = Duration::from_secs(2);
/// One read.
const CHUNK: usize = 64 * 1024;
/// How long a cell past its timeout may take to report every thread's
/// stacks (`forensics`, asked for with its dump signal) before it is stopped.
pub const DUMP_GRACE: Duration = Duration::from_secs(3);
/// How much past its timeout a cell that said it is crashing may take to
/// report its stacks and die (the harness gives gdb 20 s).
pub const CRASH_GRACE: Duration = Duration::from_secs(25);

/// Run one cell to completion or timeout.
pub fn run_cell(cmd: &CellCommand, lease: &Lease) -> std::io::Result<Observation> {
    let token = token()?;
    let smoke_file = smoke_file(cmd.smoke.as_deref())?;
    let (obs_read, obs_write) = std::io::pipe()?;
    let (out_read, out_write) = std::io::pipe()?;
    let (err_read, err_write) = std::io::pipe()?;

    let setup = ChildSetup {
        obs_write: obs_write.as_raw_fd(),
        obs_fd: obs_fd(),
        address_space: cmd.memory_mb.map(|mb| mb.saturating_mul(1 << 20)),
    };
    let mut command = harness_command(cmd, setup.obs_fd, &token, smoke_file.as_ref());
    command
        .stdin(Stdio::null())
        .stdout(out_write)
        .stderr(err_write);
    // SAFETY: ChildSetup::apply makes only async-signal-safe calls.
    unsafe {
        command.pre_exec(move || setup.apply());
    }
    // A killed extmatrix asks the supervisor to clean up and go.
    extmatrix_process::die_with_parent(&mut command, libc::SIGTERM);

    let start = Instant::now();
    // Its own group, led by the harness's supervisor, so a timeout can
    // kill whatever the target spawned too.
    let mut child = Supervised::spawn_supervisor(&mut command)?;
    // Our copies of the write ends: the pipes reach EOF only without them.
    drop(command);
    drop(obs_write);

    let mut reading = Reading {
        channel: ChannelReader::new(Some(&token)),
        stdout: Tail::default(),
        stderr: Tail::default(),
        inlets: [
            Inlet::new(obs_read, CHANNEL_CAP),
            Inlet::new(out_read, OUTPUT_CAP),
            Inlet::new(err_read, OUTPUT_CAP),
        ],
        notes: randomized_note().into_iter().collect(),
    };
    let termination = supervise(&mut child, cmd, start, &mut reading, lease)?;
    drop(smoke_file);
    Ok(reading.observation(termination))
}

/// The smoke code in a file the harness reads (`--smoke-file`): no limit
/// on its size, unlike an argument. `None` for no smoke code.
fn smoke_file(code: Option<&str>) -> std::io::Result<Option<tempfile::NamedTempFile>> {
    match code {
        Some(code) if !code.is_empty() => {
            let mut file = tempfile::Builder::new()
                .prefix("extmatrix-smoke-")
                .suffix(".py")
                .tempfile()?;
            file.write_all(code.as_bytes())?;
            file.flush()?;
            Ok(Some(file))
        }
        _ => Ok(None),
    }
}

/// The harness's command line for `cmd`.
fn harness_command(
    cmd: &CellCommand,
    obs_fd: RawFd,
    token: &str,
    smoke_file: Option<&tempfile::NamedTempFile>,
) -> Command {
    let mut command = Command::new(&cmd.harness);
    command
        .arg("--scenario")
        .arg(cmd.scenario.id())
        .arg("--module")
        .arg(&cmd.module)
        .arg("--module-dir")
        .arg(&cmd.module_dir)
        .arg("--python-exe")
        .arg(&cmd.python_exe)
        .arg("--cycles")
        .arg(cmd.cycles.to_string())
        .arg("--threads")
        .arg(cmd.stress.threads.to_string())
        .arg("--interpreters")
        .arg(cmd.stress.interpreters.to_string())
        .arg("--rounds")
        .arg(cmd.stress.rounds.to_string())
        .arg("--waves")
        .arg(cmd.stress.waves.to_string())
        .arg("--debug-allocator")
        .arg(if cmd.debug_allocator { "1" } else { "0" })
        .arg("--subinterp")
        .arg(cmd.subinterp.map_or("auto", |kind| kind.id()))
        .arg("--alone")
        .arg(if cmd.alone { "1" } else { "0" })
        .arg("--site")
        .arg(if cmd.site { "1" } else { "0" });
    if let Some(file) = smoke_file {
        command.arg("--smoke-file").arg(file.path());
    }
    if let Some(file) = &cmd.module_file {
        command.arg("--module-file").arg(file);
    }
    command
        .arg("--obs-fd")
        .arg(obs_fd.to_string())
        .arg("--token")
        .arg(token);
    command
}

/// What is read from a running cell: the channel, the output tails, and
/// the runner's own notes.
struct Reading {
    channel: ChannelReader,
    stdout: Tail,
    stderr: Tail,
    inlets: [Inlet; 3],
    notes: Vec<String>,
}

impl Reading {
    /// Read whatever the pipes have now (waiting up to `POLL`).
    fn pump(&mut self, buf: &mut [u8]) -> std::io::Result<()> {
        let ready = wait_readable(&self.inlets, POLL)?;
        for (i, inlet) in self.inlets.iter_mut().enumerate() {
            if !ready[i] {
                continue;
            }
            match i {
                0 => inlet.pump(buf, |b| self.channel.feed(b))?,
                1 => inlet.pump(buf, |b| self.stdout.push(b))?,
                _ => inlet.pump(buf, |b| self.stderr.push(b))?,
            }
        }
        Ok(())
    }

    fn observation(self, termination: Termination) -> Observation {
        let channel = self.channel.finish();
        let (stdout_tail, stdout_dropped_bytes) = self.stdout.finish();
        let (stderr_tail, stderr_dropped_bytes) = self.stderr.finish();
        Observation {
            events: channel.events,
            protocol_errors: channel.protocol_errors,
            termination,
            stdout_tail,
            stderr_tail,
            retries: Vec::new(),
            repeats: Vec::new(),
            streams: Streams {
                foreign_lines: channel.foreign_lines,
                foreign_samples: channel.foreign_samples,
                protocol_errors_dropped: channel.protocol_errors_dropped,
                channel_cut: self.inlets[0].cut,
                stdout_dropped_bytes,
                stderr_dropped_bytes,
                stdout_cut: self.inlets[1].cut,
                stderr_cut: self.inlets[2].cut,
            },
            runner_notes: self.notes,
        }
    }
}

/// What in how this crate runs a cell changes the cell's figures, for the
/// keys of what is kept from runs (baselines): one kept under another
/// scheme is run again, not compared with. "2": without address
/// randomization ([`same_addresses_every_run`]).
pub const RUN_SCHEME: &str = "2: no address randomization";

/// How many times its allowed time a cell may run in all, however long it
/// waited for a CPU: a machine busy enough to starve it for longer still
/// ends it (the judge then says the machine, not the target, ran out of
/// time).
pub const WAIT_LIMIT: u32 = 3;

/// Whether a cell that has run for `elapsed`, `waited` of which its main
/// thread was ready to run but other processes held the CPUs (see
/// `Watch::waited_for_others`), is past its
/// `allowed` time. The waiting does not count: a timeout measures the
/// cell, not the machine's load, and a loaded machine can starve a correct
/// cell for longer than its timeout (a free-threaded 3.13 yields its CPU
/// forty times for every contended lock, and waits behind every other
/// process each time). It ends anyway at [`WAIT_LIMIT`] times `allowed`.
fn past_its_time(elapsed: Duration, waited: Duration, allowed: Duration) -> bool {
    elapsed.saturating_sub(waited) >= allowed || elapsed >= allowed.saturating_mul(WAIT_LIMIT)
}

/// Read the cell's pipes until it has ended and they are drained: reap it
/// when it exits, ask its supervisor to stop once it is past its time (see
/// [`past_its_time`]) or deadlocked, kill its group if the supervisor does
/// not within `STOP_GRACE`. While it runs, its lease is idle whenever it
/// neither uses a CPU nor waits for one.
fn supervise(
    child: &mut Supervised,
    cmd: &CellCommand,
    start: Instant,
    reading: &mut Reading,
    lease: &Lease,
) -> std::io::Result<Termination> {
    let mut status: Option<ExitStatus> = None;
    // What each thread waited on, once the cell was found deadlocked.
    let mut deadlocked: Option<Vec<String>> = None;
    let mut ending = Ending::default();
    let mut exited: Option<Instant> = None;
    let mut watching = Watching::new(cmd.deadlock);
    let mut buf = vec![0u8; CHUNK];
    loop {
        if status.is_none() {
            if ending.asked.is_none() && deadlocked.is_none() {
                deadlocked = watching.poll(child.pid(), reading, lease);
            }
            if child.has_exited()? {
                // Still a zombie, so its pid (the group's id) cannot be
                // reused yet: kill whatever is left in the group, then reap.
                child.kill_group();
                status = Some(child.wait()?);
                exited = Some(Instant::now());
            } else {
                let allowed = cmd.timeout + crash_grace(reading);
                let due = deadlocked.is_some()
                    || past_its_time(start.elapsed(), watching.waited(), allowed);
                ending.advance(due, child, reading);
            }
        }
        if let Some(at) = exited {
            if reading.inlets.iter().all(|i| !i.is_open()) {
                break;
            }
            if at.elapsed() >= DRAIN {
                reading.notes.push(format!(
                    "{} still open {} s after the harness ended (a process outside the cell holds it); stopped reading",
                    open_names(&reading.inlets),
                    DRAIN.as_secs()
                ));
                break;
            }
        }
        reading.pump(&mut buf)?;
    }
    // Counted again: what the lease's holder does next (another attempt,
    // another run of the cell) is not idle.
    lease.busy();
    let ms = |at: Instant| at.duration_since(start).as_millis() as u64;
    Ok(match (ending.asked, deadlocked, status) {
        // When it was found, not when its stacks were taken.
        (Some(found), Some(threads), _) => Termination::Deadlocked {
            after_ms: ms(found),
            threads,
        },
        // Not polled once its stacks were asked for: what it had waited
        // when it was found past its time.
        (Some(found), None, _) => Termination::TimedOut {
            after_ms: ms(found),
            waited_ms: watching.waited().as_millis() as u64,
        },
        (None, _, Some(status)) => match status.signal() {
            Some(signal) => Termination::Signaled {
                signal,
                name: signal_name(signal),
            },
            None => Termination::Exited {
                code: status.code().unwrap_or(-1),
            },
        },
        (None, _, None) => unreachable!("the loop ends only after the child was reaped"),
    })
}

/// How far a cell that would not end by itself (its timeout passed, or it
/// deadlocked) is in being ended: its stacks asked for, its supervisor
/// asked to stop, its group killed.
#[derive(Default)]
struct Ending {
    /// When the harness was asked for its stacks.
    asked: Option<Instant>,
    /// When its supervisor was asked to stop.
    stopping: Option<Instant>,
    killed: bool,
}

impl Ending {
    /// The next step, if it is time: ask for the stacks once `due`; stop
    /// the supervisor once they came (or `DUMP_GRACE` passed); kill the
    /// group if the supervisor did not stop within `STOP_GRACE`.
    fn advance(&mut self, due: bool, child: &Supervised, reading: &mut Reading) {
        match (self.asked, self.stopping) {
            (None, _) if due => {
                self.asked = Some(Instant::now());
                if !ask_for_stacks(reading) {
                    child.stop();
                    self.stopping = self.asked;
                }
            }
            (Some(at), None) if at.elapsed() >= DUMP_GRACE || has_forensics(reading) => {
                if !has_forensics(reading) {
                    reading.notes.push(format!(
                        "no stacks at the timeout: the harness did not answer its dump signal within {} s (a handler the target installed on it since the last step may have taken it)",
                        DUMP_GRACE.as_secs()
                    ));
                }
                child.stop();
                self.stopping = Some(Instant::now());
            }
            (_, Some(at)) if at.elapsed() >= STOP_GRACE && !self.killed => {
                child.kill_group();
                self.killed = true;
                reading.notes.push(format!(
                    "the harness's supervisor did not stop within {} s of SIGTERM; its process group was killed (processes outside the group may have survived)",
                    STOP_GRACE.as_secs()
                ));
            }
            _ => {}
        }
    }
}

/// What a running cell is doing, asked every [`activity::SAMPLE_EVERY`]:
/// its lease follows whether it is idle, a deadlock ends it early, and the
/// time its main thread waited for a CPU does not count against its
/// timeout.
struct Watching {
    watch: Watch,
    next: Instant,
}

impl Watching {
    fn new(deadlock: Option<Duration>) -> Watching {
        Watching {
            watch: Watch::new(activity::IDLE_AFTER, deadlock),
            next: Instant::now(),
        }
    }

    /// How long its main thread waited for a CPU other processes held.
    fn waited(&self) -> Duration {
        self.watch.waited_for_others()
    }

    /// Sample the cell below its supervisor `root` if it is time; what
    /// each thread waits on once it is deadlocked. A cell that has not yet said which process runs Python
    /// can be idle but not deadlocked.
    fn poll(&mut self, root: libc::pid_t, reading: &Reading, lease: &Lease) -> Option<Vec<String>> {
        if Instant::now() < self.next {
            return None;
        }
        self.next = Instant::now() + activity::SAMPLE_EVERY;
        let focus = scenario_pid(reading);
        // The supervisor gone between two reads: it has exited, which the
        // caller sees next.
        let (now, sample) = self.watch.poll(root, focus).ok()?;
        match now {
            Activity::Busy => lease.busy(),
            Activity::Idle => lease.idle(),
            Activity::Deadlocked => return Some(sample.describe()),
        }
        None
    }
}

/// The scenario process (the one running Python), as its `start` event gave it.
fn scenario_pid(reading: &Reading) -> Option<libc::pid_t> {
    reading.channel.events().iter().find_map(|e| match e {
        extmatrix_protocol::Event::Start { pid, .. } => Some(*pid as libc::pid_t),
        _ => None,
    })
}

/// Ask the harness (the scenario process, whose pid its `start` event
/// gave) for every thread's stacks before it is stopped: it answers the
/// dump signal it announced last with a `forensics` event. False when it
/// never said where it is, or had no signal left to be asked with (a note
/// says so: the target took every free one).
fn ask_for_stacks(reading: &mut Reading) -> bool {
    let pid = scenario_pid(reading);
    let signal = reading.channel.events().iter().rev().find_map(|e| match e {
        extmatrix_protocol::Event::DumpSignal { signal } => Some(*signal),
        _ => None,
    });
    let (Some(pid), Some(signal)) = (pid, signal) else {
        return false;
    };
    if signal <= 0 {
        reading.notes.push(
            "no stacks at the timeout: the target installed handlers on every real-time signal the harness could ask with"
                .to_owned(),
        );
        return false;
    }
    // SAFETY: kill(2) with a pid and signal the harness reported; a pid
    // gone or not ours fails harmlessly.
    unsafe { libc::kill(pid as libc::pid_t, signal) == 0 }
}

/// More time for a harness that said it is crashing: its forensics (gdb
/// attaching) may outlast the timeout on a loaded machine, and a crash
/// must stay a crash. Bounded: the harness gives gdb `GDB_SECONDS` (20 s).
fn crash_grace(reading: &Reading) -> Duration {
    let crashing = reading
        .channel
        .events()
        .iter()
        .any(|e| matches!(e, extmatrix_protocol::Event::Crashing { .. }));
    if crashing {
        CRASH_GRACE
    } else {
        Duration::ZERO
    }
}

fn has_forensics(reading: &Reading) -> bool {
    reading
        .channel
        .events()
        .iter()
        .any(|e| matches!(e, extmatrix_protocol::Event::Forensics(_)))
}

/// What the child does between fork and exec (after std has set up its
/// stdin/stdout/stderr): put the channel's write end on its descriptor,
/// set the address-space limit, and turn address randomization off.
#[derive(Debug, Clone, Copy)]
struct ChildSetup {
    obs_write: RawFd,
    obs_fd: RawFd,
    address_space: Option<u64>,
}

impl ChildSetup {
    /// Only async-signal-safe calls (getrlimit, setrlimit, dup2, fcntl,
    /// personality).
    fn apply(&self) -> std::io::Result<()> {
        let err = std::io::Error::last_os_error;
        // SAFETY: plain syscalls on this process's own descriptors and limits.
        unsafe {
            same_addresses_every_run();
            let mut files: libc::rlimit = std::mem::zeroed();
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut files) == 0
                && files.rlim_cur <= self.obs_fd as libc::rlim_t
            {
                files.rlim_cur = self.obs_fd as libc::rlim_t + 1;
                if libc::setrlimit(libc::RLIMIT_NOFILE, &files) < 0 {
                    return Err(err());
                }
            }
            if self.obs_write == self.obs_fd {
                // dup2 onto itself keeps FD_CLOEXEC; clear it by hand.
                if libc::fcntl(self.obs_fd, libc::F_SETFD, 0) < 0 {
                    return Err(err());
                }
            } else if libc::dup2(self.obs_write, self.obs_fd) < 0 {
                return Err(err());
            }
            if let Some(bytes) = self.address_space {
                let mut limit: libc::rlimit = std::mem::zeroed();
                if libc::getrlimit(libc::RLIMIT_AS, &mut limit) < 0 {
                    return Err(err());
                }
                let bytes = (bytes as libc::rlim_t).min(limit.rlim_max);
                limit.rlim_cur = bytes;
                limit.rlim_max = bytes;
                if libc::setrlimit(libc::RLIMIT_AS, &limit) < 0 {
                    return Err(err());
                }
            }
        }
        Ok(())
    }
}

/// Lay this process (and what it execs) out at the same addresses in every
/// run (`ADDR_NO_RANDOMIZE`, what `setarch -R` does). CPython keys caches
/// by address — the type attribute cache keeps a reference to an
/// attribute's name in a slot chosen by the name's address — so under
/// address randomization what a cycle keeps differs from process to
/// process: measured on a 3.13 debug build, 7 of 40 runs of one correct
/// module's `reinit` counted references that moved by up to 20 from cycle
/// to cycle, enough for "grew in every cycle" by chance; 40 of 40 were
/// identical without randomization. Where the kernel refuses (a
/// container's seccomp profile), the cell runs randomized, with a note
/// ([`randomized_note`]).
///
/// # Safety
/// Only the personality system call, async-signal-safe.
unsafe fn same_addresses_every_run() {
    turn_randomization_off();
}

/// Turn address randomization off for this thread and what it execs: its
/// persona before, or `None` when the kernel refused.
///
/// # Safety
/// Only the personality system call, async-signal-safe.
unsafe fn turn_randomization_off() -> Option<libc::c_ulong> {
    const QUERY: libc::c_ulong = 0xffff_ffff;
    let before = libc::personality(QUERY);
    let off = before as libc::c_ulong | libc::ADDR_NO_RANDOMIZE as libc::c_ulong;
    (before >= 0 && libc::personality(off) >= 0).then_some(before as libc::c_ulong)
}

/// A note for every cell when this kernel refuses to turn address
/// randomization off: its figures can then vary from run to run. Asked
/// once, by turning it off in this thread and back.
fn randomized_note() -> Option<String> {
    static REFUSED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    // SAFETY: personality only reads and sets this thread's persona, set
    // back at once.
    let refused = *REFUSED.get_or_init(|| unsafe {
        turn_randomization_off()
            .map(|before| libc::personality(before))
            .is_none()
    });
    refused.then(|| {
        "address randomization stayed on (the kernel refused personality(ADDR_NO_RANDOMIZE)): reference counts and blocks may differ from run to run by where things were placed".to_owned()
    })
}

/// [`OBS_FD`], or the highest descriptor the hard limit allows when that is
/// lower (the child raises its soft limit to fit).
fn obs_fd() -> RawFd {
    // SAFETY: getrlimit fills `files`.
    let mut files: libc::rlimit = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut files) } < 0
        || files.rlim_max > OBS_FD as libc::rlim_t
    {
        return OBS_FD;
    }
    (files.rlim_max as RawFd - 1).max(3)
}

/// 128 random bits as hex (getrandom), fresh for every run.
fn token() -> std::io::Result<String> {
    let mut bytes = [0u8; 16];
    let mut filled = 0;
    while filled < bytes.len() {
        // SAFETY: getrandom writes at most the given length into the buffer.
        let n = unsafe {
            libc::getrandom(bytes[filled..].as_mut_ptr().cast(), bytes.len() - filled, 0)
        };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        filled += n as usize;
    }
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// One of the cell's streams, read as it arrives, up to a cap.
struct Inlet {
    pipe: Option<PipeReader>,
    read: u64,
    cap: u64,
    /// The cap was reached and the pipe closed.
    cut: bool,
}

impl Inlet {
    fn new(pipe: PipeReader, cap: u64) -> Inlet {
        Inlet {
            pipe: Some(pipe),
            read: 0,
            cap,
            cut: false,
        }
    }

    fn is_open(&self) -> bool {
        self.pipe.is_some()
    }

    /// Read what is there (poll said so) into `sink`; at EOF or at the cap,
    /// close the pipe.
    fn pump(&mut self, buf: &mut [u8], mut sink: impl FnMut(&[u8])) -> std::io::Result<()> {
        let Some(pipe) = &mut self.pipe else {
            return Ok(());
        };
        let want = buf.len().min((self.cap - self.read) as usize);
        match pipe.read(&mut buf[..want]) {
            Ok(0) => self.pipe = None,
            Ok(n) => {
                self.read += n as u64;
                sink(&buf[..n]);
                if self.read >= self.cap {
                    self.cut = true;
                    self.pipe = None;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        Ok(())
    }
}

/// Which inlets have something to read (or are at EOF), waiting up to
/// `timeout`.
fn wait_readable(inlets: &[Inlet; 3], timeout: Duration) -> std::io::Result<[bool; 3]> {
    let mut fds: Vec<libc::pollfd> = Vec::with_capacity(3);
    let mut which = Vec::with_capacity(3);
    for (i, inlet) in inlets.iter().enumerate() {
        if let Some(pipe) = &inlet.pipe {
            fds.push(libc::pollfd {
                fd: pipe.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
            which.push(i);
        }
    }
    let mut ready = [false; 3];
    if fds.is_empty() {
        // Every pipe is closed: the harness is ending (its descriptors go
        // before it becomes a zombie) or closed them itself. Look for its
        // exit often: a whole POLL here was most of a short cell's
        // overhead.
        std::thread::sleep(timeout.min(EXIT_POLL));
        return Ok(ready);
    }
    // SAFETY: `fds` is a valid array of `fds.len()` pollfds.
    let rc = unsafe {
        libc::poll(
            fds.as_mut_ptr(),
            fds.len() as libc::nfds_t,
            timeout.as_millis() as libc::c_int,
        )
    };
    if rc < 0 {
        let e = std::io::Error::last_os_error();
        return if e.kind() == std::io::ErrorKind::Interrupted {
            Ok(ready)
        } else {
            Err(e)
        };
    }
    for (fd, &i) in fds.iter().zip(&which) {
        ready[i] = fd.revents != 0;
    }
    Ok(ready)
}

fn open_names(inlets: &[Inlet; 3]) -> String {
    ["the observation channel", "stdout", "stderr"]
        .iter()
        .zip(inlets)
        .filter(|(_, i)| i.is_open())
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(" and ")
}

/// The last [`TAIL_BYTES`] of a stream and how many bytes came before them.
#[derive(Default)]
struct Tail {
    bytes: Vec<u8>,
    total: u64,
}

impl Tail {
    fn push(&mut self, chunk: &[u8]) {
        self.total += chunk.len() as u64;
        if chunk.len() >= TAIL_BYTES {
            self.bytes.clear();
            self.bytes
                .extend_from_slice(&chunk[chunk.len() - TAIL_BYTES..]);
            return;
        }
        self.bytes.extend_from_slice(chunk);
        if self.bytes.len() > 2 * TAIL_BYTES {
            self.bytes.drain(..self.bytes.len() - TAIL_BYTES);
        }
    }

    /// The tail as text (from a line start when it was cut) and how many
    /// bytes were dropped before it.
    fn finish(mut self) -> (String, u64) {
        if self.bytes.len() > TAIL_BYTES {
            self.bytes.drain(..self.bytes.len() - TAIL_BYTES);
        }
        let mut kept: &[u8] = &self.bytes;
        if self.total > kept.len() as u64 {
            if let Some(i) = kept.iter().position(|&b| b == b'\n') {
                kept = &kept[i + 1..];
            }
        }
        (
            String::from_utf8_lossy(kept).into_owned(),
            self.total - kept.len() as u64,
        )
    }
}

/// Run a cell up to `attempts` times while `again` says a run told nothing
/// of the target: the interpreter failed before the target was imported
/// (a free-threaded 3.13 build, for one, can starve in its own start-up
/// on a busy machine: see [`past_its_time`]), or the harness failed on
/// its own. An attempt that exited as the one before it did (same status,
/// same last step, same words) is not made again: that failure does not
/// come and go. (A hang or a signal
/// before the target is tried every time: its times differ, and the
/// starved start-up above is the reason to retry at all.) Earlier
/// attempts are kept in [`Observation::retries`]; the last one is what
/// gets judged.
pub fn run_cell_retrying(
    cmd: &CellCommand,
    attempts: u32,
    lease: &Lease,
    again: &dyn Fn(&Observation) -> bool,
) -> std::io::Result<Observation> {
    let mut retries = Vec::new();
    loop {
        let mut obs = run_cell(cmd, lease)?;
        let attempted = retries.len() as u32 + 1;
        let this = Attempt::of(&obs);
        let as_before =
            matches!(this.termination, Termination::Exited { .. }) && retries.last() == Some(&this);
        if attempted < attempts && !as_before && again(&obs) {
            retries.push(this);
            continue;
        }
        obs.retries = retries;
        return Ok(obs);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_spent_waiting_for_a_cpu_does_not_count_up_to_the_limit() {
        let s = Duration::from_secs;
        let allowed = s(10);
        assert!(!past_its_time(s(9), s(0), allowed));
        assert!(past_its_time(s(10), s(0), allowed));
        // 12 s in all, 3 of them waiting: 9 s of its own.
        assert!(!past_its_time(s(12), s(3), allowed));
        assert!(past_its_time(s(13), s(3), allowed));
        // However long it waited, it ends at WAIT_LIMIT times its time.
        assert!(!past_its_time(s(29), s(25), allowed));
        assert!(past_its_time(allowed * WAIT_LIMIT, s(25), allowed));
    }

    #[test]
    fn a_tail_keeps_the_last_lines_and_counts_the_rest() {
        let mut tail = Tail::default();
        tail.push(b"short\n");
        assert_eq!(tail.finish(), ("short\n".to_owned(), 0));

        let mut tail = Tail::default();
        let line = b"0123456789abcdef0123456789abcdef0123456789abcdef012345678901234\n";
        for _ in 0..1000 {
            tail.push(line);
            assert!(tail.bytes.len() <= 2 * TAIL_BYTES);
        }
        tail.push(&vec![b'x'; 3 * TAIL_BYTES]);
        tail.push(b"\nlast\n");
        let (text, dropped) = tail.finish();
        assert_eq!(text, "last\n");
        assert_eq!(dropped, 1000 * 64 + 3 * TAIL_BYTES as u64 + 1);
    }

    #[test]
    fn tokens_are_128_bits_of_hex_and_differ() {
        let a = token().unwrap();
        let b = token().unwrap();
        assert_eq!(a.len(), 32);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(a, b);
    }
}
