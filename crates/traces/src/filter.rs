//! X-Ray's filter expressions for `GetTraceSummaries`: boolean keywords
//! (`ok`, `error`, `fault`, `throttle`, `partial`), comparisons of
//! `responsetime`, `duration`, `http.status|url|method|useragent|clientip`,
//! `user` and `annotation.KEY` / `annotation[KEY]` (`=`, `!=`, `<`, `<=`,
//! `>`, `>=`, `CONTAINS`, `BEGINSWITH`, `ENDSWITH`), `service("name")` and
//! `id(name: "n", type: "t")` with an optional `{ expression }` asked of
//! that service's segments, joined with `AND`/`&&`, `OR`/`||`, `!` and
//! parentheses.

use crate::summary::Facts;
use serde_json::Value;

/// A filter expression that does not parse; the text says where and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid filter expression: {0}")]
pub struct FilterError(pub String);

#[derive(Debug, Clone, PartialEq)]
enum Lit {
    Num(f64),
    Str(String),
    Bool(bool),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Contains,
    BeginsWith,
    EndsWith,
}

#[derive(Debug, Clone, PartialEq)]
enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Flag(String),
    Compare(String, Op, Lit),
    Service {
        name: Option<String>,
        kind: Option<String>,
        inner: Option<Box<Expr>>,
    },
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Num(f64),
    Op(Op),
    Sym(char),
    And,
    Or,
    Not,
}

const FLAGS: [&str; 5] = ["ok", "error", "fault", "throttle", "partial"];
const MAX_DEPTH: usize = 64;

