//! JUnit XML (`--junit PATH`): what CI systems (Jenkins, GitLab, GitHub
//! test reporters) read. One `<testsuite>` per target, one `<testcase>`
//! per cell:
//!
//! - `classname` is `target/module`; the name carries the cell
//!   (`target[cp313-reinit]`, `target/module[…]` for a target that built
//!   several modules: the table's row name), since GitLab drops test cases
//!   whose names repeat;
//! - a cell that fails the run (by the run's `--fail-on` and
//!   expectations: [`CellResult::fails_under`]) is a `<failure>` with its
//!   summary as the message and its details as the text;
//! - `n/a`, and a failure the project expects, is `<skipped>`;
//! - anything else passes; a finding that does not fail the run
//!   (`shared-state`, `leak`) says its summary in `<system-out>`.
//!
//! Checked against the Jenkins JUnit XSD (`junit-10.xsd`) by the e2e tests.

use crate::cells::RowNames;
use crate::Format;
use extmatrix_core::Outcome;
use extmatrix_schema::{CellResult, ExpectationStatus, Report};
use std::fmt::Write;

/// `extmatrix run --junit`.
pub struct Junit;

impl Format for Junit {
    fn render(&self, report: &Report) -> String {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let failures = report.cells.iter().filter(|c| fails(report, c)).count();
        let _ = writeln!(
            out,
            "<testsuites name=\"extmatrix {}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" time=\"{}\">",
            attr(&report.matrix),
            report.cells.len(),
            seconds(report.wall_time_ms),
        );
        let names = RowNames::new(report);
        for target in crate::targets(report) {
            suite(&mut out, report, &names, target);
        }
        out.push_str("</testsuites>\n");
        out
    }
}

fn suite(out: &mut String, report: &Report, names: &RowNames, target: &str) {
    let cells: Vec<&CellResult> = report
        .cells
        .iter()
        .filter(|c| c.key.target == target)
        .collect();
    let failures = cells.iter().filter(|c| fails(report, c)).count();
    let skipped = cells
        .iter()
        .filter(|c| !fails(report, c) && skip_message(c).is_some())
        .count();
    let time: u64 = cells.iter().map(|c| c.duration_ms).sum();
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{}\">",
        attr(target),
        cells.len(),
        seconds(time),
    );
    for cell in cells {
        case(out, report, names, cell);
    }
    out.push_str("  </testsuite>\n");
}

fn case(out: &mut String, report: &Report, names: &RowNames, cell: &CellResult) {
    let k = &cell.key;
    let _ = write!(
        out,
        "    <testcase name=\"{}\" classname=\"{}\" time=\"{}\">",
        attr(&test_name(names, cell)),
        attr(&format!("{}/{}", k.target, k.module)),
        seconds(cell.duration_ms),
    );
    if fails(report, cell) {
        let _ = write!(
            out,
            "\n      <failure type=\"{}\" message=\"{}\">{}</failure>\n    ",
            cell.outcome,
            attr(&cell.details.summary),
            text(&details_text(cell)),
        );
    } else if let Some(message) = skip_message(cell) {
        let _ = write!(
            out,
            "\n      <skipped message=\"{}\"/>\n    ",
            attr(&message)
        );
    } else if !matches!(cell.outcome, Outcome::Pass | Outcome::Refused) {
        let _ = write!(
            out,
            "\n      <system-out>{}: {}</system-out>\n    ",
            cell.outcome,
            text(&cell.details.summary)
        );
    }
    out.push_str("</testcase>\n");
}

/// `module[cp313-reinit]`, or `target/module[…]` when the module's name
/// is not the target's: unique across the run, as CI systems need.
fn test_name(names: &RowNames, cell: &CellResult) -> String {
    let k = &cell.key;
    let row = names.name(&k.target, &k.module);
    format!("{row}[{}-{}]", k.python, k.scenario)
}

fn fails(report: &Report, cell: &CellResult) -> bool {
    match &report.status {
        Some(s) => cell.fails_under(s.fail_on, s.strict),
        None => cell.fails_run(),
    }
}

/// Why a cell that does not fail is skipped: `n/a`, or a failure the
/// project expects.
fn skip_message(cell: &CellResult) -> Option<String> {
    if cell.outcome == Outcome::NotApplicable {
        return Some(format!("n/a: {}", cell.details.summary));
    }
    let expected = cell
        .expectation
        .as_ref()
        .is_some_and(|e| e.status == ExpectationStatus::Met);
    (expected && cell.outcome != Outcome::Pass)
        .then(|| format!("expected {}: {}", cell.outcome, cell.details.summary))
}

/// A failure's text: what a reader of the CI page needs without the JSON.
pub(crate) fn details_text(cell: &CellResult) -> String {
    let d = &cell.details;
    let mut lines = vec![format!("{}: {}", cell.outcome, d.summary)];
    let mut add = |label: &str, value: Option<String>| {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            lines.push(format!("{label}: {v}"));
        }
    };
    add("reason", d.reason.map(|r| r.to_string()));
    add("step", d.step.as_ref().map(ToString::to_string));
    add("signal", d.signal.clone());
    add("exit code", d.exit_code.map(|c| c.to_string()));
    add("fatal error", d.fatal_error.clone());
    add(
        "expected",
        cell.expectation.as_ref().map(|e| {
            let ids: Vec<&str> = e.expected.iter().map(|o| o.id()).collect();
            format!("{} ({}, {})", ids.join(" or "), e.status, e.from.join(", "))
        }),
    );
    add(
        "change",
        cell.change.as_ref().map(|c| match c.was {
            Some(was) => format!("{} (was {was})", c.change),
            None => c.change.to_string(),
        }),
    );
    for e in &d.errors {
        add("raised", Some(format!("{}: {}", e.exc_type, e.message)));
        add("traceback", e.traceback.clone());
    }
    if let Some(build) = &d.build {
        add("build command", Some(build.command.clone()));
        add("build output", Some(build.output.clone()));
    }
    add("stderr (tail)", Some(d.stderr_tail.clone()));
    for note in &d.notes {
        add("note", Some(note.clone()));
    }
    lines.join("\n")
}

