//! CloudWatch Logs filter patterns, as `FilterLogEvents`, metric filters,
//! subscription filters and Live Tail read them. Three kinds, told apart by
//! their first character:
//!
//! - terms (`ERROR`, `"Internal Server Error"`, `?ERROR ?WARN`, `ERROR
//!   -DEBUG`, `%ERR[0-9]+%`): every plain term must appear, at least one
//!   `?` term if there are any, and no `-` term; case-sensitive;
//! - JSON (`{ $.level = "ERROR" && $.ms > 100 }`): comparisons of
//!   properties of a JSON event (`=`/`!=` with `*` wildcards or `%regex%`,
//!   numeric `< > <= >= = !=`, `IS NULL`, `IS TRUE`, `IS FALSE`, `NOT
//!   EXISTS`) joined by `&&`, `||` and parentheses;
//! - space-delimited (`[ip, user, ..., status = 4* || status = 5*, bytes >
//!   1000]`): named fields of an event split on spaces (a `"quoted"` or
//!   `[bracketed]` run counts as one field), `...` standing for any number
//!   of fields, with conditions on some.
//!
//! The empty pattern matches every event.

use serde_json::Value;
use std::fmt;

/// Longest pattern CloudWatch Logs takes.
const MAX_LEN: usize = 1024;
/// Regular expressions per pattern, as CloudWatch Logs allows.
const MAX_REGEXES: usize = 2;

/// Why a pattern was refused (CloudWatch answers `InvalidParameterException`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError(pub String);

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FilterError {}

type Result<T> = std::result::Result<T, FilterError>;

fn invalid<T>(why: impl Into<String>) -> Result<T> {
    Err(FilterError(why.into()))
}

/// A parsed filter pattern.
#[derive(Debug, Clone)]
pub struct FilterPattern {
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    All,
    Terms(Terms),
    Json(Expr),
    Delimited(Vec<Field>),
}

impl FilterPattern {
    pub fn parse(pattern: &str) -> Result<FilterPattern> {
        if pattern.len() > MAX_LEN {
            return invalid(format!(
                "The filter pattern is {} characters long; the limit is {MAX_LEN}.",
                pattern.len()
            ));
        }
        let mut regexes = 0;
        let p = pattern.trim();
        let kind = if p.is_empty() || p == "\"\"" {
            Kind::All
        } else if let Some(body) = p.strip_prefix('{') {
            let Some(body) = body.strip_suffix('}') else {
                return invalid("Invalid JSON filter pattern: it must end with '}'.");
            };
            let mut parser = JsonParser {
                tokens: json_tokens(body)?,
                at: 0,
                regexes: &mut regexes,
                wildcards: 0,
            };
            let e = parser.expr()?;
            if parser.at != parser.tokens.len() {
                return invalid(format!(
                    "Invalid JSON filter pattern: unexpected '{}'.",
                    parser.tokens[parser.at].text()
                ));
            }
            Kind::Json(e)
        } else if let Some(body) = p.strip_prefix('[') {
            let Some(body) = body.strip_suffix(']') else {
                return invalid("Invalid space-delimited filter pattern: it must end with ']'.");
            };
            Kind::Delimited(delimited_fields(body, &mut regexes)?)
        } else {
            Kind::Terms(terms(p, &mut regexes)?)
        };
        if regexes > MAX_REGEXES {
            return invalid(format!(
                "A filter pattern may use at most {MAX_REGEXES} regular expressions."
            ));
        }
        Ok(FilterPattern { kind })
    }

    /// Whether the pattern takes an event with this message.
    pub fn matches(&self, message: &str) -> bool {
        match &self.kind {
            Kind::All => true,
            Kind::Terms(t) => t.matches(message),
            Kind::Json(e) => match serde_json::from_str::<Value>(message.trim()) {
                Ok(v @ (Value::Object(_) | Value::Array(_))) => e.eval(&v),
                _ => false,
            },
            Kind::Delimited(fields) => {
                let words = split_fields(message);
                fields_match(fields, &words)
            }
        }
    }

