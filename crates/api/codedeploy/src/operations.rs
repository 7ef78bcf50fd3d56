//! One handler per CodeDeploy operation, answering in CodeDeploy's shapes
//! (times in epoch seconds).

use crate::store::{Acting, Application, Config, Deployment, FORMAT, Group, Hook};
use crate::{CodeDeployError, Inner, Operation, configs, runner};
use nimbus_model::time::now_millis;
use serde_json::{Map, Value, json};
use std::sync::Arc;

type Answer = Result<Value, CodeDeployError>;

fn seconds(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

fn str<'a>(p: &'a Value, k: &str) -> Result<&'a str, CodeDeployError> {
    p.get(k)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| CodeDeployError::required(k))
}

fn new_id(prefix: &str) -> String {
    let hex = uuid::Uuid::new_v4().simple().to_string().to_uppercase();
    format!("{prefix}{}", &hex[..9])
}

pub(crate) fn execute(
    inner: &Arc<Inner>,
    op: Operation,
    p: &Value,
    ext: &http::Extensions,
) -> Answer {
    use Operation::*;
    match op {
        CreateApplication => create_application(inner, p),
        GetApplication => {
            let a = application(inner, str(p, "applicationName")?)?;
            Ok(json!({"application": application_json(&a)}))
        }
        DeleteApplication => delete_application(inner, p),
        ListApplications => {
            let mut names: Vec<String> = inner
                .store
                .applications
                .all()
                .iter()
                .map(|a| a.name.clone())
                .collect();
            names.sort();
            Ok(json!({"applications": names}))
        }
        CreateDeploymentGroup => create_group(inner, p),
        GetDeploymentGroup => {
            let g = group(
                inner,
                str(p, "applicationName")?,
                str(p, "deploymentGroupName")?,
            )?;
            Ok(json!({"deploymentGroupInfo": group_json(inner, &g)}))
        }
        UpdateDeploymentGroup => update_group(inner, p),
        DeleteDeploymentGroup => {
            let g = group(
                inner,
                str(p, "applicationName")?,
                str(p, "deploymentGroupName")?,
            )?;
            inner.store.groups.delete(&g.key)?;
            Ok(json!({"hooksNotCleanedUp": []}))
        }
        ListDeploymentGroups => {
            let app = application(inner, str(p, "applicationName")?)?;
            let mut names: Vec<String> = inner
                .store
                .groups
                .prefixed(&format!("{}/", app.name))
                .iter()
                .map(|g| g.name.clone())
                .collect();
            names.sort();
            Ok(json!({"applicationName": app.name, "deploymentGroups": names}))
        }
        CreateDeploymentConfig => create_config(inner, p),
        GetDeploymentConfig => {
            let name = str(p, "deploymentConfigName")?;
            Ok(json!({"deploymentConfigInfo": config_json(inner, name)?}))
        }
        DeleteDeploymentConfig => delete_config(inner, p),
        ListDeploymentConfigs => {
            let mut names: Vec<String> = configs::PREDEFINED
                .iter()
                .map(|(n, ..)| n.to_string())
                .chain(inner.store.configs.all().iter().map(|c| c.name.clone()))
                .collect();
            names.sort();
            Ok(json!({"deploymentConfigsList": names}))
        }
        CreateDeployment => create_deployment(inner, p, ext),
        GetDeployment => {
            let d = deployment(inner, str(p, "deploymentId")?)?;
            Ok(json!({"deploymentInfo": deployment_json(&d)}))
        }
        ListDeployments => list_deployments(inner, p),
        StopDeployment => stop_deployment(inner, p),
        PutLifecycleEventHookExecutionStatus => hook_status(inner, p),
    }
}

fn application(inner: &Inner, name: &str) -> Result<Arc<Application>, CodeDeployError> {
    inner
        .store
        .applications
        .get(name)
        .ok_or_else(|| CodeDeployError::no_application(name))
}

fn group(inner: &Inner, app: &str, name: &str) -> Result<Arc<Group>, CodeDeployError> {
    application(inner, app)?;
    inner
        .store
        .groups
        .get(&format!("{app}/{name}"))
        .ok_or_else(|| CodeDeployError::no_group(name))
}

fn deployment(inner: &Inner, id: &str) -> Result<Arc<Deployment>, CodeDeployError> {
    inner
        .store
        .deployments
        .get(id)
        .ok_or_else(|| CodeDeployError::no_deployment(id))
}

