//! The terminal matrix: a row per target (module) × scenario, a column per
//! interpreter; then "Worth a look", one line per finding (a culprit and
//! where it shows, `compress.rs`) with what to change, a summary, and what expectations and a
//! baseline say (`verdicts.rs`).

use crate::cells::{
    all_expected, cell_label, finding_change, outcome_label, CellsByKey, RowNames,
    ALSO_WITHOUT_TARGET_MARK,
};
use crate::compress::finding_where;
use crate::{verdicts, Format};
use comfy_table::{presets, Attribute, Cell, Color, ContentArrangement, Table};
use extmatrix_core::{Outcome, Reason, Scenario};
use extmatrix_schema::{CellResult, Finding, Report};

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
        out.push_str(&worth_a_look(report, self.0.width));
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

fn table(report: &Report, style: TableStyle) -> Table {
    let names = RowNames::new(report);
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
                Some(c) if i == 0 => names.name(&c.key.target, &c.key.module),
                _ => String::new(),
            };
            let mut row = vec![Cell::new(label), Cell::new(scenario.id())];
            for py in &report.pythons {
                row.push(match of_row(&py.id, *scenario) {
                    Some(c) if style.color => Cell::new(cell_label(c)).fg(color_of(c)),
                    Some(c) => Cell::new(cell_label(c)),
                    None => Cell::new("·"),
                });
            }
            table.add_row(row);
        }
    }
    table
}

/// One line per finding, most severe first (the order `extmatrix-verdict`
/// gives them), with where it shows and what to change.
fn worth_a_look(report: &Report, width: Option<u16>) -> String {
    if report.findings.is_empty() {
        return String::new();
    }
    let mut out = String::new();
    if report
        .findings
        .iter()
        .any(|f| f.reason == Some(Reason::AlsoWithoutTarget))
    {
        out.push_str(&format!(
            "\n{ALSO_WITHOUT_TARGET_MARK} also without the target: the same scenario failed the same way \
             importing only what the target imports (the interpreter's failure; does not fail the run)\n"
        ));
    }
    out.push_str("\nWorth a look:\n");
    let names = RowNames::new(report);
    let cells = CellsByKey::new(report);
    for f in &report.findings {
        let line = finding_line(report, &names, &cells, f);
        out.push_str(&wrapped(&line, "  ", "      ", width));
        out.push_str(&wrapped(
            &format!("fix: {}", f.fix),
            "      ",
            "        ",
            width,
        ));
    }
    out
}

/// `outcome · target · title [reason] (expected) — where it shows`.
fn finding_line(report: &Report, names: &RowNames, cells: &CellsByKey, f: &Finding) -> String {
    let outcome = outcome_label(f.outcome, f.reason);
    let reason = f.reason.map_or_else(String::new, |r| format!(" [{r}]"));
    let expected = if all_expected(cells, f) {
        " (expected)"
    } else {
        ""
    };
    let shows = finding_where(report, f);
    let change = finding_change(cells, f);
    format!(
        "{outcome} · {} · {}{reason}{expected}{change} — {shows}",
        names.name(&f.target, &f.module),
        f.title
    )
}

