//! JSONPath as the States Language uses it: `InputPath`, `OutputPath`,
//! `ItemsPath`, `.$` fields and `Variable` select with paths (`$.a.b[0]`,
//! `$['a b']`, `$.items[*].id`, `$..name`, `$.a[1:3]`, `$.a[0,2]`); `ResultPath`
//! and the choice rules' `Variable` accept reference paths only (fields and
//! indexes, one node). `$$` paths select from the context object. Filter
//! expressions select array elements (`$.items[?(@.price < 10 && @.stock)]`)
//! as Step Functions' JSONPath (Jayway's) evaluates them: comparisons of
//! numbers and of strings, `==`/`!=` of any values (numbers and strings by
//! value, a missing side unequal to everything), existence, `!`, `&&`, `||`,
//! parentheses, `@` for the element and `$` for the root (evaluated once per
//! filter). Jayway's other operators (`=~`, `in`, `size`, ...) and filters
//! inside a filter's operands are refused.

use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq)]
enum Seg {
    Field(String),
    Index(i64),
    Wildcard,
    Slice(Option<i64>, Option<i64>, i64),
    Union(Vec<Seg>),
    Descend(Box<Seg>),
    /// `[?(...)]`: the elements of an array (or an object itself) the
    /// expression holds for.
    Filter(Box<Expr>),
}

/// A filter expression.
#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Or(Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Cmp(Operand, Cmp, Operand),
    /// A bare operand: a path that selects something, or a true literal.
    Holds(Operand),
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    /// `@...`: from the element being filtered.
    Current(Path),
    /// `$...`: from the document's root.
    Root(Path),
    Literal(Value),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A parsed path. `definite` paths select one node (or none).
#[derive(Debug, Clone, PartialEq)]
pub struct Path {
    pub text: String,
    /// Starts with `$$`: selects from the context object.
    pub context: bool,
    /// Starts with `$name`: selects from the workflow variable `name`.
    pub var: Option<String>,
    segs: Vec<Seg>,
}

