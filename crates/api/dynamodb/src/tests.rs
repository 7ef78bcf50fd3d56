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

/// The PartiQL conformance cases: `tests/cases/dynamodb/partiql-*/case.json`,
/// each run on a fresh table `items` (hash key `pk`) holding `a` (n = 1) and
/// `b` (n = 2): its `setup` statements, then its `statement`, whose answer
/// must be `expected` (the `Items`, or the error code).
#[test]
fn partiql_cases() {
    let root =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../tests/cases/dynamodb");
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .expect("the case folder")
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("partiql-"))
        })
        .collect();
    dirs.sort();
    assert!(
        dirs.len() >= 10,
        "expected PartiQL cases at {}",
        root.display()
    );
    let mut failures = Vec::new();
    for dir in &dirs {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let case: Value =
            serde_json::from_slice(&std::fs::read(dir.join("case.json")).unwrap()).unwrap();
        let (_d, api) = api();
        call(&api, "CreateTable", TABLE);
        for item in [
            r#"{"pk": {"S": "a"}, "n": {"N": "1"}}"#,
            r#"{"pk": {"S": "b"}, "n": {"N": "2"}}"#,
        ] {
            call(
                &api,
                "PutItem",
                &format!(r#"{{"TableName": "items", "Item": {item}}}"#),
            );
        }
        let run = |statement: &Value, parameters: &Value| {
            let mut body = json!({ "Statement": statement });
            if !parameters.is_null() {
                body["Parameters"] = parameters.clone();
            }
            call(&api, "ExecuteStatement", &body.to_string())
        };
        for s in case["setup"].as_array().cloned().unwrap_or_default() {
            let (status, v, _) = run(&s, &Value::Null);
            if status != 200 {
                failures.push(format!("{name}: setup {s} failed: {v}"));
            }
        }
        let (status, v, _) = run(&case["statement"], &case["parameters"]);
        let expected = &case["expected"];
        let ok = match expected.get("error").and_then(Value::as_str) {
            Some(code) => {
                status == 400 && v["__type"] == format!("com.amazonaws.dynamodb.v20120810#{code}")
            }
            None => status == 200 && v["Items"] == expected["Items"],
        };
        if !ok {
            failures.push(format!("{name}: expected {expected}, got {status} {v}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        dirs.len(),
        failures.join("\n")
    );
}

/// Refuses whatever is not on its one table.
struct OnlyTable(nimbus_api_common::authz::Scope, &'static str);

impl nimbus_api_common::authz::Authorizer for OnlyTable {
    fn scope(&self) -> &nimbus_api_common::authz::Scope {
        &self.0
    }
    fn check(
        &self,
        _: &http::Extensions,
        access: &[nimbus_api_common::authz::Access],
    ) -> Result<(), nimbus_api_common::authz::Denied> {
        match access.iter().find(|a| !a.resource.ends_with(self.1)) {
            Some(a) => Err(nimbus_api_common::authz::Denied {
                message: format!(
                    "not authorized to perform: {} on resource: {}",
                    a.action, a.resource
                ),
            }),
            None => Ok(()),
        }
    }
}

#[test]
fn a_refused_request_is_access_denied_and_changes_nothing() {
    let (_d, api) = api();
    assert_eq!(call(&api, "CreateTable", TABLE).0, 200);
    let guarded = |op: &str, body: &str| {
        let mut req = Request::new(Bytes::from(body.to_string()));
        req.headers_mut().insert(
            "x-amz-target",
            http::HeaderValue::from_str(&format!("DynamoDB_20120810.{op}")).unwrap(),
        );
        req.extensions_mut()
            .insert::<Arc<dyn nimbus_api_common::authz::Authorizer>>(Arc::new(OnlyTable(
                nimbus_api_common::authz::Scope::new("000000000000", "us-east-1"),
                "table/items",
            )));
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let resp = rt.block_on(api.handle(req, "rid"));
        let v: Value = serde_json::from_slice(resp.body()).unwrap_or(Value::Null);
        (resp.status().as_u16(), v)
    };
    let put = r#"{"TableName": "items", "Item": {"pk": {"S": "a"}}}"#;
    assert_eq!(guarded("PutItem", put).0, 200);
    let (status, v) = guarded("ListTables", "{}");
    assert_eq!(status, 400);
    assert_eq!(
        v["__type"],
        "com.amazonaws.dynamodb.v20120810#AccessDeniedException"
    );
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("dynamodb:ListTables"),
        "{v}"
    );
    let other = r#"{"TableName": "other", "Item": {"pk": {"S": "a"}}}"#;
    assert_eq!(guarded("PutItem", other).0, 400);
}
