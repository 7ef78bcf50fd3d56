"""CloudWatch metrics with boto3 and the AWS CLI (both speak Smithy RPC v2 CBOR to it):
PutMetricData with values, statistic sets and value lists; GetMetricStatistics with
statistics and percentiles; GetMetricData; ListMetrics; AWS's refusals; Lambda's own
AWS/Lambda metrics from invocations; datapoints kept across kill -9."""
import json
import signal
import tempfile
import time
import urllib.request

import pytest
from botocore.exceptions import ClientError

from conftest import Nimbus, create, unique


def test_put_and_read_back_metrics(nimbus):
    cw = nimbus.client("cloudwatch")
    ns = unique("Shop")
    now = time.time()
    cw.put_metric_data(Namespace=ns, MetricData=[
        {"MetricName": "Latency", "Dimensions": [{"Name": "Service", "Value": "orders"}],
         "Value": 100, "Unit": "Milliseconds", "Timestamp": now},
        {"MetricName": "Latency", "Dimensions": [{"Name": "Service", "Value": "orders"}],
         "Values": [10, 20, 30], "Counts": [1, 1, 2], "Unit": "Milliseconds", "Timestamp": now},
        {"MetricName": "Orders", "StatisticValues": {"SampleCount": 4, "Sum": 40, "Minimum": 5, "Maximum": 15},
         "Timestamp": now},
    ])
    stats = cw.get_metric_statistics(
        Namespace=ns, MetricName="Latency", Dimensions=[{"Name": "Service", "Value": "orders"}],
        StartTime=now - 600, EndTime=now + 600, Period=1200,
        Statistics=["SampleCount", "Sum", "Average", "Minimum", "Maximum"], ExtendedStatistics=["p50"])
    [point] = stats["Datapoints"]
    assert point["SampleCount"] == 5 and point["Sum"] == 190 and point["Minimum"] == 10 and point["Maximum"] == 100
    assert point["Average"] == 38 and point["Unit"] == "Milliseconds"
    assert point["ExtendedStatistics"]["p50"] == 30
    assert abs(point["Timestamp"].timestamp() - (now - 600)) < 1
    orders = cw.get_metric_statistics(Namespace=ns, MetricName="Orders", StartTime=now - 600, EndTime=now + 600,
                                      Period=1200, Statistics=["Average"])["Datapoints"]
    assert orders[0]["Average"] == 10

    listed = cw.list_metrics(Namespace=ns)["Metrics"]
    assert sorted(m["MetricName"] for m in listed) == ["Latency", "Orders"]
    assert cw.list_metrics(Namespace=ns, Dimensions=[{"Name": "Service", "Value": "billing"}])["Metrics"] == []

    data = cw.get_metric_data(StartTime=now - 600, EndTime=now + 600, MetricDataQueries=[{
        "Id": "lat", "MetricStat": {"Metric": {"Namespace": ns, "MetricName": "Latency",
                                               "Dimensions": [{"Name": "Service", "Value": "orders"}]},
                                    "Period": 60, "Stat": "Maximum"}}])["MetricDataResults"]
    assert data[0]["Id"] == "lat" and data[0]["Values"] == [100] and data[0]["StatusCode"] == "Complete"
    latency = {"Namespace": ns, "MetricName": "Latency", "Dimensions": [{"Name": "Service", "Value": "orders"}]}
    math = cw.get_metric_data(StartTime=now - 600, EndTime=now + 600, MetricDataQueries=[
        {"Id": "hi", "MetricStat": {"Metric": latency, "Period": 60, "Stat": "Maximum"}, "ReturnData": False},
        {"Id": "lo", "MetricStat": {"Metric": latency, "Period": 60, "Stat": "Minimum"}, "ReturnData": False},
        {"Id": "spread", "Expression": "hi - lo", "Label": "Spread"},
        {"Id": "both", "Expression": "SUM(METRICS())"}])["MetricDataResults"]
    by_id = {r["Id"]: r for r in math}
    assert set(by_id) == {"spread", "both"}
    assert by_id["spread"]["Values"] == [90] and by_id["spread"]["Label"] == "Spread"
    assert by_id["both"]["Values"] == [110]
    with pytest.raises(ClientError) as e:
        cw.get_metric_data(StartTime=now - 600, EndTime=now + 600, MetricDataQueries=[
            {"Id": "bad", "Expression": "nothing * 2"}])
    assert e.value.response["Error"]["Code"] == "InvalidParameterValue"

    out = nimbus.aws("cloudwatch", "get-metric-statistics", "--namespace", ns, "--metric-name", "Orders",
                     "--start-time", str(int(now - 600)), "--end-time", str(int(now + 600)),
                     "--period", "1200", "--statistics", "Sum")
    assert json.loads(out.stdout)["Datapoints"][0]["Sum"] == 40


