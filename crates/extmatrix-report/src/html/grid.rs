//! The grid: a row per target (per module, for a target that built
//! several), a column per (interpreter, scenario), a `<tbody>` per report.
//! Each cell is its label and a few attributes for the script; its details
//! stay in the embedded JSON.

use super::escape::html;
use super::outcome_class;
use crate::cells::{cell_label, RowNames};
use extmatrix_core::Scenario;
use extmatrix_schema::{CellResult, Report};
use std::collections::HashMap;
use std::fmt::Write;

/// One interpreter's columns: the scenarios any report ran on it.
pub(super) struct PythonColumns<'a> {
    pub id: &'a str,
    pub version: &'a str,
    pub scenarios: Vec<Scenario>,
}

/// The grid's columns for all `reports`: interpreters by id in the order
/// they first appear (each report's `pythons`, then any only its cells
/// name), each with the scenarios run on it in the order cells first show
/// them. An interpreter no cell ran on has no column.
pub(super) fn columns(reports: &[Report]) -> Vec<PythonColumns<'_>> {
    let mut pythons: Vec<(&str, &str)> = Vec::new();
    for report in reports {
        for p in &report.pythons {
            if !pythons.iter().any(|(known, _)| *known == p.id) {
                pythons.push((&p.id, &p.version));
            }
        }
    }
    let all_cells = || reports.iter().flat_map(|r| &r.cells);
    for c in all_cells() {
        if !pythons.iter().any(|(known, _)| *known == c.key.python) {
            pythons.push((&c.key.python, ""));
        }
    }
    let mut scenario_order: Vec<Scenario> = Vec::new();
    for c in all_cells() {
        if !scenario_order.contains(&c.key.scenario) {
            scenario_order.push(c.key.scenario);
        }
    }
    pythons
        .into_iter()
        .map(|(id, version)| PythonColumns {
            id,
            version,
            scenarios: scenario_order
                .iter()
                .copied()
                .filter(|s| all_cells().any(|c| c.key.python == id && c.key.scenario == *s))
                .collect(),
        })
        .filter(|p| !p.scenarios.is_empty())
        .collect()
}

/// `<table id="grid">` with its two header rows and a `<tbody>` per report.
pub(super) fn grid_table(reports: &[Report], columns: &[PythonColumns]) -> String {
    let mut out = String::from("<table id=\"grid\">");
    out.push_str(&col_groups(columns));
    out.push_str(&head(columns));
    let mut first_cell = true;
    for (r, report) in reports.iter().enumerate() {
        out.push_str(&body(
            r,
            report,
            reports.len() > 1,
            columns,
            &mut first_cell,
        ));
    }
    out.push_str("</table>");
    out
}

/// A `<colgroup>` per interpreter, so `scope="colgroup"` names real groups.
fn col_groups(columns: &[PythonColumns]) -> String {
    let mut out = String::from("<colgroup><col></colgroup>");
    for p in columns {
        let _ = write!(out, "<colgroup span=\"{}\"></colgroup>", p.scenarios.len());
    }
    out
}

fn head(columns: &[PythonColumns]) -> String {
    let mut groups =
        String::from("<tr><th scope=\"col\" rowspan=\"2\" class=\"corner\">target</th>");
    let mut scenarios = String::from("<tr>");
    for p in columns {
        let id = html(p.id);
        let version = match p.version {
            "" => String::new(),
            v => format!(" <small>{}</small>", html(v)),
        };
        let _ = write!(
            groups,
            "<th scope=\"colgroup\" colspan=\"{}\" data-python=\"{id}\">{id}{version}</th>",
            p.scenarios.len()
        );
        for s in &p.scenarios {
            let _ = write!(
                scenarios,
                "<th scope=\"col\" data-python=\"{id}\" data-scenario=\"{s}\">{s}</th>"
            );
        }
    }
    format!("<thead>{groups}</tr>{scenarios}</tr></thead>")
}

type CellIndex<'a> = HashMap<(&'a str, &'a str, &'a str, Scenario), usize>;

/// One report's rows; with several reports, a first row names its matrix.
fn body(
    r: usize,
    report: &Report,
    several: bool,
    columns: &[PythonColumns],
    first_cell: &mut bool,
) -> String {
    let mut out = format!("<tbody data-report=\"{r}\">");
    if several {
        let width = 1 + columns.iter().map(|p| p.scenarios.len()).sum::<usize>();
        let _ = write!(
            out,
            "<tr class=\"report-row\"><th scope=\"rowgroup\" colspan=\"{width}\">{}</th></tr>",
            html(&report.matrix)
        );
    }
    let index: CellIndex = report
        .cells
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let k = &c.key;
            (
                (
                    k.target.as_str(),
                    k.module.as_str(),
                    k.python.as_str(),
                    k.scenario,
                ),
                i,
            )
        })
        .collect();
    let names = RowNames::new(report);
    for (target, module) in rows(report) {
        let _ = write!(
            out,
            "<tr data-target=\"{}\" data-module=\"{}\"><th scope=\"row\">{}</th>",
            html(target),
            html(module),
            html(&names.name(target, module))
        );
        for p in columns {
            for s in &p.scenarios {
                match index.get(&(target, module, p.id, *s)) {
                    Some(&c) => out.push_str(&cell(r, c, &report.cells[c], first_cell)),
                    None => out.push_str("<td class=\"none\">·</td>"),
                }
            }
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody>");
    out
}

/// (target, module) of each row, in the order the report's cells have them.
fn rows(report: &Report) -> Vec<(&str, &str)> {
    let mut rows: Vec<(&str, &str)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for c in &report.cells {
        let row = (c.key.target.as_str(), c.key.module.as_str());
        if seen.insert(row) {
            rows.push(row);
        }
    }
    rows
}

/// `<td class="cell o-crash" data-cell="R:C" …>crash✓</td>`: the first
/// cell of the page is the grid's one tab stop.
fn cell(r: usize, c: usize, cell: &CellResult, first_cell: &mut bool) -> String {
    let mut attributes = String::new();
    if let Some(change) = &cell.change {
        let _ = write!(attributes, " data-change=\"{}\"", change.change);
    }
    if let Some(expectation) = &cell.expectation {
        let _ = write!(attributes, " data-expect=\"{}\"", expectation.status);
    }
    let tabindex = if std::mem::take(first_cell) { 0 } else { -1 };
    format!(
        "<td class=\"cell {}\" data-cell=\"{r}:{c}\" data-outcome=\"{}\"{attributes} tabindex=\"{tabindex}\">{}</td>",
        outcome_class(cell.outcome),
        cell.outcome,
        html(&cell_label(cell))
    )
}
