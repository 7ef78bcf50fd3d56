//! A recursive-descent parser from PartiQL tokens to a small syntax tree.
//! Parameters are substituted while parsing, so the tree holds only values.
//! Every recursive rule goes through [`Parser::enter`], which caps nesting at
//! [`MAX_DEPTH`].

use super::lexer::{Tok, Token};
use super::{MAX_DEPTH, PartiqlError, malformed, unsupported};
use crate::value::{AttributeValue, Item, Number};
use std::collections::BTreeMap;

/// One step of a document path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Elem {
    Attr(String),
    Index(u32),
}

/// A document path; never empty, starts with `Attr`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PPath(pub Vec<Elem>);

impl PPath {
    /// The attribute's name when the path is a bare top-level attribute.
    pub fn top_only(&self) -> Option<&str> {
        match self.0.as_slice() {
            [Elem::Attr(a)] => Some(a),
            _ => None,
        }
    }
}

/// A comparison operand.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Operand {
    Path(PPath),
    Value(AttributeValue),
    Size(PPath),
}

/// The functions usable as conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Func {
    BeginsWith,
    Contains,
    AttributeType,
}

impl Func {
    pub fn name(self) -> &'static str {
        match self {
            Func::BeginsWith => "begins_with",
            Func::Contains => "contains",
            Func::AttributeType => "attribute_type",
        }
    }
}

