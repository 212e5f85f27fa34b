//! The journal's reading and writing rules, on files in a temporary
//! directory.

use super::*;
use extmatrix_core::{Outcome, Scenario};
use extmatrix_protocol::{Observation, Termination};

fn header(binary: &str, run: &str) -> Header {
    Header {
        extmatrix_journal: JOURNAL_FORMAT,
        binary: binary.into(),
        run: run.into(),
        matrix: "m.yaml".into(),
        cells: 3,
    }
}

fn key(target: &str) -> CellKey {
    CellKey {
        target: target.into(),
        module: "m".into(),
        python: "cp312".into(),
        scenario: Scenario::Reinit,
    }
}

fn crashed() -> Evidence {
    let step = serde_json::from_str(r#"{"ev":"step","step":"cycle 2: import"}"#).unwrap();
    let signaled = Termination::Signaled {
        signal: 11,
        name: "SIGSEGV".into(),
    };
    Evidence::Ran(Observation {
        stdout_tail: "out\n".into(),
        stderr_tail: "Fatal Python error\n".into(),
        runner_notes: vec!["a note".into()],
        repeats: vec![Outcome::Pass, Outcome::Crash],
        ..Observation::new(vec![step], signaled)
    })
}

fn could_not_run() -> Evidence {
    Evidence::CouldNotRun {
        message: "no harness".into(),
    }
}

/// A journal at `dir/j` of run `h` with cells `a` (crashed, 7 ms) and `b`.
fn two_cells(dir: &Path, h: &Header) -> PathBuf {
    let path = dir.join("j");
    let journal = Journal::start(&path, h).unwrap();
    journal.record(&key("a"), &crashed(), 7);
    journal.record(&key("b"), &could_not_run(), 9);
    assert_eq!(journal.failure(), None);
    path
}

#[test]
fn a_resumed_journal_gives_back_each_cells_evidence_and_duration() {
    let dir = tempfile::tempdir().unwrap();
    let h = header("bin", "run");
    let path = two_cells(dir.path(), &h);
    let journal = Journal::resume(&path, &h).unwrap().unwrap();
    assert_eq!(journal.finished_earlier(), 2);
    assert_eq!(
        journal.finished(&key("a")),
        Some(&Finished {
            evidence: crashed(),
            duration_ms: 7
        })
    );
    assert_eq!(
        journal.finished(&key("b")).unwrap().evidence,
        could_not_run()
    );
    assert_eq!(journal.finished(&key("c")), None);
}

#[test]
fn a_recorded_line_is_whole_in_the_file_before_record_returns() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j");
    let journal = Journal::start(&path, &header("bin", "run")).unwrap();
    journal.record(&key("a"), &crashed(), 7);
    // Read through another descriptor while the journal is still open: no
    // buffer of this process holds any of it.
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines.iter().all(|l| l.ends_with('\n')));
    assert!(lines[0].starts_with("{\"extmatrix_journal\":1,"), "{text}");
    let line: Line = serde_json::from_str(lines[1]).unwrap();
    assert_eq!((line.key, line.evidence), (key("a"), crashed()));
}

#[test]
fn a_last_line_cut_short_is_dropped_and_cut_off_before_appending() {
    let dir = tempfile::tempdir().unwrap();
    let h = header("bin", "run");
    let path = two_cells(dir.path(), &h);
    let whole = std::fs::read(&path).unwrap();
    // The kill came in the middle of b's line.
    std::fs::write(&path, &whole[..whole.len() - 20]).unwrap();
    let journal = Journal::resume(&path, &h).unwrap().unwrap();
    assert_eq!(journal.finished_earlier(), 1);
    assert!(journal.finished(&key("b")).is_none());
    journal.record(&key("b"), &could_not_run(), 3);
    drop(journal);
    // b's new line starts on a line of its own: the file reads whole.
    let again = Journal::resume(&path, &h).unwrap().unwrap();
    assert_eq!(again.finished_earlier(), 2);
    assert_eq!(again.finished(&key("b")).unwrap().duration_ms, 3);
}

#[test]
fn a_last_line_that_does_not_parse_is_dropped_even_with_its_newline() {
    let dir = tempfile::tempdir().unwrap();
    let h = header("bin", "run");
    let path = two_cells(dir.path(), &h);
    let mut text = std::fs::read(&path).unwrap();
    text.extend_from_slice(b"{\"key\": {\"target\"\n");
    std::fs::write(&path, &text).unwrap();
    let journal = Journal::resume(&path, &h).unwrap().unwrap();
    assert_eq!(journal.finished_earlier(), 2);
    drop(journal);
    assert_eq!(
        std::fs::read(&path).unwrap().len(),
        text.len() - "{\"key\": {\"target\"\n".len()
    );
}

