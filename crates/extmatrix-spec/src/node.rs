//! A YAML document as a tree of located nodes.
//!
//! serde-saphyr does the YAML work (syntax, aliases, merge keys, duplicate
//! keys, resource budgets) and its [`serde_saphyr::Spanned`] wrapper records
//! where every node starts. Deserializing the document into this untyped tree,
//! keys included, means every key and value keeps its `line:column`, and the
//! validation in `lib.rs` can point at exactly the node it rejects.

use crate::Location;
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Budget, DuplicateKeyPolicy, MessageFormatter, Spanned, UserMessageFormatter};
use std::fmt;

/// One YAML node and where it starts in the file.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub at: Location,
    pub value: Value,
}

/// The resolved value of a node (YAML 1.2 core schema: `yes` is a string).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Entries in file order. Keys are unique (the parser rejects duplicates).
    Map(Vec<(Node, Node)>),
}

/// A YAML error the parser reported, with its own location.
#[derive(Debug)]
pub(crate) struct YamlError {
    pub at: Location,
    pub message: String,
}

/// Deepest nesting of collections accepted (a valid matrix file needs 4).
const MAX_DEPTH: usize = 16;

/// Most nodes accepted, counting alias expansions (stops "billion laughs").
const MAX_NODES: usize = 100_000;

/// Parse one YAML document into a located tree.
pub(crate) fn parse(text: &str) -> Result<Node, YamlError> {
    // A matrix file is four levels deep; a low nesting cap keeps absurd
    // input from exhausting the stack of the recursive tree building.
    let mut budget = Budget::default();
    budget.max_depth = MAX_DEPTH;
    budget.flow_nesting_limit = MAX_DEPTH;
    budget.max_nodes = MAX_NODES;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    options.duplicate_keys = DuplicateKeyPolicy::Error;
    options.strict_booleans = true;
    // `.nan` / `.inf` become strings instead of a parse error; validation
    // then reports them as a wrong type at their own location.
    options.reject_non_finite_typeless_float = false;
    options.with_snippet = false;
    serde_saphyr::from_str_with_options::<Node>(text, options).map_err(yaml_error)
}

fn yaml_error(err: serde_saphyr::Error) -> YamlError {
    let err = err.without_snippet();
    let at = err
        .location()
        .map(location)
        // Every error must name a place; the few without one (budget
        // exhaustion, for instance) concern the document as a whole.
        .filter(|at| at.line > 0)
        .unwrap_or(Location { line: 1, column: 1 });
    let message = match err {
        serde_saphyr::Error::DuplicateMappingKey { key: Some(key), .. } => {
            format!("duplicate key `{key}`; each key may appear only once in a mapping")
        }
        serde_saphyr::Error::DuplicateMappingKey { key: None, .. } => {
            "duplicate key; each key may appear only once in a mapping".to_owned()
        }
        // An error inside an aliased node repeats the location of every alias
        // on the way; `at` already names the first, so keep just the message.
        serde_saphyr::Error::AliasError { msg, .. } => {
            let msg = msg.split(" at line ").next().unwrap_or(msg);
            format!("invalid YAML: {msg}")
        }
        other => format!(
            "invalid YAML: {}",
            UserMessageFormatter.format_message(other)
        ),
    };
    YamlError { at, message }
}

fn location(loc: serde_saphyr::Location) -> Location {
    Location {
        line: usize::try_from(loc.line()).unwrap_or(usize::MAX),
        column: usize::try_from(loc.column()).unwrap_or(usize::MAX),
    }
}

impl Value {
    /// What this value is, for "expected X, found Y" messages.
    pub fn describe(&self) -> String {
        match self {
            Value::Null => "nothing (null)".to_owned(),
            Value::Bool(b) => format!("boolean {b}"),
            Value::Int(i) => format!("integer {i}"),
            Value::Float(f) => format!("number {f}"),
            Value::Str(s) => format!("string {}", quote_truncated(s)),
            Value::Seq(_) => "a list".to_owned(),
            Value::Map(_) => "a mapping".to_owned(),
        }
    }

    /// The text of a scalar, as a key would be named in a message.
    pub fn key_text(&self) -> String {
        match self {
            Value::Str(s) => s.escape_debug().to_string(),
            Value::Null => "null".to_owned(),
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => f.to_string(),
            Value::Seq(_) => "[...]".to_owned(),
            Value::Map(_) => "{...}".to_owned(),
        }
    }
}

/// `"text"` with escapes, cut short if long.
fn quote_truncated(s: &str) -> String {
    const MAX_CHARS: usize = 60;
    if s.chars().count() <= MAX_CHARS {
        format!("{s:?}")
    } else {
        let head: String = s.chars().take(MAX_CHARS).collect();
        format!("{head:?}...")
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<Value>::deserialize(deserializer)?;
        Ok(Node {
            // `referenced` is where the node is used: for an alias, the `*name`.
            at: location(spanned.referenced),
            value: spanned.value,
        })
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML node")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        Value::deserialize(deserializer)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Int(v.into()))
    }
    fn visit_i128<E>(self, v: i128) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u128<E>(self, v: u128) -> Result<Value, E> {
        Ok(i128::try_from(v).map_or(Value::Float(v as f64), Value::Int))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_char<E>(self, v: char) -> Result<Value, E> {
        Ok(Value::Str(v.to_string()))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }
    fn visit_bytes<E>(self, v: &[u8]) -> Result<Value, E> {
        Ok(Value::Str(String::from_utf8_lossy(v).into_owned()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(Value::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry::<Node, Node>()? {
            entries.push(entry);
        }
        Ok(Value::Map(entries))
    }
}