fn application_json(a: &Application) -> Value {
    json!({"applicationId": a.id, "applicationName": a.name, "createTime": seconds(a.created_ms),
           "linkedToGitHub": false, "computePlatform": a.compute_platform})
}

fn create_application(inner: &Inner, p: &Value) -> Answer {
    let name = str(p, "applicationName")?;
    let platform = p
        .get("computePlatform")
        .and_then(Value::as_str)
        .unwrap_or("Server");
    if platform != "Lambda" {
        return Err(CodeDeployError::new(
            "InvalidComputePlatformException",
            format!("Nimbus deploys to the Lambda compute platform only, not {platform}"),
        ));
    }
    let a = Application {
        format: FORMAT,
        name: name.to_string(),
        id: uuid::Uuid::new_v4().to_string(),
        compute_platform: platform.to_string(),
        created_ms: now_millis(),
    };
    let id = a.id.clone();
    if inner.store.applications.insert(a)?.is_err() {
        return Err(CodeDeployError::new(
            "ApplicationAlreadyExistsException",
            format!("{name} already exists in your account"),
        ));
    }
    Ok(json!({"applicationId": id}))
}

fn delete_application(inner: &Inner, p: &Value) -> Answer {
    let name = str(p, "applicationName")?;
    // Deleting an application that is not there succeeds, as on CodeDeploy.
    for g in inner.store.groups.prefixed(&format!("{name}/")) {
        inner.store.groups.delete(&g.key)?;
    }
    inner.store.applications.delete(name)?;
    Ok(json!({}))
}

/// The group members CodeDeploy keeps as given.
const SETTINGS: [&str; 4] = [
    "alarmConfiguration",
    "autoRollbackConfiguration",
    "deploymentStyle",
    "triggerConfigurations",
];

fn check_group(inner: &Inner, p: &Value) -> Result<(), CodeDeployError> {
    if let Some(name) = p.get("deploymentConfigName").and_then(Value::as_str) {
        config_json(inner, name)?;
    }
    if let Some(alarms) = p
        .get("alarmConfiguration")
        .and_then(|a| a.get("alarms"))
        .and_then(Value::as_array)
    {
        if alarms.len() > 10 {
            return Err(CodeDeployError::new(
                "InvalidAlarmConfigException",
                "A deployment group may watch at most 10 alarms.",
            ));
        }
        if alarms.iter().any(|a| {
            a.get("name")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
        }) {
            return Err(CodeDeployError::new(
                "InvalidAlarmConfigException",
                "Each alarm of alarmConfiguration needs a name.",
            ));
        }
    }
    Ok(())
}

/// The alarms a group's deployments watch: its `alarmConfiguration`'s, when
/// enabled.
fn watched_alarms(g: &crate::store::Group) -> Vec<String> {
    let Some(a) = g.settings.get("alarmConfiguration") else {
        return Vec::new();
    };
    if a.get("enabled").and_then(Value::as_bool) != Some(true) {
        return Vec::new();
    }
    a.get("alarms")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|x| x.get("name").and_then(Value::as_str).map(str::to_string))
        .collect()
}

fn create_group(inner: &Inner, p: &Value) -> Answer {
    let app = application(inner, str(p, "applicationName")?)?;
    let name = str(p, "deploymentGroupName")?;
    str(p, "serviceRoleArn")?;
    check_group(inner, p)?;
    let mut settings = Map::new();
    for k in SETTINGS {
        if let Some(v) = p.get(k) {
            settings.insert(k.to_string(), v.clone());
        }
    }
    let g = Group {
        format: FORMAT,
        key: format!("{}/{name}", app.name),
        application: app.name.clone(),
        name: name.to_string(),
        id: uuid::Uuid::new_v4().to_string(),
        config: p
            .get("deploymentConfigName")
            .and_then(Value::as_str)
            .unwrap_or("CodeDeployDefault.LambdaAllAtOnce")
            .to_string(),
        service_role_arn: p
            .get("serviceRoleArn")
            .and_then(Value::as_str)
            .map(str::to_string),
        settings,
    };
    let id = g.id.clone();
    if inner.store.groups.insert(g)?.is_err() {
        return Err(CodeDeployError::new(
            "DeploymentGroupAlreadyExistsException",
            format!(
                "A deployment group named {name} already exists for application {}",
                app.name
            ),
        ));
    }
    Ok(json!({"deploymentGroupId": id}))
}

