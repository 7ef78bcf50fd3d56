//! Lambda's own CloudWatch metrics (`AWS/Lambda`): per invocation
//! `Invocations`, `Errors` and `Duration`, `Throttles` when admission
//! refuses one, and `ConcurrentExecutions` (what is in flight once one is
//! admitted: its `Maximum` is the peak), by `FunctionName`, by `FunctionName` and `Resource` (a
//! version or alias), and for the whole account, as Lambda publishes them.

use nimbus_metrics::{MetricId, Metrics};
use nimbus_model::FunctionRecord;

const NAMESPACE: &str = "AWS/Lambda";

/// A datapoint of `rec` (invoked as `qualifier`) for each dimension set.
fn each<'a>(
    points: &mut Vec<(MetricId, &'a str, f64)>,
    rec: &FunctionRecord,
    qualifier: Option<&str>,
    name: &str,
    unit: &'a str,
    value: f64,
) {
    points.push((MetricId::new(NAMESPACE, name, &[]), unit, value));
    points.push((
        MetricId::new(NAMESPACE, name, &[("FunctionName", &rec.name)]),
        unit,
        value,
    ));
    if let Some(q) = qualifier.filter(|q| *q != "$LATEST") {
        let resource = format!("{}:{q}", rec.name);
        points.push((
            MetricId::new(
                NAMESPACE,
                name,
                &[("FunctionName", &rec.name), ("Resource", &resource)],
            ),
            unit,
            value,
        ));
    }
}

/// One invocation that ran: its duration and whether it failed.
pub(crate) fn invocation(
    m: &Metrics,
    rec: &FunctionRecord,
    qualifier: Option<&str>,
    duration_ms: f64,
    error: bool,
) {
    let mut points = Vec::with_capacity(9);
    each(&mut points, rec, qualifier, "Invocations", "Count", 1.0);
    let errors = if error { 1.0 } else { 0.0 };
    each(&mut points, rec, qualifier, "Errors", "Count", errors);
    each(
        &mut points,
        rec,
        qualifier,
        "Duration",
        "Milliseconds",
        duration_ms,
    );
    m.record_all(points);
}

/// An asynchronous invocation's event: `AsyncEventsReceived` when queued,
/// `AsyncEventAge` (ms since queued) at each attempt, `AsyncEventsDropped`
/// when it failed for good with nowhere to go, `DeadLetterErrors` and
/// `DestinationDeliveryFailures` when its dead-letter queue or destination
/// could not take it.
pub(crate) fn async_event(m: &Metrics, rec: &FunctionRecord, name: &str, value: f64) {
    let unit = if name == "AsyncEventAge" {
        "Milliseconds"
    } else {
        "Count"
    };
    let mut points = Vec::with_capacity(3);
    each(&mut points, rec, None, name, unit, value);
    m.record_all(points);
}

/// A provisioned concurrency figure of `rec`'s version (by function, and by
/// function and `Resource`, as Lambda publishes them).
pub(crate) fn provisioned(m: &Metrics, rec: &FunctionRecord, name: &str, value: f64) {
    let unit = if name.ends_with("Invocations") {
        "Count"
    } else {
        "None"
    };
    let mut points = Vec::with_capacity(3);
    each(&mut points, rec, Some(&rec.version), name, unit, value);
    m.record_all(points);
}

/// One invocation refused for concurrency.
pub(crate) fn throttle(m: &Metrics, rec: &FunctionRecord) {
    let mut points = Vec::with_capacity(2);
    each(&mut points, rec, None, "Throttles", "Count", 1.0);
    m.record_all(points);
}

/// In-flight invocations once one of `rec` is admitted: the function's
/// and the account's.
pub(crate) fn concurrency(m: &Metrics, rec: &FunctionRecord, function: u32, account: u32) {
    m.record_all(vec![
        (
            MetricId::new(NAMESPACE, "ConcurrentExecutions", &[]),
            "Count",
            f64::from(account),
        ),
        (
            MetricId::new(
                NAMESPACE,
                "ConcurrentExecutions",
                &[("FunctionName", &rec.name)],
            ),
            "Count",
            f64::from(function),
        ),
    ]);
}
