//! What a mapping's function role must be allowed to do. Lambda reads a
//! mapping's source, and sends a stream's failed batches to its `OnFailure`
//! queue, as the function's execution role (a session named after the
//! function): `CreateEventSourceMapping` refuses a role that cannot, and a
//! poller whose role cannot does not poll, and says so in the mapping's
//! `LastProcessingResult` until the role is fixed.

use crate::Triggers;
use crate::mappings::Mapping;
use nimbus_invoke::permissions::{self, Acting};

/// The actions Lambda performs on a queue it polls.
const QUEUE_ACTIONS: [&str; 3] = ["ReceiveMessage", "DeleteMessage", "GetQueueAttributes"];

/// The actions Lambda performs on a table stream it reads.
const STREAM_ACTIONS: [&str; 4] = [
    "GetRecords",
    "GetShardIterator",
    "DescribeStream",
    "ListStreams",
];

/// Lambda's refusal when `role` (the execution role of `function`) may not
/// do what mapping `m` needs: `None` when it may.
pub(crate) fn refusal(
    permissions: Option<&dyn permissions::Permissions>,
    role: &str,
    function: &str,
    m: &Mapping,
) -> Option<String> {
    let acting = Acting::Role {
        role_arn: role,
        session: function,
    };
    let denied = |action: String, resource: &str| {
        permissions::check(permissions, acting, &action, resource).is_err()
    };
    let source = &m.event_source_arn;
    if m.is_stream() {
        if STREAM_ACTIONS
            .iter()
            .any(|a| denied(format!("dynamodb:{a}"), source))
        {
            return Some(format!(
                "Cannot access stream {source}. Please ensure the role can perform the GetRecords, GetShardIterator, DescribeStream, and ListStreams Actions on your stream in IAM."
            ));
        }
    } else if let Some(a) = QUEUE_ACTIONS
        .iter()
        .find(|a| denied(format!("sqs:{a}"), source))
    {
        return Some(format!(
            "The provided execution role does not have permissions to call {a} on SQS"
        ));
    }
    let destination = m.stream.as_ref().and_then(|s| s.on_failure.as_deref());
    if let Some(d) = destination
        && denied("sqs:SendMessage".into(), d)
    {
        return Some(
            "The provided execution role does not have permissions to call SendMessage on SQS"
                .into(),
        );
    }
    None
}

impl Triggers {
    /// Lambda's refusal of mapping `m` when its function's role may not read
    /// its source (or write its failure destination); `None` when it may, or
    /// when the function cannot be found (invoking it says so).
    pub(crate) fn role_refusal(&self, m: &Mapping) -> Option<String> {
        self.permissions.as_ref()?;
        if let Some(pipe) = &m.pipe {
            // A pipe reads its source as the pipe's role.
            return refusal(self.permissions.as_deref(), &pipe.role_arn, &pipe.name, m);
        }
        let mut function = m.function_name.clone();
        if let Some(q) = &m.qualifier {
            function.push(':');
            function.push_str(q);
        }
        let target = self.invoker.target(&function).ok()?;
        refusal(
            self.permissions.as_deref(),
            &target.role,
            &m.function_name,
            m,
        )
    }

    /// Poll mapping `m` only if its role may: otherwise remember why not
    /// (shown as its `LastProcessingResult`) and answer false.
    pub(crate) fn may_poll(&self, m: &Mapping) -> bool {
        let refused = self.role_refusal(m);
        let mut problems = self.problems.lock().expect("problems lock");
        match refused {
            Some(why) => {
                if problems.get(&m.uuid) != Some(&why) {
                    tracing::warn!(mapping = %m.uuid, reason = %why, "event source mapping's role may not read its source; not polling");
                }
                problems.insert(m.uuid.clone(), why);
                false
            }
            None => {
                problems.remove(&m.uuid);
                true
            }
        }
    }

