"""`nimbus logs` shows each invocation framed by START, END and REPORT."""
import subprocess
import threading
import time

import pytest
from botocore.exceptions import ClientError

from conftest import NIMBUS, create, invoke, unique


def test_logs_show_frames_and_output(nimbus, lam):
    name = unique("logs")
    create(lam, name, {"app.py": "print('init line')\ndef lambda_handler(e, c):\n    print('handler line', e['n'])\n    return 1\n"})
    invoke(lam, name, {"n": 1})
    invoke(lam, name, {"n": 2})
    out = nimbus.logs(name)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "init line" in lines
    starts = [l for l in lines if l.startswith("START RequestId: ")]
    ends = [l for l in lines if l.startswith("END RequestId: ")]
    reports = [l for l in lines if l.startswith("REPORT RequestId: ")]
    assert len(starts) == len(ends) == len(reports) == 2
    assert "Init Duration: " in reports[0], "the cold start reports its init"
    assert "Init Duration: " not in reports[1], "the warm start does not"
    assert lines.index("handler line 1") < lines.index(ends[0]) < lines.index("handler line 2")
    ts = nimbus.logs(name, "--timestamps").stdout.splitlines()[0]
    assert ts[:4].isdigit() and "[$LATEST]" in ts


def test_logs_follow(nimbus, lam):
    name = unique("follow")
    create(lam, name, {"app.py": "def lambda_handler(e, c):\n    print('followed', e['n'])\n    return 1\n"})
    proc = subprocess.Popen([NIMBUS, "logs", name, "--follow", "--data-dir", str(nimbus.data_dir)],
                            stdout=subprocess.PIPE, text=True)
    seen = []
    reader = threading.Thread(target=lambda: [seen.append(l) for l in proc.stdout], daemon=True)
    reader.start()
    try:
        invoke(lam, name, {"n": 1})
        invoke(lam, name, {"n": 2})
        deadline = time.time() + 10
        while time.time() < deadline and "followed 2\n" not in seen:
            time.sleep(0.1)
        assert "followed 1\n" in seen and "followed 2\n" in seen
    finally:
        proc.kill()


def test_logs_of_unknown_function_fails_clearly(nimbus):
    out = nimbus.logs("never-invoked")
    assert out.returncode != 0
    assert "no log for function 'never-invoked'" in out.stderr


def test_cloudwatch_logs_api_reads_function_logs(nimbus):
    """A function's log is the log group /aws/lambda/NAME: its streams, its events,
    filtered by pattern, as `aws logs` and `sam logs` read them."""
    lam, logs = nimbus.client("lambda"), nimbus.client("logs")
    fn = unique("logged")
    create(lam, fn, {"app.py": "def lambda_handler(event, context):\n    print('needle', event['n'])\n    return 1\n"})
    lam.invoke(FunctionName=fn, Payload=b'{"n": 1}')
    lam.invoke(FunctionName=fn, Payload=b'{"n": 2}')
    group = f"/aws/lambda/{fn}"
    assert group in [g["logGroupName"] for g in logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]]
    streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
    assert streams and all(s["logStreamName"] for s in streams)
    found = logs.filter_log_events(logGroupName=group, filterPattern="needle")["events"]
    assert [e["message"].strip() for e in found] == ["needle 1", "needle 2"]
    everything = logs.filter_log_events(logGroupName=group)["events"]
    assert any(e["message"].startswith("REPORT RequestId") for e in everything)
    got = logs.get_log_events(logGroupName=group, logStreamName=streams[0]["logStreamName"], startFromHead=True)
    assert any(e["message"].startswith("START RequestId") for e in got["events"])
    with pytest.raises(ClientError) as e:
        logs.filter_log_events(logGroupName="/aws/lambda/nope-nope")
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
