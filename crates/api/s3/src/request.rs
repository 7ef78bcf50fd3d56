//! What a request is: its bucket and key (path- or virtual-hosted-style), its query, the
//! [`Op`] its method, query and headers name, and the headers S3 reads (attributes,
//! checksums, ranges, copy sources).

use crate::*;

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
pub(crate) struct Target {
    pub(crate) bucket: Option<String>,
    pub(crate) key: Option<String>,
}

impl Target {
    pub(crate) fn parse(raw_path: &str, host_bucket: Option<String>) -> Result<Target, S3Error> {
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

    pub(crate) fn resource(&self) -> String {
        match (&self.bucket, &self.key) {
            (Some(b), Some(k)) => format!("/{b}/{k}"),
            (Some(b), None) => format!("/{b}"),
            _ => "/".into(),
        }
    }
}

/// The decoded query, in order.
pub(crate) struct Query(Vec<(String, String)>);

impl Query {
    pub(crate) fn parse(raw: &str) -> Query {
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

    pub(crate) fn has(&self, k: &str) -> bool {
        self.0.iter().any(|(n, _)| n == k)
    }

    pub(crate) fn get(&self, k: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }
}

/// Every operation this API answers (and what it refuses by name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
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
    /// A browser's form upload (`POST /bucket`, `multipart/form-data`).
    PostObject,
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
    PutBucketPolicy,
    GetBucketPolicy,
    DeleteBucketPolicy,
    GetBucketPolicyStatus,
    GetBucketAcl,
    PutBucketAcl,
    GetObjectAcl,
    PutObjectAcl,
    GetPublicAccessBlock,
    PutPublicAccessBlock,
    DeletePublicAccessBlock,
    GetBucketOwnershipControls,
    PutBucketOwnershipControls,
    DeleteBucketOwnershipControls,
    GetObjectLockConfiguration,
    PutObjectLockConfiguration,
    GetObjectRetention,
    PutObjectRetention,
    GetObjectLegalHold,
    PutObjectLegalHold,
    GetObjectAttributes,
    /// A sub-resource kept as written ([`crate::configs`]), by its query name.
    PutBucketConfig(&'static str),
    GetBucketConfig(&'static str),
    DeleteBucketConfig(&'static str),
    /// A bucket or object sub-resource Nimbus does not implement yet.
    Unsupported(&'static str),
}

/// Object sub-resources we know of but do not implement yet.
pub(crate) const UNSUPPORTED_OBJECT: &[&str] = &["restore", "select", "torrent"];

pub(crate) fn classify(
    method: &Method,
    t: &Target,
    q: &Query,
    headers: &HeaderMap,
) -> Result<Op, S3Error> {
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
            if q.has("object-lock") {
                return match *method {
                    Method::GET => Ok(Op::GetObjectLockConfiguration),
                    Method::PUT => Ok(Op::PutObjectLockConfiguration),
                    _ => Err(method_not_allowed()),
                };
            }
            if let Some(k) = crate::configs::kind_of(q) {
                return match *method {
                    Method::PUT => Ok(Op::PutBucketConfig(k.query)),
                    Method::GET => Ok(Op::GetBucketConfig(k.query)),
                    Method::DELETE
                        if k.query != "logging"
                            && k.query != "accelerate"
                            && k.query != "requestPayment" =>
                    {
                        Ok(Op::DeleteBucketConfig(k.query))
                    }
                    _ => Err(method_not_allowed()),
                };
            }
            match *method {
                Method::PUT if q.has("tagging") => Op::PutBucketTagging,
                Method::GET if q.has("tagging") => Op::GetBucketTagging,
                Method::DELETE if q.has("tagging") => Op::DeleteBucketTagging,
                Method::GET if q.has("policyStatus") => Op::GetBucketPolicyStatus,
                Method::GET if q.has("acl") => Op::GetBucketAcl,
                Method::PUT if q.has("acl") => Op::PutBucketAcl,
                Method::GET if q.has("publicAccessBlock") => Op::GetPublicAccessBlock,
                Method::PUT if q.has("publicAccessBlock") => Op::PutPublicAccessBlock,
                Method::DELETE if q.has("publicAccessBlock") => Op::DeletePublicAccessBlock,
                Method::GET if q.has("ownershipControls") => Op::GetBucketOwnershipControls,
                Method::PUT if q.has("ownershipControls") => Op::PutBucketOwnershipControls,
                Method::DELETE if q.has("ownershipControls") => Op::DeleteBucketOwnershipControls,
                Method::PUT if q.has("policy") => Op::PutBucketPolicy,
                Method::GET if q.has("policy") => Op::GetBucketPolicy,
                Method::DELETE if q.has("policy") => Op::DeleteBucketPolicy,
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
                Method::POST if q.0.is_empty() => Op::PostObject,
                _ => return Err(method_not_allowed()),
            }
        }
        (Some(_), Some(_)) => {
            if let Some(s) = UNSUPPORTED_OBJECT.iter().find(|s| q.has(s)) {
                return Ok(Op::Unsupported(s));
            }
            match *method {
                Method::GET if q.has("attributes") => Op::GetObjectAttributes,
                Method::GET if q.has("retention") => Op::GetObjectRetention,
                Method::PUT if q.has("retention") => Op::PutObjectRetention,
                Method::GET if q.has("legal-hold") => Op::GetObjectLegalHold,
                Method::PUT if q.has("legal-hold") => Op::PutObjectLegalHold,
                Method::GET if q.has("acl") => Op::GetObjectAcl,
                Method::PUT if q.has("acl") => Op::PutObjectAcl,
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

pub(crate) fn method_not_allowed() -> S3Error {
    S3Error::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        "The specified method is not allowed against this resource.",
    )
}

pub(crate) fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// What an upload says about the object: content type, standard headers, user
/// metadata, storage class.
pub(crate) fn attributes_from(h: &HeaderMap) -> Result<Attributes, S3Error> {
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
            let v = crate::metadata::decode(value.as_bytes());
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
pub(crate) fn checksum_claim(h: &HeaderMap) -> Result<Option<(String, Option<String>)>, S3Error> {
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

pub(crate) fn checks_from(h: &HeaderMap) -> Result<Checks, S3Error> {
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

/// A single `bytes=` range: `Ok(None)` for none (or one we ignore, as HTTP
/// allows), `Err` when it cannot be satisfied.
pub(crate) fn parse_range(h: &HeaderMap, size: u64) -> Result<Option<(u64, u64)>, S3Error> {
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
pub(crate) fn copy_source(h: &HeaderMap) -> Result<(String, String), S3Error> {
    copy_source_version(h).map(|(b, k, _)| (b, k))
}

/// The copy source and the version it names, if any.
pub(crate) fn copy_source_version(
    h: &HeaderMap,
) -> Result<(String, String, Option<String>), S3Error> {
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

pub(crate) fn max_keys(q: &Query, name: &str) -> Result<usize, S3Error> {
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
