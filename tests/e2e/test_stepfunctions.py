"""Step Functions end to end: state machines driven with boto3 and the AWS CLI,
Task states running real functions on Nimbus, callbacks, service integrations,
and executions that continue after `kill -9` of the server."""
import json
import signal
import subprocess
import tempfile
import time

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import ROLE, Nimbus, create, eventually, unique

ARN = "arn:aws:lambda:us-east-1:000000000000:function:"

APP = '''
import json, os, time
PAY_ATTEMPTS = {}

class ValidationError(Exception):
    pass

class PaymentTimeout(Exception):
    pass

def validate(event, context):
    if not event.get("items"):
        raise ValidationError("an order needs items")
    return {"valid": True, "total": sum(i["price"] for i in event["items"])}

def pay(event, context):
    order = event["order"]
    PAY_ATTEMPTS[order] = PAY_ATTEMPTS.get(order, 0) + 1
    if PAY_ATTEMPTS[order] <= event.get("fail_times", 0):
        raise PaymentTimeout("the payment provider timed out (attempt %d)" % PAY_ATTEMPTS[order])
    return {"paid": event["total"], "attempts": PAY_ATTEMPTS[order]}

def reserve(event, context):
    return {"reserved": [i["sku"] for i in event["items"]]}

def confirm(event, context):
    return {"sent_to": event["email"]}

def echo(event, context):
    return event
'''


def machine(sfn, definition, kind="STANDARD"):
    return sfn.create_state_machine(
        name=unique("sm"), definition=json.dumps(definition), roleArn=ROLE, type=kind
    )["stateMachineArn"]


def wait_done(sfn, arn, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        d = sfn.describe_execution(executionArn=arn)
        if d["status"] != "RUNNING":
            return d
        time.sleep(0.1)
    raise AssertionError(f"{arn} still running after {timeout}s")


def history(sfn, arn):
    events, token = [], None
    while True:
        kw = {"nextToken": token} if token else {}
        page = sfn.get_execution_history(executionArn=arn, maxResults=50, **kw)
        events += page["events"]
        token = page.get("nextToken")
        if not token:
            return events


def wait_for_event(sfn, arn, kind, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        for e in history(sfn, arn):
            if e["type"] == kind:
                return e
        time.sleep(0.1)
    raise AssertionError(f"no {kind} in {arn}")


@pytest.fixture(scope="module")
def fns(nimbus):
    lam = nimbus.client()
    names = {}
    for handler in ["validate", "pay", "reserve", "confirm", "echo"]:
        name = unique(handler)
        create(lam, name, {"app.py": APP}, handler=f"app.{handler}")
        names[handler] = name
    return names


def order_workflow(fns):
    return {
        "Comment": "validate, pay with retries, reserve stock and confirm in parallel",
        "StartAt": "Validate",
        "States": {
            "Validate": {
                "Type": "Task",
                "Resource": ARN + fns["validate"],
                "ResultPath": "$.validation",
                "Catch": [{"ErrorEquals": ["ValidationError"], "ResultPath": "$.error", "Next": "Rejected"}],
                "Next": "Pay",
            },
            "Pay": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {
                    "FunctionName": fns["pay"],
                    "Payload": {
                        "order.$": "$.order",
                        "total.$": "$.validation.total",
                        "fail_times.$": "$.fail_times",
                    },
                },
                "Retry": [{"ErrorEquals": ["PaymentTimeout"], "IntervalSeconds": 1, "BackoffRate": 1.5, "MaxAttempts": 3}],
                "ResultSelector": {"paid.$": "$.Payload.paid", "attempts.$": "$.Payload.attempts"},
                "ResultPath": "$.payment",
                "Next": "Fulfil",
            },
            "Fulfil": {
                "Type": "Parallel",
                "Branches": [
                    {"StartAt": "Reserve", "States": {"Reserve": {"Type": "Task", "Resource": ARN + fns["reserve"], "End": True}}},
                    {"StartAt": "Confirm", "States": {"Confirm": {"Type": "Task", "Resource": ARN + fns["confirm"], "End": True}}},
                ],
                "ResultSelector": {"stock.$": "$[0].reserved", "confirmation.$": "$[1].sent_to"},
                "ResultPath": "$.fulfilment",
                "Next": "Done",
            },
            "Done": {"Type": "Succeed", "OutputPath": "$['payment','fulfilment']"},
            "Rejected": {"Type": "Fail", "Error": "OrderRejected", "CausePath": "$.error.Cause"},
        },
    }


def test_order_workflow_retries_payment_and_fulfils_in_parallel(nimbus, fns):
    sfn = nimbus.client("stepfunctions")
    arn = machine(sfn, order_workflow(fns))
    order = {"order": unique("o"), "fail_times": 2, "email": "ada@example.com",
             "items": [{"sku": "a", "price": 3}, {"sku": "b", "price": 4}]}
    started = sfn.start_execution(stateMachineArn=arn, name=order["order"], input=json.dumps(order))
    d = wait_done(sfn, started["executionArn"])
    assert d["status"] == "SUCCEEDED", d
    out = json.loads(d["output"])
    assert out == [{"paid": 7, "attempts": 3}, {"stock": ["a", "b"], "confirmation": "ada@example.com"}]

    events = history(sfn, started["executionArn"])
    types = [e["type"] for e in events]
    assert types[0] == "ExecutionStarted" and types[-1] == "ExecutionSucceeded"
    failed = [e for e in events if e["type"] == "TaskFailed"]
    assert [e["taskFailedEventDetails"]["error"] for e in failed] == ["PaymentTimeout", "PaymentTimeout"]
    assert "payment provider timed out" in failed[0]["taskFailedEventDetails"]["cause"]
    # Back-off: 1 s, then 1.5 s between the payment attempts.
    scheduled = [e["timestamp"].timestamp() for e in events if e["type"] == "TaskScheduled"]
    assert scheduled[1] - scheduled[0] >= 1.0 and scheduled[2] - scheduled[1] >= 1.5
    assert types.count("LambdaFunctionSucceeded") == 3  # validate, reserve, confirm
    assert "ParallelStateStarted" in types and "ParallelStateSucceeded" in types
    # Every event names the one before it.
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    assert all(e["previousEventId"] < e["id"] for e in events)
    # As Step Functions records them, the first state follows event 0.
    assert events[0]["previousEventId"] == 0 and events[1]["previousEventId"] == 0


def test_invalid_order_is_caught_into_a_fail_state(nimbus, fns):
    sfn = nimbus.client("stepfunctions")
    arn = machine(sfn, order_workflow(fns))
    started = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"order": "x", "items": []}))
    d = wait_done(sfn, started["executionArn"])
    assert d["status"] == "FAILED"
    assert d["error"] == "OrderRejected"
    assert json.loads(d["cause"])["errorMessage"] == "an order needs items"
    # As Step Functions records a function's error: compact JSON.
    assert d["cause"] == json.dumps(json.loads(d["cause"]), separators=(",", ":"), sort_keys=True)
    types = [e["type"] for e in history(sfn, started["executionArn"])]
    assert types[-3:] == ["TaskStateExited", "FailStateEntered", "ExecutionFailed"]


