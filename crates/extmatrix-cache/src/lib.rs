//! The one cache discipline for everything extmatrix builds: interpreters
//! built from source, the harness per interpreter, every target per
//! interpreter.
//!
//! It exists because each builder used to bring its own cache: interpreter
//! builds were locked, staged and stamped with a `meta.json`, while harness
//! and target builds had an unlocked cache that `prune` never cleaned, and
//! each side had its own key hash and its own way to run a logged command.
//! Now a builder says *what* it builds (a kind, a name that holds its key,
//! a meta type) and the [`Store`] says *how* it is kept:
//!
//! - an entry is `<root>/<kind>/<name>/`;
//! - `<root>/<kind>/<name>.lock` is held (`flock`) while it is built, so a
//!   second process that needs the same entry waits (and is told, so its
//!   progress bar can say "waiting") and then uses the first one's result;
//! - work happens in `<root>/tmp/<kind>.<name>.XXXXXX/` and the finished
//!   entry is renamed into place (same filesystem: atomic);
//! - `meta.json` is written into the finished entry before it is renamed
//!   into place (an entry a build installs itself, to run it from where it
//!   lives, gets it last), atomically; its presence is what "complete"
//!   means. An entry without it is removed and rebuilt. Every
//!   meta carries a [`Stamp`]: what built it and when, its inputs, its
//!   artifacts (size and sha256 of the files the entry exists for), its
//!   size;
//! - an entry is *used* only while it is intact and current
//!   ([`Stamp::problem`]): every artifact as recorded, every recorded file
//!   input with the same sha256, every program input not replaced. A
//!   damaged or stale entry is a miss: it is rebuilt and the new build
//!   takes its place in one `rename` (an exchange), so a run that is using
//!   the old one never finds the entry missing;
//! - `<root>/<kind>/logs/<name>.log` keeps the build's log (after success
//!   and failure);
//! - [`Store::prune`] removes the entries a caller's rule rejects, damaged
//!   and incomplete entries and `tmp/` leftovers, never an entry being
//!   built; [`Store::collect_stale_work`] removes only work directories
//!   older than a given age whose build is not running (each run does it
//!   at start);
//! - [`Store::check_dir`] says, before anything runs, when the root cannot
//!   be a cache (a file, a directory that cannot be written).
//!
//! [`key`] is the one cache-key hash and [`Cmd`] the one way to run a build
//! step (logged, tail kept, per-line callback, timeout). [`Memo`] keeps
//! answers that cost a process start (an interpreter's probe, a compiler's
//! version) between runs, in `<root>/discovery/`, while the files they were
//! read from are unchanged.

mod command;
pub mod http;
mod identity;
mod lock;
mod memo;
mod snapshot;

pub use command::{Cmd, CommandError, Ran, DEFAULT_TAIL_LINES};
pub use identity::{sha256_now, FileIdentity, TIMESTAMP_SLACK};
pub use memo::{Memo, MEMO_DIR};

use lock::Lock;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use snapshot::Snapshot;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// The kinds of entries this cache holds. [`Store::list`] and
/// [`Store::prune`] look at these directories only, so a cache directory
/// pointed at the wrong place never loses anything else.
pub const KINDS: [&str; 5] = ["pythons", "harness", "targets", "sdists", "baselines"];

/// Names inside a kind's directory that are not entries: build logs,
/// downloaded sources, and the work directory of older extmatrix versions.
const RESERVED: [&str; 3] = ["logs", "sources", "tmp"];

/// Random characters after a work directory's `<kind>.<name>.` prefix.
const TMP_SUFFIX_LEN: usize = 6;

/// The key in `meta.json` under which the store keeps its [`Stamp`], beside
/// the kind's own fields.
const STAMP_KEY: &str = "cache_entry";

