//! What a subscriber receives: a queue, SNS's notification envelope (or the
//! message alone with `RawMessageDelivery`); a function, the `Records`
//! event Lambda gets from SNS. With `MessageStructure: json` each protocol
//! gets its own text (or the `default` one).

use crate::{Error, Message, Published, Subscription, Topics};
use nimbus_invoke::permissions::Acting;
use nimbus_invoke::{Delivery, Staged};
use nimbus_storage::WriteBatch;
use serde_json::{Map, Value, json};

/// The text per protocol of a message (`default` for the others).
pub(crate) fn texts(m: &Message) -> Result<Map<String, Value>, Error> {
    if !m.json_structure {
        return Ok(Map::from_iter([("default".to_string(), json!(m.message))]));
    }
    let Ok(Value::Object(by_protocol)) = serde_json::from_str::<Value>(&m.message) else {
        return Err(Error::Invalid(
            "Invalid parameter: Message Structure - JSON message body failed to parse".into(),
        ));
    };
    if !by_protocol.contains_key("default") {
        return Err(Error::Invalid(
            "Invalid parameter: Message Structure - No default entry in JSON message body".into(),
        ));
    }
    Ok(by_protocol)
}

fn text_for<'a>(texts: &'a Map<String, Value>, protocol: &str) -> &'a str {
    texts
        .get(protocol)
        .or_else(|| texts.get("default"))
        .and_then(Value::as_str)
        .unwrap_or_default()
}

impl Topics {
    /// The envelope of a notification, as SNS writes it (`Subject` only
    /// when there is one), signed when the server gave a signing key.
    fn envelope(
        &self,
        s: &Subscription,
        m: &Message,
        text: &str,
        p: &Published,
        lambda: bool,
    ) -> Value {
        let attributes: Map<String, Value> = m
            .attributes
            .iter()
            .map(|(k, (t, v))| (k.clone(), json!({"Type": t, "Value": v})))
            .collect();
        let unsubscribe = format!(
            "{}{}unsubscribe?SubscriptionArn={}",
            self.endpoint(),
            crate::PAGES,
            s.arn
        );
        let mut v = json!({
            "Type": "Notification", "MessageId": p.id, "TopicArn": s.topic_arn,
            "Message": text,
            "Timestamp": nimbus_model::time::Utc::from_millis(nimbus_model::time::now_millis()).rfc3339_millis(),
            "SignatureVersion": "1",
        });
        if let Some(sequence) = &p.sequence {
            v["SequenceNumber"] = json!(sequence);
        }
        if lambda {
            v["Subject"] = m.subject.as_ref().map_or(Value::Null, |s| json!(s));
            v["UnsubscribeUrl"] = json!(unsubscribe);
            v["MessageAttributes"] = Value::Object(attributes);
        } else {
            if let Some(subject) = &m.subject {
                v["Subject"] = json!(subject);
            }
            v["UnsubscribeURL"] = json!(unsubscribe);
            if !attributes.is_empty() {
                v["MessageAttributes"] = Value::Object(attributes);
            }
        }
        self.sign(&mut v, &s.topic_arn, lambda);
        v
    }

