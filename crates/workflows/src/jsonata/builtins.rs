//! The JSONata function library (`$string`, `$sum`, `$map`, ... and Step
//! Functions' `$partition`, `$range`, `$hash`, `$random`, `$uuid`, `$parse`): one
//! table of builtins, kept apart from the evaluator.

use super::*;

impl Eval {
    pub(super) fn builtin(
        &mut self,
        name: &str,
        args: Vec<Val>,
        ctx: &Value,
    ) -> Result<Val, String> {
        // Functions whose first argument may be the context.
        let ctx_first = matches!(
            name,
            "string"
                | "length"
                | "uppercase"
                | "lowercase"
                | "trim"
                | "number"
                | "boolean"
                | "keys"
                | "base64encode"
                | "base64decode"
        );
        let mut args = args;
        if ctx_first && args.is_empty() {
            args.push(Val::J(ctx.clone()));
        }
        let fn_name = name;
        let arg = |i: usize| -> Option<Value> { args.get(i).cloned().and_then(Val::json) };
        let string = |i: usize| -> Result<Option<String>, String> {
            match arg(i) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s)),
                Some(other) => Err(format!(
                    "${fn_name}: argument {} must be a string, not {other}",
                    i + 1
                )),
            }
        };
        let number = |i: usize| -> Result<Option<f64>, String> {
            match arg(i) {
                None => Ok(None),
                Some(Value::Number(n)) => Ok(n.as_f64()),
                Some(other) => Err(format!(
                    "${fn_name}: argument {} must be a number, not {other}",
                    i + 1
                )),
            }
        };
        let array =
            |i: usize| -> Vec<Value> { args.get(i).cloned().map(Val::items).unwrap_or_default() };
        let numbers = |i: usize| -> Result<Vec<f64>, String> {
            array(i)
                .iter()
                .map(|v| {
                    v.as_f64()
                        .ok_or_else(|| format!("${fn_name}: expected numbers, found {v}"))
                })
                .collect()
        };
        let some = |v: Value| Ok(Val::J(v));
        // A regular expression argument (`/.../`), compiled.
        let regex_arg =
            |i: usize| -> Result<Option<regex_automata::nfa::thompson::pikevm::PikeVM>, String> {
                match args.get(i) {
                    Some(Val::Builtin(n)) => match regex::parse_name(n) {
                        Some((flags, pattern)) => regex::compile(pattern, flags).map(Some),
                        None => Ok(None),
                    },
                    _ => Ok(None),
                }
            };
        // A regular expression called on a string: its first match.
        if let Some((flags, pattern)) = regex::parse_name(name) {
            let re = regex::compile(pattern, flags)?;
            let Some(s) = string(0)? else {
                return Ok(Val::Undef);
            };
            return Ok(regex::find_all(&re, &s, Some(1))
                .first()
                .map(|f| Val::J(regex::call_object(&s, f)))
                .unwrap_or(Val::Undef));
        }
        match name {
            "match" => {
                let Some(s) = string(0)? else {
                    return Ok(Val::Undef);
                };
                let re = regex_arg(1)?.ok_or("$match: argument 2 must be a regular expression")?;
                let limit = number(2)?.map(|l| l.max(0.0) as usize);
                let found: Vec<Value> = regex::find_all(&re, &s, limit)
                    .iter()
                    .map(|f| regex::match_object(&s, f))
                    .collect();
                some(Value::Array(found))
            }
            "__array" => some(Value::Array(array(0))),
            "string" => match arg(0) {
                None => Ok(Val::Undef),
                Some(v) => some(Value::String(if arg(1) == Some(Value::Bool(true)) {
                    match &v {
                        Value::String(s) => s.clone(),
                        other => serde_json::to_string_pretty(other).unwrap_or_default(),
                    }
                } else {
                    to_string(&v)
                })),
            },
            "length" => match string(0)? {
                None => Ok(Val::Undef),
                Some(s) => some(json!(s.chars().count())),
            },
            "substring" => {
                let Some(s) = string(0)? else {
                    return Ok(Val::Undef);
                };
                let chars: Vec<char> = s.chars().collect();
                let n = chars.len() as i64;
                let start = number(1)?.unwrap_or(0.0) as i64;
                let start = if start < 0 {
                    n.saturating_add(start).max(0)
                } else {
                    start.min(n)
                };
                let end = match number(2)? {
                    Some(l) => start.saturating_add(l.max(0.0) as i64).min(n),
                    None => n,
                };
                some(Value::String(
                    chars[start as usize..end.max(start) as usize]
                        .iter()
                        .collect(),
                ))
            }
            "substringBefore" | "substringAfter" => {
                let (Some(s), Some(c)) = (string(0)?, string(1)?) else {
                    return Ok(Val::Undef);
                };
                some(Value::String(match s.find(&c) {
                    None => s,
                    Some(i) if name == "substringBefore" => s[..i].to_string(),
                    Some(i) => s[i + c.len()..].to_string(),
                }))
            }
            "uppercase" => Ok(string(0)?
                .map(|s| Val::J(Value::String(s.to_uppercase())))
                .unwrap_or(Val::Undef)),
            "lowercase" => Ok(string(0)?
                .map(|s| Val::J(Value::String(s.to_lowercase())))
                .unwrap_or(Val::Undef)),
            "trim" => Ok(string(0)?
                .map(|s| {
                    Val::J(Value::String(
                        s.split_whitespace().collect::<Vec<_>>().join(" "),
                    ))
                })
                .unwrap_or(Val::Undef)),
            "pad" => {
                let Some(s) = string(0)? else {
                    return Ok(Val::Undef);
                };
                let width = number(1)?.unwrap_or(0.0);
                if width.is_nan() || width.abs() > MAX_STRING as f64 {
                    return Err("$pad: the width may be at most 1,048,576".into());
                }
                let width = width as i64;
                let fill = string(2)?.unwrap_or_else(|| " ".into());
                let len = s.chars().count() as i64;
                let need = (width.abs() - len).max(0) as usize;
                let pad: String = fill.chars().cycle().take(need).collect();
                some(Value::String(if width < 0 { pad + &s } else { s + &pad }))
            }
            "contains" => {
                let Some(s) = string(0)? else {
                    return Ok(Val::Undef);
                };
                if let Some(re) = regex_arg(1)? {
                    return some(Value::Bool(!regex::find_all(&re, &s, Some(1)).is_empty()));
                }
                let Some(p) = string(1)? else {
                    return Ok(Val::Undef);
                };
                some(Value::Bool(s.contains(&p)))
            }
            "split" => {
                let Some(s) = string(0)? else {
                    return Ok(Val::Undef);
                };
                if let Some(re) = regex_arg(1)? {
                    let mut parts = Vec::new();
                    let mut at = 0;
                    for f in regex::find_all(&re, &s, None) {
                        if f.end == f.start && f.start == at && at == 0 {
                            continue;
                        }
                        parts.push(Value::String(s[at..f.start].to_string()));
                        at = f.end;
                    }
                    parts.push(Value::String(s[at..].to_string()));
                    if let Some(l) = number(2)? {
                        parts.truncate(l.max(0.0) as usize);
                    }
                    return some(Value::Array(parts));
                }
                let Some(sep) = string(1)? else {
                    return Ok(Val::Undef);
                };
                let mut parts: Vec<Value> = if sep.is_empty() {
                    s.chars().map(|c| Value::String(c.to_string())).collect()
                } else {
                    s.split(sep.as_str())
                        .map(|p| Value::String(p.into()))
                        .collect()
                };
                if let Some(l) = number(2)? {
                    parts.truncate(l.max(0.0) as usize);
                }
                some(Value::Array(parts))
            }
            "join" => {
                let sep = string(1)?.unwrap_or_default();
                let parts: Result<Vec<String>, String> = array(0)
                    .iter()
                    .map(|v| {
                        v.as_str()
                            .map(String::from)
                            .ok_or_else(|| format!("$join: expected strings, found {v}"))
                    })
                    .collect();
                let joined = parts?.join(&sep);
                if joined.len() > MAX_STRING {
                    return Err("a string may be at most 1 MiB".into());
                }
                some(Value::String(joined))
            }
            "replace" => {
                if let Some(re) = regex_arg(1)? {
                    let (Some(s), Some(r)) = (string(0)?, string(2)?) else {
                        return Ok(Val::Undef);
                    };
                    let limit = number(3)?.map(|l| l.max(0.0) as usize);
                    let mut out = String::new();
                    let mut at = 0;
                    for f in regex::find_all(&re, &s, limit) {
                        if f.start == f.end {
                            return Err(
                                "$replace: the regular expression matched an empty string".into()
                            );
                        }
                        out.push_str(&s[at..f.start]);
                        out.push_str(&regex::expand(&r, &s, &f));
                        if out.len() > MAX_STRING {
                            return Err("a string may be at most 1 MiB".into());
                        }
                        at = f.end;
                    }
                    out.push_str(&s[at..]);
                    return some(Value::String(out));
                }
                let (Some(s), Some(p), Some(r)) = (string(0)?, string(1)?, string(2)?) else {
                    return Ok(Val::Undef);
                };
                if p.is_empty() {
                    return Err("$replace: the pattern must not be empty".into());
                }
                let out = match number(3)? {
                    Some(l) => s.replacen(&p, &r, l.max(0.0) as usize),
                    None => s.replace(&p, &r),
                };
                if out.len() > MAX_STRING {
                    return Err("a string may be at most 1 MiB".into());
                }
                some(Value::String(out))
            }
            "base64encode" => Ok(string(0)?
                .map(|s| {
                    Val::J(Value::String(
                        base64::engine::general_purpose::STANDARD.encode(s),
                    ))
                })
                .unwrap_or(Val::Undef)),
            "base64decode" => match string(0)? {
                None => Ok(Val::Undef),
                Some(s) => {
                    let b = base64::engine::general_purpose::STANDARD
                        .decode(s)
                        .map_err(|e| format!("$base64decode: {e}"))?;
                    some(Value::String(String::from_utf8_lossy(&b).into()))
                }
            },
            "number" => match arg(0) {
                None => Ok(Val::Undef),
                Some(Value::Number(n)) => some(Value::Number(n)),
                Some(Value::Bool(b)) => some(json!(if b { 1 } else { 0 })),
                Some(Value::String(s)) => {
                    let n: f64 = s
                        .trim()
                        .parse()
                        .map_err(|_| format!("$number: cannot convert '{s}' to a number"))?;
                    some(num(n))
                }
                Some(other) => Err(format!("$number: cannot convert {other} to a number")),
            },
            "abs" | "floor" | "ceil" | "sqrt" => {
                let Some(n) = number(0)? else {
                    return Ok(Val::Undef);
                };
                let r = match name {
                    "abs" => n.abs(),
                    "floor" => n.floor(),
                    "ceil" => n.ceil(),
                    _ => {
                        if n < 0.0 {
                            return Err("$sqrt of a negative number".into());
                        }
                        n.sqrt()
                    }
                };
                some(num(r))
            }
            "round" => {
                let Some(n) = number(0)? else {
                    return Ok(Val::Undef);
                };
                let p = number(1)?.unwrap_or(0.0) as i32;
                let m = 10f64.powi(p);
                // Round half to even, as JSONata does.
                let x = n * m;
                let r = x.round();
                let r = if (x - x.trunc()).abs() == 0.5 && r % 2.0 != 0.0 {
                    r - x.signum()
                } else {
                    r
                };
                some(num(r / m))
            }
            "power" => {
                let (Some(b), Some(e)) = (number(0)?, number(1)?) else {
                    return Ok(Val::Undef);
                };
                let r = b.powf(e);
                if !r.is_finite() {
                    return Err("$power: the result is not a finite number".into());
                }
                some(num(r))
            }
            "random" => {
                let mut b = [0u8; 8];
                getrandom::fill(&mut b).map_err(|e| e.to_string())?;
                some(num(
                    (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
                ))
            }
            "sum" => some(num(numbers(0)?.iter().sum())),
            "max" | "min" | "average" => {
                let ns = numbers(0)?;
                if ns.is_empty() {
                    return Ok(Val::Undef);
                }
                some(num(match name {
                    "max" => ns.iter().copied().fold(f64::MIN, f64::max),
                    "min" => ns.iter().copied().fold(f64::MAX, f64::min),
                    _ => ns.iter().sum::<f64>() / ns.len() as f64,
                }))
            }
            "count" => some(json!(array(0).len())),
            "boolean" => match args.first() {
                None | Some(Val::Undef) => Ok(Val::Undef),
                Some(v) => some(Value::Bool(truthy(v))),
            },
            "not" => match args.first() {
                None | Some(Val::Undef) => Ok(Val::Undef),
                Some(v) => some(Value::Bool(!truthy(v))),
            },
            "exists" => some(Value::Bool(!matches!(
                args.first().cloned().map(Val::norm),
                None | Some(Val::Undef)
            ))),
            "append" => {
                let mut a = array(0);
                a.extend(array(1));
                Ok(Val::Seq(a).norm())
            }
            "reverse" => {
                let mut a = array(0);
                a.reverse();
                some(Value::Array(a))
            }
            "distinct" => {
                let mut out: Vec<Value> = Vec::new();
                for v in array(0) {
                    if !out.contains(&v) {
                        out.push(v);
                    }
                }
                some(Value::Array(out))
            }
            "shuffle" => {
                let mut a = array(0);
                for i in (1..a.len()).rev() {
                    let mut b = [0u8; 8];
                    getrandom::fill(&mut b).map_err(|e| e.to_string())?;
                    a.swap(i, (u64::from_le_bytes(b) % (i as u64 + 1)) as usize);
                }
                some(Value::Array(a))
            }
            "zip" => {
                let lists: Vec<Vec<Value>> = (0..args.len()).map(&array).collect();
                let n = lists.iter().map(Vec::len).min().unwrap_or(0);
                some(Value::Array(
                    (0..n)
                        .map(|i| Value::Array(lists.iter().map(|l| l[i].clone()).collect()))
                        .collect(),
                ))
            }
            "sort" => {
                let mut a = array(0);
                match args.get(1).cloned() {
                    None => {
                        if a.iter().all(Value::is_number) {
                            a.sort_by(|x, y| {
                                x.as_f64()
                                    .partial_cmp(&y.as_f64())
                                    .unwrap_or(std::cmp::Ordering::Equal)
                            });
                        } else if a.iter().all(Value::is_string) {
                            a.sort_by(|x, y| x.as_str().cmp(&y.as_str()));
                        } else {
                            return Err("$sort: without a function, items must be all numbers or all strings".into());
                        }
                    }
                    Some(f) => {
                        // Insertion sort: the function says whether its first argument goes after the second.
                        let mut out: Vec<Value> = Vec::new();
                        for v in a {
                            let mut at = out.len();
                            for (i, o) in out.iter().enumerate() {
                                if truthy(&self.call(
                                    f.clone(),
                                    vec![Val::J(o.clone()), Val::J(v.clone())],
                                    ctx,
                                )?) {
                                    at = i;
                                    break;
                                }
                            }
                            out.insert(at, v);
                        }
                        a = out;
                    }
                }
                some(Value::Array(a))
            }
            "keys" => {
                let mut out: Vec<Value> = Vec::new();
                for v in array(0) {
                    if let Value::Object(o) = v {
                        for k in o.keys() {
                            let k = Value::String(k.clone());
                            if !out.contains(&k) {
                                out.push(k);
                            }
                        }
                    }
                }
                Ok(Val::Seq(out).norm())
            }
            "lookup" => {
                let key = string(1)?.unwrap_or_default();
                let mut out = Vec::new();
                for v in array(0) {
                    if let Some(x) = v.get(&key) {
                        out.push(x.clone());
                    }
                }
                Ok(Val::Seq(out).norm())
            }
            "merge" => {
                let mut o = Map::new();
                for v in array(0) {
                    if let Value::Object(m) = v {
                        o.extend(m);
                    }
                }
                some(Value::Object(o))
            }
            "spread" => {
                let mut out = Vec::new();
                for v in array(0) {
                    match v {
                        Value::Object(m) => out.extend(m.into_iter().map(|(k, v)| json!({k: v}))),
                        other => out.push(other),
                    }
                }
                Ok(Val::Seq(out).norm())
            }
            "type" => Ok(match args.first().cloned().map(Val::norm) {
                None | Some(Val::Undef) => Val::Undef,
                Some(Val::Lambda(..) | Val::Builtin(_)) => Val::J(json!("function")),
                Some(v) => Val::J(json!(match v.json() {
                    Some(Value::Null) => "null",
                    Some(Value::Bool(_)) => "boolean",
                    Some(Value::Number(_)) => "number",
                    Some(Value::String(_)) => "string",
                    Some(Value::Array(_)) => "array",
                    _ => "object",
                })),
            }),
            "map" | "filter" => {
                let f = args
                    .get(1)
                    .cloned()
                    .ok_or(format!("${name} needs a function"))?;
                let items = array(0);
                let all = Value::Array(items.clone());
                let mut out = Vec::new();
                for (i, v) in items.into_iter().enumerate() {
                    let r = self.call(
                        f.clone(),
                        vec![Val::J(v.clone()), Val::J(json!(i)), Val::J(all.clone())],
                        ctx,
                    )?;
                    if name == "map" {
                        if let Some(x) = r.json() {
                            out.push(x);
                        }
                    } else if truthy(&r) {
                        out.push(v);
                    }
                }
                Ok(Val::Seq(out).norm())
            }
            "reduce" => {
                let f = args.get(1).cloned().ok_or("$reduce needs a function")?;
                let mut items = array(0).into_iter();
                let mut acc = match arg(2) {
                    Some(init) => Some(init),
                    None => items.next(),
                };
                for v in items {
                    acc = self
                        .call(
                            f.clone(),
                            vec![acc.map(Val::J).unwrap_or(Val::Undef), Val::J(v)],
                            ctx,
                        )?
                        .json();
                }
                Ok(acc.map(Val::J).unwrap_or(Val::Undef))
            }
            "each" | "sift" => {
                let f = args
                    .get(1)
                    .cloned()
                    .ok_or(format!("${name} needs a function"))?;
                let Some(Value::Object(o)) = arg(0) else {
                    return Ok(Val::Undef);
                };
                let mut list = Vec::new();
                let mut kept = Map::new();
                for (k, v) in o {
                    let r = self.call(
                        f.clone(),
                        vec![Val::J(v.clone()), Val::J(Value::String(k.clone()))],
                        ctx,
                    )?;
                    if name == "each" {
                        if let Some(x) = r.json() {
                            list.push(x);
                        }
                    } else if truthy(&r) {
                        kept.insert(k, v);
                    }
                }
                if name == "each" {
                    Ok(Val::Seq(list).norm())
                } else {
                    some(Value::Object(kept))
                }
            }
            "now" => some(Value::String(
                nimbus_model::time::Utc::from_millis(nimbus_model::time::now_millis())
                    .rfc3339_millis(),
            )),
            "millis" => some(json!(nimbus_model::time::now_millis())),
            "fromMillis" => Ok(number(0)?
                .map(|ms| {
                    Val::J(Value::String(
                        nimbus_model::time::Utc::from_millis(ms.max(0.0) as u64).rfc3339_millis(),
                    ))
                })
                .unwrap_or(Val::Undef)),
            "toMillis" => match string(0)? {
                None => Ok(Val::Undef),
                Some(s) => some(json!(crate::time::parse_timestamp(&s).ok_or_else(
                    || format!("$toMillis: '{s}' is not an ISO 8601 timestamp")
                )?)),
            },
            "uuid" => some(Value::String(uuid::Uuid::new_v4().to_string())),
            "parse" => match string(0)? {
                None => Ok(Val::Undef),
                Some(s) => {
                    some(serde_json::from_str(&s).map_err(|e| format!("$parse: not JSON: {e}"))?)
                }
            },
            "partition" => {
                let a = array(0);
                let n = number(1)?.unwrap_or(0.0) as usize;
                if n == 0 {
                    return Err("$partition: the size must be positive".into());
                }
                some(Value::Array(
                    a.chunks(n).map(|c| Value::Array(c.to_vec())).collect(),
                ))
            }
            "range" => {
                let (Some(s), Some(e)) = (number(0)?, number(1)?) else {
                    return Ok(Val::Undef);
                };
                let step = number(2)?.unwrap_or(1.0);
                if step == 0.0 {
                    return Err("$range: the step must not be 0".into());
                }
                let mut out = Vec::new();
                let mut i = s;
                while (step > 0.0 && i <= e) || (step < 0.0 && i >= e) {
                    out.push(num(i));
                    if out.len() > 1000 {
                        return Err("$range: more than 1000 items".into());
                    }
                    i += step;
                }
                some(Value::Array(out))
            }
            "hash" => {
                let data = arg(0).map(|v| to_string(&v)).unwrap_or_default();
                let alg = string(1)?.unwrap_or_else(|| "SHA-256".into());
                use sha2::Digest;
                let d = data.as_bytes();
                some(Value::String(match alg.as_str() {
                    "MD5" => hex::encode(md5::Md5::digest(d)),
                    "SHA-1" => hex::encode(sha1::Sha1::digest(d)),
                    "SHA-256" => hex::encode(sha2::Sha256::digest(d)),
                    "SHA-384" => hex::encode(sha2::Sha384::digest(d)),
                    "SHA-512" => hex::encode(sha2::Sha512::digest(d)),
                    _ => return Err(format!("$hash: unknown algorithm '{alg}'")),
                }))
            }
            _ => Err(format!("${name} is not a function")),
        }
    }
}
