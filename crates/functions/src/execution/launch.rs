//! Starting an execution environment: code, sandbox, Runtime API, log pipe,
//! the process, the watcher that reports its exit and cleans up after it, and
//! the wait for its init.

use super::*;

/// What [`Executor::open_environment`] opens for a new environment.
type Opened = (
    nimbus_sandbox::Prepared,
    RuntimeApi,
    Vec<AbortOnDrop>,
    std::io::PipeWriter,
    EnvLog,
);

impl Executor {
    /// Start a new environment for `rec` and wait for its init to finish.
    /// Returns the environment and (creation ms, init ms) or why init failed.
    pub(super) async fn launch(
        &self,
        rec: &FunctionRecord,
        init_type: InitType,
    ) -> (Option<Arc<Environment>>, Result<ColdStart, InitFailure>) {
        let provisioned = init_type == InitType::Provisioned;
        // Held until init ends; the semaphore is never closed.
        let _slot = self.starting.acquire().await.ok();
        let started = Instant::now();
        let Some(memory_grant) = self.reserve_memory(rec.memory_mb as u64) else {
            let mut f = InitFailure::new("Nimbus.MemoryBudgetExhausted", "Rate Exceeded.");
            f.throttled = true;
            return (None, Err(f));
        };
        let env_id = random_hex();
        let stream = format!(
            "{}/[{}]{}",
            Utc::from_millis(now_millis()).slash_date(),
            rec.version,
            env_id
        );
        let fail = |t: &str, m: &str| (None, Err(InitFailure::new(t, m)));

        let Some(runtime) = Runtime::parse(&rec.runtime) else {
            return fail(
                "Runtime.Unavailable",
                &format!("runtime {} is not supported", rec.runtime),
            );
        };
        let code_dir = match self.restore_code(rec) {
            Ok(d) => d,
            Err(f) => return (None, Err(f)),
        };
        let opt_dir = match self.restore_layers(rec) {
            Ok(d) => d,
            Err(f) => return (None, Err(f)),
        };
        let layout = self.sandbox.layout();
        let inside_task_root = layout.task_root.clone().unwrap_or_else(|| code_dir.clone());
        let inside_opt = match (&opt_dir, layout.opt) {
            (Some(_), Some(inside)) => inside,
            (Some(host), None) => host.clone(),
            (None, _) => "/opt".into(),
        };
        let inside_runtime_dir = layout
            .runtime_dir
            .clone()
            .unwrap_or_else(|| self.runtimes.dir.clone());
        let launch = match self.runtimes.launch(
            &runtime,
            &code_dir,
            (&inside_task_root, &inside_runtime_dir),
            crate::runtimes::LaunchOptions {
                memory_mb: rec.memory_mb,
                prewarmed: init_type != InitType::OnDemand,
            },
        ) {
            Ok(l) => l,
            Err(e) => {
                self.logs.append(
                    &rec.log_group(),
                    &stream,
                    &format!("{}: {}", e.error_type, e.message),
                );
                return fail(e.error_type, &e.message);
            }
        };
        let (mut prepared, api, served, pipe_w, log) =
            match self.open_environment(rec, &stream).await {
                Ok(opened) => opened,
                Err(f) => return (None, Err(f)),
            };
        if let Some(w) = &launch.warning {
            log.platform(w);
        }
        let endpoint = prepared
            .endpoint_url
            .clone()
            .unwrap_or_else(|| self.cfg.endpoint_url.clone());
        // An isolated environment has its own daemon socket; one on the
        // host's network uses the server's.
        let daemon = match (&prepared.endpoint_url, self.traces.get()) {
            (None, Some((_, host))) => host.clone(),
            _ => nimbus_sandbox::netns::TRACE_DAEMON_ADDR.to_string(),
        };
        let (credentials, credentials_expire_ms) = match self.credentials(rec) {
            Ok(c) => c,
            Err(f) => return (None, Err(f)),
        };
        let vars = self.environment_vars(
            rec,
            (
                &inside_task_root.display().to_string(),
                &inside_runtime_dir.display().to_string(),
                init_type.as_str(),
                &inside_opt.display().to_string(),
            ),
            &stream,
            (&prepared.runtime_api_addr, &endpoint, &daemon),
            credentials,
        );
        // `AWS_LAMBDA_EXEC_WRAPPER` (managed runtimes only, as on Lambda): the
        // wrapper runs with the runtime's command as its arguments.
        let wrapper = rec
            .environment
            .get("AWS_LAMBDA_EXEC_WRAPPER")
            .filter(|w| !w.is_empty() && !rec.runtime.starts_with("provided"));
        let (program, args) = match wrapper {
            Some(w) => {
                let mut args = vec![launch.program.display().to_string()];
                args.extend(launch.args);
                (std::path::PathBuf::from(w), args)
            }
            None => (launch.program.clone(), launch.args),
        };
        let started_program = program.display().to_string();
        let spec = LaunchSpec {
            program,
            args,
            env: vars,
            task_root: code_dir.clone(),
            runtime_dir: self.runtimes.dir.clone(),
            opt: opt_dir,
            read_only: self.runtimes.interpreter_dirs().to_vec(),
            log: OwnedFd::from(pipe_w),
            memory_mb: rec.memory_mb,
            ephemeral_storage_mb: rec.ephemeral_storage_mb,
        };
        let mut process = match self.sandbox.launch(spec, &mut prepared) {
            Ok(p) => p,
            Err(e) => {
                let reason = match &e {
                    nimbus_sandbox::Error::Spawn { source, .. } => source.to_string(),
                    other => other.to_string(),
                };
                let msg = format!("fork/exec {started_program}: {reason}");
                log.platform(&format!("Runtime.InvalidEntrypoint: {msg}"));
                return fail("Runtime.InvalidEntrypoint", &msg);
            }
        };
        let mut parts: Vec<(String, f64)> = prepared
            .parts
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect();
        let boot_marks = process.take_boot_marks();
        drop(prepared);
        let created_ms = ms(started.elapsed());
        let pid = process.pid();
        let cgroup = process.cgroup();
        let counted = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (exited, kill_tx) = self.watch_exit(process, env_id.clone(), rec, counted.clone());
        let env = Arc::new(Environment {
            id: env_id,
            function: pool_key(&rec.name, &rec.version),
            revision: rec.revision_id.clone(),
            api,
            log,
            pid,
            cgroup,
            exited,
            _kill: kill_tx,
            _served: served,
            last_used: Mutex::new(Instant::now()),
            frozen: std::sync::atomic::AtomicBool::new(false),
            provisioned,
            counted,
            credentials_expire_ms,
            _memory: memory_grant,
        });

        match await_init(&env, boot_marks, &mut parts).await {
            Ok((init_ms, runtime_start_ms)) => (
                Some(env),
                Ok(ColdStart {
                    create_ms: created_ms,
                    init_ms,
                    runtime_start_ms,
                    parts,
                }),
            ),
            Err((f, init_ms)) => {
                env.log.sync().await;
                env.log.platform(&format!(
                    "INIT_REPORT Init Duration: {init_ms:.2} ms\tPhase: init\tStatus: error\tError Type: {}",
                    f.error_type
                ));
                (Some(env), Err(f))
            }
        }
    }

