//! What a target receives: the whole event, the constant `Input`, the part
//! `InputPath` selects, or `InputTransformer`'s template with the values its
//! paths select. In a template, a `<name>` inside a JSON string is replaced
//! by the value's text (strings without their quotes); elsewhere by the
//! value as JSON; `<aws.events.event>` and `<aws.events.event.json>` stand
//! for the whole event and `<aws.events.rule-arn>`-style names are left to
//! the caller's paths.

use crate::Target;
use serde_json::Value;

/// The value a JSONPath of EventBridge's subset (`$`, `$.a.b`, `$.a[0]`,
/// `$.a.0`) selects; `None` when nothing is there.
pub fn select<'a>(event: &'a Value, path: &str) -> Option<&'a Value> {
    let rest = path.trim().strip_prefix('$')?;
    let mut at = event;
    let mut chars = rest;
    while !chars.is_empty() {
        if let Some(r) = chars.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let key = &r[..end];
            at = match at {
                Value::Array(a) => a.get(key.parse::<usize>().ok()?)?,
                _ => at.get(key)?,
            };
            chars = &r[end..];
        } else if let Some(r) = chars.strip_prefix('[') {
            let end = r.find(']')?;
            let inner = r[..end].trim_matches(['\'', '"']);
            at = match inner.parse::<usize>() {
                Ok(i) => at.get(i)?,
                Err(_) => at.get(inner)?,
            };
            chars = &r[end + 1..];
        } else {
            return None;
        }
    }
    Some(at)
}

/// Render `template`, replacing each `<name>` of `values`.
pub fn render(template: &str, values: &[(String, Value)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut in_string = false;
    let mut escaped = false;
    let mut rest = template;
    while let Some(c) = rest.chars().next() {
        if c == '<'
            && let Some(end) = rest.find('>')
            && let Some((_, v)) = values.iter().find(|(n, _)| *n == rest[1..end])
        {
            match (in_string, v) {
                (true, Value::String(s)) => out.push_str(&escape_inside(s)),
                (true, other) => out.push_str(&escape_inside(&other.to_string())),
                (false, other) => out.push_str(&other.to_string()),
            }
            rest = &rest[end + 1..];
            continue;
        }
        if in_string && !escaped && c == '"' {
            in_string = false;
        } else if !in_string && c == '"' {
            in_string = true;
        }
        escaped = in_string && !escaped && c == '\\';
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// A value's text as it may stand inside a JSON string.
fn escape_inside(s: &str) -> String {
    let quoted = Value::String(s.to_string()).to_string();
    quoted[1..quoted.len() - 1].to_string()
}

/// The payload `t` receives for `event`.
pub fn target_input(t: &Target, event: &Value) -> Result<String, String> {
    if let Some(i) = &t.input {
        return Ok(i.clone());
    }
    if let Some(p) = &t.input_path {
        return Ok(select(event, p).cloned().unwrap_or(Value::Null).to_string());
    }
    let Some(tr) = &t.input_transformer else {
        return Ok(event.to_string());
    };
    let template = tr
        .get("InputTemplate")
        .and_then(Value::as_str)
        .ok_or("InputTransformer needs an InputTemplate")?;
    let mut values: Vec<(String, Value)> = vec![
        ("aws.events.event".into(), event.clone()),
        ("aws.events.event.json".into(), event.clone()),
    ];
    if let Some(Value::Object(paths)) = tr.get("InputPathsMap") {
        for (name, path) in paths {
            let v = path
                .as_str()
                .and_then(|p| select(event, p))
                .cloned()
                .unwrap_or(Value::Null);
            values.push((name.clone(), v));
        }
    }
    Ok(render(template, &values))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_select_parts_of_the_event() {
        let e = json!({"detail": {"items": [{"id": "a"}, {"id": "b"}], "n": 2}});
        assert_eq!(select(&e, "$.detail.n"), Some(&json!(2)));
        assert_eq!(select(&e, "$.detail.items[1].id"), Some(&json!("b")));
        assert_eq!(select(&e, "$"), Some(&e));
        assert_eq!(select(&e, "$.detail.nope"), None);
        assert_eq!(select(&e, "detail"), None);
    }

    #[test]
    fn templates_quote_as_eventbridge_does() {
        let values = vec![
            ("id".to_string(), json!("o-1")),
            ("n".to_string(), json!(3)),
        ];
        assert_eq!(
            render(
                r#"{"order": <id>, "text": "order <id> of <n>", "n": <n>}"#,
                &values
            ),
            r#"{"order": "o-1", "text": "order o-1 of 3", "n": 3}"#
        );
        assert_eq!(
            render("Order <id> shipped", &values),
            r#"Order "o-1" shipped"#
        );
        // Unknown names stay as written.
        assert_eq!(render("<other>", &values), "<other>");
    }
}
