//! The HTML compatibility report: one self-contained page (no network, system
//! fonts, a print stylesheet) with the findings first, then the grid of
//! targets × (interpreter, scenario). The grid is plain HTML, usable without
//! JavaScript; the details of a cell are read on demand from the report's
//! JSON embedded in the page, so 6720 cells are not 6720 rendered panels.
//! Several reports (`extmatrix report a.json b.json --html`) share one page.
//!
//! The page's ids, classes and attributes are a contract with `html/app.js`
//! and the browser tests: docs/html-report.md and the brief of issue 18.

mod controls;
mod data;
mod escape;
mod findings;
mod grid;
mod meta;
mod summary;
#[cfg(test)]
mod tests;

use crate::Format;
use extmatrix_core::Outcome;
use extmatrix_schema::Report;

const STYLE: &str = include_str!("html/style.css");
const SCRIPT: &str = include_str!("html/app.js");

/// Nothing is fetched: no source but the page itself, and images only as
/// `data:` URLs (the leak charts are inline SVG).
const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:";

/// The HTML page of one report (`extmatrix run --html`).
pub struct Html;

impl Format for Html {
    fn render(&self, report: &Report) -> String {
        html_page(std::slice::from_ref(report))
    }
}

/// One page showing `reports` together: their run details, the counts and
/// the legend over all of them, their findings, and one grid whose columns
/// are every interpreter and scenario any of them ran, a `<tbody>` each.
pub fn html_page(reports: &[Report]) -> String {
    let counts = summary::counts(reports);
    let columns = grid::columns(reports);
    let matrices: Vec<&str> = reports.iter().map(|r| r.matrix.as_str()).collect();
    let title = escape::html(&format!("extmatrix: {}", matrices.join(", ")));
    let mut page =
        String::with_capacity(4096 + reports.iter().map(|r| r.cells.len() * 600).sum::<usize>());
    page.push_str(&format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{CONTENT_SECURITY_POLICY}\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <link rel=\"icon\" href=\"data:,\"><title>{title}</title><style>{STYLE}</style></head><body>\
         <header class=\"page-head\"><h1>extmatrix compatibility report</h1>\
         <p class=\"matrices\">{}</p></header><main>",
        escape::html(&matrices.join(" · "))
    ));
    // What a reader came for first: the counts, the findings, the grid;
    // the legend and the run's details (a screenful on their own with
    // seven interpreters) after them. No jump links: the fragment is the
    // filters' state, and following `#findings` would clear it.
    page.push_str(&summary::summary_section(reports, &counts));
    page.push_str(&findings::findings_section(reports));
    page.push_str(
        "<section id=\"matrix\" aria-labelledby=\"matrix-title\"><h2 id=\"matrix-title\">Grid</h2>",
    );
    page.push_str(&controls::filters_form(
        reports,
        counts.keys().copied(),
        &columns,
    ));
    page.push_str("<div class=\"grid-box\">");
    page.push_str(&grid::grid_table(reports, &columns));
    page.push_str("</div></section>");
    page.push_str(&summary::legend_section(reports, &counts));
    page.push_str(&meta::run_section(reports));
    page.push_str("</main>");
    page.push_str(controls::details_panel());
    page.push_str("<script type=\"application/json\" id=\"extmatrix-data\">");
    page.push_str(&data::data_json(reports));
    page.push_str("</script><script>");
    // A script element ends at the first `</script`, wherever it stands.
    page.push_str(&SCRIPT.replace("</script", "<\\/script"));
    page.push_str("</script></body></html>\n");
    page
}

/// `o-crash`: an outcome's class (`o-na` for `n/a`, a class name cannot
/// hold a `/` unescaped in a selector).
fn outcome_class(outcome: Outcome) -> String {
    format!("o-{}", outcome.id().replace('/', ""))
}

/// `<span class="badge o-crash">crash</span>`: an outcome as a word on its colour.
fn badge(outcome: Outcome) -> String {
    format!(
        "<span class=\"badge {}\">{outcome}</span>",
        outcome_class(outcome)
    )
}
