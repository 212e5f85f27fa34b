//! `extmatrix init`: write a starter `extmatrix.yaml` for the project in a
//! directory. What the project is and what the file says are
//! `extmatrix-init`'s; this only finds the interpreters, refuses to
//! overwrite, writes and says what to do next.

use crate::{InitArgs, UsageError};
use anyhow::{Context, Result};

/// The file `init` writes and `run` reads when given no matrix.
pub const DEFAULT_MATRIX: &str = "extmatrix.yaml";

pub fn init(args: InitArgs) -> Result<u8> {
    let dir = args.dir;
    let repo = extmatrix_init::detect(&dir).map_err(|e| UsageError(e.to_string()))?;
    let path = dir.join(DEFAULT_MATRIX);
    if path.exists() && !args.force {
        return Err(UsageError(format!(
            "{} already exists; edit it, or pass --force to replace it",
            path.display()
        ))
        .into());
    }
    let store = crate::cache_cmd::open(args.cache_dir, false)?;
    let ids: Vec<String> = extmatrix_engine::available_pythons(&store)
        .pythons
        .into_iter()
        .map(|p| p.id)
        .collect();
    let text = extmatrix_init::render(&repo, &ids);
    extmatrix_report::write_text(&text, &path)
        .with_context(|| format!("could not write {}", path.display()))?;
    println!("{}", summary(&repo, &path, &ids));
    Ok(0)
}

/// What `init` wrote, one target a line, and what to do next.
fn summary(repo: &extmatrix_init::Repository, path: &std::path::Path, ids: &[String]) -> String {
    let on = if ids.is_empty() {
        "every interpreter found at run time".to_owned()
    } else {
        ids.join(", ")
    };
    let mut text = format!("Wrote {} on {on}:\n", path.display());
    for p in &repo.projects {
        text.push_str(&format!(
            "  {} ({} target: {})\n",
            p.name,
            p.kind.key(),
            extmatrix_init::display_path(&p.path)
        ));
    }
    if !repo.skipped.is_empty() {
        text.push_str(&format!(
            "Left out {} other project(s); the file's comments say which and why.\n",
            repo.skipped.len()
        ));
    }
    let run = if repo.root == std::path::Path::new(".") {
        "extmatrix run".to_owned()
    } else {
        format!("extmatrix run {}", path.display())
    };
    text.push_str(&format!("Fill in its smoke lines, then: {run}"));
    text
}
