//! The JSON report: the schema's serde form, pretty-printed.

use crate::Format;
use extmatrix_schema::Report;

/// `extmatrix run --json`.
pub struct Json;

impl Format for Json {
    fn render(&self, report: &Report) -> String {
        let mut text = serde_json::to_string_pretty(report).expect("a report serializes");
        text.push('\n');
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample;

    #[test]
    fn json_is_versioned_and_round_trips() {
        let r = sample::report();
        let v: serde_json::Value = serde_json::from_str(&Json.render(&r)).unwrap();
        assert_eq!(v["schema_version"], 1);
        assert_eq!(v["cells"][1]["outcome"], "shared-state");
        assert_eq!(v["cells"][1]["scenario"], "reimport");
        assert_eq!(v["cells"][1]["module"], "a");
        assert_eq!(v["summary"]["crash"], 1);
        let back: Report = serde_json::from_value(v).unwrap();
        assert_eq!(back.cells.len(), 3);
        assert_eq!(r.exit_code(), 1);
    }
}
