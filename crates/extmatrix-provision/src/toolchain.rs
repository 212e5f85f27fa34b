//! What harness and target builds share: the interpreter's identity for
//! cache keys, its compiler and the compiler's version, the compiler's
//! dependency lists, and running logged compile steps.

use crate::cause::CauseFinder;
use crate::BuildFailure;
use extmatrix_cache::{Building, Cmd, Input, Memo, Store};
use extmatrix_core::BuildPhase;
use extmatrix_pythons::Python;
use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// Who builds harness and target entries (recorded in every `meta.json`).
pub(crate) const BUILT_BY: &str = concat!("extmatrix-provision ", env!("CARGO_PKG_VERSION"));

/// What harness and target keys are made of, as a version: bumped whenever
/// that changes, so that prune can tell the entries no run will look up
/// again (their key was computed another way). Hashed into every key and
/// recorded as the [`KEY_SCHEME_INPUT`] input.
pub const KEY_SCHEME: &str = "2: compiler version, command lines, dependency inputs";

/// The name of the [`Input::Value`] under which harness and target entries
/// record [`KEY_SCHEME`].
pub const KEY_SCHEME_INPUT: &str = "key_scheme";

/// [`KEY_SCHEME`] as an input.
pub(crate) fn key_scheme() -> Input {
    Input::value(KEY_SCHEME_INPUT, KEY_SCHEME)
}

/// The environment variables among `names` or starting with one of
/// `prefixes`, sorted, as text for a key: a build that reads them (`CFLAGS`
/// for pip, `RUSTFLAGS` for cargo) builds anew when they change.
pub(crate) fn build_environment(names: &[&str], prefixes: &[&str]) -> String {
    let changes_build = |k: &str| names.contains(&k) || prefixes.iter().any(|p| k.starts_with(p));
    let vars: BTreeMap<String, String> =
        std::env::vars().filter(|(k, _)| changes_build(k)).collect();
    serde_json::to_string(&vars).expect("strings serialize")
}

/// The longest one compile or link step may take before it is killed.
pub(crate) const STEP_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// What identifies an interpreter for caching: where it is and how it builds.
pub(crate) fn python_fingerprint(py: &Python) -> Vec<u8> {
    let mut v = serde_json::to_vec(&(&py.path, &py.version, py.debug, py.free_threaded, &py.build))
        .expect("python description serializes");
    // A rebuilt interpreter at the same path must not reuse old artifacts.
    if let Some(modified) = extmatrix_cache::modified_stamp(&py.path) {
        v.extend(modified.bytes());
    }
    v
}

pub(crate) fn split(words: &str) -> Result<Vec<String>, BuildFailure> {
    shell_words::split(words)
        .map_err(|e| BuildFailure::message(format!("cannot split compiler flags `{words}`: {e}")))
}

/// The interpreter's C compiler (sysconfig CC, e.g. `gcc -pthread`): the
/// program and its leading arguments.
pub(crate) fn compiler(py: &Python) -> Result<(String, Vec<String>), BuildFailure> {
    let mut words = split(&py.build.cc)?.into_iter();
    let program = words.next().unwrap_or_else(|| "cc".to_owned());
    Ok((program, words.collect()))
}

/// The longest `<compiler> --version` may take.
const VERSION_TIMEOUT: Duration = Duration::from_secs(30);

/// The first line of `<program> --version` (`gcc (Debian 12.2.0-14) 12.2.0`),
/// asked once per program and process, and kept in `store`'s memo between
/// runs while the executable `program` names on `PATH` is unchanged
/// ([`Memo`]); what went wrong when it cannot be asked (the build itself
/// then fails and says why). Part of every build's key: another compiler,
/// or another release of it, builds anew.
pub(crate) fn compiler_version(store: &Store, program: &str) -> String {
    static KNOWN: Mutex<BTreeMap<String, String>> = Mutex::new(BTreeMap::new());
    if let Some(known) = KNOWN.lock().ok().and_then(|k| k.get(program).cloned()) {
        return known;
    }
    let version = remembered_version(&Memo::in_cache(store.root()), program);
    if let Ok(mut known) = KNOWN.lock() {
        known.insert(program.to_owned(), version.clone());
    }
    version
}

