//! Browser-based uploads: `POST /bucket` with a `multipart/form-data` body
//! (`PostObject`). The form carries the key, the object's headers as fields,
//! and a signed policy document whose conditions every field must meet
//! (`eq`, `starts-with`, `content-length-range`); the signature is SigV4
//! (`x-amz-credential`, `x-amz-signature`) or SigV2 (`AWSAccessKeyId`,
//! `signature`) over the base64 policy. A form without a policy is an
//! anonymous upload, which only a bucket that lets everyone write takes.
//!
//! The fields before the file are read into memory (at most
//! [`MAX_PRE_FILE`]); the file streams to a data file until the closing
//! boundary, and what follows it is ignored, as S3 ignores it.

use crate::*;
use nimbus_api_common::Caller;
use nimbus_api_common::sigv4::AuthError;

/// How much of a form may come before its file (S3 answers
/// `MaxPostPreDataLengthExceededError` past its own limit).
pub const MAX_PRE_FILE: usize = 1024 * 1024;

/// Who signed a form, as the server's credentials know them.
pub enum FormSigner {
    /// Check the signature with this secret; the upload is this caller's.
    Verify { secret: String, caller: Caller },
    /// Accept it unchecked (`--any-credentials`).
    Trusted(Caller),
}

/// The server's credentials, for the signatures inside POST forms (the edge
/// cannot check them: they are in the body).
pub trait FormSigners: Send + Sync {
    fn signer(&self, access_key_id: &str, token: Option<&str>) -> Result<FormSigner, AuthError>;
}

fn invalid(message: impl Into<String>) -> S3Error {
    S3Error::invalid_argument(message)
}

fn policy_error(message: &str) -> S3Error {
    S3Error::bad(
        "InvalidPolicyDocument",
        format!("Invalid Policy: {message}"),
    )
}

fn denied(message: impl std::fmt::Display) -> S3Error {
    S3Error::new(
        StatusCode::FORBIDDEN,
        "AccessDenied",
        format!("Invalid according to Policy: {message}"),
    )
}

/// The boundary of a `multipart/form-data` content type.
pub fn boundary(content_type: &str) -> Option<String> {
    let (kind, params) = content_type.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        if !k.trim().eq_ignore_ascii_case("boundary") {
            return None;
        }
        let v = v.trim().trim_matches('"');
        // RFC 2046: one to seventy characters.
        (!v.is_empty() && v.len() <= 70).then(|| v.to_string())
    })
}

/// Where `needle` first occurs in `hay` at or after `from` (Knuth-Morris-
/// Pratt: linear in `hay` whatever the bytes, so a hostile body cannot make
/// the search quadratic).
fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() || from > hay.len() - needle.len() {
        return None;
    }
    let mut fail = vec![0usize; needle.len()];
    let mut k = 0;
    for i in 1..needle.len() {
        while k > 0 && needle[i] != needle[k] {
            k = fail[k - 1];
        }
        if needle[i] == needle[k] {
            k += 1;
        }
        fail[i] = k;
    }
    let mut k = 0;
    for (i, &c) in hay.iter().enumerate().skip(from) {
        while k > 0 && c != needle[k] {
            k = fail[k - 1];
        }
        if c == needle[k] {
            k += 1;
            if k == needle.len() {
                return Some(i + 1 - needle.len());
            }
        }
    }
    None
}

/// The form up to its file: the fields (names lowercased, as S3 compares
/// them), the file's name and type, and where its bytes begin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub fields: Vec<(String, String)>,
    pub filename: String,
    pub consumed: usize,
}

