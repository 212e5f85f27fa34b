//! Expand a [`Matrix`] into a [`Plan`]: the interpreters it names, resolved
//! against what discovery found, and one [`Cell`] per target × interpreter ×
//! scenario, narrowed by the command line's filters.
//!
//! A plan is plain data, decided before anything is built or run. A
//! shard's plan (`--shard I/N`, [`shard`]) is the run's plan with only the
//! cells of its units, and names the run it is a slice of.

mod shard;

pub use shard::{shard_of, Shard};

use extmatrix_core::Scenario;
use extmatrix_pythons::{Discovery, Python};
use extmatrix_spec::{BuildSpec, Matrix, Options, PythonSelector, TargetSpec};
use std::collections::HashMap;

/// A matrix or filter that cannot be planned on this machine.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PlanError(pub String);

/// Narrowing from the command line; empty means everything.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    pub pythons: Vec<String>,
    pub scenarios: Vec<Scenario>,
    pub targets: Vec<String>,
    /// Only this slice of the cells the other filters keep.
    pub shard: Option<Shard>,
}

impl Filters {
    /// These filters with only `pythons` kept.
    fn with_pythons(&self, pythons: Vec<String>) -> Filters {
        Filters {
            pythons,
            ..self.clone()
        }
    }
}

/// One cell: indexes into [`Plan::targets`] and [`Plan::pythons`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cell {
    pub target: usize,
    pub python: usize,
    pub scenario: Scenario,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub pythons: Vec<Python>,
    pub targets: Vec<TargetSpec>,
    pub options: Options,
    /// Target-major, then interpreter, then scenario.
    pub cells: Vec<Cell>,
    /// The run this plan is one shard of, when it is one.
    pub shard: Option<ShardOf>,
}

/// A shard and the whole run it is a slice of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardOf {
    pub shard: Shard,
    pub run: Selection,
}

/// What a run covers before it is split: the targets and interpreter ids
/// the filters keep, in the matrix's order (`auto` as discovery found them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    pub targets: Vec<String>,
    pub pythons: Vec<String>,
    pub scenarios: Vec<Scenario>,
}

impl Selection {
    /// The run of `matrix` on this machine's `discovery` that `filters`
    /// keep, whatever shard they ask for. The filters must have passed
    /// [`check_filters`].
    pub fn of(matrix: &Matrix, discovery: &Discovery, filters: &Filters) -> Selection {
        let mut pythons: Vec<String> = Vec::new();
        for id in python_ids(matrix, discovery) {
            if keep(&filters.pythons, id) && !pythons.iter().any(|p| p == id) {
                pythons.push(id.to_owned());
            }
        }
        Selection {
            targets: matrix
                .targets
                .iter()
                .filter(|t| keep(&filters.targets, &t.name))
                .map(|t| t.name.clone())
                .collect(),
            pythons,
            scenarios: kept_scenarios(matrix, filters),
        }
    }

    /// Whether `shard` runs `target` on `python`.
    pub fn owns(&self, shard: Shard, target: &str, python: &str) -> bool {
        self.pythons
            .iter()
            .position(|p| p == python)
            .is_some_and(|position| shard.owns(target, position))
    }

    /// The interpreters `shard` runs something on, in the run's order.
    pub fn pythons_of(&self, shard: Shard) -> Vec<String> {
        self.pythons
            .iter()
            .enumerate()
            .filter(|(position, _)| self.targets.iter().any(|t| shard.owns(t, *position)))
            .map(|(_, id)| id.clone())
            .collect()
    }

    /// The (target, interpreter) builds of `shard`.
    pub fn units_of(&self, shard: Shard) -> Vec<(&str, &str)> {
        let mut units = Vec::new();
        for target in &self.targets {
            for (position, python) in self.pythons.iter().enumerate() {
                if shard.owns(target, position) {
                    units.push((target.as_str(), python.as_str()));
                }
            }
        }
        units
    }
}

/// The filters that plan `filters.shard`'s slice of the run: its `--python`
/// narrowed to the interpreters the shard uses, so only those are built,
/// resolved and provisioned. Without a shard, `filters` as they are.
pub fn shard_filters(
    matrix: &Matrix,
    discovery: &Discovery,
    filters: &Filters,
) -> (Filters, Option<ShardOf>) {
    let Some(shard) = filters.shard else {
        return (filters.clone(), None);
    };
    let run = Selection::of(matrix, discovery, filters);
    let narrowed = filters.with_pythons(run.pythons_of(shard));
    (narrowed, Some(ShardOf { shard, run }))
}

