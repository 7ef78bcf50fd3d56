"""SNS with boto3: topics, subscriptions of queues and functions (each letting the topic in
by its policy), filter policies on attributes and on the body, raw delivery, JSON-structured
messages, batches, and what is refused."""
import json
import time

import pytest
from botocore.exceptions import ClientError

from conftest import create, unique


def receive(sqs, url, deadline_s=60, want=1):
    got, deadline = [], time.monotonic() + deadline_s
    while time.monotonic() < deadline and len(got) < want:
        msgs = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1, MaxNumberOfMessages=10).get("Messages", [])
        for m in msgs:
            got.append(m["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    assert len(got) >= want, f"{len(got)} of {want} messages arrived on {url}"
    return got


def queue_for_topic(sqs, topic_arn, name):
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage",
            "Resource": arn, "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}}}]})})
    return url, arn


def test_messages_fan_out_to_queues_and_functions_through_filter_policies(nimbus):
    sns, sqs, lam = nimbus.client("sns"), nimbus.client("sqs"), nimbus.client("lambda")
    topic = sns.create_topic(Name=unique("orders"), Attributes={"DisplayName": "Orders"})["TopicArn"]
    assert sns.get_topic_attributes(TopicArn=topic)["Attributes"]["DisplayName"] == "Orders"
    all_url, all_arn = queue_for_topic(sqs, topic, unique("all"))
    big_url, big_arn = queue_for_topic(sqs, topic, unique("big"))
    body_url, body_arn = queue_for_topic(sqs, topic, unique("body"))
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=all_arn)
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=big_arn, Attributes={
        "RawMessageDelivery": "true", "FilterPolicy": json.dumps({"size": ["big"], "total": [{"numeric": [">", 100]}]})})
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=body_arn, Attributes={
        "FilterPolicyScope": "MessageBody", "FilterPolicy": json.dumps({"kind": [{"prefix": "re"}]})})
    seen = sqs.create_queue(QueueName=unique("seen"))["QueueUrl"]
    fn = unique("on-order")
    fn_arn = create(lam, fn, {"app.py": (
        "import json, os, boto3\n"
        "def lambda_handler(event, context):\n"
        "    boto3.client('sqs').send_message(QueueUrl=os.environ['SEEN'], MessageBody=json.dumps(event))\n")},
        Environment={"Variables": {"SEEN": seen}})["FunctionArn"]
    lam.add_permission(FunctionName=fn, StatementId="sns", Action="lambda:InvokeFunction",
                       Principal="sns.amazonaws.com", SourceArn=topic)
    sub = sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=fn_arn)["SubscriptionArn"]
    assert sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]["Protocol"] == "lambda"
    assert len(sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]) == 4

    attrs = {"size": {"DataType": "String", "StringValue": "big"},
             "total": {"DataType": "Number", "StringValue": "250"}}
    mid = sns.publish(TopicArn=topic, Message=json.dumps({"kind": "refund"}), Subject="order",
                      MessageAttributes=attrs)["MessageId"]
    envelope = json.loads(receive(sqs, all_url)[0])
    assert envelope["Type"] == "Notification" and envelope["MessageId"] == mid
    assert envelope["TopicArn"] == topic and envelope["Subject"] == "order"
    assert envelope["MessageAttributes"]["total"] == {"Type": "Number", "Value": "250"}
    assert receive(sqs, big_url) == [json.dumps({"kind": "refund"})]
    assert json.loads(json.loads(receive(sqs, body_url)[0])["Message"]) == {"kind": "refund"}
    record = json.loads(receive(sqs, seen)[0])["Records"][0]
    assert record["EventSource"] == "aws:sns" and record["EventSubscriptionArn"] == sub
    assert record["Sns"]["Message"] == json.dumps({"kind": "refund"})

    # Filtered out: a small order reaches only the unfiltered queue and the function.
    sns.publish(TopicArn=topic, Message=json.dumps({"kind": "sale"}),
                MessageAttributes={"size": {"DataType": "String", "StringValue": "small"}})
    assert len(receive(sqs, all_url)) == 1
    receive(sqs, seen)
    for url in (big_url, body_url):
        assert not sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages")

    # A JSON-structured message: each protocol its own text.
    sns.publish(TopicArn=topic, MessageStructure="json",
                Message=json.dumps({"default": "plain", "sqs": "for queues", "lambda": "for functions"}))
    assert json.loads(receive(sqs, all_url)[0])["Message"] == "for queues"
    assert json.loads(receive(sqs, seen)[0])["Records"][0]["Sns"]["Message"] == "for functions"

    batch = sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[
        {"Id": "a", "Message": "one"}, {"Id": "b", "Message": "two"}])
    assert [s["Id"] for s in batch["Successful"]] == ["a", "b"] and not batch["Failed"]
    assert sorted(json.loads(b)["Message"] for b in receive(sqs, all_url, want=2)) == ["one", "two"]
    receive(sqs, seen, want=2)

    sns.unsubscribe(SubscriptionArn=sub)
    sns.delete_topic(TopicArn=topic)
    assert topic not in [t["TopicArn"] for t in sns.list_topics()["Topics"]]


