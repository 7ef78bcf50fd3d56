//! The X-Ray API in its REST-JSON protocol (`POST /TraceSegments`,
//! `/Traces`, `/TraceSummaries`, `/ServiceGraph`, `/TraceGraph`, the
//! sampling rule operations, ...): each request is parsed into an
//! [`Operation`], authorized (`xray:<Operation>`) and run on the trace store
//! (`nimbus-traces`). Times are epoch seconds, as the SDKs send them.

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use nimbus_api_common::{ApiError, BoxFuture, Service, rest_json};
use nimbus_model::time::now_millis;
use nimbus_traces::sampling::{DEFAULT_RULE, SamplingRule};
use nimbus_traces::summary;
use nimbus_traces::{FilterExpression, Traces};
use serde_json::{Value, json};
use std::sync::Arc;

/// An X-Ray operation, by its request path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    PutTraceSegments,
    PutTelemetryRecords,
    BatchGetTraces,
    GetTraceSummaries,
    GetServiceGraph,
    GetTraceGraph,
    GetSamplingRules,
    GetSamplingTargets,
    GetSamplingStatisticSummaries,
    CreateSamplingRule,
    UpdateSamplingRule,
    DeleteSamplingRule,
    GetGroups,
    GetGroup,
    GetEncryptionConfig,
}

impl Operation {
    pub fn parse(method: &Method, path: &str) -> Option<Operation> {
        use Operation as O;
        if method != Method::POST {
            return None;
        }
        Some(match path.trim_end_matches('/') {
            "/TraceSegments" => O::PutTraceSegments,
            "/TelemetryRecords" => O::PutTelemetryRecords,
            "/Traces" => O::BatchGetTraces,
            "/TraceSummaries" => O::GetTraceSummaries,
            "/ServiceGraph" => O::GetServiceGraph,
            "/TraceGraph" => O::GetTraceGraph,
            "/GetSamplingRules" => O::GetSamplingRules,
            "/SamplingTargets" => O::GetSamplingTargets,
            "/SamplingStatisticSummaries" => O::GetSamplingStatisticSummaries,
            "/CreateSamplingRule" => O::CreateSamplingRule,
            "/UpdateSamplingRule" => O::UpdateSamplingRule,
            "/DeleteSamplingRule" => O::DeleteSamplingRule,
            "/Groups" => O::GetGroups,
            "/GetGroup" => O::GetGroup,
            "/EncryptionConfig" => O::GetEncryptionConfig,
            _ => return None,
        })
    }

    fn name(&self) -> String {
        format!("{self:?}")
    }
}

/// Summaries and traces per page.
const PAGE: usize = 100;
/// `BatchGetTraces` and `GetTraceGraph` take at most this many ids.
const MAX_TRACE_IDS: usize = 5;

pub struct XrayApi {
    traces: Arc<Traces>,
    account: String,
    region: String,
}

fn invalid(m: impl Into<String>) -> ApiError {
    ApiError::bad_request("InvalidRequestException", m.into())
}

fn error(e: nimbus_traces::Error) -> ApiError {
    use nimbus_traces::Error as E;
    match e {
        E::Invalid(m) | E::NotFound(m) | E::AlreadyExists(m) => invalid(m),
        E::Io(_) | E::Storage(_) => {
            tracing::error!(error = %e, "trace store failed");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalFailure",
                "An error occurred on the server side.",
            )
        }
    }
}

fn seconds(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

fn time(b: &Value, k: &str) -> Result<f64, ApiError> {
    b.get(k)
        .and_then(Value::as_f64)
        .ok_or_else(|| invalid(format!("{k} is required (epoch seconds)")))
}

fn page_start(b: &Value) -> usize {
    b.get("NextToken")
        .and_then(Value::as_str)
        .and_then(|t| t.parse().ok())
        .unwrap_or(0)
}

fn trace_ids(b: &Value) -> Result<Vec<String>, ApiError> {
    let ids: Vec<String> = b
        .get("TraceIds")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("TraceIds is required"))?
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    if ids.len() > MAX_TRACE_IDS {
        return Err(invalid(format!(
            "1 validation error detected: Value at 'traceIds' failed to satisfy constraint: Member must have length less than or equal to {MAX_TRACE_IDS}"
        )));
    }
    Ok(ids)
}

