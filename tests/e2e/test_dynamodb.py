"""The DynamoDB and DynamoDB Streams APIs, driven by boto3 (client and resource) and the AWS CLI."""
import decimal
import json
import signal
import tempfile
import time

import pytest
from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from conftest import Nimbus, unique


@pytest.fixture(scope="module")
def ddb(nimbus):
    return nimbus.client("dynamodb")


@pytest.fixture(scope="module")
def resource(nimbus):
    return nimbus.session().resource("dynamodb", endpoint_url=nimbus.endpoint)


def tname(prefix="t"):
    return unique(prefix)


def make_table(ddb, name=None, range_key=True, **kw):
    name = name or tname()
    attrs = [{"AttributeName": "pk", "AttributeType": "S"}]
    keys = [{"AttributeName": "pk", "KeyType": "HASH"}]
    if range_key:
        attrs.append({"AttributeName": "sk", "AttributeType": "S"})
        keys.append({"AttributeName": "sk", "KeyType": "RANGE"})
    attrs += kw.pop("extra_attrs", [])
    ddb.create_table(TableName=name, KeySchema=keys, AttributeDefinitions=attrs,
                     BillingMode="PAY_PER_REQUEST", **kw)
    return name


def error(call, *args, **kw):
    with pytest.raises(ClientError) as e:
        call(*args, **kw)
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"], e.value.response


