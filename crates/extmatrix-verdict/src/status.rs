//! The run's exit status by its policy.

use crate::Policy;
use extmatrix_schema::{Report, RunStatus};

/// Whether the run fails (exit 1) and why.
pub fn status(report: &Report, policy: &Policy) -> RunStatus {
    RunStatus {
        fail_on: policy.fail_on,
        strict: policy.strict,
        exit_code: report.exit_code(),
        because: Vec::new(),
    }
}
