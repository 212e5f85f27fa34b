//! How every format names cells: one cell's label in a grid, and the
//! cells of a finding compressed (`reimport on cp311–cp313; subinterp-* on
//! cp312, cp313`).

use extmatrix_core::{Reason, Scenario};
use extmatrix_schema::{CellResult, Change, ExpectationStatus, Finding, Report};

/// What marks a cell whose failure its control shares (the interpreter's
/// failure, which does not fail the run).
pub const ALSO_WITHOUT_TARGET_MARK: &str = "*";

/// A cell in a grid: its outcome, marked when the control failed the same
/// way or the package refused the build, when it met or beat its
/// expectation, and when it changed since the baseline.
pub fn cell_label(c: &CellResult) -> String {
    let mut label = match c.details.reason {
        Some(Reason::AlsoWithoutTarget) => format!("{}{ALSO_WITHOUT_TARGET_MARK}", c.outcome),
        Some(Reason::BuildRefusedByPackage) => format!("{} (refused)", c.outcome),
        _ => c.outcome.id().to_owned(),
    };
    match c.expectation.as_ref().map(|e| e.status) {
        Some(ExpectationStatus::Met) if c.outcome != extmatrix_core::Outcome::Pass => {
            label.push_str(" (expected)")
        }
        Some(ExpectationStatus::Fixed) => label.push_str(" (fixed!)"),
        Some(ExpectationStatus::Unexpected) => label.push_str(" (unexpected)"),
        _ => {}
    }
    if let Some(change) = &c.change {
        match (change.change, change.was) {
            (Change::Regressed | Change::Fixed, Some(was)) => {
                label.push_str(&format!(" (was {was})"))
            }
            (Change::New, _) => label.push_str(" (new)"),
            _ => {}
        }
    }
    label
}