def test_bad_definitions_are_rejected_with_step_functions_messages(nimbus):
    sfn = nimbus.client("stepfunctions")
    bad = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Nowhere"}}}
    with pytest.raises(ClientError) as e:
        sfn.create_state_machine(name=unique("bad"), definition=json.dumps(bad), roleArn=ROLE)
    assert e.value.response["Error"]["Code"] == "InvalidDefinition"
    assert "MISSING_TRANSITION_TARGET: Missing 'Next' target: Nowhere at /States/A/Next" in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        sfn.create_state_machine(name=unique("bad"), definition="{not json", roleArn=ROLE)
    assert e.value.response["Error"]["Code"] == "InvalidDefinition"
    v = sfn.validate_state_machine_definition(definition=json.dumps(bad))
    assert v["result"] == "FAIL"
    assert v["diagnostics"][0]["code"] == "MISSING_TRANSITION_TARGET"
    assert v["diagnostics"][0]["location"] == "/States/A/Next"
    ok = sfn.validate_state_machine_definition(definition=json.dumps({"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}))
    assert ok["result"] == "OK" and ok["diagnostics"] == []
    with pytest.raises(ClientError) as e:
        sfn.create_state_machine(name="has space", definition=json.dumps({"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}), roleArn=ROLE)
    assert e.value.response["Error"]["Code"] == "InvalidName"
    with pytest.raises(ClientError) as e:
        sfn.describe_state_machine(stateMachineArn="arn:aws:states:us-east-1:000000000000:stateMachine:nope")
    assert e.value.response["Error"]["Code"] == "StateMachineDoesNotExist"
    with pytest.raises(ClientError) as e:
        sfn.describe_execution(executionArn="arn:aws:states:us-east-1:000000000000:execution:nope:x")
    assert e.value.response["Error"]["Code"] == "ExecutionDoesNotExist"
    with pytest.raises(ClientError) as e:
        sfn.start_execution(stateMachineArn=machine(sfn, {"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}), input="{oops")
    assert e.value.response["Error"]["Code"] == "InvalidExecutionInput"


def test_machines_versions_aliases_and_listing(nimbus):
    sfn = nimbus.client("stepfunctions")
    v1 = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Result": "one", "End": True}}}
    v2 = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Result": "two", "End": True}}}
    name = unique("versioned")
    created = sfn.create_state_machine(name=name, definition=json.dumps(v1), roleArn=ROLE, publish=True)
    arn = created["stateMachineArn"]
    assert created["stateMachineVersionArn"] == arn + ":1"
    d = sfn.describe_state_machine(stateMachineArn=arn)
    assert d["name"] == name and d["status"] == "ACTIVE" and d["type"] == "STANDARD" and json.loads(d["definition"]) == v1
    up = sfn.update_state_machine(stateMachineArn=arn, definition=json.dumps(v2), publish=True)
    assert up["stateMachineVersionArn"] == arn + ":2"
    versions = sfn.list_state_machine_versions(stateMachineArn=arn)["stateMachineVersions"]
    assert [v["stateMachineVersionArn"] for v in versions] == [arn + ":2", arn + ":1"]
    alias = sfn.create_state_machine_alias(
        name="live", routingConfiguration=[{"stateMachineVersionArn": arn + ":1", "weight": 100}]
    )["stateMachineAliasArn"]
    assert alias == arn + ":live"
    by_alias = sfn.start_execution(stateMachineArn=alias)
    by_version = sfn.start_execution(stateMachineArn=arn + ":2")
    latest = sfn.start_execution(stateMachineArn=arn)
    assert json.loads(wait_done(sfn, by_alias["executionArn"])["output"]) == "one"
    assert json.loads(wait_done(sfn, by_version["executionArn"])["output"]) == "two"
    assert json.loads(wait_done(sfn, latest["executionArn"])["output"]) == "two"
    assert sfn.describe_execution(executionArn=by_alias["executionArn"])["stateMachineAliasArn"] == alias
    sfn.update_state_machine_alias(stateMachineAliasArn=alias, routingConfiguration=[{"stateMachineVersionArn": arn + ":2", "weight": 100}])
    assert sfn.describe_state_machine_alias(stateMachineAliasArn=alias)["routingConfiguration"][0]["stateMachineVersionArn"] == arn + ":2"
    names = [m["name"] for m in sfn.list_state_machines()["stateMachines"]]
    assert name in names
    execs = sfn.list_executions(stateMachineArn=arn)["executions"]
    assert {e["executionArn"] for e in execs} == {by_alias["executionArn"], by_version["executionArn"], latest["executionArn"]}
    assert all(e["status"] == "SUCCEEDED" for e in execs)
    # Newest first.
    assert [e["startDate"] for e in execs] == sorted([e["startDate"] for e in execs], reverse=True)
    assert sfn.list_executions(stateMachineArn=arn, statusFilter="FAILED")["executions"] == []
    sfn.tag_resource(resourceArn=arn, tags=[{"key": "team", "value": "orders"}])
    assert sfn.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "team", "value": "orders"}]
    sfn.delete_state_machine_alias(stateMachineAliasArn=alias)
    sfn.delete_state_machine(stateMachineArn=arn)
    with pytest.raises(ClientError) as e:
        sfn.describe_state_machine(stateMachineArn=arn)
    assert e.value.response["Error"]["Code"] == "StateMachineDoesNotExist"


def test_execution_names_are_idempotent_while_running_and_stop_aborts(nimbus):
    sfn = nimbus.client("stepfunctions")
    arn = machine(sfn, {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 300, "End": True}}})
    name = unique("run")
    first = sfn.start_execution(stateMachineArn=arn, name=name, input='{"a": 1}')
    again = sfn.start_execution(stateMachineArn=arn, name=name, input='{"a": 1}')
    assert again["executionArn"] == first["executionArn"]
    with pytest.raises(ClientError) as e:
        sfn.start_execution(stateMachineArn=arn, name=name, input='{"a": 2}')
    assert e.value.response["Error"]["Code"] == "ExecutionAlreadyExists"
    wait_for_event(sfn, first["executionArn"], "WaitStateEntered")
    sfn.stop_execution(executionArn=first["executionArn"], error="Operator", cause="no longer needed")
    d = sfn.describe_execution(executionArn=first["executionArn"])
    assert d["status"] == "ABORTED" and d["error"] == "Operator"
    assert history(sfn, first["executionArn"])[-1]["type"] == "ExecutionAborted"
    with pytest.raises(ClientError) as e:
        sfn.start_execution(stateMachineArn=arn, name=name, input='{"a": 1}')
    assert e.value.response["Error"]["Code"] == "ExecutionAlreadyExists"


def test_callbacks_with_task_tokens(nimbus, fns):
    sfn = nimbus.client("stepfunctions")
    arn = machine(sfn, {
        "StartAt": "Approve",
        "States": {
            "Approve": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                "Parameters": {"FunctionName": fns["echo"], "Payload": {"token.$": "$$.Task.Token", "order.$": "$.order"}},
                "HeartbeatSeconds": 60,
                "ResultPath": "$.approval",
                "End": True,
            }
        },
    })

    def token_of(exec_arn):
        e = wait_for_event(sfn, exec_arn, "TaskSubmitted")
        scheduled = next(x for x in history(sfn, exec_arn) if x["type"] == "TaskScheduled")
        assert e["taskSubmittedEventDetails"]["resource"] == "invoke.waitForTaskToken"
        return json.loads(scheduled["taskScheduledEventDetails"]["parameters"])["Payload"]["token"]

    ok = sfn.start_execution(stateMachineArn=arn, input='{"order": 5}')["executionArn"]
    token = token_of(ok)
    sfn.send_task_heartbeat(taskToken=token)
    sfn.send_task_success(taskToken=token, output=json.dumps({"approved": True}))
    d = wait_done(sfn, ok)
    assert d["status"] == "SUCCEEDED" and json.loads(d["output"]) == {"order": 5, "approval": {"approved": True}}
    with pytest.raises(ClientError) as e:
        sfn.send_task_success(taskToken=token, output="{}")
    assert e.value.response["Error"]["Code"] == "TaskDoesNotExist"

    no = sfn.start_execution(stateMachineArn=arn, input='{"order": 6}')["executionArn"]
    sfn.send_task_failure(taskToken=token_of(no), error="Rejected", cause="by a reviewer")
    d = wait_done(sfn, no)
    assert d["status"] == "FAILED" and d["error"] == "Rejected" and d["cause"] == "by a reviewer"

    bad = sfn.start_execution(stateMachineArn=arn, input='{"order": 7}')["executionArn"]
    with pytest.raises(ClientError) as e:
        sfn.send_task_success(taskToken=token_of(bad), output="{not json")
    assert e.value.response["Error"]["Code"] == "InvalidOutput"
    sfn.stop_execution(executionArn=bad)


def test_express_sync_executions_with_boto3_and_the_cli(nimbus, fns):
    sfn = nimbus.client("stepfunctions", config=Config(inject_host_prefix=False))
    definition = {
        "StartAt": "Map",
        "States": {
            "Map": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "MaxConcurrency": 2,
                "ItemProcessor": {"StartAt": "Echo", "States": {"Echo": {"Type": "Task", "Resource": ARN + fns["echo"], "End": True}}},
                "End": True,
            }
        },
    }
    arn = machine(sfn, definition, kind="EXPRESS")
    r = sfn.start_sync_execution(stateMachineArn=arn, input=json.dumps({"items": [1, 2, 3]}))
    assert r["status"] == "SUCCEEDED" and json.loads(r["output"]) == [1, 2, 3]
    failing = machine(sfn, {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Nope", "Cause": "always"}}}, kind="EXPRESS")
    r = sfn.start_sync_execution(stateMachineArn=failing)
    assert r["status"] == "FAILED" and r["error"] == "Nope" and r["cause"] == "always"
    standard = machine(sfn, {"StartAt": "A", "States": {"A": {"Type": "Succeed"}}})
    with pytest.raises(ClientError) as e:
        sfn.start_sync_execution(stateMachineArn=standard)
    assert e.value.response["Error"]["Code"] == "StateMachineTypeNotSupported"
    # The CLI reads the data directory's config, which turns host prefixes off.
    out = nimbus.aws("stepfunctions", "start-sync-execution", "--state-machine-arn", arn, "--input", '{"items": ["x"]}')
    assert json.loads(json.loads(out.stdout)["output"]) == ["x"]


def test_test_state_runs_one_state(nimbus):
    sfn = nimbus.client("stepfunctions", config=Config(inject_host_prefix=False))
    r = sfn.test_state(
        definition=json.dumps({"Type": "Pass", "Parameters": {"sum.$": "States.MathAdd($.a, $.b)"}, "Next": "After"}),
        roleArn=ROLE, input=json.dumps({"a": 2, "b": 3}),
    )
    assert r["status"] == "SUCCEEDED" and json.loads(r["output"]) == {"sum": 5} and r["nextState"] == "After"
    r = sfn.test_state(definition=json.dumps({"Type": "Fail", "Error": "E", "Cause": "C"}), roleArn=ROLE)
    assert r["status"] == "FAILED" and r["error"] == "E"


def test_service_integrations_and_child_executions(nimbus):
    sfn = nimbus.client("stepfunctions")
    ddb = nimbus.client("dynamodb")
    sqs = nimbus.client("sqs")
    table = unique("orders")
    ddb.create_table(TableName=table, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    queue = sqs.create_queue(QueueName=unique("confirmations"))["QueueUrl"]
    child = machine(sfn, {"StartAt": "C", "States": {"C": {"Type": "Pass", "Parameters": {"child_saw.$": "$.id"}, "End": True}}})
    arn = machine(sfn, {
        "StartAt": "Save",
        "States": {
            "Save": {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:putItem",
                     "Parameters": {"TableName": table, "Item": {"pk": {"S.$": "$.id"}, "status": {"S": "NEW"}}},
                     "ResultPath": None, "Next": "Load"},
            "Load": {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:getItem",
                     "Parameters": {"TableName": table, "Key": {"pk": {"S.$": "$.id"}}},
                     "ResultSelector": {"status.$": "$.Item.status.S"}, "ResultPath": "$.loaded", "Next": "Conflict"},
            "Conflict": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:dynamodb:putItem",
                         "Parameters": {"TableName": table, "Item": {"pk": {"S.$": "$.id"}},
                                        "ConditionExpression": "attribute_not_exists(pk)"},
                         "Catch": [{"ErrorEquals": ["DynamoDB.ConditionalCheckFailedException"], "ResultPath": "$.conflict", "Next": "Notify"}],
                         "Next": "Notify"},
            "Notify": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage",
                       "Parameters": {"QueueUrl": queue, "MessageBody": {"order.$": "$.id"}},
                       "ResultSelector": {"id.$": "$.MessageId"}, "ResultPath": "$.message", "Next": "Child"},
            "Child": {"Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync:2",
                      "Parameters": {"StateMachineArn": child, "Input": {"id.$": "$.id"}},
                      "ResultSelector": {"output.$": "$.Output", "status.$": "$.Status"}, "ResultPath": "$.child", "End": True},
        },
    })
    d = wait_done(sfn, sfn.start_execution(stateMachineArn=arn, input='{"id": "o-9"}')["executionArn"])
    assert d["status"] == "SUCCEEDED", d
    out = json.loads(d["output"])
    assert out["loaded"] == {"status": "NEW"}
    assert out["conflict"]["Error"] == "DynamoDB.ConditionalCheckFailedException"
    assert out["child"] == {"output": {"child_saw": "o-9"}, "status": "SUCCEEDED"}
    assert ddb.get_item(TableName=table, Key={"pk": {"S": "o-9"}})["Item"]["status"] == {"S": "NEW"}
    msgs = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1)["Messages"]
    assert json.loads(msgs[0]["Body"]) == {"order": "o-9"} and msgs[0]["MessageId"] == out["message"]["id"]


def test_jsonata_workflow_with_variables(nimbus, fns):
    sfn = nimbus.client("stepfunctions")
    arn = machine(sfn, {
        "QueryLanguage": "JSONata",
        "StartAt": "Validate",
        "States": {
            "Validate": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Arguments": {"FunctionName": fns["validate"], "Payload": "{% $states.input %}"},
                "Assign": {"total": "{% $states.result.Payload.total %}", "customer": "{% $uppercase($states.input.name) %}"},
                "Output": "{% $states.input %}",
                "Catch": [{"ErrorEquals": ["ValidationError"], "Output": "{% $states.errorOutput %}", "Next": "Invalid"}],
                "Next": "Size",
            },
            "Size": {
                "Type": "Choice",
                "Choices": [{"Condition": "{% $total >= 10 %}", "Next": "Large", "Assign": {"size": "large"}}],
                "Default": "Large",
                "Assign": {"size": "small"},
            },
            "Large": {
                "Type": "Map",
                "Items": "{% $states.input.items %}",
                "ItemSelector": {"sku": "{% $states.context.Map.Item.Value.sku %}", "size": "{% $size %}"},
                "ItemProcessor": {"StartAt": "Echo", "States": {"Echo": {
                    "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                    "Arguments": {"FunctionName": fns["echo"], "Payload": "{% $states.input %}"},
                    "Output": "{% $states.result.Payload.sku & '/' & $states.result.Payload.size %}", "End": True}}},
                "Output": "{% {'customer': $customer, 'total': $total, 'lines': $states.result} %}",
                "End": True,
            },
            "Invalid": {"Type": "Fail", "Error": "{% 'Rejected.' & $states.input.Error %}", "Cause": "{% $states.input.Cause %}"},
        },
    })
    order = {"name": "ada", "items": [{"sku": "a", "price": 3}, {"sku": "b", "price": 8}]}
    d = wait_done(sfn, sfn.start_execution(stateMachineArn=arn, input=json.dumps(order))["executionArn"])
    assert d["status"] == "SUCCEEDED", d
    assert json.loads(d["output"]) == {"customer": "ADA", "total": 11, "lines": ["a/large", "b/large"]}
    bad = wait_done(sfn, sfn.start_execution(stateMachineArn=arn, input=json.dumps({"name": "x", "items": []}))["executionArn"])
    assert bad["status"] == "FAILED" and bad["error"] == "Rejected.ValidationError"
    with pytest.raises(ClientError) as e:
        sfn.create_state_machine(name=unique("bad"), roleArn=ROLE, definition=json.dumps(
            {"QueryLanguage": "JSONata", "StartAt": "A", "States": {"A": {"Type": "Pass", "Output": "{% $states.input. %}", "End": True}}}))
    assert e.value.response["Error"]["Code"] == "InvalidDefinition" and "is not valid" in e.value.response["Error"]["Message"]


def test_running_executions_continue_after_kill_9():
    with tempfile.TemporaryDirectory(prefix="nimbus-sfn-kill-") as d:
        n = Nimbus(d).start()
        try:
            sfn = n.client("stepfunctions")
            arn = machine(sfn, {
                "StartAt": "Before",
                "States": {
                    # In a Pass state, Assign's `$` is the state's result (here its Parameters).
                    "Before": {"Type": "Pass", "Parameters": {"n.$": "$.n", "before": "before"},
                               "Assign": {"mark.$": "States.Format('n={}', $.n)"}, "Next": "Wait"},
                    "Wait": {"Type": "Wait", "Seconds": 3, "Next": "After"},
                    "After": {"Type": "Pass", "Parameters": {"n.$": "$.n", "before.$": "$.before", "after": "after", "mark.$": "$mark"},
                              "End": True},
                },
            })
            waiting = sfn.start_execution(stateMachineArn=arn, input='{"n": 1}')["executionArn"]
            wait_for_event(sfn, waiting, "WaitStateEntered")
            entered = time.time()
            # Started and acknowledged just before the crash: must run too.
            queued = sfn.start_execution(stateMachineArn=arn, input='{"n": 2}')["executionArn"]
            n.stop(signal.SIGKILL)
            n = Nimbus(d).start()
            sfn = n.client("stepfunctions")
            for arn_, num in [(waiting, 1), (queued, 2)]:
                out = wait_done(sfn, arn_)
                assert out["status"] == "SUCCEEDED", out
                # The variable assigned before the crash is there after it.
                assert json.loads(out["output"]) == {"n": num, "before": "before", "after": "after", "mark": f"n={num}"}
            # The Wait was not restarted from zero, nor skipped.
            assert time.time() - entered >= 2.9
            types = [e["type"] for e in history(sfn, waiting)]
            assert types.count("ExecutionStarted") == 1 and types[-1] == "ExecutionSucceeded"
            assert types.count("PassStateExited") == 2
        finally:
            n.stop()


def test_finished_map_runs_and_their_children_outlive_a_restart():
    with tempfile.TemporaryDirectory(prefix="nimbus-sfn-maprun-") as d:
        n = Nimbus(d).start()
        try:
            sfn = n.client("stepfunctions")
            arn = machine(sfn, {"StartAt": "Each", "States": {"Each": {
                "Type": "Map", "ItemsPath": "$.items", "ItemBatcher": {"MaxItemsPerBatch": 2},
                "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                                  "StartAt": "Count", "States": {"Count": {"Type": "Pass", "Parameters": {
                                      "n.$": "States.ArrayLength($.Items)"}, "End": True}}},
                "End": True}}})
            ex = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"items": [1, 2, 3]}))["executionArn"]
            assert wait_done(sfn, ex)["status"] == "SUCCEEDED"
            [run] = sfn.list_map_runs(executionArn=ex)["mapRuns"]
            before = sfn.describe_map_run(mapRunArn=run["mapRunArn"])
            n.stop(signal.SIGKILL)
            n = Nimbus(d).start()
            sfn = n.client("stepfunctions")
            after = sfn.describe_map_run(mapRunArn=run["mapRunArn"])
            assert after["status"] == "SUCCEEDED" and after["itemCounts"] == before["itemCounts"]
            assert after["executionCounts"]["succeeded"] == 2 and after["stopDate"] == before["stopDate"]
            assert [r["mapRunArn"] for r in sfn.list_map_runs(executionArn=ex)["mapRuns"]] == [run["mapRunArn"]]
            kids = sfn.list_executions(mapRunArn=run["mapRunArn"])["executions"]
            assert sorted(k["itemCount"] for k in kids) == [1, 2]
            child = sfn.describe_execution(executionArn=kids[0]["executionArn"])
            assert child["status"] == "SUCCEEDED" and json.loads(child["output"])["n"] in (1, 2)
            # A STANDARD child's history is kept as an execution's.
            events = history(sfn, kids[0]["executionArn"])
            assert [e["type"] for e in events] == [
                "ExecutionStarted", "PassStateEntered", "PassStateExited", "ExecutionSucceeded"]
            assert events[0]["previousEventId"] == 0 and events[-1]["previousEventId"] == 3
        finally:
            n.stop()