#[test]
fn a_bad_line_before_the_last_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let h = header("bin", "run");
    let path = two_cells(dir.path(), &h);
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<&str> = text.split_inclusive('\n').collect();
    lines[1] = "not json\n";
    let damaged = lines.concat();
    std::fs::write(&path, &damaged).unwrap();
    let err = Journal::resume(&path, &h).unwrap_err();
    assert!(
        matches!(err, JournalError::Damaged { line: 2, .. }),
        "{err}"
    );
    assert!(err
        .to_string()
        .contains("remove it or run without --resume"));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), damaged);
}

#[test]
fn a_journal_of_another_binary_or_run_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = two_cells(dir.path(), &header("bin", "run"));
    let before = std::fs::read(&path).unwrap();
    for (ours, what) in [
        (header("other-bin", "run"), "extmatrix binary"),
        (header("bin", "other-run"), "matrix"),
    ] {
        let err = Journal::resume(&path, &ours).unwrap_err();
        match &err {
            JournalError::OtherRun { what: w, .. } => assert_eq!(*w, what),
            other => panic!("{other}"),
        }
        let message = err.to_string();
        assert!(
            message.contains(&format!("is of another {what}"))
                && message.contains("remove it or run without --resume"),
            "{message}"
        );
    }
    let mut newer = header("bin", "run");
    newer.extmatrix_journal += 1;
    assert!(matches!(
        Journal::resume(&path, &newer),
        Err(JournalError::OtherRun { .. })
    ));
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn no_journal_or_one_without_a_whole_header_is_none() {
    let dir = tempfile::tempdir().unwrap();
    let h = header("bin", "run");
    let path = dir.path().join("j");
    assert!(Journal::resume(&path, &h).unwrap().is_none());
    for text in ["", "{\"extmatrix_jou", "{\"extmatrix_journal\":1,\"bin"] {
        std::fs::write(&path, text).unwrap();
        assert!(Journal::resume(&path, &h).unwrap().is_none(), "{text:?}");
    }
}

#[test]
fn a_file_that_is_no_journal_is_an_error_and_never_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.json");
    for text in ["{\"schema_version\": 1}", "{\"schema_version\": 1}\n{}\n"] {
        std::fs::write(&path, text).unwrap();
        let err = Journal::resume(&path, &header("bin", "run")).unwrap_err();
        assert!(
            matches!(err, JournalError::Damaged { line: 1, .. }),
            "{err}"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    }
}

#[test]
fn a_fresh_start_replaces_an_earlier_journal() {
    let dir = tempfile::tempdir().unwrap();
    let h = header("bin", "run");
    let path = two_cells(dir.path(), &h);
    drop(Journal::start(&path, &h).unwrap());
    let journal = Journal::resume(&path, &h).unwrap().unwrap();
    assert_eq!(journal.finished_earlier(), 0);
}

#[test]
fn a_fresh_start_leaves_a_file_that_is_no_journal_alone() {
    let dir = tempfile::tempdir().unwrap();
    let h = header("bin", "run");
    let report = dir.path().join("report.json");
    std::fs::write(&report, "{\n  \"schema_version\": 1\n}\n").unwrap();
    let refused = Journal::start(&report, &h).unwrap_err();
    assert!(
        matches!(refused, JournalError::NotAJournal { .. }),
        "{refused}"
    );
    assert!(refused.to_string().contains("left as it is"), "{refused}");
    assert_eq!(
        std::fs::read_to_string(&report).unwrap(),
        "{\n  \"schema_version\": 1\n}\n"
    );
    let empty = dir.path().join("empty");
    std::fs::write(&empty, "").unwrap();
    drop(Journal::start(&empty, &h).unwrap());
    let cut_header = dir.path().join("cut");
    std::fs::write(&cut_header, "{\"extmatrix_journal\":1,\"bin").unwrap();
    drop(Journal::start(&cut_header, &h).unwrap());
    assert!(Journal::resume(&cut_header, &h).unwrap().is_some());
}

