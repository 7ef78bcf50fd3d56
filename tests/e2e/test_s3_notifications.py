"""S3 event notifications invoking functions: configuration, S3's event record
shape, filters, event types, no event lost across a kill -9, and the
permission S3 needs (the function's policy, or the queue's, must let
s3.amazonaws.com in for the bucket)."""
import json
import signal
import tempfile
import time

import pytest
from botocore.exceptions import ClientError

from conftest import Nimbus, create, unique

# Records every event it gets under seen/<eventName>/<key>, with boto3 and the
# endpoint and credentials Nimbus gives every function.
RECORDER = '''
import json, boto3
s3 = boto3.client("s3")
def handler(event, context):
    for r in event["Records"]:
        b = r["s3"]["bucket"]["name"]
        k = r["s3"]["object"]["key"]
        s3.put_object(Bucket=b, Key="seen/" + r["eventName"] + "/" + k, Body=json.dumps(event))
    return "ok"
'''


def bucket_name():
    return unique("ev").lower()


def wait_for(s3, bucket, key, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        except ClientError as e:
            if e.response["Error"]["Code"] != "NoSuchKey":
                raise
        time.sleep(0.2)
    listed = [c["Key"] for c in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    raise AssertionError(f"no {key} within {timeout} s; bucket holds {listed}")


def seen(s3, bucket):
    return sorted(c["Key"] for c in s3.list_objects_v2(Bucket=bucket, Prefix="seen/").get("Contents", []))


@pytest.fixture(scope="module")
def recorder(nimbus):
    lam = nimbus.client()
    name = unique("recorder")
    arn = create(lam, name, {"app.py": RECORDER}, handler="app.handler", Timeout=30)["FunctionArn"]
    return arn


ACCOUNT = "000000000000"


def allow_s3(nimbus, function_arn, bucket):
    """What AWS's documentation has one do before configuring the bucket."""
    nimbus.client().add_permission(
        FunctionName=function_arn, StatementId=f"s3-{bucket}", Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com", SourceArn=f"arn:aws:s3:::{bucket}", SourceAccount=ACCOUNT)


def queue_policy(queue_arn, bucket):
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "sqs:SendMessage",
        "Resource": queue_arn, "Condition": {"ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{bucket}"},
                                             "StringEquals": {"aws:SourceAccount": ACCOUNT}}}]})


def configure(nimbus, bucket, arn, events, prefix="uploads/", suffix=""):
    allow_s3(nimbus, arn, bucket)
    s3 = nimbus.client("s3")
    rules = [{"Name": "prefix", "Value": prefix}]
    if suffix:
        rules.append({"Name": "suffix", "Value": suffix})
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
        "LambdaFunctionConfigurations": [{
            "Id": "rec", "LambdaFunctionArn": arn, "Events": events,
            "Filter": {"Key": {"FilterRules": rules}},
        }]})


def test_configuration_round_trips_and_bad_targets_are_refused(nimbus, recorder):
    s3 = nimbus.client("s3")
    b = bucket_name()
    s3.create_bucket(Bucket=b)
    assert "LambdaFunctionConfigurations" not in s3.get_bucket_notification_configuration(Bucket=b)
    configure(nimbus, b, recorder, ["s3:ObjectCreated:*"], suffix=".jpg")
    got = s3.get_bucket_notification_configuration(Bucket=b)["LambdaFunctionConfigurations"]
    assert got == [{"Id": "rec", "LambdaFunctionArn": recorder, "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "uploads/"},
                                                       {"Name": "suffix", "Value": ".jpg"}]}}}]
    for bad in [
        {"LambdaFunctionConfigurations": [{"LambdaFunctionArn": recorder + "-missing", "Events": ["s3:ObjectCreated:*"]}]},
        {"LambdaFunctionConfigurations": [{"LambdaFunctionArn": recorder, "Events": ["s3:ObjectMoved:*"]}]},
        {"QueueConfigurations": [{"QueueArn": "arn:aws:sqs:us-east-1:000000000000:q", "Events": ["s3:ObjectCreated:*"]}]},
    ]:
        with pytest.raises(ClientError) as e:
            s3.put_bucket_notification_configuration(Bucket=b, NotificationConfiguration=bad)
        assert e.value.response["Error"]["Code"] == "InvalidArgument", bad
    # An empty configuration turns notifications off.
    s3.put_bucket_notification_configuration(Bucket=b, NotificationConfiguration={})
    assert "LambdaFunctionConfigurations" not in s3.get_bucket_notification_configuration(Bucket=b)


