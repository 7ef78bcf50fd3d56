//! Tasks call services as the state machine's role. Before a Task calls
//! Lambda, SQS, DynamoDB, S3 or starts a child execution, the role (a session
//! Step Functions names with 32 letters, one per execution) must be allowed
//! the call's action on its resource; a denial fails the Task as the
//! service's AccessDenied does on AWS, so `Retry` and `Catch` see it.

use crate::engine::{Failure, Pattern, Resource, TaskContext};
use nimbus_invoke::permissions::{self, Acting, Permissions};
use nimbus_model::Identity;
use serde_json::Value;

/// The role session Step Functions acts in for an execution: 32 letters
/// (`ahHmwmWNKuHXeWtEOlzRZuOFiwpoCyKH`), the same for all its tasks.
pub fn session_name(execution_arn: &str) -> String {
    use sha2::Digest as _;
    const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    sha2::Sha256::digest(execution_arn.as_bytes())
        .iter()
        .map(|b| LETTERS[*b as usize % LETTERS.len()] as char)
        .collect()
}

/// The IAM actions and resources a Task's call needs, with the service whose
/// error a denial takes. `params` are the call's parameters (a child
/// execution's `Name` is already chosen).
pub fn needs(
    resource: &Resource,
    params: &Value,
    identity: &Identity,
) -> (&'static str, Vec<(String, String)>) {
    let field = |k: &str| params.get(k).and_then(Value::as_str);
    let (service, action, pattern) = match resource {
        Resource::LambdaArn(arn) => {
            return (
                "lambda",
                vec![("lambda:InvokeFunction".into(), arn.clone())],
            );
        }
        Resource::Service {
            service,
            action,
            pattern,
        } => match (service.as_str(), action.as_str()) {
            ("aws-sdk", sdk) => {
                let (s, a) = sdk.split_once(':').unwrap_or((sdk, ""));
                (s, a, *pattern)
            }
            (s, a) => (s, a, *pattern),
        },
    };
    let action = super::upper_first(action);
    match service {
        "lambda" => {
            let needed = field("FunctionName").map(|f| {
                let arn = function_arn(f, field("Qualifier"), identity);
                ("lambda:InvokeFunction".to_string(), arn)
            });
            ("lambda", needed.into_iter().collect())
        }
        "sqs" => {
            let queue = field("QueueUrl").map_or_else(|| "*".into(), |u| queue_arn(u, identity));
            ("sqs", vec![(format!("sqs:{action}"), queue)])
        }
        "dynamodb" => {
            let table = field("TableName").map_or_else(
                || "*".into(),
                |t| {
                    format!(
                        "arn:aws:dynamodb:{}:{}:table/{t}",
                        identity.region, identity.account_id
                    )
                },
            );
            ("dynamodb", vec![(format!("dynamodb:{action}"), table)])
        }
        "s3" => {
            let bucket = field("Bucket").unwrap_or("*");
            let object = format!("arn:aws:s3:::{bucket}/{}", field("Key").unwrap_or("*"));
            let needed = match action.as_str() {
                "ListObjectsV2" | "ListObjects" => (
                    "s3:ListBucket".to_string(),
                    format!("arn:aws:s3:::{bucket}"),
                ),
                "HeadObject" => ("s3:GetObject".to_string(), object),
                a => (format!("s3:{a}"), object),
            };
            ("s3", vec![needed])
        }
        "states" => {
            let machine = field("StateMachineArn").unwrap_or_default().to_string();
            let mut needed = vec![(format!("states:{action}"), machine.clone())];
            if matches!(pattern, Pattern::Sync | Pattern::Sync2) {
                let execution = execution_arn(&machine, field("Name").unwrap_or_default());
                for a in ["states:DescribeExecution", "states:StopExecution"] {
                    needed.push((a.into(), execution.clone()));
                }
            }
            ("states", needed)
        }
        _ => ("", Vec::new()),
    }
}

/// The function ARN a `FunctionName` (a name, partial or full ARN) and
/// `Qualifier` name.
fn function_arn(function: &str, qualifier: Option<&str>, identity: &Identity) -> String {
    let Ok(r) = nimbus_model::arn::FunctionRef::parse(function) else {
        return function.to_string();
    };
    let mut arn = identity.function_arn(&r.name);
    if let Some(q) = qualifier.or(r.qualifier.as_deref()) {
        arn.push(':');
        arn.push_str(q);
    }
    arn
}

