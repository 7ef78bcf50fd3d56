"""CloudFormation, driven by boto3: a YAML stack with a queue, a table, a role,
an inline Python function reading the table's name from `!Ref`, a permission
and outputs; its events and resources; a failing resource that rolls the stack
back leaving nothing behind; deletion; template errors as `ValidationError`;
buckets and bucket policies, made as the stack's creator."""
import json
import signal
import tempfile
import threading
import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import ROLE, Nimbus, swallow, unique

FAST = {"Delay": 1, "MaxAttempts": 90}

APP = """
AWSTemplateFormatVersion: '2010-09-09'
Description: a queue, a table and a function that reads the table's name
Parameters:
  Greeting:
    Type: String
    Default: hello
  Memory:
    Type: Number
    Default: 256
Resources:
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 45
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - {AttributeName: pk, AttributeType: S}
      KeySchema:
        - {AttributeName: pk, KeyType: HASH}
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: '2012-10-17'
        Statement:
          - Effect: Allow
            Principal: {Service: lambda.amazonaws.com}
            Action: sts:AssumeRole
      Policies:
        - PolicyName: table
          PolicyDocument:
            Version: '2012-10-17'
            Statement:
              - Effect: Allow
                Action: dynamodb:*
                Resource: !GetAtt Table.Arn
  Function:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: python3.12
      Handler: index.handler
      MemorySize: !Ref Memory
      Role: !GetAtt Role.Arn
      Environment:
        Variables:
          TABLE: !Ref Table
          GREETING: !Ref Greeting
          PORT: 8080
      Code:
        ZipFile: |
          import os
          def handler(event, context):
              return {"table": os.environ["TABLE"], "greeting": os.environ["GREETING"]}
  Version:
    Type: AWS::Lambda::Version
    Properties:
      FunctionName: !Ref Function
  Alias:
    Type: AWS::Lambda::Alias
    Properties:
      FunctionName: !Ref Function
      Name: live
      FunctionVersion: !GetAtt Version.Version
  Url:
    Type: AWS::Lambda::Url
    DependsOn: Alias
    Properties:
      TargetFunctionArn: !Ref Function
      Qualifier: live
      AuthType: AWS_IAM
  Permission:
    Type: AWS::Lambda::Permission
    Properties:
      FunctionName: !Ref Function
      Action: lambda:InvokeFunction
      Principal: sqs.amazonaws.com
      SourceArn: !GetAtt Queue.Arn
Outputs:
  QueueUrl:
    Value: !Ref Queue
  QueueArn:
    Value: !GetAtt Queue.Arn
  TableName:
    Value: !Ref Table
    Export:
      Name: !Sub '${AWS::StackName}-table'
  FunctionArn:
    Value: !GetAtt Function.Arn
  AliasArn:
    Value: !Ref Alias
  Url:
    Value: !GetAtt Url.FunctionUrl
"""


@pytest.fixture(scope="module")
def cfn(nimbus):
    return nimbus.client("cloudformation")


