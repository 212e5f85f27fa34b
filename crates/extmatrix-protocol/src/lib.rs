//! The harness's observation protocol as types, and the raw evidence of one
//! cell.
//!
//! The harness (`harness-c/`) writes one JSON object per line, tagged by
//! `ev`; docs/harness-protocol.md lists them. Every line is parsed here once
//! into [`Event`]s whose vocabulary — steps, declarations, where an object
//! lives, what a comparison compares — is enums, so a rule in the judge
//! matches a variant, never a string, and a harness that emits a word this
//! crate does not know produces a protocol error the report shows instead
//! of a silently different verdict.
//!
//! [`Observation`] is what one harness run left behind, unjudged: the
//! events, how the process ended, the tails of its output and the attempts
//! before it. It is plain data (serde), so it can be kept and judged again.
//!
//! Every line the runner trusts carries the run's token (`--token`); the
//! [`ChannelReader`] reads the channel as it arrives, in bounded memory,
//! and sets aside every line without it as foreign.

mod channel;
mod step;

pub use channel::{
    Channel, ChannelReader, CHANNEL_CAP, FOREIGN_SAMPLES, MAX_LINE, OUTPUT_CAP,
    PROTOCOL_ERRORS_KEPT,
};
pub use step::{Action, Stage, Step, SubinterpKind};

use extmatrix_core::{id_enum, Outcome, Requirement, Scenario};
use serde::{Deserialize, Serialize};

/// One line of the observation channel.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "ev", rename_all = "snake_case")]
pub enum Event {
    Start {
        scenario: Scenario,
        compiled_for: String,
        /// The module the harness imports (absent from observations kept
        /// by an older extmatrix).
        #[serde(default, skip_serializing_if = "String::is_empty")]
        module: String,
        pid: u32,
    },
    /// The signal that asks the harness for every thread's stacks (a
    /// real-time signal nobody handled when it started; announced again
    /// when a target took it, 0 when none was left free). The last one
    /// announced is the one to send.
    DumpSignal {
        signal: i32,
    },
    /// Announced before every risky step.
    Step {
        step: Step,
    },
    Declared(Declaration),
    Error(ImportFailure),
    Cycle(CycleFigures),
    /// A warning raised while importing the module.
    Warning(ImportWarning),
    /// A module the target's first import and smoke code brought into
    /// `sys.modules` (its own package left out), one event each.
    PulledIn {
        module: String,
    },
    /// Free-threaded builds: whether the GIL is enabled at this point.
    Gil(GilState),
    /// How many objects were collected from one module for an identity check.
    Reachable {
        count: u64,
    },
    /// An object reachable in both compared sets at the same address.
    Shared(SharedObject),
    /// The end of one identity comparison.
    Compared {
        label: Comparison,
        before: u64,
        after: u64,
        same_address: u64,
    },
    /// The scenario cannot run on this build.
    Unsupported {
        needs: Requirement,
    },
    Note {
        message: String,
    },
    /// A fatal signal is about to end the process: what it was doing.
    Forensics(Forensics),
    /// A fatal signal arrived: the harness is taking the stacks
    /// (`forensics`) and will then die of it. Sent first, so a crash whose
    /// forensics outlast the timeout is not taken for a hang.
    Crashing {
        signal: String,
    },
    /// The harness itself failed (not the target).
    Fatal {
        message: String,
    },
    Done,
    /// The harness's supervisor, after the harness process ended: how many
    /// processes below it were still running (whatever their process group
    /// or session). All of them were killed.
    Cleanup {
        left_behind: u32,
    },
}

id_enum! {
    /// How the module is initialised (`PyModuleDef.m_slots`).
    pub enum InitStyle as "init style" {
        /// `PyModule_Create`: one module object per process, `m_copy` for the rest.
        SinglePhase = "single-phase",
        /// PEP 489: `PyModuleDef_Init` with slots.
        MultiPhase = "multi-phase",
        /// Not a module with a `PyModuleDef` at all.
        None = "none",
    }
}

id_enum! {
    /// The `Py_mod_multiple_interpreters` slot's value.
    pub enum MultipleInterpreters as "Py_mod_multiple_interpreters value" {
        NotSupported = "not-supported",
        /// Shared GIL only.
        Supported = "supported",
        PerInterpreterGil = "per-interpreter-gil",
        /// A value CPython does not define.
        Unknown = "unknown",
    }
}

