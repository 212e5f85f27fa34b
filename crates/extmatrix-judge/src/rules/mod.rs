//! The rules, one file per concern. Each reads the evidence (and the
//! details gathered from it) and returns findings; none decides the cell's
//! outcome alone — `judge_run` orders them.
//!
//! A new rule is a new file here, called from `judge_run`, with tests that
//! fail when the rule is broken.

pub mod applicability;
pub mod clobber;
pub mod control;
pub mod declaration;
pub mod differential;
pub mod gil;
pub mod leak;
pub mod linking;
pub mod provision;
pub mod reason;
pub mod refusal;
pub mod repeat;
pub mod retry;
pub mod shared;
pub mod streams;
pub mod termination;
