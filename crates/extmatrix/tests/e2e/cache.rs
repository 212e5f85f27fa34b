//! `extmatrix cache list` and `extmatrix cache prune`, black-box, on a
//! cache that ran a real matrix (cp312, one C file, `import`).

use crate::common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn in_cache(cache: &Path, args: &[&str]) -> (String, String) {
    let mut all = args.to_vec();
    all.extend(["--cache-dir", cache.to_str().unwrap()]);
    let out = extmatrix_in(&all, None);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "extmatrix {args:?} failed:\n{stdout}\n{stderr}"
    );
    (stdout, stderr)
}

/// `cache list --json`: (kind, dir, complete) per entry.
fn entries(cache: &Path) -> Vec<(String, PathBuf, bool)> {
    let (stdout, _) = in_cache(cache, &["cache", "list", "--json"]);
    let v: Value = serde_json::from_str(&stdout).unwrap();
    v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_owned(),
                PathBuf::from(e["dir"].as_str().unwrap()),
                e["complete"].as_bool().unwrap(),
            )
        })
        .collect()
}

fn only(entries: &[(String, PathBuf, bool)], kind: &str) -> PathBuf {
    let of_kind: Vec<_> = entries.iter().filter(|e| e.0 == kind).collect();
    assert_eq!(of_kind.len(), 1, "{entries:?}");
    assert!(of_kind[0].2, "complete: {entries:?}");
    of_kind[0].1.clone()
}

#[test]
fn prune_removes_the_target_build_of_a_changed_c_file_and_keeps_the_harness() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let source = dir.path().join("isolated_ok.c");
    std::fs::copy(fixture("isolated_ok.c"), &source).unwrap();
    let m = write_matrix(
        dir.path(),
        "pythons: [cp312]\nscenarios: [import]\ntargets:\n  - name: ok\n    c: isolated_ok.c\n",
    );
    let matrix = m.to_str().unwrap();
    let run = run_matrix_with_cache(&m, &[], Some(&cache));
    assert_eq!(
        cell(&run.report, "ok", "cp312", "import")["outcome"],
        "pass"
    );

    let listed = entries(&cache);
    assert_eq!(listed.len(), 2, "one harness, one target: {listed:?}");
    let harness = only(&listed, "harness");
    let target = only(&listed, "targets");
    let (table, _) = in_cache(&cache, &["cache", "list"]);
    assert!(
        table.contains("harness for cp312") && table.contains("isolated_ok for cp312 from "),
        "{table}"
    );

    // Everything is current: nothing goes.
    let (out, _) = in_cache(&cache, &["cache", "prune", "--matrix", matrix]);
    assert!(out.contains("freed 0 entries"), "{out}");
    assert!(target.is_dir() && harness.is_dir());

    // Leftovers of interrupted builds go whatever the matrices say.
    std::fs::create_dir_all(cache.join("targets/half-built")).unwrap();
    std::fs::create_dir_all(cache.join("tmp/targets.x-cp312-0.AbCdEf")).unwrap();

    std::fs::write(
        &source,
        std::fs::read_to_string(&source).unwrap() + "\n/* edited */\n",
    )
    .unwrap();
    let (out, _) = in_cache(&cache, &["cache", "prune", "--matrix", matrix, "--dry-run"]);
    assert!(
        out.contains(&format!("would remove {} (", target.display()))
            && out.contains(&format!("{} changed", source.display())),
        "{out}"
    );
    assert!(out.contains("would free 3 entries"), "{out}");
    assert!(target.is_dir(), "a dry run removes nothing");
    assert!(cache.join("targets/half-built").is_dir());

    let (out, _) = in_cache(&cache, &["cache", "prune", "--matrix", matrix]);
    assert!(
        out.contains(&format!("removed {} (", target.display())),
        "{out}"
    );
    assert!(out.contains("incomplete (no meta.json)"), "{out}");
    assert!(out.contains("leftover of interrupted work"), "{out}");
    assert!(out.contains("freed 3 entries, "), "{out}");
    assert!(!target.exists(), "the stale target build is gone");
    assert!(
        harness.join("extmatrix-harness").is_file(),
        "the harness stays"
    );
    assert!(!cache.join("targets/half-built").exists());
    assert_eq!(std::fs::read_dir(cache.join("tmp")).unwrap().count(), 0);
    let listed = entries(&cache);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(only(&listed, "harness"), harness);

    // The next run builds the edited file anew and reuses the harness.
    let run = run_matrix_with_cache(&m, &[], Some(&cache));
    assert_eq!(
        cell(&run.report, "ok", "cp312", "import")["outcome"],
        "pass"
    );
    let listed = entries(&cache);
    assert_eq!(only(&listed, "harness"), harness);
    let rebuilt = only(&listed, "targets");
    assert_ne!(rebuilt, target);

    // A source file that is gone: `pythons prune` is the same prune. (The
    // matrix that named it no longer loads; another one says what to keep.)
    std::fs::remove_file(&source).unwrap();
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    let other = write_matrix(
        &other,
        "pythons: [cp312]\ntargets:\n  - name: a\n    c: {fixtures}/isolated_ok.c\n",
    );
    let (out, _) = in_cache(
        &cache,
        &["pythons", "prune", "--matrix", other.to_str().unwrap()],
    );
    assert!(
        out.contains(&format!("removed {} (", rebuilt.display()))
            && out.contains(&format!("{} is gone", source.display())),
        "{out}"
    );
    assert!(!rebuilt.exists() && harness.is_dir());
}

