//! JSONata, the query language Step Functions added in 2024 (`QueryLanguage:
//! JSONata`, `"{% expression %}"` strings): paths over sequences with their
//! flattening and singleton rules, predicates and indexes, wildcards,
//! arithmetic, comparison, boolean, string concatenation (`&`), `in`,
//! conditionals, ranges, array and object constructors, variables and `:=`
//! bindings in blocks, lambdas and higher-order functions, `~>` chains, and the
//! function library (with Step Functions' additions `$partition`, `$range`,
//! `$hash`, `$random`, `$uuid`, `$parse`).

use base64::Engine as _;
use serde_json::{Map, Number, Value, json};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(f64),
    Str(String),
    Name(String),
    Var(String),
    Op(&'static str),
}

const OPS: &[&str] = &[
    ":=", "..", "!=", "<=", ">=", "~>", "**", ".", "[", "]", "{", "}", "(", ")", ",", ":", ";",
    "?", "+", "-", "*", "/", "%", "&", "=", "<", ">",
];

fn lex(src: &str) -> Result<Vec<Tok>, String> {
    let b: Vec<char> = src.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < b.len() {
        let c = b[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '/' && b.get(i + 1) == Some(&'*') {
            let end = (i + 2..b.len().saturating_sub(1))
                .find(|&j| b[j] == '*' && b[j + 1] == '/')
                .ok_or("unterminated comment")?;
            i = end + 2;
            continue;
        }
        if c.is_ascii_digit() {
            let start = i;
            while i < b.len()
                && (b[i].is_ascii_digit()
                    || (b[i] == '.' && b.get(i + 1).is_some_and(char::is_ascii_digit)))
            {
                i += 1;
            }
            if i < b.len() && (b[i] == 'e' || b[i] == 'E') {
                i += 1;
                if i < b.len() && (b[i] == '+' || b[i] == '-') {
                    i += 1;
                }
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
            }
            let text: String = b[start..i].iter().collect();
            out.push(Tok::Num(
                text.parse().map_err(|_| format!("bad number {text}"))?,
            ));
            continue;
        }
        if c == '"' || c == '\'' {
            let mut s = String::new();
            i += 1;
            loop {
                let ch = *b.get(i).ok_or("unterminated string")?;
                i += 1;
                if ch == c {
                    break;
                }
                if ch == '\\' {
                    let e = *b.get(i).ok_or("unterminated string")?;
                    i += 1;
                    s.push(match e {
                        'n' => '\n',
                        't' => '\t',
                        'r' => '\r',
                        'b' => '\u{8}',
                        'f' => '\u{c}',
                        'u' => {
                            let hex: String =
                                b.get(i..i + 4).ok_or("bad \\u escape")?.iter().collect();
                            i += 4;
                            char::from_u32(
                                u32::from_str_radix(&hex, 16).map_err(|_| "bad \\u escape")?,
                            )
                            .unwrap_or('\u{fffd}')
                        }
                        other => other,
                    });
                } else {
                    s.push(ch);
                }
            }
            out.push(Tok::Str(s));
            continue;
        }
        if c == '`' {
            let end = (i + 1..b.len())
                .find(|&j| b[j] == '`')
                .ok_or("unterminated name")?;
            out.push(Tok::Name(b[i + 1..end].iter().collect()));
            i = end + 1;
            continue;
        }
        if c == '$' {
            i += 1;
            let start = i;
            if b.get(i) == Some(&'$') {
                i += 1;
            } else {
                while i < b.len() && (b[i].is_alphanumeric() || b[i] == '_') {
                    i += 1;
                }
            }
            out.push(Tok::Var(b[start..i].iter().collect()));
            continue;
        }
        if c.is_alphabetic() || c == '_' || c == 'λ' {
            let start = i;
            while i < b.len() && (b[i].is_alphanumeric() || b[i] == '_') {
                i += 1;
            }
            out.push(Tok::Name(b[start..i].iter().collect()));
            continue;
        }
        let rest: String = b[i..(i + 2).min(b.len())].iter().collect();
        match OPS.iter().find(|op| rest.starts_with(**op)) {
            Some(op) => {
                out.push(Tok::Op(op));
                i += op.len();
            }
            None => return Err(format!("unexpected character '{c}'")),
        }
    }
    Ok(out)
}

#[derive(Debug, Clone)]
enum Node {
    Lit(Value),
    Name(String),
    Var(String),
    Wildcard,
    Descendants,
    Path(Vec<Node>),
    Neg(Box<Node>),
    Bin(&'static str, Box<Node>, Box<Node>),
    Filter(Box<Node>, Box<Node>),
    Array(Vec<Node>),
    Range(Box<Node>, Box<Node>),
    Object(Vec<(Node, Node)>),
    Call(Box<Node>, Vec<Node>),
    Lambda(Arc<Vec<String>>, Arc<Node>),
    Cond(Box<Node>, Box<Node>, Option<Box<Node>>),
    Bind(String, Box<Node>),
    Block(Vec<Node>),
}

struct Parser {
    toks: Vec<Tok>,
    i: usize,
    depth: usize,
}

fn bp(t: &Tok) -> u8 {
    match t {
        Tok::Op(op) => match *op {
            "." | "[" | "(" => 80,
            "*" | "/" | "%" => 60,
            "+" | "-" | "&" => 50,
            "=" | "!=" | "<" | "<=" | ">" | ">=" | "~>" => 40,
            "?" => 20,
            ":=" => 10,
            _ => 0,
        },
        Tok::Name(n) => match n.as_str() {
            "in" => 40,
            "and" => 30,
            "or" => 25,
            _ => 0,
        },
        _ => 0,
    }
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.i).cloned();
        self.i += 1;
        t
    }
    fn is(&self, op: &str) -> bool {
        matches!(self.peek(), Some(Tok::Op(o)) if *o == op)
    }
    fn expect(&mut self, op: &str) -> Result<(), String> {
        if self.is(op) {
            self.i += 1;
            Ok(())
        } else {
            Err(format!("expected '{op}' but found {:?}", self.peek()))
        }
    }

    fn expr(&mut self, rbp: u8) -> Result<Node, String> {
        self.depth += 1;
        if self.depth > 100 {
            return Err("the expression is nested too deeply".into());
        }
        let r = self.expr_inner(rbp);
        self.depth -= 1;
        r
    }

    fn expr_inner(&mut self, rbp: u8) -> Result<Node, String> {
        let t = self.next().ok_or("unexpected end of expression")?;
        let mut left = self.nud(t)?;
        // Each operator applied here nests the tree one level deeper.
        let mut chain = 0;
        while let Some(t) = self.peek() {
            let lbp = bp(t);
            if lbp <= rbp {
                break;
            }
            chain += 1;
            if self.depth + chain > 100 {
                return Err("the expression is nested too deeply".into());
            }
            let t = self.next().expect("peeked");
            left = self.led(t, left)?;
        }
        Ok(left)
    }

    fn list(&mut self, close: &str) -> Result<Vec<Node>, String> {
        let mut items = Vec::new();
        if self.is(close) {
            self.i += 1;
            return Ok(items);
        }
        loop {
            items.push(self.expr(0)?);
            if self.is(",") {
                self.i += 1;
                continue;
            }
            self.expect(close)?;
            return Ok(items);
        }
    }

    fn nud(&mut self, t: Tok) -> Result<Node, String> {
        Ok(match t {
            Tok::Num(n) => Node::Lit(num(n)),
            Tok::Str(s) => Node::Lit(Value::String(s)),
            Tok::Var(v) => Node::Var(v),
            Tok::Name(n) => match n.as_str() {
                "true" => Node::Lit(Value::Bool(true)),
                "false" => Node::Lit(Value::Bool(false)),
                "null" => Node::Lit(Value::Null),
                "function" | "λ" => {
                    self.expect("(")?;
                    let mut params = Vec::new();
                    if !self.is(")") {
                        loop {
                            match self.next() {
                                Some(Tok::Var(v)) => params.push(v),
                                other => {
                                    return Err(format!("expected a parameter, found {other:?}"));
                                }
                            }
                            if self.is(",") {
                                self.i += 1;
                            } else {
                                break;
                            }
                        }
                    }
                    self.expect(")")?;
                    self.expect("{")?;
                    let body = self.expr(0)?;
                    self.expect("}")?;
                    Node::Lambda(Arc::new(params), Arc::new(body))
                }
                _ => Node::Name(n),
            },
            Tok::Op("-") => Node::Neg(Box::new(self.expr(70)?)),
            Tok::Op("*") => Node::Wildcard,
            Tok::Op("**") => Node::Descendants,
            Tok::Op("(") => {
                let mut items = Vec::new();
                while !self.is(")") {
                    items.push(self.expr(0)?);
                    if self.is(";") {
                        self.i += 1;
                    } else {
                        break;
                    }
                }
                self.expect(")")?;
                Node::Block(items)
            }
            Tok::Op("[") => {
                let mut items = Vec::new();
                if !self.is("]") {
                    loop {
                        let a = self.expr(0)?;
                        if self.is("..") {
                            self.i += 1;
                            let b = self.expr(0)?;
                            items.push(Node::Range(Box::new(a), Box::new(b)));
                        } else {
                            items.push(a);
                        }
                        if self.is(",") {
                            self.i += 1;
                        } else {
                            break;
                        }
                    }
                }
                self.expect("]")?;
                Node::Array(items)
            }
            Tok::Op("{") => {
                let mut pairs = Vec::new();
                if !self.is("}") {
                    loop {
                        let k = self.expr(0)?;
                        self.expect(":")?;
                        let v = self.expr(0)?;
                        pairs.push((k, v));
                        if self.is(",") {
                            self.i += 1;
                        } else {
                            break;
                        }
                    }
                }
                self.expect("}")?;
                Node::Object(pairs)
            }
            other => return Err(format!("unexpected {other:?}")),
        })
    }

    fn led(&mut self, t: Tok, left: Node) -> Result<Node, String> {
        Ok(match t {
            Tok::Op(".") => {
                let right = self.expr(80)?;
                let mut steps = match left {
                    Node::Path(s) => s,
                    other => vec![other],
                };
                match right {
                    Node::Path(s) => steps.extend(s),
                    other => steps.push(other),
                }
                Node::Path(steps)
            }
            Tok::Op("[") => {
                if self.is("]") {
                    // `a[]`: keep a singleton as an array.
                    self.i += 1;
                    return Ok(Node::Call(
                        Box::new(Node::Var("__array".into())),
                        vec![left],
                    ));
                }
                let pred = self.expr(0)?;
                self.expect("]")?;
                Node::Filter(Box::new(left), Box::new(pred))
            }
            Tok::Op("(") => Node::Call(Box::new(left), self.list(")")?),
            Tok::Op("?") => {
                let then = self.expr(0)?;
                let otherwise = if self.is(":") {
                    self.i += 1;
                    Some(Box::new(self.expr(0)?))
                } else {
                    None
                };
                Node::Cond(Box::new(left), Box::new(then), otherwise)
            }
            Tok::Op(":=") => match left {
                Node::Var(v) => Node::Bind(v, Box::new(self.expr(9)?)),
                _ => return Err("the left side of := must be a variable".into()),
            },
            Tok::Op("~>") => {
                let right = self.expr(40)?;
                match right {
                    Node::Call(f, mut args) => {
                        args.insert(0, left);
                        Node::Call(f, args)
                    }
                    f => Node::Call(Box::new(f), vec![left]),
                }
            }
            Tok::Op(op) => {
                let right = self.expr(bp(&Tok::Op(op)))?;
                Node::Bin(op, Box::new(left), Box::new(right))
            }
            Tok::Name(n) => {
                let op: &'static str = match n.as_str() {
                    "and" => "and",
                    "or" => "or",
                    _ => "in",
                };
                let right = self.expr(bp(&Tok::Name(n)))?;
                Node::Bin(op, Box::new(left), Box::new(right))
            }
            other => return Err(format!("unexpected {other:?}")),
        })
    }
}