impl Path {
    pub fn parse(text: &str) -> Result<Path, String> {
        let (context, rest) = if let Some(r) = text.strip_prefix("$$") {
            (true, r)
        } else if let Some(r) = text.strip_prefix('$') {
            (false, r)
        } else {
            return Err(format!(
                "The value for the field must be a valid JSONPath: '{text}'"
            ));
        };
        // `$name...`: a workflow variable.
        let ident = rest
            .bytes()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == b'_')
            .count();
        let (var, rest) = if !context && ident > 0 {
            (Some(rest[..ident].to_string()), &rest[ident..])
        } else {
            (None, rest)
        };
        let b = rest.as_bytes();
        let mut i = 0;
        let mut segs = Vec::new();
        let bad = || format!("The value for the field must be a valid JSONPath: '{text}'");
        while i < b.len() {
            match b[i] {
                b'.' => {
                    let descend = b.get(i + 1) == Some(&b'.');
                    i += if descend { 2 } else { 1 };
                    let start = i;
                    if b.get(i) == Some(&b'*') {
                        i += 1;
                        segs.push(wrap(descend, Seg::Wildcard));
                        continue;
                    }
                    if descend && b.get(i) == Some(&b'[') {
                        let (seg, next) = bracket(rest, i).ok_or_else(bad)?;
                        segs.push(Seg::Descend(Box::new(seg)));
                        i = next;
                        continue;
                    }
                    while i < b.len() && b[i] != b'.' && b[i] != b'[' {
                        i += 1;
                    }
                    if i == start {
                        return Err(bad());
                    }
                    segs.push(wrap(descend, Seg::Field(rest[start..i].to_string())));
                }
                b'[' => {
                    let (seg, next) = bracket(rest, i).ok_or_else(bad)?;
                    segs.push(seg);
                    i = next;
                }
                _ => return Err(bad()),
            }
        }
        Ok(Path {
            text: text.to_string(),
            context,
            var,
            segs,
        })
    }

    /// Whether the path selects at most one node (a reference path).
    pub fn is_reference(&self) -> bool {
        self.segs
            .iter()
            .all(|s| matches!(s, Seg::Field(_) | Seg::Index(_)))
    }

    /// The node(s) the path selects in `root`: for a reference path the node,
    /// or `None` when it is absent; otherwise an array of every match.
    pub fn select(&self, root: &Value) -> Option<Value> {
        if self.is_reference() {
            let mut at = root;
            for seg in &self.segs {
                at = match seg {
                    Seg::Field(f) => at.as_object()?.get(f)?,
                    Seg::Index(n) => {
                        let a = at.as_array()?;
                        let n = if *n < 0 { a.len() as i64 + n } else { *n };
                        a.get(usize::try_from(n).ok()?)?
                    }
                    _ => unreachable!("reference paths have fields and indexes only"),
                };
            }
            return Some(at.clone());
        }
        let mut nodes = vec![root];
        for seg in &self.segs {
            let mut next = Vec::new();
            for n in nodes {
                step(root, n, seg, &mut next);
            }
            nodes = next;
        }
        Some(Value::Array(nodes.into_iter().cloned().collect()))
    }

    /// Place `value` at this reference path inside `root`, making objects on
    /// the way as needed (`ResultPath`).
    pub fn set(&self, root: &mut Value, value: Value) -> Result<(), String> {
        if self.segs.is_empty() {
            *root = value;
            return Ok(());
        }
        let mut at = root;
        for (i, seg) in self.segs.iter().enumerate() {
            let last = i + 1 == self.segs.len();
            match seg {
                Seg::Field(f) => {
                    if at.is_null() {
                        *at = Value::Object(Map::new());
                    }
                    let Some(obj) = at.as_object_mut() else {
                        return Err(format!(
                            "Unable to apply ReturnPath '{}' to input: the path does not lead to an object",
                            self.text
                        ));
                    };
                    if last {
                        obj.insert(f.clone(), value);
                        return Ok(());
                    }
                    at = obj.entry(f.clone()).or_insert(Value::Null);
                }
                Seg::Index(n) => {
                    let Some(a) = at.as_array_mut() else {
                        return Err(format!(
                            "Unable to apply ReturnPath '{}' to input: the path does not lead to an array",
                            self.text
                        ));
                    };
                    let len = a.len() as i64;
                    let idx = if *n < 0 { len + n } else { *n };
                    let Some(slot) = usize::try_from(idx).ok().and_then(|i| a.get_mut(i)) else {
                        return Err(format!(
                            "Unable to apply ReturnPath '{}' to input: index out of bounds",
                            self.text
                        ));
                    };
                    if last {
                        *slot = value;
                        return Ok(());
                    }
                    at = slot;
                }
                _ => {
                    return Err(format!(
                        "ResultPath '{}' must be a reference path",
                        self.text
                    ));
                }
            }
        }
        Ok(())
    }
}

fn wrap(descend: bool, seg: Seg) -> Seg {
    if descend {
        Seg::Descend(Box::new(seg))
    } else {
        seg
    }
}

/// Parse `[...]` starting at `i` (the `[`); the segment and the index after `]`.
fn bracket(s: &str, i: usize) -> Option<(Seg, usize)> {
    let b = s.as_bytes();
    let mut j = i + 1;
    let mut parts = Vec::new();
    loop {
        while b.get(j) == Some(&b' ') {
            j += 1;
        }
        match *b.get(j)? {
            q @ (b'\'' | b'"') => {
                let mut out = String::new();
                j += 1;
                loop {
                    let c = *b.get(j)?;
                    if c == b'\\' {
                        let ch = s.get(j + 1..)?.chars().next()?;
                        out.push(ch);
                        j += 1 + ch.len_utf8();
                    } else if c == q {
                        j += 1;
                        break;
                    } else {
                        let ch = s[j..].chars().next()?;
                        out.push(ch);
                        j += ch.len_utf8();
                    }
                }
                parts.push(Seg::Field(out));
            }
            b'*' => {
                j += 1;
                parts.push(Seg::Wildcard);
            }
            b'?' if parts.is_empty() => {
                let (expr, next) = filter(s, j + 1)?;
                parts.push(Seg::Filter(Box::new(expr)));
                j = next;
            }
            _ => {
                let start = j;
                while j < b.len() && b[j] != b']' && b[j] != b',' {
                    j += 1;
                }
                let text = s[start..j].trim();
                if text.contains(':') {
                    let mut it = text.split(':');
                    let num = |t: Option<&str>| -> Option<Option<i64>> {
                        match t.map(str::trim) {
                            None | Some("") => Some(None),
                            Some(t) => t.parse().ok().map(Some),
                        }
                    };
                    let a = num(it.next())?;
                    let e = num(it.next())?;
                    let step = num(it.next())?.unwrap_or(1);
                    if step == 0 || it.next().is_some() {
                        return None;
                    }
                    parts.push(Seg::Slice(a, e, step));
                } else {
                    parts.push(Seg::Index(text.parse().ok()?));
                }
            }
        }
        while b.get(j) == Some(&b' ') {
            j += 1;
        }
        match *b.get(j)? {
            b']' => break,
            b',' => j += 1,
            _ => return None,
        }
    }
    let seg = if parts.len() == 1 {
        parts.pop()?
    } else {
        Seg::Union(parts)
    };
    Some((seg, j + 1))
}

