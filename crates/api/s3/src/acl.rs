//! Access control lists, object ownership and the public access block:
//! `Get/PutBucketAcl`, `Get/PutObjectAcl`, canned ACLs and grant headers on
//! writes, `Get/Put/DeleteBucketOwnershipControls`,
//! `Get/Put/DeletePublicAccessBlock` and `GetBucketPolicyStatus`. A new
//! bucket starts as on S3 since 2023: ACLs off (`BucketOwnerEnforced`) and
//! public access blocked. [`effective_policy`] turns a bucket's policy and
//! the ACLs in force into the one resource policy the authorizer evaluates.

use crate::S3Api;
use crate::body::{self, Body, Payload};
use crate::error::S3Error;
use crate::request::header;
use crate::response::{ok_empty, xml_response};
use crate::xml::{self, DECL, el};
use crate::{NS, OWNER_ID, OWNER_NAME};
use http::{HeaderMap, Response, StatusCode};
use nimbus_objects::access::{
    self, BucketAccess, Grant, Grantee, OWNERSHIP, PERMISSIONS, PublicAccessBlock,
};
use nimbus_objects::{Bucket, Object};
use serde_json::{Value, json};

const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// The grant headers, by the permission each gives.
const GRANT_HEADERS: [(&str, &str); 5] = [
    ("x-amz-grant-read", "READ"),
    ("x-amz-grant-write", "WRITE"),
    ("x-amz-grant-read-acp", "READ_ACP"),
    ("x-amz-grant-write-acp", "WRITE_ACP"),
    ("x-amz-grant-full-control", "FULL_CONTROL"),
];

fn unresolvable_email() -> S3Error {
    S3Error::bad(
        "UnresolvableGrantByEmailAddress",
        "The e-mail address you provided does not match any account on record.",
    )
}

/// One grantee of a grant header: `uri="..."`, `id="..."` or
/// `emailAddress="..."`.
fn header_grantee(item: &str) -> Result<Grantee, S3Error> {
    let (kind, value) = item.split_once('=').ok_or_else(|| {
        S3Error::invalid_argument(format!(
            "Invalid grantee {item:?}: use uri=\"...\", id=\"...\" or emailAddress=\"...\""
        ))
    })?;
    let value = value.trim().trim_matches('"').to_string();
    match kind.trim() {
        "uri" => Ok(Grantee::Group(value)),
        "id" => Ok(Grantee::CanonicalUser(value)),
        "emailAddress" => Err(unresolvable_email()),
        other => Err(S3Error::invalid_argument(format!(
            "Invalid grantee type {other:?}: use uri, id or emailAddress"
        ))),
    }
}

/// The grants a write asks for with `x-amz-acl` or the `x-amz-grant-*`
/// headers; `None` when it names none.
pub fn requested(h: &HeaderMap) -> Result<Option<Vec<Grant>>, S3Error> {
    let canned = header(h, "x-amz-acl");
    let mut grants = Vec::new();
    let mut any_grant_header = false;
    for (name, permission) in GRANT_HEADERS {
        let Some(v) = header(h, name) else { continue };
        any_grant_header = true;
        for item in v.split(',').filter(|i| !i.trim().is_empty()) {
            grants.push(Grant {
                grantee: header_grantee(item)?,
                permission: permission.into(),
            });
        }
    }
    match (canned, any_grant_header) {
        (Some(_), true) => Err(S3Error::bad(
            "InvalidRequest",
            "Specifying both Canned ACLs and Header Grants is not allowed",
        )),
        (Some(name), false) => access::canned(name).map(Some).ok_or_else(|| {
            S3Error::invalid_argument(format!("Invalid canned ACL {name:?}"))
                .with("ArgumentName", "x-amz-acl")
                .with("ArgumentValue", name)
        }),
        (None, true) => Ok(Some(grants)),
        (None, false) => Ok(None),
    }
}

