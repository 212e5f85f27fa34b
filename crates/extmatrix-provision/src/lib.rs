//! Provision what the cells need, per interpreter: the harness binary and the
//! built target extensions, each in a content-addressed cache.
//!
//! Everything is compiled with the interpreter's own flags (`python-config
//! --embed` for the harness, `sysconfig` CC/CFLAGS/CCSHARED/LDSHARED/EXT_SUFFIX
//! for extensions), built in a temporary directory and renamed into place, so
//! an interrupted build never leaves a half-written cache entry. A target that
//! does not compile is a [`BuildFailure`] value, not an error: it becomes a
//! `build-failed` cell.

use anyhow::{Context, Result};
use extmatrix_pythons::Python;
use extmatrix_spec::{TargetKind, TargetSpec};
use sha2::{Digest, Sha256};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The harness sources, compiled into this binary so an installed extmatrix
/// needs no checkout.
const HARNESS_SOURCES: [(&str, &str); 4] = [
    ("harness.h", include_str!("../../../harness-c/harness.h")),
    ("harness.c", include_str!("../../../harness-c/harness.c")),
    ("identity.c", include_str!("../../../harness-c/identity.c")),
    (
        "scenarios.c",
        include_str!("../../../harness-c/scenarios.c"),
    ),
];

/// The cache root: `--cache-dir`, else `$EXTMATRIX_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/extmatrix`, else `~/.cache/extmatrix`.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    pub fn new(root: PathBuf) -> Self {
        Store { root }
    }

    pub fn from_env(explicit: Option<PathBuf>) -> Result<Self> {
        let root = explicit
            .or_else(|| std::env::var_os("EXTMATRIX_CACHE_DIR").map(PathBuf::from))
            .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("extmatrix")))
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/extmatrix")))
            .context("no cache directory: set EXTMATRIX_CACHE_DIR, XDG_CACHE_HOME or HOME, or pass --cache-dir")?;
        // Absolute: interpreter builds bake their prefix into themselves.
        let root = std::path::absolute(&root).with_context(|| {
            format!(
                "cannot make the cache directory {} absolute",
                root.display()
            )
        })?;
        Ok(Store { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The entry `kind/key`, built by `build` into a fresh directory on a
    /// miss. The directory is renamed into place only when `build` succeeds.
    fn entry<E>(
        &self,
        kind: &str,
        key: &str,
        build: impl FnOnce(&Path) -> std::result::Result<(), E>,
    ) -> std::result::Result<PathBuf, E>
    where
        E: From<std::io::Error>,
    {
        let dir = self.root.join(kind).join(key);
        if dir.is_dir() {
            return Ok(dir);
        }
        let staging_root = self.root.join("tmp");
        std::fs::create_dir_all(&staging_root)?;
        std::fs::create_dir_all(dir.parent().expect("entry has a parent"))?;
        let staging = tempfile::Builder::new()
            .prefix(key)
            .tempdir_in(&staging_root)?;
        build(staging.path())?;
        match std::fs::rename(staging.path(), &dir) {
            Ok(()) => {
                // Renamed away: nothing left for the TempDir to delete.
                let _ = staging.keep();
            }
            // Another run finished the same entry first; theirs is as good.
            Err(_) if dir.is_dir() => {}
            Err(e) => return Err(e.into()),
        }
        Ok(dir)
    }
}

/// A compile that failed: the command and what the compiler said.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{summary}")]
pub struct BuildFailure {
    pub summary: String,
    pub command: String,
    pub output: String,
    pub log: Option<PathBuf>,
}

impl BuildFailure {
    /// A failure with no command behind it.
    fn message(summary: String) -> Self {
        BuildFailure {
            summary,
            command: String::new(),
            output: String::new(),
            log: None,
        }
    }
}

impl From<std::io::Error> for BuildFailure {
    fn from(e: std::io::Error) -> Self {
        BuildFailure::message(format!("cache I/O failed: {e}"))
    }
}

fn hash_hex(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    h.finalize()
        .iter()
        .take(10)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What identifies an interpreter for caching: where it is and how it builds.
fn python_fingerprint(py: &Python) -> Vec<u8> {
    let mut v = serde_json::to_vec(&(&py.path, &py.version, py.debug, py.free_threaded, &py.build))
        .expect("python description serializes");
    // A rebuilt interpreter at the same path must not reuse old artifacts.
    if let Ok(meta) = std::fs::metadata(&py.path) {
        if let Ok(modified) = meta.modified() {
            v.extend(format!("{modified:?}").bytes());
        }
    }
    v
}

/// Run a build step; its command line and output go to `log`.
fn run_step(
    program: &str,
    args: &[String],
    log: &mut String,
) -> std::result::Result<String, BuildFailure> {
    let command = std::iter::once(program.to_owned())
        .chain(args.iter().map(|a| shell_words::quote(a).into_owned()))
        .collect::<Vec<_>>()
        .join(" ");
    log.push_str("$ ");
    log.push_str(&command);
    log.push('\n');
    let result = duct::cmd(program, args.iter().map(OsString::from))
        .stderr_to_stdout()
        .stdout_capture()
        .unchecked()
        .run();
    match result {
        Ok(out) => {
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            log.push_str(&text);
            if out.status.success() {
                Ok(text)
            } else {
                Err(BuildFailure {
                    summary: format!("`{program}` failed ({})", out.status),
                    command,
                    output: text,
                    log: None,
                })
            }
        }
        Err(e) => Err(BuildFailure {
            summary: format!("could not run `{program}`: {e}"),
            command,
            output: String::new(),
            log: None,
        }),
    }
}

fn split(words: &str) -> std::result::Result<Vec<String>, BuildFailure> {
    shell_words::split(words)
        .map_err(|e| BuildFailure::message(format!("cannot split compiler flags `{words}`: {e}")))
}

/// The interpreter's C compiler (sysconfig CC, e.g. `gcc -pthread`): the
/// program and its leading arguments.
fn compiler(py: &Python) -> std::result::Result<(String, Vec<String>), BuildFailure> {
    let mut words = split(&py.build.cc)?.into_iter();
    let program = words.next().unwrap_or_else(|| "cc".to_owned());
    Ok((program, words.collect()))
}

/// The harness binary for `py`, compiled on a cache miss.
pub fn harness(cache: &Store, py: &Python) -> std::result::Result<PathBuf, BuildFailure> {
    let mut parts: Vec<&[u8]> = HARNESS_SOURCES
        .iter()
        .map(|(_, src)| src.as_bytes())
        .collect();
    let fingerprint = python_fingerprint(py);
    parts.push(&fingerprint);
    let key = format!("{}-{}", py.id, hash_hex(&parts));
    let dir = cache.entry("harness", &key, |dir| {
        let mut log = String::new();
        let result = compile_harness(py, dir, &mut log);
        std::fs::write(dir.join("build.log"), &log)?;
        result
    })?;
    Ok(dir.join("extmatrix-harness"))
}

fn compile_harness(
    py: &Python,
    dir: &Path,
    log: &mut String,
) -> std::result::Result<(), BuildFailure> {
    for (name, src) in HARNESS_SOURCES {
        std::fs::write(dir.join(name), src)?;
    }
    let script = py.build.config_script.to_string_lossy().into_owned();
    let cflags = split(&run_step(&script, &["--cflags".into()], log)?)?;
    let ldflags = split(&run_step(
        &script,
        &["--embed".into(), "--ldflags".into()],
        log,
    )?)?;
    let (cc, mut args) = compiler(py)?;
    args.extend(cflags);
    // -fPIC: reach data symbols such as Py_None through the GOT, so they keep
    // their libpython address (no copy relocation into the executable).
    args.extend(["-fPIC", "-g", "-Wno-deprecated-declarations"].map(String::from));
    for (name, _) in HARNESS_SOURCES.iter().filter(|(n, _)| n.ends_with(".c")) {
        args.push(dir.join(name).to_string_lossy().into_owned());
    }
    args.push("-o".into());
    args.push(dir.join("extmatrix-harness").to_string_lossy().into_owned());
    args.extend(ldflags);
    args.push(format!("-Wl,-rpath,{}", py.build.libdir.display()));
    // Extensions resolve Py* symbols against the process when libpython is static.
    args.push("-Wl,--export-dynamic".into());
    args.push("-ldl".into());
    run_step(&cc, &args, log)?;
    Ok(())
}

/// A target built for one interpreter: put `module_dir` on `sys.path` and
/// import `module`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltTarget {
    pub module_dir: PathBuf,
    pub modules: Vec<BuiltModule>,
}

/// One extension module of a built target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltModule {
    pub name: String,
    /// The extension file itself.
    pub artifact: PathBuf,
}