impl XrayApi {
    pub fn new(traces: Arc<Traces>, account: &str, region: &str) -> XrayApi {
        XrayApi {
            traces,
            account: account.into(),
            region: region.into(),
        }
    }

    fn rule_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:xray:{}:{}:sampling-rule/{name}",
            self.region, self.account
        )
    }

    fn rule_json(&self, r: &SamplingRule) -> Value {
        json!({
            "SamplingRule": {
                "RuleName": r.name, "RuleARN": self.rule_arn(&r.name), "ResourceARN": r.resource_arn,
                "Priority": r.priority, "FixedRate": r.fixed_rate, "ReservoirSize": r.reservoir_size,
                "ServiceName": r.service_name, "ServiceType": r.service_type, "Host": r.host,
                "HTTPMethod": r.http_method, "URLPath": r.url_path, "Version": r.version,
                "Attributes": r.attributes,
            },
            "CreatedAt": seconds(r.created_ms),
            "ModifiedAt": seconds(r.modified_ms),
        })
    }

    pub fn handle(&self, req: Request<Bytes>, request_id: &str) -> Response<Bytes> {
        let Some(op) = Operation::parse(req.method(), req.uri().path()) else {
            return ApiError::new(
                StatusCode::NOT_FOUND,
                "UnknownOperationException",
                "Unknown operation",
            )
            .rest_json(request_id);
        };
        let body = match rest_json::body(req.body(), "InvalidRequestException") {
            Ok(b) => b,
            Err(e) => return e.rest_json(request_id),
        };
        if let Err(d) = nimbus_api_common::authz::authorize(req.extensions(), |_| {
            vec![nimbus_api_common::authz::Access::any(format!(
                "xray:{}",
                op.name()
            ))]
        }) {
            return ApiError::new(StatusCode::FORBIDDEN, "AccessDeniedException", d.message)
                .rest_json(request_id);
        }
        rest_json::answer(self.execute(op, &body), request_id)
    }

    fn execute(&self, op: Operation, b: &Value) -> Result<Value, ApiError> {
        use Operation as O;
        let t = &self.traces;
        Ok(match op {
            O::PutTraceSegments => {
                let docs: Vec<String> = b
                    .get("TraceSegmentDocuments")
                    .and_then(Value::as_array)
                    .ok_or_else(|| invalid("TraceSegmentDocuments is required"))?
                    .iter()
                    .map(|d| d.as_str().map_or_else(|| d.to_string(), str::to_string))
                    .collect();
                let rejected = t.put(&docs, true).map_err(error)?;
                let list: Vec<Value> = rejected
                    .iter()
                    .map(|r| json!({"Id": r.id, "ErrorCode": r.code, "Message": r.message}))
                    .collect();
                json!({"UnprocessedTraceSegments": list})
            }
            O::PutTelemetryRecords => json!({}),
            O::BatchGetTraces => {
                let mut traces = Vec::new();
                let mut unprocessed = Vec::new();
                for id in trace_ids(b)? {
                    match t.trace(&id) {
                        Some(docs) => {
                            let facts = summary::Facts::of(&docs);
                            let segs: Vec<Value> = docs
                                .iter()
                                .map(|d| json!({"Id": d.get("id"), "Document": d.to_string()}))
                                .collect();
                            traces.push(json!({"Id": id, "Duration": facts.duration,
                                "LimitExceeded": false, "Segments": segs}));
                        }
                        None => unprocessed.push(json!(id)),
                    }
                }
                json!({"Traces": traces, "UnprocessedTraceIds": unprocessed})
            }
            O::GetTraceSummaries => {
                let (start, end) = (time(b, "StartTime")?, time(b, "EndTime")?);
                if end < start {
                    return Err(invalid("EndTime must be after StartTime"));
                }
                if end - start > 86_400.0 {
                    return Err(invalid("The time range must be 24 hours or less"));
                }
                let filter = match b.get("FilterExpression").and_then(Value::as_str) {
                    Some(f) if !f.trim().is_empty() => {
                        Some(FilterExpression::parse(f).map_err(|e| invalid(e.to_string()))?)
                    }
                    _ => None,
                };
                let ids = t.trace_ids_between(start, end);
                let processed = ids.len();
                let matched: Vec<Value> = ids
                    .iter()
                    .filter_map(|id| {
                        let docs = t.trace(id)?;
                        filter
                            .as_ref()
                            .is_none_or(|f| f.matches(&docs))
                            .then(|| summary::summary(id, &docs, &self.account))
                    })
                    .collect();
                let from = page_start(b).min(matched.len());
                let to = (from + PAGE).min(matched.len());
                let mut v = json!({
                    "TraceSummaries": matched[from..to],
                    "ApproximateTime": seconds(now_millis()).floor(),
                    "TracesProcessedCount": processed,
                });
                if to < matched.len() {
                    v["NextToken"] = json!(to.to_string());
                }
                v
            }
            O::GetServiceGraph => {
                let (start, end) = (time(b, "StartTime")?, time(b, "EndTime")?);
                let traces: Vec<Vec<Value>> = t
                    .trace_ids_between(start, end)
                    .iter()
                    .filter_map(|id| t.trace(id))
                    .collect();
                json!({"StartTime": start, "EndTime": end, "ContainsOldGroupVersions": false,
                       "Services": summary::service_graph(&traces, &self.account)})
            }
            O::GetTraceGraph => {
                let traces: Vec<Vec<Value>> =
                    trace_ids(b)?.iter().filter_map(|id| t.trace(id)).collect();
                json!({"Services": summary::service_graph(&traces, &self.account)})
            }
            O::GetSamplingRules => {
                let list: Vec<Value> = t
                    .sampler
                    .rules()
                    .iter()
                    .map(|r| self.rule_json(r))
                    .collect();
                json!({"SamplingRuleRecords": list})
            }
            O::GetSamplingTargets => {
                let docs = b
                    .get("SamplingStatisticsDocuments")
                    .and_then(Value::as_array)
                    .ok_or_else(|| invalid("SamplingStatisticsDocuments is required"))?;
                let now = seconds(now_millis());
                let mut targets = Vec::new();
                let mut unprocessed = Vec::new();
                for d in docs {
                    let name = d
                        .get("RuleName")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    let n = |k: &str| d.get(k).and_then(Value::as_u64).unwrap_or(0);
                    match t.sampler.rule(name) {
                        Some(r) => {
                            t.sampler.report(
                                name,
                                n("RequestCount"),
                                n("SampledCount"),
                                n("BorrowCount"),
                            );
                            targets.push(json!({"RuleName": name, "FixedRate": r.fixed_rate,
                                "ReservoirQuota": r.reservoir_size, "ReservoirQuotaTTL": now + 10.0, "Interval": 10}));
                        }
                        None => unprocessed.push(json!({"RuleName": name, "ErrorCode": "400",
                            "Message": format!("Sampling rule {name} does not exist")})),
                    }
                }
                let last = t
                    .sampler
                    .rules()
                    .iter()
                    .map(|r| r.modified_ms)
                    .max()
                    .unwrap_or(0);
                json!({"SamplingTargetDocuments": targets, "LastRuleModification": seconds(last),
                       "UnprocessedStatistics": unprocessed})
            }
            O::GetSamplingStatisticSummaries => {
                let now = seconds(now_millis());
                let list: Vec<Value> = t
                    .sampler
                    .take_counts()
                    .into_iter()
                    .map(|(name, c)| json!({"RuleName": name, "Timestamp": now,
                        "RequestCount": c.requests, "SampledCount": c.sampled, "BorrowCount": c.borrowed}))
                    .collect();
                json!({"SamplingStatisticSummaries": list})
            }
            O::CreateSamplingRule => {
                let r = b
                    .get("SamplingRule")
                    .ok_or_else(|| invalid("SamplingRule is required"))?;
                let rule = new_rule(r)?;
                let made = t.sampler.create(rule).map_err(error)?;
                json!({"SamplingRuleRecord": self.rule_json(&made)})
            }
            O::UpdateSamplingRule => {
                let u = b
                    .get("SamplingRuleUpdate")
                    .ok_or_else(|| invalid("SamplingRuleUpdate is required"))?;
                let name = rule_name(u)?;
                let made = t
                    .sampler
                    .update(&name, |r| apply_update(r, u))
                    .map_err(error)?;
                json!({"SamplingRuleRecord": self.rule_json(&made)})
            }
            O::DeleteSamplingRule => {
                let name = rule_name(b)?;
                let gone = t.sampler.delete(&name).map_err(error)?;
                json!({"SamplingRuleRecord": self.rule_json(&gone)})
            }
            O::GetGroups => json!({"Groups": [self.default_group()]}),
            O::GetGroup => {
                let name = b
                    .get("GroupName")
                    .and_then(Value::as_str)
                    .unwrap_or("Default");
                if name != "Default" {
                    return Err(invalid(format!("Group {name} does not exist")));
                }
                json!({"Group": self.default_group()})
            }
            O::GetEncryptionConfig => {
                json!({"EncryptionConfig": {"Status": "ACTIVE", "Type": "NONE"}})
            }
        })
    }

    fn default_group(&self) -> Value {
        json!({"GroupName": "Default",
               "GroupARN": format!("arn:aws:xray:{}:{}:group/Default", self.region, self.account),
               "InsightsConfiguration": {"InsightsEnabled": false, "NotificationsEnabled": false}})
    }
}

