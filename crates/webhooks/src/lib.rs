//! Durable HTTP requests to endpoints outside Nimbus (SNS's HTTP
//! subscriptions, EventBridge's API destinations). A request is a record
//! written in the batch that acknowledges its cause; a worker sends it,
//! asks its owner whether and when to try again after a failure, and once
//! the owner gives it up lets the owner stage what that leaves (a
//! dead-letter message) in the batch that deletes the record. A crash
//! between a send and its record's deletion sends it again: at least once,
//! never lost.
//!
//! `http://` and `https://` endpoints are reached; https with rustls,
//! trusting Mozilla's roots and the certificates `SSL_CERT_FILE` names.

use nimbus_invoke::Staged;
use nimbus_storage::{KvEngine, Table, WriteBatch};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

/// The pending requests, keyed by when they were made.
const REQUESTS: Table = Table("webhook_requests");

/// How long one request may take before it counts as failed.
const TIMEOUT: Duration = Duration::from_secs(15);

/// Requests sent side by side per round.
const ROUND: usize = 64;

/// One HTTP request, until it succeeds or its owner gives it up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub key: String,
    /// Who made it (see [`Webhooks::register`]).
    pub owner: String,
    pub method: String,
    /// `http://host[:port]/path?query`.
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// What the owner needs to judge it (a subscription, a rule and target).
    pub context: Value,
    /// Failed attempts so far.
    pub attempts: u32,
    pub first_ms: u64,
    pub next_ms: u64,
}

impl Request {
    pub fn new(owner: &str, method: &str, url: &str, body: String, context: Value) -> Request {
        let now = nimbus_model::time::now_millis();
        Request {
            key: format!("{now:016}-{}", uuid::Uuid::new_v4()),
            owner: owner.to_string(),
            method: method.to_string(),
            url: url.to_string(),
            headers: Vec::new(),
            body,
            context,
            attempts: 0,
            first_ms: now,
            next_ms: now,
        }
    }

    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> Request {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

/// Why an attempt failed: the answer's status, if there was an answer, and
/// its error code when the answer was an AWS API's error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub status: Option<u16>,
    pub code: Option<String>,
    pub message: String,
}

impl Failure {
    /// No answer (the endpoint could not be reached, or did not answer).
    pub fn new(message: impl Into<String>) -> Failure {
        Failure {
            status: None,
            code: None,
            message: message.into(),
        }
    }

    /// An answer with status `status`.
    pub fn answered(status: u16, message: impl Into<String>) -> Failure {
        Failure {
            status: Some(status),
            code: None,
            message: message.into(),
        }
    }

    /// Worth trying again: no answer, a server error, or throttling.
    pub fn retriable(&self) -> bool {
        self.status.is_none_or(|s| s >= 500 || s == 429 || s == 408)
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// What the service that made a request decides about it.
pub trait Owner: Send + Sync {
    /// After failed attempt `r.attempts`: wait this long and try again, or
    /// `None` to give it up.
    fn retry(&self, r: &Request, why: &Failure) -> Option<Duration>;
    /// `r` is given up: stage what that leaves into `batch` (written with
    /// the record's deletion).
    fn give_up(&self, r: &Request, why: &Failure, batch: &mut WriteBatch) -> Vec<Staged>;
    /// What [`Owner::give_up`] staged is written.
    fn committed(&self, staged: Vec<Staged>);
    /// Make the attempt itself instead of an HTTP request to `r.url` (an
    /// owner whose requests are calls of Nimbus's own APIs); `None`: send
    /// it over HTTP.
    fn send(&self, _r: &Request) -> Option<BoxFuture<Result<(), Failure>>> {
        None
    }
}

/// An attempt an owner makes itself.
pub type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'static>>;

/// Durable HTTP requests and the worker that sends them.
pub struct Webhooks {
    kv: Arc<dyn KvEngine>,
    pending: Mutex<BTreeMap<String, Request>>,
    owners: RwLock<HashMap<String, Weak<dyn Owner>>>,
    wake: tokio::sync::Notify,
}

/// A request staged in someone's batch: hand it to [`Webhooks::committed`]
/// once that batch is written.
pub struct StagedRequest(pub Request);

impl Webhooks {
    /// The store's requests left from before a restart are sent again.
    pub fn open(kv: Arc<dyn KvEngine>) -> nimbus_storage::Result<Webhooks> {
        let mut pending = BTreeMap::new();
        for (_, v) in kv.scan_prefix(REQUESTS, b"")? {
            match serde_json::from_slice::<Request>(&v) {
                Ok(r) => {
                    pending.insert(r.key.clone(), r);
                }
                Err(e) => tracing::error!(error = %e, "an unreadable webhook request is skipped"),
            }
        }
        Ok(Webhooks {
            kv,
            pending: Mutex::new(pending),
            owners: RwLock::default(),
            wake: tokio::sync::Notify::new(),
        })
    }

    /// Requests made as `name` are judged by `owner`.
    pub fn register(&self, name: &str, owner: Weak<dyn Owner>) {
        self.owners
            .write()
            .expect("owners lock")
            .insert(name.to_string(), owner);
    }

    fn owner(&self, name: &str) -> Option<Arc<dyn Owner>> {
        self.owners
            .read()
            .expect("owners lock")
            .get(name)?
            .upgrade()
    }

    /// Add `r` to `batch`.
    pub fn stage(&self, r: Request, batch: &mut WriteBatch) -> StagedRequest {
        let bytes = serde_json::to_vec(&r).expect("a request encodes");
        batch.put(REQUESTS, r.key.as_bytes(), bytes);
        StagedRequest(r)
    }

    /// Requests whose batch is written: the worker may send them.
    pub fn committed(&self, staged: Vec<StagedRequest>) {
        if staged.is_empty() {
            return;
        }
        let mut pending = self.pending.lock().expect("pending lock");
        for StagedRequest(r) in staged {
            pending.insert(r.key.clone(), r);
        }
        drop(pending);
        self.wake.notify_one();
    }

    /// How many requests wait to be sent.
    pub fn backlog(&self) -> usize {
        self.pending.lock().expect("pending lock").len()
    }

    /// Send due requests for as long as the runtime runs.
    pub fn start(self: &Arc<Self>) {
        let me = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let Some(hooks) = me.upgrade() else {
                    return;
                };
                hooks.send_due().await;
                let wait = hooks.wake.notified();
                let _ = tokio::time::timeout(Duration::from_millis(500), wait).await;
            }
        });
    }

