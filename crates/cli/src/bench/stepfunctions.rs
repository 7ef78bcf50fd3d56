//! `nimbus bench stepfunctions`: state transitions per second for a machine of
//! Pass states, EXPRESS (run with `StartSyncExecution`, nothing stored) and
//! STANDARD (every transition committed before the next state runs); and the
//! latency a Task state adds over invoking the same warm native function
//! directly. Results go in `docs/benchmarks.md`.

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
    /// A `provided` runtime bootstrap to deploy as the Task's function (e.g. the
    /// Rust echo in tests/functions/rust-echo).
    #[arg(long)]
    native_bootstrap: PathBuf,
    /// Pass states in the measured machines.
    #[arg(long, default_value_t = 100)]
    states: usize,
    /// Concurrent clients starting executions.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Seconds of each throughput run.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Sequential calls to time for the Task latency.
    #[arg(long, default_value_t = 1000)]
    samples: usize,
}

/// `AWSStepFunctions.<op>` with a JSON body.
async fn sfn(c: &mut Conn, op: &str, body: &Value) -> Result<Value> {
    c.json("AWSStepFunctions", op, body).await
}

/// `n` Pass states in a row, each adding to a counter.
fn pass_chain(n: usize) -> Value {
    let mut states = serde_json::Map::new();
    for i in 0..n {
        let mut s = json!({"Type": "Pass", "Parameters": {"i.$": "States.MathAdd($.i, 1)"}});
        if i + 1 == n {
            s["End"] = json!(true);
        } else {
            s["Next"] = json!(format!("S{}", i + 1));
        }
        states.insert(format!("S{i}"), s);
    }
    json!({"StartAt": "S0", "States": states})
}

async fn create_machine(
    c: &mut Conn,
    name: &str,
    definition: &Value,
    kind: &str,
) -> Result<String> {
    let r = sfn(
        c,
        "CreateStateMachine",
        &json!({
            "name": name, "definition": definition.to_string(), "type": kind,
            "roleArn": "arn:aws:iam::000000000000:role/bench",
        }),
    )
    .await?;
    Ok(r["stateMachineArn"]
        .as_str()
        .context("no stateMachineArn")?
        .to_string())
}

