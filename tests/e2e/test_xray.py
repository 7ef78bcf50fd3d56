"""X-Ray: a function with TracingConfig Active and aws_xray_sdk in its package;
the platform's AWS::Lambda and AWS::Lambda::Function segments and the SDK's own
subsegments (a custom one with metadata and annotations, the patched boto3 call)
in one trace through BatchGetTraces, GetTraceSummaries with filter expressions
and GetServiceGraph, its structured log lines by a JSON filter pattern and an
Insights query, and an alarm on its Errors that tells a topic; a caller's trace header continued by a PassThrough function;
PutTraceSegments with refusals; sampling rules; a trace carried through SNS,
SQS, EventBridge, Step Functions and API Gateway to the functions they invoke."""
import http.client
import json
import os
import time
import urllib.parse

import aws_xray_sdk
import pytest
import wrapt
from botocore.exceptions import ClientError

from conftest import eventually, make_zip, ROLE, unique

HANDLER = '''
import json, os
import boto3
from aws_xray_sdk.core import xray_recorder, patch_all

patch_all()
ddb = boto3.client("dynamodb")

def lambda_handler(event, context):
    print(json.dumps({"level": "INFO", "message": "order received", "order_id": event.get("order_id")}))
    with xray_recorder.in_subsegment("process_order") as sub:
        sub.put_annotation("order_id", event.get("order_id"))
        sub.put_metadata("order", {"id": event.get("order_id"), "items": 3}, "orders")
        ddb.list_tables()
    if event.get("fail"):
        raise RuntimeError("payment declined")
    return {"trace": os.environ["_X_AMZN_TRACE_ID"], "daemon": os.environ["AWS_XRAY_DAEMON_ADDRESS"]}
'''


def package_dir(module):
    """{zip path: bytes} of an installed package's files (its pure-Python part)."""
    root = os.path.dirname(module.__file__)
    base = os.path.dirname(root)
    out = {}
    for d, _, files in os.walk(root):
        for f in files:
            if f.endswith((".py", ".json")):
                p = os.path.join(d, f)
                with open(p, "rb") as fh:
                    out[os.path.relpath(p, base)] = fh.read()
    return out


@pytest.fixture(scope="module")
def xray(nimbus):
    x = nimbus.client("xray")
    # Sample every request this module makes (the default rule samples 1 a second, then 5%).
    x.update_sampling_rule(SamplingRuleUpdate={"RuleName": "Default", "FixedRate": 1.0})
    return x


def find_trace(xray, expression):
    t = time.time()
    return eventually(f"a trace matching {expression}", lambda: xray.get_trace_summaries(
        StartTime=t - 600, EndTime=t + 60, FilterExpression=expression)["TraceSummaries"])


def segments(xray, trace_id, want):
    """The trace's documents once `want(docs)` holds (the SDK's datagrams arrive on their own)."""
    def complete():
        traces = xray.batch_get_traces(TraceIds=[trace_id])["Traces"]
        docs = [json.loads(s["Document"]) for t in traces for s in t["Segments"]]
        return want(docs) and docs
    return eventually(f"trace {trace_id} complete", complete)


def walk(doc):
    yield doc
    for s in doc.get("subsegments", []):
        yield from walk(s)


