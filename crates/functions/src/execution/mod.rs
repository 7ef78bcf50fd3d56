//! Execution environments and their warm pools.
//!
//! An environment is one runtime process serving one function revision, one
//! invocation at a time, reused while warm and reaped after the keep-alive. This
//! module starts environments (code, Runtime API listener, log pipe, sandboxed
//! process), runs invocations on them with Lambda's timeout and crash semantics,
//! and writes the `START` / `END` / `REPORT` frame around each.

use crate::code::CodeCache;
use crate::logs::{EnvLog, LogStore};
use crate::registry::Registry;
use crate::runtimes::Runtimes;
use bytes::Bytes;
use nimbus_invoke::{InvokeRequest, InvokeResponse, Timing};
use nimbus_model::time::{Utc, now_millis};
use nimbus_model::{FunctionRecord, Identity, Runtime};
use nimbus_runtime_api::{Invocation, Outcome, Phase, RuntimeApi};
use nimbus_sandbox::{LaunchSpec, Sandbox, describe_exit};
use nimbus_storage::BlobStore;
use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, watch};
use tracing::Instrument;

/// How long an idle environment stays thawed before it is frozen. Lambda freezes
/// at once; a short grace keeps busy environments out of the freezer.
const FREEZE_AFTER: Duration = Duration::from_millis(50);

/// Lambda's limit on the init phase of an on-demand environment.
const INIT_TIMEOUT: Duration = Duration::from_secs(10);

/// Environment variables of a runtime process, in order.
type EnvVars = Vec<(String, String)>;

/// What the execution layer needs to know about the platform around it.
#[derive(Debug, Clone)]
pub struct ExecConfig {
    pub identity: Identity,
    /// Nimbus's own endpoint, given to functions as `AWS_ENDPOINT_URL`.
    pub endpoint_url: String,
    /// Credentials functions use to call Nimbus when no execution roles are
    /// set ([`crate::roles`]: `--iam off`).
    pub access_key_id: String,
    pub secret_access_key: String,
    /// How long an idle environment is kept warm.
    pub keep_alive: Duration,
    /// The account's concurrency limit (Lambda's default is 1,000).
    pub concurrency_limit: u32,
    /// Memory (MB, by `MemorySize`) all environments together may hold; idle
    /// environments are evicted least-recently-used to stay within it.
    pub memory_budget_mb: u64,
    /// Delay before an asynchronous event's first retry; the second waits twice
    /// as long (Lambda: 1 and 2 minutes).
    pub async_retry_delay: Duration,
    /// Serves Nimbus's AWS APIs on a socket inside an environment's own network
    /// (isolated environments cannot reach the host's port).
    pub platform_endpoint: Option<PlatformEndpoint>,
}

/// Starts serving the platform's APIs on a listener; the handle stops it.
#[derive(Clone)]
pub struct PlatformEndpoint(
    pub Arc<dyn Fn(std::net::TcpListener) -> tokio::task::AbortHandle + Send + Sync>,
);

impl std::fmt::Debug for PlatformEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PlatformEndpoint")
    }
}

/// Stops a spawned task when dropped.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Why an invocation was not attempted.
#[derive(Debug, Clone)]
pub enum Refused {
    /// No environment could be had within the memory budget.
    Throttled,
    /// A SnapStart version could not serve: Lambda's `SnapStartException` (an
    /// `afterRestore` hook failed), `SnapStartTimeoutException` or
    /// `SnapStartNotReadyException` (still initializing after its publish).
    SnapStart { code: &'static str, message: String },
}

/// Why an environment is started: its `AWS_LAMBDA_INITIALIZATION_TYPE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InitType {
    OnDemand,
    Provisioned,
    /// A SnapStart version's environment, initialized ahead and restored on use.
    SnapStart,
}

impl InitType {
    fn as_str(self) -> &'static str {
        match self {
            InitType::OnDemand => "on-demand",
            InitType::Provisioned => "provisioned-concurrency",
            InitType::SnapStart => "snap-start",
        }
    }
}

/// Memory promised to live environments, by their `MemorySize`.
#[derive(Default)]
struct MemoryBudget {
    used_mb: Mutex<u64>,
}

/// One environment's share of the memory budget, returned when it is dropped.
struct MemoryGrant {
    budget: Arc<MemoryBudget>,
    mb: u64,
}

impl Drop for MemoryGrant {
    fn drop(&mut self) {
        let mut used = self.budget.used_mb.lock().expect("memory budget lock");
        *used = used.saturating_sub(self.mb);
    }
}

/// How an environment's runtime ended.
#[derive(Debug, Clone)]
struct ExitInfo {
    /// `exit status 1`, `signal: killed`.
    reason: String,
    /// The kernel's OOM killer struck in the environment's cgroup.
    oom: bool,
    /// Peak memory, read before the cgroup was removed.
    peak_mb: Option<u64>,
}

struct Environment {
    id: String,
    function: String,
    revision: String,
    api: RuntimeApi,
    log: EnvLog,
    pid: u32,
    cgroup: Option<Arc<nimbus_sandbox::cgroup::Cgroup>>,
    exited: watch::Receiver<Option<ExitInfo>>,
    _kill: oneshot::Sender<()>,
    /// The platform endpoint and trace daemon served inside its network.
    _served: Vec<AbortOnDrop>,
    last_used: Mutex<Instant>,
    frozen: std::sync::atomic::AtomicBool,
    /// Kept initialized by provisioned concurrency: never reaped for idleness.
    provisioned: bool,
    /// Whether this environment is in the provisioned count (set once initialized).
    counted: Arc<std::sync::atomic::AtomicBool>,
    /// When its execution-role credentials end (epoch ms), if it has some.
    credentials_expire_ms: Option<u64>,
    _memory: MemoryGrant,
}

impl Environment {
    fn exit_reason(&self) -> Option<ExitInfo> {
        self.exited.borrow().clone()
    }

