//! `nimbus cost [--since 30d] [--function NAME] [--json]`: what the
//! functions' use over a period would cost on AWS Lambda. Requests and
//! GB-seconds come from the functions' REPORT lines (billed duration times
//! memory), read with a Logs Insights query through the running server;
//! architecture and provisioned concurrency from the Lambda API. Prices are
//! Lambda's published on-demand prices for US East (N. Virginia), first
//! tier, before the free tier ([`PRICE_TABLE`]).

use crate::client::{self, Conn, Endpoint, Keep};
use anyhow::{Context, Result};
use bytes::Bytes;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;

/// Which prices are used, said with every report.
pub const PRICE_TABLE: &str = "AWS Lambda on-demand prices, US East (N. Virginia), first tier, before the free tier: requests $0.20 per million; duration $0.0000166667 per GB-second (x86_64) or $0.0000133334 (arm64); provisioned concurrency $0.0000041667 per GB-second (x86_64) or $0.0000033334 (arm64)";

/// (duration per GB-s, provisioned concurrency per GB-s) by architecture.
fn prices(arch: &str) -> (f64, f64) {
    if arch == "arm64" {
        (0.000_013_333_4, 0.000_003_333_4)
    } else {
        (0.000_016_666_7, 0.000_004_166_7)
    }
}

const PER_REQUEST: f64 = 0.20 / 1_000_000.0;

#[derive(clap::Args)]
pub struct Args {
    /// The period: seconds (`90s`), minutes, hours or days (`30d`), ending now.
    #[arg(long, default_value = "30d")]
    since: String,
    /// Only this function.
    #[arg(long)]
    function: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// The server's data directory (its credentials and endpoint).
    #[arg(long, default_value = ".nimbus", env = "NIMBUS_DATA_DIR")]
    data_dir: PathBuf,
    /// The server, if not the one in the data directory's config.
    #[arg(long)]
    endpoint: Option<String>,
}

/// `30d`, `12h`, `45m`, `90s` in seconds.
fn period_secs(s: &str) -> Result<u64> {
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = n
        .parse()
        .with_context(|| format!("--since {s}: a number then s, m, h or d"))?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" | "" => 3600,
        "d" => 86_400,
        _ => anyhow::bail!("--since {s}: the unit is s, m, h or d"),
    };
    Ok(n * scale)
}

/// One function's use and cost.
#[derive(Debug, Default)]
struct Use {
    name: String,
    architecture: String,
    memory_mb: f64,
    requests: f64,
    gb_seconds: f64,
    provisioned: f64,
    provisioned_gb_seconds: f64,
}

impl Use {
    fn cost(&self) -> f64 {
        let (duration, provisioned) = prices(&self.architecture);
        self.requests * PER_REQUEST
            + self.gb_seconds * duration
            + self.provisioned_gb_seconds * provisioned
    }
}

async fn get(c: &mut Conn, path: &str) -> Result<Value> {
    let r = c
        .send("GET", path, &[], Bytes::new(), None, Keep::Body)
        .await?;
    if !r.status.is_success() {
        anyhow::bail!(
            "GET {path}: {} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
    }
    Ok(serde_json::from_slice(&r.body)?)
}

async fn functions(c: &mut Conn) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let path = match &marker {
            Some(m) => format!("/2015-03-31/functions/?Marker={m}"),
            None => "/2015-03-31/functions/".to_string(),
        };
        let page = get(c, &path).await?;
        out.extend(page["Functions"].as_array().cloned().unwrap_or_default());
        match page["NextMarker"].as_str() {
            Some(m) if !m.is_empty() => marker = Some(m.to_string()),
            _ => return Ok(out),
        }
    }
}

