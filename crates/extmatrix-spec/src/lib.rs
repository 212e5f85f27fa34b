//! Parse and validate a matrix file (`matrices/*.yaml`) into a [`Matrix`].
//!
//! This is the first arrow of the flow: text in, a validated value out. Every
//! error names `file:line:column` and says what is allowed; nothing here
//! panics on bad input. Paths in the file are relative to the file itself and
//! come out absolute.

mod expect;
mod node;
mod target;

pub use expect::{load_expectations, parse_expectations};

use extmatrix_core::Scenario;
use node::{Node, Value};
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// A validated matrix file.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    /// The file it came from (as given), for messages.
    pub source: PathBuf,
    /// Which interpreters to run on, in file order. Empty list is an error.
    pub pythons: Vec<PythonSelector>,
    /// Which scenarios to run, in file order, no duplicates. Default: all.
    pub scenarios: Vec<Scenario>,
    pub options: Options,
    pub targets: Vec<TargetSpec>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PythonSelector {
    /// `auto`: every interpreter discovery finds.
    Auto,
    /// `cp313`: the discovered interpreter with this id.
    Id { id: String, at: Location },
    /// `{id: cp311-debian, path: /usr/bin/python3.11}`: this executable, under this id.
    Path {
        id: String,
        path: PathBuf,
        at: Location,
    },
    /// `{id: cp313d, source: {...}, variant: debug, configure: [...]}`: an
    /// interpreter built from source (and cached) by extmatrix.
    Build(BuildSpec),
}

impl Matrix {
    /// The interpreters this matrix builds from source, in file order.
    pub fn builds(&self) -> impl Iterator<Item = &BuildSpec> {
        self.pythons.iter().filter_map(|s| match s {
            PythonSelector::Build(b) => Some(b),
            _ => None,
        })
    }
}

impl PythonSelector {
    /// The id this entry names (`None` for `auto`).
    pub fn id(&self) -> Option<&str> {
        match self {
            PythonSelector::Auto => None,
            PythonSelector::Id { id, .. } | PythonSelector::Path { id, .. } => Some(id),
            PythonSelector::Build(b) => Some(&b.id),
        }
    }
}

/// A CPython to build from a source tarball.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildSpec {
    pub id: String,
    pub source: SourceSpec,
    /// Default: `Variant::Default`.
    pub variant: Variant,
    /// Extra `./configure` arguments, after the variant's.
    pub configure: Vec<String>,
    pub at: Location,
}

/// Where the CPython source comes from. Exactly one of `tarball` / `url`.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceSpec {
    /// `{tarball: path, sha256: hex?}`: a local file (relative to the matrix
    /// file's directory; not checked for existence here — a build that needs
    /// it reports a missing file). `sha256`, when given, is 64 lowercase hex
    /// digits and is checked before building.
    Tarball {
        path: PathBuf,
        sha256: Option<String>,
    },
    /// `{url: https://..., sha256: hex}`: downloaded, then checked; `sha256`
    /// is required.
    Url { url: String, sha256: String },
}

pub use extmatrix_core::{SubinterpKind, Variant, STRESS_REPEAT};

/// The most workers (threads, interpreters) one stress cell runs at once.
pub const MAX_WORKERS: u32 = 256;

