//! A run against a baseline report, cell by cell by key.
//!
//! A cell the baseline lacks is `new`; a more severe outcome `regressed`, a
//! less severe one `fixed`; the same outcome is `unchanged` only when its
//! culprits are the same too — the findings that name it (by id, stable
//! across runs) and its reason — else `changed` (a crash in another step,
//! another shared object).

use extmatrix_core::Outcome;
use extmatrix_schema::{BaselineComparison, CellChange, CellKey, CellResult, Change, Report};
use std::collections::{BTreeSet, HashMap, HashSet};

/// Set each cell's `change` against `baseline` and say which cells are gone.
pub fn compare(report: &mut Report, path: &str, baseline: &Report) -> BaselineComparison {
    let changes = changes(report, baseline);
    for (cell, change) in report.cells.iter_mut().zip(changes) {
        cell.change = Some(change);
    }
    BaselineComparison {
        baseline: path.to_owned(),
        gone: gone(report, baseline),
    }
}

/// Each cell's change, in the report's order.
fn changes(report: &Report, baseline: &Report) -> Vec<CellChange> {
    let ours = findings_by_cell(report);
    let theirs = findings_by_cell(baseline);
    let before: HashMap<&CellKey, &CellResult> =
        baseline.cells.iter().map(|c| (&c.key, c)).collect();
    let none = BTreeSet::new();
    report
        .cells
        .iter()
        .map(|cell| match before.get(&cell.key) {
            None => CellChange {
                change: Change::New,
                was: None,
            },
            Some(old) => {
                let same_culprits = ours.get(&cell.key).unwrap_or(&none)
                    == theirs.get(&cell.key).unwrap_or(&none)
                    && cell.details.reason == old.details.reason;
                CellChange {
                    change: change_of(old.outcome, cell.outcome, same_culprits),
                    was: Some(old.outcome),
                }
            }
        })
        .collect()
}

/// How a cell that was `was` and is `now` changed. `n/a` is neither
/// better nor worse than anything: a scenario the interpreter cannot run
/// (now, or then) says nothing of the module, so a cell that became or
/// stopped being `n/a` has `changed`.
fn change_of(was: Outcome, now: Outcome, same_culprits: bool) -> Change {
    let not_applicable = [was, now].contains(&Outcome::NotApplicable);
    if not_applicable && was != now {
        return Change::Changed;
    }
    match now.cmp(&was) {
        std::cmp::Ordering::Greater => Change::Regressed,
        std::cmp::Ordering::Less => Change::Fixed,
        std::cmp::Ordering::Equal if same_culprits => Change::Unchanged,
        std::cmp::Ordering::Equal => Change::Changed,
    }
}

/// The ids of the findings that name each cell.
fn findings_by_cell(report: &Report) -> HashMap<CellKey, BTreeSet<&str>> {
    let mut by_cell: HashMap<CellKey, BTreeSet<&str>> = HashMap::new();
    for finding in &report.findings {
        for at in &finding.cells {
            let key = CellKey {
                target: finding.target.clone(),
                module: finding.module.clone(),
                python: at.python.clone(),
                scenario: at.scenario,
            };
            by_cell.entry(key).or_default().insert(&finding.id);
        }
    }
    by_cell
}

