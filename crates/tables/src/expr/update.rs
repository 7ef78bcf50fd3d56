//! UpdateExpression: `SET`, `REMOVE`, `ADD` and `DELETE` clauses, and
//! applying them to an item.

use super::lexer::Tok;
use super::parser::{Parser, Raw};
use super::{Context, ExprError, Path, PathElem, check_overlaps};
use crate::value::{AttributeValue, Item};

const KIND: &str = "UpdateExpression";

/// A value a `SET` action computes.
#[derive(Debug, Clone, PartialEq)]
enum Operand {
    Path(Path),
    Value(AttributeValue),
    IfNotExists(Path, Box<Operand>),
    ListAppend(Box<Operand>, Box<Operand>),
}

#[derive(Debug, Clone, PartialEq)]
enum SetValue {
    One(Operand),
    Plus(Operand, Operand),
    Minus(Operand, Operand),
}

#[derive(Debug, Clone, PartialEq)]
enum Action {
    Set(Path, SetValue),
    Remove(Path),
    Add(Path, AttributeValue),
    Delete(Path, AttributeValue),
}

impl Action {
    fn path(&self) -> &Path {
        match self {
            Action::Set(p, _) | Action::Remove(p) | Action::Add(p, _) | Action::Delete(p, _) => p,
        }
    }
}

/// A parsed UpdateExpression.
#[derive(Debug, Clone, PartialEq)]
pub struct Update {
    actions: Vec<Action>,
}

/// Parses an UpdateExpression.
pub fn parse_update(src: &str, ctx: &mut Context) -> Result<Update, ExprError> {
    let mut p = Parser::new(src, KIND, ctx)?;
    let mut actions = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    loop {
        if *p.peek() == Tok::Eof && !seen.is_empty() {
            break;
        }
        let Some(clause) = ["SET", "REMOVE", "ADD", "DELETE"]
            .into_iter()
            .find(|k| p.at_kw(k))
        else {
            return Err(p.syntax());
        };
        if seen.contains(&clause) {
            return Err(p.err(format!(
                "The \"{clause}\" section can only be used once in an update expression;"
            )));
        }
        seen.push(clause);
        p.advance();
        loop {
            actions.push(p.action(clause)?);
            if *p.peek() != Tok::Comma {
                break;
            }
            p.advance();
        }
    }
    let paths: Vec<&Path> = actions.iter().map(Action::path).collect();
    check_overlaps(&paths).map_err(|m| p.err(m))?;
    Ok(Update { actions })
}

/// DynamoDB's (Java) names of types in ADD/DELETE operand errors.
fn long_type_name(v: &AttributeValue) -> &'static str {
    match v {
        AttributeValue::S(_) => "STRING",
        AttributeValue::N(_) => "NUMBER",
        AttributeValue::B(_) => "BINARY",
        AttributeValue::Bool(_) => "BOOLEAN",
        AttributeValue::Null => "NULL",
        AttributeValue::M(_) => "MAP",
        AttributeValue::L(_) => "LIST",
        AttributeValue::Ss(_) => "STRING_SET",
        AttributeValue::Ns(_) => "NUMBER_SET",
        AttributeValue::Bs(_) => "BINARY_SET",
    }
}

fn is_set(v: &AttributeValue) -> bool {
    matches!(
        v,
        AttributeValue::Ss(_) | AttributeValue::Ns(_) | AttributeValue::Bs(_)
    )
}