def test_table_lifecycle(ddb):
    name = tname("life")
    desc = ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}, {"AttributeName": "n", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}, {"AttributeName": "n", "AttributeType": "N"}],
        ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
        Tags=[{"Key": "team", "Value": "core"}],
    )["TableDescription"]
    assert desc["TableName"] == name and desc["TableArn"].endswith(":table/" + name)
    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 5})
    table = ddb.describe_table(TableName=name)["Table"]
    assert table["TableStatus"] == "ACTIVE" and table["ItemCount"] == 0
    assert table["KeySchema"][1] == {"AttributeName": "n", "KeyType": "RANGE"}
    assert table["ProvisionedThroughput"]["ReadCapacityUnits"] == 5
    assert name in ddb.list_tables()["TableNames"]
    assert error(ddb.create_table, TableName=name, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                 AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                 BillingMode="PAY_PER_REQUEST")[0] == "ResourceInUseException"
    ddb.update_table(TableName=name, BillingMode="PAY_PER_REQUEST")
    assert ddb.describe_table(TableName=name)["Table"]["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    arn = table["TableArn"]
    assert ddb.list_tags_of_resource(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "core"}]
    ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": "env", "Value": "dev"}])
    ddb.untag_resource(ResourceArn=arn, TagKeys=["team"])
    assert ddb.list_tags_of_resource(ResourceArn=arn)["Tags"] == [{"Key": "env", "Value": "dev"}]
    assert ddb.delete_table(TableName=name)["TableDescription"]["TableStatus"] == "DELETING"
    code, msg, _ = error(ddb.describe_table, TableName=name)
    assert code == "ResourceNotFoundException" and name in msg
    assert error(ddb.get_item, TableName=name, Key={"id": {"S": "x"}, "n": {"N": "1"}})[0] == "ResourceNotFoundException"
    # Bad definitions are refused with the reason.
    code, msg, _ = error(ddb.create_table, TableName=tname("bad"), KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "other", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    assert code == "ValidationException" and "AttributeDefinitions" in msg
    assert error(ddb.create_table, TableName="x", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                 AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")[0] == "ValidationException"


def test_every_type_round_trips(ddb):
    name = make_table(ddb)
    item = {
        "pk": {"S": "types"}, "sk": {"S": "all"},
        "s": {"S": "héllo"}, "empty": {"S": ""},
        "n": {"N": "12345678901234567890123456789012345678"}, "frac": {"N": "-0.000120"},
        "b": {"B": b"\x00\x01\xff"}, "t": {"BOOL": True}, "nothing": {"NULL": True},
        "m": {"M": {"inner": {"L": [{"N": "1"}, {"S": "two"}, {"M": {}}]}}},
        "ss": {"SS": ["a", "b"]}, "ns": {"NS": ["1", "2.5"]}, "bs": {"BS": [b"x", b"y"]},
    }
    ddb.put_item(TableName=name, Item=item)
    got = ddb.get_item(TableName=name, Key={"pk": {"S": "types"}, "sk": {"S": "all"}}, ConsistentRead=True)["Item"]
    assert got["n"] == {"N": "12345678901234567890123456789012345678"}
    assert got["frac"] == {"N": "-0.00012"}
    assert got["b"] == {"B": b"\x00\x01\xff"} and got["m"] == item["m"] and got["empty"] == {"S": ""}
    assert sorted(got["ss"]["SS"]) == ["a", "b"] and sorted(got["ns"]["NS"]) == ["1", "2.5"]
    for bad, why in [
        ({"pk": {"S": "x"}, "sk": {"S": "y"}, "n": {"N": "1" * 39}}, "38"),
        ({"pk": {"S": "x"}, "sk": {"S": "y"}, "ss": {"SS": ["a", "a"]}}, "duplicates"),
        ({"pk": {"S": "x"}, "sk": {"S": "y"}, "ss": {"SS": []}}, "empty"),
        ({"pk": {"N": "1"}, "sk": {"S": "y"}}, "Type mismatch"),
        ({"sk": {"S": "y"}}, "Missing the key pk"),
        ({"pk": {"S": ""}, "sk": {"S": "y"}}, "empty string"),
        ({"pk": {"S": "x"}, "sk": {"S": "y"}, "big": {"S": "x" * (400 * 1024)}}, "maximum allowed size"),
    ]:
        code, msg, _ = error(ddb.put_item, TableName=name, Item=bad)
        assert code == "ValidationException" and why in msg, msg
    code, msg, _ = error(ddb.get_item, TableName=name, Key={"pk": {"S": "types"}})
    assert code == "ValidationException" and "does not match the schema" in msg


def test_conditions_updates_and_return_values(ddb, resource):
    name = make_table(ddb)
    table = resource.Table(name)
    table.put_item(Item={"pk": "u#1", "sk": "profile", "name": "Ada", "visits": 1, "tags": {"x"}, "history": ["a"]})
    # Conditional put refuses to overwrite, and can return the item it found.
    code, msg, resp = error(table.put_item, Item={"pk": "u#1", "sk": "profile"},
                            ConditionExpression="attribute_not_exists(pk)",
                            ReturnValuesOnConditionCheckFailure="ALL_OLD")
    assert code == "ConditionalCheckFailedException"
    assert resp["Item"]["name"] == {"S": "Ada"}
    r = table.update_item(
        Key={"pk": "u#1", "sk": "profile"},
        UpdateExpression="SET visits = visits + :one, #n = :name, email = if_not_exists(email, :e), history = list_append(history, :more) "
                         "REMOVE gone ADD tags :t, hits :one",
        ConditionExpression=Attr("visits").gte(1) & Attr("name").begins_with("A"),
        ExpressionAttributeNames={"#n": "name"},
        ExpressionAttributeValues={":one": 1, ":name": "Ada L.", ":e": "ada@example.com", ":more": ["b"], ":t": {"y"}},
        ReturnValues="ALL_NEW",
    )["Attributes"]
    assert r["visits"] == 2 and r["name"] == "Ada L." and r["email"] == "ada@example.com"
    assert r["history"] == ["a", "b"] and r["tags"] == {"x", "y"} and r["hits"] == 1
    r = table.update_item(Key={"pk": "u#1", "sk": "profile"}, UpdateExpression="SET visits = visits - :d DELETE tags :x",
                          ExpressionAttributeValues={":d": decimal.Decimal("0.5"), ":x": {"x"}}, ReturnValues="UPDATED_OLD")
    assert r["Attributes"] == {"visits": 2, "tags": {"x", "y"}}
    r = table.update_item(Key={"pk": "u#1", "sk": "profile"}, UpdateExpression="SET visits = :v",
                          ExpressionAttributeValues={":v": 10}, ReturnValues="UPDATED_NEW")
    assert r["Attributes"] == {"visits": 10}
    # UpdateItem on a missing item creates it from its key.
    table.update_item(Key={"pk": "u#2", "sk": "profile"}, UpdateExpression="SET c = :z", ExpressionAttributeValues={":z": 0})
    assert table.get_item(Key={"pk": "u#2", "sk": "profile"})["Item"] == {"pk": "u#2", "sk": "profile", "c": 0}
    # Bad expressions get DynamoDB's messages.
    cases = [
        (dict(UpdateExpression="SET pk = :v", ExpressionAttributeValues={":v": "x"}), "part of the key"),
        (dict(UpdateExpression="SET a = :v"), "not defined"),
        (dict(UpdateExpression="SET a = :v", ExpressionAttributeValues={":v": "x", ":w": "y"}), "unused"),
        (dict(UpdateExpression="SET #a = :v", ExpressionAttributeValues={":v": "x"}), "#a"),
        (dict(UpdateExpression="SET status = :v", ExpressionAttributeValues={":v": "x"}), "reserved keyword"),
        (dict(UpdateExpression="SET a = = :v", ExpressionAttributeValues={":v": "x"}), "Syntax error"),
    ]
    for kw, why in cases:
        code, msg, _ = error(table.update_item, Key={"pk": "u#1", "sk": "profile"}, **kw)
        assert code == "ValidationException" and why in msg, (kw, msg)
    code, msg, _ = error(ddb.update_item, TableName=name, Key={"pk": {"S": "u#1"}, "sk": {"S": "profile"}},
                         UpdateExpression="SET #n = #n + :v", ExpressionAttributeNames={"#n": "name"},
                         ExpressionAttributeValues={":v": {"N": "1"}})
    assert code == "ValidationException" and "operand" in msg.lower()
    # Delete with a condition and ALL_OLD.
    assert error(table.delete_item, Key={"pk": "u#1", "sk": "profile"}, ConditionExpression=Attr("visits").lt(5))[0] == \
        "ConditionalCheckFailedException"
    old = table.delete_item(Key={"pk": "u#1", "sk": "profile"}, ReturnValues="ALL_OLD")["Attributes"]
    assert old["visits"] == 10
    assert "Item" not in table.get_item(Key={"pk": "u#1", "sk": "profile"})


def test_single_table_queries_and_scans(ddb, resource):
    name = make_table(ddb)
    table = resource.Table(name)
    with table.batch_writer() as w:
        for u in range(3):
            w.put_item(Item={"pk": f"USER#{u}", "sk": "PROFILE", "name": f"user {u}"})
            for o in range(12):
                w.put_item(Item={"pk": f"USER#{u}", "sk": f"ORDER#{o:03d}", "total": o * 10, "status": "open" if o % 3 else "shipped"})
    orders = table.query(KeyConditionExpression=Key("pk").eq("USER#1") & Key("sk").begins_with("ORDER#"))["Items"]
    assert [o["sk"] for o in orders] == [f"ORDER#{o:03d}" for o in range(12)]
    rev = table.query(KeyConditionExpression=Key("pk").eq("USER#1") & Key("sk").between("ORDER#003", "ORDER#005"),
                      ScanIndexForward=False)["Items"]
    assert [o["sk"] for o in rev] == ["ORDER#005", "ORDER#004", "ORDER#003"]
    shipped = table.query(KeyConditionExpression=Key("pk").eq("USER#1") & Key("sk").begins_with("ORDER#"),
                          FilterExpression=Attr("status").eq("shipped"))
    assert shipped["Count"] == 4 and shipped["ScannedCount"] == 12
    assert table.query(KeyConditionExpression=Key("pk").eq("USER#1"), Select="COUNT")["Count"] == 13
    # Pagination with Limit and ExclusiveStartKey, forward and backward.
    for forward in (True, False):
        seen, start = [], None
        while True:
            kw = {"ExclusiveStartKey": start} if start else {}
            page = table.query(KeyConditionExpression=Key("pk").eq("USER#2"), Limit=5, ScanIndexForward=forward, **kw)
            seen += [i["sk"] for i in page["Items"]]
            start = page.get("LastEvaluatedKey")
            if not start:
                break
        assert seen == sorted(seen, reverse=not forward) and len(seen) == 13
    proj = table.query(KeyConditionExpression=Key("pk").eq("USER#0") & Key("sk").eq("PROFILE"),
                       ProjectionExpression="#n", ExpressionAttributeNames={"#n": "name"})["Items"]
    assert proj == [{"name": "user 0"}]
    # Scans: everything, in parallel segments that split it without overlap.
    everything = table.scan()["Items"]
    assert len(everything) == 39
    parts = [table.scan(Segment=s, TotalSegments=4)["Items"] for s in range(4)]
    keys = sorted((i["pk"], i["sk"]) for p in parts for i in p)
    assert keys == sorted((i["pk"], i["sk"]) for i in everything)
    assert table.scan(FilterExpression=Attr("total").gt(100))["Count"] == 3
    for kw, why in [
        (dict(KeyConditionExpression="sk = :s", ExpressionAttributeValues={":s": {"S": "x"}}), "missed key schema element"),
        (dict(KeyConditionExpression="pk = :p OR sk = :s", ExpressionAttributeValues={":p": {"S": "x"}, ":s": {"S": "x"}}), "OR"),
    ]:
        code, msg, _ = error(ddb.query, TableName=name, **kw)
        assert code == "ValidationException" and why.lower() in msg.lower(), msg
    assert error(ddb.scan, TableName=name, Segment=4, TotalSegments=4)[0] == "ValidationException"


def test_pages_stop_at_one_megabyte(ddb, resource):
    name = make_table(ddb)
    table = resource.Table(name)
    blob = "x" * 100_000
    with table.batch_writer() as w:
        for i in range(15):
            w.put_item(Item={"pk": "big", "sk": f"{i:02d}", "blob": blob})
    first = table.query(KeyConditionExpression=Key("pk").eq("big"))
    assert 0 < len(first["Items"]) < 15 and "LastEvaluatedKey" in first
    rest = table.query(KeyConditionExpression=Key("pk").eq("big"), ExclusiveStartKey=first["LastEvaluatedKey"])
    assert len(first["Items"]) + len(rest["Items"]) == 15


def test_secondary_indexes(ddb, resource):
    name = tname("idx")
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("pk", "sk", "email", "created")],
        GlobalSecondaryIndexes=[{"IndexName": "byEmail", "KeySchema": [{"AttributeName": "email", "KeyType": "HASH"}],
                                 "Projection": {"ProjectionType": "KEYS_ONLY"}}],
        LocalSecondaryIndexes=[{"IndexName": "byCreated", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                                                                        {"AttributeName": "created", "KeyType": "RANGE"}],
                                "Projection": {"ProjectionType": "ALL"}}],
        BillingMode="PAY_PER_REQUEST",
    )
    table = resource.Table(name)
    table.put_item(Item={"pk": "u1", "sk": "a", "email": "a@x.io", "created": "2026-03", "city": "Oslo"})
    table.put_item(Item={"pk": "u1", "sk": "b", "email": "b@x.io", "created": "2026-01"})
    table.put_item(Item={"pk": "u1", "sk": "c"})  # sparse: in no index
    by_email = table.query(IndexName="byEmail", KeyConditionExpression=Key("email").eq("a@x.io"))["Items"]
    assert by_email == [{"pk": "u1", "sk": "a", "email": "a@x.io"}]
    by_created = table.query(IndexName="byCreated", KeyConditionExpression=Key("pk").eq("u1"))["Items"]
    assert [i["sk"] for i in by_created] == ["b", "a"] and by_created[1]["city"] == "Oslo"
    desc = ddb.describe_table(TableName=name)["Table"]
    assert desc["GlobalSecondaryIndexes"][0]["ItemCount"] == 2 and desc["LocalSecondaryIndexes"][0]["ItemCount"] == 2
    # An index added later covers the items already there.
    ddb.update_table(TableName=name, AttributeDefinitions=[{"AttributeName": "city", "AttributeType": "S"}],
                     GlobalSecondaryIndexUpdates=[{"Create": {"IndexName": "byCity", "KeySchema": [{"AttributeName": "city", "KeyType": "HASH"}],
                                                              "Projection": {"ProjectionType": "ALL"}}}])
    assert [i["sk"] for i in table.query(IndexName="byCity", KeyConditionExpression=Key("city").eq("Oslo"))["Items"]] == ["a"]
    assert len(table.scan(IndexName="byEmail")["Items"]) == 2
    code, msg, _ = error(table.put_item, Item={"pk": "u2", "sk": "a", "email": {"not": "a string"}})
    assert code == "ValidationException" and "byEmail" in msg
    assert error(table.query, IndexName="nope", KeyConditionExpression=Key("pk").eq("u1"))[0] == "ValidationException"
    ddb.update_table(TableName=name, GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": "byCity"}}])
    assert [g["IndexName"] for g in ddb.describe_table(TableName=name)["Table"]["GlobalSecondaryIndexes"]] == ["byEmail"]


def test_batches_and_transactions(ddb, resource):
    name = make_table(ddb)
    table = resource.Table(name)
    ddb.batch_write_item(RequestItems={name: [{"PutRequest": {"Item": {"pk": {"S": "k"}, "sk": {"S": str(i)}, "v": {"N": str(i)}}}}
                                              for i in range(25)]})
    assert error(ddb.batch_write_item, RequestItems={name: [{"PutRequest": {"Item": {"pk": {"S": "k"}, "sk": {"S": str(i)}}}}
                                                            for i in range(26)]})[0] == "ValidationException"
    assert "duplicates" in error(ddb.batch_write_item, RequestItems={name: [{"PutRequest": {"Item": {"pk": {"S": "d"}, "sk": {"S": "1"}}}}] * 2})[1]
    got = ddb.batch_get_item(RequestItems={name: {"Keys": [{"pk": {"S": "k"}, "sk": {"S": str(i)}} for i in range(0, 25, 5)],
                                                  "ProjectionExpression": "v"}})
    assert sorted(int(i["v"]["N"]) for i in got["Responses"][name]) == [0, 5, 10, 15, 20]
    assert got["UnprocessedKeys"] == {}
    ddb.batch_write_item(RequestItems={name: [{"DeleteRequest": {"Key": {"pk": {"S": "k"}, "sk": {"S": "0"}}}}]})
    assert "Item" not in ddb.get_item(TableName=name, Key={"pk": {"S": "k"}, "sk": {"S": "0"}})
    # A transfer: all or nothing.
    table.put_item(Item={"pk": "acct", "sk": "alice", "balance": 100})
    table.put_item(Item={"pk": "acct", "sk": "bob", "balance": 0})

    def transfer(amount, token=None):
        kw = {"ClientRequestToken": token} if token else {}
        return ddb.transact_write_items(TransactItems=[
            {"Update": {"TableName": name, "Key": {"pk": {"S": "acct"}, "sk": {"S": "alice"}},
                        "UpdateExpression": "SET balance = balance - :a", "ConditionExpression": "balance >= :a",
                        "ExpressionAttributeValues": {":a": {"N": str(amount)}}}},
            {"Update": {"TableName": name, "Key": {"pk": {"S": "acct"}, "sk": {"S": "bob"}},
                        "UpdateExpression": "SET balance = balance + :a", "ExpressionAttributeValues": {":a": {"N": str(amount)}}}},
            {"ConditionCheck": {"TableName": name, "Key": {"pk": {"S": "k"}, "sk": {"S": "1"}},
                                "ConditionExpression": "attribute_exists(v)"}},
        ], **kw)

    transfer(60, token="tok-1")
    transfer(60, token="tok-1")  # the same request again: not applied twice
    balances = lambda: {i["sk"]: int(i["balance"]) for i in table.query(KeyConditionExpression=Key("pk").eq("acct"))["Items"]}
    assert balances() == {"alice": 40, "bob": 60}
    code, msg, resp = error(transfer, 60)
    assert code == "TransactionCanceledException"
    assert [r["Code"] for r in resp["CancellationReasons"]] == ["ConditionalCheckFailed", "None", "None"]
    assert balances() == {"alice": 40, "bob": 60}
    assert error(transfer, 10, token="tok-1")[0] == "IdempotentParameterMismatchException"
    got = ddb.transact_get_items(TransactItems=[
        {"Get": {"TableName": name, "Key": {"pk": {"S": "acct"}, "sk": {"S": "alice"}}}},
        {"Get": {"TableName": name, "Key": {"pk": {"S": "acct"}, "sk": {"S": "nobody"}}}},
    ])["Responses"]
    assert got[0]["Item"]["balance"] == {"N": "40"} and got[1] == {}
    assert "multiple operations" in error(ddb.transact_write_items, TransactItems=[
        {"Delete": {"TableName": name, "Key": {"pk": {"S": "acct"}, "sk": {"S": "bob"}}}},
        {"Delete": {"TableName": name, "Key": {"pk": {"S": "acct"}, "sk": {"S": "bob"}}}},
    ])[1]


def all_records(streams, arn):
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    out = []
    while it:
        page = streams.get_records(ShardIterator=it)
        out += page["Records"]
        if not page["Records"]:
            break
        it = page.get("NextShardIterator")
    return out


def test_streams_record_every_change_in_order(nimbus, ddb, resource):
    name = make_table(ddb, StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    arn = ddb.describe_table(TableName=name)["Table"]["LatestStreamArn"]
    table = resource.Table(name)
    table.put_item(Item={"pk": "a", "sk": "1", "v": 1})
    table.put_item(Item={"pk": "a", "sk": "1", "v": 1})  # unchanged: no record
    table.update_item(Key={"pk": "a", "sk": "1"}, UpdateExpression="SET v = :v", ExpressionAttributeValues={":v": 2})
    table.delete_item(Key={"pk": "a", "sk": "1"})
    streams = nimbus.client("dynamodbstreams")
    listed = streams.list_streams(TableName=name)["Streams"]
    assert listed == [{"StreamArn": arn, "TableName": name, "StreamLabel": arn.split("/stream/")[1]}]
    desc = streams.describe_stream(StreamArn=arn)["StreamDescription"]
    assert desc["StreamStatus"] == "ENABLED" and desc["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    records = all_records(streams, arn)
    assert [r["eventName"] for r in records] == ["INSERT", "MODIFY", "REMOVE"]
    assert records[0]["dynamodb"]["NewImage"]["v"] == {"N": "1"} and "OldImage" not in records[0]["dynamodb"]
    assert records[1]["dynamodb"]["OldImage"]["v"] == {"N": "1"} and records[1]["dynamodb"]["NewImage"]["v"] == {"N": "2"}
    assert records[2]["dynamodb"]["Keys"] == {"pk": {"S": "a"}, "sk": {"S": "1"}}
    seqs = [int(r["dynamodb"]["SequenceNumber"]) for r in records]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3
    assert all(r["eventSource"] == "aws:dynamodb" and r["awsRegion"] == "us-east-1" for r in records)
    # LATEST sees only what comes after; AFTER_SEQUENCE_NUMBER resumes.
    shard = desc["Shards"][0]["ShardId"]
    latest = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="LATEST")["ShardIterator"]
    table.put_item(Item={"pk": "b", "sk": "1"})
    got = streams.get_records(ShardIterator=latest)["Records"]
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in got] == ["b"]
    after = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                                       SequenceNumber=records[1]["dynamodb"]["SequenceNumber"])["ShardIterator"]
    assert [r["eventName"] for r in streams.get_records(ShardIterator=after)["Records"]] == ["REMOVE", "INSERT"]
    assert error(streams.get_records, ShardIterator="garbage")[0] == "ValidationException"
    assert error(streams.describe_stream, StreamArn=arn + "x")[0] == "ResourceNotFoundException"
    # Paging shards: none after the last.
    assert streams.describe_stream(StreamArn=arn, ExclusiveStartShardId=shard)["StreamDescription"]["Shards"] == []
    # The one shard is no shard's child.
    children = streams.describe_stream(StreamArn=arn, ShardFilter={"Type": "CHILD_SHARDS", "ShardId": shard})
    assert children["StreamDescription"]["Shards"] == []
    assert error(streams.get_shard_iterator, StreamArn=arn, ShardId=shard + "x",
                 ShardIteratorType="LATEST")[0] == "ResourceNotFoundException"
    # Keys only, and a stream turned off.
    ddb.update_table(TableName=name, StreamSpecification={"StreamEnabled": False})
    assert streams.describe_stream(StreamArn=arn)["StreamDescription"]["StreamStatus"] == "DISABLED"


