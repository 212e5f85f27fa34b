//! `extmatrix plan`: what a run of a matrix would do, without building or
//! running anything — its cells, its builds, the interpreters it builds
//! from source, a rough estimate — and how `--shards N` splits it, as
//! text or as the JSON of a GitHub Actions `strategy.matrix`. The slices
//! are `extmatrix_plan`'s, the same `run --shard` runs.

use crate::UsageError;
use anyhow::Result;
use extmatrix_core::Scenario;
use extmatrix_plan::{Selection, Shard};
use extmatrix_spec::Matrix;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct PlanArgs {
    /// The matrix file [default: ./extmatrix.yaml].
    matrix: Option<PathBuf>,
    /// Split the run into N shards (`run --shard I/N`) and show each.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=256))]
    shards: Option<u32>,
    /// Print one line of JSON for a GitHub Actions job matrix instead:
    /// `{"include":[{"shard":"1/4","index":1,"pythons":"cp311 cp313t",
    /// "builds":12,"cells":84,"interpreters_key":"…"},…]}`, for
    /// `strategy.matrix: ${{ fromJSON(needs.plan.outputs.matrix) }}`.
    /// `interpreters_key` names the interpreters the shard builds from
    /// source (extmatrix's own cache keys of those builds, hashed; empty
    /// when it builds none): key the job's cache of
    /// ~/.cache/extmatrix/pythons with it, and each job restores only what
    /// it uses. Needs --shards.
    #[arg(long, requires = "shards")]
    github_matrix: bool,
    #[command(flatten)]
    filters: crate::FilterArgs,
    /// The cache holding built interpreters [default: as for `run`].
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
}

pub fn plan(args: PlanArgs) -> Result<u8> {
    let matrix_path = crate::run::matrix_path(args.matrix)?;
    let matrix = extmatrix_spec::load(&matrix_path).map_err(|e| UsageError(e.to_string()))?;
    let store = crate::cache_cmd::open(args.cache_dir, false)?;
    let filters = args.filters.into_filters(None);
    let discovery = extmatrix_engine::matrix_pythons(&matrix, &filters, &store);
    extmatrix_plan::check_filters(&matrix, &discovery, &filters)
        .map_err(|e| UsageError(e.to_string()))?;
    let run = Selection::of(&matrix, &discovery, &filters);
    let keys = InterpreterKeys::of(&matrix, &store);
    let shards: Vec<Shard> = Shard::all(args.shards.unwrap_or(1)).collect();
    if args.github_matrix {
        println!("{}", github_matrix(&run, &shards, &keys));
        return Ok(0);
    }
    let jobs = crate::run::jobs(None, &matrix);
    let name = matrix_path.display().to_string();
    print!("{}", describe(&name, &run, &keys, jobs));
    if args.shards.is_some() {
        for &shard in &shards {
            println!("{}", shard_line(&run, shard, &keys));
        }
    }
    Ok(0)
}

/// The cache keys of the interpreters the matrix builds from source, and
/// whether each is in the cache already.
struct InterpreterKeys(Vec<(String, String, bool)>);

impl InterpreterKeys {
    fn of(matrix: &Matrix, store: &extmatrix_provision::Store) -> Self {
        let cached: Vec<String> = extmatrix_cpython_build::BuildCache::new(store.root())
            .list()
            .into_iter()
            .map(|b| b.meta.key)
            .collect();
        InterpreterKeys(
            matrix
                .builds()
                .map(|spec| {
                    // A tarball not fetched yet has no sha256 to key by: its
                    // entry stands for it (a job that fetches it builds it).
                    let key = extmatrix_cpython_build::key_of(spec)
                        .unwrap_or_else(|| extmatrix_cache::key([format!("{spec:?}")]));
                    let is_cached = cached.contains(&key);
                    (spec.id.clone(), key, is_cached)
                })
                .collect(),
        )
    }

    /// One key for the source builds among `pythons`; empty for none.
    fn key_for(&self, pythons: &[String]) -> String {
        let keys: Vec<&str> = self
            .0
            .iter()
            .filter(|(id, _, _)| pythons.contains(id))
            .map(|(_, key, _)| key.as_str())
            .collect();
        if keys.is_empty() {
            return String::new();
        }
        extmatrix_cache::key(keys)[..16].to_owned()
    }

    fn is_built(&self, id: &str) -> Option<bool> {
        self.0.iter().find(|(i, _, _)| i == id).map(|e| e.2)
    }
}

/// Rough seconds of one cell of `scenario` on this kind of machine (the
/// default matrix's medians, docs/benchmarks.md): an estimate to size a
/// split, never a verdict.
fn rough_seconds(scenario: Scenario) -> f64 {
    match scenario {
        Scenario::Import => 0.4,
        Scenario::Reinit => 1.5,
        Scenario::Reimport => 0.5,
        // Three runs by default (`repeat`), of K interpreters in W waves.
        Scenario::SubinterpParallel => 1.5,
        Scenario::Inittab => 1.0,
        _ => 0.8,
    }
}

fn cell_seconds(run: &Selection, units: usize) -> f64 {
    units as f64
        * run
            .scenarios
            .iter()
            .copied()
            .map(rough_seconds)
            .sum::<f64>()
}

fn describe(matrix: &str, run: &Selection, keys: &InterpreterKeys, jobs: usize) -> String {
    let units = run.targets.len() * run.pythons.len();
    let cells = units * run.scenarios.len();
    let mut out = format!(
        "{matrix}: {} targets × {} interpreters × {} scenarios = {cells} cells \
         (per module a target builds), {units} builds\n",
        run.targets.len(),
        run.pythons.len(),
        run.scenarios.len(),
    );
    let interpreters: Vec<String> = run
        .pythons
        .iter()
        .map(|id| match keys.is_built(id) {
            Some(true) => format!("{id} (built, cached)"),
            Some(false) => format!("{id} (to build from source, ~5 min)"),
            None => id.clone(),
        })
        .collect();
    out += &format!("interpreters: {}\n", interpreters.join(", "));
    let seconds = cell_seconds(run, units);
    out += &format!(
        "estimate: ~{:.0} s of cells, ~{:.0} min on {jobs} jobs (rough medians per \
         scenario; builds not counted: a pip target takes seconds to minutes per interpreter \
         the first time, then the cache serves it)\n",
        seconds,
        seconds / 60.0 / jobs as f64,
    );
    out
}

fn shard_line(run: &Selection, shard: Shard, keys: &InterpreterKeys) -> String {
    let units = run.units_of(shard).len();
    let pythons = run.pythons_of(shard);
    let key = keys.key_for(&pythons);
    format!(
        "shard {shard}: {units} builds, {} cells, ~{:.0} s; interpreters {}{}",
        units * run.scenarios.len(),
        cell_seconds(run, units),
        if pythons.is_empty() {
            "none".to_owned()
        } else {
            pythons.join(" ")
        },
        if key.is_empty() {
            String::new()
        } else {
            format!(" (source builds' key {key})")
        }
    )
}

fn github_matrix(run: &Selection, shards: &[Shard], keys: &InterpreterKeys) -> String {
    let include: Vec<serde_json::Value> = shards
        .iter()
        .map(|&shard| {
            let units = run.units_of(shard).len();
            let pythons = run.pythons_of(shard);
            serde_json::json!({
                "shard": shard.to_string(),
                "index": shard.index,
                "pythons": pythons.join(" "),
                "builds": units,
                "cells": units * run.scenarios.len(),
                "interpreters_key": keys.key_for(&pythons),
            })
        })
        .collect();
    serde_json::json!({ "include": include }).to_string()
}
