"""Regenerate the SigV4 verification cases from botocore's own signer.

Run: python generate.py (needs boto3). Each case is a request exactly as botocore
sent it; the Rust verifier must accept it, and reject it once tampered with.
"""
import base64, json, urllib.parse
import boto3
from botocore.awsrequest import AWSResponse

captured = []

def capture(request, **_):
    url = urllib.parse.urlsplit(request.url)
    body = request.body or b""
    if hasattr(body, "read"):
        body = body.read()
    if isinstance(body, str):
        body = body.encode()
    captured.append({
        "method": request.method,
        "path": url.path,
        "query": url.query,
        "headers": [[k, v.decode() if isinstance(v, bytes) else v] for k, v in request.headers.items()],
        "body_b64": base64.b64encode(body).decode(),
    })
    return AWSResponse(request.url, 200, {}, None)

session = boto3.Session(aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", region_name="eu-west-1")
lam = session.client("lambda", endpoint_url="http://127.0.0.1:4566")
lam.meta.events.register("before-send", capture)
calls = [
    ("list_functions", lambda: lam.list_functions(MaxItems=5, Marker="a b+c/d")),
    ("invoke_arn_qualifier", lambda: lam.invoke(FunctionName="arn:aws:lambda:eu-west-1:000000000000:function:my-fn", Qualifier="$LATEST", Payload=b'{"k": "v \\u00e9"}')),
    ("get_function_configuration", lambda: lam.get_function_configuration(FunctionName="my_fn-1")),
    ("create_function", lambda: lam.create_function(FunctionName="f", Runtime="python3.12", Role="arn:aws:iam::000000000000:role/r", Handler="app.h", Code={"ZipFile": b"PK\x05\x06" + b"\0" * 18})),
]
for name, call in calls:
    try:
        call()
    except Exception:
        pass
    case = captured[-1]
    case["access_key"] = "AKIDEXAMPLE"
    case["secret"] = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
    with open(f"{name}.json", "w") as f:
        json.dump(case, f, indent=1)
    print("wrote", name)
