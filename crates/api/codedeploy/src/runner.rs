//! A deployment's run: the `BeforeAllowTraffic` hooks, then the alias's
//! traffic moved to the target version in the configuration's steps (the
//! target's share as an additional version weight, waiting between steps),
//! then the `AfterAllowTraffic` hooks. A hook that fails (or is not
//! answered within an hour), a step Lambda refuses, or a stop rolls the
//! alias back to the version it started from, and so does one of the group's
//! CloudWatch alarms going to `ALARM` (looked at before each step, every
//! few seconds while waiting, and before the deployment ends). Every change is written to
//! the deployment's record as it happens; the alias is moved through
//! Lambda's API as the deployment's creator.

use crate::Inner;
use crate::store::{Acting, Deployment};
use bytes::Bytes;
use http::{Method, Request};
use nimbus_model::time::now_millis;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// How long a hook may take to report its status, as on CodeDeploy.
const HOOK_TIMEOUT: Duration = Duration::from_secs(3600);
/// How often a waiting deployment looks at its record (hook answers, stops).
const TICK: Duration = Duration::from_millis(200);
/// How often a waiting deployment asks CloudWatch about its alarms.
const ALARM_POLL_MS: u64 = 2_000;

pub(crate) fn start(inner: Arc<Inner>, id: String, ext: http::Extensions) {
    tokio::spawn(async move { run(&inner, &id, &ext).await });
}

fn record(inner: &Inner, id: &str, f: impl FnOnce(&mut Deployment)) {
    let changed = inner.store.deployments.change(id, |d| {
        f(d);
        Ok::<_, nimbus_storage::Error>(())
    });
    if let Err(e) = changed {
        tracing::error!(deployment = id, error = %e, "record a deployment's progress");
    }
}

fn current(inner: &Inner, id: &str) -> Option<Arc<Deployment>> {
    inner.store.deployments.get(id)
}

