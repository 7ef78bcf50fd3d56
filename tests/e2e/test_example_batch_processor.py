"""examples/batch-processor, run as its README says (AWS CLI, SQS, Lambda, S3)."""
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.xdist_group("heavy")
def test_bad_orders_land_in_the_dlq_and_good_ones_are_processed_once(nimbus):
    env = nimbus.env()
    env["PATH"] = str(pathlib.Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["PYTHON"] = sys.executable
    env["PREFIX"] = "e2e-orders"
    res = subprocess.run([str(ROOT / "examples" / "batch-processor" / "deploy.sh")], env=env,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "processed: 17, dead-lettered: 3" in res.stdout, res.stdout
    for bad in ("order-3", "order-10", "order-17"):
        assert bad in res.stdout, res.stdout
    s3 = nimbus.client("s3")
    keys = [c["Key"] for c in s3.list_objects_v2(Bucket="e2e-orders-results", Prefix="processed/")["Contents"]]
    assert len(keys) == 17
    import json
    # Each good order was handled on its first receive: processed once.
    for k in keys:
        assert json.loads(s3.get_object(Bucket="e2e-orders-results", Key=k)["Body"].read())["receives"] == "1"
