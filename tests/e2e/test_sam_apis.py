"""SAM templates with `Api` and `HttpApi` events, deployed through CloudFormation
with boto3: the implicit `ServerlessRestApi` (stage `Prod`) and `ServerlessHttpApi`
(`$default`), an explicit `AWS::Serverless::Api` with its own stage and an
`AWS::Serverless::HttpApi` guarded by a Lambda authorizer answer at the
URLs the template's outputs give (`https://{id}.execute-api.{region}.amazonaws.com/...`,
called here with that Host), with the events Lambda proxy integrations send; deleting
the stack deletes the APIs. The explicit REST API has `Cors`: its preflights are
answered by the OPTIONS methods' mock integrations."""
import http.client
import json
import time
import urllib.parse

import pytest

from conftest import unique

TEMPLATE = """
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.12
    Timeout: 10
Resources:
  AdminApi:
    Type: AWS::Serverless::Api
    Properties:
      StageName: dev
      Cors: "'*'"
      Variables:
        colour: blue
  SecureApi:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth:
        DefaultAuthorizer: Token
        Authorizers:
          Token:
            FunctionArn: !GetAtt Gate.Arn
            AuthorizerPayloadFormatVersion: "2.0"
            EnableSimpleResponses: true
            Identity:
              Headers: [x-token]
  Gate:
    Type: AWS::Serverless::Function
    Properties:
      Handler: index.handler
      InlineCode: |
        def handler(event, context):
            return {"isAuthorized": event["headers"].get("x-token") == "letmein",
                    "context": {"who": "ann"}}
  GatePermission:
    Type: AWS::Lambda::Permission
    Properties:
      Action: lambda:InvokeFunction
      FunctionName: !Ref Gate
      Principal: apigateway.amazonaws.com
      SourceArn: !Sub "arn:aws:execute-api:${AWS::Region}:${AWS::AccountId}:${SecureApi}/authorizers/*"
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      Handler: index.handler
      InlineCode: |
        import json
        def handler(event, context):
            return {"statusCode": 200, "headers": {"content-type": "application/json"},
                    "body": json.dumps({"answer": "hello", "event": event})}
      Events:
        Rest:
          Type: Api
          Properties:
            Path: /hello
            Method: get
        Item:
          Type: Api
          Properties:
            Path: /items/{id}
            Method: any
        Admin:
          Type: Api
          Properties:
            RestApiId: !Ref AdminApi
            Path: /admin
            Method: post
        Http:
          Type: HttpApi
          Properties:
            Path: /hi/{name}
            Method: GET
        Fallback:
          Type: HttpApi
        Secret:
          Type: HttpApi
          Properties:
            ApiId: !Ref SecureApi
            Path: /secret
            Method: GET
Outputs:
  RestUrl:
    Value: !Sub "https://${ServerlessRestApi}.execute-api.${AWS::Region}.amazonaws.com/Prod/"
  AdminUrl:
    Value: !Sub "https://${AdminApi}.execute-api.${AWS::Region}.amazonaws.com/dev/"
  HttpUrl:
    Value: !Sub "https://${ServerlessHttpApi}.execute-api.${AWS::Region}.amazonaws.com/"
  SecureUrl:
    Value: !Sub "https://${SecureApi}.execute-api.${AWS::Region}.amazonaws.com/"
"""


def call(nimbus, method, url, path, headers=None):
    """Call the API at `url` (an output) through Nimbus's port, with its Host."""
    target = urllib.parse.urlparse(url)
    server = urllib.parse.urlparse(nimbus.endpoint)
    conn = http.client.HTTPConnection(server.hostname, server.port, timeout=60)
    conn.request(method, target.path.rstrip("/") + path,
                 headers={"Host": target.hostname, **(headers or {})})
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, data


