//! `extmatrix init`: a starter matrix file for the project in a directory,
//! so that a user who has never read the docs gets a verdict on their own
//! package in two commands (`extmatrix init`, `extmatrix run`).
//!
//! What kind of target the project is comes from its files: a
//! `pyproject.toml`, `setup.py` or `setup.cfg` makes it a `pip` target (pip
//! builds it the way its users install it, whatever its backend: setuptools,
//! meson-python, scikit-build, maturin); otherwise a `Cargo.toml` that
//! depends on `pyo3` makes it a `cargo` target. The extension modules named
//! in its sources are only a hint written as a comment: the file leaves
//! `modules` out, so every extension module of the build is tested, and a
//! wrong guess can never make the file fail.

mod scan;

use extmatrix_core::Scenario;
use std::path::{Path, PathBuf};

/// The project found in a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    /// Its name (from `pyproject.toml`, `Cargo.toml` or the directory),
    /// fit for a target name.
    pub name: String,
    pub kind: Kind,
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

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(
        "{} holds no Python extension project: expected pyproject.toml, setup.py or setup.cfg, \
         or a Cargo.toml that depends on pyo3; run `extmatrix init` in the project's directory \
         or give it as an argument",
        dir.display()
    )]
    NotAProject { dir: PathBuf },
    #[error("cannot read {}: {source}", path.display())]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    BadToml { path: PathBuf, message: String },
}

/// The project in `dir`.
pub fn detect(dir: &Path) -> Result<Project, InitError> {
    let pyproject = scan::read_toml(&dir.join("pyproject.toml"))?;
    let cargo = scan::read_toml(&dir.join("Cargo.toml"))?;
    let python_project =
        pyproject.is_some() || dir.join("setup.py").is_file() || dir.join("setup.cfg").is_file();
    let kind = if python_project {
        Kind::Pip
    } else if cargo.as_ref().is_some_and(scan::depends_on_pyo3) {
        Kind::Cargo
    } else {
        return Err(InitError::NotAProject {
            dir: dir.to_owned(),
        });
    };
    let name = scan::project_name(pyproject.as_ref(), cargo.as_ref(), dir);
    let mut modules = scan::declared_modules(dir, pyproject.as_ref(), cargo.as_ref())?;
    modules.sort();
    modules.dedup();
    Ok(Project {
        name: target_name(&name),
        kind,
        modules,
    })
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

/// The matrix file for `project`, in the project's own directory, run on
/// `pythons` (ids).
pub fn render(project: &Project, pythons: &[String]) -> String {
    let scenarios: Vec<String> = Scenario::ALL.iter().map(|s| s.to_string()).collect();
    let pythons_line = if pythons.is_empty() {
        "auto   # no interpreter was found when this was written: `extmatrix pythons` says why"
            .to_owned()
    } else {
        format!("[{}]", pythons.join(", "))
    };
    let modules_hint = if project.modules.is_empty() {
        "    # Every extension module of the build is tested, each as its own row;\n    \
         # to test only some, list them: modules: [pkg._speedups]\n"
            .to_owned()
    } else {
        format!(
            "    # Every extension module of the build is tested, each as its own row.\n    \
             # The sources name: {}. To test only some: modules: [{}]\n",
            project.modules.join(", "),
            project.modules[0]
        )
    };
    format!(
        "# extmatrix.yaml, written by `extmatrix init` for {name} ({kind} target).\n\
         # Run it with `extmatrix run` (it reads ./extmatrix.yaml); `extmatrix run --help` and\n\
         # docs/matrix-format.md in extmatrix's repository say what every key does.\n\
         \n\
         # Every interpreter found on this machine when this file was written\n\
         # (`extmatrix pythons` lists them; `auto` takes whatever is there at run time).\n\
         pythons: {pythons_line}\n\
         scenarios: [{scenarios}]\n\
         options: {{ cycles: 5, timeout_s: 60 }}\n\
         targets:\n  \
           - name: {name}\n    \
             {kind}: .\n\
         {modules_hint}    \
         # Smoke code runs after every import, with the module bound to `m`. Make it\n    \
         # use the module, so each scenario checks the module works, not only imports:\n    \
         # e.g. \"assert m.add(1, 2) == 3\". Keep state on the module (set a value, read\n    \
         # it back) to catch instances that share it.\n    \
         smoke: \"pass\"\n",
        name = project.name,
        kind = project.kind.key(),
        scenarios = scenarios.join(", "),
    )
}

#[cfg(test)]
mod tests;
