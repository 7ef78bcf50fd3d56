//! `AWS::SNS::Topic` (with its inline `Subscription` list),
//! `AWS::SNS::Subscription` and `AWS::SNS::TopicPolicy` through SNS's query
//! API. A topic's `Ref` is its ARN (`TopicArn`, `TopicName`); a
//! subscription's its ARN; a topic policy's a generated id.

use super::{Created, Ctx, required, string};
use serde_json::{Map, Value};

fn form(action: &str, members: Vec<(String, String)>) -> Vec<(String, String)> {
    let mut f = vec![
        ("Action".to_string(), action.to_string()),
        ("Version".to_string(), "2010-03-31".to_string()),
    ];
    f.extend(members);
    f
}

/// A property as text: objects (policies) as JSON.
fn text(props: &Map<String, Value>, k: &str) -> Option<String> {
    match props.get(k)? {
        v @ Value::Object(_) => Some(v.to_string()),
        _ => string(props, k),
    }
}

const TOPIC_ATTRIBUTES: [&str; 3] = ["DisplayName", "KmsMasterKeyId", "FifoTopic"];
const SUBSCRIPTION_ATTRIBUTES: [&str; 4] = [
    "FilterPolicy",
    "FilterPolicyScope",
    "RawMessageDelivery",
    "RedrivePolicy",
];

fn entries(props: &Map<String, Value>, keys: &[&str]) -> Vec<(String, String)> {
    keys.iter()
        .filter_map(|k| Some((k.to_string(), text(props, k)?)))
        .enumerate()
        .flat_map(|(i, (k, v))| {
            [
                (format!("Attributes.entry.{}.key", i + 1), k),
                (format!("Attributes.entry.{}.value", i + 1), v),
            ]
        })
        .collect()
}

pub(super) async fn create_topic(ctx: &Ctx, props: &Map<String, Value>) -> Result<Created, String> {
    let name = string(props, "TopicName").unwrap_or_else(|| ctx.generated_name(256));
    let mut members = vec![("Name".to_string(), name.clone())];
    members.extend(entries(props, &TOPIC_ATTRIBUTES));
    for (i, t) in props
        .get("Tags")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        for k in ["Key", "Value"] {
            members.push((
                format!("Tags.member.{}.{k}", i + 1),
                t.get(k)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
            ));
        }
    }
    let made = ctx.query("sns", &form("CreateTopic", members)).await?;
    let arn = made.child_text("TopicArn").unwrap_or_default().to_string();
    for s in props
        .get("Subscription")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let field = |k: &str| {
            s.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let subscribed = ctx
            .query(
                "sns",
                &form(
                    "Subscribe",
                    vec![
                        ("TopicArn".into(), arn.clone()),
                        ("Protocol".into(), field("Protocol")),
                        ("Endpoint".into(), field("Endpoint")),
                    ],
                ),
            )
            .await;
        if let Err(why) = subscribed {
            // The topic exists: a refused subscription must not leave it unowned.
            let _ = delete_topic(ctx, &arn).await;
            return Err(why);
        }
    }
    Ok(Created::named(arn.clone())
        .with("TopicArn", arn)
        .with("TopicName", name))
}

pub(super) async fn update_topic(
    ctx: &Ctx,
    arn: &str,
    new: &Map<String, Value>,
) -> Result<(), String> {
    for k in ["DisplayName", "KmsMasterKeyId"] {
        let members = vec![
            ("TopicArn".into(), arn.to_string()),
            ("AttributeName".into(), k.to_string()),
            ("AttributeValue".into(), text(new, k).unwrap_or_default()),
        ];
        ctx.query("sns", &form("SetTopicAttributes", members))
            .await?;
    }
    Ok(())
}

pub(super) async fn delete_topic(ctx: &Ctx, arn: &str) -> Result<(), String> {
    ctx.query(
        "sns",
        &form("DeleteTopic", vec![("TopicArn".into(), arn.into())]),
    )
    .await
    .map(|_| ())
}

pub(super) async fn create_subscription(
    ctx: &Ctx,
    props: &Map<String, Value>,
) -> Result<Created, String> {
    let mut members = vec![
        ("TopicArn".to_string(), required(props, "TopicArn")?),
        ("Protocol".to_string(), required(props, "Protocol")?),
        ("Endpoint".to_string(), required(props, "Endpoint")?),
    ];
    members.extend(entries(props, &SUBSCRIPTION_ATTRIBUTES));
    let made = ctx.query("sns", &form("Subscribe", members)).await?;
    Ok(Created::named(
        made.child_text("SubscriptionArn").unwrap_or_default(),
    ))
}

pub(super) async fn update_subscription(
    ctx: &Ctx,
    arn: &str,
    old: &Map<String, Value>,
    new: &Map<String, Value>,
) -> Result<(), String> {
    for k in SUBSCRIPTION_ATTRIBUTES {
        if text(old, k) == text(new, k) {
            continue;
        }
        let default = if k == "FilterPolicyScope" {
            "MessageAttributes"
        } else if k == "RawMessageDelivery" {
            "false"
        } else {
            ""
        };
        let members = vec![
            ("SubscriptionArn".into(), arn.to_string()),
            ("AttributeName".into(), k.to_string()),
            (
                "AttributeValue".into(),
                text(new, k).unwrap_or_else(|| default.into()),
            ),
        ];
        ctx.query("sns", &form("SetSubscriptionAttributes", members))
            .await?;
    }
    Ok(())
}

pub(super) async fn delete_subscription(ctx: &Ctx, arn: &str) -> Result<(), String> {
    ctx.query(
        "sns",
        &form("Unsubscribe", vec![("SubscriptionArn".into(), arn.into())]),
    )
    .await
    .map(|_| ())
}

/// `AWS::SNS::TopicPolicy`: the `Policy` attribute of each topic in
/// `Topics`.
pub(super) async fn create_policy(
    ctx: &Ctx,
    props: &Map<String, Value>,
) -> Result<Created, String> {
    let doc = text(props, "PolicyDocument").ok_or(
        "Properties validation failed for resource: required key [PolicyDocument] not found",
    )?;
    let topics: Vec<Value> = props
        .get("Topics")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for t in &topics {
        let members = vec![
            (
                "TopicArn".into(),
                t.as_str().unwrap_or_default().to_string(),
            ),
            ("AttributeName".into(), "Policy".into()),
            ("AttributeValue".into(), doc.clone()),
        ];
        ctx.query("sns", &form("SetTopicAttributes", members))
            .await?;
    }
    Ok(Created::named(ctx.generated_name(128)).with("Topics", topics))
}
