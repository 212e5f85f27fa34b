//! The engine as a library, on the real interpreters of this machine: the
//! events it sends, what it builds, and the harness's protocol against the
//! Rust side's vocabulary.

use extmatrix_core::{Outcome, Requirement, Scenario};
use extmatrix_engine::{BuildItem, Event, InterpreterProgress, Observer};
use extmatrix_plan::Filters;
use extmatrix_provision::Store;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// Shared by the tests of this file: harness and target builds are reused.
fn store() -> Store {
    Store::new(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("engine-cache"))
}

/// Every event, as a line of text.
#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

impl Observer for Recorder {
    fn on(&self, event: Event<'_>) {
        let line = match event {
            Event::Interpreter { id, progress } => format!(
                "interpreter {id} {}",
                match progress {
                    InterpreterProgress::Queued => "queued".to_owned(),
                    InterpreterProgress::Phase(p) => format!("phase {}", p.name()),
                    InterpreterProgress::Line(l) => format!("line {l}"),
                    InterpreterProgress::Waiting => "waiting".to_owned(),
                    InterpreterProgress::Finished { fresh: true } => "built".to_owned(),
                    InterpreterProgress::Finished { fresh: false } => "cached".to_owned(),
                    InterpreterProgress::Failed => "failed".to_owned(),
                }
            ),
            Event::ProvisionStarted { builds } => format!("provision {builds}"),
            Event::BuildStarted { item } => match item {
                BuildItem::Harness { python } => format!("building harness {python}"),
                BuildItem::Target { target, python } => format!("building {target} {python}"),
            },
            Event::BuildFinished { item, ok } => match item {
                BuildItem::Harness { python } => format!("built harness {python} {ok}"),
                BuildItem::Target { target, python } => format!("built {target} {python} {ok}"),
            },
            Event::ExecuteStarted { cells } => format!("execute {cells}"),
            Event::CellStarted { key } => {
                format!("start {} {} {}", key.target, key.python, key.scenario)
            }
            Event::CellFinished { key, outcome, .. } => {
                format!(
                    "finish {} {} {} {outcome}",
                    key.target, key.python, key.scenario
                )
            }
            Event::BaselinesStarted { runs } => format!("baselines {runs}"),
            Event::BaselineFinished {
                python,
                scenario,
                ok,
            } => format!("baseline {python} {scenario} {ok}"),
            Event::AloneRunsStarted { runs } => format!("alone runs {runs}"),
            Event::AloneRunFinished { key } => {
                format!("alone {} {} {}", key.target, key.python, key.scenario)
            }
            Event::RunFinished { report } => format!("finished {}", report.cells.len()),
        };
        self.0.lock().unwrap().push(line);
    }
}

fn matrix(dir: &Path, yaml: &str) -> extmatrix_spec::Matrix {
    let path = dir.join("m.yaml");
    let fixtures = repo_root().join("harness-c/fixtures");
    std::fs::write(
        &path,
        yaml.replace("{fixtures}", fixtures.to_str().unwrap()),
    )
    .unwrap();
    extmatrix_spec::load(&path).unwrap()
}

#[test]
fn events_tell_the_run_in_order_and_only_needed_builds_happen() {
    let dir = tempfile::tempdir().unwrap();
    // On cp311 every cell is n/a (isolated subinterpreters need 3.12): no
    // harness and no target is built for it.
    let m = matrix(
        dir.path(),
        "pythons: [cp311, cp312]\nscenarios: [subinterp-own]\ntargets:\n  - name: ok\n    c: {fixtures}/isolated_ok.c\n",
    );
    let recorder = Recorder::default();
    let plan = extmatrix_engine::prepare(&m, &Filters::default(), &store(), 2, &recorder).unwrap();
    let report = extmatrix_engine::run(
        &plan,
        "m.yaml",
        &store(),
        2,
        &recorder,
        Instant::now(),
        &Default::default(),
        None,
    );
    let events = recorder.0.into_inner().unwrap();
    assert_eq!(events[0], "provision 2", "{events:#?}");
    let mut builds = events[1..5].to_vec();
    builds.sort();
    assert_eq!(
        builds,
        [
            "building harness cp312",
            "building ok cp312",
            "built harness cp312 true",
            "built ok cp312 true"
        ]
    );
    for what in ["harness cp312", "ok cp312"] {
        let started = events.iter().position(|e| *e == format!("building {what}"));
        let done = events
            .iter()
            .position(|e| e.starts_with(&format!("built {what}")));
        assert!(started < done, "{events:#?}");
    }
    assert_eq!(events[5], "execute 2");
    assert_eq!(events.last().unwrap(), "finished 2");
    for python in ["cp311", "cp312"] {
        let start = events
            .iter()
            .position(|e| *e == format!("start ok {python} subinterp-own"));
        let finish = events
            .iter()
            .position(|e| e.starts_with(&format!("finish ok {python} subinterp-own")));
        assert!(start.unwrap() < finish.unwrap(), "{events:#?}");
    }
    assert!(events.contains(&"finish ok cp311 subinterp-own n/a".to_owned()));
    assert!(events.contains(&"finish ok cp312 subinterp-own pass".to_owned()));
    assert_eq!(report.cells.len(), 2);
    assert_eq!(report.cells[0].key.module, "isolated_ok");
}

