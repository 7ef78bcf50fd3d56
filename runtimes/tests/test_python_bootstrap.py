"""Self-test for the Nimbus python bootstrap (bootstrap.py launcher + _nimbus_runtime.py):
run it against a fake Runtime API.  No timing assertions here (benchmarks live elsewhere).

    [NIMBUS_TEST_PYTHON=/path/to/python3] pytest -q runtimes/tests/test_python_bootstrap.py
"""

import json
import os
import queue
import re
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

BOOTSTRAP = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "python", "bootstrap.py")
PREFIX = "/2018-06-01/runtime"


def _host_python():
    """The real interpreter behind `python3` (not a pyenv shim, not the venv)."""
    override = os.environ.get("NIMBUS_TEST_PYTHON")
    if override:
        return override
    try:
        return subprocess.check_output(["python3", "-c", "import sys; print(sys.executable)"], text=True).strip()
    except Exception:
        return sys.executable


PYTHON = _host_python()


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], (ConnectionError, OSError)):
            super().handle_error(request, client_address)


class FakeRuntimeAPI:
    """Serves queued events on /next and records what the runtime posts back."""

    def __init__(self):
        self.events = queue.Queue()
        self.posts = []  # (kind, request_id, headers, body, t)
        self.next_times = []
        self.clients = set()
        self.status_for = {}  # request_id -> status code to answer its /response with
        self.drop_after = set()  # request ids after whose /response the socket is dropped
        self.cond = threading.Condition()
        self.stopping = False
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _reply(self, status, body=b"", headers=None):
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                api.clients.add(self.client_address)
                if self.path != PREFIX + "/invocation/next":
                    return self._reply(404)
                with api.cond:
                    api.next_times.append(time.perf_counter())
                    api.cond.notify_all()
                while True:
                    try:
                        item = api.events.get(timeout=0.1)
                        break
                    except queue.Empty:
                        if api.stopping:
                            self.close_connection = True
                            return
                rid, body, headers = item
                h = {
                    "Lambda-Runtime-Aws-Request-Id": rid,
                    "Lambda-Runtime-Deadline-Ms": str(int(time.time() * 1000) + 30000),
                    "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:123456789012:function:fn",
                    "Content-Type": "application/json",
                }
                h.update(headers)
                self._reply(200, body, h)

            def do_POST(self):
                api.clients.add(self.client_address)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                m = re.fullmatch(PREFIX + r"/invocation/([^/]+)/(response|error)", self.path)
                if m:
                    kind, rid = m.group(2), m.group(1)
                elif self.path == PREFIX + "/init/error":
                    kind, rid = "init_error", ""
                else:
                    return self._reply(404)
                status = api.status_for.get(rid, 202) if kind == "response" else 202
                with api.cond:
                    api.posts.append((kind, rid, dict(self.headers), body, time.perf_counter()))
                    api.cond.notify_all()
                if status == 202:
                    self._reply(202, b'{"status":"OK"}', {"Content-Type": "application/json"})
                else:
                    self._reply(status, b'{"errorMessage":"payload too large","errorType":"RequestTooLarge"}')
                if rid in api.drop_after and kind == "response":
                    # Close without "Connection: close": the client finds a dead keep-alive socket.
                    self.close_connection = True

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.address = "127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def add_event(self, event=None, raw=None, headers=None, rid=None):
        rid = rid or str(uuid.uuid4())
        body = raw if raw is not None else json.dumps(event).encode()
        self.events.put((rid, body, headers or {}))
        return rid

    def wait(self, predicate, timeout=20):
        deadline = time.time() + timeout
        with self.cond:
            while not predicate():
                left = deadline - time.time()
                if left <= 0:
                    return False
                self.cond.wait(left)
        return True

    def wait_posts(self, n, timeout=20):
        return self.wait(lambda: len(self.posts) >= n, timeout)

    def stop(self):
        self.stopping = True
        self.server.shutdown()
        self.server.server_close()


