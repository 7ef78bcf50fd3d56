"""Versions and aliases: publish, invoke by qualifier, weighted aliases."""
import pytest
from botocore.exceptions import ClientError

from conftest import ROLE, create, invoke, make_zip, unique


def code(v):
    return {"app.py": f"def lambda_handler(e, c):\n    return {{'code': {v}, 'version': c.function_version, 'arn': c.invoked_function_arn}}\n"}


def test_publish_and_invoke_versions(lam):
    name = unique("ver")
    create(lam, name, code(1))
    v1 = lam.publish_version(FunctionName=name, Description="first")
    assert v1["Version"] == "1" and v1["FunctionArn"].endswith(f":{name}:1") and v1["Description"] == "first"
    lam.update_function_code(FunctionName=name, ZipFile=make_zip(code(2)))
    v2 = lam.publish_version(FunctionName=name)
    assert v2["Version"] == "2"
    assert lam.publish_version(FunctionName=name)["Version"] == "2", "nothing changed: no new version"
    assert [v["Version"] for v in lam.list_versions_by_function(FunctionName=name)["Versions"]] == ["$LATEST", "1", "2"]
    r1 = invoke(lam, name, Qualifier="1")
    assert r1["Body"]["code"] == 1 and r1["Body"]["version"] == "1" and r1["ExecutedVersion"] == "1"
    assert r1["Body"]["arn"].endswith(f":{name}:1")
    assert invoke(lam, f"{name}:2")["Body"]["code"] == 2
    latest = invoke(lam, name)
    assert latest["ExecutedVersion"] == "$LATEST" and latest["Body"]["code"] == 2
    cfg = lam.get_function_configuration(FunctionName=name, Qualifier="1")
    assert cfg["Version"] == "1" and cfg["Description"] == "first"
    with pytest.raises(ClientError) as e:
        invoke(lam, name, Qualifier="9")
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_create_with_publish(lam):
    name = unique("pub")
    out = lam.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="app.lambda_handler",
                              Code={"ZipFile": make_zip(code(1))}, Publish=True)
    assert out["Version"] == "1"


def test_aliases_route_between_versions(lam):
    name = unique("alias")
    create(lam, name, code(1))
    lam.publish_version(FunctionName=name)
    lam.update_function_code(FunctionName=name, ZipFile=make_zip(code(2)))
    lam.publish_version(FunctionName=name)
    a = lam.create_alias(FunctionName=name, Name="prod", FunctionVersion="1", Description="live")
    assert a["AliasArn"].endswith(f":{name}:prod") and a["FunctionVersion"] == "1"
    with pytest.raises(ClientError) as e:
        lam.create_alias(FunctionName=name, Name="prod", FunctionVersion="1")
    assert e.value.response["Error"]["Code"] == "ResourceConflictException"
    r = invoke(lam, name, Qualifier="prod")
    assert r["ExecutedVersion"] == "1" and r["Body"]["arn"].endswith(":prod")
    upd = lam.update_alias(FunctionName=name, Name="prod", FunctionVersion="2",
                           RoutingConfig={"AdditionalVersionWeights": {"1": 0.5}})
    assert upd["RoutingConfig"]["AdditionalVersionWeights"] == {"1": 0.5}
    seen = {invoke(lam, name, Qualifier="prod")["ExecutedVersion"] for _ in range(40)}
    assert seen == {"1", "2"}, "a weighted alias sends traffic to both versions"
    assert [x["Name"] for x in lam.list_aliases(FunctionName=name)["Aliases"]] == ["prod"]
    assert lam.get_alias(FunctionName=name, Name="prod")["Description"] == "live"
    with pytest.raises(ClientError) as e:
        lam.delete_function(FunctionName=name, Qualifier="1")
    assert e.value.response["Error"]["Code"] == "ResourceConflictException"
    lam.delete_alias(FunctionName=name, Name="prod")
    with pytest.raises(ClientError) as e:
        lam.get_alias(FunctionName=name, Name="prod")
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
    lam.delete_function(FunctionName=name, Qualifier="1")
    with pytest.raises(ClientError):
        invoke(lam, name, Qualifier="1")
    assert invoke(lam, name, Qualifier="2")["Body"]["code"] == 2
    lam.delete_function(FunctionName=name)
    with pytest.raises(ClientError):
        lam.get_function(FunctionName=name)


PROVISIONED = '''
import os, time
def lambda_handler(e, c):
    time.sleep(e.get("sleep", 0))
    return os.environ["AWS_LAMBDA_INITIALIZATION_TYPE"]
'''