def settle(cfn, name, deadline_s=300):
    """The stack's status once it is no longer in progress."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            s = cfn.describe_stacks(StackName=name)["Stacks"][0]
        except cfn.exceptions.ClientError:
            return "GONE"
        if not s["StackStatus"].endswith("_IN_PROGRESS"):
            return s["StackStatus"]
        time.sleep(0.5)
    pytest.fail(f"stack {name} still in progress after {deadline_s}s")


def test_api_and_http_api_events_serve_their_functions_and_go_with_the_stack(nimbus):
    cfn = nimbus.client("cloudformation")
    name = unique("samapis")
    stack_id = cfn.create_stack(StackName=name, TemplateBody=TEMPLATE,
                                Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"])["StackId"]
    status = settle(cfn, name)
    if status != "CREATE_COMPLETE":
        events = cfn.describe_stack_events(StackName=stack_id)["StackEvents"]
        pytest.fail(f"{status}: " + "; ".join(
            f"{e['LogicalResourceId']} {e['ResourceStatus']} {e.get('ResourceStatusReason', '')}"
            for e in events if "FAILED" in e["ResourceStatus"]))
    outputs = {o["OutputKey"]: o["OutputValue"]
               for o in cfn.describe_stacks(StackName=name)["Stacks"][0]["Outputs"]}
    logical = {r["LogicalResourceId"]: r for r in
               cfn.describe_stack_resources(StackName=name)["StackResources"]}
    for made in ["ServerlessRestApi", "ServerlessRestApiProdStage", "HelloRestPermissionProd",
                 "AdminApidevStage", "HelloAdminPermissiondev", "ServerlessHttpApi",
                 "ServerlessHttpApiApiGatewayDefaultStage", "HelloFallbackPermission"]:
        assert made in logical, sorted(logical)

    status, body = call(nimbus, "GET", outputs["RestUrl"], "/hello")
    assert status == 200, body
    got = json.loads(body)
    assert got["answer"] == "hello"
    event = got["event"]
    assert event["resource"] == "/hello"
    assert event["httpMethod"] == "GET"
    assert event["requestContext"]["stage"] == "Prod"

    status, body = call(nimbus, "DELETE", outputs["RestUrl"], "/items/42")
    assert status == 200, body
    event = json.loads(body)["event"]
    assert event["resource"] == "/items/{id}"
    assert event["pathParameters"] == {"id": "42"}

    status, body = call(nimbus, "POST", outputs["AdminUrl"], "/admin")
    assert status == 200, body
    event = json.loads(body)["event"]
    assert event["requestContext"]["stage"] == "dev"
    assert event["stageVariables"] == {"colour": "blue"}

    # The API's Cors: a preflight answered by the OPTIONS method's mock integration.
    target = urllib.parse.urlparse(outputs["AdminUrl"])
    server = urllib.parse.urlparse(nimbus.endpoint)
    conn = http.client.HTTPConnection(server.hostname, server.port, timeout=60)
    conn.request("OPTIONS", target.path.rstrip("/") + "/admin", headers={
        "Host": target.hostname, "Origin": "https://shop.example", "Access-Control-Request-Method": "POST"})
    r = conn.getresponse()
    r.read()
    conn.close()
    assert r.status == 200
    assert r.getheader("Access-Control-Allow-Origin") == "*"
    assert r.getheader("Access-Control-Allow-Methods") == "OPTIONS,POST"

    status, body = call(nimbus, "GET", outputs["HttpUrl"], "/hi/ann")
    assert status == 200, body
    event = json.loads(body)["event"]
    assert event["version"] == "2.0"
    assert event["routeKey"] == "GET /hi/{name}"
    assert event["pathParameters"] == {"name": "ann"}

    status, body = call(nimbus, "PUT", outputs["HttpUrl"], "/anything/else")
    assert status == 200, body
    assert json.loads(body)["event"]["routeKey"] == "$default"

    # A Lambda authorizer from the HTTP API's `Auth`: its default for every route.
    assert call(nimbus, "GET", outputs["SecureUrl"], "/secret")[0] == 401
    assert call(nimbus, "GET", outputs["SecureUrl"], "/secret", {"x-token": "no"})[0] == 403
    status, body = call(nimbus, "GET", outputs["SecureUrl"], "/secret", {"x-token": "letmein"})
    assert status == 200, body
    event = json.loads(body)["event"]
    assert event["requestContext"]["authorizer"]["lambda"] == {"who": "ann"}

    # An update: new code, a new route, a new stage variable.
    changed = (TEMPLATE.replace('"answer": "hello"', '"answer": "howdy"')
               .replace("colour: blue", "colour: green")
               .replace("        Http:\n", "        Bye:\n          Type: Api\n          Properties:\n"
                        "            Path: /bye\n            Method: get\n"
                        "        Hey:\n          Type: HttpApi\n          Properties:\n"
                        "            Path: /hey\n            Method: GET\n        Http:\n"))
    cfn.update_stack(StackName=name, TemplateBody=changed,
                     Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"])
    status = settle(cfn, name)
    if status != "UPDATE_COMPLETE":
        events = cfn.describe_stack_events(StackName=stack_id)["StackEvents"]
        pytest.fail(f"{status}: " + "; ".join(
            f"{e['LogicalResourceId']} {e['ResourceStatus']} {e.get('ResourceStatusReason', '')}"
            for e in events if "FAILED" in e["ResourceStatus"]))
    updated = {o["OutputKey"]: o["OutputValue"]
               for o in cfn.describe_stacks(StackName=name)["Stacks"][0]["Outputs"]}
    # Updated in place, as on AWS: the APIs keep their ids, so their URLs stay.
    assert updated == outputs
    status, body = call(nimbus, "GET", outputs["RestUrl"], "/bye")
    assert status == 200, body
    assert json.loads(body)["answer"] == "howdy"
    status, body = call(nimbus, "GET", outputs["HttpUrl"], "/hi/ann")
    assert status == 200 and json.loads(body)["answer"] == "howdy", body
    status, body = call(nimbus, "GET", outputs["RestUrl"], "/hello")
    assert status == 200 and json.loads(body)["answer"] == "howdy", body
    status, body = call(nimbus, "GET", outputs["HttpUrl"], "/hey")
    assert status == 200, body
    assert json.loads(body)["event"]["routeKey"] == "GET /hey"
    status, body = call(nimbus, "POST", outputs["AdminUrl"], "/admin")
    assert status == 200, body
    assert json.loads(body)["event"]["stageVariables"] == {"colour": "green"}
    logical = {r["LogicalResourceId"]: r for r in
               cfn.describe_stack_resources(StackName=name)["StackResources"]}

    rest_id = logical["ServerlessRestApi"]["PhysicalResourceId"]
    http_id = logical["ServerlessHttpApi"]["PhysicalResourceId"]
    cfn.delete_stack(StackName=stack_id)
    assert settle(cfn, stack_id) == "DELETE_COMPLETE"
    rest_ids = [a["id"] for a in nimbus.client("apigateway").get_rest_apis()["items"]]
    assert rest_id not in rest_ids
    assert logical["AdminApi"]["PhysicalResourceId"] not in rest_ids
    assert http_id not in [a["ApiId"] for a in nimbus.client("apigatewayv2").get_apis()["Items"]]
    assert call(nimbus, "GET", outputs["RestUrl"], "/hello")[0] == 404
    assert call(nimbus, "GET", outputs["HttpUrl"], "/hi/ann")[0] == 404


def test_what_the_gateway_cannot_serve_is_refused_naming_the_property(nimbus):
    cfn = nimbus.client("cloudformation")
    template = TEMPLATE.replace("      StageName: dev\n", "      StageName: dev\n      MinimumCompressionSize: 1024\n")
    with pytest.raises(cfn.exceptions.ClientError) as e:
        cfn.create_stack(StackName=unique("samcompress"), TemplateBody=template,
                         Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"])
    assert "Property 'MinimumCompressionSize' is not supported" in str(e.value)


PLAIN_REST = """
Resources:
  Api:
    Type: AWS::ApiGateway::RestApi
    Properties:
      Name: plain-rest
  Items:
    Type: AWS::ApiGateway::Resource
    Properties:
      RestApiId: !Ref Api
      ParentId: !GetAtt Api.RootResourceId
      PathPart: items
  Preflight:
    Type: AWS::ApiGateway::Method
    Properties:
      RestApiId: !Ref Api
      ResourceId: !Ref Items
      HttpMethod: OPTIONS
      AuthorizationType: NONE
      MethodResponses:
        - StatusCode: 204
          ResponseParameters:
            method.response.header.Access-Control-Allow-Origin: true
            method.response.header.Access-Control-Allow-Methods: true
      Integration:
        Type: MOCK
        RequestTemplates:
          application/json: '{"statusCode": 204}'
        IntegrationResponses:
          - StatusCode: 204
            ResponseParameters:
              method.response.header.Access-Control-Allow-Origin: "'https://shop.example'"
              method.response.header.Access-Control-Allow-Methods: "'GET,OPTIONS'"
  Deployment:
    Type: AWS::ApiGateway::Deployment
    DependsOn: Preflight
    Properties:
      RestApiId: !Ref Api
      StageName: live