/// The cache-key hash: sha256 over every part, each prefixed with its
/// length (so `["ab", "c"]` and `["a", "bc"]` differ), as 16 hex digits.
pub fn key<I, P>(parts: I) -> String
where
    I: IntoIterator<Item = P>,
    P: AsRef<[u8]>,
{
    let mut h = Sha256::new();
    for part in parts {
        let part = part.as_ref();
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    hex(&h.finalize()[..8])
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The sha256 of `bytes`, in hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// The sha256 of a file's contents, in hex.
pub fn sha256_file(path: &Path) -> io::Result<String> {
    let mut file = File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

/// When `path` was last modified, as nanoseconds since the epoch (`None`:
/// it does not exist). A rebuilt interpreter at the same path differs.
pub fn modified_stamp(path: &Path) -> Option<String> {
    let modified = std::fs::metadata(path).ok()?.modified().ok()?;
    let since = modified.duration_since(std::time::UNIX_EPOCH).ok()?;
    Some(since.as_nanos().to_string())
}

/// Sum of the sizes of the files under `path` (symlinks not followed); a
/// file's own size when `path` is a file.
pub fn dir_size(path: &Path) -> u64 {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_file() => return m.len(),
        Ok(m) if m.is_dir() => {}
        _ => return 0,
    }
    let mut total = 0;
    let mut stack = vec![path.to_path_buf()];
    while let Some(p) = stack.pop() {
        for entry in std::fs::read_dir(&p).into_iter().flatten().flatten() {
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(entry.path()),
                Ok(t) if t.is_file() => total += entry.metadata().map_or(0, |m| m.len()),
                _ => {}
            }
        }
    }
    total
}

/// No cache directory could be determined.
#[derive(Debug, thiserror::Error)]
pub enum RootError {
    #[error(
        "no cache directory: set EXTMATRIX_CACHE_DIR, XDG_CACHE_HOME or HOME, or pass --cache-dir"
    )]
    Unset,
    #[error("cannot make the cache directory {} absolute: {source}", path.display())]
    NotAbsolute { path: PathBuf, source: io::Error },
}

/// A cache root that cannot be used ([`Store::check_dir`]).
#[derive(Debug, thiserror::Error)]
#[error(
    "the cache directory {} cannot be used: {}{why}; pass --cache-dir DIR or set \
     EXTMATRIX_CACHE_DIR to a directory extmatrix may write",
    root.display(),
    if path == root { String::new() } else { format!("{} ", path.display()) }
)]
pub struct UnusableCache {
    pub root: PathBuf,
    /// The root, or what under it is in the way.
    pub path: PathBuf,
    pub why: String,
}

/// One thing an entry was built from, recorded so that prune can tell
/// whether the entry can still be reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Input {
    /// A file, by path and the sha256 of its contents at build time.
    File { path: PathBuf, sha256: String },
    /// A program (an interpreter), by path and its modification time at
    /// build time ([`modified_stamp`]).
    Program { path: PathBuf, modified: String },
    /// Anything else the key hashes (a digest of embedded sources, a flag);
    /// only the builder knows its current value.
    Value { name: String, value: String },
}

impl Input {
    /// `path` as it is now (use [`Input::File`] with [`sha256_hex`] when the
    /// contents were already read for the build).
    pub fn file(path: &Path) -> io::Result<Input> {
        Ok(Input::File {
            path: path.to_owned(),
            sha256: sha256_file(path)?,
        })
    }

    /// `path` as it is now (its modification time, empty when missing).
    pub fn program(path: &Path) -> Input {
        Input::Program {
            path: path.to_owned(),
            modified: modified_stamp(path).unwrap_or_default(),
        }
    }

    pub fn value(name: impl Into<String>, value: impl Into<String>) -> Input {
        Input::Value {
            name: name.into(),
            value: value.into(),
        }
    }

    /// Why this input is no longer what the entry was built from, when it
    /// is not: a file gone or changed, a program gone or replaced. `None`
    /// for a [`Input::Value`], which only its builder can judge.
    pub fn changed(&self) -> Option<String> {
        // The same header is an input of every target built against one
        // interpreter: hashed once per process while unchanged.
        self.changed_by(&|path| sha256_now(path).ok())
    }

    /// [`Input::changed`], a file's sha256 now told by `sha256_of` (`None`:
    /// it cannot be read).
    fn changed_by(&self, sha256_of: &dyn Fn(&Path) -> Option<String>) -> Option<String> {
        match self {
            Input::File { path, sha256 } => match sha256_of(path) {
                None => Some(format!("{} is gone", path.display())),
                Some(now) if now != *sha256 => Some(format!("{} changed", path.display())),
                Some(_) => None,
            },
            Input::Program { path, modified } => match modified_stamp(path) {
                None => Some(format!("{} is gone", path.display())),
                Some(now) if now != *modified => Some(format!("{} was replaced", path.display())),
                Some(_) => None,
            },
            Input::Value { .. } => None,
        }
    }
}