/// `<program> --version`'s first line, from `memo` while the executable
/// it resolves to is the one that answered. A script is asked every time
/// (a wrapper may run another compiler by the environment), as is a
/// program that cannot be found or asked.
fn remembered_version(memo: &Memo, program: &str) -> String {
    let Some(executable) = executable_on_path(program).filter(|e| !is_script(e)) else {
        return ask_version(program);
    };
    let question = format!("{program} --version");
    let context = format!("first line; {program} is {}", executable.display());
    if let Some(version) = memo.recall::<String>(&question, &context) {
        return version;
    }
    let asked_at = SystemTime::now();
    let version = ask_version(program);
    if !version.starts_with(UNKNOWN) {
        memo.remember(&question, &context, &[executable], asked_at, &version);
    }
    version
}

/// How an unknown version starts.
const UNKNOWN: &str = "unknown: ";

fn ask_version(program: &str) -> String {
    match Cmd::new(program, ["--version"], VERSION_TIMEOUT)
        .capture()
        .run(&mut std::io::sink(), None)
    {
        Ok(ran) => ran.output.lines().next().unwrap_or("").trim().to_owned(),
        Err(e) => format!("{UNKNOWN}{}", e.summary),
    }
}

/// The file `program` runs, as `execvp` finds it (a name with a `/` is a
/// path; otherwise the first executable file of that name in a `PATH`
/// directory), symlinks resolved.
fn executable_on_path(program: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let runnable = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    let found = if program.contains('/') {
        Some(PathBuf::from(program)).filter(|p| runnable(p))
    } else {
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path)
            .map(|dir| dir.join(program))
            .find(|p| runnable(p))
    };
    std::fs::canonicalize(found?).ok()
}

/// Whether `path` starts with `#!`.
fn is_script(path: &Path) -> bool {
    use std::io::Read;
    let mut start = [0u8; 2];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut start))
        .is_ok_and(|()| &start == b"#!")
}

/// The files a make-style dependency list (`-MD -MF`) names after its
/// targets: `obj.o: a.c /x/b.h \` with `\ ` for a space in a name, `$$`
/// for `$`, and `\` + newline continuing the line. Paths as the compiler
/// wrote them.
pub(crate) fn parse_depfile(text: &str) -> Vec<PathBuf> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.peek() {
                Some(' ') | Some('#') => word.push(chars.next().expect("peeked")),
                Some('\n') => {
                    chars.next();
                    words.push(std::mem::take(&mut word));
                }
                Some('\r') => {
                    chars.next();
                    if chars.peek() == Some(&'\n') {
                        chars.next();
                    }
                    words.push(std::mem::take(&mut word));
                }
                _ => word.push('\\'),
            },
            '$' if chars.peek() == Some(&'$') => {
                chars.next();
                word.push('$');
            }
            c if c.is_whitespace() => words.push(std::mem::take(&mut word)),
            c => word.push(c),
        }
    }
    words.push(word);
    // Everything up to the word that ends with `:` is a target.
    let mut words = words.into_iter().filter(|w| !w.is_empty());
    for w in words.by_ref() {
        if w.ends_with(':') {
            break;
        }
    }
    words.map(PathBuf::from).collect()
}

/// The files a compile read, from its dependency list at `depfile`, as
/// [`Input::File`]s with their sha256 now, each once, `skip` left out.
/// Relative paths are relative to the compiler's directory, ours. A file
/// modified after `started` may not be what was compiled: it is recorded
/// with no hash, so the entry is stale at once and the next run builds
/// again.
pub(crate) fn dependency_inputs(
    depfile: &Path,
    skip: &Path,
    started: SystemTime,
) -> Result<Vec<Input>, BuildFailure> {
    let text = std::fs::read_to_string(depfile).map_err(|e| {
        BuildFailure::message(format!(
            "the compiler did not write its dependency list {} (-MD -MF), which extmatrix \
             needs to know when to build again: {e}",
            depfile.display()
        ))
    })?;
    let cwd = std::env::current_dir()?;
    let mut seen = std::collections::HashSet::new();
    let mut inputs = Vec::new();
    for dep in parse_depfile(&text) {
        let path = std::path::absolute(cwd.join(&dep)).unwrap_or(dep);
        if path == skip || !seen.insert(path.clone()) {
            continue;
        }
        let modified = std::fs::metadata(&path).and_then(|m| m.modified());
        let sha256 = match modified {
            Ok(t) if t < started => extmatrix_cache::sha256_file(&path)?,
            // Changed while it was being compiled, or gone since.
            _ => String::new(),
        };
        inputs.push(Input::File { path, sha256 });
    }
    Ok(inputs)
}

