"""Lambda layers end to end: publish, read, list, delete and permissions with
boto3; functions that import from their layers under /opt; code from S3."""
import json
import sys

import pytest
from botocore.exceptions import ClientError

from conftest import ROLE, create, invoke, make_zip, unique

ACCOUNT = "000000000000"
REGION = "us-east-1"


def error(exc):
    e = exc.value.response
    return e["Error"]["Code"], e["Error"]["Message"], e["ResponseMetadata"]["HTTPStatusCode"]


def publish(lam, name, files, modes=None, **kw):
    return lam.publish_layer_version(LayerName=name, Content={"ZipFile": make_zip(files, modes)}, **kw)


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


LAYER_A = {
    "python/greet.py": "def hello():\n    return 'hello from layer a'\n",
    "python/shared.py": "WHO = 'a'\n",
    # The server runs functions on the interpreter this suite runs on.
    "python/lib/python%d.%d/site-packages/sitepkg.py" % sys.version_info[:2]: "VALUE = 'site-packages'\n",
    "nodejs/node_modules/greet/index.js": "module.exports = () => 'node hello from layer a';\n",
    "bin/layer-tool": "#!/bin/sh\necho tool-output\n",
}
LAYER_B = {"python/shared.py": "WHO = 'b'\n"}

PY_APP = """
import os, subprocess, sys
import greet, shared

def lambda_handler(event, context):
    try:
        import sitepkg
        site = sitepkg.VALUE
    except ImportError:
        site = None
    out = subprocess.run(["layer-tool"], capture_output=True, text=True).stdout.strip()
    writable = True
    try:
        open("/opt/python/new.txt", "w").close()
    except OSError:
        writable = False
    return {"greet": greet.hello(), "who": shared.WHO, "tool": out, "site": site,
            "opt_writable": writable, "path": os.environ["PATH"],
            "ld": os.environ["LD_LIBRARY_PATH"], "node_path": os.environ.get("NODE_PATH")}
"""

NODE_APP = """
const greet = require('greet');
exports.handler = async () => ({ greet: greet(), nodePath: process.env.NODE_PATH });
"""


def test_functions_import_from_their_layers(lam):
    # Executable bits come from the zip, as for function code.
    a = publish(lam, unique("layer-a"), LAYER_A, modes={"bin/layer-tool": 0o755})
    b = publish(lam, unique("layer-b"), LAYER_B)
    py = unique("py-layers")
    created = create(lam, py, {"app.py": PY_APP}, Layers=[a["LayerVersionArn"], b["LayerVersionArn"]])
    assert created["Layers"] == [
        {"Arn": a["LayerVersionArn"], "CodeSize": a["Content"]["CodeSize"]},
        {"Arn": b["LayerVersionArn"], "CodeSize": b["Content"]["CodeSize"]},
    ]
    cfg = lam.get_function_configuration(FunctionName=py)
    assert [l["Arn"] for l in cfg["Layers"]] == [a["LayerVersionArn"], b["LayerVersionArn"]]
    out = invoke(lam, py)["Body"]
    assert out["greet"] == "hello from layer a"
    assert out["who"] == "b"  # the later layer's file wins
    assert out["tool"] == "tool-output"
    assert out["opt_writable"] is False
    assert out["path"].endswith("/opt/bin")
    assert out["ld"].endswith("/opt/lib")
    assert out["site"] == "site-packages"

    # Reversed, the earlier layer's file is the one that stays.
    lam.update_function_configuration(FunctionName=py, Layers=[b["LayerVersionArn"], a["LayerVersionArn"]])
    lam.get_waiter("function_updated_v2").wait(FunctionName=py)
    assert invoke(lam, py)["Body"]["who"] == "a"
    # An empty list removes them.
    lam.update_function_configuration(FunctionName=py, Layers=[])
    assert "Layers" not in lam.get_function_configuration(FunctionName=py)
    assert invoke(lam, py)["Body"]["errorType"] == "Runtime.ImportModuleError"

    node = unique("node-layers")
    create(lam, node, {"index.js": NODE_APP}, runtime="nodejs20.x", handler="index.handler",
           Layers=[a["LayerVersionArn"]])
    out = invoke(lam, node)["Body"]
    assert out["greet"] == "node hello from layer a"
    assert "/opt/nodejs/node_modules" in out["nodePath"].split(":")
    assert "/opt/nodejs/node20/node_modules" in out["nodePath"].split(":")

    # A deleted layer version keeps working for the functions that use it.
    lam.delete_layer_version(LayerName=a["LayerArn"], VersionNumber=a["Version"])
    lam.update_function_configuration(FunctionName=node, Description="touched")
    lam.get_waiter("function_updated_v2").wait(FunctionName=node)
    assert invoke(lam, node)["Body"]["greet"] == "node hello from layer a"


