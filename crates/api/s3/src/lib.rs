//! The S3 API (REST-XML, `2006-03-01`): requests are parsed into an [`Op`], run
//! against the object store, and answered in S3's wire format. Addressing is
//! path-style (`/bucket/key`) or virtual-hosted (`bucket.localhost`).
//!
//! Authentication happens at the edge; it tells this crate how the payload is
//! signed ([`body::Payload`]), and the body is verified while it streams.
//! Calls made inside the server come with their body in memory
//! ([`S3Api::handle_buffered`]).

pub mod acl;
mod authz;
pub mod body;
mod buckets;
pub mod checksum;
mod configs;
mod cors;
pub mod error;
mod lifecycle;
mod listings;
mod lock;
pub mod metadata;
mod multipart;
mod notifications;
mod objects;
mod policy;
pub mod post;
mod request;
mod response;
mod tagging;
/// The restXml helpers S3's documents are written and read with.
pub use nimbus_api_common::xml;

use base64::Engine as _;
use body::{Body, Checks, FileBody, Payload, RequestBody, empty, full};
use error::S3Error;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};
use nimbus_api_common::sigv4::{percent_decode, uri_encode};
use nimbus_model::time::Utc;
use nimbus_objects::events::{EVENT_TYPES, Origin, Rule};
use nimbus_objects::{Attributes, CompletedPart, ListQuery, Object, Objects};
use std::sync::Arc;
use xml::{DECL, el, escape};

/// The namespace of S3's documents.
pub const NS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

use objects::*;
pub use request::host_bucket;
use request::*;
use response::*;
use tagging::*;

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

pub struct S3Api {
    objects: Arc<Objects>,
    region: String,
    /// The credentials POST forms' signatures are checked with.
    signers: std::sync::OnceLock<Arc<dyn post::FormSigners>>,
}

impl S3Api {
    pub fn new(objects: Arc<Objects>, region: &str) -> S3Api {
        S3Api {
            objects,
            region: region.to_string(),
            signers: std::sync::OnceLock::new(),
        }
    }

    /// Answer one S3 request (already authenticated; `payload` says how its
    /// body must be verified while it streams in).
    pub async fn handle(
        &self,
        parts: http::request::Parts,
        body: hyper::body::Incoming,
        payload: Payload,
        request_id: &str,
    ) -> Response<Body> {
        self.answer(parts, RequestBody::Streamed(body), payload, request_id)
            .await
    }

    /// Answer a request made inside the server (CloudFormation's deployer)
    /// with its whole body: nothing signed it, so there is nothing to verify;
    /// it is authorized as the `Caller` its extensions carry.
    pub async fn handle_buffered(
        &self,
        req: http::Request<bytes::Bytes>,
        request_id: &str,
    ) -> Response<Body> {
        let (parts, body) = req.into_parts();
        let body = RequestBody::Buffered(Some(body));
        self.answer(parts, body, Payload::Unsigned, request_id)
            .await
    }

    async fn answer(
        &self,
        parts: http::request::Parts,
        body: RequestBody,
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
        let e = &e.0;
        let with_body = !is_head && e.status != StatusCode::NOT_MODIFIED;
        let mut r = e.rest_xml(resource, request_id, with_body).map(full);
        if e.code == "InvalidRange"
            && let Some(size) = e.extra_text("ActualObjectSize")
        {
            set(&mut r, "content-range", &format!("bytes */{size}"));
        }
        r
    }

