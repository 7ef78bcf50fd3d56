"""`nimbus logs` shows each invocation framed by START, END and REPORT."""
import json
import os
import subprocess
import threading
import time

import pytest
from botocore.exceptions import ClientError

from conftest import NIMBUS, create, eventually, invoke, unique


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


def test_log_groups_take_put_log_events_and_every_filter_pattern_kind(nimbus):
    logs = nimbus.client("logs")
    group, stream = unique("/app/orders"), "web-1"
    logs.create_log_group(logGroupName=group, tags={"team": "orders"})
    with pytest.raises(ClientError) as e:
        logs.create_log_group(logGroupName=group)
    assert e.value.response["Error"]["Code"] == "ResourceAlreadyExistsException"
    with pytest.raises(ClientError) as e:
        logs.put_log_events(logGroupName=group, logStreamName=stream,
                            logEvents=[{"timestamp": int(time.time() * 1000), "message": "x"}])
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException", "the stream must be made first"
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    now = int(time.time() * 1000)
    lines = [
        '{"level": "ERROR", "ms": 250, "order": {"id": "o-1"}}',
        '{"level": "INFO", "ms": 12, "order": {"id": "o-2"}}',
        '127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /index.html HTTP/1.0" 404 1534',
        "plain ERROR line\nwith a second line",
    ]
    out = logs.put_log_events(logGroupName=group, logStreamName=stream,
                              logEvents=[{"timestamp": now + i, "message": m} for i, m in enumerate(lines)])
    assert "rejectedLogEventsInfo" not in out
    future = logs.put_log_events(logGroupName=group, logStreamName=stream,
                                 logEvents=[{"timestamp": now + 5 * 3600 * 1000, "message": "too new"}])
    assert future["rejectedLogEventsInfo"] == {"tooNewLogEventStartIndex": 0}
    with pytest.raises(ClientError) as e:
        logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=[
            {"timestamp": now, "message": "b"}, {"timestamp": now - 1, "message": "a"}])
    assert e.value.response["Error"]["Code"] == "InvalidParameterException"

    def found(pattern):
        return [e["message"] for e in logs.filter_log_events(logGroupName=group, filterPattern=pattern)["events"]]

    assert found('{ $.level = "ERROR" && $.ms > 100 }') == [lines[0]]
    assert found("{ $.order.id = o-* }") == lines[:2]
    assert found("[ip, user, username, timestamp, request = *index*, status = 4*, bytes > 1000]") == [lines[2]]
    assert found("ERROR -level") == [lines[3]], "multi-line messages keep their newline"
    assert found("%o-[12]%") == lines[:2]
    with pytest.raises(ClientError) as e:
        logs.filter_log_events(logGroupName=group, filterPattern="{ $.level = ")
    assert e.value.response["Error"]["Code"] == "InvalidParameterException"

    tail = logs.get_log_events(logGroupName=group, logStreamName=stream, limit=2)["events"]
    assert [e["message"] for e in tail] == lines[2:], "without startFromHead: the newest"
    described = logs.describe_log_streams(logGroupName=group)["logStreams"][0]
    assert described["logStreamName"] == stream and described["lastEventTimestamp"] == now + 3
    logs.put_retention_policy(logGroupName=group, retentionInDays=7)
    shown = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]
    assert shown["retentionInDays"] == 7
    with pytest.raises(ClientError) as e:
        logs.put_retention_policy(logGroupName=group, retentionInDays=2)
    assert e.value.response["Error"]["Code"] == "InvalidParameterException"
    assert logs.list_tags_for_resource(resourceArn=shown["logGroupArn"])["tags"] == {"team": "orders"}

    # `nimbus logs` and the AWS CLI read the same group.
    out = nimbus.logs(group)
    assert out.returncode == 0 and "GET /index.html" in out.stdout, out.stderr
    cli = nimbus.aws("logs", "filter-log-events", "--log-group-name", group, "--filter-pattern", "ERROR")
    assert "plain ERROR line" in cli.stdout

    logs.delete_log_stream(logGroupName=group, logStreamName=stream)
    assert logs.filter_log_events(logGroupName=group)["events"] == []
    logs.delete_log_group(logGroupName=group)
    assert not logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]