    /// The values a metric filter's `$field` refers to, by field name (a
    /// space-delimited pattern) or selector (`$.ms`, a JSON one).
    pub fn value_of(&self, message: &str, reference: &str) -> Option<String> {
        match &self.kind {
            Kind::Delimited(fields) => {
                let words = split_fields(message);
                bind(fields, &words)?
                    .into_iter()
                    .find(|(n, _)| *n == reference)
                    .map(|(_, w)| w.to_string())
            }
            Kind::Json(_) => {
                let v: Value = serde_json::from_str(message.trim()).ok()?;
                let steps = selector(reference).ok()?;
                match resolve(&v, &steps)? {
                    Value::String(s) => Some(s.clone()),
                    Value::Null => None,
                    other => Some(other.to_string()),
                }
            }
            _ => None,
        }
    }
}

/// A compiled `%regex%`, searched for anywhere in the text.
#[derive(Debug, Clone)]
struct Regex(Box<regex_automata::dfa::regex::Regex>);

impl Regex {
    fn new(source: &str, regexes: &mut usize) -> Result<Regex> {
        use regex_automata::dfa::{dense, regex::Builder};
        use regex_automata::util::syntax;
        *regexes += 1;
        if source.is_empty() {
            return invalid("A regular expression in a filter pattern may not be empty.");
        }
        if source.len() > 256 {
            return invalid("A regular expression in a filter pattern is at most 256 characters.");
        }
        // CloudWatch's regular expressions: letters, digits, a few symbols
        // and the operators; no groups, no multi-byte characters (`\xhh`
        // reaches the others).
        if let Some(c) = source
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "_#=@/;,-: ^$?[]{}|\\*+.".contains(*c)))
        {
            return invalid(format!(
                "Invalid character(s) in regular expression %{source}%: '{c}'. Use \\xhh for characters that are not allowed as they are."
            ));
        }
        Builder::new()
            .syntax(syntax::Config::new().unicode(false).utf8(false))
            .dense(
                dense::Config::new()
                    .dfa_size_limit(Some(1 << 20))
                    .determinize_size_limit(Some(1 << 20)),
            )
            .build(source)
            .map(|r| Regex(Box::new(r)))
            .map_err(|e| FilterError(format!("Invalid regular expression %{source}%: {e}")))
    }

    fn is_match(&self, text: &str) -> bool {
        self.0.is_match(text.as_bytes())
    }
}

/// A value with `*` wildcards at its ends: a leading `*` takes any prefix,
/// a trailing one any suffix; a `*` in the middle is itself, as CloudWatch
/// documents (`Ev*ent` matches only `Ev*ent`).
fn glob(pattern: &str, text: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    let (any_prefix, p) = match pattern.strip_prefix('*') {
        Some(p) => (true, p),
        None => (false, pattern),
    };
    let (any_suffix, p) = match p.strip_suffix('*') {
        Some(p) => (true, p),
        None => (false, p),
    };
    match (any_prefix, any_suffix) {
        (false, false) => text == p,
        (true, false) => text.ends_with(p),
        (false, true) => text.starts_with(p),
        (true, true) => text.contains(p),
    }
}

// --- terms ---------------------------------------------------------------

#[derive(Debug, Clone)]
enum Term {
    Text(String),
    Regex(Regex),
}

impl Term {
    fn found_in(&self, message: &str) -> bool {
        match self {
            Term::Text(t) => message.contains(t.as_str()),
            Term::Regex(r) => r.is_match(message),
        }
    }
}

#[derive(Debug, Clone, Default)]
struct Terms {
    all: Vec<Term>,
    any: Vec<Term>,
    none: Vec<Term>,
}

impl Terms {
    fn matches(&self, message: &str) -> bool {
        self.all.iter().all(|t| t.found_in(message))
            && (self.any.is_empty() || self.any.iter().any(|t| t.found_in(message)))
            && !self.none.iter().any(|t| t.found_in(message))
    }
}

