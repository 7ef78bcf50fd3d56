"""The S3 API, driven by boto3 and the AWS CLI exactly as users drive S3."""
import base64
import hashlib
import html
import os
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import Nimbus, eventually, unique


def bucket_name(prefix="b"):
    return unique(prefix).lower().replace("_", "-")[:63]


@pytest.fixture(scope="module")
def s3(nimbus):
    return nimbus.client("s3")


@pytest.fixture
def bucket(s3):
    name = bucket_name()
    s3.create_bucket(Bucket=name)
    return name


def code(e):
    return e.value.response["Error"]["Code"]


def test_buckets_lifecycle(s3):
    name = bucket_name()
    s3.create_bucket(Bucket=name)
    s3.head_bucket(Bucket=name)
    assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    # A repeated create by the owner in us-east-1 succeeds, as on S3.
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="k", Body=b"x")
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket=name)
    assert code(e) == "BucketNotEmpty"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    s3.delete_object(Bucket=name, Key="k")
    s3.delete_bucket(Bucket=name)
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket=name)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(ClientError) as e:
        s3.list_objects_v2(Bucket=name)
    assert code(e) == "NoSuchBucket"


def test_location_constraint_and_bad_names(s3):
    name = bucket_name()
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert s3.get_bucket_location(Bucket=name)["LocationConstraint"] == "eu-west-1"
    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert code(e) == "BucketAlreadyOwnedByYou"
    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket="Bad_Name")
    assert code(e) == "InvalidBucketName"


def test_objects_round_trip_with_metadata_and_headers(s3, bucket):
    r = s3.put_object(Bucket=bucket, Key="dir/a b+c.txt", Body=b"hello world", ContentType="text/plain",
                      Metadata={"colour": "blue"}, CacheControl="max-age=60", ContentDisposition="inline")
    assert r["ETag"] == '"%s"' % hashlib.md5(b"hello world").hexdigest()
    o = s3.get_object(Bucket=bucket, Key="dir/a b+c.txt")
    assert o["Body"].read() == b"hello world"
    assert o["ContentType"] == "text/plain" and o["Metadata"] == {"colour": "blue"}
    assert o["CacheControl"] == "max-age=60" and o["ContentDisposition"] == "inline"
    assert o["ContentLength"] == 11 and o["AcceptRanges"] == "bytes"
    h = s3.head_object(Bucket=bucket, Key="dir/a b+c.txt")
    assert h["ETag"] == r["ETag"] and h["ContentLength"] == 11
    # Keys with characters that need encoding survive both ways.
    weird = "ünï/cødé ?&=#%.txt"
    s3.put_object(Bucket=bucket, Key=weird, Body=b"w")
    assert s3.get_object(Bucket=bucket, Key=weird)["Body"].read() == b"w"
    assert weird in [c["Key"] for c in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    s3.delete_object(Bucket=bucket, Key="dir/a b+c.txt")
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="dir/a b+c.txt")
    assert code(e) == "NoSuchKey"
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="dir/a b+c.txt")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_ranges_and_conditions(s3, bucket):
    body = bytes(range(256)) * 4
    etag = s3.put_object(Bucket=bucket, Key="r", Body=body)["ETag"]
    r = s3.get_object(Bucket=bucket, Key="r", Range="bytes=10-19")
    assert r["Body"].read() == body[10:20]
    assert r["ContentRange"] == "bytes 10-19/1024" and r["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert s3.get_object(Bucket=bucket, Key="r", Range="bytes=-4")["Body"].read() == body[-4:]
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="r", Range="bytes=5000-")
    assert code(e) == "InvalidRange"
    assert s3.get_object(Bucket=bucket, Key="r", IfMatch=etag)["Body"].read() == body
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="r", IfMatch='"0000"')
    assert code(e) == "PreconditionFailed"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="r", IfNoneMatch=etag)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304
    future = time.time() + 3600
    import datetime
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="r", IfModifiedSince=datetime.datetime.fromtimestamp(future))
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="r", IfUnmodifiedSince=datetime.datetime.fromtimestamp(time.time() - 3600))
    assert code(e) == "PreconditionFailed"


def test_checksums_and_digests_are_verified(s3, bucket):
    for alg in ["CRC32", "CRC32C", "SHA256", "SHA1", "CRC64NVME"]:
        r = s3.put_object(Bucket=bucket, Key=f"c-{alg}", Body=b"checked", ChecksumAlgorithm=alg)
        got = s3.get_object(Bucket=bucket, Key=f"c-{alg}", ChecksumMode="ENABLED")
        assert got["Body"].read() == b"checked"
        assert got[f"Checksum{alg}"] == r[f"Checksum{alg}"], alg
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="bad", Body=b"data", ChecksumCRC32="AAAAAA==")
    assert code(e) == "BadDigest"
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="bad", Body=b"data",
                      ContentMD5=base64.b64encode(hashlib.md5(b"other").digest()).decode())
    assert code(e) == "BadDigest"
    # Nothing was stored by the refused uploads.
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="bad")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_multipart_full_object_and_composite_checksums(nimbus, s3, bucket):
    """A multipart upload asks for FULL_OBJECT (the CRC of the whole object,
    from its parts' CRCs) or COMPOSITE (a checksum of the parts' checksums,
    "-N"); SHA checksums cannot be FULL_OBJECT; a whole-object checksum the
    client sends with the completion must agree."""
    import zlib

    from awscrt import checksums

    first, second = os.urandom(5 * 1024 * 1024), b"the tail part"
    crc = {"CRC32": zlib.crc32, "CRC32C": checksums.crc32c, "CRC64NVME": checksums.crc64nvme}
    width = {"CRC32": 4, "CRC32C": 4, "CRC64NVME": 8}
    bare = nimbus.client("s3", config=Config(request_checksum_calculation="when_required"))

    def upload(key, alg, kind=None, claimed=None, second_bare=False):
        extra = {"ChecksumType": kind} if kind else {}
        u = s3.create_multipart_upload(Bucket=bucket, Key=key, ChecksumAlgorithm=alg, **extra)
        uid = u["UploadId"]
        a = s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=1, Body=first, ChecksumAlgorithm=alg)
        client = bare if second_bare else s3
        b = client.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=2, Body=second,
                               **({} if second_bare else {"ChecksumAlgorithm": alg}))
        parts = [{"PartNumber": 1, "ETag": a["ETag"]}, {"PartNumber": 2, "ETag": b["ETag"]}]
        assert s3.list_parts(Bucket=bucket, Key=key, UploadId=uid)["ChecksumType"] == u["ChecksumType"]
        listed = [x for x in s3.list_multipart_uploads(Bucket=bucket, Prefix=key)["Uploads"] if x["UploadId"] == uid]
        assert listed[0]["ChecksumAlgorithm"] == alg and listed[0]["ChecksumType"] == u["ChecksumType"]
        extra = {f"Checksum{alg}": claimed} if claimed else {}
        return u, s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=uid,
                                               MultipartUpload={"Parts": parts}, **extra), uid, parts

    for alg in ("CRC32", "CRC32C", "CRC64NVME"):
        whole = base64.b64encode(crc[alg](first + second).to_bytes(width[alg], "big")).decode()
        u, done, _, _ = upload(f"full-{alg}", alg, "FULL_OBJECT", second_bare=alg == "CRC32C")
        assert u["ChecksumType"] == "FULL_OBJECT" and u["ChecksumAlgorithm"] == alg
        assert done["ChecksumType"] == "FULL_OBJECT" and done[f"Checksum{alg}"] == whole, alg
        got = s3.head_object(Bucket=bucket, Key=f"full-{alg}", ChecksumMode="ENABLED")
        assert got[f"Checksum{alg}"] == whole and got["ChecksumType"] == "FULL_OBJECT"
    # CRC64NVME uploads are FULL_OBJECT unless told; the rest COMPOSITE.
    u = s3.create_multipart_upload(Bucket=bucket, Key="default64", ChecksumAlgorithm="CRC64NVME")
    assert u["ChecksumType"] == "FULL_OBJECT"
    s3.abort_multipart_upload(Bucket=bucket, Key="default64", UploadId=u["UploadId"])
    u, done, _, _ = upload("composite", "SHA256")
    assert u["ChecksumType"] == "COMPOSITE" and done["ChecksumType"] == "COMPOSITE"
    assert done["ChecksumSHA256"].endswith("-2")
    for alg, kind in (("SHA1", "FULL_OBJECT"), ("CRC64NVME", "COMPOSITE")):
        with pytest.raises(ClientError) as e:
            s3.create_multipart_upload(Bucket=bucket, Key="bad", ChecksumAlgorithm=alg, ChecksumType=kind)
        assert code(e) == "InvalidRequest" and kind in str(e.value)
    # A wrong whole-object checksum refuses the completion and keeps the upload.
    with pytest.raises(ClientError) as e:
        upload("claimed", "CRC32", "FULL_OBJECT", claimed="AAAAAA==")
    assert code(e) == "BadDigest"
    [pending] = [x for x in s3.list_multipart_uploads(Bucket=bucket, Prefix="claimed")["Uploads"]]
    whole = base64.b64encode(zlib.crc32(first + second).to_bytes(4, "big")).decode()
    parts = s3.list_parts(Bucket=bucket, Key="claimed", UploadId=pending["UploadId"])["Parts"]
    done = s3.complete_multipart_upload(Bucket=bucket, Key="claimed", UploadId=pending["UploadId"], ChecksumCRC32=whole,
                                        MultipartUpload={"Parts": [{"PartNumber": p["PartNumber"], "ETag": p["ETag"]} for p in parts]})
    assert done["ChecksumCRC32"] == whole