/// Whether `grants` may be set on `bucket` (or one of its objects): ACLs
/// must be on, and public grants not blocked.
pub(crate) fn allowed(access: &BucketAccess, grants: &[Grant]) -> Result<(), S3Error> {
    if grants.is_empty() {
        return Ok(());
    }
    if access.acls_disabled() {
        return Err(S3Error::bad(
            "AccessControlListNotSupported",
            "The bucket does not allow ACLs",
        ));
    }
    if access.block().block_public_acls && grants.iter().any(Grant::is_public) {
        return Err(S3Error::new(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "Access Denied: public ACLs are blocked by the BlockPublicAcls block public access setting",
        ));
    }
    Ok(())
}

/// `AccessControlPolicy` of an owner's implied grant and `grants`.
fn policy_document(grants: &[Grant]) -> String {
    let grant = |grantee: String, permission: &str| {
        format!("<Grant>{grantee}{}</Grant>", el("Permission", permission))
    };
    let mut list = grant(
        format!(
            "<Grantee xmlns:xsi=\"{XSI}\" xsi:type=\"CanonicalUser\"><ID>{OWNER_ID}</ID><DisplayName>{OWNER_NAME}</DisplayName></Grantee>"
        ),
        "FULL_CONTROL",
    );
    for g in grants {
        let grantee = match &g.grantee {
            Grantee::CanonicalUser(id) => format!(
                "<Grantee xmlns:xsi=\"{XSI}\" xsi:type=\"CanonicalUser\">{}</Grantee>",
                el("ID", id)
            ),
            Grantee::Group(uri) => format!(
                "<Grantee xmlns:xsi=\"{XSI}\" xsi:type=\"Group\">{}</Grantee>",
                el("URI", uri)
            ),
        };
        list.push_str(&grant(grantee, &g.permission));
    }
    format!(
        "{DECL}<AccessControlPolicy xmlns=\"{NS}\"><Owner><ID>{OWNER_ID}</ID><DisplayName>{OWNER_NAME}</DisplayName></Owner><AccessControlList>{list}</AccessControlList></AccessControlPolicy>"
    )
}

fn malformed_acl() -> S3Error {
    S3Error::bad(
        "MalformedACLError",
        "The XML you provided was not well-formed or did not validate against our published schema",
    )
}

/// The grants of an `AccessControlPolicy` body, the owner's own left out.
pub fn parse_policy(doc: &[u8]) -> Result<Vec<Grant>, S3Error> {
    let root = xml::parse(doc).map_err(|_| malformed_acl())?;
    if root.name != "AccessControlPolicy" {
        return Err(malformed_acl());
    }
    let list = root.child("AccessControlList").ok_or_else(malformed_acl)?;
    let mut grants = Vec::new();
    for g in list.children_named("Grant") {
        let grantee = g.child("Grantee").ok_or_else(malformed_acl)?;
        let permission = g.child_text("Permission").map(str::trim).unwrap_or("");
        if !PERMISSIONS.contains(&permission) {
            return Err(malformed_acl());
        }
        let who = if let Some(uri) = grantee.child_text("URI") {
            Grantee::Group(uri.trim().to_string())
        } else if let Some(id) = grantee.child_text("ID") {
            Grantee::CanonicalUser(id.trim().to_string())
        } else if grantee.child("EmailAddress").is_some() {
            return Err(unresolvable_email());
        } else {
            return Err(malformed_acl());
        };
        if who == Grantee::CanonicalUser(OWNER_ID.into()) {
            continue;
        }
        grants.push(Grant {
            grantee: who,
            permission: permission.to_string(),
        });
    }
    Ok(grants)
}

