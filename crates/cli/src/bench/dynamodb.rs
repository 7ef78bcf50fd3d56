//! `nimbus bench dynamodb`: `PutItem`, `GetItem` and `Query` latency (one client,
//! p50/p99) and throughput (concurrent clients) through the HTTP API, against
//! Nimbus and optionally a peer endpoint (moto's server) with the same client;
//! and, on Nimbus, how long a committed change takes to reach a function through
//! the table's stream. Results go in `docs/benchmarks.md`.

use crate::bench::client::{self, Conn, Endpoint, Keep, percentile};
use anyhow::{Context, Result, bail};
use bytes::Bytes;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct Args {
    /// The Nimbus server's data directory (credentials and endpoint are read from it).
    #[arg(long, default_value = ".nimbus", env = "NIMBUS_DATA_DIR")]
    data_dir: PathBuf,
    /// A peer DynamoDB endpoint to measure beside Nimbus, e.g. `http://127.0.0.1:5000`.
    #[arg(long)]
    peer: Option<String>,
    #[arg(long, default_value = "moto")]
    peer_name: String,
    /// Concurrent clients for the throughput runs.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Seconds of each throughput run.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Single-client round trips to time per operation.
    #[arg(long, default_value_t = 1000)]
    samples: usize,
    /// Stream deliveries to time (0 skips the stream measurement).
    #[arg(long, default_value_t = 100)]
    stream_samples: usize,
}

/// `DynamoDB_20120810.<op>` with a JSON body.
async fn call(c: &mut Conn, op: &str, body: &Value) -> Result<Value> {
    c.json("DynamoDB_20120810", op, body).await
}

/// Partitions the preloaded items spread over, and items per partition.
const PARTITIONS: usize = 100;
const PER_PARTITION: usize = 10;

fn item(p: usize, s: usize) -> Value {
    json!({
        "pk": { "S": format!("USER#{p:04}") },
        "sk": { "S": format!("ORDER#{s:04}") },
        "total": { "N": format!("{}.{:02}", p + s, s) },
        "status": { "S": "placed" },
        "note": { "S": "x".repeat(100) },
    })
}

/// The request body of one operation of a run, `i` its sequence number.
fn request(table: &str, op: &str, i: usize) -> Value {
    let (p, s) = (i % PARTITIONS, (i / PARTITIONS) % PER_PARTITION);
    match op {
        "PutItem" => json!({ "TableName": table, "Item": item(p, s) }),
        "GetItem" => json!({ "TableName": table, "Key": {
            "pk": { "S": format!("USER#{p:04}") }, "sk": { "S": format!("ORDER#{s:04}") } } }),
        _ => json!({
            "TableName": table,
            "KeyConditionExpression": "pk = :p AND begins_with(sk, :o)",
            "ExpressionAttributeValues": { ":p": { "S": format!("USER#{p:04}") }, ":o": { "S": "ORDER#" } },
        }),
    }
}

struct Run {
    p50: f64,
    p99: f64,
    ops_per_sec: f64,
}

async fn run_op(ep: &Arc<Endpoint>, args: &Args, table: &str, op: &'static str) -> Result<Run> {
    // Latency: one client, one request at a time.
    let mut c = Conn::connect(ep.clone(), "dynamodb").await?;
    let mut lat = Vec::with_capacity(args.samples);
    for i in 0..args.samples {
        let body = request(table, op, i);
        let t = Instant::now();
        let r = call(&mut c, op, &body).await?;
        lat.push(t.elapsed().as_secs_f64() * 1e6);
        if op == "Query" && r["Count"].as_u64() != Some(PER_PARTITION as u64) {
            bail!("{} Query returned {} items", ep.name, r["Count"]);
        }
    }
    // Throughput: concurrent clients for a fixed time.
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..args.clients {
        let (ep, table) = (ep.clone(), table.to_string());
        tasks.push(tokio::spawn(async move {
            let mut c = Conn::connect(ep, "dynamodb").await?;
            let mut n = 0usize;
            while Instant::now() < deadline {
                call(&mut c, op, &request(&table, op, w * 7919 + n)).await?;
                n += 1;
            }
            anyhow::Ok(n)
        }));
    }
    let mut done = 0;
    for t in tasks {
        done += t.await??;
    }
    Ok(Run {
        p50: percentile(&mut lat, 0.5),
        p99: percentile(&mut lat, 0.99),
        ops_per_sec: done as f64 / started.elapsed().as_secs_f64(),
    })
}

