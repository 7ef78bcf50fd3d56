//! `Step Functions Execution Status Change` events: a STANDARD execution
//! sends one to the account's default event bus when it starts and when it
//! ends (`RUNNING`, `SUCCEEDED`, `FAILED`, `TIMED_OUT`, `ABORTED`), staged
//! through the outbox in the batch that writes the execution's new status,
//! so the event and the status are written together. EXPRESS executions
//! send none, as on AWS.

use super::records::Execution;
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
}

impl StatusEvents {
    pub fn new(outbox: Arc<dyn Outbox>, account: &str, region: &str) -> StatusEvents {
        StatusEvents {
            outbox,
            bus: format!("arn:aws:events:{region}:{account}:event-bus/default"),
            account: account.to_string(),
            region: region.to_string(),
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
        let event = self.event(rec).to_string();
        match self.outbox.stage(&self.bus, event.as_bytes(), None, batch) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(execution = %rec.execution_arn, error = %e, "stage a status change event");
                None
            }
        }
    }

    pub(crate) fn committed(&self, staged: Option<Staged>) {
        if let Some(s) = staged {
            self.outbox.committed(vec![s]);
        }
    }
}
