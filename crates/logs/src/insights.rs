//! CloudWatch Logs Insights queries: commands joined by `|`: `fields`
//! (expressions, `as` names), `filter` (comparisons, `like` / `=~` with a
//! string or `/regex/`, `in [...]`, `and`, `or`, `not`), `stats` (`count`,
//! `count_distinct`, `sum`, `avg`, `min`, `max`, `pct`, `stddev`,
//! `earliest`, `latest` ... `by` fields or `bin(5m)`), `sort`, `limit`,
//! `display`, `parse` (a glob with `*` or a regular expression with named
//! groups) and `dedup`. Events offer `@timestamp`, `@message`, `@logStream`,
//! `@log`, `@ingestionTime`, `@ptr`, the fields of a JSON message (nested
//! ones as `a.b`, array items as `a.0`), and for Lambda's platform lines
//! `@type`, `@requestId`, `@duration`, `@billedDuration`, `@initDuration`,
//! `@memorySize` and `@maxMemoryUsed` (bytes), as Insights discovers them.
//!
//! Not for: running queries (the API keeps them); where events come from.

use crate::Event;
use nimbus_model::time::Utc;
use regex_automata::nfa::thompson::pikevm::PikeVM;
use serde_json::Value as Json;
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashSet};

/// A query that does not parse: where (character offsets) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at {start}")]
pub struct QueryError {
    pub start: usize,
    pub end: usize,
    pub message: String,
}

/// The most results a query returns (Insights' limit).
pub const MAX_RESULTS: usize = 10_000;
/// How deep expressions may nest.
const MAX_DEPTH: usize = 64;

/// A value in a record.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Null,
    Num(f64),
    Str(String),
    /// Epoch milliseconds, shown as Insights shows times.
    Time(u64),
}

impl Val {
    fn num(&self) -> Option<f64> {
        match self {
            Val::Num(n) => Some(*n),
            Val::Time(t) => Some(*t as f64),
            Val::Str(s) => s.trim().parse().ok(),
            Val::Null => None,
        }
    }

    fn truthy(&self) -> bool {
        match self {
            Val::Null => false,
            Val::Num(n) => *n != 0.0,
            Val::Str(s) => !s.is_empty(),
            Val::Time(_) => true,
        }
    }

    /// The text Insights returns for the value.
    pub fn render(&self) -> Option<String> {
        match self {
            Val::Null => None,
            Val::Num(n) if n.fract() == 0.0 && n.abs() < 1e15 => Some(format!("{}", *n as i64)),
            Val::Num(n) => Some(format!("{n}")),
            Val::Str(s) => Some(s.clone()),
            Val::Time(t) => {
                let u = Utc::from_millis(*t);
                Some(format!(
                    "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03}",
                    u.year, u.month, u.day, u.hour, u.minute, u.second, u.millis
                ))
            }
        }
    }

    fn text(&self) -> String {
        self.render().unwrap_or_default()
    }
}

fn order(a: &Val, b: &Val) -> Ordering {
    match (a, b) {
        (Val::Null, Val::Null) => Ordering::Equal,
        (Val::Null, _) => Ordering::Greater,
        (_, Val::Null) => Ordering::Less,
        (Val::Str(x), Val::Str(y)) => match (x.parse::<f64>(), y.parse::<f64>()) {
            (Ok(p), Ok(q)) => p.total_cmp(&q),
            _ => x.cmp(y),
        },
        _ => match (a.num(), b.num()) {
            (Some(x), Some(y)) => x.total_cmp(&y),
            _ => a.text().cmp(&b.text()),
        },
    }
}

// ---------------------------------------------------------------- lexing

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Regex(String),
    Num(f64),
    /// A time period such as `5m`, in milliseconds.
    Period(u64),
    Sym(&'static str),
}

#[derive(Debug, Clone)]
struct Spanned {
    tok: Tok,
    start: usize,
    end: usize,
}

fn err<T>(start: usize, end: usize, message: impl Into<String>) -> Result<T, QueryError> {
    Err(QueryError {
        start,
        end,
        message: message.into(),
    })
}

const SYMS: [&str; 19] = [
    "==", "!=", "<=", ">=", "=~", "=", "<", ">", "|", ",", "(", ")", "[", "]", "+", "-", "*", "/",
    "%",
];

fn lex(q: &str) -> Result<Vec<Spanned>, QueryError> {
    let c: Vec<char> = q.chars().collect();
    let mut out: Vec<Spanned> = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        let start = i;
        if ch.is_whitespace() {
            i += 1;
            continue;
        }
        // A comment runs to the end of the line.
        if ch == '#' {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
            continue;
        }
        if ch == '"' || ch == '\'' {
            let mut v = String::new();
            i += 1;
            loop {
                match c.get(i) {
                    None => return err(start, i, "unterminated string"),
                    Some('\\') if i + 1 < c.len() => {
                        v.push(c[i + 1]);
                        i += 2;
                    }
                    Some(x) if *x == ch => {
                        i += 1;
                        break;
                    }
                    Some(x) => {
                        v.push(*x);
                        i += 1;
                    }
                }
            }
            out.push(Spanned {
                tok: Tok::Str(v),
                start,
                end: i,
            });
            continue;
        }
        // `/regex/` where a pattern is expected: after like or =~, and as
        // parse's pattern (`parse @message /.../`).
        let n = out.len();
        let expects_value = matches!(out.last().map(|s| &s.tok), Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("like"))
            || matches!(out.last().map(|s| &s.tok), Some(Tok::Sym("=~")))
            || (n >= 2
                && matches!(&out[n - 2].tok, Tok::Ident(p) if p.eq_ignore_ascii_case("parse")));
        if ch == '/' && expects_value {
            let mut v = String::new();
            i += 1;
            loop {
                match c.get(i) {
                    None => return err(start, i, "unterminated regular expression"),
                    Some('\\') if c.get(i + 1) == Some(&'/') => {
                        v.push('/');
                        i += 2;
                    }
                    Some('/') => {
                        i += 1;
                        break;
                    }
                    Some(x) => {
                        v.push(*x);
                        i += 1;
                    }
                }
            }
            out.push(Spanned {
                tok: Tok::Regex(v),
                start,
                end: i,
            });
            continue;
        }
        if ch.is_ascii_digit() || (ch == '.' && c.get(i + 1).is_some_and(char::is_ascii_digit)) {
            while i < c.len() && (c[i].is_ascii_digit() || c[i] == '.') {
                i += 1;
            }
            let n: String = c[start..i].iter().collect();
            let Ok(value) = n.parse::<f64>() else {
                return err(start, i, format!("bad number {n}"));
            };
            // A period: 5m, 1h, 30s, 100ms, 1d.
            let unit_start = i;
            while i < c.len() && c[i].is_ascii_alphabetic() {
                i += 1;
            }
            let unit: String = c[unit_start..i].iter().collect();
            let tok = if unit.is_empty() {
                Tok::Num(value)
            } else {
                let ms = match unit.as_str() {
                    "ms" => 1.0,
                    "s" | "sec" | "second" | "seconds" => 1000.0,
                    "m" | "min" | "minute" | "minutes" => 60_000.0,
                    "h" | "hr" | "hour" | "hours" => 3_600_000.0,
                    "d" | "day" | "days" => 86_400_000.0,
                    "w" | "week" | "weeks" => 604_800_000.0,
                    _ => return err(start, i, format!("unknown time unit '{unit}'")),
                };
                Tok::Period((value * ms) as u64)
            };
            out.push(Spanned { tok, start, end: i });
            continue;
        }
        if ch == '`' {
            let close = c[i + 1..].iter().position(|x| *x == '`');
            let Some(close) = close else {
                return err(start, c.len(), "unterminated `name`");
            };
            let name: String = c[i + 1..i + 1 + close].iter().collect();
            i += close + 2;
            out.push(Spanned {
                tok: Tok::Ident(name),
                start,
                end: i,
            });
            continue;
        }
        if ch.is_alphanumeric() || ch == '@' || ch == '_' || ch == '$' {
            while i < c.len()
                && (c[i].is_alphanumeric() || matches!(c[i], '@' | '_' | '.' | '$' | '-'))
            {
                // `a-b` is a subtraction unless it is inside a name like `x-amz`:
                // a name ends at `-` followed by a space or a digit-free operand.
                if c[i] == '-' && !c.get(i + 1).is_some_and(|n| n.is_alphabetic()) {
                    break;
                }
                i += 1;
            }
            let w: String = c[start..i].iter().collect();
            out.push(Spanned {
                tok: Tok::Ident(w),
                start,
                end: i,
            });
            continue;
        }
        let rest: String = c[i..(i + 2).min(c.len())].iter().collect();
        let Some(sym) = SYMS.iter().find(|s| rest.starts_with(**s)) else {
            return err(start, start + 1, format!("unexpected character '{ch}'"));
        };
        i += sym.chars().count();
        out.push(Spanned {
            tok: Tok::Sym(sym),
            start,
            end: i,
        });
    }
    Ok(out)
}