fn lex(s: &str) -> Result<Vec<Tok>, FilterError> {
    let c: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < c.len() {
        let ch = c[i];
        match ch {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '(' | ')' | '{' | '}' | ',' | ':' => {
                out.push(Tok::Sym(ch));
                i += 1;
            }
            '"' => {
                let mut v = String::new();
                i += 1;
                loop {
                    match c.get(i) {
                        None => return Err(FilterError("unterminated string".into())),
                        Some('\\') if i + 1 < c.len() => {
                            v.push(c[i + 1]);
                            i += 2;
                        }
                        Some('"') => {
                            i += 1;
                            break;
                        }
                        Some(x) => {
                            v.push(*x);
                            i += 1;
                        }
                    }
                }
                out.push(Tok::Str(v));
            }
            '=' => {
                out.push(Tok::Op(Op::Eq));
                i += 1;
            }
            '!' if c.get(i + 1) == Some(&'=') => {
                out.push(Tok::Op(Op::Ne));
                i += 2;
            }
            '!' => {
                out.push(Tok::Not);
                i += 1;
            }
            '<' | '>' => {
                let eq = c.get(i + 1) == Some(&'=');
                out.push(Tok::Op(match (ch, eq) {
                    ('<', false) => Op::Lt,
                    ('<', true) => Op::Le,
                    ('>', false) => Op::Gt,
                    _ => Op::Ge,
                }));
                i += 1 + usize::from(eq);
            }
            '&' | '|' if c.get(i + 1) == Some(&ch) => {
                out.push(if ch == '&' { Tok::And } else { Tok::Or });
                i += 2;
            }
            x if x.is_ascii_digit()
                || (x == '-' && c.get(i + 1).is_some_and(char::is_ascii_digit)) =>
            {
                let start = i;
                i += 1;
                while i < c.len() && (c[i].is_ascii_digit() || matches!(c[i], '.' | 'e' | 'E')) {
                    i += 1;
                }
                let t: String = c[start..i].iter().collect();
                let n = t
                    .parse()
                    .map_err(|_| FilterError(format!("bad number {t}")))?;
                out.push(Tok::Num(n));
            }
            x if x.is_alphanumeric() || x == '_' => {
                let start = i;
                while i < c.len() && (c[i].is_alphanumeric() || matches!(c[i], '_' | '.' | '-')) {
                    i += 1;
                }
                // `annotation[key]`
                if c.get(i) == Some(&'[') {
                    let close = c[i..]
                        .iter()
                        .position(|x| *x == ']')
                        .ok_or_else(|| FilterError("unclosed [".into()))?;
                    let key: String = c[i + 1..i + close].iter().collect();
                    let head: String = c[start..i].iter().collect();
                    out.push(Tok::Word(format!("{head}.{}", key.trim_matches('"'))));
                    i += close + 1;
                    continue;
                }
                let w: String = c[start..i].iter().collect();
                out.push(match w.to_ascii_uppercase().as_str() {
                    "AND" => Tok::And,
                    "OR" => Tok::Or,
                    "NOT" => Tok::Not,
                    "CONTAINS" => Tok::Op(Op::Contains),
                    "BEGINSWITH" => Tok::Op(Op::BeginsWith),
                    "ENDSWITH" => Tok::Op(Op::EndsWith),
                    _ => Tok::Word(w),
                });
            }
            other => return Err(FilterError(format!("unexpected character '{other}'"))),
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    depth: usize,
    /// `AND`/`OR`s so far: each makes the tree one level deeper.
    joins: usize,
}

/// `AND`s and `OR`s in one expression, at most.
const MAX_JOINS: usize = 256;
/// An expression's length, at most.
const MAX_LEN: usize = 4096;

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn expect(&mut self, c: char) -> Result<(), FilterError> {
        match self.next() {
            Some(Tok::Sym(x)) if x == c => Ok(()),
            other => Err(FilterError(format!("expected '{c}', found {other:?}"))),
        }
    }

    fn or(&mut self) -> Result<Expr, FilterError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(FilterError("nested too deeply".into()));
        }
        let mut l = self.and()?;
        while self.peek() == Some(&Tok::Or) {
            self.pos += 1;
            self.join()?;
            l = Expr::Or(Box::new(l), Box::new(self.and()?));
        }
        self.depth -= 1;
        Ok(l)
    }

    fn and(&mut self) -> Result<Expr, FilterError> {
        let mut l = self.unary()?;
        while self.peek() == Some(&Tok::And) {
            self.pos += 1;
            self.join()?;
            l = Expr::And(Box::new(l), Box::new(self.unary()?));
        }
        Ok(l)
    }

    fn join(&mut self) -> Result<(), FilterError> {
        self.joins += 1;
        if self.joins > MAX_JOINS {
            return Err(FilterError(format!("more than {MAX_JOINS} AND and OR")));
        }
        Ok(())
    }

    fn unary(&mut self) -> Result<Expr, FilterError> {
        match self.next() {
            Some(Tok::Not) => {
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    return Err(FilterError("nested too deeply".into()));
                }
                let e = self.unary()?;
                self.depth -= 1;
                Ok(Expr::Not(Box::new(e)))
            }
            Some(Tok::Sym('(')) => {
                let e = self.or()?;
                self.expect(')')?;
                Ok(e)
            }
            Some(Tok::Word(w)) => self.predicate(w),
            other => Err(FilterError(format!(
                "expected a condition, found {other:?}"
            ))),
        }
    }

    fn literal(&mut self) -> Result<Lit, FilterError> {
        match self.next() {
            Some(Tok::Num(n)) => Ok(Lit::Num(n)),
            Some(Tok::Str(s)) => Ok(Lit::Str(s)),
            Some(Tok::Word(w)) if w == "true" || w == "false" => Ok(Lit::Bool(w == "true")),
            other => Err(FilterError(format!("expected a value, found {other:?}"))),
        }
    }

    fn predicate(&mut self, w: String) -> Result<Expr, FilterError> {
        let lower = w.to_ascii_lowercase();
        if lower == "service" || lower == "id" {
            return self.service(lower == "id");
        }
        let key = if let Some(k) = w.strip_prefix("annotation.") {
            format!("annotation.{k}")
        } else {
            lower
        };
        let known = FLAGS.contains(&key.as_str())
            || matches!(
                key.as_str(),
                "responsetime"
                    | "duration"
                    | "http.status"
                    | "http.url"
                    | "http.method"
                    | "http.useragent"
                    | "http.clientip"
                    | "user"
            )
            || key.starts_with("annotation.");
        if !known {
            return Err(FilterError(format!("unknown keyword '{w}'")));
        }
        match self.peek() {
            Some(Tok::Op(op)) => {
                let op = *op;
                self.pos += 1;
                let v = self.literal()?;
                Ok(Expr::Compare(key, op, v))
            }
            _ if FLAGS.contains(&key.as_str()) => Ok(Expr::Flag(key)),
            other => Err(FilterError(format!(
                "'{w}' needs a comparison, found {other:?}"
            ))),
        }
    }

    fn service(&mut self, by_id: bool) -> Result<Expr, FilterError> {
        self.expect('(')?;
        let (mut name, mut kind) = (None, None);
        loop {
            match self.next() {
                Some(Tok::Sym(')')) => break,
                Some(Tok::Str(s)) if !by_id => name = Some(s),
                Some(Tok::Word(k)) if by_id => {
                    self.expect(':')?;
                    let Some(Tok::Str(v)) = self.next() else {
                        return Err(FilterError(
                            "id() takes name: \"...\" and type: \"...\"".into(),
                        ));
                    };
                    match k.as_str() {
                        "name" => name = Some(v),
                        "type" => kind = Some(v),
                        _ => return Err(FilterError(format!("id() has no argument '{k}'"))),
                    }
                }
                Some(Tok::Sym(',')) => {}
                other => return Err(FilterError(format!("unexpected {other:?} in service()"))),
            }
        }
        let inner = if self.peek() == Some(&Tok::Sym('{')) {
            self.pos += 1;
            let e = self.or()?;
            self.expect('}')?;
            Some(Box::new(e))
        } else {
            None
        };
        Ok(Expr::Service { name, kind, inner })
    }
}