class Run:
    """A bootstrap subprocess with its (merged stdout/stderr) output collected by a thread."""

    def __init__(self, api, task_root, handler, extra_env=None, bootstrap=None):
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONUNBUFFERED", "PYTHONPATH")}
        env.update(
            {
                "AWS_LAMBDA_RUNTIME_API": api.address,
                "_HANDLER": handler,
                "LAMBDA_TASK_ROOT": str(task_root),
                "AWS_LAMBDA_FUNCTION_NAME": "fn",
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
                "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/fn",
                "AWS_LAMBDA_LOG_STREAM_NAME": "2024/01/01/[$LATEST]abc",
                "AWS_REGION": "us-east-1",
            }
        )
        env.pop("_X_AMZN_TRACE_ID", None)
        env.update(extra_env or {})
        self.lines = []  # (perf_counter, chunk of output)
        self.t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            [PYTHON, bootstrap or BOOTSTRAP], cwd=str(task_root), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        fd = self.proc.stdout.fileno()
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            self.lines.append((time.perf_counter(), chunk.decode("utf-8", "replace")))

    def wait_exit(self, timeout=20):
        rc = self.proc.wait(timeout)
        self.reader.join(5)
        return rc

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self.reader.join(5)

    @property
    def output(self):
        return "".join(line for _, line in self.lines)


@pytest.fixture
def api():
    a = FakeRuntimeAPI()
    yield a
    a.stop()


@pytest.fixture
def start(tmp_path, api):
    runs = []

    def _start(files, handler="app.lambda_handler", extra_env=None):
        for name, src in files.items():
            path = tmp_path / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(src))
        run = Run(api, tmp_path, handler, extra_env)
        runs.append(run)
        return run

    yield _start
    for run in runs:
        run.stop()


def _posts(api, kind):
    return [p for p in api.posts if p[0] == kind]


# ---------------------------------------------------------------------------


CONTEXT_APP = """
import os, sys
print("INIT-RAN", flush=False)
COUNT = 0

def lambda_handler(event, context):
    global COUNT
    COUNT += 1
    cc = context.client_context
    return {
        "event": event,
        "count": COUNT,
        "aws_request_id": context.aws_request_id,
        "request_id": context.request_id,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "arn": context.invoked_function_arn,
        "memory": context.memory_limit_in_mb,
        "log_group": context.log_group_name,
        "log_stream": context.log_stream_name,
        "remaining": context.get_remaining_time_in_millis(),
        "identity": [context.identity.cognito_identity_id, context.identity.cognito_identity_pool_id],
        "client_context": None if cc is None else {
            "custom": cc.custom, "env": cc.env,
            "client": None if cc.client is None else [cc.client.installation_id, cc.client.app_title,
                                                      cc.client.app_version_name, cc.client.app_version_code,
                                                      cc.client.app_package_name],
        },
        "tenant_id": context.tenant_id,
        "trace": os.environ.get("_X_AMZN_TRACE_ID"),
        "path": sys.path[:3],
    }
"""


def test_init_once_and_context(api, start, tmp_path):
    rids = [
        api.add_event({"n": 1}, headers={"Lambda-Runtime-Trace-Id": "Root=1-abc;Parent=def;Sampled=1"}),
        api.add_event(None),
        api.add_event([1, "two", {"3": 4.5}]),
    ]
    run = start({"app.py": CONTEXT_APP})
    assert api.wait_posts(3), run.output
    responses = _posts(api, "response")
    assert [p[1] for p in responses] == rids
    results = [json.loads(p[3]) for p in responses]
    assert [r["count"] for r in results] == [1, 2, 3]
    assert [r["event"] for r in results] == [{"n": 1}, None, [1, "two", {"3": 4.5}]]
    for rid, r in zip(rids, results):
        assert r["aws_request_id"] == rid and r["request_id"] == rid
        assert r["function_name"] == "fn"
        assert r["function_version"] == "$LATEST"
        assert r["arn"] == "arn:aws:lambda:us-east-1:123456789012:function:fn"
        assert r["memory"] == 256
        assert r["log_group"] == "/aws/lambda/fn"
        assert r["log_stream"] == "2024/01/01/[$LATEST]abc"
        assert 25000 < r["remaining"] <= 30000
        assert r["identity"] == [None, None]
        assert r["client_context"] is None
        assert r["tenant_id"] is None
    assert results[0]["trace"] == "Root=1-abc;Parent=def;Sampled=1"
    assert results[1]["trace"] is None  # cleared when the header is absent
    ver = "%d.%d" % tuple(int(x) for x in subprocess.check_output(
        [PYTHON, "-c", "import sys; print(*sys.version_info[:2])"], text=True).split())
    assert results[0]["path"] == [str(tmp_path), "/opt/python/lib/python%s/site-packages" % ver, "/opt/python"]
    assert responses[0][2]["Content-Type"] == "application/json"
    api.wait(lambda: len(api.next_times) >= 4)
    run.stop()
    assert run.output.count("INIT-RAN") == 1, run.output
    assert len(api.clients) == 1, "one keep-alive connection expected, got %s" % api.clients


