"""Hostile functions: each attack is contained, gets Lambda's error, and leaves
nothing behind, while a well-behaved function keeps succeeding alongside.

The suite runs twice: against a root server and an unprivileged one (user namespaces).
Every attacking handler first proves, in the same run, that it is an unprivileged
process without capabilities inside Nimbus's own PID namespace (its PID 1 is the
sandbox init), and refuses to attack otherwise: `kill -9 -1` from an unsandboxed
root process would end every process on the machine.
"""
import base64
import glob
import json
import os
import tempfile
import threading
import time

import pytest

from conftest import NOBODY, ROOTLESS, Nimbus, binary_for_nobody, create, invoke, unique

HOSTILE = r'''
import ctypes, errno, os, socket, time
libc = ctypes.CDLL(None, use_errno=True)

def guard():
    status = open("/proc/self/status").read()
    capeff = int([l for l in status.splitlines() if l.startswith("CapEff:")][0].split()[1], 16)
    init = open("/proc/1/cmdline", "rb").read()
    proof = {"uid": os.getuid(), "euid": os.geteuid(), "capeff": capeff, "pid": os.getpid(),
             "init": init.split(b"\0")[1:2] == [b"__sandbox-init"]}
    if proof["uid"] == 0 or proof["euid"] == 0 or capeff != 0 or not proof["init"] or proof["pid"] > 50:
        raise RuntimeError("refusing to attack outside the sandbox: %r" % proof)
    return proof

def probe(event, context):
    proof = guard()
    ifaces = [l.split(":")[0].strip() for l in open("/proc/net/dev").read().splitlines()[2:]]
    routes = open("/proc/net/route").read().splitlines()[1:]
    return dict(proof, ifaces=ifaces, routes=routes, hostname=socket.gethostname(), root=sorted(os.listdir("/")))

def fork_bomb(event, context):
    guard()
    children = 0
    while children < 5000:
        try:
            pid = os.fork()
        except OSError as e:
            return {"contained": True, "errno": e.errno, "children": children}
        if pid == 0:
            time.sleep(120)
            os._exit(0)
        children += 1
    return {"contained": False, "children": children}

def memory_hog(event, context):
    guard()
    hog = []
    while True:
        hog.append(b"x" * (16 * 1024 * 1024))

def fill_tmp(event, context):
    guard()
    chunk = b"\0" * (1024 * 1024)
    written = 0
    try:
        with open("/tmp/fill", "wb") as f:
            while written < 2048:
                f.write(chunk)
                f.flush()
                written += 1
    except OSError as e:
        return {"errno": e.errno, "written_mb": written}
    return {"errno": None, "written_mb": written}

def spin(event, context):
    guard()
    while True:
        pass

def read_secrets(event, context):
    guard()
    out = {}
    for path in event["paths"]:
        try:
            with open(path, "rb") as f:
                f.read(1)
            out[path] = "READABLE"
        except OSError as e:
            out[path] = errno.errorcode.get(e.errno, str(e.errno))
    return out

def network(event, context):
    guard()
    out = {}
    for name, port in [("host_port", event["host_port"]), ("own_runtime_api", 9001)]:
        s = socket.socket()
        s.settimeout(2)
        try:
            s.connect(("127.0.0.1", port))
            out[name] = "connected"
        except OSError as e:
            out[name] = errno.errorcode.get(e.errno, str(e.errno))
        finally:
            s.close()
    out["ifaces"] = [l.split(":")[0].strip() for l in open("/proc/net/dev").read().splitlines()[2:]]
    out["routes"] = len(open("/proc/net/route").read().splitlines()[1:])
    return out

def syscalls(event, context):
    guard()
    def call(fn, *args):
        ctypes.set_errno(0)
        rc = fn(*args)
        return "ok" if rc == 0 else errno.errorcode.get(ctypes.get_errno(), str(ctypes.get_errno()))
    return {
        "mount": call(libc.mount, b"tmpfs", b"/tmp", b"tmpfs", ctypes.c_ulong(0), None),
        "ptrace_attach_init": call(libc.ptrace, ctypes.c_long(16), ctypes.c_long(1), None, None),
        "unshare_user": call(libc.unshare, ctypes.c_int(0x10000000)),
        "unshare_net": call(libc.unshare, ctypes.c_int(0x40000000)),
        "chroot": call(libc.chroot, b"/tmp"),
        "sethostname": call(libc.sethostname, b"pwned", ctypes.c_size_t(5)),
    }

def kill_everything(event, context):
    guard()
    child = os.fork()
    if child == 0:
        time.sleep(60)
        os._exit(0)
    os.kill(-1, 9)
    _, status = os.waitpid(child, 0)
    return {"child_killed_by": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None, "survived": True}

def write_task(event, context):
    guard()
    try:
        with open("/var/task/pwned.py", "w") as f:
            f.write("x = 1\n")
        return "written"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))

def ok(event, context):
    return {"ok": event.get("n")}
'''


