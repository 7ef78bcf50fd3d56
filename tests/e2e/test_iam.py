"""IAM and STS with boto3 and the AWS CLI: users and their keys signing requests,
roles with trust policies, managed and inline policies, AssumeRole's temporary
credentials, AWS's error codes, and identities surviving a kill -9."""
import json
import signal
import tempfile

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import Nimbus, unique

ACCOUNT = "000000000000"
TRUST_ACCOUNT = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                   "Action": "sts:AssumeRole"}],
}
TRUST_LAMBDA = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                   "Action": "sts:AssumeRole"}],
}
READ = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:PutItem"],
                   "Resource": f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/users"}],
}


@pytest.fixture(scope="module")
def iam(nimbus):
    return nimbus.client("iam")


@pytest.fixture(scope="module")
def sts(nimbus):
    return nimbus.client("sts")


def client_with(nimbus, service, creds):
    return boto3.client(service, endpoint_url=nimbus.endpoint, region_name="us-east-1",
                        config=Config(retries={"max_attempts": 1}), **creds)


def code(e):
    return e.value.response["Error"]["Code"]


def test_root_is_the_caller_of_the_platform_key(sts):
    me = sts.get_caller_identity()
    assert me["Arn"] == f"arn:aws:iam::{ACCOUNT}:root"
    assert me["Account"] == ACCOUNT and me["UserId"] == ACCOUNT


def test_user_keys_sign_requests(nimbus, iam):
    name = unique("alice")
    user = iam.create_user(UserName=name, Path="/dev/", Tags=[{"Key": "team", "Value": "a"}])["User"]
    assert user["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/dev/{name}"
    assert user["UserId"].startswith("AIDA")
    # IAM is enforced: alice may read her own user and list functions.
    iam.put_user_policy(UserName=name, PolicyName="self", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "iam:GetUser", "Resource": user["Arn"]},
            {"Effect": "Allow", "Action": "lambda:ListFunctions", "Resource": "*"}]}))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    assert key["AccessKeyId"].startswith("AKIA") and key["Status"] == "Active"
    creds = dict(aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])
    me = client_with(nimbus, "sts", creds).get_caller_identity()
    assert me["Arn"] == user["Arn"] and me["UserId"] == user["UserId"]
    # GetUser without a name answers about the caller.
    assert client_with(nimbus, "iam", creds).get_user()["User"]["UserName"] == name
    # The key works for every service's authentication, not only IAM's.
    client_with(nimbus, "lambda", creds).list_functions()
    listed = iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in listed] == [key["AccessKeyId"]]
    iam.create_access_key(UserName=name)
    with pytest.raises(ClientError) as e:
        iam.create_access_key(UserName=name)
    assert code(e) == "LimitExceeded"
    # An inactive key no longer signs anything.
    iam.update_access_key(UserName=name, AccessKeyId=key["AccessKeyId"], Status="Inactive")
    with pytest.raises(ClientError) as e:
        client_with(nimbus, "sts", creds).get_caller_identity()
    assert code(e) == "InvalidClientTokenId"
    assert iam.list_user_tags(UserName=name)["Tags"] == [{"Key": "team", "Value": "a"}]


def test_roles_policies_and_errors(iam):
    name = unique("app-role")
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST_LAMBDA),
                           Description="for a function", Tags=[{"Key": "env", "Value": "dev"}])["Role"]
    assert role["Arn"] == f"arn:aws:iam::{ACCOUNT}:role/{name}" and role["RoleId"].startswith("AROA")
    assert role["AssumeRolePolicyDocument"] == TRUST_LAMBDA
    got = iam.get_role(RoleName=name)["Role"]
    assert got["Description"] == "for a function" and got["MaxSessionDuration"] == 3600
    with pytest.raises(ClientError) as e:
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST_LAMBDA))
    assert code(e) == "EntityAlreadyExists"
    with pytest.raises(ClientError) as e:
        iam.get_role(RoleName=name + "-nope")
    assert code(e) == "NoSuchEntity"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404

    basic = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
    iam.attach_role_policy(RoleName=name, PolicyArn=basic)
    attached = iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
    assert attached == [{"PolicyName": "AWSLambdaBasicExecutionRole", "PolicyArn": basic}]
    aws_policy = iam.get_policy(PolicyArn=basic)["Policy"]
    assert aws_policy["AttachmentCount"] >= 1
    version = iam.get_policy_version(PolicyArn=basic, VersionId=aws_policy["DefaultVersionId"])
    assert "logs:PutLogEvents" in json.dumps(version["PolicyVersion"]["Document"])

    iam.put_role_policy(RoleName=name, PolicyName="table", PolicyDocument=json.dumps(READ))
    assert iam.get_role_policy(RoleName=name, PolicyName="table")["PolicyDocument"] == READ
    assert iam.list_role_policies(RoleName=name)["PolicyNames"] == ["table"]
    with pytest.raises(ClientError) as e:
        iam.put_role_policy(RoleName=name, PolicyName="bad", PolicyDocument="{")
    assert code(e) == "MalformedPolicyDocument"
    with pytest.raises(ClientError) as e:
        iam.delete_role(RoleName=name)
    assert code(e) == "DeleteConflict"

    iam.tag_role(RoleName=name, Tags=[{"Key": "owner", "Value": "me"}])
    iam.untag_role(RoleName=name, TagKeys=["env"])
    assert iam.list_role_tags(RoleName=name)["Tags"] == [{"Key": "owner", "Value": "me"}]
    assert name in [r["RoleName"] for r in iam.list_roles()["Roles"]]

    iam.detach_role_policy(RoleName=name, PolicyArn=basic)
    iam.delete_role_policy(RoleName=name, PolicyName="table")
    iam.delete_role(RoleName=name)


