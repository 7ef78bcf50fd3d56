"""The SQS API (JSON protocol), driven by boto3 and the AWS CLI."""
import hashlib
import json
import signal
import struct
import tempfile
import threading
import time

import pytest
from botocore.exceptions import ClientError

from conftest import Nimbus, unique


@pytest.fixture(scope="module")
def sqs(nimbus):
    return nimbus.client("sqs")


def qname(prefix="q"):
    return unique(prefix).replace(".", "-")


def md5_of_attributes(attrs):
    """SQS's MD5OfMessageAttributes, computed independently of Nimbus."""
    def lp(b):
        return struct.pack(">I", len(b)) + b
    buf = b""
    for name in sorted(attrs):
        a = attrs[name]
        buf += lp(name.encode()) + lp(a["DataType"].encode())
        if a["DataType"].startswith("Binary"):
            buf += b"\x02" + lp(a["BinaryValue"])
        else:
            buf += b"\x01" + lp(a["StringValue"].encode())
    return hashlib.md5(buf).hexdigest()


def test_queue_lifecycle_and_attributes(sqs):
    name = qname()
    url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "5"}, tags={"team": "a"})["QueueUrl"]
    assert url.endswith(f"/000000000000/{name}")
    assert sqs.get_queue_url(QueueName=name)["QueueUrl"] == url
    # Same name and attributes: the same queue; different attributes: an error.
    assert sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "5"})["QueueUrl"] == url
    with pytest.raises(ClientError) as e:
        sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "6"})
    assert e.value.response["Error"]["Code"] == "QueueAlreadyExists"
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["VisibilityTimeout"] == "5" and attrs["QueueArn"] == f"arn:aws:sqs:us-east-1:000000000000:{name}"
    assert attrs["ApproximateNumberOfMessages"] == "0" and attrs["DelaySeconds"] == "0"
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"DelaySeconds": "1"})
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["DelaySeconds"])["Attributes"] == {"DelaySeconds": "1"}
    with pytest.raises(ClientError) as e:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "-1"})
    assert e.value.response["Error"]["Code"] == "InvalidAttributeValue"
    sqs.tag_queue(QueueUrl=url, Tags={"env": "test"})
    sqs.untag_queue(QueueUrl=url, TagKeys=["team"])
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"env": "test"}
    assert url in sqs.list_queues(QueueNamePrefix=name)["QueueUrls"]
    sqs.delete_queue(QueueUrl=url)
    with pytest.raises(ClientError) as e:
        sqs.get_queue_url(QueueName=name)
    assert e.value.response["Error"]["Code"] == "AWS.SimpleQueueService.NonExistentQueue"
    assert isinstance(e.value, sqs.exceptions.QueueDoesNotExist)


def test_send_receive_delete_with_attributes_and_digests(sqs):
    url = sqs.create_queue(QueueName=qname())["QueueUrl"]
    attrs = {"colour": {"DataType": "String", "StringValue": "blue"},
             "n": {"DataType": "Number", "StringValue": "42"},
             "raw": {"DataType": "Binary", "BinaryValue": b"\x00\x01\x02"}}
    sent = sqs.send_message(QueueUrl=url, MessageBody="hello ünï", MessageAttributes=attrs)
    assert sent["MD5OfMessageBody"] == hashlib.md5("hello ünï".encode()).hexdigest()
    assert sent["MD5OfMessageAttributes"] == md5_of_attributes(attrs)
    got = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"], AttributeNames=["All"])["Messages"]
    assert len(got) == 1
    m = got[0]
    assert m["Body"] == "hello ünï" and m["MessageId"] == sent["MessageId"]
    assert m["MD5OfBody"] == sent["MD5OfMessageBody"] and m["MD5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
    assert m["MessageAttributes"]["raw"]["BinaryValue"] == b"\x00\x01\x02"
    assert m["Attributes"]["ApproximateReceiveCount"] == "1" and int(m["Attributes"]["SentTimestamp"]) > 0
    # In flight: not received again until its visibility ends.
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)
    again = sqs.receive_message(QueueUrl=url, AttributeNames=["ApproximateReceiveCount"])["Messages"][0]
    assert again["Attributes"]["ApproximateReceiveCount"] == "2"
    sqs.delete_message(QueueUrl=url, ReceiptHandle=again["ReceiptHandle"])
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]["ApproximateNumberOfMessagesNotVisible"] == "0"
    with pytest.raises(ClientError) as e:
        sqs.delete_message(QueueUrl=url, ReceiptHandle="not-a-handle")
    assert e.value.response["Error"]["Code"] == "ReceiptHandleIsInvalid"


