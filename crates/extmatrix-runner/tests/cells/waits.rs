//! Early deadlock verdicts and idle cells: a cell whose every thread waits
//! on a lock with no timeout ends as `Deadlocked` long before its timeout;
//! a sleep, a timed wait and a read end by themselves and are waited for.

use crate::common::{command, module_dir};
use extmatrix_core::Scenario;
use extmatrix_runner::{parallel_map, run_cell, Lease, Observation, Termination};
use std::time::{Duration, Instant};

/// `smoke` on an imported pure-Python module, with a 1 s deadlock verdict
/// and a 30 s timeout.
fn run_waiting(smoke: &str, deadlock: Option<Duration>) -> Observation {
    let dir = module_dir("waiter");
    let mut cmd = command(Scenario::Import, "waiter", dir.path().to_owned(), smoke);
    cmd.deadlock = deadlock;
    run_cell(&cmd, &Lease::none()).unwrap()
}

const SECOND: Option<Duration> = Some(Duration::from_secs(1));

fn assert_deadlocked(obs: &Observation) {
    let Termination::Deadlocked { after_ms, threads } = &obs.termination else {
        panic!("not a deadlock: {:?}", obs.termination);
    };
    assert!(
        (1000..10_000).contains(after_ms),
        "found after {after_ms} ms"
    );
    assert!(!threads.is_empty());
    for thread in threads {
        assert!(thread.ends_with("futex wait, no timeout"), "{threads:?}");
    }
    // Its stacks were taken, as at a timeout.
    assert!(obs
        .events
        .iter()
        .any(|e| matches!(e, extmatrix_protocol::Event::Forensics(_))));
}

/// Mutations caught: a deadlock never declared; a deadlock declared
/// without its stacks.
#[test]
fn a_lock_taken_twice_is_a_deadlock_long_before_the_timeout() {
    let obs = run_waiting(
        "import threading\nl = threading.Lock()\nl.acquire()\nl.acquire()\n",
        SECOND,
    );
    assert_deadlocked(&obs);
}

#[test]
fn two_threads_waiting_on_each_other_are_a_deadlock() {
    let smoke = "import threading, time\n\
                 a, b = threading.Lock(), threading.Lock()\n\
                 a.acquire()\n\
                 def other():\n    \
                     b.acquire()\n    \
                     a.acquire()\n\
                 threading.Thread(target=other).start()\n\
                 time.sleep(0.3)\n\
                 b.acquire()\n";
    let obs = run_waiting(smoke, SECOND);
    assert_deadlocked(&obs);
    let Termination::Deadlocked { threads, .. } = &obs.termination else {
        unreachable!()
    };
    assert_eq!(threads.len(), 2, "{threads:?}");
}

/// Mutations caught: a timed futex wait, a sleep or a read taken for a
/// lock wait; `deadlock: None` not honoured.
#[test]
fn a_sleep_a_timed_wait_and_a_read_are_not_deadlocks() {
    for smoke in [
        "import time\ntime.sleep(2.5)\n",
        "import threading\nthreading.Event().wait(2.5)\n",
        "import os, threading\n\
         r, w = os.pipe()\n\
         threading.Timer(2.5, os.write, (w, b'x')).start()\n\
         assert os.read(r, 1) == b'x'\n",
    ] {
        let obs = run_waiting(smoke, SECOND);
        assert_eq!(obs.termination, Termination::Exited { code: 0 }, "{smoke}");
        assert!(
            obs.events.contains(&extmatrix_protocol::Event::Done),
            "{smoke}"
        );
    }
}

#[test]
fn without_a_deadlock_verdict_a_deadlock_waits_for_the_timeout() {
    let dir = module_dir("waiter");
    let mut cmd = command(
        Scenario::Import,
        "waiter",
        dir.path().to_owned(),
        "import threading\nl = threading.Lock()\nl.acquire()\nl.acquire()\n",
    );
    cmd.timeout = Duration::from_secs(3);
    let obs = run_cell(&cmd, &Lease::none()).unwrap();
    assert!(
        matches!(obs.termination, Termination::TimedOut { .. }),
        "{:?}",
        obs.termination
    );
}

/// Two sleeping cells on one job: the second starts while the first
/// sleeps, since an idle cell gives its slot back. Mutations caught: the
/// runner never calling the lease idle.
#[test]
fn a_sleeping_cell_gives_its_job_slot_to_the_next() {
    let dir = module_dir("waiter");
    let cmd = command(
        Scenario::Import,
        "waiter",
        dir.path().to_owned(),
        "import time\ntime.sleep(3)\n",
    );
    let origin = Instant::now();
    let spans = parallel_map(
        &[cmd.clone(), cmd],
        1,
        |cmd, lease| {
            let start = origin.elapsed();
            let obs = run_cell(cmd, lease).unwrap();
            assert_eq!(obs.termination, Termination::Exited { code: 0 });
            (start, origin.elapsed())
        },
        |_, _| {},
    );
    let (first, second) = (spans[0], spans[1]);
    assert!(second.0 < first.1, "ran one after the other: {spans:?}");
}
