//! One finding per culprit: the cells of a run grouped by what they blame
//! (`culprit.rs` says how each outcome is keyed), so a static type shared
//! on three interpreters in four scenarios is one thing to fix, not twelve.
//!
//! Order: the most severe outcome first, then the findings that fail the
//! run before those that do not, then target, module and title; a
//! finding's cells keep the report's order.

mod culprit;
#[cfg(test)]
mod tests;

use culprit::{culprits, Culprit};
use extmatrix_core::Reason;
use extmatrix_schema::{CellResult, FailOn, Finding, FindingCell, Report};
use std::cmp::Reverse;

/// The findings of `cells`, most severe first. Every cell whose outcome is
/// not `pass`, `n/a` or `refused` is in at least one.
pub fn findings(cells: &[CellResult]) -> Vec<Finding> {
    let mut groups: Vec<(String, Culprit, Vec<&CellResult>)> = Vec::new();
    for cell in cells {
        for culprit in culprits(cell.outcome, &cell.details) {
            let id = format!(
                "{}:{}:{}:{}",
                culprit.kind, cell.key.target, cell.key.module, culprit.key
            );
            match groups.iter_mut().find(|(known, ..)| *known == id) {
                Some((.., of_culprit)) => of_culprit.push(cell),
                None => groups.push((id, culprit, vec![cell])),
            }
        }
    }
    let mut found: Vec<Finding> = groups
        .into_iter()
        .map(|(id, culprit, of_culprit)| finding(id, culprit, &of_culprit))
        .collect();
    sort(&mut found);
    found
}

/// Say which findings fail the run by the run's `--fail-on` and
/// `--strict` (`CellResult::fails_under`: what the status, JUnit and the
/// annotations read), once the comparison with a baseline has set each
/// cell's change; then order them again. [`findings`] alone says it by
/// `--fail-on failure`.
pub fn mark_failing(report: &mut Report, fail_on: FailOn, strict: bool) {
    let cells = &report.cells;
    for finding in &mut report.findings {
        finding.fails_run = cells
            .iter()
            .any(|c| finding.shows_in(&c.key) && c.fails_under(fail_on, strict));
    }
    sort(&mut report.findings);
}

fn sort(found: &mut [Finding]) {
    found.sort_by(|a, b| {
        (
            Reverse(a.outcome),
            !a.fails_run,
            &a.target,
            &a.module,
            &a.title,
        )
            .cmp(&(
                Reverse(b.outcome),
                !b.fails_run,
                &b.target,
                &b.module,
                &b.title,
            ))
    });
}

fn finding(id: String, culprit: Culprit, cells: &[&CellResult]) -> Finding {
    let first = cells[0];
    let outcome = cells
        .iter()
        .map(|c| c.outcome)
        .max()
        .unwrap_or(first.outcome);
    let reason = reason(cells, outcome);
    Finding {
        id,
        kind: culprit.kind,
        target: first.key.target.clone(),
        module: first.key.module.clone(),
        outcome,
        reason,
        title: culprit.title,
        fix: reason.map_or(culprit.fix, Reason::what_to_fix).to_owned(),
        fails_run: cells.iter().any(|c| c.fails_run()),
        cells: cells
            .iter()
            .map(|c| FindingCell {
                python: c.key.python.clone(),
                scenario: c.key.scenario,
            })
            .collect(),
    }
}

/// The reason of the first cell with the finding's outcome that has one,
/// else of the first cell that has one.
fn reason(cells: &[&CellResult], outcome: extmatrix_core::Outcome) -> Option<Reason> {
    let of = |c: &&&CellResult| c.details.reason.is_some();
    cells
        .iter()
        .filter(|c| c.outcome == outcome)
        .find(of)
        .or_else(|| cells.iter().find(of))
        .and_then(|c| c.details.reason)
}
