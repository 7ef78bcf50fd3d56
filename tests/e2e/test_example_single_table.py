"""examples/single-table, run as its README says (AWS CLI, DynamoDB, Streams, Lambda, boto3)."""
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.xdist_group("heavy")
def test_the_audit_log_records_every_change_with_its_images(nimbus):
    env = nimbus.env()
    env["PATH"] = str(pathlib.Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["PYTHON"] = sys.executable
    env["PREFIX"] = "e2e-shop"
    res = subprocess.run([str(ROOT / "examples" / "single-table" / "deploy.sh")], env=env,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "audit trail complete" in res.stdout, res.stdout
    assert "orders of USER#42: ORDER#2026-11-01#a1 (19.9), ORDER#2026-11-15#b2 (5), ORDER#2026-11-20#c3 (42)" in res.stdout, res.stdout
    lines = [" ".join(line.split()) for line in res.stdout.splitlines()]
    assert "MODIFY AUDIT#USER#42#ORDER#2026-11-15#b2 status placed -> shipped" in lines, res.stdout
    assert "REMOVE AUDIT#USER#42#ORDER#2026-11-01#a1 status placed -> None" in lines, res.stdout
    ddb = nimbus.client("dynamodb")
    removed = [i for i in ddb.scan(TableName="e2e-shop-audit")["Items"] if i["event"]["S"] == "REMOVE"]
    assert removed[0]["old"]["M"]["total"] == {"N": "19.9"} and "new" not in removed[0]
