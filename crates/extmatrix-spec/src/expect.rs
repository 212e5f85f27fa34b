//! Expectations: a target's `expect:` and the expectations file of
//! `--expect FILE` (the same mappings by target name, kept beside a CI
//! workflow). Both read into `extmatrix_core::expect::Expectation`s whose
//! `origin` is where the pattern stands, `file:line:col`, so a later
//! message ("matches no cell", "met by …") can point at it.

use crate::node::{Node, Value};
use crate::{Context, Matrix, Once, SpecError};
use extmatrix_core::expect::{CellPattern, Expectation};
use extmatrix_core::pattern::is_module_pattern;
use extmatrix_core::{Outcome, Scenario};
use std::path::Path;

/// What `expect:` is, said wherever it is malformed.
const EXPECT_FORM: &str = "`expect` must be a mapping from cell patterns (`scenario`, \
     `python/scenario` or `module/python/scenario`, with `*` and `?`) to an outcome or a list \
     of outcomes, like {subinterp-own: refused, \"*/reinit\": crash}";

/// Read the expectations file at `path`: a mapping from target names of
/// `matrix` to what their `expect:` would hold. A name the matrix lacks is
/// an error at that name.
pub fn load_expectations(path: &Path, matrix: &Matrix) -> Result<Vec<Expectation>, SpecError> {
    let text = crate::read_yaml_text(path, "expectations file")?;
    parse_expectations(&text, path, matrix)
}

/// [`load_expectations`] on text, as if read from `path`.
pub fn parse_expectations(
    text: &str,
    path: &Path,
    matrix: &Matrix,
) -> Result<Vec<Expectation>, SpecError> {
    let cx = Context::new(path);
    let root = crate::node::parse(text).map_err(|err| cx.error(err.at, err.message))?;
    let Value::Map(entries) = &root.value else {
        return Err(cx.wrong_type(
            &root,
            "an expectations file must be a mapping from target names to their expectations, \
             like `crash_on_reinit: {\"*/reinit\": crash}`",
        ));
    };
    let names: Vec<&str> = matrix.targets.iter().map(|t| t.name.as_str()).collect();
    let mut expectations = Vec::new();
    for (key, value) in entries {
        let name = cx.string(key, "a target name must be a string")?;
        if !names.contains(&name) {
            return Err(cx.error(
                key.at,
                format!(
                    "no target `{name}` in {}; its targets: {}",
                    matrix.source.display(),
                    names.join(", ")
                ),
            ));
        }
        expectations.extend(cx.expectations(value, name)?);
    }
    Ok(expectations)
}

impl Matrix {
    /// Every expectation of every target, in file order.
    pub fn expectations(&self) -> impl Iterator<Item = &Expectation> {
        self.targets.iter().flat_map(|t| t.expect.iter())
    }

    /// Add expectations read from elsewhere (an expectations file) to the
    /// targets they name; [`load_expectations`] has checked the names.
    pub fn add_expectations(&mut self, expectations: Vec<Expectation>) {
        for expectation in expectations {
            if let Some(target) = self
                .targets
                .iter_mut()
                .find(|t| t.name == expectation.target)
            {
                target.expect.push(expectation);
            }
        }
    }
}

impl Context<'_> {
    /// `expect: {pattern: outcome | [outcome, ...]}` of target `target`.
    pub(crate) fn expectations(
        &self,
        node: &Node,
        target: &str,
    ) -> Result<Vec<Expectation>, SpecError> {
        let Value::Map(entries) = &node.value else {
            return Err(self.wrong_type(node, EXPECT_FORM));
        };
        if entries.is_empty() {
            return Err(self.error(
                node.at,
                format!("`expect` of `{target}` is empty; leave it out to expect nothing"),
            ));
        }
        entries
            .iter()
            .map(|(pattern, outcomes)| {
                Ok(Expectation {
                    target: target.to_owned(),
                    cells: self.cell_pattern(pattern)?,
                    outcomes: self.expected_outcomes(outcomes)?,
                    origin: format!("{}:{}", self.path.display(), pattern.at),
                })
            })
            .collect()
    }

    /// A pattern key: its form (`CellPattern::parse`) and each part's words.
    fn cell_pattern(&self, node: &Node) -> Result<CellPattern, SpecError> {
        let text = self.string(node, EXPECT_FORM)?;
        let pattern = CellPattern::parse(text).map_err(|m| self.error(node.at, m))?;
        let bad = |m: String| Err(self.error(node.at, format!("`{text}`: {m}")));
        if let Some(module) = &pattern.module {
            if !is_module_pattern(module) {
                return bad(format!(
                    "the module part `{module}` is not a module pattern: dotted parts of ASCII \
                     letters, digits and `_`, with `*`, `?` or a whole part `**`"
                ));
            }
        }
        if !is_word_pattern(&pattern.python, |c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c)
        }) {
            return bad(format!(
                "the interpreter part `{}` is not an interpreter id pattern (lowercase letters, \
                 digits, `_`, `.`, `-`, with `*` and `?`, like cp313t or cp31?)",
                pattern.python
            ));
        }
        if let Some(problem) = scenario_problem(&pattern.scenario) {
            return bad(problem);
        }
        Ok(pattern)
    }

    /// An outcome id or a non-empty list of them, each once.
    fn expected_outcomes(&self, node: &Node) -> Result<Vec<Outcome>, SpecError> {
        let expected = format!(
            "an expectation is an outcome or a list of outcomes ({})",
            Outcome::allowed_ids()
        );
        let items = match &node.value {
            Value::Str(_) => std::slice::from_ref(node),
            Value::Seq(items) if !items.is_empty() => items.as_slice(),
            Value::Seq(_) => {
                return Err(self.error(
                    node.at,
                    format!("an empty list expects no outcome; {expected}"),
                ))
            }
            _ => return Err(self.wrong_type(node, &expected)),
        };
        let mut seen = Once::default();
        let mut outcomes = Vec::with_capacity(items.len());
        for item in items {
            let outcome: Outcome = self
                .string(item, &expected)?
                .parse()
                .map_err(|m: String| self.error(item.at, m))?;
            seen.check(self, outcome, item.at, |first| {
                format!("outcome `{outcome}` is listed twice (first at {first})")
            })?;
            outcomes.push(outcome);
        }
        Ok(outcomes)
    }
}

/// Whether `pattern` is made of `allowed` characters and the wildcards.
fn is_word_pattern(pattern: &str, allowed: impl Fn(char) -> bool) -> bool {
    pattern.chars().all(|c| allowed(c) || c == '*' || c == '?')
}

/// Why a scenario part names no scenario: a word without wildcards must be
/// a scenario id (a typo would otherwise only show as "matches no cell").
fn scenario_problem(part: &str) -> Option<String> {
    let wild = part.contains(['*', '?']);
    let known_word = |c: char| c.is_ascii_lowercase() || c == '-';
    if wild && is_word_pattern(part, known_word) {
        return None;
    }
    match part.parse::<Scenario>() {
        Ok(_) => None,
        Err(_) => Some(format!(
            "the scenario part `{part}` is not a scenario; allowed: {} (or a pattern like \
             `subinterp-*`)",
            Scenario::allowed_ids()
        )),
    }
}