/// A parsed expression.
#[derive(Debug, Clone)]
pub struct Expr(Node);

pub fn parse(src: &str) -> Result<Expr, String> {
    let mut p = Parser {
        toks: lex(src)?,
        i: 0,
        depth: 0,
    };
    let e = p.expr(0)?;
    if p.i != p.toks.len() {
        return Err(format!("unexpected {:?} after the expression", p.toks[p.i]));
    }
    Ok(Expr(e))
}

/// An evaluated value: nothing, a JSON value, a sequence, or a function.
#[derive(Clone)]
enum Val {
    Undef,
    J(Value),
    Seq(Vec<Value>),
    Lambda(Arc<Vec<String>>, Arc<Node>, Env),
    Builtin(String),
}

fn num(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 9.0e15 {
        Value::Number(Number::from(n as i64))
    } else {
        Number::from_f64(n)
            .map(Value::Number)
            .unwrap_or(Value::Null)
    }
}

impl Val {
    fn norm(self) -> Val {
        match self {
            Val::Seq(mut v) if v.len() <= 1 => v.pop().map(Val::J).unwrap_or(Val::Undef),
            other => other,
        }
    }
    fn json(self) -> Option<Value> {
        match self.norm() {
            Val::Undef => None,
            Val::J(v) => Some(v),
            Val::Seq(s) => Some(Value::Array(s)),
            Val::Lambda(..) | Val::Builtin(_) => Some(Value::String(String::new())),
        }
    }
    /// The items of a value seen as a sequence.
    fn items(self) -> Vec<Value> {
        match self {
            Val::Undef => Vec::new(),
            Val::J(Value::Array(a)) => a,
            Val::J(v) => vec![v],
            Val::Seq(s) => s,
            _ => Vec::new(),
        }
    }
}

type Env = Rc<Scope>;

pub struct Scope {
    vars: std::cell::RefCell<HashMap<String, Val>>,
    parent: Option<Env>,
}

