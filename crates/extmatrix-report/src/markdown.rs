//! The Markdown summary (`--markdown PATH`, and `$GITHUB_STEP_SUMMARY` on
//! GitHub Actions): the status, the counts, the findings, then the grid
//! per target, folded (`<details>`).
//!
//! GitHub shows at most 1 MiB of a step's summary and drops the rest, so
//! the summary fits its budget by giving up detail in order: first the
//! grids (each target becomes one line of counts), then the findings past
//! the ones that fit (the JSON report has them all). What fails the run
//! comes first, so it is the last thing to go.

use crate::cells::{all_expected, cell_label, finding_change, outcome_label, CellsByKey, RowNames};
use crate::compress::finding_where;
use crate::verdicts::{comparison_line, expectations_line};
use crate::Format;
use extmatrix_core::Outcome;
use extmatrix_schema::{Change, Finding, Report};
use std::collections::BTreeMap;
use std::fmt::Write;

/// What GitHub keeps of one step's summary.
pub const GITHUB_SUMMARY_LIMIT: usize = 1024 * 1024;

/// `extmatrix run --markdown`: at most `budget` bytes.
pub struct Markdown {
    pub budget: usize,
}

impl Default for Markdown {
    fn default() -> Self {
        Markdown {
            budget: GITHUB_SUMMARY_LIMIT,
        }
    }
}

impl Format for Markdown {
    fn render(&self, report: &Report) -> String {
        let head = head(report);
        let grids = grids(report);
        let findings = findings(report, usize::MAX);
        if head.len() + findings.len() + grids.len() <= self.budget {
            return head + &findings + &grids;
        }
        let collapsed = collapsed_grids(report);
        if head.len() + findings.len() + collapsed.len() <= self.budget {
            return head + &findings + &collapsed;
        }
        let cut = self.budget.saturating_sub(head.len());
        let shortest = head + &self::findings(report, cut);
        if shortest.len() <= self.budget {
            return shortest;
        }
        // Earlier steps left too little: a line that says so, or nothing
        // (GitHub drops a whole summary past its limit).
        let notice = format!(
            "extmatrix: `{}`: the summary did not fit what is left of the step's summary; see the JSON report.\n",
            report.matrix
        );
        if notice.len() <= self.budget {
            notice
        } else {
            String::new()
        }
    }
}

/// The title, the status and why, the counts.
fn head(report: &Report) -> String {
    let mut out = String::new();
    let failed = report
        .status
        .as_ref()
        .map_or(report.exit_code(), |s| s.exit_code)
        != 0;
    let verdict = if report.interrupted.is_some() {
        "⚠️ interrupted"
    } else if failed {
        "❌ fails"
    } else {
        "✅ passes"
    };
    let _ = writeln!(out, "## extmatrix: `{}` {verdict}\n", report.matrix);
    let pythons: Vec<&str> = report.pythons.iter().map(|p| p.id.as_str()).collect();
    let counts: Vec<String> = report
        .summary
        .iter()
        .map(|(o, n)| format!("{n} {o}"))
        .collect();
    let _ = writeln!(
        out,
        "{} cells on {} in {:.1} s: {}\n",
        report.cells.len(),
        pythons.join(", "),
        report.wall_time_ms as f64 / 1000.0,
        counts.join(" · ")
    );
    if let Some(i) = &report.interrupted {
        let _ = writeln!(
            out,
            "Interrupted by {}: {} cells did not run (`--resume` runs them).\n",
            i.signal,
            i.not_run.len()
        );
    }
    for line in [comparison_line(report), expectations_line(report)]
        .into_iter()
        .flatten()
    {
        let _ = writeln!(out, "{line}\n");
    }
    for why in report.status.iter().flat_map(|s| &s.because) {
        let _ = writeln!(out, "- {why}");
    }
    out.push('\n');
    out
}

/// The findings, most severe first, as many as fit in `room` bytes.
fn findings(report: &Report, room: usize) -> String {
    if report.findings.is_empty() {
        return String::new();
    }
    let mut out = format!("### Findings ({})\n\n", report.findings.len());
    let names = RowNames::new(report);
    let cells = CellsByKey::new(report);
    for (i, f) in report.findings.iter().enumerate() {
        let item = finding(report, &names, &cells, f);
        let rest = report.findings.len() - i;
        let more = format!("\n…and {rest} more findings: see the JSON report.\n\n");
        if out.len() + item.len() + more.len() > room {
            out.push_str(&more);
            return out;
        }
        out.push_str(&item);
    }
    out.push('\n');
    out
}

