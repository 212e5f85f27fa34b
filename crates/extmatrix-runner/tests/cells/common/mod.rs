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
