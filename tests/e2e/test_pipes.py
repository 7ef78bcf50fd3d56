"""EventBridge Pipes with boto3: a queue through an enrichment function into a state
machine; a filter, an input template and a function target reporting partial batch
failures (the failed messages end in the source queue's dead-letter queue); a table
stream into an event bus; the pipe's life cycle (describe, list, stop, start, update,
tags, delete) and what Pipes refuses."""
import json
import time

import pytest
from botocore.exceptions import ClientError

from conftest import ROLE, create, unique


def queue(sqs, name, **attributes):
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def drain(sqs, url, want, deadline_s=90):
    got, deadline = [], time.monotonic() + deadline_s
    while time.monotonic() < deadline and len(got) < want:
        for m in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1, MaxNumberOfMessages=10).get("Messages", []):
            got.append(m["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    assert len(got) >= want, f"{len(got)} of {want} messages arrived on {url}"
    return got


ENRICH = """
import json
def lambda_handler(event, context):
    return [dict(json.loads(r["body"]), enriched=True, messageId=r["messageId"]) for r in event]
"""


def test_a_queue_through_an_enrichment_function_into_a_state_machine(nimbus):
    sqs, lam, sfn, pipes = (nimbus.client(s) for s in ("sqs", "lambda", "stepfunctions", "pipes"))
    url, arn = queue(sqs, unique("orders"))
    enrich = create(lam, unique("enrich"), {"app.py": ENRICH})["FunctionArn"]
    machine = sfn.create_state_machine(
        name=unique("fulfil"), roleArn=ROLE,
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}))["stateMachineArn"]
    name = unique("orders-pipe")
    made = pipes.create_pipe(
        Name=name, RoleArn=ROLE, Source=arn, Enrichment=enrich, Target=machine,
        SourceParameters={"SqsQueueParameters": {"BatchSize": 10, "MaximumBatchingWindowInSeconds": 1}},
        TargetParameters={"StepFunctionStateMachineParameters": {"InvocationType": "FIRE_AND_FORGET"}},
        Tags={"team": "orders"})
    assert made["CurrentState"] == "CREATING" and made["DesiredState"] == "RUNNING"
    described = pipes.describe_pipe(Name=name)
    assert described["CurrentState"] == "RUNNING" and described["Enrichment"] == enrich
    assert described["SourceParameters"]["SqsQueueParameters"]["BatchSize"] == 10
    assert name in [p["Name"] for p in pipes.list_pipes(NamePrefix=name)["Pipes"]]
    assert pipes.list_tags_for_resource(resourceArn=made["Arn"])["tags"] == {"team": "orders"}
    # Lambda does not list a pipe's mapping as its own.
    assert not [m for m in lam.list_event_source_mappings()["EventSourceMappings"] if m["EventSourceArn"] == arn]

    for i in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"order": i}))
    seen, deadline = [], time.monotonic() + 90
    while time.monotonic() < deadline and len(seen) < 3:
        seen = []
        for e in sfn.list_executions(stateMachineArn=machine)["executions"]:
            if e["status"] == "SUCCEEDED":
                seen += json.loads(sfn.describe_execution(executionArn=e["executionArn"])["input"])
        time.sleep(0.3)
    assert sorted(x["order"] for x in seen) == [0, 1, 2], seen
    assert all(x["enriched"] for x in seen)
    assert not sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages"), "delivered messages are deleted"

    stopped = pipes.stop_pipe(Name=name)
    assert stopped["CurrentState"] == "STOPPING" and stopped["DesiredState"] == "STOPPED"
    assert pipes.describe_pipe(Name=name)["CurrentState"] == "STOPPED"
    pipes.start_pipe(Name=name)
    pipes.untag_resource(resourceArn=made["Arn"], tagKeys=["team"])
    assert pipes.list_tags_for_resource(resourceArn=made["Arn"])["tags"] == {}
    deleted = pipes.delete_pipe(Name=name)
    assert deleted["DesiredState"] == "DELETED" and deleted["CurrentState"] == "DELETING"
    with pytest.raises(ClientError) as e:
        pipes.describe_pipe(Name=name)
    assert e.value.response["Error"]["Code"] == "NotFoundException"


PARTIAL = """
import json
def lambda_handler(event, context):
    bad = [e["id"] for e in event if e["n"] % 2]
    return {"batchItemFailures": [{"itemIdentifier": i} for i in bad]}
"""


def test_filters_templates_and_partial_batch_failures(nimbus):
    sqs, lam, pipes = (nimbus.client(s) for s in ("sqs", "lambda", "pipes"))
    dlq_url, dlq_arn = queue(sqs, unique("pipe-dlq"))
    url, arn = queue(sqs, unique("numbers"), VisibilityTimeout="1",
                     RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "1"}))
    target = create(lam, unique("odd-fails"), {"app.py": PARTIAL})["FunctionArn"]
    name = unique("numbers-pipe")
    pipes.create_pipe(
        Name=name, RoleArn=ROLE, Source=arn, Target=target,
        SourceParameters={"FilterCriteria": {"Filters": [{"Pattern": json.dumps({"body": {"keep": [True]}})}]},
                          "SqsQueueParameters": {"BatchSize": 10}},
        TargetParameters={"InputTemplate": '{"id": <$.messageId>, "n": <$.body.n>, "pipe": "<aws.pipes.pipe-name>"}'})
    for n in range(4):
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"n": n, "keep": n != 3}))
    # 1 fails and is dead-lettered by the queue's redrive policy; 3 is filtered out (deleted).
    failed = [json.loads(b)["n"] for b in drain(sqs, dlq_url, want=1)]
    assert failed == [1]
    assert not sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2).get("Messages")
    pipes.delete_pipe(Name=name)