fn terms(pattern: &str, regexes: &mut usize) -> Result<Terms> {
    let mut out = parse_terms(pattern, regexes)?;
    // `?` terms mixed with others are ignored, as CloudWatch documents.
    let mixed = !out.all.is_empty() || !out.none.is_empty();
    if mixed {
        out.any.clear();
    }
    // A quoted space alone matches every event, as the newer pages show.
    if out.none.is_empty()
        && out.any.is_empty()
        && out.all.len() == 1
        && matches!(&out.all[0], Term::Text(t) if t.trim().is_empty())
    {
        out.all.clear();
    }
    Ok(out)
}

fn parse_terms(pattern: &str, regexes: &mut usize) -> Result<Terms> {
    let mut out = Terms::default();
    let mut rest = pattern;
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            return Ok(out);
        }
        let (list, r) = if let Some(r) = rest.strip_prefix('?') {
            (&mut out.any, r)
        } else if let Some(r) = rest.strip_prefix('-').filter(|r| !r.is_empty()) {
            (&mut out.none, r)
        } else {
            (&mut out.all, rest)
        };
        let (term, r) = if let Some(q) = r.strip_prefix('"') {
            let (text, after) = quoted(q)?;
            (Term::Text(text), after)
        } else if let Some(q) = r.strip_prefix('%') {
            let Some(end) = q.find('%') else {
                return invalid("Invalid filter pattern: a regular expression must end with '%'.");
            };
            (Term::Regex(Regex::new(&q[..end], regexes)?), &q[end + 1..])
        } else {
            let end = r.find(char::is_whitespace).unwrap_or(r.len());
            let word = &r[..end];
            if word.is_empty() {
                return invalid("Invalid filter pattern: an operator without a term.");
            }
            if let Some(c) = word.chars().find(|c| !(c.is_alphanumeric() || *c == '_')) {
                return invalid(format!(
                    "Invalid character(s) in term '{word}': '{c}'. Put terms with characters other than letters, digits and underscores in double quotes."
                ));
            }
            (Term::Text(word.to_string()), &r[end..])
        };
        list.push(term);
        rest = r;
    }
}

/// The text of a `"quoted"` run (`\"` and `\\` escaped) and what follows.
fn quoted(after_quote: &str) -> Result<(String, &str)> {
    let mut text = String::new();
    let mut chars = after_quote.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((text, &after_quote[i + 1..])),
            '\\' => match chars.next() {
                Some((_, e)) => text.push(e),
                None => break,
            },
            c => text.push(c),
        }
    }
    invalid("Invalid filter pattern: a quoted term must end with '\"'.")
}

// --- JSON ----------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
}

impl Op {
    fn holds(self, ord: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            Op::Eq => ord == Equal,
            Op::Ne => ord != Equal,
            Op::Lt => ord == Less,
            Op::Gt => ord == Greater,
            Op::Le => ord != Greater,
            Op::Ge => ord != Less,
        }
    }
}

#[derive(Debug, Clone)]
enum Operand {
    Text(String),
    Number(f64),
    Regex(Regex),
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
    Every,
}

#[derive(Debug, Clone)]
enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Compare(Vec<Step>, Op, Operand),
    IsNull(Vec<Step>),
    Is(Vec<Step>, bool),
    NotExists(Vec<Step>),
}

/// The values `steps` reach in `v` (several through `[*]`).
fn reach<'v>(v: &'v Value, steps: &[Step], out: &mut Vec<&'v Value>) {
    let Some((first, rest)) = steps.split_first() else {
        out.push(v);
        return;
    };
    match (first, v) {
        (Step::Key(k), Value::Object(m)) => {
            if let Some(x) = m.get(k) {
                reach(x, rest, out);
            }
        }
        (Step::Index(i), Value::Array(a)) => {
            if let Some(x) = a.get(*i) {
                reach(x, rest, out);
            }
        }
        (Step::Every, Value::Array(a)) => {
            for x in a {
                reach(x, rest, out);
            }
        }
        (Step::Every, Value::Object(m)) => {
            for x in m.values() {
                reach(x, rest, out);
            }
        }
        _ => {}
    }
}

