//! Repeated runs (`repeat`): a race fails a stress cell only sometimes, so
//! a cell may run N times. The cell is its worst run — the most severe
//! outcome, the first among equals, whose evidence explains it — and says
//! how many of the N failed: "failed 1 of 3 runs" is a flake to fix, not a
//! pass.

use crate::{judge_cell, CellFacts, Finding};
use extmatrix_core::Outcome;
use extmatrix_protocol::Observation;
use extmatrix_schema::{Details, Repeat};

/// Of several runs of one cell, the one with the most severe outcome,
/// carrying every run's outcome (`Observation::repeats`) and every run's
/// earlier attempts (`Observation::retries`). One run comes back as it is.
///
/// # Panics
/// When `runs` is empty: a cell that ran ran at least once.
pub fn worst_run(facts: &CellFacts, runs: Vec<Observation>) -> Observation {
    assert!(!runs.is_empty(), "a repeated cell ran at least once");
    if runs.len() == 1 {
        return runs.into_iter().next().unwrap_or_else(|| unreachable!());
    }
    let outcomes: Vec<Outcome> = runs
        .iter()
        .map(|obs| judge_cell(facts, &crate::Evidence::Ran(obs.clone())).outcome)
        .collect();
    let worst = worst_of(&outcomes);
    // Every run's earlier attempts, in order, each naming its run: nothing
    // made again is lost.
    let retries = (1..)
        .zip(&runs)
        .flat_map(|(run, obs)| {
            obs.retries
                .iter()
                .map(move |a| extmatrix_protocol::Attempt {
                    run: Some(run),
                    ..a.clone()
                })
        })
        .collect();
    let mut chosen = runs
        .into_iter()
        .nth(worst)
        .unwrap_or_else(|| unreachable!());
    chosen.repeats = outcomes;
    chosen.retries = retries;
    chosen
}

/// The run a repeated cell is: the most severe outcome, the first among
/// equals, but a run the harness itself broke only when every run was
/// broken — it says nothing of the module, and must not hide a crash.
fn worst_of(outcomes: &[Outcome]) -> usize {
    let rank = |o: Outcome| (o != Outcome::HarnessError, o);
    (0..outcomes.len())
        .reduce(|w, i| {
            if rank(outcomes[i]) > rank(outcomes[w]) {
                i
            } else {
                w
            }
        })
        .unwrap_or(0)
}

