"""EventBridge with boto3: rules with event patterns deliver matching events to queues
(through an input transformer) and functions, each let in by its resource policy as
events.amazonaws.com; a custom bus; a schedule rule fires; what is refused."""
import json
import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import ROLE, create, unique


def receive(sqs, url, deadline_s=90):
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1, MaxNumberOfMessages=10).get("Messages", [])
        if got:
            # Deleted, so that a slow step cannot see them again after their
            # visibility timeout.
            for m in got:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            return [m["Body"] for m in got]
    pytest.fail(f"nothing arrived on {url} within {deadline_s}s")


def queue_for_rule(sqs, name, rule_arn):
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"},
        "Action": "sqs:SendMessage", "Resource": arn,
        "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}}}]}
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
    return url, arn


def test_rules_deliver_matching_events_to_queues_and_functions(nimbus):
    ev, sqs, lam = nimbus.client("events"), nimbus.client("sqs"), nimbus.client("lambda")
    rule = unique("big-orders")
    rule_arn = ev.put_rule(Name=rule, EventPattern=json.dumps(
        {"source": ["shop"], "detail-type": ["Order Placed"], "detail": {"total": [{"numeric": [">", 100]}]}}))["RuleArn"]
    url, queue_arn = queue_for_rule(sqs, unique("orders-q"), rule_arn)
    # The function forwards what it got to a second queue, so the test can see it.
    seen = sqs.create_queue(QueueName=unique("seen"))["QueueUrl"]
    fn = unique("on-order")
    fn_arn = create(lam, fn, {"app.py": (
        "import json, os, boto3\n"
        "def lambda_handler(event, context):\n"
        "    boto3.client('sqs').send_message(QueueUrl=os.environ['SEEN'], MessageBody=json.dumps(event))\n")},
        Environment={"Variables": {"SEEN": seen}})["FunctionArn"]
    lam.add_permission(FunctionName=fn, StatementId="events", Action="lambda:InvokeFunction",
                       Principal="events.amazonaws.com", SourceArn=rule_arn)
    out = ev.put_targets(Rule=rule, Targets=[
        {"Id": "queue", "Arn": queue_arn, "InputTransformer": {
            "InputPathsMap": {"id": "$.detail.id", "total": "$.detail.total"},
            "InputTemplate": '{"order": <id>, "text": "order <id> costs <total>"}'}},
        {"Id": "fn", "Arn": fn_arn},
    ])
    assert out["FailedEntryCount"] == 0, out
    assert {t["Id"] for t in ev.list_targets_by_rule(Rule=rule)["Targets"]} == {"queue", "fn"}
    assert ev.list_rule_names_by_target(TargetArn=fn_arn)["RuleNames"] == [rule]

    put = ev.put_events(Entries=[
        {"Source": "shop", "DetailType": "Order Placed", "Detail": json.dumps({"id": "o-1", "total": 250})},
        {"Source": "shop", "DetailType": "Order Placed", "Detail": json.dumps({"id": "o-2", "total": 5})},
        {"Source": "shop", "DetailType": "Order Placed", "Detail": "not json"},
    ])
    assert put["FailedEntryCount"] == 1
    assert put["Entries"][2]["ErrorCode"] == "MalformedDetail"
    assert [json.loads(b) for b in receive(sqs, url)] == [{"order": "o-1", "text": "order o-1 costs 250"}]
    event = json.loads(receive(sqs, seen)[0])
    assert event["detail"] == {"id": "o-1", "total": 250}
    assert event["source"] == "shop" and event["detail-type"] == "Order Placed"
    assert event["id"] == put["Entries"][0]["EventId"]

    # A rule with targets cannot go; without them it can.
    with pytest.raises(ClientError) as e:
        ev.delete_rule(Name=rule)
    assert e.value.response["Error"]["Code"] == "ValidationException"
    ev.remove_targets(Rule=rule, Ids=["queue", "fn"])
    ev.delete_rule(Name=rule)


