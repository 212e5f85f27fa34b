//! Verdicts of cells that never ran: the scenario does not apply to the
//! build, the harness or the target did not build, or the harness could not
//! be started. Whose fault each one is decides its outcome: a target that
//! does not compile is `build-failed`; the harness is the tool's problem
//! (or the interpreter's), never the target's, so it is `harness-error`.
//! A build the package stopped itself on this interpreter says so with
//! its reason (`build-refused-by-package`, [`reason::refused_build`]).

use super::reason;
use crate::{Evidence, Verdict};
use extmatrix_core::{Outcome, Reason};
use extmatrix_schema::Details;

pub fn verdict(evidence: &Evidence) -> Verdict {
    let (outcome, details) = match evidence {
        Evidence::NotApplicable { reason } => (Outcome::NotApplicable, summary(reason.clone())),
        Evidence::TargetUnbuilt { summary, build } => (
            Outcome::BuildFailed,
            Details {
                summary: summary.clone(),
                reason: build
                    .cause
                    .as_ref()
                    .filter(|c| reason::refused_build(c))
                    .map(|_| Reason::BuildRefusedByPackage),
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
    use extmatrix_core::{BuildCause, BuildPhase, CauseKind, Outcome, Reason, Scenario};
    use extmatrix_schema::BuildDetails;

    fn build() -> BuildDetails {
        BuildDetails {
            command: "cc x.c".into(),
            output: "x.c:2: error".into(),
            cause: None,
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
        assert_eq!(target.details.reason, None);
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

    #[test]
    fn a_build_the_package_refused_has_its_reason_and_a_broken_one_none() {
        let with_cause = |kind: CauseKind, message: &str| {
            let build = BuildDetails {
                cause: Some(BuildCause {
                    phase: BuildPhase::Compiling,
                    kind,
                    message: message.into(),
                    location: Some("include/ftguard.h:7".into()),
                }),
                ..build()
            };
            judge_cell(
                &facts(Scenario::Import),
                &Evidence::TargetUnbuilt {
                    summary: "pip wheel failed while compiling".into(),
                    build,
                },
            )
        };
        let refused = with_cause(
            CauseKind::ErrorDirective,
            r#"#error "the free-threaded build requires CPython 3.14 or newer""#,
        );
        assert_eq!(refused.outcome, Outcome::BuildFailed);
        assert_eq!(refused.details.reason, Some(Reason::BuildRefusedByPackage));
        let broken = with_cause(
            CauseKind::CompilerError,
            "'_PyCriticalSection_SuspendAll' was not declared in this scope",
        );
        assert_eq!(broken.outcome, Outcome::BuildFailed);
        assert_eq!(broken.details.reason, None);
        // A harness that did not build is never the package's refusal.
        let harness = judge_cell(
            &facts(Scenario::Import),
            &Evidence::HarnessUnbuilt {
                python: "cp313".into(),
                summary: "x".into(),
                build: refused.details.build.clone().unwrap(),
            },
        );
        assert_eq!(harness.details.reason, None);
    }
}