def test_ttl_expires_items_into_the_stream(nimbus, ddb, resource):
    name = make_table(ddb, StreamSpecification={"StreamEnabled": True, "StreamViewType": "OLD_IMAGE"})
    ddb.update_time_to_live(TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"})
    assert ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"] == \
        {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires"}
    table = resource.Table(name)
    table.put_item(Item={"pk": "old", "sk": "1", "expires": int(time.time()) - 10})
    table.put_item(Item={"pk": "new", "sk": "1", "expires": int(time.time()) + 3600})
    deadline = time.time() + 10
    while time.time() < deadline and "Item" in table.get_item(Key={"pk": "old", "sk": "1"}):
        time.sleep(0.2)
    assert "Item" not in table.get_item(Key={"pk": "old", "sk": "1"})
    assert "Item" in table.get_item(Key={"pk": "new", "sk": "1"})
    arn = ddb.describe_table(TableName=name)["Table"]["LatestStreamArn"]
    removed = [r for r in all_records(nimbus.client("dynamodbstreams"), arn) if r["eventName"] == "REMOVE"]
    assert removed[0]["userIdentity"] == {"Type": "Service", "PrincipalId": "dynamodb.amazonaws.com"}
    assert removed[0]["dynamodb"]["OldImage"]["pk"] == {"S": "old"}


