"""SAM's `DeploymentPreference`: a new version of a function reaches its alias through a
CodeDeploy deployment (Nimbus's CodeDeploy API), after its `PreTraffic` hook reports
success; a canary gives the new version part of the traffic for its interval first; a hook
that reports failure fails the deployment, and the stack update rolls back with the alias
on its old version."""
import time

import pytest

from conftest import unique

FAST = {"Delay": 1, "MaxAttempts": 300}

TEMPLATE = """
Transform: AWS::Serverless-2016-10-31
Parameters:
  HookStatus:
    Type: String
    Default: Succeeded
Resources:
  Quick:
    Type: AWS::CodeDeploy::DeploymentConfig
    Properties:
      ComputePlatform: Lambda
      TrafficRoutingConfig:
        Type: TimeBasedCanary
        TimeBasedCanary: {CanaryPercentage: 50, CanaryInterval: 1}
  Greeter:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.11
      Handler: index.handler
      InlineCode: "def handler(e, c): return 'GREETING'"
      AutoPublishAlias: live
      DeploymentPreference:
        Type: DEPLOYMENT_TYPE
        Hooks:
          PreTraffic: !Ref PreTraffic
  PreTraffic:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: !Sub "CodeDeployHook_${AWS::StackName}"
      Runtime: python3.11
      Handler: index.handler
      Timeout: 30
      Environment:
        Variables:
          STATUS: !Ref HookStatus
      Policies:
        - Statement:
            - Effect: Allow
              Action: codedeploy:PutLifecycleEventHookExecutionStatus
              Resource: "*"
      InlineCode: |
        import os, boto3
        def handler(event, context):
            boto3.client("codedeploy").put_lifecycle_event_hook_execution_status(
                deploymentId=event["DeploymentId"],
                lifecycleEventHookExecutionId=event["LifecycleEventHookExecutionId"],
                status=os.environ["STATUS"])
Outputs:
  Alias:
    Value: !Ref GreeterAliaslive
"""


def template(greeting, kind="AllAtOnce"):
    return TEMPLATE.replace("GREETING", greeting).replace("DEPLOYMENT_TYPE", kind)


def settle(cfn, name, deadline_s=300):
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        s = cfn.describe_stacks(StackName=name)["Stacks"][0]
        if not s["StackStatus"].endswith("_IN_PROGRESS"):
            return s
        time.sleep(0.5)
    pytest.fail(f"stack {name} still in progress after {deadline_s}s")


def say(nimbus, alias):
    import json
    r = nimbus.client("lambda").invoke(FunctionName=alias, Payload=b"{}")
    return json.loads(r["Payload"].read())


