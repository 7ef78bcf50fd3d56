//! Requests through `handle` against a real store and a fake Lambda that
//! records the alias's moves.

use super::*;
use serde_json::{Value, json};
use std::sync::Mutex;

#[derive(Default)]
struct FakeLambda {
    calls: Mutex<Vec<(String, String, Value)>>,
}

impl Calls for FakeLambda {
    fn call(&self, _signing: &'static str, req: Request<Bytes>) -> BoxFuture<'_, Response<Bytes>> {
        let body: Value = serde_json::from_slice(req.body()).unwrap_or(Value::Null);
        self.calls.lock().unwrap().push((
            req.method().to_string(),
            req.uri().path().to_string(),
            body,
        ));
        Box::pin(async { Response::new(Bytes::from_static(b"{}")) })
    }
}

struct Env {
    api: CodeDeployApi,
    lambda: Arc<FakeLambda>,
    _dir: tempfile::TempDir,
}

fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let kv: Arc<dyn nimbus_storage::KvEngine> =
        Arc::new(nimbus_storage_embedded::EmbeddedKv::open(&dir.path().join("db")).unwrap());
    let lambda = Arc::new(FakeLambda::default());
    let api = CodeDeployApi::new(kv, lambda.clone()).unwrap();
    Env {
        api,
        lambda,
        _dir: dir,
    }
}

impl Env {
    async fn send(&self, op: &str, body: Value) -> (u16, Value) {
        let mut req = Request::new(Bytes::from(body.to_string()));
        *req.method_mut() = http::Method::POST;
        req.headers_mut().insert(
            "x-amz-target",
            http::HeaderValue::from_str(&format!("CodeDeploy_20141006.{op}")).unwrap(),
        );
        let r = self.api.handle(req, "rid").await;
        let v = serde_json::from_slice(r.body()).unwrap_or(Value::Null);
        (r.status().as_u16(), v)
    }

