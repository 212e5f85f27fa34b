//! The innermost cause of a failed build, read from its output one line at
//! a time (a build's output can be long; only what is found is kept).
//!
//! Builds nest: pip runs a backend that runs a compiler that runs a linker,
//! cargo runs build scripts and rustc, and each layer that fails says so in
//! its own words after the layer below it did. Those wrappers
//! (`error: subprocess-exited-with-error`, `ERROR: Failed building wheel`,
//! `error: command 'gcc' failed`, `collect2: error: ld returned 1`, `error:
//! could not compile`) name no cause, so they are never one. What is, in
//! the order one outranks another:
//!
//! 1. a cargo build script's own `error:` line or panic (PyO3 refusing an
//!    interpreter): nothing else was built after it;
//! 2. the first compiler error, gcc's and clang's `file:line:col: error:`
//!    (C and C++) or rustc's `error[E…]:` with its `--> file:line:col` —
//!    the first, because later ones follow from it; an `#error` or a failed
//!    `static_assert` in the package's own files is its author's stop
//!    ([`CauseKind::ErrorDirective`]);
//! 3. the first linker error: an undefined reference, a library it cannot
//!    find (GNU ld, lld, rust-lld);
//! 4. the last line of the last Python traceback (a build backend's
//!    exception; a `ModuleNotFoundError` is a missing build dependency);
//!    below the compiler and the linker, because backends that drive them
//!    raise `CalledProcessError` after they fail;
//! 5. a requirement no index has (pip's "No matching distribution found");
//! 6. the first error line of a tool (pip, cargo, a compiler driver) that is
//!    not a wrapper.
//!
//! A network failure (a refused connection, a name that does not resolve)
//! seen before a cause of the last three kinds is the cause instead: the
//! requirement was not found because the index could not be reached.
//!
//! The phase is the step that failed as pip's own progress lines and
//! error boxes name it (`Getting requirements to build wheel`), or the one
//! the cause implies (a compiler error: compiling), or the step's own.

use extmatrix_core::{BuildCause, BuildPhase, CauseKind};
use std::cell::RefCell;
use std::path::{Path, PathBuf};

/// Fed a failed build's output line by line; [`CauseFinder::found`] says
/// why it failed, when the output says.
#[derive(Debug)]
pub(crate) struct CauseFinder {
    scan: RefCell<Scan>,
}

impl CauseFinder {
    /// A finder for a step that is in `phase` until its output says
    /// otherwise; `own_dir` is the directory of what is built (its files
    /// are shown relative to it, and only an `#error` in them is the
    /// package's own).
    pub(crate) fn new(phase: BuildPhase, own_dir: Option<&Path>) -> Self {
        CauseFinder {
            scan: RefCell::new(Scan {
                phase,
                own_dir: own_dir.map(Path::to_owned),
                script: ScriptOutput::default(),
                traceback: None,
                pending: None,
                found: Found::default(),
            }),
        }
    }

    pub(crate) fn feed(&self, line: &str) {
        self.scan.borrow_mut().line(line);
    }

    pub(crate) fn found(self) -> Option<BuildCause> {
        self.scan.into_inner().verdict()
    }
}

/// The longest message kept (a cause is one line of a summary).
const MAX_MESSAGE: usize = 400;

#[derive(Debug)]
struct Scan {
    phase: BuildPhase,
    own_dir: Option<PathBuf>,
    script: ScriptOutput,
    traceback: Option<Traceback>,
    /// A diagnostic whose next line may say more: clang's source line
    /// (`#error`), rustc's ` --> file:line:col`.
    pending: Option<Pending>,
    found: Found,
}

/// The candidates, one per rank (see the module's doc).
#[derive(Debug, Default)]
struct Found {
    script: Option<BuildCause>,
    compiler: Option<BuildCause>,
    linker: Option<BuildCause>,
    exception: Option<BuildCause>,
    unresolved: Option<BuildCause>,
    tool: Option<BuildCause>,
    /// The first network failure's words.
    network: Option<String>,
}

/// Where in a cargo build script's output the scan is.
#[derive(Debug, Default)]
struct ScriptOutput {
    /// `failed to run custom build command for `pyo3-ffi v0.30.1``.
    package: Option<String>,
    /// Inside its `--- stderr` section, whose lines are indented at least so.
    stderr_indent: Option<usize>,
    /// `panicked at build.rs:5:9:`: the message is the next line.
    panic_at: Option<String>,
}

