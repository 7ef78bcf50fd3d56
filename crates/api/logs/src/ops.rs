//! Each CloudWatch Logs operation: its members read, the store called, the
//! answer in CloudWatch Logs' shapes.

use crate::LogsApi;
use nimbus_api_common::ApiError;
use nimbus_logs::{Error, FilterPattern, InputEvent, Logs, Query};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Events one page holds unless `limit` says fewer.
const PAGE: usize = 10_000;

pub(crate) fn invalid(m: impl Into<String>) -> ApiError {
    ApiError::bad_request("InvalidParameterException", m)
}

pub(crate) fn error(e: Error) -> ApiError {
    match e {
        Error::NotFound(m) => ApiError::bad_request("ResourceNotFoundException", m),
        Error::AlreadyExists(m) => ApiError::bad_request("ResourceAlreadyExistsException", m),
        Error::Invalid(m) => invalid(m),
        Error::Limit(m) => ApiError::bad_request("LimitExceededException", m),
        other => {
            tracing::error!(error = %other, "the log store failed");
            ApiError::new(
                http::StatusCode::INTERNAL_SERVER_ERROR,
                "ServiceUnavailableException",
                "The log store could not be read or written.",
            )
        }
    }
}

pub(crate) fn required<'a>(p: &'a Value, k: &str) -> Result<&'a str, ApiError> {
    p.get(k).and_then(Value::as_str).ok_or_else(|| {
        invalid(format!(
            "1 validation error detected: Value null at '{k}' failed to satisfy constraint: Member must not be null"
        ))
    })
}

fn tags_of(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
        .collect()
}

fn group_view(logs: &Logs, g: &nimbus_logs::Group) -> Value {
    let mut v = json!({
        "logGroupName": g.name, "creationTime": g.created_ms,
        "metricFilterCount": logs.metric_filters(Some(&g.name)).len(),
        "arn": format!("{}:*", g.arn), "logGroupArn": g.arn, "storedBytes": 0,
        "logGroupClass": "STANDARD",
    });
    if let Some(d) = g.retention_days {
        v["retentionInDays"] = json!(d);
    }
    v
}

/// An offset token of this API's pages (`f/N`).
pub(crate) fn offset(p: &Value) -> usize {
    p.get("nextToken")
        .and_then(Value::as_str)
        .and_then(|t| t.strip_prefix("f/").or_else(|| t.strip_prefix("b/")))
        .and_then(|t| t.parse().ok())
        .unwrap_or(0)
}

