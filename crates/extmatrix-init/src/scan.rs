//! A look at a project's files: its name, whether a crate uses PyO3, and
//! the extension modules its build configuration names. Only a hint for
//! the starter file; the build itself says which modules there are.

use crate::InitError;
use extmatrix_core::is_dotted_identifier;
use std::path::{Component, Path};
use toml::Table;

/// The TOML file at `path`, `None` when there is none.
pub fn read_toml(path: &Path) -> Result<Option<Table>, InitError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(InitError::Unreadable {
                path: path.to_owned(),
                source,
            })
        }
    };
    text.parse::<Table>()
        .map(Some)
        .map_err(|e| InitError::BadToml {
            path: path.to_owned(),
            message: e.to_string(),
        })
}

fn get<'t>(table: &'t Table, dotted: &str) -> Option<&'t toml::Value> {
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

pub fn depends_on_pyo3(cargo: &Table) -> bool {
    get(cargo, "dependencies.pyo3").is_some()
}

/// `[project].name`, else `[package].name`, else the directory's name.
pub fn project_name(pyproject: Option<&Table>, cargo: Option<&Table>, dir: &Path) -> String {
    pyproject
        .and_then(|t| get_str(t, "project.name"))
        .or_else(|| cargo.and_then(|t| get_str(t, "package.name")))
        .map(str::to_owned)
        .or_else(|| {
            std::fs::canonicalize(dir)
                .ok()?
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_default()
}

/// The extension modules the project's configuration and sources name.
pub fn declared_modules(
    dir: &Path,
    pyproject: Option<&Table>,
    cargo: Option<&Table>,
) -> Result<Vec<String>, InitError> {
    let mut modules = Vec::new();
    if let Some(py) = pyproject {
        if let Some(list) = get(py, "tool.setuptools.ext-modules").and_then(|v| v.as_array()) {
            let names = list.iter().filter_map(|e| e.get("name")?.as_str());
            modules.extend(names.map(str::to_owned));
        }
        if let Some(name) = get_str(py, "tool.maturin.module-name") {
            modules.push(name.to_owned());
        }
    }
    if modules.is_empty() {
        if let Some(cargo) = cargo.filter(|c| depends_on_pyo3(c)) {
            let lib = get_str(cargo, "lib.name").or_else(|| get_str(cargo, "package.name"));
            modules.extend(lib.map(|l| l.replace('-', "_")));
        }
    }
    let setup_py = dir.join("setup.py");
    if setup_py.is_file() {
        let text = std::fs::read_to_string(&setup_py).map_err(|source| InitError::Unreadable {
            path: setup_py.clone(),
            source,
        })?;
        modules.extend(extension_names(&text));
    }
    modules.extend(cython_modules(dir));
    Ok(modules
        .into_iter()
        .filter(|m| is_dotted_identifier(m))
        .collect())
}

/// The first string literal of every `Extension(` call in `setup.py`
/// text (positional or `name=`).
pub fn extension_names(text: &str) -> Vec<String> {
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

/// Module names of the `.pyx` files under `dir` (a `src/` layout's `src`
/// left out), skipping what is not the project's own source.
fn cython_modules(dir: &Path) -> Vec<String> {
    let Ok(files) = extmatrix_provision::tree::source_files(dir) else {
        return Vec::new();
    };
    files
        .iter()
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