/// The rule a request names by `RuleName` or `RuleARN`.
fn rule_name(b: &Value) -> Result<String, ApiError> {
    b.get("RuleName")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| {
            b.get("RuleARN")
                .and_then(Value::as_str)
                .and_then(|a| a.rsplit_once("sampling-rule/"))
                .map(|(_, n)| n.to_string())
        })
        .ok_or_else(|| invalid("RuleName or RuleARN is required"))
}

fn new_rule(r: &Value) -> Result<SamplingRule, ApiError> {
    let s = |k: &str| -> Result<String, ApiError> {
        r.get(k)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| invalid(format!("SamplingRule.{k} is required")))
    };
    let n = |k: &str| -> Result<f64, ApiError> {
        r.get(k)
            .and_then(Value::as_f64)
            .ok_or_else(|| invalid(format!("SamplingRule.{k} is required")))
    };
    let mut rule = SamplingRule {
        format: 1,
        name: s("RuleName")?,
        priority: n("Priority")? as u32,
        fixed_rate: n("FixedRate")?,
        reservoir_size: n("ReservoirSize")? as u32,
        service_name: s("ServiceName")?,
        service_type: s("ServiceType")?,
        host: s("Host")?,
        http_method: s("HTTPMethod")?,
        url_path: s("URLPath")?,
        resource_arn: s("ResourceARN")?,
        version: n("Version")? as u32,
        attributes: Default::default(),
        created_ms: 0,
        modified_ms: 0,
    };
    if rule.name == DEFAULT_RULE {
        return Err(invalid(
            "The Default rule exists already; update it instead",
        ));
    }
    if let Some(Value::Object(a)) = r.get("Attributes") {
        rule.attributes = a
            .iter()
            .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
            .collect();
    }
    Ok(rule)
}

