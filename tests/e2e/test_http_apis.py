"""HTTP front doors: API Gateway HTTP APIs (management with boto3, calls with a plain
HTTP client) and Lambda function URLs."""
import base64
import http.client
import json
import time
import urllib.parse

import pytest
from botocore.exceptions import ClientError

from conftest import ROLE, create, unique

ECHO = r'''
import base64, json

def handler(event, context):
    if event.get("rawPath", event.get("path", "")).endswith("/boom"):
        raise RuntimeError("boom")
    if event.get("rawPath", "").endswith("/bad-shape"):
        return {"statusCode": "not a number"}
    if event.get("rawPath", "").endswith("/plain"):
        return {"just": "json"}
    if event.get("rawPath", "").endswith("/binary"):
        return {"statusCode": 200, "headers": {"content-type": "image/png"},
                "body": base64.b64encode(b"\x89PNG\x00\x01").decode(), "isBase64Encoded": True}
    if event.get("rawPath", "").endswith("/slow"):
        import time; time.sleep(3)
    if event.get("version") == "2.0":
        return {"statusCode": 201 if event["requestContext"]["http"]["method"] == "POST" else 200,
                "headers": {"content-type": "application/json", "x-echo": "yes"},
                "cookies": ["a=1; Path=/", "b=2"],
                "body": json.dumps({"event": event})}
    return {"statusCode": 200, "headers": {"content-type": "application/json"},
            "multiValueHeaders": {"x-multi": ["1", "2"]}, "body": json.dumps({"event": event})}
'''


def call(nimbus, method, path, host=None, body=None, headers=None):
    url = urllib.parse.urlparse(nimbus.endpoint)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    h = dict(headers or {})
    if host:
        h["Host"] = host
    conn.request(method, path, body=body, headers=h)
    r = conn.getresponse()
    data = r.read()
    out = (r.status, {k.lower(): v for k, v in r.getheaders()}, data, r.getheaders())
    conn.close()
    return out


@pytest.fixture(scope="module")
def echo(nimbus):
    lam = nimbus.client()
    name = unique("echo")
    create(lam, name, {"app.py": ECHO}, handler="app.handler", Timeout=10)
    return lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]


def allow_apigateway(nimbus, function, api_id, source="*", qualifier=None):
    """What AWS's documentation has one do: let API Gateway invoke the function
    for the API (any stage, method and path, unless `source` narrows it)."""
    kw = {"Qualifier": qualifier} if qualifier else {}
    nimbus.client().add_permission(
        FunctionName=function, StatementId=unique("apigw"), Action="lambda:InvokeFunction",
        Principal="apigateway.amazonaws.com",
        SourceArn=f"arn:aws:execute-api:us-east-1:000000000000:{api_id}/{source}", **kw)


def make_public(lam, name):
    """What Lambda requires of a NONE function URL (the console adds it): its
    policy lets anyone invoke it through the URL."""
    lam.add_permission(FunctionName=name, StatementId=unique("url"), Action="lambda:InvokeFunctionUrl",
                       Principal="*", FunctionUrlAuthType="NONE")
    lam.add_permission(FunctionName=name, StatementId=unique("url-invoke"), Action="lambda:InvokeFunction",
                       Principal="*", InvokedViaFunctionUrl=True)


def make_api(nimbus, echo, payload="2.0", cors=None, routes=("GET /items/{id}", "POST /items", "ANY /files/{proxy+}", "GET /boom",
                                                               "GET /bad-shape", "GET /plain", "GET /binary", "GET /slow")):
    gw = nimbus.client("apigatewayv2")
    kw = {"CorsConfiguration": cors} if cors else {}
    api = gw.create_api(Name=unique("api"), ProtocolType="HTTP", **kw)
    allow_apigateway(nimbus, echo, api["ApiId"])
    integ = gw.create_integration(ApiId=api["ApiId"], IntegrationType="AWS_PROXY", IntegrationUri=echo,
                                  PayloadFormatVersion=payload, TimeoutInMillis=2000)
    for key in routes:
        gw.create_route(ApiId=api["ApiId"], RouteKey=key, Target="integrations/" + integ["IntegrationId"])
    gw.create_stage(ApiId=api["ApiId"], StageName="$default", AutoDeploy=True)
    return gw, api


