//! The shared vocabulary of extmatrix: scenarios, outcomes, build variants,
//! what a scenario requires of CPython, and interpreter ids.
//!
//! Every other crate speaks in these terms; nothing here does I/O. A new
//! scenario or outcome is added here first, and the compiler then points at
//! every place (harness table, judge, report) that must learn about it.

pub mod expect;
pub mod pattern;

use serde::{Deserialize, Serialize};
use std::fmt;

/// An enum whose members have one string id each, used in matrix files, on
/// the command line, on the harness's wire and in the JSON report: `ALL`,
/// `id()`, `Display`, `FromStr` (unknown ids list the allowed ones) and serde
/// as the id, written once.
#[macro_export]
macro_rules! id_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident as $kind:literal {
            $( $(#[$vmeta:meta])* $variant:ident = $id:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        $vis enum $name { $( $(#[$vmeta])* $variant, )+ }

        impl $name {
            /// Every member, in declaration order.
            pub const ALL: &'static [$name] = &[ $( $name::$variant, )+ ];

            pub fn id(self) -> &'static str {
                match self { $( $name::$variant => $id, )+ }
            }

            /// The ids, comma-separated, for messages.
            pub fn allowed_ids() -> String {
                Self::ALL.iter().map(|x| x.id()).collect::<Vec<_>>().join(", ")
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.id())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL.iter().copied().find(|x| x.id() == s).ok_or_else(|| {
                    format!("unknown {} `{s}`; allowed: {}", $kind, Self::allowed_ids())
                })
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.id())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <String as ::serde::Deserialize>::deserialize(d)?;
                s.parse().map_err(<D::Error as ::serde::de::Error>::custom)
            }
        }
    };
}

id_enum! {
    /// What one cell of the matrix runs in the harness.
    pub enum Scenario as "scenario" {
        /// Import once in the main interpreter and run the smoke code.
        Import = "import",
        /// N x (initialize, import, smoke, finalize) in one process.
        Reinit = "reinit",
        /// Import, keep it, `del sys.modules[name]`, import again, compare.
        Reimport = "reimport",
        /// `Py_NewInterpreter()`: the legacy, shared-everything subinterpreter.
        SubinterpLegacy = "subinterp-legacy",
        /// Isolated subinterpreter sharing the main GIL (3.12+).
        SubinterpShared = "subinterp-shared",
        /// Isolated subinterpreter with its own GIL (3.12+, PEP 684).
        SubinterpOwn = "subinterp-own",
        /// Import in the main interpreter, then M x (create a
        /// subinterpreter, import, smoke, end it); the kind is the most
        /// isolated one the module declares (or `options.subinterp`).
        SubinterpCycle = "subinterp-cycle",
        /// K own-GIL subinterpreters on K threads at once (3.12+, PEP 684),
        /// released together, each importing and running the smoke code R
        /// rounds; W waves, so creation and teardown overlap too.
        SubinterpParallel = "subinterp-parallel",
        /// On a free-threaded build: does the import re-enable the GIL? Then
        /// the smoke code on T threads at once, R rounds each.
        FreeThreading = "free-threading",
        /// The module registered with `PyImport_AppendInittab` before every
        /// init, as an embedder links it: N x (init, import, smoke, one
        /// subinterpreter, finalize).
        Inittab = "inittab",
    }
}

id_enum! {
    /// Which kind of subinterpreter a `subinterp-*` scenario creates.
    pub enum SubinterpKind as "subinterpreter kind" {
        /// `Py_NewInterpreter()`.
        Legacy = "legacy",
        /// Isolated config, the main interpreter's GIL.
        Shared = "shared",
        /// Isolated config, its own GIL.
        Own = "own",
    }
}

id_enum! {
    /// What a scenario needs of the interpreter build. The harness reports
    /// an unmet requirement by this id; its wording lives here only.
    pub enum Requirement as "requirement" {
        /// `Py_NewInterpreterFromConfig`: CPython 3.12+.
        IsolatedSubinterpreters = "isolated-subinterpreters",
        /// A `--disable-gil` build (PEP 703, 3.13+).
        FreeThreadedBuild = "free-threaded-build",
    }
}

impl Requirement {
    pub fn met_by(self, version: PythonVersion, free_threaded: bool) -> bool {
        match self {
            Requirement::IsolatedSubinterpreters => version >= PythonVersion::new(3, 12, 0),
            Requirement::FreeThreadedBuild => free_threaded,
        }
    }

    /// Why a cell needing this is `n/a`.
    pub fn reason(self) -> &'static str {
        match self {
            Requirement::IsolatedSubinterpreters => {
                "Py_NewInterpreterFromConfig (isolated subinterpreters, PEP 684) needs CPython 3.12+"
            }
            Requirement::FreeThreadedBuild => {
                "needs a free-threaded build (--disable-gil, PEP 703, 3.13+)"
            }
        }
    }
}