// ---------------------------------------------------------------- syntax

#[derive(Debug, Clone, Copy, PartialEq)]
enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug)]
enum Expr {
    Lit(Val),
    Field(String),
    Neg(Box<Expr>),
    Arith(char, Box<Expr>, Box<Expr>),
    Compare(Cmp, Box<Expr>, Box<Expr>),
    Like(Box<Expr>, Matcher, bool),
    In(Box<Expr>, Vec<Expr>, bool),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Call(String, Vec<Expr>),
}

/// A `like` pattern: a substring, or a regular expression.
#[derive(Debug)]
enum Matcher {
    Contains(String),
    Regex(Box<PikeVM>),
}

impl Matcher {
    fn matches(&self, s: &str) -> bool {
        match self {
            Matcher::Contains(sub) => s.contains(sub.as_str()),
            Matcher::Regex(re) => {
                let mut cache = re.create_cache();
                re.is_match(&mut cache, s)
            }
        }
    }
}

fn compile(pattern: &str, start: usize, end: usize) -> Result<PikeVM, QueryError> {
    if pattern.len() > 4096 {
        return err(start, end, "regular expression too long");
    }
    PikeVM::builder()
        .thompson(regex_automata::nfa::thompson::Config::new().nfa_size_limit(Some(1 << 20)))
        .build(pattern)
        .or_else(|e| err(start, end, format!("invalid regular expression: {e}")))
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Agg {
    Count,
    CountDistinct,
    Sum,
    Avg,
    Min,
    Max,
    Pct,
    Stddev,
    Earliest,
    Latest,
}

#[derive(Debug)]
struct Stat {
    agg: Agg,
    /// `None`: `count(*)`.
    arg: Option<Expr>,
    pct: f64,
    name: String,
}

#[derive(Debug)]
enum Command {
    Fields(Vec<(String, Expr)>),
    Display(Vec<String>),
    Filter(Expr),
    Stats {
        stats: Vec<Stat>,
        by: Vec<(String, Expr)>,
    },
    Sort(Vec<(String, bool)>),
    Limit(usize),
    Parse {
        field: String,
        re: Box<PikeVM>,
        names: Vec<String>,
    },
    Dedup(Vec<String>),
}

/// A parsed Insights query.
#[derive(Debug)]
pub struct InsightsQuery {
    commands: Vec<Command>,
}

struct Parser<'a> {
    toks: Vec<Spanned>,
    pos: usize,
    src: &'a str,
    depth: usize,
    /// Binary operators so far: each chain of them nests the tree a level deeper.
    joins: usize,
}