/// The queue ARN of a queue URL (`http://host/ACCOUNT/NAME`).
fn queue_arn(url: &str, identity: &Identity) -> String {
    let mut parts = url.trim_end_matches('/').rsplit('/');
    let name = parts.next().unwrap_or_default();
    let account = parts
        .next()
        .filter(|a| a.len() == 12 && a.bytes().all(|c| c.is_ascii_digit()))
        .unwrap_or(&identity.account_id);
    format!("arn:aws:sqs:{}:{account}:{name}", identity.region)
}

/// The ARN of execution `name` of the state machine `machine` names (any
/// version or alias of it).
fn execution_arn(machine: &str, name: &str) -> String {
    let parts: Vec<&str> = machine.split(':').collect();
    match parts.as_slice() {
        [
            _,
            partition,
            _,
            region,
            account,
            "stateMachine",
            machine,
            ..,
        ] => {
            format!("arn:{partition}:states:{region}:{account}:execution:{machine}:{name}")
        }
        _ => machine.to_string(),
    }
}

/// How a Task fails when `service` answers AccessDenied with `message`: the
/// error Step Functions names and the SDK's description as its cause.
pub fn access_denied(service: &str, message: &str) -> Failure {
    let id = uuid::Uuid::new_v4();
    let v1 = |sdk: &str, status: u16| {
        format!(
            "{message} (Service: {sdk}; Status Code: {status}; Error Code: AccessDeniedException; Request ID: {id}; Proxy: null)"
        )
    };
    match service {
        "lambda" => Failure::new("Lambda.AWSLambdaException", v1("AWSLambda", 403)),
        "sqs" => Failure::new(
            "SQS.SqsException",
            format!("{message} (Service: Sqs, Status Code: 403, Request ID: {id})"),
        ),
        "dynamodb" => Failure::new(
            "DynamoDB.AmazonDynamoDBException",
            v1("AmazonDynamoDBv2", 400),
        ),
        "s3" => Failure::new(
            "S3.S3Exception",
            format!("{message} (Service: S3, Status Code: 403, Request ID: {id})"),
        ),
        _ => Failure::new(
            "StepFunctions.AWSStepFunctionsException",
            v1("AWSStepFunctions", 400),
        ),
    }
}

