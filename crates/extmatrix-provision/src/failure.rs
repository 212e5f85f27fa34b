//! A build that did not produce what a cell needs: what failed and why, in
//! one line, and the failures of this process, so that a build that failed
//! is not built again in the same run.

use extmatrix_cache::{CommandError, Store};
use extmatrix_core::{BuildCause, CauseKind};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// A compile that failed: the command, what it said, why, and the build's log.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{summary}")]
pub struct BuildFailure {
    pub summary: String,
    /// The failing command line (empty when no command was behind it).
    pub command: String,
    pub output: String,
    /// The whole build log, kept in the cache.
    pub log: Option<PathBuf>,
    /// The innermost cause its output names, when it names one (boxed:
    /// a failure is the error of every build step's `Result`).
    pub cause: Option<Box<BuildCause>>,
}

impl BuildFailure {
    /// A failure with no command behind it.
    pub fn message(summary: impl Into<String>) -> Self {
        BuildFailure {
            summary: summary.into(),
            command: String::new(),
            output: String::new(),
            log: None,
            cause: None,
        }
    }

    /// A step that failed as `e` says, with the `cause` its output names
    /// (dropped when the step was killed at its timeout: it failed for
    /// that, whatever it said last). The summary is the runner's (`\`gcc\`
    /// failed (exit status: 1)`) until [`BuildFailure::caused_in`] says more.
    pub(crate) fn from_command(e: CommandError, cause: Option<BuildCause>, log: &Path) -> Self {
        BuildFailure {
            cause: cause.filter(|_| !e.timed_out).map(Box::new),
            summary: e.summary,
            command: e.command,
            output: e.output,
            log: Some(log.to_owned()),
        }
    }

    /// The summary of step `what` (`pip wheel`, `gcc`) that failed for its
    /// cause, in the words of whoever stopped the build; unchanged without one.
    pub(crate) fn caused_in(mut self, what: &str) -> Self {
        if let Some(cause) = &self.cause {
            self.summary = summary_of(what, cause);
        }
        self
    }
}

/// One line: `pip wheel failed while compiling, at include/ftguard.h:7:
/// #error "…"`; a network failure and a missing build dependency say so
/// first, so nobody reads them as a broken package.
fn summary_of(what: &str, cause: &BuildCause) -> String {
    let at = cause
        .location
        .as_ref()
        .map_or_else(String::new, |l| format!(", at {l}"));
    let kind = match cause.kind {
        CauseKind::Network => "network failure, not the package's fault: ",
        CauseKind::MissingBuildDependency => "missing build dependency: ",
        _ => "",
    };
    format!(
        "{what} failed while {}{at}: {kind}{}",
        cause.phase.words(),
        cause.message
    )
}

/// Builds that failed in this process, by cache and entry (whose name holds
/// the key: everything the build is made from). A failed build makes no
/// cache entry, so the next run tries again; within this one, a second
/// target or run asking for the same entry gets the same failure without
/// building again.
static FAILED: Mutex<BTreeMap<(PathBuf, String, String), BuildFailure>> =
    Mutex::new(BTreeMap::new());

/// `build` of entry `kind/name` of `store`, unless it failed earlier in
/// this process: then that failure again. Called under the entry's lock,
/// so a second build waiting for a first one that fails gets its failure
/// too.
pub(crate) fn unless_failed_before<T>(
    store: &Store,
    kind: &str,
    name: &str,
    build: impl FnOnce() -> Result<T, BuildFailure>,
) -> Result<T, BuildFailure> {
    let key = (store.root().to_owned(), kind.to_owned(), name.to_owned());
    if let Some(earlier) = FAILED.lock().ok().and_then(|f| f.get(&key).cloned()) {
        return Err(earlier);
    }
    let result = build();
    if let (Err(failure), Ok(mut failed)) = (&result, FAILED.lock()) {
        failed.insert(key, failure.clone());
    }
    result
}

impl From<std::io::Error> for BuildFailure {
    fn from(e: std::io::Error) -> Self {
        BuildFailure::message(format!("cache I/O failed: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use extmatrix_core::BuildPhase;

    fn cause(phase: BuildPhase, kind: CauseKind, message: &str, at: Option<&str>) -> BuildCause {
        BuildCause {
            phase,
            kind,
            message: message.into(),
            location: at.map(str::to_owned),
        }
    }

    #[test]
    fn a_summary_says_the_phase_the_place_and_what_kind_of_failure_is_nobodys_bug() {
        let directive = cause(
            BuildPhase::Compiling,
            CauseKind::ErrorDirective,
            "#error \"needs 3.14\"",
            Some("include/x.h:7"),
        );
        assert_eq!(
            summary_of("pip wheel", &directive),
            "pip wheel failed while compiling, at include/x.h:7: #error \"needs 3.14\""
        );
        let network = cause(
            BuildPhase::InstallingBuildDependencies,
            CauseKind::Network,
            "Connection refused (fetching setuptools)",
            None,
        );
        assert_eq!(
            summary_of("pip wheel", &network),
            "pip wheel failed while installing build dependencies: network failure, not the \
             package's fault: Connection refused (fetching setuptools)"
        );
        let missing = cause(
            BuildPhase::GettingBuildRequirements,
            CauseKind::MissingBuildDependency,
            "ModuleNotFoundError: No module named 'Cython'",
            None,
        );
        assert_eq!(
            summary_of("pip wheel", &missing),
            "pip wheel failed while getting build requirements: missing build dependency: \
             ModuleNotFoundError: No module named 'Cython'"
        );
    }
}