/// Binary operators in one query, at most.
const MAX_JOINS: usize = 512;

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|s| &s.tok)
    }

    fn here(&self) -> (usize, usize) {
        match self.toks.get(self.pos) {
            Some(s) => (s.start, s.end),
            None => (self.src.chars().count(), self.src.chars().count()),
        }
    }

    fn fail<T>(&self, m: impl Into<String>) -> Result<T, QueryError> {
        let (s, e) = self.here();
        err(s, e, m)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.peek().cloned();
        self.pos += 1;
        t
    }

    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(x)) if x.eq_ignore_ascii_case(w))
    }

    fn is_sym(&self, s: &str) -> bool {
        self.peek()
            == Some(&Tok::Sym(match s {
                "|" => "|",
                "," => ",",
                "(" => "(",
                ")" => ")",
                "[" => "[",
                "]" => "]",
                _ => return false,
            }))
    }

    fn sym(&mut self, s: &'static str) -> Result<(), QueryError> {
        if self.peek() == Some(&Tok::Sym(s)) {
            self.pos += 1;
            Ok(())
        } else {
            self.fail(format!("expected '{s}'"))
        }
    }

    fn ident(&mut self) -> Result<String, QueryError> {
        match self.next() {
            Some(Tok::Ident(w)) => Ok(w),
            _ => {
                self.pos -= 1;
                self.fail("expected a field name")
            }
        }
    }

    /// The query text of tokens `from..self.pos`.
    fn text(&self, from: usize) -> String {
        let (Some(a), Some(b)) = (
            self.toks.get(from),
            self.toks.get(self.pos.saturating_sub(1)),
        ) else {
            return String::new();
        };
        self.src
            .chars()
            .skip(a.start)
            .take(b.end.saturating_sub(a.start))
            .collect()
    }

    fn query(&mut self) -> Result<InsightsQuery, QueryError> {
        let mut commands = Vec::new();
        loop {
            commands.push(self.command()?);
            match self.peek() {
                None => break,
                Some(Tok::Sym("|")) => self.pos += 1,
                _ => return self.fail("expected '|' or the end of the query"),
            }
        }
        Ok(InsightsQuery { commands })
    }

    fn named_list(&mut self) -> Result<Vec<(String, Expr)>, QueryError> {
        let mut out = Vec::new();
        loop {
            let from = self.pos;
            let e = self.expr()?;
            let mut name = self.text(from);
            if self.is_word("as") {
                self.pos += 1;
                name = self.ident()?;
            }
            out.push((name, e));
            if !self.is_sym(",") {
                return Ok(out);
            }
            self.pos += 1;
        }
    }

    fn command(&mut self) -> Result<Command, QueryError> {
        let Some(Tok::Ident(w)) = self.next() else {
            self.pos -= 1;
            return self.fail(
                "expected a command (fields, filter, stats, sort, limit, parse, display, dedup)",
            );
        };
        Ok(match w.to_ascii_lowercase().as_str() {
            "fields" => Command::Fields(self.named_list()?),
            "display" => {
                let mut names = vec![self.ident()?];
                while self.is_sym(",") {
                    self.pos += 1;
                    names.push(self.ident()?);
                }
                Command::Display(names)
            }
            "dedup" => {
                let mut names = vec![self.ident()?];
                while self.is_sym(",") {
                    self.pos += 1;
                    names.push(self.ident()?);
                }
                Command::Dedup(names)
            }
            "filter" => Command::Filter(self.expr()?),
            "stats" => self.stats()?,
            "sort" => {
                let mut keys = Vec::new();
                loop {
                    let f = self.ident()?;
                    let desc = if self.is_word("desc") {
                        self.pos += 1;
                        true
                    } else {
                        if self.is_word("asc") {
                            self.pos += 1;
                        }
                        false
                    };
                    keys.push((f, desc));
                    if !self.is_sym(",") {
                        break;
                    }
                    self.pos += 1;
                }
                Command::Sort(keys)
            }
            "limit" => match self.next() {
                Some(Tok::Num(n)) if n >= 1.0 && n <= MAX_RESULTS as f64 && n.fract() == 0.0 => {
                    Command::Limit(n as usize)
                }
                _ => {
                    self.pos -= 1;
                    return self.fail(format!(
                        "limit takes a whole number from 1 to {MAX_RESULTS}"
                    ));
                }
            },
            "parse" => self.parse_command()?,
            _ => {
                self.pos -= 1;
                return self.fail(format!("unknown command '{w}'"));
            }
        })
    }

    fn parse_command(&mut self) -> Result<Command, QueryError> {
        let field = self.ident()?;
        let (s, e) = self.here();
        match self.next() {
            Some(Tok::Str(glob)) => {
                let stars = glob.matches('*').count();
                if stars == 0 {
                    return err(s, e, "a parse pattern needs at least one *");
                }
                if !self.is_word("as") {
                    return self.fail("parse with a glob names its fields: as a, b, ...");
                }
                self.pos += 1;
                let mut names = vec![self.ident()?];
                while self.is_sym(",") {
                    self.pos += 1;
                    names.push(self.ident()?);
                }
                if names.len() != stars {
                    return err(
                        s,
                        e,
                        format!(
                            "the pattern has {stars} * but {} names follow as",
                            names.len()
                        ),
                    );
                }
                let parts: Vec<&str> = glob.split('*').collect();
                let mut re = String::new();
                for (i, part) in parts.iter().enumerate() {
                    re.push_str(&regex_syntax_escape(part));
                    if i + 1 < parts.len() {
                        // Lazy, except a last `*` that ends the pattern (it takes the rest).
                        let ends = i + 2 == parts.len() && parts[i + 1].is_empty();
                        re.push_str(if ends { "(.*)" } else { "(.*?)" });
                    }
                }
                Ok(Command::Parse {
                    field,
                    re: Box::new(compile(&re, s, e)?),
                    names,
                })
            }
            Some(Tok::Regex(r)) => {
                let re = compile(&r, s, e)?;
                let names: Vec<String> = re
                    .get_nfa()
                    .group_info()
                    .pattern_names(regex_automata::PatternID::ZERO)
                    .flatten()
                    .map(str::to_string)
                    .collect();
                if names.is_empty() {
                    return err(
                        s,
                        e,
                        "a parse regular expression names its fields: (?<name>...)",
                    );
                }
                Ok(Command::Parse {
                    field,
                    re: Box::new(re),
                    names,
                })
            }
            _ => err(
                s,
                e,
                "parse takes a \"glob * pattern\" or a /regular expression/",
            ),
        }
    }

    fn stats(&mut self) -> Result<Command, QueryError> {
        let mut stats = Vec::new();
        loop {
            let from = self.pos;
            let (s, e) = self.here();
            let Some(Tok::Ident(f)) = self.next() else {
                return err(
                    s,
                    e,
                    "stats takes aggregate functions such as count(*), avg(x)",
                );
            };
            let agg = match f.to_ascii_lowercase().as_str() {
                "count" => Agg::Count,
                "count_distinct" => Agg::CountDistinct,
                "sum" => Agg::Sum,
                "avg" => Agg::Avg,
                "min" => Agg::Min,
                "max" => Agg::Max,
                "pct" | "percentile" => Agg::Pct,
                "stddev" => Agg::Stddev,
                "earliest" => Agg::Earliest,
                "latest" => Agg::Latest,
                _ => return err(s, e, format!("unknown aggregate function '{f}'")),
            };
            self.sym("(")?;
            let arg =
                if agg == Agg::Count && (self.peek() == Some(&Tok::Sym("*")) || self.is_sym(")")) {
                    if !self.is_sym(")") {
                        self.pos += 1;
                    }
                    None
                } else {
                    Some(self.expr()?)
                };
            let mut pct = 50.0;
            if agg == Agg::Pct {
                self.sym(",")?;
                match self.next() {
                    Some(Tok::Num(n)) if (0.0..=100.0).contains(&n) => pct = n,
                    _ => {
                        self.pos -= 1;
                        return self.fail("pct takes a percentile from 0 to 100");
                    }
                }
            }
            self.sym(")")?;
            let mut name = self.text(from);
            if self.is_word("as") {
                self.pos += 1;
                name = self.ident()?;
            }
            stats.push(Stat {
                agg,
                arg,
                pct,
                name,
            });
            if !self.is_sym(",") {
                break;
            }
            self.pos += 1;
        }
        let by = if self.is_word("by") {
            self.pos += 1;
            self.named_list()?
        } else {
            Vec::new()
        };
        Ok(Command::Stats { stats, by })
    }

    fn expr(&mut self) -> Result<Expr, QueryError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.fail("the expression nests too deeply");
        }
        let mut l = self.and()?;
        while self.is_word("or") {
            self.pos += 1;
            self.join()?;
            l = Expr::Or(Box::new(l), Box::new(self.and()?));
        }
        self.depth -= 1;
        Ok(l)
    }

    fn and(&mut self) -> Result<Expr, QueryError> {
        let mut l = self.not()?;
        while self.is_word("and") {
            self.pos += 1;
            self.join()?;
            l = Expr::And(Box::new(l), Box::new(self.not()?));
        }
        Ok(l)
    }

    fn not(&mut self) -> Result<Expr, QueryError> {
        if self.is_word("not") {
            self.pos += 1;
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return self.fail("the expression nests too deeply");
            }
            let e = self.not()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(e)));
        }
        self.comparison()
    }

    fn join(&mut self) -> Result<(), QueryError> {
        self.joins += 1;
        if self.joins > MAX_JOINS {
            return self.fail(format!("more than {MAX_JOINS} operators in one query"));
        }
        Ok(())
    }

    fn matcher(&mut self) -> Result<Matcher, QueryError> {
        let (s, e) = self.here();
        match self.next() {
            Some(Tok::Str(sub)) => Ok(Matcher::Contains(sub)),
            Some(Tok::Regex(r)) => Ok(Matcher::Regex(Box::new(compile(&r, s, e)?))),
            _ => err(s, e, "like takes a \"string\" or a /regular expression/"),
        }
    }

    fn comparison(&mut self) -> Result<Expr, QueryError> {
        let l = self.additive()?;
        let negated = self.is_word("not");
        if negated {
            self.pos += 1;
            if !(self.is_word("like") || self.is_word("in")) {
                return self.fail("expected like or in after not");
            }
        }
        if self.is_word("like") {
            self.pos += 1;
            let m = self.matcher()?;
            return Ok(Expr::Like(Box::new(l), m, negated));
        }
        if self.peek() == Some(&Tok::Sym("=~")) {
            self.pos += 1;
            let m = self.matcher()?;
            return Ok(Expr::Like(Box::new(l), m, false));
        }
        if self.is_word("in") {
            self.pos += 1;
            self.sym("[")?;
            let mut items = Vec::new();
            while !self.is_sym("]") {
                items.push(self.additive()?);
                if self.is_sym(",") {
                    self.pos += 1;
                } else if !self.is_sym("]") {
                    return self.fail("expected ',' or ']'");
                }
            }
            self.pos += 1;
            return Ok(Expr::In(Box::new(l), items, negated));
        }
        let op = match self.peek() {
            Some(Tok::Sym("=" | "==")) => Cmp::Eq,
            Some(Tok::Sym("!=")) => Cmp::Ne,
            Some(Tok::Sym("<")) => Cmp::Lt,
            Some(Tok::Sym("<=")) => Cmp::Le,
            Some(Tok::Sym(">")) => Cmp::Gt,
            Some(Tok::Sym(">=")) => Cmp::Ge,
            _ => return Ok(l),
        };
        self.pos += 1;
        let r = self.additive()?;
        Ok(Expr::Compare(op, Box::new(l), Box::new(r)))
    }

    fn additive(&mut self) -> Result<Expr, QueryError> {
        let mut l = self.multiplicative()?;
        loop {
            let op = match self.peek() {
                Some(Tok::Sym("+")) => '+',
                Some(Tok::Sym("-")) => '-',
                _ => return Ok(l),
            };
            self.pos += 1;
            self.join()?;
            l = Expr::Arith(op, Box::new(l), Box::new(self.multiplicative()?));
        }
    }

    fn multiplicative(&mut self) -> Result<Expr, QueryError> {
        let mut l = self.unary()?;
        loop {
            let op = match self.peek() {
                Some(Tok::Sym("*")) => '*',
                Some(Tok::Sym("/")) => '/',
                Some(Tok::Sym("%")) => '%',
                _ => return Ok(l),
            };
            self.pos += 1;
            self.join()?;
            l = Expr::Arith(op, Box::new(l), Box::new(self.unary()?));
        }
    }

    fn unary(&mut self) -> Result<Expr, QueryError> {
        if self.peek() == Some(&Tok::Sym("-")) {
            self.pos += 1;
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return self.fail("the expression nests too deeply");
            }
            let e = self.unary()?;
            self.depth -= 1;
            return Ok(Expr::Neg(Box::new(e)));
        }
        let (s, e) = self.here();
        match self.next() {
            Some(Tok::Num(n)) => Ok(Expr::Lit(Val::Num(n))),
            Some(Tok::Period(ms)) => Ok(Expr::Lit(Val::Num(ms as f64))),
            Some(Tok::Str(v)) => Ok(Expr::Lit(Val::Str(v))),
            Some(Tok::Sym("(")) => {
                let inner = self.expr()?;
                self.sym(")")?;
                Ok(inner)
            }
            Some(Tok::Ident(w)) if self.is_sym("(") => {
                self.pos += 1;
                let mut args = Vec::new();
                while !self.is_sym(")") {
                    args.push(self.expr()?);
                    if self.is_sym(",") {
                        self.pos += 1;
                    } else if !self.is_sym(")") {
                        return self.fail("expected ',' or ')'");
                    }
                }
                self.pos += 1;
                let name = w.to_ascii_lowercase();
                if !FUNCTIONS.contains(&name.as_str()) {
                    return err(s, e, format!("unknown function '{w}'"));
                }
                Ok(Expr::Call(name, args))
            }
            Some(Tok::Ident(w)) => Ok(Expr::Field(w)),
            _ => err(s, e, "expected a value, a field or a function"),
        }
    }
}

