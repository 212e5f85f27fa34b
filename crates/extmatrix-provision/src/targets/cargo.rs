//! `cargo: path/to/crate`: a Rust `cdylib` that is one extension module
//! (PyO3, or any crate exporting a `PyInit_*`), built by cargo for one
//! interpreter at a time.
//!
//! A crate has no dependency list like a C compile's, so a build is keyed
//! on what cargo would read: every source file of the crate's package
//! directory and of each local (path) package it depends on, the lock file
//! and the workspace manifest, the toolchain (`cargo -V`, `rustc -vV`),
//! the environment variables that change a build (`RUSTFLAGS`,
//! `CARGO_BUILD_*`, `PYO3_*`…), the interpreter's fingerprint and
//! `KEY_SCHEME`. The files are recorded as inputs, so an edited one makes
//! `cache prune` drop the entry too.
//!
//! Cargo itself is incremental only if its target directory survives, and
//! PyO3 configures itself per interpreter, so each (crate, interpreter) has
//! its own target directory under the cache root ([`super::cargo_dirs`]);
//! the `targets` entry holds only the copied module.

use super::cargo_dirs::TargetDir;
use super::{ensure_target, modules, BuildLimits, BuiltTarget, ModuleRecord, TargetBuilder};
use crate::toolchain::{python_fingerprint, KEY_SCHEME};
use crate::{BuildFailure, Store};
use cargo_metadata::{Metadata, Package, PackageId};
use extmatrix_cache::{Cmd, Input};
use extmatrix_pythons::Python;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A crate whose `cdylib` is one extension module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CargoTarget {
    /// Absolute path of its `Cargo.toml`.
    pub manifest: PathBuf,
    /// The modules to test; empty: the one the crate builds.
    pub modules: Vec<String>,
}

impl TargetBuilder for CargoTarget {
    fn build(
        &self,
        store: &Store,
        py: &Python,
        limits: &BuildLimits,
    ) -> Result<BuiltTarget, BuildFailure> {
        let krate = Crate::read(&self.manifest, limits.step_timeout)?;
        let (inputs, digest) = krate.sources()?;
        let key = extmatrix_cache::key([
            KEY_SCHEME.as_bytes(),
            digest.as_bytes(),
            toolchain_versions(&krate.dir).as_bytes(),
            crate::toolchain::build_environment(RUST_ENV_NAMES, RUST_ENV_PREFIXES).as_bytes(),
            &python_fingerprint(py),
        ]);
        let name = format!("{}-{}-{key}", krate.lib_name, py.id);
        let target_dir = TargetDir::of(store, &krate.manifest, &krate.lib_name, py);
        let built = ensure_target(store, "cargo", &name, py, limits, inputs, |dir, steps| {
            let artifact = target_dir.build(
                steps,
                &krate.manifest,
                &krate.lib_name,
                py,
                krate.workspace_files[0].is_file(),
            )?;
            let exports = modules::init_functions(&artifact)
                .map_err(|e| steps.failure(format!("cannot read {}: {e}", artifact.display())))?;
            let module = module_name(&krate.lib_name, &exports).map_err(|e| steps.failure(e))?;
            let file_name = format!("{module}{}", py.build.ext_suffix);
            std::fs::copy(&artifact, dir.join(&file_name))?;
            let record = ModuleRecord {
                name: module,
                artifact: file_name.into(),
            };
            Ok((vec![record], Vec::new()))
        })?;
        super::narrow(built, &self.modules)
    }
}

/// What a build needs to know of a crate, from `cargo metadata`.
#[derive(Debug)]
struct Crate {
    manifest: PathBuf,
    /// The package's directory.
    dir: PathBuf,
    /// The `cdylib`'s name as rustc sees it (`-` made `_`): the artifact
    /// is `lib<lib_name>.so`, and PyO3's module is usually called so.
    lib_name: String,
    /// The directories of the package and of every local package it
    /// depends on, however indirectly.
    local_dirs: Vec<PathBuf>,
    /// The workspace's `Cargo.lock` and `Cargo.toml` (the package's own
    /// when it is no member of a larger workspace).
    workspace_files: Vec<PathBuf>,
}