fn update_group(inner: &Inner, p: &Value) -> Answer {
    let app = str(p, "applicationName")?;
    let current = group(inner, app, str(p, "currentDeploymentGroupName")?)?;
    check_group(inner, p)?;
    let mut g = (*current).clone();
    if let Some(c) = p.get("deploymentConfigName").and_then(Value::as_str) {
        g.config = c.to_string();
    }
    if let Some(r) = p.get("serviceRoleArn").and_then(Value::as_str) {
        g.service_role_arn = Some(r.to_string());
    }
    for k in SETTINGS {
        if let Some(v) = p.get(k) {
            g.settings.insert(k.to_string(), v.clone());
        }
    }
    if let Some(n) = p.get("newDeploymentGroupName").and_then(Value::as_str)
        && n != g.name
    {
        g.name = n.to_string();
        g.key = format!("{app}/{n}");
        if inner.store.groups.insert(g)?.is_err() {
            return Err(CodeDeployError::new(
                "DeploymentGroupAlreadyExistsException",
                format!("A deployment group named {n} already exists for application {app}"),
            ));
        }
        inner.store.groups.delete(&current.key)?;
    } else {
        inner.store.groups.put(g)?;
    }
    Ok(json!({"hooksNotCleanedUp": []}))
}

fn group_json(inner: &Inner, g: &Group) -> Value {
    let mut v = json!({
        "applicationName": g.application, "deploymentGroupId": g.id,
        "deploymentGroupName": g.name, "deploymentConfigName": g.config,
        "computePlatform": "Lambda",
    });
    if let Some(r) = &g.service_role_arn {
        v["serviceRoleArn"] = json!(r);
    }
    for (k, s) in &g.settings {
        v[k] = s.clone();
    }
    let last = inner
        .store
        .deployments
        .all()
        .into_iter()
        .filter(|d| d.application == g.application && d.group == g.name)
        .max_by_key(|d| d.created_ms);
    if let Some(d) = last {
        v["lastAttemptedDeployment"] = json!({"deploymentId": d.id, "status": d.status,
            "createTime": seconds(d.created_ms)});
    }
    v
}

fn create_config(inner: &Inner, p: &Value) -> Answer {
    let name = str(p, "deploymentConfigName")?;
    if configs::predefined(name).is_some() || name.starts_with("CodeDeployDefault.") {
        return Err(CodeDeployError::new(
            "DeploymentConfigAlreadyExistsException",
            format!("A deployment configuration named {name} already exists"),
        ));
    }
    let routing = p
        .get("trafficRoutingConfig")
        .cloned()
        .unwrap_or_else(|| json!({"type": "AllAtOnce"}));
    configs::check(&routing)
        .map_err(|m| CodeDeployError::new("InvalidTrafficRoutingConfigurationException", m))?;
    let c = Config {
        format: FORMAT,
        name: name.to_string(),
        id: uuid::Uuid::new_v4().to_string(),
        compute_platform: "Lambda".into(),
        routing,
        created_ms: now_millis(),
    };
    let id = c.id.clone();
    if inner.store.configs.insert(c)?.is_err() {
        return Err(CodeDeployError::new(
            "DeploymentConfigAlreadyExistsException",
            format!("A deployment configuration named {name} already exists"),
        ));
    }
    Ok(json!({"deploymentConfigId": id}))
}

/// A configuration's `deploymentConfigInfo`, predefined or custom.
pub(crate) fn config_json(inner: &Inner, name: &str) -> Answer {
    if let Some(routing) = configs::predefined(name) {
        return Ok(
            json!({"deploymentConfigName": name, "computePlatform": "Lambda",
            "trafficRoutingConfig": routing, "createTime": 0.0}),
        );
    }
    let c = inner
        .store
        .configs
        .get(name)
        .ok_or_else(|| CodeDeployError::no_config(name))?;
    Ok(
        json!({"deploymentConfigId": c.id, "deploymentConfigName": c.name,
        "computePlatform": c.compute_platform, "trafficRoutingConfig": c.routing,
        "createTime": seconds(c.created_ms)}),
    )
}

