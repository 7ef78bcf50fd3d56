"""SNS to HTTP endpoints, as a web application receives them: the confirmation handshake
(the SubscribeURL visited), notifications POSTed with SNS's headers and signed (the
signature checked with openssl against the certificate at SigningCertURL, as SNS's
message validators do), raw delivery, and an endpoint that keeps failing: retried by its
delivery policy, then dead-lettered."""
import base64
import json
import os
import queue
import subprocess
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from botocore.exceptions import ClientError

from conftest import unique


class Receiver:
    """An HTTP endpoint that records each POST and answers with `status`."""

    def __init__(self, status=200):
        self.posts = queue.Queue()
        self.status = status
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0))).decode()
                outer.posts.put(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(outer.status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"

    def next(self, timeout=60):
        try:
            return self.posts.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"nothing was POSTed to {self.url} within {timeout}s")

    def close(self):
        self.server.shutdown()


def string_to_sign(m):
    keys = (["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
            if m["Type"] == "Notification" else
            ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"])
    return "".join(f"{k}\n{m[k]}\n" for k in keys if m.get(k) is not None)


def signature_holds(m):
    """Check a message's signature with openssl, against the certificate SigningCertURL serves."""
    cert = urllib.request.urlopen(m["SigningCertURL"], timeout=30).read()
    digest = "-sha256" if m["SignatureVersion"] == "2" else "-sha1"
    with tempfile.TemporaryDirectory() as d:
        paths = {n: os.path.join(d, n) for n in ("cert.pem", "key.pem", "data", "sig")}
        open(paths["cert.pem"], "wb").write(cert)
        open(paths["data"], "w").write(string_to_sign(m))
        open(paths["sig"], "wb").write(base64.b64decode(m["Signature"]))
        key = subprocess.run(["openssl", "x509", "-in", paths["cert.pem"], "-pubkey", "-noout"],
                             check=True, capture_output=True).stdout
        open(paths["key.pem"], "wb").write(key)
        out = subprocess.run(["openssl", "dgst", digest, "-verify", paths["key.pem"],
                              "-signature", paths["sig"], paths["data"]], capture_output=True)
        return out.returncode == 0


def test_http_endpoints_confirm_and_receive_signed_notifications(nimbus):
    sns = nimbus.client("sns")
    topic = sns.create_topic(Name=unique("web"))["TopicArn"]
    hook = Receiver()
    try:
        assert sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=hook.url)["SubscriptionArn"] \
            == "pending confirmation"
        headers, body = hook.next()
        assert headers["x-amz-sns-message-type"] == "SubscriptionConfirmation"
        assert headers["x-amz-sns-topic-arn"] == topic
        confirmation = json.loads(body)
        assert confirmation["Type"] == "SubscriptionConfirmation" and confirmation["TopicArn"] == topic
        assert signature_holds(confirmation)
        listed = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
        assert listed[0]["SubscriptionArn"] == "PendingConfirmation"
        # Nothing reaches an endpoint that has not confirmed.
        sns.publish(TopicArn=topic, Message="too early")
        # The endpoint visits the link, as web applications do.
        answer = urllib.request.urlopen(confirmation["SubscribeURL"], timeout=30).read().decode()
        assert "<SubscriptionArn>" in answer
        sub = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"][0]["SubscriptionArn"]
        assert sub.startswith(topic + ":")
        attributes = sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
        assert attributes["PendingConfirmation"] == "false"

        mid = sns.publish(TopicArn=topic, Message="hello", Subject="greeting",
                          MessageAttributes={"k": {"DataType": "String", "StringValue": "v"}})["MessageId"]
        headers, body = hook.next()
        assert headers["x-amz-sns-message-type"] == "Notification"
        assert headers["x-amz-sns-message-id"] == mid
        assert headers["x-amz-sns-subscription-arn"] == sub
        assert headers["content-type"].startswith("text/plain")
        m = json.loads(body)
        assert (m["Message"], m["Subject"], m["MessageId"]) == ("hello", "greeting", mid)
        assert m["MessageAttributes"]["k"] == {"Type": "String", "Value": "v"}
        assert m["SignatureVersion"] == "1" and signature_holds(m)
        tampered = dict(m, Message="HELLO")
        assert not signature_holds(tampered)

        sns.set_topic_attributes(TopicArn=topic, AttributeName="SignatureVersion", AttributeValue="2")
        sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="RawMessageDelivery",
                                        AttributeValue="true")
        sns.publish(TopicArn=topic, Message="raw body")
        headers, body = hook.next()
        assert body == "raw body" and headers["x-amz-sns-rawdelivery"] == "true"
        sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="RawMessageDelivery",
                                        AttributeValue="false")
        sns.publish(TopicArn=topic, Message="v2")
        m = json.loads(hook.next()[1])
        assert m["SignatureVersion"] == "2" and signature_holds(m)
        assert hook.posts.empty(), "the message published before confirming went nowhere"

        # The UnsubscribeURL ends the subscription.
        urllib.request.urlopen(m["UnsubscribeURL"], timeout=30).read()
        assert not sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
        with pytest.raises(ClientError) as e:
            sns.confirm_subscription(TopicArn=topic, Token="not-a-token")
        assert e.value.response["Error"]["Code"] == "InvalidParameter"
    finally:
        hook.close()
    sns.delete_topic(TopicArn=topic)


def test_a_failing_endpoint_is_retried_then_dead_lettered(nimbus):
    sns, sqs = nimbus.client("sns"), nimbus.client("sqs")
    topic = sns.create_topic(Name=unique("flaky"))["TopicArn"]
    dlq = sqs.create_queue(QueueName=unique("web-dlq"))["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sqs.set_queue_attributes(QueueUrl=dlq, Attributes={"Policy": json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage",
            "Resource": dlq_arn, "Condition": {"ArnEquals": {"aws:SourceArn": topic}}}]})})
    hook = Receiver()
    try:
        sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=hook.url)
        token = json.loads(hook.next()[1])["Token"]
        sub = sns.confirm_subscription(TopicArn=topic, Token=token)["SubscriptionArn"]
        with pytest.raises(ClientError) as e:
            sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="DeliveryPolicy",
                                            AttributeValue=json.dumps({"healthyRetryPolicy": {"numRetries": 500}}))
        assert e.value.response["Error"]["Code"] == "InvalidParameter"
        sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="DeliveryPolicy", AttributeValue=json.dumps(
            {"healthyRetryPolicy": {"numRetries": 2, "minDelayTarget": 1, "maxDelayTarget": 1}}))
        sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="RedrivePolicy",
                                        AttributeValue=json.dumps({"deadLetterTargetArn": dlq_arn}))
        hook.status = 500
        mid = sns.publish(TopicArn=topic, Message="unlucky")["MessageId"]
        tries = [json.loads(hook.next()[1])["MessageId"] for _ in range(3)]
        assert tries == [mid] * 3, "the first attempt and two retries"
        deadline, got = time.monotonic() + 60, []
        while time.monotonic() < deadline and not got:
            got = sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=1,
                                      MessageAttributeNames=["All"]).get("Messages", [])
        assert got, "the message reached the dead-letter queue after its retries"
        assert json.loads(got[0]["Body"])["MessageId"] == mid
        assert got[0]["MessageAttributes"]["ErrorCode"]["StringValue"] == "DeliveryFailed"
    finally:
        hook.close()
    sns.delete_topic(TopicArn=topic)