#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Cycles of the cycling scenarios (`reinit`, `reimport`,
    /// `subinterp-cycle`; >= 1, default 8).
    pub cycles: u32,
    /// Cycles the leak rule drops before reading a series (default 2):
    /// the first cycles fill caches that later ones reuse.
    pub warmup: u32,
    /// Memory growth per cycle, in KiB, that a sustained slope must exceed
    /// to be a `leak` (>= 1, default [`DEFAULT_LEAK_KIB`]).
    pub leak_kib_per_cycle: u64,
    /// Allocated blocks per cycle that a sustained slope must exceed to be a
    /// `leak` (>= 1, default [`DEFAULT_LEAK_BLOCKS`]).
    pub leak_blocks_per_cycle: u64,
    /// Run the cycling scenarios with CPython's debug memory allocator
    /// (`PYMEM_ALLOCATOR_DEBUG`; default true).
    pub debug_allocator: bool,
    /// The subinterpreters of `subinterp-cycle`: `None` (`auto`) for the
    /// most isolated kind the module declares it supports.
    pub subinterp: Option<SubinterpKind>,
    /// Per-cell timeout in seconds (>= 1, default 60).
    pub timeout_s: u64,
    /// How long every thread of a cell's Python process may wait on a lock
    /// with no timeout, using no CPU, before the cell is a `hang` with
    /// reason `deadlock` without waiting out `timeout_s` (seconds, default
    /// [`DEFAULT_DEADLOCK_S`]; `0`: never, only the timeout).
    pub deadlock_s: u64,
    /// Parallel cells; `None` = number of cores.
    pub jobs: Option<usize>,
    /// Threads running the smoke code at once in `free-threading` (1 to
    /// 256); `None`: two per core, at most 16.
    pub threads: Option<u32>,
    /// Own-GIL interpreters at once in `subinterp-parallel` (1 to 256);
    /// `None`: two per core, at most 16.
    pub interpreters: Option<u32>,
    /// Runs of the smoke code per worker in the stress scenarios (>= 1,
    /// default 50).
    pub rounds: u32,
    /// Waves of `subinterp-parallel`: interpreters created, used and ended
    /// together (>= 1, default 3).
    pub waves: u32,
    /// Runs of every cell; the worst outcome is reported with how many runs
    /// failed. `None`: [`STRESS_REPEAT`] for the stress scenarios, 1 for the
    /// rest.
    pub repeat: Option<u32>,
    /// Address-space limit of every cell's processes, in MiB (>= 1, default
    /// [`DEFAULT_MEMORY_MB`]).
    pub memory_mb: u64,
    /// How long one step of a target's build (a compile, a link) may take,
    /// in seconds (>= 1, default 600); past it the step's process group is
    /// killed and the cell is `build-failed`.
    pub build_timeout_s: u64,
}

/// The default `deadlock_s`: long enough that a lock a live thread will
/// release has been released (its holder used CPU meanwhile), short next to
/// any timeout.
pub const DEFAULT_DEADLOCK_S: u64 = 3;

/// The default `memory_mb`: room for free-threaded and debug builds, which
/// reserve far more address space than they use (about 1.3 GiB for a
/// free-threaded 3.13 with a few threads).
pub const DEFAULT_MEMORY_MB: u64 = 4096;

/// The default `leak_kib_per_cycle`: far above what separate runs of the
/// same cycles differ by (a few KiB of malloc'd memory), far below a
/// leaked buffer.
pub const DEFAULT_LEAK_KIB: u64 = 64;

/// The default `leak_blocks_per_cycle`: above the noise of release builds'
/// `sys.getallocatedblocks()` across cycles (tens of blocks on 3.11).
pub const DEFAULT_LEAK_BLOCKS: u64 = 64;

pub use target::{PipSource, TargetKind, TargetSpec, SDIST_SUFFIXES};

/// A place in the matrix file (1-based line and column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

/// A matrix file that could not be read or is not valid.
#[derive(Debug, thiserror::Error)]
#[error("{path}:{line}:{column}: {message}")]
pub struct SpecError {
    pub path: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl Default for Options {
    /// `cycles: 8`, `warmup: 2`, `leak_kib_per_cycle: 64`,
    /// `leak_blocks_per_cycle: 64`, `debug_allocator: true`,
    /// `subinterp: auto`, `timeout_s: 60`, `deadlock_s: 3`, `jobs`: one per core,
    /// `threads` and `interpreters`: two per core, `rounds: 50`,
    /// `waves: 3`, `repeat`: 3 for the stress scenarios and 1 for the rest,
    /// `memory_mb: 4096`, `build_timeout_s: 600`.
    fn default() -> Self {
        Options {
            cycles: 8,
            warmup: 2,
            leak_kib_per_cycle: DEFAULT_LEAK_KIB,
            leak_blocks_per_cycle: DEFAULT_LEAK_BLOCKS,
            debug_allocator: true,
            subinterp: None,
            timeout_s: 60,
            deadlock_s: DEFAULT_DEADLOCK_S,
            jobs: None,
            threads: None,
            interpreters: None,
            rounds: 50,
            waves: 3,
            repeat: None,
            memory_mb: DEFAULT_MEMORY_MB,
            build_timeout_s: 600,
        }
    }
}

impl Options {
    /// Threads of `free-threading` on a machine with `cores` cores.
    pub fn threads_on(&self, cores: usize) -> u32 {
        self.threads.unwrap_or_else(|| two_per_core(cores))
    }

