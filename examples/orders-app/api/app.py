import base64
import json

from orders import answer, table


def handler(event, context):
    if event["routeKey"] == "POST /orders":
        body = event.get("body") or ""
        if event.get("isBase64Encoded"):
            body = base64.b64decode(body)
        try:
            order = json.loads(body)
            assert isinstance(order, dict) and order.get("id") and order.get("item")
        except (ValueError, AssertionError):
            return answer(400, {"message": "an order is {\"id\": ..., \"item\": ...}"})
        table().put_item(Item={"id": order["id"], "item": order["item"], "status": "new"})
        return answer(201, {"id": order["id"], "status": "new"})
    got = table().get_item(Key={"id": event["pathParameters"]["id"]}).get("Item")
    if got is None:
        return answer(404, {"message": "no such order"})
    return answer(200, got)
