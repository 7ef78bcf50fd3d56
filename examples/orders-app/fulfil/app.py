from orders import table


def handler(event, context):
    table().update_item(Key={"id": event["id"]}, UpdateExpression="SET #s = :s",
                        ExpressionAttributeNames={"#s": "status"},
                        ExpressionAttributeValues={":s": "fulfilled"})
    return {"id": event["id"], "status": "fulfilled"}