/// A WHERE condition. `And` and `Or` are flattened (no `And` directly in an `And`).
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Cond {
    /// Operator as the expression language spells it: `=`, `<>`, `<`, `<=`, `>`, `>=`.
    Cmp(Operand, &'static str, Operand),
    Between(Operand, Operand, Operand),
    In(Operand, Vec<Operand>),
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Not(Box<Cond>),
    Func(Func, PPath, Operand),
    Exists(PPath),
    NotExists(PPath),
}

/// A value a `SET` computes.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum UOperand {
    Path(PPath),
    Value(AttributeValue),
    IfNotExists(PPath, Box<UOperand>),
    ListAppend(Box<UOperand>, Box<UOperand>),
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum SetValue {
    One(UOperand),
    Plus(UOperand, UOperand),
    Minus(UOperand, UOperand),
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Action {
    Set(PPath, SetValue),
    Remove(PPath),
    Add(PPath, AttributeValue),
    Delete(PPath, AttributeValue),
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Ast {
    Select {
        table: String,
        index: Option<String>,
        projection: Option<Vec<PPath>>,
        filter: Option<Cond>,
    },
    Insert {
        table: String,
        item: Item,
    },
    Update {
        table: String,
        actions: Vec<Action>,
        filter: Cond,
    },
    Delete {
        table: String,
        filter: Cond,
    },
}

/// Words that cannot be bare identifiers (quote them to use them as names).
const KEYWORDS: &[&str] = &[
    "ALL",
    "AND",
    "ANY",
    "AS",
    "ASC",
    "AT",
    "BETWEEN",
    "BY",
    "CASE",
    "CROSS",
    "DELETE",
    "DESC",
    "DISTINCT",
    "ELSE",
    "END",
    "EXCEPT",
    "EXISTS",
    "FALSE",
    "FROM",
    "FULL",
    "GROUP",
    "HAVING",
    "IN",
    "INNER",
    "INSERT",
    "INTERSECT",
    "INTO",
    "IS",
    "JOIN",
    "LEFT",
    "LIKE",
    "LIMIT",
    "MISSING",
    "NOT",
    "NULL",
    "OFFSET",
    "ON",
    "OR",
    "ORDER",
    "OUTER",
    "PIVOT",
    "REMOVE",
    "RIGHT",
    "SELECT",
    "SET",
    "SOME",
    "THEN",
    "TRUE",
    "UNION",
    "UNPIVOT",
    "UPDATE",
    "VALUE",
    "VALUES",
    "WHEN",
    "WHERE",
    "WITH",
];

fn is_keyword(w: &str) -> bool {
    KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(w))
}

/// The error for a missing WHERE clause in UPDATE and DELETE (DynamoDB's wording).
const NEEDS_KEY: &str = "Where clause does not contain a mandatory equality on all key attributes";

pub(super) struct Parser<'a> {
    src: &'a str,
    toks: Vec<Token>,
    pos: usize,
    depth: usize,
    params: &'a [AttributeValue],
    next_param: usize,
}

type Res<T> = Result<T, PartiqlError>;

impl<'a> Parser<'a> {
    pub fn new(src: &'a str, toks: Vec<Token>, params: &'a [AttributeValue]) -> Parser<'a> {
        Parser {
            src,
            toks,
            pos: 0,
            depth: 0,
            params,
            next_param: 0,
        }
    }

    // ----- cursor -----

    fn peek(&self) -> &Tok {
        self.peek_at(0)
    }

    fn peek_at(&self, n: usize) -> &Tok {
        let last = self.toks.len().saturating_sub(1);
        self.toks
            .get((self.pos + n).min(last))
            .map_or(&Tok::Eof, |t| &t.tok)
    }

    fn advance(&mut self) {
        if self.pos + 1 < self.toks.len() {
            self.pos += 1;
        }
    }

    fn at(&self, t: &Tok) -> bool {
        self.peek() == t
    }

    fn eat(&mut self, t: &Tok) -> bool {
        if self.at(t) {
            self.advance();
            true
        } else {
            false
        }
    }

    fn at_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Tok::Word(w) if w.eq_ignore_ascii_case(kw))
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        if self.at_kw(kw) {
            self.advance();
            true
        } else {
            false
        }
    }

    /// The current token as written, for messages.
    fn shown(&self) -> String {
        match self.toks.get(self.pos) {
            Some(t) if t.tok != Tok::Eof => {
                let text = self.src.get(t.start..t.end).unwrap_or("");
                let short: String = text.chars().take(40).collect();
                format!("'{short}'")
            }
            _ => "end of statement".to_string(),
        }
    }

    /// A syntax error at the current token.
    fn unexpected(&self, expected: &str) -> PartiqlError {
        malformed(format!("Expected {expected}, found {}", self.shown()))
    }

    fn expect(&mut self, t: &Tok, what: &str) -> Res<()> {
        if self.eat(t) {
            Ok(())
        } else {
            Err(self.unexpected(what))
        }
    }

    fn expect_kw(&mut self, kw: &str) -> Res<()> {
        if self.eat_kw(kw) {
            Ok(())
        } else {
            Err(self.unexpected(kw))
        }
    }

    fn enter(&mut self) -> Res<()> {
        if self.depth >= MAX_DEPTH {
            return Err(malformed(format!(
                "The statement exceeds the maximum nesting depth of {MAX_DEPTH}"
            )));
        }
        self.depth += 1;
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// The next `?` parameter's value.
    fn param(&mut self) -> Res<AttributeValue> {
        let v = self.params.get(self.next_param).cloned().ok_or_else(|| {
            PartiqlError("Number of parameters in request and statement don't match.".to_string())
        })?;
        self.next_param += 1;
        Ok(v)
    }

    // ----- statements -----

    pub fn statement(&mut self) -> Res<Ast> {
        let ast = match self.peek().clone() {
            Tok::Word(w) => match w.to_ascii_uppercase().as_str() {
                "SELECT" => self.select()?,
                "INSERT" => self.insert()?,
                "UPDATE" => self.update()?,
                "DELETE" => self.delete()?,
                "EXISTS" | "CREATE" | "DROP" | "UPSERT" | "REPLACE" | "WITH" | "EXEC"
                | "EXECUTE" | "PIVOT" | "VALUES" | "VALUE" => {
                    return Err(unsupported(format!(
                        "{} statements",
                        w.to_ascii_uppercase()
                    )));
                }
                _ => return Err(self.unexpected("SELECT, INSERT, UPDATE or DELETE")),
            },
            _ => return Err(self.unexpected("SELECT, INSERT, UPDATE or DELETE")),
        };
        self.eat(&Tok::Semi);
        if !self.at(&Tok::Eof) {
            return Err(malformed(format!(
                "Unexpected {} after the end of the statement (one statement per request)",
                self.shown()
            )));
        }
        Ok(ast)
    }

    /// Constructs after a statement's body that DynamoDB's PartiQL lacks.
    fn refuse_clauses(&self) -> Res<()> {
        for (kw, what) in [
            ("ORDER", "ORDER BY"),
            ("LIMIT", "LIMIT"),
            ("OFFSET", "OFFSET"),
            ("GROUP", "GROUP BY"),
            ("HAVING", "HAVING"),
            ("UNION", "UNION"),
            ("INTERSECT", "INTERSECT"),
            ("EXCEPT", "EXCEPT"),
            ("JOIN", "JOIN"),
            ("INNER", "JOIN"),
            ("LEFT", "JOIN"),
            ("RIGHT", "JOIN"),
            ("CROSS", "JOIN"),
            ("FULL", "JOIN"),
            ("OUTER", "JOIN"),
            ("AS", "Aliases"),
            ("AT", "Aliases"),
            ("RETURNING", "RETURNING"),
        ] {
            if self.at_kw(kw) {
                return Err(unsupported(what));
            }
        }
        Ok(())
    }

    /// A plain identifier: a non-keyword bare word or a quoted name.
    fn ident(&mut self, what: &str) -> Res<String> {
        let name = match self.peek() {
            Tok::Word(w) if !is_keyword(w) => w.clone(),
            Tok::Quoted(q) => q.clone(),
            _ => return Err(self.unexpected(what)),
        };
        if name.is_empty() {
            return Err(malformed(format!("Empty {what}")));
        }
        self.advance();
        Ok(name)
    }

    fn table(&mut self) -> Res<String> {
        self.ident("table name")
    }

    fn select(&mut self) -> Res<Ast> {
        self.advance();
        if self.at_kw("DISTINCT") || self.at_kw("ALL") {
            return Err(unsupported("SELECT DISTINCT"));
        }
        if self.at_kw("VALUE") {
            return Err(unsupported("SELECT VALUE"));
        }
        let projection = if self.eat(&Tok::Star) {
            None
        } else {
            let mut paths = vec![self.projected()?];
            while self.eat(&Tok::Comma) {
                paths.push(self.projected()?);
            }
            Some(paths)
        };
        if self.at(&Tok::Comma) {
            return Err(malformed("'*' cannot be combined with other projections"));
        }
        self.refuse_clauses()?;
        self.expect_kw("FROM")?;
        if self.at(&Tok::LParen) {
            return Err(unsupported("Subqueries"));
        }
        let table = self.table()?;
        let index = if self.eat(&Tok::Dot) {
            Some(self.ident("index name")?)
        } else {
            None
        };
        if self.at(&Tok::Comma) {
            return Err(unsupported("JOIN"));
        }
        if matches!(self.peek(), Tok::Word(w) if !is_keyword(w)) || self.at_kw("AS") {
            return Err(unsupported("Aliases"));
        }
        self.refuse_clauses()?;
        let filter = if self.eat_kw("WHERE") {
            Some(self.condition()?)
        } else {
            None
        };
        self.refuse_clauses()?;
        Ok(Ast::Select {
            table,
            index,
            projection,
            filter,
        })
    }

    /// One projected path (functions and aggregates are refused).
    fn projected(&mut self) -> Res<PPath> {
        if let Tok::Word(w) = self.peek()
            && *self.peek_at(1) == Tok::LParen
        {
            return Err(unsupported(format!("Function '{w}' in a projection")));
        }
        if self.at(&Tok::Star) {
            return Err(malformed("'*' cannot be combined with other projections"));
        }
        self.path()
    }

    fn insert(&mut self) -> Res<Ast> {
        self.advance();
        self.expect_kw("INTO")?;
        let table = self.table()?;
        if self.at(&Tok::Dot) {
            return Err(malformed("An index cannot be the target of INSERT"));
        }
        if self.at_kw("VALUES") {
            return Err(unsupported(
                "INSERT with VALUES; use VALUE with a single tuple",
            ));
        }
        if self.at(&Tok::LParen) {
            return Err(unsupported("INSERT with a column list"));
        }
        if self.at_kw("SELECT") {
            return Err(unsupported("INSERT from a query"));
        }
        self.expect_kw("VALUE")?;
        let v = match self.peek() {
            Tok::LBrace | Tok::Param => self.literal()?,
            _ => return Err(self.unexpected("a tuple '{...}' or a parameter after VALUE")),
        };
        let AttributeValue::M(item) = v else {
            return Err(malformed(format!(
                "The VALUE of INSERT must be a tuple (a map), not a value of type {}",
                v.type_name()
            )));
        };
        if self.at_kw("ON") {
            return Err(unsupported("INSERT ... ON CONFLICT"));
        }
        self.refuse_clauses()?;
        Ok(Ast::Insert { table, item })
    }

    fn update(&mut self) -> Res<Ast> {
        self.advance();
        let table = self.table()?;
        if self.at(&Tok::Dot) {
            return Err(malformed("An index cannot be the target of UPDATE"));
        }
        let mut actions = Vec::new();
        loop {
            if self.eat_kw("SET") {
                loop {
                    actions.push(self.assignment()?);
                    if !self.eat(&Tok::Comma) {
                        break;
                    }
                }
            } else if self.eat_kw("REMOVE") {
                loop {
                    actions.push(Action::Remove(self.path()?));
                    if !self.eat(&Tok::Comma) {
                        break;
                    }
                }
            } else {
                break;
            }
        }
        if actions.is_empty() {
            return Err(self.unexpected("SET or REMOVE"));
        }
        self.refuse_clauses()?;
        if !self.eat_kw("WHERE") {
            if self.at(&Tok::Eof) || self.at(&Tok::Semi) {
                return Err(PartiqlError(NEEDS_KEY.to_string()));
            }
            return Err(self.unexpected("SET, REMOVE or WHERE"));
        }
        let filter = self.condition()?;
        self.refuse_clauses()?;
        Ok(Ast::Update {
            table,
            actions,
            filter,
        })
    }

    fn delete(&mut self) -> Res<Ast> {
        self.advance();
        self.expect_kw("FROM")?;
        let table = self.table()?;
        if self.at(&Tok::Dot) {
            return Err(malformed("An index cannot be the target of DELETE"));
        }
        self.refuse_clauses()?;
        if !self.eat_kw("WHERE") {
            if self.at(&Tok::Eof) || self.at(&Tok::Semi) {
                return Err(PartiqlError(NEEDS_KEY.to_string()));
            }
            return Err(self.unexpected("WHERE"));
        }
        let filter = self.condition()?;
        self.refuse_clauses()?;
        Ok(Ast::Delete { table, filter })
    }

    // ----- paths -----

    /// `a`, `"a"`, then any of `.b`, `."b"`, `[2]`, `['key']`.
    fn path(&mut self) -> Res<PPath> {
        let mut elems = vec![Elem::Attr(self.ident("an attribute name")?)];
        loop {
            if self.eat(&Tok::Dot) {
                let name = match self.peek() {
                    // After a dot any word is a name, keywords included.
                    Tok::Word(w) => w.clone(),
                    Tok::Quoted(q) => q.clone(),
                    Tok::Star => return Err(unsupported("Wildcard paths")),
                    _ => return Err(self.unexpected("an attribute name after '.'")),
                };
                if name.is_empty() {
                    return Err(malformed("Empty attribute name in a path"));
                }
                self.advance();
                elems.push(Elem::Attr(name));
            } else if self.eat(&Tok::LBracket) {
                let elem = match self.peek() {
                    Tok::Num(n) if n.bytes().all(|b| b.is_ascii_digit()) => Elem::Index(
                        n.parse::<u32>()
                            .map_err(|_| malformed(format!("List index {n} is out of range")))?,
                    ),
                    Tok::Str(s) if !s.is_empty() => Elem::Attr(s.clone()),
                    Tok::Star => return Err(unsupported("Wildcard paths")),
                    Tok::Param => return Err(unsupported("Parameters in a path")),
                    _ => {
                        return Err(self.unexpected("a list index or a quoted map key in '[...]'"));
                    }
                };
                self.advance();
                self.expect(&Tok::RBracket, "']'")?;
                elems.push(elem);
            } else {
                return Ok(PPath(elems));
            }
        }
    }

    // ----- literals -----

    /// Whether the current token starts a literal (or a parameter).
    fn at_literal(&self) -> bool {
        match self.peek() {
            Tok::Str(_)
            | Tok::Num(_)
            | Tok::Param
            | Tok::LBracket
            | Tok::LBrace
            | Tok::LSet
            | Tok::Minus
            | Tok::Plus => true,
            Tok::Word(w) => ["TRUE", "FALSE", "NULL", "MISSING"]
                .iter()
                .any(|k| k.eq_ignore_ascii_case(w)),
            _ => false,
        }
    }

    fn number(&self, text: &str) -> Res<AttributeValue> {
        Number::parse(text)
            .map(AttributeValue::N)
            .map_err(|e| PartiqlError(e.message().to_string()))
    }

    /// A literal value or a parameter.
    fn literal(&mut self) -> Res<AttributeValue> {
        let v = match self.peek().clone() {
            Tok::Str(s) => AttributeValue::S(s),
            Tok::Num(n) => self.number(&n)?,
            Tok::Minus | Tok::Plus => {
                let sign = if self.at(&Tok::Minus) { "-" } else { "" };
                let Tok::Num(n) = self.peek_at(1).clone() else {
                    self.advance();
                    return Err(self.unexpected("a number after the sign"));
                };
                self.advance();
                self.number(&format!("{sign}{n}"))?
            }
            Tok::Param => self.param()?,
            Tok::Word(w) => match w.to_ascii_uppercase().as_str() {
                "TRUE" => AttributeValue::Bool(true),
                "FALSE" => AttributeValue::Bool(false),
                "NULL" => AttributeValue::Null,
                "MISSING" => return Err(unsupported("The MISSING literal as a value")),
                _ => return Err(self.unexpected("a literal value")),
            },
            Tok::LBracket => return self.nested(Self::list),
            Tok::LBrace => return self.nested(Self::map),
            Tok::LSet => return self.nested(Self::set),
            _ => return Err(self.unexpected("a literal value")),
        };
        self.advance();
        Ok(v)
    }

    fn nested(&mut self, f: fn(&mut Self) -> Res<AttributeValue>) -> Res<AttributeValue> {
        self.enter()?;
        let v = f(self)?;
        self.leave();
        Ok(v)
    }

    /// Comma-separated items up to `close`, after the opening token.
    fn items<T>(
        &mut self,
        close: &Tok,
        what: &str,
        mut item: impl FnMut(&mut Self) -> Res<T>,
    ) -> Res<Vec<T>> {
        self.advance();
        let mut out = Vec::new();
        if self.eat(close) {
            return Ok(out);
        }
        loop {
            out.push(item(self)?);
            if self.eat(close) {
                return Ok(out);
            }
            if !self.eat(&Tok::Comma) {
                return Err(self.unexpected(&format!("',' or {what}")));
            }
        }
    }

    fn list(&mut self) -> Res<AttributeValue> {
        Ok(AttributeValue::L(self.items(
            &Tok::RBracket,
            "']'",
            Self::literal,
        )?))
    }

    fn map(&mut self) -> Res<AttributeValue> {
        let pairs = self.items(&Tok::RBrace, "'}'", |p| {
            let Tok::Str(k) = p.peek().clone() else {
                return Err(p.unexpected("a single-quoted string key in a tuple"));
            };
            p.advance();
            p.expect(&Tok::Colon, "':'")?;
            Ok((k, p.literal()?))
        })?;
        let mut m = BTreeMap::new();
        for (k, v) in pairs {
            if m.contains_key(&k) {
                return Err(malformed(format!("Duplicate key '{k}' in a tuple")));
            }
            m.insert(k, v);
        }
        Ok(AttributeValue::M(m))
    }

    fn set(&mut self) -> Res<AttributeValue> {
        let elems = self.items(&Tok::RSet, "'>>'", Self::literal)?;
        let bad = |why: &str| malformed(format!("Invalid set literal: {why}"));
        let Some(first) = elems.first() else {
            return Err(bad("a set may not be empty"));
        };
        let v = match first {
            AttributeValue::S(_) => AttributeValue::Ss(
                elems
                    .into_iter()
                    .map(|e| match e {
                        AttributeValue::S(s) => Ok(s),
                        _ => Err(bad("all elements must have the same type")),
                    })
                    .collect::<Res<_>>()?,
            ),
            AttributeValue::N(_) => AttributeValue::Ns(
                elems
                    .into_iter()
                    .map(|e| match e {
                        AttributeValue::N(n) => Ok(n),
                        _ => Err(bad("all elements must have the same type")),
                    })
                    .collect::<Res<_>>()?,
            ),
            AttributeValue::B(_) => AttributeValue::Bs(
                elems
                    .into_iter()
                    .map(|e| match e {
                        AttributeValue::B(b) => Ok(b),
                        _ => Err(bad("all elements must have the same type")),
                    })
                    .collect::<Res<_>>()?,
            ),
            other => {
                return Err(bad(&format!(
                    "elements must be strings, numbers or binaries, not {}",
                    other.type_name()
                )));
            }
        };
        let dup = match &v {
            AttributeValue::Ss(s) => (1..s.len()).any(|i| s[..i].contains(&s[i])),
            AttributeValue::Ns(s) => (1..s.len()).any(|i| s[..i].contains(&s[i])),
            AttributeValue::Bs(s) => (1..s.len()).any(|i| s[..i].contains(&s[i])),
            _ => false,
        };
        if dup {
            return Err(bad("it contains duplicates"));
        }
        Ok(v)
    }

    // ----- conditions -----

    fn condition(&mut self) -> Res<Cond> {
        if self.at(&Tok::Eof) || self.at(&Tok::Semi) {
            return Err(self.unexpected("a condition after WHERE"));
        }
        self.or()
    }

    fn or(&mut self) -> Res<Cond> {
        let mut parts = Vec::new();
        loop {
            match self.and()? {
                Cond::Or(inner) => parts.extend(inner),
                c => parts.push(c),
            }
            if !self.eat_kw("OR") {
                break;
            }
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Cond::Or(parts)
        })
    }

    fn and(&mut self) -> Res<Cond> {
        let mut parts = Vec::new();
        loop {
            match self.not()? {
                Cond::And(inner) => parts.extend(inner),
                c => parts.push(c),
            }
            if !self.eat_kw("AND") {
                break;
            }
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Cond::And(parts)
        })
    }

    fn not(&mut self) -> Res<Cond> {
        if self.eat_kw("NOT") {
            self.enter()?;
            let inner = self.not()?;
            self.leave();
            return Ok(Cond::Not(Box::new(inner)));
        }
        self.predicate()
    }

    fn predicate(&mut self) -> Res<Cond> {
        if self.at(&Tok::LParen) {
            if matches!(self.peek_at(1), Tok::Word(w) if w.eq_ignore_ascii_case("SELECT")) {
                return Err(unsupported("Subqueries"));
            }
            self.advance();
            self.enter()?;
            let c = self.or()?;
            self.expect(&Tok::RParen, "')'")?;
            self.leave();
            return Ok(c);
        }
        if let Tok::Word(w) = self.peek().clone()
            && *self.peek_at(1) == Tok::LParen
        {
            let f = match w.to_ascii_lowercase().as_str() {
                "begins_with" => Some(Func::BeginsWith),
                "contains" => Some(Func::Contains),
                "attribute_type" => Some(Func::AttributeType),
                _ => None,
            };
            if let Some(f) = f {
                return self.function(f);
            }
        }
        let lhs = self.operand()?;
        let op = match self.peek() {
            Tok::Eq => Some("="),
            Tok::Ne => Some("<>"),
            Tok::Lt => Some("<"),
            Tok::Le => Some("<="),
            Tok::Gt => Some(">"),
            Tok::Ge => Some(">="),
            _ => None,
        };
        if let Some(op) = op {
            self.advance();
            let rhs = self.operand()?;
            return Ok(Cond::Cmp(lhs, op, rhs));
        }
        if self.eat_kw("IS") {
            let negated = self.eat_kw("NOT");
            let Operand::Path(path) = lhs else {
                return Err(malformed("IS MISSING and IS NULL need an attribute path"));
            };
            let c = if self.eat_kw("MISSING") {
                if negated {
                    Cond::Exists(path)
                } else {
                    Cond::NotExists(path)
                }
            } else if self.eat_kw("NULL") {
                let is_null = Cond::Func(
                    Func::AttributeType,
                    path,
                    Operand::Value(AttributeValue::S("NULL".to_string())),
                );
                if negated {
                    Cond::Not(Box::new(is_null))
                } else {
                    is_null
                }
            } else if self.at_kw("TRUE") || self.at_kw("FALSE") || self.at_kw("UNKNOWN") {
                return Err(unsupported("IS TRUE, IS FALSE and IS UNKNOWN"));
            } else {
                return Err(self.unexpected("MISSING or NULL after IS"));
            };
            return Ok(c);
        }
        let negated = self.eat_kw("NOT");
        let c = if self.eat_kw("BETWEEN") {
            let lo = self.operand()?;
            self.expect_kw("AND")?;
            let hi = self.operand()?;
            Cond::Between(lhs, lo, hi)
        } else if self.eat_kw("IN") {
            let close = match self.peek() {
                Tok::LBracket => Tok::RBracket,
                Tok::LParen => Tok::RParen,
                _ => return Err(self.unexpected("'[' or '(' after IN")),
            };
            if matches!(self.peek_at(1), Tok::Word(w) if w.eq_ignore_ascii_case("SELECT")) {
                return Err(unsupported("Subqueries"));
            }
            let list = self.items(&close, "the end of the IN list", Self::operand)?;
            if list.is_empty() {
                return Err(malformed("The IN list may not be empty"));
            }
            Cond::In(lhs, list)
        } else if self.at_kw("LIKE") {
            return Err(unsupported("LIKE; use begins_with or contains"));
        } else {
            return Err(self.unexpected("a comparison operator, BETWEEN, IN or IS"));
        };
        Ok(if negated { Cond::Not(Box::new(c)) } else { c })
    }

    /// `begins_with(path, x)`, `contains(path, x)`, `attribute_type(path, x)`.
    fn function(&mut self, f: Func) -> Res<Cond> {
        self.advance();
        self.advance();
        self.enter()?;
        let path = self.path()?;
        self.expect(&Tok::Comma, "','")?;
        let arg = self.operand()?;
        self.expect(&Tok::RParen, "')'")?;
        self.leave();
        if matches!(arg, Operand::Size(_)) {
            return Err(unsupported(format!(
                "size() as an argument of {}",
                f.name()
            )));
        }
        Ok(Cond::Func(f, path, arg))
    }

    /// A comparison operand: a path, a literal, a parameter or `size(path)`.
    fn operand(&mut self) -> Res<Operand> {
        if let Tok::Word(w) = self.peek().clone()
            && *self.peek_at(1) == Tok::LParen
        {
            if !w.eq_ignore_ascii_case("size") {
                return Err(unknown_function(&w));
            }
            self.advance();
            self.advance();
            let p = self.path()?;
            self.expect(&Tok::RParen, "')'")?;
            return Ok(Operand::Size(p));
        }
        if self.at(&Tok::LParen)
            && matches!(self.peek_at(1), Tok::Word(w) if w.eq_ignore_ascii_case("SELECT"))
        {
            return Err(unsupported("Subqueries"));
        }
        if self.at_literal() {
            return Ok(Operand::Value(self.literal()?));
        }
        Ok(Operand::Path(self.path()?))
    }

    // ----- updates -----

    /// `path = value`, where `set_add(path, set)` and `set_delete(path, set)` become ADD and DELETE.
    fn assignment(&mut self) -> Res<Action> {
        let path = self.path()?;
        self.expect(&Tok::Eq, "'='")?;
        if let Tok::Word(w) = self.peek().clone()
            && *self.peek_at(1) == Tok::LParen
        {
            let lower = w.to_ascii_lowercase();
            if lower == "set_add" || lower == "set_delete" {
                self.advance();
                self.advance();
                let target = self.path()?;
                if target != path {
                    return Err(unsupported(format!(
                        "{lower} on an attribute other than the one being set"
                    )));
                }
                self.expect(&Tok::Comma, "','")?;
                if !self.at_literal() {
                    return Err(
                        self.unexpected(&format!("a set value as the second argument of {lower}"))
                    );
                }
                let v = self.literal()?;
                self.expect(&Tok::RParen, "')'")?;
                if !matches!(
                    v,
                    AttributeValue::Ss(_) | AttributeValue::Ns(_) | AttributeValue::Bs(_)
                ) {
                    return Err(malformed(format!(
                        "The second argument of {lower} must be a set, not a value of type {}",
                        v.type_name()
                    )));
                }
                return Ok(if lower == "set_add" {
                    Action::Add(path, v)
                } else {
                    Action::Delete(path, v)
                });
            }
        }
        let a = self.update_operand()?;
        let value = if self.eat(&Tok::Plus) {
            SetValue::Plus(a, self.update_operand()?)
        } else if self.eat(&Tok::Minus) {
            SetValue::Minus(a, self.update_operand()?)
        } else {
            SetValue::One(a)
        };
        if matches!(self.peek(), Tok::Plus | Tok::Minus | Tok::Star) {
            return Err(unsupported(
                "More than one arithmetic operator in a SET value",
            ));
        }
        Ok(Action::Set(path, value))
    }

    fn update_operand(&mut self) -> Res<UOperand> {
        if let Tok::Word(w) = self.peek().clone()
            && *self.peek_at(1) == Tok::LParen
        {
            let lower = w.to_ascii_lowercase();
            if lower != "list_append" && lower != "if_not_exists" {
                return Err(unknown_function(&w));
            }
            self.advance();
            self.advance();
            self.enter()?;
            let first = if lower == "if_not_exists" {
                UOperand::Path(self.path()?)
            } else {
                self.update_operand()?
            };
            self.expect(&Tok::Comma, "','")?;
            let second = self.update_operand()?;
            self.expect(&Tok::RParen, "')'")?;
            self.leave();
            return Ok(match first {
                UOperand::Path(p) if lower == "if_not_exists" => {
                    UOperand::IfNotExists(p, Box::new(second))
                }
                first => UOperand::ListAppend(Box::new(first), Box::new(second)),
            });
        }
        if self.at_literal() {
            return Ok(UOperand::Value(self.literal()?));
        }
        Ok(UOperand::Path(self.path()?))
    }
}

fn unknown_function(name: &str) -> PartiqlError {
    unsupported(format!("Function '{name}' is not supported here"))
}