/// The runs into the details, and how many failed into the summary.
pub fn note(obs: &Observation, verdict: &mut Finding, details: &mut Details) {
    if obs.repeats.len() < 2 {
        return;
    }
    let runs = obs.repeats.len() as u32;
    // The run judged here is judged with its baseline, control and alone
    // run, which each run's own outcome was not: its verdict is its count.
    let mut outcomes = obs.repeats.clone();
    outcomes[worst_of(&obs.repeats)] = verdict.outcome;
    let failed = outcomes.iter().filter(|o| o.is_finding()).count() as u32;
    verdict.summary = match failed {
        0 => format!("{} ({runs} runs, none failed)", verdict.summary),
        k => format!("{} (failed {k} of {runs} runs)", verdict.summary),
    };
    details.repeat = Some(Repeat {
        runs,
        failed,
        outcomes,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;
    use crate::Evidence;
    use extmatrix_core::Scenario;
    use extmatrix_protocol::Termination;

    fn passed() -> Observation {
        observation(
            vec![step("subinterp own 1: in parallel"), done()],
            exited(0),
        )
    }

    fn crashed_in(at: &str) -> Observation {
        observation(
            vec![step(at)],
            Termination::Signaled {
                signal: 11,
                name: "SIGSEGV".into(),
            },
        )
    }

    #[test]
    fn the_worst_run_is_the_cell_and_says_how_many_failed() {
        let f = facts(Scenario::SubinterpParallel);
        let runs = vec![
            passed(),
            crashed_in("subinterp own 2: in parallel"),
            passed(),
            crashed_in("subinterp own 3: in parallel"),
            passed(),
        ];
        let worst = worst_run(&f, runs);
        let v = judge_cell(&f, &Evidence::Ran(worst));
        assert_eq!(v.outcome, Outcome::Crash);
        assert_eq!(
            v.details.step.map(|s| s.to_string()).as_deref(),
            Some("subinterp own 2: in parallel"),
            "the first of the worst runs"
        );
        assert!(
            v.details.summary.ends_with("(failed 2 of 5 runs)"),
            "{}",
            v.details.summary
        );
        let repeat = v.details.repeat.expect("the runs are in the details");
        assert_eq!((repeat.runs, repeat.failed), (5, 2));
        assert_eq!(
            repeat.outcomes,
            [
                Outcome::Pass,
                Outcome::Crash,
                Outcome::Pass,
                Outcome::Crash,
                Outcome::Pass
            ]
        );
    }

    #[test]
    fn a_cell_whose_runs_all_pass_says_so_and_one_run_says_nothing() {
        let f = facts(Scenario::FreeThreading);
        let v = judge_cell(&f, &Evidence::Ran(worst_run(&f, vec![passed(), passed()])));
        assert_eq!(v.outcome, Outcome::Pass);
        assert!(v.details.summary.ends_with("(2 runs, none failed)"));
        assert_eq!(v.details.repeat.map(|r| r.failed), Some(0));

        let once = worst_run(&f, vec![passed()]);
        assert!(once.repeats.is_empty());
        let v = judge_cell(&f, &Evidence::Ran(once));
        assert_eq!(v.details.repeat, None);
        assert!(!v.details.summary.contains("runs"));
    }

    #[test]
    fn refused_runs_are_not_failed_runs() {
        let f = facts(Scenario::SubinterpParallel);
        let refused = || {
            observation(
                vec![
                    event(serde_json::json!({"ev": "declared", "init": "single-phase"})),
                    step("subinterp own 1: in parallel"),
                    error_event(
                        "subinterp own 1: import",
                        "import",
                        "ImportError",
                        "module m does not support loading in subinterpreters",
                    ),
                    done(),
                ],
                exited(0),
            )
        };
        let v = judge_cell(
            &f,
            &Evidence::Ran(worst_run(&f, vec![refused(), refused()])),
        );
        assert_eq!(v.outcome, Outcome::Refused);
        assert_eq!(v.details.repeat.map(|r| (r.runs, r.failed)), Some((2, 0)));
    }

    #[test]
    fn a_broken_harness_run_does_not_hide_a_crash_nor_a_verdict_the_count() {
        use Outcome::*;
        assert_eq!(worst_of(&[Pass, HarnessError, Crash, Crash]), 2);
        assert_eq!(worst_of(&[HarnessError, HarnessError]), 0);
        assert_eq!(worst_of(&[Pass, ImportError, Pass]), 1);
        // A leak only its baseline shows: the judged run counts as failed.
        let mut obs = passed();
        obs.repeats = vec![Pass, Pass, Pass];
        let mut verdict = Finding::new(Leak, "leaks");
        let mut details = Details::default();
        note(&obs, &mut verdict, &mut details);
        assert_eq!(verdict.summary, "leaks (failed 1 of 3 runs)");
        assert_eq!(details.repeat.unwrap().outcomes, [Leak, Pass, Pass]);
    }

    #[test]
    fn every_runs_earlier_attempts_stay_with_the_cell() {
        let f = facts(Scenario::SubinterpParallel);
        let broke = |message: &str| {
            let mut o = observation(
                vec![
                    step("subinterp own 1: in parallel"),
                    event(serde_json::json!({"ev": "fatal", "message": message})),
                ],
                exited(3),
            );
            o.retries.clear();
            extmatrix_protocol::Attempt::of(&o)
        };
        let mut first = passed();
        first.retries = vec![broke("one")];
        let mut third = crashed_in("subinterp own 2: in parallel");
        third.retries = vec![broke("two"), broke("three")];
        let worst = worst_run(&f, vec![first, passed(), third]);
        let fatal: Vec<_> = worst
            .retries
            .iter()
            .map(|a| (a.run, a.fatal.as_deref()))
            .collect();
        assert_eq!(
            fatal,
            [
                (Some(1), Some("one")),
                (Some(3), Some("two")),
                (Some(3), Some("three"))
            ]
        );
        assert!(worst.retries.iter().all(|a| a.termination == exited(3)));
    }
}
