//! `nimbus bench-sqs`: SQS send and receive+delete throughput with batches of 10,
//! single-message latency, and how long a waiting long poll takes to return once a
//! message is sent, against Nimbus and optionally a peer endpoint (moto's server),
//! in one run with the same client. Results go in `docs/benchmarks.md`.

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use nimbus_api_common::sigv4;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct Args {
    /// The Nimbus server's data directory (credentials and endpoint are read from it).
    #[arg(long, default_value = ".nimbus", env = "NIMBUS_DATA_DIR")]
    data_dir: PathBuf,
    /// A peer SQS endpoint to measure beside Nimbus, e.g. `http://127.0.0.1:5000`.
    #[arg(long)]
    peer: Option<String>,
    #[arg(long, default_value = "moto")]
    peer_name: String,
    /// Concurrent clients for the throughput runs.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Seconds of each throughput run.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Single-message round trips (and long-poll wake-ups) to time.
    #[arg(long, default_value_t = 200)]
    samples: usize,
}

struct Endpoint {
    name: String,
    host: String,
    port: u16,
    access_key: String,
    secret: String,
}

struct Client {
    ep: Arc<Endpoint>,
    sender: SendRequest<Full<Bytes>>,
}

impl Client {
    async fn connect(ep: Arc<Endpoint>) -> Result<Client> {
        let stream = tokio::net::TcpStream::connect((ep.host.as_str(), ep.port)).await?;
        stream.set_nodelay(true)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        Ok(Client { ep, sender })
    }

    /// `AmazonSQS.<op>` with a JSON body, on a new connection if the server
    /// closed the last one (moto's server closes every connection).
    async fn call(&mut self, op: &str, body: &Value) -> Result<Value> {
        if self.sender.is_closed() {
            *self = Client::connect(self.ep.clone()).await?;
        }
        match self.call_once(op, body).await {
            Err(_) if self.sender.is_closed() => {
                *self = Client::connect(self.ep.clone()).await?;
                self.call_once(op, body).await
            }
            r => r,
        }
    }

    async fn call_once(&mut self, op: &str, body: &Value) -> Result<Value> {
        let body = Bytes::from(body.to_string());
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "host",
            format!("{}:{}", self.ep.host, self.ep.port).parse()?,
        );
        headers.insert("x-amz-target", format!("AmazonSQS.{op}").parse()?);
        headers.insert("content-type", "application/x-amz-json-1.0".parse()?);
        let auth = sigv4::sign(
            "POST",
            "/",
            "",
            &mut headers,
            &body,
            &self.ep.access_key,
            &self.ep.secret,
            "us-east-1",
            "sqs",
            nimbus_model::time::now_millis(),
        );
        headers.insert("authorization", auth.parse()?);
        headers.insert("content-length", body.len().to_string().parse()?);
        let mut req = http::Request::builder().method("POST").uri("/");
        *req.headers_mut().expect("builder has headers") = headers;
        let req = req.body(Full::new(body))?;
        self.sender.ready().await?;
        let resp = self.sender.send_request(req).await?;
        let status = resp.status();
        let bytes = resp.into_body().collect().await?.to_bytes();
        if !status.is_success() {
            bail!(
                "{} {op}: {status} {}",
                self.ep.name,
                String::from_utf8_lossy(&bytes)
            );
        }
        Ok(serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[(((v.len() - 1) as f64) * p).round() as usize]
}

struct Row {
    send_rate: f64,
    recv_rate: f64,
    send_lat: (f64, f64),
    recv_lat: (f64, f64),
    wake: (f64, f64),
}

async fn measure(ep: Arc<Endpoint>, args: &Args) -> Result<Row> {
    let mut c = Client::connect(ep.clone())
        .await
        .with_context(|| format!("connect to {}", ep.name))?;
    let name = format!(
        "bench-sqs-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let url = c.call("CreateQueue", &json!({ "QueueName": name })).await?["QueueUrl"]
        .as_str()
        .context("CreateQueue without QueueUrl")?
        .to_string();
    let body = "x".repeat(100);

    // Send, batches of 10.
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.clients {
        let (ep, url, body) = (ep.clone(), url.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let mut c = Client::connect(ep).await?;
            let mut n = 0usize;
            while Instant::now() < deadline {
                let entries: Vec<Value> = (0..10)
                    .map(|i| json!({ "Id": format!("m{i}"), "MessageBody": body }))
                    .collect();
                let r = c
                    .call(
                        "SendMessageBatch",
                        &json!({ "QueueUrl": url, "Entries": entries }),
                    )
                    .await?;
                n += r["Successful"].as_array().map_or(0, Vec::len);
            }
            anyhow::Ok(n)
        }));
    }
    let mut sent = 0;
    for t in tasks {
        sent += t.await??;
    }
    let send_rate = sent as f64 / started.elapsed().as_secs_f64();

