//! S3 event notifications: which changes a bucket's rules select, the event
//! record S3 sends (`Records[].s3...`), and the outbox through which the
//! invocation is written in the same transaction as the change, so a crash
//! between the write and the notification loses nothing.

use crate::{Bucket, Object};
use serde::{Deserialize, Serialize};

/// The outbox this service stages notifications into: the Invoker crate's
/// seam, implemented by the trigger crate.
pub use nimbus_invoke::{Outbox, Staged};

/// The ARN prefix of queue targets.
pub use nimbus_model::arn::QUEUE_ARN_PREFIX;

/// The ARN prefix of topic targets.
pub const TOPIC_ARN_PREFIX: &str = "arn:aws:sns:";

use nimbus_invoke::permissions::{self, Acting, Permissions};
use std::sync::Arc;

/// The principal S3 acts as when it delivers notifications.
const S3_PRINCIPAL: &str = "s3.amazonaws.com";

/// Where a store's notifications go, and who decides whether S3 may send
/// them: as on AWS, S3 invokes a function or sends to a queue as
/// `s3.amazonaws.com` for the bucket (`aws:SourceArn` `arn:aws:s3:::BUCKET`,
/// `aws:SourceAccount` the account), which only the target's own policy can
/// allow.
pub struct Notifier {
    pub outbox: Arc<dyn Outbox>,
    /// `None`: IAM is off, S3 may deliver anywhere.
    pub permissions: Option<Arc<dyn Permissions>>,
    /// The account buckets belong to.
    pub account: String,
}

impl Notifier {
    /// Why S3 may not deliver `bucket`'s events to `target` (S3's
    /// `ArgumentValue` text), or `None` when it may.
    pub fn refusal(&self, bucket: &str, target: &str) -> Option<String> {
        let queue = target.starts_with(QUEUE_ARN_PREFIX);
        let topic = target.starts_with(TOPIC_ARN_PREFIX);
        if !self.outbox.exists(target) {
            return Some(if queue {
                "The destination queue does not exist".into()
            } else if topic {
                "The destination topic does not exist".into()
            } else {
                format!("The destination function does not exist [{target}]")
            });
        }
        let source_arn = format!("arn:aws:s3:::{bucket}");
        let acting = Acting::Service {
            service: S3_PRINCIPAL,
            source_arn: &source_arn,
            source_account: &self.account,
        };
        let action = if queue {
            "sqs:SendMessage"
        } else if topic {
            "sns:Publish"
        } else {
            "lambda:InvokeFunction"
        };
        let refused = permissions::check(self.permissions.as_deref(), acting, action, target);
        refused.err().map(|denied| {
            tracing::debug!(bucket, target, reason = %denied, "S3 may not deliver to this destination");
            if queue {
                "Permissions on the destination queue do not allow S3 to publish notifications from this bucket".into()
            } else if topic {
                "Permissions on the destination topic do not allow S3 to publish notifications from this bucket".into()
            } else {
                format!("Not authorized to invoke function [{target}]")
            }
        })
    }
}

/// One notification rule of a bucket: a `CloudFunctionConfiguration`, or a
/// `QueueConfiguration` or `TopicConfiguration` when the target is a queue's
/// or a topic's ARN.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Rule {
    pub id: String,
    /// A function ARN, or a queue ARN (`arn:aws:sqs:...`).
    pub function_arn: String,
    /// `s3:ObjectCreated:*`, `s3:ObjectRemoved:Delete`, ...
    pub events: Vec<String>,
    #[serde(default)]
    pub prefix: String,
    #[serde(default)]
    pub suffix: String,
}

/// The event types S3 notifications know (those Nimbus emits are the
/// `ObjectCreated` and `ObjectRemoved` ones).
pub const EVENT_TYPES: &[&str] = &[
    "s3:ObjectCreated:*",
    "s3:ObjectCreated:Put",
    "s3:ObjectCreated:Post",
    "s3:ObjectCreated:Copy",
    "s3:ObjectCreated:CompleteMultipartUpload",
    "s3:ObjectRemoved:*",
    "s3:ObjectRemoved:Delete",
    "s3:ObjectRemoved:DeleteMarkerCreated",
    "s3:ObjectRestore:*",
    "s3:ObjectRestore:Post",
    "s3:ObjectRestore:Completed",
    "s3:ObjectRestore:Delete",
    "s3:ReducedRedundancyLostObject",
    "s3:Replication:*",
    "s3:LifecycleExpiration:*",
    "s3:LifecycleExpiration:Delete",
    "s3:LifecycleExpiration:DeleteMarkerCreated",
    "s3:LifecycleTransition",
    "s3:IntelligentTiering",
    "s3:ObjectTagging:*",
    "s3:ObjectAcl:Put",
];