def outputs(stack):
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def test_stack_creates_resources_that_work_and_deletes_them(nimbus, cfn):
    name = unique("app")
    with pytest.raises(ClientError) as e:
        cfn.create_stack(StackName=name, TemplateBody=APP)
    assert e.value.response["Error"]["Code"] == "InsufficientCapabilitiesException"
    stack_id = cfn.create_stack(StackName=name, TemplateBody=APP, Capabilities=["CAPABILITY_IAM"],
                                Parameters=[{"ParameterKey": "Greeting", "ParameterValue": "hi"}],
                                Tags=[{"Key": "team", "Value": "a"}])["StackId"]
    assert stack_id.startswith(f"arn:aws:cloudformation:us-east-1:000000000000:stack/{name}/")
    cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=FAST)
    stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert stack["StackId"] == stack_id
    assert {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]} == {"Greeting": "hi", "Memory": "256"}
    assert stack["Tags"] == [{"Key": "team", "Value": "a"}]
    out = outputs(stack)
    table = out["TableName"]
    assert table.startswith(f"{name}-Table-")
    assert out["QueueArn"].startswith("arn:aws:sqs:us-east-1:000000000000:")
    assert cfn.list_exports()["Exports"][0]["Name"] in {f"{name}-table"} or any(
        x["Name"] == f"{name}-table" for x in cfn.list_exports()["Exports"])

    lam = nimbus.client("lambda")
    fn = cfn.describe_stack_resource(StackName=name, LogicalResourceId="Function")["StackResourceDetail"]
    assert fn["ResourceStatus"] == "CREATE_COMPLETE"
    resp = lam.invoke(FunctionName=fn["PhysicalResourceId"], Payload=b"{}")
    assert json.loads(resp["Payload"].read()) == {"table": table, "greeting": "hi"}
    config = lam.get_function_configuration(FunctionName=fn["PhysicalResourceId"])
    assert config["MemorySize"] == 256 and config["Environment"]["Variables"]["PORT"] == "8080"
    policy = json.loads(lam.get_policy(FunctionName=fn["PhysicalResourceId"])["Policy"])
    assert policy["Statement"][0]["Principal"] == {"Service": "sqs.amazonaws.com"}
    nimbus.client("dynamodb").describe_table(TableName=table)
    nimbus.client("sqs").get_queue_attributes(QueueUrl=out["QueueUrl"])

    resources = cfn.list_stack_resources(StackName=name)["StackResourceSummaries"]
    assert sorted(r["LogicalResourceId"] for r in resources) == [
        "Alias", "Function", "Permission", "Queue", "Role", "Table", "Url", "Version"]
    assert len(cfn.describe_stack_resources(StackName=name)["StackResources"]) == 8
    assert out["AliasArn"].endswith(f":function:{fn['PhysicalResourceId']}:live")
    assert out["Url"].startswith("http")
    live = lam.invoke(FunctionName=fn["PhysicalResourceId"], Qualifier="live", Payload=b"{}")
    assert json.loads(live["Payload"].read())["table"] == table
    events = cfn.describe_stack_events(StackName=name)["StackEvents"]
    assert events[0]["ResourceStatus"] == "CREATE_COMPLETE" and events[0]["LogicalResourceId"] == name
    assert events[-1]["ResourceStatus"] == "CREATE_IN_PROGRESS" and events[-1]["ResourceStatusReason"] == "User Initiated"
    fn_events = [e["ResourceStatus"] for e in reversed(events) if e["LogicalResourceId"] == "Function"]
    assert fn_events == ["CREATE_IN_PROGRESS", "CREATE_COMPLETE"]
    assert "Resources:" in cfn.get_template(StackName=name)["TemplateBody"]
    summary = cfn.get_template_summary(StackName=name)
    assert "AWS::Lambda::Function" in summary["ResourceTypes"]
    assert summary["Capabilities"] == ["CAPABILITY_IAM"]

    role = cfn.describe_stack_resource(StackName=name, LogicalResourceId="Role")["StackResourceDetail"]
    cfn.delete_stack(StackName=name)
    cfn.get_waiter("stack_delete_complete").wait(StackName=stack_id, WaiterConfig=FAST)
    with pytest.raises(ClientError) as e:
        cfn.describe_stacks(StackName=name)
    assert e.value.response["Error"]["Code"] == "ValidationError"
    assert e.value.response["Error"]["Message"] == f"Stack with id {name} does not exist"
    assert cfn.describe_stacks(StackName=stack_id)["Stacks"][0]["StackStatus"] == "DELETE_COMPLETE"
    with pytest.raises(ClientError):
        lam.get_function(FunctionName=fn["PhysicalResourceId"])
    with pytest.raises(ClientError):
        nimbus.client("dynamodb").describe_table(TableName=table)
    with pytest.raises(ClientError):
        nimbus.client("iam").get_role(RoleName=role["PhysicalResourceId"])
    listed = cfn.list_stacks(StackStatusFilter=["DELETE_COMPLETE"])["StackSummaries"]
    assert any(s["StackId"] == stack_id for s in listed)


FAILING = """
Resources:
  Queue:
    Type: AWS::SQS::Queue
  Kept:
    Type: AWS::SQS::Queue
    DeletionPolicy: Retain
  Broken:
    Type: AWS::Lambda::Function
    DependsOn: Queue
    Properties:
      Runtime: python3.12
      Handler: index.handler
      Role: arn:aws:iam::000000000000:role/no-such-role
      Code:
        ZipFile: "def handler(e, c): return 1"
"""


