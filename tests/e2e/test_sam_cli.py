"""The real AWS SAM CLI against Nimbus: `sam build`, `sam deploy` (with its managed
artifacts stack, `--resolve-s3`), `sam list stack-outputs` and `sam delete`, as a
user runs them with nothing but the data directory's files and AWS_ENDPOINT_URL.

The `sam` executable is $SAM_BIN, else `.venv/bin/sam` or `.venv-sam/bin/sam` in the
checkout, else `sam` on PATH; the suite installs nothing. `sam build` runs offline: the app's one
dependency is a wheel the test writes, and pip is told not to use an index."""
import base64
import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import sys
import textwrap
import zipfile

import botocore.exceptions

from conftest import NIMBUS, ROOT, eventually, unique

RUNTIME = f"python{sys.version_info.major}.{sys.version_info.minor}"

TEMPLATE = f"""
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Resources:
  Items:
    Type: AWS::Serverless::SimpleTable
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: {RUNTIME}
      CodeUri: src/
      Handler: app.handler
      Timeout: 10
      Environment:
        Variables:
          TABLE: !Ref Items
      Policies:
        - DynamoDBCrudPolicy:
            TableName: !Ref Items
Outputs:
  FunctionArn:
    Value: !GetAtt Hello.Arn
  TableName:
    Value: !Ref Items
"""

APP = textwrap.dedent('''
    import os
    import boto3
    import greet

    def handler(event, context):
        ddb = boto3.client("dynamodb")
        ddb.put_item(TableName=os.environ["TABLE"], Item={"id": {"S": event["id"]}})
        item = ddb.get_item(TableName=os.environ["TABLE"], Key={"id": {"S": event["id"]}})["Item"]
        return {"greeting": greet.hello(item["id"]["S"])}
''')


def sam_bin():
    # aws-sam-cli pins boto3 (1.170.0: boto3[crt]==1.43.108), which clashes with
    # tests/requirements.txt's, so it usually lives in a venv of its own.
    candidates = [ROOT / ".venv" / "bin" / "sam", ROOT / ".venv-sam" / "bin" / "sam"]
    found = os.environ.get("SAM_BIN") or next(
        (str(p) for p in candidates if p.exists()), None) or shutil.which("sam")
    assert found, "the SAM CLI is needed: set SAM_BIN, or pip install aws-sam-cli into .venv-sam"
    return found


def write_wheel(folder):
    """A one-module pure-Python wheel, `greet`, so `sam build` needs no package index."""
    files = {
        "greet/__init__.py": b'def hello(who):\n    return "hello " + who\n',
        "greet-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: greet\nVersion: 1.0\n",
        "greet-1.0.dist-info/WHEEL":
            b"Wheel-Version: 1.0\nGenerator: nimbus-e2e\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append("greet-1.0.dist-info/RECORD,,")
    files["greet-1.0.dist-info/RECORD"] = ("\n".join(record) + "\n").encode()
    path = folder / "greet-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return path


def make_app(folder):
    (folder / "src").mkdir(parents=True)
    (folder / "src" / "app.py").write_text(APP)
    wheel = write_wheel(folder)
    (folder / "src" / "requirements.txt").write_text(f"greet @ {wheel.as_uri()}\n")
    (folder / "template.yaml").write_text(TEMPLATE)


def sam(nimbus, app, *args, timeout=600):
    """Run `sam` in the app's folder, configured as a user would be: the data
    directory's credentials and config, and AWS_ENDPOINT_URL."""
    env = nimbus.env()
    env.update(
        SAM_CLI_TELEMETRY="0",
        PIP_NO_INDEX="1",
        # How often `sam deploy` polls change sets and stack events (default 5 s).
        SAM_CLI_POLL_DELAY="0.5",
        # `sam build` looks for python3.X of the function's runtime on PATH.
        PATH=f"{pathlib.Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
    )
    res = subprocess.run([sam_bin(), *args], cwd=app, env=env, capture_output=True, text=True,
                         timeout=timeout)
    assert res.returncode == 0, f"sam {' '.join(args)} failed:\n{res.stdout}\n{res.stderr}"
    return res


MANAGED = "aws-sam-cli-managed-default"


def managed_artifacts(nimbus):
    """The keys in the bucket of SAM's managed stack (none before it exists); other
    tests of this module may share it."""
    cf = nimbus.client("cloudformation")
    try:
        resources = cf.describe_stack_resources(StackName=MANAGED)["StackResources"]
    except botocore.exceptions.ClientError:
        return set()
    bucket = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources}["SamCliSourceBucket"]
    pages = nimbus.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {o["Key"] for page in pages for o in page.get("Contents", [])}