def test_metric_filters_turn_log_events_into_metrics(nimbus, lam):
    logs, cw = nimbus.client("logs"), nimbus.client("cloudwatch")
    ns = unique("LogMetrics")
    fn = unique("noisy")
    create(lam, fn, {"app.py": "def lambda_handler(e, c):\n    print('ERROR something broke' if e.get('bad') else 'fine')\n    return 1\n"})
    lam.invoke(FunctionName=fn, Payload=b"{}")  # makes the log group
    group = f"/aws/lambda/{fn}"
    logs.put_metric_filter(logGroupName=group, filterName="errors", filterPattern="ERROR",
                           metricTransformations=[{"metricName": "AppErrors", "metricNamespace": ns,
                                                   "metricValue": "1", "defaultValue": 0}])
    custom = unique("/app/latency")
    logs.create_log_group(logGroupName=custom)
    logs.create_log_stream(logGroupName=custom, logStreamName="s")
    logs.put_metric_filter(logGroupName=custom, filterName="latency", filterPattern='{ $.ms = * }',
                           metricTransformations=[{"metricName": "Latency", "metricNamespace": ns, "metricValue": "$.ms",
                                                   "dimensions": {"Route": "$.route"}, "unit": "Milliseconds"}])
    described = logs.describe_metric_filters(logGroupName=custom)["metricFilters"]
    assert described[0]["metricTransformations"][0]["dimensions"] == {"Route": "$.route"}
    assert logs.describe_log_groups(logGroupNamePrefix=custom)["logGroups"][0]["metricFilterCount"] == 1

    lam.invoke(FunctionName=fn, Payload=b'{"bad": true}')
    lam.invoke(FunctionName=fn, Payload=b'{"bad": true}')
    now = int(time.time() * 1000)
    logs.put_log_events(logGroupName=custom, logStreamName="s", logEvents=[
        {"timestamp": now, "message": '{"route": "/orders", "ms": 20}'},
        {"timestamp": now + 1, "message": '{"route": "/orders", "ms": 40}'}])

    def stat(name, statistic, dims=()):
        t = time.time()
        points = cw.get_metric_statistics(Namespace=ns, MetricName=name, Dimensions=list(dims), StartTime=t - 600,
                                          EndTime=t + 60, Period=660, Statistics=[statistic])["Datapoints"]
        return points[0][statistic] if points else None

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and stat("AppErrors", "Sum") != 2:
        time.sleep(0.2)
    assert stat("AppErrors", "Sum") == 2, "one per ERROR line"
    assert stat("AppErrors", "SampleCount") > 2, "the other lines count 0"
    assert stat("Latency", "Average", [{"Name": "Route", "Value": "/orders"}]) == 30

    tested = logs.test_metric_filter(filterPattern="[ip, user, status = 4*, bytes]",
                                     logEventMessages=["1.2.3.4 - 404 10", "1.2.3.4 - 200 10"])["matches"]
    assert [m["eventNumber"] for m in tested] == [1]
    with pytest.raises(ClientError) as e:
        logs.put_metric_filter(logGroupName=custom, filterName="bad", filterPattern="{ $.x = ",
                               metricTransformations=[{"metricName": "x", "metricNamespace": ns, "metricValue": "1"}])
    assert e.value.response["Error"]["Code"] == "InvalidParameterException"
    logs.delete_metric_filter(logGroupName=custom, filterName="latency")
    assert logs.describe_metric_filters(logGroupName=custom)["metricFilters"] == []


