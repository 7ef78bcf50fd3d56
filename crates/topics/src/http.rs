//! HTTP subscriptions: the confirmation handshake and notifications POSTed
//! to the endpoint as SNS posts them (its headers, a signed JSON body or
//! the raw message), each a durable request of `nimbus-webhooks` written in
//! the batch that acknowledges the publish. Topics judge their requests: a
//! failure is retried by the subscription's (or topic's) delivery policy
//! unless the endpoint answered a client error, and a notification given up
//! goes to the subscription's dead-letter queue.

use crate::{Subscription, Topics};
use nimbus_invoke::Staged;
use nimbus_storage::WriteBatch;
use nimbus_webhooks::{Failure, Owner, Request, StagedRequest};
use serde_json::{Value, json};
use std::time::Duration;

/// The owner name of SNS's requests.
pub(crate) const OWNER: &str = "sns";

/// A subscription's retry policy for HTTP endpoints (SNS's
/// `defaultHealthyRetryPolicy`; its defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RetryPolicy {
    pub num_retries: u32,
    pub no_delay_retries: u32,
    pub min_delay_retries: u32,
    pub max_delay_retries: u32,
    pub min_delay_s: u64,
    pub max_delay_s: u64,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            num_retries: 3,
            no_delay_retries: 0,
            min_delay_retries: 0,
            max_delay_retries: 0,
            min_delay_s: 20,
            max_delay_s: 20,
        }
    }
}

impl RetryPolicy {
    /// The policy in a `DeliveryPolicy` attribute: a subscription's
    /// `healthyRetryPolicy`, or a topic's `http.defaultHealthyRetryPolicy`.
    pub fn from_attribute(text: &str) -> Option<RetryPolicy> {
        let v: Value = serde_json::from_str(text).ok()?;
        let p = v
            .get("healthyRetryPolicy")
            .or_else(|| v.pointer("/http/defaultHealthyRetryPolicy"))?;
        let n = |k: &str, default: u64| p.get(k).and_then(Value::as_u64).unwrap_or(default);
        let d = RetryPolicy::default();
        let small = |k: &str, default: u32| u32::try_from(n(k, u64::from(default))).unwrap_or(100);
        Some(RetryPolicy {
            num_retries: small("numRetries", d.num_retries),
            no_delay_retries: small("numNoDelayRetries", 0),
            min_delay_retries: small("numMinDelayRetries", 0),
            max_delay_retries: small("numMaxDelayRetries", 0),
            min_delay_s: n("minDelayTarget", d.min_delay_s),
            max_delay_s: n("maxDelayTarget", d.max_delay_s),
        })
    }

    /// Why a policy is not one SNS takes.
    pub fn check(text: &str) -> Result<(), String> {
        let p = RetryPolicy::from_attribute(text)
            .ok_or("DeliveryPolicy: healthyRetryPolicy is missing or the policy is not JSON")?;
        if p.num_retries > 100 {
            return Err("DeliveryPolicy: numRetries must be at most 100".into());
        }
        if p.min_delay_s == 0 || p.min_delay_s > p.max_delay_s || p.max_delay_s > 3600 {
            return Err(
                "DeliveryPolicy: minDelayTarget must be at least 1 and at most maxDelayTarget, which is at most 3600".into(),
            );
        }
        if p.no_delay_retries + p.min_delay_retries + p.max_delay_retries > p.num_retries {
            return Err(
                "DeliveryPolicy: numNoDelayRetries, numMinDelayRetries and numMaxDelayRetries add up to more than numRetries".into(),
            );
        }
        Ok(())
    }

    /// The wait before retry `n` (1-based): first the immediate retries,
    /// then those at the minimum delay, then a linear climb to the maximum,
    /// and the last ones at the maximum.
    pub fn delay(&self, n: u32) -> Duration {
        let min_phase = self.no_delay_retries + self.min_delay_retries;
        let backoff = self
            .num_retries
            .saturating_sub(min_phase + self.max_delay_retries);
        let secs = if n <= self.no_delay_retries {
            0
        } else if n <= min_phase {
            self.min_delay_s
        } else if n <= min_phase + backoff {
            let step = u64::from(n - min_phase);
            let span = self.max_delay_s.saturating_sub(self.min_delay_s);
            self.min_delay_s + span * step / u64::from(backoff.max(1))
        } else {
            self.max_delay_s
        };
        Duration::from_secs(secs)
    }
}

