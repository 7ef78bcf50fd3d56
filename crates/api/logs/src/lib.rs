//! The CloudWatch Logs API in its JSON protocol (`X-Amz-Target:
//! Logs_20140328.<Operation>`) over the log store (`nimbus-logs`): log
//! groups (functions' `/aws/lambda/NAME` among them) and streams, writing
//! with `PutLogEvents`, reading with `GetLogEvents` and `FilterLogEvents`
//! (the whole filter pattern language), retention and tags, Logs Insights
//! queries (`StartQuery`, `GetQueryResults`). `aws logs tail`
//! and `sam logs` read functions' logs through it.

mod filters;
mod insights;
mod live_tail;
mod ops;

use bytes::Bytes;
use http::{Request, Response};
use nimbus_api_common::json::AwsJson;
use nimbus_api_common::{ApiError, BoxFuture, Service};
use nimbus_logs::Logs;
use serde_json::Value;
use std::sync::Arc;

/// CloudWatch Logs' awsJson framing.
pub const LOGS_JSON: AwsJson = AwsJson {
    target_prefixes: &["Logs_20140328"],
    error_namespace: "",
    content_type: "application/x-amz-json-1.1",
    crc32: false,
};

pub struct LogsApi {
    logs: Arc<Logs>,
    queries: insights::Queries,
}

impl LogsApi {
    pub fn new(logs: Arc<Logs>) -> LogsApi {
        LogsApi {
            logs,
            queries: insights::Queries::default(),
        }
    }

    /// The group a request names (`logGroupName`, or the
    /// `logGroupIdentifier` name or ARN).
    fn group_of(p: &Value) -> Option<String> {
        let s = |k: &str| p.get(k).and_then(Value::as_str);
        s("logGroupName")
            .or_else(|| s("logGroupIdentifier").map(|i| i.rsplit("log-group:").next().unwrap_or(i)))
            .or_else(|| {
                s("resourceArn")
                    .or_else(|| s("resourceArn"))
                    .and_then(|a| a.split_once("log-group:").map(|(_, g)| g))
            })
            .map(|g| g.trim_end_matches(":*").to_string())
    }

    pub fn handle(&self, req: Request<Bytes>, request_id: &str) -> Response<Bytes> {
        let call = match LOGS_JSON.call(&req) {
            Ok(c) => c,
            Err(e) => return LOGS_JSON.error(&e, request_id),
        };
        let op = call.operation.clone();
        let group = Self::group_of(&call.params).unwrap_or_else(|| "*".into());
        if let Err(d) = nimbus_api_common::authz::authorize(req.extensions(), |s| {
            let action = format!("logs:{op}");
            if op == "DescribeLogGroups" {
                vec![nimbus_api_common::authz::Access::any(action)]
            } else if op == "StartQuery" {
                // A query reads every group it names: each must be allowed.
                let groups = insights::groups_of(&call.params);
                let groups = if groups.is_empty() {
                    vec![group.clone()]
                } else {
                    groups
                };
                groups
                    .iter()
                    .map(|g| {
                        nimbus_api_common::authz::Access::new(
                            action.clone(),
                            s.arn("logs", &format!("log-group:{g}:*")),
                        )
                    })
                    .collect()
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
        let answer = match self
            .queries
            .execute(&self.logs, &call.operation, &call.params)
        {
            Some(a) => a,
            None => ops::execute(&self.logs, &call.operation, &call.params),
        };
        match answer {
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

    /// `StartLiveTail` answers with an event stream.
    fn streams(&self, req: &http::request::Parts) -> bool {
        req.headers
            .get("x-amz-target")
            .is_some_and(|t| t.as_bytes() == b"Logs_20140328.StartLiveTail")
    }

    fn handle_stream(
        &self,
        req: Request<Bytes>,
        request_id: String,
    ) -> BoxFuture<'_, Response<nimbus_body::Body>> {
        Box::pin(async move { live_tail::start(&self.logs, req, &request_id) })
    }

    fn error(&self, err: &ApiError, request_id: &str) -> Response<Bytes> {
        LOGS_JSON.error(err, request_id)
    }
}