def test_subscription_filters_send_matching_events_to_a_function(nimbus, lam):
    logs = nimbus.client("logs")
    group = unique("/app/audit")
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    reader = unique("reader")
    made = create(lam, reader, {"app.py": (
        "import base64, gzip, json\n"
        "def lambda_handler(event, context):\n"
        "    data = json.loads(gzip.decompress(base64.b64decode(event['awslogs']['data'])))\n"
        "    for e in data['logEvents']:\n"
        "        print('SUBSCRIBED', data['logGroup'], data['subscriptionFilters'][0], e['message'])\n")})
    with pytest.raises(ClientError) as e:
        logs.put_subscription_filter(logGroupName=group, filterName="audit", filterPattern="DENIED",
                                     destinationArn=made["FunctionArn"])
    assert e.value.response["Error"]["Code"] == "InvalidParameterException", "the function does not let Logs in yet"
    lam.add_permission(FunctionName=reader, StatementId="logs", Action="lambda:InvokeFunction",
                       Principal="logs.amazonaws.com", SourceArn=f"arn:aws:logs:us-east-1:000000000000:log-group:{group}:*")
    logs.put_subscription_filter(logGroupName=group, filterName="audit", filterPattern="DENIED",
                                 destinationArn=made["FunctionArn"])
    assert [f["filterName"] for f in logs.describe_subscription_filters(logGroupName=group)["subscriptionFilters"]] == ["audit"]
    now = int(time.time() * 1000)
    logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=[
        {"timestamp": now, "message": "user=ann action=read ALLOWED"},
        {"timestamp": now + 1, "message": "user=bob action=write DENIED"}])
    deadline, seen = time.monotonic() + 60, []
    while time.monotonic() < deadline and not seen:
        try:
            seen = logs.filter_log_events(logGroupName=f"/aws/lambda/{reader}", filterPattern="SUBSCRIBED")["events"]
        except ClientError:
            pass
        time.sleep(0.3)
    assert [e["message"] for e in seen] == [f"SUBSCRIBED {group} audit user=bob action=write DENIED"]
    with pytest.raises(ClientError) as e:
        logs.put_subscription_filter(logGroupName=f"/aws/lambda/{reader}", filterName="loop", filterPattern="",
                                     destinationArn=made["FunctionArn"])
    assert e.value.response["Error"]["Code"] == "InvalidParameterException", "a function may not read its own group"
    with pytest.raises(ClientError) as e:
        logs.put_subscription_filter(logGroupName=f"/aws/lambda/{reader}", filterName="loop", filterPattern="",
                                     destinationArn=made["FunctionArn"])
    assert e.value.response["Error"]["Code"] == "InvalidParameterException", "a function may not read its own group"
    logs.delete_subscription_filter(logGroupName=group, filterName="audit")
    assert logs.describe_subscription_filters(logGroupName=group)["subscriptionFilters"] == []


JSON_PY = """
import logging
logger = logging.getLogger()
def lambda_handler(event, context):
    logger.info("hidden below WARN")
    logger.warning("shown %s", event["n"])
    print("plain print")
    return 1
"""

JSON_NODE = """
exports.handler = async (event) => {
  console.debug('hidden below INFO');
  console.info('info', event.n);
  console.error(new Error('bad thing'));
  return 1;
};
"""


