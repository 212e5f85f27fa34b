//! What a CI job reads: JUnit XML checked against the Jenkins JUnit XSD by
//! a real validator (xmllint), the Markdown summary and GitHub's
//! annotations on the default matrix, and the stdlib matrix's summary
//! (6720 cells) within GitHub's 1 MiB.

use crate::common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `just setup` fetches the schema (scripts/fetch-junit-xsd).
fn junit_xsd() -> PathBuf {
    let xsd = repo_root().join("cache/junit/junit-10.xsd");
    assert!(
        xsd.is_file(),
        "{} is missing: run `just setup` (scripts/fetch-junit-xsd cache/junit)",
        xsd.display()
    );
    xsd
}

/// `xmllint --schema junit-10.xsd`: Ok, or the validator's complaint.
fn validate_junit(xml: &Path) -> Result<(), String> {
    let out = Command::new("xmllint")
        .args(["--noout", "--schema"])
        .arg(junit_xsd())
        .arg(xml)
        .output()
        .expect("xmllint runs (libxml2-utils: scripts/install-deps)");
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

struct GithubRun {
    stdout: String,
    report: Value,
    junit: String,
    markdown: String,
    step_summary: String,
    dir: tempfile::TempDir,
}

/// `extmatrix run` as a GitHub Actions step: GITHUB_ACTIONS=true and a
/// step summary file that an earlier step already wrote `earlier` to.
fn run_on_github(matrix: &Path, extra: &[&str], cache: Option<&Path>, earlier: &str) -> GithubRun {
    let dir = tempfile::tempdir().unwrap();
    let at = |name: &str| dir.path().join(name);
    std::fs::write(at("summary.md"), earlier).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_extmatrix"));
    cmd.arg("run")
        .arg(matrix)
        .arg("--json")
        .arg(at("report.json"))
        .arg("--junit")
        .arg(at("junit.xml"))
        .arg("--markdown")
        .arg(at("summary-file.md"))
        .args(extra)
        .env("NO_COLOR", "1")
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", at("summary.md"));
    match cache {
        Some(c) => cmd.env("EXTMATRIX_CACHE_DIR", c),
        None => cmd.env_remove("EXTMATRIX_CACHE_DIR"),
    };
    let out = cmd.output().unwrap();
    let read = |name: &str| {
        std::fs::read_to_string(at(name)).unwrap_or_else(|e| {
            panic!(
                "{name}: {e}\nstderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
    };
    GithubRun {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        report: serde_json::from_str(&read("report.json")).unwrap(),
        junit: read("junit.xml"),
        markdown: read("summary-file.md"),
        step_summary: read("summary.md"),
        dir,
    }
}

fn attribute<'a>(xml: &'a str, element: &str, name: &str) -> &'a str {
    let start = xml.find(&format!("<{element} ")).unwrap();
    let rest = &xml[start..];
    let value = &rest[rest.find(&format!(" {name}=\"")).unwrap() + name.len() + 3..];
    &value[..value.find('"').unwrap()]
}

#[test]
fn the_default_matrix_on_github_gives_valid_junit_a_summary_and_an_annotation_per_finding() {
    let matrix = repo_root().join("matrices/default.yaml");
    let run = run_on_github(
        &matrix,
        &["--python", "cp312"],
        Some(&cache_dir()),
        "# built\n",
    );
    validate_junit(&run.dir.path().join("junit.xml")).unwrap();

    let cells = cells(&run.report);
    assert_eq!(run.junit.matches("<testcase ").count(), cells.len());
    let failing = cells
        .iter()
        .filter(|c| {
            [
                "declaration-mismatch",
                "import-error",
                "crash",
                "hang",
                "build-failed",
                "harness-error",
            ]
            .contains(&c["outcome"].as_str().unwrap())
                && c["details"]["reason"] != "also-without-target"
        })
        .count();
    assert!(failing > 0);
    assert_eq!(
        attribute(&run.junit, "testsuites", "failures"),
        failing.to_string()
    );
    let na = cells.iter().filter(|c| c["outcome"] == "n/a").count();
    assert_eq!(run.junit.matches("<skipped message=\"n/a: ").count(), na);
    assert!(run
        .junit
        .contains("classname=\"crash_on_reinit/crash_on_reinit\""));
    assert!(run.junit.contains("name=\"crash_on_reinit[cp312-reinit]\""));

    // Annotations: one per finding, never one per cell.
    let findings = run.report["findings"].as_array().unwrap();
    let errors = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("::error "))
        .count();
    let warnings = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("::warning "))
        .count();
    let fails = |f: &&Value| f["fails_run"] == true;
    assert_eq!(errors, findings.iter().filter(fails).count().min(10));
    assert_eq!(
        warnings,
        findings.iter().filter(|f| !fails(f)).count().min(10)
    );
    let notable = cells
        .iter()
        .filter(|c| !["pass", "n/a", "refused"].contains(&c["outcome"].as_str().unwrap()))
        .count();
    assert!(
        findings.len() < notable,
        "{} findings for {notable} cells",
        findings.len()
    );
    assert!(run
        .stdout
        .contains("::error title=extmatrix%3A crash in crash_on_reinit::"));

    // The summary: appended after what the earlier step wrote.
    assert_eq!(run.step_summary, format!("# built\n{}", run.markdown));
    assert!(
        run.markdown.starts_with("## extmatrix: `"),
        "{}",
        run.markdown
    );
    assert!(run.markdown.contains("❌ fails"));
    assert!(run.markdown.contains("### Findings ("));
    assert!(run
        .markdown
        .contains("<details><summary><b>crash_on_reinit</b>"));
}

#[test]
fn the_stdlib_matrix_summary_fits_githubs_limit_and_its_junit_is_valid() {
    let matrix = repo_root().join("matrices/stdlib.yaml");
    let earlier = "x".repeat(100 * 1024);
    // The HTML page too: another run of these 6720 cells would take minutes.
    let page = crate::html_report::html_out_dir().join("stdlib.html");
    let run = run_on_github(&matrix, &["--html", page.to_str().unwrap()], None, &earlier);
    assert_eq!(cells(&run.report).len(), 6720, "the stdlib matrix's cells");
    validate_junit(&run.dir.path().join("junit.xml")).unwrap();
    let limit = 1024 * 1024;
    assert!(run.markdown.len() <= limit, "{} bytes", run.markdown.len());
    assert!(
        run.step_summary.len() <= limit,
        "the step's summary, earlier steps' included: {} bytes",
        run.step_summary.len()
    );
    assert!(run.step_summary.starts_with(&earlier));
    assert!(run
        .markdown
        .contains("6720 cells on cp311, cp311d, cp312, cp313, cp313d, cp313t, cp313td"));
    eprintln!(
        "stdlib summary: {} bytes (step summary {}), JUnit {} bytes",
        run.markdown.len(),
        run.step_summary.len(),
        run.junit.len()
    );
    // Kept for scripts/bench-html, which renders it again.
    std::fs::copy(
        run.dir.path().join("report.json"),
        page.with_extension("json"),
    )
    .unwrap();
    crate::html_report::check_page_against_report(&page, &run.report);
}
