"""examples/java-http-api, run as its README says (javac, AWS CLI, Lambda, HTTP API, curl)."""
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.xdist_group("heavy")
def test_a_java_function_answers_over_http(nimbus):
    env = nimbus.env()
    env["PATH"] = str(pathlib.Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["PYTHON"] = sys.executable
    env["PREFIX"] = "e2e-greetings"
    res = subprocess.run([str(ROOT / "examples" / "java-http-api" / "deploy.sh")], env=env,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    out = res.stdout
    lines = {l.split(" -> ")[0]: l.split(" -> ")[1] for l in out.splitlines() if " -> " in l}
    assert lines["GET /hello/duke"].endswith(" 200") and '"message":"Hi, duke"' in lines["GET /hello/duke"], out
    assert lines["POST /echo"].endswith(" 200") and '"length":16' in lines["POST /echo"], out
    assert lines["GET /nothing"].endswith(" 404"), out
