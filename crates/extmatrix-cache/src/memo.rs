//! Answers worth keeping between runs because asking again starts a
//! process: what an interpreter says of itself (discovery's probe), the
//! first line of a compiler's `--version`.
//!
//! Each answer is one JSON file under `<cache>/discovery/`, named by a hash
//! of its question, holding the question, its context and the identity
//! ([`FileIdentity`]) of every file the answer was read from. It is used
//! only while all of them hold: the same question and context (a probe's
//! text, an environment variable that changes what is loaded) and every
//! file as it was (or still absent). An answer read from a file that
//! changed while it was asked is not kept. A missing, unreadable, damaged
//! or older-format entry is a miss, never an error: the question is asked
//! again, and the new answer replaces the entry (written beside it and
//! renamed, so a reader never sees half of one).

use crate::identity::FileIdentity;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The directory of the cache root that holds remembered answers.
pub const MEMO_DIR: &str = "discovery";

/// The entries' format: an entry of another is a miss.
const FORMAT: u32 = 1;

/// Remembered answers in one directory.
#[derive(Debug, Clone)]
pub struct Memo {
    dir: PathBuf,
}

/// One entry as stored.
#[derive(Serialize, Deserialize)]
struct Stored<T> {
    format: u32,
    question: String,
    context: String,
    files: Vec<(PathBuf, Option<FileIdentity>)>,
    answer: T,
}

impl Memo {
    /// Answers kept in `dir` (created when the first one is kept).
    pub fn new(dir: impl Into<PathBuf>) -> Memo {
        Memo { dir: dir.into() }
    }

