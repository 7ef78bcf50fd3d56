//! `AWS::Serverless::Function`: the function, its generated execution role,
//! the version and alias of `AutoPublishAlias`, its URL, its asynchronous
//! invocation settings, and what its `Events` need (event source mappings,
//! permissions, a bucket's notification configuration).

use super::api::{self, Routes};
use super::{Expansion, content_hash, invalid, policies};
use crate::Error;
use serde_json::{Map, Value, json};

/// Properties that pass to `AWS::Lambda::Function` as they are.
const PASSED: [&str; 19] = [
    "Handler",
    "Runtime",
    "MemorySize",
    "Timeout",
    "Environment",
    "Layers",
    "Description",
    "FunctionName",
    "ReservedConcurrentExecutions",
    "Architectures",
    "EphemeralStorage",
    "VpcConfig",
    "KmsKeyArn",
    "LoggingConfig",
    "SnapStart",
    "RuntimeManagementConfig",
    "PackageType",
    "ImageConfig",
    "FileSystemConfigs",
];

/// Event kinds whose services Nimbus does not have yet.
const NOT_YET: [&str; 7] = [
    "CloudWatchLogs",
    "Kinesis",
    "IoTRule",
    "AlexaSkill",
    "Cognito",
    "MSK",
    "MQ",
];

/// Where code lives, as `Code` (`S3Bucket`, `S3Key`, `S3ObjectVersion`):
/// from an `s3://bucket/key[?versionId=v]` URI or a `{Bucket, Key,
/// Version}` map. A local path is refused: the template must be packaged
/// first (`sam deploy`, `aws cloudformation package` and `nimbus deploy` do).
pub(crate) fn code_location(
    id: &str,
    what: &str,
    v: &Value,
    _inline: bool,
) -> Result<Value, Error> {
    match v {
        Value::String(uri) => {
            let Some(rest) = uri.strip_prefix("s3://") else {
                return Err(invalid(
                    id,
                    format!(
                        "'{what}' is not a valid S3 Uri of the form 's3://bucket/key' with optional versionId query parameter."
                    ),
                ));
            };
            let (path, version) = match rest.split_once("?versionId=") {
                Some((p, v)) => (p, Some(v)),
                None => (rest, None),
            };
            let Some((bucket, key)) = path
                .split_once('/')
                .filter(|(b, k)| !b.is_empty() && !k.is_empty())
            else {
                return Err(invalid(
                    id,
                    format!(
                        "'{what}' is not a valid S3 Uri of the form 's3://bucket/key' with optional versionId query parameter."
                    ),
                ));
            };
            let mut code = json!({"S3Bucket": bucket, "S3Key": key});
            if let Some(v) = version {
                code["S3ObjectVersion"] = json!(v);
            }
            Ok(code)
        }
        Value::Object(m) => {
            let (Some(bucket), Some(key)) = (m.get("Bucket"), m.get("Key")) else {
                return Err(invalid(
                    id,
                    format!("'{what}' requires 'Bucket' and 'Key' properties to be specified."),
                ));
            };
            let mut code = json!({"S3Bucket": bucket, "S3Key": key});
            if let Some(v) = m.get("Version") {
                code["S3ObjectVersion"] = v.clone();
            }
            Ok(code)
        }
        _ => Err(invalid(id, format!("'{what}' must be an S3 URI or a map."))),
    }
}

/// A tag map as CloudFormation's tag list, after SAM's own tag.
fn tags(user: Option<&Value>) -> Value {
    let mut list = vec![json!({"Key": "lambda:createdBy", "Value": "SAM"})];
    if let Some(Value::Object(m)) = user {
        list.extend(m.iter().map(|(k, v)| json!({"Key": k, "Value": v})));
    }
    Value::Array(list)
}