def gone(call):
    try:
        call()
    except botocore.exceptions.ClientError:
        return True
    return False


def test_sam_build_deploy_list_and_delete(nimbus, tmp_path):
    make_app(tmp_path)
    sam(nimbus, tmp_path, "build")
    built = tmp_path / ".aws-sam" / "build" / "Hello"
    assert (built / "greet" / "__init__.py").exists(), sorted(p.name for p in built.iterdir())

    before = managed_artifacts(nimbus)
    stack = unique("sam")
    out = sam(nimbus, tmp_path, "deploy", "--stack-name", stack, "--resolve-s3",
              "--capabilities", "CAPABILITY_IAM", "--no-confirm-changeset",
              "--no-fail-on-empty-changeset", "--region", "us-east-1")
    assert f"Successfully created/updated stack - {stack}" in out.stdout, out.stdout + out.stderr

    cf = nimbus.client("cloudformation")
    s = cf.describe_stacks(StackName=stack)["Stacks"][0]
    assert s["StackStatus"] == "CREATE_COMPLETE"
    # The code and the template went through SAM's managed stack's bucket.
    managed = cf.describe_stacks(StackName=MANAGED)["Stacks"][0]
    assert managed["StackStatus"] == "CREATE_COMPLETE"
    uploaded = managed_artifacts(nimbus) - before
    assert len(uploaded) == 2 and any(k.endswith(".template") for k in uploaded), uploaded

    listed = sam(nimbus, tmp_path, "list", "stack-outputs", "--stack-name", stack,
                 "--output", "json", "--region", "us-east-1")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in json.loads(listed.stdout)}
    assert set(outputs) == {"FunctionArn", "TableName"}, outputs
    function = outputs["FunctionArn"]

    lam = nimbus.client("lambda")
    r = lam.invoke(FunctionName=function, Payload=json.dumps({"id": "a1"}))
    body = r["Payload"].read()
    assert r.get("FunctionError") is None, body
    assert json.loads(body) == {"greeting": "hello a1"}

    # `sam logs` reads the function's log group through CloudWatch Logs' API.
    logs = sam(nimbus, tmp_path, "logs", "-n", "Hello", "--stack-name", stack, "--region", "us-east-1")
    assert "START RequestId" in logs.stdout and "REPORT RequestId" in logs.stdout, logs.stdout + logs.stderr

    sam(nimbus, tmp_path, "delete", "--stack-name", stack, "--no-prompts", "--region", "us-east-1")
    eventually("the stack to go", lambda: gone(lambda: cf.describe_stacks(StackName=stack)), deadline_s=120)
    eventually("the function to go", lambda: gone(lambda: lam.get_function(FunctionName=function)), deadline_s=120)
    ddb = nimbus.client("dynamodb")
    eventually("the table to go", lambda: gone(lambda: ddb.describe_table(TableName=outputs["TableName"])), deadline_s=120)
    # `sam delete` removes the artifacts the stack's template named.
    assert not uploaded & managed_artifacts(nimbus)