#[derive(Debug)]
struct Traceback {
    indent: usize,
    /// The innermost frame so far, `file:line`.
    frame: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Pending {
    /// The first compiler error, which clang's next line may show to be an
    /// `#error` (in the package's own file or not).
    CompilerSource { own: bool },
    /// rustc's first compiler error, located by the next line.
    RustcCompiler,
    /// The first bare `error:` line, rustc's if the next line locates it.
    RustcTool,
}

impl Scan {
    fn line(&mut self, raw: &str) {
        let line = raw.trim();
        if line.is_empty() {
            return;
        }
        if let Some(pending) = self.pending.take() {
            if self.continues(pending, line) {
                return;
            }
        }
        if let Some(phase) = pip_step(line) {
            self.phase = phase;
            return;
        }
        if self.found.network.is_none() {
            self.found.network = network_failure(line);
        }
        let indent = raw.len() - raw.trim_start().len();
        if self.in_build_script(indent, line) || self.in_traceback(indent, line) {
            return;
        }
        self.diagnostic(line);
    }

    /// A compiler, linker or tool line.
    fn diagnostic(&mut self, line: &str) {
        let note = line.strip_prefix("= note: ").unwrap_or(line);
        if let Some((place, message)) = linker_error(note) {
            let location = place.map(|p| self.shown(&p));
            let found = cause(
                BuildPhase::Linking,
                CauseKind::LinkerError,
                message,
                location,
            );
            keep_first(&mut self.found.linker, found);
        } else if is_link_conclusion(note) {
            let found = cause(
                BuildPhase::Linking,
                CauseKind::ToolError,
                note.to_owned(),
                None,
            );
            keep_first(&mut self.found.tool, found);
        } else if let Some(diag) = compiler_error(line) {
            self.compiler_error(diag);
        } else if let Some(message) = line.strip_prefix("error[") {
            self.rustc_error(message);
        } else if let Some(requirement) =
            line.strip_prefix("ERROR: No matching distribution found for ")
        {
            let message = format!("no index has {requirement}");
            let found = cause(self.phase, CauseKind::MissingBuildDependency, message, None);
            keep_first(&mut self.found.unresolved, found);
        } else if let Some(message) = tool_error(line) {
            if self.found.tool.is_none() {
                self.found.tool = cause(self.phase, CauseKind::ToolError, message, None);
                if line.starts_with("error: ") {
                    self.pending = Some(Pending::RustcTool);
                }
            }
        }
    }

    fn compiler_error(&mut self, diag: CompilerError) {
        if self.found.compiler.is_some() {
            return;
        }
        let own = self.is_own(&diag.file);
        let kind = if diag.stops_deliberately() && own {
            CauseKind::ErrorDirective
        } else {
            CauseKind::CompilerError
        };
        let location = format!("{}:{}", self.shown(&diag.file), diag.line);
        self.found.compiler = cause(BuildPhase::Compiling, kind, diag.message, Some(location));
        self.pending = Some(Pending::CompilerSource { own });
    }

    /// `error[E0425]: cannot find value …`, less its `error[`.
    fn rustc_error(&mut self, coded: &str) {
        if self.found.compiler.is_some() {
            return;
        }
        let message = coded.split_once("]: ").map_or(coded, |(_, m)| m);
        let found = cause(
            BuildPhase::Compiling,
            CauseKind::CompilerError,
            message.to_owned(),
            None,
        );
        self.found.compiler = found;
        self.pending = Some(Pending::RustcCompiler);
    }

    /// Whether `line` completes the diagnostic before it (and is used up).
    fn continues(&mut self, pending: Pending, line: &str) -> bool {
        match pending {
            Pending::CompilerSource { own } => {
                if !is_error_directive(source_line(line)) {
                    return false;
                }
                // clang: `error: "message"`, the source line says `#error`.
                if let Some(c) = self.found.compiler.as_mut() {
                    if !c.message.starts_with("#error") {
                        c.message = format!("#error {}", c.message);
                        if own {
                            c.kind = CauseKind::ErrorDirective;
                        }
                    }
                }
                true
            }
            Pending::RustcCompiler | Pending::RustcTool => {
                let Some(location) = line.strip_prefix("--> ") else {
                    return false;
                };
                let location = self.shown(&drop_column(location));
                if pending == Pending::RustcTool && self.found.compiler.is_none() {
                    // A located bare `error:` is rustc's, not cargo's.
                    if let Some(tool) = self.found.tool.take() {
                        let message = tool.message;
                        let found = cause(
                            BuildPhase::Compiling,
                            CauseKind::CompilerError,
                            message,
                            None,
                        );
                        self.found.compiler = found;
                    }
                }
                if let Some(c) = self
                    .found
                    .compiler
                    .as_mut()
                    .filter(|c| c.location.is_none())
                {
                    c.location = Some(location);
                }
                true
            }
        }
    }

