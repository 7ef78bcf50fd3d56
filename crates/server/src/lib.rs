//! The composition root: reads configuration, opens storage, wires services to the
//! edge, and serves every API on one port.
//!
//! Nothing below this crate knows about listeners or configuration files.

mod code_objects;
pub mod credentials;
pub mod edge;
mod in_process;
mod machines;
mod permissions;
mod resource_policies;
mod roles;
mod s3_calls;
mod sdk_calls;

use anyhow::{Context, Result};
use credentials::Credentials;
use nimbus_functions::{ExecConfig, Functions, Paths};
use nimbus_model::Identity;
use nimbus_storage::KvEngine;
use nimbus_storage_embedded::{EmbeddedKv, FileBlobs};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Everything `nimbus up` can be told.
#[derive(Debug, Clone)]
pub struct Config {
    pub bind: IpAddr,
    /// 0 picks a free port (tests).
    pub port: u16,
    pub data_dir: PathBuf,
    /// How long idle execution environments stay warm.
    pub keep_alive: Duration,
    /// Accept any well-formed signature without checking it (throwaway local use).
    pub any_credentials: bool,
    /// Evaluate IAM policies on every request and give functions their
    /// execution roles' credentials (`--iam on`, the default).
    pub iam: bool,
    pub python: String,
    pub node: String,
    pub java: String,
    pub ruby: String,
    pub identity: Identity,
    pub isolation: Isolation,
    /// Sandbox shells kept started ahead of time (isolation `namespaces`).
    pub sandbox_pool: usize,
    /// The account's concurrency limit.
    pub concurrency_limit: u32,
    /// Memory (MB) environments may hold together; 0 means twice the host's.
    pub memory_budget_mb: u64,
    /// Delay before an asynchronous event's first retry (the second waits twice as long).
    pub async_retry_delay: Duration,
    /// An OpenTelemetry collector's OTLP/HTTP endpoint traces are also sent to.
    pub otlp_endpoint: Option<String>,
    /// How long a "day" of S3 lifecycle rules is (a day; shorter in tests).
    pub s3_lifecycle_day: Duration,
}

/// How execution environments are isolated (`--isolation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// Own namespaces, cgroup, unprivileged user, seccomp. Refuses to start where
    /// the host cannot provide them.
    Namespaces,
    /// Plain processes: no isolation and no limits. Only when asked for.
    None,
}

impl std::str::FromStr for Isolation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "namespaces" => Ok(Isolation::Namespaces),
            "none" => Ok(Isolation::None),
            other => Err(format!(
                "unknown isolation '{other}': use namespaces or none"
            )),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: IpAddr::from([127, 0, 0, 1]),
            port: 4566,
            data_dir: PathBuf::from(".nimbus"),
            keep_alive: Duration::from_secs(600),
            any_credentials: false,
            iam: true,
            python: "python3".into(),
            node: "node".into(),
            java: "java".into(),
            ruby: "ruby".into(),
            identity: Identity::default(),
            isolation: Isolation::Namespaces,
            sandbox_pool: 2,
            concurrency_limit: 1000,
            memory_budget_mb: 0,
            async_retry_delay: Duration::from_secs(60),
            otlp_endpoint: None,
            s3_lifecycle_day: Duration::from_secs(86_400),
        }
    }
}

/// A started server: where it listens and with which credentials.
pub struct Started {
    pub addr: SocketAddr,
    pub endpoint: String,
    pub credentials: Credentials,
    pub data_dir: PathBuf,
    pub isolation: &'static str,
    /// What the operator should know about this host's isolation.
    pub isolation_notes: Vec<String>,
    functions: Arc<Functions>,
    serve: tokio::task::JoinHandle<()>,
}

impl Started {
    /// Serve until the process is told to stop (SIGINT or SIGTERM).
    pub async fn run_until_signal(self) -> Result<()> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("install SIGTERM handler")?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
            r = self.serve => { r.context("edge listener stopped")?; }
        }
        self.functions.shutdown().await;
        Ok(())
    }
}

