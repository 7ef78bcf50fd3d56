//! `Policies` of a serverless function: AWS managed policy names, policy
//! ARNs, inline policy documents, and SAM's policy templates (documented in
//! the SAM developer guide) turned into the statements they stand for.

use super::invalid;
use crate::Error;
use serde_json::{Map, Value, json};

/// AWS managed policies that live under `service-role/`.
const SERVICE_ROLE: [&str; 7] = [
    "AWSLambdaBasicExecutionRole",
    "AWSLambdaSQSQueueExecutionRole",
    "AWSLambdaDynamoDBExecutionRole",
    "AWSLambdaKinesisExecutionRole",
    "AWSLambdaVPCAccessExecutionRole",
    "AWSLambdaMSKExecutionRole",
    "AWSLambdaENIManagementAccess",
];

/// The ARN of an AWS managed policy named `name`.
pub(crate) fn managed_arn(name: &str) -> String {
    if SERVICE_ROLE.contains(&name) {
        format!("arn:aws:iam::aws:policy/service-role/{name}")
    } else {
        format!("arn:aws:iam::aws:policy/{name}")
    }
}

/// One statement of a template: its actions and its resources, each a
/// `Fn::Sub` pattern over the template's parameters (`${tableName}`).
struct Statement {
    actions: &'static [&'static str],
    resources: &'static [&'static str],
}

/// A policy template: its parameters (as the template names them, and as
/// its patterns do) and statements.
struct PolicyTemplate {
    name: &'static str,
    params: &'static [(&'static str, &'static str)],
    statements: &'static [Statement],
}

const TABLE: &[(&str, &str)] = &[("TableName", "tableName")];
const TABLE_ARNS: &[&str] = &[
    "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${tableName}",
    "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${tableName}/index/*",
];
const BUCKET: &[(&str, &str)] = &[("BucketName", "bucketName")];
const BUCKET_ARNS: &[&str] = &[
    "arn:${AWS::Partition}:s3:::${bucketName}",
    "arn:${AWS::Partition}:s3:::${bucketName}/*",
];
const QUEUE: &[(&str, &str)] = &[("QueueName", "queueName")];
const QUEUE_ARN: &[&str] =
    &["arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:${queueName}"];
const ANYTHING: &[&str] = &["*"];

