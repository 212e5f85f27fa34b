//! `extmatrix merge`: the reports of a run's shards joined into the report
//! of the whole run, concluded and published like `run` does. Joining and
//! what is refused is `extmatrix_verdict::merge`; this file reads the
//! files and writes the outputs.

use crate::outputs::{ConclusionArgs, OutputArgs};
use crate::UsageError;
use anyhow::Result;
use std::io::Write;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct MergeArgs {
    /// The JSON reports of every shard of one run (`extmatrix run MATRIX
    /// --shard I/N --json FILE`, I = 1…N), in any order.
    #[arg(required = true, value_name = "SHARD.json")]
    shards: Vec<PathBuf>,
    #[command(flatten)]
    outputs: OutputArgs,
    #[command(flatten)]
    conclusion: ConclusionArgs,
}

pub fn merge(args: MergeArgs) -> Result<u8> {
    let outputs = args.outputs.checked()?;
    // Each shard applied the run's expectations to its cells; the merge
    // keeps those checks and concludes the rest again.
    let policy = args.conclusion.policy(Vec::new())?;
    let mut shards = Vec::new();
    for path in &args.shards {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| UsageError(format!("{file}: cannot read it: {e}")))?;
        let report =
            extmatrix_verdict::read_report(&text, &file).map_err(|e| UsageError(e.to_string()))?;
        shards.push(extmatrix_verdict::ShardReport { file, report });
    }
    let count = shards.len();
    let report =
        extmatrix_verdict::merge(shards, &policy).map_err(|e| UsageError(e.to_string()))?;
    args.conclusion.publish(&report, &outputs)?;
    let _ = writeln!(
        std::io::stdout(),
        "merged {count} shards: {} cells",
        report.cells.len()
    );
    Ok(report.status.as_ref().map_or(1, |s| s.exit_code) as u8)
}