/// Build `target` for `py`, or reuse the cached build.
pub fn build_target(
    cache: &Store,
    target: &TargetSpec,
    py: &Python,
) -> std::result::Result<BuiltTarget, BuildFailure> {
    match &target.kind {
        TargetKind::CFile { source } => build_c_file(cache, source, &target.module, py),
    }
}

fn build_c_file(
    cache: &Store,
    source: &Path,
    module: &str,
    py: &Python,
) -> std::result::Result<BuiltTarget, BuildFailure> {
    let text = std::fs::read(source)
        .map_err(|e| BuildFailure::message(format!("cannot read {}: {e}", source.display())))?;
    let fingerprint = python_fingerprint(py);
    let key = format!(
        "{module}-{}-{}",
        py.id,
        hash_hex(&[&text, module.as_bytes(), &fingerprint])
    );
    // `pkg.mod` lives at pkg/mod<suffix>, with an __init__.py per package level.
    let mut components: Vec<&str> = module.split('.').collect();
    let leaf = components.pop().expect("split yields at least one part");
    let relative: PathBuf = components.iter().collect();
    let file_name = format!("{leaf}{}", py.build.ext_suffix);

    let dir = cache.entry("targets", &key, |dir| {
        let mut log = String::new();
        let result = compile_extension(py, source, &dir.join(&relative), &file_name, &mut log);
        std::fs::write(dir.join("build.log"), &log)?;
        result?;
        let mut pkg = dir.to_path_buf();
        for part in &components {
            pkg.push(part);
            std::fs::write(pkg.join("__init__.py"), "")?;
        }
        Ok::<(), BuildFailure>(())
    })?;
    Ok(BuiltTarget {
        modules: vec![BuiltModule {
            name: module.to_owned(),
            artifact: dir.join(&relative).join(&file_name),
        }],
        module_dir: dir,
    })
}

fn compile_extension(
    py: &Python,
    source: &Path,
    out_dir: &Path,
    file_name: &str,
    log: &mut String,
) -> std::result::Result<(), BuildFailure> {
    std::fs::create_dir_all(out_dir)?;
    let object = out_dir.join("module.o");
    let (cc, mut args) = compiler(py)?;
    args.extend(split(&py.build.cflags)?);
    args.extend(split(&py.build.ccshared)?);
    args.push(format!("-I{}", py.build.include_dir.display()));
    args.extend([
        "-c".into(),
        source.to_string_lossy().into_owned(),
        "-o".into(),
    ]);
    args.push(object.to_string_lossy().into_owned());
    run_step(&cc, &args, log)?;

    let ld = split(&py.build.ldshared)?;
    let (ld_program, ld_args) = ld.split_first().ok_or_else(|| {
        BuildFailure::message("this interpreter's sysconfig has an empty LDSHARED".into())
    })?;
    let mut args = ld_args.to_vec();
    args.push(object.to_string_lossy().into_owned());
    args.push("-o".into());
    args.push(out_dir.join(file_name).to_string_lossy().into_owned());
    run_step(ld_program, &args, log)?;
    std::fs::remove_file(&object)?;
    Ok(())
}