fn finding(report: &Report, names: &RowNames, cells: &CellsByKey, f: &Finding) -> String {
    let mark = if f.fails_run { "❌" } else { "⚠️" };
    let subject = format!("`{}`", names.name(&f.target, &f.module));
    let reason = f.reason.map_or_else(String::new, |r| format!(" `[{r}]`"));
    let expected = if all_expected(cells, f) {
        " (expected)"
    } else {
        ""
    };
    format!(
        "- {mark} **{}**{expected}{} {subject}: {}{reason} — *{}*<br>Fix: {}\n",
        outcome_label(f.outcome, f.reason),
        finding_change(cells, f),
        inline(&f.title),
        finding_where(report, f),
        inline(&f.fix)
    )
}

/// Each target's grid, folded: scenarios (per module) down, interpreters across.
fn grids(report: &Report) -> String {
    let mut out = String::from("### Matrix\n\n");
    for target in crate::targets(report) {
        let _ = writeln!(
            out,
            "<details><summary><b>{target}</b>: {}</summary>\n",
            target_counts(report, target)
        );
        out.push_str(&grid(report, target));
        out.push_str("\n</details>\n\n");
    }
    out
}

/// One line per target: its counts (the budget's first saving).
fn collapsed_grids(report: &Report) -> String {
    let mut out = String::from("### Matrix (per target; the grids did not fit)\n\n");
    for target in crate::targets(report) {
        let _ = writeln!(out, "- **{target}**: {}", target_counts(report, target));
    }
    out.push('\n');
    out
}

fn target_counts(report: &Report, target: &str) -> String {
    let mut counts: BTreeMap<Outcome, usize> = BTreeMap::new();
    let mut worse = 0;
    for c in report.cells.iter().filter(|c| c.key.target == target) {
        *counts.entry(c.outcome).or_default() += 1;
        worse += usize::from(
            c.change
                .as_ref()
                .is_some_and(|c| c.change == Change::Regressed),
        );
    }
    let mut parts: Vec<String> = counts.iter().map(|(o, n)| format!("{n} {o}")).collect();
    if worse > 0 {
        parts.push(format!("**{worse} regressed**"));
    }
    parts.join(" · ")
}

fn grid(report: &Report, target: &str) -> String {
    let cells: Vec<_> = report
        .cells
        .iter()
        .filter(|c| c.key.target == target)
        .collect();
    let several = cells.iter().any(|c| c.key.module != cells[0].key.module);
    let mut rows: Vec<(&str, extmatrix_core::Scenario)> = Vec::new();
    for c in &cells {
        if !rows.contains(&(c.key.module.as_str(), c.key.scenario)) {
            rows.push((&c.key.module, c.key.scenario));
        }
    }
    let mut out = String::from("| scenario |");
    for p in &report.pythons {
        let _ = write!(out, " {} |", p.id);
    }
    out.push_str("\n|---|");
    out.push_str(&"---|".repeat(report.pythons.len()));
    out.push('\n');
    for (module, scenario) in rows {
        if several {
            let _ = write!(out, "| `{module}` {scenario} |");
        } else {
            let _ = write!(out, "| {scenario} |");
        }
        for p in &report.pythons {
            let cell = cells.iter().find(|c| {
                c.key.module == module && c.key.scenario == scenario && c.key.python == p.id
            });
            let _ = write!(out, " {} |", cell.map_or("·".into(), |c| cell_label(c)));
        }
        out.push('\n');
    }
    out
}