def test_sam_deploy_to_a_bucket_of_ones_own(nimbus, tmp_path):
    """`--s3-bucket` skips the managed stack; a failed create ends in ROLLBACK_COMPLETE."""
    make_app(tmp_path)
    sam(nimbus, tmp_path, "build")
    bucket = unique("artifacts").lower()
    nimbus.client("s3").create_bucket(Bucket=bucket)
    stack = unique("sam-own")
    sam(nimbus, tmp_path, "deploy", "--stack-name", stack, "--s3-bucket", bucket, "--s3-prefix", "app",
        "--capabilities", "CAPABILITY_IAM", "--no-confirm-changeset", "--region", "us-east-1")
    keys = [o["Key"] for o in nimbus.client("s3").list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys and all(k.startswith("app/") for k in keys), keys
    cf = nimbus.client("cloudformation")
    assert cf.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    sam(nimbus, tmp_path, "delete", "--stack-name", stack, "--no-prompts", "--region", "us-east-1")
    eventually("the stack to go", lambda: gone(lambda: cf.describe_stacks(StackName=stack)), deadline_s=120)


def test_sam_deploy_updates_a_stack(nimbus, tmp_path):
    """A second `sam deploy` of changed code is a change set of type UPDATE; a
    third of the same code is an empty change set, which
    --no-fail-on-empty-changeset accepts."""
    make_app(tmp_path)
    sam(nimbus, tmp_path, "build")
    stack = unique("sam-upd")
    deploy = ["deploy", "--stack-name", stack, "--resolve-s3", "--capabilities", "CAPABILITY_IAM",
              "--no-confirm-changeset", "--no-fail-on-empty-changeset", "--region", "us-east-1"]
    sam(nimbus, tmp_path, *deploy)
    (tmp_path / "src" / "app.py").write_text(APP.replace('"greeting"', '"v2"'))
    sam(nimbus, tmp_path, "build")
    out = sam(nimbus, tmp_path, *deploy)
    assert "UPDATE_COMPLETE" in out.stdout, out.stdout
    cf = nimbus.client("cloudformation")
    outputs = {o["OutputKey"]: o["OutputValue"]
               for o in cf.describe_stacks(StackName=stack)["Stacks"][0]["Outputs"]}
    r = nimbus.client("lambda").invoke(FunctionName=outputs["FunctionArn"], Payload=json.dumps({"id": "b"}))
    assert json.loads(r["Payload"].read()) == {"v2": "hello b"}
    out = sam(nimbus, tmp_path, *deploy)
    assert "No changes to deploy" in out.stdout + out.stderr, out.stdout + out.stderr
    sam(nimbus, tmp_path, "delete", "--stack-name", stack, "--no-prompts", "--region", "us-east-1")
    eventually("the stack to go", lambda: gone(lambda: cf.describe_stacks(StackName=stack)), deadline_s=120)


def test_sam_builds_and_deploys_the_orders_example(nimbus, tmp_path):
    """examples/orders-app with the real SAM CLI: a layer, four functions, an HTTP API,
    a stream, queues and a state machine, built, deployed and deleted by `sam`."""
    app = tmp_path / "orders"
    shutil.copytree(ROOT / "examples" / "orders-app", app)
    sam(nimbus, app, "build")
    stack = unique("sam-orders")
    out = sam(nimbus, app, "deploy", "--stack-name", stack, "--resolve-s3",
              "--capabilities", "CAPABILITY_IAM", "--no-confirm-changeset", "--region", "us-east-1")
    assert f"Successfully created/updated stack - {stack}" in out.stdout, out.stdout + out.stderr
    cf = nimbus.client("cloudformation")
    outputs = {o["OutputKey"]: o["OutputValue"]
               for o in cf.describe_stacks(StackName=stack)["Stacks"][0]["Outputs"]}
    fn = [r["PhysicalResourceId"] for r in cf.describe_stack_resources(StackName=stack)["StackResources"]
          if r["LogicalResourceId"] == "Fulfil"][0]
    ddb = nimbus.client("dynamodb")
    ddb.put_item(TableName=outputs["Table"], Item={"id": {"S": "x"}, "item": {"S": "pen"}})
    r = nimbus.client("lambda").invoke(FunctionName=fn, Payload=json.dumps({"id": "x"}))
    assert json.loads(r["Payload"].read()) == {"id": "x", "status": "fulfilled"}
    sam(nimbus, app, "delete", "--stack-name", stack, "--no-prompts", "--region", "us-east-1")
    eventually("the stack to go", lambda: gone(lambda: cf.describe_stacks(StackName=stack)), deadline_s=120)


APPS = ROOT / "tests" / "e2e" / "apps"


def call_api(nimbus, url, path):
    import http.client
    import urllib.parse
    target = urllib.parse.urlparse(url)
    server = urllib.parse.urlparse(nimbus.endpoint)
    conn = http.client.HTTPConnection(server.hostname, server.port, timeout=60)
    conn.request("GET", target.path.rstrip("/") + path, headers={"Host": target.hostname})
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, data


def check_cold_start(nimbus, outputs):
    status, body = call_api(nimbus, outputs["Url"], "/hello")
    assert status == 200, body
    assert json.loads(body) == {"answer": "hello api", "path": "/hello"}
    lam = nimbus.client("lambda")
    fn, alias = outputs["Alias"].split(":")[-2:]
    config = lam.get_provisioned_concurrency_config(FunctionName=fn, Qualifier=alias)
    assert config["RequestedProvisionedConcurrentExecutions"] == 1
    fn, alias = outputs["SnapAlias"].split(":")[-2:]
    snap = lam.get_function_configuration(FunctionName=fn, Qualifier=alias)["SnapStart"]
    assert snap == {"ApplyOn": "PublishedVersions", "OptimizationStatus": "On"}
    r = lam.invoke(FunctionName=outputs["Built"], Payload=b"{}")
    assert json.loads(r["Payload"].read()) == {"greeting": "hello make", "stamp": "made by make"}


def check_least_privilege(nimbus, outputs):
    r = nimbus.client("lambda").invoke(FunctionName=outputs["Reader"], Payload=b"{}")
    body = json.loads(r["Payload"].read())
    assert r.get("FunctionError") is None, body
    assert body == {"read": None, "write": "AccessDeniedException",
                    "parameter": "hello from the parameter"}


def stack_outputs(nimbus, stack):
    s = nimbus.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in s.get("Outputs", [])}


