//! Condition and filter expressions: comparisons, `BETWEEN`, `IN`, `AND`,
//! `OR`, `NOT`, parentheses and the functions `attribute_exists`,
//! `attribute_not_exists`, `attribute_type`, `begins_with`, `contains` and
//! `size`.

use super::lexer::Tok;
use super::parser::{Parser, Raw};
use super::{Context, ExprError, MAX_IN_OPERANDS, Path};
use crate::value::{AttributeValue, Item, Number};
use std::borrow::Cow;
use std::cmp::Ordering;

/// The type names `attribute_type` accepts.
const TYPE_NAMES: &[&str] = &["B", "BOOL", "BS", "L", "M", "N", "NS", "NULL", "S", "SS"];

/// A comparison operand.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Operand {
    Path(Path),
    Value(AttributeValue),
    Size(Path),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    pub fn symbol(self) -> &'static str {
        match self {
            Cmp::Eq => "=",
            Cmp::Ne => "<>",
            Cmp::Lt => "<",
            Cmp::Le => "<=",
            Cmp::Gt => ">",
            Cmp::Ge => ">=",
        }
    }

    fn from_tok(t: &Tok) -> Option<Cmp> {
        Some(match t {
            Tok::Eq => Cmp::Eq,
            Tok::Ne => Cmp::Ne,
            Tok::Lt => Cmp::Lt,
            Tok::Le => Cmp::Le,
            Tok::Gt => Cmp::Gt,
            Tok::Ge => Cmp::Ge,
            _ => return None,
        })
    }
}

/// A parsed condition.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Cond {
    Cmp(Cmp, Operand, Operand),
    Between(Operand, Operand, Operand),
    In(Operand, Vec<Operand>),
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Not(Box<Cond>),
    Exists(Path),
    NotExists(Path),
    Type(Path, Operand),
    BeginsWith(Path, Operand),
    Contains(Path, Operand),
}

/// A parsed ConditionExpression or FilterExpression.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub(super) root: Cond,
}

/// Parses a ConditionExpression or FilterExpression (`kind` names which, for messages).
pub fn parse_condition(src: &str, kind: &str, ctx: &mut Context) -> Result<Condition, ExprError> {
    Ok(Condition {
        root: parse_cond(src, kind, ctx)?,
    })
}

pub(super) fn parse_cond(src: &str, kind: &str, ctx: &mut Context) -> Result<Cond, ExprError> {
    let mut p = Parser::new(src, kind, ctx)?;
    let c = p.or()?;
    p.expect_end()?;
    Ok(c)
}

impl Condition {
    /// Whether `item` satisfies the condition (a missing item is evaluated as an empty Item).
    pub fn eval(&self, item: &Item) -> bool {
        eval(&self.root, item)
    }
}

