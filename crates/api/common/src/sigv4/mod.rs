//! AWS Signature Version 4: verifying signed requests, and signing our own
//! (for `nimbus bench` and tests).
//!
//! Verification recomputes the canonical request from what arrived on the wire,
//! following the SigV4 specification; it is tested against signatures that
//! botocore produced (`tests/cases/sigv4`).

use hmac::{Hmac, Mac};
use http::HeaderMap;
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// Largest clock difference accepted between signer and server.
pub const MAX_SKEW_SECS: i64 = 15 * 60;

/// Why a request is not authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// No `Authorization` header (and no presigned query).
    Missing,
    /// Present but not parseable; the message says what is wrong.
    Malformed(String),
    UnknownAccessKey,
    /// A SigV2 request without a `Date` or `x-amz-date` it can be checked by.
    MissingDate,
    /// The signature is older or newer than the allowed skew.
    Skewed(String),
    Mismatch,
    /// A presigned URL past its expiry.
    Expired,
    /// A temporary key whose request lacks its session token or carries
    /// another one (`InvalidClientTokenId`).
    InvalidToken,
    /// A temporary key whose session has expired (`ExpiredToken`).
    ExpiredToken,
}

/// The parsed `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub access_key_id: String,
    pub date: String,
    pub region: String,
    pub service: String,
    pub signed_headers: Vec<String>,
    pub signature: String,
}

impl Authorization {
    /// Parse `AWS4-HMAC-SHA256 Credential=AK/20261127/us-east-1/lambda/aws4_request, SignedHeaders=a;b, Signature=hex`.
    pub fn parse(header: &str) -> Result<Authorization, AuthError> {
        let malformed = |m: &str| AuthError::Malformed(m.to_string());
        let rest = header.strip_prefix("AWS4-HMAC-SHA256").ok_or_else(|| {
            malformed("Authorization header requires the AWS4-HMAC-SHA256 algorithm.")
        })?;
        let (mut credential, mut signed, mut signature) = (None, None, None);
        for part in rest.split(',') {
            let part = part.trim();
            if let Some(v) = part.strip_prefix("Credential=") {
                credential = Some(v);
            } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
                signed = Some(v);
            } else if let Some(v) = part.strip_prefix("Signature=") {
                signature = Some(v);
            }
        }
        let credential = credential
            .ok_or_else(|| malformed("Authorization header requires 'Credential' parameter."))?;
        let signed = signed
            .ok_or_else(|| malformed("Authorization header requires 'SignedHeaders' parameter."))?;
        let signature = signature
            .ok_or_else(|| malformed("Authorization header requires 'Signature' parameter."))?;
        let scope: Vec<&str> = credential.split('/').collect();
        let [key, date, region, service, "aws4_request"] = scope.as_slice() else {
            return Err(malformed(
                "Credential should be scoped to a valid region, service and date: AKID/YYYYMMDD/region/service/aws4_request.",
            ));
        };
        if date.len() != 8 || !date.bytes().all(|c| c.is_ascii_digit()) || key.is_empty() {
            return Err(malformed(
                "Credential should be scoped to a valid date (YYYYMMDD) and access key.",
            ));
        }
        if signature.len() != 64 || !signature.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(malformed("Signature must be 64 hexadecimal characters."));
        }
        let signed_headers: Vec<String> =
            signed.split(';').map(|h| h.to_ascii_lowercase()).collect();
        if signed_headers.iter().any(String::is_empty) {
            return Err(malformed(
                "SignedHeaders must be a ;-separated list of header names.",
            ));
        }
        Ok(Authorization {
            access_key_id: key.to_string(),
            date: date.to_string(),
            region: region.to_string(),
            service: service.to_string(),
            signed_headers,
            signature: signature.to_ascii_lowercase(),
        })
    }

    pub fn scope(&self) -> String {
        format!(
            "{}/{}/{}/aws4_request",
            self.date, self.region, self.service
        )
    }
}

/// What the canonical request is built from.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    pub method: &'a str,
    /// The path exactly as it arrived (still percent-encoded).
    pub raw_path: &'a str,
    /// The query exactly as it arrived, without `?`.
    pub raw_query: &'a str,
    pub headers: &'a HeaderMap,
    /// Hex SHA-256 of the body, or the `x-amz-content-sha256` marker.
    pub payload_hash: &'a str,
    /// Every service but S3 encodes the (already encoded) path a second time.
    pub double_encode_path: bool,
}

