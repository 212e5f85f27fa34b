//! What a run's cells mean together, as data: findings (one per culprit),
//! each cell's expectation and its change against a baseline, and the run's
//! status. `extmatrix-verdict` computes them from the cells; every format
//! reads them from here.

use extmatrix_core::{Outcome, Reason, Scenario};
use serde::{Deserialize, Serialize};

extmatrix_core::id_enum! {
    /// What a finding's culprit is.
    pub enum FindingKind as "finding kind" {
        /// An object shared between instances of the module, held by one
        /// static object or C global (the symbol names it).
        SharedObject = "shared-object",
        /// A later instance broke an earlier one, or failed only after it.
        ClobberedState = "clobbered-state",
        /// Memory, blocks or references grow with every cycle.
        Leak = "leak",
        /// The module's import turned the GIL on (a free-threaded build).
        GilEnabled = "gil-enabled",
        /// A promise of the declaration broken, where no shared object
        /// names why (the GIL turned on despite `Py_MOD_GIL_NOT_USED`).
        DeclarationBroken = "declaration-broken",
        /// A subinterpreter refused the module where its declaration says
        /// it supports them, or a refusal the declaration does not explain.
        Refusal = "refusal",
        /// The import or the smoke code raised.
        ImportError = "import-error",
        Crash = "crash",
        Hang = "hang",
        BuildFailed = "build-failed",
        HarnessError = "harness-error",
    }
}

/// One culprit — a shared object with what holds it, a crash in a step
/// with its top target frame, a leak series, a build's cause — and the
/// cells where it shows. Its `id` is the same in every run that finds the
/// same culprit, so two reports can be compared finding by finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// `kind:target:module:culprit`, stable across runs.
    pub id: String,
    pub kind: FindingKind,
    pub target: String,
    pub module: String,
    /// The most severe outcome among its cells.
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    /// What it is, in one line (`Thing_Type (.data) is the same object in
    /// every instance`).
    pub title: String,
    /// What to change.
    pub fix: String,
    /// Whether one of its cells fails the run (expectations counted).
    pub fails_run: bool,
    /// Where it shows, in the report's order.
    pub cells: Vec<FindingCell>,
}

impl Finding {
    /// Whether the cell `key` is one of this finding's.
    pub fn shows_in(&self, key: &crate::CellKey) -> bool {
        key.target == self.target
            && key.module == self.module
            && self
                .cells
                .iter()
                .any(|c| c.python == key.python && c.scenario == key.scenario)
    }
}

/// A cell of a finding: the finding names its target and module.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FindingCell {
    pub python: String,
    pub scenario: Scenario,
}

extmatrix_core::id_enum! {
    /// How a cell's outcome stands against what was expected of it.
    pub enum ExpectationStatus as "expectation status" {
        /// The outcome is one of the expected ones: the cell does not fail
        /// the run, whatever its outcome.
        Met = "met",
        /// Less severe than every expected outcome: what was expected to
        /// fail now works (fails the run only with `--strict`).
        Fixed = "fixed",
        /// Another outcome, at least as severe: fails the run.
        Unexpected = "unexpected",
    }
}

/// The expectation a cell was held to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExpectationCheck {
    /// Every outcome the matching patterns allow.
    pub expected: Vec<Outcome>,
    pub status: ExpectationStatus,
    /// The patterns that matched, as `file:line:col`.
    pub from: Vec<String>,
}

extmatrix_core::id_enum! {
    /// A cell against the same cell of a baseline report.
    pub enum Change as "change" {
        /// The baseline has no such cell.
        New = "new",
        /// Same outcome, same findings.
        Unchanged = "unchanged",
        /// Same outcome, another finding (a crash in another step, another
        /// shared object).
        Changed = "changed",
        /// A more severe outcome (docs/outcomes.md's order).
        Regressed = "regressed",
        /// A less severe outcome.
        Fixed = "fixed",
    }
}

/// A cell's change against the baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellChange {
    pub change: Change,
    /// The baseline's outcome (none for a new cell).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub was: Option<Outcome>,
}

/// The comparison of a run with a baseline report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselineComparison {
    /// The baseline's path, as given.
    pub baseline: String,
    /// Cells the baseline has and this run does not.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gone: Vec<crate::CellKey>,
}

extmatrix_core::id_enum! {
    /// What makes a run exit 1 (`--fail-on`).
    pub enum FailOn as "fail-on policy" {
        /// A cell that fails the run (its outcome, unless expected).
        Failure = "failure",
        /// A cell that got worse than the baseline, or a new cell that
        /// fails (unless expected).
        Regression = "regression",
        /// Nothing: the report is the product (exit 0 unless the run
        /// could not be made).
        Never = "never",
    }
}

// `id_enum!` writes the enum, so `#[derive(Default)]` cannot be added to it.
#[allow(clippy::derivable_impls)]
impl Default for FailOn {
    fn default() -> Self {
        FailOn::Failure
    }
}

/// The run's status and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunStatus {
    pub fail_on: FailOn,
    pub strict: bool,
    /// 0 or 1 (2, usage errors, and 128 + a signal never get a report status).
    pub exit_code: i32,
    /// One line per reason it fails, when it does.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub because: Vec<String>,
}
