//! Secrets Manager for Nimbus: secrets whose values are versions labelled
//! with staging labels (`AWSCURRENT`, `AWSPREVIOUS`, `AWSPENDING`, or the
//! caller's), encrypted at rest through [`nimbus_kms`] (in process), with
//! deletion windows, tags, resource policies (stored; evaluated by the
//! authorizer) and rotation through a function ([`rotation`]).
//!
//! Not the wire: `api/secretsmanager` reads requests into these inputs and
//! writes these records in Secrets Manager's shapes. Values never reach a log.

pub mod password;
pub mod rotation;
#[cfg(test)]
mod tests;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use nimbus_kms::{Context, Kms};
use nimbus_model::time::now_millis;
use nimbus_storage::records::{Record, Records};
use nimbus_storage::{KvEngine, Table};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, OnceLock};

pub use password::{PasswordOptions, random_password};

pub const SECRETS: Table = Table("secretsmanager_secrets");
const FORMAT: u32 = 1;
const DAY_MS: u64 = 86_400_000;
pub const CURRENT: &str = "AWSCURRENT";
pub const PREVIOUS: &str = "AWSPREVIOUS";
pub const PENDING: &str = "AWSPENDING";
/// Versions without a label kept per secret beyond the labelled ones.
const KEEP_DEPRECATED: usize = 100;
const DEFAULT_KEY: &str = "alias/aws/secretsmanager";

/// What Secrets Manager refuses, in its own terms.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Exists(String),
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    InvalidParameter(String),
    #[error("{0}")]
    MalformedPolicy(String),
    #[error("{0}")]
    Limit(String),
    #[error("{0}")]
    InvalidNextToken(String),
    /// KMS refused to encrypt (a disabled or unknown key).
    #[error("{0}")]
    Encryption(String),
    /// KMS refused to decrypt.
    #[error("{0}")]
    Decryption(String),
    #[error("{0}")]
    Internal(String),
    #[error(transparent)]
    Storage(#[from] nimbus_storage::Error),
}

pub type Result<T> = std::result::Result<T, Error>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// A secret's value as the caller gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretValue {
    String(String),
    Binary(Vec<u8>),
}

impl SecretValue {
    fn bytes(&self) -> (bool, &[u8]) {
        match self {
            SecretValue::String(s) => (false, s.as_bytes()),
            SecretValue::Binary(b) => (true, b),
        }
    }
}

/// A version's value as stored: a KMS blob (base64) of its bytes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sealed {
    pub binary: bool,
    pub blob: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Version {
    pub id: String,
    pub stages: Vec<String>,
    pub created: u64,
    /// `None` for the `AWSPENDING` version `RotateSecret` makes before the
    /// rotation function puts its value.
    pub value: Option<Sealed>,
    pub kms_key_ids: Vec<String>,
}

/// How a secret rotates.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Rotation {
    pub lambda_arn: Option<String>,
    pub automatically_after_days: Option<i64>,
    pub duration: Option<String>,
    pub schedule_expression: Option<String>,
}

/// One secret.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SecretRecord {
    pub format: u32,
    pub name: String,
    pub arn: String,
    pub description: Option<String>,
    /// The key as the caller named it; `None`: `aws/secretsmanager`.
    pub kms_key_id: Option<String>,
    /// In creation order.
    pub versions: Vec<Version>,
    pub tags: Vec<Tag>,
    pub created: u64,
    pub last_changed: u64,
    pub last_accessed: Option<u64>,
    /// When a deleted secret goes for good.
    pub deletion_date: Option<u64>,
    pub deleted_at: Option<u64>,
    pub rotation: Option<Rotation>,
    pub rotation_enabled: bool,
    pub last_rotated: Option<u64>,
    pub policy: Option<String>,
}

impl Record for SecretRecord {
    fn key(&self) -> &str {
        &self.name
    }
    fn format(&self) -> u32 {
        self.format
    }
}

impl SecretRecord {
    pub fn version_with_stage(&self, stage: &str) -> Option<&Version> {
        self.versions
            .iter()
            .find(|v| v.stages.iter().any(|s| s == stage))
    }

    pub fn version(&self, id: &str) -> Option<&Version> {
        self.versions.iter().find(|v| v.id == id)
    }

