//! `n/a` reported by the harness itself: it was compiled for a build that
//! lacks what the scenario needs. (The engine gates cells before running
//! them with the same `Requirement`; this covers a harness run by hand or a
//! gate that disagrees with the build.)

use crate::Finding;
use extmatrix_core::Outcome;
use extmatrix_protocol::{Event, Observation};

pub fn findings(obs: &Observation) -> Vec<Finding> {
    obs.events
        .iter()
        .filter_map(|e| match e {
            Event::Unsupported { needs } => {
                Some(Finding::new(Outcome::NotApplicable, needs.reason()))
            }
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::testing::*;
    use crate::{judge_cell, Evidence};
    use extmatrix_core::{Outcome, Requirement, Scenario};

    #[test]
    fn the_harness_saying_unsupported_is_not_applicable_with_core_wording() {
        let obs = observation(
            vec![
                event(serde_json::json!({"ev": "unsupported", "needs": "free-threaded-build"})),
                done(),
            ],
            exited(0),
        );
        let v = judge_cell(&facts(Scenario::FreeThreading), &Evidence::Ran(obs));
        assert_eq!(v.outcome, Outcome::NotApplicable);
        assert_eq!(v.details.summary, Requirement::FreeThreadedBuild.reason());
    }
}
