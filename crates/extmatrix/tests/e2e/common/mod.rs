//! Helpers for the end-to-end tests: run the real `extmatrix` binary on real
//! matrix files, with a build cache shared by all tests of one `target/` dir.

#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The pyenv interpreters every machine of this project has.
pub const PYTHONS: [&str; 3] = ["cp311", "cp312", "cp313"];

/// The scenarios every build with a GIL runs (all but free-threading).
pub const SCENARIOS: [&str; 6] = [
    "import",
    "reinit",
    "reimport",
    "subinterp-legacy",
    "subinterp-shared",
    "subinterp-own",
];

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

pub fn fixture(name: &str) -> PathBuf {
    repo_root().join("harness-c/fixtures").join(name)
}

/// One cache for every test: harness and target builds are reused, and
/// concurrent tests exercise the cache's rename-into-place.
pub fn cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("extmatrix-cache")
}

/// Run `extmatrix ARGS` with the tests' shared cache.
pub fn extmatrix(args: &[&str]) -> Output {
    extmatrix_in(args, Some(&cache_dir()))
}

/// Run `extmatrix ARGS` with `cache` as its cache, or the user's default
/// cache (where `.ci/run` provisions the interpreters built from source).
pub fn extmatrix_in(args: &[&str], cache: Option<&Path>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_extmatrix"));
    cmd.args(args).env("NO_COLOR", "1");
    match cache {
        Some(dir) => cmd.env("EXTMATRIX_CACHE_DIR", dir),
        None => cmd.env_remove("EXTMATRIX_CACHE_DIR"),
    };
    cmd.output().expect("extmatrix runs")
}

/// stdout of `extmatrix ARGS` with the default cache.
pub fn extmatrix_with_default_cache(args: &[&str]) -> String {
    String::from_utf8_lossy(&extmatrix_in(args, None).stdout).into_owned()
}

pub struct Run {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
    pub report: Value,
}

/// `extmatrix run MATRIX --json <tmp> EXTRA...` and its parsed report.
pub fn run_matrix(matrix: &Path, extra: &[&str]) -> Run {
    run_matrix_with_cache(matrix, extra, Some(&cache_dir()))
}

pub fn run_matrix_with_cache(matrix: &Path, extra: &[&str], cache: Option<&Path>) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    let mut args = vec![
        "run",
        matrix.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let out = extmatrix_in(&args, cache);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let text = std::fs::read_to_string(&json)
        .unwrap_or_else(|e| panic!("no JSON report ({e}); stdout:\n{stdout}\nstderr:\n{stderr}"));
    Run {
        status: out.status.code().unwrap_or(-1),
        stdout,
        stderr,
        report: serde_json::from_str(&text).unwrap(),
    }
}

/// The cell (target, python, scenario) of a report.
pub fn cell<'a>(report: &'a Value, target: &str, python: &str, scenario: &str) -> &'a Value {
    report["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["target"] == target && c["python"] == python && c["scenario"] == scenario)
        .unwrap_or_else(|| panic!("no cell {target} × {python} × {scenario}"))
}

/// The cell (target, module, python, scenario) of a report: a target that
/// builds several modules has a cell per module.
pub fn module_cell<'a>(
    report: &'a Value,
    target: &str,
    module: &str,
    python: &str,
    scenario: &str,
) -> &'a Value {
    cells(report)
        .iter()
        .find(|c| {
            c["target"] == target
                && c["module"] == module
                && c["python"] == python
                && c["scenario"] == scenario
        })
        .unwrap_or_else(|| {
            panic!(
                "no cell {target}/{module} × {python} × {scenario} in\n{}",
                outcome_lines(report)
            )
        })
}

/// A project of the repository's `fixtures/projects/`.
pub fn fixture_project(name: &str) -> PathBuf {
    repo_root().join("fixtures/projects").join(name)
}

/// A matrix file in a fresh directory; `{fixtures}` in `yaml` is replaced by
/// the fixtures directory.
pub fn write_matrix(dir: &Path, yaml: &str) -> PathBuf {
    let path = dir.join("matrix.yaml");
    let fixtures = repo_root().join("harness-c/fixtures");
    std::fs::write(
        &path,
        yaml.replace("{fixtures}", fixtures.to_str().unwrap()),
    )
    .unwrap();
    path
}

/// A matrix file (see [`write_matrix`]) in a fresh temporary directory,
/// which lives as long as the returned guard.
pub fn temp_matrix(yaml: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = write_matrix(dir.path(), yaml);
    (dir, path)
}

/// Every cell of a report.
pub fn cells(report: &Value) -> &Vec<Value> {
    report["cells"].as_array().expect("cells is a list")
}

/// `target × python × scenario: outcome` for every cell, for messages.
pub fn outcome_lines(report: &Value) -> String {
    cells(report)
        .iter()
        .map(|c| {
            format!(
                "{} × {} × {}: {} ({})",
                c["target"].as_str().unwrap_or("?"),
                c["python"].as_str().unwrap_or("?"),
                c["scenario"].as_str().unwrap_or("?"),
                c["outcome"].as_str().unwrap_or("?"),
                c["details"]["summary"].as_str().unwrap_or("")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `dir/broken.c`: a C file whose line 2 does not compile.
pub fn write_broken_c_file(dir: &Path) {
    std::fs::write(
        dir.join("broken.c"),
        "#include <Python.h>\nthis is not C;\n",
    )
    .unwrap();
}

/// The pids of live processes whose command line (its arguments, joined
/// by NUL bytes as in `/proc/PID/cmdline`) satisfies `matches`.
pub fn processes_where(matches: impl Fn(&[&[u8]]) -> bool) -> Vec<i32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<&[u8]> = cmdline
            .split(|&b| b == 0)
            .filter(|a| !a.is_empty())
            .collect();
        if matches(&args) {
            found.push(pid);
        }
    }
    found
}

/// Whether any argument contains `needle`.
pub fn mentions(args: &[&[u8]], needle: &str) -> bool {
    args.iter()
        .any(|a| String::from_utf8_lossy(a).contains(needle))
}