def test_client_context_and_identity(api, start):
    cc = {
        "client": {"installation_id": "inst-1", "app_title": "title", "app_version_name": "1.0",
                   "app_version_code": "100", "app_package_name": "com.example"},
        "custom": {"k": "v"},
        "env": {"platform": "Android"},
    }
    ident = {"cognitoIdentityId": "us-east-1:id", "cognitoIdentityPoolId": "us-east-1:pool"}
    api.add_event({}, headers={"Lambda-Runtime-Client-Context": json.dumps(cc),
                               "Lambda-Runtime-Cognito-Identity": json.dumps(ident),
                               "Lambda-Runtime-Aws-Tenant-Id": "tenant-7"})
    api.add_event({}, headers={"Lambda-Runtime-Client-Context": json.dumps({"custom": {"a": 1}})})
    run = start({"app.py": CONTEXT_APP})
    assert api.wait_posts(2), run.output
    r1, r2 = [json.loads(p[3]) for p in _posts(api, "response")]
    assert r1["client_context"] == {"custom": {"k": "v"}, "env": {"platform": "Android"},
                                    "client": ["inst-1", "title", "1.0", "100", "com.example"]}
    assert r1["identity"] == ["us-east-1:id", "us-east-1:pool"]
    assert r1["tenant_id"] == "tenant-7"
    assert r2["client_context"] == {"custom": {"a": 1}, "env": None, "client": None}


def test_handler_exception(api, start):
    rid = api.add_event({"x": 1})
    rid2 = api.add_event({"x": 2})
    run = start({"app.py": """
        def helper(event):
            if event["x"] == 1:
                raise ValueError("boom")
            return "ok"

        def lambda_handler(event, context):
            return helper(event)
        """})
    assert api.wait_posts(2), run.output
    kind, got_rid, headers, body, _ = api.posts[0]
    assert (kind, got_rid) == ("error", rid)
    assert headers["Lambda-Runtime-Function-Error-Type"] == "Unhandled"
    err = json.loads(body)
    assert set(err) == {"errorMessage", "errorType", "requestId", "stackTrace"}
    assert err["errorMessage"] == "boom" and err["errorType"] == "ValueError" and err["requestId"] == rid
    assert len(err["stackTrace"]) == 2
    assert re.fullmatch(r'  File ".*/app\.py", line 8, in lambda_handler\n    return helper\(event\)\n', err["stackTrace"][0])
    assert re.fullmatch(r'  File ".*/app\.py", line 4, in helper\n    raise ValueError\("boom"\)\n', err["stackTrace"][1])
    assert not any("bootstrap.py" in f or "_nimbus_runtime" in f for f in err["stackTrace"])
    # the process survives and serves the next event
    assert api.posts[1][:2] == ("response", rid2) and json.loads(api.posts[1][3]) == "ok"
    run.stop()
    out = run.output
    assert "[ERROR] ValueError: boom\nTraceback (most recent call last):\n  File " in out, out
    assert '    raise ValueError("boom")\n' in out


