//! Event filtering for event source mappings (`FilterCriteria`): EventBridge's
//! pattern language applied to each record. A record is delivered when any
//! filter matches it; records that match none are dropped (for a queue,
//! deleted; for a stream, passed over).
//!
//! A pattern is a JSON object whose leaves are arrays of matchers: a literal
//! (string, number, boolean, null) matches equal values; `{"prefix": "x"}`,
//! `{"suffix": "x"}`, `{"anything-but": [..] | value | {"prefix": ..}}`,
//! `{"exists": true|false}`, `{"numeric": [">", 0, "<=", 5]}` and
//! `{"equals-ignore-case": "x"}` match as EventBridge defines them. A field
//! holding an array matches when any of its elements does. `$or` takes a list
//! of patterns.

use serde_json::Value;

/// Check a `FilterCriteria.Filters[].Pattern` string: a JSON object whose
/// leaves are arrays. Returns why not, in words.
pub fn check_pattern(pattern: &str) -> Result<Value, String> {
    let v: Value =
        serde_json::from_str(pattern).map_err(|e| format!("pattern is not valid JSON: {e}"))?;
    fn walk(v: &Value, depth: usize) -> Result<(), String> {
        if depth > 32 {
            return Err("pattern is nested too deeply".into());
        }
        match v {
            Value::Object(m) => {
                for (k, inner) in m {
                    if k == "$or" {
                        let list = inner.as_array().ok_or("$or takes a list of patterns")?;
                        for p in list {
                            walk(p, depth + 1)?;
                        }
                    } else {
                        match inner {
                            Value::Object(_) => walk(inner, depth + 1)?,
                            Value::Array(a) => {
                                for m in a {
                                    check_matcher(m)?;
                                }
                            }
                            _ => {
                                return Err(format!(
                                    "the value of {k} must be an object or an array of matchers"
                                ));
                            }
                        }
                    }
                }
                Ok(())
            }
            _ => Err("a pattern must be a JSON object".into()),
        }
    }
    walk(&v, 0)?;
    Ok(v)
}

fn check_matcher(m: &Value) -> Result<(), String> {
    let Value::Object(o) = m else {
        return Ok(());
    };
    let (k, arg) = o
        .iter()
        .next()
        .filter(|_| o.len() == 1)
        .ok_or("a matcher object has exactly one key")?;
    match k.as_str() {
        "prefix" | "suffix" | "equals-ignore-case" if arg.is_string() => Ok(()),
        "prefix" | "suffix" if arg.get("equals-ignore-case").is_some_and(Value::is_string) => {
            Ok(())
        }
        "exists" if arg.is_boolean() => Ok(()),
        "anything-but" => Ok(()),
        "numeric" => {
            let a = arg.as_array().ok_or("numeric takes a list")?;
            if a.is_empty() || a.len() % 2 != 0 {
                return Err("numeric takes operator and number pairs".into());
            }
            for pair in a.chunks(2) {
                let op_ok = matches!(pair[0].as_str(), Some("=" | "<" | "<=" | ">" | ">="));
                if !op_ok || !pair[1].is_number() {
                    return Err("numeric takes operator and number pairs".into());
                }
            }
            Ok(())
        }
        other => Err(format!("unsupported matcher {other}")),
    }
}

/// The patterns of a mapping, parsed (patterns were checked when it was saved).
pub fn compile(patterns: &[String]) -> Vec<Value> {
    patterns
        .iter()
        .filter_map(|p| check_pattern(p).ok())
        .collect()
}

/// Whether a record passes a mapping's filters: any matches, or there are none.
pub fn keep(filters: &[Value], record: &Value) -> bool {
    filters.is_empty() || filters.iter().any(|f| matches(f, record))
}

/// Whether `event` matches `pattern` (a pattern that passed [`check_pattern`]).
pub fn matches(pattern: &Value, event: &Value) -> bool {
    let Value::Object(fields) = pattern else {
        return false;
    };
    fields.iter().all(|(k, want)| {
        if k == "$or" {
            return want
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| matches(p, event)));
        }
        let got = event.get(k);
        match want {
            Value::Object(_) => got.is_some_and(|g| match g {
                Value::Array(items) => items.iter().any(|i| matches(want, i)),
                _ => matches(want, g),
            }),
            Value::Array(matchers) => matchers.iter().any(|m| leaf(m, got)),
            _ => false,
        }
    })
}

fn leaf(matcher: &Value, got: Option<&Value>) -> bool {
    if let Value::Object(o) = matcher
        && let Some(("exists", want)) = o.iter().next().map(|(k, v)| (k.as_str(), v))
    {
        return want.as_bool() == Some(got.is_some());
    }
    match got {
        None => false,
        Some(Value::Array(items)) => items.iter().any(|i| one(matcher, i)),
        Some(v) => one(matcher, v),
    }
}