Outputs:
  Url:
    Value: !Sub "https://${Api}.execute-api.${AWS::Region}.amazonaws.com/live/"
"""


def test_plain_rest_api_resources_with_a_mock_preflight(nimbus):
    cfn = nimbus.client("cloudformation")
    name = unique("plainrest")
    cfn.create_stack(StackName=name, TemplateBody=PLAIN_REST)
    status = settle(cfn, name)
    assert status == "CREATE_COMPLETE", [
        (e["LogicalResourceId"], e.get("ResourceStatusReason")) for e in cfn.describe_stack_events(StackName=name)["StackEvents"]]
    url = cfn.describe_stacks(StackName=name)["Stacks"][0]["Outputs"][0]["OutputValue"]
    target = urllib.parse.urlparse(url)
    server = urllib.parse.urlparse(nimbus.endpoint)
    conn = http.client.HTTPConnection(server.hostname, server.port, timeout=60)
    conn.request("OPTIONS", target.path + "items", headers={"Host": target.hostname})
    r = conn.getresponse()
    r.read()
    conn.close()
    assert r.status == 204
    assert r.getheader("Access-Control-Allow-Origin") == "https://shop.example"
    assert r.getheader("Access-Control-Allow-Methods") == "GET,OPTIONS"
    cfn.delete_stack(StackName=name)
    assert settle(cfn, name) in ("GONE", "DELETE_COMPLETE")


AUTHORIZED = """
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.12
    Timeout: 10