impl Head {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// `name` and `filename` of a part's `Content-Disposition`.
fn disposition(headers: &str) -> Result<(String, Option<String>), S3Error> {
    let malformed = || {
        S3Error::bad(
            "MalformedPOSTRequest",
            "The body of your POST request is not well-formed multipart/form-data.",
        )
    };
    let line = headers
        .split("\r\n")
        .find(|l| {
            l.split_once(':')
                .is_some_and(|(n, _)| n.trim().eq_ignore_ascii_case("content-disposition"))
        })
        .ok_or_else(malformed)?;
    let value = line.split_once(':').map(|(_, v)| v).unwrap_or("");
    let mut name = None;
    let mut filename = None;
    for p in value.split(';').skip(1) {
        let Some((k, v)) = p.split_once('=') else {
            continue;
        };
        let v = v.trim().trim_matches('"').to_string();
        match k.trim().to_ascii_lowercase().as_str() {
            "name" => name = Some(v),
            "filename" => filename = Some(v),
            _ => {}
        }
    }
    Ok((name.ok_or_else(malformed)?, filename))
}

/// Read the form's start from `buf`: `Ok(None)` while more bytes are needed.
pub fn read_head(buf: &[u8], boundary: &str) -> Result<Option<Head>, S3Error> {
    let malformed = || {
        S3Error::bad(
            "MalformedPOSTRequest",
            "The body of your POST request is not well-formed multipart/form-data.",
        )
    };
    let dash = format!("--{boundary}");
    let delimiter = format!("\r\n--{boundary}");
    // The first boundary: at the start, or after a preamble.
    let mut pos = if buf.starts_with(dash.as_bytes()) {
        dash.len()
    } else {
        match find(buf, delimiter.as_bytes(), 0) {
            Some(i) => i + delimiter.len(),
            None if buf.len() > MAX_PRE_FILE => return Err(malformed()),
            None => return Ok(None),
        }
    };
    let mut fields: Vec<(String, String)> = Vec::new();
    loop {
        if buf.len() < pos + 2 {
            return Ok(None);
        }
        if &buf[pos..pos + 2] == b"--" {
            return Err(invalid(
                "POST requires exactly one file upload per request.",
            ));
        }
        if &buf[pos..pos + 2] != b"\r\n" {
            return Err(malformed());
        }
        let start = pos + 2;
        let Some(end) = find(buf, b"\r\n\r\n", start) else {
            return if buf.len() > MAX_PRE_FILE {
                Err(pre_file_too_large())
            } else {
                Ok(None)
            };
        };
        let headers = String::from_utf8_lossy(&buf[start..end]).into_owned();
        let (name, filename) = disposition(&headers)?;
        let body = end + 4;
        if name.eq_ignore_ascii_case("file") {
            return Ok(Some(Head {
                fields,
                filename: filename.unwrap_or_default(),
                consumed: body,
            }));
        }
        let Some(value_end) = find(buf, delimiter.as_bytes(), body) else {
            return if buf.len() > MAX_PRE_FILE {
                Err(pre_file_too_large())
            } else {
                Ok(None)
            };
        };
        if value_end > MAX_PRE_FILE {
            return Err(pre_file_too_large());
        }
        let value = String::from_utf8_lossy(&buf[body..value_end]).into_owned();
        let name = name.to_ascii_lowercase();
        // One value per field: the policy checks what the upload keeps.
        if fields.iter().any(|(n, _)| *n == name) {
            return Err(invalid(format!(
                "POST form fields must appear once: '{name}' appears more than once."
            )));
        }
        fields.push((name, value));
        pos = value_end + delimiter.len();
    }
}

fn pre_file_too_large() -> S3Error {
    S3Error::bad(
        "MaxPostPreDataLengthExceededError",
        "Your POST request fields preceding the upload file were too large.",
    )
}

/// In the file's bytes so far: `Ok(end)` where the closing delimiter starts,
/// or `Err(n)`: the first `n` bytes are file data for sure.
pub fn file_end(buf: &[u8], delimiter: &[u8]) -> Result<usize, usize> {
    match find(buf, delimiter, 0) {
        Some(i) => Ok(i),
        None => Err(buf.len().saturating_sub(delimiter.len() - 1)),
    }
}

/// One condition of a policy document.
#[derive(Debug, Clone, PartialEq)]
enum Condition {
    /// `{"field": "value"}` or `["eq", "$field", "value"]`.
    Eq(String, String),
    /// `["starts-with", "$field", "prefix"]`.
    StartsWith(String, String),
    /// `["content-length-range", min, max]`.
    LengthRange(u64, u64),
}

impl Condition {
    /// How S3 quotes the condition in its refusal.
    fn describe(&self) -> String {
        match self {
            Condition::Eq(f, v) => format!("[\"eq\", \"${f}\", \"{v}\"]"),
            Condition::StartsWith(f, v) => format!("[\"starts-with\", \"${f}\", \"{v}\"]"),
            Condition::LengthRange(a, b) => format!("[\"content-length-range\", {a}, {b}]"),
        }
    }
}

/// A POST policy: when it expires, and its conditions.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub expiration_ms: u64,
    conditions: Vec<Condition>,
}

