"""Processes orders from a queue. An order without a positive quantity cannot be
processed: it is reported back as a batch item failure, so only it returns to the
queue (and, after maxReceiveCount tries, lands in the dead-letter queue); every good
order is processed once, recorded under processed/ in a bucket."""
import json
import os

import boto3

s3 = boto3.client("s3")
BUCKET = os.environ["RESULTS_BUCKET"]


def handler(event, context):
    failures = []
    for record in event["Records"]:
        order = json.loads(record["body"])
        if order.get("quantity", 0) <= 0:
            print(f"order {order.get('id')} rejected: no quantity")
            failures.append({"itemIdentifier": record["messageId"]})
            continue
        s3.put_object(Bucket=BUCKET, Key=f"processed/{order['id']}",
                      Body=json.dumps({"order": order, "receives": record["attributes"]["ApproximateReceiveCount"]}))
    return {"batchItemFailures": failures}