def test_completed_uploads_in_versioned_buckets_name_their_version(s3):
    b = bucket_name("mpver")
    s3.create_bucket(Bucket=b)
    s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
    uid = s3.create_multipart_upload(Bucket=b, Key="k")["UploadId"]
    p = s3.upload_part(Bucket=b, Key="k", UploadId=uid, PartNumber=1, Body=b"only part")
    done = s3.complete_multipart_upload(Bucket=b, Key="k", UploadId=uid,
                                        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": p["ETag"]}]})
    assert done["VersionId"] == s3.head_object(Bucket=b, Key="k")["VersionId"]


def test_listing_v2_v1_prefixes_and_pages(s3, bucket):
    keys = ["a.txt", "dir/1", "dir/2", "dir/sub/3", "e.txt", "f/x", "z"]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
    r = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [c["Key"] for c in r["Contents"]] == ["a.txt", "e.txt", "z"]
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["dir/", "f/"]
    assert r["KeyCount"] == 5
    r = s3.list_objects_v2(Bucket=bucket, Prefix="dir/", Delimiter="/")
    assert [c["Key"] for c in r["Contents"]] == ["dir/1", "dir/2"]
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["dir/sub/"]
    seen = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, PaginationConfig={"PageSize": 2}):
        assert page["KeyCount"] <= 2
        seen += [c["Key"] for c in page.get("Contents", [])]
    assert seen == keys
    assert [c["Key"] for c in s3.list_objects_v2(Bucket=bucket, StartAfter="e.txt")["Contents"]] == ["f/x", "z"]
    seen = []
    for page in s3.get_paginator("list_objects").paginate(Bucket=bucket, PaginationConfig={"PageSize": 3}):
        seen += [c["Key"] for c in page.get("Contents", [])]
    assert seen == keys
    v1 = s3.list_objects(Bucket=bucket, Delimiter="/", MaxKeys=2)
    assert v1["IsTruncated"] and v1["NextMarker"] == "dir/"
    entry = s3.list_objects_v2(Bucket=bucket)["Contents"][0]
    assert entry["Size"] == 5 and entry["ETag"] == '"%s"' % hashlib.md5(b"a.txt").hexdigest()


def test_delete_objects_and_copy(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"copy me", Metadata={"m": "1"}, ContentType="text/x")
    r = s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    assert r["CopyObjectResult"]["ETag"] == '"%s"' % hashlib.md5(b"copy me").hexdigest()
    d = s3.get_object(Bucket=bucket, Key="dst")
    assert d["Body"].read() == b"copy me" and d["Metadata"] == {"m": "1"} and d["ContentType"] == "text/x"
    s3.copy_object(Bucket=bucket, Key="dst2", CopySource=f"{bucket}/src", MetadataDirective="REPLACE",
                   Metadata={"n": "2"}, ContentType="text/y")
    d2 = s3.head_object(Bucket=bucket, Key="dst2")
    assert d2["Metadata"] == {"n": "2"} and d2["ContentType"] == "text/y"
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="src", CopySource={"Bucket": bucket, "Key": "src"})
    assert code(e) == "InvalidRequest"
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="x", CopySource={"Bucket": bucket, "Key": "missing"})
    assert code(e) == "NoSuchKey"
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "src"}, {"Key": "dst"}, {"Key": "never"}]})
    assert sorted(d["Key"] for d in r["Deleted"]) == ["dst", "never", "src"]
    assert [c["Key"] for c in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["dst2"]


def test_multipart_upload(s3, bucket):
    mp = s3.create_multipart_upload(Bucket=bucket, Key="big", ContentType="application/x-big")
    uid = mp["UploadId"]
    part1 = os.urandom(5 * 1024 * 1024)
    p1 = s3.upload_part(Bucket=bucket, Key="big", UploadId=uid, PartNumber=1, Body=part1)
    p2 = s3.upload_part(Bucket=bucket, Key="big", UploadId=uid, PartNumber=2, Body=b"tail")
    assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=bucket)["Uploads"]] == [uid]
    parts = s3.list_parts(Bucket=bucket, Key="big", UploadId=uid)["Parts"]
    assert [(p["PartNumber"], p["Size"]) for p in parts] == [(1, len(part1)), (2, 4)]
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="big", UploadId=uid, MultipartUpload={"Parts": [
            {"PartNumber": 2, "ETag": p2["ETag"]}, {"PartNumber": 1, "ETag": p1["ETag"]}]})
    assert code(e) == "InvalidPartOrder"
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="big", UploadId=uid, MultipartUpload={"Parts": [
            {"PartNumber": 1, "ETag": p1["ETag"]}, {"PartNumber": 2, "ETag": '"00000000000000000000000000000000"'}]})
    assert code(e) == "InvalidPart"
    r = s3.complete_multipart_upload(Bucket=bucket, Key="big", UploadId=uid, MultipartUpload={"Parts": [
        {"PartNumber": 1, "ETag": p1["ETag"]}, {"PartNumber": 2, "ETag": p2["ETag"]}]})
    md5s = hashlib.md5(part1).digest() + hashlib.md5(b"tail").digest()
    assert r["ETag"] == '"%s-2"' % hashlib.md5(md5s).hexdigest()
    o = s3.get_object(Bucket=bucket, Key="big")
    assert o["Body"].read() == part1 + b"tail" and o["ContentType"] == "application/x-big"
    assert s3.get_object(Bucket=bucket, Key="big", Range=f"bytes={len(part1) - 2}-")["Body"].read() == part1[-2:] + b"tail"
    with pytest.raises(ClientError) as e:
        s3.upload_part(Bucket=bucket, Key="big", UploadId=uid, PartNumber=3, Body=b"late")
    assert code(e) == "NoSuchUpload"
    small = s3.create_multipart_upload(Bucket=bucket, Key="small")["UploadId"]
    a = s3.upload_part(Bucket=bucket, Key="small", UploadId=small, PartNumber=1, Body=b"too small")
    b = s3.upload_part(Bucket=bucket, Key="small", UploadId=small, PartNumber=2, Body=b"last")
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="small", UploadId=small, MultipartUpload={"Parts": [
            {"PartNumber": 1, "ETag": a["ETag"]}, {"PartNumber": 2, "ETag": b["ETag"]}]})
    assert code(e) == "EntityTooSmall"
    s3.abort_multipart_upload(Bucket=bucket, Key="small", UploadId=small)
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_presigned_urls_v2_and_v4(nimbus, s3, bucket):
    s3.put_object(Bucket=bucket, Key="shared", Body=b"via url")
    v4 = nimbus.client("s3", config=Config(signature_version="s3v4"))
    for client in (s3, v4):
        url = client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "shared"}, ExpiresIn=60)
        assert urllib.request.urlopen(url).read() == b"via url"
        put = client.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "uploaded"}, ExpiresIn=60)
        # SigV2 signs Content-Type: send none, as the URL was signed (urllib
        # would otherwise add a form content type).
        req = urllib.request.Request(put, data=b"browser upload", method="PUT", headers={"Content-Type": ""})
        assert urllib.request.urlopen(req).status == 200
        assert s3.get_object(Bucket=bucket, Key="uploaded")["Body"].read() == b"browser upload"
        # A tampered URL is refused.
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(url.replace("shared", "uploaded"))
        assert e.value.code == 403 and b"SignatureDoesNotMatch" in e.value.read()
    expired = v4.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "shared"}, ExpiresIn=1)
    expired_v2 = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "shared"}, ExpiresIn=1)
    time.sleep(2.2)
    for u in (expired, expired_v2):
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(u)
        body = e.value.read()
        assert e.value.code == 403 and b"<Code>AccessDenied</Code>" in body and b"Request has expired" in body


