//! CloudWatch's alarm operations over `nimbus-metrics`' alarms:
//! `PutMetricAlarm`, `DescribeAlarms`, `DescribeAlarmsForMetric`,
//! `DeleteAlarms`, `SetAlarmState`, `DescribeAlarmHistory`,
//! `EnableAlarmActions`, `DisableAlarmActions`, and composite alarms
//! (`PutCompositeAlarm`; `DescribeAlarms` with `AlarmTypes`).

use crate::ops::{dimensions, invalid, missing, store_failed, text};
use nimbus_api_common::ApiError;
use nimbus_metrics::MetricId;
use nimbus_metrics::alarms::{Alarm, AlarmQuery, Alarms, Error};
use serde_json::{Value, json};

fn error(e: Error) -> ApiError {
    match e {
        Error::Invalid(m) => invalid(m),
        Error::NotFound(m) => ApiError::bad_request("ResourceNotFound", m),
        Error::Storage(e) => store_failed("The alarm could not be stored.", &e),
    }
}

fn strings(p: &Value, k: &str) -> Vec<String> {
    p.get(k)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

fn seconds(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

/// A composite alarm as `DescribeAlarms` shows it.
fn composite_view(a: &Alarm) -> Value {
    let mut v = json!({
        "AlarmName": a.name, "AlarmArn": a.arn, "AlarmRule": a.rule,
        "AlarmConfigurationUpdatedTimestamp": seconds(a.configuration_updated_ms),
        "ActionsEnabled": a.actions_enabled, "OKActions": a.ok_actions,
        "AlarmActions": a.alarm_actions, "InsufficientDataActions": a.insufficient_actions,
        "StateValue": a.state, "StateReason": a.reason,
        "StateUpdatedTimestamp": seconds(a.state_updated_ms),
        "StateTransitionedTimestamp": seconds(a.state_updated_ms),
    });
    for (k, x) in [
        ("AlarmDescription", &a.description),
        ("StateReasonData", &a.reason_data),
    ] {
        if let Some(x) = x {
            v[k] = json!(x);
        }
    }
    v
}

fn view(a: &Alarm) -> Value {
    let mut v = json!({
        "AlarmName": a.name, "AlarmArn": a.arn,
        "AlarmConfigurationUpdatedTimestamp": seconds(a.configuration_updated_ms),
        "ActionsEnabled": a.actions_enabled, "OKActions": a.ok_actions,
        "AlarmActions": a.alarm_actions, "InsufficientDataActions": a.insufficient_actions,
        "StateValue": a.state, "StateReason": a.reason,
        "StateUpdatedTimestamp": seconds(a.state_updated_ms),
        "StateTransitionedTimestamp": seconds(a.state_updated_ms),
        "MetricName": a.metric.name, "Namespace": a.metric.namespace,
        "Dimensions": a.metric.dimensions.iter().map(|(k, v)| json!({"Name": k, "Value": v})).collect::<Vec<_>>(),
        "Period": a.period_s, "EvaluationPeriods": a.evaluation_periods,
        "DatapointsToAlarm": a.datapoints_to_alarm, "Threshold": a.threshold,
        "ComparisonOperator": a.comparison, "TreatMissingData": a.treat_missing,
    });
    if a.queries.is_empty() {
        v[if a.extended {
            "ExtendedStatistic"
        } else {
            "Statistic"
        }] = json!(a.statistic);
    } else if let Some(o) = v.as_object_mut() {
        for k in ["MetricName", "Namespace", "Dimensions", "Period"] {
            o.remove(k);
        }
        o.insert("Metrics".into(), a.queries.iter().map(query_view).collect());
    }
    for (k, x) in [
        ("AlarmDescription", &a.description),
        ("StateReasonData", &a.reason_data),
        ("Unit", &a.unit),
    ] {
        if let Some(x) = x {
            v[k] = json!(x);
        }
    }
    v
}

pub(crate) fn execute(alarms: &Alarms, op: &str, p: &Value) -> Result<Value, ApiError> {
    Ok(match op {
        "PutMetricAlarm" => {
            put(alarms, p)?;
            json!({})
        }
        "DescribeAlarms" => {
            let names = strings(p, "AlarmNames");
            let prefix = text(p, "AlarmNamePrefix");
            if !names.is_empty() && prefix.is_some() {
                return Err(ApiError::bad_request(
                    "InvalidParameterCombination",
                    "AlarmNames and AlarmNamePrefix cannot be used together.",
                ));
            }
            let state = text(p, "StateValue");
            let action = text(p, "ActionPrefix");
            let types = strings(p, "AlarmTypes");
            // Without AlarmTypes, only metric alarms are described.
            let metric_alarms = types.is_empty() || types.iter().any(|t| t == "MetricAlarm");
            let composites = types.iter().any(|t| t == "CompositeAlarm");
            let chosen: Vec<_> = alarms
                .all()
                .into_iter()
                .filter(|a| names.is_empty() || names.contains(&a.name))
                .filter(|a| prefix.is_none_or(|x| a.name.starts_with(x)))
                .filter(|a| state.is_none_or(|s| a.state == s))
                .filter(|a| {
                    action.is_none_or(|x| {
                        a.alarm_actions
                            .iter()
                            .chain(&a.ok_actions)
                            .chain(&a.insufficient_actions)
                            .any(|t| t.starts_with(x))
                    })
                })
                .collect();
            let list: Vec<Value> = chosen
                .iter()
                .filter(|a| metric_alarms && !a.is_composite())
                .map(|a| view(a))
                .collect();
            let composite: Vec<Value> = chosen
                .iter()
                .filter(|a| composites && a.is_composite())
                .map(|a| composite_view(a))
                .collect();
            json!({"MetricAlarms": list, "CompositeAlarms": composite})
        }
        "PutCompositeAlarm" => {
            put_composite(alarms, p)?;
            json!({})
        }
        "DescribeAlarmsForMetric" => {
            let namespace = text(p, "Namespace").ok_or_else(|| missing("Namespace"))?;
            let name = text(p, "MetricName").ok_or_else(|| missing("MetricName"))?;
            let dims = dimensions(p)?;
            let list: Vec<Value> = alarms
                .all()
                .iter()
                .filter(|a| !a.is_composite())
                .filter(|a| a.metric.namespace == namespace && a.metric.name == name)
                .filter(|a| dims.is_empty() || a.metric.dimensions == dims)
                .map(|a| view(a))
                .collect();
            json!({"MetricAlarms": list})
        }
        "DeleteAlarms" => {
            alarms.delete(&strings(p, "AlarmNames")).map_err(error)?;
            json!({})
        }
        "SetAlarmState" => {
            alarms
                .set_state(
                    text(p, "AlarmName").ok_or_else(|| missing("AlarmName"))?,
                    text(p, "StateValue").ok_or_else(|| missing("StateValue"))?,
                    text(p, "StateReason").ok_or_else(|| missing("StateReason"))?,
                    text(p, "StateReasonData"),
                )
                .map_err(error)?;
            json!({})
        }
        "EnableAlarmActions" | "DisableAlarmActions" => {
            alarms
                .set_actions_enabled(&strings(p, "AlarmNames"), op == "EnableAlarmActions")
                .map_err(error)?;
            json!({})
        }
        "DescribeAlarmHistory" => {
            let kind = text(p, "HistoryItemType");
            let from = p
                .get("StartDate")
                .and_then(Value::as_f64)
                .map(|s| (s * 1000.0) as u64);
            let to = p
                .get("EndDate")
                .and_then(Value::as_f64)
                .map(|s| (s * 1000.0) as u64);
            let max = p
                .get("MaxRecords")
                .and_then(Value::as_u64)
                .unwrap_or(100)
                .clamp(1, 100) as usize;
            let mut items: Vec<Value> = alarms
                .history(text(p, "AlarmName"))
                .iter()
                .filter(|h| kind.is_none_or(|k| h.kind == k))
                .filter(|h| from.is_none_or(|f| h.at_ms >= f) && to.is_none_or(|t| h.at_ms <= t))
                .take(max)
                .map(|h| json!({"AlarmName": h.alarm,
                                "AlarmType": if alarms.get(&h.alarm).is_some_and(|a| a.is_composite()) { "CompositeAlarm" } else { "MetricAlarm" },
                                "Timestamp": seconds(h.at_ms),
                                "HistoryItemType": h.kind, "HistorySummary": h.summary, "HistoryData": h.data}))
                .collect();
            if text(p, "ScanBy") == Some("TimestampAscending") {
                items.reverse();
            }
            json!({"AlarmHistoryItems": items})
        }
        other => {
            return Err(ApiError::bad_request(
                "UnknownOperationException",
                format!("Nimbus's CloudWatch does not serve {other} yet"),
            ));
        }
    })
}

/// A metric math alarm's `Metrics`: metric statistics and expressions.
fn queries(p: &Value) -> Result<Vec<AlarmQuery>, ApiError> {
    let Some(list) = p.get("Metrics").and_then(Value::as_array) else {
        return Ok(Vec::new());
    };
    if p.get("MetricName").is_some()
        || p.get("Statistic").is_some()
        || p.get("ExtendedStatistic").is_some()
    {
        return Err(ApiError::bad_request(
            "InvalidParameterCombination",
            "Metrics cannot be given with MetricName, Namespace, Statistic or ExtendedStatistic.",
        ));
    }
    list.iter()
        .map(|q| {
            let id = text(q, "Id").ok_or_else(|| missing("Metrics.member.Id"))?;
            let (metric, stat, period) = match q.get("MetricStat") {
                Some(ms) => {
                    let m = ms
                        .get("Metric")
                        .ok_or_else(|| missing("Metrics.member.MetricStat.Metric"))?;
                    let metric = MetricId {
                        namespace: text(m, "Namespace")
                            .ok_or_else(|| missing("MetricStat.Metric.Namespace"))?
                            .to_string(),
                        name: text(m, "MetricName")
                            .ok_or_else(|| missing("MetricStat.Metric.MetricName"))?
                            .to_string(),
                        dimensions: dimensions(m)?,
                    };
                    let stat = text(ms, "Stat").ok_or_else(|| missing("MetricStat.Stat"))?;
                    let period = ms
                        .get("Period")
                        .and_then(Value::as_u64)
                        .ok_or_else(|| missing("MetricStat.Period"))?;
                    (Some(metric), Some(stat.to_string()), Some(period))
                }
                None => (None, None, q.get("Period").and_then(Value::as_u64)),
            };
            Ok(AlarmQuery {
                id: id.to_string(),
                metric,
                stat,
                period_s: period,
                expression: text(q, "Expression").map(str::to_string),
                label: text(q, "Label").map(str::to_string),
                return_data: q.get("ReturnData").and_then(Value::as_bool).unwrap_or(true),
            })
        })
        .collect()
}

fn query_view(q: &AlarmQuery) -> Value {
    let mut v = json!({"Id": q.id, "ReturnData": q.return_data});
    if let (Some(m), Some(stat)) = (&q.metric, &q.stat) {
        v["MetricStat"] = json!({
            "Metric": {"Namespace": m.namespace, "MetricName": m.name,
                       "Dimensions": m.dimensions.iter().map(|(k, x)| json!({"Name": k, "Value": x})).collect::<Vec<_>>()},
            "Period": q.period_s, "Stat": stat});
    }
    if let Some(e) = &q.expression {
        v["Expression"] = json!(e);
        if let Some(p) = q.period_s {
            v["Period"] = json!(p);
        }
    }
    if let Some(l) = &q.label {
        v["Label"] = json!(l);
    }
    v
}

/// `PutMetricAlarm`: on a metric's statistic, or (with `Metrics`) on the
/// series a metric math query returns.
fn put(alarms: &Alarms, p: &Value) -> Result<(), ApiError> {
    let name = text(p, "AlarmName").ok_or_else(|| missing("AlarmName"))?;
    if p.get("ThresholdMetricId").is_some() {
        return Err(invalid(
            "Nimbus's alarms compare with a Threshold; anomaly detection bands (ThresholdMetricId) are not built yet.",
        ));
    }
    let mut alarm = common(p, name)?;
    threshold_rule(p, &mut alarm)?;
    let queries = queries(p)?;
    if !queries.is_empty() {
        // The alarm watches the series of the query that returns data; its
        // period is that query's (or the first metric's).
        let returned = queries.iter().find(|q| q.return_data);
        alarm.period_s = returned
            .and_then(|q| q.period_s)
            .or_else(|| queries.iter().find_map(|q| q.period_s))
            .ok_or_else(|| missing("Metrics.member.MetricStat.Period"))?;
        alarm.queries = queries;
        return alarms.put(alarm).map_err(error);
    }
    (alarm.statistic, alarm.extended) = match (text(p, "Statistic"), text(p, "ExtendedStatistic")) {
        (Some(s), None) => {
            if !matches!(s, "SampleCount" | "Average" | "Sum" | "Minimum" | "Maximum") {
                return Err(invalid(format!(
                    "The value {s} for parameter Statistic is invalid."
                )));
            }
            (s.to_string(), false)
        }
        (None, Some(e)) => {
            if e.strip_prefix('p')
                .and_then(|q| q.parse::<f64>().ok())
                .is_none_or(|q| !(0.0..=100.0).contains(&q))
            {
                return Err(invalid(format!(
                    "The value {e} for parameter ExtendedStatistic is invalid."
                )));
            }
            (e.to_string(), true)
        }
        _ => {
            return Err(ApiError::bad_request(
                "InvalidParameterCombination",
                "Exactly one of Statistic and ExtendedStatistic must be given.",
            ));
        }
    };
    alarm.metric = MetricId {
        namespace: text(p, "Namespace")
            .ok_or_else(|| missing("Namespace"))?
            .to_string(),
        name: text(p, "MetricName")
            .ok_or_else(|| missing("MetricName"))?
            .to_string(),
        dimensions: dimensions(p)?,
    };
    alarm.unit = text(p, "Unit").map(str::to_string);
    alarm.period_s = p
        .get("Period")
        .and_then(Value::as_u64)
        .ok_or_else(|| missing("Period"))?;
    alarms.put(alarm).map_err(error)
}

/// What every alarm is given the same way: its name, description, actions
/// (at most five of each kind) and tags; the rest is left empty.
fn common(p: &Value, name: &str) -> Result<Alarm, ApiError> {
    let actions = |k: &str| -> Result<Vec<String>, ApiError> {
        let list = strings(p, k);
        if list.len() > 5 {
            return Err(invalid(format!(
                "The collection {k} must not have more than 5 items."
            )));
        }
        Ok(list)
    };
    Ok(Alarm {
        format: 0,
        name: name.to_string(),
        arn: String::new(),
        description: text(p, "AlarmDescription").map(str::to_string),
        metric: MetricId::new("", "", &[]),
        statistic: String::new(),
        extended: false,
        unit: None,
        period_s: 0,
        evaluation_periods: 0,
        datapoints_to_alarm: 0,
        threshold: 0.0,
        comparison: String::new(),
        treat_missing: String::new(),
        actions_enabled: p
            .get("ActionsEnabled")
            .and_then(Value::as_bool)
            .unwrap_or(true),
        alarm_actions: actions("AlarmActions")?,
        ok_actions: actions("OKActions")?,
        insufficient_actions: actions("InsufficientDataActions")?,
        state: String::new(),
        reason: String::new(),
        reason_data: None,
        state_updated_ms: 0,
        configuration_updated_ms: 0,
        tags: p
            .get("Tags")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|t| Some((text(t, "Key")?.to_string(), text(t, "Value")?.to_string())))
            .collect(),
        rule: None,
        queries: Vec::new(),
    })
}

/// A metric alarm's comparison: how many periods, how many of them must
/// breach, the threshold and operator, and what missing data counts as.
fn threshold_rule(p: &Value, alarm: &mut Alarm) -> Result<(), ApiError> {
    alarm.evaluation_periods = p
        .get("EvaluationPeriods")
        .and_then(Value::as_u64)
        .ok_or_else(|| missing("EvaluationPeriods"))?;
    alarm.datapoints_to_alarm = p
        .get("DatapointsToAlarm")
        .and_then(Value::as_u64)
        .unwrap_or(alarm.evaluation_periods);
    alarm.threshold = p
        .get("Threshold")
        .and_then(Value::as_f64)
        .ok_or_else(|| missing("Threshold"))?;
    alarm.comparison = text(p, "ComparisonOperator")
        .ok_or_else(|| missing("ComparisonOperator"))?
        .to_string();
    alarm.treat_missing = text(p, "TreatMissingData").unwrap_or("missing").to_string();
    Ok(())
}

/// `PutCompositeAlarm`: a rule over other alarms, with actions.
fn put_composite(alarms: &Alarms, p: &Value) -> Result<(), ApiError> {
    let name = text(p, "AlarmName").ok_or_else(|| missing("AlarmName"))?;
    let rule = text(p, "AlarmRule").ok_or_else(|| missing("AlarmRule"))?;
    let mut alarm = common(p, name)?;
    alarm.rule = Some(rule.to_string());
    alarms.put(alarm).map_err(error)
}
