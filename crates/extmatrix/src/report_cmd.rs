//! `extmatrix report`: JSON reports of earlier runs rendered as one HTML
//! page. Reading a report is `extmatrix_verdict::read_report`, rendering
//! is `extmatrix_report::html_page`; this file only joins them.

use crate::UsageError;
use anyhow::{Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct ReportArgs {
    /// JSON reports written by `extmatrix run --json` (one or more).
    #[arg(required = true, value_name = "REPORT.json")]
    reports: Vec<PathBuf>,
    /// Where to write the HTML page (self-contained: one file).
    #[arg(long, value_name = "PATH", required = true)]
    html: PathBuf,
}

pub fn report(args: ReportArgs) -> Result<u8> {
    extmatrix_report::check_report_path(&args.html)
        .map_err(|why| UsageError(format!("--html {}: {why}", args.html.display())))?;
    let reports = args
        .reports
        .iter()
        .map(|path| read(path))
        .collect::<Result<Vec<_>>>()?;
    let page = extmatrix_report::html_page(&reports);
    extmatrix_report::write_text(&page, &args.html)
        .with_context(|| format!("could not write the HTML report to {}", args.html.display()))?;
    let cells: usize = reports.iter().map(|r| r.cells.len()).sum();
    let _ = writeln!(
        std::io::stdout(),
        "HTML report: {} ({} report{}, {cells} cells)",
        args.html.display(),
        reports.len(),
        if reports.len() == 1 { "" } else { "s" }
    );
    Ok(0)
}

/// The report at `path`, or a usage error saying why it is none.
fn read(path: &Path) -> Result<extmatrix_schema::Report> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| UsageError(format!("{name}: cannot read it: {e}")))?;
    extmatrix_verdict::read_report(&text, &name).map_err(|e| UsageError(e.to_string()).into())
}
