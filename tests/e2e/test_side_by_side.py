"""Two Nimbus servers on one busy host do not disturb each other: both serve
functions while CPU-bound loops compete for the cores; one stopping, and a third
starting (which sweeps what dead servers left), leave the other's environments
running and warm."""
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

import pytest

from conftest import Nimbus, create, invoke, unique

APP = """
import os
INIT = os.getpid()
def handler(event, context):
    return {"n": event["n"], "env": INIT}
"""


class Caller:
    """Invokes a function in a loop until stopped; records every outcome."""

    def __init__(self, server, name):
        self.lam = server.client()
        self.name = name
        self.ok = 0
        self.failures = []
        self.envs = set()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        n = 0
        while not self.stop.is_set() and n < 100_000:
            n += 1
            try:
                r = invoke(self.lam, self.name, {"n": n})
                if r.get("FunctionError") or r["Body"]["n"] != n:
                    self.failures.append(r["Body"])
                else:
                    self.ok += 1
                    self.envs.add(r["Body"]["env"])
            except Exception as e:  # noqa: BLE001 - any failure is the finding
                self.failures.append(repr(e))

    def wait_for(self, count, seconds=120):
        target = self.ok + count
        deadline = time.time() + seconds
        while self.ok < target and not self.failures:
            assert time.time() < deadline, f"{self.name}: {self.ok} calls, wanted {target}"
            time.sleep(0.05)

    def finish(self):
        self.stop.set()
        self.thread.join(timeout=120)


@pytest.mark.xdist_group("heavy")
def test_two_servers_under_load_leave_each_other_alone():
    busy = [subprocess.Popen([sys.executable, "-c", "import time\nend = time.time() + 120\nwhile time.time() < end: pass"])
            for _ in range(2)]
    dirs = [tempfile.TemporaryDirectory(prefix="nimbus-side-") for _ in range(3)]
    a = b = c = None
    callers = []
    try:
        a = Nimbus(dirs[0].name).start()
        b = Nimbus(dirs[1].name).start()
        for server in (a, b):
            lam = server.client()
            for _ in range(2):
                name = unique("side")
                create(lam, name, {"app.py": APP}, handler="app.handler")
                callers.append(Caller(server, name))
        for caller in callers:
            caller.wait_for(20)
        on_b = callers[2:]
        envs_before = [set(c.envs) for c in on_b]

        # One server stops; another starts and sweeps. The second server's
        # functions keep answering from the same warm environments throughout.
        for caller in callers[:2]:
            caller.finish()
        a.stop()
        c = Nimbus(dirs[2].name).start()
        lam_c = c.client()
        name_c = unique("side-c")
        create(lam_c, name_c, {"app.py": APP}, handler="app.handler")
        assert invoke(lam_c, name_c, {"n": 1})["Body"]["n"] == 1
        for caller in on_b:
            caller.envs = set()
            caller.wait_for(20)
        for caller in callers:
            caller.finish()
            assert caller.failures == [], f"{caller.name} failed: {caller.failures[:3]}"
        for caller, before in zip(on_b, envs_before):
            assert before & caller.envs, "a server's warm environments were lost when another came and went"
        for server in (b, c):
            assert not [l for l in server.output if " ERROR " in l], "".join(server.output)
    finally:
        for caller in callers:
            caller.stop.set()
        for server in (a, b, c):
            if server is not None:
                server.stop()
        for p in busy:
            p.send_signal(signal.SIGKILL)
            p.wait()
        for d in dirs:
            d.cleanup()