impl Parser<'_, '_> {
    fn action(&mut self, clause: &str) -> Result<Action, ExprError> {
        let path = self.path()?;
        match clause {
            "SET" => {
                self.expect(Tok::Eq)?;
                let a = self.set_operand()?;
                let value = match self.peek() {
                    Tok::Plus | Tok::Minus => {
                        let (op, plus) = if *self.peek() == Tok::Plus {
                            ("+", true)
                        } else {
                            ("-", false)
                        };
                        self.advance();
                        let b = self.set_operand()?;
                        for o in [&a, &b] {
                            if let Operand::Value(v) = o
                                && !matches!(v, AttributeValue::N(_))
                            {
                                return Err(self.operand_type(op, v));
                            }
                        }
                        if plus {
                            SetValue::Plus(a, b)
                        } else {
                            SetValue::Minus(a, b)
                        }
                    }
                    _ => SetValue::One(a),
                };
                Ok(Action::Set(path, value))
            }
            "REMOVE" => Ok(Action::Remove(path)),
            _ => {
                let (_, v) = self.value()?;
                let (ok, set_name) = if clause == "ADD" {
                    (
                        is_set(&v) || matches!(v, AttributeValue::N(_)),
                        "ALLOWED_FOR_ADD_OPERAND",
                    )
                } else {
                    (is_set(&v), "ALLOWED_FOR_DELETE_OPERAND")
                };
                if !ok {
                    return Err(self.err(format!(
                        "Incorrect operand type for operator or function; operator: {clause}, operand type: {}, typeSet: {set_name}",
                        long_type_name(&v)
                    )));
                }
                Ok(if clause == "ADD" {
                    Action::Add(path, v)
                } else {
                    Action::Delete(path, v)
                })
            }
        }
    }

    fn set_operand(&mut self) -> Result<Operand, ExprError> {
        let raw = self.raw_operand()?;
        self.update_operand(raw)
    }

    fn update_operand(&self, raw: Raw) -> Result<Operand, ExprError> {
        let (name, args) = match raw {
            Raw::Path(p) => return Ok(Operand::Path(p)),
            Raw::Value(v) => return Ok(Operand::Value(v)),
            Raw::Call(name, args) => (name, args),
        };
        match name.as_str() {
            "if_not_exists" | "list_append" => self.arity(&name, &args, 2)?,
            "attribute_exists"
            | "attribute_not_exists"
            | "attribute_type"
            | "begins_with"
            | "contains"
            | "size" => {
                return Err(self.err(format!(
                    "The function is not allowed in an update expression; function: {name}"
                )));
            }
            _ => return Err(self.err(format!("Invalid function name; function: {name}"))),
        }
        // `arity` checked there are exactly two.
        let Ok::<[Raw; 2], _>([first, second]) = args.try_into() else {
            return Err(self.syntax());
        };
        if name == "if_not_exists" {
            let Raw::Path(p) = first else {
                return Err(self.needs_path(&name));
            };
            return Ok(Operand::IfNotExists(
                p,
                Box::new(self.update_operand(second)?),
            ));
        }
        let (a, b) = (self.update_operand(first)?, self.update_operand(second)?);
        for o in [&a, &b] {
            if let Operand::Value(v) = o
                && !matches!(v, AttributeValue::L(_))
            {
                return Err(self.operand_type(&name, v));
            }
        }
        Ok(Operand::ListAppend(Box::new(a), Box::new(b)))
    }
}

fn invalid_path() -> ExprError {
    ExprError(
        "The document path provided in the update expression is invalid for update".to_string(),
    )
}

fn wrong_type() -> ExprError {
    ExprError("An operand in the update expression has an incorrect data type".to_string())
}

fn operand_type(op: &str, v: &AttributeValue) -> ExprError {
    ExprError(format!(
        "Invalid {KIND}: Incorrect operand type for operator or function; operator or function: {op}, operand type: {}",
        v.type_name()
    ))
}

fn eval(o: &Operand, item: &Item) -> Result<AttributeValue, ExprError> {
    match o {
        Operand::Path(p) => p.get(item).cloned().ok_or_else(|| {
            ExprError(
                "The provided expression refers to an attribute that does not exist in the item"
                    .to_string(),
            )
        }),
        Operand::Value(v) => Ok(v.clone()),
        Operand::IfNotExists(p, default) => match p.get(item) {
            Some(v) => Ok(v.clone()),
            None => eval(default, item),
        },
        Operand::ListAppend(a, b) => match (eval(a, item)?, eval(b, item)?) {
            (AttributeValue::L(mut x), AttributeValue::L(y)) => {
                x.extend(y);
                Ok(AttributeValue::L(x))
            }
            (AttributeValue::L(_), other) | (other, _) => Err(operand_type("list_append", &other)),
        },
    }
}

