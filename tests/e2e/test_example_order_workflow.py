"""examples/order-workflow, run as its README says (AWS CLI, Lambda, Step Functions, DynamoDB)."""
import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.xdist_group("heavy")
def test_orders_are_paid_with_retries_and_bad_ones_rejected(nimbus):
    env = nimbus.env()
    env["PATH"] = str(pathlib.Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["PYTHON"] = sys.executable
    env["PREFIX"] = "e2e-orders"
    res = subprocess.run(["bash", str(ROOT / "examples" / "order-workflow" / "deploy.sh")], env=env,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    out = res.stdout
    good, bad = out.split("== an order with no items")
    assert " -> SUCCEEDED" in good, out
    output = json.loads(json.loads(good.split(" -> SUCCEEDED")[1].split(" events -> ")[0].rsplit("order-", 1)[0])[0])
    assert output["order_id"] == "A-1"
    assert output["payment"] == {"charged": 50, "attempts": 2}
    assert output["fulfilment"]["stock"] == {"reserved": 2}
    assert output["fulfilment"]["confirmation"]["emailed"] == "ada@example.com"
    events = good.split(" events -> ")[1].splitlines()[0].split()
    assert events.count("TaskFailed") == 1 and events.count("ParallelStateSucceeded") == 1, events
    assert " -> FAILED" in bad, out
    error = json.loads(bad.split(" -> FAILED")[1].split(" events -> ")[0].rsplit("order-", 1)[0])
    assert error[1] == "OrderRejected" and "at least one item" in error[2]
    assert bad.split(" events -> ")[1].splitlines()[0].split()[-2:] == ["FailStateEntered", "ExecutionFailed"]
    assert "stock reserved: RESERVED" in out
