//! A build that did not produce what a cell needs.

use extmatrix_cache::CommandError;
use std::path::{Path, PathBuf};

/// A compile that failed: the command, what it said, and the build's log.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{summary}")]
pub struct BuildFailure {
    pub summary: String,
    /// The failing command line (empty when no command was behind it).
    pub command: String,
    pub output: String,
    /// The whole build log, kept in the cache.
    pub log: Option<PathBuf>,
}

impl BuildFailure {
    /// A failure with no command behind it.
    pub fn message(summary: impl Into<String>) -> Self {
        BuildFailure {
            summary: summary.into(),
            command: String::new(),
            output: String::new(),
            log: None,
        }
    }

    pub(crate) fn from_command(e: CommandError, log: &Path) -> Self {
        BuildFailure {
            summary: e.summary,
            command: e.command,
            output: e.output,
            log: Some(log.to_owned()),
        }
    }
}

impl From<std::io::Error> for BuildFailure {
    fn from(e: std::io::Error) -> Self {
        BuildFailure::message(format!("cache I/O failed: {e}"))
    }
}
