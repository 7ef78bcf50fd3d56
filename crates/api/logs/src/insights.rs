//! Logs Insights through the API: `StartQuery` runs the query at once over
//! the groups it names (Insights' language, `nimbus_logs::insights`) and
//! keeps the outcome, `GetQueryResults` returns it (status `Complete`),
//! `StopQuery`, `DescribeQueries`, and `GetLogRecord` for a result's `@ptr`.
//! The last [`KEPT`] queries are kept, in memory.

use crate::ops::{error, invalid, required};
use nimbus_api_common::ApiError;
use nimbus_logs::insights::{self, InsightsQuery};
use nimbus_logs::{Logs, Query};
use nimbus_model::time::now_millis;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::Mutex;

/// Queries remembered for `GetQueryResults` and `DescribeQueries`.
const KEPT: usize = 100;
/// Log groups one query may read (Insights' limit).
const MAX_GROUPS: usize = 50;

struct Run {
    id: String,
    query: String,
    groups: Vec<String>,
    created_ms: u64,
    duration_ms: u64,
    status: &'static str,
    outcome: insights::Outcome,
}

#[derive(Default)]
pub(crate) struct Queries {
    runs: Mutex<VecDeque<Run>>,
}

fn malformed(e: &insights::QueryError) -> ApiError {
    let mut err = ApiError::bad_request("MalformedQueryException", e.message.clone());
    err.extra.push((
        "queryCompileError".into(),
        json!({"location": {"startCharOffset": e.start, "endCharOffset": e.end}, "message": e.message}),
    ));
    err
}

/// The groups a `StartQuery` names, by name or ARN.
pub(crate) fn groups_of(p: &Value) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    if let Some(g) = p.get("logGroupName").and_then(Value::as_str) {
        out.push(g.to_string());
    }
    for k in ["logGroupNames", "logGroupIdentifiers"] {
        for g in p.get(k).and_then(Value::as_array).into_iter().flatten() {
            if let Some(g) = g.as_str() {
                let name = g.rsplit("log-group:").next().unwrap_or(g);
                out.push(name.trim_end_matches(":*").to_string());
            }
        }
    }
    out.dedup();
    out
}

impl Queries {
    pub(crate) fn execute(
        &self,
        logs: &Logs,
        op: &str,
        p: &Value,
    ) -> Option<Result<Value, ApiError>> {
        Some(match op {
            "StartQuery" => self.start(logs, p),
            "GetQueryResults" => self.results(p),
            "StopQuery" => self.stop(p),
            "DescribeQueries" => Ok(self.describe(p)),
            "GetLogRecord" => get_log_record(logs, p),
            _ => return None,
        })
    }

    fn start(&self, logs: &Logs, p: &Value) -> Result<Value, ApiError> {
        let text = required(p, "queryString")?;
        if p.get("queryLanguage")
            .and_then(Value::as_str)
            .is_some_and(|l| l != "CWLI")
        {
            return Err(invalid(
                "Only the CloudWatch Logs Insights query language (CWLI) is supported",
            ));
        }
        let secs = |k: &str| {
            p.get(k)
                .and_then(Value::as_i64)
                .ok_or_else(|| invalid(format!("1 validation error detected: Value null at '{k}' failed to satisfy constraint: Member must not be null")))
        };
        let (start, end) = (secs("startTime")?, secs("endTime")?);
        if end < start {
            return Err(invalid(
                "endTime must be greater than or equal to startTime",
            ));
        }
        let groups = groups_of(p);
        if groups.is_empty() {
            return Err(invalid(
                "A query names at least one log group (logGroupName, logGroupNames or logGroupIdentifiers)",
            ));
        }
        if groups.len() > MAX_GROUPS {
            return Err(invalid(format!(
                "A query reads at most {MAX_GROUPS} log groups"
            )));
        }
        let limit = match p.get("limit").and_then(Value::as_u64) {
            Some(l) if (1..=insights::MAX_RESULTS as u64).contains(&l) => l as usize,
            Some(l) => {
                return Err(invalid(format!(
                    "1 validation error detected: Value '{l}' at 'limit' failed to satisfy constraint: Member must have value between 1 and 10000"
                )));
            }
            None => insights::MAX_RESULTS,
        };
        let query = InsightsQuery::parse(text).map_err(|e| malformed(&e))?;
        let t = std::time::Instant::now();
        let range = Query {
            start: Some(u64::try_from(start.max(0)).unwrap_or(0) * 1000),
            // endTime is inclusive, to the second.
            end: Some((u64::try_from(end.max(0)).unwrap_or(0) + 1) * 1000),
            ..Query::default()
        };
        let mut records = Vec::new();
        for g in &groups {
            let events = logs.events(g, &range).map_err(error)?;
            records.extend(
                events
                    .iter()
                    .map(|e| (e.timestamp, insights::record(logs.account(), g, e))),
            );
        }
        // Oldest first across groups.
        records.sort_by_key(|(t, _)| *t);
        let outcome = query.run(records.into_iter().map(|(_, r)| r), limit);
        let id = uuid_like();
        let run = Run {
            id: id.clone(),
            query: text.to_string(),
            groups,
            created_ms: now_millis(),
            duration_ms: t.elapsed().as_millis() as u64,
            status: "Complete",
            outcome,
        };
        let mut runs = self.runs.lock().expect("queries lock");
        runs.push_back(run);
        while runs.len() > KEPT {
            runs.pop_front();
        }
        Ok(json!({"queryId": id}))
    }

