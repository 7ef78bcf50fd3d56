//! The SNS API in its query protocol (`Action=Publish&...` forms, XML
//! answers in `http://sns.amazonaws.com/doc/2010-03-31/`): each request
//! becomes an [`Operation`], is authorized (`sns:<Operation>` on the topic's
//! ARN) and run on the topic service.

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use nimbus_api_common::query::{Form, Query};
use nimbus_api_common::xml::el;
use nimbus_api_common::{ApiError, BoxFuture, Service};
use nimbus_topics::{Message, Topics};
use std::collections::BTreeMap;
use std::sync::Arc;

/// SNS's query-protocol framing.
pub const SNS_QUERY: Query = Query {
    namespace: "http://sns.amazonaws.com/doc/2010-03-31/",
};

macro_rules! operations {
    ($($op:ident),* $(,)?) => {
        /// An SNS operation, parsed from `Action`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Operation { $($op),* }

        impl Operation {
            pub fn parse(action: &str) -> Option<Operation> {
                match action {
                    $(stringify!($op) => Some(Operation::$op),)*
                    _ => None,
                }
            }

            pub fn name(self) -> &'static str {
                match self { $(Operation::$op => stringify!($op)),* }
            }
        }
    };
}

operations!(
    CreateTopic,
    DeleteTopic,
    ListTopics,
    GetTopicAttributes,
    SetTopicAttributes,
    Subscribe,
    ConfirmSubscription,
    Unsubscribe,
    ListSubscriptions,
    ListSubscriptionsByTopic,
    GetSubscriptionAttributes,
    SetSubscriptionAttributes,
    Publish,
    PublishBatch,
    TagResource,
    UntagResource,
    ListTagsForResource,
);

pub struct SnsApi {
    topics: Arc<Topics>,
}

type Answer = Result<String, ApiError>;

fn error(e: nimbus_topics::Error) -> ApiError {
    use nimbus_topics::Error as E;
    match &e {
        E::NotFound(m) => ApiError::new(StatusCode::NOT_FOUND, "NotFound", m.clone()),
        E::Invalid(m) => ApiError::bad_request("InvalidParameter", m.clone()),
        E::Storage(_) => {
            tracing::error!(error = %e, "topic service failed");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                "An error occurred on the server side.",
            )
        }
    }
}

fn required<'f>(form: &'f Form, name: &str) -> Result<&'f str, ApiError> {
    form.get(name).ok_or_else(|| {
        ApiError::bad_request("InvalidParameter", format!("Invalid parameter: {name}"))
    })
}

fn attributes_xml(attrs: &BTreeMap<String, String>) -> String {
    let entries: String = attrs
        .iter()
        .map(|(k, v)| format!("<entry>{}{}</entry>", el("key", k), el("value", v)))
        .collect();
    format!("<Attributes>{entries}</Attributes>")
}

/// `Attributes.entry.N.key/value` as a map.
fn attribute_map(form: &Form) -> BTreeMap<String, String> {
    form.entries("Attributes")
        .into_iter()
        .filter_map(|e| {
            let f = |n: &str| e.iter().find(|(k, _)| *k == n).map(|(_, v)| v.to_string());
            Some((f("key")?, f("value").unwrap_or_default()))
        })
        .collect()
}

/// Message attributes from fields `Name`, `Value.DataType`,
/// `Value.StringValue` / `Value.BinaryValue` of `entries`.
fn message_attributes(entries: Vec<Vec<(&str, &str)>>) -> BTreeMap<String, (String, String)> {
    entries
        .into_iter()
        .filter_map(|e| {
            let f = |n: &str| e.iter().find(|(k, _)| *k == n).map(|(_, v)| v.to_string());
            let value = f("Value.StringValue").or_else(|| f("Value.BinaryValue"))?;
            Some((
                f("Name")?,
                (
                    f("Value.DataType").unwrap_or_else(|| "String".into()),
                    value,
                ),
            ))
        })
        .collect()
}

fn tags(form: &Form) -> Vec<(String, String)> {
    form.members("Tags")
        .into_iter()
        .filter_map(|m| {
            let f = |n: &str| m.iter().find(|(k, _)| *k == n).map(|(_, v)| v.to_string());
            Some((f("Key")?, f("Value").unwrap_or_default()))
        })
        .collect()
}

impl SnsApi {
    pub fn new(topics: Arc<Topics>) -> SnsApi {
        SnsApi { topics }
    }