#[test]
fn the_harness_lists_exactly_the_scenarios_rust_knows() {
    let discovery = extmatrix_pythons::discover(&extmatrix_pythons::SearchPlaces::from_env());
    for id in ["cp311", "cp312", "cp313"] {
        let py = discovery
            .get(id)
            .unwrap_or_else(|| panic!("{id} not found: {}", discovery.ids()));
        let harness = extmatrix_provision::harness(&store(), py).unwrap();
        let out = std::process::Command::new(&harness)
            .arg("--list")
            .output()
            .unwrap();
        assert!(out.status.success(), "{id}");
        let listed: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
        let known: Vec<String> = Scenario::ALL.iter().map(|s| s.id().to_owned()).collect();
        assert_eq!(listed, known, "{id}");
    }
}

#[test]
fn every_event_of_every_scenario_is_in_the_protocol() {
    // The whole vocabulary in one run: steps of every scenario (the
    // free-threaded one on cp313t, which `just setup` builds into the
    // user's cache), errors in every phase, shared objects, declarations,
    // GIL readings and warnings, a crash and a hang (with their forensics).
    let dir = tempfile::tempdir().unwrap();
    let m = matrix(
        dir.path(),
        "pythons: [cp311, cp313, cp313t]\noptions: { cycles: 2, timeout_s: 3 }\ntargets:\n\
         \x20 - name: legacy_single\n    c: {fixtures}/legacy_single.c\n    smoke: \"assert m.bump() >= 1\"\n\
         \x20 - name: static_type_liar\n    c: {fixtures}/static_type_liar.c\n\
         \x20 - name: crash_on_reinit\n    c: {fixtures}/crash_on_reinit.c\n\
         \x20 - name: exec_fails_on_reimport\n    c: {fixtures}/exec_fails_on_reimport.c\n\
         \x20 - name: hang_in_subinterp\n    c: {fixtures}/hang_in_subinterp.c\n\
         \x20 - name: raises\n    c: {fixtures}/isolated_ok.c\n    smoke: \"raise ValueError('always')\"\n",
    );
    let users = Store::from_env(None).unwrap();
    let plan = extmatrix_engine::prepare(
        &m,
        &Filters::default(),
        &users,
        2,
        &extmatrix_engine::Silent,
    )
    .unwrap();
    let report = extmatrix_engine::run(
        &plan,
        "m.yaml",
        &users,
        2,
        &extmatrix_engine::Silent,
        Instant::now(),
        &Default::default(),
        None,
    );
    let mut seen = std::collections::BTreeSet::new();
    for c in &report.cells {
        let bad: Vec<&String> = c
            .details
            .notes
            .iter()
            .filter(|n| n.starts_with("not an event"))
            .collect();
        assert!(bad.is_empty(), "{:?}: {bad:?}", c.key);
        seen.insert(c.outcome);
    }
    for o in [
        Outcome::Pass,
        Outcome::NotApplicable,
        Outcome::SharedState,
        Outcome::ImportError,
        Outcome::Crash,
        Outcome::Hang,
        Outcome::Refused,
        Outcome::StateClobbered,
        Outcome::DeclarationMismatch,
        Outcome::GilEnabled,
    ] {
        assert!(seen.contains(&o), "no {o} cell: {seen:?}");
    }
}