def test_the_two_reference_templates_deploy_with_nimbus_deploy_and_sam(nimbus, tmp_path):
    """A cold-start template (a layer, provisioned concurrency, SnapStart, an Api event, a
    Makefile build) and a least-privilege one (policy templates, VpcConfig), each deployed
    by `nimbus deploy` and by `sam build && sam deploy`, answering the same, then removed."""
    cf = nimbus.client("cloudformation")
    for name, check in [("cold-start", check_cold_start), ("least-privilege", check_least_privilege)]:
        app = tmp_path / name
        shutil.copytree(APPS / name, app)
        stack = unique(f"ref-{name}")
        out = subprocess.run([NIMBUS, "deploy", "-t", str(app / "template.yaml"), "--stack-name", stack,
                              "--data-dir", str(nimbus.data_dir), "--no-confirm"],
                             capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stdout + out.stderr
        check(nimbus, stack_outputs(nimbus, stack))
        cf.delete_stack(StackName=stack)
        cf.get_waiter("stack_delete_complete").wait(StackName=stack, WaiterConfig={"Delay": 1, "MaxAttempts": 120})

        sam(nimbus, app, "build")
        stack = unique(f"sam-{name}")
        out = sam(nimbus, app, "deploy", "--stack-name", stack, "--resolve-s3", "--capabilities",
                  "CAPABILITY_IAM", "--no-confirm-changeset", "--region", "us-east-1")
        assert f"Successfully created/updated stack - {stack}" in out.stdout, out.stdout + out.stderr
        check(nimbus, stack_outputs(nimbus, stack))
        sam(nimbus, app, "delete", "--stack-name", stack, "--no-prompts", "--region", "us-east-1")
        eventually("the stack to go", lambda: gone(lambda: cf.describe_stacks(StackName=stack)), deadline_s=120)
