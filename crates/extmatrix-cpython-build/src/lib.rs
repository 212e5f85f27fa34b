//! Build CPython from a source tarball — debug, free-threaded, both, or any
//! `./configure` flags — into a content-addressed cache, safely.
//!
//! Most extension bugs only show on builds nobody has installed; this crate
//! makes such a build one line of a matrix. The cache key hashes the
//! tarball's sha256, the configure flags, the compiler's version and the
//! recipe (what extmatrix adds to CPython's own `make install`). A build
//! happens in a temporary directory and is installed with `DESTDIR` into a
//! staging tree, which is renamed into place; `meta.json` is written last and
//! is what marks an entry complete. So a build killed at any moment leaves no
//! interpreter that looks usable. An exclusive lock per entry makes concurrent
//! runs that need the same build wait for one build instead of doing two.
//!
//! The cache discipline (lock, staging under `<cache>/tmp`, rename,
//! `meta.json` last, prune) is `extmatrix-cache`'s; this crate says what an
//! interpreter build is. Layout under the cache root (`<cache>/pythons`):
//! `<id>-<key>/prefix` (the installation), `<id>-<key>/meta.json`,
//! `<id>-<key>.lock`, `logs/<id>-<key>.log` (kept after success and failure),
//! `sources/<sha256>.tar.*` (downloaded tarballs). The prefix path is baked
//! into the interpreter, so these paths never change.

use extmatrix_cache::{Cmd, CommandError, Input, Store};
use extmatrix_core::Variant;
use extmatrix_pythons::Python;
use extmatrix_spec::{BuildSpec, SourceSpec};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use extmatrix_cache::dir_size;

mod recipe;

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
/// libpython so the harness and extensions link against it, and pip not
/// installed into the interpreter (its bundled wheel still is, and `pip:`
/// targets run pip from that: see docs/building-pythons.md). No static
/// libpython: everything extmatrix links uses the shared one
/// (`python-config --embed --ldflags` names `-lpython3.X` in `<prefix>/lib`),
/// and the archive is 60 MB of each prefix. A matrix's `configure:` comes
/// after these, so `--with-static-libpython` there still wins.
const ALWAYS: &[&str] = &[
    "--enable-shared",
    "--without-ensurepip",
    "--without-static-libpython",
];

/// The cache kind (`<cache>/pythons`).
/// The cache kind of interpreter builds.
pub const KIND: &str = "pythons";

/// Who builds the entries (recorded in every `meta.json`).
const BUILT_BY: &str = concat!("extmatrix-cpython-build ", env!("CARGO_PKG_VERSION"));

/// How many lines of the log a failure shows.
const TAIL_LINES: usize = 30;

/// The longest each step may take before it is killed (a hung step must not
/// hang extmatrix). Generous: a sanitizer build on two busy cores is slow.
const EXTRACT_TIMEOUT: Duration = Duration::from_secs(15 * 60);
const CONFIGURE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
const MAKE_TIMEOUT: Duration = Duration::from_secs(3 * 60 * 60);
const INSTALL_TIMEOUT: Duration = Duration::from_secs(30 * 60);

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

/// The interpreter build cache: the `pythons` kind of the cache store.
#[derive(Debug, Clone)]
pub struct BuildCache {
    store: Store,
    root: PathBuf,
}

impl BuildCache {
    /// The build cache inside extmatrix's cache directory.
    pub fn new(cache_root: &Path) -> Self {
        let store = Store::new(cache_root);
        let root = store.kind_dir(KIND);
        BuildCache { store, root }
    }

    /// `<cache>/pythons`.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Every complete build in the cache.
    pub fn list(&self) -> Vec<Built> {
        let mut out: Vec<Built> = self
            .store
            .list_kind::<Meta>(KIND)
            .into_iter()
            .map(|e| Built {
                dir: e.dir,
                meta: e.meta,
                fresh: false,
            })
            .collect();
        out.sort_by(|a, b| a.meta.id.cmp(&b.meta.id).then(a.dir.cmp(&b.dir)));
        out
    }
}

/// The cache key of a build: what must be equal for two builds to be
/// interchangeable — the source, the compiler, the configure flags and the
/// recipe. A recipe change is a new key on purpose: an entry built by
/// another recipe holds another tree (the prefix is baked into the
/// interpreter, so an entry is never changed in place); it stays until
/// `cache prune` finds no matrix using its key.
pub fn build_key(
    source_sha256: &str,
    variant: Variant,
    extra: &[String],
    compiler: &str,
) -> String {
    extmatrix_cache::key(
        [recipe::RECIPE, source_sha256, compiler]
            .into_iter()
            .chain(variant_flags(variant).iter().copied())
            .chain(ALWAYS.iter().copied())
            .chain(extra.iter().map(String::as_str))
            .chain(recipe::install_parts()),
    )
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
    extmatrix_cache::sha256_file(path)
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
            let dir = cache.root().join("sources");
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
    let agent = extmatrix_cache::http::agent(None);
    let response = agent
        .get(url)
        .call()
        .map_err(|e| format!("cannot download {url}: {e}"))?;
    let mut body = response.into_body().into_reader();
    std::io::copy(&mut body, out).map_err(|e| format!("download of {url} broke off: {e}"))?;
    Ok(())
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
    let (tarball, sha256) = source_tarball(cache, spec, whence, progress)?;
    let compiler = compiler_version();
    let key = build_key(&sha256, spec.variant, &spec.configure, &compiler);
    let name = format!("{}-{key}", spec.id);
    let entry = cache
        .store
        .ensure(KIND, &name, BUILT_BY, &|| progress.waiting(), |b| {
            build(
                b,
                spec,
                &tarball,
                Recorded {
                    key: &key,
                    sha256: &sha256,
                    compiler: &compiler,
                },
                make_jobs,
                progress,
            )
        })?;
    Ok(Built {
        dir: entry.dir,
        meta: entry.meta,
        fresh: entry.fresh,
    })
}