/// A finding's cells in a few words: per group of scenarios that show it
/// on the same interpreters, `scenarios on interpreters`; consecutive
/// interpreters (the report's column order) as a range, every
/// `subinterp-*` scenario of the run as one, all of them as "every
/// scenario".
pub fn where_text(report: &Report, finding: &Finding) -> String {
    let columns: Vec<&str> = report.pythons.iter().map(|p| p.id.as_str()).collect();
    let scenarios_run = scenarios_of(report);
    let mut groups: Vec<(Vec<usize>, Vec<Scenario>)> = Vec::new();
    for scenario in &scenarios_run {
        let mut at: Vec<usize> = finding
            .cells
            .iter()
            .filter(|c| c.scenario == *scenario)
            .filter_map(|c| columns.iter().position(|p| *p == c.python))
            .collect();
        at.sort_unstable();
        at.dedup();
        if at.is_empty() {
            continue;
        }
        match groups.iter_mut().find(|(pythons, _)| *pythons == at) {
            Some((_, scenarios)) => scenarios.push(*scenario),
            None => groups.push((at, vec![*scenario])),
        }
    }
    groups
        .iter()
        .map(|(pythons, scenarios)| {
            format!(
                "{} on {}",
                scenario_words(scenarios, &scenarios_run),
                python_words(pythons, &columns)
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The scenarios the report has cells of, in the order of `Scenario::ALL`.
fn scenarios_of(report: &Report) -> Vec<Scenario> {
    Scenario::ALL
        .iter()
        .copied()
        .filter(|s| report.cells.iter().any(|c| c.key.scenario == *s))
        .collect()
}

fn scenario_words(scenarios: &[Scenario], run: &[Scenario]) -> String {
    if scenarios.len() == run.len() && run.len() > 1 {
        return "every scenario".into();
    }
    let family = |s: &Scenario| s.id().starts_with("subinterp-");
    let whole_family = run.iter().filter(|s| family(s)).count() > 1
        && run
            .iter()
            .filter(|s| family(s))
            .all(|s| scenarios.contains(s));
    let mut words: Vec<&str> = Vec::new();
    for s in scenarios {
        if whole_family && family(s) {
            if !words.contains(&"subinterp-*") {
                words.push("subinterp-*");
            }
        } else {
            words.push(s.id());
        }
    }
    words.join(", ")
}

/// Column indexes as ids: runs of three or more consecutive columns as
/// `first–last`.
fn python_words(at: &[usize], columns: &[&str]) -> String {
    if at.len() == columns.len() && columns.len() > 1 {
        return "every interpreter".into();
    }
    let mut words = Vec::new();
    let mut i = 0;
    while i < at.len() {
        let mut j = i;
        while j + 1 < at.len() && at[j + 1] == at[j] + 1 {
            j += 1;
        }
        if j - i >= 2 {
            words.push(format!("{}–{}", columns[at[i]], columns[at[j]]));
        } else {
            words.extend(at[i..=j].iter().map(|k| columns[*k].to_owned()));
        }
        i = j + 1;
    }
    words.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample;
    use extmatrix_core::Outcome;
    use extmatrix_schema::{FindingCell, FindingKind, PythonEntry};

    fn report(pythons: &[&str], scenarios: &[Scenario]) -> Report {
        let mut r = sample::report();
        r.pythons = pythons
            .iter()
            .map(|id| PythonEntry {
                id: (*id).into(),
                version: "3.12.1".into(),
                debug: false,
                free_threaded: false,
                path: "/x".into(),
            })
            .collect();
        r.cells = pythons
            .iter()
            .flat_map(|p| {
                scenarios
                    .iter()
                    .map(move |s| sample::cell("a", p, *s, Outcome::Pass))
            })
            .collect();
        r
    }

    fn finding(cells: &[(&str, Scenario)]) -> Finding {
        Finding {
            id: "x".into(),
            kind: FindingKind::Crash,
            target: "a".into(),
            module: "a".into(),
            outcome: Outcome::Crash,
            reason: None,
            title: "t".into(),
            fix: "f".into(),
            fails_run: true,
            cells: cells
                .iter()
                .map(|(p, s)| FindingCell {
                    python: (*p).into(),
                    scenario: *s,
                })
                .collect(),
        }
    }

    #[test]
    fn cells_compress_to_ranges_and_scenario_groups() {
        use Scenario::*;
        let pythons = ["cp311", "cp312", "cp313", "cp313t"];
        let all = [
            Import,
            Reinit,
            Reimport,
            SubinterpLegacy,
            SubinterpShared,
            SubinterpOwn,
        ];
        let r = report(&pythons, &all);
        let f = finding(&[
            ("cp311", Reimport),
            ("cp312", Reimport),
            ("cp313", Reimport),
            ("cp312", SubinterpLegacy),
            ("cp313", SubinterpLegacy),
            ("cp312", SubinterpShared),
            ("cp313", SubinterpShared),
            ("cp313", SubinterpOwn),
            ("cp312", SubinterpOwn),
        ]);
        assert_eq!(
            where_text(&r, &f),
            "reimport on cp311–cp313; subinterp-* on cp312, cp313"
        );
        let f = finding(&[("cp312", SubinterpLegacy), ("cp313", SubinterpShared)]);
        assert_eq!(
            where_text(&r, &f),
            "subinterp-legacy on cp312; subinterp-shared on cp313"
        );
        let every: Vec<(&str, Scenario)> = all.iter().map(|s| ("cp313t", *s)).collect();
        assert_eq!(where_text(&r, &finding(&every)), "every scenario on cp313t");
        let f = finding(&[
            ("cp311", Import),
            ("cp312", Import),
            ("cp313", Import),
            ("cp313t", Import),
        ]);
        assert_eq!(where_text(&r, &f), "import on every interpreter");
        let f = finding(&[("cp311", Reinit), ("cp313", Reinit), ("cp313t", Reinit)]);
        assert_eq!(where_text(&r, &f), "reinit on cp311, cp313, cp313t");
    }

    #[test]
    fn a_label_says_the_cells_expectation_and_change() {
        let mut c = sample::cell("a", "cp312", Scenario::Reinit, Outcome::Crash);
        assert_eq!(cell_label(&c), "crash");
        c.expectation = Some(extmatrix_schema::ExpectationCheck {
            expected: vec![Outcome::Crash],
            status: ExpectationStatus::Met,
            from: vec![],
        });
        assert_eq!(cell_label(&c), "crash (expected)");
        c.expectation = None;
        c.change = Some(extmatrix_schema::CellChange {
            change: Change::Regressed,
            was: Some(Outcome::Pass),
        });
        assert_eq!(cell_label(&c), "crash (was pass)");
        c.details.reason = Some(Reason::AlsoWithoutTarget);
        c.change = None;
        assert_eq!(cell_label(&c), "crash*");
    }
}