def test_batches_with_per_entry_failures(sqs):
    url = sqs.create_queue(QueueName=qname())["QueueUrl"]
    r = sqs.send_message_batch(QueueUrl=url, Entries=[
        {"Id": "a", "MessageBody": "one"},
        {"Id": "b", "MessageBody": "two", "DelaySeconds": 0},
        {"Id": "c", "MessageBody": "x", "MessageAttributes": {"bad": {"DataType": "Number", "StringValue": "nan-ish"}}},
    ])
    assert sorted(s["Id"] for s in r["Successful"]) == ["a", "b"]
    assert [f["Id"] for f in r["Failed"]] == ["c"] and r["Failed"][0]["SenderFault"] is True
    msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert sorted(m["Body"] for m in msgs) == ["one", "two"]
    d = sqs.delete_message_batch(QueueUrl=url, Entries=[
        {"Id": "x", "ReceiptHandle": msgs[0]["ReceiptHandle"]}, {"Id": "y", "ReceiptHandle": "bogus"}])
    assert [s["Id"] for s in d["Successful"]] == ["x"] and [f["Id"] for f in d["Failed"]] == ["y"]
    for bad, code in [([], "AWS.SimpleQueueService.EmptyBatchRequest"),
                      ([{"Id": "same", "MessageBody": "1"}, {"Id": "same", "MessageBody": "2"}], "AWS.SimpleQueueService.BatchEntryIdsNotDistinct"),
                      ([{"Id": str(i), "MessageBody": "m"} for i in range(11)], "AWS.SimpleQueueService.TooManyEntriesInBatchRequest")]:
        with pytest.raises(ClientError) as e:
            sqs.send_message_batch(QueueUrl=url, Entries=bad)
        assert e.value.response["Error"]["Code"] == code


def test_limits_and_bad_input(sqs):
    url = sqs.create_queue(QueueName=qname())["QueueUrl"]
    with pytest.raises(ClientError) as e:
        sqs.send_message(QueueUrl=url, MessageBody="x" * (1024 * 1024 + 1))
    assert e.value.response["Error"]["Code"] == "InvalidParameterValue"
    with pytest.raises(ClientError) as e:
        sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=11)
    assert e.value.response["Error"]["Code"] == "InvalidParameterValue"
    with pytest.raises(ClientError) as e:
        sqs.send_message(QueueUrl=url + "-missing", MessageBody="x")
    assert e.value.response["Error"]["Code"] == "AWS.SimpleQueueService.NonExistentQueue"
    with pytest.raises(ClientError) as e:
        sqs.create_queue(QueueName="bad name!")
    assert e.value.response["Error"]["Code"] == "InvalidParameterValue"

    def refused(call, **kw):
        with pytest.raises(ClientError) as e:
            call(QueueUrl=url, **kw)
        return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]

    assert refused(sqs.receive_message, MaxNumberOfMessages=11) == (
        "InvalidParameterValue",
        "Value 11 for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.")
    assert refused(sqs.get_queue_attributes, AttributeNames=["Bogus"]) == ("InvalidAttributeName", "Unknown Attribute Bogus.")
    code, msg = refused(sqs.send_message, MessageBody="bell \x07")
    assert code == "InvalidMessageContents" and msg.startswith("Invalid binary character '#x7' was found in the message body")
    code, msg = refused(sqs.send_message, MessageBody="x",
                        MessageAttributes={"a": {"DataType": "String", "StringValue": "\x01"}})
    assert code == "InvalidParameterValue" and "invalid binary character '#x1'" in msg
    code, msg = refused(sqs.send_message, MessageBody="x", MessageAttributes={"a": {"DataType": "String", "StringValue": ""}})
    assert code == "InvalidParameterValue" and "must contain a non-empty message attribute value" in msg
    # Everything XML carries beyond ASCII is fine.
    sqs.send_message(QueueUrl=url, MessageBody="tab\tnewline\n é ✓ 😀")
    assert sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"] == "tab\tnewline\n é ✓ 😀"


def test_long_polling_returns_when_a_message_arrives(nimbus, sqs):
    url = sqs.create_queue(QueueName=qname())["QueueUrl"]
    result = {}

    def poll():
        start = time.monotonic()
        r = nimbus.client("sqs").receive_message(QueueUrl=url, WaitTimeSeconds=10)
        result["elapsed"] = time.monotonic() - start
        result["messages"] = r.get("Messages", [])

    t = threading.Thread(target=poll)
    t.start()
    time.sleep(0.5)
    sqs.send_message(QueueUrl=url, MessageBody="wake up")
    t.join(15)
    assert [m["Body"] for m in result["messages"]] == ["wake up"]
    assert result["elapsed"] < 5
    start = time.monotonic()
    assert "Messages" not in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)
    assert 0.9 < time.monotonic() - start < 5


def test_delay_and_dead_letter_redrive(sqs):
    dlq = sqs.create_queue(QueueName=qname("dlq"))["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    src = sqs.create_queue(QueueName=qname("src"), Attributes={
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"}),
        "VisibilityTimeout": "0"})["QueueUrl"]
    sqs.send_message(QueueUrl=src, MessageBody="later", DelaySeconds=1)
    assert "Messages" not in sqs.receive_message(QueueUrl=src)
    assert sqs.get_queue_attributes(QueueUrl=src, AttributeNames=["ApproximateNumberOfMessagesDelayed"])["Attributes"]["ApproximateNumberOfMessagesDelayed"] == "1"
    time.sleep(1.2)
    for _ in range(2):
        assert sqs.receive_message(QueueUrl=src, WaitTimeSeconds=1)["Messages"][0]["Body"] == "later"
    # Received maxReceiveCount times without being deleted: it moves to the DLQ.
    assert "Messages" not in sqs.receive_message(QueueUrl=src)
    dead = sqs.receive_message(QueueUrl=dlq, AttributeNames=["All"])["Messages"][0]
    assert dead["Body"] == "later" and dead["Attributes"]["DeadLetterQueueSourceArn"].endswith(src.rsplit("/", 1)[1])
    sqs.purge_queue(QueueUrl=dlq)
    assert sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["All"])["Attributes"]["ApproximateNumberOfMessagesNotVisible"] == "0"