def test_signature_dates_as_s3_checks_them(nimbus, s3, bucket):
    """SigV2 header signatures need a Date (or x-amz-date) within 15 minutes
    of the server's clock, in any of the forms clients write; SigV4 takes a
    Date header when X-Amz-Date is absent."""
    import email.utils
    import hmac

    s3.put_object(Bucket=bucket, Key="dated", Body=b"on time")
    creds = nimbus.session().get_credentials()

    def v2_get(date_header):
        headers = {} if date_header is None else {"Date": date_header}
        to_sign = f"GET\n\n\n{date_header or ''}\n/{bucket}/dated"
        sig = base64.b64encode(hmac.new(creds.secret_key.encode(), to_sign.encode(), hashlib.sha1).digest()).decode()
        headers["Authorization"] = f"AWS {creds.access_key}:{sig}"
        req = urllib.request.Request(f"{nimbus.endpoint}/{bucket}/dated", headers=headers)
        try:
            with urllib.request.urlopen(req) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    now = time.time()
    for date in (email.utils.formatdate(now, usegmt=True),
                 email.utils.formatdate(now, usegmt=True).replace("GMT", "+0000")):
        assert v2_get(date) == (200, b"on time")
    status, body = v2_get(email.utils.formatdate(now - 3600, usegmt=True))
    assert status == 403 and b"<Code>RequestTimeTooSkewed</Code>" in body
    status, body = v2_get(None)
    assert status == 403 and b"AWS authentication requires a valid Date or x-amz-date header" in body

    # SigV4 with the time in a Date header (signed by hand: botocore always
    # sends X-Amz-Date).
    amz = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    host = nimbus.endpoint.split("://", 1)[1]
    empty = hashlib.sha256(b"").hexdigest()
    names = "date;host;x-amz-content-sha256"
    canonical = f"GET\n/{bucket}/dated\n\ndate:{amz}\nhost:{host}\nx-amz-content-sha256:{empty}\n\n{names}\n{empty}"
    scope = f"{amz[:8]}/us-east-1/s3/aws4_request"
    to_sign = f"AWS4-HMAC-SHA256\n{amz}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    key = ("AWS4" + creds.secret_key).encode()
    for part in (amz[:8], "us-east-1", "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers = {"Date": amz, "x-amz-content-sha256": empty,
               "Authorization": f"AWS4-HMAC-SHA256 Credential={creds.access_key}/{scope}, "
                                f"SignedHeaders={names}, Signature={signature}"}
    with urllib.request.urlopen(urllib.request.Request(f"{nimbus.endpoint}/{bucket}/dated", headers=headers)) as r:
        assert r.read() == b"on time"


def test_anonymous_and_wrongly_signed_requests_are_refused(nimbus, s3, bucket):
    s3.put_object(Bucket=bucket, Key="private", Body=b"secret")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"{nimbus.endpoint}/{bucket}/private")
    assert e.value.code == 403 and b"<Code>AccessDenied</Code>" in e.value.read()
    import boto3
    bad = boto3.client("s3", endpoint_url=nimbus.endpoint, region_name="us-east-1",
                       aws_access_key_id=nimbus.session().get_credentials().access_key, aws_secret_access_key="wrong")
    with pytest.raises(ClientError) as e2:
        bad.get_object(Bucket=bucket, Key="private")
    assert code(e2) == "SignatureDoesNotMatch"


def test_virtual_hosted_style(nimbus, s3, bucket):
    """`bucket.localhost`: the client sends the bucket in the Host header. This
    machine does not resolve *.localhost, so the client reaches the server
    through it as an HTTP proxy, Host header and signature unchanged."""
    port = nimbus.endpoint.rsplit(":", 1)[1]
    vhost = nimbus.client("s3", config=Config(s3={"addressing_style": "virtual"},
                                              proxies={"http": nimbus.endpoint}),
                          endpoint_url=f"http://localhost:{port}")
    vhost.put_object(Bucket=bucket, Key="v/k", Body=b"virtual")
    assert s3.get_object(Bucket=bucket, Key="v/k")["Body"].read() == b"virtual"
    assert vhost.get_object(Bucket=bucket, Key="v/k")["Body"].read() == b"virtual"
    assert [c["Key"] for c in vhost.list_objects_v2(Bucket=bucket)["Contents"]] == ["v/k"]


@pytest.mark.xdist_group("heavy")
def test_aws_cli_high_level_commands(nimbus, bucket):
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "src")
        os.makedirs(os.path.join(src, "sub"))
        for name, data in [("a.txt", b"alpha"), ("sub/b.txt", b"beta")]:
            with open(os.path.join(src, name), "wb") as f:
                f.write(data)
        # Bigger than the CLI's 8 MB multipart threshold: uploaded in parts.
        big = os.urandom(20 * 1024 * 1024)
        with open(os.path.join(d, "big.bin"), "wb") as f:
            f.write(big)
        nimbus.aws("s3", "cp", os.path.join(d, "big.bin"), f"s3://{bucket}/big.bin")
        nimbus.aws("s3", "sync", src, f"s3://{bucket}/tree")
        ls = nimbus.aws("s3", "ls", "--recursive", f"s3://{bucket}/").stdout
        for k in ["big.bin", "tree/a.txt", "tree/sub/b.txt"]:
            assert k in ls, ls
        nimbus.aws("s3", "cp", f"s3://{bucket}/big.bin", os.path.join(d, "back.bin"))
        with open(os.path.join(d, "back.bin"), "rb") as f:
            assert hashlib.sha256(f.read()).digest() == hashlib.sha256(big).digest()
        head = nimbus.aws("s3api", "head-object", "--bucket", bucket, "--key", "big.bin").stdout
        assert "-3\\\"" in head, head  # 20 MB in 8 MB parts: a 3-part ETag
        out = os.path.join(d, "out")
        nimbus.aws("s3", "sync", f"s3://{bucket}/tree", out)
        with open(os.path.join(out, "sub", "b.txt"), "rb") as f:
            assert f.read() == b"beta"
        nimbus.aws("s3", "rm", "--recursive", f"s3://{bucket}/tree")
        assert "tree/" not in nimbus.aws("s3", "ls", "--recursive", f"s3://{bucket}/").stdout
        res = nimbus.aws("s3api", "get-object", "--bucket", bucket, "--key", "missing", os.path.join(d, "x"), check=False)
        assert res.returncode != 0 and "NoSuchKey" in res.stderr


