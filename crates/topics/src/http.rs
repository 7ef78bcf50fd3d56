//! HTTP subscriptions: the confirmation handshake and notifications POSTed
//! to the endpoint as SNS posts them (its headers, a signed JSON body or
//! the raw message). Each POST is a durable record written in the batch
//! that acknowledges the publish; a worker sends it, retries it by the
//! subscription's (or topic's) delivery policy, and once the retries are
//! spent moves it to the subscription's dead-letter queue, deleting the
//! record in the same batch. A crash between a POST and its record's
//! deletion sends it again: at least once, never lost.

use crate::{Subscription, Topics};
use nimbus_model::time::now_millis;
use nimbus_storage::{Table, WriteBatch};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;

/// The pending POSTs, keyed by when they were made.
pub(crate) const HTTP_DELIVERIES: Table = Table("sns_http_deliveries");

/// How long one POST may take before it counts as failed (SNS waits 15 s).
const POST_TIMEOUT: Duration = Duration::from_secs(15);

/// One POST to an endpoint, until it succeeds or is given up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct HttpDelivery {
    pub key: String,
    pub subscription: String,
    pub endpoint: String,
    pub topic_arn: String,
    /// `Notification`, `SubscriptionConfirmation` or
    /// `UnsubscribeConfirmation`: the `x-amz-sns-message-type` header.
    pub message_type: String,
    pub message_id: String,
    pub body: String,
    pub raw: bool,
    pub attempts: u32,
    pub next_ms: u64,
}

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

    /// Add a POST of `body` to `s`'s endpoint to `batch`; the record to
    /// hand to [`Topics::http_committed`] once the batch is written.
    pub(crate) fn stage_post(
        &self,
        s: &Subscription,
        message_type: &str,
        message_id: &str,
        body: String,
        raw: bool,
        batch: &mut WriteBatch,
    ) -> HttpDelivery {
        let now = now_millis();
        let d = HttpDelivery {
            key: format!("{now:016}-{}", uuid::Uuid::new_v4()),
            subscription: s.arn.clone(),
            endpoint: s.endpoint.clone(),
            topic_arn: s.topic_arn.clone(),
            message_type: message_type.to_string(),
            message_id: message_id.to_string(),
            body,
            raw,
            attempts: 0,
            next_ms: now,
        };
        let bytes = serde_json::to_vec(&d).expect("a delivery encodes");
        batch.put(HTTP_DELIVERIES, d.key.as_bytes(), bytes);
        d
    }

    /// POSTs whose batch is written: the worker may send them.
    pub(crate) fn http_committed(&self, posts: Vec<HttpDelivery>) {
        if posts.is_empty() {
            return;
        }
        let mut pending = self.posts.lock().expect("posts lock");
        for d in posts {
            pending.insert(d.key.clone(), d);
        }
        drop(pending);
        self.wake.notify_one();
    }

    /// The POSTs left when the server stopped.
    pub(crate) fn load_posts(&self) -> nimbus_storage::Result<()> {
        let rows = self.kv.scan_prefix(HTTP_DELIVERIES, b"")?;
        let mut pending = self.posts.lock().expect("posts lock");
        for (_, v) in rows {
            match serde_json::from_slice::<HttpDelivery>(&v) {
                Ok(d) => {
                    pending.insert(d.key.clone(), d);
                }
                Err(e) => tracing::error!(error = %e, "an unreadable SNS HTTP delivery is skipped"),
            }
        }
        Ok(())
    }

    /// Send due POSTs for as long as the runtime runs.
    pub fn start(self: &std::sync::Arc<Self>) {
        let topics = std::sync::Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let Some(me) = topics.upgrade() else {
                    return;
                };
                let wake = me.wake.clone();
                me.send_due().await;
                drop(me);
                let _ = tokio::time::timeout(Duration::from_millis(500), wake.notified()).await;
            }
        });
    }

    /// POST every due delivery (concurrently), then record each outcome.
    async fn send_due(&self) {
        let now = now_millis();
        let due: Vec<HttpDelivery> = {
            let pending = self.posts.lock().expect("posts lock");
            pending
                .values()
                .filter(|d| d.next_ms <= now)
                .take(64)
                .cloned()
                .collect()
        };
        if due.is_empty() {
            return;
        }
        // Side by side: each is bounded by POST_TIMEOUT.
        let sends: Vec<_> = due
            .iter()
            .cloned()
            .map(|d| tokio::spawn(async move { post(&d).await }))
            .collect();
        for (d, send) in due.into_iter().zip(sends) {
            let outcome = send.await.unwrap_or_else(|e| Err(e.to_string()));
            if let Err(e) = self.settle(d, outcome) {
                tracing::error!(error = %e, "record an SNS HTTP delivery's outcome");
            }
        }
    }

    /// Record what became of one POST: done, retried later, or given up
    /// (to the dead-letter queue of a notification's subscription).
    fn settle(
        &self,
        mut d: HttpDelivery,
        outcome: Result<(), String>,
    ) -> nimbus_storage::Result<()> {
        let mut batch = WriteBatch::default();
        let mut staged = Vec::new();
        let subscription = self.subscriptions.get(&d.subscription);
        let keep = match (&outcome, &subscription) {
            (Ok(()), _) | (_, None) => false,
            (Err(why), Some(s)) => {
                d.attempts += 1;
                let policy = self.retry_policy(s);
                if d.attempts > policy.num_retries {
                    tracing::warn!(subscription = %s.arn, endpoint = %d.endpoint, %why, attempts = d.attempts, "an SNS HTTP delivery is given up");
                    if d.message_type == "Notification" {
                        let m = crate::Message {
                            message: d.body.clone(),
                            ..crate::Message::default()
                        };
                        self.dead_letter(
                            s,
                            &m,
                            &d.body,
                            ("DeliveryFailed", why),
                            &mut batch,
                            &mut staged,
                        );
                    }
                    false
                } else {
                    let wait = u64::try_from(policy.delay(d.attempts).as_millis()).unwrap_or(0);
                    d.next_ms = now_millis() + wait;
                    true
                }
            }
        };
        if keep {
            let bytes = serde_json::to_vec(&d).expect("a delivery encodes");
            batch.put(HTTP_DELIVERIES, d.key.as_bytes(), bytes);
        } else {
            batch.delete(HTTP_DELIVERIES, d.key.as_bytes());
        }
        self.kv.commit(batch)?;
        let mut pending = self.posts.lock().expect("posts lock");
        if keep {
            pending.insert(d.key.clone(), d);
        } else {
            pending.remove(&d.key);
        }
        drop(pending);
        self.outbox.committed(staged);
        Ok(())
    }
}

