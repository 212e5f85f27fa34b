//! `run --shard I/N`, `plan --shards N` and `merge`: a run split the way a
//! CI engine's job matrix runs it, joined again.

use crate::common::*;
use serde_json::Value;
use std::path::Path;

/// What must be equal between a merged run and an unsharded one: every
/// cell's key, outcome, reason and expectation check (not its duration, nor
/// figures measured in the run).
fn verdicts(report: &Value) -> Vec<String> {
    cells(report)
        .iter()
        .map(|c| {
            format!(
                "{} {} {} {}: {} {} {}",
                c["target"],
                c["module"],
                c["python"],
                c["scenario"],
                c["outcome"],
                c["details"]["reason"],
                c["expectation"]["status"]
            )
        })
        .collect()
}

/// Each finding: its outcome and the cells where it shows.
fn findings(report: &Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .map(|fs| {
            fs.iter()
                .map(|f| format!("{} {} {}", f["id"], f["outcome"], f["cells"]))
                .collect()
        })
        .unwrap_or_default()
}

fn read(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `extmatrix merge FILES… EXTRA`: (status, stdout, stderr).
fn merge(files: &[&Path], extra: &[&str]) -> (i32, String, String) {
    let mut args = vec!["merge"];
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    args.extend_from_slice(extra);
    let out = extmatrix(&args);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Run the shards `I/count` of `matrix` one after another (standing in for
/// CI jobs), each with its JSON report in `dir`.
fn run_shards(matrix: &Path, count: u32, extra: &[&str], dir: &Path) -> Vec<std::path::PathBuf> {
    (1..=count)
        .map(|i| {
            let json = dir.join(format!("shard-{i}.json"));
            let shard = format!("{i}/{count}");
            let mut args = vec![
                "run",
                matrix.to_str().unwrap(),
                "--shard",
                &shard,
                "--json",
                json.to_str().unwrap(),
            ];
            args.extend_from_slice(extra);
            let out = extmatrix(&args);
            assert!(
                matches!(out.status.code(), Some(0 | 1)),
                "shard {shard}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            json
        })
        .collect()
}

#[test]
fn three_shards_merged_equal_the_unsharded_run_cell_for_cell() {
    let matrix = repo_root().join("matrices/default.yaml");
    let dir = tempfile::tempdir().unwrap();
    let options = ["--timeout", "3"];
    let whole = run_matrix(&matrix, &options);
    let shards = run_shards(&matrix, 3, &options, dir.path());

    // What `plan` said each shard would run is what it ran.
    let out = extmatrix(&[
        "plan",
        matrix.to_str().unwrap(),
        "--shards",
        "3",
        "--github-matrix",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let planned: Value = serde_json::from_slice(&out.stdout).unwrap();
    let include = planned["include"].as_array().unwrap();
    assert_eq!(include.len(), 3);
    for (entry, file) in include.iter().zip(&shards) {
        let shard = read(file);
        assert_eq!(entry["shard"], format!("{}/3", shard["shard"]["index"]));
        assert_eq!(entry["cells"], cells(&shard).len(), "{entry}");
        assert!(!cells(&shard).is_empty(), "every shard has work: {entry}");
        let used: Vec<&str> = shard["pythons"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap())
            .collect();
        assert_eq!(entry["pythons"], used.join(" "), "{entry}");
    }

    let all = dir.path().join("all.json");
    let junit = dir.path().join("junit.xml");
    let files: Vec<&Path> = [2, 0, 1].iter().map(|&i| shards[i].as_path()).collect();
    let (status, stdout, stderr) = merge(
        &files,
        &[
            "-o",
            all.to_str().unwrap(),
            "--junit",
            junit.to_str().unwrap(),
        ],
    );
    let merged = read(&all);
    assert_eq!(verdicts(&merged), verdicts(&whole.report), "{stdout}");
    assert_eq!(findings(&merged), findings(&whole.report));
    assert_eq!(merged["summary"], whole.report["summary"]);
    assert_eq!(merged["pythons"], whole.report["pythons"]);
    assert_eq!(status, whole.status, "{stderr}");
    assert_eq!(merged["status"], whole.report["status"]);
    assert_eq!(merged["merged_from"].as_array().unwrap().len(), 3);
    assert!(stdout.contains("merged 3 shards: 162 cells"), "{stdout}");
    // The outputs of `run` come from a merge too.
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(xml.matches("<testcase ").count(), 162);
}

/// A small run in two shards: one fixture, two interpreters.
fn two_small_shards(dir: &Path, extra: &[&str]) -> Vec<std::path::PathBuf> {
    let (_keep, matrix) = small_matrix();
    let shards = run_shards(&matrix, 2, extra, dir);
    drop(_keep);
    shards
}

fn small_matrix() -> (tempfile::TempDir, std::path::PathBuf) {
    temp_matrix(&format!(
        "pythons: [cp312, cp313]\nscenarios: [import]\ntargets:\n  \
         - {{name: isolated_ok, c: {}, smoke: \"assert m.bump() >= 1\"}}\n",
        fixture("isolated_ok.c").display()
    ))
}

#[test]
fn merge_refuses_what_is_not_all_the_shards_of_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let shards = two_small_shards(dir.path(), &[]);
    let out = dir.path().join("merged.json");
    let refuse = |files: &[&Path], why: &str| {
        let (status, stdout, stderr) = merge(files, &["-o", out.to_str().unwrap()]);
        assert_eq!(status, 2, "{why}: {stdout}{stderr}");
        assert!(stderr.contains(why), "{why}: {stderr}");
        assert!(!out.exists(), "{why}: nothing is written");
    };
    refuse(&[&shards[0]], "shard 2 of 2 missing");
    refuse(&[&shards[0], &shards[1], &shards[0]], "is given twice");

    // A shard of a run with another timeout is of another run.
    let other = tempfile::tempdir().unwrap();
    let others = two_small_shards(other.path(), &["--timeout", "7"]);
    refuse(&[&shards[0], &others[1]], "shards of different runs");

    // An unsharded report is no shard.
    let (_keep, matrix) = small_matrix();
    let whole = run_matrix(&matrix, &[]);
    let whole_json = dir.path().join("whole.json");
    std::fs::write(&whole_json, whole.report.to_string()).unwrap();
    refuse(&[&shards[0], &whole_json], "is not a shard's report");

    // And a file that is no report at all.
    let junk = dir.path().join("junk.json");
    std::fs::write(&junk, "[1, 2").unwrap();
    refuse(&[&shards[0], &junk], "is not JSON");

    let (status, _, stderr) = merge(&[&shards[1], &shards[0]], &["-o", out.to_str().unwrap()]);
    assert_eq!(status, 0, "{stderr}");
    assert_eq!(cells(&read(&out)).len(), 2);
}

#[test]
fn a_shard_names_its_run_and_builds_only_what_it_runs() {
    let dir = tempfile::tempdir().unwrap();
    let shards = two_small_shards(dir.path(), &[]);
    let (_keep, matrix) = small_matrix();
    let out = extmatrix(&["run", matrix.to_str().unwrap(), "--shard", "2/2"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("shard 2/2 of ")
            && stderr.contains(": 1 of 2 builds, 1 of 2 cells, on cp3"),
        "{stderr}"
    );
    let reports: Vec<Value> = shards.iter().map(|s| read(s)).collect();
    for (i, report) in reports.iter().enumerate() {
        let shard = &report["shard"];
        assert_eq!(shard["index"], i + 1);
        assert_eq!(shard["count"], 2);
        assert_eq!(shard["targets"], serde_json::json!(["isolated_ok"]));
        assert_eq!(shard["pythons"], serde_json::json!(["cp312", "cp313"]));
        assert!(shard["binary"].as_str().unwrap().starts_with("extmatrix "));
        // One build each (the fixture on one interpreter), one cell each.
        assert_eq!(report["pythons"].as_array().unwrap().len(), 1, "{report}");
        assert_eq!(cells(report).len(), 1);
    }
    assert_eq!(reports[0]["shard"]["run"], reports[1]["shard"]["run"]);
    assert_ne!(
        reports[0]["pythons"][0]["id"],
        reports[1]["pythons"][0]["id"]
    );
}

#[test]
fn plan_describes_the_run_and_its_shards() {
    let (_keep, matrix) = small_matrix();
    let out = extmatrix(&["plan", matrix.to_str().unwrap(), "--shards", "3"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("1 targets × 2 interpreters × 1 scenarios = 2 cells"),
        "{text}"
    );
    // Two builds in three shards: one shard has nothing to do, and says so.
    assert_eq!(text.matches("interpreters none").count(), 1, "{text}");
    assert_eq!(text.matches(": 1 builds, 1 cells").count(), 2, "{text}");

    let out = extmatrix(&["plan", matrix.to_str().unwrap(), "--github-matrix"]);
    assert_eq!(out.status.code(), Some(2), "--github-matrix needs --shards");
    let out = extmatrix(&["run", matrix.to_str().unwrap(), "--shard", "3/2"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 ≤ I ≤ N"));
}

#[test]
fn an_empty_shard_runs_nothing_and_merges() {
    let (_keep, matrix) = small_matrix();
    let dir = tempfile::tempdir().unwrap();
    // Two builds over three shards: one is empty.
    let shards = run_shards(&matrix, 3, &[], dir.path());
    let empty: Vec<Value> = shards
        .iter()
        .map(|s| read(s))
        .filter(|r| cells(r).is_empty())
        .collect();
    assert_eq!(empty.len(), 1);
    assert_eq!(empty[0]["status"]["exit_code"], 0);
    let out = dir.path().join("merged.json");
    let files: Vec<&Path> = shards.iter().map(|s| s.as_path()).collect();
    let (status, _, stderr) = merge(&files, &["-o", out.to_str().unwrap()]);
    assert_eq!(status, 0, "{stderr}");
    assert_eq!(cells(&read(&out)).len(), 2);
}
