//! Steps: where in a scenario the harness is. The harness announces a step
//! before everything that may crash or hang, and tags every error, warning
//! and GIL reading with the step it happened in.
//!
//! On the wire and in the report a step is one string, `[STAGE: ]ACTION`
//! (`cycle 2: import`, `subinterp own: smoke`, `finalize`); it is parsed here
//! once, strictly, so a rule reads `step.action == Action::Import`, never
//! the text.

use extmatrix_core::id_enum;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

id_enum! {
    /// What the harness is about to do.
    pub enum Action as "step action" {
        /// Initialise the interpreter (`Py_InitializeFromConfig`).
        Init = "init",
        /// Import the target.
        Import = "import",
        /// Run the smoke code on the module just imported.
        Smoke = "smoke",
        /// Run the smoke code on several threads at once.
        SmokeOnThreads = "smoke on threads",
        /// `del sys.modules[name]`.
        Forget = "del sys.modules",
        /// Run the smoke code again on the first instance, after a second exists.
        SmokeOldInstance = "smoke old instance",
        /// Create a subinterpreter.
        Create = "create",
        /// End a subinterpreter.
        End = "end",
        /// `Py_FinalizeEx`.
        Finalize = "finalize",
        /// Workers at once, each creating an own-GIL interpreter, importing,
        /// running the smoke code and ending it (`subinterp-parallel`; the
        /// stage's number is the wave).
        InParallel = "in parallel",
        /// `PyImport_AppendInittab`, before an init (`inittab`).
        Register = "register",
    }
}

impl Action {
    /// Whether this step runs the target's code (its init function or the
    /// smoke code against it). Nothing before the first such step can be the
    /// target's fault.
    pub fn runs_target(self) -> bool {
        matches!(
            self,
            Action::Import
                | Action::Smoke
                | Action::SmokeOnThreads
                | Action::SmokeOldInstance
                | Action::InParallel
        )
    }
}

pub use extmatrix_core::SubinterpKind;

/// Which part of a scenario a step belongs to.
///
/// `Reimport` and `Subinterp` carry the cycle of a cycling scenario
/// (`reimport 2: `, `subinterp own 3: `); `None` is the unnumbered stage
/// (`reimport: `, the first re-import, which is compared with the first
/// import; `subinterp own: ` of the single-subinterpreter scenarios).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// The main interpreter and the first import.
    Main,
    /// Init/finalize cycle N (from 1) of `reinit`.
    Cycle(u32),
    /// A re-import of `reimport`.
    Reimport(Option<u32>),
    /// Inside a subinterpreter.
    Subinterp(SubinterpKind, Option<u32>),
}

impl Stage {
    /// Whether this stage holds the target's first instance: the first
    /// import in the main interpreter, or the first `reinit` cycle.
    pub fn is_first_instance(self) -> bool {
        matches!(self, Stage::Main | Stage::Cycle(1))
    }
}

/// A step of a scenario: its stage and its action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Step {
    pub stage: Stage,
    pub action: Action,
}

impl Step {
    pub const fn new(stage: Stage, action: Action) -> Self {
        Step { stage, action }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.stage {
            Stage::Main => {}
            Stage::Cycle(n) => write!(f, "cycle {n}: ")?,
            Stage::Reimport(None) => f.write_str("reimport: ")?,
            Stage::Reimport(Some(n)) => write!(f, "reimport {n}: ")?,
            Stage::Subinterp(kind, None) => write!(f, "subinterp {kind}: ")?,
            Stage::Subinterp(kind, Some(n)) => write!(f, "subinterp {kind} {n}: ")?,
        }
        f.write_str(self.action.id())
    }
}

impl FromStr for Step {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (stage, action) = match text.split_once(": ") {
            None => (Stage::Main, text),
            Some((stage, action)) => (parse_stage(stage)?, action),
        };
        let action = action.parse().map_err(|e| format!("step `{text}`: {e}"))?;
        Ok(Step { stage, action })
    }
}