    /// Why the mapping's poller is not polling, as `LastProcessingResult`
    /// shows it (`PROBLEM: ...`).
    pub fn problem(&self, uuid: &str) -> Option<String> {
        let problems = self.problems.lock().expect("problems lock");
        problems.get(uuid).map(|why| format!("PROBLEM: {why}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mappings::StreamSettings;
    use nimbus_invoke::permissions::{NotPermitted, Permissions};

    /// Allows exactly the listed actions, to one role and session.
    struct Allows(&'static [&'static str]);

    impl Permissions for Allows {
        fn check(&self, acting: Acting<'_>, action: &str, _: &str) -> Result<(), NotPermitted> {
            let ours = acting
                == Acting::Role {
                    role_arn: "arn:aws:iam::000000000000:role/r",
                    session: "f",
                };
            if ours && self.0.contains(&action) {
                Ok(())
            } else {
                Err(NotPermitted(format!("not authorized to perform: {action}")))
            }
        }
    }

    fn queue_mapping() -> Mapping {
        Mapping {
            uuid: "u".into(),
            function_name: "f".into(),
            qualifier: None,
            event_source_arn: "arn:aws:sqs:us-east-1:000000000000:q".into(),
            batch_size: 10,
            max_batching_window_secs: 0,
            enabled: true,
            function_response_types: vec![],
            maximum_concurrency: None,
            last_modified_ms: 0,
            filters: vec![],
            stream: None,
            pipe: None,
        }
    }

    const ROLE: &str = "arn:aws:iam::000000000000:role/r";

    #[test]
    fn a_queue_needs_receive_delete_and_attributes() {
        let m = queue_mapping();
        let all: &[&str] = &[
            "sqs:ReceiveMessage",
            "sqs:DeleteMessage",
            "sqs:GetQueueAttributes",
        ];
        assert_eq!(refusal(Some(&Allows(all)), ROLE, "f", &m), None);
        assert_eq!(refusal(None, ROLE, "f", &m), None);
        assert_eq!(
            refusal(Some(&Allows(&all[1..])), ROLE, "f", &m).as_deref(),
            Some(
                "The provided execution role does not have permissions to call ReceiveMessage on SQS"
            )
        );
        assert_eq!(
            refusal(Some(&Allows(&all[..2])), ROLE, "f", &m).as_deref(),
            Some(
                "The provided execution role does not have permissions to call GetQueueAttributes on SQS"
            )
        );
        // The session is the function's name.
        assert!(refusal(Some(&Allows(all)), ROLE, "g", &m).is_some());
    }

    #[test]
    fn a_stream_needs_its_four_actions_and_its_destination() {
        let stream =
            "arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/2026-01-01T00:00:00.000";
        let m = Mapping {
            event_source_arn: stream.into(),
            stream: Some(StreamSettings {
                starting_position: "LATEST".into(),
                maximum_retry_attempts: -1,
                maximum_record_age_secs: -1,
                bisect_on_error: false,
                on_failure: Some("arn:aws:sqs:us-east-1:000000000000:dlq".into()),
                parallelization_factor: 1,
                checkpoint: 0,
                last_result: String::new(),
            }),
            ..queue_mapping()
        };
        let reads: &[&str] = &[
            "dynamodb:GetRecords",
            "dynamodb:GetShardIterator",
            "dynamodb:DescribeStream",
            "dynamodb:ListStreams",
            "sqs:SendMessage",
        ];
        assert_eq!(refusal(Some(&Allows(reads)), ROLE, "f", &m), None);
        assert_eq!(
            refusal(Some(&Allows(&reads[1..])), ROLE, "f", &m),
            Some(format!(
                "Cannot access stream {stream}. Please ensure the role can perform the GetRecords, GetShardIterator, DescribeStream, and ListStreams Actions on your stream in IAM."
            ))
        );
        assert_eq!(
            refusal(Some(&Allows(&reads[..4])), ROLE, "f", &m).as_deref(),
            Some(
                "The provided execution role does not have permissions to call SendMessage on SQS"
            )
        );
    }
}