def test_writes_and_stream_survive_kill_9():
    with tempfile.TemporaryDirectory(prefix="nimbus-ddb-kill-") as d:
        n = Nimbus(d).start()
        ddb = n.client("dynamodb")
        name = make_table(ddb, name="durable", StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"})
        for i in range(30):
            ddb.put_item(TableName=name, Item={"pk": {"S": "p"}, "sk": {"S": f"{i:02d}"}, "n": {"N": str(i)}})
        ddb.update_item(TableName=name, Key={"pk": {"S": "p"}, "sk": {"S": "00"}}, UpdateExpression="ADD n :one",
                        ExpressionAttributeValues={":one": {"N": "100"}})
        arn = ddb.describe_table(TableName=name)["Table"]["LatestStreamArn"]
        before = all_records(n.client("dynamodbstreams"), arn)
        n.stop(signal.SIGKILL)
        n2 = Nimbus(d).start()
        try:
            ddb2 = n2.client("dynamodb")
            items = ddb2.query(TableName=name, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "p"}})["Items"]
            assert len(items) == 30 and items[0]["n"] == {"N": "100"}
            ddb2.put_item(TableName=name, Item={"pk": {"S": "p"}, "sk": {"S": "after"}})
            after = all_records(n2.client("dynamodbstreams"), arn)
            assert [r["eventID"] for r in after[:len(before)]] == [r["eventID"] for r in before]
            assert len(after) == len(before) + 1 == 32
            seqs = [int(r["dynamodb"]["SequenceNumber"]) for r in after]
            assert seqs == sorted(seqs) and len(set(seqs)) == 32
        finally:
            n2.stop()


def test_aws_cli(nimbus):
    name = tname("cli")
    nimbus.aws("dynamodb", "create-table", "--table-name", name,
               "--attribute-definitions", "AttributeName=id,AttributeType=S",
               "--key-schema", "AttributeName=id,KeyType=HASH", "--billing-mode", "PAY_PER_REQUEST")
    nimbus.aws("dynamodb", "put-item", "--table-name", name, "--item", json.dumps({"id": {"S": "1"}, "v": {"N": "7"}}))
    out = json.loads(nimbus.aws("dynamodb", "get-item", "--table-name", name, "--key", json.dumps({"id": {"S": "1"}})).stdout)
    assert out["Item"]["v"] == {"N": "7"}
    out = json.loads(nimbus.aws("dynamodb", "scan", "--table-name", name).stdout)
    assert out["Count"] == 1
    res = nimbus.aws("dynamodb", "describe-table", "--table-name", name + "-nope", check=False)
    assert res.returncode != 0 and "ResourceNotFoundException" in res.stderr


