//! S3 as workflow Task states and distributed Map states call it
//! (`arn:aws:states:::aws-sdk:s3:getObject`, an `ItemReader`, a
//! `ResultWriter`): the SDK's JSON shapes in and out, made into REST-XML
//! requests handed to the S3 API in process. The state machine's role was
//! checked before the call (`nimbus_workflows::integrations::access`).

use bytes::Bytes;
use http_body_util::BodyExt as _;
use nimbus_api_s3::S3Api;
use nimbus_api_s3::xml::{self, Element};
use nimbus_workflows::integrations::{ServiceApi, ServiceError};
use serde_json::{Map, Value, json};
use std::sync::Arc;

pub struct S3Calls(pub Arc<S3Api>);

/// The most of an object a workflow reads (a Task's result is held to
/// 256 KiB anyway; an `ItemReader`'s file to this).
const MAX_READ: usize = 64 * 1024 * 1024;

/// Errors the SDK models as their own exceptions; the rest are `S3Exception`.
const MODELED: [&str; 6] = [
    "NoSuchKey",
    "NoSuchBucket",
    "NoSuchUpload",
    "BucketAlreadyExists",
    "BucketAlreadyOwnedByYou",
    "InvalidObjectState",
];

fn bad(message: impl Into<String>) -> ServiceError {
    ServiceError {
        code: "S3Exception".into(),
        message: message.into(),
    }
}

fn text<'a>(params: &'a Value, name: &str) -> Option<&'a str> {
    params.get(name).and_then(Value::as_str)
}

/// A required member, at least one character long (as the SDK requires:
/// an empty `Key` would address the bucket itself).
fn required<'a>(params: &'a Value, name: &str) -> Result<&'a str, ServiceError> {
    text(params, name).filter(|v| !v.is_empty()).ok_or_else(|| {
        bad(format!(
            "The request must contain the parameter {name}, at least 1 character long"
        ))
    })
}

fn encode(s: &str) -> String {
    nimbus_api_common::sigv4::uri_encode(s.as_bytes(), true)
}

fn object_path(params: &Value) -> Result<String, ServiceError> {
    let bucket = required(params, "Bucket")?;
    let key = required(params, "Key")?;
    let key: String = key.split('/').map(encode).collect::<Vec<_>>().join("/");
    Ok(format!("/{}/{key}", encode(bucket)))
}