fn arithmetic(
    op: &str,
    a: &Operand,
    b: &Operand,
    item: &Item,
) -> Result<AttributeValue, ExprError> {
    match (eval(a, item)?, eval(b, item)?) {
        (AttributeValue::N(x), AttributeValue::N(y)) => {
            let r = if op == "+" { x.add(&y) } else { x.sub(&y) };
            r.map(AttributeValue::N)
                .map_err(|e| ExprError(e.message().to_string()))
        }
        (AttributeValue::N(_), other) | (other, _) => Err(operand_type(op, &other)),
    }
}

/// The union of two sets of one type (`None` if they are not).
fn set_union(old: &AttributeValue, add: &AttributeValue) -> Option<AttributeValue> {
    fn union<T: Clone + PartialEq>(a: &[T], b: &[T]) -> Vec<T> {
        let mut out = a.to_vec();
        for x in b {
            if !out.contains(x) {
                out.push(x.clone());
            }
        }
        out
    }
    use AttributeValue as V;
    Some(match (old, add) {
        (V::Ss(a), V::Ss(b)) => V::Ss(union(a, b)),
        (V::Ns(a), V::Ns(b)) => V::Ns(union(a, b)),
        (V::Bs(a), V::Bs(b)) => V::Bs(union(a, b)),
        _ => return None,
    })
}

/// `old` without the elements of `del`; `Some(None)` when nothing is left.
fn set_difference(old: &AttributeValue, del: &AttributeValue) -> Option<Option<AttributeValue>> {
    fn minus<T: Clone + PartialEq>(a: &[T], b: &[T]) -> Vec<T> {
        a.iter().filter(|x| !b.contains(x)).cloned().collect()
    }
    use AttributeValue as V;
    let v = match (old, del) {
        (V::Ss(a), V::Ss(b)) => V::Ss(minus(a, b)),
        (V::Ns(a), V::Ns(b)) => V::Ns(minus(a, b)),
        (V::Bs(a), V::Bs(b)) => V::Bs(minus(a, b)),
        _ => return None,
    };
    let empty = match &v {
        V::Ss(s) => s.is_empty(),
        V::Ns(s) => s.is_empty(),
        V::Bs(s) => s.is_empty(),
        _ => false,
    };
    Some(if empty { None } else { Some(v) })
}

/// Checks that the container `path` would be written into exists and has
/// the right type (a map for a name, a list for an index).
fn check_parent(path: &Path, item: &Item) -> Result<(), ExprError> {
    let Some((last, parent)) = path.0.split_last() else {
        return Err(invalid_path());
    };
    if parent.is_empty() {
        return Ok(());
    }
    match (last, Path(parent.to_vec()).get(item)) {
        (PathElem::Attr(_), Some(AttributeValue::M(_)))
        | (PathElem::Index(_), Some(AttributeValue::L(_))) => Ok(()),
        _ => Err(invalid_path()),
    }
}

/// The container holding `path`'s last element, for writing.
fn parent_mut<'a>(
    item: &'a mut Item,
    path: &Path,
) -> Result<Option<&'a mut AttributeValue>, ExprError> {
    let Some((_, parent)) = path.0.split_last() else {
        return Err(invalid_path());
    };
    let Some((PathElem::Attr(top), rest)) = parent.split_first() else {
        return Ok(None);
    };
    let mut cur = item.get_mut(top).ok_or_else(invalid_path)?;
    for elem in rest {
        cur = match (elem, cur) {
            (PathElem::Attr(k), AttributeValue::M(m)) => m.get_mut(k),
            (PathElem::Index(i), AttributeValue::L(l)) => l.get_mut(*i),
            _ => None,
        }
        .ok_or_else(invalid_path)?;
    }
    Ok(Some(cur))
}

