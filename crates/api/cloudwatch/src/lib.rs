//! The CloudWatch metrics API (`monitoring`) in the protocols current SDKs
//! speak: Smithy RPC v2 CBOR (`POST /service/GraniteServiceVersion20100801/
//! operation/<Operation>`, what botocore sends) and awsJson 1.0 (`X-Amz-Target:
//! GraniteServiceVersion20100801.<Operation>`). Errors carry CloudWatch's
//! exception type and, as the service is `awsQueryCompatible`, the query
//! code (`InvalidParameterValue`) in `x-amzn-query-error`. The query
//! protocol of older SDKs (`Action=...`, form-encoded, XML answers) is
//! served too (`query`).

mod alarms;
mod ops;
pub mod query;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use nimbus_api_common::json::AwsJson;
use nimbus_api_common::{ApiError, BoxFuture, Service};
use nimbus_metrics::Metrics;
use nimbus_metrics::alarms::Alarms;
use serde_json::Value;
use std::sync::Arc;

const TARGET: &str = "GraniteServiceVersion20100801";
const CBOR_PATH: &str = "/service/GraniteServiceVersion20100801/operation/";

/// CloudWatch's awsJson framing.
pub const CLOUDWATCH_JSON: AwsJson = AwsJson {
    target_prefixes: &[TARGET],
    error_namespace: "com.amazonaws.cloudwatch#",
    content_type: "application/x-amz-json-1.0",
    crc32: false,
};

/// Members written as timestamps in CBOR answers.
const TIMESTAMPS: &[&str] = &[
    "Timestamp",
    "Timestamps",
    "AlarmConfigurationUpdatedTimestamp",
    "StateUpdatedTimestamp",
    "StateTransitionedTimestamp",
];

pub struct CloudWatchApi {
    metrics: Arc<Metrics>,
    alarms: Arc<Alarms>,
}

impl CloudWatchApi {
    pub fn new(metrics: Arc<Metrics>, alarms: Arc<Alarms>) -> CloudWatchApi {
        CloudWatchApi { metrics, alarms }
    }

    fn execute(&self, op: &str, p: &Value) -> Result<Value, ApiError> {
        if op.contains("Alarm") {
            alarms::execute(&self.alarms, op, p)
        } else {
            ops::execute(&self.metrics, op, p)
        }
    }

    fn authorize(req: &Request<Bytes>, op: &str) -> Result<(), ApiError> {
        nimbus_api_common::authz::authorize(req.extensions(), |_| {
            vec![nimbus_api_common::authz::Access::any(format!(
                "cloudwatch:{op}"
            ))]
        })
        .map_err(|d| {
            ApiError::new(StatusCode::FORBIDDEN, "AccessDeniedException", d.message)
                .with_query_code("AccessDenied")
        })
    }

    fn cbor(&self, req: &Request<Bytes>, request_id: &str) -> Response<Bytes> {
        let op = req
            .uri()
            .path()
            .strip_prefix(CBOR_PATH)
            .unwrap_or_default()
            .to_string();
        let answer = (|| {
            let params = if req.body().is_empty() {
                Value::Object(Default::default())
            } else {
                nimbus_api_common::cbor::decode(req.body()).map_err(|e| {
                    ApiError::bad_request(
                        "SerializationException",
                        format!("The request body is not valid CBOR: {e}"),
                    )
                })?
            };
            Self::authorize(req, &op)?;
            self.execute(&op, &params)
        })();
        let (status, body) = match answer {
            Ok(v) => (
                StatusCode::OK,
                nimbus_api_common::cbor::encode(&v, TIMESTAMPS),
            ),
            Err(e) => {
                let mut body = serde_json::Map::new();
                body.insert(
                    "__type".into(),
                    format!("com.amazonaws.cloudwatch#{}", exception(&e.code)).into(),
                );
                body.insert("message".into(), e.message.clone().into());
                let mut r = cbor_response(
                    e.status,
                    nimbus_api_common::cbor::encode(&Value::Object(body), &[]),
                    request_id,
                );
                if let Ok(v) = HeaderValue::from_str(&format!(
                    "{};{}",
                    e.query_code.as_deref().unwrap_or(&e.code),
                    if e.status.is_server_error() {
                        "Receiver"
                    } else {
                        "Sender"
                    }
                )) {
                    r.headers_mut().insert("x-amzn-query-error", v);
                }
                return r;
            }
        };
        cbor_response(status, body, request_id)
    }

