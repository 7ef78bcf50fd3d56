//! The object store behind the S3 API: buckets, objects, listings and multipart
//! uploads, kept as metadata in the key-value engine and data as immutable files
//! ([`data`]). It knows S3's rules (names, part sizes, ETags, listing order) but
//! not HTTP or XML; `nimbus-api-s3` maps requests onto it.
//!
//! Durability: a body is fsynced before the metadata that names it is committed,
//! and the commit is durable before the client hears of it. Replaced or deleted
//! data files are removed after that commit.

pub mod access;
pub mod data;
pub mod events;
pub mod lifecycle;
mod listings;
pub mod lock;
mod uploads;

use data::{DataDir, Written};
use md5::{Digest, Md5};
use nimbus_storage::{KvEngine, Table, WriteBatch};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;

const BUCKETS: Table = Table("s3_buckets");
/// `bucket/key` -> [`Object`].
const OBJECTS: Table = Table("s3_objects");
/// `bucket/key\0upload id` -> [`Upload`].
const UPLOADS: Table = Table("s3_uploads");
/// `upload id/part number (5 digits)` -> [`Part`].
const PARTS: Table = Table("s3_parts");
/// `bucket/key\0<inverted sequence>` -> a noncurrent [`Object`] version (or
/// delete marker) of a versioned bucket, newest first.
const VERSIONS: Table = Table("s3_versions");
/// Data id -> the bytes of a small object, stored with its metadata: one commit
/// (one fsync, shared with concurrent commits) instead of a file and two fsyncs.
const INLINE: Table = Table("s3_inline");

/// Bodies up to this size are stored inline.
pub const INLINE_MAX: u64 = 64 * 1024;

/// S3's bounds.
pub const MAX_KEY_BYTES: usize = 1024;
pub const MIN_PART_BYTES: u64 = 5 * 1024 * 1024;
pub const MAX_PART_NUMBER: u32 = 10_000;
pub const MAX_LIST_KEYS: usize = 1000;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("The specified bucket does not exist")]
    NoSuchBucket(String),
    #[error("Your previous request to create the named bucket succeeded and you already own it.")]
    BucketAlreadyOwnedByYou(String),
    #[error("The bucket you tried to delete is not empty")]
    BucketNotEmpty(String),
    #[error("{0}")]
    InvalidBucketName(String),
    #[error("The specified key does not exist.")]
    NoSuchKey(String),
    #[error("Your key is too long")]
    KeyTooLong,
    #[error("The specified version does not exist.")]
    NoSuchVersion(String, String),
    /// The current version is a delete marker (GET answers 404 with the
    /// marker's headers).
    #[error("The specified key does not exist.")]
    DeleteMarker { key: String, version_id: String },
    #[error(
        "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed."
    )]
    NoSuchUpload(String),
    #[error(
        "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag."
    )]
    InvalidPart(u32),
    #[error("The list of parts was not in ascending order. Parts must be ordered by part number.")]
    InvalidPartOrder,
    #[error("Your proposed upload is smaller than the minimum allowed object size.")]
    EntityTooSmall,
    #[error("{0}")]
    InvalidArgument(String),
    /// Destinations S3 may not deliver to: each target's ARN and why.
    #[error("Unable to validate the following destination configurations")]
    DestinationsNotValidated(Vec<(String, String)>),
    #[error("storing object data failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Storage(#[from] nimbus_storage::Error),
    #[error("stored metadata is unreadable: {0}")]
    Corrupt(String),
    /// A conditional write's condition did not hold (`If-None-Match`, `If-Match`).
    #[error("At least one of the pre-conditions you specified did not hold")]
    PreconditionFailed(&'static str),
    /// The version is under a retention or a legal hold (S3's `AccessDenied`).
    #[error("Access Denied because object protected by object lock.")]
    ObjectLocked,
    /// A lock setting on a bucket without Object Lock (`InvalidRequest`).
    #[error("Bucket is missing Object Lock Configuration")]
    LockNotConfigured,
    /// The bucket's state forbids the change (`InvalidBucketState`).
    #[error("{0}")]
    InvalidBucketState(String),
}

pub type Result<T> = std::result::Result<T, Error>;

/// What a conditional write requires of the key's current object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteCondition {
    /// `If-None-Match: *`: no object there.
    Absent,
    /// `If-Match: "etag"`: the object there has this ETag (`*`: any object).
    Matches(String),
}

/// Stripes of key locks: writes of one key are checked and committed one at
/// a time, so a conditional write's condition still holds when it commits.
const KEY_LOCKS: usize = 64;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Bucket {
    pub name: String,
    pub created_ms: u64,
    /// The bucket's `LocationConstraint` (its region).
    pub region: String,
    /// Event notifications (`PutBucketNotificationConfiguration`).
    #[serde(default)]
    pub notifications: Vec<events::Rule>,
    /// `PutBucketTagging`; `None` when the bucket has no tag set.
    #[serde(default)]
    pub tags: Option<Vec<(String, String)>>,
    /// `PutBucketCors`; `None` when the bucket has no CORS configuration.
    #[serde(default)]
    pub cors: Option<Vec<CorsRule>>,
    /// `Enabled` or `Suspended`; `None` for a bucket never versioned.
    #[serde(default)]
    pub versioning: Option<String>,
    /// `PutBucketPolicy`: the bucket's access policy, as the client sent it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// ACL, object ownership and public access block.
    #[serde(default)]
    pub access: access::BucketAccess,
    /// `EventBridgeConfiguration`: its changes go to the default event bus.
    #[serde(default)]
    pub eventbridge: bool,
    /// Sub-resources kept as written (`encryption`, `website`, `lifecycle`,
    /// `analytics/<id>`, ...): the documents, by sub-resource.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub configs: std::collections::BTreeMap<String, String>,
    /// Object Lock, once enabled (for good; versioning stays enabled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_lock: Option<lock::BucketLock>,
    /// The lifecycle rules of its `lifecycle` configuration, as read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lifecycle: Vec<lifecycle::Rule>,
}

