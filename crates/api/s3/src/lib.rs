//! The S3 API (REST-XML, `2006-03-01`): requests are parsed into an [`Op`], run
//! against the object store, and answered in S3's wire format. Addressing is
//! path-style (`/bucket/key`) or virtual-hosted (`bucket.localhost`).
//!
//! Authentication happens at the edge; it tells this crate how the payload is
//! signed ([`body::Payload`]), and the body is verified while it streams.

pub mod body;
pub mod checksum;
pub mod error;
pub mod xml;

use base64::Engine as _;
use body::{Body, Checks, FileBody, Payload, empty, full};
use error::S3Error;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};
use nimbus_api_common::sigv4::{percent_decode, uri_encode};
use nimbus_model::time::Utc;
use nimbus_objects::events::{EVENT_TYPES, Origin, Rule};
use nimbus_objects::{Attributes, CompletedPart, ListQuery, Object, Objects};
use std::sync::Arc;
use xml::{DECL, NS, el, escape};

/// S3's limit for one PUT (larger objects need multipart upload).
pub const MAX_PUT_BYTES: u64 = 5 * 1024 * 1024 * 1024;
/// The suffix of virtual-hosted-style addresses: `bucket.localhost`.
pub const VIRTUAL_HOST_SUFFIX: &str = ".localhost";
const OWNER_ID: &str = "6e696d627573000000000000000000000000000000000000000000000000000a";
const OWNER_NAME: &str = "nimbus";
/// Stored standard headers of an object, as S3 returns them.
const CONTENT_HEADERS: [&str; 4] = [
    "cache-control",
    "content-disposition",
    "content-language",
    "expires",
];

/// The bucket named by a virtual-hosted-style `Host` header, if any.
pub fn host_bucket(headers: &HeaderMap) -> Option<String> {
    let host = headers.get("host")?.to_str().ok()?;
    let name = match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    };
    let bucket = name.strip_suffix(VIRTUAL_HOST_SUFFIX)?;
    (!bucket.is_empty()).then(|| bucket.to_string())
}

/// Bucket and key a request addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    bucket: Option<String>,
    key: Option<String>,
}

impl Target {
    fn parse(raw_path: &str, host_bucket: Option<String>) -> Result<Target, S3Error> {
        let decoded = String::from_utf8(percent_decode(raw_path))
            .map_err(|_| S3Error::invalid_argument("Object keys must be UTF-8"))?;
        let path = decoded.strip_prefix('/').unwrap_or(&decoded);
        let (bucket, key) = match host_bucket {
            Some(b) => (Some(b), path.to_string()),
            None => match path.split_once('/') {
                Some((b, k)) => (Some(b.to_string()), k.to_string()),
                None if path.is_empty() => (None, String::new()),
                None => (Some(path.to_string()), String::new()),
            },
        };
        Ok(Target {
            bucket,
            key: (!key.is_empty()).then_some(key),
        })
    }

    fn resource(&self) -> String {
        match (&self.bucket, &self.key) {
            (Some(b), Some(k)) => format!("/{b}/{k}"),
            (Some(b), None) => format!("/{b}"),
            _ => "/".into(),
        }
    }
}

/// The decoded query, in order.
struct Query(Vec<(String, String)>);

impl Query {
    fn parse(raw: &str) -> Query {
        Query(
            raw.split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    let dec = |s: &str| String::from_utf8_lossy(&percent_decode(s)).into_owned();
                    (dec(k), dec(v))
                })
                .collect(),
        )
    }

    fn has(&self, k: &str) -> bool {
        self.0.iter().any(|(n, _)| n == k)
    }

    fn get(&self, k: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }
}

/// Every operation this API answers (and what it refuses by name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    ListBuckets,
    CreateBucket,
    HeadBucket,
    DeleteBucket,
    GetBucketLocation,
    GetBucketVersioning,
    ListObjects,
    ListObjectsV2,
    ListMultipartUploads,
    DeleteObjects,
    PutObject,
    CopyObject,
    GetObject,
    HeadObject,
    DeleteObject,
    CreateMultipartUpload,
    UploadPart,
    UploadPartCopy,
    CompleteMultipartUpload,
    AbortMultipartUpload,
    ListParts,
    PutBucketNotificationConfiguration,
    GetBucketNotificationConfiguration,
    PutBucketTagging,
    GetBucketTagging,
    DeleteBucketTagging,
    PutBucketCors,
    GetBucketCors,
    DeleteBucketCors,
    PutObjectTagging,
    GetObjectTagging,
    DeleteObjectTagging,
    /// A CORS preflight (`OPTIONS`), answered from the bucket's CORS rules.
    Preflight,
    PutBucketVersioning,
    ListObjectVersions,
    /// A bucket or object sub-resource Nimbus does not implement yet.
    Unsupported(&'static str),
}

/// Bucket sub-resources we know of but do not implement yet.
const UNSUPPORTED_BUCKET: &[&str] = &[
    "acl",
    "analytics",
    "accelerate",
    "encryption",
    "intelligent-tiering",
    "inventory",
    "lifecycle",
    "logging",
    "metrics",
    "object-lock",
    "ownershipControls",
    "policy",
    "policyStatus",
    "publicAccessBlock",
    "replication",
    "requestPayment",
    "website",
];
const UNSUPPORTED_OBJECT: &[&str] = &[
    "acl",
    "attributes",
    "legal-hold",
    "restore",
    "retention",
    "select",
    "torrent",
];

fn classify(method: &Method, t: &Target, q: &Query, headers: &HeaderMap) -> Result<Op, S3Error> {
    let copy = headers.contains_key("x-amz-copy-source");
    if *method == Method::OPTIONS {
        return match t.bucket {
            Some(_) => Ok(Op::Preflight),
            None => Err(method_not_allowed()),
        };
    }
    Ok(match (&t.bucket, &t.key) {
        (None, _) => match *method {
            Method::GET => Op::ListBuckets,
            _ => return Err(method_not_allowed()),
        },
        (Some(_), None) => {
            if let Some(s) = UNSUPPORTED_BUCKET.iter().find(|s| q.has(s)) {
                return Ok(Op::Unsupported(s));
            }
            match *method {
                Method::PUT if q.has("tagging") => Op::PutBucketTagging,
                Method::GET if q.has("tagging") => Op::GetBucketTagging,
                Method::DELETE if q.has("tagging") => Op::DeleteBucketTagging,
                Method::PUT if q.has("cors") => Op::PutBucketCors,
                Method::GET if q.has("cors") => Op::GetBucketCors,
                Method::DELETE if q.has("cors") => Op::DeleteBucketCors,
                Method::PUT if q.has("notification") => Op::PutBucketNotificationConfiguration,
                Method::GET if q.has("notification") => Op::GetBucketNotificationConfiguration,
                Method::PUT if q.has("versioning") => Op::PutBucketVersioning,
                Method::GET if q.has("versions") => Op::ListObjectVersions,
                Method::PUT => Op::CreateBucket,
                Method::HEAD => Op::HeadBucket,
                Method::DELETE => Op::DeleteBucket,
                Method::GET if q.has("location") => Op::GetBucketLocation,
                Method::GET if q.has("versioning") => Op::GetBucketVersioning,
                Method::GET if q.has("uploads") => Op::ListMultipartUploads,
                Method::GET if q.get("list-type") == Some("2") => Op::ListObjectsV2,
                Method::GET => Op::ListObjects,
                Method::POST if q.has("delete") => Op::DeleteObjects,
                _ => return Err(method_not_allowed()),
            }
        }
        (Some(_), Some(_)) => {
            if let Some(s) = UNSUPPORTED_OBJECT.iter().find(|s| q.has(s)) {
                return Ok(Op::Unsupported(s));
            }
            match *method {
                Method::PUT if q.has("tagging") => Op::PutObjectTagging,
                Method::GET if q.has("tagging") => Op::GetObjectTagging,
                Method::DELETE if q.has("tagging") => Op::DeleteObjectTagging,
                Method::PUT if q.has("uploadId") && copy => Op::UploadPartCopy,
                Method::PUT if q.has("uploadId") => Op::UploadPart,
                Method::PUT if copy => Op::CopyObject,
                Method::PUT => Op::PutObject,
                Method::GET if q.has("uploadId") => Op::ListParts,
                Method::GET => Op::GetObject,
                Method::HEAD => Op::HeadObject,
                Method::DELETE if q.has("uploadId") => Op::AbortMultipartUpload,
                Method::DELETE => Op::DeleteObject,
                Method::POST if q.has("uploads") => Op::CreateMultipartUpload,
                Method::POST if q.has("uploadId") => Op::CompleteMultipartUpload,
                _ => return Err(method_not_allowed()),
            }
        }
    })
}

fn method_not_allowed() -> S3Error {
    S3Error::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        "The specified method is not allowed against this resource.",
    )
}

fn iso(ms: u64) -> String {
    Utc::from_millis(ms).rfc3339_millis()
}

