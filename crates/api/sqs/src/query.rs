//! SQS's older query protocol (`Action=SendMessage&...` form posts, XML answers),
//! which older SDKs and tools speak. Requests are translated into the JSON
//! protocol's shapes, run by the same code, and the JSON answer is written back
//! as SQS's XML. Form decoding and the envelopes are the common query
//! protocol's ([`nimbus_api_common::query`]); the shapes are SQS's.

use nimbus_api_common::query::{Query, escape as esc};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// SQS's query-protocol framing.
pub const SQS_QUERY: Query = Query {
    namespace: "http://queue.amazonaws.com/doc/2012-11-05/",
};

pub use nimbus_api_common::query::parse_form;

/// Members the query protocol sends as numbers.
const NUMBERS: &[&str] = &[
    "MaxNumberOfMessages",
    "VisibilityTimeout",
    "WaitTimeSeconds",
    "DelaySeconds",
    "MaxResults",
];

/// `Prefix.N.rest` entries of `params`, grouped by N (in order of N).
fn indexed<'a>(
    params: &'a [(String, String)],
    prefix: &str,
) -> BTreeMap<u32, Vec<(&'a str, &'a str)>> {
    let mut out: BTreeMap<u32, Vec<(&str, &str)>> = BTreeMap::new();
    for (k, v) in params {
        if let Some(rest) = k.strip_prefix(prefix).and_then(|r| r.strip_prefix('.')) {
            let (n, tail) = rest.split_once('.').unwrap_or((rest, ""));
            if let Ok(n) = n.parse::<u32>() {
                out.entry(n).or_default().push((tail, v.as_str()));
            }
        }
    }
    out
}

fn message_attributes(entries: &[(&str, &str)], prefix: &str) -> Map<String, Value> {
    let owned: Vec<(String, String)> = entries
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut out = Map::new();
    for (_, fields) in indexed(&owned, prefix) {
        let get = |name: &str| fields.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
        let Some(name) = get("Name") else { continue };
        let mut a = Map::new();
        if let Some(t) = get("Value.DataType") {
            a.insert("DataType".into(), t.into());
        }
        if let Some(s) = get("Value.StringValue") {
            a.insert("StringValue".into(), s.into());
        }
        if let Some(b) = get("Value.BinaryValue") {
            a.insert("BinaryValue".into(), b.into());
        }
        out.insert(name.to_string(), Value::Object(a));
    }
    out
}

/// One batch entry's fields as the JSON protocol has them.
fn entry(fields: &[(&str, &str)]) -> Value {
    let mut e = Map::new();
    for (k, v) in fields {
        if k.starts_with("MessageAttribute.") {
            continue;
        }
        let value = if NUMBERS.contains(k) {
            v.parse::<i64>()
                .map(Value::from)
                .unwrap_or_else(|_| (*v).into())
        } else {
            (*v).into()
        };
        e.insert((*k).to_string(), value);
    }
    let attrs = message_attributes(fields, "MessageAttribute");
    if !attrs.is_empty() {
        e.insert("MessageAttributes".into(), Value::Object(attrs));
    }
    Value::Object(e)
}

/// The JSON protocol's input for a query request; the action name first.
pub fn to_json(params: &[(String, String)]) -> Option<(String, Value)> {
    let action = params.iter().find(|(k, _)| k == "Action")?.1.clone();
    let mut v = Map::new();
    for (k, val) in params {
        if k.contains('.') || k == "Action" || k == "Version" {
            continue;
        }
        let value = if NUMBERS.contains(&k.as_str()) {
            val.parse::<i64>()
                .map(Value::from)
                .unwrap_or_else(|_| val.clone().into())
        } else {
            val.clone().into()
        };
        v.insert(k.clone(), value);
    }
    let pairs = |prefix: &str, key: &str, value: &str| -> Map<String, Value> {
        indexed(params, prefix)
            .into_values()
            .filter_map(|f| {
                let k = f.iter().find(|(n, _)| *n == key)?.1;
                let val = f.iter().find(|(n, _)| *n == value)?.1;
                Some((k.to_string(), Value::from(val)))
            })
            .collect()
    };
    let list = |prefix: &str| -> Vec<Value> {
        indexed(params, prefix)
            .into_values()
            .filter_map(|f| {
                f.iter()
                    .find(|(t, _)| t.is_empty())
                    .map(|(_, v)| Value::from(*v))
            })
            .collect()
    };
    let attrs = pairs("Attribute", "Name", "Value");
    if !attrs.is_empty() {
        v.insert("Attributes".into(), Value::Object(attrs));
    }
    let tags = pairs("Tag", "Key", "Value");
    if !tags.is_empty() {
        let key = if action == "CreateQueue" {
            "tags"
        } else {
            "Tags"
        };
        v.insert(key.into(), Value::Object(tags));
    }
    for (prefix, key) in [
        ("AttributeName", "AttributeNames"),
        ("MessageAttributeName", "MessageAttributeNames"),
        ("MessageSystemAttributeName", "MessageSystemAttributeNames"),
        ("TagKey", "TagKeys"),
        ("AWSAccountId", "AWSAccountIds"),
        ("ActionName", "Actions"),
    ] {
        let l = list(prefix);
        if !l.is_empty() {
            v.insert(key.into(), Value::Array(l));
        }
    }
    let top: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, val)| (k.as_str(), val.as_str()))
        .collect();
    let ma = message_attributes(&top, "MessageAttribute");
    if !ma.is_empty() {
        v.insert("MessageAttributes".into(), Value::Object(ma));
    }
    for prefix in [
        "SendMessageBatchRequestEntry",
        "DeleteMessageBatchRequestEntry",
        "ChangeMessageVisibilityBatchRequestEntry",
    ] {
        let entries: Vec<Value> = indexed(params, prefix)
            .into_values()
            .map(|f| entry(&f))
            .collect();
        if !entries.is_empty() {
            v.insert("Entries".into(), Value::Array(entries));
        }
    }
    Some((action, Value::Object(v)))
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => esc(s),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

