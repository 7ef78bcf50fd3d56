"""java* functions on Nimbus's Java runtime client: handlers compiled here against the
interface names Lambda's Java library defines (tests/functions/java/lambda-api), packaged
as a jar that bundles those interfaces and as a zip with a jar in lib/ that does not."""
import base64
import glob
import io
import json
import os
import shutil
import subprocess
import tempfile
import zipfile

import pytest

from conftest import ROLE, ROOT, invoke, publish_active, unique

JAVA_DIR = str(ROOT / "tests" / "functions" / "java")


def _host_java_majors():
    majors = set()
    for release in glob.glob("/usr/lib/jvm/*/release"):
        with open(release) as f:
            for line in f:
                if line.startswith("JAVA_VERSION="):
                    v = line.split("=", 1)[1].strip().strip('"')
                    first = v.split(".")[0]
                    majors.add(int(v.split(".")[1]) if first == "1" else int(first))
    return majors


def _zip(entries):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in sorted(entries.items()):
            z.writestr(zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)), data)
    return buf.getvalue()


@pytest.fixture(scope="module")
def packages():
    """(jar bundling the interfaces, zip with lib/functions.jar without them)."""
    javac = shutil.which("javac")
    assert javac, "the README's setup installs a JDK"
    with tempfile.TemporaryDirectory(prefix="nimbus-java-") as out:
        sources = glob.glob(os.path.join(JAVA_DIR, "**", "*.java"), recursive=True)
        subprocess.run([javac, "--release", "11", "-g", "-d", out, *sources], check=True,
                       capture_output=True, timeout=300)
        classes = {}
        for path in glob.glob(os.path.join(out, "**", "*.class"), recursive=True):
            with open(path, "rb") as f:
                classes[os.path.relpath(path, out)] = f.read()
    mine = {k: v for k, v in classes.items() if k.startswith("example/")}
    assert len(mine) < len(classes), "the interfaces compiled too"
    jar = _zip({"META-INF/MANIFEST.MF": b"Manifest-Version: 1.0\r\n\r\n", **classes})
    lib = _zip({"lib/functions.jar": _zip(mine)})
    return jar, lib


def test_request_handler_context_logs_and_init_once(nimbus, lam, packages):
    jar, _ = packages
    name = unique("java-hello")
    lam.create_function(FunctionName=name, Runtime="java17", Role=ROLE, Handler="example.Hello",
                        Code={"ZipFile": jar}, MemorySize=512, Timeout=30)
    ctx = base64.b64encode(json.dumps({"custom": {"tier": "gold"}}).encode()).decode()
    first = invoke(lam, name, {"name": "duke", "nested": {"list": [1, 2.5, True, None]}},
                   ClientContext=ctx, LogType="Tail")
    assert "FunctionError" not in first, first["Body"]
    b = first["Body"]
    assert b["hello"] == "duke"
    assert b["nested"] == {"list": [1, 2.5, True, None]}
    assert b["requestId"] == first["ResponseMetadata"]["RequestId"]
    assert b["functionName"] == name and b["functionVersion"] == "$LATEST"
    assert b["arn"].endswith(f":function:{name}") and b["memory"] == 512
    assert 0 < b["remaining"] <= 30000
    assert b["logGroup"] == f"/aws/lambda/{name}" and "[$LATEST]" in b["logStream"]
    assert b["client"] == {"tier": "gold"} and b["identity"] is None
    tail = base64.b64decode(first["LogResult"]).decode()
    assert "hello from the logger" in tail and "hello from stdout" in tail
    assert "REPORT RequestId:" in tail and "Init Duration" in tail
    second = invoke(lam, name, {"name": "again"})["Body"]
    assert second["inits"] == 1 and second["invocations"] == 2, "one JVM, initialized once"


def test_pojo_events_static_methods_and_a_jar_in_lib(nimbus, lam, packages):
    _, lib = packages
    name = unique("java-orders")
    lam.create_function(FunctionName=name, Runtime="java21", Role=ROLE,
                        Handler="example.Orders::place", Code={"ZipFile": lib}, Timeout=30)
    event = {"OrderId": "o-1", "quantity": 3, "express": True, "unknownField": {"ignored": 1},
             "items": [{"sku": "A", "price": 2.5}, {"SKU": "B", "price": 1}], "priority": "HIGH"}
    resp = invoke(lam, name, event)
    assert "FunctionError" not in resp, resp["Body"]
    # Names match case-insensitively, unknown ones are ignored, null results left out,
    # getURL is "URL" (standard bean names).
    assert resp["Body"] == {"orderId": "o-1", "total": 10.5, "express": True, "skus": ["A", "B"],
                            "priority": "HIGH", "URL": "https://example.com/orders/o-1"}
    # Lambda's leniencies: one value where a list is wanted, an unknown enum name as null.
    lenient = invoke(lam, name, {"orderId": "o-2", "quantity": 1, "items": {"sku": "C", "price": 4},
                                 "priority": "URGENT"})["Body"]
    assert lenient["skus"] == ["C"] and lenient["total"] == 4 and "priority" not in lenient

    shout = unique("java-shout")
    lam.create_function(FunctionName=shout, Runtime="java17", Role=ROLE,
                        Handler="example.Orders::shout", Code={"ZipFile": lib}, Timeout=30)
    assert invoke(lam, shout, "quiet")["Body"] == "QUIET!"

    bad = invoke(lam, name, {"quantity": "lots"})
    assert bad["FunctionError"] == "Unhandled"
    assert bad["Body"]["errorType"] == "java.lang.RuntimeException"
    assert bad["Body"]["errorMessage"] == "An error occurred during JSON parsing"
    assert "lots" in bad["Body"]["cause"]["errorMessage"]