#[test]
fn cache_prune_help_teaches_what_goes_and_what_stays() {
    let out = extmatrix(&["cache", "prune", "--help"]);
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "--matrix",
        "--dry-run",
        "--cache-dir",
        "pythons/",
        "harness/",
        "targets/",
        "meta.json",
        "lock",
        "Examples:",
    ] {
        assert!(
            text.contains(needle),
            "cache prune --help lacks {needle}:\n{text}"
        );
    }
    let out = extmatrix(&["--help"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("cache"));
}

/// `dir/valmod.c`, a module whose `value()` is `VAL` from `dir/val.h`.
fn write_val_module(dir: &Path, val: u32) {
    std::fs::write(dir.join("val.h"), format!("#define VAL {val}\n")).unwrap();
    let data = repo_root().join("crates/extmatrix-provision/tests/data/valmod.c");
    std::fs::copy(data, dir.join("valmod.c")).unwrap();
}

/// Mutation caught: the target key hashing the C file's bytes only (the
/// edited header was never compiled: the old module was tested, and
/// passed).
#[test]
fn an_edited_header_is_tested_on_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    write_val_module(dir.path(), 1);
    let m = write_matrix(
        dir.path(),
        "pythons: [cp312]\nscenarios: [import]\ntargets:\n  - name: val\n    c: valmod.c\n    smoke: \"assert m.value() == 1, 'value is ' + str(m.value())\"\n",
    );
    let run = run_matrix_with_cache(&m, &[], Some(&cache));
    assert_eq!(
        cell(&run.report, "val", "cp312", "import")["outcome"],
        "pass"
    );

    // Only the header changes.
    std::fs::write(dir.path().join("val.h"), "#define VAL 2\n").unwrap();
    let run = run_matrix_with_cache(&m, &[], Some(&cache));
    let c = cell(&run.report, "val", "cp312", "import");
    assert_eq!(c["outcome"], "import-error", "{c}");
    assert_eq!(c["details"]["errors"][0]["message"], "value is 2", "{c}");
    assert_eq!(run.status, 1);

    // Back to 1: built again, passes again; one target entry throughout.
    std::fs::write(dir.path().join("val.h"), "#define VAL 1\n").unwrap();
    let run = run_matrix_with_cache(&m, &[], Some(&cache));
    assert_eq!(
        cell(&run.report, "val", "cp312", "import")["outcome"],
        "pass"
    );
    let listed = entries(&cache);
    assert_eq!(
        listed.iter().filter(|e| e.0 == "targets").count(),
        1,
        "{listed:?}"
    );
}

/// Mutation caught: a cache entry trusted on its meta.json alone (a deleted
/// module was an import-error, an emptied harness a harness-error).
#[test]
fn a_damaged_cache_entry_is_rebuilt_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let m = write_matrix(
        dir.path(),
        "pythons: [cp312]\nscenarios: [import]\ntargets:\n  - name: ok\n    c: {fixtures}/isolated_ok.c\n",
    );
    let pass = |what: &str| {
        let run = run_matrix_with_cache(&m, &[], Some(&cache));
        let c = cell(&run.report, "ok", "cp312", "import");
        assert_eq!(c["outcome"], "pass", "{what}: {c}");
    };
    pass("first run");
    let listed = entries(&cache);
    let target = only(&listed, "targets");
    let harness = only(&listed, "harness").join("extmatrix-harness");
    let module: PathBuf = std::fs::read_dir(&target)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "so"))
        .expect("the module");

    std::fs::remove_file(&module).unwrap();
    pass("module deleted");
    assert!(module.is_file(), "built again");

    let size = std::fs::metadata(&harness).unwrap().len();
    std::fs::write(&harness, "").unwrap();
    pass("harness emptied");
    assert_eq!(
        std::fs::metadata(&harness).unwrap().len(),
        size,
        "built again"
    );
}

/// Mutation caught: work directories under `<cache>/tmp` never collected
/// (or collected while their build runs).
#[test]
fn a_run_collects_stale_work_directories_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let tmp = cache.join("tmp");
    let old = tmp.join("targets.killed-cp312-0123.AbCdEf");
    let young = tmp.join("targets.young-cp312-0123.AbCdEf");
    let locked = tmp.join("harness.cp312-0123.AbCdEf");
    for d in [&old, &young, &locked] {
        std::fs::create_dir_all(d.join("entry")).unwrap();
        std::fs::write(d.join("entry/module.o"), "o").unwrap();
    }
    let two_days_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(2 * 86400);
    for d in [&old, &locked] {
        std::fs::File::open(d)
            .unwrap()
            .set_modified(two_days_ago)
            .unwrap();
    }
    // A build of `harness/cp312-0123` in progress (its lock held).
    std::fs::create_dir_all(cache.join("harness")).unwrap();
    let lock = std::fs::File::create(cache.join("harness/cp312-0123.lock")).unwrap();
    // SAFETY: flock on a file this test owns.
    assert_eq!(
        unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) },
        0
    );

    let m = write_matrix(
        dir.path(),
        "pythons: [cp312]\nscenarios: [import]\ntargets:\n  - name: ok\n    c: {fixtures}/isolated_ok.c\n",
    );
    let run = run_matrix_with_cache(&m, &[], Some(&cache));
    assert_eq!(
        cell(&run.report, "ok", "cp312", "import")["outcome"],
        "pass"
    );
    assert!(!old.exists(), "older than a day, not locked: collected");
    assert!(young.is_dir(), "younger than a day: kept");
    assert!(locked.is_dir(), "its build holds the lock: kept");
    drop(lock);
}
