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

/// Finds the line of a failed build's output that says why, fed one line
/// at a time (a build's output can be long; only what is found is kept),
/// wherever it is nested (pip indents its backend's output, maturin
/// cargo's):
///
/// - what a build script printed as `error: …` on its stderr (PyO3
///   refusing an interpreter);
/// - else the first compiler error: a C compiler's `file.c:2:1: error: …`
///   or rustc's `error[E0308]: …` / `error: …`, but not cargo's own
///   conclusions ("could not compile", "failed to run custom build
///   command"), which name no cause.
#[derive(Debug, Default)]
pub(crate) struct Cause {
    in_script_stderr: std::cell::Cell<bool>,
    script: std::cell::RefCell<Option<String>>,
    compiler: std::cell::RefCell<Option<String>>,
}

impl Cause {
    pub(crate) fn feed(&self, line: &str) {
        const CONCLUSIONS: [&str; 2] = [
            "error: could not compile",
            "error: failed to run custom build",
        ];
        let trimmed = line.trim();
        if trimmed == "--- stderr" {
            self.in_script_stderr.set(true);
            return;
        }
        if self.in_script_stderr.get() && self.script.borrow().is_none() {
            if let Some(message) = trimmed.strip_prefix("error: ") {
                *self.script.borrow_mut() = Some(message.to_owned());
                return;
            }
        }
        let compiler = trimmed.starts_with("error[")
            || (trimmed.starts_with("error: ")
                && !CONCLUSIONS.iter().any(|c| trimmed.starts_with(c)))
            || trimmed.contains(": error: ")
            || trimmed.contains(": fatal error: ");
        if compiler && self.compiler.borrow().is_none() {
            *self.compiler.borrow_mut() = Some(trimmed.to_owned());
        }
    }

    pub(crate) fn found(self) -> Option<String> {
        self.script.into_inner().or(self.compiler.into_inner())
    }
}

impl From<std::io::Error> for BuildFailure {
    fn from(e: std::io::Error) -> Self {
        BuildFailure::message(format!("cache I/O failed: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::Cause;

    fn cause(output: &str) -> Option<String> {
        let cause = Cause::default();
        output.lines().for_each(|l| cause.feed(l));
        cause.found()
    }

    #[test]
    fn the_cause_of_a_failed_build_is_found_wherever_it_is_nested() {
        let pyo3 = "   Compiling pyo3-ffi v0.30.1\nerror: failed to run custom build command for `pyo3-ffi v0.30.1`\n\nCaused by:\n  --- stdout\n  cargo:rerun-if-env-changed=PYO3_PYTHON\n\n  --- stderr\n  error: PyO3 does not support the free-threaded build of CPython versions below 3.14, the selected Python version is 3.13\nwarning: build failed, waiting for other jobs to finish...";
        let refusal = "PyO3 does not support the free-threaded build of CPython versions below 3.14, the selected Python version is 3.13";
        assert_eq!(cause(pyo3).as_deref(), Some(refusal));
        // The same through pip and maturin, indented.
        let nested: String = pyo3.lines().map(|l| format!("      {l}\n")).collect();
        assert_eq!(
            cause(&format!("ERROR: Failed building wheel\n{nested}")).as_deref(),
            Some(refusal)
        );
        let rustc = "   Compiling broken v0.1.0\nerror[E0308]: mismatched types\n --> src/lib.rs:1:18\nerror: could not compile `broken` (lib) due to 1 previous error";
        assert_eq!(
            cause(rustc).as_deref(),
            Some("error[E0308]: mismatched types")
        );
        let gcc = "      running build_ext\n      broken.c:2:1: error: unknown type name 'this'\n      error: command '/usr/bin/gcc' failed with exit code 1\n  ERROR: Failed building wheel for broken";
        assert_eq!(
            cause(gcc).as_deref(),
            Some("broken.c:2:1: error: unknown type name 'this'")
        );
        assert_eq!(
            cause("x.c:1:10: fatal error: nope.h: No such file or directory").as_deref(),
            Some("x.c:1:10: fatal error: nope.h: No such file or directory")
        );
        assert_eq!(cause("error: could not compile `x`\n"), None);
        assert_eq!(
            cause("   Compiling x\nERROR: Failed building wheel\n"),
            None
        );
    }
}