@pytest.mark.xdist_group("heavy")
def test_large_put_is_streamed_not_buffered(nimbus, s3, bucket):
    """A 256 MiB single PUT and GET: the server's resident memory does not grow
    by anything near the object's size."""
    size = 256 * 1024 * 1024
    chunk = os.urandom(1024 * 1024)
    src = tempfile.NamedTemporaryFile(prefix="nimbus-huge-")
    for _ in range(size // len(chunk)):
        src.write(chunk)
    src.flush()

    def rss_peak_mb():
        for line in open(f"/proc/{nimbus.proc.pid}/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
        raise AssertionError("no VmHWM")

    before = rss_peak_mb()
    with open(src.name, "rb") as f:
        s3.put_object(Bucket=bucket, Key="huge", Body=f)
    src.close()
    got = s3.get_object(Bucket=bucket, Key="huge")
    n = 0
    for piece in got["Body"].iter_chunks(1024 * 1024):
        n += len(piece)
    assert n == size
    assert rss_peak_mb() - before < 128, f"server peak RSS grew {rss_peak_mb() - before} MB for a 256 MB object"


def test_objects_survive_kill_9():
    with tempfile.TemporaryDirectory(prefix="nimbus-s3-kill-") as d:
        n = Nimbus(d).start()
        s3 = n.client("s3")
        name = bucket_name("durable")
        s3.create_bucket(Bucket=name)
        payloads = {f"k{i}": os.urandom(1000 + i) for i in range(20)}
        for k, v in payloads.items():
            s3.put_object(Bucket=name, Key=k, Body=v)
        n.stop(signal.SIGKILL)
        n2 = Nimbus(d).start()
        try:
            s3b = n2.client("s3")
            for k, v in payloads.items():
                assert s3b.get_object(Bucket=name, Key=k)["Body"].read() == v
        finally:
            n2.stop()


def test_object_and_bucket_tagging(s3, bucket):
    s3.put_object(Bucket=bucket, Key="t", Body=b"x", Tagging="team=data&stage=raw")
    assert s3.head_object(Bucket=bucket, Key="t")["ResponseMetadata"]["HTTPHeaders"]["x-amz-tagging-count"] == "2"
    tags = s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("stage", "raw"), ("team", "data")]
    s3.put_object_tagging(Bucket=bucket, Key="t", Tagging={"TagSet": [{"Key": "k", "Value": "v"}]})
    assert s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"] == [{"Key": "k", "Value": "v"}]
    # Copies keep the tags unless told to replace them.
    s3.copy_object(Bucket=bucket, Key="t2", CopySource={"Bucket": bucket, "Key": "t"})
    assert s3.get_object_tagging(Bucket=bucket, Key="t2")["TagSet"] == [{"Key": "k", "Value": "v"}]
    s3.copy_object(Bucket=bucket, Key="t3", CopySource={"Bucket": bucket, "Key": "t"},
                   TaggingDirective="REPLACE", Tagging="new=1")
    assert s3.get_object_tagging(Bucket=bucket, Key="t3")["TagSet"] == [{"Key": "new", "Value": "1"}]
    s3.delete_object_tagging(Bucket=bucket, Key="t")
    assert s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"] == []
    with pytest.raises(ClientError) as e:
        s3.put_object_tagging(Bucket=bucket, Key="t", Tagging={"TagSet": [{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}]})
    assert code(e) == "InvalidTag"
    with pytest.raises(ClientError) as e:
        s3.put_object_tagging(Bucket=bucket, Key="t", Tagging={"TagSet": [{"Key": f"k{i}", "Value": "v"} for i in range(11)]})
    assert code(e) == "BadRequest"
    with pytest.raises(ClientError) as e:
        s3.get_bucket_tagging(Bucket=bucket)
    assert code(e) == "NoSuchTagSet"
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "env", "Value": "test"}]})
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == [{"Key": "env", "Value": "test"}]
    s3.delete_bucket_tagging(Bucket=bucket)
    with pytest.raises(ClientError) as e:
        s3.get_bucket_tagging(Bucket=bucket)
    assert code(e) == "NoSuchTagSet"


def test_cors_configuration_preflight_and_response_headers(nimbus, s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.get_bucket_cors(Bucket=bucket)
    assert code(e) == "NoSuchCORSConfiguration"
    rules = [{"AllowedOrigins": ["https://*.example.com"], "AllowedMethods": ["GET", "PUT"],
              "AllowedHeaders": ["content-type", "x-amz-*"], "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 600}]
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": rules})
    got = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    assert got[0]["AllowedOrigins"] == ["https://*.example.com"] and got[0]["MaxAgeSeconds"] == 600
    s3.put_object(Bucket=bucket, Key="page", Body=b"hi")

    def preflight(origin, method, headers=None):
        h = {"Origin": origin, "Access-Control-Request-Method": method}
        if headers:
            h["Access-Control-Request-Headers"] = headers
        req = urllib.request.Request(f"{nimbus.endpoint}/{bucket}/page", method="OPTIONS", headers=h)
        try:
            with urllib.request.urlopen(req) as r:
                return r.status, dict(r.headers)
        except urllib.error.HTTPError as err:
            return err.code, dict(err.headers)

    status, h = preflight("https://app.example.com", "PUT", "Content-Type, X-Amz-Date")
    assert status == 200
    assert h["access-control-allow-origin"] == "https://app.example.com"
    assert "PUT" in h["access-control-allow-methods"] and h["access-control-max-age"] == "600"
    assert preflight("https://evil.test", "GET")[0] == 403
    assert preflight("https://app.example.com", "DELETE")[0] == 403
    assert preflight("https://app.example.com", "PUT", "authorization")[0] == 403
    # A signed request from an allowed origin carries the CORS headers.
    s3.meta.events.register("before-send.s3.GetObject",
                            lambda request, **kw: request.headers.__setitem__("Origin", "https://app.example.com"))
    r = s3.get_object(Bucket=bucket, Key="page")
    hdrs = r["ResponseMetadata"]["HTTPHeaders"]
    assert hdrs["access-control-allow-origin"] == "https://app.example.com"
    assert hdrs["access-control-expose-headers"] == "ETag"
    s3.delete_bucket_cors(Bucket=bucket)
    assert preflight("https://app.example.com", "GET")[0] == 403


def test_versioning(s3, bucket):
    s3.put_object(Bucket=bucket, Key="v", Body=b"before")  # the "null" version
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    v1 = s3.put_object(Bucket=bucket, Key="v", Body=b"one")["VersionId"]
    v2 = s3.put_object(Bucket=bucket, Key="v", Body=b"two")["VersionId"]
    assert v1 != v2 and v1 != "null"
    got = s3.get_object(Bucket=bucket, Key="v")
    assert got["Body"].read() == b"two" and got["VersionId"] == v2
    assert s3.get_object(Bucket=bucket, Key="v", VersionId=v1)["Body"].read() == b"one"
    assert s3.get_object(Bucket=bucket, Key="v", VersionId="null")["Body"].read() == b"before"
    assert s3.head_object(Bucket=bucket, Key="v", VersionId=v1)["ContentLength"] == 3
    versions = s3.list_object_versions(Bucket=bucket)
    assert [(v["VersionId"], v["IsLatest"]) for v in versions["Versions"]] == [(v2, True), (v1, False), ("null", False)]

    # A plain delete hides the key behind a delete marker.
    d = s3.delete_object(Bucket=bucket, Key="v")
    assert d["DeleteMarker"] is True
    marker = d["VersionId"]
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="v")
    assert code(e) == "NoSuchKey"
    assert e.value.response["ResponseMetadata"]["HTTPHeaders"]["x-amz-delete-marker"] == "true"
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
    listed = s3.list_object_versions(Bucket=bucket)
    assert [m["VersionId"] for m in listed["DeleteMarkers"]] == [marker] and listed["DeleteMarkers"][0]["IsLatest"]
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="v", VersionId=marker)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 405
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket=bucket)
    assert code(e) == "BucketNotEmpty"
    # Removing the marker restores the newest version; copying an old version works.
    s3.delete_object(Bucket=bucket, Key="v", VersionId=marker)
    assert s3.get_object(Bucket=bucket, Key="v")["Body"].read() == b"two"
    c = s3.copy_object(Bucket=bucket, Key="restored", CopySource={"Bucket": bucket, "Key": "v", "VersionId": v1})
    assert c["CopySourceVersionId"] == v1
    assert s3.get_object(Bucket=bucket, Key="restored")["Body"].read() == b"one"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="v", VersionId="0" * 32)
    assert code(e) == "NoSuchVersion"
    # Versions and markers deleted for good, in a batch; paging through versions.
    pages = list(s3.get_paginator("list_object_versions").paginate(Bucket=bucket, PaginationConfig={"PageSize": 1}))
    assert len([v for p in pages for v in p.get("Versions", [])]) == 4
    everything = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in s3.list_object_versions(Bucket=bucket)["Versions"]]
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": everything})
    assert len(r["Deleted"]) == 4
    assert "Versions" not in s3.list_object_versions(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    assert s3.put_object(Bucket=bucket, Key="s", Body=b"x").get("VersionId") == "null"


def test_bucket_sub_resources_tools_read_are_kept_as_written(s3, bucket):
    """What Terraform and CDK read of every bucket: defaults or S3's NoSuch... errors
    for a bucket without them, and each configuration back as written."""
    enc = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
    assert enc["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert "LoggingEnabled" not in s3.get_bucket_logging(Bucket=bucket)
    assert s3.get_bucket_request_payment(Bucket=bucket)["Payer"] == "BucketOwner"
    assert "Status" not in s3.get_bucket_accelerate_configuration(Bucket=bucket)
    for call, missing in [(s3.get_bucket_website, "NoSuchWebsiteConfiguration"),
                          (s3.get_bucket_lifecycle_configuration, "NoSuchLifecycleConfiguration"),
                          (s3.get_bucket_replication, "ReplicationConfigurationNotFoundError")]:
        with pytest.raises(ClientError) as e:
            call(Bucket=bucket)
        assert code(e) == missing

    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "alias/k"},
         "BucketKeyEnabled": True}]})
    rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"] == "alias/k" and rule["BucketKeyEnabled"]
    s3.put_bucket_website(Bucket=bucket, WebsiteConfiguration={
        "IndexDocument": {"Suffix": "index.html"}, "ErrorDocument": {"Key": "404.html"}})
    site = s3.get_bucket_website(Bucket=bucket)
    assert site["IndexDocument"] == {"Suffix": "index.html"} and site["ErrorDocument"] == {"Key": "404.html"}
    s3.delete_bucket_website(Bucket=bucket)
    with pytest.raises(ClientError):
        s3.get_bucket_website(Bucket=bucket)
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [
        {"ID": "old-logs", "Status": "Enabled", "Filter": {"Prefix": "logs/"}, "Expiration": {"Days": 30}}]})
    rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert rules[0]["ID"] == "old-logs" and rules[0]["Expiration"] == {"Days": 30}
    s3.put_bucket_accelerate_configuration(Bucket=bucket, AccelerateConfiguration={"Status": "Enabled"})
    assert s3.get_bucket_accelerate_configuration(Bucket=bucket)["Status"] == "Enabled"
    # Replication needs versioning, as on S3.
    with pytest.raises(ClientError) as e:
        s3.put_bucket_replication(Bucket=bucket, ReplicationConfiguration={
            "Role": "arn:aws:iam::000000000000:role/r",
            "Rules": [{"Status": "Enabled", "Destination": {"Bucket": "arn:aws:s3:::elsewhere"}, "Prefix": ""}]})
    assert code(e) == "InvalidRequest"
    # Configurations by id: analytics (and inventory, metrics, Intelligent-Tiering alike).
    s3.put_bucket_metrics_configuration(Bucket=bucket, Id="all", MetricsConfiguration={"Id": "all"})
    assert s3.get_bucket_metrics_configuration(Bucket=bucket, Id="all")["MetricsConfiguration"]["Id"] == "all"
    listed = s3.list_bucket_metrics_configurations(Bucket=bucket)
    assert [m["Id"] for m in listed["MetricsConfigurationList"]] == ["all"]
    with pytest.raises(ClientError) as e:
        s3.get_bucket_analytics_configuration(Bucket=bucket, Id="nope")
    assert code(e) == "NoSuchConfiguration"
    # Deleting encryption brings back S3's default; logging is turned off by an empty status.
    s3.delete_bucket_encryption(Bucket=bucket)
    enc = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
    assert enc["Rules"][0]["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    s3.put_bucket_logging(Bucket=bucket, BucketLoggingStatus={})
    assert "LoggingEnabled" not in s3.get_bucket_logging(Bucket=bucket)


def test_a_new_bucket_answers_every_read_a_terraform_provider_makes(s3, bucket):
    """The reads the AWS provider makes of a bucket after creating it: each answers
    as S3 answers for a new bucket (a document, or the error the provider expects)."""
    answers = {}
    reads = {
        "acl": lambda: s3.get_bucket_acl(Bucket=bucket)["Grants"][0]["Permission"],
        "cors": lambda: s3.get_bucket_cors(Bucket=bucket),
        "website": lambda: s3.get_bucket_website(Bucket=bucket),
        "versioning": lambda: s3.get_bucket_versioning(Bucket=bucket).get("Status", "never enabled"),
        "accelerate": lambda: s3.get_bucket_accelerate_configuration(Bucket=bucket).get("Status", "none"),
        "request_payment": lambda: s3.get_bucket_request_payment(Bucket=bucket)["Payer"],
        "logging": lambda: s3.get_bucket_logging(Bucket=bucket).get("LoggingEnabled", "off"),
        "lifecycle": lambda: s3.get_bucket_lifecycle_configuration(Bucket=bucket),
        "replication": lambda: s3.get_bucket_replication(Bucket=bucket),
        "encryption": lambda: s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"][
            "Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"],
        "object_lock": lambda: s3.get_object_lock_configuration(Bucket=bucket),
        "tagging": lambda: s3.get_bucket_tagging(Bucket=bucket),
        "policy": lambda: s3.get_bucket_policy(Bucket=bucket),
        "ownership": lambda: s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"][0][
            "ObjectOwnership"],
        "public_access_block": lambda: s3.get_public_access_block(Bucket=bucket)[
            "PublicAccessBlockConfiguration"]["BlockPublicAcls"],
        "location": lambda: s3.get_bucket_location(Bucket=bucket)["LocationConstraint"],
    }
    for what, read in reads.items():
        try:
            answers[what] = read()
        except ClientError as e:
            answers[what] = e.response["Error"]["Code"]
    assert answers == {
        "acl": "FULL_CONTROL",
        "cors": "NoSuchCORSConfiguration",
        "website": "NoSuchWebsiteConfiguration",
        "versioning": "never enabled",
        "accelerate": "none",
        "request_payment": "BucketOwner",
        "logging": "off",
        "lifecycle": "NoSuchLifecycleConfiguration",
        "replication": "ReplicationConfigurationNotFoundError",
        "encryption": "AES256",
        "object_lock": "ObjectLockConfigurationNotFoundError",
        "tagging": "NoSuchTagSet",
        "policy": "NoSuchBucketPolicy",
        "ownership": "BucketOwnerEnforced",
        "public_access_block": True,
        "location": None,
    }


