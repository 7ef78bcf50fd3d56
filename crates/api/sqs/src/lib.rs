//! The SQS API in its JSON protocol (`X-Amz-Target: AmazonSQS.<Operation>`,
//! `application/x-amz-json-1.0`), which current SDKs speak: each request becomes a
//! call on the queue service, answered in SQS's shapes. Errors carry SQS's type
//! and, as SQS does for clients of its older query protocol, the legacy code in
//! `x-amzn-query-error`.

pub mod query;

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use nimbus_queues::{Attribute, Error as QError, Outgoing, Queues};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

/// An error on the wire: SQS's type, its legacy query code, HTTP status, message.
#[derive(Debug)]
pub struct SqsError {
    kind: &'static str,
    query_code: &'static str,
    message: String,
    sender: bool,
}

impl SqsError {
    fn new(kind: &'static str, query_code: &'static str, message: impl Into<String>) -> SqsError {
        SqsError {
            kind,
            query_code,
            message: message.into(),
            sender: true,
        }
    }

    fn missing(param: &str) -> SqsError {
        SqsError::new(
            "MissingParameter",
            "MissingParameter",
            format!("The request must contain the parameter {param}."),
        )
    }

    fn invalid(message: impl Into<String>) -> SqsError {
        SqsError::new("InvalidParameterValue", "InvalidParameterValue", message)
    }

    pub fn response(&self, request_id: &str) -> Response<Bytes> {
        let body = json!({ "__type": format!("com.amazonaws.sqs#{}", self.kind), "message": self.message });
        let mut r = Response::new(Bytes::from(body.to_string()));
        *r.status_mut() = if self.sender {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        };
        let h = r.headers_mut();
        h.insert(
            "content-type",
            HeaderValue::from_static("application/x-amz-json-1.0"),
        );
        let fault = if self.sender { "Sender" } else { "Receiver" };
        if let Ok(v) = HeaderValue::from_str(&format!("{};{fault}", self.query_code)) {
            h.insert("x-amzn-query-error", v);
        }
        if let Ok(v) = HeaderValue::from_str(request_id) {
            h.insert("x-amzn-requestid", v);
        }
        r
    }
}