@pytest.mark.parametrize(
    "files,handler,etype,message,trace_check",
    [
        ({"app.py": "import does_not_exist\n"}, "app.lambda_handler", "Runtime.ImportModuleError",
         "Unable to import module 'app': No module named 'does_not_exist'", lambda t: t == []),
        ({"app.py": "def other(e, c):\n    pass\n"}, "app.lambda_handler", "Runtime.HandlerNotFound",
         "Handler 'lambda_handler' missing on module 'app'", lambda t: t == []),
        ({"app.py": "x = 1\ny = = 2\n"}, "app.lambda_handler", "Runtime.UserCodeSyntaxError",
         "Syntax error in module 'app': invalid syntax (app.py, line 2)",
         lambda t: len(t) == 1 and t[0].startswith('  File "') and "app.py\" Line 2\n    y = = 2" in t[0]),
        ({"app.py": "def lambda_handler(e, c):\n    pass\n"}, "xyz", "Runtime.MalformedHandlerName",
         "Bad handler 'xyz': not enough values to unpack (expected 2, got 1)", lambda t: t == []),
        ({"app.py": "def setup():\n    raise RuntimeError('bad config')\nsetup()\n"}, "app.lambda_handler",
         "RuntimeError", "bad config",
         lambda t: len(t) == 2 and "app.py\", line 3, in <module>" in t[0] and "in setup" in t[1]),
        ({"app.py": "import sys\n"}, "sys.handler", "Runtime.BuiltInModuleConflict",
         "Cannot use built-in module sys as a handler module", lambda t: t == []),
    ],
    ids=["import-error", "handler-missing", "syntax-error", "malformed-handler", "init-exception", "builtin"],
)
def test_init_errors(api, start, files, handler, etype, message, trace_check):
    run = start(files, handler)
    rc = run.wait_exit()
    assert rc != 0
    inits = _posts(api, "init_error")
    assert len(inits) == 1, run.output
    _, _, headers, body, _ = inits[0]
    assert headers["Lambda-Runtime-Function-Error-Type"] == etype
    err = json.loads(body)
    assert err["errorType"] == etype
    assert err["errorMessage"] == message
    assert err["requestId"] == ""
    assert trace_check(err["stackTrace"]), err["stackTrace"]
    assert "[ERROR] %s: %s\nTraceback (most recent call last):" % (etype, message) in run.output
    assert api.next_times == []  # never asked for work


def test_handler_path_forms(api, start):
    api.add_event({})
    api.add_event({})
    files = {"pkg/__init__.py": "", "pkg/sub/__init__.py": "",
             "pkg/sub/mod.py": "def fn(e, c):\n    return __name__\n"}
    run = start(files, "pkg/sub/mod.fn")
    assert api.wait_posts(1), run.output
    assert json.loads(api.posts[0][3]) == "pkg.sub.mod"
    run.stop()
    run2 = start({}, "pkg.sub.mod.fn")
    assert api.wait_posts(2), run2.output
    assert json.loads(api.posts[1][3]) == "pkg.sub.mod"


def test_marshal_error_and_special_results(api, start):
    rid_set = api.add_event({"kind": "set"})
    rid_none = api.add_event({"kind": "none"})
    rid_dec = api.add_event({"kind": "decimal"})
    rid_bytes = api.add_event({"kind": "bytes"})
    rid_uni = api.add_event({"kind": "unicode"})
    run = start({"app.py": """
        from decimal import Decimal
        def lambda_handler(event, context):
            k = event["kind"]
            if k == "set":
                return {1, 2}
            if k == "none":
                return None
            if k == "decimal":
                return {"a": Decimal("1.10"), "b": [Decimal("12345678901234567890.123456789")], "c": Decimal("NaN")}
            if k == "bytes":
                return b"raw\\x00bytes"
            return {"s": "h\\u00e9llo \\u2603"}
        """})
    assert api.wait_posts(5), run.output
    by_rid = {p[1]: p for p in api.posts}
    kind, _, headers, body, _ = by_rid[rid_set]
    assert kind == "error"
    err = json.loads(body)
    assert err == {"errorMessage": "Unable to marshal response: Object of type set is not JSON serializable",
                   "errorType": "Runtime.MarshalError", "requestId": rid_set, "stackTrace": []}
    assert by_rid[rid_none][0] == "response" and by_rid[rid_none][3] == b"null"
    assert by_rid[rid_dec][3] == b'{"a": 1.10, "b": [12345678901234567890.123456789], "c": NaN}'
    assert by_rid[rid_bytes][3] == b"raw\x00bytes"
    assert by_rid[rid_bytes][2]["Content-Type"] == "application/unknown"
    uni = by_rid[rid_uni][3]
    assert json.loads(uni) == {"s": "h\u00e9llo \u2603"}
    run.stop()
    assert "[ERROR] Runtime.MarshalError: Unable to marshal response: Object of type set is not JSON serializable" \
        "\nTraceback (most recent call last):" in run.output