/// Parse `(expression)` starting at `i` (the `(`): the expression and the
/// index after its `)`.
fn filter(s: &str, i: usize) -> Option<(Expr, usize)> {
    let b = s.as_bytes();
    if b.get(i) != Some(&b'(') {
        return None;
    }
    // The matching `)`, outside quotes.
    let mut depth = 0usize;
    let mut j = i;
    let mut quote: Option<u8> = None;
    loop {
        let c = *b.get(j)?;
        match quote {
            Some(_) if c == b'\\' => j += 1,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                b'\'' | b'"' => quote = Some(c),
                b'(' => depth += 1,
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                _ => {}
            },
        }
        j += 1;
    }
    let mut p = ExprParser {
        s: &s[i + 1..j],
        at: 0,
        depth: 0,
    };
    let expr = p.or()?;
    p.space();
    (p.at == p.s.len()).then_some((expr, j + 1))
}

/// How deep parentheses and `!` may nest in a filter.
const MAX_FILTER_DEPTH: usize = 32;

struct ExprParser<'a> {
    s: &'a str,
    at: usize,
    depth: usize,
}

impl ExprParser<'_> {
    fn space(&mut self) {
        while self.s.as_bytes().get(self.at) == Some(&b' ') {
            self.at += 1;
        }
    }

    fn eat(&mut self, token: &str) -> bool {
        self.space();
        if self.s[self.at..].starts_with(token) {
            self.at += token.len();
            true
        } else {
            false
        }
    }

    fn or(&mut self) -> Option<Expr> {
        let mut e = self.and()?;
        while self.eat("||") {
            e = Expr::Or(Box::new(e), Box::new(self.and()?));
        }
        Some(e)
    }

    fn and(&mut self) -> Option<Expr> {
        let mut e = self.unary()?;
        while self.eat("&&") {
            e = Expr::And(Box::new(e), Box::new(self.unary()?));
        }
        Some(e)
    }

    fn unary(&mut self) -> Option<Expr> {
        self.depth += 1;
        if self.depth > MAX_FILTER_DEPTH {
            return None;
        }
        let e = if self.s[self.at..].trim_start().starts_with("!=") {
            None
        } else if self.eat("!") {
            self.unary().map(|e| Expr::Not(Box::new(e)))
        } else if self.eat("(") {
            let e = self.or()?;
            self.eat(")").then_some(e)
        } else {
            let left = self.operand()?;
            let op = [
                ("==", Cmp::Eq),
                ("!=", Cmp::Ne),
                ("<=", Cmp::Le),
                (">=", Cmp::Ge),
                ("<", Cmp::Lt),
                (">", Cmp::Gt),
            ]
            .into_iter()
            .find(|(t, _)| self.eat(t));
            match op {
                Some((_, op)) => Some(Expr::Cmp(left, op, self.operand()?)),
                None => Some(Expr::Holds(left)),
            }
        };
        self.depth -= 1;
        e
    }

    fn operand(&mut self) -> Option<Operand> {
        self.space();
        let rest = &self.s[self.at..];
        let b = rest.as_bytes();
        match *b.first()? {
            c @ (b'@' | b'$') => {
                // The path runs to a space, an operator or a closing parenthesis
                // (brackets and quotes inside it are its own).
                let mut j = 1;
                let mut bracket = 0usize;
                let mut quote: Option<u8> = None;
                while let Some(&ch) = b.get(j) {
                    match quote {
                        Some(_) if ch == b'\\' => j += 1,
                        Some(q) if ch == q => quote = None,
                        Some(_) => {}
                        None => match ch {
                            b'\'' | b'"' if bracket > 0 => quote = Some(ch),
                            b'[' => bracket += 1,
                            b']' => bracket = bracket.checked_sub(1)?,
                            b' ' | b'=' | b'!' | b'<' | b'>' | b')' | b'&' | b'|'
                                if bracket == 0 =>
                            {
                                break;
                            }
                            _ => {}
                        },
                    }
                    j += 1;
                }
                let text = rest.get(1..j)?;
                // No filter inside a filter's operand: one level of
                // expressions, whose depth the parser bounds.
                if text.contains("[?") {
                    return None;
                }
                let path = Path::parse(&format!("${text}")).ok()?;
                if path.var.is_some() || path.context {
                    return None;
                }
                self.at += j;
                Some(if c == b'@' {
                    Operand::Current(path)
                } else {
                    Operand::Root(path)
                })
            }
            q @ (b'\'' | b'"') => {
                let mut out = String::new();
                let mut j = 1;
                loop {
                    let ch = rest.get(j..)?.chars().next()?;
                    j += ch.len_utf8();
                    if ch == '\\' {
                        let esc = rest.get(j..)?.chars().next()?;
                        j += esc.len_utf8();
                        out.push(esc);
                    } else if ch as u32 == u32::from(q) {
                        break;
                    } else {
                        out.push(ch);
                    }
                }
                self.at += j;
                Some(Operand::Literal(Value::String(out)))
            }
            _ => {
                let end = b
                    .iter()
                    .position(|c| {
                        matches!(c, b' ' | b'=' | b'!' | b'<' | b'>' | b')' | b'&' | b'|')
                    })
                    .unwrap_or(b.len());
                let word = &rest[..end];
                let value = match word {
                    "true" => Value::Bool(true),
                    "false" => Value::Bool(false),
                    "null" => Value::Null,
                    w => serde_json::from_str::<serde_json::Number>(w)
                        .ok()
                        .map(Value::Number)?,
                };
                self.at += end;
                Some(Operand::Literal(value))
            }
        }
    }
}

