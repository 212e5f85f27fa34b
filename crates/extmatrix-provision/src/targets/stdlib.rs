//! `stdlib: all | [modules]`: the extension modules an interpreter ships,
//! tested where they are. Nothing is compiled and nothing is cached: the
//! modules are the interpreter's own files, so the build is a directory
//! listing of its `lib-dynload` (`DESTSHARED`).
//!
//! Which stdlib modules get cells, per interpreter:
//!
//! - a file in `lib-dynload` that is an extension module by the rules of
//!   [`super::modules`] (one of the interpreter's suffixes, an identifier,
//!   exports `PyInit_<name>`) is tested;
//! - a module in `sys.builtin_module_names` is an `n/a` row, also when a
//!   file of that name exists (the built-in importer comes first on
//!   `sys.meta_path`, so that file is never what `import` loads). Its
//!   static objects are in libpython's image, which the judge counts as
//!   CPython's own (`rules/shared.rs`), so a pass would not say that it
//!   keeps no state across interpreters;
//! - a listed module the interpreter has in neither form is an `n/a` row
//!   (`_testsinglephase` exists only since 3.12): a release without it is
//!   no failure of anyone's.
//!
//! Interpreters built by an older extmatrix carry a probe from before
//! these facts were recorded (no extension suffixes); they are asked
//! again (`Python::refreshed`).

use super::modules::extension_modules;
use super::{BuildLimits, BuiltModule, BuiltTarget, ModuleRecord, TargetBuilder, Untestable};
use crate::{BuildFailure, Store};
use extmatrix_pythons::{BuildConfig, Python};
use std::path::{Path, PathBuf};

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
        py: &Python,
        _limits: &BuildLimits,
    ) -> Result<BuiltTarget, BuildFailure> {
        let facts = stdlib_facts(py)?;
        let dir = facts.stdlib_ext_dir.clone();
        let files = files_in(&dir)?;
        let found = extension_modules(&dir, files, &facts.extension_suffixes);
        let (modules, untestable) =
            sort_modules(&py.id, &dir, found, &facts.builtin_modules, &self.modules);
        Ok(BuiltTarget {
            module_dir: dir,
            modules,
            untestable,
        })
    }
}

/// `py`'s suffixes, lib-dynload and built-in modules. The engine hands
/// over refreshed descriptions; a caller that does not gets one here (every
/// CPython imports extensions from at least one suffix, so an empty list
/// means "not recorded").
fn stdlib_facts(py: &Python) -> Result<BuildConfig, BuildFailure> {
    let build = py.clone().refreshed().build;
    if build.extension_suffixes.is_empty() {
        return Err(BuildFailure::message(format!(
            "{} ({}) does not say which extension modules it imports \
             (importlib.machinery.EXTENSION_SUFFIXES): its probe failed",
            py.id,
            py.path.display()
        )));
    }
    Ok(build)
}

/// The file names directly in `dir` (lib-dynload is flat). A build
/// without the directory (every module compiled in) has no files.
fn files_in(dir: &Path) -> Result<Vec<PathBuf>, BuildFailure> {
    if dir.as_os_str().is_empty() {
        return Ok(Vec::new());
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(BuildFailure::message(format!(
                "cannot list the interpreter's extension modules in {}: {e}",
                dir.display()
            )))
        }
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            files.push(PathBuf::from(entry.file_name()));
        }
    }
    Ok(files)
}

/// Which modules of `found` (files in `dir`) and `builtins` get cells on
/// interpreter `id`, and which are `n/a` rows and why; `wanted` empty:
/// all of them.
fn sort_modules(
    id: &str,
    dir: &Path,
    found: Vec<ModuleRecord>,
    builtins: &[String],
    wanted: &[String],
) -> (Vec<BuiltModule>, Vec<Untestable>) {
    let names: Vec<String> = if wanted.is_empty() {
        let mut all: Vec<String> = found.iter().map(|m| m.name.clone()).collect();
        all.extend(builtins.iter().cloned());
        all.sort();
        all.dedup();
        all
    } else {
        wanted.to_vec()
    };
    let mut modules = Vec::new();
    let mut untestable = Vec::new();
    for name in names {
        let file = found.iter().find(|m| m.name == name);
        let reason = if builtins.contains(&name) {
            built_in_reason(id, file.is_some())
        } else if let Some(m) = file {
            modules.push(BuiltModule {
                name,
                artifact: dir.join(&m.artifact),
            });
            continue;
        } else {
            format!(
                "{id} does not ship {name}: it is neither built in (sys.builtin_module_names) \
                 nor an extension module in {}",
                dir.display()
            )
        };
        untestable.push(Untestable { name, reason });
    }
    (modules, untestable)
}