    /// A line of a cargo build script's failure; true when used up.
    fn in_build_script(&mut self, indent: usize, line: &str) -> bool {
        const FAILED: &str = "error: failed to run custom build command for `";
        if let Some(package) = line.strip_prefix(FAILED) {
            // `pyo3-ffi v0.30.1`, less ` (/path/to/crate)`.
            let package = package.trim_end_matches('`');
            let package = package.split(" (").next().unwrap_or(package);
            self.script.package = Some(package.to_owned());
            return true;
        }
        if line == "--- stderr" {
            self.script.stderr_indent = Some(indent);
            return true;
        }
        match self.script.stderr_indent {
            Some(at) if indent >= at && line != "--- stdout" => {}
            _ => {
                self.script.stderr_indent = None;
                return false;
            }
        }
        if self.found.script.is_some() {
            return true;
        }
        let found = if let Some(at) = self.script.panic_at.take() {
            (line.to_owned(), Some(at))
        } else if let Some(at) = panic_location(line) {
            self.script.panic_at = Some(at);
            return true;
        } else if let Some(message) = line.strip_prefix("error: ") {
            (message.to_owned(), self.script.package.clone())
        } else {
            return true;
        };
        self.found.script = cause(
            BuildPhase::RunningBuildScript,
            CauseKind::BuildScript,
            found.0,
            found.1,
        );
        true
    }

    /// A line of a Python traceback; true when used up.
    fn in_traceback(&mut self, indent: usize, line: &str) -> bool {
        if line == "Traceback (most recent call last):" {
            self.traceback = Some(Traceback {
                indent,
                frame: None,
            });
            return true;
        }
        let Some(tb) = self.traceback.as_mut() else {
            return false;
        };
        if indent > tb.indent {
            if let Some(frame) = frame_location(line) {
                tb.frame = Some(frame);
            }
            return true;
        }
        let frame = tb.frame.take();
        self.traceback = None;
        if !is_exception_line(line) {
            return false;
        }
        let kind = if is_missing_module(line) {
            CauseKind::MissingBuildDependency
        } else {
            CauseKind::PythonException
        };
        let location = frame
            .filter(|f| !f.starts_with('<'))
            .map(|f| self.shown(&f));
        // The last traceback wins: a backend's own error comes after what it caught.
        self.found.exception = cause(self.phase, kind, line.to_owned(), location);
        true
    }

    /// Whether `file` (as a compiler printed it) is the package's own: a
    /// relative path (compiled from the package's directory) or one under
    /// it. An interpreter's, the system's or a dependency's header is not.
    fn is_own(&self, file: &str) -> bool {
        let path = Path::new(file);
        path.is_relative() || self.own_dir.as_ref().is_some_and(|d| path.starts_with(d))
    }

    /// `file` relative to the package's directory when it is under it; a
    /// dependency's file from its `site-packages/` on.
    fn shown(&self, file: &str) -> String {
        let own = self
            .own_dir
            .as_ref()
            .and_then(|d| Path::new(file).strip_prefix(d).ok());
        if let Some(relative) = own {
            return relative.display().to_string();
        }
        match file.split_once("/site-packages/") {
            Some((_, rest)) => rest.to_owned(),
            None => file.to_owned(),
        }
    }

