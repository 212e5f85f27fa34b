//! Targets, one builder per kind behind [`TargetBuilder`].
//!
//! A new target kind (a pip project, an sdist, a PyO3 crate) is a file here
//! with a type that implements [`TargetBuilder`] (usually through
//! [`ensure_target`]), and an arm in [`builder_for`].

pub mod c_file;
pub mod cargo;
pub mod cargo_dirs;
mod index;
pub mod modules;
pub mod pip;
pub mod stdlib;
pub mod tree;

use crate::failure::unless_failed_before;
use crate::toolchain::{key_scheme, Steps, BUILT_BY};
use crate::{BuildFailure, Store};
use extmatrix_cache::Input;
use extmatrix_pythons::Python;
use extmatrix_spec::{TargetKind, TargetSpec};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The cache kind of target builds (`<cache>/targets/<name>`).
pub const TARGETS_KIND: &str = "targets";

/// One importable extension module of a built target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltModule {
    /// The import name (`pkg.mod`).
    pub name: String,
    /// The extension file itself.
    pub artifact: PathBuf,
}

/// A target built for one interpreter: put `module_dir` on `sys.path` and
/// import any of `modules`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltTarget {
    pub module_dir: PathBuf,
    pub modules: Vec<BuiltModule>,
    /// Modules of the target that this interpreter cannot have tested, and
    /// why (a stdlib module compiled into the interpreter, or one this
    /// release does not ship): `n/a` cells, not failures.
    pub untestable: Vec<Untestable>,
}

/// A module with no cells to run on one interpreter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Untestable {
    pub name: String,
    pub reason: String,
}

/// Builds one kind of target for an interpreter, through the cache.
pub trait TargetBuilder: Send + Sync {
    /// The cached build for `py`, built first on a miss.
    fn build(
        &self,
        store: &Store,
        py: &Python,
        limits: &BuildLimits,
    ) -> Result<BuiltTarget, BuildFailure>;
}

/// Bounds on a target's build, from the matrix's options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildLimits {
    /// How long one step (a compile, a link) may take; past it the step's
    /// process group is killed and the build fails.
    pub step_timeout: std::time::Duration,
}

impl Default for BuildLimits {
    /// Ten minutes a step.
    fn default() -> Self {
        BuildLimits {
            step_timeout: crate::toolchain::STEP_TIMEOUT,
        }
    }
}

/// The builder of `target`'s kind.
pub fn builder_for(target: &TargetSpec) -> Box<dyn TargetBuilder> {
    match &target.kind {
        TargetKind::CFile { source } => Box::new(c_file::CFileTarget {
            source: source.clone(),
            module: target.modules[0].clone(),
        }),
        TargetKind::Pip(source) => Box::new(pip::PipTarget {
            source: source.clone(),
            modules: target.modules.clone(),
        }),
        TargetKind::Cargo { manifest } => Box::new(cargo::CargoTarget {
            manifest: manifest.clone(),
            modules: target.modules.clone(),
        }),
        TargetKind::Stdlib => Box::new(stdlib::StdlibTarget {
            modules: target.modules.clone(),
        }),
    }
}

/// Build `target` for `py`, or reuse the cached build, without the
/// modules its `exclude:` leaves out.
pub fn build_target(
    store: &Store,
    target: &TargetSpec,
    py: &Python,
    limits: &BuildLimits,
) -> Result<BuiltTarget, BuildFailure> {
    let built = builder_for(target).build(store, py, limits)?;
    leave_out(built, &target.exclude)
}

/// `built` without the modules a pattern of `exclude` matches (those with
/// cells and `n/a` rows alike). The cache entry keeps them all, so editing
/// `exclude:` builds nothing again. A build whose every module is left out
/// fails and names them: a target that tests nothing is a mistake.
pub(crate) fn leave_out(
    built: BuiltTarget,
    exclude: &[String],
) -> Result<BuiltTarget, BuildFailure> {
    let excluded = |name: &str| {
        exclude
            .iter()
            .any(|p| extmatrix_core::pattern::module_matches(p, name))
    };
    let had: Vec<String> = built
        .modules
        .iter()
        .map(|m| m.name.clone())
        .chain(built.untestable.iter().map(|u| u.name.clone()))
        .collect();
    let built = BuiltTarget {
        modules: built
            .modules
            .into_iter()
            .filter(|m| !excluded(&m.name))
            .collect(),
        untestable: built
            .untestable
            .into_iter()
            .filter(|u| !excluded(&u.name))
            .collect(),
        ..built
    };
    if !had.is_empty() && built.modules.is_empty() && built.untestable.is_empty() {
        return Err(BuildFailure::message(format!(
            "`exclude:` leaves out every extension module of the build ({}); \
             remove the pattern that matches the modules to test",
            had.join(", ")
        )));
    }
    Ok(built)
}

/// `built` with only the modules `wanted` names (all when empty).
pub(crate) fn narrow(built: BuiltTarget, wanted: &[String]) -> Result<BuiltTarget, BuildFailure> {
    let modules =
        modules::select(built.modules, |m| &m.name, wanted).map_err(BuildFailure::message)?;
    Ok(BuiltTarget { modules, ..built })
}

