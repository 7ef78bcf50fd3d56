//! `nimbus bench-s3`: small-object PUT and GET throughput and latency with
//! concurrent clients, and large-object PUT and GET bandwidth, against Nimbus and
//! optionally a peer S3 endpoint (moto's server, say), in one run with the same
//! client, so the numbers sit side by side. Results go in `docs/benchmarks.md`.

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use nimbus_api_common::sigv4;
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct Args {
    /// The Nimbus server's data directory (credentials and endpoint are read from it).
    #[arg(long, default_value = ".nimbus", env = "NIMBUS_DATA_DIR")]
    data_dir: PathBuf,
    /// A peer S3 endpoint to measure beside Nimbus, e.g. `http://127.0.0.1:5000`
    /// for `moto_server -p 5000` (any credentials).
    #[arg(long)]
    peer: Option<String>,
    /// The peer's name in the results.
    #[arg(long, default_value = "moto")]
    peer_name: String,
    /// Concurrent clients for the small-object runs.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Seconds of each small-object run.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Size of a small object, bytes.
    #[arg(long, default_value_t = 1024)]
    small_bytes: usize,
    /// Size of the large object, MiB (0 skips the large runs).
    #[arg(long, default_value_t = 256)]
    large_mib: usize,
}

#[derive(Clone)]
struct Endpoint {
    name: String,
    host: String,
    port: u16,
    access_key: String,
    secret: String,
}

fn parse_endpoint(url: &str) -> Result<(String, u16)> {
    let hostport = url
        .strip_prefix("http://")
        .context("endpoint must be http://host:port")?;
    let (host, port) = hostport
        .trim_end_matches('/')
        .rsplit_once(':')
        .context("endpoint needs a port")?;
    Ok((host.to_string(), port.parse().context("endpoint port")?))
}

struct S3Client {
    ep: Arc<Endpoint>,
    sender: SendRequest<Full<Bytes>>,
}

impl S3Client {
    async fn connect(ep: Arc<Endpoint>) -> Result<S3Client> {
        let stream = tokio::net::TcpStream::connect((ep.host.as_str(), ep.port)).await?;
        stream.set_nodelay(true)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        Ok(S3Client { ep, sender })
    }

    /// A signed request, on a new connection if the server closed the last one
    /// (moto's server closes every connection after one request).
    async fn call(
        &mut self,
        method: &str,
        path: &str,
        body: Bytes,
        unsigned: bool,
    ) -> Result<(u16, u64)> {
        if self.sender.is_closed() {
            *self = S3Client::connect(self.ep.clone()).await?;
        }
        match self.call_once(method, path, body.clone(), unsigned).await {
            Err(e) if self.sender.is_closed() => {
                tracing::debug!(error = %e, "connection closed; retrying on a new one");
                *self = S3Client::connect(self.ep.clone()).await?;
                self.call_once(method, path, body, unsigned).await
            }
            r => r,
        }
    }

    /// A signed request; the body is hashed for the signature unless `unsigned`.
    /// Returns the status and the number of body bytes received.
    async fn call_once(
        &mut self,
        method: &str,
        path: &str,
        body: Bytes,
        unsigned: bool,
    ) -> Result<(u16, u64)> {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "host",
            format!("{}:{}", self.ep.host, self.ep.port).parse()?,
        );
        let sha = if unsigned {
            "UNSIGNED-PAYLOAD".to_string()
        } else {
            hex::encode(Sha256::digest(&body))
        };
        headers.insert("x-amz-content-sha256", sha.parse()?);
        let auth = sigv4::sign(
            method,
            path,
            "",
            &mut headers,
            &body,
            &self.ep.access_key,
            &self.ep.secret,
            "us-east-1",
            "s3",
            nimbus_model::time::now_millis(),
        );
        headers.insert("authorization", auth.parse()?);
        headers.insert("content-length", body.len().to_string().parse()?);
        let mut req = http::Request::builder().method(method).uri(path);
        *req.headers_mut().expect("builder has headers") = headers;
        let req = req.body(Full::new(body))?;
        self.sender.ready().await?;
        let resp = self.sender.send_request(req).await?;
        let status = resp.status().as_u16();
        let mut body = resp.into_body();
        let mut n = 0u64;
        while let Some(frame) = body.frame().await {
            if let Ok(d) = frame?.into_data() {
                n += d.len() as u64;
            }
        }
        Ok((status, n))
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[(((sorted.len() - 1) as f64) * p).round() as usize]
}

struct Run {
    ops_per_sec: f64,
    p50: f64,
    p99: f64,
}