pub(crate) fn expand(x: &mut Expansion<'_>, routes: &mut Routes) -> Result<(), Error> {
    let id = x.id.to_string();
    let code = match (x.prop("InlineCode"), x.prop("CodeUri"), x.prop("ImageUri")) {
        (Some(inline), None, None) => json!({"ZipFile": inline}),
        (None, Some(uri), None) => code_location(&id, "CodeUri", uri, false)?,
        (None, None, Some(image)) => json!({"ImageUri": image}),
        (None, None, None) => {
            return Err(invalid(
                &id,
                "Only one of 'CodeUri', 'InlineCode' or 'ImageUri' must be specified; none is.",
            ));
        }
        _ => {
            return Err(invalid(
                &id,
                "Specify only one of 'CodeUri', 'InlineCode' or 'ImageUri'.",
            ));
        }
    };
    for unsupported in ["CodeSigningConfigArn"] {
        if x.prop(unsupported).is_some() {
            return Err(invalid(
                &id,
                format!("'{unsupported}' is not supported by Nimbus yet."),
            ));
        }
    }
    let mut f = Map::new();
    f.insert("Code".into(), code.clone());
    for k in PASSED {
        if let Some(v) = x.prop(k) {
            f.insert(k.into(), v.clone());
        }
    }
    if let Some(dlq) = x.prop("DeadLetterQueue") {
        f.insert(
            "DeadLetterConfig".into(),
            json!({"TargetArn": dlq.get("TargetArn")}),
        );
    }
    if let Some(mode) = x.prop("Tracing") {
        f.insert("TracingConfig".into(), json!({"Mode": mode}));
    }
    let user_tags = x.prop("Tags").cloned();
    f.insert("Tags".into(), tags(user_tags.as_ref()));

    let events: Vec<(String, Value)> = match x.prop("Events") {
        Some(Value::Object(m)) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        _ => Vec::new(),
    };
    // What events need of a generated role.
    let mut event_policies = Vec::new();
    for (name, e) in &events {
        let kind = e.get("Type").and_then(Value::as_str).unwrap_or("");
        match kind {
            "SQS" => event_policies.push("AWSLambdaSQSQueueExecutionRole"),
            "DynamoDB" => event_policies.push("AWSLambdaDynamoDBExecutionRole"),
            "S3" | "Api" | "HttpApi" | "Schedule" | "EventBridgeRule" | "CloudWatchEvent"
            | "SNS" | "ScheduleV2" => {}
            k if NOT_YET.contains(&k) => {
                return Err(invalid(
                    &id,
                    format!(
                        "Event with id [{name}] is invalid. Nimbus does not serve '{k}' events yet."
                    ),
                ));
            }
            k => {
                return Err(invalid(
                    &id,
                    format!("Event with id [{name}] is invalid. Unknown event type '{k}'."),
                ));
            }
        }
    }

    match x.prop("Role") {
        Some(role) => {
            f.insert("Role".into(), role.clone());
        }
        None => {
            let role = role(x, &id, event_policies, user_tags.as_ref())?;
            f.insert("Role".into(), role);
        }
    }
    x.add(
        id.clone(),
        "AWS::Lambda::Function",
        Value::Object(f.clone()),
    );

    // What invokes it: the alias when there is one.
    let alias = x.prop("AutoPublishAlias").cloned();
    let target = match &alias {
        Some(name) => {
            let alias_name = name
                .as_str()
                .ok_or_else(|| invalid(&id, "'AutoPublishAlias' must be a string."))?;
            let version = format!("{id}Version{}", content_hash(&Value::Object(f)));
            let v = x.add(
                version.clone(),
                "AWS::Lambda::Version",
                json!({"FunctionName": {"Ref": id}}),
            );
            v["DeletionPolicy"] = json!("Retain");
            let mut a = json!({
                "FunctionName": {"Ref": id},
                "FunctionVersion": {"Fn::GetAtt": [version, "Version"]},
                "Name": alias_name,
            });
            if let Some(pc) = x.prop("ProvisionedConcurrencyConfig") {
                a["ProvisionedConcurrencyConfig"] = pc.clone();
            }
            let alias_id = format!("{id}Alias{alias_name}");
            let policy = super::deployment::expand(x, &id, Some(&alias_id))?;
            let made = x.add(alias_id.clone(), "AWS::Lambda::Alias", a);
            if let Some(policy) = policy {
                made["UpdatePolicy"] = policy;
            }
            json!({"Ref": alias_id})
        }
        None => {
            super::deployment::expand(x, &id, None)?;
            if x.prop("ProvisionedConcurrencyConfig").is_some() {
                return Err(invalid(
                    &id,
                    "To set ProvisionedConcurrencyConfig AutoPublishALias must be defined on the function",
                ));
            }
            json!({"Ref": id})
        }
    };

    if let Some(url) = x.prop("FunctionUrlConfig").cloned() {
        let auth = url
            .get("AuthType")
            .cloned()
            .unwrap_or_else(|| json!("AWS_IAM"));
        let mut u = json!({"AuthType": auth, "TargetFunctionArn": target});
        for k in ["Cors", "InvokeMode"] {
            if let Some(v) = url.get(k) {
                u[k] = v.clone();
            }
        }
        x.add(format!("{id}Url"), "AWS::Lambda::Url", u);
        if auth == "NONE" {
            x.add(
                format!("{id}UrlPublicPermissions"),
                "AWS::Lambda::Permission",
                json!({"Action": "lambda:InvokeFunctionUrl", "FunctionName": target, "FunctionUrlAuthType": "NONE", "Principal": "*"}),
            );
            x.add(
                format!("{id}URLInvokeAllowPublicAccess"),
                "AWS::Lambda::Permission",
                json!({"Action": "lambda:InvokeFunction", "FunctionName": target, "InvokedViaFunctionUrl": true, "Principal": "*"}),
            );
        }
    }

    if let Some(cfg) = x.prop("EventInvokeConfig").cloned() {
        let qualifier = alias.clone().unwrap_or_else(|| json!("$LATEST"));
        let mut c =
            json!({"FunctionName": {"Ref": id}, "Qualifier": qualifier, "DestinationConfig": {}});
        for k in ["MaximumRetryAttempts", "MaximumEventAgeInSeconds"] {
            if let Some(v) = cfg.get(k) {
                c[k] = v.clone();
            }
        }
        if let Some(Value::Object(d)) = cfg.get("DestinationConfig") {
            for (when, dest) in d {
                c["DestinationConfig"][when] = json!({"Destination": dest.get("Destination")});
            }
        }
        let r = x.add(
            format!("{id}EventInvokeConfig"),
            "AWS::Lambda::EventInvokeConfig",
            c,
        );
        // The alias must exist before its settings.
        if let Some(alias_ref) = target.get("Ref").filter(|_| alias.is_some()) {
            r["DependsOn"] = json!([alias_ref]);
        }
    }

    for (name, e) in events {
        event(x, routes, &id, &name, &e, &target)?;
    }
    Ok(())
}