fn apply_update(r: &mut SamplingRule, u: &Value) {
    let s = |k: &str| u.get(k).and_then(Value::as_str).map(str::to_string);
    let n = |k: &str| u.get(k).and_then(Value::as_f64);
    if let Some(v) = n("Priority") {
        r.priority = v as u32;
    }
    if let Some(v) = n("FixedRate") {
        r.fixed_rate = v;
    }
    if let Some(v) = n("ReservoirSize") {
        r.reservoir_size = v as u32;
    }
    for (k, slot) in [
        ("ServiceName", &mut r.service_name),
        ("ServiceType", &mut r.service_type),
        ("Host", &mut r.host),
        ("HTTPMethod", &mut r.http_method),
        ("URLPath", &mut r.url_path),
        ("ResourceARN", &mut r.resource_arn),
    ] {
        if let Some(v) = s(k) {
            *slot = v;
        }
    }
}

impl Service for XrayApi {
    fn signing_name(&self) -> &'static str {
        "xray"
    }

    /// X-Ray is found by its signature's scope only.
    fn owns(&self, _req: &http::request::Parts) -> bool {
        false
    }

    fn handle(&self, req: Request<Bytes>, request_id: String) -> BoxFuture<'_, Response<Bytes>> {
        Box::pin(async move { XrayApi::handle(self, req, &request_id) })
    }

    fn error(&self, err: &ApiError, request_id: &str) -> Response<Bytes> {
        err.rest_json(request_id)
    }
}
