//! The CloudWatch Logs API in its JSON protocol (`X-Amz-Target:
//! Logs_20140328.<Operation>`), reading what functions wrote: each
//! function's log file (`<data>/logs/NAME.log`, lines of `epoch ms`, log
//! stream and message, as the functions service writes them) is the log
//! group `/aws/lambda/NAME`. `DescribeLogGroups`, `DescribeLogStreams`,
//! `GetLogEvents` and `FilterLogEvents` (filter patterns of terms, quoted
//! phrases and `?` alternatives), so `aws logs tail` and `sam logs` read a
//! function's logs. Writing logs and metric filters are not here yet.

use bytes::Bytes;
use http::{Request, Response};
use nimbus_api_common::json::AwsJson;
use nimbus_api_common::{ApiError, BoxFuture, Service};
use serde_json::{Value, json};
use std::path::PathBuf;

/// CloudWatch Logs' awsJson framing.
pub const LOGS_JSON: AwsJson = AwsJson {
    target_prefixes: &["Logs_20140328"],
    error_namespace: "",
    content_type: "application/x-amz-json-1.1",
    crc32: false,
};

const GROUP_PREFIX: &str = "/aws/lambda/";
/// Events one page holds unless `limit` says fewer.
const PAGE: usize = 10_000;

pub struct LogsApi {
    root: PathBuf,
    account: String,
    region: String,
}

/// One stored event: epoch ms, stream, message, and its line number (its id).
struct Event {
    at: u64,
    stream: String,
    message: String,
    line: usize,
}

fn not_found(group: &str) -> ApiError {
    ApiError::bad_request(
        "ResourceNotFoundException",
        format!("The specified log group does not exist: {group}"),
    )
}

/// A filter pattern's terms: every plain term (or quoted phrase) must
/// appear; with `?` terms, any one of them must.
fn matches(pattern: &str, message: &str) -> bool {
    let pattern = pattern.trim();
    if pattern.is_empty() || pattern == "\"\"" {
        return true;
    }
    let mut all = Vec::new();
    let mut any = Vec::new();
    let mut rest = pattern;
    while !rest.is_empty() {
        rest = rest.trim_start();
        let (optional, r) = match rest.strip_prefix('?') {
            Some(r) => (true, r),
            None => (false, rest),
        };
        let (term, r) = if let Some(q) = r.strip_prefix('"') {
            match q.find('"') {
                Some(end) => (&q[..end], &q[end + 1..]),
                None => (q, ""),
            }
        } else {
            let end = r.find(char::is_whitespace).unwrap_or(r.len());
            (&r[..end], &r[end..])
        };
        if !term.is_empty() {
            if optional {
                any.push(term);
            } else {
                all.push(term);
            }
        }
        rest = r;
    }
    all.iter().all(|t| message.contains(t))
        && (any.is_empty() || any.iter().any(|t| message.contains(t)))
}

impl LogsApi {
    /// Logs under `root` (the data directory's `logs` folder).
    pub fn new(root: PathBuf, account: &str, region: &str) -> LogsApi {
        LogsApi {
            root,
            account: account.to_string(),
            region: region.to_string(),
        }
    }

    fn file(&self, group: &str) -> Result<PathBuf, ApiError> {
        let name = group
            .strip_prefix(GROUP_PREFIX)
            .ok_or_else(|| not_found(group))?;
        if name.is_empty() || name.contains('/') || name.contains("..") {
            return Err(not_found(group));
        }
        let path = self.root.join(format!("{name}.log"));
        if !path.is_file() {
            return Err(not_found(group));
        }
        Ok(path)
    }

    fn events(&self, group: &str) -> Result<Vec<Event>, ApiError> {
        let text = std::fs::read_to_string(self.file(group)?).map_err(|e| {
            ApiError::new(
                http::StatusCode::INTERNAL_SERVER_ERROR,
                "ServiceUnavailableException",
                e.to_string(),
            )
        })?;
        Ok(text
            .lines()
            .enumerate()
            .filter_map(|(line, l)| {
                let (ts, rest) = l.split_once('\t')?;
                let (stream, message) = rest.split_once('\t')?;
                Some(Event {
                    at: ts.parse().ok()?,
                    stream: stream.to_string(),
                    message: message.to_string(),
                    line,
                })
            })
            .collect())
    }

    fn group_arn(&self, group: &str) -> String {
        format!(
            "arn:aws:logs:{}:{}:log-group:{group}",
            self.region, self.account
        )
    }

