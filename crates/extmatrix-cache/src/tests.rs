use super::*;
use serde::{Deserialize, Serialize};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Meta {
    what: String,
}

fn meta(what: &str) -> Meta {
    Meta { what: what.into() }
}

fn nothing() {}

/// Build `kind/name` with one file `content` in it.
fn build(store: &Store, kind: &str, name: &str, content: &str) -> Entry<Meta> {
    store
        .ensure::<Meta, io::Error>(kind, name, "test 1", &nothing, |b| {
            std::fs::write(b.staging().join("file"), content)?;
            Ok((meta(content), vec![Input::value("content", content)]))
        })
        .unwrap()
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn a_build_is_staged_in_tmp_and_renamed_into_place_with_meta_json_last() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::new(root.path());
    let entry = store
        .ensure::<Meta, io::Error>("targets", "m-cp312-abc", "test 1", &nothing, |b| {
            assert_eq!(b.dir(), root.path().join("targets/m-cp312-abc"));
            assert!(!b.dir().exists(), "nothing in place while building");
            assert!(b.staging().starts_with(root.path().join("tmp")));
            let work = b.work().file_name().unwrap().to_string_lossy().into_owned();
            assert!(work.starts_with("targets.m-cp312-abc."), "{work}");
            std::fs::write(b.staging().join("m.so"), "12345")?;
            Ok((meta("x"), vec![Input::value("v", "1")]))
        })
        .unwrap();
    assert!(entry.fresh);
    assert_eq!(entry.dir, root.path().join("targets/m-cp312-abc"));
    assert_eq!(
        std::fs::read_to_string(entry.dir.join("m.so")).unwrap(),
        "12345"
    );
    assert!(
        names_in(&root.path().join("tmp")).is_empty(),
        "work removed"
    );

    // meta.json: the kind's fields and the store's stamp beside them.
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(entry.dir.join("meta.json")).unwrap()).unwrap();
    assert_eq!(json["what"], "x");
    let stamp = &json["cache_entry"];
    assert_eq!(stamp["kind"], "targets");
    assert_eq!(stamp["name"], "m-cp312-abc");
    assert_eq!(stamp["built_by"], "test 1");
    assert_eq!(stamp["size_bytes"], 5);
    assert!(stamp["built_at"].as_u64().unwrap() > 1_600_000_000);
    assert_eq!(
        stamp["inputs"],
        serde_json::json!([{"type": "value", "name": "v", "value": "1"}])
    );

    // Found the second time, without building.
    let again = store
        .ensure::<Meta, io::Error>("targets", "m-cp312-abc", "test 1", &nothing, |_| {
            panic!("a complete entry is not rebuilt")
        })
        .unwrap();
    assert!(!again.fresh);
    assert_eq!(again.meta, meta("x"));
    assert_eq!(again.stamp.unwrap().size_bytes, 5);
}

#[test]
fn an_entry_without_meta_json_is_incomplete_and_rebuilt() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::new(root.path());
    // What a build killed after the rename and before meta.json leaves.
    let half = root.path().join("harness/cp312-abc");
    std::fs::create_dir_all(&half).unwrap();
    std::fs::write(half.join("half-written"), "").unwrap();
    assert!(store.lookup::<Meta>("harness", "cp312-abc").is_none());
    let listed = store.list();
    assert_eq!(listed.len(), 1);
    assert!(!listed[0].is_complete());

    let built = AtomicBool::new(false);
    let entry = store
        .ensure::<Meta, io::Error>("harness", "cp312-abc", "test 1", &nothing, |b| {
            built.store(true, Ordering::SeqCst);
            std::fs::write(b.staging().join("harness"), "")?;
            Ok((meta("h"), vec![]))
        })
        .unwrap();
    assert!(built.load(Ordering::SeqCst));
    assert!(entry.fresh);
    assert_eq!(names_in(&entry.dir), ["harness", "meta.json"]);
}