def test_results_over_256_kib_end_the_execution_uncaught(nimbus):
    sfn = nimbus.client("stepfunctions")
    arn = machine(sfn, {"StartAt": "Double", "States": {
        "Double": {"Type": "Pass", "Parameters": {"a.$": "$.s", "b.$": "$.s"}, "End": True}}})
    done = wait_done(sfn, sfn.start_execution(stateMachineArn=arn, input=json.dumps({"s": "x" * 150_000}))["executionArn"])
    assert done["status"] == "FAILED" and done["error"] == "States.DataLimitExceeded"
    assert "'Double' returned a result with a size exceeding" in done["cause"]
    # Terminal: States.ALL does not catch it.
    caught = machine(sfn, {"StartAt": "P", "States": {
        "P": {"Type": "Parallel", "End": True,
              "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Handled"}],
              "Branches": [{"StartAt": "Double", "States": {
                  "Double": {"Type": "Pass", "Parameters": {"a.$": "$.s", "b.$": "$.s"}, "End": True}}}]},
        "Handled": {"Type": "Succeed"}}})
    done = wait_done(sfn, sfn.start_execution(stateMachineArn=caught, input=json.dumps({"s": "x" * 150_000}))["executionArn"])
    assert done["status"] == "FAILED" and done["error"] == "States.DataLimitExceeded"


