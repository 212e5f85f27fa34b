//! What a run's cells mean together: the judge decides each cell, this
//! crate decides the run.
//!
//! ```text
//! cells ──expectations──▶ each cell met / fixed / unexpected   expect.rs
//!       ──findings──▶ one finding per culprit, with its cells  findings.rs
//!       ──baseline──▶ each cell new / unchanged / changed /    compare.rs
//!                     regressed / fixed
//!       ──policy──▶ the run's status (exit 0 or 1) and why     status.rs
//! ```
//!
//! A baseline is read by `read_baseline` (baseline.rs): only a complete
//! report of this schema version.
//!
//! It reads and writes `extmatrix_schema::Report` only (no runner, no
//! judge, no I/O), so the engine at the end of a run and a merge of shard
//! reports conclude the same way.

mod baseline;
mod compare;
mod expect;
mod findings;
mod status;
#[cfg(test)]
mod testing;

pub use baseline::{read_baseline, BaselineError};
pub use compare::compare;
pub use expect::{apply_expectations, unmatched_modules};
pub use findings::findings;
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
/// order (a finding fails the run by its cells' expectations; a change
/// compares findings).
pub fn conclude(report: &mut Report, policy: &Policy) {
    apply_expectations(&mut report.cells, &policy.expectations);
    report.findings = findings(&report.cells);
    if let Some((path, baseline)) = &policy.baseline {
        report.comparison = Some(compare(report, path, baseline));
    }
    report.status = Some(status(report, policy));
}