def test_a_table_stream_into_an_event_bus(nimbus):
    ddb, ev, sqs, pipes = (nimbus.client(s) for s in ("dynamodb", "events", "sqs", "pipes"))
    table = unique("items")
    stream = ddb.create_table(
        TableName=table, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"})["TableDescription"]["LatestStreamArn"]
    bus = ev.create_event_bus(Name=unique("changes"))["EventBusArn"]
    rule = unique("from-pipe")
    rule_arn = ev.put_rule(Name=rule, EventBusName=bus, EventPattern=json.dumps({"source": ["items.changes"]}))["RuleArn"]
    url, qarn = queue(sqs, unique("changes"))
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sqs:SendMessage", "Resource": qarn,
            "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}}}]})})
    ev.put_targets(Rule=rule, EventBusName=bus, Targets=[{"Id": "q", "Arn": qarn}])
    name = unique("stream-pipe")
    pipes.create_pipe(
        Name=name, RoleArn=ROLE, Source=stream, Target=bus,
        SourceParameters={"DynamoDBStreamParameters": {"StartingPosition": "TRIM_HORIZON", "BatchSize": 10}},
        TargetParameters={"EventBridgeEventBusParameters": {"Source": "items.changes", "DetailType": "Item Changed"},
                          "InputTemplate": '{"key": <$.dynamodb.Keys.pk.S>, "kind": <$.eventName>}'})
    ddb.put_item(TableName=table, Item={"pk": {"S": "a"}})
    event = json.loads(drain(sqs, url, want=1)[0])
    assert event["source"] == "items.changes" and event["detail-type"] == "Item Changed"
    assert event["detail"] == {"key": "a", "kind": "INSERT"}
    pipes.update_pipe(Name=name, RoleArn=ROLE, DesiredState="STOPPED")
    assert pipes.describe_pipe(Name=name)["DesiredState"] == "STOPPED"
    pipes.delete_pipe(Name=name)


def test_what_pipes_refuses(nimbus):
    sqs, pipes = nimbus.client("sqs"), nimbus.client("pipes")
    _, arn = queue(sqs, unique("src"))
    _, target = queue(sqs, unique("dst"))
    name = unique("refused")
    with pytest.raises(ClientError) as e:
        pipes.create_pipe(Name=name, RoleArn=ROLE, Source=arn + "-missing", Target=target)
    assert e.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError) as e:
        pipes.create_pipe(Name=name, RoleArn=ROLE, Source=arn,
                          Target="arn:aws:kinesis:us-east-1:000000000000:stream/s")
    assert e.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError) as e:
        pipes.create_pipe(Name=name, RoleArn=ROLE, Source=arn, Target=target,
                          SourceParameters={"FilterCriteria": {"Filters": [{"Pattern": "{\"a\": 1}"}]}})
    assert e.value.response["Error"]["Code"] == "ValidationException"
    pipes.create_pipe(Name=name, RoleArn=ROLE, Source=arn, Target=target)
    with pytest.raises(ClientError) as e:
        pipes.create_pipe(Name=name, RoleArn=ROLE, Source=arn, Target=target)
    assert e.value.response["Error"]["Code"] == "ConflictException"
    pipes.delete_pipe(Name=name)
    with pytest.raises(ClientError) as e:
        pipes.stop_pipe(Name=name)
    assert e.value.response["Error"]["Code"] == "NotFoundException"


PIPE_STACK = """
Parameters:
  Role: {Type: String}
  Template: {Type: String, Default: '{"v": <$.body>}'}
Resources:
  Source:
    Type: AWS::SQS::Queue
  Target:
    Type: AWS::SQS::Queue
  Pipe:
    Type: AWS::Pipes::Pipe
    Properties:
      RoleArn: !Ref Role
      Source: !GetAtt Source.Arn
      Target: !GetAtt Target.Arn
      TargetParameters:
        InputTemplate: !Ref Template
Outputs:
  Source: {Value: !Ref Source}
  Target: {Value: !Ref Target}
  Pipe: {Value: !Ref Pipe}
  Arn: {Value: !GetAtt Pipe.Arn}
"""


def test_cloudformation_makes_updates_and_deletes_pipes(nimbus):
    cfn, sqs, pipes = nimbus.client("cloudformation"), nimbus.client("sqs"), nimbus.client("pipes")
    name = unique("pipe-stack")
    cfn.create_stack(StackName=name, TemplateBody=PIPE_STACK, Parameters=[{"ParameterKey": "Role", "ParameterValue": ROLE}])
    cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    out = {o["OutputKey"]: o["OutputValue"] for o in cfn.describe_stacks(StackName=name)["Stacks"][0]["Outputs"]}
    assert out["Arn"].endswith(":pipe/" + out["Pipe"])
    sqs.send_message(QueueUrl=out["Source"], MessageBody="hello")
    assert [json.loads(b) for b in drain(sqs, out["Target"], want=1)] == [{"v": "hello"}]
    cfn.update_stack(StackName=name, TemplateBody=PIPE_STACK, Parameters=[
        {"ParameterKey": "Role", "ParameterValue": ROLE},
        {"ParameterKey": "Template", "ParameterValue": '{"w": <$.body>}'}])
    cfn.get_waiter("stack_update_complete").wait(StackName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    assert pipes.describe_pipe(Name=out["Pipe"])["TargetParameters"]["InputTemplate"] == '{"w": <$.body>}'
    sqs.send_message(QueueUrl=out["Source"], MessageBody="again")
    assert [json.loads(b) for b in drain(sqs, out["Target"], want=1)] == [{"w": "again"}]
    cfn.delete_stack(StackName=name)
    cfn.get_waiter("stack_delete_complete").wait(StackName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    assert out["Pipe"] not in [p["Name"] for p in pipes.list_pipes()["Pipes"]]