def test_aws_cli(nimbus):
    """AWS CLI v1 replaces the configured endpoint of `aws sqs` with SQS's legacy
    host name unless --endpoint-url is on the command line (its
    overridesslcommonname customization), so it is given here, as the README says."""
    name = qname("cli")
    ep = ("--endpoint-url", nimbus.endpoint)
    url = json.loads(nimbus.aws("sqs", "create-queue", "--queue-name", name, *ep).stdout)["QueueUrl"]
    nimbus.aws("sqs", "send-message", "--queue-url", url, "--message-body", "from the cli", *ep)
    out = json.loads(nimbus.aws("sqs", "receive-message", "--queue-url", url, *ep).stdout)
    assert out["Messages"][0]["Body"] == "from the cli"
    res = nimbus.aws("sqs", "get-queue-url", "--queue-name", name + "-nope", *ep, check=False)
    assert res.returncode != 0 and "NonExistentQueue" in res.stderr


def test_messages_survive_kill_9():
    with tempfile.TemporaryDirectory(prefix="nimbus-sqs-kill-") as d:
        n = Nimbus(d).start()
        sqs = n.client("sqs")
        url = sqs.create_queue(QueueName="durable")["QueueUrl"]
        for i in range(20):
            sqs.send_message(QueueUrl=url, MessageBody=f"m{i}")
        first = sqs.receive_message(QueueUrl=url, VisibilityTimeout=0)["Messages"][0]
        n.stop(signal.SIGKILL)
        n2 = Nimbus(d).start()
        try:
            sqs2 = n2.client("sqs")
            url2 = sqs2.get_queue_url(QueueName="durable")["QueueUrl"]
            bodies = []
            while True:
                got = sqs2.receive_message(QueueUrl=url2, MaxNumberOfMessages=10, AttributeNames=["All"]).get("Messages", [])
                if not got:
                    break
                for m in got:
                    bodies.append(m["Body"])
                    if m["Body"] == first["Body"]:
                        # The receive before the crash was recorded too.
                        assert m["Attributes"]["ApproximateReceiveCount"] == "2"
                    sqs2.delete_message(QueueUrl=url2, ReceiptHandle=m["ReceiptHandle"])
            assert sorted(bodies) == sorted(f"m{i}" for i in range(20))
        finally:
            n2.stop()


FAILING = "def handler(event, context):\n    raise ValueError('no good: ' + event['id'])\n"


def test_async_failures_go_to_queues(nimbus, sqs):
    """A function's OnFailure destination and its dead-letter target can be queues."""
    from conftest import create
    lam = nimbus.client()
    dest = sqs.create_queue(QueueName=qname("onfail"))["QueueUrl"]
    dlq = sqs.create_queue(QueueName=qname("fndlq"))["QueueUrl"]
    arn = lambda u: sqs.get_queue_attributes(QueueUrl=u, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    f1, f2 = unique("fails-dest"), unique("fails-dlq")
    create(lam, f1, {"app.py": FAILING}, handler="app.handler")
    create(lam, f2, {"app.py": FAILING}, handler="app.handler", DeadLetterConfig={"TargetArn": arn(dlq)})
    for f in (f1, f2):
        lam.put_function_event_invoke_config(FunctionName=f, MaximumRetryAttempts=0)
    lam.update_function_event_invoke_config(FunctionName=f1, DestinationConfig={"OnFailure": {"Destination": arn(dest)}})
    lam.invoke(FunctionName=f1, InvocationType="Event", Payload=b'{"id": "one"}')
    lam.invoke(FunctionName=f2, InvocationType="Event", Payload=b'{"id": "two"}')
    record = json.loads(sqs.receive_message(QueueUrl=dest, WaitTimeSeconds=20)["Messages"][0]["Body"])
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestPayload"] == {"id": "one"}
    assert record["responsePayload"]["errorMessage"] == "no good: one"
    # A dead-letter target gets the original event.
    dead = sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=20)["Messages"][0]
    assert json.loads(dead["Body"]) == {"id": "two"}


