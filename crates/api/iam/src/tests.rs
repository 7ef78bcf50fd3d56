//! Requests through `handle` against a real identity service on a temporary
//! store.

use super::*;
use nimbus_api_common::xml;

fn api() -> (tempfile::TempDir, IamApi) {
    let dir = tempfile::tempdir().unwrap();
    let kv: Arc<dyn nimbus_storage::KvEngine> =
        Arc::new(nimbus_storage_embedded::EmbeddedKv::open(&dir.path().join("kv")).unwrap());
    let iam = Arc::new(Iam::open(kv, "000000000000").unwrap());
    (dir, IamApi::new(iam))
}

fn enc(s: &str) -> String {
    nimbus_api_common::sigv4::uri_encode(s.as_bytes(), false)
}

/// Call with form members; the status and the parsed document.
fn call(api: &IamApi, members: &[(&str, &str)], caller: Option<Caller>) -> (u16, xml::Element) {
    let body: Vec<String> = members
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect();
    let mut req = Request::new(Bytes::from(body.join("&")));
    if let Some(c) = caller {
        req.extensions_mut().insert(c);
    }
    let r = api.handle(&req, "rid");
    let doc = xml::parse(r.body()).unwrap();
    (r.status().as_u16(), doc)
}

fn text<'a>(e: &'a xml::Element, path: &[&str]) -> &'a str {
    let mut cur = e;
    for p in path {
        cur = cur.child(p).unwrap_or_else(|| panic!("no {p} in {cur:?}"));
    }
    &cur.text
}

const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"000000000000"},"Action":"sts:AssumeRole"}]}"#;
const DOC: &str = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}"#;

#[test]
fn operations_parse_by_action() {
    assert_eq!(Operation::parse("CreateRole"), Some(Operation::CreateRole));
    assert_eq!(Operation::CreateRole.name(), "CreateRole");
    assert_eq!(
        Operation::parse("SimulatePrincipalPolicy"),
        Some(Operation::SimulatePrincipalPolicy)
    );
    assert_eq!(Operation::parse("CreateLoginProfile"), None);
    let (_d, api) = api();
    let (s, doc) = call(&api, &[("Action", "Nope")], None);
    assert_eq!(s, 400);
    assert_eq!(text(&doc, &["Error", "Code"]), "InvalidAction");
}

