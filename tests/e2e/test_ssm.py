"""SSM Parameter Store, driven by boto3 and the AWS CLI: hierarchies, versions,
selectors, labels, history, filters, tags, SecureStrings through KMS, and the
error codes botocore raises."""
import base64
import json

import pytest
from botocore.exceptions import ClientError

from conftest import unique


def code(excinfo):
    return excinfo.value.response["Error"]["Code"]


@pytest.fixture(scope="module")
def ssm(nimbus):
    return nimbus.client("ssm")


@pytest.fixture(scope="module")
def tree(ssm):
    """A small hierarchy under a unique root."""
    root = "/" + unique("app")
    for name, value in {"url": "https://x", "db/host": "h", "db/port": "5432", "db/replica/host": "r"}.items():
        ssm.put_parameter(Name=f"{root}/{name}", Value=value, Type="String")
    ssm.put_parameter(Name=f"{root}/db/password", Value="pa55word", Type="SecureString")
    ssm.put_parameter(Name=f"{root}/hosts", Value="a,b,c", Type="StringList")
    return root


def test_get_parameters_by_path(ssm, tree):
    direct = ssm.get_parameters_by_path(Path=f"{tree}/db")["Parameters"]
    assert sorted(p["Name"] for p in direct) == [f"{tree}/db/host", f"{tree}/db/password", f"{tree}/db/port"]
    everything, kw = [], {"Path": tree, "Recursive": True, "MaxResults": 2}
    while True:
        page = ssm.get_parameters_by_path(**kw)
        assert len(page["Parameters"]) <= 2
        everything += page["Parameters"]
        if "NextToken" not in page:
            break
        kw["NextToken"] = page["NextToken"]
    assert len(everything) == 6
    secure = next(p for p in everything if p["Type"] == "SecureString")
    assert secure["Value"] != "pa55word" and base64.b64decode(secure["Value"])
    decrypted = ssm.get_parameters_by_path(Path=f"{tree}/db", WithDecryption=True)["Parameters"]
    assert {p["Name"]: p["Value"] for p in decrypted}[f"{tree}/db/password"] == "pa55word"
    only = ssm.get_parameters_by_path(Path=tree, Recursive=True,
                                      ParameterFilters=[{"Key": "Type", "Values": ["StringList"]}])["Parameters"]
    assert [p["Name"] for p in only] == [f"{tree}/hosts"]
    with pytest.raises(ClientError) as e:
        ssm.get_parameters_by_path(Path=tree, ParameterFilters=[{"Key": "Name", "Values": ["x"]}])
    assert code(e) == "InvalidFilterKey"
    with pytest.raises(ClientError) as e:
        ssm.get_parameters_by_path(Path="no-slash")
    assert code(e) == "ValidationException"


def test_versions_labels_and_history(ssm, tree):
    name = f"{tree}/feature"
    assert ssm.put_parameter(Name=name, Value="off", Type="String", Description="flag")["Version"] == 1
    with pytest.raises(ClientError) as e:
        ssm.put_parameter(Name=name, Value="on", Type="String")
    assert code(e) == "ParameterAlreadyExists"
    assert ssm.put_parameter(Name=name, Value="on", Overwrite=True)["Version"] == 2
    assert ssm.put_parameter(Name=name, Value="maybe", Type="String", Overwrite=True)["Version"] == 3
    assert ssm.get_parameter(Name=name)["Parameter"]["Value"] == "maybe"
    v1 = ssm.get_parameter(Name=f"{name}:1")["Parameter"]
    assert (v1["Value"], v1["Version"], v1["Selector"]) == ("off", 1, ":1")
    labelled = ssm.label_parameter_version(Name=name, ParameterVersion=2, Labels=["stable", "9bad"])
    assert labelled["InvalidLabels"] == ["9bad"] and labelled["ParameterVersion"] == 2
    assert ssm.get_parameter(Name=f"{name}:stable")["Parameter"]["Value"] == "on"
    ssm.label_parameter_version(Name=name, Labels=["stable"])
    assert ssm.get_parameter(Name=f"{name}:stable")["Parameter"]["Version"] == 3
    history = ssm.get_parameter_history(Name=name)["Parameters"]
    assert [(h["Version"], h["Value"], h["Labels"]) for h in history] == [
        (1, "off", []), (2, "on", []), (3, "maybe", ["stable"])]
    assert history[0]["Description"] == "flag"
    removed = ssm.unlabel_parameter_version(Name=name, ParameterVersion=3, Labels=["stable", "other"])
    assert removed["RemovedLabels"] == ["stable"] and removed["InvalidLabels"] == ["other"]
    with pytest.raises(ClientError) as e:
        ssm.get_parameter(Name=f"{name}:7")
    assert code(e) == "ParameterVersionNotFound"
    with pytest.raises(ClientError) as e:
        ssm.get_parameter(Name=f"{tree}/absent")
    assert code(e) == "ParameterNotFound"
    got = ssm.get_parameters(Names=[name, f"{tree}/absent", f"{name}:1"])
    assert [p["Value"] for p in got["Parameters"]] == ["maybe", "off"]
    assert got["InvalidParameters"] == [f"{tree}/absent"]