impl Plan {
    /// Keep only the cells of `shard`'s units, and say which run the plan
    /// is a slice of.
    pub fn keep_shard(&mut self, shard: ShardOf) {
        let (targets, pythons) = (&self.targets, &self.pythons);
        self.cells.retain(|c| {
            shard
                .run
                .owns(shard.shard, &targets[c.target].name, &pythons[c.python].id)
        });
        self.shard = Some(shard);
    }
}

/// The build entries of `matrix` that the `--python` filter keeps: what must
/// be built (or found in the build cache) before the plan can be made.
pub fn builds_needed<'a>(matrix: &'a Matrix, filters: &Filters) -> Vec<&'a BuildSpec> {
    matrix
        .builds()
        .filter(|b| keep(&filters.pythons, &b.id))
        .collect()
}

fn keep(wanted: &[String], id: &str) -> bool {
    wanted.is_empty() || wanted.iter().any(|w| w == id)
}

/// The interpreters `matrix` names that the `--python` filter keeps, in file
/// order, each once.
///
/// `built` holds the interpreters of [`builds_needed`], by id. `probe` is
/// asked about `{id, path}` entries (the executable is not necessarily one
/// discovery would find).
pub fn resolve_pythons(
    matrix: &Matrix,
    discovery: &Discovery,
    built: &HashMap<String, Python>,
    probe: impl Fn(&std::path::Path, &str) -> anyhow::Result<Python>,
    filters: &Filters,
) -> Result<Vec<Python>, PlanError> {
    let source = matrix.source.display();
    // An interpreter the matrix names explicitly wins over the one `auto`
    // finds under the same id, wherever the two stand in the list.
    let explicit: Vec<&str> = matrix
        .pythons
        .iter()
        .filter_map(PythonSelector::id)
        .collect();
    let mut out: Vec<Python> = Vec::new();
    for selector in &matrix.pythons {
        let found = match selector {
            PythonSelector::Auto => discovery
                .pythons
                .iter()
                .filter(|p| !explicit.contains(&p.id.as_str()))
                .cloned()
                .collect(),
            PythonSelector::Id { id, .. }
            | PythonSelector::Path { id, .. }
            | PythonSelector::Build(BuildSpec { id, .. })
                if !keep(&filters.pythons, id) =>
            {
                continue
            }
            PythonSelector::Id { id, at } => match discovery.get(id) {
                Some(py) => vec![py.clone()],
                None => {
                    return Err(PlanError(format!(
                        "{source}:{at}: no interpreter `{id}` on this machine; found: {} \
                         (run `extmatrix pythons` to see where they are; \
                         use {{id: {id}, path: /path/to/python}} for one discovery does not find, \
                         or {{id: {id}, source: ..., variant: ...}} to build it)",
                        discovery.ids()
                    )))
                }
            },
            PythonSelector::Path { id, path, at } => vec![probe(path, id).map_err(|e| {
                PlanError(format!(
                    "{source}:{at}: python `{id}` at {}: {e:#}",
                    path.display()
                ))
            })?],
            PythonSelector::Build(b) => match built.get(&b.id) {
                Some(py) => vec![py.clone()],
                None => {
                    return Err(PlanError(format!(
                        "{source}:{}: python `{}` was not built",
                        b.at, b.id
                    )))
                }
            },
        };
        for py in found {
            if keep(&filters.pythons, &py.id) && !out.iter().any(|p| p.id == py.id) {
                out.push(py);
            }
        }
    }
    if out.is_empty() {
        return Err(PlanError(format!(
            "{source}: no interpreter to run on: discovery found none that can be embedded \
             (run `extmatrix pythons` to see what was rejected and why)"
        )));
    }
    Ok(out)
}

fn check_filter(kind: &str, wanted: &[String], known: &[&str]) -> Result<(), PlanError> {
    for w in wanted {
        if !known.contains(&w.as_str()) {
            return Err(PlanError(format!(
                "--{kind} {w}: not in this matrix; it has: {}",
                known.join(", ")
            )));
        }
    }
    Ok(())
}

