//! JSONPath as the States Language uses it: `InputPath`, `OutputPath`,
//! `ItemsPath`, `.$` fields and `Variable` select with paths (`$.a.b[0]`,
//! `$['a b']`, `$.items[*].id`, `$..name`, `$.a[1:3]`, `$.a[0,2]`); `ResultPath`
//! and the choice rules' `Variable` accept reference paths only (fields and
//! indexes, one node). `$$` paths select from the context object.

use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq)]
enum Seg {
    Field(String),
    Index(i64),
    Wildcard,
    Slice(Option<i64>, Option<i64>, i64),
    Union(Vec<Seg>),
    Descend(Box<Seg>),
}

/// A parsed path. `definite` paths select one node (or none).
#[derive(Debug, Clone, PartialEq)]
pub struct Path {
    pub text: String,
    /// Starts with `$$`: selects from the context object.
    pub context: bool,
    /// Starts with `$name`: selects from the workflow variable `name`.
    pub var: Option<String>,
    segs: Vec<Seg>,
}

impl Path {
    pub fn parse(text: &str) -> Result<Path, String> {
        let (context, rest) = if let Some(r) = text.strip_prefix("$$") {
            (true, r)
        } else if let Some(r) = text.strip_prefix('$') {
            (false, r)
        } else {
            return Err(format!(
                "The value for the field must be a valid JSONPath: '{text}'"
            ));
        };
        // `$name...`: a workflow variable.
        let ident = rest
            .bytes()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == b'_')
            .count();
        let (var, rest) = if !context && ident > 0 {
            (Some(rest[..ident].to_string()), &rest[ident..])
        } else {
            (None, rest)
        };
        let b = rest.as_bytes();
        let mut i = 0;
        let mut segs = Vec::new();
        let bad = || format!("The value for the field must be a valid JSONPath: '{text}'");
        while i < b.len() {
            match b[i] {
                b'.' => {
                    let descend = b.get(i + 1) == Some(&b'.');
                    i += if descend { 2 } else { 1 };
                    let start = i;
                    if b.get(i) == Some(&b'*') {
                        i += 1;
                        segs.push(wrap(descend, Seg::Wildcard));
                        continue;
                    }
                    if descend && b.get(i) == Some(&b'[') {
                        let (seg, next) = bracket(rest, i).ok_or_else(bad)?;
                        segs.push(Seg::Descend(Box::new(seg)));
                        i = next;
                        continue;
                    }
                    while i < b.len() && b[i] != b'.' && b[i] != b'[' {
                        i += 1;
                    }
                    if i == start {
                        return Err(bad());
                    }
                    segs.push(wrap(descend, Seg::Field(rest[start..i].to_string())));
                }
                b'[' => {
                    let (seg, next) = bracket(rest, i).ok_or_else(bad)?;
                    segs.push(seg);
                    i = next;
                }
                _ => return Err(bad()),
            }
        }
        Ok(Path {
            text: text.to_string(),
            context,
            var,
            segs,
        })
    }

    /// Whether the path selects at most one node (a reference path).
    pub fn is_reference(&self) -> bool {
        self.segs
            .iter()
            .all(|s| matches!(s, Seg::Field(_) | Seg::Index(_)))
    }

    /// The node(s) the path selects in `root`: for a reference path the node,
    /// or `None` when it is absent; otherwise an array of every match.
    pub fn select(&self, root: &Value) -> Option<Value> {
        if self.is_reference() {
            let mut at = root;
            for seg in &self.segs {
                at = match seg {
                    Seg::Field(f) => at.as_object()?.get(f)?,
                    Seg::Index(n) => {
                        let a = at.as_array()?;
                        let n = if *n < 0 { a.len() as i64 + n } else { *n };
                        a.get(usize::try_from(n).ok()?)?
                    }
                    _ => unreachable!("reference paths have fields and indexes only"),
                };
            }
            return Some(at.clone());
        }
        let mut nodes = vec![root];
        for seg in &self.segs {
            let mut next = Vec::new();
            for n in nodes {
                step(n, seg, &mut next);
            }
            nodes = next;
        }
        Some(Value::Array(nodes.into_iter().cloned().collect()))
    }

    /// Place `value` at this reference path inside `root`, making objects on
    /// the way as needed (`ResultPath`).
    pub fn set(&self, root: &mut Value, value: Value) -> Result<(), String> {
        if self.segs.is_empty() {
            *root = value;
            return Ok(());
        }
        let mut at = root;
        for (i, seg) in self.segs.iter().enumerate() {
            let last = i + 1 == self.segs.len();
            match seg {
                Seg::Field(f) => {
                    if at.is_null() {
                        *at = Value::Object(Map::new());
                    }
                    let Some(obj) = at.as_object_mut() else {
                        return Err(format!(
                            "Unable to apply ReturnPath '{}' to input: the path does not lead to an object",
                            self.text
                        ));
                    };
                    if last {
                        obj.insert(f.clone(), value);
                        return Ok(());
                    }
                    at = obj.entry(f.clone()).or_insert(Value::Null);
                }
                Seg::Index(n) => {
                    let Some(a) = at.as_array_mut() else {
                        return Err(format!(
                            "Unable to apply ReturnPath '{}' to input: the path does not lead to an array",
                            self.text
                        ));
                    };
                    let len = a.len() as i64;
                    let idx = if *n < 0 { len + n } else { *n };
                    let Some(slot) = usize::try_from(idx).ok().and_then(|i| a.get_mut(i)) else {
                        return Err(format!(
                            "Unable to apply ReturnPath '{}' to input: index out of bounds",
                            self.text
                        ));
                    };
                    if last {
                        *slot = value;
                        return Ok(());
                    }
                    at = slot;
                }
                _ => {
                    return Err(format!(
                        "ResultPath '{}' must be a reference path",
                        self.text
                    ));
                }
            }
        }
        Ok(())
    }
}

