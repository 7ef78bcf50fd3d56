//! The AWS managed policies users reach for, under their real ARNs
//! (`arn:aws:iam::aws:policy/...`) with their documents. They are part of the
//! build, not of the data directory: read-only, always present, version `v1`.
//!
//! `ReadOnlyAccess` lists the read patterns of the services Nimbus serves, not
//! AWS's full list.

/// Path (after `arn:aws:iam::aws:policy`), description, document.
const CATALOG: &[(&str, &str, &str)] = &[
    (
        "/AdministratorAccess",
        "Provides full access to AWS services and resources.",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
    ),
    (
        "/PowerUserAccess",
        "Provides full access to AWS services and resources, but does not allow management of Users and groups.",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","NotAction":["iam:*","organizations:*","account:*"],"Resource":"*"},{"Effect":"Allow","Action":["account:GetAccountInformation","account:GetPrimaryEmail","account:ListRegions","iam:CreateServiceLinkedRole","iam:DeleteServiceLinkedRole","iam:ListRoles","organizations:DescribeOrganization"],"Resource":"*"}]}"#,
    ),
    (
        "/ReadOnlyAccess",
        "Provides read-only access to AWS services and resources.",
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"ReadOnlyActions","Effect":"Allow","Action":["apigateway:GET","dynamodb:BatchGet*","dynamodb:Describe*","dynamodb:Get*","dynamodb:List*","dynamodb:Query","dynamodb:Scan","events:Describe*","events:List*","events:TestEventPattern","iam:Generate*","iam:Get*","iam:List*","iam:Simulate*","kms:Describe*","kms:Get*","kms:List*","lambda:Get*","lambda:List*","logs:Describe*","logs:FilterLogEvents","logs:Get*","logs:List*","logs:StartQuery","logs:StopQuery","logs:TestMetricFilter","s3:Describe*","s3:Get*","s3:List*","secretsmanager:Describe*","secretsmanager:GetResourcePolicy","secretsmanager:List*","sqs:Get*","sqs:List*","sqs:Receive*","ssm:Describe*","ssm:Get*","ssm:List*","states:Describe*","states:Get*","states:List*","sts:GetCallerIdentity","sts:GetSessionToken","tag:Get*"],"Resource":"*"}]}"#,
    ),
    (
        "/service-role/AWSLambdaBasicExecutionRole",
        "Provides write permissions to CloudWatch Logs.",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["logs:CreateLogGroup","logs:CreateLogStream","logs:PutLogEvents"],"Resource":"*"}]}"#,
    ),
    (
        "/service-role/AWSLambdaSQSQueueExecutionRole",
        "Provides receive message, delete message, and read attribute access to SQS queues, and write permissions to CloudWatch logs.",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sqs:ReceiveMessage","sqs:DeleteMessage","sqs:GetQueueAttributes","logs:CreateLogGroup","logs:CreateLogStream","logs:PutLogEvents"],"Resource":"*"}]}"#,
    ),
    (
        "/service-role/AWSLambdaDynamoDBExecutionRole",
        "Provides list and read access to DynamoDB streams and write permissions to CloudWatch logs.",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["dynamodb:DescribeStream","dynamodb:GetRecords","dynamodb:GetShardIterator","dynamodb:ListStreams","logs:CreateLogGroup","logs:CreateLogStream","logs:PutLogEvents"],"Resource":"*"}]}"#,
    ),
    (
        "/service-role/AWSLambdaVPCAccessExecutionRole",
        "Provides minimum permissions for a Lambda function to execute while accessing a resource within a VPC - create, describe, delete network interfaces and write permissions to CloudWatch Logs.",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["logs:CreateLogGroup","logs:CreateLogStream","logs:PutLogEvents","ec2:CreateNetworkInterface","ec2:DescribeNetworkInterfaces","ec2:DescribeSubnets","ec2:DeleteNetworkInterface","ec2:AssignPrivateIpAddresses","ec2:UnassignPrivateIpAddresses"],"Resource":"*"}]}"#,
    ),
    (
        "/service-role/AWSCodeDeployRoleForLambda",
        "Provides CodeDeploy service access to perform a Lambda deployment on your behalf.",
        r#"{"Version":"2012-10-17","Statement":[{"Action":["cloudwatch:DescribeAlarms","lambda:UpdateAlias","lambda:GetAlias","lambda:GetProvisionedConcurrencyConfig","sns:Publish"],"Resource":"*","Effect":"Allow"},{"Action":["s3:GetObject","s3:GetObjectVersion"],"Resource":"arn:aws:s3:::*/CodeDeploy/*","Effect":"Allow"},{"Action":["s3:GetObject","s3:GetObjectVersion"],"Resource":"*","Condition":{"StringEquals":{"s3:ExistingObjectTag/UseWithCodeDeploy":"true"}},"Effect":"Allow"},{"Action":["lambda:InvokeFunction"],"Resource":"arn:aws:lambda:*:*:function:CodeDeployHook_*","Effect":"Allow"}]}"#,
    ),
    (
        "/service-role/AWSLambdaRole",
        "Default policy for AWS Lambda service role.",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["lambda:InvokeFunction"],"Resource":["*"]}]}"#,
    ),
    (
        "/AWSLambdaExecute",
        "Provides Put, Get access to S3 and full access to CloudWatch Logs.",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["logs:*"],"Resource":"arn:aws:logs:*:*:*"},{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::*"}]}"#,
    ),
    (
        "/AmazonDynamoDBFullAccess",
        "Provides full access to Amazon DynamoDB via the AWS Management Console.",
        r#"{"Version":"2012-10-17","Statement":[{"Action":["dynamodb:*","dax:*","application-autoscaling:DeleteScalingPolicy","application-autoscaling:DeregisterScalableTarget","application-autoscaling:DescribeScalableTargets","application-autoscaling:DescribeScalingActivities","application-autoscaling:DescribeScalingPolicies","application-autoscaling:PutScalingPolicy","application-autoscaling:RegisterScalableTarget","cloudwatch:DeleteAlarms","cloudwatch:DescribeAlarmHistory","cloudwatch:DescribeAlarms","cloudwatch:DescribeAlarmsForMetric","cloudwatch:GetMetricStatistics","cloudwatch:ListMetrics","cloudwatch:PutMetricAlarm","cloudwatch:GetMetricData","kinesis:ListStreams","kinesis:DescribeStream","kinesis:DescribeStreamSummary","kms:DescribeKey","kms:ListAliases","lambda:CreateFunction","lambda:ListFunctions","lambda:ListEventSourceMappings","lambda:CreateEventSourceMapping","lambda:DeleteEventSourceMapping","lambda:GetFunctionConfiguration","lambda:DeleteFunction","resource-groups:ListGroups","resource-groups:ListGroupResources","resource-groups:GetGroup","resource-groups:GetGroupQuery","resource-groups:DeleteGroup","resource-groups:CreateGroup","tag:GetResources"],"Effect":"Allow","Resource":"*"},{"Action":"cloudwatch:GetInsightRuleReport","Effect":"Allow","Resource":"arn:aws:cloudwatch:*:*:insight-rule/DynamoDBContributorInsights*"},{"Action":["iam:PassRole"],"Effect":"Allow","Resource":"*","Condition":{"StringLike":{"iam:PassedToService":["application-autoscaling.amazonaws.com","application-autoscaling.amazonaws.com.cn","dax.amazonaws.com"]}}},{"Effect":"Allow","Action":["iam:CreateServiceLinkedRole"],"Resource":"*","Condition":{"StringEquals":{"iam:AWSServiceName":["replication.dynamodb.amazonaws.com","dax.amazonaws.com","dynamodb.application-autoscaling.amazonaws.com","contributorinsights.dynamodb.amazonaws.com","kinesisreplication.dynamodb.amazonaws.com"]}}}]}"#,
    ),
    (
        "/AmazonDynamoDBReadOnlyAccess",
        "Provides read only access to Amazon DynamoDB via the AWS Management Console.",
        r#"{"Version":"2012-10-17","Statement":[{"Action":["application-autoscaling:DescribeScalableTargets","application-autoscaling:DescribeScalingActivities","application-autoscaling:DescribeScalingPolicies","cloudwatch:DescribeAlarmHistory","cloudwatch:DescribeAlarms","cloudwatch:DescribeAlarmsForMetric","cloudwatch:GetMetricStatistics","cloudwatch:ListMetrics","cloudwatch:GetMetricData","datapipeline:DescribeObjects","datapipeline:DescribePipelines","datapipeline:GetPipelineDefinition","datapipeline:ListPipelines","datapipeline:QueryObjects","dynamodb:BatchGetItem","dynamodb:Describe*","dynamodb:List*","dynamodb:GetAbacStatus","dynamodb:GetItem","dynamodb:GetResourcePolicy","dynamodb:Query","dynamodb:Scan","dynamodb:PartiQLSelect","dax:Describe*","dax:List*","dax:GetItem","dax:BatchGetItem","dax:Query","dax:Scan","ec2:DescribeVpcs","ec2:DescribeSubnets","ec2:DescribeSecurityGroups","iam:GetRole","iam:ListRoles","kms:DescribeKey","kms:ListAliases","sns:ListSubscriptionsByTopic","sns:ListTopics","lambda:ListFunctions","lambda:ListEventSourceMappings","lambda:GetFunctionConfiguration","resource-groups:ListGroups","resource-groups:ListGroupResources","resource-groups:GetGroup","resource-groups:GetGroupQuery","tag:GetResources","kinesis:ListStreams","kinesis:DescribeStream","kinesis:DescribeStreamSummary"],"Effect":"Allow","Resource":"*"},{"Action":"cloudwatch:GetInsightRuleReport","Effect":"Allow","Resource":"arn:aws:cloudwatch:*:*:insight-rule/DynamoDBContributorInsights*"}]}"#,
    ),
    (
        "/AmazonS3FullAccess",
        "Provides full access to all buckets via the AWS Management Console.",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:*","s3-object-lambda:*"],"Resource":"*"}]}"#,
    ),
    (
        "/AmazonS3ReadOnlyAccess",
        "Provides read only access to all buckets via the AWS Management Console.",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:Get*","s3:List*","s3:Describe*","s3-object-lambda:Get*","s3-object-lambda:List*"],"Resource":"*"}]}"#,
    ),
    (
        "/AmazonSQSFullAccess",
        "Provides full access to Amazon SQS via the AWS Management Console.",
        r#"{"Version":"2012-10-17","Statement":[{"Action":["sqs:*"],"Effect":"Allow","Resource":"*"}]}"#,
    ),
    (
        "/AWSStepFunctionsFullAccess",
        "An access policy for providing a user/role/etc access to the AWS StepFunctions API.",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"states:*","Resource":"*"},{"Effect":"Allow","Action":"iam:PassRole","Resource":"arn:aws:iam::*:role/service-role/StepFunctions*"}]}"#,
    ),
    (
        "/SecretsManagerReadWrite",
        "Provides read/write access to AWS Secrets Manager via the AWS Management Console.",
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"BasePermissions","Effect":"Allow","Action":["secretsmanager:*","cloudformation:CreateChangeSet","cloudformation:DescribeChangeSet","cloudformation:DescribeStackResource","cloudformation:DescribeStacks","cloudformation:ExecuteChangeSet","docdb-elastic:GetCluster","docdb-elastic:ListClusters","ec2:DescribeSecurityGroups","ec2:DescribeSubnets","ec2:DescribeVpcs","kms:DescribeKey","kms:ListAliases","kms:ListKeys","lambda:ListFunctions","rds:DescribeDBClusters","rds:DescribeDBInstances","redshift:DescribeClusters","redshift-serverless:ListWorkgroups","redshift-serverless:GetNamespace","tag:GetResources"],"Resource":"*"},{"Sid":"LambdaPermissions","Effect":"Allow","Action":["lambda:AddPermission","lambda:CreateFunction","lambda:GetFunction","lambda:InvokeFunction","lambda:UpdateFunctionConfiguration"],"Resource":"arn:aws:lambda:*:*:function:SecretsManager*"},{"Sid":"SARPermissions","Effect":"Allow","Action":["serverlessrepo:CreateCloudFormationChangeSet","serverlessrepo:GetApplication"],"Resource":"arn:aws:serverlessrepo:*:*:applications/SecretsManager*"},{"Sid":"S3Permissions","Effect":"Allow","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::awsserverlessrepo-changesets*","arn:aws:s3:::secrets-manager-rotation-apps-*/*"]}]}"#,
    ),
    (
        "/AmazonSSMReadOnlyAccess",
        "Provides read only access to Amazon SSM.",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ssm:Describe*","ssm:Get*","ssm:List*"],"Resource":"*"}]}"#,
    ),
];

