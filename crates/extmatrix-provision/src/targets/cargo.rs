//! `cargo: path/to/crate`: a Rust `cdylib` extension (PyO3 and the like).

use super::{BuildLimits, BuiltTarget, TargetBuilder};
use crate::{BuildFailure, Store};
use extmatrix_pythons::Python;
use std::path::PathBuf;

/// A crate whose `cdylib` is one extension module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CargoTarget {
    /// Absolute path of its `Cargo.toml`.
    pub manifest: PathBuf,
    /// The modules to test; empty: the one the crate builds.
    pub modules: Vec<String>,
}

impl TargetBuilder for CargoTarget {
    fn build(
        &self,
        _store: &Store,
        _py: &Python,
        _limits: &BuildLimits,
    ) -> Result<BuiltTarget, BuildFailure> {
        Err(BuildFailure::message("cargo targets: not yet"))
    }
}
