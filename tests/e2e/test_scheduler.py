"""EventBridge Scheduler with boto3: a one-time `at(...)` schedule invokes its target (a
queue) as its role and deletes itself after; schedule groups; what is refused."""
import datetime
import json
import time

import pytest
from botocore.exceptions import ClientError

from conftest import ROLE, unique


def test_a_one_time_schedule_sends_to_a_queue_and_deletes_itself(nimbus):
    sch, sqs = nimbus.client("scheduler"), nimbus.client("sqs")
    url = sqs.create_queue(QueueName=unique("scheduled"))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    group = unique("jobs")
    sch.create_schedule_group(Name=group)
    when = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=3)
    name = unique("once")
    made = sch.create_schedule(
        Name=name, GroupName=group, ScheduleExpression=f"at({when:%Y-%m-%dT%H:%M:%S})",
        ScheduleExpressionTimezone="UTC", FlexibleTimeWindow={"Mode": "OFF"},
        ActionAfterCompletion="DELETE",
        Target={"Arn": arn, "RoleArn": ROLE, "Input": json.dumps({"job": "report"})})
    assert made["ScheduleArn"].endswith(f":schedule/{group}/{name}")
    got = sch.get_schedule(Name=name, GroupName=group)
    assert got["State"] == "ENABLED" and got["Target"]["Arn"] == arn
    assert [s["Name"] for s in sch.list_schedules(GroupName=group)["Schedules"]] == [name]
    deadline = time.monotonic() + 60
    body = None
    while time.monotonic() < deadline and body is None:
        msgs = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", [])
        body = msgs[0]["Body"] if msgs else None
    assert json.loads(body) == {"job": "report"}
    # It fired once, and deleted itself as asked.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and sch.list_schedules(GroupName=group)["Schedules"]:
        time.sleep(0.2)
    assert sch.list_schedules(GroupName=group)["Schedules"] == []
    sch.delete_schedule_group(Name=group)


def test_what_scheduler_refuses(nimbus):
    sch = nimbus.client("scheduler")
    target = {"Arn": "arn:aws:sqs:us-east-1:000000000000:nope", "RoleArn": ROLE}
    with pytest.raises(ClientError) as e:
        sch.create_schedule(Name=unique("bad"), ScheduleExpression="rate(5 minutes)",
                            FlexibleTimeWindow={"Mode": "OFF"}, Target=target)
    assert e.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError) as e:
        sch.create_schedule(Name=unique("bad"), ScheduleExpression="every day",
                            FlexibleTimeWindow={"Mode": "OFF"}, Target=target)
    assert e.value.response["Error"]["Message"] == "Invalid Schedule Expression every day."
    with pytest.raises(ClientError) as e:
        sch.get_schedule(Name="nope")
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        sch.delete_schedule_group(Name="default")
    assert e.value.response["Error"]["Code"] == "ValidationException"


SAM_V2 = """
Transform: AWS::Serverless-2016-10-31
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.11
      Handler: index.handler
      InlineCode: "def handler(e, c): return 1"
      Events:
        Nightly:
          Type: ScheduleV2
          Properties:
            ScheduleExpression: cron(0 3 * * ? *)
            ScheduleExpressionTimezone: Europe/London
            Input: '{"job": "nightly"}'
"""