def test_a_failing_resource_rolls_the_stack_back(nimbus, cfn):
    name = unique("broken")
    cfn.create_stack(StackName=name, TemplateBody=FAILING)
    with pytest.raises(Exception):
        cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=FAST)
    stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    assert stack["StackStatusReason"].startswith("The following resource(s) failed to create: [Broken].")
    events = cfn.describe_stack_events(StackName=name)["StackEvents"]
    failed = next(e for e in events if e["ResourceStatus"] == "CREATE_FAILED")
    assert failed["LogicalResourceId"] == "Broken" and failed["ResourceStatusReason"]
    statuses = {r["LogicalResourceId"]: r["ResourceStatus"]
                for r in cfn.describe_stack_resources(StackName=name)["StackResources"]}
    assert statuses == {"Queue": "DELETE_COMPLETE", "Kept": "DELETE_SKIPPED", "Broken": "DELETE_COMPLETE"}
    queues = nimbus.client("sqs").list_queues(QueueNamePrefix=f"{name}-").get("QueueUrls", [])
    assert [q.rsplit("/", 1)[1].split("-")[-2] for q in queues] == ["Kept"]
    cfn.delete_stack(StackName=name)
    cfn.get_waiter("stack_delete_complete").wait(StackName=name, WaiterConfig=FAST)


def test_disable_rollback_keeps_what_was_made(nimbus, cfn):
    name = unique("kept")
    cfn.create_stack(StackName=name, TemplateBody=FAILING, DisableRollback=True)
    with pytest.raises(Exception):
        cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=FAST)
    stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_FAILED"
    assert cfn.describe_stack_resource(StackName=name, LogicalResourceId="Queue")[
        "StackResourceDetail"]["ResourceStatus"] == "CREATE_COMPLETE"
    cfn.delete_stack(StackName=name)
    cfn.get_waiter("stack_delete_complete").wait(StackName=name, WaiterConfig=FAST)
    assert not [q for q in nimbus.client("sqs").list_queues(QueueNamePrefix=f"{name}-Queue").get("QueueUrls", [])]


def test_unsupported_types_and_imports(cfn):
    name = unique("odd")
    cfn.create_stack(StackName=name, TemplateBody="Resources:\n  Vpc:\n    Type: AWS::EC2::VPC\n")
    with pytest.raises(Exception):
        cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=FAST)
    events = cfn.describe_stack_events(StackName=name)["StackEvents"]
    failed = next(e for e in events if e["ResourceStatus"] == "CREATE_FAILED")
    assert "AWS::EC2::VPC" in failed["ResourceStatusReason"]

    exporter, importer = unique("exp"), unique("imp")
    cfn.create_stack(StackName=exporter, TemplateBody=f"""
Resources:
  P:
    Type: AWS::SSM::Parameter
    Properties: {{Type: String, Value: shared}}
Outputs:
  Name:
    Value: !Ref P
    Export: {{Name: {exporter}-p}}
""")
    cfn.get_waiter("stack_create_complete").wait(StackName=exporter, WaiterConfig=FAST)
    cfn.create_stack(StackName=importer, TemplateBody=f"""
Resources:
  Q:
    Type: AWS::SQS::Queue
Outputs:
  Imported:
    Value: !ImportValue {exporter}-p
""")
    cfn.get_waiter("stack_create_complete").wait(StackName=importer, WaiterConfig=FAST)
    exported = next(x["Value"] for x in cfn.list_exports()["Exports"] if x["Name"] == f"{exporter}-p")
    assert outputs(cfn.describe_stacks(StackName=importer)["Stacks"][0]) == {"Imported": exported}
    cfn.delete_stack(StackName=exporter)
    with pytest.raises(Exception):
        cfn.get_waiter("stack_delete_complete").wait(StackName=exporter, WaiterConfig=FAST)
    stack = cfn.describe_stacks(StackName=exporter)["Stacks"][0]
    assert stack["StackStatus"] == "DELETE_FAILED"
    assert stack["StackStatusReason"] == f"Export {exporter}-p cannot be deleted as it is in use by {importer}"
    for s in (importer, exporter, name):
        cfn.delete_stack(StackName=s)
        cfn.get_waiter("stack_delete_complete").wait(StackName=s, WaiterConfig=FAST)