Resources:
  Orders:
    Type: AWS::Serverless::Api
    Properties:
      StageName: prod
      Cors: "'*'"
      Auth:
        DefaultAuthorizer: Token
        AddDefaultAuthorizerToCorsPreflight: false
        Authorizers:
          Token:
            FunctionArn: !GetAtt Gate.Arn
            Identity:
              Header: X-Token
              ValidationExpression: "allow|deny|bad"
          ByRequest:
            FunctionArn: !GetAtt Gate.Arn
            FunctionPayloadType: REQUEST
            Identity:
              Headers: [X-User]
              QueryStrings: [tenant]
  Gate:
    Type: AWS::Serverless::Function
    Properties:
      Handler: index.handler
      InlineCode: |
        def handler(event, context):
            if event["type"] == "TOKEN":
                token, who = event["authorizationToken"], "user-1"
            else:
                headers = {k.lower(): v for k, v in event["headers"].items()}
                token = "allow" if headers.get("x-user") == "ann" else "deny"
                who = event["queryStringParameters"]["tenant"]
            if token == "bad":
                raise Exception("Unauthorized")
            effect = "Allow" if token == "allow" else "Deny"
            return {"principalId": who, "context": {"plan": "gold"}, "policyDocument": {
                "Version": "2012-10-17",
                "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": event["methodArn"]}]}}
  Items:
    Type: AWS::Serverless::Function
    Properties:
      Handler: index.handler
      InlineCode: |
        import json
        def handler(event, context):
            return {"statusCode": 200, "body": json.dumps(event["requestContext"].get("authorizer"))}
      Events:
        List:
          Type: Api
          Properties:
            RestApiId: !Ref Orders
            Path: /items
            Method: get
        Mine:
          Type: Api
          Properties:
            RestApiId: !Ref Orders
            Path: /mine
            Method: get
            Auth:
              Authorizer: ByRequest
        Open:
          Type: Api
          Properties:
            RestApiId: !Ref Orders
            Path: /health
            Method: get
            Auth:
              Authorizer: NONE
