//! DynamoDB's CloudWatch metrics (`AWS/DynamoDB`) of each data-plane call:
//! `SuccessfulRequestLatency` (ms) by `TableName` and `Operation`,
//! `ConsumedReadCapacityUnits` / `ConsumedWriteCapacityUnits` by
//! `TableName` (DynamoDB's unit arithmetic, the same as `ConsumedCapacity`),
//! `ConditionalCheckFailedRequests` by `TableName`, `UserErrors` for the
//! account and `SystemErrors` by `TableName` and `Operation`.

use nimbus_metrics::{MetricId, Metrics};
use serde_json::Value;

const NAMESPACE: &str = "AWS/DynamoDB";

/// Operations whose answers carry `ConsumedCapacity`.
pub(crate) const MEASURED: [&str; 6] = [
    "GetItem",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "Query",
    "Scan",
];

/// Ask `params` for its consumed capacity if the caller did not; `true`
/// when the answer's `ConsumedCapacity` must then be taken out again.
pub(crate) fn ask_capacity(operation: &str, params: &mut Value) -> bool {
    if !MEASURED.contains(&operation) {
        return false;
    }
    let asked = params
        .get("ReturnConsumedCapacity")
        .and_then(Value::as_str)
        .is_some_and(|r| r != "NONE");
    if asked {
        return false;
    }
    match params.as_object_mut() {
        Some(o) => {
            o.insert(
                "ReturnConsumedCapacity".into(),
                Value::String("TOTAL".into()),
            );
            true
        }
        None => false,
    }
}

/// One call that succeeded: its latency and capacity (taken out of `out`
/// when `strip`).
pub(crate) fn succeeded(
    m: &Metrics,
    operation: &str,
    writes: bool,
    table: Option<&str>,
    ms: f64,
    out: &mut Value,
    strip: bool,
) {
    let units = out
        .pointer("/ConsumedCapacity/CapacityUnits")
        .and_then(Value::as_f64);
    if strip && let Some(o) = out.as_object_mut() {
        o.remove("ConsumedCapacity");
    }
    let Some(table) = table else { return };
    let mut points = vec![(
        MetricId::new(
            NAMESPACE,
            "SuccessfulRequestLatency",
            &[("TableName", table), ("Operation", operation)],
        ),
        "Milliseconds",
        ms,
    )];
    if let Some(u) = units {
        let name = if writes {
            "ConsumedWriteCapacityUnits"
        } else {
            "ConsumedReadCapacityUnits"
        };
        points.push((
            MetricId::new(NAMESPACE, name, &[("TableName", table)]),
            "Count",
            u,
        ));
    }
    m.record_all(points);
}

/// One call that failed with `code` and HTTP `status`.
pub(crate) fn failed(m: &Metrics, operation: &str, table: Option<&str>, code: &str, status: u16) {
    let mut points = Vec::new();
    if code.ends_with("ConditionalCheckFailedException") {
        if let Some(t) = table {
            points.push((
                MetricId::new(
                    NAMESPACE,
                    "ConditionalCheckFailedRequests",
                    &[("TableName", t)],
                ),
                "Count",
                1.0,
            ));
        }
    } else if status >= 500 {
        if let Some(t) = table {
            points.push((
                MetricId::new(
                    NAMESPACE,
                    "SystemErrors",
                    &[("TableName", t), ("Operation", operation)],
                ),
                "Count",
                1.0,
            ));
        }
    } else {
        points.push((MetricId::new(NAMESPACE, "UserErrors", &[]), "Count", 1.0));
    }
    m.record_all(points);
}