def test_hierarchy_rules_and_validation(ssm):
    deep = "".join(f"/l{i}" for i in range(16))
    with pytest.raises(ClientError) as e:
        ssm.put_parameter(Name=deep, Value="v", Type="String")
    assert code(e) == "HierarchyLevelLimitExceededException"
    ssm.put_parameter(Name="".join(f"/l{i}" for i in range(15)) + unique("x"), Value="v", Type="String")
    for bad in ("no/leading/slash", "/aws/reserved", "/has space"):
        with pytest.raises(ClientError) as e:
            ssm.put_parameter(Name=bad, Value="v", Type="String")
        assert code(e) == "ValidationException", bad
    with pytest.raises(ClientError) as e:
        ssm.put_parameter(Name="/" + unique("num"), Value="abc", Type="String", AllowedPattern="^[0-9]+$")
    assert code(e) == "ParameterPatternMismatchException"
    name = "/" + unique("tiered")
    assert ssm.put_parameter(Name=name, Value="v", Type="String", Tier="Advanced", DataType="text")["Tier"] == "Advanced"
    with pytest.raises(ClientError) as e:
        ssm.put_parameter(Name=name + "x", Value="v", Type="String", DataType="number")
    assert code(e) == "ValidationException"
    plain = unique("toplevel")
    ssm.put_parameter(Name=plain, Value="v", Type="String")
    arn = ssm.get_parameter(Name=plain)["Parameter"]["ARN"]
    assert arn == f"arn:aws:ssm:us-east-1:000000000000:parameter/{plain}"
    assert ssm.get_parameter(Name=arn)["Parameter"]["Name"] == plain


def test_secure_string_round_trip_through_kms(nimbus, ssm):
    kms = nimbus.client("kms")
    name = "/" + unique("secure")
    ssm.put_parameter(Name=name, Value="s3cret-with-default-key", Type="SecureString")
    raw = ssm.get_parameter(Name=name)["Parameter"]
    assert raw["Type"] == "SecureString" and raw["Value"] != "s3cret-with-default-key"
    assert ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"] == "s3cret-with-default-key"
    managed = kms.describe_key(KeyId="alias/aws/ssm")["KeyMetadata"]
    assert managed["KeyManager"] == "AWS"
    key = kms.create_key()["KeyMetadata"]
    alias = unique("alias/params")
    kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    ssm.put_parameter(Name=name, Value="under-my-key", Type="SecureString", KeyId=alias, Overwrite=True)
    meta = ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": [name]}])["Parameters"]
    assert meta[0]["KeyId"] == alias and meta[0]["Version"] == 2
    assert ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"] == "under-my-key"
    kms.disable_key(KeyId=key["KeyId"])
    with pytest.raises(ClientError) as e:
        ssm.get_parameter(Name=name, WithDecryption=True)
    assert code(e) == "InvalidKeyId"
    kms.enable_key(KeyId=key["KeyId"])
    with pytest.raises(ClientError) as e:
        ssm.put_parameter(Name=name + "-x", Value="v", Type="SecureString", KeyId="alias/absent")
    assert code(e) == "InvalidKeyId"


def test_describe_tags_and_delete(ssm, tree):
    name = f"{tree}/tagged"
    ssm.put_parameter(Name=name, Value="v", Type="String", Tags=[{"Key": "team", "Value": "a"}])
    ssm.add_tags_to_resource(ResourceType="Parameter", ResourceId=name, Tags=[{"Key": "env", "Value": "dev"}])
    tags = ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=name)["TagList"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("env", "dev"), ("team", "a")]
    ssm.remove_tags_from_resource(ResourceType="Parameter", ResourceId=name, TagKeys=["team"])
    assert ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=name)["TagList"] == [{"Key": "env", "Value": "dev"}]
    with pytest.raises(ClientError) as e:
        ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=f"{tree}/none")
    assert code(e) == "InvalidResourceId"
    by_tag = ssm.describe_parameters(ParameterFilters=[{"Key": "tag:env", "Values": ["dev"]}])["Parameters"]
    assert name in [p["Name"] for p in by_tag]
    one_level = ssm.describe_parameters(ParameterFilters=[{"Key": "Path", "Option": "OneLevel", "Values": [f"{tree}/db"]}])
    assert len(one_level["Parameters"]) == 3
    recursive, kw = [], {"ParameterFilters": [{"Key": "Path", "Option": "Recursive", "Values": [tree]}], "MaxResults": 3}
    while True:
        page = ssm.describe_parameters(**kw)
        recursive += page["Parameters"]
        if "NextToken" not in page:
            break
        kw["NextToken"] = page["NextToken"]
    assert len(recursive) >= 7
    ssm.delete_parameter(Name=name)
    with pytest.raises(ClientError) as e:
        ssm.delete_parameter(Name=name)
    assert code(e) == "ParameterNotFound"
    out = ssm.delete_parameters(Names=[f"{tree}/url", f"{tree}/none"])
    assert out["DeletedParameters"] == [f"{tree}/url"] and out["InvalidParameters"] == [f"{tree}/none"]


def test_aws_cli_reads_a_parameter(nimbus, ssm):
    name = "/" + unique("cli")
    ssm.put_parameter(Name=name, Value="from-the-cli", Type="SecureString")
    out = json.loads(nimbus.aws("ssm", "get-parameter", "--name", name, "--with-decryption",
                                "--endpoint-url", nimbus.endpoint).stdout)
    assert out["Parameter"]["Value"] == "from-the-cli" and out["Parameter"]["Version"] == 1
    res = nimbus.aws("ssm", "get-parameter", "--name", name + "-nope", "--endpoint-url", nimbus.endpoint, check=False)
    assert res.returncode != 0 and "ParameterNotFound" in res.stderr
