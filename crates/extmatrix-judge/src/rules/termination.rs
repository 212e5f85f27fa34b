//! How the harness process ended: `crash` (a signal), `hang` (the timeout,
//! the process group killed), `harness-error` (the harness failed, exited
//! with a status, or stopped before `done` — e.g. the target called exit()).

use crate::{CellFacts, Finding};
use extmatrix_core::Outcome;
use extmatrix_protocol::{Event, Observation, Termination};
use extmatrix_schema::Details;

pub fn findings(facts: &CellFacts, obs: &Observation, details: &mut Details) -> Option<Finding> {
    let step = obs.last_step();
    let at = step.map_or_else(|| "start".to_owned(), |s| s.to_string());
    match &obs.termination {
        Termination::Signaled { name, .. } => {
            details.signal = Some(name.clone());
            details.step = step;
            Some(Finding::new(
                Outcome::Crash,
                format!("{name} in step `{at}`"),
            ))
        }
        Termination::TimedOut { .. } => {
            details.step = step;
            Some(Finding::new(
                Outcome::Hang,
                format!(
                    "still in step `{at}` after {}s; process group killed",
                    facts.timeout.as_secs()
                ),
            ))
        }
        Termination::Exited { code } => {
            if *code != 0 {
                details.exit_code = Some(*code);
            }
            exited(obs, *code, details, step.is_some().then_some(at))
        }
    }
}

fn exited(
    obs: &Observation,
    code: i32,
    details: &mut Details,
    at: Option<String>,
) -> Option<Finding> {
    let fatal = obs.events.iter().rev().find_map(|e| match e {
        Event::Fatal { message } => Some(message.clone()),
        _ => None,
    });
    if let Some(message) = fatal {
        return Some(Finding::new(Outcome::HarnessError, message));
    }
    if code != 0 {
        return Some(Finding::new(
            Outcome::HarnessError,
            format!("harness exited with status {code}"),
        ));
    }
    if obs.reported_done() {
        return None;
    }
    details.step = obs.last_step();
    Some(Finding::new(
        Outcome::HarnessError,
        format!(
            "the process exited (status 0) in step `{}` before the harness finished; did the target call exit()?",
            at.as_deref().unwrap_or("start")
        ),
    ))
}

#[cfg(test)]
mod tests {
    use crate::testing::*;
    use crate::{judge_cell, Evidence};
    use extmatrix_core::{Outcome, Scenario};
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
                Termination::TimedOut { after_ms: 5000 },
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
        assert_eq!(status.details.summary, "harness exited with status 7");
        let healthy = judge_cell(&f, &Evidence::Ran(observation(vec![done()], exited(0))));
        assert_eq!(healthy.outcome, Outcome::Pass);
        assert_eq!(healthy.details.exit_code, None);
    }

    #[test]
    fn a_silent_exit_before_done_is_a_harness_error_naming_the_step() {
        let v = judge_cell(
            &facts(Scenario::Import),
            &Evidence::Ran(observation(vec![step("smoke")], exited(0))),
        );
        assert_eq!(v.outcome, Outcome::HarnessError);
        assert!(
            v.details.summary.contains("step `smoke`"),
            "{}",
            v.details.summary
        );
        assert_eq!(v.details.step.unwrap().to_string(), "smoke");
        let nothing = judge_cell(
            &facts(Scenario::Import),
            &Evidence::Ran(observation(vec![], exited(0))),
        );
        assert!(nothing.details.summary.contains("step `start`"));
    }
}