    pub fn handle(&self, req: &Request<Bytes>, request_id: &str) -> Response<Bytes> {
        let form = Form::new(req.uri().query().unwrap_or(""), req.body());
        let Some(action) = form.get("Action") else {
            let e = ApiError::bad_request("MissingAction", "Missing Action");
            return SNS_QUERY.error(&e, request_id);
        };
        let Some(op) = Operation::parse(action) else {
            let e = ApiError::bad_request(
                "InvalidAction",
                format!("The action {action} is not valid for this web service."),
            );
            return SNS_QUERY.error(&e, request_id);
        };
        if let Err(d) =
            nimbus_api_common::authz::authorize(req.extensions(), |s| access(op, &form, s))
        {
            let e = ApiError::new(StatusCode::FORBIDDEN, "AuthorizationError", d.message);
            return SNS_QUERY.error(&e, request_id);
        }
        // The request's X-Ray trace header goes with what it publishes.
        let trace = nimbus_api_common::trace_header(req);
        match self.execute(op, &form, trace) {
            Ok(members) => {
                let doc = SNS_QUERY.document(op.name(), &members, request_id);
                SNS_QUERY.respond(StatusCode::OK, doc, request_id)
            }
            Err(e) => SNS_QUERY.error(&e, request_id),
        }
    }

    fn execute(&self, op: Operation, form: &Form, trace: Option<&str>) -> Answer {
        use Operation::*;
        let t = &self.topics;
        Ok(match op {
            CreateTopic => {
                let arn = t
                    .create_topic(required(form, "Name")?, attribute_map(form), tags(form))
                    .map_err(error)?;
                el("TopicArn", &arn)
            }
            DeleteTopic => {
                t.delete_topic(required(form, "TopicArn")?).map_err(error)?;
                String::new()
            }
            ListTopics => {
                let members: String = t
                    .topics()
                    .iter()
                    .map(|x| format!("<member>{}</member>", el("TopicArn", &x.arn)))
                    .collect();
                format!("<Topics>{members}</Topics>")
            }
            GetTopicAttributes => self.topic_attributes(required(form, "TopicArn")?)?,
            SetTopicAttributes => {
                t.set_topic_attribute(
                    required(form, "TopicArn")?,
                    required(form, "AttributeName")?,
                    form.get("AttributeValue").unwrap_or_default(),
                )
                .map_err(error)?;
                String::new()
            }
            Subscribe => {
                let arn = t
                    .subscribe(
                        required(form, "TopicArn")?,
                        required(form, "Protocol")?,
                        required(form, "Endpoint")?,
                        attribute_map(form),
                    )
                    .map_err(error)?;
                // An HTTP endpoint must confirm first; SNS answers so
                // unless asked for the ARN.
                let pending = t.subscription(&arn).is_ok_and(|s| !s.confirmed());
                if pending && form.get("ReturnSubscriptionArn") != Some("true") {
                    el("SubscriptionArn", "pending confirmation")
                } else {
                    el("SubscriptionArn", &arn)
                }
            }
            ConfirmSubscription => {
                let arn = t
                    .confirm_subscription(required(form, "TopicArn")?, required(form, "Token")?)
                    .map_err(error)?;
                el("SubscriptionArn", &arn)
            }
            Unsubscribe => {
                t.unsubscribe(required(form, "SubscriptionArn")?)
                    .map_err(error)?;
                String::new()
            }
            ListSubscriptions | ListSubscriptionsByTopic => {
                let topic = if op == ListSubscriptionsByTopic {
                    let arn = required(form, "TopicArn")?;
                    t.topic(arn).map_err(error)?;
                    Some(arn)
                } else {
                    None
                };
                let members: String = t
                    .subscriptions(topic)
                    .iter()
                    .map(|s| {
                        format!(
                            "<member>{}{}{}{}{}</member>",
                            el("TopicArn", &s.topic_arn),
                            el("Protocol", &s.protocol),
                            el(
                                "SubscriptionArn",
                                if s.confirmed() {
                                    &s.arn
                                } else {
                                    "PendingConfirmation"
                                }
                            ),
                            el("Owner", t.account()),
                            el("Endpoint", &s.endpoint)
                        )
                    })
                    .collect();
                format!("<Subscriptions>{members}</Subscriptions>")
            }
            GetSubscriptionAttributes => {
                let s = t
                    .subscription(required(form, "SubscriptionArn")?)
                    .map_err(error)?;
                let mut attrs = s.attributes.clone();
                for (k, v) in [
                    ("SubscriptionArn", s.arn.as_str()),
                    ("TopicArn", &s.topic_arn),
                    ("Protocol", &s.protocol),
                    ("Endpoint", &s.endpoint),
                    ("Owner", t.account()),
                    (
                        "PendingConfirmation",
                        if s.confirmed() { "false" } else { "true" },
                    ),
                    ("ConfirmationWasAuthenticated", "true"),
                ] {
                    attrs.insert(k.into(), v.into());
                }
                attrs
                    .entry("RawMessageDelivery".into())
                    .or_insert_with(|| "false".into());
                attributes_xml(&attrs)
            }
            SetSubscriptionAttributes => {
                t.set_subscription_attribute(
                    required(form, "SubscriptionArn")?,
                    required(form, "AttributeName")?,
                    form.get("AttributeValue").unwrap_or_default(),
                )
                .map_err(error)?;
                String::new()
            }
            Publish => {
                let topic = form
                    .get("TopicArn")
                    .or_else(|| form.get("TargetArn"))
                    .ok_or_else(|| {
                        ApiError::bad_request(
                            "InvalidParameter",
                            "Invalid parameter: TopicArn or TargetArn Reason: no value for required parameter",
                        )
                    })?;
                let m = Message {
                    message: form.get("Message").unwrap_or_default().to_string(),
                    subject: form.get("Subject").map(str::to_string),
                    json_structure: form.get("MessageStructure") == Some("json"),
                    attributes: message_attributes(form.entries("MessageAttributes")),
                    trace: trace.map(str::to_string),
                    group_id: form.get("MessageGroupId").map(str::to_string),
                    dedup_id: form.get("MessageDeduplicationId").map(str::to_string),
                };
                let published = t.publish(topic, &m).map_err(error)?;
                let mut answer = el("MessageId", &published.id);
                if let Some(sequence) = &published.sequence {
                    answer.push_str(&el("SequenceNumber", sequence));
                }
                answer
            }
            PublishBatch => self.publish_batch(form, trace)?,
            TagResource | UntagResource => {
                let remove = form.list("TagKeys");
                t.tag(required(form, "ResourceArn")?, tags(form), &remove)
                    .map_err(error)?;
                String::new()
            }
            ListTagsForResource => {
                let topic = t.topic(required(form, "ResourceArn")?).map_err(error)?;
                let members: String = topic
                    .tags
                    .iter()
                    .map(|(k, v)| format!("<member>{}{}</member>", el("Key", k), el("Value", v)))
                    .collect();
                format!("<Tags>{members}</Tags>")
            }
        })
    }