fn field_name(v: &serde_json::Value) -> Option<String> {
    let s = v.as_str()?;
    Some(s.strip_prefix('$').unwrap_or(s).to_ascii_lowercase())
}

fn number(v: &serde_json::Value) -> Option<u64> {
    match v {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

impl Policy {
    /// The policy as its form field carries it (base64 JSON).
    pub fn parse(b64: &str) -> Result<Policy, S3Error> {
        use base64::Engine as _;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64.trim().as_bytes())
            .map_err(|_| policy_error("Invalid JSON."))?;
        let doc: serde_json::Value =
            serde_json::from_slice(&raw).map_err(|_| policy_error("Invalid JSON."))?;
        let expiration = doc
            .get("expiration")
            .ok_or_else(|| policy_error("Policy missing expiration."))?
            .as_str()
            .and_then(nimbus_model::time::parse_rfc3339)
            .filter(|s| *s >= 0.0)
            .ok_or_else(|| policy_error("Invalid 'expiration' value."))?;
        let list = doc
            .get("conditions")
            .ok_or_else(|| policy_error("Policy missing conditions."))?
            .as_array()
            .ok_or_else(|| policy_error("Invalid 'conditions' value."))?;
        let mut conditions = Vec::new();
        for c in list {
            match c {
                serde_json::Value::Object(m) => {
                    if m.len() != 1 {
                        return Err(policy_error(
                            "Invalid Simple-Condition: Simple-Conditions must have exactly one property specified.",
                        ));
                    }
                    for (k, v) in m {
                        let v = v.as_str().ok_or_else(|| {
                            policy_error("Invalid Simple-Condition: value must be a string.")
                        })?;
                        conditions.push(Condition::Eq(k.to_ascii_lowercase(), v.to_string()));
                    }
                }
                serde_json::Value::Array(a) => {
                    let op = a
                        .first()
                        .and_then(|o| o.as_str())
                        .map(str::to_ascii_lowercase)
                        .unwrap_or_default();
                    if a.len() != 3 {
                        return Err(policy_error(&format!(
                            "wrong number of arguments: {}",
                            serde_json::Value::Array(a.clone())
                        )));
                    }
                    let cond = match op.as_str() {
                        "eq" | "starts-with" => {
                            let field = field_name(&a[1])
                                .filter(|_| a[1].as_str().is_some_and(|s| s.starts_with('$')))
                                .ok_or_else(|| {
                                    policy_error(
                                        "Invalid Condition: field names must start with '$'.",
                                    )
                                })?;
                            let value = a[2].as_str().ok_or_else(|| {
                                policy_error("Invalid Condition: value must be a string.")
                            })?;
                            if op == "eq" {
                                Condition::Eq(field, value.to_string())
                            } else {
                                Condition::StartsWith(field, value.to_string())
                            }
                        }
                        "content-length-range" => {
                            let (Some(min), Some(max)) = (number(&a[1]), number(&a[2])) else {
                                return Err(policy_error(
                                    "Invalid content-length-range: bounds must be integers.",
                                ));
                            };
                            Condition::LengthRange(min, max)
                        }
                        _ => {
                            return Err(policy_error(&format!(
                                "Invalid condition operation: {op}"
                            )));
                        }
                    };
                    conditions.push(cond);
                }
                _ => return Err(policy_error("Invalid condition.")),
            }
        }
        Ok(Policy {
            expiration_ms: (expiration * 1000.0) as u64,
            conditions,
        })
    }

    /// Check the form's fields (and the bucket) against the conditions, and
    /// that no field goes unmentioned; `now_ms` against the expiration.
    pub fn check(
        &self,
        bucket: &str,
        fields: &[(String, String)],
        now_ms: u64,
    ) -> Result<(), S3Error> {
        if now_ms >= self.expiration_ms {
            return Err(denied("Policy expired."));
        }
        let value = |name: &str| -> Option<&str> {
            if name == "bucket" {
                return Some(bucket);
            }
            fields
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        for c in &self.conditions {
            let holds = match c {
                Condition::Eq(f, v) => value(f) == Some(v.as_str()),
                Condition::StartsWith(f, p) if f == "content-type" => {
                    // A list of types, each of which must match.
                    value(f).is_some_and(|v| v.split(',').all(|t| t.trim().starts_with(p.as_str())))
                }
                Condition::StartsWith(f, p) => value(f).is_some_and(|v| v.starts_with(p.as_str())),
                Condition::LengthRange(..) => true,
            };
            if !holds {
                return Err(denied(format!("Policy Condition failed: {}", c.describe())));
            }
        }
        let extra: Vec<&str> = fields
            .iter()
            .map(|(n, _)| n.as_str())
            .filter(|n| !EXEMPT.contains(n) && !n.starts_with("x-ignore-"))
            .filter(|n| {
                !self.conditions.iter().any(|c| match c {
                    Condition::Eq(f, _) | Condition::StartsWith(f, _) => f == n,
                    Condition::LengthRange(..) => false,
                })
            })
            .collect();
        if let Some(n) = extra.first() {
            return Err(denied(format!("Extra input fields: {n}")));
        }
        Ok(())
    }

    /// The file size bounds of `content-length-range`, if any.
    pub fn length_range(&self) -> Option<(u64, u64)> {
        self.conditions.iter().find_map(|c| match c {
            Condition::LengthRange(a, b) => Some((*a, *b)),
            _ => None,
        })
    }
}

/// Fields a policy need not mention.
const EXEMPT: [&str; 5] = [
    "policy",
    "x-amz-signature",
    "signature",
    "awsaccesskeyid",
    "file",
];

/// The signature a form carries, checked against `secret`.
fn signature_matches(head: &Head, secret: &str, policy_b64: &str) -> Result<bool, S3Error> {
    if let Some(sig) = head.field("x-amz-signature") {
        let credential = head
            .field("x-amz-credential")
            .ok_or_else(|| invalid("Bucket POST must contain a field named 'x-amz-credential'."))?;
        if head.field("x-amz-algorithm").map(str::trim) != Some("AWS4-HMAC-SHA256") {
            return Err(invalid(
                "Bucket POST must contain a field named 'x-amz-algorithm' of value AWS4-HMAC-SHA256.",
            ));
        }
        let scope: Vec<&str> = credential.split('/').collect();
        let [_, date, region, service @ "s3", "aws4_request"] = scope.as_slice() else {
            return Err(invalid(
                "Credential should be scoped to a valid region, service and date.",
            ));
        };
        if head
            .field("x-amz-date")
            .is_some_and(|d| !d.trim().starts_with(*date))
        {
            return Err(invalid(
                "The x-amz-date field does not match the credential's date.",
            ));
        }
        let key = nimbus_api_common::sigv4::signing_key(secret, date, region, service);
        let want = hex::encode(nimbus_api_common::sigv4::hmac(&key, policy_b64.as_bytes()));
        return Ok(want.eq_ignore_ascii_case(sig.trim()));
    }
    let sig = head
        .field("signature")
        .ok_or_else(|| invalid("Bucket POST must contain a field named 'signature'."))?;
    Ok(nimbus_api_common::sigv2::sign(secret, policy_b64) == sig.trim())
}

/// The access key a form names (SigV4's credential, or SigV2's field).
fn access_key(head: &Head) -> Option<&str> {
    head.field("x-amz-credential")
        .and_then(|c| c.split('/').next())
        .or_else(|| head.field("awsaccesskeyid"))
        .filter(|k| !k.is_empty())
}

/// The form's fields as the headers a PUT would carry them in.
fn as_headers(head: &Head) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (name, value) in &head.fields {
        let carried = name.starts_with("x-amz-meta-")
            || name.starts_with("x-amz-object-lock-")
            || name.starts_with("x-amz-checksum-")
            || matches!(
                name.as_str(),
                "content-type"
                    | "cache-control"
                    | "content-disposition"
                    | "content-encoding"
                    | "content-language"
                    | "expires"
                    | "x-amz-storage-class"
                    | "x-amz-website-redirect-location"
            );
        let header = match name.as_str() {
            "acl" => Some("x-amz-acl"),
            _ if carried => Some(name.as_str()),
            _ => None,
        };
        if let Some(header) = header
            && let (Ok(n), Ok(v)) = (
                http::HeaderName::from_bytes(header.as_bytes()),
                HeaderValue::from_bytes(value.as_bytes()),
            )
        {
            h.insert(n, v);
        }
    }
    // As on S3, the file part's own `Content-Type` is not the object's: only
    // the form's `Content-Type` field is.
    h
}

/// The tag set of a form's `tagging` field (a `Tagging` document).
fn tags(doc: &str) -> Result<Vec<(String, String)>, S3Error> {
    let root = xml::parse(doc.as_bytes()).map_err(|m| S3Error::bad("MalformedXML", m))?;
    let set = root.child("TagSet").ok_or_else(|| S3Error::bad("MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema"))?;
    let tags: Vec<(String, String)> = set
        .children_named("Tag")
        .map(|t| {
            (
                t.child_text("Key").unwrap_or("").to_string(),
                t.child_text("Value").unwrap_or("").to_string(),
            )
        })
        .collect();
    validate_tags(&tags, 10)?;
    Ok(tags)
}

/// Read the body until the form's head is complete.
async fn head_of(body: &mut RequestBody, boundary: &str) -> Result<(Head, Vec<u8>), S3Error> {
    use http_body_util::BodyExt as _;
    let mut buf = Vec::new();
    // Read again from the start only once enough has arrived since the last
    // try: bodies trickled in tiny frames cost no more than large ones.
    let mut tried_at = None;
    loop {
        if tried_at.is_none_or(|n| buf.len() >= n + 16 * 1024) {
            tried_at = Some(buf.len());
            if let Some(head) = read_head(&buf, boundary)? {
                let rest = buf.split_off(head.consumed);
                return Ok((head, rest));
            }
        }
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    buf.extend_from_slice(&data);
                }
            }
            Some(Err(e)) => {
                return Err(S3Error::bad(
                    "IncompleteBody",
                    format!("The request body could not be read: {e}"),
                ));
            }
            None => {
                if tried_at != Some(buf.len())
                    && let Some(head) = read_head(&buf, boundary)?
                {
                    let rest = buf.split_off(head.consumed);
                    return Ok((head, rest));
                }
                return Err(invalid(
                    "Bucket POST must contain a field named 'key'.  If it is specified, please check the order of the fields.",
                ));
            }
        }
    }
}

