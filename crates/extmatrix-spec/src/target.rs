//! `targets:`: what is tested, and how each kind of target is named in the
//! file. One key says the kind (`c`, `pip`, `cargo`, `stdlib`); `modules`
//! narrows which of the built extension modules get rows, `exclude` leaves
//! out those its patterns match.

use crate::node::{Node, Value};
use crate::{Context, Location, Once, SpecError};
use extmatrix_core::expect::Expectation;
use extmatrix_core::is_dotted_identifier;
use extmatrix_core::pattern::{is_module_pattern, module_matches};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq)]
pub struct TargetSpec {
    /// Unique within the file; [A-Za-z0-9_.-]+.
    pub name: String,
    pub kind: TargetKind,
    /// The extension modules to test, each a dotted Python identifier.
    /// Empty: every extension module the build produces (for `stdlib: all`,
    /// every one the interpreter ships). A `c` target has exactly one.
    pub modules: Vec<String>,
    /// Patterns of modules the build has that get no rows
    /// (`extmatrix_core::pattern`: `**.tests.**` leaves out every module of
    /// a `tests` package). Empty: none left out.
    pub exclude: Vec<String>,
    /// Python code run with the module bound to `m`; `None` = nothing.
    pub smoke: Option<String>,
    /// Run `site` at every init of its cells (`site: true`). Off by
    /// default: a cell sees the module's directory (and the `.pth` files in
    /// it), not the interpreter's or the user's site-packages.
    pub site: bool,
    /// What some of its cells are expected to give (`expect:`, and an
    /// expectations file's entries for it: `Matrix::add_expectations`).
    pub expect: Vec<Expectation>,
    /// Where the target's mapping starts in the file.
    pub at: Location,
}

/// How a target is built.
#[derive(Debug, Clone, PartialEq)]
pub enum TargetKind {
    /// `c: path/to/file.c`: one C file is one extension module. Absolute path, exists.
    CFile { source: PathBuf },
    /// `pip: ...`: a Python project built into a wheel by pip, from source.
    Pip(PipSource),
    /// `cargo: path/to/crate`: a Rust `cdylib` (PyO3 and the like).
    /// Absolute path of its `Cargo.toml`, which exists.
    Cargo { manifest: PathBuf },
    /// `stdlib: all` or `stdlib: [_csv, ...]`: the extension modules each
    /// interpreter ships; nothing is built.
    Stdlib,
}

/// What a `pip:` target names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PipSource {
    /// A project directory (`pyproject.toml`, `setup.py` or `setup.cfg` in
    /// it). Absolute.
    Project(PathBuf),
    /// A source distribution file (`.tar.gz`, `.zip`). Absolute.
    Sdist(PathBuf),
    /// `name==version` from the package index: always its sdist.
    Requirement { name: String, version: String },
}

