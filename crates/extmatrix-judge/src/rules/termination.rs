//! How the harness process ended: `crash` (a signal, or the process ended
//! by the target: `exit()`, `abort()`, `Py_FatalError` while it was
//! importing or running), `hang` (the timeout, the process group killed),
//! `harness-error` (the harness's own failure: its `fatal` event, or an
//! early end in a step that does not run the target).

use crate::{CellFacts, Finding};
use extmatrix_core::{Outcome, Reason};
use extmatrix_protocol::{Observation, Step, Termination};
use extmatrix_schema::Details;
use std::time::Duration;

/// How CPython's `Py_FatalError` starts the message it writes to stderr.
const FATAL_ERROR_PREFIX: &str = "Fatal Python error: ";

/// How a sanitizer's report ends: `SUMMARY: ThreadSanitizer: data race
/// f.c:12 in count_to` (the same for every sanitizer of gcc and clang).
const SANITIZER_SUMMARY: &str = "SUMMARY: ";

/// The last sanitizer summary in `stderr`, without its prefix
/// (`ThreadSanitizer: data race f.c:12 in count_to`).
pub fn sanitizer_summary(stderr: &str) -> Option<&str> {
    stderr
        .lines()
        .rev()
        .filter_map(|l| l.trim_start().strip_prefix(SANITIZER_SUMMARY))
        .find(|s| {
            s.split_once(": ")
                .is_some_and(|(tool, _)| tool.ends_with("Sanitizer"))
        })
        .map(str::trim_end)
}

/// The first line of `Py_FatalError`'s message in `stderr`, without its
/// prefix: what the target (or CPython on its behalf) gave as the cause.
pub fn fatal_error(stderr: &str) -> Option<&str> {
    stderr
        .lines()
        .find_map(|l| l.trim_start().strip_prefix(FATAL_ERROR_PREFIX))
        .map(str::trim_end)
}

pub fn findings(facts: &CellFacts, obs: &Observation, details: &mut Details) -> Option<Finding> {
    let step = obs.last_step();
    let at = step.map_or_else(|| "start".to_owned(), |s| s.to_string());
    details.fatal_error = fatal_error(&obs.stderr_tail).map(str::to_owned);
    let fatal = details
        .fatal_error
        .as_deref()
        .map_or_else(String::new, |m| format!(": {FATAL_ERROR_PREFIX}{m}"));
    match &obs.termination {
        Termination::Signaled { name, .. } => {
            details.signal = Some(name.clone());
            details.step = step;
            let worker = details
                .forensics
                .as_ref()
                .map_or_else(String::new, |f| f.worker_suffix());
            let finding = Finding::new(
                Outcome::Crash,
                format!("{name} in step `{at}`{worker}{fatal}"),
            );
            Some(match details.fatal_error {
                Some(_) => finding.because(Reason::EndedByTarget),
                None => finding,
            })
        }
        Termination::TimedOut {
            after_ms,
            waited_ms,
        } => {
            details.step = step;
            Some(timed_out(facts.timeout, *after_ms, *waited_ms, &at))
        }
        Termination::Deadlocked { after_ms, threads } => {
            details.step = step;
            details.waits = threads.clone();
            let every = match threads.len() {
                1 => "its one thread".to_owned(),
                n => format!("all {n} threads"),
            };
            Some(
                Finding::new(
                    Outcome::Hang,
                    format!(
                        "deadlocked in step `{at}`: {every} waiting on a lock with no timeout, no CPU used (after {:.1}s); process group killed",
                        *after_ms as f64 / 1000.0
                    ),
                )
                .because(Reason::Deadlock),
            )
        }
        Termination::Exited { code } => {
            if *code != 0 {
                details.exit_code = Some(*code);
            }
            exited(obs, *code, details, step, &fatal)
        }
    }
}

/// A cell ended because it ran past its time. Its own time is what it ran
/// while it was not kept waiting for a CPU; if that stayed below its
/// timeout, the runner's limit on waiting ended it, and the machine, not
/// the target, ran out of time.
fn timed_out(timeout: Duration, after_ms: u64, waited_ms: u64, at: &str) -> Finding {
    let secs = |ms: u64| ms as f64 / 1000.0;
    let own_ms = after_ms.saturating_sub(waited_ms);
    if short_of_its_own_time(after_ms, waited_ms, timeout) {
        return Finding::new(
            Outcome::HarnessError,
            format!(
                "in step `{at}` after {:.1}s, only {:.1}s of its own: it waited {:.1}s for a CPU other processes held",
                secs(after_ms),
                secs(own_ms),
                secs(waited_ms)
            ),
        )
        .because(Reason::MachineBusy);
    }
    let waiting = if waited_ms >= 1000 {
        format!(
            " of its own (and {:.1}s waiting for a CPU)",
            secs(waited_ms)
        )
    } else {
        String::new()
    };
    Finding::new(
        Outcome::Hang,
        format!(
            "still in step `{at}` after {}s{waiting}; process group killed",
            timeout.as_secs()
        ),
    )
}

