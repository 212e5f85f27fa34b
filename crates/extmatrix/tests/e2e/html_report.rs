//! The HTML compatibility report in a real browser: Debian's headless
//! chromium, driven by tests/browser/probe.mjs (playwright-core; `just
//! setup` installs both), reports what the page shows, and these tests
//! compare it with the JSON report of the same run. Every page load is
//! held to fetching nothing and logging no error. Pages and screenshots
//! are left in target/html-screenshots/ to look at.

mod generated;

use crate::common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";
/// A browser start and a 30 MB page with every check on it take ~20 s.
const PROBE_TIMEOUT: Duration = Duration::from_secs(240);

fn browser_tests() -> PathBuf {
    repo_root().join("tests/browser")
}

/// Where the pages and screenshots are left.
pub fn html_out_dir() -> PathBuf {
    let dir = repo_root().join("target/html-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Never a silent skip: what the probe needs is `just setup`'s to provide.
fn require_browser() {
    let modules = browser_tests().join("node_modules/playwright-core");
    for (what, there) in [
        (CHROMIUM.to_owned(), Path::new(CHROMIUM).is_file()),
        (modules.display().to_string(), modules.is_dir()),
    ] {
        assert!(
            there,
            "{what} is missing: run `just setup` (scripts/install-deps installs chromium, \
             scripts/setup-browser-tests the node modules)"
        );
    }
}

/// `node probe.mjs PAGE FLAGS…` (tests/browser/probe.mjs says the flags):
/// the facts it printed. Fails on any network request, console error or
/// uncaught exception of the page.
pub fn probe(page: &Path, flags: &[&str]) -> Value {
    require_browser();
    let mut child = Command::new("node")
        .arg(browser_tests().join("probe.mjs"))
        .arg(page)
        .args(flags)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node runs (Node.js 20+: run `just setup`)");
    let read = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            pipe.read_to_string(&mut text).unwrap();
            text
        })
    };
    let stdout = read(Box::new(child.stdout.take().unwrap()));
    let stderr = read(Box::new(child.stderr.take().unwrap()));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > PROBE_TIMEOUT {
            child.kill().unwrap();
            panic!(
                "probe.mjs {flags:?} on {} still running after {PROBE_TIMEOUT:?}",
                page.display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
    assert!(
        status.success(),
        "probe.mjs {flags:?} failed: {status}\n{stderr}"
    );
    let facts: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("probe.mjs printed no JSON ({e}):\n{stdout}\n{stderr}"));
    for fact in ["requests", "console_errors", "page_errors"] {
        assert_eq!(
            facts[fact],
            serde_json::json!([]),
            "{fact} of {} {flags:?}",
            page.display()
        );
    }
    facts
}

/// `R:C` of every cell of `reports[R]` for which `keep` holds.
fn cell_ids(reports: &[&Value], keep: impl Fn(&Value) -> bool) -> Vec<String> {
    let mut ids = Vec::new();
    for (r, report) in reports.iter().enumerate() {
        for (c, cell) in cells(report).iter().enumerate() {
            if keep(cell) {
                ids.push(format!("{r}:{c}"));
            }
        }
    }
    ids
}

fn strings(list: &Value) -> Vec<String> {
    let mut v: Vec<String> = list
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect();
    v.sort();
    v
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

/// The cell `R:C` of `reports`.
fn cell_at<'a>(reports: &[&'a Value], id: &str) -> &'a Value {
    let (r, c) = id
        .split_once(':')
        .unwrap_or_else(|| panic!("data-cell {id:?}"));
    &cells(reports[r.parse::<usize>().unwrap()])[c.parse::<usize>().unwrap()]
}

/// The grid's counts, total and cells are the reports' summaries summed.
fn assert_counts(facts: &Value, reports: &[&Value]) {
    let mut summary: BTreeMap<String, u64> = BTreeMap::new();
    for report in reports {
        for (outcome, n) in report["summary"].as_object().unwrap() {
            *summary.entry(outcome.clone()).or_default() += n.as_u64().unwrap();
        }
    }
    let shown: BTreeMap<String, u64> =
        serde_json::from_value(facts["counts"].clone()).expect("#counts li[data-outcome] .n");
    assert_eq!(shown, summary, "#counts against the JSON's summary");
    let cell_count: usize = reports.iter().map(|r| cells(r).len()).sum();
    assert_eq!(facts["total"], cell_count, "#total's data-total");
    assert_eq!(facts["cells"], cell_count, "td.cell in #grid");
    let bodies: Vec<String> = (0..reports.len()).map(|r| r.to_string()).collect();
    assert_eq!(
        strings(&facts["report_bodies"]),
        bodies,
        "tbody[data-report]"
    );
}