/// The execution role SAM generates for a function without `Role`: the
/// basic execution policy, X-Ray's when traced, `Policies`, what its events
/// need and what its destinations are sent to as; its `Arn`.
fn role(
    x: &mut Expansion<'_>,
    id: &str,
    event_policies: Vec<&str>,
    user_tags: Option<&Value>,
) -> Result<Value, Error> {
    let p = policies::read(id, x.prop("Policies"))?;
    let mut managed = vec![json!(policies::managed_arn("AWSLambdaBasicExecutionRole"))];
    if x.prop("Tracing").and_then(Value::as_str) == Some("Active") {
        managed.push(json!(policies::managed_arn("AWSXrayWriteOnlyAccess")));
    }
    managed.extend(p.managed);
    for e in event_policies {
        let arn = json!(policies::managed_arn(e));
        if !managed.contains(&arn) {
            managed.push(arn);
        }
    }
    let inline: Vec<Value> = p
        .inline
        .into_iter()
        .map(|(i, doc)| json!({"PolicyName": format!("{id}RolePolicy{i}"), "PolicyDocument": doc}))
        .chain(destination_policies(x, id))
        .collect();
    let mut role = json!({
        "AssumeRolePolicyDocument": {
            "Version": "2012-10-17",
            "Statement": [{
                "Action": ["sts:AssumeRole"],
                "Effect": "Allow",
                "Principal": {"Service": ["lambda.amazonaws.com"]},
            }],
        },
        "ManagedPolicyArns": managed,
        "Tags": tags(user_tags),
    });
    if !inline.is_empty() {
        role["Policies"] = Value::Array(inline);
    }
    for k in ["PermissionsBoundary"] {
        if let Some(v) = x.prop(k) {
            role[k] = v.clone();
        }
    }
    x.add(format!("{id}Role"), "AWS::IAM::Role", role);
    Ok(json!({"Fn::GetAtt": [format!("{id}Role"), "Arn"]}))
}

