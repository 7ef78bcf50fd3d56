"""Lambda layers end to end: publish, read, list, delete and permissions with
boto3; functions that import from their layers under /opt; code from S3."""
import json

import pytest
from botocore.exceptions import ClientError

from conftest import ROLE, create, invoke, make_zip, unique

ACCOUNT = "000000000000"
REGION = "us-east-1"


def error(exc):
    e = exc.value.response
    return e["Error"]["Code"], e["Error"]["Message"], e["ResponseMetadata"]["HTTPStatusCode"]


def publish(lam, name, files, **kw):
    return lam.publish_layer_version(LayerName=name, Content={"ZipFile": make_zip(files)}, **kw)


def test_publish_get_list_delete(lam):
    name = unique("deps")
    v1 = publish(lam, name, {"python/deps.py": "X = 1\n"}, Description="first",
                 CompatibleRuntimes=["python3.12"], CompatibleArchitectures=["x86_64"],
                 LicenseInfo="MIT")
    assert v1["ResponseMetadata"]["HTTPStatusCode"] == 201
    layer_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:{name}"
    assert v1["LayerArn"] == layer_arn
    assert v1["LayerVersionArn"] == f"{layer_arn}:1"
    assert v1["Version"] == 1
    assert v1["Description"] == "first"
    assert v1["CompatibleRuntimes"] == ["python3.12"]
    assert v1["CompatibleArchitectures"] == ["x86_64"]
    assert v1["LicenseInfo"] == "MIT"
    assert v1["Content"]["CodeSize"] > 0 and v1["Content"]["CodeSha256"]
    v2 = publish(lam, name, {"nodejs/node_modules/deps/index.js": "module.exports = 2;\n"},
                 CompatibleRuntimes=["nodejs20.x"])
    assert v2["Version"] == 2

    got = lam.get_layer_version(LayerName=name, VersionNumber=1)
    assert got["LayerVersionArn"] == f"{layer_arn}:1"
    assert got["Content"]["CodeSha256"] == v1["Content"]["CodeSha256"]
    by_arn = lam.get_layer_version_by_arn(Arn=f"{layer_arn}:2")
    assert by_arn["Version"] == 2
    # A layer's ARN names it as well as its name does.
    assert lam.get_layer_version(LayerName=layer_arn, VersionNumber=2)["Version"] == 2

    versions = lam.list_layer_versions(LayerName=name)["LayerVersions"]
    assert [v["Version"] for v in versions] == [2, 1]
    py = lam.list_layer_versions(LayerName=name, CompatibleRuntime="python3.12")["LayerVersions"]
    assert [v["Version"] for v in py] == [1]
    page = lam.list_layer_versions(LayerName=name, MaxItems=1)
    assert [v["Version"] for v in page["LayerVersions"]] == [2]
    rest = lam.list_layer_versions(LayerName=name, Marker=page["NextMarker"])
    assert [v["Version"] for v in rest["LayerVersions"]] == [1]

    listed = {l["LayerName"]: l for l in lam.list_layers()["Layers"]}
    assert listed[name]["LayerArn"] == layer_arn
    assert listed[name]["LatestMatchingVersion"]["Version"] == 2
    listed = {l["LayerName"]: l for l in lam.list_layers(CompatibleRuntime="python3.12")["Layers"]}
    assert listed[name]["LatestMatchingVersion"]["Version"] == 1
    names = []
    for p in lam.get_paginator("list_layers").paginate(PaginationConfig={"PageSize": 1}):
        names += [l["LayerName"] for l in p["Layers"]]
    assert name in names and len(names) == len(set(names))

    lam.delete_layer_version(LayerName=name, VersionNumber=2)
    # Deleting what is not there succeeds, as on Lambda.
    lam.delete_layer_version(LayerName=name, VersionNumber=2)
    with pytest.raises(ClientError) as e:
        lam.get_layer_version(LayerName=name, VersionNumber=2)
    assert error(e) == ("ResourceNotFoundException", "The resource you requested does not exist.", 404)
    # Numbers are never reused.
    assert publish(lam, name, {"a.txt": "a"})["Version"] == 3


def test_layer_permissions(lam):
    name = unique("shared")
    publish(lam, name, {"a.txt": "a"})
    with pytest.raises(ClientError) as e:
        lam.get_layer_version_policy(LayerName=name, VersionNumber=1)
    assert error(e)[0] == "ResourceNotFoundException"
    added = lam.add_layer_version_permission(
        LayerName=name, VersionNumber=1, StatementId="everyone",
        Action="lambda:GetLayerVersion", Principal="*")
    st = json.loads(added["Statement"])
    assert st == {"Sid": "everyone", "Effect": "Allow", "Principal": "*",
                  "Action": "lambda:GetLayerVersion",
                  "Resource": f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:{name}:1"}
    lam.add_layer_version_permission(
        LayerName=name, VersionNumber=1, StatementId="acct",
        Action="lambda:GetLayerVersion", Principal="123456789012")
    with pytest.raises(ClientError) as e:
        lam.add_layer_version_permission(
            LayerName=name, VersionNumber=1, StatementId="acct",
            Action="lambda:GetLayerVersion", Principal="123456789012")
    assert error(e)[0] == "ResourceConflictException"
    policy = lam.get_layer_version_policy(LayerName=name, VersionNumber=1)
    doc = json.loads(policy["Policy"])
    assert [s["Sid"] for s in doc["Statement"]] == ["everyone", "acct"]
    assert doc["Statement"][1]["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"}
    lam.remove_layer_version_permission(LayerName=name, VersionNumber=1, StatementId="everyone",
                                        RevisionId=policy["RevisionId"])
    with pytest.raises(ClientError) as e:
        lam.remove_layer_version_permission(LayerName=name, VersionNumber=1, StatementId="everyone")
    assert error(e) == ("ResourceNotFoundException",
                        "Statement everyone is not found in resource policy.", 404)


def test_publish_errors(lam):
    with pytest.raises(ClientError) as e:
        lam.publish_layer_version(LayerName="bad name!", Content={"ZipFile": make_zip({"a": "b"})})
    assert error(e)[0] == "ValidationException"
    with pytest.raises(ClientError) as e:
        lam.publish_layer_version(LayerName=unique("l"), Content={"ZipFile": b"not a zip"})
    assert error(e)[:2] == ("InvalidParameterValueException",
                            "Could not unzip uploaded file. Please check your file, then try to upload again.")
    with pytest.raises(ClientError) as e:
        lam.publish_layer_version(LayerName=unique("l"), Content={"ZipFile": make_zip({"a": "b"})},
                                  CompatibleRuntimes=["cobol85"])
    assert error(e)[0] == "ValidationException"
    with pytest.raises(ClientError) as e:
        lam.get_layer_version_by_arn(Arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:{unique('none')}:1")
    assert error(e)[0] == "ResourceNotFoundException"