def test_provisioned_concurrency(nimbus, lam):
    import base64
    import concurrent.futures
    import time
    name = unique("prov")
    create(lam, name, {"app.py": PROVISIONED}, Timeout=10)
    lam.publish_version(FunctionName=name)
    with pytest.raises(ClientError) as e:
        lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="$LATEST", ProvisionedConcurrentExecutions=1)
    assert e.value.response["Error"]["Code"] == "InvalidParameterValueException"
    out = lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=2)
    assert out["RequestedProvisionedConcurrentExecutions"] == 2 and out["Status"] in ("IN_PROGRESS", "READY")
    deadline = time.time() + 30
    while lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier="1")["Status"] != "READY":
        assert time.time() < deadline, "provisioned environments never became ready"
        time.sleep(0.2)
    got = lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier="1")
    assert got["AllocatedProvisionedConcurrentExecutions"] == 2
    r = invoke(lam, name, Qualifier="1", LogType="Tail")
    assert r["Body"] == "provisioned-concurrency"
    assert "Init Duration" not in base64.b64decode(r["LogResult"]).decode()
    # Three at once: two provisioned environments, then spill-over on demand.
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        kinds = sorted(pool.map(lambda _: invoke(lam, name, {"sleep": 1}, Qualifier="1")["Body"], range(3)))
    assert kinds == ["on-demand", "provisioned-concurrency", "provisioned-concurrency"]
    # Lambda's provisioned concurrency metrics, by function and version.
    cw = nimbus.client("cloudwatch")
    dims = [{"Name": "FunctionName", "Value": name}, {"Name": "Resource", "Value": f"{name}:1"}]

    def stat(metric, statistic):
        now = time.time()
        points = cw.get_metric_statistics(Namespace="AWS/Lambda", MetricName=metric, Dimensions=dims,
                                          StartTime=now - 600, EndTime=now + 60, Period=660,
                                          Statistics=[statistic])["Datapoints"]
        return points[0][statistic] if points else None

    assert stat("ProvisionedConcurrencyInvocations", "Sum") == 3
    assert stat("ProvisionedConcurrencySpilloverInvocations", "Sum") == 1
    assert stat("ProvisionedConcurrencyUtilization", "Maximum") == 1.0
    assert stat("ProvisionedConcurrentExecutions", "Maximum") == 2
    listed = lam.list_provisioned_concurrency_configs(FunctionName=name)["ProvisionedConcurrencyConfigs"]
    assert [c["FunctionArn"].rsplit(":", 1)[1] for c in listed] == ["1"]
    lam.delete_provisioned_concurrency_config(FunctionName=name, Qualifier="1")
    with pytest.raises(ClientError) as e:
        lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier="1")
    assert e.value.response["Error"]["Code"] == "ProvisionedConcurrencyConfigNotFoundException"


def test_versions_and_aliases_survive_restart_and_config_deletes():
    import tempfile
    from conftest import Nimbus
    with tempfile.TemporaryDirectory(prefix="nimbus-ver-restart-") as d:
        n = Nimbus(d).start()
        try:
            lam = n.client()
            create(lam, "kept", code(1))
            lam.publish_version(FunctionName="kept")
            lam.create_alias(FunctionName="kept", Name="live", FunctionVersion="1")
            # Deleting another per-function record must not touch versions or aliases.
            lam.put_function_event_invoke_config(FunctionName="kept", MaximumRetryAttempts=0)
            lam.delete_function_event_invoke_config(FunctionName="kept")
        finally:
            n.stop()
        n2 = Nimbus(d).start()
        try:
            lam = n2.client()
            assert [v["Version"] for v in lam.list_versions_by_function(FunctionName="kept")["Versions"]] == ["$LATEST", "1"]
            assert lam.get_alias(FunctionName="kept", Name="live")["FunctionVersion"] == "1"
            assert invoke(lam, "kept", Qualifier="live")["Body"]["code"] == 1
        finally:
            n2.stop()


def test_asynchronous_invocations_run_the_version_asked_for(nimbus, lam):
    """The event of an `Event` invoke with a Qualifier runs that version (the
    function records what ran in S3)."""
    import time
    s3 = nimbus.client("s3")
    bucket = unique("asyncver").lower()
    s3.create_bucket(Bucket=bucket)
    recorder = lambda v: {"app.py": (
        "import boto3\n"
        "def lambda_handler(e, c):\n"
        f"    boto3.client('s3').put_object(Bucket='{bucket}', Key=e['tag'], Body=b'{v}:' + c.function_version.encode())\n")}
    name = unique("asyncver")
    create(lam, name, recorder(1), Timeout=30)
    lam.publish_version(FunctionName=name)
    lam.update_function_code(FunctionName=name, ZipFile=make_zip(recorder(2)))
    lam.create_alias(FunctionName=name, Name="stable", FunctionVersion="1")
    for tag, qualifier in [("by-version", "1"), ("by-alias", "stable"), ("latest", None)]:
        kw = {"Qualifier": qualifier} if qualifier else {}
        assert lam.invoke(FunctionName=name, InvocationType="Event", Payload=f'{{"tag": "{tag}"}}', **kw)["StatusCode"] == 202
    want = {"by-version": b"1:1", "by-alias": b"1:1", "latest": b"2:$LATEST"}
    deadline = time.time() + 60
    got = {}
    while time.time() < deadline and len(got) < 3:
        for tag in want:
            try:
                got[tag] = s3.get_object(Bucket=bucket, Key=tag)["Body"].read()
            except ClientError:
                pass
        time.sleep(0.3)
    assert got == want
