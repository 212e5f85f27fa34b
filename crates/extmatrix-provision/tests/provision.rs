//! Harness and target builds through the cache store, on a real interpreter
//! (cp312 as discovery finds it).

use extmatrix_provision::{
    build_target, builder_for, harness, harness_sources_digest, BuildFailure, BuildLimits, Store,
    TargetMeta,
};
use extmatrix_pythons::{Python, SearchPlaces};
use extmatrix_spec::{Location, TargetKind, TargetSpec};
use std::path::{Path, PathBuf};

fn cp312() -> Python {
    let d = extmatrix_pythons::discover(&SearchPlaces::from_env());
    d.pythons
        .into_iter()
        .find(|p| p.id == "cp312")
        .expect("cp312 is installed (pyenv 3.12 shared build)")
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../harness-c/fixtures")
        .join(name)
        .canonicalize()
        .unwrap()
}

fn c_target(source: &Path, module: &str) -> TargetSpec {
    TargetSpec {
        name: "t".into(),
        kind: TargetKind::CFile {
            source: source.to_owned(),
        },
        modules: vec![module.into()],
        exclude: vec![],
        smoke: None,
        site: false,
        expect: vec![],
        at: Location::default(),
    }
}

fn meta_json(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("meta.json")).unwrap()).unwrap()
}

#[test]
fn a_c_file_target_is_a_complete_cache_entry_reused_the_second_time() {
    let py = cp312();
    let cache = tempfile::tempdir().unwrap();
    let store = Store::new(cache.path());
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("isolated_ok.c");
    std::fs::copy(fixture("isolated_ok.c"), &source).unwrap();
    // A dotted name: built under pkg/, with an __init__.py.
    let target = c_target(&source, "pkg.isolated_ok");

    let built = build_target(&store, &target, &py, &BuildLimits::default()).unwrap();
    assert!(built.module_dir.starts_with(cache.path().join("targets")));
    assert_eq!(built.modules.len(), 1);
    let m = &built.modules[0];
    assert_eq!(m.name, "pkg.isolated_ok");
    assert_eq!(
        m.artifact,
        built
            .module_dir
            .join(format!("pkg/isolated_ok{}", py.build.ext_suffix))
    );
    assert!(m.artifact.is_file());
    assert!(built.module_dir.join("pkg/__init__.py").is_file());

    let json = meta_json(&built.module_dir);
    let meta: TargetMeta = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(meta.builder, "c-file");
    assert_eq!(meta.python, "cp312");
    let stamp = &json["cache_entry"];
    assert!(stamp["built_by"]
        .as_str()
        .unwrap()
        .starts_with("extmatrix-provision "));
    assert!(stamp["size_bytes"].as_u64().unwrap() > 0);
    let inputs = stamp["inputs"].as_array().unwrap();
    assert!(
        inputs
            .iter()
            .any(|i| i["type"] == "file" && i["path"] == source.to_str().unwrap()),
        "{inputs:?}"
    );
    assert!(
        inputs
            .iter()
            .any(|i| i["type"] == "program" && i["path"] == py.path.to_str().unwrap()),
        "{inputs:?}"
    );
    // The log stays in the cache.
    let name = built.module_dir.file_name().unwrap().to_str().unwrap();
    assert!(cache
        .path()
        .join(format!("targets/logs/{name}.log"))
        .is_file());

    // Found the second time: nothing is compiled again.
    let modified = std::fs::metadata(&m.artifact).unwrap().modified().unwrap();
    let again = builder_for(&target)
        .build(&store, &py, &BuildLimits::default())
        .unwrap();
    assert_eq!(again, built);
    assert_eq!(
        std::fs::metadata(&m.artifact).unwrap().modified().unwrap(),
        modified
    );

    // Another C file is another entry.
    std::fs::write(
        &source,
        std::fs::read_to_string(&source).unwrap() + "\n/* changed */\n",
    )
    .unwrap();
    let changed = build_target(&store, &target, &py, &BuildLimits::default()).unwrap();
    assert_ne!(changed.module_dir, built.module_dir);
    assert!(std::fs::read_dir(cache.path().join("tmp"))
        .unwrap()
        .next()
        .is_none());
}

#[test]
fn a_compile_error_is_a_build_failure_with_its_log_and_nothing_cached() {
    let py = cp312();
    let cache = tempfile::tempdir().unwrap();
    let store = Store::new(cache.path());
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("broken.c");
    std::fs::write(&source, "#include <Python.h>\nthis is not C;\n").unwrap();
    let failure: BuildFailure = build_target(
        &store,
        &c_target(&source, "broken"),
        &py,
        &BuildLimits::default(),
    )
    .unwrap_err();
    // The compiler's first error, its file shown from the C file's directory.
    assert!(
        failure
            .summary
            .starts_with("gcc failed while compiling, at broken.c:2: unknown type name"),
        "{failure:?}"
    );
    let cause = failure.cause.as_ref().unwrap();
    assert_eq!(cause.kind, extmatrix_core::CauseKind::CompilerError);
    assert_eq!(cause.location.as_deref(), Some("broken.c:2"));
    assert!(failure.output.contains("broken.c:2"), "{}", failure.output);
    assert!(failure.command.contains("broken.c"), "{}", failure.command);
    let log = std::fs::read_to_string(failure.log.as_ref().unwrap()).unwrap();
    assert!(log.contains("broken.c:2") && log.contains("$ "), "{log}");
    assert!(store.list().is_empty(), "a failed build leaves no entry");
}

