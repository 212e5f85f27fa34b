//! GitHub Actions annotations (printed when `GITHUB_ACTIONS=true`): one
//! `::error` per finding that fails the run, one `::warning` per other
//! finding — never one per cell, which would say the same thing nine
//! times. GitHub shows at most ten of each kind per step, so the most
//! severe ten of each are printed (findings come most severe first) and a
//! `::notice` says how many more the report holds.

use crate::cells::RowNames;
use crate::compress::finding_where;
use crate::Format;
use extmatrix_schema::{Finding, Report};
use std::fmt::Write;

/// What GitHub shows of each annotation kind per step.
pub const ANNOTATIONS_PER_KIND: usize = 10;

/// `::error`/`::warning` workflow commands for a report's findings.
pub struct GithubAnnotations;

impl Format for GithubAnnotations {
    fn render(&self, report: &Report) -> String {
        let mut out = String::new();
        let mut left_out = 0;
        let names = RowNames::new(report);
        for (command, fails) in [("error", true), ("warning", false)] {
            let of_kind: Vec<&Finding> = report
                .findings
                .iter()
                .filter(|f| f.fails_run == fails)
                .collect();
            for f in of_kind.iter().take(ANNOTATIONS_PER_KIND) {
                let _ = writeln!(
                    out,
                    "::{command} title={}::{}",
                    property(&title(&names, f)),
                    data(&format!(
                        "{} — {}. Fix: {}",
                        f.title,
                        finding_where(report, f),
                        f.fix
                    ))
                );
            }
            left_out += of_kind.len().saturating_sub(ANNOTATIONS_PER_KIND);
        }
        if left_out > 0 {
            let _ = writeln!(
                out,
                "::notice title=extmatrix::{}",
                data(&format!(
                    "{left_out} more findings than GitHub shows; the job summary and the JSON report have them all"
                ))
            );
        }
        out
    }
}

fn title(names: &RowNames, f: &Finding) -> String {
    let row = names.name(&f.target, &f.module);
    format!("extmatrix: {} in {row}", f.outcome)
}

/// A workflow command's message: `%`, CR and LF escaped.
fn data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A workflow command's property value: also `:` and `,`.
fn property(s: &str) -> String {
    data(s).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample;
    use extmatrix_core::{Outcome, Scenario};
    use extmatrix_schema::FindingKind;

    fn finding(i: usize, fails_run: bool) -> Finding {
        Finding {
            id: format!("f{i}"),
            kind: FindingKind::SharedObject,
            outcome: if fails_run {
                Outcome::Crash
            } else {
                Outcome::SharedState
            },
            title: format!("culprit {i}: 100%\nshared"),
            fix: "per-module state".into(),
            fails_run,
            ..sample::finding("a", "cp312", Scenario::Reimport)
        }
    }

    #[test]
    fn one_annotation_per_finding_at_most_ten_of_each_kind() {
        let mut r = sample::report();
        r.findings = (0..12).map(|i| finding(i, true)).collect();
        r.findings.extend((12..15).map(|i| finding(i, false)));
        let text = GithubAnnotations.render(&r);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines.iter().filter(|l| l.starts_with("::error ")).count(),
            10
        );
        assert_eq!(
            lines.iter().filter(|l| l.starts_with("::warning ")).count(),
            3
        );
        assert!(lines[0].starts_with("::error title=extmatrix%3A crash in a::culprit 0: 100%25%0Ashared — reimport on cp312. Fix: per-module state"), "{}", lines[0]);
        assert!(!text.contains("culprit 10:"), "the most severe ten only");
        assert_eq!(
            lines.last().unwrap(),
            &"::notice title=extmatrix::2 more findings than GitHub shows; the job summary and the JSON report have them all"
        );
        r.findings.truncate(3);
        assert!(!GithubAnnotations.render(&r).contains("::notice"));
    }
}
