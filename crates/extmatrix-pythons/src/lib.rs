//! Find the CPython interpreters of this machine that can be embedded, and
//! describe each one as the interpreter itself reports it.
//!
//! Discovery looks in PATH, pyenv's versions, `/usr/bin` and `/usr/local/bin`
//! (Debian's `python3.X` and debug `python3.Xd`) and uv-managed installs. Each
//! candidate is asked for `sys.version_info` and its `sysconfig` variables;
//! its id (`cp313`, `cp313t`, `cp311d`) comes from those answers, never from
//! its path. An interpreter is embeddable when its headers and its
//! `python-config` script are present.
//!
//! A probe is a process start (tens of milliseconds; every interpreter of a
//! machine, hundreds). [`ProbeCache`] keeps each answer between runs while
//! the files it was read from are unchanged (`remembered.rs`), and
//! [`Asking::ids`] leaves out the candidates whose file name says they
//! cannot have an id the caller needs.

mod remembered;

pub use remembered::ProbeCache;

use anyhow::{bail, Context, Result};
use extmatrix_core::{python_id, PythonVersion};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// One embeddable interpreter build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Python {
    /// `cp313`, `cp313t`, `cp311d`, `cp313td`, or the id a matrix gave it.
    pub id: String,
    pub version: PythonVersion,
    pub debug: bool,
    pub free_threaded: bool,
    /// The interpreter's own executable (symlinks resolved).
    pub path: PathBuf,
    /// How it was found: `PATH`, `pyenv`, `system`, `uv`, `matrix`.
    pub found_via: String,
    /// What building against it needs.
    pub build: BuildConfig,
}

/// The `sysconfig` facts needed to compile the harness and extensions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildConfig {
    pub include_dir: PathBuf,
    /// `python3.X-config`: its `--embed` flags link the harness.
    pub config_script: PathBuf,
    pub libdir: PathBuf,
    pub cc: String,
    pub cflags: String,
    pub ccshared: String,
    pub ldshared: String,
    pub ext_suffix: String,
    /// `importlib.machinery.EXTENSION_SUFFIXES`: the file endings this
    /// interpreter imports extension modules from, most specific first.
    #[serde(default)]
    pub extension_suffixes: Vec<String>,
    /// Where the interpreter's own extension modules are (`DESTSHARED`,
    /// `lib-dynload`).
    #[serde(default)]
    pub stdlib_ext_dir: PathBuf,
    /// `sys.builtin_module_names`: modules compiled into the interpreter.
    #[serde(default)]
    pub builtin_modules: Vec<String>,
    /// `CONFIG_ARGS`: the flags `configure` ran with (what a report states
    /// of each interpreter); `None` in a description cached by an older
    /// extmatrix.
    #[serde(default)]
    pub configure_args: Option<String>,
}

impl BuildConfig {
    /// The `-fsanitize=` flags the interpreter was compiled with
    /// (`--with-thread-sanitizer` puts `-fsanitize=thread` in its CFLAGS):
    /// everything compiled against it gets them, and the harness links
    /// their runtime.
    pub fn sanitizers(&self) -> Vec<&str> {
        self.cflags
            .split_whitespace()
            .filter(|f| f.starts_with("-fsanitize="))
            .collect()
    }
}

impl Python {
    /// This description, or a fresh probe's when it lacks facts this
    /// extmatrix asks of every interpreter: a description cached with an
    /// interpreter build by an older extmatrix does. When the probe fails,
    /// the description as it is.
    pub fn refreshed(self) -> Python {
        if !self.build.extension_suffixes.is_empty() && self.build.configure_args.is_some() {
            return self;
        }
        probe(&self.path, &self.found_via, Some(&self.id)).unwrap_or(self)
    }
}

/// A candidate that is a Python but cannot be used, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejected {
    pub path: PathBuf,
    pub reason: String,
}

/// What discovery found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Discovery {
    /// One interpreter per id: when several share an id, the newest patch
    /// release wins, then the first found.
    pub pythons: Vec<Python>,
    /// Embeddable interpreters that lost their id to another one.
    pub shadowed: Vec<Python>,
    pub rejected: Vec<Rejected>,
}

impl Discovery {
    pub fn get(&self, id: &str) -> Option<&Python> {
        self.pythons.iter().find(|p| p.id == id)
    }

