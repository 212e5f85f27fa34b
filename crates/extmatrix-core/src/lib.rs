//! The shared vocabulary of extmatrix: scenarios, outcomes and interpreter ids.
//!
//! Every other crate speaks in these terms; nothing here does I/O. A new
//! scenario or outcome is added here first, and the compiler then points at
//! every place (harness table, judge, report) that must learn about it.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// What one cell of the matrix runs in the harness.
///
/// The string ids are the ones used in matrix files, on the command line, in
/// the harness's scenario table and in the JSON report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// Import once in the main interpreter and run the smoke code.
    Import,
    /// N x (initialize, import, smoke, finalize) in one process.
    Reinit,
    /// Import, keep it, `del sys.modules[name]`, import again, compare.
    Reimport,
    /// `Py_NewInterpreter()`: the legacy, shared-everything subinterpreter.
    SubinterpLegacy,
    /// Isolated subinterpreter sharing the main GIL (3.12+).
    SubinterpShared,
    /// Isolated subinterpreter with its own GIL (3.12+, PEP 684).
    SubinterpOwn,
    /// On a free-threaded build: does the import re-enable the GIL? Then the
    /// smoke code from several threads at once.
    FreeThreading,
}

impl Scenario {
    pub const ALL: [Scenario; 7] = [
        Scenario::Import,
        Scenario::Reinit,
        Scenario::Reimport,
        Scenario::SubinterpLegacy,
        Scenario::SubinterpShared,
        Scenario::SubinterpOwn,
        Scenario::FreeThreading,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Scenario::Import => "import",
            Scenario::Reinit => "reinit",
            Scenario::Reimport => "reimport",
            Scenario::SubinterpLegacy => "subinterp-legacy",
            Scenario::SubinterpShared => "subinterp-shared",
            Scenario::SubinterpOwn => "subinterp-own",
            Scenario::FreeThreading => "free-threading",
        }
    }

    /// Why this scenario cannot run on an interpreter of `version`
    /// (free-threaded or not), if it cannot.
    ///
    /// This is a property of CPython, not of the target: the cell becomes
    /// `n/a` without running anything.
    pub fn unsupported_reason(self, version: PythonVersion, free_threaded: bool) -> Option<String> {
        match self {
            Scenario::SubinterpShared | Scenario::SubinterpOwn if version < PythonVersion::new(3, 12, 0) => {
                Some(format!(
                    "Py_NewInterpreterFromConfig (isolated subinterpreters, PEP 684) needs CPython 3.12+; this is {}",
                    version
                ))
            }
            Scenario::FreeThreading if !free_threaded => {
                Some("needs a free-threaded build (--disable-gil, PEP 703, 3.13+)".to_owned())
            }
            _ => None,
        }
    }

    pub fn allowed_ids() -> String {
        Scenario::ALL
            .iter()
            .map(|s| s.id())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl FromStr for Scenario {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        by_id(&Scenario::ALL, Scenario::id, "scenario", s)
    }
}

/// The verdict of one cell. Declared from least to most severe: when a cell
/// observes several things, the most severe one is its outcome (`Ord`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Outcome {
    #[serde(rename = "pass")]
    Pass,
    /// The import failed the way the module's declaration says it must.
    #[serde(rename = "refused")]
    Refused,
    /// The interpreter build lacks what the scenario needs.
    #[serde(rename = "n/a")]
    NotApplicable,
    /// Objects reachable from the module are shared across interpreters or
    /// survive a re-import.
    #[serde(rename = "shared-state")]
    SharedState,
    /// On a free-threaded build, importing the module re-enabled the GIL.
    #[serde(rename = "gil-enabled")]
    GilEnabled,
    /// The import or the smoke code raised.
    #[serde(rename = "import-error")]
    ImportError,
    /// The harness died of a signal.
    #[serde(rename = "crash")]
    Crash,
    /// The timeout expired; the process group was killed.
    #[serde(rename = "hang")]
    Hang,
    /// The target could not be compiled for this interpreter.
    #[serde(rename = "build-failed")]
    BuildFailed,
    /// The harness itself misbehaved (could not start, broke its protocol).
    #[serde(rename = "harness-error")]
    HarnessError,
}

