//! `nimbus bench s3`: small-object PUT and GET throughput and latency with
//! concurrent clients, and large-object PUT and GET bandwidth, against Nimbus and
//! optionally a peer S3 endpoint (moto's server, say), in one run with the same
//! client, so the numbers sit side by side. Results go in `docs/benchmarks.md`.

use crate::bench::client::{self, Conn, Endpoint, Keep, percentile};
use anyhow::{Result, bail};
use bytes::Bytes;
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A signed S3 request: the status and how many body bytes came back.
async fn call(
    c: &mut Conn,
    method: &str,
    path: &str,
    body: Bytes,
    unsigned: bool,
) -> Result<(u16, u64)> {
    let hash = if unsigned {
        "UNSIGNED-PAYLOAD".to_string()
    } else {
        hex::encode(Sha256::digest(&body))
    };
    let r = c
        .send(method, path, &[], body, Some(&hash), Keep::CountOnly)
        .await?;
    Ok((r.status.as_u16(), r.len))
}

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
            let mut client = Conn::connect(ep, "s3").await?;
            let mut lat = Vec::new();
            let mut i = 0usize;
            while Instant::now() < deadline {
                // GETs cycle over the keys the PUT run wrote (at least 50 per client).
                let key = format!("/{bucket}/small/{c}/{}", if put { i } else { i % 50 });
                let t = Instant::now();
                let (status, _) = if put {
                    call(&mut client, "PUT", &key, body.clone(), false).await?
                } else {
                    call(&mut client, "GET", &key, Bytes::new(), false).await?
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
    Ok(Run {
        ops_per_sec: all.len() as f64 / elapsed,
        p50: percentile(&mut all, 0.5),
        p99: percentile(&mut all, 0.99),
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
    let mut c = Conn::connect(ep.clone(), "s3").await?;
    let (status, _) = call(&mut c, "PUT", &format!("/{bucket}"), Bytes::new(), false).await?;
    if status != 200 {
        bail!("{}: create bucket: status {status}", ep.name);
    }
    let small = Bytes::from(vec![b'x'; args.small_bytes]);
    // Make sure every key the GET run reads exists.
    for client in 0..args.clients {
        for i in 0..50 {
            call(
                &mut c,
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
        let (status, _) = call(&mut c, "PUT", &format!("/{bucket}/large"), large, true).await?;
        if status != 200 {
            bail!("{}: large PUT: status {status}", ep.name);
        }
        large_put_mbs = Some(bytes as f64 / 1e6 / t.elapsed().as_secs_f64());
        let t = Instant::now();
        let (status, n) = call(
            &mut c,
            "GET",
            &format!("/{bucket}/large"),
            Bytes::new(),
            false,
        )
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
    let mut endpoints: Vec<Endpoint> = vec![client::nimbus(&args.data_dir)?];
    if let Some(peer) = &args.peer {
        endpoints.push(client::peer(peer, &args.peer_name)?);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        println!(
            "nimbus bench s3: {} B objects, {} clients x {} s per run; {} MiB large object",
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