fn http_date(ms: u64) -> String {
    Utc::from_millis(ms).http_date()
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn set(resp: &mut Response<Body>, name: &str, value: &str) {
    if let (Ok(n), Ok(v)) = (
        http::HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_str(value),
    ) {
        resp.headers_mut().insert(n, v);
    }
}

fn xml_response(status: StatusCode, doc: String) -> Response<Body> {
    let mut r = Response::new(full(doc));
    *r.status_mut() = status;
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/xml"));
    r
}

fn ok_empty(status: StatusCode) -> Response<Body> {
    let mut r = Response::new(empty());
    *r.status_mut() = status;
    r
}

/// What an upload says about the object: content type, standard headers, user
/// metadata, storage class.
fn attributes_from(h: &HeaderMap) -> Result<Attributes, S3Error> {
    let mut a = Attributes {
        content_type: header(h, "content-type").map(str::to_string),
        storage_class: header(h, "x-amz-storage-class").map(str::to_string),
        ..Default::default()
    };
    for name in CONTENT_HEADERS {
        if let Some(v) = header(h, name) {
            a.headers.push((name.to_string(), v.to_string()));
        }
    }
    // `aws-chunked` is the transfer's encoding, not the object's.
    if let Some(enc) = header(h, "content-encoding") {
        let kept: Vec<&str> = enc
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty() && !e.eq_ignore_ascii_case("aws-chunked"))
            .collect();
        if !kept.is_empty() {
            a.headers.push(("content-encoding".into(), kept.join(", ")));
        }
    }
    if let Some(t) = header(h, "x-amz-tagging") {
        let tags: Vec<(String, String)> = Query::parse(t).0;
        validate_tags(&tags, 10)?;
        a.tags = tags;
    }
    let mut size = 0;
    for (name, value) in h {
        if let Some(k) = name.as_str().strip_prefix("x-amz-meta-") {
            let v = String::from_utf8_lossy(value.as_bytes()).into_owned();
            size += k.len() + v.len();
            a.metadata.push((k.to_string(), v));
        }
    }
    if size > 2048 {
        return Err(S3Error::bad(
            "MetadataTooLarge",
            "Your metadata headers exceed the maximum allowed metadata size",
        ));
    }
    Ok(a)
}

/// The algorithm and claimed value of `x-amz-checksum-*` on an upload.
fn checksum_claim(h: &HeaderMap) -> Result<Option<(String, Option<String>)>, S3Error> {
    for alg in checksum::ALGORITHMS {
        let name = format!("x-amz-checksum-{}", alg.to_ascii_lowercase());
        if let Some(v) = header(h, &name) {
            return Ok(Some((alg.to_string(), Some(v.to_string()))));
        }
    }
    // Declared for a trailer, or just named.
    if let Some(t) = header(h, "x-amz-trailer")
        && let Some(alg) = t.trim().strip_prefix("x-amz-checksum-")
    {
        if checksum::Hasher::new(alg).is_none() {
            return Err(S3Error::invalid_argument(format!(
                "Invalid checksum algorithm: {alg}"
            )));
        }
        return Ok(Some((alg.to_ascii_uppercase(), None)));
    }
    if let Some(alg) = header(h, "x-amz-sdk-checksum-algorithm") {
        if checksum::Hasher::new(alg).is_none() {
            return Err(S3Error::invalid_argument(format!(
                "Invalid checksum algorithm: {alg}"
            )));
        }
        return Ok(Some((alg.to_ascii_uppercase(), None)));
    }
    Ok(None)
}

fn checks_from(h: &HeaderMap) -> Result<Checks, S3Error> {
    let content_md5 = match header(h, "content-md5") {
        Some(v) => Some(
            base64::engine::general_purpose::STANDARD
                .decode(v.trim())
                .ok()
                .filter(|d| d.len() == 16)
                .ok_or_else(|| {
                    S3Error::bad(
                        "InvalidDigest",
                        "The Content-MD5 you specified was invalid.",
                    )
                })?,
        ),
        None => None,
    };
    let decoded_length = header(h, "x-amz-decoded-content-length").and_then(|v| v.parse().ok());
    Ok(Checks {
        content_md5,
        checksum: checksum_claim(h)?,
        decoded_length,
        declared_length: decoded_length
            .or_else(|| header(h, "content-length").and_then(|v| v.parse().ok())),
    })
}

/// The object's headers, as GET and HEAD return them.
fn object_headers(resp: &mut Response<Body>, o: &Object, h: &HeaderMap, whole: bool) {
    set(resp, "etag", &format!("\"{}\"", o.etag));
    set(resp, "last-modified", &http_date(o.last_modified_ms));
    set(resp, "accept-ranges", "bytes");
    set(
        resp,
        "content-type",
        o.attributes
            .content_type
            .as_deref()
            .unwrap_or("binary/octet-stream"),
    );
    for (k, v) in &o.attributes.headers {
        set(resp, k, v);
    }
    for (k, v) in &o.attributes.metadata {
        set(resp, &format!("x-amz-meta-{k}"), v);
    }
    if !o.attributes.tags.is_empty() {
        set(
            resp,
            "x-amz-tagging-count",
            &o.attributes.tags.len().to_string(),
        );
    }
    if let Some(v) = &o.version_id {
        set(resp, "x-amz-version-id", v);
    }
    if let Some(n) = o.parts {
        set(resp, "x-amz-mp-parts-count", &n.to_string());
    }
    if let Some(sc) = &o.attributes.storage_class
        && sc != "STANDARD"
    {
        set(resp, "x-amz-storage-class", sc);
    }
    // A checksum describes the whole object: none for a range.
    if whole
        && header(h, "x-amz-checksum-mode").is_some_and(|m| m.eq_ignore_ascii_case("ENABLED"))
        && let Some(c) = &o.checksum
    {
        set(
            resp,
            &format!("x-amz-checksum-{}", c.algorithm.to_ascii_lowercase()),
            &c.value,
        );
        set(resp, "x-amz-checksum-type", &c.kind);
    }
}

/// Evaluate `If-Match`, `If-None-Match`, `If-Modified-Since` and
/// `If-Unmodified-Since` as S3 does; `Err` is the response to send instead.
fn preconditions(h: &HeaderMap, o: &Object) -> Result<(), S3Error> {
    let etag_matches = |list: &str| {
        list.split(',')
            .any(|e| e.trim() == "*" || nimbus_objects::unquote_etag(e) == o.etag)
    };
    let modified_secs = (o.last_modified_ms / 1000) as i64;
    let failed = || {
        S3Error::new(
            StatusCode::PRECONDITION_FAILED,
            "PreconditionFailed",
            "At least one of the pre-conditions you specified did not hold",
        )
    };
    let not_modified = || S3Error::new(StatusCode::NOT_MODIFIED, "NotModified", "Not Modified");
    let if_match = header(h, "if-match");
    if let Some(m) = if_match
        && !etag_matches(m)
    {
        return Err(failed().with("Condition", "If-Match"));
    }
    if if_match.is_none()
        && let Some(d) =
            header(h, "if-unmodified-since").and_then(nimbus_model::time::parse_http_date)
        && modified_secs > d
    {
        return Err(failed().with("Condition", "If-Unmodified-Since"));
    }
    let if_none = header(h, "if-none-match");
    if let Some(m) = if_none
        && etag_matches(m)
    {
        return Err(not_modified());
    }
    if if_none.is_none()
        && let Some(d) =
            header(h, "if-modified-since").and_then(nimbus_model::time::parse_http_date)
        && modified_secs <= d
    {
        return Err(not_modified());
    }
    Ok(())
}

/// A single `bytes=` range: `Ok(None)` for none (or one we ignore, as HTTP
/// allows), `Err` when it cannot be satisfied.
fn parse_range(h: &HeaderMap, size: u64) -> Result<Option<(u64, u64)>, S3Error> {
    let Some(spec) = header(h, "range").and_then(|r| r.trim().strip_prefix("bytes=")) else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.split_once('-') else {
        return Ok(None);
    };
    let unsatisfiable = || {
        S3Error::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "InvalidRange",
            "The requested range is not satisfiable",
        )
        .with("RangeRequested", format!("bytes={spec}"))
        .with("ActualObjectSize", size.to_string())
    };
    let (a, b) = (a.trim(), b.trim());
    let range = if a.is_empty() {
        let Ok(n) = b.parse::<u64>() else {
            return Ok(None);
        };
        if n == 0 || size == 0 {
            return Err(unsatisfiable());
        }
        (size.saturating_sub(n), size - 1)
    } else {
        let Ok(start) = a.parse::<u64>() else {
            return Ok(None);
        };
        let end = if b.is_empty() {
            size.saturating_sub(1)
        } else {
            match b.parse::<u64>() {
                Ok(e) if e >= start => e.min(size.saturating_sub(1)),
                _ => return Ok(None),
            }
        };
        if start >= size {
            return Err(unsatisfiable());
        }
        (start, end)
    };
    Ok(Some(range))
}

/// `x-amz-copy-source`: `bucket/key` (URL-encoded, optionally with a leading
/// slash and `?versionId=`).
fn copy_source(h: &HeaderMap) -> Result<(String, String), S3Error> {
    copy_source_version(h).map(|(b, k, _)| (b, k))
}

/// The copy source and the version it names, if any.
fn copy_source_version(h: &HeaderMap) -> Result<(String, String, Option<String>), S3Error> {
    let raw = header(h, "x-amz-copy-source").unwrap_or("");
    let (raw, version) = match raw.split_once("?versionId=") {
        Some((p, v)) => (p, Some(v.to_string())),
        None => (raw, None),
    };
    let decoded = String::from_utf8(percent_decode(raw)).map_err(|_| {
        S3Error::invalid_argument(
            "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
        )
    })?;
    let path = decoded.strip_prefix('/').unwrap_or(&decoded);
    match path.split_once('/') {
        Some((b, k)) if !b.is_empty() && !k.is_empty() => {
            Ok((b.to_string(), k.to_string(), version))
        }
        _ => Err(S3Error::invalid_argument(
            "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
        )),
    }
}

fn encode_key(s: &str, url: bool) -> String {
    if url {
        uri_encode(s.as_bytes(), true)
    } else {
        s.to_string()
    }
}

fn owner() -> String {
    format!("<Owner><ID>{OWNER_ID}</ID><DisplayName>{OWNER_NAME}</DisplayName></Owner>")
}

