//! Provision what the runnable cells need, and nothing else: a harness per
//! interpreter that has a runnable cell, a build per (target, interpreter)
//! pair that has one. Builds run in parallel through the cache.

use crate::events::{BuildItem, Event, Observer};
use extmatrix_plan::Plan;
use extmatrix_provision::{BuildFailure, BuildLimits, BuiltTarget, Store};
use extmatrix_runner::parallel_map;
use extmatrix_spec::{PipSource, TargetKind, TargetSpec};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// What provisioning produced, by plan index. `None`: not needed.
pub struct Provisioned {
    pub harnesses: Vec<Option<Result<PathBuf, BuildFailure>>>,
    /// `targets[t][p]`
    pub targets: Vec<Vec<Option<Result<BuiltTarget, BuildFailure>>>>,
}

/// Whether cell `i` of the plan can run on its interpreter at all.
pub fn runnable(plan: &Plan, i: usize) -> bool {
    let cell = plan.cells[i];
    let py = &plan.pythons[cell.python];
    cell.scenario
        .unsupported_reason(py.version, py.free_threaded)
        .is_none()
}

pub fn provision(plan: &Plan, store: &Store, jobs: usize, observer: &dyn Observer) -> Provisioned {
    // Every target of an interpreter records the same headers: looked at
    // once for the whole pass, not once per target, and read only when
    // changed since an earlier pass (`Store::snapshot`).
    let store = &store.snapshot();
    let mut pairs = BTreeSet::new();
    for (i, cell) in plan.cells.iter().enumerate() {
        if runnable(plan, i) {
            pairs.insert((cell.target, cell.python));
        }
    }
    let limits = BuildLimits {
        step_timeout: std::time::Duration::from_secs(plan.options.build_timeout_s),
    };
    let pythons: BTreeSet<usize> = pairs.iter().map(|&(_, p)| p).collect();
    let pythons: Vec<usize> = pythons.into_iter().collect();
    let pairs: Vec<(usize, usize)> = pairs.into_iter().collect();
    observer.on(Event::ProvisionStarted {
        builds: pythons.len() + pairs.len(),
    });

    let harnesses = parallel_map(
        &pythons,
        jobs,
        |&p, _| {
            observer.on(Event::BuildStarted {
                item: BuildItem::Harness {
                    python: &plan.pythons[p].id,
                },
            });
            extmatrix_provision::harness(store, &plan.pythons[p])
        },
        |&p, r| {
            observer.on(Event::BuildFinished {
                item: BuildItem::Harness {
                    python: &plan.pythons[p].id,
                },
                ok: r.is_ok(),
            })
        },
    );
    let built = parallel_map(
        &pairs,
        jobs,
        |&(t, p), _| {
            observer.on(Event::BuildStarted {
                item: BuildItem::Target {
                    target: &plan.targets[t].name,
                    python: &plan.pythons[p].id,
                },
            });
            build_testable(store, &plan.targets[t], &plan.pythons[p], &limits)
        },
        |&(t, p), r| {
            observer.on(Event::BuildFinished {
                item: BuildItem::Target {
                    target: &plan.targets[t].name,
                    python: &plan.pythons[p].id,
                },
                ok: r.is_ok(),
            })
        },
    );

    let mut provisioned = Provisioned {
        harnesses: plan.pythons.iter().map(|_| None).collect(),
        targets: plan
            .targets
            .iter()
            .map(|_| plan.pythons.iter().map(|_| None).collect())
            .collect(),
    };
    for (p, h) in pythons.into_iter().zip(harnesses) {
        provisioned.harnesses[p] = Some(h);
    }
    for ((t, p), b) in pairs.into_iter().zip(built) {
        provisioned.targets[t][p] = Some(b);
    }
    provisioned
}

/// `target` built for `python`, with at least one extension module to
/// test: a build without any is a failure here, once, for every reader.
fn build_testable(
    store: &Store,
    target: &TargetSpec,
    python: &extmatrix_pythons::Python,
    limits: &BuildLimits,
) -> Result<BuiltTarget, BuildFailure> {
    let built = extmatrix_provision::build_target(store, target, python, limits)?;
    if built.modules.is_empty() && built.untestable.is_empty() {
        return Err(nothing_to_test(target, &python.id));
    }
    Ok(built)
}

/// A build with no extension module in it: nothing to test, which is the
/// target's failure. For a project directory it says which projects in it
/// do build extension modules (`extmatrix init`'s knowledge): a workspace
/// root or a pure-Python package given where its extension is a member.
fn nothing_to_test(target: &TargetSpec, python: &str) -> BuildFailure {
    let mut summary = format!(
        "building {} for {python} produced no extension module to test",
        target.name
    );
    if let TargetKind::Pip(PipSource::Project(dir)) = &target.kind {
        summary.push_str(&subprojects_hint(dir));
    }
    BuildFailure::message(summary)
}

/// "; the projects in DIR that do: …", or why the build has none.
fn subprojects_hint(dir: &Path) -> String {
    let others: Vec<String> = extmatrix_init::detect(dir)
        .map(|repo| repo.projects)
        .unwrap_or_default()
        .into_iter()
        .filter(|p| !p.path.as_os_str().is_empty())
        .map(|p| {
            format!(
                "{} ({})",
                extmatrix_init::display_path(&p.path),
                p.kind.key()
            )
        })
        .collect();
    if others.is_empty() {
        return format!(
            ": the wheel of {} holds none (a pure-Python package?)",
            dir.display()
        );
    }
    format!(
        ": the wheel of {} holds none, but these projects in it build extension modules: {}; \
         make each a target of its own (`extmatrix init --force` in {} writes one per project)",
        dir.display(),
        others.join(", "),
        dir.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/projects")
            .join(name)
            .canonicalize()
            .unwrap()
    }

    fn pip_project(dir: &Path) -> TargetSpec {
        TargetSpec {
            name: "root".into(),
            kind: TargetKind::Pip(PipSource::Project(dir.to_owned())),
            modules: vec![],
            exclude: vec![],
            smoke: None,
            site: false,
            expect: vec![],
            at: Default::default(),
        }
    }

    #[test]
    fn a_workspace_root_without_modules_names_the_members_that_build_some() {
        let dir = fixture("uv_workspace");
        let failure = nothing_to_test(&pip_project(&dir), "cp313");
        assert_eq!(
            failure.summary,
            format!(
                "building root for cp313 produced no extension module to test: the wheel of {d} \
                 holds none, but these projects in it build extension modules: \
                 crates/tally-python (pip); make each a target of its own (`extmatrix init \
                 --force` in {d} writes one per project)",
                d = dir.display()
            )
        );
    }

    #[test]
    fn a_build_without_modules_and_no_projects_below_says_so() {
        // The root itself is the only project here: nothing else to name.
        let dir = fixture("two_modules");
        let failure = nothing_to_test(&pip_project(&dir), "cp312");
        assert!(
            failure
                .summary
                .ends_with("holds none (a pure-Python package?)"),
            "{}",
            failure.summary
        );
        // Other kinds name no projects.
        let mut target = pip_project(&dir);
        target.kind = TargetKind::Stdlib;
        assert_eq!(
            nothing_to_test(&target, "cp312").summary,
            "building root for cp312 produced no extension module to test"
        );
    }
}
