//! Resource providers: one module per service, each turning a resource's
//! resolved properties into calls of that service's own API (through
//! [`Calls`], as the stack's creator) and answering its physical id, what
//! `Ref` gives and the attributes `Fn::GetAtt` reads; and deleting it.
//! A type no module knows fails its resource, naming the type.

mod apigateway;
mod apigateway_v2;
mod cloudwatch;
mod codedeploy;
mod dynamodb;
pub(crate) mod ec2;
mod events;
mod iam;
mod kms;
mod lambda;
mod lambda_versions;
mod logs;
mod pipes;
mod s3;
mod scheduler;
mod secrets;
mod sns;
mod sqs;
mod ssm;
mod states;
mod tags;
mod updates;

pub(crate) use updates::{name_property, replaces, update};

use crate::Calls;
use bytes::Bytes;
use http::{Method, Request};
use nimbus_api_common::xml::Element;
use serde_json::{Map, Value};
use std::sync::Arc;

/// A resource that now exists.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Created {
    pub physical_id: String,
    pub reference: Value,
    pub attributes: Map<String, Value>,
}

impl Created {
    /// A resource whose `Ref` is its physical id.
    pub(crate) fn named(physical_id: impl Into<String>) -> Created {
        let physical_id = physical_id.into();
        Created {
            reference: Value::String(physical_id.clone()),
            physical_id,
            attributes: Map::new(),
        }
    }

    pub(crate) fn with(mut self, name: &str, value: impl Into<Value>) -> Created {
        self.attributes.insert(name.to_string(), value.into());
        self
    }
}

/// The `Host` of the request that started the deployment: services that put
/// their endpoint in what they answer (SQS queue URLs) see the same one.
#[derive(Debug, Clone)]
pub(crate) struct OriginHost(pub String);

/// Records the name a resource is about to be made under.
pub(crate) type Claim = Arc<dyn Fn(&str) + Send + Sync>;

/// What a provider acts with: the calls, as whom, for which resource.
pub(crate) struct Ctx {
    pub calls: Arc<dyn Calls>,
    pub extensions: http::Extensions,
    pub stack_name: String,
    pub logical_id: String,
    /// The stack's region, where resources are made.
    pub region: String,
    /// Records a generated name before the resource is made under it.
    pub claim: Option<Claim>,
}

/// A service's refusal, as CloudFormation reports a handler's failure.
fn refused(service: &str, status: u16, message: &str) -> String {
    format!(
        "Resource handler returned message: \"{message}\" (Service: {service}, Status Code: {status})"
    )
}

fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char);
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

impl Ctx {
    async fn send(&self, signing: &'static str, mut req: Request<Bytes>) -> (u16, Bytes) {
        *req.extensions_mut() = self.extensions.clone();
        let host = self
            .extensions
            .get::<OriginHost>()
            .map_or_else(|| "localhost".to_string(), |h| h.0.clone());
        if let Ok(h) = http::HeaderValue::from_str(&host) {
            req.headers_mut().insert("host", h);
        }
        let resp = self.calls.call(signing, req).await;
        (resp.status().as_u16(), resp.into_body())
    }

    /// An awsJson call: `X-Amz-Target: {target}`.
    pub(crate) async fn json(
        &self,
        signing: &'static str,
        target: &str,
        content_type: &str,
        body: &Value,
    ) -> Result<Value, String> {
        let req = Request::builder()
            .method(Method::POST)
            .uri("/")
            .header("x-amz-target", target)
            .header("content-type", content_type)
            .body(Bytes::from(body.to_string()))
            .map_err(|e| e.to_string())?;
        let (status, body) = self.send(signing, req).await;
        json_answer(signing, status, &body)
    }

