//! The SQS API in its JSON protocol (`X-Amz-Target: AmazonSQS.<Operation>`,
//! `application/x-amz-json-1.0`), which current SDKs speak: each request becomes a
//! call on the queue service, answered in SQS's shapes. Errors carry SQS's type
//! and, as SQS does for clients of its older query protocol, the legacy code in
//! `x-amzn-query-error`.

pub mod authz;
mod error;
mod operations;
pub mod query;

pub use error::SqsError;
pub use operations::Operation;

use base64::Engine as _;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use nimbus_api_common::json::AwsJson;
use nimbus_api_common::{ApiError, BoxFuture, Service};
use nimbus_queues::{Attribute, Error as QError, Outgoing, Queues};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

type R<T> = Result<T, SqsError>;

fn str_field<'a>(v: &'a Value, name: &str) -> R<&'a str> {
    v.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| SqsError::missing(name))
}

fn opt_u64(v: &Value, name: &str, hi: u64) -> R<Option<u64>> {
    match v.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(x) => x.as_u64().filter(|n| *n <= hi).map(Some).ok_or_else(|| {
            SqsError::invalid(format!(
                "Value {x} for parameter {name} is invalid. Reason: Must be between 0 and {hi}."
            ))
        }),
    }
}

fn string_map(v: &Value, name: &str) -> R<BTreeMap<String, String>> {
    match v.get(name) {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| {
                v.as_str()
                    .map(|s| (k.clone(), s.to_string()))
                    .ok_or_else(|| SqsError::invalid(format!("{name}.{k} must be a string")))
            })
            .collect(),
        Some(_) => Err(SqsError::invalid(format!("{name} must be a map"))),
    }
}

/// `MessageAttributes` of a send.
fn message_attributes(v: &Value) -> R<BTreeMap<String, Attribute>> {
    let mut out = BTreeMap::new();
    let Some(m) = v.get("MessageAttributes").and_then(Value::as_object) else {
        return Ok(out);
    };
    if m.len() > 10 {
        return Err(SqsError::invalid(
            "Number of message attributes [11] exceeds the allowed maximum [10].",
        ));
    }
    for (name, a) in m {
        let data_type = a.get("DataType").and_then(Value::as_str).ok_or_else(|| {
            SqsError::invalid(format!(
                "The message attribute '{name}' must contain a non-empty attribute type."
            ))
        })?;
        let base = data_type.split('.').next().unwrap_or("");
        let attr = match base {
            "String" | "Number" => {
                let s = a
                    .get("StringValue")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| {
                        SqsError::invalid(format!("The message attribute '{name}' must contain a non-empty message attribute value for message attribute type '{data_type}'."))
                    })?;
                if base == "Number" && s.trim().parse::<f64>().is_err() {
                    return Err(SqsError::invalid(format!(
                        "Can't cast the value of message (user) attribute '{name}' to a number."
                    )));
                }
                Attribute {
                    data_type: data_type.into(),
                    string_value: Some(s.into()),
                    binary_value: None,
                }
            }
            "Binary" => {
                let b = a
                    .get("BinaryValue")
                    .and_then(Value::as_str)
                    .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                    .ok_or_else(|| {
                        SqsError::invalid(format!("The message attribute '{name}' must contain a non-empty message attribute value for message attribute type 'Binary'."))
                    })?;
                Attribute {
                    data_type: data_type.into(),
                    string_value: None,
                    binary_value: Some(b),
                }
            }
            _ => {
                return Err(SqsError::invalid(format!(
                    "The type of message (user) attribute '{name}' is invalid. You must use only the following supported type prefixes: Binary, Number, String."
                )));
            }
        };
        out.insert(name.clone(), attr);
    }
    Ok(out)
}

/// Messages sent inside an X-Ray trace carry its header as their
/// `AWSTraceHeader` unless they name one themselves.
fn trace_messages(operation: &str, params: &mut Value, trace: Option<&str>) {
    let Some(trace) = trace else { return };
    let mut messages: Vec<&mut Value> = match operation {
        "SendMessage" => vec![params],
        "SendMessageBatch" => match params.get_mut("Entries").and_then(Value::as_array_mut) {
            Some(entries) => entries.iter_mut().collect(),
            None => return,
        },
        _ => return,
    };
    for m in messages.iter_mut().filter(|m| m.is_object()) {
        let system = m
            .as_object_mut()
            .expect("checked an object")
            .entry("MessageSystemAttributes")
            .or_insert_with(|| json!({}));
        if let Some(system) = system.as_object_mut() {
            system
                .entry("AWSTraceHeader")
                .or_insert_with(|| json!({"DataType": "String", "StringValue": trace}));
        }
    }
}

