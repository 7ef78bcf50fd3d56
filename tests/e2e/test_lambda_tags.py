"""Function tags: on create, TagResource / UntagResource / ListTags, in GetFunction, and
as `aws:ResourceTag` to IAM."""
import json

import boto3
import botocore
import pytest
from botocore.config import Config

from conftest import ROLE, make_zip, unique

CODE = "def lambda_handler(event, context):\n    return 'ok'\n"


def test_tags_round_trip(nimbus, lam):
    name = unique("tagged")
    arn = lam.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.lambda_handler",
                              Code={"ZipFile": make_zip({"app.py": CODE})},
                              Tags={"team": "blue"})["FunctionArn"]
    assert lam.list_tags(Resource=arn)["Tags"] == {"team": "blue"}
    lam.tag_resource(Resource=arn, Tags={"cost": "42", "team": "red"})
    assert lam.list_tags(Resource=arn)["Tags"] == {"team": "red", "cost": "42"}
    assert lam.get_function(FunctionName=name)["Tags"] == {"team": "red", "cost": "42"}
    lam.untag_resource(Resource=arn, TagKeys=["cost"])
    assert lam.list_tags(Resource=arn)["Tags"] == {"team": "red"}
    for bad in [{"aws:reserved": "x"}, {"k" * 129: "x"}]:
        with pytest.raises(botocore.exceptions.ClientError) as e:
            lam.tag_resource(Resource=arn, Tags=bad)
        assert e.value.response["Error"]["Code"] == "InvalidParameterValueException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.tag_resource(Resource=arn + ":$LATEST", Tags={"a": "b"})
    assert e.value.response["Error"]["Code"] == "InvalidParameterValueException"
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.list_tags(Resource=arn + "-missing")


def test_invocations_can_be_allowed_by_the_functions_tags(nimbus, lam):
    iam = nimbus.client("iam")
    name = unique("abac-fn")
    arn = lam.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.lambda_handler",
                              Code={"ZipFile": make_zip({"app.py": CODE})})["FunctionArn"]
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    user = unique("invoker")
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "*",
            "Condition": {"StringEquals": {"aws:ResourceTag/team": "blue"}}}]}))
    k = iam.create_access_key(UserName=user)["AccessKey"]
    mine = boto3.Session(aws_access_key_id=k["AccessKeyId"], aws_secret_access_key=k["SecretAccessKey"],
                         region_name="us-east-1").client(
        "lambda", endpoint_url=nimbus.endpoint, config=Config(retries={"max_attempts": 1}))
    with pytest.raises(botocore.exceptions.ClientError) as e:
        mine.invoke(FunctionName=name)
    assert e.value.response["Error"]["Code"] == "AccessDeniedException"
    lam.tag_resource(Resource=arn, Tags={"team": "blue"})
    assert mine.invoke(FunctionName=name)["Payload"].read() == b'"ok"'