/// What the role needs to send to the destinations of asynchronous
/// invocations.
fn destination_policies(x: &Expansion<'_>, id: &str) -> Vec<Value> {
    let mut out = Vec::new();
    if let Some(Value::Object(d)) = x
        .prop("EventInvokeConfig")
        .and_then(|c| c.get("DestinationConfig"))
    {
        for when in ["OnSuccess", "OnFailure"] {
            let Some(dest) = d.get(when) else { continue };
            let kind = dest.get("Type").and_then(Value::as_str).unwrap_or("");
            let action = match kind {
                "SQS" => "sqs:SendMessage",
                "SNS" => "sns:publish",
                "Lambda" => "lambda:InvokeFunction",
                "EventBridge" => "events:PutEvents",
                _ => continue,
            };
            out.push(json!({
                "PolicyName": format!("{id}EventInvokeConfig{when}{kind}Policy"),
                "PolicyDocument": {"Statement": [{
                    "Action": action,
                    "Effect": "Allow",
                    "Resource": dest.get("Destination"),
                }]},
            }));
        }
    }
    out
}

/// One entry of `Events`.
/// A `Schedule`, `EventBridgeRule` or `CloudWatchEvent` event: an
/// `AWS::Events::Rule` targeting the function (or its alias), and the
/// permission that lets the rule invoke it.
fn rule(x: &mut Expansion<'_>, id: &str, name: &str, kind: &str, props: &Value, target: &Value) {
    let rule_id = format!("{id}{name}");
    let mut r = json!({});
    let arn = match target.get("Ref").and_then(Value::as_str) {
        Some(f) if f == id => json!({"Fn::GetAtt": [id, "Arn"]}),
        _ => target.clone(),
    };
    let target_id = props
        .pointer("/Target/Id")
        .cloned()
        .unwrap_or_else(|| json!(format!("{rule_id}LambdaTarget")));
    let mut t = json!({"Arn": arn, "Id": target_id});
    for k in [
        "Input",
        "InputPath",
        "InputTransformer",
        "DeadLetterConfig",
        "RetryPolicy",
    ] {
        if let Some(v) = props.get(k) {
            t[k] = v.clone();
        }
    }
    if kind == "Schedule" {
        r["ScheduleExpression"] = props.get("Schedule").cloned().unwrap_or(Value::Null);
        if let Some(e) = props.get("Enabled") {
            r["State"] = json!(if e == true || e == "true" {
                "ENABLED"
            } else {
                "DISABLED"
            });
        }
    } else {
        r["EventPattern"] = props.get("Pattern").cloned().unwrap_or(Value::Null);
        if let Some(b) = props.get("EventBusName") {
            r["EventBusName"] = b.clone();
        }
    }
    for (from, to) in [
        ("State", "State"),
        ("Name", "Name"),
        ("RuleName", "Name"),
        ("Description", "Description"),
    ] {
        if let Some(v) = props.get(from) {
            r[to] = v.clone();
        }
    }
    r["Targets"] = json!([t]);
    x.add(rule_id.clone(), "AWS::Events::Rule", r);
    x.add(
        format!("{rule_id}Permission"),
        "AWS::Lambda::Permission",
        json!({"Action": "lambda:InvokeFunction", "FunctionName": target,
               "Principal": "events.amazonaws.com", "SourceArn": {"Fn::GetAtt": [rule_id, "Arn"]}}),
    );
}

