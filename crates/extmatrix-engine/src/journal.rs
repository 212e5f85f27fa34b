//! The resume journal: every cell that ran, written the moment it ends, so a
//! run killed at a CI time limit (SIGKILL, or SIGTERM then SIGKILL) can be
//! continued by a later process (`extmatrix run --resume`) that runs only
//! the cells the journal lacks.
//!
//! One JSON object per line, appended with one `write(2)` and made durable
//! with `fdatasync` before the cell counts as finished. The first line is a
//! [`Header`] naming the binary and the run (matrix file, plan, options): a
//! journal of another binary or run is refused, never mixed in. A kill can
//! only cut the *last* line short, so a last line without its newline, or
//! one that does not parse, is dropped (its cell runs again) and cut off
//! the file before anything is appended; a bad line anywhere else means the
//! file is not what this module wrote, and is an error.
//!
//! What a line keeps is the cell's raw evidence (`extmatrix_judge::Evidence`)
//! and its duration, not a verdict: execute rebuilds the cell's `CellRun`
//! with the command this plan gives it, so the baselines, controls and alone
//! runs, and the judging pass after execute, treat it exactly as a cell
//! that ran in this process.
//!
//! Only cells that ran are journaled: a cell whose evidence is known without
//! running anything (`n/a`, a failed build) is decided afresh by every run.

use extmatrix_judge::Evidence;
use extmatrix_plan::Plan;
use extmatrix_schema::CellKey;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// The version of the journal's format; another is another binary's.
pub const JOURNAL_FORMAT: u32 = 1;

/// What a journal belongs to: its first line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// [`JOURNAL_FORMAT`]; also what marks the file as a journal.
    pub extmatrix_journal: u32,
    /// The extmatrix binary that wrote it ([`this_binary`]): another build
    /// may run or record a cell differently.
    pub binary: String,
    /// The sha256 of everything that decides which cells run and how: the
    /// matrix file's bytes and the plan (interpreters with their paths and
    /// builds, targets, options after the command line's overrides, the
    /// cells the filters left).
    pub run: String,
    /// The matrix file, for messages.
    pub matrix: String,
    /// How many cells the plan has, for messages.
    pub cells: usize,
}

impl Header {
    /// The header of a run of `plan`, made from the matrix file at
    /// `matrix_path` (whose bytes are `matrix_file`), by the binary whose
    /// identity is `binary` ([`this_binary`]).
    ///
    /// The plan is hashed through its `Debug` text: every field of it
    /// counts, including any a later version adds, and the binary's hash
    /// already pins how that text is written.
    ///
    /// Expectations are left out: they conclude a run and change nothing a
    /// cell does, so a CI job may resume with an `--expect` file edited.
    pub fn new(binary: String, matrix_path: &Path, matrix_file: &[u8], plan: &Plan) -> Header {
        let mut plan = plan.clone();
        for target in &mut plan.targets {
            target.expect.clear();
        }
        let plan_text = format!("{plan:?}");
        Header {
            extmatrix_journal: JOURNAL_FORMAT,
            binary,
            run: extmatrix_cache::key([matrix_file, plan_text.as_bytes()]),
            matrix: matrix_path.display().to_string(),
            cells: plan.cells.len(),
        }
    }
}

/// What identifies the running extmatrix binary: its version and the GNU
/// build id the linker wrote into it (a hash of the linked file, read from
/// its ELF notes without reading the whole file), or, for a binary linked
/// without one, the sha256 of the file (`/proc/self/exe`: the file this
/// process was started from, even if it was replaced since).
pub fn this_binary() -> io::Result<String> {
    let exe = Path::new("/proc/self/exe");
    let version = env!("CARGO_PKG_VERSION");
    if let Some(id) = build_id(exe) {
        return Ok(format!("extmatrix {version}, build-id {id}"));
    }
    let sha256 = extmatrix_cache::sha256_file(exe)?;
    Ok(format!("extmatrix {version}, sha256 {sha256}"))
}

fn build_id(exe: &Path) -> Option<String> {
    use object::Object;
    let cache = object::ReadCache::new(File::open(exe).ok()?);
    let image = object::File::parse(&cache).ok()?;
    let id = image.build_id().ok()??;
    Some(id.iter().map(|b| format!("{b:02x}")).collect())
}

/// One finished cell: a line after the header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Line {
    key: CellKey,
    evidence: Evidence,
    duration_ms: u64,
}

/// A cell an earlier process of the same run finished.
#[derive(Debug, Clone, PartialEq)]
pub struct Finished {
    pub evidence: Evidence,
    pub duration_ms: u64,
}