#[test]
fn an_installed_entry_is_incomplete_until_its_meta_is_written() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::new(root.path());
    let entry = store
        .ensure::<Meta, io::Error>("pythons", "cp313d-abc", "test 1", &nothing, |b| {
            // A DESTDIR-style install: staged elsewhere under work, baked path.
            let staged = b.work().join("destdir/prefix-tree");
            std::fs::create_dir_all(&staged)?;
            std::fs::write(staged.join("python3"), "")?;
            b.install(&staged)?;
            assert!(b.dir().join("python3").exists());
            // In place, but not complete: nobody may use it yet.
            assert!(store.lookup::<Meta>("pythons", "cp313d-abc").is_none());
            assert!(!store.list()[0].is_complete());
            Ok((meta("p"), vec![]))
        })
        .unwrap();
    assert!(entry.dir.join("python3").exists());
    assert!(store.lookup::<Meta>("pythons", "cp313d-abc").is_some());
}

#[test]
fn a_failed_build_leaves_nothing_in_place() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::new(root.path());
    // Fails after installing (an interpreter that does not run).
    let r = store.ensure::<Meta, io::Error>("pythons", "cp313x-abc", "test 1", &nothing, |b| {
        let mut log = b.open_log()?;
        io::Write::write_all(&mut log, b"it broke\n")?;
        std::fs::write(b.staging().join("python3"), "")?;
        let staged = b.staging().to_owned();
        b.install(&staged)?;
        Err(io::Error::other("does not run"))
    });
    assert!(r.is_err());
    assert!(!root.path().join("pythons/cp313x-abc").exists());
    assert!(names_in(&root.path().join("tmp")).is_empty());
    // The log stays, to say why.
    assert_eq!(
        std::fs::read_to_string(store.log_path("pythons", "cp313x-abc")).unwrap(),
        "it broke\n"
    );
    // Fails before installing.
    let r = store.ensure::<Meta, io::Error>("targets", "t-abc", "test 1", &nothing, |_| {
        Err(io::Error::other("compile error"))
    });
    assert!(r.is_err());
    assert!(store.list().is_empty());
    assert!(names_in(&root.path().join("tmp")).is_empty());
}

#[test]
fn a_second_builder_waits_for_the_first_and_both_get_one_entry() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::new(root.path());
    let builds = AtomicUsize::new(0);
    let waited = AtomicBool::new(false);
    let (started_tx, started_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let store = &store;
    let build_it = |b: &mut Building<'_>| -> io::Result<(Meta, Vec<Input>)> {
        builds.fetch_add(1, Ordering::SeqCst);
        std::fs::write(b.staging().join("file"), "one")?;
        Ok((meta("one"), vec![]))
    };
    let (first, second) = std::thread::scope(|s| {
        let first = s.spawn(move || {
            store.ensure::<Meta, io::Error>("targets", "shared", "test 1", &nothing, |b| {
                started_tx.send(()).unwrap();
                release_rx.recv().unwrap();
                build_it(b)
            })
        });
        started_rx.recv().unwrap();
        let waited = &waited;
        let on_wait = move || waited.store(true, Ordering::SeqCst);
        let second = s.spawn(move || {
            store.ensure::<Meta, io::Error>("targets", "shared", "test 1", &on_wait, build_it)
        });
        // The second one blocks on the lock and says so.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !waited.load(Ordering::SeqCst) {
            assert!(std::time::Instant::now() < deadline, "never told it waits");
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(100));
        assert!(!second.is_finished(), "the lock is exclusive");
        release_tx.send(()).unwrap();
        (
            first.join().unwrap().unwrap(),
            second.join().unwrap().unwrap(),
        )
    });
    assert_eq!(builds.load(Ordering::SeqCst), 1, "built once");
    assert!(first.fresh && !second.fresh);
    assert_eq!(first.dir, second.dir);
    assert_eq!(second.meta, meta("one"));
    assert_eq!(store.list().len(), 1);
}

#[test]
fn a_lock_file_removed_by_prune_is_not_shared_by_two_holders() {
    let root = tempfile::tempdir().unwrap();
    let path = root.path().join("e.lock");
    let held = Lock::try_acquire(&path).unwrap().unwrap();
    assert!(Lock::is_held(&path));
    assert!(Lock::try_acquire(&path).unwrap().is_none());
    let told = Cell::new(false);
    // Remove while holding it; a new lock on the path is free at once.
    held.remove().unwrap();
    assert!(!path.exists());
    let again = Lock::acquire(&path, &|| told.set(true)).unwrap();
    assert!(!told.get());
    assert!(Lock::is_held(&path));
    drop(again);
    assert!(!Lock::is_held(&path));
}