const FUNCTIONS: [&str; 20] = [
    "ispresent",
    "isempty",
    "isblank",
    "strlen",
    "toupper",
    "tolower",
    "trim",
    "concat",
    "substr",
    "replace",
    "strcontains",
    "abs",
    "ceil",
    "floor",
    "bin",
    "datefloor",
    "coalesce",
    "greatest",
    "least",
    "tonumber",
];

/// Escape regular expression syntax in literal text.
fn regex_syntax_escape(s: &str) -> String {
    let mut out = String::new();
    for ch in s.chars() {
        if "\\.+*?()|[]{}^$".contains(ch) {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

// ---------------------------------------------------------------- records

/// One event's fields.
pub type Record = BTreeMap<String, Val>;

fn flatten(prefix: &str, v: &Json, out: &mut Record, budget: &mut usize) {
    if *budget == 0 {
        return;
    }
    *budget -= 1;
    match v {
        Json::Object(m) => {
            for (k, v) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out, budget);
            }
        }
        Json::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                flatten(&format!("{prefix}.{i}"), v, out, budget);
            }
        }
        Json::Null => {}
        Json::Number(n) => {
            out.insert(prefix.to_string(), n.as_f64().map_or(Val::Null, Val::Num));
        }
        Json::String(s) => {
            out.insert(prefix.to_string(), Val::Str(s.clone()));
        }
        Json::Bool(b) => {
            out.insert(prefix.to_string(), Val::Str(b.to_string()));
        }
    }
}

