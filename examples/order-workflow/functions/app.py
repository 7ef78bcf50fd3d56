"""The order workflow's steps, one Lambda function each (same package, several handlers).

Errors are raised as exception classes: Step Functions matches them by name
(`errorType`) in the state machine's Retry and Catch.
"""
import os
import time

import boto3

TABLE = os.environ.get("TABLE", "orders")
ATTEMPTS = {}


class ValidationError(Exception):
    pass


class PaymentTimeout(Exception):
    pass


def validate(event, context):
    items = event.get("items") or []
    if not items:
        raise ValidationError("an order needs at least one item")
    for item in items:
        if item.get("qty", 0) <= 0:
            raise ValidationError(f"bad quantity for {item.get('sku')}")
    return {"total": sum(i["price"] * i["qty"] for i in items)}


def pay(event, context):
    # The payment provider times out on the first try of orders that ask it to,
    # so the Retry's back-off can be seen in the execution's history.
    order = event["order_id"]
    ATTEMPTS[order] = ATTEMPTS.get(order, 0) + 1
    if ATTEMPTS[order] <= event.get("flaky_payments", 0):
        raise PaymentTimeout(f"payment provider timed out (attempt {ATTEMPTS[order]})")
    return {"charged": event["total"], "attempts": ATTEMPTS[order], "at": time.time()}


def reserve(event, context):
    boto3.client("dynamodb").put_item(
        TableName=TABLE,
        Item={"pk": {"S": f"ORDER#{event['order_id']}"}, "status": {"S": "RESERVED"},
              "skus": {"SS": sorted({i["sku"] for i in event["items"]})}},
    )
    return {"reserved": len(event["items"])}


def confirm(event, context):
    return {"emailed": event["email"], "subject": f"Order {event['order_id']} confirmed"}