/// A store with: `keep` and `stale` complete, `half` incomplete, `busy`
/// incomplete and locked (being built), a leftover work directory, one of
/// a running build, and one of an older version's interpreter build.
struct PruneFixture {
    _root: tempfile::TempDir,
    store: Store,
    _busy_lock: Lock,
}

fn prune_fixture() -> PruneFixture {
    let root = tempfile::tempdir().unwrap();
    let store = Store::new(root.path());
    build(&store, "targets", "keep", "k");
    build(&store, "harness", "stale", "s");
    std::fs::create_dir_all(root.path().join("targets/half")).unwrap();
    std::fs::create_dir_all(root.path().join("targets/busy")).unwrap();
    let busy_lock = Lock::try_acquire(&root.path().join("targets/busy.lock"))
        .unwrap()
        .unwrap();
    let tmp = root.path().join("tmp");
    std::fs::create_dir_all(tmp.join("targets.gone.AbC123")).unwrap();
    std::fs::write(tmp.join("targets.gone.AbC123/x.o"), "123").unwrap();
    std::fs::create_dir_all(tmp.join("targets.busy.XyZ789")).unwrap();
    std::fs::create_dir_all(root.path().join("pythons/tmp/cp313t-0123abcdQwErTy")).unwrap();
    // Not entries: logs and sources of interpreter builds.
    std::fs::create_dir_all(root.path().join("pythons/logs")).unwrap();
    std::fs::create_dir_all(root.path().join("pythons/sources")).unwrap();
    PruneFixture {
        _root: root,
        store,
        _busy_lock: busy_lock,
    }
}

fn reject_stale(l: &Listed) -> Result<(), String> {
    assert!(l.is_complete(), "keep is asked about complete entries only");
    if l.name == "stale" {
        Err("stale for the test".into())
    } else {
        Ok(())
    }
}

fn removed_names(removed: &[Removed], root: &Path) -> Vec<String> {
    let mut v: Vec<String> = removed
        .iter()
        .map(|r| {
            format!(
                "{} {} {}",
                r.kind,
                r.path.strip_prefix(root).unwrap().display(),
                r.reason
            )
        })
        .collect();
    v.sort();
    v
}

const EXPECTED: [&str; 4] = [
    "harness harness/stale stale for the test",
    "pythons pythons/tmp/cp313t-0123abcdQwErTy leftover of interrupted work",
    "targets targets/half incomplete (no meta.json)",
    "targets tmp/targets.gone.AbC123 leftover of interrupted work",
];

#[test]
fn prune_dry_run_reports_without_touching_anything() {
    let f = prune_fixture();
    let root = f.store.root().to_owned();
    let before: Vec<_> = ["", "targets", "harness", "tmp", "pythons/tmp"]
        .iter()
        .map(|d| names_in(&root.join(d)))
        .collect();
    let removed = f.store.prune(reject_stale, true).unwrap();
    assert_eq!(removed_names(&removed, &root), EXPECTED);
    let after: Vec<_> = ["", "targets", "harness", "tmp", "pythons/tmp"]
        .iter()
        .map(|d| names_in(&root.join(d)))
        .collect();
    assert_eq!(before, after);
    let stale = removed.iter().find(|r| r.path.ends_with("stale")).unwrap();
    assert_eq!(stale.bytes, 1);
    let gone = removed
        .iter()
        .find(|r| r.path.ends_with("targets.gone.AbC123"))
        .unwrap();
    assert_eq!(gone.bytes, 3);
}

#[test]
fn prune_removes_rejected_incomplete_and_leftovers_but_not_locked_work() {
    let f = prune_fixture();
    let root = f.store.root().to_owned();
    std::fs::create_dir_all(root.join("harness/logs")).unwrap();
    std::fs::write(f.store.log_path("harness", "stale"), "log").unwrap();
    let removed = f.store.prune(reject_stale, false).unwrap();
    assert_eq!(removed_names(&removed, &root), EXPECTED);
    assert_eq!(
        names_in(&root.join("harness")),
        ["logs"],
        "entry, log and lock gone"
    );
    assert!(names_in(&root.join("harness/logs")).is_empty());
    // Kept: the entry keep accepts, the one being built, its work.
    assert_eq!(
        names_in(&root.join("targets")),
        ["busy", "busy.lock", "keep", "keep.lock"]
    );
    assert_eq!(names_in(&root.join("tmp")), ["targets.busy.XyZ789"]);
    assert!(names_in(&root.join("pythons/tmp")).is_empty());
    assert_eq!(names_in(&root.join("pythons")), ["logs", "sources", "tmp"]);
    // Still usable.
    assert!(f.store.lookup::<Meta>("targets", "keep").is_some());
    // Nothing more to do the second time.
    assert!(f.store.prune(reject_stale, false).unwrap().is_empty());
}