def test_an_active_function_with_the_xray_sdk_makes_one_trace(nimbus, lam, xray):
    fn = unique("traced")
    files = {"app.py": HANDLER, **package_dir(aws_xray_sdk), **package_dir(wrapt)}
    lam.create_function(FunctionName=fn, Runtime="python3.12", Role=ROLE, Handler="app.lambda_handler",
                        Code={"ZipFile": make_zip(files)}, Timeout=30, TracingConfig={"Mode": "Active"})
    assert lam.get_function_configuration(FunctionName=fn)["TracingConfig"] == {"Mode": "Active"}
    out = json.loads(lam.invoke(FunctionName=fn, Payload=b'{"order_id": "o-17"}')["Payload"].read())
    assert out["daemon"] == "127.0.0.1:2000"
    header = dict(p.split("=", 1) for p in out["trace"].split(";"))
    assert header["Sampled"] == "1"
    root = header["Root"]

    def complete(docs):
        names = [s.get("name") for d in docs for s in walk(d)]
        return "process_order" in names and "dynamodb" in names and len(docs) >= 2

    docs = segments(xray, root, complete)
    by_origin = {d.get("origin"): d for d in docs}
    service, function = by_origin["AWS::Lambda"], by_origin["AWS::Lambda::Function"]
    assert function["id"] == header["Parent"] and function["parent_id"] == service["id"]
    assert service["name"] == function["name"] == fn
    subs = {s["name"]: s for s in function["subsegments"]}
    assert {"Initialization", "Invocation", "Overhead", "process_order"} <= set(subs)
    order = subs["process_order"]
    assert order["metadata"]["orders"]["order"] == {"id": "o-17", "items": 3}
    assert order["annotations"]["order_id"] == "o-17"
    ddb = [s for s in walk(order) if s["name"] == "dynamodb"][0]
    assert ddb["namespace"] == "aws" and ddb["aws"]["operation"] == "ListTables"

    # The same trace through summaries, filter expressions and the service graph.
    [summary] = find_trace(xray, f'annotation.order_id = "o-17" AND service("{fn}")')
    assert summary["Id"] == root and not summary["HasFault"]
    assert summary["EntryPoint"]["Type"] == "AWS::Lambda"
    graph = xray.get_trace_graph(TraceIds=[root])["Services"]
    kinds = {(s["Name"], s.get("Type")) for s in graph}
    assert {(fn, "AWS::Lambda"), (fn, "AWS::Lambda::Function"), ("DynamoDB", "AWS::DynamoDB")} <= kinds
    t = time.time()
    assert any(s["Name"] == fn for s in xray.get_service_graph(StartTime=t - 600, EndTime=t + 60)["Services"])

    # Watched as the observability section has it: an alarm on Errors > 0 for a
    # minute, whose action is a topic (a queue subscribed to it here).
    cw, sns, sqs = nimbus.client("cloudwatch"), nimbus.client("sns"), nimbus.client("sqs")
    topic = sns.create_topic(Name=unique("order-alarms"))["TopicArn"]
    pager = sqs.create_queue(QueueName=unique("pager"))["QueueUrl"]
    pager_arn = sqs.get_queue_attributes(QueueUrl=pager, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sqs.set_queue_attributes(QueueUrl=pager, Attributes={"Policy": json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage",
        "Resource": pager_arn}]})})
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=pager_arn)
    alarm = unique("order-errors")
    cw.put_metric_alarm(AlarmName=alarm, Namespace="AWS/Lambda", MetricName="Errors",
                        Dimensions=[{"Name": "FunctionName", "Value": fn}], Statistic="Sum", Period=60,
                        EvaluationPeriods=1, Threshold=0, ComparisonOperator="GreaterThanThreshold",
                        TreatMissingData="notBreaching", AlarmActions=[topic])

    # A failing invocation's function segment is a fault.
    lam.invoke(FunctionName=fn, Payload=b'{"order_id": "o-18", "fail": true}')
    [failed] = find_trace(xray, 'annotation.order_id = "o-18" AND fault')
    assert failed["HasFault"]
    assert xray.get_trace_summaries(StartTime=t - 600, EndTime=t + 60,
                                    FilterExpression=f'service("{fn}") AND annotation.order_id = "o-18" AND ok')["TraceSummaries"] == []

    # Its structured log lines, by a JSON filter pattern and by an Insights query.
    logs, group = nimbus.client("logs"), f"/aws/lambda/{fn}"
    found = logs.filter_log_events(logGroupName=group,
                                   filterPattern='{ $.level = "INFO" && $.order_id = "o-1*" }')["events"]
    assert sorted(json.loads(e["message"])["order_id"] for e in found) == ["o-17", "o-18"]
    query = logs.start_query(logGroupName=group, startTime=int(t) - 600, endTime=int(t) + 60,
                             queryString="filter ispresent(order_id) | stats count(*) as n by order_id | sort order_id")
    result = eventually("the Insights query to complete", lambda: (
        r := logs.get_query_results(queryId=query["queryId"]))["status"] == "Complete" and r)
    rows = [{f["field"]: f["value"] for f in r} for r in result["results"]]
    assert rows == [{"order_id": "o-17", "n": "1"}, {"order_id": "o-18", "n": "1"}]

    # The alarm goes to ALARM and its topic is told.
    def alarm_note():
        for m in sqs.receive_message(QueueUrl=pager, WaitTimeSeconds=1, MaxNumberOfMessages=10).get("Messages", []):
            body = json.loads(json.loads(m["Body"])["Message"])
            if body["AlarmName"] == alarm and body["NewStateValue"] == "ALARM":
                return body
    eventually("the alarm's ALARM notification", alarm_note, deadline_s=90)
    assert cw.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]["StateValue"] == "ALARM"