def test_partiql_statements(ddb):
    name = make_table(ddb)
    run = lambda s, *p, **kw: ddb.execute_statement(Statement=s, Parameters=list(p), **kw) if p else \
        ddb.execute_statement(Statement=s, **kw)
    run(f"INSERT INTO \"{name}\" VALUE {{'pk': 'USER#1', 'sk': 'PROFILE', 'name': 'Ada', 'tags': <<'a', 'b'>>, 'n': 1}}")
    run(f"INSERT INTO \"{name}\" VALUE {{'pk': ?, 'sk': ?, 'total': ?}}", {"S": "USER#1"}, {"S": "ORDER#1"}, {"N": "9.5"})
    run(f"INSERT INTO \"{name}\" VALUE {{'pk': 'USER#1', 'sk': 'ORDER#2', 'total': 20, 'status': 'open'}}")
    code, msg, _ = error(run, f"INSERT INTO \"{name}\" VALUE {{'pk': 'USER#1', 'sk': 'PROFILE'}}")
    assert code == "DuplicateItemException"
    items = run(f"SELECT * FROM \"{name}\" WHERE pk = 'USER#1' AND begins_with(sk, 'ORDER#')")["Items"]
    assert [i["sk"]["S"] for i in items] == ["ORDER#1", "ORDER#2"]
    got = run(f"SELECT total FROM \"{name}\" WHERE pk = ? AND sk = ?", {"S": "USER#1"}, {"S": "ORDER#1"})["Items"]
    assert got == [{"total": {"N": "9.5"}}]
    assert len(run(f"SELECT * FROM \"{name}\" WHERE total > 10")["Items"]) == 1  # a scan with a filter
    run(f"UPDATE \"{name}\" SET n = n + 1 SET status = 'vip' REMOVE tags WHERE pk = 'USER#1' AND sk = 'PROFILE'")
    profile = ddb.get_item(TableName=name, Key={"pk": {"S": "USER#1"}, "sk": {"S": "PROFILE"}})["Item"]
    assert profile["n"] == {"N": "2"} and profile["status"] == {"S": "vip"} and "tags" not in profile
    code, _, _ = error(run, f"UPDATE \"{name}\" SET n = 5 WHERE pk = 'USER#1' AND sk = 'PROFILE' AND n > 100")
    assert code == "ConditionalCheckFailedException"
    assert "mandatory equality" in error(run, f"UPDATE \"{name}\" SET n = 5 WHERE pk = 'USER#1'")[1]
    run(f"DELETE FROM \"{name}\" WHERE pk = 'USER#1' AND sk = 'ORDER#2'")
    run(f"DELETE FROM \"{name}\" WHERE pk = 'USER#1' AND sk = 'ORDER#404'")  # not there: fine
    assert [i["sk"]["S"] for i in run(f"SELECT sk FROM \"{name}\" WHERE pk = 'USER#1'")["Items"]] == ["ORDER#1", "PROFILE"]
    # Pages with NextToken.
    page = run(f"SELECT * FROM \"{name}\" WHERE pk = 'USER#1'", Limit=1)
    rest = run(f"SELECT * FROM \"{name}\" WHERE pk = 'USER#1'", NextToken=page["NextToken"])
    assert len(page["Items"]) + len(rest["Items"]) == 2
    code, msg, _ = error(run, f"SELEC * FROM \"{name}\"")
    assert code == "ValidationException" and "well formed" in msg
    assert error(run, "SELECT * FROM \"no-such-table\"")[0] == "ResourceNotFoundException"
    assert error(run, f"SELECT * FROM \"{name}\" WHERE pk = ?")[0] == "ValidationException"


def test_legacy_parameters_of_older_code(ddb):
    """What code written before expressions sends: Expected (Exists/Value and
    ComparisonOperator forms, ConditionalOperator), AttributeUpdates, KeyConditions,
    QueryFilter, ScanFilter and AttributesToGet."""
    name = make_table(ddb)
    s = lambda v: {"S": v}
    ddb.put_item(TableName=name, Item={"pk": s("u"), "sk": s("1"), "n": {"N": "5"}, "tags": {"SS": ["a", "b"]}},
                 Expected={"pk": {"Exists": False}})
    code, msg, _ = error(ddb.put_item, TableName=name, Item={"pk": s("u"), "sk": s("1")},
                         Expected={"pk": {"Exists": False}})
    assert code == "ConditionalCheckFailedException"
    ddb.update_item(TableName=name, Key={"pk": s("u"), "sk": s("1")},
                    AttributeUpdates={"n": {"Action": "ADD", "Value": {"N": "2"}},
                                      "tags": {"Action": "DELETE", "Value": {"SS": ["a"]}},
                                      "note": {"Action": "PUT", "Value": s("hi")}},
                    Expected={"n": {"ComparisonOperator": "GE", "AttributeValueList": [{"N": "5"}]},
                              "missing": {"ComparisonOperator": "NULL"}},
                    ConditionalOperator="AND")
    item = ddb.get_item(TableName=name, Key={"pk": s("u"), "sk": s("1")}, AttributesToGet=["n", "tags", "note"])["Item"]
    assert item == {"n": {"N": "7"}, "tags": {"SS": ["b"]}, "note": s("hi")}
    code, _, _ = error(ddb.update_item, TableName=name, Key={"pk": s("u"), "sk": s("1")},
                       AttributeUpdates={"note": {"Action": "DELETE"}},
                       Expected={"n": {"Value": {"N": "1"}}})
    assert code == "ConditionalCheckFailedException"
    for i in range(2, 6):
        ddb.put_item(TableName=name, Item={"pk": s("u"), "sk": s(str(i)), "n": {"N": str(i)}})
    got = ddb.query(TableName=name, KeyConditions={
        "pk": {"ComparisonOperator": "EQ", "AttributeValueList": [s("u")]},
        "sk": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [s("2"), s("5")]}},
        QueryFilter={"n": {"ComparisonOperator": "GT", "AttributeValueList": [{"N": "3"}]}})
    assert [i["sk"]["S"] for i in got["Items"]] == ["4", "5"] and got["ScannedCount"] == 4
    got = ddb.scan(TableName=name, ScanFilter={
        "n": {"ComparisonOperator": "IN", "AttributeValueList": [{"N": "2"}, {"N": "7"}]},
        "note": {"ComparisonOperator": "BEGINS_WITH", "AttributeValueList": [s("h")]}}, ConditionalOperator="OR")
    assert sorted(i["sk"]["S"] for i in got["Items"]) == ["1", "2"]
    ddb.delete_item(TableName=name, Key={"pk": s("u"), "sk": s("2")},
                    Expected={"n": {"ComparisonOperator": "EQ", "AttributeValueList": [{"N": "2"}]}})
    assert "Item" not in ddb.get_item(TableName=name, Key={"pk": s("u"), "sk": s("2")})
    # DynamoDB's rules for mixing them with expressions.
    code, msg, _ = error(ddb.put_item, TableName=name, Item={"pk": s("v"), "sk": s("1")},
                         Expected={"pk": {"Exists": False}}, ConditionExpression="attribute_not_exists(pk)")
    assert code == "ValidationException" and "Can not use both expression and non-expression parameters" in msg
    code, msg, _ = error(ddb.query, TableName=name, KeyConditions={
        "pk": {"ComparisonOperator": "NE", "AttributeValueList": [s("u")]}})
    assert code == "ValidationException" and "Unsupported operator on KeyCondition: NE" in msg