#[test]
fn roles_and_inline_policies_round_trip() {
    let (_d, api) = api();
    let (s, doc) = call(
        &api,
        &[
            ("Action", "CreateRole"),
            ("RoleName", "app"),
            ("AssumeRolePolicyDocument", TRUST),
            ("Tags.member.1.Key", "team"),
            ("Tags.member.1.Value", "a"),
        ],
        None,
    );
    assert_eq!(s, 200, "{doc:?}");
    let role = doc
        .child("CreateRoleResult")
        .unwrap()
        .child("Role")
        .unwrap();
    assert_eq!(text(role, &["Arn"]), "arn:aws:iam::000000000000:role/app");
    assert_eq!(text(role, &["AssumeRolePolicyDocument"]), enc(TRUST));
    let (s, doc) = call(
        &api,
        &[
            ("Action", "CreateRole"),
            ("RoleName", "app"),
            ("AssumeRolePolicyDocument", TRUST),
        ],
        None,
    );
    assert_eq!(
        (s, text(&doc, &["Error", "Code"])),
        (409, "EntityAlreadyExists")
    );
    let (s, _) = call(
        &api,
        &[
            ("Action", "PutRolePolicy"),
            ("RoleName", "app"),
            ("PolicyName", "p"),
            ("PolicyDocument", DOC),
        ],
        None,
    );
    assert_eq!(s, 200);
    let (_, doc) = call(
        &api,
        &[
            ("Action", "GetRolePolicy"),
            ("RoleName", "app"),
            ("PolicyName", "p"),
        ],
        None,
    );
    assert_eq!(
        text(&doc, &["GetRolePolicyResult", "PolicyDocument"]),
        enc(DOC)
    );
    let (s, doc) = call(
        &api,
        &[
            ("Action", "PutRolePolicy"),
            ("RoleName", "app"),
            ("PolicyName", "p"),
            ("PolicyDocument", "{"),
        ],
        None,
    );
    assert_eq!(
        (s, text(&doc, &["Error", "Code"])),
        (400, "MalformedPolicyDocument")
    );
    let (s, _) = call(
        &api,
        &[
            ("Action", "AttachRolePolicy"),
            ("RoleName", "app"),
            ("PolicyArn", "arn:aws:iam::aws:policy/ReadOnlyAccess"),
        ],
        None,
    );
    assert_eq!(s, 200);
    let (s, doc) = call(&api, &[("Action", "DeleteRole"), ("RoleName", "app")], None);
    assert_eq!((s, text(&doc, &["Error", "Code"])), (409, "DeleteConflict"));
    let (_, doc) = call(
        &api,
        &[("Action", "ListAttachedRolePolicies"), ("RoleName", "app")],
        None,
    );
    let attached = doc
        .child("ListAttachedRolePoliciesResult")
        .unwrap()
        .child("AttachedPolicies")
        .unwrap();
    assert_eq!(text(attached, &["member", "PolicyName"]), "ReadOnlyAccess");
    let (_, doc) = call(
        &api,
        &[("Action", "ListRoleTags"), ("RoleName", "app")],
        None,
    );
    assert_eq!(
        text(&doc, &["ListRoleTagsResult", "Tags", "member", "Key"]),
        "team"
    );
    let (s, doc) = call(&api, &[("Action", "GetRole"), ("RoleName", "nope")], None);
    assert_eq!((s, text(&doc, &["Error", "Code"])), (404, "NoSuchEntity"));
    let (s, doc) = call(&api, &[("Action", "GetRole")], None);
    assert_eq!(
        (s, text(&doc, &["Error", "Code"])),
        (400, "ValidationError")
    );
}

#[test]
fn lists_page_with_markers() {
    let (_d, api) = api();
    for i in 0..5 {
        let name = format!("u{i}");
        let (s, _) = call(&api, &[("Action", "CreateUser"), ("UserName", &name)], None);
        assert_eq!(s, 200);
    }
    let mut names = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let mut m = vec![("Action", "ListUsers"), ("MaxItems", "2")];
        if let Some(k) = &marker {
            m.push(("Marker", k.as_str()));
        }
        let (_, doc) = call(&api, &m, None);
        let r = doc.child("ListUsersResult").unwrap();
        for u in r.child("Users").unwrap().children_named("member") {
            names.push(u.child_text("UserName").unwrap().to_string());
        }
        if r.child_text("IsTruncated") == Some("true") {
            marker = r.child_text("Marker").map(str::to_string);
        } else {
            break;
        }
    }
    assert_eq!(names, ["u0", "u1", "u2", "u3", "u4"]);
}

#[test]
fn users_keys_and_the_caller() {
    let (_d, api) = api();
    call(
        &api,
        &[("Action", "CreateUser"), ("UserName", "alice")],
        None,
    );
    let (_, doc) = call(
        &api,
        &[("Action", "CreateAccessKey"), ("UserName", "alice")],
        None,
    );
    let key = doc
        .child("CreateAccessKeyResult")
        .unwrap()
        .child("AccessKey")
        .unwrap();
    assert!(text(key, &["AccessKeyId"]).starts_with("AKIA"));
    assert_eq!(text(key, &["Status"]), "Active");
    let alice = Caller {
        arn: "arn:aws:iam::000000000000:user/alice".into(),
        account: "000000000000".into(),
        user_id: "AIDA".into(),
        access_key_id: text(key, &["AccessKeyId"]).into(),
    };
    let (_, doc) = call(&api, &[("Action", "GetUser")], Some(alice.clone()));
    assert_eq!(text(&doc, &["GetUserResult", "User", "UserName"]), "alice");
    let (_, doc) = call(&api, &[("Action", "ListAccessKeys")], Some(alice));
    let meta = doc
        .child("ListAccessKeysResult")
        .unwrap()
        .child("AccessKeyMetadata")
        .unwrap();
    assert_eq!(meta.children_named("member").count(), 1);
    assert!(
        meta.child("member")
            .unwrap()
            .child("SecretAccessKey")
            .is_none()
    );
    let root = Caller {
        arn: "arn:aws:iam::000000000000:root".into(),
        account: "000000000000".into(),
        user_id: "000000000000".into(),
        access_key_id: "AKIAROOT".into(),
    };
    let (_, doc) = call(&api, &[("Action", "GetUser")], Some(root));
    assert_eq!(
        text(&doc, &["GetUserResult", "User", "Arn"]),
        "arn:aws:iam::000000000000:root"
    );
}

