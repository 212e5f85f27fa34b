//! The retry loop of `run_cell_retrying`, on the real harness (not a black-box
//! test: with `--timeout` at least 1 s, no matrix can make an interpreter
//! fail in its own start-up on demand).

use extmatrix_core::Scenario;
use extmatrix_runner::{run_cell_retrying, CellCommand, Lease, Observation, Stress, Termination};
use std::time::Duration;

/// Mutations caught: `run_cell_retrying` returning after the first attempt,
/// or retrying whatever its caller's rule says (the engine's rule,
/// `extmatrix_judge::says_nothing_of_the_target`, has tests of its own).
#[test]
fn an_interpreter_killed_in_its_start_up_is_tried_again_up_to_the_attempts() {
    let (py, harness) = crate::common::real_harness();
    let module_dir = tempfile::tempdir().unwrap();
    let command = CellCommand {
        harness,
        scenario: Scenario::Import,
        module: "never_imported".into(),
        module_dir: module_dir.path().to_path_buf(),
        smoke: None,
        python_exe: py.path.clone(),
        cycles: 1,
        stress: Stress::default(),
        module_file: None,
        debug_allocator: false,
        subinterp: None,
        alone: false,
        site: false,
        // Far too short for Py_Initialize: every attempt is killed before
        // the target is imported.
        timeout: Duration::from_millis(1),
        deadlock: None,
        memory_mb: None,
    };

    let before_target = |obs: &Observation| obs.failed_before_target();
    let obs = run_cell_retrying(&command, 3, &Lease::none(), &before_target).unwrap();
    assert!(
        matches!(obs.termination, Termination::TimedOut { .. }),
        "{:?}",
        obs.termination
    );
    assert!(obs.failed_before_target(), "{obs:?}");
    assert_eq!(
        obs.retries.len(),
        2,
        "3 attempts, 2 retried: {:?}",
        obs.retries
    );
    assert!(
        obs.retries
            .iter()
            .all(|a| matches!(a.termination, Termination::TimedOut { .. }) && a.fatal.is_none()),
        "{:?}",
        obs.retries
    );

    let kept = run_cell_retrying(&command, 3, &Lease::none(), &|_| false).unwrap();
    assert!(
        kept.retries.is_empty(),
        "the rule says keep it: {:?}",
        kept.retries
    );

    let once = run_cell_retrying(&command, 1, &Lease::none(), &before_target).unwrap();
    assert!(
        once.retries.is_empty(),
        "1 attempt, none retried: {:?}",
        once.retries
    );
}

/// A failure that does not come and go is not made again and again: the
/// second attempt exits as the first did (status 0 from an atexit callback
/// in `finalize`), so there is no third, whatever the rule says.
/// Mutation caught: the comparison with the attempt before dropped.
#[test]
fn an_attempt_that_exits_as_the_one_before_ends_the_trying() {
    let dir = crate::common::module_dir("quits_while_finalizing");
    let command = crate::common::command(
        Scenario::Import,
        "quits_while_finalizing",
        dir.path().to_owned(),
        "import atexit, os\natexit.register(os._exit, 0)\n",
    );
    let obs = run_cell_retrying(&command, 3, &Lease::none(), &|_| true).unwrap();
    assert_eq!(obs.termination, Termination::Exited { code: 0 });
    assert_eq!(obs.retries.len(), 1, "{:?}", obs.retries);
    assert_eq!(
        obs.retries[0].last_step.map(|s| s.to_string()).as_deref(),
        Some("finalize")
    );
}