def test_what_sns_refuses(nimbus):
    sns = nimbus.client("sns")
    topic = sns.create_topic(Name=unique("refusals"))["TopicArn"]
    with pytest.raises(ClientError) as e:
        sns.publish(TopicArn=topic + "-nope", Message="x")
    assert e.value.response["Error"]["Code"] == "NotFound"
    with pytest.raises(ClientError) as e:
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint="arn:aws:sqs:us-east-1:000000000000:nope",
                      Attributes={"FilterPolicy": "{}"})
    assert e.value.response["Error"]["Code"] == "InvalidParameter"
    with pytest.raises(ClientError) as e:
        sns.publish(TopicArn=topic, Message="x", MessageStructure="json")
    assert e.value.response["Error"]["Code"] == "InvalidParameter"
    with pytest.raises(ClientError) as e:
        sns.create_topic(Name="bad name!")
    assert e.value.response["Error"]["Code"] == "InvalidParameter"
    sns.delete_topic(TopicArn=topic)


SAM_SNS = """
Transform: AWS::Serverless-2016-10-31
Resources:
  Topic:
    Type: AWS::SNS::Topic
    Properties:
      DisplayName: notes
  Seen:
    Type: AWS::SQS::Queue
  Copies:
    Type: AWS::SQS::Queue
  CopiesPolicy:
    Type: AWS::SQS::QueuePolicy
    Properties:
      Queues: [!Ref Copies]
      PolicyDocument:
        Statement:
          - Effect: Allow
            Principal: {Service: sns.amazonaws.com}
            Action: sqs:SendMessage
            Resource: !GetAtt Copies.Arn
            Condition: {ArnEquals: {aws:SourceArn: !Ref Topic}}
  CopiesSubscription:
    Type: AWS::SNS::Subscription
    DependsOn: CopiesPolicy
    Properties:
      TopicArn: !Ref Topic
      Protocol: sqs
      Endpoint: !GetAtt Copies.Arn
      RawMessageDelivery: true
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
            boto3.client("sqs").send_message(QueueUrl=os.environ["SEEN"],
                                              MessageBody=event["Records"][0]["Sns"]["Message"])
      Events:
        Note:
          Type: SNS
          Properties:
            Topic: !Ref Topic
            FilterPolicy: {kind: [big]}
Outputs:
  Topic: {Value: !Ref Topic}
  Seen: {Value: !Ref Seen}
  Copies: {Value: !Ref Copies}
"""


