//! From a pattern's text to a [`Rule`], reading tokens in the order AWS's
//! engine reads them, so that a refused pattern gets the same reason at the
//! same place.

use crate::matcher::{AnythingBut, FIVE_BILLION, IpRange, Matcher, Range, Wildcard, comparable};
use crate::reader::{Reader, Token};
use crate::{Flavour, Item, PatternError, Rule};

/// Names that may not be field names inside `$or`: the matchers, and words
/// AWS keeps for later.
const RESERVED_IN_OR: &[&str] = &[
    "exactly",
    "equals-ignore-case",
    "prefix",
    "suffix",
    "anything-but",
    "exists",
    "wildcard",
    "numeric",
    "cidr",
    "=",
    "<",
    "<=",
    ">",
    ">=",
    "regex",
    "not-wildcard",
    "not-equals-ignore-case",
    "date-after",
    "date-on-or-after",
    "date-before",
    "date-on-or-before",
    "in-date-range",
    "ip-address-in-range",
    "ip-address-not-in-range",
];

/// SNS's limits on a filter policy.
const SNS_MAX_KEYS: usize = 5;
const SNS_MAX_COMBINATIONS: u64 = 150;

type Step<T> = Result<T, String>;

struct Compiler<'a> {
    reader: Reader<'a>,
    flavour: Flavour,
}

pub(crate) fn compile(text: &str, flavour: Flavour) -> Result<Rule, PatternError> {
    let mut c = Compiler {
        reader: Reader::new(text),
        flavour,
    };
    let located = |c: &Compiler<'_>, reason: String| {
        let (line, column) = c.reader.location();
        PatternError {
            reason,
            line,
            column,
            source: text.to_string(),
            flavour,
            located: true,
        }
    };
    let rule = match c.run() {
        Ok(rule) => rule,
        Err(reason) => return Err(located(&c, reason)),
    };
    if flavour.is_sns() {
        let unlocated = |reason: &str| PatternError {
            reason: reason.to_string(),
            line: 0,
            column: 0,
            source: text.to_string(),
            flavour,
            located: false,
        };
        let mut keys = std::collections::HashSet::new();
        collect_keys(&rule, &mut keys);
        if keys.len() > SNS_MAX_KEYS {
            return Err(unlocated("Filter policy can not have more than 5 keys"));
        }
        if combinations(&rule) > SNS_MAX_COMBINATIONS {
            return Err(unlocated("Filter policy is too complex"));
        }
    }
    Ok(rule)
}

fn collect_keys<'r>(rule: &'r Rule, keys: &mut std::collections::HashSet<&'r str>) {
    for item in &rule.items {
        match item {
            Item::Field { path, .. } => {
                keys.insert(path);
            }
            Item::Or(alts) => alts.iter().for_each(|a| collect_keys(a, keys)),
        }
    }
}

