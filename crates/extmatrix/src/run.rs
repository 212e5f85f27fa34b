//! `extmatrix run`: load the matrix (and expectations files), let the
//! engine prepare, run and conclude it with progress bars listening, print
//! the table, write the report files, tell GitHub. Every arrow of
//! the flow is a library call (`extmatrix-engine`); nothing here decides an
//! outcome.

use crate::{progress::Bars, RunArgs, UsageError};
use anyhow::{Context, Result};
use extmatrix_engine::EngineError;
use std::path::{Path, PathBuf};
use std::time::Instant;

pub fn run(args: RunArgs) -> Result<u8> {
    let started = Instant::now();
    let matrix_path = matrix_path(args.matrix.clone())?;
    let matrix = load_matrix(&matrix_path, &args.expect)?;
    let outputs = args.outputs.checked()?;
    let policy = args
        .conclusion
        .policy(matrix.expectations().cloned().collect())?;
    let journal_path = crate::resume::journal_path(args.journal, args.outputs.json(), args.resume)?;
    let filters = args.filters.into_filters(args.shard);
    let store = crate::cache_cmd::open(args.cache_dir, true)?;
    let jobs = jobs(args.jobs, &matrix);

    let bars = Bars::new();
    let mut plan =
        extmatrix_engine::prepare(&matrix, &filters, &store, jobs, &bars).map_err(usage)?;
    if let Some(secs) = args.timeout {
        plan.options.timeout_s = secs;
    }
    if let Some(n) = args.repeat {
        plan.options.repeat = Some(n);
    }
    let journal = match &journal_path {
        Some(path) => Some(crate::resume::open(path, &matrix_path, &plan, args.resume)?),
        None => None,
    };
    if let Some(of) = &plan.shard {
        let all = of.run.targets.len() * of.run.pythons.len();
        eprintln!(
            "shard {} of {}: {} of {all} builds, {} of {} cells, on {}",
            of.shard,
            matrix_path.display(),
            of.run.units_of(of.shard).len(),
            plan.cells.len(),
            all * of.run.scenarios.len(),
            match plan.pythons.len() {
                0 => "no interpreter".to_owned(),
                _ => plan
                    .pythons
                    .iter()
                    .map(|p| p.id.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
            }
        );
    }
    let shard = shard_info(&plan, &matrix_path)?;
    let name = matrix_path.display().to_string();
    let mut report = extmatrix_engine::run(
        &plan,
        &name,
        &store,
        jobs,
        &bars,
        started,
        &policy,
        journal.as_ref(),
    );
    report.shard = shard;

    let written = args.conclusion.publish(&report, &outputs);
    // After the reports: a run whose report could not be written keeps its
    // journal, and --resume writes it without running a cell.
    if let (Some(journal), Ok(())) = (journal, &written) {
        crate::resume::close(journal);
    }
    written?;
    Ok(report.status.as_ref().map_or(1, |s| s.exit_code) as u8)
}

/// What the report of a shard says of its run; `None` for a whole run.
fn shard_info(
    plan: &extmatrix_plan::Plan,
    matrix: &Path,
) -> Result<Option<extmatrix_schema::ShardInfo>> {
    if plan.shard.is_none() {
        return Ok(None);
    }
    let binary = extmatrix_engine::this_binary()
        .context("could not read this extmatrix binary to name the run its shard is of")?;
    let matrix_file = std::fs::read(matrix)
        .with_context(|| format!("could not read {} again", matrix.display()))?;
    Ok(extmatrix_engine::shard_info(plan, &matrix_file, binary))
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

/// The matrix file given, else `./extmatrix.yaml` when there is one.
pub fn matrix_path(given: Option<std::path::PathBuf>) -> Result<std::path::PathBuf> {
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
