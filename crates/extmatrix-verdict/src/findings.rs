//! One finding per culprit.

use extmatrix_schema::{CellResult, Finding};

/// The findings of `cells`, most severe first.
pub fn findings(cells: &[CellResult]) -> Vec<Finding> {
    let _ = cells;
    Vec::new()
}
