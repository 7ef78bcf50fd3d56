"""Invocation semantics: results, errors, logs, limits, timeouts, crashes, concurrency."""
import base64
import concurrent.futures
import json
import time

import pytest
from botocore.exceptions import ClientError

from conftest import create, invoke, unique

HANDLERS = '''
import json, os, sys, time, uuid
ENV = uuid.uuid4().hex  # one per execution environment (pids repeat across PID namespaces)
INITS = 0
INITS += 1
def ok(event, context):
    print("processing", json.dumps(event))
    return {"event": event, "inits": INITS, "pid": ENV}
def boom(event, context):
    raise ValueError("something broke")
def slow(event, context):
    time.sleep(event.get("sleep", 5))
    return {"pid": ENV, "slept": True}
def exit_now(event, context):
    print("about to exit")
    sys.stdout.flush()
    os._exit(3)
def huge(event, context):
    return "x" * (7 * 1024 * 1024)
'''


@pytest.fixture(scope="module")
def fn(nimbus):
    """One function with several handlers, created once per module."""
    lam = nimbus.client()
    names = {}
    for handler, timeout in [("ok", 3), ("boom", 3), ("slow", 1), ("exit_now", 3), ("huge", 3)]:
        name = unique(handler.replace("_", "-"))
        create(lam, name, {"app.py": HANDLERS}, handler=f"app.{handler}", Timeout=timeout)
        names[handler] = name
    return names


def test_sync_result_and_warm_reuse(lam, fn):
    first = invoke(lam, fn["ok"], {"n": 1})
    assert first["StatusCode"] == 200
    assert first["ExecutedVersion"] == "$LATEST"
    assert "FunctionError" not in first
    second = invoke(lam, fn["ok"], {"n": 2})
    assert second["Body"]["event"] == {"n": 2}
    # Same warm environment: module init ran once, same process.
    assert second["Body"]["inits"] == 1
    assert second["Body"]["pid"] == first["Body"]["pid"]


def test_log_tail(lam, fn):
    resp = invoke(lam, fn["ok"], {"tail": True}, LogType="Tail")
    tail = base64.b64decode(resp["LogResult"]).decode()
    lines = tail.strip().splitlines()
    assert lines[0].startswith("START RequestId: ") and lines[0].endswith("Version: $LATEST")
    assert 'processing {"tail": true}' in tail
    assert any(l.startswith("END RequestId: ") for l in lines)
    report = [l for l in lines if l.startswith("REPORT RequestId: ")][0]
    for field in ("Duration: ", "Billed Duration: ", "Memory Size: 128 MB", "Max Memory Used: "):
        assert field in report
    request_id = lines[0].split()[2]
    assert resp["ResponseMetadata"]["RequestId"]  # the API request id header is present
    assert f"END RequestId: {request_id}" in tail


def test_unhandled_error(lam, fn):
    resp = invoke(lam, fn["boom"])
    assert resp["StatusCode"] == 200
    assert resp["FunctionError"] == "Unhandled"
    body = resp["Body"]
    assert body["errorMessage"] == "something broke"
    assert body["errorType"] == "ValueError"
    assert isinstance(body["stackTrace"], list) and any("raise ValueError" in f for f in body["stackTrace"])


def test_dry_run(lam, fn):
    resp = lam.invoke(FunctionName=fn["ok"], InvocationType="DryRun")
    assert resp["StatusCode"] == 204


def test_payload_limits_and_bad_payloads(lam, fn):
    with pytest.raises(ClientError) as e:
        lam.invoke(FunctionName=fn["ok"], Payload=b'"' + b"a" * (6 * 1024 * 1024 + 10) + b'"')
    assert e.value.response["Error"]["Code"] == "RequestTooLargeException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    with pytest.raises(ClientError) as e:
        lam.invoke(FunctionName=fn["ok"], Payload=b"{not json")
    assert e.value.response["Error"]["Code"] == "InvalidRequestContentException"
    # The function is unaffected.
    assert invoke(lam, fn["ok"], {"after": 1})["Body"]["event"] == {"after": 1}


def test_response_too_large(lam, fn):
    resp = invoke(lam, fn["huge"])
    assert resp["FunctionError"] == "Unhandled"
    assert resp["Body"]["errorType"] == "Function.ResponseSizeTooLarge"


def test_timeout_stops_the_handler(lam, fn):
    start = time.monotonic()
    resp = invoke(lam, fn["slow"], {"sleep": 30}, LogType="Tail")
    elapsed = time.monotonic() - start
    assert elapsed < 10, "the handler must be stopped at its timeout"
    assert resp["FunctionError"] == "Unhandled"
    assert "Task timed out after 1.00 seconds" in resp["Body"]["errorMessage"]
    assert "Task timed out after 1.00 seconds" in base64.b64decode(resp["LogResult"]).decode()
    # A fresh environment serves the next call.
    ok = invoke(lam, fn["slow"], {"sleep": 0})
    assert ok["Body"]["slept"] is True


def test_runtime_exit_mid_invocation(lam, fn):
    resp = invoke(lam, fn["exit_now"])
    assert resp["FunctionError"] == "Unhandled"
    assert resp["Body"]["errorType"] == "Runtime.ExitError"
    assert "exit status 3" in resp["Body"]["errorMessage"]
    # The platform keeps serving, and the function gets a new environment.
    assert invoke(lam, fn["ok"])["StatusCode"] == 200
    assert invoke(lam, fn["exit_now"])["Body"]["errorType"] == "Runtime.ExitError"


def test_import_error_is_reported_and_isolated(lam, fn):
    name = unique("importerr")
    create(lam, name, {"app.py": "import module_that_does_not_exist\ndef lambda_handler(e, c):\n    return 1\n"})
    resp = invoke(lam, name)
    assert resp["FunctionError"] == "Unhandled"
    assert resp["Body"]["errorType"] == "Runtime.ImportModuleError"
    assert "Unable to import module 'app'" in resp["Body"]["errorMessage"]
    missing = unique("nohandler")
    create(lam, missing, {"app.py": "x = 1\n"})
    assert invoke(lam, missing)["Body"]["errorType"] == "Runtime.HandlerNotFound"
    assert invoke(lam, fn["ok"])["StatusCode"] == 200


def test_concurrent_invocations_get_their_own_environments(nimbus, fn):
    lam = nimbus.client()
    invoke(lam, fn["slow"], {"sleep": 0})  # make sure one environment is warm
    clients = [nimbus.client() for _ in range(4)]  # made up front: creating one takes a while
    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda c: invoke(c, fn["slow"], {"sleep": 0.6})["Body"], clients))
    elapsed = time.monotonic() - start
    assert all(r["slept"] for r in results)
    assert len({r["pid"] for r in results}) == 4, "one invocation at a time per environment"
    assert elapsed < 4 * 0.6, "concurrent invocations run in parallel"


def test_client_context_and_qualifier(lam, fn):
    name = unique("ctx")
    create(lam, name, {"app.py": "def lambda_handler(e, c):\n    return {'custom': c.client_context.custom if c.client_context else None}\n"})
    cc = base64.b64encode(json.dumps({"custom": {"k": "v"}, "env": {}, "client": {}}).encode()).decode()
    resp = invoke(lam, name, ClientContext=cc, Qualifier="$LATEST")
    assert resp["Body"] == {"custom": {"k": "v"}}
    with pytest.raises(ClientError) as e:
        lam.invoke(FunctionName=name, Qualifier="7")
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
