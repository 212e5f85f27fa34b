//! What a shard's report says of the run it is a slice of
//! ([`extmatrix_schema::ShardInfo`]), so that `extmatrix merge` joins only
//! slices of one run made by one binary.

use extmatrix_plan::Plan;
use extmatrix_schema::ShardInfo;

/// The shard `plan` is, made from the matrix file whose bytes are
/// `matrix_file` by the binary `binary` ([`crate::this_binary`]); `None`
/// for a plan that is no shard.
///
/// The run's identity hashes what every shard of it shares: the matrix
/// file, the selection before the split (targets, interpreter ids,
/// scenarios), the targets as planned (expectations included: shards held
/// to other expectations would be joined into a report no run made) and
/// the options after the command line's. Interpreter paths are left out:
/// two CI jobs may find the same interpreter in different places.
pub fn shard_info(plan: &Plan, matrix_file: &[u8], binary: String) -> Option<ShardInfo> {
    let of = plan.shard.as_ref()?;
    let decided = format!("{:?}\n{:?}\n{:?}", of.run, plan.targets, plan.options);
    Some(ShardInfo {
        index: of.shard.index,
        count: of.shard.count,
        run: extmatrix_cache::key([matrix_file, decided.as_bytes()]),
        binary,
        targets: of.run.targets.clone(),
        pythons: of.run.pythons.clone(),
        scenarios: of.run.scenarios.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use extmatrix_core::Scenario;
    use extmatrix_plan::{Selection, Shard, ShardOf};

    const MATRIX: &str = "pythons: [cp312, cp313]\ntargets:\n  - name: t\n    stdlib: all\n";

    /// Shard `index` of 2 of `yaml`'s run, with `timeout_s`.
    fn plan(yaml: &str, index: u32, timeout_s: u64) -> Plan {
        let matrix = extmatrix_spec::parse(yaml, std::path::Path::new("/m.yaml")).unwrap();
        Plan {
            pythons: vec![],
            targets: matrix.targets,
            options: extmatrix_spec::Options {
                timeout_s,
                ..matrix.options
            },
            cells: vec![],
            shard: Some(ShardOf {
                shard: Shard { index, count: 2 },
                run: Selection {
                    targets: vec!["t".into()],
                    pythons: vec!["cp312".into(), "cp313".into()],
                    scenarios: vec![Scenario::Import],
                },
            }),
        }
    }

    fn run_of(yaml: &str, index: u32, timeout_s: u64) -> String {
        shard_info(&plan(yaml, index, timeout_s), yaml.as_bytes(), "bin".into())
            .unwrap()
            .run
    }

    #[test]
    fn every_shard_of_a_run_names_the_same_run() {
        let info = shard_info(&plan(MATRIX, 2, 10), MATRIX.as_bytes(), "bin".into()).unwrap();
        assert_eq!((info.index, info.count), (2, 2));
        assert_eq!(info.binary, "bin");
        assert_eq!(info.pythons, ["cp312", "cp313"]);
        assert_eq!(info.targets, ["t"]);
        assert_eq!(info.scenarios, [Scenario::Import]);
        assert_eq!(run_of(MATRIX, 1, 10), run_of(MATRIX, 2, 10));
    }

    #[test]
    fn another_matrix_options_or_expectations_are_another_run() {
        let base = run_of(MATRIX, 1, 10);
        assert_ne!(base, run_of(MATRIX, 1, 11), "options");
        let other = MATRIX.replace("cp312, ", "cp311, cp312, ");
        assert_ne!(base, run_of(&other, 1, 10), "the matrix file");
        let expecting = format!("{MATRIX}    expect: {{reinit: crash}}\n");
        // The same file bytes: only the planned targets differ.
        let info = shard_info(&plan(&expecting, 1, 10), MATRIX.as_bytes(), "bin".into()).unwrap();
        assert_ne!(base, info.run, "the targets' expectations");
    }

    #[test]
    fn a_whole_run_is_no_shard() {
        let mut whole = plan(MATRIX, 1, 10);
        whole.shard = None;
        assert_eq!(shard_info(&whole, MATRIX.as_bytes(), "bin".into()), None);
    }
}
