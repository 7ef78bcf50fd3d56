//! `nimbus bench sqs`: SQS send and receive+delete throughput with batches of 10,
//! single-message latency, and how long a waiting long poll takes to return once a
//! message is sent, against Nimbus and optionally a peer endpoint (moto's server),
//! in one run with the same client. Results go in `docs/benchmarks.md`.

use crate::bench::client::{self, Conn, Endpoint, percentile};
use anyhow::{Context, Result};
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

/// `AmazonSQS.<op>` with a JSON body.
async fn call(c: &mut Conn, op: &str, body: &Value) -> Result<Value> {
    c.json("AmazonSQS", op, body).await
}

struct Row {
    send_rate: f64,
    recv_rate: f64,
    send_lat: (f64, f64),
    recv_lat: (f64, f64),
    wake: (f64, f64),
}

async fn measure(ep: Arc<Endpoint>, args: &Args) -> Result<Row> {
    let mut c = Conn::connect(ep.clone(), "sqs").await?;
    let name = format!(
        "bench-sqs-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let url = call(&mut c, "CreateQueue", &json!({ "QueueName": name })).await?["QueueUrl"]
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
            let mut c = Conn::connect(ep, "sqs").await?;
            let mut n = 0usize;
            while Instant::now() < deadline {
                let entries: Vec<Value> = (0..10)
                    .map(|i| json!({ "Id": format!("m{i}"), "MessageBody": body }))
                    .collect();
                let r = call(
                    &mut c,
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
            let mut c = Conn::connect(ep, "sqs").await?;
            let mut n = 0usize;
            while Instant::now() < deadline {
                let r = call(&mut c, "ReceiveMessage", &json!({ "QueueUrl": url, "MaxNumberOfMessages": 10, "VisibilityTimeout": 60 })).await?;
                let msgs = r["Messages"].as_array().cloned().unwrap_or_default();
                if msgs.is_empty() {
                    break;
                }
                let entries: Vec<Value> = msgs
                    .iter()
                    .enumerate()
                    .map(|(i, m)| json!({ "Id": format!("d{i}"), "ReceiptHandle": m["ReceiptHandle"] }))
                    .collect();
                call(&mut c, "DeleteMessageBatch", &json!({ "QueueUrl": url, "Entries": entries })).await?;
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
    call(&mut c, "PurgeQueue", &json!({ "QueueUrl": url })).await?;

    // Single messages, one client: send, then receive + delete.
    let (mut send_lat, mut recv_lat) = (Vec::new(), Vec::new());
    for _ in 0..args.samples {
        let t = Instant::now();
        call(
            &mut c,
            "SendMessage",
            &json!({ "QueueUrl": url, "MessageBody": body }),
        )
        .await?;
        send_lat.push(t.elapsed().as_secs_f64() * 1000.0);
        let t = Instant::now();
        let r = call(&mut c, "ReceiveMessage", &json!({ "QueueUrl": url })).await?;
        recv_lat.push(t.elapsed().as_secs_f64() * 1000.0);
        if let Some(h) = r["Messages"][0]["ReceiptHandle"].as_str() {
            call(
                &mut c,
                "DeleteMessage",
                &json!({ "QueueUrl": url, "ReceiptHandle": h }),
            )
            .await?;
        }
    }

    // Long-poll wake-up: a receiver waits; time from the send's return to the
    // receiver's answer (the send's own latency excluded).
    let mut wake = Vec::new();
    let mut receiver = Conn::connect(ep.clone(), "sqs").await?;
    for _ in 0..args.samples.min(50) {
        let url2 = url.clone();
        let poll = tokio::spawn(async move {
            let r = call(
                &mut receiver,
                "ReceiveMessage",
                &json!({ "QueueUrl": url2, "WaitTimeSeconds": 5 }),
            )
            .await;
            (receiver, r, Instant::now())
        });
        tokio::time::sleep(Duration::from_millis(30)).await;
        call(
            &mut c,
            "SendMessage",
            &json!({ "QueueUrl": url, "MessageBody": "wake" }),
        )
        .await?;
        let sent_at = Instant::now();
        let (back, r, got_at) = poll.await?;
        receiver = back;
        let r = r?;
        if let Some(h) = r["Messages"][0]["ReceiptHandle"].as_str() {
            call(
                &mut c,
                "DeleteMessage",
                &json!({ "QueueUrl": url, "ReceiptHandle": h }),
            )
            .await?;
            wake.push(got_at.saturating_duration_since(sent_at).as_secs_f64() * 1000.0);
        }
    }
    call(&mut c, "DeleteQueue", &json!({ "QueueUrl": url })).await?;
    Ok(Row {
        send_rate,
        recv_rate,
        send_lat: (
            percentile(&mut send_lat, 0.5),
            percentile(&mut send_lat, 0.99),
        ),
        recv_lat: (
            percentile(&mut recv_lat, 0.5),
            percentile(&mut recv_lat, 0.99),
        ),
        wake: (percentile(&mut wake, 0.5), percentile(&mut wake, 0.99)),
    })
}

pub fn run(args: Args) -> Result<()> {
    let mut eps: Vec<Endpoint> = vec![client::nimbus(&args.data_dir)?];
    if let Some(p) = &args.peer {
        eps.push(client::peer(p, &args.peer_name)?);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        println!("nimbus bench sqs: {} clients x {} s per run, 100-byte messages, {} samples", args.clients, args.seconds, args.samples);
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
