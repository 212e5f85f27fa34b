//! `pip: ...`: a Python project built from source into a wheel by the
//! interpreter's own pip, installed with its runtime dependencies into a
//! directory of its own, whose extension modules are then found in the
//! wheel's `RECORD`.
//!
//! - A project directory is copied first (its [`tree`](super::tree)), so
//!   the build never writes `build/` or `*.egg-info` into the user's tree,
//!   and keyed by that tree's contents. A project with a Rust crate that
//!   belongs to an enclosing Cargo workspace (a maturin member of a uv or
//!   Cargo workspace) is copied with that whole workspace, and built from
//!   its place in the copy: cargo reads the workspace's manifest, lock file
//!   and path dependencies.
//! - A sdist is keyed by its sha256.
//! - `name==version` is downloaded once, as its sdist (`--no-binary
//!   <name>`: the target is always built from source, its build tools and
//!   dependencies may come as wheels), into the `sdists` cache kind, and
//!   then built like a local sdist: keyed by that file's sha256.
//!
//! Build isolation stays on (the project's own `build-system.requires`).
//! Which pip runs: the interpreter's `pip` module, or else the pip wheel its
//! `ensurepip` bundles, run straight from the wheel — so an interpreter
//! installed without pip (extmatrix's own builds use `--without-ensurepip`)
//! still builds pip targets, and nothing is installed into it.

use super::{modules, tree, BuildLimits, BuiltTarget, ModuleRecord, TargetBuilder};
use crate::failure::unless_failed_before;
use crate::toolchain::{python_fingerprint, Steps, BUILT_BY, KEY_SCHEME};
use crate::{BuildFailure, Store};
use extmatrix_cache::{Cmd, Input};
use extmatrix_core::BuildPhase;
use extmatrix_pythons::Python;
use extmatrix_spec::{PipSource, SDIST_SUFFIXES};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A project, sdist or pinned requirement, built by pip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipTarget {
    pub source: PipSource,
    /// The modules to test; empty: every extension module of the wheel.
    pub modules: Vec<String>,
}

/// The cache kind of downloaded sdists (`<cache>/sdists/<name>-<version>`).
pub const SDISTS_KIND: &str = "sdists";

/// The `sdists` entry of `name==version`, by the distribution's
/// normalised name (PEP 503: `Foo_Bar` and `foo-bar` are one project).
pub fn sdist_entry_name(name: &str, version: &str) -> String {
    format!("{}-{version}", super::index::normalize(name))
}

/// Environment variables a pip build reads that change what it builds:
/// compilers and flags (setuptools, meson, CMake read them), pip's own
/// settings (constraints, index), and the usual backends' knobs.
const BUILD_ENV_NAMES: &[&str] = &[
    "CC",
    "CXX",
    "CFLAGS",
    "CXXFLAGS",
    "CPPFLAGS",
    "LDFLAGS",
    "LDSHARED",
    "AR",
    "ARFLAGS",
    "RUSTFLAGS",
    "CMAKE_ARGS",
    "MAX_JOBS",
];
const BUILD_ENV_PREFIXES: &[&str] = &[
    "PIP_",
    "SETUPTOOLS_",
    "MESONPY_",
    "SKBUILD_",
    "MATURIN_",
    "PYO3_",
    "CYTHON",
];

/// Where the target and its dependencies are installed, in the entry.
const SITE: &str = "site";

impl TargetBuilder for PipTarget {
    fn build(
        &self,
        store: &Store,
        py: &Python,
        limits: &BuildLimits,
    ) -> Result<BuiltTarget, BuildFailure> {
        let pip = Pip::of(py)?;
        let source = match &self.source {
            PipSource::Project(dir) => Source::project(dir)?,
            PipSource::Sdist(file) => Source::sdist(file)?,
            PipSource::Requirement { name, version } => {
                let file = download_sdist(store, &pip, name, version, limits)?;
                Source::sdist(&file)?
            }
        };
        let key = extmatrix_cache::key([
            KEY_SCHEME.as_bytes(),
            source.digest.as_bytes(),
            &python_fingerprint(py),
            pip.version.as_bytes(),
            crate::toolchain::build_environment(BUILD_ENV_NAMES, BUILD_ENV_PREFIXES).as_bytes(),
        ]);
        let name = format!("{}-{}-{key}", source.label, py.id);
        let mut built = super::ensure_target(
            store,
            "pip",
            &name,
            py,
            limits,
            source.inputs.clone(),
            |dir, steps| Ok((build_and_install(&pip, &source, dir, steps)?, Vec::new())),
        )?;
        built.module_dir = built.module_dir.join(SITE);
        super::narrow(built, &self.modules)
    }
}