/// Open the data directory, wire every service and start listening.
pub async fn start(cfg: Config) -> Result<Started> {
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("create data directory {}", cfg.data_dir.display()))?;
    let data_dir = std::fs::canonicalize(&cfg.data_dir).context("resolve data directory")?;
    let credentials = Credentials::load_or_create(&data_dir.join("credentials"))?;

    let listener = tokio::net::TcpListener::bind((cfg.bind, cfg.port))
        .await
        .with_context(|| format!("listen on {}:{}", cfg.bind, cfg.port))?;
    let addr = listener.local_addr().context("read listener address")?;
    let host = if cfg.bind.is_unspecified() {
        IpAddr::from([127, 0, 0, 1])
    } else {
        cfg.bind
    };
    let endpoint = format!("http://{}", SocketAddr::new(host, addr.port()));
    write_client_config(&data_dir, &cfg.identity.region, &endpoint)?;

    let kv: Arc<dyn KvEngine> = Arc::new(
        EmbeddedKv::open(&data_dir.join("metadata.redb"))
            .context("open metadata store (is another nimbus using this data directory?)")?,
    );
    let blobs = Arc::new(FileBlobs::open(&data_dir.join("blobs")).context("open blob store")?);
    let sandbox = open_sandbox(&cfg, &data_dir)?;
    let isolation = sandbox.isolation();
    let isolation_notes = sandbox.notes();
    // Isolated environments reach the platform's APIs on a socket inside their own
    // network namespace; the edge serves it once it exists.
    let edge_cell: Arc<std::sync::OnceLock<Arc<edge::Edge>>> = Arc::new(std::sync::OnceLock::new());
    let exec = ExecConfig {
        identity: cfg.identity.clone(),
        endpoint_url: endpoint.clone(),
        access_key_id: credentials.access_key_id.clone(),
        secret_access_key: credentials.secret_access_key.clone(),
        keep_alive: cfg.keep_alive,
        concurrency_limit: cfg.concurrency_limit,
        memory_budget_mb: if cfg.memory_budget_mb > 0 {
            cfg.memory_budget_mb
        } else {
            default_memory_budget_mb()
        },
        async_retry_delay: cfg.async_retry_delay,
        platform_endpoint: Some(platform_endpoint(edge_cell.clone())),
    };
    let paths = Paths {
        data_dir: &data_dir,
        python: &cfg.python,
        node: &cfg.node,
        java: &cfg.java,
        ruby: &cfg.ruby,
    };
    let functions = Arc::new(
        Functions::open(exec, paths, kv.clone(), blobs, sandbox)
            .context("open functions service")?,
    );
    functions.start_background();
    // CloudWatch metrics: Lambda's own, gathered in memory and written every
    // few seconds; PutMetricData's written before it answers.
    let metrics = Arc::new(
        nimbus_metrics::Metrics::open(data_dir.join("metrics")).context("open the metrics")?,
    );
    functions.set_metrics(metrics.clone());
    functions.logs().set_metrics(metrics.clone());
    // X-Ray: segments kept 30 days; the daemon socket on the host's loopback
    // serves functions on the host's network (isolated ones get their own).
    let traces = Arc::new(
        nimbus_traces::Traces::open(
            data_dir.join("traces"),
            kv.clone(),
            nimbus_traces::store::DEFAULT_RETENTION_DAYS,
        )
        .context("open the trace store")?,
    );
    let daemon = std::net::UdpSocket::bind("127.0.0.1:0").context("bind the trace daemon")?;
    let daemon_addr = daemon.local_addr()?.to_string();
    nimbus_traces::daemon::spawn(daemon, traces.clone()).context("serve the trace daemon")?;
    functions.set_traces(traces.clone(), daemon_addr);
    if let Some(url) = &cfg.otlp_endpoint {
        export_traces(&traces, url);
    }
    {
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let mut ticks = 0u64;
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                if let Err(e) = metrics.flush() {
                    tracing::warn!(error = %e, "write Lambda's metrics");
                }
                ticks += 1;
                if ticks % 720 == 1 {
                    metrics.expire(nimbus_model::time::now_millis());
                }
            }
        });
    }
    // Log groups' and traces' retention: expired days go once an hour.
    let logs = functions.logs();
    let expiring_traces = traces.clone();
    tokio::spawn(async move {
        loop {
            let expired = logs.expire(nimbus_model::time::now_millis());
            if expired > 0 {
                tracing::info!(expired, "deleted log segments past their group's retention");
            }
            let expired = expiring_traces.expire(nimbus_model::time::now_millis());
            if expired > 0 {
                tracing::info!(expired, "deleted trace files past the retention");
            }
            tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
        }
    });
    // Triggers act under the identities AWS uses (see `permissions`),
    // decided by the enforcer made below, once the services exist.
    let trigger_permissions = cfg
        .iam
        .then(|| Arc::new(nimbus_invoke::permissions::Deferred::default()));
    let services = Services::open(
        &cfg,
        &data_dir,
        &kv,
        &functions,
        &metrics,
        &traces,
        trigger_permissions
            .clone()
            .map(|p| p as Arc<dyn nimbus_invoke::permissions::Permissions>),
    )
    .await?;
    services.topics.set_endpoint(&endpoint);
    // IAM on: every request is authorized, functions run as their roles.
    let authorizer: Option<Arc<dyn nimbus_api_common::authz::Authorizer>> = cfg.iam.then(|| {
        functions.set_execution_roles(Arc::new(roles::IamRoles::new(services.iam.clone())));
        let mut enforcer = nimbus_api_iam::enforce::Enforcer::new(
            services.iam.clone(),
            nimbus_api_common::authz::Scope::new(
                cfg.identity.account_id.clone(),
                cfg.identity.region.clone(),
            ),
        );
        for (prefix, policies, required) in &services.resource_policies {
            enforcer = if *required {
                enforcer.with_required_resource_policies(prefix, policies.clone())
            } else {
                enforcer.with_resource_policies(prefix, policies.clone())
            };
        }
        let enforcer = Arc::new(enforcer);
        if let Some(p) = &trigger_permissions {
            p.set(Arc::new(permissions::EnforcedPermissions(enforcer.clone())));
        }
        enforcer as Arc<dyn nimbus_api_common::authz::Authorizer>
    });
    services.start(authorizer.as_ref())?;
    let edge = Arc::new(edge::Edge::new(
        edge::Auth {
            credentials: credentials.clone(),
            any_credentials: cfg.any_credentials,
            account: cfg.identity.account_id.clone(),
            region: cfg.identity.region.clone(),
            iam: services.iam,
            authorizer,
        },
        services.apis,
        services.s3,
        functions.clone(),
        services.gateway,
        services.topics.clone(),
        edge::Telemetry {
            metrics: metrics.clone(),
            traces: traces.clone(),
        },
    ));
    let _ = edge_cell.set(edge.clone());
    let serve = tokio::spawn(edge::serve(listener, edge));
    Ok(Started {
        addr,
        endpoint,
        credentials,
        data_dir,
        isolation,
        isolation_notes,
        functions,
        serve,
    })
}

