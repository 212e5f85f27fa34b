//! Tests of the `/proc` parsers and the [`Watch`], and of [`sample`] on real
//! processes: this test binary, run again as a child that blocks in a
//! chosen way (see [`child_entry`]), below an `sh` that stands for the
//! harness's supervisor.

use super::*;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{mpsc, Arc, Barrier};

// ---------------------------------------------------------------- parsers

#[test]
fn a_stat_line_is_read_after_the_last_parenthesis_of_the_name() {
    // A name with ") " and a fake state inside, as a thread may name itself.
    let line = "4242 (evil) S 1 (x) R 1 4242 4242 0 -1 4194560 120 0 0 0 7 5 3 2 20 0 1 0 99 1000 1 18446744073709551615";
    assert_eq!(
        parse_stat(line),
        Some(Stat {
            comm: "evil) S 1 (x",
            state: 'R',
            ticks: 7 + 5 + 3 + 2,
        })
    );
    let plain = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
    let stat = parse_stat(&plain).expect("this thread's own stat");
    assert_eq!(stat.state, 'R', "it is reading its own stat: running");
    assert!(parse_stat("4242 (no end S 1 2").is_none());
    assert!(parse_stat("4242 (short) S 1 2 3").is_none());
}

/// A `syscall` line as the kernel writes it for a thread blocked in `nr`.
fn syscall_line(nr: libc::c_long, args: [u64; 6]) -> String {
    let args: Vec<String> = args.iter().map(|a| format!("{a:#x}")).collect();
    format!("{nr} {} 0x7ffd6f6b4780 0x7faac16a3e96\n", args.join(" "))
}

#[test]
fn syscall_lines_of_every_form_are_parsed() {
    assert_eq!(parse_syscall("running\n"), SyscallLine::Running);
    assert_eq!(
        parse_syscall("-1 0x7ffc1f5e9d28 0x7f3a2c8e5e2e\n"),
        SyscallLine::NotInSyscall
    );
    // A CPython 3.13 `lock.acquire()` of a held lock, as read on x86_64.
    assert_eq!(
        parse_syscall(
            "202 0x5644b0c064a0 0x189 0x0 0x0 0x0 0xffffffff 0x7ffd6f6b4780 0x7faac16a3e96\n"
        ),
        SyscallLine::In {
            nr: 202,
            args: [0x5644b0c064a0, 0x189, 0, 0, 0, 0xffffffff],
        }
    );
    for garbage in ["", "202 0x1 0x2", "x 0x1", "202 1 2 3 4 5 6 7 8"] {
        assert!(
            matches!(parse_syscall(garbage), SyscallLine::Unparsable(_)),
            "{garbage:?}"
        );
    }
}

#[test]
fn only_a_futex_wait_with_no_timeout_is_a_lock_wait() {
    let futex = |op: u64, timeout: u64| {
        classify(parse_syscall(&syscall_line(
            libc::SYS_futex,
            [0x55b4bde920b0, op, 0, timeout, 0, 0xffffffff],
        )))
    };
    let untimed = Doing::Lock { timeout: false };
    // FUTEX_WAIT_BITSET | PRIVATE | CLOCK_REALTIME: CPython's sem_wait.
    assert_eq!(futex(0x189, 0), untimed);
    for op in [0, 6, 9, 11, 13] {
        assert_eq!(futex(op, 0), untimed, "op {op}");
        assert_eq!(futex(op | 128, 0), untimed, "private op {op}");
        assert_eq!(futex(op | 256, 0), untimed, "realtime op {op}");
    }
    // threading.Event().wait(30): the same wait with a timeout.
    assert_eq!(futex(0x89, 0x7ffe92761c00), Doing::Lock { timeout: true });
    // FUTEX_WAKE, FUTEX_REQUEUE, FUTEX_TRYLOCK_PI do not wait.
    for op in [1, 1 | 128, 3, 8] {
        assert_eq!(
            futex(op, 0),
            Doing::Syscall {
                syscall: libc::SYS_futex
            }
        );
    }
    let sleep = syscall_line(libc::SYS_clock_nanosleep, [1, 1, 0x7ffd, 0, 0, 0]);
    assert_eq!(
        classify(parse_syscall(&sleep)),
        Doing::Sleep {
            syscall: libc::SYS_clock_nanosleep
        }
    );
    let read = syscall_line(libc::SYS_read, [3, 0x7ffd, 4096, 0, 0, 0]);
    assert_eq!(
        classify(parse_syscall(&read)),
        Doing::Syscall {
            syscall: libc::SYS_read
        }
    );
    assert_eq!(classify(parse_syscall("running")), Doing::Running);
    assert_eq!(classify(parse_syscall("-1 0x1 0x2")), Doing::Blocked);
    assert!(matches!(classify(parse_syscall("?")), Doing::Unknown(_)));
}