impl Topics {
    /// The policy that governs retries to `s`.
    pub(crate) fn retry_policy(&self, s: &Subscription) -> RetryPolicy {
        let from = |text: Option<&String>| text.and_then(|t| RetryPolicy::from_attribute(t));
        from(s.attributes.get("DeliveryPolicy"))
            .or_else(|| {
                self.topics
                    .get(&s.topic_arn)
                    .and_then(|t| from(t.attributes.get("DeliveryPolicy")))
            })
            .unwrap_or_default()
    }

    /// Stage a POST of `body` to `s`'s endpoint into `batch`; `None` when
    /// the server gave no webhooks (HTTP subscriptions are refused then).
    pub(crate) fn stage_post(
        &self,
        s: &Subscription,
        message_type: &str,
        message_id: &str,
        body: String,
        raw: bool,
        batch: &mut WriteBatch,
    ) -> Option<StagedRequest> {
        let hooks = self.webhooks.as_ref()?;
        let context = json!({"subscription": s.arn, "type": message_type});
        let mut r = Request::new(OWNER, "POST", &s.endpoint, body, context)
            .header("content-type", "text/plain; charset=UTF-8")
            .header("user-agent", "Amazon Simple Notification Service Agent")
            .header("x-amz-sns-message-type", message_type)
            .header("x-amz-sns-message-id", message_id)
            .header("x-amz-sns-topic-arn", &s.topic_arn);
        if message_type != "SubscriptionConfirmation" {
            r = r.header("x-amz-sns-subscription-arn", &s.arn);
        }
        if raw {
            r = r.header("x-amz-sns-rawdelivery", "true");
        }
        Some(hooks.stage(r, batch))
    }

    /// POSTs whose batch is written: the worker may send them.
    pub(crate) fn http_committed(&self, posts: Vec<StagedRequest>) {
        if let Some(hooks) = &self.webhooks {
            hooks.committed(posts);
        }
    }

    fn subscription_of(&self, r: &Request) -> Option<std::sync::Arc<Subscription>> {
        let arn = r.context.get("subscription").and_then(Value::as_str)?;
        self.subscriptions.get(arn)
    }
}

impl Owner for Topics {
    fn retry(&self, r: &Request, why: &Failure) -> Option<Duration> {
        // A client error is the endpoint's final word, as on SNS.
        if !why.retriable() {
            return None;
        }
        let policy = self.retry_policy(&*self.subscription_of(r)?);
        (r.attempts <= policy.num_retries).then(|| policy.delay(r.attempts))
    }

    fn give_up(&self, r: &Request, why: &Failure, batch: &mut WriteBatch) -> Vec<Staged> {
        let mut staged = Vec::new();
        let notification = r.context.get("type").and_then(Value::as_str) == Some("Notification");
        if let (true, Some(s)) = (notification, self.subscription_of(r)) {
            let m = crate::Message {
                message: r.body.clone(),
                ..crate::Message::default()
            };
            let why = why.to_string();
            self.dead_letter(
                &s,
                &m,
                &r.body,
                ("DeliveryFailed", &why),
                batch,
                &mut staged,
            );
        }
        staged
    }

    fn committed(&self, staged: Vec<Staged>) {
        if !staged.is_empty() {
            self.outbox.committed(staged);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_policies_read_and_pace_as_sns_does() {
        let d = RetryPolicy::default();
        assert_eq!((d.num_retries, d.delay(1)), (3, Duration::from_secs(20)));
        let p = RetryPolicy::from_attribute(
            r#"{"healthyRetryPolicy": {"numRetries": 6, "numNoDelayRetries": 1,
                "numMinDelayRetries": 1, "numMaxDelayRetries": 1,
                "minDelayTarget": 2, "maxDelayTarget": 8}}"#,
        )
        .unwrap();
        let waits: Vec<u64> = (1..=6).map(|n| p.delay(n).as_secs()).collect();
        assert_eq!(waits, [0, 2, 4, 6, 8, 8]);
        let topic = RetryPolicy::from_attribute(
            r#"{"http": {"defaultHealthyRetryPolicy": {"numRetries": 1, "minDelayTarget": 1, "maxDelayTarget": 1}}}"#,
        )
        .unwrap();
        assert_eq!((topic.num_retries, topic.delay(1).as_secs()), (1, 1));
        assert!(RetryPolicy::check(r#"{"healthyRetryPolicy": {"numRetries": 101}}"#).is_err());
        assert!(
            RetryPolicy::check(
                r#"{"healthyRetryPolicy": {"minDelayTarget": 30, "maxDelayTarget": 20}}"#
            )
            .is_err()
        );
        assert!(RetryPolicy::check("nope").is_err());
    }
}