/// Sandboxes as configured: namespaces (refusing to start where the host
/// cannot isolate), or plain processes.
fn open_sandbox(
    cfg: &Config,
    data_dir: &std::path::Path,
) -> Result<Arc<dyn nimbus_sandbox::Sandbox>> {
    Ok(match cfg.isolation {
        Isolation::None => Arc::new(nimbus_sandbox::PlainProcess),
        Isolation::Namespaces => {
            let exe = std::env::current_exe().context("find the nimbus binary for sandbox init")?;
            let ns = nimbus_sandbox::namespaces::Namespaces::new(exe, data_dir.join("sandbox"), cfg.sandbox_pool).map_err(|why| {
                anyhow::anyhow!(
                    "cannot isolate execution environments on this host: {why}. \
                     Run `nimbus doctor` for details, or start with --isolation none to run functions unisolated"
                )
            })?;
            Arc::new(ns)
        }
    })
}

/// Serves the AWS APIs on a listener made inside an environment's network
/// namespace, once the edge exists.
fn platform_endpoint(
    edge_cell: Arc<std::sync::OnceLock<Arc<edge::Edge>>>,
) -> nimbus_functions::PlatformEndpoint {
    nimbus_functions::PlatformEndpoint(Arc::new(move |listener: std::net::TcpListener| {
        let cell = edge_cell.clone();
        tokio::spawn(async move {
            let Some(edge) = cell.get().cloned() else {
                return;
            };
            if listener.set_nonblocking(true).is_err() {
                return;
            }
            if let Ok(l) = tokio::net::TcpListener::from_std(listener) {
                edge::serve(l, edge).await;
            }
        })
        .abort_handle()
    }))
}

/// The APIs the edge serves.
type Apis = Vec<Arc<dyn nimbus_api_common::Service>>;

/// Where resources' own policies are, by ARN prefix.
/// Resources' own policies by ARN prefix, and whether a resource's policy
/// must allow a request (KMS key policies).
type ResourcePolicyList = Vec<(
    &'static str,
    Arc<dyn nimbus_api_common::authz::ResourcePolicies>,
    bool,
)>;

