"""Create, read, update and delete functions through boto3 and the AWS CLI."""
import base64
import hashlib
import json
import signal
import tempfile

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import ROLE, Nimbus, create, invoke, make_zip, unique

APP = {"app.py": "def lambda_handler(event, context):\n    return {'v': 1}\n"}


def error_code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def test_create_get_list_update_delete(lam):
    name = unique("crud")
    zip_bytes = make_zip(APP)
    out = lam.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="app.lambda_handler",
                              Code={"ZipFile": zip_bytes}, Description="first", Timeout=5, MemorySize=256,
                              Environment={"Variables": {"GREETING": "hi"}})
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert out["FunctionArn"] == f"arn:aws:lambda:us-east-1:000000000000:function:{name}"
    assert out["CodeSha256"] == base64.b64encode(hashlib.sha256(zip_bytes).digest()).decode()
    assert out["CodeSize"] == len(zip_bytes)
    # As Lambda answers a create: Pending, no update status; the next read finds it Active.
    assert (out["Timeout"], out["MemorySize"], out["Version"], out["State"]) == (5, 256, "$LATEST", "Pending")
    assert (out["StateReasonCode"], "LastUpdateStatus" in out) == ("Creating", False)
    assert out["Environment"] == {"Variables": {"GREETING": "hi"}}
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})

    got = lam.get_function(FunctionName=name)
    assert (got["Configuration"]["State"], got["Configuration"]["LastUpdateStatus"]) == ("Active", "Successful")
    assert got["Configuration"]["RevisionId"] == out["RevisionId"]
    assert got["Code"]["RepositoryType"] == "S3"
    assert lam.get_function_configuration(FunctionName=out["FunctionArn"])["Description"] == "first"
    names = [f["FunctionName"] for p in lam.get_paginator("list_functions").paginate() for f in p["Functions"]]
    assert name in names

    upd = lam.update_function_configuration(FunctionName=name, MemorySize=512, Timeout=10, Description="second",
                                            RevisionId=out["RevisionId"])
    assert (upd["MemorySize"], upd["Timeout"], upd["Description"]) == (512, 10, "second")
    assert upd["RevisionId"] != out["RevisionId"]
    with pytest.raises(ClientError) as e:
        lam.update_function_configuration(FunctionName=name, Timeout=3, RevisionId=out["RevisionId"])
    assert error_code(e) == "PreconditionFailedException"

    new_zip = make_zip({"app.py": "def lambda_handler(event, context):\n    return {'v': 2}\n"})
    code = lam.update_function_code(FunctionName=name, ZipFile=new_zip)
    assert code["CodeSha256"] == base64.b64encode(hashlib.sha256(new_zip).digest()).decode()
    assert invoke(lam, name)["Body"] == {"v": 2}

    lam.delete_function(FunctionName=name)
    with pytest.raises(ClientError) as e:
        lam.get_function(FunctionName=name)
    assert error_code(e) == "ResourceNotFoundException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_list_functions_paginates(lam):
    prefix = unique("page")
    for i in range(3):
        create(lam, f"{prefix}-{i}", APP)
    seen = []
    marker = None
    while True:
        kw = {"MaxItems": 2}
        if marker:
            kw["Marker"] = marker
        page = lam.list_functions(**kw)
        assert len(page["Functions"]) <= 2
        seen += [f["FunctionName"] for f in page["Functions"]]
        marker = page.get("NextMarker")
        if not marker:
            break
    assert [n for n in seen if n.startswith(prefix)] == [f"{prefix}-{i}" for i in range(3)]
    assert len(seen) == len(set(seen))


