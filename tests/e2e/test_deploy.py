"""`nimbus deploy`: a SAM template and its code folders, built, uploaded and deployed as
a stack in one command; a failing template exits non-zero naming the resource."""
import json
import subprocess
import textwrap
import time

from conftest import NIMBUS, unique

TEMPLATE = """
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.11
    Timeout: 10
Resources:
  Items:
    Type: AWS::Serverless::SimpleTable
  Jobs:
    Type: AWS::SQS::Queue
  Api:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.handler
      Environment:
        Variables:
          TABLE: !Ref Items
      Policies:
        - DynamoDBCrudPolicy:
            TableName: !Ref Items
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: worker/
      Handler: index.handler
      Runtime: nodejs20.x
      Events:
        Work:
          Type: SQS
          Properties:
            Queue: !GetAtt Jobs.Arn
Outputs:
  TableName:
    Value: !Ref Items
  ApiArn:
    Value: !GetAtt Api.Arn
"""

APP = textwrap.dedent('''
    import os, boto3
    def handler(event, context):
        t = boto3.client("dynamodb")
        t.put_item(TableName=os.environ["TABLE"], Item={"id": {"S": event["id"]}})
        return t.get_item(TableName=os.environ["TABLE"], Key={"id": {"S": event["id"]}})["Item"]["id"]["S"]
''')

WORKER = "exports.handler = async (event) => ({ batchItemFailures: [] });\n"


def deploy(nimbus, folder, stack):
    return subprocess.run([NIMBUS, "deploy", "-t", str(folder / "template.yaml"), "--stack-name", stack,
                           "--data-dir", str(nimbus.data_dir), "--no-confirm"],
                          capture_output=True, text=True, timeout=600)


def test_a_sam_application_deploys_in_one_command(nimbus, tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text(APP)
    (tmp_path / "worker").mkdir()
    (tmp_path / "worker" / "index.js").write_text(WORKER)
    (tmp_path / "worker" / "package.json").write_text(json.dumps({"name": "worker", "version": "1.0.0"}))
    (tmp_path / "template.yaml").write_text(TEMPLATE)
    stack = unique("app")
    out = deploy(nimbus, tmp_path, stack)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "CREATE_COMPLETE" in out.stdout
    assert "TableName = " in out.stdout
    cf = nimbus.client("cloudformation")
    outputs = {o["OutputKey"]: o["OutputValue"]
               for o in cf.describe_stacks(StackName=stack)["Stacks"][0]["Outputs"]}
    lam = nimbus.client("lambda")
    r = lam.invoke(FunctionName=outputs["ApiArn"], Payload=json.dumps({"id": "a1"}))
    assert r.get("FunctionError") is None, r["Payload"].read()
    assert json.loads(r["Payload"].read()) == "a1"
    # The code went through the artifacts bucket.
    keys = [o["Key"] for o in nimbus.client("s3").list_objects_v2(
        Bucket="nimbus-deploy-artifacts", Prefix=stack)["Contents"]]
    assert len(keys) == 2
    cf.delete_stack(StackName=stack)
    cf.get_waiter("stack_delete_complete").wait(StackName=stack, WaiterConfig={"Delay": 1, "MaxAttempts": 120})


def test_a_failing_deploy_exits_non_zero_naming_the_resource(nimbus, tmp_path):
    (tmp_path / "template.yaml").write_text(textwrap.dedent("""
        Resources:
          Fn:
            Type: AWS::Lambda::Function
            Properties:
              Runtime: python3.11
              Handler: index.handler
              Role: arn:aws:iam::000000000000:role/no-such-role
              Code: {ZipFile: "def handler(e, c): return 1"}
    """))
    out = deploy(nimbus, tmp_path, unique("broken"))
    assert out.returncode != 0
    assert "ROLLBACK_COMPLETE" in out.stderr + out.stdout
    assert "Fn:" in out.stderr


UPLOADS = """
Transform: AWS::Serverless-2016-10-31
Resources:
  Seen:
    Type: AWS::Serverless::SimpleTable
  Uploads:
    Type: AWS::S3::Bucket
    Properties:
      VersioningConfiguration: {Status: Enabled}
      Tags: [{Key: team, Value: uploads}]
  OnUpload:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.handler
      Runtime: python3.11
      Timeout: 10
      Environment:
        Variables:
          TABLE: !Ref Seen
      Policies:
        - DynamoDBCrudPolicy:
            TableName: !Ref Seen
      Events:
        Up:
          Type: S3
          Properties:
            Bucket: !Ref Uploads
            Events: s3:ObjectCreated:*
Outputs:
  Bucket:
    Value: !Ref Uploads
  BucketArn:
    Value: !GetAtt Uploads.Arn
  Table:
    Value: !Ref Seen
"""

ON_UPLOAD = textwrap.dedent('''
    import os, boto3
    def handler(event, context):
        t = boto3.client("dynamodb")
        for r in event["Records"]:
            t.put_item(TableName=os.environ["TABLE"], Item={"id": {"S": r["s3"]["object"]["key"]}})
''')


def test_a_bucket_made_by_a_stack_notifies_its_function(nimbus, tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text(ON_UPLOAD)
    (tmp_path / "template.yaml").write_text(UPLOADS)
    stack = unique("Uploads")
    out = deploy(nimbus, tmp_path, stack)
    assert out.returncode == 0, out.stdout + out.stderr
    cf = nimbus.client("cloudformation")
    outputs = {o["OutputKey"]: o["OutputValue"]
               for o in cf.describe_stacks(StackName=stack)["Stacks"][0]["Outputs"]}
    bucket = outputs["Bucket"]
    # A generated name, lower-cased as S3 requires.
    assert bucket.startswith(stack.lower() + "-uploads-"), bucket
    assert outputs["BucketArn"] == f"arn:aws:s3:::{bucket}"
    s3 = nimbus.client("s3")
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == [{"Key": "team", "Value": "uploads"}]
    rules = s3.get_bucket_notification_configuration(Bucket=bucket)["LambdaFunctionConfigurations"]
    assert rules[0]["Events"] == ["s3:ObjectCreated:*"]

    s3.put_object(Bucket=bucket, Key="in/photo.jpg", Body=b"x")
    ddb = nimbus.client("dynamodb")
    deadline = time.time() + 60
    while not ddb.get_item(TableName=outputs["Table"], Key={"id": {"S": "in/photo.jpg"}}).get("Item"):
        assert time.time() < deadline, "the function did not run for the upload"
        time.sleep(0.5)

    # S3 refuses to delete a bucket with objects in it, and so the stack fails to delete.
    cf.delete_stack(StackName=stack)
    deadline = time.time() + 120
    while (s := cf.describe_stacks(StackName=stack)["Stacks"][0])["StackStatus"] == "DELETE_IN_PROGRESS":
        assert time.time() < deadline
        time.sleep(1)
    assert s["StackStatus"] == "DELETE_FAILED"
    failed = [e for e in cf.describe_stack_events(StackName=stack)["StackEvents"]
              if e["LogicalResourceId"] == "Uploads" and e["ResourceStatus"] == "DELETE_FAILED"]
    assert "The bucket you tried to delete is not empty" in failed[0]["ResourceStatusReason"]

    versions = s3.list_object_versions(Bucket=bucket)
    for v in versions.get("Versions", []) + versions.get("DeleteMarkers", []):
        s3.delete_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])
    cf.delete_stack(StackName=stack)
    cf.get_waiter("stack_delete_complete").wait(StackName=stack, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