#[test]
fn policies_versions_and_scopes() {
    let (_d, api) = api();
    let (s, doc) = call(
        &api,
        &[
            ("Action", "CreatePolicy"),
            ("PolicyName", "p"),
            ("PolicyDocument", DOC),
        ],
        None,
    );
    assert_eq!(s, 200, "{doc:?}");
    let arn = text(&doc, &["CreatePolicyResult", "Policy", "Arn"]).to_string();
    let (_, doc) = call(
        &api,
        &[
            ("Action", "CreatePolicyVersion"),
            ("PolicyArn", &arn),
            ("PolicyDocument", DOC),
            ("SetAsDefault", "true"),
        ],
        None,
    );
    assert_eq!(
        text(
            &doc,
            &["CreatePolicyVersionResult", "PolicyVersion", "VersionId"]
        ),
        "v2"
    );
    let (_, doc) = call(&api, &[("Action", "GetPolicy"), ("PolicyArn", &arn)], None);
    assert_eq!(
        text(&doc, &["GetPolicyResult", "Policy", "DefaultVersionId"]),
        "v2"
    );
    let (_, doc) = call(
        &api,
        &[
            ("Action", "GetPolicyVersion"),
            ("PolicyArn", &arn),
            ("VersionId", "v1"),
        ],
        None,
    );
    let v = doc
        .child("GetPolicyVersionResult")
        .unwrap()
        .child("PolicyVersion")
        .unwrap();
    assert_eq!(
        (text(v, &["Document"]), text(v, &["IsDefaultVersion"])),
        (enc(DOC).as_str(), "false")
    );
    let (_, doc) = call(
        &api,
        &[("Action", "ListPolicyVersions"), ("PolicyArn", &arn)],
        None,
    );
    let ids: Vec<_> = doc
        .child("ListPolicyVersionsResult")
        .unwrap()
        .child("Versions")
        .unwrap()
        .children_named("member")
        .map(|m| m.child_text("VersionId").unwrap().to_string())
        .collect();
    assert_eq!(ids, ["v2", "v1"]);
    let count = |scope: &str| {
        let (_, doc) = call(
            &api,
            &[
                ("Action", "ListPolicies"),
                ("Scope", scope),
                ("MaxItems", "1000"),
            ],
            None,
        );
        doc.child("ListPoliciesResult")
            .unwrap()
            .child("Policies")
            .unwrap()
            .children_named("member")
            .count()
    };
    assert_eq!(count("Local"), 1);
    assert_eq!(count("All"), count("AWS") + 1);
    let (s, doc) = call(
        &api,
        &[("Action", "DeletePolicy"), ("PolicyArn", &arn)],
        None,
    );
    assert_eq!((s, text(&doc, &["Error", "Code"])), (409, "DeleteConflict"));
}

#[test]
fn edge_errors_use_query_codes() {
    let (_d, api) = api();
    let e = nimbus_api_common::auth_error(&nimbus_api_common::sigv4::AuthError::InvalidToken);
    let r = Service::error(&api, &e, "rid");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let doc = xml::parse(r.body()).unwrap();
    assert_eq!(text(&doc, &["Error", "Code"]), "InvalidClientTokenId");
}
