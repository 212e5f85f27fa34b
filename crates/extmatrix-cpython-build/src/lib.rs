//! Build CPython from a source tarball — debug, free-threaded, both, or any
//! `./configure` flags — into a content-addressed cache, safely.
//!
//! Most extension bugs only show on builds nobody has installed; this crate
//! makes such a build one line of a matrix. The cache key hashes the
//! tarball's sha256, the configure flags and the compiler's version. A build
//! happens in a temporary directory and is installed with `DESTDIR` into a
//! staging tree, which is renamed into place; `meta.json` is written last and
//! is what marks an entry complete. So a build killed at any moment leaves no
//! interpreter that looks usable. An exclusive lock per entry makes concurrent
//! runs that need the same build wait for one build instead of doing two.
//!
//! Layout under the cache root (`<cache>/pythons`):
//! `<id>-<key>/prefix` (the installation), `<id>-<key>/meta.json`,
//! `<id>-<key>.lock`, `logs/<id>-<key>.log` (kept after success and failure),
//! `sources/<sha256>.tar.*` (downloaded tarballs), `tmp/` (work in progress).

use extmatrix_core::Variant;
use extmatrix_pythons::Python;
use extmatrix_spec::{BuildSpec, SourceSpec};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The `./configure` flags of each variant (documented in docs/matrix-format.md).
pub fn variant_flags(variant: Variant) -> &'static [&'static str] {
    match variant {
        Variant::Default => &[],
        Variant::Debug => &["--with-pydebug"],
        Variant::FreeThreaded => &["--disable-gil"],
        Variant::FreeThreadedDebug => &["--disable-gil", "--with-pydebug"],
    }
}

/// Flags every build gets, besides `--prefix` and the rpath: a shared
/// libpython so the harness and extensions link against it, and no pip.
const ALWAYS: &[&str] = &["--enable-shared", "--without-ensurepip"];

/// Bumped when the build recipe changes in a way that makes old entries wrong.
const RECIPE: &str = "extmatrix-cpython-build/1";

/// Random characters tempfile appends to a work directory's name.
const TMP_SUFFIX_LEN: usize = 6;

/// How many lines of the log a failure shows.
const TAIL_LINES: usize = 30;

/// The phases of a build, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Download,
    Extract,
    Configure,
    Make,
    Install,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Download => "download",
            Phase::Extract => "extract",
            Phase::Configure => "configure",
            Phase::Make => "make",
            Phase::Install => "install",
        }
    }
}

/// Told about a build as it goes (a progress bar, or nothing).
pub trait Progress: Sync {
    fn phase(&self, phase: Phase);
    /// The latest line of the build's output.
    fn line(&self, line: &str);
    /// The entry is locked by another run; waiting for it.
    fn waiting(&self) {}
}

/// Ignores everything.
pub struct Quiet;

impl Progress for Quiet {
    fn phase(&self, _: Phase) {}
    fn line(&self, _: &str) {}
}

/// A build that did not produce an interpreter.
#[derive(Debug, thiserror::Error)]
#[error("{message}{}", log_hint(.log, .tail))]
pub struct BuildError {
    pub message: String,
    /// The full log, kept in the cache.
    pub log: Option<PathBuf>,
    /// Its last lines.
    pub tail: Vec<String>,
    /// The matrix entry is at fault (missing tarball, sha256 mismatch),
    /// not the build.
    pub input: bool,
}

fn log_hint(log: &Option<PathBuf>, tail: &[String]) -> String {
    let mut s = String::new();
    if let Some(log) = log {
        s.push_str(&format!("\nlog: {}", log.display()));
    }
    if !tail.is_empty() {
        s.push_str(&format!("\nlast {} lines:\n", tail.len()));
        for l in tail {
            s.push_str("  ");
            s.push_str(l);
            s.push('\n');
        }
    }
    s
}

impl BuildError {
    fn plain(message: impl Into<String>) -> Self {
        BuildError {
            message: message.into(),
            log: None,
            tail: Vec::new(),
            input: false,
        }
    }

    /// The matrix entry is wrong: a usage error, not a failed build.
    fn input(message: impl Into<String>) -> Self {
        BuildError {
            input: true,
            ..BuildError::plain(message)
        }
    }
}

impl From<std::io::Error> for BuildError {
    fn from(e: std::io::Error) -> Self {
        BuildError::plain(format!("I/O error in the build cache: {e}"))
    }
}