/// What pip builds from: a path, a short name for the entry, and what the
/// key and the recorded inputs hold of it.
#[derive(Debug, Clone)]
struct Source {
    /// The sdist, or the directory whose tree is copied: the project, or
    /// the Cargo workspace that encloses it.
    path: PathBuf,
    /// Where the project is in that tree (empty: at its root).
    subdir: PathBuf,
    /// A project directory's files, copied before the build (the ones
    /// its key hashed); empty for a file.
    files: Vec<PathBuf>,
    is_project: bool,
    label: String,
    digest: String,
    inputs: Vec<Input>,
}

impl Source {
    fn project(dir: &Path) -> Result<Source, BuildFailure> {
        let unreadable = |at: &Path, e: std::io::Error| {
            BuildFailure::message(format!("cannot read {}: {e}", at.display()))
        };
        let own = tree::source_files(dir).map_err(|e| unreadable(dir, e))?;
        let root = enclosing_cargo_workspace(dir, &own).unwrap_or_else(|| dir.to_owned());
        let subdir = dir.strip_prefix(&root).unwrap_or(Path::new("")).to_owned();
        let files = if root == dir {
            own
        } else {
            tree::source_files(&root).map_err(|e| unreadable(&root, e))?
        };
        let inputs = tree::inputs(&root, &files).map_err(|e| unreadable(&root, e))?;
        // Two members of one workspace copy the same tree: where the
        // project is in it is part of the key.
        let digest = extmatrix_cache::key([
            tree::digest_of(&root, &inputs),
            subdir.to_string_lossy().into_owned(),
        ]);
        Ok(Source {
            path: root,
            subdir,
            files,
            is_project: true,
            label: label_of(dir),
            digest,
            inputs,
        })
    }

    fn sdist(file: &Path) -> Result<Source, BuildFailure> {
        let input = Input::file(file).map_err(|e| {
            BuildFailure::message(format!("cannot read the sdist {}: {e}", file.display()))
        })?;
        let Input::File { sha256, .. } = &input else {
            unreachable!("Input::file makes a file input")
        };
        Ok(Source {
            path: file.to_owned(),
            subdir: PathBuf::new(),
            files: Vec::new(),
            is_project: false,
            label: label_of(file),
            digest: sha256.clone(),
            inputs: vec![input],
        })
    }
}

/// The root of the Cargo workspace that a crate of the project at `dir`
/// (one of its `files`) belongs to, when that root is above `dir`; cargo
/// itself says (`cargo locate-project --workspace`), as it would when
/// building. A crate cargo cannot read is left to the build to report.
fn enclosing_cargo_workspace(dir: &Path, files: &[PathBuf]) -> Option<PathBuf> {
    files
        .iter()
        .filter(|f| f.file_name().is_some_and(|n| n == "Cargo.toml"))
        .filter_map(|manifest| workspace_root_of(&dir.join(manifest)))
        .filter(|root| dir.starts_with(root) && root != dir)
        .min_by_key(|root| root.components().count())
}

/// The directory of the workspace manifest `manifest` belongs to.
fn workspace_root_of(manifest: &Path) -> Option<PathBuf> {
    let args = [
        "locate-project",
        "--workspace",
        "--message-format",
        "plain",
        "--manifest-path",
    ];
    let mut args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    args.push(manifest.to_string_lossy().into_owned());
    let ran = Cmd::new(super::cargo::cargo(), args, ASK_TIMEOUT)
        .capture()
        .run(&mut std::io::sink(), None)
        .ok()?;
    let located = ran
        .output
        .lines()
        .rev()
        .find(|l| l.ends_with("Cargo.toml"))?;
    Some(Path::new(located.trim()).parent()?.to_owned())
}

/// A cache-entry-safe short name: the file or directory name without an
/// sdist's suffix (`ujson-5.10.0.tar.gz` gives `ujson-5.10.0`), letters,
/// digits, `.`, `-` and `_` only.
fn label_of(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = SDIST_SUFFIXES
        .iter()
        .find_map(|s| name.strip_suffix(s))
        .unwrap_or(&name);
    let label: String = stem
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "._-".contains(*c))
        .collect();
    if label.is_empty() || label.starts_with('.') {
        "project".into()
    } else {
        label
    }
}