pub(crate) fn execute(logs: &Logs, op: &str, p: &Value) -> Result<Value, ApiError> {
    let s = |k: &str| p.get(k).and_then(Value::as_str);
    let n = |k: &str| p.get(k).and_then(Value::as_u64);
    let group = || {
        LogsApi::group_of(p)
            .ok_or_else(|| invalid("logGroupName or logGroupIdentifier is required"))
    };
    let limit = n("limit").map_or(PAGE, |l| l as usize).clamp(1, PAGE);
    Ok(match op {
        "CreateLogGroup" => {
            logs.create_group(required(p, "logGroupName")?, tags_of(p.get("tags")))
                .map_err(error)?;
            json!({})
        }
        "DeleteLogGroup" => {
            logs.delete_group(required(p, "logGroupName")?)
                .map_err(error)?;
            json!({})
        }
        "DescribeLogGroups" => {
            let prefix = s("logGroupNamePrefix").unwrap_or("");
            let pattern = s("logGroupNamePattern");
            let all: Vec<Value> = logs
                .groups()
                .iter()
                .filter(|g| g.name.starts_with(prefix))
                .filter(|g| pattern.is_none_or(|x| g.name.contains(x)))
                .map(|g| group_view(logs, g))
                .collect();
            page_of(
                all,
                offset(p),
                n("limit").map_or(50, |l| l as usize).clamp(1, 50),
                "logGroups",
            )
        }
        "CreateLogStream" => {
            logs.create_stream(&group()?, required(p, "logStreamName")?)
                .map_err(error)?;
            json!({})
        }
        "DeleteLogStream" => {
            logs.delete_stream(&group()?, required(p, "logStreamName")?)
                .map_err(error)?;
            json!({})
        }
        "DescribeLogStreams" => describe_streams(logs, &group()?, p)?,
        "PutLogEvents" => {
            let events = p
                .get("logEvents")
                .and_then(Value::as_array)
                .ok_or_else(|| invalid("logEvents is required"))?
                .iter()
                .map(|e| {
                    Ok(InputEvent {
                        timestamp: e
                            .get("timestamp")
                            .and_then(Value::as_u64)
                            .ok_or_else(|| invalid("Each log event needs a timestamp."))?,
                        message: e
                            .get("message")
                            .and_then(Value::as_str)
                            .filter(|m| !m.is_empty())
                            .ok_or_else(|| {
                                invalid("Each log event needs a message of at least one character.")
                            })?
                            .to_string(),
                    })
                })
                .collect::<Result<Vec<_>, ApiError>>()?;
            let r = logs
                .put(&group()?, required(p, "logStreamName")?, &events)
                .map_err(error)?;
            let mut v = json!({});
            let mut info = serde_json::Map::new();
            if let Some(i) = r.too_new_start {
                info.insert("tooNewLogEventStartIndex".into(), json!(i));
            }
            if let Some(i) = r.too_old_end {
                info.insert("tooOldLogEventEndIndex".into(), json!(i));
            }
            if let Some(i) = r.expired_end {
                info.insert("expiredLogEventEndIndex".into(), json!(i));
            }
            if !info.is_empty() {
                v["rejectedLogEventsInfo"] = Value::Object(info);
            }
            v
        }
        "GetLogEvents" => {
            let stream = required(p, "logStreamName")?.to_string();
            let only = [stream];
            let q = Query {
                streams: &only,
                start: n("startTime"),
                end: n("endTime"),
                ..Query::default()
            };
            let mut events = logs.events(&group()?, &q).map_err(error)?;
            events.sort_by_key(|e| (e.timestamp, e.id));
            let from = offset(p);
            let head = p.get("startFromHead").and_then(Value::as_bool) == Some(true);
            let start = if head || p.get("nextToken").is_some() {
                from.min(events.len())
            } else {
                events.len().saturating_sub(limit)
            };
            let page: Vec<Value> = events[start..]
                .iter()
                .take(limit)
                .map(|e| json!({"timestamp": e.timestamp, "message": e.message, "ingestionTime": e.ingested}))
                .collect();
            let next = start + page.len();
            json!({"events": page, "nextForwardToken": format!("f/{next}"),
                   "nextBackwardToken": format!("b/{}", start.saturating_sub(limit))})
        }
        "FilterLogEvents" => filter_events(logs, &group()?, p, limit)?,
        "PutRetentionPolicy" => {
            let days =
                n("retentionInDays").ok_or_else(|| invalid("retentionInDays is required"))?;
            logs.set_retention(&group()?, Some(u32::try_from(days).unwrap_or(u32::MAX)))
                .map_err(error)?;
            json!({})
        }
        "DeleteRetentionPolicy" => {
            logs.set_retention(&group()?, None).map_err(error)?;
            json!({})
        }
        "TagLogGroup" | "TagResource" => {
            let tags = tags_of(p.get("tags"));
            if tags.len() > 50 {
                return Err(invalid("A log group may have at most 50 tags."));
            }
            logs.change_group(&group()?, |g| g.tags.extend(tags))
                .map_err(error)?;
            json!({})
        }
        "UntagLogGroup" | "UntagResource" => {
            let keys: Vec<String> = p
                .get("tags")
                .or_else(|| p.get("tagKeys"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|k| k.as_str().map(str::to_string))
                .collect();
            logs.change_group(&group()?, |g| g.tags.retain(|k, _| !keys.contains(k)))
                .map_err(error)?;
            json!({})
        }
        "ListTagsLogGroup" | "ListTagsForResource" => {
            let g = logs.group(&group()?).map_err(error)?;
            json!({"tags": g.tags})
        }
        "PutMetricFilter"
        | "DeleteMetricFilter"
        | "DescribeMetricFilters"
        | "TestMetricFilter"
        | "PutSubscriptionFilter"
        | "DeleteSubscriptionFilter"
        | "DescribeSubscriptionFilters" => {
            return crate::filters::execute(logs, op, p);
        }
        other => {
            return Err(ApiError::bad_request(
                "UnknownOperationException",
                format!("Nimbus's CloudWatch Logs does not serve {other} yet"),
            ));
        }
    })
}

pub(crate) fn page_of(all: Vec<Value>, from: usize, limit: usize, key: &str) -> Value {
    let total = all.len();
    let page: Vec<Value> = all.into_iter().skip(from).take(limit).collect();
    let mut v = json!({ key: page });
    if from + limit < total {
        v["nextToken"] = json!(format!("f/{}", from + limit));
    }
    v
}

fn describe_streams(logs: &Logs, group: &str, p: &Value) -> Result<Value, ApiError> {
    let s = |k: &str| p.get(k).and_then(Value::as_str);
    let prefix = s("logStreamNamePrefix").unwrap_or("");
    let by_time = s("orderBy") == Some("LastEventTime");
    if by_time && !prefix.is_empty() {
        return Err(invalid(
            "Cannot order by LastEventTime with a logStreamNamePrefix.",
        ));
    }
    let arn = logs.group_arn(group);
    let mut list: Vec<(u64, Value)> = logs
        .streams(group)
        .map_err(error)?
        .into_iter()
        .filter(|(st, _)| st.name.starts_with(prefix))
        .map(|(st, stats)| {
            let mut v = json!({"logStreamName": st.name, "creationTime": st.created_ms,
                "arn": format!("{arn}:log-stream:{}", st.name), "storedBytes": 0});
            if let Some(f) = stats.first {
                v["firstEventTimestamp"] = json!(f);
            }
            if let Some(l) = stats.last {
                v["lastEventTimestamp"] = json!(l);
            }
            if let Some(i) = stats.last_ingestion {
                v["lastIngestionTime"] = json!(i);
            }
            (stats.last.unwrap_or(0), v)
        })
        .collect();
    if by_time {
        list.sort_by_key(|(t, _)| *t);
    }
    if p.get("descending").and_then(Value::as_bool) == Some(true) {
        list.reverse();
    }
    let limit = p
        .get("limit")
        .and_then(Value::as_u64)
        .map_or(50, |l| l as usize)
        .clamp(1, 50);
    Ok(page_of(
        list.into_iter().map(|(_, v)| v).collect(),
        offset(p),
        limit,
        "logStreams",
    ))
}

fn filter_events(logs: &Logs, group: &str, p: &Value, limit: usize) -> Result<Value, ApiError> {
    let s = |k: &str| p.get(k).and_then(Value::as_str);
    let streams: Vec<String> = p
        .get("logStreamNames")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    if !streams.is_empty() && s("logStreamNamePrefix").is_some() {
        return Err(invalid(
            "You cannot specify both logStreamNames and logStreamNamePrefix.",
        ));
    }
    let pattern = FilterPattern::parse(s("filterPattern").unwrap_or(""))
        .map_err(|e| invalid(format!("Invalid filter pattern: {e}")))?;
    let q = Query {
        streams: &streams,
        stream_prefix: s("logStreamNamePrefix"),
        start: p.get("startTime").and_then(Value::as_u64),
        end: p.get("endTime").and_then(Value::as_u64),
    };
    let mut all = logs.events(group, &q).map_err(error)?;
    all.retain(|e| pattern.matches(&e.message));
    all.sort_by_key(|e| (e.timestamp, e.id));
    let from = offset(p);
    let page: Vec<Value> = all
        .iter()
        .skip(from)
        .take(limit)
        .map(|e| {
            json!({"logStreamName": e.stream, "timestamp": e.timestamp, "message": e.message,
                   "ingestionTime": e.ingested,
                   "eventId": format!("{:020}{:010}{:010}", e.timestamp, e.id.0, e.id.1)})
        })
        .collect();
    let mut searched: Vec<&str> = all.iter().map(|e| e.stream.as_str()).collect();
    searched.sort_unstable();
    searched.dedup();
    let mut v = json!({"events": page, "searchedLogStreams": searched.iter()
        .map(|s| json!({"logStreamName": s, "searchedCompletely": true})).collect::<Vec<_>>()});
    if from + limit < all.len() {
        v["nextToken"] = json!(format!("f/{}", from + limit));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn logs(dir: &std::path::Path) -> Logs {
        let kv: Arc<dyn nimbus_storage::KvEngine> =
            Arc::new(nimbus_storage_embedded::EmbeddedKv::open(&dir.join("kv.redb")).unwrap());
        Logs::open(dir.join("logs"), kv, "000000000000", "us-east-1").unwrap()
    }

    #[test]
    fn groups_streams_events_and_filters() {
        let dir = tempfile::tempdir().unwrap();
        let l = logs(dir.path());
        execute(
            &l,
            "CreateLogGroup",
            &json!({"logGroupName": "/app", "tags": {"team": "a"}}),
        )
        .unwrap();
        let e = execute(&l, "CreateLogGroup", &json!({"logGroupName": "/app"})).unwrap_err();
        assert_eq!(e.code, "ResourceAlreadyExistsException");
        execute(
            &l,
            "CreateLogStream",
            &json!({"logGroupName": "/app", "logStreamName": "s"}),
        )
        .unwrap();
        let now = nimbus_model::time::now_millis();
        execute(
            &l,
            "PutLogEvents",
            &json!({"logGroupName": "/app", "logStreamName": "s", "logEvents": [
            {"timestamp": now, "message": "{\"level\": \"ERROR\", \"ms\": 120}"},
            {"timestamp": now + 1, "message": "{\"level\": \"INFO\", \"ms\": 5}"}]}),
        )
        .unwrap();
        let got = execute(
            &l,
            "FilterLogEvents",
            &json!({"logGroupName": "/app",
            "filterPattern": "{ $.level = \"ERROR\" && $.ms > 100 }"}),
        )
        .unwrap();
        assert_eq!(got["events"].as_array().unwrap().len(), 1);
        let e = execute(
            &l,
            "FilterLogEvents",
            &json!({"logGroupName": "/app", "filterPattern": "{ $.x = "}),
        )
        .unwrap_err();
        assert_eq!(e.code, "InvalidParameterException");
        let got = execute(
            &l,
            "GetLogEvents",
            &json!({"logGroupName": "/app", "logStreamName": "s", "limit": 1}),
        )
        .unwrap();
        assert!(
            got["events"][0]["message"]
                .as_str()
                .unwrap()
                .contains("INFO"),
            "the latest, from the tail"
        );
        let streams = execute(&l, "DescribeLogStreams", &json!({"logGroupName": "/app"})).unwrap();
        assert_eq!(
            streams["logStreams"][0]["lastEventTimestamp"],
            json!(now + 1)
        );
        let tags = execute(
            &l,
            "ListTagsForResource",
            &json!({"resourceArn": "arn:aws:logs:us-east-1:000000000000:log-group:/app"}),
        )
        .unwrap();
        assert_eq!(tags["tags"], json!({"team": "a"}));
        execute(
            &l,
            "PutRetentionPolicy",
            &json!({"logGroupName": "/app", "retentionInDays": 7}),
        )
        .unwrap();
        let groups = execute(
            &l,
            "DescribeLogGroups",
            &json!({"logGroupNamePrefix": "/ap"}),
        )
        .unwrap();
        assert_eq!(groups["logGroups"][0]["retentionInDays"], 7);
        execute(&l, "DeleteLogGroup", &json!({"logGroupName": "/app"})).unwrap();
        let e = execute(
            &l,
            "GetLogEvents",
            &json!({"logGroupName": "/app", "logStreamName": "s"}),
        )
        .unwrap_err();
        assert_eq!(e.code, "ResourceNotFoundException");
    }
}
