//! AWS Signature Version 2 as S3 still accepts it: `Authorization: AWS key:sig`
//! and presigned URLs with `AWSAccessKeyId`, `Expires` and `Signature`, which
//! boto3 makes by default (`generate_presigned_url`). HMAC-SHA1 over a string to
//! sign built from the method, a few headers and the canonical resource.

use crate::sigv4::{AuthError, MAX_SKEW_SECS, constant_time_eq, percent_decode, query_param};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use http::HeaderMap;

/// Query parameters that are part of the signed resource (S3's sub-resources and
/// response overrides).
const SUB_RESOURCES: &[&str] = &[
    "acl",
    "cors",
    "delete",
    "lifecycle",
    "location",
    "logging",
    "notification",
    "partNumber",
    "policy",
    "requestPayment",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "restore",
    "tagging",
    "torrent",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "website",
];

/// A SigV2 credential: from the header (`date` is then the `Date` header, or
/// empty when `x-amz-date` is sent) or from the query (`expires`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V2 {
    pub access_key_id: String,
    pub signature: String,
    /// Presigned: seconds since the epoch after which the URL is refused.
    pub expires: Option<i64>,
}

/// `AWS AKID:signature`.
pub fn parse_header(header: &str) -> Option<V2> {
    let rest = header.strip_prefix("AWS ")?;
    let (key, sig) = rest.trim().split_once(':')?;
    Some(V2 {
        access_key_id: key.to_string(),
        signature: sig.to_string(),
        expires: None,
    })
}

/// `AWSAccessKeyId`, `Signature`, `Expires` in the query; `None` if absent.
pub fn parse_query(raw_query: &str) -> Option<Result<V2, AuthError>> {
    let key = query_param(raw_query, "AWSAccessKeyId")?;
    Some((|| {
        let signature = query_param(raw_query, "Signature").ok_or_else(|| {
            AuthError::Malformed(
                "Query-string authentication requires the Signature parameter".into(),
            )
        })?;
        let expires = query_param(raw_query, "Expires")
            .and_then(|e| e.parse().ok())
            .ok_or_else(|| {
                AuthError::Malformed(
                    "Query-string authentication requires the Expires parameter".into(),
                )
            })?;
        Ok(V2 {
            access_key_id: key,
            signature,
            expires: Some(expires),
        })
    })())
}

/// `/bucket/key` plus the signed sub-resources, sorted.
pub fn canonical_resource(
    bucket_from_host: Option<&str>,
    raw_path: &str,
    raw_query: &str,
) -> String {
    let mut out = String::new();
    if let Some(b) = bucket_from_host {
        out.push('/');
        out.push_str(b);
    }
    out.push_str(if raw_path.is_empty() { "/" } else { raw_path });
    let mut subs: Vec<(String, Option<String>)> = raw_query
        .split('&')
        .filter(|p| !p.is_empty())
        .filter_map(|p| {
            let (k, v) = match p.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (p, None),
            };
            let k = String::from_utf8_lossy(&percent_decode(k)).into_owned();
            SUB_RESOURCES.contains(&k.as_str()).then(|| {
                (
                    k,
                    v.map(|v| String::from_utf8_lossy(&percent_decode(v)).into_owned()),
                )
            })
        })
        .collect();
    subs.sort();
    for (i, (k, v)) in subs.iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(k);
        if let Some(v) = v {
            out.push('=');
            out.push_str(v);
        }
    }
    out
}

fn header(headers: &HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim()
        .to_string()
}

/// The string to sign. `date_or_expires` is the `Expires` value for presigned
/// requests, else the `Date` header (empty when `x-amz-date` is sent).
pub fn string_to_sign(
    method: &str,
    headers: &HeaderMap,
    date_or_expires: &str,
    resource: &str,
) -> String {
    let mut amz: Vec<(String, String)> = Vec::new();
    for (name, value) in headers {
        let n = name.as_str();
        if n.starts_with("x-amz-") {
            let v = String::from_utf8_lossy(value.as_bytes()).trim().to_string();
            match amz.iter_mut().find(|(k, _)| k == n) {
                Some((_, existing)) => {
                    existing.push(',');
                    existing.push_str(&v);
                }
                None => amz.push((n.to_string(), v)),
            }
        }
    }
    amz.sort();
    let mut s = format!(
        "{method}\n{}\n{}\n{date_or_expires}\n",
        header(headers, "content-md5"),
        header(headers, "content-type")
    );
    for (k, v) in amz {
        s.push_str(&format!("{k}:{v}\n"));
    }
    s.push_str(resource);
    s
}