/// When AWS first published these (as IAM reports a managed policy's dates).
const PUBLISHED_MILLIS: u64 = 1_423_247_986_000;

/// A stable `ANPA...` id per policy, as AWS's are stable.
fn policy_id(arn: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut out = String::from("ANPA");
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    for round in 0..17u64 {
        for b in arn.bytes().chain(round.to_le_bytes()) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        out.push(ALPHABET[(h % 32) as usize] as char);
    }
    out
}

/// Every AWS managed policy of the catalog, as policy records.
pub fn catalog() -> Vec<crate::ManagedPolicy> {
    CATALOG
        .iter()
        .map(|(path_name, description, document)| {
            let (path, name) = path_name.rsplit_once('/').unwrap_or(("", path_name));
            let arn = format!("arn:aws:iam::aws:policy{path_name}");
            crate::ManagedPolicy {
                format: crate::FORMAT,
                id: policy_id(&arn),
                arn,
                name: name.to_string(),
                path: format!("{path}/"),
                description: description.to_string(),
                created: PUBLISHED_MILLIS,
                updated: PUBLISHED_MILLIS,
                default_version: "v1".into(),
                versions: vec![crate::PolicyVersion {
                    id: "v1".into(),
                    document: document.to_string(),
                    created: PUBLISHED_MILLIS,
                }],
                next_version: 2,
                tags: Vec::new(),
                aws_managed: true,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::{PolicyKind, check_policy_document};

    #[test]
    fn catalog_documents_are_valid_and_named_as_aws_names_them() {
        let all = catalog();
        for p in &all {
            check_policy_document(PolicyKind::Managed, &p.versions[0].document)
                .unwrap_or_else(|e| panic!("{}: {e}", p.arn));
            assert!(p.id.starts_with("ANPA") && p.id.len() == 21);
        }
        let basic = all
            .iter()
            .find(|p| p.name == "AWSLambdaBasicExecutionRole")
            .unwrap();
        assert_eq!(
            basic.arn,
            "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
        );
        assert_eq!(basic.path, "/service-role/");
        let admin = all
            .iter()
            .find(|p| p.name == "AdministratorAccess")
            .unwrap();
        assert_eq!(admin.path, "/");
    }
}
