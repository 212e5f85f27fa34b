//! matrices/waits.yaml: a deadlock is a `hang` with reason `deadlock`
//! after `deadlock_s`, not after the timeout; a smoke code that sleeps or
//! waits with a timeout past `deadlock_s` passes. `deadlock_s: 0` leaves
//! a deadlock to the timeout.

use crate::common::*;

fn waits_matrix() -> std::path::PathBuf {
    repo_root().join("matrices/waits.yaml")
}

#[test]
fn a_deadlock_ends_early_and_waits_that_end_by_themselves_pass() {
    let run = run_matrix(&waits_matrix(), &["--strict"]);
    assert_eq!(run.status, 0, "{}\n{}", run.stdout, run.stderr);
    let r = &run.report;
    for python in ["cp311", "cp312", "cp313"] {
        let c = cell(r, "hang_in_subinterp", python, "subinterp-legacy");
        assert_eq!(c["outcome"], "hang", "{c}");
        assert_eq!(c["details"]["reason"], "deadlock", "{c}");
        // Found after deadlock_s (3 s), stopped with its stacks: far from
        // the 60 s timeout.
        let ms = c["duration_ms"].as_u64().unwrap();
        assert!((3000..30_000).contains(&ms), "{python}: {ms} ms");
        let waits = c["details"]["waits"].as_array().unwrap();
        assert!(!waits.is_empty(), "{c}");
        let frames = c["details"]["forensics"]["c"].as_str().unwrap_or_default();
        assert!(frames.contains("in hang_in_subinterp_exec "), "{frames}");
        for target in ["sleeps_in_its_smoke", "waits_on_an_event_in_its_smoke"] {
            for scenario in ["import", "subinterp-legacy"] {
                let c = cell(r, target, python, scenario);
                assert_eq!(c["outcome"], "pass", "{c}");
            }
        }
    }
}

#[test]
fn deadlock_s_zero_leaves_a_deadlock_to_the_timeout() {
    let (_dir, matrix) = temp_matrix(
        "pythons: [cp313]\nscenarios: [subinterp-legacy]\noptions: { timeout_s: 4, deadlock_s: 0 }\n\
         targets:\n  - {name: hang, c: '{fixtures}/hang_in_subinterp.c'}\n",
    );
    let run = run_matrix(&matrix, &[]);
    let c = cell(&run.report, "hang", "cp313", "subinterp-legacy");
    assert_eq!(c["outcome"], "hang", "{c}");
    assert!(c["details"]["reason"].is_null(), "{c}");
    assert!(c["duration_ms"].as_u64().unwrap() >= 4000, "{c}");
}