impl Scope {
    fn child(parent: &Env) -> Env {
        Rc::new(Scope {
            vars: Default::default(),
            parent: Some(parent.clone()),
        })
    }
    fn get(&self, name: &str) -> Option<Val> {
        if let Some(v) = self.vars.borrow().get(name) {
            return Some(v.clone());
        }
        self.parent.as_ref().and_then(|p| p.get(name))
    }
}

fn truthy(v: &Val) -> bool {
    match v {
        Val::Undef => false,
        Val::J(j) => json_truthy(j),
        Val::Seq(s) => s.iter().any(json_truthy),
        _ => false,
    }
}

fn json_truthy(j: &Value) -> bool {
    match j {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => a.iter().any(json_truthy),
        Value::Object(o) => !o.is_empty(),
    }
}

fn to_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Evaluate `expr` with `input` as `$` and `vars` bound (`states`, workflow
/// variables). Errors carry a message for `States.QueryEvaluationError`.
pub fn evaluate(
    expr: &Expr,
    input: &Value,
    vars: &Map<String, Value>,
) -> Result<Option<Value>, String> {
    let root = Rc::new(Scope {
        vars: std::cell::RefCell::new(
            vars.iter()
                .map(|(k, v)| (k.clone(), Val::J(v.clone())))
                .collect(),
        ),
        parent: None,
    });
    root.vars
        .borrow_mut()
        .insert("$".into(), Val::J(input.clone()));
    let mut ev = Eval {
        depth: 0,
        nesting: 0,
        steps: 0,
    };
    Ok(ev.eval(&expr.0, input, &root)?.json())
}

struct Eval {
    depth: usize,
    nesting: usize,
    steps: u64,
}

/// The longest string an expression may build.
const MAX_STRING: usize = 1 << 20;

impl Eval {
    fn eval(&mut self, n: &Node, ctx: &Value, env: &Env) -> Result<Val, String> {
        self.steps += 1;
        if self.steps > 5_000_000 {
            return Err("the expression took too many steps".into());
        }
        self.nesting += 1;
        if self.nesting > 400 {
            self.nesting -= 1;
            return Err("the expression is evaluated too deeply".into());
        }
        let r = self.eval_node(n, ctx, env);
        self.nesting -= 1;
        r
    }

    fn eval_node(&mut self, n: &Node, ctx: &Value, env: &Env) -> Result<Val, String> {
        Ok(match n {
            Node::Lit(v) => Val::J(v.clone()),
            Node::Name(name) => match ctx {
                Value::Object(o) => o.get(name).cloned().map(Val::J).unwrap_or(Val::Undef),
                Value::Array(a) => {
                    let mut out = Vec::new();
                    for item in a {
                        match self.eval(n, item, env)? {
                            Val::J(Value::Array(x)) => out.extend(x),
                            Val::J(x) => out.push(x),
                            Val::Seq(s) => out.extend(s),
                            _ => {}
                        }
                    }
                    Val::Seq(out).norm()
                }
                _ => Val::Undef,
            },
            Node::Var(v) if v.is_empty() => Val::J(ctx.clone()),
            Node::Var(v) if v == "$" => env.get("$").unwrap_or(Val::Undef),
            Node::Var(v) => match env.get(v) {
                Some(x) => x,
                None if BUILTINS.contains(&v.as_str()) || v == "__array" => Val::Builtin(v.clone()),
                None => Val::Undef,
            },
            Node::Wildcard => match ctx {
                Value::Object(o) => {
                    let mut out = Vec::new();
                    for v in o.values() {
                        match v {
                            Value::Array(a) => out.extend(a.iter().cloned()),
                            other => out.push(other.clone()),
                        }
                    }
                    Val::Seq(out).norm()
                }
                Value::Array(a) => Val::Seq(a.clone()).norm(),
                _ => Val::Undef,
            },
            Node::Descendants => {
                let mut out = Vec::new();
                descend(ctx, &mut out);
                check_sequence(&out)?;
                Val::Seq(out).norm()
            }
            Node::Path(steps) => self.path(steps, ctx, env)?,
            Node::Neg(x) => match self.eval(x, ctx, env)?.json() {
                None => Val::Undef,
                Some(Value::Number(n)) => Val::J(num(-n.as_f64().unwrap_or(0.0))),
                Some(other) => return Err(format!("cannot negate {other}")),
            },
            Node::Bin(op, a, b) => self.binary(op, a, b, ctx, env)?,
            Node::Filter(base, pred) => {
                let items = self.eval(base, ctx, env)?.items();
                self.filter(items, pred, env)?
            }
            Node::Array(items) => {
                let mut out = Vec::new();
                for it in items {
                    match it {
                        Node::Range(a, b) => {
                            let lo = self.eval(a, ctx, env)?.json();
                            let hi = self.eval(b, ctx, env)?.json();
                            let (Some(lo), Some(hi)) =
                                (lo.and_then(|v| v.as_f64()), hi.and_then(|v| v.as_f64()))
                            else {
                                continue;
                            };
                            let int = |x: f64| x.fract() == 0.0 && x.abs() <= 9.0e15;
                            if !int(lo) || !int(hi) {
                                return Err("the bounds of a range must be integers".into());
                            }
                            if hi - lo > 1e5 {
                                return Err("a range may hold at most 100,000 numbers".into());
                            }
                            let mut i = lo as i64;
                            while i as f64 <= hi {
                                out.push(json!(i));
                                i += 1;
                            }
                        }
                        _ => match self.eval(it, ctx, env)? {
                            Val::Undef => {}
                            Val::Seq(s) => out.extend(s),
                            Val::J(v) => out.push(v),
                            _ => {}
                        },
                    }
                }
                Val::J(Value::Array(out))
            }
            Node::Range(..) => return Err("a range must be inside [ ]".into()),
            Node::Object(pairs) => {
                let mut o = Map::new();
                for (k, v) in pairs {
                    let key = match self.eval(k, ctx, env)?.json() {
                        Some(Value::String(s)) => s,
                        Some(other) => {
                            return Err(format!("object keys must be strings, not {other}"));
                        }
                        None => continue,
                    };
                    if let Some(val) = self.eval(v, ctx, env)?.json() {
                        o.insert(key, val);
                    }
                }
                Val::J(Value::Object(o))
            }
            Node::Call(f, args) => {
                let func = self.eval(f, ctx, env)?;
                let mut vals = Vec::with_capacity(args.len());
                for a in args {
                    vals.push(self.eval(a, ctx, env)?);
                }
                self.call(func, vals, ctx)?
            }
            Node::Lambda(params, body) => Val::Lambda(params.clone(), body.clone(), env.clone()),
            Node::Cond(c, t, e) => {
                if truthy(&self.eval(c, ctx, env)?) {
                    self.eval(t, ctx, env)?
                } else if let Some(e) = e {
                    self.eval(e, ctx, env)?
                } else {
                    Val::Undef
                }
            }
            Node::Bind(name, x) => {
                let v = self.eval(x, ctx, env)?;
                env.vars.borrow_mut().insert(name.clone(), v.clone());
                v
            }
            Node::Block(items) => {
                let scope = Scope::child(env);
                let mut last = Val::Undef;
                for it in items {
                    last = self.eval(it, ctx, &scope)?;
                }
                last
            }
        })
    }

    fn path(&mut self, steps: &[Node], ctx: &Value, env: &Env) -> Result<Val, String> {
        let mut seq: Vec<Value> = match (ctx, steps.first()) {
            (Value::Array(a), Some(first)) if !matches!(first, Node::Var(_)) => a.clone(),
            _ => vec![ctx.clone()],
        };
        let mut kept_array = false;
        for (i, step) in steps.iter().enumerate() {
            let last = i + 1 == steps.len();
            let mut results = Vec::new();
            let mut bytes = 0;
            for item in &seq {
                match self.eval(step, item, env)? {
                    Val::Undef => {}
                    v => {
                        // Stop a step that multiplies what it selects before it
                        // holds too much.
                        if results.len() >= 100 {
                            bytes += match &v {
                                Val::J(j) => j.to_string().len(),
                                Val::Seq(items) => items.iter().map(|j| j.to_string().len()).sum(),
                                _ => 0,
                            };
                            if results.len() > MAX_SEQUENCE || bytes > MAX_SEQUENCE_BYTES {
                                return Err("a path selected too many values".into());
                            }
                        }
                        results.push(v)
                    }
                }
            }
            let mut next = Vec::new();
            kept_array = false;
            if last && results.len() == 1 && matches!(results[0], Val::J(Value::Array(_))) {
                next = results.pop().map(Val::items).unwrap_or_default();
                kept_array = true;
            } else {
                for r in results {
                    match (r, step) {
                        (Val::J(v), Node::Array(_)) => next.push(v),
                        (Val::J(Value::Array(a)), _) => next.extend(a),
                        (Val::J(v), _) => next.push(v),
                        (Val::Seq(s), _) => next.extend(s),
                        _ => {}
                    }
                }
            }
            check_sequence(&next)?;
            seq = next;
        }
        Ok(if kept_array {
            Val::J(Value::Array(seq))
        } else {
            Val::Seq(seq).norm()
        })
    }

    fn filter(&mut self, items: Vec<Value>, pred: &Node, env: &Env) -> Result<Val, String> {
        let n = items.len() as i64;
        let mut out = Vec::new();
        // A number is an index (negative from the end); anything else a condition.
        for (i, item) in items.iter().enumerate() {
            let r = self.eval(pred, item, env)?;
            let hit = match &r {
                Val::J(Value::Number(k)) => {
                    let k = k.as_f64().unwrap_or(0.0).floor() as i64;
                    let k = if k < 0 { n + k } else { k };
                    k == i as i64
                }
                Val::J(Value::Array(ks)) if !ks.is_empty() && ks.iter().all(Value::is_number) => {
                    ks.iter().any(|k| {
                        let k = k.as_f64().unwrap_or(0.0).floor() as i64;
                        (if k < 0 { n + k } else { k }) == i as i64
                    })
                }
                other => truthy(other),
            };
            if hit {
                out.push(item.clone());
            }
        }
        Ok(Val::Seq(out).norm())
    }

    fn binary(
        &mut self,
        op: &str,
        a: &Node,
        b: &Node,
        ctx: &Value,
        env: &Env,
    ) -> Result<Val, String> {
        match op {
            "and" => {
                return Ok(Val::J(Value::Bool(
                    truthy(&self.eval(a, ctx, env)?) && truthy(&self.eval(b, ctx, env)?),
                )));
            }
            "or" => {
                return Ok(Val::J(Value::Bool(
                    truthy(&self.eval(a, ctx, env)?) || truthy(&self.eval(b, ctx, env)?),
                )));
            }
            _ => {}
        }
        let x = self.eval(a, ctx, env)?.json();
        let y = self.eval(b, ctx, env)?.json();
        Ok(match op {
            "&" => {
                let joined = x.as_ref().map(to_string).unwrap_or_default()
                    + &y.as_ref().map(to_string).unwrap_or_default();
                if joined.len() > MAX_STRING {
                    return Err("a string may be at most 1 MiB".into());
                }
                Val::J(Value::String(joined))
            }
            "+" | "-" | "*" | "/" | "%" => {
                let (Some(x), Some(y)) = (x, y) else {
                    return Ok(Val::Undef);
                };
                let (Some(p), Some(q)) = (x.as_f64(), y.as_f64()) else {
                    return Err(format!(
                        "the operands of {op} must be numbers, not {x} and {y}"
                    ));
                };
                let r = match op {
                    "+" => p + q,
                    "-" => p - q,
                    "*" => p * q,
                    "/" => p / q,
                    _ => p % q,
                };
                if !r.is_finite() {
                    return Err(format!("the result of {p} {op} {q} is not a finite number"));
                }
                Val::J(num(r))
            }
            "=" | "!=" => {
                let (Some(x), Some(y)) = (x, y) else {
                    return Ok(Val::J(Value::Bool(false)));
                };
                let eq = match (x.as_f64(), y.as_f64()) {
                    (Some(p), Some(q)) => p == q,
                    _ => x == y,
                };
                Val::J(Value::Bool(if op == "=" { eq } else { !eq }))
            }
            "<" | "<=" | ">" | ">=" => {
                let (Some(x), Some(y)) = (x, y) else {
                    return Ok(Val::Undef);
                };
                let ord = match (&x, &y) {
                    (Value::Number(p), Value::Number(q)) => p.as_f64().partial_cmp(&q.as_f64()),
                    (Value::String(p), Value::String(q)) => Some(p.cmp(q)),
                    _ => return Err(format!("cannot compare {x} and {y} with {op}")),
                };
                let Some(o) = ord else {
                    return Ok(Val::J(Value::Bool(false)));
                };
                use std::cmp::Ordering::*;
                Val::J(Value::Bool(match op {
                    "<" => o == Less,
                    "<=" => o != Greater,
                    ">" => o == Greater,
                    _ => o != Less,
                }))
            }
            "in" => {
                let Some(x) = x else {
                    return Ok(Val::J(Value::Bool(false)));
                };
                let list = match y {
                    Some(Value::Array(a)) => a,
                    Some(v) => vec![v],
                    None => vec![],
                };
                Val::J(Value::Bool(list.contains(&x)))
            }
            _ => return Err(format!("unknown operator {op}")),
        })
    }

    fn call(&mut self, f: Val, args: Vec<Val>, ctx: &Value) -> Result<Val, String> {
        self.depth += 1;
        if self.depth > 200 {
            return Err("functions nested too deeply".into());
        }
        let r = match f {
            Val::Lambda(params, body, env) => {
                let scope = Scope::child(&env);
                for (i, p) in params.iter().enumerate() {
                    scope
                        .vars
                        .borrow_mut()
                        .insert(p.clone(), args.get(i).cloned().unwrap_or(Val::Undef));
                }
                self.eval(&body, ctx, &scope)
            }
            Val::Builtin(name) => self.builtin(&name, args, ctx),
            Val::Undef => Err("attempted to call an undefined function".into()),
            _ => Err("attempted to call something that is not a function".into()),
        };
        self.depth -= 1;
        r
    }

    fn builtin(&mut self, name: &str, args: Vec<Val>, ctx: &Value) -> Result<Val, String> {
        // Functions whose first argument may be the context.
        let ctx_first = matches!(
            name,
            "string"
                | "length"
                | "uppercase"
                | "lowercase"
                | "trim"
                | "number"
                | "boolean"
                | "keys"
                | "base64encode"
                | "base64decode"
        );
        let mut args = args;
        if ctx_first && args.is_empty() {
            args.push(Val::J(ctx.clone()));
        }
        let fn_name = name;
        let arg = |i: usize| -> Option<Value> { args.get(i).cloned().and_then(Val::json) };
        let string = |i: usize| -> Result<Option<String>, String> {
            match arg(i) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s)),
                Some(other) => Err(format!(
                    "${fn_name}: argument {} must be a string, not {other}",
                    i + 1
                )),
            }
        };
        let number = |i: usize| -> Result<Option<f64>, String> {
            match arg(i) {
                None => Ok(None),
                Some(Value::Number(n)) => Ok(n.as_f64()),
                Some(other) => Err(format!(
                    "${fn_name}: argument {} must be a number, not {other}",
                    i + 1
                )),
            }
        };
        let array =
            |i: usize| -> Vec<Value> { args.get(i).cloned().map(Val::items).unwrap_or_default() };
        let numbers = |i: usize| -> Result<Vec<f64>, String> {
            array(i)
                .iter()
                .map(|v| {
                    v.as_f64()
                        .ok_or_else(|| format!("${fn_name}: expected numbers, found {v}"))
                })
                .collect()
        };
        let some = |v: Value| Ok(Val::J(v));
        match name {
            "__array" => some(Value::Array(array(0))),
            "string" => match arg(0) {
                None => Ok(Val::Undef),
                Some(v) => some(Value::String(if arg(1) == Some(Value::Bool(true)) {
                    match &v {
                        Value::String(s) => s.clone(),
                        other => serde_json::to_string_pretty(other).unwrap_or_default(),
                    }
                } else {
                    to_string(&v)
                })),
            },
            "length" => match string(0)? {
                None => Ok(Val::Undef),
                Some(s) => some(json!(s.chars().count())),
            },
            "substring" => {
                let Some(s) = string(0)? else {
                    return Ok(Val::Undef);
                };
                let chars: Vec<char> = s.chars().collect();
                let n = chars.len() as i64;
                let start = number(1)?.unwrap_or(0.0) as i64;
                let start = if start < 0 {
                    n.saturating_add(start).max(0)
                } else {
                    start.min(n)
                };
                let end = match number(2)? {
                    Some(l) => start.saturating_add(l.max(0.0) as i64).min(n),
                    None => n,
                };
                some(Value::String(
                    chars[start as usize..end.max(start) as usize]
                        .iter()
                        .collect(),
                ))
            }
            "substringBefore" | "substringAfter" => {
                let (Some(s), Some(c)) = (string(0)?, string(1)?) else {
                    return Ok(Val::Undef);
                };
                some(Value::String(match s.find(&c) {
                    None => s,
                    Some(i) if name == "substringBefore" => s[..i].to_string(),
                    Some(i) => s[i + c.len()..].to_string(),
                }))
            }
            "uppercase" => Ok(string(0)?
                .map(|s| Val::J(Value::String(s.to_uppercase())))
                .unwrap_or(Val::Undef)),
            "lowercase" => Ok(string(0)?
                .map(|s| Val::J(Value::String(s.to_lowercase())))
                .unwrap_or(Val::Undef)),
            "trim" => Ok(string(0)?
                .map(|s| {
                    Val::J(Value::String(
                        s.split_whitespace().collect::<Vec<_>>().join(" "),
                    ))
                })
                .unwrap_or(Val::Undef)),
            "pad" => {
                let Some(s) = string(0)? else {
                    return Ok(Val::Undef);
                };
                let width = number(1)?.unwrap_or(0.0);
                if width.is_nan() || width.abs() > MAX_STRING as f64 {
                    return Err("$pad: the width may be at most 1,048,576".into());
                }
                let width = width as i64;
                let fill = string(2)?.unwrap_or_else(|| " ".into());
                let len = s.chars().count() as i64;
                let need = (width.abs() - len).max(0) as usize;
                let pad: String = fill.chars().cycle().take(need).collect();
                some(Value::String(if width < 0 { pad + &s } else { s + &pad }))
            }
            "contains" => {
                let (Some(s), Some(p)) = (string(0)?, string(1)?) else {
                    return Ok(Val::Undef);
                };
                some(Value::Bool(s.contains(&p)))
            }
            "split" => {
                let (Some(s), Some(sep)) = (string(0)?, string(1)?) else {
                    return Ok(Val::Undef);
                };
                let mut parts: Vec<Value> = if sep.is_empty() {
                    s.chars().map(|c| Value::String(c.to_string())).collect()
                } else {
                    s.split(sep.as_str())
                        .map(|p| Value::String(p.into()))
                        .collect()
                };
                if let Some(l) = number(2)? {
                    parts.truncate(l.max(0.0) as usize);
                }
                some(Value::Array(parts))
            }
            "join" => {
                let sep = string(1)?.unwrap_or_default();
                let parts: Result<Vec<String>, String> = array(0)
                    .iter()
                    .map(|v| {
                        v.as_str()
                            .map(String::from)
                            .ok_or_else(|| format!("$join: expected strings, found {v}"))
                    })
                    .collect();
                let joined = parts?.join(&sep);
                if joined.len() > MAX_STRING {
                    return Err("a string may be at most 1 MiB".into());
                }
                some(Value::String(joined))
            }
            "replace" => {
                let (Some(s), Some(p), Some(r)) = (string(0)?, string(1)?, string(2)?) else {
                    return Ok(Val::Undef);
                };
                if p.is_empty() {
                    return Err("$replace: the pattern must not be empty".into());
                }
                let out = match number(3)? {
                    Some(l) => s.replacen(&p, &r, l.max(0.0) as usize),
                    None => s.replace(&p, &r),
                };
                if out.len() > MAX_STRING {
                    return Err("a string may be at most 1 MiB".into());
                }
                some(Value::String(out))
            }
            "base64encode" => Ok(string(0)?
                .map(|s| {
                    Val::J(Value::String(
                        base64::engine::general_purpose::STANDARD.encode(s),
                    ))
                })
                .unwrap_or(Val::Undef)),
            "base64decode" => match string(0)? {
                None => Ok(Val::Undef),
                Some(s) => {
                    let b = base64::engine::general_purpose::STANDARD
                        .decode(s)
                        .map_err(|e| format!("$base64decode: {e}"))?;
                    some(Value::String(String::from_utf8_lossy(&b).into()))
                }
            },
            "number" => match arg(0) {
                None => Ok(Val::Undef),
                Some(Value::Number(n)) => some(Value::Number(n)),
                Some(Value::Bool(b)) => some(json!(if b { 1 } else { 0 })),
                Some(Value::String(s)) => {
                    let n: f64 = s
                        .trim()
                        .parse()
                        .map_err(|_| format!("$number: cannot convert '{s}' to a number"))?;
                    some(num(n))
                }
                Some(other) => Err(format!("$number: cannot convert {other} to a number")),
            },
            "abs" | "floor" | "ceil" | "sqrt" => {
                let Some(n) = number(0)? else {
                    return Ok(Val::Undef);
                };
                let r = match name {
                    "abs" => n.abs(),
                    "floor" => n.floor(),
                    "ceil" => n.ceil(),
                    _ => {
                        if n < 0.0 {
                            return Err("$sqrt of a negative number".into());
                        }
                        n.sqrt()
                    }
                };
                some(num(r))
            }
            "round" => {
                let Some(n) = number(0)? else {
                    return Ok(Val::Undef);
                };
                let p = number(1)?.unwrap_or(0.0) as i32;
                let m = 10f64.powi(p);
                // Round half to even, as JSONata does.
                let x = n * m;
                let r = x.round();
                let r = if (x - x.trunc()).abs() == 0.5 && r % 2.0 != 0.0 {
                    r - x.signum()
                } else {
                    r
                };
                some(num(r / m))
            }
            "power" => {
                let (Some(b), Some(e)) = (number(0)?, number(1)?) else {
                    return Ok(Val::Undef);
                };
                let r = b.powf(e);
                if !r.is_finite() {
                    return Err("$power: the result is not a finite number".into());
                }
                some(num(r))
            }
            "random" => {
                let mut b = [0u8; 8];
                getrandom::fill(&mut b).map_err(|e| e.to_string())?;
                some(num(
                    (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
                ))
            }
            "sum" => some(num(numbers(0)?.iter().sum())),
            "max" | "min" | "average" => {
                let ns = numbers(0)?;
                if ns.is_empty() {
                    return Ok(Val::Undef);
                }
                some(num(match name {
                    "max" => ns.iter().cloned().fold(f64::MIN, f64::max),
                    "min" => ns.iter().cloned().fold(f64::MAX, f64::min),
                    _ => ns.iter().sum::<f64>() / ns.len() as f64,
                }))
            }
            "count" => some(json!(array(0).len())),
            "boolean" => match args.first() {
                None | Some(Val::Undef) => Ok(Val::Undef),
                Some(v) => some(Value::Bool(truthy(v))),
            },
            "not" => match args.first() {
                None | Some(Val::Undef) => Ok(Val::Undef),
                Some(v) => some(Value::Bool(!truthy(v))),
            },
            "exists" => some(Value::Bool(!matches!(
                args.first().cloned().map(Val::norm),
                None | Some(Val::Undef)
            ))),
            "append" => {
                let mut a = array(0);
                a.extend(array(1));
                Ok(Val::Seq(a).norm())
            }
            "reverse" => {
                let mut a = array(0);
                a.reverse();
                some(Value::Array(a))
            }
            "distinct" => {
                let mut out: Vec<Value> = Vec::new();
                for v in array(0) {
                    if !out.contains(&v) {
                        out.push(v);
                    }
                }
                some(Value::Array(out))
            }
            "shuffle" => {
                let mut a = array(0);
                for i in (1..a.len()).rev() {
                    let mut b = [0u8; 8];
                    getrandom::fill(&mut b).map_err(|e| e.to_string())?;
                    a.swap(i, (u64::from_le_bytes(b) % (i as u64 + 1)) as usize);
                }
                some(Value::Array(a))
            }
            "zip" => {
                let lists: Vec<Vec<Value>> = (0..args.len()).map(&array).collect();
                let n = lists.iter().map(Vec::len).min().unwrap_or(0);
                some(Value::Array(
                    (0..n)
                        .map(|i| Value::Array(lists.iter().map(|l| l[i].clone()).collect()))
                        .collect(),
                ))
            }
            "sort" => {
                let mut a = array(0);
                match args.get(1).cloned() {
                    None => {
                        if a.iter().all(Value::is_number) {
                            a.sort_by(|x, y| {
                                x.as_f64()
                                    .partial_cmp(&y.as_f64())
                                    .unwrap_or(std::cmp::Ordering::Equal)
                            });
                        } else if a.iter().all(Value::is_string) {
                            a.sort_by(|x, y| x.as_str().cmp(&y.as_str()));
                        } else {
                            return Err("$sort: without a function, items must be all numbers or all strings".into());
                        }
                    }
                    Some(f) => {
                        // Insertion sort: the function says whether its first argument goes after the second.
                        let mut out: Vec<Value> = Vec::new();
                        for v in a {
                            let mut at = out.len();
                            for (i, o) in out.iter().enumerate() {
                                if truthy(&self.call(
                                    f.clone(),
                                    vec![Val::J(o.clone()), Val::J(v.clone())],
                                    ctx,
                                )?) {
                                    at = i;
                                    break;
                                }
                            }
                            out.insert(at, v);
                        }
                        a = out;
                    }
                }
                some(Value::Array(a))
            }
            "keys" => {
                let mut out: Vec<Value> = Vec::new();
                for v in array(0) {
                    if let Value::Object(o) = v {
                        for k in o.keys() {
                            let k = Value::String(k.clone());
                            if !out.contains(&k) {
                                out.push(k);
                            }
                        }
                    }
                }
                Ok(Val::Seq(out).norm())
            }
            "lookup" => {
                let key = string(1)?.unwrap_or_default();
                let mut out = Vec::new();
                for v in array(0) {
                    if let Some(x) = v.get(&key) {
                        out.push(x.clone());
                    }
                }
                Ok(Val::Seq(out).norm())
            }
            "merge" => {
                let mut o = Map::new();
                for v in array(0) {
                    if let Value::Object(m) = v {
                        o.extend(m);
                    }
                }
                some(Value::Object(o))
            }
            "spread" => {
                let mut out = Vec::new();
                for v in array(0) {
                    match v {
                        Value::Object(m) => out.extend(m.into_iter().map(|(k, v)| json!({k: v}))),
                        other => out.push(other),
                    }
                }
                Ok(Val::Seq(out).norm())
            }
            "type" => Ok(match args.first().cloned().map(Val::norm) {
                None | Some(Val::Undef) => Val::Undef,
                Some(Val::Lambda(..)) | Some(Val::Builtin(_)) => Val::J(json!("function")),
                Some(v) => Val::J(json!(match v.json() {
                    Some(Value::Null) => "null",
                    Some(Value::Bool(_)) => "boolean",
                    Some(Value::Number(_)) => "number",
                    Some(Value::String(_)) => "string",
                    Some(Value::Array(_)) => "array",
                    _ => "object",
                })),
            }),
            "map" | "filter" => {
                let f = args
                    .get(1)
                    .cloned()
                    .ok_or(format!("${name} needs a function"))?;
                let items = array(0);
                let all = Value::Array(items.clone());
                let mut out = Vec::new();
                for (i, v) in items.into_iter().enumerate() {
                    let r = self.call(
                        f.clone(),
                        vec![Val::J(v.clone()), Val::J(json!(i)), Val::J(all.clone())],
                        ctx,
                    )?;
                    if name == "map" {
                        if let Some(x) = r.json() {
                            out.push(x);
                        }
                    } else if truthy(&r) {
                        out.push(v);
                    }
                }
                Ok(Val::Seq(out).norm())
            }
            "reduce" => {
                let f = args.get(1).cloned().ok_or("$reduce needs a function")?;
                let mut items = array(0).into_iter();
                let mut acc = match arg(2) {
                    Some(init) => Some(init),
                    None => items.next(),
                };
                for v in items {
                    acc = self
                        .call(
                            f.clone(),
                            vec![acc.map(Val::J).unwrap_or(Val::Undef), Val::J(v)],
                            ctx,
                        )?
                        .json();
                }
                Ok(acc.map(Val::J).unwrap_or(Val::Undef))
            }
            "each" | "sift" => {
                let f = args
                    .get(1)
                    .cloned()
                    .ok_or(format!("${name} needs a function"))?;
                let Some(Value::Object(o)) = arg(0) else {
                    return Ok(Val::Undef);
                };
                let mut list = Vec::new();
                let mut kept = Map::new();
                for (k, v) in o {
                    let r = self.call(
                        f.clone(),
                        vec![Val::J(v.clone()), Val::J(Value::String(k.clone()))],
                        ctx,
                    )?;
                    if name == "each" {
                        if let Some(x) = r.json() {
                            list.push(x);
                        }
                    } else if truthy(&r) {
                        kept.insert(k, v);
                    }
                }
                if name == "each" {
                    Ok(Val::Seq(list).norm())
                } else {
                    some(Value::Object(kept))
                }
            }
            "now" => some(Value::String(
                nimbus_model::time::Utc::from_millis(nimbus_model::time::now_millis())
                    .rfc3339_millis(),
            )),
            "millis" => some(json!(nimbus_model::time::now_millis())),
            "fromMillis" => Ok(number(0)?
                .map(|ms| {
                    Val::J(Value::String(
                        nimbus_model::time::Utc::from_millis(ms.max(0.0) as u64).rfc3339_millis(),
                    ))
                })
                .unwrap_or(Val::Undef)),
            "toMillis" => match string(0)? {
                None => Ok(Val::Undef),
                Some(s) => some(json!(crate::time::parse_timestamp(&s).ok_or_else(
                    || format!("$toMillis: '{s}' is not an ISO 8601 timestamp")
                )?)),
            },
            "uuid" => some(Value::String(uuid::Uuid::new_v4().to_string())),
            "parse" => match string(0)? {
                None => Ok(Val::Undef),
                Some(s) => {
                    some(serde_json::from_str(&s).map_err(|e| format!("$parse: not JSON: {e}"))?)
                }
            },
            "partition" => {
                let a = array(0);
                let n = number(1)?.unwrap_or(0.0) as usize;
                if n == 0 {
                    return Err("$partition: the size must be positive".into());
                }
                some(Value::Array(
                    a.chunks(n).map(|c| Value::Array(c.to_vec())).collect(),
                ))
            }
            "range" => {
                let (Some(s), Some(e)) = (number(0)?, number(1)?) else {
                    return Ok(Val::Undef);
                };
                let step = number(2)?.unwrap_or(1.0);
                if step == 0.0 {
                    return Err("$range: the step must not be 0".into());
                }
                let mut out = Vec::new();
                let mut i = s;
                while (step > 0.0 && i <= e) || (step < 0.0 && i >= e) {
                    out.push(num(i));
                    if out.len() > 1000 {
                        return Err("$range: more than 1000 items".into());
                    }
                    i += step;
                }
                some(Value::Array(out))
            }
            "hash" => {
                let data = arg(0).map(|v| to_string(&v)).unwrap_or_default();
                let alg = string(1)?.unwrap_or_else(|| "SHA-256".into());
                use sha2::Digest;
                let d = data.as_bytes();
                some(Value::String(match alg.as_str() {
                    "MD5" => hex::encode(md5::Md5::digest(d)),
                    "SHA-1" => hex::encode(sha1::Sha1::digest(d)),
                    "SHA-256" => hex::encode(sha2::Sha256::digest(d)),
                    "SHA-384" => hex::encode(sha2::Sha384::digest(d)),
                    "SHA-512" => hex::encode(sha2::Sha512::digest(d)),
                    _ => return Err(format!("$hash: unknown algorithm '{alg}'")),
                }))
            }
            _ => Err(format!("${name} is not a function")),
        }
    }
}