# Forwards every record it handles to the queue named in OUT, and reports the
# records whose body starts with "fail" as batch item failures.
CONSUMER = '''
import json, os, boto3
sqs = boto3.client("sqs")
def handler(event, context):
    out = sqs.get_queue_url(QueueName=os.environ["OUT"])["QueueUrl"]
    failures = []
    for r in event["Records"]:
        assert r["eventSource"] == "aws:sqs" and r["eventSourceARN"].endswith(os.environ["SRC"])
        if r["body"].startswith("fail"):
            failures.append({"itemIdentifier": r["messageId"]})
        else:
            sqs.send_message(QueueUrl=out, MessageBody=json.dumps({
                "body": r["body"], "count": r["attributes"]["ApproximateReceiveCount"],
                "attr": r["messageAttributes"].get("kind", {}).get("stringValue"), "batch": len(event["Records"])}))
    return {"batchItemFailures": failures}
'''


def drain(sqs, url, want, timeout=60):
    got = []
    deadline = time.time() + timeout
    while len(got) < want and time.time() < deadline:
        for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
            got.append(m["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return got


def test_event_source_mapping_api(nimbus, sqs):
    from conftest import create
    lam = nimbus.client()
    src = sqs.create_queue(QueueName=qname("esm-api"))["QueueUrl"]
    src_arn = sqs.get_queue_attributes(QueueUrl=src, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    fn = unique("esm-fn")
    create(lam, fn, {"app.py": "def handler(e, c):\n    return None\n"}, handler="app.handler")
    m = lam.create_event_source_mapping(EventSourceArn=src_arn, FunctionName=fn, BatchSize=5, Enabled=False)
    assert m["State"] == "Creating" and m["BatchSize"] == 5 and m["FunctionArn"].endswith(f":function:{fn}")
    assert lam.get_event_source_mapping(UUID=m["UUID"])["State"] == "Disabled"
    listed = lam.list_event_source_mappings(FunctionName=fn)["EventSourceMappings"]
    assert [x["UUID"] for x in listed] == [m["UUID"]]
    with pytest.raises(ClientError) as e:
        lam.create_event_source_mapping(EventSourceArn=src_arn, FunctionName=fn)
    assert e.value.response["Error"]["Code"] == "ResourceConflictException"
    with pytest.raises(ClientError) as e:
        lam.create_event_source_mapping(EventSourceArn=src_arn + "-nope", FunctionName=fn)
    assert e.value.response["Error"]["Code"] == "InvalidParameterValueException"
    u = lam.update_event_source_mapping(UUID=m["UUID"], BatchSize=20, MaximumBatchingWindowInSeconds=1,
                                        FunctionResponseTypes=["ReportBatchItemFailures"])
    assert u["BatchSize"] == 20 and u["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    with pytest.raises(ClientError) as e:
        lam.update_event_source_mapping(UUID=m["UUID"], MaximumBatchingWindowInSeconds=0)
    assert e.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert lam.delete_event_source_mapping(UUID=m["UUID"])["State"] == "Deleting"
    with pytest.raises(ClientError) as e:
        lam.get_event_source_mapping(UUID=m["UUID"])
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"


@pytest.mark.xdist_group("heavy")
def test_queue_triggered_function_with_partial_batch_failures_and_dlq(nimbus, sqs):
    from conftest import create
    lam = nimbus.client()
    dlq = sqs.create_queue(QueueName=qname("esm-dlq"))["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    src_name, out_name = qname("esm-src"), qname("esm-out")
    src = sqs.create_queue(QueueName=src_name, Attributes={
        "VisibilityTimeout": "1",
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2})})["QueueUrl"]
    out = sqs.create_queue(QueueName=out_name)["QueueUrl"]
    src_arn = sqs.get_queue_attributes(QueueUrl=src, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    fn = unique("consumer")
    create(lam, fn, {"app.py": CONSUMER}, handler="app.handler", Timeout=30,
           Environment={"Variables": {"OUT": out_name, "SRC": src_name}})
    entries = [{"Id": f"ok{i}", "MessageBody": f"ok-{i}",
                "MessageAttributes": {"kind": {"DataType": "String", "StringValue": "good"}}} for i in range(8)]
    entries += [{"Id": "f1", "MessageBody": "fail-1"}, {"Id": "f2", "MessageBody": "fail-2"}]
    assert len(sqs.send_message_batch(QueueUrl=src, Entries=entries)["Successful"]) == 10
    lam.create_event_source_mapping(EventSourceArn=src_arn, FunctionName=fn, BatchSize=10,
                                    MaximumBatchingWindowInSeconds=1,
                                    FunctionResponseTypes=["ReportBatchItemFailures"])
    handled = [json.loads(b) for b in drain(sqs, out, 8)]
    assert sorted(h["body"] for h in handled) == [f"ok-{i}" for i in range(8)]
    assert all(h["count"] == "1" and h["attr"] == "good" for h in handled), handled
    # The reported failures come back and, after maxReceiveCount receives, land in the DLQ.
    assert sorted(drain(sqs, dlq, 2)) == ["fail-1", "fail-2"]
    time.sleep(1.5)
    attrs = sqs.get_queue_attributes(QueueUrl=src, AttributeNames=["All"])["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == "0" and attrs["ApproximateNumberOfMessagesNotVisible"] == "0"
    # Nothing was handled twice.
    assert drain(sqs, out, 1, timeout=2) == []


def test_moving_dead_letters_back(sqs):
    dlq = sqs.create_queue(QueueName=qname("mv-dlq"))["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    src = sqs.create_queue(QueueName=qname("mv-src"), Attributes={
        "VisibilityTimeout": "0",
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "1"})})["QueueUrl"]
    src_arn = sqs.get_queue_attributes(QueueUrl=src, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sqs.send_message(QueueUrl=src, MessageBody="again")
    assert sqs.receive_message(QueueUrl=src)["Messages"][0]["Body"] == "again"
    assert "Messages" not in sqs.receive_message(QueueUrl=src)  # moved to the DLQ
    assert sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]["ApproximateNumberOfMessages"] == "1"
    handle = sqs.start_message_move_task(SourceArn=dlq_arn)["TaskHandle"]
    tasks = sqs.list_message_move_tasks(SourceArn=dlq_arn)["Results"]
    assert handle and tasks[0]["Status"] == "COMPLETED" and "TaskHandle" not in tasks[0]
    assert tasks[0]["ApproximateNumberOfMessagesMoved"] == 1
    back = sqs.receive_message(QueueUrl=src, AttributeNames=["ApproximateReceiveCount"])["Messages"][0]
    assert back["Body"] == "again" and back["Attributes"]["ApproximateReceiveCount"] == "1"
    with pytest.raises(ClientError) as e:
        sqs.start_message_move_task(SourceArn=src_arn)
    assert e.value.response["Error"]["Code"] == "InvalidParameterValue"


def test_rate_limited_move_tasks_run_and_can_be_cancelled(sqs):
    dlq = sqs.create_queue(QueueName=qname("rate-dlq"))["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    src = sqs.create_queue(QueueName=qname("rate-src"), Attributes={
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "3"})})["QueueUrl"]
    src_arn = sqs.get_queue_attributes(QueueUrl=src, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    for i in range(6):
        sqs.send_message(QueueUrl=dlq, MessageBody=f"m{i}")
    handle = sqs.start_message_move_task(SourceArn=dlq_arn, DestinationArn=src_arn, MaxNumberOfMessagesPerSecond=2)["TaskHandle"]
    running = sqs.list_message_move_tasks(SourceArn=dlq_arn)["Results"][0]
    assert running["Status"] == "RUNNING" and running["TaskHandle"] == handle
    assert running["MaxNumberOfMessagesPerSecond"] == 2 and running["ApproximateNumberOfMessagesToMove"] == 6
    with pytest.raises(ClientError) as e:  # one running task per source
        sqs.start_message_move_task(SourceArn=dlq_arn, DestinationArn=src_arn)
    assert e.value.response["Error"]["Code"] == "AWS.SimpleQueueService.UnsupportedOperation"
    time.sleep(1.2)
    moved_so_far = int(sqs.get_queue_attributes(QueueUrl=src, AttributeNames=["ApproximateNumberOfMessages"])
                       ["Attributes"]["ApproximateNumberOfMessages"])
    assert 1 <= moved_so_far <= 4  # two a second, not all at once
    deadline = time.time() + 15
    while time.time() < deadline and sqs.list_message_move_tasks(SourceArn=dlq_arn)["Results"][0]["Status"] == "RUNNING":
        time.sleep(0.3)
    done = sqs.list_message_move_tasks(SourceArn=dlq_arn)["Results"][0]
    assert done["Status"] == "COMPLETED" and done["ApproximateNumberOfMessagesMoved"] == 6
    # A slow task cancelled part way.
    for i in range(5):
        sqs.send_message(QueueUrl=dlq, MessageBody=f"n{i}")
    handle = sqs.start_message_move_task(SourceArn=dlq_arn, DestinationArn=src_arn, MaxNumberOfMessagesPerSecond=1)["TaskHandle"]
    moved = sqs.cancel_message_move_task(TaskHandle=handle)["ApproximateNumberOfMessagesMoved"]
    assert moved < 5
    assert sqs.list_message_move_tasks(SourceArn=dlq_arn)["Results"][0]["Status"] == "CANCELLED"


@pytest.mark.xdist_group("heavy")
def test_a_handler_error_returns_the_whole_batch(nimbus, sqs):
    from conftest import create
    lam = nimbus.client()
    dlq = sqs.create_queue(QueueName=qname("err-dlq"))["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    src = sqs.create_queue(QueueName=qname("err-src"), Attributes={
        "VisibilityTimeout": "1",
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2})})["QueueUrl"]
    src_arn = sqs.get_queue_attributes(QueueUrl=src, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    fn = unique("always-fails")
    create(lam, fn, {"app.py": "def handler(e, c):\n    raise RuntimeError('batch of %d' % len(e['Records']))\n"},
           handler="app.handler")
    sqs.send_message_batch(QueueUrl=src, Entries=[{"Id": str(i), "MessageBody": f"m{i}"} for i in range(3)])
    lam.create_event_source_mapping(EventSourceArn=src_arn, FunctionName=fn, BatchSize=10,
                                    MaximumBatchingWindowInSeconds=1)
    # Every message failed with its batch twice, then the redrive policy moved it.
    assert sorted(drain(sqs, dlq, 3)) == ["m0", "m1", "m2"]


def test_fifo_queues(sqs):
    name = qname("orders") + ".fifo"
    url = sqs.create_queue(QueueName=name, Attributes={"FifoQueue": "true"})["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["FifoQueue"] == "true" and attrs["ContentBasedDeduplication"] == "false"
    with pytest.raises(ClientError) as e:
        sqs.send_message(QueueUrl=url, MessageBody="x", MessageDeduplicationId="d")
    assert e.value.response["Error"]["Code"] == "MissingParameter"
    with pytest.raises(ClientError) as e:
        sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g")
    assert e.value.response["Error"]["Code"] == "InvalidParameterValue"
    # As SQS accepts them: `True` for FifoQueue, a message's DelaySeconds of 0.
    other = sqs.create_queue(QueueName=qname("caps") + ".fifo",
                             Attributes={"FifoQueue": "True", "ContentBasedDeduplication": "true"})["QueueUrl"]
    sqs.send_message(QueueUrl=other, MessageBody="now", MessageGroupId="g", DelaySeconds=0)
    assert sqs.receive_message(QueueUrl=other)["Messages"][0]["Body"] == "now"
    seqs = []
    for body, group, dedup in [("a1", "a", "1"), ("a2", "a", "2"), ("b1", "b", "3"), ("a3", "a", "4")]:
        seqs.append(sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=group,
                                     MessageDeduplicationId=dedup)["SequenceNumber"])
    assert seqs == sorted(seqs)
    # A repeated deduplication id within five minutes is accepted and dropped.
    again = sqs.send_message(QueueUrl=url, MessageBody="a1 again", MessageGroupId="a", MessageDeduplicationId="1")
    assert again["SequenceNumber"] == seqs[0]
    first = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=30,
                                AttributeNames=["All"])["Messages"][0]
    assert first["Body"] == "a1" and first["Attributes"]["MessageGroupId"] == "a"
    assert first["Attributes"]["SequenceNumber"] == seqs[0] and first["Attributes"]["MessageDeduplicationId"] == "1"
    # Group a waits while a1 is in flight; group b does not.
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]] == ["b1"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])
    rest = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in rest] == ["a2", "a3"]
    cbd = sqs.create_queue(QueueName=qname("cbd") + ".fifo",
                           Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"})["QueueUrl"]
    one = sqs.send_message(QueueUrl=cbd, MessageBody="same", MessageGroupId="g")
    two = sqs.send_message(QueueUrl=cbd, MessageBody="same", MessageGroupId="g")
    assert one["MessageId"] == two["MessageId"]
    assert len(sqs.receive_message(QueueUrl=cbd, MaxNumberOfMessages=10)["Messages"]) == 1


def test_fifo_receives_group_messages_together_and_hold_a_group_while_any_is_in_flight(sqs):
    """SQS returns as many messages of one group as it can (groups in the
    order of their oldest message); a group with a message in flight gives
    nothing, even a message of it made visible again."""
    url = sqs.create_queue(QueueName=qname("groups") + ".fifo",
                           Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true",
                                       "VisibilityTimeout": "60"})["QueueUrl"]
    for group, body in [("A", "a1"), ("B", "b1"), ("A", "a2"), ("B", "b2"), ("A", "a3"), ("C", "c1")]:
        sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=group)

    def receive(n=10):
        return sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=n).get("Messages", [])

    first = receive(2)
    assert [m["Body"] for m in first] == ["a1", "a2"]
    assert [m["Body"] for m in receive()] == ["b1", "b2", "c1"]
    # a1 visible again, a2 still in flight: group A waits.
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=first[0]["ReceiptHandle"], VisibilityTimeout=0)
    assert receive() == []
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=first[1]["ReceiptHandle"], VisibilityTimeout=0)
    again = receive()
    assert [m["Body"] for m in again] == ["a1", "a2", "a3"]
    for m in again:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    assert receive() == []


