//! A look at one project's files: its name, whether its build compiles
//! anything, whether a crate uses PyO3, which workspace members it names,
//! and the extension modules its build configuration names. Only what the
//! starter file needs; the build itself says which modules there are.

use crate::InitError;
use extmatrix_core::is_dotted_identifier;
use std::path::{Component, Path, PathBuf};
use toml::Table;

/// The project files of one directory, read.
#[derive(Debug, Default)]
pub(crate) struct ProjectFiles {
    pub pyproject: Option<Table>,
    pub cargo: Option<Table>,
    /// `setup.py`'s text.
    pub setup_py: Option<String>,
    pub setup_cfg: bool,
}

/// How a Python project compiles Rust, if it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RustBuild {
    /// maturin builds one crate: the project's own, or the directory of
    /// `tool.maturin.manifest-path` (relative to the project).
    Maturin { crate_dir: PathBuf },
    /// setuptools-rust builds the crates its configuration names,
    /// anywhere in the project's tree.
    SetuptoolsRust,
}

/// Build backends that compile: a project built by one of them builds
/// extension modules.
const COMPILING_BACKENDS: &[&str] = &[
    "maturin",
    "scikit_build_core",
    "mesonpy",
    "py_build_cmake",
    "sipbuild",
    "enscons",
];

/// Build requirements that are there to compile something (Cython,
/// pybind11, nanobind, setuptools-rust, CMake, CFFI, numpy's headers).
const COMPILING_REQUIRES: &[&str] = &[
    "cython",
    "pybind11",
    "nanobind",
    "setuptools-rust",
    "scikit-build",
    "scikit-build-core",
    "cmake",
    "meson-python",
    "maturin",
    "cffi",
    "numpy",
    "oldest-supported-numpy",
    "hatch-cython",
    "mypy",
];

/// What `setup.py` calls or passes when it builds extension modules.
const SETUP_PY_EXTENSIONS: &[&str] = &[
    "Extension(",
    "ext_modules",
    "cythonize(",
    "RustExtension(",
    "cffi_modules",
];

/// Source files a build compiles into extension modules (Rust needs a
/// backend that knows it, which the backend and requirements show).
const COMPILED_SUFFIXES: &[&str] = &["c", "cc", "cpp", "cxx", "c++", "pyx"];

impl ProjectFiles {
    pub(crate) fn read(dir: &Path) -> Result<ProjectFiles, InitError> {
        Ok(ProjectFiles {
            pyproject: read_toml(&dir.join("pyproject.toml"))?,
            cargo: read_toml(&dir.join("Cargo.toml"))?,
            setup_py: read_text(&dir.join("setup.py"))?,
            setup_cfg: dir.join("setup.cfg").is_file(),
        })
    }

    /// A Python project: pip can build it. A `pyproject.toml` with neither
    /// `[build-system]` nor `[project]` is only tools' configuration (a
    /// crate's `[tool.ruff]`).
    pub(crate) fn is_python(&self) -> bool {
        let pyproject = self
            .pyproject
            .as_ref()
            .is_some_and(|p| p.contains_key("build-system") || p.contains_key("project"));
        pyproject || self.setup_py.is_some() || self.setup_cfg
    }

    /// `[tool.uv] package = false`: a uv project that is not a package (a
    /// workspace's root, an application); nothing builds it.
    pub(crate) fn uv_package_false(&self) -> bool {
        self.pyproject
            .as_ref()
            .and_then(|p| get(p, "tool.uv.package"))
            .and_then(toml::Value::as_bool)
            == Some(false)
    }

    /// The build backend (`build-system.build-backend`).
    fn backend(&self) -> Option<&str> {
        get_str(self.pyproject.as_ref()?, "build-system.build-backend")
    }

    /// The distribution names of `build-system.requires`, lower case.
    fn build_requires(&self) -> Vec<String> {
        let Some(list) = self
            .pyproject
            .as_ref()
            .and_then(|p| get(p, "build-system.requires"))
            .and_then(toml::Value::as_array)
        else {
            return Vec::new();
        };
        list.iter()
            .filter_map(toml::Value::as_str)
            .map(requirement_name)
            .collect()
    }

