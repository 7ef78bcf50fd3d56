//! The state machine service as pipes run it: an EXPRESS machine started
//! synchronously (an enrichment, or a `REQUEST_RESPONSE` target).

use nimbus_invoke::BoxFuture;
use nimbus_workflows::service::records::ExecutionStatus;
use nimbus_workflows::service::{NewExecution, StepFunctions};
use std::sync::Arc;

pub struct SyncMachines(pub Arc<StepFunctions>);

impl nimbus_pipes::Machines for SyncMachines {
    fn run_sync<'a>(
        &'a self,
        arn: &'a str,
        input: String,
    ) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(async move {
            let out = self
                .0
                .start_sync_execution(NewExecution {
                    state_machine_arn: arn.to_string(),
                    name: None,
                    input: Some(input),
                    trace_header: None,
                })
                .await
                .map_err(|e| e.to_string())?;
            let e = out.execution;
            match e.status {
                ExecutionStatus::Succeeded => Ok(e.output.unwrap_or_else(|| "null".into())),
                other => Err(format!(
                    "{arn} ended {}: {} {}",
                    other.as_str(),
                    e.error.unwrap_or_default(),
                    e.cause.unwrap_or_default()
                )),
            }
        })
    }
}
