import json
import os

import boto3

sqs = boto3.client("sqs")


def handler(event, context):
    for record in event["Records"]:
        if record["eventName"] != "INSERT":
            continue
        image = record["dynamodb"]["NewImage"]
        job = {"id": image["id"]["S"], "item": image["item"]["S"]}
        sqs.send_message(QueueUrl=os.environ["QUEUE"], MessageBody=json.dumps(job))
