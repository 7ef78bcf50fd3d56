//! Event notification configuration: the rules a bucket's changes are matched against.

use crate::*;

/// One `CloudFunctionConfiguration` of a notification configuration.
/// One `CloudFunctionConfiguration` or `QueueConfiguration` (`target` names the
/// element holding the target ARN).
pub(crate) fn notification_rule(c: &xml::Element, target: &str) -> Result<Rule, S3Error> {
    let function_arn = c
        .child_text(target)
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| {
            S3Error::invalid_argument(format!(
                "A notification configuration needs its {target} ARN"
            ))
        })?
        .to_string();
    let events: Vec<String> = c
        .children_named("Event")
        .map(|e| e.text.trim().to_string())
        .collect();
    if events.is_empty() {
        return Err(S3Error::invalid_argument(
            "A notification configuration needs at least one event",
        ));
    }
    if let Some(bad) = events.iter().find(|e| !EVENT_TYPES.contains(&e.as_str())) {
        return Err(S3Error::invalid_argument(format!(
            "The event is not supported for notifications: {bad}"
        )));
    }
    let (mut prefix, mut suffix) = (String::new(), String::new());
    if let Some(key) = c.child("Filter").and_then(|f| f.child("S3Key")) {
        for r in key.children_named("FilterRule") {
            let value = r.child_text("Value").unwrap_or("").to_string();
            match r
                .child_text("Name")
                .map(|n| n.trim().to_ascii_lowercase())
                .as_deref()
            {
                Some("prefix") if prefix.is_empty() => prefix = value,
                Some("suffix") if suffix.is_empty() => suffix = value,
                _ => {
                    return Err(S3Error::invalid_argument(
                        "FilterRule names must be 'prefix' or 'suffix', each at most once",
                    ));
                }
            }
        }
    }
    Ok(Rule {
        id: c
            .child_text("Id")
            .map(str::to_string)
            .filter(|i| !i.is_empty())
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        function_arn,
        events,
        prefix,
        suffix,
    })
}

impl S3Api {
    pub(crate) async fn put_notifications(
        &self,
        bucket: &str,
        body: crate::body::RequestBody,
        payload: &Payload,
    ) -> Result<Response<Body>, S3Error> {
        let doc = body::read_document(body, payload, xml::MAX_DOCUMENT).await?;
        let root = xml::parse(&doc).map_err(|m| S3Error::bad("MalformedXML", m))?;
        let mut rules = Vec::new();
        let mut eventbridge = false;
        for c in &root.children {
            match c.name.as_str() {
                "CloudFunctionConfiguration" => rules.push(notification_rule(c, "CloudFunction")?),
                "QueueConfiguration" => rules.push(notification_rule(c, "Queue")?),
                "TopicConfiguration" => rules.push(notification_rule(c, "Topic")?),
                "EventBridgeConfiguration" => eventbridge = true,
                _ => {}
            }
        }
        self.objects.set_notifications(bucket, rules, eventbridge)?;
        Ok(ok_empty(StatusCode::OK))
    }

    pub(crate) fn get_notifications(&self, bucket: &str) -> Result<Response<Body>, S3Error> {
        let b = self.objects.bucket(bucket)?;
        let mut doc = format!("{DECL}<NotificationConfiguration xmlns=\"{NS}\">");
        for r in &b.notifications {
            let (element, target) = if r
                .function_arn
                .starts_with(nimbus_objects::events::QUEUE_ARN_PREFIX)
            {
                ("QueueConfiguration", "Queue")
            } else if r
                .function_arn
                .starts_with(nimbus_objects::events::TOPIC_ARN_PREFIX)
            {
                ("TopicConfiguration", "Topic")
            } else {
                ("CloudFunctionConfiguration", "CloudFunction")
            };
            doc.push_str(&format!("<{element}>"));
            doc.push_str(&el("Id", &r.id));
            doc.push_str(&el(target, &r.function_arn));
            for e in &r.events {
                doc.push_str(&el("Event", e));
            }
            if !r.prefix.is_empty() || !r.suffix.is_empty() {
                doc.push_str("<Filter><S3Key>");
                for (name, value) in [("prefix", &r.prefix), ("suffix", &r.suffix)] {
                    if !value.is_empty() {
                        doc.push_str(&format!(
                            "<FilterRule>{}{}</FilterRule>",
                            el("Name", name),
                            el("Value", value)
                        ));
                    }
                }
                doc.push_str("</S3Key></Filter>");
            }
            doc.push_str(&format!("</{element}>"));
        }
        if b.eventbridge {
            doc.push_str("<EventBridgeConfiguration/>");
        }
        doc.push_str("</NotificationConfiguration>");
        Ok(xml_response(StatusCode::OK, doc))
    }
}
