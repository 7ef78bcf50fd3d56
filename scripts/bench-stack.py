#!/usr/bin/env python3
"""Time a CloudFormation stack of N resources from CreateStack to CREATE_COMPLETE, an
unchanged redeploy through a change set (what `aws cloudformation deploy` does), and an
update that changes one parameter's value (UpdateStack to UPDATE_COMPLETE, every other
resource compared and left alone), against a running Nimbus.

Usage: scripts/bench-stack.py --data-dir D [--resources 30] [--runs 5]

The template mixes queues, tables, SSM parameters, IAM roles and secrets, with a chain
of references so that the stack is created in several waves. Prints one line per run
and the median.
"""
import argparse
import configparser
import json
import pathlib
import statistics
import time
import uuid

import boto3
from botocore.config import Config


def template(n, edition="v1"):
    resources = {}
    kinds = ["queue", "table", "param", "role", "secret"]
    for i in range(n):
        kind = kinds[i % len(kinds)]
        name = f"R{i}"
        after = {"DependsOn": f"R{i - 5}"} if i >= 5 else {}
        if kind == "queue":
            r = {"Type": "AWS::SQS::Queue"}
        elif kind == "table":
            r = {"Type": "AWS::DynamoDB::Table", "Properties": {
                "BillingMode": "PAY_PER_REQUEST",
                "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
                "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}]}}
        elif kind == "param":
            r = {"Type": "AWS::SSM::Parameter", "Properties": {
                "Type": "String", "Value": {"Fn::Sub": "${AWS::StackName}-" + name + (
                    "-" + edition if i == 2 else "")}}}
        elif kind == "role":
            r = {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {
                "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                        "Principal": {"Service": "lambda.amazonaws.com"}}]}}}
        else:
            r = {"Type": "AWS::SecretsManager::Secret", "Properties": {
                "GenerateSecretString": {"PasswordLength": 20}}}
        resources[name] = {**r, **after}
    return json.dumps({"Resources": resources,
                       "Outputs": {"First": {"Value": {"Ref": "R0"}}}})


def clients(data_dir, endpoint):
    creds = configparser.ConfigParser()
    creds.read(pathlib.Path(data_dir) / "credentials")
    if endpoint is None:
        cfg = configparser.ConfigParser()
        cfg.read(pathlib.Path(data_dir) / "config")
        endpoint = cfg["default"]["endpoint_url"]
    s = boto3.Session(aws_access_key_id=creds["default"]["aws_access_key_id"],
                      aws_secret_access_key=creds["default"]["aws_secret_access_key"],
                      region_name="us-east-1")
    return s.client("cloudformation", endpoint_url=endpoint, config=Config(retries={"max_attempts": 1}))


def wait(cf, stack, done):
    while True:
        s = cf.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]
        if s == done:
            return
        if not s.endswith("_IN_PROGRESS"):
            raise SystemExit(f"{stack}: {s}")
        time.sleep(0.01)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--endpoint")
    ap.add_argument("--resources", type=int, default=30)
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    cf = clients(a.data_dir, a.endpoint)
    body = template(a.resources)
    creates, redeploys, updates = [], [], []
    for _ in range(a.runs):
        stack = f"bench-{uuid.uuid4().hex[:8]}"
        t0 = time.perf_counter()
        cf.create_stack(StackName=stack, TemplateBody=body, Capabilities=["CAPABILITY_IAM"])
        wait(cf, stack, "CREATE_COMPLETE")
        creates.append(time.perf_counter() - t0)
        # An unchanged redeploy: the change set `aws cloudformation deploy` makes.
        t0 = time.perf_counter()
        try:
            cf.create_change_set(StackName=stack, ChangeSetName="again", TemplateBody=body,
                                 ChangeSetType="UPDATE", Capabilities=["CAPABILITY_IAM"])
            while True:
                c = cf.describe_change_set(StackName=stack, ChangeSetName="again")
                if c["Status"] in ("CREATE_COMPLETE", "FAILED"):
                    break
                time.sleep(0.01)
        except cf.exceptions.ClientError:
            pass
        redeploys.append(time.perf_counter() - t0)
        # One parameter's new value: updated in place, the rest compared and left.
        t0 = time.perf_counter()
        cf.update_stack(StackName=stack, TemplateBody=template(a.resources, "v2"),
                        Capabilities=["CAPABILITY_IAM"])
        wait(cf, stack, "UPDATE_COMPLETE")
        updates.append(time.perf_counter() - t0)
        print(f"{stack}: created in {creates[-1] * 1000:.0f} ms, unchanged redeploy answered in "
              f"{redeploys[-1] * 1000:.0f} ms, one-resource update in {updates[-1] * 1000:.0f} ms")
        cf.delete_stack(StackName=stack)
        wait_deleted = time.time() + 120
        while time.time() < wait_deleted:
            if not [s for s in cf.list_stacks()["StackSummaries"]
                    if s["StackName"] == stack and s["StackStatus"] != "DELETE_COMPLETE"]:
                break
            time.sleep(0.05)
    print(f"median: create {statistics.median(creates) * 1000:.0f} ms, "
          f"unchanged redeploy {statistics.median(redeploys) * 1000:.0f} ms, "
          f"one-resource update {statistics.median(updates) * 1000:.0f} ms "
          f"({a.resources} resources, {a.runs} runs)")


if __name__ == "__main__":
    main()