/// A title as text: the page may set `code` in <code>, so no backticks.
fn plain(text: &str) -> String {
    text.replace('`', "")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The findings list is the reports' findings, in order, with their titles.
fn assert_findings(facts: &Value, reports: &[&Value]) {
    let shown = facts["findings"].as_array().expect("li.finding");
    let mut expected = Vec::new();
    for (r, report) in reports.iter().enumerate() {
        for (f, finding) in report["findings"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            expected.push((format!("{r}:{f}"), finding["title"].as_str().unwrap()));
        }
    }
    let ids: Vec<&str> = shown.iter().map(|f| f["id"].as_str().unwrap()).collect();
    let want: Vec<&str> = expected.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, want, "li.finding data-finding, in order");
    for (finding, (id, title)) in shown.iter().zip(&expected) {
        let button = plain(finding["title"].as_str().unwrap_or_default());
        assert!(
            button.contains(&plain(title)),
            "finding {id}: button {button:?}, title {title:?}"
        );
    }
}

/// Loading `page#fragment` shows exactly the cells `keep` selects (at least one).
fn assert_fragment_shows(
    page: &Path,
    reports: &[&Value],
    fragment: &str,
    keep: impl Fn(&Value) -> bool,
) {
    let expected = sorted(cell_ids(reports, keep));
    assert!(
        !expected.is_empty(),
        "#{fragment} selects no cell of the JSON"
    );
    let facts = probe(page, &["--fragment", fragment, "--shown"]);
    assert_eq!(
        strings(&facts["shown"]),
        expected,
        "cells shown by #{fragment}"
    );
}

/// The checks every page passes, whatever it shows (the stdlib matrix's,
/// the 500-target one): counts, cells, findings, a filter, nothing fetched;
/// a screenshot beside the page.
pub fn check_page_against_report(page: &Path, report: &Value) {
    let screenshot = page.with_extension("png");
    let facts = probe(
        page,
        &[
            "--paint",
            "--counts",
            "--findings",
            "--screenshot",
            screenshot.to_str().unwrap(),
        ],
    );
    assert_counts(&facts, &[report]);
    assert_findings(&facts, &[report]);
    // A filter on the outcome and interpreter of the first failing cell.
    let first = cells(report)
        .iter()
        .find(|c| c["outcome"] != "pass" && c["outcome"] != "n/a");
    let first = first.expect("a cell that neither passes nor is n/a");
    let (outcome, python) = (&first["outcome"], &first["python"]);
    let fragment = format!(
        "outcome={}&python={}",
        outcome.as_str().unwrap(),
        python.as_str().unwrap()
    );
    assert_fragment_shows(page, &[report], &fragment, |c| {
        c["outcome"] == *outcome && c["python"] == *python
    });
    eprintln!(
        "{}: {} bytes ({} KiB), {} cells; first contentful paint {} ms, DOMContentLoaded {} ms",
        page.display(),
        std::fs::metadata(page).unwrap().len(),
        std::fs::metadata(page).unwrap().len() / 1024,
        cells(report).len(),
        facts["paint"]["first_contentful_paint_ms"],
        facts["paint"]["dom_content_loaded_ms"],
    );
}

/// `text` as `dir/name`; its path as a string.
fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

/// A baseline for the default matrix: static_type_liar passed on cp313 in
/// its own-GIL subinterpreter (now a declaration mismatch: regressed),
/// crash_on_reinit hung in re-init (now a crash: fixed); every other cell
/// is new.
fn default_matrix_baseline() -> String {
    use extmatrix_core::{Outcome, Scenario};
    use extmatrix_schema::{CellKey, CellResult, Details, Report};
    let cell = |target: &str, scenario, outcome| {
        let key = CellKey {
            target: target.into(),
            module: target.into(),
            python: "cp313".into(),
            scenario,
        };
        CellResult::new(key, outcome, 1, Details::default())
    };
    let cells = vec![
        cell("static_type_liar", Scenario::SubinterpOwn, Outcome::Pass),
        cell("crash_on_reinit", Scenario::Reinit, Outcome::Hang),
    ];
    serde_json::to_string(&Report::new(
        "matrices/default.yaml".into(),
        vec![],
        cells,
        0,
    ))
    .unwrap()
}

