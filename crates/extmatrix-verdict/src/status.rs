//! The run's exit status by its policy (`--fail-on`, `--strict`), and why,
//! one counted line per reason naming a few cells.
//!
//! - `failure` (the default): a cell that fails the run
//!   (`CellResult::fails_run`: a failing outcome no expectation allows, or
//!   an unexpected outcome where expectations were written), an
//!   expectation whose module part matched no module, and with `--strict`
//!   a cell that does better than expected.
//! - `regression`: only what got worse than the baseline — a cell
//!   `regressed`, a `new` cell that fails the run — and `--strict`'s cells.
//! - `never`: nothing.

use crate::expect::unmatched_modules;
use crate::Policy;
use extmatrix_schema::{CellResult, Change, ExpectationStatus, FailOn, Report, RunStatus};

/// How many cells a reason names before "and N more".
const NAMED: usize = 3;

/// Whether the run fails (exit 1) and why.
pub fn status(report: &Report, policy: &Policy) -> RunStatus {
    let because = match policy.fail_on {
        FailOn::Failure => failures(report, policy),
        FailOn::Regression => regressions(report, policy),
        FailOn::Never => Vec::new(),
    };
    RunStatus {
        fail_on: policy.fail_on,
        strict: policy.strict,
        exit_code: i32::from(!because.is_empty()),
        because,
    }
}

/// `--fail-on failure`'s reasons.
fn failures(report: &Report, policy: &Policy) -> Vec<String> {
    let mut because = Vec::new();
    let failed: Vec<&CellResult> = report.cells.iter().filter(|c| c.fails_run()).collect();
    because.extend(counted(&failed, "cell fails the run", "cells fail the run"));
    because.extend(strictly_fixed(report, policy));
    for e in unmatched_modules(&report.cells, &policy.expectations) {
        because.push(format!(
            "{}: `{}` of target `{}` matched no module it built",
            e.origin, e.cells, e.target
        ));
    }
    because
}

/// `--fail-on regression`'s reasons: the cells
/// `CellResult::fails_under` fails (the one rule JUnit and the summary
/// read too), by why.
fn regressions(report: &Report, policy: &Policy) -> Vec<String> {
    let change_is =
        |c: &CellResult, change: Change| c.change.as_ref().map(|c| c.change) == Some(change);
    let regressed: Vec<&CellResult> = report
        .cells
        .iter()
        .filter(|c| change_is(c, Change::Regressed) && c.fails_under(FailOn::Regression, false))
        .collect();
    let new_failures: Vec<&CellResult> = report
        .cells
        .iter()
        .filter(|c| change_is(c, Change::New) && c.fails_under(FailOn::Regression, false))
        .collect();
    let since = report
        .comparison
        .as_ref()
        .map_or_else(String::new, |c| format!(" since {}", c.baseline));
    let mut because = Vec::new();
    because.extend(counted(
        &regressed,
        &format!("cell regressed{since}"),
        &format!("cells regressed{since}"),
    ));
    because.extend(counted(
        &new_failures,
        "new cell fails (not in the baseline)",
        "new cells fail (not in the baseline)",
    ));
    because.extend(strictly_fixed(report, policy));
    because
}

/// With `--strict`: the cells expected to fail that do better now.
fn strictly_fixed(report: &Report, policy: &Policy) -> Option<String> {
    if !policy.strict {
        return None;
    }
    let fixed: Vec<&CellResult> = report
        .cells
        .iter()
        .filter(|c| c.expectation.as_ref().map(|e| e.status) == Some(ExpectationStatus::Fixed))
        .collect();
    counted(
        &fixed,
        "expected failure now passes (--strict)",
        "expected failures now pass (--strict)",
    )
}

/// "N {what}: a few cells, and M more", or nothing for no cells.
fn counted(cells: &[&CellResult], one: &str, many: &str) -> Option<String> {
    let what = match cells.len() {
        0 => return None,
        1 => one,
        _ => many,
    };
    let mut named: Vec<String> = cells.iter().take(NAMED).map(|c| cell_name(c)).collect();
    if cells.len() > NAMED {
        named.push(format!("and {} more", cells.len() - NAMED));
    }
    Some(format!("{} {what}: {}", cells.len(), named.join("; ")))
}

