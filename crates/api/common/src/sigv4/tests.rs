//! Verification against requests botocore signed (`tests/cases/sigv4/*.json`).

use super::*;
use base64::Engine as _;
use http::{HeaderName, HeaderValue};

struct Case {
    name: String,
    method: String,
    path: String,
    query: String,
    headers: HeaderMap,
    body: Vec<u8>,
    secret: String,
}

fn cases() -> Vec<Case> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../tests/cases/sigv4");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("127.0.0.1:4566"));
        for h in v["headers"].as_array().unwrap() {
            let name =
                HeaderName::from_bytes(h[0].as_str().unwrap().to_ascii_lowercase().as_bytes())
                    .unwrap();
            headers.append(name, HeaderValue::from_str(h[1].as_str().unwrap()).unwrap());
        }
        out.push(Case {
            name: path.file_name().unwrap().to_string_lossy().to_string(),
            method: v["method"].as_str().unwrap().into(),
            path: v["path"].as_str().unwrap().into(),
            query: v["query"].as_str().unwrap().into(),
            headers,
            body: base64::engine::general_purpose::STANDARD
                .decode(v["body_b64"].as_str().unwrap())
                .unwrap(),
            secret: v["secret"].as_str().unwrap().into(),
        });
    }
    assert!(out.len() >= 4, "sigv4 cases missing in {}", dir.display());
    out
}

fn check(
    c: &Case,
    method: &str,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), AuthError> {
    let auth = Authorization::parse(headers.get("authorization").unwrap().to_str().unwrap())?;
    let signed_at =
        nimbus_model::time::parse_amz_date(headers.get("x-amz-date").unwrap().to_str().unwrap())
            .unwrap();
    let hash = hex::encode(Sha256::digest(body));
    let parts = RequestParts {
        method,
        raw_path: path,
        raw_query: query,
        headers,
        payload_hash: &hash,
        double_encode_path: true,
    };
    let secret = c.secret.clone();
    verify(
        &parts,
        &auth,
        |k| (k == "AKIDEXAMPLE").then(|| secret.clone()),
        signed_at + 60,
    )
}

#[test]
fn accepts_what_botocore_signed() {
    for c in cases() {
        check(&c, &c.method, &c.path, &c.query, &c.headers, &c.body)
            .unwrap_or_else(|e| panic!("{}: {e:?}", c.name));
    }
}

#[test]
fn rejects_tampering() {
    for c in cases() {
        let mut body = c.body.clone();
        body.push(b' ');
        assert_eq!(
            check(&c, &c.method, &c.path, &c.query, &c.headers, &body),
            Err(AuthError::Mismatch),
            "{} body",
            c.name
        );
        let path = format!("{}x", c.path);
        assert_eq!(
            check(&c, &c.method, &path, &c.query, &c.headers, &c.body),
            Err(AuthError::Mismatch),
            "{} path",
            c.name
        );
        assert_eq!(
            check(&c, "PUT", &c.path, &c.query, &c.headers, &c.body),
            Err(AuthError::Mismatch),
            "{} method",
            c.name
        );
        let mut headers = c.headers.clone();
        headers.insert("host", HeaderValue::from_static("evil:1"));
        assert_eq!(
            check(&c, &c.method, &c.path, &c.query, &headers, &c.body),
            Err(AuthError::Mismatch),
            "{} host",
            c.name
        );
    }
}

#[test]
fn rejects_unknown_keys_skew_and_garbage() {
    let c = &cases()[0];
    let auth =
        Authorization::parse(c.headers.get("authorization").unwrap().to_str().unwrap()).unwrap();
    let hash = hex::encode(Sha256::digest(&c.body));
    let parts = RequestParts {
        method: &c.method,
        raw_path: &c.path,
        raw_query: &c.query,
        headers: &c.headers,
        payload_hash: &hash,
        double_encode_path: true,
    };
    let signed_at =
        nimbus_model::time::parse_amz_date(c.headers.get("x-amz-date").unwrap().to_str().unwrap())
            .unwrap();
    assert_eq!(
        verify(&parts, &auth, |_| None, signed_at),
        Err(AuthError::UnknownAccessKey)
    );
    let s = c.secret.clone();
    assert!(matches!(
        verify(&parts, &auth, |_| Some(s.clone()), signed_at + 3600),
        Err(AuthError::Skewed(_))
    ));
    for bad in [
        "",
        "AWS4-HMAC-SHA256",
        "AWS4-HMAC-SHA256 Credential=a/b, SignedHeaders=host, Signature=00",
        "Basic dXNlcjpwYXNz",
        "AWS4-HMAC-SHA256 Credential=AK/20261127/us-east-1/lambda/aws4_request, SignedHeaders=, Signature=",
    ] {
        assert!(
            matches!(Authorization::parse(bad), Err(AuthError::Malformed(_))),
            "{bad:?}"
        );
    }
}

#[test]
fn sign_then_verify_round_trips() {
    let mut headers = HeaderMap::new();
    headers.insert("host", HeaderValue::from_static("localhost:4566"));
    headers.insert("x-amz-log-type", HeaderValue::from_static("Tail"));
    let now = 1_795_740_301_234;
    let auth = sign(
        "POST",
        "/2015-03-31/functions/f%3A1/invocations",
        "Qualifier=%24LATEST",
        &mut headers,
        b"{}",
        "AK",
        "SECRET",
        "us-east-1",
        "lambda",
        now,
    );
    headers.insert("authorization", auth.parse().unwrap());
    let parsed = Authorization::parse(&auth).unwrap();
    let hash = hex::encode(Sha256::digest(b"{}"));
    let parts = RequestParts {
        method: "POST",
        raw_path: "/2015-03-31/functions/f%3A1/invocations",
        raw_query: "Qualifier=%24LATEST",
        headers: &headers,
        payload_hash: &hash,
        double_encode_path: true,
    };
    verify(
        &parts,
        &parsed,
        |_| Some("SECRET".into()),
        (now / 1000) as i64,
    )
    .unwrap();
}

#[test]
fn encoding_rules() {
    assert_eq!(uri_encode(b"a b/c~d", true), "a%20b/c~d");
    assert_eq!(uri_encode(b"a/b", false), "a%2Fb");
    assert_eq!(percent_decode("%24LATEST%2"), b"$LATEST%2");
    assert_eq!(canonical_query("b=2&a=%20x&a=1", false), "a=%20x&a=1&b=2");
    assert_eq!(normalize_path("/a/./b/../c/"), "/a/c/");
}

#[test]
fn the_date_header_stands_in_for_x_amz_date() {
    let mut h = HeaderMap::new();
    h.insert(
        "date",
        HeaderValue::from_static("Mon, 07 Dec 2026 22:00:00 GMT"),
    );
    let (amz, at) = request_date(&h).unwrap();
    assert_eq!(amz, "20261207T220000Z");
    assert_eq!(Some(at), nimbus_model::time::parse_amz_date(&amz));
    h.insert("date", HeaderValue::from_static("20261207T220001Z"));
    assert_eq!(request_date(&h).unwrap().0, "20261207T220001Z");
    // X-Amz-Date wins, and is never an HTTP date.
    h.insert(
        "x-amz-date",
        HeaderValue::from_static("Mon, 07 Dec 2026 22:00:00 GMT"),
    );
    assert!(
        matches!(request_date(&h), Err(AuthError::Malformed(m)) if m.starts_with("X-Amz-Date"))
    );
    assert!(matches!(
        request_date(&HeaderMap::new()),
        Err(AuthError::Malformed(m)) if m.contains("'X-Amz-Date' or a 'Date'")
    ));
}