    /// Move `stage` to the version `to` (removing it from any other); moving
    /// `AWSCURRENT` labels the version that had it `AWSPREVIOUS`.
    fn move_stage(&mut self, stage: &str, to: &str) {
        let from = self.version_with_stage(stage).map(|v| v.id.clone());
        if from.as_deref() == Some(to) {
            return;
        }
        for v in &mut self.versions {
            v.stages.retain(|s| s != stage);
        }
        if stage == CURRENT
            && let Some(from) = from
        {
            for v in &mut self.versions {
                v.stages.retain(|s| s != PREVIOUS);
            }
            if let Some(v) = self.versions.iter_mut().find(|v| v.id == from) {
                v.stages.push(PREVIOUS.into());
            }
        }
        if let Some(v) = self.versions.iter_mut().find(|v| v.id == to) {
            v.stages.push(stage.into());
        }
    }

    /// Drop the oldest unlabelled versions beyond what AWS keeps.
    fn prune(&mut self) {
        let mut unlabelled = self.versions.iter().filter(|v| v.stages.is_empty()).count();
        self.versions.retain(|v| {
            if v.stages.is_empty() && unlabelled > KEEP_DEPRECATED {
                unlabelled -= 1;
                return false;
            }
            true
        });
    }
}

/// What `CreateSecret` asks for.
#[derive(Debug, Clone, Default)]
pub struct NewSecret {
    pub name: String,
    pub description: Option<String>,
    pub kms_key_id: Option<String>,
    pub value: Option<SecretValue>,
    pub token: Option<String>,
    pub tags: Vec<Tag>,
}

/// A change `UpdateSecret` makes.
#[derive(Debug, Clone, Default)]
pub struct SecretChange {
    pub description: Option<String>,
    pub kms_key_id: Option<String>,
    pub value: Option<SecretValue>,
    pub token: Option<String>,
}

/// What a write answers: the secret and the version it made, if any.
#[derive(Debug, Clone)]
pub struct Written {
    pub arn: String,
    pub name: String,
    pub version_id: Option<String>,
    pub stages: Vec<String>,
}

/// A version's value, decrypted.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub arn: String,
    pub name: String,
    pub version_id: String,
    pub stages: Vec<String>,
    pub created: u64,
    pub value: SecretValue,
}

/// `ListSecrets`' question.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// (key, values): `name`, `description`, `tag-key`, `tag-value`,
    /// `primary-region`, `owning-service` or `all`; a value starting with `!`
    /// negates.
    pub filters: Vec<(String, Vec<String>)>,
    pub include_planned_deletion: bool,
    pub max_results: Option<i64>,
    pub next_token: Option<String>,
    pub descending: bool,
}

pub struct Secrets {
    kms: Arc<Kms>,
    records: Records<SecretRecord>,
    invoker: OnceLock<Arc<dyn nimbus_invoke::Invoker>>,
    account: String,
    region: String,
}

fn not_found() -> Error {
    Error::NotFound("Secrets Manager can't find the specified secret.".into())
}

fn check_token(token: &str) -> Result<()> {
    if !(32..=64).contains(&token.len()) {
        return Err(Error::InvalidParameter(
            "ClientRequestToken must be 32-64 characters long.".into(),
        ));
    }
    Ok(())
}

fn check_stage(stage: &str) -> Result<()> {
    if stage.is_empty() || stage.len() > 256 {
        return Err(Error::InvalidParameter(
            "A staging label must be 1 to 256 characters long.".into(),
        ));
    }
    Ok(())
}

impl Secrets {
    pub fn open(kv: Arc<dyn KvEngine>, kms: Arc<Kms>) -> Result<Secrets> {
        Ok(Secrets {
            account: kms.account().into(),
            region: kms.region().into(),
            kms,
            records: Records::open(kv, SECRETS, FORMAT)?,
            invoker: OnceLock::new(),
        })
    }

    /// The door rotation functions are run through.
    pub fn set_invoker(&self, invoker: Arc<dyn nimbus_invoke::Invoker>) {
        let _ = self.invoker.set(invoker);
    }