fn max_keys(q: &Query, name: &str) -> Result<usize, S3Error> {
    match q.get(name) {
        None => Ok(nimbus_objects::MAX_LIST_KEYS),
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .map(|n| (n as usize).min(nimbus_objects::MAX_LIST_KEYS))
            .ok_or_else(|| {
                S3Error::invalid_argument(format!(
                    "Provided {name} not an integer or within integer range"
                ))
            }),
    }
}

pub struct S3Api {
    objects: Arc<Objects>,
    region: String,
}

impl S3Api {
    pub fn new(objects: Arc<Objects>, region: &str) -> S3Api {
        S3Api {
            objects,
            region: region.to_string(),
        }
    }

    /// Answer one S3 request (already authenticated; `payload` says how its
    /// body must be verified).
    pub async fn handle(
        &self,
        parts: http::request::Parts,
        body: hyper::body::Incoming,
        payload: Payload,
        request_id: &str,
    ) -> Response<Body> {
        let is_head = parts.method == Method::HEAD;
        let target = Target::parse(parts.uri.path(), host_bucket(&parts.headers));
        let resource = target
            .as_ref()
            .map(Target::resource)
            .unwrap_or_else(|_| parts.uri.path().to_string());
        let bucket = target.as_ref().ok().and_then(|t| t.bucket.clone());
        let result = match target {
            Ok(t) => self.dispatch(&parts, body, payload, &t, request_id).await,
            Err(e) => Err(e),
        };
        let mut resp = match result {
            Ok(r) => r,
            Err(e) => self.error_response(&e, &resource, request_id, is_head),
        };
        if parts.method != Method::OPTIONS {
            self.add_cors(bucket.as_deref(), &parts.headers, &parts.method, &mut resp);
        }
        set(&mut resp, "x-amz-request-id", request_id);
        set(&mut resp, "x-amz-id-2", request_id);
        resp
    }

    /// An error in S3's envelope (no body for HEAD, as S3 does).
    pub fn error_response(
        &self,
        e: &S3Error,
        resource: &str,
        request_id: &str,
        is_head: bool,
    ) -> Response<Body> {
        let mut r = if is_head || e.status == StatusCode::NOT_MODIFIED {
            ok_empty(e.status)
        } else {
            xml_response(e.status, e.xml(resource, request_id))
        };
        for (name, value) in &e.headers {
            set(&mut r, name, value);
        }
        if e.code == "InvalidRange"
            && let Some((_, size)) = e.fields.iter().find(|(k, _)| *k == "ActualObjectSize")
        {
            set(&mut r, "content-range", &format!("bytes */{size}"));
        }
        set(&mut r, "x-amz-request-id", request_id);
        r
    }

    async fn dispatch(
        &self,
        parts: &http::request::Parts,
        body: hyper::body::Incoming,
        payload: Payload,
        t: &Target,
        request_id: &str,
    ) -> Result<Response<Body>, S3Error> {
        let q = Query::parse(parts.uri.query().unwrap_or(""));
        let h = &parts.headers;
        let op = classify(&parts.method, t, &q, h)?;
        let bucket = t.bucket.as_deref().unwrap_or("");
        let key = t.key.as_deref().unwrap_or("");
        // The edge runs this inside the request's span.
        tracing::debug!(op = ?op, bucket, key, "s3 request");
        let origin = Origin {
            request_id: request_id.to_string(),
            source_ip: header(h, "x-forwarded-for")
                .and_then(|v| v.split(',').next())
                .unwrap_or("127.0.0.1")
                .trim()
                .to_string(),
            principal: header(h, "authorization")
                .and_then(|a| a.split("Credential=").nth(1))
                .and_then(|c| c.split('/').next())
                .unwrap_or("")
                .to_string(),
            trace: header(h, "x-amzn-trace-id").map(str::to_string),
        };
        match op {
            Op::Unsupported(what) => Err(S3Error::not_implemented(&format!(
                "the '{what}' sub-resource"
            ))),
            Op::ListBuckets => self.list_buckets(),
            Op::CreateBucket => self.create_bucket(bucket, body, &payload).await,
            Op::HeadBucket => {
                let b = self.objects.bucket(bucket)?;
                let mut r = ok_empty(StatusCode::OK);
                set(&mut r, "x-amz-bucket-region", &b.region);
                Ok(r)
            }
            Op::DeleteBucket => {
                self.objects.delete_bucket(bucket)?;
                Ok(ok_empty(StatusCode::NO_CONTENT))
            }
            Op::GetBucketLocation => {
                let b = self.objects.bucket(bucket)?;
                let loc = if b.region == "us-east-1" {
                    ""
                } else {
                    &b.region
                };
                Ok(xml_response(
                    StatusCode::OK,
                    format!(
                        "{DECL}<LocationConstraint xmlns=\"{NS}\">{}</LocationConstraint>",
                        escape(loc)
                    ),
                ))
            }
            Op::GetBucketVersioning => {
                let b = self.objects.bucket(bucket)?;
                let status = b.versioning.map(|s| el("Status", &s)).unwrap_or_default();
                Ok(xml_response(
                    StatusCode::OK,
                    format!(
                        "{DECL}<VersioningConfiguration xmlns=\"{NS}\">{status}</VersioningConfiguration>"
                    ),
                ))
            }
            Op::PutBucketVersioning => {
                let doc = body::read_document(body, &payload, xml::MAX_DOCUMENT).await?;
                let root = xml::parse(&doc).map_err(|m| S3Error::bad("MalformedXML", m))?;
                let status = match root.child_text("Status").map(str::trim) {
                    Some(s @ ("Enabled" | "Suspended")) => s.to_string(),
                    _ => {
                        return Err(S3Error::bad(
                            "IllegalVersioningConfigurationException",
                            "The Versioning element must be specified: Status is Enabled or Suspended",
                        ));
                    }
                };
                self.objects
                    .update_bucket(bucket, |b| b.versioning = Some(status))?;
                Ok(ok_empty(StatusCode::OK))
            }
            Op::ListObjectVersions => self.list_versions(bucket, &q),
            Op::ListObjects => self.list_objects(bucket, &q, false),
            Op::ListObjectsV2 => self.list_objects(bucket, &q, true),
            Op::ListMultipartUploads => self.list_uploads(bucket, &q),
            Op::DeleteObjects => self.delete_objects(bucket, body, &payload, &origin).await,
            Op::PutObject => {
                self.put_object(bucket, key, h, body, &payload, &origin)
                    .await
            }
            Op::CopyObject => self.copy_object(bucket, key, h, &origin).await,
            Op::PutBucketNotificationConfiguration => {
                self.put_notifications(bucket, body, &payload).await
            }
            Op::GetBucketNotificationConfiguration => self.get_notifications(bucket),
            Op::PutBucketTagging => {
                let tags = read_tagging(body, &payload, 50).await?;
                self.objects
                    .update_bucket(bucket, |b| b.tags = Some(tags))?;
                Ok(ok_empty(StatusCode::NO_CONTENT))
            }
            Op::GetBucketTagging => match self.objects.bucket(bucket)?.tags {
                Some(tags) => Ok(tagging_response(&tags)),
                None => Err(S3Error::new(
                    StatusCode::NOT_FOUND,
                    "NoSuchTagSet",
                    "The TagSet does not exist",
                )
                .with("BucketName", bucket)),
            },
            Op::DeleteBucketTagging => {
                self.objects.update_bucket(bucket, |b| b.tags = None)?;
                Ok(ok_empty(StatusCode::NO_CONTENT))
            }
            Op::PutObjectTagging => {
                let tags = read_tagging(body, &payload, 10).await?;
                self.objects.set_object_tags(bucket, key, tags)?;
                Ok(ok_empty(StatusCode::OK))
            }
            Op::GetObjectTagging => {
                let o = self.objects.head(bucket, key)?;
                Ok(tagging_response(&o.attributes.tags))
            }
            Op::DeleteObjectTagging => {
                self.objects.set_object_tags(bucket, key, Vec::new())?;
                Ok(ok_empty(StatusCode::NO_CONTENT))
            }
            Op::PutBucketCors => {
                let doc = body::read_document(body, &payload, xml::MAX_DOCUMENT).await?;
                let rules = parse_cors(&doc)?;
                self.objects
                    .update_bucket(bucket, |b| b.cors = Some(rules))?;
                Ok(ok_empty(StatusCode::OK))
            }
            Op::GetBucketCors => match self.objects.bucket(bucket)?.cors {
                Some(rules) => Ok(cors_response(&rules)),
                None => Err(S3Error::new(
                    StatusCode::NOT_FOUND,
                    "NoSuchCORSConfiguration",
                    "The CORS configuration does not exist",
                )
                .with("BucketName", bucket)),
            },
            Op::DeleteBucketCors => {
                self.objects.update_bucket(bucket, |b| b.cors = None)?;
                Ok(ok_empty(StatusCode::NO_CONTENT))
            }
            Op::Preflight => self.preflight(bucket, h),
            Op::GetObject | Op::HeadObject => {
                self.get_object(bucket, key, h, &q, op == Op::HeadObject)
            }
            Op::DeleteObject => {
                let d = match q.get("versionId") {
                    Some(v) => self.objects.delete_version(bucket, key, v, &origin)?,
                    None => self.objects.delete(bucket, key, &origin)?,
                };
                let mut r = ok_empty(StatusCode::NO_CONTENT);
                if let Some(v) = &d.version_id {
                    set(&mut r, "x-amz-version-id", v);
                }
                if d.delete_marker {
                    set(&mut r, "x-amz-delete-marker", "true");
                }
                Ok(r)
            }
            Op::CreateMultipartUpload => {
                let attrs = attributes_from(h)?;
                let alg = header(h, "x-amz-checksum-algorithm").map(|a| a.to_ascii_uppercase());
                let u = self
                    .objects
                    .create_upload(bucket, key, attrs, alg.clone())?;
                let mut r = xml_response(
                    StatusCode::OK,
                    format!(
                        "{DECL}<InitiateMultipartUploadResult xmlns=\"{NS}\">{}{}{}</InitiateMultipartUploadResult>",
                        el("Bucket", bucket),
                        el("Key", key),
                        el("UploadId", &u.upload_id)
                    ),
                );
                if let Some(a) = alg {
                    set(&mut r, "x-amz-checksum-algorithm", &a);
                }
                Ok(r)
            }
            Op::UploadPart => self.upload_part(bucket, key, &q, h, body, &payload).await,
            Op::UploadPartCopy => self.upload_part_copy(bucket, key, &q, h).await,
            Op::CompleteMultipartUpload => {
                self.complete(bucket, key, &q, body, &payload, &origin)
                    .await
            }
            Op::AbortMultipartUpload => {
                self.objects
                    .abort_upload(bucket, key, q.get("uploadId").unwrap_or(""))?;
                Ok(ok_empty(StatusCode::NO_CONTENT))
            }
            Op::ListParts => self.list_parts(bucket, key, &q),
        }
    }