def test_a_callers_trace_header_is_continued_by_a_pass_through_function(nimbus, lam, xray):
    fn = unique("passthrough")
    code = "import os\ndef lambda_handler(e, c):\n    return os.environ['_X_AMZN_TRACE_ID']\n"
    lam.create_function(FunctionName=fn, Runtime="python3.12", Role=ROLE, Handler="app.lambda_handler",
                        Code={"ZipFile": make_zip({"app.py": code})})
    root = "1-%08x-%s" % (int(time.time()), os.urandom(12).hex())
    given = f"Root={root};Parent=53995c3f42cd8ad8;Sampled=1"

    def add_header(request, **_):
        request.headers["X-Amzn-Trace-Id"] = given

    lam.meta.events.register("before-send.lambda.Invoke", add_header)
    try:
        seen = json.loads(lam.invoke(FunctionName=fn, Payload=b"{}")["Payload"].read())
    finally:
        lam.meta.events.unregister("before-send.lambda.Invoke", add_header)
    assert seen.startswith(f"Root={root};Parent=") and "Sampled=1" in seen
    docs = segments(xray, root, lambda d: len(d) >= 2)
    service = [d for d in docs if d.get("origin") == "AWS::Lambda"][0]
    assert service["parent_id"] == "53995c3f42cd8ad8"

    # Unsampled by the caller: nothing recorded.
    quiet = "1-%08x-%s" % (int(time.time()), os.urandom(12).hex())
    given = f"Root={quiet};Sampled=0"
    lam.meta.events.register("before-send.lambda.Invoke", add_header)
    try:
        lam.invoke(FunctionName=fn, Payload=b"{}")
    finally:
        lam.meta.events.unregister("before-send.lambda.Invoke", add_header)
    assert xray.batch_get_traces(TraceIds=[quiet])["UnprocessedTraceIds"] == [quiet]


def test_put_trace_segments_and_sampling_rules(nimbus, xray):
    trace = "1-%08x-%s" % (int(time.time()), os.urandom(12).hex())
    now = time.time()
    good = {"trace_id": trace, "id": os.urandom(8).hex(), "name": "checkout", "start_time": now - 1, "end_time": now,
            "http": {"request": {"method": "POST", "url": "https://shop.example/checkout"}, "response": {"status": 502}},
            "fault": True, "annotations": {"tier": "gold"}}
    out = xray.put_trace_segments(TraceSegmentDocuments=[json.dumps(good), "{not json", json.dumps({"id": "x"})])
    assert len(out["UnprocessedTraceSegments"]) == 2
    assert out["UnprocessedTraceSegments"][1]["ErrorCode"] == "InvalidSegment"
    [s] = find_trace(xray, 'http.status = 502 AND http.url CONTAINS "checkout" AND annotation.tier = "gold"')
    assert s["Id"] == trace and s["Http"]["HttpMethod"] == "POST" and s["HasFault"]
    assert s["ResponseTime"] == pytest.approx(1.0, abs=0.01)
    with pytest.raises(ClientError) as e:
        xray.get_trace_summaries(StartTime=now - 60, EndTime=now, FilterExpression="responsetime >")
    assert e.value.response["Error"]["Code"] == "InvalidRequestException"

    name = unique("rule")[:32]
    xray.create_sampling_rule(SamplingRule={
        "RuleName": name, "ResourceARN": "*", "Priority": 10, "FixedRate": 0.5, "ReservoirSize": 2,
        "ServiceName": "orders-*", "ServiceType": "*", "Host": "*", "HTTPMethod": "*", "URLPath": "*", "Version": 1})
    rules = {r["SamplingRule"]["RuleName"]: r["SamplingRule"] for r in xray.get_sampling_rules()["SamplingRuleRecords"]}
    assert rules[name]["FixedRate"] == 0.5 and rules["Default"]["Priority"] == 10000
    targets = xray.get_sampling_targets(SamplingStatisticsDocuments=[{
        "RuleName": name, "ClientID": "a" * 24, "Timestamp": now, "RequestCount": 10, "SampledCount": 3}])
    assert targets["SamplingTargetDocuments"][0]["ReservoirQuota"] == 2
    with pytest.raises(ClientError):
        xray.delete_sampling_rule(RuleName="Default")
    xray.delete_sampling_rule(RuleName=name)
    assert name not in {r["SamplingRule"]["RuleName"] for r in xray.get_sampling_rules()["SamplingRuleRecords"]}