    fn new_arn(&self, name: &str) -> Result<String> {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        let mut b = [0u8; 6];
        nimbus_kms::crypto::random(&mut b).map_err(|e| Error::Internal(e.to_string()))?;
        let suffix: String = b
            .iter()
            .map(|x| ALPHABET[usize::from(*x) % ALPHABET.len()] as char)
            .collect();
        Ok(format!(
            "arn:aws:secretsmanager:{}:{}:secret:{name}-{suffix}",
            self.region, self.account
        ))
    }

    /// Drop the secrets whose recovery window has passed.
    fn expire(&self) {
        let now = now_millis();
        let due = self.records.fold(Vec::new(), |mut due, s| {
            if s.deletion_date.is_some_and(|d| d <= now) {
                due.push(s.name.clone());
            }
            due
        });
        for name in due {
            if let Err(e) = self.records.delete(&name) {
                tracing::warn!(error = %e, "remove a secret whose recovery window ended");
            }
        }
    }

    /// The secret a name, full ARN or partial ARN (without the random
    /// suffix) names, deleted or not.
    pub fn find(&self, id: &str) -> Result<Arc<SecretRecord>> {
        self.expire();
        if id.starts_with("arn:") {
            if let Some(s) = self.records.fold(None, |found, s| {
                found.or_else(|| (s.arn == id).then(|| s.name.clone()))
            }) {
                return self.records.get(&s).ok_or_else(not_found);
            }
            let Some((_, name)) = id.split_once(":secret:") else {
                return Err(not_found());
            };
            return self.records.get(name).ok_or_else(not_found);
        }
        self.records.get(id).ok_or_else(not_found)
    }

    /// [`Secrets::find`], refusing a secret marked for deletion.
    fn find_live(&self, id: &str) -> Result<Arc<SecretRecord>> {
        let s = self.find(id)?;
        if s.deletion_date.is_some() {
            return Err(Error::InvalidRequest(
                "You can't perform this operation on the secret because it was marked for deletion."
                    .into(),
            ));
        }
        Ok(s)
    }

    fn key_of(s: &SecretRecord) -> &str {
        s.kms_key_id.as_deref().unwrap_or(DEFAULT_KEY)
    }

    fn context(arn: &str, version: &str) -> Context {
        Context::from([
            ("SecretARN".to_string(), arn.to_string()),
            ("SecretVersionId".to_string(), version.to_string()),
        ])
    }

    fn seal(
        &self,
        key: &str,
        arn: &str,
        version: &str,
        value: &SecretValue,
    ) -> Result<(Sealed, String)> {
        let (binary, bytes) = value.bytes();
        let (blob, k) = self
            .kms
            .seal(key, bytes, &Secrets::context(arn, version))
            .map_err(|e| match e {
                nimbus_kms::Error::Storage(_) | nimbus_kms::Error::Crypto(_) => {
                    Error::Internal(e.to_string())
                }
                e => Error::Encryption(format!("Access to KMS is not allowed: {e}")),
            })?;
        Ok((
            Sealed {
                binary,
                blob: B64.encode(blob),
            },
            k.arn.clone(),
        ))
    }

    fn open_value(&self, arn: &str, v: &Version) -> Result<SecretValue> {
        let Some(sealed) = &v.value else {
            return Err(Error::NotFound(format!(
                "Secrets Manager can't find the specified secret value for VersionId: {}",
                v.id
            )));
        };
        let blob = B64
            .decode(&sealed.blob)
            .map_err(|e| Error::Internal(format!("stored secret value is not base64: {e}")))?;
        let (plain, _) = self
            .kms
            .decrypt(&blob, &Secrets::context(arn, &v.id), None)
            .map_err(|e| match e {
                nimbus_kms::Error::Storage(_) | nimbus_kms::Error::Crypto(_) => {
                    Error::Internal(e.to_string())
                }
                e => Error::Decryption(format!(
                    "Secrets Manager can't decrypt the protected secret text using the provided KMS key: {e}"
                )),
            })?;
        Ok(if sealed.binary {
            SecretValue::Binary(plain)
        } else {
            SecretValue::String(
                String::from_utf8(plain)
                    .map_err(|_| Error::Internal("stored secret string is not UTF-8".into()))?,
            )
        })
    }