    /// A prepared sandbox, with its Runtime API served, the platform endpoint
    /// inside its network namespace served, and its log pipe read.
    async fn open_environment(
        &self,
        rec: &FunctionRecord,
        stream: &str,
    ) -> Result<Opened, InitFailure> {
        // Making namespaces and cgroups blocks: keep it off the async workers.
        let sandbox = self.sandbox.clone();
        let memory = rec.memory_mb;
        let network = if rec.vpc.is_some() {
            nimbus_sandbox::Network::Host
        } else {
            nimbus_sandbox::Network::Isolated
        };
        let prepared = tokio::task::spawn_blocking(move || sandbox.prepare(memory, network))
            .await
            .unwrap_or_else(|e| Err(nimbus_sandbox::Error::Setup(std::io::Error::other(e))));
        let mut prepared = match prepared {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "prepare execution environment failed");
                return Err(InitFailure::new(
                    "Runtime.Unavailable",
                    "could not prepare an execution environment",
                ));
            }
        };
        let api = match prepared.runtime_api.try_clone().and_then(RuntimeApi::serve) {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(error = %e, "serve runtime api failed");
                return Err(InitFailure::new(
                    "Runtime.Unavailable",
                    "could not open the Runtime API for a new environment",
                ));
            }
        };
        let mut served = Vec::new();
        if let (Some(listener), Some(serve)) = (
            prepared.platform_endpoint.take(),
            &self.cfg.platform_endpoint,
        ) {
            served.push(AbortOnDrop((serve.0)(listener)));
        }
        // The environment's own daemon socket; without a trace store its
        // datagrams go nowhere, as with no daemon running.
        if let (Some(socket), Some(traces)) = (prepared.trace_daemon.take(), self.traces()) {
            match nimbus_traces::daemon::spawn(socket, traces.clone()) {
                Ok(h) => served.push(AbortOnDrop(h)),
                Err(e) => tracing::warn!(error = %e, "serve the environment's trace daemon"),
            }
        }
        let (pipe_r, pipe_w) = match std::io::pipe() {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "create log pipe failed");
                return Err(InitFailure::new(
                    "Runtime.Unavailable",
                    "could not create the environment's log pipe",
                ));
            }
        };
        let log = match EnvLog::start(
            self.logs.clone(),
            &rec.log_group(),
            stream,
            OwnedFd::from(pipe_r),
        ) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(error = %e, "start log reader failed");
                return Err(InitFailure::new(
                    "Runtime.Unavailable",
                    "could not read the environment's log pipe",
                ));
            }
        };
        if rec.json_logs() {
            log.use_json(rec.logging.as_ref().and_then(|l| l.system_level.as_deref()));
        }
        Ok((prepared, api, served, pipe_w, log))
    }

    /// The function's unpacked code, unpacked again from its blob if the
    /// directory is gone.
    fn restore_code(&self, rec: &FunctionRecord) -> Result<std::path::PathBuf, InitFailure> {
        let code_dir = self.code.dir(&rec.code.digest);
        if !code_dir.is_dir() {
            let restored = self
                .blobs
                .get(&rec.code.digest)
                .map_err(|e| e.to_string())
                .and_then(|zip| {
                    self.code
                        .ensure(&rec.code.digest, &zip)
                        .map_err(|e| e.to_string())
                });
            if let Err(e) = restored {
                tracing::error!(function = %rec.name, error = %e, "restore function code failed");
                return Err(InitFailure::new(
                    "Runtime.Unavailable",
                    "The function's code package could not be read",
                ));
            }
        }
        Ok(code_dir)
    }

    /// The function's layers merged into one directory (its `/opt`), each
    /// unpacked again from its blob if its directory is gone; `None` without layers.
    fn restore_layers(
        &self,
        rec: &FunctionRecord,
    ) -> Result<Option<std::path::PathBuf>, InitFailure> {
        if rec.layers.is_empty() {
            return Ok(None);
        }
        let merged = rec
            .layers
            .iter()
            .try_for_each(|l| {
                if self.code.dir(&l.digest).is_dir() {
                    return Ok(());
                }
                let zip = self.blobs.get(&l.digest).map_err(|e| e.to_string())?;
                self.code
                    .ensure(&l.digest, &zip)
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            })
            .and_then(|()| {
                let digests: Vec<&str> = rec.layers.iter().map(|l| l.digest.as_str()).collect();
                self.code.merged(&digests).map_err(|e| e.to_string())
            });
        match merged {
            Ok(dir) => Ok(Some(dir)),
            Err(e) => {
                tracing::error!(function = %rec.name, error = %e, "restore function layers failed");
                Err(InitFailure::new(
                    "Runtime.Unavailable",
                    "The function's layers could not be read",
                ))
            }
        }
    }

    /// Wait for the environment's process to end (or to be told to kill it):
    /// report how it exited, then remove what it left and release its counts.
    /// `counted` says whether it was counted as provisioned (see `provision`).
    fn watch_exit(
        &self,
        mut process: nimbus_sandbox::Process,
        env_id: String,
        rec: &FunctionRecord,
        counted: Arc<std::sync::atomic::AtomicBool>,
    ) -> (watch::Receiver<Option<ExitInfo>>, oneshot::Sender<()>) {
        let (exit_tx, exited) = watch::channel(None);
        let (kill_tx, kill_rx) = oneshot::channel::<()>();
        let env_label = env_id;
        let live = self.live.clone();
        live.n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let counted_by_waiter = counted;
        let provisioned_counts = self.provisioned.clone();
        let key = pool_key(&rec.name, &rec.version);
        tokio::spawn(async move {
            let status = tokio::select! {
                s = process.wait() => s,
                _ = kill_rx => {
                    process.kill();
                    process.wait().await
                }
            };
            let reason = match status {
                Ok(s) => describe_exit(&s),
                Err(e) => format!("wait failed: {e}"),
            };
            let oom = process.cgroup().is_some_and(|c| c.oom_kills() > 0);
            let peak_mb = process
                .cgroup()
                .and_then(|c| c.peak_bytes())
                .map(|b| b.div_ceil(1024 * 1024));
            let _ = exit_tx.send(Some(ExitInfo {
                reason,
                oom,
                peak_mb,
            }));
            // Leave nothing behind: processes, cgroup, root directory.
            let cleaned = tokio::task::spawn_blocking(move || {
                process.kill();
                process.cleanup()
            })
            .await;
            match cleaned {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::error!(env_id = %env_label, error = %e, "clean up environment failed");
                }
                Err(e) => tracing::error!(env_id = %env_label, error = %e, "clean up task failed"),
            }
            if counted_by_waiter.load(std::sync::atomic::Ordering::SeqCst) {
                let mut p = provisioned_counts.lock().expect("provisioned lock");
                if let Some(n) = p.get_mut(&key) {
                    *n = n.saturating_sub(1);
                }
            }
            live.n.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            live.changed.notify_waiters();
        });
        (exited, kill_tx)
    }
}