impl Crate {
    /// `cargo metadata` of `manifest` (which writes its `Cargo.lock` if it
    /// has none, as any cargo command would).
    fn read(manifest: &Path, timeout: Duration) -> Result<Crate, BuildFailure> {
        let cmd = Cmd::new(
            cargo(),
            [
                "metadata".to_owned(),
                "--format-version=1".to_owned(),
                "--manifest-path".to_owned(),
                manifest.to_string_lossy().into_owned(),
            ],
            timeout,
        )
        .capture();
        let ran = cmd
            .run(&mut std::io::sink(), None)
            .map_err(|e| BuildFailure {
                summary: format!(
                    "cannot read the crate {}: {}",
                    manifest.display(),
                    e.summary
                ),
                command: e.command,
                output: e.output,
                log: None,
                cause: None,
            })?;
        // stderr is interleaved ("Locking 14 packages"); the metadata is
        // the one line that is a JSON object.
        let json = ran
            .output
            .lines()
            .find(|l| l.starts_with('{'))
            .unwrap_or("");
        let metadata = cargo_metadata::MetadataCommand::parse(json).map_err(|e| {
            BuildFailure::message(format!("cannot parse `cargo metadata` output: {e}"))
        })?;
        Crate::of(&metadata, manifest)
    }

    /// The package of `manifest` in `metadata`.
    fn of(metadata: &Metadata, manifest: &Path) -> Result<Crate, BuildFailure> {
        let canonical = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_owned());
        let wanted = canonical(manifest);
        let package = metadata
            .packages
            .iter()
            .find(|p| canonical(p.manifest_path.as_std_path()) == wanted)
            .ok_or_else(|| {
                BuildFailure::message(format!(
                    "{} is a virtual workspace manifest, not a package: name the crate's own Cargo.toml",
                    manifest.display()
                ))
            })?;
        let lib = package
            .targets
            .iter()
            .find(|t| t.is_cdylib())
            .ok_or_else(|| {
                BuildFailure::message(format!(
                    "the crate {} builds no cdylib, which is what Python imports: add \
                     `crate-type = [\"cdylib\"]` under [lib] in {}",
                    package.name,
                    manifest.display()
                ))
            })?;
        let root = metadata.workspace_root.as_std_path();
        Ok(Crate {
            manifest: wanted,
            dir: package_dir(package),
            lib_name: lib.name.replace('-', "_"),
            local_dirs: local_dirs(metadata, package),
            workspace_files: vec![root.join("Cargo.lock"), root.join("Cargo.toml")],
        })
    }

    /// Every file of the local packages' trees and the workspace's lock
    /// file and manifest, each once, with its sha256 (inputs of the entry,
    /// so prune sees an edit), and one digest of them all (for the key).
    fn sources(&self) -> Result<(Vec<Input>, String), BuildFailure> {
        let unreadable = |p: &Path, e: std::io::Error| {
            BuildFailure::message(format!("cannot read {}: {e}", p.display()))
        };
        let mut files = BTreeSet::new();
        for dir in &self.local_dirs {
            let listed = super::tree::source_files(dir).map_err(|e| unreadable(dir, e))?;
            files.extend(listed.into_iter().map(|f| dir.join(f)));
        }
        files.extend(self.workspace_files.iter().filter(|f| f.is_file()).cloned());
        let files: Vec<PathBuf> = files.into_iter().collect();
        let inputs: Vec<Input> = files
            .iter()
            .map(|f| Input::file(f).map_err(|e| unreadable(f, e)))
            .collect::<Result<_, _>>()?;
        // Paths relative to the workspace: the same crate checked out
        // elsewhere is the same key.
        let root = self.workspace_files[0].parent().unwrap_or(Path::new("/"));
        Ok((inputs.clone(), super::tree::digest_of(root, &inputs)))
    }
}

fn package_dir(package: &Package) -> PathBuf {
    let manifest = package.manifest_path.as_std_path();
    manifest.parent().unwrap_or(manifest).to_owned()
}

