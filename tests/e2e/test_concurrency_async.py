"""Concurrency controls and asynchronous invocation: reserved concurrency and its
429s, event invoke configs, retries, destinations, dead-letter targets, and events
that survive `kill -9`."""
import concurrent.futures
import json
import signal
import tempfile
import threading
import time

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import Nimbus, create, invoke, unique

ARN = "arn:aws:lambda:us-east-1:000000000000:function:"

APP = '''
import json, time
RUNS = 0
def sleepy(event, context):
    time.sleep(event.get("sleep", 1))
    return {"slept": event.get("sleep", 1)}
def flaky(event, context):
    global RUNS
    RUNS += 1
    print("flaky run", RUNS, json.dumps(event))
    if RUNS < 3:
        raise RuntimeError("not yet, run %d" % RUNS)
    return {"succeeded_on": RUNS}
def broken(event, context):
    print("broken run", json.dumps(event))
    raise ValueError("always broken")
def sink(event, context):
    print("SINK " + json.dumps(event))
    return "ok"
def marker(event, context):
    print("MARKER " + json.dumps(event))
    return "ok"
'''


@pytest.fixture(scope="module")
def server():
    with tempfile.TemporaryDirectory(prefix="nimbus-async-") as d:
        n = Nimbus(d, ["--async-retry-delay", "0.2"]).start()
        yield n
        n.stop()


def fn(lam, handler, **kw):
    name = unique(handler)
    create(lam, name, {"app.py": APP}, handler=f"app.{handler}", **kw)
    return name


def wait_for_log(n, name, needle, count=1, timeout=30):
    deadline = time.time() + timeout
    lines = []
    while time.time() < deadline:
        out = n.logs(name)
        lines = [l for l in out.stdout.splitlines() if needle in l] if out.returncode == 0 else []
        if len(lines) >= count:
            return lines
        time.sleep(0.2)
    raise AssertionError(f"{needle!r} x{count} not in the log of {name}: {lines}")


def test_reserved_concurrency_api(server):
    lam = server.client()
    name = fn(lam, "sleepy")
    assert lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=5)["ReservedConcurrentExecutions"] == 5
    assert lam.get_function_concurrency(FunctionName=name)["ReservedConcurrentExecutions"] == 5
    assert lam.get_function(FunctionName=name)["Concurrency"] == {"ReservedConcurrentExecutions": 5}
    settings = lam.get_account_settings()["AccountLimit"]
    assert settings["ConcurrentExecutions"] == 1000 and settings["UnreservedConcurrentExecutions"] <= 995
    with pytest.raises(ClientError) as e:
        lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=950)
    assert e.value.response["Error"]["Code"] == "InvalidParameterValueException"
    lam.delete_function_concurrency(FunctionName=name)
    assert "ReservedConcurrentExecutions" not in lam.get_function_concurrency(FunctionName=name)


def test_reserved_zero_throttles_everything(server):
    lam = server.client()
    name = fn(lam, "sleepy")
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    with pytest.raises(ClientError) as e:
        lam.invoke(FunctionName=name, Payload=b'{"sleep": 0}')
    err = e.value.response
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert err["Error"]["Code"] == "TooManyRequestsException"
    assert err["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"


def test_sixth_concurrent_caller_is_throttled(server):
    lam = server.client()
    name = fn(lam, "sleepy", Timeout=10)
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=5)
    barrier = threading.Barrier(6)

    def call(_):
        client = server.client()
        barrier.wait()
        try:
            return invoke(client, name, {"sleep": 2})["StatusCode"]
        except ClientError as e:
            return e.response["Reason"]

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        results = list(pool.map(call, range(6)))
    assert sorted(results, key=str) == [200] * 5 + ["ReservedFunctionConcurrentInvocationLimitExceeded"]


