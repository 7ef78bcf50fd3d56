import json
import time

from greeting import greet

STARTED = time.time()  # init code: runs once per execution environment


def handler(event, context):
    return {"statusCode": 200, "headers": {"content-type": "application/json"},
            "body": json.dumps({"answer": greet("api"), "path": event.get("path")})}
