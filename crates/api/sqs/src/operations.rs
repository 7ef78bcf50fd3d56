//! SQS's operations: the [`Operation`] a request names, and one handler each
//! (parameters in SQS's JSON shape in, the answer's JSON out; the query
//! protocol is translated to and from that shape in [`crate::query`]).

use crate::*;

/// Declares the operations: the enum, its parsing from a name, and the
/// dispatcher that runs each one's handler.
macro_rules! operations {
    ($($name:ident => $handler:ident),* $(,)?) => {
        /// An SQS operation, parsed from `X-Amz-Target` or the query `Action`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Operation {
            $($name),*
        }

        impl Operation {
            pub fn parse(name: &str) -> Option<Operation> {
                match name {
                    $(stringify!($name) => Some(Operation::$name),)*
                    _ => None,
                }
            }
        }

        impl SqsApi {
            pub(crate) async fn execute(&self, op: Operation, v: &Value, host: &str) -> R<Value> {
                match op {
                    $(Operation::$name => self.$handler(v, host).await),*
                }
            }
        }
    };
}

operations! {
    CreateQueue => create_queue,
    GetQueueUrl => get_queue_url,
    ListQueues => list_queues,
    DeleteQueue => delete_queue,
    PurgeQueue => purge_queue,
    GetQueueAttributes => get_queue_attributes,
    SetQueueAttributes => set_queue_attributes,
    TagQueue => tag_queue,
    UntagQueue => untag_queue,
    ListQueueTags => list_queue_tags,
    SendMessage => send_message,
    SendMessageBatch => send_message_batch,
    ReceiveMessage => receive_message,
    DeleteMessage => delete_message,
    DeleteMessageBatch => delete_message_batch,
    ChangeMessageVisibilityBatch => change_message_visibility_batch,
    StartMessageMoveTask => start_message_move_task,
    ListMessageMoveTasks => list_message_move_tasks,
    CancelMessageMoveTask => cancel_message_move_task,
    ChangeMessageVisibility => change_message_visibility,
    ListDeadLetterSourceQueues => list_dead_letter_source_queues,
    AddPermission => add_permission,
    RemovePermission => remove_permission,
}

/// The names `GetQueueAttributes` takes (SQS's `QueueAttributeName`).
const QUEUE_ATTRIBUTE_NAMES: [&str; 22] = [
    "All",
    "Policy",
    "VisibilityTimeout",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
    "QueueArn",
    "ApproximateNumberOfMessagesDelayed",
    "DelaySeconds",
    "ReceiveMessageWaitTimeSeconds",
    "RedrivePolicy",
    "FifoQueue",
    "ContentBasedDeduplication",
    "KmsMasterKeyId",
    "KmsDataKeyReusePeriodSeconds",
    "DeduplicationScope",
    "FifoThroughputLimit",
    "RedriveAllowPolicy",
    "SqsManagedSseEnabled",
];

impl SqsApi {
    async fn create_queue(&self, v: &Value, host: &str) -> R<Value> {
        let q = &self.queues;
        let name = str_field(v, "QueueName")?;
        q.create(name, string_map(v, "Attributes")?, string_map(v, "tags")?)?;
        Ok(json!({ "QueueUrl": self.url(host, name) }))
    }

    async fn get_queue_url(&self, v: &Value, host: &str) -> R<Value> {
        let q = &self.queues;
        let name = str_field(v, "QueueName")?;
        if !q.exists(name) {
            return Err(QError::QueueDoesNotExist.into());
        }
        Ok(json!({ "QueueUrl": self.url(host, name) }))
    }