def test_managed_policy_versions(iam):
    name = unique("tables")
    arn = iam.create_policy(PolicyName=name, PolicyDocument=json.dumps(READ),
                            Description="read users")["Policy"]["Arn"]
    assert arn == f"arn:aws:iam::{ACCOUNT}:policy/{name}"
    v2 = dict(READ, Statement=[dict(READ["Statement"][0], Action="dynamodb:*")])
    assert iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(v2))["PolicyVersion"]["VersionId"] == "v2"
    assert iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"] == "v1"
    iam.set_default_policy_version(PolicyArn=arn, VersionId="v2")
    assert iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"] == "v2"
    assert iam.get_policy_version(PolicyArn=arn, VersionId="v2")["PolicyVersion"]["Document"] == v2
    versions = iam.list_policy_versions(PolicyArn=arn)["Versions"]
    assert [(v["VersionId"], v["IsDefaultVersion"]) for v in versions] == [("v2", True), ("v1", False)]
    with pytest.raises(ClientError) as e:
        iam.delete_policy_version(PolicyArn=arn, VersionId="v2")
    assert code(e) == "DeleteConflict"
    local = [p["Arn"] for p in iam.list_policies(Scope="Local")["Policies"]]
    assert arn in local
    aws = [p["Arn"] for p in iam.list_policies(Scope="AWS", MaxItems=1000)["Policies"]]
    assert "arn:aws:iam::aws:policy/AdministratorAccess" in aws and arn not in aws
    # Paging: every policy once, page by page.
    seen, kw = [], {}
    while True:
        page = iam.list_policies(Scope="AWS", MaxItems=5, **kw)
        seen += [p["Arn"] for p in page["Policies"]]
        if not page["IsTruncated"]:
            break
        kw = {"Marker": page["Marker"]}
    assert seen == aws
    iam.delete_policy_version(PolicyArn=arn, VersionId="v1")
    iam.delete_policy(PolicyArn=arn)


def test_groups(iam):
    user, group = unique("bob"), unique("devs")
    iam.create_user(UserName=user)
    iam.create_group(GroupName=group)
    iam.add_user_to_group(GroupName=group, UserName=user)
    assert [u["UserName"] for u in iam.get_group(GroupName=group)["Users"]] == [user]
    assert [g["GroupName"] for g in iam.list_groups_for_user(UserName=user)["Groups"]] == [group]
    iam.put_group_policy(GroupName=group, PolicyName="p", PolicyDocument=json.dumps(READ))
    assert iam.get_group_policy(GroupName=group, PolicyName="p")["PolicyDocument"] == READ
    with pytest.raises(ClientError) as e:
        iam.delete_user(UserName=user)
    assert code(e) == "DeleteConflict"
    iam.remove_user_from_group(GroupName=group, UserName=user)
    iam.delete_group_policy(GroupName=group, PolicyName="p")
    iam.delete_group(GroupName=group)
    iam.delete_user(UserName=user)