    /// The cause, outranked as the module's doc says.
    fn verdict(self) -> Option<BuildCause> {
        let found = self.found;
        if let Some(first) = found.script.or(found.compiler).or(found.linker) {
            return Some(first);
        }
        if let Some(exception) = found.exception {
            return Some(match network_failure(&exception.message) {
                Some(words) => network_cause(words, exception),
                None => exception,
            });
        }
        let later = found.unresolved.or(found.tool);
        match (found.network, later) {
            (Some(words), Some(later)) => Some(network_cause(words, later)),
            (Some(words), None) => {
                let nothing_else = BuildCause {
                    phase: self.phase,
                    kind: CauseKind::Network,
                    message: String::new(),
                    location: None,
                };
                Some(network_cause(words, nothing_else))
            }
            (None, later) => later,
        }
    }
}

/// The network failure behind `found`, with what was being fetched.
fn network_cause(words: String, found: BuildCause) -> BuildCause {
    let context = match found.kind {
        CauseKind::MissingBuildDependency => {
            found.message.replacen("no index has ", "fetching ", 1)
        }
        CauseKind::PythonException | CauseKind::Network => String::new(),
        _ => found.message.clone(),
    };
    let message = if context.is_empty() {
        words
    } else {
        format!("{words} ({context})")
    };
    BuildCause {
        kind: CauseKind::Network,
        message,
        ..found
    }
}

fn cause(
    phase: BuildPhase,
    kind: CauseKind,
    message: String,
    location: Option<String>,
) -> Option<BuildCause> {
    Some(BuildCause {
        phase,
        kind,
        message: one_line(message),
        location,
    })
}

fn keep_first(slot: &mut Option<BuildCause>, found: Option<BuildCause>) {
    if slot.is_none() {
        *slot = found;
    }
}

fn one_line(message: String) -> String {
    match message.char_indices().nth(MAX_MESSAGE) {
        Some((cut, _)) => format!("{}…", &message[..cut]),
        None => message,
    }
}

/// The phase a line of pip's names: its progress (`Getting requirements
/// to build wheel: started`) or the box of a step that failed (`× Getting
/// requirements to build wheel did not run successfully.`).
fn pip_step(line: &str) -> Option<BuildPhase> {
    let step = line
        .strip_suffix(": started")
        .or_else(|| {
            line.strip_prefix("× ")?
                .strip_suffix(" did not run successfully.")
        })?
        .to_ascii_lowercase();
    if step.contains("build dependencies") {
        Some(BuildPhase::InstallingBuildDependencies)
    } else if step.contains("requirements to build") {
        Some(BuildPhase::GettingBuildRequirements)
    } else if step.contains("metadata") || step.contains("egg_info") {
        Some(BuildPhase::PreparingMetadata)
    } else if step.contains("building wheel")
        || step.contains("bdist_wheel")
        || step.contains("building editable")
    {
        Some(BuildPhase::Building)
    } else {
        None
    }
}

/// The words of a network failure in `line`, from pip (urllib3), cargo
/// (curl) or Python's `urllib`, up to the quote or bracket that closes them.
fn network_failure(line: &str) -> Option<String> {
    const SIGNS: &[&str] = &[
        "Failed to establish a new connection",
        "Temporary failure in name resolution",
        "Name or service not known",
        "No address associated with hostname",
        "Network is unreachable",
        "Connection refused",
        "Connection reset by peer",
        "Could not resolve host",
        "Couldn't resolve host",
        "Could not connect to server",
        "Couldn't connect to server",
        "ConnectTimeoutError",
        "ReadTimeoutError",
        "Read timed out",
        "Connection timed out",
        "CERTIFICATE_VERIFY_FAILED",
        "ProxyError",
    ];
    let start = SIGNS.iter().filter_map(|s| line.find(s)).min()?;
    let words = &line[start..];
    let end = words
        .find(['\'', '"', '(', ')', '>'])
        .unwrap_or(words.len());
    Some(words[..end].trim_end_matches([':', ' ']).to_owned())
}

/// A C or C++ compiler's error with its place: gcc's and clang's
/// `file:line:col: error: …` and `file:line: fatal error: …`.
#[derive(Debug, PartialEq)]
struct CompilerError {
    file: String,
    line: u32,
    message: String,
}

impl CompilerError {
    /// `#error` (gcc says so in the message; clang in the source line that
    /// follows) or a failed `static_assert`: a stop the source asks for.
    fn stops_deliberately(&self) -> bool {
        self.message.starts_with("#error")
            || self.message.starts_with("static assertion failed")
            || self.message.starts_with("static_assert failed")
    }
}

fn compiler_error(line: &str) -> Option<CompilerError> {
    let (place, message) = [": fatal error: ", ": error: "]
        .iter()
        .find_map(|sep| line.split_once(sep))?;
    // `file:line:col` or `file:line`, read from the right: a file's name
    // may hold a colon, a compiler driver's (`gcc: error:`) has no number.
    let (rest, last) = place.rsplit_once(':')?;
    let last: u32 = last.parse().ok()?;
    let (file, line_no) = match rest.rsplit_once(':') {
        Some((file, line_no)) => match line_no.parse() {
            Ok(line_no) => (file, line_no),
            Err(_) => (rest, last),
        },
        None => (rest, last),
    };
    Some(CompilerError {
        file: file.to_owned(),
        line: line_no,
        message: message.to_owned(),
    })
}

/// `#error …` or `# error …` (a preprocessor line may indent its name).
fn is_error_directive(source: &str) -> bool {
    source
        .trim_start()
        .strip_prefix('#')
        .is_some_and(|rest| rest.trim_start().starts_with("error"))
}

/// A compiler's source line, less gcc's line number (`  7 | #error …`).
fn source_line(line: &str) -> &str {
    match line.split_once(" | ") {
        Some((n, source)) if n.trim().chars().all(|c| c.is_ascii_digit()) => source,
        _ => line,
    }
}

/// `src/lib.rs:1:21` → `src/lib.rs:1`.
fn drop_column(location: &str) -> String {
    match location.rsplit_once(':') {
        Some((head, col)) if col.parse::<u32>().is_ok() && head.contains(':') => head.to_owned(),
        _ => location.to_owned(),
    }
}

/// A linker's error: GNU ld's `undefined reference to`, `cannot find -l`;
/// lld's `undefined symbol:`, `unable to find library -l`. The place (an
/// object or source file) when the line names one, and the message.
fn linker_error(line: &str) -> Option<(Option<String>, String)> {
    const SIGNS: &[&str] = &[
        "undefined reference to ",
        "cannot find -l",
        "unable to find library -l",
        "undefined symbol: ",
    ];
    let at = SIGNS.iter().filter_map(|s| line.find(s)).min()?;
    let place = line[..at].trim_end_matches([':', ' ']);
    // `/usr/bin/ld: ` or `rust-lld: error: ` before it is the linker, not a place.
    let place = place
        .rsplit(": ")
        .next()
        .filter(|p| !p.is_empty() && !is_linker_program(p) && *p != "error")
        .map(|p| p.split(":(").next().unwrap_or(p).to_owned());
    Some((place, line[at..].to_owned()))
}

fn is_linker_program(word: &str) -> bool {
    let name = word.rsplit('/').next().unwrap_or(word);
    name == "ld" || name.starts_with("ld.") || name.ends_with("-ld") || name.ends_with("lld")
}

/// A line that says only that the link failed: the cause is in the lines
/// before it.
fn is_link_conclusion(line: &str) -> bool {
    line.contains("ld returned ")
        || line.contains("error: linker command failed")
        || line.starts_with("error: linking with ")
}

/// A tool's error line that is not a wrapper: pip's `ERROR: …`, a
/// distutils or cargo `error: …`, a compiler driver's `gcc: error: …`.
fn tool_error(line: &str) -> Option<String> {
    if is_wrapper(line) {
        return None;
    }
    if let Some(message) = line
        .strip_prefix("ERROR: ")
        .or_else(|| line.strip_prefix("error: "))
    {
        return Some(message.to_owned());
    }
    let (program, message) = line
        .split_once(": error: ")
        .or_else(|| line.split_once(": fatal error: "))?;
    (!program.contains(' ')).then(|| message.to_owned())
}

/// What pip, setuptools, cargo and compiler drivers say after the layer
/// below them failed: never a cause.
fn is_wrapper(line: &str) -> bool {
    const WRAPPERS: &[&str] = &[
        "error: subprocess-exited-with-error",
        "error: metadata-generation-failed",
        "error: failed-wheel-build-for-install",
        "error: command '",
        "ERROR: Failed building wheel",
        "ERROR: Failed to build",
        "ERROR: Could not build wheels",
        "ERROR: Could not find a version that satisfies",
        "error: could not compile",
        "error: failed to run custom build command",
        "error: aborting due to",
    ];
    WRAPPERS.iter().any(|w| line.starts_with(w))
}

/// `thread 'main' panicked at build.rs:5:9:` (Rust 1.73+) or `panicked at
/// 'message', build.rs:5:9` (older, message and place on one line):
/// the place.
fn panic_location(line: &str) -> Option<String> {
    let (_, rest) = line.split_once("panicked at ")?;
    let place = rest
        .strip_suffix(':')
        .unwrap_or_else(|| rest.rsplit(", ").next().unwrap_or(rest));
    Some(drop_column(place))
}

/// `File "/x/setup.py", line 7, in <module>` → `/x/setup.py:7`.
fn frame_location(line: &str) -> Option<String> {
    let rest = line.strip_prefix("File \"")?;
    let (file, rest) = rest.split_once("\", line ")?;
    let line_no: String = rest.chars().take_while(char::is_ascii_digit).collect();
    Some(format!("{file}:{line_no}"))
}

/// `RuntimeError: …`, `subprocess.CalledProcessError: …`, `KeyboardInterrupt`:
/// a dotted name, then `: ` and the message or nothing.
fn is_exception_line(line: &str) -> bool {
    let name = line.split_once(": ").map_or(line, |(n, _)| n);
    !name.is_empty()
        && name.split('.').all(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
        && name
            .rsplit('.')
            .next()
            .is_some_and(|n| n.starts_with(|c: char| c.is_ascii_uppercase()))
}

/// A module the backend could not import: a build dependency it needs and
/// its build environment lacks.
fn is_missing_module(line: &str) -> bool {
    line.starts_with("ModuleNotFoundError: ") || line.starts_with("ImportError: No module named")
}

#[cfg(test)]
mod tests;
