"""Stack updates: `nimbus deploy` and `UpdateStack` move a stack to a new template, updating
resources in place where AWS does, replacing them where AWS does (a table's new key schema),
deleting what the template dropped; a failing update rolls back to the stack it was; an
update killed with the server is rolled back at restart."""
import json
import signal
import subprocess
import tempfile
import textwrap
import threading
import time

import pytest
from botocore.exceptions import ClientError

from conftest import eventually, NIMBUS, Nimbus, swallow, unique

FAST = {"Delay": 1, "MaxAttempts": 180}

TEMPLATE = """
Transform: AWS::Serverless-2016-10-31
Parameters:
  Key:
    Type: String
    Default: pk
Resources:
  Items:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: !Ref Key, AttributeType: S}]
      KeySchema: [{AttributeName: !Ref Key, KeyType: HASH}]
  Greeter:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.handler
      Runtime: python3.11
      Environment:
        Variables:
          TABLE: !Ref Items
      Policies:
        - DynamoDBReadPolicy:
            TableName: !Ref Items
%(extra)s
Outputs:
  Fn:
    Value: !Ref Greeter
  Table:
    Value: !Ref Items
"""

QUEUE = """
  Jobs:
    Type: AWS::SQS::Queue
"""


def app(folder, greeting, extra=""):
    (folder / "src").mkdir(exist_ok=True)
    (folder / "src" / "app.py").write_text(textwrap.dedent(f'''
        import os
        def handler(event, context):
            return {{"greeting": "{greeting}", "table": os.environ["TABLE"]}}
    '''))
    (folder / "template.yaml").write_text(TEMPLATE % {"extra": extra})


def deploy(nimbus, folder, stack, *extra):
    return subprocess.run([NIMBUS, "deploy", "-t", str(folder / "template.yaml"), "--stack-name", stack,
                           "--data-dir", str(nimbus.data_dir), "--no-confirm", *extra],
                          capture_output=True, text=True, timeout=600)


def outputs(cfn, stack):
    s = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    return s["StackStatus"], {o["OutputKey"]: o["OutputValue"] for o in s.get("Outputs", [])}


def greet(nimbus, fn):
    r = nimbus.client("lambda").invoke(FunctionName=fn, Payload=b"{}")
    assert r.get("FunctionError") is None, r["Payload"].read()
    return json.loads(r["Payload"].read())