def test_sam_schedule_v2_events_become_schedules(nimbus):
    cfn, sch = nimbus.client("cloudformation"), nimbus.client("scheduler")
    name = unique("sam-v2")
    cfn.create_stack(StackName=name, TemplateBody=SAM_V2, Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"])
    cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    got = sch.get_schedule(Name="FnNightly")
    assert got["ScheduleExpression"] == "cron(0 3 * * ? *)"
    assert got["ScheduleExpressionTimezone"] == "Europe/London"
    assert got["Target"]["Input"] == '{"job": "nightly"}' and ":role/" in got["Target"]["RoleArn"]
    cfn.delete_stack(StackName=name)
    cfn.get_waiter("stack_delete_complete").wait(StackName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    with pytest.raises(ClientError):
        sch.get_schedule(Name="FnNightly")


def test_universal_targets_call_apis_as_the_schedules_role(nimbus):
    sch, sqs, ddb, sns, iam = (nimbus.client(s) for s in ("scheduler", "sqs", "dynamodb", "sns", "iam"))
    role_name = unique("scheduler-role")
    role = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"Service": "scheduler.amazonaws.com"}}]}))["Role"]["Arn"]
    iam.put_role_policy(RoleName=role_name, PolicyName="calls", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*",
                                                "Action": ["sqs:SendMessage", "dynamodb:PutItem", "sns:Publish"]}]}))
    url = sqs.create_queue(QueueName=unique("universal"))["QueueUrl"]
    dlq = sqs.create_queue(QueueName=unique("universal-dlq"))["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    table = unique("jobs")
    ddb.create_table(TableName=table, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    topic = sns.create_topic(Name=unique("universal"))["TopicArn"]
    fanned = sqs.create_queue(QueueName=unique("fanned"))["QueueUrl"]
    fanned_arn = sqs.get_queue_attributes(QueueUrl=fanned, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sqs.set_queue_attributes(QueueUrl=fanned, Attributes={"Policy": json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage",
            "Resource": fanned_arn}]})})
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=fanned_arn, Attributes={"RawMessageDelivery": "true"})

    when = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=2)
    at = f"at({when:%Y-%m-%dT%H:%M:%S})"

    def schedule(action, request):
        sch.create_schedule(
            Name=unique("call"), ScheduleExpression=at, FlexibleTimeWindow={"Mode": "OFF"},
            Target={"Arn": f"arn:aws:scheduler:::aws-sdk:{action}", "RoleArn": role,
                    "Input": json.dumps(request), "DeadLetterConfig": {"Arn": dlq_arn}})

    schedule("sqs:sendMessage", {"QueueUrl": url, "MessageBody": "from the scheduler"})
    schedule("dynamodb:putItem", {"TableName": table, "Item": {"pk": {"S": "nightly"}, "n": {"N": "1"}}})
    schedule("sns:publish", {"TopicArn": topic, "Message": "published",
                             "MessageAttributes": {"kind": {"DataType": "String", "StringValue": "report"}}})
    # The role may not delete tables: the call is refused and its request dead-lettered.
    schedule("dynamodb:deleteTable", {"TableName": table})

    def one(queue):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            msgs = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1, MessageAttributeNames=["All"]).get("Messages", [])
            if msgs:
                return msgs[0]
        raise AssertionError(f"nothing arrived on {queue}")

    assert one(url)["Body"] == "from the scheduler"
    got = one(fanned)
    assert got["Body"] == "published"
    assert got["MessageAttributes"]["kind"]["StringValue"] == "report"
    dead = one(dlq)
    assert json.loads(dead["Body"]) == {"TableName": table}
    attrs = {k: v["StringValue"] for k, v in dead["MessageAttributes"].items()}
    assert attrs["ERROR_CODE"] == "AccessDeniedException"
    assert attrs["TARGET_ARN"] == "arn:aws:scheduler:::aws-sdk:dynamodb:deleteTable"
    assert ":schedule/default/" in attrs["SCHEDULE_ARN"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and "Item" not in ddb.get_item(TableName=table, Key={"pk": {"S": "nightly"}}):
        time.sleep(0.2)
    assert ddb.get_item(TableName=table, Key={"pk": {"S": "nightly"}})["Item"]["n"] == {"N": "1"}
    assert ddb.describe_table(TableName=table)["Table"]["TableStatus"] == "ACTIVE"

    for refused in ("sqs:receiveMessage", "ec2:runInstances", "sqs"):
        with pytest.raises(ClientError) as e:
            sch.create_schedule(Name=unique("bad"), ScheduleExpression="rate(5 minutes)", FlexibleTimeWindow={"Mode": "OFF"},
                                Target={"Arn": f"arn:aws:scheduler:::aws-sdk:{refused}", "RoleArn": role, "Input": "{}"})
        assert e.value.response["Error"]["Code"] == "ValidationException", refused