    pub fn create(&self, new: NewSecret) -> Result<Written> {
        check_name(&new.name)?;
        if let Some(t) = &new.token {
            check_token(t)?;
        }
        if let Some(d) = &new.description
            && d.len() > 2048
        {
            return Err(Error::InvalidParameter(
                "Description must be at most 2048 characters.".into(),
            ));
        }
        check_value(new.value.as_ref())?;
        check_tags(&new.tags)?;
        if let Ok(existing) = self.find(&new.name) {
            if existing.deletion_date.is_some() {
                return Err(Error::InvalidRequest(
                    "You can't create this secret because a secret with this name is already scheduled for deletion."
                        .into(),
                ));
            }
            // A retry of the same request (same token, same value) is answered again.
            if let (Some(t), Some(v)) = (&new.token, &new.value)
                && let Some(version) = existing.version(t)
                && self.open_value(&existing.arn, version).ok().as_ref() == Some(v)
            {
                return Ok(Written {
                    arn: existing.arn.clone(),
                    name: existing.name.clone(),
                    version_id: Some(t.clone()),
                    stages: version.stages.clone(),
                });
            }
            return Err(Error::Exists(format!(
                "The operation failed because the secret {} already exists.",
                new.name
            )));
        }
        let arn = self.new_arn(&new.name)?;
        let now = now_millis();
        let key = new.kms_key_id.clone().unwrap_or_else(|| DEFAULT_KEY.into());
        let mut versions = Vec::new();
        let mut version_id = None;
        if let Some(value) = &new.value {
            let id = new
                .token
                .clone()
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
            let (sealed, key_arn) = self.seal(&key, &arn, &id, value)?;
            versions.push(Version {
                id: id.clone(),
                stages: vec![CURRENT.into()],
                created: now,
                value: Some(sealed),
                kms_key_ids: vec![key_arn],
            });
            version_id = Some(id);
        }
        let rec = SecretRecord {
            format: FORMAT,
            name: new.name.clone(),
            arn: arn.clone(),
            description: new.description,
            kms_key_id: new.kms_key_id,
            versions,
            tags: new.tags,
            created: now,
            last_changed: now,
            last_accessed: None,
            deletion_date: None,
            deleted_at: None,
            rotation: None,
            rotation_enabled: false,
            last_rotated: None,
            policy: None,
        };
        match self.records.insert(rec)? {
            Ok(_) => Ok(Written {
                arn,
                name: new.name,
                stages: version_id.iter().map(|_| CURRENT.to_string()).collect(),
                version_id,
            }),
            Err(_) => Err(Error::Exists(format!(
                "The operation failed because the secret {} already exists.",
                new.name
            ))),
        }
    }

    /// The value of the version `version_id` names, or the one labelled
    /// `stage` (default `AWSCURRENT`); both must agree when both are given.
    pub fn get_value(
        &self,
        id: &str,
        version_id: Option<&str>,
        stage: Option<&str>,
    ) -> Result<Fetched> {
        let s = self.find_live(id)?;
        let v = match (version_id, stage) {
            (Some(vid), stage) => s
                .version(vid)
                .filter(|v| stage.is_none_or(|st| v.stages.iter().any(|x| x == st))),
            (None, stage) => s.version_with_stage(stage.unwrap_or(CURRENT)),
        };
        let Some(v) = v else {
            return Err(Error::NotFound(format!(
                "Secrets Manager can't find the specified secret value for {}: {}",
                if version_id.is_some() {
                    "VersionId"
                } else {
                    "staging label"
                },
                version_id.or(stage).unwrap_or(CURRENT)
            )));
        };
        let value = self.open_value(&s.arn, v)?;
        let fetched = Fetched {
            arn: s.arn.clone(),
            name: s.name.clone(),
            version_id: v.id.clone(),
            stages: v.stages.clone(),
            created: v.created,
            value,
        };
        self.touch(&s);
        Ok(fetched)
    }

    /// Record the day a secret was last read (once a day, as AWS shows it).
    fn touch(&self, s: &SecretRecord) {
        let today = now_millis() / DAY_MS * DAY_MS;
        if s.last_accessed == Some(today) {
            return;
        }
        let r = self.records.change(&s.name, |r| {
            r.last_accessed = Some(today);
            Ok::<_, Error>(())
        });
        if let Err(e) = r {
            tracing::warn!(error = %e, "record a secret's last access");
        }
    }