/// A parsed filter expression.
#[derive(Debug, Clone, PartialEq)]
pub struct FilterExpression(Expr);

fn compare_num(a: f64, op: Op, b: f64) -> bool {
    match op {
        Op::Eq => a == b,
        Op::Ne => a != b,
        Op::Lt => a < b,
        Op::Le => a <= b,
        Op::Gt => a > b,
        Op::Ge => a >= b,
        _ => false,
    }
}

fn compare_str(a: &str, op: Op, b: &str) -> bool {
    match op {
        Op::Eq => a == b,
        Op::Ne => a != b,
        Op::Contains => a.contains(b),
        Op::BeginsWith => a.starts_with(b),
        Op::EndsWith => a.ends_with(b),
        Op::Lt => a < b,
        Op::Le => a <= b,
        Op::Gt => a > b,
        Op::Ge => a >= b,
    }
}

fn compare(v: &Value, op: Op, lit: &Lit) -> bool {
    match (v, lit) {
        (Value::Number(n), Lit::Num(b)) => n.as_f64().is_some_and(|a| compare_num(a, op, *b)),
        (Value::String(s), Lit::Str(b)) => compare_str(s, op, b),
        (Value::Bool(a), Lit::Bool(b)) => match op {
            Op::Eq => a == b,
            Op::Ne => a != b,
            _ => false,
        },
        _ => false,
    }
}

impl FilterExpression {
    pub fn parse(s: &str) -> Result<FilterExpression, FilterError> {
        if s.len() > MAX_LEN {
            return Err(FilterError(format!("longer than {MAX_LEN} characters")));
        }
        let toks = lex(s)?;
        if toks.is_empty() {
            return Err(FilterError("the expression is empty".into()));
        }
        let mut p = Parser {
            toks,
            pos: 0,
            depth: 0,
            joins: 0,
        };
        let e = p.or()?;
        if p.pos < p.toks.len() {
            return Err(FilterError(format!("unexpected {:?}", p.toks[p.pos])));
        }
        Ok(FilterExpression(e))
    }

    /// Whether the trace made of `docs` matches.
    pub fn matches(&self, docs: &[Value]) -> bool {
        eval(&self.0, docs, &Facts::of(docs))
    }
}

fn flag_of(facts: &Facts, k: &str) -> bool {
    match k {
        "ok" => facts.ok(),
        "error" => facts.error,
        "fault" => facts.fault,
        "throttle" => facts.throttle,
        _ => facts.partial,
    }
}

