"""IAM at its edges: a batch delete authorized key by key, KMS key policies that
must let a caller in, SecureStrings found by path, `aws:SourceIp`, a role session
that outlives neither its role nor its expiry (the server restarted under a clock
20 minutes ahead, with `faketime`)."""
import glob
import json
import os
import subprocess
import sys
import tempfile

import boto3
import botocore
import pytest
from botocore.config import Config

from conftest import Nimbus, unique

ACCOUNT = "000000000000"


def user_with(nimbus, statements):
    """A new user with an inline policy of `statements`: its ARN and a client maker."""
    iam = nimbus.client("iam")
    user = unique("edge-user")
    arn = iam.create_user(UserName=user)["User"]["Arn"]
    iam.put_user_policy(UserName=user, PolicyName="p",
                        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}))
    k = iam.create_access_key(UserName=user)["AccessKey"]
    session = boto3.Session(aws_access_key_id=k["AccessKeyId"], aws_secret_access_key=k["SecretAccessKey"],
                            region_name="us-east-1")
    cfg = Config(retries={"max_attempts": 1})
    return arn, lambda svc: session.client(svc, endpoint_url=nimbus.endpoint, config=cfg)


def denied(call, code="AccessDenied"):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call()
    assert e.value.response["Error"]["Code"] == code, e.value.response
    return e.value.response["Error"]["Message"]


def test_a_batch_delete_is_authorized_key_by_key(nimbus):
    s3 = nimbus.client("s3")
    bucket = unique("batch").lower()
    s3.create_bucket(Bucket=bucket)
    for k in ["tmp/a", "tmp/b", "keep/c"]:
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
    _, client = user_with(nimbus, [
        {"Effect": "Allow", "Action": "s3:DeleteObject", "Resource": f"arn:aws:s3:::{bucket}/tmp/*"}])
    out = client("s3").delete_objects(Bucket=bucket, Delete={"Objects": [
        {"Key": "tmp/a"}, {"Key": "keep/c"}, {"Key": "tmp/b"}]})
    assert sorted(d["Key"] for d in out["Deleted"]) == ["tmp/a", "tmp/b"]
    assert [(e["Key"], e["Code"]) for e in out["Errors"]] == [("keep/c", "AccessDenied")]
    assert "s3:DeleteObject" in out["Errors"][0]["Message"]
    left = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert left == ["keep/c"]


