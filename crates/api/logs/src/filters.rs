//! Metric and subscription filters over the logs store: `PutMetricFilter`,
//! `DeleteMetricFilter`, `DescribeMetricFilters`, `TestMetricFilter`,
//! `PutSubscriptionFilter`, `DescribeSubscriptionFilters`,
//! `DeleteSubscriptionFilter`.

use crate::LogsApi;
use crate::ops::{error, invalid, offset, page_of, required};
use nimbus_api_common::ApiError;
use nimbus_logs::{FilterPattern, Logs};
use serde_json::{Value, json};

pub(crate) fn execute(logs: &Logs, op: &str, p: &Value) -> Result<Value, ApiError> {
    let s = |k: &str| p.get(k).and_then(Value::as_str);
    let n = |k: &str| p.get(k).and_then(Value::as_u64);
    let group = || {
        LogsApi::group_of(p)
            .ok_or_else(|| invalid("logGroupName or logGroupIdentifier is required"))
    };
    Ok(match op {
        "PutMetricFilter" => {
            let t = nimbus_logs::metric_filters::transformations(
                p.get("metricTransformations").unwrap_or(&Value::Null),
            )
            .map_err(error)?;
            logs.put_metric_filter(
                &group()?,
                required(p, "filterName")?,
                required(p, "filterPattern")?,
                t,
            )
            .map_err(error)?;
            json!({})
        }
        "DeleteMetricFilter" => {
            logs.delete_metric_filter(&group()?, required(p, "filterName")?)
                .map_err(error)?;
            json!({})
        }
        "DescribeMetricFilters" => {
            let group = LogsApi::group_of(p);
            let prefix = s("filterNamePrefix").unwrap_or("");
            let all: Vec<Value> = logs
                .metric_filters(group.as_deref())
                .iter()
                .filter(|f| f.name.starts_with(prefix))
                .filter(|f| {
                    f.transformations.iter().any(|t| {
                        s("metricName").is_none_or(|n| t.metric_name == n)
                            && s("metricNamespace").is_none_or(|n| t.metric_namespace == n)
                    })
                })
                .map(|f| {
                    let t: Vec<Value> = f
                        .transformations
                        .iter()
                        .map(|t| {
                            let mut v = json!({"metricName": t.metric_name, "metricNamespace": t.metric_namespace,
                                               "metricValue": t.metric_value});
                            if let Some(d) = t.default_value {
                                v["defaultValue"] = json!(d);
                            }
                            if !t.dimensions.is_empty() {
                                v["dimensions"] = json!(t.dimensions);
                            }
                            if let Some(u) = &t.unit {
                                v["unit"] = json!(u);
                            }
                            v
                        })
                        .collect();
                    json!({"filterName": f.name, "filterPattern": f.pattern, "metricTransformations": t,
                           "creationTime": f.created_ms, "logGroupName": f.group})
                })
                .collect();
            page_of(
                all,
                offset(p),
                n("limit").map_or(50, |l| l as usize).clamp(1, 50),
                "metricFilters",
            )
        }
        "TestMetricFilter" => {
            let pattern = FilterPattern::parse(required(p, "filterPattern")?)
                .map_err(|e| invalid(format!("Invalid metric filter pattern: {e}")))?;
            let messages: Vec<&str> = p
                .get("logEventMessages")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            if messages.is_empty() || messages.len() > 50 {
                return Err(invalid(
                    "logEventMessages must have between 1 and 50 items.",
                ));
            }
            let matches: Vec<Value> = messages
                .iter()
                .enumerate()
                .filter(|(_, m)| pattern.matches(m))
                .map(|(i, m)| json!({"eventNumber": i + 1, "eventMessage": m, "extractedValues": {}}))
                .collect();
            json!({"matches": matches})
        }
        "PutSubscriptionFilter" => {
            let g = group()?;
            let name = required(p, "filterName")?;
            logs.put_subscription_filter(nimbus_logs::subscriptions::SubscriptionFilter {
                format: 1,
                key: format!("{g}\n{name}"),
                group: g.clone(),
                name: name.to_string(),
                pattern: required(p, "filterPattern")?.to_string(),
                destination: required(p, "destinationArn")?.to_string(),
                role_arn: s("roleArn").map(str::to_string),
                distribution: s("distribution").unwrap_or("ByLogStream").to_string(),
                created_ms: nimbus_model::time::now_millis(),
            })
            .map_err(error)?;
            json!({})
        }
        "DeleteSubscriptionFilter" => {
            logs.delete_subscription_filter(&group()?, required(p, "filterName")?)
                .map_err(error)?;
            json!({})
        }
        "DescribeSubscriptionFilters" => {
            let prefix = s("filterNamePrefix").unwrap_or("");
            let all: Vec<Value> = logs
                .subscription_filters(&group()?)
                .iter()
                .filter(|f| f.name.starts_with(prefix))
                .map(|f| {
                    let mut v = json!({"filterName": f.name, "logGroupName": f.group, "filterPattern": f.pattern,
                                       "destinationArn": f.destination, "distribution": f.distribution,
                                       "creationTime": f.created_ms});
                    if let Some(r) = &f.role_arn {
                        v["roleArn"] = json!(r);
                    }
                    v
                })
                .collect();
            page_of(
                all,
                offset(p),
                n("limit").map_or(50, |l| l as usize).clamp(1, 50),
                "subscriptionFilters",
            )
        }
        _ => unreachable!("not a filter operation: {op}"),
    })
}
