//! Metric math for `GetMetricData` and metric math alarms: an `Expression` over the other queries'
//! results by their `Id` — `+ - * /`, parentheses, numbers, `[m1, m2]`
//! arrays, and the
//! functions `SUM`, `AVG`, `MIN`, `MAX` (across series, per timestamp),
//! `METRICS()` (every metric statistic query), `ABS` and `FILL(series,
//! value)`. Two series combine at the timestamps both have; a series and a
//! number at each of the series' timestamps.

use std::collections::{BTreeMap, HashMap};

/// CloudWatch's limit on an expression's length.
pub const MAX_EXPRESSION: usize = 2048;
/// How deep parentheses, signs, arrays and calls may nest.
const MAX_DEPTH: usize = 64;

/// One series: timestamp (ms) -> value.
pub type Series = BTreeMap<u64, f64>;

#[derive(Debug, Clone)]
enum Val {
    Num(f64),
    One(Series),
    Many(Vec<Series>),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(f64),
    Name(String),
    Op(char),
    Open,
    Close,
    OpenList,
    CloseList,
    Comma,
    Text(String),
}

fn tokens(src: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let mut chars = src.char_indices().peekable();
    while let Some(&(i, c)) = chars.peek() {
        match c {
            ' ' | '\t' => {
                chars.next();
            }
            '+' | '-' | '*' | '/' => {
                out.push(Tok::Op(c));
                chars.next();
            }
            '(' => {
                out.push(Tok::Open);
                chars.next();
            }
            ')' => {
                out.push(Tok::Close);
                chars.next();
            }
            ',' => {
                out.push(Tok::Comma);
                chars.next();
            }
            '[' => {
                out.push(Tok::OpenList);
                chars.next();
            }
            ']' => {
                out.push(Tok::CloseList);
                chars.next();
            }
            '"' | '\'' => {
                chars.next();
                let mut text = String::new();
                loop {
                    match chars.next() {
                        Some((_, q)) if q == c => break,
                        Some((_, x)) => text.push(x),
                        None => return Err("a quoted string does not end".into()),
                    }
                }
                out.push(Tok::Text(text));
            }
            c if c.is_ascii_digit() || c == '.' => {
                let mut end = i;
                while let Some(&(j, d)) = chars.peek() {
                    if d.is_ascii_digit() || d == '.' {
                        end = j + d.len_utf8();
                        chars.next();
                    } else {
                        break;
                    }
                }
                out.push(Tok::Num(
                    src[i..end]
                        .parse()
                        .map_err(|_| format!("'{}' is not a number", &src[i..end]))?,
                ));
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let mut end = i;
                while let Some(&(j, d)) = chars.peek() {
                    if d.is_ascii_alphanumeric() || d == '_' {
                        end = j + d.len_utf8();
                        chars.next();
                    } else {
                        break;
                    }
                }
                out.push(Tok::Name(src[i..end].to_string()));
            }
            other => return Err(format!("Unrecognized token '{other}'")),
        }
    }
    Ok(out)
}

struct Eval<'a> {
    /// How deep `factor` is nested (parentheses, minus signs, arrays, calls).
    depth: usize,
    toks: Vec<Tok>,
    at: usize,
    /// The results so far, by query id.
    known: &'a HashMap<String, Series>,
    /// The ids of the metric statistic queries (`METRICS()`).
    stats: &'a [String],
}

fn combine(a: Val, op: char, b: Val) -> Result<Val, String> {
    let f = |x: f64, y: f64| match op {
        '+' => x + y,
        '-' => x - y,
        '*' => x * y,
        _ => x / y,
    };
    let keep = |s: Series| -> Series { s.into_iter().filter(|(_, v)| v.is_finite()).collect() };
    Ok(match (a, b) {
        (Val::Num(x), Val::Num(y)) => Val::Num(f(x, y)),
        (Val::One(s), Val::Num(y)) => {
            Val::One(keep(s.into_iter().map(|(t, x)| (t, f(x, y))).collect()))
        }
        (Val::Num(x), Val::One(s)) => {
            Val::One(keep(s.into_iter().map(|(t, y)| (t, f(x, y))).collect()))
        }
        (Val::One(s), Val::One(r)) => Val::One(keep(
            s.into_iter()
                .filter_map(|(t, x)| Some((t, f(x, *r.get(&t)?))))
                .collect(),
        )),
        (Val::Many(list), other) => Val::Many(
            list.into_iter()
                .map(|s| match combine(Val::One(s), op, other.clone())? {
                    Val::One(s) => Ok(s),
                    _ => Err("arrays of series combine with a number or a series only".to_string()),
                })
                .collect::<Result<_, _>>()?,
        ),
        (other, Val::Many(list)) => Val::Many(
            list.into_iter()
                .map(|s| match combine(other.clone(), op, Val::One(s))? {
                    Val::One(s) => Ok(s),
                    _ => Err("arrays of series combine with a number or a series only".to_string()),
                })
                .collect::<Result<_, _>>()?,
        ),
    })
}