/// `target python/scenario: outcome`, with the module when the target is
/// not named after it, what was expected and what it was before.
fn cell_name(c: &CellResult) -> String {
    let k = &c.key;
    let row = if k.module == k.target {
        k.target.clone()
    } else {
        format!("{}/{}", k.target, k.module)
    };
    let mut name = format!("{row} {}/{}: {}", k.python, k.scenario, c.outcome);
    if let Some(e) = &c.expectation {
        let expected: Vec<&str> = e.expected.iter().map(|o| o.id()).collect();
        name.push_str(&format!(", expected {}", expected.join(" or ")));
    }
    if let Some(was) = c.change.as_ref().and_then(|c| c.was) {
        if was != c.outcome {
            name.push_str(&format!(", was {was}"));
        }
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{cell, expectation};
    use crate::{apply_expectations, compare};
    use extmatrix_core::expect::Expectation;
    use extmatrix_core::{Outcome, Reason, Scenario};

    fn report(cells: Vec<CellResult>) -> Report {
        Report::new("m.yaml".into(), vec![], cells, 0)
    }

    fn policy(fail_on: FailOn, strict: bool, expectations: Vec<Expectation>) -> Policy {
        Policy {
            expectations,
            baseline: None,
            fail_on,
            strict,
        }
    }

    /// `report` concluded by `policy` without findings, compared with
    /// `baseline` when given.
    fn concluded(mut report: Report, policy: &Policy, baseline: Option<&Report>) -> RunStatus {
        apply_expectations(&mut report.cells, &policy.expectations);
        if let Some(baseline) = baseline {
            report.comparison = Some(compare(&mut report, "baseline.json", baseline));
        }
        status(&report, policy)
    }

    #[test]
    fn failure_fails_on_a_failing_cell_and_counts_them() {
        let cells = vec![
            cell("t", "cp312", Scenario::Reinit, Outcome::Crash),
            cell("t", "cp312", Scenario::Import, Outcome::Pass),
            cell("t", "cp313", Scenario::Reinit, Outcome::Hang),
            cell("u", "cp313", Scenario::Reinit, Outcome::ImportError),
            cell("u", "cp312", Scenario::Reinit, Outcome::BuildFailed),
        ];
        let s = concluded(report(cells), &policy(FailOn::Failure, false, vec![]), None);
        assert_eq!(s.exit_code, 1);
        assert_eq!(
            s.because,
            [
                "4 cells fail the run: t cp312/reinit: crash; t cp313/reinit: hang; \
              u cp313/reinit: import-error; and 1 more"
            ]
        );
        let three = vec![
            cell("t", "cp312", Scenario::Reinit, Outcome::Crash),
            cell("t", "cp313", Scenario::Reinit, Outcome::Hang),
            cell("u", "cp313", Scenario::Reinit, Outcome::ImportError),
        ];
        let s = concluded(report(three), &policy(FailOn::Failure, false, vec![]), None);
        assert!(
            s.because[0].ends_with("u cp313/reinit: import-error"),
            "all three named, no \"and 0 more\": {:?}",
            s.because
        );
        let passing = vec![
            cell("t", "cp312", Scenario::Import, Outcome::Pass),
            cell("t", "cp312", Scenario::Reimport, Outcome::SharedState),
        ];
        let s = concluded(
            report(passing),
            &policy(FailOn::Failure, false, vec![]),
            None,
        );
        assert_eq!((s.exit_code, s.because.len()), (0, 0));
    }

    #[test]
    fn met_expectations_pass_the_run_and_unexpected_ones_fail_it() {
        let e = vec![
            expectation("t", "reinit", &[Outcome::Crash], "e:1:1"),
            expectation("t", "reimport", &[Outcome::Refused], "e:2:1"),
        ];
        let met = vec![cell("t", "cp312", Scenario::Reinit, Outcome::Crash)];
        let s = concluded(
            report(met),
            &policy(FailOn::Failure, false, e.clone()),
            None,
        );
        assert_eq!(s.exit_code, 0, "{:?}", s.because);
        // Shared state fails no run, but it is not the refusal expected.
        let unexpected = vec![cell("t", "cp312", Scenario::Reimport, Outcome::SharedState)];
        let s = concluded(report(unexpected), &policy(FailOn::Failure, false, e), None);
        assert_eq!(s.exit_code, 1);
        assert_eq!(
            s.because,
            ["1 cell fails the run: t cp312/reimport: shared-state, expected refused"]
        );
    }

    #[test]
    fn strict_fails_on_an_expected_failure_that_now_passes() {
        let e = vec![expectation("t", "reinit", &[Outcome::Crash], "e:1:1")];
        let fixed = || report(vec![cell("t", "cp312", Scenario::Reinit, Outcome::Pass)]);
        let s = concluded(fixed(), &policy(FailOn::Failure, false, e.clone()), None);
        assert_eq!(s.exit_code, 0);
        let s = concluded(fixed(), &policy(FailOn::Failure, true, e.clone()), None);
        assert_eq!(s.exit_code, 1);
        assert!(s.strict);
        assert_eq!(
            s.because,
            ["1 expected failure now passes (--strict): t cp312/reinit: pass, expected crash"]
        );
        let s = concluded(
            fixed(),
            &policy(FailOn::Regression, true, e),
            Some(&fixed()),
        );
        assert_eq!(s.exit_code, 1, "--strict holds under regression too");
    }

    #[test]
    fn an_expectation_whose_module_part_matched_no_module_fails_the_run() {
        let e = vec![expectation(
            "t",
            "tt/*/reinit",
            &[Outcome::Crash],
            "e.yaml:3:5",
        )];
        let cells = vec![cell("t", "cp312", Scenario::Reinit, Outcome::Pass)];
        let s = concluded(report(cells), &policy(FailOn::Failure, false, e), None);
        assert_eq!(s.exit_code, 1);
        assert_eq!(
            s.because,
            ["e.yaml:3:5: `tt/*/reinit` of target `t` matched no module it built"]
        );
    }

    #[test]
    fn regression_fails_only_on_what_got_worse_or_is_new_and_failing() {
        let baseline = report(vec![
            cell("t", "cp312", Scenario::Reinit, Outcome::Pass),
            cell("t", "cp312", Scenario::Reimport, Outcome::Crash),
            cell("t", "cp312", Scenario::Import, Outcome::Pass),
        ]);
        let regression = policy(FailOn::Regression, false, vec![]);
        // A crash the baseline had, a pass that stays: nothing got worse.
        let same = report(baseline.cells.clone());
        let s = concluded(same, &regression, Some(&baseline));
        assert_eq!(s.exit_code, 0, "{:?}", s.because);

        let worse = report(vec![
            cell("t", "cp312", Scenario::Reinit, Outcome::SharedState),
            cell("t", "cp312", Scenario::Reimport, Outcome::Crash),
            cell("t", "cp312", Scenario::Import, Outcome::Pass),
            cell("t", "cp313", Scenario::Import, Outcome::Pass),
            cell("t", "cp313", Scenario::Reinit, Outcome::Hang),
        ]);
        let s = concluded(worse, &regression, Some(&baseline));
        assert_eq!(s.exit_code, 1);
        assert_eq!(
            s.because,
            [
                "1 cell regressed since baseline.json: t cp312/reinit: shared-state, was pass",
                "1 new cell fails (not in the baseline): t cp313/reinit: hang",
            ]
        );
    }

    #[test]
    fn a_regression_an_expectation_allows_fails_nothing() {
        let e = vec![expectation("t", "reinit", &[Outcome::Crash], "e:1:1")];
        let before = report(vec![cell("t", "cp312", Scenario::Reinit, Outcome::Pass)]);
        let now = || report(vec![cell("t", "cp312", Scenario::Reinit, Outcome::Crash)]);
        let s = concluded(
            now(),
            &policy(FailOn::Regression, false, vec![]),
            Some(&before),
        );
        assert_eq!(s.exit_code, 1, "a crash that was a pass regressed");
        let s = concluded(now(), &policy(FailOn::Regression, false, e), Some(&before));
        assert_eq!(s.exit_code, 0, "{:?}", s.because);
    }

    #[test]
    fn a_new_cell_that_fails_as_expected_is_no_regression() {
        let e = vec![expectation("t", "cp313/reinit", &[Outcome::Hang], "e:1:1")];
        let baseline = report(vec![cell("t", "cp312", Scenario::Reinit, Outcome::Pass)]);
        let run = report(vec![
            cell("t", "cp312", Scenario::Reinit, Outcome::Pass),
            cell("t", "cp313", Scenario::Reinit, Outcome::Hang),
        ]);
        let s = concluded(run, &policy(FailOn::Regression, false, e), Some(&baseline));
        assert_eq!(s.exit_code, 0, "{:?}", s.because);
    }

    #[test]
    fn never_passes_whatever_happened() {
        let e = vec![expectation("t", "x/*/reinit", &[Outcome::Pass], "e:1:1")];
        let cells = vec![
            cell("t", "cp312", Scenario::Reinit, Outcome::Crash),
            cell("t", "cp313", Scenario::Reinit, Outcome::HarnessError),
        ];
        let s = concluded(report(cells), &policy(FailOn::Never, true, e), None);
        assert_eq!((s.exit_code, s.because.len()), (0, 0));
        assert_eq!(s.fail_on, FailOn::Never);
    }

    #[test]
    fn a_failure_the_control_shares_does_not_fail_the_run() {
        let mut c = cell("t", "cp312", Scenario::Reinit, Outcome::Crash);
        c.details.reason = Some(Reason::AlsoWithoutTarget);
        let s = concluded(
            report(vec![c]),
            &policy(FailOn::Failure, false, vec![]),
            None,
        );
        assert_eq!(s.exit_code, 0);
    }
}

#[cfg(test)]
mod naming {
    use super::*;
    use crate::testing::cell;
    use extmatrix_core::{Outcome, Scenario};
    use extmatrix_schema::CellChange;

    #[test]
    fn a_cell_is_named_with_its_module_when_the_target_has_another_name() {
        let mut c = cell("t", "cp312", Scenario::Reinit, Outcome::Crash);
        c.key.module = "pkg._speedups".into();
        c.change = Some(CellChange {
            change: Change::Unchanged,
            was: Some(Outcome::Crash),
        });
        assert_eq!(cell_name(&c), "t/pkg._speedups cp312/reinit: crash");
    }
}