    fn results(&self, p: &Value) -> Result<Value, ApiError> {
        let id = required(p, "queryId")?;
        let runs = self.runs.lock().expect("queries lock");
        let Some(run) = runs.iter().find(|r| r.id == id) else {
            return Err(ApiError::bad_request(
                "ResourceNotFoundException",
                format!("Query does not exist: {id}"),
            ));
        };
        let o = &run.outcome;
        let results: Vec<Value> = o
            .rows
            .iter()
            .map(|row| {
                Value::Array(
                    row.iter()
                        .map(|(f, v)| json!({"field": f, "value": v}))
                        .collect(),
                )
            })
            .collect();
        Ok(json!({
            "queryLanguage": "CWLI",
            "results": results,
            "statistics": {"recordsMatched": o.records_matched as f64, "recordsScanned": o.records_scanned as f64,
                           "bytesScanned": o.bytes_scanned as f64, "logGroupsScanned": run.groups.len() as f64},
            "status": run.status,
        }))
    }

    fn stop(&self, p: &Value) -> Result<Value, ApiError> {
        let id = required(p, "queryId")?;
        let runs = self.runs.lock().expect("queries lock");
        match runs.iter().find(|r| r.id == id) {
            // Queries finish when they start: nothing is left running to stop.
            Some(_) => Err(ApiError::bad_request(
                "InvalidParameterException",
                format!("Query {id} is not running: it is Complete"),
            )),
            None => Err(ApiError::bad_request(
                "ResourceNotFoundException",
                format!("Query does not exist: {id}"),
            )),
        }
    }

    fn describe(&self, p: &Value) -> Value {
        let group = p.get("logGroupName").and_then(Value::as_str);
        let status = p.get("status").and_then(Value::as_str);
        let max = p.get("maxResults").and_then(Value::as_u64).unwrap_or(1000) as usize;
        let runs = self.runs.lock().expect("queries lock");
        let list: Vec<Value> = runs
            .iter()
            .rev()
            .filter(|r| group.is_none_or(|g| r.groups.iter().any(|x| x == g)))
            .filter(|r| status.is_none_or(|s| s == r.status))
            .take(max)
            .map(|r| json!({"queryLanguage": "CWLI", "queryId": r.id, "queryString": r.query, "status": r.status,
                            "createTime": r.created_ms, "logGroupName": r.groups[0],
                            "queryDuration": r.duration_ms, "bytesScanned": r.outcome.bytes_scanned as f64}))
            .collect();
        json!({"queries": list})
    }
}

fn get_log_record(logs: &Logs, p: &Value) -> Result<Value, ApiError> {
    let ptr = required(p, "logRecordPointer")?;
    let Some((group, id)) = insights::parse_pointer(ptr) else {
        return Err(invalid(format!(
            "The log record pointer {ptr} is not valid"
        )));
    };
    let events = logs.events(&group, &Query::default()).map_err(error)?;
    let Some(e) = events.iter().find(|e| e.id == id) else {
        return Err(ApiError::bad_request(
            "ResourceNotFoundException",
            "The log record does not exist",
        ));
    };
    let record = insights::record(logs.account(), &group, e);
    let fields: serde_json::Map<String, Value> = record
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), Value::String(v.render()?))))
        .collect();
    Ok(json!({"logRecord": fields}))
}

/// A query id in the form Insights gives them.
fn uuid_like() -> String {
    let n = nimbus_model::time::now_nanos();
    let r: u64 =
        std::hash::BuildHasher::hash_one(&std::collections::hash_map::RandomState::new(), n);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        (r >> 32) as u32,
        (r >> 16) as u16,
        r as u16,
        (n >> 48) as u16,
        (n as u64) & 0xffff_ffff_ffff
    )
}
