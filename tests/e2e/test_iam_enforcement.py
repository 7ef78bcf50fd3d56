"""IAM enforced on every request: a function runs as its execution role and may do
exactly what the role's policies allow; a user's key opens only what its policy
allows; denials carry each service's own error code and AWS's message; `--iam off`
allows every signed request."""
import base64
import json
import tempfile
import urllib.error
import urllib.parse
import urllib.request

import boto3
import botocore
import botocore.auth
import botocore.awsrequest
import pytest
from botocore.config import Config

from conftest import Nimbus, ROLE, create, invoke, make_zip, unique

ACCOUNT = "000000000000"

# Runs each call the event names and reports "ok" or the error's code and
# message; also what it signs with.
APP = '''
import os
import boto3
import botocore

def lambda_handler(event, context):
    out = {}
    for name, (service, op, kw) in event.items():
        try:
            getattr(boto3.client(service), op)(**kw)
            out[name] = "ok"
        except botocore.exceptions.ClientError as e:
            out[name] = e.response["Error"]["Code"] + ": " + e.response["Error"].get("Message", "")
    out["__key"] = os.environ.get("AWS_ACCESS_KEY_ID")
    out["__token"] = bool(os.environ.get("AWS_SESSION_TOKEN"))
    out["__arn"] = boto3.client("sts").get_caller_identity()["Arn"]
    return out
'''

LAMBDA_TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


def key(table, k):
    return {"TableName": table, "Key": {"id": {"S": k}}}