@pytest.mark.parametrize("kwargs,code,needle", [
    ({"Code": {"ZipFile": b"this is not a zip"}}, "InvalidParameterValueException", "unzip"),
    ({"Runtime": "python2.7"}, "InvalidParameterValueException", "python2.7"),
    ({"Runtime": "cobol85"}, "InvalidParameterValueException", "cobol85"),
    ({"MemorySize": 64}, "InvalidParameterValueException", "MemorySize"),
    ({"MemorySize": 20000}, "InvalidParameterValueException", "MemorySize"),
    ({"Timeout": 901}, "InvalidParameterValueException", "Timeout"),
    ({"Handler": "app handler"}, "InvalidParameterValueException", "Handler"),
    ({"Environment": {"Variables": {"AWS_REGION": "x"}}}, "InvalidParameterValueException", "AWS_REGION"),
    ({"Role": "not-a-role"}, "ValidationException", "role"),
])
def test_create_refuses_bad_input(nimbus, lam, kwargs, code, needle):
    # botocore checks some ranges itself; switch that off so the server's answer is tested.
    raw = nimbus.client(config=Config(parameter_validation=False, retries={"max_attempts": 1}))
    args = dict(FunctionName=unique("bad"), Runtime="python3.12", Role=ROLE, Handler="app.lambda_handler",
                Code={"ZipFile": make_zip(APP)})
    args.update(kwargs)
    with pytest.raises(ClientError) as e:
        raw.create_function(**args)
    assert error_code(e) == code
    assert needle.lower() in e.value.response["Error"]["Message"].lower()
    with pytest.raises(ClientError) as e2:
        lam.get_function(FunctionName=args["FunctionName"])
    assert error_code(e2) == "ResourceNotFoundException", "a refused create must leave nothing behind"


def test_second_create_conflicts_and_unknown_is_not_found(lam):
    name = unique("dup")
    create(lam, name, APP)
    with pytest.raises(ClientError) as e:
        create(lam, name, APP)
    assert error_code(e) == "ResourceConflictException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    for call in (lambda: lam.get_function(FunctionName="does-not-exist"),
                 lambda: lam.delete_function(FunctionName="does-not-exist"),
                 lambda: lam.invoke(FunctionName="does-not-exist"),
                 lambda: lam.update_function_code(FunctionName="does-not-exist", ZipFile=make_zip(APP))):
        with pytest.raises(ClientError) as e:
            call()
        assert error_code(e) == "ResourceNotFoundException"


def test_aws_cli_round_trip(nimbus, tmp_path):
    name = unique("cli")
    (tmp_path / "fn.zip").write_bytes(make_zip({"app.py": "def lambda_handler(e, c):\n    print('cli says hi')\n    return {'got': e}\n"}))
    out = json.loads(nimbus.aws("lambda", "create-function", "--function-name", name,
                                "--zip-file", f"fileb://{tmp_path / 'fn.zip'}", "--handler", "app.lambda_handler",
                                "--runtime", "python3.12", "--role", ROLE).stdout)
    assert out["FunctionName"] == name
    listed = json.loads(nimbus.aws("lambda", "list-functions").stdout)
    assert name in [f["FunctionName"] for f in listed["Functions"]]
    res = json.loads(nimbus.aws("lambda", "invoke", "--function-name", name, "--payload", '{"x": 1}',
                                "--log-type", "Tail", str(tmp_path / "out.json")).stdout)
    assert res["StatusCode"] == 200
    assert json.loads((tmp_path / "out.json").read_text()) == {"got": {"x": 1}}
    tail = base64.b64decode(res["LogResult"]).decode()
    assert "START RequestId:" in tail and "cli says hi" in tail and "REPORT RequestId:" in tail
    nimbus.aws("lambda", "update-function-configuration", "--function-name", name, "--timeout", "7")
    assert json.loads(nimbus.aws("lambda", "get-function-configuration", "--function-name", name).stdout)["Timeout"] == 7
    nimbus.aws("lambda", "delete-function", "--function-name", name)
    res = nimbus.aws("lambda", "get-function", "--function-name", name, check=False)
    assert res.returncode != 0 and "ResourceNotFoundException" in res.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_functions_survive_restart(sig):
    with tempfile.TemporaryDirectory(prefix="nimbus-restart-") as d:
        n = Nimbus(d).start()
        try:
            lam = n.client()
            create(lam, "survivor", {"app.py": "def lambda_handler(e, c):\n    return 'still here'\n"})
            creds = (n.data_dir / "credentials").read_text()
        finally:
            n.stop(sig)
        n2 = Nimbus(d).start()
        try:
            assert (n2.data_dir / "credentials").read_text() == creds
            lam = n2.client()
            assert lam.get_function(FunctionName="survivor")["Configuration"]["Handler"] == "app.lambda_handler"
            assert invoke(lam, "survivor")["Body"] == "still here"
        finally:
            n2.stop()