/// Stream the file's bytes (after `start`, the head's leftovers) into a new
/// data file, up to `max` bytes.
async fn receive_file(
    data: &nimbus_objects::data::DataDir,
    mut body: RequestBody,
    start: Vec<u8>,
    boundary: &str,
    max: u64,
) -> Result<nimbus_objects::data::Written, S3Error> {
    use http_body_util::BodyExt as _;
    let delimiter = format!("\r\n--{boundary}").into_bytes();
    let mut writer = data
        .writer()
        .map_err(|e| S3Error::internal(format!("create object data: {e}")))?;
    let mut buf = start;
    let too_large = || {
        S3Error::bad(
            "EntityTooLarge",
            "Your proposed upload exceeds the maximum allowed size",
        )
    };
    loop {
        let (flush, done) = match file_end(&buf, &delimiter) {
            Ok(end) => (end, true),
            Err(safe) => (safe, false),
        };
        if writer.size() + flush as u64 > max {
            return Err(too_large());
        }
        writer
            .write(&buf[..flush])
            .map_err(|e| S3Error::internal(format!("write object data: {e}")))?;
        buf.drain(..flush);
        if done {
            break;
        }
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Ok(d) = frame.into_data() {
                    buf.extend_from_slice(&d);
                }
            }
            Some(Err(e)) => {
                return Err(S3Error::bad(
                    "IncompleteBody",
                    format!("The request body could not be read: {e}"),
                ));
            }
            None => {
                return Err(S3Error::bad(
                    "IncompleteBody",
                    "The body of your POST request ended before the file's closing boundary.",
                ));
            }
        }
    }
    tokio::task::spawn_blocking(move || writer.finish())
        .await
        .map_err(|e| S3Error::internal(e.to_string()))?
        .map_err(|e| S3Error::internal(format!("store object data: {e}")))
}