/// Why a run stopped before its end: an error (code, message), or a stop.
enum Halt {
    Error(&'static str, String),
    Stopped,
}

async fn run(inner: &Inner, id: &str, ext: &http::Extensions) {
    record(inner, id, |d| {
        d.status = "InProgress".into();
        d.started_ms = Some(now_millis());
    });
    let Some(d) = current(inner, id) else {
        return;
    };
    let routing = crate::operations::config_json(inner, &d.config)
        .map(|c| c["trafficRoutingConfig"].clone())
        .unwrap_or(Value::Null);
    let mut shifted = false;
    let outcome = async {
        hooks(inner, id, "BeforeAllowTraffic", ext).await?;
        for (share, wait) in crate::configs::steps(&routing) {
            stop_requested(inner, id)?;
            alarms_quiet(inner, &d, ext).await?;
            set_share(inner, &d, share, ext).await?;
            shifted = true;
            record(inner, id, |d| d.shifted = share);
            wait_minutes(inner, &d, wait, ext).await?;
        }
        hooks(inner, id, "AfterAllowTraffic", ext).await?;
        alarms_quiet(inner, &d, ext).await
    }
    .await;
    let (status, error, roll_back) = match outcome {
        Ok(()) => ("Succeeded", None, false),
        Err(Halt::Stopped) => {
            let back = current(inner, id).and_then(|d| d.stop_requested) != Some(false);
            (
                "Stopped",
                Some((
                    "DEPLOYMENT_STOPPED".to_string(),
                    "The deployment was stopped".to_string(),
                )),
                back,
            )
        }
        Err(Halt::Error("ALARM_ACTIVE", message)) => {
            ("Stopped", Some(("ALARM_ACTIVE".to_string(), message)), true)
        }
        Err(Halt::Error(code, message)) => ("Failed", Some((code.to_string(), message)), true),
    };
    let mut rolled_back = false;
    if roll_back && shifted {
        match set_share(inner, &d, 0, ext).await {
            Ok(()) => rolled_back = true,
            Err(Halt::Error(_, why)) => {
                tracing::warn!(deployment = id, %why, "roll an alias back");
            }
            Err(Halt::Stopped) => {}
        }
    }
    record(inner, id, |d| {
        d.status = status.into();
        d.error = error;
        d.rolled_back = rolled_back;
        if rolled_back {
            d.shifted = 0;
        }
        d.completed_ms = Some(now_millis());
    });
}

fn stop_requested(inner: &Inner, id: &str) -> Result<(), Halt> {
    match current(inner, id) {
        Some(d) if d.stop_requested.is_none() => Ok(()),
        _ => Err(Halt::Stopped),
    }
}

/// Wait `minutes`, by the wall clock, looking for a stop and the group's
/// alarms meanwhile.
async fn wait_minutes(
    inner: &Inner,
    d: &Deployment,
    minutes: u64,
    ext: &http::Extensions,
) -> Result<(), Halt> {
    let due = now_millis() + minutes * 60_000;
    let mut asked = 0;
    while now_millis() < due {
        stop_requested(inner, &d.id)?;
        if now_millis().saturating_sub(asked) >= ALARM_POLL_MS {
            alarms_quiet(inner, d, ext).await?;
            asked = now_millis();
        }
        let left = Duration::from_millis(due.saturating_sub(now_millis()));
        tokio::time::sleep(left.min(TICK)).await;
    }
    Ok(())
}

/// `Err(ALARM_ACTIVE)` when one of the deployment's alarms is in `ALARM`
/// (asked of CloudWatch as the deployment's creator); an alarm CloudWatch
/// does not know counts as quiet, as CodeDeploy ignores missing alarms only
/// when told to, so it is reported in the log.
async fn alarms_quiet(inner: &Inner, d: &Deployment, ext: &http::Extensions) -> Result<(), Halt> {
    if d.alarms.is_empty() {
        return Ok(());
    }
    let body = json!({"AlarmNames": d.alarms});
    let mut req = Request::builder()
        .method(Method::POST)
        .uri("/")
        .header(
            "x-amz-target",
            "GraniteServiceVersion20100801.DescribeAlarms",
        )
        .header("content-type", "application/x-amz-json-1.0")
        .header("host", "localhost")
        .body(Bytes::from(body.to_string()))
        .map_err(|e| Halt::Error("INTERNAL_ERROR", e.to_string()))?;
    *req.extensions_mut() = ext.clone();
    let resp = inner.calls.call("monitoring", req).await;
    let v: Value = serde_json::from_slice(resp.body()).unwrap_or(Value::Null);
    if !resp.status().is_success() {
        return Err(Halt::Error(
            "ALARM_CONFIG_ERROR",
            format!(
                "The deployment's alarms could not be read: {}",
                v["message"].as_str().unwrap_or("CloudWatch refused")
            ),
        ));
    }
    let found: Vec<&str> = v["MetricAlarms"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["AlarmName"].as_str())
        .collect();
    for missing in d.alarms.iter().filter(|n| !found.contains(&n.as_str())) {
        tracing::warn!(deployment = %d.id, alarm = %missing, "a deployment's alarm does not exist");
    }
    let active: Vec<&str> = v["MetricAlarms"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["StateValue"] == "ALARM")
        .filter_map(|a| a["AlarmName"].as_str())
        .collect();
    if active.is_empty() {
        Ok(())
    } else {
        Err(Halt::Error(
            "ALARM_ACTIVE",
            format!(
                "One or more alarms have been activated according to the Amazon CloudWatch metrics. The alarm(s) that were activated: {}",
                active.join(", ")
            ),
        ))
    }
}

/// A Lambda REST call as the deployment's creator; its JSON answer.
async fn lambda(
    inner: &Inner,
    ext: &http::Extensions,
    method: Method,
    path: &str,
    body: Value,
    event: bool,
) -> Result<Value, String> {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .header("host", "localhost");
    if event {
        req = req.header("x-amz-invocation-type", "Event");
    }
    let mut req = req
        .body(Bytes::from(body.to_string()))
        .map_err(|e| e.to_string())?;
    *req.extensions_mut() = ext.clone();
    let resp = inner.calls.call("lambda", req).await;
    let status = resp.status();
    let v: Value = serde_json::from_slice(resp.body()).unwrap_or(Value::Null);
    if status.is_success() {
        Ok(v)
    } else {
        Err(v["Message"]
            .as_str()
            .or(v["message"].as_str())
            .map_or_else(|| format!("Lambda answered {status}"), str::to_string))
    }
}

/// Give the target version `share` percent of the alias's traffic (0: all
/// back to the current version; 100: the target is the alias's version).
async fn set_share(
    inner: &Inner,
    d: &Deployment,
    share: u32,
    ext: &http::Extensions,
) -> Result<(), Halt> {
    let body = match share {
        100 => json!({"FunctionVersion": d.target_version,
                      "RoutingConfig": {"AdditionalVersionWeights": {}}}),
        0 => json!({"FunctionVersion": d.current_version,
                    "RoutingConfig": {"AdditionalVersionWeights": {}}}),
        s => json!({"FunctionVersion": d.current_version, "RoutingConfig": {
            "AdditionalVersionWeights": {d.target_version.clone(): f64::from(s) / 100.0}}}),
    };
    let path = format!("/2015-03-31/functions/{}/aliases/{}", d.function, d.alias);
    lambda(inner, ext, Method::PUT, &path, body, false)
        .await
        .map(|_| ())
        .map_err(|why| {
            Halt::Error(
                "INTERNAL_ERROR",
                format!("Lambda refused to move alias {}: {why}", d.alias),
            )
        })
}

/// Run the deployment's hooks of `event`, one after another: each function
/// is invoked asynchronously with the deployment and execution ids, and
/// answers through `PutLifecycleEventHookExecutionStatus`.
async fn hooks(inner: &Inner, id: &str, event: &str, ext: &http::Extensions) -> Result<(), Halt> {
    let Some(d) = current(inner, id) else {
        return Err(Halt::Stopped);
    };
    for h in d.hooks.iter().filter(|h| h.event == event) {
        stop_requested(inner, id)?;
        record(inner, id, |d| {
            if let Some(x) = d
                .hooks
                .iter_mut()
                .find(|x| x.execution_id == h.execution_id)
            {
                x.status = "InProgress".into();
            }
        });
        let payload = json!({"DeploymentId": id, "LifecycleEventHookExecutionId": h.execution_id});
        let path = format!("/2015-03-31/functions/{}/invocations", h.function);
        if let Err(why) = lambda(inner, ext, Method::POST, &path, payload, true).await {
            return Err(Halt::Error(
                "HOOK_EXECUTION_FAILURE",
                format!(
                    "The {event} hook {} could not be invoked: {why}",
                    h.function
                ),
            ));
        }
        let due = tokio::time::Instant::now() + HOOK_TIMEOUT;
        loop {
            let status = current(inner, id)
                .and_then(|d| {
                    d.hooks
                        .iter()
                        .find(|x| x.execution_id == h.execution_id)
                        .map(|x| x.status.clone())
                })
                .unwrap_or_default();
            match status.as_str() {
                "Succeeded" => break,
                "Failed" => {
                    return Err(Halt::Error(
                        "HOOK_EXECUTION_FAILURE",
                        format!("The {event} hook {} reported Failed", h.function),
                    ));
                }
                _ => {}
            }
            stop_requested(inner, id)?;
            if tokio::time::Instant::now() > due {
                return Err(Halt::Error(
                    "HOOK_EXECUTION_FAILURE",
                    format!(
                        "The {event} hook {} did not report its status within an hour",
                        h.function
                    ),
                ));
            }
            tokio::time::sleep(TICK).await;
        }
    }
    Ok(())
}

/// Fail the deployments a restart interrupted and move their aliases back,
/// as their creators.
pub(crate) fn resume(
    inner: &Arc<Inner>,
    authorizer: Option<&Arc<dyn nimbus_api_common::authz::Authorizer>>,
) -> usize {
    let interrupted: Vec<Arc<Deployment>> = inner
        .store
        .deployments
        .all()
        .into_iter()
        .filter(|d| !d.finished())
        .collect();
    for d in &interrupted {
        let mut ext = http::Extensions::new();
        if let Some(Acting {
            arn,
            account,
            user_id,
            access_key_id,
        }) = d.acting.clone()
        {
            ext.insert(nimbus_api_common::Caller {
                arn,
                account,
                user_id,
                access_key_id,
            });
        }
        if let Some(a) = authorizer {
            ext.insert(a.clone());
        }
        let (inner, d) = (inner.clone(), d.clone());
        tokio::spawn(async move {
            let back = d.shifted > 0 && set_share(&inner, &d, 0, &ext).await.is_ok();
            record(&inner, &d.id, |x| {
                x.status = "Failed".into();
                x.error = Some((
                    "INTERNAL_ERROR".into(),
                    "Nimbus stopped while the deployment was in progress".into(),
                ));
                x.rolled_back = back;
                x.completed_ms = Some(now_millis());
            });
        });
    }
    interrupted.len()
}
