//! What the benchmarks and `nimbus deploy` share: where the servers
//! are and with which keys, and one keep-alive HTTP/1.1 connection that signs its
//! requests and reconnects when the server closed it (moto's server closes every
//! connection after one request).

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use nimbus_api_common::sigv4;
use std::path::Path;
use std::sync::Arc;

/// A server to measure.
pub struct Endpoint {
    pub name: String,
    pub host: String,
    pub port: u16,
    pub access_key: String,
    pub secret: String,
}

fn host_port(url: &str) -> Result<(String, u16)> {
    let hostport = url
        .strip_prefix("http://")
        .context("endpoint must be http://host:port")?;
    let (host, port) = hostport
        .trim_end_matches('/')
        .rsplit_once(':')
        .context("endpoint needs a port")?;
    Ok((host.to_string(), port.parse().context("endpoint port")?))
}

/// The Nimbus server whose data directory is `data_dir` (its `credentials` and
/// `config` files).
pub fn nimbus(data_dir: &Path) -> Result<Endpoint> {
    nimbus_at(data_dir, None)
}

/// [`nimbus`], at `endpoint` instead of the one in the `config` file if given.
pub fn nimbus_at(data_dir: &Path, endpoint: Option<&str>) -> Result<Endpoint> {
    let creds_text = std::fs::read_to_string(data_dir.join("credentials")).with_context(|| {
        format!(
            "read {}/credentials (is `nimbus up` running with this data dir?)",
            data_dir.display()
        )
    })?;
    let creds = nimbus_server::credentials::Credentials::parse(&creds_text)
        .context("parse credentials file")?;
    let url = match endpoint {
        Some(e) => e.to_string(),
        None => std::fs::read_to_string(data_dir.join("config"))
            .context("read config file")?
            .lines()
            .find_map(|l| l.strip_prefix("endpoint_url = ").map(str::to_string))
            .context("no endpoint_url in config")?,
    };
    let (host, port) = host_port(&url)?;
    Ok(Endpoint {
        name: "nimbus".into(),
        host,
        port,
        access_key: creds.access_key_id,
        secret: creds.secret_access_key,
    })
}

/// A peer such as moto's server (which takes any keys).
pub fn peer(url: &str, name: &str) -> Result<Endpoint> {
    let (host, port) = host_port(url)?;
    Ok(Endpoint {
        name: name.into(),
        host,
        port,
        access_key: "testing".into(),
        secret: "testing".into(),
    })
}

/// One keep-alive connection signing for `service`.
pub struct Conn {
    pub ep: Arc<Endpoint>,
    service: &'static str,
    sender: SendRequest<Full<Bytes>>,
}

/// A response: status, and the body (kept) or its length (counted and dropped,
/// for large downloads).
pub struct Reply {
    pub status: http::StatusCode,
    pub body: Bytes,
    pub len: u64,
}

/// What to do with a response body.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    Body,
    CountOnly,
}

impl Conn {
    /// One awsJson call (`X-Amz-Target: <target_prefix>.<op>`): the answer's
    /// JSON, or an error naming the endpoint, the operation and what it said.
    pub async fn json(
        &mut self,
        target_prefix: &str,
        op: &str,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value> {
        let target = format!("{target_prefix}.{op}");
        let r = self
            .send(
                "POST",
                "/",
                &[
                    ("x-amz-target", &target),
                    ("content-type", "application/x-amz-json-1.0"),
                ],
                Bytes::from(body.to_string()),
                None,
                Keep::Body,
            )
            .await?;
        if !r.status.is_success() {
            anyhow::bail!(
                "{} {op}: {} {}",
                self.ep.name,
                r.status,
                String::from_utf8_lossy(&r.body)
            );
        }
        Ok(serde_json::from_slice(&r.body).unwrap_or(serde_json::Value::Null))
    }

    pub async fn connect(ep: Arc<Endpoint>, service: &'static str) -> Result<Conn> {
        let stream = tokio::net::TcpStream::connect((ep.host.as_str(), ep.port))
            .await
            .with_context(|| format!("connect to {}", ep.name))?;
        stream.set_nodelay(true)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        Ok(Conn {
            ep,
            service,
            sender,
        })
    }

    /// Send a signed request (`payload_hash`: the body's SHA-256 hex, or
    /// `UNSIGNED-PAYLOAD`, sent as `x-amz-content-sha256` when `Some`), on a new
    /// connection if the server closed this one.
    pub async fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Bytes,
        payload_hash: Option<&str>,
        keep: Keep,
    ) -> Result<Reply> {
        if self.sender.is_closed() {
            *self = Conn::connect(self.ep.clone(), self.service).await?;
        }
        match self
            .send_once(method, path, headers, body.clone(), payload_hash, keep)
            .await
        {
            Err(_) if self.sender.is_closed() => {
                *self = Conn::connect(self.ep.clone(), self.service).await?;
                self.send_once(method, path, headers, body, payload_hash, keep)
                    .await
            }
            r => r,
        }
    }

