//! The extmatrix report: plain serde types and nothing else.
//!
//! This is the JSON that `extmatrix run --json` writes, as types. Everything
//! that reads a report — the terminal table, the HTML, JUnit and Markdown
//! renderers, shard merging, a comparison against a baseline — depends on
//! this crate alone, never on the runner, the judge or discovery (the idea
//! of nextest's `nextest-metadata`). The harness's vocabulary inside the
//! details (steps, declarations, shared objects) comes from
//! `extmatrix-protocol`, which is types only as well.
//!
//! `schema_version` changes whenever a field changes meaning or disappears;
//! adding a field does not change it.

pub use extmatrix_core::{BuildCause, BuildPhase, CauseKind, Outcome, Reason, Scenario};
pub use extmatrix_protocol::{
    Attempt, CycleFigures, Declaration, Forensics, GilState, ImportFailure, ImportWarning,
    SharedObject, Step,
};

mod verdict;

pub use verdict::{
    BaselineComparison, CellChange, Change, ExpectationCheck, ExpectationStatus, FailOn, Finding,
    FindingCell, FindingKind, RunStatus,
};

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const SCHEMA_VERSION: u32 = 1;

/// A whole run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub schema_version: u32,
    pub tool: Tool,
    /// The matrix file, as given.
    pub matrix: String,
    pub wall_time_ms: u64,
    /// The interpreters, in the matrix's order (the table's columns).
    pub pythons: Vec<PythonEntry>,
    pub cells: Vec<CellResult>,
    /// Cells per outcome.
    pub summary: BTreeMap<Outcome, usize>,
    /// Every module each target built, per interpreter, with its writable
    /// globals: evidence beside the cells, never an outcome of its own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<ModuleImage>,
    /// The run was stopped by a signal: `cells` holds the cells that
    /// finished before it; these did not run (or were killed mid-run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interrupted: Option<Interruption>,
    /// One per culprit, most severe first, with the cells where each shows.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
    /// The comparison with `--baseline`, when one was given (each cell's
    /// change is in the cell).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comparison: Option<BaselineComparison>,
    /// Whether the run fails, and why, by its `--fail-on` policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<RunStatus>,
    /// When and where it ran (reports of older versions have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<RunInfo>,
    /// The run this report is one shard of (`run --shard I/N`): what
    /// `extmatrix merge` checks before joining shards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardInfo>,
    /// The shard reports this one was merged from (`extmatrix merge`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged_from: Vec<MergedShard>,
}

/// Which slice of which run a shard's report holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardInfo {
    /// 1-based.
    pub index: u32,
    pub count: u32,
    /// The sha256 of what decides the whole run's cells (the matrix file's
    /// bytes, the targets with their expectations, the interpreter ids, the
    /// scenarios, the options after the command line's): equal for every
    /// shard of one run.
    pub run: String,
    /// The extmatrix binary that ran it (its version and build id): another
    /// build may decide a cell differently.
    pub binary: String,
    /// The whole run's targets, interpreter ids and scenarios, in the
    /// matrix's order: a merge puts the cells back in that order.
    pub targets: Vec<String>,
    pub pythons: Vec<String>,
    pub scenarios: Vec<Scenario>,
}

/// A shard report a merged report was made from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MergedShard {
    /// The file, as given to `extmatrix merge`.
    pub file: String,
    pub index: u32,
    pub count: u32,
    pub cells: usize,
    pub wall_time_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<RunInfo>,
    /// It was stopped by this signal before every cell ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interrupted: Option<String>,
}

/// When and where a run happened: what a published report states beside
/// its verdicts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// When the run began, RFC 3339 in UTC (`2026-12-06T16:05:43Z`).
    pub started_at: String,
    /// The machine's host name.
    pub host: String,
    /// The operating system and its release (`Linux 6.1.0-18-amd64`).
    pub os: String,
    /// `x86_64`, `aarch64`.
    pub arch: String,
    pub cores: usize,
    /// Cells and builds run at once.
    pub jobs: usize,
}

/// One built extension module on one interpreter, as a static scan sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModuleImage {
    pub target: String,
    pub module: String,
    pub python: String,
    pub path: String,
    /// Its writable data symbols (`.data`, `.bss`), static ones included:
    /// state every instance of the module shares in the process, whatever
    /// it declares (a module that declares own-GIL support yet keeps a
    /// process-wide C buffer shows here, though no run can see it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub writable_globals: Vec<WritableGlobal>,
}

