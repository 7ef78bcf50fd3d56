//! Where the enforcer finds resources' own policies: a function's permissions
//! (`AddPermission`), a queue's `Policy` attribute, a secret's resource
//! policy, a bucket's policy, an event bus's policy (`PutPermission`), a table's or stream's
//! resource policy, a KMS key's policy (which must allow a
//! request for IAM policies to count at all). Each is one service's [`ResourcePolicies`], registered by the ARN
//! prefix of its resources.

use nimbus_api_common::authz::ResourcePolicies;
use nimbus_functions::Functions;
use std::sync::Arc;

pub struct FunctionPolicies(pub Arc<Functions>);

impl ResourcePolicies for FunctionPolicies {
    fn policy(&self, arn: &str) -> Option<String> {
        // arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]
        let rest = arn.splitn(7, ':').nth(6)?;
        let (name, qualifier) = match rest.split_once(':') {
            Some((n, q)) => (n, Some(q)),
            None => (rest, None),
        };
        let statements = self.0.policy_statements(name, qualifier).ok()?;
        (!statements.is_empty()).then(|| {
            serde_json::json!({"Version": "2012-10-17", "Statement": statements}).to_string()
        })
    }

    fn tags(&self, arn: &str) -> Vec<(String, String)> {
        let Some(rest) = arn.splitn(7, ':').nth(6) else {
            return Vec::new();
        };
        let name = rest.split(':').next().unwrap_or(rest);
        self.0
            .get(name)
            .map(|f| f.tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    }
}

pub struct QueuePolicies(pub Arc<nimbus_queues::Queues>);

impl ResourcePolicies for QueuePolicies {
    fn policy(&self, arn: &str) -> Option<String> {
        self.0.policy(&self.0.name_from_arn(arn)?)
    }

    fn tags(&self, arn: &str) -> Vec<(String, String)> {
        self.0
            .name_from_arn(arn)
            .and_then(|name| self.0.tags(&name).ok())
            .map(|t| t.into_iter().collect())
            .unwrap_or_default()
    }
}

/// A topic's `Policy` attribute, or the policy SNS gives a topic that has
/// none (the account's principals may publish and subscribe).
pub struct TopicPolicies(pub Arc<nimbus_topics::Topics>);

impl ResourcePolicies for TopicPolicies {
    fn policy(&self, arn: &str) -> Option<String> {
        let t = self.0.topic(arn).ok()?;
        if let Some(p) = t.attributes.get("Policy") {
            return Some(p.clone());
        }
        Some(
            serde_json::json!({"Version": "2008-10-17", "Id": "__default_policy_ID",
                "Statement": [{"Sid": "__default_statement_ID", "Effect": "Allow",
                    "Principal": {"AWS": "*"},
                    "Action": ["SNS:Publish", "SNS:Subscribe", "SNS:GetTopicAttributes"],
                    "Resource": arn,
                    "Condition": {"StringEquals": {"AWS:SourceOwner": self.0.account()}}}]})
            .to_string(),
        )
    }

    fn tags(&self, arn: &str) -> Vec<(String, String)> {
        self.0
            .topic(arn)
            .map(|t| t.tags.clone())
            .unwrap_or_default()
    }
}

/// An event bus's policy (`PutPermission`); the tags of buses and rules.
pub struct BusPolicies(pub Arc<nimbus_events::Events>);

impl ResourcePolicies for BusPolicies {
    fn policy(&self, arn: &str) -> Option<String> {
        let (_, name) = arn.split_once(":event-bus/")?;
        self.0.bus(Some(name)).ok()?.policy.clone()
    }

    fn tags(&self, arn: &str) -> Vec<(String, String)> {
        self.0
            .tags(arn)
            .map(|t| t.into_iter().collect())
            .unwrap_or_default()
    }
}

pub struct SecretPolicies(pub Arc<nimbus_secrets::Secrets>);

impl ResourcePolicies for SecretPolicies {
    fn policy(&self, arn: &str) -> Option<String> {
        self.0.find(arn).ok()?.policy.clone()
    }

