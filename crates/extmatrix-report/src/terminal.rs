//! The terminal matrix: a row per target (module) × scenario, a column per
//! interpreter; then one line per cell worth a look, and a summary (with
//! what expectations and a baseline say: `verdicts.rs`).

use crate::{verdicts, Format};
use comfy_table::{presets, Attribute, Cell, Color, ContentArrangement, Table};
use extmatrix_core::{Outcome, Reason, Scenario};
use extmatrix_schema::{CellResult, Report};

/// How the terminal table is drawn.
#[derive(Debug, Clone, Copy)]
pub struct TableStyle {
    pub color: bool,
    /// Columns available; `None` = no limit (not a terminal).
    pub width: Option<u16>,
}

/// The table format.
pub struct Terminal(pub TableStyle);

/// The width of the terminal on stdout, if stdout is one.
pub fn terminal_width() -> Option<u16> {
    use std::io::IsTerminal;
    if std::io::stdout().is_terminal() {
        Table::new().width()
    } else {
        None
    }
}

/// A cell's colour: its outcome's, and a refusal's for a build the package
/// refused (correct behaviour of the package, like an import it refuses).
fn color_of(c: &CellResult) -> Color {
    if c.details.reason == Some(Reason::BuildRefusedByPackage) {
        return color_of_outcome(Outcome::Refused);
    }
    color_of_outcome(c.outcome)
}

fn color_of_outcome(o: Outcome) -> Color {
    match o {
        Outcome::Pass => Color::Green,
        Outcome::Refused => Color::Cyan,
        Outcome::NotApplicable => Color::DarkGrey,
        Outcome::SharedState | Outcome::StateClobbered | Outcome::Leak | Outcome::GilEnabled => {
            Color::Yellow
        }
        Outcome::DeclarationMismatch | Outcome::ImportError | Outcome::BuildFailed => Color::Red,
        Outcome::Crash | Outcome::Hang | Outcome::HarnessError => Color::Magenta,
    }
}

impl Format for Terminal {
    fn render(&self, report: &Report) -> String {
        let mut out = table(report, self.0).to_string();
        out.push('\n');
        out.push_str(&verdicts::legend(report));
        out.push_str(&worth_a_look(report));
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
        if let Some(i) = &report.interrupted {
            out.push_str(&format!(
                "Interrupted by {}: {} cells did not run (· in the table).\n",
                i.signal,
                i.not_run.len()
            ));
        }
        out.push_str(&verdicts::end_summary(report));
        out
    }
}

/// A row's name: the target, or `target/module` when the target built
/// several modules.
fn row_label(report: &Report, cell: &CellResult) -> String {
    let several = report
        .cells
        .iter()
        .any(|c| c.key.target == cell.key.target && c.key.module != cell.key.module);
    if several {
        format!("{}/{}", cell.key.target, cell.key.module)
    } else {
        cell.key.target.clone()
    }
}

fn table(report: &Report, style: TableStyle) -> Table {
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

    let mut rows: Vec<(&str, &str)> = Vec::new();
    let mut scenarios: Vec<Scenario> = Vec::new();
    for c in &report.cells {
        if !rows.contains(&(c.key.target.as_str(), c.key.module.as_str())) {
            rows.push((&c.key.target, &c.key.module));
        }
        if !scenarios.contains(&c.key.scenario) {
            scenarios.push(c.key.scenario);
        }
    }
    for (target, module) in rows {
        let of_row = |python: &str, scenario: Scenario| {
            report.cells.iter().find(|c| {
                c.key.target == target
                    && c.key.module == module
                    && c.key.python == python
                    && c.key.scenario == scenario
            })
        };
        for (i, scenario) in scenarios.iter().enumerate() {
            let label = match report.pythons.iter().find_map(|p| of_row(&p.id, *scenario)) {
                Some(c) if i == 0 => row_label(report, c),
                _ => String::new(),
            };
            let mut row = vec![Cell::new(label), Cell::new(scenario.id())];
            for py in &report.pythons {
                row.push(match of_row(&py.id, *scenario) {
                    Some(c) if style.color => Cell::new(cell_text(c)).fg(color_of(c)),
                    Some(c) => Cell::new(cell_text(c)),
                    None => Cell::new("·"),
                });
            }
            table.add_row(row);
        }
    }
    table
}