/// How many times a stress scenario's cell runs when neither the matrix nor
/// the command line says: a race that fails one run in three still shows.
pub const STRESS_REPEAT: u32 = 3;

impl Scenario {
    /// Whether this scenario repeats a cycle and reports figures per cycle
    /// (what the leak rule reads).
    pub fn is_cycling(self) -> bool {
        matches!(
            self,
            Scenario::Reinit | Scenario::Reimport | Scenario::SubinterpCycle | Scenario::Inittab
        )
    }

    /// Whether this scenario runs workers at once, so that a race fails it
    /// only sometimes: it runs [`STRESS_REPEAT`] times unless told
    /// otherwise.
    pub fn is_stress(self) -> bool {
        matches!(self, Scenario::SubinterpParallel | Scenario::FreeThreading)
    }

    /// What this scenario needs of CPython beyond a working embedding.
    pub fn requirement(self) -> Option<Requirement> {
        match self {
            Scenario::SubinterpShared | Scenario::SubinterpOwn | Scenario::SubinterpParallel => {
                Some(Requirement::IsolatedSubinterpreters)
            }
            Scenario::FreeThreading => Some(Requirement::FreeThreadedBuild),
            _ => None,
        }
    }

    /// Why this scenario cannot run on an interpreter of `version`
    /// (free-threaded or not), if it cannot.
    ///
    /// This is a property of CPython, not of the target: the cell becomes
    /// `n/a` without running anything.
    pub fn unsupported_reason(self, version: PythonVersion, free_threaded: bool) -> Option<String> {
        let needs = self.requirement()?;
        (!needs.met_by(version, free_threaded)).then(|| match needs {
            Requirement::IsolatedSubinterpreters => {
                format!("{}; this is {version}", needs.reason())
            }
            Requirement::FreeThreadedBuild => needs.reason().to_owned(),
        })
    }
}

id_enum! {
    /// The verdict of one cell. Declared from least to most severe: when a
    /// cell observes several things, the most severe one is its outcome
    /// (`Ord`). docs/outcomes.md documents this order.
    pub enum Outcome as "outcome" {
        Pass = "pass",
        /// The import failed the way the module's declaration says it must.
        Refused = "refused",
        /// The interpreter build lacks what the scenario needs.
        NotApplicable = "n/a",
        /// Objects reachable from the module are shared across interpreters
        /// or survive a re-import.
        SharedState = "shared-state",
        /// A second instance of the module broke the first: the first
        /// instance's smoke code, run again after the second existed, failed
        /// (C-global or `PyState_FindModule` state shared by the instances),
        /// or a later instance failed only after an earlier one had run.
        StateClobbered = "state-clobbered",
        /// Memory, blocks or references grow with every cycle beyond what
        /// the interpreter itself keeps (the baseline).
        Leak = "leak",
        /// On a free-threaded build, importing the module re-enabled the GIL.
        GilEnabled = "gil-enabled",
        /// The module broke a promise its declaration makes: it declares
        /// subinterpreter support yet shares objects or state between
        /// interpreters, or declares `Py_MOD_GIL_NOT_USED` yet the GIL was
        /// re-enabled by its import.
        DeclarationMismatch = "declaration-mismatch",
        /// The import or the smoke code raised.
        ImportError = "import-error",
        /// The harness died of a signal.
        Crash = "crash",
        /// The timeout expired; the process group was killed.
        Hang = "hang",
        /// The target could not be compiled for this interpreter.
        BuildFailed = "build-failed",
        /// The harness itself misbehaved (could not start, broke its protocol).
        HarnessError = "harness-error",
    }
}

impl Outcome {
    /// Whether this outcome makes `extmatrix run` exit non-zero.
    ///
    /// `shared-state` is a finding to report, not a broken run; expectations
    /// files (a later addition) will let a project decide otherwise.
    pub fn fails_run(self) -> bool {
        matches!(
            self,
            Outcome::DeclarationMismatch
                | Outcome::ImportError
                | Outcome::Crash
                | Outcome::Hang
                | Outcome::BuildFailed
                | Outcome::HarnessError
        )
    }

    /// Whether the cell found something about the module: an outcome more
    /// severe than `n/a` (`pass`, `refused` and `n/a` find nothing). What
    /// "failed k of N runs" counts.
    pub fn is_finding(self) -> bool {
        self > Outcome::NotApplicable
    }
}

