//! Cargo's target directories for `cargo:` targets, one per (crate,
//! interpreter), kept under `<cache>/cargo-target/` between runs.
//!
//! Why not in the `targets` entry: an entry is immutable once built and a
//! new key makes a new one, while cargo is fast only when it finds its
//! previous build (a dependency such as PyO3 takes most of a minute cold,
//! an edited crate seconds warm). Why one per interpreter: PyO3's build
//! script configures itself from `PYO3_PYTHON`, so two interpreters
//! sharing a directory would rebuild PyO3 on every switch. The directory's
//! name hashes the manifest's path and the interpreter's fingerprint, so a
//! rebuilt or upgraded interpreter starts afresh rather than reusing what
//! PyO3 concluded about the old one.
//!
//! The cache store does not know these directories (they are not entries:
//! no meta, no staging). Each has a marker, `extmatrix.json`, naming its
//! manifest and interpreter, and a lock (`<name>.lock` beside it, held
//! while cargo runs); [`prune`] removes the directories whose crate or
//! interpreter is gone, replaced or pruned, never one being built.

use crate::toolchain::{python_fingerprint, Steps};
use crate::{BuildFailure, Store};
use extmatrix_cache::{Input, Removed};
use extmatrix_core::BuildPhase;
use extmatrix_pythons::Python;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::path::{Path, PathBuf};

/// The directory of the cache root that holds the target directories.
pub const CARGO_TARGET_DIRS: &str = "cargo-target";

/// What `extmatrix.json` says of a target directory.
#[derive(Debug, Serialize, Deserialize)]
struct Marker {
    manifest: PathBuf,
    python_id: String,
    /// The interpreter as it was when the directory was made.
    python: Input,
}

const MARKER: &str = "extmatrix.json";

/// The target directory of one crate for one interpreter.
#[derive(Debug)]
pub(crate) struct TargetDir {
    dir: PathBuf,
    lock: PathBuf,
}

impl TargetDir {
    /// `<cache>/cargo-target/<lib>-<python id>-<hash>`.
    pub(crate) fn of(store: &Store, manifest: &Path, lib_name: &str, py: &Python) -> TargetDir {
        let hash = extmatrix_cache::key([
            manifest.to_string_lossy().as_bytes(),
            &python_fingerprint(py),
        ]);
        let parent = store.root().join(CARGO_TARGET_DIRS);
        let name = format!("{lib_name}-{}-{hash}", py.id);
        TargetDir {
            dir: parent.join(&name),
            lock: parent.join(format!("{name}.lock")),
        }
    }

    /// `cargo build --release --lib` of `manifest` for `py` here, with the
    /// directory's lock held (cargo has its own, but prune must not remove
    /// a directory cargo is writing); the artifact `lib<lib_name>.so`.
    pub(crate) fn build(
        &self,
        steps: &mut Steps,
        manifest: &Path,
        lib_name: &str,
        py: &Python,
        locked: bool,
    ) -> Result<PathBuf, BuildFailure> {
        std::fs::create_dir_all(self.dir.parent().expect("has a parent"))?;
        // Never truncated or replaced: a prune may hold the same file.
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.lock)?;
        lock.lock()?;
        std::fs::create_dir_all(&self.dir)?;
        let marker = Marker {
            manifest: manifest.to_owned(),
            python_id: py.id.clone(),
            python: Input::program(&py.path),
        };
        std::fs::write(
            self.dir.join(MARKER),
            serde_json::to_vec_pretty(&marker).expect("marker serializes"),
        )?;
        let python = py.path.to_string_lossy().into_owned();
        let cmd = steps
            .command(
                super::cargo::cargo(),
                cargo_build_args(manifest, &self.dir, locked),
            )
            // PyO3 builds for PYO3_PYTHON; older rust-cpython and PyO3
            // versions read PYTHON_SYS_EXECUTABLE.
            .env("PYO3_PYTHON", python.clone())
            .env("PYTHON_SYS_EXECUTABLE", python);
        steps.sources_in(manifest.parent().unwrap_or(manifest));
        steps.run_logged("cargo build", BuildPhase::Building, cmd)?;
        let artifact = self.dir.join("release").join(format!("lib{lib_name}.so"));
        if !artifact.is_file() {
            return Err(steps.failure(format!(
                "cargo built no {} (is CARGO_BUILD_TARGET set? extmatrix builds for the host)",
                artifact.display()
            )));
        }
        Ok(artifact)
    }
}

/// `cargo build` of `manifest`'s cdylib into `target_dir`. With a lock
/// file (`locked`), exactly what it says and never a rewrite of it in the
/// user's tree (`--locked`: an out-of-date lock is an error saying so).
fn cargo_build_args(manifest: &Path, target_dir: &Path, locked: bool) -> Vec<String> {
    let mut args = vec!["build", "--release", "--lib"];
    if locked {
        args.push("--locked");
    }
    let mut args: Vec<String> = args.into_iter().map(str::to_owned).collect();
    args.extend([
        "--manifest-path".to_owned(),
        manifest.to_string_lossy().into_owned(),
        "--target-dir".to_owned(),
        target_dir.to_string_lossy().into_owned(),
    ]);
    args
}

