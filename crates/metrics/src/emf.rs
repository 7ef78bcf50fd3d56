//! The CloudWatch embedded metric format: a log line that is a JSON object
//! with an `_aws` member declaring `CloudWatchMetrics` becomes datapoints
//! (what Powertools' `Metrics` and the `aws-embedded-metrics` libraries
//! write). Each directive names a namespace, dimension sets (lists of
//! member names whose values are the dimensions) and metrics (members whose
//! values, a number or a list of up to 100 numbers, are the datapoints). A
//! line that does not follow the format gives nothing, as CloudWatch
//! ignores it.

use crate::{MetricId, Stats};
use serde_json::Value;

/// One datapoint: series, time (ms), high resolution, unit, values.
pub type Datapoint = (MetricId, u64, bool, Option<String>, Stats);

/// The datapoints of a log line, if it is in the embedded metric format.
pub fn extract(line: &str, now_ms: u64) -> Vec<Datapoint> {
    let line = line.trim();
    if !line.starts_with('{') || !line.contains("\"_aws\"") {
        return Vec::new();
    }
    let Ok(Value::Object(root)) = serde_json::from_str::<Value>(line) else {
        return Vec::new();
    };
    let Some(aws) = root.get("_aws") else {
        return Vec::new();
    };
    let at = aws
        .get("Timestamp")
        .and_then(Value::as_u64)
        .unwrap_or(now_ms);
    let mut out = Vec::new();
    for directive in aws
        .get("CloudWatchMetrics")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(namespace) = directive.get("Namespace").and_then(Value::as_str) else {
            continue;
        };
        if namespace.is_empty() || namespace.len() > 255 || namespace.starts_with("AWS/") {
            continue;
        }
        // Dimension sets: each a list of member names with string values.
        let mut sets: Vec<Vec<(String, String)>> = Vec::new();
        for set in directive
            .get("Dimensions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(names) = set.as_array() else {
                continue;
            };
            if names.len() > 30 {
                continue;
            }
            let dims: Option<Vec<(String, String)>> = names
                .iter()
                .map(|n| {
                    let n = n.as_str()?;
                    let v = root.get(n)?.as_str()?;
                    Some((n.to_string(), v.to_string()))
                })
                .collect();
            match dims {
                Some(d) => sets.push(d),
                // A dimension without a string value: the directive is invalid.
                None => {
                    sets.clear();
                    break;
                }
            }
        }
        let declared = directive
            .get("Dimensions")
            .and_then(Value::as_array)
            .is_some_and(|d| !d.is_empty());
        if declared && sets.is_empty() {
            continue;
        }
        if sets.is_empty() {
            sets.push(Vec::new());
        }
        for m in directive
            .get("Metrics")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .take(100)
        {
            let Some(name) = m.get("Name").and_then(Value::as_str) else {
                continue;
            };
            let values: Vec<f64> = match root.get(name) {
                Some(Value::Number(n)) => n.as_f64().into_iter().collect(),
                Some(Value::Array(a)) => a.iter().take(100).filter_map(Value::as_f64).collect(),
                _ => continue,
            };
            let Some(stats) = values.iter().copied().map(Stats::one).reduce(|mut a, b| {
                a.count += b.count;
                a.sum += b.sum;
                a.min = a.min.min(b.min);
                a.max = a.max.max(b.max);
                a.samples.extend(b.samples);
                a
            }) else {
                continue;
            };
            let unit = m.get("Unit").and_then(Value::as_str).map(str::to_string);
            let high = m.get("StorageResolution").and_then(Value::as_u64) == Some(1);
            for dims in &sets {
                let d: Vec<(&str, &str)> =
                    dims.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                out.push((
                    MetricId::new(namespace, name, &d),
                    at,
                    high,
                    unit.clone(),
                    stats.clone(),
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn powertools_lines_become_datapoints() {
        let line = r#"{"_aws":{"Timestamp":1700000000000,"CloudWatchMetrics":[{"Namespace":"Shop","Dimensions":[["service"],["service","env"]],"Metrics":[{"Name":"Orders","Unit":"Count"},{"Name":"Latency","Unit":"Milliseconds","StorageResolution":1}]}]},"service":"orders","env":"prod","Orders":2,"Latency":[10,30]}"#;
        let got = extract(line, 0);
        assert_eq!(got.len(), 4, "two metrics in two dimension sets");
        let (id, at, high, unit, stats) = &got[0];
        assert_eq!(
            (id.namespace.as_str(), id.name.as_str(), *at, *high),
            ("Shop", "Orders", 1_700_000_000_000, false)
        );
        assert_eq!(
            id.dimensions,
            [("service".to_string(), "orders".to_string())]
        );
        assert_eq!(unit.as_deref(), Some("Count"));
        assert_eq!(stats.sum, 2.0);
        let latency = got.iter().find(|d| d.0.name == "Latency").unwrap();
        assert!(latency.2 && latency.4.count == 2.0 && latency.4.max == 30.0);
    }

    #[test]
    fn other_lines_give_nothing() {
        for line in [
            "START RequestId: x",
            "{\"message\": \"hello\"}",
            "{\"_aws\": 5}",
            "{\"_aws\": {\"CloudWatchMetrics\": [{\"Namespace\": \"AWS/Lambda\", \"Metrics\": [{\"Name\": \"x\"}]}]}, \"x\": 1}",
            "{\"_aws\": {\"CloudWatchMetrics\": [{\"Namespace\": \"A\", \"Metrics\": [{\"Name\": \"x\"}]}]}, \"x\": \"text\"}",
            "{\"_aws\": {\"CloudWatchMetrics\": [{\"Namespace\": \"A\", \"Dimensions\": [[\"missing\"]], \"Metrics\": [{\"Name\": \"x\"}]}]}, \"x\": 1}",
        ] {
            assert!(extract(line, 0).is_empty(), "{line}");
        }
    }
}