/// One rule of a bucket's CORS configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct CorsRule {
    pub id: Option<String>,
    pub allowed_origins: Vec<String>,
    pub allowed_methods: Vec<String>,
    pub allowed_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    pub max_age_seconds: Option<u32>,
}

/// `*` matches any run of characters (S3 allows one in origins and headers).
fn wildcard(pattern: &str, value: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == value,
        Some((pre, post)) => {
            value.len() >= pre.len() + post.len() && value.starts_with(pre) && value.ends_with(post)
        }
    }
}

impl CorsRule {
    /// Whether this rule allows a request from `origin` with `method` that
    /// sends `headers` (names, any case).
    pub fn allows(&self, origin: &str, method: &str, headers: &[String]) -> bool {
        self.allowed_origins.iter().any(|o| wildcard(o, origin))
            && self.allowed_methods.iter().any(|m| m == method)
            && headers.iter().all(|h| {
                let h = h.to_ascii_lowercase();
                self.allowed_headers
                    .iter()
                    .any(|a| wildcard(&a.to_ascii_lowercase(), &h))
            })
    }
}

/// The first rule of `rules` that allows the request, as S3 picks it.
pub fn cors_match<'a>(
    rules: &'a [CorsRule],
    origin: &str,
    method: &str,
    headers: &[String],
) -> Option<&'a CorsRule> {
    rules.iter().find(|r| r.allows(origin, method, headers))
}

/// A checksum the client sent (and we verified), returned when asked for.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Checksum {
    /// `CRC32`, `CRC32C`, `SHA1`, `SHA256`, `CRC64NVME`.
    pub algorithm: String,
    /// Base64, as on the wire.
    pub value: String,
    /// `FULL_OBJECT` or `COMPOSITE`.
    #[serde(default = "full_object")]
    pub kind: String,
}

fn full_object() -> String {
    "FULL_OBJECT".into()
}

/// One piece of an object's data and how many bytes it holds: a data file, or
/// an entry of the inline table.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Segment {
    pub id: String,
    pub len: u64,
    #[serde(default)]
    pub inline: bool,
}

/// What the client said about an object beyond its bytes.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Attributes {
    pub content_type: Option<String>,
    /// `Cache-Control`, `Content-Disposition`, `Content-Encoding`,
    /// `Content-Language`, `Expires`, as (lowercase name, value).
    pub headers: Vec<(String, String)>,
    /// `x-amz-meta-*`, names lowercased without the prefix.
    pub metadata: Vec<(String, String)>,
    /// `x-amz-storage-class` (only recorded).
    pub storage_class: Option<String>,
    /// The object's tag set (`x-amz-tagging`, `PutObjectTagging`).
    #[serde(default)]
    pub tags: Vec<(String, String)>,
    /// The object's ACL grants besides its owner's (`x-amz-acl`,
    /// `PutObjectAcl`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acl: Vec<access::Grant>,
    /// The version's Object Lock retention and legal hold.
    #[serde(default, skip_serializing_if = "lock::ObjectLock::is_empty")]
    pub lock: lock::ObjectLock,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Object {
    pub key: String,
    pub size: u64,
    /// Without quotes: hex MD5, or `hex-N` for a multipart upload.
    pub etag: String,
    pub last_modified_ms: u64,
    pub attributes: Attributes,
    pub checksum: Option<Checksum>,
    /// The data, in order; empty for an empty object.
    pub segments: Vec<Segment>,
    /// Parts of a multipart upload (for `PartsCount`).
    pub parts: Option<u32>,
    /// Its version in a versioned bucket (`null` for one written while
    /// versioning was suspended); `None` for a bucket never versioned.
    #[serde(default)]
    pub version_id: Option<String>,
    /// A delete marker of a versioned bucket: no data, hides older versions.
    #[serde(default)]
    pub delete_marker: bool,
    /// The multipart upload it was completed from (a repeated completion
    /// of that upload answers with this object, as S3 does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_id: Option<String>,
}

/// The version id on the wire: `null` for objects of unversioned writes.
pub fn wire_version(o: &Object) -> &str {
    o.version_id.as_deref().unwrap_or("null")
}

/// A new version id: time-ordered, unique.
fn new_version_id() -> String {
    let nanos = nimbus_model::time::now_nanos() as u64;
    let rand = uuid::Uuid::new_v4().simple().to_string();
    format!("{nanos:016x}{}", &rand[..16])
}

/// Where a noncurrent version is kept: newer versions sort first.
fn version_key(bucket: &str, o: &Object) -> Vec<u8> {
    let seq = o
        .version_id
        .as_deref()
        .and_then(|v| v.get(..16))
        .and_then(|h| u64::from_str_radix(h, 16).ok())
        .unwrap_or(o.last_modified_ms.saturating_mul(1_000_000));
    let mut k = object_key(bucket, &o.key);
    k.push(0);
    k.extend_from_slice(format!("{:016x}", u64::MAX - seq).as_bytes());
    k.extend_from_slice(wire_version(o).as_bytes());
    k
}

fn versions_prefix(bucket: &str, key: &str) -> Vec<u8> {
    let mut k = object_key(bucket, key);
    k.push(0);
    k
}

/// One entry of `ListObjectVersions`.
#[derive(Debug, Clone)]
pub struct VersionEntry {
    pub object: Object,
    pub is_latest: bool,
}