    fn groups(&self, prefix: &str) -> Vec<Value> {
        let mut names: Vec<(String, u64, u64)> = std::fs::read_dir(&self.root)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let name = e
                    .file_name()
                    .to_string_lossy()
                    .strip_suffix(".log")?
                    .to_string();
                let meta = e.metadata().ok()?;
                let created = meta
                    .created()
                    .or_else(|_| meta.modified())
                    .ok()?
                    .duration_since(std::time::UNIX_EPOCH)
                    .ok()?
                    .as_millis() as u64;
                Some((format!("{GROUP_PREFIX}{name}"), created, meta.len()))
            })
            .filter(|(g, ..)| g.starts_with(prefix))
            .collect();
        names.sort();
        names
            .into_iter()
            .map(|(g, created, bytes)| {
                json!({"logGroupName": g, "creationTime": created, "storedBytes": bytes,
                       "arn": format!("{}:*", self.group_arn(&g)), "logGroupArn": self.group_arn(&g),
                       "metricFilterCount": 0})
            })
            .collect()
    }

    fn execute(&self, op: &str, p: &Value) -> Result<Value, ApiError> {
        let s = |k: &str| p.get(k).and_then(Value::as_str);
        let n = |k: &str| p.get(k).and_then(Value::as_u64);
        let group = || {
            s("logGroupName")
                .or_else(|| {
                    s("logGroupIdentifier").map(|i| i.rsplit("log-group:").next().unwrap_or(i))
                })
                .map(|g| g.trim_end_matches(":*").to_string())
                .ok_or_else(|| {
                    ApiError::bad_request("InvalidParameterException", "logGroupName is required")
                })
        };
        let limit = n("limit").map_or(PAGE, |l| l as usize).clamp(1, PAGE);
        let (start, end) = (
            n("startTime").unwrap_or(0),
            n("endTime").unwrap_or(u64::MAX),
        );
        let offset: usize = s("nextToken")
            .and_then(|t| t.strip_prefix("f/"))
            .and_then(|t| t.parse().ok())
            .unwrap_or(0);
        Ok(match op {
            "DescribeLogGroups" => {
                json!({"logGroups": self.groups(s("logGroupNamePrefix").unwrap_or(""))})
            }
            "DescribeLogStreams" => {
                let events = self.events(&group()?)?;
                let mut streams: std::collections::BTreeMap<&str, (u64, u64, u64)> =
                    std::collections::BTreeMap::new();
                for e in &events {
                    let s = streams.entry(&e.stream).or_insert((e.at, e.at, 0));
                    s.0 = s.0.min(e.at);
                    s.1 = s.1.max(e.at);
                    s.2 += e.message.len() as u64;
                }
                let prefix = s("logStreamNamePrefix").unwrap_or("");
                let mut list: Vec<Value> = streams
                    .into_iter()
                    .filter(|(name, _)| name.starts_with(prefix))
                    .map(|(name, (first, last, bytes))| {
                        json!({"logStreamName": name, "creationTime": first, "firstEventTimestamp": first,
                               "lastEventTimestamp": last, "lastIngestionTime": last, "storedBytes": bytes,
                               "arn": format!("{}:log-stream:{name}", self.group_arn(&group().unwrap_or_default()))})
                    })
                    .collect();
                if s("orderBy") == Some("LastEventTime") {
                    list.sort_by_key(|v| v["lastEventTimestamp"].as_u64());
                }
                if p.get("descending").and_then(Value::as_bool) == Some(true) {
                    list.reverse();
                }
                list.truncate(limit);
                json!({"logStreams": list})
            }
            "GetLogEvents" => {
                let stream = s("logStreamName").ok_or_else(|| {
                    ApiError::bad_request("InvalidParameterException", "logStreamName is required")
                })?;
                let mut events: Vec<Event> = self
                    .events(&group()?)?
                    .into_iter()
                    .filter(|e| e.stream == stream && e.at >= start && e.at < end)
                    .collect();
                if p.get("startFromHead").and_then(Value::as_bool) != Some(true) && offset == 0 {
                    let skip = events.len().saturating_sub(limit);
                    events.drain(..skip);
                }
                let page: Vec<Value> = events
                    .iter()
                    .skip(offset)
                    .take(limit)
                    .map(
                        |e| json!({"timestamp": e.at, "message": e.message, "ingestionTime": e.at}),
                    )
                    .collect();
                let next = offset + page.len();
                json!({"events": page, "nextForwardToken": format!("f/{next}"),
                       "nextBackwardToken": format!("b/{offset}")})
            }
            "FilterLogEvents" => {
                let g = group()?;
                let streams: Vec<String> = p
                    .get("logStreamNames")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect();
                let prefix = s("logStreamNamePrefix").unwrap_or("");
                let pattern = s("filterPattern").unwrap_or("");
                let all: Vec<Event> = self
                    .events(&g)?
                    .into_iter()
                    .filter(|e| e.at >= start && e.at < end)
                    .filter(|e| streams.is_empty() || streams.contains(&e.stream))
                    .filter(|e| e.stream.starts_with(prefix))
                    .filter(|e| matches(pattern, &e.message))
                    .collect();
                let page: Vec<Value> = all
                    .iter()
                    .skip(offset)
                    .take(limit)
                    .map(|e| json!({"logStreamName": e.stream, "timestamp": e.at, "message": e.message,
                                    "ingestionTime": e.at, "eventId": format!("{:020}{:010}", e.at, e.line)}))
                    .collect();
                let mut searched: Vec<&str> = all.iter().map(|e| e.stream.as_str()).collect();
                searched.sort_unstable();
                searched.dedup();
                let mut v = json!({"events": page, "searchedLogStreams": searched.iter()
                    .map(|s| json!({"logStreamName": s, "searchedCompletely": true})).collect::<Vec<_>>()});
                if offset + limit < all.len() {
                    v["nextToken"] = json!(format!("f/{}", offset + limit));
                }
                v
            }
            other => {
                return Err(ApiError::bad_request(
                    "UnknownOperationException",
                    format!("Nimbus's CloudWatch Logs does not serve {other} yet"),
                ));
            }
        })
    }

    pub fn handle(&self, req: Request<Bytes>, request_id: &str) -> Response<Bytes> {
        let call = match LOGS_JSON.call(&req) {
            Ok(c) => c,
            Err(e) => return LOGS_JSON.error(&e, request_id),
        };
        let op = call.operation.clone();
        let group = call
            .params
            .get("logGroupName")
            .and_then(Value::as_str)
            .unwrap_or("*")
            .to_string();
        if let Err(d) = nimbus_api_common::authz::authorize(req.extensions(), |s| {
            let action = format!("logs:{op}");
            if op == "DescribeLogGroups" {
                vec![nimbus_api_common::authz::Access::any(action)]
            } else {
                vec![nimbus_api_common::authz::Access::new(
                    action,
                    s.arn("logs", &format!("log-group:{group}:*")),
                )]
            }
        }) {
            let e = ApiError::bad_request("AccessDeniedException", d.message);
            return LOGS_JSON.error(&e, request_id);
        }
        match self.execute(&call.operation, &call.params) {
            Ok(v) => LOGS_JSON.respond(&v, request_id),
            Err(e) => LOGS_JSON.error(&e, request_id),
        }
    }
}