#[test]
fn an_unreadable_syscall_file_is_unknown_and_a_missing_one_is_a_gone_thread() {
    let denied = io::Error::from(io::ErrorKind::PermissionDenied);
    let doing = doing_from(Err(denied)).expect("denied is not gone");
    assert!(matches!(doing, Doing::Unknown(_)), "{doing:?}");
    assert!(doing.to_string().contains("permission denied"), "{doing}");
    assert_eq!(doing_from(Err(io::ErrorKind::NotFound.into())), None);
    assert_eq!(
        doing_from(Err(io::Error::from_raw_os_error(libc::ESRCH))),
        None
    );
}

#[test]
fn threads_say_what_they_do_in_words() {
    let thread = |doing, state| Thread {
        pid: 10,
        tid: 11,
        comm: "python3".into(),
        state,
        doing,
    };
    let said = |doing, state| thread(doing, state).to_string();
    assert_eq!(
        said(Doing::Lock { timeout: false }, 'S'),
        "11 (python3): futex wait, no timeout"
    );
    assert_eq!(
        said(Doing::Lock { timeout: true }, 'S'),
        "11 (python3): futex wait with a timeout"
    );
    assert_eq!(
        said(
            Doing::Sleep {
                syscall: libc::SYS_nanosleep
            },
            'S'
        ),
        "11 (python3): nanosleep"
    );
    assert_eq!(
        said(
            Doing::Syscall {
                syscall: libc::SYS_read
            },
            'D'
        ),
        "11 (python3): read, uninterruptible"
    );
    assert_eq!(
        said(Doing::Syscall { syscall: 99999 }, 'S'),
        "11 (python3): syscall 99999"
    );
    let sample = Sample {
        cpu_ticks: 0,
        focus: Some(10),
        threads: vec![thread(Doing::Running, 'R'), {
            let mut other = thread(Doing::Exited, 'Z');
            other.pid = 12;
            other
        }],
        run_ns: None,
        waited_ns: None,
    };
    assert_eq!(
        sample.describe(),
        [
            "11 (python3): running",
            "process 12, thread 11 (python3): exited"
        ]
    );
}

// ------------------------------------------------------------------ Watch

const FOCUS: Pid = 100;

fn thread_of(pid: Pid, state: char, doing: Doing) -> Thread {
    Thread {
        pid,
        tid: pid,
        comm: "t".into(),
        state,
        doing,
    }
}

/// A thread of `pid` waiting on a lock with no timeout.
fn lock_wait(pid: Pid) -> Thread {
    thread_of(pid, 'S', Doing::Lock { timeout: false })
}

fn locked() -> Thread {
    lock_wait(FOCUS)
}

fn sample_of(cpu_ticks: u64, threads: Vec<Thread>) -> Sample {
    Sample {
        cpu_ticks,
        focus: Some(FOCUS),
        threads,
        run_ns: Some(5),
        waited_ns: Some(0),
    }
}