def test_http_api_routes_with_payload_2(nimbus, echo):
    gw, api = make_api(nimbus, echo)
    host = f"{api['ApiId']}.execute-api.localhost"
    assert api["ApiEndpoint"].startswith(f"http://{api['ApiId']}.execute-api.localhost:")
    status, h, body, raw = call(nimbus, "GET", "/items/42?a=1&a=2&b=x%20y", host=host,
                                headers={"Cookie": "c1=v1; c2=v2", "X-Custom": "hello"})
    assert status == 200 and h["x-echo"] == "yes"
    assert [v for k, v in raw if k.lower() == "set-cookie"] == ["a=1; Path=/", "b=2"]
    ev = json.loads(body)["event"]
    assert ev["version"] == "2.0" and ev["routeKey"] == "GET /items/{id}"
    assert ev["rawPath"] == "/items/42" and ev["rawQueryString"] == "a=1&a=2&b=x%20y"
    assert ev["pathParameters"] == {"id": "42"}
    assert ev["queryStringParameters"] == {"a": "1,2", "b": "x y"}
    assert ev["cookies"] == ["c1=v1", "c2=v2"] and ev["headers"]["x-custom"] == "hello"
    assert ev["requestContext"]["http"]["method"] == "GET" and ev["requestContext"]["apiId"] == api["ApiId"]
    assert ev["requestContext"]["stage"] == "$default"
    # Greedy paths, POST with a binary body, and the path-based address.
    status, h, body, _ = call(nimbus, "PUT", f"/_nimbus/execute-api/{api['ApiId']}/files/a/b/c.txt",
                              body=b"\x00\x01\x02", headers={"content-type": "application/octet-stream"})
    ev = json.loads(body)["event"]
    assert status == 200 and ev["pathParameters"] == {"proxy": "a/b/c.txt"}
    assert ev["isBase64Encoded"] and base64.b64decode(ev["body"]) == b"\x00\x01\x02"
    status, _, body, _ = call(nimbus, "POST", "/items", host=host, body=json.dumps({"x": 1}),
                              headers={"content-type": "application/json"})
    assert status == 201 and json.loads(json.loads(body)["event"]["body"]) == {"x": 1}
    # Binary responses, plain results, and API Gateway's own errors.
    status, h, body, _ = call(nimbus, "GET", "/binary", host=host)
    assert status == 200 and body == b"\x89PNG\x00\x01" and h["content-type"] == "image/png"
    status, h, body, _ = call(nimbus, "GET", "/plain", host=host)
    assert status == 200 and json.loads(body) == {"just": "json"} and h["content-type"].startswith("application/json")
    assert call(nimbus, "GET", "/nowhere", host=host)[:1] == (404,)
    assert json.loads(call(nimbus, "GET", "/nowhere", host=host)[2]) == {"message": "Not Found"}
    status, _, body, _ = call(nimbus, "GET", "/boom", host=host)
    assert status == 502 and json.loads(body) == {"message": "Internal Server Error"}
    status, _, body, _ = call(nimbus, "GET", "/bad-shape", host=host)
    assert status == 500 and json.loads(body) == {"message": "Internal Server Error"}
    status, _, body, _ = call(nimbus, "GET", "/slow", host=host)
    assert status == 504
    assert call(nimbus, "GET", "/items/1", host="nosuchapi.execute-api.localhost")[0] == 404


def test_payload_1_and_named_stages_with_deployments(nimbus, echo):
    gw = nimbus.client("apigatewayv2")
    api = gw.create_api(Name=unique("v1"), ProtocolType="HTTP")
    allow_apigateway(nimbus, echo, api["ApiId"], "prod/GET/*")
    integ = gw.create_integration(ApiId=api["ApiId"], IntegrationType="AWS_PROXY", IntegrationUri=echo,
                                  PayloadFormatVersion="1.0")
    gw.create_route(ApiId=api["ApiId"], RouteKey="GET /users/{id}", Target="integrations/" + integ["IntegrationId"])
    gw.create_stage(ApiId=api["ApiId"], StageName="prod", StageVariables={"color": "blue"})
    host = f"{api['ApiId']}.execute-api.localhost"
    # Not deployed yet: the stage serves nothing.
    assert call(nimbus, "GET", "/prod/users/7", host=host)[0] == 404
    gw.create_deployment(ApiId=api["ApiId"], StageName="prod")
    status, h, body, raw = call(nimbus, "GET", "/prod/users/7?tag=a&tag=b", host=host, headers={"X-Two": "x"})
    assert status == 200 and [v for k, v in raw if k.lower() == "x-multi"] == ["1", "2"]
    ev = json.loads(body)["event"]
    assert ev["version"] == "1.0" and ev["httpMethod"] == "GET" and ev["resource"] == "/users/{id}"
    assert ev["path"] == "/prod/users/7" or ev["path"] == "/users/7"
    assert ev["pathParameters"] == {"id": "7"} and ev["stageVariables"] == {"color": "blue"}
    assert ev["queryStringParameters"] == {"tag": "b"} and ev["multiValueQueryStringParameters"] == {"tag": ["a", "b"]}
    assert ev["requestContext"]["stage"] == "prod"
    # A route added later is live only after the next deployment.
    gw.create_route(ApiId=api["ApiId"], RouteKey="GET /later", Target="integrations/" + integ["IntegrationId"])
    assert call(nimbus, "GET", "/prod/later", host=host)[0] == 404
    gw.create_deployment(ApiId=api["ApiId"], StageName="prod")
    assert call(nimbus, "GET", "/prod/later", host=host)[0] == 200


def test_management_api(nimbus, echo):
    gw = nimbus.client("apigatewayv2")
    api = gw.create_api(Name="quick", ProtocolType="HTTP", Target=echo)  # quick create
    allow_apigateway(nimbus, echo, api["ApiId"], "*/$default")
    assert {r["RouteKey"] for r in gw.get_routes(ApiId=api["ApiId"])["Items"]} == {"$default"}
    assert gw.get_stages(ApiId=api["ApiId"])["Items"][0]["StageName"] == "$default"
    status, _, body, _ = call(nimbus, "GET", "/anything/at/all", host=f"{api['ApiId']}.execute-api.localhost")
    assert status == 200 and json.loads(body)["event"]["routeKey"] == "$default"
    assert api["ApiId"] in [a["ApiId"] for a in gw.get_apis()["Items"]]
    gw.update_api(ApiId=api["ApiId"], Name="renamed")
    assert gw.get_api(ApiId=api["ApiId"])["Name"] == "renamed"
    route = gw.create_route(ApiId=api["ApiId"], RouteKey="GET /x")
    with pytest.raises(ClientError) as e:
        gw.create_route(ApiId=api["ApiId"], RouteKey="GET /x")
    assert e.value.response["Error"]["Code"] == "ConflictException"
    for bad in ["GET x", "FETCH /x", "GET /{proxy+}/tail"]:
        with pytest.raises(ClientError) as e:
            gw.create_route(ApiId=api["ApiId"], RouteKey=bad)
        assert e.value.response["Error"]["Code"] == "BadRequestException", bad
    with pytest.raises(ClientError) as e:
        gw.create_route(ApiId=api["ApiId"], RouteKey="GET /y", Target="integrations/nope")
    assert e.value.response["Error"]["Code"] == "NotFoundException"
    gw.delete_route(ApiId=api["ApiId"], RouteId=route["RouteId"])
    with pytest.raises(ClientError) as e:
        gw.get_api(ApiId="missing00")
    assert e.value.response["Error"]["Code"] == "NotFoundException"
    gw.delete_api(ApiId=api["ApiId"])
    assert call(nimbus, "GET", "/", host=f"{api['ApiId']}.execute-api.localhost")[0] == 404