#[test]
fn list_covers_every_kind_and_skips_what_is_not_an_entry() {
    let f = prune_fixture();
    let listed: Vec<String> = f
        .store
        .list()
        .iter()
        .map(|l| format!("{}/{} {}", l.kind, l.name, l.is_complete()))
        .collect();
    assert_eq!(
        listed,
        [
            "harness/stale true",
            "targets/busy false",
            "targets/half false",
            "targets/keep true"
        ]
    );
    let kept: Vec<Entry<Meta>> = f.store.list_kind("targets");
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].meta, meta("k"));
    let mut leftovers = f.store.leftovers();
    leftovers.sort();
    assert_eq!(leftovers.len(), 2, "{leftovers:?}");
}

#[test]
fn older_interpreter_metas_without_a_stamp_still_read() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::new(root.path());
    let dir = root.path().join("pythons/cp313d-96f7fd9f7989d798");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("meta.json"),
        r#"{"what": "old", "size_bytes": 42}"#,
    )
    .unwrap();
    let found: Entry<Meta> = store.lookup("pythons", "cp313d-96f7fd9f7989d798").unwrap();
    assert_eq!(found.meta, meta("old"));
    assert!(found.stamp.is_none());
    assert_eq!(store.list()[0].size_bytes(), 42);
}

/// Mutation caught: a stamp that does not read taken as no stamp (the
/// entry was then used with nothing checked).
#[test]
fn an_entry_whose_stamp_does_not_read_is_not_used() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::new(root.path());
    let built = AtomicUsize::new(0);
    let entry = build_module(&store, "m", "module", Input::value("v", "1"), &built);
    let path = entry.dir.join("meta.json");
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    json["cache_entry"]["artifacts"] = serde_json::json!("not a list");
    std::fs::write(&path, json.to_string()).unwrap();
    assert!(store.lookup::<Meta>("targets", "m").is_none());
    // Its own fields alone still read as it was.
    json["cache_entry"] = serde_json::Value::Null;
    std::fs::write(&path, json.to_string()).unwrap();
    assert_eq!(
        store.lookup::<Meta>("targets", "m").unwrap().meta,
        meta("module")
    );
}

#[test]
fn names_that_are_not_entries_are_refused() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::new(root.path());
    for (kind, name) in [
        ("targets", "logs"),
        ("targets", "a/b"),
        ("targets", ".."),
        ("targets", "x.lock"),
        ("elsewhere", "x"),
    ] {
        let r = store.ensure::<Meta, io::Error>(kind, name, "t", &nothing, |_| panic!("not built"));
        assert_eq!(
            r.unwrap_err().kind(),
            io::ErrorKind::InvalidInput,
            "{kind}/{name}"
        );
    }
}

#[test]
fn work_names_tell_their_entry() {
    assert_eq!(
        parse_work_name("targets.pkg.mod-cp312-abc.Xy12Z9"),
        Some(("targets", "pkg.mod-cp312-abc"))
    );
    assert_eq!(
        parse_work_name("harness.cp312-abc.Xy12Z9"),
        Some(("harness", "cp312-abc"))
    );
    assert_eq!(parse_work_name("cp312-abcXy12Z9"), None);
    assert_eq!(parse_work_name("other.x.Xy12Z9"), None);
    assert_eq!(parse_work_name("targets..Xy12Z9"), None);
}