/// Who caused a change, as the record reports it.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub request_id: String,
    pub source_ip: String,
    /// The requester's access key (S3 reports a principal id).
    pub principal: String,
    /// The request's `X-Amzn-Trace-Id` (a function's own request carries its
    /// invocation's lineage).
    pub trace: Option<String>,
}

/// A change to an object: what happened (`ObjectCreated:Put`), to what, by whom.
pub struct Change<'a> {
    pub event: &'a str,
    pub object: &'a Object,
    pub origin: &'a Origin,
}

impl Rule {
    pub fn matches(&self, c: &Change<'_>) -> bool {
        let full = format!("s3:{}", c.event);
        let selected = self.events.iter().any(|e| match e.strip_suffix('*') {
            Some(prefix) => full.starts_with(prefix),
            None => *e == full,
        });
        selected && c.object.key.starts_with(&self.prefix) && c.object.key.ends_with(&self.suffix)
    }
}

/// The event S3 sends to EventBridge for `change` (`Object Created`,
/// `Object Deleted`), in the default bus's envelope.
pub fn eventbridge_event(bucket: &Bucket, account: &str, change: &Change<'_>) -> String {
    let o = change.object;
    let now = nimbus_model::time::now_millis();
    let created = change.event.starts_with("ObjectCreated");
    let reason = match change.event {
        "ObjectCreated:Copy" => "CopyObject",
        "ObjectCreated:CompleteMultipartUpload" => "CompleteMultipartUpload",
        "ObjectCreated:Post" => "PostObject",
        e if e.starts_with("ObjectCreated") => "PutObject",
        e if e.starts_with("LifecycleExpiration") => "Lifecycle Expiration",
        _ => "DeleteObject",
    };
    let mut object = serde_json::json!({
        "key": o.key,
        "sequencer": format!("{:016X}", nimbus_model::time::now_nanos()),
    });
    if created {
        object["size"] = o.size.into();
        object["etag"] = o.etag.trim_matches('"').into();
    }
    if let Some(v) = &o.version_id {
        object["version-id"] = v.clone().into();
    }
    let mut detail = serde_json::json!({
        "version": "0", "bucket": {"name": bucket.name}, "object": object,
        "request-id": change.origin.request_id, "requester": account,
        "source-ip-address": change.origin.source_ip, "reason": reason,
    });
    if !created {
        detail["deletion-type"] = if change.event.ends_with("DeleteMarkerCreated") {
            "Delete Marker Created"
        } else {
            "Permanently Deleted"
        }
        .into();
    }
    serde_json::json!({
        "version": "0", "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": if created { "Object Created" } else { "Object Deleted" },
        "source": "aws.s3", "account": account,
        "time": nimbus_model::time::Utc::from_millis(now).rfc3339_seconds(),
        "region": bucket.region, "resources": [format!("arn:aws:s3:::{}", bucket.name)],
        "detail": detail,
    })
    .to_string()
}

