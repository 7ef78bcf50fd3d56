"""DynamoDB streams as event sources: Lambda's record shape, order, checkpoints,
retries, bisection, partial batch failures, OnFailure destinations and filters."""
import json
import time

import pytest
from botocore.exceptions import ClientError

from conftest import create, unique

RECORDER = """
import json, os
import boto3

ddb = boto3.client("dynamodb")

def handler(event, context):
    failures = []
    for r in event["Records"]:
        image = r["dynamodb"].get("NewImage") or r["dynamodb"].get("OldImage") or {}
        if image.get("bad", {}).get("BOOL"):
            failures.append({"itemIdentifier": r["dynamodb"]["SequenceNumber"]})
            continue
        ddb.put_item(TableName=os.environ["AUDIT"], Item={
            "pk": {"S": "audit"}, "sk": {"S": r["dynamodb"]["SequenceNumber"]},
            "record": {"S": json.dumps(r)}, "batch": {"N": str(len(event["Records"]))},
        })
    if failures and os.environ.get("MODE") == "report":
        return {"batchItemFailures": failures}
    if failures:
        raise RuntimeError("bad record in batch of %d" % len(event["Records"]))
    return {}
"""


def table(ddb, name, stream="NEW_AND_OLD_IMAGES"):
    ddb.create_table(TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST",
                     **({"StreamSpecification": {"StreamEnabled": True, "StreamViewType": stream}} if stream else {}))
    return ddb.describe_table(TableName=name)["Table"].get("LatestStreamArn")


def audit(ddb, name, want, timeout=60):
    deadline = time.time() + timeout
    items = []
    while time.time() < deadline:
        items = ddb.query(TableName=name, KeyConditionExpression="pk = :a",
                          ExpressionAttributeValues={":a": {"S": "audit"}})["Items"]
        if len(items) >= want:
            break
        time.sleep(0.2)
    return [json.loads(i["record"]["S"]) for i in items], items


def setup(nimbus, mode="raise", **mapping):
    ddb, lam = nimbus.client("dynamodb"), nimbus.client()
    src, dst, fn = unique("src"), unique("audit"), unique("recorder")
    arn = table(ddb, src)
    table(ddb, dst, stream=None)
    create(lam, fn, {"app.py": RECORDER}, handler="app.handler", Timeout=30,
           Environment={"Variables": {"AUDIT": dst, "MODE": mode}})
    m = lam.create_event_source_mapping(FunctionName=fn, EventSourceArn=arn, StartingPosition="TRIM_HORIZON", **mapping)
    return ddb, lam, src, dst, arn, m


@pytest.mark.xdist_group("heavy")
def test_changes_reach_the_function_in_order_with_lambdas_record_shape(nimbus):
    ddb, lam, src, dst, arn, m = setup(nimbus, BatchSize=5)
    assert m["StartingPosition"] == "TRIM_HORIZON" and m["BatchSize"] == 5 and m["State"] == "Creating"
    for i in range(8):
        ddb.put_item(TableName=src, Item={"pk": {"S": "k"}, "sk": {"S": str(i)}, "v": {"N": str(i)}})
    ddb.update_item(TableName=src, Key={"pk": {"S": "k"}, "sk": {"S": "0"}}, UpdateExpression="SET v = :v",
                    ExpressionAttributeValues={":v": {"N": "100"}})
    ddb.delete_item(TableName=src, Key={"pk": {"S": "k"}, "sk": {"S": "1"}})
    records, items = audit(ddb, dst, 10)
    assert [r["eventName"] for r in records] == ["INSERT"] * 8 + ["MODIFY", "REMOVE"]
    r = records[8]
    assert r["eventSource"] == "aws:dynamodb" and r["eventSourceARN"] == arn and r["eventVersion"] == "1.1"
    assert r["dynamodb"]["OldImage"]["v"] == {"N": "0"} and r["dynamodb"]["NewImage"]["v"] == {"N": "100"}
    assert r["dynamodb"]["StreamViewType"] == "NEW_AND_OLD_IMAGES" and r["dynamodb"]["Keys"]["sk"] == {"S": "0"}
    assert max(int(i["batch"]["N"]) for i in items) <= 5
    got = lam.get_event_source_mapping(UUID=m["UUID"])
    assert got["LastProcessingResult"] == "OK"
    # Lambda's IteratorAge for the function: the age of each batch's last record.
    cw = nimbus.client("cloudwatch")
    name = got["FunctionArn"].rsplit(":", 1)[1]
    now = time.time()
    points = cw.get_metric_statistics(Namespace="AWS/Lambda", MetricName="IteratorAge",
                                      Dimensions=[{"Name": "FunctionName", "Value": name}],
                                      StartTime=now - 600, EndTime=now + 60, Period=660,
                                      Statistics=["SampleCount", "Maximum"])["Datapoints"]
    assert points and points[0]["SampleCount"] >= 2 and points[0]["Maximum"] >= 0


