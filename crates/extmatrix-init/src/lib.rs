//! `extmatrix init`: a starter matrix file for the repository in a
//! directory, so that a user who has never read the docs gets a verdict on
//! their own extension modules in two commands (`extmatrix init`,
//! `extmatrix run`).
//!
//! A repository may hold several projects: a package at its root, the
//! members of a uv or Cargo workspace, Python projects in subdirectories.
//! Each one whose build compiles extension modules is a target of its own
//! (`discover.rs`): a Python project is a `pip` target (pip builds it the way
//! its users install it, whatever its backend: setuptools, meson-python,
//! scikit-build, maturin), a crate that depends on pyo3 and no Python
//! project builds is a `cargo` target. What was left out is written into
//! the file as a comment, with why. The extension modules named in the
//! sources are only a hint, also a comment: the file leaves `modules` out,
//! so every extension module of a build is tested, and a wrong guess can
//! never make the file fail — except those of `tests`/`test` packages,
//! which a `pip` target's `exclude:` leaves out where the user sees it.

mod discover;
mod render;
mod scan;

pub use render::{render, TEST_PACKAGES};

use std::path::{Path, PathBuf};

/// What `init` found in a repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repository {
    /// The directory `init` looked at.
    pub root: PathBuf,
    /// One per target to write, the root's first, then by path; names
    /// unique.
    pub projects: Vec<Project>,
    /// The projects left out, by path, each with why.
    pub skipped: Vec<Skipped>,
}

/// A project that builds extension modules: one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    /// Its name (from `pyproject.toml`, `Cargo.toml` or the directory),
    /// fit for a target name.
    pub name: String,
    pub kind: Kind,
    /// Its directory, relative to the repository's root (empty: the root).
    pub path: PathBuf,
    /// Extension modules its sources name, as far as a look at them can
    /// tell.
    pub modules: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Pip,
    Cargo,
}

impl Kind {
    /// The matrix file's key for it.
    pub fn key(self) -> &'static str {
        match self {
            Kind::Pip => "pip",
            Kind::Cargo => "cargo",
        }
    }
}

/// A project that is no target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Relative to the repository's root (empty: the root).
    pub path: PathBuf,
    pub why: Why,
}

/// Why a project is no target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// `[tool.uv] package = false`: nothing builds it.
    NotAPackage,
    /// A Python project whose build compiles nothing (pure Python).
    CompilesNothing,
    /// Under a directory of tests, examples, docs or benchmarks (`under`),
    /// and no workspace names it as a member; it would be a `kind` target.
    NotOwn { under: String, kind: Kind },
    /// A crate that the Python project at `python` builds (maturin's, or
    /// setuptools-rust's).
    BuiltBy { python: PathBuf },
    /// A crate that does not depend on pyo3.
    NoPyo3,
    /// A crate that depends on pyo3 but builds no `cdylib`.
    NotCdylib,
}

impl Why {
    /// One line for the file's comment.
    pub fn describe(&self) -> String {
        match self {
            Why::NotAPackage => "not a package: `[tool.uv] package = false`".into(),
            Why::CompilesNothing => "pure Python: no compiling build backend or build \
                 requirement, no ext-modules, no C, C++ or Cython sources of its own"
                .into(),
            Why::NotOwn { under, .. } => format!(
                "under `{under}/`: tests, examples, docs or benchmarks, not a package of the \
                 repository's own"
            ),
            Why::BuiltBy { python } => {
                format!(
                    "a crate the Python project at {} builds",
                    display_path(python)
                )
            }
            Why::NoPyo3 => "a crate that does not depend on pyo3".into(),
            Why::NotCdylib => {
                "depends on pyo3 but builds no cdylib (a library for other crates)".into()
            }
        }
    }
}

/// A relative path as the matrix file writes it: `.` for the root.
pub fn display_path(path: &Path) -> String {
    if path.as_os_str().is_empty() {
        ".".into()
    } else {
        path.to_string_lossy().into_owned()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(
        "{} holds no project that builds Python extension modules{}: expected a \
         pyproject.toml, setup.py or setup.cfg whose build compiles something, or a Cargo.toml \
         that depends on pyo3; run `extmatrix init` in the repository's directory or give it as \
         an argument",
        dir.display(),
        found(skipped)
    )]
    NotAProject { dir: PathBuf, skipped: Vec<Skipped> },
    #[error("cannot read {}: {source}", path.display())]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    BadToml { path: PathBuf, message: String },
}

/// " (found: crates/core: a crate that …; …)", or nothing.
fn found(skipped: &[Skipped]) -> String {
    if skipped.is_empty() {
        return String::new();
    }
    let each: Vec<String> = skipped
        .iter()
        .map(|s| format!("{}: {}", display_path(&s.path), s.why.describe()))
        .collect();
    format!(" (found: {})", each.join("; "))
}

/// The projects of the repository at `dir` that build extension modules.
pub fn detect(dir: &Path) -> Result<Repository, InitError> {
    let (mut projects, skipped) = discover::discover(dir)?;
    if projects.is_empty() {
        return Err(InitError::NotAProject {
            dir: dir.to_owned(),
            skipped,
        });
    }
    unique_names(&mut projects);
    Ok(Repository {
        root: dir.to_owned(),
        projects,
        skipped,
    })
}

/// Every project's name fit for a target name and unique: a second
/// project of one name gets its path appended.
fn unique_names(projects: &mut [Project]) {
    let mut taken: Vec<String> = Vec::new();
    for p in projects.iter_mut() {
        let mut name = target_name(&p.name);
        if taken.contains(&name) {
            name = target_name(&format!("{name}-{}", display_path(&p.path)));
        }
        taken.push(name.clone());
        p.name = name;
    }
}

/// `name` with only the characters a target name may hold.
fn target_name(name: &str) -> String {
    let kept: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_.-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    if kept.is_empty() {
        "project".into()
    } else {
        kept
    }
}

#[cfg(test)]
mod tests;