/// A writable global of an extension's image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WritableGlobal {
    /// As the symbol table has it (mangled, for Rust and C++).
    pub name: String,
    /// `name` in its author's language, when it is mangled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub demangled: Option<String>,
    /// `.data` or `.bss` (and their `.rel`/`.local` variants).
    pub section: String,
    pub size: u64,
}

/// A run stopped by a signal (SIGINT, SIGTERM, SIGHUP).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interruption {
    /// `SIGTERM`.
    pub signal: String,
    /// The cells that have no verdict.
    pub not_run: Vec<CellKey>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

/// One interpreter of the run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PythonEntry {
    pub id: String,
    pub version: String,
    pub debug: bool,
    pub free_threaded: bool,
    pub path: String,
    /// How it was found (`pyenv`, `PATH`, `system`) or `matrix` (built from
    /// the matrix's `source:`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub found_via: String,
    /// `sysconfig`'s `CONFIG_ARGS`: the flags its `configure` ran with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configure_args: Option<String>,
}

impl PythonEntry {
    /// `free-threaded debug`, `debug`, `free-threaded` or `default`.
    pub fn variant(&self) -> &'static str {
        match (self.free_threaded, self.debug) {
            (true, true) => "free-threaded debug",
            (true, false) => "free-threaded",
            (false, true) => "debug",
            (false, false) => "default",
        }
    }
}

/// What identifies a cell across runs, shards and reports: never its index.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CellKey {
    /// The matrix target's name.
    pub target: String,
    /// The extension module tested (a target can build several).
    pub module: String,
    /// The interpreter's id (`cp313t`).
    pub python: String,
    pub scenario: Scenario,
}

/// The verdict of one cell.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CellResult {
    #[serde(flatten)]
    pub key: CellKey,
    pub outcome: Outcome,
    pub duration_ms: u64,
    pub details: Details,
    /// The expectation the cell was held to, when one matched it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expectation: Option<ExpectationCheck>,
    /// Against the baseline report, when one was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<CellChange>,
}

/// What the leak rule read: the target's cycles against the baseline's
/// (the same scenario on the same interpreter importing an empty module),
/// from the first cycle after the warm-up on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LeakDetails {
    /// Cycles dropped before reading (`options.warmup`).
    pub warmup: u32,
    /// The memory allocator the target's cycles ran with, as CPython names
    /// it (`pymalloc_debug`: the debug allocator was on).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allocator: Option<String>,
    /// The baseline's figures per cycle (the target's are `cycles`).
    pub baseline: Vec<CycleFigures>,
    /// Every check made, whether or not it fired.
    pub checks: Vec<LeakCheck>,
    /// Why no check could be made, when none was.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub not_checked: String,
}

/// One series read by one test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeakCheck {
    pub series: LeakSeries,
    pub test: LeakTest,
    /// The target's figure minus the baseline's, per cycle read (for
    /// `every-cycle`: the growth of that difference since the cycle before).
    pub values: Vec<f64>,
    /// `slope`: growth per cycle (least squares) and its standard error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slope: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spread: Option<f64>,
    /// `slope`: what the slope, less its spread, must exceed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    pub fired: bool,
}

/// A per-cycle figure the leak rule reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeakSeries {
    /// `sys.gettotalrefcount()` (debug builds).
    Refs,
    /// `sys.getallocatedblocks()`.
    Blocks,
    /// malloc's bytes in use, KiB.
    MallocKib,
    /// Resident set size, KiB (where malloc's figure is missing).
    RssKib,
}

/// How a series is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LeakTest {
    /// CPython regrtest -R's criterion: it grew by at least 1 in every cycle.
    EveryCycle,
    /// The least-squares slope, less its one-sided 95% spread, exceeds the threshold.
    Slope,
}