/// CloudWatch's `AWS/SQS` gauges of every queue (`QueueName`), sampled
/// every ten seconds: `ApproximateNumberOfMessagesVisible`, `...NotVisible`,
/// `...Delayed` and `ApproximateAgeOfOldestMessage`.
/// Send every accepted segment, as OpenTelemetry spans, to the collector at
/// `url` (`POST <url>/v1/traces`, OTLP/HTTP JSON), once a second. A batch the
/// collector refuses or cannot take is dropped with a warning: traces are
/// kept in Nimbus's own store either way.
fn export_traces(traces: &Arc<nimbus_traces::Traces>, url: &str) {
    let docs = traces.export(10_000);
    let target = format!("{}/v1/traces", url.trim_end_matches('/'));
    tracing::info!(collector = %target, "exporting traces over OTLP");
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            let batch: Vec<_> = docs.try_iter().take(5_000).collect();
            if batch.is_empty() {
                continue;
            }
            let body = nimbus_traces::otlp::export_request(&batch).to_string();
            let req = nimbus_webhooks::Request::new(
                "otlp",
                "POST",
                &target,
                body,
                serde_json::Value::Null,
            )
            .header("content-type", "application/json");
            match nimbus_webhooks::fetch(&req).await {
                Ok((status, _)) if (200..300).contains(&status) => {}
                Ok((status, body)) => {
                    tracing::warn!(status, body = %String::from_utf8_lossy(&body), "the OTLP collector refused a batch of spans");
                }
                Err(e) => {
                    tracing::warn!(error = %e.message, "could not send spans to the OTLP collector");
                }
            }
        }
    });
}

/// Apply S3 lifecycle rules in the background: a pass every eighth of a
/// lifecycle "day" (between one second and ten minutes).
fn apply_lifecycle_rules(objects: &Arc<nimbus_objects::Objects>, day: Duration) {
    let objects = Arc::downgrade(objects);
    let every = (day / 8).clamp(Duration::from_secs(1), Duration::from_secs(600));
    let day_ms = day.as_millis().max(1) as u64;
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            let Some(store) = objects.upgrade() else {
                return;
            };
            let clock = nimbus_objects::lifecycle::Clock {
                now_ms: nimbus_model::time::now_millis(),
                day_ms,
            };
            match tokio::task::spawn_blocking(move || store.apply_lifecycle(clock)).await {
                Ok(Ok(done)) if done != Default::default() => {
                    tracing::info!(?done, "S3 lifecycle rules applied");
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "S3 lifecycle pass failed"),
                Err(e) => tracing::error!(error = %e, "S3 lifecycle task failed"),
            }
        }
    });
}

fn sample_queue_gauges(queues: Arc<nimbus_queues::Queues>, metrics: Arc<nimbus_metrics::Metrics>) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(10)).await;
            let mut points = Vec::new();
            for (name, visible, inflight, delayed, age) in queues.gauges() {
                let id = |metric: &str| {
                    nimbus_metrics::MetricId::new("AWS/SQS", metric, &[("QueueName", &name)])
                };
                points.push((
                    id("ApproximateNumberOfMessagesVisible"),
                    "Count",
                    visible as f64,
                ));
                points.push((
                    id("ApproximateNumberOfMessagesNotVisible"),
                    "Count",
                    inflight as f64,
                ));
                points.push((
                    id("ApproximateNumberOfMessagesDelayed"),
                    "Count",
                    delayed as f64,
                ));
                points.push((id("ApproximateAgeOfOldestMessage"), "Seconds", age as f64));
            }
            if !points.is_empty() {
                metrics.record_all(points);
            }
        }
    });
}

/// Every service besides functions, wired to the one door (`Invoker`) and the
/// one outbox, and the APIs the edge serves.
struct Services {
    apis: Vec<Arc<dyn nimbus_api_common::Service>>,
    s3: Arc<nimbus_api_s3::S3Api>,
    gateway: Arc<nimbus_gateway::serve::Gateway>,
    /// The account's identities, which the edge authenticates against.
    iam: Arc<nimbus_iam::Iam>,
    /// Where resources' own policies are, by ARN prefix.
    resource_policies: ResourcePolicyList,
    /// Started (pollers, resumed executions) once what they may do is decided.
    triggers: Arc<nimbus_triggers::Triggers>,
    workflows: Arc<nimbus_workflows::service::StepFunctions>,
    /// Resumes the stack deployments a restart interrupted.
    cloudformation: Arc<nimbus_api_cloudformation::CloudFormationApi>,
    codedeploy: Arc<nimbus_api_codedeploy::CodeDeployApi>,
    events: Arc<nimbus_events::Events>,
    topics: Arc<nimbus_topics::Topics>,
    webhooks: Arc<nimbus_webhooks::Webhooks>,
    /// Every API, called in process (Scheduler's universal targets).
    calls: Arc<in_process::InProcess>,
    /// CloudWatch alarms, evaluated once the server runs.
    alarms: Arc<nimbus_metrics::alarms::Alarms>,
}