fn resolve<'v>(v: &'v Value, steps: &[Step]) -> Option<&'v Value> {
    let mut out = Vec::new();
    reach(v, steps, &mut out);
    out.into_iter().next()
}

/// Whether a value's text form (strings as they are) satisfies `op` against `operand`.
fn compare(found: &Value, op: Op, operand: &Operand) -> bool {
    match operand {
        Operand::Number(n) => {
            let x = match found {
                Value::Number(x) => x.as_f64(),
                Value::String(s) => s.trim().parse::<f64>().ok(),
                _ => None,
            };
            x.and_then(|x| x.partial_cmp(n))
                .is_some_and(|o| op.holds(o))
        }
        Operand::Text(t) => {
            let text = match found {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => return false,
            };
            match op {
                Op::Eq => glob(t, &text),
                Op::Ne => !glob(t, &text),
                _ => op.holds(text.as_str().cmp(t.as_str())),
            }
        }
        Operand::Regex(r) => {
            let text = match found {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => return false,
            };
            match op {
                Op::Eq => r.is_match(&text),
                Op::Ne => !r.is_match(&text),
                _ => false,
            }
        }
    }
}

impl Expr {
    fn eval(&self, v: &Value) -> bool {
        let all = |steps: &[Step]| {
            let mut out = Vec::new();
            reach(v, steps, &mut out);
            out
        };
        match self {
            Expr::And(a, b) => a.eval(v) && b.eval(v),
            Expr::Or(a, b) => a.eval(v) || b.eval(v),
            Expr::Compare(steps, op, operand) => {
                all(steps).into_iter().any(|x| compare(x, *op, operand))
            }
            Expr::IsNull(steps) => all(steps).into_iter().any(Value::is_null),
            Expr::Is(steps, b) => all(steps).into_iter().any(|x| x.as_bool() == Some(*b)),
            Expr::NotExists(steps) => all(steps).is_empty(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Open,
    Close,
    And,
    Or,
    Op(Op),
    Quoted(String),
    Regex(String),
    Word(String),
}

impl Tok {
    fn text(&self) -> String {
        match self {
            Tok::Open => "(".into(),
            Tok::Close => ")".into(),
            Tok::And => "&&".into(),
            Tok::Or => "||".into(),
            Tok::Op(o) => format!("{o:?}"),
            Tok::Quoted(s) => format!("\"{s}\""),
            Tok::Regex(s) => format!("%{s}%"),
            Tok::Word(s) => s.clone(),
        }
    }
}

fn json_tokens(body: &str) -> Result<Vec<Tok>> {
    let mut out = Vec::new();
    let mut rest = body;
    loop {
        rest = rest.trim_start();
        let Some(c) = rest.chars().next() else {
            return Ok(out);
        };
        let two = rest.get(..2).unwrap_or("");
        let (tok, len) = match (c, two) {
            ('(', _) => (Tok::Open, 1),
            (')', _) => (Tok::Close, 1),
            (_, "&&") => (Tok::And, 2),
            (_, "||") => (Tok::Or, 2),
            (_, "!=") => (Tok::Op(Op::Ne), 2),
            (_, "<=") => (Tok::Op(Op::Le), 2),
            (_, ">=") => (Tok::Op(Op::Ge), 2),
            ('=', _) => (Tok::Op(Op::Eq), 1),
            ('<', _) => (Tok::Op(Op::Lt), 1),
            ('>', _) => (Tok::Op(Op::Gt), 1),
            ('"', _) => {
                let (text, after) = quoted(&rest[1..])?;
                out.push(Tok::Quoted(text));
                rest = after;
                continue;
            }
            ('%', _) => {
                let Some(end) = rest[1..].find('%') else {
                    return invalid(
                        "Invalid JSON filter pattern: a regular expression must end with '%'.",
                    );
                };
                out.push(Tok::Regex(rest[1..=end].to_string()));
                rest = &rest[end + 2..];
                continue;
            }
            _ => {
                let end = rest
                    .find(|c: char| c.is_whitespace() || "()=!<>&|\"".contains(c))
                    .unwrap_or(rest.len());
                if end == 0 {
                    return invalid(format!("Invalid JSON filter pattern: unexpected '{c}'."));
                }
                (Tok::Word(rest[..end].to_string()), end)
            }
        };
        out.push(tok);
        rest = &rest[len..];
    }
}

/// `$.a.b[0].c`, `$.a[*]`, `$.*` or `$.['key.with.dots']` as steps.
fn selector(text: &str) -> Result<Vec<Step>> {
    let bad = || {
        FilterError(format!(
            "Invalid property selector '{text}': it must start with '$.' or '$[' and name properties, indexes, [*] or ['quoted keys']."
        ))
    };
    let mut rest = text.strip_prefix('$').ok_or_else(bad)?;
    if rest.is_empty() {
        return Err(bad());
    }
    let mut steps = Vec::new();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix(".[").or_else(|| rest.strip_prefix('[')) {
            let end = r.find(']').ok_or_else(bad)?;
            let inside = &r[..end];
            steps.push(if inside == "*" {
                Step::Every
            } else if let Some(key) = inside.strip_prefix('\'').and_then(|k| k.strip_suffix('\'')) {
                Step::Key(key.to_string())
            } else {
                Step::Index(inside.parse().map_err(|_| bad())?)
            });
            rest = &r[end + 1..];
        } else if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            if end == 0 {
                return Err(bad());
            }
            let key = &r[..end];
            steps.push(if key == "*" {
                Step::Every
            } else {
                Step::Key(key.to_string())
            });
            rest = &r[end..];
        } else {
            return Err(bad());
        }
    }
    if steps.iter().filter(|s| **s == Step::Every).count() > 1 {
        return invalid(format!(
            "Invalid property selector '{text}': a selector may use one wildcard."
        ));
    }
    Ok(steps)
}

/// The value a comparison with `op` compares with (JSON and space-delimited
/// patterns alike): a quoted text, a `%regex%` (with `=` and `!=` only), a
/// number, or a bare word; `None` when the token is none of them.
fn operand(tok: Option<Tok>, op: Op, regexes: &mut usize) -> Result<Option<Operand>> {
    Ok(Some(match tok {
        Some(Tok::Quoted(s)) => Operand::Text(s),
        Some(Tok::Regex(r)) => {
            if !matches!(op, Op::Eq | Op::Ne) {
                return invalid("A regular expression is compared with = or != only.");
            }
            Operand::Regex(Regex::new(&r, regexes)?)
        }
        Some(Tok::Word(w)) => match w.parse::<f64>() {
            Ok(n) if n.is_finite() => Operand::Number(n),
            _ => Operand::Text(w),
        },
        _ => return Ok(None),
    }))
}

struct JsonParser<'r> {
    tokens: Vec<Tok>,
    at: usize,
    regexes: &'r mut usize,
    wildcards: usize,
}