    fn topic_attributes(&self, arn: &str) -> Answer {
        let t = &self.topics;
        let topic = t.topic(arn).map_err(error)?;
        let all = t.subscriptions(Some(arn));
        let confirmed = all.iter().filter(|s| s.confirmed()).count();
        let subs = confirmed.to_string();
        let pending = (all.len() - confirmed).to_string();
        let mut attrs = topic.attributes.clone();
        let default_policy = serde_json::json!({"Version": "2008-10-17", "Id": "__default_policy_ID",
            "Statement": [{"Sid": "__default_statement_ID", "Effect": "Allow",
                "Principal": {"AWS": "*"}, "Action": ["SNS:Publish", "SNS:Subscribe", "SNS:GetTopicAttributes"],
                "Resource": arn, "Condition": {"StringEquals": {"AWS:SourceOwner": t.account()}}}]});
        attrs
            .entry("Policy".into())
            .or_insert_with(|| default_policy.to_string());
        attrs.entry("DisplayName".into()).or_default();
        for (k, v) in [
            ("TopicArn", arn),
            ("Owner", t.account()),
            ("SubscriptionsConfirmed", &subs),
            ("SubscriptionsPending", &pending),
            ("SubscriptionsDeleted", "0"),
        ] {
            attrs.insert(k.into(), v.into());
        }
        Ok(attributes_xml(&attrs))
    }

