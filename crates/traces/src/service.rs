//! The segment a service records for a call it served inside a sampled trace:
//! SNS, Step Functions and API Gateway appear in X-Ray's service map as their
//! own nodes, children of the caller's subsegment. [`begin`] takes the request's `X-Amzn-Trace-Id` and gives the
//! header the service passes on (its own segment as the `Parent`), so what
//! the call causes (a message's `AWSTraceHeader`, a subscribed function's
//! invocation) hangs under it; [`Call::finish`] records the segment.

use crate::Traces;
use crate::header::{TraceHeader, new_segment_id};
use serde_json::json;

/// A service call being served inside a sampled trace.
#[derive(Debug, Clone)]
pub struct Call {
    root: String,
    parent: Option<String>,
    id: String,
    start: f64,
}

/// The header to pass on, and the call to finish when `incoming` is a
/// sampled trace (`Sampled=1` with a `Root`); `None` otherwise (the header is
/// then passed on as it came).
pub fn begin(incoming: &str) -> Option<(Call, String)> {
    let mut h = TraceHeader::parse(incoming);
    if h.sampled != Some(true) {
        return None;
    }
    let root = h.root.clone()?;
    let id = new_segment_id();
    let parent = h.parent.replace(id.clone());
    let call = Call {
        root,
        parent,
        id,
        start: now_secs(),
    };
    Some((call, h.to_string()))
}

/// The segment name and origin of a service that records its own segment
/// for the calls it serves in a sampled trace, by SigV4 signing name: SNS and
/// Step Functions do (and API stages: [`API_STAGE`]). Lambda records its own
/// (`nimbus-functions`); the others (SQS, DynamoDB, S3, API Gateway's
/// management API ...) appear in the service map through the caller's
/// subsegment only, as on AWS.
pub fn identity(signing_name: &str) -> Option<(&'static str, &'static str)> {
    match signing_name {
        "sns" => Some(("SNS", "AWS::SNS::Topic")),
        "states" => Some(("StepFunctions", "AWS::StepFunctions::StateMachine")),
        _ => None,
    }
}

/// The segment an API stage records for a request it serves in a sampled
/// trace: name prefix and origin.
pub const API_STAGE: (&str, &str) = ("ApiGateway", "AWS::ApiGateway::Stage");

fn now_secs() -> f64 {
    nimbus_model::time::now_millis() as f64 / 1000.0
}

impl Call {
    /// This call's segment id (the `Parent` of what it causes).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Record the call's segment: `name` and `origin` as [`identity`] gives
    /// them, the operation when known, the HTTP status it answered with.
    pub fn finish(
        self,
        traces: &Traces,
        (name, origin): (&str, &str),
        operation: Option<&str>,
        request_id: &str,
        status: u16,
    ) {
        let mut aws = json!({"request_id": request_id});
        if let Some(op) = operation {
            aws["operation"] = json!(op);
        }
        let mut segment = json!({
            "trace_id": self.root, "id": self.id, "name": name, "origin": origin,
            "start_time": self.start, "end_time": now_secs().max(self.start),
            "aws": aws, "http": {"response": {"status": status}},
        });
        if let Some(p) = &self.parent {
            segment["parent_id"] = json!(p);
        }
        match status {
            429 => segment["throttle"] = json!(true),
            400..=499 => segment["error"] = json!(true),
            500.. => segment["fault"] = json!(true),
            _ => {}
        }
        if let Err(e) = traces.put_values(vec![segment], false) {
            tracing::warn!(error = %e, "record a service call's segment");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sampled_traces_record_and_the_segment_becomes_the_parent() {
        assert!(begin("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0").is_none());
        assert!(begin("Sampled=1").is_none());
        let (call, passed) =
            begin("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
                .unwrap();
        let h = TraceHeader::parse(&passed);
        assert_eq!(h.parent.as_deref(), Some(call.id()));
        assert_eq!(call.parent.as_deref(), Some("53995c3f42cd8ad8"));
        assert_eq!(h.sampled, Some(true));
    }

    #[test]
    fn only_services_that_record_segments_have_xray_names() {
        assert_eq!(identity("sns").map(|i| i.1), Some("AWS::SNS::Topic"));
        assert_eq!(identity("lambda"), None);
        assert_eq!(identity("sqs"), None);
        assert_eq!(
            identity("apigateway"),
            None,
            "the management API records none"
        );
    }
}