const BUILTINS: &[&str] = &[
    "string",
    "length",
    "substring",
    "substringBefore",
    "substringAfter",
    "uppercase",
    "lowercase",
    "trim",
    "pad",
    "contains",
    "split",
    "join",
    "replace",
    "base64encode",
    "base64decode",
    "number",
    "abs",
    "floor",
    "ceil",
    "round",
    "power",
    "sqrt",
    "random",
    "sum",
    "max",
    "min",
    "average",
    "count",
    "boolean",
    "not",
    "exists",
    "append",
    "reverse",
    "distinct",
    "shuffle",
    "zip",
    "sort",
    "keys",
    "lookup",
    "merge",
    "spread",
    "type",
    "map",
    "filter",
    "reduce",
    "each",
    "sift",
    "now",
    "millis",
    "fromMillis",
    "toMillis",
    "uuid",
    "parse",
    "partition",
    "range",
    "hash",
];

/// The most values, and (roughly) bytes, one step of a path may select.
const MAX_SEQUENCE: usize = 10_000;
const MAX_SEQUENCE_BYTES: usize = 64 << 20;

fn check_sequence(seq: &[Value]) -> Result<(), String> {
    if seq.len() > MAX_SEQUENCE {
        return Err(format!("a path selected more than {MAX_SEQUENCE} values"));
    }
    if seq.len() > 100 {
        let bytes: usize = seq.iter().map(|v| v.to_string().len()).sum();
        if bytes > MAX_SEQUENCE_BYTES {
            return Err("a path selected more than 64 MiB of values".into());
        }
    }
    Ok(())
}