    /// A REST-JSON call.
    pub(crate) async fn rest(
        &self,
        signing: &'static str,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, String> {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", "application/json")
            .body(body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string())))
            .map_err(|e| e.to_string())?;
        let (status, body) = self.send(signing, req).await;
        json_answer(signing, status, &body)
    }

    /// A query-protocol call; the answer's `<{Action}Result>`.
    pub(crate) async fn query(
        &self,
        signing: &'static str,
        members: &[(String, String)],
    ) -> Result<Element, String> {
        let form: Vec<String> = members
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect();
        let req = Request::builder()
            .method(Method::POST)
            .uri("/")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Bytes::from(form.join("&")))
            .map_err(|e| e.to_string())?;
        let (status, body) = self.send(signing, req).await;
        let doc = nimbus_api_common::xml::parse(&body).map_err(|e| refused(signing, status, &e))?;
        if status >= 300 {
            let message = doc
                .child("Error")
                .and_then(|e| e.child_text("Message"))
                .unwrap_or("unknown error");
            return Err(refused(signing, status, message));
        }
        Ok(doc
            .children
            .into_iter()
            .find(|c| c.name.ends_with("Result"))
            .unwrap_or_default())
    }

    /// A name for a resource whose template gives none:
    /// `STACK-LOGICALID-RANDOM`, as CloudFormation makes them.
    pub(crate) fn generated_name(&self, max: usize) -> String {
        let name = self.fresh_name(max);
        self.claim(&name);
        name
    }

    /// A generated name in lower case, for services that allow no other
    /// (S3's bucket names).
    pub(crate) fn generated_lower_name(&self, max: usize) -> String {
        let name = self.fresh_name(max).to_lowercase();
        self.claim(&name);
        name
    }

    fn fresh_name(&self, max: usize) -> String {
        let random: String = uuid::Uuid::new_v4()
            .simple()
            .to_string()
            .to_uppercase()
            .chars()
            .take(12)
            .collect();
        let keep = max.saturating_sub(random.len() + 2);
        let base = format!("{}-{}", self.stack_name, self.logical_id);
        let base: String = base.chars().take(keep).collect();
        format!("{base}-{random}")
    }

    /// Record the generated name a resource is about to be made under.
    pub(crate) fn claim(&self, name: &str) {
        if let Some(claim) = &self.claim {
            claim(name);
        }
    }
}

fn json_answer(service: &str, status: u16, body: &[u8]) -> Result<Value, String> {
    let v: Value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(body).unwrap_or(Value::Null)
    };
    if status >= 300 {
        let message = ["message", "Message", "errorMessage"]
            .iter()
            .find_map(|k| v.get(k).and_then(Value::as_str))
            .map_or_else(
                || String::from_utf8_lossy(body).into_owned(),
                str::to_string,
            );
        return Err(refused(service, status, &message));
    }
    Ok(v)
}

/// Give the members `keys` of `map` the type the API takes, as CloudFormation
/// converts properties to their schema's types: a `Ref` to a `Number`
/// parameter is text (`"256"`), YAML's `true` may be text too.
pub(crate) fn typed(map: &mut Map<String, Value>, numbers: &[&str], booleans: &[&str]) {
    for k in numbers {
        if let Some(Value::String(s)) = map.get(*k)
            && let Ok(n) = s.trim().parse::<serde_json::Number>()
        {
            map.insert((*k).to_string(), Value::Number(n));
        }
    }
    for k in booleans {
        if let Some(Value::String(s)) = map.get(*k) {
            match s.to_ascii_lowercase().as_str() {
                "true" => map.insert((*k).to_string(), Value::Bool(true)),
                "false" => map.insert((*k).to_string(), Value::Bool(false)),
                _ => None,
            };
        }
    }
}