#[test]
fn the_key_changes_with_each_part_and_their_boundaries() {
    let base = key(["recipe", "aa", "gcc 12", "--with-pydebug"]);
    assert_eq!(base.len(), 16);
    assert!(base.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(base, key(["recipe", "aa", "gcc 12", "--with-pydebug"]));
    assert_ne!(base, key(["recipe2", "aa", "gcc 12", "--with-pydebug"]));
    assert_ne!(base, key(["recipe", "ab", "gcc 12", "--with-pydebug"]));
    assert_ne!(base, key(["recipe", "aa", "gcc 13", "--with-pydebug"]));
    assert_ne!(base, key(["recipe", "aa", "gcc 12", "--disable-gil"]));
    assert_ne!(base, key(["recipe", "aa", "gcc 12", "--with-pydebug", ""]));
    assert_ne!(key(["ab", "c"]), key(["a", "bc"]), "length-prefixed");
    assert_eq!(
        key([b"x".as_slice()]),
        key(["x"]),
        "bytes and strings alike"
    );
}

#[test]
fn inputs_tell_what_changed() {
    let dir = tempfile::tempdir().unwrap();
    let c = dir.path().join("m.c");
    std::fs::write(&c, "int x;").unwrap();
    let file = Input::file(&c).unwrap();
    let program = Input::program(&c);
    assert_eq!(file.changed(), None);
    assert_eq!(program.changed(), None);
    std::fs::write(&c, "int y;").unwrap();
    let when = std::time::SystemTime::now() + Duration::from_secs(5);
    File::options()
        .write(true)
        .open(&c)
        .unwrap()
        .set_modified(when)
        .unwrap();
    assert_eq!(file.changed(), Some(format!("{} changed", c.display())));
    assert_eq!(
        program.changed(),
        Some(format!("{} was replaced", c.display()))
    );
    std::fs::remove_file(&c).unwrap();
    assert_eq!(file.changed(), Some(format!("{} is gone", c.display())));
    assert_eq!(Input::value("a", "b").changed(), None);
}

#[test]
fn the_root_comes_from_the_flag_first_and_is_absolute() {
    let store = Store::from_env(Some(PathBuf::from("relative/cache"))).unwrap();
    assert!(store.root().is_absolute());
    assert!(store.root().ends_with("relative/cache"));
    assert!(Store::new("x").root().is_absolute());
}

/// Build `targets/<name>` with `m.so` (content `so`) as its artifact and
/// `input` as its one input; `built` counts the builds.
fn build_module(
    store: &Store,
    name: &str,
    so: &str,
    input: Input,
    built: &AtomicUsize,
) -> Entry<Meta> {
    store
        .ensure::<Meta, io::Error>("targets", name, "test 1", &nothing, |b| {
            built.fetch_add(1, Ordering::SeqCst);
            std::fs::write(b.staging().join("m.so"), so)?;
            b.artifact("m.so");
            Ok((meta(so), vec![input.clone()]))
        })
        .unwrap()
}

#[test]
fn artifacts_are_recorded_with_size_and_sha256() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::new(root.path());
    let built = AtomicUsize::new(0);
    let entry = build_module(&store, "m", "12345", Input::value("v", "1"), &built);
    assert_eq!(
        entry.stamp.unwrap().artifacts,
        [Artifact {
            path: "m.so".into(),
            size_bytes: 5,
            sha256: sha256_hex(b"12345"),
        }]
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(entry.dir.join("meta.json")).unwrap()).unwrap();
    assert_eq!(json["cache_entry"]["artifacts"][0]["size_bytes"], 5);
}

/// Mutation caught: `lookup` trusting `meta.json` alone (a deleted or
/// emptied module was used, and the cell failed to import it).
#[test]
fn a_damaged_entry_is_rebuilt_not_trusted() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::new(root.path());
    let built = AtomicUsize::new(0);
    let v = || Input::value("v", "1");
    let entry = build_module(&store, "m", "module", v(), &built);
    let so = entry.dir.join("m.so");

    for damage in ["deleted", "emptied", "same size, other bytes"] {
        match damage {
            "deleted" => std::fs::remove_file(&so).unwrap(),
            "emptied" => std::fs::write(&so, "").unwrap(),
            _ => std::fs::write(&so, "MODULE").unwrap(),
        }
        assert!(
            store.lookup::<Meta>("targets", "m").is_none(),
            "{damage}: not used"
        );
        let listed = store.list();
        let why = listed[0]
            .stamp
            .as_ref()
            .unwrap()
            .problem(&listed[0].dir)
            .unwrap();
        assert!(
            why.starts_with("damaged: ") && why.contains("m.so"),
            "{damage}: {why}"
        );
        let before = built.load(Ordering::SeqCst);
        let again = build_module(&store, "m", "module", v(), &built);
        assert_eq!(
            built.load(Ordering::SeqCst),
            before + 1,
            "{damage}: rebuilt"
        );
        assert!(again.fresh);
        assert_eq!(std::fs::read_to_string(&so).unwrap(), "module");
        assert!(names_in(&root.path().join("tmp")).is_empty());
    }
    // Intact: found, not rebuilt.
    let before = built.load(Ordering::SeqCst);
    assert!(!build_module(&store, "m", "module", v(), &built).fresh);
    assert_eq!(built.load(Ordering::SeqCst), before);

    // Prune removes a damaged entry whatever the caller's rule says.
    std::fs::remove_file(&so).unwrap();
    let removed = store.prune(|_| Ok(()), false).unwrap();
    assert_eq!(removed.len(), 1);
    assert!(removed[0].reason.starts_with("damaged: "), "{removed:?}");
    assert!(!entry.dir.exists());
}