/// The ids of the cells `finding` of `reports[r]` names.
fn finding_cells(reports: &[&Value], r: usize, finding: &Value) -> Vec<String> {
    let shows_in = |c: &Value| {
        c["target"] == finding["target"]
            && c["module"] == finding["module"]
            && finding["cells"]
                .as_array()
                .unwrap()
                .iter()
                .any(|at| at["python"] == c["python"] && at["scenario"] == c["scenario"])
    };
    cell_ids(&reports[r..=r], shows_in)
        .into_iter()
        .map(|id| format!("{r}{}", &id[1..]))
        .collect()
}

/// The first cell of `report` for which `keep` holds, as `0:C`.
fn first_cell(report: &Value, what: &str, keep: impl Fn(&Value) -> bool) -> String {
    cell_ids(&[report], keep)
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no {what} in\n{}", outcome_lines(report)))
}

fn has_symbol(c: &Value) -> bool {
    c["details"]["shared_objects"]
        .as_array()
        .is_some_and(|objects| objects.iter().any(|o| o["symbol"].is_string()))
}

/// Finding `0:f` pressed highlights exactly its cells; pressed again, none.
fn assert_highlights(toggle: &Value, report: &Value, f: usize) {
    let on = &toggle["on"];
    assert_eq!(on["pressed"], "true", "finding 0:{f} pressed");
    assert_eq!(
        strings(&on["highlighted"]),
        sorted(finding_cells(&[report], 0, &report["findings"][f])),
        "td.hl after clicking finding 0:{f}: its cells in the JSON"
    );
    let off = &toggle["off"];
    assert_eq!(
        (&off["pressed"], &off["highlighted"]),
        (&"false".into(), &serde_json::json!([]))
    );
}

/// The details of cell `id` name its first shared object's symbol.
fn assert_symbol_shown(details: &Value, report: &Value, id: &str) {
    assert_eq!(details["open"], true, "#details after clicking {id}");
    let objects = &cell_at(&[report], id)["details"]["shared_objects"];
    let symbol = objects
        .as_array()
        .unwrap()
        .iter()
        .find_map(|o| o["symbol"].as_str());
    let symbol = symbol.unwrap();
    let section = details["sections"]["shared-objects"]
        .as_str()
        .unwrap_or_else(|| panic!("no shared-objects section: {details}"));
    assert!(
        section.contains(symbol),
        "{symbol} not in the shared-objects section:\n{section}"
    );
}

/// Counts, findings and a finding's highlight, a shared object's symbol in
/// its cell's details, axe, print and a screenshot: one page load.
fn check_the_whole_page(page: &Path, report: &Value) {
    let findings = report["findings"].as_array().expect("the run has findings");
    let f = findings
        .iter()
        .position(|f| f["cells"].as_array().unwrap().len() > 1)
        .expect("a finding of several cells");
    let shared = first_cell(report, "shared-state cell with a symbol", |c| {
        c["outcome"] == "shared-state" && has_symbol(c)
    });
    let screenshot = html_out_dir().join("default.png");
    let with_details = html_out_dir().join("default-details.png");
    let toggle = format!("0:{f}");
    let facts = probe(
        page,
        &[
            "--paint",
            "--counts",
            "--findings",
            "--toggle",
            &toggle,
            "--click-cell",
            &shared,
            "--axe",
            "--screenshot",
            screenshot.to_str().unwrap(),
            "--screenshot-end",
            with_details.to_str().unwrap(),
            "--print",
        ],
    );
    assert_counts(&facts, &[report]);
    assert_findings(&facts, &[report]);

    assert_highlights(&facts["toggle"], report, f);
    assert_symbol_shown(&facts["details"], report, &shared);

    let violations = &facts["axe_violations"];
    assert_eq!(
        violations,
        &serde_json::json!([]),
        "axe-core:\n{violations:#}"
    );
    assert_eq!(facts["print_shows"]["filters"], false, "#filters printed");
    assert_eq!(
        facts["print_shows"]["details"], false,
        "#details printed (it was open)"
    );
    eprintln!(
        "screenshots of the default matrix's page: {} as it loads, {} with a cell's details \
         (page {}, {} bytes; first contentful paint {} ms)",
        screenshot.display(),
        with_details.display(),
        page.display(),
        std::fs::metadata(page).unwrap().len(),
        facts["paint"]["first_contentful_paint_ms"]
    );
}