fn delete_config(inner: &Inner, p: &Value) -> Answer {
    let name = str(p, "deploymentConfigName")?;
    if configs::predefined(name).is_some() {
        return Err(CodeDeployError::new(
            "InvalidOperationException",
            "The predefined deployment configurations cannot be deleted",
        ));
    }
    if inner.store.groups.all().iter().any(|g| g.config == name) {
        return Err(CodeDeployError::new(
            "DeploymentConfigInUseException",
            format!("The deployment configuration {name} is in use"),
        ));
    }
    inner.store.configs.delete(name)?;
    Ok(json!({}))
}

/// The function, alias, versions and hooks of a Lambda AppSpec.
fn appspec(revision: &Value) -> Result<(String, String, String, String, Vec<Hook>), String> {
    let content = match revision.get("revisionType").and_then(Value::as_str) {
        Some("AppSpecContent") => revision.pointer("/appSpecContent/content"),
        Some("String") => revision.pointer("/string/content"),
        other => {
            return Err(format!(
                "Nimbus deploys Lambda revisions given as AppSpecContent or String, not {}",
                other.unwrap_or("none")
            ));
        }
    }
    .and_then(Value::as_str)
    .ok_or("The revision has no AppSpec content")?;
    let spec =
        nimbus_templates::read(content).map_err(|e| format!("The AppSpec is not valid: {e}"))?;
    let resource = spec
        .get("Resources")
        .and_then(Value::as_array)
        .and_then(|r| r.first())
        .and_then(Value::as_object)
        .and_then(|m| m.values().next())
        .ok_or("The AppSpec names no resource")?;
    if resource.get("Type").and_then(Value::as_str) != Some("AWS::Lambda::Function") {
        return Err("The AppSpec resource must be of Type AWS::Lambda::Function".into());
    }
    let prop = |k: &str| -> Result<String, String> {
        match resource.pointer(&format!("/Properties/{k}")) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(Value::Number(n)) => Ok(n.to_string()),
            _ => Err(format!("The AppSpec resource has no {k}")),
        }
    };
    let mut hooks = Vec::new();
    for h in spec
        .get("Hooks")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for (event, function) in h.as_object().into_iter().flatten() {
            if !matches!(event.as_str(), "BeforeAllowTraffic" | "AfterAllowTraffic") {
                return Err(format!(
                    "{event} is not a lifecycle event of Lambda deployments"
                ));
            }
            hooks.push(Hook {
                event: event.clone(),
                function: function.as_str().unwrap_or_default().to_string(),
                execution_id: uuid::Uuid::new_v4().to_string(),
                status: "Pending".into(),
            });
        }
    }
    Ok((
        prop("Name")?,
        prop("Alias")?,
        prop("CurrentVersion")?,
        prop("TargetVersion")?,
        hooks,
    ))
}

fn create_deployment(inner: &Arc<Inner>, p: &Value, ext: &http::Extensions) -> Answer {
    let app = str(p, "applicationName")?;
    let g = group(inner, app, str(p, "deploymentGroupName")?)?;
    let revision = p
        .get("revision")
        .ok_or_else(|| CodeDeployError::required("revision"))?;
    let (function, alias, current, target, hooks) =
        appspec(revision).map_err(|m| CodeDeployError::new("InvalidRevisionException", m))?;
    let config = p
        .get("deploymentConfigName")
        .and_then(Value::as_str)
        .unwrap_or(&g.config)
        .to_string();
    config_json(inner, &config)?;
    let running = inner
        .store
        .deployments
        .all()
        .into_iter()
        .find(|d| d.application == app && d.group == g.name && !d.finished());
    if let Some(d) = running {
        return Err(CodeDeployError::new(
            "DeploymentLimitExceededException",
            format!(
                "The deployment group {} already has an active deployment {}",
                g.name, d.id
            ),
        ));
    }
    let acting = ext.get::<nimbus_api_common::Caller>().map(|c| Acting {
        arn: c.arn.clone(),
        account: c.account.clone(),
        user_id: c.user_id.clone(),
        access_key_id: c.access_key_id.clone(),
    });
    let d = Deployment {
        format: FORMAT,
        id: new_id("d-"),
        application: app.to_string(),
        group: g.name.clone(),
        config,
        description: p
            .get("description")
            .and_then(Value::as_str)
            .map(str::to_string),
        revision: revision.clone(),
        function,
        alias,
        current_version: current,
        target_version: target,
        hooks,
        status: "Created".into(),
        error: None,
        stop_requested: None,
        rolled_back: false,
        shifted: 0,
        creator: p
            .get("creator")
            .and_then(Value::as_str)
            .unwrap_or("user")
            .to_string(),
        created_ms: now_millis(),
        started_ms: None,
        completed_ms: None,
        acting,
        alarms: watched_alarms(&g),
    };
    let id = d.id.clone();
    inner.store.deployments.put(d)?;
    runner::start(inner.clone(), id.clone(), ext.clone());
    Ok(json!({"deploymentId": id}))
}

