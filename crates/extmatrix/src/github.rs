//! On GitHub Actions: the findings as annotations (`GITHUB_ACTIONS=true`)
//! and the Markdown summary appended to `$GITHUB_STEP_SUMMARY`, within
//! what is left of GitHub's 1 MiB for the step.

use extmatrix_report::{Format, GithubAnnotations, Markdown, GITHUB_SUMMARY_LIMIT};
use extmatrix_schema::Report;
use std::path::PathBuf;

pub fn publish(report: &Report) {
    if std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true") {
        use std::io::Write;
        let _ = write!(std::io::stdout(), "{}", GithubAnnotations.render(report));
    }
    let Some(summary) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|v| !v.is_empty()) else {
        return;
    };
    let summary = PathBuf::from(summary);
    let written = std::fs::metadata(&summary).map_or(0, |m| m.len() as usize);
    let markdown = Markdown {
        budget: GITHUB_SUMMARY_LIMIT.saturating_sub(written),
    };
    // The report files are written; a summary that cannot be is said, and
    // the run's status stays the run's.
    if let Err(e) = extmatrix_report::append_text(&markdown.render(report), &summary) {
        eprintln!(
            "warning: could not append the summary to $GITHUB_STEP_SUMMARY ({}): {e}",
            summary.display()
        );
    }
}