def test_conditional_writes(s3, bucket):
    """If-None-Match: * creates only; If-Match replaces only the version named;
    of many concurrent creates, exactly one wins."""
    s3.put_object(Bucket=bucket, Key="lock", Body=b"first", IfNoneMatch="*")
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="lock", Body=b"second", IfNoneMatch="*")
    assert code(e) == "PreconditionFailed" and e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    etag = s3.head_object(Bucket=bucket, Key="lock")["ETag"]
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="lock", Body=b"x", IfMatch='"00000000000000000000000000000000"')
    assert code(e) == "PreconditionFailed"
    s3.put_object(Bucket=bucket, Key="lock", Body=b"third", IfMatch=etag)
    assert s3.get_object(Bucket=bucket, Key="lock")["Body"].read() == b"third"
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="missing", Body=b"x", IfMatch=etag)
    assert code(e) == "NoSuchKey"

    import concurrent.futures

    def create(i):
        try:
            s3.put_object(Bucket=bucket, Key="race", Body=str(i).encode(), IfNoneMatch="*")
            return True
        except ClientError as err:
            assert err.response["Error"]["Code"] == "PreconditionFailed"
            return False

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        wins = list(pool.map(create, range(16)))
    assert wins.count(True) == 1


def test_list_buckets_pages_and_v2_listings_fetch_owners(s3):
    prefix = bucket_name("page")[:40] + "-"
    names = [prefix + c for c in "abc"]
    for n in names:
        s3.create_bucket(Bucket=n)
    first = s3.list_buckets(Prefix=prefix, MaxBuckets=2)
    assert [b["Name"] for b in first["Buckets"]] == names[:2] and first["Prefix"] == prefix
    rest = s3.list_buckets(Prefix=prefix, MaxBuckets=2, ContinuationToken=first["ContinuationToken"])
    assert [b["Name"] for b in rest["Buckets"]] == names[2:] and "ContinuationToken" not in rest
    assert [b["Name"] for b in s3.list_buckets(Prefix=prefix)["Buckets"]] == names
    s3.put_object(Bucket=names[0], Key="k", Body=b"x")
    assert "Owner" not in s3.list_objects_v2(Bucket=names[0])["Contents"][0]
    assert s3.list_objects_v2(Bucket=names[0], FetchOwner=True)["Contents"][0]["Owner"]["ID"]


def test_get_object_attributes(s3, bucket):
    s3.put_object(Bucket=bucket, Key="doc", Body=b"hello", ChecksumAlgorithm="SHA256")
    got = s3.get_object_attributes(Bucket=bucket, Key="doc",
                                   ObjectAttributes=["ETag", "Checksum", "ObjectSize", "StorageClass"])
    assert got["ETag"] == hashlib.md5(b"hello").hexdigest() and got["ObjectSize"] == 5
    assert got["StorageClass"] == "STANDARD"
    assert got["Checksum"]["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(b"hello").digest()).decode()
    up = s3.create_multipart_upload(Bucket=bucket, Key="big")
    part = s3.upload_part(Bucket=bucket, Key="big", UploadId=up["UploadId"], PartNumber=1, Body=b"x" * 10)
    s3.complete_multipart_upload(Bucket=bucket, Key="big", UploadId=up["UploadId"],
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    parts = s3.get_object_attributes(Bucket=bucket, Key="big", ObjectAttributes=["ObjectParts"])
    assert parts["ObjectParts"]["TotalPartsCount"] == 1
    with pytest.raises(ClientError) as e:
        s3.get_object_attributes(Bucket=bucket, Key="nope", ObjectAttributes=["ETag"])
    assert code(e) == "NoSuchKey"


def test_get_and_head_by_part_number(s3, bucket):
    first, second = b"a" * (5 * 1024 * 1024), b"tail"
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp")
    etags = [s3.upload_part(Bucket=bucket, Key="mp", UploadId=up["UploadId"], PartNumber=i + 1, Body=b)["ETag"]
             for i, b in enumerate([first, second])]
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up["UploadId"], MultipartUpload={
        "Parts": [{"PartNumber": i + 1, "ETag": e} for i, e in enumerate(etags)]})
    got = s3.get_object(Bucket=bucket, Key="mp", PartNumber=2)
    assert got["Body"].read() == second and got["PartsCount"] == 2
    assert got["ContentRange"] == f"bytes {len(first)}-{len(first) + len(second) - 1}/{len(first) + len(second)}"
    head = s3.head_object(Bucket=bucket, Key="mp", PartNumber=1)
    assert head["ContentLength"] == len(first) and head["PartsCount"] == 2
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="mp", PartNumber=3)
    assert code(e) == "InvalidPartNumber"
    s3.put_object(Bucket=bucket, Key="one", Body=b"whole")
    single = s3.get_object(Bucket=bucket, Key="one", PartNumber=1)
    assert single["Body"].read() == b"whole" and "PartsCount" not in single


