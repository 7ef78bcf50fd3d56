//! SnapStart. A published version with `SnapStart: PublishedVersions` keeps an
//! environment initialized ahead: started at publish (and again each time one is
//! handed out) with `AWS_LAMBDA_INITIALIZATION_TYPE=snap-start`, its runtime runs init
//! and the `beforeCheckpoint` hooks, then waits in `/restore/next`. An invocation that
//! needs a new environment restores one: the runtime runs its `afterRestore` hooks and
//! asks for the event, and the REPORT line shows `Restore Duration`.
//!
//! Lambda restores memory snapshots; Nimbus keeps initialized processes instead (a JVM
//! cannot be forked into copies), so each restore hands out one prepared process and
//! the next is prepared behind it. A burst beyond the prepared ones initializes and
//! restores in line, as a cold start would.

use super::*;

/// How long the `afterRestore` hooks may run (Lambda's restore timeout).
const RESTORE_TIMEOUT: Duration = Duration::from_secs(10);

/// What `invoke_inner` starts from: the environment and its cold start, if any.
type Started = (
    Option<Arc<Environment>>,
    Result<Option<ColdStart>, InitFailure>,
);

impl Executor {
    /// Initialize an environment of a SnapStart version ahead of its invocations,
    /// unless one is ready or being initialized. `first`: the version was just
    /// published, and stays `Pending` until this ends.
    pub fn prepare_snapshot(self: &Arc<Self>, rec: Arc<FunctionRecord>, first: bool) {
        let key = pool_key(&rec.name, &rec.version);
        if self.closing.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let ready = self
            .snapshots
            .lock()
            .expect("snapshots lock")
            .get(&key)
            .is_some_and(|v| v.iter().any(|e| usable(e, &rec)));
        if ready
            || !self
                .snapshotting
                .lock()
                .expect("snapshotting lock")
                .insert(key.clone())
        {
            return;
        }
        if first {
            self.snapshot_pending
                .lock()
                .expect("pending lock")
                .insert(key.clone());
        }
        let me = self.clone();
        tokio::spawn(async move {
            let (env, result) = me.launch(&rec, InitType::SnapStart).await;
            match (env, result) {
                (Some(env), Ok(_))
                    if env.exit_reason().is_none()
                        && !me.closing.load(std::sync::atomic::Ordering::SeqCst)
                        && me.current_revision(&rec).as_deref() == Some(env.revision.as_str()) =>
                {
                    me.snapshots
                        .lock()
                        .expect("snapshots lock")
                        .entry(key.clone())
                        .or_default()
                        .push(env);
                }
                (_, Err(f)) => tracing::warn!(
                    function = %rec.name, version = %rec.version, error_type = %f.error_type,
                    "SnapStart environment failed to initialize"
                ),
                _ => {}
            }
            // Ready (or failed: its invocations then start as cold starts do).
            me.snapshotting
                .lock()
                .expect("snapshotting lock")
                .remove(&key);
            me.snapshot_pending
                .lock()
                .expect("pending lock")
                .remove(&key);
        });
    }

    /// The least recently prepared environment, dropped to free memory for another.
    pub(super) fn evict_snapshot(&self) -> Option<Arc<Environment>> {
        let mut all = self.snapshots.lock().expect("snapshots lock");
        let (key, i) = all
            .iter()
            .flat_map(|(k, envs)| envs.iter().enumerate().map(move |(i, e)| (k, i, e)))
            .min_by_key(|(_, _, e)| *e.last_used.lock().expect("last used lock"))
            .map(|(k, i, _)| (k.clone(), i))?;
        Some(all.get_mut(&key).expect("key exists").remove(i))
    }

    /// Prepared environments unused for the keep-alive (or dead, or whose
    /// credentials near their end) are dropped, as idle ones are; the rest are
    /// frozen while they wait.
    pub(super) fn reap_snapshots(&self, now: Instant, keep: Duration) -> Vec<Arc<Environment>> {
        let mut reaped = Vec::new();
        let wall = now_millis();
        sweep(
            &mut self.snapshots.lock().expect("snapshots lock"),
            now,
            &mut reaped,
            |e, waited| {
                waited < keep
                    && e.credentials_expire_ms
                        .is_none_or(|at| crate::roles::still_fresh(at, wall))
            },
        );
        reaped
    }

    /// Drop the prepared environments of `function`'s `version` (every version when
    /// `None`): the version or the function is gone.
    pub fn forget_snapshots(&self, function: &str, version: Option<&str>) {
        let gone = take_versions(
            &mut self.snapshots.lock().expect("snapshots lock"),
            function,
            version,
        );
        drop(gone);
    }

    /// Whether a just-published SnapStart version is still initializing (`Pending`).
    pub fn snapshot_pending(&self, function: &str, version: &str) -> bool {
        self.snapshot_pending
            .lock()
            .expect("pending lock")
            .contains(&pool_key(function, version))
    }

