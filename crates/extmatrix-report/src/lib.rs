//! Render verdicts: the [`Report`] value (the versioned JSON schema) and the
//! terminal matrix.
//!
//! The report is the one thing every renderer reads, so JSON, the terminal
//! table and the later ones (HTML, JUnit, Markdown, shard merge) cannot
//! disagree. `schema_version` changes whenever a field changes meaning or
//! disappears; adding a field does not change it.

use comfy_table::{presets, Attribute, Cell, Color, ContentArrangement, Table};
use extmatrix_core::{Outcome, Scenario};
use extmatrix_judge::Details;
use extmatrix_pythons::Python;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub schema_version: u32,
    pub tool: Tool,
    /// The matrix file, as given.
    pub matrix: String,
    pub wall_time_ms: u64,
    pub pythons: Vec<PythonEntry>,
    pub cells: Vec<CellResult>,
    /// Cells per outcome.
    pub summary: BTreeMap<Outcome, usize>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PythonEntry {
    pub id: String,
    pub version: String,
    pub debug: bool,
    pub free_threaded: bool,
    pub path: String,
}

impl From<&Python> for PythonEntry {
    fn from(p: &Python) -> Self {
        PythonEntry {
            id: p.id.clone(),
            version: p.version.to_string(),
            debug: p.debug,
            free_threaded: p.free_threaded,
            path: p.path.display().to_string(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CellResult {
    pub target: String,
    pub python: String,
    pub scenario: Scenario,
    pub outcome: Outcome,
    pub duration_ms: u64,
    pub details: Details,
}

/// The directory a JSON report at `path` is written in (and its temporary file).
pub fn json_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

impl Report {
    pub fn new(
        matrix: &Path,
        pythons: &[Python],
        cells: Vec<CellResult>,
        wall_time_ms: u64,
    ) -> Self {
        let mut summary = BTreeMap::new();
        for c in &cells {
            *summary.entry(c.outcome).or_insert(0) += 1;
        }
        Report {
            schema_version: SCHEMA_VERSION,
            tool: Tool {
                name: "extmatrix".into(),
                version: env!("CARGO_PKG_VERSION").into(),
            },
            matrix: matrix.display().to_string(),
            wall_time_ms,
            pythons: pythons.iter().map(PythonEntry::from).collect(),
            cells,
            summary,
        }
    }

    /// 0 when no cell failed the run (see `Outcome::fails_run`), else 1.
    pub fn exit_code(&self) -> i32 {
        i32::from(self.cells.iter().any(|c| c.outcome.fails_run()))
    }

    pub fn cell(&self, target: &str, python: &str, scenario: Scenario) -> Option<&CellResult> {
        self.cells
            .iter()
            .find(|c| c.target == target && c.python == python && c.scenario == scenario)
    }

    /// Write the JSON report to `path` through a temporary file and a
    /// rename: a reader never sees half a report.
    pub fn write_json(&self, path: &Path) -> std::io::Result<()> {
        let mut tmp = tempfile::NamedTempFile::new_in(json_dir(path))?;
        serde_json::to_writer_pretty(&mut tmp, self)?;
        std::io::Write::write_all(&mut tmp, b"\n")?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    }
}

fn color_of(o: Outcome) -> Color {
    match o {
        Outcome::Pass => Color::Green,
        Outcome::Refused => Color::Cyan,
        Outcome::NotApplicable => Color::DarkGrey,
        Outcome::SharedState | Outcome::GilEnabled => Color::Yellow,
        Outcome::ImportError | Outcome::BuildFailed => Color::Red,
        Outcome::Crash | Outcome::Hang | Outcome::HarnessError => Color::Magenta,
    }
}

/// How the terminal table is drawn.
#[derive(Debug, Clone, Copy)]
pub struct TableStyle {
    pub color: bool,
    /// Columns available; `None` = no limit (not a terminal).
    pub width: Option<u16>,
}

/// The width of the terminal on stdout, if stdout is one.
pub fn terminal_width() -> Option<u16> {
    use std::io::IsTerminal;
    if std::io::stdout().is_terminal() {
        Table::new().width()
    } else {
        None
    }
}

/// The matrix as a table: a row per target × scenario, a column per
/// interpreter; then one line per cell worth a look, and a summary.
pub fn render_terminal(report: &Report, style: TableStyle) -> String {
    let mut table = Table::new();
    table.load_style(presets::UTF8_FULL_CONDENSED);
    if style.color {
        table.enforce_styling();
    } else {
        table.force_no_tty();
    }
    match style.width {
        Some(w) => {
            table
                .set_width(w)
                .set_content_arrangement(ContentArrangement::Dynamic);
        }
        None => {
            table.set_content_arrangement(ContentArrangement::Disabled);
        }
    }
    let header = ["target", "scenario"]
        .into_iter()
        .map(String::from)
        .chain(report.pythons.iter().map(|p| p.id.clone()))
        .map(|h| {
            let c = Cell::new(h);
            if style.color {
                c.add_attribute(Attribute::Bold)
            } else {
                c
            }
        });
    table.set_header(header);

    let mut targets: Vec<&str> = Vec::new();
    let mut scenarios: Vec<Scenario> = Vec::new();
    for c in &report.cells {
        if !targets.contains(&c.target.as_str()) {
            targets.push(&c.target);
        }
        if !scenarios.contains(&c.scenario) {
            scenarios.push(c.scenario);
        }
    }
    for target in &targets {
        for (i, scenario) in scenarios.iter().enumerate() {
            let mut row = vec![
                Cell::new(if i == 0 { *target } else { "" }),
                Cell::new(scenario.id()),
            ];
            for py in &report.pythons {
                row.push(match report.cell(target, &py.id, *scenario) {
                    Some(c) if style.color => Cell::new(c.outcome.id()).fg(color_of(c.outcome)),
                    Some(c) => Cell::new(c.outcome.id()),
                    None => Cell::new("·"),
                });
            }
            table.add_row(row);
        }
    }

    let mut out = table.to_string();
    out.push('\n');
    let notable: Vec<&CellResult> = report
        .cells
        .iter()
        .filter(|c| {
            !matches!(
                c.outcome,
                Outcome::Pass | Outcome::NotApplicable | Outcome::Refused
            )
        })
        .collect();
    if !notable.is_empty() {
        out.push_str("\nWorth a look:\n");
        for c in notable {
            out.push_str(&format!(
                "  {} · {} · {}: {} — {}\n",
                c.target, c.python, c.scenario, c.outcome, c.details.summary
            ));
        }
    }
    let counts: Vec<String> = report
        .summary
        .iter()
        .map(|(o, n)| format!("{n} {o}"))
        .collect();
    out.push_str(&format!(
        "\n{} cells in {:.1}s: {}\n",
        report.cells.len(),
        report.wall_time_ms as f64 / 1000.0,
        counts.join(", ")
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(target: &str, python: &str, scenario: Scenario, outcome: Outcome) -> CellResult {
        CellResult {
            target: target.into(),
            python: python.into(),
            scenario,
            outcome,
            duration_ms: 3,
            details: Details {
                summary: format!("why {outcome}"),
                ..Details::default()
            },
        }
    }

    fn report() -> Report {
        let mut r = Report::new(
            Path::new("m.yaml"),
            &[],
            vec![
                cell("a", "cp312", Scenario::Import, Outcome::Pass),
                cell("a", "cp312", Scenario::Reimport, Outcome::SharedState),
                cell("b", "cp312", Scenario::Import, Outcome::Crash),
            ],
            1500,
        );
        r.pythons.push(PythonEntry {
            id: "cp312".into(),
            version: "3.12.1".into(),
            debug: false,
            free_threaded: false,
            path: "/x".into(),
        });
        r
    }

    #[test]
    fn table_has_every_cell_and_lists_the_notable_ones() {
        let text = render_terminal(
            &report(),
            TableStyle {
                color: false,
                width: None,
            },
        );
        assert!(!text.contains('\u{1b}'), "no escape codes without colour");
        assert!(text.contains("cp312"));
        assert!(text.contains("a · cp312 · reimport: shared-state — why shared-state"));
        assert!(text.contains("b · cp312 · import: crash — why crash"));
        assert!(
            !text.contains("a · cp312 · import"),
            "pass cells are not listed"
        );
        assert!(text.contains("3 cells in 1.5s: 1 pass, 1 shared-state, 1 crash"));
        let colored = render_terminal(
            &report(),
            TableStyle {
                color: true,
                width: Some(80),
            },
        );
        assert!(colored.contains('\u{1b}'));
    }

    #[test]
    fn json_is_versioned_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        let r = report();
        r.write_json(&path).unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(v["schema_version"], 1);
        assert_eq!(v["cells"][1]["outcome"], "shared-state");
        assert_eq!(v["cells"][1]["scenario"], "reimport");
        assert_eq!(v["summary"]["crash"], 1);
        let back: Report = serde_json::from_value(v).unwrap();
        assert_eq!(back.cells.len(), 3);
        assert_eq!(r.exit_code(), 1);
    }
}