/// Everything a reader needs to act on a cell, as data.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Details {
    /// One line: why this outcome.
    pub summary: String,
    /// A known cause of this outcome (docs/outcomes.md, "Reasons").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    /// The control run of a failing cell: the same scenario on the same
    /// interpreter importing what the target pulled in, without the target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub control: Option<SideRun>,
    /// The alone run of a cell whose later instance failed while its first
    /// passed: that later instance in a fresh process where no earlier one
    /// ran (a subinterpreter alone, or a first import).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alone: Option<SideRun>,
    /// The step a crash or hang happened in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<Step>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// A crash: every thread's Python traceback and C frames, taken by the
    /// dying process.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forensics: Option<Forensics>,
    /// A deadlock (reason `deadlock`): what each thread of the Python
    /// process waited on when it was stopped.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub waits: Vec<String>,
    /// `Py_FatalError`'s message ("Fatal Python error: ..." on stderr).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fatal_error: Option<String>,
    /// Exceptions raised by imports or smoke code, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ImportFailure>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub declared: Option<Declaration>,
    /// Objects that count as shared state.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub shared_objects: Vec<SharedObject>,
    /// Objects at the same address that are CPython's own (immortal,
    /// interned, or in libpython's image) and so do not count.
    #[serde(skip_serializing_if = "is_zero")]
    pub core_objects_ignored: usize,
    /// Warnings raised by imports.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<ImportWarning>,
    /// Free-threaded builds: the GIL's state at each step reported.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub gil: Vec<GilState>,
    /// Cycling scenarios (reinit, reimport, subinterp-cycle): figures per cycle.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cycles: Vec<CycleFigures>,
    /// Cycling scenarios: what the leak rule compared and found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leak: Option<LeakDetails>,
    /// Earlier runs of this cell that failed before the target was
    /// imported (the interpreter's own failures), and were retried.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub retries: Vec<Attempt>,
    /// A cell run several times (`repeat`): how many runs failed, and every
    /// run's outcome; the rest of the details are the worst run's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repeat: Option<Repeat>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build: Option<BuildDetails>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub stderr_tail: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub stdout_tail: String,
    /// Bytes of stderr/stdout read and not kept (everything before the
    /// tail; reading stops at a cap, see the notes).
    #[serde(skip_serializing_if = "is_zero")]
    pub stderr_dropped_bytes: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub stdout_dropped_bytes: u64,
    /// Processes still running below the harness when it ended, whatever
    /// their process group or session (a forked daemon, a `setsid` child);
    /// all of them were killed. Evidence, not an outcome.
    #[serde(skip_serializing_if = "is_zero")]
    pub left_behind: u32,
    /// Lines on the observation channel without the run's token: not
    /// written by the harness, never trusted (the first few are in the notes).
    #[serde(skip_serializing_if = "is_zero")]
    pub foreign_lines: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// The runs of a repeated cell (`repeat`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Repeat {
    pub runs: u32,
    /// Runs whose outcome is a finding (worse than `n/a`).
    pub failed: u32,
    /// Every run's outcome, in order.
    pub outcomes: Vec<Outcome>,
}

/// What another run made to explain a cell did: its control
/// ([`Details::control`]) or its alone run ([`Details::alone`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SideRun {
    pub outcome: Outcome,
    pub summary: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<Step>,
    /// A control: the modules it imported in the target's stead.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub imports: Vec<String>,
}

impl CellResult {
    /// A judged cell, before expectations and a baseline are read.
    pub fn new(key: CellKey, outcome: Outcome, duration_ms: u64, details: Details) -> Self {
        CellResult {
            key,
            outcome,
            duration_ms,
            details,
            expectation: None,
            change: None,
        }
    }

    /// Whether this cell makes `extmatrix run` exit 1 (under `--fail-on
    /// failure`): its outcome fails runs (`Outcome::fails_run`) and its
    /// control run did not fail the same way (`also-without-target`: the
    /// interpreter's failure).
    ///
    /// An expectation decides instead when one matched the cell: met or
    /// fixed, the cell does not fail the run (`--strict` makes a fixed one
    /// fail it: `extmatrix-verdict`); unexpected, it does, whatever its
    /// outcome — that is how a project makes `leak` or `shared-state` fail
    /// — unless its control failed the same way.
    pub fn fails_run(&self) -> bool {
        let not_the_interpreters = self.details.reason != Some(Reason::AlsoWithoutTarget);
        match self.expectation.as_ref().map(|e| e.status) {
            Some(ExpectationStatus::Met | ExpectationStatus::Fixed) => false,
            Some(ExpectationStatus::Unexpected) => not_the_interpreters,
            None => self.outcome.fails_run() && not_the_interpreters,
        }
    }
}

