use super::*;
use http::HeaderValue;

fn api(dir: &std::path::Path) -> SsmApi {
    let kv = Arc::new(nimbus_storage_embedded::EmbeddedKv::open(&dir.join("m.redb")).unwrap());
    let kms = nimbus_kms::Kms::open(
        kv.clone(),
        &dir.join("kms-master.key"),
        "000000000000",
        "us-east-1",
    )
    .unwrap();
    SsmApi::new(Arc::new(Parameters::open(kv, Arc::new(kms)).unwrap()))
}

fn call(api: &SsmApi, op: &str, body: Value) -> (u16, Value) {
    let mut r = Request::new(Bytes::from(body.to_string()));
    r.headers_mut().insert(
        "x-amz-target",
        HeaderValue::from_str(&format!("AmazonSSM.{op}")).unwrap(),
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
        Operation::parse("GetParametersByPath"),
        Some(Operation::GetParametersByPath)
    );
    assert_eq!(Operation::parse("SendCommand"), None);
}

#[test]
fn parameters_through_the_wire() {
    let d = tempfile::tempdir().unwrap();
    let a = api(d.path());
    let (s, v) = call(
        &a,
        "PutParameter",
        json!({"Name": "/app/pw", "Value": "hush", "Type": "SecureString"}),
    );
    assert_eq!(
        (s, v["Version"].as_u64(), v["Tier"].as_str()),
        (200, Some(1), Some("Standard"))
    );
    let (_, g) = call(
        &a,
        "GetParameter",
        json!({"Name": "/app/pw", "WithDecryption": true}),
    );
    assert_eq!(g["Parameter"]["Value"], "hush");
    let (_, g) = call(&a, "GetParameter", json!({"Name": "/app/pw"}));
    assert_ne!(g["Parameter"]["Value"], "hush");
    let (s, e) = call(
        &a,
        "PutParameter",
        json!({"Name": "/app/pw", "Value": "x", "Type": "String"}),
    );
    assert_eq!(
        (s, e["__type"].as_str()),
        (400, Some("ParameterAlreadyExists"))
    );
    let (_, e) = call(&a, "GetParameter", json!({"Name": "/app/none"}));
    assert_eq!(e["__type"], "ParameterNotFound");
    let (_, e) = call(
        &a,
        "PutParameter",
        json!({"Name": "/a", "Value": "x", "Type": "Number"}),
    );
    assert_eq!(e["__type"], "UnsupportedParameterType");
    let (_, many) = call(&a, "GetParameters", json!({"Names": ["/app/pw", "/nope"]}));
    assert_eq!(many["InvalidParameters"], json!(["/nope"]));
    let (_, e) = call(
        &a,
        "ListTagsForResource",
        json!({"ResourceType": "Document", "ResourceId": "x"}),
    );
    assert_eq!(e["__type"], "InvalidResourceType");
}