/// A module as a target entry records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleRecord {
    pub name: String,
    /// Relative to the entry.
    pub artifact: PathBuf,
}

/// What every target entry records (`meta.json`, beside the store's stamp,
/// whose inputs say which files and interpreter it was built from).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetMeta {
    /// Which builder made it (`c-file`).
    pub builder: String,
    /// The interpreter's id and executable.
    pub python: String,
    pub python_path: PathBuf,
    pub modules: Vec<ModuleRecord>,
}

impl TargetMeta {
    fn built(&self, dir: &Path) -> BuiltTarget {
        BuiltTarget {
            module_dir: dir.to_owned(),
            modules: self
                .modules
                .iter()
                .map(|m| BuiltModule {
                    name: m.name.clone(),
                    artifact: dir.join(&m.artifact),
                })
                .collect(),
            untestable: Vec::new(),
        }
    }
}

/// The target entry `name` for `py`: found, or built by `compile`, which
/// puts the modules under the directory it is given (the entry's staging
/// directory, which becomes `module_dir`) and says where they are and what
/// else it read (a header: see [`crate::toolchain::dependency_inputs`]).
/// `inputs` are the files known before the build; the interpreter is
/// added. Every module file is an artifact of the entry: a deleted or
/// changed one makes the cache build the entry again. A build that failed
/// is not built again in this process ([`unless_failed_before`]).
pub(crate) fn ensure_target(
    store: &Store,
    builder: &str,
    name: &str,
    py: &Python,
    limits: &BuildLimits,
    inputs: Vec<Input>,
    compile: impl FnOnce(&Path, &mut Steps) -> Result<(Vec<ModuleRecord>, Vec<Input>), BuildFailure>,
) -> Result<BuiltTarget, BuildFailure> {
    let entry = store.ensure(TARGETS_KIND, name, BUILT_BY, &|| {}, |b| {
        let (modules, read) = unless_failed_before(store, TARGETS_KIND, name, || {
            let mut steps = Steps::new(b, limits.step_timeout)?;
            compile(b.staging(), &mut steps)
        })?;
        for m in &modules {
            b.artifact(m.artifact.clone());
        }
        let meta = TargetMeta {
            builder: builder.to_owned(),
            python: py.id.clone(),
            python_path: py.path.clone(),
            modules,
        };
        let mut inputs = inputs;
        inputs.extend(read);
        inputs.push(Input::program(&py.path));
        inputs.push(key_scheme());
        Ok::<_, BuildFailure>((meta, inputs))
    })?;
    Ok(entry.meta.built(&entry.dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn built(modules: &[&str], untestable: &[&str]) -> BuiltTarget {
        BuiltTarget {
            module_dir: PathBuf::from("/site"),
            modules: modules
                .iter()
                .map(|m| BuiltModule {
                    name: (*m).into(),
                    artifact: PathBuf::from(format!("{m}.so")),
                })
                .collect(),
            untestable: untestable
                .iter()
                .map(|u| Untestable {
                    name: (*u).into(),
                    reason: "built in".into(),
                })
                .collect(),
        }
    }

    fn names(b: &BuiltTarget) -> (Vec<&str>, Vec<&str>) {
        (
            b.modules.iter().map(|m| m.name.as_str()).collect(),
            b.untestable.iter().map(|u| u.name.as_str()).collect(),
        )
    }

    #[test]
    fn exclude_leaves_out_the_modules_its_patterns_match() {
        let tests = ["**.tests.**".to_owned()];
        let b = leave_out(
            built(
                &["pkg._core", "pkg.tests._helper", "pkg.contests"],
                &["pkg.tests._x"],
            ),
            &tests,
        )
        .unwrap();
        assert_eq!(
            names(&b),
            (vec!["pkg._core", "pkg.contests"], Vec::<&str>::new())
        );
        assert_eq!(b.module_dir, PathBuf::from("/site"));
        // No pattern: everything stays.
        let b = leave_out(built(&["a", "b"], &["c"]), &[]).unwrap();
        assert_eq!(names(&b), (vec!["a", "b"], vec!["c"]));
        // An n/a row alone is still something to show.
        let b = leave_out(built(&["pkg.tests._x"], &["_csv"]), &tests).unwrap();
        assert_eq!(names(&b), (Vec::<&str>::new(), vec!["_csv"]));
    }

    #[test]
    fn a_build_whose_every_module_is_left_out_fails_naming_them() {
        let tests = ["**.tests.**".to_owned(), "**.test.**".to_owned()];
        let err = leave_out(built(&["pkg.tests._a"], &["pkg.test._b"]), &tests).unwrap_err();
        assert!(
            err.summary.contains(
                "leaves out every extension module of the build (pkg.tests._a, pkg.test._b)"
            ),
            "{}",
            err.summary
        );
        // A build with no module at all is not this failure (the engine
        // says what an empty build means).
        let empty = leave_out(built(&[], &[]), &tests).unwrap();
        assert_eq!(names(&empty), (Vec::<&str>::new(), Vec::<&str>::new()));
    }
}