def test_batches_and_transactions_report_consumed_capacity(ddb):
    a, b = make_table(ddb, range_key=False), make_table(ddb, range_key=False)
    big = "x" * 1500  # two write units, one read unit
    out = ddb.batch_write_item(RequestItems={
        a: [{"PutRequest": {"Item": {"pk": {"S": "1"}, "v": {"S": big}}}},
            {"PutRequest": {"Item": {"pk": {"S": "2"}}}}],
        b: [{"PutRequest": {"Item": {"pk": {"S": "1"}}}}]}, ReturnConsumedCapacity="TOTAL")
    assert {c["TableName"]: c["CapacityUnits"] for c in out["ConsumedCapacity"]} == {a: 3.0, b: 1.0}
    out = ddb.batch_get_item(RequestItems={a: {"Keys": [{"pk": {"S": "1"}}, {"pk": {"S": "2"}}], "ConsistentRead": True},
                                           b: {"Keys": [{"pk": {"S": "1"}}]}}, ReturnConsumedCapacity="INDEXES")
    caps = {c["TableName"]: c for c in out["ConsumedCapacity"]}
    assert caps[a]["CapacityUnits"] == 2.0 and caps[a]["Table"] == {"CapacityUnits": 2.0}
    assert caps[b]["CapacityUnits"] == 0.5, "eventually consistent halves"
    out = ddb.transact_write_items(TransactItems=[
        {"Put": {"TableName": a, "Item": {"pk": {"S": "3"}}}},
        {"Update": {"TableName": b, "Key": {"pk": {"S": "1"}}, "UpdateExpression": "SET n = :n",
                    "ExpressionAttributeValues": {":n": {"N": "1"}}}}], ReturnConsumedCapacity="TOTAL")
    assert {c["TableName"]: c["CapacityUnits"] for c in out["ConsumedCapacity"]} == {a: 2.0, b: 2.0}
    out = ddb.transact_get_items(TransactItems=[{"Get": {"TableName": a, "Key": {"pk": {"S": "1"}}}}],
                                 ReturnConsumedCapacity="TOTAL")
    assert out["ConsumedCapacity"] == [{"TableName": a, "CapacityUnits": 2.0}]
    assert "ConsumedCapacity" not in ddb.batch_get_item(RequestItems={b: {"Keys": [{"pk": {"S": "1"}}]}})


