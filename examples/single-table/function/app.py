"""The audit log: fed by the shop table's stream, it records every change (INSERT,
MODIFY, REMOVE) with the item's old and new images in the audit table, keyed by the
changed item and the change's sequence number, so replays overwrite rather than
duplicate."""
import os

import boto3

ddb = boto3.client("dynamodb")
AUDIT = os.environ["AUDIT_TABLE"]


def handler(event, context):
    for record in event["Records"]:
        change = record["dynamodb"]
        keys = change["Keys"]
        item = {
            "pk": {"S": f"AUDIT#{keys['pk']['S']}#{keys['sk']['S']}"},
            "sk": {"S": change["SequenceNumber"]},
            "event": {"S": record["eventName"]},
            "at": {"N": str(change["ApproximateCreationDateTime"])},
        }
        if "OldImage" in change:
            item["old"] = {"M": change["OldImage"]}
        if "NewImage" in change:
            item["new"] = {"M": change["NewImage"]}
        ddb.put_item(TableName=AUDIT, Item=item)
    print(f"audited {len(event['Records'])} change(s)")