/// Text fit for one line of Markdown (a table cell, a list item).
fn inline(s: &str) -> String {
    s.replace('\n', " ").replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample;
    use extmatrix_core::Scenario;

    fn with_findings(mut r: Report, n: usize) -> Report {
        for i in 0..n {
            r.findings.push(Finding {
                id: format!("crash:b:b:{i}"),
                title: format!("SIGSEGV in step `import` at frame_{i}"),
                fix: "the code path in the forensics".into(),
                ..sample::finding("b", "cp312", Scenario::Import)
            });
        }
        r
    }

    #[test]
    fn the_summary_has_the_verdict_counts_findings_and_grids() {
        let r = with_findings(sample::report(), 1);
        let md = Markdown::default().render(&r);
        assert!(md.starts_with("## extmatrix: `m.yaml` ❌ fails\n"), "{md}");
        assert!(md.contains("3 cells on cp312 in 1.5 s: 1 pass · 1 shared-state · 1 crash"));
        assert!(md.contains(
            "### Findings (1)\n\n- ❌ **crash** `b`: SIGSEGV in step `import` at frame_0"
        ));
        assert!(md.contains("<details><summary><b>a</b>: 1 pass · 1 shared-state</summary>"));
        assert!(md.contains("| reimport | shared-state |"), "{md}");
    }

    #[test]
    fn over_budget_the_grids_fold_first_then_the_findings() {
        let r = with_findings(sample::report(), 200);
        let full = Markdown { budget: usize::MAX }.render(&r);
        assert!(full.contains("<details>") && full.contains("frame_199"));
        let grids = grids(&r).len();
        let folded = Markdown {
            budget: full.len() - grids + 100,
        }
        .render(&r);
        assert!(!folded.contains("<details>"), "{folded}");
        assert!(folded.contains("- **a**: 1 pass · 1 shared-state"));
        assert!(folded.contains("frame_199"));
        let budget = full.len() / 4;
        let short = Markdown { budget }.render(&r);
        assert!(short.len() <= budget, "{} > {budget}", short.len());
        assert!(short.contains("frame_0") && !short.contains("frame_199"));
        let shown = short.matches("\n- ❌").count();
        assert!(
            short.contains(&format!(
                "…and {} more findings: see the JSON report.",
                200 - shown
            )),
            "{short}"
        );
    }

    #[test]
    fn every_budget_is_kept_and_more_room_never_shows_less() {
        assert_eq!(GITHUB_SUMMARY_LIMIT, 1 << 20);
        let r = with_findings(sample::report(), 12);
        let full = Markdown { budget: usize::MAX }.render(&r);
        assert_eq!(Markdown { budget: full.len() }.render(&r), full);
        assert_ne!(
            Markdown {
                budget: full.len() - 1
            }
            .render(&r),
            full
        );
        let mut shown = 0;
        for budget in 0..=full.len() {
            let md = Markdown { budget }.render(&r);
            assert!(md.len() <= budget, "{} > {budget}", md.len());
            let now = md.matches("\n- ❌").count();
            assert!(now >= shown, "{budget}: {now} findings after {shown}");
            shown = now;
        }
        assert_eq!(shown, 12);
        let without_grids = head(&r).len() + findings(&r, usize::MAX).len() + 60;
        let md = Markdown {
            budget: without_grids,
        }
        .render(&r);
        assert_eq!(md.matches("\n- ❌").count(), 12, "as many as fit: {md}");
    }

    #[test]
    fn the_head_counts_changes_and_expectations_and_a_grid_names_modules() {
        use extmatrix_schema::{BaselineComparison, CellChange, Change};
        let mut r = sample::report();
        let mut speedups = sample::cell("a", "cp312", Scenario::Import, Outcome::Pass);
        speedups.key.module = "a._speedups".into();
        r.cells.push(speedups);
        r.cells[2].change = Some(CellChange {
            change: Change::Regressed,
            was: Some(Outcome::Pass),
        });
        r.cells[0].change = Some(CellChange {
            change: Change::Unchanged,
            was: Some(Outcome::Pass),
        });
        r.comparison = Some(BaselineComparison {
            baseline: "old.json".into(),
            gone: vec![r.cells[1].key.clone()],
        });
        let md = Markdown::default().render(&r);
        assert!(
            md.contains(
                "Against old.json: 1 unchanged, 1 regressed; 1 of its cells not in this run\n"
            ),
            "{md}"
        );
        assert!(
            md.contains("<b>b</b>: 1 crash · **1 regressed**</summary>"),
            "{md}"
        );
        assert!(
            md.contains("<b>a</b>: 2 pass · 1 shared-state</summary>"),
            "{md}"
        );
        assert!(md.contains("| `a._speedups` import | pass |"), "{md}");
        assert!(md.contains("| `a` reimport | shared-state |"), "{md}");
        let b = &md[md.find("<b>b</b>").unwrap()..];
        let b = &b[..b.find("</details>").unwrap()];
        assert!(b.contains("| import | crash (was pass) |"), "{b}");
        assert!(!b.contains("`a"), "only b's cells in b's grid: {b}");
        assert!(!md.contains("Expectations:"));
    }

    #[test]
    fn a_budget_smaller_than_the_head_gets_a_notice_or_nothing() {
        let r = with_findings(sample::report(), 3);
        let head = head(&r).len();
        for budget in [head + 10, head, head - 1, 120, 20, 0] {
            let md = Markdown { budget }.render(&r);
            assert!(md.len() <= budget, "{} > {budget}: {md}", md.len());
        }
        assert!(Markdown { budget: 120 }.render(&r).contains("did not fit"));
        assert_eq!(Markdown { budget: 20 }.render(&r), "");
    }
}