def test_template_errors_are_validation_errors(cfn):
    with pytest.raises(ClientError) as e:
        cfn.validate_template(TemplateBody="Resources:\n  A:\n    Type: AWS::SQS::Queue\n    Properties:\n      X: !Ref Nope\n")
    err = e.value.response["Error"]
    assert err["Code"] == "ValidationError"
    assert err["Message"] == "Template format error: Unresolved resource dependencies [Nope] in the Resources block of the template"
    ok = cfn.validate_template(TemplateBody=APP)
    assert ok["Parameters"] == [{"ParameterKey": "Greeting", "DefaultValue": "hello", "NoEcho": False},
                                {"ParameterKey": "Memory", "DefaultValue": "256", "NoEcho": False}]
    assert ok["Capabilities"] == ["CAPABILITY_IAM"]
    assert ok["CapabilitiesReason"] == "The following resource(s) require capabilities: [AWS::IAM::Role]"
    with pytest.raises(ClientError) as e:
        cfn.create_stack(StackName=unique("bad"), TemplateBody="Resources:\n  A:\n    Properties: {}\n")
    assert e.value.response["Error"]["Code"] == "ValidationError"
    with pytest.raises(ClientError) as e:
        cfn.describe_stacks(StackName="no-such-stack")
    assert e.value.response["Error"]["Message"] == "Stack with id no-such-stack does not exist"


def test_resources_are_made_as_the_stacks_creator(nimbus):
    """A user may create stacks and queues but not tables: the table fails with
    DynamoDB's refusal of that user, and the queue is rolled back."""
    iam = nimbus.client("iam")
    user = unique("deployer")
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["cloudformation:*", "sqs:*"], "Resource": "*"}]}))
    k = iam.create_access_key(UserName=user)["AccessKey"]
    session = boto3.Session(aws_access_key_id=k["AccessKeyId"], aws_secret_access_key=k["SecretAccessKey"],
                            region_name="us-east-1")
    cfn = session.client("cloudformation", endpoint_url=nimbus.endpoint, config=Config(retries={"max_attempts": 1}))
    name = unique("limited")
    cfn.create_stack(StackName=name, TemplateBody="""
Resources:
  Queue:
    Type: AWS::SQS::Queue
  Table:
    Type: AWS::DynamoDB::Table
    DependsOn: Queue
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
""")
    with pytest.raises(Exception):
        cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=FAST)
    assert cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"] == "ROLLBACK_COMPLETE"
    failed = next(e for e in cfn.describe_stack_events(StackName=name)["StackEvents"]
                  if e["ResourceStatus"] == "CREATE_FAILED")
    assert failed["LogicalResourceId"] == "Table"
    assert f"User: arn:aws:iam::000000000000:user/{user} is not authorized to perform: dynamodb:CreateTable" \
        in failed["ResourceStatusReason"]
    assert not nimbus.client("sqs").list_queues(QueueNamePrefix=f"{name}-").get("QueueUrls")

    iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "cloudformation:DescribeStacks", "Resource": "*"}]}))
    with pytest.raises(ClientError) as e:
        cfn.create_stack(StackName=unique("denied"), TemplateBody="Resources:\n  Q:\n    Type: AWS::SQS::Queue\n")
    assert e.value.response["Error"]["Code"] == "AccessDenied"
    assert "cloudformation:CreateStack" in e.value.response["Error"]["Message"]


def test_dynamic_references_ssm_parameters_and_generated_secrets(nimbus, cfn):
    ssm, sm = nimbus.client("ssm"), nimbus.client("secretsmanager")
    name = unique("dyn")
    ssm.put_parameter(Name=f"/{name}/size", Value="small", Type="String")
    sm.create_secret(Name=f"{name}-db", SecretString=json.dumps({"user": "admin"}))
    cfn.create_stack(StackName=name, Parameters=[{"ParameterKey": "Size", "ParameterValue": f"/{name}/size"}],
                     TemplateBody=f"""
Parameters:
  Size:
    Type: AWS::SSM::Parameter::Value<String>
Resources:
  Copy:
    Type: AWS::SSM::Parameter
    Properties:
      Type: String
      Value: '{{{{resolve:secretsmanager:{name}-db:SecretString:user}}}}-{{{{resolve:ssm:/{name}/size}}}}'
  Secret:
    Type: AWS::SecretsManager::Secret
    Properties:
      GenerateSecretString:
        SecretStringTemplate: '{{"user": "app"}}'
        GenerateStringKey: password
        PasswordLength: 20
Outputs:
  Size:
    Value: !Ref Size
  Copied:
    Value: !GetAtt Copy.Value
  SecretArn:
    Value: !Ref Secret
""")
    cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=FAST)
    out = outputs(cfn.describe_stacks(StackName=name)["Stacks"][0])
    assert out["Size"] == "small"
    assert out["Copied"] == "admin-small"
    secret = json.loads(sm.get_secret_value(SecretId=out["SecretArn"])["SecretString"])
    assert secret["user"] == "app" and len(secret["password"]) == 20
    cfn.delete_stack(StackName=name)
    cfn.get_waiter("stack_delete_complete").wait(StackName=name, WaiterConfig=FAST)
    with pytest.raises(ClientError):
        sm.describe_secret(SecretId=out["SecretArn"])