    fn take_snapshot(&self, rec: &FunctionRecord) -> Option<Arc<Environment>> {
        let mut all = self.snapshots.lock().expect("snapshots lock");
        let envs = all.get_mut(&pool_key(&rec.name, &rec.version))?;
        while let Some(env) = envs.pop() {
            if usable(&env, rec) {
                drop(all);
                env.set_frozen(false);
                return Some(env);
            }
        }
        None
    }

    /// A new environment for a SnapStart version: a prepared one restored (or, with
    /// none prepared, one initialized now and restored). The invocation prepares the
    /// next once it is served.
    pub(super) async fn restore_snapshot(
        self: &Arc<Self>,
        rec: &Arc<FunctionRecord>,
        timing: &mut Timing,
    ) -> Result<Started, Refused> {
        if self.snapshot_pending(&rec.name, &rec.version) {
            return Err(Refused::SnapStart {
                code: "SnapStartNotReadyException",
                message: "Lambda is initializing your function. You can invoke the function when the function state becomes Active.".into(),
            });
        }
        let (env, cold) = match self.take_snapshot(rec) {
            Some(env) => (env, None),
            None => match self.launch(rec, InitType::SnapStart).await {
                (Some(env), Ok(c)) => (env, Some(c)),
                (env, Err(f)) => return Ok((env, Err(f))),
                (None, Ok(_)) => {
                    return Ok((
                        None,
                        Err(InitFailure::new(
                            "Runtime.Unknown",
                            "no environment started",
                        )),
                    ));
                }
            },
        };
        let started = Instant::now();
        let outcome = await_restore(&env).await;
        let restore_ms = ms(started.elapsed());
        match outcome {
            Ok(()) => {
                env.log.platform(&format!(
                    "RESTORE_REPORT Restore Duration: {restore_ms:.2} ms"
                ));
                timing.restore_ms = Some(restore_ms);
                Ok((Some(env), Ok(cold)))
            }
            Err((refused, error_type)) => {
                env.log.platform(&format!(
                    "RESTORE_REPORT Restore Duration: {restore_ms:.2} ms\tStatus: error\tError Type: {error_type}"
                ));
                env.log.sync().await;
                Err(refused)
            }
        }
    }
}

/// Whether a prepared environment can still be handed out for `rec`: alive, of its
/// revision, with credentials that do not near their end.
fn usable(env: &Environment, rec: &FunctionRecord) -> bool {
    env.revision == rec.revision_id
        && env.exit_reason().is_none()
        && env
            .credentials_expire_ms
            .is_none_or(|at| crate::roles::still_fresh(at, now_millis()))
}

/// Hand `env` out and wait for its `afterRestore` hooks: done when the runtime asks
/// for its first event. A runtime that never waited for a restore (no hooks) is
/// ready as it is.
async fn await_restore(env: &Environment) -> Result<(), (Refused, String)> {
    let mut phase = env.api.phase();
    if !env.api.restore() {
        return Ok(());
    }
    let mut exited = env.exited.clone();
    let hook_failed = |error_type: &str, detail: &str| {
        (
            Refused::SnapStart {
                code: "SnapStartException",
                message: format!(
                    "The afterRestore() runtime hook encountered an error ({error_type}{detail}). For more information, check the function's logs."
                ),
            },
            error_type.to_string(),
        )
    };
    tokio::select! {
        p = phase.wait_for(|p| matches!(p, Phase::Ready | Phase::RestoreFailed { .. })) => {
            match p.map(|p| p.clone()) {
                Ok(Phase::Ready) => Ok(()),
                Ok(Phase::RestoreFailed { error_type, body }) => {
                    let error_type = error_type.unwrap_or_else(|| "Runtime.Unknown".into());
                    let message = serde_json::from_slice::<serde_json::Value>(&body)
                        .ok()
                        .and_then(|v| v["errorMessage"].as_str().map(|m| format!(": {m}")))
                        .unwrap_or_default();
                    Err(hook_failed(&error_type, &message))
                }
                _ => Err(hook_failed("Runtime.Unknown", ": the Runtime API stopped")),
            }
        }
        r = exited.wait_for(Option::is_some) => {
            let reason = r.ok().and_then(|r| r.clone()).map(|i| i.reason).unwrap_or_default();
            Err(hook_failed("Runtime.ExitError", &format!(": Runtime exited with error: {reason}")))
        }
        _ = tokio::time::sleep(RESTORE_TIMEOUT) => Err((
            Refused::SnapStart {
                code: "SnapStartTimeoutException",
                message: "Lambda couldn't restore the snapshot within the timeout limit.".into(),
            },
            "Runtime.RestoreTimeout".into(),
        )),
    }
}
