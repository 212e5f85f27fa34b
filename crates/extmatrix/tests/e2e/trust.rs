//! A correct module is never blamed for the harness's own fragility: the
//! fixtures that change the process the way correct modules may (rewrite
//! argv and move environ, chdir, take signals, set the locale) pass in
//! every scenario on the seven builds of matrices/full.yaml. These use the
//! user's build cache, as `.ci/run` provisions the built interpreters
//! there.

use crate::common::*;
use serde_json::Value;

const HAZARDS: [&str; 4] = [
    "sets_its_process_title",
    "changes_directory",
    "installs_signal_handlers",
    "sets_a_locale",
];

/// Where a cell is `n/a` by the build alone: isolated subinterpreters
/// before 3.12, free threading on a build with a GIL.
fn lacks_the_feature(python: &str, scenario: &str) -> bool {
    let isolated = matches!(
        scenario,
        "subinterp-shared" | "subinterp-own" | "subinterp-parallel"
    );
    let free_threaded = python.ends_with('t') || python.ends_with("td");
    (isolated && python.starts_with("cp311")) || (scenario == "free-threading" && !free_threaded)
}

/// A cell in one line, then what explains it when it is not a pass (its
/// leak checks, retries, forensics: CI keeps nothing else of the run).
fn cell_line(c: &Value) -> String {
    let d = &c["details"];
    let mut line = format!(
        "{} × {} × {}: {} ({})",
        c["target"], c["python"], c["scenario"], c["outcome"], d["summary"]
    );
    for key in ["leak", "retries", "forensics"] {
        if !d[key].is_null() {
            let text = d[key].to_string();
            let cut: String = text.chars().take(4000).collect();
            line.push_str(&format!("\n  {key}: {cut}"));
        }
    }
    line
}

#[test]
fn modules_that_change_the_process_pass_on_every_build() {
    let run = run_matrix_with_cache(
        &repo_root().join("matrices/full.yaml"),
        &["--target", &HAZARDS.join(",")],
        None,
    );
    let cells = run.report["cells"].as_array().unwrap();
    assert_eq!(cells.len(), HAZARDS.len() * 7 * 10, "{}", run.stdout);
    let wrong: Vec<String> = cells
        .iter()
        .filter(|c| {
            let want = if lacks_the_feature(
                c["python"].as_str().unwrap(),
                c["scenario"].as_str().unwrap(),
            ) {
                "n/a"
            } else {
                "pass"
            };
            c["outcome"] != want
        })
        .map(cell_line)
        .collect();
    assert!(wrong.is_empty(), "{}\n\n{}", wrong.join("\n"), run.stdout);
    assert_eq!(run.status, 0, "{}", run.stderr);
}

/// The fixture takes SIGUSR1, SIGTERM and the harness's first dump signal
/// (SIGRTMAX) in its exec; a smoke that hangs afterwards is still a hang
/// with every thread's Python stacks, and is still stopped.
#[test]
fn a_hang_after_the_target_took_signals_is_dumped_and_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let matrix = write_matrix(
        dir.path(),
        &format!(
            "pythons: [cp313]\nscenarios: [import]\noptions: {{ timeout_s: 2 }}\ntargets:\n\
             \x20 - name: takes_signals_then_hangs\n    c: {}\n    smoke: |\n      \
             import time\n      while True:\n          time.sleep(0.05)\n",
            fixture("installs_signal_handlers.c").display()
        ),
    );
    let run = run_matrix(&matrix, &[]);
    let c = cell(&run.report, "takes_signals_then_hangs", "cp313", "import");
    assert_eq!(c["outcome"], "hang", "{}", cell_line(c));
    let python = c["details"]["forensics"]["python"].as_str().unwrap_or("");
    assert!(python.contains("<smoke>"), "{c}");
}

/// A run that tells nothing of the target is made again, and every attempt
/// is kept: here the smoke code has the process exit (status 0) from an
/// atexit callback, in `finalize`, a step that does not run the target —
/// the judge cannot tell that from the harness failing on its own. The
/// second attempt exits as the first did, so there is no third: the cell
/// is a `harness-error` with the first attempt in `details.retries`. (A
/// harness that fails only sometimes, as CPython creating interpreters at
/// once can, passes on a later attempt, and its summary says so.)
#[test]
fn a_run_the_harness_cannot_vouch_for_is_made_again_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let matrix = write_matrix(
        dir.path(),
        &format!(
            "pythons: [cp313]\nscenarios: [import]\ntargets:\n\
             \x20 - name: exits_while_finalizing\n    c: {}\n    smoke: |\n      \
             import atexit, os\n      atexit.register(os._exit, 0)\n",
            fixture("isolated_ok.c").display()
        ),
    );
    let run = run_matrix(&matrix, &[]);
    let c = cell(&run.report, "exits_while_finalizing", "cp313", "import");
    assert_eq!(c["outcome"], "harness-error", "{}", cell_line(c));
    let retries = c["details"]["retries"].as_array().unwrap();
    assert_eq!(retries.len(), 1, "{c}");
    for attempt in retries {
        assert_eq!(attempt["termination"]["how"], "exited", "{c}");
        assert_eq!(attempt["termination"]["code"], 0, "{c}");
        assert_eq!(attempt["last_step"], "finalize", "{c}");
    }
}
