//! S3's operations as IAM actions on bucket (`arn:aws:s3:::bucket`) and
//! object (`arn:aws:s3:::bucket/key`) ARNs, as S3's authorization reference
//! names them: several operations share an action (`HeadObject` is
//! `s3:GetObject`, the multipart upload steps are `s3:PutObject`), reading a
//! version has its own (`s3:GetObjectVersion`), and a copy also reads its
//! source.

use crate::request::{Op, Target};
use nimbus_api_common::authz::Access;

fn bucket_arn(bucket: &str) -> String {
    format!("arn:aws:s3:::{bucket}")
}

fn object_arn(bucket: &str, key: &str) -> String {
    format!("arn:aws:s3:::{bucket}/{key}")
}

/// What `op` on `target` asks of IAM. `version` is the `versionId` the
/// request names; `copy_source` the bucket, key and version its
/// `x-amz-copy-source` names, read as the copy itself reads it. Headers ask
/// more: a write that sets an ACL (`x-amz-acl`, `x-amz-grant-*`) also needs
/// the ACL action, one that sets Object Lock settings their actions, and
/// `x-amz-bypass-governance-retention` needs `s3:BypassGovernanceRetention`.
pub(crate) fn access(
    op: &Op,
    target: &Target,
    version: Option<&str>,
    copy_source: Option<(&str, &str, Option<&str>)>,
    h: &http::HeaderMap,
) -> Vec<Access> {
    let mut out = asked(op, target, version, copy_source);
    let bucket = target.bucket.as_deref().unwrap_or_default();
    let key = target.key.as_deref().unwrap_or_default();
    let sets_acl =
        h.contains_key("x-amz-acl") || h.keys().any(|k| k.as_str().starts_with("x-amz-grant-"));
    let uploads = matches!(
        op,
        Op::PutObject | Op::CopyObject | Op::CreateMultipartUpload
    );
    if matches!(op, Op::CreateBucket)
        && h.get("x-amz-bucket-object-lock-enabled")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    {
        out.push(Access::new(
            "s3:PutBucketObjectLockConfiguration",
            bucket_arn(bucket),
        ));
        out.push(Access::new("s3:PutBucketVersioning", bucket_arn(bucket)));
    }
    if sets_acl {
        match op {
            Op::CreateBucket => out.push(Access::new("s3:PutBucketAcl", bucket_arn(bucket))),
            _ if uploads => out.push(Access::new("s3:PutObjectAcl", object_arn(bucket, key))),
            _ => {}
        }
    }
    if uploads {
        if h.contains_key("x-amz-object-lock-mode") {
            out.push(Access::new(
                "s3:PutObjectRetention",
                object_arn(bucket, key),
            ));
        }
        if h.contains_key("x-amz-object-lock-legal-hold") {
            out.push(Access::new(
                "s3:PutObjectLegalHold",
                object_arn(bucket, key),
            ));
        }
    }
    if crate::lock::bypass(h) && matches!(op, Op::DeleteObject | Op::PutObjectRetention) {
        out.push(Access::new(
            "s3:BypassGovernanceRetention",
            object_arn(bucket, key),
        ));
    }
    out
}

