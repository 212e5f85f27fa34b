//! Which files of a build are extension modules, and under what import
//! name.
//!
//! A file is an extension module when the interpreter would import it and
//! it can initialise itself: its name is `<leaf><suffix>` for one of the
//! interpreter's `EXTENSION_SUFFIXES`, every directory above it and `leaf`
//! are identifiers, and it exports `PyInit_<leaf>` — the entry point
//! CPython's import calls (PEP 489). That rule is the C-API's, so it holds
//! for hand-written C, Cython, pybind11 and PyO3 alike, and a bundled
//! shared library (`pkg.libs/libfoo.so`) is never taken for a module.

use super::ModuleRecord;
use object::{Object, ObjectSymbol};
use std::path::{Component, Path, PathBuf};

/// The names `path` exports an init function for (`PyInit_foo` gives
/// `foo`), from its dynamic symbol table.
pub fn init_functions(path: &Path) -> std::io::Result<Vec<String>> {
    // Read on demand: a wheel's bundled library can be a gigabyte, and only
    // its headers and dynamic symbol table are needed.
    let cache = object::ReadCache::new(std::fs::File::open(path)?);
    let file = object::File::parse(&cache).map_err(|e| {
        std::io::Error::other(format!("{} is not a shared object: {e}", path.display()))
    })?;
    let mut names: Vec<String> = file
        .dynamic_symbols()
        .filter(|s| s.is_definition() && s.is_global())
        .filter_map(|s| s.name().ok()?.strip_prefix("PyInit_").map(str::to_owned))
        .collect();
    names.sort();
    names.dedup();
    Ok(names)
}

/// The import name of `relative` (a file under the import root), if its
/// name and place make it importable by an interpreter with `suffixes`.
pub fn import_name(relative: &Path, suffixes: &[String]) -> Option<String> {
    let file_name = relative.file_name()?.to_str()?;
    // Most specific first, as EXTENSION_SUFFIXES lists them.
    let leaf = suffixes
        .iter()
        .find_map(|s| file_name.strip_suffix(s.as_str()))?;
    let mut parts = Vec::new();
    for component in relative.parent()?.components() {
        match component {
            Component::Normal(part) => parts.push(part.to_str()?.to_owned()),
            Component::CurDir => {}
            _ => return None,
        }
    }
    parts.push(leaf.to_owned());
    parts
        .iter()
        .all(|p| extmatrix_core::is_dotted_identifier(p))
        .then(|| parts.join("."))
}

/// The extension modules among `files` (relative to `root`), sorted by
/// name: those [`import_name`] names whose file exports the init function
/// of that leaf. Where two files give one name (Debian's lib-dynload holds
/// `_csv.cpython-311d-…so` beside `_csv.cpython-311-…so`), the one import
/// loads is kept: `FileFinder` tries the suffixes in order, so the earliest
/// suffix wins.
pub fn extension_modules(
    root: &Path,
    files: impl IntoIterator<Item = PathBuf>,
    suffixes: &[String],
) -> Vec<ModuleRecord> {
    let mut found: Vec<(usize, ModuleRecord)> = files
        .into_iter()
        .filter_map(|relative| {
            let name = import_name(&relative, suffixes)?;
            let rank = suffix_rank(&relative, suffixes)?;
            let leaf = name.rsplit('.').next().unwrap_or(&name);
            let exports = init_functions(&root.join(&relative)).ok()?;
            let record = ModuleRecord {
                name: name.clone(),
                artifact: relative,
            };
            exports.iter().any(|e| e == leaf).then_some((rank, record))
        })
        .collect();
    found.sort_by(|(ra, a), (rb, b)| a.name.cmp(&b.name).then(ra.cmp(rb)));
    found.dedup_by(|(_, a), (_, b)| a.name == b.name);
    found.into_iter().map(|(_, m)| m).collect()
}

/// The index in `suffixes` of the suffix [`import_name`] strips from
/// `relative`'s file name.
fn suffix_rank(relative: &Path, suffixes: &[String]) -> Option<usize> {
    let file_name = relative.file_name()?.to_str()?;
    suffixes
        .iter()
        .position(|s| file_name.ends_with(s.as_str()))
}

