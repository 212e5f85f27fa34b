//! Holding cells to their expectations.
//!
//! A cell matched by expectations of its target is held to all their
//! outcomes together: it meets them with any of them, it is `fixed` when
//! it does better than every one of them (what was expected to fail now
//! works), and `unexpected` otherwise. Better and worse are the outcomes'
//! order (docs/outcomes.md, most to least severe from the bottom).

use extmatrix_core::expect::Expectation;
use extmatrix_core::Outcome;
use extmatrix_schema::{CellResult, ExpectationCheck, ExpectationStatus};

/// Set each cell's `expectation` from the expectations that match it (their
/// outcomes together: a cell meets them when its outcome is any of them).
pub fn apply_expectations(cells: &mut [CellResult], expectations: &[Expectation]) {
    for cell in cells {
        cell.expectation = check(cell, expectations);
    }
}

/// The check of `cell` against the expectations of its target that match
/// it; none match: no check.
fn check(cell: &CellResult, expectations: &[Expectation]) -> Option<ExpectationCheck> {
    let key = &cell.key;
    let matching: Vec<&Expectation> = expectations
        .iter()
        .filter(|e| {
            e.target == key.target && e.cells.matches(&key.module, &key.python, key.scenario.id())
        })
        .collect();
    let mut expected: Vec<Outcome> = matching
        .iter()
        .flat_map(|e| e.outcomes.iter().copied())
        .collect();
    // A scenario the interpreter cannot run is not the module's doing: a
    // pattern over interpreters (`subinterp-*`) meets an `n/a` cell on 3.11
    // and says nothing of it — it is no fix, nor unexpected — unless it
    // names `n/a` itself.
    if matching.is_empty()
        || (cell.outcome == Outcome::NotApplicable && !expected.contains(&cell.outcome))
    {
        return None;
    }
    expected.sort();
    expected.dedup();
    Some(ExpectationCheck {
        status: status_of(cell.outcome, &expected),
        expected,
        from: matching.iter().map(|e| e.origin.clone()).collect(),
    })
}

/// How `outcome` stands against the outcomes `expected` of it.
fn status_of(outcome: Outcome, expected: &[Outcome]) -> ExpectationStatus {
    if expected.iter().all(|e| outcome < *e) {
        ExpectationStatus::Fixed
    } else if expected.contains(&outcome) {
        ExpectationStatus::Met
    } else {
        ExpectationStatus::Unexpected
    }
}