    fn list_buckets(&self) -> Result<Response<Body>, S3Error> {
        let mut doc = format!(
            "{DECL}<ListAllMyBucketsResult xmlns=\"{NS}\">{}<Buckets>",
            owner()
        );
        for b in self.objects.list_buckets()? {
            doc.push_str(&format!(
                "<Bucket>{}{}{}</Bucket>",
                el("Name", &b.name),
                el("CreationDate", &iso(b.created_ms)),
                el("BucketRegion", &b.region)
            ));
        }
        doc.push_str("</Buckets></ListAllMyBucketsResult>");
        Ok(xml_response(StatusCode::OK, doc))
    }

    async fn create_bucket(
        &self,
        bucket: &str,
        body: hyper::body::Incoming,
        payload: &Payload,
    ) -> Result<Response<Body>, S3Error> {
        let doc = body::read_document(body, payload, xml::MAX_DOCUMENT).await?;
        let mut region = "us-east-1".to_string();
        if !doc.iter().all(u8::is_ascii_whitespace) {
            let root = xml::parse(&doc).map_err(|m| S3Error::bad("MalformedXML", m))?;
            if let Some(loc) = root.child_text("LocationConstraint").map(str::trim)
                && !loc.is_empty()
            {
                if loc == "us-east-1" {
                    return Err(S3Error::bad(
                        "InvalidLocationConstraint",
                        "The specified location-constraint is not valid",
                    )
                    .with("LocationConstraint", loc));
                }
                region = loc.to_string();
            }
        }
        let _ = &self.region;
        self.objects.create_bucket(bucket, &region)?;
        let mut r = ok_empty(StatusCode::OK);
        set(&mut r, "location", &format!("/{bucket}"));
        Ok(r)
    }

    fn list_objects(&self, bucket: &str, q: &Query, v2: bool) -> Result<Response<Body>, S3Error> {
        let url = match q.get("encoding-type") {
            None => false,
            Some("url") => true,
            Some(_) => {
                return Err(S3Error::invalid_argument(
                    "Invalid Encoding Method specified in Request",
                ));
            }
        };
        let prefix = q.get("prefix").unwrap_or("").to_string();
        let delimiter = q
            .get("delimiter")
            .filter(|d| !d.is_empty())
            .map(str::to_string);
        let max = max_keys(q, "max-keys")?;
        let token = q.get("continuation-token");
        let after = if v2 {
            match token {
                Some(t) => Some(
                    base64::engine::general_purpose::URL_SAFE_NO_PAD
                        .decode(t)
                        .map_err(|_| {
                            S3Error::invalid_argument(
                                "The continuation token provided is incorrect",
                            )
                        })?,
                ),
                None => q.get("start-after").map(|s| s.as_bytes().to_vec()),
            }
        } else {
            q.get("marker")
                .filter(|m| !m.is_empty())
                .map(|s| s.as_bytes().to_vec())
        };
        let listing = self.objects.list(
            bucket,
            &ListQuery {
                prefix: prefix.clone(),
                delimiter: delimiter.clone(),
                after,
                max_keys: max,
            },
        )?;
        let mut doc = format!(
            "{DECL}<ListBucketResult xmlns=\"{NS}\">{}",
            el("Name", bucket)
        );
        doc.push_str(&el("Prefix", &encode_key(&prefix, url)));
        if v2 {
            if let Some(t) = token {
                doc.push_str(&el("ContinuationToken", t));
            }
            if let Some(s) = q.get("start-after") {
                doc.push_str(&el("StartAfter", &encode_key(s, url)));
            }
            doc.push_str(&el(
                "KeyCount",
                &(listing.objects.len() + listing.common_prefixes.len()).to_string(),
            ));
        } else {
            doc.push_str(&el(
                "Marker",
                &encode_key(q.get("marker").unwrap_or(""), url),
            ));
        }
        if let Some(d) = &delimiter {
            doc.push_str(&el("Delimiter", &encode_key(d, url)));
        }
        doc.push_str(&el("MaxKeys", &max.to_string()));
        if url {
            doc.push_str("<EncodingType>url</EncodingType>");
        }
        doc.push_str(&el(
            "IsTruncated",
            if listing.truncated { "true" } else { "false" },
        ));
        if listing.truncated {
            if v2 {
                if let Some(n) = &listing.next_after {
                    doc.push_str(&el(
                        "NextContinuationToken",
                        &base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(n),
                    ));
                }
            } else if delimiter.is_some()
                && let Some(last) = &listing.last
            {
                doc.push_str(&el("NextMarker", &encode_key(last, url)));
            }
        }
        for o in &listing.objects {
            doc.push_str(&format!(
                "<Contents>{}{}{}{}{}{}</Contents>",
                el("Key", &encode_key(&o.key, url)),
                el("LastModified", &iso(o.last_modified_ms)),
                el("ETag", &format!("\"{}\"", o.etag)),
                el("Size", &o.size.to_string()),
                if v2 { String::new() } else { owner() },
                el(
                    "StorageClass",
                    o.attributes.storage_class.as_deref().unwrap_or("STANDARD")
                ),
            ));
        }
        for p in &listing.common_prefixes {
            doc.push_str(&format!(
                "<CommonPrefixes>{}</CommonPrefixes>",
                el("Prefix", &encode_key(p, url))
            ));
        }
        doc.push_str("</ListBucketResult>");
        Ok(xml_response(StatusCode::OK, doc))
    }

    async fn delete_objects(
        &self,
        bucket: &str,
        body: hyper::body::Incoming,
        payload: &Payload,
        origin: &Origin,
    ) -> Result<Response<Body>, S3Error> {
        let doc = body::read_document(body, payload, xml::MAX_DOCUMENT).await?;
        let root = xml::parse(&doc).map_err(|m| S3Error::bad("MalformedXML", m))?;
        if root.name != "Delete" {
            return Err(S3Error::bad(
                "MalformedXML",
                "The XML you provided was not well-formed or did not validate against our published schema",
            ));
        }
        let quiet = root.child_text("Quiet").is_some_and(|q| q.trim() == "true");
        let keys: Vec<(&str, Option<&str>)> = root
            .children_named("Object")
            .filter_map(|o| Some((o.child_text("Key")?, o.child_text("VersionId"))))
            .collect();
        if keys.is_empty() || keys.len() > 1000 {
            return Err(S3Error::bad(
                "MalformedXML",
                "The XML you provided was not well-formed or did not validate against our published schema",
            ));
        }
        self.objects.bucket(bucket)?;
        let mut out = format!("{DECL}<DeleteResult xmlns=\"{NS}\">");
        for (k, version) in keys {
            let done = match version {
                Some(v) => self.objects.delete_version(bucket, k, v, origin),
                None => self.objects.delete(bucket, k, origin),
            };
            match done {
                Ok(d) => {
                    if !quiet {
                        let mut e = el("Key", k);
                        if let Some(v) = version {
                            e.push_str(&el("VersionId", v));
                        }
                        if d.delete_marker {
                            e.push_str(&el("DeleteMarker", "true"));
                            if version.is_none()
                                && let Some(v) = &d.version_id
                            {
                                e.push_str(&el("DeleteMarkerVersionId", v));
                            }
                        }
                        out.push_str(&format!("<Deleted>{e}</Deleted>"));
                    }
                }
                Err(e) => {
                    let e = S3Error::from(e);
                    out.push_str(&format!(
                        "<Error>{}{}{}</Error>",
                        el("Key", k),
                        el("Code", e.code),
                        el("Message", &e.message)
                    ));
                }
            }
        }
        out.push_str("</DeleteResult>");
        Ok(xml_response(StatusCode::OK, out))
    }