def test_sam_sns_events_and_cloudformation_subscriptions(nimbus):
    cfn, sns, sqs = nimbus.client("cloudformation"), nimbus.client("sns"), nimbus.client("sqs")
    name = unique("sam-sns")
    cfn.create_stack(StackName=name, TemplateBody=SAM_SNS, Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"])
    cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    out = {o["OutputKey"]: o["OutputValue"] for o in cfn.describe_stacks(StackName=name)["Stacks"][0]["Outputs"]}
    big = {"kind": {"DataType": "String", "StringValue": "big"}}
    sns.publish(TopicArn=out["Topic"], Message="small one",
                MessageAttributes={"kind": {"DataType": "String", "StringValue": "small"}})
    sns.publish(TopicArn=out["Topic"], Message="big one", MessageAttributes=big)
    assert receive(sqs, out["Seen"]) == ["big one"]
    assert sorted(receive(sqs, out["Copies"], want=2)) == ["big one", "small one"]
    cfn.delete_stack(StackName=name)
    cfn.get_waiter("stack_delete_complete").wait(StackName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    assert out["Topic"] not in [t["TopicArn"] for t in sns.list_topics()["Topics"]]


def test_buckets_and_rules_publish_to_topics(nimbus):
    """S3 notifications and EventBridge rules deliver to a topic whose policy lets them in;
    its subscribers get the events."""
    sns, sqs, s3, ev = (nimbus.client(s) for s in ("sns", "sqs", "s3", "events"))
    topic = sns.create_topic(Name=unique("uploads"))["TopicArn"]
    url, arn = queue_for_topic(sqs, topic, unique("uploads-q"))
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    bucket = unique("uploads").lower()
    rule = unique("to-topic")
    rule_arn = f"arn:aws:events:us-east-1:000000000000:rule/{rule}"
    sns.set_topic_attributes(TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "sns:Publish",
             "Resource": topic, "Condition": {"ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{bucket}"}}},
            {"Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"}, "Action": "sns:Publish",
             "Resource": topic, "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}}}]}))
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
        "TopicConfigurations": [{"TopicArn": topic, "Events": ["s3:ObjectCreated:*"]}]})
    got = s3.get_bucket_notification_configuration(Bucket=bucket)
    assert got["TopicConfigurations"][0]["TopicArn"] == topic
    s3.put_object(Bucket=bucket, Key="a.txt", Body=b"x")
    record = json.loads(receive(sqs, url)[0])["Records"][0]
    assert record["eventSource"] == "aws:s3" and record["s3"]["object"]["key"] == "a.txt"

    assert ev.put_rule(Name=rule, EventPattern='{"source": ["shop"]}')["RuleArn"] == rule_arn
    assert ev.put_targets(Rule=rule, Targets=[{"Id": "t", "Arn": topic}])["FailedEntryCount"] == 0
    ev.put_events(Entries=[{"Source": "shop", "DetailType": "x", "Detail": '{"n": 1}'}])
    assert json.loads(receive(sqs, url)[0])["detail"] == {"n": 1}
    ev.remove_targets(Rule=rule, Ids=["t"])
    ev.delete_rule(Name=rule)


def test_asynchronous_invocations_report_to_a_topic(nimbus):
    sns, sqs, lam = nimbus.client("sns"), nimbus.client("sqs"), nimbus.client("lambda")
    topic = sns.create_topic(Name=unique("outcomes"))["TopicArn"]
    url, arn = queue_for_topic(sqs, topic, unique("outcomes-q"))
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    fn = unique("reports")
    create(lam, fn, {"app.py": "def lambda_handler(event, context):\n    return {'done': event['n']}\n"})
    lam.put_function_event_invoke_config(FunctionName=fn, DestinationConfig={"OnSuccess": {"Destination": topic}})
    lam.invoke(FunctionName=fn, InvocationType="Event", Payload=json.dumps({"n": 7}))
    record = json.loads(receive(sqs, url)[0])
    assert record["requestContext"]["condition"] == "Success"
    assert record["responsePayload"] == {"done": 7}


