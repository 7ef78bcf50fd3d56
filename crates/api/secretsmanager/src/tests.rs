use super::*;
use http::HeaderValue;

fn api(dir: &std::path::Path) -> SecretsManagerApi {
    let kv = Arc::new(nimbus_storage_embedded::EmbeddedKv::open(&dir.join("m.redb")).unwrap());
    let kms = nimbus_kms::Kms::open(
        kv.clone(),
        &dir.join("kms-master.key"),
        "000000000000",
        "us-east-1",
    )
    .unwrap();
    SecretsManagerApi::new(Arc::new(Secrets::open(kv, Arc::new(kms)).unwrap()))
}

fn call(api: &SecretsManagerApi, op: &str, body: Value) -> (u16, Value) {
    let mut r = Request::new(Bytes::from(body.to_string()));
    r.headers_mut().insert(
        "x-amz-target",
        HeaderValue::from_str(&format!("secretsmanager.{op}")).unwrap(),
    );
    let resp = api.handle(r, "rid");
    (
        resp.status().as_u16(),
        serde_json::from_slice(resp.body()).unwrap(),
    )
}

#[test]
fn operations_parse_by_name() {
    assert_eq!(
        Operation::parse("GetSecretValue"),
        Some(Operation::GetSecretValue)
    );
    assert_eq!(Operation::parse("ReplicateSecretToRegions"), None);
}

#[test]
fn a_secret_through_the_wire() {
    let d = tempfile::tempdir().unwrap();
    let a = api(d.path());
    let (s, c) = call(
        &a,
        "CreateSecret",
        json!({"Name": "db", "SecretString": "pw"}),
    );
    assert_eq!(s, 200, "{c}");
    let (_, g) = call(&a, "GetSecretValue", json!({"SecretId": c["ARN"]}));
    assert_eq!(
        (g["SecretString"].as_str(), g["VersionStages"][0].as_str()),
        (Some("pw"), Some("AWSCURRENT"))
    );
    let (s, e) = call(
        &a,
        "CreateSecret",
        json!({"Name": "db", "SecretString": "pw"}),
    );
    assert_eq!(
        (s, e["__type"].as_str()),
        (400, Some("ResourceExistsException"))
    );
    assert!(e["Message"].as_str().unwrap().contains("already exists"));
    let (_, e) = call(&a, "GetSecretValue", json!({"SecretId": "nope"}));
    assert_eq!(e["__type"], "ResourceNotFoundException");
    let (_, e) = call(&a, "GetSecretValue", json!({}));
    assert_eq!(e["__type"], "InvalidParameterException");
    let (_, p) = call(
        &a,
        "GetRandomPassword",
        json!({"PasswordLength": 12, "ExcludePunctuation": true}),
    );
    assert_eq!(p["RandomPassword"].as_str().unwrap().len(), 12);
    let (_, d) = call(&a, "DescribeSecret", json!({"SecretId": "db"}));
    assert_eq!(d["VersionIdsToStages"].as_object().unwrap().len(), 1);
    let (_, b) = call(
        &a,
        "BatchGetSecretValue",
        json!({"SecretIdList": ["db", "nope"]}),
    );
    assert_eq!(b["SecretValues"].as_array().unwrap().len(), 1);
    assert_eq!(b["Errors"][0]["ErrorCode"], "ResourceNotFoundException");
}
