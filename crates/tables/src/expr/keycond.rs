//! KeyConditionExpression: the condition language restricted to one or two
//! conditions, joined by `AND`, each comparing a top-level key attribute with
//! a value.

use super::condition::{Cmp, Cond, Operand, check_bounds, parse_cond};
use super::{Context, ExprError, Path, PathElem};
use crate::value::AttributeValue;

const KIND: &str = "KeyConditionExpression";

/// One key condition.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyOp {
    Eq(AttributeValue),
    Lt(AttributeValue),
    Le(AttributeValue),
    Gt(AttributeValue),
    Ge(AttributeValue),
    Between(AttributeValue, AttributeValue),
    BeginsWith(AttributeValue),
}

fn invalid(msg: impl std::fmt::Display) -> ExprError {
    ExprError(format!("Invalid {KIND}: {msg}"))
}

fn bad_operator(op: &str) -> ExprError {
    ExprError(format!("Invalid operator used in {KIND}: {op}"))
}

/// KeyConditionExpression: one or two conditions joined by AND (either order, parentheses
/// allowed), each on a top-level attribute name. Returns (attribute name, op) pairs in source order.
pub fn parse_key_condition(
    src: &str,
    ctx: &mut Context,
) -> Result<Vec<(String, KeyOp)>, ExprError> {
    let root = parse_cond(src, KIND, ctx)?;
    let mut leaves = Vec::new();
    flatten(root, &mut leaves)?;
    // Two conditions for a key of one partition and one sort attribute; a
    // multi-attribute key of an index has up to four of each (the query
    // checks the count against the key it reads).
    if leaves.len() > 2 * crate::schema::MAX_KEY_ATTRIBUTES {
        return Err(ExprError(
            "Conditions can be of length 1 or 2 only".to_string(),
        ));
    }
    let mut out: Vec<(String, KeyOp)> = Vec::new();
    for leaf in leaves {
        let (name, op) = key_op(leaf)?;
        if out.iter().any(|(n, _)| *n == name) {
            return Err(ExprError(
                "KeyConditionExpressions must only contain one condition per key".to_string(),
            ));
        }
        out.push((name, op));
    }
    Ok(out)
}

/// The conditions joined by (possibly nested) ANDs, refusing other connectives.
fn flatten(c: Cond, out: &mut Vec<Cond>) -> Result<(), ExprError> {
    match c {
        Cond::And(parts) => parts.into_iter().try_for_each(|p| flatten(p, out)),
        Cond::Or(_) => Err(bad_operator("OR")),
        Cond::Not(_) => Err(bad_operator("NOT")),
        other => {
            out.push(other);
            Ok(())
        }
    }
}

/// The key attribute a path names, if it is a top-level one.
fn key_name(p: Path) -> Result<String, ExprError> {
    let shown = p.to_string();
    match <[PathElem; 1]>::try_from(p.0) {
        Ok([PathElem::Attr(name)]) => Ok(name),
        _ => Err(invalid(format!(
            "Key conditions may only use top-level attributes; path: {shown}"
        ))),
    }
}

fn uses_size(ops: &[&Operand]) -> bool {
    ops.iter().any(|o| matches!(o, Operand::Size(_)))
}

fn not_key_and_value() -> ExprError {
    invalid("Each key condition must compare a key attribute with an expression attribute value")
}

fn key_op(c: Cond) -> Result<(String, KeyOp), ExprError> {
    match c {
        Cond::Cmp(op, a, b) => {
            if op == Cmp::Ne {
                return Err(bad_operator("<>"));
            }
            if uses_size(&[&a, &b]) {
                return Err(bad_operator("size"));
            }
            let (path, v, op) = match (a, b) {
                (Operand::Path(p), Operand::Value(v)) => (p, v, op),
                // `:v < k` is `k > :v`.
                (Operand::Value(v), Operand::Path(p)) => {
                    let flipped = match op {
                        Cmp::Lt => Cmp::Gt,
                        Cmp::Le => Cmp::Ge,
                        Cmp::Gt => Cmp::Lt,
                        Cmp::Ge => Cmp::Le,
                        other => other,
                    };
                    (p, v, flipped)
                }
                _ => return Err(not_key_and_value()),
            };
            let name = key_name(path)?;
            let op = match op {
                Cmp::Eq => KeyOp::Eq(v),
                Cmp::Lt => KeyOp::Lt(v),
                Cmp::Le => KeyOp::Le(v),
                Cmp::Gt => KeyOp::Gt(v),
                Cmp::Ge | Cmp::Ne => KeyOp::Ge(v),
            };
            Ok((name, op))
        }
        Cond::Between(a, lo, hi) => {
            if uses_size(&[&a, &lo, &hi]) {
                return Err(bad_operator("size"));
            }
            match (a, lo, hi) {
                (Operand::Path(p), Operand::Value(lo), Operand::Value(hi)) => {
                    check_bounds(&lo, &hi).map_err(invalid)?;
                    Ok((key_name(p)?, KeyOp::Between(lo, hi)))
                }
                _ => Err(not_key_and_value()),
            }
        }
        Cond::BeginsWith(p, prefix) => match prefix {
            Operand::Value(v) => Ok((key_name(p)?, KeyOp::BeginsWith(v))),
            _ => Err(not_key_and_value()),
        },
        Cond::In(..) => Err(bad_operator("IN")),
        Cond::Exists(_) => Err(bad_operator("attribute_exists")),
        Cond::NotExists(_) => Err(bad_operator("attribute_not_exists")),
        Cond::Type(..) => Err(bad_operator("attribute_type")),
        Cond::Contains(..) => Err(bad_operator("contains")),
        Cond::And(_) => Err(bad_operator("AND")),
        Cond::Or(_) => Err(bad_operator("OR")),
        Cond::Not(_) => Err(bad_operator("NOT")),
    }
}
