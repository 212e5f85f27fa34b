//! What `run` and `merge` share after the cells: the report files asked
//! for (checked before anything runs, written whatever happens to one of
//! them), how the run is concluded (baseline, `--fail-on`, `--strict`),
//! and what is printed and told to GitHub.

use crate::UsageError;
use anyhow::Result;
use clap::ValueEnum;
use extmatrix_report::{Format, Html, Json, Junit, Markdown, TableStyle, Terminal};
use extmatrix_schema::{FailOn, Report};
use extmatrix_verdict::Policy;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The report files.
#[derive(clap::Args)]
pub struct OutputArgs {
    /// Also write the full report as JSON (schema_version 1) to this path
    /// (`-o`):
    /// a file is replaced atomically, a symlink followed, a FIFO, device or
    /// /dev/stdout written as it is.
    #[arg(long, short = 'o', value_name = "PATH")]
    json: Option<PathBuf>,
    /// Also write JUnit XML for a CI system's test view: one test case per
    /// cell (classname `target/module`, name `target[cp313-reinit]`), a
    /// failure where the cell fails the run (by --fail-on and the
    /// expectations), skipped for n/a and expected failures.
    #[arg(long, value_name = "PATH")]
    junit: Option<PathBuf>,
    /// Also write a Markdown summary: the status, counts, findings and the
    /// grid per target (within GitHub's 1 MiB summary limit: grids fold
    /// first). When $GITHUB_STEP_SUMMARY is set it is appended there too,
    /// and with GITHUB_ACTIONS=true each finding is an ::error or
    /// ::warning annotation (ten of each at most, most severe first).
    #[arg(long, value_name = "PATH")]
    markdown: Option<PathBuf>,
    /// Also write the HTML compatibility report: one self-contained page
    /// (no network; readable offline and printable) with the findings
    /// first, the grid of targets × interpreters and scenarios, filters
    /// kept in the URL (`report.html#outcome=crash&python=cp313t`), and
    /// each cell's evidence a click away. `extmatrix report` renders one
    /// from JSON reports later.
    #[arg(long, value_name = "PATH")]
    html: Option<PathBuf>,
}

/// How the cells are concluded into the run's status.
#[derive(clap::Args)]
pub struct ConclusionArgs {
    /// Fail the run when a cell expected to fail does better: the
    /// expectation is stale, tighten it.
    #[arg(long)]
    strict: bool,
    /// Compare with an earlier run's JSON report (`--json`): each cell is
    /// marked new, unchanged, changed (same outcome, another culprit),
    /// regressed or fixed, in the table (`crash (was pass)`) and the JSON.
    /// A report of another schema_version or of an interrupted run is
    /// refused (exit 2).
    #[arg(long, value_name = "FILE")]
    baseline: Option<PathBuf>,
    /// What makes the exit status 1.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = FailOnChoice::Failure)]
    fail_on: FailOnChoice,
    /// Colour in the table: auto = when stdout is a terminal and NO_COLOR is unset.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
}

/// `--fail-on`'s choices (`extmatrix_schema::FailOn`).
#[derive(Clone, Copy, ValueEnum)]
pub enum FailOnChoice {
    /// A cell that fails the run: a failing outcome no expectation allows,
    /// an outcome an expectation does not allow, an expectation whose
    /// module part matched no module (and --strict's cells).
    Failure,
    /// Only what got worse than --baseline: a cell regressed (unless an
    /// expectation allows its outcome), or a new cell that fails (and
    /// --strict's cells); for CI on a project with known failures.
    Regression,
    /// Nothing: the report is the product.
    Never,
}

impl From<FailOnChoice> for extmatrix_schema::FailOn {
    fn from(choice: FailOnChoice) -> Self {
        match choice {
            FailOnChoice::Failure => extmatrix_schema::FailOn::Failure,
            FailOnChoice::Regression => extmatrix_schema::FailOn::Regression,
            FailOnChoice::Never => extmatrix_schema::FailOn::Never,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    fn enabled(self) -> bool {
        use std::io::IsTerminal;
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::io::stdout().is_terminal()
                    && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        }
    }
}

impl OutputArgs {
    /// The report files asked for, each checked (a usage error before
    /// anything runs when one could not be written).
    pub fn checked(&self) -> Result<Vec<Output>> {
        let outputs = self.asked();
        for output in &outputs {
            check_report_path(output.flag, &output.path)?;
        }
        Ok(outputs)
    }

