//! A project's source tree: which of its files a build reads, their digest
//! (the cache key of a project or crate target) and a copy to build from,
//! so that a build never writes into the user's directory.
//!
//! Left out: version control, virtual environments, caches and the
//! outputs of earlier builds (`build/`, `dist/`, `target/`, `*.egg-info`,
//! compiled objects and extensions). They change without the sources
//! changing, and a build must not read a stale extension from them.

use extmatrix_cache::Input;
use std::path::{Path, PathBuf};

const SKIPPED_DIRS: &[&str] = &[
    ".git",
    ".hg",
    ".svn",
    ".tox",
    ".nox",
    ".venv",
    "venv",
    "__pycache__",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    "node_modules",
    "build",
    "dist",
    "target",
    "wheelhouse",
];
const SKIPPED_SUFFIXES: &[&str] = &[".egg-info", ".so", ".pyd", ".o", ".pyc", ".dylib"];

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
        if SKIPPED_SUFFIXES.iter().any(|s| name_str.ends_with(s)) {
            continue;
        }
        let path = relative.join(&name);
        let kind = entry.file_type()?;
        if kind.is_dir() {
            if !SKIPPED_DIRS.contains(&name_str) {
                walk(root, &path, files)?;
            }
        } else if kind.is_file() || (kind.is_symlink() && root.join(&path).is_file()) {
            files.push(path);
        }
    }
    Ok(())
}

/// One digest of the tree's file names and contents.
pub fn digest(root: &Path, files: &[PathBuf]) -> std::io::Result<String> {
    Ok(digest_of(&inputs(root, files)?))
}

/// Each file as an input of a cache entry (its absolute path and sha256),
/// so that `cache prune` sees an edited source.
pub fn inputs(root: &Path, files: &[PathBuf]) -> std::io::Result<Vec<Input>> {
    files.iter().map(|f| Input::file(&root.join(f))).collect()
}

/// The digest of a tree's [`inputs`].
pub fn digest_of(inputs: &[Input]) -> String {
    let parts = inputs.iter().flat_map(|i| match i {
        Input::File { path, sha256 } => [path.to_string_lossy().into_owned(), sha256.clone()],
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
        assert_eq!(
            files,
            [
                "linked.toml",
                "pyproject.toml",
                "src/pkg/__init__.py",
                "src/pkg/_speedups.c"
            ]
            .map(PathBuf::from)
        );
        let files = source_files(root).unwrap();
        assert_eq!(
            files,
            [
                "pyproject.toml",
                "src/pkg/__init__.py",
                "src/pkg/_speedups.c"
            ]
            .map(PathBuf::from)
        );
        let before = digest(root, &files).unwrap();
        std::fs::write(root.join("build/lib/pkg/_speedups.so"), "rebuilt").unwrap();
        assert_eq!(digest(root, &files).unwrap(), before);
        std::fs::write(root.join("src/pkg/_speedups.c"), "edited").unwrap();
        assert_ne!(digest(root, &files).unwrap(), before);

        let copy_dir = tempfile::tempdir().unwrap();
        copy(root, &files, copy_dir.path()).unwrap();
        assert_eq!(
            std::fs::read_to_string(copy_dir.path().join("src/pkg/_speedups.c")).unwrap(),
            "edited"
        );
    }
}
