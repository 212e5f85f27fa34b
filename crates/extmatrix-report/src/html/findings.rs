//! The findings, above the grid: one per culprit, most severe first (the
//! report's order), each a button that outlines its cells.

use super::badge;
use super::escape::{html, html_with_code};
use crate::cells::{all_expected, finding_change, CellsByKey, RowNames};
use crate::compress::finding_where;
use extmatrix_schema::{Finding, Report};
use std::fmt::Write;

/// `<section id="findings">` with an `<ol>` of every report's findings.
pub(super) fn findings_section(reports: &[Report]) -> String {
    let mut out = String::from(
        "<section id=\"findings\" aria-labelledby=\"findings-title\">\
         <h2 id=\"findings-title\">Findings</h2>",
    );
    if reports.iter().all(|r| r.findings.is_empty()) {
        out.push_str(
            "<p>No findings: every cell passed, was refused as its module declares, or does not apply.</p>",
        );
    }
    out.push_str("<ol>");
    for (r, report) in reports.iter().enumerate() {
        let names = RowNames::new(report);
        let cells = CellsByKey::new(report);
        let matrix = (reports.len() > 1).then_some(report.matrix.as_str());
        for (i, f) in report.findings.iter().enumerate() {
            let row = names.name(&f.target, &f.module);
            out.push_str(&finding(r, i, report, &cells, f, &row, matrix));
        }
    }
    out.push_str("</ol></section>");
    out
}

fn finding(
    r: usize,
    i: usize,
    report: &Report,
    cells: &CellsByKey,
    f: &Finding,
    row: &str,
    matrix: Option<&str>,
) -> String {
    let mut facts = format!(
        "{} <span class=\"kind\">{}</span> in <span class=\"row\">{}</span>",
        badge(f.outcome),
        f.kind,
        html(row)
    );
    if let Some(matrix) = matrix {
        let _ = write!(facts, " of <span class=\"matrix\">{}</span>", html(matrix));
    }
    if let Some(reason) = f.reason {
        let _ = write!(facts, " <span class=\"reason\">[{reason}]</span>");
    }
    let _ = write!(
        facts,
        " — <span class=\"where\">{}</span>",
        html(&finding_where(report, f))
    );
    let change = finding_change(cells, f).trim();
    if !change.is_empty() {
        let _ = write!(facts, " <span class=\"change\">{}</span>", html(change));
    }
    if all_expected(cells, f) {
        facts.push_str(" <span class=\"expected\">(expected)</span>");
    }
    facts.push_str(if f.fails_run {
        " <strong class=\"fails\">fails the run</strong>"
    } else {
        " <span class=\"fails-not\">does not fail the run</span>"
    });
    format!(
        "<li class=\"finding\" data-finding=\"{r}:{i}\">\
         <button type=\"button\" class=\"finding-toggle\" aria-pressed=\"false\">{}</button>\
         <p class=\"facts\">{facts}</p><p class=\"fix\"><span class=\"fix-label\">Fix:</span> {}</p></li>",
        html(&f.title),
        html_with_code(&f.fix)
    )
}
