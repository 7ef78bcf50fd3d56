//! `nimbus bench gateway`: what the HTTP front doors add. The same warm native
//! function (a Rust `lambda_runtime` echo) is called through the Invoke API,
//! through an HTTP API (payload 2.0, `$default` route) and through a function
//! URL: latency with one client (p50/p99) and requests/s with concurrent
//! clients. The p50 difference to the Invoke API is the gateway's cost.

use crate::bench::client::{self, Conn, Keep, percentile};
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
    /// A `provided` runtime bootstrap to deploy as the function (e.g. the Rust
    /// echo in tests/functions/rust-echo).
    #[arg(long)]
    native_bootstrap: PathBuf,
    #[arg(long, default_value_t = 16)]
    clients: usize,
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    #[arg(long, default_value_t = 2000)]
    samples: usize,
}

/// One way of calling the function: (method, path, extra headers, body).
#[derive(Clone)]
struct Way {
    name: &'static str,
    method: &'static str,
    path: String,
    headers: Vec<(String, String)>,
    body: Bytes,
}

async fn once(c: &mut Conn, w: &Way) -> Result<()> {
    let headers: Vec<(&str, &str)> = w
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let r = c
        .send(
            w.method,
            &w.path,
            &headers,
            w.body.clone(),
            None,
            Keep::CountOnly,
        )
        .await?;
    if r.status.as_u16() != 200 {
        bail!("{}: status {}", w.name, r.status);
    }
    Ok(())
}

async fn json_call(c: &mut Conn, method: &str, path: &str, body: Value) -> Result<Value> {
    let r = c
        .send(
            method,
            path,
            &[("content-type", "application/json")],
            Bytes::from(body.to_string()),
            None,
            Keep::Body,
        )
        .await?;
    if !r.status.is_success() {
        bail!(
            "{method} {path}: {} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
    }
    Ok(serde_json::from_slice(&r.body).unwrap_or(Value::Null))
}

pub fn run(args: Args) -> Result<()> {
    let ep = Arc::new(client::nimbus(&args.data_dir)?);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        client::bench_role(ep.clone()).await?;
        let mut lam = Conn::connect(ep.clone(), "lambda").await?;
        let mut apigw = Conn::connect(ep.clone(), "apigateway").await?;
        let name = format!("bench-gw-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let bin = std::fs::read(&args.native_bootstrap)
            .with_context(|| format!("read {}", args.native_bootstrap.display()))?;
        let zip = crate::bench::functions::zip_of(&[("bootstrap", &bin, 0o755)])?;
        use base64::Engine as _;
        let f = json_call(&mut lam, "POST", "/2015-03-31/functions", json!({
            "FunctionName": name, "Runtime": "provided.al2023", "Handler": "bootstrap", "MemorySize": 128,
            "Role": "arn:aws:iam::000000000000:role/bench",
            "Code": { "ZipFile": base64::engine::general_purpose::STANDARD.encode(zip) },
        })).await?;
        let arn = f["FunctionArn"].as_str().context("no FunctionArn")?.to_string();
        let api = json_call(&mut apigw, "POST", "/v2/apis", json!({ "name": name, "protocolType": "HTTP", "target": arn })).await?;
        let api_id = api["apiId"].as_str().context("no apiId")?.to_string();
        // As on AWS, API Gateway invokes only what the function's policy lets it.
        let (region, account) = match arn.split(':').collect::<Vec<_>>()[..] {
            [_, _, _, region, account, ..] => (region.to_string(), account.to_string()),
            _ => bail!("unexpected function ARN {arn}"),
        };
        json_call(&mut lam, "POST", &format!("/2015-03-31/functions/{name}/policy"), json!({
            "StatementId": "apigw", "Action": "lambda:InvokeFunction", "Principal": "apigateway.amazonaws.com",
            "SourceArn": format!("arn:aws:execute-api:{region}:{account}:{api_id}/*"),
        })).await?;
        let url = json_call(&mut lam, "POST", &format!("/2021-10-31/functions/{name}/url"), json!({ "AuthType": "NONE" })).await?;
        // A NONE URL is public only once the function's policy says so.
        for (sid, action, condition) in [
            ("url", "lambda:InvokeFunctionUrl", json!({ "FunctionUrlAuthType": "NONE" })),
            ("url-invoke", "lambda:InvokeFunction", json!({ "InvokedViaFunctionUrl": true })),
        ] {
            let mut grant = json!({ "StatementId": sid, "Action": action, "Principal": "*" });
            if let (Some(g), Some(c)) = (grant.as_object_mut(), condition.as_object()) {
                g.extend(c.clone());
            }
            json_call(&mut lam, "POST", &format!("/2015-03-31/functions/{name}/policy"), grant).await?;
        }
        let url_host = url["FunctionUrl"].as_str().context("no FunctionUrl")?
            .trim_start_matches("http://").trim_end_matches('/').to_string();
        let payload = Bytes::from_static(br#"{"noop":true}"#);
        let ways = vec![
            Way { name: "Invoke API", method: "POST", path: format!("/2015-03-31/functions/{name}/invocations"), headers: vec![], body: payload.clone() },
            Way { name: "HTTP API (payload 2.0)", method: "GET", path: "/bench?x=1".into(),
                  headers: vec![("host".into(), format!("{api_id}.execute-api.localhost"))], body: Bytes::new() },
            Way { name: "function URL", method: "GET", path: "/bench?x=1".into(),
                  headers: vec![("host".into(), url_host.clone())], body: Bytes::new() },
        ];
        println!("nimbus bench gateway: a warm native echo; latency over {} sequential calls, throughput with {} clients x {} s", args.samples, args.clients, args.seconds);
        println!();
        println!("| path | p50 / p99 us (1 client) | requests/s ({} clients) |", args.clients);
        println!("|---|---|---|");
        let mut p50s = Vec::new();
        for w in &ways {
            let mut c = Conn::connect(ep.clone(), "lambda").await?;
            for _ in 0..50 {
                once(&mut c, w).await?;
            }
            let mut lat = Vec::with_capacity(args.samples);
            for _ in 0..args.samples {
                let t = Instant::now();
                once(&mut c, w).await?;
                lat.push(t.elapsed().as_secs_f64() * 1e6);
            }
            let deadline = Instant::now() + Duration::from_secs(args.seconds);
            let started = Instant::now();
            let mut tasks = Vec::new();
            for _ in 0..args.clients {
                let (ep, w) = (ep.clone(), w.clone());
                tasks.push(tokio::spawn(async move {
                    let mut c = Conn::connect(ep, "lambda").await?;
                    let mut n = 0usize;
                    while Instant::now() < deadline {
                        once(&mut c, &w).await?;
                        n += 1;
                    }
                    anyhow::Ok(n)
                }));
            }
            let mut n = 0;
            for t in tasks {
                n += t.await??;
            }
            let rate = n as f64 / started.elapsed().as_secs_f64();
            let (p50, p99) = (percentile(&mut lat, 0.5), percentile(&mut lat, 0.99));
            p50s.push(p50);
            println!("| {} | {p50:.0} / {p99:.0} | {rate:.0} |", w.name);
        }
        println!();
        println!("Added over the Invoke API at p50: HTTP API {:.0} us, function URL {:.0} us", p50s[1] - p50s[0], p50s[2] - p50s[0]);
        let _ = json_call(&mut apigw, "DELETE", &format!("/v2/apis/{api_id}"), json!({})).await;
        let _ = lam.send("DELETE", &format!("/2015-03-31/functions/{name}"), &[], Bytes::new(), None, Keep::Body).await;
        anyhow::Ok(())
    })
}