def test_stream_handler_gets_raw_bytes(nimbus, lam, packages):
    jar, _ = packages
    name = unique("java-echo")
    lam.create_function(FunctionName=name, Runtime="java11", Role=ROLE, Handler="example.Echo",
                        Code={"ZipFile": jar}, Timeout=30)
    resp = lam.invoke(FunctionName=name, Payload=b'{"say": "hi there"}')
    assert resp["Payload"].read() == b'{"SAY": "HI THERE"}'


def test_uncaught_exception_in_lambdas_error_shape(nimbus, lam, packages):
    jar, _ = packages
    name = unique("java-boom")
    lam.create_function(FunctionName=name, Runtime="java17", Role=ROLE, Handler="example.Boom",
                        Code={"ZipFile": jar}, Timeout=30)
    resp = invoke(lam, name, {}, LogType="Tail")
    assert resp["FunctionError"] == "Unhandled"
    err = resp["Body"]
    assert err["errorType"] == "java.lang.IllegalStateException"
    assert err["errorMessage"] == "outer failure"
    assert err["stackTrace"][0].startswith("example.Boom.handleRequest(Boom.java:")
    assert not any("nimbus.lambda" in f or "reflect" in f for f in err["stackTrace"])
    assert err["cause"]["errorType"] == "java.lang.IllegalArgumentException"
    assert err["cause"]["errorMessage"] == "inner cause"
    tail = base64.b64decode(resp["LogResult"]).decode()
    assert "java.lang.IllegalStateException: outer failure" in tail
    # The environment survives a handled failure.
    assert invoke(lam, name, {})["Body"]["errorMessage"] == "outer failure"


def test_init_failures_name_what_is_missing(nimbus, lam, packages):
    jar, _ = packages
    cases = {
        "example.Missing": ("java.lang.ClassNotFoundException", "Class not found: example.Missing"),
        "example.Orders::nothing": (
            "java.lang.Exception",
            "No public method named nothing with appropriate method signature found on class class example.Orders"),
        "example.BadInit": ("java.lang.IllegalStateException", "cannot start without a database"),
    }
    for handler, (error_type, message) in cases.items():
        name = unique("java-init")
        lam.create_function(FunctionName=name, Runtime="java17", Role=ROLE, Handler=handler,
                            Code={"ZipFile": jar}, Timeout=30)
        resp = invoke(lam, name, {})
        assert resp["FunctionError"] == "Unhandled", handler
        assert resp["Body"]["errorType"] == error_type, resp["Body"]
        assert resp["Body"]["errorMessage"] == message


def test_environment_tool_options_and_host_jdk_choice(nimbus, lam, packages):
    jar, _ = packages
    hosts = _host_java_majors()
    for runtime in ["java17", "java8.al2"] + (["java25"] if 25 in hosts else []):
        name = unique("java-env")
        lam.create_function(FunctionName=name, Runtime=runtime, Role=ROLE,
                            Handler="example.Env::handleRequest", Code={"ZipFile": jar}, Timeout=30,
                            MemorySize=256,
                            Environment={"Variables": {"JAVA_TOOL_OPTIONS": "-Dnimbus.test=yes"}})
        resp = invoke(lam, name, {})
        assert "FunctionError" not in resp, resp["Body"]
        b = resp["Body"]
        assert b["toolProperty"] == "yes", "JAVA_TOOL_OPTIONS reaches the JVM"
        env = b["env"]
        assert env["AWS_EXECUTION_ENV"] == f"AWS_Lambda_{runtime}"
        assert env["_HANDLER"] == "example.Env::handleRequest"
        assert b["cwd"] == env["LAMBDA_TASK_ROOT"]
        assert b["maxHeapMb"] <= 256, "the heap is sized from the function's memory"
        assert b["traceHeader"].startswith("Root=1-")
        major = int(runtime[4:].split(".")[0])
        logs = nimbus.logs(name).stdout
        if major in hosts:
            assert b["javaVersion"] == str(major)
            assert "runs on this host's Java" not in logs
        else:
            assert f"function runtime {runtime} runs on this host's Java" in logs