/// What a build records besides what it measures.
struct Recorded<'a> {
    key: &'a str,
    sha256: &'a str,
    compiler: &'a str,
}

/// Extract, configure, make, install into `DESTDIR` under the work
/// directory; move the staged prefix into place; ask the interpreter to
/// describe itself.
fn build(
    b: &mut extmatrix_cache::Building<'_>,
    spec: &BuildSpec,
    tarball: &Path,
    recorded: Recorded<'_>,
    make_jobs: usize,
    progress: &dyn Progress,
) -> Result<(Meta, Vec<Input>), BuildError> {
    let started = Instant::now();
    let log_path = b.log_path();
    let mut log = b.open_log()?;
    let fail_with = |message: String| BuildError {
        message: format!("building {} failed: {message}", spec.id),
        log: Some(log_path.clone()),
        tail: Vec::new(),
        input: false,
    };
    let dir = b.dir().to_owned();
    let prefix = dir.join("prefix");
    let configure = configure_args(spec, &prefix);
    let mut steps = Steps {
        spec,
        log: &mut log,
        log_path: &log_path,
        progress,
        seconds: Vec::new(),
    };
    let destdir = steps.compile_and_install(b.work(), tarball, &configure, make_jobs)?;

    // DESTDIR mirrors the absolute prefix path; move its entry into place.
    // It runs only from there (the prefix is baked in), so it is installed
    // before it can describe itself; meta.json still comes last.
    b.install(&destdir.join(dir.strip_prefix("/").unwrap_or(&dir)))?;
    let python = extmatrix_pythons::probe(&prefix.join("bin/python3"), "built", Some(&spec.id))
        .map_err(|e| fail_with(format!("the built interpreter does not work: {e:#}")))?;
    let meta = Meta {
        id: spec.id.clone(),
        key: recorded.key.to_owned(),
        variant: spec.variant,
        configure: configure.clone(),
        source_sha256: recorded.sha256.to_owned(),
        compiler: recorded.compiler.to_owned(),
        seconds: steps.seconds,
        size_bytes: dir_size(&dir),
        python,
    };
    let inputs = vec![
        Input::value("source_sha256", recorded.sha256),
        Input::value("tarball", tarball.display().to_string()),
        Input::value("compiler", recorded.compiler),
        Input::value("configure", configure.join(" ")),
        Input::value("install", recipe::describe()),
    ];
    use std::io::Write;
    let _ = writeln!(log, "built in {:.0}s", started.elapsed().as_secs_f64());
    Ok((meta, inputs))
}

/// Every `./configure` argument: the prefix, what every build gets, the
/// variant's flags, the rpath, then the matrix's own.
fn configure_args(spec: &BuildSpec, prefix: &Path) -> Vec<String> {
    let mut configure: Vec<String> = vec![format!("--prefix={}", prefix.display())];
    configure.extend(ALWAYS.iter().map(|s| s.to_string()));
    configure.extend(variant_flags(spec.variant).iter().map(|s| s.to_string()));
    configure.push(format!(
        "LDFLAGS=-Wl,-rpath,{}",
        prefix.join("lib").display()
    ));
    configure.extend(spec.configure.iter().cloned());
    configure
}

/// The build's steps, each logged, timed and shown as a phase.
struct Steps<'a> {
    spec: &'a BuildSpec,
    log: &'a mut File,
    log_path: &'a Path,
    progress: &'a dyn Progress,
    seconds: Vec<(Phase, f64)>,
}