/// A key as S3 puts it in event records: form-URL-encoded (spaces become `+`).
pub fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for &b in key.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' | b'/' => {
                out.push(b as char);
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The event S3 delivers to a function for `change` under `rule`.
pub fn record(bucket: &Bucket, rule: &Rule, change: &Change<'_>) -> String {
    let o = change.object;
    let now = nimbus_model::time::now_millis();
    let mut object = serde_json::json!({
        "key": encode_key(&o.key),
        // Increases with every change: lets consumers order events for a key.
        "sequencer": format!("{:016X}", nimbus_model::time::now_nanos()),
    });
    if change.event.starts_with("ObjectCreated") {
        object["size"] = o.size.into();
        object["eTag"] = o.etag.clone().into();
    }
    let principal = if change.origin.principal.is_empty() {
        "nimbus".to_string()
    } else {
        format!("AWS:{}", change.origin.principal)
    };
    serde_json::json!({
        "Records": [{
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": bucket.region,
            "eventTime": nimbus_model::time::Utc::from_millis(now).rfc3339_millis(),
            "eventName": change.event,
            "userIdentity": { "principalId": principal },
            "requestParameters": { "sourceIPAddress": change.origin.source_ip },
            "responseElements": {
                "x-amz-request-id": change.origin.request_id,
                "x-amz-id-2": change.origin.request_id,
            },
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": rule.id,
                "bucket": {
                    "name": bucket.name,
                    "ownerIdentity": { "principalId": "nimbus" },
                    "arn": format!("arn:aws:s3:::{}", bucket.name),
                },
                "object": object,
            },
        }]
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Attributes;

    fn obj(key: &str) -> Object {
        Object {
            key: key.into(),
            size: 3,
            etag: "abc".into(),
            last_modified_ms: 0,
            attributes: Attributes::default(),
            checksum: None,
            segments: vec![],
            parts: None,
            version_id: None,
            delete_marker: false,
            upload_id: None,
        }
    }

    #[test]
    fn rules_select_by_event_prefix_and_suffix() {
        let rule = Rule {
            id: "r".into(),
            function_arn: "f".into(),
            events: vec!["s3:ObjectCreated:*".into()],
            prefix: "images/".into(),
            suffix: ".jpg".into(),
        };
        let origin = Origin::default();
        let o = obj("images/cat.jpg");
        let c = |event| Change {
            event,
            object: &o,
            origin: &origin,
        };
        assert!(rule.matches(&c("ObjectCreated:Put")));
        assert!(rule.matches(&c("ObjectCreated:CompleteMultipartUpload")));
        assert!(!rule.matches(&c("ObjectRemoved:Delete")));
        let other = obj("thumbnails/cat.jpg");
        assert!(!rule.matches(&Change {
            event: "ObjectCreated:Put",
            object: &other,
            origin: &origin
        }));
        let png = obj("images/cat.png");
        assert!(!rule.matches(&Change {
            event: "ObjectCreated:Put",
            object: &png,
            origin: &origin
        }));
        let exact = Rule {
            events: vec!["s3:ObjectRemoved:Delete".into()],
            prefix: String::new(),
            suffix: String::new(),
            ..rule
        };
        assert!(exact.matches(&c("ObjectRemoved:Delete")));
        assert!(!exact.matches(&c("ObjectCreated:Put")));
    }

    #[test]
    fn keys_are_form_encoded_as_s3_does() {
        assert_eq!(encode_key("dir/a b+c (1).jpg"), "dir/a+b%2Bc+%281%29.jpg");
        assert_eq!(encode_key("ünï"), "%C3%BCn%C3%AF");
    }

    #[test]
    fn records_have_s3s_shape() {
        let b = Bucket {
            name: "bk".into(),
            created_ms: 0,
            region: "us-east-1".into(),
            notifications: vec![],
            tags: None,
            cors: None,
            versioning: None,
            policy: None,
            access: Default::default(),
            eventbridge: false,
            configs: Default::default(),
            object_lock: None,
            lifecycle: Vec::new(),
        };
        let rule = Rule {
            id: "cfg".into(),
            function_arn: "f".into(),
            events: vec![],
            prefix: String::new(),
            suffix: String::new(),
        };
        let o = obj("a b");
        let origin = Origin {
            request_id: "rid".into(),
            source_ip: "127.0.0.1".into(),
            principal: "AK".into(),
            trace: None,
        };
        let r: serde_json::Value = serde_json::from_str(&record(
            &b,
            &rule,
            &Change {
                event: "ObjectCreated:Put",
                object: &o,
                origin: &origin,
            },
        ))
        .unwrap();
        let rec = &r["Records"][0];
        assert_eq!(rec["eventSource"], "aws:s3");
        assert_eq!(rec["eventName"], "ObjectCreated:Put");
        assert_eq!(rec["s3"]["bucket"]["name"], "bk");
        assert_eq!(rec["s3"]["bucket"]["arn"], "arn:aws:s3:::bk");
        assert_eq!(rec["s3"]["object"]["key"], "a+b");
        assert_eq!(rec["s3"]["object"]["size"], 3);
        assert_eq!(rec["s3"]["object"]["eTag"], "abc");
        assert_eq!(rec["s3"]["configurationId"], "cfg");
        assert_eq!(rec["userIdentity"]["principalId"], "AWS:AK");
        let removed: serde_json::Value = serde_json::from_str(&record(
            &b,
            &rule,
            &Change {
                event: "ObjectRemoved:Delete",
                object: &o,
                origin: &origin,
            },
        ))
        .unwrap();
        assert!(removed["Records"][0]["s3"]["object"].get("size").is_none());
    }
}