def least_privilege(table, bucket, secret_arn):
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:PutItem"],
         "Resource": f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/{table}"},
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/in/*"},
        {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": secret_arn},
        {"Effect": "Allow", "Action": "sts:GetCallerIdentity", "Resource": "*"},
    ]})


def make_table(ddb, name):
    ddb.create_table(TableName=name, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST")


def test_a_function_may_do_what_its_role_allows_and_nothing_else(nimbus, lam):
    ddb, s3, iam = nimbus.client("dynamodb"), nimbus.client("s3"), nimbus.client("iam")
    users, other, bucket = unique("users"), unique("other"), unique("data").lower()
    make_table(ddb, users)
    make_table(ddb, other)
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="in/a.txt", Body=b"a")
    s3.put_object(Bucket=bucket, Key="out/b.txt", Body=b"b")
    sm = nimbus.client("secretsmanager")
    db_secret = sm.create_secret(Name=unique("db-password"), SecretString="hunter2")["ARN"]
    other_secret = sm.create_secret(Name=unique("other-password"), SecretString="swordfish")["ARN"]
    role = unique("app-role")
    arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=LAMBDA_TRUST)["Role"]["Arn"]
    iam.put_role_policy(RoleName=role, PolicyName="app", PolicyDocument=least_privilege(users, bucket, db_secret))
    name = unique("leastpriv")
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=arn, Handler="app.lambda_handler",
                        Code={"ZipFile": make_zip({"app.py": APP})}, Timeout=30)
    item = {"TableName": users, "Item": {"id": {"S": "1"}}}
    out = invoke(lam, name, {
        "put": ["dynamodb", "put_item", item],
        "get": ["dynamodb", "get_item", key(users, "1")],
        "scan": ["dynamodb", "scan", {"TableName": users}],
        "other_table": ["dynamodb", "get_item", key(other, "1")],
        "get_in": ["s3", "get_object", {"Bucket": bucket, "Key": "in/a.txt"}],
        "get_out": ["s3", "get_object", {"Bucket": bucket, "Key": "out/b.txt"}],
        "put_in": ["s3", "put_object", {"Bucket": bucket, "Key": "in/c.txt", "Body": "c"}],
        "list_functions": ["lambda", "list_functions", {}],
        "secret": ["secretsmanager", "get_secret_value", {"SecretId": db_secret}],
        "other_secret": ["secretsmanager", "get_secret_value", {"SecretId": other_secret}],
    })["Body"]
    assert out["put"] == out["get"] == out["get_in"] == out["secret"] == "ok", out
    assert out["other_secret"].startswith("AccessDeniedException: ") and "secretsmanager:GetSecretValue" in out["other_secret"]
    session = f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{name}"
    assert out["__arn"] == session
    assert out["scan"] == (
        f"AccessDeniedException: User: {session} is not authorized to perform: dynamodb:Scan on resource: "
        f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/{users} because no identity-based policy allows "
        "the dynamodb:Scan action"), out
    assert out["other_table"].startswith("AccessDeniedException: "), out
    assert out["get_out"].startswith("AccessDenied: ") and "s3:GetObject" in out["get_out"], out
    assert out["put_in"].startswith("AccessDenied: ") and "s3:PutObject" in out["put_in"], out
    assert out["list_functions"].startswith("AccessDeniedException: ") and "lambda:ListFunctions" in out["list_functions"]
    # The function signs with its role's session, never the platform's key.
    root_key = nimbus.session().get_credentials().access_key
    assert out["__key"].startswith("ASIA") and out["__key"] != root_key and out["__token"], out
    # Nothing was written where the role may not write.
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix="in/c")


def test_functions_need_a_role_lambda_may_assume(nimbus, lam):
    iam = nimbus.client("iam")
    code = {"ZipFile": make_zip({"app.py": "def lambda_handler(e, c):\n    return 1\n"})}
    missing = f"arn:aws:iam::{ACCOUNT}:role/{unique('nobody')}"
    role = unique("ec2-role")
    ec2 = iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps({"Statement": [{
        "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))
    for bad in [missing, ec2["Role"]["Arn"]]:
        with pytest.raises(botocore.exceptions.ClientError) as e:
            lam.create_function(FunctionName=unique("norole"), Runtime="python3.12", Role=bad,
                                Handler="app.lambda_handler", Code=code)
        assert e.value.response["Error"]["Code"] == "InvalidParameterValueException"
        assert "cannot be assumed by Lambda" in e.value.response["Error"]["Message"]
    name = unique("withrole")
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="app.lambda_handler", Code=code)
    assert invoke(lam, name)["Body"] == 1


def user_clients(nimbus, policy):
    iam = nimbus.client("iam")
    user = unique("reader")
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=json.dumps(policy))
    k = iam.create_access_key(UserName=user)["AccessKey"]
    session = boto3.Session(aws_access_key_id=k["AccessKeyId"], aws_secret_access_key=k["SecretAccessKey"],
                            region_name="us-east-1")
    cfg = Config(retries={"max_attempts": 1})
    return user, lambda svc: session.client(svc, endpoint_url=nimbus.endpoint, config=cfg)


def test_a_user_key_opens_only_what_its_policy_allows(nimbus):
    s3 = nimbus.client("s3")
    bucket = unique("share").lower()
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="reports/q1.txt", Body=b"q1")
    s3.put_object(Bucket=bucket, Key="private/k.txt", Body=b"k")
    user, client = user_clients(nimbus, {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/reports/*"}]})
    mine = client("s3")
    assert mine.get_object(Bucket=bucket, Key="reports/q1.txt")["Body"].read() == b"q1"
    for call in [lambda: mine.get_object(Bucket=bucket, Key="private/k.txt"),
                 lambda: mine.list_objects_v2(Bucket=bucket),
                 lambda: mine.put_object(Bucket=bucket, Key="reports/q2.txt", Body=b"x")]:
        with pytest.raises(botocore.exceptions.ClientError) as e:
            call()
        assert e.value.response["Error"]["Code"] == "AccessDenied"
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        assert f"User: arn:aws:iam::{ACCOUNT}:user/{user} is not authorized" in e.value.response["Error"]["Message"]
    # Each service answers with its own code.
    with pytest.raises(botocore.exceptions.ClientError) as e:
        client("sqs").list_queues()
    assert e.value.response["Error"]["Code"] in ("AccessDenied", "AccessDeniedException")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        client("iam").list_users()
    assert e.value.response["Error"]["Code"] == "AccessDenied"
    # Who one is needs no permission.
    assert client("sts").get_caller_identity()["Arn"].endswith(f":user/{user}")


def test_an_explicit_deny_wins_and_says_so(nimbus):
    _, client = user_clients(nimbus, {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sqs:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "sqs:DeleteQueue", "Resource": "*"}]})
    sqs = client("sqs")
    url = sqs.create_queue(QueueName=unique("q"))["QueueUrl"]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sqs.delete_queue(QueueUrl=url)
    assert "with an explicit deny in an identity-based policy" in e.value.response["Error"]["Message"]
    assert sqs.get_queue_url(QueueName=url.rsplit("/", 1)[1])["QueueUrl"] == url


def test_iam_off_allows_every_signed_request():
    with tempfile.TemporaryDirectory(prefix="nimbus-iam-off-") as d:
        n = Nimbus(d, extra_args=["--iam", "off"]).start()
        try:
            iam = n.client("iam")
            iam.create_user(UserName="nobody-special")
            k = iam.create_access_key(UserName="nobody-special")["AccessKey"]
            s = boto3.Session(aws_access_key_id=k["AccessKeyId"], aws_secret_access_key=k["SecretAccessKey"],
                              region_name="us-east-1")
            sqs = s.client("sqs", endpoint_url=n.endpoint)
            assert "QueueUrl" in sqs.create_queue(QueueName="anything-goes")
        finally:
            n.stop()


# Reads every file it can (outside /proc, /sys and /dev) and its environment, and
# says whether any holds the given strings.
SNOOP = '''
import base64
import os

def lambda_handler(event, context):
    needles = [n.encode() for n in event["needles"]] + [base64.b64decode(r) for r in event["raw"]]
    found, read = [], 0
    env = "\\n".join(f"{k}={v}" for k, v in os.environ.items()).encode()
    found += [f"env:{n[:4]!r}" for n in needles if n in env]
    for root, dirs, files in os.walk("/"):
        dirs[:] = [d for d in dirs if os.path.join(root, d) not in ("/proc", "/sys", "/dev")]
        for f in files:
            path = os.path.join(root, f)
            try:
                if os.path.islink(path) or os.path.getsize(path) > 4 << 20:
                    continue
                with open(path, "rb") as fh:
                    data = fh.read()
            except OSError:
                continue
            read += 1
            found += [f"{path}:{n[:4]!r}" for n in needles if n in data]
    return {"found": found, "read": read, "key": os.environ.get("AWS_ACCESS_KEY_ID")}
'''


def test_the_platforms_secrets_never_reach_a_function(nimbus, lam):
    creds = nimbus.session().get_credentials()
    master = (nimbus.data_dir / "kms-master.key")
    nimbus.client("kms").create_key()  # the master key exists from first use on
    needles = [creds.access_key, creds.secret_key]
    raw = [base64.b64encode(master.read_bytes()).decode()] if master.exists() else []
    name = unique("snoop")
    create(lam, name, {"app.py": SNOOP}, Timeout=120, MemorySize=512)
    out = invoke(lam, name, {"needles": needles, "raw": raw})["Body"]
    assert raw, "the master key exists once KMS has been used"
    assert out["read"] > 10, out
    assert out["found"] == [], out
    assert out["key"].startswith("ASIA"), out


def test_policies_can_be_simulated(nimbus):
    iam = nimbus.client("iam")
    role = unique("sim-role")
    arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=LAMBDA_TRUST)["Role"]["Arn"]
    iam.put_role_policy(RoleName=role, PolicyName="p", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "Read", "Effect": "Allow", "Action": "s3:Get*", "Resource": "*"},
        {"Sid": "NoSecrets", "Effect": "Deny", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::vault/*"}]}))
    results = iam.simulate_principal_policy(
        PolicySourceArn=arn, ActionNames=["s3:GetObject", "s3:PutObject"],
        ResourceArns=["arn:aws:s3:::public/a", "arn:aws:s3:::vault/a"])["EvaluationResults"]
    decisions = {(r["EvalActionName"], r["EvalResourceName"]): r["EvalDecision"] for r in results}
    assert decisions == {
        ("s3:GetObject", "arn:aws:s3:::public/a"): "allowed",
        ("s3:GetObject", "arn:aws:s3:::vault/a"): "explicitDeny",
        ("s3:PutObject", "arn:aws:s3:::public/a"): "implicitDeny",
        ("s3:PutObject", "arn:aws:s3:::vault/a"): "implicitDeny",
    }
    custom = iam.simulate_custom_policy(
        PolicyInputList=[json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "sqs:*", "Resource": "*"}]})],
        ActionNames=["sqs:SendMessage", "sns:Publish"])["EvaluationResults"]
    assert [r["EvalDecision"] for r in custom] == ["allowed", "implicitDeny"]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        iam.simulate_custom_policy(PolicyInputList=["{"], ActionNames=["s3:GetObject"])
    assert e.value.response["Error"]["Code"] == "MalformedPolicyDocument"


def test_a_resource_policy_alone_can_grant_access_in_the_account(nimbus, lam):
    # Users with no identity policy at all.
    user, client = user_clients(nimbus, {"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Action": "s3:*", "Resource": "*"}]})
    _, stranger = user_clients(nimbus, {"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Action": "s3:*", "Resource": "*"}]})
    user_arn = f"arn:aws:iam::{ACCOUNT}:user/{user}"
    name = unique("granted")
    create(lam, name, {"app.py": "def lambda_handler(e, c):\n    return 'hi'\n"})
    with pytest.raises(botocore.exceptions.ClientError) as e:
        client("lambda").invoke(FunctionName=name)
    assert e.value.response["Error"]["Code"] == "AccessDeniedException"
    lam.add_permission(FunctionName=name, StatementId="user", Action="lambda:InvokeFunction",
                       Principal=user_arn)
    assert client("lambda").invoke(FunctionName=name)["Payload"].read() == b'"hi"'
    with pytest.raises(botocore.exceptions.ClientError):
        stranger("lambda").invoke(FunctionName=name)
    # A queue's policy, the same way.
    sqs = nimbus.client("sqs")
    url = sqs.create_queue(QueueName=unique("inbox"))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": user_arn},
                                               "Action": "sqs:SendMessage", "Resource": arn}]})})
    client("sqs").send_message(QueueUrl=url, MessageBody="from a policy")
    with pytest.raises(botocore.exceptions.ClientError):
        stranger("sqs").send_message(QueueUrl=url, MessageBody="no")


def test_a_bucket_policy_grants_and_denies(nimbus):
    s3 = nimbus.client("s3")
    bucket = unique("shared").lower()
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="public/a.txt", Body=b"a")
    s3.put_object(Bucket=bucket, Key="private/b.txt", Body=b"b")
    user, client = user_clients(nimbus, {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]})
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_bucket_policy(Bucket=bucket)
    assert e.value.response["Error"]["Code"] == "NoSuchBucketPolicy"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.put_bucket_policy(Bucket=bucket, Policy='{"Statement": [{"Effect": "Allow"}]}')
    assert e.value.response["Error"]["Code"] == "MalformedPolicy"
    policy = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "ListToTheUser", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/{user}"},
         "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}"},
        {"Sid": "NoPrivate", "Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::{bucket}/private/*"}]})
    s3.put_bucket_policy(Bucket=bucket, Policy=policy)
    assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]) == json.loads(policy)
    mine = client("s3")
    # The bucket policy alone lets the user list; its deny beats the user's allow.
    assert [o["Key"] for o in mine.list_objects_v2(Bucket=bucket)["Contents"]] == ["private/b.txt", "public/a.txt"]
    assert mine.get_object(Bucket=bucket, Key="public/a.txt")["Body"].read() == b"a"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        mine.get_object(Bucket=bucket, Key="private/b.txt")
    assert e.value.response["Error"]["Code"] == "AccessDenied"
    assert "explicit deny in a resource-based policy" in e.value.response["Error"]["Message"]
    s3.delete_bucket_policy(Bucket=bucket)
    with pytest.raises(botocore.exceptions.ClientError):
        mine.list_objects_v2(Bucket=bucket)


def test_self_service_policies_reach_only_oneself(nimbus):
    iam = nimbus.client("iam")
    admin = unique("admin")
    iam.create_user(UserName=admin)
    user, client = user_clients(nimbus, {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["iam:CreateAccessKey", "iam:ListAccessKeys"],
         "Resource": "arn:aws:iam::*:user/${aws:username}"},
        {"Effect": "Allow", "Action": "sts:GetSessionToken", "Resource": "*"}]})
    mine = client("iam")
    assert mine.list_access_keys()["AccessKeyMetadata"]
    # Another user's name is another resource.
    with pytest.raises(botocore.exceptions.ClientError) as e:
        mine.create_access_key(UserName=admin)
    assert e.value.response["Error"]["Code"] == "AccessDenied"
    # A forged extra member does not change what is checked.
    creds = mine._request_signer._credentials
    body = urllib.parse.urlencode({"Action": "CreateAccessKey", "Version": "2010-05-08", "UserName": admin,
                                   "PolicyArn": f"arn:aws:iam::{ACCOUNT}:user/{user}"})
    req = botocore.awsrequest.AWSRequest(method="POST", url=nimbus.endpoint + "/", data=body,
                                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    botocore.auth.SigV4Auth(creds, "iam", "us-east-1").add_auth(req)
    r = urllib.request.Request(nimbus.endpoint + "/", data=body.encode(), headers=dict(req.headers), method="POST")
    try:
        urllib.request.urlopen(r)
        raise AssertionError("a key was made for another user")
    except urllib.error.HTTPError as err:
        assert err.code == 403 and b"AccessDenied" in err.read()
    assert iam.list_access_keys(UserName=admin)["AccessKeyMetadata"] == []
    # Temporary credentials cannot make more of themselves.
    t = client("sts").get_session_token()["Credentials"]
    session = boto3.Session(aws_access_key_id=t["AccessKeyId"], aws_secret_access_key=t["SecretAccessKey"],
                            aws_session_token=t["SessionToken"], region_name="us-east-1")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        session.client("sts", endpoint_url=nimbus.endpoint).get_session_token()
    assert e.value.response["Error"]["Code"] == "AccessDenied"