/// A cell with leak checks gets one chart per check; an expected crash
/// against a baseline shows its expectation, change and crash.
fn check_details(page: &Path, report: &Value) {
    let has_checks = |c: &Value| {
        c["details"]["leak"]["checks"]
            .as_array()
            .is_some_and(|k| !k.is_empty())
    };
    let leak = first_cell(report, "cell with leak checks", has_checks);
    let checks = cell_at(&[report], &leak)["details"]["leak"]["checks"]
        .as_array()
        .unwrap()
        .len();
    let details = &probe(page, &["--click-cell", &leak])["details"];
    assert!(
        details["sections"]["leak"].is_string(),
        "no leak section for {leak}: {details}"
    );
    assert_eq!(
        details["leak_charts"], checks,
        "svg.leak-chart for {leak}'s {checks} checks"
    );
    assert!(
        details["leak_chart_polylines"].as_u64().unwrap() >= checks as u64,
        "{details}"
    );

    let crash = first_cell(report, "expected crash on cp313", |c| {
        c["outcome"] == "crash" && c["python"] == "cp313" && c["expectation"]["status"] == "met"
    });
    let details = &probe(page, &["--click-cell", &crash])["details"];
    let title = details["title"].as_str().unwrap();
    assert!(
        title.contains("crash✓") && title.contains("cp313") && title.contains("reinit"),
        "{title}"
    );
    for section in ["summary", "expectation", "change", "crash", "forensics"] {
        assert!(
            details["sections"][section].is_string(),
            "no {section} section: {details:#}"
        );
    }
    let change = details["sections"]["change"].as_str().unwrap();
    assert!(
        change.contains("fixed") && change.contains("hang"),
        "{change}"
    );
}

/// Arrows, Home/End along the row, Enter opens the details, Escape closes
/// them and gives the focus back to the cell.
fn check_keyboard(page: &Path, report: &Value) {
    let facts = probe(
        page,
        &["--keys", "ArrowRight,ArrowDown,End,Home,Enter,Escape"],
    );
    let keys = &facts["keys"];
    let focused = |i: usize| {
        let id = keys["steps"][i]["focused"].as_str();
        cell_at(
            &[report],
            id.unwrap_or_else(|| panic!("no cell focused after key {i}: {keys}")),
        )
    };
    let row = |c: &Value| (c["target"].clone(), c["module"].clone());
    let column = |c: &Value| (c["python"].clone(), c["scenario"].clone());
    let pythons = report["pythons"].as_array().unwrap();
    let first = cell_at(&[report], keys["first"].as_str().expect("td[tabindex=0]"));
    assert_eq!(
        first["python"], pythons[0]["id"],
        "the grid's tab stop: {keys}"
    );
    let right = focused(0);
    assert!(
        row(right) == row(first) && column(right) != column(first),
        "ArrowRight: {keys}"
    );
    let down = focused(1);
    assert!(
        column(down) == column(right) && row(down) != row(right),
        "ArrowDown: {keys}"
    );
    let end = focused(2);
    assert!(
        row(end) == row(down) && end["python"] == pythons.last().unwrap()["id"],
        "End: {keys}"
    );
    let home = focused(3);
    assert!(
        row(home) == row(down) && home["python"] == pythons[0]["id"],
        "Home: {keys}"
    );
    assert_eq!(keys["steps"][4]["details_open"], true, "Enter: {keys}");
    assert_eq!(keys["steps"][5]["details_open"], false, "Escape: {keys}");
    assert_eq!(
        keys["steps"][5]["focused"], keys["steps"][3]["focused"],
        "focus after Escape: {keys}"
    );
}

#[test]
fn the_default_matrix_page_shows_its_json_report_in_a_browser() {
    let dir = tempfile::tempdir().unwrap();
    let expected = write(
        dir.path(),
        "expected.yaml",
        "crash_on_reinit: {reinit: crash}\n",
    );
    let baseline = write(dir.path(), "baseline.json", &default_matrix_baseline());
    let page = html_out_dir().join("default.html");
    let _ = std::fs::remove_file(&page);
    let matrix = repo_root().join("matrices/default.yaml");
    let run = run_matrix(
        &matrix,
        &[
            "--timeout",
            "3",
            "--expect",
            &expected,
            "--baseline",
            &baseline,
            "--html",
            page.to_str().unwrap(),
        ],
    );
    assert!(
        page.is_file(),
        "no page; stdout:\n{}\nstderr:\n{}",
        run.stdout,
        run.stderr
    );
    let report = &run.report;

    check_the_whole_page(&page, report);
    assert_fragment_shows(&page, &[report], "outcome=crash&python=cp313", |c| {
        c["outcome"] == "crash" && c["python"] == "cp313"
    });
    assert_fragment_shows(&page, &[report], "regressed=1", |c| {
        c["change"]["change"] == "regressed"
    });
    check_details(&page, report);
    check_keyboard(&page, report);
}