/// What the store records in every entry's `meta.json` (under
/// `"cache_entry"`, beside the kind's own fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    pub kind: String,
    pub name: String,
    /// What built it: crate and version (`extmatrix-provision 0.1.0`).
    pub built_by: String,
    /// When it was finished, in seconds since the Unix epoch.
    pub built_at: u64,
    /// What it was built from.
    pub inputs: Vec<Input>,
    /// The files the entry exists for (a module, a binary), checked on
    /// every lookup. Empty in entries made before artifacts were recorded.
    #[serde(default)]
    pub artifacts: Vec<Artifact>,
    /// The size of the entry's files.
    pub size_bytes: u64,
}

/// A file of an entry as it was when the entry was finished.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Artifact {
    /// Relative to the entry.
    pub path: PathBuf,
    pub size_bytes: u64,
    pub sha256: String,
}

impl Artifact {
    /// `relative` in the entry `dir`, as it is now.
    fn measure(dir: &Path, relative: &Path) -> io::Result<Artifact> {
        let path = dir.join(relative);
        let meta = std::fs::symlink_metadata(&path)?;
        if !meta.is_file() {
            return Err(io::Error::other(format!(
                "{} is not a regular file",
                path.display()
            )));
        }
        Ok(Artifact {
            path: relative.to_owned(),
            size_bytes: meta.len(),
            sha256: sha256_file(&path)?,
        })
    }

    /// Why the file in the entry `dir` is not this artifact, when it is not.
    fn problem(&self, dir: &Path) -> Option<String> {
        let path = dir.join(&self.path);
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            Err(_) => return Some(format!("{} is gone", path.display())),
        };
        if !meta.is_file() {
            return Some(format!("{} is not a regular file", path.display()));
        }
        if meta.len() != self.size_bytes {
            return Some(format!(
                "{} has {} bytes, {} when it was built",
                path.display(),
                meta.len(),
                self.size_bytes
            ));
        }
        match sha256_file(&path) {
            Ok(sha) if sha == self.sha256 => None,
            Ok(_) => Some(format!("{} changed since it was built", path.display())),
            Err(e) => Some(format!("{} cannot be read: {e}", path.display())),
        }
    }
}

impl Stamp {
    /// Why the entry at `dir` must not be used, when it must not: an
    /// artifact gone, of another size or hash (damaged), or an input that
    /// changed (stale). `None`: intact and current.
    pub fn problem(&self, dir: &Path) -> Option<String> {
        self.damage(dir)
            .or_else(|| self.inputs.iter().find_map(Input::changed))
    }

    /// [`Stamp::problem`], with the file inputs as `snapshot` saw them.
    fn problem_in(&self, dir: &Path, snapshot: &Snapshot) -> Option<String> {
        let sha256_of = |path: &Path| snapshot.sha256(path);
        self.damage(dir)
            .or_else(|| self.inputs.iter().find_map(|i| i.changed_by(&sha256_of)))
    }

    /// Why the entry at `dir` is damaged (an artifact gone, of another size
    /// or hash), when it is.
    pub fn damage(&self, dir: &Path) -> Option<String> {
        self.artifacts
            .iter()
            .find_map(|a| a.problem(dir).map(|why| format!("damaged: {why}")))
    }
}

/// A complete entry with its kind's meta.
#[derive(Debug, Clone)]
pub struct Entry<M> {
    pub dir: PathBuf,
    pub meta: M,
    /// `None` only for interpreter builds made before this store existed.
    pub stamp: Option<Stamp>,
    /// Built by this call (false: found in the cache).
    pub fresh: bool,
}

/// An entry of any kind, complete or not, as [`Store::list`] sees it.
#[derive(Debug, Clone)]
pub struct Listed {
    pub kind: String,
    pub name: String,
    pub dir: PathBuf,
    /// The kind's own part of `meta.json`; `None`: incomplete (no
    /// `meta.json`, or an unreadable one).
    pub meta: Option<serde_json::Value>,
    pub stamp: Option<Stamp>,
}

impl Listed {
    pub fn is_complete(&self) -> bool {
        self.meta.is_some()
    }

    /// The meta as the kind's own type.
    pub fn meta_as<M: DeserializeOwned>(&self) -> Option<M> {
        serde_json::from_value(self.meta.clone()?).ok()
    }