const TEMPLATES: &[PolicyTemplate] = &[
    PolicyTemplate {
        name: "DynamoDBCrudPolicy",
        params: TABLE,
        statements: &[Statement {
            actions: &[
                "dynamodb:GetItem",
                "dynamodb:DeleteItem",
                "dynamodb:PutItem",
                "dynamodb:Scan",
                "dynamodb:Query",
                "dynamodb:UpdateItem",
                "dynamodb:BatchWriteItem",
                "dynamodb:BatchGetItem",
                "dynamodb:DescribeTable",
                "dynamodb:ConditionCheckItem",
            ],
            resources: TABLE_ARNS,
        }],
    },
    PolicyTemplate {
        name: "DynamoDBReadPolicy",
        params: TABLE,
        statements: &[Statement {
            actions: &[
                "dynamodb:GetItem",
                "dynamodb:Scan",
                "dynamodb:Query",
                "dynamodb:BatchGetItem",
                "dynamodb:DescribeTable",
            ],
            resources: TABLE_ARNS,
        }],
    },
    PolicyTemplate {
        name: "DynamoDBWritePolicy",
        params: TABLE,
        statements: &[Statement {
            actions: &[
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:BatchWriteItem",
            ],
            resources: TABLE_ARNS,
        }],
    },
    PolicyTemplate {
        name: "DynamoDBStreamReadPolicy",
        params: &[("TableName", "tableName"), ("StreamName", "streamName")],
        statements: &[
            Statement {
                actions: &[
                    "dynamodb:DescribeStream",
                    "dynamodb:GetRecords",
                    "dynamodb:GetShardIterator",
                ],
                resources: &[
                    "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${tableName}/stream/${streamName}",
                ],
            },
            Statement {
                actions: &["dynamodb:ListStreams"],
                resources: &[
                    "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${tableName}/stream/*",
                ],
            },
        ],
    },
    PolicyTemplate {
        name: "S3ReadPolicy",
        params: BUCKET,
        statements: &[Statement {
            actions: &[
                "s3:GetObject",
                "s3:ListBucket",
                "s3:GetBucketLocation",
                "s3:GetObjectVersion",
                "s3:GetLifecycleConfiguration",
            ],
            resources: BUCKET_ARNS,
        }],
    },
    PolicyTemplate {
        name: "S3WritePolicy",
        params: BUCKET,
        statements: &[Statement {
            actions: &[
                "s3:PutObject",
                "s3:PutObjectAcl",
                "s3:PutLifecycleConfiguration",
            ],
            resources: BUCKET_ARNS,
        }],
    },
    PolicyTemplate {
        name: "S3CrudPolicy",
        params: BUCKET,
        statements: &[Statement {
            actions: &[
                "s3:GetObject",
                "s3:ListBucket",
                "s3:GetBucketLocation",
                "s3:GetObjectVersion",
                "s3:PutObject",
                "s3:PutObjectAcl",
                "s3:GetLifecycleConfiguration",
                "s3:PutLifecycleConfiguration",
                "s3:DeleteObject",
            ],
            resources: BUCKET_ARNS,
        }],
    },
    PolicyTemplate {
        name: "SQSPollerPolicy",
        params: QUEUE,
        statements: &[Statement {
            actions: &[
                "sqs:ChangeMessageVisibility",
                "sqs:ChangeMessageVisibilityBatch",
                "sqs:DeleteMessage",
                "sqs:DeleteMessageBatch",
                "sqs:GetQueueAttributes",
                "sqs:ReceiveMessage",
            ],
            resources: QUEUE_ARN,
        }],
    },
    PolicyTemplate {
        name: "SQSSendMessagePolicy",
        params: QUEUE,
        statements: &[Statement {
            actions: &["sqs:SendMessage*"],
            resources: QUEUE_ARN,
        }],
    },
    PolicyTemplate {
        name: "LambdaInvokePolicy",
        params: &[("FunctionName", "functionName")],
        statements: &[Statement {
            actions: &["lambda:InvokeFunction"],
            resources: &[
                "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:${functionName}*",
            ],
        }],
    },
    PolicyTemplate {
        name: "AWSSecretsManagerGetSecretValuePolicy",
        params: &[("SecretArn", "secretArn")],
        statements: &[Statement {
            actions: &["secretsmanager:GetSecretValue"],
            resources: &["${secretArn}"],
        }],
    },
    PolicyTemplate {
        name: "SSMParameterReadPolicy",
        params: &[("ParameterName", "parameterName")],
        statements: &[
            Statement {
                actions: &["ssm:DescribeParameters"],
                resources: ANYTHING,
            },
            Statement {
                actions: &[
                    "ssm:GetParameters",
                    "ssm:GetParameter",
                    "ssm:GetParametersByPath",
                ],
                resources: &[
                    "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/${parameterName}",
                ],
            },
        ],
    },
    PolicyTemplate {
        name: "StepFunctionsExecutionPolicy",
        params: &[("StateMachineName", "stateMachineName")],
        statements: &[Statement {
            actions: &["states:StartExecution"],
            resources: &[
                "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:${stateMachineName}",
            ],
        }],
    },
    PolicyTemplate {
        name: "KMSDecryptPolicy",
        params: &[("KeyId", "keyId")],
        statements: &[Statement {
            actions: &["kms:Decrypt"],
            resources: &["arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key/${keyId}"],
        }],
    },
    PolicyTemplate {
        name: "CloudWatchPutMetricPolicy",
        params: &[],
        statements: &[Statement {
            actions: &["cloudwatch:PutMetricData"],
            resources: ANYTHING,
        }],
    },
    PolicyTemplate {
        name: "VPCAccessPolicy",
        params: &[],
        statements: &[Statement {
            actions: &[
                "ec2:CreateNetworkInterface",
                "ec2:DeleteNetworkInterface",
                "ec2:DescribeNetworkInterfaces",
                "ec2:DetachNetworkInterface",
            ],
            resources: ANYTHING,
        }],
    },
];