    /// Interpreters of `subinterp-parallel` on a machine with `cores` cores.
    pub fn interpreters_on(&self, cores: usize) -> u32 {
        self.interpreters.unwrap_or_else(|| two_per_core(cores))
    }

    /// How many times a cell of `scenario` runs.
    pub fn repeat_of(&self, scenario: Scenario) -> u32 {
        self.repeat.unwrap_or(if scenario.is_stress() {
            STRESS_REPEAT
        } else {
            1
        })
    }
}

/// More workers than cores, so that they are preempted in the middle of
/// what they do; at most 16, since every cell of `jobs` (one per core) runs
/// that many, each with its own stack and allocator arenas, under
/// `memory_mb`.
fn two_per_core(cores: usize) -> u32 {
    (cores.max(1) * 2).min(16) as u32
}

impl fmt::Display for Location {
    /// `line:column`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// Keys allowed at the top of a matrix file.
const TOP_KEYS: &[&str] = &["pythons", "scenarios", "options", "targets"];
const OPTION_KEYS: &[&str] = &[
    "cycles",
    "warmup",
    "leak_kib_per_cycle",
    "leak_blocks_per_cycle",
    "debug_allocator",
    "subinterp",
    "timeout_s",
    "deadlock_s",
    "jobs",
    "threads",
    "interpreters",
    "rounds",
    "waves",
    "repeat",
    "memory_mb",
    "build_timeout_s",
];
const PYTHON_PATH_KEYS: &[&str] = &["id", "path"];
const PYTHON_BUILD_KEYS: &[&str] = &["id", "source", "variant", "configure"];
const SOURCE_KEYS: &[&str] = &["tarball", "url", "sha256"];
/// How a `url` may start.
const URL_SCHEMES: &[&str] = &["https://", "http://", "file://"];
/// Said wherever a `pythons` mapping mixes or lacks `path` and `source`.
const PATH_OR_SOURCE: &str =
    "choose one: `path` for an installed interpreter, `source` to build one";

/// The most of a matrix file [`load`] reads: a matrix is a few kB of YAML,
/// and whatever `path` names (`/dev/zero`, a FIFO, a huge file) is read
/// only this far.
pub const MAX_MATRIX_BYTES: usize = 1 << 20;

/// Read and validate the matrix file at `path`. At most
/// [`MAX_MATRIX_BYTES`] are read; a longer file is an error located where
/// reading stopped.
pub fn load(path: &Path) -> Result<Matrix, SpecError> {
    let text = read_yaml_text(path, "matrix file")?;
    parse(&text, path)
}

/// The text of the YAML file at `path` (a `what`: "matrix file"), read up
/// to [`MAX_MATRIX_BYTES`] whatever the path names.
fn read_yaml_text(path: &Path, what: &str) -> Result<String, SpecError> {
    use std::io::Read;
    let unreadable = |err: &dyn fmt::Display| SpecError {
        path: path.display().to_string(),
        line: 0,
        column: 0,
        message: format!("cannot read the {what}: {err}"),
    };
    let file = std::fs::File::open(path).map_err(|e| unreadable(&e))?;
    if file.metadata().is_ok_and(|m| m.is_dir()) {
        return Err(unreadable(&"it is a directory"));
    }
    let mut bytes = Vec::new();
    file.take(MAX_MATRIX_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| unreadable(&e))?;
    if bytes.len() > MAX_MATRIX_BYTES {
        let at = byte_location(&bytes, MAX_MATRIX_BYTES);
        return Err(SpecError {
            path: path.display().to_string(),
            line: at.line,
            column: at.column,
            message: format!(
                "the {what} is longer than {} MiB, the most extmatrix reads; \
                 reading stopped here (a {what} is a few kB of YAML: is this the right file?)",
                MAX_MATRIX_BYTES >> 20
            ),
        });
    }
    String::from_utf8(bytes).map_err(|err| {
        let at = text_location(err.as_bytes(), err.utf8_error().valid_up_to());
        SpecError {
            path: path.display().to_string(),
            line: at.line,
            column: at.column,
            message: format!("the {what} is not valid UTF-8"),
        }
    })
}

/// The 1-based line and column (in bytes) of byte `offset` in `bytes`,
/// whatever they are.
fn byte_location(bytes: &[u8], offset: usize) -> Location {
    let before = &bytes[..offset.min(bytes.len())];
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    Location {
        line: before.iter().filter(|&&b| b == b'\n').count() + 1,
        column: before.len() - line_start + 1,
    }
}

/// Validate matrix text as if it were read from `path` (relative paths resolve against `path`'s directory).
pub fn parse(text: &str, path: &Path) -> Result<Matrix, SpecError> {
    let cx = Context::new(path);
    let root = node::parse(text).map_err(|err| cx.error(err.at, err.message))?;
    if root.value == Value::Null {
        return Err(cx.error(
            root.at,
            format!(
                "the matrix file is empty; it must be a mapping with keys {}",
                TOP_KEYS.join(", ")
            ),
        ));
    }
    let top = cx.fields(&root, "the matrix file", TOP_KEYS)?;
    let pythons = cx.pythons(top.require(&cx, "pythons")?)?;
    let scenarios = match top.get("scenarios") {
        Some(node) => cx.scenarios(node)?,
        None => Scenario::ALL.to_vec(),
    };
    let options = match top.get("options") {
        Some(node) => cx.options(node)?,
        None => Options::default(),
    };
    let targets = cx.targets(top.require(&cx, "targets")?)?;
    Ok(Matrix {
        source: path.to_path_buf(),
        pythons,
        scenarios,
        options,
        targets,
    })
}

/// The 1-based line and column of byte `offset` in `bytes`, which are valid
/// UTF-8 up to `offset`.
fn text_location(bytes: &[u8], offset: usize) -> Location {
    let before = String::from_utf8_lossy(&bytes[..offset.min(bytes.len())]);
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    Location {
        line: before.matches('\n').count() + 1,
        column: before[line_start..].chars().count() + 1,
    }
}

/// What validation needs to know about the file: its name for messages and
/// the directory its relative paths start from.
struct Context<'a> {
    path: &'a Path,
    dir: PathBuf,
}

/// The entries of a mapping whose keys have been checked against a list.
struct Fields<'n> {
    /// Where the mapping starts (for "missing key" errors).
    at: Location,
    /// What the mapping is, e.g. "`options`".
    what: &'static str,
    entries: Vec<(&'n str, &'n Node)>,
}