BACKGROUND = """
import threading, time
COUNT = 0
def _tick():
    global COUNT
    while True:
        COUNT += 1
        time.sleep(0.001)
threading.Thread(target=_tick, daemon=True).start()
def background(event, context):
    start = COUNT
    time.sleep(0.5)
    return {"start": start, "end": COUNT}
"""


STREAM_HOG = r'''
const fs = require("fs");
function guard() {
  const init = fs.readFileSync("/proc/1/cmdline").toString().split("\0");
  if (process.getuid() === 0 || init[1] !== "__sandbox-init" || process.pid > 50) {
    throw new Error("refusing to attack outside the sandbox: " + JSON.stringify({ uid: process.getuid(), init, pid: process.pid }));
  }
}
exports.handler = awslambda.streamifyResponse(async (event, responseStream) => {
  guard();
  responseStream.write("started ");
  await new Promise((r) => setTimeout(r, 100));
  const hog = [];
  for (;;) {
    hog.push(Buffer.alloc(16 * 1024 * 1024, 1));
    await new Promise((r) => setImmediate(r));
  }
});
'''


class Bystander:
    """A well-behaved function invoked continuously while the attacks run."""

    def __init__(self, nimbus, name):
        self.lam = nimbus.client()
        self.name = name
        self.ok = 0
        self.failures = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        n = 0
        while not self.stop.is_set():
            n += 1
            try:
                r = invoke(self.lam, self.name, {"n": n})
                if r.get("FunctionError") or r["Body"] != {"ok": n}:
                    self.failures.append(r["Body"])
                else:
                    self.ok += 1
            except Exception as e:  # noqa: BLE001 - any failure is the finding
                self.failures.append(repr(e))
            time.sleep(0.1)


# The test's own interpreter may live where an unprivileged user cannot reach it.
SYSTEM_PYTHON = "/usr/bin/python3"


@pytest.fixture(scope="module", params=["root", "rootless"])
def sandboxed(request):
    """A server of our own, so we can check it leaves nothing behind at shutdown.
    Run as root (cgroups, host-made network namespaces) and unprivileged (user
    namespaces; this host does not delegate cgroups to users)."""
    mode = request.param
    with tempfile.TemporaryDirectory(prefix="nimbus-hostile-") as d:
        if mode == "rootless":
            assert os.path.exists(SYSTEM_PYTHON), "the rootless run needs a system-wide python3"
            os.chown(d, NOBODY, NOBODY)
            n = Nimbus(d, prefix=ROOTLESS, python=SYSTEM_PYTHON, binary=binary_for_nobody(d)).start()
        else:
            n = Nimbus(d).start()
        n.mode = mode
        lam = n.client()
        names = {}
        for handler, kw in [
            ("probe", {}), ("fork_bomb", {"MemorySize": 512, "Timeout": 60}), ("memory_hog", {"Timeout": 60}),
            ("fill_tmp", {"MemorySize": 1024, "Timeout": 60}), ("spin", {"Timeout": 1}), ("read_secrets", {}),
            ("network", {"Timeout": 10}), ("syscalls", {}), ("kill_everything", {"Timeout": 10}),
            ("write_task", {}), ("ok", {}),
        ]:
            names[handler] = unique(handler.replace("_", "-"))
            create(lam, names[handler], {"app.py": HOSTILE}, handler=f"app.{handler}", **kw)
        names["network_vpc"] = unique("network-vpc")
        create(lam, names["network_vpc"], {"app.py": HOSTILE}, handler="app.network", Timeout=10,
               VpcConfig={"SubnetIds": ["subnet-1"], "SecurityGroupIds": ["sg-1"]})
        names["stream_hog"] = unique("stream-hog")
        create(lam, names["stream_hog"], {"index.js": STREAM_HOG}, runtime="nodejs20.x", handler="index.handler",
               Timeout=60)
        names["background"] = unique("background")
        create(lam, names["background"], {"bg.py": BACKGROUND}, handler="bg.background")
        bystander = Bystander(n, names["ok"])
        bystander.thread.start()
        yield n, names, bystander
        bystander.stop.set()
        bystander.thread.join()
        server_pid = n.proc.pid
        n.stop()
        assert bystander.ok > 0
        assert bystander.failures == [], "the well-behaved function failed during the attacks"
        # Nothing left behind: the server's cgroups, environment roots, mounts.
        leftovers = glob.glob(f"/sys/fs/cgroup/*/nimbus/srv-{server_pid}-*") + glob.glob(f"/sys/fs/cgroup/nimbus/srv-{server_pid}-*")
        assert leftovers == [], f"cgroups left behind: {leftovers}"
        assert os.listdir(os.path.join(d, "sandbox", "roots")) == []
        assert d not in open("/proc/self/mountinfo").read()


