//! The API end to end in process: requests in DynamoDB's awsJson framing
//! against a real table store on a temporary directory.

use super::*;

fn api() -> (tempfile::TempDir, DynamoDbApi) {
    let d = tempfile::tempdir().unwrap();
    let kv = Arc::new(nimbus_storage_embedded::EmbeddedKv::open(&d.path().join("m.redb")).unwrap());
    let tables = Arc::new(Tables::open(kv, "000000000000", "us-east-1").unwrap());
    (d, DynamoDbApi::new(tables))
}

fn call(api: &DynamoDbApi, op: &str, body: &str) -> (u16, Value, Response<Bytes>) {
    let mut req = Request::new(Bytes::from(body.to_string()));
    req.headers_mut().insert(
        "x-amz-target",
        http::HeaderValue::from_str(&format!("DynamoDB_20120810.{op}")).unwrap(),
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let resp = rt.block_on(api.handle(req, "rid"));
    let v: Value = serde_json::from_slice(resp.body()).unwrap_or(Value::Null);
    (resp.status().as_u16(), v, resp)
}

const TABLE: &str = r#"{"TableName": "items", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}], "BillingMode": "PAY_PER_REQUEST"}"#;

#[test]
fn items_round_trip_with_dynamodb_framing() {
    let (_d, api) = api();
    let (status, v, resp) = call(&api, "CreateTable", TABLE);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["TableDescription"]["TableName"], "items");
    // The CRC32 SDKs check covers the body as sent.
    let crc: u32 = resp.headers()["x-amz-crc32"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(crc, crc32fast::hash(resp.body()));
    let put = r#"{"TableName": "items", "Item": {"pk": {"S": "a"}, "n": {"N": "1"}}}"#;
    assert_eq!(call(&api, "PutItem", put).0, 200);
    let (status, v, _) = call(
        &api,
        "GetItem",
        r#"{"TableName": "items", "Key": {"pk": {"S": "a"}}}"#,
    );
    assert_eq!(status, 200);
    assert_eq!(v["Item"]["n"]["N"], "1");
}

#[test]
fn errors_carry_dynamodb_types() {
    let (_d, api) = api();
    call(&api, "CreateTable", TABLE);
    let cases = [
        ("Nope", "{}", "UnknownOperationException"),
        ("GetItem", "{not json", "SerializationException"),
        (
            "GetItem",
            r#"{"TableName": "missing", "Key": {"pk": {"S": "a"}}}"#,
            "ResourceNotFoundException",
        ),
        (
            "PutItem",
            r#"{"TableName": "items", "Item": {"pk": {"S": "a"}}, "ConditionExpression": "attribute_exists(pk)"}"#,
            "ConditionalCheckFailedException",
        ),
        (
            "PutItem",
            r#"{"TableName": "items", "Item": {"n": {"N": "1"}}}"#,
            "ValidationException",
        ),
    ];
    for (op, body, code) in cases {
        let (status, v, _) = call(&api, op, body);
        assert_eq!(status, 400, "{op} {body}: {v}");
        assert_eq!(
            v["__type"],
            format!("com.amazonaws.dynamodb.v20120810#{code}"),
            "{op} {body}"
        );
        assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    }
}