    fn query(&self, req: &Request<Bytes>, request_id: &str) -> Response<Bytes> {
        let q = nimbus_api_common::query::Query {
            namespace: query::NAMESPACE,
        };
        let mut pairs =
            nimbus_api_common::query::parse_form(req.uri().query().unwrap_or("").as_bytes());
        pairs.extend(nimbus_api_common::query::parse_form(req.body()));
        let Some(op) = pairs
            .iter()
            .rev()
            .find(|(k, _)| k == "Action")
            .map(|(_, v)| v.clone())
        else {
            let e = ApiError::bad_request("MissingAction", "The request names no Action.");
            return q.error(&e, request_id);
        };
        let params = query::params(&pairs);
        match Self::authorize(req, &op).and_then(|()| self.execute(&op, &params)) {
            Ok(v) => {
                let mut members = String::new();
                query::xml(&v, "", TIMESTAMPS, &mut members);
                q.respond(
                    StatusCode::OK,
                    q.document(&op, &members, request_id),
                    request_id,
                )
            }
            Err(e) => q.error(&e, request_id),
        }
    }

    fn json(&self, req: &Request<Bytes>, request_id: &str) -> Response<Bytes> {
        let call = match CLOUDWATCH_JSON.call(req) {
            Ok(c) => c,
            Err(e) => return CLOUDWATCH_JSON.error(&e, request_id),
        };
        let answer = Self::authorize(req, &call.operation)
            .and_then(|()| self.execute(&call.operation, &call.params));
        match answer {
            Ok(v) => CLOUDWATCH_JSON.respond(&v, request_id),
            Err(e) => {
                let code = e
                    .query_code
                    .clone()
                    .unwrap_or_else(|| e.code.clone().into_boxed_str());
                let mut e = e;
                e.code = exception(&e.code);
                CLOUDWATCH_JSON.error(&e.with_query_code(code.to_string()), request_id)
            }
        }
    }
}

/// The exception type of a query error code (`InvalidParameterValue` ->
/// `InvalidParameterValueException`).
fn exception(code: &str) -> String {
    match code {
        "InvalidParameterValue"
        | "MissingParameter"
        | "InvalidParameterCombination"
        | "LimitExceeded" => {
            format!("{code}Exception")
        }
        "ResourceNotFound" => "ResourceNotFoundException".into(),
        other => other.to_string(),
    }
}

fn cbor_response(status: StatusCode, body: Vec<u8>, request_id: &str) -> Response<Bytes> {
    let mut r = Response::new(Bytes::from(body));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/cbor"));
    h.insert("smithy-protocol", HeaderValue::from_static("rpc-v2-cbor"));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", v);
    }
    r
}

impl Service for CloudWatchApi {
    fn signing_name(&self) -> &'static str {
        "monitoring"
    }

    fn owns(&self, req: &http::request::Parts) -> bool {
        req.uri.path().starts_with(CBOR_PATH) || CLOUDWATCH_JSON.owns_request(req)
    }

    fn handle(&self, req: Request<Bytes>, request_id: String) -> BoxFuture<'_, Response<Bytes>> {
        Box::pin(async move {
            let form = req
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
            if req.uri().path().starts_with(CBOR_PATH) {
                self.cbor(&req, &request_id)
            } else if form || req.uri().query().is_some_and(|q| q.contains("Action=")) {
                self.query(&req, &request_id)
            } else {
                self.json(&req, &request_id)
            }
        })
    }

    fn error(&self, err: &ApiError, request_id: &str) -> Response<Bytes> {
        CLOUDWATCH_JSON.error(err, request_id)
    }
}
