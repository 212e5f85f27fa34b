//! The `extmatrix` binary end to end, on the real interpreters, compilers
//! and CPython builds of this machine: one test binary (one link, one
//! place to look), a module per concern, the way nextest and ripgrep keep
//! theirs. `just setup` provides what they need; `just unit` runs the
//! crates' own tests without any of it.

/// Running the binary on matrix files, the shared build cache, reading reports.
mod common;

/// Why a build failed, in the author's words; demangled symbols.
mod build_causes;
/// Interpreters built from source (cp313d, cp313t, cp313td) and Debian's
/// debug build (cp311d): GIL and refcount readings, the build cache.
mod builds;
/// `extmatrix cache list` / `cache prune`.
mod cache;
/// `cargo:` targets (the PyO3 fixture crate).
mod cargo_targets;
/// What a CI job reads: JUnit (XSD-validated), the Markdown summary,
/// GitHub annotations.
mod ci_reports;
/// The command line: exit codes, errors naming file:line:col, `--help`.
mod cli;
/// matrices/default.yaml: every fixture's outcome on cp311–cp313.
mod default_matrix;
/// Targets that forge verdicts, flood the channel, escape the group.
mod hostile;
/// The HTML report in headless chromium, checked against the JSON report.
mod html_report;
/// `extmatrix init` + `run` on repository layouts (workspaces, test modules).
mod init_layouts;
/// SIGINT/SIGTERM/SIGHUP: partial reports, nothing left running.
mod interrupt;
/// matrices/leaks.yaml: leaks against baselines, clean twins never leak.
mod leaks;
/// Behaviour pinned before the run moved into a library.
mod pinned;
/// `pip:` targets: projects, sdists and released packages built from source.
mod pip_targets;
/// `--resume`: a killed run continues from its journal.
mod resume;
/// `run --shard I/N`, `plan --shards N`, `merge`: a split run joined again.
mod shards;
/// `stdlib:` targets: the interpreters' own extension modules.
mod stdlib_targets;
/// matrices/stress.yaml: interpreters and threads at once, inittab, `--repeat`.
mod stress;
/// A correct module that changes the process is not blamed for it.
mod trust;
/// Expectations, baselines and `--fail-on`: the exit status and the marks.
mod verdicts;
/// matrices/waits.yaml: deadlocks end early, sleeps and timed waits pass.
mod waits;
/// matrices/why.yaml: reasons, controls, alone runs, forensics.
mod why;
/// ci/github/extmatrix-nightly.yml: actionlint, and its `extmatrix` commands against `--help`.
mod workflow;