/// What marks a cell whose failure its control shares (the interpreter's
/// failure, which does not fail the run).
const ALSO_WITHOUT_TARGET_MARK: &str = "*";

/// A cell of the table: its outcome, marked when the control failed the
/// same way, or when the build failed because the package refused the
/// interpreter (not a broken build).
///
/// Then what expectations and a baseline say of it (`verdicts.rs`):
/// `crash✓` (expected), `hang (expected crash)`, `crash (was pass)`.
fn cell_text(c: &CellResult) -> String {
    let also_without_target = match c.details.reason {
        Some(Reason::AlsoWithoutTarget) => ALSO_WITHOUT_TARGET_MARK,
        _ => "",
    };
    let mut notes = Vec::new();
    if c.details.reason == Some(Reason::BuildRefusedByPackage) {
        notes.push("refused".to_owned());
    }
    notes.extend(verdicts::cell_notes(c));
    let mut text = format!(
        "{}{also_without_target}{}",
        c.outcome,
        verdicts::outcome_mark(c)
    );
    if !notes.is_empty() {
        text.push_str(&format!(" ({})", notes.join(", ")));
    }
    text
}

fn worth_a_look(report: &Report) -> String {
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
    if notable.is_empty() {
        return String::new();
    }
    let mut out = String::new();
    if report
        .cells
        .iter()
        .any(|c| c.details.reason == Some(Reason::AlsoWithoutTarget))
    {
        out.push_str(&format!(
            "\n{ALSO_WITHOUT_TARGET_MARK} also without the target: the same scenario failed the same way \
             importing only what the target imports (the interpreter's failure; does not fail the run)\n"
        ));
    }
    out.push_str("\nWorth a look:\n");
    let mut lines: Vec<String> = Vec::new();
    for c in notable {
        let reason = c
            .details
            .reason
            .map_or_else(String::new, |r| format!(" [{r}]"));
        // A target builds once per interpreter, for every scenario: one line.
        let what = match c.outcome {
            Outcome::BuildFailed => "build".to_owned(),
            _ => c.key.scenario.to_string(),
        };
        let line = format!(
            "  {} · {} · {what}: {}{reason} — {}\n",
            row_label(report, c),
            c.key.python,
            c.outcome,
            c.details.summary
        );
        if !lines.contains(&line) {
            lines.push(line);
        }
    }
    out.extend(lines);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample;

    fn plain(report: &Report) -> String {
        Terminal(TableStyle {
            color: false,
            width: None,
        })
        .render(report)
    }

    #[test]
    fn table_has_every_cell_and_lists_the_notable_ones() {
        let text = plain(&sample::report());
        assert!(!text.contains('\u{1b}'), "no escape codes without colour");
        assert!(text.contains("cp312"));
        assert!(text.contains("a · cp312 · reimport: shared-state — why shared-state"));
        assert!(text.contains("b · cp312 · import: crash — why crash"));
        assert!(
            !text.contains("a · cp312 · import"),
            "pass cells are not listed"
        );
        assert!(text.contains("3 cells in 1.5s: 1 pass, 1 shared-state, 1 crash"));
        let colored = Terminal(TableStyle {
            color: true,
            width: Some(80),
        })
        .render(&sample::report());
        assert!(colored.contains('\u{1b}'));
    }

    #[test]
    fn a_failure_the_control_shares_is_marked_with_its_reason() {
        let mut r = sample::report();
        assert!(!plain(&r).contains("also without the target"));
        r.cells[2].details.reason = Some(Reason::AlsoWithoutTarget);
        r.cells[1].details.reason = Some(Reason::CythonInterpreterChange);
        let text = plain(&r);
        assert!(text.contains("┆ crash*"), "{text}");
        assert!(text.contains("\n* also without the target:"), "{text}");
        assert!(text.contains("b · cp312 · import: crash [also-without-target] — why crash"));
        assert!(
            text.contains("a · cp312 · reimport: shared-state [cython-interpreter-change] — why")
        );
    }

    #[test]
    fn a_refused_build_is_told_apart_from_a_broken_one_once_per_interpreter() {
        let mut r = sample::report();
        for (scenario, target) in [
            (Scenario::Import, "refuses"),
            (Scenario::Reimport, "refuses"),
            (Scenario::Import, "broken"),
            (Scenario::Reimport, "broken"),
        ] {
            let mut c = sample::cell(target, "cp312", scenario, Outcome::BuildFailed);
            c.details.summary = format!("pip wheel failed: {target}");
            if target == "refuses" {
                c.details.reason = Some(Reason::BuildRefusedByPackage);
            }
            r.cells.push(c);
        }
        let text = plain(&r);
        assert!(text.contains("┆ build-failed (refused) │"), "{text}");
        assert!(text.contains("┆ build-failed           │"), "{text}");
        let refused = "refuses · cp312 · build: build-failed [build-refused-by-package] — pip wheel failed: refuses\n";
        assert_eq!(text.matches(refused).count(), 1, "{text}");
        let broken = "broken · cp312 · build: build-failed — pip wheel failed: broken\n";
        assert_eq!(text.matches(broken).count(), 1, "{text}");
        let colour = |i: usize| color_of(&r.cells[i]);
        assert_eq!(colour(3), Color::Cyan);
        assert_eq!(colour(5), Color::Red);
    }

    #[test]
    fn an_interrupted_run_says_so_and_how_much_did_not_run() {
        let mut r = sample::report();
        assert!(!plain(&r).contains("Interrupted"));
        let key = r.cells.pop().unwrap().key;
        r.interrupted = Some(extmatrix_schema::Interruption {
            signal: "SIGTERM".into(),
            not_run: vec![key],
        });
        let text = plain(&r);
        assert!(
            text.contains("Interrupted by SIGTERM: 1 cells did not run (· in the table)."),
            "{text}"
        );
    }

    #[test]
    fn a_target_with_several_modules_gets_a_row_per_module() {
        let mut r = sample::report();
        let mut other = sample::cell("a", "cp312", Scenario::Import, Outcome::Hang);
        other.key.module = "a._speedups".into();
        r.cells.push(other);
        let text = plain(&r);
        assert!(
            text.contains("a/a._speedups · cp312 · import: hang"),
            "{text}"
        );
        assert!(text.contains("│ a/a "), "{text}");
    }
}

