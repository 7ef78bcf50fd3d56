"""KMS and Secrets Manager, driven by boto3 and the AWS CLI: keys, aliases and
envelope encryption; a secret's versions, stages, deletion and restore; a
rotation run by a Python rotation function; values surviving `kill -9`, a
private master key, and no secret value in the server's output."""
import base64
import json
import os
import pathlib
import signal
import stat
import tempfile
import time

import pytest
from botocore.exceptions import ClientError

from conftest import Nimbus, create, unique

# One worker runs the whole module: the last test checks the values the others used.
pytestmark = pytest.mark.xdist_group("secrets")

# Values the server must never write to its output or logs.
SECRETS_USED = []


def secret_value(label):
    v = f"{label}-{os.urandom(8).hex()}"
    SECRETS_USED.append(v)
    return v


def code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def no_secret_in_logs(n):
    text = "".join(n.output)
    for log in pathlib.Path(n.data_dir).rglob("*.log"):
        text += log.read_text(errors="replace")
    for v in SECRETS_USED:
        assert v not in text, "a secret value reached the server's output or logs"


@pytest.fixture(scope="module")
def kms(nimbus):
    return nimbus.client("kms")


@pytest.fixture(scope="module")
def sm(nimbus):
    return nimbus.client("secretsmanager")


def test_kms_keys_encrypt_decrypt_and_data_keys(kms):
    key = kms.create_key(Description="app key", Tags=[{"TagKey": "team", "TagValue": "a"}])["KeyMetadata"]
    assert key["KeyState"] == "Enabled" and key["KeyManager"] == "CUSTOMER"
    assert key["Arn"] == f"arn:aws:kms:us-east-1:000000000000:key/{key['KeyId']}"
    alias = unique("alias/app")
    kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    for name in (key["KeyId"], key["Arn"], alias, f"arn:aws:kms:us-east-1:000000000000:{alias}"):
        assert kms.describe_key(KeyId=name)["KeyMetadata"]["KeyId"] == key["KeyId"]
    ctx = {"purpose": "e2e"}
    blob = kms.encrypt(KeyId=alias, Plaintext=b"attack at dawn", EncryptionContext=ctx)["CiphertextBlob"]
    out = kms.decrypt(CiphertextBlob=blob, EncryptionContext=ctx)
    assert out["Plaintext"] == b"attack at dawn" and out["KeyId"] == key["Arn"]
    with pytest.raises(ClientError) as e:
        kms.decrypt(CiphertextBlob=blob, EncryptionContext={"purpose": "other"})
    assert code(e) == "InvalidCiphertextException"
    tampered = bytearray(blob)
    tampered[-1] ^= 1
    with pytest.raises(ClientError) as e:
        kms.decrypt(CiphertextBlob=bytes(tampered), EncryptionContext=ctx)
    assert code(e) == "InvalidCiphertextException"
    dk = kms.generate_data_key(KeyId=alias, KeySpec="AES_256")
    assert len(dk["Plaintext"]) == 32
    assert kms.decrypt(CiphertextBlob=dk["CiphertextBlob"])["Plaintext"] == dk["Plaintext"]
    assert len(kms.generate_data_key(KeyId=alias, NumberOfBytes=16)["Plaintext"]) == 16
    bare = kms.generate_data_key_without_plaintext(KeyId=alias, KeySpec="AES_128")
    assert "Plaintext" not in bare and len(kms.decrypt(CiphertextBlob=bare["CiphertextBlob"])["Plaintext"]) == 16
    other = kms.create_key()["KeyMetadata"]
    re = kms.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext=ctx, DestinationKeyId=other["KeyId"])
    assert re["SourceKeyId"] == key["Arn"] and re["KeyId"] == other["Arn"]
    assert kms.decrypt(CiphertextBlob=re["CiphertextBlob"])["Plaintext"] == b"attack at dawn"
    with pytest.raises(ClientError) as e:
        kms.decrypt(CiphertextBlob=blob, EncryptionContext=ctx, KeyId=other["KeyId"])
    assert code(e) == "IncorrectKeyException"
    assert {"TagKey": "team", "TagValue": "a"} in kms.list_resource_tags(KeyId=key["KeyId"])["Tags"]
    policy = json.loads(kms.get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"])
    assert policy["Statement"][0]["Principal"]["AWS"] == "arn:aws:iam::000000000000:root"
    with pytest.raises(ClientError) as e:
        kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy="{not json")
    assert code(e) == "MalformedPolicyDocumentException"


