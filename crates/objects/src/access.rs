//! Who may reach a bucket besides its owner, as S3 keeps it: access control
//! lists of grants (on buckets and objects), the bucket's object ownership
//! setting (`BucketOwnerEnforced`, S3's default for new buckets, turns ACLs
//! off) and its public access block (all four settings on for new buckets).
//! The owner's own `FULL_CONTROL` is implied and not stored. Evaluating
//! grants is the API's and the authorizer's business; this is the record.

use serde::{Deserialize, Serialize};

/// `http://acs.amazonaws.com/groups/global/AllUsers`: anyone, signed or not.
pub const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";
/// `.../AuthenticatedUsers`: any signed request.
pub const AUTHENTICATED_USERS: &str = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";
/// `.../s3/LogDelivery`: S3's log delivery.
pub const LOG_DELIVERY: &str = "http://acs.amazonaws.com/groups/s3/LogDelivery";

/// The ownership setting that disables ACLs (S3's default since 2023).
pub const OWNER_ENFORCED: &str = "BucketOwnerEnforced";
/// The settings `PutBucketOwnershipControls` accepts.
pub const OWNERSHIP: [&str; 3] = [
    "BucketOwnerEnforced",
    "BucketOwnerPreferred",
    "ObjectWriter",
];

/// Who a grant is for.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub enum Grantee {
    /// A canonical user id (64 hex digits).
    CanonicalUser(String),
    /// A predefined group, by URI ([`ALL_USERS`], ...).
    Group(String),
}

/// One grant of an access control list.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Grant {
    pub grantee: Grantee,
    /// `READ`, `WRITE`, `READ_ACP`, `WRITE_ACP` or `FULL_CONTROL`.
    pub permission: String,
}

/// The permissions a grant may give.
pub const PERMISSIONS: [&str; 5] = ["READ", "WRITE", "READ_ACP", "WRITE_ACP", "FULL_CONTROL"];

impl Grant {
    pub fn group(uri: &str, permission: &str) -> Grant {
        Grant {
            grantee: Grantee::Group(uri.into()),
            permission: permission.into(),
        }
    }

    /// Whether the grant reaches beyond the account: to everyone, or to
    /// every signed request.
    pub fn is_public(&self) -> bool {
        matches!(&self.grantee, Grantee::Group(g) if g == ALL_USERS || g == AUTHENTICATED_USERS)
    }
}

/// The grants (besides the owner's) a canned ACL (`x-amz-acl`) stands for;
/// `None` for a name S3 does not know.
pub fn canned(name: &str) -> Option<Vec<Grant>> {
    Some(match name {
        "private" | "bucket-owner-read" | "bucket-owner-full-control" | "aws-exec-read" => {
            Vec::new()
        }
        "public-read" => vec![Grant::group(ALL_USERS, "READ")],
        "public-read-write" => vec![
            Grant::group(ALL_USERS, "READ"),
            Grant::group(ALL_USERS, "WRITE"),
        ],
        "authenticated-read" => vec![Grant::group(AUTHENTICATED_USERS, "READ")],
        "log-delivery-write" => vec![
            Grant::group(LOG_DELIVERY, "WRITE"),
            Grant::group(LOG_DELIVERY, "READ_ACP"),
        ],
        _ => return None,
    })
}

/// `PutPublicAccessBlock`'s four settings.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct PublicAccessBlock {
    pub block_public_acls: bool,
    pub ignore_public_acls: bool,
    pub block_public_policy: bool,
    pub restrict_public_buckets: bool,
}

impl PublicAccessBlock {
    /// What a new bucket starts with: everything blocked.
    pub fn all() -> PublicAccessBlock {
        PublicAccessBlock {
            block_public_acls: true,
            ignore_public_acls: true,
            block_public_policy: true,
            restrict_public_buckets: true,
        }
    }
}

/// A bucket's access settings beyond its policy.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct BucketAccess {
    /// The bucket's ACL grants (besides the owner's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acl: Vec<Grant>,
    /// `PutBucketOwnershipControls`; `None`: no ownership controls (a bucket
    /// made before they existed, or after `DeleteBucketOwnershipControls`),
    /// which S3 treats as `ObjectWriter`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ownership: Option<String>,
    /// `PutPublicAccessBlock`; `None`: no block configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_access_block: Option<PublicAccessBlock>,
}

impl BucketAccess {
    /// A new bucket's: ACLs off (`BucketOwnerEnforced`, or the ownership
    /// the create request asked for) and public access blocked.
    pub fn new_bucket(ownership: Option<&str>) -> BucketAccess {
        BucketAccess {
            acl: Vec::new(),
            ownership: Some(ownership.unwrap_or(OWNER_ENFORCED).to_string()),
            public_access_block: Some(PublicAccessBlock::all()),
        }
    }

    /// Whether ACLs are off (`BucketOwnerEnforced`).
    pub fn acls_disabled(&self) -> bool {
        self.ownership.as_deref() == Some(OWNER_ENFORCED)
    }

    /// The block in force (none configured blocks nothing).
    pub fn block(&self) -> PublicAccessBlock {
        self.public_access_block.unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canned_acls_stand_for_their_grants() {
        assert_eq!(canned("private"), Some(Vec::new()));
        let rw = canned("public-read-write").unwrap();
        assert!(rw.iter().all(Grant::is_public));
        assert_eq!(rw[1].permission, "WRITE");
        assert!(canned("authenticated-read").unwrap()[0].is_public());
        assert!(!canned("log-delivery-write").unwrap()[0].is_public());
        assert_eq!(canned("publicread"), None);
    }

    #[test]
    fn new_buckets_turn_acls_off_and_block_public_access() {
        let a = BucketAccess::new_bucket(None);
        assert!(a.acls_disabled());
        assert_eq!(a.block(), PublicAccessBlock::all());
        assert!(!BucketAccess::new_bucket(Some("ObjectWriter")).acls_disabled());
        // A bucket record from before these settings existed.
        let old: BucketAccess = serde_json::from_str("{}").unwrap();
        assert!(!old.acls_disabled());
        assert_eq!(old.block(), PublicAccessBlock::default());
    }
}