    async fn list_queues(&self, v: &Value, host: &str) -> R<Value> {
        let q = &self.queues;
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

    async fn list_dead_letter_source_queues(&self, v: &Value, host: &str) -> R<Value> {
        let name = self.queue(v)?;
        let max = opt_u64(v, "MaxResults", 1000)?.unwrap_or(1000) as usize;
        let after = v.get("NextToken").and_then(Value::as_str).unwrap_or("");
        let all: Vec<String> = self
            .queues
            .dead_letter_sources(&name)
            .into_iter()
            .filter(|n| n.as_str() > after)
            .collect();
        let page: Vec<String> = all.iter().take(max).cloned().collect();
        let mut out = json!({
            "queueUrls": page.iter().map(|n| self.url(host, n)).collect::<Vec<_>>()
        });
        if all.len() > max
            && let Some(last) = page.last()
        {
            out["NextToken"] = last.clone().into();
        }
        Ok(out)
    }

    async fn delete_queue(&self, v: &Value, _host: &str) -> R<Value> {
        let q = &self.queues;
        q.delete_queue(&self.queue(v)?)?;
        Ok(json!({}))
    }

    async fn purge_queue(&self, v: &Value, _host: &str) -> R<Value> {
        let q = &self.queues;
        q.purge(&self.queue(v)?)?;
        Ok(json!({}))
    }

    async fn get_queue_attributes(&self, v: &Value, _host: &str) -> R<Value> {
        let q = &self.queues;
        let name = self.queue(v)?;
        let wanted = names(v, "AttributeNames");
        if let Some(bad) = wanted
            .iter()
            .find(|w| !QUEUE_ATTRIBUTE_NAMES.contains(&w.as_str()))
        {
            return Err(SqsError::new(
                "InvalidAttributeName",
                "InvalidAttributeName",
                format!("Unknown Attribute {bad}."),
            ));
        }
        let all = q.attributes(&name)?;
        let picked: Map<String, Value> = all
            .into_iter()
            .filter(|(k, _)| wanted.iter().any(|w| w == "All" || w == k))
            .map(|(k, v)| (k, v.into()))
            .collect();
        Ok(json!({ "Attributes": picked }))
    }

    async fn set_queue_attributes(&self, v: &Value, _host: &str) -> R<Value> {
        let q = &self.queues;
        q.set_attributes(&self.queue(v)?, string_map(v, "Attributes")?)?;
        Ok(json!({}))
    }

    /// `AddPermission`: a statement labelled `Label` in the queue's policy,
    /// letting the accounts named do the actions named.
    async fn add_permission(&self, v: &Value, _host: &str) -> R<Value> {
        let name = self.queue(v)?;
        let label = str_field(v, "Label")?;
        if label.is_empty()
            || label.len() > 80
            || !label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(SqsError::invalid(format!(
                "Value {label} for parameter Label is invalid. Reason: Label must be 1 to 80 letters, digits, hyphens or underscores."
            )));
        }
        let accounts = names(v, "AWSAccountIds");
        let actions = names(v, "Actions");
        if accounts.is_empty() {
            return Err(SqsError::new(
                "MissingParameter",
                "MissingParameter",
                "The request must contain the parameter AWSAccountIds.",
            ));
        }
        if actions.is_empty() {
            return Err(SqsError::new(
                "MissingParameter",
                "MissingParameter",
                "The request must contain the parameter Actions.",
            ));
        }
        const ACTIONS: [&str; 9] = [
            "*",
            "SendMessage",
            "ReceiveMessage",
            "DeleteMessage",
            "ChangeMessageVisibility",
            "GetQueueAttributes",
            "GetQueueUrl",
            "ListDeadLetterSourceQueues",
            "PurgeQueue",
        ];
        if let Some(bad) = actions.iter().find(|a| !ACTIONS.contains(&a.as_str())) {
            return Err(SqsError::invalid(format!(
                "Value SQS:{bad} for parameter ActionName is invalid. Reason: Please refer to the appropriate WSDL for a list of valid actions."
            )));
        }
        let mut policy = self.policy_of(&name)?;
        let statements = policy["Statement"]
            .as_array_mut()
            .expect("a policy's statements");
        if statements.iter().any(|s| s["Sid"] == label) {
            return Err(SqsError::invalid(format!(
                "Value {label} for parameter Label is invalid. Reason: Already exists."
            )));
        }
        let principals: Vec<String> = accounts
            .iter()
            .map(|a| format!("arn:aws:iam::{a}:root"))
            .collect();
        let acts: Vec<String> = actions.iter().map(|a| format!("SQS:{a}")).collect();
        statements.push(json!({
            "Sid": label, "Effect": "Allow",
            "Principal": {"AWS": if principals.len() == 1 { json!(principals[0]) } else { json!(principals) }},
            "Action": if acts.len() == 1 { json!(acts[0]) } else { json!(acts) },
            "Resource": self.queues.arn(&name),
        }));
        self.set_policy(&name, &policy)
    }

