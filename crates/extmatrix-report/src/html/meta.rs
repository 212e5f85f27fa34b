//! What a published report states beside its verdicts: per report, the
//! matrix, when and where it ran, how long, its status, and each
//! interpreter with its build.

use super::escape::html;
use crate::verdicts::{comparison_line, expectations_line};
use extmatrix_schema::{PythonEntry, Report};
use std::fmt::Write;

/// `<section id="run">`: a `run-meta` section per report.
pub(super) fn run_section(reports: &[Report]) -> String {
    let mut out = String::from(
        "<section id=\"run\" aria-labelledby=\"run-title\"><h2 id=\"run-title\">Run</h2>",
    );
    for (r, report) in reports.iter().enumerate() {
        out.push_str(&run_meta(r, report));
    }
    out.push_str("</section>");
    out
}

fn run_meta(r: usize, report: &Report) -> String {
    let mut facts: Vec<(&str, String)> =
        vec![("matrix", format!("<code>{}</code>", html(&report.matrix)))];
    if let Some(run) = &report.run {
        facts.push((
            "when",
            format!("<time datetime=\"{0}\">{0}</time>", html(&run.started_at)),
        ));
    }
    facts.push(("extmatrix", html(&report.tool.version)));
    if let Some(run) = &report.run {
        let host = format!(
            "{} · {} · {} · {} cores · {} jobs",
            run.host, run.os, run.arch, run.cores, run.jobs
        );
        facts.push(("host", html(&host)));
    }
    facts.push(("wall time", duration(report.wall_time_ms)));
    if !report.merged_from.is_empty() {
        facts.push(("shards", shards_line(report)));
    }
    facts.push(("status", status(report)));
    if let Some(interrupted) = &report.interrupted {
        let note = format!(
            "by {}: {} cells did not run and are not in the grid",
            interrupted.signal,
            interrupted.not_run.len()
        );
        facts.push(("interrupted", html(&note)));
    }
    for (term, line) in [
        ("baseline", comparison_line(report)),
        ("expectations", expectations_line(report)),
    ] {
        if let Some(line) = line {
            facts.push((term, html(&line)));
        }
    }
    let mut out = format!(
        "<section class=\"run-meta\" data-report=\"{r}\"><h3>{}</h3><div class=\"run-body\"><dl class=\"facts\">",
        html(&report.matrix)
    );
    for (term, value) in facts {
        let _ = write!(out, "<dt>{term}</dt><dd>{value}</dd>");
    }
    out.push_str("</dl>");
    out.push_str(&pythons_table(report));
    out.push_str("</div></section>");
    out
}

/// A merged report's shards: `1/3: 749 cells in 12m 3s on vm; 2/3: …`.
fn shards_line(report: &Report) -> String {
    let shards: Vec<String> = report
        .merged_from
        .iter()
        .map(|s| {
            let host = s
                .run
                .as_ref()
                .map(|r| format!(" on {}", html(&r.host)))
                .unwrap_or_default();
            let cut = s
                .interrupted
                .as_ref()
                .map(|signal| format!(" (interrupted by {})", html(signal)))
                .unwrap_or_default();
            format!(
                "{}/{}: {} cells in {}{host}{cut}",
                s.index,
                s.count,
                s.cells,
                duration(s.wall_time_ms)
            )
        })
        .collect();
    format!("merged from {}: {}", shards.len(), shards.join("; "))
}

/// `fails (exit 1, --fail-on failure)` and why, or `passes (exit 0)`.
pub(super) fn status(report: &Report) -> String {
    let Some(status) = &report.status else {
        return match report.exit_code() {
            0 => "passes (exit 0)".to_owned(),
            code => format!("fails (exit {code})"),
        };
    };
    let verdict = if status.exit_code == 0 {
        "passes"
    } else {
        "fails"
    };
    let strict = if status.strict { " --strict" } else { "" };
    let mut out = format!(
        "{verdict} (exit {}, --fail-on {}{strict})",
        status.exit_code, status.fail_on
    );
    if !status.because.is_empty() {
        out.push_str("<ul class=\"because\">");
        for line in &status.because {
            let _ = write!(out, "<li>{}</li>", html(line));
        }
        out.push_str("</ul>");
    }
    out
}

/// Each interpreter: id, version, variant, configure flags, how it was
/// found, path, and its cells and the time they took in this report.
fn pythons_table(report: &Report) -> String {
    let mut out = String::from(
        "<table class=\"pythons\"><caption>Interpreters</caption><thead><tr>\
         <th scope=\"col\">id</th><th scope=\"col\">version</th><th scope=\"col\">variant</th>\
         <th scope=\"col\">configure</th><th scope=\"col\">found via</th><th scope=\"col\">path</th>\
         <th scope=\"col\">cells</th><th scope=\"col\">time in cells</th></tr></thead><tbody>",
    );
    for p in &report.pythons {
        out.push_str(&python_row(report, p));
    }
    out.push_str("</tbody></table>");
    out
}

fn python_row(report: &Report, p: &PythonEntry) -> String {
    let (cells, ms) = report
        .cells
        .iter()
        .filter(|c| c.key.python == p.id)
        .fold((0usize, 0u64), |(n, ms), c| (n + 1, ms + c.duration_ms));
    format!(
        "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td class=\"configure\">{}</td>\
         <td>{}</td><td><code>{}</code></td><td class=\"num\">{cells}</td><td class=\"num\">{}</td></tr>",
        html(&p.id),
        html(&p.version),
        p.variant(),
        p.configure_args.as_deref().map_or(String::new(), configure),
        html(&p.found_via),
        html(&p.path),
        duration(ms)
    )
}

/// `CONFIG_ARGS` folded: the build's switches (`--disable-gil`,
/// `--with-pydebug`) in view, the whole line (mostly paths) one click away.
fn configure(args: &str) -> String {
    let switches: Vec<&str> = args
        .split_whitespace()
        .map(|a| a.trim_matches('\''))
        .filter(|a| {
            ["--enable-", "--disable-", "--with-", "--without-"]
                .iter()
                .any(|p| a.starts_with(p))
        })
        .collect();
    let shown = match switches.join(" ") {
        s if s.is_empty() => "flags".to_owned(),
        s => s,
    };
    format!(
        "<details><summary><code>{}</code></summary><code>{}</code></details>",
        html(&shown),
        html(args)
    )
}

/// `850 ms`, `12.4 s`, `3 min 05 s`, `1 h 02 min`.
pub(super) fn duration(ms: u64) -> String {
    let s = ms / 1000;
    match ms {
        0..=999 => format!("{ms} ms"),
        1000..=59_999 => format!("{:.1} s", ms as f64 / 1000.0),
        60_000..=3_599_999 => format!("{} min {:02} s", s / 60, s % 60),
        _ => format!("{} h {:02} min", s / 3600, s % 3600 / 60),
    }
}