/// The modules of `found` that `wanted` names (all of them when `wanted`
/// is empty); a wanted module that is not there is an error that lists
/// what is.
pub fn select<T>(
    found: Vec<T>,
    name: impl Fn(&T) -> &str,
    wanted: &[String],
) -> Result<Vec<T>, String> {
    if wanted.is_empty() {
        return Ok(found);
    }
    let missing: Vec<&str> = wanted
        .iter()
        .filter(|w| !found.iter().any(|m| name(m) == w.as_str()))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        let have: Vec<&str> = found.iter().map(&name).collect();
        return Err(format!(
            "the build has no extension module {}; it has {} (fix `modules:`, or leave it out to test them all)",
            missing.join(", "),
            if have.is_empty() {
                "none".to_owned()
            } else {
                have.join(", ")
            }
        ));
    }
    Ok(found
        .into_iter()
        .filter(|m| wanted.iter().any(|w| w == name(m)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn suffixes() -> Vec<String> {
        [".cpython-313-x86_64-linux-gnu.so", ".abi3.so", ".so"]
            .map(String::from)
            .to_vec()
    }

    #[test]
    fn import_names_follow_the_suffixes_and_identifiers() {
        let s = suffixes();
        let name = |p: &str| import_name(Path::new(p), &s);
        assert_eq!(
            name("pkg/sub/_speedups.cpython-313-x86_64-linux-gnu.so").as_deref(),
            Some("pkg.sub._speedups")
        );
        assert_eq!(name("rpds/rpds.abi3.so").as_deref(), Some("rpds.rpds"));
        assert_eq!(name("ujson.so").as_deref(), Some("ujson"));
        assert_eq!(name("./pkg/_x.abi3.so").as_deref(), Some("pkg._x"));
        // Another interpreter's suffix: `x.cpython-312-...` is not `x` here.
        assert_eq!(name("x.cpython-312-x86_64-linux-gnu.so"), None);
        // A bundled library's directory is no package.
        assert_eq!(name("msgpack.libs/libfoo-1a2b.so"), None);
        assert_eq!(name("pkg/data.txt"), None);
        assert_eq!(name("../escape.so"), None);
        assert_eq!(name("2fast.so"), None);
    }

    #[test]
    fn select_keeps_the_wanted_modules_or_says_what_there_is() {
        let found = vec![
            ModuleRecord {
                name: "a._x".into(),
                artifact: "a/_x.so".into(),
            },
            ModuleRecord {
                name: "b".into(),
                artifact: "b.so".into(),
            },
        ];
        let select = |found, wanted: &[String]| select(found, |m: &ModuleRecord| &m.name, wanted);
        assert_eq!(select(found.clone(), &[]).unwrap(), found);
        assert_eq!(
            select(found.clone(), &["b".into()]).unwrap(),
            found[1..].to_vec()
        );
        let err = select(found, &["c".into(), "b".into()]).unwrap_err();
        assert!(
            err.contains("no extension module c;") && err.contains("it has a._x, b"),
            "{err}"
        );
    }

    #[test]
    fn of_two_files_with_one_name_the_earliest_suffix_is_the_module() {
        // Debian's debug interpreter imports `.cpython-311d-…so` before
        // `.cpython-311-…so`, and lib-dynload has both.
        let dir = tempfile::tempdir().unwrap();
        let c = dir.path().join("m.c");
        std::fs::write(&c, "int PyInit__csv(void) { return 0; }\n").unwrap();
        let suffixes: Vec<String> = [
            ".cpython-311d-x86_64-linux-gnu.so",
            ".cpython-311-x86_64-linux-gnu.so",
            ".so",
        ]
        .map(String::from)
        .to_vec();
        for suffix in [&suffixes[1], &suffixes[0]] {
            let out = dir.path().join(format!("_csv{suffix}"));
            let status = std::process::Command::new("cc")
                .args(["-shared", "-fPIC", "-o"])
                .arg(&out)
                .arg(&c)
                .status()
                .unwrap();
            assert!(status.success());
        }
        let files = [&suffixes[1], &suffixes[0]].map(|s| PathBuf::from(format!("_csv{s}")));
        let found = extension_modules(dir.path(), files, &suffixes);
        assert_eq!(
            found,
            vec![ModuleRecord {
                name: "_csv".into(),
                artifact: "_csv.cpython-311d-x86_64-linux-gnu.so".into(),
            }]
        );
    }
}