fn short_of_its_own_time(after_ms: u64, waited_ms: u64, timeout: Duration) -> bool {
    u128::from(after_ms.saturating_sub(waited_ms)) < timeout.as_millis()
}

/// The runner's limit on waiting for a CPU ended the run, before it ran
/// its timeout of its own: reason `machine-busy`.
pub fn machine_busy(obs: &Observation, timeout: Duration) -> bool {
    match obs.termination {
        Termination::TimedOut {
            after_ms,
            waited_ms,
        } => short_of_its_own_time(after_ms, waited_ms, timeout),
        _ => false,
    }
}

/// How a process that exited by itself ended, before it is worded.
enum Exit<'a> {
    /// It reported `done`, then exited 0.
    Finished,
    /// The harness failed on its own and said so (its `fatal` event).
    HarnessFatal(&'a str),
    /// A sanitizer's report ended it, in whatever step.
    Sanitizer(&'a str),
    /// It ended in a step that runs the target: the target's doing.
    ByTarget,
    /// It ended early in a step that does not run the target, without a word.
    Early,
}

fn how_it_exited(obs: &Observation, code: i32) -> Exit<'_> {
    if let Some(message) = obs.fatal() {
        return Exit::HarnessFatal(message);
    }
    if code == 0 && obs.reported_done() {
        return Exit::Finished;
    }
    // Whatever the step: a report in CPython's own code is still a report
    // (its control run then says so), never the harness's failure.
    if let Some(report) = sanitizer_summary(&obs.stderr_tail) {
        return Exit::Sanitizer(report);
    }
    if obs.last_step().is_some_and(|s| s.action.runs_target()) {
        return Exit::ByTarget;
    }
    Exit::Early
}

/// The harness failed on its own: it exited with its `fatal` event, or
/// early in a step that does not run the target.
pub fn harness_failed(obs: &Observation) -> bool {
    match obs.termination {
        Termination::Exited { code } => {
            matches!(
                how_it_exited(obs, code),
                Exit::HarnessFatal(_) | Exit::Early
            )
        }
        _ => false,
    }
}

