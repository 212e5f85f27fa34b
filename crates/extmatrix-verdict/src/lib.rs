//! What a run's cells mean together: the judge decides each cell, this
//! crate decides the run.
//!
//! ```text
//! cells ──expectations──▶ each cell met / fixed / unexpected   expect.rs
//!       ──findings──▶ one finding per culprit, with its cells  findings.rs
//!       ──baseline──▶ each cell new / unchanged / changed /    compare.rs
//!                     regressed / fixed
//!       ──policy──▶ the run's status (exit 0 or 1) and why     status.rs
//! shard reports ──merge──▶ one report, concluded again          merge.rs
//! ```
//!
//! A baseline is read by `read_baseline` (read.rs): only a complete
//! report of this schema version.
//!
//! It reads and writes `extmatrix_schema::Report` only (no runner, no
//! judge, no I/O), so the engine at the end of a run and a merge of shard
//! reports conclude the same way.

mod compare;
mod expect;
mod findings;
mod merge;
mod read;
mod status;
#[cfg(test)]
mod testing;

pub use compare::compare;
pub use expect::{apply_expectations, unmatched_modules};
pub use findings::{findings, mark_failing};
pub use merge::{merge, MergeError, ShardReport};
pub use read::{read_baseline, read_report, ReportError};
pub use status::status;

use extmatrix_core::expect::Expectation;
use extmatrix_schema::{FailOn, Report};

/// How a run is concluded: what is expected of its cells, what it is
/// compared with, what fails it.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    pub expectations: Vec<Expectation>,
    /// The baseline report and its path as given.
    pub baseline: Option<(String, Report)>,
    pub fail_on: FailOn,
    /// A cell expected to fail that now does better fails the run.
    pub strict: bool,
}

/// Fill in `report`'s expectations, findings, changes and status, in that
/// order (a change compares findings; a finding fails the run by its
/// cells' expectations and changes, under the policy).
pub fn conclude(report: &mut Report, policy: &Policy) {
    apply_expectations(&mut report.cells, &policy.expectations);
    conclude_joined(report, policy);
}

/// [`conclude`] after the expectations: the cells already carry their
/// checks (cells joined from shards, each checked by its shard).
fn conclude_joined(report: &mut Report, policy: &Policy) {
    report.findings = findings(&report.cells);
    if let Some((path, baseline)) = &policy.baseline {
        report.comparison = Some(compare(report, path, baseline));
    }
    mark_failing(report, policy.fail_on, policy.strict);
    report.status = Some(status(report, policy));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::cell;
    use extmatrix_core::{Outcome, Scenario};

    fn concluded(fail_on: FailOn, baseline: &Report) -> Report {
        let crash = |python| cell("t", python, Scenario::Reinit, Outcome::Crash);
        let mut report = Report::new(
            "m.yaml".into(),
            vec![],
            vec![crash("cp312"), crash("cp313")],
            0,
        );
        let policy = Policy {
            baseline: Some(("old.json".into(), baseline.clone())),
            fail_on,
            ..Policy::default()
        };
        conclude(&mut report, &policy);
        report
    }

    #[test]
    fn a_finding_fails_the_run_by_the_runs_policy() {
        let crash = |python| cell("t", python, Scenario::Reinit, Outcome::Crash);
        let known = Report::new(
            "old.json".into(),
            vec![],
            vec![crash("cp312"), crash("cp313")],
            0,
        );
        let fails = |r: &Report| {
            (
                r.findings.len(),
                r.findings[0].fails_run,
                r.status.as_ref().unwrap().exit_code,
            )
        };
        assert_eq!(fails(&concluded(FailOn::Failure, &known)), (1, true, 1));
        assert_eq!(
            fails(&concluded(FailOn::Regression, &known)),
            (1, false, 0),
            "a known crash"
        );
        assert_eq!(fails(&concluded(FailOn::Never, &known)), (1, false, 0));
        let half = Report::new(
            "old.json".into(),
            vec![],
            vec![
                crash("cp312"),
                cell("t", "cp313", Scenario::Reinit, Outcome::Pass),
            ],
            0,
        );
        assert_eq!(
            fails(&concluded(FailOn::Regression, &half)),
            (1, true, 1),
            "one cell regressed"
        );
    }
}