def test_large_put_metric_data_arrives_gzipped_and_is_read(nimbus):
    """boto3 compresses a PutMetricData body over 10 KB (Content-Encoding: gzip)."""
    cw = nimbus.client("cloudwatch")
    ns = unique("Big")
    sent = []

    def seen(request, **_):
        sent.append(request.headers.get("Content-Encoding"))

    cw.meta.events.register("before-send.cloudwatch.PutMetricData", seen)
    cw.put_metric_data(Namespace=ns, MetricData=[
        {"MetricName": f"M{i}", "Value": float(i), "Dimensions": [{"Name": "Service", "Value": "s" * 200}]}
        for i in range(200)])
    assert sent == [b"gzip"], "the SDK compressed the request"
    assert len(cw.list_metrics(Namespace=ns)["Metrics"]) == 200


def test_what_cloudwatch_refuses(nimbus):
    cw = nimbus.client("cloudwatch")
    with pytest.raises(ClientError) as e:
        cw.put_metric_data(Namespace="AWS/Lambda", MetricData=[{"MetricName": "x", "Value": 1}])
    assert e.value.response["Error"]["Code"] == "InvalidParameterValue"
    with pytest.raises(ClientError) as e:
        cw.put_metric_data(Namespace=unique("App"), MetricData=[{"MetricName": "x", "Value": 1, "Values": [1]}])
    assert e.value.response["Error"]["Code"] == "InvalidParameterCombination"
    now = time.time()
    with pytest.raises(ClientError) as e:
        cw.get_metric_statistics(Namespace="App", MetricName="x", StartTime=now - 86400 * 2, EndTime=now,
                                 Period=60, Statistics=["Sum"])
    assert e.value.response["Error"]["Code"] == "InvalidParameterCombination"


def test_lambda_publishes_its_own_metrics(nimbus, lam):
    cw = nimbus.client("cloudwatch")
    name = unique("measured")
    create(lam, name, {"app.py": "def lambda_handler(e, c):\n    if e.get('fail'):\n        raise ValueError('no')\n    return 1\n"})
    lam.invoke(FunctionName=name, Payload=b"{}")
    lam.invoke(FunctionName=name, Payload=b'{"fail": true}')
    dims = [{"Name": "FunctionName", "Value": name}]

    def total(metric):
        now = time.time()
        points = cw.get_metric_statistics(Namespace="AWS/Lambda", MetricName=metric, Dimensions=dims,
                                          StartTime=now - 3600, EndTime=now + 60, Period=3660,
                                          Statistics=["Sum", "Maximum"])["Datapoints"]
        return points[0] if points else {}

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and total("Invocations").get("Sum") != 2:
        time.sleep(0.2)
    assert total("Invocations")["Sum"] == 2
    assert total("Errors")["Sum"] == 1
    assert total("Duration")["Maximum"] > 0
    assert total("ConcurrentExecutions")["Maximum"] >= 1
    names = {m["MetricName"] for m in cw.list_metrics(Namespace="AWS/Lambda", Dimensions=dims)["Metrics"]}
    assert {"Invocations", "Errors", "Duration"} <= names

    # The same series for Prometheus, unauthenticated, in its text format.
    with urllib.request.urlopen(f"{nimbus.endpoint}/_nimbus/metrics") as r:
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = r.read().decode()
    assert "# TYPE aws_lambda_invocations summary" in text
    assert f'aws_lambda_invocations_sum{{function_name="{name}"}} 2' in text
    assert f'aws_lambda_errors_sum{{function_name="{name}"}} 1' in text


def test_acknowledged_datapoints_survive_kill_9():
    with tempfile.TemporaryDirectory(prefix="nimbus-e2e-") as d:
        n = Nimbus(d).start()
        try:
            cw = n.client("cloudwatch")
            now = time.time()
            cw.put_metric_data(Namespace="Durable", MetricData=[{"MetricName": "Kept", "Value": 7, "Timestamp": now}])
            n.stop(signal.SIGKILL)
            n.start()
            cw = n.client("cloudwatch")
            points = cw.get_metric_statistics(Namespace="Durable", MetricName="Kept", StartTime=now - 600,
                                              EndTime=now + 600, Period=1200, Statistics=["Sum"])["Datapoints"]
            assert points[0]["Sum"] == 7
        finally:
            n.stop()