def resources_of(cfn, name):
    try:
        return cfn.describe_stack_resources(StackName=name)["StackResources"]
    except ClientError:
        return []


def test_a_deployment_survives_kill_9():
    """Killed mid-creation, the server takes the stack up again at start: the
    creation is failed and rolled back as its creator, leaving nothing behind,
    and the stack can be deleted."""
    chain = "\n".join(
        f"  Q{i}:\n    Type: AWS::SQS::Queue\n" + (f"    DependsOn: Q{i - 1}\n" if i else "")
        for i in range(40))
    with tempfile.TemporaryDirectory(prefix="nimbus-cfn-kill-") as d:
        n = Nimbus(d).start()
        cfn = n.client("cloudformation")
        name = unique("killed")
        # The answer waits a moment for a quick deployment: ask from another thread.
        threading.Thread(target=lambda: swallow(cfn.create_stack, StackName=name,
                                                TemplateBody="Resources:\n" + chain), daemon=True).start()
        watch = n.client("cloudformation")
        while len(resources_of(watch, name)) < 3:
            time.sleep(0.01)
        n.stop(signal.SIGKILL)
        n = Nimbus(d).start()
        try:
            cfn = n.client("cloudformation")
            deadline = time.time() + 60
            while time.time() < deadline:
                status = cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]
                if not status.endswith("_IN_PROGRESS"):
                    break
                time.sleep(0.2)
            assert status in ("ROLLBACK_COMPLETE", "CREATE_COMPLETE"), status
            resources = cfn.describe_stack_resources(StackName=name)["StackResources"]
            assert len(resources) >= 3
            if status == "ROLLBACK_COMPLETE":
                assert {r["ResourceStatus"] for r in resources} == {"DELETE_COMPLETE"}
            cfn.delete_stack(StackName=name)
            cfn.get_waiter("stack_delete_complete").wait(StackName=name, WaiterConfig=FAST)
            # Even the queue being made at the kill: its generated name was recorded first.
            assert not n.client("sqs").list_queues(QueueNamePrefix=f"{name}-").get("QueueUrls")
        finally:
            n.stop()


def test_templates_from_s3_urls(nimbus, cfn):
    s3 = nimbus.client("s3")
    bucket = unique("templates").lower()
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="dir/queue.yaml", Body=b"Resources:\n  Q:\n    Type: AWS::SQS::Queue\n")
    summary = cfn.get_template_summary(TemplateURL=f"https://{bucket}.s3.amazonaws.com/dir/queue.yaml")
    assert summary["ResourceTypes"] == ["AWS::SQS::Queue"]
    name = unique("fromurl")
    cfn.create_stack(StackName=name, TemplateURL=f"{nimbus.endpoint}/{bucket}/dir/queue.yaml")
    cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=FAST)
    assert "AWS::SQS::Queue" in cfn.get_template(StackName=name)["TemplateBody"]
    cfn.delete_stack(StackName=name)
    with pytest.raises(ClientError) as e:
        cfn.validate_template(TemplateURL=f"https://s3.amazonaws.com/{bucket}/missing.yaml")
    assert e.value.response["Error"]["Code"] == "ValidationError"
    assert e.value.response["Error"]["Message"] == \
        "TemplateURL must reference a valid S3 object to which you have access."