id_enum! {
    /// The `Py_mod_gil` slot's value.
    pub enum GilSlot as "Py_mod_gil value" {
        Used = "used",
        NotUsed = "not-used",
        Unknown = "unknown",
    }
}

/// What the module declares: its init style and PEP 489 slots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Declaration {
    pub init: InitStyle,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub m_size: Option<i64>,
    /// Absent when the slot is not set (or the build predates it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multiple_interpreters: Option<MultipleInterpreters>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gil: Option<GilSlot>,
}

id_enum! {
    /// What raised: the import, the smoke code, or removing the module from
    /// `sys.modules`.
    pub enum ErrorPhase as "error phase" {
        Import = "import",
        Smoke = "smoke",
        Forget = "forget",
    }
}

/// An exception raised by the import or the smoke code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportFailure {
    /// The step it was raised in.
    #[serde(rename = "where")]
    pub step: Step,
    pub phase: ErrorPhase,
    pub exc_type: String,
    pub message: String,
    /// A `ModuleNotFoundError`'s `name`: the module the import system did
    /// not find (`yaml` for `import yaml`, `pkg.sub` for `import pkg.sub`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_found: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceback: Option<String>,
    /// Raised by a worker of a stress scenario: which one (from 1: the
    /// interpreter of `subinterp-parallel`, the thread of
    /// `free-threading`) ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<u32>,
    /// ... and in which of its rounds of the smoke code (0: before the
    /// first, in the import).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub round: Option<u32>,
}

/// " (worker 3, round 17)": where in a stress scenario, for a summary;
/// " (worker 3)" outside its rounds (creating, importing, ending).
fn worker_suffix(worker: Option<u32>, round: Option<u32>) -> String {
    match (worker, round) {
        (Some(w), Some(0) | None) => format!(" (worker {w})"),
        (Some(w), Some(r)) => format!(" (worker {w}, round {r})"),
        _ => String::new(),
    }
}

impl ImportFailure {
    /// " (worker 3, round 17)" when a worker raised it, else "".
    pub fn worker_suffix(&self) -> String {
        worker_suffix(self.worker, self.round)
    }
}

/// A warning raised during an import (e.g. CPython's RuntimeWarning when a
/// module re-enables the GIL on a free-threaded build).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportWarning {
    #[serde(rename = "where")]
    pub step: Step,
    pub category: String,
    pub message: String,
}

/// What the harness saw of a fatal signal before dying of it: every
/// thread's Python traceback (faulthandler) and C frames (gdb, or glibc's
/// `backtrace` without it), each cut at 16 KiB.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Forensics {
    pub signal: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub python: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub c: String,
    /// `c` as the process wrote it, when extmatrix demangled Rust or C++
    /// symbols in `c` that gdb had not (glibc's `backtrace` never does).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub c_mangled: String,
    /// In a stress scenario: where every worker was, one line each
    /// (`worker 3: smoke, round 17`, `worker 4: ended`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub workers: String,
    /// The worker whose thread died of the signal (a crash, not a hang's
    /// dump), and its round.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub round: Option<u32>,
}

impl Forensics {
    /// " (worker 3, round 17)" when a worker's thread died, else "".
    pub fn worker_suffix(&self) -> String {
        worker_suffix(self.worker, self.round)
    }

    /// The C frames, one line each (`#3  0x… in fixture_exec (…) at f.c:12`):
    /// gdb's numbered frames, or every line `backtrace` gave.
    pub fn c_frames(&self) -> Vec<&str> {
        let numbered: Vec<&str> = self
            .c
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with('#'))
            .collect();
        if numbered.is_empty() {
            self.c
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect()
        } else {
            numbered
        }
    }
}

/// Whether the GIL was enabled at a step of a free-threaded run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GilState {
    #[serde(rename = "where")]
    pub step: Step,
    pub enabled: bool,
}

