//! Subscription filters: a log group's events that a filter pattern takes
//! are sent, as they are written, to a Lambda function in CloudWatch Logs'
//! `awslogs` event (the `DATA_MESSAGE` JSON, gzipped, base64), invoked
//! asynchronously through the outbox, as `logs.amazonaws.com` for the group
//! (the function's policy must let it in). At most two per group, as on AWS.

use crate::filter::FilterPattern;
use crate::store::{Error, Logs, Result};
use base64::Engine as _;
use nimbus_invoke::permissions::Acting;
use nimbus_invoke::{Delivery, Outbox, Staged};
use nimbus_storage::WriteBatch;
use nimbus_storage::records::Record;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::io::Write;
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubscriptionFilter {
    pub format: u32,
    /// `group\nname`.
    pub key: String,
    pub group: String,
    pub name: String,
    pub pattern: String,
    pub destination: String,
    pub role_arn: Option<String>,
    pub distribution: String,
    pub created_ms: u64,
}

impl Record for SubscriptionFilter {
    fn key(&self) -> &str {
        &self.key
    }
    fn format(&self) -> u32 {
        self.format
    }
}

/// The `awslogs` event a function receives for these events.
pub fn awslogs_event(
    owner: &str,
    group: &str,
    stream: &str,
    filter: &str,
    events: &[(u64, &str)],
) -> String {
    let body = json!({
        "messageType": "DATA_MESSAGE", "owner": owner, "logGroup": group, "logStream": stream,
        "subscriptionFilters": [filter],
        "logEvents": events.iter().enumerate().map(|(i, (t, m))| json!({
            "id": format!("{t:020}{i:016}"), "timestamp": t, "message": m})).collect::<Vec<_>>(),
    });
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(body.to_string().as_bytes())
        .expect("writing to memory");
    let data =
        base64::engine::general_purpose::STANDARD.encode(gz.finish().expect("writing to memory"));
    json!({"awslogs": {"data": data}}).to_string()
}

impl Logs {
    /// Deliver subscription filters' events through `outbox`, checked by
    /// `permissions` (none: IAM off).
    pub fn set_outbox(
        &self,
        outbox: Arc<dyn Outbox>,
        permissions: Option<Arc<dyn nimbus_invoke::permissions::Permissions>>,
    ) {
        let _ = self.outbox.set((outbox, permissions));
    }

    /// Whether `function` lets CloudWatch Logs in for the group (its source
    /// ARN is the group's with `:*`, as CloudWatch Logs names it).
    fn may_invoke(&self, group_arn: &str, function: &str) -> std::result::Result<(), String> {
        let source = format!("{group_arn}:*");
        let Some((_, permissions)) = self.outbox.get() else {
            return Err(
                "Nimbus delivers subscription filters only when it runs as a server".into(),
            );
        };
        nimbus_invoke::permissions::check(
            permissions.as_deref(),
            Acting::Service {
                service: "logs.amazonaws.com",
                source_arn: &source,
                source_account: &self.account,
            },
            "lambda:InvokeFunction",
            function,
        )
        .map_err(|e| e.to_string())
    }

    pub fn put_subscription_filter(&self, f: SubscriptionFilter) -> Result<()> {
        let g = self.group(&f.group)?;
        FilterPattern::parse(&f.pattern)
            .map_err(|e| Error::Invalid(format!("Invalid subscription filter pattern: {e}")))?;
        if !f.destination.starts_with("arn:aws:lambda:") {
            return Err(Error::Invalid(format!(
                "Nimbus delivers subscription filters to Lambda functions only, not {}.",
                f.destination
            )));
        }
        let exists = self
            .outbox
            .get()
            .is_some_and(|(o, _)| o.exists(&f.destination));
        if !exists {
            return Err(Error::Invalid(format!(
                "The destination {} does not exist.",
                f.destination
            )));
        }
        if let Err(why) = self.may_invoke(&g.arn, &f.destination) {
            return Err(Error::Invalid(format!(
                "Could not execute the lambda function. Make sure you have given CloudWatch Logs permission to execute your function. ({why})"
            )));
        }
        if !matches!(f.distribution.as_str(), "ByLogStream" | "Random") {
            return Err(Error::Invalid(format!(
                "The distribution {} is not valid.",
                f.distribution
            )));
        }
        let others = self
            .subscriptions
            .prefixed(&format!("{}\n", f.group))
            .into_iter()
            .filter(|x| x.key != f.key)
            .count();
        if others >= 2 {
            return Err(Error::Limit(
                "Resource limit exceeded: a log group may have at most 2 subscription filters."
                    .into(),
            ));
        }
        self.subscriptions.put(f)?;
        self.compiled.lock().expect("compiled lock").clear();
        Ok(())
    }

    pub fn delete_subscription_filter(&self, group: &str, name: &str) -> Result<()> {
        self.group(group)?;
        self.subscriptions
            .delete(&format!("{group}\n{name}"))?
            .ok_or_else(|| {
                Error::NotFound("The specified subscription filter does not exist.".into())
            })?;
        self.compiled.lock().expect("compiled lock").clear();
        Ok(())
    }

    pub fn subscription_filters(&self, group: &str) -> Vec<Arc<SubscriptionFilter>> {
        let mut v = self.subscriptions.prefixed(&format!("{group}\n"));
        v.sort_by(|a, b| a.key.cmp(&b.key));
        v
    }

    /// Send events just written to `group`'s stream to its subscriptions.
    pub(crate) fn apply_subscriptions(&self, group: &str, stream: &str, events: &[(u64, &str)]) {
        let Some((outbox, _)) = self.outbox.get() else {
            return;
        };
        let subs = self.subscriptions.prefixed(&format!("{group}\n"));
        if subs.is_empty() {
            return;
        }
        let group_arn = self.group_arn(group);
        let mut batch = WriteBatch::default();
        let mut staged: Vec<Staged> = Vec::new();
        for s in subs {
            let Ok(pattern) = FilterPattern::parse(&s.pattern) else {
                continue;
            };
            let taken: Vec<(u64, &str)> = events
                .iter()
                .copied()
                .filter(|(_, m)| pattern.matches(m))
                .collect();
            if taken.is_empty() {
                continue;
            }
            if let Err(why) = self.may_invoke(&group_arn, &s.destination) {
                tracing::warn!(group, filter = %s.name, %why, "a subscription filter's function does not let CloudWatch Logs in");
                continue;
            }
            let payload = awslogs_event(&self.account, group, stream, &s.name, &taken);
            match outbox.stage_delivery(
                &s.destination,
                &Delivery::new(payload.as_bytes(), None),
                &mut batch,
            ) {
                Ok(x) => staged.push(x),
                Err(e) => {
                    tracing::warn!(group, filter = %s.name, error = %e, "a subscription filter's events could not be sent");
                }
            }
        }
        if staged.is_empty() {
            return;
        }
        match self.kv.commit(batch) {
            Ok(()) => outbox.committed(staged),
            Err(e) => {
                tracing::warn!(group, error = %e, "a subscription filter's events could not be written");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn the_event_is_gzipped_json_in_base64() {
        let e: serde_json::Value = serde_json::from_str(&awslogs_event(
            "000000000000",
            "/g",
            "s",
            "f",
            &[(5, "hello")],
        ))
        .unwrap();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(e["awslogs"]["data"].as_str().unwrap())
            .unwrap();
        let mut text = String::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_string(&mut text)
            .unwrap();
        let body: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["messageType"], "DATA_MESSAGE");
        assert_eq!(body["logEvents"][0]["message"], "hello");
        assert_eq!(body["subscriptionFilters"][0], "f");
    }
}
