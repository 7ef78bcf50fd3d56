//! What a subscriber receives: a queue, SNS's notification envelope (or the
//! message alone with `RawMessageDelivery`); a function, the `Records`
//! event Lambda gets from SNS. With `MessageStructure: json` each protocol
//! gets its own text (or the `default` one).

use crate::{Error, Message, Subscription, Topics};
use nimbus_invoke::Staged;
use nimbus_invoke::permissions::Acting;
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
    /// when there is one). Nimbus does not sign notifications yet, so the
    /// signature members are left out rather than made up.
    fn envelope(&self, s: &Subscription, m: &Message, text: &str, id: &str, lambda: bool) -> Value {
        let attributes: Map<String, Value> = m
            .attributes
            .iter()
            .map(|(k, (t, v))| (k.clone(), json!({"Type": t, "Value": v})))
            .collect();
        let endpoint = self.endpoint.read().map(|e| e.clone()).unwrap_or_default();
        let unsubscribe = format!("{endpoint}/?Action=Unsubscribe&SubscriptionArn={}", s.arn);
        let mut v = json!({
            "Type": "Notification", "MessageId": id, "TopicArn": s.topic_arn,
            "Message": text,
            "Timestamp": nimbus_model::time::Utc::from_millis(nimbus_model::time::now_millis()).rfc3339_millis(),
            "SignatureVersion": "1",
        });
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
        v
    }

    /// Stage the delivery of `m` to `s`, if its filter policy takes it and
    /// the endpoint lets the topic in.
    pub(crate) fn deliver(
        &self,
        s: &Subscription,
        m: &Message,
        texts: &Map<String, Value>,
        id: &str,
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
        let (action, lambda) = match s.protocol.as_str() {
            "sqs" => ("sqs:SendMessage", false),
            _ => ("lambda:InvokeFunction", true),
        };
        let acting = Acting::Service {
            service: "sns.amazonaws.com",
            source_arn: &s.topic_arn,
            source_account: &self.account,
        };
        if let Err(why) = nimbus_invoke::permissions::check(
            self.permissions.as_deref(),
            acting,
            action,
            &s.endpoint,
        ) {
            tracing::warn!(subscription = %s.arn, %why, "SNS may not deliver to this endpoint");
            return;
        }
        let text = text_for(texts, &s.protocol);
        let raw = s
            .attributes
            .get("RawMessageDelivery")
            .is_some_and(|v| v == "true");
        let payload = if lambda {
            json!({"Records": [{
                "EventSource": "aws:sns", "EventVersion": "1.0",
                "EventSubscriptionArn": s.arn,
                "Sns": self.envelope(s, m, text, id, true),
            }]})
            .to_string()
        } else if raw {
            text.to_string()
        } else {
            self.envelope(s, m, text, id, false).to_string()
        };
        match self
            .outbox
            .stage(&s.endpoint, payload.as_bytes(), m.trace.as_deref(), batch)
        {
            Ok(t) => staged.push(t),
            Err(why) => tracing::warn!(subscription = %s.arn, %why, "stage an SNS delivery"),
        }
    }
}