def test_created_and_removed_events_reach_the_function(nimbus, recorder):
    s3 = nimbus.client("s3")
    b = bucket_name()
    s3.create_bucket(Bucket=b)
    configure(nimbus, b, recorder, ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"])
    etag = s3.put_object(Bucket=b, Key="uploads/a b.txt", Body=b"12345")["ETag"].strip('"')
    ev = wait_for(s3, b, "seen/ObjectCreated:Put/uploads/a+b.txt")
    rec = ev["Records"][0]
    assert rec["eventSource"] == "aws:s3" and rec["eventVersion"] == "2.1"
    assert rec["awsRegion"] == "us-east-1" and rec["eventName"] == "ObjectCreated:Put"
    assert rec["s3"]["bucket"]["name"] == b and rec["s3"]["bucket"]["arn"] == f"arn:aws:s3:::{b}"
    assert rec["s3"]["configurationId"] == "rec"
    obj = rec["s3"]["object"]
    assert obj["key"] == "uploads/a+b.txt" and obj["size"] == 5 and obj["eTag"] == etag
    assert len(obj["sequencer"]) == 16
    assert rec["eventTime"].endswith("Z")

    s3.copy_object(Bucket=b, Key="uploads/copy", CopySource={"Bucket": b, "Key": "uploads/a b.txt"})
    wait_for(s3, b, "seen/ObjectCreated:Copy/uploads/copy")
    mp = s3.create_multipart_upload(Bucket=b, Key="uploads/mp")
    part = s3.upload_part(Bucket=b, Key="uploads/mp", UploadId=mp["UploadId"], PartNumber=1, Body=b"x")
    s3.complete_multipart_upload(Bucket=b, Key="uploads/mp", UploadId=mp["UploadId"],
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    wait_for(s3, b, "seen/ObjectCreated:CompleteMultipartUpload/uploads/mp")
    s3.delete_object(Bucket=b, Key="uploads/copy")
    removed = wait_for(s3, b, "seen/ObjectRemoved:Delete/uploads/copy")
    assert "size" not in removed["Records"][0]["s3"]["object"]
    # Outside the prefix: no event (the recorder's own writes under seen/ included).
    s3.put_object(Bucket=b, Key="other/x", Body=b"x")
    time.sleep(1.5)
    assert seen(s3, b) == [
        "seen/ObjectCreated:CompleteMultipartUpload/uploads/mp",
        "seen/ObjectCreated:Copy/uploads/copy",
        "seen/ObjectCreated:Put/uploads/a+b.txt",
        "seen/ObjectRemoved:Delete/uploads/copy",
    ]


def test_an_event_survives_kill_9_between_write_and_delivery():
    """The event is committed with the object: with the function throttled (reserved
    concurrency 0) the event waits in the queue; the server is killed; after the
    restart, unthrottled, it is delivered."""
    with tempfile.TemporaryDirectory(prefix="nimbus-s3-events-") as d:
        n = Nimbus(d).start()
        lam, s3 = n.client(), n.client("s3")
        name = unique("recorder")
        arn = create(lam, name, {"app.py": RECORDER}, handler="app.handler", Timeout=30)["FunctionArn"]
        b = bucket_name()
        s3.create_bucket(Bucket=b)
        configure(n, b, arn, ["s3:ObjectCreated:Put"])
        lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
        s3.put_object(Bucket=b, Key="uploads/durable", Body=b"d")
        n.stop(signal.SIGKILL)
        n2 = Nimbus(d).start()
        try:
            lam2, s32 = n2.client(), n2.client("s3")
            assert seen(s32, b) == []
            lam2.delete_function_concurrency(FunctionName=name)
            ev = wait_for(s32, b, "seen/ObjectCreated:Put/uploads/durable", timeout=90)
            assert ev["Records"][0]["s3"]["object"]["key"] == "uploads/durable"
        finally:
            n2.stop()


# Writes under the very prefix that triggers it: the loop hazard.
LOOPER = '''
import boto3, urllib.parse
s3 = boto3.client("s3")
def handler(event, context):
    r = event["Records"][0]
    key = urllib.parse.unquote_plus(r["s3"]["object"]["key"])
    n = int(key.rsplit("/", 1)[1])
    s3.put_object(Bucket=r["s3"]["bucket"]["name"], Key="loop/%d" % (n + 1), Body=b"again")
'''


def test_a_function_triggering_itself_is_stopped(nimbus):
    lam, s3 = nimbus.client(), nimbus.client("s3")
    name = unique("looper")
    arn = create(lam, name, {"app.py": LOOPER}, handler="app.handler", Timeout=30)["FunctionArn"]
    b = bucket_name()
    s3.create_bucket(Bucket=b)
    configure(nimbus, b, arn, ["s3:ObjectCreated:*"], prefix="loop/")
    s3.put_object(Bucket=b, Key="loop/0", Body=b"start")
    deadline = time.time() + 90
    stopped = ""
    while time.time() < deadline and "recursive invocation loop" not in stopped:
        time.sleep(0.5)
        stopped = nimbus.logs(name).stdout
    assert "Nimbus stopped a recursive invocation loop" in stopped, stopped[-2000:]
    time.sleep(2)
    keys = [c["Key"] for c in s3.list_objects_v2(Bucket=b, Prefix="loop/")["Contents"]]
    # The function ran 16 times (loop/1 .. loop/16), and the 17th event was stopped.
    assert sorted(keys, key=lambda k: int(k.split("/")[1])) == [f"loop/{i}" for i in range(17)]


BOUNDED_LOOPER = LOOPER.replace("    s3.put_object(", "    if n >= 20:\n        return\n    s3.put_object(")


def test_a_function_allowed_to_recurse_is_not_stopped(nimbus):
    """`PutFunctionRecursionConfig` `Allow` lets a loop go past where Nimbus
    would stop it (this one ends itself at 20)."""
    lam, s3 = nimbus.client(), nimbus.client("s3")
    name = unique("allowed")
    arn = create(lam, name, {"app.py": BOUNDED_LOOPER}, handler="app.handler", Timeout=30)["FunctionArn"]
    lam.put_function_recursion_config(FunctionName=name, RecursiveLoop="Allow")
    b = bucket_name()
    s3.create_bucket(Bucket=b)
    configure(nimbus, b, arn, ["s3:ObjectCreated:*"], prefix="loop/")
    s3.put_object(Bucket=b, Key="loop/0", Body=b"start")
    deadline = time.time() + 120
    keys = []
    while time.time() < deadline and "loop/20" not in keys:
        time.sleep(0.5)
        keys = [c["Key"] for c in s3.list_objects_v2(Bucket=b, Prefix="loop/").get("Contents", [])]
    assert sorted(keys, key=lambda k: int(k.split("/")[1])) == [f"loop/{i}" for i in range(21)]
    assert "recursive invocation loop" not in nimbus.logs(name).stdout


def test_events_land_in_a_queue(nimbus):
    s3, sqs = nimbus.client("s3"), nimbus.client("sqs")
    url = sqs.create_queue(QueueName=unique("s3events"))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    b = bucket_name()
    s3.create_bucket(Bucket=b)
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": queue_policy(arn, b)})
    s3.put_bucket_notification_configuration(Bucket=b, NotificationConfiguration={"QueueConfigurations": [{
        "Id": "to-queue", "QueueArn": arn, "Events": ["s3:ObjectCreated:*"],
        "Filter": {"Key": {"FilterRules": [{"Name": "suffix", "Value": ".csv"}]}}}]})
    got = s3.get_bucket_notification_configuration(Bucket=b)["QueueConfigurations"]
    assert got[0]["QueueArn"] == arn and got[0]["Id"] == "to-queue"
    s3.put_object(Bucket=b, Key="data/report 1.csv", Body=b"a,b")
    s3.put_object(Bucket=b, Key="data/skip.txt", Body=b"x")
    msgs = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5, MaxNumberOfMessages=10)["Messages"]
    assert len(msgs) == 1
    rec = json.loads(msgs[0]["Body"])["Records"][0]
    assert rec["eventName"] == "ObjectCreated:Put" and rec["s3"]["object"]["key"] == "data/report+1.csv"
    assert rec["s3"]["configurationId"] == "to-queue"
    with pytest.raises(ClientError) as e:
        s3.put_bucket_notification_configuration(Bucket=b, NotificationConfiguration={"QueueConfigurations": [{
            "QueueArn": arn + "-missing", "Events": ["s3:ObjectCreated:*"]}]})
    assert e.value.response["Error"]["Code"] == "InvalidArgument"


def refusal(e):
    err = e.value.response["Error"]
    return err["Code"], err["Message"], err.get("ArgumentName1"), err.get("ArgumentValue1")


def test_s3_needs_the_targets_permission_to_notify_it(nimbus):
    lam, s3, sqs = nimbus.client(), nimbus.client("s3"), nimbus.client("sqs")
    name = unique("recorder")
    arn = create(lam, name, {"app.py": RECORDER}, handler="app.handler", Timeout=30)["FunctionArn"]
    b = bucket_name()
    s3.create_bucket(Bucket=b)
    config = {"LambdaFunctionConfigurations": [{"Id": "rec", "LambdaFunctionArn": arn,
                                                "Events": ["s3:ObjectCreated:*"],
                                                "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "up/"}]}}}]}
    # Without a statement for s3.amazonaws.com, S3 cannot validate the destination.
    with pytest.raises(ClientError) as e:
        s3.put_bucket_notification_configuration(Bucket=b, NotificationConfiguration=config)
    assert refusal(e) == ("InvalidArgument", "Unable to validate the following destination configurations",
                          arn, f"Not authorized to invoke function [{arn}]")
    # A statement for another bucket does not do either.
    allow_s3(nimbus, arn, b + "-other")
    with pytest.raises(ClientError) as e:
        s3.put_bucket_notification_configuration(Bucket=b, NotificationConfiguration=config)
    assert refusal(e)[0] == "InvalidArgument"
    allow_s3(nimbus, arn, b)
    s3.put_bucket_notification_configuration(Bucket=b, NotificationConfiguration=config)
    s3.put_object(Bucket=b, Key="up/1", Body=b"1")
    wait_for(s3, b, "seen/ObjectCreated:Put/up/1")
    # The permission taken away: S3 no longer delivers (and says so in the log).
    lam.remove_permission(FunctionName=name, StatementId=f"s3-{b}")
    s3.put_object(Bucket=b, Key="up/2", Body=b"2")
    time.sleep(2)
    assert seen(s3, b) == ["seen/ObjectCreated:Put/up/1"]

    # A queue's policy must let S3 send to it.
    url = sqs.create_queue(QueueName=unique("s3events"))["QueueUrl"]
    qarn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    qconfig = {"QueueConfigurations": [{"QueueArn": qarn, "Events": ["s3:ObjectCreated:*"]}]}
    with pytest.raises(ClientError) as e:
        s3.put_bucket_notification_configuration(Bucket=b, NotificationConfiguration=qconfig)
    assert refusal(e) == ("InvalidArgument", "Unable to validate the following destination configurations", qarn,
                          "Permissions on the destination queue do not allow S3 to publish notifications from this bucket")
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": queue_policy(qarn, b)})
    s3.put_bucket_notification_configuration(Bucket=b, NotificationConfiguration=qconfig)