    // Receive + delete, batches of 10, until drained or the time is up.
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.clients {
        let (ep, url) = (ep.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let mut c = Client::connect(ep).await?;
            let mut n = 0usize;
            while Instant::now() < deadline {
                let r = c.call("ReceiveMessage", &json!({ "QueueUrl": url, "MaxNumberOfMessages": 10, "VisibilityTimeout": 60 })).await?;
                let msgs = r["Messages"].as_array().cloned().unwrap_or_default();
                if msgs.is_empty() {
                    break;
                }
                let entries: Vec<Value> = msgs
                    .iter()
                    .enumerate()
                    .map(|(i, m)| json!({ "Id": format!("d{i}"), "ReceiptHandle": m["ReceiptHandle"] }))
                    .collect();
                c.call("DeleteMessageBatch", &json!({ "QueueUrl": url, "Entries": entries })).await?;
                n += msgs.len();
            }
            anyhow::Ok(n)
        }));
    }
    let mut received = 0;
    for t in tasks {
        received += t.await??;
    }
    let recv_rate = received as f64 / started.elapsed().as_secs_f64();
    c.call("PurgeQueue", &json!({ "QueueUrl": url })).await?;

    // Single messages, one client: send, then receive + delete.
    let (mut send_lat, mut recv_lat) = (Vec::new(), Vec::new());
    for _ in 0..args.samples {
        let t = Instant::now();
        c.call(
            "SendMessage",
            &json!({ "QueueUrl": url, "MessageBody": body }),
        )
        .await?;
        send_lat.push(t.elapsed().as_secs_f64() * 1000.0);
        let t = Instant::now();
        let r = c
            .call("ReceiveMessage", &json!({ "QueueUrl": url }))
            .await?;
        recv_lat.push(t.elapsed().as_secs_f64() * 1000.0);
        if let Some(h) = r["Messages"][0]["ReceiptHandle"].as_str() {
            c.call(
                "DeleteMessage",
                &json!({ "QueueUrl": url, "ReceiptHandle": h }),
            )
            .await?;
        }
    }

    // Long-poll wake-up: a receiver waits; time from the send's return to the
    // receiver's answer (the send's own latency excluded).
    let mut wake = Vec::new();
    let mut receiver = Client::connect(ep.clone()).await?;
    for _ in 0..args.samples.min(50) {
        let url2 = url.clone();
        let poll = tokio::spawn(async move {
            let r = receiver
                .call(
                    "ReceiveMessage",
                    &json!({ "QueueUrl": url2, "WaitTimeSeconds": 5 }),
                )
                .await;
            (receiver, r, Instant::now())
        });
        tokio::time::sleep(Duration::from_millis(30)).await;
        c.call(
            "SendMessage",
            &json!({ "QueueUrl": url, "MessageBody": "wake" }),
        )
        .await?;
        let sent_at = Instant::now();
        let (back, r, got_at) = poll.await?;
        receiver = back;
        let r = r?;
        if let Some(h) = r["Messages"][0]["ReceiptHandle"].as_str() {
            c.call(
                "DeleteMessage",
                &json!({ "QueueUrl": url, "ReceiptHandle": h }),
            )
            .await?;
            wake.push(got_at.saturating_duration_since(sent_at).as_secs_f64() * 1000.0);
        }
    }
    c.call("DeleteQueue", &json!({ "QueueUrl": url })).await?;
    Ok(Row {
        send_rate,
        recv_rate,
        send_lat: (pct(&mut send_lat, 0.5), pct(&mut send_lat, 0.99)),
        recv_lat: (pct(&mut recv_lat, 0.5), pct(&mut recv_lat, 0.99)),
        wake: (pct(&mut wake, 0.5), pct(&mut wake, 0.99)),
    })
}

fn endpoint(url: &str) -> Result<(String, u16)> {
    let hostport = url
        .strip_prefix("http://")
        .context("endpoint must be http://host:port")?;
    let (h, p) = hostport
        .trim_end_matches('/')
        .rsplit_once(':')
        .context("endpoint needs a port")?;
    Ok((h.to_string(), p.parse()?))
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
    let url = std::fs::read_to_string(args.data_dir.join("config"))
        .context("read config file")?
        .lines()
        .find_map(|l| l.strip_prefix("endpoint_url = ").map(str::to_string))
        .context("no endpoint_url in config")?;
    let (host, port) = endpoint(&url)?;
    let mut eps = vec![Endpoint {
        name: "nimbus".into(),
        host,
        port,
        access_key: creds.access_key_id,
        secret: creds.secret_access_key,
    }];
    if let Some(p) = &args.peer {
        let (host, port) = endpoint(p)?;
        eps.push(Endpoint {
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
        println!("nimbus bench-sqs: {} clients x {} s per run, 100-byte messages, {} samples", args.clients, args.seconds, args.samples);
        println!();
        println!("| server | send msgs/s (batches of 10) | receive+delete msgs/s (batches of 10) | SendMessage p50 / p99 ms | ReceiveMessage p50 / p99 ms | long-poll wake-up p50 / p99 ms |");
        println!("|---|---|---|---|---|---|");
        let mut rows = Vec::new();
        for ep in eps {
            let ep = Arc::new(ep);
            let r = measure(ep.clone(), &args).await?;
            println!(
                "| {} | {:.0} | {:.0} | {:.2} / {:.2} | {:.2} / {:.2} | {:.3} / {:.3} |",
                ep.name, r.send_rate, r.recv_rate, r.send_lat.0, r.send_lat.1, r.recv_lat.0, r.recv_lat.1, r.wake.0, r.wake.1
            );
            rows.push((ep.name.clone(), r));
        }
        if rows.len() == 2 {
            let (a, b) = (&rows[0].1, &rows[1].1);
            println!();
            println!("nimbus / {}: send {:.1}x, receive+delete {:.1}x", rows[1].0, a.send_rate / b.send_rate, a.recv_rate / b.recv_rate);
        }
        anyhow::Ok(())
    })
}
