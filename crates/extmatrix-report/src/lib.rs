//! Render a [`Report`]: one file per output format behind one interface,
//! [`Format`] (the shape of ripgrep's `printer/`).
//!
//! Every format reads the same `extmatrix_schema::Report`, so the terminal
//! table, the JSON and the later ones (HTML, JUnit, Markdown) cannot
//! disagree. A new format is a new file here implementing `Format`; writing
//! it to a path is [`write_report`], once for all of them, by the rules of
//! `write.rs` (atomic for regular files, never replacing a link, a FIFO, a
//! device or a descriptor); [`check_report_path`] tells before a run
//! whether a path can take a report.

mod annotations;
mod cells;
mod compress;
mod html;
mod json;
mod junit;
mod markdown;
mod terminal;
mod verdicts;
mod write;

pub use annotations::{GithubAnnotations, ANNOTATIONS_PER_KIND};
pub use cells::{all_expected, cell_label, outcome_label, CellsByKey, ALSO_WITHOUT_TARGET_MARK};
pub use compress::{finding_where, pythons_in_words, where_it_shows};
pub use html::{html_page, Html};
pub use json::Json;
pub use junit::Junit;
pub use markdown::{Markdown, GITHUB_SUMMARY_LIMIT};
pub use terminal::{terminal_width, TableStyle, Terminal};
pub use write::{append_text, check_report_path, report_dir, write_text, MAX_LINKS};

use extmatrix_schema::Report;
use std::path::Path;

/// An output format of the report.
pub trait Format {
    /// The whole report in this format.
    fn render(&self, report: &Report) -> String;
}

/// Write `report` in `format` to `path`. A regular file or a new path:
/// through a temporary file and a rename (a reader never sees half a
/// report; a new file gets the umask's mode, a replaced one keeps its
/// own). A symlink is followed and its target written; a FIFO or device
/// is opened and written; `/dev/stdout` and the like are written through
/// the descriptor they name; a directory, block device or socket is an
/// error. The rules: `write.rs`.
pub fn write_report(format: &dyn Format, report: &Report, path: &Path) -> std::io::Result<()> {
    write::write_text(&format.render(report), path)
}

/// The targets of a report, in its order.
pub(crate) fn targets(report: &Report) -> Vec<&str> {
    let mut targets: Vec<&str> = Vec::new();
    for c in &report.cells {
        if !targets.contains(&c.key.target.as_str()) {
            targets.push(&c.key.target);
        }
    }
    targets
}

#[cfg(test)]
pub(crate) mod sample {
    use extmatrix_core::{Outcome, Scenario};
    use extmatrix_schema::{
        CellKey, CellResult, Details, ExpectationCheck, ExpectationStatus, Finding, FindingCell,
        FindingKind, PythonEntry, Report,
    };

    pub fn cell(target: &str, python: &str, scenario: Scenario, outcome: Outcome) -> CellResult {
        CellResult::new(
            CellKey {
                target: target.into(),
                module: target.into(),
                python: python.into(),
                scenario,
            },
            outcome,
            3,
            Details {
                summary: format!("why {outcome}"),
                ..Details::default()
            },
        )
    }

    /// An expectation of a crash, as `x.yaml:3:5` wrote it.
    pub fn expecting_crash(status: ExpectationStatus) -> Option<ExpectationCheck> {
        Some(ExpectationCheck {
            expected: vec![Outcome::Crash],
            status,
            from: vec!["x.yaml:3:5".into()],
        })
    }

    /// A crash finding of `target` in one cell.
    pub fn finding(target: &str, python: &str, scenario: Scenario) -> Finding {
        Finding {
            id: format!("crash:{target}:{target}:x"),
            kind: FindingKind::Crash,
            target: target.into(),
            module: target.into(),
            outcome: Outcome::Crash,
            reason: None,
            title: "SIGSEGV in `import`".into(),
            fix: "the code path".into(),
            fails_run: true,
            cells: vec![FindingCell {
                python: python.into(),
                scenario,
            }],
        }
    }

    /// A default build of `version` known as `id`.
    pub fn python(id: &str, version: &str) -> PythonEntry {
        PythonEntry {
            id: id.into(),
            version: version.into(),
            debug: false,
            free_threaded: false,
            path: format!("/usr/bin/python{version}"),
            found_via: "pyenv".into(),
            configure_args: None,
        }
    }

    pub fn report() -> Report {
        Report::new(
            "m.yaml".into(),
            vec![python("cp312", "3.12.1")],
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