    /// The answers of the cache at `root`: `<root>/discovery/`.
    pub fn in_cache(root: &Path) -> Memo {
        Memo::new(root.join(MEMO_DIR))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn entry(&self, question: &str) -> PathBuf {
        self.dir.join(format!("{}.json", crate::key([question])))
    }

    /// The answer kept for `question` in `context`, when every file it was
    /// read from is as it was.
    pub fn recall<T: DeserializeOwned>(&self, question: &str, context: &str) -> Option<T> {
        let bytes = std::fs::read(self.entry(question)).ok()?;
        let stored: Stored<T> = serde_json::from_slice(&bytes).ok()?;
        let current = stored.format == FORMAT
            && stored.question == question
            && stored.context == context
            && stored
                .files
                .iter()
                .all(|(path, identity)| FileIdentity::of(path) == *identity);
        current.then_some(stored.answer)
    }

    /// Keep `answer` to `question` in `context`, read from `files` by a
    /// question asked at `asked_at`. Not kept (false) when a file changed
    /// since then ([`FileIdentity::changed_since`]: the answer may be of
    /// the old file) or the entry cannot be written (the next run asks
    /// again).
    pub fn remember<T: Serialize>(
        &self,
        question: &str,
        context: &str,
        files: &[PathBuf],
        asked_at: SystemTime,
        answer: &T,
    ) -> bool {
        let files: Vec<(PathBuf, Option<FileIdentity>)> = files
            .iter()
            .map(|path| (path.clone(), FileIdentity::of(path)))
            .collect();
        let changed = files
            .iter()
            .any(|(_, identity)| identity.is_some_and(|i| i.changed_since(asked_at)));
        if changed {
            return false;
        }
        let stored = Stored {
            format: FORMAT,
            question: question.to_owned(),
            context: context.to_owned(),
            files,
            answer,
        };
        self.write(question, &stored).is_ok()
    }

    fn write<T: Serialize>(&self, question: &str, stored: &Stored<T>) -> std::io::Result<()> {
        write_atomically(&self.entry(question), stored)
    }
}

/// `value` as JSON in `file`: written beside it (its directory created)
/// and renamed over it, so a reader finds the old file or the new one.
pub(crate) fn write_atomically<T: Serialize>(file: &Path, value: &T) -> std::io::Result<()> {
    let dir = file.parent().expect("a file in a directory");
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    serde_json::to_writer(&mut tmp, value).map_err(std::io::Error::other)?;
    tmp.persist(file).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::TIMESTAMP_SLACK;

    /// A memo in a fresh directory, and a file `f` in it written long
    /// enough ago to be trusted.
    fn setup() -> (tempfile::TempDir, Memo, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let memo = Memo::new(dir.path().join("discovery"));
        let file = dir.path().join("f");
        std::fs::write(&file, "one").unwrap();
        std::thread::sleep(TIMESTAMP_SLACK * 2);
        (dir, memo, file)
    }

    fn keep(memo: &Memo, file: &Path, answer: &str) -> bool {
        memo.remember("q", "ctx", &[file.to_owned()], SystemTime::now(), &answer)
    }

    #[test]
    fn an_answer_is_recalled_while_its_files_and_context_hold() {
        let (_dir, memo, file) = setup();
        assert_eq!(memo.recall::<String>("q", "ctx"), None, "nothing kept yet");
        assert!(keep(&memo, &file, "answer"));
        assert_eq!(memo.recall::<String>("q", "ctx").as_deref(), Some("answer"));
        assert_eq!(memo.recall::<String>("q", "other ctx"), None);
        assert_eq!(memo.recall::<String>("other q", "ctx"), None);

        // Rewritten (another size, another change time): a miss.
        std::fs::write(&file, "three").unwrap();
        assert_eq!(memo.recall::<String>("q", "ctx"), None);
        std::thread::sleep(TIMESTAMP_SLACK * 2);
        assert!(keep(&memo, &file, "again"));
        assert_eq!(memo.recall::<String>("q", "ctx").as_deref(), Some("again"));
        // Only its modification time changed: a miss.
        std::fs::File::options()
            .write(true)
            .open(&file)
            .unwrap()
            .set_modified(SystemTime::now() - std::time::Duration::from_secs(3600))
            .unwrap();
        assert_eq!(memo.recall::<String>("q", "ctx"), None);
        // Gone: a miss.
        std::fs::remove_file(&file).unwrap();
        assert_eq!(memo.recall::<String>("q", "ctx"), None);
    }

    #[test]
    fn a_file_that_was_absent_must_still_be() {
        let (dir, memo, file) = setup();
        let absent = dir.path().join("pyvenv.cfg");
        let files = [file, absent.clone()];
        assert!(memo.remember("q", "ctx", &files, SystemTime::now(), &1));
        assert_eq!(memo.recall::<u32>("q", "ctx"), Some(1));
        std::fs::write(&absent, "home = /x\n").unwrap();
        assert_eq!(memo.recall::<u32>("q", "ctx"), None);
    }

    #[test]
    fn an_answer_read_from_a_file_that_changed_while_it_was_asked_is_not_kept() {
        let (_dir, memo, file) = setup();
        let asked_at = SystemTime::now();
        std::fs::write(&file, "changed while asked").unwrap();
        assert!(!memo.remember("q", "ctx", &[file], asked_at, &"old or new?"));
        assert_eq!(memo.recall::<String>("q", "ctx"), None);
    }

    #[test]
    fn a_damaged_or_older_entry_is_a_miss_and_is_replaced() {
        let (_dir, memo, file) = setup();
        assert!(keep(&memo, &file, "answer"));
        let entry = memo.entry("q");
        for damage in [
            b"{ not json".to_vec(),
            Vec::new(),
            // Another format, otherwise the same.
            std::fs::read_to_string(&entry)
                .unwrap()
                .replacen(&format!("\"format\":{FORMAT}"), "\"format\":0", 1)
                .into_bytes(),
            // Of another type of answer.
            br#"{"format":1,"question":"q","context":"ctx","files":[],"answer":[1]}"#.to_vec(),
        ] {
            std::fs::write(&entry, &damage).unwrap();
            assert_eq!(memo.recall::<String>("q", "ctx"), None);
        }
        assert!(keep(&memo, &file, "new"));
        assert_eq!(memo.recall::<String>("q", "ctx").as_deref(), Some("new"));
    }

    #[test]
    fn a_memo_that_cannot_be_written_keeps_nothing_and_says_so() {
        let (dir, _, file) = setup();
        // Its directory is a file.
        let blocked = dir.path().join("blocked");
        std::fs::write(&blocked, "").unwrap();
        let memo = Memo::new(&blocked);
        assert!(!keep(&memo, &file, "answer"));
        assert_eq!(memo.recall::<String>("q", "ctx"), None);
    }
}
