//! Map states: items chosen and selected, iterations run under
//! `MaxConcurrency` with their history events, failures tolerated up to a
//! count or a percentage.

use super::*;

impl Run {
    /// Run a Map state's iterations; the state's value is their outputs in order.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn map_state(
        self: Arc<Run>,
        state: &State,
        raw: &Value,
        effective: &Value,
        thread: &Thread,
        entered_ms: u64,
        retry_count: u32,
        vars: &Vars,
        ctx: &Value,
    ) -> Result<Value, Failure> {
        let Kind::Map {
            processor,
            max_concurrency,
            max_concurrency_path,
            tolerated_percentage,
            tolerated_count,
            distributed,
            ..
        } = &state.kind
        else {
            return Err(Failure::runtime(format!(
                "{} is not a Map state",
                state.name
            )));
        };
        let max_concurrency = match max_concurrency_path {
            Some(p) => {
                let v = Data {
                    input: effective,
                    ctx,
                    vars,
                }
                .select(p)?;
                v.as_u64().ok_or_else(|| {
                    Failure::runtime(format!(
                        "The MaxConcurrencyPath parameter does not reference a non-negative integer: {v}"
                    ))
                })? as usize
            }
            None => *max_concurrency,
        };
        if let Some(d) = distributed {
            return self
                .distributed_map(
                    state,
                    d,
                    raw,
                    effective,
                    thread,
                    (entered_ms, retry_count),
                    vars,
                    ctx,
                    max_concurrency,
                )
                .await;
        }
        let max_concurrency = &max_concurrency;
        let data = Data {
            input: effective,
            ctx,
            vars,
        };
        let items = input_items(state, raw, &data)?;
        self.emit(
            thread,
            "MapStateStarted",
            Some((
                "mapStateStartedEventDetails",
                json!({"length": items.len()}),
            )),
        );
        let limit = if *max_concurrency == 0 {
            items.len().max(1)
        } else {
            (*max_concurrency).min(items.len().max(1))
        };
        let permits = Arc::new(tokio::sync::Semaphore::new(limit));
        let processor: Arc<Machine> = processor.clone();
        let mut set = tokio::task::JoinSet::new();
        for (i, item) in items.iter().enumerate() {
            let selected =
                self.select_item(state, raw, &data, (entered_ms, retry_count), (i, item))?;
            let (run, processor, permits, thread) = (
                self.clone(),
                processor.clone(),
                permits.clone(),
                thread.clone(),
            );
            let name = state.name.clone();
            let branch_vars = vars.clone();
            set.spawn(async move {
                let _permit = permits.acquire_owned().await;
                let d = json!({"name": name, "index": i});
                run.emit(
                    &thread,
                    "MapIterationStarted",
                    Some(("mapIterationStartedEventDetails", d.clone())),
                );
                let start = Thread::new(thread.last.load(std::sync::atomic::Ordering::Relaxed));
                let r = run
                    .clone()
                    .run_machine(processor, selected, start, None, None, false, branch_vars)
                    .await;
                let (kind, key) = if r.is_ok() {
                    ("MapIterationSucceeded", "mapIterationSucceededEventDetails")
                } else {
                    ("MapIterationFailed", "mapIterationFailedEventDetails")
                };
                run.emit(&thread, kind, Some((key, d)));
                (i, r)
            });
        }
        let n = items.len();
        // Beyond either limit the state fails (with neither, at the first
        // failure).
        let tolerated = |failed: usize| {
            (tolerated_count.is_some() || tolerated_percentage.is_some())
                && tolerated_count.is_none_or(|c| failed as u64 <= c)
                && tolerated_percentage
                    .is_none_or(|p| n == 0 || (failed as f64) * 100.0 / (n as f64) <= p)
        };
        let mut out = vec![Value::Null; n];
        let mut failed = 0;
        while let Some(joined) = set.join_next().await {
            let (i, r) = joined.map_err(|e| Failure::runtime(format!("iteration stopped: {e}")))?;
            match r {
                Ok(v) => out[i] = v,
                Err(f) => {
                    failed += 1;
                    if !tolerated(failed) {
                        set.abort_all();
                        self.emit(thread, "MapStateFailed", None);
                        if tolerated_count.is_some() || tolerated_percentage.is_some() {
                            return Err(Failure::new(
                                "States.ExceedToleratedFailureThreshold",
                                format!(
                                    "The specified tolerated failure threshold was exceeded: {failed} of {n} items failed"
                                ),
                            ));
                        }
                        return Err(f);
                    }
                    out[i] = json!({"Error": f.error, "Cause": f.cause});
                }
            }
        }
        self.emit(thread, "MapStateSucceeded", None);
        Ok(Value::Array(out))
    }
}

/// The items a Map state runs over, from its input: `Items` (JSONata) or
/// what `ItemsPath` selects, which must be an array.
pub(super) fn input_items(state: &State, raw: &Value, data: &Data) -> Result<Vec<Value>, Failure> {
    let Kind::Map {
        items_path,
        items: items_expr,
        ..
    } = &state.kind
    else {
        return Err(Failure::runtime(format!(
            "{} is not a Map state",
            state.name
        )));
    };
    let v = if state.jsonata {
        jeval_or(items_expr, &states(raw, data.ctx), data.vars, raw)?
    } else {
        match items_path {
            Some(p) => data.select(p)?,
            None => data.input.clone(),
        }
    };
    match v {
        Value::Array(items) => Ok(items),
        _ => Err(Failure::runtime(format!(
            "Invalid path '{}': the ItemsPath must reference a JSON array",
            items_path.as_ref().map(|p| p.text.as_str()).unwrap_or("$")
        ))),
    }
}

impl Run {
    /// Item `i` as its iteration (or child execution) gets it: through the
    /// `ItemSelector` (or `Parameters`), with `$$.Map.Item` set.
    pub(super) fn select_item(
        &self,
        state: &State,
        raw: &Value,
        data: &Data,
        (entered_ms, retry_count): (u64, u32),
        (i, item): (usize, &Value),
    ) -> Result<Value, Failure> {
        let Kind::Map {
            item_selector,
            item_selector_expr,
            ..
        } = &state.kind
        else {
            return Err(Failure::runtime(format!(
                "{} is not a Map state",
                state.name
            )));
        };
        let item_ctx = self.context(
            state,
            entered_ms,
            retry_count,
            None,
            Some(&(i, item.clone())),
        );
        match (item_selector, item_selector_expr) {
            (_, Some(t)) => jeval(t, &states(raw, &item_ctx), data.vars),
            (Some(t), None) => render(
                t,
                &Data {
                    input: data.input,
                    ctx: &item_ctx,
                    vars: data.vars,
                },
            ),
            (None, None) => Ok(item.clone()),
        }
    }
}