def test_guard_proves_the_sandbox(sandboxed):
    n, names, _ = sandboxed
    b = invoke(n.client(), names["probe"])["Body"]
    assert b["uid"] == 993 and b["capeff"] == 0 and b["init"] is True and b["pid"] < 50
    assert b["ifaces"] == ["lo"] and b["routes"] == []
    assert b["hostname"] == "localhost"
    assert {"var", "tmp", "proc", "dev", "usr", "etc"} <= set(b["root"])


def test_fork_bomb_hits_the_pids_limit(sandboxed):
    n, names, _ = sandboxed
    b = invoke(n.client(), names["fork_bomb"])["Body"]
    assert b["contained"] is True and b["errno"] == 11, b  # EAGAIN from the pids cgroup
    assert b["children"] < 1024


def cgroups_not_enforced_warning(n):
    """An unprivileged server without cgroups says so at start-up."""
    return [l for l in n.output if "cannot manage cgroups" in l and "not enforced" in l]


def test_memory_past_memory_size_is_killed(sandboxed):
    n, names, _ = sandboxed
    if n.mode == "rootless":
        # No memory cgroup here: the limit is not enforced, and the server said so.
        assert cgroups_not_enforced_warning(n), "".join(n.output)
        return
    r = invoke(n.client(), names["memory_hog"], LogType="Tail")
    assert r["FunctionError"] == "Unhandled"
    assert r["Body"]["errorType"] == "Runtime.OutOfMemory", r["Body"]
    assert "signal: killed" in r["Body"]["errorMessage"]
    report = [l for l in base64.b64decode(r["LogResult"]).decode().splitlines() if l.startswith("REPORT")][0]
    assert "Error Type: Runtime.OutOfMemory" in report
    used = int(report.split("Max Memory Used: ")[1].split(" MB")[0])
    assert 100 <= used <= 128, report


def test_streamed_invocation_out_of_memory_is_reported(sandboxed):
    """A function that streams and then runs out of memory ends its stream with
    Runtime.OutOfMemory, as a buffered one answers."""
    n, names, _ = sandboxed
    if n.mode == "rootless":
        assert cgroups_not_enforced_warning(n), "".join(n.output)
        return
    events = list(n.client().invoke_with_response_stream(FunctionName=names["stream_hog"], Payload=b"{}")["EventStream"])
    assert events[0]["PayloadChunk"]["Payload"] == b"started "
    done = events[-1]["InvokeComplete"]
    assert done["ErrorCode"] == "Runtime.OutOfMemory", done
    report = [l for l in n.logs(names["stream_hog"]).stdout.splitlines() if l.startswith("REPORT")]
    assert report and "Error Type: Runtime.OutOfMemory" in report[-1], report


def test_tmp_is_limited_to_ephemeral_storage(sandboxed):
    n, names, _ = sandboxed
    b = invoke(n.client(), names["fill_tmp"])["Body"]
    assert b["errno"] == 28, b  # ENOSPC
    assert 500 <= b["written_mb"] <= 512


def test_infinite_loop_is_stopped_at_timeout(sandboxed):
    n, names, _ = sandboxed
    start = time.monotonic()
    r = invoke(n.client(), names["spin"])
    assert time.monotonic() - start < 10
    assert "Task timed out after 1.00 seconds" in r["Body"]["errorMessage"]


def test_secrets_and_other_code_are_out_of_reach(sandboxed):
    n, names, _ = sandboxed
    data = str(n.data_dir)
    other_code = glob.glob(os.path.join(data, "code", "*"))[0]
    paths = ["/etc/shadow", os.path.join(data, "credentials"), os.path.join(data, "metadata.redb"),
             os.path.join(other_code, "app.py"), "/proc/1/environ"]
    b = invoke(n.client(), names["read_secrets"], {"paths": paths})["Body"]
    assert b["/etc/shadow"] == "EACCES"
    for p in paths[1:4]:
        assert b[p] == "ENOENT", (p, b[p])
    assert b["/proc/1/environ"] == "EACCES"