    async fn put_object(
        &self,
        bucket: &str,
        key: &str,
        h: &HeaderMap,
        body: hyper::body::Incoming,
        payload: &Payload,
        origin: &Origin,
    ) -> Result<Response<Body>, S3Error> {
        let attrs = attributes_from(h)?;
        // Fail before reading the body when the bucket is missing.
        self.objects.bucket(bucket)?;
        if let Some(len) = header(h, "content-length").and_then(|v| v.parse::<u64>().ok())
            && len > MAX_PUT_BYTES + 64 * 1024
            && !matches!(payload, Payload::Chunked(_))
        {
            return Err(S3Error::bad(
                "EntityTooLarge",
                "Your proposed upload exceeds the maximum allowed size",
            ));
        }
        let checks = checks_from(h)?;
        let (written, checksum) = body::receive(
            self.objects.data(),
            body,
            payload,
            checks,
            MAX_PUT_BYTES,
            nimbus_objects::INLINE_MAX,
        )
        .await?;
        // On a blocking thread: the commit waits for its group's fsync, and many
        // PUTs waiting at once is what lets them share one.
        let (objects, b, k, origin) = (
            self.objects.clone(),
            bucket.to_string(),
            key.to_string(),
            origin.clone(),
        );
        let obj = tokio::task::spawn_blocking(move || {
            objects.put(&b, &k, written, attrs, checksum, &origin)
        })
        .await
        .map_err(|e| S3Error::internal(e.to_string()))??;
        let mut r = ok_empty(StatusCode::OK);
        set(&mut r, "etag", &format!("\"{}\"", obj.etag));
        if let Some(v) = &obj.version_id {
            set(&mut r, "x-amz-version-id", v);
        }
        if let Some(c) = &obj.checksum {
            set(
                &mut r,
                &format!("x-amz-checksum-{}", c.algorithm.to_ascii_lowercase()),
                &c.value,
            );
            set(&mut r, "x-amz-checksum-type", &c.kind);
        }
        Ok(r)
    }

    async fn copy_object(
        &self,
        bucket: &str,
        key: &str,
        h: &HeaderMap,
        origin: &Origin,
    ) -> Result<Response<Body>, S3Error> {
        let (sb, sk, sv) = copy_source_version(h)?;
        let src = match &sv {
            Some(v) => self.objects.version(&sb, &sk, v)?,
            None => self.objects.head(&sb, &sk)?,
        };
        if src.delete_marker {
            return Err(S3Error::bad(
                "InvalidRequest",
                "The source of a copy request may not specifically refer to a delete marker by version id.",
            ));
        }
        copy_preconditions(h, &src)?;
        let replace = match header(h, "x-amz-metadata-directive") {
            None | Some("COPY") => false,
            Some("REPLACE") => true,
            Some(_) => return Err(S3Error::invalid_argument("Unknown metadata directive.")),
        };
        if sb == bucket && sk == key && !replace {
            return Err(S3Error::bad(
                "InvalidRequest",
                "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
            ));
        }
        let mut attrs = if replace {
            attributes_from(h)?
        } else {
            src.attributes.clone()
        };
        attrs.tags = match header(h, "x-amz-tagging-directive") {
            None | Some("COPY") => src.attributes.tags.clone(),
            Some("REPLACE") => attributes_from(h)?.tags,
            Some(_) => return Err(S3Error::invalid_argument("Unknown tagging directive.")),
        };
        let objects = self.objects.clone();
        let (bucket_s, key_s, origin) = (bucket.to_string(), key.to_string(), origin.clone());
        let obj = tokio::task::spawn_blocking(move || {
            objects.copy(&src, &bucket_s, &key_s, attrs, &origin)
        })
        .await
        .map_err(|e| S3Error::internal(e.to_string()))??;
        let mut r = xml_response(
            StatusCode::OK,
            format!(
                "{DECL}<CopyObjectResult xmlns=\"{NS}\">{}{}</CopyObjectResult>",
                el("LastModified", &iso(obj.last_modified_ms)),
                el("ETag", &format!("\"{}\"", obj.etag))
            ),
        );
        if let Some(v) = &obj.version_id {
            set(&mut r, "x-amz-version-id", v);
        }
        if let Some(v) = sv {
            set(&mut r, "x-amz-copy-source-version-id", &v);
        }
        Ok(r)
    }

    fn get_object(
        &self,
        bucket: &str,
        key: &str,
        h: &HeaderMap,
        q: &Query,
        head_only: bool,
    ) -> Result<Response<Body>, S3Error> {
        // A replaced object's files are removed right after its metadata: if the
        // files vanished between reading one and opening the other, read again.
        for attempt in 0..3 {
            let obj = match q.get("versionId") {
                Some(v) => {
                    let o = self.objects.version(bucket, key, v)?;
                    if o.delete_marker {
                        return Err(method_not_allowed()
                            .header("x-amz-delete-marker", "true")
                            .header("x-amz-version-id", v));
                    }
                    o
                }
                None => self.objects.head(bucket, key)?,
            };
            if let Err(e) = preconditions(h, &obj) {
                if e.status == StatusCode::NOT_MODIFIED {
                    let mut r = ok_empty(StatusCode::NOT_MODIFIED);
                    set(&mut r, "etag", &format!("\"{}\"", obj.etag));
                    set(&mut r, "last-modified", &http_date(obj.last_modified_ms));
                    return Ok(r);
                }
                return Err(e);
            }
            if q.has("partNumber") {
                return Err(S3Error::not_implemented("GetObject with partNumber"));
            }
            let range = parse_range(h, obj.size)?;
            let (start, end) = range.unwrap_or((0, obj.size.saturating_sub(1)));
            let len = if obj.size == 0 { 0 } else { end - start + 1 };
            let body = if head_only || len == 0 {
                empty()
            } else {
                match FileBody::open(&self.objects, &obj.segments, start, end) {
                    Ok(b) => http_body_util::BodyExt::boxed_unsync(b),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound && attempt < 2 => continue,
                    Err(e) => return Err(S3Error::internal(format!("open object data: {e}"))),
                }
            };
            let mut r = Response::new(body);
            object_headers(&mut r, &obj, h, range.is_none());
            set(&mut r, "content-length", &len.to_string());
            if let Some((s, e)) = range {
                *r.status_mut() = StatusCode::PARTIAL_CONTENT;
                set(
                    &mut r,
                    "content-range",
                    &format!("bytes {s}-{e}/{}", obj.size),
                );
            }
            for (param, name) in [
                ("response-content-type", "content-type"),
                ("response-content-language", "content-language"),
                ("response-expires", "expires"),
                ("response-cache-control", "cache-control"),
                ("response-content-disposition", "content-disposition"),
                ("response-content-encoding", "content-encoding"),
            ] {
                if let Some(v) = q.get(param) {
                    set(&mut r, name, v);
                }
            }
            return Ok(r);
        }
        Err(S3Error::internal(
            "the object changed while it was being read; retry",
        ))
    }

    fn part_number(q: &Query) -> Result<u32, S3Error> {
        q.get("partNumber")
            .and_then(|p| p.parse::<u32>().ok())
            .filter(|n| (1..=nimbus_objects::MAX_PART_NUMBER).contains(n))
            .ok_or_else(|| {
                S3Error::invalid_argument(
                    "Part number must be an integer between 1 and 10000, inclusive",
                )
            })
    }

    async fn upload_part(
        &self,
        bucket: &str,
        key: &str,
        q: &Query,
        h: &HeaderMap,
        body: hyper::body::Incoming,
        payload: &Payload,
    ) -> Result<Response<Body>, S3Error> {
        let number = Self::part_number(q)?;
        let upload_id = q.get("uploadId").unwrap_or("");
        // Fail before reading the body when the upload is unknown.
        self.objects.upload(bucket, key, upload_id)?;
        let checks = checks_from(h)?;
        // Parts are files (a completed upload is its parts' files): never inline.
        let (written, checksum) =
            body::receive(self.objects.data(), body, payload, checks, MAX_PUT_BYTES, 0).await?;
        let part = self
            .objects
            .put_part(bucket, key, upload_id, number, written, checksum)?;
        let mut r = ok_empty(StatusCode::OK);
        set(&mut r, "etag", &format!("\"{}\"", part.etag));
        if let Some(c) = &part.checksum {
            set(
                &mut r,
                &format!("x-amz-checksum-{}", c.algorithm.to_ascii_lowercase()),
                &c.value,
            );
        }
        Ok(r)
    }