def wait_for_state(cw, name, state, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        got = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]
        if got["StateValue"] == state:
            return got
        time.sleep(0.5)
    raise AssertionError(f"alarm {name} never went to {state}: {got['StateValue']} ({got['StateReason']})")


def test_alarms_go_to_alarm_and_notify_their_topic(nimbus):
    cw, sns, sqs = nimbus.client("cloudwatch"), nimbus.client("sns"), nimbus.client("sqs")
    topic = sns.create_topic(Name=unique("alarms"))["TopicArn"]
    url = sqs.create_queue(QueueName=unique("pager"))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage", "Resource": arn}]})})
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    ns, name = unique("Shop"), unique("too-many-errors")
    cw.put_metric_alarm(AlarmName=name, AlarmDescription="errors happen", Namespace=ns, MetricName="Errors",
                        Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1,
                        ComparisonOperator="GreaterThanOrEqualToThreshold", TreatMissingData="notBreaching",
                        AlarmActions=[topic], OKActions=[topic])
    first = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]
    assert first["StateValue"] in ("INSUFFICIENT_DATA", "OK") and first["AlarmArn"].endswith(f":alarm:{name}")
    cw.put_metric_data(Namespace=ns, MetricData=[{"MetricName": "Errors", "Value": 3}])
    alarmed = wait_for_state(cw, name, "ALARM")
    assert alarmed["StateReason"].startswith("Threshold Crossed")
    deadline, note = time.monotonic() + 60, None
    while time.monotonic() < deadline and note is None:
        for m in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1, MaxNumberOfMessages=10).get("Messages", []):
            envelope = json.loads(m["Body"])
            if json.loads(envelope["Message"])["NewStateValue"] == "ALARM":
                note = envelope
    assert note is not None, "no ALARM notification reached the topic's queue"
    assert note["Subject"] == f'ALARM: "{name}" in US East (N. Virginia)'
    body = json.loads(note["Message"])
    assert body["AlarmName"] == name and body["Trigger"]["Threshold"] == 1 and body["OldStateValue"] in ("INSUFFICIENT_DATA", "OK")

    cw.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="by hand")
    history = cw.describe_alarm_history(AlarmName=name, HistoryItemType="StateUpdate")["AlarmHistoryItems"]
    assert any("to OK" in h["HistorySummary"] for h in history)
    assert any("to ALARM" in h["HistorySummary"] for h in history)
    with pytest.raises(ClientError) as e:
        cw.put_metric_alarm(AlarmName=name, Namespace=ns, MetricName="Errors", Statistic="Median", Period=60,
                            EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold")
    assert e.value.response["Error"]["Code"] == "InvalidParameterValue"
    cw.delete_alarms(AlarmNames=[name])
    assert cw.describe_alarms(AlarmNames=[name])["MetricAlarms"] == []


def test_composite_alarms_follow_their_rule(nimbus):
    cw = nimbus.client("cloudwatch")
    ns = unique("Composite")
    errors, maintenance, both = unique("errors"), unique("maintenance"), unique("page-me")
    cw.put_metric_alarm(AlarmName=errors, Namespace=ns, MetricName="Errors", Statistic="Sum", Period=60,
                        EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanOrEqualToThreshold",
                        TreatMissingData="notBreaching")
    # Kept as set by hand: no data is ignored.
    cw.put_metric_alarm(AlarmName=maintenance, Namespace=ns, MetricName="Window", Statistic="Maximum", Period=60,
                        EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanOrEqualToThreshold",
                        TreatMissingData="ignore")
    cw.set_alarm_state(AlarmName=maintenance, StateValue="OK", StateReason="no maintenance")
    cw.put_composite_alarm(AlarmName=both, AlarmRule=f'ALARM("{errors}") AND NOT ALARM({maintenance})',
                           AlarmDescription="errors outside maintenance")
    assert cw.describe_alarms(AlarmNames=[both])["CompositeAlarms"] == [], "only metric alarms by default"

    def composite_state(want):
        deadline = time.monotonic() + 60
        got = None
        while time.monotonic() < deadline:
            got = cw.describe_alarms(AlarmNames=[both], AlarmTypes=["CompositeAlarm"])["CompositeAlarms"][0]
            if got["StateValue"] == want:
                return got
            time.sleep(0.5)
        raise AssertionError(f"composite never went to {want}: {got}")

    composite_state("OK")
    cw.put_metric_data(Namespace=ns, MetricData=[{"MetricName": "Errors", "Value": 2}])
    alarmed = composite_state("ALARM")
    assert alarmed["AlarmRule"].startswith("ALARM(") and "TRUE" in alarmed["StateReason"]
    cw.set_alarm_state(AlarmName=maintenance, StateValue="ALARM", StateReason="maintenance window")
    composite_state("OK")
    history = cw.describe_alarm_history(AlarmName=both, HistoryItemType="StateUpdate")["AlarmHistoryItems"]
    assert history[0]["AlarmType"] == "CompositeAlarm"
    with pytest.raises(ClientError) as e:
        cw.put_composite_alarm(AlarmName=unique("bad"), AlarmRule="ALARM(no-such-alarm)")
    assert e.value.response["Error"]["Code"] == "InvalidParameterValue"
    with pytest.raises(ClientError):
        cw.put_composite_alarm(AlarmName=unique("bad"), AlarmRule=f"ALARMS({errors})")


def test_an_alarm_on_lambda_errors_invokes_its_function_action(nimbus, lam):
    cw, logs = nimbus.client("cloudwatch"), nimbus.client("logs")
    failing, responder = unique("failing"), unique("responder")
    create(lam, failing, {"app.py": "def lambda_handler(e, c):\n    raise RuntimeError('boom')\n"})
    made = create(lam, responder, {"app.py": "import json\ndef lambda_handler(e, c):\n    print('ALARM-EVENT', json.dumps(e))\n"})
    name = unique("lambda-errors")
    lam.add_permission(FunctionName=responder, StatementId="alarms", Action="lambda:InvokeFunction",
                       Principal="lambda.alarms.cloudwatch.amazonaws.com",
                       SourceArn=f"arn:aws:cloudwatch:us-east-1:000000000000:alarm:{name}")
    cw.put_metric_alarm(AlarmName=name, Namespace="AWS/Lambda", MetricName="Errors",
                        Dimensions=[{"Name": "FunctionName", "Value": failing}], Statistic="Sum", Period=60,
                        EvaluationPeriods=1, Threshold=0, ComparisonOperator="GreaterThanThreshold",
                        AlarmActions=[made["FunctionArn"]])
    lam.invoke(FunctionName=failing, Payload=b"{}")
    wait_for_state(cw, name, "ALARM")
    deadline, events = time.monotonic() + 60, []
    while time.monotonic() < deadline and not events:
        try:
            events = logs.filter_log_events(logGroupName=f"/aws/lambda/{responder}", filterPattern='"ALARM-EVENT"')["events"]
        except ClientError:
            pass
        time.sleep(0.5)
    assert events, "the alarm's function action did not run"
    event = json.loads(events[0]["message"].split("ALARM-EVENT", 1)[1])
    assert event["source"] == "aws.cloudwatch" and event["alarmData"]["state"]["value"] == "ALARM"
    assert event["alarmData"]["configuration"]["metrics"][0]["metricStat"]["metric"]["dimensions"] == {"FunctionName": failing}


EMF_HANDLER = '''
import json, time
def lambda_handler(event, context):
    # What Powertools' Metrics (and aws-embedded-metrics) print at the end of an invocation.
    print(json.dumps({
        "_aws": {"Timestamp": int(time.time() * 1000), "CloudWatchMetrics": [{
            "Namespace": event["ns"], "Dimensions": [["service"]],
            "Metrics": [{"Name": "OrdersPlaced", "Unit": "Count"}, {"Name": "Basket", "Unit": "None"}]}]},
        "service": "orders", "OrdersPlaced": 2, "Basket": [10, 30], "requestId": context.aws_request_id}))
    return "ok"
'''


def test_embedded_metric_format_lines_become_metrics(nimbus, lam):
    cw = nimbus.client("cloudwatch")
    name, ns = unique("emf"), unique("Orders")
    create(lam, name, {"app.py": EMF_HANDLER})
    for _ in range(2):
        lam.invoke(FunctionName=name, Payload=json.dumps({"ns": ns}).encode())
    dims = [{"Name": "service", "Value": "orders"}]

    def stat(metric, statistic):
        now = time.time()
        points = cw.get_metric_statistics(Namespace=ns, MetricName=metric, Dimensions=dims, StartTime=now - 600,
                                          EndTime=now + 60, Period=660, Statistics=[statistic])["Datapoints"]
        return points[0][statistic] if points else None

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and stat("OrdersPlaced", "Sum") != 4:
        time.sleep(0.2)
    assert stat("OrdersPlaced", "Sum") == 4
    assert stat("Basket", "SampleCount") == 4 and stat("Basket", "Maximum") == 30
    assert {m["MetricName"] for m in cw.list_metrics(Namespace=ns)["Metrics"]} == {"OrdersPlaced", "Basket"}


OBSERVED = """
Transform: AWS::Serverless-2016-10-31
Parameters:
  Namespace:
    Type: String
Resources:
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.11
      Handler: index.handler
      InlineCode: "def handler(e, c): print('ERROR failed to work')"
  WorkerLogs:
    Type: AWS::Logs::LogGroup
    Properties:
      LogGroupName: !Sub "/aws/lambda/${Worker}"
      RetentionInDays: 7
  WorkerErrors:
    Type: AWS::Logs::MetricFilter
    Properties:
      LogGroupName: !Ref WorkerLogs
      FilterPattern: ERROR
      MetricTransformations:
        - MetricName: WorkerErrors
          MetricNamespace: !Ref Namespace
          MetricValue: "1"
  WorkerAlarm:
    Type: AWS::CloudWatch::Alarm
    Properties:
      Namespace: !Ref Namespace
      MetricName: WorkerErrors
      Statistic: Sum
      Period: 60
      EvaluationPeriods: 1
      Threshold: 0
      ComparisonOperator: GreaterThanThreshold
  PageAlarm:
    Type: AWS::CloudWatch::CompositeAlarm
    Properties:
      AlarmRule: !Sub "ALARM(${WorkerAlarm})"
Outputs:
  Function:
    Value: !Ref Worker
  Alarm:
    Value: !Ref WorkerAlarm
  Composite:
    Value: !GetAtt PageAlarm.Arn
"""


def test_templates_declare_log_groups_metric_filters_and_alarms(nimbus, lam):
    cfn, logs, cw = nimbus.client("cloudformation"), nimbus.client("logs"), nimbus.client("cloudwatch")
    name, ns = unique("observed"), unique("Worker")
    cfn.create_stack(StackName=name, TemplateBody=OBSERVED, Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
                     Parameters=[{"ParameterKey": "Namespace", "ParameterValue": ns}])
    cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 300})
    outputs = {o["OutputKey"]: o["OutputValue"] for o in cfn.describe_stacks(StackName=name)["Stacks"][0]["Outputs"]}
    group = f"/aws/lambda/{outputs['Function']}"
    shown = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]
    assert shown["retentionInDays"] == 7 and shown["metricFilterCount"] == 1
    lam.invoke(FunctionName=outputs["Function"], Payload=b"{}")
    wait_for_state(cw, outputs["Alarm"], "ALARM")
    composite = outputs["Composite"].rsplit(":alarm:", 1)[1]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and cw.describe_alarms(
            AlarmNames=[composite], AlarmTypes=["CompositeAlarm"])["CompositeAlarms"][0]["StateValue"] != "ALARM":
        time.sleep(0.5)
    assert cw.describe_alarms(AlarmNames=[composite], AlarmTypes=["CompositeAlarm"])["CompositeAlarms"][0]["StateValue"] == "ALARM"
    cfn.delete_stack(StackName=name)
    cfn.get_waiter("stack_delete_complete").wait(StackName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 300})
    assert logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"] == []
    assert cw.describe_alarms(AlarmNames=[outputs["Alarm"]])["MetricAlarms"] == []