/// The baseline's cells this run has no verdict for, but those an
/// interrupt kept from running (they are not gone, only not run).
fn gone(report: &Report, baseline: &Report) -> Vec<CellKey> {
    let mut here: HashSet<&CellKey> = report.cells.iter().map(|c| &c.key).collect();
    if let Some(interrupted) = &report.interrupted {
        here.extend(&interrupted.not_run);
    }
    baseline
        .cells
        .iter()
        .map(|c| &c.key)
        .filter(|k| !here.contains(k))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::cell;
    use extmatrix_core::{Reason, Scenario};
    use extmatrix_schema::{Finding, FindingCell, FindingKind, Interruption};

    fn report(cells: Vec<CellResult>) -> Report {
        Report::new("m.yaml".into(), vec![], cells, 0)
    }

    fn finding(id: &str, target: &str, at: &[(&str, Scenario)]) -> Finding {
        Finding {
            id: id.into(),
            kind: FindingKind::Crash,
            target: target.into(),
            module: target.into(),
            outcome: Outcome::Crash,
            reason: None,
            title: String::new(),
            fix: String::new(),
            fails_run: true,
            cells: at
                .iter()
                .map(|(python, scenario)| FindingCell {
                    python: (*python).into(),
                    scenario: *scenario,
                })
                .collect(),
        }
    }

    /// Each cell's change and its baseline outcome, in the run's order.
    fn changes(run: &mut Report, baseline: &Report) -> Vec<(Change, Option<Outcome>)> {
        compare(run, "b.json", baseline);
        run.cells
            .iter()
            .map(|c| {
                let change = c.change.as_ref().unwrap();
                (change.change, change.was)
            })
            .collect()
    }

    #[test]
    fn outcomes_against_the_baselines_say_new_regressed_fixed_unchanged() {
        let baseline = report(vec![
            cell("t", "cp312", Scenario::Reinit, Outcome::Pass),
            cell("t", "cp312", Scenario::Reimport, Outcome::Crash),
            cell("t", "cp312", Scenario::Import, Outcome::Refused),
        ]);
        let mut run = report(vec![
            cell("t", "cp312", Scenario::Reinit, Outcome::Crash),
            cell("t", "cp312", Scenario::Reimport, Outcome::SharedState),
            cell("t", "cp312", Scenario::Import, Outcome::Refused),
            cell("t", "cp313", Scenario::Import, Outcome::Pass),
        ]);
        assert_eq!(
            changes(&mut run, &baseline),
            [
                (Change::Regressed, Some(Outcome::Pass)),
                (Change::Fixed, Some(Outcome::Crash)),
                (Change::Unchanged, Some(Outcome::Refused)),
                (Change::New, None),
            ]
        );
    }

    #[test]
    fn a_cell_that_became_or_stopped_being_n_a_changed_neither_way() {
        use Outcome::*;
        assert_eq!(change_of(Pass, NotApplicable, true), Change::Changed);
        assert_eq!(change_of(SharedState, NotApplicable, true), Change::Changed);
        assert_eq!(change_of(NotApplicable, Crash, true), Change::Changed);
        assert_eq!(
            change_of(NotApplicable, NotApplicable, true),
            Change::Unchanged
        );
        assert_eq!(change_of(Pass, Crash, true), Change::Regressed);
        assert_eq!(change_of(Crash, Pass, true), Change::Fixed);
    }

    #[test]
    fn the_same_outcome_with_another_culprit_is_changed() {
        let cells = || {
            vec![
                cell("t", "cp312", Scenario::Reinit, Outcome::Crash),
                cell("t", "cp312", Scenario::Reimport, Outcome::Crash),
                cell("t", "cp313", Scenario::Reinit, Outcome::Crash),
            ]
        };
        let mut baseline = report(cells());
        baseline.findings = vec![
            finding("crash:t:t:cycle 2", "t", &[("cp312", Scenario::Reinit)]),
            finding("crash:t:t:reimport", "t", &[("cp312", Scenario::Reimport)]),
        ];
        baseline.cells[2].details.reason = Some(Reason::EndedByTarget);
        let mut run = report(cells());
        run.findings = vec![
            // Another step crashes now.
            finding("crash:t:t:cycle 3", "t", &[("cp312", Scenario::Reinit)]),
            // The same finding, listed with other cells too.
            finding(
                "crash:t:t:reimport",
                "t",
                &[("cp311", Scenario::Reimport), ("cp312", Scenario::Reimport)],
            ),
        ];
        // Another reason.
        run.cells[2].details.reason = Some(Reason::AlsoWithoutTarget);
        let got: Vec<Change> = changes(&mut run, &baseline)
            .into_iter()
            .map(|(c, _)| c)
            .collect();
        assert_eq!(got, [Change::Changed, Change::Unchanged, Change::Changed]);
    }

    #[test]
    fn a_finding_of_another_target_or_module_does_not_name_the_cell() {
        let baseline = report(vec![cell("t", "cp312", Scenario::Reinit, Outcome::Crash)]);
        let mut run = report(vec![cell("t", "cp312", Scenario::Reinit, Outcome::Crash)]);
        let mut other_module = finding("x", "t", &[("cp312", Scenario::Reinit)]);
        other_module.module = "t.other".into();
        run.findings = vec![
            finding("y", "u", &[("cp312", Scenario::Reinit)]),
            other_module,
        ];
        assert_eq!(changes(&mut run, &baseline)[0].0, Change::Unchanged);
    }

    #[test]
    fn gone_are_the_baselines_cells_the_run_lacks_but_not_those_interrupted() {
        let baseline = report(vec![
            cell("t", "cp312", Scenario::Reinit, Outcome::Pass),
            cell("t", "cp311", Scenario::Reinit, Outcome::Pass),
            cell("t", "cp313", Scenario::Reinit, Outcome::Pass),
        ]);
        let mut run = report(vec![cell("t", "cp312", Scenario::Reinit, Outcome::Pass)]);
        run.interrupted = Some(Interruption {
            signal: "SIGTERM".into(),
            not_run: vec![baseline.cells[2].key.clone()],
        });
        let comparison = compare(&mut run, "b.json", &baseline);
        assert_eq!(comparison.baseline, "b.json");
        assert_eq!(comparison.gone, [baseline.cells[1].key.clone()]);
    }
}