/// The grants a `Put*Acl` request sets: from its headers, else its body.
async fn put_grants(
    h: &HeaderMap,
    body: crate::body::RequestBody,
    payload: &Payload,
) -> Result<Vec<Grant>, S3Error> {
    let from_headers = requested(h)?;
    let doc = body::read_document(body, payload, xml::MAX_DOCUMENT).await?;
    let has_body = !doc.iter().all(u8::is_ascii_whitespace);
    match (from_headers, has_body) {
        (Some(_), true) => Err(S3Error::bad(
            "UnexpectedContent",
            "This request does not support content when an ACL is given in its headers",
        )),
        (Some(g), false) => Ok(g),
        (None, true) => parse_policy(&doc),
        (None, false) => Err(S3Error::bad(
            "MissingSecurityHeader",
            "Your request was missing a required header: x-amz-acl, an x-amz-grant-* header or an AccessControlPolicy body",
        )),
    }
}

fn bool_text(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

impl S3Api {
    pub(crate) fn get_bucket_acl(&self, bucket: &str) -> Result<Response<Body>, S3Error> {
        let b = self.objects.bucket(bucket)?;
        Ok(xml_response(StatusCode::OK, policy_document(&b.access.acl)))
    }

    pub(crate) async fn put_bucket_acl(
        &self,
        bucket: &str,
        h: &HeaderMap,
        body: crate::body::RequestBody,
        payload: &Payload,
    ) -> Result<Response<Body>, S3Error> {
        let b = self.objects.bucket(bucket)?;
        let grants = put_grants(h, body, payload).await?;
        allowed(&b.access, &grants)?;
        self.objects
            .update_bucket(bucket, |b| b.access.acl = grants)?;
        Ok(ok_empty(StatusCode::OK))
    }

    pub(crate) fn get_object_acl(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
    ) -> Result<Response<Body>, S3Error> {
        let o = match version {
            Some(v) => self.objects.version(bucket, key, v)?,
            None => self.objects.head(bucket, key)?,
        };
        let mut r = xml_response(StatusCode::OK, policy_document(&o.attributes.acl));
        if let Some(v) = &o.version_id {
            crate::response::set(&mut r, "x-amz-version-id", v);
        }
        Ok(r)
    }

    pub(crate) async fn put_object_acl(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
        h: &HeaderMap,
        body: crate::body::RequestBody,
        payload: &Payload,
    ) -> Result<Response<Body>, S3Error> {
        let b = self.objects.bucket(bucket)?;
        let grants = put_grants(h, body, payload).await?;
        allowed(&b.access, &grants)?;
        let o = self.objects.set_object_acl(bucket, key, version, grants)?;
        let mut r = ok_empty(StatusCode::OK);
        if let Some(v) = &o.version_id {
            crate::response::set(&mut r, "x-amz-version-id", v);
        }
        Ok(r)
    }

    pub(crate) fn get_public_access_block(&self, bucket: &str) -> Result<Response<Body>, S3Error> {
        let b = self.objects.bucket(bucket)?;
        let Some(p) = b.access.public_access_block else {
            return Err(S3Error::new(
                StatusCode::NOT_FOUND,
                "NoSuchPublicAccessBlockConfiguration",
                "The public access block configuration was not found",
            )
            .with("BucketName", bucket));
        };
        Ok(xml_response(
            StatusCode::OK,
            format!(
                "{DECL}<PublicAccessBlockConfiguration xmlns=\"{NS}\">{}{}{}{}</PublicAccessBlockConfiguration>",
                el("BlockPublicAcls", bool_text(p.block_public_acls)),
                el("IgnorePublicAcls", bool_text(p.ignore_public_acls)),
                el("BlockPublicPolicy", bool_text(p.block_public_policy)),
                el(
                    "RestrictPublicBuckets",
                    bool_text(p.restrict_public_buckets)
                ),
            ),
        ))
    }

    pub(crate) async fn put_public_access_block(
        &self,
        bucket: &str,
        body: crate::body::RequestBody,
        payload: &Payload,
    ) -> Result<Response<Body>, S3Error> {
        self.objects.bucket(bucket)?;
        let doc = body::read_document(body, payload, xml::MAX_DOCUMENT).await?;
        let root = xml::parse(&doc).map_err(|m| S3Error::bad("MalformedXML", m))?;
        if root.name != "PublicAccessBlockConfiguration" {
            return Err(S3Error::bad(
                "MalformedXML",
                "The XML you provided was not well-formed or did not validate against our published schema",
            ));
        }
        let flag = |name: &str| -> Result<bool, S3Error> {
            match root.child_text(name).map(str::trim) {
                None | Some("false") => Ok(false),
                Some("true") => Ok(true),
                Some(other) => Err(S3Error::bad(
                    "MalformedXML",
                    format!("{name} must be true or false, not {other:?}"),
                )),
            }
        };
        let block = PublicAccessBlock {
            block_public_acls: flag("BlockPublicAcls")?,
            ignore_public_acls: flag("IgnorePublicAcls")?,
            block_public_policy: flag("BlockPublicPolicy")?,
            restrict_public_buckets: flag("RestrictPublicBuckets")?,
        };
        self.objects
            .update_bucket(bucket, |b| b.access.public_access_block = Some(block))?;
        Ok(ok_empty(StatusCode::OK))
    }

    pub(crate) fn delete_public_access_block(
        &self,
        bucket: &str,
    ) -> Result<Response<Body>, S3Error> {
        self.objects
            .update_bucket(bucket, |b| b.access.public_access_block = None)?;
        Ok(ok_empty(StatusCode::NO_CONTENT))
    }

    pub(crate) fn get_ownership_controls(&self, bucket: &str) -> Result<Response<Body>, S3Error> {
        let b = self.objects.bucket(bucket)?;
        let Some(o) = b.access.ownership else {
            return Err(S3Error::new(
                StatusCode::NOT_FOUND,
                "OwnershipControlsNotFoundError",
                "The bucket ownership controls were not found",
            )
            .with("BucketName", bucket));
        };
        Ok(xml_response(
            StatusCode::OK,
            format!(
                "{DECL}<OwnershipControls xmlns=\"{NS}\"><Rule>{}</Rule></OwnershipControls>",
                el("ObjectOwnership", &o)
            ),
        ))
    }

    pub(crate) async fn put_ownership_controls(
        &self,
        bucket: &str,
        body: crate::body::RequestBody,
        payload: &Payload,
    ) -> Result<Response<Body>, S3Error> {
        let b = self.objects.bucket(bucket)?;
        let doc = body::read_document(body, payload, xml::MAX_DOCUMENT).await?;
        let root = xml::parse(&doc).map_err(|m| S3Error::bad("MalformedXML", m))?;
        let setting = root
            .child("Rule")
            .and_then(|r| r.child_text("ObjectOwnership"))
            .map(str::trim)
            .filter(|o| OWNERSHIP.contains(o))
            .ok_or_else(|| {
                S3Error::bad(
                    "MalformedXML",
                    "OwnershipControls needs one Rule with ObjectOwnership BucketOwnerEnforced, BucketOwnerPreferred or ObjectWriter",
                )
            })?
            .to_string();
        if setting == access::OWNER_ENFORCED && !b.access.acl.is_empty() {
            return Err(enforced_with_acl());
        }
        self.objects
            .update_bucket(bucket, |b| b.access.ownership = Some(setting))?;
        Ok(ok_empty(StatusCode::OK))
    }

    pub(crate) fn delete_ownership_controls(
        &self,
        bucket: &str,
    ) -> Result<Response<Body>, S3Error> {
        self.objects
            .update_bucket(bucket, |b| b.access.ownership = None)?;
        Ok(ok_empty(StatusCode::NO_CONTENT))
    }

    pub(crate) fn get_policy_status(&self, bucket: &str) -> Result<Response<Body>, S3Error> {
        let b = self.objects.bucket(bucket)?;
        let Some(policy) = &b.policy else {
            return Err(S3Error::new(
                StatusCode::NOT_FOUND,
                "NoSuchBucketPolicy",
                "The bucket policy does not exist",
            )
            .with("BucketName", bucket));
        };
        Ok(xml_response(
            StatusCode::OK,
            format!(
                "{DECL}<PolicyStatus xmlns=\"{NS}\">{}</PolicyStatus>",
                el("IsPublic", bool_text(is_public_policy(policy)))
            ),
        ))
    }
}

/// S3's refusal of ACLs on a bucket whose ownership is `BucketOwnerEnforced`.
pub(crate) fn enforced_with_acl() -> S3Error {
    S3Error::bad(
        "InvalidBucketAclWithObjectOwnership",
        "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting",
    )
}

/// Condition keys whose fixed values keep a statement for everyone from
/// being public, as S3's definition of "public" lists them.
const RESTRICTING_KEYS: [&str; 11] = [
    "aws:sourcearn",
    "aws:sourceaccount",
    "aws:sourceowner",
    "aws:sourcevpc",
    "aws:sourcevpce",
    "aws:principalaccount",
    "aws:principalarn",
    "aws:principalorgid",
    "aws:userid",
    "aws:sourceip",
    "s3:datasourceaccount",
];

fn names_everyone(principal: &Value) -> bool {
    match principal {
        Value::String(s) => s == "*",
        Value::Object(m) => m.get("AWS").is_some_and(|a| match a {
            Value::String(s) => s == "*",
            Value::Array(v) => v.iter().any(|x| x == "*"),
            _ => false,
        }),
        _ => false,
    }
}

fn restricted(condition: Option<&Value>) -> bool {
    let Some(Value::Object(ops)) = condition else {
        return false;
    };
    ops.values().any(|keys| {
        keys.as_object().is_some_and(|k| {
            k.keys()
                .any(|key| RESTRICTING_KEYS.contains(&key.to_ascii_lowercase().as_str()))
        })
    })
}

fn statements(doc: &Value) -> Vec<&Value> {
    match doc.get("Statement") {
        Some(Value::Array(v)) => v.iter().collect(),
        Some(s @ Value::Object(_)) => vec![s],
        _ => Vec::new(),
    }
}

fn public_statement(st: &Value) -> bool {
    st.get("Effect").and_then(Value::as_str) == Some("Allow")
        && st.get("Principal").is_some_and(names_everyone)
        && !restricted(st.get("Condition"))
}

/// Whether a bucket policy grants access to everyone (an `Allow` for `*`
/// not narrowed by a condition on who or where the caller is).
pub fn is_public_policy(policy: &str) -> bool {
    serde_json::from_str::<Value>(policy)
        .is_ok_and(|doc| statements(&doc).iter().any(|s| public_statement(s)))
}

/// The IAM actions an ACL permission gives on a bucket, and on its objects.
fn bucket_actions(permission: &str) -> (Vec<&'static str>, Vec<&'static str>) {
    let read = [
        "s3:ListBucket",
        "s3:ListBucketVersions",
        "s3:ListBucketMultipartUploads",
    ];
    let write = ["s3:PutObject", "s3:DeleteObject"];
    match permission {
        "READ" => (read.to_vec(), Vec::new()),
        "WRITE" => (Vec::new(), write.to_vec()),
        "READ_ACP" => (vec!["s3:GetBucketAcl"], Vec::new()),
        "WRITE_ACP" => (vec!["s3:PutBucketAcl"], Vec::new()),
        "FULL_CONTROL" => {
            let mut b = read.to_vec();
            b.extend(["s3:GetBucketAcl", "s3:PutBucketAcl"]);
            (b, write.to_vec())
        }
        _ => (Vec::new(), Vec::new()),
    }
}

fn object_actions(permission: &str) -> Vec<&'static str> {
    let read = ["s3:GetObject", "s3:GetObjectVersion"];
    let read_acp = ["s3:GetObjectAcl", "s3:GetObjectVersionAcl"];
    let write_acp = ["s3:PutObjectAcl", "s3:PutObjectVersionAcl"];
    match permission {
        "READ" => read.to_vec(),
        "READ_ACP" => read_acp.to_vec(),
        "WRITE_ACP" => write_acp.to_vec(),
        "FULL_CONTROL" => [read, read_acp, write_acp].concat(),
        _ => Vec::new(),
    }
}