impl Services {
    async fn open(
        cfg: &Config,
        data_dir: &std::path::Path,
        kv: &Arc<dyn KvEngine>,
        functions: &Arc<Functions>,
        metrics: &Arc<nimbus_metrics::Metrics>,
        traces: &Arc<nimbus_traces::Traces>,
        // What triggers may do under their identities; `None` with IAM off.
        permissions: Option<Arc<dyn nimbus_invoke::permissions::Permissions>>,
    ) -> Result<Services> {
        let id = &cfg.identity;
        let invoker: Arc<dyn nimbus_invoke::Invoker> = functions.clone();
        let queues = Arc::new(
            nimbus_queues::Queues::open(kv.clone(), &id.account_id, &id.region)
                .context("open queue service")?,
        );
        let tables = Arc::new(
            nimbus_tables::Tables::open(kv.clone(), &id.account_id, &id.region)
                .context("open table store")?,
        );
        nimbus_tables::housekeeping::start(&tables);
        // Every service that emits events hands them over through one outbox.
        let deliveries = Arc::new(nimbus_triggers::Deliveries::new(
            invoker.clone(),
            queues.clone(),
        ));
        let outbox: Arc<dyn nimbus_invoke::Outbox> = deliveries.clone();
        functions.set_outbox(outbox.clone());
        functions
            .logs()
            .set_outbox(outbox.clone(), permissions.clone());
        // Requests to HTTP endpoints (SNS subscriptions, API destinations).
        let webhooks =
            Arc::new(nimbus_webhooks::Webhooks::open(kv.clone()).context("open webhook requests")?);
        let topics = Arc::new(
            nimbus_topics::Topics::open(
                kv.clone(),
                outbox.clone(),
                permissions.clone(),
                &id.account_id,
                &id.region,
            )
            .map_err(|e| anyhow::anyhow!("open topic service: {e}"))?
            .with_signing_key_in(data_dir)
            .with_webhooks(webhooks.clone()),
        );
        topics.own_webhooks();
        deliveries.set_topics(topics.clone());
        let events = Arc::new(
            nimbus_events::Events::open(
                kv.clone(),
                outbox.clone(),
                permissions.clone(),
                &id.account_id,
                &id.region,
            )
            .map_err(|e| anyhow::anyhow!("open event service: {e}"))?
            .with_webhooks(webhooks.clone()),
        );
        events.own_webhooks();
        deliveries.set_buses(events.clone());
        let triggers = Arc::new(nimbus_triggers::Triggers::new(
            id.clone(),
            kv.clone(),
            invoker.clone(),
            queues.clone(),
            tables.clone(),
            outbox.clone(),
            permissions.clone(),
        ));
        let lambda = Arc::new(nimbus_api_lambda::LambdaApi::new(
            functions.clone(),
            invoker.clone(),
            triggers.clone(),
        ));
        let notifier = nimbus_objects::events::Notifier {
            outbox,
            permissions: permissions.clone(),
            account: id.account_id.clone(),
        };
        let objects = Arc::new(
            nimbus_objects::Objects::open(kv.clone(), &data_dir.join("objects"), Some(notifier))
                .context("open object store")?,
        );
        apply_lifecycle_rules(&objects, cfg.s3_lifecycle_day);
        let object_code = Arc::new(code_objects::ObjectCode(objects.clone()));
        functions.set_code_objects(object_code.clone());
        let bucket_policies = Arc::new(resource_policies::BucketPolicies(objects.clone()));
        let s3 = Arc::new(nimbus_api_s3::S3Api::new(objects, &id.region));
        queues.set_metrics(metrics.clone());
        sample_queue_gauges(queues.clone(), metrics.clone());
        let queue_policies = Arc::new(resource_policies::QueuePolicies(queues.clone()));
        let sqs = Arc::new(nimbus_api_sqs::SqsApi::new(queues));
        let table_policies = Arc::new(resource_policies::TablePolicies(tables.clone()));
        let dynamodb = Arc::new(nimbus_api_dynamodb::DynamoDbApi::new(tables));
        dynamodb.set_metrics(metrics.clone());
        let workflows = open_workflows(
            cfg,
            kv,
            invoker.clone(),
            (&sqs, &dynamodb, &s3),
            permissions.clone(),
        )?;
        deliveries.set_machines(workflows.clone());
        workflows.set_status_events(deliveries.clone());
        workflows.set_metrics(metrics.clone());
        let stepfunctions = Arc::new(nimbus_api_stepfunctions::StepFunctionsApi::new(
            workflows.clone(),
        ));
        // Pipes read their sources through the trigger pollers.
        let pipes = Arc::new(
            nimbus_pipes::Pipes::open(
                kv.clone(),
                triggers.clone(),
                invoker.clone(),
                deliveries.clone(),
                permissions.clone(),
                &id.account_id,
                &id.region,
            )
            .map_err(|e| anyhow::anyhow!("open pipe service: {e}"))?,
        );
        pipes.set_machines(Arc::new(machines::SyncMachines(workflows.clone())));
        triggers.set_pipe_runner(pipes.runner());
        triggers.set_metrics(metrics.clone());
        // CloudWatch alarms: evaluated against the metrics, acting through the outbox.
        let alarms = Arc::new(
            nimbus_metrics::alarms::Alarms::open(
                kv.clone(),
                metrics.clone(),
                deliveries.clone(),
                permissions.clone(),
                &id.account_id,
                &id.region,
            )
            .context("open CloudWatch alarms")?,
        );
        let http_apis =
            Arc::new(nimbus_gateway::apis::Apis::open(kv.clone()).context("open HTTP API store")?);
        let rest_apis = Arc::new(
            nimbus_gateway::rest::RestApis::open(kv.clone()).context("open REST API store")?,
        );
        let gateway = Arc::new(nimbus_gateway::serve::Gateway::new(
            http_apis.clone(),
            rest_apis.clone(),
            invoker.clone(),
            functions.clone(),
            id.clone(),
            permissions,
        ));
        let apigw = Arc::new(nimbus_api_apigateway::ApiGatewayApi::new(
            http_apis, rest_apis, &id.region,
        ));
        let iam = Arc::new(
            nimbus_iam::Iam::open(kv.clone(), &id.account_id).context("open IAM service")?,
        );
        let iam_api = Arc::new(nimbus_api_iam::IamApi::new(iam.clone()));
        let sts_api = Arc::new(nimbus_api_sts::StsApi::new(iam.clone()));
        let mut apis: Vec<Arc<dyn nimbus_api_common::Service>> = vec![
            lambda,
            sqs,
            dynamodb,
            apigw,
            stepfunctions,
            iam_api,
            sts_api,
            Arc::new(nimbus_api_events::EventsApi::new(events.clone())),
            Arc::new(nimbus_api_sns::SnsApi::new(topics.clone())),
            Arc::new(nimbus_api_scheduler::SchedulerApi::new(events.clone())),
            Arc::new(nimbus_api_pipes::PipesApi::new(pipes)),
            Arc::new(nimbus_api_logs::LogsApi::new(functions.logs())),
            Arc::new(nimbus_api_cloudwatch::CloudWatchApi::new(
                metrics.clone(),
                alarms.clone(),
            )),
            Arc::new(nimbus_api_xray::XrayApi::new(
                traces.clone(),
                &id.account_id,
                &id.region,
            )),
        ];
        let (stores, secrets, kms) = open_secret_stores(cfg, data_dir, kv, invoker)?;
        apis.extend(stores);
        let stacks = Arc::new(
            nimbus_api_cloudformation::store::Stacks::open(kv.clone())
                .context("open stack store")?,
        );
        // CodeDeploy moves aliases through Lambda's API; CloudFormation makes
        // resources through every API, CodeDeploy's too.
        let codedeploy = Arc::new(
            nimbus_api_codedeploy::CodeDeployApi::new(
                kv.clone(),
                Arc::new(in_process::InProcess::new(apis.clone(), s3.clone())),
            )
            .context("open CodeDeploy store")?,
        );
        apis.push(codedeploy.clone());
        let calls = Arc::new(in_process::InProcess::new(apis.clone(), s3.clone()));
        let cloudformation = Arc::new(
            nimbus_api_cloudformation::CloudFormationApi::new(
                stacks,
                calls.clone(),
                nimbus_api_cloudformation::Identity {
                    account: id.account_id.clone(),
                    region: id.region.clone(),
                },
            )
            .with_template_objects(object_code),
        );
        apis.push(cloudformation.clone());
        let resource_policies: ResourcePolicyList = vec![
            (
                "arn:aws:lambda:",
                Arc::new(resource_policies::FunctionPolicies(functions.clone())),
                false,
            ),
            ("arn:aws:sqs:", queue_policies, false),
            (
                "arn:aws:sns:",
                Arc::new(resource_policies::TopicPolicies(topics.clone())),
                false,
            ),
            ("arn:aws:s3:::", bucket_policies, false),
            (
                "arn:aws:events:",
                Arc::new(resource_policies::BusPolicies(events.clone())),
                false,
            ),
            (
                "arn:aws:secretsmanager:",
                Arc::new(resource_policies::SecretPolicies(secrets)),
                false,
            ),
            ("arn:aws:dynamodb:", table_policies, false),
            (
                "arn:aws:kms:",
                Arc::new(resource_policies::KeyPolicies(kms)),
                true,
            ),
            (
                "arn:aws:iam::",
                Arc::new(resource_policies::IamResources(iam.clone())),
                false,
            ),
        ];
        Ok(Services {
            apis,
            s3,
            gateway,
            iam,
            resource_policies,
            triggers,
            workflows,
            cloudformation,
            codedeploy,
            events,
            topics,
            webhooks,
            calls,
            alarms,
        })
    }