def test_custom_buses_patterns_and_refusals(nimbus):
    ev, sqs = nimbus.client("events"), nimbus.client("sqs")
    bus = unique("bus")
    bus_arn = ev.create_event_bus(Name=bus)["EventBusArn"]
    assert bus_arn.endswith(f":event-bus/{bus}")
    rule_arn = ev.put_rule(Name="all", EventBusName=bus, EventPattern='{"source": [{"prefix": "app."}]}')["RuleArn"]
    assert rule_arn.endswith(f":rule/{bus}/all")
    url, arn = queue_for_rule(sqs, unique("bus-q"), rule_arn)
    ev.put_targets(Rule="all", EventBusName=bus, Targets=[{"Id": "q", "Arn": arn, "InputPath": "$.detail"}])
    ev.put_events(Entries=[
        {"Source": "app.orders", "DetailType": "x", "Detail": '{"n": 1}', "EventBusName": bus},
        {"Source": "app.orders", "DetailType": "x", "Detail": '{"n": 2}'},  # the default bus
    ])
    assert [json.loads(b) for b in receive(sqs, url)] == [{"n": 1}]
    assert ev.test_event_pattern(EventPattern='{"detail": {"n": [{"numeric": [">=", 2]}]}}',
                                 Event=json.dumps({"detail": {"n": 2}}))["Result"] is True
    with pytest.raises(ClientError) as e:
        ev.put_rule(Name="bad", EventPattern='{"source": "not-a-list"}')
    assert e.value.response["Error"]["Code"] == "InvalidEventPatternException"
    with pytest.raises(ClientError) as e:
        ev.put_rule(Name="bad", ScheduleExpression="rate(1 minutes)")
    assert e.value.response["Error"]["Message"] == "Parameter ScheduleExpression is not valid."
    with pytest.raises(ClientError) as e:
        ev.describe_rule(Name="nope")
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        ev.put_events(Entries=[{"Source": "a", "DetailType": "b", "Detail": "{}"}] * 11)
    assert e.value.response["Error"]["Code"] == "ValidationException"
    ev.remove_targets(Rule="all", EventBusName=bus, Ids=["q"])
    ev.delete_rule(Name="all", EventBusName=bus)
    ev.delete_event_bus(Name=bus)


@pytest.mark.xdist_group("slow-schedule")
def test_a_schedule_rule_fires(nimbus):
    ev, sqs = nimbus.client("events"), nimbus.client("sqs")
    rule = unique("tick")
    rule_arn = ev.put_rule(Name=rule, ScheduleExpression="rate(1 minute)")["RuleArn"]
    url, arn = queue_for_rule(sqs, unique("tick-q"), rule_arn)
    ev.put_targets(Rule=rule, Targets=[{"Id": "q", "Arn": arn}])
    event = json.loads(receive(sqs, url, deadline_s=150)[0])
    assert event["detail-type"] == "Scheduled Event"
    assert event["source"] == "aws.events" and event["resources"] == [rule_arn]
    ev.disable_rule(Name=rule)
    assert ev.describe_rule(Name=rule)["State"] == "DISABLED"
    ev.remove_targets(Rule=rule, Ids=["q"])
    ev.delete_rule(Name=rule)


SAM_EVENTS = """
Transform: AWS::Serverless-2016-10-31
Resources:
  Orders:
    Type: AWS::Events::EventBus
    Properties:
      Name: !Sub "${AWS::StackName}-orders"
  Seen:
    Type: AWS::SQS::Queue
  Handler:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.11
      Handler: index.handler
      Environment:
        Variables:
          SEEN: !Ref Seen
      Policies:
        - SQSSendMessagePolicy: {QueueName: !GetAtt Seen.QueueName}
      InlineCode: |
        import json, os, boto3
        def handler(event, context):
            boto3.client("sqs").send_message(QueueUrl=os.environ["SEEN"], MessageBody=json.dumps(event))
      Events:
        Placed:
          Type: EventBridgeRule
          Properties:
            EventBusName: !Ref Orders
            Pattern: {source: [shop], detail-type: [Order Placed]}
            InputPath: $.detail
        Nightly:
          Type: Schedule
          Properties:
            Schedule: cron(0 3 * * ? *)
            Input: '{"job": "nightly"}'
Outputs:
  Bus: {Value: !Ref Orders}
  Seen: {Value: !Ref Seen}
"""


