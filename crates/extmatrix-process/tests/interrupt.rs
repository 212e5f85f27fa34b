//! An interrupt kills what runs and refuses what would start next. Its own
//! test binary: an interrupt is for the whole process, for good.

use extmatrix_process::{interrupt, interrupted, signal_name, Supervised};
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn an_interrupt_kills_what_runs_and_starts_nothing_new() {
    assert_eq!(interrupted(), None);
    let mut sleeper = Command::new("sleep");
    sleeper.arg("300");
    let mut running = Supervised::spawn(&mut sleeper).unwrap();
    interrupt(libc::SIGTERM);
    interrupt(libc::SIGHUP);
    assert_eq!(interrupted(), Some(libc::SIGTERM), "the first signal wins");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !running.has_exited().unwrap() {
        assert!(
            Instant::now() < deadline,
            "the running group was not killed"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    running.wait().unwrap();
    let refused = Supervised::spawn(&mut Command::new("true")).err().unwrap();
    assert_eq!(refused.kind(), std::io::ErrorKind::Interrupted);
    assert_eq!(signal_name(libc::SIGTERM), "SIGTERM");
    assert_eq!(signal_name(libc::SIGHUP), "SIGHUP");
    assert_eq!(signal_name(64), "signal 64");
}