/// How many combinations of values a rule holds: the product of its lists'
/// lengths, alternatives adding up (saturating).
fn combinations(rule: &Rule) -> u64 {
    rule.items.iter().fold(1u64, |acc, item| {
        let n = match item {
            Item::Field { matchers, .. } => matchers.len() as u64,
            Item::Or(alts) => alts
                .iter()
                .fold(0u64, |s, a| s.saturating_add(combinations(a))),
        };
        acc.saturating_mul(n)
    })
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// Keep only the last field for each path (AWS's engine keeps the last),
/// in the order the kept ones came.
fn dedupe(rule: &mut Rule) {
    let mut seen = std::collections::HashSet::new();
    let mut kept: Vec<Item> = Vec::with_capacity(rule.items.len());
    for item in rule.items.drain(..).rev() {
        match &item {
            Item::Field { path, .. } if !seen.insert(path.clone()) => {}
            _ => kept.push(item),
        }
    }
    kept.reverse();
    rule.items = kept;
}

fn numeric_key(f: f64) -> Step<i64> {
    comparable(f).ok_or_else(|| {
        format!(
            "Value must be between {:.1E} and {FIVE_BILLION:.1E}, inclusive",
            -FIVE_BILLION
        )
    })
}

impl Compiler<'_> {
    fn next(&mut self) -> Step<Token> {
        self.reader.next_token()
    }

    fn run(&mut self) -> Step<Rule> {
        if self.next()? != Token::StartObject {
            return Err("Filter is not an object".into());
        }
        let mut rule = Rule::default();
        self.object(&mut rule, "", false)?;
        dedupe(&mut rule);
        Ok(rule)
    }

    /// An object's fields, after its `{`, into `rule` (a nested object's
    /// fields join the same rule under a longer path).
    fn object(&mut self, rule: &mut Rule, prefix: &str, in_or: bool) -> Step<()> {
        let mut any = false;
        loop {
            let name = match self.next()? {
                Token::EndObject => break,
                Token::Field(name) => name,
                other => return Err(format!("Unexpected token {}", other.text())),
            };
            any = true;
            if name == "$or" {
                let alts = self.or(prefix)?;
                rule.items.push(Item::Or(alts));
                continue;
            }
            if in_or && RESERVED_IN_OR.contains(&name.as_str()) {
                return Err(format!(
                    "{name} is Ruler reserved fieldName which cannot be used inside $or."
                ));
            }
            match self.next()? {
                Token::StartObject => {
                    if self.flavour == Flavour::SnsAttributes {
                        return Err(
                            "Filter policy scope MessageAttributes does not support nested filter policy"
                                .into(),
                        );
                    }
                    self.object(rule, &join(prefix, &name), in_or)?;
                }
                Token::StartArray => {
                    let matchers = self.leaf()?;
                    rule.items.push(Item::Field {
                        path: join(prefix, &name),
                        matchers,
                    });
                }
                _ => return Err(format!("\"{name}\" must be an object or an array")),
            }
        }
        if !any {
            return Err("Empty objects are not allowed".into());
        }
        Ok(())
    }

    fn or(&mut self, prefix: &str) -> Step<Vec<Rule>> {
        if self.next()? != Token::StartArray {
            return Err("It must be an Array followed with $or.".into());
        }
        let mut alts = Vec::new();
        loop {
            match self.next()? {
                Token::EndArray => break,
                Token::StartObject => {
                    let mut alt = Rule::default();
                    self.object(&mut alt, prefix, true)?;
                    dedupe(&mut alt);
                    alts.push(alt);
                }
                _ => return Err("Only JSON object is allowed in array of $or relationship.".into()),
            }
        }
        if alts.len() < 2 {
            return Err("There must have at least 2 Objects in $or relationship.".into());
        }
        Ok(alts)
    }

    /// A leaf's list of matchers, after its `[`.
    fn leaf(&mut self) -> Step<Vec<Matcher>> {
        let mut out = Vec::new();
        loop {
            let m = match self.next()? {
                Token::EndArray => break,
                Token::StartObject => self.expression()?,
                Token::Str(s) => Matcher::Str(s),
                Token::Num(text, f) => Matcher::Num(text, f),
                Token::True => Matcher::Bool(true),
                Token::False => Matcher::Bool(false),
                Token::Null => Matcher::Null,
                _ => return Err("Match value must be String, number, true, false, or null".into()),
            };
            out.push(m);
        }
        if out.is_empty() {
            return Err("Empty arrays are not allowed".into());
        }
        Ok(out)
    }

    fn end_of_expression(&mut self) -> Step<()> {
        if self.next()? != Token::EndObject {
            return Err("Only one key allowed in match expression".into());
        }
        Ok(())
    }

    fn string_arg(&mut self, what: &str) -> Step<String> {
        match self.next()? {
            Token::Str(s) => Ok(s),
            _ => Err(format!("{what} match pattern must be a string")),
        }
    }

    /// A match expression (`{"prefix": ...}` and the rest), after its `{`.
    fn expression(&mut self) -> Step<Matcher> {
        let Token::Field(kind) = self.next()? else {
            return Err("Match expression name not found".into());
        };
        let m = match kind.as_str() {
            "prefix" | "suffix" => return self.affix(&kind),
            "equals-ignore-case" => {
                Matcher::EqualsIgnoreCase(self.string_arg("equals-ignore-case")?)
            }
            "wildcard" if self.flavour == Flavour::EventBridge => {
                Matcher::Wildcard(Wildcard::parse(&self.string_arg("wildcard")?)?)
            }
            "numeric" => {
                if self.next()? != Token::StartArray {
                    return Err("Value of numeric must be an array.".into());
                }
                let range = self.numeric()?;
                if self.next()? != Token::EndObject {
                    return Err("Too many elements in numeric expression".into());
                }
                return Ok(Matcher::Numeric(range));
            }
            "anything-but" => return self.anything_but(),
            "exists" => match self.next()? {
                Token::True => Matcher::Exists(true),
                Token::False => Matcher::Exists(false),
                _ => return Err("exists match pattern must be either true or false.".into()),
            },
            // AWS's engine words a bad CIDR argument as it does a prefix's.
            "cidr" if self.flavour != Flavour::Lambda => {
                Matcher::Cidr(IpRange::parse(&self.string_arg("prefix")?)?)
            }
            other => return Err(format!("Unrecognized match type {other}")),
        };
        self.end_of_expression()?;
        Ok(m)
    }

    /// `prefix` or `suffix`: a string, or `{"equals-ignore-case": string}`.
    fn affix(&mut self, kind: &str) -> Step<Matcher> {
        let prefix = kind == "prefix";
        let m = match self.next()? {
            Token::Str(s) if prefix => Matcher::Prefix(s),
            Token::Str(s) => Matcher::Suffix(s),
            Token::StartObject => {
                match self.next()? {
                    Token::Field(f) if f == "equals-ignore-case" => {}
                    Token::Field(f) => return Err(format!("Unsupported {kind} pattern: {f}")),
                    _ => return Err(format!("{kind} match pattern must be a string")),
                }
                let s = self.string_arg("equals-ignore-case")?;
                self.end_of_expression()?;
                if prefix {
                    Matcher::PrefixIgnoreCase(s)
                } else {
                    Matcher::SuffixIgnoreCase(s)
                }
            }
            _ => return Err(format!("{kind} match pattern must be a string")),
        };
        self.end_of_expression()?;
        Ok(m)
    }

    fn anything_but(&mut self) -> Step<Matcher> {
        let mut token = self.next()?;
        let mut ignore_case = false;
        if token == Token::StartObject {
            let Token::Field(op) = self.next()? else {
                return Err("Anything-But expression name not found".into());
            };
            if self.flavour == Flavour::Lambda {
                // Lambda (and Pipes) filter only with plain anything-but.
                return Err(format!("Unsupported anything-but pattern: {op}"));
            }
            match op.as_str() {
                "equals-ignore-case" => {
                    ignore_case = true;
                    token = self.next()?;
                }
                "prefix" | "suffix" => {
                    let Token::Str(text) = self.next()? else {
                        return Err("prefix/suffix match pattern must be a string".into());
                    };
                    if text.is_empty() {
                        return Err("Null prefix/suffix not allowed".into());
                    }
                    self.end_of_expression()?;
                    self.end_of_expression()?;
                    return Ok(Matcher::AnythingBut(if op == "prefix" {
                        AnythingBut::Prefix(text)
                    } else {
                        AnythingBut::Suffix(text)
                    }));
                }
                "wildcard" if !self.flavour.is_sns() => {
                    let ws = self.anything_but_wildcards()?;
                    self.end_of_expression()?;
                    self.end_of_expression()?;
                    return Ok(Matcher::AnythingBut(AnythingBut::Wildcards(ws)));
                }
                other => return Err(format!("Unsupported anything-but pattern: {other}")),
            }
        }
        let set = match (token, ignore_case) {
            (Token::StartArray, true) => self.anything_but_ignore_case_list()?,
            (Token::StartArray, false) => self.anything_but_list()?,
            (Token::Str(s), true) => AnythingBut::IgnoreCase(vec![s]),
            (Token::Str(s), false) => AnythingBut::Strings(vec![s]),
            (Token::Num(_, f), false) => AnythingBut::Numbers(vec![numeric_key(f)?]),
            (Token::Num(..), true) => {
                return Err("Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported.".into());
            }
            _ => {
                return Err(
                    "Value of anything-but must be an array or single string/number value.".into(),
                );
            }
        };
        if self.next()? != Token::EndObject {
            return Err("Too many elements in numeric expression".into());
        }
        if ignore_case && self.next()? != Token::EndObject {
            return Err("Too many elements in numeric expression".into());
        }
        Ok(Matcher::AnythingBut(set))
    }

    fn anything_but_list(&mut self) -> Step<AnythingBut> {
        let mut strings = Vec::new();
        let mut numbers = Vec::new();
        loop {
            match self.next()? {
                Token::EndArray => break,
                Token::Str(s) => strings.push(s),
                Token::Num(_, f) => numbers.push(numeric_key(f)?),
                _ => {
                    return Err(
                        "Inside anything but list, start|null|boolean is not supported.".into(),
                    );
                }
            }
        }
        match (strings.is_empty(), numbers.is_empty()) {
            (false, true) => Ok(AnythingBut::Strings(strings)),
            (true, false) => Ok(AnythingBut::Numbers(numbers)),
            _ => Err("Inside anything but list, either all values are number or string, mixed type is not supported".into()),
        }
    }

    fn anything_but_ignore_case_list(&mut self) -> Step<AnythingBut> {
        let mut strings = Vec::new();
        loop {
            match self.next()? {
                Token::EndArray => break,
                Token::Str(s) => strings.push(s),
                _ => {
                    return Err("Inside anything-but/equals-ignore-case list, numberic|start|null|boolean is not supported.".into());
                }
            }
        }
        Ok(AnythingBut::IgnoreCase(strings))
    }

    /// `{"anything-but": {"wildcard": ...}}`: one wildcard or a list.
    fn anything_but_wildcards(&mut self) -> Step<Vec<Wildcard>> {
        match self.next()? {
            Token::Str(s) => Ok(vec![Wildcard::parse(&s)?]),
            Token::StartArray => {
                let mut out = Vec::new();
                loop {
                    match self.next()? {
                        Token::EndArray => break,
                        Token::Str(s) => out.push(Wildcard::parse(&s)?),
                        _ => return Err("wildcard match pattern must be a string".into()),
                    }
                }
                if out.is_empty() {
                    return Err("Empty arrays are not allowed".into());
                }
                Ok(out)
            }
            _ => Err("wildcard match pattern must be a string".into()),
        }
    }

    /// A numeric expression's terms, after its `[`.
    fn numeric(&mut self) -> Step<Range> {
        let op = match self.next()? {
            Token::Str(op) => op,
            other => return Err(format!("Invalid member in numeric match: {}", other.text())),
        };
        let bound = match self.next()? {
            Token::Num(_, f) if ["=", ">=", ">", "<=", "<"].contains(&op.as_str()) => f,
            _ if ["=", ">=", ">", "<=", "<"].contains(&op.as_str()) => {
                let name = if op == "=" { "equals" } else { op.as_str() };
                return Err(format!("Value of {name} must be numeric"));
            }
            _ => return Err(format!("Unrecognized numeric range operator: {op}")),
        };
        let key = numeric_key(bound)?;
        let single = |low, high| Ok(Range { low, high });
        match op.as_str() {
            "=" => {
                self.close_numeric()?;
                single(Some((key, false)), Some((key, false)))
            }
            "<=" | "<" => {
                self.close_numeric()?;
                single(None, Some((key, op == "<")))
            }
            _ => {
                let low = Some((key, op == ">"));
                let top_op = match self.next()? {
                    Token::EndArray => return single(low, None),
                    Token::Str(s) => s,
                    other => return Err(format!("Bad value in numeric range: {}", other.text())),
                };
                if top_op != "<" && top_op != "<=" {
                    return Err(format!("Bad numeric range operator: {top_op}"));
                }
                let Token::Num(_, top) = self.next()? else {
                    return Err(format!("Value of {top_op} must be numeric"));
                };
                let top = numeric_key(top)?;
                if self.next()? != Token::EndArray {
                    return Err("Too many terms in numeric range expression".into());
                }
                single(low, Some((top, top_op == "<")))
            }
        }
    }

    fn close_numeric(&mut self) -> Step<()> {
        if self.next()? != Token::EndArray {
            return Err("Too many elements in numeric expression".into());
        }
        Ok(())
    }
}