    /// From the stamp (or an older meta's `size_bytes`), else measured.
    pub fn size_bytes(&self) -> u64 {
        self.stamp
            .as_ref()
            .map(|s| s.size_bytes)
            .or_else(|| self.meta.as_ref()?.get("size_bytes")?.as_u64())
            .unwrap_or_else(|| dir_size(&self.dir))
    }
}

/// Something [`Store::prune`] removed (or, in a dry run, would remove).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removed {
    pub path: PathBuf,
    /// The entry's kind; for a work directory, the kind it was building
    /// (`tmp` when that cannot be told).
    pub kind: String,
    pub bytes: u64,
    /// Why: the caller's reason, `incomplete (no meta.json)`, or
    /// `leftover of interrupted work`.
    pub reason: String,
}

/// An entry being built: where to work, where to stage, where it will be.
/// Dropped without being committed, it removes what it installed; the
/// work directory always goes.
pub struct Building<'a> {
    store: &'a Store,
    kind: String,
    name: String,
    dir: PathBuf,
    work: tempfile::TempDir,
    staging: PathBuf,
    installed: bool,
    committed: bool,
    /// Declared with [`Building::artifact`], relative to the entry.
    artifacts: Vec<PathBuf>,
}

impl Building<'_> {
    /// Record `relative` (a path inside the entry) as one of the files the
    /// entry exists for: its size and sha256 go into the stamp, and an
    /// entry whose artifact is gone or differs is rebuilt, never used.
    pub fn artifact(&mut self, relative: impl Into<PathBuf>) {
        self.artifacts.push(relative.into());
    }

    /// Where the entry will be once installed (for builds that bake their
    /// own path in, like an interpreter's `--prefix`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A scratch directory under `<root>/tmp/`, removed afterwards.
    pub fn work(&self) -> &Path {
        self.work.path()
    }

    /// The directory (inside [`Building::work`]) that becomes the entry,
    /// unless the build installs another one with [`Building::install`].
    pub fn staging(&self) -> &Path {
        &self.staging
    }

    /// `<root>/<kind>/logs/<name>.log`.
    pub fn log_path(&self) -> PathBuf {
        self.store.log_path(&self.kind, &self.name)
    }

    /// The build's log, emptied.
    pub fn open_log(&self) -> io::Result<File> {
        let path = self.log_path();
        std::fs::create_dir_all(path.parent().expect("a log has a parent"))?;
        File::create(path)
    }

    /// Rename `staged` (somewhere under [`Building::work`]) into place now,
    /// before the meta is known, for builds that must be run from where
    /// they live before they can be described. The entry is still
    /// incomplete until the build returns its meta.
    pub fn install(&mut self, staged: &Path) -> io::Result<()> {
        assert!(!self.installed, "an entry is installed once");
        // A damaged or stale entry still in place: this build replaces it.
        remove_all(&self.dir)?;
        std::fs::rename(staged, &self.dir)?;
        self.installed = true;
        Ok(())
    }
}

