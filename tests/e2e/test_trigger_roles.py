"""Triggers act under the identities AWS uses: an event source mapping reads its
source with the function's execution role (CreateEventSourceMapping refuses a
role that cannot, and a poller whose role loses the permission stops until it is
given back), and a state machine's tasks call services with the machine's role
(a denial fails the task with AWS's error, which Catch sees)."""
import json
import time

import pytest
from botocore.exceptions import ClientError

from conftest import create, eventually, make_zip, unique

ACCOUNT = "000000000000"
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Action": "sts:AssumeRole",
    "Principal": {"Service": ["lambda.amazonaws.com", "states.amazonaws.com"]}}]})


def role_with(iam, name, actions, resource="*"):
    """A role Lambda and Step Functions may assume, allowed `actions` on `resource`."""
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    allow(iam, name, actions, resource)
    return arn


def allow(iam, role, actions, resource="*"):
    iam.put_role_policy(RoleName=role, PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": actions, "Resource": resource}]}))


def function(lam, name, role):
    """A function that answers nothing, running as `role`."""
    return lam.create_function(
        FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler",
        Code={"ZipFile": make_zip({"app.py": "def handler(e, c):\n    return None\n"})})


def test_a_queue_mapping_needs_a_role_that_may_read_the_queue(nimbus, lam):
    sqs, iam = nimbus.client("sqs"), nimbus.client("iam")
    url = sqs.create_queue(QueueName=unique("roles-src"))["QueueUrl"]
    queue = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    role = unique("no-receive")
    arn = role_with(iam, role, ["sqs:DeleteMessage", "sqs:GetQueueAttributes"], queue)
    fn = unique("roles-fn")
    function(lam, fn, arn)
    with pytest.raises(ClientError) as e:
        lam.create_event_source_mapping(EventSourceArn=queue, FunctionName=fn)
    assert e.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert e.value.response["Error"]["Message"] == \
        "The provided execution role does not have permissions to call ReceiveMessage on SQS"

    # Given the permission, the mapping is made and its function gets the messages.
    reads = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]
    allow(iam, role, reads, queue)
    m = lam.create_event_source_mapping(EventSourceArn=queue, FunctionName=fn, BatchSize=1)
    sqs.send_message(QueueUrl=url, MessageBody="one")

    def backlog():
        a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        return int(a["ApproximateNumberOfMessages"]) + int(a["ApproximateNumberOfMessagesNotVisible"])

    eventually("the mapping to consume the message", lambda: backlog() == 0)

    # Without it, the poller stops and says why; given back, it resumes.
    allow(iam, role, ["sqs:DeleteMessage"], queue)
    problem = "PROBLEM: The provided execution role does not have permissions to call ReceiveMessage on SQS"
    eventually("the mapping to report its role's problem",
               lambda: lam.get_event_source_mapping(UUID=m["UUID"]).get("LastProcessingResult") == problem)
    sqs.send_message(QueueUrl=url, MessageBody="two")
    time.sleep(2)
    assert backlog() == 1, "a mapping whose role may not receive still polled"
    allow(iam, role, reads, queue)
    eventually("the mapping to resume once its role was fixed", lambda: backlog() == 0)
    assert "LastProcessingResult" not in lam.get_event_source_mapping(UUID=m["UUID"])
    lam.delete_event_source_mapping(UUID=m["UUID"])