id_enum! {
    /// Why a cell failed, when the evidence names a known cause: a
    /// message CPython, Cython, PyO3 or numpy is known to raise, or a shape
    /// of the evidence itself (a module the import did not find). It never changes the outcome, except
    /// `also-without-target`, which keeps a failure from failing the run.
    /// docs/outcomes.md ("Reasons") says what each means and what to fix.
    pub enum Reason as "reason" {
        /// CPython refused the module in an isolated subinterpreter: it is
        /// single-phase, or its `Py_mod_multiple_interpreters` says no.
        SubinterpRefused = "subinterp-refused",
        /// The same refusal in a legacy subinterpreter of a free-threaded
        /// build, which checks what isolated ones check (gh-117649).
        SubinterpRefusedFreeThreaded = "subinterp-refused-free-threaded",
        /// CPython re-enabled the GIL for the module (its RuntimeWarning).
        GilReenabled = "gil-reenabled",
        /// Cython's guard: one interpreter per process.
        CythonInterpreterChange = "cython-interpreter-change",
        /// Cython's guard: the module's exec ran a second time.
        CythonNoReinit = "cython-no-reinit",
        /// PyO3 (before 0.23's per-interpreter support on 3.12+) refuses
        /// every interpreter but the first.
        Pyo3Subinterpreter = "pyo3-subinterpreter",
        /// A module guarding its exec with a process-wide flag, as numpy
        /// and the isolation HOWTO do: "cannot load module more than once
        /// per process".
        OncePerProcess = "once-per-process",
        /// numpy's UserWarning in a subinterpreter.
        NumpySubinterpreterWarning = "numpy-subinterpreter-warning",
        /// The module imports again after a re-init or re-import, but
        /// lacks attributes its first instance had (a once-only C guard
        /// skipped part of its init).
        LostAttributes = "lost-attributes",
        /// The import or the smoke code raised `ModuleNotFoundError` for a
        /// module outside the target's top-level package: a dependency
        /// that is not installed beside the target.
        MissingDependency = "missing-dependency",
        /// The process ended (`exit()`, `abort()`, `Py_FatalError`) while
        /// the target was importing or running.
        EndedByTarget = "ended-by-target",
        /// The sanitizer the interpreter was built with (ThreadSanitizer,
        /// `--with-thread-sanitizer`) reported a defect and ended the
        /// process.
        Sanitizer = "sanitizer",
        /// A `hang` ended early: every thread of the Python process waited
        /// on a lock with no timeout, using no CPU, for `deadlock_s`.
        Deadlock = "deadlock",
        /// A `harness-error`: the cell reached its limit in all (three
        /// times its timeout) before its timeout of its own time, its main
        /// thread ready to run the rest while other processes held every CPU.
        MachineBusy = "machine-busy",
        /// The target's build stopped itself on this interpreter: its own
        /// `#error` or `static_assert`, a build backend raising on the
        /// version or ABI, a build script refusing it (PyO3's "does not
        /// support the free-threaded build"). A refusal, not a broken build.
        BuildRefusedByPackage = "build-refused-by-package",
        /// The same scenario on the same interpreter, importing what the
        /// target pulled in but not the target, failed the same way: the
        /// interpreter's bug, not the module's. Does not fail the run.
        AlsoWithoutTarget = "also-without-target",
    }
}

impl Reason {
    /// What to change, in docs/outcomes.md's words ("Reasons", third
    /// column): a finding with this reason says it as its fix.
    pub fn what_to_fix(self) -> &'static str {
        match self {
            Reason::SubinterpRefused => "nothing, if the module means it (`refused`); port to multi-phase init with per-module state and declare `Py_mod_multiple_interpreters` to be loadable",
            Reason::SubinterpRefusedFreeThreaded => "nothing, if the module means it; single-phase modules cannot be loaded in any subinterpreter of a free-threaded build: port to multi-phase init with per-module state to be loadable",
            Reason::GilReenabled => "add `Py_mod_gil = Py_MOD_GIL_NOT_USED` once the module is thread-safe (or the module named in the warning, when it is a dependency)",
            Reason::CythonInterpreterChange => "build with Cython 3.1+ and `CYTHON_USE_MODULE_STATE`, or declare the module not-supported",
            Reason::CythonNoReinit => "build with Cython 3.1+ and `CYTHON_USE_MODULE_STATE`: re-init needs module state",
            Reason::Pyo3Subinterpreter => "a PyO3 release with per-interpreter support, or declare the module not-supported",
            Reason::OncePerProcess => "per-module state, then drop the guard",
            Reason::NumpySubinterpreterWarning => "avoid numpy in subinterpreters; nothing in the module under test",
            Reason::LostAttributes => "make init idempotent: run all of it for every module object",
            Reason::MissingDependency => "declare it in the project's runtime dependencies (`[project] dependencies`: a `pip` target installs them beside it); if only the project's tests need it, leave the module that imports it out (`exclude:`), or, when the smoke code imports it, import it no longer there",
            Reason::EndedByTarget => "the code path in `details.forensics` / `details.fatal_error`",
            Reason::Sanitizer => "the two accesses the report names (its whole text in `details.stderr_tail`): a data race is two threads or interpreters touching the same memory without a lock or an atomic",
            Reason::Deadlock => "the lock each thread waits on (`details.forensics` has every thread's stacks): one taken and never released, taken again by the thread that holds it, or waited for while holding the GIL another thread needs",
            Reason::MachineBusy => "run fewer cells at once (`--jobs`), or on a quieter machine; nothing in the module",
            Reason::BuildRefusedByPackage => "nothing, if the package means it; drop the interpreter from the matrix, or use a release of the package (or of PyO3) that supports it",
            Reason::AlsoWithoutTarget => "upgrade the interpreter, or the dependency the control's imports name",
        }
    }
}