@pytest.mark.xdist_group("slow-canary")
def test_deployment_preferences_shift_traffic_through_codedeploy(nimbus):
    cfn = nimbus.client("cloudformation")
    lam = nimbus.client("lambda")
    cd = nimbus.client("codedeploy")
    name = unique("canary")
    caps = ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND", "CAPABILITY_NAMED_IAM"]
    cfn.create_stack(StackName=name, TemplateBody=template("v1"), Capabilities=caps)
    s = settle(cfn, name)
    assert s["StackStatus"] == "CREATE_COMPLETE", s
    alias = {o["OutputKey"]: o["OutputValue"] for o in s["Outputs"]}["Alias"]
    assert say(nimbus, alias) == "v1"
    resources = {r["LogicalResourceId"]: r["PhysicalResourceId"]
                 for r in cfn.describe_stack_resources(StackName=name)["StackResources"]}
    app, group = resources["ServerlessDeploymentApplication"], resources["GreeterDeploymentGroup"]
    assert cd.get_deployment_group(applicationName=app, deploymentGroupName=group)[
        "deploymentGroupInfo"]["deploymentConfigName"] == "CodeDeployDefault.LambdaAllAtOnce"

    # All at once, after the hook says so.
    cfn.update_stack(StackName=name, TemplateBody=template("v2"), Capabilities=caps)
    s = settle(cfn, name)
    assert s["StackStatus"] == "UPDATE_COMPLETE", s
    assert say(nimbus, alias) == "v2"
    deployments = cd.list_deployments(applicationName=app, deploymentGroupName=group)["deployments"]
    info = cd.get_deployment(deploymentId=deployments[0])["deploymentInfo"]
    assert info["status"] == "Succeeded" and info["computePlatform"] == "Lambda"

    # A canary: half the traffic on the new version for a minute, then all of it.
    cfn.update_stack(StackName=name, TemplateBody=template("v3", "!Ref Quick"), Capabilities=caps)
    fn, alias_name = alias.split(":")[-2], alias.split(":")[-1]
    deadline = time.monotonic() + 120
    weights = {}
    while time.monotonic() < deadline and not weights:
        weights = lam.get_alias(FunctionName=fn, Name=alias_name).get(
            "RoutingConfig", {}).get("AdditionalVersionWeights", {})
        time.sleep(0.3)
    assert list(weights.values()) == [0.5], weights
    assert cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"] == "UPDATE_IN_PROGRESS"
    s = settle(cfn, name)
    assert s["StackStatus"] == "UPDATE_COMPLETE", s
    got = lam.get_alias(FunctionName=fn, Name=alias_name)
    assert not got.get("RoutingConfig", {}).get("AdditionalVersionWeights")
    assert say(nimbus, alias) == "v3"

    # A hook that reports failure: the deployment fails, the update rolls back.
    before = got["FunctionVersion"]
    cfn.update_stack(StackName=name, TemplateBody=template("v4"), Capabilities=caps,
                     Parameters=[{"ParameterKey": "HookStatus", "ParameterValue": "Failed"}])
    s = settle(cfn, name)
    assert s["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE", s
    reasons = " ".join(e.get("ResourceStatusReason", "")
                       for e in cfn.describe_stack_events(StackName=name)["StackEvents"])
    assert "CodeDeploy deployment" in reasons and "failed" in reasons, reasons
    assert lam.get_alias(FunctionName=fn, Name=alias_name)["FunctionVersion"] == before
    assert say(nimbus, alias) == "v3"

    cfn.delete_stack(StackName=name)
    cfn.get_waiter("stack_delete_complete").wait(StackName=name, WaiterConfig=FAST)
    assert app not in cd.list_applications()["applications"]


ALARMED = """
Transform: AWS::Serverless-2016-10-31
Parameters:
  Namespace:
    Type: String
Resources:
  Quick:
    Type: AWS::CodeDeploy::DeploymentConfig
    Properties:
      ComputePlatform: Lambda
      TrafficRoutingConfig:
        Type: TimeBasedCanary
        TimeBasedCanary: {CanaryPercentage: 50, CanaryInterval: 1}
  Errors:
    Type: AWS::CloudWatch::Alarm
    Properties:
      Namespace: !Ref Namespace
      MetricName: Errors
      Statistic: Sum
      Period: 60
      EvaluationPeriods: 1
      Threshold: 0
      ComparisonOperator: GreaterThanThreshold
      TreatMissingData: notBreaching
  Greeter:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.11
      Handler: index.handler
      InlineCode: "def handler(e, c): return 'GREETING'"
      AutoPublishAlias: live
      DeploymentPreference:
        Type: !Ref Quick
        Alarms:
          - !Ref Errors
Outputs:
  Alias:
    Value: !Ref GreeterAliaslive
  AlarmArn:
    Value: !GetAtt Errors.Arn
"""


@pytest.mark.xdist_group("slow-canary")
def test_an_alarm_stops_a_deployment_and_rolls_the_alias_back(nimbus):
    cfn, lam, cd, cw = (nimbus.client(s) for s in ("cloudformation", "lambda", "codedeploy", "cloudwatch"))
    name, ns = unique("alarmed"), unique("Greeter")
    caps = ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"]
    params = [{"ParameterKey": "Namespace", "ParameterValue": ns}]
    cfn.create_stack(StackName=name, TemplateBody=ALARMED.replace("GREETING", "v1"), Capabilities=caps,
                     Parameters=params)
    s = settle(cfn, name)
    assert s["StackStatus"] == "CREATE_COMPLETE", s
    outputs = {o["OutputKey"]: o["OutputValue"] for o in s["Outputs"]}
    alias = outputs["Alias"]
    alarm_name = outputs["AlarmArn"].rsplit(":", 1)[1]
    assert cw.describe_alarms(AlarmNames=[alarm_name])["MetricAlarms"][0]["MetricName"] == "Errors"
    fn, alias_name = alias.split(":")[-2], alias.split(":")[-1]
    before = lam.get_alias(FunctionName=fn, Name=alias_name)["FunctionVersion"]

    cfn.update_stack(StackName=name, TemplateBody=ALARMED.replace("GREETING", "v2"), Capabilities=caps,
                     Parameters=params)
    deadline, weights = time.monotonic() + 120, {}
    while time.monotonic() < deadline and not weights:
        weights = lam.get_alias(FunctionName=fn, Name=alias_name).get(
            "RoutingConfig", {}).get("AdditionalVersionWeights", {})
        time.sleep(0.3)
    assert list(weights.values()) == [0.5], weights
    # Errors during the canary: the alarm goes off and the deployment stops.
    cw.put_metric_data(Namespace=ns, MetricData=[{"MetricName": "Errors", "Value": 1}])
    s = settle(cfn, name)
    assert s["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE", s
    resources = {r["LogicalResourceId"]: r["PhysicalResourceId"]
                 for r in cfn.describe_stack_resources(StackName=name)["StackResources"]}
    deployments = cd.list_deployments(applicationName=resources["ServerlessDeploymentApplication"],
                                      deploymentGroupName=resources["GreeterDeploymentGroup"])["deployments"]
    info = cd.get_deployment(deploymentId=deployments[0])["deploymentInfo"]
    assert info["status"] == "Stopped" and info["errorInformation"]["code"] == "ALARM_ACTIVE", info
    assert alarm_name in info["errorInformation"]["message"]
    got = lam.get_alias(FunctionName=fn, Name=alias_name)
    assert got["FunctionVersion"] == before and not got.get("RoutingConfig", {}).get("AdditionalVersionWeights")
    assert say(nimbus, alias) == "v1"
    cfn.delete_stack(StackName=name)
    cfn.get_waiter("stack_delete_complete").wait(StackName=name, WaiterConfig=FAST)
    assert cw.describe_alarms(AlarmNames=[alarm_name])["MetricAlarms"] == []