/// `text` as lines of at most `width` columns (when there is a width),
/// the first after `first`, the others after `then`; a word longer than a
/// line is left whole.
fn wrapped(text: &str, first: &str, then: &str, width: Option<u16>) -> String {
    let Some(width) = width.map(usize::from) else {
        return format!("{first}{text}\n");
    };
    let mut out = String::new();
    let mut line = first.to_owned();
    let mut empty = true;
    for word in text.split(' ') {
        if !empty && line.chars().count() + 1 + word.chars().count() > width {
            out.push_str(&line);
            out.push('\n');
            line = then.to_owned();
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    out.push_str(&line);
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample;
    use extmatrix_schema::{Details, ExpectationCheck, PythonEntry, SharedObject};

    fn plain(report: &Report) -> String {
        Terminal(TableStyle {
            color: false,
            width: None,
        })
        .render(report)
    }

    /// The report as the engine leaves it: its findings filled in.
    fn concluded(mut r: Report) -> Report {
        r.findings = extmatrix_verdict::findings(&r.cells);
        r
    }

    fn python(id: &str) -> PythonEntry {
        sample::python(id, "3.x")
    }

    fn static_type() -> Details {
        let obj: SharedObject = serde_json::from_value(serde_json::json!({
            "label": "main/subinterp", "path": "Thing", "type": "type", "addr": "0x1",
            "lives": "extension", "immortal": false, "interned": false,
            "symbol": "Thing_Type", "section": ".data"}))
        .unwrap();
        Details {
            summary: "Thing is shared".into(),
            shared_objects: vec![obj],
            ..Details::default()
        }
    }

    fn segfault() -> Details {
        Details {
            summary: "SIGSEGV".into(),
            signal: Some("SIGSEGV".into()),
            step: Some("cycle 2: import".parse().unwrap()),
            ..Details::default()
        }
    }

    /// Three interpreters; `liar` shares its static type on every one in
    /// `reimport` and on two in every subinterpreter scenario; `crasher`
    /// crashes in `reinit` on all three.
    fn three_pythons() -> Report {
        let mut cells = Vec::new();
        for py in ["cp311", "cp312", "cp313"] {
            let mut shared = sample::cell("liar", py, Scenario::Reimport, Outcome::SharedState);
            shared.details = static_type();
            cells.push(shared);
            for s in [Scenario::SubinterpLegacy, Scenario::SubinterpOwn] {
                let (outcome, details) = match py {
                    "cp311" => (Outcome::NotApplicable, Details::default()),
                    _ => (Outcome::DeclarationMismatch, static_type()),
                };
                let mut c = sample::cell("liar", py, s, outcome);
                c.details = details;
                cells.push(c);
            }
            let mut crash = sample::cell("crasher", py, Scenario::Reinit, Outcome::Crash);
            crash.details = segfault();
            cells.push(crash);
            cells.push(sample::cell("crasher", py, Scenario::Import, Outcome::Pass));
        }
        let pythons = ["cp311", "cp312", "cp313"].map(python).to_vec();
        concluded(Report::new("m.yaml".into(), pythons, cells, 1500))
    }

    fn worth_a_look_lines(text: &str) -> Vec<&str> {
        let from = text
            .find("Worth a look:\n")
            .expect("a Worth a look section");
        text[from..]
            .lines()
            .skip(1)
            .take_while(|l| !l.is_empty())
            .collect()
    }

    #[test]
    fn each_finding_is_one_line_with_where_it_shows_and_its_fix() {
        let r = three_pythons();
        assert_eq!(r.findings.len(), 2);
        let text = plain(&r);
        assert!(!text.contains('\u{1b}'), "no escape codes without colour");
        let lines = worth_a_look_lines(&text);
        assert_eq!(
            lines,
            [
                "  crash · crasher · SIGSEGV in `import` — reinit on cp311–cp313",
                &format!("      fix: {}", r.findings[0].fix),
                "  declaration-mismatch · liar · static `Thing_Type` (.data of extension) is one \
                 object for every instance: Thing (type) — reimport on cp311–cp313; subinterp-* on \
                 cp312, cp313",
                &format!("      fix: {}", r.findings[1].fix),
            ]
        );
        assert!(text.contains("15 cells in 1.5s:"), "{text}");
    }

    #[test]
    fn nothing_to_look_at_says_nothing() {
        let mut r = three_pythons();
        r.findings.clear();
        assert!(!plain(&r).contains("Worth a look"));
    }

    #[test]
    fn long_lines_wrap_at_the_terminal_width() {
        let r = three_pythons();
        let text = Terminal(TableStyle {
            color: false,
            width: Some(60),
        })
        .render(&r);
        let lines = worth_a_look_lines(&text);
        assert!(lines.len() > 4, "{text}");
        for l in &lines {
            assert!(l.chars().count() <= 60 || !l.trim().contains(' '), "{l:?}");
        }
        let starts: Vec<&&str> = lines
            .iter()
            .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
            .collect();
        assert_eq!(starts.len(), 2, "one line starts each finding: {text}");
    }

    #[test]
    fn a_failure_the_control_shares_is_marked_with_its_reason() {
        let mut r = three_pythons();
        assert!(!plain(&r).contains("also without the target"));
        for c in r.cells.iter_mut().filter(|c| c.outcome == Outcome::Crash) {
            c.details.reason = Some(Reason::AlsoWithoutTarget);
        }
        let r = concluded(r);
        let text = plain(&r);
        assert!(text.contains("┆ crash*"), "{text}");
        assert!(text.contains("\n* also without the target:"), "{text}");
        assert!(
            text.contains(
                "  crash* · crasher · SIGSEGV in `import`, also without the target \
                 [also-without-target] — reinit on cp311–cp313\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn a_finding_whose_every_cell_was_expected_says_so() {
        let mut r = three_pythons();
        let met = ExpectationCheck {
            expected: vec![Outcome::Crash],
            status: extmatrix_schema::ExpectationStatus::Met,
            from: vec!["m.yaml:1:1".into()],
        };
        let crashes: Vec<usize> = (0..r.cells.len())
            .filter(|&i| r.cells[i].outcome == Outcome::Crash)
            .collect();
        r.cells[crashes[0]].expectation = Some(met.clone());
        let text = plain(&r);
        assert!(!text.contains("(expected)"), "one cell of three: {text}");
        for i in crashes {
            r.cells[i].expectation = Some(met.clone());
        }
        let text = plain(&r);
        assert!(
            text.contains("  crash · crasher · SIGSEGV in `import` (expected) — reinit"),
            "{text}"
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
        let r = concluded(r);
        let text = plain(&r);
        assert!(text.contains("┆ build-failed (refused) │"), "{text}");
        assert!(text.contains("┆ build-failed           │"), "{text}");
        let refused = "  build-failed (refused) · refuses · pip wheel failed: refuses \
                       [build-refused-by-package] — the build for cp312\n";
        assert_eq!(text.matches(refused).count(), 1, "{text}");
        let broken = "  build-failed · broken · pip wheel failed: broken — the build for cp312\n";
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
        let text = plain(&concluded(r));
        assert!(
            text.contains("  hang · a/a._speedups · hangs in `start` — import on cp312"),
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
        r.pythons.push(sample::python("cp313", "3.13.0"));
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