#[test]
fn a_deadlock_is_every_live_thread_below_root_in_an_untimed_lock_wait() {
    let stuck = |threads| sample_of(1, threads).all_waiting_on_locks();
    assert!(stuck(vec![locked(), locked()]));
    let timed = thread_of(FOCUS, 'S', Doing::Lock { timeout: true });
    assert!(!stuck(vec![locked(), timed]));
    let uninterruptible = thread_of(FOCUS, 'D', Doing::Lock { timeout: false });
    assert!(!stuck(vec![locked(), uninterruptible]));
    let unknown = thread_of(FOCUS, 'S', Doing::Unknown("denied".into()));
    assert!(!stuck(vec![locked(), unknown]));
    // An exited thread can release nothing; it does not stand in the way.
    assert!(stuck(vec![locked(), thread_of(FOCUS, 'Z', Doing::Exited)]));
    // Another process below root that sleeps may wake up and act.
    let sleeper = thread_of(7, 'S', Doing::Sleep { syscall: 35 });
    assert!(!stuck(vec![locked(), sleeper]));
    assert!(stuck(vec![locked(), lock_wait(7)]));
    // Focus itself must be there and waiting.
    assert!(!stuck(vec![lock_wait(7)]));
    assert!(!stuck(vec![]));
    let mut no_focus = sample_of(1, vec![locked()]);
    no_focus.focus = None;
    assert!(!no_focus.all_waiting_on_locks());
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn a_deadlock_is_declared_once_it_lasted_deadlock_after() {
    let t0 = Instant::now();
    let mut watch = Watch::new(ms(300), Some(ms(400)));
    let stuck = sample_of(7, vec![locked(), locked()]);
    for at in [0, 100, 200, 399] {
        assert_ne!(
            watch.observe(t0 + ms(at), &stuck),
            Activity::Deadlocked,
            "{at} ms"
        );
    }
    assert_eq!(watch.observe(t0 + ms(400), &stuck), Activity::Deadlocked);
    assert_eq!(watch.observe(t0 + ms(500), &stuck), Activity::Deadlocked);
}

#[test]
fn any_sample_that_breaks_the_deadlock_restarts_its_clock() {
    let t0 = Instant::now();
    let stuck = sample_of(7, vec![locked(), locked()]);
    let sleeping = sample_of(
        7,
        vec![
            locked(),
            thread_of(FOCUS, 'S', Doing::Sleep { syscall: 35 }),
        ],
    );
    let cpu_moved = sample_of(8, vec![locked(), locked()]);
    let mut ran = stuck.clone();
    ran.run_ns = Some(6);
    for breaker in [sleeping, cpu_moved, ran] {
        let mut watch = Watch::new(ms(300), Some(ms(400)));
        watch.observe(t0, &stuck);
        watch.observe(t0 + ms(300), &breaker);
        // Counted again from the breaker (a deadlock-like one) or after it.
        let restart = if breaker.all_waiting_on_locks() {
            300
        } else {
            500
        };
        let now = watch.observe(t0 + ms(500), &breaker);
        assert_ne!(now, Activity::Deadlocked);
        let just_before = watch.observe(t0 + ms(restart + 399), &breaker);
        assert_ne!(just_before, Activity::Deadlocked, "{breaker:?}");
        assert_eq!(
            watch.observe(t0 + ms(restart + 400), &breaker),
            if breaker.all_waiting_on_locks() {
                Activity::Deadlocked
            } else {
                Activity::Idle
            },
            "{breaker:?}"
        );
    }
}

#[test]
fn a_watch_without_deadlock_detection_never_says_deadlocked() {
    let t0 = Instant::now();
    let mut watch = Watch::new(ms(300), None);
    let stuck = sample_of(7, vec![locked()]);
    watch.observe(t0, &stuck);
    assert_eq!(watch.observe(t0 + ms(60_000), &stuck), Activity::Idle);
}

#[test]
fn a_cell_is_idle_once_its_cpu_time_stood_still_for_idle_after() {
    let t0 = Instant::now();
    let mut watch = Watch::new(ms(300), Some(ms(400)));
    let at = |ticks| sample_of(ticks, vec![]);
    assert_eq!(watch.observe(t0, &at(1)), Activity::Busy);
    assert_eq!(watch.observe(t0 + ms(299), &at(1)), Activity::Busy);
    assert_eq!(watch.observe(t0 + ms(300), &at(1)), Activity::Idle);
    assert_eq!(watch.observe(t0 + ms(400), &at(2)), Activity::Busy);
    assert_eq!(watch.observe(t0 + ms(699), &at(2)), Activity::Busy);
    assert_eq!(watch.observe(t0 + ms(700), &at(2)), Activity::Idle);
}

#[test]
fn a_cell_waiting_for_a_cpu_is_not_idle() {
    let t0 = Instant::now();
    let mut watch = Watch::new(ms(300), None);
    let waited = |ms: u64| Sample {
        waited_ns: Some(ms * 1_000_000),
        ..sample_of(1, vec![])
    };
    assert_eq!(watch.observe(t0, &waited(0)), Activity::Busy);
    // Its ticks stand still, but it keeps waiting for a CPU.
    for (at, ms) in [(200, 10), (400, 20), (600, 30)] {
        assert_eq!(
            watch.observe(t0 + Duration::from_millis(at), &waited(ms)),
            Activity::Busy
        );
    }
    assert_eq!(watch.observe(t0 + ms(899), &waited(30)), Activity::Busy);
    assert_eq!(watch.observe(t0 + ms(900), &waited(30)), Activity::Idle);
    // The microseconds a sleeping thread waits at each wake-up are no
    // demand for a CPU: a sleeper is idle all the same.
    let mut sleeper = Watch::new(ms(300), None);
    let woke = |us: u64| Sample {
        waited_ns: Some(us * 1000),
        ..sample_of(1, vec![])
    };
    sleeper.observe(t0, &woke(1));
    sleeper.observe(t0 + ms(150), &woke(40));
    assert_eq!(sleeper.observe(t0 + ms(300), &woke(80)), Activity::Idle);
}

#[test]
fn only_a_wait_behind_other_processes_counts_for_the_cell() {
    let t0 = Instant::now();
    let at = |cpu_ticks: u64, waited_ms: u64| Sample {
        waited_ns: Some(waited_ms * 1_000_000),
        ..sample_of(cpu_ticks, vec![])
    };
    let tick = 1000 / ticks_per_second();
    let mut watch = Watch::new(IDLE_AFTER, None);
    watch.cpus = 1;
    watch.observe(t0, &at(0, 5));
    // 100 ms: it ran 10 ms and waited 90 behind others.
    watch.observe(t0 + ms(100), &at(10 / tick, 95));
    assert_eq!(watch.waited_for_others(), ms(90));
    // 100 ms: the cell's own processes used the CPU for 80 of them, so at
    // most 20 of its 90 ms of waiting were behind others.
    watch.observe(t0 + ms(200), &at(90 / tick, 185));
    assert_eq!(watch.waited_for_others(), ms(110));
    // On two CPUs it used both: all of its wait was behind itself.
    let mut both = Watch::new(IDLE_AFTER, None);
    both.cpus = 2;
    both.observe(t0, &at(0, 0));
    both.observe(t0 + ms(100), &at(200 / tick, 50));
    assert_eq!(both.waited_for_others(), Duration::ZERO);
    // Without focus's wait nothing is counted.
    let mut blind = Watch::new(IDLE_AFTER, None);
    blind.observe(t0, &sample_of(0, vec![]));
    blind.observe(
        t0 + ms(100),
        &Sample {
            waited_ns: None,
            ..sample_of(0, vec![])
        },
    );
    assert_eq!(blind.waited_for_others(), Duration::ZERO);
}

// ---------------------------------------------------- real processes

/// Set to the behaviour [`child_entry`] should act out.
const BEHAVIOUR: &str = "EXTMATRIX_ACTIVITY_TEST_BEHAVIOUR";
const CHILD_ENTRY: &str = "activity::tests::child_entry";
/// What the child says once it is about to block (libtest's own lines
/// come first, and its `test … ...` on the same line).
const READY: &str = "extmatrix-activity-child-ready";

/// Not a test: the body of the children the tests below watch. Run without
/// [`BEHAVIOUR`] it does nothing; with it, it blocks the way it names,
/// says [`READY`] on stdout and never returns (its parent kills it).
#[test]
fn child_entry() {
    let Ok(behaviour) = std::env::var(BEHAVIOUR) else {
        return;
    };
    // Die with the `sh` standing for root, which dies with the test.
    // SAFETY: plain prctl/getppid/kill.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        if libc::getppid() == 1 {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
    behave(&behaviour)
}

fn ready() {
    use std::io::Write;
    // Straight to fd 1: libtest captures print!, not this.
    let mut out = std::io::stdout().lock();
    writeln!(out, "{READY}").unwrap();
    out.flush().unwrap();
}

/// Threads that block forever on a lock nothing releases: `n` waiting on a
/// barrier of `n + 1`.
fn stuck_threads(n: usize) -> Vec<std::thread::JoinHandle<()>> {
    let barrier = Arc::new(Barrier::new(n + 1));
    (0..n)
        .map(|_| {
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
            })
        })
        .collect()
}

