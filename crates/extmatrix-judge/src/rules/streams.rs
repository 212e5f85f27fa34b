//! What the runner saw of the cell's streams, besides the events:
//!
//! - a stream cut at its cap — the observation channel, stdout or stderr:
//!   extmatrix stopped reading it, so the cell's later writes to it failed
//!   (EPIPE, or SIGPIPE) and events may be missing. Whatever happened next
//!   is extmatrix's doing, not the target's: no verdict of its own, a
//!   `harness-error` that names the stream and its cap;
//! - lines on the channel without the run's token (foreign), protocol
//!   errors beyond the kept ones, processes the harness left running, what
//!   the runner had to do: notes, never an outcome of their own.

use crate::Finding;
use extmatrix_core::Outcome;
use extmatrix_protocol::{Observation, CHANNEL_CAP, OUTPUT_CAP};

pub fn findings(obs: &Observation) -> Vec<Finding> {
    let s = &obs.streams;
    let mut found = Vec::new();
    if s.channel_cut {
        found.push(Finding::new(
            Outcome::HarnessError,
            format!(
                "the observation channel passed its {} MiB cap and extmatrix stopped reading it: events may be missing, so the cell has no verdict (something in the cell flooded the channel)",
                CHANNEL_CAP >> 20
            ),
        ));
    }
    for (name, cut) in [("stdout", s.stdout_cut), ("stderr", s.stderr_cut)] {
        if cut {
            found.push(Finding::new(
                Outcome::HarnessError,
                format!(
                    "{name} passed its {} MiB cap and extmatrix stopped reading it: the cell's later writes to it failed, so the cell has no verdict of its own",
                    OUTPUT_CAP >> 20
                ),
            ));
        }
    }
    found
}

/// The notes every verdict keeps about the streams.
pub fn notes(obs: &Observation, notes: &mut Vec<String>) {
    let s = &obs.streams;
    if s.protocol_errors_dropped > 0 {
        notes.push(format!(
            "and {} more lines that were not events",
            s.protocol_errors_dropped
        ));
    }
    if s.foreign_lines > 0 {
        let samples: Vec<String> = s.foreign_samples.iter().map(|l| format!("{l:?}")).collect();
        notes.push(format!(
            "{} line(s) on the observation channel without this run's token: not written by the harness, ignored; first: {}",
            s.foreign_lines,
            samples.join(", ")
        ));
    }
    for (name, cut, dropped) in [
        ("stdout", s.stdout_cut, s.stdout_dropped_bytes),
        ("stderr", s.stderr_cut, s.stderr_dropped_bytes),
    ] {
        if cut {
            notes.push(format!(
                "{name} cut at {} MiB: later writes to it failed (EPIPE, or SIGPIPE); {dropped} bytes before the kept tail were dropped",
                OUTPUT_CAP >> 20
            ));
        }
    }
    let left = obs.events.iter().find_map(|e| match e {
        extmatrix_protocol::Event::Cleanup { left_behind } if *left_behind > 0 => {
            Some(*left_behind)
        }
        _ => None,
    });
    if let Some(n) = left {
        notes.push(format!(
            "{n} process(es) still running below the harness when it ended (whatever their process group or session) were killed"
        ));
    }
    notes.extend(obs.runner_notes.iter().cloned());
}

#[cfg(test)]
mod tests {
    use crate::testing::*;
    use crate::{judge_cell, Evidence};
    use extmatrix_core::{Outcome, Scenario};
    use extmatrix_protocol::{Event, Streams};

    #[test]
    fn a_cut_channel_is_a_harness_error_whatever_it_said() {
        let mut obs = observation(vec![step("smoke"), done()], exited(0));
        obs.streams.channel_cut = true;
        let v = judge_cell(&facts(Scenario::Import), &Evidence::Ran(obs));
        assert_eq!(v.outcome, Outcome::HarnessError);
        assert!(
            v.details.summary.contains("16 MiB"),
            "{}",
            v.details.summary
        );
    }

    #[test]
    fn a_cut_output_is_a_harness_error_naming_the_stream() {
        let mut obs = observation(
            vec![step("smoke")],
            extmatrix_protocol::Termination::Signaled {
                signal: 13,
                name: "SIGPIPE".into(),
            },
        );
        obs.streams.stderr_cut = true;
        obs.streams.stderr_dropped_bytes = 64 << 20;
        let v = judge_cell(&facts(Scenario::Import), &Evidence::Ran(obs));
        assert_eq!(v.outcome, Outcome::HarnessError);
        assert!(
            v.details
                .summary
                .starts_with("stderr passed its 64 MiB cap"),
            "{}",
            v.details.summary
        );
        assert_eq!(v.details.signal.as_deref(), Some("SIGPIPE"));
        assert!(v
            .details
            .notes
            .iter()
            .any(|n| n.starts_with("stderr cut at 64 MiB")));
    }

    #[test]
    fn foreign_lines_and_left_behind_processes_are_noted_not_judged() {
        let mut obs = observation(vec![done(), Event::Cleanup { left_behind: 2 }], exited(0));
        obs.streams = Streams {
            foreign_lines: 7,
            foreign_samples: vec!["{\"ev\":\"done\"}".into()],
            protocol_errors_dropped: 3,
            stdout_dropped_bytes: 64 << 20,
            stderr_dropped_bytes: 10,
            ..Streams::default()
        };
        obs.runner_notes.push("from the runner".into());
        let v = judge_cell(&facts(Scenario::Import), &Evidence::Ran(obs));
        assert_eq!(v.outcome, Outcome::Pass);
        assert_eq!(v.details.left_behind, 2);
        assert_eq!(v.details.foreign_lines, 7);
        assert_eq!(v.details.stdout_dropped_bytes, 64 << 20);
        assert_eq!(v.details.stderr_dropped_bytes, 10);
        let notes = v.details.notes.join("\n");
        for want in [
            "3 more lines that were not events",
            "7 line(s) on the observation channel without this run's token",
            "{\\\"ev\\\":\\\"done\\\"}",
            "2 process(es) still running below the harness",
            "from the runner",
        ] {
            assert!(notes.contains(want), "{want:?} not in:\n{notes}");
        }
        assert!(!notes.contains(" cut at "), "{notes}");
    }

    #[test]
    fn a_clean_cleanup_adds_no_note() {
        let obs = observation(vec![done(), Event::Cleanup { left_behind: 0 }], exited(0));
        let v = judge_cell(&facts(Scenario::Import), &Evidence::Ran(obs));
        assert_eq!(v.outcome, Outcome::Pass);
        assert!(v.details.notes.is_empty(), "{:?}", v.details.notes);
    }

    #[test]
    fn a_memory_error_names_the_limit() {
        let obs = observation(
            vec![error_event("smoke", "smoke", "MemoryError", ""), done()],
            exited(0),
        );
        let v = judge_cell(&facts(Scenario::Import), &Evidence::Ran(obs));
        assert_eq!(v.outcome, Outcome::ImportError);
        assert_eq!(
            v.details.summary,
            "MemoryError in step `smoke` (the cell's memory limit is 4096 MiB: options.memory_mb)"
        );
    }
}
