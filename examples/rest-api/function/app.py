"""A small REST API over the table store, behind an HTTP API (payload format 2.0):
GET /items lists items, GET /items/{id} returns one (404 when missing), POST /items
creates one from a JSON body and answers 201 with its Location."""
import json
import os
import uuid

import boto3

table = boto3.resource("dynamodb").Table(os.environ["TABLE"])


def answer(status, body, headers=None):
    return {"statusCode": status, "headers": {"content-type": "application/json", **(headers or {})},
            "body": json.dumps(body)}


def handler(event, context):
    route = event["routeKey"]
    if route == "GET /items":
        return answer(200, {"items": table.scan()["Items"]})
    if route == "GET /items/{id}":
        item = table.get_item(Key={"id": event["pathParameters"]["id"]}).get("Item")
        return answer(200, item) if item else answer(404, {"message": "no such item"})
    if route == "POST /items":
        try:
            data = json.loads(event.get("body") or "")
        except ValueError:
            return answer(400, {"message": "the body must be a JSON object"})
        if not isinstance(data, dict) or not data.get("name"):
            return answer(400, {"message": "an item needs a name"})
        item = {"id": uuid.uuid4().hex[:12], "name": str(data["name"])}
        table.put_item(Item=item)
        return answer(201, item, {"location": f"/items/{item['id']}"})
    return answer(404, {"message": "Not Found"})
