//! SQS's counters in CloudWatch (`AWS/SQS`, by `QueueName`):
//! `NumberOfMessagesSent` and `SentMessageSize` when messages are enqueued,
//! `NumberOfMessagesReceived` or `NumberOfEmptyReceives` per receive, and
//! `NumberOfMessagesDeleted`. Recorded once the server gives a store.

use crate::Queues;
use nimbus_metrics::MetricId;
use std::sync::Arc;

fn id(metric: &str, queue: &str) -> MetricId {
    MetricId::new("AWS/SQS", metric, &[("QueueName", queue)])
}

impl Queues {
    /// Record SQS's counters in `m` from now on.
    pub fn set_metrics(&self, m: Arc<nimbus_metrics::Metrics>) {
        let _ = self.metrics.set(m);
    }

    pub(crate) fn count_sent(&self, sent: &[(String, crate::Message)]) {
        let Some(m) = self.metrics.get() else {
            return;
        };
        let mut points = Vec::with_capacity(sent.len() * 2);
        for (queue, msg) in sent {
            points.push((id("NumberOfMessagesSent", queue), "Count", 1.0));
            points.push((id("SentMessageSize", queue), "Bytes", msg.body.len() as f64));
        }
        m.record_all(points);
    }

    pub(crate) fn count_received(&self, queue: &str, received: usize) {
        if let Some(m) = self.metrics.get() {
            let point = if received == 0 {
                (id("NumberOfEmptyReceives", queue), "Count", 1.0)
            } else {
                (
                    id("NumberOfMessagesReceived", queue),
                    "Count",
                    received as f64,
                )
            };
            m.record_all(vec![point]);
        }
    }

    pub(crate) fn count_deleted(&self, queue: &str, deleted: usize) {
        if let Some(m) = self.metrics.get()
            && deleted > 0
        {
            m.record_all(vec![(
                id("NumberOfMessagesDeleted", queue),
                "Count",
                deleted as f64,
            )]);
        }
    }
}