#[derive(Debug, Clone, Default)]
pub struct VersionListing {
    pub entries: Vec<VersionEntry>,
    pub common_prefixes: Vec<String>,
    pub truncated: bool,
    pub next_key_marker: Option<String>,
    pub next_version_marker: Option<String>,
}

/// What a delete did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deleted {
    /// The version removed, or the delete marker created.
    pub version_id: Option<String>,
    pub delete_marker: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Upload {
    pub upload_id: String,
    pub bucket: String,
    pub key: String,
    pub initiated_ms: u64,
    pub attributes: Attributes,
    pub checksum_algorithm: Option<String>,
    /// `FULL_OBJECT` or `COMPOSITE`, with an algorithm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum_type: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Part {
    pub number: u32,
    pub etag: String,
    pub size: u64,
    pub last_modified_ms: u64,
    pub data: Segment,
    pub checksum: Option<Checksum>,
}

/// A listing request, as ListObjects (v1 and v2) put it.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub prefix: String,
    pub delimiter: Option<String>,
    /// List keys after this one (`StartAfter`, `Marker`, or a continuation).
    pub after: Option<Vec<u8>>,
    pub max_keys: usize,
}

#[derive(Debug, Clone, Default)]
pub struct Listing {
    pub objects: Vec<Object>,
    pub common_prefixes: Vec<String>,
    pub truncated: bool,
    /// Where the next page starts (raw bytes: a key or a prefix bound).
    pub next_after: Option<Vec<u8>>,
    /// The last key or prefix returned (`NextMarker` of v1).
    pub last: Option<String>,
}

/// How a completed part is named in CompleteMultipartUpload.
#[derive(Debug, Clone)]
pub struct CompletedPart {
    pub number: u32,
    pub etag: String,
}

/// The store.
pub struct Objects {
    kv: Arc<dyn KvEngine>,
    data: DataDir,
    notifier: Option<events::Notifier>,
    key_locks: Vec<std::sync::Mutex<()>>,
    /// Held while a bucket's record is read, changed and written back.
    bucket_lock: std::sync::Mutex<()>,
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| Error::Corrupt(e.to_string()))
}

fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).expect("records serialize")
}

fn object_key(bucket: &str, key: &str) -> Vec<u8> {
    format!("{bucket}/{key}").into_bytes()
}

fn upload_key(bucket: &str, key: &str, upload_id: &str) -> Vec<u8> {
    format!("{bucket}/{key}\0{upload_id}").into_bytes()
}

fn part_key(upload_id: &str, number: u32) -> Vec<u8> {
    format!("{upload_id}/{number:05}").into_bytes()
}

/// S3's bucket naming rules (the general-purpose bucket ones).
pub fn validate_bucket_name(name: &str) -> Result<()> {
    let bad = |why: &str| {
        Err(Error::InvalidBucketName(format!(
            "The specified bucket is not valid: {why}"
        )))
    };
    if !(3..=63).contains(&name.len()) {
        return bad("bucket names must be between 3 and 63 characters long");
    }
    if !name
        .bytes()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-')
    {
        return bad(
            "bucket names can consist only of lowercase letters, numbers, dots and hyphens",
        );
    }
    let first = name.as_bytes()[0];
    let last = name.as_bytes()[name.len() - 1];
    if !first.is_ascii_alphanumeric() || !last.is_ascii_alphanumeric() {
        return bad("bucket names must begin and end with a letter or number");
    }
    if name.contains("..") {
        return bad("bucket names must not contain two adjacent periods");
    }
    if name.split('.').count() == 4 && name.split('.').all(|p| p.parse::<u8>().is_ok()) {
        return bad("bucket names must not be formatted as an IP address");
    }
    Ok(())
}

fn validate_key(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(Error::InvalidArgument(
            "An object key must not be empty.".into(),
        ));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(Error::KeyTooLong);
    }
    Ok(())
}

/// The multipart ETag: MD5 of the parts' binary MD5s, then `-` and their count.
pub fn multipart_etag(part_etags: &[String]) -> String {
    let mut h = Md5::new();
    for e in part_etags {
        if let Ok(bin) = hex::decode(e.split('-').next().unwrap_or(e)) {
            h.update(bin);
        }
    }
    format!("{}-{}", hex::encode(h.finalize()), part_etags.len())
}

/// Strip the quotes (and a weak marker) a client may put around an ETag.
pub fn unquote_etag(e: &str) -> &str {
    let e = e.trim();
    let e = e.strip_prefix("W/").unwrap_or(e);
    e.trim_matches('"')
}

impl Objects {
    /// `notifier` delivers event notifications (none: a store that cannot
    /// notify, and refuses notification configurations).
    pub fn open(
        kv: Arc<dyn KvEngine>,
        dir: &Path,
        notifier: Option<events::Notifier>,
    ) -> Result<Objects> {
        Ok(Objects {
            kv,
            data: DataDir::open(dir)?,
            notifier,
            key_locks: (0..KEY_LOCKS).map(|_| std::sync::Mutex::new(())).collect(),
            bucket_lock: std::sync::Mutex::new(()),
        })
    }

    /// Change a bucket's configuration (tags, CORS, ...) in one commit.
    pub fn update_bucket(&self, name: &str, change: impl FnOnce(&mut Bucket)) -> Result<Bucket> {
        self.try_update_bucket(name, |b| {
            change(b);
            Ok(())
        })
    }