    async fn send_once(
        &mut self,
        method: &str,
        path: &str,
        extra: &[(&str, &str)],
        body: Bytes,
        payload_hash: Option<&str>,
        keep: Keep,
    ) -> Result<Reply> {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "host",
            format!("{}:{}", self.ep.host, self.ep.port).parse()?,
        );
        for (k, v) in extra {
            headers.insert(http::HeaderName::from_bytes(k.as_bytes())?, v.parse()?);
        }
        if let Some(h) = payload_hash {
            headers.insert("x-amz-content-sha256", h.parse()?);
        }
        let auth = sigv4::sign(
            method,
            path,
            "",
            &mut headers,
            &body,
            &self.ep.access_key,
            &self.ep.secret,
            "us-east-1",
            self.service,
            nimbus_model::time::now_millis(),
        );
        headers.insert("authorization", auth.parse()?);
        headers.insert("content-length", body.len().to_string().parse()?);
        let mut req = http::Request::builder().method(method).uri(path);
        *req.headers_mut().expect("builder has headers") = headers;
        let req = req.body(Full::new(body))?;
        self.sender.ready().await?;
        let resp = self.sender.send_request(req).await?;
        let status = resp.status();
        let mut incoming = resp.into_body();
        let mut kept = Vec::new();
        let mut len = 0u64;
        while let Some(frame) = incoming.frame().await {
            if let Ok(d) = frame?.into_data() {
                len += d.len() as u64;
                if keep == Keep::Body {
                    kept.extend_from_slice(&d);
                }
            }
        }
        Ok(Reply {
            status,
            body: Bytes::from(kept),
            len,
        })
    }
}

/// The `p` quantile (0..=1) of `v` (sorted in place); NaN when empty.
pub fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[(((v.len() - 1) as f64) * p).round() as usize]
}

/// The execution role the benchmarks' functions and state machines run as:
/// `bench`, trusting Lambda and Step Functions, with `AdministratorAccess`
/// (made once per data directory; IAM refuses functions whose role does not
/// exist or does not trust Lambda).
pub async fn bench_role(ep: Arc<Endpoint>) -> Result<String> {
    const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":["lambda.amazonaws.com","states.amazonaws.com"]},"Action":"sts:AssumeRole"}]}"#;
    let mut c = Conn::connect(ep, "iam").await?;
    let form = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", sigv4::uri_encode(v.as_bytes(), false)))
            .collect::<Vec<_>>()
            .join("&")
    };
    let calls = [
        form(&[
            ("Action", "CreateRole"),
            ("Version", "2010-05-08"),
            ("RoleName", "bench"),
            ("AssumeRolePolicyDocument", TRUST),
        ]),
        form(&[
            ("Action", "AttachRolePolicy"),
            ("Version", "2010-05-08"),
            ("RoleName", "bench"),
            ("PolicyArn", "arn:aws:iam::aws:policy/AdministratorAccess"),
        ]),
    ];
    for body in calls {
        let r = c
            .send(
                "POST",
                "/",
                &[(
                    "content-type",
                    "application/x-www-form-urlencoded; charset=utf-8",
                )],
                Bytes::from(body),
                None,
                Keep::Body,
            )
            .await?;
        // 409: made by an earlier run on this data directory.
        if !r.status.is_success() && r.status != http::StatusCode::CONFLICT {
            anyhow::bail!(
                "{}: IAM answered {} {}",
                c.ep.name,
                r.status,
                String::from_utf8_lossy(&r.body)
            );
        }
    }
    Ok("arn:aws:iam::000000000000:role/bench".into())
}
