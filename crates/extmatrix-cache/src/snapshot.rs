//! One look at each file input for a whole pass of lookups
//! ([`crate::Store::snapshot`]).
//!
//! A run's provisioning looks up a harness per interpreter and a target per
//! (target, interpreter); every C target records the ~230 headers it read,
//! and the targets of one interpreter read the same ones (the system's
//! headers, all of them). Checking each entry's inputs one by one stats
//! the same file up to 27 times. Within a snapshot the first look at a
//! file is its state for the rest of the pass: the pass sees the file
//! system as it was when it first looked, as if it had all been one
//! instant.
//!
//! The snapshot's hashes are kept between runs in
//! `<root>/discovery/file-hashes.json`, each with the identity the file
//! had when it was read ([`FileHashes`]): the next run reads only the files
//! whose identity changed (device, inode, size, modification and change
//! times, as with every answer kept in `discovery/`). A warm run then
//! hashes no header at all; before, each run read ~450 of them (4 MB).

use crate::identity::FileHashes;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// Where a cache keeps the hashes of its snapshots, under its root.
const SAVED_HASHES: &str = "discovery/file-hashes.json";

/// The sha256 of every file input looked at so far (`None`: it could not
/// be read).
#[derive(Debug)]
pub(crate) struct Snapshot {
    seen: Mutex<HashMap<PathBuf, Option<String>>>,
    hashes: FileHashes,
    saved: PathBuf,
}

impl Snapshot {
    /// A pass of lookups in the cache at `root`, with the hashes earlier
    /// passes kept.
    pub(crate) fn new(root: &Path) -> Snapshot {
        let saved = root.join(SAVED_HASHES);
        Snapshot {
            seen: Mutex::default(),
            hashes: FileHashes::load(&saved),
            saved,
        }
    }

    /// `path`'s sha256 as this pass first saw it.
    pub(crate) fn sha256(&self, path: &Path) -> Option<String> {
        if let Some(known) = self.seen().get(path) {
            return known.clone();
        }
        // Hashed outside the lock; two threads that look at once agree.
        let now = self.hashes.sha256(path).ok();
        self.seen().insert(path.to_owned(), now.clone());
        now
    }

    fn seen(&self) -> MutexGuard<'_, HashMap<PathBuf, Option<String>>> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Snapshot {
    /// The pass is over (its last store clone is gone): keep its hashes.
    fn drop(&mut self) {
        self.hashes.save(&self.saved);
    }
}
