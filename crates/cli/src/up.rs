//! `nimbus up`: start everything on one port.

use anyhow::Result;
use std::path::PathBuf;
use std::time::Duration;

#[derive(clap::Args)]
pub struct Args {
    /// Port for every API (0 picks a free one and prints it).
    #[arg(long, default_value_t = 4566, env = "NIMBUS_PORT")]
    port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1", env = "NIMBUS_BIND")]
    bind: std::net::IpAddr,
    /// Where all state lives: metadata, code, logs, credentials.
    #[arg(long, default_value = ".nimbus", env = "NIMBUS_DATA_DIR")]
    data_dir: PathBuf,
    /// Seconds an idle execution environment stays warm before it is reaped.
    #[arg(long, default_value_t = 600, env = "NIMBUS_KEEP_ALIVE")]
    keep_alive: u64,
    /// Accept requests signed with any credentials (throwaway local use only).
    #[arg(long, env = "NIMBUS_ANY_CREDENTIALS")]
    any_credentials: bool,
    /// IAM: `on` (the default) evaluates every request against the caller's
    /// policies and runs functions as their execution roles; `off` allows every
    /// signed request and gives functions the platform's key (throwaway use).
    #[arg(long, default_value = "on", value_parser = ["on", "off"], env = "NIMBUS_IAM")]
    iam: String,
    /// Python interpreter that runs python3.* functions.
    #[arg(long, default_value = "python3", env = "NIMBUS_PYTHON")]
    python: String,
    /// Node.js interpreter that runs nodejs* functions.
    #[arg(long, default_value = "node", env = "NIMBUS_NODE")]
    node: String,
    /// Java launcher whose JDK runs java* functions (other JDKs in /usr/lib/jvm serve
    /// the Java versions they match).
    #[arg(long, default_value = "java", env = "NIMBUS_JAVA")]
    java: String,
    /// Ruby interpreter that runs ruby3.* functions.
    #[arg(long, default_value = "ruby", env = "NIMBUS_RUBY")]
    ruby: String,
    /// How execution environments are isolated: namespaces (default; needs root and
    /// cgroups) or none (plain processes, no limits).
    #[arg(long, default_value = "namespaces", env = "NIMBUS_ISOLATION")]
    isolation: nimbus_server::Isolation,
    /// Sandboxes kept started ahead of time, so cold starts skip making namespaces
    /// and cgroups (isolation namespaces only; 0 turns this off).
    #[arg(long, default_value_t = 2, env = "NIMBUS_SANDBOX_POOL")]
    sandbox_pool: usize,
    /// The account's concurrency limit: invocations running at once across all functions.
    #[arg(long, default_value_t = 1000, env = "NIMBUS_CONCURRENCY_LIMIT")]
    concurrency_limit: u32,
    /// Memory (MB, counted by each environment's MemorySize) all environments may hold;
    /// idle ones are evicted least-recently-used to stay within it. 0: twice the host's RAM.
    #[arg(long, default_value_t = 0, env = "NIMBUS_MEMORY_BUDGET_MB")]
    memory_budget_mb: u64,
    /// Seconds before an asynchronous event's first retry; the second waits twice as long.
    #[arg(long, default_value_t = 60.0, env = "NIMBUS_ASYNC_RETRY_DELAY")]
    async_retry_delay: f64,
    /// Region put in ARNs and given to functions.
    #[arg(long, default_value = "us-east-1", env = "NIMBUS_REGION")]
    region: String,
    /// Export traces to this OpenTelemetry collector too (OTLP over HTTP, JSON:
    /// `POST <url>/v1/traces`), e.g. http://localhost:4318.
    #[arg(long, env = "NIMBUS_OTLP_ENDPOINT")]
    otlp_endpoint: Option<String>,
    /// Seconds in a "day" of S3 lifecycle rules (`Expiration` `Days`, ...): 86400,
    /// or a few seconds to watch rules act in a test.
    #[arg(long, default_value_t = 86_400.0, env = "NIMBUS_S3_LIFECYCLE_DAY")]
    s3_lifecycle_day: f64,
}

pub fn run(args: Args) -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("NIMBUS_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cfg = nimbus_server::Config {
        bind: args.bind,
        port: args.port,
        data_dir: args.data_dir,
        keep_alive: Duration::from_secs(args.keep_alive),
        any_credentials: args.any_credentials,
        iam: args.iam == "on",
        python: args.python,
        node: args.node,
        java: args.java,
        ruby: args.ruby,
        isolation: args.isolation,
        sandbox_pool: args.sandbox_pool,
        concurrency_limit: args.concurrency_limit,
        memory_budget_mb: args.memory_budget_mb,
        async_retry_delay: Duration::from_secs_f64(args.async_retry_delay.max(0.0)),
        otlp_endpoint: args.otlp_endpoint,
        s3_lifecycle_day: Duration::from_secs_f64(args.s3_lifecycle_day.max(0.001)),
        identity: nimbus_model::Identity {
            region: args.region,
            ..Default::default()
        },
    };
    raise_open_file_limit();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let started = nimbus_server::start(cfg).await?;
        let dir = started.data_dir.display().to_string();
        println!("Nimbus {} listening on {}", env!("CARGO_PKG_VERSION"), started.endpoint);
        println!("  data directory: {dir}");
        println!("  access key:     {}", started.credentials.access_key_id);
        println!("  isolation:      {}", started.isolation);
        println!("Point the AWS CLI or an SDK at it:");
        println!("  export AWS_ENDPOINT_URL={}", started.endpoint);
        println!("  export AWS_SHARED_CREDENTIALS_FILE={dir}/credentials AWS_CONFIG_FILE={dir}/config");
        if started.isolation == "none" {
            tracing::warn!(
                "isolation is 'none': functions run as plain processes with this server's user and network; \
                 memory limits are not enforced"
            );
        }
        for note in &started.isolation_notes {
            tracing::warn!("{note}");
        }
        use std::io::Write;
        std::io::stdout().flush()?;
        started.run_until_signal().await
    })
}

/// Every environment holds a few descriptors in the server (listeners, pipes,
/// connections): lift the soft limit on open files to the hard one.
fn raise_open_file_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write an rlimit we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}