def test_cors(nimbus, echo):
    gw, api = make_api(nimbus, echo, cors={"AllowOrigins": ["https://app.example"], "AllowMethods": ["GET", "POST"],
                                           "AllowHeaders": ["content-type"], "MaxAge": 300})
    host = f"{api['ApiId']}.execute-api.localhost"
    status, h, _, _ = call(nimbus, "OPTIONS", "/items/1", host=host,
                           headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"})
    assert status == 204 and h["access-control-allow-origin"] == "https://app.example"
    assert "POST" in h["access-control-allow-methods"] and h["access-control-max-age"] == "300"
    status, h, _, _ = call(nimbus, "GET", "/items/1", host=host, headers={"Origin": "https://app.example"})
    assert status == 200 and h["access-control-allow-origin"] == "https://app.example"
    status, h, _, _ = call(nimbus, "GET", "/items/1", host=host, headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in h


def test_api_gateway_invokes_only_what_the_functions_policy_or_a_role_allows(nimbus):
    lam = nimbus.client()
    name = unique("guarded")
    create(lam, name, {"app.py": ECHO}, handler="app.handler")
    fn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    gw, api = make_api(nimbus, echo=fn, routes=("GET /plain",))
    host = f"{api['ApiId']}.execute-api.localhost"
    assert call(nimbus, "GET", "/plain", host=host)[0] == 200
    # Without the function's permission: API Gateway's 500, the function never runs.
    lam.remove_permission(FunctionName=name, StatementId=json.loads(
        lam.get_policy(FunctionName=name)["Policy"])["Statement"][0]["Sid"])
    status, _, body, _ = call(nimbus, "GET", "/plain", host=host)
    assert status == 500 and json.loads(body) == {"message": "Internal Server Error"}
    # A permission for another route of the API does not do either; this route's does.
    allow_apigateway(nimbus, fn, api["ApiId"], "*/POST/plain")
    assert call(nimbus, "GET", "/plain", host=host)[0] == 500
    allow_apigateway(nimbus, fn, api["ApiId"], "$default/GET/plain")
    status, _, body, _ = call(nimbus, "GET", "/plain", host=host)
    assert status == 200 and json.loads(body) == {"just": "json"}
    # An integration with a role invokes as the role, whatever the function's policy.
    other = gw.create_api(Name=unique("api"), ProtocolType="HTTP")
    integ = gw.create_integration(ApiId=other["ApiId"], IntegrationType="AWS_PROXY", IntegrationUri=fn,
                                  PayloadFormatVersion="2.0", CredentialsArn=ROLE)
    assert integ["CredentialsArn"] == ROLE
    gw.create_route(ApiId=other["ApiId"], RouteKey="GET /plain", Target="integrations/" + integ["IntegrationId"])
    gw.create_stage(ApiId=other["ApiId"], StageName="$default", AutoDeploy=True)
    assert call(nimbus, "GET", "/plain", host=f"{other['ApiId']}.execute-api.localhost")[0] == 200


def test_function_urls(nimbus, echo):
    lam = nimbus.client()
    name = echo.split(":")[-1]
    cfg = lam.create_function_url_config(FunctionName=name, AuthType="NONE",
                                         Cors={"AllowOrigins": ["*"], "AllowMethods": ["GET"]})
    url = urllib.parse.urlparse(cfg["FunctionUrl"])
    assert url.hostname.endswith(".lambda-url.us-east-1.localhost") and cfg["AuthType"] == "NONE"
    url_id = url.hostname.split(".")[0]
    # A NONE URL is public only once the function's policy says so.
    status, _, body, _ = call(nimbus, "GET", "/plain", host=url.hostname)
    assert status == 403 and json.loads(body) == {"Message": "Forbidden"}
    make_public(lam, name)
    status, h, body, raw = call(nimbus, "GET", "/hello/world?q=1", host=url.hostname, headers={"Origin": "https://x"})
    ev = json.loads(body)["event"]
    assert status == 200 and ev["rawPath"] == "/hello/world" and ev["requestContext"]["domainPrefix"] == url_id
    assert ev["routeKey"] == "$default" and h["access-control-allow-origin"] == "*"
    status, _, body, _ = call(nimbus, "GET", f"/_nimbus/lambda-url/{url_id}/plain")
    assert status == 200 and json.loads(body) == {"just": "json"}
    assert call(nimbus, "GET", "/boom", host=url.hostname)[0] == 502
    assert lam.get_function_url_config(FunctionName=name)["FunctionUrl"] == cfg["FunctionUrl"]
    assert [c["FunctionUrl"] for c in lam.list_function_url_configs(FunctionName=name)["FunctionUrlConfigs"]] == [cfg["FunctionUrl"]]
    with pytest.raises(ClientError) as e:
        lam.create_function_url_config(FunctionName=name, AuthType="NONE")
    assert e.value.response["Error"]["Code"] == "ResourceConflictException"
    # AWS_IAM: unsigned calls are refused; signed ones reach the function.
    lam.update_function_url_config(FunctionName=name, AuthType="AWS_IAM")
    assert call(nimbus, "GET", "/plain", host=url.hostname)[0] == 403
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    req = AWSRequest(method="GET", url=f"{nimbus.endpoint}/_nimbus/lambda-url/{url_id}/plain")
    SigV4Auth(nimbus.session().get_credentials(), "lambda", "us-east-1").add_auth(req)
    status, _, body, _ = call(nimbus, "GET", f"/_nimbus/lambda-url/{url_id}/plain", headers=dict(req.prepare().headers))
    assert status == 200 and json.loads(body) == {"just": "json"}
    lam.delete_function_url_config(FunctionName=name)
    assert call(nimbus, "GET", "/", host=url.hostname)[0] == 403
    # Resource policies are kept with the function (the other tests' APIs add theirs).
    lam.add_permission(FunctionName=name, StatementId="apigw", Action="lambda:InvokeFunction",
                       Principal="apigateway.amazonaws.com")
    policy = json.loads(lam.get_policy(FunctionName=name)["Policy"])
    assert "apigw" in [st["Sid"] for st in policy["Statement"]]
    lam.remove_permission(FunctionName=name, StatementId="apigw")


def signed_url_call(nimbus, url_id, credentials):
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    req = AWSRequest(method="GET", url=f"{nimbus.endpoint}/_nimbus/lambda-url/{url_id}/plain")
    SigV4Auth(credentials, "lambda", "us-east-1").add_auth(req)
    return call(nimbus, "GET", f"/_nimbus/lambda-url/{url_id}/plain", headers=dict(req.prepare().headers))


def url_user(nimbus, policy=None):
    """A user (with `policy` inline, if any) and its credentials."""
    from botocore.credentials import Credentials
    iam = nimbus.client("iam")
    user = unique("url-caller")
    arn = iam.create_user(UserName=user)["User"]["Arn"]
    if policy:
        iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=json.dumps(policy))
    k = iam.create_access_key(UserName=user)["AccessKey"]
    return arn, Credentials(k["AccessKeyId"], k["SecretAccessKey"])


def test_aws_iam_urls_admit_only_callers_allowed_invoke_function_url(nimbus):
    lam = nimbus.client()
    name = unique("iam-url")
    create(lam, name, {"app.py": ECHO}, handler="app.handler")
    fn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    cfg = lam.create_function_url_config(FunctionName=name, AuthType="AWS_IAM")
    url_id = urllib.parse.urlparse(cfg["FunctionUrl"]).hostname.split(".")[0]
    # An identity policy allowing lambda:InvokeFunctionUrl for AWS_IAM URLs.
    # Identity policies allowing both actions Lambda requires of URL callers.
    _, allowed = url_user(nimbus, {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "lambda:InvokeFunctionUrl", "Resource": fn,
         "Condition": {"StringEquals": {"lambda:FunctionUrlAuthType": "AWS_IAM"}}},
        {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": fn,
         "Condition": {"Bool": {"lambda:InvokedViaFunctionUrl": "true"}}}]})
    status, _, body, _ = signed_url_call(nimbus, url_id, allowed)
    assert status == 200 and json.loads(body) == {"just": "json"}
    # The condition key is AWS_IAM here: a policy for NONE URLs does not apply.
    _, wrong_type = url_user(nimbus, {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "lambda:InvokeFunctionUrl", "Resource": fn,
         "Condition": {"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}}},
        {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": fn}]})
    status, _, body, _ = signed_url_call(nimbus, url_id, wrong_type)
    assert status == 403 and json.loads(body) == {"Message": "Forbidden"}
    # A user allowed nothing is refused until the function's policy lets it in.
    stranger_arn, stranger = url_user(nimbus)
    status, _, body, _ = signed_url_call(nimbus, url_id, stranger)
    assert status == 403 and json.loads(body) == {"Message": "Forbidden"}
    lam.add_permission(FunctionName=name, StatementId="url", Action="lambda:InvokeFunctionUrl",
                       Principal=stranger_arn, FunctionUrlAuthType="AWS_IAM")
    statement = json.loads(lam.get_policy(FunctionName=name)["Policy"])["Statement"][0]
    assert statement["Condition"] == {"StringEquals": {"lambda:FunctionUrlAuthType": "AWS_IAM"}}
    # lambda:InvokeFunctionUrl alone is not enough.
    assert signed_url_call(nimbus, url_id, stranger)[0] == 403
    lam.add_permission(FunctionName=name, StatementId="url-invoke", Action="lambda:InvokeFunction",
                       Principal=stranger_arn, InvokedViaFunctionUrl=True)
    assert signed_url_call(nimbus, url_id, stranger)[0] == 200
    # The unsigned are refused whatever the policy.
    assert call(nimbus, "GET", f"/_nimbus/lambda-url/{url_id}/plain")[0] == 403


SIMPLE_AUTHORIZER = '''
calls = 0

def handler(event, context):
    global calls
    calls += 1
    token = event["headers"].get("authorization", "")
    return {"isAuthorized": token == "let-me-in", "context": {"user": "ada", "calls": calls,
            "routeArn": event["routeArn"], "type": event["type"]}}
'''

POLICY_AUTHORIZER = '''
def handler(event, context):
    effect = "Allow" if event["identitySource"] == "admin" else "Deny"
    return {"principalId": "user-1", "context": {"role": event["identitySource"]},
            "policyDocument": {"Version": "2012-10-17", "Statement": [
                {"Action": "execute-api:Invoke", "Effect": effect, "Resource": [event["methodArn"]]}]}}
'''


def test_lambda_authorizers(nimbus, echo):
    lam = nimbus.client()
    simple, policy = unique("authz-simple"), unique("authz-policy")
    create(lam, simple, {"app.py": SIMPLE_AUTHORIZER}, handler="app.handler")
    create(lam, policy, {"app.py": POLICY_AUTHORIZER}, handler="app.handler")
    arn = lambda n: lam.get_function(FunctionName=n)["Configuration"]["FunctionArn"]
    gw = nimbus.client("apigatewayv2")
    api = gw.create_api(Name=unique("authz"), ProtocolType="HTTP")
    allow_apigateway(nimbus, echo, api["ApiId"])
    integ = gw.create_integration(ApiId=api["ApiId"], IntegrationType="AWS_PROXY", IntegrationUri=echo,
                                  PayloadFormatVersion="2.0")
    a1 = gw.create_authorizer(ApiId=api["ApiId"], Name="simple", AuthorizerType="REQUEST",
                              AuthorizerUri=f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{arn(simple)}/invocations",
                              IdentitySource=["$request.header.Authorization"], AuthorizerPayloadFormatVersion="2.0",
                              EnableSimpleResponses=True, AuthorizerResultTtlInSeconds=300)
    a2 = gw.create_authorizer(ApiId=api["ApiId"], Name="policy", AuthorizerType="REQUEST", AuthorizerUri=arn(policy),
                              IdentitySource=["$request.querystring.role"], AuthorizerPayloadFormatVersion="1.0",
                              AuthorizerResultTtlInSeconds=0)
    # Authorizers are invoked for `API/authorizers/ID`.
    allow_apigateway(nimbus, arn(simple), api["ApiId"], f"authorizers/{a1['AuthorizerId']}")
    allow_apigateway(nimbus, arn(policy), api["ApiId"], f"authorizers/{a2['AuthorizerId']}")
    gw.create_route(ApiId=api["ApiId"], RouteKey="GET /simple", Target="integrations/" + integ["IntegrationId"],
                    AuthorizationType="CUSTOM", AuthorizerId=a1["AuthorizerId"])
    gw.create_route(ApiId=api["ApiId"], RouteKey="GET /policy", Target="integrations/" + integ["IntegrationId"],
                    AuthorizationType="CUSTOM", AuthorizerId=a2["AuthorizerId"])
    gw.create_stage(ApiId=api["ApiId"], StageName="$default", AutoDeploy=True)
    host = f"{api['ApiId']}.execute-api.localhost"
    # No identity: 401 without calling the authorizer; wrong token: 403.
    assert call(nimbus, "GET", "/simple", host=host) [:1] == (401,)
    assert json.loads(call(nimbus, "GET", "/simple", host=host)[2]) == {"message": "Unauthorized"}
    status, _, body, _ = call(nimbus, "GET", "/simple", host=host, headers={"Authorization": "nope"})
    assert status == 403 and json.loads(body) == {"message": "Forbidden"}
    status, _, body, _ = call(nimbus, "GET", "/simple", host=host, headers={"Authorization": "let-me-in"})
    assert status == 200
    ctx = json.loads(body)["event"]["requestContext"]["authorizer"]["lambda"]
    assert ctx["user"] == "ada" and ctx["type"] == "REQUEST"
    assert ctx["routeArn"].startswith(f"arn:aws:execute-api:us-east-1:000000000000:{api['ApiId']}/$default/GET/simple")
    # The answer is cached per identity: the authorizer is not called again for the same token.
    again = json.loads(call(nimbus, "GET", "/simple", host=host, headers={"Authorization": "let-me-in"})[2])
    assert again["event"]["requestContext"]["authorizer"]["lambda"]["calls"] == ctx["calls"]
    # IAM policy answers (payload 1.0), not cached.
    assert call(nimbus, "GET", "/policy?role=guest", host=host)[0] == 403
    status, _, body, _ = call(nimbus, "GET", "/policy?role=admin", host=host)
    assert status == 200
    assert json.loads(body)["event"]["requestContext"]["authorizer"]["lambda"]["role"] == "admin"
    with pytest.raises(ClientError) as e:
        gw.create_route(ApiId=api["ApiId"], RouteKey="GET /x", AuthorizationType="CUSTOM", AuthorizerId="nope")
    assert e.value.response["Error"]["Code"] == "NotFoundException"
    with pytest.raises(ClientError) as e:
        gw.create_authorizer(ApiId=api["ApiId"], Name="bad", AuthorizerType="REQUEST", AuthorizerUri=arn(simple),
                             IdentitySource=["header.Authorization"], AuthorizerPayloadFormatVersion="2.0")
    assert e.value.response["Error"]["Code"] == "BadRequestException"


def test_rest_api_with_proxy_resources_and_stage_variables(nimbus, echo):
    lam = nimbus.client()
    name = echo.split(":")[-1]
    lam.publish_version(FunctionName=name)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    ag = nimbus.client("apigateway")
    api = ag.create_rest_api(name=unique("rest"))
    allow_apigateway(nimbus, echo, api["id"], "*/GET/items/*")
    allow_apigateway(nimbus, echo, api["id"], "*/*/*", qualifier="live")
    root = api["rootResourceId"]
    items = ag.create_resource(restApiId=api["id"], parentId=root, pathPart="items")
    item = ag.create_resource(restApiId=api["id"], parentId=items["id"], pathPart="{id}")
    proxy = ag.create_resource(restApiId=api["id"], parentId=root, pathPart="{proxy+}")
    assert item["path"] == "/items/{id}" and proxy["path"] == "/{proxy+}"
    uri = lambda target: f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{target}/invocations"
    for res, method, target in [(item, "GET", echo), (proxy, "ANY", echo + ":${stageVariables.alias}")]:
        ag.put_method(restApiId=api["id"], resourceId=res["id"], httpMethod=method, authorizationType="NONE")
        ag.put_integration(restApiId=api["id"], resourceId=res["id"], httpMethod=method, type="AWS_PROXY",
                           integrationHttpMethod="POST", uri=uri(target))
        ag.put_method_response(restApiId=api["id"], resourceId=res["id"], httpMethod=method, statusCode="200")
    # A CORS preflight the gateway answers itself: a MOCK integration whose request
    # template picks the integration response by status.
    ag.put_method(restApiId=api["id"], resourceId=items["id"], httpMethod="OPTIONS", authorizationType="NONE")
    ag.put_integration(restApiId=api["id"], resourceId=items["id"], httpMethod="OPTIONS", type="MOCK",
                       requestTemplates={"application/json": '{"statusCode": 200}'})
    ag.put_method_response(restApiId=api["id"], resourceId=items["id"], httpMethod="OPTIONS", statusCode="200",
                           responseParameters={"method.response.header.Access-Control-Allow-Origin": False})
    ag.put_integration_response(restApiId=api["id"], resourceId=items["id"], httpMethod="OPTIONS", statusCode="200",
                                responseParameters={"method.response.header.Access-Control-Allow-Origin": "'*'"},
                                responseTemplates={"application/json": '{"preflight": true}'})
    ag.put_integration_response(restApiId=api["id"], resourceId=items["id"], httpMethod="OPTIONS", statusCode="500",
                                selectionPattern="5\\d{2}")
    mock = ag.get_integration(restApiId=api["id"], resourceId=items["id"], httpMethod="OPTIONS")
    assert mock["type"] == "MOCK" and set(mock["integrationResponses"]) == {"200", "500"}
    ag.create_deployment(restApiId=api["id"], stageName="prod", variables={"alias": "live"})
    status, headers, body, _ = call(nimbus, "OPTIONS", "/prod/items", host=f"{api['id']}.execute-api.localhost")
    assert status == 200 and headers["access-control-allow-origin"] == "*" and json.loads(body) == {"preflight": True}
    stage = ag.get_stage(restApiId=api["id"], stageName="prod")
    assert stage["variables"] == {"alias": "live"}
    resources = {r["path"]: r for r in ag.get_resources(restApiId=api["id"])["items"]}
    assert set(resources) == {"/", "/items", "/items/{id}", "/{proxy+}"}
    assert "GET" in resources["/items/{id}"]["resourceMethods"]
    host = f"{api['id']}.execute-api.localhost"
    status, _, body, raw = call(nimbus, "GET", "/prod/items/9?q=1&q=2", host=host)
    ev = json.loads(body)["event"]
    assert status == 200 and ev["resource"] == "/items/{id}" and ev["path"] == "/items/9"
    assert ev["httpMethod"] == "GET" and ev["pathParameters"] == {"id": "9"}
    assert ev["multiValueQueryStringParameters"] == {"q": ["1", "2"]} and ev["stageVariables"] == {"alias": "live"}
    assert ev["requestContext"]["stage"] == "prod" and ev["requestContext"]["path"] == "/prod/items/9"
    # The greedy resource, through the alias a stage variable names; and LocalStack's path form.
    status, _, body, _ = call(nimbus, "DELETE", f"/restapis/{api['id']}/prod/_user_request_/a/b")
    ev = json.loads(body)["event"]
    assert status == 200 and ev["pathParameters"] == {"proxy": "a/b"} and ev["resource"] == "/{proxy+}"
    # A method the tree lacks, an unknown stage.
    status, _, body, _ = call(nimbus, "POST", "/prod/", host=host)
    assert status == 403 and json.loads(body) == {"message": "Missing Authentication Token"}
    assert call(nimbus, "GET", "/dev/items/9", host=host)[0] == 403
    status, _, body, _ = call(nimbus, "GET", "/prod/boom", host=host)
    assert status == 502 and json.loads(body) == {"message": "Internal server error"}
    # Stage updates with patch operations; redeploys.
    ag.update_stage(restApiId=api["id"], stageName="prod",
                    patchOperations=[{"op": "replace", "path": "/variables/color", "value": "red"}])
    assert ag.get_stage(restApiId=api["id"], stageName="prod")["variables"] == {"alias": "live", "color": "red"}
    with pytest.raises(ClientError) as e:
        ag.create_resource(restApiId=api["id"], parentId=root, pathPart="items")
    assert e.value.response["Error"]["Code"] == "ConflictException"
    with pytest.raises(ClientError) as e:
        ag.put_integration(restApiId=api["id"], resourceId=item["id"], httpMethod="GET", type="HTTP",
                           integrationHttpMethod="GET", uri="http://example.com")
    assert e.value.response["Error"]["Code"] == "BadRequestException"
    assert api["id"] in [a["id"] for a in ag.get_rest_apis()["items"]]
    ag.delete_rest_api(restApiId=api["id"])
    assert call(nimbus, "GET", "/prod/items/9", host=host)[0] == 404


def test_rest_api_token_authorizers_through_the_management_api(nimbus, echo):
    lam, ag = nimbus.client(), nimbus.client("apigateway")
    gate = unique("gate")
    gate_arn = create(lam, gate, {"app.py": (
        "def handler(event, context):\n"
        "    effect = 'Allow' if event['authorizationToken'] == 'Bearer good' else 'Deny'\n"
        "    return {'principalId': 'me', 'policyDocument': {'Version': '2012-10-17', 'Statement': [\n"
        "        {'Action': 'execute-api:Invoke', 'Effect': effect, 'Resource': event['methodArn']}]}}\n")},
        handler="app.handler")["FunctionArn"]
    api = ag.create_rest_api(name=unique("guarded"))
    uri = lambda target: f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{target}/invocations"
    z = ag.create_authorizer(restApiId=api["id"], name="bearer", type="TOKEN", authorizerUri=uri(gate_arn),
                             identitySource="method.request.header.Authorization", authorizerResultTtlInSeconds=0)
    assert z["authorizerResultTtlInSeconds"] == 0
    nimbus.client().add_permission(FunctionName=gate, StatementId="apigw", Action="lambda:InvokeFunction",
                                   Principal="apigateway.amazonaws.com",
                                   SourceArn=f"arn:aws:execute-api:us-east-1:000000000000:{api['id']}/authorizers/{z['id']}")
    allow_apigateway(nimbus, echo, api["id"])
    with pytest.raises(ClientError) as e:
        ag.put_method(restApiId=api["id"], resourceId=api["rootResourceId"], httpMethod="GET",
                      authorizationType="CUSTOM", authorizerId="nope")
    assert e.value.response["Error"]["Code"] == "BadRequestException"
    ag.put_method(restApiId=api["id"], resourceId=api["rootResourceId"], httpMethod="GET",
                  authorizationType="CUSTOM", authorizerId=z["id"])
    ag.put_integration(restApiId=api["id"], resourceId=api["rootResourceId"], httpMethod="GET", type="AWS_PROXY",
                       integrationHttpMethod="POST", uri=uri(echo))
    assert ag.get_method(restApiId=api["id"], resourceId=api["rootResourceId"], httpMethod="GET")["authorizerId"] == z["id"]
    ag.create_deployment(restApiId=api["id"], stageName="v1")
    host = f"{api['id']}.execute-api.localhost"
    assert call(nimbus, "GET", "/v1/", host=host)[0] == 401
    status, _, body, _ = call(nimbus, "GET", "/v1/", host=host, headers={"Authorization": "Bearer good"})
    assert status == 200 and json.loads(body)["event"]["requestContext"]["authorizer"]["principalId"] == "me"
    assert call(nimbus, "GET", "/v1/", host=host, headers={"Authorization": "Bearer bad"})[0] == 403
    # A validation expression refuses malformed tokens before the function is asked.
    ag.update_authorizer(restApiId=api["id"], authorizerId=z["id"], patchOperations=[
        {"op": "replace", "path": "/identityValidationExpression", "value": "Bearer [a-z]+"}])
    assert ag.get_authorizer(restApiId=api["id"], authorizerId=z["id"])["identityValidationExpression"] == "Bearer [a-z]+"
    assert call(nimbus, "GET", "/v1/", host=host, headers={"Authorization": "Basic x"})[0] == 401
    with pytest.raises(ClientError) as e:
        ag.delete_authorizer(restApiId=api["id"], authorizerId=z["id"])
    assert e.value.response["Error"]["Code"] == "ConflictException"
    with pytest.raises(ClientError) as e:
        ag.create_authorizer(restApiId=api["id"], name="pool", type="COGNITO_USER_POOLS", providerARNs=["arn:x"])
    assert e.value.response["Error"]["Code"] == "BadRequestException"


STREAMER = r'''
exports.handler = awslambda.streamifyResponse(async (event, responseStream, context) => {
  const path = event.rawPath || "";
  if (path.endsWith("/fail")) {
    responseStream.write("partial ");
    throw new Error("failed part way");
  }
  const http = path.length > 0;
  const out = http ? awslambda.HttpResponseStream.from(responseStream, {
    statusCode: 201, headers: { "content-type": "text/plain", "x-streamed": "yes" }, cookies: ["s=1"] }) : responseStream;
  out.write("first ");
  await new Promise((r) => setTimeout(r, 1500));
  out.write("second");
  out.end();
});
'''


def test_response_streaming(nimbus):
    """InvokeWithResponseStream and RESPONSE_STREAM function URLs: the first bytes
    arrive before the function finishes."""
    lam = nimbus.client()
    name = unique("streamer")
    create(lam, name, {"index.js": STREAMER}, runtime="nodejs20.x", handler="index.handler", Timeout=10)
    start = time.monotonic()
    resp = lam.invoke_with_response_stream(FunctionName=name, Payload=b"{}")
    events = resp["EventStream"]
    first = next(iter(events))
    first_at = time.monotonic() - start
    assert first["PayloadChunk"]["Payload"] == b"first "
    rest = list(events)
    done_at = time.monotonic() - start
    chunks = b"".join(e["PayloadChunk"]["Payload"] for e in rest if "PayloadChunk" in e)
    assert chunks == b"second" and "InvokeComplete" in rest[-1]
    assert "ErrorCode" not in rest[-1]["InvokeComplete"]
    assert first_at < done_at - 1.0, (first_at, done_at)
    # A failure part way ends the stream with the error.
    fail = list(lam.invoke_with_response_stream(FunctionName=name, Payload=json.dumps({"rawPath": "/fail"}).encode())["EventStream"])
    assert fail[0]["PayloadChunk"]["Payload"] == b"partial "
    assert fail[-1]["InvokeComplete"]["ErrorCode"] == "Error"
    assert "failed part way" in fail[-1]["InvokeComplete"]["ErrorDetails"]
    # A buffered function through the same API: one chunk, then the end.
    plain = unique("plain")
    create(lam, plain, {"app.py": "def handler(e, c):\n    return {'ok': True}\n"}, handler="app.handler")
    got = list(lam.invoke_with_response_stream(FunctionName=plain, Payload=b"{}")["EventStream"])
    assert json.loads(got[0]["PayloadChunk"]["Payload"]) == {"ok": True} and "InvokeComplete" in got[-1]
    # A function URL in RESPONSE_STREAM mode: status and headers from the prelude, body as it comes.
    cfg = lam.create_function_url_config(FunctionName=name, AuthType="NONE", InvokeMode="RESPONSE_STREAM")
    make_public(lam, name)
    host = urllib.parse.urlparse(cfg["FunctionUrl"]).hostname
    url = urllib.parse.urlparse(nimbus.endpoint)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    start = time.monotonic()
    conn.request("GET", "/stream/me", headers={"Host": host})
    r = conn.getresponse()
    assert r.status == 201 and r.getheader("x-streamed") == "yes" and r.getheader("set-cookie") == "s=1"
    first = r.read1(64)
    first_at = time.monotonic() - start
    rest = r.read()
    done_at = time.monotonic() - start
    assert first == b"first " and rest == b"second"
    assert first_at < done_at - 1.0, (first_at, done_at)
    conn.close()


def jwt_signer():
    """RS256 tokens signed with the test key in tests/cases/jwt (pure Python)."""
    import hashlib
    import pathlib
    key = json.loads((pathlib.Path(__file__).parents[1] / "cases" / "jwt" / "test-key.json").read_text())
    n, e, d = int(key["n"], 16), key["e"], int(key["d"], 16)
    size = (n.bit_length() + 7) // 8
    b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
    def be(i):
        return i.to_bytes((i.bit_length() + 7) // 8, "big")
    jwk = {"kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig", "n": b64(be(n)), "e": b64(be(e))}

    def sign(claims, kid="k1"):
        head = b64(json.dumps({"alg": "RS256", "typ": "JWT", "kid": kid}).encode())
        body = b64(json.dumps(claims).encode())
        digest = hashlib.sha256(f"{head}.{body}".encode()).digest()
        info = bytes.fromhex("3031300d060960864801650304020105000420") + digest
        em = b"\x00\x01" + b"\xff" * (size - len(info) - 3) + b"\x00" + info
        sig = pow(int.from_bytes(em, "big"), d, n).to_bytes(size, "big")
        return f"{head}.{body}.{b64(sig)}"
    return jwk, sign


def test_jwt_authorizers(nimbus, echo, tmp_path):
    jwk, sign = jwt_signer()
    issuer_dir = tmp_path / "issuer"
    (issuer_dir / ".well-known").mkdir(parents=True)
    (issuer_dir / ".well-known" / "jwks.json").write_text(json.dumps({"keys": [jwk]}))
    issuer = f"file://{issuer_dir}"
    gw = nimbus.client("apigatewayv2")
    api = gw.create_api(Name=unique("jwt"), ProtocolType="HTTP")
    allow_apigateway(nimbus, echo, api["ApiId"])
    integ = gw.create_integration(ApiId=api["ApiId"], IntegrationType="AWS_PROXY", IntegrationUri=echo,
                                  PayloadFormatVersion="2.0")
    authz = gw.create_authorizer(ApiId=api["ApiId"], Name="jwt", AuthorizerType="JWT",
                                 IdentitySource=["$request.header.Authorization"],
                                 JwtConfiguration={"Issuer": issuer, "Audience": ["my-app"]})
    assert authz["JwtConfiguration"]["Issuer"] == issuer
    gw.create_route(ApiId=api["ApiId"], RouteKey="GET /me", Target="integrations/" + integ["IntegrationId"],
                    AuthorizationType="JWT", AuthorizerId=authz["AuthorizerId"])
    gw.create_route(ApiId=api["ApiId"], RouteKey="GET /admin", Target="integrations/" + integ["IntegrationId"],
                    AuthorizationType="JWT", AuthorizerId=authz["AuthorizerId"], AuthorizationScopes=["admin"])
    gw.create_stage(ApiId=api["ApiId"], StageName="$default", AutoDeploy=True)
    host = f"{api['ApiId']}.execute-api.localhost"
    now = int(time.time())
    good = sign({"iss": issuer, "aud": "my-app", "sub": "user-7", "exp": now + 600, "scope": "read write"})
    status, _, body, _ = call(nimbus, "GET", "/me", host=host, headers={"Authorization": f"Bearer {good}"})
    assert status == 200
    jwt = json.loads(body)["event"]["requestContext"]["authorizer"]["jwt"]
    assert jwt["claims"]["sub"] == "user-7" and jwt["claims"]["exp"] == str(now + 600)
    assert jwt["scopes"] == ["read", "write"]
    # Refusals: none, expired, wrong audience, wrong issuer, forged, unknown key; scopes.
    assert call(nimbus, "GET", "/me", host=host)[0] == 401
    for bad in [
        sign({"iss": issuer, "aud": "my-app", "exp": now - 10}),
        sign({"iss": issuer, "aud": "other", "exp": now + 600}),
        sign({"iss": "file:///elsewhere", "aud": "my-app", "exp": now + 600}),
        good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB"),
        sign({"iss": issuer, "aud": "my-app", "exp": now + 600}, kid="k2"),
        "not-a-jwt",
    ]:
        status, h, body, _ = call(nimbus, "GET", "/me", host=host, headers={"Authorization": f"Bearer {bad}"})
        assert status == 401 and json.loads(body) == {"message": "Unauthorized"}, bad
        assert h["www-authenticate"].startswith("Bearer")
    assert call(nimbus, "GET", "/admin", host=host, headers={"Authorization": f"Bearer {good}"})[0] == 403
    admin = sign({"iss": issuer, "client_id": "my-app", "exp": now + 600, "scope": "admin"})
    assert call(nimbus, "GET", "/admin", host=host, headers={"Authorization": admin})[0] == 200


def test_throttled_functions_answer_429(nimbus):
    lam = nimbus.client()
    name = unique("throttled")
    create(lam, name, {"app.py": ECHO}, handler="app.handler")
    arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    gw = nimbus.client("apigatewayv2")
    api = gw.create_api(Name=unique("throttle"), ProtocolType="HTTP", Target=arn)
    allow_apigateway(nimbus, arn, api["ApiId"])
    status, _, body, _ = call(nimbus, "GET", "/x", host=f"{api['ApiId']}.execute-api.localhost")
    assert status == 429 and json.loads(body) == {"message": "Too Many Requests"}
    url = lam.create_function_url_config(FunctionName=name, AuthType="NONE")["FunctionUrl"]
    make_public(lam, name)
    assert call(nimbus, "GET", "/x", host=urllib.parse.urlparse(url).hostname)[0] == 429