/// The figures of one cycle of a cycling scenario (`reinit`, `reimport`,
/// `subinterp-cycle`), taken after a collection. Which are present depends
/// on the build: refcounts only on debug builds, `malloc_kb` only with glibc.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CycleFigures {
    pub n: u32,
    /// Wall time of the whole cycle.
    pub us: u64,
    /// The cycle's import and smoke code succeeded.
    #[serde(default = "yes")]
    pub ok: bool,
    /// `sys.getallocatedblocks()` (reinit: before finalize).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocated_blocks: Option<i64>,
    /// `sys.gettotalrefcount()` (debug builds; reinit: before finalize).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_refcount: Option<i64>,
    /// The memory allocator in use (`pymalloc_debug`, `mimalloc_debug`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocator: Option<String>,
    /// Resident set size at the end of the cycle.
    pub rss_kb: i64,
    /// What malloc has handed out and not had back (glibc `mallinfo2`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub malloc_kb: Option<i64>,
    /// reinit on debug builds: the refs the runtime still counts after
    /// `Py_FinalizeEx` (what `-X showrefcount` prints).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_refs: Option<i64>,
    /// reinit on debug 3.11: the blocks still allocated after `Py_FinalizeEx`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_blocks: Option<i64>,
}

fn yes() -> bool {
    true
}

id_enum! {
    /// The two sets an identity check compares.
    pub enum Comparison as "comparison" {
        /// The module in the main interpreter and in a subinterpreter.
        MainSubinterp = "main/subinterp",
        /// The module before `del sys.modules[...]` and after the re-import.
        OldNew = "old/new",
    }
}

id_enum! {
    /// Where an object's address lies (`dladdr`).
    pub enum Lives as "object location" {
        /// The extension's own image: a static type or static object.
        Extension = "extension",
        /// libpython's image (or the executable, when libpython is static).
        Libpython = "libpython",
        Heap = "heap",
        /// Another shared library's image.
        OtherImage = "other-image",
    }
}

/// One object found at the same address in both compared sets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedObject {
    pub label: Comparison,
    /// Attribute path from the module: `Widget`, `Widget.__doc__`.
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_before: Option<String>,
    #[serde(rename = "type")]
    pub type_name: String,
    pub addr: String,
    pub lives: Lives,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Where in `image` it sits: its address less the image's load base.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// The image's symbol at `offset` (from its ELF symbol table, static
    /// symbols included) and that symbol's section; the engine names it
    /// after the run, the harness cannot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
    /// `symbol` in its author's language when it is a mangled Rust or C++
    /// name (`holder::registry` for `_ZN6holderL8registryE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol_demangled: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub section: Option<String>,
    /// A heap object: the extension's image (`held_in`) and the offset in
    /// it (`held_at`) of a writable slot, a C global, holding a pointer to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_in: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_at: Option<u64>,
    /// The extension's symbol at `held_at` (named by the engine, as
    /// `symbol`): the global that keeps the object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_by: Option<String>,
    /// `held_by` in its author's language, when it is mangled
    /// (`orjson::typeref::FRAGMENT_TYPE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_by_demangled: Option<String>,
    /// A single-phase module with `m_size == -1` is loaded again from a
    /// copy of its first instance's dict (`m_copy`, gh-101758): the
    /// judge marks an attribute shared that way.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub from_m_copy: bool,
    pub immortal: bool,
    pub interned: bool,
    /// A static type the runtime manages per interpreter
    /// (`_Py_TPFLAGS_STATIC_BUILTIN`, 3.12+: the builtin types, and core
    /// extensions' types registered with `_PyStaticType_InitForExtension`),
    /// an attribute of one (its dict and caches are each interpreter's), or
    /// an immortal statically allocated instance of one (`datetime.UTC`).
    #[serde(default)]
    pub runtime_managed: bool,
    /// For an attribute of a type (`error.__new__`): where that type lives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_lives: Option<Lives>,
    /// The object (or, for a type's attribute, that type) was alive
    /// (tracked by the interpreter's collector) before the target was first
    /// imported.
    #[serde(default)]
    pub existed_before_import: bool,
    /// A module object other than the target that is the interpreter's
    /// `sys.modules` entry for its own name (a dependency the target
    /// imported).
    #[serde(default)]
    pub registered_module: bool,
    /// A type or function whose `__module__` is a module of `sys.modules`
    /// outside the target's top-level package (not `builtins`), or
    /// an attribute of such a type: what a dependency defined. Only asked
    /// after a re-import.
    #[serde(default)]
    pub defined_by_dependency: bool,
}

