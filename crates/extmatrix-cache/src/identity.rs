//! What a file is now, told without reading it: its device, inode, size,
//! modification and change times ([`FileIdentity`]). A file rewritten,
//! replaced, touched or renamed over has another identity; the change time
//! cannot be set back by anyone but the clock.
//!
//! Two uses: an answer kept between runs is trusted while the files it was
//! read from keep their identity (`memo.rs`), and a file hashed once in
//! this process is not read again while its identity holds
//! ([`sha256_now`]): a run looks up 27 C targets whose ~230 recorded
//! headers are mostly the same files, and each lookup hashed all of them
//! anew.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{LazyLock, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

/// A file's identity (symlinks followed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileIdentity {
    pub device: u64,
    pub inode: u64,
    pub size: u64,
    /// Nanoseconds since the epoch.
    pub modified_ns: i128,
    /// The inode's change time (any write, rename, chmod), nanoseconds.
    pub changed_ns: i128,
}

/// How far a file's change time may lag the moment of the change: the
/// kernel stamps it from a clock that advances once per tick (1–10 ms).
/// A file whose change time is this close to, or after, the moment a
/// question was asked may have changed while it was asked.
pub const TIMESTAMP_SLACK: Duration = Duration::from_millis(50);

impl FileIdentity {
    /// `path` as it is now; `None` when there is nothing there.
    pub fn of(path: &Path) -> Option<FileIdentity> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path).ok()?;
        let ns = |secs: i64, nanos: i64| i128::from(secs) * 1_000_000_000 + i128::from(nanos);
        Some(FileIdentity {
            device: m.dev(),
            inode: m.ino(),
            size: m.size(),
            modified_ns: ns(m.mtime(), m.mtime_nsec()),
            changed_ns: ns(m.ctime(), m.ctime_nsec()),
        })
    }

    /// Whether the file was (or may have been) changed at or after `at`,
    /// within [`TIMESTAMP_SLACK`].
    pub fn changed_since(&self, at: SystemTime) -> bool {
        let at = at
            .checked_sub(TIMESTAMP_SLACK)
            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as i128);
        self.changed_ns >= at
    }
}

/// The sha256 of `path`'s contents as they are now. A file this process
/// hashed before and whose identity is the same is not read again
/// ([`FileHashes`]).
pub fn sha256_now(path: &Path) -> io::Result<String> {
    static HASHED: LazyLock<FileHashes> = LazyLock::new(FileHashes::default);
    HASHED.sha256(path)
}

/// The sha256 of files, each remembered with the identity the file had
/// when it was read: asked again while the identity holds, the file is
/// not read. One that changed shortly before it was read
/// ([`TIMESTAMP_SLACK`]) is never remembered, since a second change in the
/// same tick would keep its identity. Kept in a file between runs
/// ([`FileHashes::load`], [`FileHashes::save`]) by a store's snapshot.
#[derive(Debug, Default)]
pub(crate) struct FileHashes {
    known: Mutex<HashMap<PathBuf, (FileIdentity, String)>>,
    /// Something was remembered since it was loaded.
    added: AtomicBool,
}

/// [`FileHashes`] as saved.
#[derive(Serialize, Deserialize)]
struct SavedHashes {
    format: u32,
    files: Vec<(PathBuf, FileIdentity, String)>,
}

/// The format of a saved [`FileHashes`]: a file of another is ignored.
const HASHES_FORMAT: u32 = 1;

impl FileHashes {
    /// `path`'s sha256 now.
    pub(crate) fn sha256(&self, path: &Path) -> io::Result<String> {
        self.sha256_hashed_at(path, SystemTime::now)
    }

    /// [`FileHashes::sha256`], `now` telling when the file is read.
    fn sha256_hashed_at(&self, path: &Path, now: impl Fn() -> SystemTime) -> io::Result<String> {
        let before = FileIdentity::of(path);
        if let Some(identity) = before {
            if let Some((known, sha)) = self.known().get(path) {
                if *known == identity {
                    return Ok(sha.clone());
                }
            }
        }
        let started = now();
        let sha = crate::sha256_file(path)?;
        #[cfg(test)]
        tests::READS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let after = FileIdentity::of(path);
        if let Some(identity) = after.filter(|a| Some(*a) == before && !a.changed_since(started)) {
            self.known()
                .insert(path.to_owned(), (identity, sha.clone()));
            self.added.store(true, Ordering::Relaxed);
        }
        Ok(sha)
    }