    async fn upload_part_copy(
        &self,
        bucket: &str,
        key: &str,
        q: &Query,
        h: &HeaderMap,
    ) -> Result<Response<Body>, S3Error> {
        let number = Self::part_number(q)?;
        let upload_id = q.get("uploadId").unwrap_or("").to_string();
        self.objects.upload(bucket, key, &upload_id)?;
        let (sb, sk) = copy_source(h)?;
        let src = self.objects.head(&sb, &sk)?;
        copy_preconditions(h, &src)?;
        let (start, end) = match header(h, "x-amz-copy-source-range") {
            Some(r) => {
                let spec = r
                    .trim()
                    .strip_prefix("bytes=")
                    .and_then(|s| s.split_once('-'));
                match spec.and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?)))
                {
                    Some((a, b)) if a <= b && b < src.size => (a, b),
                    _ => {
                        return Err(S3Error::invalid_argument(
                            "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy",
                        ));
                    }
                }
            }
            None => (0, src.size.saturating_sub(1)),
        };
        let objects = self.objects.clone();
        let segments = src.segments.clone();
        let size = src.size;
        let written = tokio::task::spawn_blocking(move || -> std::io::Result<_> {
            let mut w = objects.data().writer()?;
            if size > 0 {
                let mut body = FileBody::open(&objects, &segments, start, end)?;
                for piece in body.pieces.iter_mut() {
                    use std::io::Read;
                    match piece {
                        body::Piece::Mem(b) => w.write(b)?,
                        body::Piece::File(f, left) => {
                            let mut buf = vec![0u8; 256 * 1024];
                            while *left > 0 {
                                let n = f.read(&mut buf[..(*left).min(256 * 1024) as usize])?;
                                if n == 0 {
                                    break;
                                }
                                w.write(&buf[..n])?;
                                *left -= n as u64;
                            }
                        }
                    }
                }
            }
            w.finish()
        })
        .await
        .map_err(|e| S3Error::internal(e.to_string()))?
        .map_err(|e| S3Error::internal(format!("copy part data: {e}")))?;
        let part = self
            .objects
            .put_part(bucket, key, &upload_id, number, written, None)?;
        Ok(xml_response(
            StatusCode::OK,
            format!(
                "{DECL}<CopyPartResult xmlns=\"{NS}\">{}{}</CopyPartResult>",
                el("LastModified", &iso(part.last_modified_ms)),
                el("ETag", &format!("\"{}\"", part.etag))
            ),
        ))
    }

    async fn complete(
        &self,
        bucket: &str,
        key: &str,
        q: &Query,
        body: hyper::body::Incoming,
        payload: &Payload,
        origin: &Origin,
    ) -> Result<Response<Body>, S3Error> {
        let upload_id = q.get("uploadId").unwrap_or("");
        let doc = body::read_document(body, payload, xml::MAX_DOCUMENT).await?;
        let root = xml::parse(&doc).map_err(|m| S3Error::bad("MalformedXML", m))?;
        let mut wanted = Vec::new();
        for p in root.children_named("Part") {
            let number = p
                .child_text("PartNumber")
                .and_then(|n| n.trim().parse::<u32>().ok())
                .ok_or_else(|| S3Error::bad("MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema"))?;
            let etag = p.child_text("ETag").unwrap_or("").to_string();
            wanted.push(CompletedPart { number, etag });
        }
        // A composite checksum of the parts' checksums, when the upload asked for one.
        let upload = self.objects.upload(bucket, key, upload_id)?;
        let checksum = match &upload.checksum_algorithm {
            Some(alg) => composite_checksum(alg, &self.objects.parts(upload_id)?, &wanted),
            None => None,
        };
        let obj = self
            .objects
            .complete_upload(bucket, key, upload_id, &wanted, checksum, origin)?;
        let mut doc = format!(
            "{DECL}<CompleteMultipartUploadResult xmlns=\"{NS}\">{}{}{}{}",
            el("Location", &format!("/{bucket}/{key}")),
            el("Bucket", bucket),
            el("Key", key),
            el("ETag", &format!("\"{}\"", obj.etag))
        );
        if let Some(c) = &obj.checksum {
            doc.push_str(&el(&format!("Checksum{}", c.algorithm), &c.value));
            doc.push_str(&el("ChecksumType", &c.kind));
        }
        doc.push_str("</CompleteMultipartUploadResult>");
        Ok(xml_response(StatusCode::OK, doc))
    }

    async fn put_notifications(
        &self,
        bucket: &str,
        body: hyper::body::Incoming,
        payload: &Payload,
    ) -> Result<Response<Body>, S3Error> {
        let doc = body::read_document(body, payload, xml::MAX_DOCUMENT).await?;
        let root = xml::parse(&doc).map_err(|m| S3Error::bad("MalformedXML", m))?;
        let mut rules = Vec::new();
        for c in &root.children {
            match c.name.as_str() {
                "CloudFunctionConfiguration" => rules.push(notification_rule(c, "CloudFunction")?),
                "QueueConfiguration" => rules.push(notification_rule(c, "Queue")?),
                "TopicConfiguration" => {
                    return Err(S3Error::invalid_argument(
                        "Unable to validate the following destination configurations: topic targets are not supported by Nimbus yet (Lambda functions and SQS queues are)",
                    ));
                }
                "EventBridgeConfiguration" => {
                    return Err(S3Error::not_implemented("EventBridgeConfiguration"));
                }
                _ => {}
            }
        }
        self.objects.set_notifications(bucket, rules)?;
        Ok(ok_empty(StatusCode::OK))
    }

    fn get_notifications(&self, bucket: &str) -> Result<Response<Body>, S3Error> {
        let b = self.objects.bucket(bucket)?;
        let mut doc = format!("{DECL}<NotificationConfiguration xmlns=\"{NS}\">");
        for r in &b.notifications {
            let (element, target) = if r
                .function_arn
                .starts_with(nimbus_objects::events::QUEUE_ARN_PREFIX)
            {
                ("QueueConfiguration", "Queue")
            } else {
                ("CloudFunctionConfiguration", "CloudFunction")
            };
            doc.push_str(&format!("<{element}>"));
            doc.push_str(&el("Id", &r.id));
            doc.push_str(&el(target, &r.function_arn));
            for e in &r.events {
                doc.push_str(&el("Event", e));
            }
            if !r.prefix.is_empty() || !r.suffix.is_empty() {
                doc.push_str("<Filter><S3Key>");
                for (name, value) in [("prefix", &r.prefix), ("suffix", &r.suffix)] {
                    if !value.is_empty() {
                        doc.push_str(&format!(
                            "<FilterRule>{}{}</FilterRule>",
                            el("Name", name),
                            el("Value", value)
                        ));
                    }
                }
                doc.push_str("</S3Key></Filter>");
            }
            doc.push_str(&format!("</{element}>"));
        }
        doc.push_str("</NotificationConfiguration>");
        Ok(xml_response(StatusCode::OK, doc))
    }

    fn list_versions(&self, bucket: &str, q: &Query) -> Result<Response<Body>, S3Error> {
        let url = q.get("encoding-type") == Some("url");
        let prefix = q.get("prefix").unwrap_or("");
        let delimiter = q.get("delimiter").filter(|d| !d.is_empty());
        let max = max_keys(q, "max-keys")?;
        let key_marker = q.get("key-marker").filter(|k| !k.is_empty());
        let version_marker = q.get("version-id-marker").filter(|v| !v.is_empty());
        let l = self.objects.list_versions(
            bucket,
            prefix,
            delimiter,
            key_marker,
            version_marker,
            max,
        )?;
        let mut doc = format!(
            "{DECL}<ListVersionsResult xmlns=\"{NS}\">{}{}{}{}{}",
            el("Name", bucket),
            el("Prefix", &encode_key(prefix, url)),
            el("KeyMarker", &encode_key(key_marker.unwrap_or(""), url)),
            el("VersionIdMarker", version_marker.unwrap_or("")),
            el("MaxKeys", &max.to_string())
        );
        if let Some(d) = delimiter {
            doc.push_str(&el("Delimiter", &encode_key(d, url)));
        }
        if url {
            doc.push_str("<EncodingType>url</EncodingType>");
        }
        doc.push_str(&el(
            "IsTruncated",
            if l.truncated { "true" } else { "false" },
        ));
        if let Some(k) = &l.next_key_marker {
            doc.push_str(&el("NextKeyMarker", &encode_key(k, url)));
        }
        if let Some(v) = &l.next_version_marker {
            doc.push_str(&el("NextVersionIdMarker", v));
        }
        for e in &l.entries {
            let o = &e.object;
            let common = format!(
                "{}{}{}{}",
                el("Key", &encode_key(&o.key, url)),
                el("VersionId", nimbus_objects::wire_version(o)),
                el("IsLatest", if e.is_latest { "true" } else { "false" }),
                el("LastModified", &iso(o.last_modified_ms))
            );
            if o.delete_marker {
                doc.push_str(&format!("<DeleteMarker>{common}{}</DeleteMarker>", owner()));
            } else {
                doc.push_str(&format!(
                    "<Version>{common}{}{}{}{}</Version>",
                    el("ETag", &format!("\"{}\"", o.etag)),
                    el("Size", &o.size.to_string()),
                    el(
                        "StorageClass",
                        o.attributes.storage_class.as_deref().unwrap_or("STANDARD")
                    ),
                    owner()
                ));
            }
        }
        for p in &l.common_prefixes {
            doc.push_str(&format!(
                "<CommonPrefixes>{}</CommonPrefixes>",
                el("Prefix", &encode_key(p, url))
            ));
        }
        doc.push_str("</ListVersionsResult>");
        Ok(xml_response(StatusCode::OK, doc))
    }

    /// Answer an `OPTIONS` preflight from the bucket's CORS rules.
    fn preflight(&self, bucket: &str, h: &HeaderMap) -> Result<Response<Body>, S3Error> {
        let forbidden = || {
            S3Error::new(
                StatusCode::FORBIDDEN,
                "AccessForbidden",
                "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.",
            )
        };
        let (Some(origin), Some(method)) = (
            header(h, "origin"),
            header(h, "access-control-request-method"),
        ) else {
            return Err(S3Error::bad(
                "BadRequest",
                "Insufficient information. Origin request header needed.",
            ));
        };
        let requested: Vec<String> = header(h, "access-control-request-headers")
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let b = self.objects.bucket(bucket)?;
        let rules = b.cors.unwrap_or_default();
        let rule =
            nimbus_objects::cors_match(&rules, origin, method, &requested).ok_or_else(forbidden)?;
        let mut r = ok_empty(StatusCode::OK);
        cors_headers(&mut r, rule, origin);
        if !requested.is_empty() {
            set(
                &mut r,
                "access-control-allow-headers",
                &requested.join(", "),
            );
        }
        Ok(r)
    }

    /// CORS headers for an actual (non-preflight) request with an `Origin`.
    fn add_cors(
        &self,
        bucket: Option<&str>,
        h: &HeaderMap,
        method: &Method,
        resp: &mut Response<Body>,
    ) {
        let (Some(bucket), Some(origin)) = (bucket, header(h, "origin")) else {
            return;
        };
        let Ok(b) = self.objects.bucket(bucket) else {
            return;
        };
        if let Some(rules) = &b.cors
            && let Some(rule) = nimbus_objects::cors_match(rules, origin, method.as_str(), &[])
        {
            cors_headers(resp, rule, origin);
        }
    }

    fn list_parts(&self, bucket: &str, key: &str, q: &Query) -> Result<Response<Body>, S3Error> {
        let upload_id = q.get("uploadId").unwrap_or("");
        let upload = self.objects.upload(bucket, key, upload_id)?;
        let max = max_keys(q, "max-parts")?;
        let marker: u32 = q
            .get("part-number-marker")
            .map(|m| {
                m.parse()
                    .map_err(|_| S3Error::invalid_argument("Invalid part-number-marker"))
            })
            .transpose()?
            .unwrap_or(0);
        let parts: Vec<_> = self
            .objects
            .parts(upload_id)?
            .into_iter()
            .filter(|p| p.number > marker)
            .collect();
        let truncated = parts.len() > max;
        let page = &parts[..parts.len().min(max)];
        let mut doc = format!(
            "{DECL}<ListPartsResult xmlns=\"{NS}\">{}{}{}{}",
            el("Bucket", bucket),
            el("Key", key),
            el("UploadId", upload_id),
            el("PartNumberMarker", &marker.to_string())
        );
        if let Some(last) = page.last() {
            doc.push_str(&el("NextPartNumberMarker", &last.number.to_string()));
        }
        doc.push_str(&el("MaxParts", &max.to_string()));
        doc.push_str(&el("IsTruncated", if truncated { "true" } else { "false" }));
        for p in page {
            doc.push_str(&format!(
                "<Part>{}{}{}{}",
                el("PartNumber", &p.number.to_string()),
                el("LastModified", &iso(p.last_modified_ms)),
                el("ETag", &format!("\"{}\"", p.etag)),
                el("Size", &p.size.to_string())
            ));
            if let Some(c) = &p.checksum {
                doc.push_str(&el(&format!("Checksum{}", c.algorithm), &c.value));
            }
            doc.push_str("</Part>");
        }
        doc.push_str(&format!(
            "<Initiator><ID>{OWNER_ID}</ID><DisplayName>{OWNER_NAME}</DisplayName></Initiator>{}{}",
            owner(),
            el(
                "StorageClass",
                upload
                    .attributes
                    .storage_class
                    .as_deref()
                    .unwrap_or("STANDARD")
            )
        ));
        if let Some(a) = &upload.checksum_algorithm {
            doc.push_str(&el("ChecksumAlgorithm", a));
        }
        doc.push_str("</ListPartsResult>");
        Ok(xml_response(StatusCode::OK, doc))
    }

    fn list_uploads(&self, bucket: &str, q: &Query) -> Result<Response<Body>, S3Error> {
        let prefix = q.get("prefix").unwrap_or("");
        let max = max_keys(q, "max-uploads")?;
        let key_marker = q.get("key-marker").unwrap_or("");
        let id_marker = q.get("upload-id-marker").unwrap_or("");
        let ups: Vec<_> = self
            .objects
            .list_uploads(bucket, prefix)?
            .into_iter()
            .filter(|u| {
                key_marker.is_empty()
                    || u.key.as_str() > key_marker
                    || (u.key == key_marker
                        && !id_marker.is_empty()
                        && u.upload_id.as_str() > id_marker)
            })
            .collect();
        let truncated = ups.len() > max;
        let page = &ups[..ups.len().min(max)];
        let mut doc = format!(
            "{DECL}<ListMultipartUploadsResult xmlns=\"{NS}\">{}{}{}{}",
            el("Bucket", bucket),
            el("KeyMarker", key_marker),
            el("UploadIdMarker", id_marker),
            el("Prefix", prefix)
        );
        if truncated && let Some(last) = page.last() {
            doc.push_str(&el("NextKeyMarker", &last.key));
            doc.push_str(&el("NextUploadIdMarker", &last.upload_id));
        }
        doc.push_str(&el("MaxUploads", &max.to_string()));
        doc.push_str(&el("IsTruncated", if truncated { "true" } else { "false" }));
        for u in page {
            doc.push_str(&format!(
                "<Upload>{}{}<Initiator><ID>{OWNER_ID}</ID><DisplayName>{OWNER_NAME}</DisplayName></Initiator>{}{}{}</Upload>",
                el("Key", &u.key),
                el("UploadId", &u.upload_id),
                owner(),
                el("StorageClass", "STANDARD"),
                el("Initiated", &iso(u.initiated_ms))
            ));
        }
        doc.push_str("</ListMultipartUploadsResult>");
        Ok(xml_response(StatusCode::OK, doc))
    }
}

