//! Choice rules: comparisons of values (numbers, strings, timestamps, booleans, types) and wildcard string matching, as the States Language defines them.

use super::*;

/// Whether a choice rule matches. A `Variable` (or `...Path` operand) that
/// selects nothing is an error, as on Step Functions, except for `IsPresent`.
pub(crate) fn matches(rule: &Rule, data: &Data) -> Result<bool, Failure> {
    Ok(match rule {
        Rule::Condition(_) => false,
        Rule::And(rs) => {
            for r in rs {
                if !matches(r, data)? {
                    return Ok(false);
                }
            }
            true
        }
        Rule::Or(rs) => {
            for r in rs {
                if matches(r, data)? {
                    return Ok(true);
                }
            }
            false
        }
        Rule::Not(r) => !matches(r, data)?,
        Rule::Compare {
            variable,
            op,
            against,
        } => {
            let var = data.pick(variable);
            if op == "IsPresent" {
                let want = matches!(against, Against::Value(Value::Bool(true)));
                return Ok(var.is_some() == want);
            }
            let Some(var) = var else {
                return Err(Failure::runtime(format!(
                    "Invalid path '{}': The choice state's condition path references an invalid value.",
                    variable.text
                )));
            };
            let want = match against {
                Against::Value(v) => v.clone(),
                Against::Path(p) => data.select(p)?,
            };
            compare(op, &var, &want)
        }
    })
}

pub(crate) fn compare(op: &str, var: &Value, want: &Value) -> bool {
    use std::cmp::Ordering::*;
    let ord_ok = |o: std::cmp::Ordering, suffix: &str| match suffix {
        "Equals" => o == Equal,
        "LessThan" => o == Less,
        "GreaterThan" => o == Greater,
        "LessThanEquals" => o != Greater,
        "GreaterThanEquals" => o != Less,
        _ => false,
    };
    let flag = want.as_bool() == Some(true);
    match op {
        "IsNull" => var.is_null() == flag,
        "IsNumeric" => var.is_number() == flag,
        "IsString" => var.is_string() == flag,
        "IsBoolean" => var.is_boolean() == flag,
        "IsTimestamp" => {
            var.as_str()
                .and_then(crate::time::parse_timestamp)
                .is_some()
                == flag
        }
        "BooleanEquals" => var.is_boolean() && var == want,
        "StringMatches" => match (var.as_str(), want.as_str()) {
            (Some(s), Some(p)) => wildcard(p, s),
            _ => false,
        },
        _ => {
            if let Some(suffix) = op.strip_prefix("String") {
                match (var.as_str(), want.as_str()) {
                    (Some(a), Some(b)) => ord_ok(a.cmp(b), suffix),
                    _ => false,
                }
            } else if let Some(suffix) = op.strip_prefix("Numeric") {
                match (var.as_f64(), want.as_f64()) {
                    (Some(a), Some(b)) => a.partial_cmp(&b).is_some_and(|o| ord_ok(o, suffix)),
                    _ => false,
                }
            } else if let Some(suffix) = op.strip_prefix("Timestamp") {
                let t = |v: &Value| v.as_str().and_then(crate::time::parse_timestamp);
                match (t(var), t(want)) {
                    (Some(a), Some(b)) => ord_ok(a.cmp(&b), suffix),
                    _ => false,
                }
            } else {
                false
            }
        }
    }
}

/// `*` matches any run of characters; `\*` and `\\` are literal.
pub(crate) fn wildcard(pattern: &str, s: &str) -> bool {
    #[derive(PartialEq)]
    enum P {
        Star,
        Ch(char),
    }
    let mut pat = Vec::new();
    let mut it = pattern.chars();
    while let Some(c) = it.next() {
        match c {
            '\\' => pat.push(P::Ch(it.next().unwrap_or('\\'))),
            '*' => pat.push(P::Star),
            c => pat.push(P::Ch(c)),
        }
    }
    let s: Vec<char> = s.chars().collect();
    let (mut pi, mut si, mut star, mut mark) = (0, 0, None, 0);
    while si < s.len() {
        if pi < pat.len() && pat[pi] == P::Ch(s[si]) {
            pi += 1;
            si += 1;
        } else if pi < pat.len() && pat[pi] == P::Star {
            star = Some(pi);
            mark = si;
            pi += 1;
        } else if let Some(sp) = star {
            pi = sp + 1;
            mark += 1;
            si = mark;
        } else {
            return false;
        }
    }
    while pi < pat.len() && pat[pi] == P::Star {
        pi += 1;
    }
    pi == pat.len()
}