    async fn settled(&self, id: &str) -> Value {
        for _ in 0..500 {
            let (_, d) = self
                .send("GetDeployment", json!({"deploymentId": id}))
                .await;
            let status = d["deploymentInfo"]["status"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if matches!(status.as_str(), "Succeeded" | "Failed" | "Stopped") {
                return d["deploymentInfo"].clone();
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("deployment {id} did not settle");
    }
}

fn appspec(hooks: &str) -> Value {
    let content = format!(
        "version: 0.0\nResources:\n  - fn:\n      Type: AWS::Lambda::Function\n      Properties:\n        Name: f\n        Alias: live\n        CurrentVersion: '1'\n        TargetVersion: '2'\n{hooks}"
    );
    json!({"revisionType": "AppSpecContent", "appSpecContent": {"content": content}})
}

async fn app_and_group(e: &Env, config: &str) {
    let (s, _) = e
        .send(
            "CreateApplication",
            json!({"applicationName": "a", "computePlatform": "Lambda"}),
        )
        .await;
    assert_eq!(s, 200);
    let (s, v) = e
        .send(
            "CreateDeploymentGroup",
            json!({"applicationName": "a", "deploymentGroupName": "g",
                   "serviceRoleArn": "arn:aws:iam::000000000000:role/cd", "deploymentConfigName": config}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
}

#[tokio::test]
async fn all_at_once_moves_the_alias_after_its_hook_succeeds() {
    let e = env();
    app_and_group(&e, "CodeDeployDefault.LambdaAllAtOnce").await;
    let (s, v) = e
        .send(
            "CreateDeployment",
            json!({"applicationName": "a", "deploymentGroupName": "g",
                   "revision": appspec("Hooks:\n  - BeforeAllowTraffic: check\n")}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let id = v["deploymentId"].as_str().unwrap().to_string();
    // The hook is invoked with its execution id; it answers Succeeded.
    let mut execution = String::new();
    for _ in 0..500 {
        let calls = e.lambda.calls.lock().unwrap().clone();
        if let Some((_, path, body)) = calls.first() {
            assert_eq!(path, "/2015-03-31/functions/check/invocations");
            execution = body["LifecycleEventHookExecutionId"]
                .as_str()
                .unwrap()
                .to_string();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let (s, v) = e
        .send(
            "PutLifecycleEventHookExecutionStatus",
            json!({"deploymentId": id, "lifecycleEventHookExecutionId": execution, "status": "Succeeded"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let d = e.settled(&id).await;
    assert_eq!(d["status"], "Succeeded");
    let calls = e.lambda.calls.lock().unwrap().clone();
    let (method, path, body) = &calls[1];
    assert_eq!(
        (method.as_str(), path.as_str()),
        ("PUT", "/2015-03-31/functions/f/aliases/live")
    );
    assert_eq!(body["FunctionVersion"], "2");
    // A second answer for the same hook is refused.
    let (s, v) = e
        .send(
            "PutLifecycleEventHookExecutionStatus",
            json!({"deploymentId": id, "lifecycleEventHookExecutionId": execution, "status": "Failed"}),
        )
        .await;
    assert_eq!(
        (s, v["__type"].as_str()),
        (400, Some("LifecycleEventAlreadyCompletedException"))
    );
}

#[tokio::test]
async fn a_failed_hook_after_traffic_rolls_the_alias_back() {
    let e = env();
    app_and_group(&e, "CodeDeployDefault.LambdaAllAtOnce").await;
    let (_, v) = e
        .send(
            "CreateDeployment",
            json!({"applicationName": "a", "deploymentGroupName": "g",
                   "revision": appspec("Hooks:\n  - AfterAllowTraffic: check\n")}),
        )
        .await;
    let id = v["deploymentId"].as_str().unwrap().to_string();
    let execution = loop {
        let calls = e.lambda.calls.lock().unwrap().clone();
        if let Some((_, _, body)) = calls.iter().find(|(_, p, _)| p.ends_with("/invocations")) {
            break body["LifecycleEventHookExecutionId"]
                .as_str()
                .unwrap()
                .to_string();
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    e.send(
        "PutLifecycleEventHookExecutionStatus",
        json!({"deploymentId": id, "lifecycleEventHookExecutionId": execution, "status": "Failed"}),
    )
    .await;
    let d = e.settled(&id).await;
    assert_eq!(d["status"], "Failed");
    assert_eq!(d["errorInformation"]["code"], "HOOK_EXECUTION_FAILURE");
    assert!(d.get("rollbackInfo").is_some());
    let calls = e.lambda.calls.lock().unwrap().clone();
    assert_eq!(
        calls.last().unwrap().2["FunctionVersion"],
        "1",
        "back to the current version"
    );
}

#[tokio::test]
async fn canaries_weight_the_target_until_stopped() {
    let e = env();
    let (s, v) = e
        .send(
            "CreateDeploymentConfig",
            json!({"deploymentConfigName": "slow", "computePlatform": "Lambda",
                   "trafficRoutingConfig": {"type": "TimeBasedCanary",
                       "timeBasedCanary": {"canaryPercentage": 20, "canaryInterval": 60}}}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    app_and_group(&e, "slow").await;
    let (_, v) = e
        .send(
            "CreateDeployment",
            json!({"applicationName": "a", "deploymentGroupName": "g", "revision": appspec("")}),
        )
        .await;
    let id = v["deploymentId"].as_str().unwrap().to_string();
    loop {
        if !e.lambda.calls.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let first = e.lambda.calls.lock().unwrap()[0].2.clone();
    assert_eq!(first["FunctionVersion"], "1");
    assert_eq!(first["RoutingConfig"]["AdditionalVersionWeights"]["2"], 0.2);
    // One deployment at a time per group.
    let (s, v) = e
        .send(
            "CreateDeployment",
            json!({"applicationName": "a", "deploymentGroupName": "g", "revision": appspec("")}),
        )
        .await;
    assert_eq!(
        (s, v["__type"].as_str()),
        (400, Some("DeploymentLimitExceededException"))
    );
    let (s, _) = e.send("StopDeployment", json!({"deploymentId": id})).await;
    assert_eq!(s, 200);
    let d = e.settled(&id).await;
    assert_eq!(d["status"], "Stopped");
    let calls = e.lambda.calls.lock().unwrap().clone();
    assert_eq!(
        calls.last().unwrap().2["RoutingConfig"]["AdditionalVersionWeights"],
        json!({})
    );
}

#[tokio::test]
async fn what_codedeploy_refuses() {
    let e = env();
    let (s, v) = e
        .send(
            "CreateApplication",
            json!({"applicationName": "s", "computePlatform": "Server"}),
        )
        .await;
    assert_eq!(
        (s, v["__type"].as_str()),
        (400, Some("InvalidComputePlatformException"))
    );
    let (s, v) = e
        .send("GetApplication", json!({"applicationName": "nope"}))
        .await;
    assert_eq!(
        (s, v["__type"].as_str()),
        (400, Some("ApplicationDoesNotExistException"))
    );
    e.send(
        "CreateApplication",
        json!({"applicationName": "a", "computePlatform": "Lambda"}),
    )
    .await;
    let (s, v) = e
        .send(
            "CreateDeploymentGroup",
            json!({"applicationName": "a", "deploymentGroupName": "g", "serviceRoleArn": "r",
                   "alarmConfiguration": {"enabled": true, "alarms": [{"name": ""}]}}),
        )
        .await;
    assert_eq!(
        (s, v["__type"].as_str()),
        (400, Some("InvalidAlarmConfigException"))
    );
    let (s, v) = e
        .send(
            "CreateDeploymentGroup",
            json!({"applicationName": "a", "deploymentGroupName": "g", "serviceRoleArn": "r",
                   "deploymentConfigName": "nope"}),
        )
        .await;
    assert_eq!(
        (s, v["__type"].as_str()),
        (400, Some("DeploymentConfigDoesNotExistException"))
    );
    let (s, v) = e
        .send("GetDeployment", json!({"deploymentId": "d-NOPE"}))
        .await;
    assert_eq!(
        (s, v["__type"].as_str()),
        (400, Some("DeploymentDoesNotExistException"))
    );
}