# CPU-heavy tests share one xdist worker (scripts/test runs `--dist loadgroup`), so
# none of them runs beside another on the 2 cores.
@pytest.mark.xdist_group("heavy")
def test_two_hundred_concurrent_invocations_run_concurrently(server):
    lam = server.client()
    name = fn(lam, "sleepy", Timeout=60)
    client = server.client(config=Config(max_pool_connections=200))
    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(200) as pool:
        results = list(pool.map(lambda _: invoke(client, name, {"sleep": 1}), range(200)))
    elapsed = time.monotonic() - start
    failed = [r["Body"] for r in results if r["StatusCode"] != 200 or "FunctionError" in r]
    assert failed == [], failed[:3]
    assert elapsed < 60, f"200 one-second invocations took {elapsed:.1f} s: they did not run concurrently"


def test_event_invoke_config_api(server):
    lam = server.client()
    name = fn(lam, "sink")
    with pytest.raises(ClientError) as e:
        lam.get_function_event_invoke_config(FunctionName=name)
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
    out = lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=1,
                                               DestinationConfig={"OnFailure": {"Destination": ARN + name}})
    assert out["MaximumRetryAttempts"] == 1 and out["MaximumEventAgeInSeconds"] == 21600
    assert out["DestinationConfig"]["OnFailure"]["Destination"] == ARN + name
    upd = lam.update_function_event_invoke_config(FunctionName=name, MaximumEventAgeInSeconds=120)
    assert upd["MaximumRetryAttempts"] == 1 and upd["MaximumEventAgeInSeconds"] == 120
    assert len(lam.list_function_event_invoke_configs(FunctionName=name)["FunctionEventInvokeConfigs"]) == 1
    raw = server.client(config=Config(parameter_validation=False))
    for bad in [{"MaximumRetryAttempts": 3}, {"MaximumEventAgeInSeconds": 10}]:
        with pytest.raises(ClientError) as e:
            raw.put_function_event_invoke_config(FunctionName=name, **bad)
        assert e.value.response["Error"]["Code"] == "ValidationException"
    # Topics and buses are destinations too; other services are refused.
    lam.put_function_event_invoke_config(
        FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": "arn:aws:sns:us-east-1:000000000000:topic"}})
    with pytest.raises(ClientError) as e:
        lam.put_function_event_invoke_config(
            FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": "arn:aws:s3:::bucket"}})
    assert e.value.response["Error"]["Code"] == "InvalidParameterValueException"
    lam.delete_function_event_invoke_config(FunctionName=name)
    with pytest.raises(ClientError):
        lam.get_function_event_invoke_config(FunctionName=name)


def test_async_retries_then_success_destination(server):
    lam = server.client()
    sink = fn(lam, "sink")
    flaky = fn(lam, "flaky")
    lam.put_function_event_invoke_config(FunctionName=flaky, DestinationConfig={"OnSuccess": {"Destination": ARN + sink}})
    resp = lam.invoke(FunctionName=flaky, InvocationType="Event", Payload=b'{"order": 7}')
    assert resp["StatusCode"] == 202
    request_id = resp["ResponseMetadata"]["RequestId"]
    record = json.loads(wait_for_log(server, sink, "SINK ")[0].split("SINK ", 1)[1])
    assert record["requestContext"]["condition"] == "Success"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestContext"]["requestId"] == request_id
    assert record["requestPayload"] == {"order": 7}
    assert record["responsePayload"] == {"succeeded_on": 3}
    time.sleep(1)
    runs = [l for l in server.logs(flaky).stdout.splitlines() if l.startswith("START RequestId: ")]
    assert len(runs) == 3, "run exactly three times"
    assert all(request_id in l for l in runs), "retries keep the event's request id"


def test_async_failure_goes_to_on_failure_destination(server):
    lam = server.client()
    sink = fn(lam, "sink")
    broken = fn(lam, "broken")
    lam.put_function_event_invoke_config(FunctionName=broken, MaximumRetryAttempts=1,
                                         DestinationConfig={"OnFailure": {"Destination": ARN + sink}})
    lam.invoke(FunctionName=broken, InvocationType="Event", Payload=b'{"doomed": true}')
    record = json.loads(wait_for_log(server, sink, "SINK ")[0].split("SINK ", 1)[1])
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 2
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert record["responsePayload"]["errorMessage"] == "always broken"
    assert record["requestPayload"] == {"doomed": True}


def test_dead_letter_target_gets_the_original_event(server):
    lam = server.client()
    dlq = fn(lam, "sink")
    broken = fn(lam, "broken", DeadLetterConfig={"TargetArn": ARN + dlq})
    assert lam.get_function_configuration(FunctionName=broken)["DeadLetterConfig"]["TargetArn"] == ARN + dlq
    lam.put_function_event_invoke_config(FunctionName=broken, MaximumRetryAttempts=0)
    lam.invoke(FunctionName=broken, InvocationType="Event", Payload=b'{"to": "dlq"}')
    assert json.loads(wait_for_log(server, dlq, "SINK ")[0].split("SINK ", 1)[1]) == {"to": "dlq"}


def test_async_payload_limit(server):
    lam = server.client()
    name = fn(lam, "sink")
    with pytest.raises(ClientError) as e:
        lam.invoke(FunctionName=name, InvocationType="Event", Payload=b'"' + b"x" * (1024 * 1024) + b'"')
    assert e.value.response["Error"]["Code"] == "RequestTooLargeException"


def test_accepted_events_survive_kill_9():
    with tempfile.TemporaryDirectory(prefix="nimbus-durable-") as d:
        n = Nimbus(d, ["--async-retry-delay", "0.2"]).start()
        try:
            lam = n.client()
            create(lam, "durable", {"app.py": APP}, handler="app.marker")
            # Throttle the function so accepted events wait in the queue.
            lam.put_function_concurrency(FunctionName="durable", ReservedConcurrentExecutions=0)
            for i in range(3):
                assert lam.invoke(FunctionName="durable", InvocationType="Event",
                                  Payload=json.dumps({"i": i}).encode())["StatusCode"] == 202
        finally:
            n.stop(signal.SIGKILL)
        n2 = Nimbus(d, ["--async-retry-delay", "0.2"]).start()
        try:
            n2.client().delete_function_concurrency(FunctionName="durable")
            lines = wait_for_log(n2, "durable", "MARKER ", count=3, timeout=60)
            assert sorted(json.loads(l.split("MARKER ", 1)[1])["i"] for l in lines) == [0, 1, 2]
        finally:
            n2.stop()


def test_memory_budget_evicts_idle_environments_lru():
    with tempfile.TemporaryDirectory(prefix="nimbus-budget-") as d:
        n = Nimbus(d, ["--memory-budget-mb", "512"]).start()
        try:
            lam = n.client()
            names = [fn(lam, "sleepy", MemorySize=256, Timeout=10) for _ in range(3)]

            def cold(name):
                r = invoke(lam, name, {"sleep": 0}, LogType="Tail")
                import base64
                return "Init Duration" in base64.b64decode(r["LogResult"]).decode()

            assert cold(names[0]) and cold(names[1])   # 512 MB in use, both idle
            assert not cold(names[0])                  # names[0] is now the most recent
            assert cold(names[2])                      # evicts names[1], the least recently used
            assert not cold(names[0]), "the recently used environment survived"
            assert cold(names[1]), "the evicted one starts cold again"
            # Busy environments are never evicted: two busy 256 MB environments fill
            # the budget, so a third concurrent call is throttled.
            clients = [n.client() for _ in range(3)]  # made up front: creating one takes a while

            def call(i):
                try:
                    return invoke(clients[i], names[i], {"sleep": 3})["StatusCode"]
                except ClientError as e:
                    return e.response["Error"]["Code"]

            with concurrent.futures.ThreadPoolExecutor(3) as pool:
                futures = [pool.submit(call, i) for i in range(2)]
                time.sleep(1.5)  # both warm environments are busy by now
                third = pool.submit(call, 2).result()
                assert third == "TooManyRequestsException"
                assert [f.result() for f in futures] == [200, 200]
        finally:
            n.stop()
