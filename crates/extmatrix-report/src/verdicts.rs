//! What the terminal says of expectations, a baseline and the run's
//! status: each cell's marks in the table (`crash✓`, `hang (expected
//! crash)`, `crash (was pass)`), a legend for the marks shown, and the end
//! summary (the comparison's counts, the expectations' counts, why the run
//! fails). Kept apart from the table's drawing so the two read alone.

use extmatrix_schema::{CellResult, Change, ExpectationStatus, Report};

/// What marks a cell whose outcome an expectation allows.
pub const MET_MARK: &str = "✓";

/// The mark right after a cell's outcome: [`MET_MARK`] for an expectation met.
pub fn outcome_mark(c: &CellResult) -> &'static str {
    match c.expectation.as_ref().map(|e| e.status) {
        Some(ExpectationStatus::Met) => MET_MARK,
        _ => "",
    }
}

/// What the cell's parentheses say of expectations and the baseline:
/// `expected crash` for an expectation not met, `was pass` for a cell
/// whose outcome changed, `changed` (another culprit), `new`.
pub fn cell_notes(c: &CellResult) -> Vec<String> {
    let mut notes = Vec::new();
    if let Some(e) = c
        .expectation
        .as_ref()
        .filter(|e| e.status != ExpectationStatus::Met)
    {
        let expected: Vec<&str> = e.expected.iter().map(|o| o.id()).collect();
        notes.push(format!("expected {}", expected.join(" or ")));
    }
    if let Some(change) = &c.change {
        match (change.change, change.was) {
            (Change::Regressed | Change::Fixed, Some(was)) => notes.push(format!("was {was}")),
            (Change::Changed, _) => notes.push("changed".to_owned()),
            (Change::New, _) => notes.push("new".to_owned()),
            _ => {}
        }
    }
    notes
}

/// One line explaining the marks the table shows, or nothing.
pub fn legend(report: &Report) -> String {
    let shows = |f: &dyn Fn(&CellResult) -> bool| report.cells.iter().any(f);
    let status_is = |c: &CellResult, s| c.expectation.as_ref().map(|e| e.status) == Some(s);
    let mut parts = Vec::new();
    if shows(&|c| status_is(c, ExpectationStatus::Met)) {
        parts.push(format!("{MET_MARK} as expected"));
    }
    if shows(&|c| c.expectation.is_some() && !status_is(c, ExpectationStatus::Met)) {
        parts.push("(expected X) not what was expected".to_owned());
    }
    if let Some(comparison) = &report.comparison {
        let change_is = |c: &CellResult, wanted: &[Change]| {
            c.change
                .as_ref()
                .is_some_and(|c| wanted.contains(&c.change))
        };
        if shows(&|c| change_is(c, &[Change::Regressed, Change::Fixed])) {
            parts.push(format!("(was X) the outcome in {}", comparison.baseline));
        }
        if shows(&|c| change_is(c, &[Change::Changed])) {
            parts.push("(changed) the same outcome, another culprit".to_owned());
        }
        if shows(&|c| change_is(c, &[Change::New])) {
            parts.push(format!("(new) not in {}", comparison.baseline));
        }
    }
    if parts.is_empty() {
        return String::new();
    }
    format!("\n{}\n", parts.join(" · "))
}

/// After the summary: the baseline's and the expectations' counts, and
/// why the run fails.
pub fn end_summary(report: &Report) -> String {
    let mut out = String::new();
    for line in [comparison_line(report), expectations_line(report)]
        .into_iter()
        .flatten()
    {
        out.push_str(&format!("{line}\n"));
    }
    if let Some(status) = report.status.as_ref().filter(|s| !s.because.is_empty()) {
        out.push_str(&format!(
            "Fails the run (--fail-on {}{}):\n",
            status.fail_on,
            if status.strict { " --strict" } else { "" }
        ));
        for line in &status.because {
            out.push_str(&format!("  {line}\n"));
        }
    }
    out
}

/// `Against old.json: 1 regressed, 11 unchanged; 2 of its cells not in
/// this run`, when there is a baseline.
pub fn comparison_line(report: &Report) -> Option<String> {
    let comparison = report.comparison.as_ref()?;
    let changes = report
        .cells
        .iter()
        .filter_map(|c| c.change.as_ref().map(|c| c.change.id()));
    let mut line = format!("Against {}: {}", comparison.baseline, counts(changes));
    if !comparison.gone.is_empty() {
        line.push_str(&format!(
            "; {} of its cells not in this run",
            comparison.gone.len()
        ));
    }
    Some(line)
}

/// `Expectations: 37 met, 11 fixed`, when a cell has an expectation.
pub fn expectations_line(report: &Report) -> Option<String> {
    let statuses = report
        .cells
        .iter()
        .filter_map(|c| c.expectation.as_ref().map(|e| e.status.id()));
    let statuses = counts(statuses);
    (!statuses.is_empty()).then(|| format!("Expectations: {statuses}"))
}

