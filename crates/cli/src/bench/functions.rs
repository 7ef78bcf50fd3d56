//! `nimbus bench functions`: cold start split into its parts, warm latency and throughput of
//! the Invoke API against a running server, beside a bare HTTP echo server measured
//! by the same client as the floor. Results are recorded in `docs/benchmarks.md`.

use crate::bench::client;
use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use nimbus_api_common::sigv4;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod runtimes;

#[derive(clap::Args)]
pub struct Args {
    /// The server's data directory (credentials and endpoint are read from it).
    #[arg(long, default_value = ".nimbus", env = "NIMBUS_DATA_DIR")]
    data_dir: PathBuf,
    /// Endpoint, if not the one in the data directory's `config`.
    #[arg(long)]
    endpoint: Option<String>,
    /// A `provided.*` bootstrap binary (e.g. built with the Rust lambda_runtime) for the native no-op.
    #[arg(long)]
    native_bootstrap: Option<PathBuf>,
    /// Cold starts to measure per function.
    #[arg(long, default_value_t = 30)]
    cold: usize,
    /// Warm sequential invocations per function.
    #[arg(long, default_value_t = 2000)]
    warm: usize,
    /// Concurrent clients for the throughput run.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Seconds of the throughput run.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Measure only the native function (skip the Python one).
    #[arg(long)]
    native_only: bool,
    /// Only the logging comparison: throughput of a Python function printing
    /// 1,000 lines of 100 bytes per invocation against one printing nothing.
    #[arg(long)]
    logging: bool,
    /// Scale-up run: this many concurrent invocations of the native function, each
    /// holding its environment for 1 s, from zero warm environments (0 skips it).
    #[arg(long, default_value_t = 0)]
    scale: usize,
    /// Also the other managed runtimes: Node.js, Ruby and Java no-ops, and the cold
    /// start (a restore) of a Java SnapStart version.
    #[arg(long)]
    runtimes: bool,
}

struct Target {
    host: String,
    port: u16,
    access_key: String,
    secret: String,
}

fn read_setup(args: &Args) -> Result<Target> {
    let ep = client::nimbus_at(&args.data_dir, args.endpoint.as_deref())?;
    Ok(Target {
        host: ep.host,
        port: ep.port,
        access_key: ep.access_key,
        secret: ep.secret,
    })
}

/// One keep-alive HTTP/1.1 connection that signs its requests.
struct Client {
    target: Arc<Target>,
    sender: SendRequest<Full<Bytes>>,
}

struct Reply {
    status: u16,
    headers: http::HeaderMap,
    body: Bytes,
}

impl Client {
    async fn connect(target: Arc<Target>) -> Result<Client> {
        let stream = tokio::net::TcpStream::connect((target.host.as_str(), target.port)).await?;
        stream.set_nodelay(true)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        Ok(Client { target, sender })
    }

    async fn call(
        &mut self,
        method: &str,
        path: &str,
        body: &[u8],
        extra: &[(&str, &str)],
    ) -> Result<Reply> {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "host",
            format!("{}:{}", self.target.host, self.target.port).parse()?,
        );
        for (k, v) in extra {
            headers.insert(http::HeaderName::from_bytes(k.as_bytes())?, v.parse()?);
        }
        let auth = sigv4::sign(
            method,
            path,
            "",
            &mut headers,
            body,
            &self.target.access_key,
            &self.target.secret,
            "us-east-1",
            "lambda",
            nimbus_model::time::now_millis(),
        );
        headers.insert("authorization", auth.parse()?);
        let mut req = http::Request::builder().method(method).uri(path);
        *req.headers_mut().expect("builder has headers") = headers;
        let req = req.body(Full::new(Bytes::copy_from_slice(body)))?;
        self.sender.ready().await?;
        let resp = self.sender.send_request(req).await?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok(Reply {
            status,
            headers,
            body,
        })
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn stats(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    (percentile(&v, 0.5), percentile(&v, 0.99))
}

pub(crate) fn zip_of(files: &[(&str, &[u8], u32)]) -> Result<Vec<u8>> {
    use zip::write::SimpleFileOptions;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data, mode) in files {
        w.start_file(*name, SimpleFileOptions::default().unix_permissions(*mode))?;
        w.write_all(data)?;
    }
    Ok(w.finish()?.into_inner())
}