def test_object_lock_retention_and_legal_holds(nimbus, s3):
    """A bucket made with Object Lock keeps versions under retention or a legal
    hold from being deleted for good; GOVERNANCE gives way to the bypass header,
    COMPLIANCE to nobody; the errors are S3's."""
    import datetime

    def status(e):
        return e.value.response["ResponseMetadata"]["HTTPStatusCode"]

    name = bucket_name("lock")
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    assert s3.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"
    assert s3.get_object_lock_configuration(Bucket=name)["ObjectLockConfiguration"] == {
        "ObjectLockEnabled": "Enabled"}
    with pytest.raises(ClientError) as e:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Suspended"})
    assert (code(e), status(e)) == ("InvalidBucketState", 409)

    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=2)
    v1 = s3.put_object(Bucket=name, Key="doc", Body=b"governed", ObjectLockMode="GOVERNANCE",
                       ObjectLockRetainUntilDate=later)["VersionId"]
    head = s3.head_object(Bucket=name, Key="doc")
    assert head["ObjectLockMode"] == "GOVERNANCE"
    assert abs((head["ObjectLockRetainUntilDate"] - later).total_seconds()) < 1
    got = s3.get_object_retention(Bucket=name, Key="doc", VersionId=v1)["Retention"]
    assert got["Mode"] == "GOVERNANCE"

    # A plain delete only hides it behind a marker; deleting the version is refused.
    marker = s3.delete_object(Bucket=name, Key="doc")
    assert marker["DeleteMarker"] is True
    with pytest.raises(ClientError) as e:
        s3.delete_object(Bucket=name, Key="doc", VersionId=v1)
    assert (code(e), status(e)) == ("AccessDenied", 403)
    assert "object lock" in e.value.response["Error"]["Message"]
    out = s3.delete_objects(Bucket=name, Delete={"Objects": [{"Key": "doc", "VersionId": v1}]})
    assert out["Errors"][0]["Code"] == "AccessDenied"
    # Shortening GOVERNANCE needs the bypass; with it, the version goes.
    sooner = later - datetime.timedelta(days=1)
    with pytest.raises(ClientError) as e:
        s3.put_object_retention(Bucket=name, Key="doc", VersionId=v1,
                                Retention={"Mode": "GOVERNANCE", "RetainUntilDate": sooner})
    assert code(e) == "AccessDenied"
    s3.put_object_retention(Bucket=name, Key="doc", VersionId=v1, BypassGovernanceRetention=True,
                            Retention={"Mode": "GOVERNANCE", "RetainUntilDate": sooner})
    s3.delete_object(Bucket=name, Key="doc", VersionId=v1, BypassGovernanceRetention=True)

    # COMPLIANCE: no bypass, no shortening, no downgrade.
    v2 = s3.put_object(Bucket=name, Key="kept", Body=b"c", ObjectLockMode="COMPLIANCE",
                       ObjectLockRetainUntilDate=later)["VersionId"]
    with pytest.raises(ClientError) as e:
        s3.delete_object(Bucket=name, Key="kept", VersionId=v2, BypassGovernanceRetention=True)
    assert code(e) == "AccessDenied"
    with pytest.raises(ClientError) as e:
        s3.put_object_retention(Bucket=name, Key="kept", BypassGovernanceRetention=True,
                                Retention={"Mode": "GOVERNANCE", "RetainUntilDate": later})
    assert code(e) == "AccessDenied"
    s3.put_object_retention(Bucket=name, Key="kept", Retention={
        "Mode": "COMPLIANCE", "RetainUntilDate": later + datetime.timedelta(days=1)})

    # Legal holds: on blocks even an unretained version; off lets it go.
    v3 = s3.put_object(Bucket=name, Key="held", Body=b"h")["VersionId"]
    with pytest.raises(ClientError) as e:
        s3.get_object_legal_hold(Bucket=name, Key="held")
    assert code(e) == "NoSuchObjectLockConfiguration"
    with pytest.raises(ClientError) as e:
        s3.get_object_retention(Bucket=name, Key="held")
    assert code(e) == "NoSuchObjectLockConfiguration"
    s3.put_object_legal_hold(Bucket=name, Key="held", LegalHold={"Status": "ON"})
    assert s3.get_object_legal_hold(Bucket=name, Key="held")["LegalHold"]["Status"] == "ON"
    assert s3.head_object(Bucket=name, Key="held")["ObjectLockLegalHoldStatus"] == "ON"
    with pytest.raises(ClientError) as e:
        s3.delete_object(Bucket=name, Key="held", VersionId=v3, BypassGovernanceRetention=True)
    assert code(e) == "AccessDenied"
    s3.put_object_legal_hold(Bucket=name, Key="held", LegalHold={"Status": "OFF"})
    s3.delete_object(Bucket=name, Key="held", VersionId=v3)

    # A default retention applies to new versions, multipart uploads included.
    s3.put_object_lock_configuration(Bucket=name, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}})
    assert s3.get_object_lock_configuration(Bucket=name)["ObjectLockConfiguration"]["Rule"] == {
        "DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}
    s3.put_object(Bucket=name, Key="defaulted", Body=b"d")
    assert s3.get_object_retention(Bucket=name, Key="defaulted")["Retention"]["Mode"] == "GOVERNANCE"
    up = s3.create_multipart_upload(Bucket=name, Key="mpu")["UploadId"]
    etag = s3.upload_part(Bucket=name, Key="mpu", UploadId=up, PartNumber=1, Body=b"p")["ETag"]
    s3.complete_multipart_upload(Bucket=name, Key="mpu", UploadId=up,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    assert s3.head_object(Bucket=name, Key="mpu")["ObjectLockMode"] == "GOVERNANCE"
    # A retained upload must carry a digest (Content-MD5 or a checksum).
    bare = nimbus.client("s3", config=Config(request_checksum_calculation="when_required"))
    with pytest.raises(ClientError) as e:
        bare.put_object(Bucket=name, Key="nodigest", Body=b"x")
    assert code(e) == "InvalidRequest" and "Content-MD5" in e.value.response["Error"]["Message"]

    # Misuse, in S3's words.
    with pytest.raises(ClientError) as e:
        s3.put_object_lock_configuration(Bucket=name, ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1, "Years": 1}}})
    assert code(e) == "MalformedXML"
    with pytest.raises(ClientError) as e:
        s3.put_object_retention(Bucket=name, Key="kept", Retention={
            "Mode": "COMPLIANCE", "RetainUntilDate": datetime.datetime(2001, 1, 1)})
    assert code(e) == "InvalidArgument"
    plain = bucket_name("nolock")
    s3.create_bucket(Bucket=plain)
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=plain, Key="k", Body=b"x", ObjectLockMode="GOVERNANCE",
                      ObjectLockRetainUntilDate=later)
    assert (code(e), e.value.response["Error"]["Message"]) == (
        "InvalidRequest", "Bucket is missing Object Lock Configuration")
    s3.put_object(Bucket=plain, Key="k", Body=b"x")
    with pytest.raises(ClientError) as e:
        s3.put_object_legal_hold(Bucket=plain, Key="k", LegalHold={"Status": "ON"})
    assert code(e) == "InvalidRequest"
    with pytest.raises(ClientError) as e:
        s3.put_object_lock_configuration(Bucket=plain, ObjectLockConfiguration={"ObjectLockEnabled": "Enabled"})
    assert (code(e), status(e)) == ("InvalidBucketState", 409)
    # A versioned bucket can turn Object Lock on later.
    s3.put_bucket_versioning(Bucket=plain, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object_lock_configuration(Bucket=plain, ObjectLockConfiguration={"ObjectLockEnabled": "Enabled"})
    s3.put_object_legal_hold(Bucket=plain, Key="k", LegalHold={"Status": "ON"})


def test_conditional_complete_multipart_upload(s3, bucket):
    """CompleteMultipartUpload takes If-None-Match: * and If-Match as PUT does."""
    s3.put_object(Bucket=bucket, Key="there", Body=b"old")
    up = s3.create_multipart_upload(Bucket=bucket, Key="there")["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="there", UploadId=up, PartNumber=1, Body=b"new")["ETag"]
    parts = {"Parts": [{"PartNumber": 1, "ETag": etag}]}
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="there", UploadId=up, MultipartUpload=parts,
                                     IfNoneMatch="*")
    assert code(e) == "PreconditionFailed"
    current = s3.head_object(Bucket=bucket, Key="there")["ETag"]
    s3.complete_multipart_upload(Bucket=bucket, Key="there", UploadId=up, MultipartUpload=parts,
                                 IfMatch=current)
    assert s3.get_object(Bucket=bucket, Key="there")["Body"].read() == b"new"


def test_lifecycle_rules_are_applied():
    """Rules act in a background pass, here with two-second "days": expiration by
    prefix and by tag, noncurrent versions beyond the newest kept, expired delete
    markers, and old multipart uploads; what no rule names stays."""
    with tempfile.TemporaryDirectory(prefix="nimbus-e2e-") as d:
        n = Nimbus(d, ["--s3-lifecycle-day", "2"]).start()
        try:
            s3 = n.client("s3")
            plain, versioned = bucket_name("life"), bucket_name("lifev")
            s3.create_bucket(Bucket=plain)
            s3.put_bucket_lifecycle_configuration(Bucket=plain, LifecycleConfiguration={"Rules": [
                {"ID": "tmp", "Filter": {"Prefix": "tmp/"}, "Status": "Enabled", "Expiration": {"Days": 1}},
                {"ID": "tagged", "Filter": {"Tag": {"Key": "keep", "Value": "no"}}, "Status": "Enabled",
                 "Expiration": {"Days": 1}},
                {"ID": "off", "Filter": {"Prefix": "keep/"}, "Status": "Disabled", "Expiration": {"Days": 1}},
                {"ID": "uploads", "Filter": {"Prefix": ""}, "Status": "Enabled",
                 "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}},
            ]})
            got = s3.get_bucket_lifecycle_configuration(Bucket=plain)["Rules"]
            assert [r["ID"] for r in got] == ["tmp", "tagged", "off", "uploads"]
            s3.put_object(Bucket=plain, Key="tmp/a", Body=b"a")
            s3.put_object(Bucket=plain, Key="keep/b", Body=b"b")
            s3.put_object(Bucket=plain, Key="c", Body=b"c", Tagging="keep=no")
            s3.create_multipart_upload(Bucket=plain, Key="big")

            s3.create_bucket(Bucket=versioned)
            s3.put_bucket_versioning(Bucket=versioned, VersioningConfiguration={"Status": "Enabled"})
            s3.put_bucket_lifecycle_configuration(Bucket=versioned, LifecycleConfiguration={"Rules": [
                {"ID": "nc", "Filter": {"Prefix": "v/"}, "Status": "Enabled",
                 "NoncurrentVersionExpiration": {"NoncurrentDays": 1, "NewerNoncurrentVersions": 1}},
                {"ID": "markers", "Filter": {"Prefix": "m/"}, "Status": "Enabled",
                 "Expiration": {"ExpiredObjectDeleteMarker": True},
                 "NoncurrentVersionExpiration": {"NoncurrentDays": 1}},
                {"ID": "current", "Filter": {"Prefix": "e/"}, "Status": "Enabled", "Expiration": {"Days": 1}},
            ]})
            ids = [s3.put_object(Bucket=versioned, Key="v/k", Body=str(i).encode())["VersionId"]
                   for i in range(3)]
            s3.put_object(Bucket=versioned, Key="m/x", Body=b"x")
            s3.delete_object(Bucket=versioned, Key="m/x")
            s3.put_object(Bucket=versioned, Key="e/x", Body=b"x")

            def keys(bucket):
                return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))

            eventually("objects expired", lambda: keys(plain) == ["keep/b"])
            eventually("upload aborted", lambda: not s3.list_multipart_uploads(Bucket=plain).get("Uploads"))

            def versions(prefix):
                out = s3.list_object_versions(Bucket=versioned, Prefix=prefix)
                return ([v["VersionId"] for v in out.get("Versions", [])],
                        [m["VersionId"] for m in out.get("DeleteMarkers", [])])

            # The newest noncurrent version is kept; the older one goes.
            eventually("noncurrent version expired", lambda: versions("v/") == ([ids[2], ids[1]], []))
            eventually("delete marker expired", lambda: versions("m/") == ([], []))
            # A versioned bucket's expiration hides the current version behind a marker.
            eventually("current version expired", lambda: len(versions("e/")[1]) == 1)
            assert len(versions("e/")[0]) == 1

            with pytest.raises(ClientError) as e:
                s3.put_bucket_lifecycle_configuration(Bucket=plain, LifecycleConfiguration={"Rules": [
                    {"ID": "x", "Filter": {"Prefix": ""}, "Status": "Enabled", "Expiration": {"Days": 0}}]})
            assert (code(e), e.value.response["Error"]["Message"]) == (
                "InvalidArgument", "'Days' for Expiration action must be a positive integer")
            s3.delete_bucket_lifecycle(Bucket=plain)
            with pytest.raises(ClientError) as e:
                s3.get_bucket_lifecycle_configuration(Bucket=plain)
            assert code(e) == "NoSuchLifecycleConfiguration"
        finally:
            n.stop()