/// What an operand stands for at `node` (`None`: a path that selects
/// nothing). A path that may select several nodes stands for the list of
/// them, as in Jayway's JsonPath.
fn operand_value(node: &Value, o: &Operand) -> Option<Value> {
    match o {
        Operand::Current(p) => match p.select(node)? {
            Value::Array(a) if !p.is_reference() && a.is_empty() => None,
            v => Some(v),
        },
        Operand::Literal(v) => Some(v.clone()),
        // Resolved once per filter (see [`resolve_roots`]).
        Operand::Root(_) => None,
    }
}

/// `e` with its `$...` operands replaced by what they select in `root`
/// (evaluated once for all the elements a filter tests).
fn resolve_roots(e: &Expr, root: &Value) -> Expr {
    let operand = |o: &Operand| match o {
        Operand::Root(p) => match p.select(root) {
            Some(Value::Array(a)) if !p.is_reference() && a.is_empty() => Operand::Root(p.clone()),
            Some(v) => Operand::Literal(v),
            None => Operand::Root(p.clone()),
        },
        other => other.clone(),
    };
    match e {
        Expr::Or(a, b) => Expr::Or(
            Box::new(resolve_roots(a, root)),
            Box::new(resolve_roots(b, root)),
        ),
        Expr::And(a, b) => Expr::And(
            Box::new(resolve_roots(a, root)),
            Box::new(resolve_roots(b, root)),
        ),
        Expr::Not(a) => Expr::Not(Box::new(resolve_roots(a, root))),
        Expr::Cmp(l, op, r) => Expr::Cmp(operand(l), *op, operand(r)),
        // A root path's existence: true as a literal, false as itself.
        Expr::Holds(Operand::Root(p)) => match p.select(root) {
            Some(Value::Array(a)) if !p.is_reference() && a.is_empty() => {
                Expr::Holds(Operand::Root(p.clone()))
            }
            Some(_) => Expr::Holds(Operand::Literal(Value::Bool(true))),
            None => Expr::Holds(Operand::Root(p.clone())),
        },
        Expr::Holds(o) => Expr::Holds(o.clone()),
    }
}

/// Jayway's equality: numbers and strings compare by value across the two
/// (`3 == '3'`).
fn loosely_equal(l: &Value, r: &Value) -> bool {
    match (l, r) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::Number(n), Value::String(s)) | (Value::String(s), Value::Number(n)) => {
            s.trim().parse::<f64>().ok() == n.as_f64()
        }
        _ => l == r,
    }
}

