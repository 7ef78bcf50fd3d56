"""EventBridge API destinations with boto3: a connection (basic auth, an invocation header
and query parameter), an API destination with a path parameter, a rule calling it with an
input transformer; a destination that keeps failing is retried by the target's retry
policy and then dead-lettered with EventBridge's attributes; a client error is not
retried; what EventBridge refuses."""
import base64
import json
import queue
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from botocore.exceptions import ClientError

from conftest import ROLE, unique


class Receiver:
    """An HTTP endpoint that records each request and answers with `status`."""

    def __init__(self, status=200):
        self.requests = queue.Queue()
        self.status = status
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def handle_any(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0))).decode()
                outer.requests.put((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(outer.status)
                self.send_header("content-length", "0")
                self.end_headers()

            do_POST = do_PUT = do_GET = handle_any

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.server.server_port}"

    def next(self, timeout=60):
        try:
            return self.requests.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"nothing reached {self.base} within {timeout}s")

    def close(self):
        self.server.shutdown()


def dlq_for(sqs, rule_arn):
    url = sqs.create_queue(QueueName=unique("api-dlq"))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sqs:SendMessage", "Resource": arn,
            "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}}}]})})
    return url, arn


def dead_letters(sqs, url, deadline_s=60):
    deadline, got = time.monotonic() + deadline_s, []
    while time.monotonic() < deadline and not got:
        got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1, MessageAttributeNames=["All"]).get("Messages", [])
    assert got, f"nothing reached the dead-letter queue {url}"
    return got[0]


def test_rules_call_api_destinations_with_their_connection(nimbus):
    ev = nimbus.client("events")
    hook = Receiver()
    try:
        conn = ev.create_connection(
            Name=unique("conn"), AuthorizationType="BASIC",
            AuthParameters={"BasicAuthParameters": {"Username": "user", "Password": "secret"},
                            "InvocationHttpParameters": {
                                "HeaderParameters": [{"Key": "x-team", "Value": "orders", "IsValueSecret": False}],
                                "QueryStringParameters": [{"Key": "source", "Value": "nimbus", "IsValueSecret": True}]}})
        assert conn["ConnectionState"] == "AUTHORIZED"
        name = conn["ConnectionArn"].split("/")[1]
        shown = ev.describe_connection(Name=name)
        assert shown["AuthParameters"]["BasicAuthParameters"] == {"Username": "user"}
        assert "Value" not in shown["AuthParameters"]["InvocationHttpParameters"]["QueryStringParameters"][0]
        dest = ev.create_api_destination(
            Name=unique("dest"), ConnectionArn=conn["ConnectionArn"],
            InvocationEndpoint=hook.base + "/orders/*", HttpMethod="PUT", InvocationRateLimitPerSecond=10)
        described = ev.describe_api_destination(Name=dest["ApiDestinationArn"].split("/")[1])
        assert described["HttpMethod"] == "PUT" and described["ApiDestinationState"] == "ACTIVE"
        rule = unique("to-api")
        ev.put_rule(Name=rule, EventPattern=json.dumps({"source": ["api.test"]}))
        with_no_role = ev.put_targets(Rule=rule, Targets=[{"Id": "api", "Arn": dest["ApiDestinationArn"]}])
        assert with_no_role["FailedEntryCount"] == 1
        ev.put_targets(Rule=rule, Targets=[{
            "Id": "api", "Arn": dest["ApiDestinationArn"], "RoleArn": ROLE,
            "HttpParameters": {"PathParameterValues": ["o-7"], "HeaderParameters": {"x-kind": "new"},
                               "QueryStringParameters": {"v": "2"}},
            "InputTransformer": {"InputPathsMap": {"id": "$.detail.id"}, "InputTemplate": '{"order": <id>}'}}])
        ev.put_events(Entries=[{"Source": "api.test", "DetailType": "t", "Detail": json.dumps({"id": 7})}])
        method, path, headers, body = hook.next()
        assert (method, json.loads(body)) == ("PUT", {"order": 7})
        assert path.startswith("/orders/o-7?") and "source=nimbus" in path and "v=2" in path
        assert headers["authorization"] == "Basic " + base64.b64encode(b"user:secret").decode()
        assert headers["x-team"] == "orders" and headers["x-kind"] == "new"
        ev.remove_targets(Rule=rule, Ids=["api"])
        ev.delete_rule(Name=rule)
        ev.delete_api_destination(Name=dest["ApiDestinationArn"].split("/")[1])
        assert ev.delete_connection(Name=name)["ConnectionState"] == "DELETING"
    finally:
        hook.close()