/// How the harness process ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "how", rename_all = "kebab-case")]
pub enum Termination {
    Exited {
        code: i32,
    },
    Signaled {
        signal: i32,
        name: String,
    },
    /// Still running past its time; its process group was killed.
    /// `after_ms`: when it was found past its time; `waited_ms`: how long,
    /// by then, its main thread had waited for a CPU other processes held,
    /// which does not count against the timeout (0 from an older
    /// extmatrix).
    TimedOut {
        after_ms: u64,
        #[serde(default)]
        waited_ms: u64,
    },
    /// Every thread of the Python process waited on a lock with no timeout,
    /// using no CPU, for the cell's `deadlock_s`: nothing left could wake
    /// it. Its stacks were taken and its process group killed, as at a
    /// timeout, without waiting for one.
    Deadlocked {
        after_ms: u64,
        /// What each thread waited on, one line each ("tid 12 (python3):
        /// futex wait, no timeout").
        threads: Vec<String>,
    },
}

impl Termination {
    /// A crash or a hang, as opposed to an exit.
    pub fn is_abnormal(&self) -> bool {
        !matches!(self, Termination::Exited { .. })
    }

    /// Ended by the runner because it would not end by itself: a timeout or
    /// a deadlock.
    pub fn is_hang(&self) -> bool {
        matches!(
            self,
            Termination::TimedOut { .. } | Termination::Deadlocked { .. }
        )
    }
}

/// An earlier run of a cell that told nothing of the target (the
/// interpreter failed before the target was touched, or the harness failed
/// on its own), and so was run again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    pub termination: Termination,
    /// The last step it announced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_step: Option<Step>,
    /// The harness's own last words, when it failed on its own (its `fatal`
    /// event).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fatal: Option<String>,
    /// Of a repeated cell: which of its runs (from 1) was made again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<u32>,
}

impl Attempt {
    /// What is kept of a run that is made again.
    pub fn of(obs: &Observation) -> Attempt {
        Attempt {
            termination: obs.termination.clone(),
            last_step: obs.last_step(),
            fatal: obs.fatal().map(str::to_owned),
            run: None,
        }
    }
}

/// What one harness run reported, unjudged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    pub events: Vec<Event>,
    /// Lines on the observation channel that carried the run's token but
    /// were not valid events (the first [`PROTOCOL_ERRORS_KEPT`]; the rest
    /// are counted in [`Streams::protocol_errors_dropped`]).
    pub protocol_errors: Vec<String>,
    pub termination: Termination,
    pub stdout_tail: String,
    pub stderr_tail: String,
    /// Earlier attempts of this cell, if it was retried (of every run, for
    /// a repeated cell).
    pub retries: Vec<Attempt>,
    /// A cell run several times (`repeat`): the outcome of every run, in
    /// order; this observation is the run with the worst one. Empty for a
    /// cell run once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repeats: Vec<Outcome>,
    /// What the runner saw of the channel and the output besides events.
    #[serde(default)]
    pub streams: Streams,
    /// What the runner had to do or could not do (a supervisor that did not
    /// stop when asked, a stream still open after the exit).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runner_notes: Vec<String>,
}

/// How the cell's streams fared: lines that were not the harness's, what
/// was dropped, what was cut off at its cap.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Streams {
    /// Lines on the observation channel without the run's token: written by
    /// something other than the harness, never trusted.
    pub foreign_lines: u64,
    /// The first [`FOREIGN_SAMPLES`] of them, cut to 200 characters.
    pub foreign_samples: Vec<String>,
    /// Protocol errors beyond the ones kept.
    pub protocol_errors_dropped: u64,
    /// The observation channel passed its cap: the runner stopped reading
    /// it (the writer's next write failed), so events may be missing.
    pub channel_cut: bool,
    /// Bytes of stdout/stderr read and not kept (everything before the
    /// tail).
    pub stdout_dropped_bytes: u64,
    pub stderr_dropped_bytes: u64,
    /// stdout/stderr passed its cap: the runner stopped reading it (the
    /// writer's next write failed with EPIPE).
    pub stdout_cut: bool,
    pub stderr_cut: bool,
}

impl Observation {
    /// An observation of `events` ending in `termination`, with nothing
    /// else seen: no output, no retries, no notes.
    pub fn new(events: Vec<Event>, termination: Termination) -> Self {
        Observation {
            events,
            protocol_errors: Vec::new(),
            termination,
            stdout_tail: String::new(),
            stderr_tail: String::new(),
            retries: Vec::new(),
            repeats: Vec::new(),
            streams: Streams::default(),
            runner_notes: Vec::new(),
        }
    }