#[test]
fn report_puts_several_runs_on_one_page_and_refuses_other_versions() {
    let (dir, a) = temp_matrix(
        "pythons: [cp312]\nscenarios: [import, reimport]\ntargets:\n  - name: isolated_ok\n    c: {fixtures}/isolated_ok.c\n  - name: legacy_single\n    c: {fixtures}/legacy_single.c\n",
    );
    let a = run_matrix(&a, &[]).report;
    std::fs::create_dir(dir.path().join("b")).unwrap();
    let b = write_matrix(
        &dir.path().join("b"),
        "pythons: [cp313]\nscenarios: [import, subinterp-own]\ntargets:\n  - name: static_type_liar\n    c: {fixtures}/static_type_liar.c\n",
    );
    let b = run_matrix(&b, &[]).report;
    let a_json = write(dir.path(), "a.json", &a.to_string());
    let b_json = write(dir.path(), "b.json", &b.to_string());
    let page = dir.path().join("both.html");
    let out = extmatrix(&["report", &a_json, &b_json, "--html", page.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("(2 reports, "), "{stdout}");

    let facts = probe(&page, &["--counts", "--findings"]);
    assert_counts(&facts, &[&a, &b]);
    assert_findings(&facts, &[&a, &b]);
    assert_fragment_shows(&page, &[&a, &b], "target=static_type_liar", |c| {
        c["target"] == "static_type_liar"
    });

    let mut newer = a.clone();
    newer["schema_version"] = (extmatrix_schema::SCHEMA_VERSION + 1).into();
    let newer = write(dir.path(), "newer.json", &newer.to_string());
    let notes = write(dir.path(), "notes.txt", "not a report\n");
    let refused = dir.path().join("refused.html");
    for (file, message) in [
        (
            &newer,
            format!(
                "{newer} was written by schema_version {}, this extmatrix reads {}",
                extmatrix_schema::SCHEMA_VERSION + 1,
                extmatrix_schema::SCHEMA_VERSION
            ),
        ),
        (&notes, format!("{notes} is not JSON")),
    ] {
        let out = extmatrix(&["report", &a_json, file, "--html", refused.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{file}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(&message), "{stderr}");
        assert!(!refused.exists(), "no page for {file}");
    }
}

#[test]
fn a_generated_500_target_report_loads_filters_and_opens_details() {
    let report = generated::five_hundred_targets();
    for outcome in extmatrix_core::Outcome::ALL {
        assert!(
            report.summary.contains_key(outcome),
            "no {outcome} cell generated"
        );
    }
    let dir = html_out_dir();
    let json = dir.join("generated-500.json");
    std::fs::write(&json, serde_json::to_string(&report).unwrap()).unwrap();
    let page = dir.join("generated-500.html");
    let started = Instant::now();
    let out = extmatrix(&[
        "report",
        json.to_str().unwrap(),
        "--html",
        page.to_str().unwrap(),
    ]);
    let render = started.elapsed();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = serde_json::to_value(&report).unwrap();
    check_page_against_report(&page, &report);
    assert_fragment_shows(
        &page,
        &[&report],
        "outcome=crash,hang&python=cp313t&scenario=reinit",
        |c| {
            (c["outcome"] == "crash" || c["outcome"] == "hang")
                && c["python"] == "cp313t"
                && c["scenario"] == "reinit"
        },
    );

    let held = first_cell(&report, "declaration mismatch", |c| {
        c["outcome"] == "declaration-mismatch"
    });
    let facts = probe(&page, &["--click-cell", &held]);
    let objects = &cell_at(&[&report], &held)["details"]["shared_objects"];
    let section = facts["details"]["sections"]["shared-objects"]
        .as_str()
        .unwrap_or_default();
    for what in [
        &objects[0]["symbol"],
        &objects[0]["section"],
        &objects[1]["held_by"],
    ] {
        assert!(
            section.contains(what.as_str().unwrap()),
            "{what} not in {held}'s shared objects:\n{section}"
        );
    }
    eprintln!(
        "500 targets: {} cells, JSON {} KiB, `extmatrix report` took {render:?}",
        cells(&report).len(),
        std::fs::metadata(&json).unwrap().len() / 1024
    );
}
