//! `--resume` and `--journal`: where a run's journal is kept, opening it
//! fresh or to continue, and what happens to it when the run ends. The
//! journal itself (format, what is refused) is `extmatrix_engine::Journal`.

use crate::UsageError;
use anyhow::{Context, Result};
use extmatrix_engine::{Header, Journal};
use extmatrix_plan::Plan;
use std::path::{Path, PathBuf};

/// Where the journal is kept: `--journal`, else beside the `--json` report
/// (`<json>.journal`) when that is a file, else nowhere (no journal: a
/// killed run is lost). `--resume` with nowhere to read is a usage error.
pub fn journal_path(
    journal: Option<PathBuf>,
    json: Option<&Path>,
    resume: bool,
) -> Result<Option<PathBuf>> {
    let path = journal.or_else(|| json.filter(|j| is_a_file(j)).map(beside));
    if resume && path.is_none() {
        return Err(UsageError(
            "--resume needs a journal to read: give --json FILE (its journal is \
             FILE.journal) or --journal PATH, as the run that was cut short did"
                .into(),
        )
        .into());
    }
    Ok(path)
}

/// A report path a journal can be kept beside: a file, or one not written
/// yet (a FIFO or /dev/stdout has no place beside it).
fn is_a_file(json: &Path) -> bool {
    match std::fs::metadata(json) {
        Ok(meta) => meta.is_file(),
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
    }
}

fn beside(json: &Path) -> PathBuf {
    let mut name = json.as_os_str().to_owned();
    name.push(".journal");
    PathBuf::from(name)
}

/// The journal of this run of `plan` (from the matrix file at `matrix`) at
/// `path`: the earlier one when resuming and there is one, else a new one.
/// One of another run, or damaged, is a usage error (exit 2).
pub fn open(path: &Path, matrix: &Path, plan: &Plan, resume: bool) -> Result<Journal> {
    let binary = extmatrix_engine::this_binary()
        .context("could not read this extmatrix binary to name its journal")?;
    let matrix_file = std::fs::read(matrix)
        .with_context(|| format!("could not read {} again", matrix.display()))?;
    let header = Header::new(binary, matrix, &matrix_file, plan);
    let usage = |e: extmatrix_engine::JournalError| UsageError(e.to_string());
    if resume {
        if let Some(journal) = Journal::resume(path, &header).map_err(usage)? {
            eprintln!(
                "resuming from {}: {} cells finished earlier are not run again",
                path.display(),
                journal.finished_earlier()
            );
            return Ok(journal);
        }
        eprintln!(
            "--resume: no journal at {} to resume from; starting from the first cell",
            path.display()
        );
    }
    Ok(Journal::start(path, &header).map_err(usage)?)
}

/// The run ended: a complete one's journal is of no more use and is
/// removed (after the report is written); an interrupted one's is kept for
/// `--resume`.
pub fn close(journal: Journal) {
    if let Some(failure) = journal.failure() {
        eprintln!("warning: {failure}");
    }
    if extmatrix_process::interrupted().is_some() {
        eprintln!(
            "the cells that finished are in the journal at {}: the same command with \
             --resume runs only the rest",
            journal.path().display()
        );
        return;
    }
    let path = journal.path().to_owned();
    if let Err(e) = journal.remove() {
        eprintln!(
            "warning: could not remove the finished run's journal at {}: {e}",
            path.display()
        );
    }
}