fn wrap(descend: bool, seg: Seg) -> Seg {
    if descend {
        Seg::Descend(Box::new(seg))
    } else {
        seg
    }
}

/// Parse `[...]` starting at `i` (the `[`); the segment and the index after `]`.
fn bracket(s: &str, i: usize) -> Option<(Seg, usize)> {
    let b = s.as_bytes();
    let mut j = i + 1;
    let mut parts = Vec::new();
    loop {
        while b.get(j) == Some(&b' ') {
            j += 1;
        }
        match *b.get(j)? {
            q @ (b'\'' | b'"') => {
                let mut out = String::new();
                j += 1;
                loop {
                    let c = *b.get(j)?;
                    if c == b'\\' {
                        let ch = s.get(j + 1..)?.chars().next()?;
                        out.push(ch);
                        j += 1 + ch.len_utf8();
                    } else if c == q {
                        j += 1;
                        break;
                    } else {
                        let ch = s[j..].chars().next()?;
                        out.push(ch);
                        j += ch.len_utf8();
                    }
                }
                parts.push(Seg::Field(out));
            }
            b'*' => {
                j += 1;
                parts.push(Seg::Wildcard);
            }
            _ => {
                let start = j;
                while j < b.len() && b[j] != b']' && b[j] != b',' {
                    j += 1;
                }
                let text = s[start..j].trim();
                if text.contains(':') {
                    let mut it = text.split(':');
                    let num = |t: Option<&str>| -> Option<Option<i64>> {
                        match t.map(str::trim) {
                            None | Some("") => Some(None),
                            Some(t) => t.parse().ok().map(Some),
                        }
                    };
                    let a = num(it.next())?;
                    let e = num(it.next())?;
                    let step = num(it.next())?.unwrap_or(1);
                    if step == 0 || it.next().is_some() {
                        return None;
                    }
                    parts.push(Seg::Slice(a, e, step));
                } else {
                    parts.push(Seg::Index(text.parse().ok()?));
                }
            }
        }
        while b.get(j) == Some(&b' ') {
            j += 1;
        }
        match *b.get(j)? {
            b']' => break,
            b',' => j += 1,
            _ => return None,
        }
    }
    let seg = if parts.len() == 1 {
        parts.pop()?
    } else {
        Seg::Union(parts)
    };
    Some((seg, j + 1))
}

