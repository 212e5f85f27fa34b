//! The report's data inside the page: every report as its JSON, with what
//! each reason and outcome means, for the script to read a cell's details
//! on demand (never rendered ahead as 6720 panels).

use super::escape;
use extmatrix_core::{Outcome, Reason};
use extmatrix_schema::Report;
use serde_json::{json, Map, Value};

/// `{"reports": [...], "reasons": {id: {"meaning", "fix"}}, "outcomes":
/// {id: meaning}}`, compact, safe inside a `<script>` element.
pub(super) fn data_json(reports: &[Report]) -> String {
    let reasons: Map<String, Value> = Reason::ALL
        .iter()
        .map(|r| {
            let text = json!({"meaning": r.meaning(), "fix": r.what_to_fix()});
            (r.id().to_owned(), text)
        })
        .collect();
    let outcomes: Map<String, Value> = Outcome::ALL
        .iter()
        .map(|o| (o.id().to_owned(), Value::from(o.meaning())))
        .collect();
    // The reports are written straight to text: a `Value` copy of a
    // 6720-cell report would double the memory for nothing.
    let reports = serde_json::to_string(reports).expect("a report serializes");
    let json = format!(
        r#"{{"reports":{reports},"reasons":{},"outcomes":{}}}"#,
        Value::Object(reasons),
        Value::Object(outcomes)
    );
    escape::json_in_script(&json)
}