/// A JSON answer's members as the query protocol's XML elements.
fn members(out: &mut String, op: &str, v: &Map<String, Value>) {
    for (k, val) in v {
        match (k.as_str(), val) {
            ("Attributes", Value::Object(m)) => {
                for (n, x) in m {
                    out.push_str(&format!(
                        "<Attribute><Name>{}</Name><Value>{}</Value></Attribute>",
                        esc(n),
                        scalar(x)
                    ));
                }
            }
            ("Tags", Value::Object(m)) => {
                for (n, x) in m {
                    out.push_str(&format!(
                        "<Tag><Key>{}</Key><Value>{}</Value></Tag>",
                        esc(n),
                        scalar(x)
                    ));
                }
            }
            ("MessageAttributes", Value::Object(m)) => {
                for (n, x) in m {
                    out.push_str(&format!("<MessageAttribute><Name>{}</Name><Value>", esc(n)));
                    if let Value::Object(a) = x {
                        for (f, fv) in a {
                            out.push_str(&format!("<{f}>{}</{f}>", scalar(fv)));
                        }
                    }
                    out.push_str("</Value></MessageAttribute>");
                }
            }
            ("QueueUrls" | "queueUrls", Value::Array(items)) => {
                for i in items {
                    out.push_str(&format!("<QueueUrl>{}</QueueUrl>", scalar(i)));
                }
            }
            ("Messages", Value::Array(items)) => {
                for i in items {
                    out.push_str("<Message>");
                    if let Value::Object(m) = i {
                        members(out, op, m);
                    }
                    out.push_str("</Message>");
                }
            }
            ("Successful", Value::Array(items)) => {
                for i in items {
                    out.push_str(&format!("<{op}ResultEntry>"));
                    if let Value::Object(m) = i {
                        members(out, op, m);
                    }
                    out.push_str(&format!("</{op}ResultEntry>"));
                }
            }
            ("Failed", Value::Array(items)) => {
                for i in items {
                    out.push_str("<BatchResultErrorEntry>");
                    if let Value::Object(m) = i {
                        members(out, op, m);
                    }
                    out.push_str("</BatchResultErrorEntry>");
                }
            }
            ("Results", Value::Array(items)) => {
                for i in items {
                    out.push_str("<Result>");
                    if let Value::Object(m) = i {
                        members(out, op, m);
                    }
                    out.push_str("</Result>");
                }
            }
            (_, Value::Object(m)) => {
                out.push_str(&format!("<{k}>"));
                members(out, op, m);
                out.push_str(&format!("</{k}>"));
            }
            (_, Value::Array(items)) => {
                for i in items {
                    out.push_str(&format!("<{k}>{}</{k}>", scalar(i)));
                }
            }
            (_, other) => out.push_str(&format!("<{k}>{}</{k}>", scalar(other))),
        }
    }
}

/// The XML answer to `op` carrying the JSON protocol's `result`.
pub fn to_xml(op: &str, result: &Value, request_id: &str) -> String {
    let mut body = String::new();
    if let Value::Object(m) = result {
        members(&mut body, op, m);
    }
    // Actions with a result write its element even when it is empty.
    let has_result = matches!(
        op,
        "CreateQueue"
            | "GetQueueUrl"
            | "ListQueues"
            | "ReceiveMessage"
            | "SendMessage"
            | "SendMessageBatch"
            | "DeleteMessageBatch"
            | "ChangeMessageVisibilityBatch"
            | "GetQueueAttributes"
            | "ListQueueTags"
            | "ListDeadLetterSourceQueues"
            | "ListMessageMoveTasks"
            | "StartMessageMoveTask"
            | "CancelMessageMoveTask"
    );
    let members = (has_result || !body.is_empty()).then_some(body.as_str());
    SQS_QUERY.document_with(op, members, request_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn empty_results_keep_their_element_and_results_less_actions_none() {
        let empty = to_xml("ReceiveMessage", &json!({}), "r");
        assert!(empty.contains("<ReceiveMessageResult/>"), "{empty}");
        let none = to_xml("DeleteMessage", &json!({}), "r");
        assert!(!none.contains("DeleteMessageResult"), "{none}");
        let sources = to_xml(
            "ListDeadLetterSourceQueues",
            &json!({"queueUrls": ["u"]}),
            "r",
        );
        assert!(sources.contains("<QueueUrl>u</QueueUrl>"), "{sources}");
    }
}