fn deployment_json(d: &Deployment) -> Value {
    let mut v = json!({
        "applicationName": d.application, "deploymentGroupName": d.group,
        "deploymentConfigName": d.config, "deploymentId": d.id, "revision": d.revision,
        "status": d.status, "createTime": seconds(d.created_ms), "creator": d.creator,
        "computePlatform": "Lambda",
        "deploymentStyle": {"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
    });
    if let Some(s) = d.started_ms {
        v["startTime"] = json!(seconds(s));
    }
    if let Some(c) = d.completed_ms {
        v["completeTime"] = json!(seconds(c));
    }
    if let Some(desc) = &d.description {
        v["description"] = json!(desc);
    }
    if let Some((code, message)) = &d.error {
        v["errorInformation"] = json!({"code": code, "message": message});
    }
    if d.rolled_back {
        v["rollbackInfo"] = json!({"rollbackMessage": format!(
            "The traffic of alias {} went back to version {}", d.alias, d.current_version)});
    }
    v
}

fn list_deployments(inner: &Inner, p: &Value) -> Answer {
    let app = p.get("applicationName").and_then(Value::as_str);
    let group = p.get("deploymentGroupName").and_then(Value::as_str);
    let statuses: Vec<&str> = p
        .get("includeOnlyStatuses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let mut all: Vec<Arc<Deployment>> = inner
        .store
        .deployments
        .all()
        .into_iter()
        .filter(|d| app.is_none_or(|a| a == d.application))
        .filter(|d| group.is_none_or(|g| g == d.group))
        .filter(|d| statuses.is_empty() || statuses.contains(&d.status.as_str()))
        .collect();
    all.sort_by_key(|d| std::cmp::Reverse(d.created_ms));
    Ok(json!({"deployments": all.iter().map(|d| d.id.clone()).collect::<Vec<_>>()}))
}

fn stop_deployment(inner: &Inner, p: &Value) -> Answer {
    let id = str(p, "deploymentId")?;
    let roll_back = p
        .get("autoRollbackEnabled")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let stopped = inner.store.deployments.change(id, |d| {
        if d.finished() {
            return Ok::<_, CodeDeployError>(false);
        }
        d.stop_requested = Some(roll_back);
        Ok(true)
    })?;
    match stopped {
        None => Err(CodeDeployError::no_deployment(id)),
        Some((_, false)) => Err(CodeDeployError::new(
            "DeploymentAlreadyCompletedException",
            format!("The deployment {id} has already completed"),
        )),
        Some(_) => Ok(
            json!({"status": "Pending", "statusMessage": "Stopping Pending. Stopping to schedule commands in the deployment instances"}),
        ),
    }
}

fn hook_status(inner: &Inner, p: &Value) -> Answer {
    let id = str(p, "deploymentId")?;
    let execution = str(p, "lifecycleEventHookExecutionId")?;
    let status = str(p, "status")?;
    if !matches!(status, "Succeeded" | "Failed") {
        return Err(CodeDeployError::new(
            "InvalidLifecycleEventHookExecutionStatusException",
            format!("The status {status} is not valid: it must be Succeeded or Failed"),
        ));
    }
    let changed = inner.store.deployments.change(id, |d| {
        let Some(h) = d.hooks.iter_mut().find(|h| h.execution_id == execution) else {
            return Err(CodeDeployError::new(
                "InvalidLifecycleEventHookExecutionIdException",
                format!("The lifecycle event hook execution id {execution} is not valid"),
            ));
        };
        if h.status == "Succeeded" || h.status == "Failed" {
            return Err(CodeDeployError::new(
                "LifecycleEventAlreadyCompletedException",
                format!("The lifecycle event {} has already completed", h.event),
            ));
        }
        h.status = status.to_string();
        Ok(())
    })?;
    if changed.is_none() {
        return Err(CodeDeployError::no_deployment(id));
    }
    Ok(json!({"lifecycleEventHookExecutionId": execution}))
}
