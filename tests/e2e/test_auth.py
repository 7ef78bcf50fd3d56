"""SigV4 at the edge: the platform's key works, anything else gets AWS's error."""
import tempfile
import urllib.error
import urllib.request

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import Nimbus


def client_with(nimbus, key, secret):
    return boto3.client("lambda", endpoint_url=nimbus.endpoint, region_name="us-east-1",
                        aws_access_key_id=key, aws_secret_access_key=secret,
                        config=Config(retries={"max_attempts": 1}))


def test_wrong_secret_is_refused(nimbus):
    key = nimbus.session().get_credentials().access_key
    with pytest.raises(ClientError) as e:
        client_with(nimbus, key, "wrong" * 8).list_functions()
    assert e.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_unknown_key_is_refused(nimbus):
    with pytest.raises(ClientError) as e:
        client_with(nimbus, "AKIAUNKNOWNUNKNOWN00", "x" * 40).list_functions()
    assert e.value.response["Error"]["Code"] == "UnrecognizedClientException"


def test_unsigned_and_garbled_requests(nimbus):
    req = urllib.request.Request(nimbus.endpoint + "/2015-03-31/functions/")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req)
    assert e.value.code == 403
    assert e.value.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    req = urllib.request.Request(nimbus.endpoint + "/2015-03-31/functions/",
                                 headers={"Authorization": "AWS4-HMAC-SHA256 garbage"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req)
    assert e.value.code == 400
    assert e.value.headers["x-amzn-ErrorType"] == "IncompleteSignatureException"
    with urllib.request.urlopen(nimbus.endpoint + "/_nimbus/health") as r:
        assert r.status == 200


def test_any_credentials_mode():
    with tempfile.TemporaryDirectory(prefix="nimbus-any-") as d:
        n = Nimbus(d, ["--any-credentials"]).start()
        try:
            assert "Functions" in client_with(n, "test", "test").list_functions()
        finally:
            n.stop()