    /// How the project compiles Rust, if it does.
    pub(crate) fn rust_build(&self) -> Option<RustBuild> {
        if self.backend().is_some_and(|b| b.starts_with("maturin")) {
            let manifest = self
                .pyproject
                .as_ref()
                .and_then(|p| get_str(p, "tool.maturin.manifest-path"))
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("Cargo.toml"));
            let crate_dir = manifest.parent().unwrap_or(Path::new("")).to_owned();
            return Some(RustBuild::Maturin { crate_dir });
        }
        let setuptools_rust = self.build_requires().iter().any(|r| r == "setuptools-rust")
            || self
                .setup_py
                .as_deref()
                .is_some_and(|s| s.contains("RustExtension("));
        setuptools_rust.then_some(RustBuild::SetuptoolsRust)
    }

    /// The member and exclude globs of the workspaces this directory's
    /// files declare: `[tool.uv.workspace]` and Cargo's `[workspace]`.
    pub(crate) fn workspace_globs(&self) -> Vec<(Vec<String>, Vec<String>)> {
        let globs = |table: &Table, key: &str| -> Vec<String> {
            get(table, key)
                .and_then(toml::Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(toml::Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut found = Vec::new();
        if let Some(p) = &self.pyproject {
            found.push((
                globs(p, "tool.uv.workspace.members"),
                globs(p, "tool.uv.workspace.exclude"),
            ));
        }
        if let Some(c) = &self.cargo {
            found.push((globs(c, "workspace.members"), globs(c, "workspace.exclude")));
        }
        found
    }
}

/// Whether the Python project with `files` builds extension modules, as
/// far as its files tell: a compiling build backend or build requirement,
/// extension modules in its setuptools configuration, or C, C++ or Cython
/// sources of its own (`own`: relative to it, nested projects left out).
pub(crate) fn compiles(files: &ProjectFiles, own: &[PathBuf]) -> bool {
    let backend = files
        .backend()
        .is_some_and(|b| COMPILING_BACKENDS.iter().any(|c| b.starts_with(c)));
    let requires = files
        .build_requires()
        .iter()
        .any(|r| COMPILING_REQUIRES.contains(&r.as_str()));
    let configured = files.pyproject.as_ref().is_some_and(|p| {
        get(p, "tool.setuptools.ext-modules").is_some() || get(p, "tool.setuptools-rust").is_some()
    }) || files
        .setup_py
        .as_deref()
        .is_some_and(|s| SETUP_PY_EXTENSIONS.iter().any(|e| s.contains(e)));
    let sources = own.iter().any(|f| {
        f.extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| COMPILED_SUFFIXES.contains(&e))
    });
    backend || requires || configured || sources
}

/// A requirement's distribution name, lower case, `_` as `-`
/// (`Cython>=3.0` gives `cython`, `setuptools_rust` `setuptools-rust`).
fn requirement_name(requirement: &str) -> String {
    requirement
        .trim()
        .split(|c: char| !(c.is_ascii_alphanumeric() || "-_.".contains(c)))
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
        .replace('_', "-")
}

/// The TOML file at `path`, `None` when there is none.
fn read_toml(path: &Path) -> Result<Option<Table>, InitError> {
    let Some(text) = read_text(path)? else {
        return Ok(None);
    };
    text.parse::<Table>()
        .map(Some)
        .map_err(|e| InitError::BadToml {
            path: path.to_owned(),
            message: e.to_string(),
        })
}

/// The text of the file at `path`, `None` when there is none.
fn read_text(path: &Path) -> Result<Option<String>, InitError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(InitError::Unreadable {
            path: path.to_owned(),
            source,
        }),
    }
}

pub(crate) fn get<'t>(table: &'t Table, dotted: &str) -> Option<&'t toml::Value> {
    let mut parts = dotted.split('.');
    let mut value = table.get(parts.next()?)?;
    for part in parts {
        value = value.as_table()?.get(part)?;
    }
    Some(value)
}

fn get_str<'t>(table: &'t Table, dotted: &str) -> Option<&'t str> {
    get(table, dotted)?.as_str()
}