const UNRESERVED: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~";

/// Percent-encode every byte but the unreserved ones (and `/` when `keep_slash`).
pub fn uri_encode(input: &[u8], keep_slash: bool) -> String {
    let mut out = String::with_capacity(input.len() * 3 / 2);
    for &b in input {
        if UNRESERVED.contains(&b) || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decode `%XX` escapes (leaving malformed ones as they are); `+` stays `+`.
pub fn percent_decode(input: &str) -> Vec<u8> {
    let b = input.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex_val(b[i + 1]), hex_val(b[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

fn hex_val(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

fn normalize_path(path: &str) -> String {
    if path.is_empty() {
        return "/".into();
    }
    let mut out: Vec<&str> = Vec::new();
    for seg in path.split('/').skip(1) {
        match seg {
            "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    let mut p = format!("/{}", out.join("/"));
    if path.ends_with('/') && !p.ends_with('/') {
        p.push('/');
    }
    p
}

fn canonical_query(raw: &str, skip_signature: bool) -> String {
    let mut pairs: Vec<(String, String)> = raw
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                uri_encode(&percent_decode(k), false),
                uri_encode(&percent_decode(v), false),
            )
        })
        .filter(|(k, _)| !(skip_signature && k == "X-Amz-Signature"))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn canonical_header_value(headers: &HeaderMap, name: &str) -> Option<String> {
    let mut values = headers.get_all(name).iter().peekable();
    values.peek()?;
    let joined: Vec<String> = values
        .map(|v| {
            let s = String::from_utf8_lossy(v.as_bytes());
            s.split_whitespace().collect::<Vec<_>>().join(" ")
        })
        .collect();
    Some(joined.join(","))
}

/// The canonical request, or the name of a signed header that is missing.
pub fn canonical_request(
    parts: &RequestParts<'_>,
    signed_headers: &[String],
) -> Result<String, String> {
    let path = if parts.double_encode_path {
        uri_encode(normalize_path(parts.raw_path).as_bytes(), true)
    } else if parts.raw_path.is_empty() {
        "/".into()
    } else {
        parts.raw_path.to_string()
    };
    let mut headers = String::new();
    for name in signed_headers {
        let value = canonical_header_value(parts.headers, name).ok_or_else(|| name.clone())?;
        headers.push_str(name);
        headers.push(':');
        headers.push_str(&value);
        headers.push('\n');
    }
    Ok(format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        parts.method,
        path,
        canonical_query(parts.raw_query, true),
        headers,
        signed_headers.join(";"),
        parts.payload_hash
    ))
}

/// HMAC-SHA256 of `data` under `key` (S3's POST policies are signed with it).
pub fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// The key every SigV4 signature of a day, region and service is made with.
/// Derived keys are remembered (as SDKs do): deriving one is four HMACs, and
/// every request of a day, region and service uses the same one.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> Vec<u8> {
    type Cache =
        std::sync::Mutex<std::collections::HashMap<(String, String, String, String), Vec<u8>>>;
    static CACHE: std::sync::OnceLock<Cache> = std::sync::OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let id = (
        hex::encode(Sha256::digest(secret.as_bytes())),
        date.to_string(),
        region.to_string(),
        service.to_string(),
    );
    if let Some(k) = cache.lock().ok().and_then(|c| c.get(&id).cloned()) {
        return k;
    }
    let k = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k = hmac(&k, region.as_bytes());
    let k = hmac(&k, service.as_bytes());
    let k = hmac(&k, b"aws4_request");
    if let Ok(mut c) = cache.lock() {
        // Days and services are few; a bound keeps odd callers from growing it.
        if c.len() >= 256 {
            c.clear();
        }
        c.insert(id, k.clone());
    }
    k
}

/// The hex signature of a canonical request.
pub fn signature(
    secret: &str,
    amz_date: &str,
    scope_date: &str,
    region: &str,
    service: &str,
    canonical: &str,
) -> String {
    let sts = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope_date}/{region}/{service}/aws4_request\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    hex::encode(hmac(
        &signing_key(secret, scope_date, region, service),
        sts.as_bytes(),
    ))
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// When a header-signed request says it was signed: `X-Amz-Date`, else the
/// `Date` header (ISO 8601 basic, or an HTTP date as older clients send it),
/// as the ISO 8601 basic timestamp the string to sign holds and as epoch
/// seconds.
pub fn request_date(headers: &HeaderMap) -> Result<(String, i64), AuthError> {
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let (name, value) = match (header("x-amz-date"), header("date")) {
        (Some(v), _) => ("X-Amz-Date", v),
        (None, Some(v)) => ("Date", v),
        (None, None) => {
            return Err(AuthError::Malformed(
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.".into(),
            ));
        }
    };
    if let Some(at) = nimbus_model::time::parse_amz_date(value) {
        return Ok((value.to_string(), at));
    }
    match nimbus_model::time::parse_http_date(value) {
        Some(at) if name == "Date" && at >= 0 => Ok((
            nimbus_model::time::Utc::from_millis(at as u64 * 1000).amz_date(),
            at,
        )),
        _ => Err(AuthError::Malformed(format!(
            "{name} '{value}' is not a valid ISO 8601 basic timestamp."
        ))),
    }
}

/// Verify a header-signed request. `secret_for` maps an access key to its secret.
pub fn verify(
    parts: &RequestParts<'_>,
    auth: &Authorization,
    secret_for: impl Fn(&str) -> Option<String>,
    now_epoch_secs: i64,
) -> Result<(), AuthError> {
    let secret = secret_for(&auth.access_key_id).ok_or(AuthError::UnknownAccessKey)?;
    let (amz_date, signed_at) = request_date(parts.headers)?;
    let amz_date = amz_date.as_str();
    if !amz_date.starts_with(&auth.date) {
        return Err(AuthError::Malformed(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}'",
            auth.date,
            &amz_date[..8]
        )));
    }
    if now_epoch_secs.abs_diff(signed_at) > MAX_SKEW_SECS as u64 {
        let now =
            nimbus_model::time::Utc::from_millis((now_epoch_secs.max(0) as u64) * 1000).amz_date();
        return Err(AuthError::Skewed(format!(
            "Signature expired: {amz_date} is now earlier or later than {now} by more than 15 minutes"
        )));
    }
    if !auth.signed_headers.iter().any(|h| h == "host") {
        return Err(AuthError::Malformed(
            "'Host' must be a 'SignedHeader' in the AWS Authorization.".into(),
        ));
    }
    let canonical = canonical_request(parts, &auth.signed_headers).map_err(|h| {
        AuthError::Malformed(format!("Signed header '{h}' is missing from the request."))
    })?;
    let expected = signature(
        &secret,
        amz_date,
        &auth.date,
        &auth.region,
        &auth.service,
        &canonical,
    );
    if constant_time_eq(expected.as_bytes(), auth.signature.as_bytes()) {
        Ok(())
    } else {
        Err(AuthError::Mismatch)
    }
}

/// Longest validity of a presigned URL: seven days.
pub const MAX_PRESIGN_SECS: i64 = 7 * 24 * 3600;

/// A query-string (presigned) SigV4 request's parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presigned {
    pub auth: Authorization,
    pub amz_date: String,
    pub expires_secs: i64,
}

/// Find `name`'s (percent-decoded) value in a raw query.
pub fn query_param(raw_query: &str, name: &str) -> Option<String> {
    raw_query.split('&').find_map(|p| {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        (percent_decode(k) == name.as_bytes())
            .then(|| String::from_utf8_lossy(&percent_decode(v)).into_owned())
    })
}

/// Parse `X-Amz-Algorithm`, `X-Amz-Credential`, `X-Amz-Date`, `X-Amz-Expires`,
/// `X-Amz-SignedHeaders` and `X-Amz-Signature` from a query; `None` when the
/// query is not presigned.
pub fn parse_presigned(raw_query: &str) -> Option<Result<Presigned, AuthError>> {
    let algorithm = query_param(raw_query, "X-Amz-Algorithm")?;
    let get = |n: &str| {
        query_param(raw_query, n).ok_or_else(|| {
            AuthError::Malformed(format!(
                "Query-string authentication requires the {n} parameter"
            ))
        })
    };
    Some((|| {
        if algorithm != "AWS4-HMAC-SHA256" {
            return Err(AuthError::Malformed(
                "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"".into(),
            ));
        }
        let header = format!(
            "AWS4-HMAC-SHA256 Credential={}, SignedHeaders={}, Signature={}",
            get("X-Amz-Credential")?,
            get("X-Amz-SignedHeaders")?,
            get("X-Amz-Signature")?
        );
        let auth = Authorization::parse(&header)?;
        let expires_secs: i64 = get("X-Amz-Expires")?
            .parse()
            .map_err(|_| AuthError::Malformed("X-Amz-Expires should be a number".into()))?;
        if !(1..=MAX_PRESIGN_SECS).contains(&expires_secs) {
            return Err(AuthError::Malformed(
                "X-Amz-Expires must be less than a week (in seconds) that is 604800".into(),
            ));
        }
        Ok(Presigned {
            auth,
            amz_date: get("X-Amz-Date")?,
            expires_secs,
        })
    })())
}

/// Verify a presigned request. The payload is `UNSIGNED-PAYLOAD` (as S3 signs
/// presigned URLs). `Expired` when past `X-Amz-Date + X-Amz-Expires`.
pub fn verify_presigned(
    parts: &RequestParts<'_>,
    p: &Presigned,
    secret_for: impl Fn(&str) -> Option<String>,
    now_epoch_secs: i64,
) -> Result<(), AuthError> {
    let secret = secret_for(&p.auth.access_key_id).ok_or(AuthError::UnknownAccessKey)?;
    let signed_at = nimbus_model::time::parse_amz_date(&p.amz_date).ok_or_else(|| {
        AuthError::Malformed(format!(
            "X-Amz-Date '{}' is not a valid ISO 8601 basic timestamp.",
            p.amz_date
        ))
    })?;
    if !p.amz_date.starts_with(&p.auth.date) {
        return Err(AuthError::Malformed(
            "Date in Credential scope does not match X-Amz-Date".into(),
        ));
    }
    if now_epoch_secs > signed_at + p.expires_secs {
        return Err(AuthError::Expired);
    }
    if signed_at - now_epoch_secs > MAX_SKEW_SECS {
        return Err(AuthError::Skewed("Request is not yet valid".into()));
    }
    let canonical = canonical_request(parts, &p.auth.signed_headers).map_err(|h| {
        AuthError::Malformed(format!("Signed header '{h}' is missing from the request."))
    })?;
    let expected = signature(
        &secret,
        &p.amz_date,
        &p.auth.date,
        &p.auth.region,
        &p.auth.service,
        &canonical,
    );
    if constant_time_eq(expected.as_bytes(), p.auth.signature.as_bytes()) {
        Ok(())
    } else {
        Err(AuthError::Mismatch)
    }
}

/// Sign a request: sets `x-amz-date` and returns the `Authorization` header value.
/// Signs `host`, `x-amz-date` and every `x-amz-*` header present.
#[allow(clippy::too_many_arguments)]
pub fn sign(
    method: &str,
    raw_path: &str,
    raw_query: &str,
    headers: &mut HeaderMap,
    body: &[u8],
    access_key: &str,
    secret: &str,
    region: &str,
    service: &str,
    now_millis: u64,
) -> String {
    let amz_date = nimbus_model::time::Utc::from_millis(now_millis).amz_date();
    headers.insert(
        "x-amz-date",
        amz_date.parse().expect("amz date is a valid header"),
    );
    let mut names: Vec<String> = headers
        .keys()
        .map(|k| k.as_str().to_string())
        .filter(|k| k == "host" || k.starts_with("x-amz-") || k == "content-type")
        .collect();
    names.sort();
    names.dedup();
    // S3 clients say what they sign in `x-amz-content-sha256` (a digest, or
    // `UNSIGNED-PAYLOAD` for large bodies).
    let payload_hash = match headers
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok())
    {
        Some(h) => h.to_string(),
        None => hex::encode(Sha256::digest(body)),
    };
    let parts = RequestParts {
        method,
        raw_path,
        raw_query,
        headers,
        payload_hash: &payload_hash,
        double_encode_path: service != "s3",
    };
    let canonical = canonical_request(&parts, &names).expect("signing only headers that exist");
    let date = &amz_date[..8];
    let sig = signature(secret, &amz_date, date, region, service, &canonical);
    format!(
        "AWS4-HMAC-SHA256 Credential={access_key}/{date}/{region}/{service}/aws4_request, SignedHeaders={}, Signature={sig}",
        names.join(";")
    )
}

#[cfg(test)]
mod tests;