fn header(resp: &http::Response<Bytes>, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// The headers S3 answers an object request with, as the SDK names them.
fn object_fields(resp: &http::Response<Bytes>, out: &mut Map<String, Value>) {
    for (h, field) in [
        ("etag", "ETag"),
        ("content-type", "ContentType"),
        ("last-modified", "LastModified"),
        ("x-amz-version-id", "VersionId"),
    ] {
        if let Some(v) = header(resp, h) {
            out.insert(field.into(), Value::String(v));
        }
    }
    if let Some(n) = header(resp, "content-length").and_then(|v| v.parse::<u64>().ok()) {
        out.insert("ContentLength".into(), n.into());
    }
}

/// `ListObjectsV2`'s XML answer as the SDK's JSON.
fn listing(doc: &Element) -> Value {
    let contents: Vec<Value> = doc
        .children_named("Contents")
        .map(|c| {
            json!({
                "Key": c.child_text("Key").unwrap_or_default(),
                "LastModified": c.child_text("LastModified").unwrap_or_default(),
                "ETag": c.child_text("ETag").unwrap_or_default(),
                "Size": c.child_text("Size").and_then(|s| s.parse::<u64>().ok()).unwrap_or(0),
                "StorageClass": c.child_text("StorageClass").unwrap_or("STANDARD"),
            })
        })
        .collect();
    let mut out = json!({
        "Contents": contents,
        "IsTruncated": doc.child_text("IsTruncated") == Some("true"),
        "KeyCount": doc.child_text("KeyCount").and_then(|s| s.parse::<u64>().ok()).unwrap_or(0),
        "MaxKeys": doc.child_text("MaxKeys").and_then(|s| s.parse::<u64>().ok()).unwrap_or(1000),
        "Name": doc.child_text("Name").unwrap_or_default(),
        "Prefix": doc.child_text("Prefix").unwrap_or_default(),
    });
    if let Some(t) = doc.child_text("NextContinuationToken") {
        out["NextContinuationToken"] = json!(t);
    }
    let prefixes: Vec<Value> = doc
        .children_named("CommonPrefixes")
        .filter_map(|p| p.child_text("Prefix"))
        .map(|p| json!({ "Prefix": p }))
        .collect();
    if !prefixes.is_empty() {
        out["CommonPrefixes"] = json!(prefixes);
    }
    out
}

impl S3Calls {
    async fn send(
        &self,
        method: http::Method,
        path_and_query: &str,
        headers: &[(&str, String)],
        body: Bytes,
    ) -> Result<http::Response<Bytes>, ServiceError> {
        let mut req = http::Request::new(body);
        *req.method_mut() = method;
        *req.uri_mut() = path_and_query
            .parse()
            .map_err(|_| bad(format!("Invalid bucket or key: {path_and_query}")))?;
        let h = req.headers_mut();
        h.insert("host", http::HeaderValue::from_static("localhost"));
        for (name, value) in headers {
            if let (Ok(n), Ok(v)) = (
                http::HeaderName::from_bytes(name.as_bytes()),
                http::HeaderValue::from_str(value),
            ) {
                h.insert(n, v);
            }
        }
        let request_id = uuid::Uuid::new_v4().to_string();
        let resp = self.0.handle_buffered(req, &request_id).await;
        let (parts, body) = resp.into_parts();
        let bytes = http_body_util::Limited::new(body, MAX_READ)
            .collect()
            .await
            .map(|c| c.to_bytes())
            .map_err(|e| {
                bad(format!(
                    "reading S3's answer failed (a workflow reads at most {MAX_READ} bytes of an object): {e}"
                ))
            })?;
        if !parts.status.is_success() {
            let doc = xml::parse(&bytes).unwrap_or_default();
            let code = doc.child_text("Code").unwrap_or("S3Exception");
            let code = if MODELED.contains(&code) {
                format!("{code}Exception")
            } else {
                "S3Exception".to_string()
            };
            return Err(ServiceError {
                code,
                message: doc
                    .child_text("Message")
                    .unwrap_or("S3 refused the request")
                    .to_string(),
            });
        }
        Ok(http::Response::from_parts(parts, bytes))
    }
}

impl ServiceApi for S3Calls {
    fn call(
        &self,
        action: &str,
        params: Value,
    ) -> nimbus_invoke::BoxFuture<'_, Result<Value, ServiceError>> {
        let action = action.to_string();
        Box::pin(async move {
            match action.as_str() {
                "GetObject" | "HeadObject" => {
                    let mut path = object_path(&params)?;
                    if let Some(v) = text(&params, "VersionId") {
                        path.push_str(&format!("?versionId={}", encode(v)));
                    }
                    let method = if action == "GetObject" {
                        http::Method::GET
                    } else {
                        http::Method::HEAD
                    };
                    let resp = self.send(method, &path, &[], Bytes::new()).await?;
                    let mut out = Map::new();
                    object_fields(&resp, &mut out);
                    if action == "GetObject" {
                        out.insert(
                            "Body".into(),
                            Value::String(String::from_utf8_lossy(resp.body()).into_owned()),
                        );
                    }
                    Ok(Value::Object(out))
                }
                "PutObject" => {
                    let path = object_path(&params)?;
                    let body = match params.get("Body") {
                        None | Some(Value::Null) => Bytes::new(),
                        Some(Value::String(s)) => Bytes::from(s.clone()),
                        Some(v) => Bytes::from(v.to_string()),
                    };
                    // A digest, as the SDK sends one (buckets with Object
                    // Lock require it).
                    let mut headers = vec![("content-md5", {
                        use base64::Engine as _;
                        use md5::Digest as _;
                        base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(&body))
                    })];
                    if let Some(t) = text(&params, "ContentType") {
                        headers.push(("content-type", t.to_string()));
                    }
                    let resp = self.send(http::Method::PUT, &path, &headers, body).await?;
                    let mut out = Map::new();
                    for (h, field) in [("etag", "ETag"), ("x-amz-version-id", "VersionId")] {
                        if let Some(v) = header(&resp, h) {
                            out.insert(field.into(), Value::String(v));
                        }
                    }
                    Ok(Value::Object(out))
                }
                "DeleteObject" => {
                    let path = object_path(&params)?;
                    self.send(http::Method::DELETE, &path, &[], Bytes::new())
                        .await?;
                    Ok(json!({}))
                }
                "ListObjectsV2" => {
                    let bucket = required(&params, "Bucket")?;
                    let mut query = vec!["list-type=2".to_string()];
                    for (field, name) in [
                        ("Prefix", "prefix"),
                        ("Delimiter", "delimiter"),
                        ("ContinuationToken", "continuation-token"),
                        ("StartAfter", "start-after"),
                    ] {
                        if let Some(v) = text(&params, field) {
                            query.push(format!("{name}={}", encode(v)));
                        }
                    }
                    if let Some(n) = params.get("MaxKeys").and_then(Value::as_u64) {
                        query.push(format!("max-keys={n}"));
                    }
                    let path = format!("/{}?{}", encode(bucket), query.join("&"));
                    let resp = self
                        .send(http::Method::GET, &path, &[], Bytes::new())
                        .await?;
                    let doc = xml::parse(resp.body()).map_err(bad)?;
                    Ok(listing(&doc))
                }
                other => Err(bad(format!(
                    "The S3 action {other} is not supported by Nimbus's Step Functions integration (GetObject, HeadObject, PutObject, DeleteObject, ListObjectsV2 are)"
                ))),
            }
        })
    }
}