@pytest.mark.xdist_group("heavy")
def test_partial_batch_failures_retry_from_the_failed_record_then_go_to_the_destination(nimbus):
    sqs = nimbus.client("sqs")
    q = sqs.create_queue(QueueName=unique("stream-failures").replace(".", "-"))["QueueUrl"]
    q_arn = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    ddb, lam, src, dst, arn, m = setup(
        nimbus, mode="report", BatchSize=10, MaximumBatchingWindowInSeconds=1, MaximumRetryAttempts=1,
        FunctionResponseTypes=["ReportBatchItemFailures"], DestinationConfig={"OnFailure": {"Destination": q_arn}})
    for i in range(6):
        item = {"pk": {"S": "k"}, "sk": {"S": str(i)}}
        if i == 3:
            item["bad"] = {"BOOL": True}
        ddb.put_item(TableName=src, Item=item)
    body = json.loads(sqs.receive_message(QueueUrl=q, WaitTimeSeconds=20)["Messages"][0]["Body"])
    info = body["DDBStreamBatchInfo"]
    assert body["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert info["streamArn"] == arn and info["shardId"].startswith("shardId-")
    # Records before the failure were handled once; the retry began at the failed one.
    records, _ = audit(ddb, dst, 5)
    assert sorted(r["dynamodb"]["Keys"]["sk"]["S"] for r in records) == ["0", "1", "2", "4", "5"]
    assert info["startSequenceNumber"] <= info["endSequenceNumber"]


@pytest.mark.xdist_group("heavy")
def test_bisection_isolates_a_poison_record(nimbus):
    sqs = nimbus.client("sqs")
    q = sqs.create_queue(QueueName=unique("bisect").replace(".", "-"))["QueueUrl"]
    q_arn = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    ddb, lam, src, dst, arn, m = setup(
        nimbus, BatchSize=8, MaximumBatchingWindowInSeconds=1, MaximumRetryAttempts=0,
        BisectBatchOnFunctionError=True, DestinationConfig={"OnFailure": {"Destination": q_arn}})
    for i in range(8):
        item = {"pk": {"S": "k"}, "sk": {"S": str(i)}}
        if i == 5:
            item["bad"] = {"BOOL": True}
        ddb.put_item(TableName=src, Item=item)
    body = json.loads(sqs.receive_message(QueueUrl=q, WaitTimeSeconds=20)["Messages"][0]["Body"])
    assert body["DDBStreamBatchInfo"]["batchSize"] == 1
    records, _ = audit(ddb, dst, 7)
    assert sorted(r["dynamodb"]["Keys"]["sk"]["S"] for r in records) == ["0", "1", "2", "3", "4", "6", "7"]


@pytest.mark.xdist_group("heavy")
def test_filters_and_latest(nimbus):
    ddb, lam = nimbus.client("dynamodb"), nimbus.client()
    src, dst, fn = unique("src"), unique("audit"), unique("recorder")
    arn = table(ddb, src)
    table(ddb, dst, stream=None)
    create(lam, fn, {"app.py": RECORDER}, handler="app.handler", Timeout=30, Environment={"Variables": {"AUDIT": dst}})
    ddb.put_item(TableName=src, Item={"pk": {"S": "before"}, "sk": {"S": "0"}, "kind": {"S": "order"}})
    lam.create_event_source_mapping(
        FunctionName=fn, EventSourceArn=arn, StartingPosition="LATEST",
        FilterCriteria={"Filters": [{"Pattern": json.dumps({"eventName": ["INSERT"], "dynamodb": {"NewImage": {"kind": {"S": ["order"]}}}})}]})
    ddb.put_item(TableName=src, Item={"pk": {"S": "u"}, "sk": {"S": "1"}, "kind": {"S": "user"}})
    ddb.put_item(TableName=src, Item={"pk": {"S": "o"}, "sk": {"S": "1"}, "kind": {"S": "order"}})
    ddb.put_item(TableName=src, Item={"pk": {"S": "o"}, "sk": {"S": "1"}, "kind": {"S": "order"}, "x": {"N": "1"}})
    records, _ = audit(ddb, dst, 1)
    time.sleep(1)
    records, _ = audit(ddb, dst, 1)
    assert [(r["eventName"], r["dynamodb"]["Keys"]["pk"]["S"]) for r in records] == [("INSERT", "o")]


def test_mapping_api_checks_stream_settings(nimbus):
    ddb, lam = nimbus.client("dynamodb"), nimbus.client()
    src, fn = unique("src"), unique("fn")
    arn = table(ddb, src)
    create(lam, fn, {"app.py": "def handler(e, c):\n    return None\n"}, handler="app.handler")
    with pytest.raises(ClientError) as e:
        lam.create_event_source_mapping(FunctionName=fn, EventSourceArn=arn)
    assert e.value.response["Error"]["Code"] == "InvalidParameterValueException"
    with pytest.raises(ClientError) as e:
        lam.create_event_source_mapping(FunctionName=fn, EventSourceArn=arn + "-nope", StartingPosition="LATEST")
    assert e.value.response["Error"]["Code"] == "InvalidParameterValueException"
    with pytest.raises(ClientError) as e:
        lam.create_event_source_mapping(FunctionName=fn, EventSourceArn=arn, StartingPosition="LATEST",
                                        FilterCriteria={"Filters": [{"Pattern": "not json"}]})
    assert e.value.response["Error"]["Code"] == "InvalidParameterValueException"
    m = lam.create_event_source_mapping(FunctionName=fn, EventSourceArn=arn, StartingPosition="LATEST",
                                        MaximumRetryAttempts=2, MaximumRecordAgeInSeconds=3600, BisectBatchOnFunctionError=True)
    assert (m["MaximumRetryAttempts"], m["MaximumRecordAgeInSeconds"], m["BisectBatchOnFunctionError"]) == (2, 3600, True)
    assert m["BatchSize"] == 100 and m["EventSourceArn"] == arn
    u = lam.update_event_source_mapping(UUID=m["UUID"], MaximumRetryAttempts=5, BatchSize=50)
    assert u["MaximumRetryAttempts"] == 5 and u["BatchSize"] == 50
    assert [x["UUID"] for x in lam.list_event_source_mappings(EventSourceArn=arn)["EventSourceMappings"]] == [m["UUID"]]
    lam.delete_event_source_mapping(UUID=m["UUID"])


@pytest.mark.xdist_group("heavy")
def test_a_mapping_resumes_from_its_checkpoint_after_kill_9():
    import signal
    import tempfile
    from conftest import Nimbus
    with tempfile.TemporaryDirectory(prefix="nimbus-ddb-esm-kill-") as d:
        n = Nimbus(d).start()
        ddb, lam = n.client("dynamodb"), n.client()
        arn = table(ddb, "src")
        table(ddb, "audit", stream=None)
        create(lam, "recorder", {"app.py": RECORDER}, handler="app.handler", Timeout=30,
               Environment={"Variables": {"AUDIT": "audit"}})
        lam.create_event_source_mapping(FunctionName="recorder", EventSourceArn=arn, StartingPosition="TRIM_HORIZON",
                                        BatchSize=2)
        for i in range(20):
            ddb.put_item(TableName="src", Item={"pk": {"S": "k"}, "sk": {"S": f"{i:02d}"}})
        audit(ddb, "audit", 4)
        n.stop(signal.SIGKILL)
        n2 = Nimbus(d).start()
        try:
            ddb2 = n2.client("dynamodb")
            for i in range(20, 25):
                ddb2.put_item(TableName="src", Item={"pk": {"S": "k"}, "sk": {"S": f"{i:02d}"}})
            records, _ = audit(ddb2, "audit", 25)
            assert sorted({r["dynamodb"]["Keys"]["sk"]["S"] for r in records}) == [f"{i:02d}" for i in range(25)]
            seqs = [int(r["dynamodb"]["SequenceNumber"]) for r in records]
            assert len(seqs) == len(set(seqs)) == 25
        finally:
            n2.stop()
