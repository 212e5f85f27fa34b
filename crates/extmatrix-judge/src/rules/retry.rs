//! Which runs are made again: a run that tells nothing of its target. The
//! interpreter hung or died before any step that runs the target (a
//! free-threaded 3.13 build can starve in its own start-up on a busy
//! machine, past even the limit on waiting for a CPU), or the
//! harness failed on its own — its `fatal` event (CPython refusing to make
//! an interpreter, a thread that would not start), or an exit in a step
//! that does not run the target. One such run must not blame a correct
//! module, nor count as one of a stress cell's failed runs; the engine
//! makes the run again, up to its attempts, and keeps each earlier attempt
//! in the details. A run whose streams passed their caps is not made
//! again: the cell's own output did that, and would again. Nor is a run
//! the machine starved until the runner's limit on waiting for a CPU
//! ended it (`machine-busy`): the same load would starve it again, at
//! three timeouts a try.

use super::termination::{harness_failed, machine_busy};
use crate::Finding;
use extmatrix_protocol::Observation;
use std::time::Duration;

/// Whether a run of a cell with this `timeout` told nothing of its target
/// and is worth making again.
pub fn says_nothing_of_the_target(obs: &Observation, timeout: Duration) -> bool {
    let s = &obs.streams;
    let cut = s.channel_cut || s.stdout_cut || s.stderr_cut;
    !cut && !machine_busy(obs, timeout) && (obs.failed_before_target() || harness_failed(obs))
}

/// A cell that does not fail but got there on a later attempt says so in
/// its summary: the earlier attempts told nothing of the target, yet they
/// happened, and a module can be what made them end early.
pub fn note(obs: &Observation, verdict: &mut Finding) {
    let n = obs.retries.len();
    if n == 0 || verdict.outcome.is_finding() {
        return;
    }
    let attempts = if n == 1 { "attempt" } else { "attempts" };
    verdict.summary.push_str(&format!(
        " (after {n} {attempts} that told nothing of the target: details.retries)"
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;
    use extmatrix_protocol::Termination;
    use serde_json::json;

    /// With `testing::facts`'s timeout.
    fn says_nothing_of_the_target_in_5s(obs: &Observation) -> bool {
        says_nothing_of_the_target(obs, Duration::from_secs(5))
    }

    fn fatal(message: &str) -> extmatrix_protocol::Event {
        event(json!({"ev": "fatal", "message": message}))
    }

    #[test]
    fn the_harness_failing_on_its_own_is_made_again() {
        let refused = observation(
            vec![
                step("import"),
                step("subinterp own 1: in parallel"),
                fatal("could not create the own-GIL interpreter of worker 2"),
            ],
            exited(3),
        );
        assert!(says_nothing_of_the_target_in_5s(&refused));
        // Status 0 without `done`, in a step that does not run the target.
        let early = observation(vec![step("import"), step("finalize")], exited(0));
        assert!(says_nothing_of_the_target_in_5s(&early));
        let hung_in_init = observation(
            vec![step("init")],
            Termination::TimedOut {
                after_ms: 10_000,
                waited_ms: 0,
            },
        );
        assert!(says_nothing_of_the_target_in_5s(&hung_in_init));
    }

    #[test]
    fn a_run_the_machine_starved_is_not_made_again() {
        let ended_by = |after_ms, waited_ms| {
            observation(
                vec![step("init")],
                Termination::TimedOut {
                    after_ms,
                    waited_ms,
                },
            )
        };
        // 15 s, 4.9 of its own: the limit on waiting ended it.
        assert!(!says_nothing_of_the_target_in_5s(&ended_by(15_000, 10_100)));
        // 9 s, 5 of its own: its timeout did, before the target ran.
        assert!(says_nothing_of_the_target_in_5s(&ended_by(9_000, 4_000)));
    }

    #[test]
    fn what_the_target_can_have_done_is_kept() {
        let passed = observation(vec![step("import"), done()], exited(0));
        assert!(!says_nothing_of_the_target_in_5s(&passed));
        let exited_importing = observation(vec![step("init"), step("import")], exited(3));
        assert!(!says_nothing_of_the_target_in_5s(&exited_importing));
        let crashed = observation(
            vec![step("init"), step("import")],
            Termination::Signaled {
                signal: 11,
                name: "SIGSEGV".into(),
            },
        );
        assert!(!says_nothing_of_the_target_in_5s(&crashed));
        let sanitized = {
            let mut o = observation(vec![step("init"), step("finalize")], exited(66));
            o.stderr_tail = "SUMMARY: ThreadSanitizer: data race f.c:1 in g\n".into();
            o
        };
        assert!(!says_nothing_of_the_target_in_5s(&sanitized));
    }

    #[test]
    fn a_cell_that_passes_on_a_later_attempt_says_so() {
        use crate::{judge_cell, Evidence};
        use extmatrix_core::{Outcome, Scenario};
        let broke = observation(
            vec![step("import"), fatal("could not start worker 2 of 4")],
            exited(3),
        );
        let mut passed = observation(vec![step("import"), done()], exited(0));
        passed.retries = vec![extmatrix_protocol::Attempt::of(&broke)];
        let v = judge_cell(&facts(Scenario::Import), &Evidence::Ran(passed.clone()));
        assert_eq!(v.outcome, Outcome::Pass);
        assert!(
            v.details
                .summary
                .ends_with(" (after 1 attempt that told nothing of the target: details.retries)"),
            "{}",
            v.details.summary
        );
        passed.retries.push(extmatrix_protocol::Attempt::of(&broke));
        let twice = judge_cell(&facts(Scenario::Import), &Evidence::Ran(passed));
        assert!(
            twice.details.summary.contains("after 2 attempts"),
            "{}",
            twice.details.summary
        );
        // A failure says what failed; its attempts are in the details.
        let mut failed = observation(vec![step("init"), step("import")], exited(3));
        failed.retries = vec![extmatrix_protocol::Attempt::of(&broke)];
        let v = judge_cell(&facts(Scenario::Import), &Evidence::Ran(failed));
        assert_eq!(v.outcome, Outcome::Crash);
        assert!(
            !v.details.summary.contains("told nothing"),
            "{}",
            v.details.summary
        );
    }

    #[test]
    fn a_stream_past_its_cap_is_the_cells_doing_and_kept() {
        let mut flooded = observation(
            vec![step("import"), fatal("out of memory copying the arguments")],
            exited(3),
        );
        for cut in [
            |o: &mut Observation| o.streams.channel_cut = true,
            |o: &mut Observation| o.streams.stdout_cut = true,
            |o: &mut Observation| o.streams.stderr_cut = true,
        ] {
            let mut o = flooded.clone();
            cut(&mut o);
            assert!(!says_nothing_of_the_target_in_5s(&o));
        }
        flooded.streams = Default::default();
        assert!(says_nothing_of_the_target_in_5s(&flooded));
    }
}