/// One `CloudFunctionConfiguration` of a notification configuration.
/// One `CloudFunctionConfiguration` or `QueueConfiguration` (`target` names the
/// element holding the target ARN).
fn notification_rule(c: &xml::Element, target: &str) -> Result<Rule, S3Error> {
    let function_arn = c
        .child_text(target)
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| {
            S3Error::invalid_argument(format!(
                "A notification configuration needs its {target} ARN"
            ))
        })?
        .to_string();
    let events: Vec<String> = c
        .children_named("Event")
        .map(|e| e.text.trim().to_string())
        .collect();
    if events.is_empty() {
        return Err(S3Error::invalid_argument(
            "A notification configuration needs at least one event",
        ));
    }
    if let Some(bad) = events.iter().find(|e| !EVENT_TYPES.contains(&e.as_str())) {
        return Err(S3Error::invalid_argument(format!(
            "The event is not supported for notifications: {bad}"
        )));
    }
    let (mut prefix, mut suffix) = (String::new(), String::new());
    if let Some(key) = c.child("Filter").and_then(|f| f.child("S3Key")) {
        for r in key.children_named("FilterRule") {
            let value = r.child_text("Value").unwrap_or("").to_string();
            match r
                .child_text("Name")
                .map(|n| n.trim().to_ascii_lowercase())
                .as_deref()
            {
                Some("prefix") if prefix.is_empty() => prefix = value,
                Some("suffix") if suffix.is_empty() => suffix = value,
                _ => {
                    return Err(S3Error::invalid_argument(
                        "FilterRule names must be 'prefix' or 'suffix', each at most once",
                    ));
                }
            }
        }
    }
    Ok(Rule {
        id: c
            .child_text("Id")
            .map(str::to_string)
            .filter(|i| !i.is_empty())
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        function_arn,
        events,
        prefix,
        suffix,
    })
}

fn invalid_tag(message: &str) -> S3Error {
    S3Error::bad("InvalidTag", message)
}

/// S3's limits on a tag set.
fn validate_tags(tags: &[(String, String)], max: usize) -> Result<(), S3Error> {
    if tags.len() > max {
        return Err(S3Error::bad(
            "BadRequest",
            format!("Object tags cannot be greater than {max}"),
        ));
    }
    for (i, (k, v)) in tags.iter().enumerate() {
        if k.is_empty() || k.chars().count() > 128 {
            return Err(invalid_tag("The TagKey you have provided is invalid"));
        }
        if v.chars().count() > 256 {
            return Err(invalid_tag("The TagValue you have provided is invalid"));
        }
        if tags[..i].iter().any(|(other, _)| other == k) {
            return Err(invalid_tag(
                "Cannot provide multiple Tags with the same key",
            ));
        }
    }
    Ok(())
}

/// A `<Tagging><TagSet><Tag><Key/><Value/></Tag>...` document.
async fn read_tagging(
    body: hyper::body::Incoming,
    payload: &Payload,
    max: usize,
) -> Result<Vec<(String, String)>, S3Error> {
    let doc = body::read_document(body, payload, xml::MAX_DOCUMENT).await?;
    let root = xml::parse(&doc).map_err(|m| S3Error::bad("MalformedXML", m))?;
    let set = root
        .child("TagSet")
        .ok_or_else(|| S3Error::bad("MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema"))?;
    let tags: Vec<(String, String)> = set
        .children_named("Tag")
        .map(|t| {
            (
                t.child_text("Key").unwrap_or("").to_string(),
                t.child_text("Value").unwrap_or("").to_string(),
            )
        })
        .collect();
    validate_tags(&tags, max)?;
    Ok(tags)
}

fn tagging_response(tags: &[(String, String)]) -> Response<Body> {
    let mut doc = format!("{DECL}<Tagging xmlns=\"{NS}\"><TagSet>");
    for (k, v) in tags {
        doc.push_str(&format!("<Tag>{}{}</Tag>", el("Key", k), el("Value", v)));
    }
    doc.push_str("</TagSet></Tagging>");
    xml_response(StatusCode::OK, doc)
}

const CORS_METHODS: [&str; 5] = ["GET", "PUT", "POST", "DELETE", "HEAD"];