def test_layer_errors_on_functions(lam):
    layer = publish(lam, unique("l"), {"a.txt": "a"})
    missing = layer["LayerVersionArn"].rsplit(":", 1)[0] + ":99"
    with pytest.raises(ClientError) as e:
        create(lam, unique("f"), {"app.py": "x=1"}, Layers=[missing])
    assert error(e) == ("InvalidParameterValueException", f"Layer version {missing} does not exist.", 400)
    with pytest.raises(ClientError) as e:
        create(lam, unique("f"), {"app.py": "x=1"}, Layers=[layer["LayerVersionArn"]] * 6)
    assert error(e) == ("InvalidParameterValueException", "Cannot reference more than 5 layers.", 400)
    with pytest.raises(ClientError) as e:
        create(lam, unique("f"), {"app.py": "x=1"}, Layers=[layer["LayerArn"]])
    assert error(e)[0] == "ValidationException"
    name = unique("f")
    create(lam, name, {"app.py": "x=1"})
    with pytest.raises(ClientError) as e:
        lam.update_function_configuration(FunctionName=name, Layers=[missing])
    assert error(e)[0] == "InvalidParameterValueException"


def test_code_and_layers_from_s3(nimbus, lam):
    s3 = nimbus.client("s3")
    bucket = unique("code").lower()
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket=bucket, Key="app.zip",
                       Body=make_zip({"app.py": "def lambda_handler(e, c):\n    return 'v1'\n"}))["VersionId"]
    s3.put_object(Bucket=bucket, Key="app.zip",
                  Body=make_zip({"app.py": "def lambda_handler(e, c):\n    return 'v2'\n"}))
    name = unique("from-s3")
    created = lam.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE,
                                  Handler="app.lambda_handler",
                                  Code={"S3Bucket": bucket, "S3Key": "app.zip", "S3ObjectVersion": v1})
    assert created["CodeSize"] > 0
    assert invoke(lam, name)["Body"] == "v1"
    lam.update_function_code(FunctionName=name, S3Bucket=bucket, S3Key="app.zip")
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    assert invoke(lam, name)["Body"] == "v2"

    s3.put_object(Bucket=bucket, Key="layer.zip", Body=make_zip({"python/froms3.py": "V = 's3 layer'\n"}))
    layer = lam.publish_layer_version(LayerName=unique("s3-layer"),
                                      Content={"S3Bucket": bucket, "S3Key": "layer.zip"})
    assert layer["Version"] == 1
    user = unique("uses-s3-layer")
    create(lam, user, {"app.py": "import froms3\ndef lambda_handler(e, c):\n    return froms3.V\n"},
           Layers=[layer["LayerVersionArn"]])
    assert invoke(lam, user)["Body"] == "s3 layer"


def test_code_from_s3_errors(nimbus, lam):
    s3 = nimbus.client("s3")
    bucket = unique("code").lower()
    s3.create_bucket(Bucket=bucket)
    with pytest.raises(ClientError) as e:
        lam.create_function(FunctionName=unique("f"), Runtime="python3.12", Role=ROLE,
                            Handler="app.lambda_handler", Code={"S3Bucket": bucket, "S3Key": "missing.zip"})
    assert error(e) == ("InvalidParameterValueException",
                        "Error occurred while GetObject. S3 Error Code: NoSuchKey. "
                        "S3 Error Message: The specified key does not exist.", 400)
    with pytest.raises(ClientError) as e:
        lam.create_function(FunctionName=unique("f"), Runtime="python3.12", Role=ROLE,
                            Handler="app.lambda_handler",
                            Code={"S3Bucket": unique("nobucket").lower(), "S3Key": "a.zip"})
    code, message, status = error(e)
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert message.startswith("Error occurred while GetObject. S3 Error Code: NoSuchBucket.")
    with pytest.raises(ClientError) as e:
        lam.publish_layer_version(LayerName=unique("l"), Content={"S3Bucket": bucket, "S3Key": "nope.zip"})
    assert "S3 Error Code: NoSuchKey" in error(e)[1]
    s3.put_object(Bucket=bucket, Key="junk.zip", Body=b"not a zip")
    name = unique("f")
    create(lam, name, {"app.py": "x = 1\n"})
    with pytest.raises(ClientError) as e:
        lam.update_function_code(FunctionName=name, S3Bucket=bucket, S3Key="junk.zip")
    assert error(e)[:2] == ("InvalidParameterValueException",
                            "Could not unzip uploaded file. Please check your file, then try to upload again.")
