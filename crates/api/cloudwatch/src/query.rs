//! CloudWatch's query protocol (`Action=PutMetricData&Version=2010-08-01`,
//! form-encoded), which older SDKs and tools still send: the form's
//! flattened members (`MetricData.member.1.Dimensions.member.1.Name`) become
//! the same structure the other protocols give the operations (lists from
//! `member.N`, maps from `entry.N`, numbers, booleans and ISO 8601 times by
//! member name), and the answer is CloudWatch's XML document.

use serde_json::{Map, Value};

/// The XML namespace of CloudWatch's answers.
pub const NAMESPACE: &str = "http://monitoring.amazonaws.com/doc/2010-08-01/";

const NUMBERS: &[&str] = &[
    "Value",
    "Values",
    "Counts",
    "Period",
    "EvaluationPeriods",
    "DatapointsToAlarm",
    "Threshold",
    "SampleCount",
    "Sum",
    "Minimum",
    "Maximum",
    "StorageResolution",
    "MaxRecords",
    "MaxDatapoints",
    "MaxResults",
];
const BOOLEANS: &[&str] = &["ActionsEnabled", "ReturnData"];
/// Parts of a member's flattened name, at most.
const MAX_PATH: usize = 16;
const TIMES: &[&str] = &["Timestamp", "StartTime", "EndTime", "StartDate", "EndDate"];

/// A leaf's value by the member it belongs to (`path`: the whole name;
/// dimensions' and tags' values are text whatever they look like).
fn leaf(field: &str, path: &[&str], v: &str) -> Value {
    let text_list = path
        .iter()
        .any(|p| matches!(*p, "Dimensions" | "Tags" | "Filters"));
    if NUMBERS.contains(&field) && !text_list {
        // Whole numbers stay integers (periods and counts are read as such).
        if let Ok(n) = v.parse::<i64>() {
            return Value::Number(n.into());
        }
        if let Ok(n) = v.parse::<f64>() {
            return serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number);
        }
    } else if BOOLEANS.contains(&field) {
        return Value::Bool(v.eq_ignore_ascii_case("true"));
    } else if TIMES.contains(&field)
        && let Some(t) = nimbus_model::time::parse_rfc3339(v).or_else(|| v.parse().ok())
    {
        return serde_json::Number::from_f64(t).map_or(Value::Null, Value::Number);
    }
    Value::String(v.to_string())
}

/// Turn `{"#000001": a, "#000002": b}` into `[a, b]`, all the way down.
fn finish(v: Value) -> Value {
    match v {
        Value::Object(m) if !m.is_empty() && m.keys().all(|k| k.starts_with('#')) => {
            let items: Vec<Value> = m.into_iter().map(|(_, v)| finish(v)).collect();
            Value::Array(items)
        }
        Value::Object(m) => Value::Object(m.into_iter().map(|(k, v)| (k, finish(v))).collect()),
        other => other,
    }
}

/// The operation's members from the form's pairs (without `Action` and `Version`).
pub fn params(pairs: &[(String, String)]) -> Value {
    let mut root = Map::new();
    for (k, v) in pairs {
        if k == "Action" || k == "Version" {
            continue;
        }
        let path: Vec<&str> = k.split('.').collect();
        // CloudWatch's shapes nest a few levels; deeper names are no member of
        // theirs (and would make the structure as deep as the request is long).
        if path.len() > MAX_PATH {
            continue;
        }
        // The field a leaf belongs to: the last name that is not `member`,
        // `entry` or an index.
        let field = path
            .iter()
            .rev()
            .find(|p| !matches!(**p, "member" | "entry") && p.parse::<u32>().is_err())
            .copied()
            .unwrap_or(k.as_str());
        insert_path(&mut root, &path, field, v);
    }
    finish(Value::Object(root))
}