def test_failing_destinations_are_retried_then_dead_lettered(nimbus):
    ev, sqs = nimbus.client("events"), nimbus.client("sqs")
    broken, picky = Receiver(status=503), Receiver(status=400)
    try:
        conn = ev.create_connection(Name=unique("key"), AuthorizationType="API_KEY",
                                    AuthParameters={"ApiKeyAuthParameters": {"ApiKeyName": "x-api-key", "ApiKeyValue": "k"}})
        rule = unique("flaky-api")
        rule_arn = ev.put_rule(Name=rule, EventPattern=json.dumps({"source": ["flaky.test"]}))["RuleArn"]
        dlq_url, dlq_arn = dlq_for(sqs, rule_arn)
        targets = []
        for i, hook in enumerate([broken, picky]):
            dest = ev.create_api_destination(Name=unique(f"d{i}"), ConnectionArn=conn["ConnectionArn"],
                                             InvocationEndpoint=hook.base + "/hook", HttpMethod="POST")
            targets.append({"Id": f"t{i}", "Arn": dest["ApiDestinationArn"], "RoleArn": ROLE,
                            "DeadLetterConfig": {"Arn": dlq_arn},
                            "RetryPolicy": {"MaximumRetryAttempts": 1, "MaximumEventAgeInSeconds": 3600}})
        ev.put_targets(Rule=rule, Targets=targets)
        event_id = ev.put_events(Entries=[{"Source": "flaky.test", "DetailType": "t", "Detail": "{}"}])["Entries"][0]["EventId"]
        # The client error is final at once; the server error is tried twice.
        assert picky.next()[2]["x-api-key"] == "k"
        first = dead_letters(sqs, dlq_url)
        sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=first["ReceiptHandle"])
        broken.next(), broken.next()
        second = dead_letters(sqs, dlq_url)
        by_target = {}
        for m in (first, second):
            attributes = {k: v["StringValue"] for k, v in m["MessageAttributes"].items()}
            assert json.loads(m["Body"])["id"] == event_id and attributes["RULE_ARN"] == rule_arn
            by_target[attributes["TARGET_ARN"]] = attributes
        picked = by_target[targets[1]["Arn"]]
        assert picked["ERROR_CODE"] == "ERROR_FROM_TARGET" and "EXHAUSTED_RETRY_CONDITION" not in picked
        retried = by_target[targets[0]["Arn"]]
        assert retried["EXHAUSTED_RETRY_CONDITION"] == "MaximumRetryAttempts" and retried["RETRY_ATTEMPTS"] == "1"
    finally:
        broken.close()
        picky.close()


def test_what_api_destinations_refuse(nimbus):
    ev = nimbus.client("events")
    with pytest.raises(ClientError) as e:
        ev.create_connection(Name=unique("bad"), AuthorizationType="API_KEY",
                             AuthParameters={"BasicAuthParameters": {"Username": "u", "Password": "p"}})
    assert e.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError) as e:
        ev.create_api_destination(Name=unique("orphan"), InvocationEndpoint="http://127.0.0.1:1/x", HttpMethod="POST",
                                  ConnectionArn="arn:aws:events:us-east-1:000000000000:connection/none/0")
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        ev.describe_connection(Name=unique("missing"))
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"


class OAuthServer:
    """A token endpoint and an API that takes its tokens: each token works for one
    call, after which the API answers 401 until a new one is fetched."""

    def __init__(self):
        self.calls = queue.Queue()
        self.token_requests = []
        self.valid = set()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0))).decode()
                if self.path.startswith("/token"):
                    outer.token_requests.append((self.path, dict(self.headers), body))
                    token = f"tok-{len(outer.token_requests)}"
                    outer.valid.add(token)
                    answer = json.dumps({"access_token": token, "token_type": "Bearer", "expires_in": 3600}).encode()
                    self.send_response(200)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                    return
                token = self.headers.get("authorization", "").removeprefix("Bearer ")
                ok = token in outer.valid
                outer.valid.discard(token)
                if ok:
                    outer.calls.put((token, body))
                self.send_response(200 if ok else 401)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.server.server_port}"

    def close(self):
        self.server.shutdown()


def test_oauth_connections_exchange_client_credentials_for_tokens(nimbus):
    ev = nimbus.client("events")
    api = OAuthServer()
    try:
        conn = ev.create_connection(
            Name=unique("oauth"), AuthorizationType="OAUTH_CLIENT_CREDENTIALS",
            AuthParameters={"OAuthParameters": {
                "ClientParameters": {"ClientID": "client", "ClientSecret": "shh"},
                "AuthorizationEndpoint": f"{api.base}/token", "HttpMethod": "POST",
                "OAuthHttpParameters": {"BodyParameters": [{"Key": "grant_type", "Value": "client_credentials"}]}}})
        shown = ev.describe_connection(Name=conn["ConnectionArn"].split("/")[1])
        assert shown["AuthParameters"]["OAuthParameters"]["ClientParameters"] == {"ClientID": "client"}
        dest = ev.create_api_destination(Name=unique("oauth"), ConnectionArn=conn["ConnectionArn"],
                                         InvocationEndpoint=f"{api.base}/hook", HttpMethod="POST")
        rule = unique("oauth")
        ev.put_rule(Name=rule, EventPattern=json.dumps({"source": [rule]}))
        ev.put_targets(Rule=rule, Targets=[{"Id": "t", "Arn": dest["ApiDestinationArn"], "RoleArn": ROLE}])
        for n in (1, 2):
            ev.put_events(Entries=[{"Source": rule, "DetailType": "t", "Detail": json.dumps({"n": n})}])
            try:
                token, body = api.calls.get(timeout=60)
            except queue.Empty:
                pytest.fail(f"call {n} did not arrive")
            assert json.loads(body)["detail"] == {"n": n}
            # The second call's cached token is refused (401): a new one is fetched and the call made again.
            assert token == f"tok-{n}"
        path, headers, body = api.token_requests[0]
        assert body == "grant_type=client_credentials"
        assert headers["authorization"] == "Basic " + base64.b64encode(b"client:shh").decode()
    finally:
        api.close()