/// Check the command line's filters against `matrix` (and, for `auto`,
/// against what discovery found): cheap, so it is done before anything is
/// built.
pub fn check_filters(
    matrix: &Matrix,
    discovery: &Discovery,
    filters: &Filters,
) -> Result<(), PlanError> {
    check_filter("python", &filters.pythons, &python_ids(matrix, discovery))?;
    let target_names: Vec<&str> = matrix.targets.iter().map(|t| t.name.as_str()).collect();
    check_filter("target", &filters.targets, &target_names)?;
    let scenario_ids: Vec<&str> = matrix.scenarios.iter().map(|s| s.id()).collect();
    let wanted_scenarios: Vec<String> = filters
        .scenarios
        .iter()
        .map(|s| s.id().to_owned())
        .collect();
    check_filter("scenario", &wanted_scenarios, &scenario_ids)
}

/// Every interpreter id `matrix` names, whatever the filters keep (`auto`
/// names what discovery found); an id may come twice.
fn python_ids<'a>(matrix: &'a Matrix, discovery: &'a Discovery) -> Vec<&'a str> {
    let mut ids: Vec<&str> = Vec::new();
    for selector in &matrix.pythons {
        match selector.id() {
            Some(id) => ids.push(id),
            None => ids.extend(discovery.pythons.iter().map(|p| p.id.as_str())),
        }
    }
    ids
}

/// Check that every expectation of `matrix` (its targets' `expect:` and
/// what an expectations file added to them) matches a cell of the whole
/// matrix: one of its target's (interpreter, scenario) pairs, before the
/// command line's filters. An expectation of cells a filter leaves out
/// applies to nothing in this run but is not wrong: one expectations file
/// serves every CI job of a split matrix. The module part cannot be
/// checked here (modules are known once built): `extmatrix-verdict` says
/// after the run when it matched none.
pub fn check_expectations(matrix: &Matrix, discovery: &Discovery) -> Result<(), PlanError> {
    let pythons = python_ids(matrix, discovery);
    for expectation in matrix.expectations() {
        let pattern = &expectation.cells;
        let matches = pythons.iter().any(|python| {
            matrix
                .scenarios
                .iter()
                .any(|scenario| pattern.matches_python_scenario(python, scenario.id()))
        });
        if !matches {
            let mut unique: Vec<&str> = Vec::new();
            for id in &pythons {
                if !unique.contains(id) {
                    unique.push(id);
                }
            }
            let scenarios: Vec<&str> = matrix.scenarios.iter().map(|s| s.id()).collect();
            return Err(PlanError(format!(
                "{}: `{pattern}` matches no cell of target `{}`: the matrix runs it on {} \
                 and scenarios {}",
                expectation.origin,
                expectation.target,
                unique.join(", "),
                scenarios.join(", ")
            )));
        }
    }
    Ok(())
}

/// The matrix's scenarios the `--scenario` filter keeps, in its order.
fn kept_scenarios(matrix: &Matrix, filters: &Filters) -> Vec<Scenario> {
    matrix
        .scenarios
        .iter()
        .copied()
        .filter(|s| filters.scenarios.is_empty() || filters.scenarios.contains(s))
        .collect()
}

/// Expand `matrix` on `pythons` (from [`resolve_pythons`]), narrowed by
/// the target and scenario filters.
///
/// The filters must have passed [`check_filters`].
pub fn expand(matrix: &Matrix, pythons: Vec<Python>, filters: &Filters) -> Plan {
    let targets: Vec<TargetSpec> = matrix
        .targets
        .iter()
        .filter(|t| keep(&filters.targets, &t.name))
        .cloned()
        .collect();
    let scenarios = kept_scenarios(matrix, filters);

    let mut cells = Vec::with_capacity(targets.len() * pythons.len() * scenarios.len());
    for target in 0..targets.len() {
        for python in 0..pythons.len() {
            for &scenario in &scenarios {
                cells.push(Cell {
                    target,
                    python,
                    scenario,
                });
            }
        }
    }
    Plan {
        pythons,
        targets,
        options: matrix.options.clone(),
        cells,
        shard: None,
    }
}