fn parse_stage(text: &str) -> Result<Stage, String> {
    let bad = || {
        format!(
            "unknown stage `{text}`; allowed: `cycle N`, `reimport [N]`, `subinterp {{{}}} [N]`",
            SubinterpKind::allowed_ids()
        )
    };
    if let Some(n) = text.strip_prefix("cycle ") {
        return cycle_number(n).map(Stage::Cycle).ok_or_else(bad);
    }
    let (name, n) = match text.rsplit_once(' ') {
        Some((name, n)) if n.starts_with(|c: char| c.is_ascii_digit()) => {
            (name, Some(cycle_number(n).ok_or_else(bad)?))
        }
        _ => (text, None),
    };
    if name == "reimport" {
        return Ok(Stage::Reimport(n));
    }
    if let Some(kind) = name.strip_prefix("subinterp ") {
        return kind
            .parse()
            .map(|kind| Stage::Subinterp(kind, n))
            .map_err(|_| bad());
    }
    Err(bad())
}

/// A cycle number as the harness writes it: canonical, from 1 (`2`, not
/// `02` or `0`).
fn cycle_number(text: &str) -> Option<u32> {
    text.parse::<u32>()
        .ok()
        .filter(|&v| v >= 1 && v.to_string() == text)
}

impl Serialize for Step {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Step {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_round_trips_through_its_text() {
        let stages = [
            Stage::Main,
            Stage::Cycle(1),
            Stage::Cycle(12),
            Stage::Reimport(None),
            Stage::Reimport(Some(3)),
            Stage::Subinterp(SubinterpKind::Legacy, None),
            Stage::Subinterp(SubinterpKind::Own, None),
            Stage::Subinterp(SubinterpKind::Shared, Some(7)),
        ];
        for stage in stages {
            for action in Action::ALL {
                let step = Step::new(stage, *action);
                assert_eq!(step.to_string().parse::<Step>(), Ok(step));
            }
        }
        assert_eq!(
            Step::new(Stage::Cycle(2), Action::Import).to_string(),
            "cycle 2: import"
        );
        assert_eq!(
            Step::new(Stage::Subinterp(SubinterpKind::Own, None), Action::Import).to_string(),
            "subinterp own: import"
        );
        assert_eq!(
            Step::new(Stage::Subinterp(SubinterpKind::Own, Some(3)), Action::End).to_string(),
            "subinterp own 3: end"
        );
        assert_eq!(
            Step::new(Stage::Reimport(None), Action::Forget).to_string(),
            "reimport: del sys.modules"
        );
        assert_eq!(
            Step::new(Stage::Reimport(Some(2)), Action::Import).to_string(),
            "reimport 2: import"
        );
        assert_eq!(Step::new(Stage::Main, Action::Smoke).to_string(), "smoke");
    }

    #[test]
    fn a_typo_is_an_error_not_another_step() {
        for bad in [
            "imprt",
            "cycle 0: import",
            "cycle x: import",
            "cycle 2 import",
            "reimport 0: import",
            "reimport 02: import",
            "subinterp own 0: import",
            "subinterp mine 2: import",
            "cycle: import",
            "subinterp mine: import",
            "main: import",
            "reimport: smoke: 4 threads",
            "",
        ] {
            assert!(bad.parse::<Step>().is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn the_first_instance_is_the_main_import_or_the_first_cycle() {
        let first: Vec<&str> = [
            "import",
            "smoke",
            "cycle 1: smoke",
            "cycle 2: smoke",
            "reimport: smoke",
            "reimport 2: import",
            "subinterp own: smoke",
            "subinterp own 1: import",
        ]
        .into_iter()
        .filter(|s| s.parse::<Step>().unwrap().stage.is_first_instance())
        .collect();
        assert_eq!(first, ["import", "smoke", "cycle 1: smoke"]);
    }

    #[test]
    fn only_target_steps_run_the_target() {
        let runs: Vec<Action> = Action::ALL
            .iter()
            .copied()
            .filter(|a| a.runs_target())
            .collect();
        assert_eq!(
            runs,
            [
                Action::Import,
                Action::Smoke,
                Action::SmokeOnThreads,
                Action::SmokeOldInstance,
                Action::InParallel
            ]
        );
    }
}