/// What a finished build records (`meta.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Meta {
    pub id: String,
    pub key: String,
    pub variant: Variant,
    /// Every configure argument, in order (prefix and rpath included).
    pub configure: Vec<String>,
    pub source_sha256: String,
    pub compiler: String,
    /// Seconds per phase.
    pub seconds: Vec<(Phase, f64)>,
    pub size_bytes: u64,
    /// The interpreter as it describes itself (id set to the matrix's).
    pub python: Python,
}

/// A finished build in the cache.
#[derive(Debug, Clone)]
pub struct Built {
    pub dir: PathBuf,
    pub meta: Meta,
    /// True when this call built it (false: it was in the cache).
    pub fresh: bool,
}

/// The interpreter build cache.
#[derive(Debug, Clone)]
pub struct BuildCache {
    root: PathBuf,
}

impl BuildCache {
    /// The build cache inside extmatrix's cache directory.
    pub fn new(cache_root: &Path) -> Self {
        BuildCache {
            root: cache_root.join("pythons"),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn log_path(&self, name: &str) -> PathBuf {
        self.root.join("logs").join(format!("{name}.log"))
    }

    /// Every complete build in the cache.
    pub fn list(&self) -> Vec<Built> {
        let mut out: Vec<Built> = std::fs::read_dir(&self.root)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let dir = e.path();
                let meta = std::fs::read(dir.join("meta.json")).ok()?;
                let meta: Meta = serde_json::from_slice(&meta).ok()?;
                Some(Built {
                    dir,
                    meta,
                    fresh: false,
                })
            })
            .collect();
        out.sort_by(|a, b| a.meta.id.cmp(&b.meta.id).then(a.dir.cmp(&b.dir)));
        out
    }

