//! The harness's observation protocol: one JSON object per line, tagged by
//! `ev`. The C side is `harness-c/harness.c` (`obs_*`); docs/harness-protocol.md
//! describes every event. Fields the driver does not know are ignored, so the
//! harness can report more before the driver uses it.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "ev", rename_all = "snake_case")]
pub enum Event {
    Start {
        scenario: String,
        compiled_for: String,
        pid: u32,
    },
    /// Announced before every risky step.
    Step {
        step: String,
    },
    Declared(Declaration),
    Error(ImportFailure),
    Cycle(CycleFigures),
    /// A warning raised while importing the module.
    Warning(ImportWarning),
    /// Free-threaded builds: whether the GIL is enabled at this point.
    Gil(GilState),
    /// How many objects were collected from one module for an identity check.
    Reachable {
        count: u64,
    },
    /// An object reachable in both compared sets at the same address.
    Shared(SharedObject),
    Compared {
        label: String,
        before: u64,
        after: u64,
        same_address: u64,
    },
    /// The scenario cannot run on this build.
    Unsupported {
        reason: String,
    },
    Note {
        message: String,
    },
    /// The harness itself failed (not the target).
    Fatal {
        message: String,
    },
    Done,
}

/// What the module declares: its init style and PEP 489 slots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Declaration {
    /// `single-phase`, `multi-phase`, or `none` (no PyModuleDef).
    pub init: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub m_size: Option<i64>,
    /// `Py_mod_multiple_interpreters`: `not-supported`, `supported`,
    /// `per-interpreter-gil`; absent when the slot is not set (or the build
    /// predates it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multiple_interpreters: Option<String>,
    /// `Py_mod_gil`: `used` or `not-used`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gil: Option<String>,
}

/// An exception raised by the import or the smoke code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportFailure {
    /// Which import: `import`, `cycle 2`, `reimport`, `subinterp own`, ...
    #[serde(rename = "where")]
    pub location: String,
    /// `import`, `smoke` or `forget`.
    pub phase: String,
    pub exc_type: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceback: Option<String>,
}

/// A warning raised during an import (e.g. CPython's RuntimeWarning when a
/// module re-enables the GIL on a free-threaded build).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportWarning {
    #[serde(rename = "where")]
    pub location: String,
    pub category: String,
    pub message: String,
}

/// Whether the GIL was enabled at a point of a free-threaded run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GilState {
    /// `before import`, `import`, `after smoke`, ...
    #[serde(rename = "where")]
    pub location: String,
    pub enabled: bool,
}

/// The figures of one reinit cycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CycleFigures {
    pub n: u32,
    /// Wall time of the whole cycle (init, import, smoke, finalize).
    pub us: u64,
    /// `sys.getallocatedblocks()` before finalize; -1 when the import failed.
    pub allocated_blocks: i64,
    /// `sys.gettotalrefcount()` before finalize (debug builds only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_refcount: Option<i64>,
    /// Resident set size after finalize.
    pub rss_kb: i64,
}

/// One object found at the same address in both compared sets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedObject {
    /// `main/subinterp` or `old/new`.
    pub label: String,
    /// Attribute path from the module: `Widget`, `Widget.__doc__`.
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_before: Option<String>,
    #[serde(rename = "type")]
    pub type_name: String,
    pub addr: String,
    /// `extension`, `libpython`, `heap` or `other-image`.
    pub lives: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    pub immortal: bool,
    pub interned: bool,
}

/// Parse the observation channel; lines that are not events are returned
/// separately (the last one is often cut short by a crash).
pub fn parse(text: &str) -> (Vec<Event>, Vec<String>) {
    let mut events = Vec::new();
    let mut errors = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str(line) {
            Ok(ev) => events.push(ev),
            Err(e) => errors.push(format!(
                "{e}: {}",
                line.chars().take(200).collect::<String>()
            )),
        }
    }
    (events, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_events_and_keeps_bad_lines() {
        let text = concat!(
            "{\"ev\":\"step\",\"step\":\"cycle 2: import\"}\n",
            "{\"ev\":\"error\",\"where\":\"main\",\"phase\":\"import\",\"exc_type\":\"ImportError\",\"message\":\"no\"}\n",
            "{\"ev\":\"shared\",\"label\":\"old/new\",\"path\":\"W\",\"type\":\"type\",\"addr\":\"0x1\",\"lives\":\"extension\",\"immortal\":true,\"interned\":false,\"future\":1}\n",
            "{\"ev\":\"done\"}\n",
            "{\"ev\":\"step\",\"st"
        );
        let (events, errors) = parse(text);
        assert_eq!(events.len(), 4);
        assert_eq!(errors.len(), 1);
        assert!(
            matches!(&events[1], Event::Error(f) if f.location == "main" && f.exc_type == "ImportError")
        );
        assert!(matches!(&events[2], Event::Shared(s) if s.lives == "extension" && s.immortal));
    }
}