/// `clients` connections doing `op` back to back for `secs`.
async fn run_small(
    ep: Arc<Endpoint>,
    bucket: &str,
    clients: usize,
    secs: u64,
    body: Bytes,
    put: bool,
) -> Result<Run> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let ep = ep.clone();
        let body = body.clone();
        let bucket = bucket.to_string();
        tasks.push(tokio::spawn(async move {
            let mut client = S3Client::connect(ep).await?;
            let mut lat = Vec::new();
            let mut i = 0usize;
            while Instant::now() < deadline {
                // GETs cycle over the keys the PUT run wrote (at least 50 per client).
                let key = format!("/{bucket}/small/{c}/{}", if put { i } else { i % 50 });
                let t = Instant::now();
                let (status, _) = if put {
                    client.call("PUT", &key, body.clone(), false).await?
                } else {
                    client.call("GET", &key, Bytes::new(), false).await?
                };
                if status != 200 {
                    bail!("{} {key}: status {status}", if put { "PUT" } else { "GET" });
                }
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
                i += 1;
            }
            anyhow::Ok(lat)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_by(|a, b| a.total_cmp(b));
    Ok(Run {
        ops_per_sec: all.len() as f64 / elapsed,
        p50: percentile(&all, 0.5),
        p99: percentile(&all, 0.99),
    })
}

struct Row {
    put: Run,
    get: Run,
    large_put_mbs: Option<f64>,
    large_get_mbs: Option<f64>,
}

async fn measure(ep: Arc<Endpoint>, args: &Args) -> Result<Row> {
    let bucket = format!(
        "bench-s3-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let mut c = S3Client::connect(ep.clone())
        .await
        .with_context(|| format!("connect to {}", ep.name))?;
    let (status, _) = c
        .call("PUT", &format!("/{bucket}"), Bytes::new(), false)
        .await?;
    if status != 200 {
        bail!("{}: create bucket: status {status}", ep.name);
    }
    let small = Bytes::from(vec![b'x'; args.small_bytes]);
    // Make sure every key the GET run reads exists.
    for client in 0..args.clients {
        for i in 0..50 {
            c.call(
                "PUT",
                &format!("/{bucket}/small/{client}/{i}"),
                small.clone(),
                false,
            )
            .await?;
        }
    }
    let put = run_small(
        ep.clone(),
        &bucket,
        args.clients,
        args.seconds,
        small.clone(),
        true,
    )
    .await?;
    let get = run_small(
        ep.clone(),
        &bucket,
        args.clients,
        args.seconds,
        Bytes::new(),
        false,
    )
    .await?;
    let (mut large_put_mbs, mut large_get_mbs) = (None, None);
    if args.large_mib > 0 {
        let bytes = args.large_mib * 1024 * 1024;
        let large = Bytes::from(vec![b'L'; bytes]);
        let t = Instant::now();
        let (status, _) = c
            .call("PUT", &format!("/{bucket}/large"), large, true)
            .await?;
        if status != 200 {
            bail!("{}: large PUT: status {status}", ep.name);
        }
        large_put_mbs = Some(bytes as f64 / 1e6 / t.elapsed().as_secs_f64());
        let t = Instant::now();
        let (status, n) = c
            .call("GET", &format!("/{bucket}/large"), Bytes::new(), false)
            .await?;
        if status != 200 || n != bytes as u64 {
            bail!("{}: large GET: status {status}, {n} bytes", ep.name);
        }
        large_get_mbs = Some(bytes as f64 / 1e6 / t.elapsed().as_secs_f64());
    }
    Ok(Row {
        put,
        get,
        large_put_mbs,
        large_get_mbs,
    })
}

pub fn run(args: Args) -> Result<()> {
    let creds_text =
        std::fs::read_to_string(args.data_dir.join("credentials")).with_context(|| {
            format!(
                "read {}/credentials (is `nimbus up` running with this data dir?)",
                args.data_dir.display()
            )
        })?;
    let creds = nimbus_server::credentials::Credentials::parse(&creds_text)
        .context("parse credentials file")?;
    let endpoint = std::fs::read_to_string(args.data_dir.join("config"))
        .context("read config file")?
        .lines()
        .find_map(|l| l.strip_prefix("endpoint_url = ").map(str::to_string))
        .context("no endpoint_url in config")?;
    let (host, port) = parse_endpoint(&endpoint)?;
    let mut endpoints = vec![Endpoint {
        name: "nimbus".into(),
        host,
        port,
        access_key: creds.access_key_id,
        secret: creds.secret_access_key,
    }];
    if let Some(peer) = &args.peer {
        let (host, port) = parse_endpoint(peer)?;
        endpoints.push(Endpoint {
            name: args.peer_name.clone(),
            host,
            port,
            access_key: "testing".into(),
            secret: "testing".into(),
        });
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        println!(
            "nimbus bench-s3: {} B objects, {} clients x {} s per run; {} MiB large object",
            args.small_bytes, args.clients, args.seconds, args.large_mib
        );
        println!();
        println!("| server | {0} B PUT ops/s | PUT p50 / p99 ms | {0} B GET ops/s | GET p50 / p99 ms | {1} MiB PUT MB/s | {1} MiB GET MB/s |", args.small_bytes, args.large_mib);
        println!("|---|---|---|---|---|---|---|");
        let mut rows = Vec::new();
        for ep in endpoints {
            let ep = Arc::new(ep);
            let r = measure(ep.clone(), &args).await?;
            let mbs = |v: Option<f64>| v.map(|v| format!("{v:.0}")).unwrap_or_else(|| "-".into());
            println!(
                "| {} | {:.0} | {:.2} / {:.2} | {:.0} | {:.2} / {:.2} | {} | {} |",
                ep.name, r.put.ops_per_sec, r.put.p50, r.put.p99, r.get.ops_per_sec, r.get.p50, r.get.p99,
                mbs(r.large_put_mbs), mbs(r.large_get_mbs)
            );
            rows.push((ep.name.clone(), r));
        }
        if rows.len() == 2 {
            let (a, b) = (&rows[0].1, &rows[1].1);
            println!();
            println!(
                "nimbus / {}: PUT {:.1}x, GET {:.1}x ops/s",
                rows[1].0,
                a.put.ops_per_sec / b.put.ops_per_sec,
                a.get.ops_per_sec / b.get.ops_per_sec
            );
        }
        anyhow::Ok(())
    })
}