/// Fields of Lambda's platform lines (`START`, `END`, `REPORT`).
fn lambda_fields(message: &str, out: &mut Record) {
    let Some((kind, rest)) = message.split_once(" RequestId: ") else {
        return;
    };
    if !matches!(kind, "START" | "END" | "REPORT") {
        return;
    }
    out.insert("@type".into(), Val::Str(kind.into()));
    let mut parts = rest.split('\t');
    let id = parts.next().unwrap_or_default();
    out.insert(
        "@requestId".into(),
        Val::Str(id.split_whitespace().next().unwrap_or_default().into()),
    );
    for p in parts {
        let Some((k, v)) = p.split_once(": ") else {
            continue;
        };
        let number = |v: &str| {
            v.split_whitespace()
                .next()
                .and_then(|n| n.parse::<f64>().ok())
        };
        let (name, scale) = match k {
            "Duration" => ("@duration", 1.0),
            "Billed Duration" => ("@billedDuration", 1.0),
            "Init Duration" => ("@initDuration", 1.0),
            "Memory Size" => ("@memorySize", 1_000_000.0),
            "Max Memory Used" => ("@maxMemoryUsed", 1_000_000.0),
            _ => continue,
        };
        if let Some(n) = number(v) {
            out.insert(name.into(), Val::Num(n * scale));
        }
    }
}

/// The fields of an event of `group` (in `account`).
pub fn record(account: &str, group: &str, e: &Event) -> Record {
    let mut r = Record::new();
    let msg = e.message.trim_end();
    if msg.starts_with('{')
        && let Ok(v) = serde_json::from_str::<Json>(msg)
    {
        let mut budget = 1000;
        flatten("", &v, &mut r, &mut budget);
    } else {
        lambda_fields(msg, &mut r);
    }
    r.insert("@timestamp".into(), Val::Time(e.timestamp));
    r.insert("@ingestionTime".into(), Val::Time(e.ingested));
    r.insert("@message".into(), Val::Str(e.message.clone()));
    r.insert("@logStream".into(), Val::Str(e.stream.clone()));
    r.insert("@log".into(), Val::Str(format!("{account}:{group}")));
    r.insert("@ptr".into(), Val::Str(pointer(group, e)));
    r
}

/// An event's `@ptr`: where `GetLogRecord` finds it again.
pub fn pointer(group: &str, e: &Event) -> String {
    let hex: String = group.bytes().map(|b| format!("{b:02x}")).collect();
    format!("{hex}:{}:{}", e.id.0, e.id.1)
}

