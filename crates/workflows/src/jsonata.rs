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
    /// `/pattern/flags`.
    Regex(String, String),
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
        // `/` where an operand is expected starts a regular expression.
        if c == '/' && regex_may_start(out.last()) {
            let mut pattern = String::new();
            i += 1;
            loop {
                let ch = *b.get(i).ok_or("unterminated regular expression")?;
                i += 1;
                match ch {
                    '/' => break,
                    '\\' => {
                        let e = *b.get(i).ok_or("unterminated regular expression")?;
                        i += 1;
                        if e != '/' {
                            pattern.push('\\');
                        }
                        pattern.push(e);
                    }
                    other => pattern.push(other),
                }
            }
            let mut flags = String::new();
            while let Some(f @ ('i' | 'm')) = b.get(i) {
                flags.push(*f);
                i += 1;
            }
            regex::compile(&pattern, &flags)?;
            out.push(Tok::Regex(pattern, flags));
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

/// Whether a `/` after `prev` begins a regular expression (an operand is
/// expected there) rather than dividing.
fn regex_may_start(prev: Option<&Tok>) -> bool {
    match prev {
        None => true,
        Some(Tok::Op(op)) => !matches!(*op, ")" | "]" | "}"),
        Some(Tok::Name(n)) => matches!(n.as_str(), "and" | "or" | "in"),
        _ => false,
    }
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
    /// A regular expression (its builtin's name, see [`regex::name`]).
    Regex(String),
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
            // A regular expression is a function of its string (as in
            // JSONata), named by its flags and pattern.
            Tok::Regex(p, f) => Node::Regex(regex::name(&p, &f)),
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
            Node::Regex(name) => Val::Builtin(name.clone()),
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
                        results.push(v);
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
    "match",
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

mod builtins;
mod regex;
#[cfg(test)]
mod tests;
