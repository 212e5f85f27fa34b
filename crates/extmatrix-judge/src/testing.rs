//! Building blocks for the rules' unit tests.

use crate::CellFacts;
use extmatrix_core::Scenario;
use extmatrix_protocol::{Event, Observation, Termination};
use std::time::Duration;

pub fn facts(scenario: Scenario) -> CellFacts {
    CellFacts {
        scenario,
        free_threaded: false,
        version: extmatrix_core::PythonVersion::new(3, 13, 0),
        timeout: Duration::from_secs(5),
        memory_mb: 4096,
        leak: POLICY,
    }
}

/// The defaults of the matrix's options.
pub const POLICY: crate::LeakPolicy = crate::LeakPolicy {
    warmup: 2,
    kib_per_cycle: 64.0,
    blocks_per_cycle: 64.0,
};

pub fn free_threaded(scenario: Scenario) -> CellFacts {
    CellFacts {
        free_threaded: true,
        ..facts(scenario)
    }
}

pub fn observation(events: Vec<Event>, termination: Termination) -> Observation {
    Observation::new(events, termination)
}

pub fn exited(code: i32) -> Termination {
    Termination::Exited { code }
}

/// An event from its wire form, so tests read like what the harness sends.
pub fn event(json: serde_json::Value) -> Event {
    serde_json::from_value(json).expect("a valid event")
}

pub fn step(step: &str) -> Event {
    event(serde_json::json!({"ev": "step", "step": step}))
}

pub fn done() -> Event {
    Event::Done
}

pub fn error_event(step: &str, phase: &str, exc_type: &str, message: &str) -> Event {
    event(
        serde_json::json!({"ev": "error", "where": step, "phase": phase,
                              "exc_type": exc_type, "message": message}),
    )
}

pub fn declared(init: &str, slot: Option<&str>) -> Event {
    let mut v = serde_json::json!({"ev": "declared", "init": init});
    if let Some(slot) = slot {
        v["multiple_interpreters"] = slot.into();
    }
    event(v)
}

pub fn shared_event(lives: &str, immortal: bool, interned: bool) -> Event {
    event(
        serde_json::json!({"ev": "shared", "label": "old/new", "path": "X", "type": "type",
                              "addr": "0x1", "lives": lives, "immortal": immortal, "interned": interned}),
    )
}

pub fn gil(step: &str, enabled: bool) -> Event {
    event(serde_json::json!({"ev": "gil", "where": step, "enabled": enabled}))
}

/// A cycle's figures: blocks, refs (debug builds) and malloc'd KiB.
pub fn cycle(
    n: u32,
    blocks: Option<i64>,
    refs: Option<i64>,
    malloc_kb: Option<i64>,
) -> extmatrix_protocol::CycleFigures {
    extmatrix_protocol::CycleFigures {
        n,
        us: 1000,
        ok: true,
        allocated_blocks: blocks,
        total_refcount: refs,
        allocator: Some("pymalloc_debug".into()),
        rss_kb: 10_000 + 100 * i64::from(n),
        malloc_kb,
        final_refs: None,
        final_blocks: None,
    }
}