impl Eval<'_> {
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at)
    }

    fn expr(&mut self) -> Result<Val, String> {
        let mut v = self.term()?;
        while let Some(Tok::Op(op @ ('+' | '-'))) = self.peek().cloned() {
            self.at += 1;
            v = combine(v, op, self.term()?)?;
        }
        Ok(v)
    }

    fn term(&mut self) -> Result<Val, String> {
        let mut v = self.factor()?;
        while let Some(Tok::Op(op @ ('*' | '/'))) = self.peek().cloned() {
            self.at += 1;
            v = combine(v, op, self.factor()?)?;
        }
        Ok(v)
    }

    fn args(&mut self) -> Result<Vec<Val>, String> {
        let mut args = Vec::new();
        if self.peek() == Some(&Tok::Close) {
            self.at += 1;
            return Ok(args);
        }
        loop {
            match self.peek() {
                Some(Tok::Text(t)) => {
                    let t = t.clone();
                    self.at += 1;
                    args.push(Val::Many(
                        self.stats
                            .iter()
                            .filter(|id| id.contains(&t))
                            .filter_map(|id| self.known.get(id).cloned())
                            .collect(),
                    ));
                }
                _ => args.push(self.expr()?),
            }
            match self.next() {
                Some(Tok::Comma) => {}
                Some(Tok::Close) => return Ok(args),
                _ => return Err("a function's arguments must end with ')'".into()),
            }
        }
    }

    fn factor(&mut self) -> Result<Val, String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err("The expression nests too deeply.".into());
        }
        let v = self.factor_inner();
        self.depth -= 1;
        v
    }

    fn factor_inner(&mut self) -> Result<Val, String> {
        match self.next() {
            Some(Tok::Num(n)) => Ok(Val::Num(n)),
            Some(Tok::Op('-')) => combine(Val::Num(0.0), '-', self.factor()?),
            Some(Tok::Open) => {
                let v = self.expr()?;
                match self.next() {
                    Some(Tok::Close) => Ok(v),
                    _ => Err("a '(' without its ')'".into()),
                }
            }
            Some(Tok::OpenList) => {
                // `[m1, m2]`: an array of series.
                let mut list = Vec::new();
                loop {
                    match self.expr()? {
                        Val::One(s) => list.push(s),
                        Val::Many(more) => list.extend(more),
                        Val::Num(_) => return Err("an array holds series, not numbers".into()),
                    }
                    match self.next() {
                        Some(Tok::Comma) => {}
                        Some(Tok::CloseList) => return Ok(Val::Many(list)),
                        _ => return Err("a '[' without its ']'".into()),
                    }
                }
            }
            Some(Tok::Name(name)) if self.peek() == Some(&Tok::Open) => {
                self.at += 1;
                let args = self.args()?;
                function(&name, args, self.known, self.stats)
            }
            Some(Tok::Name(id)) => self
                .known
                .get(&id)
                .cloned()
                .map(Val::One)
                .ok_or_else(|| format!("Unrecognized metric id '{id}'")),
            other => Err(format!("Unexpected {other:?}")),
        }
    }
}

/// Every series an argument holds.
fn series_of(args: Vec<Val>) -> Result<Vec<Series>, String> {
    let mut out = Vec::new();
    for a in args {
        match a {
            Val::One(s) => out.push(s),
            Val::Many(list) => out.extend(list),
            Val::Num(_) => return Err("this function takes series, not numbers".into()),
        }
    }
    Ok(out)
}