/// Build the wheel, install it and its dependencies under `dir/site`, and
/// find its extension modules (artifacts relative to `dir`).
fn build_and_install(
    pip: &Pip,
    source: &Source,
    dir: &Path,
    steps: &mut Steps,
) -> Result<Vec<ModuleRecord>, BuildFailure> {
    let work = dir.join("work");
    let wheels = dir.join("wheel");
    let site = dir.join(SITE);
    let from = if source.is_project {
        let copy = work.join("src");
        tree::copy(&source.path, &source.files, &copy)?;
        steps.sources_in(&copy);
        copy.join(&source.subdir)
    } else {
        source.path.clone()
    };
    steps.run_logged(
        "pip wheel",
        BuildPhase::Building,
        pip.command(
            steps,
            "wheel",
            [
                "--no-deps".into(),
                "--wheel-dir".into(),
                path_arg(&wheels),
                path_arg(&from),
            ],
        ),
    )?;
    let wheel = only_file(&wheels, ".whl").map_err(|e| steps.failure(e))?;
    steps.run_logged(
        "pip install",
        BuildPhase::Installing,
        pip.command(
            steps,
            "install",
            [
                "--target".into(),
                path_arg(&site),
                "--no-compile".into(),
                path_arg(&wheel),
            ],
        ),
    )?;
    std::fs::remove_dir_all(&work).or_else(ignore_missing)?;
    let record = read_record(&site, &wheel).map_err(|e| steps.failure(e))?;
    let found = modules::extension_modules(&site, record, &pip.suffixes);
    Ok(found
        .into_iter()
        .map(|m| ModuleRecord {
            name: m.name,
            artifact: Path::new(SITE).join(m.artifact),
        })
        .collect())
}

fn ignore_missing(e: std::io::Error) -> std::io::Result<()> {
    match e.kind() {
        std::io::ErrorKind::NotFound => Ok(()),
        _ => Err(e),
    }
}