    /// Add a version (or fill the valueless `AWSPENDING` one rotation made)
    /// labelled `stages` (default `AWSCURRENT`).
    pub fn put_value(
        &self,
        id: &str,
        token: Option<String>,
        value: SecretValue,
        stages: Option<Vec<String>>,
    ) -> Result<Written> {
        check_value(Some(&value))?;
        let token = token.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        check_token(&token)?;
        let stages = stages.unwrap_or_else(|| vec![CURRENT.into()]);
        for st in &stages {
            check_stage(st)?;
        }
        if stages.len() > 20 {
            return Err(Error::Limit(
                "A version can have at most 20 staging labels.".into(),
            ));
        }
        let s = self.find_live(id)?;
        if let Some(v) = s.version(&token)
            && v.value.is_some()
        {
            if self.open_value(&s.arn, v)? == value {
                return Ok(Written {
                    arn: s.arn.clone(),
                    name: s.name.clone(),
                    version_id: Some(token),
                    stages: v.stages.clone(),
                });
            }
            return Err(Error::Exists(
                "You can't modify an existing version, you can only create a new version.".into(),
            ));
        }
        let (sealed, key_arn) = self.seal(Secrets::key_of(&s), &s.arn, &token, &value)?;
        let out = self.records.change(&s.name, |r| {
            let now = now_millis();
            match r.versions.iter_mut().find(|v| v.id == token) {
                Some(v) => {
                    v.value = Some(sealed);
                    v.kms_key_ids = vec![key_arn];
                }
                None => r.versions.push(Version {
                    id: token.clone(),
                    stages: Vec::new(),
                    created: now,
                    value: Some(sealed),
                    kms_key_ids: vec![key_arn],
                }),
            }
            for st in &stages {
                r.move_stage(st, &token);
            }
            r.prune();
            r.last_changed = now;
            let stages = r
                .version(&token)
                .map(|v| v.stages.clone())
                .unwrap_or_default();
            Ok::<_, Error>(Written {
                arn: r.arn.clone(),
                name: r.name.clone(),
                version_id: Some(token.clone()),
                stages,
            })
        })?;
        out.map(|(_, w)| w).ok_or_else(not_found)
    }

    pub fn update(&self, id: &str, change: SecretChange) -> Result<Written> {
        if let Some(t) = &change.token {
            check_token(t)?;
        }
        let s = self.find_live(id)?;
        if change.description.is_some() || change.kms_key_id.is_some() {
            self.records.change(&s.name, |r| {
                if let Some(d) = &change.description {
                    r.description = Some(d.clone());
                }
                if let Some(k) = &change.kms_key_id {
                    r.kms_key_id = Some(k.clone());
                }
                r.last_changed = now_millis();
                Ok::<_, Error>(())
            })?;
        }
        match change.value {
            Some(v) => self.put_value(&s.arn, change.token, v, None),
            None => Ok(Written {
                arn: s.arn.clone(),
                name: s.name.clone(),
                version_id: None,
                stages: Vec::new(),
            }),
        }
    }

    /// `UpdateSecretVersionStage`: move `stage` to `move_to` (from
    /// `remove_from`, which must name the version holding it), or only
    /// remove it from `remove_from`.
    pub fn update_stage(
        &self,
        id: &str,
        stage: &str,
        move_to: Option<&str>,
        remove_from: Option<&str>,
    ) -> Result<Written> {
        check_stage(stage)?;
        let s = self.find_live(id)?;
        let holder = s.version_with_stage(stage).map(|v| v.id.clone());
        if let Some(to) = move_to
            && s.version(to).is_none()
        {
            return Err(Error::NotFound(format!(
                "Secrets Manager can't find the specified secret version: {to}"
            )));
        }
        match (&holder, remove_from) {
            (Some(h), None) if move_to.is_some() && move_to != Some(h.as_str()) => {
                return Err(Error::InvalidParameter(format!(
                    "The parameter RemoveFromVersionId can't be empty. Staging label {stage} is currently attached to version {h}, so you must explicitly reference that version in RemoveFromVersionId."
                )));
            }
            (h, Some(from)) if h.as_deref() != Some(from) => {
                return Err(Error::InvalidParameter(format!(
                    "The staging label {stage} is not attached to version {from}."
                )));
            }
            _ => {}
        }
        if move_to.is_none() && remove_from.is_none() {
            return Err(Error::InvalidParameter(
                "Specify MoveToVersionId, RemoveFromVersionId or both.".into(),
            ));
        }
        if move_to.is_none() && stage == CURRENT {
            return Err(Error::InvalidParameter(
                "You can't remove the staging label AWSCURRENT from a version without moving it to another.".into(),
            ));
        }
        let out = self.records.change(&s.name, |r| {
            match move_to {
                Some(to) => r.move_stage(stage, to),
                None => {
                    for v in &mut r.versions {
                        v.stages.retain(|x| x != stage);
                    }
                }
            }
            if let Some(to) = move_to
                && r.version(to).is_some_and(|v| v.stages.len() > 20)
            {
                return Err(Error::Limit(
                    "A version can have at most 20 staging labels.".into(),
                ));
            }
            r.prune();
            r.last_changed = now_millis();
            Ok(Written {
                arn: r.arn.clone(),
                name: r.name.clone(),
                version_id: None,
                stages: Vec::new(),
            })
        })?;
        out.map(|(_, w)| w).ok_or_else(not_found)
    }

