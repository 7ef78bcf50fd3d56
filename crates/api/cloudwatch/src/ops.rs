//! CloudWatch's metric operations over `nimbus-metrics`: `PutMetricData`,
//! `GetMetricStatistics`, `GetMetricData` (metric statistics queries) and
//! `ListMetrics`, in its shapes (timestamps are epoch seconds).

use nimbus_api_common::ApiError;
use nimbus_metrics::{MetricId, Metrics, Stats};
use serde_json::{Map, Value, json};

pub(crate) fn invalid(m: impl Into<String>) -> ApiError {
    ApiError::bad_request("InvalidParameterValue", m)
}

/// CloudWatch's `InternalServiceError` for a store that failed (logged here).
pub(crate) fn store_failed(message: &str, e: &dyn std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "{message}");
    ApiError::new(
        http::StatusCode::INTERNAL_SERVER_ERROR,
        "InternalServiceError",
        message,
    )
    .with_query_code("InternalServiceError")
}

pub(crate) fn missing(name: &str) -> ApiError {
    ApiError::bad_request(
        "MissingParameter",
        format!("The parameter {name} is required."),
    )
}

pub(crate) fn text<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

fn seconds_ms(v: &Value, k: &str) -> Option<u64> {
    v.get(k)
        .and_then(Value::as_f64)
        .filter(|s| *s >= 0.0)
        .map(|s| (s * 1000.0) as u64)
}

/// `Dimensions: [{Name, Value}]`.
pub(crate) fn dimensions(v: &Value) -> Result<Vec<(String, String)>, ApiError> {
    let list = v.get("Dimensions").and_then(Value::as_array);
    let mut out = Vec::new();
    for d in list.into_iter().flatten() {
        let (Some(n), Some(x)) = (text(d, "Name"), text(d, "Value")) else {
            return Err(invalid("Each dimension needs a Name and a Value."));
        };
        if n.is_empty() || n.len() > 255 || x.is_empty() || x.len() > 1024 {
            return Err(invalid(format!(
                "The dimension {n} is not valid: names are 1 to 255 characters, values 1 to 1024."
            )));
        }
        out.push((n.to_string(), x.to_string()));
    }
    if out.len() > 30 {
        return Err(invalid(
            "The collection Dimensions must not have a size greater than 30.",
        ));
    }
    out.sort();
    Ok(out)
}

fn metric_of(v: &Value) -> Result<MetricId, ApiError> {
    Ok(MetricId {
        namespace: text(v, "Namespace")
            .ok_or_else(|| missing("Namespace"))?
            .to_string(),
        name: text(v, "MetricName")
            .ok_or_else(|| missing("MetricName"))?
            .to_string(),
        dimensions: dimensions(v)?,
    })
}

fn metric_view(id: &MetricId) -> Value {
    json!({"Namespace": id.namespace, "MetricName": id.name,
           "Dimensions": id.dimensions.iter().map(|(k, v)| json!({"Name": k, "Value": v})).collect::<Vec<_>>()})
}

pub(crate) fn execute(metrics: &Metrics, op: &str, p: &Value) -> Result<Value, ApiError> {
    match op {
        "PutMetricData" => put(metrics, p),
        "GetMetricStatistics" => statistics(metrics, p),
        "GetMetricData" => data(metrics, p),
        "ListMetrics" => {
            let filter: Vec<(String, Option<String>)> = p
                .get("Dimensions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|d| {
                    Some((
                        text(d, "Name")?.to_string(),
                        text(d, "Value").map(str::to_string),
                    ))
                })
                .collect();
            let all = metrics.list(text(p, "Namespace"), text(p, "MetricName"), &filter);
            let from: usize = text(p, "NextToken")
                .and_then(|t| t.parse().ok())
                .unwrap_or(0);
            let page: Vec<Value> = all.iter().skip(from).take(500).map(metric_view).collect();
            let mut v = json!({"Metrics": page});
            if from + 500 < all.len() {
                v["NextToken"] = json!((from + 500).to_string());
            }
            Ok(v)
        }
        other => Err(ApiError::bad_request(
            "UnknownOperationException",
            format!("Nimbus's CloudWatch does not serve {other} yet"),
        )),
    }
}

