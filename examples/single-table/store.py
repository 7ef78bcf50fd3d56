"""A single-table store of users and their orders (PK = USER#<id>, SK = PROFILE or
ORDER#<date>#<id>), used the way an application would: conditional writes, a query
with begins_with for a user's orders, an update and a delete; then it reads back the
audit trail the stream-fed function wrote. Run by deploy.sh."""
import os
import sys
import time
from decimal import Decimal

import boto3
from boto3.dynamodb.conditions import Attr, Key

prefix = os.environ.get("PREFIX", "shop")
ddb = boto3.resource("dynamodb")
shop = ddb.Table(prefix)
audit = ddb.Table(f"{prefix}-audit")

shop.put_item(Item={"pk": "USER#42", "sk": "PROFILE", "name": "Ada", "email": "ada@example.com"},
              ConditionExpression=Attr("pk").not_exists())
for day, oid, total in [("2026-11-01", "a1", Decimal("19.90")), ("2026-11-15", "b2", Decimal("5")),
                        ("2026-11-20", "c3", Decimal("42.00"))]:
    shop.put_item(Item={"pk": "USER#42", "sk": f"ORDER#{day}#{oid}", "total": total, "status": "placed"})

orders = shop.query(KeyConditionExpression=Key("pk").eq("USER#42") & Key("sk").begins_with("ORDER#"))["Items"]
print("orders of USER#42:", ", ".join(f"{o['sk']} ({o['total']})" for o in orders))
november_second_half = shop.query(
    KeyConditionExpression=Key("pk").eq("USER#42") & Key("sk").between("ORDER#2026-11-15", "ORDER#2026-11-31"))["Items"]
print("from the 15th on:", len(november_second_half))

shop.update_item(Key={"pk": "USER#42", "sk": "ORDER#2026-11-15#b2"},
                 UpdateExpression="SET #s = :shipped", ConditionExpression=Attr("status").eq("placed"),
                 ExpressionAttributeNames={"#s": "status"}, ExpressionAttributeValues={":shipped": "shipped"})
shop.delete_item(Key={"pk": "USER#42", "sk": "ORDER#2026-11-01#a1"})

# The audit function runs asynchronously from the stream: wait for its five entries.
deadline = time.time() + 60
entries = []
while time.time() < deadline:
    entries = audit.scan()["Items"]
    if len(entries) >= 6:
        break
    time.sleep(0.5)
for e in sorted(entries, key=lambda e: e["sk"]):
    old = e.get("old", {}).get("status")
    new = e.get("new", {}).get("status")
    print(f"{e['event']:<6} {e['pk']:<34} status {old} -> {new}")
events = sorted(e["event"] for e in entries)
ok = events == ["INSERT"] * 4 + ["MODIFY", "REMOVE"]
print("audit trail complete" if ok else f"audit trail incomplete: {events}")
sys.exit(0 if ok else 1)