def test_jsonpath_filter_expressions(nimbus):
    """Filters in paths (`[?(@.price < 10)]`) select as Step Functions does."""
    sfn = nimbus.client("stepfunctions", config=Config(inject_host_prefix=False))
    arn = machine(sfn, {"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {
        "cheap.$": "$.items[?(@.price < 10)].name",
        "either.$": "$.items[?(@.price > 100 || @.name == 'b')].name",
        "atLimit.$": "$.items[?(@.price >= $.limit)].name"}, "End": True}}}, kind="EXPRESS")
    out = sfn.start_sync_execution(stateMachineArn=arn, input=json.dumps({
        "limit": 10, "items": [{"name": "a", "price": 5}, {"name": "b", "price": 15}, {"name": "c", "price": 10}]}))
    assert out["status"] == "SUCCEEDED", out
    assert json.loads(out["output"]) == {"cheap": ["a"], "either": ["b"], "atLimit": ["b", "c"]}


def test_distributed_map_reads_batches_and_writes_results_in_s3(nimbus):
    """A distributed Map reads its items from S3 (a JSON array, a CSV file, a
    bucket's listing), runs batches as child executions, and writes the Map Run's
    results and manifest back to S3; the parent history records the Map Run."""
    sfn = nimbus.client("stepfunctions")
    s3 = nimbus.client("s3")
    bucket = unique("dmap").lower()
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="in/items.json", Body=json.dumps([{"n": i} for i in range(10)]))
    s3.put_object(Bucket=bucket, Key="in/rows.csv", Body="id,name\n1,ada\n2,grace\n")
    processor = {
        "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
        "StartAt": "Sum", "States": {"Sum": {"Type": "Pass", "Parameters": {
            "count.$": "States.ArrayLength($.Items)", "tag.$": "$.BatchInput.tag"}, "End": True}}}
    arn = machine(sfn, {"StartAt": "Each", "States": {"Each": {
        "Type": "Map", "Label": "batches",
        "ItemReader": {"Resource": "arn:aws:states:::s3:getObject", "ReaderConfig": {"InputType": "JSON"},
                       "Parameters": {"Bucket.$": "$.bucket", "Key": "in/items.json"}},
        "ItemBatcher": {"MaxItemsPerBatch": 4, "BatchInput": {"tag": "b"}},
        "ItemProcessor": processor,
        "ResultWriter": {"Resource": "arn:aws:states:::s3:putObject",
                         "Parameters": {"Bucket.$": "$.bucket", "Prefix": "out"}},
        "End": True}}})
    ex = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"bucket": bucket}))["executionArn"]
    done = wait_done(sfn, ex)
    assert done["status"] == "SUCCEEDED", done
    out = json.loads(done["output"])
    assert ":mapRun:" in out["MapRunArn"] and "/batches:" in out["MapRunArn"]
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=out["ResultWriterDetails"]["Key"])["Body"].read())
    assert manifest["MapRunArn"] == out["MapRunArn"] and manifest["ResultFiles"]["FAILED"] == []
    key = manifest["ResultFiles"]["SUCCEEDED"][0]["Key"]
    assert key.startswith("out/") and key.endswith("/SUCCEEDED_0.json")
    results = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    assert sorted(json.loads(r["Output"])["count"] for r in results) == [2, 4, 4]
    assert all(r["Status"] == "SUCCEEDED" and json.loads(r["Output"])["tag"] == "b" for r in results)
    kinds = [e["type"] for e in history(sfn, ex)]
    assert "MapRunStarted" in kinds and "MapRunSucceeded" in kinds and "MapIterationStarted" not in kinds
    # The Map Run APIs: its counts, its child executions, its settings.
    assert [r["mapRunArn"] for r in sfn.list_map_runs(executionArn=ex)["mapRuns"]] == [out["MapRunArn"]]
    run = sfn.describe_map_run(mapRunArn=out["MapRunArn"])
    assert run["status"] == "SUCCEEDED" and run["executionArn"] == ex
    assert (run["itemCounts"]["succeeded"], run["itemCounts"]["total"]) == (10, 10)
    assert (run["executionCounts"]["succeeded"], run["executionCounts"]["total"]) == (3, 3)
    kids = sfn.list_executions(mapRunArn=out["MapRunArn"])["executions"]
    assert len(kids) == 3 and all(k["status"] == "SUCCEEDED" and "/batches:" in k["executionArn"] for k in kids)
    assert all(k["mapRunArn"] == out["MapRunArn"] for k in kids) and sorted(k["itemCount"] for k in kids) == [2, 4, 4]
    # Each child execution is described with its input, output and Map Run.
    child = sfn.describe_execution(executionArn=kids[0]["executionArn"])
    assert child["status"] == "SUCCEEDED" and child["mapRunArn"] == out["MapRunArn"]
    assert json.loads(child["input"])["Items"] and json.loads(child["output"])["tag"] == "b"
    sfn.update_map_run(mapRunArn=out["MapRunArn"], maxConcurrency=5)
    assert sfn.describe_map_run(mapRunArn=out["MapRunArn"])["maxConcurrency"] == 5
    with pytest.raises(ClientError) as e:
        sfn.describe_map_run(mapRunArn=out["MapRunArn"] + "x")
    assert e.value.response["Error"]["Code"] == "ResourceNotFound"

    # CSV rows and a bucket's listing, results returned as the state's value.
    for reader, want in [
        ({"Resource": "arn:aws:states:::s3:getObject",
          "ReaderConfig": {"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW"},
          "Parameters": {"Bucket": bucket, "Key": "in/rows.csv"}}, ["ada", "grace"]),
        ({"Resource": "arn:aws:states:::s3:listObjectsV2", "Parameters": {"Bucket": bucket, "Prefix": "in/"}},
         ["in/items.json", "in/rows.csv"]),
    ]:
        field = "name" if "CSV" in json.dumps(reader) else "Key"
        arn = machine(sfn, {"StartAt": "Each", "States": {"Each": {
            "Type": "Map", "ItemReader": reader,
            "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
                              "StartAt": "P", "States": {"P": {"Type": "Pass", "InputPath": f"$.{field}", "End": True}}},
            "End": True}}})
        ex = sfn.start_execution(stateMachineArn=arn)["executionArn"]
        done = wait_done(sfn, ex)
        assert done["status"] == "SUCCEEDED", done
        assert json.loads(done["output"]) == want

    # A child's failure fails the Map Run beyond the tolerated count.
    arn = machine(sfn, {"StartAt": "Each", "States": {"Each": {
        "Type": "Map", "ItemsPath": "$.xs",
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                          "StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Boom", "Cause": "no"}}},
        "End": True}}})
    ex = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"xs": [1]}))["executionArn"]
    done = wait_done(sfn, ex)
    assert done["status"] == "FAILED" and done["error"] == "States.ExceedToleratedFailureThreshold"
    kinds = [e["type"] for e in history(sfn, ex)]
    assert kinds[kinds.index("MapStateEntered"):kinds.index("MapStateEntered") + 5] == [
        "MapStateEntered", "MapStateStarted", "MapRunStarted", "MapRunFailed", "MapStateFailed"]
    # Beyond either limit the Map Run fails: one failed item of four is within
    # 50 % but over a count of 0.
    arn = machine(sfn, {"StartAt": "Each", "States": {"Each": {
        "Type": "Map", "ItemsPath": "$.xs", "ToleratedFailureCount": 0, "ToleratedFailurePercentage": 50,
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
                          "StartAt": "C", "States": {
                              "C": {"Type": "Choice", "Choices": [{"Variable": "$", "NumericEquals": 1, "Next": "F"}],
                                    "Default": "S"},
                              "F": {"Type": "Fail", "Error": "One"}, "S": {"Type": "Succeed"}}},
        "End": True}}})
    ex = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"xs": [1, 2, 3, 4]}))["executionArn"]
    assert wait_done(sfn, ex)["error"] == "States.ExceedToleratedFailureThreshold"

    # Readers only in DISTRIBUTED mode, as Step Functions says.
    with pytest.raises(ClientError) as e:
        machine(sfn, {"StartAt": "Each", "States": {"Each": {
            "Type": "Map", "ItemReader": {"Resource": "arn:aws:states:::s3:listObjectsV2", "Parameters": {}},
            "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}, "End": True}}})
    assert e.value.response["Error"]["Code"] == "InvalidDefinition"


def test_tasks_call_s3_through_the_sdk_integration(nimbus):
    """`arn:aws:states:::aws-sdk:s3:putObject` / `getObject` as the machine's role."""
    sfn = nimbus.client("stepfunctions")
    s3 = nimbus.client("s3")
    bucket = unique("sdks3").lower()
    s3.create_bucket(Bucket=bucket)
    arn = machine(sfn, {"StartAt": "Put", "States": {
        "Put": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:s3:putObject",
                "Parameters": {"Bucket": bucket, "Key": "k.txt", "Body.$": "$.text"}, "ResultPath": None,
                "Next": "Get"},
        "Get": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:s3:getObject",
                "Parameters": {"Bucket": bucket, "Key": "k.txt"}, "ResultSelector": {"body.$": "$.Body"},
                "Next": "Missing"},
        "Missing": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:s3:getObject",
                    "Parameters": {"Bucket": bucket, "Key": "nope"},
                    "Catch": [{"ErrorEquals": ["S3.NoSuchKeyException"], "ResultPath": "$.err", "Next": "Done"}],
                    "Next": "Done"},
        "Done": {"Type": "Pass", "End": True}}})
    ex = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"text": "hello"}))["executionArn"]
    done = wait_done(sfn, ex)
    assert done["status"] == "SUCCEEDED", done
    out = json.loads(done["output"])
    assert out["body"] == "hello" and out["err"]["Error"] == "S3.NoSuchKeyException"
    assert s3.get_object(Bucket=bucket, Key="k.txt")["Body"].read() == b"hello"


