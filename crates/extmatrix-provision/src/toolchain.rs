//! What harness and target builds share: the interpreter's identity for
//! cache keys, its compiler, and running logged compile steps.

use crate::BuildFailure;
use extmatrix_cache::{Building, Cmd};
use extmatrix_pythons::Python;
use std::fs::File;
use std::path::PathBuf;
use std::time::Duration;

/// Who builds harness and target entries (recorded in every `meta.json`).
pub(crate) const BUILT_BY: &str = concat!("extmatrix-provision ", env!("CARGO_PKG_VERSION"));

/// The longest one compile or link step may take before it is killed.
const STEP_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// What identifies an interpreter for caching: where it is and how it builds.
pub(crate) fn python_fingerprint(py: &Python) -> Vec<u8> {
    let mut v = serde_json::to_vec(&(&py.path, &py.version, py.debug, py.free_threaded, &py.build))
        .expect("python description serializes");
    // A rebuilt interpreter at the same path must not reuse old artifacts.
    if let Some(modified) = extmatrix_cache::modified_stamp(&py.path) {
        v.extend(modified.bytes());
    }
    v
}

pub(crate) fn split(words: &str) -> Result<Vec<String>, BuildFailure> {
    shell_words::split(words)
        .map_err(|e| BuildFailure::message(format!("cannot split compiler flags `{words}`: {e}")))
}

/// The interpreter's C compiler (sysconfig CC, e.g. `gcc -pthread`): the
/// program and its leading arguments.
pub(crate) fn compiler(py: &Python) -> Result<(String, Vec<String>), BuildFailure> {
    let mut words = split(&py.build.cc)?.into_iter();
    let program = words.next().unwrap_or_else(|| "cc".to_owned());
    Ok((program, words.collect()))
}

/// The build steps of one cache entry, logged to its log.
pub(crate) struct Steps {
    log: File,
    log_path: PathBuf,
}

impl Steps {
    pub(crate) fn new(building: &Building<'_>) -> Result<Steps, BuildFailure> {
        Ok(Steps {
            log: building.open_log()?,
            log_path: building.log_path(),
        })
    }

    /// Run `program args`; its output (all of it) on success.
    pub(crate) fn run(&mut self, program: &str, args: &[String]) -> Result<String, BuildFailure> {
        Cmd::new(program, args.iter().cloned(), STEP_TIMEOUT)
            .capture()
            .run(&mut self.log, None)
            .map(|ran| ran.output)
            .map_err(|e| BuildFailure::from_command(e, &self.log_path))
    }

    /// A failure that is not a command's, with this build's log.
    pub(crate) fn failure(&self, summary: String) -> BuildFailure {
        BuildFailure {
            log: Some(self.log_path.clone()),
            ..BuildFailure::message(summary)
        }
    }
}