/// Remove the target directories no run can use: those whose crate's
/// manifest is gone, whose interpreter is gone or replaced (another
/// fingerprint: a new directory is made), or lies under one of `doomed`
/// (interpreter builds being pruned), and those without a marker (made by
/// no extmatrix, or killed before it was written). A directory whose lock
/// is held is being built and stays. With `dry_run`, only say so.
pub fn prune(store: &Store, doomed: &[PathBuf], dry_run: bool) -> std::io::Result<Vec<Removed>> {
    let parent = store.root().join(CARGO_TARGET_DIRS);
    let mut removed = Vec::new();
    for entry in std::fs::read_dir(&parent).into_iter().flatten().flatten() {
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let dir = entry.path();
        if unusable(&dir, doomed).is_none() {
            continue;
        }
        let lock_path = parent.join(format!("{}.lock", entry.file_name().to_string_lossy()));
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)?;
        if lock.try_lock().is_err() {
            continue;
        }
        // Asked again under the lock: a build may have written its marker
        // since. The lock file itself stays (a build may hold it open).
        let Some(reason) = unusable(&dir, doomed) else {
            continue;
        };
        let bytes = extmatrix_cache::dir_size(&dir);
        if !dry_run {
            std::fs::remove_dir_all(&dir)?;
        }
        removed.push(Removed {
            path: dir,
            kind: CARGO_TARGET_DIRS.to_owned(),
            bytes,
            reason,
        });
    }
    Ok(removed)
}

/// Why the target directory `dir` can no longer be used, if so.
fn unusable(dir: &Path, doomed: &[PathBuf]) -> Option<String> {
    let marker: Marker = match std::fs::read(dir.join(MARKER))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
    {
        Some(m) => m,
        None => {
            return Some(format!(
                "no readable {MARKER}: not a cargo build of extmatrix"
            ))
        }
    };
    if !marker.manifest.is_file() {
        return Some(format!("its crate {} is gone", marker.manifest.display()));
    }
    if let Input::Program { path, .. } = &marker.python {
        if doomed.iter().any(|d| path.starts_with(d)) {
            return Some(format!(
                "its interpreter {} ({}) is pruned too",
                marker.python_id,
                path.display()
            ));
        }
    }
    marker
        .python
        .changed()
        .map(|why| format!("its interpreter {}: {why}", marker.python_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A target directory as a build leaves it, for `python` and `manifest`.
    fn made(store: &Store, name: &str, manifest: &Path, python: &Path) -> PathBuf {
        let dir = store.root().join(CARGO_TARGET_DIRS).join(name);
        std::fs::create_dir_all(dir.join("release")).unwrap();
        std::fs::write(dir.join("release/libx.so"), "elf").unwrap();
        let marker = Marker {
            manifest: manifest.to_owned(),
            python_id: "cp3x".into(),
            python: Input::program(python),
        };
        std::fs::write(dir.join(MARKER), serde_json::to_vec(&marker).unwrap()).unwrap();
        dir
    }

    #[test]
    fn target_dirs_of_gone_crates_and_interpreters_go_and_busy_ones_stay() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::new(tmp.path().join("cache"));
        let manifest = tmp.path().join("Cargo.toml");
        std::fs::write(&manifest, "[package]").unwrap();
        let python = tmp.path().join("pythons/cp3x-1/prefix/bin/python3");
        std::fs::create_dir_all(python.parent().unwrap()).unwrap();
        std::fs::write(&python, "").unwrap();
        let gone_python = tmp.path().join("nowhere/python3");
        let kept = made(&store, "kept", &manifest, &python);
        let no_python = made(&store, "no-python", &manifest, &gone_python);
        let no_crate = made(&store, "no-crate", &tmp.path().join("gone.toml"), &python);
        let busy = made(&store, "busy", &manifest, &gone_python);
        let unmarked = store.root().join(CARGO_TARGET_DIRS).join("unmarked");
        std::fs::create_dir_all(&unmarked).unwrap();
        let held = File::create(store.root().join(CARGO_TARGET_DIRS).join("busy.lock")).unwrap();
        held.lock().unwrap();

        let dry = prune(&store, &[], true).unwrap();
        assert_eq!(dry.len(), 3, "{dry:#?}");
        assert!(no_python.is_dir(), "a dry run removes nothing");

        let removed = prune(&store, &[], false).unwrap();
        let mut why: Vec<String> = removed
            .iter()
            .map(|r| {
                format!(
                    "{}: {}",
                    r.path.file_name().unwrap().to_string_lossy(),
                    r.reason
                )
            })
            .collect();
        why.sort();
        assert_eq!(why.len(), 3, "{why:#?}");
        assert!(why[0].starts_with("no-crate: its crate"), "{why:#?}");
        assert!(
            why[1].starts_with("no-python: its interpreter cp3x") && why[1].contains("is gone"),
            "{why:#?}"
        );
        assert!(why[2].starts_with("unmarked: no readable"), "{why:#?}");
        assert!(kept.is_dir() && busy.is_dir());
        assert!(!no_python.exists() && !no_crate.exists() && !unmarked.exists());

        // Its interpreter's build is pruned in the same run.
        let doomed = [tmp.path().join("pythons/cp3x-1")];
        let removed = prune(&store, &doomed, false).unwrap();
        assert_eq!(removed.len(), 1, "{removed:#?}");
        assert!(removed[0].reason.contains("is pruned too"), "{removed:#?}");
        assert!(!kept.exists() && busy.is_dir());
    }
}