/// The group and event id of a `@ptr`.
pub fn parse_pointer(p: &str) -> Option<(String, (u32, u32))> {
    let mut it = p.split(':');
    let hex = it.next()?;
    let seg = it.next()?.parse().ok()?;
    let line = it.next()?.parse().ok()?;
    if hex.len() % 2 != 0 {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect();
    Some((String::from_utf8(bytes?).ok()?, (seg, line)))
}

// ---------------------------------------------------------------- running

fn call(name: &str, args: &[Val]) -> Val {
    let s = |i: usize| args.get(i).map(Val::text).unwrap_or_default();
    let n = |i: usize| args.get(i).and_then(Val::num);
    match name {
        "ispresent" => Val::Num(f64::from(u8::from(!matches!(
            args.first(),
            None | Some(Val::Null)
        )))),
        "isempty" => Val::Num(f64::from(u8::from(s(0).is_empty()))),
        "isblank" => Val::Num(f64::from(u8::from(s(0).trim().is_empty()))),
        "strlen" => Val::Num(s(0).chars().count() as f64),
        "toupper" => Val::Str(s(0).to_uppercase()),
        "tolower" => Val::Str(s(0).to_lowercase()),
        "trim" => Val::Str(s(0).trim().to_string()),
        "concat" => Val::Str(args.iter().map(Val::text).collect()),
        "substr" => {
            let text: Vec<char> = s(0).chars().collect();
            let from = n(1).unwrap_or(0.0).max(0.0) as usize;
            let len = n(2).map_or(text.len(), |l| l.max(0.0) as usize);
            Val::Str(text.iter().skip(from).take(len).collect())
        }
        "replace" => {
            let from = s(1);
            if from.is_empty() {
                Val::Str(s(0))
            } else {
                Val::Str(s(0).replace(&from, &s(2)))
            }
        }
        "strcontains" => Val::Num(f64::from(u8::from(s(0).contains(&s(1))))),
        "abs" => n(0).map_or(Val::Null, |x| Val::Num(x.abs())),
        "ceil" => n(0).map_or(Val::Null, |x| Val::Num(x.ceil())),
        "floor" => n(0).map_or(Val::Null, |x| Val::Num(x.floor())),
        "tonumber" => n(0).map_or(Val::Null, Val::Num),
        "coalesce" => args
            .iter()
            .find(|v| !matches!(v, Val::Null))
            .cloned()
            .unwrap_or(Val::Null),
        "greatest" => args
            .iter()
            .filter_map(Val::num)
            .reduce(f64::max)
            .map_or(Val::Null, Val::Num),
        "least" => args
            .iter()
            .filter_map(Val::num)
            .reduce(f64::min)
            .map_or(Val::Null, Val::Num),
        // bin(period) floors @timestamp; datefloor(t, period) floors t.
        "bin" | "datefloor" => {
            let (t, p) = if name == "bin" {
                (args.get(1).and_then(Val::num), n(0))
            } else {
                (n(0), n(1))
            };
            match (t, p) {
                (Some(t), Some(p)) if p >= 1.0 => {
                    let (t, p) = (t as u64, p as u64);
                    Val::Time(t - t % p)
                }
                _ => Val::Null,
            }
        }
        _ => Val::Null,
    }
}

fn eval(e: &Expr, r: &Record) -> Val {
    let b = |x: bool| Val::Num(f64::from(u8::from(x)));
    match e {
        Expr::Lit(v) => v.clone(),
        Expr::Field(f) => r.get(f).cloned().unwrap_or(Val::Null),
        Expr::Neg(x) => eval(x, r).num().map_or(Val::Null, |n| Val::Num(-n)),
        Expr::Arith(op, x, y) => match (eval(x, r).num(), eval(y, r).num()) {
            (Some(a), Some(c)) => Val::Num(match op {
                '+' => a + c,
                '-' => a - c,
                '*' => a * c,
                '/' if c != 0.0 => a / c,
                '%' if c != 0.0 => a % c,
                _ => return Val::Null,
            }),
            _ => Val::Null,
        },
        Expr::Compare(op, x, y) => {
            let (a, c) = (eval(x, r), eval(y, r));
            if matches!(a, Val::Null) || matches!(c, Val::Null) {
                return b(*op == Cmp::Ne && !(matches!(a, Val::Null) && matches!(c, Val::Null)));
            }
            let o = match (&a, &c) {
                (Val::Str(p), Val::Str(q)) => p.cmp(q),
                _ => match (a.num(), c.num()) {
                    (Some(p), Some(q)) => p.total_cmp(&q),
                    _ => a.text().cmp(&c.text()),
                },
            };
            b(match op {
                Cmp::Eq => o == Ordering::Equal,
                Cmp::Ne => o != Ordering::Equal,
                Cmp::Lt => o == Ordering::Less,
                Cmp::Le => o != Ordering::Greater,
                Cmp::Gt => o == Ordering::Greater,
                Cmp::Ge => o != Ordering::Less,
            })
        }
        Expr::Like(x, m, negated) => {
            let v = eval(x, r);
            b(!matches!(v, Val::Null) && m.matches(&v.text()) != *negated)
        }
        Expr::In(x, items, negated) => {
            let v = eval(x, r);
            let found = items
                .iter()
                .any(|i| order(&eval(i, r), &v) == Ordering::Equal);
            b(!matches!(v, Val::Null) && found != *negated)
        }
        Expr::And(x, y) => b(eval(x, r).truthy() && eval(y, r).truthy()),
        Expr::Or(x, y) => b(eval(x, r).truthy() || eval(y, r).truthy()),
        Expr::Not(x) => b(!eval(x, r).truthy()),
        Expr::Call(name, args) => {
            let mut vals: Vec<Val> = args.iter().map(|a| eval(a, r)).collect();
            if name == "bin" {
                vals.push(r.get("@timestamp").cloned().unwrap_or(Val::Null));
            }
            call(name, &vals)
        }
    }
}

#[derive(Default)]
struct Acc {
    count: u64,
    sum: f64,
    sum_sq: f64,
    min: Option<Val>,
    max: Option<Val>,
    values: Vec<f64>,
    distinct: HashSet<String>,
    earliest: Option<(u64, Val)>,
    latest: Option<(u64, Val)>,
}

impl Acc {
    fn add(&mut self, stat: &Stat, r: &Record) {
        let v = match &stat.arg {
            None => {
                self.count += 1;
                return;
            }
            Some(e) => eval(e, r),
        };
        if matches!(v, Val::Null) {
            return;
        }
        self.count += 1;
        match stat.agg {
            Agg::Count => {}
            Agg::CountDistinct => {
                if self.distinct.len() < 100_000 {
                    self.distinct.insert(v.text());
                }
            }
            Agg::Min => {
                if self
                    .min
                    .as_ref()
                    .is_none_or(|m| order(&v, m) == Ordering::Less)
                {
                    self.min = Some(v);
                }
            }
            Agg::Max => {
                if self
                    .max
                    .as_ref()
                    .is_none_or(|m| order(&v, m) == Ordering::Greater)
                {
                    self.max = Some(v);
                }
            }
            Agg::Earliest | Agg::Latest => {
                let t = match r.get("@timestamp") {
                    Some(Val::Time(t)) => *t,
                    _ => 0,
                };
                if self.earliest.as_ref().is_none_or(|(e, _)| t < *e) {
                    self.earliest = Some((t, v.clone()));
                }
                if self.latest.as_ref().is_none_or(|(l, _)| t >= *l) {
                    self.latest = Some((t, v));
                }
            }
            _ => {
                if let Some(n) = v.num() {
                    self.sum += n;
                    self.sum_sq += n * n;
                    if stat.agg == Agg::Pct {
                        self.values.push(n);
                    }
                } else {
                    self.count -= 1;
                }
            }
        }
    }

    fn result(mut self, stat: &Stat) -> Val {
        match stat.agg {
            Agg::Count => Val::Num(self.count as f64),
            Agg::CountDistinct => Val::Num(self.distinct.len() as f64),
            Agg::Sum if self.count > 0 => Val::Num(self.sum),
            Agg::Avg if self.count > 0 => Val::Num(self.sum / self.count as f64),
            Agg::Stddev if self.count > 1 => {
                let n = self.count as f64;
                let var = (self.sum_sq - self.sum * self.sum / n) / (n - 1.0);
                Val::Num(var.max(0.0).sqrt())
            }
            Agg::Min => self.min.unwrap_or(Val::Null),
            Agg::Max => self.max.unwrap_or(Val::Null),
            Agg::Earliest => self.earliest.map_or(Val::Null, |(_, v)| v),
            Agg::Latest => self.latest.map_or(Val::Null, |(_, v)| v),
            Agg::Pct if !self.values.is_empty() => {
                self.values.sort_by(f64::total_cmp);
                let rank = (stat.pct / 100.0 * self.values.len() as f64).ceil() as usize;
                Val::Num(self.values[rank.clamp(1, self.values.len()) - 1])
            }
            _ => Val::Null,
        }
    }
}

/// What a query found: rows of (field, value) in display order, and counts.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Outcome {
    pub rows: Vec<Vec<(String, String)>>,
    pub records_matched: u64,
    pub records_scanned: u64,
    pub bytes_scanned: u64,
}

impl InsightsQuery {
    pub fn parse(q: &str) -> Result<InsightsQuery, QueryError> {
        if q.len() > 10_000 {
            return err(0, q.chars().count(), "a query is at most 10,000 characters");
        }
        let toks = lex(q)?;
        if toks.is_empty() {
            return err(0, 0, "the query is empty");
        }
        let mut p = Parser {
            toks,
            pos: 0,
            src: q,
            depth: 0,
            joins: 0,
        };
        p.query()
    }