#[test]
fn a_journal_being_written_is_not_opened_by_a_second_run() {
    let dir = tempfile::tempdir().unwrap();
    let h = header("bin", "run");
    let path = dir.path().join("j");
    let first = Journal::start(&path, &h).unwrap();
    first.record(&key("a"), &crashed(), 7);
    assert!(matches!(
        Journal::start(&path, &h),
        Err(JournalError::Busy { .. })
    ));
    assert!(matches!(
        Journal::resume(&path, &h),
        Err(JournalError::Busy { .. })
    ));
    drop(first);
    assert_eq!(
        Journal::resume(&path, &h)
            .unwrap()
            .unwrap()
            .finished_earlier(),
        1
    );
}

#[test]
fn after_a_failed_write_nothing_more_is_appended() {
    let dir = tempfile::tempdir().unwrap();
    let h = header("bin", "run");
    let path = two_cells(dir.path(), &h);
    let journal = Journal {
        path: path.clone(),
        // Read-only: every write fails.
        file: Mutex::new(File::open(&path).unwrap()),
        earlier: HashMap::new(),
        failure: Mutex::new(None),
        dir_synced: std::sync::atomic::AtomicBool::new(true),
    };
    journal.record(&key("c"), &could_not_run(), 1);
    let failure = journal.failure().expect("the failed write is kept");
    assert!(
        failure.contains("could not append to the journal"),
        "{failure}"
    );
    // The file can be written again, yet the journal stays stopped: a line
    // after one cut short would be a damaged line in the middle.
    *journal.file.lock().unwrap() = File::options().append(true).open(&path).unwrap();
    let before = std::fs::read(&path).unwrap();
    journal.record(&key("d"), &could_not_run(), 1);
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn the_run_in_a_header_changes_with_the_matrix_file_and_the_plan() {
    let plan = |timeout_s| Plan {
        pythons: vec![],
        targets: vec![],
        options: extmatrix_spec::Options {
            timeout_s,
            ..Default::default()
        },
        cells: vec![],
        shard: None,
    };
    let of =
        |file: &[u8], plan: &Plan| Header::new("bin".into(), Path::new("m.yaml"), file, plan).run;
    assert_eq!(of(b"a", &plan(60)), of(b"a", &plan(60)));
    assert_ne!(of(b"a", &plan(60)), of(b"b", &plan(60)));
    assert_ne!(of(b"a", &plan(60)), of(b"a", &plan(5)));
}

#[test]
fn this_binary_is_named_by_its_build_id_the_same_way_each_time() {
    let binary = this_binary().unwrap();
    assert!(
        binary.starts_with(&format!("extmatrix {}, ", env!("CARGO_PKG_VERSION"))),
        "{binary}"
    );
    assert_eq!(this_binary().unwrap(), binary);
    // The test binary is linked like extmatrix's: with a GNU build id.
    let id = binary.split("build-id ").nth(1).expect("a build id");
    assert!(
        id.len() >= 16 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{id}"
    );
}

#[test]
fn expectations_do_not_change_the_run_a_journal_belongs_to() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("t.c"), "").unwrap();
    let plan_of = |yaml: &str| {
        let matrix = extmatrix_spec::parse(yaml, &dir.path().join("m.yaml")).unwrap();
        Plan {
            pythons: vec![],
            targets: matrix.targets,
            options: matrix.options,
            cells: vec![],
            shard: None,
        }
    };
    let target = "pythons: [cp312]\ntargets:\n  - name: t\n    c: t.c\n";
    let expecting = format!("{target}    expect: {{reinit: crash}}\n");
    let without = plan_of(target);
    let with = plan_of(&expecting);
    assert_ne!(
        with.targets, without.targets,
        "the plans differ in expectations only"
    );
    let of = |plan: &Plan| Header::new("bin".into(), Path::new("m.yaml"), b"m", plan).run;
    assert_eq!(of(&with), of(&without));
    let other = plan_of("pythons: [cp312]\ntargets:\n  - name: u\n    c: t.c\n");
    assert_ne!(of(&other), of(&without));
}

#[test]
fn a_journal_in_a_directory_that_is_not_there_is_none_to_resume() {
    let dir = tempfile::tempdir().unwrap();
    let h = header("bin", "run");
    let path = dir.path().join("gone").join("report.json.journal");
    assert!(Journal::resume(&path, &h).unwrap().is_none());
    assert!(matches!(
        Journal::start(&path, &h),
        Err(JournalError::Io { .. })
    ));
}