/// A grant as a policy statement's principal (and condition).
fn grant_principal(grantee: &Grantee) -> (Value, Option<Value>) {
    match grantee {
        Grantee::Group(g) if g == access::ALL_USERS => (json!("*"), None),
        // Any signed request: a caller with a principal type.
        Grantee::Group(g) if g == access::AUTHENTICATED_USERS => (
            json!("*"),
            Some(json!({"Null": {"aws:PrincipalType": "false"}})),
        ),
        Grantee::Group(_) => (json!({"Service": "logging.s3.amazonaws.com"}), None),
        Grantee::CanonicalUser(id) => (json!({"CanonicalUser": id}), None),
    }
}

fn grant_statement(grantee: &Grantee, actions: &[&str], resource: &str) -> Value {
    let (principal, condition) = grant_principal(grantee);
    let mut st = json!({
        "Effect": "Allow",
        "Principal": principal,
        "Action": actions,
        "Resource": resource,
    });
    if let Some(c) = condition {
        st["Condition"] = c;
    }
    st
}

/// The one resource policy the authorizer evaluates for `arn` (the bucket's
/// or one of its objects'): the bucket policy, and the grants of the ACLs in
/// force (none when ACLs are off; no public ones when `IgnorePublicAcls`).
/// With `RestrictPublicBuckets`, a public policy's grants reach only
/// signed callers.
pub fn effective_policy(bucket: &Bucket, object: Option<&Object>) -> Option<String> {
    let block = bucket.access.block();
    let mut out: Vec<Value> = Vec::new();
    if let Some(doc) = bucket
        .policy
        .as_deref()
        .and_then(|p| serde_json::from_str::<Value>(p).ok())
    {
        for st in statements(&doc) {
            let mut st = st.clone();
            if block.restrict_public_buckets && public_statement(&st) {
                let cond = st
                    .as_object_mut()
                    .map(|m| m.entry("Condition").or_insert_with(|| json!({})));
                if let Some(Value::Object(c)) = cond {
                    let null = c.entry("Null").or_insert_with(|| json!({}));
                    if let Value::Object(n) = null {
                        n.insert("aws:PrincipalType".into(), json!("false"));
                    }
                }
            }
            out.push(st);
        }
    }
    if !bucket.access.acls_disabled() {
        let usable = |g: &&Grant| !(block.ignore_public_acls && g.is_public());
        let bucket_arn = format!("arn:aws:s3:::{}", bucket.name);
        for g in bucket.access.acl.iter().filter(usable) {
            let (on_bucket, on_objects) = bucket_actions(&g.permission);
            if !on_bucket.is_empty() {
                out.push(grant_statement(&g.grantee, &on_bucket, &bucket_arn));
            }
            if !on_objects.is_empty() {
                out.push(grant_statement(
                    &g.grantee,
                    &on_objects,
                    &format!("{bucket_arn}/*"),
                ));
            }
        }
        if let Some(o) = object {
            let arn = format!("{bucket_arn}/{}", o.key);
            for g in o.attributes.acl.iter().filter(usable) {
                let actions = object_actions(&g.permission);
                if !actions.is_empty() {
                    out.push(grant_statement(&g.grantee, &actions, &arn));
                }
            }
        }
    }
    (!out.is_empty()).then(|| json!({"Version": "2012-10-17", "Statement": out}).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(policy: Option<&str>, access: BucketAccess) -> Bucket {
        Bucket {
            name: "b".into(),
            created_ms: 0,
            region: "us-east-1".into(),
            notifications: Vec::new(),
            tags: None,
            cors: None,
            versioning: None,
            policy: policy.map(str::to_string),
            access,
            eventbridge: false,
            configs: Default::default(),
            object_lock: None,
            lifecycle: Vec::new(),
        }
    }

    const PUBLIC: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#;

    #[test]
    fn public_policies_are_told_from_narrowed_ones() {
        assert!(is_public_policy(PUBLIC));
        let narrowed = r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"s3:GetObject","Resource":"*","Condition":{"StringEquals":{"aws:SourceAccount":"1"}}}}"#;
        assert!(!is_public_policy(narrowed));
        let deny =
            r#"{"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"*"}]}"#;
        assert!(!is_public_policy(deny));
        assert!(!is_public_policy("not json"));
    }

    #[test]
    fn acls_count_only_where_they_are_on() {
        let mut access = BucketAccess {
            acl: access::canned("public-read").unwrap(),
            ownership: Some("ObjectWriter".into()),
            public_access_block: None,
        };
        let doc = effective_policy(&bucket(None, access.clone()), None).unwrap();
        assert!(doc.contains("s3:ListBucket"), "{doc}");
        access.public_access_block = Some(PublicAccessBlock {
            ignore_public_acls: true,
            ..Default::default()
        });
        assert_eq!(effective_policy(&bucket(None, access.clone()), None), None);
        access.ownership = Some(access::OWNER_ENFORCED.into());
        access.public_access_block = None;
        assert_eq!(effective_policy(&bucket(None, access), None), None);
    }

    #[test]
    fn restricted_buckets_keep_public_grants_to_signed_callers() {
        let b = bucket(Some(PUBLIC), BucketAccess::new_bucket(None));
        let doc: Value = serde_json::from_str(&effective_policy(&b, None).unwrap()).unwrap();
        assert_eq!(
            doc["Statement"][0]["Condition"]["Null"]["aws:PrincipalType"],
            "false"
        );
        let open = bucket(Some(PUBLIC), BucketAccess::default());
        assert!(!effective_policy(&open, None).unwrap().contains("Null"));
    }

    #[test]
    fn grant_headers_and_canned_acls_are_read() {
        let mut h = HeaderMap::new();
        h.insert("x-amz-acl", "public-read".parse().unwrap());
        assert_eq!(requested(&h).unwrap().unwrap().len(), 1);
        h.insert(
            "x-amz-grant-read",
            "uri=\"http://acs.amazonaws.com/groups/global/AllUsers\""
                .parse()
                .unwrap(),
        );
        assert_eq!(requested(&h).unwrap_err().code(), "InvalidRequest");
        h.remove("x-amz-acl");
        let g = requested(&h).unwrap().unwrap();
        assert_eq!(g[0], Grant::group(access::ALL_USERS, "READ"));
        h.insert(
            "x-amz-grant-write",
            "emailAddress=\"a@b.c\"".parse().unwrap(),
        );
        assert_eq!(
            requested(&h).unwrap_err().code(),
            "UnresolvableGrantByEmailAddress"
        );
        let mut bad = HeaderMap::new();
        bad.insert("x-amz-acl", "everyone".parse().unwrap());
        assert_eq!(requested(&bad).unwrap_err().code(), "InvalidArgument");
    }

    #[test]
    fn access_control_policies_round_trip() {
        let grants = vec![
            Grant::group(access::ALL_USERS, "READ"),
            Grant {
                grantee: Grantee::CanonicalUser("ab".repeat(32)),
                permission: "WRITE_ACP".into(),
            },
        ];
        let doc = policy_document(&grants);
        assert_eq!(parse_policy(doc.as_bytes()).unwrap(), grants);
        assert_eq!(
            parse_policy(b"<AccessControlPolicy/>").unwrap_err().code(),
            "MalformedACLError"
        );
    }
}