#[cfg(test)]
mod table_tests {
    use super::*;
    use crate::sample;

    #[test]
    fn every_cell_is_in_its_row_and_column() {
        let mut r = sample::report();
        r.pythons.push(extmatrix_schema::PythonEntry {
            id: "cp313".into(),
            version: "3.13.0".into(),
            debug: false,
            free_threaded: false,
            path: "/y".into(),
        });
        r.cells.push(sample::cell(
            "b",
            "cp313",
            Scenario::Reimport,
            Outcome::Refused,
        ));
        let text = table(
            &r,
            TableStyle {
                color: false,
                width: None,
            },
        )
        .to_string();
        let rows: Vec<Vec<&str>> = text
            .lines()
            .filter(|l| l.starts_with('│'))
            .map(|l| l.trim_matches('│').split('┆').map(str::trim).collect())
            .collect();
        assert_eq!(
            rows,
            [
                vec!["target", "scenario", "cp312", "cp313"],
                vec!["a", "import", "pass", "·"],
                vec!["", "reimport", "shared-state", "·"],
                vec!["b", "import", "crash", "·"],
                vec!["", "reimport", "·", "refused"],
            ]
        );
    }

    #[test]
    fn outcomes_are_coloured_only_when_asked() {
        let coloured = table(
            &sample::report(),
            TableStyle {
                color: true,
                width: None,
            },
        )
        .to_string();
        let green_pass = Cell::new("pass").fg(Color::Green);
        let mut one = Table::new();
        one.enforce_styling().add_row(vec![green_pass]);
        let escape = one.to_string();
        let start = escape.find('\u{1b}').unwrap();
        let code = &escape[start..escape[start..].find('m').unwrap() + start + 1];
        assert!(coloured.contains(&format!("{code} pass")), "{coloured:?}");
    }
}