    /// Remove every build that `keep` rejects, and leftovers of interrupted
    /// work (entries without `meta.json`, `tmp/` work directories). Entries
    /// being built right now are locked and left alone. Returns what was
    /// (or, with `dry_run`, would be) removed, with sizes.
    pub fn prune(
        &self,
        keep: impl Fn(&Meta) -> bool,
        dry_run: bool,
    ) -> std::io::Result<Vec<(PathBuf, u64)>> {
        let mut doomed = Vec::new();
        for entry in std::fs::read_dir(&self.root)
            .into_iter()
            .flatten()
            .flatten()
        {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if !path.is_dir() || matches!(name.as_str(), "logs" | "sources" | "tmp") {
                continue;
            }
            if read_meta(&path).is_some_and(|m| keep(&m)) || self.is_locked(&name) {
                continue;
            }
            doomed.push(path);
        }
        // Work directories are named after their entry (`<id>-<key>` + random).
        for entry in std::fs::read_dir(self.root.join("tmp"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            let entry_name = name
                .get(..name.len().saturating_sub(TMP_SUFFIX_LEN))
                .unwrap_or("");
            if !self.is_locked(entry_name) {
                doomed.push(entry.path());
            }
        }
        let mut removed = Vec::new();
        for path in doomed {
            let size = dir_size(&path);
            if !dry_run {
                std::fs::remove_dir_all(&path)?;
            }
            removed.push((path, size));
        }
        Ok(removed)
    }

    fn is_locked(&self, name: &str) -> bool {
        let Ok(file) = File::open(self.root.join(format!("{name}.lock"))) else {
            return false;
        };
        // SAFETY: flock on an fd we own.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        rc != 0
    }
}

/// The `meta.json` of a cache entry, if the entry is complete.
fn read_meta(dir: &Path) -> Option<Meta> {
    serde_json::from_slice(&std::fs::read(dir.join("meta.json")).ok()?).ok()
}

/// Sum of file sizes under `path`.
pub fn dir_size(path: &Path) -> u64 {
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

/// The cache key of a build: what must be equal for two builds to be
/// interchangeable.
pub fn build_key(
    source_sha256: &str,
    variant: Variant,
    extra: &[String],
    compiler: &str,
) -> String {
    let mut h = Sha256::new();
    for part in [RECIPE, source_sha256, compiler]
        .into_iter()
        .chain(variant_flags(variant).iter().copied())
        .chain(ALWAYS.iter().copied())
        .chain(extra.iter().map(String::as_str))
    {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    h.finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The first line of `cc --version`: a compiler upgrade means a new build.
pub fn compiler_version() -> String {
    duct::cmd!("cc", "--version")
        .stderr_null()
        .read()
        .ok()
        .and_then(|v| v.lines().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown cc".to_owned())
}

fn sha256_file(path: &Path) -> std::io::Result<String> {
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
    Ok(extmatrix_core::hex(&h.finalize()))
}

/// An exclusive lock on a file, released when dropped.
struct Lock(File);

impl Lock {
    fn acquire(path: &Path, progress: &dyn Progress) -> std::io::Result<Lock> {
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)?;
        // SAFETY: flock on an fd we own.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            progress.waiting();
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(Lock(file))
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        // SAFETY: as above.
        unsafe {
            libc::flock(self.0.as_raw_fd(), libc::LOCK_UN);
        }
    }
}

/// The tarball of `spec` on disk and its sha256: a local file checked
/// against its sha256 when one is given, or a download checked against its
/// sha256 and kept in the cache.
fn source_tarball(
    cache: &BuildCache,
    spec: &BuildSpec,
    whence: &str,
    progress: &dyn Progress,
) -> Result<(PathBuf, String), BuildError> {
    match &spec.source {
        SourceSpec::Tarball { path, sha256 } => {
            if !path.is_file() {
                return Err(BuildError::input(format!(
                    "{whence}: source tarball {} not found (`tarball` is relative to the matrix file; \
                     scripts/fetch-cpython-source fetches CPython 3.13's)",
                    path.display()
                )));
            }
            let actual = sha256_file(path)?;
            if let Some(expected) = sha256 {
                if *expected != actual {
                    return Err(BuildError::input(format!(
                        "{whence}: {} has sha256 {actual}, but the matrix says {expected}",
                        path.display()
                    )));
                }
            }
            Ok((path.clone(), actual))
        }
        SourceSpec::Url { url, sha256 } => {
            let dir = cache.root.join("sources");
            std::fs::create_dir_all(&dir)?;
            let suffix = url
                .rsplit('/')
                .next()
                .and_then(|n| n.find(".tar").map(|i| n[i..].to_owned()));
            let target = dir.join(format!(
                "{sha256}{}",
                suffix.unwrap_or_else(|| ".tar".into())
            ));
            if target.is_file() {
                return Ok((target, sha256.clone()));
            }
            progress.phase(Phase::Download);
            let mut tmp = tempfile::NamedTempFile::new_in(&dir)?;
            download(url, tmp.as_file_mut())
                .map_err(|e| BuildError::plain(format!("{whence}: {e}")))?;
            let actual = sha256_file(tmp.path())?;
            if actual != *sha256 {
                return Err(BuildError::input(format!(
                    "{whence}: {url} has sha256 {actual}, but the matrix says {sha256}; nothing was built"
                )));
            }
            tmp.persist(&target).map_err(|e| e.error)?;
            Ok((target, actual))
        }
    }
}

fn download(url: &str, out: &mut File) -> Result<(), String> {
    if let Some(path) = url.strip_prefix("file://") {
        let mut src = File::open(path).map_err(|e| format!("cannot read {url}: {e}"))?;
        std::io::copy(&mut src, out).map_err(|e| format!("cannot copy {url}: {e}"))?;
        return Ok(());
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(20)))
        .build()
        .into();
    let response = agent
        .get(url)
        .call()
        .map_err(|e| format!("cannot download {url}: {e}"))?;
    let mut body = response.into_body().into_reader();
    std::io::copy(&mut body, out).map_err(|e| format!("download of {url} broke off: {e}"))?;
    Ok(())
}

/// Run one build step; its output goes to `log` line by line and to
/// `progress`; the last lines are kept for an error.
fn run_logged(
    program: &str,
    args: &[String],
    dir: &Path,
    log: &mut File,
    progress: &dyn Progress,
) -> Result<(), (String, VecDeque<String>)> {
    let command_line = format!("{program} {}", args.join(" "));
    let _ = writeln!(log, "$ {command_line}");
    let reader = duct::cmd(program, args)
        .dir(dir)
        .stdin_null()
        .stderr_to_stdout()
        .unchecked()
        .reader()
        .map_err(|e| (format!("could not start `{program}`: {e}"), VecDeque::new()))?;
    let mut tail = VecDeque::with_capacity(TAIL_LINES);
    let mut lines = BufReader::new(&reader);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match lines.read_until(b'\n', &mut buf) {
            Ok(0) => break,
            Ok(_) => {
                let line = String::from_utf8_lossy(&buf);
                let line = line.trim_end();
                let _ = writeln!(log, "{line}");
                if tail.len() == TAIL_LINES {
                    tail.pop_front();
                }
                tail.push_back(line.to_owned());
                progress.line(line);
            }
            Err(e) => return Err((format!("reading `{program}` output failed: {e}"), tail)),
        }
    }
    match reader.try_wait() {
        Ok(Some(out)) if out.status.success() => Ok(()),
        Ok(Some(out)) => Err((format!("`{command_line}` failed ({})", out.status), tail)),
        Ok(None) => Err((format!("`{program}` did not finish"), tail)),
        Err(e) => Err((format!("`{program}` failed: {e}"), tail)),
    }
}

/// The cache key `spec` builds under, if its source can be identified
/// without downloading (a tarball that exists, or a url with its sha256).
pub fn key_of(spec: &BuildSpec) -> Option<String> {
    let sha256 = match &spec.source {
        SourceSpec::Url { sha256, .. } => sha256.clone(),
        SourceSpec::Tarball {
            sha256: Some(sha256),
            ..
        } => sha256.clone(),
        SourceSpec::Tarball { path, sha256: None } => sha256_file(path).ok()?,
    };
    Some(build_key(
        &sha256,
        spec.variant,
        &spec.configure,
        &compiler_version(),
    ))
}

/// Return the cached build for `spec`, building it first on a miss.
///
/// `whence` (`matrix.yaml:3:5`) prefixes errors about the matrix entry;
/// `make_jobs` is make's `-j`.
pub fn ensure(
    cache: &BuildCache,
    spec: &BuildSpec,
    whence: &str,
    make_jobs: usize,
    progress: &dyn Progress,
) -> Result<Built, BuildError> {
    std::fs::create_dir_all(cache.root.join("logs"))?;
    let (tarball, sha256) = source_tarball(cache, spec, whence, progress)?;
    let compiler = compiler_version();
    let key = build_key(&sha256, spec.variant, &spec.configure, &compiler);
    let name = format!("{}-{key}", spec.id);
    let dir = cache.root.join(&name);
    let meta_path = dir.join("meta.json");

    if let Some(meta) = read_meta(&dir) {
        return Ok(Built {
            dir,
            meta,
            fresh: false,
        });
    }
    let _lock = Lock::acquire(&cache.root.join(format!("{name}.lock")), progress)?;
    if let Some(meta) = read_meta(&dir) {
        // Another run built it while we waited.
        return Ok(Built {
            dir,
            meta,
            fresh: false,
        });
    }
    if dir.exists() {
        // Renamed into place but never finished (killed before meta.json).
        std::fs::remove_dir_all(&dir)?;
    }

    let log_path = cache.log_path(&name);
    let mut log = File::create(&log_path)?;
    let fail = |(message, tail): (String, VecDeque<String>)| BuildError {
        message: format!("building {} failed: {message}", spec.id),
        log: Some(log_path.clone()),
        tail: tail.into_iter().collect(),
        input: false,
    };

    std::fs::create_dir_all(cache.root.join("tmp"))?;
    let work = tempfile::Builder::new()
        .prefix(&name)
        .rand_bytes(TMP_SUFFIX_LEN)
        .tempdir_in(cache.root.join("tmp"))?;
    let prefix = dir.join("prefix");
    let mut configure: Vec<String> = vec![format!("--prefix={}", prefix.display())];
    configure.extend(ALWAYS.iter().map(|s| s.to_string()));
    configure.extend(variant_flags(spec.variant).iter().map(|s| s.to_string()));
    configure.push(format!(
        "LDFLAGS=-Wl,-rpath,{}",
        prefix.join("lib").display()
    ));
    configure.extend(spec.configure.iter().cloned());
    let mut seconds = Vec::new();

    let started = Instant::now();
    progress.phase(Phase::Extract);
    let src_root = work.path().join("src");
    std::fs::create_dir_all(&src_root)?;
    run_logged(
        "tar",
        &[
            "-xf".into(),
            tarball.display().to_string(),
            "-C".into(),
            src_root.display().to_string(),
        ],
        work.path(),
        &mut log,
        progress,
    )
    .map_err(fail)?;
    let src = single_subdir(&src_root).ok_or_else(|| {
        fail((
            format!(
                "{} does not unpack to a single source directory",
                tarball.display()
            ),
            VecDeque::new(),
        ))
    })?;
    seconds.push((Phase::Extract, started.elapsed().as_secs_f64()));

    let step = |phase: Phase,
                program: &str,
                args: Vec<String>,
                log: &mut File,
                seconds: &mut Vec<(Phase, f64)>| {
        progress.phase(phase);
        let t = Instant::now();
        let r = run_logged(program, &args, &src, log, progress).map_err(fail);
        seconds.push((phase, t.elapsed().as_secs_f64()));
        r
    };
    let configure_script = src.join("configure").display().to_string();
    step(
        Phase::Configure,
        &configure_script,
        configure.clone(),
        &mut log,
        &mut seconds,
    )?;
    step(
        Phase::Make,
        "make",
        vec![format!("-j{}", make_jobs.max(1))],
        &mut log,
        &mut seconds,
    )?;
    let destdir = work.path().join("destdir");
    step(
        Phase::Install,
        "make",
        vec!["install".into(), format!("DESTDIR={}", destdir.display())],
        &mut log,
        &mut seconds,
    )?;

    // DESTDIR mirrors the absolute prefix path; move its entry into place.
    let staged = destdir.join(dir.strip_prefix("/").unwrap_or(&dir));
    std::fs::rename(&staged, &dir)?;
    let python = extmatrix_pythons::probe(&prefix.join("bin/python3"), "built", Some(&spec.id))
        .map_err(|e| {
            let _ = std::fs::remove_dir_all(&dir);
            fail((
                format!("the built interpreter does not work: {e:#}"),
                VecDeque::new(),
            ))
        })?;
    let meta = Meta {
        id: spec.id.clone(),
        key,
        variant: spec.variant,
        configure,
        source_sha256: sha256,
        compiler,
        seconds,
        size_bytes: dir_size(&dir),
        python,
    };
    // meta.json last, atomically: its presence is what "complete" means.
    let mut tmp = tempfile::NamedTempFile::new_in(&dir)?;
    serde_json::to_writer_pretty(&mut tmp, &meta).map_err(std::io::Error::other)?;
    tmp.persist(&meta_path).map_err(|e| e.error)?;
    let _ = writeln!(log, "built in {:.0}s", started.elapsed().as_secs_f64());
    Ok(Built {
        dir,
        meta,
        fresh: true,
    })
}

fn single_subdir(dir: &Path) -> Option<PathBuf> {
    let mut entries = std::fs::read_dir(dir).ok()?.flatten();
    let first = entries.next()?;
    (entries.next().is_none() && first.path().is_dir()).then(|| first.path())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_change_with_what_matters() {
        let base = build_key("aa", Variant::Debug, &[], "gcc 12");
        assert_eq!(base, build_key("aa", Variant::Debug, &[], "gcc 12"));
        assert_ne!(base, build_key("ab", Variant::Debug, &[], "gcc 12"));
        assert_ne!(base, build_key("aa", Variant::FreeThreaded, &[], "gcc 12"));
        assert_ne!(
            base,
            build_key("aa", Variant::Debug, &["--with-lto".into()], "gcc 12")
        );
        assert_ne!(base, build_key("aa", Variant::Debug, &[], "gcc 13"));
    }

    #[test]
    fn a_held_lock_makes_the_next_run_wait_for_it() {
        use std::sync::atomic::{AtomicBool, Ordering};
        struct Flag(AtomicBool);
        impl Progress for Flag {
            fn phase(&self, _: Phase) {}
            fn line(&self, _: &str) {}
            fn waiting(&self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("entry.lock");
        let first = Lock::acquire(&path, &Quiet).unwrap();
        let flag = Flag(AtomicBool::new(false));
        let acquired = AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                let _second = Lock::acquire(&path, &flag).unwrap();
                acquired.store(true, Ordering::SeqCst);
            });
            std::thread::sleep(Duration::from_millis(300));
            assert!(
                flag.0.load(Ordering::SeqCst),
                "the second run was told it waits"
            );
            assert!(!acquired.load(Ordering::SeqCst), "the lock is exclusive");
            drop(first);
        });
        assert!(acquired.load(Ordering::SeqCst));
    }

    #[test]
    fn variants_map_to_configure_flags() {
        assert!(variant_flags(Variant::Default).is_empty());
        assert_eq!(
            variant_flags(Variant::FreeThreadedDebug),
            ["--disable-gil", "--with-pydebug"]
        );
    }
}