def test_a_key_policy_must_let_a_caller_in(nimbus):
    kms = nimbus.client("kms")
    alice, as_alice = user_with(nimbus, [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}])
    bob, as_bob = user_with(nimbus, [{"Effect": "Allow", "Action": "sts:GetCallerIdentity", "Resource": "*"}])
    # The default key policy delegates to IAM: alice's policy opens it, bob has none.
    default = kms.create_key()["KeyMetadata"]["Arn"]
    blob = as_alice("kms").encrypt(KeyId=default, Plaintext=b"hi")["CiphertextBlob"]
    assert as_alice("kms").decrypt(CiphertextBlob=blob)["Plaintext"] == b"hi"
    denied(lambda: as_bob("kms").encrypt(KeyId=default, Plaintext=b"hi"), "AccessDeniedException")
    # A key whose policy names only bob (and the root, to administer it): alice's
    # kms:* no longer counts, bob needs no IAM policy at all.
    policy = {"Version": "2012-10-17", "Statement": [
        {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
         "Action": ["kms:PutKeyPolicy", "kms:GetKeyPolicy", "kms:DescribeKey"], "Resource": "*"},
        {"Sid": "Bob", "Effect": "Allow", "Principal": {"AWS": bob},
         "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "*"}]}
    own = kms.create_key(Policy=json.dumps(policy))["KeyMetadata"]["Arn"]
    blob = as_bob("kms").encrypt(KeyId=own, Plaintext=b"secret")["CiphertextBlob"]
    assert as_bob("kms").decrypt(CiphertextBlob=blob)["Plaintext"] == b"secret"
    message = denied(lambda: as_alice("kms").encrypt(KeyId=own, Plaintext=b"x"), "AccessDeniedException")
    assert f"User: {alice} is not authorized to perform: kms:Encrypt" in message
    assert "no resource-based policy allows" in message
    # The account's administrative statement is delegation too: alice may
    # describe the key (kms:* in IAM, DescribeKey delegated) but not use it.
    assert as_alice("kms").describe_key(KeyId=own)["KeyMetadata"]["Arn"] == own


def test_secure_strings_found_by_path_need_their_keys(nimbus):
    ssm, kms = nimbus.client("ssm"), nimbus.client("kms")
    key = kms.create_key()["KeyMetadata"]["Arn"]
    root = f"/{unique('app')}"
    ssm.put_parameter(Name=f"{root}/url", Value="https://x", Type="String")
    ssm.put_parameter(Name=f"{root}/password", Value="hunter2", Type="SecureString", KeyId=key)
    _, client = user_with(nimbus, [
        {"Effect": "Allow", "Action": "ssm:GetParametersByPath",
         "Resource": f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter{root}"}])
    mine = client("ssm")
    found = mine.get_parameters_by_path(Path=root)["Parameters"]
    assert sorted(p["Name"] for p in found) == [f"{root}/password", f"{root}/url"]
    assert next(p for p in found if p["Name"].endswith("password"))["Value"] != "hunter2"
    message = denied(lambda: mine.get_parameters_by_path(Path=root, WithDecryption=True),
                     "AccessDeniedException")
    assert f"kms:Decrypt on resource: {key}" in message


def test_source_ip_conditions_see_the_clients_address(nimbus):
    _, near = user_with(nimbus, [{"Effect": "Allow", "Action": "sqs:ListQueues", "Resource": "*",
                                  "Condition": {"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}}}])
    _, far = user_with(nimbus, [{"Effect": "Allow", "Action": "sqs:ListQueues", "Resource": "*",
                                 "Condition": {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}}])
    near("sqs").list_queues()
    denied(lambda: far("sqs").list_queues())


def test_a_session_ends_with_its_role(nimbus):
    iam, sts = nimbus.client("iam"), nimbus.client("sts")
    name = unique("short-lived")
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}]})
    allow = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sqs:ListQueues", "Resource": "*"}]})

    def make():
        arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)["Role"]["Arn"]
        iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=allow)
        return arn

    c = sts.assume_role(RoleArn=make(), RoleSessionName="s1")["Credentials"]
    old = boto3.Session(aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"],
                        aws_session_token=c["SessionToken"], region_name="us-east-1").client(
        "sqs", endpoint_url=nimbus.endpoint, config=Config(retries={"max_attempts": 1}))
    old.list_queues()
    iam.delete_role_policy(RoleName=name, PolicyName="p")
    iam.delete_role(RoleName=name)
    make()  # the same name, a new role
    denied(lambda: old.list_queues())


EXPIRED_CALL = """
import boto3, botocore, json, sys
c = json.loads(sys.argv[1])
sts = boto3.Session(aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"],
                    aws_session_token=c["SessionToken"], region_name="us-east-1").client(
    "sts", endpoint_url=sys.argv[2], config=botocore.config.Config(retries={"max_attempts": 1}))
try:
    print(json.dumps({"ok": sts.get_caller_identity()["Arn"]}))
except botocore.exceptions.ClientError as e:
    print(json.dumps({"error": e.response["Error"]["Code"], "message": e.response["Error"]["Message"]}))
"""


def test_an_assumed_role_session_expires():
    """A 15-minute session works, then, with the server restarted 20 minutes
    later (its clock and the client's moved ahead by `faketime`), it is refused
    with ExpiredToken while the account's own key still works."""
    # libfaketime preloaded through `env` (which execs): the `faketime` command
    # forks, and stopping it would leave the server running.
    lib = next(iter(glob.glob("/usr/lib/*/faketime/libfaketime.so.1")), None)
    assert lib, "libfaketime is needed (Debian package faketime; .ci/run installs it)"
    later = ["env", f"LD_PRELOAD={lib}", "FAKETIME=+20m"]
    with tempfile.TemporaryDirectory(prefix="nimbus-expiry-") as d:
        n = Nimbus(d).start()
        try:
            iam, sts = n.client("iam"), n.client("sts")
            trust = json.dumps({"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": "sts:AssumeRole"}]})
            role = iam.create_role(RoleName="brief", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
            c = sts.assume_role(RoleArn=role, RoleSessionName="now", DurationSeconds=900)["Credentials"]
            creds = json.dumps({k: c[k] for k in ("AccessKeyId", "SecretAccessKey", "SessionToken")})

            def call(prefix):
                out = subprocess.run([*prefix, sys.executable, "-c", EXPIRED_CALL, creds, n.endpoint],
                                     capture_output=True, text=True, timeout=60)
                assert out.returncode == 0, out.stderr
                return json.loads(out.stdout)

            assert call([])["ok"].endswith(":assumed-role/brief/now")
        finally:
            n.stop()
        n = Later(d, prefix=later).start()
        try:
            got = call(later)
            assert got.get("error") == "ExpiredToken", got
            out = subprocess.run([*later, sys.executable, "-c",
                                  "import boto3,sys; print(boto3.Session(aws_access_key_id=sys.argv[1],"
                                  "aws_secret_access_key=sys.argv[2],region_name='us-east-1').client('sts',"
                                  "endpoint_url=sys.argv[3]).get_caller_identity()['Arn'])",
                                  *root_keys(n), n.endpoint],
                                 capture_output=True, text=True, timeout=60)
            assert out.returncode == 0, out.stderr
            assert out.stdout.strip() == f"arn:aws:iam::{ACCOUNT}:root"
        finally:
            n.stop()


class Later(Nimbus):
    """A server whose clock runs ahead: clients on the real clock would be
    refused as skewed, so the fixture's role (made at the first start) is
    not made again."""

    def ensure_role(self):
        pass


def root_keys(n):
    creds = {}
    for line in (n.data_dir / "credentials").read_text().splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            creds[k.strip()] = v.strip()
    return creds["aws_access_key_id"], creds["aws_secret_access_key"]


def anonymous_get(nimbus, path):
    import urllib.error
    import urllib.request
    try:
        with urllib.request.urlopen(f"{nimbus.endpoint}/{path}", timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_new_buckets_keep_acls_off_and_public_access_blocked(nimbus):
    s3 = nimbus.client("s3")
    bucket = unique("fresh").lower()
    s3.create_bucket(Bucket=bucket)
    assert s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"] == [
        {"ObjectOwnership": "BucketOwnerEnforced"}]
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values()) and len(block) == 4
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", ACL="private")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"x", ACL="public-read")
    assert e.value.response["Error"]["Code"] == "AccessControlListNotSupported"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.create_bucket(Bucket=unique("acl").lower(), ACL="public-read")
    assert e.value.response["Error"]["Code"] == "InvalidBucketAclWithObjectOwnership"
    public = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"}]})
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.put_bucket_policy(Bucket=bucket, Policy=public)
    assert e.value.response["Error"]["Code"] == "AccessDenied"
    assert "BlockPublicPolicy" in e.value.response["Error"]["Message"]
    # Anonymous requests reach nothing private.
    status, body = anonymous_get(nimbus, f"{bucket}/k")
    assert status == 403 and b"<Code>AccessDenied</Code>" in body


def test_anonymous_reads_what_a_public_policy_or_acl_opens(nimbus):
    s3 = nimbus.client("s3")
    site = unique("site").lower()
    s3.create_bucket(Bucket=site)
    s3.delete_public_access_block(Bucket=site)
    s3.put_object(Bucket=site, Key="index.html", Body=b"<h1>hi</h1>")
    public = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{site}/*"}]})
    s3.put_bucket_policy(Bucket=site, Policy=public)
    assert s3.get_bucket_policy_status(Bucket=site)["PolicyStatus"]["IsPublic"] is True
    assert anonymous_get(nimbus, f"{site}/index.html") == (200, b"<h1>hi</h1>")
    assert anonymous_get(nimbus, f"{site}?list-type=2")[0] == 403
    # RestrictPublicBuckets keeps a public policy from reaching anonymous callers.
    s3.put_public_access_block(Bucket=site, PublicAccessBlockConfiguration={
        "BlockPublicAcls": False, "IgnorePublicAcls": False, "BlockPublicPolicy": False,
        "RestrictPublicBuckets": True})
    assert anonymous_get(nimbus, f"{site}/index.html")[0] == 403

    # ACLs, on a bucket that allows them.
    shared = unique("acls").lower()
    s3.create_bucket(Bucket=shared, ObjectOwnership="ObjectWriter")
    s3.delete_public_access_block(Bucket=shared)
    s3.put_object(Bucket=shared, Key="open.txt", Body=b"open", ACL="public-read")
    s3.put_object(Bucket=shared, Key="closed.txt", Body=b"closed")
    assert anonymous_get(nimbus, f"{shared}/open.txt") == (200, b"open")
    assert anonymous_get(nimbus, f"{shared}/closed.txt")[0] == 403
    grants = s3.get_object_acl(Bucket=shared, Key="open.txt")["Grants"]
    assert {"Grantee": {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"},
            "Permission": "READ"} in grants
    assert any(g["Permission"] == "FULL_CONTROL" and g["Grantee"]["Type"] == "CanonicalUser" for g in grants)
    s3.put_object_acl(Bucket=shared, Key="open.txt", ACL="private")
    assert anonymous_get(nimbus, f"{shared}/open.txt")[0] == 403
    s3.put_bucket_acl(Bucket=shared, ACL="public-read")
    status, body = anonymous_get(nimbus, f"{shared}?list-type=2")
    assert status == 200 and b"<Key>closed.txt</Key>" in body
    # IgnorePublicAcls turns public grants off again.
    s3.put_public_access_block(Bucket=shared, PublicAccessBlockConfiguration={
        "BlockPublicAcls": False, "IgnorePublicAcls": True, "BlockPublicPolicy": False,
        "RestrictPublicBuckets": False})
    assert anonymous_get(nimbus, f"{shared}?list-type=2")[0] == 403


def test_principal_tags_reach_conditions(nimbus):
    iam = nimbus.client("iam")
    arn, client = user_with(nimbus, [{
        "Effect": "Allow", "Action": "sqs:ListQueues", "Resource": "*",
        "Condition": {"StringEquals": {"aws:PrincipalTag/team": "blue"}}}])
    user = arn.rsplit("/", 1)[1]
    denied(lambda: client("sqs").list_queues())
    iam.tag_user(UserName=user, Tags=[{"Key": "team", "Value": "blue"}])
    client("sqs").list_queues()
    iam.tag_user(UserName=user, Tags=[{"Key": "team", "Value": "red"}])
    denied(lambda: client("sqs").list_queues())


def test_attribute_based_access_matches_resource_and_principal_tags(nimbus):
    """AWS's ABAC pattern: a secret opens to whoever shares its team tag."""
    iam, sm = nimbus.client("iam"), nimbus.client("secretsmanager")
    blue = sm.create_secret(Name=unique("blue"), SecretString="b",
                            Tags=[{"Key": "team", "Value": "blue"}])["ARN"]
    red = sm.create_secret(Name=unique("red"), SecretString="r",
                           Tags=[{"Key": "team", "Value": "red"}])["ARN"]
    arn, client = user_with(nimbus, [{
        "Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*",
        "Condition": {"StringEquals": {"aws:ResourceTag/team": "${aws:PrincipalTag/team}"}}}])
    iam.tag_user(UserName=arn.rsplit("/", 1)[1], Tags=[{"Key": "team", "Value": "blue"}])
    mine = client("secretsmanager")
    assert mine.get_secret_value(SecretId=blue)["SecretString"] == "b"
    denied(lambda: mine.get_secret_value(SecretId=red), "AccessDeniedException")
    sm.tag_resource(SecretId=red, Tags=[{"Key": "team", "Value": "blue"}])
    assert mine.get_secret_value(SecretId=red)["SecretString"] == "r"


def test_request_tags_reach_conditions(nimbus):
    """A user may make queues only tagged for its team, and tag nothing else."""
    _, client = user_with(nimbus, [
        {"Effect": "Allow", "Action": ["sqs:CreateQueue", "sqs:TagQueue"], "Resource": "*",
         "Condition": {"StringEquals": {"aws:RequestTag/team": "blue"},
                       "ForAllValues:StringEquals": {"aws:TagKeys": ["team"]}}},
        {"Effect": "Allow", "Action": "sqs:UntagQueue", "Resource": "*",
         "Condition": {"ForAllValues:StringNotEquals": {"aws:TagKeys": ["team"]}}}])
    sqs = client("sqs")
    url = sqs.create_queue(QueueName=unique("blue"), tags={"team": "blue"})["QueueUrl"]
    denied(lambda: sqs.create_queue(QueueName=unique("red"), tags={"team": "red"}))
    denied(lambda: sqs.create_queue(QueueName=unique("untagged")))
    denied(lambda: sqs.tag_queue(QueueUrl=url, Tags={"team": "blue", "cost": "x"}))
    sqs.tag_queue(QueueUrl=url, Tags={"team": "blue"})
    denied(lambda: sqs.untag_queue(QueueUrl=url, TagKeys=["team"]))
    sqs.untag_queue(QueueUrl=url, TagKeys=["cost"])