    pub fn ids(&self) -> String {
        if self.pythons.is_empty() {
            return "none".into();
        }
        self.pythons
            .iter()
            .map(|p| p.id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Where to look. [`SearchPlaces::from_env`] is what the tool uses; tests
/// build their own.
#[derive(Debug, Clone, Default)]
pub struct SearchPlaces {
    pub path_dirs: Vec<PathBuf>,
    pub pyenv_root: Option<PathBuf>,
    pub system_dirs: Vec<PathBuf>,
    pub uv_dirs: Vec<PathBuf>,
}

impl SearchPlaces {
    pub fn from_env() -> Self {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let path_dirs = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).collect())
            .unwrap_or_default();
        let pyenv_root = std::env::var_os("PYENV_ROOT")
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(".pyenv")));
        let mut uv_dirs = Vec::new();
        if let Some(dir) = std::env::var_os("UV_PYTHON_INSTALL_DIR") {
            uv_dirs.push(PathBuf::from(dir));
        }
        let data_home = std::env::var_os("XDG_DATA_HOME")
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(".local/share")));
        if let Some(data) = data_home {
            uv_dirs.push(data.join("uv/python"));
        }
        SearchPlaces {
            path_dirs,
            pyenv_root,
            system_dirs: vec![PathBuf::from("/usr/local/bin"), PathBuf::from("/usr/bin")],
            uv_dirs,
        }
    }

    /// Candidate executables with how they were found, in search order.
    fn candidates(&self) -> Vec<(PathBuf, &'static str)> {
        let mut out = Candidates::default();
        let shims = self.pyenv_root.as_ref().map(|r| r.join("shims"));
        for dir in &self.path_dirs {
            // pyenv shims are scripts that re-dispatch; pyenv's versions are
            // searched directly below.
            if Some(dir) == shims.as_ref() || dir.ends_with("shims") {
                continue;
            }
            out.push_pythons_in(dir, "PATH");
        }
        if let Some(root) = &self.pyenv_root {
            for version in sorted_dir(&root.join("versions")) {
                out.push_pythons_in(&version.join("bin"), "pyenv");
            }
        }
        for dir in &self.system_dirs {
            out.push_pythons_in(dir, "system");
        }
        for dir in &self.uv_dirs {
            for install in sorted_dir(dir) {
                out.push_pythons_in(&install.join("bin"), "uv");
            }
        }
        out.found
    }
}

/// Candidates in search order, and the directories already searched.
#[derive(Default)]
struct Candidates {
    found: Vec<(PathBuf, &'static str)>,
    searched: HashSet<PathBuf>,
}

impl Candidates {
    /// The Pythons in `dir`, by name. A directory reached again (`/bin` is
    /// `/usr/bin`, which PATH and the system directories both name) is not
    /// read again: its executables were found the first time, and discovery
    /// keeps the first name of each.
    fn push_pythons_in(&mut self, dir: &Path, via: &'static str) {
        let canonical = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
        if !self.searched.insert(canonical) {
            return;
        }
        // `/usr/bin` holds a thousand names; only a few are Pythons.
        let mut names: Vec<std::ffi::OsString> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name())
            .filter(|n| n.to_str().is_some_and(is_python_name))
            .collect();
        names.sort();
        for name in names {
            let path = dir.join(name);
            if path.is_file() {
                self.found.push((path, via));
            }
        }
    }
}

fn sorted_dir(dir: &Path) -> Vec<PathBuf> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    entries.sort();
    entries
}

/// `python3`, `python3.13`, `python3.13t`, `python3.11d`, `python3.13td`.
fn is_python_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("python3") else {
        return false;
    };
    if rest.is_empty() {
        return true;
    }
    let Some(rest) = rest.strip_prefix('.') else {
        return false;
    };
    let digits = rest.trim_end_matches(['t', 'd']);
    !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit())
        && rest[digits.len()..].len() <= 2
}

/// The `major.minor` a candidate's file name says it is (`python3.12t`:
/// 3.12); `None` for `python3`.
fn name_version(path: &Path) -> Option<(u32, u32)> {
    let name = path.file_name()?.to_str()?;
    if !is_python_name(name) {
        return None;
    }
    let minor = name.strip_prefix("python3.")?.trim_end_matches(['t', 'd']);
    Some((3, minor.parse().ok()?))
}

