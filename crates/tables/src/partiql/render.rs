//! Rendering the syntax tree as DynamoDB expression texts, allocating a `#nK`
//! placeholder per distinct attribute name and a `:vK` placeholder per value.

use super::Where;
use super::parser::{Action, Cond, Elem, Func, Operand, PPath, SetValue, UOperand};
use crate::value::AttributeValue;
use std::collections::HashMap;
use std::fmt::Write as _;

#[derive(Default)]
pub(super) struct Renderer {
    pub names: HashMap<String, String>,
    by_name: HashMap<String, String>,
    pub values: HashMap<String, AttributeValue>,
}

impl Renderer {
    fn name(&mut self, attr: &str) -> String {
        if let Some(k) = self.by_name.get(attr) {
            return k.clone();
        }
        let key = format!("#n{}", self.names.len());
        self.names.insert(key.clone(), attr.to_string());
        self.by_name.insert(attr.to_string(), key.clone());
        key
    }

    fn value(&mut self, v: &AttributeValue) -> String {
        let key = format!(":v{}", self.values.len());
        self.values.insert(key.clone(), v.clone());
        key
    }

    fn path(&mut self, p: &PPath) -> String {
        let mut out = String::new();
        for (i, e) in p.0.iter().enumerate() {
            match e {
                Elem::Attr(a) => {
                    if i > 0 {
                        out.push('.');
                    }
                    let k = self.name(a);
                    out.push_str(&k);
                }
                Elem::Index(n) => {
                    let _ = write!(out, "[{n}]");
                }
            }
        }
        out
    }

    pub fn projection(&mut self, paths: &[PPath]) -> String {
        let parts: Vec<String> = paths.iter().map(|p| self.path(p)).collect();
        parts.join(", ")
    }

    fn operand(&mut self, o: &Operand) -> String {
        match o {
            Operand::Path(p) => self.path(p),
            Operand::Value(v) => self.value(v),
            Operand::Size(p) => format!("size({})", self.path(p)),
        }
    }

    /// The condition text; `And`/`Or` children are parenthesized where precedence needs it.
    fn cond(&mut self, c: &Cond) -> String {
        match c {
            Cond::Cmp(a, op, b) => {
                let a = self.operand(a);
                let b = self.operand(b);
                format!("{a} {op} {b}")
            }
            Cond::Between(a, lo, hi) => {
                let a = self.operand(a);
                let lo = self.operand(lo);
                let hi = self.operand(hi);
                format!("{a} BETWEEN {lo} AND {hi}")
            }
            Cond::In(a, list) => {
                let a = self.operand(a);
                let list: Vec<String> = list.iter().map(|o| self.operand(o)).collect();
                format!("{a} IN ({})", list.join(", "))
            }
            Cond::And(parts) => {
                let parts: Vec<String> = parts
                    .iter()
                    .map(|p| match p {
                        Cond::Or(_) => format!("({})", self.cond(p)),
                        _ => self.cond(p),
                    })
                    .collect();
                parts.join(" AND ")
            }
            Cond::Or(parts) => {
                let parts: Vec<String> = parts.iter().map(|p| self.cond(p)).collect();
                parts.join(" OR ")
            }
            Cond::Not(inner) => match **inner {
                Cond::And(_) | Cond::Or(_) => format!("NOT ({})", self.cond(inner)),
                _ => format!("NOT {}", self.cond(inner)),
            },
            Cond::Func(f, p, arg) => {
                let p = self.path(p);
                let arg = self.operand(arg);
                format!("{}({p}, {arg})", f.name())
            }
            Cond::Exists(p) => format!("attribute_exists({})", self.path(p)),
            Cond::NotExists(p) => format!("attribute_not_exists({})", self.path(p)),
        }
    }

