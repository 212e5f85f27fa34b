//! Hand-made cells and expectations for the crate's tests.

use extmatrix_core::expect::{CellPattern, Expectation};
use extmatrix_core::{Outcome, Scenario};
use extmatrix_schema::{CellKey, CellResult, Details};

/// A cell of target `target` whose module is named like the target (a
/// `c` target's).
pub fn cell(target: &str, python: &str, scenario: Scenario, outcome: Outcome) -> CellResult {
    CellResult::new(
        CellKey {
            target: target.into(),
            module: target.into(),
            python: python.into(),
            scenario,
        },
        outcome,
        1,
        Details::default(),
    )
}

pub fn expectation(target: &str, pattern: &str, outcomes: &[Outcome], origin: &str) -> Expectation {
    Expectation {
        target: target.into(),
        cells: CellPattern::parse(pattern).unwrap(),
        outcomes: outcomes.to_vec(),
        origin: origin.into(),
    }
}