/// The harness's own `unsupported` events, which the engine's gate never
/// lets a run reach: run the compiled harness by hand.
#[test]
fn the_harness_says_what_a_build_lacks_in_the_protocols_words() {
    let discovery = extmatrix_pythons::discover(&extmatrix_pythons::SearchPlaces::from_env());
    for (id, scenario, needs) in [
        (
            "cp311",
            Scenario::SubinterpOwn,
            Requirement::IsolatedSubinterpreters,
        ),
        (
            "cp311",
            Scenario::SubinterpShared,
            Requirement::IsolatedSubinterpreters,
        ),
        (
            "cp311",
            Scenario::SubinterpParallel,
            Requirement::IsolatedSubinterpreters,
        ),
        (
            "cp312",
            Scenario::FreeThreading,
            Requirement::FreeThreadedBuild,
        ),
    ] {
        let py = discovery.get(id).unwrap();
        let harness = extmatrix_provision::harness(&store(), py).unwrap();
        let out = std::process::Command::new(&harness)
            .args([
                "--scenario",
                scenario.id(),
                "--module",
                "never_imported",
                "--module-dir",
                "/nonexistent",
            ])
            .arg("--python-exe")
            .arg(&py.path)
            .args(["--cycles", "1", "--threads", "1", "--obs-fd", "1"])
            .args(["--interpreters", "1", "--rounds", "1", "--waves", "1"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{id} {scenario}");
        let (events, errors) = extmatrix_protocol::parse(&String::from_utf8_lossy(&out.stdout));
        assert!(errors.is_empty(), "{errors:?}");
        assert!(
            events.contains(&extmatrix_protocol::Event::Unsupported { needs }),
            "{id} {scenario}: {events:?}"
        );
    }
}

/// Interpreter builds report through events: queued, each phase, output
/// lines, and how each ended; a failed build and a wrong entry together are
/// a failure, not a usage error.
#[test]
fn interpreter_builds_are_told_as_events() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("junk.tar.xz"), "not a tarball").unwrap();
    let m = matrix(
        dir.path(),
        "pythons:\n  - { id: cp313j, source: { tarball: junk.tar.xz } }\n  - { id: cp313m, source: { tarball: missing.tar.xz } }\ntargets:\n  - name: ok\n    c: {fixtures}/isolated_ok.c\n",
    );
    let builds = extmatrix_cpython_build::BuildCache::new(dir.path().join("cache").as_path());
    let recorder = Recorder::default();
    let specs: Vec<_> = m.builds().collect();
    let err = extmatrix_engine::build_interpreters(&m, &specs, &builds, 2, &recorder).unwrap_err();
    assert!(
        matches!(err, extmatrix_engine::EngineError::Failed(_)),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains("building cp313j failed") && text.contains("missing.tar.xz"),
        "{text}"
    );
    let events = recorder.0.into_inner().unwrap();
    for id in ["cp313j", "cp313m"] {
        assert!(
            events.contains(&format!("interpreter {id} queued")),
            "{events:#?}"
        );
        assert!(
            events.contains(&format!("interpreter {id} failed")),
            "{events:#?}"
        );
    }
    assert!(
        events.contains(&"interpreter cp313j phase extract".to_owned()),
        "{events:#?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e.starts_with("interpreter cp313j line ")),
        "{events:#?}"
    );

    // Only a wrong entry: a usage error.
    let only_missing: Vec<_> = specs.iter().copied().filter(|s| s.id == "cp313m").collect();
    let err = extmatrix_engine::build_interpreters(
        &m,
        &only_missing,
        &builds,
        2,
        &extmatrix_engine::Silent,
    )
    .unwrap_err();
    assert!(
        matches!(err, extmatrix_engine::EngineError::Usage(_)),
        "{err}"
    );
}

/// An interpreter `just setup` built is found in the cache, not built again.
#[test]
fn a_cached_interpreter_build_is_found_not_rebuilt() {
    let full = extmatrix_spec::load(&repo_root().join("matrices/full.yaml")).unwrap();
    let specs: Vec<_> = full.builds().filter(|b| b.id == "cp313t").collect();
    let builds = extmatrix_cpython_build::BuildCache::new(Store::from_env(None).unwrap().root());
    let recorder = Recorder::default();
    let built = extmatrix_engine::build_interpreters(&full, &specs, &builds, 1, &recorder).unwrap();
    assert_eq!(built.len(), 1);
    assert_eq!(built[0].meta.id, "cp313t");
    assert!(built[0].meta.python.free_threaded);
    let events = recorder.0.into_inner().unwrap();
    assert_eq!(
        events,
        ["interpreter cp313t queued", "interpreter cp313t cached"]
    );
}

/// A build another extmatrix holds the lock of is waited for, and said so.
#[test]
fn a_locked_interpreter_build_is_waited_for() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("junk.tar.xz"), "not a tarball").unwrap();
    let m = matrix(
        dir.path(),
        "pythons:\n  - { id: cp313w, source: { tarball: junk.tar.xz } }\ntargets:\n  - name: ok\n    c: {fixtures}/isolated_ok.c\n",
    );
    let cache = dir.path().join("cache");
    let builds = extmatrix_cpython_build::BuildCache::new(cache.as_path());
    let spec = m.builds().next().unwrap();
    let key = extmatrix_cpython_build::key_of(spec).unwrap();
    let lock_path = cache.join(format!("pythons/cp313w-{key}.lock"));
    std::fs::create_dir_all(lock_path.parent().unwrap()).unwrap();
    let lock = std::fs::File::create(&lock_path).unwrap();
    lock.lock().unwrap();
    let recorder = Recorder::default();
    std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(std::time::Duration::from_millis(500));
            lock.unlock().unwrap();
        });
        let _ = extmatrix_engine::build_interpreters(&m, &[spec], &builds, 1, &recorder);
    });
    let events = recorder.0.into_inner().unwrap();
    assert!(
        events.contains(&"interpreter cp313w waiting".to_owned()),
        "{events:#?}"
    );
}
