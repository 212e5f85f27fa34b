//! The real harness for the runner's tests.

use std::path::PathBuf;

/// cp312 (or any interpreter with a GIL) and its harness, built in the
/// cache the extmatrix tests share (same target dir).
pub fn real_harness() -> (extmatrix_pythons::Python, PathBuf) {
    let discovery = extmatrix_pythons::discover(&extmatrix_pythons::SearchPlaces::from_env());
    let py = discovery
        .get("cp312")
        .or_else(|| discovery.pythons.iter().find(|p| !p.free_threaded))
        .unwrap_or_else(|| panic!("no interpreter to build the harness for: {discovery:?}"))
        .clone();
    let cache = extmatrix_provision::Store::new(
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("extmatrix-cache"),
    );
    let harness = extmatrix_provision::harness(&cache, &py)
        .unwrap_or_else(|f| panic!("the harness did not build: {}\n{}", f.summary, f.output));
    (py, harness)
}

/// A cell importing `module` from `module_dir` with `smoke`, on the real
/// harness: 30 s timeout, no deadlock verdict, `site` off.
pub fn command(
    scenario: extmatrix_core::Scenario,
    module: &str,
    module_dir: PathBuf,
    smoke: &str,
) -> extmatrix_runner::CellCommand {
    let (py, harness) = real_harness();
    extmatrix_runner::CellCommand {
        harness,
        scenario,
        module: module.into(),
        module_dir,
        smoke: Some(smoke.into()),
        python_exe: py.path.clone(),
        cycles: 3,
        stress: extmatrix_runner::Stress::default(),
        module_file: None,
        debug_allocator: false,
        subinterp: None,
        alone: false,
        site: false,
        timeout: std::time::Duration::from_secs(30),
        deadlock: None,
        memory_mb: Some(4096),
    }
}

/// A directory holding a pure-Python module `name` (no build needed).
pub fn module_dir(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    std::fs::write(dir.path().join(format!("{name}.py")), "VALUE = 42\n").unwrap();
    dir
}

/// The errors a cell reported, as `step: type: message`.
pub fn errors(obs: &extmatrix_runner::Observation) -> Vec<String> {
    obs.events
        .iter()
        .filter_map(|e| match e {
            extmatrix_protocol::Event::Error(f) => {
                Some(format!("{}: {}: {}", f.step, f.exc_type, f.message))
            }
            _ => None,
        })
        .collect()
}