    pub fn describe(&self, id: &str) -> Result<Arc<SecretRecord>> {
        self.find(id)
    }

    /// One page of secrets matching `q`, and the token of the next.
    pub fn list(&self, q: &ListQuery) -> Result<(Vec<Arc<SecretRecord>>, Option<String>)> {
        self.expire();
        let max = q.max_results.unwrap_or(100);
        if !(1..=100).contains(&max) {
            return Err(Error::InvalidParameter(format!(
                "MaxResults must be between 1 and 100, not {max}."
            )));
        }
        for (key, values) in &q.filters {
            if ![
                "name",
                "description",
                "tag-key",
                "tag-value",
                "primary-region",
                "owning-service",
                "all",
            ]
            .contains(&key.as_str())
            {
                return Err(Error::InvalidParameter(format!(
                    "Invalid filter key: {key}"
                )));
            }
            if values.is_empty() || values.len() > 10 {
                return Err(Error::InvalidParameter(
                    "A filter takes 1 to 10 values.".into(),
                ));
            }
        }
        let mut all: Vec<Arc<SecretRecord>> = self
            .records
            .all()
            .into_iter()
            .filter(|s| q.include_planned_deletion || s.deletion_date.is_none())
            .filter(|s| q.filters.iter().all(|(k, vals)| matches(s, k, vals)))
            .collect();
        all.sort_by(|a, b| (a.created, &a.name).cmp(&(b.created, &b.name)));
        if q.descending {
            all.reverse();
        }
        let start = match &q.next_token {
            None => 0,
            Some(t) => t
                .parse::<usize>()
                .ok()
                .filter(|n| *n <= all.len())
                .ok_or_else(|| Error::InvalidNextToken("The NextToken is not valid.".into()))?,
        };
        let end = (start + max as usize).min(all.len());
        let next = (end < all.len()).then(|| end.to_string());
        Ok((all[start..end].to_vec(), next))
    }

    /// `DeleteSecret`: mark for deletion in `window` days (7 to 30, default
    /// 30), or remove at once (`force`). Answers the deletion date.
    pub fn delete(
        &self,
        id: &str,
        window: Option<i64>,
        force: bool,
    ) -> Result<(Arc<SecretRecord>, u64)> {
        if force && window.is_some() {
            return Err(Error::InvalidParameter(
                "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays."
                    .into(),
            ));
        }
        let days = window.unwrap_or(30);
        if !(7..=30).contains(&days) {
            return Err(Error::InvalidParameter(
                "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).".into(),
            ));
        }
        let s = self.find(id)?;
        let now = now_millis();
        if force {
            self.records.delete(&s.name)?;
            return Ok((s, now));
        }
        if s.deletion_date.is_some() {
            return Err(Error::InvalidRequest(
                "You can't perform this operation on the secret because it was already scheduled for deletion."
                    .into(),
            ));
        }
        let date = now + days as u64 * DAY_MS;
        let out = self.records.change(&s.name, |r| {
            r.deletion_date = Some(date);
            r.deleted_at = Some(now);
            Ok::<_, Error>(())
        })?;
        let (rec, ()) = out.ok_or_else(not_found)?;
        Ok((rec, date))
    }

