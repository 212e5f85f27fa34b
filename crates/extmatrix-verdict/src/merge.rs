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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{cell, expectation};
    use extmatrix_core::{Outcome, Scenario};
    use extmatrix_schema::{CellKey, ExpectationStatus, FailOn, PythonEntry};

    const TARGETS: [&str; 2] = ["alpha", "beta"];
    const PYTHONS: [&str; 2] = ["cp312", "cp313"];
    const SCENARIOS: [Scenario; 2] = [Scenario::Import, Scenario::Reinit];

    fn entry(id: &str) -> PythonEntry {
        PythonEntry {
            id: id.into(),
            version: "3.13.0".into(),
            debug: false,
            free_threaded: false,
            path: format!("/{id}"),
            found_via: String::new(),
            configure_args: None,
        }
    }

    /// `beta` crashes in `reinit`; everything else passes.
    fn outcome(target: &str, scenario: Scenario) -> Outcome {
        if target == "beta" && scenario == Scenario::Reinit {
            Outcome::Crash
        } else {
            Outcome::Pass
        }
    }

    /// Shard `index` of a two-shard run whose builds (target, interpreter)
    /// are dealt by `owner`.
    fn shard(index: u32, owner: fn(&str, &str) -> u32) -> ShardReport {
        let mut cells = Vec::new();
        let mut pythons = Vec::new();
        for target in TARGETS {
            for python in PYTHONS {
                if owner(target, python) != index {
                    continue;
                }
                if !pythons.iter().any(|p: &PythonEntry| p.id == python) {
                    pythons.push(entry(python));
                }
                for scenario in SCENARIOS {
                    cells.push(cell(target, python, scenario, outcome(target, scenario)));
                }
            }
        }
        let mut report = Report::new("m.yaml".into(), pythons, cells, 1000 * u64::from(index));
        report.shard = Some(ShardInfo {
            index,
            count: 2,
            run: "run-digest".into(),
            binary: "extmatrix 0.1.0, build-id 00".into(),
            targets: TARGETS.map(String::from).to_vec(),
            pythons: PYTHONS.map(String::from).to_vec(),
            scenarios: SCENARIOS.to_vec(),
        });
        ShardReport {
            file: format!("shard{index}.json"),
            report,
        }
    }

    /// alpha on cp313 and beta on cp312 in shard 1; the rest in shard 2.
    fn crosswise(target: &str, python: &str) -> u32 {
        if (target == "alpha") == (python == "cp313") {
            1
        } else {
            2
        }
    }

    fn keys(report: &Report) -> Vec<(String, String, Scenario, Outcome)> {
        report
            .cells
            .iter()
            .map(|c| {
                let CellKey {
                    target,
                    python,
                    scenario,
                    ..
                } = &c.key;
                (target.clone(), python.clone(), *scenario, c.outcome)
            })
            .collect()
    }

    #[test]
    fn shards_merge_into_the_runs_order_whatever_order_they_are_given_in() {
        let merged = merge(
            vec![shard(2, crosswise), shard(1, crosswise)],
            &Policy::default(),
        )
        .unwrap();
        let mut expected = Vec::new();
        for target in TARGETS {
            for python in PYTHONS {
                for scenario in SCENARIOS {
                    expected.push((
                        target.into(),
                        python.into(),
                        scenario,
                        outcome(target, scenario),
                    ));
                }
            }
        }
        assert_eq!(keys(&merged), expected);
        let ids: Vec<&str> = merged.pythons.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, PYTHONS);
        assert_eq!(merged.summary[&Outcome::Crash], 2);
        assert_eq!(merged.summary[&Outcome::Pass], 6);
        assert_eq!(merged.wall_time_ms, 2000, "the longest shard");
        let from: Vec<(u32, &str, usize)> = merged
            .merged_from
            .iter()
            .map(|s| (s.index, s.file.as_str(), s.cells))
            .collect();
        assert_eq!(from, [(1, "shard1.json", 4), (2, "shard2.json", 4)]);
        assert!(merged.shard.is_none(), "the merged report is the whole run");
    }

    #[test]
    fn findings_and_the_status_are_concluded_over_all_shards() {
        let merged = merge(
            vec![shard(1, crosswise), shard(2, crosswise)],
            &Policy::default(),
        )
        .unwrap();
        // beta's crash on cp312 (shard 1) and on cp313 (shard 2): one
        // finding with both cells, as an unsharded run has.
        let crash: Vec<_> = merged
            .findings
            .iter()
            .filter(|f| f.outcome == Outcome::Crash)
            .collect();
        assert_eq!(crash.len(), 1, "{:?}", merged.findings);
        assert_eq!(crash[0].cells.len(), 2);
        assert_eq!(merged.status.as_ref().unwrap().exit_code, 1);
        let never = Policy {
            fail_on: FailOn::Never,
            ..Policy::default()
        };
        let merged = merge(vec![shard(1, crosswise), shard(2, crosswise)], &never).unwrap();
        assert_eq!(merged.status.as_ref().unwrap().exit_code, 0);
    }

    #[test]
    fn cells_keep_their_shards_expectation_checks() {
        let mut shards = vec![shard(1, crosswise), shard(2, crosswise)];
        let expected = [expectation(
            "beta",
            "*/reinit",
            &[Outcome::Crash],
            "ci.yaml:1:1",
        )];
        for s in &mut shards {
            crate::apply_expectations(&mut s.report.cells, &expected);
        }
        let merged = merge(shards, &Policy::default()).unwrap();
        let met = merged
            .cells
            .iter()
            .filter(|c| {
                c.expectation
                    .as_ref()
                    .is_some_and(|e| e.status == ExpectationStatus::Met)
            })
            .count();
        assert_eq!(met, 2);
        assert_eq!(
            merged.status.as_ref().unwrap().exit_code,
            0,
            "both crashes were expected"
        );
    }

    #[test]
    fn the_baseline_is_the_merges_own() {
        let mut shards = vec![shard(1, crosswise), shard(2, crosswise)];
        for cell in &mut shards[0].report.cells {
            cell.change = Some(extmatrix_schema::CellChange {
                change: extmatrix_schema::Change::Regressed,
                was: Some(Outcome::Pass),
            });
        }
        let merged = merge(shards, &Policy::default()).unwrap();
        assert!(merged.cells.iter().all(|c| c.change.is_none()));
        assert!(merged.comparison.is_none());

        let baseline = merge(
            vec![shard(1, crosswise), shard(2, crosswise)],
            &Policy::default(),
        )
        .unwrap();
        let against = Policy {
            baseline: Some(("last.json".into(), baseline)),
            fail_on: FailOn::Regression,
            ..Policy::default()
        };
        let merged = merge(vec![shard(1, crosswise), shard(2, crosswise)], &against).unwrap();
        assert!(merged.cells.iter().all(|c| c
            .change
            .as_ref()
            .is_some_and(|c| c.change == extmatrix_schema::Change::Unchanged)));
        assert_eq!(merged.comparison.as_ref().unwrap().baseline, "last.json");
        assert_eq!(
            merged.status.as_ref().unwrap().exit_code,
            0,
            "nothing got worse"
        );
    }

    #[test]
    fn an_interrupted_shards_missing_cells_are_the_merged_reports() {
        let mut shards = vec![shard(1, crosswise), shard(2, crosswise)];
        let lost = shards[1].report.cells.pop().unwrap().key;
        shards[1].report.interrupted = Some(Interruption {
            signal: "SIGTERM".into(),
            not_run: vec![lost.clone()],
        });
        let merged = merge(shards, &Policy::default()).unwrap();
        let interrupted = merged.interrupted.as_ref().unwrap();
        assert_eq!(interrupted.signal, "SIGTERM");
        assert_eq!(interrupted.not_run, [lost]);
        assert_eq!(
            merged.merged_from[1].interrupted.as_deref(),
            Some("SIGTERM")
        );
        assert_eq!(merged.merged_from[0].interrupted, None);
    }

    fn refused(shards: Vec<ShardReport>) -> MergeError {
        merge(shards, &Policy::default()).unwrap_err()
    }

    #[test]
    fn a_report_that_is_no_shard_is_refused() {
        let mut whole = shard(1, crosswise);
        whole.report.shard = None;
        let e = refused(vec![shard(2, crosswise), whole]);
        assert_eq!(
            e,
            MergeError::NotAShard {
                file: "shard1.json".into()
            }
        );
        assert!(e.to_string().contains("--shard I/N"), "{e}");
        assert_eq!(refused(vec![]), MergeError::Nothing);
    }

    #[test]
    fn shards_of_another_run_binary_or_split_are_refused() {
        let mut other = shard(2, crosswise);
        other.report.shard.as_mut().unwrap().run = "another".into();
        assert!(matches!(
            refused(vec![shard(1, crosswise), other]),
            MergeError::OtherRun { file, first } if file == "shard2.json" && first == "shard1.json"
        ));

        let mut other = shard(2, crosswise);
        other.report.shard.as_mut().unwrap().binary = "extmatrix 0.2.0".into();
        let e = refused(vec![shard(1, crosswise), other]);
        assert!(matches!(e, MergeError::OtherBinary { .. }), "{e:?}");
        assert!(e.to_string().contains("extmatrix 0.2.0"), "{e}");

        let mut other = shard(2, crosswise);
        other.report.shard.as_mut().unwrap().count = 3;
        let e = refused(vec![shard(1, crosswise), other]);
        assert!(
            matches!(
                e,
                MergeError::OtherSplit {
                    count: 3,
                    first_count: 2,
                    ..
                }
            ),
            "{e:?}"
        );
    }

    #[test]
    fn a_shard_given_twice_or_missing_is_refused() {
        let mut twice = shard(1, crosswise);
        twice.file = "again.json".into();
        let e = refused(vec![shard(1, crosswise), twice, shard(2, crosswise)]);
        assert_eq!(
            e,
            MergeError::Overlap {
                index: 1,
                count: 2,
                first: "shard1.json".into(),
                file: "again.json".into(),
            }
        );
        let e = refused(vec![shard(2, crosswise)]);
        assert_eq!(
            e,
            MergeError::Missing {
                missing: "1".into(),
                count: 2
            }
        );
        assert!(e.to_string().starts_with("shard 1 of 2 missing"), "{e}");
    }
}
