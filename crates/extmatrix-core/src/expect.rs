//! Expectations: the outcomes a project expects of some of its cells (a
//! known crash, a refusal it means), so that a CI job fails on what is new
//! and not forever on what is known. A matrix target's `expect:` and an
//! expectations file (`--expect FILE`) both read into [`Expectation`]s;
//! `extmatrix-verdict` holds the cells to them.

use crate::Outcome;

/// Which cells of one target a pattern names.
///
/// Written `scenario`, `python/scenario` or `module/python/scenario`; each
/// part may use `*` and `?` (`subinterp-*`, `cp313t/*`, `*/reinit`). A
/// part left out matches everything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellPattern {
    pub module: Option<String>,
    pub python: String,
    pub scenario: String,
}

/// One pattern of one target and the outcomes it allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expectation {
    /// The matrix target's name.
    pub target: String,
    pub cells: CellPattern,
    /// Any of these meets the expectation.
    pub outcomes: Vec<Outcome>,
    /// Where it was written, `file:line:col`, for messages.
    pub origin: String,
}

impl CellPattern {
    /// Parse `scenario`, `python/scenario` or `module/python/scenario`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let parts: Vec<&str> = text.split('/').collect();
        if parts.iter().any(|p| p.trim().is_empty()) {
            return Err(format!(
                "`{text}`: a cell pattern is `scenario`, `python/scenario` or \
                 `module/python/scenario`, with no empty part (`*` matches anything)"
            ));
        }
        let owned = |s: &str| s.trim().to_owned();
        match parts.as_slice() {
            [scenario] => Ok(CellPattern {
                module: None,
                python: "*".into(),
                scenario: owned(scenario),
            }),
            [python, scenario] => Ok(CellPattern {
                module: None,
                python: owned(python),
                scenario: owned(scenario),
            }),
            [module, python, scenario] => Ok(CellPattern {
                module: Some(owned(module)),
                python: owned(python),
                scenario: owned(scenario),
            }),
            _ => Err(format!(
                "`{text}`: a cell pattern has at most three parts, `module/python/scenario`"
            )),
        }
    }

    /// Whether the cell (`module`, `python`, `scenario` ids) is one of these.
    pub fn matches(&self, module: &str, python: &str, scenario: &str) -> bool {
        self.matches_module(module) && self.matches_python_scenario(python, scenario)
    }

    /// Whether the module part (none: every module) matches `module`.
    pub fn matches_module(&self, module: &str) -> bool {
        self.module
            .as_deref()
            .is_none_or(|m| crate::pattern::module_matches(m, module))
    }

    /// Whether the interpreter and scenario parts match: all a plan can
    /// check, before the modules of a build are known.
    pub fn matches_python_scenario(&self, python: &str, scenario: &str) -> bool {
        let word = crate::pattern::word_matches;
        word(&self.python, python) && word(&self.scenario, scenario)
    }
}

impl std::fmt::Display for CellPattern {
    /// `module/python/scenario`, or `python/scenario` without a module part.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(module) = &self.module {
            write!(f, "{module}/")?;
        }
        write!(f, "{}/{}", self.python, self.scenario)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pattern_has_one_to_three_parts_and_left_out_ones_match_all() {
        let p = CellPattern::parse("subinterp-own").unwrap();
        assert!(p.matches("any.mod", "cp312", "subinterp-own"));
        assert!(!p.matches("any.mod", "cp312", "subinterp-shared"));
        let p = CellPattern::parse("cp313t/*").unwrap();
        assert!(p.matches("m", "cp313t", "reinit"));
        assert!(!p.matches("m", "cp313", "reinit"));
        let p = CellPattern::parse("*/reinit").unwrap();
        assert!(p.matches("m", "cp311d", "reinit"));
        assert!(!p.matches("m", "cp311d", "reimport"));
        let p = CellPattern::parse("pkg.*/cp31?/subinterp-*").unwrap();
        assert!(p.matches("pkg._speedups", "cp312", "subinterp-legacy"));
        assert!(!p.matches("other", "cp312", "subinterp-legacy"));
        assert!(!p.matches("pkg._speedups", "cp312", "reinit"));
    }

    #[test]
    fn a_pattern_shows_its_parts() {
        for text in ["cp313t/*", "pkg.*/cp31?/subinterp-*"] {
            assert_eq!(CellPattern::parse(text).unwrap().to_string(), text);
        }
        assert_eq!(
            CellPattern::parse("reinit").unwrap().to_string(),
            "*/reinit"
        );
    }

    #[test]
    fn empty_or_extra_parts_are_refused_with_the_forms_allowed() {
        for bad in ["", "cp313/", "/reinit", "a/b/c/d"] {
            let e = CellPattern::parse(bad).unwrap_err();
            assert!(e.contains("scenario"), "{bad}: {e}");
        }
    }
}
