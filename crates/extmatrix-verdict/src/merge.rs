//! Shard reports ──merge──▶ the report of the whole run.
//!
//! Each shard (`run --shard I/N`) ran every scenario of its (target,
//! interpreter) builds, and judged each cell with its own baselines and
//! controls, so a cell's verdict is the same whichever shard ran it. What
//! reads several cells — findings, the comparison with a baseline, the
//! run's status — is concluded again over the joined cells
//! ([`conclude_joined`]), the same way the engine concludes a whole run.
//!
//! Refused, with what to do: a report that is no shard, shards of another
//! run (matrix, selection, options, expectations), of another extmatrix
//! binary, of another split (`/N`), a shard given twice, and a missing one.

use crate::Policy;
use extmatrix_schema::{Interruption, MergedShard, Report, ShardInfo};
use std::collections::HashMap;

/// A shard report and the file it was read from.
pub struct ShardReport {
    pub file: String,
    pub report: Report,
}

/// Why shard reports cannot be merged.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MergeError {
    #[error("nothing to merge: give the JSON reports of `extmatrix run --shard I/N --json FILE`")]
    Nothing,
    #[error(
        "{file} is not a shard's report (it was run without --shard): merge joins the reports \
         of `extmatrix run MATRIX --shard I/N --json FILE`, one per shard"
    )]
    NotAShard { file: String },
    #[error(
        "{file} is shard {index}/{count}, {first} is shard {first_index}/{first_count}: the \
         shards of one run are all split the same way; give the N reports of one \
         `--shard I/N` split"
    )]
    OtherSplit {
        file: String,
        index: u32,
        count: u32,
        first: String,
        first_index: u32,
        first_count: u32,
    },
    #[error(
        "{file} and {first} are shards of different runs (another matrix file, targets, \
         interpreters, scenarios, options or expectations): run every shard from the same \
         matrix and command line"
    )]
    OtherRun { file: String, first: String },
    #[error(
        "{file} was run by {binary}, {first} by {first_binary}: run every shard with the same \
         extmatrix binary (another build may decide a cell differently)"
    )]
    OtherBinary {
        file: String,
        binary: String,
        first: String,
        first_binary: String,
    },
    #[error("shard {index}/{count} is given twice: {first} and {file}")]
    Overlap {
        index: u32,
        count: u32,
        first: String,
        file: String,
    },
    #[error(
        "shard{s} {missing} of {count} missing: a merge of only some shards is no report of \
         the run; give all {count} (a shard that was cut short still wrote its report)",
        s = if missing.contains(',') { "s" } else { "" }
    )]
    Missing { missing: String, count: u32 },
}

/// Join `shards` (all N shards of one run, in any order) into the report
/// of the whole run, concluded by `policy` (its expectations are not
/// applied again: each cell keeps the check its shard made, under the
/// expectations every shard shared).
pub fn merge(shards: Vec<ShardReport>, policy: &Policy) -> Result<Report, MergeError> {
    let infos = check(&shards)?;
    let run = infos[0].clone();
    let position = Positions::of_run(&run);
    let mut pythons = Vec::new();
    for id in &run.pythons {
        let entry = shards
            .iter()
            .flat_map(|s| &s.report.pythons)
            .find(|p| &p.id == id);
        pythons.extend(entry.cloned());
    }
    let mut merged_from: Vec<MergedShard> = shards.iter().zip(&infos).map(merged_shard).collect();
    merged_from.sort_by_key(|s| s.index);
    let mut cells = Vec::new();
    let mut images = Vec::new();
    let mut not_run = Vec::new();
    let mut signal = None;
    let first = &shards[0].report;
    let (matrix, tool) = (first.matrix.clone(), first.tool.clone());
    let earliest = shards
        .iter()
        .filter_map(|s| s.report.run.clone())
        .min_by(|a, b| a.started_at.cmp(&b.started_at));
    let wall_time_ms = shards.iter().map(|s| s.report.wall_time_ms).max();
    for shard in shards {
        cells.extend(shard.report.cells);
        images.extend(shard.report.images);
        if let Some(interruption) = shard.report.interrupted {
            signal.get_or_insert(interruption.signal);
            not_run.extend(interruption.not_run);
        }
    }
    // Each build is whole in one shard, in the run's order: putting the
    // builds back in order restores the order an unsharded run has.
    cells.sort_by_key(|c| position.of(&c.key.target, &c.key.python));
    images.sort_by_key(|i| position.of(&i.target, &i.python));
    not_run.sort_by_key(|k| position.of(&k.target, &k.python));
    for cell in &mut cells {
        cell.change = None;
    }
    let mut report = Report::new(matrix, pythons, cells, wall_time_ms.unwrap_or(0));
    report.tool = tool;
    report.images = images;
    report.run = earliest;
    report.interrupted = signal.map(|signal| Interruption { signal, not_run });
    report.merged_from = merged_from;
    crate::conclude_joined(&mut report, policy);
    Ok(report)
}

