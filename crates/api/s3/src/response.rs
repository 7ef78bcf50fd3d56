//! Pieces of S3's answers: XML and empty responses, object headers, S3's time
//! formats, key encoding.

use crate::*;

pub(crate) fn iso(ms: u64) -> String {
    Utc::from_millis(ms).rfc3339_millis()
}

pub(crate) fn http_date(ms: u64) -> String {
    Utc::from_millis(ms).http_date()
}

pub(crate) fn set(resp: &mut Response<Body>, name: &str, value: &str) {
    if let (Ok(n), Ok(v)) = (
        http::HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_str(value),
    ) {
        resp.headers_mut().insert(n, v);
    }
}

pub(crate) fn xml_response(status: StatusCode, doc: String) -> Response<Body> {
    let mut r = Response::new(full(doc));
    *r.status_mut() = status;
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/xml"));
    r
}

pub(crate) fn ok_empty(status: StatusCode) -> Response<Body> {
    let mut r = Response::new(empty());
    *r.status_mut() = status;
    r
}

/// The object's headers, as GET and HEAD return them.
pub(crate) fn object_headers(resp: &mut Response<Body>, o: &Object, h: &HeaderMap, whole: bool) {
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
        set(
            resp,
            &format!("x-amz-meta-{k}"),
            &crate::metadata::encode(v),
        );
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
    crate::lock::headers(resp, &o.attributes.lock);
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

pub(crate) fn encode_key(s: &str, url: bool) -> String {
    if url {
        uri_encode(s.as_bytes(), true)
    } else {
        s.to_string()
    }
}

pub(crate) fn owner() -> String {
    format!("<Owner><ID>{OWNER_ID}</ID><DisplayName>{OWNER_NAME}</DisplayName></Owner>")
}