fn descend(v: &Value, out: &mut Vec<Value>) {
    match v {
        Value::Array(a) => a.iter().for_each(|x| descend(x, out)),
        Value::Object(o) => {
            out.push(v.clone());
            o.values().for_each(|x| descend(x, out));
        }
        other => out.push(other.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(src: &str, input: Value) -> Option<Value> {
        let vars = Map::from_iter([(
            "states".to_string(),
            json!({"input": input.clone(), "context": {"Execution": {"Name": "e"}}}),
        )]);
        evaluate(
            &parse(src).unwrap_or_else(|e| panic!("{src}: {e}")),
            &input,
            &vars,
        )
        .unwrap_or_else(|e| panic!("{src}: {e}"))
    }

    #[test]
    fn paths_sequences_and_predicates() {
        let o = json!({"a": [1], "orders": [{"id": 1, "items": [{"p": 2}, {"p": 3}]}, {"id": 2, "items": [{"p": 5}]}], "x": {"y": "z"}});
        assert_eq!(ev("a", o.clone()), Some(json!([1])));
        assert_eq!(ev("x.y", o.clone()), Some(json!("z")));
        assert_eq!(ev("orders.items.p", o.clone()), Some(json!([2, 3, 5])));
        assert_eq!(ev("orders[0].id", o.clone()), Some(json!(1)));
        assert_eq!(ev("orders[-1].id", o.clone()), Some(json!(2)));
        assert_eq!(ev("orders[id = 2].items.p", o.clone()), Some(json!(5)));
        assert_eq!(ev("orders.items[p > 2].p", o.clone()), Some(json!([3, 5])));
        assert_eq!(ev("$count(orders.items)", o.clone()), Some(json!(3)));
        assert_eq!(ev("missing", o.clone()), None);
        assert_eq!(ev("x.*", o.clone()), Some(json!("z")));
        assert_eq!(ev("$states.input.x.y", o.clone()), Some(json!("z")));
        assert_eq!(
            ev("$states.context.Execution.Name", o.clone()),
            Some(json!("e"))
        );
        assert_eq!(
            ev("orders.id[]", json!({"orders": [{"id": 7}]})),
            Some(json!([7]))
        );
    }

    #[test]
    fn operators_and_constructors() {
        let i = json!({"n": 4, "s": "ab", "list": [3, 1, 2]});
        assert_eq!(ev("n * 2 + 1", i.clone()), Some(json!(9)));
        assert_eq!(ev("n / 8", i.clone()), Some(json!(0.5)));
        assert_eq!(ev("-n % 3", i.clone()), Some(json!(-1)));
        assert_eq!(ev("s & '-' & n", i.clone()), Some(json!("ab-4")));
        assert_eq!(ev("n > 3 and s = 'ab'", i.clone()), Some(json!(true)));
        assert_eq!(ev("n < 3 or false", i.clone()), Some(json!(false)));
        assert_eq!(ev("2 in list", i.clone()), Some(json!(true)));
        assert_eq!(
            ev("n > 10 ? 'big' : 'small'", i.clone()),
            Some(json!("small"))
        );
        assert_eq!(ev("[1..3, 9]", i.clone()), Some(json!([1, 2, 3, 9])));
        assert_eq!(
            ev("{'total': $sum(list), 'first': list[0]}", i.clone()),
            Some(json!({"total": 6, "first": 3}))
        );
        assert_eq!(
            ev("($x := n + 1; $y := $x * 2; [$x, $y])", i.clone()),
            Some(json!([5, 10]))
        );
        assert_eq!(
            ev("list ~> $sort() ~> $reverse()", i.clone()),
            Some(json!([3, 2, 1]))
        );
        assert_eq!(
            ev("/* a comment */ \"quoted \\\"x\\\"\"", i.clone()),
            Some(json!("quoted \"x\""))
        );
    }

    #[test]
    fn functions() {
        let i = json!({"items": [{"price": 2, "qty": 3}, {"price": 5, "qty": 1}], "name": " Ada  Lovelace "});
        assert_eq!(ev("$sum(items.(price * qty))", i.clone()), Some(json!(11)));
        assert_eq!(
            ev("$map(items, function($v) { $v.price })", i.clone()),
            Some(json!([2, 5]))
        );
        assert_eq!(
            ev(
                "$filter(items, function($v) { $v.qty > 1 }).price",
                i.clone()
            ),
            Some(json!(2))
        );
        assert_eq!(
            ev("$reduce([1,2,3], function($a, $b) { $a + $b })", i.clone()),
            Some(json!(6))
        );
        assert_eq!(ev("$trim(name)", i.clone()), Some(json!("Ada Lovelace")));
        assert_eq!(
            ev("$uppercase($substring($trim(name), 0, 3))", i.clone()),
            Some(json!("ADA"))
        );
        assert_eq!(
            ev("$split('a,b,c', ',')", i.clone()),
            Some(json!(["a", "b", "c"]))
        );
        assert_eq!(ev("$join(['a','b'], '+')", i.clone()), Some(json!("a+b")));
        assert_eq!(ev("$string({'a': 1})", i.clone()), Some(json!("{\"a\":1}")));
        assert_eq!(ev("$number('12.5') + 1", i.clone()), Some(json!(13.5)));
        assert_eq!(
            ev("$round(2.5) & $round(3.5) & $round(1.2345, 2)", i.clone()),
            Some(json!("241.23"))
        );
        assert_eq!(ev("$max([1, 9, 3])", i.clone()), Some(json!(9)));
        assert_eq!(
            ev("$keys({'a': 1, 'b': 2})", i.clone()),
            Some(json!(["a", "b"]))
        );
        assert_eq!(
            ev("$merge([{'a': 1}, {'b': 2}])", i.clone()),
            Some(json!({"a": 1, "b": 2}))
        );
        assert_eq!(ev("$exists(nothing)", i.clone()), Some(json!(false)));
        assert_eq!(ev("$type(items)", i.clone()), Some(json!("array")));
        assert_eq!(
            ev("$partition([1,2,3], 2)", i.clone()),
            Some(json!([[1, 2], [3]]))
        );
        assert_eq!(ev("$range(0, 10, 5)", i.clone()), Some(json!([0, 5, 10])));
        assert_eq!(ev("$parse('{\"k\": [1]}').k", i.clone()), Some(json!([1])));
        assert_eq!(
            ev("$hash('input data', 'SHA-1')", i.clone()),
            Some(json!("aaff4a450a104cd177d28d18d74485e8cae074b7"))
        );
        assert_eq!(
            ev("$toMillis('1970-01-01T00:00:01Z')", i.clone()),
            Some(json!(1000))
        );
        assert_eq!(
            ev("$fromMillis(0)", i.clone()),
            Some(json!("1970-01-01T00:00:00.000Z"))
        );
        assert_eq!(ev("$length($uuid())", i.clone()), Some(json!(36)));
        assert_eq!(
            ev(
                "$sort(items, function($a, $b) { $a.price < $b.price }).price",
                i.clone()
            ),
            Some(json!([5, 2]))
        );
    }

    #[test]
    fn bad_expressions_are_errors_not_panics() {
        for bad in [
            "(",
            "a.",
            "1 +",
            "{'a' 1}",
            "$x :=",
            "[1..",
            "'open",
            "function($x) {",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let vars = Map::new();
        for bad in [
            "'a' + 1",
            "$nope()",
            "$number('x')",
            "1 / 0",
            "$range(0, 1, 0)",
        ] {
            assert!(
                evaluate(&parse(bad).unwrap(), &json!({}), &vars).is_err(),
                "{bad}"
            );
        }
        for bad in [
            "$pad('x', -1e300)",
            "[1e300..1e300]",
            "($f := function($s, $n) { $n = 0 ? $s : $f($s & $s, $n - 1) }; $f('ab', 40))",
        ] {
            assert!(
                evaluate(&parse(bad).unwrap(), &json!({}), &vars).is_err(),
                "{bad}"
            );
        }
        let chain = vec!["1"; 5000].join("+");
        assert!(parse(&chain).is_err());
        // Runaway recursion is stopped.
        let deep = "($f := function($n) { $f($n + 1) }; $f(0))";
        assert!(evaluate(&parse(deep).unwrap(), &json!({}), &vars).is_err());
    }
}