def test_logging_config_json_format_levels_and_a_custom_group(nimbus, lam):
    logs = nimbus.client("logs")
    py, node = unique("jsonpy"), unique("jsonnode")
    custom = unique("/app/shared-logs")
    made = create(lam, py, {"app.py": JSON_PY},
                  LoggingConfig={"LogFormat": "JSON", "ApplicationLogLevel": "WARN", "SystemLogLevel": "INFO",
                                 "LogGroup": custom})
    assert made["LoggingConfig"] == {"LogFormat": "JSON", "ApplicationLogLevel": "WARN", "SystemLogLevel": "INFO",
                                     "LogGroup": custom}
    create(lam, node, {"index.js": JSON_NODE}, runtime="nodejs20.x", handler="index.handler",
           LoggingConfig={"LogFormat": "JSON", "SystemLogLevel": "WARN"})
    lam.invoke(FunctionName=py, Payload=b'{"n": 1}')
    lam.invoke(FunctionName=node, Payload=b'{"n": 2}')

    py_lines = [e["message"] for e in logs.filter_log_events(logGroupName=custom)["events"]]
    records = [json.loads(l) for l in py_lines if l.startswith("{")]
    app = [r for r in records if "level" in r]
    assert [(r["level"], r["message"]) for r in app] == [("WARN", "shown 1")], py_lines
    assert app[0]["requestId"] and app[0]["logger"] == "root"
    assert "plain print" in py_lines
    kinds = [r["type"] for r in records if "type" in r]
    assert kinds[:1] == ["platform.start"] and "platform.report" in kinds, kinds
    report = next(r for r in records if r.get("type") == "platform.report")
    assert report["record"]["metrics"]["durationMs"] >= 0 and report["record"]["status"] == "success"
    assert not logs.describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{py}")["logGroups"], "the custom group only"

    node_lines = [e["message"] for e in logs.filter_log_events(logGroupName=f"/aws/lambda/{node}")["events"]]
    node_records = [json.loads(l) for l in node_lines if l.startswith("{")]
    assert [r["level"] for r in node_records if "level" in r] == ["INFO", "ERROR"], node_lines
    assert next(r for r in node_records if r.get("level") == "ERROR")["errorMessage"] == "bad thing"
    assert not [r for r in node_records if "type" in r], "SystemLogLevel WARN keeps no platform records"
    assert not [l for l in node_lines if l.startswith("START") or l.startswith("REPORT")]

    with pytest.raises(ClientError) as e:
        lam.update_function_configuration(FunctionName=py, LoggingConfig={"LogFormat": "Text", "ApplicationLogLevel": "DEBUG"})
    assert e.value.response["Error"]["Code"] == "InvalidParameterValueException"
    lam.update_function_configuration(FunctionName=py, LoggingConfig={"LogFormat": "Text"})
    assert lam.get_function_configuration(FunctionName=py)["LoggingConfig"]["LogFormat"] == "Text"


STRUCTURED = '''
import json

def lambda_handler(event, context):
    for i, total in enumerate(event["totals"]):
        print(json.dumps({"level": "ERROR" if total > 100 else "INFO", "message": "order processed",
                          "order_id": f"o-{i}", "total": total, "request_id": context.aws_request_id}))
    return len(event["totals"])
'''