    /// Start what acts on its own: event source mapping pollers and the
    /// executions and stack deployments that were running when the server
    /// stopped. Call once the permissions they act under are decided.
    fn start(
        &self,
        authorizer: Option<&Arc<dyn nimbus_api_common::authz::Authorizer>>,
    ) -> Result<()> {
        self.triggers.start();
        self.events.set_sdk_calls(Arc::new(sdk_calls::SdkCalls::new(
            self.calls.clone(),
            authorizer.cloned(),
            self.iam.clone(),
        )));
        self.events.start();
        self.webhooks.start();
        self.alarms.start();
        let deployments = self.codedeploy.resume(authorizer);
        if deployments > 0 {
            tracing::info!(
                deployments,
                "failed and rolled back interrupted CodeDeploy deployments"
            );
        }
        let stacks = self.cloudformation.resume(authorizer);
        if stacks > 0 {
            tracing::info!(stacks, "resumed interrupted stack deployments");
        }
        let resumed = self
            .workflows
            .resume()
            .map_err(|e| anyhow::anyhow!("resume workflow executions: {e}"))?;
        if resumed > 0 {
            tracing::info!(resumed, "resumed running workflow executions");
        }
        Ok(())
    }
}

/// KMS over the data directory's master key (`<data>/kms-master.key`), and
/// Secrets Manager and Parameter Store encrypting through it in process;
/// rotation functions run through the `Invoker`.
fn open_secret_stores(
    cfg: &Config,
    data_dir: &std::path::Path,
    kv: &Arc<dyn KvEngine>,
    invoker: Arc<dyn nimbus_invoke::Invoker>,
) -> Result<(Apis, Arc<nimbus_secrets::Secrets>, Arc<nimbus_kms::Kms>)> {
    let id = &cfg.identity;
    let kms = Arc::new(
        nimbus_kms::Kms::open(
            kv.clone(),
            &data_dir.join("kms-master.key"),
            &id.account_id,
            &id.region,
        )
        .map_err(|e| anyhow::anyhow!("open key service: {e}"))?,
    );
    let secrets = Arc::new(
        nimbus_secrets::Secrets::open(kv.clone(), kms.clone())
            .map_err(|e| anyhow::anyhow!("open secrets service: {e}"))?,
    );
    secrets.set_invoker(invoker);
    let parameters = Arc::new(
        nimbus_parameters::Parameters::open(kv.clone(), kms.clone())
            .map_err(|e| anyhow::anyhow!("open parameter store: {e}"))?,
    );
    Ok((
        vec![
            Arc::new(nimbus_api_kms::KmsApi::new(kms.clone())),
            Arc::new(nimbus_api_secretsmanager::SecretsManagerApi::new(
                secrets.clone(),
            )),
            Arc::new(nimbus_api_ssm::SsmApi::new(parameters)),
        ],
        secrets,
        kms,
    ))
}

