//! Task states: the resource's integration pattern (request-response, .sync, .waitForTaskToken), timeouts and heartbeats, retries with back-off.

use super::*;

impl Run {
    /// Task, Parallel and Map: attempts under `Retry`, then `Catch`.
    pub(super) async fn with_retries(
        self: Arc<Run>,
        state: &State,
        raw: &Value,
        thread: &Thread,
        map_item: Option<&(usize, Value)>,
        entered_ms: u64,
        vars: &mut Vars,
    ) -> Result<(Value, Option<String>), Failure> {
        let base_ctx = self.context(state, entered_ms, 0, None, map_item);
        let effective = if state.jsonata {
            raw.clone()
        } else {
            select_input(state, raw, &base_ctx, vars)?
        };
        let mut attempts = vec![0u32; state.retry.len()];
        let mut retry_count = 0;
        loop {
            let attempt = self
                .clone()
                .attempt(
                    state,
                    raw,
                    &effective,
                    thread,
                    map_item,
                    entered_ms,
                    retry_count,
                    vars,
                )
                .await;
            let ctx = self.context(state, entered_ms, retry_count, None, map_item);
            let failure = match attempt {
                Ok(result) if state.jsonata => {
                    let mut st = states(raw, &ctx);
                    st["result"] = result.clone();
                    let done = jeval_or(&state.output, &st, vars, &result).and_then(|out| {
                        apply_assign(&state.assign, &result, &ctx, &st, vars).map(|()| out)
                    });
                    match done {
                        Ok(out) => return Ok((out, state.next.clone())),
                        Err(f) => f,
                    }
                }
                Ok(result) => {
                    let selected = match &state.result_selector {
                        Some(t) => render(
                            t,
                            &Data {
                                input: &result,
                                ctx: &ctx,
                                vars,
                            },
                        )?,
                        None => result,
                    };
                    match finish(state, raw, selected.clone(), &ctx, vars) {
                        Ok(output) => {
                            apply_assign(&state.assign, &selected, &ctx, &Value::Null, vars)?;
                            return Ok((output, state.next.clone()));
                        }
                        Err(f) if f.error == "States.Runtime" => return Err(f),
                        Err(f) => f,
                    }
                }
                Err(f) => f,
            };
            if failure.error == "States.Runtime" {
                return Err(failure);
            }
            if let Some(i) = state
                .retry
                .iter()
                .position(|r| error_matches(&r.errors, &failure))
            {
                let r = &state.retry[i];
                if attempts[i] < r.max_attempts {
                    let delay = backoff(r, attempts[i]);
                    attempts[i] += 1;
                    retry_count += 1;
                    tokio::time::sleep(delay).await;
                    continue;
                }
            }
            if let Some(c) = state
                .catch
                .iter()
                .find(|c| error_matches(&c.errors, &failure))
            {
                return caught(state, c, raw, &failure, &ctx, vars);
            }
            return Err(failure);
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) async fn task(
        self: Arc<Run>,
        state: &State,
        resource: &Resource,
        params: Value,
        thread: &Thread,
        waiter: Option<TokenWait>,
        timeout: Option<u64>,
        heartbeat: Option<u64>,
    ) -> Result<Value, Failure> {
        let (lambda, rtype, rname) = match resource {
            Resource::LambdaArn(arn) => (true, "lambda".to_string(), arn.clone()),
            Resource::Service {
                service, action, ..
            } => (
                false,
                service.clone(),
                format!("{action}{}", resource.pattern_suffix()),
            ),
        };
        if lambda {
            self.emit(
                thread,
                "LambdaFunctionScheduled",
                Some((
                    "lambdaFunctionScheduledEventDetails",
                    json!({"resource": rname, "input": params.to_string(), "inputDetails": {"truncated": false}}),
                )),
            );
            self.emit(thread, "LambdaFunctionStarted", None);
        } else {
            let mut d = json!({"resourceType": rtype, "resource": rname, "region": region_of(&self.spec.machine_arn), "parameters": params.to_string()});
            if let Some(t) = timeout {
                d["timeoutInSeconds"] = json!(t);
            }
            if let Some(h) = heartbeat {
                d["heartbeatInSeconds"] = json!(h);
            }
            self.emit(
                thread,
                "TaskScheduled",
                Some(("taskScheduledEventDetails", d)),
            );
            self.emit(
                thread,
                "TaskStarted",
                Some((
                    "taskStartedEventDetails",
                    json!({"resourceType": rtype, "resource": rname}),
                )),
            );
        }
        let tctx = TaskContext {
            execution_arn: self.spec.execution_arn.clone(),
            state_name: state.name.clone(),
            role_arn: self.spec.role_arn.clone(),
            trace_header: self.spec.trace_header.clone(),
        };
        let integrations = self.integrations.clone();
        let work = async {
            let result = integrations.call(resource, params, &tctx).await?;
            let Some((rx, hb)) = waiter else {
                return Ok(result);
            };
            self.emit(
                thread,
                "TaskSubmitted",
                Some((
                    "taskSubmittedEventDetails",
                    json!({"resourceType": rtype, "resource": rname, "output": result.to_string(), "outputDetails": {"truncated": false}}),
                )),
            );
            let mut rx = rx;
            loop {
                let beat = async {
                    match heartbeat {
                        Some(h) => {
                            tokio::select! {
                                _ = hb.notified() => true,
                                _ = tokio::time::sleep(Duration::from_secs(h)) => false,
                            }
                        }
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    r = &mut rx => {
                        return r.unwrap_or_else(|_| Err(Failure::runtime("the task token was dropped")));
                    }
                    alive = beat => {
                        if !alive {
                            return Err(Failure::heartbeat_timeout());
                        }
                    }
                }
            }
        };
        let r = match timeout {
            Some(t) => match tokio::time::timeout(Duration::from_secs(t), work).await {
                Ok(r) => r,
                Err(_) => Err(Failure::new(
                    "States.Timeout",
                    "The task did not complete in time.",
                )),
            },
            None => work.await,
        };
        match &r {
            Ok(v) => {
                if lambda {
                    self.emit(
                        thread,
                        "LambdaFunctionSucceeded",
                        Some((
                            "lambdaFunctionSucceededEventDetails",
                            json!({"output": v.to_string(), "outputDetails": {"truncated": false}}),
                        )),
                    );
                } else {
                    self.emit(
                        thread,
                        "TaskSucceeded",
                        Some((
                            "taskSucceededEventDetails",
                            json!({"resourceType": rtype, "resource": rname, "output": v.to_string(), "outputDetails": {"truncated": false}}),
                        )),
                    );
                }
            }
            Err(f) => {
                let timed_out = f.error == "States.Timeout";
                let (kind, key) = match (lambda, timed_out) {
                    (true, true) => (
                        "LambdaFunctionTimedOut",
                        "lambdaFunctionTimedOutEventDetails",
                    ),
                    (true, false) => ("LambdaFunctionFailed", "lambdaFunctionFailedEventDetails"),
                    (false, true) => ("TaskTimedOut", "taskTimedOutEventDetails"),
                    (false, false) => ("TaskFailed", "taskFailedEventDetails"),
                };
                let mut d = json!({"error": f.error, "cause": f.cause});
                if !lambda {
                    d["resourceType"] = json!(rtype);
                    d["resource"] = json!(rname);
                }
                self.emit(thread, kind, Some((key, d)));
            }
        }
        r
    }
}