fn one(matcher: &Value, v: &Value) -> bool {
    let num = |v: &Value| v.as_f64();
    match matcher {
        Value::Object(o) => {
            let Some((k, arg)) = o.iter().next() else {
                return false;
            };
            match k.as_str() {
                "prefix" => match (arg, v.as_str()) {
                    (Value::String(p), Some(s)) => s.starts_with(p.as_str()),
                    (Value::Object(i), Some(s)) => i
                        .get("equals-ignore-case")
                        .and_then(Value::as_str)
                        .is_some_and(|p| s.to_lowercase().starts_with(&p.to_lowercase())),
                    _ => false,
                },
                "suffix" => match (arg, v.as_str()) {
                    (Value::String(p), Some(s)) => s.ends_with(p.as_str()),
                    (Value::Object(i), Some(s)) => i
                        .get("equals-ignore-case")
                        .and_then(Value::as_str)
                        .is_some_and(|p| s.to_lowercase().ends_with(&p.to_lowercase())),
                    _ => false,
                },
                "equals-ignore-case" => {
                    matches!((arg.as_str(), v.as_str()), (Some(a), Some(b)) if a.eq_ignore_ascii_case(b) || a.to_lowercase() == b.to_lowercase())
                }
                "anything-but" => match arg {
                    Value::Array(list) => !list.iter().any(|x| one(x, v)),
                    Value::Object(_) => !one(arg, v),
                    x => !one(x, v),
                },
                "numeric" => {
                    let Some(n) = num(v) else { return false };
                    arg.as_array().is_some_and(|a| {
                        a.chunks(2).all(|p| {
                            let bound = p.get(1).and_then(num).unwrap_or(f64::NAN);
                            match p[0].as_str() {
                                Some("=") => n == bound,
                                Some("<") => n < bound,
                                Some("<=") => n <= bound,
                                Some(">") => n > bound,
                                Some(">=") => n >= bound,
                                _ => false,
                            }
                        })
                    })
                }
                _ => false,
            }
        }
        Value::Number(_) => num(matcher) == num(v) && v.is_number(),
        literal => literal == v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn m(p: &str, e: Value) -> bool {
        matches(&check_pattern(p).unwrap(), &e)
    }

    #[test]
    fn patterns_match_as_eventbridge_defines() {
        let rec = json!({"eventName": "INSERT", "dynamodb": {"NewImage": {"status": {"S": "open"}, "n": {"N": "5"}}}, "tags": ["a", "b"]});
        assert!(m(r#"{"eventName": ["INSERT", "MODIFY"]}"#, rec.clone()));
        assert!(!m(r#"{"eventName": ["REMOVE"]}"#, rec.clone()));
        assert!(m(
            r#"{"dynamodb": {"NewImage": {"status": {"S": ["open"]}}}}"#,
            rec.clone()
        ));
        assert!(m(
            r#"{"dynamodb": {"NewImage": {"status": {"S": [{"prefix": "op"}]}}}}"#,
            rec.clone()
        ));
        assert!(m(
            r#"{"eventName": [{"anything-but": ["REMOVE"]}]}"#,
            rec.clone()
        ));
        assert!(m(
            r#"{"missing": [{"exists": false}], "eventName": [{"exists": true}]}"#,
            rec.clone()
        ));
        assert!(m(r#"{"tags": ["b"]}"#, rec.clone()));
        assert!(m(
            r#"{"body": {"n": [{"numeric": [">", 1, "<=", 5]}]}}"#,
            json!({"body": {"n": 5}})
        ));
        assert!(!m(
            r#"{"body": {"n": [{"numeric": [">", 5]}]}}"#,
            json!({"body": {"n": 5}})
        ));
        assert!(m(r#"{"$or": [{"a": [1]}, {"b": [2]}]}"#, json!({"b": 2})));
        assert!(m(r#"{"a": [{"suffix": ".png"}]}"#, json!({"a": "x.png"})));
        assert!(m(
            r#"{"a": [{"equals-ignore-case": "ABC"}]}"#,
            json!({"a": "abc"})
        ));
        assert!(m(r#"{"a": [null]}"#, json!({"a": null})));
        assert!(!m(r#"{"a": ["1"]}"#, json!({"a": 1})));
    }

    #[test]
    fn bad_patterns_are_refused() {
        for p in [
            "not json",
            "[]",
            r#"{"a": "scalar"}"#,
            r#"{"a": [{"numeric": [">"]}]}"#,
            r#"{"a": [{"wat": 1}]}"#,
        ] {
            assert!(check_pattern(p).is_err(), "{p}");
        }
    }
}
