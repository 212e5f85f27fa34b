//! `extmatrix pythons`: what discovery finds and what the cache has built;
//! `pythons build` and `pythons prune` (which is `cache prune`).

use crate::{PythonsAction, PythonsArgs, UsageError};
use anyhow::Result;
use extmatrix_cpython_build::BuildCache;
use extmatrix_pythons::{Asking, ProbeCache, Python, SearchPlaces};
use extmatrix_spec::Matrix;
use std::path::Path;

fn flags(p: &Python) -> String {
    let mut f = Vec::new();
    if p.debug {
        f.push("debug");
    }
    if p.free_threaded {
        f.push("free-threaded");
    }
    f.join(", ")
}

fn table(header: &[&str]) -> comfy_table::Table {
    let mut t = comfy_table::Table::new();
    t.load_style(comfy_table::presets::UTF8_FULL_CONDENSED);
    t.set_header(header.to_vec());
    t
}

pub fn pythons(args: PythonsArgs) -> Result<u8> {
    let building = matches!(args.action, Some(PythonsAction::Build { .. }));
    let store = crate::cache_cmd::open(args.cache_dir, building)?;
    let builds = BuildCache::new(store.root());
    match args.action {
        None => list(&builds, &ProbeCache::in_cache(store.root()), args.json),
        Some(PythonsAction::Build { matrix, ids, jobs }) => build(&builds, &matrix, &ids, jobs),
        Some(PythonsAction::Prune(p)) => crate::cache_cmd::prune(&store, p.matrices, p.dry_run),
    }
}

fn list(builds: &BuildCache, probes: &ProbeCache, json: bool) -> Result<u8> {
    let asking = Asking {
        cache: Some(probes),
        ids: None,
    };
    let discovery = extmatrix_pythons::discover_with(&SearchPlaces::from_env(), asking);
    let built = builds.list();
    if json {
        let metas: Vec<_> = built.iter().map(|b| &b.meta).collect();
        let value = serde_json::json!({
            "pythons": discovery.pythons,
            "shadowed": discovery.shadowed,
            "rejected": discovery.rejected,
            "built": metas,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(0);
    }
    let mut t = table(&["id", "version", "flags", "path", "found via"]);
    for p in &discovery.pythons {
        t.add_row([
            p.id.clone(),
            p.version.to_string(),
            flags(p),
            p.path.display().to_string(),
            p.found_via.clone(),
        ]);
    }
    println!("Found on this machine:\n{t}");
    if !discovery.shadowed.is_empty() {
        println!(
            "\nAlso found, but another interpreter has the same id (the newest patch release wins;"
        );
        println!("name one in a matrix with {{id: <your-id>, path: <path>}}):");
        for p in &discovery.shadowed {
            println!(
                "  {} {} {} ({})",
                p.id,
                p.version,
                p.path.display(),
                p.found_via
            );
        }
    }
    if !discovery.rejected.is_empty() {
        println!("\nNot usable:");
        for r in &discovery.rejected {
            println!("  {}: {}", r.path.display(), r.reason);
        }
    }
    if built.is_empty() {
        println!(
            "\nBuilt by extmatrix: none yet in {} (`extmatrix pythons build`).",
            builds.root().display()
        );
    } else {
        let mut t = table(&["id", "version", "flags", "variant", "size", "cache entry"]);
        for b in &built {
            let p = &b.meta.python;
            t.add_row([
                b.meta.id.clone(),
                p.version.to_string(),
                flags(p),
                b.meta.variant.to_string(),
                format!("{:.0} MiB", b.meta.size_bytes as f64 / (1024.0 * 1024.0)),
                b.dir.display().to_string(),
            ]);
        }
        println!(
            "\nBuilt by extmatrix (in {}):\n{t}",
            builds.root().display()
        );
    }
    if discovery.pythons.is_empty() && built.is_empty() {
        println!("\nNo embeddable CPython found. Install one with its development files (headers and python3.X-config).");
    }
    Ok(0)
}

fn load(matrix: &Path) -> Result<Matrix> {
    Ok(extmatrix_spec::load(matrix).map_err(|e| UsageError(e.to_string()))?)
}

fn build(builds: &BuildCache, matrix_path: &Path, ids: &[String], jobs: Option<u16>) -> Result<u8> {
    let matrix = load(matrix_path)?;
    let specs: Vec<_> = matrix.builds().collect();
    let known: Vec<&str> = specs.iter().map(|b| b.id.as_str()).collect();
    for id in ids {
        if !known.contains(&id.as_str()) {
            return Err(UsageError(format!(
                "{}: no build entry `{id}`; it has: {}",
                matrix_path.display(),
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            ))
            .into());
        }
    }
    if known.is_empty() {
        println!(
            "{} has no build entries (`{{id, source, variant}}` in `pythons`); nothing to build",
            matrix_path.display()
        );
        return Ok(0);
    }
    let wanted: Vec<_> = specs
        .into_iter()
        .filter(|b| ids.is_empty() || ids.contains(&b.id))
        .collect();
    let jobs = crate::run::jobs(jobs, &matrix);
    let built = extmatrix_engine::build_interpreters(
        &matrix,
        &wanted,
        builds,
        jobs,
        &crate::progress::Bars::new(),
    )
    .map_err(crate::run::usage)?;
    for b in &built {
        let total: f64 = b.meta.seconds.iter().map(|(_, s)| s).sum();
        let phases: Vec<String> = b
            .meta
            .seconds
            .iter()
            .map(|(p, s)| format!("{} {s:.0}s", p.name()))
            .collect();
        println!(
            "{} {} {}: {}",
            b.meta.id,
            b.meta.python.version,
            if b.fresh {
                format!("built in {total:.0}s ({})", phases.join(", "))
            } else {
                "cached".to_owned()
            },
            b.meta.python.path.display()
        );
    }
    Ok(0)
}