/// Why a built-in module has no cells. The judge never counts an object in
/// libpython's image as shared, which is right for `None` and CPython's
/// own types and exactly where a built-in module's static types are: a
/// pass would be a claim extmatrix cannot make.
fn built_in_reason(id: &str, shadows_file: bool) -> String {
    let mut reason = format!(
        "compiled into {id} (sys.builtin_module_names): its static types and objects live in \
         libpython's image, which extmatrix counts as the interpreter's own, so it cannot tell \
         the module's shared state from CPython's"
    );
    if shadows_file {
        reason.push_str(
            "; a file of the same name in lib-dynload is never imported (the built-in importer comes first)",
        );
    }
    reason
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(name: &str) -> ModuleRecord {
        ModuleRecord {
            name: name.into(),
            artifact: format!("{name}.cpython-313-x86_64-linux-gnu.so").into(),
        }
    }

    fn strings(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn names_of(modules: &[BuiltModule]) -> Vec<&str> {
        modules.iter().map(|m| m.name.as_str()).collect()
    }

    #[test]
    fn all_is_every_file_tested_and_every_built_in_untestable() {
        let dir = Path::new("/py/lib-dynload");
        let found = vec![record("_csv"), record("_json")];
        let builtins = strings(&["_abc", "sys"]);
        let (modules, untestable) = sort_modules("cp313", dir, found, &builtins, &[]);
        assert_eq!(names_of(&modules), ["_csv", "_json"]);
        assert_eq!(
            modules[0].artifact,
            dir.join("_csv.cpython-313-x86_64-linux-gnu.so")
        );
        let untestable: Vec<&str> = untestable.iter().map(|u| u.name.as_str()).collect();
        assert_eq!(untestable, ["_abc", "sys"]);
    }

    #[test]
    fn a_listed_module_is_a_file_a_built_in_or_not_shipped() {
        let dir = Path::new("/py/lib-dynload");
        let found = vec![record("_csv"), record("_testmultiphase")];
        let wanted = strings(&["_testsinglephase", "_testmultiphase", "_abc"]);
        let (modules, untestable) = sort_modules("cp311", dir, found, &strings(&["_abc"]), &wanted);
        assert_eq!(names_of(&modules), ["_testmultiphase"]);
        assert_eq!(untestable.len(), 2);
        assert_eq!(untestable[0].name, "_testsinglephase");
        assert!(
            untestable[0]
                .reason
                .starts_with("cp311 does not ship _testsinglephase"),
            "{}",
            untestable[0].reason
        );
        assert_eq!(untestable[1].name, "_abc");
        assert!(
            untestable[1]
                .reason
                .starts_with("compiled into cp311 (sys.builtin_module_names)"),
            "{}",
            untestable[1].reason
        );
    }

    #[test]
    fn a_built_in_wins_over_a_file_of_the_same_name() {
        let dir = Path::new("/py/lib-dynload");
        let (modules, untestable) = sort_modules(
            "cp311d",
            dir,
            vec![record("_csv")],
            &strings(&["_csv"]),
            &[],
        );
        assert!(modules.is_empty());
        assert_eq!(untestable.len(), 1);
        assert!(
            untestable[0].reason.contains("never imported"),
            "{}",
            untestable[0].reason
        );
    }

    #[test]
    fn no_lib_dynload_is_no_files() {
        assert!(files_in(Path::new("")).unwrap().is_empty());
        assert!(files_in(Path::new("/nonexistent/lib-dynload"))
            .unwrap()
            .is_empty());
    }
}