/// The policy document a template entry (`{"DynamoDBCrudPolicy":
/// {"TableName": ...}}`) stands for; `None` when the key names no template.
fn expand_template(id: &str, name: &str, args: &Value) -> Option<Result<Value, Error>> {
    let t = TEMPLATES.iter().find(|t| t.name == name)?;
    let mut bound = Map::new();
    for (param, var) in t.params {
        match args.get(*param) {
            Some(v) => {
                bound.insert((*var).to_string(), v.clone());
            }
            None => {
                return Some(Err(invalid(
                    id,
                    format!("Missing parameter '{param}' of policy template '{name}'."),
                )));
            }
        }
    }
    let statements: Vec<Value> = t
        .statements
        .iter()
        .map(|s| {
            let resources: Vec<Value> = s
                .resources
                .iter()
                .map(|r| {
                    if bound.is_empty() || !r.contains("${") {
                        json!(r)
                    } else {
                        json!({"Fn::Sub": [r, Value::Object(bound.clone())]})
                    }
                })
                .collect();
            let resource = match resources.as_slice() {
                [one] if t.statements.len() > 1 || s.resources.len() == 1 => one.clone(),
                _ => Value::Array(resources),
            };
            json!({"Action": s.actions, "Effect": "Allow", "Resource": resource})
        })
        .collect();
    Some(Ok(json!({"Statement": statements})))
}

/// What a function's `Policies` give its generated role: managed policy
/// ARNs, and inline policy documents in order (their position in the list
/// names them, `<Fn>RolePolicy<i>`).
pub(crate) struct RolePolicies {
    pub managed: Vec<Value>,
    pub inline: Vec<(usize, Value)>,
}

pub(crate) fn read(id: &str, policies: Option<&Value>) -> Result<RolePolicies, Error> {
    let mut out = RolePolicies {
        managed: Vec::new(),
        inline: Vec::new(),
    };
    let list: Vec<&Value> = match policies {
        None => Vec::new(),
        Some(Value::Array(l)) => l.iter().collect(),
        Some(one) => vec![one],
    };
    for (i, p) in list.into_iter().enumerate() {
        match p {
            Value::String(s) if s.starts_with("arn:") => out.managed.push(json!(s)),
            Value::String(s) => out.managed.push(json!(managed_arn(s))),
            Value::Object(m) if m.contains_key("Statement") => out.inline.push((i, p.clone())),
            Value::Object(m)
                if m.len() == 1 && m.keys().all(|k| k == "Ref" || k.starts_with("Fn::")) =>
            {
                out.managed.push(p.clone());
            }
            Value::Object(m) if m.len() == 1 => {
                let (name, args) = m.iter().next().expect("one entry");
                match expand_template(id, name, args) {
                    Some(doc) => out.inline.push((i, doc?)),
                    None => {
                        return Err(invalid(
                            id,
                            format!("Policy template '{name}' is not one Nimbus knows."),
                        ));
                    }
                }
            }
            _ => {
                return Err(invalid(
                    id,
                    "Each of 'Policies' must be a managed policy name or ARN, a policy document, or a policy template.",
                ));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_become_statements_over_their_parameters() {
        let p = read(
            "Fn",
            Some(&json!([
                {"DynamoDBCrudPolicy": {"TableName": {"Ref": "T"}}},
                "AmazonS3ReadOnlyAccess",
                "AWSLambdaSQSQueueExecutionRole",
                {"Statement": [{"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"}]},
                {"CloudWatchPutMetricPolicy": {}},
            ])),
        )
        .unwrap();
        assert_eq!(
            p.managed,
            [
                json!("arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"),
                json!("arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole"),
            ]
        );
        assert_eq!(
            p.inline.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
            [0, 3, 4]
        );
        let crud = &p.inline[0].1["Statement"][0];
        assert_eq!(crud["Action"].as_array().unwrap().len(), 10);
        assert_eq!(
            crud["Resource"][0]["Fn::Sub"][1]["tableName"],
            json!({"Ref": "T"})
        );
        assert_eq!(p.inline[2].1["Statement"][0]["Resource"], "*");
        assert!(read("Fn", Some(&json!([{"NoSuchPolicy": {}}]))).is_err());
        assert!(read("Fn", Some(&json!([{"S3ReadPolicy": {}}]))).is_err());
    }
}
