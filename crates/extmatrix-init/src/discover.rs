//! Which projects of a repository build extension modules.
//!
//! One walk lists every directory that holds a project file
//! (`pyproject.toml`, `setup.py`, `setup.cfg`, `Cargo.toml`): the root, the
//! members of a uv or Cargo workspace, any subdirectory. Each is then a
//! target or a [`Skipped`] with its reason:
//!
//! - a Python project is a `pip` target when it is a package (not `[tool.uv]
//!   package = false`) whose build compiles something (see
//!   [`scan::compiles`]);
//! - a crate is a `cargo` target when it depends on pyo3 and builds a
//!   `cdylib`, unless a Python project builds it (a maturin project's own
//!   crate, or the one its `manifest-path` names): then that project is the
//!   target;
//! - a project under `tests/`, `examples/`, `docs/`, `benches/`… is the
//!   repository's tests or examples, not its own package — unless a
//!   workspace names it as a member.

use crate::scan::{self, ProjectFiles, RustBuild};
use crate::{InitError, Kind, Project, Skipped, Why};
use extmatrix_core::pattern::path_matches;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Directory names whose projects are a repository's tests, examples,
/// documentation or benchmarks, not its own packages.
const NOT_OWN_DIRS: &[&str] = &[
    "tests",
    "test",
    "testing",
    "examples",
    "example",
    "docs",
    "doc",
    "benches",
    "benchmarks",
    "fixtures",
];

/// The file names of every directory of a repository that is looked at,
/// relative to its root (the root is `""`).
pub(crate) struct Tree {
    root: PathBuf,
    dirs: BTreeMap<PathBuf, Vec<String>>,
}

impl Tree {
    /// Walk `root`, never into version control, environments, caches or
    /// build outputs (a nested crate's `target/` can hold 100,000 files).
    pub(crate) fn walk(root: &Path) -> Result<Tree, InitError> {
        let mut tree = Tree {
            root: root.to_owned(),
            dirs: BTreeMap::new(),
        };
        tree.visit(PathBuf::new())?;
        Ok(tree)
    }

    fn visit(&mut self, relative: PathBuf) -> Result<(), InitError> {
        let dir = self.root.join(&relative);
        let entries = std::fs::read_dir(&dir).map_err(|source| InitError::Unreadable {
            path: dir.clone(),
            source,
        })?;
        let mut files = Vec::new();
        let mut subdirs = Vec::new();
        for entry in entries.flatten() {
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            // Not followed: a link to a directory must not walk the machine.
            match entry.file_type() {
                Ok(t) if t.is_dir() => {
                    if !name.starts_with('.')
                        && !extmatrix_provision::tree::skipped_dir(&name, true)
                    {
                        subdirs.push(relative.join(&name));
                    }
                }
                Ok(_) => files.push(name),
                Err(_) => {}
            }
        }
        files.sort();
        self.dirs.insert(relative, files);
        for sub in subdirs {
            self.visit(sub)?;
        }
        Ok(())
    }

    fn has(&self, dir: &Path, file: &str) -> bool {
        self.dirs
            .get(dir)
            .is_some_and(|f| f.iter().any(|n| n == file))
    }

    /// The files of the project at `dir`, relative to it: its tree without
    /// the trees of the projects `nested` below it.
    pub(crate) fn own_files(&self, dir: &Path, nested: &BTreeSet<PathBuf>) -> Vec<PathBuf> {
        let below = |n: &Path| n != dir && n.starts_with(dir);
        let inside_nested = |d: &Path| nested.iter().any(|n| below(n) && d.starts_with(n));
        self.dirs
            .iter()
            .filter(|(d, _)| d.starts_with(dir) && !inside_nested(d))
            .flat_map(|(d, files)| {
                let relative = d.strip_prefix(dir).unwrap_or(d).to_owned();
                files.iter().map(move |f| relative.join(f))
            })
            .collect()
    }
}

/// The project files found in one directory.
struct Candidate {
    dir: PathBuf,
    files: ProjectFiles,
}

/// Every project of the repository at `root`: targets and what was left
/// out, each in path order (the root first).
pub(crate) fn discover(root: &Path) -> Result<(Vec<Project>, Vec<Skipped>), InitError> {
    let tree = Tree::walk(root)?;
    let candidates = candidates(&tree)?;
    let dirs: BTreeSet<PathBuf> = candidates.iter().map(|c| c.dir.clone()).collect();
    let members = workspace_members(&candidates, &dirs);
    let mut projects = Vec::new();
    let mut skipped = Vec::new();
    let python: Vec<&Candidate> = candidates.iter().filter(|c| c.files.is_python()).collect();
    for c in &python {
        match python_project(&tree, c, &dirs, &members) {
            Ok(project) => projects.push(project),
            Err(why) => skipped.push(Skipped {
                path: c.dir.clone(),
                why,
            }),
        }
    }
    let rust_builders = rust_builders(&python, &skipped);
    for c in &candidates {
        match crate_project(c, &rust_builders, &members) {
            Some(Ok(project)) => projects.push(project),
            Some(Err(why)) => skipped.push(Skipped {
                path: c.dir.clone(),
                why,
            }),
            None => {}
        }
    }
    projects.sort_by(|a, b| a.path.cmp(&b.path));
    skipped.sort_by(|a, b| a.path.cmp(&b.path));
    Ok((projects, skipped))
}

/// The directories that hold a project file, with those files read.
fn candidates(tree: &Tree) -> Result<Vec<Candidate>, InitError> {
    let mut found = Vec::new();
    for dir in tree.dirs.keys() {
        let has = |f: &str| tree.has(dir, f);
        if !["pyproject.toml", "setup.py", "setup.cfg", "Cargo.toml"]
            .iter()
            .any(|f| has(f))
        {
            continue;
        }
        let files = ProjectFiles::read(&tree.root.join(dir))?;
        found.push(Candidate {
            dir: dir.clone(),
            files,
        });
    }
    Ok(found)
}