/// Each shard's [`ShardInfo`], once they are known to be all the shards
/// of one run by one binary.
fn check(shards: &[ShardReport]) -> Result<Vec<ShardInfo>, MergeError> {
    let mut infos = Vec::new();
    for shard in shards {
        let info = shard
            .report
            .shard
            .clone()
            .ok_or_else(|| MergeError::NotAShard {
                file: shard.file.clone(),
            })?;
        infos.push(info);
    }
    let (Some(first), Some(first_info)) = (shards.first(), infos.first()) else {
        return Err(MergeError::Nothing);
    };
    let mut seen: HashMap<u32, &str> = HashMap::new();
    for (shard, info) in shards.iter().zip(&infos) {
        let file = shard.file.clone();
        if info.count != first_info.count {
            return Err(MergeError::OtherSplit {
                file,
                index: info.index,
                count: info.count,
                first: first.file.clone(),
                first_index: first_info.index,
                first_count: first_info.count,
            });
        }
        if info.binary != first_info.binary {
            return Err(MergeError::OtherBinary {
                file,
                binary: info.binary.clone(),
                first: first.file.clone(),
                first_binary: first_info.binary.clone(),
            });
        }
        if info.run != first_info.run {
            return Err(MergeError::OtherRun {
                file,
                first: first.file.clone(),
            });
        }
        if let Some(earlier) = seen.insert(info.index, &shard.file) {
            return Err(MergeError::Overlap {
                index: info.index,
                count: info.count,
                first: earlier.to_owned(),
                file,
            });
        }
    }
    let missing: Vec<String> = (1..=first_info.count)
        .filter(|i| !seen.contains_key(i))
        .map(|i| i.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(MergeError::Missing {
            missing: missing.join(", "),
            count: first_info.count,
        });
    }
    Ok(infos)
}

fn merged_shard((shard, info): (&ShardReport, &ShardInfo)) -> MergedShard {
    MergedShard {
        file: shard.file.clone(),
        index: info.index,
        count: info.count,
        cells: shard.report.cells.len(),
        wall_time_ms: shard.report.wall_time_ms,
        run: shard.report.run.clone(),
        interrupted: shard.report.interrupted.as_ref().map(|i| i.signal.clone()),
    }
}

/// Where a (target, interpreter) build stands in the run's order.
struct Positions<'a> {
    targets: HashMap<&'a str, usize>,
    pythons: HashMap<&'a str, usize>,
}

impl<'a> Positions<'a> {
    fn of_run(run: &'a ShardInfo) -> Self {
        let index = |names: &'a [String]| {
            names
                .iter()
                .enumerate()
                .map(|(i, n)| (n.as_str(), i))
                .collect()
        };
        Positions {
            targets: index(&run.targets),
            pythons: index(&run.pythons),
        }
    }

    fn of(&self, target: &str, python: &str) -> (usize, usize) {
        (
            self.targets.get(target).copied().unwrap_or(usize::MAX),
            self.pythons.get(python).copied().unwrap_or(usize::MAX),
        )
    }
}