    /// `RemovePermission`: the statement labelled `Label` leaves the policy.
    async fn remove_permission(&self, v: &Value, _host: &str) -> R<Value> {
        let name = self.queue(v)?;
        let label = str_field(v, "Label")?;
        let mut policy = self.policy_of(&name)?;
        let statements = policy["Statement"]
            .as_array_mut()
            .expect("a policy's statements");
        let before = statements.len();
        statements.retain(|s| s["Sid"] != label);
        if statements.len() == before {
            return Err(SqsError::invalid(format!(
                "Value {label} for parameter Label is invalid. Reason: can't find label on existing policy."
            )));
        }
        self.set_policy(&name, &policy)
    }

    /// The queue's policy, or an empty one to add statements to.
    fn policy_of(&self, name: &str) -> R<Value> {
        let attrs = self.queues.attributes(name)?;
        let mut policy = attrs
            .get("Policy")
            .filter(|p| !p.is_empty())
            .and_then(|p| serde_json::from_str::<Value>(p).ok())
            .filter(Value::is_object)
            .unwrap_or_else(|| {
                json!({"Version": "2012-10-17", "Id": format!("{}/SQSDefaultPolicy", self.queues.arn(name))})
            });
        if !policy["Statement"].is_array() {
            let one = policy.get("Statement").cloned().filter(Value::is_object);
            policy["Statement"] = json!(one.into_iter().collect::<Vec<_>>());
        }
        Ok(policy)
    }

    fn set_policy(&self, name: &str, policy: &Value) -> R<Value> {
        let empty = policy["Statement"].as_array().is_some_and(Vec::is_empty);
        let text = if empty {
            String::new()
        } else {
            policy.to_string()
        };
        let attrs = std::collections::BTreeMap::from([("Policy".to_string(), text)]);
        self.queues.set_attributes(name, attrs)?;
        Ok(json!({}))
    }

    async fn tag_queue(&self, v: &Value, _host: &str) -> R<Value> {
        let q = &self.queues;
        let tags = string_map(v, "Tags")?;
        q.set_tags(&self.queue(v)?, |t| t.extend(tags))?;
        Ok(json!({}))
    }

    async fn untag_queue(&self, v: &Value, _host: &str) -> R<Value> {
        let q = &self.queues;
        let keys = names(v, "TagKeys");
        q.set_tags(&self.queue(v)?, |t| t.retain(|k, _| !keys.contains(k)))?;
        Ok(json!({}))
    }

    async fn list_queue_tags(&self, v: &Value, _host: &str) -> R<Value> {
        let q = &self.queues;
        Ok(json!({ "Tags": q.tags(&self.queue(v)?)? }))
    }

    async fn send_message(&self, v: &Value, _host: &str) -> R<Value> {
        let q = &self.queues;
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

    async fn send_message_batch(&self, v: &Value, _host: &str) -> R<Value> {
        let q = &self.queues;
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

    async fn receive_message(&self, v: &Value, _host: &str) -> R<Value> {
        let q = &self.queues;
        let name = self.queue(v)?;
        let max = match v.get("MaxNumberOfMessages") {
            None | Some(Value::Null) => 1,
            Some(n) => match n.as_u64().filter(|n| (1..=10).contains(n)) {
                Some(n) => n as usize,
                None => {
                    return Err(SqsError::invalid(format!(
                        "Value {n} for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided."
                    )));
                }
            },
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

    async fn delete_message(&self, v: &Value, _host: &str) -> R<Value> {
        let q = &self.queues;
        q.delete_message(&self.queue(v)?, str_field(v, "ReceiptHandle")?)?;
        Ok(json!({}))
    }

    async fn delete_message_batch(&self, v: &Value, _host: &str) -> R<Value> {
        let q = &self.queues;
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

    async fn change_message_visibility_batch(&self, v: &Value, _host: &str) -> R<Value> {
        let q = &self.queues;
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

    async fn start_message_move_task(&self, v: &Value, _host: &str) -> R<Value> {
        let q = &self.queues;
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

    async fn list_message_move_tasks(&self, v: &Value, _host: &str) -> R<Value> {
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

    async fn cancel_message_move_task(&self, v: &Value, _host: &str) -> R<Value> {
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

    async fn change_message_visibility(&self, v: &Value, _host: &str) -> R<Value> {
        let q = &self.queues;
        let secs = opt_u64(v, "VisibilityTimeout", 43_200)?
            .ok_or_else(|| SqsError::missing("VisibilityTimeout"))?;
        q.change_visibility(&self.queue(v)?, str_field(v, "ReceiptHandle")?, secs)?;
        Ok(json!({}))
    }
}