/// Block forever receiving from a channel whose sender stays alive.
fn receive_forever() -> ! {
    let (_sender, receiver) = mpsc::channel::<()>();
    ready();
    loop {
        let _ = receiver.recv();
    }
}

fn spin() -> ! {
    let mut n = 0u64;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

fn behave(behaviour: &str) -> ! {
    let ten_s = Duration::from_secs(10);
    match behaviour {
        "lock-wait" => {
            let _threads = stuck_threads(2);
            receive_forever()
        }
        "many-lock-waits" => {
            let _threads = stuck_threads(20);
            receive_forever()
        }
        "timed-wait" => {
            let (_sender, receiver) = mpsc::channel::<()>();
            ready();
            loop {
                let _ = receiver.recv_timeout(ten_s);
            }
        }
        "sleep" => {
            ready();
            loop {
                std::thread::sleep(ten_s);
            }
        }
        "read" => {
            ready();
            let mut byte = [0u8; 1];
            let _ = std::io::stdin().read(&mut byte);
            panic!("stdin was to stay silent");
        }
        "busy" => {
            // Several spinners: on a loaded machine, one may go without a
            // CPU for longer than IDLE_AFTER.
            for _ in 0..3 {
                std::thread::spawn(spin);
            }
            ready();
            spin()
        }
        "contended" => {
            // Three spinners on one CPU, this process's main thread one of
            // them (libtest runs this on another thread: exec makes the
            // pinned thread the main one): it is ready to run two thirds
            // of the time without a CPU to run on.
            crate::pin_to_one_cpu().unwrap();
            let spinner = || {
                let mut sh = Command::new("sh");
                sh.args(["-c", "while :; do :; done"]);
                sh
            };
            // Killed with the process group, reaped by whoever inherits them.
            let _others: Vec<Child> = (0..2).map(|_| spinner().spawn().unwrap()).collect();
            ready();
            panic!("{}", spinner().exec())
        }
        "busy-grandchild" => {
            let mut spinner = Command::new("sh")
                .args(["-c", "while :; do :; done"])
                .spawn()
                .unwrap();
            ready();
            let _ = spinner.wait();
            panic!("the spinner ended");
        }
        "lock-and-sleep" => {
            let _stuck = stuck_threads(1);
            let _sleeper = std::thread::spawn(move || loop {
                std::thread::sleep(ten_s);
            });
            receive_forever()
        }
        other => panic!("no behaviour {other:?}"),
    }
}

/// A child leading its own process group, which is killed when this is
/// dropped (a failed test too leaves nothing running).
struct Group(Child);

impl Group {
    fn spawn(command: &mut Command) -> Group {
        command.process_group(0);
        crate::die_with_parent(command, libc::SIGKILL);
        Group(command.spawn().unwrap())
    }

    fn pid(&self) -> Pid {
        self.0.id() as Pid
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        // SAFETY: our own unreaped child's group.
        unsafe {
            libc::kill(-self.pid(), libc::SIGKILL);
        }
        let _ = self.0.wait();
    }
}

/// A child acting out a behaviour below an `sh` that waits for it, as the
/// scenario process is below the harness's supervisor.
struct Cell {
    root: Group,
    focus: Pid,
    /// Held open so that a read of stdin waits.
    _stdin: ChildStdin,
}

impl Cell {
    fn start(behaviour: &str) -> Cell {
        let exe = std::env::current_exe().unwrap();
        let mut command = Command::new("sh");
        // A background job's stdin would be /dev/null: hand it over as fd 3.
        command
            .args(["-c", r#"exec 3<&0; "$0" "$@" <&3 3<&- & wait"#])
            .arg(exe)
            .args(["--exact", CHILD_ENTRY, "--test-threads=1"])
            .env(BEHAVIOUR, behaviour)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        let mut root = Group::spawn(&mut command);
        let stdin = root.0.stdin.take().unwrap();
        let stdout = root.0.stdout.take().unwrap();
        let root_pid = root.pid();
        let mut cell = Cell {
            root,
            focus: 0,
            _stdin: stdin,
        };
        let (said, heard) = mpsc::channel();
        std::thread::spawn(move || {
            let ready = BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .any(|line| line.contains(READY));
            let _ = said.send(ready);
        });
        let ready = heard.recv_timeout(Duration::from_secs(30));
        assert_eq!(ready, Ok(true), "{behaviour}: the child never got ready");
        let children =
            std::fs::read_to_string(format!("/proc/{root_pid}/task/{root_pid}/children"));
        cell.focus = children.unwrap().trim().parse().expect("one child of sh");
        cell
    }

    fn root(&self) -> Pid {
        self.root.pid()
    }

    /// Sample every 50 ms for `span` or until `enough` holds for a sample
    /// and its activity; every sample's activity, with the last sample.
    fn watch(
        &self,
        watch: &mut Watch,
        span: Duration,
        enough: impl Fn(Activity) -> bool,
    ) -> (Vec<Activity>, Sample) {
        let start = Instant::now();
        let mut seen = Vec::new();
        loop {
            let (activity, sample) = watch.poll(self.root(), Some(self.focus)).unwrap();
            seen.push(activity);
            if enough(activity) || start.elapsed() >= span {
                return (seen, sample);
            }
            std::thread::sleep(ms(50));
        }
    }
}

const DEADLOCK_AFTER: Duration = Duration::from_millis(400);

fn test_watch() -> Watch {
    Watch::new(IDLE_AFTER, Some(DEADLOCK_AFTER))
}

#[test]
fn threads_blocked_forever_on_locks_are_a_deadlock() {
    let cell = Cell::start("lock-wait");
    let start = Instant::now();
    let (seen, last) = cell.watch(&mut test_watch(), Duration::from_secs(10), |a| {
        a == Activity::Deadlocked
    });
    assert_eq!(
        seen.last(),
        Some(&Activity::Deadlocked),
        "{:?}",
        last.describe()
    );
    assert!(start.elapsed() >= DEADLOCK_AFTER);
    // libtest's main thread, the test's, and the two at the barrier.
    let focus_threads = last.threads.iter().filter(|t| t.pid == cell.focus).count();
    assert!(focus_threads >= 3, "{:?}", last.describe());
    for line in last.describe() {
        assert!(line.ends_with(": futex wait, no timeout"), "{line}");
    }
}

/// Watch a child that must never look deadlocked: for three times
/// `deadlock_after`; the activities seen.
fn never_deadlocked(behaviour: &str) -> Vec<Activity> {
    let cell = Cell::start(behaviour);
    let (seen, last) = cell.watch(&mut test_watch(), DEADLOCK_AFTER * 3, |_| false);
    assert!(
        !seen.contains(&Activity::Deadlocked),
        "{behaviour}: {:?}",
        last.describe()
    );
    seen
}

#[test]
fn a_wait_with_a_timeout_is_idle_but_no_deadlock() {
    let seen = never_deadlocked("timed-wait");
    assert!(seen.contains(&Activity::Idle), "{seen:?}");
}

#[test]
fn a_sleep_is_no_deadlock() {
    let seen = never_deadlocked("sleep");
    assert!(seen.contains(&Activity::Idle), "{seen:?}");
}

#[test]
fn a_read_that_never_gets_data_is_no_deadlock() {
    let seen = never_deadlocked("read");
    assert!(seen.contains(&Activity::Idle), "{seen:?}");
}

#[test]
fn one_thread_sleeping_beside_a_lock_wait_is_no_deadlock() {
    never_deadlocked("lock-and-sleep");
}

#[test]
fn a_busy_loop_is_busy_and_never_idle() {
    let seen = never_deadlocked("busy");
    assert!(seen.iter().all(|&a| a == Activity::Busy), "{seen:?}");
}

/// Poll `cell` every 100 ms until `enough` polls found its CPU time moved
/// (`moved`) or stood still: whether each read the threads, and whether the
/// time had moved since the last poll.
fn polls(cell: &Cell, watch: &mut Watch, moved: bool, enough: usize) -> Vec<(bool, bool)> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen: Vec<(bool, bool)> = Vec::new();
    let mut last_ticks = None;
    while seen.iter().filter(|&&(_, m)| m == moved).count() < enough {
        assert!(Instant::now() < deadline, "{seen:?}");
        let (_, sample) = watch.poll(cell.root(), Some(cell.focus)).unwrap();
        if let Some(last) = last_ticks {
            seen.push((!sample.threads.is_empty(), last != sample.cpu_ticks));
        }
        last_ticks = Some(sample.cpu_ticks);
        std::thread::sleep(ms(100));
    }
    seen
}

#[test]
fn a_poll_reads_the_threads_only_when_the_cpu_time_stood_still() {
    let busy = Cell::start("busy");
    for (read_threads, moved) in polls(&busy, &mut test_watch(), true, 3) {
        assert_eq!(read_threads, !moved);
    }
    let asleep = Cell::start("sleep");
    let standing = polls(&asleep, &mut test_watch(), false, 3);
    for (read_threads, moved) in standing {
        assert_eq!(read_threads, !moved);
    }
    let mut no_detection = Watch::new(IDLE_AFTER, None);
    for (read_threads, _) in polls(&asleep, &mut no_detection, false, 3) {
        assert!(!read_threads, "no deadlock detection, no threads");
    }
}

#[test]
fn a_main_thread_kept_from_a_cpu_has_waited_for_one() {
    let cell = Cell::start("contended");
    let first = sample(cell.root(), Some(cell.focus)).unwrap();
    let (seen, last) = cell.watch(&mut test_watch(), ms(600), |_| false);
    assert!(seen.iter().all(|&a| a == Activity::Busy), "{seen:?}");
    let waited = last.waited_ns.unwrap() - first.waited_ns.unwrap();
    // Two thirds of 600 ms if nothing else runs; a third is enough to tell
    // it from a thread that has a CPU to itself.
    assert!(waited >= 200_000_000, "waited {waited} ns in 600 ms");
    // Without a focus there is no main thread to ask about.
    assert_eq!(sample(cell.root(), None).unwrap().waited_ns, None);
}

#[test]
fn the_cpu_time_of_a_grandchild_counts() {
    let cell = Cell::start("busy-grandchild");
    let first = sample(cell.root(), Some(cell.focus)).unwrap();
    let (seen, last) = cell.watch(&mut test_watch(), DEADLOCK_AFTER * 3, |_| false);
    assert!(seen.iter().all(|&a| a == Activity::Busy), "{seen:?}");
    assert!(last.cpu_time() > first.cpu_time());
    // The spinner is a thread below root too, running.
    let spinner = first.threads.iter().find(|t| t.pid != cell.focus);
    assert!(
        spinner.is_some_and(|t| t.doing == Doing::Running),
        "{first:?}"
    );
}

#[test]
fn processes_that_end_while_the_tree_is_read_are_left_out() {
    let root = Group::spawn(Command::new("sh").args(["-c", "while :; do /bin/true; done"]));
    let pid = root.pid();
    let mut saw_a_child = false;
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut samples = 0;
    while Instant::now() < deadline && (samples < 300 || !saw_a_child) {
        let sample = sample(pid, None).expect("only root's own /proc may fail");
        saw_a_child |= !sample.threads.is_empty();
        samples += 1;
    }
    assert!(saw_a_child, "no `true` seen in {samples} samples");
}

#[test]
fn a_root_that_is_gone_is_an_error_that_says_what_was_read() {
    let mut child = Command::new("true").spawn().unwrap();
    let pid = child.id() as Pid;
    child.wait().unwrap();
    let err = sample(pid, None).unwrap_err();
    assert!(
        err.to_string().contains(&format!("/proc/{pid}/stat")),
        "{err}"
    );
}

#[test]
fn a_sample_of_a_process_with_twenty_threads_is_cheap() {
    let cell = Cell::start("many-lock-waits");
    let mut took: Vec<Duration> = (0..200)
        .map(|_| {
            let start = Instant::now();
            let sample = sample(cell.root(), Some(cell.focus)).unwrap();
            assert!(sample.threads.len() >= 22, "{:?}", sample.describe());
            start.elapsed()
        })
        .collect();
    took.sort();
    let median = took[took.len() / 2];
    eprintln!(
        "one sample of {} threads: median {} µs, max {} µs",
        22,
        median.as_micros(),
        took.last().unwrap().as_micros()
    );
    // Sampled every 100 ms, a millisecond is 1 % of a core per cell; this
    // is a debug build on a machine that may be busy.
    assert!(median < ms(5), "median {median:?}");
}
