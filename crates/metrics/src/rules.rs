//! Composite alarms' rules (`AlarmRule`): `ALARM(x)`, `OK(x)` and
//! `INSUFFICIENT_DATA(x)` of other alarms (by name, quoted or not, or ARN),
//! `TRUE`, `FALSE`, joined with `AND`, `OR`, `NOT` and parentheses.

/// A rule that does not parse; the text says why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RuleError(pub String);

#[derive(Debug, Clone, PartialEq)]
enum Node {
    State(&'static str, String),
    Const(bool),
    Not(Box<Node>),
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
}

/// A parsed `AlarmRule`.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmRule(Node);

const MAX_LEN: usize = 10_240;
const MAX_DEPTH: usize = 64;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Quoted(String),
    Open,
    Close,
}

fn lex(s: &str) -> Result<Vec<Tok>, RuleError> {
    let c: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        match c[i] {
            x if x.is_whitespace() => i += 1,
            '(' => {
                out.push(Tok::Open);
                i += 1;
            }
            ')' => {
                out.push(Tok::Close);
                i += 1;
            }
            q @ ('"' | '\'') => {
                let end = c[i + 1..]
                    .iter()
                    .position(|x| *x == q)
                    .ok_or_else(|| RuleError("An alarm name in quotes is not closed.".into()))?;
                out.push(Tok::Quoted(c[i + 1..i + 1 + end].iter().collect()));
                i += end + 2;
            }
            _ => {
                let start = i;
                while i < c.len() && !c[i].is_whitespace() && c[i] != '(' && c[i] != ')' {
                    i += 1;
                }
                out.push(Tok::Word(c[start..i].iter().collect()));
            }
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    depth: usize,
}

impl Parser {
    fn word(&self, w: &str) -> bool {
        matches!(self.toks.get(self.pos), Some(Tok::Word(x)) if x.eq_ignore_ascii_case(w))
    }

    fn or(&mut self) -> Result<Node, RuleError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(RuleError("The alarm rule nests too deeply.".into()));
        }
        let mut l = self.and()?;
        while self.word("OR") {
            self.pos += 1;
            l = Node::Or(Box::new(l), Box::new(self.and()?));
        }
        self.depth -= 1;
        Ok(l)
    }

    fn and(&mut self) -> Result<Node, RuleError> {
        let mut l = self.not()?;
        while self.word("AND") {
            self.pos += 1;
            l = Node::And(Box::new(l), Box::new(self.not()?));
        }
        Ok(l)
    }

    fn not(&mut self) -> Result<Node, RuleError> {
        if self.word("NOT") {
            self.pos += 1;
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return Err(RuleError("The alarm rule nests too deeply.".into()));
            }
            let n = self.not()?;
            self.depth -= 1;
            return Ok(Node::Not(Box::new(n)));
        }
        self.atom()
    }

    fn atom(&mut self) -> Result<Node, RuleError> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        match t {
            Some(Tok::Open) => {
                let n = self.or()?;
                if self.toks.get(self.pos) != Some(&Tok::Close) {
                    return Err(RuleError(
                        "A parenthesis in the alarm rule is not closed.".into(),
                    ));
                }
                self.pos += 1;
                Ok(n)
            }
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("TRUE") => Ok(Node::Const(true)),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("FALSE") => Ok(Node::Const(false)),
            Some(Tok::Word(w)) => {
                let state = match w.to_ascii_uppercase().as_str() {
                    "ALARM" => "ALARM",
                    "OK" => "OK",
                    "INSUFFICIENT_DATA" => "INSUFFICIENT_DATA",
                    _ => {
                        return Err(RuleError(format!(
                            "Unknown function {w} in the alarm rule: use ALARM, OK or INSUFFICIENT_DATA of an alarm, TRUE, FALSE, AND, OR, NOT."
                        )));
                    }
                };
                if self.toks.get(self.pos) != Some(&Tok::Open) {
                    return Err(RuleError(format!("{state} takes an alarm: {state}(name)")));
                }
                self.pos += 1;
                let name = match self.toks.get(self.pos).cloned() {
                    Some(Tok::Word(n) | Tok::Quoted(n)) if !n.is_empty() => n,
                    _ => return Err(RuleError(format!("{state}() needs an alarm name or ARN"))),
                };
                self.pos += 1;
                if self.toks.get(self.pos) != Some(&Tok::Close) {
                    return Err(RuleError(format!("{state}({name} is not closed")));
                }
                self.pos += 1;
                Ok(Node::State(state, name))
            }
            _ => Err(RuleError(
                "The alarm rule ends where a condition was expected.".into(),
            )),
        }
    }
}