fn path_arg(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// The one file in `dir` whose name ends with `suffix`.
fn only_file(dir: &Path, suffix: &str) -> Result<PathBuf, String> {
    let found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    match found.as_slice() {
        [one] => Ok(one.clone()),
        _ => Err(format!(
            "expected one {suffix} file in {}, found {}",
            dir.display(),
            found.len()
        )),
    }
}

/// The files the wheel installed, from its `*.dist-info/RECORD` under
/// `site`, relative to `site`.
fn read_record(site: &Path, wheel: &Path) -> Result<Vec<PathBuf>, String> {
    // `{name}-{version}-{tags}.whl` installs `{name}-{version}.dist-info`.
    let file_name = wheel.file_name().unwrap_or_default().to_string_lossy();
    let mut parts = file_name.splitn(3, '-');
    let (Some(name), Some(version)) = (parts.next(), parts.next()) else {
        return Err(format!("{file_name} is not a wheel's file name"));
    };
    let record = site.join(format!("{name}-{version}.dist-info/RECORD"));
    let text = std::fs::read_to_string(&record)
        .map_err(|e| format!("the installed wheel has no {}: {e}", record.display()))?;
    Ok(text
        .lines()
        .filter_map(record_path)
        .map(PathBuf::from)
        .collect())
}

/// The path field of a `RECORD` line (CSV: `path,hash,size`, the path
/// quoted when it holds a comma or a quote).
fn record_path(line: &str) -> Option<String> {
    if let Some(rest) = line.strip_prefix('"') {
        let mut path = String::new();
        let mut chars = rest.chars().peekable();
        while let Some(c) = chars.next() {
            match (c, chars.peek()) {
                ('"', Some('"')) => {
                    path.push('"');
                    chars.next();
                }
                ('"', _) => return Some(path),
                (c, _) => path.push(c),
            }
        }
        return None;
    }
    let path = line.split(',').next()?;
    (!path.is_empty()).then(|| path.to_owned())
}

/// How pip runs for one interpreter.
#[derive(Debug, Clone)]
struct Pip {
    python: PathBuf,
    /// `-m pip`, or `<bundled wheel>/pip`.
    launch: Vec<String>,
    /// `pip --version`'s line: another pip may build differently.
    version: String,
    suffixes: Vec<String>,
}

/// How long asking pip its version may take.
const ASK_TIMEOUT: Duration = Duration::from_secs(120);

/// Asked of the interpreter: is `pip` importable, and where is the pip
/// wheel `ensurepip` bundles.
const FIND_PIP: &str = r#"
import glob, importlib.util, os, sysconfig
print("module" if importlib.util.find_spec("pip") else "none")
bundled = os.path.join(sysconfig.get_path("stdlib"), "ensurepip", "_bundled", "pip-*.whl")
for wheel in sorted(glob.glob(bundled)):
    print(wheel)
"#;

impl Pip {
    /// The pip of `py`, asked once per interpreter and process (a debug
    /// free-threaded interpreter takes seconds to import pip from a wheel,
    /// and every pip target asks).
    fn of(py: &Python) -> Result<Pip, BuildFailure> {
        static KNOWN: std::sync::Mutex<Vec<(PathBuf, Pip)>> = std::sync::Mutex::new(Vec::new());
        let known = |k: &Vec<(PathBuf, Pip)>| {
            k.iter()
                .find(|(p, _)| *p == py.path)
                .map(|(_, pip)| pip.clone())
        };
        if let Some(pip) = KNOWN.lock().ok().and_then(|k| known(&k)) {
            return Ok(pip);
        }
        let pip = Pip::ask(py)?;
        if let Ok(mut k) = KNOWN.lock() {
            k.push((py.path.clone(), pip.clone()));
        }
        Ok(pip)
    }

    fn ask(py: &Python) -> Result<Pip, BuildFailure> {
        let python = py.path.to_string_lossy().into_owned();
        let ask = |args: Vec<String>| {
            Cmd::new(&python, args, ASK_TIMEOUT)
                .capture()
                .run(&mut std::io::sink(), None)
                .map(|ran| ran.output)
        };
        let found = ask(vec!["-I".into(), "-c".into(), FIND_PIP.into()])
            .map_err(|e| BuildFailure::message(format!("cannot ask {} about pip: {e}", py.id)))?;
        let mut lines = found.lines();
        let launch = match (lines.next(), lines.last()) {
            (Some("module"), _) => vec!["-m".to_owned(), "pip".to_owned()],
            (_, Some(wheel)) => vec![format!("{wheel}/pip")],
            _ => {
                return Err(BuildFailure::message(format!(
                    "{} ({}) has no pip and no bundled pip wheel (ensurepip); \
                     install pip for it (`{} -m ensurepip`, or the distribution's pip package)",
                    py.id,
                    py.path.display(),
                    py.path.display()
                )))
            }
        };
        let mut version_args = launch.clone();
        version_args.push("--version".into());
        let version = ask(version_args)
            .map_err(|e| BuildFailure::message(format!("pip does not run for {}: {e}", py.id)))?;
        Ok(Pip {
            python: py.path.clone(),
            launch,
            version: version.lines().next().unwrap_or("").to_owned(),
            suffixes: py.build.extension_suffixes.clone(),
        })
    }

    /// `python <launch> <subcommand> <args>` with pip's questions and
    /// notices off.
    fn command<const N: usize>(&self, steps: &Steps, subcommand: &str, rest: [String; N]) -> Cmd {
        let mut args = self.launch.clone();
        args.extend([
            subcommand.to_owned(),
            "--disable-pip-version-check".into(),
            "--no-input".into(),
        ]);
        args.extend(rest);
        steps
            .command(self.python.to_string_lossy(), args)
            .env("PIP_ROOT_USER_ACTION", "ignore")
    }
}

/// The sdist of `name==version`, downloaded once into the `sdists` kind.
fn download_sdist(
    store: &Store,
    pip: &Pip,
    name: &str,
    version: &str,
    limits: &BuildLimits,
) -> Result<PathBuf, BuildFailure> {
    let entry_name = sdist_entry_name(name, version);
    let entry = store.ensure(SDISTS_KIND, &entry_name, BUILT_BY, &|| {}, |b| {
        let into = b.staging().to_owned();
        let file = unless_failed_before(store, SDISTS_KIND, &entry_name, || {
            let mut steps = Steps::new(b, limits.step_timeout)?;
            fetch_sdist(&mut steps, pip, name, version, &into)
        })?;
        let file_name = file.file_name().unwrap_or_default().to_owned();
        b.artifact(&file_name);
        let meta = SdistMeta {
            requirement: format!("{name}=={version}"),
            file: PathBuf::from(&file_name),
            sha256: extmatrix_cache::sha256_file(&file)?,
        };
        // The file is the entry's artifact (checked on every lookup);
        // it was built from nothing on this machine.
        Ok::<_, BuildFailure>((meta, Vec::new()))
    })?;
    Ok(entry.dir.join(entry.meta.file))
}

/// The sdist of `name==version` in `into`: from the index's JSON Simple
/// API (`index.rs`: no metadata is prepared, nothing is built), else by
/// `pip download`, which reads pip's own configuration.
fn fetch_sdist(
    steps: &mut Steps,
    pip: &Pip,
    name: &str,
    version: &str,
    into: &Path,
) -> Result<PathBuf, BuildFailure> {
    let index = super::index::index_url();
    match super::index::fetch_sdist(&index, name, version, into, steps.timeout()) {
        Ok(file) => return Ok(file),
        Err(why) => steps.note(&format!("{why}; asking pip instead")),
    }
    for leftover in std::fs::read_dir(into).into_iter().flatten().flatten() {
        let _ = std::fs::remove_file(leftover.path());
    }
    let args = [
        "--no-deps".into(),
        "--no-binary".into(),
        name.to_owned(),
        "--dest".into(),
        path_arg(into),
        format!("{name}=={version}"),
    ];
    let cmd = pip.command(steps, "download", args);
    steps.run_logged("pip download", BuildPhase::Downloading, cmd)?;
    only_file(into, "").map_err(|e| steps.failure(e))
}

/// What an `sdists` entry records.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct SdistMeta {
    requirement: String,
    /// Relative to the entry.
    file: PathBuf,
    sha256: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_paths_are_the_first_csv_field() {
        assert_eq!(
            record_path("pkg/_x.cpython-313-x86_64-linux-gnu.so,sha256=abc,123").as_deref(),
            Some("pkg/_x.cpython-313-x86_64-linux-gnu.so")
        );
        assert_eq!(
            record_path("\"odd,name \"\"q\"\".py\",sha256=abc,1").as_deref(),
            Some("odd,name \"q\".py")
        );
        assert_eq!(
            record_path("pkg-1.0.dist-info/RECORD,,").as_deref(),
            Some("pkg-1.0.dist-info/RECORD")
        );
        assert_eq!(record_path(""), None);
    }

    #[test]
    fn one_project_is_one_sdist_entry_however_it_is_spelled() {
        assert_eq!(sdist_entry_name("rpds-py", "1.0"), "rpds-py-1.0");
        assert_eq!(sdist_entry_name("Rpds_Py", "1.0"), "rpds-py-1.0");
        assert_eq!(sdist_entry_name("zope..interface", "6"), "zope-interface-6");
    }

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/projects")
            .join(name)
            .canonicalize()
            .unwrap()
    }

    #[test]
    fn a_member_of_an_enclosing_cargo_workspace_is_built_from_that_workspace() {
        let root = fixture("uv_workspace");
        let member = root.join("crates/tally-python");
        let files = tree::source_files(&member).unwrap();
        assert_eq!(
            enclosing_cargo_workspace(&member, &files),
            Some(root.clone())
        );
        let source = Source::project(&member).unwrap();
        assert_eq!(source.path, root);
        assert_eq!(source.subdir, Path::new("crates/tally-python"));
        assert!(source.files.contains(&PathBuf::from("Cargo.lock")));
        assert_eq!(source.label, "tally-python");
        // The workspace's own root, and a project with no crate, are
        // built from themselves.
        let files = tree::source_files(&root).unwrap();
        assert_eq!(enclosing_cargo_workspace(&root, &files), None);
        let plain = fixture("two_modules");
        let source = Source::project(&plain).unwrap();
        assert_eq!((source.path, source.subdir), (plain, PathBuf::new()));
    }

    #[test]
    fn labels_are_short_and_safe() {
        assert_eq!(
            label_of(Path::new("/x/ujson-5.10.0.tar.gz")),
            "ujson-5.10.0"
        );
        assert_eq!(label_of(Path::new("/x/two_modules")), "two_modules");
        assert_eq!(label_of(Path::new("/")), "project");
    }
}