impl CellResult {
    /// Whether this cell makes the run exit 1 under `fail_on` (the one
    /// rule every reader of a report applies: the status, JUnit, Markdown).
    ///
    /// - `failure`: [`CellResult::fails_run`];
    /// - `regression`: it got worse than the baseline, or is new and
    ///   fails the run — unless it meets its expectation;
    /// - `never`: no cell does.
    ///
    /// With `strict`, an expected failure that now does better fails it
    /// too (pytest's strict xfail), whatever the policy but `never`.
    pub fn fails_under(&self, fail_on: FailOn, strict: bool) -> bool {
        let expectation = self.expectation.as_ref().map(|e| e.status);
        let fixed_but_strict = strict && expectation == Some(ExpectationStatus::Fixed);
        match fail_on {
            FailOn::Never => false,
            FailOn::Failure => self.fails_run() || fixed_but_strict,
            FailOn::Regression => {
                let change = self.change.as_ref().map(|c| c.change);
                let regressed = change == Some(Change::Regressed)
                    && expectation != Some(ExpectationStatus::Met);
                let new_failure = change == Some(Change::New) && self.fails_run();
                regressed || new_failure || fixed_but_strict
            }
        }
    }
}

fn is_zero<T: Default + PartialEq>(n: &T) -> bool {
    *n == T::default()
}

/// The failed build behind a `build-failed` cell (or a harness that did not build).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildDetails {
    pub command: String,
    pub output: String,
    /// The innermost cause the output names: phase, kind, `file:line`,
    /// message (the summary says it in one line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<BuildCause>,
    /// The full build log, when one was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
}

impl Report {
    pub fn new(
        matrix: String,
        pythons: Vec<PythonEntry>,
        cells: Vec<CellResult>,
        wall_time_ms: u64,
    ) -> Self {
        let mut summary = BTreeMap::new();
        for c in &cells {
            *summary.entry(c.outcome).or_insert(0) += 1;
        }
        Report {
            schema_version: SCHEMA_VERSION,
            tool: Tool {
                name: "extmatrix".into(),
                version: env!("CARGO_PKG_VERSION").into(),
            },
            matrix,
            wall_time_ms,
            pythons,
            cells,
            summary,
            images: Vec::new(),
            interrupted: None,
            findings: Vec::new(),
            comparison: None,
            status: None,
            run: None,
            shard: None,
            merged_from: Vec::new(),
        }
    }