pub fn run(args: Args) -> Result<()> {
    let ep = Arc::new(client::nimbus(&args.data_dir)?);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        client::bench_role(ep.clone()).await?;
        let mut c = Conn::connect(ep.clone(), "states").await?;
        let id = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
        let chain = pass_chain(args.states);
        let express = create_machine(&mut c, &format!("bench-express-{id}"), &chain, "EXPRESS").await?;
        let standard = create_machine(&mut c, &format!("bench-standard-{id}"), &chain, "STANDARD").await?;
        println!(
            "nimbus bench stepfunctions: machines of {} Pass states, {} clients x {} s; Task latency over {} sequential calls",
            args.states, args.clients, args.seconds, args.samples
        );
        println!();
        println!("| machine | executions/s | state transitions/s |");
        println!("|---|---|---|");

        // EXPRESS: each client runs executions to their end, one after another.
        let deadline = Instant::now() + Duration::from_secs(args.seconds);
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..args.clients {
            let (ep, arn) = (ep.clone(), express.clone());
            let want = args.states as u64;
            tasks.push(tokio::spawn(async move {
                let mut c = Conn::connect(ep, "states").await?;
                let mut n = 0usize;
                while Instant::now() < deadline {
                    let r = sfn(&mut c, "StartSyncExecution", &json!({"stateMachineArn": arn, "input": "{\"i\": 0}"})).await?;
                    let out: Value = serde_json::from_str(r["output"].as_str().unwrap_or("null"))?;
                    if r["status"] != "SUCCEEDED" || out["i"].as_u64() != Some(want) {
                        bail!("express execution ended {r}");
                    }
                    n += 1;
                }
                anyhow::Ok(n)
            }));
        }
        let mut n = 0;
        for t in tasks {
            n += t.await??;
        }
        let secs = started.elapsed().as_secs_f64();
        println!("| EXPRESS (StartSyncExecution) | {:.0} | {:.0} |", n as f64 / secs, (n * args.states) as f64 / secs);

        // STANDARD: clients start executions for the run's time; the clock
        // stops when the last of them has succeeded.
        let deadline = Instant::now() + Duration::from_secs(args.seconds);
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..args.clients {
            let (ep, arn) = (ep.clone(), standard.clone());
            tasks.push(tokio::spawn(async move {
                let mut c = Conn::connect(ep, "states").await?;
                let mut arns = Vec::new();
                while Instant::now() < deadline {
                    let r = sfn(&mut c, "StartExecution", &json!({"stateMachineArn": arn, "input": "{\"i\": 0}"})).await?;
                    arns.push(r["executionArn"].as_str().context("no executionArn")?.to_string());
                    // Keep the backlog bounded: the measure is transitions, not queueing.
                    if arns.len() % 8 == 0 {
                        wait_done(&mut c, &arns[arns.len() - 8]).await?;
                    }
                }
                for a in &arns {
                    wait_done(&mut c, a).await?;
                }
                anyhow::Ok(arns.len())
            }));
        }
        let mut n = 0;
        for t in tasks {
            n += t.await??;
        }
        let secs = started.elapsed().as_secs_f64();
        println!("| STANDARD (durable) | {:.0} | {:.0} |", n as f64 / secs, (n * args.states) as f64 / secs);

        // Task latency: one Task state calling a warm native function, against
        // invoking that function directly.
        let mut lam = Conn::connect(ep.clone(), "lambda").await?;
        let name = format!("bench-sfn-{id}");
        let bin = std::fs::read(&args.native_bootstrap).with_context(|| format!("read {}", args.native_bootstrap.display()))?;
        let zip = crate::bench::functions::zip_of(&[("bootstrap", &bin, 0o755)])?;
        use base64::Engine as _;
        let body = json!({
            "FunctionName": name, "Runtime": "provided.al2023", "Handler": "bootstrap", "MemorySize": 128,
            "Role": "arn:aws:iam::000000000000:role/bench",
            "Code": { "ZipFile": base64::engine::general_purpose::STANDARD.encode(zip) },
        });
        let r = lam.send("POST", "/2015-03-31/functions", &[("content-type", "application/json")], Bytes::from(body.to_string()), None, Keep::Body).await?;
        if !r.status.is_success() {
            bail!("CreateFunction: {} {}", r.status, String::from_utf8_lossy(&r.body));
        }
        let created: Value = serde_json::from_slice(&r.body)?;
        let fn_arn = created["FunctionArn"].as_str().context("no FunctionArn")?.to_string();
        let task = create_machine(&mut c, &format!("bench-task-{id}"),
            &json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": fn_arn, "End": true}}}), "EXPRESS").await?;
        let invoke_path = format!("/2015-03-31/functions/{name}/invocations");
        let payload = Bytes::from_static(br#"{"noop":true}"#);
        let mut direct = Vec::with_capacity(args.samples);
        let mut via_task = Vec::with_capacity(args.samples);
        for i in 0..args.samples + 50 {
            let t = Instant::now();
            let r = lam.send("POST", &invoke_path, &[], payload.clone(), None, Keep::CountOnly).await?;
            if r.status.as_u16() != 200 {
                bail!("Invoke: {}", r.status);
            }
            let d = t.elapsed().as_secs_f64() * 1e6;
            let t = Instant::now();
            let r = sfn(&mut c, "StartSyncExecution", &json!({"stateMachineArn": task, "input": "{\"noop\":true}"})).await?;
            if r["status"] != "SUCCEEDED" {
                bail!("task execution ended {r}");
            }
            let v = t.elapsed().as_secs_f64() * 1e6;
            if i >= 50 {
                direct.push(d);
                via_task.push(v);
            }
        }
        let (d50, d99) = (percentile(&mut direct, 0.5), percentile(&mut direct, 0.99));
        let (t50, t99) = (percentile(&mut via_task, 0.5), percentile(&mut via_task, 0.99));
        println!();
        println!("| call | p50 / p99 us |");
        println!("|---|---|");
        println!("| Invoke API | {d50:.0} / {d99:.0} |");
        println!("| StartSyncExecution, one Task state | {t50:.0} / {t99:.0} |");
        println!();
        println!("A Task state adds {:.0} us at p50 over invoking the function directly", t50 - d50);
        for arn in [&express, &standard, &task] {
            let _ = sfn(&mut c, "DeleteStateMachine", &json!({"stateMachineArn": arn})).await;
        }
        let _ = lam.send("DELETE", &format!("/2015-03-31/functions/{name}"), &[], Bytes::new(), None, Keep::Body).await;
        anyhow::Ok(())
    })
}

async fn wait_done(c: &mut Conn, arn: &str) -> Result<()> {
    loop {
        let d = sfn(c, "DescribeExecution", &json!({"executionArn": arn})).await?;
        match d["status"].as_str() {
            Some("RUNNING") => tokio::time::sleep(Duration::from_millis(2)).await,
            Some("SUCCEEDED") => return Ok(()),
            _ => bail!("standard execution ended {d}"),
        }
    }
}