    /// [`Objects::update_bucket`] with a change that may refuse, judged on
    /// the bucket as it is (changes of one bucket's record are serialized).
    pub fn try_update_bucket(
        &self,
        name: &str,
        change: impl FnOnce(&mut Bucket) -> Result<()>,
    ) -> Result<Bucket> {
        let _one_writer = self.bucket_lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut b = self.bucket(name)?;
        change(&mut b)?;
        let mut batch = WriteBatch::new();
        batch.put(BUCKETS, name.as_bytes(), encode(&b));
        self.kv.commit(batch)?;
        Ok(b)
    }

    /// Replace an object's tag set (its data and other attributes unchanged).
    pub fn set_object_tags(
        &self,
        bucket: &str,
        key: &str,
        tags: Vec<(String, String)>,
    ) -> Result<Object> {
        self.rewrite_version(bucket, key, None, |o| {
            o.attributes.tags = tags;
            Ok(())
        })
    }

    /// Replace the ACL grants of an object (the version `version` names, or
    /// the current one), its data and other attributes unchanged.
    pub fn set_object_acl(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
        acl: Vec<access::Grant>,
    ) -> Result<Object> {
        self.rewrite_version(bucket, key, version, |o| {
            if o.delete_marker {
                return Err(Error::NoSuchVersion(key.into(), wire_version(o).into()));
            }
            o.attributes.acl = acl;
            Ok(())
        })
    }

    /// The Object Lock settings of a version of `key` (the current one when
    /// `version` is `None`). A bucket without Object Lock refuses
    /// (`LockNotConfigured`), and so does a delete marker.
    pub fn object_lock(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
    ) -> Result<lock::ObjectLock> {
        self.lockable(bucket)?;
        let obj = self.locate(bucket, key, version)?.1;
        lock_settings(&obj)?;
        Ok(obj.attributes.lock)
    }

    /// Change the Object Lock settings of a version of `key` (as
    /// [`Objects::object_lock`] finds it) under the key's lock: `change`
    /// sees the version's settings and refuses or edits them.
    pub fn change_lock(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
        change: impl FnOnce(&mut lock::ObjectLock) -> Result<()>,
    ) -> Result<()> {
        self.lockable(bucket)?;
        self.rewrite_version(bucket, key, version, |o| {
            lock_settings(o)?;
            change(&mut o.attributes.lock)
        })
        .map(|_| ())
    }

    /// `LockNotConfigured` unless the bucket has Object Lock.
    fn lockable(&self, bucket: &str) -> Result<()> {
        match self.bucket(bucket)?.object_lock {
            Some(_) => Ok(()),
            None => Err(Error::LockNotConfigured),
        }
    }

    /// A version of `key` (the current one when `version` is `None`, which
    /// must not be a delete marker) and where its record is kept.
    fn locate(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
    ) -> Result<((Table, Vec<u8>), Object)> {
        self.bucket(bucket)?;
        let k = object_key(bucket, key);
        Ok(match (version, self.current(bucket, key)?) {
            (None, Some(o)) if o.delete_marker => {
                return Err(Error::DeleteMarker {
                    key: key.into(),
                    version_id: wire_version(&o).to_string(),
                });
            }
            (None, Some(o)) => ((OBJECTS, k), o),
            (None, None) => return Err(Error::NoSuchKey(key.into())),
            (Some(v), Some(o)) if wire_version(&o) == v => ((OBJECTS, k), o),
            (Some(v), _) => self
                .kv
                .scan_prefix(VERSIONS, &versions_prefix(bucket, key))?
                .into_iter()
                .find_map(|(vk, raw)| {
                    decode::<Object>(&raw)
                        .ok()
                        .filter(|o| wire_version(o) == v)
                        .map(|o| ((VERSIONS, vk), o))
                })
                .ok_or_else(|| Error::NoSuchVersion(key.into(), v.into()))?,
        })
    }

    /// Change one version of `key` in place (its data untouched) under the
    /// key's lock; `change` may refuse.
    fn rewrite_version(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
        change: impl FnOnce(&mut Object) -> Result<()>,
    ) -> Result<Object> {
        let _one_writer = self.lock_key(&object_key(bucket, key));
        let ((table, slot), mut obj) = self.locate(bucket, key, version)?;
        change(&mut obj)?;
        let mut batch = WriteBatch::new();
        batch.put(table, slot, encode(&obj));
        self.kv.commit(batch)?;
        Ok(obj)
    }

    /// Replace the bucket's notification rules, once S3 may deliver to
    /// every target (it exists, and its policy lets S3 send to it).
    pub fn set_notifications(
        &self,
        bucket: &str,
        rules: Vec<events::Rule>,
        eventbridge: bool,
    ) -> Result<()> {
        let _one_writer = self.bucket_lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut b = self.bucket(bucket)?;
        let refused: Vec<(String, String)> = rules
            .iter()
            .filter_map(|r| {
                let why = match &self.notifier {
                    Some(n) => n.refusal(bucket, &r.function_arn)?,
                    None => "Event notifications are not available in this store".into(),
                };
                Some((r.function_arn.clone(), why))
            })
            .collect();
        if !refused.is_empty() {
            return Err(Error::DestinationsNotValidated(refused));
        }
        b.notifications = rules;
        b.eventbridge = eventbridge;
        let mut batch = WriteBatch::new();
        batch.put(BUCKETS, bucket.as_bytes(), encode(&b));
        self.kv.commit(batch)?;
        Ok(())
    }

