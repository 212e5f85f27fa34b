//! How every format labels an outcome, a cell in a grid and an expected
//! finding (where a finding shows, in words: `compress.rs`).

use crate::verdicts;
use extmatrix_core::{Outcome, Reason, Scenario};
use extmatrix_schema::{CellResult, Change, ExpectationStatus, Finding, Report};
use std::collections::HashMap;

/// What marks a cell whose failure its control shares (the interpreter's
/// failure, which does not fail the run).
pub const ALSO_WITHOUT_TARGET_MARK: &str = "*";

/// A cell in a grid: its outcome, marked `*` when the control failed the
/// same way, then what expectations and a baseline say of it
/// (`verdicts.rs`): `crash✓` (expected), `hang (expected crash)`,
/// `crash (was pass)`, `build-failed (refused)`.
pub fn cell_label(c: &CellResult) -> String {
    let also_without_target = match c.details.reason {
        Some(Reason::AlsoWithoutTarget) => ALSO_WITHOUT_TARGET_MARK,
        _ => "",
    };
    let mut notes = Vec::new();
    if c.details.reason == Some(Reason::BuildRefusedByPackage) {
        notes.push("refused".to_owned());
    }
    notes.extend(verdicts::cell_notes(c));
    let mut text = format!(
        "{}{also_without_target}{}",
        c.outcome,
        verdicts::outcome_mark(c)
    );
    if !notes.is_empty() {
        text.push_str(&format!(" ({})", notes.join(", ")));
    }
    text
}

/// What every format calls a target's module: the target's name, or
/// `target/module` when the target built several modules (one row each).
pub struct RowNames<'a> {
    several: std::collections::HashSet<&'a str>,
}

impl<'a> RowNames<'a> {
    pub fn new(report: &'a Report) -> Self {
        let mut first: std::collections::HashMap<&str, &str> = Default::default();
        let mut several = std::collections::HashSet::new();
        for c in &report.cells {
            let module = *first.entry(&c.key.target).or_insert(&c.key.module);
            if module != c.key.module {
                several.insert(c.key.target.as_str());
            }
        }
        RowNames { several }
    }

    pub fn name(&self, target: &str, module: &str) -> String {
        if self.several.contains(target) {
            format!("{target}/{module}")
        } else {
            target.to_owned()
        }
    }
}

/// An outcome as every format shows it: marked `*` when the control
/// failed the same way, `(refused)` when the package refused the build.
pub fn outcome_label(outcome: Outcome, reason: Option<Reason>) -> String {
    match reason {
        Some(Reason::AlsoWithoutTarget) => format!("{outcome}{ALSO_WITHOUT_TARGET_MARK}"),
        Some(Reason::BuildRefusedByPackage) => format!("{outcome} (refused)"),
        _ => outcome.id().to_owned(),
    }
}

/// A report's cells by key, indexed once: the cells a finding names are
/// looked up, not found by a scan of every cell per finding (a 500-target
/// report has hundreds of findings over 28,000 cells).
pub struct CellsByKey<'a> {
    by_key: HashMap<(&'a str, &'a str, &'a str, Scenario), &'a CellResult>,
}

impl<'a> CellsByKey<'a> {
    pub fn new(report: &'a Report) -> Self {
        let by_key = report
            .cells
            .iter()
            .map(|c| {
                let k = &c.key;
                ((&*k.target, &*k.module, &*k.python, k.scenario), c)
            })
            .collect();
        CellsByKey { by_key }
    }

    /// The report's cells that `f` names.
    fn of<'f>(&'f self, f: &'f Finding) -> impl Iterator<Item = &'a CellResult> + 'f {
        f.cells.iter().filter_map(move |c| {
            let key = (&*f.target, &*f.module, &*c.python, c.scenario);
            self.by_key.get(&key).copied()
        })
    }
}

/// What the baseline says of a finding, from its cells' changes: ` (regressed)`
/// when one of them got worse, else ` (new)` or ` (changed)` when one is;
/// nothing when all are unchanged (or there is no baseline).
pub fn finding_change(cells: &CellsByKey, f: &Finding) -> &'static str {
    let changes: Vec<Change> = cells
        .of(f)
        .filter_map(|c| c.change.as_ref().map(|c| c.change))
        .collect();
    [
        (Change::Regressed, " (regressed)"),
        (Change::New, " (new)"),
        (Change::Changed, " (changed)"),
    ]
    .into_iter()
    .find(|(change, _)| changes.contains(change))
    .map_or("", |(_, words)| words)
}

/// Whether every cell of `f` met an expectation.
pub fn all_expected(cells: &CellsByKey, f: &Finding) -> bool {
    let met = |c: &CellResult| {
        c.expectation
            .as_ref()
            .is_some_and(|e| e.status == ExpectationStatus::Met)
    };
    cells.of(f).count() == f.cells.len() && cells.of(f).all(met)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample;

    #[test]
    fn a_finding_says_the_worst_change_of_its_cells() {
        let mut r = sample::report();
        let f = sample::finding("b", "cp312", Scenario::Import);
        assert_eq!(finding_change(&CellsByKey::new(&r), &f), "");
        let change = |change| Some(extmatrix_schema::CellChange { change, was: None });
        r.cells[2].change = change(Change::Unchanged);
        assert_eq!(finding_change(&CellsByKey::new(&r), &f), "");
        r.cells[2].change = change(Change::New);
        assert_eq!(finding_change(&CellsByKey::new(&r), &f), " (new)");
        r.cells[2].change = change(Change::Regressed);
        assert_eq!(finding_change(&CellsByKey::new(&r), &f), " (regressed)");
        r.cells[0].change = change(Change::Regressed);
        r.cells[2].change = change(Change::Changed);
        assert_eq!(
            finding_change(&CellsByKey::new(&r), &f),
            " (changed)",
            "another row's cell"
        );
    }

    #[test]
    fn a_finding_is_expected_only_when_each_of_its_cells_met_its_expectation() {
        let mut r = sample::report();
        let f = sample::finding("b", "cp312", Scenario::Import);
        let check = |status| sample::expecting_crash(status);
        assert!(!all_expected(&CellsByKey::new(&r), &f));
        r.cells[2].expectation = check(ExpectationStatus::Unexpected);
        assert!(!all_expected(&CellsByKey::new(&r), &f));
        r.cells[2].expectation = check(ExpectationStatus::Met);
        assert!(all_expected(&CellsByKey::new(&r), &f));
    }

    #[test]
    fn a_label_says_the_cells_expectation_and_change() {
        let mut c = sample::cell("a", "cp312", Scenario::Reinit, Outcome::Crash);
        assert_eq!(cell_label(&c), "crash");
        c.expectation = sample::expecting_crash(ExpectationStatus::Met);
        assert_eq!(cell_label(&c), "crash✓");
        c.expectation = None;
        c.change = Some(extmatrix_schema::CellChange {
            change: extmatrix_schema::Change::Regressed,
            was: Some(Outcome::Pass),
        });
        assert_eq!(cell_label(&c), "crash (was pass)");
        c.details.reason = Some(Reason::AlsoWithoutTarget);
        c.change = None;
        assert_eq!(cell_label(&c), "crash*");
        c.details.reason = Some(Reason::BuildRefusedByPackage);
        c.outcome = Outcome::BuildFailed;
        assert_eq!(cell_label(&c), "build-failed (refused)");
    }
}
