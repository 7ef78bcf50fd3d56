"""examples/orders-app, deployed as its README says (`nimbus deploy`): an order taken over
the HTTP API goes through the table's stream, the queue, the worker and the state machine
to `fulfilled`; a poison order ends in the dead-letter queue; every function reads the
shared layer; deleting the stack removes it all."""
import http.client
import json
import pathlib
import subprocess
import urllib.parse

import pytest
from botocore.exceptions import ClientError

from conftest import NIMBUS, eventually, unique

ROOT = pathlib.Path(__file__).resolve().parents[2]
APP = ROOT / "examples" / "orders-app"


def call(nimbus, api_id, method, path, body=None):
    server = urllib.parse.urlparse(nimbus.endpoint)
    conn = http.client.HTTPConnection(server.hostname, server.port, timeout=60)
    conn.request(method, path, body=body,
                 headers={"Host": f"{api_id}.execute-api.localhost", "Content-Type": "application/json"})
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, json.loads(data or b"null")


@pytest.mark.xdist_group("heavy")
def test_the_orders_app_deploys_in_one_command_and_works(nimbus):
    stack = unique("orders")
    out = subprocess.run([NIMBUS, "deploy", "-t", str(APP / "template.yaml"), "--stack-name", stack,
                          "--data-dir", str(nimbus.data_dir), "--no-confirm"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "+ Add" in out.stdout and "CREATE_COMPLETE" in out.stdout
    cfn = nimbus.client("cloudformation")
    outputs = {o["OutputKey"]: o["OutputValue"]
               for o in cfn.describe_stacks(StackName=stack)["Stacks"][0]["Outputs"]}
    api = outputs["ApiId"]

    status, body = call(nimbus, api, "POST", "/orders", json.dumps({"id": "o1", "item": "teapot"}))
    assert (status, body) == (201, {"id": "o1", "status": "new"})
    assert call(nimbus, api, "POST", "/orders", "nonsense")[0] == 400
    assert call(nimbus, api, "GET", "/orders/nope")[0] == 404
    eventually("o1 fulfilled",
               lambda: call(nimbus, api, "GET", "/orders/o1")[1].get("status") == "fulfilled", deadline_s=180)
    sfn = nimbus.client("stepfunctions")
    runs = sfn.list_executions(stateMachineArn=outputs["StateMachine"])["executions"]
    assert [r["status"] for r in runs] == ["SUCCEEDED"]

    # A poison order: refused by the worker twice, then dead-lettered.
    call(nimbus, api, "POST", "/orders", json.dumps({"id": "p1", "item": "poison"}))
    sqs = nimbus.client("sqs")

    def dead_letter():
        got = sqs.receive_message(QueueUrl=outputs["DeadLetters"], WaitTimeSeconds=1).get("Messages", [])
        return got and json.loads(got[0]["Body"])
    assert eventually("poison order dead-lettered", dead_letter, deadline_s=180) == {"id": "p1", "item": "poison"}
    assert call(nimbus, api, "GET", "/orders/p1")[1]["status"] == "new"

    # Every function has the shared layer.
    lam = nimbus.client("lambda")
    names = [r["PhysicalResourceId"] for r in cfn.describe_stack_resources(StackName=stack)["StackResources"]
             if r["ResourceType"] == "AWS::Lambda::Function"]
    assert len(names) == 4
    for n in names:
        layers = lam.get_function_configuration(FunctionName=n)["Layers"]
        assert len(layers) == 1 and ":layer:" in layers[0]["Arn"]

    cfn.delete_stack(StackName=stack)
    cfn.get_waiter("stack_delete_complete").wait(StackName=stack, WaiterConfig={"Delay": 1, "MaxAttempts": 180})
    with pytest.raises(ClientError):
        lam.get_function(FunctionName=names[0])
    with pytest.raises(ClientError):
        nimbus.client("dynamodb").describe_table(TableName=outputs["Table"])