def test_state_machines_and_queue_policies(nimbus, cfn):
    name = unique("flow")
    cfn.create_stack(StackName=name, TemplateBody=f"""
Resources:
  Queue:
    Type: AWS::SQS::Queue
  QueuePolicy:
    Type: AWS::SQS::QueuePolicy
    Properties:
      Queues: [!Ref Queue]
      PolicyDocument:
        Version: '2012-10-17'
        Statement:
          - Effect: Allow
            Principal: {{Service: events.amazonaws.com}}
            Action: sqs:SendMessage
            Resource: !GetAtt Queue.Arn
  Machine:
    Type: AWS::StepFunctions::StateMachine
    Properties:
      RoleArn: {ROLE}
      DefinitionSubstitutions:
        Greeting: hello
      Definition:
        StartAt: Say
        States:
          Say: {{Type: Pass, Result: '${{Greeting}}', End: true}}
Outputs:
  Machine:
    Value: !Ref Machine
  QueueUrl:
    Value: !Ref Queue
""")
    cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=FAST)
    out = outputs(cfn.describe_stacks(StackName=name)["Stacks"][0])
    sfn, sqs = nimbus.client("stepfunctions"), nimbus.client("sqs")
    definition = json.loads(sfn.describe_state_machine(stateMachineArn=out["Machine"])["definition"])
    assert definition["States"]["Say"]["Result"] == "hello"
    policy = json.loads(sqs.get_queue_attributes(QueueUrl=out["QueueUrl"], AttributeNames=["Policy"])
                        ["Attributes"]["Policy"])
    assert policy["Statement"][0]["Action"] == "sqs:SendMessage"
    cfn.delete_stack(StackName=name)
    cfn.get_waiter("stack_delete_complete").wait(StackName=name, WaiterConfig=FAST)
    with pytest.raises(ClientError):
        sfn.describe_state_machine(stateMachineArn=out["Machine"])


def test_change_sets_create_new_stacks(nimbus, cfn):
    name = unique("cs")
    made = cfn.create_change_set(StackName=name, ChangeSetName="first", ChangeSetType="CREATE",
                                 TemplateBody="Resources:\n  Q:\n    Type: AWS::SQS::Queue\n")
    assert made["Id"].startswith("arn:aws:cloudformation:us-east-1:000000000000:changeSet/first/")
    cfn.get_waiter("change_set_create_complete").wait(StackName=name, ChangeSetName="first", WaiterConfig=FAST)
    assert cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"] == "REVIEW_IN_PROGRESS"
    described = cfn.describe_change_set(StackName=name, ChangeSetName="first")
    assert described["ExecutionStatus"] == "AVAILABLE"
    assert [c["ResourceChange"]["Action"] + " " + c["ResourceChange"]["LogicalResourceId"]
            for c in described["Changes"]] == ["Add Q"]
    assert [s["ChangeSetName"] for s in cfn.list_change_sets(StackName=name)["Summaries"]] == ["first"]
    cfn.execute_change_set(ChangeSetName=made["Id"])
    cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=FAST)
    assert cfn.describe_change_set(ChangeSetName=made["Id"])["ExecutionStatus"] == "EXECUTE_COMPLETE"
    with pytest.raises(ClientError) as e:
        cfn.execute_change_set(ChangeSetName=made["Id"])
    assert e.value.response["Error"]["Code"] == "InvalidChangeSetStatus"
    with pytest.raises(ClientError) as e:
        cfn.describe_change_set(StackName=name, ChangeSetName="nope")
    assert e.value.response["Error"]["Code"] == "ChangeSetNotFound"
    cfn.delete_stack(StackName=name)
    cfn.get_waiter("stack_delete_complete").wait(StackName=name, WaiterConfig=FAST)