    /// Stage the notifications `change` triggers into `batch`; returns what to
    /// schedule once it commits. A target S3 may no longer deliver to (the
    /// function is gone, or its policy no longer lets S3 in) misses the
    /// event, as on S3; the write still succeeds.
    fn notify(
        &self,
        bucket: &Bucket,
        change: &events::Change<'_>,
        batch: &mut WriteBatch,
    ) -> Vec<events::Staged> {
        let Some(notifier) = &self.notifier else {
            return Vec::new();
        };
        let mut staged = Vec::new();
        for rule in bucket.notifications.iter().filter(|r| r.matches(change)) {
            if let Some(why) = notifier.refusal(&bucket.name, &rule.function_arn) {
                tracing::warn!(bucket = %bucket.name, target = %rule.function_arn, reason = %why, "event notification not delivered");
                continue;
            }
            let record = events::record(bucket, rule, change);
            match notifier.outbox.stage(
                &rule.function_arn,
                record.as_bytes(),
                change.origin.trace.as_deref(),
                batch,
            ) {
                Ok(s) => staged.push(s),
                Err(e) => {
                    tracing::warn!(bucket = %bucket.name, target = %rule.function_arn, error = %e, "event notification not delivered");
                }
            }
        }
        if bucket.eventbridge {
            let bus = format!(
                "arn:aws:events:{}:{}:event-bus/default",
                bucket.region, notifier.account
            );
            let event = events::eventbridge_event(bucket, &notifier.account, change);
            match notifier.outbox.stage(
                &bus,
                event.as_bytes(),
                change.origin.trace.as_deref(),
                batch,
            ) {
                Ok(s) => staged.push(s),
                Err(e) => {
                    tracing::warn!(bucket = %bucket.name, error = %e, "event for EventBridge not delivered");
                }
            }
        }
        staged
    }

    fn commit_notified(&self, batch: WriteBatch, staged: Vec<events::Staged>) -> Result<()> {
        self.kv.commit(batch)?;
        if !staged.is_empty()
            && let Some(n) = &self.notifier
        {
            n.outbox.committed(staged);
        }
        Ok(())
    }

    pub fn data(&self) -> &DataDir {
        &self.data
    }

    // ---- buckets ----

    /// A new bucket with S3's defaults for new buckets (ACLs off, public
    /// access blocked).
    pub fn create_bucket(&self, name: &str, region: &str) -> Result<Bucket> {
        self.create_bucket_with(name, region, access::BucketAccess::new_bucket(None), false)
    }

    /// A new bucket with the access settings its create request asked for,
    /// and Object Lock (with versioning) when `object_lock`.
    pub fn create_bucket_with(
        &self,
        name: &str,
        region: &str,
        access: access::BucketAccess,
        object_lock: bool,
    ) -> Result<Bucket> {
        validate_bucket_name(name)?;
        if let Some(b) = self.kv.get(BUCKETS, name.as_bytes())? {
            let existing: Bucket = decode(&b)?;
            // us-east-1 answers a repeated create by the owner with success.
            if existing.region == "us-east-1" && region == "us-east-1" {
                return Ok(existing);
            }
            return Err(Error::BucketAlreadyOwnedByYou(name.into()));
        }
        let b = Bucket {
            name: name.into(),
            created_ms: nimbus_model::time::now_millis(),
            region: region.into(),
            notifications: Vec::new(),
            tags: None,
            cors: None,
            versioning: object_lock.then(|| "Enabled".to_string()),
            policy: None,
            access,
            eventbridge: false,
            configs: Default::default(),
            object_lock: object_lock.then(lock::BucketLock::default),
            lifecycle: Vec::new(),
        };
        let mut batch = WriteBatch::new();
        batch.put(BUCKETS, name.as_bytes(), encode(&b));
        self.kv.commit(batch)?;
        Ok(b)
    }

    pub fn bucket(&self, name: &str) -> Result<Bucket> {
        match self.kv.get(BUCKETS, name.as_bytes())? {
            Some(b) => decode(&b),
            None => Err(Error::NoSuchBucket(name.into())),
        }
    }

    pub fn list_buckets(&self) -> Result<Vec<Bucket>> {
        self.kv
            .scan_prefix(BUCKETS, b"")?
            .iter()
            .map(|(_, v)| decode(v))
            .collect()
    }

    /// Delete an empty bucket (its unfinished uploads go with it).
    pub fn delete_bucket(&self, name: &str) -> Result<()> {
        self.bucket(name)?;
        let prefix = format!("{name}/");
        if !self
            .kv
            .scan_page(OBJECTS, prefix.as_bytes(), None, 1)?
            .is_empty()
            || !self
                .kv
                .scan_page(VERSIONS, prefix.as_bytes(), None, 1)?
                .is_empty()
        {
            return Err(Error::BucketNotEmpty(name.into()));
        }
        let mut batch = WriteBatch::new();
        let mut orphans = Vec::new();
        for (k, v) in self.kv.scan_prefix(UPLOADS, prefix.as_bytes())? {
            let u: Upload = decode(&v)?;
            for (pk, pv) in self
                .kv
                .scan_prefix(PARTS, format!("{}/", u.upload_id).as_bytes())?
            {
                let p: Part = decode(&pv)?;
                orphans.push(p.data.id);
                batch.delete(PARTS, pk);
            }
            batch.delete(UPLOADS, k);
        }
        batch.delete(BUCKETS, name.as_bytes());
        self.kv.commit(batch)?;
        self.data.remove(&orphans);
        Ok(())
    }

    // ---- objects ----

    pub fn head(&self, bucket: &str, key: &str) -> Result<Object> {
        self.bucket(bucket)?;
        match self.kv.get(OBJECTS, &object_key(bucket, key))? {
            Some(v) => {
                let o: Object = decode(&v)?;
                if o.delete_marker {
                    return Err(Error::DeleteMarker {
                        key: key.into(),
                        version_id: wire_version(&o).to_string(),
                    });
                }
                Ok(o)
            }
            None => Err(Error::NoSuchKey(key.into())),
        }
    }

