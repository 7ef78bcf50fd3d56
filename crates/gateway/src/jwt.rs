//! JWT authorizers: verify a bearer token's RS256 signature against its
//! issuer's JSON Web Key Set, and its `iss`, `aud` (or `client_id`), `exp` and
//! `nbf` claims, as API Gateway's JWT authorizers do.
//!
//! Keys are found the way API Gateway finds them, from the issuer:
//! `{issuer}/.well-known/openid-configuration` names the `jwks_uri`, else
//! `{issuer}/.well-known/jwks.json`. Issuers on this host are reached over
//! `http://`, or read from disk when the issuer is a `file://` URL (a
//! directory holding `.well-known/jwks.json`). Key sets are cached per issuer
//! and fetched again, at most once a minute, when a token names an unknown key.

use base64::Engine as _;
use rsa::{BigUint, Pkcs1v15Sign, RsaPublicKey};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// One usable key of a set.
#[derive(Clone, Debug)]
pub struct Key {
    pub kid: Option<String>,
    pub key: RsaPublicKey,
}

fn b64url(s: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .map_err(|_| "not base64url".to_string())
}

/// The RSA keys of a JWKS document (other key types are skipped).
pub fn parse_jwks(doc: &[u8]) -> Result<Vec<Key>, String> {
    let v: Value = serde_json::from_slice(doc).map_err(|e| format!("JWKS is not JSON: {e}"))?;
    let keys = v["keys"].as_array().ok_or("JWKS has no keys array")?;
    let mut out = Vec::new();
    for k in keys {
        if k["kty"].as_str() != Some("RSA") {
            continue;
        }
        let (Some(n), Some(e)) = (k["n"].as_str(), k["e"].as_str()) else {
            continue;
        };
        let n = BigUint::from_bytes_be(&b64url(n)?);
        let e = BigUint::from_bytes_be(&b64url(e)?);
        if let Ok(key) = RsaPublicKey::new(n, e) {
            out.push(Key {
                kid: k["kid"].as_str().map(str::to_string),
                key,
            });
        }
    }
    Ok(out)
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid(pub String);

/// Check a token against `keys`, `issuer` and `audience` at `now` (seconds);
/// returns its claims. `Err(None)` asks for a fresh key set (unknown `kid`).
pub fn verify(
    token: &str,
    keys: &[Key],
    issuer: &str,
    audience: &[String],
    now: u64,
) -> Result<Value, Option<Invalid>> {
    let bad = |m: &str| Err(Some(Invalid(m.to_string())));
    let parts: Vec<&str> = token.split('.').collect();
    let [h, p, s] = parts.as_slice() else {
        return bad("the token is not a JWT");
    };
    let Ok(header) =
        b64url(h).and_then(|b| serde_json::from_slice::<Value>(&b).map_err(|e| e.to_string()))
    else {
        return bad("the token's header is not valid");
    };
    if header["alg"].as_str() != Some("RS256") {
        return bad("the token's signing algorithm is not supported (RS256 is)");
    }
    let kid = header["kid"].as_str();
    let candidates: Vec<&Key> = keys
        .iter()
        .filter(|k| kid.is_none() || k.kid.as_deref() == kid)
        .collect();
    if candidates.is_empty() {
        return Err(None);
    }
    let Ok(sig) = b64url(s) else {
        return bad("the token's signature is not valid base64url");
    };
    let digest = Sha256::digest(format!("{h}.{p}").as_bytes());
    if !candidates.iter().any(|k| {
        k.key
            .verify(Pkcs1v15Sign::new::<Sha256>(), &digest, &sig)
            .is_ok()
    }) {
        return bad("the token's signature does not verify");
    }
    let Ok(claims) =
        b64url(p).and_then(|b| serde_json::from_slice::<Value>(&b).map_err(|e| e.to_string()))
    else {
        return bad("the token's claims are not valid");
    };
    if claims["iss"].as_str() != Some(issuer) {
        return bad("the token's issuer is not the authorizer's");
    }
    let auds: Vec<&str> = match &claims["aud"] {
        Value::String(a) => vec![a.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => claims["client_id"].as_str().into_iter().collect(),
    };
    if !auds.iter().any(|a| audience.iter().any(|x| x == a)) {
        return bad("the token's audience is not allowed");
    }
    match claims["exp"].as_f64() {
        Some(exp) if (exp as u64) > now => {}
        _ => return bad("the token has expired"),
    }
    if claims["nbf"].as_f64().is_some_and(|nbf| nbf as u64 > now) {
        return bad("the token is not valid yet");
    }
    Ok(claims)
}

/// The scopes a token grants (`scope` as a space-separated string, or `scp`).
pub fn scopes(claims: &Value) -> Vec<String> {
    match (&claims["scope"], &claims["scp"]) {
        (Value::String(s), _) => s.split_whitespace().map(str::to_string).collect(),
        (_, Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        (_, Value::String(s)) => s.split_whitespace().map(str::to_string).collect(),
        _ => Vec::new(),
    }
}

/// Key sets by issuer, with when they were fetched.
#[derive(Default)]
pub struct KeyCache {
    sets: Mutex<HashMap<String, (u64, Vec<Key>)>>,
}

async fn http_get(url: &str) -> Result<Vec<u8>, String> {
    use http_body_util::BodyExt;
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url}: only http:// and file:// issuers can be reached"))?;
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr = if hostport.contains(':') {
        hostport.to_string()
    } else {
        format!("{hostport}:80")
    };
    let fetch = async {
        let stream = tokio::net::TcpStream::connect(&addr)
            .await
            .map_err(|e| format!("connect to {addr}: {e}"))?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        let req = http::Request::get(path)
            .header("host", hostport)
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .map_err(|e| e.to_string())?;
        let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
        if !resp.status().is_success() {
            return Err(format!("GET {url}: {}", resp.status()));
        }
        let body = http_body_util::Limited::new(resp.into_body(), 1 << 20)
            .collect()
            .await
            .map_err(|e| e.to_string())?;
        Ok(body.to_bytes().to_vec())
    };
    tokio::time::timeout(Duration::from_secs(5), fetch)
        .await
        .map_err(|_| format!("GET {url}: timed out"))?
}

async fn get(url: &str) -> Result<Vec<u8>, String> {
    match url.strip_prefix("file://") {
        Some(path) => tokio::fs::read(path)
            .await
            .map_err(|e| format!("read {path}: {e}")),
        None => http_get(url).await,
    }
}

/// Fetch an issuer's key set: OpenID discovery first, then the well-known JWKS.
async fn fetch(issuer: &str) -> Result<Vec<Key>, String> {
    let base = issuer.trim_end_matches('/');
    if let Ok(doc) = get(&format!("{base}/.well-known/openid-configuration")).await
        && let Ok(v) = serde_json::from_slice::<Value>(&doc)
        && let Some(uri) = v["jwks_uri"].as_str()
    {
        return parse_jwks(&get(uri).await?);
    }
    parse_jwks(&get(&format!("{base}/.well-known/jwks.json")).await?)
}

impl KeyCache {
    /// The issuer's keys; `refresh` fetches again (at most once a minute).
    pub async fn keys(&self, issuer: &str, refresh: bool) -> Result<Vec<Key>, String> {
        let now = nimbus_model::time::now_millis();
        if let Some((at, keys)) = self.sets.lock().expect("jwks cache").get(issuer).cloned()
            && (!refresh || now.saturating_sub(at) < 60_000)
        {
            return Ok(keys);
        }
        let keys = fetch(issuer).await?;
        self.sets
            .lock()
            .expect("jwks cache")
            .insert(issuer.to_string(), (now, keys.clone()));
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_tokens_and_key_sets_are_refused() {
        assert!(parse_jwks(b"nope").is_err());
        assert!(
            parse_jwks(br#"{"keys": [{"kty": "EC"}]}"#)
                .unwrap()
                .is_empty()
        );
        for t in ["", "a.b", "a.b.c", "e30.e30.", "eyJhbGciOiJub25lIn0.e30."] {
            assert!(
                matches!(verify(t, &[], "i", &["a".into()], 0), Err(Some(_) | None)),
                "{t}"
            );
        }
        assert_eq!(
            scopes(&serde_json::json!({ "scope": "read write" })),
            ["read", "write"]
        );
        assert_eq!(scopes(&serde_json::json!({ "scp": ["a"] })), ["a"]);
    }
}
