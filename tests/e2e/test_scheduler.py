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