def test_assume_role_round_trip(nimbus, iam, sts):
    name = unique("ops")
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST_ACCOUNT))["Role"]
    iam.put_role_policy(RoleName=name, PolicyName="list", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Action": ["dynamodb:ListTables", "s3:ListAllMyBuckets"], "Resource": "*"}]}))
    out = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="deploy", DurationSeconds=900)
    c = out["Credentials"]
    assert c["AccessKeyId"].startswith("ASIA") and c["SessionToken"]
    assert out["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{name}/deploy"
    assert out["AssumedRoleUser"]["AssumedRoleId"] == f"{role['RoleId']}:deploy"
    creds = dict(aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"],
                 aws_session_token=c["SessionToken"])
    me = client_with(nimbus, "sts", creds).get_caller_identity()
    assert me["Arn"] == out["AssumedRoleUser"]["Arn"]
    assert me["UserId"] == out["AssumedRoleUser"]["AssumedRoleId"]
    # Temporary keys authenticate other services too.
    client_with(nimbus, "dynamodb", creds).list_tables()
    client_with(nimbus, "s3", creds).list_buckets()
    # A forged or missing session token is refused.
    forged = dict(creds, aws_session_token="forged")
    with pytest.raises(ClientError) as e:
        client_with(nimbus, "sts", forged).get_caller_identity()
    assert code(e) == "InvalidClientTokenId"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    no_token = {k: v for k, v in creds.items() if k != "aws_session_token"}
    with pytest.raises(ClientError) as e:
        client_with(nimbus, "dynamodb", no_token).list_tables()
    assert code(e) == "UnrecognizedClientException"
    # The trust policy decides: a role trusting only Lambda cannot be assumed.
    lam_role = iam.create_role(RoleName=unique("fn"), AssumeRolePolicyDocument=json.dumps(TRUST_LAMBDA))["Role"]
    with pytest.raises(ClientError) as e:
        sts.assume_role(RoleArn=lam_role["Arn"], RoleSessionName="x1")
    assert code(e) == "AccessDenied"
    with pytest.raises(ClientError) as e:
        sts.assume_role(RoleArn=role["Arn"], RoleSessionName="x1", DurationSeconds=7200)
    assert code(e) == "ValidationError"
    token = sts.get_session_token(DurationSeconds=900)["Credentials"]
    assert token["AccessKeyId"].startswith("ASIA")


def test_external_id(iam, sts):
    trust = {"Version": "2012-10-17", "Statement": [dict(
        TRUST_ACCOUNT["Statement"][0], Condition={"StringEquals": {"sts:ExternalId": "abc-1"}})]}
    arn = iam.create_role(RoleName=unique("partner"), AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    with pytest.raises(ClientError) as e:
        sts.assume_role(RoleArn=arn, RoleSessionName="p1")
    assert code(e) == "AccessDenied"
    assert sts.assume_role(RoleArn=arn, RoleSessionName="p1", ExternalId="abc-1")["Credentials"]


def test_aws_cli(nimbus):
    name = unique("cli-role")
    ep = ("--endpoint-url", nimbus.endpoint)
    nimbus.aws("iam", "create-role", "--role-name", name,
               "--assume-role-policy-document", json.dumps(TRUST_LAMBDA), *ep)
    roles = json.loads(nimbus.aws("iam", "list-roles", *ep).stdout)["Roles"]
    assert name in [r["RoleName"] for r in roles]
    me = json.loads(nimbus.aws("sts", "get-caller-identity", *ep).stdout)
    assert me["Account"] == ACCOUNT
    res = nimbus.aws("iam", "get-role", "--role-name", name + "-nope", *ep, check=False)
    assert res.returncode != 0 and "NoSuchEntity" in res.stderr


def test_identities_survive_kill_9():
    with tempfile.TemporaryDirectory(prefix="nimbus-iam-kill-") as d:
        n = Nimbus(d).start()
        iam = n.client("iam")
        iam.create_user(UserName="durable")
        key = iam.create_access_key(UserName="durable")["AccessKey"]
        role = iam.create_role(RoleName="durable-role", AssumeRolePolicyDocument=json.dumps(TRUST_ACCOUNT))["Role"]
        iam.put_role_policy(RoleName="durable-role", PolicyName="p", PolicyDocument=json.dumps(READ))
        session = n.client("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="s1")["Credentials"]
        n.stop(signal.SIGKILL)
        n2 = Nimbus(d).start()
        try:
            iam2 = n2.client("iam")
            assert iam2.get_role(RoleName="durable-role")["Role"]["RoleId"] == role["RoleId"]
            assert iam2.get_role_policy(RoleName="durable-role", PolicyName="p")["PolicyDocument"] == READ
            creds = dict(aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])
            assert client_with(n2, "sts", creds).get_caller_identity()["Arn"].endswith(":user/durable")
            temp = dict(aws_access_key_id=session["AccessKeyId"], aws_secret_access_key=session["SecretAccessKey"],
                        aws_session_token=session["SessionToken"])
            assert "assumed-role/durable-role/s1" in client_with(n2, "sts", temp).get_caller_identity()["Arn"]
        finally:
            n2.stop()
