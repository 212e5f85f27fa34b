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
    }
}

impl Action {
    /// Whether this step runs the target's code (its init function or the
    /// smoke code against it). Nothing before the first such step can be the
    /// target's fault.
    pub fn runs_target(self) -> bool {
        matches!(
            self,
            Action::Import | Action::Smoke | Action::SmokeOnThreads | Action::SmokeOldInstance
        )
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

/// Which part of a scenario a step belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// The main interpreter and the first import.
    Main,
    /// Init/finalize cycle N (from 1) of `reinit`.
    Cycle(u32),
    /// The second import of `reimport`.
    Reimport,
    /// Inside a subinterpreter.
    Subinterp(SubinterpKind),
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
            Stage::Reimport => f.write_str("reimport: ")?,
            Stage::Subinterp(kind) => write!(f, "subinterp {kind}: ")?,
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
            "unknown stage `{text}`; allowed: `cycle N`, `reimport`, `subinterp {{{}}}`",
            SubinterpKind::allowed_ids()
        )
    };
    if text == "reimport" {
        return Ok(Stage::Reimport);
    }
    if let Some(n) = text.strip_prefix("cycle ") {
        // Canonical numbers only (`cycle 2`, not `cycle 02` or `cycle 0`).
        return match n.parse::<u32>() {
            Ok(v) if v >= 1 && v.to_string() == n => Ok(Stage::Cycle(v)),
            _ => Err(bad()),
        };
    }
    if let Some(kind) = text.strip_prefix("subinterp ") {
        return kind.parse().map(Stage::Subinterp).map_err(|_| bad());
    }
    Err(bad())
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
            Stage::Reimport,
            Stage::Subinterp(SubinterpKind::Legacy),
            Stage::Subinterp(SubinterpKind::Own),
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
            Step::new(Stage::Subinterp(SubinterpKind::Own), Action::Import).to_string(),
            "subinterp own: import"
        );
        assert_eq!(
            Step::new(Stage::Reimport, Action::Forget).to_string(),
            "reimport: del sys.modules"
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
            "subinterp mine: import",
            "main: import",
            "reimport: smoke: 4 threads",
            "",
        ] {
            assert!(bad.parse::<Step>().is_err(), "{bad:?} parsed");
        }
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
                Action::SmokeOldInstance
            ]
        );
    }
}