def test_aws_cloudformation_deploy_makes_a_new_stack(nimbus, tmp_path):
    name = unique("deployed")
    template = tmp_path / "template.yaml"
    template.write_text(APP)
    res = nimbus.aws("cloudformation", "deploy", "--template-file", str(template), "--stack-name", name,
                     "--capabilities", "CAPABILITY_IAM", "--parameter-overrides", "Greeting=yo")
    assert "Successfully created/updated stack" in res.stdout, res.stdout + res.stderr
    cfn = nimbus.client("cloudformation")
    stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    fn = outputs(stack)["FunctionArn"]
    resp = nimbus.client("lambda").invoke(FunctionName=fn, Payload=b"{}")
    assert json.loads(resp["Payload"].read())["greeting"] == "yo"
    again = nimbus.aws("cloudformation", "deploy", "--template-file", str(template), "--stack-name", name,
                       "--capabilities", "CAPABILITY_IAM", "--parameter-overrides", "Greeting=yo",
                       "--no-fail-on-empty-changeset")
    assert "No changes to deploy" in again.stdout, again.stdout + again.stderr
    changed = nimbus.aws("cloudformation", "deploy", "--template-file", str(template), "--stack-name", name,
                         "--capabilities", "CAPABILITY_IAM", "--parameter-overrides", "Greeting=hey", check=False)
    assert "Successfully created/updated stack" in changed.stdout, changed.stdout + changed.stderr
    stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    assert stack["StackStatus"] == "UPDATE_COMPLETE"
    # Updated in place: the same function, with the new environment.
    assert outputs(stack)["FunctionArn"] == fn
    resp = nimbus.client("lambda").invoke(FunctionName=fn, Payload=b"{}")
    assert json.loads(resp["Payload"].read())["greeting"] == "hey"
    cfn.delete_stack(StackName=name)
    cfn.get_waiter("stack_delete_complete").wait(StackName=name, WaiterConfig=FAST)


def test_buckets_and_bucket_policies(nimbus, cfn):
    name = unique("site")
    bucket = name.lower()
    cfn.create_stack(StackName=name, TemplateBody=f"""
Resources:
  Site:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: {bucket}
      CorsConfiguration:
        CorsRules: [{{AllowedMethods: [GET], AllowedOrigins: ['*'], MaxAge: 60}}]
      PublicAccessBlockConfiguration:
        BlockPublicAcls: true
        BlockPublicPolicy: true
        IgnorePublicAcls: true
        RestrictPublicBuckets: true
      OwnershipControls:
        Rules: [{{ObjectOwnership: BucketOwnerEnforced}}]
      ObjectLockEnabled: true
      ObjectLockConfiguration:
        ObjectLockEnabled: Enabled
        Rule: {{DefaultRetention: {{Mode: GOVERNANCE, Days: 1}}}}
  Policy:
    Type: AWS::S3::BucketPolicy
    Properties:
      Bucket: !Ref Site
      PolicyDocument:
        Version: '2012-10-17'
        Statement:
          - Effect: Allow
            Principal: {{AWS: arn:aws:iam::000000000000:root}}
            Action: s3:GetObject
            Resource: !Sub '${{Site.Arn}}/*'
Outputs:
  Domain:
    Value: !GetAtt Site.RegionalDomainName
  Website:
    Value: !GetAtt Site.WebsiteURL
""")
    cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=FAST)
    assert outputs(cfn.describe_stacks(StackName=name)["Stacks"][0]) == {
        "Domain": f"{bucket}.s3.us-east-1.amazonaws.com",
        "Website": f"http://{bucket}.s3-website-us-east-1.amazonaws.com",
    }
    s3 = nimbus.client("s3")
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    assert policy["Statement"][0]["Resource"] == f"arn:aws:s3:::{bucket}/*"
    assert s3.get_bucket_cors(Bucket=bucket)["CORSRules"][0]["MaxAgeSeconds"] == 60
    assert s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]["BlockPublicPolicy"]
    rules = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"]
    assert rules == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    lock = s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
    assert lock["Rule"]["DefaultRetention"] == {"Mode": "GOVERNANCE", "Days": 1}
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    cfn.delete_stack(StackName=name)
    cfn.get_waiter("stack_delete_complete").wait(StackName=name, WaiterConfig=FAST)
    assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_bucket_calls_are_made_as_the_stacks_creator(nimbus):
    """A user who may create buckets but not set their policies: the policy
    fails with S3's refusal of that user, and the bucket is rolled back."""
    iam = nimbus.client("iam")
    user = unique("bucketeer")
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["cloudformation:*", "s3:CreateBucket", "s3:DeleteBucket"],
             "Resource": "*"}]}))
    k = iam.create_access_key(UserName=user)["AccessKey"]
    session = boto3.Session(aws_access_key_id=k["AccessKeyId"], aws_secret_access_key=k["SecretAccessKey"],
                            region_name="us-east-1")
    cfn = session.client("cloudformation", endpoint_url=nimbus.endpoint, config=Config(retries={"max_attempts": 1}))
    name = unique("limited")
    cfn.create_stack(StackName=name, TemplateBody="""
Resources:
  Box:
    Type: AWS::S3::Bucket
  Policy:
    Type: AWS::S3::BucketPolicy
    Properties:
      Bucket: !Ref Box
      PolicyDocument: {Version: '2012-10-17', Statement: []}
""")
    with pytest.raises(Exception):
        cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=FAST)
    assert cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"] == "ROLLBACK_COMPLETE"
    events = cfn.describe_stack_events(StackName=name)["StackEvents"]
    failed = next(e for e in events if e["ResourceStatus"] == "CREATE_FAILED")
    assert failed["LogicalResourceId"] == "Policy"
    assert f"User: arn:aws:iam::000000000000:user/{user} is not authorized to perform: s3:PutBucketPolicy" \
        in failed["ResourceStatusReason"]
    made = next(e["PhysicalResourceId"] for e in events
                if e["LogicalResourceId"] == "Box" and e["ResourceStatus"] == "CREATE_COMPLETE")
    assert made not in [b["Name"] for b in nimbus.client("s3").list_buckets()["Buckets"]]