/// A property that must be a string.
pub(crate) fn string(props: &Map<String, Value>, name: &str) -> Option<String> {
    match props.get(name)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

pub(crate) fn required(props: &Map<String, Value>, name: &str) -> Result<String, String> {
    string(props, name).ok_or_else(|| {
        format!("Properties validation failed for resource: required key [{name}] not found")
    })
}

/// The value behind a dynamic reference (or an SSM-typed parameter), read
/// as the caller.
pub(crate) async fn dynamic(ctx: &Ctx, r: &nimbus_templates::DynamicRef) -> Result<String, String> {
    use nimbus_templates::DynamicRef as D;
    match r {
        D::Ssm { name, version } => ssm::value(ctx, name, version.as_deref(), false).await,
        D::SsmSecure { name, version } => ssm::value(ctx, name, version.as_deref(), true).await,
        D::SecretsManager {
            secret_id,
            json_key,
            version_stage,
            version_id,
        } => {
            secrets::value(
                ctx,
                secret_id,
                json_key.as_deref(),
                version_stage.as_deref(),
                version_id.as_deref(),
            )
            .await
        }
    }
}

/// Create a resource of `kind`.
pub(crate) async fn create(
    ctx: &Ctx,
    kind: &str,
    props: &Map<String, Value>,
) -> Result<Created, String> {
    match kind {
        "AWS::SQS::Queue" => sqs::create(ctx, props).await,
        "AWS::SQS::QueuePolicy" => sqs::create_policy(ctx, props).await,
        "AWS::StepFunctions::StateMachine" => states::create(ctx, props).await,
        "AWS::DynamoDB::Table" => dynamodb::create(ctx, props).await,
        "AWS::IAM::Role" => iam::create_role(ctx, props).await,
        "AWS::IAM::Policy" => iam::create_policy(ctx, props).await,
        "AWS::IAM::ManagedPolicy" => iam::create_managed_policy(ctx, props).await,
        "AWS::Lambda::Function" => lambda::create_function(ctx, props).await,
        "AWS::Lambda::Permission" => lambda::create_permission(ctx, props).await,
        "AWS::Lambda::EventSourceMapping" => lambda::create_mapping(ctx, props).await,
        "AWS::Lambda::Version" => lambda_versions::create_version(ctx, props).await,
        "AWS::Lambda::Alias" => lambda_versions::create_alias(ctx, props).await,
        "AWS::Lambda::Url" => lambda_versions::create_url(ctx, props).await,
        "AWS::Lambda::LayerVersion" => lambda_versions::create_layer(ctx, props).await,
        "AWS::S3::Bucket" => s3::create(ctx, props).await,
        "AWS::S3::BucketPolicy" => s3::create_policy(ctx, props).await,
        "AWS::SSM::Parameter" => ssm::create(ctx, props).await,
        "AWS::CloudWatch::Alarm" => cloudwatch::create(ctx, props, false).await,
        "AWS::CloudWatch::CompositeAlarm" => cloudwatch::create(ctx, props, true).await,
        "AWS::Logs::LogGroup" => logs::create_group(ctx, props).await,
        "AWS::Logs::MetricFilter" => logs::create_metric_filter(ctx, props).await,
        "AWS::Logs::SubscriptionFilter" => logs::create_subscription(ctx, props).await,
        "AWS::SecretsManager::Secret" => secrets::create(ctx, props).await,
        "AWS::KMS::Key" => {
            kms::create_key(ctx, props)
                .await
                .map(|c| match props.get("PendingWindowInDays") {
                    Some(days) => c.with("PendingWindowInDays", days.clone()),
                    None => c,
                })
        }
        "AWS::KMS::Alias" => kms::create_alias(ctx, props).await,
        "AWS::SNS::Topic" => sns::create_topic(ctx, props).await,
        "AWS::SNS::Subscription" => sns::create_subscription(ctx, props).await,
        "AWS::SNS::TopicPolicy" => sns::create_policy(ctx, props).await,
        "AWS::Scheduler::Schedule" => scheduler::create_schedule(ctx, props).await,
        "AWS::Pipes::Pipe" => pipes::create_pipe(ctx, props).await,
        "AWS::Scheduler::ScheduleGroup" => scheduler::create_group(ctx, props).await,
        "AWS::Events::Rule" => events::create_rule(ctx, props).await,
        "AWS::Events::EventBus" => events::create_bus(ctx, props).await,
        "AWS::CodeDeploy::Application" => codedeploy::create_application(ctx, props).await,
        "AWS::CodeDeploy::DeploymentGroup" => codedeploy::create_group(ctx, props).await,
        "AWS::CodeDeploy::DeploymentConfig" => codedeploy::create_config(ctx, props).await,
        k if ec2::KINDS.contains(&k) => Ok(ec2::create(k, &ctx.region, props)),
        "AWS::ApiGateway::RestApi" => apigateway::create_rest_api(ctx, props).await,
        "AWS::ApiGateway::Resource" => apigateway::create_resource(ctx, props).await,
        "AWS::ApiGateway::Method" => apigateway::create_method(ctx, props).await,
        "AWS::ApiGateway::Authorizer" => apigateway::create_authorizer(ctx, props).await,
        "AWS::ApiGateway::Deployment" => apigateway::create_deployment(ctx, props).await,
        "AWS::ApiGateway::Stage" => apigateway::create_stage(ctx, props).await,
        "AWS::ApiGatewayV2::Api" => apigateway_v2::create_api(ctx, props).await,
        "AWS::ApiGatewayV2::Integration" => apigateway_v2::create_integration(ctx, props).await,
        "AWS::ApiGatewayV2::Route" => apigateway_v2::create_route(ctx, props).await,
        "AWS::ApiGatewayV2::Stage" => apigateway_v2::create_stage(ctx, props).await,
        "AWS::ApiGatewayV2::Deployment" => apigateway_v2::create_deployment(ctx, props).await,
        other => Err(format!("Nimbus does not support resource type {other} yet")),
    }
}

/// Delete, if it exists, a resource of `kind` made under a generated name
/// whose creation was interrupted before its physical id was recorded.
pub(crate) async fn delete_generated(ctx: &Ctx, kind: &str, name: &str) -> Result<(), String> {
    match kind {
        "AWS::SQS::Queue" => sqs::delete_named(ctx, name).await,
        "AWS::DynamoDB::Table" => dynamodb::delete(ctx, name).await,
        "AWS::IAM::Role" => iam::delete_role(ctx, name).await,
        "AWS::Lambda::Function" => lambda::delete_function(ctx, name).await,
        "AWS::S3::Bucket" => s3::delete_generated(ctx, name).await,
        "AWS::SSM::Parameter" => ssm::delete(ctx, name).await,
        "AWS::CloudWatch::Alarm" | "AWS::CloudWatch::CompositeAlarm" => {
            cloudwatch::delete(ctx, name).await
        }
        "AWS::Logs::LogGroup" => logs::delete_group(ctx, name).await,
        "AWS::SecretsManager::Secret" => secrets::delete(ctx, name).await,
        "AWS::ApiGateway::RestApi" => apigateway::delete_named(ctx, name).await,
        "AWS::ApiGatewayV2::Api" => apigateway_v2::delete_named(ctx, name).await,
        _ => Ok(()),
    }
}

/// Delete a resource of `kind` that [`create`] made.
pub(crate) async fn delete(
    ctx: &Ctx,
    kind: &str,
    physical_id: &str,
    attributes: &Map<String, Value>,
) -> Result<(), String> {
    match kind {
        "AWS::SQS::Queue" => sqs::delete(ctx, physical_id).await,
        "AWS::SQS::QueuePolicy" => sqs::delete_policy(ctx, attributes).await,
        "AWS::StepFunctions::StateMachine" => states::delete(ctx, physical_id).await,
        "AWS::DynamoDB::Table" => dynamodb::delete(ctx, physical_id).await,
        "AWS::IAM::Role" => iam::delete_role(ctx, physical_id).await,
        "AWS::IAM::Policy" => iam::delete_policy(ctx, attributes).await,
        "AWS::IAM::ManagedPolicy" => iam::delete_managed_policy(ctx, physical_id, attributes).await,
        "AWS::Lambda::Function" => lambda::delete_function(ctx, physical_id).await,
        "AWS::Lambda::Permission" => lambda::delete_permission(ctx, attributes).await,
        "AWS::Lambda::EventSourceMapping" => lambda::delete_mapping(ctx, physical_id).await,
        "AWS::Lambda::Version" => lambda_versions::delete_version(ctx, physical_id).await,
        "AWS::Lambda::Alias" => lambda_versions::delete_alias(ctx, physical_id).await,
        "AWS::Lambda::Url" => lambda_versions::delete_url(ctx, attributes).await,
        "AWS::Lambda::LayerVersion" => lambda_versions::delete_layer(ctx, physical_id).await,
        "AWS::S3::Bucket" => s3::delete(ctx, physical_id).await,
        "AWS::S3::BucketPolicy" => s3::delete_policy(ctx, physical_id).await,
        "AWS::SSM::Parameter" => ssm::delete(ctx, physical_id).await,
        "AWS::CloudWatch::Alarm" | "AWS::CloudWatch::CompositeAlarm" => {
            cloudwatch::delete(ctx, physical_id).await
        }
        "AWS::Logs::LogGroup" => logs::delete_group(ctx, physical_id).await,
        "AWS::Logs::MetricFilter" => logs::delete_metric_filter(ctx, physical_id).await,
        "AWS::Logs::SubscriptionFilter" => logs::delete_subscription(ctx, physical_id).await,
        "AWS::SecretsManager::Secret" => secrets::delete(ctx, physical_id).await,
        "AWS::KMS::Key" => kms::delete_key(ctx, physical_id, attributes).await,
        "AWS::KMS::Alias" => kms::delete_alias(ctx, physical_id).await,
        "AWS::SNS::Topic" => sns::delete_topic(ctx, physical_id).await,
        "AWS::SNS::Subscription" => sns::delete_subscription(ctx, physical_id).await,
        "AWS::Scheduler::Schedule" => {
            scheduler::delete_schedule(ctx, physical_id, attributes).await
        }
        "AWS::Scheduler::ScheduleGroup" => scheduler::delete_group(ctx, physical_id).await,
        "AWS::Pipes::Pipe" => pipes::delete_pipe(ctx, physical_id).await,
        "AWS::Events::Rule" => events::delete_rule(ctx, physical_id, attributes).await,
        "AWS::Events::EventBus" => events::delete_bus(ctx, physical_id).await,
        "AWS::CodeDeploy::Application" => codedeploy::delete_application(ctx, physical_id).await,
        "AWS::CodeDeploy::DeploymentGroup" => {
            codedeploy::delete_group(ctx, physical_id, attributes).await
        }
        "AWS::CodeDeploy::DeploymentConfig" => codedeploy::delete_config(ctx, physical_id).await,
        "AWS::ApiGateway::RestApi" => apigateway::delete_rest_api(ctx, physical_id).await,
        "AWS::ApiGateway::Resource" => {
            apigateway::delete_resource(ctx, physical_id, attributes).await
        }
        "AWS::ApiGateway::Method" => apigateway::delete_method(ctx, attributes).await,
        "AWS::ApiGateway::Authorizer" => {
            apigateway::delete_authorizer(ctx, physical_id, attributes).await
        }
        "AWS::ApiGateway::Deployment" => apigateway::delete_deployment(ctx, attributes).await,
        "AWS::ApiGateway::Stage" => apigateway::delete_stage(ctx, physical_id, attributes).await,
        "AWS::ApiGatewayV2::Api" => apigateway_v2::delete_api(ctx, physical_id).await,
        "AWS::ApiGatewayV2::Integration" => {
            apigateway_v2::delete_integration(ctx, physical_id, attributes).await
        }
        "AWS::ApiGatewayV2::Route" => {
            apigateway_v2::delete_route(ctx, physical_id, attributes).await
        }
        "AWS::ApiGatewayV2::Stage" => {
            apigateway_v2::delete_stage(ctx, physical_id, attributes).await
        }
        _ => Ok(()),
    }
}