def test_snap_start_initializes_at_publish_and_restores_with_hooks(nimbus, lam, packages):
    jar, _ = packages
    name = unique("java-snap")
    created = lam.create_function(FunctionName=name, Runtime="java21", Role=ROLE, Handler="example.Snap",
                                  Code={"ZipFile": jar}, Timeout=30,
                                  SnapStart={"ApplyOn": "PublishedVersions"})
    assert created["SnapStart"] == {"ApplyOn": "PublishedVersions", "OptimizationStatus": "Off"}
    version = publish_active(lam, name)
    assert version["SnapStart"] == {"ApplyOn": "PublishedVersions", "OptimizationStatus": "On"}
    # Init and the beforeCheckpoint hooks run at publish: the version was Pending
    # (refusing invocations) until they were done.
    assert version["State"] == "Pending" and version["StateReasonCode"] == "Creating"
    assert "beforeCheckpoint ran" in nimbus.logs(name).stdout
    first = invoke(lam, name, {}, Qualifier=version["Version"], LogType="Tail")
    assert "FunctionError" not in first, first["Body"]
    assert first["Body"] == {"beforeCheckpoint": 1, "afterRestore": 1, "invocations": 1,
                             "initType": "snap-start"}
    tail = base64.b64decode(first["LogResult"]).decode()
    logs = nimbus.logs(name).stdout
    assert "afterRestore ran" in logs and "RESTORE_REPORT Restore Duration:" in logs
    report = next(l for l in tail.splitlines() if l.startswith("REPORT"))
    assert "Restore Duration:" in report and "Init Duration" not in report
    warm = invoke(lam, name, {}, Qualifier=version["Version"])["Body"]
    assert warm["afterRestore"] == 1 and warm["invocations"] == 2, "a restored environment stays warm"
    # $LATEST is not a SnapStart version: a plain cold start.
    latest = invoke(lam, name, {})["Body"]
    assert latest["initType"] == "on-demand" and latest["afterRestore"] == 0


def test_snap_start_restore_failure_and_validation(nimbus, lam, packages):
    jar, _ = packages
    name = unique("java-snapfail")
    lam.create_function(FunctionName=name, Runtime="java17", Role=ROLE, Handler="example.Snap",
                        Code={"ZipFile": jar}, Timeout=30, SnapStart={"ApplyOn": "PublishedVersions"},
                        Environment={"Variables": {"REFUSE_RESTORE": "1"}})
    v = publish_active(lam, name)["Version"]
    with pytest.raises(lam.exceptions.SnapStartException) as e:
        lam.invoke(FunctionName=name, Qualifier=v, Payload=b"{}")
    assert "restore refused" in e.value.response["Error"]["Message"]
    assert "afterRestore ran" in nimbus.logs(name).stdout

    other = unique("node-snap")
    with pytest.raises(lam.exceptions.InvalidParameterValueException) as e:
        lam.create_function(FunctionName=other, Runtime="nodejs20.x", Role=ROLE, Handler="index.handler",
                            Code={"ZipFile": _zip({"index.js": b"exports.handler=async()=>1"})},
                            SnapStart={"ApplyOn": "PublishedVersions"})
    assert "SnapStart is not supported for runtime nodejs20.x" in e.value.response["Error"]["Message"]
    with pytest.raises(lam.exceptions.ClientError) as e:
        lam.update_function_configuration(FunctionName=name, SnapStart={"ApplyOn": "Sometimes"})
    assert e.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(lam.exceptions.InvalidParameterValueException) as e:
        lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier=v,
                                               ProvisionedConcurrentExecutions=1)
    assert "SnapStart" in e.value.response["Error"]["Message"]
    off = lam.update_function_configuration(FunctionName=name, SnapStart={"ApplyOn": "None"})
    assert off["SnapStart"] == {"ApplyOn": "None", "OptimizationStatus": "Off"}


def test_a_refused_response_leaves_the_jvm_serving(nimbus, lam, packages):
    jar, _ = packages
    name = unique("java-sized")
    lam.create_function(FunctionName=name, Runtime="java17", Role=ROLE, Handler="example.Sized::handleRequest",
                        Code={"ZipFile": jar}, Timeout=60, MemorySize=512)
    big = invoke(lam, name, {"size": 7 * 1024 * 1024})
    assert big["FunctionError"] == "Unhandled"
    assert big["Body"]["errorType"] == "Function.ResponseSizeTooLarge"
    small = invoke(lam, name, {"size": 3})["Body"]
    assert small == {"invocations": 2, "pad": "xxx"}, "the same JVM serves the next event"