    /// The `--json` path, when one was given.
    pub fn json(&self) -> Option<&Path> {
        self.json.as_deref()
    }

    fn asked(&self) -> Vec<Output> {
        let asked = |flag, name, path: &Option<PathBuf>, format: Box<dyn Format>| {
            path.clone().map(|path| Output {
                flag,
                name,
                path,
                format,
            })
        };
        [
            asked("--json", "JSON", &self.json, Box::new(Json)),
            asked("--junit", "JUnit", &self.junit, Box::new(Junit)),
            asked(
                "--markdown",
                "Markdown",
                &self.markdown,
                Box::<Markdown>::default(),
            ),
            asked("--html", "HTML", &self.html, Box::new(Html)),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

impl ConclusionArgs {
    /// How the run is concluded: `expectations`, the baseline read and
    /// checked now (a usage error before anything runs), `--fail-on`,
    /// `--strict`.
    pub fn policy(&self, expectations: Vec<extmatrix_core::expect::Expectation>) -> Result<Policy> {
        let fail_on = FailOn::from(self.fail_on);
        if fail_on == FailOn::Regression && self.baseline.is_none() {
            return Err(UsageError(
                "--fail-on regression needs a run to compare with: give --baseline FILE, the \
                 JSON report of an earlier run (`extmatrix run --json baseline.json`)"
                    .to_owned(),
            )
            .into());
        }
        Ok(Policy {
            expectations,
            baseline: self.baseline.as_deref().map(read_baseline).transpose()?,
            fail_on,
            strict: self.strict,
        })
    }

    /// Print `report`'s table, then write its files (nothing is lost to
    /// one bad path, nor to a stdout that is gone), then tell GitHub; the
    /// first error writing a file, if any.
    pub fn publish(&self, report: &Report, outputs: &[Output]) -> Result<()> {
        let style = TableStyle {
            color: self.color.enabled(),
            width: extmatrix_report::terminal_width(),
        };
        // The table first: whatever happens to the report files, the run
        // is not lost. A stdout that is gone (a pipe whose reader died with
        // the same Ctrl-C, a closed terminal) must not cost the files.
        let _ = write!(std::io::stdout(), "{}", Terminal(style).render(report));
        let written = write_outputs(report, outputs);
        crate::github::publish(report);
        written
    }
}

/// A report file asked for.
pub struct Output {
    flag: &'static str,
    /// `JSON report: PATH` once written.
    name: &'static str,
    path: PathBuf,
    format: Box<dyn Format>,
}

/// Every report file asked for, each whatever happened to the one before
/// (nothing is lost to one bad path); the first error, if any.
fn write_outputs(report: &Report, outputs: &[Output]) -> Result<()> {
    let mut first_error = None;
    for Output {
        flag,
        name,
        path,
        format,
    } in outputs
    {
        match extmatrix_report::write_report(format.as_ref(), report, path) {
            // A stdout that is gone must not cost the next report.
            Ok(()) => {
                let _ = writeln!(std::io::stdout(), "{name} report: {}", path.display());
            }
            Err(e) => {
                let e = anyhow::Error::new(e).context(format!(
                    "could not write the {flag} report to {}",
                    path.display()
                ));
                eprintln!("error: {e:#}");
                first_error.get_or_insert(e);
            }
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// The report at `path` and its name, when it can be a baseline.
fn read_baseline(path: &Path) -> Result<(String, Report)> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| UsageError(format!("--baseline {name}: cannot read it: {e}")))?;
    let report =
        extmatrix_verdict::read_baseline(&text, &name).map_err(|e| UsageError(e.to_string()))?;
    Ok((name, report))
}

/// Fail early (a usage error, before anything runs) when a report could
/// not be written: a directory, a missing or unwritable directory,
/// `/proc`, a full filesystem (`extmatrix_report::check_report_path`).
pub fn check_report_path(flag: &str, path: &Path) -> Result<()> {
    extmatrix_report::check_report_path(path)
        .map_err(|why| UsageError(format!("{flag} {}: {why}", path.display())).into())
}