    async fn dispatch(
        &self,
        parts: &http::request::Parts,
        body: crate::body::RequestBody,
        payload: Payload,
        t: &Target,
        request_id: &str,
    ) -> Result<Response<Body>, S3Error> {
        let q = Query::parse(parts.uri.query().unwrap_or(""));
        let h = &parts.headers;
        let op = classify(&parts.method, t, &q, h)?;
        nimbus_api_common::authz::authorize(&parts.extensions, |_| {
            let copy_source = match op {
                Op::CopyObject | Op::UploadPartCopy => request::copy_source_version(h).ok(),
                _ => None,
            };
            let copy_source = copy_source
                .as_ref()
                .map(|(b, k, v)| (b.as_str(), k.as_str(), v.as_deref()));
            authz::access(&op, t, q.get("versionId"), copy_source, h)
        })
        .map_err(|d| S3Error::new(StatusCode::FORBIDDEN, "AccessDenied", d.message))?;
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
            Op::ListBuckets => self.list_buckets(&q),
            Op::CreateBucket => self.create_bucket(bucket, h, body, &payload).await,
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
            Op::GetBucketLocation => self.get_location(bucket),
            Op::GetBucketVersioning => self.get_versioning(bucket),
            Op::PutBucketVersioning => self.put_versioning(bucket, body, &payload).await,
            Op::ListObjectVersions => self.list_versions(bucket, &q),
            Op::ListObjects => self.list_objects(bucket, &q, false),
            Op::ListObjectsV2 => self.list_objects(bucket, &q, true),
            Op::ListMultipartUploads => self.list_uploads(bucket, &q),
            Op::DeleteObjects => {
                self.delete_objects(bucket, (h, body), &payload, &origin, &parts.extensions)
                    .await
            }
            Op::PutObject => {
                self.put_object(bucket, key, h, body, &payload, &origin)
                    .await
            }
            Op::PostObject => self.post_object(bucket, parts, body, &origin).await,
            Op::CopyObject => self.copy_object(bucket, key, h, &origin).await,
            Op::PutBucketNotificationConfiguration => {
                self.put_notifications(bucket, body, &payload).await
            }
            Op::GetBucketNotificationConfiguration => self.get_notifications(bucket),
            Op::PutBucketTagging => self.put_bucket_tagging(bucket, body, &payload).await,
            Op::GetBucketTagging => self.get_bucket_tagging(bucket),
            Op::DeleteBucketTagging => self.delete_bucket_tagging(bucket),
            Op::PutObjectTagging => self.put_object_tagging(bucket, key, body, &payload).await,
            Op::GetObjectTagging => self.get_object_tagging(bucket, key),
            Op::DeleteObjectTagging => self.delete_object_tagging(bucket, key),
            Op::GetBucketPolicyStatus => self.get_policy_status(bucket),
            Op::GetBucketAcl => self.get_bucket_acl(bucket),
            Op::PutBucketAcl => self.put_bucket_acl(bucket, h, body, &payload).await,
            Op::GetObjectAcl => self.get_object_acl(bucket, key, q.get("versionId")),
            Op::PutObjectAcl => {
                self.put_object_acl(bucket, key, q.get("versionId"), h, body, &payload)
                    .await
            }
            Op::GetPublicAccessBlock => self.get_public_access_block(bucket),
            Op::PutPublicAccessBlock => self.put_public_access_block(bucket, body, &payload).await,
            Op::DeletePublicAccessBlock => self.delete_public_access_block(bucket),
            Op::GetBucketOwnershipControls => self.get_ownership_controls(bucket),
            Op::PutBucketOwnershipControls => {
                self.put_ownership_controls(bucket, body, &payload).await
            }
            Op::DeleteBucketOwnershipControls => self.delete_ownership_controls(bucket),
            Op::PutBucketPolicy => self.put_policy(bucket, body, &payload).await,
            Op::GetBucketPolicy => self.get_policy(bucket),
            Op::DeleteBucketPolicy => self.delete_policy(bucket),
            Op::PutBucketCors => self.put_cors(bucket, body, &payload).await,
            Op::GetBucketCors => self.get_cors(bucket),
            Op::DeleteBucketCors => self.delete_cors(bucket),
            Op::Preflight => self.preflight(bucket, h),
            Op::PutBucketConfig(k) => self.put_config(bucket, config(k), &q, body, &payload).await,
            Op::GetBucketConfig(k) => self.get_config(bucket, config(k), &q),
            Op::GetObjectLockConfiguration => self.get_lock_configuration(bucket),
            Op::PutObjectLockConfiguration => {
                self.put_lock_configuration(bucket, body, &payload).await
            }
            Op::GetObjectRetention => self.get_retention(bucket, key, q.get("versionId")),
            Op::PutObjectRetention => {
                self.put_retention((bucket, key), q.get("versionId"), h, body, &payload)
                    .await
            }
            Op::GetObjectLegalHold => self.get_legal_hold(bucket, key, q.get("versionId")),
            Op::PutObjectLegalHold => {
                self.put_legal_hold((bucket, key), q.get("versionId"), body, &payload)
                    .await
            }
            Op::DeleteBucketConfig(k) => self.delete_config(bucket, config(k), &q),
            Op::GetObjectAttributes => self.get_object_attributes(bucket, key, h, &q),
            Op::GetObject | Op::HeadObject => {
                self.get_object(bucket, key, h, &q, op == Op::HeadObject)
            }
            Op::DeleteObject => self.delete_object(bucket, key, &q, h, &origin),
            Op::CreateMultipartUpload => self.create_upload(bucket, key, h),
            Op::UploadPart => self.upload_part(bucket, key, &q, h, body, &payload).await,
            Op::UploadPartCopy => self.upload_part_copy(bucket, key, &q, h).await,
            Op::CompleteMultipartUpload => {
                self.complete(bucket, key, &q, (h, body), &payload, &origin)
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
}

/// The stored sub-resource named `query` (one of [`configs::KINDS`]).
fn config(query: &str) -> &'static configs::Kind {
    configs::KINDS
        .iter()
        .find(|k| k.query == query)
        .expect("classified from the same list")
}

/// For the fuzz target: read `doc` as each request document S3 reads past
/// its XML (lifecycle rules, Object Lock configurations and retentions).
#[doc(hidden)]
pub fn read_documents(doc: &[u8]) {
    if let Ok(root) = xml::parse(doc) {
        let _ = lifecycle::parse(&root);
    }
    lock::read_documents(doc);
}

/// For the edge: the bytes of an error response when a request is refused
/// before it reaches [`S3Api::handle`] (authentication).
pub fn refuse(e: &S3Error, path: &str, request_id: &str) -> Response<Body> {
    e.0.rest_xml(path, request_id, true).map(full)
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
            Op::GetBucketConfig("lifecycle")
        );
        assert_eq!(
            classify(&Method::PUT, &t("/b"), &q("object-lock"), &none).unwrap(),
            Op::PutObjectLockConfiguration
        );
        assert!(classify(&Method::DELETE, &t("/b"), &q("logging"), &none).is_err());
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