/// POST one delivery as SNS does; success is a 2xx answer.
async fn post(d: &HttpDelivery) -> Result<(), String> {
    use http_body_util::BodyExt;
    let rest = d
        .endpoint
        .strip_prefix("http://")
        .ok_or_else(|| format!("{}: Nimbus delivers to http:// endpoints only", d.endpoint))?;
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr = if hostport.contains(':') {
        hostport.to_string()
    } else {
        format!("{hostport}:80")
    };
    let send = async {
        let stream = tokio::net::TcpStream::connect(&addr)
            .await
            .map_err(|e| format!("connect to {addr}: {e}"))?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        let mut req = http::Request::post(path)
            .header("host", hostport)
            .header("content-type", "text/plain; charset=UTF-8")
            .header("user-agent", "Amazon Simple Notification Service Agent")
            .header("x-amz-sns-message-type", &d.message_type)
            .header("x-amz-sns-message-id", &d.message_id)
            .header("x-amz-sns-topic-arn", &d.topic_arn);
        if d.message_type != "SubscriptionConfirmation" {
            req = req.header("x-amz-sns-subscription-arn", &d.subscription);
        }
        if d.raw {
            req = req.header("x-amz-sns-rawdelivery", "true");
        }
        let req = req
            .body(http_body_util::Full::new(bytes::Bytes::from(
                d.body.clone(),
            )))
            .map_err(|e| e.to_string())?;
        let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
        let status = resp.status();
        // Read (and drop) the answer so the connection ends cleanly.
        let _ = http_body_util::Limited::new(resp.into_body(), 64 * 1024)
            .collect()
            .await;
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("POST {}: {status}", d.endpoint))
        }
    };
    tokio::time::timeout(POST_TIMEOUT, send)
        .await
        .map_err(|_| format!("POST {}: no answer within 15 s", d.endpoint))?
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