def test_kms_aliases_disable_and_deletion(kms):
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    with pytest.raises(ClientError) as e:
        kms.create_alias(AliasName="alias/aws/mine", TargetKeyId=key)
    assert code(e) == "NotAuthorizedException"
    a = unique("alias/swap")
    kms.create_alias(AliasName=a, TargetKeyId=key)
    with pytest.raises(ClientError) as e:
        kms.create_alias(AliasName=a, TargetKeyId=key)
    assert code(e) == "AlreadyExistsException"
    second = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.update_alias(AliasName=a, TargetKeyId=second)
    assert kms.describe_key(KeyId=a)["KeyMetadata"]["KeyId"] == second
    assert [x["AliasName"] for x in kms.list_aliases(KeyId=second)["Aliases"]] == [a]
    kms.delete_alias(AliasName=a)
    with pytest.raises(ClientError) as e:
        kms.describe_key(KeyId=a)
    assert code(e) == "NotFoundException"
    blob = kms.encrypt(KeyId=key, Plaintext=b"x")["CiphertextBlob"]
    kms.disable_key(KeyId=key)
    for call in (lambda: kms.encrypt(KeyId=key, Plaintext=b"x"), lambda: kms.decrypt(CiphertextBlob=blob)):
        with pytest.raises(ClientError) as e:
            call()
        assert code(e) == "DisabledException"
    kms.enable_key(KeyId=key)
    with pytest.raises(ClientError) as e:
        kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=5)
    assert code(e) == "ValidationException"
    d = kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    assert d["KeyState"] == "PendingDeletion" and d["PendingWindowInDays"] == 7
    with pytest.raises(ClientError) as e:
        kms.decrypt(CiphertextBlob=blob)
    assert code(e) == "KMSInvalidStateException"
    kms.cancel_key_deletion(KeyId=key)
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "Disabled"
    ids = []
    kw = {"Limit": 2}
    while True:
        page = kms.list_keys(**kw)
        ids += [k["KeyId"] for k in page["Keys"]]
        if not page["Truncated"]:
            break
        kw["Marker"] = page["NextMarker"]
    assert key in ids and second in ids and len(ids) == len(set(ids))


