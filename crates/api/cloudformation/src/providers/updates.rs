//! Stack updates, per resource type: which property changes make
//! CloudFormation replace a resource (each type's create-only properties)
//! and the in-place update of the others. A type with no in-place update
//! here is replaced on any change.

use super::{
    Created, Ctx, apigateway, apigateway_v2, codedeploy, dynamodb, events, iam, kms, lambda,
    lambda_versions, pipes, s3, scheduler, secrets, sns, sqs, ssm, states,
};
use serde_json::{Map, Value};

/// The properties whose change replaces a resource of `kind`; `None` for a
/// type Nimbus only replaces.
fn create_only(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "AWS::Lambda::Function" => &["FunctionName", "PackageType"],
        "AWS::Lambda::Alias" => &["FunctionName", "Name"],
        "AWS::Lambda::EventSourceMapping" => &[
            "EventSourceArn",
            "StartingPosition",
            "StartingPositionTimestamp",
        ],
        "AWS::Lambda::Url" => &["TargetFunctionArn", "Qualifier"],
        "AWS::IAM::Role" => &["RoleName", "Path", "PermissionsBoundary"],
        "AWS::IAM::Policy" => &[],
        "AWS::DynamoDB::Table" => &["TableName", "KeySchema", "LocalSecondaryIndexes"],
        "AWS::SQS::Queue" => &["QueueName", "FifoQueue"],
        "AWS::SQS::QueuePolicy" => &[],
        "AWS::S3::Bucket" => &["BucketName"],
        "AWS::S3::BucketPolicy" => &["Bucket"],
        "AWS::StepFunctions::StateMachine" => &["StateMachineName", "StateMachineType"],
        "AWS::SSM::Parameter" => &["Name"],
        "AWS::CloudWatch::Alarm" | "AWS::CloudWatch::CompositeAlarm" => &["AlarmName"],
        "AWS::Logs::LogGroup" => &["LogGroupName", "KmsKeyId", "LogGroupClass"],
        "AWS::SecretsManager::Secret" => &["Name"],
        "AWS::KMS::Key" => &["KeySpec", "KeyUsage", "MultiRegion"],
        "AWS::KMS::Alias" => &["AliasName"],
        "AWS::ApiGateway::Stage" => &["RestApiId", "StageName"],
        // A changed body is imported again into the same API.
        "AWS::ApiGateway::RestApi" => &[
            "Name",
            "Description",
            "BinaryMediaTypes",
            "Parameters",
            "Mode",
            "EndpointConfiguration",
            "Policy",
            "Tags",
        ],
        "AWS::ApiGatewayV2::Api" => &[
            "Name",
            "ProtocolType",
            "Description",
            "Version",
            "Target",
            "RouteKey",
            "CorsConfiguration",
            "Tags",
        ],
        "AWS::CodeDeploy::DeploymentGroup" => &["ApplicationName", "DeploymentGroupName"],
        "AWS::Events::Rule" => &["Name", "EventBusName"],
        "AWS::SNS::Topic" => &["TopicName", "FifoTopic", "Subscription"],
        "AWS::SNS::Subscription" => &["TopicArn", "Protocol", "Endpoint"],
        "AWS::Scheduler::Schedule" => &["Name", "GroupName"],
        "AWS::Pipes::Pipe" => &["Name", "Source"],
        "AWS::ApiGatewayV2::Stage" => &["ApiId", "StageName"],
        _ => return None,
    })
}

/// Whether changing a resource of `kind` from `old` to `new` replaces it.
pub(crate) fn replaces(kind: &str, old: &Map<String, Value>, new: &Map<String, Value>) -> bool {
    create_only(kind).is_none_or(|keys| keys.iter().any(|k| old.get(*k) != new.get(*k)))
}

/// The property a template may name a resource of `kind` by: a resource
/// so named cannot be replaced under the same name.
pub(crate) fn name_property(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "AWS::Lambda::Function" => "FunctionName",
        "AWS::Lambda::Alias" => "Name",
        "AWS::Lambda::LayerVersion" => return None,
        "AWS::IAM::Role" => "RoleName",
        "AWS::IAM::ManagedPolicy" => "ManagedPolicyName",
        "AWS::DynamoDB::Table" => "TableName",
        "AWS::SQS::Queue" => "QueueName",
        "AWS::S3::Bucket" => "BucketName",
        "AWS::StepFunctions::StateMachine" => "StateMachineName",
        "AWS::SSM::Parameter" => "Name",
        "AWS::CloudWatch::Alarm" | "AWS::CloudWatch::CompositeAlarm" => "AlarmName",
        "AWS::Logs::LogGroup" => "LogGroupName",
        "AWS::SecretsManager::Secret" => "Name",
        "AWS::KMS::Alias" => "AliasName",
        "AWS::Events::Rule" => "Name",
        "AWS::SNS::Topic" => "TopicName",
        "AWS::Scheduler::Schedule" => "Name",
        "AWS::Pipes::Pipe" => "Name",
        _ => return None,
    })
}