impl From<QError> for SqsError {
    fn from(e: QError) -> SqsError {
        let m = e.to_string();
        match e {
            QError::QueueDoesNotExist => SqsError::new(
                "QueueDoesNotExist",
                "AWS.SimpleQueueService.NonExistentQueue",
                m,
            ),
            QError::QueueNameExists(_) => SqsError::new("QueueNameExists", "QueueAlreadyExists", m),
            QError::InvalidAttributeName(_) => {
                SqsError::new("InvalidAttributeName", "InvalidAttributeName", m)
            }
            QError::InvalidAttributeValue(_) => {
                SqsError::new("InvalidAttributeValue", "InvalidAttributeValue", m)
            }
            QError::InvalidParameterValue(_) => SqsError::invalid(m),
            QError::ReceiptHandleIsInvalid(_) => {
                SqsError::new("ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid", m)
            }
            QError::MissingParameter(_) => SqsError::new("MissingParameter", "MissingParameter", m),
            QError::Unsupported(_) => SqsError::new(
                "UnsupportedOperation",
                "AWS.SimpleQueueService.UnsupportedOperation",
                m,
            ),
            QError::Storage(_) | QError::Corrupt(_) => {
                tracing::error!(error = %m, "queue service failed");
                SqsError {
                    kind: "InternalError",
                    query_code: "InternalError",
                    message: "We encountered an internal error. Please try again.".into(),
                    sender: false,
                }
            }
        }
    }
}

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
                let s = a.get("StringValue").and_then(Value::as_str).ok_or_else(|| {
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
    json!({ "Id": id, "SenderFault": e.sender, "Code": e.query_code, "Message": e.message })
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

    /// Whether this API answers a request (JSON protocol target).
    pub fn owns_target(target: &str) -> bool {
        target.starts_with("AmazonSQS.")
    }

    pub async fn handle(&self, req: Request<Bytes>, request_id: &str) -> Response<Bytes> {
        let target = req
            .headers()
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let host = req
            .headers()
            .get("host")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("localhost:4566")
            .to_string();
        if target.is_empty() {
            return self.handle_query(&req, &host, request_id).await;
        }
        let result = match target.strip_prefix("AmazonSQS.") {
            None => Err(SqsError::new(
                "InvalidAction",
                "InvalidAction",
                format!("{target} is not an SQS operation"),
            )),
            Some(op) => match serde_json::from_slice::<Value>(req.body()) {
                Err(_) if req.body().is_empty() => self.run(op, &json!({}), &host).await,
                Err(e) => Err(SqsError::new(
                    "InvalidParameterValue",
                    "InvalidParameterValue",
                    format!("The request body is not valid JSON: {e}"),
                )),
                Ok(v) => self.run(op, &v, &host).await,
            },
        };
        match result {
            Ok(v) => {
                let mut r = Response::new(Bytes::from(v.to_string()));
                let h = r.headers_mut();
                h.insert(
                    "content-type",
                    HeaderValue::from_static("application/x-amz-json-1.0"),
                );
                if let Ok(v) = HeaderValue::from_str(request_id) {
                    h.insert("x-amzn-requestid", v);
                }
                r
            }
            Err(e) => e.response(request_id),
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
        let xml = |status: StatusCode, body: String| {
            let mut r = Response::new(Bytes::from(body));
            *r.status_mut() = status;
            r.headers_mut()
                .insert("content-type", HeaderValue::from_static("text/xml"));
            if let Ok(v) = HeaderValue::from_str(request_id) {
                r.headers_mut().insert("x-amzn-requestid", v);
            }
            r
        };
        let Some((action, input)) = query::to_json(&params) else {
            return xml(
                StatusCode::BAD_REQUEST,
                query::error_xml(
                    "MissingAction",
                    "The request must contain the parameter Action.",
                    true,
                    request_id,
                ),
            );
        };
        match self.run(&action, &input, host).await {
            Ok(v) => xml(StatusCode::OK, query::to_xml(&action, &v, request_id)),
            Err(e) => xml(
                if e.sender {
                    StatusCode::BAD_REQUEST
                } else {
                    StatusCode::INTERNAL_SERVER_ERROR
                },
                query::error_xml(e.query_code, &e.message, e.sender, request_id),
            ),
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

    async fn run(&self, op: &str, v: &Value, host: &str) -> R<Value> {
        let q = &self.queues;
        match op {
            "CreateQueue" => {
                let name = str_field(v, "QueueName")?;
                q.create(name, string_map(v, "Attributes")?, string_map(v, "tags")?)?;
                Ok(json!({ "QueueUrl": self.url(host, name) }))
            }
            "GetQueueUrl" => {
                let name = str_field(v, "QueueName")?;
                if !q.exists(name) {
                    return Err(QError::QueueDoesNotExist.into());
                }
                Ok(json!({ "QueueUrl": self.url(host, name) }))
            }
            "ListQueues" => {
                let prefix = v
                    .get("QueueNamePrefix")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let max = opt_u64(v, "MaxResults", 1000)?.unwrap_or(1000) as usize;
                let after = v.get("NextToken").and_then(Value::as_str).unwrap_or("");
                let all: Vec<String> = q
                    .list(prefix)
                    .into_iter()
                    .filter(|n| n.as_str() > after)
                    .collect();
                let page: Vec<String> = all.iter().take(max).cloned().collect();
                let mut out = json!({
                    "QueueUrls": page.iter().map(|n| self.url(host, n)).collect::<Vec<_>>()
                });
                if all.len() > max
                    && let Some(last) = page.last()
                {
                    out["NextToken"] = last.clone().into();
                }
                Ok(out)
            }
            "DeleteQueue" => {
                q.delete_queue(&self.queue(v)?)?;
                Ok(json!({}))
            }
            "PurgeQueue" => {
                q.purge(&self.queue(v)?)?;
                Ok(json!({}))
            }
            "GetQueueAttributes" => {
                let name = self.queue(v)?;
                let wanted = names(v, "AttributeNames");
                let all = q.attributes(&name)?;
                let picked: Map<String, Value> = all
                    .into_iter()
                    .filter(|(k, _)| wanted.iter().any(|w| w == "All" || w == k))
                    .map(|(k, v)| (k, v.into()))
                    .collect();
                Ok(json!({ "Attributes": picked }))
            }
            "SetQueueAttributes" => {
                q.set_attributes(&self.queue(v)?, string_map(v, "Attributes")?)?;
                Ok(json!({}))
            }
            "TagQueue" => {
                let tags = string_map(v, "Tags")?;
                q.set_tags(&self.queue(v)?, |t| t.extend(tags))?;
                Ok(json!({}))
            }
            "UntagQueue" => {
                let keys = names(v, "TagKeys");
                q.set_tags(&self.queue(v)?, |t| t.retain(|k, _| !keys.contains(k)))?;
                Ok(json!({}))
            }
            "ListQueueTags" => Ok(json!({ "Tags": q.tags(&self.queue(v)?)? })),
            "SendMessage" => {
                let name = self.queue(v)?;
                let out = outgoing(v)?;
                let sent = q.send(&name, vec![out], "nimbus")?;
                let m = sent.into_iter().next().expect("one in, one out")?;
                let mut r = json!({
                    "MessageId": m.id,
                    "MD5OfMessageBody": nimbus_queues::md5_hex(&m.body),
                });
                if m.dedup_id.is_some() {
                    r["SequenceNumber"] = m.sequence_number().into();
                }
                if let Some(d) = nimbus_queues::md5_of_attributes(&m.attributes) {
                    r["MD5OfMessageAttributes"] = d.into();
                }
                Ok(r)
            }
            "SendMessageBatch" => {
                let name = self.queue(v)?;
                let entries = v
                    .get("Entries")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                check_batch(&entries)?;
                let mut ok = Vec::new();
                let mut failed = Vec::new();
                let mut to_send = Vec::new();
                let mut ids = Vec::new();
                for e in &entries {
                    let id = e
                        .get("Id")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string();
                    match outgoing(e) {
                        Ok(o) => {
                            to_send.push(o);
                            ids.push(id);
                        }
                        Err(err) => failed.push(batch_error(&id, err)),
                    }
                }
                let total: usize = to_send.iter().map(|o| o.body.len()).sum();
                if total > nimbus_queues::MAX_MESSAGE_BYTES {
                    return Err(SqsError::new(
                        "BatchRequestTooLong",
                        "AWS.SimpleQueueService.BatchRequestTooLong",
                        format!(
                            "Batch requests cannot be longer than {} bytes.",
                            nimbus_queues::MAX_MESSAGE_BYTES
                        ),
                    ));
                }
                for (id, res) in ids.iter().zip(q.send(&name, to_send, "nimbus")?) {
                    match res {
                        Ok(m) => {
                            let mut e = json!({
                                "Id": id, "MessageId": m.id,
                                "MD5OfMessageBody": nimbus_queues::md5_hex(&m.body),
                            });
                            if m.dedup_id.is_some() {
                                e["SequenceNumber"] = m.sequence_number().into();
                            }
                            if let Some(d) = nimbus_queues::md5_of_attributes(&m.attributes) {
                                e["MD5OfMessageAttributes"] = d.into();
                            }
                            ok.push(e);
                        }
                        Err(err) => failed.push(batch_error(id, err.into())),
                    }
                }
                Ok(json!({ "Successful": ok, "Failed": failed }))
            }
            "ReceiveMessage" => {
                let name = self.queue(v)?;
                let max = match opt_u64(v, "MaxNumberOfMessages", 10)? {
                    Some(0) => {
                        return Err(SqsError::invalid(
                            "Value 0 for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.",
                        ));
                    }
                    Some(n) => n as usize,
                    None => 1,
                };
                let visibility = opt_u64(v, "VisibilityTimeout", 43_200)?;
                let wait = opt_u64(v, "WaitTimeSeconds", 20)?;
                let got = q.receive(&name, max, visibility, wait).await?;
                let mut sys = names(v, "AttributeNames");
                sys.extend(names(v, "MessageSystemAttributeNames"));
                let user = names(v, "MessageAttributeNames");
                let all_sys = sys.iter().any(|s| s == "All");
                let messages: Vec<Value> = got
                    .into_iter()
                    .map(|r| {
                        let m = r.message;
                        let mut out = json!({
                            "MessageId": m.id, "ReceiptHandle": r.receipt_handle,
                            "MD5OfBody": nimbus_queues::md5_hex(&m.body), "Body": m.body,
                        });
                        let mut attrs = Map::new();
                        let mut add = |k: &str, val: String| {
                            if all_sys || sys.iter().any(|s| s == k) {
                                attrs.insert(k.into(), val.into());
                            }
                        };
                        add("SenderId", m.sender_id.clone());
                        add("SentTimestamp", m.sent_ms.to_string());
                        add("ApproximateReceiveCount", m.receive_count.to_string());
                        if let Some(f) = m.first_receive_ms {
                            add("ApproximateFirstReceiveTimestamp", f.to_string());
                        }
                        if let Some(t) = &m.trace_header {
                            add("AWSTraceHeader", t.clone());
                        }
                        if let Some(s) = &m.dead_letter_source_arn {
                            add("DeadLetterQueueSourceArn", s.clone());
                        }
                        if let Some(g) = &m.group_id {
                            add("MessageGroupId", g.clone());
                        }
                        if let Some(d) = &m.dedup_id {
                            add("MessageDeduplicationId", d.clone());
                            add("SequenceNumber", m.sequence_number());
                        }
                        if !attrs.is_empty() {
                            out["Attributes"] = Value::Object(attrs);
                        }
                        let selected: BTreeMap<String, Attribute> = m
                            .attributes
                            .iter()
                            .filter(|(k, _)| {
                                user.iter().any(|u| {
                                    u == "All"
                                        || u == ".*"
                                        || *u == **k
                                        || u.strip_suffix(".*")
                                            .is_some_and(|p| k.starts_with(&format!("{p}.")))
                                })
                            })
                            .map(|(k, a)| (k.clone(), a.clone()))
                            .collect();
                        if let Some(d) = nimbus_queues::md5_of_attributes(&selected) {
                            out["MD5OfMessageAttributes"] = d.into();
                            out["MessageAttributes"] = Value::Object(
                                selected
                                    .iter()
                                    .map(|(k, a)| (k.clone(), attribute_json(a)))
                                    .collect(),
                            );
                        }
                        out
                    })
                    .collect();
                if messages.is_empty() {
                    return Ok(json!({}));
                }
                Ok(json!({ "Messages": messages }))
            }
            "DeleteMessage" => {
                q.delete_message(&self.queue(v)?, str_field(v, "ReceiptHandle")?)?;
                Ok(json!({}))
            }
            "DeleteMessageBatch" => {
                let name = self.queue(v)?;
                let entries = v
                    .get("Entries")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                check_batch(&entries)?;
                let mut ok = Vec::new();
                let mut failed = Vec::new();
                let mut ids = Vec::new();
                let mut handles = Vec::new();
                for e in &entries {
                    let id = e.get("Id").and_then(Value::as_str).unwrap_or("");
                    match str_field(e, "ReceiptHandle") {
                        Ok(h) => {
                            ids.push(id);
                            handles.push(h);
                        }
                        Err(err) => failed.push(batch_error(id, err)),
                    }
                }
                // One commit for the whole batch.
                for (id, res) in ids.iter().zip(q.delete_messages(&name, &handles)?) {
                    match res {
                        Ok(()) => ok.push(json!({ "Id": id })),
                        Err(err) => failed.push(batch_error(id, err.into())),
                    }
                }
                Ok(json!({ "Successful": ok, "Failed": failed }))
            }
            "ChangeMessageVisibilityBatch" => {
                let name = self.queue(v)?;
                let entries = v
                    .get("Entries")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                check_batch(&entries)?;
                let mut ok = Vec::new();
                let mut failed = Vec::new();
                for e in &entries {
                    let id = e.get("Id").and_then(Value::as_str).unwrap_or("");
                    let res: R<()> = (|| {
                        let handle = str_field(e, "ReceiptHandle")?;
                        let secs = opt_u64(e, "VisibilityTimeout", 43_200)?.unwrap_or(0);
                        q.change_visibility(&name, handle, secs)?;
                        Ok(())
                    })();
                    match res {
                        Ok(()) => ok.push(json!({ "Id": id })),
                        Err(err) => failed.push(batch_error(id, err)),
                    }
                }
                Ok(json!({ "Successful": ok, "Failed": failed }))
            }
            "StartMessageMoveTask" => {
                let source_arn = str_field(v, "SourceArn")?.to_string();
                let source = self.queue_by_arn(&source_arn, "SourceArn")?;
                if !q.is_dead_letter_queue(&source) {
                    return Err(SqsError::invalid(
                        "Source queue must be configured as a Dead Letter Queue.",
                    ));
                }
                let destination_arn = v
                    .get("DestinationArn")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                let destination = match &destination_arn {
                    Some(d) => Some(self.queue_by_arn(d, "DestinationArn")?),
                    None => None,
                };
                let rate = opt_u64(v, "MaxNumberOfMessagesPerSecond", 500)?;
                if rate == Some(0) {
                    return Err(SqsError::invalid(
                        "Value 0 for parameter MaxNumberOfMessagesPerSecond is invalid. Reason: Must be between 1 and 500.",
                    ));
                }
                if self
                    .tasks
                    .lock()
                    .expect("tasks lock")
                    .iter()
                    .any(|t| t.source_arn == source_arn && t.status == "RUNNING")
                {
                    return Err(SqsError::new(
                        "UnsupportedOperation",
                        "AWS.SimpleQueueService.UnsupportedOperation",
                        "There is already a task running. Only one active task is allowed for a source queue arn at a given time.",
                    ));
                }
                let to_move = q.backlog(&source);
                let handle = base64::engine::general_purpose::STANDARD.encode(format!(
                    "{source_arn}|{}",
                    nimbus_queues::md5_hex(&format!(
                        "{source_arn}{to_move}{:?}",
                        std::time::SystemTime::now()
                    ))
                ));
                let moved = match rate {
                    None => q.move_messages(&source, destination.as_deref(), usize::MAX)?,
                    Some(_) => 0,
                };
                let task = MoveTask {
                    handle: handle.clone(),
                    source_arn,
                    destination_arn,
                    moved,
                    to_move,
                    rate,
                    status: if rate.is_some() {
                        "RUNNING"
                    } else {
                        "COMPLETED"
                    },
                    started_ms: std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_millis() as u64)
                        .unwrap_or(0),
                };
                self.tasks.lock().expect("tasks lock").push(task);
                if let Some(r) = rate {
                    tokio::spawn(run_move_task(
                        self.queues.clone(),
                        self.tasks.clone(),
                        handle.clone(),
                        source,
                        destination,
                        r,
                    ));
                }
                Ok(json!({ "TaskHandle": handle }))
            }
            "ListMessageMoveTasks" => {
                let source_arn = str_field(v, "SourceArn")?;
                self.queue_by_arn(source_arn, "SourceArn")?;
                let max = opt_u64(v, "MaxResults", 10)?.unwrap_or(1) as usize;
                let tasks = self.tasks.lock().expect("tasks lock");
                let results: Vec<Value> = tasks
                    .iter()
                    .rev()
                    .filter(|t| t.source_arn == source_arn)
                    .take(max.max(1))
                    .map(|t| {
                        let mut r = json!({
                            "Status": t.status, "SourceArn": t.source_arn,
                            "ApproximateNumberOfMessagesMoved": t.moved,
                            "ApproximateNumberOfMessagesToMove": t.to_move.max(t.moved),
                            "StartedTimestamp": t.started_ms,
                        });
                        // Only a running task has a handle to cancel it by.
                        if t.status == "RUNNING" {
                            r["TaskHandle"] = t.handle.clone().into();
                        }
                        if let Some(d) = &t.destination_arn {
                            r["DestinationArn"] = d.clone().into();
                        }
                        if let Some(rate) = t.rate {
                            r["MaxNumberOfMessagesPerSecond"] = rate.into();
                        }
                        r
                    })
                    .collect();
                Ok(json!({ "Results": results }))
            }
            "CancelMessageMoveTask" => {
                let handle = str_field(v, "TaskHandle")?;
                let mut tasks = self.tasks.lock().expect("tasks lock");
                match tasks.iter_mut().find(|t| t.handle == handle) {
                    Some(t) if t.status == "RUNNING" => {
                        t.status = "CANCELLED";
                        Ok(json!({ "ApproximateNumberOfMessagesMoved": t.moved }))
                    }
                    Some(_) => Err(SqsError::new(
                        "UnsupportedOperation",
                        "AWS.SimpleQueueService.UnsupportedOperation",
                        "Only active tasks can be cancelled: this task has completed.",
                    )),
                    None => Err(SqsError::new(
                        "ResourceNotFoundException",
                        "ResourceNotFoundException",
                        "Task does not exist.",
                    )),
                }
            }
            "ChangeMessageVisibility" => {
                let secs = opt_u64(v, "VisibilityTimeout", 43_200)?
                    .ok_or_else(|| SqsError::missing("VisibilityTimeout"))?;
                q.change_visibility(&self.queue(v)?, str_field(v, "ReceiptHandle")?, secs)?;
                Ok(json!({}))
            }
            other => Err(SqsError::new(
                "UnsupportedOperation",
                "AWS.SimpleQueueService.UnsupportedOperation",
                format!("{other} is not supported by Nimbus yet"),
            )),
        }
    }
}