    /// Run over `records` (each event's fields, oldest first); `limit` is
    /// the most rows returned when the query has no `limit` of its own.
    /// Commands apply in the order written: the per-event ones before the
    /// first that works on the whole set (`sort`, `limit`, `dedup`,
    /// `display`, `stats`) as the events stream by, the rest on the rows.
    /// Events are taken newest first unless a `sort` says otherwise.
    pub fn run(&self, records: impl IntoIterator<Item = Record>, limit: usize) -> Outcome {
        let mut out = Outcome::default();
        let set_level = |c: &Command| {
            matches!(
                c,
                Command::Sort(_)
                    | Command::Limit(_)
                    | Command::Dedup(_)
                    | Command::Display(_)
                    | Command::Stats { .. }
            )
        };
        let first_set = self
            .commands
            .iter()
            .position(set_level)
            .unwrap_or(self.commands.len());
        let (streamed, rest) = self.commands.split_at(first_set);
        let mut rows: Vec<Record> = Vec::new();
        'records: for mut r in records {
            out.records_scanned += 1;
            out.bytes_scanned += r.get("@message").map_or(0, |m| m.text().len() as u64);
            for c in streamed {
                if !apply(c, &mut r) {
                    continue 'records;
                }
            }
            out.records_matched += 1;
            rows.push(r);
        }
        let mut shown: Vec<String> = Vec::new();
        let add_fields = |shown: &mut Vec<String>, c: &Command| {
            if let Command::Fields(f) = c {
                for (n, _) in f {
                    if !shown.contains(n) {
                        shown.push(n.clone());
                    }
                }
            }
        };
        for c in streamed {
            add_fields(&mut shown, c);
        }
        // Whether the rows are in their final order: newest first, sorted, or
        // a stats command's groups.
        let mut ordered = false;
        let mut stats_seen = false;
        let mut limited = None;
        for c in rest {
            match c {
                Command::Sort(keys) => {
                    rows.sort_by(|a, b| {
                        for (k, desc) in keys {
                            let o = order(
                                a.get(k).unwrap_or(&Val::Null),
                                b.get(k).unwrap_or(&Val::Null),
                            );
                            let o = if *desc { o.reverse() } else { o };
                            if o != Ordering::Equal {
                                return o;
                            }
                        }
                        Ordering::Equal
                    });
                    ordered = true;
                }
                Command::Limit(n) => {
                    if !ordered {
                        rows.reverse();
                        ordered = true;
                    }
                    rows.truncate(*n);
                    limited = Some(*n);
                }
                Command::Dedup(names) => {
                    if !ordered {
                        rows.reverse();
                        ordered = true;
                    }
                    let mut seen = HashSet::new();
                    rows.retain(|r| {
                        let key: Vec<String> = names
                            .iter()
                            .map(|n| r.get(n).map(Val::text).unwrap_or_default())
                            .collect();
                        seen.insert(key)
                    });
                }
                Command::Display(names) => shown = names.clone(),
                Command::Stats { stats, by } => {
                    rows = aggregate(stats, by, std::mem::take(&mut rows));
                    shown = by.iter().map(|(n, _)| n.clone()).collect();
                    shown.extend(stats.iter().map(|s| s.name.clone()));
                    stats_seen = true;
                    ordered = true;
                    limited = None;
                }
                other => {
                    let mut keep = Vec::with_capacity(rows.len());
                    for mut r in std::mem::take(&mut rows) {
                        if apply(other, &mut r) {
                            keep.push(r);
                        }
                    }
                    rows = keep;
                    add_fields(&mut shown, other);
                }
            }
        }
        if !ordered {
            rows.reverse();
        }
        if !stats_seen {
            if shown.is_empty() {
                shown = ["@timestamp", "@message", "@logStream", "@log"]
                    .map(str::to_string)
                    .to_vec();
            }
            shown.push("@ptr".into());
        }
        let cap = limited.unwrap_or(limit).min(MAX_RESULTS);
        rows.truncate(cap);
        out.rows = rows
            .iter()
            .map(|r| {
                shown
                    .iter()
                    .filter_map(|f| Some((f.clone(), r.get(f)?.render()?)))
                    .collect()
            })
            .collect();
        out
    }
}

/// Apply a per-record command; `false` drops the record.
fn apply(c: &Command, r: &mut Record) -> bool {
    match c {
        Command::Filter(e) => eval(e, r).truthy(),
        Command::Fields(f) => {
            let vals: Vec<(String, Val)> = f.iter().map(|(n, e)| (n.clone(), eval(e, r))).collect();
            for (n, v) in vals {
                r.insert(n, v);
            }
            true
        }
        Command::Parse { field, re, names } => {
            let text = r.get(field).map(Val::text).unwrap_or_default();
            let mut cache = re.create_cache();
            let mut caps = re.create_captures();
            re.captures(&mut cache, text.as_str(), &mut caps);
            if caps.is_match() {
                for (i, n) in names.iter().enumerate() {
                    let span = caps.get_group_by_name(n).or_else(|| caps.get_group(i + 1));
                    if let Some(s) = span {
                        r.insert(n.clone(), Val::Str(text[s.start..s.end].to_string()));
                    }
                }
            }
            true
        }
        _ => true,
    }
}

