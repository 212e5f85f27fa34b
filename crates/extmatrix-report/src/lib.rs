//! Render a [`Report`]: one file per output format behind one interface,
//! [`Format`] (the shape of ripgrep's `printer/`).
//!
//! Every format reads the same `extmatrix_schema::Report`, so the terminal
//! table, the JSON and the later ones (HTML, JUnit, Markdown) cannot
//! disagree. A new format is a new file here implementing `Format`; writing
//! it to a path is [`write_report`], once for all of them.

mod json;
mod terminal;

pub use json::Json;
pub use terminal::{terminal_width, TableStyle, Terminal};

use extmatrix_schema::Report;
use std::path::Path;

/// An output format of the report.
pub trait Format {
    /// The whole report in this format.
    fn render(&self, report: &Report) -> String;
}

/// The directory a report at `path` is written in (and its temporary file).
pub fn report_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Write `report` in `format` to `path` through a temporary file and a
/// rename: a reader never sees half a report.
pub fn write_report(format: &dyn Format, report: &Report, path: &Path) -> std::io::Result<()> {
    let mut tmp = tempfile::NamedTempFile::new_in(report_dir(path))?;
    std::io::Write::write_all(&mut tmp, format.render(report).as_bytes())?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
pub(crate) mod sample {
    use extmatrix_core::{Outcome, Scenario};
    use extmatrix_schema::{CellKey, CellResult, Details, PythonEntry, Report};

    pub fn cell(target: &str, python: &str, scenario: Scenario, outcome: Outcome) -> CellResult {
        CellResult {
            key: CellKey {
                target: target.into(),
                module: target.into(),
                python: python.into(),
                scenario,
            },
            outcome,
            duration_ms: 3,
            details: Details {
                summary: format!("why {outcome}"),
                ..Details::default()
            },
        }
    }

    pub fn report() -> Report {
        Report::new(
            "m.yaml".into(),
            vec![PythonEntry {
                id: "cp312".into(),
                version: "3.12.1".into(),
                debug: false,
                free_threaded: false,
                path: "/x".into(),
            }],
            vec![
                cell("a", "cp312", Scenario::Import, Outcome::Pass),
                cell("a", "cp312", Scenario::Reimport, Outcome::SharedState),
                cell("b", "cp312", Scenario::Import, Outcome::Crash),
            ],
            1500,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_report_is_the_rendered_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        let r = sample::report();
        write_report(&Json, &r, &path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), Json.render(&r));
        assert_eq!(report_dir(Path::new("r.json")), Path::new("."));
        assert_eq!(report_dir(&path), dir.path());
    }
}