def test_an_index_added_later_is_backfilled_with_ten_thousand_items(ddb, resource):
    """UpdateTable answers with the new index CREATING and backfilling; once
    described it is ACTIVE and holds every item already in the table."""
    name = make_table(ddb)
    table = resource.Table(name)
    with table.batch_writer() as w:
        for i in range(10_000):
            w.put_item(Item={"pk": f"p{i % 100}", "sk": f"{i:05}", "g": f"g{i % 10}"})
    out = ddb.update_table(
        TableName=name, AttributeDefinitions=[{"AttributeName": "g", "AttributeType": "S"}],
        GlobalSecondaryIndexUpdates=[{"Create": {
            "IndexName": "byGroup", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "KEYS_ONLY"}}}])["TableDescription"]
    assert out["TableStatus"] == "UPDATING"
    index = out["GlobalSecondaryIndexes"][0]
    assert (index["IndexStatus"], index["Backfilling"]) == ("CREATING", True)
    desc = ddb.describe_table(TableName=name)["Table"]
    assert desc["TableStatus"] == "ACTIVE"
    index = desc["GlobalSecondaryIndexes"][0]
    assert (index["IndexStatus"], index["ItemCount"]) == ("ACTIVE", 10_000)
    assert "Backfilling" not in index
    counted = 0
    kw = {"IndexName": "byGroup", "KeyConditionExpression": Key("g").eq("g7"), "Select": "COUNT"}
    while True:
        page = table.query(**kw)
        counted += page["Count"]
        if "LastEvaluatedKey" not in page:
            break
        kw["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    assert counted == 1000


def test_endpoint_health_probe_and_the_16_mb_request_limit(nimbus, ddb):
    """An unsigned GET / answers as DynamoDB's endpoint does (a signed one is still
    S3's ListBuckets); a request over 16 MB is refused with 413 before it is read on."""
    import http.client
    import urllib.parse
    import urllib.request

    with urllib.request.urlopen(nimbus.endpoint + "/") as r:
        assert r.status == 200 and r.read().decode().startswith("healthy: dynamodb.us-east-1.amazonaws.com")
    assert "Buckets" in nimbus.client("s3").list_buckets()
    u = urllib.parse.urlsplit(nimbus.endpoint)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
    body = b"{" + b" " * (16 * 1024 * 1024)
    conn.request("POST", "/", body=body, headers={
        "X-Amz-Target": "DynamoDB_20120810.PutItem", "Content-Type": "application/x-amz-json-1.0"})
    r = conn.getresponse()
    assert r.status == 413, r.read()
    conn.close()


def test_consumed_capacity_by_index(ddb):
    """ReturnConsumedCapacity INDEXES: a write is charged to each index it touches
    (two units when it moves an entry), a read of an index to the index."""
    name = make_table(ddb, extra_attrs=[{"AttributeName": "email", "AttributeType": "S"}],
                      GlobalSecondaryIndexes=[{"IndexName": "byEmail",
                                               "KeySchema": [{"AttributeName": "email", "KeyType": "HASH"}],
                                               "Projection": {"ProjectionType": "ALL"}}])
    c = ddb.put_item(TableName=name, Item={"pk": {"S": "a"}, "sk": {"S": "1"}, "email": {"S": "x@y"}},
                     ReturnConsumedCapacity="INDEXES")["ConsumedCapacity"]
    assert c == {"TableName": name, "CapacityUnits": 2.0, "Table": {"CapacityUnits": 1.0},
                 "GlobalSecondaryIndexes": {"byEmail": {"CapacityUnits": 1.0}}}
    c = ddb.update_item(TableName=name, Key={"pk": {"S": "a"}, "sk": {"S": "1"}},
                        UpdateExpression="SET email = :e", ExpressionAttributeValues={":e": {"S": "z@y"}},
                        ReturnConsumedCapacity="INDEXES")["ConsumedCapacity"]
    assert c["GlobalSecondaryIndexes"] == {"byEmail": {"CapacityUnits": 2.0}} and c["CapacityUnits"] == 3.0
    # Outside the index: the table alone.
    c = ddb.put_item(TableName=name, Item={"pk": {"S": "b"}, "sk": {"S": "1"}},
                     ReturnConsumedCapacity="TOTAL")["ConsumedCapacity"]
    assert c == {"TableName": name, "CapacityUnits": 1.0}
    c = ddb.query(TableName=name, IndexName="byEmail", KeyConditionExpression="email = :e",
                  ExpressionAttributeValues={":e": {"S": "z@y"}}, ReturnConsumedCapacity="INDEXES")["ConsumedCapacity"]
    assert c == {"TableName": name, "CapacityUnits": 0.5, "GlobalSecondaryIndexes": {"byEmail": {"CapacityUnits": 0.5}}}


def test_resource_policies_of_tables(nimbus, ddb):
    """Put/Get/DeleteResourcePolicy with revisions; the policy lets in a user IAM
    gives nothing, and goes with it."""
    import boto3
    from botocore.config import Config

    name = make_table(ddb)
    arn = ddb.describe_table(TableName=name)["Table"]["TableArn"]
    iam = nimbus.client("iam")
    user = unique("reader")
    user_arn = iam.create_user(UserName=user)["User"]["Arn"]
    key = iam.create_access_key(UserName=user)["AccessKey"]
    reader = boto3.client("dynamodb", endpoint_url=nimbus.endpoint, region_name="us-east-1",
                          aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"],
                          config=Config(retries={"max_attempts": 1}))
    ddb.put_item(TableName=name, Item={"pk": {"S": "a"}, "sk": {"S": "1"}})
    get = {"TableName": name, "Key": {"pk": {"S": "a"}, "sk": {"S": "1"}}}
    assert error(reader.get_item, **get)[0] == "AccessDeniedException"
    assert error(ddb.get_resource_policy, ResourceArn=arn)[0] == "PolicyNotFoundException"
    policy = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": user_arn}, "Action": "dynamodb:GetItem", "Resource": arn}]})
    rev = ddb.put_resource_policy(ResourceArn=arn, Policy=policy)["RevisionId"]
    got = ddb.get_resource_policy(ResourceArn=arn)
    assert (json.loads(got["Policy"]), got["RevisionId"]) == (json.loads(policy), rev)
    assert reader.get_item(**get)["Item"]["pk"] == {"S": "a"}
    assert error(ddb.put_resource_policy, ResourceArn=arn, Policy=policy,
                 ExpectedRevisionId="1")[0] == "PolicyNotFoundException"
    assert error(ddb.put_resource_policy, ResourceArn=arn, Policy="{not json")[0] == "ValidationException"
    ddb.delete_resource_policy(ResourceArn=arn, ExpectedRevisionId=rev)
    assert error(reader.get_item, **get)[0] == "AccessDeniedException"
    assert error(ddb.delete_resource_policy, ResourceArn=arn)[0] == "PolicyNotFoundException"
    assert error(ddb.get_resource_policy, ResourceArn=arn + "x")[0] == "ResourceNotFoundException"


def test_http_answers_as_dynamodb_sends_them(nimbus, ddb):
    """Large answers come gzipped to clients that ask (the CRC32 covers the
    compressed bytes, as SDKs check it), every answer says `Server: Server`,
    and DeleteTable's description leaves the schema out."""
    import gzip
    import urllib.request
    import zlib

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    name = make_table(ddb, extra_attrs=[{"AttributeName": "g", "AttributeType": "S"}],
                      GlobalSecondaryIndexes=[{"IndexName": "by-g", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                                               "Projection": {"ProjectionType": "ALL"}}])
    for i in range(40):
        ddb.put_item(TableName=name, Item={"pk": {"S": f"p{i}"}, "sk": {"S": "s"}, "g": {"S": "x" * 300}})

    def post(operation, params, accept):
        req = AWSRequest(method="POST", url=nimbus.endpoint + "/", data=json.dumps(params).encode(),
                         headers={"X-Amz-Target": f"DynamoDB_20120810.{operation}",
                                  "Content-Type": "application/x-amz-json-1.0", "Accept-Encoding": accept})
        SigV4Auth(nimbus.session().get_credentials(), "dynamodb", "us-east-1").add_auth(req)
        with urllib.request.urlopen(urllib.request.Request(req.url, data=req.body, headers=dict(req.headers.items()))) as r:
            return r.headers, r.read()

    headers, body = post("Scan", {"TableName": name}, "gzip")
    assert headers["Content-Encoding"] == "gzip" and headers["Server"] == "Server"
    assert int(headers["x-amz-crc32"]) == zlib.crc32(body)
    assert json.loads(gzip.decompress(body))["Count"] == 40
    headers, body = post("Scan", {"TableName": name}, "identity")
    assert "Content-Encoding" not in headers and json.loads(body)["Count"] == 40
    assert int(headers["x-amz-crc32"]) == zlib.crc32(body)
    headers, body = post("DescribeTable", {"TableName": name}, "gzip")
    assert "Content-Encoding" not in headers, "small answers are sent as they are"
    # boto3 (which does not ask for gzip) reads the same table.
    assert ddb.scan(TableName=name)["Count"] == 40

    gone = ddb.delete_table(TableName=name)["TableDescription"]
    assert gone["TableStatus"] == "DELETING" and gone["TableName"] == name and gone["ItemCount"] == 40
    assert gone["TableArn"].endswith(f":table/{name}") and gone["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    for absent in ("KeySchema", "AttributeDefinitions", "CreationDateTime", "GlobalSecondaryIndexes"):
        assert absent not in gone, absent


def test_multi_attribute_keys_on_global_secondary_indexes(ddb):
    """A GSI may have up to four partition and four sort key attributes:
    queries give every partition attribute an equality and the sort
    attributes conditions from the first, without gaps; items lacking any key
    attribute stay out; pages carry every key attribute."""
    name = tname("multi")
    attrs = [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "tenant", "AttributeType": "S"},
             {"AttributeName": "geo", "AttributeType": "S"}, {"AttributeName": "year", "AttributeType": "N"},
             {"AttributeName": "month", "AttributeType": "N"}, {"AttributeName": "day", "AttributeType": "N"}]
    keys = [{"AttributeName": "tenant", "KeyType": "HASH"}, {"AttributeName": "geo", "KeyType": "HASH"},
            {"AttributeName": "year", "KeyType": "RANGE"}, {"AttributeName": "month", "KeyType": "RANGE"},
            {"AttributeName": "day", "KeyType": "RANGE"}]
    ddb.create_table(TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}], AttributeDefinitions=attrs,
                     BillingMode="PAY_PER_REQUEST",
                     GlobalSecondaryIndexes=[{"IndexName": "by-date", "KeySchema": keys,
                                              "Projection": {"ProjectionType": "ALL"}}])
    gsi = ddb.describe_table(TableName=name)["Table"]["GlobalSecondaryIndexes"][0]
    assert gsi["KeySchema"] == keys
    dates = [(2025, 12, 31), (2026, 1, 5), (2026, 1, 20), (2026, 2, 1), (2026, 10, 3), (2027, 1, 1)]
    for i, (y, m, d) in enumerate(dates):
        ddb.put_item(TableName=name, Item={"pk": {"S": f"i{i}"}, "tenant": {"S": "acme"}, "geo": {"S": "eu"},
                                           "year": {"N": str(y)}, "month": {"N": str(m)}, "day": {"N": str(d)}})
    ddb.put_item(TableName=name, Item={"pk": {"S": "other"}, "tenant": {"S": "acme"}, "geo": {"S": "us"},
                                       "year": {"N": "2026"}, "month": {"N": "1"}, "day": {"N": "1"}})
    ddb.put_item(TableName=name, Item={"pk": {"S": "dayless"}, "tenant": {"S": "acme"}, "geo": {"S": "eu"},
                                       "year": {"N": "2026"}, "month": {"N": "1"}})

    def query(cond, values, **kw):
        values = {k: ({"N": str(v)} if isinstance(v, int) else {"S": v}) for k, v in values.items()}
        return ddb.query(TableName=name, IndexName="by-date", KeyConditionExpression=cond,
                         ExpressionAttributeValues=values, **kw)

    def dates_of(r):
        return [(int(i["year"]["N"]), int(i["month"]["N"]), int(i["day"]["N"])) for i in r["Items"]]

    tenant = {":t": "acme", ":r": "eu"}
    assert dates_of(query("tenant = :t AND geo = :r", tenant)) == dates
    assert dates_of(query("geo = :r AND tenant = :t", tenant, ScanIndexForward=False)) == dates[::-1]
    assert dates_of(query("tenant = :t AND geo = :r AND #y = :y", dict(tenant, **{":y": 2026}),
                          ExpressionAttributeNames={"#y": "year"})) == dates[1:5]
    assert dates_of(query("tenant = :t AND geo = :r AND #y = :y AND #m BETWEEN :a AND :b",
                          dict(tenant, **{":y": 2026, ":a": 1, ":b": 2}),
                          ExpressionAttributeNames={"#y": "year", "#m": "month"})) == dates[1:4]
    assert dates_of(query("tenant = :t AND geo = :r AND #y = :y AND #m = :m AND #d > :d",
                          dict(tenant, **{":y": 2026, ":m": 1, ":d": 5}),
                          ExpressionAttributeNames={"#y": "year", "#m": "month", "#d": "day"})) == [(2026, 1, 20)]
    # Pages carry every index key attribute and the table's key.
    seen, start = [], None
    while True:
        r = query("tenant = :t AND geo = :r", tenant, Limit=2, **({"ExclusiveStartKey": start} if start else {}))
        seen += dates_of(r)
        start = r.get("LastEvaluatedKey")
        if not start:
            break
        assert set(start) == {"pk", "tenant", "geo", "year", "month", "day"}
    assert seen == dates

    code, msg, _ = error(query, "tenant = :t AND geo = :r AND #m = :m", dict(tenant, **{":m": 1}),
                         ExpressionAttributeNames={"#m": "month"})
    assert code == "ValidationException" and msg == (
        "RANGE key attributes year must have equality conditions specified in the query because a condition is present on key attribute month")
    code, msg, _ = error(query, "tenant = :t AND #y > :y AND #m = :m", {":t": "acme", ":y": 2025, ":m": 1},
                         ExpressionAttributeNames={"#y": "year", "#m": "month"})
    assert msg == "Query condition missed key schema element: geo"
    code, msg, _ = error(query, "tenant = :t AND geo = :r", tenant, ConsistentRead=True)
    assert msg == "Consistent reads are not supported on global secondary indexes"
    code, msg, _ = error(ddb.put_item, TableName=name, Item={"pk": {"S": "bad"}, "tenant": {"S": "acme"},
                                                             "geo": {"S": "eu"}, "year": {"S": "2026"}})
    assert code == "ValidationException" and "Type mismatch for Index Key year" in msg

    # Indexes added later are backfilled; schemas are checked as DynamoDB checks them.
    ddb.update_table(TableName=name, AttributeDefinitions=attrs, GlobalSecondaryIndexUpdates=[{"Create": {
        "IndexName": "by-geo", "KeySchema": [{"AttributeName": "geo", "KeyType": "HASH"},
                                                {"AttributeName": "tenant", "KeyType": "HASH"}],
        "Projection": {"ProjectionType": "KEYS_ONLY"}}}])
    r = ddb.query(TableName=name, IndexName="by-geo", KeyConditionExpression="geo = :r AND tenant = :t",
                  ExpressionAttributeValues={":r": {"S": "eu"}, ":t": {"S": "acme"}})
    assert r["Count"] == len(dates) + 1  # the dayless item has both of this index's attributes

    def create(gsi_keys, lsi=None):
        return error(ddb.create_table, TableName=tname("bad"), KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                                                           {"AttributeName": "sk", "KeyType": "RANGE"}],
                     AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in "pk sk a b c d e".split()],
                     BillingMode="PAY_PER_REQUEST",
                     GlobalSecondaryIndexes=[{"IndexName": "gsi", "KeySchema": gsi_keys, "Projection": {"ProjectionType": "ALL"}}],
                     **({"LocalSecondaryIndexes": [{"IndexName": "lsi", "KeySchema": lsi, "Projection": {"ProjectionType": "ALL"}}]} if lsi else {}))[1]

    h = lambda n: {"AttributeName": n, "KeyType": "HASH"}  # noqa: E731
    rk = lambda n: {"AttributeName": n, "KeyType": "RANGE"}  # noqa: E731
    assert create([h(n) for n in "abcde"]).endswith("The KeySchema exceeds the maximum allowed number of HASH key attributes")
    assert create([h("a"), rk("b"), h("c")]).endswith("All HASH key attributes must precede RANGE key attributes in the KeySchema")
    assert create([h("a"), rk("a")]).endswith("The KeySchema contains multiple key attributes with the same name")
    assert "less than or equal to 2" in create([h("a")], lsi=[h("pk"), rk("b"), rk("c")])


