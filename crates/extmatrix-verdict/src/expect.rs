//! Holding cells to their expectations.

use extmatrix_core::expect::Expectation;
use extmatrix_schema::CellResult;

/// Set each cell's `expectation` from the expectations that match it (their
/// outcomes together: a cell meets them when its outcome is any of them).
pub fn apply_expectations(cells: &mut [CellResult], expectations: &[Expectation]) {
    let _ = (cells, expectations);
}