def test_exited_events_tell_the_variables_a_state_assigned(nimbus):
    sfn = nimbus.client("stepfunctions")
    arn = machine(sfn, {"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Assign": {"x": 1, "who.$": "$.name"}, "Next": "B"},
        "B": {"Type": "Pass", "End": True}}})
    ex = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"name": "ada"}))["executionArn"]
    assert wait_done(sfn, ex)["status"] == "SUCCEEDED"
    exited = [e["stateExitedEventDetails"] for e in history(sfn, ex) if e["type"] == "PassStateExited"]
    assert exited[0]["assignedVariables"] == {"x": "1", "who": '"ada"'}
    assert exited[0]["assignedVariablesDetails"] == {"truncated": False}
    assert "assignedVariables" not in exited[1]


def test_update_map_run_changes_a_running_map_run(nimbus):
    """UpdateMapRun on a Map Run in progress: a higher MaxConcurrency starts the
    waiting children at once."""
    sfn = nimbus.client("stepfunctions")
    arn = machine(sfn, {"StartAt": "Each", "States": {"Each": {
        "Type": "Map", "MaxConcurrency": 1, "ItemsPath": "$.items",
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                          "StartAt": "Hold", "States": {"Hold": {"Type": "Wait", "Seconds": 600, "End": True}}},
        "End": True}}})
    ex = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"items": list(range(5))}))["executionArn"]

    def running_children():
        runs = sfn.list_map_runs(executionArn=ex)["mapRuns"]
        if not runs:
            return None
        kids = sfn.list_executions(mapRunArn=runs[0]["mapRunArn"], statusFilter="RUNNING")["executions"]
        return runs[0]["mapRunArn"], len(kids)

    run_arn, n = eventually("the first child running", lambda: (running_children() or (None, 0))[1] == 1
                            and running_children())
    assert n == 1, "MaxConcurrency 1: one child at a time"
    sfn.update_map_run(mapRunArn=run_arn, maxConcurrency=5)
    eventually("all five children running after UpdateMapRun",
               lambda: (running_children() or (None, 0))[1] == 5)
    assert sfn.describe_map_run(mapRunArn=run_arn)["maxConcurrency"] == 5
    sfn.stop_execution(executionArn=ex)
    eventually("the Map Run aborted with its execution",
               lambda: sfn.describe_map_run(mapRunArn=run_arn)["status"] == "ABORTED")