impl S3Api {
    /// Set the credentials POST forms are checked against.
    pub fn set_form_signers(&self, signers: std::sync::Arc<dyn FormSigners>) {
        let _ = self.signers.set(signers);
    }

    pub(crate) async fn post_object(
        &self,
        bucket: &str,
        parts: &http::request::Parts,
        mut body: RequestBody,
        origin: &Origin,
    ) -> Result<Response<Body>, S3Error> {
        let h = &parts.headers;
        let boundary = header(h, "content-type")
            .and_then(boundary)
            .ok_or_else(|| {
                S3Error::bad(
                    "PreconditionFailed",
                    "Bucket POST must be of the enclosure-type multipart/form-data",
                )
                .with(
                    "Condition",
                    "Bucket POST must be of the enclosure-type multipart/form-data",
                )
            })?;
        let b = self.objects.bucket(bucket)?;
        let (head, rest) = head_of(&mut body, &boundary).await?;
        let raw_key = head.field("key").ok_or_else(|| {
            invalid("Bucket POST must contain a field named 'key'.  If it is specified, please check the order of the fields.")
        })?;
        let key = raw_key.replace("${filename}", &head.filename);
        // Who uploads: the form's signer, or anonymous without a policy.
        let mut request = parts.extensions.clone();
        let policy = match head.field("policy") {
            Some(p) => {
                let key_id = access_key(&head).ok_or_else(|| {
                    invalid("Bucket POST must contain a field named 'AWSAccessKeyId'.  If it is specified, please check the order of the fields.")
                })?;
                let signers = self
                    .signers
                    .get()
                    .ok_or_else(|| S3Error::internal("POST forms cannot be verified here"))?;
                let caller = match signers
                    .signer(key_id, head.field("x-amz-security-token"))
                    .map_err(|e| error::from_auth(&e))?
                {
                    FormSigner::Trusted(c) => c,
                    FormSigner::Verify { secret, caller } => {
                        if !signature_matches(&head, &secret, p)? {
                            return Err(error::from_auth(&AuthError::Mismatch));
                        }
                        caller
                    }
                };
                request.insert(caller);
                let policy = Policy::parse(p)?;
                policy.check(bucket, &head.fields, nimbus_model::time::now_millis())?;
                Some(policy)
            }
            None => {
                let anonymous = request.get::<Caller>().is_none_or(Caller::is_anonymous);
                let checked = request
                    .get::<std::sync::Arc<dyn nimbus_api_common::authz::Authorizer>>()
                    .is_some();
                if anonymous && !checked {
                    return Err(error::from_auth(&AuthError::Missing));
                }
                None
            }
        };
        let fields = as_headers(&head);
        // Authorized as the PUT it amounts to (ACL and Object Lock fields
        // ask their own actions).
        let target = Target {
            bucket: Some(bucket.to_string()),
            key: Some(key.clone()),
        };
        let access = crate::authz::access(&Op::PutObject, &target, None, None, &fields);
        nimbus_api_common::authz::authorize(&request, |_| access)
            .map_err(|d| S3Error::new(StatusCode::FORBIDDEN, "AccessDenied", d.message))?;
        let mut attrs = attributes_from(&fields)?;
        attrs.acl = object_acl(&b, &fields)?;
        attrs.lock = crate::lock::requested(&b, &fields)?;
        if let Some(t) = head.field("tagging") {
            attrs.tags = tags(t)?;
        }
        let (min, max) = policy
            .as_ref()
            .and_then(Policy::length_range)
            .unwrap_or((0, MAX_PUT_BYTES));
        let written = receive_file(
            self.objects.data(),
            body,
            rest,
            &boundary,
            max.min(MAX_PUT_BYTES),
        )
        .await?;
        if written.size < min {
            self.objects
                .data()
                .remove(std::slice::from_ref(&written.id));
            return Err(S3Error::bad(
                "EntityTooSmall",
                "Your proposed upload is smaller than the minimum allowed size",
            ));
        }
        let (objects, bk, k, origin) = (
            self.objects.clone(),
            bucket.to_string(),
            key.clone(),
            origin.clone(),
        );
        let obj =
            tokio::task::spawn_blocking(move || objects.post((&bk, &k), written, attrs, &origin))
                .await
                .map_err(|e| S3Error::internal(e.to_string()))??;
        let etag = format!("\"{}\"", obj.etag);
        let host = header(h, "host").unwrap_or("localhost");
        let location = format!(
            "http://{host}/{bucket}/{}",
            uri_encode(key.as_bytes(), false)
        );
        let redirect = head
            .field("success_action_redirect")
            .or_else(|| head.field("redirect"))
            .filter(|r| r.starts_with("http://") || r.starts_with("https://"));
        let mut r = if let Some(url) = redirect {
            let sep = if url.contains('?') { '&' } else { '?' };
            let target = format!(
                "{url}{sep}bucket={}&key={}&etag={}",
                uri_encode(bucket.as_bytes(), true),
                uri_encode(key.as_bytes(), true),
                uri_encode(etag.as_bytes(), true)
            );
            let mut r = ok_empty(StatusCode::SEE_OTHER);
            set(&mut r, "location", &target);
            r
        } else {
            match head.field("success_action_status") {
                Some("200") => ok_empty(StatusCode::OK),
                Some("201") => xml_response(
                    StatusCode::CREATED,
                    format!(
                        "{DECL}<PostResponse>{}{}{}{}</PostResponse>",
                        el("Location", &location),
                        el("Bucket", bucket),
                        el("Key", &key),
                        el("ETag", &etag)
                    ),
                ),
                _ => ok_empty(StatusCode::NO_CONTENT),
            }
        };
        set(&mut r, "etag", &etag);
        if redirect.is_none() {
            set(&mut r, "location", &location);
        }
        if let Some(v) = &obj.version_id {
            set(&mut r, "x-amz-version-id", v);
        }
        Ok(r)
    }
}

