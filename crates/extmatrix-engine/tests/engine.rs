//! The engine as a library, on the real interpreters of this machine: the
//! events it sends, what it builds, and the harness's protocol against the
//! Rust side's vocabulary.

use extmatrix_core::{Outcome, Scenario};
use extmatrix_engine::{BuildItem, Event, Observer};
use extmatrix_plan::Filters;
use extmatrix_provision::Store;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

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
            Event::Interpreter { id, .. } => format!("interpreter {id}"),
            Event::ProvisionStarted { builds } => format!("provision {builds}"),
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
    let report = extmatrix_engine::run(&plan, "m.yaml", &store(), 2, &recorder);
    let events = recorder.0.into_inner().unwrap();
    assert_eq!(events[0], "provision 2", "{events:#?}");
    let mut builds = events[1..3].to_vec();
    builds.sort();
    assert_eq!(builds, ["built harness cp312 true", "built ok cp312 true"]);
    assert_eq!(events[3], "execute 2");
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
    // The whole vocabulary in one run: steps of every scenario, errors in
    // every phase, shared objects, declarations, n/a, a crash and a hang.
    let dir = tempfile::tempdir().unwrap();
    let m = matrix(
        dir.path(),
        "pythons: [cp311, cp313]\noptions: { cycles: 2, timeout_s: 3 }\ntargets:\n\
         \x20 - name: legacy_single\n    c: {fixtures}/legacy_single.c\n    smoke: \"assert m.bump() >= 1\"\n\
         \x20 - name: static_type_liar\n    c: {fixtures}/static_type_liar.c\n\
         \x20 - name: crash_on_reinit\n    c: {fixtures}/crash_on_reinit.c\n\
         \x20 - name: exec_fails_on_reimport\n    c: {fixtures}/exec_fails_on_reimport.c\n\
         \x20 - name: hang_in_subinterp\n    c: {fixtures}/hang_in_subinterp.c\n",
    );
    let plan = extmatrix_engine::prepare(
        &m,
        &Filters::default(),
        &store(),
        2,
        &extmatrix_engine::Silent,
    )
    .unwrap();
    let report = extmatrix_engine::run(&plan, "m.yaml", &store(), 2, &extmatrix_engine::Silent);
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
    ] {
        assert!(seen.contains(&o), "no {o} cell: {seen:?}");
    }
}