def test_redeploys_update_in_place_add_replace_and_remove(nimbus, tmp_path):
    stack = unique("upd")
    cfn = nimbus.client("cloudformation")
    app(tmp_path, "hello")
    out = deploy(nimbus, tmp_path, stack)
    assert out.returncode == 0, out.stdout + out.stderr
    status, first = outputs(cfn, stack)
    assert status == "CREATE_COMPLETE"
    assert greet(nimbus, first["Fn"]) == {"greeting": "hello", "table": first["Table"]}

    # Nothing changed: nothing to do.
    again = deploy(nimbus, tmp_path, stack)
    assert again.returncode == 0 and "No changes to deploy" in again.stdout, again.stdout + again.stderr

    # New code and a new queue: the function is updated in place, the queue added.
    app(tmp_path, "hi", QUEUE)
    out = deploy(nimbus, tmp_path, stack)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "* Modify" in out.stdout and "+ Add" in out.stdout and "Jobs" in out.stdout
    status, second = outputs(cfn, stack)
    assert status == "UPDATE_COMPLETE"
    assert second["Fn"] == first["Fn"]
    assert greet(nimbus, second["Fn"])["greeting"] == "hi"
    queue = cfn.describe_stack_resource(StackName=stack, LogicalResourceId="Jobs")
    url = queue["StackResourceDetail"]["PhysicalResourceId"]
    nimbus.client("sqs").get_queue_attributes(QueueUrl=url)

    # A new key schema replaces the table (the function follows it); the queue goes.
    app(tmp_path, "hi")
    out = deploy(nimbus, tmp_path, stack, "--parameter-overrides", "Key=id")
    assert out.returncode == 0, out.stdout + out.stderr
    status, third = outputs(cfn, stack)
    assert status == "UPDATE_COMPLETE"
    assert third["Table"] != first["Table"]
    assert greet(nimbus, third["Fn"])["table"] == third["Table"]
    ddb = nimbus.client("dynamodb")
    key = ddb.describe_table(TableName=third["Table"])["Table"]["KeySchema"]
    assert key == [{"AttributeName": "id", "KeyType": "HASH"}]
    with pytest.raises(ClientError):
        ddb.describe_table(TableName=first["Table"])
    with pytest.raises(ClientError):
        nimbus.client("sqs").get_queue_attributes(QueueUrl=url)
    statuses = [e["ResourceStatus"] for e in cfn.describe_stack_events(StackName=stack)["StackEvents"]
                if e["LogicalResourceId"] == stack]
    assert statuses[:3] == ["UPDATE_COMPLETE", "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "UPDATE_IN_PROGRESS"]
    cfn.delete_stack(StackName=stack)
    cfn.get_waiter("stack_delete_complete").wait(StackName=stack, WaiterConfig=FAST)


BROKEN = """
  Broken:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: python3.11
      Handler: index.handler
      Role: arn:aws:iam::000000000000:role/no-such-role
      Code: {ZipFile: "def handler(e, c): return 1"}
"""


def test_a_failing_update_rolls_back_to_the_stack_it_was(nimbus, tmp_path):
    stack = unique("rb")
    cfn = nimbus.client("cloudformation")
    app(tmp_path, "hello")
    out = deploy(nimbus, tmp_path, stack)
    assert out.returncode == 0, out.stdout + out.stderr
    _, before = outputs(cfn, stack)
    # The code changes and a queue is added, but one resource fails.
    app(tmp_path, "changed", QUEUE + BROKEN)
    out = deploy(nimbus, tmp_path, stack)
    assert out.returncode != 0
    assert "UPDATE_ROLLBACK_COMPLETE" in out.stdout + out.stderr
    assert "Broken:" in out.stderr
    status, after = outputs(cfn, stack)
    assert status == "UPDATE_ROLLBACK_COMPLETE"
    assert after == before
    # The function's code is the old one again; the queue made for the update is gone.
    assert greet(nimbus, before["Fn"])["greeting"] == "hello"
    ids = {r["LogicalResourceId"] for r in cfn.describe_stack_resources(StackName=stack)["StackResources"]}
    assert "Jobs" not in ids and "Broken" not in ids
    assert not nimbus.client("sqs").list_queues(QueueNamePrefix=f"{stack}-Jobs").get("QueueUrls")
    # The stack can be updated again after a rollback.
    app(tmp_path, "fixed", QUEUE)
    out = deploy(nimbus, tmp_path, stack)
    assert out.returncode == 0, out.stdout + out.stderr
    assert greet(nimbus, before["Fn"])["greeting"] == "fixed"
    cfn.delete_stack(StackName=stack)
    cfn.get_waiter("stack_delete_complete").wait(StackName=stack, WaiterConfig=FAST)


def test_update_stack_and_change_sets_of_type_update(nimbus):
    cfn = nimbus.client("cloudformation")
    stack = unique("cs-upd")
    body = "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n      VisibilityTimeout: 40\n"
    cfn.create_stack(StackName=stack, TemplateBody=body)
    cfn.get_waiter("stack_create_complete").wait(StackName=stack, WaiterConfig=FAST)
    with pytest.raises(ClientError) as e:
        cfn.update_stack(StackName=stack, UsePreviousTemplate=True)
    assert e.value.response["Error"]["Message"] == "No updates are to be performed."
    changed = body.replace("40", "50") + "  R:\n    Type: AWS::SQS::Queue\n"
    cfn.create_change_set(StackName=stack, ChangeSetName="two", TemplateBody=changed)
    cfn.get_waiter("change_set_create_complete").wait(StackName=stack, ChangeSetName="two", WaiterConfig=FAST)
    changes = {c["ResourceChange"]["LogicalResourceId"]: c["ResourceChange"]
               for c in cfn.describe_change_set(StackName=stack, ChangeSetName="two")["Changes"]}
    assert changes["Q"]["Action"] == "Modify" and changes["Q"]["Replacement"] == "False"
    assert changes["R"]["Action"] == "Add"
    # Describing changes nothing.
    assert cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    cfn.execute_change_set(StackName=stack, ChangeSetName="two")
    cfn.get_waiter("stack_update_complete").wait(StackName=stack, WaiterConfig=FAST)
    url = cfn.describe_stack_resource(StackName=stack, LogicalResourceId="Q")["StackResourceDetail"][
        "PhysicalResourceId"]
    attrs = nimbus.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])
    assert attrs["Attributes"]["VisibilityTimeout"] == "50"
    # A named resource that would need replacing is refused, and the update rolled back.
    named = "Resources:\n  T:\n    Type: AWS::DynamoDB::Table\n    Properties:\n      TableName: %s\n" \
            "      BillingMode: PAY_PER_REQUEST\n      AttributeDefinitions: [{AttributeName: %s, AttributeType: S}]\n" \
            "      KeySchema: [{AttributeName: %s, KeyType: HASH}]\n"
    table = unique("named")
    cfn.update_stack(StackName=stack, TemplateBody=named % (table, "a", "a"))
    cfn.get_waiter("stack_update_complete").wait(StackName=stack, WaiterConfig=FAST)
    cfn.update_stack(StackName=stack, TemplateBody=named % (table, "b", "b"))
    deadline = time.time() + 120
    while time.time() < deadline:
        s = cfn.describe_stacks(StackName=stack)["Stacks"][0]
        if not s["StackStatus"].endswith("_IN_PROGRESS"):
            break
        time.sleep(0.3)
    assert s["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    reasons = [e.get("ResourceStatusReason", "") for e in cfn.describe_stack_events(StackName=stack)["StackEvents"]]
    assert any("custom-named resource requires replacing" in r for r in reasons), reasons
    # A resource may not change type.
    with pytest.raises(ClientError) as e:
        cfn.update_stack(StackName=stack, TemplateBody="Resources:\n  T:\n    Type: AWS::SQS::Queue\n")
    assert "Update of resource type is not permitted" in e.value.response["Error"]["Message"]
    # With DisableRollback the failed update stays UPDATE_FAILED until RollbackStack.
    cfn.update_stack(StackName=stack, TemplateBody=named % (table, "c", "c"), DisableRollback=True)
    settled = eventually("the update to fail", lambda: (
        st := cfn.describe_stacks(StackName=stack)["Stacks"][0])["StackStatus"] != "UPDATE_IN_PROGRESS" and st)
    assert settled["StackStatus"] == "UPDATE_FAILED" and settled["DisableRollback"]
    cfn.rollback_stack(StackName=stack)
    cfn.get_waiter("stack_rollback_complete").wait(StackName=stack, WaiterConfig=FAST)
    assert cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    # Tags alone are an update.
    cfn.update_stack(StackName=stack, UsePreviousTemplate=True, Tags=[{"Key": "team", "Value": "orders"}])
    cfn.get_waiter("stack_update_complete").wait(StackName=stack, WaiterConfig=FAST)
    assert cfn.describe_stacks(StackName=stack)["Stacks"][0]["Tags"] == [{"Key": "team", "Value": "orders"}]
    cfn.delete_stack(StackName=stack)
    cfn.get_waiter("stack_delete_complete").wait(StackName=stack, WaiterConfig=FAST)


def test_an_update_killed_with_the_server_is_rolled_back_at_restart():
    chain = "\n".join(
        f"  Q{i}:\n    Type: AWS::SQS::Queue\n" + (f"    DependsOn: Q{i - 1}\n" if i else "")
        for i in range(40))
    first = "Resources:\n  Keep:\n    Type: AWS::SQS::Queue\n    Properties:\n      VisibilityTimeout: 40\n"
    with tempfile.TemporaryDirectory(prefix="nimbus-upd-kill-") as d:
        n = Nimbus(d).start()
        cfn = n.client("cloudformation")
        name = unique("killed-upd")
        cfn.create_stack(StackName=name, TemplateBody=first)
        cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=FAST)
        # The answer waits a moment for a quick update: ask from another thread.
        threading.Thread(target=lambda: swallow(cfn.update_stack, StackName=name,
                                                TemplateBody=first.replace("40", "50") + chain),
                         daemon=True).start()
        watch = n.client("cloudformation")
        while len(watch.describe_stack_resources(StackName=name)["StackResources"]) < 4:
            time.sleep(0.01)
        n.stop(signal.SIGKILL)
        n = Nimbus(d).start()
        try:
            cfn = n.client("cloudformation")
            deadline = time.time() + 120
            while time.time() < deadline:
                status = cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]
                if not status.endswith("_IN_PROGRESS"):
                    break
                time.sleep(0.2)
            assert status in ("UPDATE_ROLLBACK_COMPLETE", "UPDATE_COMPLETE"), status
            resources = cfn.describe_stack_resources(StackName=name)["StackResources"]
            sqs = n.client("sqs")
            keep = [r for r in resources if r["LogicalResourceId"] == "Keep"][0]["PhysicalResourceId"]
            timeout = sqs.get_queue_attributes(QueueUrl=keep, AttributeNames=["VisibilityTimeout"])
            if status == "UPDATE_ROLLBACK_COMPLETE":
                assert [r["LogicalResourceId"] for r in resources] == ["Keep"]
                assert timeout["Attributes"]["VisibilityTimeout"] == "40"
                assert not sqs.list_queues(QueueNamePrefix=f"{name}-Q").get("QueueUrls")
            else:
                assert len(resources) == 41
            cfn.delete_stack(StackName=name)
            cfn.get_waiter("stack_delete_complete").wait(StackName=name, WaiterConfig=FAST)
            assert not sqs.list_queues(QueueNamePrefix=f"{name}-").get("QueueUrls")
        finally:
            n.stop()