/// Why a journal cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("could not use the journal at {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error(
        "the journal at {} is of another {what}: {detail}; remove it or run without --resume",
        path.display()
    )]
    OtherRun {
        path: PathBuf,
        what: &'static str,
        detail: String,
    },
    #[error(
        "the journal at {} is damaged at line {line} ({message}): only its last line can be \
         cut short by a kill; remove it or run without --resume",
        path.display()
    )]
    Damaged {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error(
        "another extmatrix run is writing the journal at {}: wait for it, or give this run \
         its own (--journal PATH)",
        path.display()
    )]
    Busy { path: PathBuf },
    #[error(
        "{} is not an extmatrix journal ({message}); it is left as it is: give the journal a \
         path of its own (--journal PATH)",
        path.display()
    )]
    NotAJournal { path: PathBuf, message: String },
}

/// An open journal: what an earlier process finished (when resuming), and
/// the file this run's cells are appended to.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: Mutex<File>,
    earlier: HashMap<CellKey, Finished>,
    /// The first write that failed; nothing is appended after it (a line
    /// cut short in the middle would make the file unreadable).
    failure: Mutex<Option<String>>,
    /// Whether the file's directory entry is durable yet: a new journal's
    /// is synced with its first cell, not before the first cell starts.
    dir_synced: AtomicBool,
}

impl Journal {
    /// A new journal at `path` for the run `header` names, replacing an
    /// earlier journal there (a run without `--resume` starts over). A file
    /// that is no journal (`--journal report.json`, a slip) is refused and
    /// left as it is.
    pub fn start(path: &Path, header: &Header) -> Result<Journal, JournalError> {
        let mut file = open_locked(path)?;
        let io_error = |source| JournalError::Io {
            path: path.to_owned(),
            source,
        };
        let mut first = Vec::new();
        (&mut file)
            .take(64 * 1024)
            .read_to_end(&mut first)
            .map_err(io_error)?;
        if !first.is_empty() {
            let line = first
                .iter()
                .position(|b| *b == b'\n')
                .map_or(&first[..], |end| &first[..=end]);
            header_of(path, line).map_err(|e| JournalError::NotAJournal {
                path: path.to_owned(),
                message: match e {
                    JournalError::Damaged { message, .. } => message,
                    other => other.to_string(),
                },
            })?;
        }
        file.set_len(0).map_err(io_error)?;
        let journal = Journal {
            path: path.to_owned(),
            file: Mutex::new(file),
            earlier: HashMap::new(),
            failure: Mutex::new(None),
            dir_synced: AtomicBool::new(false),
        };
        // Written, not synced: a kill cannot lose it (it is in the page
        // cache), and the first cell's fdatasync makes it durable with that
        // cell. Syncing here cost every run milliseconds before its first
        // cell.
        journal
            .file
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .write_all(to_line(header).as_bytes())
            .map_err(io_error)?;
        Ok(journal)
    }