impl Outcome {
    /// What it means, in docs/outcomes.md's words (the outcomes table's
    /// "meaning" column): what a report's legend says of it.
    pub fn meaning(self) -> &'static str {
        match self {
            Outcome::Pass => "imported, smoke code ran, nothing shared",
            Outcome::Refused => r#"the import failed with CPython's "does not support loading in subinterpreters" ImportError, and that is what the module's declaration implies: correct behaviour"#,
            Outcome::NotApplicable => "the interpreter lacks what the scenario needs (isolated subinterpreters before 3.12, `free-threading` on a build with a GIL)",
            Outcome::SharedState => r#"objects reachable from the module are the very same objects in another interpreter, or survive a re-import; each is named with where it lives (see "Where a shared object lives")"#,
            Outcome::StateClobbered => r#"a second instance broke the first: the first instance's smoke code, run again once a second instance exists (`… smoke old instance`), failed — C-global or `PyState_FindModule` state (see "Clobbered state")"#,
            Outcome::Leak => r#"a cycling scenario (`reinit`, `reimport`, `subinterp-cycle`, `inittab`): references, blocks or memory grow with every cycle beyond what the same cycles grow by with an empty module (the baseline); `details.leak` has both series, the slope and the rule that fired (see "When is it a leak?")"#,
            Outcome::GilEnabled => "on a free-threaded build, in any scenario: importing the module re-enabled the GIL (it lacks `Py_mod_gil = Py_MOD_GIL_NOT_USED`); CPython's RuntimeWarning is in the summary and `details.warnings`",
            Outcome::DeclarationMismatch => r#"the module broke a promise its declaration makes (see "Declarations against behaviour"): it promises isolation yet shares objects with a subinterpreter or its first instance is clobbered, or it declares `Py_MOD_GIL_NOT_USED` yet its import turned the GIL on"#,
            Outcome::ImportError => "the import or the smoke code raised (and it was not a correct refusal)",
            Outcome::Crash => r#"the harness died of a signal, or the target ended the process (`exit()`, `abort()`, `Py_FatalError`) while it was importing or running; `details.signal` or `details.exit_code`, `details.step`, `details.fatal_error` and `details.forensics` say which, where and how (see "Forensics")"#,
            Outcome::Hang => "the cell outlived its timeout (in its own time: what it waited for a CPU other processes held does not count), or deadlocked (reason `deadlock`); its process group was killed; `details.step` says where it was, `details.forensics` every thread's Python and C stacks taken just before the kill",
            Outcome::BuildFailed => r#"the target did not compile for this interpreter; the summary says why in the words of whoever stopped the build, `details.build` has the cause, the command and the compiler's output (see "Why a build failed")"#,
            Outcome::HarnessError => "the harness could not be built or started, failed on its own (its `fatal` event), ended early in a step that does not run the target, or one of the cell's streams passed its cap (see below), or the machine was too busy to finish it (reason `machine-busy`); all but the last two are tried again first (up to three attempts, fewer when one exits as the one before it did), each earlier attempt in `details.retries`",
        }
    }
}