def test_queues_report_their_depth_in_aws_sqs(nimbus):
    cw, sqs = nimbus.client("cloudwatch"), nimbus.client("sqs")
    name = unique("depth")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    for i in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=str(i))
    dims = [{"Name": "QueueName", "Value": name}]

    def most(metric):
        now = time.time()
        points = cw.get_metric_statistics(Namespace="AWS/SQS", MetricName=metric, Dimensions=dims,
                                          StartTime=now - 600, EndTime=now + 60, Period=660,
                                          Statistics=["Maximum"])["Datapoints"]
        return points[0]["Maximum"] if points else None

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and most("ApproximateNumberOfMessagesVisible") != 3:
        time.sleep(0.5)
    assert most("ApproximateNumberOfMessagesVisible") == 3
    assert most("ApproximateAgeOfOldestMessage") is not None
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"])

    def total(metric):
        now = time.time()
        points = cw.get_metric_statistics(Namespace="AWS/SQS", MetricName=metric, Dimensions=dims,
                                          StartTime=now - 600, EndTime=now + 60, Period=660,
                                          Statistics=["Sum"])["Datapoints"]
        return points[0]["Sum"] if points else None

    assert total("NumberOfMessagesSent") == 3
    assert total("NumberOfMessagesReceived") == len(got)
    assert total("NumberOfMessagesDeleted") == 1


