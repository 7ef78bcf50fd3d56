"""End-to-end fixtures: start the real `nimbus` binary on a free port with its own
data directory, and talk to it with boto3, the AWS CLI and real runtimes."""
import io
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zipfile

import boto3
import pytest
from botocore.config import Config

ROOT = pathlib.Path(__file__).resolve().parents[2]
NIMBUS = os.environ.get("NIMBUS_BIN", str(ROOT / "target" / "debug" / "nimbus"))
RUST_ECHO_DIR = ROOT / "tests" / "functions" / "rust-echo"
ROLE = "arn:aws:iam::000000000000:role/lambda-role"
# Lambda and Step Functions may assume ROLE.
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Action": "sts:AssumeRole",
    "Principal": {"Service": ["lambda.amazonaws.com", "states.amazonaws.com"]}}]})


# An unprivileged user for the rootless runs, and how to run a command as it.
NOBODY = 65534
ROOTLESS = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]


def binary_for_nobody(d):
    """The nimbus binary, or a copy in directory `d` (made readable by nobody)
    when the checkout is out of an unprivileged user's reach, as a clone under
    a private temporary directory is."""
    if subprocess.run([*ROOTLESS, "test", "-x", NIMBUS]).returncode == 0:
        return NIMBUS
    os.chown(d, NOBODY, NOBODY)
    copy = os.path.join(d, "nimbus-bin")
    shutil.copy2(NIMBUS, copy)
    os.chown(copy, NOBODY, NOBODY)
    return copy


class Nimbus:
    """A running `nimbus up`, with clients configured from its data directory."""

    def __init__(self, data_dir, extra_args=(), prefix=(), python=None, binary=NIMBUS):
        self.data_dir = pathlib.Path(data_dir)
        self.binary = binary
        self.extra_args = list(extra_args)
        # A command the server runs under (e.g. setpriv, to run it unprivileged).
        self.prefix = list(prefix)
        self.python = python or sys.executable
        self.proc = None
        self.endpoint = None
        self.output = []

    def start(self):
        args = [*self.prefix, self.binary, "up", "--port", "0", "--data-dir", str(self.data_dir),
                "--python", self.python, *self.extra_args]
        env = dict(os.environ, NIMBUS_LOG="warn")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
        deadline = time.time() + 30
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("nimbus exited during startup:\n" + "".join(self.output))
            self.output.append(line)
            if " listening on " in line:
                self.endpoint = line.strip().split(" listening on ")[1]
                break
        else:
            raise RuntimeError("nimbus did not start in time")
        # Keep draining output so the server never blocks on a full pipe.
        threading.Thread(target=self._drain, daemon=True).start()
        a = self.extra_args
        if not any(x == "--iam" and y == "off" for x, y in zip(a, a[1:])):
            self.ensure_role()
        return self

    def ensure_role(self):
        """The execution role tests' functions and state machines run as (IAM
        refuses functions whose role does not exist or does not trust Lambda):
        made once per data directory, with AdministratorAccess."""
        iam = self.client("iam")
        try:
            iam.create_role(RoleName=ROLE.rsplit("/", 1)[1], AssumeRolePolicyDocument=TRUST)
        except iam.exceptions.EntityAlreadyExistsException:
            return
        iam.attach_role_policy(RoleName=ROLE.rsplit("/", 1)[1],
                               PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")

    def _drain(self):
        for line in self.proc.stdout:
            self.output.append(line)

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=20)

    def env(self):
        """Environment for the AWS CLI: nothing but the data directory's files."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(
            AWS_SHARED_CREDENTIALS_FILE=str(self.data_dir / "credentials"),
            AWS_CONFIG_FILE=str(self.data_dir / "config"),
            AWS_ENDPOINT_URL=self.endpoint,
        )
        return env

    def session(self):
        creds = {}
        for line in (self.data_dir / "credentials").read_text().splitlines():
            if "=" in line:
                k, v = line.split("=", 1)
                creds[k.strip()] = v.strip()
        return boto3.Session(
            aws_access_key_id=creds["aws_access_key_id"],
            aws_secret_access_key=creds["aws_secret_access_key"],
            region_name="us-east-1",
        )

    def client(self, service="lambda", config=None, **kw):
        cfg = Config(retries={"max_attempts": 1}, read_timeout=120, connect_timeout=10)
        if config is not None:
            cfg = cfg.merge(config)
        kw.setdefault("endpoint_url", self.endpoint)
        return self.session().client(service, config=cfg, **kw)

    def aws(self, *args, check=True):
        """Run the AWS CLI against this server."""
        aws = str(pathlib.Path(sys.executable).parent / "aws")
        res = subprocess.run([aws, *args], env=self.env(), capture_output=True, text=True, timeout=120)
        if check and res.returncode != 0:
            raise AssertionError(f"aws {' '.join(args)} failed: {res.stderr}")
        return res

    def logs(self, function, *extra):
        res = subprocess.run([NIMBUS, "logs", function, "--data-dir", str(self.data_dir), *extra],
                             capture_output=True, text=True, timeout=30)
        return res


@pytest.fixture(scope="module")
def nimbus():
    with tempfile.TemporaryDirectory(prefix="nimbus-e2e-") as d:
        n = Nimbus(d).start()
        yield n
        n.stop()
        # An unexpected ERROR from the server fails the module's tests (STYLE: Neon's rule).
        errors = [l for l in n.output if " ERROR " in l]
        assert not errors, "server logged errors:\n" + "".join(errors)


@pytest.fixture
def lam(nimbus):
    return nimbus.client()


def make_zip(files, modes=None):
    """A deployment package from {name: text or bytes}."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, content in files.items():
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            info.external_attr = ((modes or {}).get(name, 0o644) | 0o100000) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, content)
    return buf.getvalue()


def create(lam, name, files, runtime="python3.12", handler="app.lambda_handler", modes=None, **kw):
    return lam.create_function(
        FunctionName=name, Runtime=runtime, Role=ROLE, Handler=handler,
        Code={"ZipFile": make_zip(files, modes)}, **kw,
    )


def invoke(lam, name, event=None, **kw):
    resp = lam.invoke(FunctionName=name, Payload=json.dumps(event if event is not None else {}).encode(), **kw)
    body = resp["Payload"].read()
    resp["Body"] = json.loads(body) if body else None
    return resp


def publish_active(lam, name):
    """Publish a version of `name` and wait (generously) until it is `Active`: a
    SnapStart version is `Pending` while its environment initializes."""
    version = lam.publish_version(FunctionName=name)
    lam.get_waiter("function_active_v2").wait(FunctionName=name, Qualifier=version["Version"],
                                              WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    return version


def swallow(call, **kw):
    """Make a call whose answer may never come (the server is killed under it)."""
    try:
        call(**kw)
    except Exception:  # noqa: BLE001 - the connection dies with the server
        pass


def eventually(what, check, deadline_s=60, every=0.2):
    """`check()`'s first truthy answer, asked until `deadline_s` passes (generous:
    the suite runs on busy machines); the test fails naming `what` otherwise."""
    deadline = time.monotonic() + deadline_s
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {deadline_s}s (last answer: {got!r})")
        time.sleep(every)


def unique(prefix):
    return f"{prefix}-{os.getpid()}-{time.monotonic_ns() % 10**9}"