/// A `ScheduleV2` event: an `AWS::Scheduler::Schedule` targeting the
/// function (or its alias), with a role Scheduler may assume that may
/// invoke it, as SAM makes them.
fn schedule_v2(x: &mut Expansion<'_>, id: &str, name: &str, props: &Value, target: &Value) {
    let schedule_id = format!("{id}{name}");
    let arn = match target.get("Ref").and_then(Value::as_str) {
        Some(f) if f == id => json!({"Fn::GetAtt": [id, "Arn"]}),
        _ => target.clone(),
    };
    let role_id = format!("{schedule_id}Role");
    let mut s = json!({
        "ScheduleExpression": props.get("ScheduleExpression"),
        "FlexibleTimeWindow": props.get("FlexibleTimeWindow").cloned().unwrap_or_else(|| json!({"Mode": "OFF"})),
        "Name": props.get("Name").cloned().unwrap_or_else(|| json!(schedule_id)),
    });
    for k in [
        "ScheduleExpressionTimezone",
        "StartDate",
        "EndDate",
        "State",
        "Description",
        "GroupName",
        "KmsKeyArn",
    ] {
        if let Some(v) = props.get(k) {
            s[k] = v.clone();
        }
    }
    let mut t = json!({"Arn": arn, "RoleArn": {"Fn::GetAtt": [role_id, "Arn"]}});
    for k in ["Input", "RetryPolicy", "DeadLetterConfig"] {
        if let Some(v) = props.get(k) {
            t[k] = v.clone();
        }
    }
    s["Target"] = t;
    x.add(schedule_id.clone(), "AWS::Scheduler::Schedule", s);
    x.add(
        role_id,
        "AWS::IAM::Role",
        json!({
            "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
                "Action": ["sts:AssumeRole"], "Effect": "Allow",
                "Principal": {"Service": ["scheduler.amazonaws.com"]}}]},
            "Policies": [{"PolicyName": format!("{schedule_id}LambdaPolicy"), "PolicyDocument": {
                "Statement": [{"Action": "lambda:InvokeFunction", "Effect": "Allow", "Resource": arn}]}}],
        }),
    );
}

