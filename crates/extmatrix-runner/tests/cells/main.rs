//! `run_cell` on the real harness (built for one of this machine's
//! interpreters): one test binary, a module per concern.

/// The harness for the tests, built in the cache the extmatrix tests share.
mod common;

/// What a cell's process sees of its run, and what survives its crash.
mod channel;
/// Cells without `site`: the module's directory and its `.pth` files.
mod hermetic;
/// Retrying a cell whose interpreter failed before the target ran.
mod retry;
/// The harness's own state against what a correct module may do.
mod trust;
/// Early deadlock verdicts, and idle cells giving back their job slot.
mod waits;