/// Wait for a new environment's init to end: ready, failed, exited or timed
/// out. Adds the sandbox's own start-up stages to `parts`; returns (init ms,
/// runtime start ms), or the failure with its init ms.
async fn await_init(
    env: &Environment,
    boot_marks: Option<nimbus_sandbox::BootMarks>,
    parts: &mut Vec<(String, f64)>,
) -> Result<(f64, f64), (InitFailure, f64)> {
    let mut phase = env.api.phase();
    let mut exited = env.exited.clone();
    let init_started = Instant::now();
    let result = tokio::select! {
        p = phase.wait_for(|p| *p != Phase::Initializing) => match p.map(|p| p.clone()) {
            // A SnapStart runtime waits in /restore/next once its init is done.
            Ok(Phase::Ready | Phase::Restorable) => Ok(()),
            Ok(Phase::InitFailed { error_type, body }) => Err(InitFailure {
                error_type: error_type.unwrap_or_else(|| "Runtime.Unknown".into()),
                body,
                throttled: false,
            }),
            _ => Err(InitFailure::new("Runtime.Unknown", "the Runtime API stopped during init")),
        },
        r = exited.wait_for(Option::is_some) => {
            let info = r.ok().and_then(|r| r.clone());
            let reason = info.as_ref().map(|i| i.reason.clone()).unwrap_or_default();
            if info.is_some_and(|i| i.oom) {
                Err(InitFailure::new("Runtime.OutOfMemory", &format!("Runtime exited with error: {reason}")))
            } else {
                Err(InitFailure::new("Runtime.ExitError", &format!("Runtime exited with error: {reason}")))
            }
        }
        _ = tokio::time::sleep(INIT_TIMEOUT) => Err(InitFailure::new(
            "Sandbox.Timedout",
            &format!("Init phase timed out after {:.2} seconds", INIT_TIMEOUT.as_secs_f64()),
        )),
    };
    // The sandbox's own start (namespaces, filesystem, privileges) is not the
    // function's init: Init Duration counts from the runtime's exec.
    let stages = boot_marks.map(|m| m.stages()).unwrap_or_default();
    let boot_ms: f64 = stages.iter().map(|(_, v)| v).sum();
    parts.extend(stages);
    let init_ms = (ms(init_started.elapsed()) - boot_ms).max(0.0);
    let runtime_start_ms = env
        .api
        .first_connection()
        .map(|t| (ms(t.saturating_duration_since(init_started)) - boot_ms).max(0.0))
        .unwrap_or(init_ms);
    result
        .map(|()| (init_ms, runtime_start_ms))
        .map_err(|f| (f, init_ms))
}
