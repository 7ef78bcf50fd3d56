"""Outbound HTTPS: an SNS `https` subscription (confirmation and notification) and an
EventBridge API destination on an `https://` endpoint, served with a certificate from a
private CA that the server trusts through `SSL_CERT_FILE`; an endpoint whose
certificate the server does not trust gets nothing."""
import json
import os
import queue
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import Nimbus, unique


def make_certs(d):
    """A CA, and a certificate for 127.0.0.1 / localhost it signed."""
    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=d)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "2", "-subj", "/CN=Nimbus test CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=localhost")
    with open(os.path.join(d, "san.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.pem", "-days", "2", "-extfile", "san.ext")
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "stranger.key", "-out", "stranger.pem",
        "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1")


class SecureReceiver:
    """An HTTPS endpoint that records each POST."""

    def __init__(self, cert, key):
        self.posts = queue.Queue()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0))).decode()
                outer.posts.put(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"https://127.0.0.1:{self.server.server_port}/hook"

    def next(self, timeout=60):
        try:
            return self.posts.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"nothing was POSTed to {self.url} within {timeout}s")

    def close(self):
        self.server.shutdown()


@pytest.fixture(scope="module")
def tls():
    with tempfile.TemporaryDirectory(prefix="nimbus-tls-") as d:
        make_certs(d)
        yield d


@pytest.fixture(scope="module")
def server(tls):
    with tempfile.TemporaryDirectory(prefix="nimbus-e2e-") as d:
        before = os.environ.get("SSL_CERT_FILE")
        os.environ["SSL_CERT_FILE"] = os.path.join(tls, "ca.pem")
        try:
            n = Nimbus(d).start()
        finally:
            if before is None:
                del os.environ["SSL_CERT_FILE"]
            else:
                os.environ["SSL_CERT_FILE"] = before
        yield n
        n.stop()


def test_sns_https_subscriptions_confirm_and_receive(server, tls):
    sns = server.client("sns")
    hook = SecureReceiver(os.path.join(tls, "server.pem"), os.path.join(tls, "server.key"))
    try:
        topic = sns.create_topic(Name=unique("secure"))["TopicArn"]
        sns.subscribe(TopicArn=topic, Protocol="https", Endpoint=hook.url)
        headers, body = hook.next()
        confirm = json.loads(body)
        assert confirm["Type"] == "SubscriptionConfirmation"
        assert headers["x-amz-sns-message-type"] == "SubscriptionConfirmation"
        urllib.request.urlopen(confirm["SubscribeURL"], timeout=30).read()
        sns.publish(TopicArn=topic, Message="over tls")
        headers, body = hook.next()
        assert json.loads(body)["Message"] == "over tls"
        subs = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
        assert [s["Protocol"] for s in subs] == ["https"]
    finally:
        hook.close()


def test_api_destinations_reach_https_endpoints_the_server_trusts(server, tls):
    ev, sqs = server.client("events"), server.client("sqs")
    trusted = SecureReceiver(os.path.join(tls, "server.pem"), os.path.join(tls, "server.key"))
    stranger = SecureReceiver(os.path.join(tls, "stranger.pem"), os.path.join(tls, "stranger.key"))
    try:
        conn = ev.create_connection(Name=unique("tls"), AuthorizationType="API_KEY",
                                    AuthParameters={"ApiKeyAuthParameters": {"ApiKeyName": "x-key", "ApiKeyValue": "k"}})
        dlq = sqs.create_queue(QueueName=unique("tls-dlq"))["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sqs.set_queue_attributes(QueueUrl=dlq, Attributes={"Policy": json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"},
                                                    "Action": "sqs:SendMessage", "Resource": dlq_arn}]})})
        rule = unique("tls")
        ev.put_rule(Name=rule, EventPattern=json.dumps({"source": [rule]}))
        targets = []
        for i, hook in enumerate((trusted, stranger)):
            dest = ev.create_api_destination(Name=unique(f"tls{i}"), ConnectionArn=conn["ConnectionArn"],
                                             InvocationEndpoint=hook.url, HttpMethod="POST")
            targets.append({"Id": f"t{i}", "Arn": dest["ApiDestinationArn"],
                            "RoleArn": "arn:aws:iam::000000000000:role/lambda-role",
                            "RetryPolicy": {"MaximumRetryAttempts": 0},
                            "DeadLetterConfig": {"Arn": dlq_arn}})
        ev.put_targets(Rule=rule, Targets=targets)
        ev.put_events(Entries=[{"Source": rule, "DetailType": "t", "Detail": json.dumps({"n": 1})}])
        headers, body = trusted.next()
        assert headers["x-key"] == "k" and json.loads(body)["detail"] == {"n": 1}
        # The stranger's certificate is signed by no CA the server trusts: no request
        # reaches it, and the event goes to the dead-letter queue.
        dead = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not dead:
            dead = sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=1, MessageAttributeNames=["All"]).get("Messages", [])
        assert dead, "the untrusted endpoint's event was not dead-lettered"
        assert dead[0]["MessageAttributes"]["TARGET_ARN"]["StringValue"] == targets[1]["Arn"]
        assert stranger.posts.empty()
    finally:
        trusted.close()
        stranger.close()