/// The workflow service with its Task integrations (Lambda through the
/// `Invoker`, SQS and DynamoDB through their own APIs), and the executions a
/// restart interrupted resumed.
fn open_workflows(
    cfg: &Config,
    kv: &Arc<dyn KvEngine>,
    invoker: Arc<dyn nimbus_invoke::Invoker>,
    (sqs, dynamodb, s3): (
        &Arc<nimbus_api_sqs::SqsApi>,
        &Arc<nimbus_api_dynamodb::DynamoDbApi>,
        &Arc<nimbus_api_s3::S3Api>,
    ),
    permissions: Option<Arc<dyn nimbus_invoke::permissions::Permissions>>,
) -> Result<Arc<nimbus_workflows::service::StepFunctions>> {
    use nimbus_workflows::integrations::ServiceApi;
    let workflows = nimbus_workflows::service::StepFunctions::open(
        kv.clone(),
        &cfg.identity.account_id,
        &cfg.identity.region,
    )
    .map_err(|e| anyhow::anyhow!("open workflow service: {e}"))?;
    let services: [(&str, &str, Arc<dyn ServiceApi>); 3] = [
        ("sqs", "SQS", Arc::new(JsonApi::Sqs(sqs.clone()))),
        (
            "dynamodb",
            "DynamoDB",
            Arc::new(JsonApi::DynamoDb(dynamodb.clone())),
        ),
        ("s3", "S3", Arc::new(s3_calls::S3Calls(s3.clone()))),
    ];
    workflows.set_integrations(Arc::new(nimbus_workflows::integrations::Live {
        invoker,
        services: services
            .into_iter()
            .map(|(k, name, api)| (k.to_string(), (name.to_string(), api)))
            .collect(),
        states: Arc::downgrade(&workflows),
        permissions,
        identity: cfg.identity.clone(),
    }));
    Ok(workflows)
}