def new_root():
    return "1-%08x-%s" % (int(time.time()), os.urandom(12).hex())


class traced_calls:
    """Every call the client makes inside carries `header` as X-Amzn-Trace-Id."""

    def __init__(self, client, header):
        self.client, self.header = client, header

    def add(self, request, **_):
        request.headers["X-Amzn-Trace-Id"] = self.header

    def __enter__(self):
        self.client.meta.events.register("before-send", self.add)

    def __exit__(self, *_):
        self.client.meta.events.unregister("before-send", self.add)


def lambda_segment(xray, root, fn):
    docs = segments(xray, root, lambda d: any(x.get("origin") == "AWS::Lambda" and x.get("name") == fn for x in d))
    return docs, [d for d in docs if d.get("origin") == "AWS::Lambda" and d.get("name") == fn][0]


def test_a_trace_goes_through_topics_queues_buses_workflows_and_apis(nimbus, lam, xray):
    fn = unique("downstream")
    code = "import os\ndef lambda_handler(e, c):\n    return {'trace': os.environ['_X_AMZN_TRACE_ID']}\n"
    arn = lam.create_function(FunctionName=fn, Runtime="python3.12", Role=ROLE, Handler="app.lambda_handler",
                              Code={"ZipFile": make_zip({"app.py": code})}, Timeout=30)["FunctionArn"]
    caller = "53995c3f42cd8ad8"

    # SNS records its own segment under the caller's; the subscribed function's hangs under SNS's.
    sns = nimbus.client("sns")
    topic = sns.create_topic(Name=unique("traced"))["TopicArn"]
    lam.add_permission(FunctionName=fn, StatementId="sns", Action="lambda:InvokeFunction",
                       Principal="sns.amazonaws.com", SourceArn=topic)
    sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=arn)
    root = new_root()
    with traced_calls(sns, f"Root={root};Parent={caller};Sampled=1"):
        sns.publish(TopicArn=topic, Message="hello")
    docs, function = lambda_segment(xray, root, fn)
    [topic_segment] = [d for d in docs if d.get("origin") == "AWS::SNS::Topic"]
    assert topic_segment["parent_id"] == caller and topic_segment["aws"]["operation"] == "Publish"
    assert function["parent_id"] == topic_segment["id"]

    # SQS keeps the request's header as the message's AWSTraceHeader; the
    # mapping's invocation continues it.
    sqs = nimbus.client("sqs")
    plain = sqs.create_queue(QueueName=unique("plain"))["QueueUrl"]
    root = new_root()
    header = f"Root={root};Parent={caller};Sampled=1"
    with traced_calls(sqs, header):
        sqs.send_message(QueueUrl=plain, MessageBody="m")
        sqs.send_message(QueueUrl=plain, MessageBody="own", MessageSystemAttributes={
            "AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-00000000-000000000000000000000000"}})
    got = sqs.receive_message(QueueUrl=plain, MaxNumberOfMessages=10, MessageSystemAttributeNames=["AWSTraceHeader"])
    headers = {m["Body"]: m["Attributes"]["AWSTraceHeader"] for m in got["Messages"]}
    assert headers == {"m": header, "own": "Root=1-00000000-000000000000000000000000"}
    mapped = sqs.create_queue(QueueName=unique("mapped"))["QueueUrl"]
    mapped_arn = sqs.get_queue_attributes(QueueUrl=mapped, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    lam.create_event_source_mapping(EventSourceArn=mapped_arn, FunctionName=fn, BatchSize=1)
    root = new_root()
    with traced_calls(sqs, f"Root={root};Parent={caller};Sampled=1"):
        sqs.send_message(QueueUrl=mapped, MessageBody="to the function")
    _, function = lambda_segment(xray, root, fn)
    assert function["parent_id"] == caller

    # EventBridge: an entry's TraceHeader goes to the rule's target.
    events = nimbus.client("events")
    rule = unique("traced")
    rule_arn = events.put_rule(Name=rule, EventPattern=json.dumps({"source": ["traced.app"]}))["RuleArn"]
    lam.add_permission(FunctionName=fn, StatementId="events", Action="lambda:InvokeFunction",
                       Principal="events.amazonaws.com", SourceArn=rule_arn)
    events.put_targets(Rule=rule, Targets=[{"Id": "f", "Arn": arn}])
    root = new_root()
    events.put_events(Entries=[{"Source": "traced.app", "DetailType": "t", "Detail": "{}",
                                "TraceHeader": f"Root={root};Parent={caller};Sampled=1"}])
    _, function = lambda_segment(xray, root, fn)
    assert function["parent_id"] == caller

    # Step Functions: the execution runs in the request's trace, under its own segment.
    sfn = nimbus.client("stepfunctions")
    machine = sfn.create_state_machine(name=unique("traced"), roleArn=ROLE, definition=json.dumps(
        {"StartAt": "Call", "States": {"Call": {"Type": "Task", "Resource": arn, "End": True}}}))["stateMachineArn"]
    root = new_root()
    with traced_calls(sfn, f"Root={root};Parent={caller};Sampled=1"):
        execution = sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
    docs, function = lambda_segment(xray, root, fn)
    [states] = [d for d in docs if d.get("origin") == "AWS::StepFunctions::StateMachine"]
    assert states["parent_id"] == caller and function["parent_id"] == states["id"]
    described = sfn.describe_execution(executionArn=execution)
    assert described["traceHeader"] == f"Root={root};Parent={states['id']};Sampled=1"
    explicit = new_root()
    execution = sfn.start_execution(stateMachineArn=machine, input="{}", traceHeader=f"Root={explicit};Sampled=1")
    assert sfn.describe_execution(executionArn=execution["executionArn"])["traceHeader"] == f"Root={explicit};Sampled=1"
    lambda_segment(xray, explicit, fn)

    # API Gateway: a request without a header starts a trace the function
    # sees; a sampled one gets the API's segment above the function's.
    gw = nimbus.client("apigatewayv2")
    api = gw.create_api(Name=unique("traced"), ProtocolType="HTTP", Target=arn)
    lam.add_permission(FunctionName=fn, StatementId="apigw", Action="lambda:InvokeFunction",
                       Principal="apigateway.amazonaws.com",
                       SourceArn=f"arn:aws:execute-api:us-east-1:000000000000:{api['ApiId']}/*/$default")
    url = urllib.parse.urlparse(nimbus.endpoint)

    def get(headers):
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
        conn.request("GET", "/x", headers={"Host": f"{api['ApiId']}.execute-api.localhost", **headers})
        r = conn.getresponse()
        body = r.read()
        conn.close()
        assert r.status == 200, body
        return json.loads(body)["trace"]

    assert get({}).startswith("Root=1-")
    root = new_root()
    get({"X-Amzn-Trace-Id": f"Root={root};Parent={caller};Sampled=1"})
    docs, function = lambda_segment(xray, root, fn)
    [stage] = [d for d in docs if d.get("origin") == "AWS::ApiGateway::Stage"]
    assert stage["parent_id"] == caller and function["parent_id"] == stage["id"]
    assert stage["name"] == f"ApiGateway/{api['ApiId']}" and stage["http"]["response"]["status"] == 200


POWERTOOLS = '''
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger(service="orders")
metrics = Metrics(namespace="%(ns)s", service="orders")
tracer = Tracer(service="orders")


@tracer.capture_method
def process(order_id):
    tracer.put_annotation(key="order_id", value=order_id)
    tracer.put_metadata(key="order", value={"id": order_id, "items": 2})
    return order_id


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event, context):
    logger.info("processing", extra={"order_id": event["order_id"]})
    metrics.add_metric(name="OrdersPlaced", unit=MetricUnit.Count, value=1)
    return process(event["order_id"])
'''


def test_powertools_logger_metrics_and_tracer_unchanged(nimbus, lam, xray):
    import aws_lambda_powertools
    import jmespath
    import typing_extensions

    fn = unique("powertools")
    ns = unique("Shop")
    files = {"app.py": POWERTOOLS % {"ns": ns}, **package_dir(aws_lambda_powertools), **package_dir(aws_xray_sdk),
             **package_dir(wrapt), **package_dir(jmespath)}
    with open(typing_extensions.__file__, "rb") as f:
        files["typing_extensions.py"] = f.read()
    lam.create_function(FunctionName=fn, Runtime="python3.12", Role=ROLE, Handler="app.lambda_handler",
                        Code={"ZipFile": make_zip(files)}, Timeout=60, MemorySize=256,
                        TracingConfig={"Mode": "Active"})
    out = lam.invoke(FunctionName=fn, Payload=b'{"order_id": "p-9"}')
    assert "FunctionError" not in out, out["Payload"].read()
    assert json.loads(out["Payload"].read()) == "p-9"

    logs, cw = nimbus.client("logs"), nimbus.client("cloudwatch")
    group = f"/aws/lambda/{fn}"
    end = time.monotonic() + 30
    found = []
    while time.monotonic() < end and not found:
        found = logs.filter_log_events(logGroupName=group,
                                       filterPattern='{ $.service = "orders" && $.message = "processing" }')["events"]
        time.sleep(0.2)
    record = json.loads(found[0]["message"])
    assert record["order_id"] == "p-9" and record["cold_start"] is True and record["function_name"] == fn

    def orders():
        t = time.time()
        points = cw.get_metric_statistics(Namespace=ns, MetricName="OrdersPlaced",
                                          Dimensions=[{"Name": "service", "Value": "orders"}],
                                          StartTime=t - 600, EndTime=t + 60, Period=660, Statistics=["Sum"])["Datapoints"]
        return points[0]["Sum"] if points else None

    end = time.monotonic() + 30
    while time.monotonic() < end and orders() != 1:
        time.sleep(0.2)
    assert orders() == 1

    [summary] = find_trace(xray, f'service("{fn}") AND annotation.order_id = "p-9"')

    def traced(docs):
        return {"## lambda_handler", "## app.process"} <= {s.get("name") for d in docs for s in walk(d)}

    docs = segments(xray, summary["Id"], traced)
    process = [s for d in docs for s in walk(d) if s.get("name") == "## app.process"][0]
    assert process["metadata"]["orders"]["order"] == {"id": "p-9", "items": 2}
    handler = [s for d in docs for s in walk(d) if s.get("name") == "## lambda_handler"][0]
    assert handler["annotations"]["ColdStart"] is True


def test_traces_are_exported_to_an_otlp_collector():
    """A stand-in OpenTelemetry collector (OTLP/HTTP JSON) receives the
    platform's and the function's spans of a sampled invocation."""
    import http.server
    import tempfile
    import threading

    from conftest import Nimbus

    received = []

    class Collector(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, self.headers["Content-Type"], json.loads(body)))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with tempfile.TemporaryDirectory(prefix="nimbus-e2e-") as d:
        n = Nimbus(d, extra_args=["--otlp-endpoint", f"http://127.0.0.1:{server.server_port}"]).start()
        try:
            x = n.client("xray")
            x.update_sampling_rule(SamplingRuleUpdate={"RuleName": "Default", "FixedRate": 1.0})
            lam = n.client()
            fn = unique("exported")
            lam.create_function(FunctionName=fn, Runtime="python3.12", Role=ROLE, Handler="app.lambda_handler",
                                Code={"ZipFile": make_zip({"app.py": "def lambda_handler(e, c):\n    return 1\n"})},
                                TracingConfig={"Mode": "Active"})
            lam.invoke(FunctionName=fn, Payload=b"{}")
            deadline = time.monotonic() + 30
            spans = []
            while time.monotonic() < deadline:
                spans = [s for _, _, body in received for rs in body["resourceSpans"]
                         for ss in rs["scopeSpans"] for s in ss["spans"]]
                if {"Invocation", fn} <= {s["name"] for s in spans}:
                    break
                time.sleep(0.2)
            path, kind, body = received[0]
            assert path == "/v1/traces" and kind == "application/json"
            names = {s["name"] for s in spans}
            assert {fn, "Initialization", "Invocation", "Overhead"} <= names, names
            trace_ids = {s["traceId"] for s in spans}
            assert len(trace_ids) == 1 and len(next(iter(trace_ids))) == 32
            invocation = [s for s in spans if s["name"] == "Invocation"][0]
            function = [s for s in spans if s["spanId"] == invocation["parentSpanId"]][0]
            assert function["name"] == fn and function["kind"] == 2
        finally:
            n.stop()
            server.shutdown()
