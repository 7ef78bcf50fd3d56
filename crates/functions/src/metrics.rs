//! Lambda's own CloudWatch metrics (`AWS/Lambda`): per invocation
//! `Invocations`, `Errors` and `Duration`, and `Throttles` when admission
//! refuses one, by `FunctionName`, by `FunctionName` and `Resource` (a
//! version or alias), and for the whole account, as Lambda publishes them.

use nimbus_metrics::{MetricId, Metrics};
use nimbus_model::FunctionRecord;

const NAMESPACE: &str = "AWS/Lambda";

/// The dimension sets a datapoint of `rec` (invoked as `qualifier`) goes to.
fn each(
    m: &Metrics,
    rec: &FunctionRecord,
    qualifier: Option<&str>,
    name: &str,
    unit: &str,
    value: f64,
) {
    m.record(MetricId::new(NAMESPACE, name, &[]), unit, value);
    m.record(
        MetricId::new(NAMESPACE, name, &[("FunctionName", &rec.name)]),
        unit,
        value,
    );
    if let Some(q) = qualifier.filter(|q| *q != "$LATEST") {
        let resource = format!("{}:{q}", rec.name);
        m.record(
            MetricId::new(
                NAMESPACE,
                name,
                &[("FunctionName", &rec.name), ("Resource", &resource)],
            ),
            unit,
            value,
        );
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
    each(m, rec, qualifier, "Invocations", "Count", 1.0);
    each(
        m,
        rec,
        qualifier,
        "Errors",
        "Count",
        if error { 1.0 } else { 0.0 },
    );
    each(m, rec, qualifier, "Duration", "Milliseconds", duration_ms);
}

/// One invocation refused for concurrency.
pub(crate) fn throttle(m: &Metrics, rec: &FunctionRecord) {
    each(m, rec, None, "Throttles", "Count", 1.0);
}