/// CloudWatch's units (`StandardUnit`).
const UNITS: [&str; 27] = [
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

fn put(metrics: &Metrics, p: &Value) -> Result<Value, ApiError> {
    let namespace = text(p, "Namespace").ok_or_else(|| missing("Namespace"))?;
    if namespace.is_empty() || namespace.len() > 255 || namespace.starts_with("AWS/") {
        return Err(invalid(format!(
            "The value {namespace} for parameter Namespace is invalid."
        )));
    }
    let data = p
        .get("MetricData")
        .and_then(Value::as_array)
        .ok_or_else(|| missing("MetricData"))?;
    if data.is_empty() || data.len() > 1000 {
        return Err(invalid(
            "The collection MetricData must have between 1 and 1000 items.",
        ));
    }
    let now = nimbus_model::time::now_millis();
    let mut out = Vec::with_capacity(data.len());
    for (i, d) in data.iter().enumerate() {
        let name = text(d, "MetricName")
            .ok_or_else(|| missing(&format!("MetricData.member.{}.MetricName", i + 1)))?;
        let mut with_ns = d.clone();
        with_ns["Namespace"] = json!(namespace);
        let id = metric_of(&with_ns)?;
        let at = seconds_ms(d, "Timestamp").unwrap_or(now);
        if at + 14 * 86_400_000 < now || at > now + 2 * 3_600_000 {
            return Err(invalid(format!(
                "The parameter MetricData.member.{}.Timestamp must specify a time no more than two weeks in the past and no more than two hours in the future.",
                i + 1
            )));
        }
        let high = match d.get("StorageResolution").and_then(Value::as_u64) {
            None | Some(60) => false,
            Some(1) => true,
            Some(r) => {
                return Err(invalid(format!(
                    "The value {r} for parameter MetricData.member.{}.StorageResolution is invalid: 1 or 60.",
                    i + 1
                )));
            }
        };
        let stats = stats_of(d, name)?;
        let unit = text(d, "Unit");
        if let Some(u) = unit.filter(|u| !UNITS.contains(u)) {
            return Err(invalid(format!(
                "The parameter MetricData.member.{}.Unit must be a value in the set [ {} ], not {u}.",
                i + 1,
                UNITS.join(", ")
            )));
        }
        out.push((id, at, high, unit.map(str::to_string), stats));
    }
    metrics
        .put(out)
        .map_err(|e| store_failed("The metric data could not be stored.", &e))?;
    Ok(json!({}))
}

/// A datum's `Value`, `StatisticValues` or `Values`/`Counts`.
fn stats_of(d: &Value, name: &str) -> Result<Stats, ApiError> {
    let finite = |x: f64| {
        if x.is_finite() && x.abs() <= 2f64.powi(360) {
            Ok(x)
        } else {
            Err(invalid(format!("The value of {name} is out of range.")))
        }
    };
    let given = [
        d.get("Value").is_some(),
        d.get("StatisticValues").is_some(),
        d.get("Values").is_some(),
    ];
    if given.iter().filter(|g| **g).count() != 1 {
        return Err(ApiError::bad_request(
            "InvalidParameterCombination",
            format!("The metric {name} must have exactly one of Value, StatisticValues or Values."),
        ));
    }
    if let Some(v) = d.get("Value").and_then(Value::as_f64) {
        return Ok(Stats::one(finite(v)?));
    }
    if let Some(s) = d.get("StatisticValues") {
        let f = |k: &str| {
            s.get(k)
                .and_then(Value::as_f64)
                .ok_or_else(|| missing(&format!("StatisticValues.{k}")))
        };
        let (count, sum, min, max) = (f("SampleCount")?, f("Sum")?, f("Minimum")?, f("Maximum")?);
        if count <= 0.0 || min > max {
            return Err(invalid(format!(
                "The StatisticValues of {name} are not consistent (SampleCount > 0, Minimum <= Maximum)."
            )));
        }
        return Ok(Stats {
            count,
            sum: finite(sum)?,
            min: finite(min)?,
            max: finite(max)?,
            samples: Vec::new(),
        });
    }
    let values: Vec<f64> = d
        .get("Values")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_f64)
        .collect();
    let counts: Vec<f64> = d
        .get("Counts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_f64)
        .collect();
    if values.is_empty()
        || values.len() > 150
        || (!counts.is_empty() && counts.len() != values.len())
    {
        return Err(invalid(format!(
            "The Values of {name} must have 1 to 150 items, and Counts as many if given."
        )));
    }
    let mut s: Option<Stats> = None;
    for (i, v) in values.iter().enumerate() {
        let v = finite(*v)?;
        let n = counts.get(i).copied().unwrap_or(1.0);
        let one = Stats {
            count: n,
            sum: v * n,
            min: v,
            max: v,
            samples: vec![v; (n as usize).clamp(1, 100)],
        };
        match &mut s {
            Some(x) => {
                x.count += one.count;
                x.sum += one.sum;
                x.min = x.min.min(v);
                x.max = x.max.max(v);
                x.samples.extend(one.samples);
            }
            None => s = Some(one),
        }
    }
    Ok(s.expect("at least one value"))
}

/// `StartTime`, `EndTime` and `Period` of a query, checked.
fn window(p: &Value, period_s: Option<u64>) -> Result<(u64, u64, u64), ApiError> {
    let start = seconds_ms(p, "StartTime").ok_or_else(|| missing("StartTime"))?;
    let end = seconds_ms(p, "EndTime").ok_or_else(|| missing("EndTime"))?;
    if end <= start {
        return Err(invalid(
            "The parameter StartTime must be less than the parameter EndTime.",
        ));
    }
    let period = period_s.ok_or_else(|| missing("Period"))?;
    if period == 0 || !(matches!(period, 1 | 5 | 10 | 30) || period % 60 == 0) {
        return Err(invalid(
            "The parameter Period must be 1, 5, 10, 30 or a multiple of 60.",
        ));
    }
    Ok((start, end, period * 1000))
}

fn statistics(metrics: &Metrics, p: &Value) -> Result<Value, ApiError> {
    let id = metric_of(p)?;
    let (start, end, period) = window(p, p.get("Period").and_then(Value::as_u64))?;
    let points_asked = (end - start).div_ceil(period);
    if points_asked > 1440 {
        return Err(ApiError::bad_request(
            "InvalidParameterCombination",
            format!(
                "You have requested up to {points_asked} datapoints, which exceeds the limit of 1440. You may reduce the datapoints requested by increasing Period, or decreasing the time range."
            ),
        ));
    }
    let list = |k: &str| -> Vec<String> {
        p.get(k)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect()
    };
    let (stats, extended) = (list("Statistics"), list("ExtendedStatistics"));
    if stats.is_empty() && extended.is_empty() {
        return Err(missing("Statistics or ExtendedStatistics"));
    }
    for s in &stats {
        if !matches!(
            s.as_str(),
            "SampleCount" | "Average" | "Sum" | "Minimum" | "Maximum"
        ) {
            return Err(invalid(format!(
                "The value {s} for parameter Statistics is invalid."
            )));
        }
    }
    for e in &extended {
        if e.strip_prefix('p')
            .and_then(|q| q.parse::<f64>().ok())
            .is_none_or(|q| !(0.0..=100.0).contains(&q))
        {
            return Err(invalid(format!(
                "The value {e} for parameter ExtendedStatistics is invalid."
            )));
        }
    }
    let (points, unit) = metrics.query(&id, start, end, period);
    let datapoints: Vec<Value> = points
        .iter()
        .map(|pt| {
            let mut v = Map::new();
            v.insert("Timestamp".into(), json!(pt.at as f64 / 1000.0));
            for s in &stats {
                if let Some(x) = pt.stats.get(s) {
                    v.insert(s.clone(), json!(x));
                }
            }
            if !extended.is_empty() {
                let e: Map<String, Value> = extended
                    .iter()
                    .filter_map(|q| Some((q.clone(), json!(pt.stats.get(q)?))))
                    .collect();
                v.insert("ExtendedStatistics".into(), Value::Object(e));
            }
            v.insert(
                "Unit".into(),
                json!(unit.clone().unwrap_or_else(|| "None".into())),
            );
            Value::Object(v)
        })
        .collect();
    Ok(json!({"Label": id.name, "Datapoints": datapoints}))
}

fn data(metrics: &Metrics, p: &Value) -> Result<Value, ApiError> {
    use nimbus_metrics::math::{Series, evaluate};
    use std::collections::HashMap;
    let queries = p
        .get("MetricDataQueries")
        .and_then(Value::as_array)
        .ok_or_else(|| missing("MetricDataQueries"))?;
    if queries.is_empty() || queries.len() > 500 {
        return Err(invalid(
            "MetricDataQueries must have between 1 and 500 items.",
        ));
    }
    let ascending = text(p, "ScanBy") == Some("TimestampAscending");
    // Metric statistics first, then expressions (over them and each other).
    let mut known: HashMap<String, Series> = HashMap::new();
    let mut labels: HashMap<String, String> = HashMap::new();
    let mut stats: Vec<String> = Vec::new();
    let mut expressions: Vec<(String, String)> = Vec::new();
    for q in queries {
        let id = text(q, "Id").ok_or_else(|| missing("MetricDataQueries.member.Id"))?;
        if let Some(e) = text(q, "Expression") {
            expressions.push((id.to_string(), e.to_string()));
            labels.insert(id.to_string(), text(q, "Label").unwrap_or(id).to_string());
            continue;
        }
        let stat = q.get("MetricStat").ok_or_else(|| missing("MetricStat"))?;
        let metric = metric_of(
            stat.get("Metric")
                .ok_or_else(|| missing("MetricStat.Metric"))?,
        )?;
        let statistic = text(stat, "Stat").ok_or_else(|| missing("MetricStat.Stat"))?;
        let (start, end, period) = window(p, stat.get("Period").and_then(Value::as_u64))?;
        let (points, _) = metrics.query(&metric, start, end, period);
        let series: Series = points
            .iter()
            .filter_map(|pt| Some((pt.at, pt.stats.get(statistic)?)))
            .collect();
        known.insert(id.to_string(), series);
        labels.insert(
            id.to_string(),
            text(q, "Label").unwrap_or(&metric.name).to_string(),
        );
        stats.push(id.to_string());
    }
    // An expression may use another: evaluate while some make progress.
    let mut pending = expressions;
    while !pending.is_empty() {
        let before = pending.len();
        let mut failed = None;
        pending.retain(|(id, e)| match evaluate(e, &known, &stats) {
            Ok(s) => {
                known.insert(id.clone(), s);
                false
            }
            Err(why) => {
                failed = Some(format!("Error in expression {id}: {why}"));
                true
            }
        });
        if pending.len() == before {
            return Err(invalid(failed.unwrap_or_default()));
        }
    }
    let mut results = Vec::new();
    for q in queries {
        let id = text(q, "Id").unwrap_or_default();
        if q.get("ReturnData").and_then(Value::as_bool) == Some(false) {
            continue;
        }
        let series = known.get(id).cloned().unwrap_or_default();
        let mut points: Vec<(u64, f64)> = series.into_iter().collect();
        if !ascending {
            points.reverse();
        }
        let stamps: Vec<Value> = points
            .iter()
            .map(|(t, _)| json!(*t as f64 / 1000.0))
            .collect();
        let values: Vec<Value> = points.iter().map(|(_, v)| json!(v)).collect();
        results.push(
            json!({"Id": id, "Label": labels.get(id), "Timestamps": stamps,
                            "Values": values, "StatusCode": "Complete"}),
        );
    }
    Ok(json!({"MetricDataResults": results, "Messages": []}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics() -> (tempfile::TempDir, Metrics) {
        let dir = tempfile::tempdir().unwrap();
        let m = Metrics::open(dir.path().to_path_buf()).unwrap();
        (dir, m)
    }

    #[test]
    fn put_then_statistics() {
        let (_d, m) = metrics();
        let now = nimbus_model::time::now_millis() as f64 / 1000.0;
        execute(
            &m,
            "PutMetricData",
            &json!({"Namespace": "App", "MetricData": [
            {"MetricName": "Hits", "Value": 2, "Timestamp": now},
            {"MetricName": "Hits", "Value": 4, "Timestamp": now}]}),
        )
        .unwrap();
        let got = execute(&m, "GetMetricStatistics", &json!({"Namespace": "App", "MetricName": "Hits",
            "StartTime": now - 300.0, "EndTime": now + 300.0, "Period": 600, "Statistics": ["Sum", "Average"]})).unwrap();
        assert_eq!(got["Datapoints"][0]["Sum"], json!(6.0));
        assert_eq!(got["Datapoints"][0]["Average"], json!(3.0));
    }

    #[test]
    fn refusals_carry_cloudwatch_codes() {
        let (_d, m) = metrics();
        let code = |op: &str, p: Value| execute(&m, op, &p).unwrap_err().code;
        assert_eq!(
            code("PutMetricData", json!({"MetricData": []})),
            "MissingParameter"
        );
        assert_eq!(
            code(
                "PutMetricData",
                json!({"Namespace": "AWS/EC2", "MetricData": [{"MetricName": "x", "Value": 1}]})
            ),
            "InvalidParameterValue"
        );
        assert_eq!(
            code(
                "PutMetricData",
                json!({"Namespace": "A", "MetricData": [{"MetricName": "x"}]})
            ),
            "InvalidParameterCombination"
        );
        assert_eq!(
            code(
                "PutMetricData",
                json!({"Namespace": "A", "MetricData": [{"MetricName": "x", "Value": 1, "Timestamp": 1}]})
            ),
            "InvalidParameterValue"
        );
        assert_eq!(
            code(
                "GetMetricStatistics",
                json!({"Namespace": "A", "MetricName": "x", "StartTime": 100, "EndTime": 50, "Period": 60, "Statistics": ["Sum"]})
            ),
            "InvalidParameterValue"
        );
        assert_eq!(
            code(
                "GetMetricStatistics",
                json!({"Namespace": "A", "MetricName": "x", "StartTime": 0, "EndTime": 600, "Period": 7, "Statistics": ["Sum"]})
            ),
            "InvalidParameterValue"
        );
        assert_eq!(
            code(
                "GetMetricData",
                json!({"StartTime": 0, "EndTime": 600, "MetricDataQueries": [{"Id": "e", "Expression": "m1*2"}]})
            ),
            "InvalidParameterValue"
        );
    }
}