/// Mutation caught: `lookup` ignoring the recorded inputs (an edited header
/// kept its old build).
#[test]
fn an_entry_whose_file_input_changed_is_replaced_in_place() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::new(root.path());
    let header = root.path().join("val.h");
    std::fs::write(&header, "#define VAL 1\n").unwrap();
    let built = AtomicUsize::new(0);
    let first = build_module(&store, "m", "one", Input::file(&header).unwrap(), &built);
    assert!(!build_module(&store, "m", "one", Input::file(&header).unwrap(), &built).fresh);

    std::fs::write(&header, "#define VAL 2\n").unwrap();
    assert!(store.lookup::<Meta>("targets", "m").is_none(), "stale");
    let second = build_module(&store, "m", "two", Input::file(&header).unwrap(), &built);
    assert!(second.fresh);
    assert_eq!(built.load(Ordering::SeqCst), 2);
    assert_eq!(second.dir, first.dir, "the same entry, rebuilt");
    assert_eq!(
        std::fs::read_to_string(second.dir.join("m.so")).unwrap(),
        "two"
    );
    assert_eq!(
        store.lookup::<Meta>("targets", "m").unwrap().meta,
        meta("two")
    );
    assert!(
        names_in(&root.path().join("tmp")).is_empty(),
        "old one gone"
    );
}

/// Mutation caught: a snapshot that looked at the file again on every
/// lookup (each of a run's targets stat'ed the same headers anew).
#[test]
fn a_snapshot_looks_at_each_file_input_once() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::new(root.path());
    let header = root.path().join("val.h");
    std::fs::write(&header, "#define VAL 1\n").unwrap();
    let built = AtomicUsize::new(0);
    build_module(&store, "m", "one", Input::file(&header).unwrap(), &built);
    let pass = store.snapshot();
    let same_pass = pass.clone();
    assert!(pass.lookup::<Meta>("targets", "m").is_some());

    std::fs::write(&header, "#define VAL 2\n").unwrap();
    // The pass saw it before the change, its clones too; the store itself
    // and a new pass see it now.
    assert!(pass.lookup::<Meta>("targets", "m").is_some());
    assert!(same_pass.lookup::<Meta>("targets", "m").is_some());
    assert!(store.lookup::<Meta>("targets", "m").is_none(), "stale");
    assert!(store.snapshot().lookup::<Meta>("targets", "m").is_none());
    // A damaged artifact is seen at once, snapshot or not.
    std::fs::write(store.entry_dir("targets", "m").join("m.so"), "").unwrap();
    assert!(pass.lookup::<Meta>("targets", "m").is_none());
}

/// Mutation caught: a pass that did not keep its hashes (each run read
/// every header again), and one whose kept hash outlived a change.
#[test]
fn a_pass_keeps_the_hashes_it_read_for_the_next_one() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::new(root.path());
    let header = root.path().join("val.h");
    std::fs::write(&header, "#define VAL 1\n").unwrap();
    std::thread::sleep(TIMESTAMP_SLACK * 2);
    let built = AtomicUsize::new(0);
    build_module(&store, "m", "one", Input::file(&header).unwrap(), &built);
    let kept = root.path().join("discovery/file-hashes.json");
    {
        let pass = store.snapshot();
        assert!(pass.lookup::<Meta>("targets", "m").is_some());
        assert!(!kept.exists(), "kept when the pass ends");
    }
    let text = std::fs::read_to_string(&kept).unwrap();
    assert!(text.contains("val.h"), "{text}");
    // Same size, new contents: the next pass reads it again.
    std::fs::write(&header, "#define VAL 2\n").unwrap();
    assert!(store.snapshot().lookup::<Meta>("targets", "m").is_none());
}