/// The lines of a failed long step's output a `build-failed` cell shows
/// (the whole output is in the log).
const BUILD_TAIL_LINES: usize = 40;

/// The build steps of one cache entry, logged to its log.
pub(crate) struct Steps {
    log: File,
    log_path: PathBuf,
    timeout: Duration,
    /// The directory of what is built, for the causes of failures
    /// ([`CauseFinder::new`]).
    sources: Option<PathBuf>,
}

impl Steps {
    /// Steps that may each take up to `timeout`.
    pub(crate) fn new(building: &Building<'_>, timeout: Duration) -> Result<Steps, BuildFailure> {
        Ok(Steps {
            log: building.open_log()?,
            log_path: building.log_path(),
            timeout,
            sources: None,
        })
    }

    /// How long each step may take.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// A line in the log, for what is done without a command.
    pub(crate) fn note(&mut self, line: &str) {
        use std::io::Write;
        let _ = writeln!(self.log, "extmatrix: {line}");
    }

    /// What the steps build is in `dir`: a failure's files are shown
    /// relative to it, and only an `#error` there is the package's own.
    pub(crate) fn sources_in(&mut self, dir: &Path) {
        self.sources = Some(dir.to_owned());
    }

    /// Run `program args`, a step in `phase`; its output (all of it) on success.
    pub(crate) fn run(
        &mut self,
        phase: BuildPhase,
        program: &str,
        args: &[String],
    ) -> Result<String, BuildFailure> {
        Cmd::new(program, args.iter().cloned(), self.timeout)
            .capture()
            .run(&mut self.log, None)
            .map(|ran| ran.output)
            .map_err(|e| {
                let cause = CauseFinder::new(phase, self.sources.as_deref());
                e.output.lines().for_each(|l| cause.feed(l));
                let what = Path::new(program)
                    .file_name()
                    .map_or(program.into(), |n| n.to_string_lossy());
                BuildFailure::from_command(e, cause.found(), &self.log_path).caused_in(&what)
            })
    }

    /// A step of this build: `program args`, with this build's timeout.
    pub(crate) fn command<I, S>(&self, program: impl Into<String>, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Cmd::new(program, args, self.timeout)
    }

    /// Run a step whose output is long (a pip or cargo build), in `phase`
    /// until its output says otherwise: all of it goes to the log, only its
    /// last lines are kept for a failure, whose summary says what failed
    /// (`what`: `pip wheel`) and why, when the output says ([`CauseFinder`]).
    pub(crate) fn run_logged(
        &mut self,
        what: &str,
        phase: BuildPhase,
        cmd: Cmd,
    ) -> Result<(), BuildFailure> {
        let cause = CauseFinder::new(phase, self.sources.as_deref());
        let ran = cmd
            .tail_lines(BUILD_TAIL_LINES)
            .run(&mut self.log, Some(&|line: &str| cause.feed(line)));
        ran.map(drop).map_err(|e| {
            let mut failure = BuildFailure::from_command(e, cause.found(), &self.log_path);
            if failure.cause.is_none() {
                failure.summary = format!("{what} failed: {}", failure.summary);
            }
            failure.caused_in(what)
        })
    }