def test_recursion_and_runtime_management_configs_and_invoke_async(nimbus, lam):
    import time

    name = unique("settings")
    arn = create(lam, name, {"app.py": "def lambda_handler(event, context):\n    print('GOT', event)\n    return event\n"})["FunctionArn"]
    # Recursion: Terminate unless set (Nimbus stops loops), Allow lets them run.
    assert lam.get_function_recursion_config(FunctionName=name)["RecursiveLoop"] == "Terminate"
    assert lam.put_function_recursion_config(FunctionName=name, RecursiveLoop="Allow")["RecursiveLoop"] == "Allow"
    assert lam.get_function_recursion_config(FunctionName=arn)["RecursiveLoop"] == "Allow"
    with pytest.raises(ClientError) as e:
        lam.put_function_recursion_config(FunctionName=name, RecursiveLoop="Sometimes")
    assert error_code(e) == "ValidationException" and "[Allow, Terminate]" in e.value.response["Error"]["Message"]

    # Runtime management: Auto unless set; Manual pins a runtime version ARN.
    got = lam.get_runtime_management_config(FunctionName=name)
    assert got["UpdateRuntimeOn"] == "Auto" and got["FunctionArn"] == arn + ":$LATEST"
    running = lam.get_function_configuration(FunctionName=name)["RuntimeVersionConfig"]["RuntimeVersionArn"]
    assert running.startswith("arn:aws:lambda:us-east-1::runtime:")
    put = lam.put_runtime_management_config(FunctionName=name, UpdateRuntimeOn="Manual", RuntimeVersionArn=running)
    assert put["UpdateRuntimeOn"] == "Manual" and put["RuntimeVersionArn"] == running
    version = lam.publish_version(FunctionName=name)["Version"]
    on_version = lam.get_runtime_management_config(FunctionName=name, Qualifier=version)
    assert on_version["UpdateRuntimeOn"] == "Manual" and on_version["FunctionArn"] == f"{arn}:{version}"
    lam.put_runtime_management_config(FunctionName=name, Qualifier=version, UpdateRuntimeOn="FunctionUpdate")
    assert lam.get_runtime_management_config(FunctionName=name, Qualifier=version)["UpdateRuntimeOn"] == "FunctionUpdate"
    assert lam.get_runtime_management_config(FunctionName=name)["UpdateRuntimeOn"] == "Manual"
    for kw, code in [({"UpdateRuntimeOn": "Manual"}, "InvalidParameterValueException"),
                     ({"UpdateRuntimeOn": "Sometimes"}, "ValidationException"),
                     ({"UpdateRuntimeOn": "Auto", "RuntimeVersionArn": running}, "InvalidParameterValueException")]:
        with pytest.raises(ClientError) as e:
            lam.put_runtime_management_config(FunctionName=name, **kw)
        assert error_code(e) == code, kw
    with pytest.raises(ClientError) as e:
        lam.get_runtime_management_config(FunctionName=name, Qualifier="99")
    assert error_code(e) == "ResourceNotFoundException"

    # The deprecated InvokeAsync queues an event.
    assert lam.invoke_async(FunctionName=name, InvokeArgs=b'{"via": "invoke-async"}')["Status"] == 202
    deadline = time.time() + 60
    while time.time() < deadline:
        if "'via': 'invoke-async'" in nimbus.logs(name).stdout:
            break
        time.sleep(0.2)
    else:
        raise AssertionError("the event was not run")