fn asked(
    op: &Op,
    target: &Target,
    version: Option<&str>,
    copy_source: Option<(&str, &str, Option<&str>)>,
) -> Vec<Access> {
    let bucket = target.bucket.as_deref().unwrap_or_default();
    let key = target.key.as_deref().unwrap_or_default();
    let on_bucket = |action: &str| vec![Access::new(format!("s3:{action}"), bucket_arn(bucket))];
    let on_object =
        |action: &str| vec![Access::new(format!("s3:{action}"), object_arn(bucket, key))];
    let versioned = |plain: &str, with_version: &str| {
        on_object(if version.is_some() {
            with_version
        } else {
            plain
        })
    };
    match op {
        Op::ListBuckets => vec![Access::any("s3:ListAllMyBuckets")],
        Op::CreateBucket => on_bucket("CreateBucket"),
        Op::HeadBucket | Op::ListObjects | Op::ListObjectsV2 => on_bucket("ListBucket"),
        Op::DeleteBucket => on_bucket("DeleteBucket"),
        Op::GetBucketLocation => on_bucket("GetBucketLocation"),
        Op::GetBucketVersioning => on_bucket("GetBucketVersioning"),
        Op::PutBucketVersioning => on_bucket("PutBucketVersioning"),
        Op::ListObjectVersions => on_bucket("ListBucketVersions"),
        Op::ListMultipartUploads => on_bucket("ListBucketMultipartUploads"),
        // Each key of the batch is checked as its own `DeleteObject` (or
        // `DeleteObjectVersion`), and refused keys answer `AccessDenied` in
        // the result: see [`delete_one`].
        Op::DeleteObjects => Vec::new(),
        // The form names the key and who signs it: see `post_object`.
        Op::PostObject => Vec::new(),
        Op::PutObject
        | Op::CreateMultipartUpload
        | Op::UploadPart
        | Op::CompleteMultipartUpload => on_object("PutObject"),
        Op::CopyObject | Op::UploadPartCopy => {
            let mut out = on_object("PutObject");
            if let Some((src_bucket, src_key, src_version)) = copy_source {
                let action = if src_version.is_some() {
                    "s3:GetObjectVersion"
                } else {
                    "s3:GetObject"
                };
                out.push(Access::new(action, object_arn(src_bucket, src_key)));
            }
            out
        }
        Op::GetObject | Op::HeadObject => versioned("GetObject", "GetObjectVersion"),
        Op::DeleteObject => versioned("DeleteObject", "DeleteObjectVersion"),
        Op::AbortMultipartUpload => on_object("AbortMultipartUpload"),
        Op::ListParts => on_object("ListMultipartUploadParts"),
        Op::PutBucketNotificationConfiguration => on_bucket("PutBucketNotification"),
        Op::GetBucketNotificationConfiguration => on_bucket("GetBucketNotification"),
        Op::PutBucketTagging | Op::DeleteBucketTagging => on_bucket("PutBucketTagging"),
        Op::GetBucketTagging => on_bucket("GetBucketTagging"),
        Op::PutBucketCors | Op::DeleteBucketCors => on_bucket("PutBucketCORS"),
        Op::GetBucketPolicyStatus => on_bucket("GetBucketPolicyStatus"),
        Op::GetBucketAcl => on_bucket("GetBucketAcl"),
        Op::PutBucketAcl => on_bucket("PutBucketAcl"),
        Op::GetObjectAcl => versioned("GetObjectAcl", "GetObjectVersionAcl"),
        Op::PutObjectAcl => versioned("PutObjectAcl", "PutObjectVersionAcl"),
        Op::GetPublicAccessBlock => on_bucket("GetBucketPublicAccessBlock"),
        Op::PutPublicAccessBlock | Op::DeletePublicAccessBlock => {
            on_bucket("PutBucketPublicAccessBlock")
        }
        Op::GetBucketOwnershipControls => on_bucket("GetBucketOwnershipControls"),
        Op::PutBucketOwnershipControls | Op::DeleteBucketOwnershipControls => {
            on_bucket("PutBucketOwnershipControls")
        }
        Op::PutBucketPolicy => on_bucket("PutBucketPolicy"),
        Op::GetBucketPolicy => on_bucket("GetBucketPolicy"),
        Op::DeleteBucketPolicy => on_bucket("DeleteBucketPolicy"),
        Op::GetBucketCors => on_bucket("GetBucketCORS"),
        Op::PutObjectTagging => versioned("PutObjectTagging", "PutObjectVersionTagging"),
        Op::GetObjectTagging => versioned("GetObjectTagging", "GetObjectVersionTagging"),
        Op::DeleteObjectTagging => versioned("DeleteObjectTagging", "DeleteObjectVersionTagging"),
        // A preflight carries no credentials; S3 answers it from the CORS rules.
        Op::Preflight => Vec::new(),
        Op::GetBucketConfig(k) => on_bucket(config_actions(k).0),
        Op::GetObjectLockConfiguration => on_bucket("GetBucketObjectLockConfiguration"),
        Op::PutObjectLockConfiguration => on_bucket("PutBucketObjectLockConfiguration"),
        Op::GetObjectRetention => on_object("GetObjectRetention"),
        Op::PutObjectRetention => on_object("PutObjectRetention"),
        Op::GetObjectLegalHold => on_object("GetObjectLegalHold"),
        Op::PutObjectLegalHold => on_object("PutObjectLegalHold"),
        // S3 authorizes it as reading the object (and its version).
        Op::GetObjectAttributes => versioned("GetObject", "GetObjectVersion"),
        Op::PutBucketConfig(k) => on_bucket(config_actions(k).1),
        Op::DeleteBucketConfig("website") => on_bucket("DeleteBucketWebsite"),
        Op::DeleteBucketConfig(k) => on_bucket(config_actions(k).1),
        Op::Unsupported(what) => on_bucket(what),
    }
}

/// The IAM actions of reading and writing the stored sub-resource `query`.
fn config_actions(query: &str) -> (&'static str, &'static str) {
    crate::configs::KINDS
        .iter()
        .find(|k| k.query == query)
        .map_or(("GetBucketPolicy", "PutBucketPolicy"), |k| k.actions)
}

/// What deleting `key` (at `version`) of a `DeleteObjects` batch asks
/// (`bypass`: the request bypasses GOVERNANCE retention).
pub(crate) fn delete_one(
    bucket: &str,
    key: &str,
    version: Option<&str>,
    bypass: bool,
) -> Vec<Access> {
    let action = if version.is_some() {
        "s3:DeleteObjectVersion"
    } else {
        "s3:DeleteObject"
    };
    let mut out = vec![Access::new(action, object_arn(bucket, key))];
    if bypass {
        out.push(Access::new(
            "s3:BypassGovernanceRetention",
            object_arn(bucket, key),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(bucket: &str, key: Option<&str>) -> Target {
        Target {
            bucket: Some(bucket.into()),
            key: key.map(String::from),
        }
    }

    #[test]
    fn operations_map_to_bucket_and_object_arns() {
        let none = http::HeaderMap::new();
        assert_eq!(
            access(&Op::HeadObject, &t("b", Some("a/k")), None, None, &none),
            [Access::new("s3:GetObject", "arn:aws:s3:::b/a/k")]
        );
        assert_eq!(
            access(&Op::GetObject, &t("b", Some("k")), Some("v1"), None, &none)[0].action,
            "s3:GetObjectVersion"
        );
        assert_eq!(
            access(&Op::ListObjectsV2, &t("b", None), None, None, &none),
            [Access::new("s3:ListBucket", "arn:aws:s3:::b")]
        );
        assert_eq!(
            access(
                &Op::CopyObject,
                &t("b", Some("dst")),
                None,
                Some(("src", "k", Some("3"))),
                &none
            ),
            [
                Access::new("s3:PutObject", "arn:aws:s3:::b/dst"),
                Access::new("s3:GetObjectVersion", "arn:aws:s3:::src/k"),
            ]
        );
        assert_eq!(
            access(
                &Op::ListBuckets,
                &Target {
                    bucket: None,
                    key: None
                },
                None,
                None,
                &none
            ),
            [Access::any("s3:ListAllMyBuckets")]
        );
    }
}