/// The process exited by itself. The harness's own failures say so with a
/// `fatal` event; otherwise an early exit in a step that runs the target is
/// the target's doing.
fn exited(
    obs: &Observation,
    code: i32,
    details: &mut Details,
    step: Option<Step>,
    fatal: &str,
) -> Option<Finding> {
    let how = how_it_exited(obs, code);
    if !matches!(how, Exit::Finished | Exit::HarnessFatal(_)) {
        details.step = step;
    }
    let at = step.map_or_else(|| "start".to_owned(), |s| s.to_string());
    match how {
        Exit::Finished => None,
        Exit::HarnessFatal(message) => Some(Finding::new(Outcome::HarnessError, message)),
        Exit::Sanitizer(report) => Some(
            Finding::new(Outcome::Crash, format!("{report}, in step `{at}`"))
                .because(Reason::Sanitizer),
        ),
        Exit::ByTarget => Some(
            Finding::new(
                Outcome::Crash,
                format!("the process exited with status {code} in step `{at}`, ended by the target{fatal}"),
            )
            .because(Reason::EndedByTarget),
        ),
        Exit::Early => Some(Finding::new(
            Outcome::HarnessError,
            match code {
                0 => format!(
                    "the process exited (status 0) in step `{at}` before the harness finished"
                ),
                _ => format!("harness exited with status {code} in step `{at}`"),
            },
        )),
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;
    use crate::{judge_cell, Evidence};
    use extmatrix_core::{Outcome, Reason, Scenario};
    use extmatrix_protocol::{Event, Termination};

    #[test]
    fn a_signal_is_a_crash_in_the_last_step() {
        let obs = observation(
            vec![step("cycle 1: import"), step("cycle 2: import")],
            Termination::Signaled {
                signal: 11,
                name: "SIGSEGV".into(),
            },
        );
        let v = judge_cell(&facts(Scenario::Reinit), &Evidence::Ran(obs));
        assert_eq!(v.outcome, Outcome::Crash);
        assert_eq!(v.details.summary, "SIGSEGV in step `cycle 2: import`");
    }

    #[test]
    fn a_timeout_is_a_hang_in_the_last_step() {
        let hang = judge_cell(
            &facts(Scenario::SubinterpOwn),
            &Evidence::Ran(observation(
                vec![step("subinterp own: import")],
                Termination::TimedOut {
                    after_ms: 5000,
                    waited_ms: 0,
                },
            )),
        );
        assert_eq!(hang.outcome, Outcome::Hang);
        assert_eq!(
            hang.details.summary,
            "still in step `subinterp own: import` after 5s; process group killed"
        );
        assert_eq!(
            hang.details.step.unwrap().to_string(),
            "subinterp own: import"
        );
    }

    #[test]
    fn time_waiting_for_a_cpu_is_not_the_targets() {
        let judged = |after_ms, waited_ms| {
            judge_cell(
                &facts(Scenario::Reinit),
                &Evidence::Ran(observation(
                    vec![step("cycle 3: import")],
                    Termination::TimedOut {
                        after_ms,
                        waited_ms,
                    },
                )),
            )
        };
        // facts' timeout is 5 s: 5 s of its own, and 4 s waiting.
        let hang = judged(9000, 4000);
        assert_eq!(hang.outcome, Outcome::Hang);
        assert_eq!(
            hang.details.summary,
            "still in step `cycle 3: import` after 5s of its own (and 4.0s waiting for a CPU); process group killed"
        );
        // Ended by the limit on waiting, 4.9 s of its own: no hang.
        let starved = judged(15_000, 10_100);
        assert_eq!(starved.outcome, Outcome::HarnessError);
        assert_eq!(
            starved.details.summary,
            "in step `cycle 3: import` after 15.0s, only 4.9s of its own: it waited 10.1s for a CPU other processes held"
        );
        assert_eq!(starved.details.reason, Some(Reason::MachineBusy));
        assert_eq!(starved.details.step.unwrap().to_string(), "cycle 3: import");
        // A wait under a second is not worth a word.
        assert_eq!(
            judged(5999, 999).details.summary,
            "still in step `cycle 3: import` after 5s; process group killed"
        );
    }

    #[test]
    fn a_deadlock_is_a_hang_with_its_reason_and_every_threads_wait() {
        let waits = vec![
            "tid 7 (harness): futex wait, no timeout".to_owned(),
            "tid 8 (worker): futex wait, no timeout".to_owned(),
        ];
        let hang = judge_cell(
            &facts(Scenario::SubinterpOwn),
            &Evidence::Ran(observation(
                vec![step("subinterp own: import")],
                Termination::Deadlocked {
                    after_ms: 3400,
                    threads: waits.clone(),
                },
            )),
        );
        assert_eq!(hang.outcome, Outcome::Hang);
        assert_eq!(hang.details.reason, Some(Reason::Deadlock));
        assert_eq!(
            hang.details.summary,
            "deadlocked in step `subinterp own: import`: all 2 threads waiting on a lock with no timeout, no CPU used (after 3.4s); process group killed"
        );
        assert_eq!(hang.details.waits, waits);
        assert_eq!(
            hang.details.step.unwrap().to_string(),
            "subinterp own: import"
        );
    }

    #[test]
    fn a_hang_and_a_crash_keep_the_stacks_the_harness_sent() {
        let stacks = event(serde_json::json!({"ev": "forensics", "signal": "SIGRTMAX",
            "python": "Current thread 0x1 (most recent call first):\n  File \"<smoke>\", line 1",
            "c": "Thread 1:\n#0  0x1 in wait_forever () at hang.c:12\n#1  0x2 in exec_module ()\n"}));
        let hang = judge_cell(
            &facts(Scenario::SubinterpOwn),
            &Evidence::Ran(observation(
                vec![step("subinterp own: import"), stacks],
                Termination::TimedOut {
                    after_ms: 5000,
                    waited_ms: 0,
                },
            )),
        );
        assert_eq!(hang.outcome, Outcome::Hang);
        let f = hang.details.forensics.unwrap();
        assert_eq!(f.signal, "SIGRTMAX");
        assert_eq!(
            f.c_frames(),
            [
                "#0  0x1 in wait_forever () at hang.c:12",
                "#1  0x2 in exec_module ()"
            ]
        );
        assert!(f.python.contains("<smoke>"));
    }

    #[test]
    fn harness_failures_are_harness_errors() {
        let f = facts(Scenario::Import);
        let fatal = judge_cell(
            &f,
            &Evidence::Ran(observation(
                vec![Event::Fatal {
                    message: "Py_InitializeFromConfig failed".into(),
                }],
                exited(3),
            )),
        );
        assert_eq!(fatal.outcome, Outcome::HarnessError);
        assert_eq!(fatal.details.summary, "Py_InitializeFromConfig failed");
        assert_eq!(fatal.details.exit_code, Some(3));
        let status = judge_cell(&f, &Evidence::Ran(observation(vec![], exited(7))));
        assert_eq!(status.outcome, Outcome::HarnessError);
        assert_eq!(
            status.details.summary,
            "harness exited with status 7 in step `start`"
        );
        // A step of the harness's own (creating a subinterpreter) is not
        // the target's, whatever the status.
        let create = judge_cell(
            &f,
            &Evidence::Ran(observation(vec![step("subinterp own: create")], exited(3))),
        );
        assert_eq!(create.outcome, Outcome::HarnessError);
        let healthy = judge_cell(&f, &Evidence::Ran(observation(vec![done()], exited(0))));
        assert_eq!(healthy.outcome, Outcome::Pass);
        assert_eq!(healthy.details.exit_code, None);
    }

    #[test]
    fn an_exit_while_the_target_runs_is_the_targets_crash() {
        for (at, code) in [
            ("smoke", 0),
            ("subinterp own: import", 3),
            ("reimport: smoke old instance", 1),
        ] {
            let v = judge_cell(
                &facts(Scenario::Import),
                &Evidence::Ran(observation(vec![step("init"), step(at)], exited(code))),
            );
            assert_eq!(v.outcome, Outcome::Crash, "{at}");
            assert_eq!(
                v.details.summary,
                format!(
                    "the process exited with status {code} in step `{at}`, ended by the target"
                )
            );
            assert_eq!(v.details.reason, Some(Reason::EndedByTarget));
            assert_eq!(v.details.step.unwrap().to_string(), at);
        }
        let nothing = judge_cell(
            &facts(Scenario::Import),
            &Evidence::Ran(observation(vec![], exited(0))),
        );
        assert_eq!(nothing.outcome, Outcome::HarnessError);
        assert!(nothing.details.summary.contains("step `start`"));
        let finalize = judge_cell(
            &facts(Scenario::Import),
            &Evidence::Ran(observation(vec![step("finalize")], exited(0))),
        );
        assert_eq!(finalize.outcome, Outcome::HarnessError);
        assert_eq!(
            finalize.details.summary,
            "the process exited (status 0) in step `finalize` before the harness finished"
        );
    }

    #[test]
    fn py_fatal_error_is_named_with_the_crash() {
        let mut obs = observation(
            vec![step("cycle 2: import")],
            Termination::Signaled {
                signal: 6,
                name: "SIGABRT".into(),
            },
        );
        obs.stderr_tail = "noise\nFatal Python error: exec_twice: second exec\nPython runtime state: initialized\n".into();
        let v = judge_cell(&facts(Scenario::Reinit), &Evidence::Ran(obs.clone()));
        assert_eq!(v.outcome, Outcome::Crash);
        assert_eq!(
            v.details.summary,
            "SIGABRT in step `cycle 2: import`: Fatal Python error: exec_twice: second exec"
        );
        assert_eq!(
            v.details.fatal_error.as_deref(),
            Some("exec_twice: second exec")
        );
        assert_eq!(v.details.reason, Some(Reason::EndedByTarget));
        obs.stderr_tail = "double free or corruption (out)\n".into();
        let plain = judge_cell(&facts(Scenario::Reinit), &Evidence::Ran(obs));
        assert_eq!(plain.details.reason, None);
        assert_eq!(plain.details.fatal_error, None);
    }

    /// ThreadSanitizer stops the process at its first report (exit status
    /// 66): a crash in that step, in the report's words, whatever the step.
    #[test]
    fn a_sanitizer_report_is_a_crash_in_its_words() {
        let report = "==================\nWARNING: ThreadSanitizer: data race (pid=7)\n  Write of size 8 at 0x1 by thread T2:\n\
                      SUMMARY: ThreadSanitizer: data race fixture.c:31 in count_to\n==================\n";
        for at in ["smoke on threads", "init"] {
            let mut obs = observation(vec![step(at)], exited(66));
            obs.stderr_tail = report.into();
            let v = judge_cell(&free_threaded(Scenario::FreeThreading), &Evidence::Ran(obs));
            assert_eq!(v.outcome, Outcome::Crash, "{at}");
            assert_eq!(v.details.reason, Some(Reason::Sanitizer));
            assert_eq!(
                v.details.summary,
                format!("ThreadSanitizer: data race fixture.c:31 in count_to, in step `{at}`")
            );
        }
        assert_eq!(
            super::sanitizer_summary("SUMMARY: 3 tests failed\n"),
            None,
            "not a sanitizer's"
        );
        assert_eq!(
            super::sanitizer_summary(
                "SUMMARY: AddressSanitizer: heap-use-after-free a.c:3 in f \n"
            ),
            Some("AddressSanitizer: heap-use-after-free a.c:3 in f")
        );
    }
}
