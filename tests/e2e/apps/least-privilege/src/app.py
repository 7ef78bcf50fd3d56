import os

import boto3
from botocore.exceptions import ClientError


def handler(event, context):
    ddb = boto3.client("dynamodb")
    table = os.environ["TABLE"]
    read = ddb.get_item(TableName=table, Key={"id": {"S": "x"}}).get("Item")
    try:
        ddb.put_item(TableName=table, Item={"id": {"S": "x"}})
        write = "allowed"
    except ClientError as e:
        write = e.response["Error"]["Code"]
    name = os.environ["PARAMETER"]
    parameter = boto3.client("ssm").get_parameter(Name=name)["Parameter"]["Value"]
    return {"read": read, "write": write, "parameter": parameter}