impl JsonParser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn expr(&mut self) -> Result<Expr> {
        let mut left = self.and()?;
        while self.peek() == Some(&Tok::Or) {
            self.at += 1;
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr> {
        let mut left = self.unary()?;
        while self.peek() == Some(&Tok::And) {
            self.at += 1;
            left = Expr::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr> {
        match self.next() {
            Some(Tok::Open) => {
                let e = self.expr()?;
                match self.next() {
                    Some(Tok::Close) => Ok(e),
                    _ => invalid("Invalid JSON filter pattern: a '(' without its ')'."),
                }
            }
            Some(Tok::Word(w)) => self.condition(&w),
            Some(t) => invalid(format!(
                "Invalid JSON filter pattern: expected a property selector such as $.level, found '{}'.",
                t.text()
            )),
            None => invalid("Invalid JSON filter pattern: it ends where a condition should be."),
        }
    }

    fn condition(&mut self, sel: &str) -> Result<Expr> {
        let steps = selector(sel)?;
        if steps.contains(&Step::Every) {
            self.wildcards += 1;
            if self.wildcards > 3 {
                return invalid("A JSON filter pattern may use at most 3 wildcard selectors.");
            }
        }
        match self.next() {
            Some(Tok::Op(op)) => {
                let next = self.next();
                let Some(operand) = operand(next, op, self.regexes)? else {
                    return invalid(format!(
                        "Invalid JSON filter pattern: {sel} is compared with nothing."
                    ));
                };
                Ok(Expr::Compare(steps, op, operand))
            }
            Some(Tok::Word(w)) if w == "IS" => match self.next() {
                Some(Tok::Word(x)) if x == "NULL" => Ok(Expr::IsNull(steps)),
                Some(Tok::Word(x)) if x == "TRUE" => Ok(Expr::Is(steps, true)),
                Some(Tok::Word(x)) if x == "FALSE" => Ok(Expr::Is(steps, false)),
                _ => invalid(format!(
                    "Invalid JSON filter pattern: {sel} IS must be followed by NULL, TRUE or FALSE."
                )),
            },
            Some(Tok::Word(w)) if w == "NOT" => match self.next() {
                Some(Tok::Word(x)) if x == "EXISTS" => Ok(Expr::NotExists(steps)),
                _ => invalid(format!(
                    "Invalid JSON filter pattern: {sel} NOT must be followed by EXISTS."
                )),
            },
            _ => invalid(format!(
                "Invalid JSON filter pattern: {sel} needs a comparison (=, !=, <, >, <=, >=, IS NULL, IS TRUE, IS FALSE or NOT EXISTS)."
            )),
        }
    }
}

// --- space-delimited -----------------------------------------------------

#[derive(Debug, Clone)]
enum Cond {
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
    Compare(Op, Operand),
}

impl Cond {
    fn holds(&self, word: &str) -> bool {
        match self {
            Cond::And(a, b) => a.holds(word) && b.holds(word),
            Cond::Or(a, b) => a.holds(word) || b.holds(word),
            Cond::Compare(op, operand) => {
                let found = match operand {
                    Operand::Number(_) => match word.parse::<f64>() {
                        Ok(n) => serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number),
                        Err(_) => return false,
                    },
                    _ => Value::String(word.to_string()),
                };
                compare(&found, *op, operand)
            }
        }
    }
}

#[derive(Debug, Clone)]
enum Field {
    /// `...`: any number of fields.
    Rest,
    Named(String, Option<Cond>),
}

/// The fields of a space-delimited pattern's body (between `[` and `]`).
fn delimited_fields(body: &str, regexes: &mut usize) -> Result<Vec<Field>> {
    let mut fields = Vec::new();
    let mut parts = split_top(body, ',')?;
    // After a trailing comma, one more field without a name or condition
    // (AWS's `[..., request=*.html*, status_code=4*,]` takes the bytes).
    let unnamed_last = parts.len() > 1 && parts.last().is_some_and(|p| p.trim().is_empty());
    if unnamed_last {
        parts.pop();
    }
    for part in parts {
        let part = part.trim();
        if part.is_empty() {
            return invalid("Invalid space-delimited filter pattern: an empty field.");
        }
        if part == "..." {
            fields.push(Field::Rest);
            continue;
        }
        let tokens = json_tokens(part)?;
        let Some(Tok::Word(name)) = tokens.first() else {
            return invalid(format!(
                "Invalid space-delimited filter pattern: field '{part}' has no name."
            ));
        };
        let name = name.clone();
        if tokens.len() == 1 {
            fields.push(Field::Named(name, None));
            continue;
        }
        let mut p = CondParser {
            tokens,
            at: 0,
            name: &name,
            regexes,
        };
        let c = p.or()?;
        if p.at != p.tokens.len() {
            return invalid(format!(
                "Invalid space-delimited filter pattern: unexpected '{}' in field {name}.",
                p.tokens[p.at].text()
            ));
        }
        fields.push(Field::Named(name, Some(c)));
    }
    if unnamed_last {
        fields.push(Field::Named(String::new(), None));
    }
    if fields.is_empty() {
        return invalid("Invalid space-delimited filter pattern: no fields.");
    }
    Ok(fields)
}

/// Split on `sep` outside double quotes.
fn split_top(body: &str, sep: char) -> Result<Vec<&str>> {
    let mut parts = Vec::new();
    let (mut start, mut in_quotes, mut escaped) = (0, false, false);
    for (i, c) in body.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_quotes => escaped = true,
            '"' => in_quotes = !in_quotes,
            c if c == sep && !in_quotes => {
                parts.push(&body[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    if in_quotes {
        return invalid("Invalid filter pattern: a quoted value must end with '\"'.");
    }
    parts.push(&body[start..]);
    Ok(parts)
}

struct CondParser<'a, 'r> {
    tokens: Vec<Tok>,
    at: usize,
    name: &'a str,
    regexes: &'r mut usize,
}

impl CondParser<'_, '_> {
    fn or(&mut self) -> Result<Cond> {
        let mut left = self.and()?;
        while self.tokens.get(self.at) == Some(&Tok::Or) {
            self.at += 1;
            left = Cond::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Cond> {
        let mut left = self.one()?;
        while self.tokens.get(self.at) == Some(&Tok::And) {
            self.at += 1;
            left = Cond::And(Box::new(left), Box::new(self.one()?));
        }
        Ok(left)
    }

    fn one(&mut self) -> Result<Cond> {
        let name = self.name;
        match self.tokens.get(self.at) {
            Some(Tok::Word(w)) if w == name => self.at += 1,
            _ => {
                return invalid(format!(
                    "Invalid space-delimited filter pattern: each condition of field {name} must name it."
                ));
            }
        }
        let op = match self.tokens.get(self.at) {
            Some(Tok::Op(op)) => *op,
            _ => {
                return invalid(format!(
                    "Invalid space-delimited filter pattern: field {name} needs a comparison."
                ));
            }
        };
        self.at += 1;
        let next = self.tokens.get(self.at).cloned();
        let Some(operand) = operand(next, op, self.regexes)? else {
            return invalid(format!(
                "Invalid space-delimited filter pattern: field {name} is compared with nothing."
            ));
        };
        self.at += 1;
        Ok(Cond::Compare(op, operand))
    }
}

/// An event's fields: runs of non-space characters, a `"quoted"` run (its
/// quotes dropped) or a `[bracketed]` one (its brackets dropped) counting
/// as one.
fn split_fields(message: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = message.trim_start();
    while !rest.is_empty() {
        let (word, after) = if let Some(r) = rest.strip_prefix('"') {
            match r.find('"') {
                Some(end) => (&r[..end], &r[end + 1..]),
                None => (r, ""),
            }
        } else if let Some(r) = rest.strip_prefix('[') {
            match r.find(']') {
                Some(end) => (&r[..end], &r[end + 1..]),
                None => (r, ""),
            }
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            (&rest[..end], &rest[end..])
        };
        out.push(word);
        rest = after.trim_start();
    }
    out
}

fn fields_match(fields: &[Field], words: &[&str]) -> bool {
    bind(fields, words).is_some()
}

/// Each named field's word, if the fields take the words.
fn bind<'f, 'w>(fields: &'f [Field], words: &[&'w str]) -> Option<Vec<(&'f str, &'w str)>> {
    let Some((first, rest)) = fields.split_first() else {
        return words.is_empty().then(Vec::new);
    };
    match first {
        Field::Rest => (0..=words.len()).find_map(|skip| bind(rest, &words[skip..])),
        Field::Named(name, cond) => {
            let (word, others) = words.split_first()?;
            if cond.as_ref().is_some_and(|c| !c.holds(word)) {
                return None;
            }
            let mut bound = bind(rest, others)?;
            bound.insert(0, (name.as_str(), *word));
            Some(bound)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, e: &str) -> bool {
        FilterPattern::parse(p)
            .unwrap_or_else(|e| panic!("{p}: {e}"))
            .matches(e)
    }

    #[test]
    fn terms_all_any_and_none() {
        assert!(m("", "anything"));
        assert!(m("ERROR", "[ERROR 400] BAD REQUEST"));
        assert!(!m("ERROR", "[WARN] fine"));
        assert!(m("ERROR ARGUMENTS", "[ERROR 419] MISSING ARGUMENTS"));
        assert!(!m("ERROR ARGUMENTS", "[ERROR 401] UNAUTHORIZED REQUEST"));
        assert!(m("?ERROR ?WARN", "[WARN] slow"));
        assert!(
            m("?ERROR ?ARGUMENTS REQUEST", "[INFO] REQUEST FAILED"),
            "? terms mixed in are ignored"
        );
        assert!(m("ERROR -MISSING", "[ERROR 420] INVALID ARGUMENTS"));
        assert!(!m("ERROR -MISSING", "[ERROR 419] MISSING ARGUMENTS"));
        assert!(m("\"INVALID ARGUMENTS\"", "[ERROR 420] INVALID ARGUMENTS"));
        assert!(m("%ERROR 4[0-9]{2}%", "[ERROR 419] MISSING ARGUMENTS"));
        assert!(!m("error", "[ERROR 400] BAD REQUEST"), "case-sensitive");
    }

    #[test]
    fn json_comparisons() {
        let e = r#"{"eventType": "UpdateTrail", "sourceIPAddress": "123.123.123.123", "ms": 250,
                    "ok": true, "none": null, "list": [{"id": 1}, {"id": 2}], "tags": ["a", "b"]}"#;
        assert!(m(r#"{ $.eventType = "UpdateTrail" }"#, e));
        assert!(m("{ $.sourceIPAddress = 123.123.* }", e));
        assert!(!m("{ $.sourceIPAddress != 123.123.* }", e));
        assert!(m("{ $.ms > 100 && $.ms <= 250 }", e));
        assert!(m("{ ($.ms < 100) || $.ok IS TRUE }", e));
        assert!(m("{ $.none IS NULL && $.gone NOT EXISTS }", e));
        assert!(m("{ $.list[1].id = 2 }", e));
        assert!(m("{ $.tags[*] = \"b\" }", e));
        assert!(m("{ $.eventType = %Update.*% }", e));
        assert!(!m("{ $.ms = 1 }", "not json"));
        assert!(!m("{ $.missing = 1 || $.missing != 1 }", e));
    }

    #[test]
    fn space_delimited_fields() {
        let e = r#"127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /apache_pb.gif HTTP/1.0" 404 1534"#;
        assert!(m(
            "[ip, user, username, timestamp, request, status_code, bytes]",
            e
        ));
        assert!(m("[ip, user, ..., status_code = 404, bytes]", e));
        assert!(m(
            "[..., status_code = 4* || status_code = 5*, bytes > 1000]",
            e
        ));
        assert!(!m("[..., status_code = 200, bytes]", e));
        assert!(!m("[ip, user]", e), "two fields cannot take seven");
        assert!(m("[ip = 127.0.0.*, ...]", e));
        let p = FilterPattern::parse("[ip, user, username, timestamp, request, status, bytes]")
            .unwrap();
        assert_eq!(p.value_of(e, "bytes").as_deref(), Some("1534"));
        assert_eq!(
            p.value_of(e, "request").as_deref(),
            Some("GET /apache_pb.gif HTTP/1.0")
        );
    }

    #[test]
    fn bad_patterns_are_refused_with_a_reason() {
        for p in [
            "{ $.a = }",
            "{ $.a = 1",
            "{ a = 1 }",
            "{ $.a IS MAYBE }",
            "{ ($.a = 1 }",
            "[a, , b]",
            "[a = ]",
            "\"unterminated",
            "%unterminated",
            "{ $.a = %(% }",
            "%a% %b% %c%",
            "[a > %x%]",
            "{ $.a < %x% }",
        ] {
            assert!(FilterPattern::parse(p).is_err(), "{p} was taken");
        }
        assert!(FilterPattern::parse(&"a".repeat(1025)).is_err());
    }

    #[test]
    fn globs() {
        assert!(glob("4*", "404"));
        assert!(glob("*", ""));
        assert!(glob("*.html*", "GET /index.html HTTP/1.0"));
        assert!(glob("*Event", "PutEvent"));
        assert!(glob("Ev*ent", "Ev*ent") && !glob("Ev*ent", "Event"));
    }
}