/// Insert `value` at `path` (member names, `member`/`entry` and indexes):
/// `member.N` and `entry.N` are kept as objects keyed `#N` until [`finish`].
fn insert_path(root: &mut Map<String, Value>, path: &[&str], field: &str, value: &str) {
    let mut node = root;
    let mut i = 0;
    while i < path.len() {
        let (key, step) = match (path[i], path.get(i + 1)) {
            ("member" | "entry", Some(n)) if n.parse::<u32>().is_ok() => (format!("#{n:0>6}"), 2),
            (name, _) => (name.to_string(), 1),
        };
        if i + step >= path.len() {
            node.insert(key, leaf(field, path, value));
            return;
        }
        let child = node.entry(key).or_insert_with(|| Value::Object(Map::new()));
        let Value::Object(m) = child else { return };
        node = m;
        i += step;
    }
}

/// A value as the members of a query answer: lists as `<member>`s, times
/// (by member name) in ISO 8601.
pub fn xml(v: &Value, name: &str, times: &[&str], out: &mut String) {
    use nimbus_api_common::query::escape;
    match v {
        Value::Null => {}
        Value::Object(m) => {
            for (k, x) in m {
                if x.is_null() {
                    continue;
                }
                out.push_str(&format!("<{k}>"));
                xml(x, k, times, out);
                out.push_str(&format!("</{k}>"));
            }
        }
        Value::Array(a) => {
            for x in a {
                out.push_str("<member>");
                xml(x, name, times, out);
                out.push_str("</member>");
            }
        }
        Value::Number(n) if times.contains(&name) => {
            let ms = (n.as_f64().unwrap_or(0.0) * 1000.0).max(0.0) as u64;
            out.push_str(&nimbus_model::time::Utc::from_millis(ms).rfc3339_millis());
        }
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::String(s) => out.push_str(&escape(s)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pairs(s: &[(&str, &str)]) -> Vec<(String, String)> {
        s.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn flattened_members_become_structures_lists_and_typed_leaves() {
        let p = params(&pairs(&[
            ("Action", "PutMetricData"),
            ("Namespace", "Shop"),
            ("MetricData.member.1.MetricName", "Orders"),
            ("MetricData.member.1.Value", "3"),
            ("MetricData.member.1.Timestamp", "1970-01-01T00:00:10Z"),
            ("MetricData.member.1.Dimensions.member.1.Name", "Service"),
            ("MetricData.member.1.Dimensions.member.1.Value", "200"),
            ("MetricData.member.2.MetricName", "Latency"),
            ("MetricData.member.2.Values.member.2", "20"),
            ("MetricData.member.2.Values.member.1", "10"),
            ("AlarmNames.member.1", "a"),
            ("ActionsEnabled", "false"),
        ]));
        assert_eq!(
            p,
            json!({"Namespace": "Shop", "AlarmNames": ["a"], "ActionsEnabled": false, "MetricData": [
                {"MetricName": "Orders", "Value": 3, "Timestamp": 10.0,
                 "Dimensions": [{"Name": "Service", "Value": "200"}]},
                {"MetricName": "Latency", "Values": [10, 20]}]})
        );
    }

    #[test]
    fn names_deeper_than_any_shape_are_ignored() {
        let deep = "a.".repeat(100_000) + "b";
        assert_eq!(
            params(&pairs(&[(deep.as_str(), "1"), ("Namespace", "n")])),
            json!({"Namespace": "n"})
        );
    }

    #[test]
    fn answers_are_members_with_times_in_iso_8601() {
        let mut out = String::new();
        xml(
            &json!({"Label": "L", "Datapoints": [{"Timestamp": 10.0, "Sum": 2.0, "Unit": "None"}]}),
            "",
            &["Timestamp"],
            &mut out,
        );
        assert_eq!(
            out,
            "<Datapoints><member><Sum>2.0</Sum><Timestamp>1970-01-01T00:00:10.000Z</Timestamp><Unit>None</Unit></member></Datapoints><Label>L</Label>"
        );
    }
}
