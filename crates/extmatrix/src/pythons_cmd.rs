//! `extmatrix pythons`: what discovery finds, as a table or JSON.

use crate::PythonsArgs;
use anyhow::Result;
use extmatrix_pythons::{Python, SearchPlaces};

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

pub fn pythons(args: PythonsArgs) -> Result<u8> {
    let discovery = extmatrix_pythons::discover(&SearchPlaces::from_env());
    if args.json {
        println!("{}", serde_json::to_string_pretty(&discovery)?);
        return Ok(0);
    }
    let mut table = comfy_table::Table::new();
    table.load_style(comfy_table::presets::UTF8_FULL_CONDENSED);
    table.set_header(["id", "version", "flags", "path", "found via"]);
    for p in &discovery.pythons {
        table.add_row([
            p.id.clone(),
            p.version.to_string(),
            flags(p),
            p.path.display().to_string(),
            p.found_via.clone(),
        ]);
    }
    println!("{table}");
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
    if discovery.pythons.is_empty() {
        println!("\nNo embeddable CPython found. Install one with its development files (headers and python3.X-config).");
    }
    Ok(0)
}