def test_secret_lifecycle_stages_and_errors(sm):
    name = unique("app/db")
    v1, v2 = secret_value("first"), secret_value("second")
    created = sm.create_secret(Name=name, SecretString=v1, Description="db password",
                               Tags=[{"Key": "env", "Value": "test"}])
    arn = created["ARN"]
    assert arn.startswith(f"arn:aws:secretsmanager:us-east-1:000000000000:secret:{name}-")
    assert len(arn) == len(f"arn:aws:secretsmanager:us-east-1:000000000000:secret:{name}-") + 6
    with pytest.raises(ClientError) as e:
        sm.create_secret(Name=name, SecretString=v1)
    assert code(e) == "ResourceExistsException"
    for ident in (name, arn, arn[:-7]):
        assert sm.get_secret_value(SecretId=ident)["SecretString"] == v1
    put = sm.put_secret_value(SecretId=name, SecretString=v2)
    assert put["VersionStages"] == ["AWSCURRENT"]
    stages = sm.describe_secret(SecretId=name)["VersionIdsToStages"]
    assert stages == {created["VersionId"]: ["AWSPREVIOUS"], put["VersionId"]: ["AWSCURRENT"]}
    assert sm.get_secret_value(SecretId=name)["SecretString"] == v2
    assert sm.get_secret_value(SecretId=name, VersionStage="AWSPREVIOUS")["SecretString"] == v1
    assert sm.get_secret_value(SecretId=name, VersionId=created["VersionId"])["SecretString"] == v1
    with pytest.raises(ClientError) as e:
        sm.update_secret_version_stage(SecretId=name, VersionStage="AWSCURRENT", MoveToVersionId=created["VersionId"])
    assert code(e) == "InvalidParameterException"
    sm.update_secret_version_stage(SecretId=name, VersionStage="AWSCURRENT",
                                   MoveToVersionId=created["VersionId"], RemoveFromVersionId=put["VersionId"])
    assert sm.get_secret_value(SecretId=name)["SecretString"] == v1
    sm.update_secret(SecretId=name, Description="rotated by hand")
    binary = sm.put_secret_value(SecretId=name, SecretBinary=b"\x00\x01raw", VersionStages=["custom"])
    assert sm.get_secret_value(SecretId=name, VersionStage="custom")["SecretBinary"] == b"\x00\x01raw"
    versions = sm.list_secret_version_ids(SecretId=name)["Versions"]
    assert {v["VersionId"] for v in versions} == {created["VersionId"], put["VersionId"], binary["VersionId"]}
    d = sm.describe_secret(SecretId=arn)
    assert d["Description"] == "rotated by hand" and d["Tags"] == [{"Key": "env", "Value": "test"}]
    assert d["RotationEnabled"] is False and "CreatedDate" in d
    with pytest.raises(ClientError) as e:
        sm.get_secret_value(SecretId=unique("missing"))
    assert code(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        sm.get_secret_value(SecretId=name, VersionStage="nope")
    assert code(e) == "ResourceNotFoundException"
    # Deletion: reads refused, listing hides it, restore brings it back.
    with pytest.raises(ClientError) as e:
        sm.delete_secret(SecretId=name, RecoveryWindowInDays=3)
    assert code(e) == "InvalidParameterException"
    deleted = sm.delete_secret(SecretId=name, RecoveryWindowInDays=7)
    assert deleted["DeletionDate"].timestamp() > time.time() + 6 * 86400
    with pytest.raises(ClientError) as e:
        sm.get_secret_value(SecretId=name)
    assert code(e) == "InvalidRequestException" and "marked for deletion" in e.value.response["Error"]["Message"]
    assert "DeletedDate" in sm.describe_secret(SecretId=name)
    names = [s["Name"] for s in sm.list_secrets(Filters=[{"Key": "name", "Values": [name]}])["SecretList"]]
    assert names == []
    names = [s["Name"] for s in sm.list_secrets(Filters=[{"Key": "name", "Values": [name]}],
                                               IncludePlannedDeletion=True)["SecretList"]]
    assert names == [name]
    sm.restore_secret(SecretId=name)
    assert sm.get_secret_value(SecretId=name)["SecretString"] == v1
    sm.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
    with pytest.raises(ClientError) as e:
        sm.describe_secret(SecretId=name)
    assert code(e) == "ResourceNotFoundException"
    sm.create_secret(Name=name, SecretString=v2)
    assert sm.get_secret_value(SecretId=name)["SecretString"] == v2


def test_listing_filters_pages_tags_policies_and_batches(sm, kms):
    prefix = unique("list")
    key = kms.create_key()["KeyMetadata"]["Arn"]
    for i in range(5):
        extra = {"KmsKeyId": key} if i == 0 else {}
        sm.create_secret(Name=f"{prefix}/s{i}", SecretString=secret_value("l"),
                         Tags=[{"Key": "tier", "Value": "gold" if i % 2 else "silver"}], **extra)
    assert sm.describe_secret(SecretId=f"{prefix}/s0")["KmsKeyId"] == key
    seen, kw = [], {"Filters": [{"Key": "name", "Values": [prefix]}], "MaxResults": 2}
    while True:
        page = sm.list_secrets(**kw)
        assert len(page["SecretList"]) <= 2
        seen += [s["Name"] for s in page["SecretList"]]
        if "NextToken" not in page:
            break
        kw["NextToken"] = page["NextToken"]
    assert seen == [f"{prefix}/s{i}" for i in range(5)]
    gold = sm.list_secrets(Filters=[{"Key": "name", "Values": [prefix]}, {"Key": "tag-value", "Values": ["gold"]}])
    assert len(gold["SecretList"]) == 2
    with pytest.raises(ClientError) as e:
        sm.list_secrets(Filters=[{"Key": "colour", "Values": ["x"]}])
    assert code(e) == "InvalidParameterException"
    first = f"{prefix}/s0"
    sm.tag_resource(SecretId=first, Tags=[{"Key": "owner", "Value": "me"}])
    sm.untag_resource(SecretId=first, TagKeys=["tier"])
    assert sm.describe_secret(SecretId=first)["Tags"] == [{"Key": "owner", "Value": "me"}]
    policy = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:root"}, "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]})
    sm.put_resource_policy(SecretId=first, ResourcePolicy=policy)
    assert json.loads(sm.get_resource_policy(SecretId=first)["ResourcePolicy"]) == json.loads(policy)
    with pytest.raises(ClientError) as e:
        sm.put_resource_policy(SecretId=first, ResourcePolicy="{")
    assert code(e) == "MalformedPolicyDocumentException"
    sm.delete_resource_policy(SecretId=first)
    assert "ResourcePolicy" not in sm.get_resource_policy(SecretId=first)
    batch = sm.batch_get_secret_value(SecretIdList=[first, f"{prefix}/s1", unique("absent")])
    assert len(batch["SecretValues"]) == 2 and batch["Errors"][0]["ErrorCode"] == "ResourceNotFoundException"
    by_filter = sm.batch_get_secret_value(Filters=[{"Key": "name", "Values": [prefix]}])
    assert len(by_filter["SecretValues"]) == 5