def test_logging_format(api, start):
    rid = api.add_event({})
    run = start({"app.py": """
        import logging
        logger = logging.getLogger()
        logger.setLevel(logging.INFO)
        logger.info("during init")
        logging.basicConfig(level=logging.DEBUG, format="IGNORED %(message)s")  # no-op, as on AWS

        def lambda_handler(event, context):
            logger.info("hello %s", "world")
            logging.getLogger("child").warning("multi\\nline")
            logger.debug("not shown")
            return 1
        """})
    assert api.wait_posts(1), run.output
    run.stop()
    out = run.output
    ts = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
    assert re.search(r"^\[INFO\]\t%s\t\tduring init$" % ts, out, re.M), out
    assert re.search(r"^\[INFO\]\t%s\t%s\thello world$" % (ts, re.escape(rid)), out, re.M), out
    assert re.search(r"^\[WARNING\]\t%s\t%s\tmulti\nline$" % (ts, re.escape(rid)), out, re.M), out
    assert "not shown" not in out and "IGNORED" not in out
    # UTC timestamps
    stamp = re.search(r"\[INFO\]\t(%s)" % ts, out).group(1)
    assert abs(time.mktime(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone - time.time()) < 120


def test_log_level_env_and_lazy_logging(api, start):
    api.add_event({})
    run = start({"app.py": """
        import sys
        def lambda_handler(event, context):
            before = "logging" in sys.modules
            import logging
            logging.getLogger("x").debug("debug-visible")
            return before
        """}, extra_env={"AWS_LAMBDA_LOG_LEVEL": "DEBUG"})
    assert api.wait_posts(1), run.output
    run.stop()
    assert json.loads(api.posts[0][3]) is False  # the runtime itself never imported logging
    assert re.search(r"^\[DEBUG\]\t\S+\t[0-9a-f-]{36}\tdebug-visible$", run.output, re.M), run.output


def test_print_reaches_pipe_before_response(api, start):
    api.add_event({})
    run = start({"app.py": """
        import time
        def lambda_handler(event, context):
            print("early line")
            time.sleep(1.0)
            print("no newline", end="")
            return "done"
        """})
    assert api.wait_posts(1), run.output
    posted_at = api.posts[0][4]
    early = [t for t, line in run.lines if "early line" in line]
    assert early and early[0] < posted_at - 0.5, "print() output was buffered"
    deadline = time.time() + 5
    while "no newline" not in run.output and time.time() < deadline:
        time.sleep(0.02)
    assert "no newline" in run.output  # flushed before the response was posted


def test_rejected_response_and_reconnect(api, start):
    rid1 = api.add_event({"size": 10})
    rid2 = api.add_event({"size": 1})
    rid3 = api.add_event({"size": 2})
    api.status_for[rid1] = 413
    api.drop_after.add(rid2)
    run = start({"app.py": """
        def lambda_handler(event, context):
            return "x" * event["size"]
        """})
    assert api.wait_posts(3), run.output
    assert [p[1] for p in api.posts] == [rid1, rid2, rid3]
    assert json.loads(api.posts[2][3]) == "xx"
    run.stop()
    assert "413" in run.output
    assert len(api.clients) == 2  # one reconnect after the dropped connection


def test_large_payloads(api, start):
    big = "a" * (5 * 1024 * 1024)
    api.add_event({"data": big})
    run = start({"app.py": """
        def lambda_handler(event, context):
            return {"echo": event["data"], "n": len(event["data"])}
        """})
    assert api.wait_posts(1, timeout=60), run.output
    out = json.loads(api.posts[0][3])
    assert out["n"] == len(big) and out["echo"] == big


def test_unmarshal_error(api, start):
    rid = api.add_event(raw=b"{not json")
    run = start({"app.py": "def lambda_handler(e, c):\n    return 1\n"})
    assert api.wait_posts(1), run.output
    err = json.loads(api.posts[0][3])
    assert err["errorType"] == "Runtime.UnmarshalError"
    assert err["errorMessage"].startswith("Unable to unmarshal input: Expecting property name")
    assert err["requestId"] == rid


def test_user_module_shadowing_runtime_import(api, start):
    # A function shipping a module named like a stdlib one gets its own.
    api.add_event({})
    run = start({"email.py": "WHO = 'user'\n", "app.py": """
        import email
        def lambda_handler(e, c):
            return email.WHO
        """})
    assert api.wait_posts(1), run.output
    assert json.loads(api.posts[0][3]) == "user"


def test_runtime_imports_stay_light(api, start, tmp_path):
    # The runtime itself must not pull in json/socket/http.client (cold start);
    # sys.path: task root first, the runtime's directory only at the end.
    api.add_event({"a": [1, 2.5, None, "\u00e9"]})
    run = start({"app.py": """
        import sys
        HEAVY = ["json", "socket", "http.client", "email", "ssl", "re", "enum", "selectors", "traceback", "logging"]
        LOADED = [m for m in HEAVY if m in sys.modules]

        def lambda_handler(event, context):
            return {"event": event, "loaded": LOADED, "path": sys.path}
        """})
    assert api.wait_posts(1), run.output
    out = json.loads(api.posts[0][3])
    assert out["event"] == {"a": [1, 2.5, None, "\u00e9"]}
    preloaded = subprocess.check_output([PYTHON, "-c", "import sys; print(*sys.modules)"], text=True).split()
    assert [m for m in out["loaded"] if m not in preloaded] == [], out["loaded"]  # (site .pth files may load some)
    here = os.path.dirname(BOOTSTRAP)
    assert out["path"][0] == str(tmp_path)
    assert [p for p in out["path"] if p == here] == [here] and out["path"][-1] == here, out["path"]


def test_launcher_caches_runtime_bytecode_only(api, tmp_path):
    # A copy of the runtime in a fresh directory: the launcher writes
    # __pycache__/_nimbus_runtime.*.pyc even under PYTHONDONTWRITEBYTECODE,
    # which still applies to the function's modules.
    rt = tmp_path / "runtime"
    rt.mkdir()
    src = os.path.dirname(BOOTSTRAP)
    for name in ("bootstrap.py", "_nimbus_runtime.py"):
        (rt / name).write_bytes(open(os.path.join(src, name), "rb").read())
    task = tmp_path / "task"
    task.mkdir()
    (task / "helper.py").write_text("X = 41\n")
    (task / "app.py").write_text(
        "import sys, helper\n"
        "def lambda_handler(e, c):\n"
        "    return [helper.X + 1, sys.dont_write_bytecode, '_nimbus_runtime' in sys.modules]\n")
    for i in range(2):
        api.add_event({})
        run = Run(api, task, "app.lambda_handler", {"PYTHONDONTWRITEBYTECODE": "1"}, bootstrap=str(rt / "bootstrap.py"))
        try:
            assert api.wait_posts(i + 1), run.output
        finally:
            run.stop()
        assert json.loads(api.posts[i][3]) == [42, True, True]
        cached = os.listdir(str(rt / "__pycache__"))
        assert len(cached) == 1 and cached[0].startswith("_nimbus_runtime."), cached
        assert not (task / "__pycache__").exists()


def test_chunked_lowercase_headers_and_connection_close(tmp_path):
    """The runtime against a hand-written server: chunked /next responses with
    lower-case header names, sent in tiny pieces; `Connection: close`; 100 Continue."""
    import socket as pysocket

    ls = pysocket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(8)
    ls.settimeout(20)
    (tmp_path / "app.py").write_text("def lambda_handler(e, c):\n    return {'got': e, 'rid': c.aws_request_id}\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONUNBUFFERED", "PYTHONPATH")}
    env.update({"AWS_LAMBDA_RUNTIME_API": "localhost:%d" % ls.getsockname()[1], "_HANDLER": "app.lambda_handler",
                "LAMBDA_TASK_ROOT": str(tmp_path)})
    proc = subprocess.Popen([PYTHON, BOOTSTRAP], cwd=str(tmp_path), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def read_request(conn, buf):
        while b"\r\n\r\n" not in buf:
            data = conn.recv(65536)
            assert data, "runtime closed the connection"
            buf += data
        head, _, buf = buf.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
        n = int(headers["content-length"])
        while len(buf) < n:
            buf += conn.recv(65536)
        return lines[0], headers, buf[:n], buf[n:]

    def dribble(conn, data):
        for i in range(0, len(data), 7):
            conn.sendall(data[i:i + 7])
            time.sleep(0.001)

    conn = None
    try:
        conn, _ = ls.accept()
        conn.settimeout(20)
        line, headers, body, rest = read_request(conn, b"")
        assert line == "GET /2018-06-01/runtime/invocation/next HTTP/1.1"
        assert headers["content-length"] == "0" and headers["host"].startswith("localhost:")
        assert headers["user-agent"].startswith("nimbus-python/")
        event = json.dumps({"k": "v" * 100}).encode()
        chunks = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(event[i:i + 50]), event[i:i + 50])
                          for i in range(0, len(event), 50))
        dribble(conn, b"HTTP/1.1 100 Continue\r\n\r\n"
                      b"HTTP/1.1 200 OK\r\nlambda-runtime-aws-request-id: rid-1\r\n"
                      b"LAMBDA-RUNTIME-DEADLINE-MS: %d\r\ntransfer-encoding: chunked\r\n\r\n%s0\r\nx-trailer: 1\r\n\r\n"
                      % (int(time.time() * 1000) + 10000, chunks))
        line, headers, body, rest = read_request(conn, rest)
        assert line == "POST /2018-06-01/runtime/invocation/rid-1/response HTTP/1.1"
        assert json.loads(body) == {"got": {"k": "v" * 100}, "rid": "rid-1"}
        assert headers["content-type"] == "application/json"
        conn.sendall(b"HTTP/1.1 202 Accepted\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")
        conn.close()
        # Connection: close -> the next GET comes on a new connection, without any warning.
        conn, _ = ls.accept()
        conn.settimeout(20)
        line, headers, body, rest = read_request(conn, b"")
        assert line == "GET /2018-06-01/runtime/invocation/next HTTP/1.1"
        conn.sendall(b"HTTP/1.1 200 OK\r\nLambda-Runtime-Aws-Request-Id: a b/c\r\nContent-Length: 4\r\n\r\nnull")
        line, headers, body, rest = read_request(conn, rest)
        assert line == "POST /2018-06-01/runtime/invocation/a%20b%2Fc/response HTTP/1.1"
        assert json.loads(body) == {"got": None, "rid": "a b/c"}
        conn.sendall(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
        line, headers, body, rest = read_request(conn, rest)  # the same keep-alive connection
        assert line == "GET /2018-06-01/runtime/invocation/next HTTP/1.1"
    finally:
        # The runtime is stopped before its connection closes: a close it saw
        # first would (rightly) make it warn and reconnect.
        proc.kill()
        out = proc.communicate(timeout=10)[0].decode()
        if conn is not None:
            conn.close()
        ls.close()
    assert "reconnecting" not in out, out


def _socket_mod():
    import socket

    return socket


def _runtime_module():
    here = os.path.dirname(BOOTSTRAP)
    if here not in sys.path:
        sys.path.insert(0, here)
    import _nimbus_runtime

    return _nimbus_runtime


class _ScriptedServer:
    """Accepts connections and answers each request with the next canned response:
    bytes, ("close", bytes) to close the connection after sending, or "drop"."""

    def __init__(self, responses):
        import socket as pysocket

        self.responses = list(responses)
        self.requests = []
        self.accepts = 0
        self.ls = pysocket.socket()
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(8)
        self.address = "127.0.0.1:%d" % self.ls.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while self.responses:
            try:
                conn, _ = self.ls.accept()
            except OSError:
                return
            self.accepts += 1
            buf = b""
            while self.responses:
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(65536)
                    if not data:
                        break
                    buf += data
                if b"\r\n\r\n" not in buf:
                    break
                head, _, buf = buf.partition(b"\r\n\r\n")
                n = int(re.search(rb"(?i)\r\ncontent-length: *(\d+)", head).group(1))
                while len(buf) < n:
                    buf += conn.recv(65536)
                self.requests.append((head, buf[:n]))
                buf = buf[n:]
                action = self.responses.pop(0)
                if action == "drop":
                    break
                if isinstance(action, tuple):
                    conn.sendall(action[1])
                    break
                conn.sendall(action)
            conn.close()

    def close(self):
        self.ls.close()


def test_http_client_framing_and_errors():
    rt = _runtime_module()
    srv = _ScriptedServer([
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-A: 1\r\nx-a: 2\r\nX-Fold: a\r\n  b\r\n\r\nabc",
        b"HTTP/1.1 204 No Content\r\n\r\n",
        ("close", b"HTTP/1.0 200 OK\r\n\r\nuntil-eof"),  # no length: the body runs to EOF
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "drop",  # connection closed without a response
        b"HTTP/1.1 201 Created\r\ncontent-length: 0\r\n\r\n",
        b"garbage\r\n\r\n",
    ])
    conn = rt._HTTPConnection(srv.address)
    try:
        status, headers, body = conn.request("GET", "/a")
        assert (status, body) == (200, b"abc")
        assert conn._sock.getsockopt(_socket_mod().IPPROTO_TCP, _socket_mod().TCP_NODELAY)
        assert headers["x-a"] == "1" and headers["x-fold"] == "a b"
        assert conn.request("POST", "/b", b"x" * 100000, (("Content-Type", "text/plain"),))[:2][0] == 204
        assert conn.request("GET", "/c") == (200, {}, b"until-eof")
        assert conn.request("GET", "/d") == (200, {"transfer-encoding": "chunked"}, b"")
        with pytest.raises(ConnectionError):
            conn.request("GET", "/e")
        conn.close()
        assert conn.request("GET", "/f")[0] == 201
        with pytest.raises(rt._ProtocolError):
            conn.request("GET", "/g")
    finally:
        conn.close()
        srv.close()
    heads = [h.decode() for h, _ in srv.requests]
    assert [h.split("\r\n")[0] for h in heads] == ["%s /%s HTTP/1.1" % (m, p) for m, p in
                                                   zip("GET POST GET GET GET GET GET".split(), "abcdefg")]
    assert all("\r\nContent-Length: " in h for h in heads)
    assert "\r\nContent-Type: text/plain" in heads[1] and srv.requests[1][1] == b"x" * 100000
    assert srv.accepts == 3  # /a-/c kept alive; new connections after the EOF-delimited body and the drop


def test_http_client_stale_keepalive_and_retry(capfd):
    rt = _runtime_module()
    srv = _ScriptedServer([("close", b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1"),
                           b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n2"])
    api = rt._RuntimeAPI(srv.address)
    try:
        assert api._request("GET", "/x")[2] == b"1"
        # The server closes the idle keep-alive connection (without "Connection: close"):
        # noticed before reuse, so no failed request and no warning.
        deadline = time.time() + 5
        while not api._conn._is_stale() and time.time() < deadline:
            time.sleep(0.01)
        assert api._request("GET", "/y")[2] == b"2"
    finally:
        api._conn.close()
        srv.close()
    assert srv.accepts == 2
    assert "reconnecting" not in capfd.readouterr().err


@pytest.mark.parametrize("data", [
    b'{"a": [1, 2.5, -3e400, null, true, false, "x\\u00e9\\ud83d\\ude00"], "b": {}}',
    b'  \n\t[1, NaN, Infinity, -Infinity, 123456789012345678901234567890]\r\n ',
    '{"\u00e9": "\u2603"}'.encode("utf-8"),
    '{"\u00e9": "\u2603"}'.encode("utf-16"),
    '{"\u00e9": "\u2603"}'.encode("utf-16-le"),
    '{"\u00e9": "\u2603"}'.encode("utf-32-be"),
    b'\xef\xbb\xbf{"bom": 1}',
    b'"just a string"', b"0", b"1.0", b"[]",
    # errors: same exception type and message as json.loads
    b"{not json", b"[1, 2", b"[1] [2]", b"   ", b"", b"nul", b'"\x01"', b"\xff\xfe\x00", b"\x80abc",
    '\ufeff{"a": 1}', "[1]", " {} ",
])
def test_json_loads_matches_json(data):
    rt = _runtime_module()

    def outcome(fn):
        try:
            return "ok", fn(data)
        except Exception as exc:
            return type(exc).__name__, str(exc)

    got, want = outcome(rt._json_loads), outcome(json.loads)
    if got[0] == "ok" and want[0] == "ok":
        assert json.dumps(got[1]) == json.dumps(want[1])  # NaN != NaN, compare as text
    else:
        assert got == want


def test_json_dumps_matches_json():
    rt = _runtime_module()
    values = [None, True, 1, -2.5, float("nan"), float("inf"), 10 ** 30, "plain", "\u00e9\u2603\U0001f600\x00\n\"",
              {"k": [1, {"n": None}], 2: "int key", None: 1, 1.5: 2, True: 3}, (1, 2), [], {},
              [{"deep": [[["x"]]]}]]
    for value in values:
        for ascii_ in (True, False):
            assert rt._json_dumps(value, ensure_ascii=ascii_) == json.dumps(value, ensure_ascii=ascii_)
    for bad in ({1, 2}, {"a": object()}, {(1, 2): 3}):
        with pytest.raises(TypeError) as got:
            rt._json_dumps(bad)
        with pytest.raises(TypeError) as want:
            json.dumps(bad)
        assert str(got.value) == str(want.value)
    loop = []
    loop.append(loop)
    with pytest.raises(ValueError, match="Circular reference detected"):
        rt._json_dumps(loop)
    assert rt._json_dumps([object()], default=lambda o: "D") == '["D"]'
