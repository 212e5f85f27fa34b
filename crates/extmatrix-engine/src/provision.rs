//! Provision what the runnable cells need, and nothing else: a harness per
//! interpreter that has a runnable cell, a build per (target, interpreter)
//! pair that has one. Builds run in parallel through the cache.

use crate::events::{BuildItem, Event, Observer};
use extmatrix_plan::Plan;
use extmatrix_provision::{BuildFailure, BuildLimits, BuiltTarget, Store};
use extmatrix_runner::parallel_map;
use std::collections::BTreeSet;
use std::path::PathBuf;

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
        |&p| {
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
        |&(t, p)| {
            observer.on(Event::BuildStarted {
                item: BuildItem::Target {
                    target: &plan.targets[t].name,
                    python: &plan.pythons[p].id,
                },
            });
            extmatrix_provision::build_target(store, &plan.targets[t], &plan.pythons[p], &limits)
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