fn parse_cors(doc: &[u8]) -> Result<Vec<nimbus_objects::CorsRule>, S3Error> {
    let root = xml::parse(doc).map_err(|m| S3Error::bad("MalformedXML", m))?;
    let texts = |r: &xml::Element, name: &str| -> Vec<String> {
        r.children_named(name)
            .map(|e| e.text.trim().to_string())
            .collect()
    };
    let mut rules = Vec::new();
    for r in root.children_named("CORSRule") {
        let rule = nimbus_objects::CorsRule {
            id: r.child_text("ID").map(str::to_string),
            allowed_origins: texts(r, "AllowedOrigin"),
            allowed_methods: texts(r, "AllowedMethod"),
            allowed_headers: texts(r, "AllowedHeader"),
            expose_headers: texts(r, "ExposeHeader"),
            max_age_seconds: r
                .child_text("MaxAgeSeconds")
                .map(|m| {
                    m.trim()
                        .parse()
                        .map_err(|_| S3Error::bad("MalformedXML", "MaxAgeSeconds must be a number"))
                })
                .transpose()?,
        };
        if rule.allowed_origins.is_empty() || rule.allowed_methods.is_empty() {
            return Err(S3Error::bad(
                "MalformedXML",
                "A CORSRule needs at least one AllowedOrigin and one AllowedMethod",
            ));
        }
        if let Some(m) = rule
            .allowed_methods
            .iter()
            .find(|m| !CORS_METHODS.contains(&m.as_str()))
        {
            return Err(S3Error::invalid_argument(format!(
                "Found unsupported HTTP method in CORS config. Unsupported method is {m}"
            )));
        }
        if rule
            .allowed_origins
            .iter()
            .chain(&rule.allowed_headers)
            .any(|o| o.matches('*').count() > 1)
        {
            return Err(S3Error::invalid_argument(
                "An AllowedOrigin or AllowedHeader can have at most one wildcard",
            ));
        }
        rules.push(rule);
    }
    if rules.is_empty() || rules.len() > 100 {
        return Err(S3Error::bad(
            "MalformedXML",
            "A CORS configuration needs between 1 and 100 CORSRules",
        ));
    }
    Ok(rules)
}

fn cors_response(rules: &[nimbus_objects::CorsRule]) -> Response<Body> {
    let mut doc = format!("{DECL}<CORSConfiguration xmlns=\"{NS}\">");
    for r in rules {
        doc.push_str("<CORSRule>");
        if let Some(id) = &r.id {
            doc.push_str(&el("ID", id));
        }
        for (name, values) in [
            ("AllowedHeader", &r.allowed_headers),
            ("AllowedMethod", &r.allowed_methods),
            ("AllowedOrigin", &r.allowed_origins),
            ("ExposeHeader", &r.expose_headers),
        ] {
            for v in values {
                doc.push_str(&el(name, v));
            }
        }
        if let Some(m) = r.max_age_seconds {
            doc.push_str(&el("MaxAgeSeconds", &m.to_string()));
        }
        doc.push_str("</CORSRule>");
    }
    doc.push_str("</CORSConfiguration>");
    xml_response(StatusCode::OK, doc)
}

/// Add the CORS headers of `rule` for a request from `origin`.
fn cors_headers(resp: &mut Response<Body>, rule: &nimbus_objects::CorsRule, origin: &str) {
    let any = rule.allowed_origins.iter().any(|o| o == "*");
    set(
        resp,
        "access-control-allow-origin",
        if any { "*" } else { origin },
    );
    set(
        resp,
        "access-control-allow-methods",
        &rule.allowed_methods.join(", "),
    );
    if !rule.expose_headers.is_empty() {
        set(
            resp,
            "access-control-expose-headers",
            &rule.expose_headers.join(", "),
        );
    }
    if let Some(m) = rule.max_age_seconds {
        set(resp, "access-control-max-age", &m.to_string());
    }
    if !any {
        set(resp, "access-control-allow-credentials", "true");
        set(
            resp,
            "vary",
            "Origin, Access-Control-Request-Headers, Access-Control-Request-Method",
        );
    }
}

/// `x-amz-copy-source-if-*`, as S3 evaluates them for copies.
fn copy_preconditions(h: &HeaderMap, src: &Object) -> Result<(), S3Error> {
    let mut renamed = HeaderMap::new();
    for (from, to) in [
        ("x-amz-copy-source-if-match", "if-match"),
        ("x-amz-copy-source-if-none-match", "if-none-match"),
        ("x-amz-copy-source-if-modified-since", "if-modified-since"),
        (
            "x-amz-copy-source-if-unmodified-since",
            "if-unmodified-since",
        ),
    ] {
        if let Some(v) = h.get(from) {
            renamed.insert(to, v.clone());
        }
    }
    preconditions(&renamed, src).map_err(|e| {
        if e.status == StatusCode::NOT_MODIFIED {
            S3Error::new(
                StatusCode::PRECONDITION_FAILED,
                "PreconditionFailed",
                "At least one of the pre-conditions you specified did not hold",
            )
        } else {
            e
        }
    })
}

/// S3's composite checksum of a multipart upload: the checksum of the parts'
/// binary checksums, then `-N`.
fn composite_checksum(
    alg: &str,
    parts: &[nimbus_objects::Part],
    wanted: &[CompletedPart],
) -> Option<nimbus_objects::Checksum> {
    let mut h = checksum::Hasher::new(alg)?;
    for w in wanted {
        let p = parts.iter().find(|p| p.number == w.number)?;
        let c = p.checksum.as_ref()?;
        h.update(
            &base64::engine::general_purpose::STANDARD
                .decode(&c.value)
                .ok()?,
        );
    }
    Some(nimbus_objects::Checksum {
        algorithm: alg.to_string(),
        value: format!("{}-{}", h.finish(), wanted.len()),
        kind: "COMPOSITE".into(),
    })
}

/// For the edge: the bytes of an error response when a request is refused
/// before it reaches [`S3Api::handle`] (authentication).
pub fn refuse(e: &S3Error, path: &str, request_id: &str) -> Response<Body> {
    let mut r = xml_response(e.status, e.xml(path, request_id));
    set(&mut r, "x-amz-request-id", request_id);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn targets_from_path_and_host() {
        let t = Target::parse("/bucket/a%20b/c", None).unwrap();
        assert_eq!(
            (t.bucket.as_deref(), t.key.as_deref()),
            (Some("bucket"), Some("a b/c"))
        );
        let t = Target::parse("/bucket", None).unwrap();
        assert_eq!((t.bucket.as_deref(), t.key), (Some("bucket"), None));
        let t = Target::parse("/bucket/", None).unwrap();
        assert_eq!(t.key, None);
        let t = Target::parse("/", None).unwrap();
        assert_eq!(t.bucket, None);
        let t = Target::parse("/k/x", Some("vb".into())).unwrap();
        assert_eq!(
            (t.bucket.as_deref(), t.key.as_deref()),
            (Some("vb"), Some("k/x"))
        );
        assert_eq!(
            host_bucket(&headers(&[("host", "photos.localhost:4566")])).as_deref(),
            Some("photos")
        );
        assert_eq!(host_bucket(&headers(&[("host", "127.0.0.1:4566")])), None);
        assert_eq!(host_bucket(&headers(&[("host", "localhost")])), None);
    }

    #[test]
    fn operations_by_method_and_query() {
        let t = |p: &str| Target::parse(p, None).unwrap();
        let q = |s: &str| Query::parse(s);
        let none = HeaderMap::new();
        let copy = headers(&[("x-amz-copy-source", "/a/b")]);
        assert_eq!(
            classify(&Method::GET, &t("/"), &q(""), &none).unwrap(),
            Op::ListBuckets
        );
        assert_eq!(
            classify(&Method::GET, &t("/b"), &q("list-type=2"), &none).unwrap(),
            Op::ListObjectsV2
        );
        assert_eq!(
            classify(&Method::GET, &t("/b"), &q(""), &none).unwrap(),
            Op::ListObjects
        );
        assert_eq!(
            classify(&Method::POST, &t("/b"), &q("delete"), &none).unwrap(),
            Op::DeleteObjects
        );
        assert_eq!(
            classify(&Method::PUT, &t("/b/k"), &q(""), &copy).unwrap(),
            Op::CopyObject
        );
        assert_eq!(
            classify(
                &Method::PUT,
                &t("/b/k"),
                &q("partNumber=1&uploadId=x"),
                &none
            )
            .unwrap(),
            Op::UploadPart
        );
        assert_eq!(
            classify(&Method::POST, &t("/b/k"), &q("uploads"), &none).unwrap(),
            Op::CreateMultipartUpload
        );
        assert_eq!(
            classify(&Method::GET, &t("/b"), &q("cors"), &none).unwrap(),
            Op::GetBucketCors
        );
        assert_eq!(
            classify(&Method::GET, &t("/b"), &q("versions"), &none).unwrap(),
            Op::ListObjectVersions
        );
        assert_eq!(
            classify(&Method::OPTIONS, &t("/b/k"), &q(""), &none).unwrap(),
            Op::Preflight
        );
        assert_eq!(
            classify(&Method::GET, &t("/b"), &q("lifecycle"), &none).unwrap(),
            Op::Unsupported("lifecycle")
        );
        assert!(classify(&Method::POST, &t("/"), &q(""), &none).is_err());
    }

    #[test]
    fn ranges() {
        let r = |v: &str, size| parse_range(&headers(&[("range", v)]), size);
        assert_eq!(r("bytes=0-9", 100).unwrap(), Some((0, 9)));
        assert_eq!(r("bytes=90-", 100).unwrap(), Some((90, 99)));
        assert_eq!(r("bytes=-10", 100).unwrap(), Some((90, 99)));
        assert_eq!(r("bytes=95-200", 100).unwrap(), Some((95, 99)));
        assert_eq!(r("bytes=-200", 100).unwrap(), Some((0, 99)));
        assert!(r("bytes=100-", 100).is_err());
        assert_eq!(r("bytes=5-1", 100).unwrap(), None);
        assert_eq!(r("items=0-1", 100).unwrap(), None);
        assert_eq!(r("bytes=0-1,4-5", 100).unwrap(), None);
    }

    #[test]
    fn copy_sources() {
        let c = |v: &str| copy_source(&headers(&[("x-amz-copy-source", v)]));
        assert_eq!(c("/src/a%20b").unwrap(), ("src".into(), "a b".into()));
        assert_eq!(c("src/k?versionId=1").unwrap(), ("src".into(), "k".into()));
        assert!(c("src").is_err());
    }
}