    /// The journal at `path`, to continue the run `header` names: `None`
    /// when there is none (or it holds nothing, not even its header). Its
    /// cells are [`Journal::finished`]; this run's are appended after them.
    pub fn resume(path: &Path, header: &Header) -> Result<Option<Journal>, JournalError> {
        let mut file = match open_locked(path) {
            Err(JournalError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                return Ok(None)
            }
            opened => opened?,
        };
        let io_error = |source| JournalError::Io {
            path: path.to_owned(),
            source,
        };
        let mut text = Vec::new();
        file.read_to_end(&mut text).map_err(io_error)?;
        let Some(contents) = read(path, &text, header)? else {
            return Ok(None);
        };
        // A cut-off last line goes before anything is appended after it.
        if contents.kept_len < text.len() {
            file.set_len(contents.kept_len as u64).map_err(io_error)?;
            file.sync_data().map_err(io_error)?;
        }
        Ok(Some(Journal {
            path: path.to_owned(),
            file: Mutex::new(file),
            earlier: contents.finished,
            failure: Mutex::new(None),
            dir_synced: AtomicBool::new(true),
        }))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How the cell `key` ended in an earlier process of this run, if it did.
    pub fn finished(&self, key: &CellKey) -> Option<&Finished> {
        self.earlier.get(key)
    }

    /// How many cells earlier processes of this run finished.
    pub fn finished_earlier(&self) -> usize {
        self.earlier.len()
    }

    /// Append a cell that just ran, durably, before it counts as finished.
    /// A failure is kept ([`Journal::failure`]) and ends journaling: the
    /// run goes on, and a later resume runs the cells not written again.
    pub fn record(&self, key: &CellKey, evidence: &Evidence, duration_ms: u64) {
        let mut failure = self.failure.lock().unwrap_or_else(|e| e.into_inner());
        if failure.is_some() {
            return;
        }
        let line = to_line(&Line {
            key: key.clone(),
            evidence: evidence.clone(),
            duration_ms,
        });
        if let Err(e) = self.append(&line) {
            *failure = Some(format!(
                "could not append to the journal at {}: {e}; cells that end from now on are \
                 not journaled",
                self.path.display()
            ));
        }
    }

    /// Why the journal stopped being written, if it did.
    pub fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Remove the journal: the run it belongs to is complete.
    pub fn remove(self) -> io::Result<()> {
        std::fs::remove_file(&self.path)
    }

    /// One `write(2)` of a whole line (the file is opened for appending),
    /// then `fdatasync`: once this returns, a kill cannot lose the line.
    fn append(&self, line: &str) -> io::Result<()> {
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        file.write_all(line.as_bytes())?;
        file.sync_data()?;
        if !self.dir_synced.swap(true, Ordering::AcqRel) {
            sync_dir(&self.path)?;
        }
        Ok(())
    }
}

/// `value` as one journal line, newline included.
fn to_line(value: &impl Serialize) -> String {
    let mut line = serde_json::to_string(value).expect("journal lines are plain data");
    line.push('\n');
    line
}

/// The journal at `path`, opened for reading and appending, with an
/// exclusive lock: two runs writing one journal would interleave their
/// cells with two headers' worth of history.
fn open_locked(path: &Path) -> Result<File, JournalError> {
    let file = File::options()
        .read(true)
        .append(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|source| JournalError::Io {
            path: path.to_owned(),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(JournalError::Busy {
            path: path.to_owned(),
        }),
        Err(std::fs::TryLockError::Error(source)) => Err(JournalError::Io {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Make a new journal's name durable too: its directory's entry.
fn sync_dir(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

/// What a journal's text holds.
#[derive(Debug)]
struct Contents {
    finished: HashMap<CellKey, Finished>,
    /// The bytes up to the end of the last line kept.
    kept_len: usize,
}

/// Read a journal's text against the run `header` names: `None` when it
/// holds no whole header (a kill while it was being created, or an empty
/// file).
fn read(path: &Path, text: &[u8], header: &Header) -> Result<Option<Contents>, JournalError> {
    let mut lines = text.split_inclusive(|&b| b == b'\n').peekable();
    let Some(first) = lines.next() else {
        return Ok(None);
    };
    let Some(theirs) = header_of(path, first)? else {
        return Ok(None);
    };
    refuse_other_run(path, &theirs, header)?;
    let mut kept_len = first.len();
    let mut finished = HashMap::new();
    let mut number = 1;
    while let Some(line) = lines.next() {
        number += 1;
        let last = lines.peek().is_none();
        match parse_line(line) {
            Ok(Line {
                key,
                evidence,
                duration_ms,
            }) => {
                finished.insert(
                    key,
                    Finished {
                        evidence,
                        duration_ms,
                    },
                );
                kept_len += line.len();
            }
            // Cut short by a kill: that cell runs again.
            Err(_) if last => {}
            Err(message) => {
                return Err(JournalError::Damaged {
                    path: path.to_owned(),
                    line: number,
                    message,
                })
            }
        }
    }
    Ok(Some(Contents { finished, kept_len }))
}

/// The header on a journal's first line; `None` when that line was cut
/// short while the journal was created. Anything else is not a journal,
/// and is never truncated.
fn header_of(path: &Path, first: &[u8]) -> Result<Option<Header>, JournalError> {
    const MARK: &[u8] = b"{\"extmatrix_journal\":";
    let whole = first.ends_with(b"\n");
    let starts_like_one = first.starts_with(MARK) || MARK.starts_with(first);
    if !whole && starts_like_one {
        return Ok(None);
    }
    serde_json::from_slice::<Header>(first)
        .map(Some)
        .map_err(|e| JournalError::Damaged {
            path: path.to_owned(),
            line: 1,
            message: format!("not an extmatrix journal's header: {e}"),
        })
}

fn parse_line(line: &[u8]) -> Result<Line, String> {
    if !line.ends_with(b"\n") {
        return Err("no newline at its end".into());
    }
    serde_json::from_slice(line).map_err(|e| e.to_string())
}

/// An error unless `theirs` (the journal's header) names the run `ours` does.
fn refuse_other_run(path: &Path, theirs: &Header, ours: &Header) -> Result<(), JournalError> {
    let other = |what, detail| {
        Err(JournalError::OtherRun {
            path: path.to_owned(),
            what,
            detail,
        })
    };
    if theirs.extmatrix_journal != ours.extmatrix_journal || theirs.binary != ours.binary {
        return other(
            "extmatrix binary",
            format!(
                "it was written by {}, this is {}",
                theirs.binary, ours.binary
            ),
        );
    }
    if theirs.run != ours.run {
        return other(
            "matrix",
            format!(
                "it was written for {} ({} cells), and the matrix file, its interpreters, \
                 the filters (--python, --scenario, --target) or options (--timeout, --repeat) differ now",
                theirs.matrix, theirs.cells
            ),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests;