/// Requests and MB-milliseconds from the group's REPORT lines in `[start, end]`.
async fn reported(logs: &mut Conn, group: &str, start: u64, end: u64) -> Result<(f64, f64)> {
    let query = "filter @type = \"REPORT\" | stats count(*) as requests, sum(@billedDuration * @memorySize / 1000000) as mbms";
    let started = logs
        .json(
            "Logs_20140328",
            "StartQuery",
            &json!({"logGroupName": group, "startTime": start, "endTime": end, "queryString": query}),
        )
        .await;
    let id = match started {
        Ok(v) => v["queryId"].as_str().unwrap_or_default().to_string(),
        // A function never invoked has no log group yet.
        Err(e) if e.to_string().contains("ResourceNotFoundException") => return Ok((0.0, 0.0)),
        Err(e) => return Err(e),
    };
    let got = logs
        .json("Logs_20140328", "GetQueryResults", &json!({"queryId": id}))
        .await?;
    let field = |name: &str| -> f64 {
        got["results"][0]
            .as_array()
            .into_iter()
            .flatten()
            .find(|f| f["field"] == name)
            .and_then(|f| f["value"].as_str())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    Ok((field("requests"), field("mbms")))
}

pub fn run(args: Args) -> Result<()> {
    let secs = period_secs(&args.since)?;
    let ep: Arc<Endpoint> = Arc::new(client::nimbus_at(&args.data_dir, args.endpoint.as_deref())?);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let only = args.function.clone();
    let uses = rt.block_on(async move {
        let mut lambda = Conn::connect(ep.clone(), "lambda").await?;
        let mut logs = Conn::connect(ep, "logs").await?;
        let end = nimbus_model::time::now_millis() / 1000;
        let start = end.saturating_sub(secs);
        let mut uses = Vec::new();
        for f in functions(&mut lambda).await? {
            let name = f["FunctionName"].as_str().unwrap_or_default().to_string();
            if only.as_ref().is_some_and(|w| *w != name) {
                continue;
            }
            let group = f["LoggingConfig"]["LogGroup"]
                .as_str()
                .map_or_else(|| format!("/aws/lambda/{name}"), str::to_string);
            let (requests, mb_ms) = reported(&mut logs, &group, start, end).await?;
            let memory_mb = f["MemorySize"].as_f64().unwrap_or(128.0);
            let provisioned: f64 = get(
                &mut lambda,
                &format!("/2019-09-30/functions/{name}/provisioned-concurrency?List=ALL"),
            )
            .await
            .map(|v| {
                v["ProvisionedConcurrencyConfigs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|c| c["AllocatedProvisionedConcurrentExecutions"].as_f64())
                    .sum()
            })
            .unwrap_or(0.0);
            uses.push(Use {
                architecture: f["Architectures"][0]
                    .as_str()
                    .unwrap_or("x86_64")
                    .to_string(),
                memory_mb,
                requests,
                gb_seconds: mb_ms / 1024.0 / 1000.0,
                provisioned,
                provisioned_gb_seconds: provisioned * memory_mb / 1024.0 * secs as f64,
                name,
            });
        }
        anyhow::Ok(uses)
    })?;
    if args.function.is_some() && uses.is_empty() {
        anyhow::bail!("no function named {}", args.function.unwrap_or_default());
    }
    let total: f64 = uses.iter().map(Use::cost).sum();
    if args.json {
        let list: Vec<Value> = uses
            .iter()
            .map(|u| {
                json!({"function": u.name, "architecture": u.architecture, "memoryMB": u.memory_mb,
                       "requests": u.requests, "gbSeconds": u.gb_seconds,
                       "provisionedConcurrency": u.provisioned, "provisionedGbSeconds": u.provisioned_gb_seconds,
                       "costUSD": u.cost()})
            })
            .collect();
        let out = json!({"periodSeconds": secs, "functions": list, "totalUSD": total, "priceTable": PRICE_TABLE});
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!("Lambda use over the last {} ({secs} s):", args.since);
    println!(
        "{:<40} {:>7} {:>10} {:>14} {:>16} {:>12}",
        "FUNCTION", "ARCH", "REQUESTS", "GB-SECONDS", "PROVISIONED GB-S", "COST (USD)"
    );
    for u in &uses {
        println!(
            "{:<40} {:>7} {:>10} {:>14.3} {:>16.1} {:>12.6}",
            u.name,
            u.architecture,
            u.requests,
            u.gb_seconds,
            u.provisioned_gb_seconds,
            u.cost()
        );
    }
    println!(
        "{:<40} {:>7} {:>10} {:>14} {:>16} {:>12.6}",
        "TOTAL", "", "", "", "", total
    );
    println!();
    println!("Prices: {PRICE_TABLE}.");
    if uses.iter().any(|u| u.provisioned > 0.0) {
        println!("Provisioned concurrency is counted as configured now, for the whole period.");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_and_costs() {
        assert_eq!(period_secs("30d").unwrap(), 2_592_000);
        assert_eq!(period_secs("90s").unwrap(), 90);
        assert_eq!(period_secs("2").unwrap(), 7200);
        assert!(period_secs("3w").is_err());
        assert!(period_secs("x").is_err());
        let u = Use {
            architecture: "x86_64".into(),
            requests: 1_000_000.0,
            gb_seconds: 400_000.0,
            ..Use::default()
        };
        // $0.20 for the requests and $6.67 for the duration.
        assert!((u.cost() - 6.866_68).abs() < 0.001, "{}", u.cost());
    }
}
