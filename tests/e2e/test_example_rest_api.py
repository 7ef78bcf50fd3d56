"""examples/rest-api, run as its README says (AWS CLI, DynamoDB, Lambda, HTTP API, curl)."""
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.xdist_group("heavy")
def test_items_are_created_and_read_over_http(nimbus):
    env = nimbus.env()
    env["PATH"] = str(pathlib.Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["PYTHON"] = sys.executable
    env["PREFIX"] = "e2e-items"
    res = subprocess.run([str(ROOT / "examples" / "rest-api" / "deploy.sh")], env=env,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    out = res.stdout
    lines = {l.split(" -> ")[0]: l.split(" -> ")[1] for l in out.splitlines() if " -> " in l}
    got = [v for k, v in lines.items() if k.startswith("GET /items/") and "nope" not in k][0]
    assert got.endswith(" 200") and '"teapot"' in got, out
    assert lines["POST /items"].endswith(" 201") and '"teapot"' in lines["POST /items"], out
    assert lines["GET /items/nope"].endswith(" 404"), out
    assert lines["POST /items (bad)"].endswith(" 400"), out
    assert lines["GET /items"].endswith(" 200") and "teapot" in lines["GET /items"], out
