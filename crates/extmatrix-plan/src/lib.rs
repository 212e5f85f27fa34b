//! Expand a [`Matrix`] into a [`Plan`]: the interpreters it names, resolved
//! against what discovery found, and one [`Cell`] per target × interpreter ×
//! scenario, narrowed by the command line's filters.
//!
//! A plan is plain data, decided before anything is built or run; later
//! additions (sharding for CI matrix jobs, expectations) operate on it.

use extmatrix_core::Scenario;
use extmatrix_pythons::{Discovery, Python};
use extmatrix_spec::{Matrix, Options, PythonSelector, TargetSpec};

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
    pub scenarios: Vec<Scenario>,
    pub options: Options,
    /// Target-major, then interpreter, then scenario.
    pub cells: Vec<Cell>,
}

/// The interpreters `matrix` names, in file order, each once.
///
/// `probe` is asked about `{id, path}` entries (the executable is not
/// necessarily one discovery would find).
pub fn resolve_pythons(
    matrix: &Matrix,
    discovery: &Discovery,
    probe: impl Fn(&std::path::Path, &str) -> anyhow::Result<Python>,
) -> Result<Vec<Python>, PlanError> {
    let mut out: Vec<Python> = Vec::new();
    let source = matrix.source.display();
    for selector in &matrix.pythons {
        let found = match selector {
            PythonSelector::Auto => discovery.pythons.clone(),
            PythonSelector::Id { id, at } => match discovery.get(id) {
                Some(py) => vec![py.clone()],
                None => {
                    return Err(PlanError(format!(
                        "{source}:{at}: no interpreter `{id}` on this machine; found: {} \
                         (run `extmatrix pythons` to see where they are; \
                         use {{id: {id}, path: /path/to/python}} for one discovery does not find)",
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
        };
        for py in found {
            if !out.iter().any(|p| p.id == py.id) {
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

/// Expand `matrix` on `pythons`, narrowed by `filters`.
pub fn expand(matrix: &Matrix, pythons: Vec<Python>, filters: &Filters) -> Result<Plan, PlanError> {
    let python_ids: Vec<&str> = pythons.iter().map(|p| p.id.as_str()).collect();
    check_filter("python", &filters.pythons, &python_ids)?;
    let target_names: Vec<&str> = matrix.targets.iter().map(|t| t.name.as_str()).collect();
    check_filter("target", &filters.targets, &target_names)?;
    let scenario_ids: Vec<&str> = matrix.scenarios.iter().map(|s| s.id()).collect();
    let wanted_scenarios: Vec<String> = filters
        .scenarios
        .iter()
        .map(|s| s.id().to_owned())
        .collect();
    check_filter("scenario", &wanted_scenarios, &scenario_ids)?;

    let keep = |list: &[String], name: &str| list.is_empty() || list.iter().any(|w| w == name);
    let pythons: Vec<Python> = pythons
        .into_iter()
        .filter(|p| keep(&filters.pythons, &p.id))
        .collect();
    let targets: Vec<TargetSpec> = matrix
        .targets
        .iter()
        .filter(|t| keep(&filters.targets, &t.name))
        .cloned()
        .collect();
    let scenarios: Vec<Scenario> = matrix
        .scenarios
        .iter()
        .copied()
        .filter(|s| filters.scenarios.is_empty() || filters.scenarios.contains(s))
        .collect();

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
    Ok(Plan {
        pythons,
        targets,
        scenarios,
        options: matrix.options.clone(),
        cells,
    })
}