/// `2 regressed, 5 unchanged`: each word with its count, in first-seen order.
fn counts<'a>(words: impl Iterator<Item = &'a str>) -> String {
    let mut counted: Vec<(&str, usize)> = Vec::new();
    for word in words {
        match counted.iter_mut().find(|(w, _)| *w == word) {
            Some((_, n)) => *n += 1,
            None => counted.push((word, 1)),
        }
    }
    let parts: Vec<String> = counted.iter().map(|(w, n)| format!("{n} {w}")).collect();
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use crate::{sample, Format, TableStyle, Terminal};
    use extmatrix_core::Outcome;
    use extmatrix_schema::{
        BaselineComparison, CellChange, Change, ExpectationCheck, ExpectationStatus, FailOn,
        Report, RunStatus,
    };

    fn plain(report: &Report) -> String {
        Terminal(TableStyle {
            color: false,
            width: None,
        })
        .render(report)
    }

    fn expecting(status: ExpectationStatus, expected: &[Outcome]) -> Option<ExpectationCheck> {
        Some(ExpectationCheck {
            expected: expected.to_vec(),
            status,
            from: vec!["e.yaml:1:1".into()],
        })
    }

    fn changed(change: Change, was: Option<Outcome>) -> Option<CellChange> {
        Some(CellChange { change, was })
    }

    #[test]
    fn a_run_without_expectations_or_baseline_shows_no_marks() {
        let text = plain(&sample::report());
        for absent in [
            "✓",
            "expected",
            "was ",
            "Against",
            "Expectations:",
            "Fails the run",
        ] {
            assert!(!text.contains(absent), "{absent}: {text}");
        }
    }

    #[test]
    fn cells_show_their_expectation_and_change_compactly() {
        let mut r = sample::report();
        // a × import: pass, a × reimport: shared-state, b × import: crash
        r.cells[0].expectation = expecting(ExpectationStatus::Fixed, &[Outcome::Crash]);
        r.cells[1].change = changed(Change::Regressed, Some(Outcome::Pass));
        r.cells[2].expectation = expecting(ExpectationStatus::Met, &[Outcome::Crash]);
        r.cells[2].change = changed(Change::New, None);
        r.comparison = Some(BaselineComparison {
            baseline: "old.json".into(),
            gone: vec![],
        });
        let text = plain(&r);
        assert!(text.contains("┆ pass (expected crash) "), "{text}");
        assert!(text.contains("┆ shared-state (was pass) "), "{text}");
        assert!(text.contains("┆ crash✓ (new) "), "{text}");
        assert!(
            text.contains(
                "\n✓ as expected · (expected X) not what was expected · (was X) the outcome in \
                 old.json · (new) not in old.json\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("\nAgainst old.json: 1 regressed, 1 new\n"),
            "{text}"
        );
        assert!(text.contains("\nExpectations: 1 fixed, 1 met\n"), "{text}");
    }

    #[test]
    fn only_the_marks_shown_are_explained() {
        let mut r = sample::report();
        r.cells[2].expectation = expecting(ExpectationStatus::Met, &[Outcome::Crash]);
        let text = plain(&r);
        assert!(text.contains("\n✓ as expected\n"), "{text}");
        assert!(!text.contains("(expected X)"), "{text}");
    }

    #[test]
    fn a_changed_culprit_and_an_unchanged_cell_read_differently() {
        let mut r = sample::report();
        r.cells[1].change = changed(Change::Changed, Some(Outcome::SharedState));
        r.cells[2].change = changed(Change::Unchanged, Some(Outcome::Crash));
        r.cells[0].change = changed(Change::Unchanged, Some(Outcome::Pass));
        r.comparison = Some(BaselineComparison {
            baseline: "old.json".into(),
            gone: vec![r.cells[0].key.clone()],
        });
        let text = plain(&r);
        assert!(text.contains("┆ shared-state (changed) "), "{text}");
        assert!(text.contains("┆ crash "), "{text}");
        assert!(
            text.contains("\n(changed) the same outcome, another culprit\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "\nAgainst old.json: 2 unchanged, 1 changed; 1 of its cells not in this run\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn the_reasons_a_run_fails_follow_the_summary() {
        let mut r = sample::report();
        r.status = Some(RunStatus {
            fail_on: FailOn::Failure,
            strict: true,
            exit_code: 1,
            because: vec!["1 cell fails the run: b cp312/import: crash".into()],
        });
        let text = plain(&r);
        let summary = text.find("3 cells in").unwrap();
        let fails = text
            .find("Fails the run (--fail-on failure --strict):\n  1 cell fails the run: b cp312/import: crash\n")
            .unwrap_or_else(|| panic!("{text}"));
        assert!(fails > summary);
        r.status.as_mut().unwrap().because.clear();
        assert!(!plain(&r).contains("Fails the run"));
    }
}