fn aggregate(stats: &[Stat], by: &[(String, Expr)], rows: Vec<Record>) -> Vec<Record> {
    let mut groups: BTreeMap<Vec<String>, (Vec<Val>, Vec<Acc>)> = BTreeMap::new();
    for r in &rows {
        let keys: Vec<Val> = by.iter().map(|(_, e)| eval(e, r)).collect();
        let id: Vec<String> = keys.iter().map(Val::text).collect();
        let entry = groups
            .entry(id)
            .or_insert_with(|| (keys, stats.iter().map(|_| Acc::default()).collect()));
        for (acc, s) in entry.1.iter_mut().zip(stats) {
            acc.add(s, r);
        }
    }
    if groups.is_empty() && by.is_empty() {
        groups.insert(
            Vec::new(),
            (Vec::new(), stats.iter().map(|_| Acc::default()).collect()),
        );
    }
    groups
        .into_values()
        .map(|(keys, accs)| {
            let mut r = Record::new();
            for ((n, _), k) in by.iter().zip(keys) {
                r.insert(n.clone(), k);
            }
            for (acc, s) in accs.into_iter().zip(stats) {
                r.insert(s.name.clone(), acc.result(s));
            }
            r
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(i: u32, ts: u64, msg: &str) -> Record {
        record(
            "000000000000",
            "/aws/lambda/orders",
            &Event {
                timestamp: ts,
                ingested: ts,
                stream: "s".into(),
                message: msg.into(),
                id: (0, i),
            },
        )
    }

    fn events() -> Vec<Record> {
        vec![
            ev(
                0,
                60_000,
                r#"{"level": "INFO", "message": "order received", "order": {"id": "o-1", "total": 30}}"#,
            ),
            ev(
                1,
                61_000,
                r#"{"level": "ERROR", "message": "payment declined", "order": {"id": "o-2", "total": 70}}"#,
            ),
            ev(
                2,
                125_000,
                r#"{"level": "INFO", "message": "order received", "order": {"id": "o-3", "total": 50}}"#,
            ),
            ev(
                3,
                126_000,
                "REPORT RequestId: 6f7f0961-xx\tDuration: 12.50 ms\tBilled Duration: 13 ms\tMemory Size: 128 MB\tMax Memory Used: 40 MB\t",
            ),
            ev(4, 127_000, "user=alice action=login took 15ms"),
        ]
    }

    fn run(q: &str) -> Outcome {
        InsightsQuery::parse(q).unwrap().run(events(), MAX_RESULTS)
    }

    fn col(o: &Outcome, f: &str) -> Vec<String> {
        o.rows
            .iter()
            .filter_map(|r| r.iter().find(|(k, _)| k == f).map(|(_, v)| v.clone()))
            .collect()
    }

    #[test]
    fn fields_filter_sort_limit() {
        let o = run(
            "fields @timestamp, order.id | filter level = \"INFO\" and order.total > 40 | sort @timestamp desc | limit 5",
        );
        assert_eq!(col(&o, "order.id"), ["o-3"]);
        assert_eq!(col(&o, "@timestamp"), ["1970-01-01 00:02:05.000"]);
        assert_eq!(o.records_matched, 1);
        assert_eq!(o.records_scanned, 5);
        let o = run("filter @message like /declined|login/");
        assert_eq!(o.rows.len(), 2);
        assert_eq!(col(&o, "@ptr").len(), 2, "every row has its pointer");
        // Newest first when not sorted.
        assert!(col(&o, "@message")[0].starts_with("user=alice"));
        let o = run("filter level in [\"ERROR\", \"WARN\"] | fields strlen(message) as n");
        assert_eq!(col(&o, "n"), ["16"]);
        let o = run("filter not (level like \"INFO\") and ispresent(level)");
        assert_eq!(o.rows.len(), 1);
    }

    #[test]
    fn stats_by_fields_and_bins() {
        let o = run(
            "filter ispresent(level) | stats count(*) as n, avg(order.total) as avg_total, max(order.total), pct(order.total, 50) by level | sort level",
        );
        assert_eq!(col(&o, "level"), ["ERROR", "INFO"]);
        assert_eq!(col(&o, "n"), ["1", "2"]);
        assert_eq!(col(&o, "avg_total"), ["70", "40"]);
        assert_eq!(col(&o, "max(order.total)"), ["70", "50"]);
        assert_eq!(col(&o, "pct(order.total, 50)"), ["70", "30"]);
        let o = run("filter ispresent(order.id) | stats count(*) by bin(1m)");
        assert_eq!(
            col(&o, "bin(1m)"),
            ["1970-01-01 00:01:00.000", "1970-01-01 00:02:00.000"]
        );
        assert_eq!(col(&o, "count(*)"), ["2", "1"]);
        let o = run(
            "filter @type = \"REPORT\" | stats avg(@duration), max(@maxMemoryUsed / 1000 / 1000) as mb",
        );
        assert_eq!(col(&o, "avg(@duration)"), ["12.5"]);
        assert_eq!(col(&o, "mb"), ["40"]);
        let o = run("stats count_distinct(level) as levels, count(order.id) as orders");
        assert_eq!(col(&o, "levels"), ["2"]);
        assert_eq!(col(&o, "orders"), ["3"]);
    }

    #[test]
    fn commands_apply_in_the_order_written() {
        // The two newest events, then counted.
        let o = run("limit 2 | stats count(*) as n");
        assert_eq!(col(&o, "n"), ["2"]);
        // Sorted by total, the top one, then its fields.
        let o = run(
            "filter ispresent(order.total) | sort order.total desc | limit 1 | fields order.id",
        );
        assert_eq!(col(&o, "order.id"), ["o-2"]);
        // Filtering after a limit filters what the limit kept.
        let o = run("limit 2 | filter level = \"INFO\"");
        assert_eq!(o.rows.len(), 0, "the two newest events have no level");
        // Without a sort, newest first.
        let o = run("fields @timestamp | limit 1");
        assert_eq!(col(&o, "@timestamp"), ["1970-01-01 00:02:07.000"]);
    }

    #[test]
    fn parse_with_a_glob_or_a_regex() {
        let o = run(
            "parse @message \"user=* action=* took *ms\" as user, action, ms | filter ispresent(user) | display user, action, ms",
        );
        assert_eq!(o.rows.len(), 1);
        assert_eq!(
            o.rows[0][..3],
            [
                ("user".into(), "alice".into()),
                ("action".into(), "login".into()),
                ("ms".into(), "15".into())
            ]
        );
        assert_eq!(o.rows[0][3].0, "@ptr", "rows of events keep their pointer");
        let o = run(
            "parse @message /user=(?<who>\\w+)/ | filter ispresent(who) | stats count(*) by who",
        );
        assert_eq!(col(&o, "who"), ["alice"]);
    }

    #[test]
    fn bad_queries_say_where() {
        for q in [
            "",
            "fields",
            "nonsense x",
            "filter level = ",
            "stats avg(",
            "stats median(x)",
            "limit 0",
            "limit 20000",
            "filter x like /(/",
            "parse @message \"no stars\" as a",
            "parse @message \"a=*\" as a, b",
            "fields \"unterminated",
            "filter a = 1 | | limit 3",
            "fields nosuchfn(x)",
        ] {
            let e = InsightsQuery::parse(q).expect_err(q);
            assert!(!e.message.is_empty());
        }
        let e = InsightsQuery::parse("fields a | sortt b").unwrap_err();
        assert_eq!(e.start, 11);
        let deep = format!("filter {}a{}", "(".repeat(5000), ")".repeat(5000));
        assert!(InsightsQuery::parse(&deep).is_err());
        let nots = format!("filter {}a", "not ".repeat(5000));
        assert!(InsightsQuery::parse(&nots).is_err());
        let sum = format!("fields {}a", "a+".repeat(3000));
        assert!(InsightsQuery::parse(&sum).is_err());
    }

    #[test]
    fn pointers_round_trip() {
        let e = Event {
            timestamp: 1,
            ingested: 1,
            stream: "s".into(),
            message: "m".into(),
            id: (3, 9),
        };
        let p = pointer("/aws/lambda/x", &e);
        assert_eq!(parse_pointer(&p), Some(("/aws/lambda/x".into(), (3, 9))));
        assert_eq!(parse_pointer("zz:1:2"), None);
    }
}
