//! The order cells start in: longest first, by how long each took the last
//! time this matrix ran.
//!
//! With idle cells giving back their job slot, a run's wall time is about
//! its CPU time over the cores, unless a long cell starts late: a cell that
//! waits (a deadlock, a slow import) started last ends the run that much
//! after everything else. Starting the longest first (the classic
//! longest-processing-time order) lets it wait beside the rest. How long a
//! cell takes is known only from an earlier run, so the durations of every
//! run are kept in the cache, one small file per matrix file; a cell never
//! seen before starts first (it may be long), then the others, longest
//! first. The order changes no verdict: only when each cell starts.

use extmatrix_provision::Store;
use extmatrix_schema::CellKey;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The cache kind the durations live in.
const KIND: &str = "timings";

/// How long each cell of a matrix took when it last ran, in ms.
#[derive(Debug, Default)]
pub struct Timings {
    file: Option<PathBuf>,
    ms: HashMap<String, u64>,
}

impl Timings {
    /// The durations kept for the matrix file `matrix` (none when there
    /// are none, or the file cannot be read: a first run).
    pub fn load(store: &Store, matrix: &Path) -> Timings {
        let file = store.kind_dir(KIND).join(format!(
            "{}.json",
            extmatrix_cache::key([matrix.as_os_str().as_encoded_bytes()])
        ));
        let ms = std::fs::read(&file)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        Timings {
            file: Some(file),
            ms,
        }
    }

    fn name(key: &CellKey) -> String {
        format!(
            "{}\u{1f}{}\u{1f}{}\u{1f}{}",
            key.target, key.module, key.python, key.scenario
        )
    }

    /// The indices of `keys` in the order their cells should start: those
    /// never timed first (in plan order), then the longest first.
    pub fn start_order<'k>(&self, keys: impl IntoIterator<Item = &'k CellKey>) -> Vec<usize> {
        let known: Vec<Option<u64>> = keys
            .into_iter()
            .map(|k| self.ms.get(&Self::name(k)).copied())
            .collect();
        let mut order: Vec<usize> = (0..known.len()).collect();
        // Stable: equal durations keep the plan's order.
        order.sort_by_key(|&i| std::cmp::Reverse(known[i].unwrap_or(u64::MAX)));
        order
    }

    /// Keep `durations` (merged over what was kept) for the next run. A
    /// failure to write only costs the next run its order.
    pub fn save<'k>(mut self, durations: impl IntoIterator<Item = (&'k CellKey, u64)>) {
        let Some(file) = self.file.take() else {
            return;
        };
        for (key, ms) in durations {
            self.ms.insert(Self::name(key), ms);
        }
        let Ok(json) = serde_json::to_vec(&self.ms) else {
            return;
        };
        let Some(dir) = file.parent() else { return };
        // Written beside it and renamed: a run reading it at the same time
        // sees the old durations or the new, never half of them.
        let _ = std::fs::create_dir_all(dir).and_then(|()| {
            let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
            std::io::Write::write_all(&mut tmp, &json)?;
            tmp.persist(&file).map_err(|e| e.error).map(drop)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use extmatrix_core::Scenario;

    fn key(target: &str) -> CellKey {
        CellKey {
            target: target.into(),
            module: target.into(),
            python: "cp313".into(),
            scenario: Scenario::Import,
        }
    }

    #[test]
    fn the_longest_start_first_and_cells_never_timed_before_them() {
        let cache = tempfile::tempdir().unwrap();
        let store = Store::new(cache.path());
        let matrix = Path::new("/m.yaml");
        let keys = [key("short"), key("long"), key("new"), key("middle")];
        let first = Timings::load(&store, matrix);
        assert_eq!(
            first.start_order(&keys),
            [0, 1, 2, 3],
            "nothing known: plan order"
        );
        first.save([(&keys[0], 10), (&keys[1], 5000), (&keys[3], 300)]);

        let again = Timings::load(&store, matrix);
        assert_eq!(again.start_order(&keys), [2, 1, 3, 0]);
        // Another matrix file keeps its own.
        let other = Timings::load(&store, Path::new("/other.yaml"));
        assert_eq!(other.start_order(&keys), [0, 1, 2, 3]);
        // A later run's durations replace the kept ones; others stay.
        again.save([(&keys[0], 9000)]);
        let third = Timings::load(&store, matrix);
        assert_eq!(third.start_order(&keys), [2, 0, 1, 3]);
    }

    #[test]
    fn a_damaged_file_is_a_first_run() {
        let cache = tempfile::tempdir().unwrap();
        let store = Store::new(cache.path());
        let matrix = Path::new("/m.yaml");
        Timings::load(&store, matrix).save([(&key("a"), 1)]);
        let keys = [key("a"), key("b")];
        assert_eq!(Timings::load(&store, matrix).start_order(&keys), [1, 0]);
        let dir = store.kind_dir(KIND);
        for entry in std::fs::read_dir(&dir).unwrap() {
            std::fs::write(entry.unwrap().path(), b"{not json").unwrap();
        }
        assert_eq!(Timings::load(&store, matrix).start_order(&keys), [0, 1]);
    }
}
