//! `extmatrix cache list` and `extmatrix cache prune`: the whole cache
//! (interpreter, harness and target builds), one discipline
//! (`extmatrix-cache`). `pythons prune` is the same prune.

use crate::UsageError;
use anyhow::Result;
use extmatrix_cache::{Input, Listed, Store};
use std::path::PathBuf;

const PRUNE_ABOUT: &str = "\
Remove what no run will use again, from every part of the cache:

  pythons/   interpreter builds that none of the given matrices builds (same
             id, source and flags) or names by id; a matrix with `auto` keeps
             them all; one whose tarball is not here to identify it is kept
             by id
  harness/   harness builds made from other harness sources than this
             extmatrix carries, or for an interpreter that is gone, was
             rebuilt, or is pruned in this same run
  targets/   target builds whose interpreter is gone (likewise), or whose
             source file or any header it included is gone or changed (a
             pip or cargo project: any file of its source tree)
  sdists/    sdists downloaded for `pip: name==version` targets that no
             given matrix names
  cargo-target/
             cargo's target directories of `cargo:` targets whose crate
             (its Cargo.toml) or interpreter is gone, was rebuilt, or is
             pruned in this same run
  harness/, targets/
             builds whose cache key an older extmatrix made another way
             (no run looks them up again)
  any kind   damaged entries (a module or binary gone, or not the size and
             sha256 it was built with), entries without meta.json
             (interrupted builds) and the tmp/ work directories of builds
             that are not running

An entry that is being built right now (its lock is held) is left alone.
Downloaded tarballs (pythons/sources/) and logs of failed builds are kept;
an entry's log goes with it. Each removal is printed with its size and why,
then the total.";

const PRUNE_EXAMPLES: &str = "\
Examples:
  extmatrix cache prune --dry-run            # what would go; keeps the builds of matrices/*.yaml
  extmatrix cache prune --matrix my.yaml     # keep only the interpreter builds my.yaml needs
  extmatrix cache prune --matrix a.yaml --matrix matrices/full.yaml --cache-dir /tmp/xm";

#[derive(clap::Args)]
pub struct CacheArgs {
    #[command(subcommand)]
    action: CacheAction,
    /// The cache [default: $EXTMATRIX_CACHE_DIR, else $XDG_CACHE_HOME/extmatrix, else ~/.cache/extmatrix].
    #[arg(long, value_name = "DIR", global = true)]
    cache_dir: Option<PathBuf>,
}

#[derive(clap::Subcommand)]
enum CacheAction {
    /// List every cache entry: interpreter, harness and target builds, with
    /// size, age and what each was built for.
    List {
        /// Print the entries as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove cache entries no run will use again, and leftovers of
    /// interrupted builds.
    #[command(long_about = PRUNE_ABOUT, after_help = PRUNE_EXAMPLES)]
    Prune(PruneArgs),
}

#[derive(clap::Args)]
pub struct PruneArgs {
    /// Matrices whose interpreter builds to keep (repeatable) [default: matrices/*.yaml
    /// under the current directory; none found is an error, never "keep nothing"].
    #[arg(long = "matrix", value_name = "FILE")]
    pub matrices: Vec<PathBuf>,
    /// Only say what would be removed.
    #[arg(long)]
    pub dry_run: bool,
}

/// How long a work directory under `<cache>/tmp/` whose build is not
/// running stays before a run collects it.
pub const STALE_WORK_AGE: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// The cache `--cache-dir` (or the environment) names, checked before
/// anything runs: one that cannot be used (a file, a directory that cannot
/// be written) is a usage error, exit 2. With `build` (a run, `pythons
/// build`) it is created if missing and must be writable, and the work
/// directories of builds killed more than a day ago are collected.
pub fn open(explicit: Option<PathBuf>, build: bool) -> Result<Store> {
    let store = Store::from_env(explicit).map_err(|e| UsageError(e.to_string()))?;
    store
        .check_dir(build)
        .map_err(|e| UsageError(e.to_string()))?;
    if build {
        store.collect_stale_work(STALE_WORK_AGE);
    }
    Ok(store)
}

pub fn cache(args: CacheArgs) -> Result<u8> {
    let store = open(args.cache_dir, false)?;
    match args.action {
        CacheAction::List { json } => list(&store, json),
        CacheAction::Prune(p) => prune(&store, p.matrices, p.dry_run),
    }
}

fn human(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", b / 1048576.0)
    } else if b >= 1024.0 {
        format!("{:.0} KiB", b / 1024.0)
    } else {
        format!("{bytes} B")
    }
}