def test_sam_eventbridge_and_schedule_events_deploy_and_deliver(nimbus):
    cfn, ev, sqs = nimbus.client("cloudformation"), nimbus.client("events"), nimbus.client("sqs")
    name = unique("sam-events")
    cfn.create_stack(StackName=name, TemplateBody=SAM_EVENTS,
                     Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"])
    cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    out = {o["OutputKey"]: o["OutputValue"] for o in cfn.describe_stacks(StackName=name)["Stacks"][0]["Outputs"]}
    rules = {r["Name"]: r for r in ev.list_rules()["Rules"]}
    nightly = [r for n, r in rules.items() if n.startswith(f"{name}-HandlerNightly")]
    assert nightly and nightly[0]["ScheduleExpression"] == "cron(0 3 * * ? *)"
    ev.put_events(Entries=[{"Source": "shop", "DetailType": "Order Placed",
                            "Detail": json.dumps({"id": "o-9"}), "EventBusName": out["Bus"]}])
    assert [json.loads(b) for b in receive(sqs, out["Seen"])] == [{"id": "o-9"}]
    cfn.delete_stack(StackName=name)
    cfn.get_waiter("stack_delete_complete").wait(StackName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    assert out["Bus"] not in [b["Name"] for b in ev.list_event_buses()["EventBuses"]]


def test_buses_receive_from_rules_functions_and_buckets(nimbus):
    """A rule forwards to another bus; a Lambda destination and a bucket with
    EventBridge notifications put their events on buses, in AWS's shapes."""
    ev, sqs, s3, lam = (nimbus.client(s) for s in ("events", "sqs", "s3", "lambda"))
    bus = unique("second")
    bus_arn = ev.create_event_bus(Name=bus)["EventBusArn"]
    catch = ev.put_rule(Name="catch", EventBusName=bus, EventPattern='{"source": [{"prefix": ""}]}')["RuleArn"]
    url, arn = queue_for_rule(sqs, unique("second-q"), catch)
    ev.put_targets(Rule="catch", EventBusName=bus, Targets=[{"Id": "q", "Arn": arn}])
    forward = unique("forward")
    ev.put_rule(Name=forward, EventPattern='{"source": ["shop", "lambda", "aws.s3"]}')
    ev.put_targets(Rule=forward, Targets=[{"Id": "bus", "Arn": bus_arn}])

    ev.put_events(Entries=[{"Source": "shop", "DetailType": "x", "Detail": '{"n": 1}'}])
    got = json.loads(receive(sqs, url)[0])
    assert got["source"] == "shop" and got["detail"] == {"n": 1}

    fn = unique("to-bus")
    create(lam, fn, {"app.py": "def lambda_handler(event, context):\n    return {'ok': True}\n"})
    lam.put_function_event_invoke_config(
        FunctionName=fn, DestinationConfig={"OnSuccess": {"Destination": bus_arn}})
    lam.invoke(FunctionName=fn, InvocationType="Event", Payload=b"{}")
    got = json.loads(receive(sqs, url)[0])
    assert got["source"] == "lambda"
    assert got["detail-type"] == "Lambda Function Invocation Result - Success"
    assert got["detail"]["responsePayload"] == {"ok": True}

    bucket = unique("to-bus").lower()
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_notification_configuration(
        Bucket=bucket, NotificationConfiguration={"EventBridgeConfiguration": {}})
    assert "EventBridgeConfiguration" in s3.get_bucket_notification_configuration(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k.txt", Body=b"hello")
    got = json.loads(receive(sqs, url)[0])
    assert got["source"] == "aws.s3" and got["detail-type"] == "Object Created"
    assert got["detail"]["bucket"]["name"] == bucket and got["detail"]["object"]["key"] == "k.txt"
    assert got["detail"]["reason"] == "PutObject" and got["detail"]["object"]["size"] == 5
    s3.delete_object(Bucket=bucket, Key="k.txt")
    got = json.loads(receive(sqs, url)[0])
    assert got["detail-type"] == "Object Deleted"
    assert got["detail"]["deletion-type"] == "Permanently Deleted"


def test_archives_keep_events_and_replays_send_them_again(nimbus):
    import datetime
    ev, sqs = nimbus.client("events"), nimbus.client("sqs")
    bus = unique("archived")
    bus_arn = ev.create_event_bus(Name=bus)["EventBusArn"]
    archive = unique("orders-archive")
    arn = ev.create_archive(ArchiveName=archive, EventSourceArn=bus_arn,
                            EventPattern='{"source": ["shop"]}', RetentionDays=1)["ArchiveArn"]
    before = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=5)
    ev.put_events(Entries=[
        {"Source": "shop", "DetailType": "x", "Detail": '{"n": 1}', "EventBusName": bus},
        {"Source": "other", "DetailType": "x", "Detail": '{"n": 2}', "EventBusName": bus}])
    described = ev.describe_archive(ArchiveName=archive)
    assert described["EventCount"] == 1 and described["ArchiveArn"] == arn
    # A rule made after the events were put sees them only through a replay.
    rule = ev.put_rule(Name="late", EventBusName=bus, EventPattern='{"source": ["shop"]}')["RuleArn"]
    url, queue_arn = queue_for_rule(sqs, unique("replayed"), rule)
    ev.put_targets(Rule="late", EventBusName=bus, Targets=[{"Id": "q", "Arn": queue_arn}])
    replay = unique("again")
    ev.start_replay(ReplayName=replay, EventSourceArn=arn, EventStartTime=before,
                    EventEndTime=datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=5),
                    Destination={"Arn": bus_arn})
    got = json.loads(receive(sqs, url)[0])
    assert got["detail"] == {"n": 1} and got["replay-name"] == replay
    assert ev.describe_replay(ReplayName=replay)["State"] == "COMPLETED"
    with pytest.raises(ClientError) as e:
        ev.cancel_replay(ReplayName=replay)
    assert e.value.response["Error"]["Code"] == "IllegalStatusException"
    ev.delete_archive(ArchiveName=archive)
    ev.remove_targets(Rule="late", EventBusName=bus, Ids=["q"])
    ev.delete_rule(Name="late", EventBusName=bus)


def test_rules_and_schedules_start_state_machines(nimbus):
    import datetime
    ev, sfn, sch = nimbus.client("events"), nimbus.client("stepfunctions"), nimbus.client("scheduler")
    machine = sfn.create_state_machine(
        name=unique("on-event"), roleArn=ROLE,
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}))["stateMachineArn"]
    rule = unique("start-flow")
    ev.put_rule(Name=rule, EventPattern='{"source": ["shop"]}')
    out = ev.put_targets(Rule=rule, Targets=[{"Id": "m", "Arn": machine}])
    assert out["FailedEntries"][0]["ErrorMessage"].startswith("RoleArn is required")
    assert ev.put_targets(Rule=rule, Targets=[{"Id": "m", "Arn": machine, "RoleArn": ROLE,
                                               "InputPath": "$.detail"}])["FailedEntryCount"] == 0
    ev.put_events(Entries=[{"Source": "shop", "DetailType": "x", "Detail": '{"order": 7}'}])
    when = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=2)
    sch.create_schedule(Name=unique("flow-once"), ScheduleExpression=f"at({when:%Y-%m-%dT%H:%M:%S})",
                        FlexibleTimeWindow={"Mode": "OFF"}, ActionAfterCompletion="DELETE",
                        Target={"Arn": machine, "RoleArn": ROLE, "Input": '{"scheduled": true}'})
    deadline = time.monotonic() + 60
    runs = []
    while time.monotonic() < deadline:
        runs = [r for r in sfn.list_executions(stateMachineArn=machine)["executions"] if r["status"] == "SUCCEEDED"]
        if len(runs) == 2:
            break
        time.sleep(0.3)
    inputs = sorted(sfn.describe_execution(executionArn=r["executionArn"])["input"] for r in runs)
    assert [json.loads(i) for i in inputs] == [{"order": 7}, {"scheduled": True}], inputs
    ev.remove_targets(Rule=rule, Ids=["m"])
    ev.delete_rule(Name=rule)