async fn create_table(c: &mut Conn, name: &str, stream: bool) -> Result<()> {
    let mut body = json!({
        "TableName": name,
        "KeySchema": [{ "AttributeName": "pk", "KeyType": "HASH" }, { "AttributeName": "sk", "KeyType": "RANGE" }],
        "AttributeDefinitions": [{ "AttributeName": "pk", "AttributeType": "S" }, { "AttributeName": "sk", "AttributeType": "S" }],
        "BillingMode": "PAY_PER_REQUEST",
    });
    if stream {
        body["StreamSpecification"] =
            json!({ "StreamEnabled": true, "StreamViewType": "NEW_IMAGE" });
    }
    call(c, "CreateTable", &body).await?;
    Ok(())
}

async fn measure(ep: Arc<Endpoint>, args: &Args) -> Result<Vec<(&'static str, Run)>> {
    let mut c = Conn::connect(ep.clone(), "dynamodb").await?;
    let table = format!(
        "bench-ddb-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    create_table(&mut c, &table, false).await?;
    // Preload every item the reads ask for.
    let all: Vec<Value> = (0..PARTITIONS)
        .flat_map(|p| (0..PER_PARTITION).map(move |s| item(p, s)))
        .collect();
    for chunk in all.chunks(25) {
        let puts: Vec<Value> = chunk
            .iter()
            .map(|i| json!({ "PutRequest": { "Item": i } }))
            .collect();
        call(
            &mut c,
            "BatchWriteItem",
            &json!({ "RequestItems": { table.clone(): puts } }),
        )
        .await?;
    }
    let mut out = Vec::new();
    for op in ["PutItem", "GetItem", "Query"] {
        out.push((op, run_op(&ep, args, &table, op).await?));
    }
    call(&mut c, "DeleteTable", &json!({ "TableName": table })).await?;
    Ok(out)
}

const LATENCY_FUNCTION: &str = r#"
import os, time
import boto3

ddb = boto3.client("dynamodb")

def handler(event, context):
    now = time.time() * 1000
    for r in event["Records"]:
        image = r["dynamodb"].get("NewImage", {})
        if "t0" in image:
            ddb.put_item(TableName=os.environ["OUT"], Item={
                "pk": {"S": "lat"}, "sk": image["sk"],
                "ms": {"N": "%.3f" % (now - float(image["t0"]["N"]))}})
"#;

/// Milliseconds from a write's request to the function's handler running, for
/// `n` writes one at a time (the function warm after the first).
async fn stream_delivery(ep: Arc<Endpoint>, n: usize) -> Result<(f64, f64)> {
    client::bench_role(ep.clone()).await?;
    let mut c = Conn::connect(ep.clone(), "dynamodb").await?;
    let mut lam = Conn::connect(ep.clone(), "lambda").await?;
    let id = &uuid::Uuid::new_v4().simple().to_string()[..10];
    let (src, out, func) = (
        format!("bench-src-{id}"),
        format!("bench-out-{id}"),
        format!("bench-stream-{id}"),
    );
    create_table(&mut c, &src, true).await?;
    create_table(&mut c, &out, false).await?;
    let arn = call(&mut c, "DescribeTable", &json!({ "TableName": src })).await?["Table"]
        ["LatestStreamArn"]
        .as_str()
        .context("no stream ARN")?
        .to_string();
    let zip = crate::bench::functions::zip_of(&[("app.py", LATENCY_FUNCTION.as_bytes(), 0o644)])?;
    use base64::Engine as _;
    let body = json!({
        "FunctionName": func, "Runtime": "python3.12", "Handler": "app.handler", "Timeout": 30,
        "Role": "arn:aws:iam::000000000000:role/bench",
        "Environment": { "Variables": { "OUT": out } },
        "Code": { "ZipFile": base64::engine::general_purpose::STANDARD.encode(zip) },
    });
    let json_hdr = [("content-type", "application/json")];
    let r = lam
        .send(
            "POST",
            "/2015-03-31/functions",
            &json_hdr,
            Bytes::from(body.to_string()),
            None,
            Keep::Body,
        )
        .await?;
    if r.status.as_u16() != 201 {
        bail!(
            "create function: {} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
    }
    let mapping = json!({ "FunctionName": func, "EventSourceArn": arn, "StartingPosition": "LATEST", "BatchSize": 1 });
    let r = lam
        .send(
            "POST",
            "/2015-03-31/event-source-mappings/",
            &json_hdr,
            Bytes::from(mapping.to_string()),
            None,
            Keep::Body,
        )
        .await?;
    if !r.status.is_success() {
        bail!(
            "create mapping: {} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
    }
    let count_query = json!({
        "TableName": out, "KeyConditionExpression": "pk = :l",
        "ExpressionAttributeValues": { ":l": { "S": "lat" } } });
    // One write at a time, each waiting for its delivery: no batching helps.
    let mut got = Vec::new();
    for i in 0..=n {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs_f64()
            * 1000.0;
        call(&mut c, "PutItem", &json!({ "TableName": src, "Item": {
            "pk": { "S": "w" }, "sk": { "S": format!("{i:06}") }, "t0": { "N": format!("{now_ms:.3}") } } }))
            .await?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            got = call(&mut c, "Query", &count_query).await?["Items"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if got.len() > i || Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    // The first delivery starts the function cold: leave it out.
    let mut ms: Vec<f64> = got
        .iter()
        .filter(|i| i["sk"]["S"].as_str() != Some("000000"))
        .filter_map(|i| i["ms"]["N"].as_str()?.parse().ok())
        .collect();
    for t in [&src, &out] {
        call(&mut c, "DeleteTable", &json!({ "TableName": t })).await?;
    }
    let _ = lam
        .send(
            "DELETE",
            &format!("/2015-03-31/functions/{func}"),
            &[],
            Bytes::new(),
            None,
            Keep::Body,
        )
        .await;
    Ok((percentile(&mut ms, 0.5), percentile(&mut ms, 0.99)))
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
        println!(
            "nimbus bench dynamodb: {} items of ~150 B in {} partitions; latency over {} sequential calls, throughput with {} clients x {} s",
            PARTITIONS * PER_PARTITION, PARTITIONS, args.samples, args.clients, args.seconds
        );
        println!();
        println!("| server | operation | p50 / p99 us (1 client) | ops/s ({} clients) |", args.clients);
        println!("|---|---|---|---|");
        let mut results = Vec::new();
        let mut nimbus_ep = None;
        for ep in eps {
            let ep = Arc::new(ep);
            if nimbus_ep.is_none() {
                nimbus_ep = Some(ep.clone());
            }
            let rows = measure(ep.clone(), &args).await?;
            for (op, r) in &rows {
                println!("| {} | {op} | {:.0} / {:.0} | {:.0} |", ep.name, r.p50, r.p99, r.ops_per_sec);
            }
            results.push((ep.name.clone(), rows));
        }
        if results.len() == 2 {
            println!();
            for (i, (op, a)) in results[0].1.iter().enumerate() {
                let b = &results[1].1[i].1;
                println!("nimbus / {}: {op} {:.1}x ops/s, p50 {:.1}x faster", results[1].0, a.ops_per_sec / b.ops_per_sec, b.p50 / a.p50);
            }
        }
        if args.stream_samples > 0 && let Some(ep) = nimbus_ep {
            let (p50, p99) = stream_delivery(ep, args.stream_samples).await?;
            println!();
            println!("Stream delivery (PutItem sent to the handler running, {} warm deliveries, BatchSize 1): p50 {p50:.1} ms, p99 {p99:.1} ms", args.stream_samples);
        }
        anyhow::Ok(())
    })
}
