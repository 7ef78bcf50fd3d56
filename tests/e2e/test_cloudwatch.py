"""CloudWatch metrics with boto3 and the AWS CLI (both speak Smithy RPC v2 CBOR to it):
PutMetricData with values, statistic sets and value lists; GetMetricStatistics with
statistics and percentiles; GetMetricData; ListMetrics; AWS's refusals; Lambda's own
AWS/Lambda metrics from invocations; datapoints kept across kill -9."""
import json
import signal
import tempfile
import time

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

    out = nimbus.aws("cloudwatch", "get-metric-statistics", "--namespace", ns, "--metric-name", "Orders",
                     "--start-time", str(int(now - 600)), "--end-time", str(int(now + 600)),
                     "--period", "1200", "--statistics", "Sum")
    assert json.loads(out.stdout)["Datapoints"][0]["Sum"] == 40


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
    names = {m["MetricName"] for m in cw.list_metrics(Namespace="AWS/Lambda", Dimensions=dims)["Metrics"]}
    assert {"Invocations", "Errors", "Duration"} <= names


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
