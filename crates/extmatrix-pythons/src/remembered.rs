//! Probe answers kept between runs, so that discovery on a machine where
//! nothing changed starts no process.
//!
//! An answer is kept per candidate path (`extmatrix_cache::Memo`, in
//! `<cache>/discovery/`) and used while everything it was read from holds:
//!
//! - the executable as the path reaches it (device, inode, size,
//!   modification and change times: a reinstalled or rebuilt interpreter
//!   differs) and the path it resolves to (a symlink pointed elsewhere);
//! - the files the probe reports it read (`depends_on`): the `libpython`
//!   the process loaded, `sysconfig` and its data module;
//! - `pyvenv.cfg` beside the executable and one level up, there or absent
//!   (where Python looks for a virtual environment);
//! - the probe's own text and `LD_LIBRARY_PATH` (which `libpython` loads).
//!
//! An executable that answers for another (a wrapper script that runs
//! some interpreter, which one perhaps by the environment or the current
//! directory) is asked every time: nothing tells when its answer changes.
//! The answer is the raw probe; whether the interpreter can be embedded
//! (its headers, its `python-config`) is checked afresh from it each time,
//! so installing a development package needs no new probe.

use crate::{describe, probe_answer, ProbeAnswer, Python, PROBE};
use anyhow::Result;
use extmatrix_cache::Memo;
use std::path::{Path, PathBuf};

/// Probe answers kept in a directory of extmatrix's cache.
#[derive(Debug, Clone)]
pub struct ProbeCache {
    memo: Memo,
}

impl ProbeCache {
    /// The answers kept under `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> ProbeCache {
        ProbeCache {
            memo: Memo::new(dir),
        }
    }

    /// The answers kept in the cache rooted at `root` (`<root>/discovery/`).
    pub fn in_cache(root: &Path) -> ProbeCache {
        ProbeCache {
            memo: Memo::in_cache(root),
        }
    }

    /// [`crate::probe`], from the answer kept for `path` while it is
    /// current; otherwise probed, and the answer kept.
    pub fn probe(&self, path: &Path, found_via: &str, id: Option<&str>) -> Result<Python> {
        describe(self.answer(path)?, found_via, id)
    }

    fn answer(&self, path: &Path) -> Result<ProbeAnswer> {
        let question = format!("probe {}", path.display());
        let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
        let context = context(&canonical);
        if let Some(answer) = self.memo.recall(&question, &context) {
            return Ok(answer);
        }
        let asked_at = std::time::SystemTime::now();
        let answer = probe_answer(path)?;
        // A wrapper's answer is some other executable's.
        if answer.executable == canonical {
            let files = read_from(path, &answer);
            self.memo
                .remember(&question, &context, &files, asked_at, &answer);
        }
        Ok(answer)
    }
}

/// What else must be the same for a kept answer to be this one's.
fn context(canonical: &Path) -> String {
    let library_path = std::env::var_os("LD_LIBRARY_PATH").unwrap_or_default();
    format!(
        "probe {}\nresolves to {}\nLD_LIBRARY_PATH={}",
        extmatrix_cache::key([PROBE]),
        canonical.display(),
        library_path.to_string_lossy()
    )
}

/// The files `answer`, given by the executable at `path`, was read from.
fn read_from(path: &Path, answer: &ProbeAnswer) -> Vec<PathBuf> {
    let mut files = vec![path.to_owned()];
    let dir = path.parent().unwrap_or(Path::new("/"));
    files.push(dir.join("pyvenv.cfg"));
    if let Some(up) = dir.parent() {
        files.push(up.join("pyvenv.cfg"));
    }
    files.extend(answer.depends_on.iter().cloned());
    files
}