    /// Send every due request (side by side), then record each outcome.
    async fn send_due(&self) {
        let now = nimbus_model::time::now_millis();
        let due: Vec<Request> = {
            let pending = self.pending.lock().expect("pending lock");
            pending
                .values()
                .filter(|r| r.next_ms <= now)
                .take(ROUND)
                .cloned()
                .collect()
        };
        let sends: Vec<_> = due
            .iter()
            .cloned()
            .map(|r| match self.owner(&r.owner).and_then(|o| o.send(&r)) {
                Some(own) => tokio::spawn(own),
                None => tokio::spawn(async move { send(&r).await }),
            })
            .collect();
        for (r, send) in due.into_iter().zip(sends) {
            let outcome = send
                .await
                .unwrap_or_else(|e| Err(Failure::new(e.to_string())));
            if let Err(e) = self.settle(r, outcome) {
                tracing::error!(error = %e, "record a webhook request's outcome");
            }
        }
    }

    /// Record what became of one request: done, tried again later, or
    /// given up (its owner stages what that leaves).
    fn settle(&self, mut r: Request, outcome: Result<(), Failure>) -> nimbus_storage::Result<()> {
        let mut batch = WriteBatch::default();
        let mut staged = Vec::new();
        let owner = self.owner(&r.owner);
        let keep = match (&outcome, &owner) {
            (Ok(()), _) | (_, None) => false,
            (Err(why), Some(o)) => {
                r.attempts += 1;
                match o.retry(&r, why) {
                    Some(wait) => {
                        let wait = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
                        r.next_ms = nimbus_model::time::now_millis().saturating_add(wait);
                        true
                    }
                    None => {
                        tracing::warn!(url = %r.url, %why, attempts = r.attempts, "a webhook request is given up");
                        staged = o.give_up(&r, why, &mut batch);
                        false
                    }
                }
            }
        };
        if keep {
            let bytes = serde_json::to_vec(&r).expect("a request encodes");
            batch.put(REQUESTS, r.key.as_bytes(), bytes);
        } else {
            batch.delete(REQUESTS, r.key.as_bytes());
        }
        self.kv.commit(batch)?;
        let mut pending = self.pending.lock().expect("pending lock");
        if keep {
            pending.insert(r.key.clone(), r);
        } else {
            pending.remove(&r.key);
        }
        drop(pending);
        if let (Some(o), false) = (owner, staged.is_empty()) {
            o.committed(staged);
        }
        Ok(())
    }
}

