use super::*;
use http::HeaderValue;

fn api(dir: &std::path::Path) -> KmsApi {
    let kv = Arc::new(nimbus_storage_embedded::EmbeddedKv::open(&dir.join("m.redb")).unwrap());
    let kms = Kms::open(kv, &dir.join("kms-master.key"), "000000000000", "us-east-1").unwrap();
    KmsApi::new(Arc::new(kms))
}

fn call(api: &KmsApi, op: &str, body: Value) -> (u16, Value) {
    let mut r = Request::new(Bytes::from(body.to_string()));
    r.headers_mut().insert(
        "x-amz-target",
        HeaderValue::from_str(&format!("TrentService.{op}")).unwrap(),
    );
    let resp = api.handle(r, "rid");
    (
        resp.status().as_u16(),
        serde_json::from_slice(resp.body()).unwrap(),
    )
}

#[test]
fn operations_parse_by_name() {
    assert_eq!(Operation::parse("Encrypt"), Some(Operation::Encrypt));
    assert_eq!(Operation::parse("Sign"), None);
    assert_eq!(Operation::ReEncrypt.name(), "ReEncrypt");
}

#[test]
fn a_key_encrypts_through_the_wire() {
    let d = tempfile::tempdir().unwrap();
    let a = api(d.path());
    let (s, k) = call(&a, "CreateKey", json!({"Description": "d"}));
    assert_eq!(s, 200, "{k}");
    let id = k["KeyMetadata"]["KeyId"].as_str().unwrap().to_string();
    assert_eq!(
        call(
            &a,
            "CreateAlias",
            json!({"AliasName": "alias/w", "TargetKeyId": id})
        )
        .0,
        200
    );
    let (_, e) = call(
        &a,
        "Encrypt",
        json!({"KeyId": "alias/w", "Plaintext": B64.encode("hi"), "EncryptionContext": {"a": "b"}}),
    );
    let (s, dec) = call(
        &a,
        "Decrypt",
        json!({"CiphertextBlob": e["CiphertextBlob"], "EncryptionContext": {"a": "b"}}),
    );
    assert_eq!(
        (s, dec["Plaintext"].as_str().unwrap()),
        (200, B64.encode("hi").as_str())
    );
    let (s, err) = call(
        &a,
        "Decrypt",
        json!({"CiphertextBlob": e["CiphertextBlob"]}),
    );
    assert_eq!(
        (s, err["__type"].as_str().unwrap()),
        (400, "InvalidCiphertextException")
    );
    let (_, dk) = call(
        &a,
        "GenerateDataKey",
        json!({"KeyId": id, "KeySpec": "AES_128"}),
    );
    assert_eq!(
        B64.decode(dk["Plaintext"].as_str().unwrap()).unwrap().len(),
        16
    );
    let (_, err) = call(&a, "DescribeKey", json!({"KeyId": "alias/none"}));
    assert_eq!(err["__type"], "NotFoundException");
    let (_, err) = call(&a, "DescribeKey", json!({}));
    assert_eq!(err["__type"], "ValidationException");
    let (_, l) = call(&a, "ListKeys", json!({"Limit": 1}));
    assert_eq!(l["Truncated"], false);
}