def test_a_target_that_cannot_be_reached_ends_in_its_dead_letter_queue(nimbus):
    ev, sqs, lam = nimbus.client("events"), nimbus.client("sqs"), nimbus.client("lambda")
    rule = unique("dlq")
    rule_arn = ev.put_rule(Name=rule, EventPattern=json.dumps({"source": ["dlq.test"]}))["RuleArn"]
    dlq_url, dlq_arn = queue_for_rule(sqs, unique("dlq"), rule_arn)
    fifo_name = unique("ordered") + ".fifo"
    fifo_url = sqs.create_queue(QueueName=fifo_name, Attributes={"FifoQueue": "true"})["QueueUrl"]
    fifo_arn = sqs.get_queue_attributes(QueueUrl=fifo_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sqs.set_queue_attributes(QueueUrl=fifo_url, Attributes={"Policy": json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sqs:SendMessage", "Resource": fifo_arn}]})})
    # A function that never let the rule in: every delivery is refused.
    fn_arn = create(lam, unique("closed"), {"app.py": "def lambda_handler(event, context):\n    return 1\n"})["FunctionArn"]
    ev.put_targets(Rule=rule, Targets=[
        {"Id": "fn", "Arn": fn_arn, "DeadLetterConfig": {"Arn": dlq_arn},
         "RetryPolicy": {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 600}},
        {"Id": "fifo", "Arn": fifo_arn, "SqsParameters": {"MessageGroupId": "orders"}}])
    targets = ev.list_targets_by_rule(Rule=rule)["Targets"]
    assert targets[0]["DeadLetterConfig"] == {"Arn": dlq_arn}
    assert targets[0]["RetryPolicy"]["MaximumRetryAttempts"] == 2
    out = ev.put_events(Entries=[{"Source": "dlq.test", "DetailType": "t", "Detail": json.dumps({"n": 1})}])
    event_id = out["Entries"][0]["EventId"]
    deadline, got = time.monotonic() + 60, []
    while time.monotonic() < deadline and not got:
        got = sqs.receive_message(QueueUrl=dlq_url, WaitTimeSeconds=1,
                                  MessageAttributeNames=["All"]).get("Messages", [])
    assert got, "the refused event reached the dead-letter queue"
    assert json.loads(got[0]["Body"])["id"] == event_id
    attributes = {k: v["StringValue"] for k, v in got[0]["MessageAttributes"].items()}
    assert attributes["RULE_ARN"] == rule_arn and attributes["TARGET_ARN"] == fn_arn
    assert attributes["ERROR_CODE"] == "NO_PERMISSIONS" and attributes["ERROR_MESSAGE"]
    ordered = sqs.receive_message(QueueUrl=fifo_url, WaitTimeSeconds=5,
                                  AttributeNames=["MessageGroupId", "MessageDeduplicationId"])["Messages"]
    assert ordered[0]["Attributes"]["MessageGroupId"] == "orders"
    assert ordered[0]["Attributes"]["MessageDeduplicationId"] == event_id


def test_step_functions_status_changes_reach_the_default_bus(nimbus):
    ev, sfn, sqs = nimbus.client("events"), nimbus.client("stepfunctions"), nimbus.client("sqs")
    ok = sfn.create_state_machine(
        name=unique("announced"), roleArn=ROLE,
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}))["stateMachineArn"]
    bad = sfn.create_state_machine(
        name=unique("fails"), roleArn=ROLE,
        definition=json.dumps({"StartAt": "No", "States": {"No": {"Type": "Fail", "Error": "Oops", "Cause": "why"}}}))["stateMachineArn"]
    rule = unique("sfn-status")
    rule_arn = ev.put_rule(Name=rule, EventPattern=json.dumps({
        "source": ["aws.states"], "detail-type": ["Step Functions Execution Status Change"],
        "detail": {"stateMachineArn": [ok, bad]}}))["RuleArn"]
    url, arn = queue_for_rule(sqs, unique("sfn-status"), rule_arn)
    ev.put_targets(Rule=rule, Targets=[{"Id": "q", "Arn": arn}])
    done = sfn.start_execution(stateMachineArn=ok, input='{"n": 1}')["executionArn"]
    failed = sfn.start_execution(stateMachineArn=bad)["executionArn"]
    seen, deadline = [], time.monotonic() + 60
    while time.monotonic() < deadline and len(seen) < 4:
        seen += [json.loads(b) for b in receive(sqs, url)]
    by = {(e["detail"]["executionArn"], e["detail"]["status"]): e for e in seen}
    assert set(by) == {(done, "RUNNING"), (done, "SUCCEEDED"), (failed, "RUNNING"), (failed, "FAILED")}, list(by)
    ended = by[(done, "SUCCEEDED")]
    assert ended["resources"] == [done] and ended["detail"]["input"] == '{"n": 1}'
    assert json.loads(ended["detail"]["output"]) == {"n": 1} and ended["detail"]["stopDate"] >= ended["detail"]["startDate"]
    assert by[(failed, "FAILED")]["detail"]["error"] == "Oops"
    ev.remove_targets(Rule=rule, Ids=["q"])
    ev.delete_rule(Name=rule)


def test_bus_policies_let_principals_put_events_and_rules_and_buses_carry_tags(nimbus):
    ev, iam = nimbus.client("events"), nimbus.client("iam")
    bus = unique("shared")
    bus_arn = ev.create_event_bus(Name=bus, Tags=[{"Key": "team", "Value": "blue"}])["EventBusArn"]
    assert ev.list_tags_for_resource(ResourceARN=bus_arn)["Tags"] == [{"Key": "team", "Value": "blue"}]

    # A statement for another account, as PutPermission writes it, then removed.
    ev.put_permission(EventBusName=bus, Action="events:PutEvents", Principal="111122223333", StatementId="partner")
    policy = json.loads(ev.describe_event_bus(Name=bus)["Policy"])
    assert policy["Statement"] == [{
        "Sid": "partner", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
        "Action": "events:PutEvents", "Resource": bus_arn}]
    with pytest.raises(ClientError) as e:
        ev.put_permission(EventBusName=bus, Action="events:PutEvents", Principal="111122223333", StatementId="partner")
    assert e.value.response["Error"]["Code"] == "ResourceAlreadyExistsException"
    with pytest.raises(ClientError) as e:
        ev.remove_permission(EventBusName=bus, StatementId="nobody")
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
    ev.remove_permission(EventBusName=bus, StatementId="partner")
    assert "Policy" not in ev.describe_event_bus(Name=bus)

    # A user with no policies of its own may put events once the bus's policy names it.
    user = unique("producer")
    user_arn = iam.create_user(UserName=user)["User"]["Arn"]
    k = iam.create_access_key(UserName=user)["AccessKey"]
    theirs = boto3.Session(aws_access_key_id=k["AccessKeyId"], aws_secret_access_key=k["SecretAccessKey"],
                           region_name="us-east-1").client(
        "events", endpoint_url=nimbus.endpoint, config=Config(retries={"max_attempts": 1}))
    entry = {"Source": "partner", "DetailType": "ping", "Detail": "{}", "EventBusName": bus}
    with pytest.raises(ClientError) as e:
        theirs.put_events(Entries=[entry])
    assert e.value.response["Error"]["Code"] == "AccessDeniedException"
    ev.put_permission(EventBusName=bus, Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "producer", "Effect": "Allow", "Principal": {"AWS": user_arn},
        "Action": "events:PutEvents", "Resource": bus_arn}]}))
    assert theirs.put_events(Entries=[entry])["FailedEntryCount"] == 0

    # Rules carry tags from PutRule and TagResource; UntagResource takes them off.
    rule_arn = ev.put_rule(Name="tagged", EventBusName=bus, EventPattern='{"source": ["partner"]}',
                           Tags=[{"Key": "a", "Value": "1"}])["RuleArn"]
    ev.tag_resource(ResourceARN=rule_arn, Tags=[{"Key": "b", "Value": "2"}])
    ev.untag_resource(ResourceARN=rule_arn, TagKeys=["a"])
    assert ev.list_tags_for_resource(ResourceARN=rule_arn)["Tags"] == [{"Key": "b", "Value": "2"}]
    ev.update_event_bus(Name=bus, Description="shared with partners")
    assert ev.describe_event_bus(Name=bus)["Description"] == "shared with partners"
    with pytest.raises(ClientError) as e:
        ev.list_tags_for_resource(ResourceARN=bus_arn + "-gone")
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
    ev.delete_rule(Name="tagged", EventBusName=bus)
    ev.delete_event_bus(Name=bus)