impl<'n> Fields<'n> {
    fn get(&self, key: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, node)| *node)
    }

    fn require(&self, cx: &Context, key: &str) -> Result<&'n Node, SpecError> {
        self.get(key).ok_or_else(|| {
            cx.error(
                self.at,
                format!("missing required key `{key}` in {}", self.what),
            )
        })
    }
}

impl Context<'_> {
    fn new(path: &Path) -> Context<'_> {
        let dir = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let dir = std::path::absolute(&dir).unwrap_or(dir);
        Context { path, dir }
    }

    fn error(&self, at: Location, message: impl Into<String>) -> SpecError {
        SpecError {
            path: self.path.display().to_string(),
            line: at.line,
            column: at.column,
            message: message.into(),
        }
    }

    /// "{expected}, found {what the node is}", at the node.
    fn wrong_type(&self, node: &Node, expected: &str) -> SpecError {
        self.error(
            node.at,
            format!("{expected}, found {}", node.value.describe()),
        )
    }

    /// Check that `node` is a mapping whose keys are all in `allowed`.
    fn fields<'n>(
        &self,
        node: &'n Node,
        what: &'static str,
        allowed: &[&str],
    ) -> Result<Fields<'n>, SpecError> {
        let Value::Map(entries) = &node.value else {
            return Err(self.wrong_type(
                node,
                &format!("{what} must be a mapping with keys {}", allowed.join(", ")),
            ));
        };
        let mut fields = Fields {
            at: node.at,
            what,
            entries: Vec::with_capacity(entries.len()),
        };
        for (key, value) in entries {
            match &key.value {
                Value::Str(k) if allowed.contains(&k.as_str()) => fields.entries.push((k, value)),
                other => {
                    return Err(self.error(
                        key.at,
                        format!(
                            "unknown key `{}` in {what}; allowed keys: {}",
                            other.key_text(),
                            allowed.join(", ")
                        ),
                    ))
                }
            }
        }
        Ok(fields)
    }

    /// A string scalar (quoted or not); anything else is a type error.
    fn string<'n>(&self, node: &'n Node, expected: &str) -> Result<&'n str, SpecError> {
        match &node.value {
            Value::Str(s) => Ok(s),
            _ => Err(self.wrong_type(node, expected)),
        }
    }

    /// `true` or `false`; anything else is a type error.
    fn boolean(&self, node: &Node, expected: &str) -> Result<bool, SpecError> {
        match node.value {
            Value::Bool(b) => Ok(b),
            _ => Err(self.wrong_type(node, expected)),
        }
    }

    /// An integer >= 1 that fits in `T`.
    fn positive_int<T: TryFrom<i128>>(&self, node: &Node, key: &str) -> Result<T, SpecError> {
        self.int_at_least(node, key, 1)
    }

    /// An integer of at least `least` (`0` where zero means "off").
    fn int_at_least<T: TryFrom<i128>>(
        &self,
        node: &Node,
        key: &str,
        least: i128,
    ) -> Result<T, SpecError> {
        let expected = format!("`{key}` must be an integer >= {least}");
        match node.value {
            Value::Int(i) if i >= least => T::try_from(i).map_err(|_| {
                self.error(
                    node.at,
                    format!("{expected}, found integer {i}, which is too large"),
                )
            }),
            _ => Err(self.wrong_type(node, &expected)),
        }
    }

    /// A count of workers: 1 to [`MAX_WORKERS`] (the harness's limit).
    fn workers(&self, node: &Node, key: &str) -> Result<u32, SpecError> {
        let n: u32 = self.positive_int(node, key)?;
        if n > MAX_WORKERS {
            return Err(self.error(
                node.at,
                format!("`{key}` must be at most {MAX_WORKERS} (workers at once), found {n}"),
            ));
        }
        Ok(n)
    }

    /// `subinterp: auto | legacy | shared | own` (`auto` is `None`).
    fn subinterp_choice(&self, node: &Node) -> Result<Option<SubinterpKind>, SpecError> {
        let expected = format!(
            "`subinterp` must be `auto` or one of {}",
            SubinterpKind::allowed_ids()
        );
        match &node.value {
            Value::Str(s) if s == "auto" => Ok(None),
            Value::Str(s) => s
                .parse()
                .map(Some)
                .map_err(|_| self.error(node.at, format!("{expected}, found `{s}`"))),
            _ => Err(self.wrong_type(node, &expected)),
        }
    }

    /// A path from the file, made absolute against the file's directory.
    fn resolve(&self, path: &str) -> PathBuf {
        self.dir.join(path)
    }

    /// `pythons: auto` or a list of selectors.
    fn pythons(&self, node: &Node) -> Result<Vec<PythonSelector>, SpecError> {
        const EXPECTED: &str =
            "`pythons` must be `auto` or a list of `auto`, interpreter ids (like cp313), \
             {id, path} mappings and {id, source} builds";
        let items = match &node.value {
            Value::Str(s) if s == "auto" => return Ok(vec![PythonSelector::Auto]),
            Value::Seq(items) => items,
            _ => return Err(self.wrong_type(node, EXPECTED)),
        };
        if items.is_empty() {
            return Err(self.error(
                node.at,
                "`pythons` must not be empty; write `auto` for every interpreter found, or list ids like cp313",
            ));
        }
        let mut seen = Once::default();
        let mut selectors = Vec::with_capacity(items.len());
        for item in items {
            let selector = self.python(item)?;
            if let Some(id) = selector.id() {
                seen.check(self, id.to_owned(), item.at, |first| {
                    format!("interpreter id `{id}` is listed twice (first at {first})")
                })?;
            }
            selectors.push(selector);
        }
        Ok(selectors)
    }

    /// One entry of the `pythons` list.
    fn python(&self, node: &Node) -> Result<PythonSelector, SpecError> {
        match &node.value {
            Value::Str(s) if s == "auto" => Ok(PythonSelector::Auto),
            Value::Str(id) => {
                self.python_id(node, id)?;
                Ok(PythonSelector::Id {
                    id: id.clone(),
                    at: node.at,
                })
            }
            Value::Map(entries) => match self.python_form(node, entries)? {
                PythonForm::Path => self.python_path(node),
                PythonForm::Build => Ok(PythonSelector::Build(self.build(node)?)),
            },
            _ => Err(self.wrong_type(
                node,
                "a `pythons` entry must be `auto`, an interpreter id like cp313, a mapping {id, path} \
                 or a build {id, source, variant, configure}",
            )),
        }
    }

    /// Which form a `pythons` mapping is: `path` makes it an installed
    /// interpreter, `source` a build. Keys are checked against both forms.
    fn python_form(&self, node: &Node, entries: &[(Node, Node)]) -> Result<PythonForm, SpecError> {
        let mut path_key = None;
        let mut source_key = None;
        for (key, _) in entries {
            match &key.value {
                Value::Str(k) if k == "path" => path_key = Some(key),
                Value::Str(k) if k == "source" => source_key = Some(key),
                Value::Str(k)
                    if PYTHON_PATH_KEYS.contains(&k.as_str())
                        || PYTHON_BUILD_KEYS.contains(&k.as_str()) => {}
                other => {
                    return Err(self.error(
                        key.at,
                        format!(
                            "unknown key `{}` in a `pythons` entry; allowed keys: {} (an installed \
                             interpreter) or {} (a build from source)",
                            other.key_text(),
                            PYTHON_PATH_KEYS.join(", "),
                            PYTHON_BUILD_KEYS.join(", ")
                        ),
                    ))
                }
            }
        }
        match (path_key, source_key) {
            (Some(path), Some(source)) => Err(self.error(
                later(path, source).at,
                format!("a `pythons` entry has both `path` and `source`; {PATH_OR_SOURCE}"),
            )),
            (Some(_), None) => Ok(PythonForm::Path),
            (None, Some(_)) => Ok(PythonForm::Build),
            (None, None) => Err(self.error(
                node.at,
                format!("a `pythons` entry needs `path` or `source`; {PATH_OR_SOURCE}"),
            )),
        }
    }

    /// `{id, path}`: an installed interpreter under this id.
    fn python_path(&self, node: &Node) -> Result<PythonSelector, SpecError> {
        let fields = self.fields(node, "a `pythons` entry with `path`", PYTHON_PATH_KEYS)?;
        let id = self.mapping_id(&fields)?;
        let path_node = fields.require(self, "path")?;
        let path = self.string(path_node, "`path` must be the path of a Python executable")?;
        if path.is_empty() {
            return Err(self.error(
                path_node.at,
                "`path` must not be empty; give the path of a Python executable",
            ));
        }
        Ok(PythonSelector::Path {
            id,
            path: self.resolve(path),
            at: node.at,
        })
    }

    /// `{id, source, variant, configure}`: a CPython built from source.
    fn build(&self, node: &Node) -> Result<BuildSpec, SpecError> {
        let fields = self.fields(node, "a `pythons` build entry", PYTHON_BUILD_KEYS)?;
        let id = self.mapping_id(&fields)?;
        let source = self.source(fields.require(self, "source")?)?;
        let variant = match fields.get("variant") {
            Some(variant_node) => self
                .string(
                    variant_node,
                    &format!("`variant` must be one of {}", Variant::allowed_ids()),
                )?
                .parse()
                .map_err(|message: String| self.error(variant_node.at, message))?,
            None => Variant::Default,
        };
        let configure = match fields.get("configure") {
            Some(configure_node) => self.configure(configure_node)?,
            None => Vec::new(),
        };
        Ok(BuildSpec {
            id,
            source,
            variant,
            configure,
            at: node.at,
        })
    }

    /// The `id` of a `pythons` mapping (either form).
    fn mapping_id(&self, fields: &Fields) -> Result<String, SpecError> {
        let id_node = fields.require(self, "id")?;
        let id = self.string(id_node, "`id` must be an interpreter id string like cp313")?;
        self.python_id(id_node, id)?;
        if id == "auto" {
            return Err(self.error(
                id_node.at,
                "`auto` is reserved and cannot be the `id` of a `pythons` mapping",
            ));
        }
        Ok(id.to_owned())
    }

    /// `source: {tarball | url, sha256}`.
    fn source(&self, node: &Node) -> Result<SourceSpec, SpecError> {
        let fields = self.fields(node, "`source`", SOURCE_KEYS)?;
        let sha256 = match fields.get("sha256") {
            Some(sha_node) => Some(self.sha256(sha_node)?),
            None => None,
        };
        match (fields.get("tarball"), fields.get("url")) {
            (Some(tarball), Some(url)) => Err(self.error(
                later(tarball, url).at,
                "`source` has both `tarball` and `url`; choose one: `tarball` for a local file, \
                 `url` to download one",
            )),
            (None, None) => Err(self.error(
                node.at,
                "`source` needs `tarball` (a local .tar.xz/.tgz file) or `url` (to download one)",
            )),
            (Some(tarball_node), None) => {
                let tarball = self.string(
                    tarball_node,
                    "`tarball` must be the path of a source tarball",
                )?;
                if tarball.is_empty() {
                    return Err(self.error(
                        tarball_node.at,
                        "`tarball` must not be empty; give the path of a source tarball",
                    ));
                }
                Ok(SourceSpec::Tarball {
                    path: self.resolve(tarball),
                    sha256,
                })
            }
            (None, Some(url_node)) => {
                let url = self.string(url_node, "`url` must be the URL of a source tarball")?;
                if !URL_SCHEMES.iter().any(|scheme| url.starts_with(scheme)) {
                    return Err(self.error(
                        url_node.at,
                        format!(
                            "invalid `url` {url:?}: it must start with {}",
                            URL_SCHEMES.join(", ")
                        ),
                    ));
                }
                let sha256 = sha256.ok_or_else(|| {
                    self.error(
                        node.at,
                        "missing required key `sha256` in `source`; a download from `url` is \
                         checked against its SHA-256 (64 hex digits)",
                    )
                })?;
                Ok(SourceSpec::Url {
                    url: url.to_owned(),
                    sha256,
                })
            }
        }
    }

    /// 64 hex digits, returned in lower case.
    fn sha256(&self, node: &Node) -> Result<String, SpecError> {
        let sha = self.string(
            node,
            "`sha256` must be a string of 64 hexadecimal digits (quote it)",
        )?;
        if sha.len() != 64 || !sha.chars().all(|c| c.is_ascii_hexdigit()) {
            let found = match sha.chars().find(|c| !c.is_ascii_hexdigit()) {
                Some(c) => format!("it contains {c:?}"),
                None => format!("it has {} digits", sha.len()),
            };
            return Err(self.error(
                node.at,
                format!("invalid `sha256`: it must be 64 hexadecimal digits, but {found}"),
            ));
        }
        Ok(sha.to_ascii_lowercase())
    }

    /// `configure: [...]`: extra `./configure` arguments, non-empty strings.
    fn configure(&self, node: &Node) -> Result<Vec<String>, SpecError> {
        let Value::Seq(items) = &node.value else {
            return Err(self.wrong_type(
                node,
                "`configure` must be a list of ./configure arguments (strings)",
            ));
        };
        items
            .iter()
            .map(|item| {
                let arg = self.string(
                    item,
                    "a `configure` argument must be a string (quote it if YAML reads it otherwise)",
                )?;
                if arg.is_empty() {
                    return Err(self.error(item.at, "a `configure` argument must not be empty"));
                }
                Ok(arg.to_owned())
            })
            .collect()
    }

    fn python_id(&self, node: &Node, id: &str) -> Result<(), SpecError> {
        let valid = !id.is_empty()
            && id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c));
        if valid {
            Ok(())
        } else {
            Err(self.error(
                node.at,
                format!(
                    "invalid interpreter id {id:?}: ids are non-empty and use only lowercase letters, digits, \
                     `_`, `.` and `-` (like cp313, cp313t, cp311d)"
                ),
            ))
        }
    }

    /// `scenarios: [...]`: known ids, no duplicates, at least one.
    fn scenarios(&self, node: &Node) -> Result<Vec<Scenario>, SpecError> {
        let Value::Seq(items) = &node.value else {
            return Err(self.wrong_type(
                node,
                &format!(
                    "`scenarios` must be a list of scenario ids ({})",
                    Scenario::allowed_ids()
                ),
            ));
        };
        if items.is_empty() {
            return Err(self.error(
                node.at,
                format!(
                    "`scenarios` must not be empty; leave it out to run all of them ({})",
                    Scenario::allowed_ids()
                ),
            ));
        }
        let mut seen = Once::default();
        let mut scenarios = Vec::with_capacity(items.len());
        for item in items {
            let id = self.string(
                item,
                &format!("a scenario must be one of {}", Scenario::allowed_ids()),
            )?;
            let scenario: Scenario = id
                .parse()
                .map_err(|message: String| self.error(item.at, message))?;
            seen.check(self, scenario, item.at, |first| {
                format!("scenario `{scenario}` is listed twice (first at {first})")
            })?;
            scenarios.push(scenario);
        }
        Ok(scenarios)
    }

    /// `options: {cycles, warmup, leak_kib_per_cycle, leak_blocks_per_cycle,
    /// debug_allocator, subinterp, timeout_s, jobs, threads, interpreters,
    /// rounds, waves, repeat, memory_mb, build_timeout_s}`, each optional.
    fn options(&self, node: &Node) -> Result<Options, SpecError> {
        let fields = self.fields(node, "`options`", OPTION_KEYS)?;
        let mut options = Options::default();
        if let Some(cycles) = fields.get("cycles") {
            options.cycles = self.positive_int(cycles, "cycles")?;
        }
        if let Some(warmup) = fields.get("warmup") {
            options.warmup = match warmup.value {
                Value::Int(0) => 0,
                _ => self.positive_int(warmup, "warmup")?,
            };
        }
        if let Some(kib) = fields.get("leak_kib_per_cycle") {
            options.leak_kib_per_cycle = self.positive_int(kib, "leak_kib_per_cycle")?;
        }
        if let Some(blocks) = fields.get("leak_blocks_per_cycle") {
            options.leak_blocks_per_cycle = self.positive_int(blocks, "leak_blocks_per_cycle")?;
        }
        if let Some(on) = fields.get("debug_allocator") {
            options.debug_allocator =
                self.boolean(on, "`debug_allocator` must be true or false")?;
        }
        if let Some(kind) = fields.get("subinterp") {
            options.subinterp = self.subinterp_choice(kind)?;
        }
        if let Some(timeout_s) = fields.get("timeout_s") {
            options.timeout_s = self.positive_int(timeout_s, "timeout_s")?;
        }
        if let Some(deadlock_s) = fields.get("deadlock_s") {
            options.deadlock_s = self.int_at_least(deadlock_s, "deadlock_s (0: off)", 0)?;
        }
        if let Some(jobs) = fields.get("jobs") {
            options.jobs = Some(self.positive_int(jobs, "jobs")?);
        }
        if let Some(threads) = fields.get("threads") {
            options.threads = Some(self.workers(threads, "threads")?);
        }
        if let Some(interpreters) = fields.get("interpreters") {
            options.interpreters = Some(self.workers(interpreters, "interpreters")?);
        }
        if let Some(rounds) = fields.get("rounds") {
            options.rounds = self.positive_int(rounds, "rounds")?;
        }
        if let Some(waves) = fields.get("waves") {
            options.waves = self.positive_int(waves, "waves")?;
        }
        if let Some(repeat) = fields.get("repeat") {
            options.repeat = Some(self.positive_int(repeat, "repeat")?);
        }
        if let Some(build_timeout_s) = fields.get("build_timeout_s") {
            options.build_timeout_s = self.positive_int(build_timeout_s, "build_timeout_s")?;
        }
        if let Some(memory_mb) = fields.get("memory_mb") {
            options.memory_mb = self.positive_int(memory_mb, "memory_mb")?;
        }
        Ok(options)
    }
}

/// Keys that may appear once in a list: the second occurrence is an error
/// that points at it and names the first.
struct Once<K>(HashMap<K, Location>);

impl<K> Default for Once<K> {
    fn default() -> Self {
        Once(HashMap::new())
    }
}

impl<K: std::hash::Hash + Eq> Once<K> {
    fn check(
        &mut self,
        cx: &Context,
        key: K,
        at: Location,
        message: impl FnOnce(Location) -> String,
    ) -> Result<(), SpecError> {
        match self.0.insert(key, at) {
            Some(first) => Err(cx.error(at, message(first))),
            None => Ok(()),
        }
    }
}

/// The two forms of a `pythons` mapping.
enum PythonForm {
    /// `{id, path}`
    Path,
    /// `{id, source, variant, configure}`
    Build,
}

/// Of two nodes, the one that comes later in the file (for "both X and Y"
/// errors, which point at the second of the two).
fn later<'n>(a: &'n Node, b: &'n Node) -> &'n Node {
    if (a.at.line, a.at.column) > (b.at.line, b.at.column) {
        a
    } else {
        b
    }
}