    /// 0 when no cell failed the run (see [`CellResult::fails_run`]), else 1.
    pub fn exit_code(&self) -> i32 {
        i32::from(self.cells.iter().any(CellResult::fails_run))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(outcome: Outcome) -> CellResult {
        CellResult::new(
            CellKey {
                target: "t".into(),
                module: "pkg.m".into(),
                python: "cp313".into(),
                scenario: Scenario::Reinit,
            },
            outcome,
            1,
            Details::default(),
        )
    }

    #[test]
    fn cells_are_flat_json_keyed_by_target_module_python_scenario() {
        let v = serde_json::to_value(cell(Outcome::Crash)).unwrap();
        assert_eq!(v["target"], "t");
        assert_eq!(v["module"], "pkg.m");
        assert_eq!(v["python"], "cp313");
        assert_eq!(v["scenario"], "reinit");
        assert_eq!(v["outcome"], "crash");
        let back: CellResult = serde_json::from_value(v).unwrap();
        assert_eq!(back.key, cell(Outcome::Crash).key);
    }

    #[test]
    fn details_leave_out_what_was_not_observed() {
        let empty = serde_json::to_value(Details::default()).unwrap();
        assert_eq!(empty, serde_json::json!({"summary": ""}));
        let some = Details {
            core_objects_ignored: 2,
            ..Details::default()
        };
        assert_eq!(
            serde_json::to_value(some).unwrap()["core_objects_ignored"],
            2
        );
    }

    #[test]
    fn exit_code_follows_the_failing_outcomes() {
        for o in Outcome::ALL {
            let r = Report::new("m.yaml".into(), vec![], vec![cell(*o)], 0);
            assert_eq!(r.exit_code() == 1, o.fails_run(), "{o}");
            assert_eq!(r.summary[o], 1);
        }
        let r = Report::new("m.yaml".into(), vec![], vec![], 0);
        assert_eq!(r.exit_code(), 0);
    }

    #[test]
    fn a_failure_the_control_shares_does_not_fail_the_run() {
        let mut crash = cell(Outcome::Crash);
        crash.details.reason = Some(Reason::AlsoWithoutTarget);
        assert!(!crash.fails_run());
        let r = Report::new("m.yaml".into(), vec![], vec![crash.clone()], 0);
        assert_eq!(r.exit_code(), 0);
        crash.details.reason = Some(Reason::EndedByTarget);
        assert!(crash.fails_run());
        let r = Report::new("m.yaml".into(), vec![], vec![crash], 0);
        assert_eq!(r.exit_code(), 1);
    }

    fn expecting(mut c: CellResult, status: ExpectationStatus) -> CellResult {
        c.expectation = Some(ExpectationCheck {
            expected: vec![Outcome::Crash],
            status,
            from: vec!["e.yaml:1:1".into()],
        });
        c
    }

    fn changed(mut c: CellResult, change: Change) -> CellResult {
        c.change = Some(CellChange { change, was: None });
        c
    }

    #[test]
    fn an_expectation_decides_whether_a_cell_fails_the_run() {
        use ExpectationStatus::*;
        assert!(!expecting(cell(Outcome::Crash), Met).fails_run());
        assert!(!expecting(cell(Outcome::Pass), Fixed).fails_run());
        assert!(expecting(cell(Outcome::Leak), Unexpected).fails_run());
        let mut shared = expecting(cell(Outcome::Hang), Unexpected);
        shared.details.reason = Some(Reason::AlsoWithoutTarget);
        assert!(!shared.fails_run());
    }

    #[test]
    fn a_finding_shows_in_its_own_cells_only() {
        let c = cell(Outcome::Crash);
        let mut f = Finding {
            id: "crash:t:pkg.m:x".into(),
            kind: FindingKind::Crash,
            target: "t".into(),
            module: "pkg.m".into(),
            outcome: Outcome::Crash,
            reason: None,
            title: "x".into(),
            fix: "y".into(),
            fails_run: true,
            cells: vec![FindingCell {
                python: "cp313".into(),
                scenario: Scenario::Reinit,
            }],
        };
        assert!(f.shows_in(&c.key));
        let other = |edit: fn(&mut CellKey)| {
            let mut k = c.key.clone();
            edit(&mut k);
            k
        };
        assert!(!f.shows_in(&other(|k| k.target = "u".into())));
        assert!(!f.shows_in(&other(|k| k.module = "pkg.n".into())));
        assert!(!f.shows_in(&other(|k| k.python = "cp312".into())));
        assert!(!f.shows_in(&other(|k| k.scenario = Scenario::Reimport)));
        f.cells[0].python = "cp312".into();
        assert!(!f.shows_in(&c.key));
    }

    #[test]
    fn each_policy_fails_the_cells_it_names() {
        use ExpectationStatus::*;
        use FailOn::*;
        let crash = cell(Outcome::Crash);
        assert!(crash.fails_under(Failure, false));
        assert!(!crash.fails_under(Never, true));
        assert!(!crash.fails_under(Regression, false), "unchanged");
        assert!(changed(crash.clone(), Change::New).fails_under(Regression, false));
        assert!(!changed(cell(Outcome::Leak), Change::New).fails_under(Regression, false));
        assert!(changed(cell(Outcome::Leak), Change::Regressed).fails_under(Regression, false));
        let expected = expecting(changed(crash.clone(), Change::Regressed), Met);
        assert!(!expected.fails_under(Regression, false));
        let fixed = expecting(cell(Outcome::Pass), Fixed);
        assert!(!fixed.fails_under(Failure, false));
        assert!(fixed.fails_under(Failure, true));
        assert!(fixed.fails_under(Regression, true));
        assert!(!fixed.fails_under(Never, true));
    }

    #[test]
    fn a_variant_names_both_build_flags() {
        let entry = |free_threaded, debug| PythonEntry {
            id: "x".into(),
            version: "3.13.0".into(),
            debug,
            free_threaded,
            path: "/x".into(),
            found_via: String::new(),
            configure_args: None,
        };
        assert_eq!(entry(false, false).variant(), "default");
        assert_eq!(entry(false, true).variant(), "debug");
        assert_eq!(entry(true, false).variant(), "free-threaded");
        assert_eq!(entry(true, true).variant(), "free-threaded debug");
    }

    #[test]
    fn the_summary_round_trips_as_a_map_by_outcome_id() {
        let r = Report::new(
            "m.yaml".into(),
            vec![],
            vec![cell(Outcome::NotApplicable), cell(Outcome::Pass)],
            5,
        );
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["summary"]["n/a"], 1);
        assert_eq!(v["schema_version"], SCHEMA_VERSION);
        let back: Report = serde_json::from_value(v).unwrap();
        assert_eq!(back.summary, r.summary);
    }
}