/// The directories of `package` and of the local packages (no registry or
/// git source: path dependencies, workspace members) it depends on.
fn local_dirs(metadata: &Metadata, package: &Package) -> Vec<PathBuf> {
    let by_id: BTreeMap<&PackageId, &Package> =
        metadata.packages.iter().map(|p| (&p.id, p)).collect();
    let mut seen = BTreeSet::from([&package.id]);
    let mut queue = vec![&package.id];
    let nodes = metadata
        .resolve
        .as_ref()
        .map(|r| &r.nodes[..])
        .unwrap_or(&[]);
    while let Some(id) = queue.pop() {
        let Some(node) = nodes.iter().find(|n| &n.id == id) else {
            continue;
        };
        for dep in &node.dependencies {
            let local = by_id.get(dep).is_some_and(|p| p.source.is_none());
            if local && seen.insert(dep) {
                queue.push(dep);
            }
        }
    }
    seen.into_iter()
        .filter_map(|id| by_id.get(id).map(|p| package_dir(p)))
        .collect()
}

/// The cargo extmatrix runs: `$CARGO` (set when extmatrix itself runs
/// under cargo), else `cargo` on `PATH`, as `cargo_metadata` does.
pub(crate) fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

/// `cargo -V` and `rustc -vV` as cargo would find them from `dir` (where a
/// `rust-toolchain.toml` may pick another toolchain), once per directory
/// and process.
fn toolchain_versions(dir: &Path) -> String {
    static KNOWN: std::sync::Mutex<BTreeMap<PathBuf, String>> =
        std::sync::Mutex::new(BTreeMap::new());
    if let Some(known) = KNOWN.lock().ok().and_then(|k| k.get(dir).cloned()) {
        return known;
    }
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let ask = |program: String, flag: &str| {
        match Cmd::new(program, [flag], Duration::from_secs(60))
            .dir(dir)
            .capture()
            .run(&mut std::io::sink(), None)
        {
            Ok(ran) => ran.output,
            // The build fails too, and says why.
            Err(e) => format!("unknown: {}", e.summary),
        }
    };
    let versions = format!("{}\n{}", ask(cargo(), "-V"), ask(rustc, "-vV"));
    if let Ok(mut known) = KNOWN.lock() {
        known.insert(dir.to_owned(), versions.clone());
    }
    versions
}

/// Environment variables cargo or PyO3 read that change what is built
/// (flags, target, profile, PyO3's configuration).
const RUST_ENV_NAMES: &[&str] = &[
    "RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "RUSTC",
    "RUSTC_WRAPPER",
];
const RUST_ENV_PREFIXES: &[&str] = &["CARGO_BUILD_", "CARGO_PROFILE_", "PYO3_"];

/// The module a crate's artifact is: its lib name when it exports
/// `PyInit_<lib name>`, else the one name it exports an init function
/// for. `exports` are the names after `PyInit_`.
pub(crate) fn module_name(lib_name: &str, exports: &[String]) -> Result<String, String> {
    if exports.iter().any(|e| e == lib_name) {
        return Ok(lib_name.to_owned());
    }
    match exports {
        [only] => Ok(only.clone()),
        [] => Err(format!(
            "lib{lib_name}.so exports no PyInit_* function, so Python cannot import it: \
             is there a #[pymodule] (or a `PyInit_{lib_name}`) in the crate?"
        )),
        several => Err(format!(
            "lib{lib_name}.so exports no PyInit_{lib_name} but several init functions ({}); \
             extmatrix cannot tell which module it is: name the #[pymodule] after the lib",
            several
                .iter()
                .map(|e| format!("PyInit_{e}"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_module_is_the_lib_name_or_the_one_init_function() {
        assert_eq!(
            module_name("counter", &names(&["counter"])).unwrap(),
            "counter"
        );
        // The lib name wins over other exports (a crate that also re-exports
        // another module's init function).
        assert_eq!(
            module_name("counter", &names(&["_other", "counter"])).unwrap(),
            "counter"
        );
        // `#[pymodule] fn _core` in a crate whose lib is `my_ext`.
        assert_eq!(module_name("my_ext", &names(&["_core"])).unwrap(), "_core");
        let none = module_name("plain", &[]).unwrap_err();
        assert!(none.contains("libplain.so exports no PyInit_"), "{none}");
        let several = module_name("x", &names(&["a", "b"])).unwrap_err();
        assert!(several.contains("PyInit_a, PyInit_b"), "{several}");
    }
}