pub fn sign(secret: &str, string_to_sign: &str) -> String {
    let mut mac =
        Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(string_to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// A SigV2 request's `Date` (or `x-amz-date`): an HTTP date, with the zone
/// written `GMT`, `UTC`, `Z` or `+0000` as clients write it, or ISO 8601
/// basic; epoch seconds.
fn parse_date(value: &str) -> Option<i64> {
    let value = value.trim();
    if let Some(at) = nimbus_model::time::parse_amz_date(value) {
        return Some(at);
    }
    if let Some(at) = nimbus_model::time::parse_rfc3339(value) {
        return Some(at as i64);
    }
    let bare = ["GMT", "UTC", "Z", "+0000"]
        .iter()
        .find_map(|zone| value.strip_suffix(zone))?;
    nimbus_model::time::parse_http_date(&format!("{}GMT", bare))
}

/// Verify a SigV2 request (header or presigned).
pub fn verify(
    v2: &V2,
    method: &str,
    headers: &HeaderMap,
    resource: &str,
    secret_for: impl Fn(&str) -> Option<String>,
    now_epoch_secs: i64,
) -> Result<(), AuthError> {
    let secret = secret_for(&v2.access_key_id).ok_or(AuthError::UnknownAccessKey)?;
    let date = match v2.expires {
        Some(exp) => {
            if now_epoch_secs > exp {
                return Err(AuthError::Expired);
            }
            exp.to_string()
        }
        None => {
            let (date, signed) = match headers.get("x-amz-date") {
                Some(_) => (String::new(), header(headers, "x-amz-date")),
                None => (header(headers, "date"), header(headers, "date")),
            };
            let at = parse_date(&signed).ok_or(AuthError::MissingDate)?;
            if now_epoch_secs.abs_diff(at) > MAX_SKEW_SECS as u64 {
                return Err(AuthError::Skewed(
                    "The difference between the request time and the current time is too large."
                        .into(),
                ));
            }
            date
        }
    };
    let expected = sign(&secret, &string_to_sign(method, headers, &date, resource));
    if constant_time_eq(expected.as_bytes(), v2.signature.as_bytes()) {
        Ok(())
    } else {
        Err(AuthError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of AWS's S3 SigV2 documentation ("Example Object GET").
    #[test]
    fn aws_documentation_example() {
        let mut h = HeaderMap::new();
        h.insert(
            "host",
            "awsexamplebucket1.us-west-1.s3.amazonaws.com"
                .parse()
                .unwrap(),
        );
        h.insert("date", "Tue, 27 Mar 2007 19:36:42 +0000".parse().unwrap());
        let resource = canonical_resource(Some("awsexamplebucket1"), "/photos/puppy.jpg", "");
        let sts = string_to_sign("GET", &h, "Tue, 27 Mar 2007 19:36:42 +0000", &resource);
        assert_eq!(
            sts,
            "GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/awsexamplebucket1/photos/puppy.jpg"
        );
        assert_eq!(
            sign("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", &sts),
            "qgk2+6Sv9/oM7G3qLEjTH1a1l1g="
        );
    }

    #[test]
    fn sub_resources_are_sorted_and_others_dropped() {
        assert_eq!(
            canonical_resource(
                None,
                "/b/k",
                "uploadId=abc&partNumber=2&foo=bar&Signature=x"
            ),
            "/b/k?partNumber=2&uploadId=abc"
        );
        assert_eq!(canonical_resource(None, "/b", "uploads"), "/b?uploads");
    }

    #[test]
    fn expired_and_wrong_signatures_are_refused() {
        let h = HeaderMap::new();
        let resource = "/b/k";
        let sts = string_to_sign("GET", &h, "100", resource);
        let good = V2 {
            access_key_id: "AK".into(),
            signature: sign("SK", &sts),
            expires: Some(100),
        };
        let secret = |k: &str| (k == "AK").then(|| "SK".to_string());
        assert_eq!(verify(&good, "GET", &h, resource, secret, 50), Ok(()));
        assert_eq!(
            verify(&good, "GET", &h, resource, secret, 101),
            Err(AuthError::Expired)
        );
        assert_eq!(
            verify(&good, "PUT", &h, resource, secret, 50),
            Err(AuthError::Mismatch)
        );
        let unknown = V2 {
            access_key_id: "XX".into(),
            ..good
        };
        assert_eq!(
            verify(&unknown, "GET", &h, resource, secret, 50),
            Err(AuthError::UnknownAccessKey)
        );
    }

    #[test]
    fn header_signatures_need_a_current_date() {
        let secret = |k: &str| (k == "AK").then(|| "SK".to_string());
        let signed = |h: &HeaderMap, date: &str| V2 {
            access_key_id: "AK".into(),
            signature: sign("SK", &string_to_sign("GET", h, date, "/b/k")),
            expires: None,
        };
        // 2007-03-27T19:36:42Z, written as clients write it.
        let at = 1_175_024_202;
        for date in [
            "Tue, 27 Mar 2007 19:36:42 +0000",
            "Tue, 27 Mar 2007 19:36:42 GMT",
            "20070327T193642Z",
            "2007-03-27T19:36:42Z",
        ] {
            let mut h = HeaderMap::new();
            h.insert("date", date.parse().unwrap());
            let v2 = signed(&h, date);
            assert_eq!(verify(&v2, "GET", &h, "/b/k", secret, at + 60), Ok(()));
            assert!(matches!(
                verify(&v2, "GET", &h, "/b/k", secret, at + 16 * 60),
                Err(AuthError::Skewed(_))
            ));
        }
        // x-amz-date takes the Date's place (and the string to sign's date is empty).
        let mut h = HeaderMap::new();
        h.insert(
            "x-amz-date",
            "Tue, 27 Mar 2007 19:36:42 GMT".parse().unwrap(),
        );
        let v2 = signed(&h, "");
        assert_eq!(verify(&v2, "GET", &h, "/b/k", secret, at), Ok(()));
        let none = HeaderMap::new();
        assert_eq!(
            verify(&signed(&none, ""), "GET", &none, "/b/k", secret, at),
            Err(AuthError::MissingDate)
        );
        let mut h = HeaderMap::new();
        h.insert("date", "yesterday".parse().unwrap());
        assert_eq!(
            verify(&signed(&h, "yesterday"), "GET", &h, "/b/k", secret, at),
            Err(AuthError::MissingDate)
        );
    }
}