    /// The process hung or died before any step that runs the target: the
    /// interpreter failed on its own, and the cell says nothing about the
    /// target.
    pub fn failed_before_target(&self) -> bool {
        self.termination.is_abnormal() && !self.steps().any(|s| s.action.runs_target())
    }

    /// The harness's own failure, in its words: the message of its last
    /// `fatal` event.
    pub fn fatal(&self) -> Option<&str> {
        self.events.iter().rev().find_map(|e| match e {
            Event::Fatal { message } => Some(message.as_str()),
            _ => None,
        })
    }

    /// The harness reported `done`: the scenario ran to its end.
    pub fn reported_done(&self) -> bool {
        self.events.iter().any(|e| matches!(e, Event::Done))
    }

    /// The harness reported `done` and exited 0: every step ran.
    pub fn finished(&self) -> bool {
        matches!(self.termination, Termination::Exited { code: 0 }) && self.reported_done()
    }

    /// The module the harness imported, as its `start` event says (`None`
    /// for an observation kept by an older extmatrix).
    pub fn module(&self) -> Option<&str> {
        self.events.iter().find_map(|e| match e {
            Event::Start { module, .. } if !module.is_empty() => Some(module.as_str()),
            _ => None,
        })
    }

    /// The modules the target's first import and smoke code brought in.
    pub fn pulled_in(&self) -> impl Iterator<Item = &str> + '_ {
        self.events.iter().filter_map(|e| match e {
            Event::PulledIn { module } => Some(module.as_str()),
            _ => None,
        })
    }

    /// The figures of every cycle reported, in order.
    pub fn cycles(&self) -> impl Iterator<Item = &CycleFigures> + '_ {
        self.events.iter().filter_map(|e| match e {
            Event::Cycle(c) => Some(c),
            _ => None,
        })
    }

    /// The last step the harness announced: where a crash or hang happened.
    pub fn last_step(&self) -> Option<Step> {
        self.steps().last()
    }

    /// The steps announced, in order.
    pub fn steps(&self) -> impl Iterator<Item = Step> + '_ {
        self.events.iter().filter_map(|e| match e {
            Event::Step { step } => Some(*step),
            _ => None,
        })
    }
}