def test_redrive_allow_policy(sqs):
    arn = lambda u: sqs.get_queue_attributes(QueueUrl=u, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = lambda target: {"RedrivePolicy": json.dumps({"deadLetterTargetArn": target, "maxReceiveCount": 3})}
    allowed = sqs.create_queue(QueueName=qname("allowed-src"))["QueueUrl"]
    other = sqs.create_queue(QueueName=qname("other-src"))["QueueUrl"]
    dlq = sqs.create_queue(QueueName=qname("picky-dlq"), Attributes={"RedriveAllowPolicy": json.dumps(
        {"redrivePermission": "byQueue", "sourceQueueArns": [arn(allowed)]})})["QueueUrl"]
    sqs.set_queue_attributes(QueueUrl=allowed, Attributes=redrive(arn(dlq)))
    with pytest.raises(ClientError) as e:
        sqs.set_queue_attributes(QueueUrl=other, Attributes=redrive(arn(dlq)))
    assert e.value.response["Error"]["Code"] == "InvalidParameterValue"
    assert "RedriveAllowPolicy" in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        sqs.create_queue(QueueName=qname("new-src"), Attributes=redrive(arn(dlq)))
    assert e.value.response["Error"]["Code"] == "InvalidParameterValue"
    # denyAll: nobody, not even a queue allowed before, may name it from now on.
    sqs.set_queue_attributes(QueueUrl=dlq, Attributes={"RedriveAllowPolicy": '{"redrivePermission":"denyAll"}'})
    with pytest.raises(ClientError) as e:
        sqs.set_queue_attributes(QueueUrl=allowed, Attributes=redrive(arn(dlq)))
    assert e.value.response["Error"]["Code"] == "InvalidParameterValue"
    # A policy a person wrote wrong is refused with the reason.
    for bad in ['{"redrivePermission":"byQueue"}', '{"redrivePermission":"sometimes"}',
                '{"redrivePermission":"allowAll","sourceQueueArns":["arn:aws:sqs:us-east-1:000000000000:x"]}', "not json"]:
        with pytest.raises(ClientError) as e:
            sqs.set_queue_attributes(QueueUrl=dlq, Attributes={"RedriveAllowPolicy": bad})
        assert e.value.response["Error"]["Code"] == "InvalidAttributeValue", bad
    # The target must exist and be of the same type.
    with pytest.raises(ClientError) as e:
        sqs.set_queue_attributes(QueueUrl=other, Attributes=redrive(arn(dlq) + "-missing"))
    assert "does not exist" in e.value.response["Error"]["Message"]
    fifo = sqs.create_queue(QueueName=qname("fifo-dlq") + ".fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    with pytest.raises(ClientError) as e:
        sqs.set_queue_attributes(QueueUrl=other, Attributes=redrive(arn(fifo)))
    assert "same type" in e.value.response["Error"]["Message"]


def test_fifo_deduplication_survives_kill_9():
    with tempfile.TemporaryDirectory(prefix="nimbus-sqs-dedup-") as d:
        n = Nimbus(d).start()
        sqs = n.client("sqs")
        url = sqs.create_queue(QueueName="orders.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
        first = sqs.send_message(QueueUrl=url, MessageBody="once", MessageGroupId="g", MessageDeduplicationId="order-1")
        n.stop(signal.SIGKILL)
        n2 = Nimbus(d).start()
        try:
            sqs2 = n2.client("sqs")
            again = sqs2.send_message(QueueUrl=url, MessageBody="once", MessageGroupId="g",
                                      MessageDeduplicationId="order-1")
            assert again["MessageId"] == first["MessageId"]
            assert again["SequenceNumber"] == first["SequenceNumber"]
            got = sqs2.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
            assert [m["Body"] for m in got] == ["once"]
        finally:
            n2.stop()


def query_call(nimbus, params, path="/"):
    """One request in SQS's query protocol (form post, SigV4 for 'sqs'), as older
    SDKs send it; returns (status, XML text)."""
    import urllib.parse
    import urllib.request
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    body = urllib.parse.urlencode({"Version": "2012-11-05", **params})
    req = AWSRequest(method="POST", url=nimbus.endpoint + path, data=body,
                     headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    SigV4Auth(nimbus.session().get_credentials(), "sqs", "us-east-1").add_auth(req)
    prepared = req.prepare()
    r = urllib.request.Request(prepared.url, data=body.encode(), method="POST", headers=dict(prepared.headers))
    try:
        with urllib.request.urlopen(r) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_query_protocol(nimbus, sqs):
    import urllib.error  # noqa: F401 - used by query_call
    import xml.etree.ElementTree as ET
    ns = {"q": "http://queue.amazonaws.com/doc/2012-11-05/"}
    name = qname("query")
    status, text = query_call(nimbus, {"Action": "CreateQueue", "QueueName": name,
                                       "Attribute.1.Name": "VisibilityTimeout", "Attribute.1.Value": "7"})
    assert status == 200, text
    url = ET.fromstring(text).find(".//q:QueueUrl", ns).text
    assert url.endswith("/" + name)
    status, text = query_call(nimbus, {"Action": "SendMessage", "QueueUrl": url, "MessageBody": "via query & form",
                                       "MessageAttribute.1.Name": "k", "MessageAttribute.1.Value.DataType": "String",
                                       "MessageAttribute.1.Value.StringValue": "v"})
    assert status == 200, text
    root = ET.fromstring(text)
    assert root.find(".//q:MD5OfMessageBody", ns).text == hashlib.md5(b"via query & form").hexdigest()
    assert root.find(".//q:MD5OfMessageAttributes", ns).text == md5_of_attributes({"k": {"DataType": "String", "StringValue": "v"}})
    # The JSON protocol sees the same queue and message.
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])["Attributes"]["VisibilityTimeout"] == "7"
    # Posted to the queue's URL, the queue comes from the path.
    path = "/" + url.split("/", 3)[3]
    status, text = query_call(nimbus, {"Action": "ReceiveMessage", "MessageAttributeName.1": "All",
                                       "AttributeName.1": "All"}, path=path)
    assert status == 200, text
    msg = ET.fromstring(text).find(".//q:Message", ns)
    assert msg.find("q:Body", ns).text == "via query & form"
    assert msg.find("q:MessageAttribute/q:Value/q:StringValue", ns).text == "v"
    attrs = {a.find("q:Name", ns).text: a.find("q:Value", ns).text for a in msg.findall("q:Attribute", ns)}
    assert attrs["ApproximateReceiveCount"] == "1"
    status, text = query_call(nimbus, {"Action": "DeleteMessage", "QueueUrl": url,
                                       "ReceiptHandle": msg.find("q:ReceiptHandle", ns).text})
    assert status == 200, text
    # Nothing to receive: an empty result element, which clients index.
    status, text = query_call(nimbus, {"Action": "ReceiveMessage", "QueueUrl": url})
    assert status == 200 and ET.fromstring(text).find("q:ReceiveMessageResult", ns) is not None, text
    status, text = query_call(nimbus, {"Action": "GetQueueUrl", "QueueName": name + "-missing"})
    assert status == 400
    err = ET.fromstring(text)
    assert err.find(".//q:Code", ns).text == "AWS.SimpleQueueService.NonExistentQueue"
    assert err.find(".//q:Type", ns).text == "Sender"
    # Each protocol in its own words.
    assert err.find(".//q:Message", ns).text == "The specified queue does not exist for this wsdl version."
    with pytest.raises(ClientError) as e:
        sqs.get_queue_url(QueueName=name + "-missing")
    assert e.value.response["Error"]["Message"] == "The specified queue does not exist."


def test_purges_dead_letter_sources_and_message_size(sqs):
    dlq = sqs.create_queue(QueueName=qname("dlq"))["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sources = [sqs.create_queue(QueueName=qname(f"src{i}"), Attributes={"RedrivePolicy": json.dumps(
        {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3})})["QueueUrl"] for i in range(2)]
    listed = sqs.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"]
    assert sorted(listed) == sorted(sources)
    page = sqs.list_dead_letter_source_queues(QueueUrl=dlq, MaxResults=1)
    assert len(page["queueUrls"]) == 1 and "NextToken" in page
    # One purge a minute.
    sqs.purge_queue(QueueUrl=dlq)
    with pytest.raises(ClientError) as e:
        sqs.purge_queue(QueueUrl=dlq)
    assert e.value.response["Error"]["Code"] == "AWS.SimpleQueueService.PurgeQueueInProgress"
    # Messages up to 1 MiB, SQS's limit and a new queue's default since 2025.
    attrs = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["MaximumMessageSize"])["Attributes"]
    assert attrs["MaximumMessageSize"] == "1048576"
    sqs.send_message(QueueUrl=dlq, MessageBody="x" * (1024 * 1024))