def test_random_passwords(sm):
    p = sm.get_random_password()["RandomPassword"]
    assert len(p) == 32 and any(c.isupper() for c in p) and any(c.isdigit() for c in p)
    p = sm.get_random_password(PasswordLength=20, ExcludePunctuation=True, ExcludeUppercase=True,
                               ExcludeCharacters="abc", IncludeSpace=True)["RandomPassword"]
    assert len(p) == 20 and " " in p and not any(c in "abc" or c.isupper() for c in p)
    assert p.replace(" ", "").isalnum()
    with pytest.raises(ClientError) as e:
        sm.get_random_password(PasswordLength=5000)
    assert code(e) == "InvalidParameterException"


ROTATOR = '''
import os
import boto3

sm = boto3.client("secretsmanager", endpoint_url=os.environ["AWS_ENDPOINT_URL"])


def handler(event, context):
    arn, token, step = event["SecretId"], event["ClientRequestToken"], event["Step"]
    meta = sm.describe_secret(SecretId=arn)
    if not meta["RotationEnabled"]:
        raise ValueError("rotation is not enabled")
    versions = meta["VersionIdsToStages"]
    if token not in versions:
        raise ValueError("the version has no stage for rotation")
    if "AWSCURRENT" in versions[token]:
        return
    if "AWSPENDING" not in versions[token]:
        raise ValueError("the version is not pending")
    if step == "createSecret":
        current = sm.get_secret_value(SecretId=arn, VersionStage="AWSCURRENT")["SecretString"]
        try:
            sm.get_secret_value(SecretId=arn, VersionId=token, VersionStage="AWSPENDING")
        except sm.exceptions.ResourceNotFoundException:
            new = "rotated-" + sm.get_random_password(ExcludePunctuation=True)["RandomPassword"]
            assert new != current
            sm.put_secret_value(SecretId=arn, ClientRequestToken=token, SecretString=new,
                                VersionStages=["AWSPENDING"])
    elif step in ("setSecret", "testSecret"):
        sm.get_secret_value(SecretId=arn, VersionId=token, VersionStage="AWSPENDING")
    elif step == "finishSecret":
        current = next(v for v, s in versions.items() if "AWSCURRENT" in s)
        sm.update_secret_version_stage(SecretId=arn, VersionStage="AWSCURRENT",
                                       MoveToVersionId=token, RemoveFromVersionId=current)
    else:
        raise ValueError("unknown step " + step)
'''