/// The JSON APIs workflow Task states call (`sqs:sendMessage`,
/// `dynamodb:putItem`, ...), called in process as a client would.
enum JsonApi {
    Sqs(Arc<nimbus_api_sqs::SqsApi>),
    DynamoDb(Arc<nimbus_api_dynamodb::DynamoDbApi>),
}

impl nimbus_workflows::integrations::ServiceApi for JsonApi {
    fn call(
        &self,
        action: &str,
        params: serde_json::Value,
    ) -> nimbus_invoke::BoxFuture<
        '_,
        Result<serde_json::Value, nimbus_workflows::integrations::ServiceError>,
    > {
        let target = match self {
            JsonApi::Sqs(_) => format!("AmazonSQS.{action}"),
            JsonApi::DynamoDb(_) => format!("DynamoDB_20120810.{action}"),
        };
        Box::pin(async move {
            let mut req = http::Request::new(bytes::Bytes::from(params.to_string()));
            *req.method_mut() = http::Method::POST;
            let h = req.headers_mut();
            if let Ok(v) = http::HeaderValue::from_str(&target) {
                h.insert("x-amz-target", v);
            }
            h.insert(
                "content-type",
                http::HeaderValue::from_static("application/x-amz-json-1.0"),
            );
            h.insert("host", http::HeaderValue::from_static("localhost"));
            let request_id = uuid::Uuid::new_v4().to_string();
            let resp = match self {
                JsonApi::Sqs(api) => api.handle(req, &request_id).await,
                JsonApi::DynamoDb(api) => api.handle(req, &request_id).await,
            };
            let body: serde_json::Value =
                serde_json::from_slice(resp.body()).unwrap_or(serde_json::Value::Null);
            if resp.status().is_success() {
                return Ok(body);
            }
            let code = body["__type"]
                .as_str()
                .map(|t| t.rsplit('#').next().unwrap_or(t).to_string())
                .unwrap_or_else(|| "ServiceException".into());
            let message = body["message"]
                .as_str()
                .or(body["Message"].as_str())
                .unwrap_or_default()
                .to_string();
            Err(nimbus_workflows::integrations::ServiceError { code, message })
        })
    }
}

/// Twice the host's physical memory, in MB: the budget counts each environment's
/// `MemorySize`, a ceiling most environments stay far below.
fn default_memory_budget_mb() -> u64 {
    let total_kb = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .unwrap_or(8 * 1024 * 1024);
    total_kb / 1024 * 2
}

/// `<data>/config`: region and endpoint for `AWS_CONFIG_FILE`, rewritten at each start.
fn write_client_config(data_dir: &std::path::Path, region: &str, endpoint: &str) -> Result<()> {
    // Host prefixes (`sync-` for StartSyncExecution) cannot be resolved on a
    // local endpoint; Nimbus answers every operation on the one host.
    let text = format!(
        "[default]\nregion = {region}\nendpoint_url = {endpoint}\ndisable_host_prefix_injection = true\n"
    );
    credentials::write_private(&data_dir.join("config"), &text).context("write client config file")
}