fn function(
    name: &str,
    args: Vec<Val>,
    known: &HashMap<String, Series>,
    stats: &[String],
) -> Result<Val, String> {
    let per_timestamp = |args: Vec<Val>, f: fn(&[f64]) -> f64| -> Result<Val, String> {
        let all = series_of(args)?;
        let mut at: BTreeMap<u64, Vec<f64>> = BTreeMap::new();
        for s in &all {
            for (t, v) in s {
                at.entry(*t).or_default().push(*v);
            }
        }
        Ok(Val::One(
            at.into_iter().map(|(t, vs)| (t, f(&vs))).collect(),
        ))
    };
    match name.to_ascii_uppercase().as_str() {
        "METRICS" if args.is_empty() => Ok(Val::Many(
            stats
                .iter()
                .filter_map(|id| known.get(id).cloned())
                .collect(),
        )),
        "METRICS" => Ok(args.into_iter().next().unwrap_or(Val::Many(Vec::new()))),
        "SUM" => per_timestamp(args, |v| v.iter().sum()),
        "AVG" => per_timestamp(args, |v| v.iter().sum::<f64>() / v.len() as f64),
        "MIN" => per_timestamp(args, |v| v.iter().copied().fold(f64::INFINITY, f64::min)),
        "MAX" => per_timestamp(args, |v| {
            v.iter().copied().fold(f64::NEG_INFINITY, f64::max)
        }),
        "ABS" => match args.into_iter().next() {
            Some(Val::One(s)) => Ok(Val::One(s.into_iter().map(|(t, v)| (t, v.abs())).collect())),
            Some(Val::Num(n)) => Ok(Val::Num(n.abs())),
            _ => Err("ABS takes one series or number".into()),
        },
        "FILL" => {
            let mut it = args.into_iter();
            match (it.next(), it.next()) {
                (Some(Val::One(s)), Some(Val::Num(fill))) => {
                    // Fill the gaps between the known timestamps of every series.
                    let mut stamps: Vec<u64> =
                        known.values().flat_map(|x| x.keys().copied()).collect();
                    stamps.sort_unstable();
                    stamps.dedup();
                    Ok(Val::One(
                        stamps
                            .into_iter()
                            .map(|t| (t, *s.get(&t).unwrap_or(&fill)))
                            .collect(),
                    ))
                }
                _ => Err("FILL takes a series and a number".into()),
            }
        }
        other => Err(format!(
            "Unsupported function {other}: Nimbus evaluates SUM, AVG, MIN, MAX, METRICS, ABS and FILL"
        )),
    }
}

/// Evaluate `expression` over `known` (results by id; `stats` the ids of
/// metric statistic queries): one series (an array of series is summed).
pub fn evaluate(
    expression: &str,
    known: &HashMap<String, Series>,
    stats: &[String],
) -> Result<Series, String> {
    if expression.chars().count() > MAX_EXPRESSION {
        return Err(format!(
            "An expression is at most {MAX_EXPRESSION} characters."
        ));
    }
    let mut e = Eval {
        depth: 0,
        toks: tokens(expression)?,
        at: 0,
        known,
        stats,
    };
    let v = e.expr()?;
    if e.at < e.toks.len() {
        return Err(format!("Unexpected {:?}", e.toks[e.at]));
    }
    Ok(match v {
        Val::One(s) => s,
        Val::Many(list) => match function("SUM", vec![Val::Many(list)], known, stats)? {
            Val::One(s) => s,
            _ => Series::new(),
        },
        Val::Num(n) => {
            let mut stamps: Vec<u64> = known.values().flat_map(|x| x.keys().copied()).collect();
            stamps.sort_unstable();
            stamps.dedup();
            stamps.into_iter().map(|t| (t, n)).collect()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_or_long_expressions_are_refused() {
        let known = HashMap::new();
        let deep = format!("{}1{}", "(".repeat(1000), ")".repeat(1000));
        assert!(evaluate(&deep, &known, &[]).is_err());
        assert!(evaluate(&"-".repeat(1000), &known, &[]).is_err());
        assert!(evaluate(&"1+".repeat(2000), &known, &[]).is_err());
    }

    #[test]
    fn arithmetic_and_functions_over_series() {
        let known = HashMap::from([
            ("errors".to_string(), Series::from([(1, 2.0), (2, 4.0)])),
            (
                "calls".to_string(),
                Series::from([(1, 10.0), (2, 8.0), (3, 1.0)]),
            ),
        ]);
        let stats = ["errors".to_string(), "calls".to_string()];
        assert_eq!(
            evaluate("errors / calls * 100", &known, &stats).unwrap(),
            Series::from([(1, 20.0), (2, 50.0)])
        );
        assert_eq!(
            evaluate("SUM(METRICS())", &known, &stats).unwrap(),
            Series::from([(1, 12.0), (2, 12.0), (3, 1.0)])
        );
        assert_eq!(
            evaluate("MAX([errors, calls])", &known, &stats).unwrap(),
            Series::from([(1, 10.0), (2, 8.0), (3, 1.0)])
        );
        assert_eq!(
            evaluate("FILL(errors, 0)", &known, &stats).unwrap()[&3],
            0.0
        );
        assert_eq!(evaluate("-(errors - 1)", &known, &stats).unwrap()[&1], -1.0);
        assert!(evaluate("errors +", &known, &stats).is_err());
        assert!(evaluate("nope * 2", &known, &stats).is_err());
        assert!(evaluate("ANOMALY_DETECTION_BAND(errors)", &known, &stats).is_err());
    }
}
