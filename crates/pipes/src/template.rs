//! Pipes' input templates: `<$.path>` placeholders take values from the
//! event (an SQS record's JSON `body` is read as JSON, as Pipes does), and
//! the reserved `<aws.pipes.*>` ones the pipe's own: `pipe-arn`,
//! `pipe-name`, `source-arn`, `enrichment-arn`, `target-arn`,
//! `event.ingestion-time`, `event` (the event as a JSON text) and
//! `event.json` (the event itself). In a JSON template a string value is
//! quoted unless it stands inside a string already; a template that is not
//! JSON (plain text) gets values as they read.

use serde_json::Value;

/// The pipe a template is rendered for.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub pipe_arn: &'a str,
    pub pipe_name: &'a str,
    pub source_arn: &'a str,
    pub enrichment_arn: &'a str,
    pub target_arn: &'a str,
}

/// The event as its paths see it: an SQS record's JSON body parsed.
fn view(event: &Value) -> std::borrow::Cow<'_, Value> {
    if let Some(body) = event.get("body").and_then(Value::as_str)
        && let Ok(parsed @ (Value::Object(_) | Value::Array(_))) =
            serde_json::from_str::<Value>(body)
    {
        let mut v = event.clone();
        v["body"] = parsed;
        return std::borrow::Cow::Owned(v);
    }
    std::borrow::Cow::Borrowed(event)
}

/// The value of placeholder `name` for `event`.
fn value_of(name: &str, event: &Value, view: &Value, ctx: &Context<'_>) -> Option<Value> {
    let text = |s: &str| Some(Value::String(s.to_string()));
    match name {
        "aws.pipes.pipe-arn" => text(ctx.pipe_arn),
        "aws.pipes.pipe-name" => text(ctx.pipe_name),
        "aws.pipes.source-arn" => text(ctx.source_arn),
        "aws.pipes.enrichment-arn" => text(ctx.enrichment_arn),
        "aws.pipes.target-arn" => text(ctx.target_arn),
        "aws.pipes.event.ingestion-time" => text(
            &nimbus_model::time::Utc::from_millis(nimbus_model::time::now_millis())
                .rfc3339_millis(),
        ),
        "aws.pipes.event" => Some(Value::String(event.to_string())),
        "aws.pipes.event.json" => Some(event.clone()),
        path if path.starts_with('$') => Some(
            nimbus_events::select(view, path)
                .cloned()
                .unwrap_or(Value::Null),
        ),
        _ => None,
    }
}

/// The placeholders of `template`, each once.
fn placeholders(template: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find('<') {
        let Some(len) = rest[start..].find('>') else {
            break;
        };
        let name = &rest[start + 1..start + len];
        if !found.contains(&name) {
            found.push(name);
        }
        rest = &rest[start + len + 1..];
    }
    found
}

/// `template` rendered for `event`: the JSON it makes, or its text.
pub fn apply(template: &str, event: &Value, ctx: &Context<'_>) -> Value {
    let view = view(event);
    let values: Vec<(String, Value)> = placeholders(template)
        .into_iter()
        .filter_map(|n| Some((n.to_string(), value_of(n, event, &view, ctx)?)))
        .collect();
    let json = matches!(template.trim_start().chars().next(), Some('{' | '[' | '"'));
    if json {
        let rendered = nimbus_events::render(template, &values);
        return serde_json::from_str(&rendered).unwrap_or(Value::String(rendered));
    }
    let mut out = template.to_string();
    for (name, v) in &values {
        let text = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        out = out.replace(&format!("<{name}>"), &text);
    }
    Value::String(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CTX: Context<'static> = Context {
        pipe_arn: "arn:aws:pipes:us-east-1:000000000000:pipe/p",
        pipe_name: "p",
        source_arn: "arn:aws:sqs:us-east-1:000000000000:q",
        enrichment_arn: "",
        target_arn: "arn:aws:sqs:us-east-1:000000000000:t",
    };

    #[test]
    fn templates_read_the_event_its_json_body_and_the_pipe() {
        let event = json!({"messageId": "m1", "body": "{\"order\": {\"id\": 7, \"sku\": \"a\"}}"});
        let out = apply(
            r#"{"id": <$.body.order.id>, "sku": <$.body.order.sku>, "note": "order <$.body.order.sku> via <aws.pipes.pipe-name>", "raw": <aws.pipes.event.json>}"#,
            &event,
            &CTX,
        );
        assert_eq!(out["id"], 7);
        assert_eq!(out["sku"], "a");
        assert_eq!(out["note"], "order a via p");
        assert_eq!(out["raw"]["messageId"], "m1");
        let text = apply(
            "Order <$.body.order.id> from <aws.pipes.source-arn>",
            &event,
            &CTX,
        );
        assert_eq!(
            text,
            json!("Order 7 from arn:aws:sqs:us-east-1:000000000000:q")
        );
        let missing = apply(r#"{"x": <$.nope>}"#, &event, &CTX);
        assert_eq!(missing, json!({"x": null}));
        // A body that is not JSON is read as the text it is.
        let plain = json!({"body": "hello"});
        assert_eq!(apply("<$.body>!", &plain, &CTX), json!("hello!"));
    }
}