impl Drop for Building<'_> {
    fn drop(&mut self) {
        if self.installed && !self.committed {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The cache root and everything in it.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
    /// Set by [`Store::snapshot`]: shared by the clones of that store.
    snapshot: Option<std::sync::Arc<Snapshot>>,
}

impl Store {
    /// The store at `root` (made absolute: interpreter builds bake their
    /// prefix under it into themselves).
    pub fn new(root: impl Into<PathBuf>) -> Store {
        let root = root.into();
        Store {
            root: std::path::absolute(&root).unwrap_or(root),
            snapshot: None,
        }
    }

    /// `explicit` (`--cache-dir`), else `$EXTMATRIX_CACHE_DIR`, else
    /// `$XDG_CACHE_HOME/extmatrix`, else `~/.cache/extmatrix`; absolute.
    pub fn from_env(explicit: Option<PathBuf>) -> Result<Store, RootError> {
        let nonempty = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        let root = explicit
            .or_else(|| nonempty("EXTMATRIX_CACHE_DIR").map(PathBuf::from))
            .or_else(|| nonempty("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("extmatrix")))
            .or_else(|| nonempty("HOME").map(|h| PathBuf::from(h).join(".cache/extmatrix")))
            .ok_or(RootError::Unset)?;
        let root = std::path::absolute(&root)
            .map_err(|source| RootError::NotAbsolute { path: root, source })?;
        Ok(Store {
            root,
            snapshot: None,
        })
    }

    /// This store, whose lookups (and its clones') look at each file input
    /// once: the first look at a file is its state for every later lookup
    /// through it; the hashes it reads are kept for the next pass, and a
    /// file whose identity has not changed since is not read again
    /// (`snapshot.rs`). For a pass of many lookups built from the same
    /// files, a run's provisioning; a new pass takes a new one.
    pub fn snapshot(&self) -> Store {
        Store {
            root: self.root.clone(),
            snapshot: Some(std::sync::Arc::new(Snapshot::new(&self.root))),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<root>/<kind>`.
    pub fn kind_dir(&self, kind: &str) -> PathBuf {
        self.root.join(kind)
    }

    /// `<root>/<kind>/<name>`, complete or not, present or not.
    pub fn entry_dir(&self, kind: &str, name: &str) -> PathBuf {
        self.kind_dir(kind).join(name)
    }

    /// `<root>/<kind>/logs/<name>.log`.
    pub fn log_path(&self, kind: &str, name: &str) -> PathBuf {
        self.kind_dir(kind).join("logs").join(format!("{name}.log"))
    }

    fn lock_path(&self, kind: &str, name: &str) -> PathBuf {
        self.kind_dir(kind).join(format!("{name}.lock"))
    }

    fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// The complete entry `kind/name`, if there is one that can be used:
    /// its artifacts intact and its inputs unchanged ([`Stamp::problem`]).
    pub fn lookup<M: DeserializeOwned>(&self, kind: &str, name: &str) -> Option<Entry<M>> {
        let dir = self.entry_dir(kind, name);
        let (meta, stamp) = read_entry(&dir)?;
        let problem = |s: &Stamp| match &self.snapshot {
            Some(snapshot) => s.problem_in(&dir, snapshot),
            None => s.problem(&dir),
        };
        if stamp.as_ref().is_some_and(|s| problem(s).is_some()) {
            return None;
        }
        Some(Entry {
            dir,
            meta,
            stamp,
            fresh: false,
        })
    }

    /// The entry `kind/name`: found complete and usable ([`Store::lookup`]),
    /// or built now by `build`.
    ///
    /// On a miss the entry's lock is taken (calling `on_wait` first when
    /// another process holds it, then waiting; that process's result is
    /// used when it finishes). `build` gets a [`Building`]: it works in
    /// `work()`, puts the entry's files in `staging()` (or installs another
    /// directory itself), declares its artifacts and returns the kind's
    /// meta and the inputs. The store writes `meta.json` into the staged
    /// entry and renames it into place (exchanging it with a damaged or
    /// stale entry there, so the path never names nothing); an installed
    /// entry gets its `meta.json` last. When `build` fails, nothing is left
    /// in place (a damaged or stale entry stays, unused).
    pub fn ensure<M, E>(
        &self,
        kind: &str,
        name: &str,
        built_by: &str,
        on_wait: &dyn Fn(),
        build: impl FnOnce(&mut Building<'_>) -> Result<(M, Vec<Input>), E>,
    ) -> Result<Entry<M>, E>
    where
        M: Serialize + DeserializeOwned,
        E: From<io::Error>,
    {
        check_name(kind, name)?;
        if let Some(found) = self.lookup(kind, name) {
            return Ok(found);
        }
        std::fs::create_dir_all(self.kind_dir(kind))?;
        let _lock = Lock::acquire(&self.lock_path(kind, name), on_wait)?;
        if let Some(found) = self.lookup(kind, name) {
            // Built by another process while we waited.
            return Ok(found);
        }
        let dir = self.entry_dir(kind, name);
        if std::fs::symlink_metadata(&dir).is_ok() && read_meta_json(&dir).is_none() {
            // Renamed into place but never finished (killed before meta.json):
            // nobody can be using it.
            remove_all(&dir)?;
        }
        std::fs::create_dir_all(self.tmp_dir())?;
        let work = tempfile::Builder::new()
            .prefix(&format!("{kind}.{name}."))
            .rand_bytes(TMP_SUFFIX_LEN)
            .tempdir_in(self.tmp_dir())?;
        let staging = work.path().join("entry");
        std::fs::create_dir(&staging)?;
        let mut building = Building {
            store: self,
            kind: kind.to_owned(),
            name: name.to_owned(),
            dir: dir.clone(),
            work,
            staging,
            installed: false,
            committed: false,
            artifacts: Vec::new(),
        };
        let (meta, inputs) = build(&mut building)?;
        // Where the entry's files are now: in place, or still staged.
        let files = if building.installed {
            dir.clone()
        } else {
            building.staging.clone()
        };
        let artifacts = building
            .artifacts
            .iter()
            .map(|a| Artifact::measure(&files, a))
            .collect::<io::Result<Vec<_>>>()?;
        let stamp = Stamp {
            kind: kind.to_owned(),
            name: name.to_owned(),
            built_by: built_by.to_owned(),
            built_at: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            inputs,
            artifacts,
            size_bytes: dir_size(&files),
        };
        write_meta(&files, &meta, &stamp)?;
        if !building.installed {
            // Complete as it lands; what it replaces goes with the work dir.
            replace_dir(&building.staging, &dir)?;
        }
        building.committed = true;
        drop(building);
        Ok(Entry {
            dir,
            meta,
            stamp: Some(stamp),
            fresh: true,
        })
    }

    /// Every complete entry of `kind` whose meta reads as `M`, by name.
    pub fn list_kind<M: DeserializeOwned>(&self, kind: &str) -> Vec<Entry<M>> {
        self.list_in(kind)
            .into_iter()
            .filter_map(|l| {
                let meta = l.meta_as()?;
                Some(Entry {
                    dir: l.dir,
                    meta,
                    stamp: l.stamp,
                    fresh: false,
                })
            })
            .collect()
    }

    /// Every entry of every kind ([`KINDS`]), complete or not, by kind and
    /// name.
    pub fn list(&self) -> Vec<Listed> {
        KINDS.iter().flat_map(|k| self.list_in(k)).collect()
    }

    fn list_in(&self, kind: &str) -> Vec<Listed> {
        let mut out: Vec<Listed> = std::fs::read_dir(self.kind_dir(kind))
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                if RESERVED.contains(&name.as_str()) {
                    return None;
                }
                let dir = e.path();
                let (meta, stamp) = match read_meta_json(&dir) {
                    Some((meta, stamp)) => (Some(meta), stamp),
                    None => (None, None),
                };
                Some(Listed {
                    kind: kind.to_owned(),
                    name,
                    dir,
                    meta,
                    stamp,
                })
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// Work directories under `<root>/tmp/` (and the `<kind>/tmp/` of older
    /// versions) whose build is not running.
    pub fn leftovers(&self) -> Vec<PathBuf> {
        self.work_dirs()
            .into_iter()
            .filter(|w| !w.lock.as_deref().is_some_and(Lock::is_held))
            .map(|w| w.path)
            .collect()
    }

    /// Remove the work directories (under `<root>/tmp/`, and the
    /// `<kind>/tmp/` of older versions) last modified more than `age` ago
    /// whose build is not running: what killed builds left behind. Each
    /// run calls it at start; a directory it cannot remove is skipped.
    /// Returns what was removed.
    pub fn collect_stale_work(&self, age: std::time::Duration) -> Vec<PathBuf> {
        let now = std::time::SystemTime::now();
        let old = |path: &Path| {
            std::fs::symlink_metadata(path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| now.duration_since(t).ok())
                .is_some_and(|d| d > age)
        };
        let mut removed = Vec::new();
        for work in self.work_dirs() {
            if !old(&work.path) {
                continue;
            }
            // A builder never reuses a work directory (each gets a new,
            // random one), so one whose lock is free now is dead for good.
            if work.lock.as_deref().is_some_and(Lock::is_held) {
                continue;
            }
            if remove_all(&work.path).is_ok() {
                removed.push(work.path);
            }
        }
        removed
    }

    /// Whether the root can be used as a cache, before anything runs: not
    /// a file, its `tmp/` and kind directories not files either, and, with
    /// `write` (a run, a build), created if missing and writable. Without
    /// `write` (listing, pruning) a missing root is fine: it is empty.
    pub fn check_dir(&self, write: bool) -> Result<(), UnusableCache> {
        let unusable = |path: &Path, why: String| UnusableCache {
            root: self.root.clone(),
            path: path.to_owned(),
            why,
        };
        match std::fs::metadata(&self.root) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(unusable(&self.root, "it is not a directory".into())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if !write {
                    return Ok(());
                }
                std::fs::create_dir_all(&self.root)
                    .map_err(|e| unusable(&self.root, format!("it cannot be created: {e}")))?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotADirectory => {
                return Err(unusable(
                    &self.root,
                    "a part of its path is a file, not a directory".into(),
                ))
            }
            Err(e) => return Err(unusable(&self.root, format!("it cannot be read: {e}"))),
        }
        for sub in KINDS.iter().copied().chain(["tmp"]) {
            let path = self.root.join(sub);
            match std::fs::metadata(&path) {
                Ok(m) if !m.is_dir() => {
                    return Err(unusable(&path, "it is not a directory".into()))
                }
                _ => {}
            }
        }
        if write {
            tempfile::Builder::new()
                .prefix(".extmatrix-write-check.")
                .tempfile_in(&self.root)
                .map_err(|e| unusable(&self.root, format!("it cannot be written: {e}")))?;
        }
        Ok(())
    }

    /// Every work directory, with the kind and lock of the entry it builds
    /// (when its name tells).
    fn work_dirs(&self) -> Vec<WorkDir> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(self.tmp_dir())
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = e.file_name().to_string_lossy().into_owned();
            out.push(match parse_work_name(&name) {
                Some((kind, entry)) => WorkDir {
                    path: e.path(),
                    kind: kind.to_owned(),
                    lock: Some(self.lock_path(kind, entry)),
                },
                // Older versions staged harness and target builds here,
                // unlocked, as `<name>XXXXXX`.
                None => WorkDir {
                    path: e.path(),
                    kind: "tmp".to_owned(),
                    lock: None,
                },
            });
        }
        // Older versions built interpreters in `pythons/tmp/<name>XXXXXX`
        // (and may still be running: their locks are the same files).
        for kind in KINDS {
            for e in std::fs::read_dir(self.kind_dir(kind).join("tmp"))
                .into_iter()
                .flatten()
                .flatten()
            {
                let name = e.file_name().to_string_lossy().into_owned();
                let entry = name.get(..name.len().saturating_sub(TMP_SUFFIX_LEN));
                out.push(WorkDir {
                    path: e.path(),
                    kind: kind.to_owned(),
                    lock: entry.map(|n| self.lock_path(kind, n)),
                });
            }
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        out
    }

    /// Remove every complete entry that `keep` rejects (`Err(reason)`),
    /// every incomplete entry, and the work directories of builds that are
    /// not running. An entry being built (its lock is held) is skipped;
    /// the lock is held while an entry is removed, and its log and lock
    /// file go with it. Returns what was removed, or with `dry_run` what
    /// would be, touching nothing.
    pub fn prune(
        &self,
        keep: impl Fn(&Listed) -> Result<(), String>,
        dry_run: bool,
    ) -> io::Result<Vec<Removed>> {
        let mut removed = Vec::new();
        for listed in self.list() {
            let reason = if listed.is_complete() {
                match listed.stamp.as_ref().and_then(|s| s.damage(&listed.dir)) {
                    Some(why) => why,
                    None => match keep(&listed) {
                        Ok(()) => continue,
                        Err(why) => why,
                    },
                }
            } else {
                "incomplete (no meta.json)".to_owned()
            };
            let lock_path = self.lock_path(&listed.kind, &listed.name);
            let bytes = listed.size_bytes();
            if dry_run {
                if Lock::is_held(&lock_path) {
                    continue;
                }
            } else {
                let Some(lock) = Lock::try_acquire(&lock_path)? else {
                    continue;
                };
                // Finished by its builder after we looked: no longer incomplete.
                if !listed.is_complete() && listed.dir.join("meta.json").exists() {
                    continue;
                }
                remove_all(&listed.dir)?;
                remove_if_there(&self.log_path(&listed.kind, &listed.name))?;
                lock.remove()?;
            }
            removed.push(Removed {
                path: listed.dir,
                kind: listed.kind,
                bytes,
                reason,
            });
        }
        for work in self.work_dirs() {
            // A work directory lives only while its builder holds the lock.
            if work.lock.as_deref().is_some_and(Lock::is_held) {
                continue;
            }
            let bytes = dir_size(&work.path);
            if !dry_run {
                remove_all(&work.path)?;
            }
            removed.push(Removed {
                path: work.path,
                kind: work.kind,
                bytes,
                reason: "leftover of interrupted work".to_owned(),
            });
        }
        Ok(removed)
    }
}

/// A directory where a build works (or worked).
struct WorkDir {
    path: PathBuf,
    kind: String,
    lock: Option<PathBuf>,
}

/// Names are single path components: not empty, no `/`, not `.`/`..`, not
/// reserved, no `.lock` suffix (lock files live beside entries).
fn check_name(kind: &str, name: &str) -> io::Result<()> {
    let ok = !name.is_empty()
        && !name.contains('/')
        && name != "."
        && name != ".."
        && !RESERVED.contains(&name)
        && !name.ends_with(".lock")
        && KINDS.contains(&kind);
    if ok {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("`{kind}/{name}` is not a valid cache entry"),
        ))
    }
}

/// `<kind>.<name>.XXXXXX` → (kind, name), for a known kind.
fn parse_work_name(file_name: &str) -> Option<(&str, &str)> {
    let (kind, rest) = file_name.split_once('.')?;
    if !KINDS.contains(&kind) {
        return None;
    }
    let name = rest.get(..rest.len().checked_sub(TMP_SUFFIX_LEN + 1)?)?;
    (rest.as_bytes()[name.len()] == b'.' && !name.is_empty()).then_some((kind, name))
}

/// `meta.json` split into the kind's part and the store's stamp.
fn read_meta_json(dir: &Path) -> Option<(serde_json::Value, Option<Stamp>)> {
    let value: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("meta.json")).ok()?).ok()?;
    let serde_json::Value::Object(mut map) = value else {
        return None;
    };
    let stamp = map
        .remove(STAMP_KEY)
        .and_then(|s| serde_json::from_value(s).ok());
    Some((serde_json::Value::Object(map), stamp))
}

/// `meta.json` as the kind's meta and the store's stamp, read in one pass
/// (a lookup reads one per entry it uses, each with hundreds of inputs).
/// A stamp that is there but does not read makes the entry unusable: what
/// it holds cannot be checked.
fn read_entry<M: DeserializeOwned>(dir: &Path) -> Option<(M, Option<Stamp>)> {
    #[derive(Deserialize)]
    struct MetaJson<M> {
        /// [`STAMP_KEY`].
        #[serde(rename = "cache_entry", default)]
        stamp: Option<Stamp>,
        #[serde(flatten)]
        meta: M,
    }
    let json: MetaJson<M> =
        serde_json::from_slice(&std::fs::read(dir.join("meta.json")).ok()?).ok()?;
    Some((json.meta, json.stamp))
}

/// `meta.json` last and atomically: written beside, synced, renamed.
fn write_meta<M: Serialize>(dir: &Path, meta: &M, stamp: &Stamp) -> io::Result<()> {
    let mut value = serde_json::to_value(meta).map_err(io::Error::other)?;
    let serde_json::Value::Object(map) = &mut value else {
        return Err(io::Error::other(
            "a cache entry's meta must be a JSON object",
        ));
    };
    map.insert(
        STAMP_KEY.to_owned(),
        serde_json::to_value(stamp).map_err(io::Error::other)?,
    );
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    serde_json::to_writer_pretty(&mut tmp, &value).map_err(io::Error::other)?;
    tmp.as_file().sync_all()?;
    tmp.persist(dir.join("meta.json")).map_err(|e| e.error)?;
    Ok(())
}

/// Put the directory `new` at `dir`: a rename, or, when `dir` is there
/// (a damaged or stale entry), an atomic exchange that leaves the old
/// entry at `new`. Where the exchange is not supported, the old entry is
/// removed first.
fn replace_dir(new: &Path, dir: &Path) -> io::Result<()> {
    match std::fs::rename(new, dir) {
        Ok(()) => return Ok(()),
        Err(e) if std::fs::symlink_metadata(dir).is_err() => return Err(e),
        Err(_) => {}
    }
    if exchange(new, dir).is_ok() {
        return Ok(());
    }
    remove_all(dir)?;
    std::fs::rename(new, dir)
}

/// `renameat2(RENAME_EXCHANGE)`: `a` and `b` swap places at once.
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let a = CString::new(a.as_os_str().as_bytes()).map_err(io::Error::other)?;
    let b = CString::new(b.as_os_str().as_bytes()).map_err(io::Error::other)?;
    // SAFETY: two NUL-terminated paths that outlive the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn exchange(_: &Path, _: &Path) -> io::Result<()> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

fn remove_all(path: &Path) -> io::Result<()> {
    let result = match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) => Err(e),
    };
    match result {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn remove_if_there(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests;