const TARGET_KEYS: &[&str] = &[
    "name", "c", "pip", "cargo", "stdlib", "module", "modules", "exclude", "smoke", "site",
    "expect",
];
/// The keys that say what kind of target it is; exactly one per target.
const KIND_KEYS: &[&str] = &["c", "pip", "cargo", "stdlib"];
/// What a source distribution's file name ends with.
pub const SDIST_SUFFIXES: &[&str] = &[".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".zip"];
const PROJECT_FILES: &[&str] = &["pyproject.toml", "setup.py", "setup.cfg"];

impl Context<'_> {
    /// `targets: [...]`: at least one, names unique.
    pub(crate) fn targets(&self, node: &Node) -> Result<Vec<TargetSpec>, SpecError> {
        let Value::Seq(items) = &node.value else {
            return Err(self.wrong_type(
                node,
                "`targets` must be a list of targets ({name, c|pip|cargo|stdlib, modules, exclude, smoke})",
            ));
        };
        if items.is_empty() {
            return Err(self.error(
                node.at,
                "`targets` must not be empty; list at least one target, e.g. {name: mine, pip: .}",
            ));
        }
        let mut seen = Once::default();
        let mut targets = Vec::with_capacity(items.len());
        for item in items {
            let (target, name_at) = self.target(item)?;
            seen.check(self, target.name.clone(), name_at, |first| {
                format!(
                    "duplicate target name `{}` (first at {first}); target names must be unique",
                    target.name
                )
            })?;
            targets.push(target);
        }
        Ok(targets)
    }

    /// One target, and where its name is (for duplicate-name errors).
    fn target(&self, node: &Node) -> Result<(TargetSpec, Location), SpecError> {
        let fields = self.fields(node, "a target", TARGET_KEYS)?;
        let name_node = fields.require(self, "name")?;
        let name = self.target_name(name_node)?;

        let (kind, modules) = self.kind(node, name, &fields)?;
        let exclude = self.exclude(&fields, &kind, &modules)?;

        let smoke = match fields.get("smoke") {
            Some(smoke) => Some(
                self.string(smoke, "`smoke` must be a string of Python code")?
                    .to_owned(),
            ),
            None => None,
        };
        let site = match fields.get("site") {
            Some(site) => self.boolean(
                site,
                "`site` must be true or false (true runs `site` at every init, as `python` does)",
            )?,
            None => false,
        };
        let expect = match fields.get("expect") {
            Some(expect) => self.expectations(expect, name)?,
            None => Vec::new(),
        };
        let target = TargetSpec {
            name: name.to_owned(),
            kind,
            modules,
            exclude,
            smoke,
            site,
            expect,
            at: node.at,
        };
        Ok((target, name_node.at))
    }

    /// The one kind key of a target, and the modules it names.
    fn kind(
        &self,
        node: &Node,
        name: &str,
        fields: &crate::Fields,
    ) -> Result<(TargetKind, Vec<String>), SpecError> {
        // In file order: a second kind is pointed at where it stands.
        let mut kinds: Vec<(&str, &Node)> = KIND_KEYS
            .iter()
            .filter_map(|k| fields.get(k).map(|n| (*k, n)))
            .collect();
        kinds.sort_by_key(|(_, n)| (n.at.line, n.at.column));
        let (kind_key, kind_node) = match kinds.as_slice() {
            [one] => *one,
            [] => {
                return Err(self.error(
                    node.at,
                    format!(
                        "target `{name}` says nothing to test: give one of `c: file.c`, \
                         `pip: <project dir | sdist | name==version>`, `cargo: <crate dir>`, \
                         `stdlib: all | [modules]`"
                    ),
                ))
            }
            [(first, _), (second, second_node), ..] => {
                return Err(self.error(
                    second_node.at,
                    format!(
                        "target `{name}` has both `{first}` and `{second}`; a target is one kind: choose one"
                    ),
                ))
            }
        };
        if kind_key != "c" {
            if let Some(module) = fields.get("module") {
                return Err(self.error(
                    module.at,
                    format!(
                        "`module` belongs to `c` targets; a `{kind_key}` target lists its modules with `modules: [...]`"
                    ),
                ));
            }
        }
        let (kind, modules) = match kind_key {
            "c" => self.c_target(fields, kind_node)?,
            "stdlib" => {
                if let Some(modules) = fields.get("modules") {
                    return Err(self.error(
                        modules.at,
                        "a `stdlib` target lists its modules in `stdlib: [...]` itself",
                    ));
                }
                (TargetKind::Stdlib, self.stdlib_modules(kind_node)?)
            }
            "pip" => (
                TargetKind::Pip(self.pip_source(kind_node)?),
                self.modules(fields)?,
            ),
            "cargo" => (
                TargetKind::Cargo {
                    manifest: self.cargo_manifest(kind_node)?,
                },
                self.modules(fields)?,
            ),
            _ => unreachable!("KIND_KEYS are matched above"),
        };

        Ok((kind, modules))
    }

    /// `c: file.c` with its optional `module:`: one module.
    fn c_target(
        &self,
        fields: &crate::Fields,
        c_node: &Node,
    ) -> Result<(TargetKind, Vec<String>), SpecError> {
        if let Some(modules) = fields.get("modules") {
            return Err(self.error(
                modules.at,
                "a `c` target is one module; name it with `module:`, not `modules:`",
            ));
        }
        let c = self.string(c_node, "`c` must be the path of a C source file")?;
        let source = self.existing_file(c_node, "c", "C file", c)?;
        let module = self.c_module(fields.get("module"), c_node, c)?;
        Ok((TargetKind::CFile { source }, vec![module]))
    }

    fn target_name<'n>(&self, node: &'n Node) -> Result<&'n str, SpecError> {
        let name = self.string(
            node,
            "`name` must be a string of letters, digits, `_`, `.` and `-`",
        )?;
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        {
            return Err(self.error(
                node.at,
                format!("invalid target name {name:?}: use only letters, digits, `_`, `.` and `-`"),
            ));
        }
        Ok(name)
    }

    /// A `c` target's module: `module:`, or the C file's stem.
    fn c_module(&self, module: Option<&Node>, c_node: &Node, c: &str) -> Result<String, SpecError> {
        if let Some(module_node) = module {
            return self.module_name(module_node);
        }
        let stem = Path::new(c)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !is_dotted_identifier(&stem) {
            return Err(self.error(
                c_node.at,
                format!(
                    "the C file's stem {stem:?} is not a valid Python module name; \
                     set `module:` to the name the extension is imported as"
                ),
            ));
        }
        Ok(stem)
    }

    fn module_name(&self, node: &Node) -> Result<String, SpecError> {
        let module = self.string(node, "a module must be a dotted Python module name")?;
        if !is_dotted_identifier(module) {
            return Err(self.error(
                node.at,
                format!(
                    "invalid module name {module:?}: it must be a dotted Python identifier like `pkg.mod` \
                     (ASCII letters, digits and `_`, not starting with a digit, no keywords)"
                ),
            ));
        }
        Ok(module.to_owned())
    }

    /// A list of module names, each once.
    fn module_list(&self, node: &Node, what: &str) -> Result<Vec<String>, SpecError> {
        let Value::Seq(items) = &node.value else {
            return Err(self.wrong_type(node, &format!("{what} must be a list of module names")));
        };
        if items.is_empty() {
            return Err(self.error(
                node.at,
                format!("{what} must not be empty; leave it out to test every module"),
            ));
        }
        let mut seen = Once::default();
        let mut modules = Vec::with_capacity(items.len());
        for item in items {
            let module = self.module_name(item)?;
            seen.check(self, module.clone(), item.at, |first| {
                format!("module `{module}` is listed twice (first at {first})")
            })?;
            modules.push(module);
        }
        Ok(modules)
    }

    /// `modules: [...]`, optional.
    fn modules(&self, fields: &crate::Fields) -> Result<Vec<String>, SpecError> {
        match fields.get("modules") {
            Some(node) => self.module_list(node, "`modules`"),
            None => Ok(Vec::new()),
        }
    }

    /// `exclude: [patterns]`, optional; not for a `c` target (one module),
    /// and never matching a module `modules:` or `stdlib:` lists (a
    /// module cannot be both wanted and left out).
    fn exclude(
        &self,
        fields: &crate::Fields,
        kind: &TargetKind,
        modules: &[String],
    ) -> Result<Vec<String>, SpecError> {
        let Some(node) = fields.get("exclude") else {
            return Ok(Vec::new());
        };
        if matches!(kind, TargetKind::CFile { .. }) {
            return Err(self.error(
                node.at,
                "a `c` target is one module; `exclude` belongs to `pip`, `cargo` and `stdlib` targets",
            ));
        }
        let Value::Seq(items) = &node.value else {
            return Err(self.wrong_type(node, "`exclude` must be a list of module patterns"));
        };
        if items.is_empty() {
            return Err(self.error(
                node.at,
                "`exclude` must not be empty; leave it out to test every module",
            ));
        }
        let mut patterns = Vec::with_capacity(items.len());
        for item in items {
            let pattern = self.string(item, "an `exclude` entry must be a module pattern")?;
            if !is_module_pattern(pattern) {
                return Err(self.error(
                    item.at,
                    format!(
                        "invalid module pattern {pattern:?}: dotted parts of ASCII letters, digits \
                         and `_`, with `*` (any run within a part), `?` (one character) or a \
                         whole part `**` (any number of parts), like \"**.tests.**\""
                    ),
                ));
            }
            if let Some(listed) = modules.iter().find(|m| module_matches(pattern, m)) {
                return Err(self.error(
                    item.at,
                    format!(
                        "`exclude` pattern {pattern:?} matches {listed}, which the target lists; \
                         a module cannot be both tested and left out"
                    ),
                ));
            }
            patterns.push(pattern.to_owned());
        }
        Ok(patterns)
    }

    /// `stdlib: all` (empty list) or `stdlib: [...]`.
    fn stdlib_modules(&self, node: &Node) -> Result<Vec<String>, SpecError> {
        match &node.value {
            Value::Str(s) if s == "all" => Ok(Vec::new()),
            Value::Seq(_) => self.module_list(node, "`stdlib`"),
            _ => Err(self.wrong_type(
                node,
                "`stdlib` must be `all` or a list of module names like [_csv, _random]",
            )),
        }
    }

    /// `pip:` a project directory, an sdist, or `name==version`.
    fn pip_source(&self, node: &Node) -> Result<PipSource, SpecError> {
        let text = self.string(
            node,
            "`pip` must be a project directory, an sdist file or a pinned requirement `name==version`",
        )?;
        if let Some((name, version)) = text.split_once("==") {
            return self.requirement(node, name.trim(), version.trim());
        }
        if text.ends_with(".whl") {
            return Err(self.error(
                node.at,
                format!(
                    "{text} is a wheel; extmatrix builds every target from source against each \
                     interpreter: give the project directory or its sdist"
                ),
            ));
        }
        let resolved = self.resolve(text);
        let meta = std::fs::metadata(&resolved).map_err(|err| {
            self.error(
                node.at,
                format!(
                    "cannot read {}: {err}; `pip` must be a project directory, an sdist file \
                     (paths are relative to the matrix file's directory, {}) or a pinned \
                     requirement `name==version`",
                    resolved.display(),
                    self.dir.display()
                ),
            )
        })?;
        let path = std::fs::canonicalize(&resolved).map_err(|err| {
            self.error(
                node.at,
                format!("cannot resolve {}: {err}", resolved.display()),
            )
        })?;
        if meta.is_dir() {
            if !PROJECT_FILES.iter().any(|f| path.join(f).is_file()) {
                return Err(self.error(
                    node.at,
                    format!(
                        "{} is not a Python project: it has none of {}",
                        path.display(),
                        PROJECT_FILES.join(", ")
                    ),
                ));
            }
            return Ok(PipSource::Project(path));
        }
        if SDIST_SUFFIXES.iter().any(|s| text.ends_with(s)) {
            return Ok(PipSource::Sdist(path));
        }
        Err(self.error(
            node.at,
            format!(
                "{} is neither a project directory nor an sdist ({})",
                path.display(),
                SDIST_SUFFIXES.join(", ")
            ),
        ))
    }

    /// `name==version`: a distribution name and one exact version, so the
    /// verdict names what it tested and a cached build stays right.
    fn requirement(&self, node: &Node, name: &str, version: &str) -> Result<PipSource, SpecError> {
        let name_ok = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
        let version_ok = !version.is_empty()
            && version
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".+!_-".contains(c));
        if !name_ok || !version_ok {
            return Err(self.error(
                node.at,
                format!(
                    "`pip: {name}=={version}` is not a pinned requirement: write `name==version` \
                     with one exact version (no wildcards, extras, markers or ranges)"
                ),
            ));
        }
        Ok(PipSource::Requirement {
            name: name.to_owned(),
            version: version.to_owned(),
        })
    }

    /// `cargo:` a crate directory or its `Cargo.toml`.
    fn cargo_manifest(&self, node: &Node) -> Result<PathBuf, SpecError> {
        let text = self.string(node, "`cargo` must be the path of a crate directory")?;
        let resolved = self.resolve(text);
        let manifest = if resolved.is_dir() {
            resolved.join("Cargo.toml")
        } else {
            resolved
        };
        self.existing_file(node, "cargo", "Cargo.toml", &manifest.to_string_lossy())
    }

    /// The canonical path of the readable regular file `path` names.
    pub(crate) fn existing_file(
        &self,
        node: &Node,
        key: &str,
        what: &str,
        path: &str,
    ) -> Result<PathBuf, SpecError> {
        if path.is_empty() {
            return Err(self.error(
                node.at,
                format!("`{key}` must not be empty; give the path of a {what}"),
            ));
        }
        let resolved = self.resolve(path);
        let relative_note = if Path::new(path).is_absolute() {
            String::new()
        } else {
            format!(
                " (`{key}` paths are relative to the matrix file's directory, {})",
                self.dir.display()
            )
        };
        let problem = match std::fs::metadata(&resolved) {
            Err(err) => Some(format!("cannot read {what} {}: {err}", resolved.display())),
            Ok(meta) if !meta.is_file() => Some(format!(
                "{what} {} is not a regular file",
                resolved.display()
            )),
            Ok(_) => std::fs::File::open(&resolved)
                .err()
                .map(|err| format!("cannot read {what} {}: {err}", resolved.display())),
        };
        if let Some(problem) = problem {
            return Err(self.error(node.at, format!("{problem}{relative_note}")));
        }
        std::fs::canonicalize(&resolved).map_err(|err| {
            self.error(
                node.at,
                format!("cannot resolve {what} {}: {err}", resolved.display()),
            )
        })
    }
}