impl AlarmRule {
    pub fn parse(s: &str) -> Result<AlarmRule, RuleError> {
        if s.trim().is_empty() || s.len() > MAX_LEN {
            return Err(RuleError(format!(
                "AlarmRule must be 1 to {MAX_LEN} characters."
            )));
        }
        let mut p = Parser {
            toks: lex(s)?,
            pos: 0,
            depth: 0,
        };
        let n = p.or()?;
        if p.pos < p.toks.len() {
            return Err(RuleError(format!(
                "Unexpected {:?} in the alarm rule.",
                p.toks[p.pos]
            )));
        }
        Ok(AlarmRule(n))
    }

    /// The alarms it refers to (names or ARNs, as written).
    pub fn alarms(&self) -> Vec<String> {
        fn walk(n: &Node, out: &mut Vec<String>) {
            match n {
                Node::State(_, a) => {
                    if !out.contains(a) {
                        out.push(a.clone());
                    }
                }
                Node::Const(_) => {}
                Node::Not(x) => walk(x, out),
                Node::And(a, b) | Node::Or(a, b) => {
                    walk(a, out);
                    walk(b, out);
                }
            }
        }
        let mut v = Vec::new();
        walk(&self.0, &mut v);
        v
    }

    /// Whether the rule holds, given each referred alarm's state.
    pub fn holds(&self, state_of: &impl Fn(&str) -> Option<String>) -> bool {
        fn eval(n: &Node, f: &impl Fn(&str) -> Option<String>) -> bool {
            match n {
                Node::State(s, a) => f(a).is_some_and(|st| st == *s),
                Node::Const(b) => *b,
                Node::Not(x) => !eval(x, f),
                Node::And(a, b) => eval(a, f) && eval(b, f),
                Node::Or(a, b) => eval(a, f) || eval(b, f),
            }
        }
        eval(&self.0, state_of)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_and_hold_by_the_states_of_their_alarms() {
        let r = AlarmRule::parse(
            r#"ALARM("cpu high") AND (OK(arn:aws:cloudwatch:us-east-1:000000000000:alarm:disk) OR NOT INSUFFICIENT_DATA(mem))"#,
        )
        .unwrap();
        assert_eq!(
            r.alarms(),
            [
                "cpu high",
                "arn:aws:cloudwatch:us-east-1:000000000000:alarm:disk",
                "mem"
            ]
        );
        let states = |cpu: &'static str, disk: &'static str, mem: &'static str| {
            move |a: &str| {
                Some(
                    match a {
                        "cpu high" => cpu,
                        "mem" => mem,
                        _ => disk,
                    }
                    .to_string(),
                )
            }
        };
        assert!(r.holds(&states("ALARM", "OK", "INSUFFICIENT_DATA")));
        assert!(r.holds(&states("ALARM", "ALARM", "OK")));
        assert!(!r.holds(&states("ALARM", "ALARM", "INSUFFICIENT_DATA")));
        assert!(!r.holds(&states("OK", "OK", "OK")));
        assert!(AlarmRule::parse("TRUE").unwrap().holds(&|_: &str| None));
        for bad in [
            "",
            "ALARM",
            "ALARM()",
            "ALARM(x",
            "ALARMS(x)",
            "ALARM(x) AND",
            "(TRUE",
            "TRUE FALSE",
            "ALARM(\"x)",
        ] {
            assert!(AlarmRule::parse(bad).is_err(), "{bad}");
        }
        assert!(AlarmRule::parse(&format!("{}TRUE", "NOT ".repeat(1000))).is_err());
    }
}
