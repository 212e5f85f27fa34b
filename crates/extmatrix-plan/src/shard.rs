//! Shards: the slice of a run that one CI job runs (`--shard I/N`).
//!
//! The unit is a build: a (target, interpreter) pair with every scenario of
//! it, so a build is made in one shard only and a shard provisions only the
//! interpreters its units use. Unit `(t, p)` of a run whose interpreters
//! are `p_0 … p_k` goes to shard `(h(t) + index of p) mod N`, where `h` is
//! FNV-1a of the target's name:
//!
//! - deterministic: every job of the run computes the same slices from the
//!   matrix alone, with no coordinator;
//! - stable when targets are added or removed: a target's units depend on
//!   its own name and the run's interpreters only (like nextest's `hash:`
//!   partitions);
//! - balanced: each target's builds are dealt round the shards, so every
//!   shard gets ⌊k/N⌋ or ⌈k/N⌉ of each target's builds — a target that is
//!   slow to build is spread over the shards instead of landing whole in
//!   one, which hashing each pair on its own would do by chance.
//!
//! Adding, removing or reordering interpreters deals every target again.

use std::fmt;
use std::str::FromStr;

/// Shard `index` of `count` (1-based, as a CI engine's job matrix counts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// Whether this shard runs unit (`target`, the run's `python_position`-th
    /// interpreter).
    pub fn owns(&self, target: &str, python_position: usize) -> bool {
        shard_of(target, python_position, self.count) == self.index
    }

    /// Every shard of a run split in `count`.
    pub fn all(count: u32) -> impl Iterator<Item = Shard> {
        (1..=count).map(move |index| Shard { index, count })
    }
}

/// The shard (1-based) of unit (`target`, `python_position`) in a run split
/// in `count`.
pub fn shard_of(target: &str, python_position: usize, count: u32) -> u32 {
    let offset = fnv1a(target.as_bytes()) % u64::from(count);
    ((offset + python_position as u64) % u64::from(count)) as u32 + 1
}

/// FNV-1a, 64 bits: fixed forever (a shard's slice must not change with the
/// Rust version or the platform, as `std`'s hasher may).
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = String;

    /// `I/N` with 1 ≤ I ≤ N.
    fn from_str(s: &str) -> Result<Shard, String> {
        let wrong = || format!("`{s}` is not a shard: write I/N with 1 ≤ I ≤ N, e.g. 2/4");
        let (index, count) = s.split_once('/').ok_or_else(wrong)?;
        let index: u32 = index.trim().parse().map_err(|_| wrong())?;
        let count: u32 = count.trim().parse().map_err(|_| wrong())?;
        if count == 0 || index == 0 || index > count {
            return Err(wrong());
        }
        Ok(Shard { index, count })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shard_is_written_i_of_n() {
        assert_eq!("2/4".parse::<Shard>(), Ok(Shard { index: 2, count: 4 }));
        assert_eq!(Shard { index: 2, count: 4 }.to_string(), "2/4");
        for bad in ["0/4", "5/4", "1/0", "2", "a/b", "2/4/1", ""] {
            let e = bad.parse::<Shard>().unwrap_err();
            assert!(e.contains("I/N"), "{bad}: {e}");
        }
        assert_eq!("4/4".parse::<Shard>().map(|s| s.index), Ok(4));
    }

    #[test]
    fn fnv1a_is_the_published_function() {
        // Test vectors of the FNV reference (isthe.com/chongo/tech/comp/fnv).
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn each_unit_is_in_exactly_one_shard() {
        for count in 1..=7 {
            for target in ["numpy", "ujson", "a", ""] {
                for position in 0..9 {
                    let owners = Shard::all(count)
                        .filter(|s| s.owns(target, position))
                        .count();
                    assert_eq!(owners, 1, "{target} {position} of {count}");
                }
            }
        }
    }

    #[test]
    fn a_targets_builds_are_dealt_round_the_shards() {
        // Seven interpreters over three shards: 3, 2, 2 in some order.
        for target in ["numpy", "ujson", "markupsafe", "rpds-py"] {
            let mut per_shard = [0; 3];
            for position in 0..7 {
                per_shard[shard_of(target, position, 3) as usize - 1] += 1;
            }
            per_shard.sort();
            assert_eq!(per_shard, [2, 2, 3], "{target}");
        }
    }

    #[test]
    fn where_a_build_goes_is_pinned() {
        // A change here moves every CI job's slice: it must be on purpose.
        let dealt = |target| (0..7).map(|p| shard_of(target, p, 3)).collect::<Vec<_>>();
        assert_eq!(dealt("numpy"), [1, 2, 3, 1, 2, 3, 1]);
        assert_eq!(dealt("ujson"), [2, 3, 1, 2, 3, 1, 2]);
    }
}