VPC_AND_KEY = """
Resources:
  Vpc:
    Type: AWS::EC2::VPC
    Properties: {CidrBlock: 10.0.0.0/16}
  Subnet:
    Type: AWS::EC2::Subnet
    Properties: {VpcId: !Ref Vpc, CidrBlock: 10.0.1.0/24}
  Group:
    Type: AWS::EC2::SecurityGroup
    Properties: {GroupDescription: functions, VpcId: !Ref Vpc}
  Key:
    Type: AWS::KMS::Key
    Properties:
      Description: the app's key
      PendingWindowInDays: 7
  KeyAlias:
    Type: AWS::KMS::Alias
    Properties:
      AliasName: !Sub alias/${AWS::StackName}
      TargetKeyId: !Ref Key
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Statement:
          - {Effect: Allow, Principal: {Service: lambda.amazonaws.com}, Action: sts:AssumeRole}
  Fn:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: python3.11
      Handler: index.handler
      Role: !GetAtt Role.Arn
      Code: {ZipFile: "def handler(e, c): return 'in a vpc'"}
      VpcConfig:
        SubnetIds: [!Ref Subnet]
        SecurityGroupIds: [!GetAtt Group.GroupId]
Outputs:
  Fn: {Value: !Ref Fn}
  Key: {Value: !GetAtt Key.Arn}
  Subnet: {Value: !Ref Subnet}
"""


def test_vpc_placeholders_and_kms_keys(nimbus, cfn):
    name = unique("vpc")
    cfn.create_stack(StackName=name, TemplateBody=VPC_AND_KEY, Capabilities=["CAPABILITY_IAM"])
    cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=FAST)
    out = outputs(cfn.describe_stacks(StackName=name)["Stacks"][0])
    assert out["Subnet"].startswith("subnet-")
    resp = nimbus.client("lambda").invoke(FunctionName=out["Fn"], Payload=b"{}")
    assert json.loads(resp["Payload"].read()) == "in a vpc"
    notes = [e.get("ResourceStatusReason", "") for e in cfn.describe_stack_events(StackName=name)["StackEvents"]
             if e["LogicalResourceId"] == "Vpc" and e["ResourceStatus"] == "CREATE_COMPLETE"]
    assert "placeholder" in notes[0]
    kms = nimbus.client("kms")
    blob = kms.encrypt(KeyId=f"alias/{name}", Plaintext=b"secret")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"secret"
    cfn.delete_stack(StackName=name)
    cfn.get_waiter("stack_delete_complete").wait(StackName=name, WaiterConfig=FAST)
    assert kms.describe_key(KeyId=out["Key"])["KeyMetadata"]["KeyState"] == "PendingDeletion"
    # A VPC no function's VpcConfig needs is refused, naming the type.
    lone = unique("lone-vpc")
    cfn.create_stack(StackName=lone, TemplateBody="Resources:\n  V:\n    Type: AWS::EC2::VPC\n")
    deadline = time.time() + 90
    while time.time() < deadline:
        status = cfn.describe_stacks(StackName=lone)["Stacks"][0]["StackStatus"]
        if not status.endswith("_IN_PROGRESS"):
            break
        time.sleep(0.3)
    assert status == "ROLLBACK_COMPLETE"
