//! From a matrix to a plan: which interpreters (found, cached, or built
//! now), narrowed by the filters, expanded into cells. Everything that can
//! be wrong with the matrix or the command line is found here, before a
//! single cell runs.

use crate::events::Observer;
use crate::EngineError;
use extmatrix_cpython_build::BuildCache;
use extmatrix_plan::{Filters, Plan};
use extmatrix_provision::Store;
use extmatrix_pythons::{Asking, Discovery, ProbeCache, SearchPlaces};
use extmatrix_spec::{Matrix, PythonSelector};
use std::collections::HashMap;

/// Resolve `matrix` on this machine into a plan: discover interpreters
/// (those extmatrix built earlier count as found), build those the matrix
/// builds from source, resolve its `pythons`, expand the cells. Its
/// targets' expectations (with an expectations file's, once added to the
/// matrix) must each match a cell of the unfiltered matrix.
pub fn prepare(
    matrix: &Matrix,
    filters: &Filters,
    store: &Store,
    jobs: usize,
    observer: &dyn Observer,
) -> Result<Plan, EngineError> {
    let builds = BuildCache::new(store.root());
    let probes = ProbeCache::in_cache(store.root());
    let discovery = discover(matrix, filters, &builds, &probes);
    extmatrix_plan::check_filters(matrix, &discovery, filters)
        .map_err(|e| EngineError::Usage(e.to_string()))?;
    extmatrix_plan::check_expectations(matrix, &discovery)
        .map_err(|e| EngineError::Usage(e.to_string()))?;
    let (filters, shard) = extmatrix_plan::shard_filters(matrix, &discovery, filters);
    let pythons = match &shard {
        // A shard with no unit (more shards than builds) runs nothing.
        Some(_) if filters.pythons.is_empty() => Vec::new(),
        _ => resolve(
            matrix, &discovery, &builds, &probes, &filters, jobs, observer,
        )?,
    };
    let mut plan = extmatrix_plan::expand(matrix, pythons, &filters);
    if let Some(shard) = shard {
        plan.keep_shard(shard);
    }
    Ok(plan)
}

/// The interpreters of the plan: those found, and those the matrix builds
/// from source (built now, or found in the build cache).
fn resolve(
    matrix: &Matrix,
    discovery: &Discovery,
    builds: &BuildCache,
    probes: &ProbeCache,
    filters: &Filters,
    jobs: usize,
    observer: &dyn Observer,
) -> Result<Vec<extmatrix_pythons::Python>, EngineError> {
    let wanted = extmatrix_plan::builds_needed(matrix, filters);
    let built = crate::build_interpreters(matrix, &wanted, builds, jobs, observer)?;
    let built: HashMap<String, _> = built
        .into_iter()
        .map(|b| (b.meta.id.clone(), b.meta.python.refreshed()))
        .collect();
    extmatrix_plan::resolve_pythons(
        matrix,
        discovery,
        &built,
        |path, id| probes.probe(path, "matrix", Some(id)),
        filters,
    )
    .map_err(|e| EngineError::Usage(e.to_string()))
}

/// The interpreters `matrix`'s `auto` and ids (those `filters` keep) can
/// name here, as [`prepare`] finds them: [`available_pythons`], but when
/// the matrix has no `auto`, only the candidates that can have one of its
/// ids are asked (`extmatrix_pythons::Asking::ids`).
pub fn matrix_pythons(matrix: &Matrix, filters: &Filters, store: &Store) -> Discovery {
    let builds = BuildCache::new(store.root());
    discover(
        matrix,
        filters,
        &builds,
        &ProbeCache::in_cache(store.root()),
    )
}

/// The interpreters `auto` and ids can name: what discovery finds on the
/// machine, and, for ids it does not find, what extmatrix built earlier
/// into its cache. Probe answers come from the cache while current.
fn discover(
    matrix: &Matrix,
    filters: &Filters,
    builds: &BuildCache,
    probes: &ProbeCache,
) -> Discovery {
    let kept = |id: &str| filters.pythons.is_empty() || filters.pythons.iter().any(|p| p == id);
    let mut auto = false;
    let mut ids = Vec::new();
    for selector in &matrix.pythons {
        match selector {
            PythonSelector::Auto => auto = true,
            PythonSelector::Id { id, .. } if kept(id) => ids.push(id.clone()),
            _ => {}
        }
    }
    if auto {
        return available(builds, probes, None);
    }
    if ids.is_empty() {
        return Discovery::default();
    }
    let discovery = available(builds, probes, Some(&ids));
    if ids.iter().all(|id| discovery.get(id).is_some()) {
        return discovery;
    }
    // An id this machine lacks is an error that lists what it has.
    available(builds, probes, None)
}

fn available(builds: &BuildCache, probes: &ProbeCache, ids: Option<&[String]>) -> Discovery {
    let asking = Asking {
        cache: Some(probes),
        ids,
    };
    let mut discovery = extmatrix_pythons::discover_with(&SearchPlaces::from_env(), asking);
    discovery.add_missing(builds.list().into_iter().map(|b| b.meta.python.refreshed()));
    discovery
}

/// Every interpreter a matrix can name here by id: found on the machine,
/// or built earlier by extmatrix into `store`.
pub fn available_pythons(store: &Store) -> Discovery {
    let probes = ProbeCache::in_cache(store.root());
    available(&BuildCache::new(store.root()), &probes, None)
}
