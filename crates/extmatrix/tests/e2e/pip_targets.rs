//! `pip:` targets end to end: real projects built from source by each
//! interpreter's pip, installed with their dependencies, every extension
//! module of the wheel its own row; the cache; a broken build; `init`.
//! Needs PyPI (setuptools 80.9.0 and six 1.16.0 for the fixture project,
//! markupsafe 3.0.3's sdist), like CI has.

use crate::common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// What each module of `fixtures/projects/two_modules` gives on cp312+
/// (their C files say why).
fn expected(module: &str, scenario: &str) -> &'static str {
    match (module, scenario) {
        ("twomod._single", "reimport" | "subinterp-legacy") => "shared-state",
        ("twomod._single", "subinterp-shared" | "subinterp-own") => "refused",
        _ => "pass",
    }
}

/// Every file under `dir`, relative, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p.clone());
            }
            out.push(p.strip_prefix(dir).unwrap().display().to_string());
        }
    }
    out.sort();
    out
}

/// The build logs of target and sdist entries (a build rewrites its log),
/// with their modification times.
fn build_logs(cache: &Path) -> Vec<(PathBuf, std::time::SystemTime)> {
    let mut logs = Vec::new();
    for kind in ["targets", "sdists"] {
        let Ok(dir) = std::fs::read_dir(cache.join(kind).join("logs")) else {
            continue;
        };
        for entry in dir {
            let path = entry.unwrap().path();
            let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
            logs.push((path, modified));
        }
    }
    logs.sort();
    logs
}

#[test]
fn a_project_with_two_modules_a_pinned_package_and_a_broken_project_on_cp313() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let broken = dir.path().join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(
        broken.join("setup.py"),
        "from setuptools import setup, Extension\nsetup(name='broken', version='0', ext_modules=[Extension('broken', ['broken.c'])])\n",
    )
    .unwrap();
    write_broken_c_file(&broken);
    let project = fixture_project("two_modules");
    let before = listing(&project);
    let m = write_matrix(
        dir.path(),
        &format!(
            "pythons: [cp313]\nscenarios: [{}]\noptions: {{ cycles: 3, timeout_s: 60 }}\ntargets:\n  \
             - name: twomod\n    pip: {}\n    smoke: \"import six, twomod; assert m.bump() >= 1\"\n  \
             - name: broken\n    pip: broken\n  \
             - name: markupsafe\n    pip: markupsafe==3.0.3\n    smoke: \"assert m._escape_inner('<') == '&lt;'\"\n",
            SCENARIOS.join(", "),
            project.display()
        ),
    );
    let run = run_matrix_with_cache(&m, &[], Some(&cache));
    let report = &run.report;
    for module in ["twomod._single", "twomod._isolated"] {
        for scenario in SCENARIOS {
            let c = module_cell(report, "twomod", module, "cp313", scenario);
            assert_eq!(
                c["outcome"],
                expected(module, scenario),
                "{module} {scenario}: {c}"
            );
        }
    }
    for scenario in SCENARIOS {
        let c = module_cell(
            report,
            "markupsafe",
            "markupsafe._speedups",
            "cp313",
            scenario,
        );
        assert_eq!(c["outcome"], "pass", "{c}");
        // One build-failed cell per scenario, with the compiler's words and the log.
        let c = cell(report, "broken", "cp313", scenario);
        assert_eq!(c["outcome"], "build-failed", "{c}");
        let build = &c["details"]["build"];
        assert!(
            build["output"].as_str().unwrap().contains("broken.c:2"),
            "{build}"
        );
        assert!(
            Path::new(build["log"].as_str().unwrap()).is_file(),
            "{build}"
        );
    }
    assert_eq!(
        cells(report).len(),
        SCENARIOS.len() * 4,
        "{}",
        outcome_lines(report)
    );
    assert_eq!(run.status, 1, "build-failed fails the run");
    assert!(
        run.stdout.contains("twomod/twomod._single")
            && run.stdout.contains("twomod/twomod._isolated"),
        "{}",
        run.stdout
    );
    // The project was built from a copy: nothing written into it.
    assert_eq!(listing(&project), before);

    // Served from the cache: no build (and no download) runs again, so
    // no log is rewritten.
    let logs = build_logs(&cache);
    assert!(
        logs.iter()
            .any(|(p, _)| p.to_string_lossy().contains("sdists/logs/markupsafe-3.0.3")),
        "{logs:?}"
    );
    let again = run_matrix_with_cache(&m, &["--target", "twomod,markupsafe"], Some(&cache));
    assert_eq!(build_logs(&cache), logs);
    assert_eq!(again.status, 0, "{}", outcome_lines(&again.report));
}

#[test]
fn modules_narrows_the_rows_and_a_module_the_wheel_lacks_is_a_build_failure() {
    let dir = tempfile::tempdir().unwrap();
    let project = fixture_project("two_modules");
    let m = write_matrix(
        dir.path(),
        &format!(
            "pythons: [cp312]\nscenarios: [import]\ntargets:\n  \
             - name: one\n    pip: {p}\n    modules: [twomod._single]\n  \
             - name: typo\n    pip: {p}\n    modules: [twomod._singel]\n",
            p = project.display()
        ),
    );
    let run = run_matrix(&m, &[]);
    let report: &Value = &run.report;
    assert_eq!(cells(report).len(), 2, "{}", outcome_lines(report));
    assert_eq!(
        module_cell(report, "one", "twomod._single", "cp312", "import")["outcome"],
        "pass"
    );
    let typo = module_cell(report, "typo", "twomod._singel", "cp312", "import");
    assert_eq!(typo["outcome"], "build-failed");
    let summary = typo["details"]["summary"].as_str().unwrap();
    assert!(
        summary.contains("no extension module twomod._singel")
            && summary.contains("it has twomod._isolated, twomod._single"),
        "{summary}"
    );
}

#[test]
fn init_writes_a_file_that_run_accepts_with_no_argument() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("two_modules");
    let source = fixture_project("two_modules");
    for f in [
        "pyproject.toml",
        "src/twomod/__init__.py",
        "src/twomod/_isolated.c",
        "src/twomod/_single.c",
    ] {
        let to = project.join(f);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(source.join(f), to).unwrap();
    }
    let bin = env!("CARGO_BIN_EXE_extmatrix");
    let init = std::process::Command::new(bin)
        .arg("init")
        .current_dir(&project)
        .env("EXTMATRIX_CACHE_DIR", cache_dir())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&init.stdout);
    assert!(
        init.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&init.stderr)
    );
    assert!(
        said.contains("Wrote ./extmatrix.yaml on ")
            && said.contains("\n  twomod (pip target: .)\n"),
        "{said}"
    );
    let json = dir.path().join("r.json");
    let run = std::process::Command::new(bin)
        .args(["run", "--python", "cp313", "--scenario", "import", "--json"])
        .arg(&json)
        .current_dir(&project)
        .env("EXTMATRIX_CACHE_DIR", cache_dir())
        .output()
        .unwrap();
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap_or_else(|_| {
            panic!(
                "{}{}",
                String::from_utf8_lossy(&run.stdout),
                String::from_utf8_lossy(&run.stderr)
            )
        }))
        .unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", outcome_lines(&report));
    let modules: Vec<&str> = cells(&report)
        .iter()
        .map(|c| c["module"].as_str().unwrap())
        .collect();
    assert_eq!(modules, ["twomod._isolated", "twomod._single"]);
    // A second init does not clobber the file.
    let again = std::process::Command::new(bin)
        .arg("init")
        .current_dir(&project)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
}