def _post_form(url, fields, filename, data):
    """POST a multipart form as a browser does; redirects are not followed."""
    import http.client
    import urllib.parse

    boundary = "----nimbusform" + os.urandom(8).hex()
    body = b""
    for k, v in fields.items():
        body += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n").encode()
    body += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
             "Content-Type: text/plain\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    conn.request("POST", u.path or "/", body=body,
                 headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    r = conn.getresponse()
    out = (r.status, dict((k.lower(), v) for k, v in r.getheaders()), r.read())
    conn.close()
    return out


def test_browser_post_uploads_with_signed_policies(nimbus, s3, bucket):
    """POST forms as boto3's generate_presigned_post makes them (SigV4 and SigV2):
    the policy's conditions hold the upload to its key prefix and size; a broken
    signature, an unlisted field or an expired policy is refused as S3 refuses it."""
    v4 = nimbus.client("s3", config=Config(signature_version="s3v4"))
    post = v4.generate_presigned_post(
        bucket, "uploads/${filename}",
        Fields={"success_action_status": "201", "Content-Type": "text/plain"},
        Conditions=[["starts-with", "$key", "uploads/"], ["content-length-range", 1, 100],
                    {"success_action_status": "201"}, {"Content-Type": "text/plain"}],
        ExpiresIn=300)
    status, headers, body = _post_form(post["url"], post["fields"], "hello.txt", b"hello form")
    assert status == 201, body
    assert b"<Key>uploads/hello.txt</Key>" in body
    got = s3.get_object(Bucket=bucket, Key="uploads/hello.txt")
    assert got["Body"].read() == b"hello form" and got["ContentType"] == "text/plain"
    assert headers["etag"] == got["ETag"]

    def refused(fields, data=b"x", filename="f.txt"):
        status, _, body = _post_form(post["url"], fields, filename, data)
        code_ = body.split(b"<Code>")[1].split(b"</Code>")[0].decode()
        message = body.split(b"<Message>")[1].split(b"</Message>")[0].decode()
        return status, code_, html.unescape(message)

    assert refused(post["fields"], data=b"x" * 101)[:2] == (400, "EntityTooLarge")
    assert refused(post["fields"], data=b"")[:2] == (400, "EntityTooSmall")
    assert refused(dict(post["fields"], key="elsewhere/k")) == (
        403, "AccessDenied", 'Invalid according to Policy: Policy Condition failed: ["starts-with", "$key", "uploads/"]')
    assert refused(dict(post["fields"], **{"x-amz-meta-extra": "1"})) == (
        403, "AccessDenied", "Invalid according to Policy: Extra input fields: x-amz-meta-extra")
    sig = post["fields"]["x-amz-signature"]
    tampered = dict(post["fields"], **{"x-amz-signature": ("0" if sig[0] != "0" else "1") + sig[1:]})
    assert refused(tampered)[:2] == (403, "SignatureDoesNotMatch")
    expired = v4.generate_presigned_post(bucket, "uploads/late", ExpiresIn=-60)
    assert refused(expired["fields"]) == (403, "AccessDenied", "Invalid according to Policy: Policy expired.")

    # A redirect after the upload, with the bucket, key and ETag.
    back = "http://example.test/done"
    redirect = v4.generate_presigned_post(bucket, "r.txt", Fields={"success_action_redirect": back},
                                          Conditions=[{"success_action_redirect": back}])
    status, headers, _ = _post_form(redirect["url"], redirect["fields"], "r.txt", b"r")
    assert status == 303 and headers["location"].startswith(f"{back}?bucket={bucket}&key=r.txt&etag=%22")

    # SigV2 policies (boto3's "s3" signature version) are checked the same way.
    v2 = nimbus.client("s3", config=Config(signature_version="s3"))
    post2 = v2.generate_presigned_post(bucket, "v2.txt")
    assert "signature" in post2["fields"] and "AWSAccessKeyId" in post2["fields"]
    status, _, body = _post_form(post2["url"], post2["fields"], "v2.txt", b"two")
    assert status == 204, body
    assert s3.get_object(Bucket=bucket, Key="v2.txt")["Body"].read() == b"two"
    assert refused(dict(post2["fields"], signature="AAAA"))[:2] == (403, "SignatureDoesNotMatch")