async fn ensure_function(
    c: &mut Client,
    name: &str,
    runtime: &str,
    handler: &str,
    zip: &[u8],
    extra: Option<(&str, serde_json::Value)>,
) -> Result<()> {
    let _ = c
        .call("DELETE", &format!("/2015-03-31/functions/{name}"), b"", &[])
        .await?;
    use base64::Engine as _;
    let mut body = serde_json::json!({
        "FunctionName": name, "Runtime": runtime, "Handler": handler, "MemorySize": 128,
        "Role": "arn:aws:iam::000000000000:role/bench",
        "Code": { "ZipFile": base64::engine::general_purpose::STANDARD.encode(zip) },
    });
    if let Some((k, v)) = extra {
        body[k] = v;
    }
    let r = c
        .call(
            "POST",
            "/2015-03-31/functions",
            body.to_string().as_bytes(),
            &[("content-type", "application/json")],
        )
        .await?;
    if r.status != 201 {
        bail!(
            "create {name}: {} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
    }
    Ok(())
}

fn timing_part(headers: &http::HeaderMap, key: &str) -> Option<f64> {
    let t = headers.get("x-nimbus-timing")?.to_str().ok()?;
    t.split(';')
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
}

async fn invoke(c: &mut Client, name: &str) -> Result<Reply> {
    let r = c
        .call(
            "POST",
            &format!("/2015-03-31/functions/{name}/invocations"),
            br#"{"noop":true}"#,
            &[],
        )
        .await?;
    if r.status != 200 || r.headers.contains_key("x-amz-function-error") {
        bail!(
            "invoke {name}: {} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
    }
    Ok(r)
}

struct ColdRow {
    /// Sandbox parts (netns, cgroup, namespaces, filesystem, privileges), p50/p99.
    sandbox: Vec<(String, (f64, f64))>,
    total: (f64, f64),
    create: (f64, f64),
    runtime_start: (f64, f64),
    init: (f64, f64),
    first_invoke: (f64, f64),
}

async fn cold_starts(c: &mut Client, name: &str, n: usize) -> Result<ColdRow> {
    let (mut total, mut create, mut starts, mut init, mut inv) =
        (vec![], vec![], vec![], vec![], vec![]);
    let mut sandbox: Vec<(String, Vec<f64>)> = Vec::new();
    for i in 0..n {
        // A configuration change retires warm environments: the next invoke is cold.
        let body =
            serde_json::json!({ "Environment": { "Variables": { "BENCH_ROUND": i.to_string() } } });
        let r = c
            .call(
                "PUT",
                &format!("/2015-03-31/functions/{name}/configuration"),
                body.to_string().as_bytes(),
                &[],
            )
            .await?;
        if r.status != 200 {
            bail!("update {name}: {}", String::from_utf8_lossy(&r.body));
        }
        let start = Instant::now();
        let r = invoke(c, name).await?;
        total.push(start.elapsed().as_secs_f64() * 1000.0);
        create
            .push(timing_part(&r.headers, "create").context("cold invoke without create timing")?);
        let whole_init =
            timing_part(&r.headers, "init").context("cold invoke without init timing")?;
        let runtime_start = timing_part(&r.headers, "runtime_start").unwrap_or(whole_init);
        starts.push(runtime_start);
        init.push(whole_init - runtime_start);
        inv.push(timing_part(&r.headers, "invoke").unwrap_or(f64::NAN));
        let header = r
            .headers
            .get("x-nimbus-timing")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        for kv in header.split(';') {
            if let Some((k, v)) = kv.split_once('=')
                && let (Some(k), Ok(v)) = (k.strip_prefix("sandbox."), v.parse::<f64>())
            {
                match sandbox.iter_mut().find(|(name, _)| name == k) {
                    Some((_, vals)) => vals.push(v),
                    None => sandbox.push((k.to_string(), vec![v])),
                }
            }
        }
    }
    Ok(ColdRow {
        sandbox: sandbox.into_iter().map(|(k, v)| (k, stats(v))).collect(),
        total: stats(total),
        create: stats(create),
        runtime_start: stats(starts),
        init: stats(init),
        first_invoke: stats(inv),
    })
}

async fn warm_latency(c: &mut Client, name: &str, n: usize) -> Result<(f64, f64)> {
    invoke(c, name).await?;
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        invoke(c, name).await?;
        v.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(stats(v))
}

async fn throughput(
    target: Arc<Target>,
    name: &str,
    clients: usize,
    secs: u64,
) -> Result<(f64, (f64, f64))> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let target = target.clone();
        let name = name.to_string();
        tasks.push(tokio::spawn(async move {
            let mut c = Client::connect(target).await?;
            let mut lat = Vec::new();
            while Instant::now() < deadline {
                let t = Instant::now();
                invoke(&mut c, &name).await?;
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            anyhow::Ok(lat)
        }));
    }
    let started = Instant::now();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    let rate = all.len() as f64 / started.elapsed().as_secs_f64();
    Ok((rate, stats(all)))
}

/// The floor: a bare HTTP/1.1 server that echoes the body, on its own port.
async fn echo_floor(
    warm: usize,
    clients: usize,
    secs: u64,
    access_key: &str,
    secret: &str,
) -> Result<((f64, f64), f64)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = listener.accept().await else {
                continue;
            };
            let _ = s.set_nodelay(true);
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(
                    |req: http::Request<hyper::body::Incoming>| async move {
                        let body = req.into_body().collect().await?.to_bytes();
                        Ok::<_, hyper::Error>(http::Response::new(Full::new(body)))
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(s), svc)
                    .await;
            });
        }
    });
    let target = Arc::new(Target {
        host: "127.0.0.1".into(),
        port,
        access_key: access_key.into(),
        secret: secret.into(),
    });
    let mut c = Client::connect(target.clone()).await?;
    let path = "/2015-03-31/functions/echo/invocations";
    let mut v = Vec::with_capacity(warm);
    for _ in 0..warm {
        let start = Instant::now();
        c.call("POST", path, b"{}", &[]).await?;
        v.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let target = target.clone();
        tasks.push(tokio::spawn(async move {
            let mut c = Client::connect(target).await?;
            let mut n = 0u64;
            while Instant::now() < deadline {
                c.call("POST", path, b"{}", &[]).await?;
                n += 1;
            }
            anyhow::Ok(n)
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await??;
    }
    Ok((stats(v), total as f64 / started.elapsed().as_secs_f64()))
}

pub fn run(args: Args) -> Result<()> {
    let target = Arc::new(read_setup(&args)?);
    let ep = Arc::new(client::nimbus_at(&args.data_dir, args.endpoint.as_deref())?);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        client::bench_role(ep).await?;
        let mut c = Client::connect(target.clone()).await.context("connect to nimbus")?;
        if args.logging {
            return logging_overhead(&mut c, target, &args).await;
        }
        let mut functions = vec![];
        if !args.native_only {
            let py = zip_of(&[("app.py", b"def handler(event, context):\n    return None\n", 0o644)])?;
            ensure_function(&mut c, "bench-python-noop", "python3.12", "app.handler", &py, None).await?;
            functions.push(("python3.12 no-op", "bench-python-noop"));
        }
        if args.runtimes {
            functions.extend(runtimes::managed_noops(&mut c).await?);
        }
        if let Some(path) = &args.native_bootstrap {
            let bin = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
            let zip = zip_of(&[("bootstrap", &bin, 0o755)])?;
            ensure_function(&mut c, "bench-native-noop", "provided.al2023", "bootstrap", &zip, None).await?;
            functions.push(("provided.al2023 (Rust lambda_runtime) no-op", "bench-native-noop"));
        }
        println!("nimbus bench functions: {} cold starts, {} warm invokes, {} clients x {} s", args.cold, args.warm, args.concurrency, args.seconds);
        println!();
        println!("All times in ms as p50 / p99. Cold = client-observed; its parts are the server's split.");
        println!();
        println!("| function | cold start | env creation | runtime start | init | first invoke | warm invoke | warm invokes/s ({} clients) |", args.concurrency);
        println!("|---|---|---|---|---|---|---|---|");
        let mut sandbox_rows = Vec::new();
        let mut under_load = Vec::new();
        for (label, name) in &functions {
            let cold = cold_starts(&mut c, name, args.cold).await?;
            sandbox_rows.push((label.to_string(), cold.sandbox.clone()));
            let warm = warm_latency(&mut c, name, args.warm).await?;
            let (tput, loaded) = throughput(target.clone(), name, args.concurrency, args.seconds).await?;
            under_load.push((label.to_string(), loaded));
            println!(
                "| {label} | {:.2} / {:.2} | {:.2} / {:.2} | {:.2} / {:.2} | {:.2} / {:.2} | {:.2} / {:.2} | {:.3} / {:.3} | {:.0} |",
                cold.total.0, cold.total.1, cold.create.0, cold.create.1, cold.runtime_start.0, cold.runtime_start.1,
                cold.init.0, cold.init.1,
                cold.first_invoke.0, cold.first_invoke.1, warm.0, warm.1, tput
            );
        }
        if args.runtimes {
            let (total, restore) = runtimes::snap_start(&mut c, args.cold).await?;
            println!(
                "| java21 SnapStart no-op (a restore) | {:.2} / {:.2} | - | restore {:.2} / {:.2} | - | - | - | - |",
                total.0, total.1, restore.0, restore.1
            );
        }
        let (floor, floor_tput) = echo_floor(args.warm, args.concurrency, args.seconds, &target.access_key, &target.secret).await?;
        println!(
            "| floor: bare hyper echo server, same client | - | - | - | - | - | {:.3} / {:.3} | {:.0} |",
            floor.0, floor.1, floor_tput
        );
        println!();
        println!("Latency under the throughput load ({} clients), ms:", args.concurrency);
        for (label, (p50, p99)) in &under_load {
            println!("  {label}: p50 {p50:.2}, p99 {p99:.2}");
        }
        if sandbox_rows.iter().any(|(_, parts)| !parts.is_empty()) {
            println!();
            println!("Sandbox parts of the cold start (inside \"env creation\" and before \"runtime start\"), ms p50 / p99:");
            println!();
            let names: Vec<String> = sandbox_rows[0].1.iter().map(|(k, _)| k.clone()).collect();
            println!("| function | {} |", names.join(" | "));
            println!("|---|{}", "---|".repeat(names.len()));
            for (label, parts) in &sandbox_rows {
                let cells: Vec<String> = parts.iter().map(|(_, (p50, p99))| format!("{p50:.2} / {p99:.2}")).collect();
                println!("| {label} | {} |", cells.join(" | "));
            }
        }
        if args.scale > 0 && functions.iter().any(|(_, n)| *n == "bench-native-noop") {
            let (total, p50, p99) = scale_up(&mut c, target.clone(), "bench-native-noop", args.scale).await?;
            println!();
            println!(
                "Scale-up: {} concurrent invocations from zero warm environments, each holding its environment 1 s: \
                 all done in {total:.0} ms, so the last environment was running within {:.0} ms; per-call latency minus the 1 s hold p50 {p50:.0} ms, p99 {p99:.0} ms",
                args.scale,
                total - 1000.0
            );
        }
        match freezer_round_trips(200) {
            Ok(Some((p50, p99))) => {
                println!();
                println!("Freezer round trip (freeze until FROZEN, then thaw) of a cgroup holding a sleeping process: p50 {p50:.3} ms, p99 {p99:.3} ms");
            }
            Ok(None) => println!("\n(freezer round trip not measured: no usable cgroups or not root)"),
            Err(e) => println!("\n(freezer round trip failed: {e})"),
        }
        for (_, name) in &functions {
            let _ = c.call("DELETE", &format!("/2015-03-31/functions/{name}"), b"", &[]).await;
        }
        anyhow::Ok(())
    })
}

