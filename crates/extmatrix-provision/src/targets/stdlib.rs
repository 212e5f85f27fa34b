//! `stdlib: all | [modules]`: the extension modules an interpreter ships.

use super::{BuildLimits, BuiltTarget, TargetBuilder};
use crate::{BuildFailure, Store};
use extmatrix_pythons::Python;

/// The interpreter's own extension modules; nothing to build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StdlibTarget {
    /// The modules to test; empty: every one the interpreter ships.
    pub modules: Vec<String>,
}

impl TargetBuilder for StdlibTarget {
    fn build(
        &self,
        _store: &Store,
        _py: &Python,
        _limits: &BuildLimits,
    ) -> Result<BuiltTarget, BuildFailure> {
        Err(BuildFailure::message("stdlib targets: not yet"))
    }
}