#[test]
fn replacing_an_entry_exchanges_it_so_its_path_never_names_nothing() {
    let root = tempfile::tempdir().unwrap();
    let old = root.path().join("old");
    let new = root.path().join("new");
    std::fs::create_dir_all(&old).unwrap();
    std::fs::write(old.join("f"), "old").unwrap();
    std::fs::create_dir_all(&new).unwrap();
    std::fs::write(new.join("f"), "new").unwrap();
    replace_dir(&new, &old).unwrap();
    assert_eq!(std::fs::read_to_string(old.join("f")).unwrap(), "new");
    // With an exchange the old entry is where the new one was, to be removed.
    assert_eq!(std::fs::read_to_string(new.join("f")).unwrap(), "old");
    // Nothing there: a plain rename.
    let third = root.path().join("third");
    replace_dir(&new, &third).unwrap();
    assert!(!new.exists() && third.join("f").is_file());
}

fn set_age(path: &Path, age: Duration) {
    File::open(path)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - age)
        .unwrap();
}

/// Mutation caught: work directories never collected, or collected while
/// their build runs, or collected young.
#[test]
fn stale_work_is_collected_when_old_and_not_locked() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::new(root.path());
    let tmp = root.path().join("tmp");
    let day = Duration::from_secs(24 * 3600);
    let two_days = Duration::from_secs(2 * 24 * 3600);
    let old = tmp.join("targets.dead-cp312-0.AbCdEf");
    let young = tmp.join("targets.young-cp312-0.AbCdEf");
    let running = tmp.join("pythons.cp313d-0.AbCdEf");
    let older_version = tmp.join("m-cp312-0123XyZ123");
    for dir in [&old, &young, &running, &older_version] {
        std::fs::create_dir_all(dir.join("entry")).unwrap();
        std::fs::write(dir.join("entry/x.o"), "o").unwrap();
    }
    set_age(&old, two_days);
    set_age(&running, two_days);
    set_age(&older_version, two_days);
    std::fs::create_dir_all(root.path().join("pythons")).unwrap();
    let _lock = Lock::try_acquire(&root.path().join("pythons/cp313d-0.lock"))
        .unwrap()
        .unwrap();

    let mut removed = store.collect_stale_work(day);
    removed.sort();
    let mut expected = vec![old.clone(), older_version.clone()];
    expected.sort();
    assert_eq!(removed, expected);
    assert!(!old.exists() && !older_version.exists());
    assert!(young.is_dir(), "younger than a day");
    assert!(running.is_dir(), "its build holds the lock");
    assert!(store.collect_stale_work(day).is_empty());
    // No tmp/ at all: nothing to do.
    let empty = tempfile::tempdir().unwrap();
    assert!(Store::new(empty.path()).collect_stale_work(day).is_empty());
}

/// Mutation caught: a cache root that is a file accepted (every build then
/// failed, one cell at a time).
#[test]
fn a_root_that_cannot_be_a_cache_is_said_up_front() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cache");
    std::fs::write(&file, "").unwrap();
    for write in [false, true] {
        let e = Store::new(&file).check_dir(write).unwrap_err();
        let message = e.to_string();
        assert!(
            message.contains(&format!(
                "the cache directory {} cannot be used",
                file.display()
            )) && message.contains("it is not a directory")
                && message.contains("--cache-dir"),
            "{message}"
        );
    }

    // Missing: fine to list, created for a run.
    let missing = dir.path().join("new/cache");
    Store::new(&missing).check_dir(false).unwrap();
    assert!(!missing.exists());
    Store::new(&missing).check_dir(true).unwrap();
    assert!(missing.is_dir());
    assert!(
        names_in(&missing).is_empty(),
        "the write check leaves nothing"
    );

    // A kind directory that is a file.
    std::fs::write(missing.join("targets"), "").unwrap();
    let message = Store::new(&missing)
        .check_dir(true)
        .unwrap_err()
        .to_string();
    assert!(
        message.contains(&format!(
            "{} it is not a directory",
            missing.join("targets").display()
        )),
        "{message}"
    );

    // Under a file: cannot be created.
    let message = Store::new(file.join("sub"))
        .check_dir(true)
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("a part of its path is a file"),
        "{message}"
    );
}