/// The `major.minor` of an interpreter with id `id`, when `id` is one
/// discovery gives ([`python_id`]: `cp312td` is 3.12); `None` for an id it
/// never gives (`cp313t-tsan`, a name a matrix chose).
pub fn id_version(id: &str) -> Option<(u32, u32)> {
    let rest = id.strip_prefix("cp")?;
    let debug = rest.ends_with('d');
    let rest = rest.strip_suffix('d').unwrap_or(rest);
    let free_threaded = rest.ends_with('t');
    let digits = rest.strip_suffix('t').unwrap_or(rest);
    if digits.len() < 2 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (major, minor) = (digits[..1].parse().ok()?, digits[1..].parse().ok()?);
    // `cp3012` is no id python_id writes.
    let version = PythonVersion::new(major, minor, 0);
    (python_id(version, free_threaded, debug) == id).then_some((major, minor))
}

/// Asked of every candidate; must run on any Python 3. `depends_on`, last
/// (after `sysconfig` has loaded its data), names the files besides the
/// executable that the answer was read from: `sysconfig` itself, its data
/// module and the `libpython` the process loaded (a shared build's version
/// and modules live there); `ProbeCache` keeps the answer while they hold.
const PROBE: &str = r#"
import json, os, sys, sysconfig
from importlib.machinery import EXTENSION_SUFFIXES
v = sysconfig.get_config_var
exe = getattr(sys, "_base_executable", None) or sys.executable
def depends_on():
    files = [sysconfig.__file__]
    for name, module in list(sys.modules.items()):
        if name.startswith("_sysconfigdata") and getattr(module, "__file__", None):
            files.append(module.__file__)
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                fields = line.split(None, 5)
                if len(fields) == 6 and "libpython" in fields[5]:
                    files.append(fields[5].strip())
    except OSError:
        pass
    return sorted(set(os.path.realpath(f) for f in files))
print(json.dumps({
    "implementation": sys.implementation.name,
    "version": list(sys.version_info[:3]),
    "executable": os.path.realpath(exe),
    "debug": bool(v("Py_DEBUG")),
    "free_threaded": bool(v("Py_GIL_DISABLED")),
    "abiflags": getattr(sys, "abiflags", ""),
    "ldversion": v("LDVERSION") or "",
    "bindir": v("BINDIR") or "",
    "libdir": v("LIBDIR") or "",
    "include": sysconfig.get_paths()["include"],
    "cc": v("CC") or "",
    "cflags": v("CFLAGS") or "",
    "ccshared": v("CCSHARED") or "",
    "ldshared": v("LDSHARED") or "",
    "ext_suffix": v("EXT_SUFFIX") or "",
    "extension_suffixes": EXTENSION_SUFFIXES,
    "stdlib_ext_dir": v("DESTSHARED") or "",
    "builtin_modules": sorted(sys.builtin_module_names),
    "configure_args": v("CONFIG_ARGS") or "",
    "depends_on": depends_on(),
}))
"#;

/// What an interpreter says of itself: the probe's JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ProbeAnswer {
    implementation: String,
    version: [u32; 3],
    executable: PathBuf,
    debug: bool,
    free_threaded: bool,
    abiflags: String,
    ldversion: String,
    bindir: PathBuf,
    libdir: PathBuf,
    include: PathBuf,
    cc: String,
    cflags: String,
    ccshared: String,
    ldshared: String,
    ext_suffix: String,
    // Asked since target kinds other than `c` (a stand-in interpreter in a
    // test may not answer them: it then builds only C targets).
    #[serde(default)]
    extension_suffixes: Vec<String>,
    #[serde(default)]
    stdlib_ext_dir: PathBuf,
    #[serde(default)]
    builtin_modules: Vec<String>,
    #[serde(default)]
    configure_args: Option<String>,
    /// Files the answer was read from besides the executable (see [`PROBE`]).
    #[serde(default)]
    depends_on: Vec<PathBuf>,
}

/// The oldest CPython extmatrix drives (PyConfig arrived in 3.8).
pub const MIN_VERSION: PythonVersion = PythonVersion::new(3, 8, 0);

