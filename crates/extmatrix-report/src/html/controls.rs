//! What only the script brings to life: the filters above the grid (hidden
//! without JavaScript) and the details panel it fills from the JSON.

use super::escape::html;
use super::grid::PythonColumns;
use extmatrix_core::{Outcome, Scenario};
use extmatrix_schema::Report;
use std::fmt::Write;

/// `<form id="filters">`: a select per dimension (each with "all", value
/// ""), "regressed only", and the count of cells shown.
pub(super) fn filters_form(
    reports: &[Report],
    outcomes: impl Iterator<Item = Outcome>,
    columns: &[PythonColumns],
) -> String {
    let outcomes: Vec<String> = outcomes.map(|o| o.id().to_owned()).collect();
    let pythons: Vec<String> = columns.iter().map(|p| p.id.to_owned()).collect();
    let mut scenarios: Vec<Scenario> = Vec::new();
    for s in columns.iter().flat_map(|p| &p.scenarios) {
        if !scenarios.contains(s) {
            scenarios.push(*s);
        }
    }
    let scenarios: Vec<String> = scenarios.iter().map(|s| s.id().to_owned()).collect();
    let mut targets: Vec<String> = Vec::new();
    for t in reports.iter().flat_map(crate::targets) {
        if !targets.iter().any(|known| known == t) {
            targets.push(t.to_owned());
        }
    }
    let mut out = String::from("<form id=\"filters\" class=\"js-only\" aria-label=\"Filters\">");
    for (name, label, values) in [
        ("outcome", "Outcome", &outcomes),
        ("python", "Interpreter", &pythons),
        ("scenario", "Scenario", &scenarios),
        ("target", "Target", &targets),
    ] {
        out.push_str(&select(name, label, values));
    }
    out.push_str(
        "<label><input type=\"checkbox\" name=\"regressed\" value=\"1\"> regressed only</label>\
         <output id=\"shown-count\" aria-live=\"polite\"></output></form>",
    );
    out
}

fn select(name: &str, label: &str, values: &[String]) -> String {
    let mut out = format!("<label>{label} <select name=\"{name}\"><option value=\"\">all</option>");
    for v in values {
        let v = html(v);
        let _ = write!(out, "<option value=\"{v}\">{v}</option>");
    }
    out.push_str("</select></label>");
    out
}

/// `<aside id="details">`: closed; the script fills `.details-body` with a
/// cell's sections when one is opened.
pub(super) fn details_panel() -> &'static str {
    "<aside id=\"details\" hidden aria-labelledby=\"details-title\">\
     <div class=\"details-head\"><h2 id=\"details-title\">Details</h2>\
     <button type=\"button\" class=\"details-close\" aria-label=\"Close the details\">×</button></div>\
     <div class=\"details-body\"></div></aside>"
}