/// The TLS settings of every https:// request: Mozilla's root
/// certificates, and those of the PEM file `SSL_CERT_FILE` names (a private
/// CA, a test's).
fn tls() -> Arc<rustls::ClientConfig> {
    static CONFIG: std::sync::OnceLock<Arc<rustls::ClientConfig>> = std::sync::OnceLock::new();
    CONFIG
        .get_or_init(|| {
            use rustls::pki_types::pem::PemObject;
            let mut roots = rustls::RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            if let Some(file) = std::env::var_os("SSL_CERT_FILE") {
                match rustls::pki_types::CertificateDer::pem_file_iter(&file) {
                    Ok(certs) => {
                        let (added, _) = roots.add_parsable_certificates(certs.flatten());
                        tracing::info!(file = ?file, added, "trusting the certificates of SSL_CERT_FILE");
                    }
                    Err(e) => tracing::warn!(file = ?file, error = %e, "SSL_CERT_FILE cannot be read"),
                }
            }
            // ring, not aws-lc-rs: far less to build. rustls deprecates it for
            // lacking post-quantum key exchange, which webhooks can live without.
            #[allow(deprecated)]
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("ring supports the default TLS versions")
                .with_root_certificates(roots)
                .with_no_client_auth();
            Arc::new(config)
        })
        .clone()
}

/// Send one request; success is a 2xx answer.
pub async fn send(r: &Request) -> Result<(), Failure> {
    let (status, _) = fetch(r).await?;
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(Failure::answered(
            status,
            format!("{} {}: {status}", r.method, r.url),
        ))
    }
}

/// Make one request: the answer's status and (up to 64 KB of) body.
pub async fn fetch(r: &Request) -> Result<(u16, bytes::Bytes), Failure> {
    let (secure, rest) = if let Some(rest) = r.url.strip_prefix("http://") {
        (false, rest)
    } else if let Some(rest) = r.url.strip_prefix("https://") {
        (true, rest)
    } else {
        return Err(Failure::answered(
            400,
            format!("{}: not an http:// or https:// URL", r.url),
        ));
    };
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, addr) = match hostport.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) && !p.is_empty() => {
            (h, hostport.to_string())
        }
        _ => (
            hostport,
            format!("{hostport}:{}", if secure { 443 } else { 80 }),
        ),
    };
    let attempt = async {
        let stream = tokio::net::TcpStream::connect(&addr)
            .await
            .map_err(|e| Failure::new(format!("connect to {addr}: {e}")))?;
        if secure {
            let name =
                rustls::pki_types::ServerName::try_from(host.trim_matches(['[', ']']).to_string())
                    .map_err(|e| Failure::answered(400, format!("{host}: {e}")))?;
            let stream = tokio_rustls::TlsConnector::from(tls())
                .connect(name, stream)
                .await
                .map_err(|e| Failure::new(format!("TLS with {addr}: {e}")))?;
            exchange(r, hostport, path, stream).await
        } else {
            exchange(r, hostport, path, stream).await
        }
    };
    tokio::time::timeout(TIMEOUT, attempt)
        .await
        .map_err(|_| Failure::new(format!("{} {}: no answer within 15 s", r.method, r.url)))?
}

/// One HTTP/1.1 exchange of `r` on `stream`.
async fn exchange<S>(
    r: &Request,
    hostport: &str,
    path: &str,
    stream: S,
) -> Result<(u16, bytes::Bytes), Failure>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    use http_body_util::BodyExt;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| Failure::new(e.to_string()))?;
    tokio::spawn(conn);
    let mut req = http::Request::builder()
        .method(r.method.as_str())
        .uri(path)
        .header("host", hostport);
    for (k, v) in &r.headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let req = req
        .body(http_body_util::Full::new(bytes::Bytes::from(
            r.body.clone(),
        )))
        .map_err(|e| Failure::answered(400, e.to_string()))?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| Failure::new(e.to_string()))?;
    let status = resp.status().as_u16();
    // Read the answer (so the connection ends cleanly), keeping 64 KB.
    let body = http_body_util::Limited::new(resp.into_body(), 64 * 1024)
        .collect()
        .await
        .map(http_body_util::Collected::to_bytes)
        .unwrap_or_default();
    Ok((status, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unanswered_server_errors_and_throttling_are_retried() {
        assert!(Failure::new("refused").retriable());
        assert!(Failure::answered(503, "down").retriable());
        assert!(Failure::answered(429, "slow down").retriable());
        assert!(!Failure::answered(404, "gone").retriable());
        assert!(!Failure::answered(403, "no").retriable());
    }

    #[tokio::test]
    async fn other_schemes_are_refused_without_a_retry() {
        let r = Request::new(
            "t",
            "POST",
            "ftp://example.com/x",
            String::new(),
            Value::Null,
        );
        let why = send(&r).await.unwrap_err();
        assert_eq!(why.status, Some(400));
    }

    #[tokio::test]
    async fn an_unreachable_endpoint_is_a_failure_to_try_again() {
        // A port nothing listens on: bind one, then let it go.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        for scheme in ["http", "https"] {
            let url = format!("{scheme}://127.0.0.1:{port}/hook");
            let r = Request::new("t", "POST", &url, "{}".into(), Value::Null);
            let why = send(&r).await.unwrap_err();
            assert!(why.retriable(), "{scheme}: {why}");
        }
    }
}