impl Reason {
    /// What it means, in docs/outcomes.md's words ("Reasons", second
    /// column): what a report says beside the reason's id.
    pub fn meaning(self) -> &'static str {
        match self {
            Reason::SubinterpRefused => r#"CPython refused the module in an isolated subinterpreter: "does not support loading in subinterpreters""#,
            Reason::SubinterpRefusedFreeThreaded => "the same refusal in a *legacy* subinterpreter of a free-threaded build, which checks what isolated ones check (gh-117649)",
            Reason::GilReenabled => "CPython's RuntimeWarning: it turned the GIL on to load a module",
            Reason::CythonInterpreterChange => r#"Cython's "Interpreter change detected": a Cython module refuses every interpreter but the first"#,
            Reason::CythonNoReinit => r#"Cython's "Re-initialisation is not supported": its exec ran a second time in one process"#,
            Reason::Pyo3Subinterpreter => r#"PyO3's "PyO3 modules do not yet support subinterpreters""#,
            Reason::OncePerProcess => r#""cannot load module more than once per process": a process-wide guard in the module's exec (numpy's, and the isolation HOWTO's example)"#,
            Reason::NumpySubinterpreterWarning => "numpy's UserWarning when imported in a subinterpreter",
            Reason::LostAttributes => "a later instance (after a re-init, a re-import, in a subinterpreter) imports but its smoke code does not find an attribute the first instance had: a once-only C guard skipped part of init",
            Reason::MissingDependency => "the import or the smoke code raised `ModuleNotFoundError` for a module outside the target's top-level package (the exception's `name`, in `details.errors[].not_found`): a dependency that is not installed beside the target. The summary names it. A `ModuleNotFoundError` for the target's own package (a module the build did not produce) is a plain `import-error`",
            Reason::EndedByTarget => "the process ended (`exit()`, `abort()` via `Py_FatalError`) while the target was importing or running",
            Reason::Sanitizer => "the sanitizer the interpreter was built with (ThreadSanitizer: `configure: [--with-thread-sanitizer]`) reported a defect and stopped the process at once (the harness asks it to: `halt_on_error=1`); the summary quotes its `SUMMARY:` line and names the step",
            Reason::Deadlock => "a `hang` ended before its timeout: every thread of the Python process waited on a lock with no timeout (a futex wait), using no CPU, for `deadlock_s` (default 3 s); `details.waits` says what each thread waited on. A sleep, a wait with a timeout or a wait on I/O can end by itself and waits for the timeout",
            Reason::MachineBusy => "a `harness-error`: the cell reached three times its timeout with less than its timeout of its own time; the rest of it, its main thread was ready to run while other processes held every CPU. Nothing is known of the target. The cell is not tried again: the same load would starve it again, at three timeouts a try (`timeout_s` in docs/matrix-format.md)",
            Reason::BuildRefusedByPackage => r#"a `build-failed` cell whose build the package stopped on purpose on this interpreter: its own `#error` or `static_assert`, a build backend raising on the version or ABI, a build script refusing it (PyO3's "does not support the free-threaded build of CPython versions below 3.14"); the table shows `build-failed (refused)` (see "Why a build failed")"#,
            Reason::AlsoWithoutTarget => "the control run (the same scenario importing only what the target imports) failed the same way: the interpreter's bug or a dependency's; does not fail the run",
        }
    }
}

id_enum! {
    /// Where a failed build was when it failed, as far as its output says.
    pub enum BuildPhase as "build phase" {
        /// Fetching what is built (`pip download` of an sdist).
        Downloading = "downloading",
        /// pip installing `build-system.requires` into the isolated build
        /// environment.
        InstallingBuildDependencies = "installing-build-dependencies",
        /// The backend's `get_requires_for_build_wheel` (setuptools runs
        /// `setup.py` here).
        GettingBuildRequirements = "getting-build-requirements",
        /// The backend's `prepare_metadata_for_build_wheel`.
        PreparingMetadata = "preparing-metadata",
        /// Building, where nothing says more precisely what.
        Building = "building",
        /// A cargo build script (`build.rs`: PyO3's checks the interpreter).
        RunningBuildScript = "running-build-script",
        /// A C, C++ or Rust compiler.
        Compiling = "compiling",
        /// The linker.
        Linking = "linking",
        /// Installing the built wheel and its runtime dependencies.
        Installing = "installing",
    }
}

impl BuildPhase {
    /// The phase in a summary's words: "while getting build requirements".
    pub fn words(self) -> &'static str {
        match self {
            BuildPhase::Downloading => "downloading the sources",
            BuildPhase::InstallingBuildDependencies => "installing build dependencies",
            BuildPhase::GettingBuildRequirements => "getting build requirements",
            BuildPhase::PreparingMetadata => "preparing metadata",
            BuildPhase::Building => "building",
            BuildPhase::RunningBuildScript => "running a build script",
            BuildPhase::Compiling => "compiling",
            BuildPhase::Linking => "linking",
            BuildPhase::Installing => "installing the wheel and its dependencies",
        }
    }
}