    fn peak_memory_mb(&self) -> Option<u64> {
        if let Some(peak) = self.exit_reason().and_then(|e| e.peak_mb) {
            return Some(peak);
        }
        match &self.cgroup {
            Some(cg) => cg.peak_bytes().map(|b| b.div_ceil(1024 * 1024)),
            None => nimbus_sandbox::peak_rss_mb(self.pid),
        }
    }

    /// Freeze an idle environment so it uses no CPU; thaw it before use. Only
    /// writes to the freezer when the state changes.
    fn set_frozen(&self, frozen: bool) {
        let Some(cg) = &self.cgroup else { return };
        if self
            .frozen
            .swap(frozen, std::sync::atomic::Ordering::SeqCst)
            == frozen
        {
            return;
        }
        if let Err(e) = cg.set_frozen(frozen) {
            tracing::warn!(env_id = %self.id, error = %e, frozen, "freezer write failed");
        }
    }
}

/// Where a cold start's time went, in ms.
struct ColdStart {
    create_ms: f64,
    init_ms: f64,
    runtime_start_ms: f64,
    parts: Vec<(String, f64)>,
}

/// A failure before the function's code could be given the event.
struct InitFailure {
    error_type: String,
    body: Bytes,
    /// No environment could be made within the memory budget: a throttle, not a
    /// function error.
    throttled: bool,
}

impl InitFailure {
    fn new(error_type: &str, message: &str) -> InitFailure {
        InitFailure {
            throttled: false,
            error_type: error_type.to_string(),
            body: Bytes::from(
                serde_json::json!({ "errorType": error_type, "errorMessage": message }).to_string(),
            ),
        }
    }
}

pub(crate) struct Executor {
    cfg: ExecConfig,
    runtimes: Runtimes,
    sandbox: Arc<dyn Sandbox>,
    logs: Arc<LogStore>,
    code: Arc<CodeCache>,
    blobs: Arc<dyn BlobStore>,
    registry: Arc<Registry>,
    idle: Mutex<HashMap<String, Vec<Arc<Environment>>>>,
    /// Environments whose process or leftovers still exist.
    live: Arc<LiveCount>,
    /// Live provisioned environments per pool key (function:version).
    provisioned: Arc<Mutex<HashMap<String, usize>>>,
    /// Provisioned environments being initialized, per pool key.
    provisioning: Mutex<HashMap<String, usize>>,
    /// SnapStart versions' initialized environments waiting to be restored, per
    /// pool key, and the keys one is being initialized for.
    snapshots: Mutex<HashMap<String, Vec<Arc<Environment>>>>,
    snapshotting: Mutex<std::collections::HashSet<String>>,
    /// Published SnapStart versions whose first environment is still initializing.
    snapshot_pending: Mutex<std::collections::HashSet<String>>,
    /// Set by `shutdown`: nothing new is prepared or kept.
    closing: std::sync::atomic::AtomicBool,
    memory: Arc<MemoryBudget>,
    /// Environments starting at once (spawn to end of init). A burst beyond this
    /// waits its turn: two hundred runtimes booting together on two cores would
    /// each take seconds and trip the init timeout, which should measure the
    /// function's init, not the host's queue.
    starting: tokio::sync::Semaphore,
    /// Issues each environment its function's role credentials.
    roles: std::sync::OnceLock<Arc<dyn crate::roles::ExecutionRoles>>,
    /// Where Lambda's own metrics go (once the server gives a store).
    metrics: std::sync::OnceLock<Arc<nimbus_metrics::Metrics>>,
    /// Where segments go, and the host's daemon address for environments
    /// on the host's network.
    traces: std::sync::OnceLock<(Arc<nimbus_traces::Traces>, String)>,
}

mod launch;
mod snap_start;

/// How many environments start at once: eight per core, at least sixteen.
fn start_slots() -> usize {
    std::thread::available_parallelism()
        .map_or(2, usize::from)
        .saturating_mul(8)
        .max(16)
}

#[derive(Default)]
struct LiveCount {
    n: std::sync::atomic::AtomicUsize,
    changed: tokio::sync::Notify,
}

fn random_hex() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// How an invocation ended, for its `REPORT` line and Lambda's metrics.
struct Ended<'a> {
    init_ms: Option<f64>,
    /// SnapStart: the restore that handed the environment out.
    restore_ms: Option<f64>,
    status: Option<&'a str>,
    failed: bool,
}

/// A pool's environments of `function`'s `version` (every version when `None`),
/// taken out of it.
fn take_versions(
    pool: &mut HashMap<String, Vec<Arc<Environment>>>,
    function: &str,
    version: Option<&str>,
) -> Vec<Vec<Arc<Environment>>> {
    let prefix = format!("{function}:");
    let keys: Vec<String> = pool
        .keys()
        .filter(|k| match version {
            Some(v) => **k == pool_key(function, v),
            None => k.starts_with(&prefix),
        })
        .cloned()
        .collect();
    keys.iter().filter_map(|k| pool.remove(k)).collect()
}