/// Ask the interpreter at `path` what it is. `id` overrides the derived id.
pub fn probe(path: &Path, found_via: &str, id: Option<&str>) -> Result<Python> {
    describe(probe_answer(path)?, found_via, id)
}

/// Run the probe on `path` and read its answer.
fn probe_answer(path: &Path) -> Result<ProbeAnswer> {
    // An interpreter can hang in its own start-up (free-threaded 3.13 builds
    // sometimes do); ask again rather than wait forever.
    for _ in 0..PROBE_ATTEMPTS {
        if let Some(output) = ask(path)? {
            return answer(path, output);
        }
    }
    bail!(
        "{} did not answer the probe within {}s, {PROBE_ATTEMPTS} times",
        path.display(),
        PROBE_TIMEOUT.as_secs()
    )
}

const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
const PROBE_ATTEMPTS: u32 = 3;
/// The most of a probe's stdout and of its stderr kept (its answer is a
/// few kB).
const PROBE_OUTPUT_CAP: u64 = 1 << 20;

/// Run the probe; `None` when it outlived [`PROBE_TIMEOUT`].
fn ask(path: &Path) -> Result<Option<std::process::Output>> {
    ask_within(path, PROBE_TIMEOUT)
}

/// Run the probe in its own process group (`extmatrix-process`), reading
/// its output as it comes. When it exits, or when `timeout` passes first
/// (`None`), the whole group is killed: a wrapper script that hangs, or
/// that left `sleep`s behind holding its pipes, leaves nothing running and
/// cannot keep discovery waiting.
fn ask_within(path: &Path, timeout: std::time::Duration) -> Result<Option<std::process::Output>> {
    use std::io::Read;
    let (out_r, out_w) = std::io::pipe()?;
    let (err_r, err_w) = std::io::pipe()?;
    let mut command = Command::new(path);
    command
        .args(["-I", "-c", PROBE])
        .stdin(std::process::Stdio::null())
        .stdout(out_w)
        .stderr(err_w);
    let mut child = extmatrix_process::Supervised::spawn(&mut command)
        .with_context(|| format!("could not run {}", path.display()))?;
    // Our copies of the write ends go with `command`: the readers see the
    // end once the group has closed them (or is killed).
    drop(command);
    let reader = |mut r: std::io::PipeReader| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = (&mut r).take(PROBE_OUTPUT_CAP).read_to_end(&mut buf);
            // Whatever is past the cap is drained, so the writer never blocks.
            let _ = std::io::copy(&mut r, &mut std::io::sink());
            let _ = tx.send(buf);
        });
        rx
    };
    let (out, err) = (reader(out_r), reader(err_r));
    let started = std::time::Instant::now();
    let timed_out = loop {
        match child.has_exited() {
            Ok(true) => break false,
            Ok(false) if started.elapsed() > timeout => break true,
            Ok(false) => std::thread::sleep(std::time::Duration::from_millis(5)),
            Err(_) => break true,
        }
    };
    // Exited or not, nothing it started outlives the probe.
    child.kill_group();
    // The pipes close with the group; a process that left the group and
    // keeps them open is not waited for.
    let grace = std::time::Duration::from_secs(1);
    let stdout = out.recv_timeout(grace).unwrap_or_default();
    let stderr = err.recv_timeout(grace).unwrap_or_default();
    let status = child.wait()?;
    if timed_out {
        return Ok(None);
    }
    Ok(Some(std::process::Output {
        status,
        stdout,
        stderr,
    }))
}

fn answer(path: &Path, output: std::process::Output) -> Result<ProbeAnswer> {
    if !output.status.success() {
        bail!(
            "{} -c <probe> failed ({}): {}",
            path.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
                .lines()
                .last()
                .unwrap_or("")
        );
    }
    serde_json::from_slice(&output.stdout).with_context(|| {
        format!(
            "{} answered the probe with something that is not its JSON",
            path.display()
        )
    })
}