def test_add_and_remove_permission(sqs):
    url = sqs.create_queue(QueueName=qname("shared"))["QueueUrl"]
    sqs.add_permission(QueueUrl=url, Label="partner", AWSAccountIds=["111122223333"],
                       Actions=["SendMessage", "GetQueueAttributes"])
    policy = json.loads(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]["Policy"])
    [st] = policy["Statement"]
    assert st["Sid"] == "partner" and st["Principal"] == {"AWS": "arn:aws:iam::111122223333:root"}
    assert st["Action"] == ["SQS:SendMessage", "SQS:GetQueueAttributes"] and st["Resource"].endswith(":" + url.rsplit("/", 1)[1])
    with pytest.raises(ClientError) as e:
        sqs.add_permission(QueueUrl=url, Label="partner", AWSAccountIds=["111122223333"], Actions=["*"])
    assert e.value.response["Error"]["Code"] == "InvalidParameterValue"
    sqs.remove_permission(QueueUrl=url, Label="partner")
    assert "Policy" not in sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"]).get("Attributes", {})
    with pytest.raises(ClientError) as e:
        sqs.remove_permission(QueueUrl=url, Label="partner")
    assert e.value.response["Error"]["Code"] == "InvalidParameterValue"


def test_a_deleted_queue_name_waits_and_query_requests_come_as_get(nimbus, sqs):
    """A name is not reused within 60 s of its queue's deletion; the query
    protocol also arrives as signed GET requests on the queue's URL."""
    import urllib.request

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    name = unique("gone")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    sqs.delete_queue(QueueUrl=url)
    with pytest.raises(ClientError) as e:
        sqs.create_queue(QueueName=name)
    assert e.value.response["Error"]["Code"].endswith("QueueDeletedRecently")
    assert "wait 60 seconds" in e.value.response["Error"]["Message"]

    url = sqs.create_queue(QueueName=unique("getq"))["QueueUrl"]
    creds = nimbus.session().get_credentials()

    def get(query):
        req = AWSRequest(method="GET", url=f"{url}?{query}&Version=2012-11-05")
        SigV4Auth(creds, "sqs", "us-east-1").add_auth(req)
        with urllib.request.urlopen(urllib.request.Request(req.url, headers=dict(req.headers))) as r:
            return r.read().decode()

    assert "<MD5OfMessageBody>5d41402abc4b2a76b9719d911017c592</MD5OfMessageBody>" in get(
        "Action=SendMessage&MessageBody=hello")
    got = get("Action=ReceiveMessage&WaitTimeSeconds=1")
    assert "<Body>hello</Body>" in got