/// Ok when the machine's role may make the Task's call.
pub fn authorize(
    permissions: Option<&dyn Permissions>,
    ctx: &TaskContext,
    resource: &Resource,
    params: &Value,
    identity: &Identity,
) -> Result<(), Failure> {
    if permissions.is_none() {
        return Ok(());
    }
    let session = session_name(&ctx.execution_arn);
    let acting = Acting::Role {
        role_arn: &ctx.role_arn,
        session: &session,
    };
    let (service, needed) = needs(resource, params, identity);
    for (action, arn) in needed {
        permissions::check(permissions, acting, &action, &arn)
            .map_err(|denied| access_denied(service, &denied.0))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nimbus_invoke::permissions::NotPermitted;
    use serde_json::json;

    /// Allows the listed actions on any resource, to role `r` only.
    struct Allows(&'static [&'static str]);

    impl Permissions for Allows {
        fn check(
            &self,
            acting: Acting<'_>,
            action: &str,
            resource: &str,
        ) -> Result<(), NotPermitted> {
            let Acting::Role { role_arn, session } = acting else {
                return Err(NotPermitted("not a role".into()));
            };
            if role_arn.ends_with(":role/r") && self.0.contains(&action) {
                return Ok(());
            }
            Err(NotPermitted(format!(
                "User: arn:aws:sts::000000000000:assumed-role/r/{session} is not authorized to perform: {action} on resource: {resource}"
            )))
        }
    }

    fn ctx() -> TaskContext {
        TaskContext {
            execution_arn: "arn:aws:states:us-east-1:000000000000:execution:m:e".into(),
            state_name: "S".into(),
            role_arn: "arn:aws:iam::000000000000:role/r".into(),
            trace_header: None,
        }
    }

    fn service(service: &str, action: &str, pattern: Pattern) -> Resource {
        Resource::Service {
            service: service.into(),
            action: action.into(),
            pattern,
        }
    }

    #[test]
    fn calls_need_their_actions_on_their_resources() {
        let id = Identity::default();
        let (s, n) = needs(
            &service("lambda", "invoke", Pattern::RequestResponse),
            &json!({"FunctionName": "f", "Qualifier": "live"}),
            &id,
        );
        assert_eq!(s, "lambda");
        assert_eq!(
            n,
            [(
                "lambda:InvokeFunction".to_string(),
                "arn:aws:lambda:us-east-1:000000000000:function:f:live".to_string()
            )]
        );
        let (s, n) = needs(
            &service("sqs", "sendMessage", Pattern::WaitForTaskToken),
            &json!({"QueueUrl": "http://localhost:4566/000000000000/q"}),
            &id,
        );
        assert_eq!(s, "sqs");
        assert_eq!(n[0].0, "sqs:SendMessage");
        assert_eq!(n[0].1, "arn:aws:sqs:us-east-1:000000000000:q");
        let (_, n) = needs(
            &service("aws-sdk", "dynamodb:getItem", Pattern::RequestResponse),
            &json!({"TableName": "t"}),
            &id,
        );
        assert_eq!(
            n,
            [(
                "dynamodb:GetItem".to_string(),
                "arn:aws:dynamodb:us-east-1:000000000000:table/t".to_string()
            )]
        );
        let (_, n) = needs(
            &service("states", "startExecution", Pattern::Sync),
            &json!({"StateMachineArn": "arn:aws:states:us-east-1:000000000000:stateMachine:child:1", "Name": "x"}),
            &id,
        );
        let actions: Vec<&str> = n.iter().map(|(a, _)| a.as_str()).collect();
        assert_eq!(
            actions,
            [
                "states:StartExecution",
                "states:DescribeExecution",
                "states:StopExecution"
            ]
        );
        assert_eq!(
            n[1].1,
            "arn:aws:states:us-east-1:000000000000:execution:child:x"
        );
    }

    #[test]
    fn a_denial_fails_the_task_as_the_service_would() {
        let id = Identity::default();
        let fn_arn = Resource::LambdaArn("arn:aws:lambda:us-east-1:000000000000:function:f".into());
        assert!(authorize(None, &ctx(), &fn_arn, &json!({}), &id).is_ok());
        assert!(
            authorize(
                Some(&Allows(&["lambda:InvokeFunction"])),
                &ctx(),
                &fn_arn,
                &json!({}),
                &id
            )
            .is_ok()
        );
        let f = authorize(Some(&Allows(&[])), &ctx(), &fn_arn, &json!({}), &id).unwrap_err();
        assert_eq!(f.error, "Lambda.AWSLambdaException");
        let session = session_name(&ctx().execution_arn);
        assert_eq!(session.len(), 32);
        assert!(session.bytes().all(|c| c.is_ascii_alphabetic()));
        assert!(f.cause.starts_with(&format!(
            "User: arn:aws:sts::000000000000:assumed-role/r/{session} is not authorized to perform: lambda:InvokeFunction on resource: arn:aws:lambda:us-east-1:000000000000:function:f (Service: AWSLambda; Status Code: 403; Error Code: AccessDeniedException; Request ID: "
        )));
        let q = service("sqs", "sendMessage", Pattern::RequestResponse);
        let f = authorize(Some(&Allows(&[])), &ctx(), &q, &json!({}), &id).unwrap_err();
        assert_eq!(f.error, "SQS.SqsException");
        let t = service("dynamodb", "putItem", Pattern::RequestResponse);
        let f = authorize(
            Some(&Allows(&[])),
            &ctx(),
            &t,
            &json!({"TableName": "t"}),
            &id,
        )
        .unwrap_err();
        assert_eq!(f.error, "DynamoDB.AmazonDynamoDBException");
        assert!(
            f.cause
                .contains("Status Code: 400; Error Code: AccessDeniedException")
        );
        let s = service("states", "startExecution", Pattern::RequestResponse);
        let f = authorize(Some(&Allows(&[])), &ctx(), &s, &json!({}), &id).unwrap_err();
        assert_eq!(f.error, "StepFunctions.AWSStepFunctionsException");
    }
}