fn describe(a: ProbeAnswer, found_via: &str, id: Option<&str>) -> Result<Python> {
    if a.implementation != "cpython" {
        bail!(
            "{} is {}, not CPython",
            a.executable.display(),
            a.implementation
        );
    }
    let version = PythonVersion::new(a.version[0], a.version[1], a.version[2]);
    if version < MIN_VERSION {
        bail!("CPython {version} is older than {MIN_VERSION}, the oldest extmatrix can embed");
    }
    let header = a.include.join("Python.h");
    if !header.is_file() {
        bail!(
            "CPython {version} has no headers ({} is missing); install its development package (e.g. python{}.{}-dev)",
            header.display(),
            version.major,
            version.minor
        );
    }
    let config_script = find_config_script(&a, version).with_context(|| {
        format!(
            "CPython {version} has no python-config script in {}; install its development package (e.g. python{}.{}-dev)",
            a.bindir.display(),
            version.major,
            version.minor
        )
    })?;
    Ok(Python {
        id: id
            .map(str::to_owned)
            .unwrap_or_else(|| python_id(version, a.free_threaded, a.debug)),
        version,
        debug: a.debug,
        free_threaded: a.free_threaded,
        path: a.executable,
        found_via: found_via.to_owned(),
        build: BuildConfig {
            include_dir: a.include,
            config_script,
            libdir: a.libdir,
            cc: a.cc,
            cflags: a.cflags,
            ccshared: a.ccshared,
            ldshared: a.ldshared,
            ext_suffix: a.ext_suffix,
            extension_suffixes: a.extension_suffixes,
            stdlib_ext_dir: a.stdlib_ext_dir,
            builtin_modules: a.builtin_modules,
            configure_args: a.configure_args,
        },
    })
}

fn find_config_script(a: &ProbeAnswer, version: PythonVersion) -> Option<PathBuf> {
    let short = format!("{}.{}", version.major, version.minor);
    let mut names = Vec::new();
    if !a.ldversion.is_empty() {
        names.push(format!("python{}-config", a.ldversion));
    }
    names.push(format!("python{short}{}-config", a.abiflags));
    // A plain `python3-config` beside a build with ABI flags would describe
    // the other build; only trust it when there are none.
    if a.abiflags.is_empty() {
        names.push(format!("python{short}-config"));
        names.push("python3-config".into());
    }
    let dirs = [
        Some(a.bindir.clone()),
        a.executable.parent().map(Path::to_path_buf),
    ];
    dirs.iter()
        .flatten()
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

/// How discovery asks the candidates it finds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Asking<'a> {
    /// Answers kept between runs: a candidate whose answer is current is
    /// not probed again. `None`: every candidate is probed.
    pub cache: Option<&'a ProbeCache>,
    /// Only the candidates that can have one of these ids are asked: one
    /// whose file name (or its target's, for a symlink) has a version
    /// (`python3.12`) is left out unless an id is of that version; one
    /// without (`python3`) is asked. `None`: every candidate.
    pub ids: Option<&'a [String]>,
}

/// Find every embeddable CPython in `places`, probing each candidate.
pub fn discover(places: &SearchPlaces) -> Discovery {
    discover_with(places, Asking::default())
}

/// Find the embeddable CPythons in `places` that `asking` asks for.
pub fn discover_with(places: &SearchPlaces, asking: Asking<'_>) -> Discovery {
    let wanted: Option<Vec<(u32, u32)>> = asking
        .ids
        .map(|ids| ids.iter().filter_map(|id| id_version(id)).collect());
    let mut seen = HashSet::new();
    let candidates: Vec<_> = places
        .candidates()
        .into_iter()
        .filter(|(path, _)| {
            let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
            let may_have = |versions: &Vec<(u32, u32)>| {
                name_version(path)
                    .or_else(|| name_version(&canonical))
                    .is_none_or(|v| versions.contains(&v))
            };
            // The same executable under two names is one candidate, the
            // first found, whatever is asked for.
            seen.insert(canonical.clone()) && wanted.as_ref().is_none_or(may_have)
        })
        .collect();

    // Probing is a process start each; do it concurrently.
    let ask = |path: &Path, via: &str| match asking.cache {
        Some(cache) => cache.probe(path, via, None),
        None => probe(path, via, None),
    };
    let answers: Vec<(PathBuf, Result<Python>)> = std::thread::scope(|s| {
        let handles: Vec<_> = candidates
            .iter()
            .map(|(path, via)| s.spawn(move || (path.clone(), ask(path, via))))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("probe thread panicked"))
            .collect()
    });

    let mut discovery = Discovery::default();
    let mut found = Vec::new();
    let mut seen_exe = HashSet::new();
    for (path, answer) in answers {
        match answer {
            Ok(py) => {
                if seen_exe.insert(py.path.clone()) {
                    found.push(py);
                }
            }
            Err(e) => discovery.rejected.push(Rejected {
                path,
                reason: format!("{e:#}"),
            }),
        }
    }
    discovery.add(found);
    discovery
}