    /// A given version of `key` (a delete marker too; callers decide).
    pub fn version(&self, bucket: &str, key: &str, version_id: &str) -> Result<Object> {
        self.bucket(bucket)?;
        if let Some(v) = self.kv.get(OBJECTS, &object_key(bucket, key))? {
            let o: Object = decode(&v)?;
            if wire_version(&o) == version_id {
                return Ok(o);
            }
        }
        for (_, v) in self
            .kv
            .scan_prefix(VERSIONS, &versions_prefix(bucket, key))?
        {
            let o: Object = decode(&v)?;
            if wire_version(&o) == version_id {
                return Ok(o);
            }
        }
        Err(Error::NoSuchVersion(key.into(), version_id.into()))
    }

    /// The current record of `key`, delete markers included.
    fn current(&self, bucket: &str, key: &str) -> Result<Option<Object>> {
        self.kv
            .get(OBJECTS, &object_key(bucket, key))?
            .map(|v| decode(&v))
            .transpose()
    }

    /// Give `obj` its version id by the bucket's state, and retire the current
    /// version `old`: kept as noncurrent under versioning, else dropped.
    /// Returns the data files to remove after the commit.
    fn supersede(
        &self,
        b: &Bucket,
        obj: &mut Object,
        old: Option<&Object>,
        batch: &mut WriteBatch,
    ) -> Vec<String> {
        match b.versioning.as_deref() {
            Some("Enabled") => obj.version_id = Some(new_version_id()),
            Some(_) => obj.version_id = Some("null".into()),
            None => {}
        }
        if !obj.delete_marker
            && obj.attributes.lock.retention.is_none()
            && let Some(d) = b.object_lock.as_ref().and_then(|l| l.default.as_ref())
        {
            obj.attributes.lock.retention = Some(d.from(obj.last_modified_ms));
        }
        let mut files = Vec::new();
        // A new "null" version replaces the old one, current or not.
        if obj.version_id.as_deref() == Some("null")
            && let Ok(noncurrent) = self
                .kv
                .scan_prefix(VERSIONS, &versions_prefix(&b.name, &obj.key))
        {
            for (vk, v) in noncurrent {
                if let Ok(o) = decode::<Object>(&v)
                    && wire_version(&o) == "null"
                {
                    batch.delete(VERSIONS, vk);
                    files.extend(drop_segments(&o.segments, batch));
                }
            }
        }
        let Some(old) = old else {
            return files;
        };
        let keep = match b.versioning.as_deref() {
            Some("Enabled") => true,
            Some(_) => wire_version(old) != "null",
            None => false,
        };
        if keep {
            batch.put(VERSIONS, version_key(&b.name, old), encode(old));
        } else {
            files.extend(drop_segments(&old.segments, batch));
        }
        files
    }

    /// Store a received body as `key`, replacing what was there.
    pub fn put(
        &self,
        bucket: &str,
        key: &str,
        written: Written,
        attributes: Attributes,
        checksum: Option<Checksum>,
        origin: &events::Origin,
    ) -> Result<Object> {
        self.put_if((bucket, key), written, attributes, checksum, origin, None)
    }

    /// [`Objects::put`] that commits only if `condition` holds for the key's
    /// current object then (else `PreconditionFailed`, or `NoSuchKey` for an
    /// `If-Match` on a missing key).
    pub fn put_if(
        &self,
        (bucket, key): (&str, &str),
        written: Written,
        attributes: Attributes,
        checksum: Option<Checksum>,
        origin: &events::Origin,
        condition: Option<&WriteCondition>,
    ) -> Result<Object> {
        let event = ("ObjectCreated:Put", origin);
        self.store_written(
            (bucket, key),
            written,
            attributes,
            checksum,
            event,
            condition,
        )
    }

    /// Store an upload of a browser's POST form as `key` (`ObjectCreated:Post`).
    pub fn post(
        &self,
        (bucket, key): (&str, &str),
        written: Written,
        attributes: Attributes,
        origin: &events::Origin,
    ) -> Result<Object> {
        let event = ("ObjectCreated:Post", origin);
        self.store_written((bucket, key), written, attributes, None, event, None)
    }

    fn store_written(
        &self,
        (bucket, key): (&str, &str),
        written: Written,
        attributes: Attributes,
        checksum: Option<Checksum>,
        event: (&str, &events::Origin),
        condition: Option<&WriteCondition>,
    ) -> Result<Object> {
        let inline = written.inline.is_some();
        let segments = if written.size == 0 {
            if !inline {
                self.data.remove(std::slice::from_ref(&written.id));
            }
            Vec::new()
        } else {
            vec![Segment {
                id: written.id.clone(),
                len: written.size,
                inline,
            }]
        };
        let new_inline = match written.inline {
            Some(bytes) if !bytes.is_empty() => vec![(written.id.clone(), bytes)],
            _ => Vec::new(),
        };
        let obj = Object {
            key: key.into(),
            size: written.size,
            etag: hex::encode(written.md5),
            last_modified_ms: nimbus_model::time::now_millis(),
            attributes,
            checksum,
            segments,
            parts: None,
            version_id: None,
            delete_marker: false,
            upload_id: None,
        };
        match self.replace(bucket, obj, new_inline, event, condition) {
            Ok(o) => Ok(o),
            Err(e) => {
                if !inline {
                    self.data.remove(&[written.id]);
                }
                Err(e)
            }
        }
    }