def test_insights_queries_and_json_filters_find_structured_logs(nimbus, lam):
    logs = nimbus.client("logs")
    fn = unique("structured")
    create(lam, fn, {"app.py": STRUCTURED})
    lam.invoke(FunctionName=fn, Payload=json.dumps({"totals": [20, 40, 150, 60]}).encode())
    lam.invoke(FunctionName=fn, Payload=json.dumps({"totals": [200]}).encode())
    group = f"/aws/lambda/{fn}"

    def run(query, **kw):
        now = int(time.time())
        qid = logs.start_query(logGroupName=group, startTime=now - 600, endTime=now + 60, queryString=query, **kw)["queryId"]
        out = logs.get_query_results(queryId=qid)
        assert out["status"] == "Complete"
        return [{f["field"]: f["value"] for f in row} for row in out["results"]], out["statistics"]

    # Function output reaches the store without a sync: poll until all five lines are there.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and run("filter ispresent(order_id) | stats count(*) as n")[0][0]["n"] != "5":
        time.sleep(0.2)
    rows, stats = run("filter ispresent(order_id) | stats count(*) as n, avg(total) as avg, max(total) as top, "
                      "pct(total, 50) as p50 by level | sort level")
    assert rows == [{"level": "ERROR", "n": "2", "avg": "175", "top": "200", "p50": "150"},
                    {"level": "INFO", "n": "3", "avg": "40", "top": "60", "p50": "40"}]
    assert stats["recordsMatched"] == 5 and stats["recordsScanned"] >= 5
    rows, _ = run('fields order_id, total | filter level = "ERROR" and total > 160 | sort total desc | limit 5')
    assert [(r["order_id"], r["total"]) for r in rows] == [("o-0", "200")]
    record = logs.get_log_record(logRecordPointer=rows[0]["@ptr"])["logRecord"]
    assert json.loads(record["@message"])["total"] == 200
    rows, _ = run('filter @type = "REPORT" | stats count(*) as invocations, max(@memorySize) as memory')
    assert rows == [{"invocations": "2", "memory": "128000000"}]
    rows, _ = run('parse @message \'"order_id": "*"\' as id | filter id like /o-[23]/ | display id')
    assert sorted(r["id"] for r in rows) == ["o-2", "o-3"]
    assert any(q["queryString"].startswith("parse") for q in logs.describe_queries(logGroupName=group)["queries"])

    found = logs.filter_log_events(logGroupName=group, filterPattern='{ $.level = "ERROR" && $.total > 160 }')["events"]
    assert [json.loads(e["message"])["order_id"] for e in found] == ["o-0"]

    with pytest.raises(ClientError) as e:
        run("stats avg(total) by")
    assert e.value.response["Error"]["Code"] == "MalformedQueryException"
    with pytest.raises(ClientError) as e:
        logs.get_query_results(queryId="00000000-0000-0000-0000-000000000000")
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_live_tail_streams_a_new_invocations_output(nimbus, lam):
    from botocore.config import Config
    # StartLiveTail's host prefix (`stream-`) cannot be resolved on a local endpoint.
    logs = nimbus.client("logs", config=Config(inject_host_prefix=False))
    fn = unique("tailed")
    create(lam, fn, {"app.py": "def lambda_handler(e, c):\n    print('tail me', e['n'])\n    return 1\n"})
    lam.invoke(FunctionName=fn, Payload=b'{"n": 0}')  # makes the group
    arn = logs.describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{fn}")["logGroups"][0]["logGroupArn"]
    stream = logs.start_live_tail(logGroupIdentifiers=[arn], logEventFilterPattern='"tail me"')["responseStream"]
    seen = []
    done = threading.Event()

    def read():
        for ev in stream:
            if "sessionStart" in ev:
                assert ev["sessionStart"]["logGroupIdentifiers"] == [arn]
                seen.append("start")
            for r in ev.get("sessionUpdate", {}).get("sessionResults", []):
                seen.append(r["message"].strip())
                if "tail me 1" in r["message"]:
                    done.set()
                    return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and "start" not in seen:
        time.sleep(0.05)
    lam.invoke(FunctionName=fn, Payload=b'{"n": 1}')
    assert done.wait(30), seen
    assert seen[0] == "start" and "tail me 1" in seen[-1]
    assert not any("START RequestId" in s for s in seen), "the filter pattern applies"
    stream.close()
    with pytest.raises(ClientError) as e:
        logs.start_live_tail(logGroupIdentifiers=["/no/such/group"])
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"


# Debian's awscli package is the AWS CLI v2 (which has `logs tail`); `.ci/run`
# installs it. The suite's own `aws` is the CLI v1 from PyPI.
AWS_V2 = "/usr/bin/aws"


def test_aws_cli_v2_logs_tail_follow_shows_a_new_invocation(nimbus, lam):
    assert os.path.exists(AWS_V2), "the AWS CLI v2 is missing: apt-get install awscli (.ci/run does)"
    fn = unique("followed")
    create(lam, fn, {"app.py": "def lambda_handler(e, c):\n    print('followed', e['n'])\n    return 1\n"})
    lam.invoke(FunctionName=fn, Payload=b'{"n": 0}')
    # CLI v2 of this age takes the endpoint only as a flag.
    tail = subprocess.Popen([AWS_V2, "--endpoint-url", nimbus.endpoint, "logs", "tail", f"/aws/lambda/{fn}",
                             "--follow", "--format", "short"],
                            env=nimbus.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    threading.Thread(target=lambda: lines.extend(iter(tail.stdout.readline, "")), daemon=True).start()

    def shown(text):
        # The CLI asks FilterLogEvents every 5 seconds while following.
        assert tail.poll() is None, (lines, tail.stderr.read())
        return any(text in l for l in lines)

    try:
        eventually("the log's first invocation shown", lambda: shown("followed 0"))
        lam.invoke(FunctionName=fn, Payload=b'{"n": 1}')
        eventually("a new invocation shown while following", lambda: shown("followed 1"))
        assert any(l.split(" ", 1)[1].startswith("REPORT RequestId") for l in lines if " " in l), lines
    finally:
        tail.kill()
        tail.wait()