/// Milliseconds as the seconds JUnit writes (`SUREFIRE_TIME`: at most
/// three decimals).
fn seconds(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

/// `s` fit for an attribute value.
fn attr(s: &str) -> String {
    escape(s, true)
}

/// `s` fit for element text.
fn text(s: &str) -> String {
    escape(s, false)
}

/// XML's escapes, and every character XML 1.0 does not allow (a control
/// character from a crashing process's stderr) as U+FFFD: a report that
/// does not parse would lose every cell.
fn escape(s: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            '\n' if attribute => out.push_str("&#10;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || matches!(c, '\u{FFFE}' | '\u{FFFF}') => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample;
    use extmatrix_core::Scenario;
    use extmatrix_schema::{FailOn, RunStatus};

    #[test]
    fn every_cell_is_a_test_case_and_failures_follow_the_run() {
        let mut r = sample::report();
        r.cells.push(sample::cell(
            "b",
            "cp312",
            Scenario::SubinterpOwn,
            Outcome::NotApplicable,
        ));
        let xml = Junit.render(&r);
        assert_eq!(xml.matches("<testcase ").count(), 4, "{xml}");
        assert!(xml.contains("<testsuites name=\"extmatrix m.yaml\" tests=\"4\" failures=\"1\""));
        assert!(xml.contains("name=\"a[cp312-reimport]\" classname=\"a/a\" time=\"0.003\""));
        assert!(xml.contains("<failure type=\"crash\" message=\"why crash\">crash: why crash"));
        assert!(xml.contains("<skipped message=\"n/a: why n/a\"/>"));
        assert!(xml.contains("<system-out>shared-state: why shared-state</system-out>"));
        assert!(xml.contains(
            "<testsuite name=\"b\" tests=\"2\" failures=\"1\" errors=\"0\" skipped=\"1\""
        ));
    }

    #[test]
    fn an_expected_failure_is_skipped_and_a_policy_of_never_fails_nothing() {
        let mut r = sample::report();
        r.cells[2].expectation = sample::expecting_crash(ExpectationStatus::Met);
        let xml = Junit.render(&r);
        assert!(xml.contains("failures=\"0\""), "{xml}");
        assert!(xml.contains("<skipped message=\"expected crash: why crash\"/>"));
        r.cells[2].expectation = None;
        r.status = Some(RunStatus {
            fail_on: FailOn::Never,
            strict: false,
            exit_code: 0,
            because: vec![],
        });
        assert!(!Junit.render(&r).contains("<failure"));
    }

    #[test]
    fn a_suite_counts_what_it_skips_and_a_failure_says_only_what_is_known() {
        let mut r = sample::report();
        r.cells[2].expectation = sample::expecting_crash(ExpectationStatus::Met);
        let xml = Junit.render(&r);
        assert!(
            xml.contains(
                "<testsuite name=\"b\" tests=\"1\" failures=\"0\" errors=\"0\" skipped=\"1\""
            ),
            "{xml}"
        );
        assert!(
            xml.contains(
                "<testsuite name=\"a\" tests=\"2\" failures=\"0\" errors=\"0\" skipped=\"0\""
            ),
            "{xml}"
        );
        let details = details_text(&r.cells[2]);
        assert_eq!(
            details,
            "crash: why crash\nexpected: crash (met, x.yaml:3:5)"
        );
        assert_eq!(
            text("say \"hi\""),
            "say \"hi\"",
            "quotes need no escape in text"
        );
    }

    #[test]
    fn text_from_a_crashing_process_stays_well_formed_xml() {
        assert_eq!(
            attr("a<\"b\"&\n\u{1b}[31m"),
            "a&lt;&quot;b&quot;&amp;&#10;\u{FFFD}[31m"
        );
        assert_eq!(text("x\n<y>\u{0}"), "x\n&lt;y&gt;\u{FFFD}");
        assert_eq!(seconds(12_345), "12.345");
        assert_eq!(seconds(7), "0.007");
    }

    #[test]
    fn a_test_case_is_named_by_its_row_and_cell() {
        let mut r = sample::report();
        let names = RowNames::new(&r);
        assert_eq!(test_name(&names, &r.cells[1]), "a[cp312-reimport]");
        let mut other = sample::cell("a", "cp312", Scenario::Import, Outcome::Pass);
        other.key.module = "a._speedups".into();
        r.cells.push(other);
        let names = RowNames::new(&r);
        assert_eq!(test_name(&names, &r.cells[1]), "a/a[cp312-reimport]");
        assert_eq!(
            test_name(&names, &r.cells[3]),
            "a/a._speedups[cp312-import]"
        );
    }
}