    /// A new object whose data is another's (CopyObject): the data files are
    /// copied, so either object can be deleted independently.
    pub fn copy(
        &self,
        src: &Object,
        bucket: &str,
        key: &str,
        attributes: Attributes,
        origin: &events::Origin,
    ) -> Result<Object> {
        validate_key(key)?;
        self.bucket(bucket)?;
        let mut segments = Vec::new();
        let mut new_inline = Vec::new();
        for s in &src.segments {
            if s.inline {
                let bytes = self.inline_data(&s.id)?.ok_or_else(|| {
                    Error::Corrupt(format!("inline data {} of {} is missing", s.id, src.key))
                })?;
                let id = uuid::Uuid::new_v4().simple().to_string();
                segments.push(Segment {
                    id: id.clone(),
                    len: s.len,
                    inline: true,
                });
                new_inline.push((id, bytes));
                continue;
            }
            let mut w = self.data.writer()?;
            let mut f = self.data.open_file(&s.id)?;
            std::io::copy(&mut f, &mut WriterAdapter(&mut w))?;
            let done = w.finish()?;
            segments.push(Segment {
                id: done.id,
                len: done.size,
                inline: false,
            });
        }
        let ids: Vec<String> = segments
            .iter()
            .filter(|s| !s.inline)
            .map(|s| s.id.clone())
            .collect();
        let obj = Object {
            key: key.into(),
            size: src.size,
            etag: src.etag.clone(),
            last_modified_ms: nimbus_model::time::now_millis(),
            attributes,
            checksum: src.checksum.clone(),
            segments,
            parts: src.parts,
            version_id: None,
            delete_marker: false,
            upload_id: None,
        };
        match self.replace(
            bucket,
            obj,
            new_inline,
            ("ObjectCreated:Copy", origin),
            None,
        ) {
            Ok(o) => Ok(o),
            Err(e) => {
                self.data.remove(&ids);
                Err(e)
            }
        }
    }

    fn replace(
        &self,
        bucket: &str,
        obj: Object,
        new_inline: Vec<(String, Vec<u8>)>,
        (event, origin): (&str, &events::Origin),
        condition: Option<&WriteCondition>,
    ) -> Result<Object> {
        validate_key(&obj.key)?;
        let b = self.bucket(bucket)?;
        let k = object_key(bucket, &obj.key);
        let _one_writer = self.lock_key(&k);
        let old = self.current(bucket, &obj.key)?;
        check_condition(condition, old.as_ref(), &obj.key)?;
        let mut obj = obj;
        let mut batch = WriteBatch::new();
        let old_files = self.supersede(&b, &mut obj, old.as_ref(), &mut batch);
        batch.put(OBJECTS, k, encode(&obj));
        for (id, bytes) in new_inline {
            batch.put(INLINE, id.into_bytes(), bytes);
        }
        let staged = self.notify(
            &b,
            &events::Change {
                event,
                object: &obj,
                origin,
            },
            &mut batch,
        );
        self.commit_notified(batch, staged)?;
        self.data.remove(&old_files);
        Ok(obj)
    }

    /// The lock of `key`'s stripe (held while a write checks and commits).
    fn lock_key(&self, key: &[u8]) -> std::sync::MutexGuard<'_, ()> {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut h);
        let i = (h.finish() as usize) % self.key_locks.len();
        self.key_locks[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The bytes of an inline segment.
    pub fn inline_data(&self, id: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.kv.get(INLINE, id.as_bytes())?)
    }

    /// Delete `key`; deleting a missing key succeeds, as on S3.
    pub fn delete(&self, bucket: &str, key: &str, origin: &events::Origin) -> Result<Deleted> {
        self.remove_current(bucket, key, origin, None)
            .map(Option::unwrap_or_default)
    }

    /// Delete `key`, or (a lifecycle expiration) only while `expiring` is
    /// still its current version: `None` when it no longer is.
    fn remove_current(
        &self,
        bucket: &str,
        key: &str,
        origin: &events::Origin,
        expiring: Option<&Object>,
    ) -> Result<Option<Deleted>> {
        let b = self.bucket(bucket)?;
        let k = object_key(bucket, key);
        let _one_writer = self.lock_key(&k);
        let old = self.current(bucket, key)?;
        if let Some(seen) = expiring {
            let same = old.as_ref().is_some_and(|o| {
                !o.delete_marker
                    && o.version_id == seen.version_id
                    && o.last_modified_ms == seen.last_modified_ms
                    && o.etag == seen.etag
            });
            if !same {
                return Ok(None);
            }
        }
        let (marker_event, delete_event) = match expiring {
            Some(_) => (
                "LifecycleExpiration:DeleteMarkerCreated",
                "LifecycleExpiration:Delete",
            ),
            None => ("ObjectRemoved:DeleteMarkerCreated", "ObjectRemoved:Delete"),
        };
        let mut batch = WriteBatch::new();
        if b.versioning.is_some() {
            // A versioned delete hides the object behind a new delete marker.
            let mut marker = Object {
                key: key.into(),
                size: 0,
                etag: String::new(),
                last_modified_ms: nimbus_model::time::now_millis(),
                attributes: Attributes::default(),
                checksum: None,
                segments: Vec::new(),
                parts: None,
                version_id: None,
                delete_marker: true,
                upload_id: None,
            };
            let old_files = self.supersede(&b, &mut marker, old.as_ref(), &mut batch);
            batch.put(OBJECTS, k, encode(&marker));
            let staged = self.notify(
                &b,
                &events::Change {
                    event: marker_event,
                    object: &marker,
                    origin,
                },
                &mut batch,
            );
            self.commit_notified(batch, staged)?;
            self.data.remove(&old_files);
            return Ok(Some(Deleted {
                version_id: marker.version_id.clone(),
                delete_marker: true,
            }));
        }
        let Some(old) = old else {
            return Ok(Some(Deleted::default()));
        };
        batch.delete(OBJECTS, k);
        let old_files = drop_segments(&old.segments, &mut batch);
        let staged = self.notify(
            &b,
            &events::Change {
                event: delete_event,
                object: &old,
                origin,
            },
            &mut batch,
        );
        self.commit_notified(batch, staged)?;
        self.data.remove(&old_files);
        Ok(Some(Deleted::default()))
    }