/// Everything the POST form reader parses, for the fuzz target: a whole
/// body read as a form, its policy, and its file's end.
pub fn read_form(body: &[u8], content_type: &str) {
    let Some(b) = boundary(content_type) else {
        return;
    };
    if let Ok(Some(head)) = read_head(body, &b) {
        if let Some(p) = head.field("policy")
            && let Ok(policy) = Policy::parse(p)
        {
            let _ = policy.check("bucket", &head.fields, 0);
            let _ = policy.length_range();
        }
        let _ = file_end(&body[head.consumed..], format!("\r\n--{b}").as_bytes());
        let _ = as_headers(&head);
        if let Some(t) = head.field("tagging") {
            let _ = tags(t);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    fn form(parts: &[(&str, &str)], file: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for (k, v) in parts {
            out.extend_from_slice(
                format!("--XyZ\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                    .as_bytes(),
            );
        }
        out.extend_from_slice(b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\n");
        out.extend_from_slice(file);
        out.extend_from_slice(b"\r\n--XyZ\r\nContent-Disposition: form-data; name=\"after\"\r\n\r\nignored\r\n--XyZ--\r\n");
        out
    }

    #[test]
    fn forms_are_read_up_to_their_file_whatever_the_chunking() {
        assert_eq!(
            boundary("multipart/form-data; boundary=XyZ").as_deref(),
            Some("XyZ")
        );
        assert_eq!(boundary("text/plain; boundary=XyZ"), None);
        let body = form(
            &[("key", "up/${filename}"), ("Content-Type", "image/png")],
            b"data\r\n--Xy not the end",
        );
        for cut in 0..body.len() {
            match read_head(&body[..cut], "XyZ").unwrap() {
                None => continue,
                Some(head) => {
                    assert_eq!(head.field("key"), Some("up/${filename}"));
                    assert_eq!(head.field("content-type"), Some("image/png"));
                    assert_eq!(head.filename, "a.txt");
                    let rest = &body[head.consumed..];
                    let end = file_end(rest, b"\r\n--XyZ").unwrap();
                    assert_eq!(&rest[..end], b"data\r\n--Xy not the end");
                    // Not yet seen whole: only what cannot begin the delimiter is safe.
                    assert!(file_end(&rest[..end + 3], b"\r\n--XyZ").unwrap_err() <= end);
                    return;
                }
            }
        }
        panic!("the head was never complete");
    }

    #[test]
    fn searches_and_repeated_fields() {
        assert_eq!(find(b"aaab", b"aab", 0), Some(1));
        assert_eq!(find(b"abcabd", b"abd", 0), Some(3));
        assert_eq!(find(b"abc", b"abc", 1), None);
        assert_eq!(find(b"ab", b"abc", 0), None);
        let twice = form(&[("acl", "private"), ("acl", "public-read")], b"x");
        assert_eq!(
            read_head(&twice, "XyZ").unwrap_err().code(),
            "InvalidArgument"
        );
    }

    #[test]
    fn a_form_without_a_file_is_refused() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nk\r\n--XyZ--\r\n";
        assert_eq!(
            read_head(body, "XyZ").unwrap_err().code(),
            "InvalidArgument"
        );
    }

    fn policy(doc: &str) -> Policy {
        Policy::parse(&base64::engine::general_purpose::STANDARD.encode(doc)).unwrap()
    }

    #[test]
    fn policies_check_every_field() {
        let p = policy(
            r#"{"expiration":"2030-01-01T00:00:00Z","conditions":[{"bucket":"b"},["starts-with","$key","up/"],{"acl":"private"},["content-length-range",1,10],["starts-with","$Content-Type","image/"]]}"#,
        );
        let fields = |extra: &[(&str, &str)]| -> Vec<(String, String)> {
            let mut f = vec![
                ("key".to_string(), "up/a".to_string()),
                ("acl".to_string(), "private".to_string()),
                ("content-type".to_string(), "image/png".to_string()),
                ("policy".to_string(), "x".to_string()),
            ];
            f.extend(extra.iter().map(|(a, b)| (a.to_string(), b.to_string())));
            f
        };
        p.check("b", &fields(&[]), 0).unwrap();
        assert_eq!(p.length_range(), Some((1, 10)));
        let e = p.check("other", &fields(&[]), 0).unwrap_err();
        assert_eq!(
            e.0.message,
            "Invalid according to Policy: Policy Condition failed: [\"eq\", \"$bucket\", \"b\"]"
        );
        let e = p
            .check("b", &fields(&[("x-amz-meta-a", "1")]), 0)
            .unwrap_err();
        assert_eq!(
            e.0.message,
            "Invalid according to Policy: Extra input fields: x-amz-meta-a"
        );
        p.check("b", &fields(&[("x-ignore-me", "1")]), 0).unwrap();
        let e = p.check("b", &fields(&[]), 1_900_000_000_000).unwrap_err();
        assert_eq!(e.0.message, "Invalid according to Policy: Policy expired.");
        let bad = |doc: &str| {
            Policy::parse(&base64::engine::general_purpose::STANDARD.encode(doc))
                .unwrap_err()
                .code()
                .to_string()
        };
        assert_eq!(bad("{"), "InvalidPolicyDocument");
        assert_eq!(bad(r#"{"conditions":[]}"#), "InvalidPolicyDocument");
        assert_eq!(
            bad(r#"{"expiration":"2030-01-01T00:00:00Z","conditions":[["in","$key","a"]]}"#),
            "InvalidPolicyDocument"
        );
    }
}