    fn tags(&self, arn: &str) -> Vec<(String, String)> {
        self.0.find(arn).map_or_else(
            |_| Vec::new(),
            |s| {
                s.tags
                    .iter()
                    .map(|t| (t.key.clone(), t.value.clone()))
                    .collect()
            },
        )
    }
}

pub struct BucketPolicies(pub Arc<nimbus_objects::Objects>);

impl ResourcePolicies for BucketPolicies {
    fn policy(&self, arn: &str) -> Option<String> {
        // arn:aws:s3:::BUCKET or arn:aws:s3:::BUCKET/KEY: the bucket's
        // policy with the grants of its ACL and the object's.
        let rest = arn.strip_prefix("arn:aws:s3:::")?;
        let (bucket, key) = match rest.split_once('/') {
            Some((b, k)) => (b, Some(k)),
            None => (rest, None),
        };
        let b = self.0.bucket(bucket).ok()?;
        let object = key
            .filter(|k| !k.contains('*') && !b.access.acls_disabled())
            .and_then(|k| self.0.head(bucket, k).ok());
        nimbus_api_s3::acl::effective_policy(&b, object.as_ref())
    }

    fn tags(&self, arn: &str) -> Vec<(String, String)> {
        // A bucket's tags (objects have their own condition keys).
        let Some(bucket) = arn
            .strip_prefix("arn:aws:s3:::")
            .filter(|b| !b.contains('/'))
        else {
            return Vec::new();
        };
        self.0
            .bucket(bucket)
            .ok()
            .and_then(|b| b.tags)
            .unwrap_or_default()
    }
}

/// IAM's users and roles as resources: no resource policies here (a role's
/// trust policy is checked by `AssumeRole` itself), but their tags.
pub struct IamResources(pub Arc<nimbus_iam::Iam>);

impl ResourcePolicies for IamResources {
    fn policy(&self, _arn: &str) -> Option<String> {
        None
    }

    fn tags(&self, arn: &str) -> Vec<(String, String)> {
        let tags = if arn.contains(":role/") {
            self.0.role_by_arn(arn).map(|r| r.tags.clone())
        } else if let Some((_, name)) = arn.split_once(":user/") {
            self.0
                .user(name.rsplit('/').next().unwrap_or(name))
                .ok()
                .filter(|u| u.arn == arn)
                .map(|u| u.tags.clone())
        } else {
            None
        };
        tags.unwrap_or_default()
            .into_iter()
            .map(|t| (t.key, t.value))
            .collect()
    }
}

pub struct KeyPolicies(pub Arc<nimbus_kms::Kms>);

impl ResourcePolicies for KeyPolicies {
    fn policy(&self, arn: &str) -> Option<String> {
        // arn:aws:kms:REGION:ACCOUNT:key/ID (an alias ARN names its key)
        self.0.key_policy(arn, None).ok()
    }

    fn tags(&self, arn: &str) -> Vec<(String, String)> {
        self.0.describe_key(arn).map_or_else(
            |_| Vec::new(),
            |k| {
                k.tags
                    .iter()
                    .map(|t| (t.key.clone(), t.value.clone()))
                    .collect()
            },
        )
    }
}

/// A table's resource-based policy (its indexes' requests too), or a
/// stream's (`PutResourcePolicy`).
pub struct TablePolicies(pub Arc<nimbus_tables::Tables>);

impl TablePolicies {
    /// The table, and the stream's label, an ARN names
    /// (`table/NAME`, `table/NAME/index/I`, `table/NAME/stream/LABEL`).
    fn parse(&self, arn: &str) -> Option<(String, Option<String>)> {
        let (head, rest) = match arn.split_once("/stream/") {
            Some((h, label)) => (h, Some(label.to_string())),
            None => (arn.split("/index/").next().unwrap_or(arn), None),
        };
        Some((self.0.table_from_arn(head)?, rest))
    }
}

impl ResourcePolicies for TablePolicies {
    fn policy(&self, arn: &str) -> Option<String> {
        let (table, stream) = self.parse(arn)?;
        self.0
            .resource_policy(&table, stream.as_deref())
            .ok()
            .flatten()
            .map(|p| p.document)
    }

    fn tags(&self, arn: &str) -> Vec<(String, String)> {
        self.parse(arn)
            .and_then(|(table, _)| self.0.record(&table).ok())
            .map(|r| r.tags.into_iter().collect())
            .unwrap_or_default()
    }
}