def test_a_stream_mapping_needs_a_role_that_may_read_the_stream(nimbus, lam):
    ddb, iam = nimbus.client("dynamodb"), nimbus.client("iam")
    table = unique("roles-table")
    stream = ddb.create_table(
        TableName=table, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )["TableDescription"]["LatestStreamArn"]
    role = unique("no-stream")
    arn = role_with(iam, role, ["dynamodb:GetRecords", "dynamodb:DescribeStream"], stream)
    fn = unique("roles-stream-fn")
    function(lam, fn, arn)
    with pytest.raises(ClientError) as e:
        lam.create_event_source_mapping(EventSourceArn=stream, FunctionName=fn, StartingPosition="LATEST")
    assert e.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert e.value.response["Error"]["Message"] == (
        f"Cannot access stream {stream}. Please ensure the role can perform the GetRecords, "
        "GetShardIterator, DescribeStream, and ListStreams Actions on your stream in IAM.")
    allow(iam, role, ["dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:DescribeStream",
                      "dynamodb:ListStreams"], stream)
    m = lam.create_event_source_mapping(EventSourceArn=stream, FunctionName=fn, StartingPosition="LATEST")
    # A failure destination the role may not send to is refused too.
    dlq = nimbus.client("sqs").create_queue(QueueName=unique("roles-dlq"))["QueueUrl"]
    dlq_arn = f"arn:aws:sqs:us-east-1:{ACCOUNT}:{dlq.rsplit('/', 1)[1]}"
    with pytest.raises(ClientError) as e:
        lam.update_event_source_mapping(UUID=m["UUID"],
                                        DestinationConfig={"OnFailure": {"Destination": dlq_arn}})
    assert e.value.response["Error"]["Message"] == \
        "The provided execution role does not have permissions to call SendMessage on SQS"
    lam.delete_event_source_mapping(UUID=m["UUID"])


def test_a_state_machine_task_runs_under_the_machine_role(nimbus, lam):
    sfn, iam = nimbus.client("stepfunctions"), nimbus.client("iam")
    fn = unique("roles-task")
    fn_arn = create(lam, fn, {"app.py": "def handler(e, c):\n    return e\n"}, handler="app.handler")["FunctionArn"]
    role = unique("no-invoke")
    role_arn = role_with(iam, role, ["sqs:GetQueueUrl"])
    sm = sfn.create_state_machine(name=unique("roles-sm"), roleArn=role_arn, definition=json.dumps({
        "StartAt": "Call",
        "States": {
            "Call": {"Type": "Task", "Resource": fn_arn, "End": True,
                     "Catch": [{"ErrorEquals": ["Lambda.AWSLambdaException"], "ResultPath": "$.error",
                                "Next": "Caught"}]},
            "Caught": {"Type": "Pass", "End": True},
        }}))["stateMachineArn"]
    uncaught = sfn.create_state_machine(name=unique("roles-sm"), roleArn=role_arn, definition=json.dumps({
        "StartAt": "Call",
        "States": {"Call": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                            "Parameters": {"FunctionName": fn, "Payload": {"a": 1}}, "End": True}}}))["stateMachineArn"]

    def run(machine):
        arn = sfn.start_execution(stateMachineArn=machine, input=json.dumps({"a": 1}))["executionArn"]
        return eventually("the execution to end",
                          lambda: (d := sfn.describe_execution(executionArn=arn))["status"] != "RUNNING" and d)

    denied = (f"is not authorized to perform: lambda:InvokeFunction on resource: {fn_arn} because no "
              "identity-based policy allows the lambda:InvokeFunction action (Service: AWSLambda; "
              "Status Code: 403; Error Code: AccessDeniedException; Request ID: ")
    failed = run(uncaught)
    assert failed["status"] == "FAILED", failed
    assert failed["error"] == "Lambda.AWSLambdaException"
    assert failed["cause"].startswith(f"User: arn:aws:sts::{ACCOUNT}:assumed-role/{role}/"), failed["cause"]
    assert denied in failed["cause"]
    caught = run(sm)
    assert caught["status"] == "SUCCEEDED", caught
    out = json.loads(caught["output"])
    assert out["a"] == 1 and out["error"]["Error"] == "Lambda.AWSLambdaException"
    assert denied in out["error"]["Cause"]

    # Given the permission, the same machine's task runs.
    allow(iam, role, "lambda:InvokeFunction", fn_arn)
    done = run(uncaught)
    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["output"])["Payload"] == {"a": 1}