fn step<'a>(node: &'a Value, seg: &Seg, out: &mut Vec<&'a Value>) {
    match seg {
        Seg::Field(f) => {
            if let Some(v) = node.as_object().and_then(|o| o.get(f)) {
                out.push(v);
            }
        }
        Seg::Index(n) => {
            if let Some(a) = node.as_array() {
                let i = if *n < 0 { a.len() as i64 + n } else { *n };
                if let Some(v) = usize::try_from(i).ok().and_then(|i| a.get(i)) {
                    out.push(v);
                }
            }
        }
        Seg::Wildcard => match node {
            Value::Array(a) => out.extend(a.iter()),
            Value::Object(o) => out.extend(o.values()),
            _ => {}
        },
        Seg::Slice(start, end, st) => {
            if let Some(a) = node.as_array() {
                let len = a.len() as i64;
                let norm = |v: i64| if v < 0 { (len + v).max(0) } else { v.min(len) };
                if *st > 0 {
                    let (s, e) = (norm(start.unwrap_or(0)), norm(end.unwrap_or(len)));
                    let mut i = s;
                    while i < e {
                        out.push(&a[i as usize]);
                        let Some(next) = i.checked_add(*st) else {
                            break;
                        };
                        i = next;
                    }
                } else {
                    let s = start.map(norm).unwrap_or(len - 1).min(len - 1);
                    let e = end.map(norm).unwrap_or(-1);
                    let mut i = s;
                    while i > e && i >= 0 {
                        out.push(&a[i as usize]);
                        let Some(next) = i.checked_add(*st) else {
                            break;
                        };
                        i = next;
                    }
                }
            }
        }
        Seg::Union(parts) => {
            for p in parts {
                step(node, p, out);
            }
        }
        Seg::Descend(inner) => {
            step(node, inner, out);
            match node {
                Value::Array(a) => a.iter().for_each(|c| step(c, seg, out)),
                Value::Object(o) => o.values().for_each(|c| step(c, seg, out)),
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sel(p: &str, v: &Value) -> Option<Value> {
        Path::parse(p).unwrap().select(v)
    }

    #[test]
    fn reference_and_general_paths() {
        let v = json!({"a": {"b c": [1, 2, 3]}, "items": [{"id": 1}, {"id": 2, "x": {"id": 3}}]});
        assert_eq!(sel("$", &v), Some(v.clone()));
        assert_eq!(sel("$.a['b c'][1]", &v), Some(json!(2)));
        assert_eq!(sel("$.a['b c'][-1]", &v), Some(json!(3)));
        assert_eq!(sel("$.missing", &v), None);
        assert_eq!(sel("$.items[*].id", &v), Some(json!([1, 2])));
        assert_eq!(sel("$..id", &v), Some(json!([1, 2, 3])));
        assert_eq!(sel("$.a['b c'][0:2]", &v), Some(json!([1, 2])));
        assert_eq!(sel("$.a['b c'][0,2]", &v), Some(json!([1, 3])));
        assert_eq!(sel("$.a['b c'][::-1]", &v), Some(json!([3, 2, 1])));
        for bad in ["a.b", "$.", "$[", "$.a[x]", "$a b", "$a."] {
            assert!(Path::parse(bad).is_err(), "{bad}");
        }
        assert!(Path::parse("$$.Execution.Id").unwrap().context);
        // Escapes of multi-byte characters and huge slice steps.
        assert_eq!(sel("$['\\é']", &json!({"é": 1})), Some(json!(1)));
        assert_eq!(
            sel("$.a['b c'][1::9223372036854775807]", &v),
            Some(json!([2]))
        );
        assert_eq!(
            sel("$.a['b c'][::-9223372036854775807]", &v),
            Some(json!([3]))
        );
        let v = Path::parse("$order.items[0]").unwrap();
        assert_eq!(v.var.as_deref(), Some("order"));
        assert_eq!(v.select(&json!({"items": [7]})), Some(json!(7)));
    }

    #[test]
    fn result_paths_build_objects() {
        let mut v = json!({"a": 1});
        Path::parse("$.r.x").unwrap().set(&mut v, json!(2)).unwrap();
        assert_eq!(v, json!({"a": 1, "r": {"x": 2}}));
        Path::parse("$").unwrap().set(&mut v, json!("all")).unwrap();
        assert_eq!(v, json!("all"));
        let mut s = json!("text");
        assert!(Path::parse("$.x").unwrap().set(&mut s, json!(1)).is_err());
    }
}