    /// Stage the delivery of `m` to `s`, if its filter policy takes it; one
    /// that cannot be delivered (the endpoint is gone or does not let the
    /// topic in) goes to the subscription's dead-letter queue, if any.
    pub(crate) fn deliver(
        &self,
        s: &Subscription,
        m: &Message,
        texts: &Map<String, Value>,
        p: &Published,
        batch: &mut WriteBatch,
        staged: &mut Vec<Staged>,
    ) {
        if let (Some(policy), Some(filters)) = (
            s.attributes.get("FilterPolicy").filter(|p| !p.is_empty()),
            &self.filters,
        ) {
            let scope = s
                .attributes
                .get("FilterPolicyScope")
                .map_or("MessageAttributes", String::as_str);
            if !filters.takes(policy, scope, &m.attributes, text_for(texts, &s.protocol)) {
                return;
            }
        }
        let text = text_for(texts, &s.protocol);
        let raw = s
            .attributes
            .get("RawMessageDelivery")
            .is_some_and(|v| v == "true");
        if matches!(s.protocol.as_str(), "http" | "https") {
            // Only once the endpoint confirmed; POSTed by the HTTP worker.
            if s.confirmed() {
                let body = if raw {
                    text.to_string()
                } else {
                    self.envelope(s, m, text, p, false).to_string()
                };
                if let Some(post) = self.stage_post(s, "Notification", &p.id, body, raw, batch) {
                    staged.push(Staged::new(crate::StagedPost(post)));
                }
            }
            return;
        }
        let (action, lambda) = match s.protocol.as_str() {
            "sqs" => ("sqs:SendMessage", false),
            _ => ("lambda:InvokeFunction", true),
        };
        let payload = if lambda {
            json!({"Records": [{
                "EventSource": "aws:sns", "EventVersion": "1.0",
                "EventSubscriptionArn": s.arn,
                "Sns": self.envelope(s, m, text, p, true),
            }]})
            .to_string()
        } else if raw {
            text.to_string()
        } else {
            self.envelope(s, m, text, p, false).to_string()
        };
        let mut delivery = Delivery::new(payload.as_bytes(), m.trace.as_deref());
        delivery.group_id.clone_from(&m.group_id);
        delivery.dedup_id.clone_from(&m.dedup_id);
        if raw {
            // Raw delivery to a queue: the message attributes become the
            // queue message's (`String.Array` as a `String`).
            delivery.attributes = m
                .attributes
                .iter()
                .map(|(k, (t, v))| {
                    let t = if t == "String.Array" { "String" } else { t };
                    (k.clone(), t.to_string(), v.clone())
                })
                .collect();
        }
        let outcome = self
            .check(&s.topic_arn, action, &s.endpoint)
            .map_err(|why| ("AccessDenied", why))
            .and_then(|()| {
                self.outbox
                    .stage_delivery(&s.endpoint, &delivery, batch)
                    .map_err(|e| match e {
                        nimbus_invoke::DeliveryError::NoSuchTarget(m) => ("EndpointNotFound", m),
                        other => ("DeliveryFailed", other.to_string()),
                    })
            });
        match outcome {
            Ok(t) => staged.push(t),
            Err((code, why)) => {
                tracing::warn!(subscription = %s.arn, code, %why, "an SNS delivery failed");
                let body = if lambda {
                    self.envelope(s, m, text, p, false).to_string()
                } else {
                    payload
                };
                self.dead_letter(s, m, &body, (code, &why), batch, staged);
            }
        }
    }

    /// Whether the topic, acting as `sns.amazonaws.com`, may do `action` on
    /// `resource` (the endpoint's or dead-letter queue's policy).
    fn check(&self, topic: &str, action: &str, resource: &str) -> Result<(), String> {
        let acting = Acting::Service {
            service: "sns.amazonaws.com",
            source_arn: topic,
            source_account: &self.account,
        };
        nimbus_invoke::permissions::check(self.permissions.as_deref(), acting, action, resource)
            .map_err(|e| e.to_string())
    }

    /// Send a message that could not be delivered to the subscription's
    /// `RedrivePolicy` queue, with the attributes SNS adds. Without one, or
    /// when that queue refuses it, the message is lost (logged), as on SNS.
    pub(crate) fn dead_letter(
        &self,
        s: &Subscription,
        m: &Message,
        body: &str,
        (code, why): (&str, &str),
        batch: &mut WriteBatch,
        staged: &mut Vec<Staged>,
    ) {
        let Some(dlq) = s
            .attributes
            .get("RedrivePolicy")
            .and_then(|p| serde_json::from_str::<Value>(p).ok())
            .and_then(|p| p.get("deadLetterTargetArn")?.as_str().map(str::to_string))
        else {
            return;
        };
        let mut delivery = Delivery::new(body.as_bytes(), m.trace.as_deref())
            .attribute("RequestID", uuid::Uuid::new_v4().to_string())
            .attribute("ErrorCode", code)
            .attribute("ErrorMessage", why);
        delivery.group_id.clone_from(&m.group_id);
        delivery.dedup_id.clone_from(&m.dedup_id);
        let sent = self
            .check(&s.topic_arn, "sqs:SendMessage", &dlq)
            .and_then(|()| {
                self.outbox
                    .stage_delivery(&dlq, &delivery, batch)
                    .map_err(|e| e.to_string())
            });
        match sent {
            Ok(t) => staged.push(t),
            Err(why) => {
                tracing::warn!(subscription = %s.arn, dlq, %why, "an undeliverable message could not go to its dead-letter queue");
            }
        }
    }
}