fn put(item: &mut Item, path: &Path, v: AttributeValue) -> Result<(), ExprError> {
    let last = path.0.last().ok_or_else(invalid_path)?;
    match (parent_mut(item, path)?, last) {
        (None, PathElem::Attr(k)) => {
            item.insert(k.clone(), v);
        }
        (Some(AttributeValue::M(m)), PathElem::Attr(k)) => {
            m.insert(k.clone(), v);
        }
        (Some(AttributeValue::L(l)), PathElem::Index(i)) => match l.get_mut(*i) {
            Some(slot) => *slot = v,
            None => l.push(v),
        },
        _ => return Err(invalid_path()),
    }
    Ok(())
}

fn remove(item: &mut Item, path: &Path) -> Result<(), ExprError> {
    let last = path.0.last().ok_or_else(invalid_path)?;
    match (parent_mut(item, path)?, last) {
        (None, PathElem::Attr(k)) => {
            item.remove(k);
        }
        (Some(AttributeValue::M(m)), PathElem::Attr(k)) => {
            m.remove(k);
        }
        (Some(AttributeValue::L(l)), PathElem::Index(i)) => {
            if *i < l.len() {
                l.remove(*i);
            }
        }
        _ => return Err(invalid_path()),
    }
    Ok(())
}

impl Update {
    /// Apply to `item` in place (all right-hand sides evaluated against the item as it was BEFORE
    /// the update, as DynamoDB does). On error the item may be partly changed; the caller keeps a copy.
    ///
    /// Every action's result is computed from the unchanged item first; then
    /// the writes are made in path order (so `SET l[10] = :a, l[11] = :b`
    /// appends in index order) and the removals last, from the highest list
    /// index down, so indexes keep meaning what they meant before the update.
    pub fn apply(&self, item: &mut Item) -> Result<(), ExprError> {
        let mut puts: Vec<(&Path, AttributeValue)> = Vec::new();
        let mut removes: Vec<&Path> = Vec::new();
        for action in &self.actions {
            let before: &Item = item;
            match action {
                Action::Set(p, value) => {
                    let v = match value {
                        SetValue::One(o) => eval(o, before)?,
                        SetValue::Plus(a, b) => arithmetic("+", a, b, before)?,
                        SetValue::Minus(a, b) => arithmetic("-", a, b, before)?,
                    };
                    check_parent(p, before)?;
                    puts.push((p, v));
                }
                Action::Remove(p) => {
                    check_parent(p, before)?;
                    if p.get(before).is_some() {
                        removes.push(p);
                    }
                }
                Action::Add(p, add) => {
                    check_parent(p, before)?;
                    let v = match (p.get(before), add) {
                        (None, v) => v.clone(),
                        (Some(AttributeValue::N(old)), AttributeValue::N(n)) => AttributeValue::N(
                            old.add(n).map_err(|e| ExprError(e.message().to_string()))?,
                        ),
                        (Some(old), v) => set_union(old, v).ok_or_else(wrong_type)?,
                    };
                    puts.push((p, v));
                }
                Action::Delete(p, del) => {
                    check_parent(p, before)?;
                    if let Some(old) = p.get(before) {
                        match set_difference(old, del).ok_or_else(wrong_type)? {
                            Some(v) => puts.push((p, v)),
                            None => removes.push(p),
                        }
                    }
                }
            }
        }
        puts.sort_by(|a, b| a.0.cmp(b.0));
        for (p, v) in puts {
            put(item, p, v)?;
        }
        removes.sort_by(|a, b| b.cmp(a));
        for p in removes {
            remove(item, p)?;
        }
        Ok(())
    }

    /// Every path the update sets, removes, adds to or deletes from (for ReturnValues
    /// UPDATED_OLD/UPDATED_NEW and key-attribute checks).
    pub fn paths(&self) -> Vec<Path> {
        self.actions.iter().map(|a| a.path().clone()).collect()
    }
}
