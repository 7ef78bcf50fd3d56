//! DynamoDB's expression language: condition and filter expressions, update
//! expressions, projection expressions and key condition expressions, with
//! DynamoDB's validation messages.
//!
//! Every `parse_*` function checks the expression's size, tokenizes it and
//! parses it with a recursive-descent parser whose nesting is capped at
//! [`MAX_DEPTH`], so no input can panic it or exhaust the stack. Names
//! (`#n`) and values (`:v`) are resolved against a [`Context`] at parse time,
//! which records which entries were used for [`Context::check_unused`].

use crate::value::{AttributeValue, Item};
use std::collections::{HashMap, HashSet};
use std::fmt;

mod condition;
mod keycond;
mod lexer;
mod parser;
mod projection;
mod reserved;
mod update;

#[cfg(test)]
mod cases;
#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;

pub use condition::{Condition, parse_condition};
pub use keycond::{KeyOp, parse_key_condition};
pub use projection::{parse_projection, project};
pub use update::{Update, parse_update};

/// The longest expression DynamoDB accepts, in bytes.
pub const MAX_EXPRESSION_BYTES: usize = 4096;

/// The deepest nesting of parentheses, `NOT`s and function calls accepted.
pub const MAX_DEPTH: usize = 100;

/// The most operands the right-hand side of `IN` may have.
pub const MAX_IN_OPERANDS: usize = 100;

/// A validation failure; `.0` is DynamoDB's ValidationException message, complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprError(pub String);

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ExprError {}

/// One step of a document path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PathElem {
    Attr(String),
    Index(usize),
}

/// A document path after substitution of `#names`: `a.b[2].c`. Never empty; starts with Attr.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Path(pub Vec<PathElem>);

impl Path {
    /// A top-level attribute's path.
    pub fn attr(name: impl Into<String>) -> Path {
        Path(vec![PathElem::Attr(name.into())])
    }

    /// The top-level attribute the path starts at.
    pub fn top(&self) -> &str {
        match self.0.first() {
            Some(PathElem::Attr(a)) => a,
            _ => "",
        }
    }

    /// The value at the path, if the item has one there.
    pub fn get<'a>(&self, item: &'a Item) -> Option<&'a AttributeValue> {
        let (first, rest) = self.0.split_first()?;
        let PathElem::Attr(top) = first else {
            return None;
        };
        let mut cur = item.get(top)?;
        for elem in rest {
            cur = step(cur, elem)?;
        }
        Some(cur)
    }

    /// DynamoDB's rendering in overlap messages: `[a, b, [2]]`.
    pub fn bracketed(&self) -> String {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|e| match e {
                PathElem::Attr(a) => a.clone(),
                PathElem::Index(i) => format!("[{i}]"),
            })
            .collect();
        format!("[{}]", parts.join(", "))
    }
}

/// One step down a value.
fn step<'a>(v: &'a AttributeValue, elem: &PathElem) -> Option<&'a AttributeValue> {
    match (elem, v) {
        (PathElem::Attr(k), AttributeValue::M(m)) => m.get(k),
        (PathElem::Index(i), AttributeValue::L(l)) => l.get(*i),
        _ => None,
    }
}

impl fmt::Display for Path {
    /// The expression form: `a.b[2].c`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            match e {
                PathElem::Attr(a) if i == 0 => f.write_str(a)?,
                PathElem::Attr(a) => write!(f, ".{a}")?,
                PathElem::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// One request's ExpressionAttributeNames and ExpressionAttributeValues, tracking which are used.
#[derive(Debug, Clone, Default)]
pub struct Context {
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
    used_names: HashSet<String>,
    used_values: HashSet<String>,
}

impl Context {
    pub fn new(names: HashMap<String, String>, values: HashMap<String, AttributeValue>) -> Context {
        Context {
            names,
            values,
            used_names: HashSet::new(),
            used_values: HashSet::new(),
        }
    }

    /// Called after all the request's expressions were parsed: DynamoDB's error for unused entries:
    /// "Value provided in ExpressionAttributeNames unused in expressions: keys: {#a, #b}" and
    /// "Value provided in ExpressionAttributeValues unused in expressions: keys: {:x}" (names checked first).
    pub fn check_unused(&self) -> Result<(), ExprError> {
        fn unused<'a>(
            keys: impl Iterator<Item = &'a String>,
            used: &HashSet<String>,
        ) -> Vec<&'a str> {
            let mut v: Vec<&str> = keys
                .filter(|k| !used.contains(*k))
                .map(String::as_str)
                .collect();
            v.sort_unstable();
            v
        }
        let names = unused(self.names.keys(), &self.used_names);
        if !names.is_empty() {
            return Err(ExprError(format!(
                "Value provided in ExpressionAttributeNames unused in expressions: keys: {{{}}}",
                names.join(", ")
            )));
        }
        let values = unused(self.values.keys(), &self.used_values);
        if !values.is_empty() {
            return Err(ExprError(format!(
                "Value provided in ExpressionAttributeValues unused in expressions: keys: {{{}}}",
                values.join(", ")
            )));
        }
        Ok(())
    }

    /// The attribute name `#key` stands for, marking it used.
    fn name(&mut self, key: &str) -> Option<String> {
        let v = self.names.get(key)?.clone();
        if !self.used_names.contains(key) {
            self.used_names.insert(key.to_string());
        }
        Some(v)
    }

    /// The value `:key` stands for, marking it used.
    fn value(&mut self, key: &str) -> Option<AttributeValue> {
        let v = self.values.get(key)?.clone();
        if !self.used_values.contains(key) {
            self.used_values.insert(key.to_string());
        }
        Some(v)
    }
}

/// How two paths of one expression relate, for DynamoDB's overlap check.
fn path_clash(a: &Path, b: &Path) -> Option<&'static str> {
    for (x, y) in a.0.iter().zip(&b.0) {
        match (x, y) {
            _ if x == y => {}
            (PathElem::Attr(_), PathElem::Attr(_)) | (PathElem::Index(_), PathElem::Index(_)) => {
                return None;
            }
            _ => return Some("conflict"),
        }
    }
    Some("overlap")
}

/// DynamoDB's check that no two paths of an update or projection overlap
/// (one equal to or a prefix of the other) or conflict (one indexes a list
/// where the other names a map key).
fn check_overlaps(paths: &[&Path]) -> Result<(), String> {
    for (i, a) in paths.iter().enumerate() {
        for b in &paths[i + 1..] {
            if let Some(what) = path_clash(a, b) {
                return Err(format!(
                    "Two document paths {what} with each other; must remove or rewrite one of these paths; path one: {}, path two: {}",
                    a.bracketed(),
                    b.bracketed()
                ));
            }
        }
    }
    Ok(())
}
