//! Reading a JSON report of an earlier run: to render it (`extmatrix
//! report`), or as a baseline (`--baseline FILE`: a complete run only).
//! Only reports of this schema version are read, and the others refused
//! with what to do instead. The version is read first, from the bare JSON,
//! so a report of another version is named as such rather than failing to
//! parse.

use extmatrix_schema::{Report, SCHEMA_VERSION};

/// Why a report cannot be read (or be a baseline).
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{name} is not JSON ({error}): give the report `extmatrix run --json` wrote")]
    NotJson {
        name: String,
        error: serde_json::Error,
    },
    #[error(
        "{name} has no schema_version: it is not an extmatrix report; give the report \
         `extmatrix run --json` wrote"
    )]
    NoVersion { name: String },
    #[error(
        "{name} was written by schema_version {found}, this extmatrix reads {SCHEMA_VERSION}: \
         run the matrix again with this version, or read it with the extmatrix that wrote it"
    )]
    OtherVersion { name: String, found: String },
    #[error("{name} is not a report of schema_version {SCHEMA_VERSION}: {error}")]
    NotAReport {
        name: String,
        error: serde_json::Error,
    },
    #[error(
        "{name} is of an interrupted run ({signal}): {not_run} cells did not run; use a \
         complete run as the baseline"
    )]
    Interrupted {
        name: String,
        signal: String,
        not_run: usize,
    },
}

/// The report in `text` (the file `name`), when it can be a baseline: a
/// report of a complete run.
pub fn read_baseline(text: &str, name: &str) -> Result<Report, ReportError> {
    let report = read_report(text, name)?;
    if let Some(interrupted) = &report.interrupted {
        return Err(ReportError::Interrupted {
            name: name.to_owned(),
            signal: interrupted.signal.clone(),
            not_run: interrupted.not_run.len(),
        });
    }
    Ok(report)
}

/// The report in `text` (the file `name`), when this version can read it.
pub fn read_report(text: &str, name: &str) -> Result<Report, ReportError> {
    let name = name.to_owned();
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|error| ReportError::NotJson {
            name: name.clone(),
            error,
        })?;
    match value.get("schema_version") {
        None => return Err(ReportError::NoVersion { name }),
        Some(v) if v.as_u64() != Some(u64::from(SCHEMA_VERSION)) => {
            return Err(ReportError::OtherVersion {
                name,
                found: v.to_string(),
            })
        }
        Some(_) => {}
    }
    serde_json::from_value(value).map_err(|error| ReportError::NotAReport { name, error })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::cell;
    use extmatrix_core::{Outcome, Scenario};
    use extmatrix_schema::Interruption;

    fn report_json(interrupted: Option<Interruption>) -> serde_json::Value {
        let mut report = Report::new(
            "m.yaml".into(),
            vec![],
            vec![cell("t", "cp312", Scenario::Reinit, Outcome::Crash)],
            0,
        );
        report.interrupted = interrupted;
        serde_json::to_value(report).unwrap()
    }

    #[test]
    fn a_complete_report_of_this_version_is_a_baseline() {
        let text = report_json(None).to_string();
        let report = read_baseline(&text, "b.json").unwrap();
        assert_eq!(report.cells.len(), 1);
        assert_eq!(report.cells[0].outcome, Outcome::Crash);
    }

    #[test]
    fn another_schema_version_is_refused_by_its_number() {
        let mut v = report_json(None);
        v["schema_version"] = serde_json::json!(SCHEMA_VERSION + 1);
        // Fields of another version may mean anything: not even parsed.
        v["cells"] = serde_json::json!("something else");
        let e = read_baseline(&v.to_string(), "baseline.json").unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "baseline.json was written by schema_version {}, this extmatrix reads \
                 {SCHEMA_VERSION}: run the matrix again with this version, or read it with the \
                 extmatrix that wrote it",
                SCHEMA_VERSION + 1
            )
        );
    }

    #[test]
    fn an_interrupted_run_can_be_read_but_is_no_baseline() {
        let v = report_json(Some(Interruption {
            signal: "SIGINT".into(),
            not_run: vec![],
        }));
        let report = read_report(&v.to_string(), "r.json").unwrap();
        assert_eq!(report.interrupted.unwrap().signal, "SIGINT");
        assert!(read_baseline(&v.to_string(), "r.json").is_err());
    }

    #[test]
    fn an_interrupted_run_is_refused_with_what_did_not_run() {
        let not_run = vec![cell("t", "cp313", Scenario::Reinit, Outcome::Pass).key; 2];
        let v = report_json(Some(Interruption {
            signal: "SIGTERM".into(),
            not_run,
        }));
        let e = read_baseline(&v.to_string(), "baseline.json").unwrap_err();
        assert_eq!(
            e.to_string(),
            "baseline.json is of an interrupted run (SIGTERM): 2 cells did not run; use a \
             complete run as the baseline"
        );
    }

    #[test]
    fn what_is_no_report_is_refused() {
        let e = read_baseline("not json", "b.json").unwrap_err();
        assert!(matches!(e, ReportError::NotJson { .. }), "{e}");
        let e = read_baseline("{\"cells\": []}", "b.json").unwrap_err();
        assert!(matches!(e, ReportError::NoVersion { .. }), "{e}");
        let e = read_baseline("{\"schema_version\": \"1\"}", "b.json").unwrap_err();
        assert!(matches!(e, ReportError::OtherVersion { .. }), "{e}");
        let e = read_baseline(
            &format!("{{\"schema_version\": {SCHEMA_VERSION}}}"),
            "b.json",
        )
        .unwrap_err();
        assert!(matches!(e, ReportError::NotAReport { .. }), "{e}");
    }
}