def test_dynamodb_api_gateway_step_functions_and_async_lambda_publish_their_metrics(nimbus, lam):
    import http.client
    import urllib.parse

    cw = nimbus.client("cloudwatch")

    def total(namespace, metric, dims, stat="Sum"):
        now = time.time()
        points = cw.get_metric_statistics(Namespace=namespace, MetricName=metric, Dimensions=dims,
                                          StartTime=now - 3600, EndTime=now + 60, Period=3660,
                                          Statistics=[stat])["Datapoints"]
        return points[0][stat] if points else None

    def eventually(namespace, metric, dims, want, stat="Sum"):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and total(namespace, metric, dims, stat) != want:
            time.sleep(0.2)
        assert total(namespace, metric, dims, stat) == want, (namespace, metric)

    # DynamoDB: capacity by DynamoDB's arithmetic, latency by table and operation, errors.
    ddb = nimbus.client("dynamodb")
    table = unique("metered")
    ddb.create_table(TableName=table, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    ddb.put_item(TableName=table, Item={"pk": {"S": "a"}, "blob": {"S": "x" * 1500}})  # 2 write units
    out = ddb.get_item(TableName=table, Key={"pk": {"S": "a"}})  # 0.5 read units
    assert "ConsumedCapacity" not in out, "only returned when asked for"
    with pytest.raises(ClientError):
        ddb.put_item(TableName=table, Item={"pk": {"S": "a"}}, ConditionExpression="attribute_not_exists(pk)")
    t = [{"Name": "TableName", "Value": table}]
    eventually("AWS/DynamoDB", "ConsumedWriteCapacityUnits", t, 2)
    eventually("AWS/DynamoDB", "ConsumedReadCapacityUnits", t, 0.5)
    eventually("AWS/DynamoDB", "ConditionalCheckFailedRequests", t, 1)
    assert total("AWS/DynamoDB", "SuccessfulRequestLatency", t + [{"Name": "Operation", "Value": "GetItem"}],
                 "SampleCount") == 1

    # API Gateway: an HTTP API's requests, errors, latency and its integration's by ApiId.
    fn = unique("api-backend")
    create(lam, fn, {"app.py": "def lambda_handler(e, c):\n    return {'statusCode': 200, 'body': 'ok'}\n"})
    arn = lam.get_function(FunctionName=fn)["Configuration"]["FunctionArn"]
    gw = nimbus.client("apigatewayv2")
    api = gw.create_api(Name=unique("metered"), ProtocolType="HTTP", Target=arn)["ApiId"]
    lam.add_permission(FunctionName=fn, StatementId="apigw", Action="lambda:InvokeFunction",
                       Principal="apigateway.amazonaws.com",
                       SourceArn=f"arn:aws:execute-api:us-east-1:000000000000:{api}/*/$default")
    url = urllib.parse.urlparse(nimbus.endpoint)
    for _ in range(3):
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
        conn.request("GET", "/hello", headers={"Host": f"{api}.execute-api.localhost"})
        assert conn.getresponse().status == 200
        conn.close()
    a = [{"Name": "ApiId", "Value": api}]
    eventually("AWS/ApiGateway", "Count", a, 3)
    assert total("AWS/ApiGateway", "5xx", a) == 0
    assert total("AWS/ApiGateway", "Latency", a, "Maximum") > 0
    assert total("AWS/ApiGateway", "IntegrationLatency", a, "SampleCount") == 3
    assert 0 < total("AWS/ApiGateway", "IntegrationLatency", a, "Maximum") <= total("AWS/ApiGateway", "Latency", a, "Maximum")

    # Step Functions: executions by state machine.
    sfn = nimbus.client("stepfunctions")
    sm = sfn.create_state_machine(name=unique("metered"), roleArn="arn:aws:iam::000000000000:role/sfn",
                                  definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}))
    ex = sfn.start_execution(stateMachineArn=sm["stateMachineArn"])["executionArn"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and sfn.describe_execution(executionArn=ex)["status"] == "RUNNING":
        time.sleep(0.1)
    s = [{"Name": "StateMachineArn", "Value": sm["stateMachineArn"]}]
    eventually("AWS/States", "ExecutionsStarted", s, 1)
    eventually("AWS/States", "ExecutionsSucceeded", s, 1)
    assert total("AWS/States", "ExecutionTime", s, "SampleCount") == 1

    # Lambda's asynchronous invocations: received, their age, and a dropped one.
    failing = unique("async-fails")
    create(lam, failing, {"app.py": "def lambda_handler(e, c):\n    raise ValueError('no')\n"})
    lam.put_function_event_invoke_config(FunctionName=failing, MaximumRetryAttempts=0)
    lam.invoke(FunctionName=failing, InvocationType="Event", Payload=b"{}")
    f = [{"Name": "FunctionName", "Value": failing}]
    eventually("AWS/Lambda", "AsyncEventsReceived", f, 1)
    eventually("AWS/Lambda", "AsyncEventsDropped", f, 1)
    assert total("AWS/Lambda", "AsyncEventAge", f, "SampleCount") == 1


def test_nimbus_cost_prices_requests_and_gb_seconds(nimbus, lam):
    import re
    import subprocess

    from conftest import NIMBUS

    logs = nimbus.client("logs")
    fn = unique("priced")
    create(lam, fn, {"app.py": "def lambda_handler(e, c):\n    return 1\n"}, MemorySize=256, Architectures=["arm64"])
    lam.invoke(FunctionName=fn, Payload=b"{}")
    lam.invoke(FunctionName=fn, Payload=b"{}")
    billed = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(billed) < 2:
        events = logs.filter_log_events(logGroupName=f"/aws/lambda/{fn}", filterPattern="REPORT")["events"]
        billed = [int(re.search(r"Billed Duration: (\d+) ms", e["message"]).group(1)) for e in events]
        time.sleep(0.2)
    assert len(billed) == 2
    out = subprocess.run([str(NIMBUS), "cost", "--since", "1h", "--function", fn, "--json",
                          "--data-dir", str(nimbus.data_dir)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    [f] = report["functions"]
    assert f["requests"] == 2 and f["architecture"] == "arm64"
    assert f["gbSeconds"] == pytest.approx(sum(billed) / 1000 * 0.25)
    assert f["costUSD"] == pytest.approx(2 * 0.2e-6 + f["gbSeconds"] * 0.0000133334)
    assert "US East (N. Virginia)" in report["priceTable"]
    table = subprocess.run([str(NIMBUS), "cost", "--since", "1h", "--data-dir", str(nimbus.data_dir)],
                           capture_output=True, text=True, timeout=60)
    assert table.returncode == 0 and fn in table.stdout and "Prices:" in table.stdout


def test_metric_math_alarms_watch_an_expression(nimbus):
    cw = nimbus.client("cloudwatch")
    ns, name = unique("Checkout"), unique("error-rate")
    metric = lambda m: {"Namespace": ns, "MetricName": m}  # noqa: E731
    cw.put_metric_alarm(AlarmName=name, EvaluationPeriods=1, Threshold=10,
                        ComparisonOperator="GreaterThanThreshold", TreatMissingData="notBreaching",
                        Metrics=[
                            {"Id": "errors", "MetricStat": {"Metric": metric("Errors"), "Period": 60, "Stat": "Sum"},
                             "ReturnData": False},
                            {"Id": "requests", "MetricStat": {"Metric": metric("Requests"), "Period": 60, "Stat": "Sum"},
                             "ReturnData": False},
                            {"Id": "rate", "Expression": "100 * errors / requests", "Label": "Error rate (%)"}])
    described = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]
    assert [m["Id"] for m in described["Metrics"]] == ["errors", "requests", "rate"]
    assert "MetricName" not in described
    # Both writes in one minute, whenever the clock's minute turns between them.
    minute = int(time.time()) // 60 * 60
    # 5 errors in 100 requests: 5%, under the threshold.
    cw.put_metric_data(Namespace=ns, MetricData=[{"MetricName": "Errors", "Value": 5, "Timestamp": minute},
                                                 {"MetricName": "Requests", "Value": 100, "Timestamp": minute}])
    wait_for_state(cw, name, "OK")
    # 25 more errors in 50 more: 30 in 150, 20%.
    cw.put_metric_data(Namespace=ns, MetricData=[{"MetricName": "Errors", "Value": 25, "Timestamp": minute},
                                                 {"MetricName": "Requests", "Value": 50, "Timestamp": minute}])
    alarmed = wait_for_state(cw, name, "ALARM")
    assert "[20 (" in alarmed["StateReason"], alarmed["StateReason"]
    with pytest.raises(ClientError) as e:
        cw.put_metric_alarm(AlarmName=unique("bad"), EvaluationPeriods=1, Threshold=1,
                            ComparisonOperator="GreaterThanThreshold",
                            Metrics=[{"Id": "a", "MetricStat": {"Metric": metric("Errors"), "Period": 60, "Stat": "Sum"}},
                                     {"Id": "b", "Expression": "a * 2"}])
    assert e.value.response["Error"]["Code"] == "InvalidParameterValue", "two queries return data"


def test_the_query_protocol_of_older_sdks(nimbus, tmp_path):
    """CloudWatch as older SDKs speak it (Action=..., form-encoded, XML): the real
    botocore with CloudWatch's model switched to the query protocol."""
    import gzip
    import os

    import botocore

    src = os.path.join(os.path.dirname(botocore.__file__), "data", "cloudwatch", "2010-08-01")
    with gzip.open(os.path.join(src, "service-2.json.gz")) as f:
        model = json.load(f)
    model["metadata"]["protocol"] = "query"
    model["metadata"]["protocols"] = ["query"]
    dst = tmp_path / "cloudwatch" / "2010-08-01"
    dst.mkdir(parents=True)
    (dst / "service-2.json").write_text(json.dumps(model))
    session = nimbus.session()
    session._session.get_component("data_loader").search_paths.insert(0, str(tmp_path))
    cw = session.client("cloudwatch", endpoint_url=nimbus.endpoint)
    seen = []
    cw.meta.events.register("before-send.cloudwatch.*", lambda request, **_: seen.append(request.body))
    ns = unique("Legacy")
    now = time.time()
    cw.put_metric_data(Namespace=ns, MetricData=[
        {"MetricName": "Orders", "Dimensions": [{"Name": "Shop", "Value": "east"}], "Value": 4, "Unit": "Count",
         "Timestamp": now},
        {"MetricName": "Orders", "Dimensions": [{"Name": "Shop", "Value": "east"}], "Values": [1, 2], "Counts": [1, 3],
         "Unit": "Count", "Timestamp": now}])
    assert b"Action=PutMetricData" in seen[0], "really the query protocol"
    stats = cw.get_metric_statistics(Namespace=ns, MetricName="Orders", Dimensions=[{"Name": "Shop", "Value": "east"}],
                                     StartTime=now - 600, EndTime=now + 600, Period=1200,
                                     Statistics=["Sum", "SampleCount"])
    [point] = stats["Datapoints"]
    assert point["Sum"] == 11 and point["SampleCount"] == 5 and point["Unit"] == "Count"
    assert abs(point["Timestamp"].timestamp() - (now - 600)) < 1
    listed = cw.list_metrics(Namespace=ns)["Metrics"]
    assert listed[0]["Dimensions"] == [{"Name": "Shop", "Value": "east"}]
    name = unique("legacy-alarm")
    cw.put_metric_alarm(AlarmName=name, Namespace=ns, MetricName="Orders", Statistic="Sum", Period=60,
                        EvaluationPeriods=1, Threshold=100, ComparisonOperator="GreaterThanThreshold",
                        ActionsEnabled=False)
    alarm = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]
    assert alarm["Threshold"] == 100 and alarm["ActionsEnabled"] is False
    assert alarm["AlarmConfigurationUpdatedTimestamp"].year >= 2026
    with pytest.raises(ClientError) as e:
        cw.put_metric_data(Namespace=ns, MetricData=[{"MetricName": "Bad", "Value": 1, "Unit": "Parsecs"}])
    assert e.value.response["Error"]["Code"] == "InvalidParameterValue"