    /// The WHERE clause: its text, and its top-level key-like conjuncts.
    pub fn filter(&mut self, c: &Cond) -> Where {
        let condition = self.cond(c);
        let conjuncts = match c {
            Cond::And(parts) => parts.as_slice(),
            one => std::slice::from_ref(one),
        };
        let mut equalities = Vec::new();
        let mut ranges = Vec::new();
        for c in conjuncts {
            match c {
                Cond::Cmp(a, op, b) => {
                    let (attr, op, v) = match (a, b) {
                        (Operand::Path(p), Operand::Value(v)) => (p, *op, v),
                        (Operand::Value(v), Operand::Path(p)) => (p, flip(op), v),
                        _ => continue,
                    };
                    let Some(attr) = attr.top_only() else {
                        continue;
                    };
                    match op {
                        "=" => equalities.push((attr.to_string(), v.clone())),
                        "<" | "<=" | ">" | ">=" => {
                            ranges.push((attr.to_string(), op.to_string(), vec![v.clone()]));
                        }
                        _ => {}
                    }
                }
                Cond::Between(Operand::Path(p), Operand::Value(lo), Operand::Value(hi)) => {
                    if let Some(attr) = p.top_only() {
                        ranges.push((
                            attr.to_string(),
                            "BETWEEN".to_string(),
                            vec![lo.clone(), hi.clone()],
                        ));
                    }
                }
                Cond::Func(Func::BeginsWith, p, Operand::Value(v)) => {
                    if let Some(attr) = p.top_only() {
                        ranges.push((attr.to_string(), "begins_with".to_string(), vec![v.clone()]));
                    }
                }
                _ => {}
            }
        }
        Where {
            condition,
            equalities,
            ranges,
        }
    }

    fn update_operand(&mut self, o: &UOperand) -> String {
        match o {
            UOperand::Path(p) => self.path(p),
            UOperand::Value(v) => self.value(v),
            UOperand::IfNotExists(p, v) => {
                let p = self.path(p);
                let v = self.update_operand(v);
                format!("if_not_exists({p}, {v})")
            }
            UOperand::ListAppend(a, b) => {
                let a = self.update_operand(a);
                let b = self.update_operand(b);
                format!("list_append({a}, {b})")
            }
        }
    }

    /// The UpdateExpression: one clause per kind (SET, REMOVE, ADD, DELETE), actions in source order.
    pub fn update(&mut self, actions: &[Action]) -> String {
        let (mut set, mut remove, mut add, mut delete) = (vec![], vec![], vec![], vec![]);
        for a in actions {
            match a {
                Action::Set(p, v) => {
                    let p = self.path(p);
                    let v = match v {
                        SetValue::One(a) => self.update_operand(a),
                        SetValue::Plus(a, b) => {
                            let a = self.update_operand(a);
                            format!("{a} + {}", self.update_operand(b))
                        }
                        SetValue::Minus(a, b) => {
                            let a = self.update_operand(a);
                            format!("{a} - {}", self.update_operand(b))
                        }
                    };
                    set.push(format!("{p} = {v}"));
                }
                Action::Remove(p) => remove.push(self.path(p)),
                Action::Add(p, v) => {
                    let p = self.path(p);
                    add.push(format!("{p} {}", self.value(v)));
                }
                Action::Delete(p, v) => {
                    let p = self.path(p);
                    delete.push(format!("{p} {}", self.value(v)));
                }
            }
        }
        let mut clauses = Vec::new();
        for (kw, items) in [
            ("SET", set),
            ("REMOVE", remove),
            ("ADD", add),
            ("DELETE", delete),
        ] {
            if !items.is_empty() {
                clauses.push(format!("{kw} {}", items.join(", ")));
            }
        }
        clauses.join(" ")
    }
}

/// The operator with its operands swapped: `5 < a` is `a > 5`.
fn flip(op: &'static str) -> &'static str {
    match op {
        "<" => ">",
        "<=" => ">=",
        ">" => "<",
        ">=" => "<=",
        other => other,
    }
}