    /// A failure that is not a command's, with this build's log.
    pub(crate) fn failure(&self, summary: String) -> BuildFailure {
        BuildFailure {
            log: Some(self.log_path.clone()),
            ..BuildFailure::message(summary)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How many lines `file` has (a stand-in compiler's count of runs).
    fn runs(file: &Path) -> usize {
        std::fs::read_to_string(file).map_or(0, |s| s.lines().count())
    }

    fn wait_until_old() {
        std::thread::sleep(extmatrix_cache::TIMESTAMP_SLACK * 2);
    }

    #[test]
    fn a_compilers_version_is_asked_once_while_its_executable_is_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let count = dir.path().join("count");
        let source = dir.path().join("fakecc.c");
        std::fs::write(
            &source,
            format!(
                "#include <stdio.h>\nint main(void) {{ FILE *f = fopen(\"{}\", \"a\"); \
                 fputs(\"ran\\n\", f); fclose(f); puts(\"fakecc 1.0\\nsecond line\"); return 0; }}\n",
                count.display()
            ),
        )
        .unwrap();
        let fakecc = dir.path().join("fakecc");
        let built = std::process::Command::new("gcc")
            .arg(&source)
            .arg("-o")
            .arg(&fakecc)
            .status()
            .unwrap();
        assert!(built.success());
        wait_until_old();
        let memo = Memo::new(dir.path().join("memo"));
        let program = fakecc.to_str().unwrap();
        assert_eq!(remembered_version(&memo, program), "fakecc 1.0");
        assert_eq!(remembered_version(&memo, program), "fakecc 1.0");
        assert_eq!(runs(&count), 1, "the second answer was kept");
        // Reinstalled (a new modification time): asked again.
        File::options()
            .write(true)
            .open(&fakecc)
            .unwrap()
            .set_modified(SystemTime::now() - Duration::from_secs(60))
            .unwrap();
        wait_until_old();
        remembered_version(&memo, program);
        assert_eq!(runs(&count), 2);

        // A script may run any compiler: asked every time.
        let script = dir.path().join("cc-wrapper");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\necho ran >> '{}'\necho 'wrapped 2.0'\n",
                count.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        wait_until_old();
        let wrapper = script.to_str().unwrap();
        assert_eq!(remembered_version(&memo, wrapper), "wrapped 2.0");
        assert_eq!(remembered_version(&memo, wrapper), "wrapped 2.0");
        assert_eq!(runs(&count), 4);
        // One that is not there is not kept either.
        let missing = dir.path().join("no-such-cc");
        let missing = missing.to_str().unwrap();
        assert!(remembered_version(&memo, missing).starts_with(UNKNOWN));
    }

    #[test]
    fn a_dependency_list_names_every_file_after_the_target() {
        let text = "/tmp/w/module.o: /src/m.c /usr/include/stdc-predef.h \\\n /py/include/Python.h val.h \\\n /odd/with\\ space.h /odd/dollar$$.h /odd/hash\\#.h\n";
        assert_eq!(
            parse_depfile(text),
            [
                "/src/m.c",
                "/usr/include/stdc-predef.h",
                "/py/include/Python.h",
                "val.h",
                "/odd/with space.h",
                "/odd/dollar$.h",
                "/odd/hash#.h",
            ]
            .map(PathBuf::from)
        );
        // A target with a space, CRLF continuations, nothing after the colon.
        assert_eq!(
            parse_depfile("/a\\ b/module.o: x.c \\\r\n y.h\r\n"),
            ["x.c", "y.h"].map(PathBuf::from)
        );
        assert!(parse_depfile("module.o:\n").is_empty());
        assert!(parse_depfile("").is_empty());
    }

    #[test]
    fn dependency_inputs_hash_each_file_once_and_mark_late_changes() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("m.c");
        let early = dir.path().join("early.h");
        let late = dir.path().join("late.h");
        std::fs::write(&source, "int x;").unwrap();
        std::fs::write(&early, "#define A 1\n").unwrap();
        std::fs::write(&late, "#define B 1\n").unwrap();
        let started = SystemTime::now();
        let later = started + Duration::from_secs(1);
        File::options()
            .write(true)
            .open(&late)
            .unwrap()
            .set_modified(later)
            .unwrap();
        let depfile = dir.path().join("m.d");
        std::fs::write(
            &depfile,
            format!(
                "m.o: {} {} {} \\\n {}\n",
                source.display(),
                early.display(),
                late.display(),
                early.display()
            ),
        )
        .unwrap();
        let inputs = dependency_inputs(&depfile, &source, started).unwrap();
        assert_eq!(
            inputs,
            [
                Input::File {
                    path: early.clone(),
                    sha256: extmatrix_cache::sha256_hex(b"#define A 1\n"),
                },
                // Modified after the compile started: stale at once.
                Input::File {
                    path: late.clone(),
                    sha256: String::new(),
                },
            ]
        );
        assert_eq!(inputs[0].changed(), None);
        assert!(inputs[1].changed().is_some());

        let missing = dependency_inputs(&dir.path().join("none.d"), &source, started).unwrap_err();
        assert!(missing.summary.contains("-MD -MF"), "{}", missing.summary);
    }
}