def test_resource_tags_change_in_place(nimbus):
    cfn, sqs, sns = nimbus.client("cloudformation"), nimbus.client("sqs"), nimbus.client("sns")
    stack = unique("retag")
    body = ("Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n      Tags: [%s]\n"
            "  T:\n    Type: AWS::SNS::Topic\n    Properties:\n      Tags: [%s]\n")
    cfn.create_stack(StackName=stack, TemplateBody=body % ("{Key: team, Value: a}, {Key: old, Value: x}",
                                                           "{Key: team, Value: a}"))
    cfn.get_waiter("stack_create_complete").wait(StackName=stack, WaiterConfig=FAST)
    ids = lambda: {r["LogicalResourceId"]: r["PhysicalResourceId"]
                   for r in cfn.describe_stack_resources(StackName=stack)["StackResources"]}
    before = ids()
    cfn.update_stack(StackName=stack, TemplateBody=body % ("{Key: team, Value: b}", "{Key: team, Value: b}"))
    cfn.get_waiter("stack_update_complete").wait(StackName=stack, WaiterConfig=FAST)
    assert ids() == before, "tags change in place"
    assert sqs.list_queue_tags(QueueUrl=before["Q"])["Tags"] == {"team": "b"}
    assert sns.list_tags_for_resource(ResourceArn=before["T"])["Tags"] == [{"Key": "team", "Value": "b"}]
    cfn.delete_stack(StackName=stack)
    cfn.get_waiter("stack_delete_complete").wait(StackName=stack, WaiterConfig=FAST)