fn age(stamp: Option<&extmatrix_cache::Stamp>) -> String {
    let Some(at) = stamp.map(|s| s.built_at) else {
        return "-".to_owned();
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let secs = now.saturating_sub(at);
    match secs {
        s if s < 120 => format!("{s}s ago"),
        s if s < 2 * 3600 => format!("{}m ago", s / 60),
        s if s < 2 * 86400 => format!("{}h ago", s / 3600),
        s => format!("{}d ago", s / 86400),
    }
}

/// One line on what an entry is, from its kind's meta.
fn describe(l: &Listed) -> String {
    if !l.is_complete() {
        return "incomplete (no meta.json): prune removes it".to_owned();
    }
    match l.kind.as_str() {
        extmatrix_cpython_build::KIND => match l.meta_as::<extmatrix_cpython_build::Meta>() {
            Some(m) => format!("{} {} ({})", m.id, m.python.version, m.variant),
            None => "unreadable interpreter meta".to_owned(),
        },
        extmatrix_provision::HARNESS_KIND => {
            match l.meta_as::<extmatrix_provision::HarnessMeta>() {
                Some(m) => format!("harness for {} ({})", m.python, m.python_path.display()),
                None => "unreadable harness meta".to_owned(),
            }
        }
        extmatrix_provision::TARGETS_KIND => match l.meta_as::<extmatrix_provision::TargetMeta>() {
            Some(m) => {
                let modules: Vec<&str> = m.modules.iter().map(|m| m.name.as_str()).collect();
                let source = l
                    .stamp
                    .iter()
                    .flat_map(|s| &s.inputs)
                    .find_map(|i| match i {
                        Input::File { path, .. } => Some(format!(" from {}", path.display())),
                        _ => None,
                    })
                    .unwrap_or_default();
                format!("{} for {}{source}", modules.join(", "), m.python)
            }
            None => "unreadable target meta".to_owned(),
        },
        _ => String::new(),
    }
}

fn list(store: &Store, json: bool) -> Result<u8> {
    let entries = store.list();
    let leftovers = store.leftovers();
    if json {
        let value = serde_json::json!({
            "root": store.root(),
            "entries": entries.iter().map(|l| serde_json::json!({
                "kind": l.kind,
                "name": l.name,
                "dir": l.dir,
                "complete": l.is_complete(),
                "size_bytes": l.size_bytes(),
                "stamp": l.stamp,
                "meta": l.meta,
            })).collect::<Vec<_>>(),
            "leftovers": leftovers,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(0);
    }
    if entries.is_empty() && leftovers.is_empty() {
        println!("The cache {} is empty.", store.root().display());
        return Ok(0);
    }
    let mut t = comfy_table::Table::new();
    t.load_style(comfy_table::presets::UTF8_FULL_CONDENSED);
    t.set_header(["kind", "entry", "size", "built", "what"]);
    let mut total = 0;
    for l in &entries {
        let size = l.size_bytes();
        total += size;
        t.add_row([
            l.kind.clone(),
            l.name.clone(),
            human(size),
            age(l.stamp.as_ref()),
            describe(l),
        ]);
    }
    println!("Cache {}:\n{t}", store.root().display());
    if !leftovers.is_empty() {
        let bytes: u64 = leftovers.iter().map(|p| extmatrix_cache::dir_size(p)).sum();
        total += bytes;
        println!(
            "{} leftover work director{} in tmp/ ({})",
            leftovers.len(),
            if leftovers.len() == 1 { "y" } else { "ies" },
            human(bytes)
        );
    }
    println!(
        "{} entries, {:.1} MiB in all; `extmatrix cache prune --dry-run` shows what is no longer needed.",
        entries.len(),
        total as f64 / 1048576.0
    );
    Ok(0)
}

/// The matrices that say which interpreter builds to keep.
fn matrices_to_keep(given: Vec<PathBuf>) -> Result<Vec<PathBuf>> {
    let matrices = if given.is_empty() {
        let mut found: Vec<PathBuf> = std::fs::read_dir("matrices")
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
            .collect();
        found.sort();
        found
    } else {
        given
    };
    if matrices.is_empty() {
        return Err(UsageError(
            "no matrix files in ./matrices to say which builds to keep; pass --matrix FILE (repeatable)".into(),
        )
        .into());
    }
    Ok(matrices)
}

/// `cache prune` (and `pythons prune`): the policy is the engine's
/// (`extmatrix_engine::prune`); this finds the matrices and prints.
pub fn prune(store: &Store, matrices: Vec<PathBuf>, dry_run: bool) -> Result<u8> {
    let matrices = matrices_to_keep(matrices)?;
    let loaded = matrices
        .iter()
        .map(|path| extmatrix_spec::load(path).map_err(|e| UsageError(e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    let removed = extmatrix_engine::prune(store, &loaded, dry_run)?;
    for r in &removed {
        println!(
            "{} {} ({}): {}",
            if dry_run { "would remove" } else { "removed" },
            r.path.display(),
            human(r.bytes),
            r.reason
        );
    }
    let total: u64 = removed.iter().map(|r| r.bytes).sum();
    println!(
        "{} {} entries, {:.1} MiB (kept the interpreter builds of {})",
        if dry_run { "would free" } else { "freed" },
        removed.len(),
        total as f64 / 1048576.0,
        matrices
            .iter()
            .map(|m| m.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_well() {
        assert_eq!(human(12), "12 B");
        assert_eq!(human(20 * 1024), "20 KiB");
        assert_eq!(human(3 * 1024 * 1024 + 1024 * 512), "3.5 MiB");
    }
}