fn holds(node: &Value, e: &Expr) -> bool {
    match e {
        Expr::Or(a, b) => holds(node, a) || holds(node, b),
        Expr::And(a, b) => holds(node, a) && holds(node, b),
        Expr::Not(a) => !holds(node, a),
        Expr::Holds(Operand::Literal(v)) => !matches!(v, Value::Null | Value::Bool(false)),
        Expr::Holds(o) => operand_value(node, o).is_some(),
        Expr::Cmp(l, op, r) => {
            let (l, r) = (operand_value(node, l), operand_value(node, r));
            // A side that selects nothing is undefined: `!=` holds, the rest
            // do not.
            let (Some(l), Some(r)) = (l, r) else {
                return *op == Cmp::Ne;
            };
            let order = match (&l, &r) {
                (Value::Number(a), Value::Number(b)) => a
                    .as_f64()
                    .zip(b.as_f64())
                    .and_then(|(a, b)| a.partial_cmp(&b)),
                (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
                _ => None,
            };
            use std::cmp::Ordering::*;
            match op {
                Cmp::Eq => loosely_equal(&l, &r),
                Cmp::Ne => !loosely_equal(&l, &r),
                Cmp::Lt => order == Some(Less),
                Cmp::Le => matches!(order, Some(Less | Equal)),
                Cmp::Gt => order == Some(Greater),
                Cmp::Ge => matches!(order, Some(Greater | Equal)),
            }
        }
    }
}

fn step<'a>(root: &Value, node: &'a Value, seg: &Seg, out: &mut Vec<&'a Value>) {
    match seg {
        Seg::Field(f) => {
            if let Some(v) = node.as_object().and_then(|o| o.get(f)) {
                out.push(v);
            }
        }
        Seg::Index(n) => {
            if let Some(a) = node.as_array() {
                let i = if *n < 0 { a.len() as i64 + n } else { *n };
                if let Some(v) = usize::try_from(i).ok().and_then(|i| a.get(i)) {
                    out.push(v);
                }
            }
        }
        Seg::Wildcard => match node {
            Value::Array(a) => out.extend(a.iter()),
            Value::Object(o) => out.extend(o.values()),
            _ => {}
        },
        Seg::Slice(start, end, st) => {
            if let Some(a) = node.as_array() {
                let len = a.len() as i64;
                let norm = |v: i64| if v < 0 { (len + v).max(0) } else { v.min(len) };
                if *st > 0 {
                    let (s, e) = (norm(start.unwrap_or(0)), norm(end.unwrap_or(len)));
                    let mut i = s;
                    while i < e {
                        out.push(&a[i as usize]);
                        let Some(next) = i.checked_add(*st) else {
                            break;
                        };
                        i = next;
                    }
                } else {
                    let s = start.map(norm).unwrap_or(len - 1).min(len - 1);
                    let e = end.map(norm).unwrap_or(-1);
                    let mut i = s;
                    while i > e && i >= 0 {
                        out.push(&a[i as usize]);
                        let Some(next) = i.checked_add(*st) else {
                            break;
                        };
                        i = next;
                    }
                }
            }
        }
        Seg::Union(parts) => {
            for p in parts {
                step(root, node, p, out);
            }
        }
        // A deep scan with a filter tests every object on the way once
        // (elements of arrays are reached by the walk itself).
        Seg::Descend(inner) if matches!(**inner, Seg::Filter(_)) => {
            let Seg::Filter(e) = &**inner else {
                return;
            };
            match node {
                Value::Object(o) => {
                    if holds(node, &resolve_roots(e, root)) {
                        out.push(node);
                    }
                    o.values().for_each(|c| step(root, c, seg, out));
                }
                Value::Array(a) => a.iter().for_each(|c| step(root, c, seg, out)),
                _ => {}
            }
        }
        Seg::Descend(inner) => {
            step(root, node, inner, out);
            match node {
                Value::Array(a) => a.iter().for_each(|c| step(root, c, seg, out)),
                Value::Object(o) => o.values().for_each(|c| step(root, c, seg, out)),
                _ => {}
            }
        }
        Seg::Filter(e) => {
            let e = resolve_roots(e, root);
            match node {
                Value::Array(a) => out.extend(a.iter().filter(|c| holds(c, &e))),
                Value::Object(_) if holds(node, &e) => out.push(node),
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sel(p: &str, v: &Value) -> Option<Value> {
        Path::parse(p).unwrap().select(v)
    }

    #[test]
    fn reference_and_general_paths() {
        let v = json!({"a": {"b c": [1, 2, 3]}, "items": [{"id": 1}, {"id": 2, "x": {"id": 3}}]});
        assert_eq!(sel("$", &v), Some(v.clone()));
        assert_eq!(sel("$.a['b c'][1]", &v), Some(json!(2)));
        assert_eq!(sel("$.a['b c'][-1]", &v), Some(json!(3)));
        assert_eq!(sel("$.missing", &v), None);
        assert_eq!(sel("$.items[*].id", &v), Some(json!([1, 2])));
        assert_eq!(sel("$..id", &v), Some(json!([1, 2, 3])));
        assert_eq!(sel("$.a['b c'][0:2]", &v), Some(json!([1, 2])));
        assert_eq!(sel("$.a['b c'][0,2]", &v), Some(json!([1, 3])));
        assert_eq!(sel("$.a['b c'][::-1]", &v), Some(json!([3, 2, 1])));
        for bad in ["a.b", "$.", "$[", "$.a[x]", "$a b", "$a."] {
            assert!(Path::parse(bad).is_err(), "{bad}");
        }
        assert!(Path::parse("$$.Execution.Id").unwrap().context);
        // Escapes of multi-byte characters and huge slice steps.
        assert_eq!(sel("$['\\é']", &json!({"é": 1})), Some(json!(1)));
        assert_eq!(
            sel("$.a['b c'][1::9223372036854775807]", &v),
            Some(json!([2]))
        );
        assert_eq!(
            sel("$.a['b c'][::-9223372036854775807]", &v),
            Some(json!([3]))
        );
        let v = Path::parse("$order.items[0]").unwrap();
        assert_eq!(v.var.as_deref(), Some("order"));
        assert_eq!(v.select(&json!({"items": [7]})), Some(json!(7)));
    }

    #[test]
    fn filter_expressions_select_as_jayway_does() {
        let v = json!({"limit": 10, "items": [
            {"id": 1, "price": 5, "tag": "a", "stock": true},
            {"id": 2, "price": 15, "tag": "b"},
            {"id": 3, "price": 10.0, "tag": "a b", "stock": false},
            {"id": 4}
        ]});
        let ids = |p: &str| {
            sel(p, &v)
                .unwrap()
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["id"].as_i64().unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids("$.items[?(@.price < 10)]"), [1]);
        assert_eq!(ids("$.items[?(@.price<=10)]"), [1, 3]);
        assert_eq!(ids("$.items[?(@.price == 10)]"), [3]);
        assert_eq!(ids("$.items[?(@.tag == 'a b')]"), [3]);
        // Jayway: a missing field is unequal to anything; numbers and
        // strings compare by value.
        assert_eq!(ids("$.items[?(@.tag != \"a\")]"), [2, 3, 4]);
        assert_eq!(ids("$.items[?(@.price == '15')]"), [2]);
        assert_eq!(ids("$.items[?(@.stock)]"), [1, 3]);
        assert_eq!(ids("$.items[?(!@.price)]"), [4]);
        assert_eq!(
            ids("$.items[?(@.price > 1 && (@.tag == 'a' || @.id == 2))]"),
            [1, 2]
        );
        assert_eq!(ids("$.items[?(@.price >= $.limit)]"), [2, 3]);
        assert_eq!(ids("$.items[?(@['tag'] == 'a')]"), [1]);
        assert_eq!(sel("$.items[?(@.price < 10)].id", &v), Some(json!([1])));
        assert_eq!(sel("$..[?(@.id == 2)].price", &v), Some(json!([15])));
        for bad in [
            "$.items[?(@.price <)]",
            "$.items[?(@.price < 10]",
            "$.items[?@.price]",
            "$.items[?(@.a ~ 1)]",
            "$.items[?((((((((((((((((((((((((((((((((((@.a))))))))))))))))))))))))))))))))))]",
            "$[?(@[?(@.a)])]",
        ] {
            assert!(Path::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn result_paths_build_objects() {
        let mut v = json!({"a": 1});
        Path::parse("$.r.x").unwrap().set(&mut v, json!(2)).unwrap();
        assert_eq!(v, json!({"a": 1, "r": {"x": 2}}));
        Path::parse("$").unwrap().set(&mut v, json!("all")).unwrap();
        assert_eq!(v, json!("all"));
        let mut s = json!("text");
        assert!(Path::parse("$.x").unwrap().set(&mut s, json!(1)).is_err());
    }
}
