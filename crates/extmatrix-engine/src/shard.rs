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