def test_metadata_beyond_ascii_as_s3_returns_it(nimbus, s3, bucket):
    """RFC 2047 encoded words are decoded on the way in; a value beyond ASCII
    comes back as one =?UTF-8?B?...?= word; ASCII values are left alone."""
    cafe = "=?UTF-8?B?" + base64.b64encode("café".encode()).decode() + "?="
    s3.put_object(Bucket=bucket, Key="meta", Body=b"m",
                  Metadata={"b": cafe, "q": "=?utf-8?Q?caf=C3=A9?=", "plain": "50% =? off"})
    meta = s3.head_object(Bucket=bucket, Key="meta")["Metadata"]
    assert meta == {"b": cafe, "q": cafe, "plain": "50% =? off"}
    assert s3.get_object(Bucket=bucket, Key="meta")["Metadata"] == meta
    # A form's fields are UTF-8 as they stand.
    v4 = nimbus.client("s3", config=Config(signature_version="s3v4"))
    post = v4.generate_presigned_post(bucket, "formmeta", Fields={"x-amz-meta-note": "café ✓"},
                                      Conditions=[{"x-amz-meta-note": "café ✓"}])
    status, _, body = _post_form(post["url"], post["fields"], "f.txt", b"f")
    assert status == 204, body
    note = s3.head_object(Bucket=bucket, Key="formmeta")["Metadata"]["note"]
    assert note == "=?UTF-8?B?" + base64.b64encode("café ✓".encode()).decode() + "?="
    # A copy keeps the stored value.
    s3.copy_object(Bucket=bucket, Key="meta-copy", CopySource={"Bucket": bucket, "Key": "formmeta"})
    assert s3.head_object(Bucket=bucket, Key="meta-copy")["Metadata"]["note"] == note


def test_listing_keys_are_url_encoded_only_when_asked(nimbus, s3, bucket):
    """boto3 asks for encoding-type=url and decodes; a client that does not ask
    gets the keys as they are; one that asks itself gets them encoded."""
    from botocore.handlers import set_list_objects_encoding_type_url

    key = "dir/a b+c&ü"
    s3.put_object(Bucket=bucket, Key=key, Body=b"k")
    s3.create_multipart_upload(Bucket=bucket, Key=key)
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="dir/")["Contents"]] == [key]
    import urllib.parse

    def encoded(keys):
        # A space may go out as %20 or +; a literal + is always %2B.
        [k] = keys
        return urllib.parse.unquote_plus(k) == key and k.startswith("dir/a") and k.endswith("%2Bc%26%C3%BC")

    asked = s3.list_objects_v2(Bucket=bucket, Prefix="dir/", EncodingType="url")
    assert asked["EncodingType"] == "url" and encoded([o["Key"] for o in asked["Contents"]])
    asked = s3.list_object_versions(Bucket=bucket, Prefix="dir/", EncodingType="url")
    assert encoded([v["Key"] for v in asked["Versions"]])
    asked = s3.list_multipart_uploads(Bucket=bucket, Prefix="dir/", EncodingType="url")
    assert encoded([u["Key"] for u in asked["Uploads"]])

    raw = nimbus.client("s3")
    for op in ("ListObjects", "ListObjectsV2", "ListObjectVersions", "ListMultipartUploads"):
        raw.meta.events.unregister(f"before-parameter-build.s3.{op}", set_list_objects_encoding_type_url)
    plain = raw.list_objects_v2(Bucket=bucket, Prefix="dir/")
    assert "EncodingType" not in plain and [o["Key"] for o in plain["Contents"]] == [key]
    assert [o["Key"] for o in raw.list_objects(Bucket=bucket, Prefix="dir/")["Contents"]] == [key]
    assert [v["Key"] for v in raw.list_object_versions(Bucket=bucket, Prefix="dir/")["Versions"]] == [key]
    assert [u["Key"] for u in raw.list_multipart_uploads(Bucket=bucket, Prefix="dir/")["Uploads"]] == [key]
    for call in (s3.list_objects_v2, s3.list_object_versions, s3.list_multipart_uploads):
        with pytest.raises(ClientError) as e:
            call(Bucket=bucket, EncodingType="base64")
        assert code(e) == "InvalidArgument"


def test_anonymous_post_reaches_only_a_bucket_open_to_everyone(nimbus, s3):
    """A form without a policy is anonymous: a private bucket refuses it, one whose
    policy lets everyone put objects takes it."""
    private = bucket_name("postpriv")
    s3.create_bucket(Bucket=private)
    url = f"{nimbus.endpoint}/{private}"
    status, _, body = _post_form(url, {"key": "k"}, "k", b"x")
    assert status == 403 and b"AccessDenied" in body
    public = bucket_name("postpub")
    s3.create_bucket(Bucket=public)
    s3.delete_public_access_block(Bucket=public)
    s3.put_bucket_policy(Bucket=public, Policy=json_dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:PutObject",
                       "Resource": f"arn:aws:s3:::{public}/drop/*"}]}))
    status, _, body = _post_form(f"{nimbus.endpoint}/{public}", {"key": "drop/${filename}"}, "a.txt", b"anon")
    assert status == 204, body
    assert s3.get_object(Bucket=public, Key="drop/a.txt")["Body"].read() == b"anon"
    status, _, _ = _post_form(f"{nimbus.endpoint}/{public}", {"key": "other/a"}, "a.txt", b"anon")
    assert status == 403


def json_dumps(v):
    import json

    return json.dumps(v)


def test_a_repeated_completion_answers_as_the_first(s3, bucket):
    """A retried CompleteMultipartUpload (its answer lost) succeeds with the same
    object while that object is current; after it is replaced, NoSuchUpload."""
    up = s3.create_multipart_upload(Bucket=bucket, Key="big")["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="big", UploadId=up, PartNumber=1, Body=b"p")["ETag"]
    parts = {"Parts": [{"PartNumber": 1, "ETag": etag}]}
    first = s3.complete_multipart_upload(Bucket=bucket, Key="big", UploadId=up, MultipartUpload=parts)
    again = s3.complete_multipart_upload(Bucket=bucket, Key="big", UploadId=up, MultipartUpload=parts)
    assert again["ETag"] == first["ETag"]
    s3.put_object(Bucket=bucket, Key="big", Body=b"other")
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="big", UploadId=up, MultipartUpload=parts)
    assert code(e) == "NoSuchUpload"


def test_expect_100_continue_is_refused_before_the_body(nimbus, s3, bucket):
    """An upload that asks `Expect: 100-continue` and may not write is refused
    at once: no `100 Continue`, so the client never sends its body."""
    import socket
    import urllib.parse

    u = urllib.parse.urlsplit(nimbus.endpoint)
    with socket.create_connection((u.hostname, u.port), timeout=30) as s:
        s.sendall(f"PUT /{bucket}/k HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100000000\r\n"
                  "Expect: 100-continue\r\n\r\n".encode())
        head = s.recv(4096)
    assert head.startswith(b"HTTP/1.1 403") and b"AccessDenied" in head, head