id_enum! {
    /// What kind of line a failed build's cause is.
    pub enum CauseKind as "build cause kind" {
        /// A C, C++ or Rust compiler's `error:`.
        CompilerError = "compiler-error",
        /// The package's own `#error` or failed `static_assert`: a stop its
        /// author wrote (one in the interpreter's or the system's headers
        /// is a `compiler-error`).
        ErrorDirective = "error-directive",
        /// The linker: an undefined reference, a library it cannot find.
        LinkerError = "linker-error",
        /// The last line of a Python traceback from a build backend.
        PythonException = "python-exception",
        /// What a cargo build script printed as `error:` or panicked with.
        BuildScript = "build-script",
        /// A build dependency that is not there: a module the backend
        /// cannot import, a requirement no index has.
        MissingBuildDependency = "missing-build-dependency",
        /// The network failed while fetching dependencies or sources: not
        /// the package's fault.
        Network = "network",
        /// A build tool's own error line (pip, cargo, the compiler driver)
        /// when nothing more precise was found.
        ToolError = "tool-error",
    }
}

/// The innermost cause of a failed build, in the words of whoever stopped
/// it: the compiler's, the linker's, the backend's exception, the build
/// script's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildCause {
    pub phase: BuildPhase,
    pub kind: CauseKind,
    /// One line, as written (less its `error:` prefix).
    pub message: String,
    /// `file:line` of a compiler's or a traceback's innermost frame, the
    /// crate whose build script failed; where the output names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

id_enum! {
    /// A build flavour of CPython, as a matrix names it;
    /// `extmatrix-cpython-build` maps each to its `./configure` flags.
    pub enum Variant as "variant" {
        Default = "default",
        Debug = "debug",
        FreeThreaded = "free-threaded",
        FreeThreadedDebug = "free-threaded-debug",
    }
}

/// A CPython version as the interpreter reports it (`sys.version_info`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PythonVersion {
    pub major: u32,
    pub minor: u32,
    pub micro: u32,
}

impl PythonVersion {
    pub const fn new(major: u32, minor: u32, micro: u32) -> Self {
        PythonVersion {
            major,
            minor,
            micro,
        }
    }
}

impl fmt::Display for PythonVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.micro)
    }
}

/// The cibuildwheel-style id of an interpreter build: `cp313`, `cp313t`
/// (free-threaded), `cp311d` (debug), `cp313td`.
pub fn python_id(version: PythonVersion, free_threaded: bool, debug: bool) -> String {
    format!(
        "cp{}{}{}{}",
        version.major,
        version.minor,
        if free_threaded { "t" } else { "" },
        if debug { "d" } else { "" }
    )
}

