//! `extmatrix run`: load the matrix (and expectations files), let the
//! engine prepare, run and conclude it with progress bars listening, print
//! the table, write the report files, tell GitHub. Every arrow of
//! the flow is a library call (`extmatrix-engine`); nothing here decides an
//! outcome.

use crate::{progress::Bars, RunArgs, UsageError};
use anyhow::Result;
use extmatrix_engine::{EngineError, Policy};
use extmatrix_plan::Filters;
use extmatrix_report::{Format, Html, Json, Junit, Markdown, TableStyle, Terminal};
use extmatrix_schema::{FailOn, Report};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

pub fn run(args: RunArgs) -> Result<u8> {
    let started = Instant::now();
    let matrix_path = matrix_path(args.matrix.clone())?;
    let matrix = load_matrix(&matrix_path, &args.expect)?;
    let outputs = outputs(&args);
    for output in &outputs {
        check_report_path(output.flag, &output.path)?;
    }
    let policy = policy(
        &matrix,
        args.baseline.as_deref(),
        args.fail_on.into(),
        args.strict,
    )?;
    let journal_path =
        crate::resume::journal_path(args.journal, args.json.as_deref(), args.resume)?;
    let filters = Filters {
        pythons: args.python,
        scenarios: args.scenario,
        targets: args.target,
    };
    let store = crate::cache_cmd::open(args.cache_dir, true)?;
    let jobs = jobs(args.jobs, &matrix);

    let bars = Bars::new();
    let mut plan =
        extmatrix_engine::prepare(&matrix, &filters, &store, jobs, &bars).map_err(usage)?;
    if let Some(secs) = args.timeout {
        plan.options.timeout_s = secs;
    }
    let journal = match &journal_path {
        Some(path) => Some(crate::resume::open(path, &matrix_path, &plan, args.resume)?),
        None => None,
    };
    let name = matrix_path.display().to_string();
    let report = extmatrix_engine::run(
        &plan,
        &name,
        &store,
        jobs,
        &bars,
        started,
        &policy,
        journal.as_ref(),
    );

    let style = TableStyle {
        color: args.color.enabled(),
        width: extmatrix_report::terminal_width(),
    };
    // The table first: whatever happens to the report files, the run is
    // not lost. A stdout that is gone (a pipe whose reader died with the
    // same Ctrl-C, a closed terminal) must not cost the reports either.
    let mut stdout = std::io::stdout();
    let _ = write!(stdout, "{}", Terminal(style).render(&report));
    let written = write_outputs(&report, &outputs);
    crate::github::publish(&report);
    // After the reports: a run whose report could not be written keeps its
    // journal, and --resume writes it without running a cell.
    if let (Some(journal), Ok(())) = (journal, &written) {
        crate::resume::close(journal);
    }
    written?;
    Ok(report.status.as_ref().map_or(1, |s| s.exit_code) as u8)
}

/// A report file asked for.
struct Output {
    flag: &'static str,
    /// `JSON report: PATH` once written.
    name: &'static str,
    path: PathBuf,
    format: Box<dyn Format>,
}

/// The matrix file with the expectations of every `--expect` file added
/// to its targets.
fn load_matrix(path: &Path, expect: &[PathBuf]) -> Result<extmatrix_spec::Matrix> {
    let mut matrix = extmatrix_spec::load(path).map_err(|e| UsageError(e.to_string()))?;
    for file in expect {
        let expectations = extmatrix_spec::load_expectations(file, &matrix)
            .map_err(|e| UsageError(e.to_string()))?;
        matrix.add_expectations(expectations);
    }
    Ok(matrix)
}

/// The report files asked for.
fn outputs(args: &RunArgs) -> Vec<Output> {
    let asked = |flag, name, path: &Option<PathBuf>, format: Box<dyn Format>| {
        path.clone().map(|path| Output {
            flag,
            name,
            path,
            format,
        })
    };
    [
        asked("--json", "JSON", &args.json, Box::new(Json)),
        asked("--junit", "JUnit", &args.junit, Box::new(Junit)),
        asked(
            "--markdown",
            "Markdown",
            &args.markdown,
            Box::<Markdown>::default(),
        ),
        asked("--html", "HTML", &args.html, Box::new(Html)),
    ]
    .into_iter()
    .flatten()
    .collect()
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

/// How the run is concluded: the matrix's expectations (with those of
/// `--expect` files), the baseline read and checked now (a usage error
/// before anything runs), `--fail-on`, `--strict`.
fn policy(
    matrix: &extmatrix_spec::Matrix,
    baseline: Option<&Path>,
    fail_on: FailOn,
    strict: bool,
) -> Result<Policy> {
    if fail_on == FailOn::Regression && baseline.is_none() {
        return Err(UsageError(
            "--fail-on regression needs a run to compare with: give --baseline FILE, the JSON \
             report of an earlier run (`extmatrix run --json baseline.json`)"
                .to_owned(),
        )
        .into());
    }
    Ok(Policy {
        expectations: matrix.expectations().cloned().collect(),
        baseline: baseline.map(read_baseline).transpose()?,
        fail_on,
        strict,
    })
}

/// The report at `path` and its name, when it can be a baseline.
fn read_baseline(path: &Path) -> Result<(String, extmatrix_schema::Report)> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| UsageError(format!("--baseline {name}: cannot read it: {e}")))?;
    let report =
        extmatrix_verdict::read_baseline(&text, &name).map_err(|e| UsageError(e.to_string()))?;
    Ok((name, report))
}

/// The matrix file given, else `./extmatrix.yaml` when there is one.
fn matrix_path(given: Option<std::path::PathBuf>) -> Result<std::path::PathBuf> {
    if let Some(path) = given {
        return Ok(path);
    }
    let default = std::path::PathBuf::from(crate::init_cmd::DEFAULT_MATRIX);
    if default.exists() {
        return Ok(default);
    }
    Err(UsageError(format!(
        "no matrix file given, and there is no ./{} here: run `extmatrix init` in your \
         project to write one, or give a matrix file (`extmatrix run matrices/default.yaml`)",
        crate::init_cmd::DEFAULT_MATRIX
    ))
    .into())
}

/// Cells and builds at once: `--jobs`, else the matrix's `options.jobs`,
/// else one per core.
pub fn jobs(flag: Option<u16>, matrix: &extmatrix_spec::Matrix) -> usize {
    flag.map(usize::from)
        .or(matrix.options.jobs)
        .unwrap_or_else(extmatrix_runner::cores)
}

/// The engine's usage errors exit 2 like the binary's own.
pub fn usage(e: EngineError) -> anyhow::Error {
    match e {
        EngineError::Usage(message) => UsageError(message).into(),
        EngineError::Failed(e) => e,
    }
}

/// Fail early (a usage error, before anything runs) when a report could
/// not be written: a directory, a missing or unwritable directory,
/// `/proc`, a full filesystem (`extmatrix_report::check_report_path`).
fn check_report_path(flag: &str, path: &std::path::Path) -> Result<()> {
    extmatrix_report::check_report_path(path)
        .map_err(|why| UsageError(format!("{flag} {}: {why}", path.display())).into())
}
