//! Small helpers: percent-decoding, query parsing, time formatting, body encoding.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// Standard alphabet, padding optional on decode.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

pub(crate) fn b64_encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

pub(crate) fn b64_decode(s: &str) -> Result<Vec<u8>, ()> {
    // Tolerate line breaks some encoders insert (MIME style).
    let cleaned: String = s.chars().filter(|c| !matches!(c, '\r' | '\n')).collect();
    LENIENT.decode(cleaned.as_bytes()).map_err(|_| ())
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes `%XX` escapes (malformed escapes are kept literally; `+` is kept).
/// Invalid UTF-8 in the result is replaced with U+FFFD.
pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    if !bytes.contains(&b'%') {
        return s.to_string();
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex_val(bytes[i + 1]), hex_val(bytes[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses a raw query string into decoded (key, value) pairs, in order.
/// Empty pieces ("a=1&&b=2") are skipped; a piece without '=' has value "".
pub(crate) fn parse_query(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(p), String::new()),
        })
        .collect()
}

/// Formats epoch milliseconds as API Gateway's request time,
/// e.g. "27/Nov/2026:05:42:31 +0000" (always UTC).
pub fn format_request_time(time_ms: u64) -> String {
    nimbus_model::time::Utc::from_millis(time_ms).clf_date()
}

/// Whether a request body with this Content-Type is passed to the function as
/// text (otherwise it is base64-encoded): `text/*`, JSON, XML, JavaScript,
/// form-urlencoded, `*+json`, `*+xml`, and a few other textual types.
pub fn is_text_content_type(content_type: &str) -> bool {
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if media.starts_with("text/") || media.ends_with("+json") || media.ends_with("+xml") {
        return true;
    }
    matches!(
        media.as_str(),
        "application/json"
            | "application/xml"
            | "application/javascript"
            | "application/x-javascript"
            | "application/ecmascript"
            | "application/x-www-form-urlencoded"
            | "application/graphql"
            | "application/yaml"
            | "application/x-yaml"
    )
}

/// The request body as an event field: None when empty, else (text, isBase64Encoded).
pub(crate) fn encode_body(headers: &[(String, String)], body: &[u8]) -> Option<(String, bool)> {
    if body.is_empty() {
        return None;
    }
    let content_type = headers
        .iter()
        .rev()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.as_str());
    if let Some(ct) = content_type
        && is_text_content_type(ct)
        && let Ok(s) = std::str::from_utf8(body)
    {
        return Some((s.to_string(), false));
    }
    Some((b64_encode(body), true))
}

/// Is `s` a valid HTTP header field name (RFC 9110 token)?
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Is `s` safe as a header field value (no CR, LF or NUL)?
pub(crate) fn is_header_value(s: &str) -> bool {
    !s.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0))
}