fn eval(e: &Expr, docs: &[Value], facts: &Facts) -> bool {
    match e {
        Expr::And(a, b) => eval(a, docs, facts) && eval(b, docs, facts),
        Expr::Or(a, b) => eval(a, docs, facts) || eval(b, docs, facts),
        Expr::Not(a) => !eval(a, docs, facts),
        Expr::Flag(k) => flag_of(facts, k),
        Expr::Compare(k, op, lit) => match k.as_str() {
            f if FLAGS.contains(&f) => compare(&Value::Bool(flag_of(facts, f)), *op, lit),
            "responsetime" => compare(&facts.response_time.into(), *op, lit),
            "duration" => compare(&facts.duration.into(), *op, lit),
            "user" => facts
                .users
                .iter()
                .any(|u| compare(&Value::String(u.clone()), *op, lit)),
            h if h.starts_with("http.") => facts
                .http
                .get(&h[5..])
                .is_some_and(|v| compare(v, *op, lit)),
            a => facts
                .annotations
                .get(&a["annotation.".len()..])
                .is_some_and(|vs| vs.iter().any(|v| compare(v, *op, lit))),
        },
        Expr::Service { name, kind, inner } => {
            let picked: Vec<Value> = docs
                .iter()
                .filter(|d| {
                    name.as_deref()
                        .is_none_or(|n| d.get("name").and_then(Value::as_str) == Some(n))
                        && kind
                            .as_deref()
                            .is_none_or(|t| d.get("origin").and_then(Value::as_str) == Some(t))
                })
                .cloned()
                .collect();
            if picked.is_empty() {
                return false;
            }
            match inner {
                None => true,
                Some(i) => eval(i, &picked, &Facts::of(&picked)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn trace() -> Vec<Value> {
        vec![
            json!({"id": "aaaaaaaaaaaaaaaa", "name": "api", "origin": "AWS::ApiGateway::Stage", "start_time": 1.0, "end_time": 3.5,
                   "http": {"request": {"url": "https://x/orders", "method": "POST"}, "response": {"status": 502}}, "fault": true}),
            json!({"id": "bbbbbbbbbbbbbbbb", "parent_id": "aaaaaaaaaaaaaaaa", "name": "orders", "origin": "AWS::Lambda::Function",
                   "start_time": 1.1, "end_time": 3.0, "annotations": {"customer": "c-1", "items": 3, "vip": true}}),
        ]
    }

    fn m(s: &str) -> bool {
        FilterExpression::parse(s).unwrap().matches(&trace())
    }

    #[test]
    fn keywords_comparisons_and_services() {
        assert!(m("fault"));
        assert!(!m("ok"));
        assert!(m("responsetime > 2 AND duration >= 2.5"));
        assert!(m("http.status = 502 && http.url CONTAINS \"orders\""));
        assert!(m("http.method = \"POST\""));
        assert!(m("annotation.customer = \"c-1\""));
        assert!(m("annotation[items] > 2 AND annotation.vip = true"));
        assert!(m("service(\"orders\")"));
        assert!(!m("service(\"nope\")"));
        assert!(m("service(\"orders\") { ok }"));
        assert!(m("id(name: \"orders\", type: \"AWS::Lambda::Function\")"));
        assert!(m("!error OR throttle"));
        assert!(m("(fault || error) AND NOT partial"));
    }

    #[test]
    fn bad_expressions_say_why() {
        for bad in [
            "",
            "responsetime >",
            "nonsense = 1",
            "service(",
            "\"x",
            "(fault",
            "fault AND",
            "http.status $ 3",
        ] {
            assert!(FilterExpression::parse(bad).is_err(), "{bad}");
        }
        let deep = "(".repeat(10_000) + "fault" + &")".repeat(10_000);
        assert!(FilterExpression::parse(&deep).is_err());
        let nots = "!".repeat(10_000) + "fault";
        assert!(FilterExpression::parse(&nots).is_err());
        let chain = "ok AND ".repeat(1000) + "ok";
        assert!(FilterExpression::parse(&chain).is_err());
    }
}