fn outgoing(v: &Value) -> R<Outgoing> {
    Ok(Outgoing {
        body: str_field(v, "MessageBody")?.to_string(),
        attributes: message_attributes(v)?,
        delay_secs: opt_u64(v, "DelaySeconds", 900)?,
        trace_header: v
            .get("MessageSystemAttributes")
            .and_then(|m| m.get("AWSTraceHeader"))
            .and_then(|a| a.get("StringValue"))
            .and_then(Value::as_str)
            .map(str::to_string),
        group_id: v
            .get("MessageGroupId")
            .and_then(Value::as_str)
            .map(str::to_string),
        dedup_id: v
            .get("MessageDeduplicationId")
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

fn attribute_json(a: &Attribute) -> Value {
    let mut m = Map::new();
    m.insert("DataType".into(), a.data_type.clone().into());
    if let Some(s) = &a.string_value {
        m.insert("StringValue".into(), s.clone().into());
    }
    if let Some(b) = &a.binary_value {
        m.insert(
            "BinaryValue".into(),
            base64::engine::general_purpose::STANDARD.encode(b).into(),
        );
    }
    Value::Object(m)
}

fn names(v: &Value, field: &str) -> Vec<String> {
    v.get(field)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Batch entry ids: 1-80 alphanumerics, hyphens, underscores; distinct; 1-10.
fn check_batch(entries: &[Value]) -> R<()> {
    if entries.is_empty() {
        return Err(SqsError::new(
            "EmptyBatchRequest",
            "AWS.SimpleQueueService.EmptyBatchRequest",
            "There should be at least one SendMessageBatchRequestEntry in the request.",
        ));
    }
    if entries.len() > 10 {
        return Err(SqsError::new(
            "TooManyEntriesInBatchRequest",
            "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
            format!(
                "Maximum number of entries per request are 10. You have sent {}.",
                entries.len()
            ),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for e in entries {
        let id = e.get("Id").and_then(Value::as_str).unwrap_or("");
        if id.is_empty()
            || id.len() > 80
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(SqsError::new(
                "InvalidBatchEntryId",
                "AWS.SimpleQueueService.InvalidBatchEntryId",
                "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.",
            ));
        }
        if !seen.insert(id) {
            return Err(SqsError::new(
                "BatchEntryIdsNotDistinct",
                "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
                format!("Id {id} repeated."),
            ));
        }
    }
    Ok(())
}

fn batch_error(id: &str, e: SqsError) -> Value {
    json!({ "Id": id, "SenderFault": e.sender(), "Code": e.query_code(), "Message": e.0.message })
}

/// A `StartMessageMoveTask` and how it went. Without
/// `MaxNumberOfMessagesPerSecond` the move is one transaction and the task is
/// `COMPLETED` when it is listed; with it, a background task moves up to that
/// many messages each second until the source has none left (`RUNNING`), or
/// it is cancelled.
#[derive(Debug, Clone)]
struct MoveTask {
    handle: String,
    source_arn: String,
    destination_arn: Option<String>,
    moved: usize,
    to_move: usize,
    rate: Option<u64>,
    status: &'static str,
    started_ms: u64,
}

type Tasks = Arc<std::sync::Mutex<Vec<MoveTask>>>;

pub struct SqsApi {
    queues: Arc<Queues>,
    tasks: Tasks,
}

/// Move a rate-limited task's messages, a second's worth at a time.
async fn run_move_task(
    queues: Arc<Queues>,
    tasks: Tasks,
    handle: String,
    source: String,
    destination: Option<String>,
    rate: u64,
) {
    loop {
        let tick = tokio::time::Instant::now() + std::time::Duration::from_secs(1);
        let running = tasks
            .lock()
            .expect("tasks lock")
            .iter()
            .any(|t| t.handle == handle && t.status == "RUNNING");
        if !running {
            return;
        }
        let (q, src, dst) = (queues.clone(), source.clone(), destination.clone());
        let moved = tokio::task::spawn_blocking(move || {
            q.move_messages(&src, dst.as_deref(), rate as usize)
        })
        .await;
        let go_on = {
            let mut list = tasks.lock().expect("tasks lock");
            match list.iter_mut().find(|t| t.handle == handle) {
                None => false,
                Some(t) => match moved {
                    Ok(Ok(n)) => {
                        t.moved += n;
                        if n == 0 {
                            t.status = "COMPLETED";
                        }
                        n > 0
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(task = %handle, error = %e, "message move task failed");
                        t.status = "FAILED";
                        false
                    }
                    Err(_) => {
                        t.status = "FAILED";
                        false
                    }
                },
            }
        };
        if !go_on {
            return;
        }
        tokio::time::sleep_until(tick).await;
    }
}

/// SQS's awsJson framing; its errors keep their query protocol codes in
/// `x-amzn-query-error` (`awsQueryCompatible`).
pub const SQS_JSON: AwsJson = AwsJson {
    target_prefixes: &["AmazonSQS"],
    error_namespace: "com.amazonaws.sqs#",
    content_type: "application/x-amz-json-1.0",
    crc32: false,
};

impl Service for SqsApi {
    fn signing_name(&self) -> &'static str {
        "sqs"
    }

    fn owns(&self, req: &http::request::Parts) -> bool {
        SQS_JSON.owns_request(req)
    }

    fn handle(&self, req: Request<Bytes>, request_id: String) -> BoxFuture<'_, Response<Bytes>> {
        Box::pin(async move { SqsApi::handle(self, req, &request_id).await })
    }

    fn error(&self, err: &ApiError, request_id: &str) -> Response<Bytes> {
        // Authentication and body errors: SQS reports them as its own codes.
        let e = err.clone().with_query_code(err.code.clone());
        SQS_JSON.error(&e, request_id)
    }
}

/// An error as the query protocol words it, where SQS's two protocols differ.
fn query_wording(mut e: ApiError) -> ApiError {
    if e.query_code.as_deref() == Some("AWS.SimpleQueueService.NonExistentQueue") {
        e.message = "The specified queue does not exist for this wsdl version.".into();
    }
    e
}

impl SqsApi {
    pub fn new(queues: Arc<Queues>) -> SqsApi {
        SqsApi {
            queues,
            tasks: Arc::new(std::sync::Mutex::new(Vec::new())),
        }
    }

    fn queue_by_arn(&self, arn: &str, field: &str) -> R<String> {
        let name = self.queues.name_from_arn(arn).ok_or_else(|| {
            SqsError::invalid(format!(
                "{field} {arn} is not a queue ARN of this account and region"
            ))
        })?;
        if !self.queues.exists(&name) {
            return Err(SqsError::new(
                "ResourceNotFoundException",
                "ResourceNotFoundException",
                format!("The resource that you specified for the {field} parameter doesn't exist."),
            ));
        }
        Ok(name)
    }

    pub async fn handle(&self, req: Request<Bytes>, request_id: &str) -> Response<Bytes> {
        let host = req
            .headers()
            .get("host")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("localhost:4566")
            .to_string();
        let target_given = req
            .headers()
            .get("x-amz-target")
            .is_some_and(|v| !v.is_empty());
        if !target_given {
            return self.handle_query(&req, &host, request_id).await;
        }
        // SQS names framing errors with its query protocol's codes.
        let call = match SQS_JSON.call(&req) {
            Ok(c) => c,
            Err(e) if e.code == "UnknownOperationException" => {
                let e = SqsError::new("InvalidAction", "InvalidAction", e.message);
                return SQS_JSON.error(&e.0, request_id);
            }
            Err(e) => {
                let e = SqsError::invalid(e.message);
                return SQS_JSON.error(&e.0, request_id);
            }
        };
        let mut params = call.params;
        trace_messages(
            &call.operation,
            &mut params,
            nimbus_api_common::trace_header(&req),
        );
        match self
            .run(req.extensions(), &call.operation, &params, &host)
            .await
        {
            Ok(v) => SQS_JSON.respond(&v, request_id),
            Err(e) => SQS_JSON.error(&e.0, request_id),
        }
    }

    /// The query protocol: form parameters in, XML out.
    async fn handle_query(
        &self,
        req: &Request<Bytes>,
        host: &str,
        request_id: &str,
    ) -> Response<Bytes> {
        let mut params = query::parse_form(req.uri().query().unwrap_or("").as_bytes());
        params.extend(query::parse_form(req.body()));
        // A request posted to a queue's URL names its queue by the path.
        let path = req.uri().path();
        if path.len() > 1 && !params.iter().any(|(k, _)| k == "QueueUrl") {
            params.push(("QueueUrl".into(), format!("http://{host}{path}")));
        }
        let Some((action, mut input)) = query::to_json(&params) else {
            let e = SqsError::new(
                "MissingAction",
                "MissingAction",
                "The request must contain the parameter Action.",
            );
            return query::SQS_QUERY.error(&e.0, request_id);
        };
        trace_messages(&action, &mut input, nimbus_api_common::trace_header(req));
        match self.run(req.extensions(), &action, &input, host).await {
            Ok(v) => query::SQS_QUERY.respond(
                StatusCode::OK,
                query::to_xml(&action, &v, request_id),
                request_id,
            ),
            Err(e) => query::SQS_QUERY.error(&query_wording(e.0), request_id),
        }
    }

    fn url(&self, host: &str, name: &str) -> String {
        format!("http://{host}/{}/{name}", self.queues.account())
    }

    /// The queue a `QueueUrl` names (its last path segment).
    fn queue(&self, v: &Value) -> R<String> {
        let url = str_field(v, "QueueUrl")?;
        let name = url.trim_end_matches('/').rsplit('/').next().unwrap_or("");
        if !self.queues.exists(name) {
            return Err(QError::QueueDoesNotExist.into());
        }
        Ok(name.to_string())
    }

    /// Parse the operation a name gives, then run it.
    async fn run(&self, req: &http::Extensions, op: &str, v: &Value, host: &str) -> R<Value> {
        let Some(operation) = Operation::parse(op) else {
            return Err(SqsError::new(
                "UnsupportedOperation",
                "AWS.SimpleQueueService.UnsupportedOperation",
                format!("{op} is not supported by Nimbus yet"),
            ));
        };
        nimbus_api_common::authz::authorize(req, |scope| authz::access(operation, v, scope))
            .map_err(SqsError::denied)?;
        self.execute(operation, v, host).await
    }
}
