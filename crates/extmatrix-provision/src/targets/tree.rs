//! A project's source tree: which of its files a build reads, their digest
//! (the cache key of a project or crate target) and a copy to build from,
//! so that a build never writes into the user's directory.
//!
//! Left out: version control, virtual environments and caches anywhere;
//! the outputs of earlier builds at the root (`build/`, `dist/`,
//! `target/`) and anywhere (`*.egg-info`, objects, extension modules built
//! in place); `extmatrix.yaml` at the root. They change without the
//! sources changing, and a build must not read a stale extension from
//! them. Anything else in the tree counts: a report written into the
//! project (rather than under `build/` or outside it) builds it anew.

use extmatrix_cache::Input;
use std::path::{Path, PathBuf};

/// Skipped wherever they are: version control, caches, environments.
const SKIPPED_DIRS: &[&str] = &[
    ".git",
    ".hg",
    ".svn",
    ".tox",
    ".nox",
    ".venv",
    "__pycache__",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    "node_modules",
];
/// Skipped at the project's root only: the outputs of earlier builds (a
/// package may well have a `build` subpackage).
const SKIPPED_ROOT_DIRS: &[&str] = &["build", "dist", "target", "wheelhouse", "venv"];
/// Skipped at the project's root only: the matrix file `extmatrix init`
/// writes there, which no build reads (editing its smoke line must not
/// build the project again).
const SKIPPED_ROOT_FILES: &[&str] = &["extmatrix.yaml"];
const SKIPPED_SUFFIXES: &[&str] = &[".egg-info", ".pyc", ".o"];

/// A compiled extension module left by an in-place build
/// (`_x.cpython-313-x86_64-linux-gnu.so`, `_x.abi3.so`): an output, not a
/// source. A plain `libfoo.so` a build links against stays.
fn is_built_extension(name: &str) -> bool {
    name.ends_with(".so")
        && (name.contains(".cpython-") || name.contains(".abi3.") || name.contains(".pypy"))
}

/// Whether a directory named `name` holds no sources: version control,
/// caches and environments anywhere, earlier build outputs at the root
/// (`at_root`).
pub fn skipped_dir(name: &str, at_root: bool) -> bool {
    SKIPPED_DIRS.contains(&name) || (at_root && SKIPPED_ROOT_DIRS.contains(&name))
}

/// The files of the tree at `root`, relative to it, sorted. Symbolic links
/// are followed for files and not for directories (a link to `/` must not
/// walk the machine).
pub fn source_files(root: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    walk(root, Path::new(""), &mut files)?;
    files.sort();
    Ok(files)
}

fn walk(root: &Path, relative: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(root.join(relative))? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name_str) = name.to_str() else {
            continue;
        };
        if SKIPPED_SUFFIXES.iter().any(|s| name_str.ends_with(s)) || is_built_extension(name_str) {
            continue;
        }
        let path = relative.join(&name);
        let kind = entry.file_type()?;
        if kind.is_dir() {
            let at_root = relative.as_os_str().is_empty();
            if !skipped_dir(name_str, at_root) {
                walk(root, &path, files)?;
            }
        } else if kind.is_file() || (kind.is_symlink() && root.join(&path).is_file()) {
            let at_root = relative.as_os_str().is_empty();
            if !(at_root && SKIPPED_ROOT_FILES.contains(&name_str)) {
                files.push(path);
            }
        }
    }
    Ok(())
}

/// Each file as an input of a cache entry (its absolute path and sha256),
/// so that `cache prune` sees an edited source.
pub fn inputs(root: &Path, files: &[PathBuf]) -> std::io::Result<Vec<Input>> {
    files.iter().map(|f| Input::file(&root.join(f))).collect()
}

/// One digest of file inputs' names and contents, their paths taken
/// relative to `root` (the same project elsewhere, another checkout or
/// worktree, is the same key).
pub fn digest_of(root: &Path, inputs: &[Input]) -> String {
    let parts = inputs.iter().flat_map(|i| match i {
        Input::File { path, sha256 } => {
            let relative = path.strip_prefix(root).unwrap_or(path);
            [relative.to_string_lossy().into_owned(), sha256.clone()]
        }
        Input::Program { path, modified } => {
            [path.to_string_lossy().into_owned(), modified.clone()]
        }
        Input::Value { name, value } => [name.clone(), value.clone()],
    });
    extmatrix_cache::key(parts)
}

/// Copy `files` of `root` to `to`, keeping their places.
pub fn copy(root: &Path, files: &[PathBuf], to: &Path) -> std::io::Result<()> {
    for file in files {
        let dest = to.join(file);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(root.join(file), &dest)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_outputs_and_caches_are_not_sources() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for f in [
            "pyproject.toml",
            "src/pkg/_speedups.c",
            "src/pkg/__init__.py",
            "build/lib/pkg/_speedups.so",
            "src/pkg/_speedups.cpython-313-x86_64-linux-gnu.so",
            "src/pkg.egg-info/PKG-INFO",
            ".git/HEAD",
            "src/pkg/__pycache__/x.pyc",
            "target/release/libx.so",
            "src/pkg/build/__init__.py",
            "lib/libfoo.so",
            "extmatrix.yaml",
            "src/extmatrix.yaml",
        ] {
            let p = root.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, f).unwrap();
        }
        // A link to a directory is neither walked nor taken for a file; a
        // link to a file is a file.
        std::os::unix::fs::symlink("/", root.join("src/root-link")).unwrap();
        std::os::unix::fs::symlink(root.join("pyproject.toml"), root.join("linked.toml")).unwrap();
        let files = source_files(root).unwrap();
        std::fs::remove_file(root.join("linked.toml")).unwrap();
        let expected = [
            "lib/libfoo.so",
            "pyproject.toml",
            "src/extmatrix.yaml",
            "src/pkg/__init__.py",
            "src/pkg/_speedups.c",
            "src/pkg/build/__init__.py",
        ];
        let mut with_link = expected.to_vec();
        with_link.insert(1, "linked.toml");
        assert_eq!(
            files,
            with_link.iter().map(PathBuf::from).collect::<Vec<_>>()
        );
        let files = source_files(root).unwrap();
        assert_eq!(files, expected.map(PathBuf::from));
        let digest = |root: &Path| digest_of(root, &inputs(root, &files).unwrap());
        let before = digest(root);
        std::fs::write(root.join("build/lib/pkg/_speedups.so"), "rebuilt").unwrap();
        assert_eq!(digest(root), before);
        // The same tree elsewhere is the same key.
        let elsewhere = tempfile::tempdir().unwrap();
        copy(root, &files, elsewhere.path()).unwrap();
        assert_eq!(digest(elsewhere.path()), before);
        std::fs::write(root.join("src/pkg/_speedups.c"), "edited").unwrap();
        assert_ne!(digest(root), before);

        let copy_dir = tempfile::tempdir().unwrap();
        copy(root, &files, copy_dir.path()).unwrap();
        assert_eq!(
            std::fs::read_to_string(copy_dir.path().join("src/pkg/_speedups.c")).unwrap(),
            "edited"
        );
    }
}