    fn publish_batch(&self, form: &Form, trace: Option<&str>) -> Answer {
        let topic = required(form, "TopicArn")?;
        let entries = form.members("PublishBatchRequestEntries");
        if entries.is_empty() || entries.len() > 10 {
            return Err(ApiError::bad_request(
                if entries.is_empty() {
                    "EmptyBatchRequest"
                } else {
                    "TooManyEntriesInBatchRequest"
                },
                "The batch request must have between 1 and 10 entries.",
            ));
        }
        let mut ids = Vec::with_capacity(entries.len());
        let mut messages = Vec::with_capacity(entries.len());
        for e in &entries {
            let f = |n: &str| e.iter().find(|(k, _)| *k == n).map(|(_, v)| v.to_string());
            let id = f("Id").unwrap_or_default();
            if id.is_empty()
                || id.len() > 80
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(ApiError::bad_request(
                    "InvalidBatchEntryId",
                    "The Id of a batch entry in a batch request doesn't abide by the specification.",
                ));
            }
            if ids.contains(&id) {
                return Err(ApiError::bad_request(
                    "BatchEntryIdsNotDistinct",
                    "Two or more batch entries in the request have the same Id.",
                ));
            }
            ids.push(id);
            messages.push(Message {
                message: f("Message").unwrap_or_default(),
                subject: f("Subject"),
                json_structure: f("MessageStructure").as_deref() == Some("json"),
                attributes: message_attributes(group(e, "MessageAttributes.entry.")),
                trace: trace.map(str::to_string),
                group_id: f("MessageGroupId"),
                dedup_id: f("MessageDeduplicationId"),
            });
        }
        let results = self.topics.publish_batch(topic, &messages).map_err(error)?;
        let (mut ok, mut failed) = (String::new(), String::new());
        for (id, result) in ids.iter().zip(results) {
            match result {
                Ok(published) => {
                    let sequence = published
                        .sequence
                        .as_deref()
                        .map(|n| el("SequenceNumber", n))
                        .unwrap_or_default();
                    ok.push_str(&format!(
                        "<member>{}{}{sequence}</member>",
                        el("Id", id),
                        el("MessageId", &published.id)
                    ));
                }
                Err(why) => failed.push_str(&format!(
                    "<member>{}{}{}{}</member>",
                    el("Id", id),
                    el("Code", "InvalidParameter"),
                    el("Message", &why.to_string()),
                    el("SenderFault", "true")
                )),
            }
        }
        Ok(format!(
            "<Successful>{ok}</Successful><Failed>{failed}</Failed>"
        ))
    }
}

/// The fields under `prefix` (`MessageAttributes.entry.`) of one batch
/// entry, grouped by their index.
fn group<'a>(fields: &[(&'a str, &'a str)], prefix: &str) -> Vec<Vec<(&'a str, &'a str)>> {
    let mut by: BTreeMap<u32, Vec<(&str, &str)>> = BTreeMap::new();
    for (k, v) in fields {
        if let Some(rest) = k.strip_prefix(prefix)
            && let Some((n, field)) = rest.split_once('.')
            && let Ok(n) = n.parse::<u32>()
        {
            by.entry(n).or_default().push((field, v));
        }
    }
    by.into_values().collect()
}

/// What an operation asks of IAM: `sns:<Operation>` on the topic it names
/// (a subscription's topic for subscription operations).
pub fn access(
    op: Operation,
    form: &Form,
    scope: &nimbus_api_common::authz::Scope,
) -> Vec<nimbus_api_common::authz::Access> {
    use Operation::*;
    use nimbus_api_common::authz::Access;
    let action = format!("sns:{}", op.name());
    let topic_of_subscription = |s: &str| s.rsplit_once(':').map_or(s, |(t, _)| t).to_string();
    let resource = match op {
        CreateTopic => scope.arn("sns", form.get("Name").unwrap_or_default()),
        DeleteTopic
        | GetTopicAttributes
        | SetTopicAttributes
        | Subscribe
        | ConfirmSubscription
        | ListSubscriptionsByTopic
        | PublishBatch => form.get("TopicArn").unwrap_or_default().to_string(),
        Publish => form
            .get("TopicArn")
            .or_else(|| form.get("TargetArn"))
            .unwrap_or_default()
            .to_string(),
        Unsubscribe | GetSubscriptionAttributes | SetSubscriptionAttributes => {
            topic_of_subscription(form.get("SubscriptionArn").unwrap_or_default())
        }
        TagResource | UntagResource | ListTagsForResource => {
            form.get("ResourceArn").unwrap_or_default().to_string()
        }
        ListTopics | ListSubscriptions => return vec![Access::any(action)],
    };
    vec![Access::new(action, resource)]
}

impl Service for SnsApi {
    fn signing_name(&self) -> &'static str {
        "sns"
    }

    /// SNS is found by its signature's scope only.
    fn owns(&self, _req: &http::request::Parts) -> bool {
        false
    }

    fn handle(&self, req: Request<Bytes>, request_id: String) -> BoxFuture<'_, Response<Bytes>> {
        Box::pin(async move { SnsApi::handle(self, &req, &request_id) })
    }

    fn error(&self, err: &ApiError, request_id: &str) -> Response<Bytes> {
        SNS_QUERY.error(err, request_id)
    }
}
