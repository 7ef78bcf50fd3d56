import json
import os

import boto3

sfn = boto3.client("stepfunctions")


def handler(event, context):
    failures = []
    for record in event["Records"]:
        job = json.loads(record["body"])
        if job["item"] == "poison":
            # Cannot be made: it goes back to the queue, and after the queue's
            # maxReceiveCount to the dead-letter queue.
            failures.append({"itemIdentifier": record["messageId"]})
            continue
        sfn.start_execution(stateMachineArn=os.environ["FLOW"], input=json.dumps(job))
    return {"batchItemFailures": failures}