impl Service for LogsApi {
    fn signing_name(&self) -> &'static str {
        "logs"
    }

    fn owns(&self, req: &http::request::Parts) -> bool {
        LOGS_JSON.owns_request(req)
    }

    fn handle(&self, req: Request<Bytes>, request_id: String) -> BoxFuture<'_, Response<Bytes>> {
        Box::pin(async move { LogsApi::handle(self, req, &request_id) })
    }

    fn error(&self, err: &ApiError, request_id: &str) -> Response<Bytes> {
        LOGS_JSON.error(err, request_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_patterns_take_terms_phrases_and_alternatives() {
        assert!(matches("", "anything"));
        assert!(matches("ERROR", "an ERROR here"));
        assert!(!matches("ERROR timeout", "an ERROR here"));
        assert!(matches("\"took too long\"", "it took too long"));
        assert!(matches("?ERROR ?WARN", "a WARN"));
        assert!(!matches("?ERROR ?WARN", "fine"));
    }

    #[test]
    fn function_logs_are_log_groups() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("f.log"),
            "1000\ts1\tSTART x\n2000\ts1\thello\n3000\ts2\tbye\n",
        )
        .unwrap();
        let api = LogsApi::new(dir.path().to_path_buf(), "000000000000", "us-east-1");
        let groups = api.execute("DescribeLogGroups", &json!({})).unwrap();
        assert_eq!(groups["logGroups"][0]["logGroupName"], "/aws/lambda/f");
        let got = api
            .execute(
                "FilterLogEvents",
                &json!({"logGroupName": "/aws/lambda/f", "startTime": 1500}),
            )
            .unwrap();
        let messages: Vec<&str> = got["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["message"].as_str().unwrap())
            .collect();
        assert_eq!(messages, ["hello", "bye"]);
        let streams = api
            .execute(
                "DescribeLogStreams",
                &json!({"logGroupName": "/aws/lambda/f"}),
            )
            .unwrap();
        assert_eq!(streams["logStreams"].as_array().unwrap().len(), 2);
        let e = api
            .execute(
                "FilterLogEvents",
                &json!({"logGroupName": "/aws/lambda/nope"}),
            )
            .unwrap_err();
        assert_eq!(e.code, "ResourceNotFoundException");
        let e = api
            .execute(
                "FilterLogEvents",
                &json!({"logGroupName": "/aws/lambda/../x"}),
            )
            .unwrap_err();
        assert_eq!(e.code, "ResourceNotFoundException");
    }
}