/// The expectations with a module part that matched no module of their
/// target in `cells` — a typo the plan could not see, since modules are
/// known only once built. A target without cells (left out by `--target`)
/// says nothing about its modules.
pub fn unmatched_modules<'e>(
    cells: &[CellResult],
    expectations: &'e [Expectation],
) -> Vec<&'e Expectation> {
    expectations
        .iter()
        .filter(|e| e.cells.module.is_some())
        .filter(|e| {
            let mut of_target = cells.iter().filter(|c| c.key.target == e.target).peekable();
            of_target.peek().is_some() && !of_target.any(|c| e.cells.matches_module(&c.key.module))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{cell, expectation};
    use extmatrix_core::Scenario;

    fn checked(outcome: Outcome, expectations: &[Expectation]) -> Option<ExpectationCheck> {
        let mut cells = [cell("t", "cp312", Scenario::Reinit, outcome)];
        apply_expectations(&mut cells, expectations);
        cells[0].expectation.clone()
    }

    #[test]
    fn an_expected_outcome_is_met_and_does_not_fail_the_run() {
        let e = [expectation(
            "t",
            "*/reinit",
            &[Outcome::Crash],
            "e.yaml:1:2",
        )];
        let mut cells = [cell("t", "cp312", Scenario::Reinit, Outcome::Crash)];
        apply_expectations(&mut cells, &e);
        let check = cells[0].expectation.clone().unwrap();
        assert_eq!(check.status, ExpectationStatus::Met);
        assert_eq!(check.expected, [Outcome::Crash]);
        assert_eq!(check.from, ["e.yaml:1:2"]);
        assert!(!cells[0].fails_run());
    }

    #[test]
    fn better_than_every_expected_outcome_is_fixed_else_unexpected() {
        let e = [expectation(
            "t",
            "reinit",
            &[Outcome::Crash, Outcome::ImportError],
            "a",
        )];
        let status = |o| checked(o, &e).unwrap().status;
        assert_eq!(status(Outcome::Pass), ExpectationStatus::Fixed);
        assert_eq!(status(Outcome::SharedState), ExpectationStatus::Fixed);
        assert_eq!(status(Outcome::ImportError), ExpectationStatus::Met);
        assert_eq!(status(Outcome::Crash), ExpectationStatus::Met);
        assert_eq!(status(Outcome::Hang), ExpectationStatus::Unexpected);
        // Better than one expected outcome, worse than the other: not fixed.
        let e = [expectation(
            "t",
            "reinit",
            &[Outcome::Pass, Outcome::Crash],
            "a",
        )];
        assert_eq!(
            checked(Outcome::Leak, &e).unwrap().status,
            ExpectationStatus::Unexpected
        );
        let e = [expectation("t", "reinit", &[Outcome::Leak], "a")];
        let check = checked(Outcome::Crash, &e).unwrap();
        assert_eq!(check.status, ExpectationStatus::Unexpected);
    }

    #[test]
    fn every_matching_pattern_adds_its_outcomes_in_severity_order_once() {
        let e = [
            expectation("t", "cp312/*", &[Outcome::Crash, Outcome::Refused], "a:1:1"),
            expectation("t", "*/reinit", &[Outcome::Refused], "a:2:1"),
            expectation("t", "*/import", &[Outcome::Hang], "a:3:1"),
            expectation("other", "*/reinit", &[Outcome::Hang], "a:4:1"),
        ];
        let check = checked(Outcome::Refused, &e).unwrap();
        assert_eq!(check.expected, [Outcome::Refused, Outcome::Crash]);
        assert_eq!(check.from, ["a:1:1", "a:2:1"]);
        assert_eq!(check.status, ExpectationStatus::Met);
    }

    #[test]
    fn an_n_a_cell_is_held_only_to_a_pattern_naming_n_a() {
        let crash = [expectation("t", "*/*", &[Outcome::Crash], "e.yaml:1:1")];
        assert_eq!(checked(Outcome::NotApplicable, &crash), None);
        let either = [expectation(
            "t",
            "*/*",
            &[Outcome::Crash, Outcome::NotApplicable],
            "e.yaml:2:1",
        )];
        let check = checked(Outcome::NotApplicable, &either).unwrap();
        assert_eq!(check.status, ExpectationStatus::Met);
        let pass = [expectation("t", "*/*", &[Outcome::Pass], "e.yaml:3:1")];
        assert_eq!(
            checked(Outcome::Refused, &pass).unwrap().status,
            ExpectationStatus::Unexpected
        );
    }

    #[test]
    fn a_cell_no_pattern_matches_gets_no_check() {
        let e = [
            expectation("t", "cp313/reinit", &[Outcome::Crash], "a"),
            expectation("other", "reinit", &[Outcome::Crash], "a"),
            expectation("t", "other_module/*/reinit", &[Outcome::Crash], "a"),
        ];
        assert_eq!(checked(Outcome::Crash, &e), None);
        assert_eq!(checked(Outcome::Crash, &[]), None);
    }

    #[test]
    fn a_module_part_matching_no_module_of_its_target_is_said() {
        let cells = [
            cell("t", "cp312", Scenario::Reinit, Outcome::Pass),
            cell("u", "cp312", Scenario::Reinit, Outcome::Pass),
        ];
        let e = [
            expectation("t", "t/*/reinit", &[Outcome::Crash], "a:1:1"),
            expectation("t", "t?/*/reinit", &[Outcome::Crash], "a:2:1"),
            expectation("t", "*/reinit", &[Outcome::Crash], "a:3:1"),
            // Its target did not run (--target): nothing to say.
            expectation("gone", "x/*/*", &[Outcome::Crash], "a:4:1"),
        ];
        let unmatched: Vec<&str> = unmatched_modules(&cells, &e)
            .iter()
            .map(|e| e.origin.as_str())
            .collect();
        assert_eq!(unmatched, ["a:2:1"]);
    }
}
