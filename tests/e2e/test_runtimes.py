"""The three kinds of runtime, unchanged: python3.*, nodejs*, and provided.* with the
official awslambdaric and Rust lambda_runtime clients."""
import base64
import os
import subprocess
import sys
import tempfile
import time

import pytest

from conftest import RUST_ECHO_DIR, Nimbus, create, invoke, publish_active, unique

CONTEXT_PY = '''
import os
import boto3
def lambda_handler(event, context):
    names = [f["FunctionName"] for f in boto3.client("lambda").list_functions()["Functions"]]
    keys = ["AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_LAMBDA_RUNTIME_API", "_HANDLER",
            "LAMBDA_TASK_ROOT", "AWS_EXECUTION_ENV", "TZ", "AWS_REGION", "AWS_DEFAULT_REGION",
            "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "MY_SETTING", "_X_AMZN_TRACE_ID"]
    return {
        "aws_request_id": context.aws_request_id,
        "request_id": context.request_id,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": int(context.memory_limit_in_mb),
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "remaining": context.get_remaining_time_in_millis(),
        "has_identity": hasattr(context, "identity"),
        "client_context": context.client_context,
        "env": {k: os.environ.get(k) for k in keys},
        "sees_itself": context.function_name in names,
    }
'''


def test_python_context_environment_and_boto3_inside(lam):
    name = unique("pyctx")
    create(lam, name, {"app.py": CONTEXT_PY}, MemorySize=256, Timeout=20,
           Environment={"Variables": {"MY_SETTING": "on"}})
    resp = invoke(lam, name, LogType="Tail")
    b = resp["Body"]
    assert "FunctionError" not in resp, b
    assert b["aws_request_id"] == b["request_id"] and len(b["aws_request_id"]) == 36
    assert b["function_name"] == name and b["function_version"] == "$LATEST"
    assert b["invoked_function_arn"] == f"arn:aws:lambda:us-east-1:000000000000:function:{name}"
    assert b["memory_limit_in_mb"] == 256
    assert b["log_group_name"] == f"/aws/lambda/{name}"
    assert "[$LATEST]" in b["log_stream_name"]
    assert 0 < b["remaining"] <= 20000
    assert b["has_identity"] and b["client_context"] is None
    env = b["env"]
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == name
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["_HANDLER"] == "app.lambda_handler"
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.12"
    assert env["TZ"] == ":UTC" and env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert env["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
    assert env["AWS_LAMBDA_RUNTIME_API"] and env["LAMBDA_TASK_ROOT"] and env["AWS_ACCESS_KEY_ID"]
    assert env["MY_SETTING"] == "on"
    assert env["_X_AMZN_TRACE_ID"].startswith("Root=1-"), "every invocation carries an X-Ray trace header"
    assert b["sees_itself"], "boto3 with no configuration reaches Nimbus from inside the function"


def test_python_minor_mismatch_runs_with_warning(nimbus, lam):
    other = "python3.13" if sys.version_info[:2] != (3, 13) else "python3.12"
    name = unique("pyminor")
    create(lam, name, {"app.py": "import sys\ndef lambda_handler(e, c):\n    return list(sys.version_info[:2])\n"},
           runtime=other)
    resp = invoke(lam, name, LogType="Tail")
    assert resp["Body"] == list(sys.version_info[:2])
    assert f"function runtime {other} runs on this host's Python" in nimbus.logs(name).stdout


NODE_APP = '''
let inits = 0;
inits++;
exports.handler = async (event, context) => {
  console.log("node got", JSON.stringify(event));
  return { event, inits, fn: context.functionName, arn: context.invokedFunctionArn,
           mem: context.memoryLimitInMB, rid: context.awsRequestId,
           remaining: context.getRemainingTimeInMillis() };
};
exports.fails = async () => { throw new TypeError("node broke"); };
'''


def test_nodejs_handler(lam):
    name = unique("node")
    create(lam, name, {"index.js": NODE_APP}, runtime="nodejs20.x", handler="index.handler")
    first = invoke(lam, name, {"a": 1}, LogType="Tail")
    second = invoke(lam, name, {"a": 2})
    assert first["Body"]["event"] == {"a": 1} and second["Body"]["inits"] == 1
    assert first["Body"]["fn"] == name and first["Body"]["mem"] == "128"
    assert 0 < first["Body"]["remaining"] <= 3000
    assert 'node got {"a":1}' in base64.b64decode(first["LogResult"]).decode()
    failing = unique("nodefail")
    create(lam, failing, {"index.js": NODE_APP}, runtime="nodejs20.x", handler="index.fails")
    err = invoke(lam, failing)
    assert err["FunctionError"] == "Unhandled"
    assert (err["Body"]["errorType"], err["Body"]["errorMessage"]) == ("TypeError", "node broke")


def test_provided_runtime_with_awslambdaric(lam):
    """A Python function run through AWS's own runtime interface client, as a custom runtime."""
    name = unique("ric")
    bootstrap = f"#!/bin/sh\nexec {sys.executable} -m awslambdaric \"$_HANDLER\"\n"
    app = "import os\ndef handler(event, context):\n    print('ric handled', event)\n    return {'ric': event, 'fn': context.function_name, 'rid': context.aws_request_id}\n"
    create(lam, name, {"bootstrap": bootstrap, "app.py": app}, runtime="provided.al2023", handler="app.handler",
           modes={"bootstrap": 0o755})
    resp = invoke(lam, name, {"k": "v"}, LogType="Tail")
    assert "FunctionError" not in resp, resp["Body"]
    assert resp["Body"]["ric"] == {"k": "v"} and resp["Body"]["fn"] == name
    assert "ric handled" in base64.b64decode(resp["LogResult"]).decode()
    again = invoke(lam, name, {"k": "w"})
    assert again["Body"]["ric"] == {"k": "w"} and again["Body"]["rid"] != resp["Body"]["rid"]


@pytest.fixture(scope="session")
def rust_echo_binary():
    binary = RUST_ECHO_DIR / "target" / "debug" / "bootstrap"
    if not binary.exists():
        subprocess.run(["cargo", "build", "--manifest-path", str(RUST_ECHO_DIR / "Cargo.toml")], check=True)
    return binary


def test_provided_runtime_with_rust_lambda_runtime(lam, rust_echo_binary):
    name = unique("rust")
    create(lam, name, {"bootstrap": rust_echo_binary.read_bytes()}, runtime="provided.al2", handler="ignored",
           modes={"bootstrap": 0o755}, MemorySize=192)
    resp = invoke(lam, name, {"hello": "rust"}, LogType="Tail")
    b = resp["Body"]
    assert "FunctionError" not in resp, b
    assert b["echo"] == {"hello": "rust"}
    assert b["function_name"] == name and b["memory"] == 192 and b["version"] == "$LATEST"
    assert b["function_arn"].endswith(f":function:{name}")
    assert b["deadline"] > int(time.time() * 1000)
    assert f"rust-echo handling {b['request_id']}" in base64.b64decode(resp["LogResult"]).decode()
    err = invoke(lam, name, {"fail": True})
    assert err["FunctionError"] == "Unhandled"
    assert "asked to fail" in err["Body"]["errorMessage"]
    assert invoke(lam, name, {"after": 1})["Body"]["echo"] == {"after": 1}


def test_provided_without_bootstrap(lam):
    name = unique("noboot")
    create(lam, name, {"readme.txt": "no bootstrap here"}, runtime="provided.al2023", handler="x")
    resp = invoke(lam, name)
    assert resp["FunctionError"] == "Unhandled"
    assert resp["Body"]["errorType"] == "Runtime.InvalidEntrypoint"


def test_idle_environments_are_reaped():
    with tempfile.TemporaryDirectory(prefix="nimbus-reap-") as d:
        n = Nimbus(d, ["--keep-alive", "1"]).start()
        try:
            lam = n.client()
            create(lam, "reaped", {"app.py": "import uuid\nENV = uuid.uuid4().hex\ndef lambda_handler(e, c):\n    return ENV\n"})
            first = invoke(lam, "reaped", LogType="Tail")
            warm = invoke(lam, "reaped", LogType="Tail")
            assert warm["Body"] == first["Body"]
            assert "Init Duration" not in base64.b64decode(warm["LogResult"]).decode()
            time.sleep(3)
            cold = invoke(lam, "reaped", LogType="Tail")
            assert cold["Body"] != first["Body"], "the idle environment was reaped"
            assert "Init Duration" in base64.b64decode(cold["LogResult"]).decode()
        finally:
            n.stop()


def test_warm_environments_outlive_idle_server_threads(lam):
    """Environments must not die with whichever server thread spawned them
    (the sandbox init's parent-death signal is per thread; Tokio retires idle
    blocking threads after 10 s)."""
    name = unique("outlive")
    create(lam, name, {"app.py": "import uuid\nENV = uuid.uuid4().hex\ndef lambda_handler(e, c):\n    return ENV\n"})
    first = invoke(lam, name)["Body"]
    time.sleep(12)
    again = invoke(lam, name, LogType="Tail")
    assert "FunctionError" not in again, again["Body"]
    assert again["Body"] == first, "the warm environment survived"


def test_isolation_none_runs_plain_processes():
    """`--isolation none` (hosts that cannot isolate) still runs functions, unsandboxed."""
    with tempfile.TemporaryDirectory(prefix="nimbus-plain-") as d:
        n = Nimbus(d, ["--isolation", "none"]).start()
        try:
            lam = n.client()
            create(lam, "plain", {"app.py": "import os\ndef lambda_handler(e, c):\n    return [os.getuid(), os.environ['LAMBDA_TASK_ROOT']]\n"})
            uid, task_root = invoke(lam, "plain")["Body"]
            assert uid == os.getuid(), "runs as the server's user"
            assert task_root.startswith(d), "code runs from the data directory, not /var/task"
        finally:
            n.stop()


def test_doctor_reports_what_the_host_offers():
    from conftest import NIMBUS
    out = subprocess.run([NIMBUS, "doctor", "--python", sys.executable], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    for check in ("privileges: root", "cgroups: v", "network namespaces", "seccomp filters", "python3.* functions"):
        assert check in out.stdout, out.stdout
    assert "[FAIL]" not in out.stdout, out.stdout


def test_doctor_as_an_unprivileged_user_checks_user_namespaces():
    import tempfile
    from conftest import ROOTLESS, binary_for_nobody
    # Not pytest's tmp_path: /tmp/pytest-of-root is out of nobody's reach.
    with tempfile.TemporaryDirectory(prefix="nimbus-doctor-") as d:
        out = subprocess.run([*ROOTLESS, binary_for_nobody(d), "doctor", "--python", "/usr/bin/python3"],
                             capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "privileges: unprivileged (euid 65534)" in out.stdout, out.stdout
    assert "[ok]   user namespaces: can make user, mount, PID" in out.stdout, out.stdout
    # This host's cgroups belong to root: the limits they give are named as missing.
    assert "not writable by this user" in out.stdout and "without memory" in out.stdout, out.stdout
    assert "will use namespaces" in out.stdout, out.stdout


def test_exec_wrapper_runs_the_runtime_under_a_script(lam):
    """AWS_LAMBDA_EXEC_WRAPPER, the convention the ADOT and other layers use:
    the script runs with the runtime's command as its arguments."""
    name = unique("wrapped")
    wrapper = "#!/bin/sh\nexport WRAPPED_BY=wrapper\nexport WRAPPER_ARGS=\"$*\"\nexec \"$@\"\n"
    code = "import os\ndef lambda_handler(e, c):\n    return [os.environ.get('WRAPPED_BY'), os.environ.get('WRAPPER_ARGS')]\n"
    create(lam, name, {"app.py": code, "wrapper.sh": wrapper}, modes={"wrapper.sh": 0o755},
           Environment={"Variables": {"AWS_LAMBDA_EXEC_WRAPPER": "/var/task/wrapper.sh"}})
    out = invoke(lam, name)
    assert out["Body"][0] == "wrapper", out
    assert out["Body"][1], "the runtime's command was passed to the wrapper"
    lam.update_function_configuration(FunctionName=name,
                                      Environment={"Variables": {"AWS_LAMBDA_EXEC_WRAPPER": "/var/task/missing"}})
    failed = invoke(lam, name)
    assert failed.get("FunctionError") == "Unhandled"


# Lambda's documented environment (docs: "Defined runtime environment variables"):
# the reserved ones, then the others it sets, per runtime.
LAMBDA_RESERVED = {
    "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
}
LAMBDA_UNRESERVED = {
    "LANG", "PATH", "LD_LIBRARY_PATH", "TZ", "AWS_XRAY_CONTEXT_MISSING", "AWS_XRAY_DAEMON_ADDRESS",
    "_AWS_XRAY_DAEMON_ADDRESS", "_AWS_XRAY_DAEMON_PORT",
}
# Nimbus's own addition: where the AWS SDKs inside find Nimbus.
NIMBUS_EXTRA = {"AWS_ENDPOINT_URL"}

ENV_PY = '''
import os
def lambda_handler(event, context):
    return {"env": dict(os.environ), "cwd": os.getcwd(), "uid": os.getuid()}
'''


def test_environment_is_lambdas_variable_for_variable(nimbus, lam):
    name = unique("envlist")
    create(lam, name, {"app.py": ENV_PY}, MemorySize=256, Environment={"Variables": {"MINE": "1"}})
    b = invoke(lam, name, {})["Body"]
    env = b["env"]
    expected = LAMBDA_RESERVED | LAMBDA_UNRESERVED | {"PYTHONPATH", "NODE_PATH"}
    missing = expected - set(env)
    assert not missing, f"variables Lambda sets that the function lacks: {sorted(missing)}"
    # LC_CTYPE: CPython's own locale coercion (PEP 538) on a host without en_US.UTF-8.
    extra = set(env) - expected - NIMBUS_EXTRA - {"MINE", "LC_CTYPE"}
    assert not extra, f"variables Lambda does not set: {sorted(extra)}"
    assert env["AWS_LAMBDA_INITIALIZATION_TYPE"] == "on-demand"
    assert env["AWS_ACCESS_KEY"] == env["AWS_ACCESS_KEY_ID"] and env["AWS_SESSION_TOKEN"]
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256" and env["_HANDLER"] == "app.lambda_handler"
    assert env["LAMBDA_TASK_ROOT"] == b["cwd"], "the function runs in its task root"
    assert env["TZ"] == ":UTC" and env["LANG"] == "en_US.UTF-8"
    assert env["PATH"].startswith("/usr/local/bin:/usr/bin") and env["PATH"].endswith("/bin")
    assert f"{env['LAMBDA_TASK_ROOT']}/lib" in env["LD_LIBRARY_PATH"]
    assert env["AWS_XRAY_CONTEXT_MISSING"] == "LOG_ERROR"
    assert env["AWS_LAMBDA_LOG_STREAM_NAME"].startswith(tuple("0123456789")) and "[$LATEST]" in env["AWS_LAMBDA_LOG_STREAM_NAME"]
    assert b["uid"] != 0, "functions do not run as root"
    with pytest.raises(lam.exceptions.InvalidParameterValueException) as e:
        lam.update_function_configuration(FunctionName=name, Environment={"Variables": {"AWS_ACCESS_KEY": "x"}})
    assert "Reserved keys used in this request: AWS_ACCESS_KEY" in e.value.response["Error"]["Message"]


SNAP_PY = '''
import os
from snapshot_restore_py import register_before_snapshot, register_after_restore

ORDER = []

@register_before_snapshot
def first_registered():
    ORDER.append("before-1")

register_before_snapshot(ORDER.append, "before-2")

@register_after_restore
def reconnect():
    ORDER.append("after")
    print("after_restore ran")
    if os.environ.get("REFUSE_RESTORE"):
        raise ConnectionError("database unreachable")

def lambda_handler(event, context):
    return {"order": ORDER, "init": os.environ["AWS_LAMBDA_INITIALIZATION_TYPE"]}
'''


def test_python_snap_start_hooks_from_snapshot_restore_py(nimbus, lam):
    name = unique("pysnap")
    create(lam, name, {"app.py": SNAP_PY}, runtime="python3.12", SnapStart={"ApplyOn": "PublishedVersions"})
    v = publish_active(lam, name)["Version"]
    resp = invoke(lam, name, {}, Qualifier=v, LogType="Tail")
    assert "FunctionError" not in resp, resp["Body"]
    # Before-snapshot hooks newest first, then the restore's.
    assert resp["Body"] == {"order": ["before-2", "before-1", "after"], "init": "snap-start"}
    assert "Restore Duration" in base64.b64decode(resp["LogResult"]).decode()

    lam.update_function_configuration(FunctionName=name, Environment={"Variables": {"REFUSE_RESTORE": "1"}})
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    v2 = publish_active(lam, name)["Version"]
    with pytest.raises(lam.exceptions.SnapStartException) as e:
        lam.invoke(FunctionName=name, Qualifier=v2, Payload=b"{}")
    assert "Runtime.AfterRestoreError" in e.value.response["Error"]["Message"]
    assert "database unreachable" in e.value.response["Error"]["Message"]