pub(crate) fn depends_on_pyo3(cargo: &Table) -> bool {
    get(cargo, "dependencies.pyo3").is_some()
}

/// `[lib] crate-type` has `cdylib`: the shared library Python imports.
pub(crate) fn builds_cdylib(cargo: &Table) -> bool {
    get(cargo, "lib.crate-type")
        .and_then(toml::Value::as_array)
        .is_some_and(|types| types.iter().any(|t| t.as_str() == Some("cdylib")))
}

/// `[package].name`.
pub(crate) fn crate_name(cargo: &Table) -> Option<String> {
    get_str(cargo, "package.name").map(str::to_owned)
}

/// The module a PyO3 crate's library is: `[lib].name`, else the package's
/// name, `-` made `_` (as rustc names the library).
pub(crate) fn crate_module(cargo: &Table) -> Option<String> {
    let lib = get_str(cargo, "lib.name").or_else(|| get_str(cargo, "package.name"))?;
    Some(lib.replace('-', "_"))
}

/// `[project].name`, else `[package].name`, else the directory's name.
pub(crate) fn project_name(files: &ProjectFiles, dir: &Path) -> String {
    files
        .pyproject
        .as_ref()
        .and_then(|t| get_str(t, "project.name"))
        .map(str::to_owned)
        .or_else(|| files.cargo.as_ref().and_then(crate_name))
        .or_else(|| {
            std::fs::canonicalize(dir)
                .ok()?
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_default()
}

/// The extension modules the project's configuration and its own sources
/// (`own`, relative to the project) name, sorted, each once.
pub(crate) fn declared_modules(files: &ProjectFiles, own: &[PathBuf]) -> Vec<String> {
    let mut modules = Vec::new();
    if let Some(py) = &files.pyproject {
        if let Some(list) = get(py, "tool.setuptools.ext-modules").and_then(|v| v.as_array()) {
            let names = list.iter().filter_map(|e| e.get("name")?.as_str());
            modules.extend(names.map(str::to_owned));
        }
        if let Some(name) = get_str(py, "tool.maturin.module-name") {
            modules.push(name.to_owned());
        }
    }
    if modules.is_empty() && matches!(files.rust_build(), Some(RustBuild::Maturin { .. })) {
        // maturin installs a module it was given no name for as a package
        // of the same name: `<lib>/<lib>.so` beside an `__init__.py`.
        let cargo = files.cargo.as_ref().filter(|c| depends_on_pyo3(c));
        modules.extend(cargo.and_then(crate_module).map(|m| format!("{m}.{m}")));
    }
    if let Some(text) = &files.setup_py {
        modules.extend(extension_names(text));
    }
    modules.extend(cython_modules(own));
    let mut modules: Vec<String> = modules
        .into_iter()
        .filter(|m| is_dotted_identifier(m))
        .collect();
    modules.sort();
    modules.dedup();
    modules
}

/// The first string literal of every `Extension(` call in `setup.py`
/// text (positional or `name=`).
pub(crate) fn extension_names(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    for (at, _) in text.match_indices("Extension(") {
        let rest = text[at + "Extension(".len()..].trim_start();
        let rest = rest
            .strip_prefix("name")
            .map(|r| r.trim_start().trim_start_matches('=').trim_start())
            .unwrap_or(rest);
        let Some(quote) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') else {
            continue;
        };
        if let Some(end) = rest[1..].find(quote) {
            names.push(rest[1..1 + end].to_owned());
        }
    }
    names
}

/// Module names of the `.pyx` files among `own` (a `src/` layout's `src`
/// left out).
fn cython_modules(own: &[PathBuf]) -> Vec<String> {
    own.iter()
        .filter(|f| f.extension().is_some_and(|e| e == "pyx"))
        .filter_map(|f| {
            let f = f.strip_prefix("src").unwrap_or(f).with_extension("");
            let parts: Option<Vec<&str>> = f
                .components()
                .map(|c| match c {
                    Component::Normal(p) => p.to_str(),
                    _ => None,
                })
                .collect();
            Some(parts?.join("."))
        })
        .collect()
}
