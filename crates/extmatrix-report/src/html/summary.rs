//! The counts per outcome and the legend: what each outcome present means
//! and what the marks on a label say.

use super::badge;
use super::escape::{html, html_with_code};
use crate::cells::ALSO_WITHOUT_TARGET_MARK;
use crate::verdicts::MET_MARK;
use extmatrix_core::{Outcome, Reason};
use extmatrix_schema::{CellResult, Change, ExpectationStatus, Report};
use std::collections::BTreeMap;
use std::fmt::Write;

/// Cells per outcome over every report, most severe last (the schema's order).
pub(super) fn counts(reports: &[Report]) -> BTreeMap<Outcome, usize> {
    let mut counts = BTreeMap::new();
    for (outcome, n) in reports.iter().flat_map(|r| &r.summary) {
        *counts.entry(*outcome).or_insert(0) += n;
    }
    counts
}

/// `<section id="summary">`: a badge and a count per outcome present, and
/// the total.
pub(super) fn summary_section(reports: &[Report], counts: &BTreeMap<Outcome, usize>) -> String {
    let mut out = String::from(
        "<section id=\"summary\" aria-labelledby=\"summary-title\">\
         <h2 id=\"summary-title\">Summary</h2>",
    );
    // The verdict of each run at the top: its details are at the bottom.
    for report in reports {
        let _ = write!(
            out,
            "<div class=\"status\"><span class=\"what\">{}:</span> {}</div>",
            html(&report.matrix),
            super::meta::status(report)
        );
    }
    out.push_str("<ul id=\"counts\">");
    for (outcome, n) in counts {
        let _ = write!(
            out,
            "<li data-outcome=\"{outcome}\">{} <span class=\"n\">{n}</span></li>",
            badge(*outcome)
        );
    }
    let total: usize = counts.values().sum();
    let _ = write!(
        out,
        "</ul><p id=\"total\" data-total=\"{total}\">{total} cells</p></section>"
    );
    out
}

/// `<section id="legend">`: each outcome present with its meaning, then
/// the marks the labels carry.
pub(super) fn legend_section(reports: &[Report], counts: &BTreeMap<Outcome, usize>) -> String {
    let mut out = String::from(
        "<section id=\"legend\" aria-labelledby=\"legend-title\">\
         <h2 id=\"legend-title\">Legend</h2><dl class=\"outcomes\">",
    );
    for outcome in counts.keys() {
        let _ = write!(
            out,
            "<dt>{}</dt><dd>{}</dd>",
            badge(*outcome),
            html_with_code(outcome.meaning())
        );
    }
    for (mark, meaning) in marks(reports) {
        let _ = write!(
            out,
            "<dt class=\"mark\">{}</dt><dd>{}</dd>",
            html(&mark),
            html(&meaning)
        );
    }
    out.push_str("</dl></section>");
    out
}

/// The marks a label can carry that some cell of `reports` does carry,
/// then the filler of a cell a row does not have.
fn marks(reports: &[Report]) -> Vec<(String, String)> {
    let shows = |f: &dyn Fn(&CellResult) -> bool| reports.iter().flat_map(|r| &r.cells).any(f);
    let status_is = |c: &CellResult, s| c.expectation.as_ref().map(|e| e.status) == Some(s);
    let change_is = |c: &CellResult, wanted: &[Change]| {
        c.change
            .as_ref()
            .is_some_and(|c| wanted.contains(&c.change))
    };
    let candidates: [(bool, &str, &str); 7] = [
        (
            shows(&|c| c.details.reason == Some(Reason::AlsoWithoutTarget)),
            ALSO_WITHOUT_TARGET_MARK,
            "the control run without the target failed the same way: the interpreter's failure, which does not fail the run",
        ),
        (
            shows(&|c| status_is(c, ExpectationStatus::Met)),
            MET_MARK,
            "as expected: an expectation allows this outcome",
        ),
        (
            shows(&|c| c.expectation.is_some() && !status_is(c, ExpectationStatus::Met)),
            "(expected …)",
            "not what was expected: better (fixed) or another failure (unexpected)",
        ),
        (
            shows(&|c| change_is(c, &[Change::Regressed, Change::Fixed])),
            "(was …)",
            "the outcome in the baseline: worse now (regressed) or better (fixed)",
        ),
        (
            shows(&|c| change_is(c, &[Change::Changed])),
            "(changed)",
            "the same outcome as in the baseline, another culprit",
        ),
        (
            shows(&|c| change_is(c, &[Change::New])),
            "(new)",
            "not in the baseline",
        ),
        (
            shows(&|c| c.details.reason == Some(Reason::BuildRefusedByPackage)),
            "(refused)",
            "the package stopped its own build on this interpreter",
        ),
    ];
    let mut marks: Vec<(String, String)> = candidates
        .into_iter()
        .filter(|(shown, _, _)| *shown)
        .map(|(_, mark, meaning)| (mark.to_owned(), meaning.to_owned()))
        .collect();
    marks.push((
        "·".to_owned(),
        "no such cell: the row's target did not run there".to_owned(),
    ));
    marks
}
