"""examples/thumbnails, run as its README says: the AWS CLI deploys a Python
function with Pillow installed into its package, and an upload makes a thumbnail."""
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.xdist_group("heavy")
def test_upload_makes_a_200x200_jpeg_thumbnail(nimbus):
    env = nimbus.env()
    # The AWS CLI of the test environment, and the interpreter the server runs
    # python3.* functions with (so Pillow's wheels match it).
    env["PATH"] = str(pathlib.Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["PYTHON"] = sys.executable
    env["BUCKET"] = "thumbs-e2e"
    res = subprocess.run([str(ROOT / "examples" / "thumbnails" / "deploy.sh")], env=env,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "thumbnail: JPEG 200x200" in res.stdout, res.stdout
    s3 = nimbus.client("s3")
    keys = [c["Key"] for c in s3.list_objects_v2(Bucket="thumbs-e2e")["Contents"]]
    assert keys == ["thumbnails/sample.jpg", "uploads/sample.png"]
    assert s3.head_object(Bucket="thumbs-e2e", Key="thumbnails/sample.jpg")["ContentType"] == "image/jpeg"