/// Update a resource of `kind` in place (see [`replaces`]); what it now is.
/// `policy` is its resolved `UpdatePolicy` (an alias's
/// `CodeDeployLambdaAliasUpdate` shifts its traffic through CodeDeploy).
pub(crate) async fn update(
    ctx: &Ctx,
    kind: &str,
    was: &Created,
    (old, new): (&Map<String, Value>, &Map<String, Value>),
    policy: Option<&Value>,
) -> Result<Created, String> {
    let id = was.physical_id.as_str();
    if old.get("Tags") != new.get("Tags") && super::tags::retaggable(kind) {
        super::tags::retag(ctx, kind, was, (old, new)).await?;
    }
    match kind {
        "AWS::Lambda::Function" => lambda::update_function(ctx, id, old, new).await?,
        "AWS::Lambda::Alias" => {
            if let Some(p) = policy.and_then(|p| p.get("CodeDeployLambdaAliasUpdate"))
                && let (Some(from), Some(to)) = (
                    super::string(old, "FunctionVersion"),
                    super::string(new, "FunctionVersion"),
                )
                && from != to
            {
                let (function, alias) = lambda_versions::qualified(id);
                codedeploy::shift_alias(ctx, p, (&function, &alias), &from, &to).await?;
            }
            lambda_versions::update_alias(ctx, id, old, new).await?;
        }
        "AWS::CodeDeploy::DeploymentGroup" => {
            codedeploy::update_group(ctx, id, &was.attributes, new).await?;
        }
        "AWS::Events::Rule" => events::update_rule(ctx, id, old, new).await?,
        "AWS::SNS::Topic" => sns::update_topic(ctx, id, new).await?,
        "AWS::Scheduler::Schedule" => scheduler::update_schedule(ctx, id, new).await?,
        "AWS::Pipes::Pipe" => return pipes::update_pipe(ctx, id, new).await,
        "AWS::SNS::Subscription" => sns::update_subscription(ctx, id, old, new).await?,
        "AWS::Lambda::EventSourceMapping" => lambda::update_mapping(ctx, id, new).await?,
        "AWS::Lambda::Url" => lambda_versions::update_url(ctx, &was.attributes, new).await?,
        "AWS::IAM::Role" => iam::update_role(ctx, id, old, new).await?,
        "AWS::IAM::Policy" => {
            iam::delete_policy(ctx, &was.attributes).await?;
            let made = iam::create_policy(ctx, new).await?;
            return Ok(same_id(was, made).with("Id", id));
        }
        "AWS::DynamoDB::Table" => return dynamodb::update(ctx, id, old, new).await,
        "AWS::SQS::Queue" => sqs::update(ctx, id, old, new).await?,
        "AWS::SQS::QueuePolicy" => {
            sqs::delete_policy(ctx, &was.attributes).await?;
            let made = sqs::create_policy(ctx, new).await?;
            return Ok(same_id(was, made));
        }
        "AWS::S3::Bucket" => s3::update(ctx, id, old, new).await?,
        "AWS::S3::BucketPolicy" => return s3::create_policy(ctx, new).await,
        "AWS::StepFunctions::StateMachine" => states::update(ctx, id, new).await?,
        "AWS::SSM::Parameter" => return ssm::update(ctx, id, new).await,
        "AWS::CloudWatch::Alarm" => return super::cloudwatch::update(ctx, id, new, false).await,
        "AWS::CloudWatch::CompositeAlarm" => {
            return super::cloudwatch::update(ctx, id, new, true).await;
        }
        "AWS::Logs::LogGroup" => return super::logs::update_group(ctx, id, new).await,
        "AWS::SecretsManager::Secret" => secrets::update(ctx, id, old, new).await?,
        "AWS::KMS::Key" => kms::update_key(ctx, id, old, new).await?,
        "AWS::KMS::Alias" => kms::update_alias(ctx, id, new).await?,
        "AWS::ApiGateway::Stage" => apigateway::update_stage(ctx, id, old, new).await?,
        "AWS::ApiGateway::RestApi" => {
            apigateway::update_rest_api(ctx, id, &was.attributes, new).await?;
        }
        "AWS::ApiGatewayV2::Api" => apigateway_v2::update_api(ctx, id, new).await?,
        "AWS::ApiGatewayV2::Stage" => {
            apigateway_v2::update_stage(ctx, id, &was.attributes, new).await?;
        }
        other => return Err(format!("Nimbus cannot update {other} in place")),
    }
    Ok(was.clone())
}

/// A resource made again in place: its attributes new, its identity kept.
fn same_id(was: &Created, made: Created) -> Created {
    Created {
        physical_id: was.physical_id.clone(),
        reference: was.reference.clone(),
        attributes: made.attributes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn create_only_properties_replace_and_others_update_in_place() {
        let t = "AWS::DynamoDB::Table";
        let old =
            map(json!({"KeySchema": [{"AttributeName": "pk"}], "BillingMode": "PROVISIONED"}));
        let billing =
            map(json!({"KeySchema": [{"AttributeName": "pk"}], "BillingMode": "PAY_PER_REQUEST"}));
        let key =
            map(json!({"KeySchema": [{"AttributeName": "id"}], "BillingMode": "PROVISIONED"}));
        assert!(!replaces(t, &old, &billing));
        assert!(replaces(t, &old, &key));
        // A type with no in-place update is always replaced.
        assert!(replaces("AWS::Lambda::Permission", &old, &billing));
    }
}