fn event(
    x: &mut Expansion<'_>,
    routes: &mut Routes,
    id: &str,
    name: &str,
    e: &Value,
    target: &Value,
) -> Result<(), Error> {
    let kind = e.get("Type").and_then(Value::as_str).unwrap_or("");
    let props = e.get("Properties").cloned().unwrap_or_else(|| json!({}));
    let copy = |keys: &[&str], into: &mut Value| {
        for k in keys {
            if let Some(v) = props.get(*k) {
                into[*k] = v.clone();
            }
        }
    };
    match kind {
        "Schedule" | "EventBridgeRule" | "CloudWatchEvent" => {
            rule(x, id, name, kind, &props, target);
        }
        "ScheduleV2" => schedule_v2(x, id, name, &props, target),
        "SNS" => {
            let endpoint = match target.get("Ref").and_then(Value::as_str) {
                Some(f) if f == id => json!({"Fn::GetAtt": [id, "Arn"]}),
                _ => target.clone(),
            };
            let mut sub =
                json!({"Endpoint": endpoint, "Protocol": "lambda", "TopicArn": props.get("Topic")});
            copy(
                &["FilterPolicy", "FilterPolicyScope", "RedrivePolicy"],
                &mut sub,
            );
            if let Some(r) = props.get("Region") {
                sub["Region"] = r.clone();
            }
            x.add(format!("{id}{name}"), "AWS::SNS::Subscription", sub);
            x.add(
                format!("{id}{name}Permission"),
                "AWS::Lambda::Permission",
                json!({"Action": "lambda:InvokeFunction", "FunctionName": target,
                       "Principal": "sns.amazonaws.com", "SourceArn": props.get("Topic")}),
            );
        }
        "SQS" => {
            let mut m = json!({"EventSourceArn": props.get("Queue"), "FunctionName": target});
            copy(
                &[
                    "BatchSize",
                    "Enabled",
                    "FilterCriteria",
                    "FunctionResponseTypes",
                    "MaximumBatchingWindowInSeconds",
                    "ScalingConfig",
                ],
                &mut m,
            );
            x.add(format!("{id}{name}"), "AWS::Lambda::EventSourceMapping", m);
        }
        "DynamoDB" => {
            let mut m = json!({"EventSourceArn": props.get("Stream"), "FunctionName": target});
            copy(
                &[
                    "StartingPosition",
                    "BatchSize",
                    "Enabled",
                    "FilterCriteria",
                    "FunctionResponseTypes",
                    "MaximumBatchingWindowInSeconds",
                    "MaximumRecordAgeInSeconds",
                    "MaximumRetryAttempts",
                    "BisectBatchOnFunctionError",
                    "ParallelizationFactor",
                    "TumblingWindowInSeconds",
                    "DestinationConfig",
                ],
                &mut m,
            );
            x.add(format!("{id}{name}"), "AWS::Lambda::EventSourceMapping", m);
        }
        "S3" => {
            let bucket = props
                .get("Bucket")
                .and_then(|b| b.get("Ref"))
                .and_then(Value::as_str)
                .filter(|b| {
                    x.out.get(*b).and_then(|r| r.get("Type")).and_then(Value::as_str)
                        == Some("AWS::S3::Bucket")
                })
                .map(str::to_string)
                .ok_or_else(|| {
                    invalid(
                        id,
                        format!("Event with id [{name}] is invalid. S3 events must reference an S3 bucket in the same template."),
                    )
                })?;
            let permission = format!("{id}{name}Permission");
            x.add(
                permission.clone(),
                "AWS::Lambda::Permission",
                json!({"Action": "lambda:InvokeFunction", "FunctionName": target, "Principal": "s3.amazonaws.com", "SourceAccount": {"Ref": "AWS::AccountId"}}),
            );
            let arn = match target.get("Ref").and_then(Value::as_str) {
                Some(r) if r == id => json!({"Fn::GetAtt": [id, "Arn"]}),
                _ => target.clone(),
            };
            let events = match props.get("Events") {
                Some(Value::Array(list)) => list.clone(),
                Some(one) => vec![one.clone()],
                None => Vec::new(),
            };
            let b = x.out.get_mut(&bucket).expect("checked above");
            let configs = &mut b["Properties"]["NotificationConfiguration"]["LambdaConfigurations"];
            if !configs.is_array() {
                *configs = json!([]);
            }
            for ev in events {
                let mut c = json!({"Event": ev, "Function": arn});
                if let Some(f) = props.get("Filter") {
                    c["Filter"] = f.clone();
                }
                configs.as_array_mut().expect("made an array").push(c);
            }
            let deps = &mut b["DependsOn"];
            match deps {
                Value::Array(d) => d.push(json!(permission)),
                Value::String(s) => *deps = json!([s.clone(), permission]),
                _ => *deps = json!([permission]),
            }
        }
        "Api" => api::rest_event(x, routes, id, name, &props, target)?,
        "HttpApi" => api::http_event(x, routes, id, name, &props, target)?,
        _ => unreachable!("event kinds are checked before"),
    }
    Ok(())
}