    /// Delete one version for good; deleting the current one makes the newest
    /// noncurrent version current. A version that does not exist is no error.
    pub fn delete_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
        origin: &events::Origin,
        bypass_governance: bool,
    ) -> Result<Deleted> {
        let removal = Removal::Request { bypass_governance };
        Ok(self
            .delete_version_as(bucket, key, version_id, origin, removal)?
            .unwrap_or_default())
    }

    /// [`Objects::delete_version`], by a request or by a lifecycle rule
    /// (`None`: the version is no longer as the rule's pass saw it).
    fn delete_version_as(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
        origin: &events::Origin,
        removal: Removal,
    ) -> Result<Option<Deleted>> {
        let (bypass_governance, event) = match removal {
            Removal::Request { bypass_governance } => (bypass_governance, "ObjectRemoved:Delete"),
            Removal::Lifecycle(_) => (false, "LifecycleExpiration:Delete"),
        };
        let b = self.bucket(bucket)?;
        let k = object_key(bucket, key);
        let _one_writer = self.lock_key(&k);
        let mut batch = WriteBatch::new();
        let noncurrent = self
            .kv
            .scan_prefix(VERSIONS, &versions_prefix(bucket, key))?;
        let mut is_current = false;
        let victim = match self.current(bucket, key)? {
            Some(cur) if wire_version(&cur) == version_id => {
                is_current = true;
                match noncurrent.first() {
                    Some((vk, v)) => {
                        batch.put(OBJECTS, k, v.clone());
                        batch.delete(VERSIONS, vk.clone());
                    }
                    None => {
                        batch.delete(OBJECTS, k);
                    }
                }
                cur
            }
            _ => {
                let found = noncurrent.iter().find_map(|(vk, v)| {
                    decode::<Object>(v)
                        .ok()
                        .filter(|o| wire_version(o) == version_id)
                        .map(|o| (vk.clone(), o))
                });
                let Some((vk, o)) = found else {
                    if matches!(removal, Removal::Lifecycle(_)) {
                        return Ok(None);
                    }
                    return Ok(Some(Deleted {
                        version_id: Some(version_id.into()),
                        delete_marker: false,
                    }));
                };
                batch.delete(VERSIONS, vk);
                o
            }
        };
        if let Removal::Lifecycle(seen) = removal {
            let now = Seen {
                last_modified_ms: victim.last_modified_ms,
                delete_marker: victim.delete_marker,
                current: is_current,
            };
            // A current version goes only as a lone delete marker.
            if now != seen || (is_current && !noncurrent.is_empty()) {
                return Ok(None);
            }
        }
        if !victim.delete_marker
            && !victim
                .attributes
                .lock
                .may_delete(nimbus_model::time::now_millis(), bypass_governance)
        {
            return Err(Error::ObjectLocked);
        }
        let files = drop_segments(&victim.segments, &mut batch);
        let staged = if victim.delete_marker {
            Vec::new()
        } else {
            self.notify(
                &b,
                &events::Change {
                    event,
                    object: &victim,
                    origin,
                },
                &mut batch,
            )
        };
        self.commit_notified(batch, staged)?;
        self.data.remove(&files);
        Ok(Some(Deleted {
            version_id: Some(version_id.into()),
            delete_marker: victim.delete_marker,
        }))
    }

    // ---- multipart uploads ----
}

/// Object Lock settings go on versions with data, not on delete markers.
fn lock_settings(o: &Object) -> Result<()> {
    if o.delete_marker {
        return Err(Error::InvalidArgument(
            "Object Lock settings cannot be placed on a delete marker".into(),
        ));
    }
    Ok(())
}

/// Who removes a version for good.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Removal {
    /// A client's delete, with or without the governance bypass.
    Request { bypass_governance: bool },
    /// A lifecycle rule (never bypasses a retention), for the version as its
    /// pass saw it: nothing is removed if it has changed since.
    Lifecycle(Seen),
}

/// A version as a lifecycle pass saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Seen {
    pub(crate) last_modified_ms: u64,
    pub(crate) delete_marker: bool,
    /// Current (only a delete marker with no versions behind it is removed
    /// so), else noncurrent.
    pub(crate) current: bool,
}

/// Whether a conditional write may replace `current` (the key's current
/// record, a delete marker counting as no object).
fn check_condition(
    condition: Option<&WriteCondition>,
    current: Option<&Object>,
    key: &str,
) -> Result<()> {
    let live = current.filter(|o| !o.delete_marker);
    match (condition, live) {
        (Some(WriteCondition::Absent), Some(_)) => Err(Error::PreconditionFailed("If-None-Match")),
        (Some(WriteCondition::Matches(_)), None) => Err(Error::NoSuchKey(key.into())),
        (Some(WriteCondition::Matches(etag)), Some(o))
            if etag != "*" && unquote_etag(etag) != o.etag =>
        {
            Err(Error::PreconditionFailed("If-Match"))
        }
        _ => Ok(()),
    }
}

/// Remove `segs` from the store: inline ones in `batch`; returns the data files
/// to remove once `batch` committed.
fn drop_segments(segs: &[Segment], batch: &mut WriteBatch) -> Vec<String> {
    let mut files = Vec::new();
    for s in segs {
        if s.inline {
            batch.delete(INLINE, s.id.as_bytes());
        } else {
            files.push(s.id.clone());
        }
    }
    files
}

struct WriterAdapter<'a>(&'a mut data::DataWriter);

impl std::io::Write for WriterAdapter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests;