/// A module name Python can import with `import`: dotted identifiers,
/// none a keyword. `a`, `a.b_c`, `_x1`; not `1a`, `a..b`, `class`.
pub fn is_dotted_identifier(name: &str) -> bool {
    const KEYWORDS: &[&str] = &[
        "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class",
        "continue", "def", "del", "elif", "else", "except", "finally", "for", "from", "global",
        "if", "import", "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return",
        "try", "while", "with", "yield",
    ];
    name.split('.').all(|part| {
        let mut chars = part.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !KEYWORDS.contains(&part)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A failed build's summary says "failed while <words>": each phase's
    /// own words, which read as what the build was doing.
    #[test]
    fn build_phases_are_told_in_words_of_their_own() {
        assert_eq!(BuildPhase::Compiling.words(), "compiling");
        assert_eq!(BuildPhase::Linking.words(), "linking");
        assert_eq!(
            BuildPhase::GettingBuildRequirements.words(),
            "getting build requirements"
        );
        let words: std::collections::BTreeSet<&str> =
            BuildPhase::ALL.iter().map(|p| p.words()).collect();
        assert_eq!(words.len(), BuildPhase::ALL.len());
    }

    #[test]
    fn outcome_severity_follows_declaration_order() {
        assert!(Outcome::Pass < Outcome::Refused);
        assert!(Outcome::SharedState < Outcome::Crash);
        assert_eq!(
            [Outcome::SharedState, Outcome::Crash, Outcome::Pass]
                .into_iter()
                .max(),
            Some(Outcome::Crash)
        );
    }

    /// The severity order of docs/outcomes.md, least to most severe.
    const DOCUMENTED_ORDER: [&str; 13] = [
        "pass",
        "refused",
        "n/a",
        "shared-state",
        "state-clobbered",
        "leak",
        "gil-enabled",
        "declaration-mismatch",
        "import-error",
        "crash",
        "hang",
        "build-failed",
        "harness-error",
    ];

    /// Pinned: the whole severity order, not just a few pairs. `ALL` lists
    /// the outcomes in the documented order, and `Ord` (declaration order)
    /// agrees with it, so moving a variant in the enum breaks this test.
    #[test]
    fn outcome_order_is_the_documented_severity_order() {
        let ids: Vec<&str> = Outcome::ALL.iter().map(|o| o.id()).collect();
        assert_eq!(ids, DOCUMENTED_ORDER);
        for pair in Outcome::ALL.windows(2) {
            assert!(
                pair[0] < pair[1],
                "{} must be less severe than {}",
                pair[0],
                pair[1]
            );
        }
        let mut sorted = Outcome::ALL.to_vec();
        sorted.sort();
        assert_eq!(
            sorted,
            Outcome::ALL,
            "Ord disagrees with the documented order"
        );
        // The most severe of any two is the later one in the documented order.
        for (i, a) in Outcome::ALL.iter().enumerate() {
            for (j, b) in Outcome::ALL.iter().enumerate() {
                assert_eq!(*a.max(b), Outcome::ALL[i.max(j)], "max({a}, {b})");
            }
        }
    }

    /// Pinned: docs/outcomes.md's severity table lists the outcomes in the
    /// order the code uses.
    #[test]
    fn the_outcomes_doc_table_has_the_same_order() {
        let doc = outcomes_doc();
        let in_table: Vec<&str> = doc
            .lines()
            .filter_map(|l| l.strip_prefix("| `"))
            .filter_map(|l| l.split('`').next())
            .filter(|id| id.parse::<Outcome>().is_ok())
            .collect();
        assert_eq!(in_table, DOCUMENTED_ORDER);
    }

    /// Pinned: every reason code has its line in docs/outcomes.md's
    /// "Reasons" table, and the table names no code the enum lacks.
    #[test]
    fn every_reason_is_documented() {
        let doc = outcomes_doc();
        let section = doc.split("## Reasons").nth(1).expect("a Reasons section");
        let in_table: Vec<&str> = section
            .lines()
            .filter_map(|l| l.strip_prefix("| `"))
            .filter_map(|l| l.split('`').next())
            .collect();
        let ids: Vec<&str> = Reason::ALL.iter().map(|r| r.id()).collect();
        assert_eq!(in_table, ids);
    }

    /// Pinned: a finding's fix for a reason is docs/outcomes.md's "what to
    /// fix" for it, word for word.
    #[test]
    fn what_to_fix_is_the_documented_one() {
        let documented = documented_rows("## Reasons");
        assert_eq!(documented.len(), Reason::ALL.len());
        for row in documented {
            let reason: Reason = row[0].parse().unwrap();
            assert_eq!(reason.what_to_fix(), row[row.len() - 1], "{}", row[0]);
        }
    }

    /// docs/outcomes.md, which the tests below hold the code to.
    fn outcomes_doc() -> String {
        std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/outcomes.md"),
        )
        .expect("docs/outcomes.md is readable")
    }

    /// The rows of the first table after `heading` in docs/outcomes.md
    /// whose first column is an id: the id, then the other columns.
    fn documented_rows(heading: &str) -> Vec<Vec<String>> {
        let doc = outcomes_doc();
        let section = doc.split(heading).nth(1).expect("the section");
        section
            .lines()
            .skip_while(|l| !l.starts_with("| `"))
            .take_while(|l| l.starts_with("| `"))
            .map(|l| {
                let mut row: Vec<String> = l[2..]
                    .trim_end_matches('|')
                    .split(" | ")
                    .map(|c| c.trim().to_owned())
                    .collect();
                row[0] = row[0].trim_matches('`').to_owned();
                row
            })
            .collect()
    }

    /// Pinned: what a report says an outcome means is docs/outcomes.md's
    /// "meaning", word for word.
    #[test]
    fn an_outcomes_meaning_is_the_documented_one() {
        let documented = documented_rows("Severity, least to most severe:");
        assert_eq!(documented.len(), Outcome::ALL.len());
        for row in documented {
            let outcome: Outcome = row[0].parse().unwrap();
            assert_eq!(outcome.meaning(), row[1], "{}", row[0]);
        }
    }

    /// Pinned: what a report says a reason means is docs/outcomes.md's
    /// "what it means", word for word.
    #[test]
    fn a_reasons_meaning_is_the_documented_one() {
        let documented = documented_rows("## Reasons");
        assert_eq!(documented.len(), Reason::ALL.len());
        for row in documented {
            let reason: Reason = row[0].parse().unwrap();
            assert_eq!(reason.meaning(), row[1], "{}", row[0]);
        }
    }

    #[test]
    fn ids_round_trip() {
        for s in Scenario::ALL {
            assert_eq!(s.id().parse::<Scenario>().unwrap(), *s);
        }
        for o in Outcome::ALL {
            assert_eq!(o.id().parse::<Outcome>().unwrap(), *o);
            assert_eq!(serde_json::to_string(o).unwrap(), format!("\"{}\"", o.id()));
            assert_eq!(
                serde_json::from_str::<Outcome>(&format!("\"{}\"", o.id())).unwrap(),
                *o
            );
        }
        assert!("subinterp"
            .parse::<Scenario>()
            .unwrap_err()
            .contains("subinterp-own"));
        assert!(serde_json::from_str::<Variant>("\"fast\"")
            .unwrap_err()
            .to_string()
            .contains("unknown variant `fast`; allowed: default, debug"));
    }

    #[test]
    fn the_outcomes_that_fail_a_run_are_the_documented_ones() {
        let failing: Vec<&str> = Outcome::ALL
            .iter()
            .filter(|o| o.fails_run())
            .map(|o| o.id())
            .collect();
        assert_eq!(
            failing,
            [
                "declaration-mismatch",
                "import-error",
                "crash",
                "hang",
                "build-failed",
                "harness-error"
            ]
        );
    }

    #[test]
    fn requirements_say_what_is_missing() {
        assert!(Requirement::IsolatedSubinterpreters
            .reason()
            .contains("needs CPython 3.12+"));
        assert!(Requirement::FreeThreadedBuild
            .reason()
            .contains("needs a free-threaded build"));
        assert_eq!(
            Scenario::FreeThreading.unsupported_reason(PythonVersion::new(3, 13, 0), false),
            Some(Requirement::FreeThreadedBuild.reason().to_owned())
        );
    }

    #[test]
    fn ids_follow_cibuildwheel() {
        let v = PythonVersion::new(3, 13, 0);
        assert_eq!(python_id(v, false, false), "cp313");
        assert_eq!(python_id(v, true, true), "cp313td");
        assert_eq!(
            python_id(PythonVersion::new(3, 11, 2), false, true),
            "cp311d"
        );
    }

    #[test]
    fn own_gil_needs_312() {
        assert!(Scenario::SubinterpOwn
            .unsupported_reason(PythonVersion::new(3, 11, 7), false)
            .is_some());
        assert!(Scenario::SubinterpOwn
            .unsupported_reason(PythonVersion::new(3, 12, 0), false)
            .is_none());
        assert!(Scenario::SubinterpShared
            .unsupported_reason(PythonVersion::new(3, 11, 99), true)
            .is_some_and(|r| r.ends_with("this is 3.11.99")));
        assert!(Scenario::SubinterpLegacy
            .unsupported_reason(PythonVersion::new(3, 8, 0), false)
            .is_none());
        let v313 = PythonVersion::new(3, 13, 0);
        assert!(Scenario::FreeThreading
            .unsupported_reason(v313, false)
            .is_some());
        assert!(Scenario::FreeThreading
            .unsupported_reason(v313, true)
            .is_none());
        assert!(Scenario::Reinit.requirement().is_none());
        assert!(Scenario::SubinterpCycle.requirement().is_none());
    }

    /// The scenarios that report figures per cycle (the leak rule reads
    /// them; they get the debug allocator and a baseline).
    #[test]
    fn cycling_scenarios() {
        let cycling: Vec<Scenario> = Scenario::ALL
            .iter()
            .copied()
            .filter(|s| s.is_cycling())
            .collect();
        assert_eq!(
            cycling,
            [
                Scenario::Reinit,
                Scenario::Reimport,
                Scenario::SubinterpCycle,
                Scenario::Inittab
            ]
        );
    }

    #[test]
    fn findings_are_the_outcomes_past_n_a() {
        let findings: Vec<&str> = Outcome::ALL
            .iter()
            .filter(|o| o.is_finding())
            .map(|o| o.id())
            .collect();
        assert_eq!(findings[0], "shared-state");
        assert_eq!(findings.len(), Outcome::ALL.len() - 3);
        assert!(!Outcome::NotApplicable.is_finding() && !Outcome::Refused.is_finding());
    }

    #[test]
    fn the_stress_scenarios_run_workers_at_once() {
        let stress: Vec<Scenario> = Scenario::ALL
            .iter()
            .copied()
            .filter(|s| s.is_stress())
            .collect();
        assert_eq!(
            stress,
            [Scenario::SubinterpParallel, Scenario::FreeThreading]
        );
        assert!(Scenario::SubinterpParallel
            .unsupported_reason(PythonVersion::new(3, 11, 7), false)
            .is_some());
        assert!(Scenario::Inittab.requirement().is_none());
    }

    #[test]
    fn importable_module_names() {
        for ok in ["a", "a.b_c", "_x1", "pkg._speedups"] {
            assert!(is_dotted_identifier(ok), "{ok}");
        }
        for bad in [
            "",
            "1a",
            "a..b",
            "a.",
            "class",
            "pkg.2fast",
            "pkg.import",
            "a-b",
            "ä",
        ] {
            assert!(!is_dotted_identifier(bad), "{bad}");
        }
    }
}