def test_fifo_topics_keep_groups_and_drop_duplicates(nimbus):
    sns, sqs = nimbus.client("sns"), nimbus.client("sqs")
    name = unique("orders") + ".fifo"
    topic = sns.create_topic(Name=name, Attributes={"FifoTopic": "true", "ContentBasedDeduplication": "true"})["TopicArn"]
    attributes = sns.get_topic_attributes(TopicArn=topic)["Attributes"]
    assert attributes["FifoTopic"] == "true" and attributes["ContentBasedDeduplication"] == "true"
    qname = unique("fifo") + ".fifo"
    url = sqs.create_queue(QueueName=qname, Attributes={"FifoQueue": "true"})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage",
            "Resource": arn, "Condition": {"ArnEquals": {"aws:SourceArn": topic}}}]})})
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    with pytest.raises(ClientError) as e:
        sns.publish(TopicArn=topic, Message="no group")
    assert e.value.response["Error"]["Code"] == "InvalidParameter"
    first = sns.publish(TopicArn=topic, Message="one", MessageGroupId="g")
    assert len(first["SequenceNumber"]) == 20
    again = sns.publish(TopicArn=topic, Message="one", MessageGroupId="g")
    assert again["MessageId"] == first["MessageId"], "a duplicate answers the first publish"
    sns.publish(TopicArn=topic, Message="two", MessageGroupId="g", MessageDeduplicationId="d2",
                MessageAttributes={"n": {"DataType": "Number", "StringValue": "2"}})
    batch = sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[
        {"Id": "x", "Message": "three", "MessageGroupId": "g"},
        {"Id": "y", "Message": "three", "MessageGroupId": "g"},
        {"Id": "z", "Message": "four", "MessageGroupId": "g"}])
    ids = {s["Id"]: s["MessageId"] for s in batch["Successful"]}
    assert ids["x"] == ids["y"] != ids["z"], "a duplicate within a batch answers the first"
    with pytest.raises(ClientError) as e:
        sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[
            {"Id": "same", "Message": "a", "MessageGroupId": "g"}, {"Id": "same", "Message": "b", "MessageGroupId": "g"}])
    assert e.value.response["Error"]["Code"] == "BatchEntryIdsNotDistinct"
    got = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(got) < 4:
        for m in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1, MaxNumberOfMessages=10,
                                     AttributeNames=["MessageGroupId"],
                                     MessageAttributeNames=["All"]).get("Messages", []):
            got.append(m)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    assert [m["Body"] for m in got] == ["one", "two", "three", "four"], "in order, the duplicates dropped"
    assert got[0]["Attributes"]["MessageGroupId"] == "g"
    assert got[1]["MessageAttributes"]["n"] == {"DataType": "Number", "StringValue": "2"}
    with pytest.raises(ClientError) as e:
        sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint="arn:aws:lambda:us-east-1:000000000000:function:x")
    assert e.value.response["Error"]["Code"] == "InvalidParameter"
    sns.delete_topic(TopicArn=topic)


def test_undeliverable_messages_go_to_the_subscriptions_dead_letter_queue(nimbus):
    sns, sqs, lam = nimbus.client("sns"), nimbus.client("sqs"), nimbus.client("lambda")
    topic = sns.create_topic(Name=unique("redrive"))["TopicArn"]
    dlq_url, dlq_arn = queue_for_topic(sqs, topic, unique("dlq"))
    fn = unique("closed")
    # No permission for the topic: every delivery is refused.
    fn_arn = create(lam, fn, {"app.py": "def lambda_handler(event, context):\n    return 1\n"})["FunctionArn"]
    sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=fn_arn,
                  Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn})})
    mid = sns.publish(TopicArn=topic, Message="refused")["MessageId"]
    deadline, got = time.monotonic() + 60, []
    while time.monotonic() < deadline and not got:
        got = sqs.receive_message(QueueUrl=dlq_url, WaitTimeSeconds=1,
                                  MessageAttributeNames=["All"]).get("Messages", [])
    assert got, "the refused message reached the dead-letter queue"
    body = json.loads(got[0]["Body"])
    assert body["MessageId"] == mid and body["Message"] == "refused"
    assert set(got[0]["MessageAttributes"]) >= {"RequestID", "ErrorCode", "ErrorMessage"}
    with pytest.raises(ClientError) as e:
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=dlq_arn,
                      Attributes={"RedrivePolicy": "{\"nope\": 1}"})
    assert e.value.response["Error"]["Code"] == "InvalidParameter"
    sns.delete_topic(TopicArn=topic)