/// The project directories a uv or Cargo workspace names as members
/// (their globs matched against the directories found, less `exclude`).
fn workspace_members(candidates: &[Candidate], dirs: &BTreeSet<PathBuf>) -> BTreeSet<PathBuf> {
    let mut members = BTreeSet::new();
    for c in candidates {
        for (include, exclude) in c.files.workspace_globs() {
            let matches = |globs: &[String], d: &Path| {
                let Ok(relative) = d.strip_prefix(&c.dir) else {
                    return false;
                };
                let relative = relative.to_string_lossy();
                globs.iter().any(|g| path_matches(g, &relative))
            };
            members.extend(
                dirs.iter()
                    .filter(|d| matches(&include, d) && !matches(&exclude, d))
                    .cloned(),
            );
        }
    }
    members
}

/// Why a project at `dir` is not the repository's own: the first
/// directory of its path that holds tests, examples, docs or benchmarks.
fn not_own_dir(dir: &Path, members: &BTreeSet<PathBuf>) -> Option<String> {
    if members.contains(dir) {
        return None;
    }
    dir.components()
        .filter_map(|c| c.as_os_str().to_str())
        .find(|c| NOT_OWN_DIRS.contains(c))
        .map(str::to_owned)
}

/// The Python project `c` as a `pip` target, or why it is none (`dirs`:
/// every project directory, whose trees are not `c`'s own).
fn python_project(
    tree: &Tree,
    c: &Candidate,
    dirs: &BTreeSet<PathBuf>,
    members: &BTreeSet<PathBuf>,
) -> Result<Project, Why> {
    if c.files.uv_package_false() {
        return Err(Why::NotAPackage);
    }
    let own = tree.own_files(&c.dir, dirs);
    if !scan::compiles(&c.files, &own) {
        return Err(Why::CompilesNothing);
    }
    if let Some(under) = not_own_dir(&c.dir, members) {
        return Err(Why::NotOwn {
            under,
            kind: Kind::Pip,
        });
    }
    Ok(Project {
        name: scan::project_name(&c.files, &tree.root.join(&c.dir)),
        kind: Kind::Pip,
        path: c.dir.clone(),
        modules: scan::declared_modules(&c.files, &own),
    })
}

/// A Python project that compiles Rust, and which crates it builds.
struct RustBuilder {
    python: PathBuf,
    crates: CrateDirs,
}

enum CrateDirs {
    /// maturin's one crate.
    Exactly(PathBuf),
    /// setuptools-rust's: any crate in the project's tree.
    Under(PathBuf),
}

impl RustBuilder {
    fn builds(&self, crate_dir: &Path) -> bool {
        match &self.crates {
            CrateDirs::Exactly(dir) => crate_dir == dir,
            CrateDirs::Under(dir) => crate_dir.starts_with(dir),
        }
    }
}

/// The Python projects that compile Rust (packages: a uv project that is
/// not one builds nothing), each with the crates it builds.
fn rust_builders(python: &[&Candidate], skipped: &[Skipped]) -> Vec<RustBuilder> {
    let not_a_package = |dir: &Path| {
        skipped
            .iter()
            .any(|s| s.why == Why::NotAPackage && s.path == dir)
    };
    python
        .iter()
        .filter(|c| !not_a_package(&c.dir))
        .filter_map(|c| {
            let crates = match c.files.rust_build()? {
                RustBuild::Maturin { crate_dir } => {
                    CrateDirs::Exactly(normalize(&c.dir.join(crate_dir)))
                }
                RustBuild::SetuptoolsRust => CrateDirs::Under(c.dir.clone()),
            };
            Some(RustBuilder {
                python: c.dir.clone(),
                crates,
            })
        })
        .collect()
}

/// `path` without `.` and with `..` applied (paths inside a repository).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// The crate `c` as a `cargo` target, why it is none, or `None` when
/// there is nothing to say: no crate in `c` (a virtual workspace manifest),
/// or one the Python project beside it builds (that project is the target,
/// or says why not).
fn crate_project(
    c: &Candidate,
    rust_builders: &[RustBuilder],
    members: &BTreeSet<PathBuf>,
) -> Option<Result<Project, Why>> {
    let cargo = c.files.cargo.as_ref()?;
    scan::get(cargo, "package")?;
    // The nearest Python project that builds it.
    let built_by = rust_builders
        .iter()
        .filter(|b| b.builds(&c.dir))
        .max_by_key(|b| b.python.components().count());
    if let Some(builder) = built_by {
        if builder.python == c.dir {
            return None;
        }
        return Some(Err(Why::BuiltBy {
            python: builder.python.clone(),
        }));
    }
    if !scan::depends_on_pyo3(cargo) {
        return Some(Err(Why::NoPyo3));
    }
    if !scan::builds_cdylib(cargo) {
        return Some(Err(Why::NotCdylib));
    }
    if let Some(under) = not_own_dir(&c.dir, members) {
        return Some(Err(Why::NotOwn {
            under,
            kind: Kind::Cargo,
        }));
    }
    let dir_name = c.dir.file_name().map(|n| n.to_string_lossy().into_owned());
    Some(Ok(Project {
        name: scan::crate_name(cargo).or(dir_name).unwrap_or_default(),
        kind: Kind::Cargo,
        path: c.dir.clone(),
        modules: scan::crate_module(cargo).into_iter().collect(),
    }))
}
