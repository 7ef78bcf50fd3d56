//! ProjectionExpression: comma-separated document paths, and applying them.

use super::lexer::Tok;
use super::parser::Parser;
use super::{Context, ExprError, Path, PathElem, check_overlaps};
use crate::value::{AttributeValue, Item};
use std::collections::BTreeMap;

/// Parses a ProjectionExpression: `a, b.c, #d[2]`.
pub fn parse_projection(src: &str, ctx: &mut Context) -> Result<Vec<Path>, ExprError> {
    let mut p = Parser::new(src, "ProjectionExpression", ctx)?;
    let mut paths = vec![p.path()?];
    while *p.peek() == Tok::Comma {
        p.advance();
        paths.push(p.path()?);
    }
    p.expect_end()?;
    let refs: Vec<&Path> = paths.iter().collect();
    check_overlaps(&refs).map_err(|m| p.err(m))?;
    Ok(paths)
}

/// What to keep of one value: all of it, or some map keys and list elements.
#[derive(Default)]
struct Keep {
    all: bool,
    keys: BTreeMap<String, Keep>,
    indexes: BTreeMap<usize, Keep>,
}

impl Keep {
    fn add(&mut self, elems: &[PathElem]) {
        let Some((first, rest)) = elems.split_first() else {
            self.all = true;
            return;
        };
        let child = match first {
            PathElem::Attr(k) => self.keys.entry(k.clone()).or_default(),
            PathElem::Index(i) => self.indexes.entry(*i).or_default(),
        };
        child.add(rest);
    }

    /// The kept part of `v`; `None` when nothing asked for is there.
    fn apply(&self, v: &AttributeValue) -> Option<AttributeValue> {
        if self.all {
            return Some(v.clone());
        }
        match v {
            AttributeValue::M(m) if !self.keys.is_empty() => {
                let kept: BTreeMap<String, AttributeValue> = self
                    .keys
                    .iter()
                    .filter_map(|(k, keep)| Some((k.clone(), keep.apply(m.get(k)?)?)))
                    .collect();
                (!kept.is_empty()).then_some(AttributeValue::M(kept))
            }
            AttributeValue::L(l) if !self.indexes.is_empty() => {
                let kept: Vec<AttributeValue> = self
                    .indexes
                    .iter()
                    .filter_map(|(i, keep)| keep.apply(l.get(*i)?))
                    .collect();
                (!kept.is_empty()).then_some(AttributeValue::L(kept))
            }
            _ => None,
        }
    }
}

/// DynamoDB's projection: keeps only the listed paths, preserving nesting: `a.b` -> {a: {M: {b: ..}}};
/// `l[3]` -> {l: {L: [that element]}} (several indexes of one list keep list order); missing paths
/// are just absent.
pub fn project(item: &Item, paths: &[Path]) -> Item {
    let mut keep = Keep::default();
    for p in paths {
        if matches!(p.0.first(), Some(PathElem::Attr(_))) {
            keep.add(&p.0);
        }
    }
    keep.keys
        .iter()
        .filter_map(|(k, kp)| Some((k.clone(), kp.apply(item.get(k)?)?)))
        .collect()
}