impl Steps<'_> {
    fn run(&mut self, phase: Phase, cmd: Cmd) -> Result<(), BuildError> {
        self.progress.phase(phase);
        let t = Instant::now();
        let progress = self.progress;
        let on_line = |line: &str| progress.line(line);
        let r = cmd.tail_lines(TAIL_LINES).run(self.log, Some(&on_line));
        self.seconds.push((phase, t.elapsed().as_secs_f64()));
        r.map(drop).map_err(|e: CommandError| BuildError {
            message: format!("building {} failed: {}", self.spec.id, e.summary),
            log: Some(self.log_path.to_owned()),
            tail: e.tail,
            input: false,
        })
    }

    /// Extract, configure, make, `make install DESTDIR=`; the DESTDIR.
    fn compile_and_install(
        &mut self,
        work: &Path,
        tarball: &Path,
        configure: &[String],
        make_jobs: usize,
    ) -> Result<PathBuf, BuildError> {
        let src_root = work.join("src");
        std::fs::create_dir_all(&src_root)?;
        let extract = [
            "-xf".to_owned(),
            tarball.display().to_string(),
            "-C".to_owned(),
            src_root.display().to_string(),
        ];
        self.run(
            Phase::Extract,
            Cmd::new("tar", extract, EXTRACT_TIMEOUT).dir(work),
        )?;
        let src = single_subdir(&src_root).ok_or_else(|| BuildError {
            message: format!(
                "building {} failed: {} does not unpack to a single source directory",
                self.spec.id,
                tarball.display()
            ),
            log: Some(self.log_path.to_owned()),
            tail: Vec::new(),
            input: false,
        })?;
        let script = src.join("configure").display().to_string();
        self.run(
            Phase::Configure,
            Cmd::new(script, configure.to_vec(), CONFIGURE_TIMEOUT).dir(&src),
        )?;
        self.leave_out_optimised_bytecode(&src)?;
        let jobs = [format!("-j{}", make_jobs.max(1))];
        self.run(Phase::Make, Cmd::new("make", jobs, MAKE_TIMEOUT).dir(&src))?;
        let destdir = work.join("destdir");
        let mut install = vec![
            "install".to_owned(),
            format!("DESTDIR={}", destdir.display()),
        ];
        install.extend(recipe::INSTALL_OVERRIDES.iter().map(|s| s.to_string()));
        self.run(
            Phase::Install,
            Cmd::new("make", install, INSTALL_TIMEOUT).dir(&src),
        )?;
        Ok(destdir)
    }

    /// Leaves bytecode for level 0 only in the configured Makefile
    /// ([`recipe::BYTECODE_LEVELS`]) and says so in the log. Done before
    /// `make`: objects that depend on the Makefile (`getpath.o`) are then
    /// built once, not again when `make install` makes `all`.
    fn leave_out_optimised_bytecode(&mut self, src: &Path) -> Result<(), BuildError> {
        use std::io::Write;
        let makefile = src.join("Makefile");
        let changed = recipe::compile_bytecode_for_level_0_only(&makefile).map_err(|e| {
            BuildError::plain(format!(
                "building {} failed: cannot edit {}: {e}",
                self.spec.id,
                makefile.display()
            ))
        })?;
        let note = recipe::bytecode_note(changed);
        writeln!(self.log, "{note}")?;
        Ok(())
    }
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
    fn keys_change_with_the_recipe_and_only_deliberately() {
        // Pinned: a key that changes makes every cached interpreter a miss
        // (rebuilt, minutes each), so it must change only on purpose. A
        // recipe change is such a purpose: an entry from another recipe is
        // another tree. Recipe 1 (test suite, bytecode for levels 0-2 and a
        // static libpython installed) gave 8394ddfd90f57b18 here, and
        // 96f7fd9f7989d798 for the cp313d `just setup` built on this
        // project's machine; recipe 2 leaves those out (src/recipe.rs).
        assert_eq!(
            build_key("aa", Variant::Debug, &["--with-lto".into()], "gcc 12"),
            "76b32bca8e0590a4"
        );
        assert_eq!(
            build_key(
                "1e66a7945a48390ee4c2a4268a0e4185884059a13c4aab6d148aa208deea4a76",
                Variant::Debug,
                &[],
                "cc (Debian 12.2.0-14+deb12u1) 12.2.0"
            ),
            "f1bdfba3d20ae06c"
        );
    }

    #[test]
    fn a_listed_build_reads_the_meta_json_of_an_older_version() {
        // An entry written before the cache store: no `cache_entry` stamp.
        let dir = tempfile::tempdir().unwrap();
        let entry = dir.path().join("pythons/cp313d-96f7fd9f7989d798");
        std::fs::create_dir_all(&entry).unwrap();
        let python = serde_json::json!({
            "id": "cp313d", "version": {"major": 3, "minor": 13, "micro": 15}, "debug": true, "free_threaded": false,
            "path": entry.join("prefix/bin/python3.13d"), "found_via": "built",
            "build": {"include_dir": "/i", "config_script": "/c", "libdir": "/l", "cc": "gcc",
                      "cflags": "", "ccshared": "-fPIC", "ldshared": "gcc -shared",
                      "ext_suffix": ".so"}
        });
        let meta = serde_json::json!({
            "id": "cp313d", "key": "96f7fd9f7989d798", "variant": "debug",
            "configure": ["--with-pydebug"], "source_sha256": "ab", "compiler": "gcc 12",
            "seconds": [["make", 300.0]], "size_bytes": 7, "python": python
        });
        std::fs::write(entry.join("meta.json"), meta.to_string()).unwrap();
        let cache = BuildCache::new(dir.path());
        let built = cache.list();
        assert_eq!(built.len(), 1, "{built:?}");
        assert_eq!(built[0].meta.key, "96f7fd9f7989d798");
        assert_eq!(built[0].dir, entry);
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
