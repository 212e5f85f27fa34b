//! Verdicts of cells that never ran: the scenario does not apply to the
//! build, the harness or the target did not build, or the harness could not
//! be started. Whose fault each one is decides its outcome: a target that
//! does not compile is `build-failed`; the harness is the tool's problem
//! (or the interpreter's), never the target's, so it is `harness-error`.

use crate::{Evidence, Verdict};
use extmatrix_core::Outcome;
use extmatrix_schema::Details;

pub fn verdict(evidence: &Evidence) -> Verdict {
    let (outcome, details) = match evidence {
        Evidence::NotApplicable { reason } => (Outcome::NotApplicable, summary(reason.clone())),
        Evidence::TargetUnbuilt { summary, build } => (
            Outcome::BuildFailed,
            Details {
                summary: summary.clone(),
                build: Some(build.clone()),
                ..Details::default()
            },
        ),
        Evidence::HarnessUnbuilt {
            python,
            summary,
            build,
        } => (
            Outcome::HarnessError,
            Details {
                summary: format!("the harness did not build for {python}: {summary}"),
                build: Some(build.clone()),
                ..Details::default()
            },
        ),
        Evidence::CouldNotRun { message } => (Outcome::HarnessError, summary(message.clone())),
        Evidence::Ran(_) => unreachable!("cells that ran are judged by the run rules"),
    };
    Verdict { outcome, details }
}

fn summary(summary: String) -> Details {
    Details {
        summary,
        ..Details::default()
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;
    use crate::{judge_cell, Evidence};
    use extmatrix_core::{Outcome, Scenario};
    use extmatrix_schema::BuildDetails;

    fn build() -> BuildDetails {
        BuildDetails {
            command: "cc x.c".into(),
            output: "x.c:2: error".into(),
            log: None,
        }
    }

    #[test]
    fn whose_build_failed_decides_the_outcome() {
        let f = facts(Scenario::Import);
        let target = judge_cell(
            &f,
            &Evidence::TargetUnbuilt {
                summary: "`cc` failed".into(),
                build: build(),
            },
        );
        assert_eq!(target.outcome, Outcome::BuildFailed);
        assert_eq!(target.details.summary, "`cc` failed");
        assert_eq!(target.details.build, Some(build()));
        let harness = judge_cell(
            &f,
            &Evidence::HarnessUnbuilt {
                python: "cp313".into(),
                summary: "`cc` failed".into(),
                build: build(),
            },
        );
        assert_eq!(harness.outcome, Outcome::HarnessError);
        assert_eq!(harness.details.build, Some(build()));
        assert_eq!(
            harness.details.summary,
            "the harness did not build for cp313: `cc` failed"
        );
        let na = judge_cell(
            &f,
            &Evidence::NotApplicable {
                reason: "needs 3.12".into(),
            },
        );
        assert_eq!(
            (na.outcome, na.details.summary.as_str()),
            (Outcome::NotApplicable, "needs 3.12")
        );
        let spawn = judge_cell(
            &f,
            &Evidence::CouldNotRun {
                message: "ENOEXEC".into(),
            },
        );
        assert_eq!(spawn.outcome, Outcome::HarnessError);
    }
}