Outputs:
  Url:
    Value: !Sub "https://${Orders}.execute-api.${AWS::Region}.amazonaws.com/prod/"
"""


def test_rest_api_lambda_authorizers_guard_methods(nimbus):
    cfn = nimbus.client("cloudformation")
    name = unique("samauth")
    cfn.create_stack(StackName=name, TemplateBody=AUTHORIZED, Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"])
    status = settle(cfn, name)
    assert status == "CREATE_COMPLETE", [
        (e["LogicalResourceId"], e.get("ResourceStatusReason")) for e in cfn.describe_stack_events(StackName=name)["StackEvents"]
        if "FAILED" in e["ResourceStatus"]]
    url = cfn.describe_stacks(StackName=name)["Stacks"][0]["Outputs"][0]["OutputValue"]

    assert call(nimbus, "GET", url, "/items") == (401, b'{"message":"Unauthorized"}')
    status, body = call(nimbus, "GET", url, "/items", {"X-Token": "allow"})
    assert status == 200, body
    assert json.loads(body) == {"principalId": "user-1", "plan": "gold", "integrationLatency": 0}
    status, body = call(nimbus, "GET", url, "/items", {"X-Token": "deny"})
    assert status == 403 and b"explicit deny" in body, body
    assert call(nimbus, "GET", url, "/items", {"X-Token": "bad"})[0] == 401, "the function said Unauthorized"
    assert call(nimbus, "GET", url, "/items", {"X-Token": "other"})[0] == 401, "the validation expression refuses"
    assert call(nimbus, "GET", url, "/health")[0] == 200, "Authorizer: NONE"
    assert call(nimbus, "OPTIONS", url, "/items")[0] == 200, "preflights without the default authorizer"
    # The REQUEST authorizer: both identity sources, its principal from the query string.
    assert call(nimbus, "GET", url, "/mine", {"X-User": "ann"})[0] == 401, "tenant missing"
    status, body = call(nimbus, "GET", url, "/mine?tenant=acme", {"X-User": "ann"})
    assert status == 200 and json.loads(body)["principalId"] == "acme", body
    assert call(nimbus, "GET", url, "/mine?tenant=acme", {"X-User": "bob"})[0] == 403

    ag = nimbus.client("apigateway")
    api = urllib.parse.urlparse(url).hostname.split(".")[0]
    authorizers = {a["name"]: a for a in ag.get_authorizers(restApiId=api)["items"]}
    assert authorizers["Token"]["type"] == "TOKEN"
    assert authorizers["Token"]["identitySource"] == "method.request.header.X-Token"
    assert authorizers["ByRequest"]["identitySource"] == "method.request.header.X-User, method.request.querystring.tenant"
    cfn.delete_stack(StackName=name)
    assert settle(cfn, name) in ("GONE", "DELETE_COMPLETE")
