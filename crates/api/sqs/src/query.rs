//! SQS's older query protocol (`Action=SendMessage&...` form posts, XML answers),
//! which older SDKs and tools speak. Requests are translated into the JSON
//! protocol's shapes, run by the same code, and the JSON answer is written back
//! as SQS's XML.

use serde_json::{Map, Value};
use std::collections::BTreeMap;

const NS: &str = "http://queue.amazonaws.com/doc/2012-11-05/";

/// Decode a form body (`application/x-www-form-urlencoded`).
pub fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(body);
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let s = s.replace('+', " ");
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        // Hex digits are ASCII: work on bytes, never slice the text (a `%` may be
        // followed by a multi-byte character).
        let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

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

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
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
            ("QueueUrls", Value::Array(items)) => {
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
    let result = if body.is_empty() {
        String::new()
    } else {
        format!("<{op}Result>{body}</{op}Result>")
    };
    format!(
        "<?xml version=\"1.0\"?><{op}Response xmlns=\"{NS}\">{result}<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{op}Response>"
    )
}

/// SQS's query-protocol error document.
pub fn error_xml(code: &str, message: &str, sender: bool, request_id: &str) -> String {
    let kind = if sender { "Sender" } else { "Receiver" };
    format!(
        "<?xml version=\"1.0\"?><ErrorResponse xmlns=\"{NS}\"><Error><Type>{kind}</Type><Code>{}</Code><Message>{}</Message><Detail/></Error><RequestId>{request_id}</RequestId></ErrorResponse>",
        esc(code),
        esc(message)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn form_parameters_become_json_shapes() {
        let params = parse_form(
            b"Action=SendMessageBatch&QueueUrl=http%3A%2F%2Fh%2F0%2Fq\
&SendMessageBatchRequestEntry.1.Id=a&SendMessageBatchRequestEntry.1.MessageBody=hello+there\
&SendMessageBatchRequestEntry.1.DelaySeconds=2\
&SendMessageBatchRequestEntry.1.MessageAttribute.1.Name=k\
&SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.DataType=String\
&SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.StringValue=v\
&SendMessageBatchRequestEntry.2.Id=b&SendMessageBatchRequestEntry.2.MessageBody=x",
        );
        let (action, v) = to_json(&params).unwrap();
        assert_eq!(action, "SendMessageBatch");
        assert_eq!(v["QueueUrl"], "http://h/0/q");
        assert_eq!(v["Entries"][0]["MessageBody"], "hello there");
        assert_eq!(v["Entries"][0]["DelaySeconds"], 2);
        assert_eq!(
            v["Entries"][0]["MessageAttributes"]["k"]["StringValue"],
            "v"
        );
        assert_eq!(v["Entries"][1]["Id"], "b");
        let (_, v) = to_json(&parse_form(
            b"Action=CreateQueue&QueueName=q&Attribute.1.Name=VisibilityTimeout&Attribute.1.Value=5&Tag.1.Key=t&Tag.1.Value=1",
        ))
        .unwrap();
        assert_eq!(v["Attributes"]["VisibilityTimeout"], "5");
        assert_eq!(v["tags"]["t"], "1");
        let (_, v) = to_json(&parse_form(
            b"Action=ReceiveMessage&QueueUrl=u&MaxNumberOfMessages=3&AttributeName.1=All",
        ))
        .unwrap();
        assert_eq!(v["MaxNumberOfMessages"], 3);
        assert_eq!(v["AttributeNames"][0], "All");
    }

    #[test]
    fn broken_escapes_stay_as_they_are() {
        // Found by the fuzzer: `%` followed by a multi-byte character.
        assert_eq!(
            parse_form(b"%\x88"),
            vec![("%\u{FFFD}".to_string(), String::new())]
        );
        assert_eq!(
            parse_form(b"a=%4"),
            vec![("a".to_string(), "%4".to_string())]
        );
        assert_eq!(
            parse_form(b"a=%41%zz"),
            vec![("a".to_string(), "A%zz".to_string())]
        );
    }

    #[test]
    fn json_answers_become_sqs_xml() {
        let x = to_xml(
            "ReceiveMessage",
            &json!({ "Messages": [{ "MessageId": "m", "Body": "a<b", "Attributes": { "SentTimestamp": "1" } }] }),
            "rid",
        );
        assert!(x.contains("<ReceiveMessageResult><Message><Attribute><Name>SentTimestamp</Name><Value>1</Value></Attribute><Body>a&lt;b</Body><MessageId>m</MessageId></Message></ReceiveMessageResult>"), "{x}");
        let x = to_xml("DeleteQueue", &json!({}), "rid");
        assert!(x.contains("<DeleteQueueResponse") && !x.contains("DeleteQueueResult"));
        let x = to_xml(
            "SendMessageBatch",
            &json!({ "Successful": [{ "Id": "a" }], "Failed": [] }),
            "rid",
        );
        assert!(
            x.contains("<SendMessageBatchResultEntry><Id>a</Id></SendMessageBatchResultEntry>"),
            "{x}"
        );
    }
}