impl Discovery {
    /// Add interpreters only for ids nothing found has (extmatrix's own
    /// builds, from its cache): an interpreter on the machine is never
    /// replaced behind the user's back; the others are listed as shadowed.
    pub fn add_missing(&mut self, more: impl IntoIterator<Item = Python>) {
        let (taken, missing): (Vec<Python>, Vec<Python>) =
            more.into_iter().partition(|p| self.get(&p.id).is_some());
        self.shadowed.extend(taken);
        self.add(missing);
    }

    /// Add interpreters (found, or built earlier and cached), keeping one
    /// per id: the newest patch release wins; among equals, the one that
    /// was here first.
    pub fn add(&mut self, more: impl IntoIterator<Item = Python>) {
        let mut by_id: BTreeMap<String, Vec<Python>> = BTreeMap::new();
        for py in self.pythons.drain(..).chain(more) {
            by_id.entry(py.id.clone()).or_default().push(py);
        }
        for (_, mut same_id) in by_id {
            // The sort is stable, so order breaks ties.
            same_id.sort_by_key(|p| std::cmp::Reverse(p.version));
            let mut it = same_id.into_iter();
            self.pythons.extend(it.next());
            self.shadowed.extend(it);
        }
        self.pythons.sort_by(|a, b| {
            (a.version.major, a.version.minor, &a.id).cmp(&(
                b.version.major,
                b.version.minor,
                &b.id,
            ))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sanitized_interpreters_sanitizers_and_nothing_else() {
        let build = BuildConfig {
            cflags: "-I/x -fsanitize=thread -O3  -fsanitize=undefined -fno-sanitize-recover".into(),
            ..BuildConfig::default()
        };
        assert_eq!(
            build.sanitizers(),
            ["-fsanitize=thread", "-fsanitize=undefined"]
        );
        assert!(BuildConfig::default().sanitizers().is_empty());
    }

    /// A `sleep` argument no other process has.
    fn marker() -> String {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        format!("4321.{}{nanos:09}", std::process::id())
    }

    /// Pids of the processes `sleep <marker>`.
    fn sleeping(marker: &str) -> Vec<i32> {
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|e| {
                let pid = e.file_name().to_str()?.parse().ok()?;
                let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
                let want = format!("sleep\0{marker}\0");
                (cmdline == want.as_bytes()).then_some(pid)
            })
            .collect()
    }

    /// Waits a moment for SIGKILLed processes to go, kills survivors.
    fn survivors(marker: &str) -> Vec<i32> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        let mut left = sleeping(marker);
        while !left.is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
            left = sleeping(marker);
        }
        for &pid in &left {
            // SAFETY: a process this test started, by its marker.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        left
    }

    /// `dir/python3.12`: a shell script with `body`.
    fn fake_python(dir: &Path, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let exe = dir.join("python3.12");
        std::fs::write(&exe, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        exe
    }

    /// Mutation caught: killing only the probe's own pid on its timeout
    /// (the wrapper's `sleep`s survived it).
    #[test]
    fn a_probe_that_hangs_is_killed_with_everything_it_started() {
        let dir = tempfile::tempdir().unwrap();
        let m = marker();
        let exe = fake_python(
            dir.path(),
            &format!("sleep {m} &\nsleep {m} &\nsleep {m} &\nsleep {m}"),
        );
        let started = std::time::Instant::now();
        let answer = ask_within(&exe, std::time::Duration::from_millis(500)).unwrap();
        assert!(answer.is_none(), "timed out");
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        let left = survivors(&m);
        assert!(left.is_empty(), "`sleep {m}` outlived the probe: {left:?}");
    }

    /// Mutation caught: reading the probe's pipes to their end before
    /// killing its group (a `sleep` left behind holding stdout kept
    /// discovery waiting, and lived on).
    #[test]
    fn a_probe_that_answers_and_leaves_a_process_behind_is_cleaned_up() {
        let dir = tempfile::tempdir().unwrap();
        let m = marker();
        let exe = fake_python(
            dir.path(),
            &format!("sleep {m} &\necho answer\necho oops >&2"),
        );
        let started = std::time::Instant::now();
        let answer = ask_within(&exe, std::time::Duration::from_secs(30))
            .unwrap()
            .expect("answered");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "waited for the left-behind sleep"
        );
        assert!(answer.status.success());
        assert_eq!(answer.stdout, b"answer\n");
        assert_eq!(answer.stderr, b"oops\n");
        let left = survivors(&m);
        assert!(left.is_empty(), "`sleep {m}` outlived the probe: {left:?}");
    }

    fn python(id: &str, micro: u32, path: &str) -> Python {
        Python {
            id: id.into(),
            version: PythonVersion::new(3, 13, micro),
            debug: false,
            free_threaded: false,
            path: path.into(),
            found_via: "test".into(),
            build: BuildConfig::default(),
        }
    }

    #[test]
    fn the_newest_patch_release_wins_its_id() {
        let mut d = Discovery::default();
        d.add([
            python("cp313", 0, "/a"),
            python("cp313", 4, "/b"),
            python("cp313", 4, "/c"),
        ]);
        d.add([python("cp313t", 1, "/t"), python("cp313", 2, "/d")]);
        let ids: Vec<(&str, &str)> = d
            .pythons
            .iter()
            .map(|p| (p.id.as_str(), p.path.to_str().unwrap()))
            .collect();
        assert_eq!(ids, [("cp313", "/b"), ("cp313t", "/t")]);
        let shadowed: Vec<&str> = d
            .shadowed
            .iter()
            .map(|p| p.path.to_str().unwrap())
            .collect();
        assert_eq!(shadowed.len(), 3);
        assert!(shadowed.contains(&"/a") && shadowed.contains(&"/c") && shadowed.contains(&"/d"));
    }

    #[test]
    fn cached_builds_only_fill_ids_nothing_found_has() {
        let mut d = Discovery::default();
        d.add([python("cp313", 0, "/found")]);
        d.add_missing([
            python("cp313", 15, "/cached"),
            python("cp313t", 15, "/cached-t"),
            python("cp313t", 14, "/cached-t-old"),
        ]);
        assert_eq!(d.get("cp313").unwrap().path.to_str(), Some("/found"));
        assert_eq!(d.get("cp313t").unwrap().path.to_str(), Some("/cached-t"));
        let shadowed: Vec<&str> = d
            .shadowed
            .iter()
            .map(|p| p.path.to_str().unwrap())
            .collect();
        assert_eq!(shadowed.len(), 2);
        assert!(shadowed.contains(&"/cached") && shadowed.contains(&"/cached-t-old"));
    }

    #[test]
    fn the_version_an_id_or_a_name_can_have() {
        for (free_threaded, debug) in [(false, false), (true, false), (false, true), (true, true)] {
            for minor in [8, 10, 13] {
                let id = python_id(PythonVersion::new(3, minor, 1), free_threaded, debug);
                assert_eq!(id_version(&id), Some((3, minor)), "{id}");
            }
        }
        for never in [
            "cp313t-tsan",
            "cp3012",
            "cp3",
            "cp",
            "pp310",
            "cp31x",
            "cp313dt",
            "313",
        ] {
            assert_eq!(id_version(never), None, "{never}");
        }
        let name = |n: &str| name_version(Path::new("/usr/bin").join(n).as_path());
        assert_eq!(name("python3.12"), Some((3, 12)));
        assert_eq!(name("python3.13td"), Some((3, 13)));
        assert_eq!(name("python3.9"), Some((3, 9)));
        assert_eq!(name("python3"), None);
        assert_eq!(name("python3.12-config"), None);
    }

    #[test]
    fn python_names() {
        for ok in [
            "python3",
            "python3.13",
            "python3.13t",
            "python3.11d",
            "python3.13td",
        ] {
            assert!(is_python_name(ok), "{ok}");
        }
        for bad in [
            "python3-config",
            "python3.11-config",
            "python",
            "python3.",
            "python3.x",
            "python3.13tdd",
            "python2.7",
        ] {
            assert!(!is_python_name(bad), "{bad}");
        }
    }
}