/// Sweep a pool of waiting environments: the dead ones and those `keep` (given how
/// long each has waited) refuses go to `reaped`; the rest are frozen once they have
/// waited `FREEZE_AFTER`.
fn sweep(
    pool: &mut HashMap<String, Vec<Arc<Environment>>>,
    now: Instant,
    reaped: &mut Vec<Arc<Environment>>,
    keep: impl Fn(&Environment, Duration) -> bool,
) {
    for envs in pool.values_mut() {
        envs.retain(|e| {
            let waited = now.duration_since(*e.last_used.lock().expect("last used lock"));
            let kept = e.exit_reason().is_none() && keep(e, waited);
            if !kept {
                reaped.push(e.clone());
            } else if waited >= FREEZE_AFTER {
                e.set_frozen(true);
            }
            kept
        });
    }
    pool.retain(|_, v| !v.is_empty());
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

impl Executor {
    /// Record Lambda's own metrics in `m` from now on.
    pub fn set_metrics(&self, m: Arc<nimbus_metrics::Metrics>) {
        let _ = self.metrics.set(m);
    }

    /// Record X-Ray segments in `t` from now on.
    pub fn set_traces(&self, t: Arc<nimbus_traces::Traces>, host_daemon: String) {
        let _ = self.traces.set((t, host_daemon));
    }

    fn traces(&self) -> Option<&Arc<nimbus_traces::Traces>> {
        self.traces.get().map(|(t, _)| t)
    }

    pub(crate) fn metrics(&self) -> Option<&Arc<nimbus_metrics::Metrics>> {
        self.metrics.get()
    }

    pub fn new(
        cfg: ExecConfig,
        runtimes: Runtimes,
        sandbox: Arc<dyn Sandbox>,
        logs: Arc<LogStore>,
        code: Arc<CodeCache>,
        blobs: Arc<dyn BlobStore>,
        registry: Arc<Registry>,
    ) -> Arc<Executor> {
        let exec = Arc::new(Executor {
            cfg,
            runtimes,
            sandbox,
            logs,
            code,
            blobs,
            registry,
            idle: Mutex::new(HashMap::new()),
            live: Arc::new(LiveCount::default()),
            provisioned: Arc::new(Mutex::new(HashMap::new())),
            provisioning: Mutex::new(HashMap::new()),
            snapshots: Mutex::new(HashMap::new()),
            snapshotting: Mutex::new(std::collections::HashSet::new()),
            snapshot_pending: Mutex::new(std::collections::HashSet::new()),
            closing: std::sync::atomic::AtomicBool::new(false),
            memory: Arc::new(MemoryBudget::default()),
            starting: tokio::sync::Semaphore::new(start_slots()),
            roles: std::sync::OnceLock::new(),
            metrics: std::sync::OnceLock::new(),
            traces: std::sync::OnceLock::new(),
        });
        tokio::spawn(reap_loop(Arc::downgrade(&exec)));
        exec
    }

    pub fn config(&self) -> &ExecConfig {
        &self.cfg
    }

    /// Retire every idle environment of `function`'s `$LATEST` (its code or
    /// configuration changed), or of every version when `all_versions`.
    pub fn retire(&self, function: &str, all_versions: bool) {
        let version = (!all_versions).then_some(nimbus_model::LATEST);
        let gone = take_versions(&mut self.idle.lock().expect("pool lock"), function, version);
        drop(gone);
        if all_versions {
            self.forget_snapshots(function, None);
        }
    }

    /// Stop every idle environment and wait (bounded) until all environments are
    /// gone and cleaned up; then let the sandbox remove its host state.
    pub async fn shutdown(&self) {
        self.closing
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let all: Vec<_> = self.idle.lock().expect("pool lock").drain().collect();
        drop(all);
        let snapshots: Vec<_> = self
            .snapshots
            .lock()
            .expect("snapshots lock")
            .drain()
            .collect();
        drop(snapshots);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            // Register for the wake-up before looking, so none is missed.
            let wait = self.live.changed.notified();
            tokio::pin!(wait);
            wait.as_mut().enable();
            if self.live.n.load(std::sync::atomic::Ordering::SeqCst) == 0 {
                break;
            }
            if tokio::time::timeout_at(deadline, wait).await.is_err() {
                tracing::warn!("environments still running at shutdown");
                return;
            }
        }
        self.sandbox.shutdown();
    }

    /// Reserve `mb` of the memory budget for a new environment, evicting idle
    /// environments least-recently-used (on-demand ones before provisioned ones)
    /// until it fits. `None` when busy environments hold too much.
    fn reserve_memory(&self, mb: u64) -> Option<MemoryGrant> {
        loop {
            {
                let mut used = self.memory.used_mb.lock().expect("memory budget lock");
                if *used + mb <= self.cfg.memory_budget_mb {
                    *used += mb;
                    return Some(MemoryGrant {
                        budget: self.memory.clone(),
                        mb,
                    });
                }
            }
            let victim = {
                let mut idle = self.idle.lock().expect("pool lock");
                let pick = idle
                    .iter()
                    .flat_map(|(k, envs)| {
                        envs.iter().enumerate().map(move |(i, e)| (k.clone(), i, e))
                    })
                    .min_by_key(|(_, _, e)| {
                        (e.provisioned, *e.last_used.lock().expect("last used lock"))
                    })
                    .map(|(k, i, _)| (k, i));
                pick.map(|(k, i)| idle.get_mut(&k).expect("pool key exists").remove(i))
            }
            // Then SnapStart's prepared environments: a later cold start of theirs
            // initializes in line instead.
            .or_else(|| self.evict_snapshot());
            match victim {
                Some(env) => {
                    tracing::debug!(env_id = %env.id, function = %env.function, "evicted an idle environment for memory");
                    // Dropping the last reference kills it and returns its memory.
                    drop(env);
                }
                None => return None,
            }
        }
    }

    /// Live provisioned environments of `function`'s `version`.
    pub fn provisioned_count(&self, function: &str, version: &str) -> usize {
        self.provisioned
            .lock()
            .expect("provisioned lock")
            .get(&pool_key(function, version))
            .copied()
            .unwrap_or(0)
    }

    /// Start provisioned environments of `rec` until `target` are live (each is
    /// initialized, then parked warm in the pool). Returns how many were started.
    pub fn provision(self: &Arc<Self>, rec: Arc<FunctionRecord>, target: usize) -> usize {
        let have = self.provisioned_count(&rec.name, &rec.version) + self.provisioning(&rec, 0);
        let missing = target.saturating_sub(have);
        for _ in 0..missing {
            let me = self.clone();
            let rec = rec.clone();
            self.provisioning(&rec, 1);
            tokio::spawn(async move {
                let (env, result) = me.launch(&rec, InitType::Provisioned).await;
                me.provisioning(&rec, -1);
                match (env, result) {
                    (Some(env), Ok(_)) if env.exit_reason().is_none() => {
                        *me.provisioned
                            .lock()
                            .expect("provisioned lock")
                            .entry(pool_key(&rec.name, &rec.version))
                            .or_insert(0) += 1;
                        env.counted.store(true, std::sync::atomic::Ordering::SeqCst);
                        let current = me.current_revision(&rec);
                        me.give_back(env, current.as_deref());
                    }
                    (_, Err(f)) => {
                        tracing::warn!(function = %rec.name, error_type = %f.error_type, "provisioned environment failed to initialize");
                    }
                    (_, Ok(_)) => {}
                }
            });
        }
        missing
    }

    /// Adjust (and read) the count of provisioned environments being started.
    fn provisioning(&self, rec: &FunctionRecord, delta: i64) -> usize {
        let mut p = self.provisioning.lock().expect("provisioning lock");
        let n = p.entry(pool_key(&rec.name, &rec.version)).or_insert(0);
        *n = (*n as i64 + delta).max(0) as usize;
        *n
    }

    /// Pool keys (`function:version`) that have live provisioned environments.
    pub fn provisioned_keys(&self) -> Vec<(String, String)> {
        self.provisioned
            .lock()
            .expect("provisioned lock")
            .iter()
            .filter(|(_, n)| **n > 0)
            .filter_map(|(k, _)| {
                k.split_once(':')
                    .map(|(f, v)| (f.to_string(), v.to_string()))
            })
            .collect()
    }

    /// Drop idle provisioned environments of `function`'s `version` above `target`.
    pub fn unprovision(&self, function: &str, version: &str, target: usize) {
        let key = pool_key(function, version);
        let mut excess = self
            .provisioned_count(function, version)
            .saturating_sub(target);
        if excess == 0 {
            return;
        }
        let mut idle = self.idle.lock().expect("pool lock");
        if let Some(envs) = idle.get_mut(&key) {
            envs.retain(|e| {
                if e.provisioned && excess > 0 {
                    excess -= 1;
                    false
                } else {
                    true
                }
            });
        }
    }

    /// Number of warm idle environments of `function` (all versions).
    pub fn idle_count(&self, function: &str) -> usize {
        let prefix = format!("{function}:");
        self.idle
            .lock()
            .expect("pool lock")
            .iter()
            .filter(|(k, _)| k.starts_with(&prefix))
            .map(|(_, v)| v.len())
            .sum()
    }

    /// Give environments their function's role credentials from now on.
    pub fn set_execution_roles(&self, roles: Arc<dyn crate::roles::ExecutionRoles>) {
        let _ = self.roles.set(roles);
    }

    fn take_idle(&self, rec: &FunctionRecord) -> Option<Arc<Environment>> {
        let mut idle = self.idle.lock().expect("pool lock");
        let envs = idle.get_mut(&pool_key(&rec.name, &rec.version))?;
        let now = now_millis();
        while let Some(env) = envs.pop() {
            // One whose credentials near their end is dropped (and so ended).
            let fresh = env
                .credentials_expire_ms
                .is_none_or(|at| crate::roles::still_fresh(at, now));
            if env.revision == rec.revision_id && env.exit_reason().is_none() && fresh {
                drop(idle);
                env.set_frozen(false);
                return Some(env);
            }
        }
        None
    }

    fn give_back(&self, env: Arc<Environment>, current_revision: Option<&str>) {
        if current_revision != Some(env.revision.as_str()) || env.exit_reason().is_some() {
            return;
        }
        // Frozen by the reaper once idle for FREEZE_AFTER: an environment in
        // steady use is not frozen and thawed around every invocation.
        *env.last_used.lock().expect("last used lock") = Instant::now();
        self.idle
            .lock()
            .expect("pool lock")
            .entry(env.function.clone())
            .or_default()
            .push(env);
    }

    fn reap(&self) {
        let now = Instant::now();
        let keep = self.cfg.keep_alive;
        let mut reaped = Vec::new();
        sweep(
            &mut self.idle.lock().expect("pool lock"),
            now,
            &mut reaped,
            |e, idle_for| idle_for < keep || e.provisioned,
        );
        reaped.extend(self.reap_snapshots(now, keep));
        for env in &reaped {
            tracing::debug!(env_id = %env.id, function = %env.function, "reaped idle environment");
        }
    }

    /// What the function's code signs its calls with: its role's credentials
    /// (and when they end), or the platform's key when no roles are set.
    fn credentials(&self, rec: &FunctionRecord) -> Result<(EnvVars, Option<u64>), InitFailure> {
        let Some(roles) = self.roles.get() else {
            return Ok((
                vec![
                    // Lambda sets both names to the access key id.
                    ("AWS_ACCESS_KEY".into(), self.cfg.access_key_id.clone()),
                    ("AWS_ACCESS_KEY_ID".into(), self.cfg.access_key_id.clone()),
                    (
                        "AWS_SECRET_ACCESS_KEY".into(),
                        self.cfg.secret_access_key.clone(),
                    ),
                ],
                None,
            ));
        };
        let c = roles.credentials(&rec.role, &rec.name).map_err(|e| {
            InitFailure::new(
                "Runtime.InvalidExecutionRole",
                &format!("{}: {e}", crate::roles::NOT_ASSUMABLE),
            )
        })?;
        Ok((
            vec![
                ("AWS_ACCESS_KEY".into(), c.access_key_id.clone()),
                ("AWS_ACCESS_KEY_ID".into(), c.access_key_id),
                ("AWS_SECRET_ACCESS_KEY".into(), c.secret_access_key),
                ("AWS_SESSION_TOKEN".into(), c.session_token),
            ],
            Some(c.expires_ms),
        ))
    }

    fn environment_vars(
        &self,
        rec: &FunctionRecord,
        dirs: (&str, &str, &str, &str),
        stream: &str,
        addrs: (&str, &str, &str),
        credentials: Vec<(String, String)>,
    ) -> Vec<(String, String)> {
        let (task_root, runtime_dir, init_type, opt) = dirs;
        // The Runtime API, Nimbus's endpoint and the X-Ray daemon.
        let (api, endpoint, daemon) = addrs;
        let daemon_port = daemon.rsplit(':').next().unwrap_or("2000");
        // Where Lambda's runtimes look into layers (`/opt` inside the sandbox).
        let node_major = match Runtime::parse(&rec.runtime).map(|r| r.family) {
            Some(nimbus_model::RuntimeFamily::Node { major }) => major,
            _ => 0,
        };
        let node_path = format!(
            "{opt}/nodejs/node{node_major}/node_modules:{opt}/nodejs/node_modules:{runtime_dir}/node_modules:{runtime_dir}:{task_root}"
        );
        let python_path = match self.runtimes.python() {
            Some((_, minor)) => {
                format!("{opt}/python/lib/python3.{minor}/site-packages:{opt}/python")
            }
            None => format!("{opt}/python"),
        };
        let region = &self.cfg.identity.region;
        let mut env: Vec<(String, String)> = [
            ("AWS_LAMBDA_FUNCTION_NAME", rec.name.as_str()),
            ("AWS_LAMBDA_FUNCTION_VERSION", rec.version.as_str()),
            (
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                &rec.memory_mb.to_string(),
            ),
            ("AWS_LAMBDA_LOG_GROUP_NAME", &rec.log_group()),
            ("AWS_LAMBDA_LOG_STREAM_NAME", stream),
            ("AWS_LAMBDA_RUNTIME_API", api),
            ("AWS_LAMBDA_INITIALIZATION_TYPE", init_type),
            ("_HANDLER", rec.handler.as_str()),
            ("LAMBDA_TASK_ROOT", task_root),
            ("LAMBDA_RUNTIME_DIR", runtime_dir),
            ("AWS_EXECUTION_ENV", &format!("AWS_Lambda_{}", rec.runtime)),
            ("AWS_REGION", region),
            ("AWS_DEFAULT_REGION", region),
            ("AWS_ENDPOINT_URL", endpoint),
            ("AWS_XRAY_DAEMON_ADDRESS", daemon),
            (
                "_AWS_XRAY_DAEMON_ADDRESS",
                daemon.rsplit_once(':').map_or(daemon, |(h, _)| h),
            ),
            ("_AWS_XRAY_DAEMON_PORT", daemon_port),
            ("AWS_XRAY_CONTEXT_MISSING", "LOG_ERROR"),
            ("TZ", ":UTC"),
            ("LANG", "en_US.UTF-8"),
            ("PATH", &format!("/usr/local/bin:/usr/bin:/bin:{opt}/bin")),
            (
                "LD_LIBRARY_PATH",
                &format!("/lib64:/usr/lib64:{task_root}:{task_root}/lib:{opt}/lib"),
            ),
            ("NODE_PATH", &node_path),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .chain(credentials)
        .collect();
        match Runtime::parse(&rec.runtime).map(|r| r.family) {
            Some(nimbus_model::RuntimeFamily::Python { .. }) => {
                env.push(("PYTHONPATH".into(), python_path));
            }
            Some(nimbus_model::RuntimeFamily::Ruby { minor }) => {
                // Where Lambda's Ruby runtimes look for bundled gems and layers.
                env.push((
                    "GEM_PATH".into(),
                    format!(
                        "{task_root}/vendor/bundle/ruby/3.{minor}.0:{opt}/ruby/gems/3.{minor}.0"
                    ),
                ));
                env.push((
                    "RUBYLIB".into(),
                    format!("{task_root}:{runtime_dir}/lib:{opt}/ruby/lib"),
                ));
            }
            _ => {}
        }
        if let Some(l) = rec.logging.as_ref().filter(|_| rec.json_logs()) {
            // The runtimes write their records in Lambda's JSON format,
            // filtered by the application log level.
            env.push(("AWS_LAMBDA_LOG_FORMAT".into(), "JSON".into()));
            env.push((
                "AWS_LAMBDA_LOG_LEVEL".into(),
                l.application_level.clone().unwrap_or_else(|| "INFO".into()),
            ));
        }
        for (k, v) in &rec.environment {
            match env.iter_mut().find(|(ek, _)| ek == k) {
                Some(slot) => slot.1 = v.clone(),
                None => env.push((k.clone(), v.clone())),
            }
        }
        env
    }

    /// Run one synchronous invocation of `rec`.
    /// Run one invocation; `Err` when it was throttled for want of memory.
    pub async fn invoke(
        self: &Arc<Self>,
        rec: Arc<FunctionRecord>,
        req: &InvokeRequest,
    ) -> Result<InvokeResponse, Refused> {
        let request_id = req
            .request_id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let span = tracing::info_span!("invoke", request_id = %request_id, function = %rec.name, version = %rec.version, env_id = tracing::field::Empty);
        let mut out = self
            .invoke_inner(rec, req, request_id)
            .instrument(span)
            .await?;
        // A caller that cannot take a stream gets a streamed response whole.
        if !req.stream
            && let Some(mut rx) = out.stream.take().and_then(|s| s.take())
        {
            let mut body = Vec::new();
            while let Some(c) = rx.recv().await {
                match c {
                    nimbus_invoke::StreamChunk::Data(d) => body.extend_from_slice(&d),
                    nimbus_invoke::StreamChunk::Error { body: e, .. } => {
                        body = e.to_vec();
                        out.function_error = Some("Unhandled".into());
                    }
                }
            }
            out.payload = Bytes::from(body);
        }
        Ok(out)
    }

    async fn invoke_inner(
        self: &Arc<Self>,
        rec: Arc<FunctionRecord>,
        req: &InvokeRequest,
        request_id: String,
    ) -> Result<InvokeResponse, Refused> {
        let mut timing = Timing::default();
        let (env, init) = match self.take_idle(&rec) {
            Some(env) => (Some(env), Ok(None)),
            None if rec.snap_start_on() => self.restore_snapshot(&rec, &mut timing).await?,
            None => {
                let (env, r) = self.launch(&rec, InitType::OnDemand).await;
                (env, r.map(Some))
            }
        };
        if let Some(env) = &env {
            tracing::Span::current().record("env_id", env.id.as_str());
            self.count_provisioned(&rec, env);
        }
        let init_ms = match init {
            Ok(cold) => cold.map(|c| {
                timing.create_ms = Some(c.create_ms);
                timing.init_ms = Some(c.init_ms);
                timing.runtime_start_ms = Some(c.runtime_start_ms);
                timing.parts = c.parts;
                c.init_ms
            }),
            Err(failure) if failure.throttled => return Err(Refused::Throttled),
            Err(failure) => {
                return Ok(self.init_failed(&rec, req, &request_id, env, failure));
            }
        };
        let env = env.expect("a ready environment exists when init succeeded");

        if req.log_tail {
            env.log.begin_capture();
        }
        env.log.platform(&format!(
            "START RequestId: {request_id} Version: {}",
            rec.version
        ));
        let timeout = Duration::from_secs(rec.timeout_secs as u64);
        let started = Instant::now();
        let (trace_header, traced) =
            crate::xray::begin(self.traces().map(|t| &**t), &rec, req.trace_id.as_deref());
        let trace = traced.map(|t| Trace {
            ids: t,
            start_ms: now_millis(),
            init_ms,
        });
        let invocation = Invocation {
            request_id: request_id.clone(),
            deadline_ms: now_millis() + timeout.as_millis() as u64,
            invoked_function_arn: match &req.qualifier {
                Some(q) => format!("{}:{q}", self.cfg.identity.function_arn(&rec.name)),
                None => self.cfg.identity.function_arn(&rec.name),
            },
            trace_id: Some(trace_header),
            client_context: req.client_context.clone(),
            cognito_identity: None,
            payload: req.payload.clone(),
        };
        let rx = env.api.dispatch(invocation);
        let mut exited = env.exited.clone();
        enum Done {
            Answered(Outcome),
            TimedOut,
            Exited(ExitInfo),
        }
        let done = tokio::select! {
            o = rx => match o {
                Ok(o) => Done::Answered(o),
                Err(_) => Done::Exited(ExitInfo { reason: "the Runtime API closed".into(), oom: false, peak_mb: None }),
            },
            _ = tokio::time::sleep(timeout) => Done::TimedOut,
            r = exited.wait_for(Option::is_some) => Done::Exited(exit_info(r.ok().as_deref())),
        };
        let done = match done {
            Done::Answered(Outcome::Streaming(stream)) => {
                timing.invoke_ms = ms(started.elapsed());
                let on = Streaming {
                    env,
                    rec,
                    request_id,
                    started,
                    timeout,
                    init_ms,
                    log_tail: req.log_tail,
                    trace,
                };
                return Ok(self.stream_on(on, stream, timing));
            }
            other => other,
        };
        let elapsed = started.elapsed();
        timing.invoke_ms = ms(elapsed);
        env.log.sync().await;

        let (payload, function_error, reusable, status_note) = match done {
            Done::Answered(Outcome::Response(body)) => (body, None, true, None),
            Done::Answered(Outcome::Error { body, .. }) => {
                (body, Some("Unhandled".to_string()), true, None)
            }
            Done::Answered(Outcome::Streaming(_)) => unreachable!("handled above"),
            Done::Answered(Outcome::ResponseTooLarge(size)) => {
                let size = size.map(|s| format!("({s} bytes) ")).unwrap_or_default();
                let body = serde_json::json!({
                    "errorType": "Function.ResponseSizeTooLarge",
                    "errorMessage": format!(
                        "Response payload size {size}exceeded maximum allowed payload size ({} bytes).",
                        nimbus_runtime_api::MAX_RESPONSE_BYTES
                    ),
                });
                (
                    Bytes::from(body.to_string()),
                    Some("Unhandled".to_string()),
                    true,
                    None,
                )
            }
            Done::TimedOut => {
                let f = unanswered(&env, &request_id, timeout, Unanswered::TimedOut);
                (f.body, Some("Unhandled".to_string()), false, Some(f.status))
            }
            Done::Exited(info) => {
                let f = unanswered(&env, &request_id, timeout, Unanswered::Exited(info));
                (f.body, Some("Unhandled".to_string()), false, Some(f.status))
            }
        };
        let how = Ended {
            init_ms,
            restore_ms: timing.restore_ms,
            status: status_note,
            failed: function_error.is_some(),
        };
        self.report(&env, &rec, &request_id, elapsed, how);
        if let Some(t) = &trace {
            self.record_trace(&rec, t, &request_id, function_error.is_some());
        }
        let log_result = req.log_tail.then(|| env.log.end_capture());

        if reusable {
            let current = self.current_revision(&rec);
            self.give_back(env, current.as_deref());
        }
        if timing.restore_ms.is_some() {
            // SnapStart: the next environment is prepared once this cold start is
            // served, not beside it (a JVM starting competes for the same cores).
            self.prepare_snapshot(rec.clone(), false);
        }
        // A non-reusable environment is dropped here, which kills its process.
        Ok(InvokeResponse {
            status: 200,
            payload,
            function_error,
            log_result: log_result.map(|b| base64_encode(&b)),
            executed_version: rec.version.clone(),
            request_id,
            timing,
            stream: None,
        })
    }

    /// A response the runtime streams: answer at once with the stream, pass its
    /// pieces on as they come, and finish the invocation (timeout, REPORT, the
    /// environment back to the pool) when the runtime's body ends.
    fn stream_on(
        self: &Arc<Self>,
        on: Streaming,
        stream: nimbus_invoke::ResponseStream,
        timing: Timing,
    ) -> InvokeResponse {
        use nimbus_invoke::StreamChunk;
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        let me = self.clone();
        let restore_ms = timing.restore_ms;
        let answer = InvokeResponse {
            status: 200,
            payload: Bytes::new(),
            function_error: None,
            log_result: None,
            executed_version: on.rec.version.clone(),
            request_id: on.request_id.clone(),
            timing,
            stream: Some(nimbus_invoke::ResponseStream::new(rx)),
        };
        tokio::spawn(async move {
            let Streaming {
                env,
                rec,
                request_id,
                started,
                timeout,
                init_ms,
                log_tail,
                trace,
            } = on;
            let deadline = tokio::time::Instant::from_std(started + timeout);
            let mut status: Option<&str> = None;
            let mut reusable = true;
            if let Some(mut from_runtime) = stream.take() {
                let mut exited = env.exited.clone();
                enum Step {
                    Chunk(Option<StreamChunk>),
                    Ended(Unanswered),
                }
                loop {
                    let step = tokio::select! {
                        c = from_runtime.recv() => Step::Chunk(c),
                        _ = tokio::time::sleep_until(deadline) => Step::Ended(Unanswered::TimedOut),
                        r = exited.wait_for(Option::is_some) => Step::Ended(Unanswered::Exited(exit_info(r.ok().as_deref()))),
                    };
                    let ended = match step {
                        // The connection broke off: if the runtime died, say how
                        // (out of memory, or exited) as a buffered call would.
                        Step::Chunk(Some(StreamChunk::Error { error_type, body }))
                            if error_type == nimbus_runtime_api::STREAM_BROKE_OFF =>
                        {
                            let died = tokio::time::timeout_at(
                                deadline.min(tokio::time::Instant::now() + Duration::from_secs(1)),
                                exited.wait_for(Option::is_some),
                            )
                            .await
                            .map(|r| exit_info(r.ok().as_deref()));
                            match died {
                                Ok(info) => Unanswered::Exited(info),
                                // The runtime lives on: the broken stream is the
                                // answer, and the stream is over.
                                Err(_) => {
                                    let _ = tx.send(StreamChunk::Error { error_type, body }).await;
                                    break;
                                }
                            }
                        }
                        // A caller that went away does not stop the function.
                        Step::Chunk(Some(c)) => {
                            let _ = tx.send(c).await;
                            continue;
                        }
                        Step::Chunk(None) => break,
                        Step::Ended(how) => how,
                    };
                    let f = unanswered(&env, &request_id, timeout, ended);
                    let _ = tx
                        .send(StreamChunk::Error {
                            error_type: f.error_type.into(),
                            body: f.body,
                        })
                        .await;
                    status = Some(f.status);
                    reusable = false;
                    break;
                }
            }
            drop(tx);
            env.log.sync().await;
            let how = Ended {
                init_ms,
                restore_ms,
                status,
                failed: status.is_some(),
            };
            me.report(&env, &rec, &request_id, started.elapsed(), how);
            if let Some(t) = &trace {
                me.record_trace(&rec, t, &request_id, status.is_some());
            }
            if log_tail {
                let _ = env.log.end_capture();
            }
            if reusable {
                let current = me.current_revision(&rec);
                me.give_back(env, current.as_deref());
            }
            if restore_ms.is_some() {
                me.prepare_snapshot(rec.clone(), false);
            }
        });
        answer
    }

    /// Lambda's provisioned concurrency metrics as an invocation gets its
    /// environment: on a provisioned one, `ProvisionedConcurrencyInvocations`
    /// and how many of the function version's provisioned environments are
    /// busy (`ProvisionedConcurrentExecutions`, and as a share of them,
    /// `ProvisionedConcurrencyUtilization`); on another while some are
    /// provisioned, `ProvisionedConcurrencySpilloverInvocations`.
    fn count_provisioned(&self, rec: &FunctionRecord, env: &Environment) {
        let Some(m) = self.metrics.get() else { return };
        let key = pool_key(&rec.name, &rec.version);
        let total = self
            .provisioned
            .lock()
            .expect("provisioned lock")
            .get(&key)
            .copied()
            .unwrap_or(0);
        if total == 0 {
            return;
        }
        if !env.provisioned {
            crate::metrics::provisioned(m, rec, "ProvisionedConcurrencySpilloverInvocations", 1.0);
            return;
        }
        let idle = self
            .idle
            .lock()
            .expect("pool lock")
            .get(&key)
            .map_or(0, |envs| envs.iter().filter(|e| e.provisioned).count());
        let busy = total.saturating_sub(idle) as f64;
        crate::metrics::provisioned(m, rec, "ProvisionedConcurrencyInvocations", 1.0);
        crate::metrics::provisioned(m, rec, "ProvisionedConcurrentExecutions", busy);
        crate::metrics::provisioned(
            m,
            rec,
            "ProvisionedConcurrencyUtilization",
            busy / total as f64,
        );
    }

    /// Record the platform's segments of a sampled invocation that just ended.
    fn record_trace(&self, rec: &FunctionRecord, t: &Trace, request_id: &str, failed: bool) {
        let Some(traces) = self.traces() else { return };
        let start = t.start_ms as f64 / 1000.0;
        let span = crate::xray::Span {
            init_start: t.init_ms.map(|i| start - i / 1000.0),
            start,
            end: now_millis() as f64 / 1000.0,
            request_id: request_id.to_string(),
            function_arn: self.cfg.identity.function_arn(&rec.name),
            error: failed.then(|| "Unhandled".to_string()),
        };
        crate::xray::record(traces, rec, &t.ids, &span);
    }

    fn current_revision(&self, rec: &FunctionRecord) -> Option<String> {
        self.registry.current_revision(&rec.name, &rec.version)
    }

    fn report(
        &self,
        env: &Environment,
        rec: &FunctionRecord,
        request_id: &str,
        elapsed: Duration,
        how: Ended<'_>,
    ) {
        let Ended {
            init_ms,
            restore_ms,
            status,
            failed,
        } = how;
        let end = format!("END RequestId: {request_id}");
        let duration = ms(elapsed);
        if let Some(m) = self.metrics.get() {
            crate::metrics::invocation(m, rec, Some(&rec.version), duration, failed);
        }
        let billed = duration.ceil().max(1.0) as u64;
        let max_mem = env.peak_memory_mb().unwrap_or(0);
        let mut line = format!(
            "REPORT RequestId: {request_id}\tDuration: {duration:.2} ms\tBilled Duration: {billed} ms\tMemory Size: {} MB\tMax Memory Used: {max_mem} MB",
            rec.memory_mb
        );
        if let Some(i) = init_ms {
            line.push_str(&format!("\tInit Duration: {i:.2} ms"));
        }
        if let Some(r) = restore_ms {
            line.push_str(&format!(
                "\tRestore Duration: {r:.2} ms\tBilled Restore Duration: {} ms",
                r.ceil() as u64
            ));
        }
        if let Some(s) = status {
            line.push_str(&format!("\tStatus: {s}"));
        }
        line.push('\t');
        env.log.platform_lines(&[&end, &line]);
    }

    fn init_failed(
        &self,
        rec: &FunctionRecord,
        req: &InvokeRequest,
        request_id: &str,
        env: Option<Arc<Environment>>,
        failure: InitFailure,
    ) -> InvokeResponse {
        let log_result = match &env {
            Some(env) => {
                if req.log_tail {
                    env.log.begin_capture();
                }
                env.log.platform(&format!(
                    "START RequestId: {request_id} Version: {}",
                    rec.version
                ));
                self.report(
                    env,
                    rec,
                    request_id,
                    Duration::ZERO,
                    Ended {
                        init_ms: None,
                        restore_ms: None,
                        status: Some(&format!("error\tError Type: {}", failure.error_type)),
                        failed: true,
                    },
                );
                req.log_tail.then(|| env.log.end_capture())
            }
            None => {
                let stream = format!(
                    "{}/[{}]{}",
                    Utc::from_millis(now_millis()).slash_date(),
                    rec.version,
                    random_hex()
                );
                let lines = [
                    format!("START RequestId: {request_id} Version: {}", rec.version),
                    format!(
                        "{}: {}",
                        failure.error_type,
                        String::from_utf8_lossy(&failure.body)
                    ),
                    format!("END RequestId: {request_id}"),
                    format!(
                        "REPORT RequestId: {request_id}\tDuration: 0.00 ms\tBilled Duration: 0 ms\tMemory Size: {} MB\tMax Memory Used: 0 MB\tStatus: error\tError Type: {}\t",
                        rec.memory_mb, failure.error_type
                    ),
                ];
                for l in &lines {
                    self.logs.append(&rec.log_group(), &stream, l);
                }
                req.log_tail.then(|| lines.join("\n").into_bytes())
            }
        };
        InvokeResponse {
            status: 200,
            payload: failure.body,
            function_error: Some("Unhandled".into()),
            log_result: log_result.map(|b| base64_encode(&b)),
            executed_version: rec.version.clone(),
            request_id: request_id.to_string(),
            timing: Timing::default(),
            stream: None,
        }
    }
}

/// An invocation whose response is being streamed.
struct Streaming {
    env: Arc<Environment>,
    rec: Arc<FunctionRecord>,
    request_id: String,
    started: Instant,
    timeout: Duration,
    init_ms: Option<f64>,
    log_tail: bool,
    trace: Option<Trace>,
}

/// A sampled invocation's trace ids and when it started (epoch ms; its
/// environment's init, if any, ran just before).
struct Trace {
    ids: crate::xray::Traced,
    start_ms: u64,
    init_ms: Option<f64>,
}

/// How an invocation ended without the runtime's answer.
enum Unanswered {
    TimedOut,
    Exited(ExitInfo),
}

/// What Lambda answers for an [`Unanswered`] invocation, buffered or streamed.
struct Failure {
    error_type: &'static str,
    body: Bytes,
    /// The `REPORT` line's status.
    status: &'static str,
}

/// Log an invocation that ended without an answer (timeout, or the runtime
/// died, of running out of memory or otherwise) and say what the caller gets.
/// One path for buffered and streamed invocations, so they cannot diverge.
fn unanswered(env: &Environment, request_id: &str, timeout: Duration, how: Unanswered) -> Failure {
    match how {
        Unanswered::TimedOut => {
            env.api.abandon();
            let secs = timeout.as_secs_f64();
            env.log.platform(&format!(
                "{} {request_id} Task timed out after {secs:.2} seconds",
                Utc::from_millis(now_millis()).rfc3339_millis()
            ));
            let body = serde_json::json!({
                "errorType": "Sandbox.Timedout",
                "errorMessage": format!("RequestId: {request_id} Error: Task timed out after {secs:.2} seconds"),
            });
            Failure {
                error_type: "Sandbox.Timedout",
                body: Bytes::from(body.to_string()),
                status: "timeout",
            }
        }
        Unanswered::Exited(info) => {
            let reason = &info.reason;
            let (error_type, status) = if info.oom {
                (
                    "Runtime.OutOfMemory",
                    "error\tError Type: Runtime.OutOfMemory",
                )
            } else {
                ("Runtime.ExitError", "error\tError Type: Runtime.ExitError")
            };
            let message =
                format!("RequestId: {request_id} Error: Runtime exited with error: {reason}");
            env.log.platform_lines(&[&message, error_type]);
            let body = serde_json::json!({ "errorType": error_type, "errorMessage": message });
            Failure {
                error_type,
                body: Bytes::from(body.to_string()),
                status,
            }
        }
    }
}

/// The exit an environment's watcher reported (an empty one if it reported none).
fn exit_info(reported: Option<&Option<ExitInfo>>) -> ExitInfo {
    reported.and_then(Option::clone).unwrap_or(ExitInfo {
        reason: String::new(),
        oom: false,
        peak_mb: None,
    })
}

/// Idle environments are pooled per function version.
fn pool_key(function: &str, version: &str) -> String {
    format!("{function}:{version}")
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
}

async fn reap_loop(exec: Weak<Executor>) {
    let mut tick = tokio::time::interval(FREEZE_AFTER);
    loop {
        tick.tick().await;
        let Some(exec) = exec.upgrade() else { return };
        exec.reap();
    }
}