def test_network_reaches_nothing_but_its_own_endpoints(sandboxed):
    n, names, _ = sandboxed
    host_port = int(n.endpoint.rsplit(":", 1)[1])
    b = invoke(n.client(), names["network"], {"host_port": host_port})["Body"]
    assert b["host_port"] == "ECONNREFUSED", "the host's port is not reachable from the environment"
    assert b["own_runtime_api"] == "connected"
    assert b["ifaces"] == ["lo"] and b["routes"] == 0, "no interface or route leads out"


def test_privileged_system_calls_are_refused(sandboxed):
    n, names, _ = sandboxed
    b = invoke(n.client(), names["syscalls"])["Body"]
    assert b == {"mount": "EPERM", "ptrace_attach_init": "EPERM", "unshare_user": "EPERM",
                 "unshare_net": "EPERM", "chroot": "EPERM", "sethostname": "EPERM"}, b


def test_kill_minus_one_stays_inside(sandboxed):
    n, names, _ = sandboxed
    b = invoke(n.client(), names["kill_everything"])["Body"]
    assert b == {"child_killed_by": 9, "survived": True}
    # The platform and other functions are untouched.
    assert invoke(n.client(), names["ok"], {"n": 1})["Body"] == {"ok": 1}


def test_code_is_read_only(sandboxed):
    n, names, _ = sandboxed
    assert invoke(n.client(), names["write_task"])["Body"] == "EROFS"


def environment_processes(server_pid, function):
    """Host pids of the processes in `function`'s environments, by cgroup."""
    found = {}
    for procs in glob.glob(f"/sys/fs/cgroup/freezer/nimbus/srv-{server_pid}-*/*/cgroup.procs"):
        for pid in open(procs).read().split():
            try:
                environ = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
            except OSError:
                continue
            if f"AWS_LAMBDA_FUNCTION_NAME={function}".encode() in environ:
                found.setdefault(os.path.dirname(procs), []).append(int(pid))
    return found


def cpu_ticks(pids):
    """User and system CPU time of every thread of `pids`, in clock ticks."""
    total = 0
    for pid in pids:
        for stat in glob.glob(f"/proc/{pid}/task/*/stat"):
            try:
                fields = open(stat).read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])
    return total


def test_idle_environments_are_frozen(sandboxed):
    """A background thread spins during an invocation; once the environment is
    idle it is frozen, and its processes use no CPU at all until the next call."""
    n, names, _ = sandboxed
    if n.mode == "rootless":
        # No freezer cgroup here: idle environments are not frozen, and the server said so.
        assert any("freezing" in l for l in cgroups_not_enforced_warning(n)), "".join(n.output)
        return
    lam = n.client()
    first = invoke(lam, names["background"])["Body"]
    assert first["end"] > first["start"]
    deadline = time.time() + 60
    while True:
        envs = environment_processes(n.proc.pid, names["background"])
        frozen = [d for d in envs if open(os.path.join(d, "freezer.state")).read().strip() == "FROZEN"]
        if frozen:
            break
        assert time.time() < deadline, f"the idle environment was never frozen: {envs}"
        time.sleep(0.05)
    pids = envs[frozen[0]]
    before = cpu_ticks(pids)
    time.sleep(1)
    assert open(os.path.join(frozen[0], "freezer.state")).read().strip() == "FROZEN"
    assert cpu_ticks(pids) == before, "a frozen environment used CPU"
    # Thawed when taken: the thread ran on during the next call.
    second = invoke(lam, names["background"])["Body"]
    assert second["end"] > second["start"]


def test_vpc_config_opts_into_outbound_network(sandboxed):
    """A function with a VpcConfig gets the host's network: it reaches a server on
    this machine that an isolated function cannot."""
    import socket
    n, names, _ = sandboxed
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    port = server.getsockname()[1]
    try:
        lam = n.client()
        assert lam.get_function_configuration(FunctionName=names["network_vpc"])["VpcConfig"]["SubnetIds"] == ["subnet-1"]
        outbound = invoke(lam, names["network_vpc"], {"host_port": port})["Body"]
        assert outbound["host_port"] == "connected"
        isolated = invoke(lam, names["network"], {"host_port": port})["Body"]
        assert isolated["host_port"] == "ECONNREFUSED"
    finally:
        server.close()