def test_rotation_with_a_python_rotation_function(nimbus, sm):
    lam = nimbus.client()
    fn = unique("rotator")
    arn_fn = create(lam, fn, {"app.py": ROTATOR}, handler="app.handler", Timeout=30)["FunctionArn"]
    name = unique("rotating")
    first = secret_value("before-rotation")
    created = sm.create_secret(Name=name, SecretString=first)
    with pytest.raises(ClientError) as e:
        sm.rotate_secret(SecretId=name)
    assert code(e) == "InvalidRequestException"
    r = sm.rotate_secret(SecretId=name, RotationLambdaARN=arn_fn, RotationRules={"AutomaticallyAfterDays": 30})
    token = r["VersionId"]
    deadline = time.time() + 90
    while time.time() < deadline:
        # finishSecret moves AWSCURRENT; rotation is over once Nimbus has also
        # taken the AWSPENDING label off (after the function returns).
        stages = sm.describe_secret(SecretId=name)["VersionIdsToStages"]
        if stages.get(token) == ["AWSCURRENT"]:
            break
        time.sleep(0.2)
    else:
        raise AssertionError(f"rotation did not finish: {stages}")
    d = sm.describe_secret(SecretId=name)
    assert d["RotationEnabled"] and d["RotationLambdaARN"] == arn_fn
    assert d["RotationRules"]["AutomaticallyAfterDays"] == 30
    assert d["VersionIdsToStages"] == {token: ["AWSCURRENT"], created["VersionId"]: ["AWSPREVIOUS"]}
    value = sm.get_secret_value(SecretId=name)
    assert value["VersionId"] == token and value["SecretString"].startswith("rotated-")
    SECRETS_USED.append(value["SecretString"])
    assert sm.get_secret_value(SecretId=name, VersionStage="AWSPREVIOUS")["SecretString"] == first


def test_aws_cli_reads_a_secret(nimbus, sm):
    name = unique("cli")
    v = secret_value("cli")
    sm.create_secret(Name=name, SecretString=v)
    out = json.loads(nimbus.aws("secretsmanager", "get-secret-value", "--secret-id", name,
                                "--endpoint-url", nimbus.endpoint).stdout)
    assert out["SecretString"] == v and out["VersionStages"] == ["AWSCURRENT"]
    res = nimbus.aws("secretsmanager", "get-secret-value", "--secret-id", name + "-nope",
                     "--endpoint-url", nimbus.endpoint, check=False)
    assert res.returncode != 0 and "ResourceNotFoundException" in res.stderr


def test_no_secret_value_in_the_server_output(nimbus, sm):
    """Every value the tests of this module used so far (run last, it sees them all;
    run alone or on a worker of its own, it still has its own secret to look for)."""
    name = unique("logged")
    value = secret_value("own")
    sm.create_secret(Name=name, SecretString=value)
    assert sm.get_secret_value(SecretId=name)["SecretString"] == value
    sm.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
    no_secret_in_logs(nimbus)


def test_secrets_survive_kill_9_and_the_master_key_is_private():
    with tempfile.TemporaryDirectory(prefix="nimbus-secrets-kill-") as d:
        n = Nimbus(d).start()
        kms, sm, ssm = n.client("kms"), n.client("secretsmanager"), n.client("ssm")
        key = kms.create_key()["KeyMetadata"]["KeyId"]
        blob = kms.encrypt(KeyId=key, Plaintext=b"durable")["CiphertextBlob"]
        v = secret_value("durable")
        sm.create_secret(Name="durable", SecretString=v)
        p = secret_value("param")
        ssm.put_parameter(Name="/durable/pw", Value=p, Type="SecureString")
        n.stop(signal.SIGKILL)
        master = pathlib.Path(d) / "kms-master.key"
        assert stat.S_IMODE(master.stat().st_mode) == 0o600 and master.stat().st_size == 32
        before = master.read_bytes()
        n2 = Nimbus(d).start()
        try:
            assert n2.client("kms").decrypt(CiphertextBlob=blob)["Plaintext"] == b"durable"
            assert n2.client("secretsmanager").get_secret_value(SecretId="durable")["SecretString"] == v
            got = n2.client("ssm").get_parameter(Name="/durable/pw", WithDecryption=True)["Parameter"]
            assert got["Value"] == p
            assert master.read_bytes() == before and stat.S_IMODE(master.stat().st_mode) == 0o600
        finally:
            n2.stop()
        for server in (n, n2):
            no_secret_in_logs(server)