impl Parser<'_, '_> {
    fn or(&mut self) -> Result<Cond, ExprError> {
        let mut parts = vec![self.and()?];
        while self.at_kw("OR") {
            self.advance();
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Cond::Or(parts)
        })
    }

    fn and(&mut self) -> Result<Cond, ExprError> {
        let mut parts = vec![self.not()?];
        while self.at_kw("AND") {
            self.advance();
            parts.push(self.not()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Cond::And(parts)
        })
    }

    fn not(&mut self) -> Result<Cond, ExprError> {
        if self.at_kw("NOT") {
            self.advance();
            self.enter()?;
            let inner = self.not()?;
            self.leave();
            return Ok(Cond::Not(Box::new(inner)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Cond, ExprError> {
        if *self.peek() == Tok::LParen {
            self.advance();
            self.enter()?;
            let c = self.or()?;
            self.expect(Tok::RParen)?;
            self.leave();
            return Ok(c);
        }
        let lhs = self.raw_operand()?;
        if let Some(op) = Cmp::from_tok(self.peek()) {
            self.advance();
            let rhs = self.raw_operand()?;
            let (a, b) = (self.operand(lhs)?, self.operand(rhs)?);
            self.distinct(op.symbol(), &a, [&b])?;
            return Ok(Cond::Cmp(op, a, b));
        }
        if self.at_kw("BETWEEN") {
            self.advance();
            let lo = self.raw_operand()?;
            if !self.at_kw("AND") {
                return Err(self.syntax());
            }
            self.advance();
            let hi = self.raw_operand()?;
            let (a, lo, hi) = (self.operand(lhs)?, self.operand(lo)?, self.operand(hi)?);
            self.distinct("BETWEEN", &a, [&lo, &hi])?;
            if let (Operand::Value(l), Operand::Value(h)) = (&lo, &hi) {
                check_bounds(l, h).map_err(|m| self.err(m))?;
            }
            return Ok(Cond::Between(a, lo, hi));
        }
        if self.at_kw("IN") {
            self.advance();
            self.expect(Tok::LParen)?;
            let mut raws = vec![self.raw_operand()?];
            while *self.peek() == Tok::Comma {
                self.advance();
                raws.push(self.raw_operand()?);
            }
            self.expect(Tok::RParen)?;
            if raws.len() > MAX_IN_OPERANDS {
                return Err(self.err(format!(
                    "The IN operator is provided with too many operands; number of operands: {}",
                    raws.len()
                )));
            }
            let a = self.operand(lhs)?;
            let list = raws
                .into_iter()
                .map(|r| self.operand(r))
                .collect::<Result<Vec<_>, _>>()?;
            self.distinct("IN", &a, list.iter())?;
            return Ok(Cond::In(a, list));
        }
        match lhs {
            Raw::Call(name, args) => self.function(&name, args),
            _ => Err(self.syntax()),
        }
    }

    /// DynamoDB refuses comparing a path with itself.
    fn distinct<'o>(
        &self,
        op: &str,
        first: &Operand,
        rest: impl IntoIterator<Item = &'o Operand>,
    ) -> Result<(), ExprError> {
        if let Operand::Path(p) = first
            && rest.into_iter().any(|o| o == first)
        {
            return Err(self.err(format!(
                "The first operand must be distinct from the remaining operands for this operator or function; operator: {op}, first operand: {}",
                p.bracketed()
            )));
        }
        Ok(())
    }

    /// A raw operand checked for use in a comparison.
    fn operand(&self, raw: Raw) -> Result<Operand, ExprError> {
        match raw {
            Raw::Path(p) => Ok(Operand::Path(p)),
            Raw::Value(v) => Ok(Operand::Value(v)),
            Raw::Call(name, args) => match name.as_str() {
                "size" => {
                    self.arity(&name, &args, 1)?;
                    match args.into_iter().next() {
                        Some(Raw::Path(p)) => Ok(Operand::Size(p)),
                        _ => Err(self.needs_path(&name)),
                    }
                }
                _ => Err(self.misused(&name)),
            },
        }
    }

    /// A function argument that must be a path or a value.
    fn arg(&self, raw: Raw) -> Result<Operand, ExprError> {
        match raw {
            Raw::Call(name, _) => Err(self.misused(&name)),
            other => self.operand(other),
        }
    }

    /// The error for a function where it may not be used, or an unknown one.
    fn misused(&self, name: &str) -> ExprError {
        match name {
            "attribute_exists"
            | "attribute_not_exists"
            | "attribute_type"
            | "begins_with"
            | "contains"
            | "size"
            | "if_not_exists"
            | "list_append" => self.err(format!(
                "The function is not allowed to be used this way in an expression; function: {name}"
            )),
            _ => self.err(format!("Invalid function name; function: {name}")),
        }
    }

    /// A function used as a condition.
    fn function(&self, name: &str, args: Vec<Raw>) -> Result<Cond, ExprError> {
        let want = match name {
            "attribute_exists" | "attribute_not_exists" => 1,
            "attribute_type" | "begins_with" | "contains" => 2,
            _ => return Err(self.misused(name)),
        };
        self.arity(name, &args, want)?;
        let mut it = args.into_iter();
        let Some(Raw::Path(path)) = it.next() else {
            return Err(self.needs_path(name));
        };
        let second = it.next().map(|r| self.arg(r)).transpose()?;
        Ok(match (name, second) {
            ("attribute_exists", _) => Cond::Exists(path),
            ("attribute_not_exists", _) => Cond::NotExists(path),
            ("attribute_type", Some(t)) => {
                if let Operand::Value(v) = &t {
                    let AttributeValue::S(s) = v else {
                        return Err(self.operand_type(name, v));
                    };
                    if !TYPE_NAMES.contains(&s.as_str()) {
                        return Err(self.err(format!(
                            "Invalid attribute type name found; type: {s}, valid types: {{ B,NULL,SS,BOOL,L,BS,N,NS,S,M }}"
                        )));
                    }
                }
                Cond::Type(path, t)
            }
            ("begins_with", Some(prefix)) => {
                if let Operand::Value(v) = &prefix
                    && !matches!(v, AttributeValue::S(_) | AttributeValue::B(_))
                {
                    return Err(self.operand_type(name, v));
                }
                Cond::BeginsWith(path, prefix)
            }
            (_, Some(x)) => Cond::Contains(path, x),
            (_, None) => return Err(self.misused(name)),
        })
    }
}

/// DynamoDB's check of constant BETWEEN bounds.
pub(super) fn check_bounds(lo: &AttributeValue, hi: &AttributeValue) -> Result<(), String> {
    if lo.key_cmp(hi) == Some(Ordering::Greater) {
        return Err(format!(
            "The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower operand: AttributeValue: {{{}:{}}}, upper operand: AttributeValue: {{{}:{}}}",
            lo.type_name(),
            show(lo),
            hi.type_name(),
            show(hi)
        ));
    }
    Ok(())
}

fn show(v: &AttributeValue) -> String {
    match v {
        AttributeValue::S(s) => s.clone(),
        AttributeValue::N(n) => n.to_string(),
        other => other.to_json().to_string(),
    }
}

/// The value an operand stands for in `item`.
fn resolve<'a>(op: &'a Operand, item: &'a Item) -> Option<Cow<'a, AttributeValue>> {
    match op {
        Operand::Path(p) => p.get(item).map(Cow::Borrowed),
        Operand::Value(v) => Some(Cow::Borrowed(v)),
        Operand::Size(p) => size(p.get(item)?).map(|n| Cow::Owned(AttributeValue::N(n))),
    }
}

/// `size()`: bytes of S (UTF-8) and B, elements of sets, lists and maps;
/// no value for other types.
fn size(v: &AttributeValue) -> Option<Number> {
    let n = match v {
        AttributeValue::S(s) => s.len(),
        AttributeValue::B(b) => b.len(),
        AttributeValue::Ss(s) => s.len(),
        AttributeValue::Ns(s) => s.len(),
        AttributeValue::Bs(s) => s.len(),
        AttributeValue::L(l) => l.len(),
        AttributeValue::M(m) => m.len(),
        _ => return None,
    };
    Some(Number::from_i64(i64::try_from(n).ok()?))
}

fn compare(op: Cmp, a: Option<&AttributeValue>, b: Option<&AttributeValue>) -> bool {
    // A missing operand is equal to nothing, so `<>` holds.
    let (Some(a), Some(b)) = (a, b) else {
        return op == Cmp::Ne;
    };
    match op {
        Cmp::Eq => a.same(b),
        Cmp::Ne => !a.same(b),
        _ => match a.key_cmp(b) {
            Some(o) => match op {
                Cmp::Lt => o == Ordering::Less,
                Cmp::Le => o != Ordering::Greater,
                Cmp::Gt => o == Ordering::Greater,
                _ => o != Ordering::Less,
            },
            None => false,
        },
    }
}

fn contains(hay: &AttributeValue, needle: &AttributeValue) -> bool {
    use AttributeValue as V;
    match (hay, needle) {
        (V::S(s), V::S(x)) => s.contains(x.as_str()),
        (V::B(b), V::B(x)) => x.is_empty() || b.windows(x.len()).any(|w| w == x.as_slice()),
        (V::Ss(s), V::S(x)) => s.contains(x),
        (V::Ns(s), V::N(x)) => s.contains(x),
        (V::Bs(s), V::B(x)) => s.contains(x),
        (V::L(l), x) => l.iter().any(|e| e.same(x)),
        _ => false,
    }
}

pub(super) fn eval(c: &Cond, item: &Item) -> bool {
    use AttributeValue as V;
    match c {
        Cond::Cmp(op, a, b) => compare(
            *op,
            resolve(a, item).as_deref(),
            resolve(b, item).as_deref(),
        ),
        Cond::Between(a, lo, hi) => {
            compare(
                Cmp::Ge,
                resolve(a, item).as_deref(),
                resolve(lo, item).as_deref(),
            ) && compare(
                Cmp::Le,
                resolve(a, item).as_deref(),
                resolve(hi, item).as_deref(),
            )
        }
        Cond::In(a, list) => match resolve(a, item) {
            Some(v) => list
                .iter()
                .any(|o| resolve(o, item).is_some_and(|w| v.same(&w))),
            None => false,
        },
        Cond::And(parts) => parts.iter().all(|p| eval(p, item)),
        Cond::Or(parts) => parts.iter().any(|p| eval(p, item)),
        Cond::Not(inner) => !eval(inner, item),
        Cond::Exists(p) => p.get(item).is_some(),
        Cond::NotExists(p) => p.get(item).is_none(),
        Cond::Type(p, t) => match (p.get(item), resolve(t, item).as_deref()) {
            (Some(v), Some(V::S(t))) => v.type_name() == t,
            _ => false,
        },
        Cond::BeginsWith(p, prefix) => match (p.get(item), resolve(prefix, item).as_deref()) {
            (Some(V::S(s)), Some(V::S(x))) => s.starts_with(x.as_str()),
            (Some(V::B(b)), Some(V::B(x))) => b.starts_with(x.as_slice()),
            _ => false,
        },
        Cond::Contains(p, x) => match (p.get(item), resolve(x, item)) {
            (Some(v), Some(x)) => contains(v, &x),
            _ => false,
        },
    }
}