/// Throughput of a Python function that prints 1,000 lines of 100 bytes per
/// invocation against the same function printing nothing, in alternating
/// rounds so that drift in the machine's load hits both alike.
async fn logging_overhead(c: &mut Client, target: Arc<Target>, args: &Args) -> Result<()> {
    let quiet = zip_of(&[(
        "app.py",
        b"def handler(event, context):\n    return None\n",
        0o644,
    )])?;
    let loud = zip_of(&[(
        "app.py",
        b"import sys\nBLOCK = ('x' * 99 + '\\n') * 1000\n\ndef handler(event, context):\n    sys.stdout.write(BLOCK)\n    sys.stdout.flush()\n    return None\n",
        0o644,
    )])?;
    ensure_function(
        c,
        "bench-python-noop",
        "python3.12",
        "app.handler",
        &quiet,
        None,
    )
    .await?;
    ensure_function(
        c,
        "bench-python-logs",
        "python3.12",
        "app.handler",
        &loud,
        None,
    )
    .await?;
    for name in ["bench-python-noop", "bench-python-logs"] {
        warm_latency(c, name, 50).await?;
    }
    let rounds = 3;
    let (mut quiet_rates, mut loud_rates) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        quiet_rates.push(
            throughput(
                target.clone(),
                "bench-python-noop",
                args.concurrency,
                args.seconds,
            )
            .await?
            .0,
        );
        loud_rates.push(
            throughput(
                target.clone(),
                "bench-python-logs",
                args.concurrency,
                args.seconds,
            )
            .await?
            .0,
        );
    }
    let q: f64 = quiet_rates.iter().sum::<f64>() / rounds as f64;
    let l: f64 = loud_rates.iter().sum::<f64>() / rounds as f64;
    println!(
        "nimbus bench functions --logging: {rounds} alternating rounds of {} s, {} clients",
        args.seconds, args.concurrency
    );
    println!();
    println!("| function | invokes/s per round | mean invokes/s | log lines/s |");
    println!("|---|---|---|---|");
    let show = |v: &[f64]| {
        v.iter()
            .map(|r| format!("{r:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "| python3.12 printing nothing | {} | {q:.0} | 0 |",
        show(&quiet_rates)
    );
    println!(
        "| python3.12 printing 1,000 lines of 100 bytes | {} | {l:.0} | {:.0} |",
        show(&loud_rates),
        l * 1000.0
    );
    println!();
    println!("Throughput lost to logging: {:.1}%", (1.0 - l / q) * 100.0);
    for name in ["bench-python-noop", "bench-python-logs"] {
        let _ = c
            .call("DELETE", &format!("/2015-03-31/functions/{name}"), b"", &[])
            .await;
    }
    Ok(())
}

/// Freeze and thaw a cgroup holding a sleeping process, `n` times, as the pool does
/// with idle environments; returns the round trip's p50 and p99 in ms.
fn freezer_round_trips(n: usize) -> Result<Option<(f64, f64)>> {
    use nimbus_sandbox::cgroup::{Cgroup, Hierarchy};
    let Some(h) = Hierarchy::detect() else {
        return Ok(None);
    };
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    let instance = format!("bench-{}", std::process::id());
    let cg = Cgroup::create(&h, &instance, "freezer", 128)?;
    let mut child = std::process::Command::new("sleep").arg("60").spawn()?;
    for f in cg.procs_files() {
        std::fs::write(f, child.id().to_string())?;
    }
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        cg.set_frozen(true)?;
        while !cg.is_frozen() {
            std::hint::spin_loop();
        }
        cg.set_frozen(false)?;
        v.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    let _ = child.kill();
    let _ = child.wait();
    cg.destroy()?;
    h.remove_instance(&instance);
    Ok(Some(stats(v)))
}

/// Start `n` invocations at once against a function with no warm environments.
async fn scale_up(
    c: &mut Client,
    target: Arc<Target>,
    name: &str,
    n: usize,
) -> Result<(f64, f64, f64)> {
    let body = serde_json::json!({ "Environment": { "Variables": { "BENCH_ROUND": "scale" } } });
    c.call(
        "PUT",
        &format!("/2015-03-31/functions/{name}/configuration"),
        body.to_string().as_bytes(),
        &[],
    )
    .await?;
    let mut clients = Vec::with_capacity(n);
    for _ in 0..n {
        clients.push(Client::connect(target.clone()).await?);
    }
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for mut client in clients {
        let path = format!("/2015-03-31/functions/{name}/invocations");
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            let r = client
                .call("POST", &path, br#"{"sleep_ms":1000}"#, &[])
                .await?;
            if r.status != 200 || r.headers.contains_key("x-amz-function-error") {
                bail!(
                    "scale-up invoke: {} {}",
                    r.status,
                    String::from_utf8_lossy(&r.body)
                );
            }
            anyhow::Ok(t.elapsed().as_secs_f64() * 1000.0 - 1000.0)
        }));
    }
    let mut lat = Vec::with_capacity(n);
    for t in tasks {
        lat.push(t.await??);
    }
    let total = start.elapsed().as_secs_f64() * 1000.0;
    let (p50, p99) = stats(lat);
    Ok((total, p50, p99))
}