/// Parse the observation channel of a harness run by hand (no `--token`,
/// every line trusted); lines that are not events are returned separately
/// (the last one is often cut short by a crash). The runner reads through a
/// [`ChannelReader`] instead.
pub fn parse(text: &str) -> (Vec<Event>, Vec<String>) {
    let mut events = Vec::new();
    let mut errors = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str(line) {
            Ok(ev) => events.push(ev),
            Err(e) => errors.push(format!(
                "{e}: {}",
                line.chars().take(200).collect::<String>()
            )),
        }
    }
    (events, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_events_and_keeps_bad_lines() {
        let text = concat!(
            "{\"ev\":\"step\",\"step\":\"cycle 2: import\"}\n",
            "{\"ev\":\"error\",\"where\":\"import\",\"phase\":\"import\",\"exc_type\":\"ImportError\",\"message\":\"no\"}\n",
            "{\"ev\":\"shared\",\"label\":\"old/new\",\"path\":\"W\",\"type\":\"type\",\"addr\":\"0x1\",\"lives\":\"extension\",\"immortal\":true,\"interned\":false,\"future\":1}\n",
            "{\"ev\":\"unsupported\",\"needs\":\"free-threaded-build\"}\n",
            "{\"ev\":\"done\"}\n",
            "{\"ev\":\"step\",\"st"
        );
        let (events, errors) = parse(text);
        assert_eq!(events.len(), 5);
        assert_eq!(errors.len(), 1);
        assert_eq!(
            events[0],
            Event::Step {
                step: Step::new(Stage::Cycle(2), Action::Import)
            }
        );
        assert!(matches!(&events[1], Event::Error(f)
            if f.step == Step::new(Stage::Main, Action::Import) && f.phase == ErrorPhase::Import));
        assert!(
            matches!(&events[2], Event::Shared(s) if s.lives == Lives::Extension && s.immortal && s.label == Comparison::OldNew && s.owner_lives.is_none())
        );
        let attribute = "{\"ev\":\"shared\",\"label\":\"old/new\",\"path\":\"E.__new__\",\"type\":\"builtin_function_or_method\",\"addr\":\"0x2\",\"lives\":\"heap\",\"immortal\":false,\"interned\":false,\"owner_lives\":\"libpython\"}";
        assert_eq!(
            events[3],
            Event::Unsupported {
                needs: Requirement::FreeThreadedBuild
            }
        );
        let (parsed, bad) = parse(attribute);
        assert!(bad.is_empty(), "{bad:?}");
        assert!(matches!(&parsed[0], Event::Shared(s) if s.owner_lives == Some(Lives::Libpython)));
    }

    #[test]
    fn an_unknown_word_is_a_protocol_error() {
        for line in [
            "{\"ev\":\"step\",\"step\":\"cycle 2: imprt\"}",
            "{\"ev\":\"shared\",\"label\":\"old/neu\",\"path\":\"W\",\"type\":\"type\",\"addr\":\"0x1\",\"lives\":\"extension\",\"immortal\":true,\"interned\":false}",
            "{\"ev\":\"shared\",\"label\":\"old/new\",\"path\":\"W\",\"type\":\"type\",\"addr\":\"0x1\",\"lives\":\"extensoin\",\"immortal\":true,\"interned\":false}",
            "{\"ev\":\"shared\",\"label\":\"old/new\",\"path\":\"W.x\",\"type\":\"str\",\"addr\":\"0x1\",\"lives\":\"heap\",\"immortal\":false,\"interned\":false,\"owner_lives\":\"libpyton\"}",
            "{\"ev\":\"declared\",\"init\":\"single phase\"}",
            "{\"ev\":\"error\",\"where\":\"import\",\"phase\":\"smoak\",\"exc_type\":\"E\",\"message\":\"\"}",
            "{\"ev\":\"unsupported\",\"needs\":\"3.12\"}",
        ] {
            let (events, errors) = parse(line);
            assert!(events.is_empty() && errors.len() == 1, "{line}");
        }
    }

    fn observation(steps: &[&str], termination: Termination) -> Observation {
        let steps = steps.iter().map(|s| Event::Step {
            step: s.parse().unwrap(),
        });
        Observation::new(steps.collect(), termination)
    }

    #[test]
    fn only_failures_before_the_import_are_the_interpreters_own() {
        let hung = Termination::TimedOut {
            after_ms: 1,
            waited_ms: 0,
        };
        let segv = Termination::Signaled {
            signal: 11,
            name: "SIGSEGV".into(),
        };
        assert!(observation(&["init"], hung.clone()).failed_before_target());
        assert!(observation(&["cycle 1: init"], segv.clone()).failed_before_target());
        // Once the target was imported, a hang or crash is the target's.
        assert!(!observation(&["init", "import"], hung.clone()).failed_before_target());
        assert!(!observation(
            &["cycle 1: init", "cycle 1: import", "cycle 2: init"],
            hung.clone()
        )
        .failed_before_target());
        assert!(!observation(&["init", "subinterp own: import"], segv).failed_before_target());
        assert!(!observation(&["init"], Termination::Exited { code: 3 }).failed_before_target());
        assert_eq!(
            observation(&["init", "import"], hung).last_step(),
            Some(Step::new(Stage::Main, Action::Import))
        );
    }

    #[test]
    fn observations_round_trip_as_json() {
        let obs = observation(
            &["init", "reimport: smoke old instance"],
            Termination::Signaled {
                signal: 6,
                name: "SIGABRT".into(),
            },
        );
        let text = serde_json::to_string(&obs).unwrap();
        assert_eq!(serde_json::from_str::<Observation>(&text).unwrap(), obs);
    }

    #[test]
    fn c_frames_are_gdbs_numbered_lines_or_every_line_of_a_backtrace() {
        let gdb = Forensics {
            signal: "SIGSEGV".into(),
            python: String::new(),
            c: "[Thread debugging]\nThread 1 (LWP 7):\n#0  0x1 in f ()\n\n#1  0x2 in g ()\n".into(),
            ..Forensics::default()
        };
        assert_eq!(gdb.c_frames(), ["#0  0x1 in f ()", "#1  0x2 in g ()"]);
        let glibc = Forensics {
            c: "./harness(+0x1234)[0x55]\n\n/lib/libc.so.6(+0x99)[0x7f]\n".into(),
            ..gdb
        };
        assert_eq!(
            glibc.c_frames(),
            ["./harness(+0x1234)[0x55]", "/lib/libc.so.6(+0x99)[0x7f]"]
        );
    }

    fn observed(lines: &str, termination: Termination) -> Observation {
        let mut reader = ChannelReader::new(None);
        reader.feed(lines.as_bytes());
        assert_eq!(reader.events().len(), lines.lines().count(), "{lines}");
        let channel = reader.finish();
        Observation::new(channel.events, termination)
    }

    #[test]
    fn an_observation_answers_what_the_rules_ask() {
        let lines = concat!(
            "{\"ev\":\"pulled_in\",\"module\":\"json\"}\n",
            "{\"ev\":\"cycle\",\"n\":1,\"us\":5,\"rss_kb\":9}\n",
            "{\"ev\":\"step\",\"step\":\"finalize\"}\n",
            "{\"ev\":\"done\"}\n",
        );
        let done = observed(lines, Termination::Exited { code: 0 });
        assert!(done.reported_done() && done.finished());
        assert_eq!(done.pulled_in().collect::<Vec<_>>(), ["json"]);
        let cycles: Vec<&CycleFigures> = done.cycles().collect();
        assert_eq!(cycles.len(), 1);
        assert!(cycles[0].ok, "a cycle that does not say is ok");
        let status = observed(lines, Termination::Exited { code: 3 });
        assert!(status.reported_done() && !status.finished());
        let cut = observed(
            "{\"ev\":\"step\",\"step\":\"import\"}\n",
            Termination::Exited { code: 0 },
        );
        assert!(!cut.reported_done() && !cut.finished());
        assert_eq!(cut.pulled_in().count(), 0);
    }

    #[test]
    fn a_workers_error_and_crash_name_the_worker_and_its_round() {
        let lines = concat!(
            "{\"ev\":\"error\",\"where\":\"subinterp own 2: smoke\",\"phase\":\"smoke\",",
            "\"exc_type\":\"AssertionError\",\"message\":\"\",\"worker\":3,\"round\":17}\n",
            "{\"ev\":\"error\",\"where\":\"subinterp own 1: import\",\"phase\":\"import\",",
            "\"exc_type\":\"ImportError\",\"message\":\"no\",\"worker\":2,\"round\":0}\n",
            "{\"ev\":\"forensics\",\"signal\":\"SIGSEGV\",\"workers\":\"worker 1: smoke, round 7\\n\",",
            "\"worker\":1,\"round\":7}\n",
            "{\"ev\":\"error\",\"where\":\"import\",\"phase\":\"import\",",
            "\"exc_type\":\"ImportError\",\"message\":\"no\"}\n",
        );
        let obs = observed(lines, Termination::Exited { code: 0 });
        let suffix = |e: &Event| match e {
            Event::Error(err) => err.worker_suffix(),
            Event::Forensics(f) => f.worker_suffix(),
            other => panic!("{other:?}"),
        };
        assert_eq!(suffix(&obs.events[0]), " (worker 3, round 17)");
        assert_eq!(suffix(&obs.events[1]), " (worker 2)", "outside its rounds");
        assert_eq!(suffix(&obs.events[2]), " (worker 1, round 7)");
        assert_eq!(suffix(&obs.events[3]), "", "the main thread's error");
        let text = serde_json::to_string(&obs).unwrap();
        assert_eq!(serde_json::from_str::<Observation>(&text).unwrap(), obs);
    }

    #[test]
    fn the_start_event_names_the_module_and_an_error_what_was_not_found() {
        let lines = concat!(
            "{\"ev\":\"start\",\"scenario\":\"import\",\"compiled_for\":\"3.13.0\",",
            "\"module\":\"pkg._x\",\"pid\":7}\n",
            "{\"ev\":\"error\",\"where\":\"import\",\"phase\":\"import\",",
            "\"exc_type\":\"ModuleNotFoundError\",\"message\":\"No module named 'yaml'\",",
            "\"not_found\":\"yaml\"}\n",
        );
        let obs = observed(lines, Termination::Exited { code: 0 });
        assert_eq!(obs.module(), Some("pkg._x"));
        let Event::Error(err) = &obs.events[1] else {
            panic!("{:?}", obs.events[1]);
        };
        assert_eq!(err.not_found.as_deref(), Some("yaml"));
        // An observation kept by an older extmatrix: no module, no name.
        let old = observed(
            "{\"ev\":\"start\",\"scenario\":\"import\",\"compiled_for\":\"3.13.0\",\"pid\":7}\n",
            Termination::Exited { code: 0 },
        );
        assert_eq!(old.module(), None);
    }
}