    pub fn restore(&self, id: &str) -> Result<Arc<SecretRecord>> {
        let s = self.find(id)?;
        let out = self.records.change(&s.name, |r| {
            r.deletion_date = None;
            r.deleted_at = None;
            Ok::<_, Error>(())
        })?;
        out.map(|(r, ())| r).ok_or_else(not_found)
    }

    pub fn tag(&self, id: &str, tags: Vec<Tag>) -> Result<()> {
        check_tags(&tags)?;
        self.edit(id, |r| {
            for t in tags {
                match r.tags.iter_mut().find(|x| x.key == t.key) {
                    Some(x) => x.value = t.value,
                    None => r.tags.push(t),
                }
            }
            if r.tags.len() > 50 {
                return Err(Error::Limit("A secret can have at most 50 tags.".into()));
            }
            Ok(())
        })
    }

    pub fn untag(&self, id: &str, keys: &[String]) -> Result<()> {
        self.edit(id, |r| {
            r.tags.retain(|t| !keys.contains(&t.key));
            Ok(())
        })
    }

    pub fn put_policy(&self, id: &str, policy: &str) -> Result<Arc<SecretRecord>> {
        match serde_json::from_str::<serde_json::Value>(policy) {
            Ok(serde_json::Value::Object(o)) if o.contains_key("Statement") => {}
            _ => {
                return Err(Error::MalformedPolicy(
                    "This resource policy contains a syntax error.".into(),
                ));
            }
        }
        self.edit(id, |r| {
            r.policy = Some(policy.into());
            Ok(())
        })?;
        self.find(id)
    }

    pub fn delete_policy(&self, id: &str) -> Result<Arc<SecretRecord>> {
        self.edit(id, |r| {
            r.policy = None;
            Ok(())
        })?;
        self.find(id)
    }

    /// Change a live secret.
    fn edit(&self, id: &str, f: impl FnOnce(&mut SecretRecord) -> Result<()>) -> Result<()> {
        let s = self.find_live(id)?;
        self.records
            .change(&s.name, |r| {
                f(r)?;
                r.last_changed = now_millis();
                Ok::<_, Error>(())
            })?
            .ok_or_else(not_found)?;
        Ok(())
    }
}

fn matches(s: &SecretRecord, key: &str, values: &[String]) -> bool {
    values.iter().any(|raw| {
        let (negate, v) = match raw.strip_prefix('!') {
            Some(v) => (true, v),
            None => (false, raw.as_str()),
        };
        let pre = |field: &str| field.starts_with(v);
        let hit = match key {
            "name" => pre(&s.name),
            "description" => s.description.as_deref().is_some_and(pre),
            "tag-key" => s.tags.iter().any(|t| pre(&t.key)),
            "tag-value" => s.tags.iter().any(|t| pre(&t.value)),
            "primary-region" | "owning-service" => false,
            _ => {
                pre(&s.name)
                    || s.description.as_deref().is_some_and(pre)
                    || s.tags.iter().any(|t| pre(&t.key) || pre(&t.value))
            }
        };
        hit != negate
    })
}

fn check_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 512
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/_+=.@-".contains(&b))
    {
        return Err(Error::InvalidParameter(
            "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!"
                .into(),
        ));
    }
    Ok(())
}

fn check_value(v: Option<&SecretValue>) -> Result<()> {
    let len = match v {
        Some(SecretValue::String(s)) => s.len(),
        Some(SecretValue::Binary(b)) => b.len(),
        None => return Ok(()),
    };
    if len > 65_536 {
        return Err(Error::InvalidParameter(
            "A secret value can be at most 65536 bytes.".into(),
        ));
    }
    Ok(())
}

fn check_tags(tags: &[Tag]) -> Result<()> {
    for t in tags {
        if t.key.is_empty() || t.key.len() > 128 || t.value.len() > 256 {
            return Err(Error::InvalidParameter(format!(
                "Tag key {:?} must be 1 to 128 characters and its value at most 256.",
                t.key
            )));
        }
        if t.key.starts_with("aws:") {
            return Err(Error::InvalidParameter(
                "Tag keys may not begin with aws:".into(),
            ));
        }
    }
    Ok(())
}