def test_code_signing_configs(lam):
    """Configurations are kept and attached to functions; no package Nimbus is
    given is signed, so `Enforce` refuses new code and `Warn` takes it."""
    profile = "arn:aws:signer:us-east-1:000000000000:/signing-profiles/team/abcdef0123"
    warn = lam.create_code_signing_config(Description="warn only",
                                         AllowedPublishers={"SigningProfileVersionArns": [profile]})["CodeSigningConfig"]
    assert warn["CodeSigningConfigId"].startswith("csc-") and len(warn["CodeSigningConfigId"]) == 21
    assert warn["CodeSigningPolicies"]["UntrustedArtifactOnDeployment"] == "Warn"
    assert warn["CodeSigningConfigArn"].endswith(":code-signing-config:" + warn["CodeSigningConfigId"])
    enforce = lam.create_code_signing_config(AllowedPublishers={"SigningProfileVersionArns": [profile]},
                                            CodeSigningPolicies={"UntrustedArtifactOnDeployment": "Enforce"})["CodeSigningConfig"]
    assert lam.get_code_signing_config(CodeSigningConfigArn=warn["CodeSigningConfigArn"])["CodeSigningConfig"] == warn
    listed = [c["CodeSigningConfigArn"] for c in lam.list_code_signing_configs()["CodeSigningConfigs"]]
    assert warn["CodeSigningConfigArn"] in listed and enforce["CodeSigningConfigArn"] in listed

    name = unique("signed")
    create(lam, name, APP, CodeSigningConfigArn=warn["CodeSigningConfigArn"])
    got = lam.get_function_code_signing_config(FunctionName=name)
    assert got["CodeSigningConfigArn"] == warn["CodeSigningConfigArn"] and got["FunctionName"] == name
    lam.update_function_code(FunctionName=name, ZipFile=make_zip(APP))  # Warn: taken
    assert lam.list_functions_by_code_signing_config(
        CodeSigningConfigArn=warn["CodeSigningConfigArn"])["FunctionArns"][0].endswith(":function:" + name)
    with pytest.raises(ClientError) as e:
        lam.delete_code_signing_config(CodeSigningConfigArn=warn["CodeSigningConfigArn"])
    assert error_code(e) == "ResourceConflictException"

    lam.put_function_code_signing_config(FunctionName=name, CodeSigningConfigArn=enforce["CodeSigningConfigArn"])
    with pytest.raises(ClientError) as e:
        lam.update_function_code(FunctionName=name, ZipFile=make_zip(APP))
    assert error_code(e) == "CodeVerificationFailedException"
    with pytest.raises(ClientError) as e:
        create(lam, unique("refused"), APP, CodeSigningConfigArn=enforce["CodeSigningConfigArn"])
    assert error_code(e) == "CodeVerificationFailedException"
    updated = lam.update_code_signing_config(CodeSigningConfigArn=enforce["CodeSigningConfigArn"],
                                             CodeSigningPolicies={"UntrustedArtifactOnDeployment": "Warn"})
    assert updated["CodeSigningConfig"]["CodeSigningPolicies"]["UntrustedArtifactOnDeployment"] == "Warn"
    lam.update_function_code(FunctionName=name, ZipFile=make_zip(APP))

    lam.delete_function_code_signing_config(FunctionName=name)
    assert lam.get_function_code_signing_config(FunctionName=name)["CodeSigningConfigArn"] == ""
    lam.delete_code_signing_config(CodeSigningConfigArn=warn["CodeSigningConfigArn"])
    missing = warn["CodeSigningConfigArn"]
    with pytest.raises(ClientError) as e:
        lam.get_code_signing_config(CodeSigningConfigArn=missing)
    assert error_code(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        lam.put_function_code_signing_config(FunctionName=name, CodeSigningConfigArn=missing)
    assert error_code(e) == "CodeSigningConfigNotFoundException"
    with pytest.raises(ClientError) as e:
        lam.create_code_signing_config(AllowedPublishers={"SigningProfileVersionArns": [profile]},
                                       CodeSigningPolicies={"UntrustedArtifactOnDeployment": "Sometimes"})
    assert error_code(e) == "ValidationException"


def test_updates_answer_in_progress_and_list_functions_takes_all_versions(lam):
    name = unique("versions")
    create(lam, name, APP)
    up = lam.update_function_configuration(FunctionName=name, Description="second")
    assert up["LastUpdateStatus"] == "InProgress" and up["LastUpdateStatusReasonCode"] == "Creating"
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    assert lam.get_function_configuration(FunctionName=name)["LastUpdateStatus"] == "Successful"
    lam.publish_version(FunctionName=name)
    lam.update_function_code(FunctionName=name, ZipFile=make_zip({"app.py": APP["app.py"] + "# 2\n"}), Publish=True)
    every = [(f["FunctionName"], f["Version"])
             for p in lam.get_paginator("list_functions").paginate(FunctionVersion="ALL", PaginationConfig={"PageSize": 2})
             for f in p["Functions"]]
    assert [v for n, v in every if n == name] == ["$LATEST", "1", "2"]
    assert len(every) == len(set(every)), "no entry twice across pages"
    assert [v for p in lam.get_paginator("list_functions").paginate() for f in p["Functions"]
            for v in [f["Version"]] if f["FunctionName"] == name] == ["$LATEST"]
    with pytest.raises(ClientError) as e:
        lam.list_functions(FunctionVersion="SOME")
    assert error_code(e) == "ValidationException"


def test_container_images_are_refused_naming_what_is_missing(lam):
    for kw in ({"PackageType": "Image", "Code": {"ImageUri": "000000000000.dkr.ecr.us-east-1.amazonaws.com/app:1"}},
               {"Code": {"ImageUri": "000000000000.dkr.ecr.us-east-1.amazonaws.com/app:1"}}):
        with pytest.raises(lam.exceptions.InvalidParameterValueException) as e:
            lam.create_function(FunctionName="image-fn", Role=ROLE, **kw)
        msg = e.value.response["Error"]["Message"]
        assert "PackageType Image is not supported" in msg and "container registry" in msg and ".zip" in msg


def test_malformed_names_and_qualifiers_quote_lambdas_patterns(lam):
    with pytest.raises(lam.exceptions.ClientError) as e:
        lam.create_function(FunctionName="bad name!", Role=ROLE, Runtime="python3.12", Handler="app.h",
                            Code={"ZipFile": make_zip({"app.py": "def h(e, c):\n    return 1\n"})})
    err = e.value.response["Error"]
    assert err["Code"] == "ValidationException"
    assert "at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: " \
           "(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}" in err["Message"]
    name = unique("qualcheck")
    create(lam, name, {"app.py": "def lambda_handler(e, c):\n    return 1\n"})
    with pytest.raises(lam.exceptions.ClientError) as e:
        lam.get_function_configuration(FunctionName=name, Qualifier="not/valid!")
    err = e.value.response["Error"]
    assert err["Code"] == "ValidationException"
    assert err["Message"] == ("1 validation error detected: Value 'not/valid!' at 'qualifier' failed to satisfy "
                              "constraint: Member must satisfy regular expression pattern: (|[a-zA-Z0-9$_-]+)")
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function_configuration(FunctionName=name, Qualifier="nosuchalias")


def test_resource_policy_documents_put_get_and_delete_whole(lam):
    import json as _json
    name = unique("respol")
    arn = create(lam, name, {"app.py": "def lambda_handler(e, c):\n    return 1\n"})["FunctionArn"]
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_resource_policy(ResourceArn=arn)
    doc = {"Version": "2012-10-17", "Statement": [{
        "Sid": "events", "Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"},
        "Action": "lambda:InvokeFunction", "Resource": arn}]}
    put = lam.put_resource_policy(ResourceArn=arn, Policy=_json.dumps(doc))
    got = lam.get_resource_policy(ResourceArn=arn)
    assert got["RevisionId"] == put["RevisionId"]
    assert _json.loads(got["Policy"])["Statement"] == doc["Statement"]
    # The same statements as GetPolicy / AddPermission see.
    assert _json.loads(lam.get_policy(FunctionName=name)["Policy"])["Statement"] == doc["Statement"]
    lam.add_permission(FunctionName=name, StatementId="s3", Action="lambda:InvokeFunction",
                       Principal="s3.amazonaws.com")
    with pytest.raises(lam.exceptions.PreconditionFailedException):
        lam.put_resource_policy(ResourceArn=arn, Policy=_json.dumps(doc), RevisionId=put["RevisionId"])
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.put_resource_policy(ResourceArn=arn, Policy="{not json")
    current = lam.get_resource_policy(ResourceArn=arn)["RevisionId"]
    lam.delete_resource_policy(ResourceArn=arn, RevisionId=current)
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_policy(FunctionName=name)
