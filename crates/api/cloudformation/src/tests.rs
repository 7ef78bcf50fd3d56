//! Requests through `handle` against a real store and a fake [`Calls`] that
//! answers as the services would (or refuses, to drive a rollback).

use super::*;
use nimbus_api_common::Caller;
use std::sync::Mutex;
use std::time::Duration;

/// Answers SQS and DynamoDB as they would, refusing tables when told to;
/// remembers every call (`service target-or-path`) and who made it.
#[derive(Default)]
struct Fake {
    calls: Mutex<Vec<String>>,
    callers: Mutex<Vec<Option<String>>>,
    refuse_tables: bool,
    /// S3 answers a bucket's deletion as for one with objects in it.
    full_buckets: bool,
}

impl Calls for Fake {
    fn call(&self, signing: &'static str, req: Request<Bytes>) -> BoxFuture<'_, Response<Bytes>> {
        let target = if signing == "s3" {
            format!("{} {}", req.method(), req.uri())
        } else {
            req.headers()
                .get("x-amz-target")
                .and_then(|v| v.to_str().ok())
                .map_or_else(|| req.uri().path().to_string(), str::to_string)
        };
        if signing == "s3" {
            let bodies = String::from_utf8_lossy(req.body()).into_owned();
            self.calls
                .lock()
                .unwrap()
                .push(format!("s3 {target} {bodies}"));
            let mut r = Response::new(Bytes::new());
            if self.full_buckets
                && req.method() == http::Method::DELETE
                && req.uri().query().is_none()
            {
                *r.body_mut() = Bytes::from_static(
                    b"<Error><Code>BucketNotEmpty</Code><Message>The bucket you tried to delete is not empty</Message></Error>",
                );
                *r.status_mut() = StatusCode::CONFLICT;
            }
            return Box::pin(async move { r });
        }
        self.calls
            .lock()
            .unwrap()
            .push(format!("{signing} {target}"));
        self.callers
            .lock()
            .unwrap()
            .push(req.extensions().get::<Caller>().map(|c| c.arn.clone()));
        let body: serde_json::Value = serde_json::from_slice(req.body()).unwrap_or_default();
        let (status, answer) = match target.as_str() {
            "AmazonSQS.CreateQueue" => (
                200,
                serde_json::json!({"QueueUrl": format!("http://h/000000000000/{}", body["QueueName"].as_str().unwrap())}),
            ),
            "AmazonSQS.GetQueueAttributes" => (
                200,
                serde_json::json!({"Attributes": {"QueueArn": "arn:aws:sqs:us-east-1:000000000000:q"}}),
            ),
            "DynamoDB_20120810.CreateTable" if self.refuse_tables => {
                (400, serde_json::json!({"message": "no tables today"}))
            }
            // As DynamoDB answers: the table's description, its ARN kept.
            "DynamoDB_20120810.CreateTable" | "DynamoDB_20120810.UpdateTable" => (
                200,
                serde_json::json!({"TableDescription": {"TableArn": "arn:aws:dynamodb:us-east-1:000000000000:table/t"}}),
            ),
            _ => (200, serde_json::json!({})),
        };
        let mut r = Response::new(Bytes::from(answer.to_string()));
        *r.status_mut() = StatusCode::from_u16(status).unwrap();
        Box::pin(async move { r })
    }
}

struct Env {
    api: CloudFormationApi,
    fake: Arc<Fake>,
    _dir: tempfile::TempDir,
}

fn env(fake: Fake) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let kv: Arc<dyn nimbus_storage::KvEngine> =
        Arc::new(nimbus_storage_embedded::EmbeddedKv::open(&dir.path().join("db")).unwrap());
    let fake = Arc::new(fake);
    let api = CloudFormationApi::new(
        Arc::new(Stacks::open(kv).unwrap()),
        fake.clone(),
        Identity {
            account: "000000000000".into(),
            region: "us-east-1".into(),
        },
    );
    Env {
        api,
        fake,
        _dir: dir,
    }
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Env {
    fn send(&self, members: &[(&str, &str)]) -> (u16, String) {
        let body: Vec<String> = members
            .iter()
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect();
        let mut req = Request::new(Bytes::from(body.join("&")));
        req.extensions_mut().insert(Caller {
            arn: "arn:aws:iam::000000000000:user/deployer".into(),
            account: "000000000000".into(),
            user_id: "AIDA".into(),
            access_key_id: "AKIA".into(),
        });
        let r = self.api.handle(&req, "rid");
        (
            r.status().as_u16(),
            String::from_utf8_lossy(r.body()).into_owned(),
        )
    }

    /// Wait until the stack leaves its `_IN_PROGRESS` status.
    async fn settled(&self, name: &str) -> Arc<store::StackRecord> {
        // Up to 30 s: the suite runs on busy machines.
        for _ in 0..3000 {
            let s = self
                .api
                .stacks
                .all()
                .into_iter()
                .find(|s| s.name == name)
                .unwrap();
            if !s.status.ends_with("_IN_PROGRESS") {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("stack {name} did not settle");
    }
}

const TEMPLATE: &str = "
Resources:
  Queue:
    Type: AWS::SQS::Queue
  Kept:
    Type: AWS::SQS::Queue
    DeletionPolicy: Retain
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: !GetAtt Queue.QueueName
Outputs:
  Url:
    Value: !Ref Queue
    Export:
      Name: url
  TableArn:
    Value: !GetAtt Table.Arn
";

#[tokio::test]
async fn stacks_are_created_in_waves_as_the_caller_and_deleted_newest_first() {
    let e = env(Fake::default());
    let (status, body) = e.send(&[
        ("Action", "CreateStack"),
        ("StackName", "app"),
        ("TemplateBody", TEMPLATE),
    ]);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("<StackId>arn:aws:cloudformation:us-east-1:000000000000:stack/app/"));
    let s = e.settled("app").await;
    assert_eq!(s.status, "CREATE_COMPLETE");
    let queue = s.resource("Queue").unwrap();
    assert!(
        queue
            .physical_id
            .starts_with("http://h/000000000000/app-Queue-")
    );
    assert_eq!(s.outputs[0].key, "TableArn");
    assert_eq!(s.outputs[1].export_name.as_deref(), Some("url"));
    assert!(
        e.fake
            .callers
            .lock()
            .unwrap()
            .iter()
            .all(|c| c.as_deref() == Some("arn:aws:iam::000000000000:user/deployer"))
    );
    // The table's name came from the queue: it was made in a later wave.
    let calls = e.fake.calls.lock().unwrap().clone();
    let table = calls
        .iter()
        .position(|c| c.ends_with("CreateTable"))
        .unwrap();
    assert_eq!(
        calls.iter().filter(|c| c.ends_with("CreateQueue")).count(),
        2
    );
    assert!(calls[..table].iter().any(|c| c.ends_with("CreateQueue")));
    let (_, body) = e.send(&[("Action", "ListExports")]);
    assert!(body.contains("<Name>url</Name>"), "{body}");

    e.fake.calls.lock().unwrap().clear();
    let (status, _) = e.send(&[("Action", "DeleteStack"), ("StackName", "app")]);
    assert_eq!(status, 200);
    let s = e.settled("app").await;
    assert_eq!(s.status, "DELETE_COMPLETE");
    assert_eq!(s.resource("Kept").unwrap().status, "DELETE_SKIPPED");
    assert_eq!(
        *e.fake.calls.lock().unwrap(),
        [
            "dynamodb DynamoDB_20120810.DeleteTable",
            "sqs AmazonSQS.DeleteQueue"
        ]
    );
    let (status, body) = e.send(&[("Action", "DescribeStacks"), ("StackName", "app")]);
    assert_eq!(status, 400);
    assert!(body.contains("<Message>Stack with id app does not exist</Message>"));
}

#[tokio::test]
async fn a_failure_rolls_back_what_was_made_unless_rollback_is_disabled() {
    let e = env(Fake {
        refuse_tables: true,
        ..Fake::default()
    });
    e.send(&[
        ("Action", "CreateStack"),
        ("StackName", "app"),
        ("TemplateBody", TEMPLATE),
    ]);
    let s = e.settled("app").await;
    assert_eq!(s.status, "ROLLBACK_COMPLETE");
    assert_eq!(
        s.reason.as_deref(),
        Some("The following resource(s) failed to create: [Table]. Rollback requested by user.")
    );
    let failed = s
        .events
        .iter()
        .find(|ev| ev.status == "CREATE_FAILED")
        .unwrap();
    assert_eq!(failed.logical_id, "Table");
    assert!(
        failed
            .reason
            .as_deref()
            .unwrap()
            .contains("no tables today")
    );
    assert_eq!(s.resource("Queue").unwrap().status, "DELETE_COMPLETE");
    assert_eq!(s.resource("Kept").unwrap().status, "DELETE_SKIPPED");
    assert!(s.outputs.is_empty());

    e.send(&[
        ("Action", "CreateStack"),
        ("StackName", "kept"),
        ("TemplateBody", TEMPLATE),
        ("DisableRollback", "true"),
    ]);
    let s = e.settled("kept").await;
    assert_eq!(s.status, "CREATE_FAILED");
    assert_eq!(s.resource("Queue").unwrap().status, "CREATE_COMPLETE");
}

#[tokio::test]
async fn templates_are_checked_before_anything_is_made() {
    let e = env(Fake::default());
    let (status, body) = e.send(&[
        ("Action", "ValidateTemplate"),
        (
            "TemplateBody",
            "Resources:\n  A:\n    Type: X\n    Properties:\n      P: !Ref B\n",
        ),
    ]);
    assert_eq!(status, 400);
    assert!(body.contains("<Code>ValidationError</Code>"), "{body}");
    assert!(
        body.contains(
            "Unresolved resource dependencies [B] in the Resources block of the template"
        )
    );
    let role = "Resources:\n  R:\n    Type: AWS::IAM::Role\n    Properties:\n      RoleName: r\n";
    let (status, body) = e.send(&[
        ("Action", "CreateStack"),
        ("StackName", "iam"),
        ("TemplateBody", role),
        ("Capabilities.member.1", "CAPABILITY_IAM"),
    ]);
    assert_eq!(status, 400);
    assert!(body.contains("<Code>InsufficientCapabilitiesException</Code>"));
    assert!(body.contains("Requires capabilities : [CAPABILITY_NAMED_IAM]"));
    let (_, body) = e.send(&[("Action", "GetTemplateSummary"), ("TemplateBody", role)]);
    assert!(body.contains("<ResourceTypes><member>AWS::IAM::Role</member></ResourceTypes>"));
    let (status, body) = e.send(&[
        ("Action", "CreateStack"),
        ("StackName", "1bad"),
        ("TemplateBody", role),
    ]);
    assert_eq!(status, 400);
    assert!(body.contains("failed to satisfy constraint"));
    let (status, _) = e.send(&[("Action", "CreateStack"), ("StackName", "none")]);
    assert_eq!(status, 400);
    assert!(e.fake.calls.lock().unwrap().is_empty());
    let (status, body) = e.send(&[("Action", "Nope")]);
    assert_eq!(status, 400);
    assert!(body.contains("InvalidAction"));
}

#[tokio::test]
async fn unsupported_types_fail_naming_the_type() {
    let e = env(Fake::default());
    e.send(&[
        ("Action", "CreateStack"),
        ("StackName", "vpc"),
        (
            "TemplateBody",
            "Resources:\n  V:\n    Type: AWS::EC2::VPC\n",
        ),
    ]);
    let s = e.settled("vpc").await;
    assert_eq!(s.status, "ROLLBACK_COMPLETE");
    assert_eq!(
        s.resource("V").unwrap().status,
        "DELETE_COMPLETE",
        "a resource never made is gone"
    );
    let failed = s
        .events
        .iter()
        .find(|ev| ev.status == "CREATE_FAILED")
        .unwrap();
    assert_eq!(
        failed.reason.as_deref(),
        Some(
            "Nimbus does not support resource type AWS::EC2::VPC: EC2 resources are accepted only as placeholders that a Lambda function's VpcConfig refers to"
        )
    );
}

#[tokio::test]
async fn an_interrupted_creation_is_rolled_back_at_start_including_what_was_in_flight() {
    let e = env(Fake::default());
    e.send(&[
        ("Action", "CreateStack"),
        ("StackName", "app"),
        ("TemplateBody", TEMPLATE),
    ]);
    let done = e.settled("app").await;
    // As a crash would leave it: the table's creation under way, under a
    // generated name.
    e.api
        .stacks
        .change(&done.stack_id, |s| {
            s.status = "CREATE_IN_PROGRESS".into();
            let t = s.resource_mut("Table").unwrap();
            t.status = "CREATE_IN_PROGRESS".into();
            t.physical_id = String::new();
            t.pending_name = Some("app-Table-ABC".into());
        })
        .unwrap();
    e.fake.calls.lock().unwrap().clear();
    assert_eq!(e.api.resume(None), 1);
    let s = e.settled("app").await;
    assert_eq!(s.status, "ROLLBACK_COMPLETE");
    let failed = s
        .events
        .iter()
        .find(|ev| ev.status == "CREATE_FAILED")
        .unwrap();
    assert_eq!(failed.logical_id, "Table");
    let calls = e.fake.calls.lock().unwrap().clone();
    assert_eq!(calls[0], "dynamodb DynamoDB_20120810.DeleteTable");
    assert!(calls.contains(&"sqs AmazonSQS.DeleteQueue".to_string()));
    assert!(
        e.fake
            .callers
            .lock()
            .unwrap()
            .iter()
            .all(|c| c.as_deref() == Some("arn:aws:iam::000000000000:user/deployer")),
        "resumed as the stack's creator"
    );
}

#[tokio::test]
async fn change_sets_of_type_create_make_the_stack_when_executed() {
    let e = env(Fake::default());
    let (status, body) = e.send(&[
        ("Action", "CreateChangeSet"),
        ("StackName", "app"),
        ("ChangeSetName", "cs"),
        ("ChangeSetType", "CREATE"),
        ("TemplateBody", TEMPLATE),
    ]);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        e.api.stacks.find("app").unwrap().status,
        "REVIEW_IN_PROGRESS"
    );
    assert!(e.fake.calls.lock().unwrap().is_empty());
    let (_, body) = e.send(&[
        ("Action", "DescribeChangeSet"),
        ("StackName", "app"),
        ("ChangeSetName", "cs"),
    ]);
    assert!(body.contains("<Action>Add</Action><LogicalResourceId>Kept</LogicalResourceId>"));
    let (status, body) = e.send(&[
        ("Action", "ExecuteChangeSet"),
        ("StackName", "app"),
        ("ChangeSetName", "cs"),
    ]);
    assert_eq!(status, 200);
    assert!(body.contains("<ExecuteChangeSetResult/>"), "{body}");
    let s = e.settled("app").await;
    assert_eq!(s.status, "CREATE_COMPLETE");
    assert_eq!(s.change_sets[0].execution_status, "EXECUTE_COMPLETE");
    let (status, body) = e.send(&[("Action", "DescribeChangeSet"), ("ChangeSetName", "nope")]);
    assert_eq!(status, 404);
    assert!(body.contains("<Code>ChangeSetNotFound</Code>"));
    // The same template again: a change set with nothing in it fails.
    let (status, _) = e.send(&[
        ("Action", "CreateChangeSet"),
        ("StackName", "app"),
        ("ChangeSetName", "same"),
        ("TemplateBody", TEMPLATE),
    ]);
    assert_eq!(status, 200);
    let (_, body) = e.send(&[
        ("Action", "DescribeChangeSet"),
        ("StackName", "app"),
        ("ChangeSetName", "same"),
    ]);
    assert!(
        body.contains(
            "<Status>FAILED</Status><StatusReason>The submitted information didn&apos;t contain changes."
        ),
        "{body}"
    );
    let (status, body) = e.send(&[
        ("Action", "CreateChangeSet"),
        ("StackName", "app"),
        ("ChangeSetName", "update"),
        (
            "TemplateBody",
            "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n",
        ),
    ]);
    assert_eq!(status, 200, "{body}");
    let (_, body) = e.send(&[
        ("Action", "DescribeChangeSet"),
        ("StackName", "app"),
        ("ChangeSetName", "update"),
    ]);
    assert!(
        body.contains("<Action>Add</Action><LogicalResourceId>Q</LogicalResourceId>"),
        "{body}"
    );
    assert!(
        body.contains("<Action>Remove</Action><LogicalResourceId>Table</LogicalResourceId>"),
        "{body}"
    );
    let (status, _) = e.send(&[
        ("Action", "ExecuteChangeSet"),
        ("StackName", "app"),
        ("ChangeSetName", "update"),
    ]);
    assert_eq!(status, 200);
    let s = e.settled("app").await;
    assert_eq!(s.status, "UPDATE_COMPLETE", "{:?}", s.events);
    let ids: Vec<&str> = s.resources.iter().map(|r| r.logical_id.as_str()).collect();
    assert_eq!(ids, ["Q"]);
    assert!(s.previous.is_none() && s.retired.is_empty());
    let calls = e.fake.calls.lock().unwrap().clone();
    assert!(calls.contains(&"dynamodb DynamoDB_20120810.DeleteTable".to_string()));
    // The retained queue stays.
    assert_eq!(
        calls.iter().filter(|c| c.ends_with("DeleteQueue")).count(),
        1
    );
}

const TABLE: &str = "
Parameters:
  Key: {Type: String, Default: pk}
  Mode: {Type: String, Default: PROVISIONED}
Resources:
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: !Ref Mode
      KeySchema: [{AttributeName: !Ref Key, KeyType: HASH}]
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      Tags: [{Key: t, Value: !GetAtt Table.Arn}]
";

#[tokio::test]
async fn updates_change_in_place_or_replace_and_clean_up() {
    let e = env(Fake::default());
    let (status, _) = e.send(&[
        ("Action", "CreateStack"),
        ("StackName", "u"),
        ("TemplateBody", TABLE),
    ]);
    assert_eq!(status, 200);
    assert_eq!(e.settled("u").await.status, "CREATE_COMPLETE");
    let table = e
        .api
        .stacks
        .find("u")
        .unwrap()
        .resource("Table")
        .unwrap()
        .physical_id
        .clone();
    // Nothing changed: refused as CloudFormation refuses it.
    let (status, body) = e.send(&[
        ("Action", "UpdateStack"),
        ("StackName", "u"),
        ("UsePreviousTemplate", "true"),
    ]);
    assert_eq!(status, 400);
    assert!(body.contains("No updates are to be performed."), "{body}");
    // Billing changes in place.
    e.fake.calls.lock().unwrap().clear();
    let (status, body) = e.send(&[
        ("Action", "UpdateStack"),
        ("StackName", "u"),
        ("UsePreviousTemplate", "true"),
        ("Parameters.member.1.ParameterKey", "Mode"),
        ("Parameters.member.1.ParameterValue", "PAY_PER_REQUEST"),
    ]);
    assert_eq!(status, 200, "{body}");
    let s = e.settled("u").await;
    assert_eq!(s.status, "UPDATE_COMPLETE", "{:?}", s.events);
    assert_eq!(s.resource("Table").unwrap().physical_id, table);
    let calls = e.fake.calls.lock().unwrap().clone();
    assert_eq!(
        calls,
        ["dynamodb DynamoDB_20120810.UpdateTable"],
        "only the table changes"
    );
    // A new key schema replaces the table: made first, the old one deleted
    // in the cleanup; the queue that names it is updated in place.
    e.fake.calls.lock().unwrap().clear();
    let (status, _) = e.send(&[
        ("Action", "UpdateStack"),
        ("StackName", "u"),
        ("UsePreviousTemplate", "true"),
        ("Parameters.member.1.ParameterKey", "Mode"),
        ("Parameters.member.1.UsePreviousValue", "true"),
        ("Parameters.member.2.ParameterKey", "Key"),
        ("Parameters.member.2.ParameterValue", "id"),
    ]);
    assert_eq!(status, 200);
    let s = e.settled("u").await;
    assert_eq!(s.status, "UPDATE_COMPLETE", "{:?}", s.events);
    assert_ne!(s.resource("Table").unwrap().physical_id, table);
    let calls = e.fake.calls.lock().unwrap().clone();
    assert_eq!(calls[0], "dynamodb DynamoDB_20120810.CreateTable");
    assert_eq!(
        calls.last().unwrap(),
        "dynamodb DynamoDB_20120810.DeleteTable"
    );
    assert_eq!(s.overrides.get("Mode").unwrap(), "PAY_PER_REQUEST");
}

#[tokio::test]
async fn a_failed_update_rolls_back_to_the_stack_it_was() {
    let e = env(Fake {
        refuse_tables: true,
        ..Fake::default()
    });
    let base = "Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n";
    let (status, _) = e.send(&[
        ("Action", "CreateStack"),
        ("StackName", "r"),
        ("TemplateBody", base),
    ]);
    assert_eq!(status, 200);
    let before = e.settled("r").await;
    assert_eq!(before.status, "CREATE_COMPLETE");
    let grown = format!(
        "{base}    Properties:\n      VisibilityTimeout: 60\n  Table:\n    Type: AWS::DynamoDB::Table\n    DependsOn: Queue\n"
    );
    e.fake.calls.lock().unwrap().clear();
    let (status, _) = e.send(&[
        ("Action", "UpdateStack"),
        ("StackName", "r"),
        ("TemplateBody", &grown),
    ]);
    assert_eq!(status, 200);
    let s = e.settled("r").await;
    assert_eq!(s.status, "UPDATE_ROLLBACK_COMPLETE", "{:?}", s.events);
    assert_eq!(s.template_body, base);
    assert_eq!(s.resources, before.resources);
    let calls = e.fake.calls.lock().unwrap().clone();
    let attributes = calls
        .iter()
        .filter(|c| c.ends_with("SetQueueAttributes"))
        .count();
    assert_eq!(attributes, 2, "updated, then updated back: {calls:?}");
    assert!(
        s.reason
            .as_deref()
            .unwrap()
            .contains("failed to update: [Table]")
    );
}

#[tokio::test]
async fn an_update_without_rollback_stays_failed_until_rolled_back() {
    let e = env(Fake {
        refuse_tables: true,
        ..Fake::default()
    });
    let base = "Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n";
    e.send(&[
        ("Action", "CreateStack"),
        ("StackName", "d"),
        ("TemplateBody", base),
    ]);
    let before = e.settled("d").await;
    let grown = format!("{base}  Table:\n    Type: AWS::DynamoDB::Table\n");
    let (status, _) = e.send(&[
        ("Action", "UpdateStack"),
        ("StackName", "d"),
        ("TemplateBody", &grown),
        ("DisableRollback", "true"),
    ]);
    assert_eq!(status, 200);
    let s = e.settled("d").await;
    assert_eq!(s.status, "UPDATE_FAILED", "{:?}", s.events);
    let (status, body) = e.send(&[("Action", "RollbackStack"), ("StackName", "d")]);
    assert_eq!(status, 200, "{body}");
    let s = e.settled("d").await;
    assert_eq!(s.status, "UPDATE_ROLLBACK_COMPLETE", "{:?}", s.events);
    assert_eq!(s.resources, before.resources);
    let (status, body) = e.send(&[("Action", "RollbackStack"), ("StackName", "d")]);
    assert_eq!(status, 400, "only a failed stack rolls back: {body}");
}

#[tokio::test]
async fn a_failed_update_without_rollback_is_fixed_by_another_update() {
    let e = env(Fake {
        refuse_tables: true,
        ..Fake::default()
    });
    let base = "Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n";
    e.send(&[
        ("Action", "CreateStack"),
        ("StackName", "f"),
        ("TemplateBody", base),
    ]);
    let before = e.settled("f").await;
    let grown = format!("{base}  Table:\n    Type: AWS::DynamoDB::Table\n");
    e.send(&[
        ("Action", "UpdateStack"),
        ("StackName", "f"),
        ("TemplateBody", &grown),
        ("DisableRollback", "true"),
    ]);
    assert_eq!(e.settled("f").await.status, "UPDATE_FAILED");
    let (status, body) = e.send(&[
        ("Action", "UpdateStack"),
        ("StackName", "f"),
        ("TemplateBody", "Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n    Properties:\n      DelaySeconds: 5\n"),
    ]);
    assert_eq!(status, 200, "{body}");
    let s = e.settled("f").await;
    assert_eq!(s.status, "UPDATE_COMPLETE", "{:?}", s.events);
    assert_eq!(s.resources.len(), before.resources.len());
    assert!(s.previous.is_none() && s.retired.is_empty());
}

#[tokio::test]
async fn an_update_may_not_drop_or_change_an_export_in_use() {
    let e = env(Fake::default());
    let exporting = |value: &str| {
        format!(
            "Resources:\n  Queue:\n    Type: AWS::SQS::Queue\nOutputs:\n  Out:\n    Value: {value}\n    Export:\n      Name: shared\n"
        )
    };
    e.send(&[
        ("Action", "CreateStack"),
        ("StackName", "maker"),
        ("TemplateBody", &exporting("one")),
    ]);
    assert_eq!(e.settled("maker").await.status, "CREATE_COMPLETE");
    let user = "Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n    Properties:\n      QueueName: !ImportValue shared\n";
    e.send(&[
        ("Action", "CreateStack"),
        ("StackName", "user"),
        ("TemplateBody", user),
    ]);
    assert_eq!(e.settled("user").await.status, "CREATE_COMPLETE");
    e.send(&[
        ("Action", "UpdateStack"),
        ("StackName", "maker"),
        ("TemplateBody", &exporting("two")),
    ]);
    let s = e.settled("maker").await;
    assert_eq!(s.status, "UPDATE_ROLLBACK_COMPLETE", "{:?}", s.events);
    assert!(
        s.events.iter().any(|ev| ev.reason.as_deref()
            == Some("Cannot update export shared as it is in use by user")),
        "{:?}",
        s.events
    );
    assert_eq!(s.outputs[0].value, "one");
}

const BUCKETS: &str = "
Resources:
  Uploads:
    Type: AWS::S3::Bucket
    Properties:
      VersioningConfiguration: {Status: Enabled}
      Tags: [{Key: team, Value: a}]
      NotificationConfiguration:
        QueueConfigurations:
          - Event: s3:ObjectCreated:*
            Queue: arn:aws:sqs:us-east-1:000000000000:q
  Policy:
    Type: AWS::S3::BucketPolicy
    Properties:
      Bucket: !Ref Uploads
      PolicyDocument: {Version: '2012-10-17', Statement: []}
Outputs:
  Arn:
    Value: !GetAtt Uploads.Arn
";

#[tokio::test]
async fn buckets_are_made_configured_and_refused_deletion_when_not_empty() {
    let e = env(Fake {
        full_buckets: true,
        ..Fake::default()
    });
    let (status, body) = e.send(&[
        ("Action", "CreateStack"),
        ("StackName", "Site-1"),
        ("TemplateBody", BUCKETS),
    ]);
    assert_eq!(status, 200, "{body}");
    let s = e.settled("Site-1").await;
    assert_eq!(s.status, "CREATE_COMPLETE", "{:?}", s.reason);
    let bucket = s.resource("Uploads").unwrap().physical_id.clone();
    assert!(bucket.starts_with("site-1-uploads-"), "{bucket}");
    assert_eq!(bucket, bucket.to_lowercase());
    assert_eq!(s.outputs[0].value, format!("arn:aws:s3:::{bucket}"));
    assert_eq!(s.resource("Policy").unwrap().physical_id, bucket);
    let calls = e.fake.calls.lock().unwrap().clone();
    let paths: Vec<&str> = calls
        .iter()
        .map(|c| c.split(' ').nth(2).unwrap_or(""))
        .collect();
    let b = |sub: &str| format!("/{bucket}{sub}");
    assert_eq!(
        paths,
        [
            b(""),
            b("?tagging"),
            b("?versioning"),
            b("?notification"),
            b("?policy")
        ]
    );
    assert!(calls[3].contains("<QueueConfiguration><Queue>arn:aws:sqs:us-east-1:000000000000:q</Queue><Event>s3:ObjectCreated:*</Event>"));

    let (status, _) = e.send(&[("Action", "DeleteStack"), ("StackName", "Site-1")]);
    assert_eq!(status, 200);
    let s = e.settled("Site-1").await;
    assert_eq!(s.status, "DELETE_FAILED");
    let r = s.resource("Uploads").unwrap();
    assert_eq!(r.status, "DELETE_FAILED");
    assert!(
        r.reason.as_deref().unwrap_or("").contains(
            "\"The bucket you tried to delete is not empty\" (Service: S3, Status Code: 409)"
        ),
        "{:?}",
        r.reason
    );
    assert_eq!(s.resource("Policy").unwrap().status, "DELETE_COMPLETE");
}