impl Outcome {
    pub const ALL: [Outcome; 10] = [
        Outcome::Pass,
        Outcome::Refused,
        Outcome::NotApplicable,
        Outcome::SharedState,
        Outcome::GilEnabled,
        Outcome::ImportError,
        Outcome::Crash,
        Outcome::Hang,
        Outcome::BuildFailed,
        Outcome::HarnessError,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Refused => "refused",
            Outcome::NotApplicable => "n/a",
            Outcome::SharedState => "shared-state",
            Outcome::GilEnabled => "gil-enabled",
            Outcome::ImportError => "import-error",
            Outcome::Crash => "crash",
            Outcome::Hang => "hang",
            Outcome::BuildFailed => "build-failed",
            Outcome::HarnessError => "harness-error",
        }
    }

    /// Whether this outcome makes `extmatrix run` exit non-zero.
    ///
    /// `shared-state` is a finding to report, not a broken run; expectations
    /// files (a later addition) will let a project decide otherwise.
    pub fn fails_run(self) -> bool {
        matches!(
            self,
            Outcome::ImportError
                | Outcome::Crash
                | Outcome::Hang
                | Outcome::BuildFailed
                | Outcome::HarnessError
        )
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl FromStr for Outcome {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        by_id(&Outcome::ALL, Outcome::id, "outcome", s)
    }
}

/// A build flavour of CPython, as a matrix names it; `extmatrix-cpython-build`
/// maps each to its `./configure` flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Variant {
    Default,
    Debug,
    FreeThreaded,
    FreeThreadedDebug,
}

impl Variant {
    pub const ALL: [Variant; 4] = [
        Variant::Default,
        Variant::Debug,
        Variant::FreeThreaded,
        Variant::FreeThreadedDebug,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Variant::Default => "default",
            Variant::Debug => "debug",
            Variant::FreeThreaded => "free-threaded",
            Variant::FreeThreadedDebug => "free-threaded-debug",
        }
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl FromStr for Variant {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        by_id(&Variant::ALL, Variant::id, "variant", s)
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

/// The member of `all` whose id is `s`; otherwise a message that lists the
/// allowed ids (it reaches users through matrix files and the command line).
fn by_id<T: Copy>(all: &[T], id: fn(T) -> &'static str, kind: &str, s: &str) -> Result<T, String> {
    all.iter().copied().find(|x| id(*x) == s).ok_or_else(|| {
        let allowed: Vec<&str> = all.iter().map(|x| id(*x)).collect();
        format!("unknown {kind} `{s}`; allowed: {}", allowed.join(", "))
    })
}

/// Lowercase hex of `bytes` (hashes in cache keys and sha256 sums).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
    const DOCUMENTED_ORDER: [&str; 10] = [
        "pass",
        "refused",
        "n/a",
        "shared-state",
        "gil-enabled",
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
        let mut sorted = Outcome::ALL;
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
        let doc = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/outcomes.md"),
        )
        .expect("docs/outcomes.md is readable");
        let in_table: Vec<&str> = doc
            .lines()
            .filter_map(|l| l.strip_prefix("| `"))
            .filter_map(|l| l.split('`').next())
            .filter(|id| id.parse::<Outcome>().is_ok())
            .collect();
        assert_eq!(in_table, DOCUMENTED_ORDER);
    }

    #[test]
    fn ids_round_trip() {
        for s in Scenario::ALL {
            assert_eq!(s.id().parse::<Scenario>().unwrap(), s);
        }
        for o in Outcome::ALL {
            assert_eq!(o.id().parse::<Outcome>().unwrap(), o);
            assert_eq!(
                serde_json::to_string(&o).unwrap(),
                format!("\"{}\"", o.id())
            );
        }
        assert!("subinterp"
            .parse::<Scenario>()
            .unwrap_err()
            .contains("subinterp-own"));
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
            .unsupported_reason(PythonVersion::new(3, 12, 1), false)
            .is_none());
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
    }
}
