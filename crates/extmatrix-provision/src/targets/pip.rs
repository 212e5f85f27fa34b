//! `pip: ...`: a Python project built from source into a wheel by pip.

use super::{BuildLimits, BuiltTarget, TargetBuilder};
use crate::{BuildFailure, Store};
use extmatrix_pythons::Python;
use extmatrix_spec::PipSource;

/// A project, sdist or pinned requirement, built by pip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipTarget {
    pub source: PipSource,
    /// The modules to test; empty: every extension module of the wheel.
    pub modules: Vec<String>,
}

impl TargetBuilder for PipTarget {
    fn build(
        &self,
        _store: &Store,
        _py: &Python,
        _limits: &BuildLimits,
    ) -> Result<BuiltTarget, BuildFailure> {
        Err(BuildFailure::message("pip targets: not yet"))
    }
}