/// Mutation caught: a failed build built again for a second target (or a
/// second run) in the same process.
#[test]
fn a_failed_build_is_not_built_again_in_the_same_process() {
    let py = cp312();
    let cache = tempfile::tempdir().unwrap();
    let store = Store::new(cache.path());
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("refuses.c");
    std::fs::write(
        &source,
        "#include <Python.h>\n#error \"this module requires Python 4\"\n",
    )
    .unwrap();
    let target = c_target(&source, "refuses");
    let first = build_target(&store, &target, &py, &BuildLimits::default()).unwrap_err();
    assert_eq!(
        first.summary,
        "gcc failed while compiling, at refuses.c:2: #error \"this module requires Python 4\""
    );
    assert_eq!(
        first.cause.as_ref().map(|c| c.kind),
        Some(extmatrix_core::CauseKind::ErrorDirective)
    );
    let log = first.log.clone().unwrap();
    std::fs::remove_file(&log).unwrap();
    // Another target of the same C file: the same entry, the same failure,
    // and no build (it would have written the log again).
    let again = TargetSpec {
        name: "another".into(),
        ..target.clone()
    };
    let second = build_target(&store, &again, &py, &BuildLimits::default()).unwrap_err();
    assert_eq!(second.summary, first.summary);
    assert!(!log.exists(), "built again");
    // Another cache is another build.
    let other = tempfile::tempdir().unwrap();
    let third = build_target(
        &Store::new(other.path()),
        &target,
        &py,
        &BuildLimits::default(),
    )
    .unwrap_err();
    assert!(third.log.unwrap().starts_with(other.path()));
    assert!(store.list().is_empty(), "a failed build leaves no entry");
}

#[test]
fn the_harness_is_built_once_and_records_its_sources() {
    let py = cp312();
    let cache = tempfile::tempdir().unwrap();
    let store = Store::new(cache.path());
    let binary = harness(&store, &py).unwrap();
    assert!(binary.is_file());
    assert!(binary.starts_with(cache.path().join("harness")));
    let json = meta_json(binary.parent().unwrap());
    assert_eq!(json["sources"], harness_sources_digest());
    assert_eq!(json["python"], "cp312");
    assert_eq!(harness(&store, &py).unwrap(), binary);
    assert_eq!(store.list().len(), 1);
}

/// A module `valmod` whose `value()` is `VAL` from `val.h` beside it.
pub fn write_val_module(dir: &Path, val: u32) -> PathBuf {
    std::fs::write(dir.join("val.h"), format!("#define VAL {val}\n")).unwrap();
    let source = dir.join("valmod.c");
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/valmod.c");
    std::fs::copy(data, &source).unwrap();
    source
}

/// Mutation caught: a key (or lookup) that sees only the C file's bytes
/// (an edited header kept the old module).
#[test]
fn an_edited_header_builds_the_module_again_and_every_header_is_an_input() {
    let py = cp312();
    let cache = tempfile::tempdir().unwrap();
    let store = Store::new(cache.path());
    let dir = tempfile::tempdir().unwrap();
    let source = write_val_module(dir.path(), 1);
    let target = c_target(&source, "valmod");
    let built = build_target(&store, &target, &py, &BuildLimits::default()).unwrap();
    let artifact = built.modules[0].artifact.clone();
    let first = std::fs::read(&artifact).unwrap();

    let json = meta_json(&built.module_dir);
    let stamp = &json["cache_entry"];
    let files: Vec<&str> = stamp["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["type"] == "file")
        .map(|i| i["path"].as_str().unwrap())
        .collect();
    let val_h = dir.path().join("val.h");
    assert!(files.contains(&val_h.to_str().unwrap()), "{files:?}");
    let python_h = py.build.include_dir.join("Python.h");
    assert!(files.contains(&python_h.to_str().unwrap()), "{files:?}");
    assert_eq!(
        stamp["artifacts"][0]["path"],
        format!("valmod{}", py.build.ext_suffix)
    );
    assert_eq!(stamp["artifacts"][0]["size_bytes"], first.len() as u64);

    // Unchanged: found.
    let modified = std::fs::metadata(&artifact).unwrap().modified().unwrap();
    assert_eq!(
        build_target(&store, &target, &py, &BuildLimits::default()).unwrap(),
        built
    );
    assert_eq!(
        std::fs::metadata(&artifact).unwrap().modified().unwrap(),
        modified
    );

    // The header changes, the C file does not: built again.
    std::fs::write(&val_h, "#define VAL 2\n").unwrap();
    let again = build_target(&store, &target, &py, &BuildLimits::default()).unwrap();
    assert_eq!(
        again.module_dir, built.module_dir,
        "same key, rebuilt in place"
    );
    assert_ne!(std::fs::read(&again.modules[0].artifact).unwrap(), first);
    assert!(std::fs::read_dir(cache.path().join("tmp"))
        .unwrap()
        .next()
        .is_none());
}

/// Mutation caught: the harness trusted without its artifact's check (an
/// emptied binary was run, and every cell was a harness-error).
#[test]
fn an_emptied_harness_binary_is_built_again() {
    let py = cp312();
    let cache = tempfile::tempdir().unwrap();
    let store = Store::new(cache.path());
    let binary = harness(&store, &py).unwrap();
    let size = std::fs::metadata(&binary).unwrap().len();
    std::fs::write(&binary, "").unwrap();
    assert_eq!(harness(&store, &py).unwrap(), binary);
    assert_eq!(std::fs::metadata(&binary).unwrap().len(), size);
}
