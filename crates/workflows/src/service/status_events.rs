//! `Step Functions Execution Status Change` events: a STANDARD execution
//! sends one to the account's default event bus when it starts and when it
//! ends (`RUNNING`, `SUCCEEDED`, `FAILED`, `TIMED_OUT`, `ABORTED`), staged
//! through the outbox in the batch that writes the execution's new status,
//! so the event and the status are written together. EXPRESS executions
//! send none, as on AWS. The same changes are counted in `AWS/States`
//! metrics by `StateMachineArn`: `ExecutionsStarted`, `ExecutionsSucceeded`,
//! `ExecutionsFailed`, `ExecutionsTimedOut`, `ExecutionsAborted` and
//! `ExecutionTime` (ms).

use super::records::{Execution, ExecutionStatus};
use nimbus_invoke::{Outbox, Staged};
use nimbus_storage::WriteBatch;
use serde_json::{Value, json};
use std::sync::Arc;

/// Where status changes go: the outbox, and the default bus's ARN.
pub struct StatusEvents {
    outbox: Arc<dyn Outbox>,
    bus: String,
    account: String,
    region: String,
    /// Where the status metrics go, once the server gives a store.
    pub(crate) metrics: std::sync::OnceLock<Arc<nimbus_metrics::Metrics>>,
}

impl StatusEvents {
    pub fn new(outbox: Arc<dyn Outbox>, account: &str, region: &str) -> StatusEvents {
        StatusEvents {
            outbox,
            bus: format!("arn:aws:events:{region}:{account}:event-bus/default"),
            account: account.to_string(),
            region: region.to_string(),
            metrics: std::sync::OnceLock::new(),
        }
    }

    /// The event for `rec`'s status now.
    fn event(&self, rec: &Execution) -> Value {
        let status = rec.status.as_str();
        json!({
            "version": "0", "id": uuid::Uuid::new_v4().to_string(),
            "detail-type": "Step Functions Execution Status Change",
            "source": "aws.states", "account": self.account,
            "time": nimbus_model::time::Utc::from_millis(nimbus_model::time::now_millis()).rfc3339_seconds(),
            "region": self.region, "resources": [rec.execution_arn],
            "detail": {
                "executionArn": rec.execution_arn,
                "stateMachineArn": rec.state_machine_arn,
                "name": rec.name,
                "status": status,
                "startDate": rec.start_date,
                "stopDate": rec.stop_date,
                "input": rec.input,
                "output": rec.output,
                "inputDetails": {"included": true},
                "outputDetails": rec.output.as_ref().map(|_| json!({"included": true})),
                "error": rec.error,
                "cause": rec.cause,
                "redriveCount": 0,
                "redriveDate": null,
                "redriveStatus": if status == "RUNNING" || status == "SUCCEEDED" {
                    "NOT_REDRIVABLE"
                } else {
                    "REDRIVABLE"
                },
            },
        })
    }

    /// Stage `rec`'s status change into `batch`; hand the token to
    /// [`StatusEvents::committed`] once the batch is written.
    pub(crate) fn stage(&self, rec: &Execution, batch: &mut WriteBatch) -> Option<Staged> {
        self.count(rec);
        let event = self.event(rec).to_string();
        match self.outbox.stage(&self.bus, event.as_bytes(), None, batch) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(execution = %rec.execution_arn, error = %e, "stage a status change event");
                None
            }
        }
    }

    /// Count `rec`'s status change in `AWS/States`.
    fn count(&self, rec: &Execution) {
        use nimbus_metrics::MetricId;
        let Some(m) = self.metrics.get() else { return };
        let dims = [("StateMachineArn", rec.state_machine_arn.as_str())];
        let name = match rec.status {
            ExecutionStatus::Running => "ExecutionsStarted",
            ExecutionStatus::Succeeded => "ExecutionsSucceeded",
            ExecutionStatus::Failed => "ExecutionsFailed",
            ExecutionStatus::TimedOut => "ExecutionsTimedOut",
            ExecutionStatus::Aborted => "ExecutionsAborted",
        };
        let mut points = vec![(MetricId::new("AWS/States", name, &dims), "Count", 1.0)];
        if let Some(stop) = rec.stop_date {
            let ms = stop.saturating_sub(rec.start_date) as f64;
            points.push((
                MetricId::new("AWS/States", "ExecutionTime", &dims),
                "Milliseconds",
                ms,
            ));
        }
        m.record_all(points);
    }

    pub(crate) fn committed(&self, staged: Option<Staged>) {
        if let Some(s) = staged {
            self.outbox.committed(vec![s]);
        }
    }
}