    fn known(&self) -> MutexGuard<'_, HashMap<PathBuf, (FileIdentity, String)>> {
        self.known.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The hashes saved in `file`; none when it is missing, damaged or of
    /// another format (never an error: the files are read again).
    pub(crate) fn load(file: &Path) -> FileHashes {
        let saved = std::fs::read(file)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<SavedHashes>(&bytes).ok())
            .filter(|s| s.format == HASHES_FORMAT);
        let known = saved
            .into_iter()
            .flat_map(|s| s.files)
            .map(|(path, identity, sha)| (path, (identity, sha)))
            .collect();
        FileHashes {
            known: Mutex::new(known),
            added: AtomicBool::new(false),
        }
    }

    /// Save them to `file` (beside it, then renamed) when something was
    /// remembered since they were loaded, without the files that are gone.
    /// A failure keeps nothing: the next run reads the files again.
    pub(crate) fn save(&self, file: &Path) {
        if !self.added.load(Ordering::Relaxed) {
            return;
        }
        let mut files: Vec<(PathBuf, FileIdentity, String)> = self
            .known()
            .iter()
            .filter(|(path, _)| path.exists())
            .map(|(path, (identity, sha))| (path.clone(), *identity, sha.clone()))
            .collect();
        files.sort_by(|a, b| a.0.cmp(&b.0));
        let saved = SavedHashes {
            format: HASHES_FORMAT,
            files,
        };
        let _ = crate::memo::write_atomically(file, &saved);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Files [`sha256_now`] read (in this test binary, all threads).
    pub(super) static READS: AtomicUsize = AtomicUsize::new(0);

    /// How many times `f` made [`sha256_now`] read a file. Other tests of
    /// this binary may hash at the same time: their files are their own,
    /// so only a count that must be zero is exact; a count that must not
    /// be is at least that.
    fn reads(f: impl FnOnce()) -> usize {
        let before = READS.load(Ordering::SeqCst);
        f();
        READS.load(Ordering::SeqCst) - before
    }

    #[test]
    fn a_file_hashed_before_is_not_read_again_while_its_identity_holds() {
        let dir = tempfile::tempdir().unwrap();
        let header = dir.path().join("a.h");
        std::fs::write(&header, "#define A 1\n").unwrap();
        std::thread::sleep(TIMESTAMP_SLACK * 2);
        let first = sha256_now(&header).unwrap();
        assert_eq!(first, crate::sha256_hex(b"#define A 1\n"));
        // Hashed again: not read (the count of a concurrent test's reads
        // could only make this fail, never pass).
        let mut again = String::new();
        assert_eq!(reads(|| again = sha256_now(&header).unwrap()), 0);
        assert_eq!(again, first);

        // Rewritten, same size: another identity, read again.
        std::fs::write(&header, "#define B 1\n").unwrap();
        assert_eq!(
            sha256_now(&header).unwrap(),
            crate::sha256_hex(b"#define B 1\n")
        );
        std::fs::remove_file(&header).unwrap();
        assert!(sha256_now(&header).is_err(), "gone");
    }

    #[test]
    fn a_file_changed_just_before_it_was_hashed_is_always_read() {
        let hashes = FileHashes::default();
        let dir = tempfile::tempdir().unwrap();
        let header = dir.path().join("fresh.h");
        std::fs::write(&header, "int x;").unwrap();
        let changed = FileIdentity::of(&header).unwrap().changed_ns;
        let at = |ns: i128| SystemTime::UNIX_EPOCH + Duration::from_nanos(ns as u64);
        // Hashed in the tick it changed: a second change in that tick would
        // keep its identity, so it is not remembered.
        let in_its_tick = at(changed + TIMESTAMP_SLACK.as_nanos() as i128 / 2);
        hashes.sha256_hashed_at(&header, || in_its_tick).unwrap();
        assert!(reads(|| drop(hashes.sha256_hashed_at(&header, || in_its_tick).unwrap())) >= 1);
        // Hashed well after: remembered.
        let later = at(changed + 2 * TIMESTAMP_SLACK.as_nanos() as i128);
        hashes.sha256_hashed_at(&header, || later).unwrap();
        assert_eq!(
            reads(|| drop(hashes.sha256_hashed_at(&header, || later).unwrap())),
            0
        );
    }

    #[test]
    fn saved_hashes_spare_the_next_process_reading_unchanged_files() {
        let dir = tempfile::tempdir().unwrap();
        let saved = dir.path().join("discovery/file-hashes.json");
        let [a, b] = ["a.h", "b.h"].map(|n| dir.path().join(n));
        std::fs::write(&a, "int a;").unwrap();
        std::fs::write(&b, "int b;").unwrap();
        std::thread::sleep(TIMESTAMP_SLACK * 2);
        let first = FileHashes::load(&saved);
        assert!(reads(|| drop(first.sha256(&a).unwrap())) >= 1);
        first.sha256(&b).unwrap();
        first.save(&saved);

        // The next process: not read while unchanged.
        std::fs::write(&b, "int bb;").unwrap();
        std::thread::sleep(TIMESTAMP_SLACK * 2);
        let next = FileHashes::load(&saved);
        let mut sha = String::new();
        assert_eq!(reads(|| sha = next.sha256(&a).unwrap()), 0);
        assert_eq!(sha, crate::sha256_hex(b"int a;"));
        // Changed since: read.
        assert_eq!(next.sha256(&b).unwrap(), crate::sha256_hex(b"int bb;"));

        // Nothing new: not written again. A gone file is not saved.
        let unchanged = FileHashes::load(&saved);
        unchanged.sha256(&a).unwrap();
        std::fs::remove_file(&saved).unwrap();
        unchanged.save(&saved);
        assert!(!saved.exists());
        std::fs::remove_file(&a).unwrap();
        next.save(&saved);
        let text = std::fs::read_to_string(&saved).unwrap();
        assert!(!text.contains("a.h") && text.contains("b.h"), "{text}");

        // Damaged: nothing known, no error.
        std::fs::write(&saved, "{\"format\": 1, \"files\": [[").unwrap();
        assert!(FileHashes::load(&saved).known().is_empty());
    }

    #[test]
    fn a_change_time_within_the_slack_of_a_moment_may_be_after_it() {
        let identity = FileIdentity {
            device: 1,
            inode: 2,
            size: 3,
            modified_ns: 0,
            changed_ns: 10_000_000_000,
        };
        let at = |ms: u64| SystemTime::UNIX_EPOCH + Duration::from_millis(ms);
        assert!(identity.changed_since(at(9_000)), "changed after");
        assert!(identity.changed_since(at(10_000)), "at");
        assert!(identity.changed_since(at(10_049)), "within a tick before");
        assert!(
            !identity.changed_since(at(10_051)),
            "before, past the slack"
        );
    }
}