def test_key_size_and_tag_limits_in_dynamodbs_words(ddb):
    name = make_table(ddb)
    arn = ddb.describe_table(TableName=name)["Table"]["TableArn"]
    code, msg, _ = error(ddb.put_item, TableName=name, Item={"pk": {"S": "x" * 2049}, "sk": {"S": "a"}})
    assert code == "ValidationException" and msg == (
        "One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of2048 bytes")
    code, msg, _ = error(ddb.get_item, TableName=name, Key={"pk": {"S": "x"}, "sk": {"S": "s" * 1025}})
    assert msg == "One or more parameter values were invalid: Aggregated size of all range keys has exceeded the size limit of 1024 bytes"
    ddb.put_item(TableName=name, Item={"pk": {"S": "x" * 2048}, "sk": {"S": "s" * 1024}})
    assert ddb.get_item(TableName=name, Key={"pk": {"S": "x" * 2048}, "sk": {"S": "s" * 1024}})["Item"]

    code, msg, _ = error(ddb.tag_resource, ResourceArn=arn, Tags=[{"Key": "k" * 129, "Value": "v"}])
    assert code == "ValidationException" and msg.endswith(
        "at 'tags.1.member.key' failed to satisfy constraint: Member must have length less than or equal to 128")
    code, msg, _ = error(ddb.tag_resource, ResourceArn=arn, Tags=[{"Key": "a", "Value": "v"}, {"Key": "b", "Value": "v" * 257}])
    assert msg.endswith("at 'tags.2.member.value' failed to satisfy constraint: Member must have length less than or equal to 256")
    ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(50)])
    code, msg, _ = error(ddb.tag_resource, ResourceArn=arn, Tags=[{"Key": "one-more", "Value": "v"}])
    assert code == "ValidationException" and "cannot exceed 50" in msg
    assert len(ddb.list_tags_of_resource(ResourceArn=arn)["Tags"]) == 50, "a refused tagging changes nothing"
