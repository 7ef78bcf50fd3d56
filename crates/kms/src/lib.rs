//! KMS for Nimbus: symmetric encryption keys, their aliases, key policies and
//! tags, and the envelope encryption Secrets Manager and Parameter Store use
//! in process. Keys are records (`kms_keys`, `kms_aliases`); their material is
//! derived from the data directory's master key ([`crypto`]), never stored.
//!
//! Not for asymmetric keys, HMAC keys, grants or custom key stores; not the
//! wire (`api/kms` owns TrentService's shapes).

pub mod crypto;
#[cfg(test)]
mod tests;

use crypto::MasterKey;
use nimbus_model::time::now_millis;
use nimbus_storage::records::{Record, Records};
use nimbus_storage::{KvEngine, Table};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

pub const KEYS: Table = Table("kms_keys");
pub const ALIASES: Table = Table("kms_aliases");
const FORMAT: u32 = 1;
const DAY_MS: u64 = 86_400_000;

/// The largest plaintext `Encrypt` takes.
pub const MAX_PLAINTEXT: usize = 4096;

/// What KMS refuses, in its own terms; `api/kms` gives each its wire code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    Disabled(String),
    #[error("{0}")]
    InvalidState(String),
    #[error("{0}")]
    InvalidCiphertext(String),
    #[error("{0}")]
    IncorrectKey(String),
    #[error("{0}")]
    InvalidAliasName(String),
    #[error("{0}")]
    NotAuthorized(String),
    #[error("{0}")]
    MalformedPolicy(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    InvalidArn(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Tag(String),
    #[error("key material unavailable: {0}")]
    Crypto(String),
    #[error(transparent)]
    Storage(#[from] nimbus_storage::Error),
}

pub type Result<T> = std::result::Result<T, Error>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyState {
    Enabled,
    Disabled,
    PendingDeletion,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Enabled => "Enabled",
            KeyState::Disabled => "Disabled",
            KeyState::PendingDeletion => "PendingDeletion",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// One KMS key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyRecord {
    pub format: u32,
    pub key_id: String,
    pub arn: String,
    pub description: String,
    pub state: KeyState,
    /// Epoch milliseconds.
    pub created: u64,
    pub deletion_date: Option<u64>,
    pub pending_window_days: Option<u32>,
    /// `true` for the `aws/<service>` keys services create on first use.
    pub aws_managed: bool,
    pub policy: String,
    pub tags: Vec<Tag>,
}

impl Record for KeyRecord {
    fn key(&self) -> &str {
        &self.key_id
    }
    fn format(&self) -> u32 {
        self.format
    }
}

/// One alias (`alias/...`) and the key it names.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AliasRecord {
    pub format: u32,
    pub name: String,
    pub target_key_id: String,
    pub created: u64,
    pub updated: u64,
}

impl Record for AliasRecord {
    fn key(&self) -> &str {
        &self.name
    }
    fn format(&self) -> u32 {
        self.format
    }
}

/// What `CreateKey` asks for.
#[derive(Debug, Clone, Default)]
pub struct NewKey {
    pub description: String,
    pub key_usage: Option<String>,
    pub key_spec: Option<String>,
    pub policy: Option<String>,
    pub tags: Vec<Tag>,
}

/// An encryption context: string pairs that must match on decrypt.
pub type Context = BTreeMap<String, String>;

/// The keys, aliases and the master key of one data directory.
pub struct Kms {
    master: MasterKey,
    keys: Records<KeyRecord>,
    aliases: Records<AliasRecord>,
    account: String,
    region: String,
    /// Serialises creating the AWS-managed keys on first use.
    managed: Mutex<()>,
}

/// The AWS-managed keys a service may ask for by alias, and their descriptions.
const MANAGED: [(&str, &str); 2] = [
    (
        "alias/aws/secretsmanager",
        "Default key that protects my Secrets Manager data when no other key is defined",
    ),
    (
        "alias/aws/ssm",
        "Default key that protects my SSM parameters when no other key is defined",
    ),
];

impl Kms {
    /// Open the key tables over `kv`, with the master key at `master_key`
    /// (created on first start).
    pub fn open(
        kv: Arc<dyn KvEngine>,
        master_key: &Path,
        account: &str,
        region: &str,
    ) -> Result<Kms> {
        let master = MasterKey::load_or_create(master_key)
            .map_err(|e| Error::Crypto(format!("open {}: {e}", master_key.display())))?;
        Kms::with_master(kv, master, account, region)
    }

    /// [`Kms::open`] with a given master key.
    pub fn with_master(
        kv: Arc<dyn KvEngine>,
        master: MasterKey,
        account: &str,
        region: &str,
    ) -> Result<Kms> {
        Ok(Kms {
            master,
            keys: Records::open(kv.clone(), KEYS, FORMAT)?,
            aliases: Records::open(kv, ALIASES, FORMAT)?,
            account: account.into(),
            region: region.into(),
            managed: Mutex::new(()),
        })
    }

    pub fn account(&self) -> &str {
        &self.account
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    /// `arn:aws:kms:<region>:<account>:<resource>`.
    pub fn arn(&self, resource: &str) -> String {
        format!("arn:aws:kms:{}:{}:{resource}", self.region, self.account)
    }

    fn default_policy(&self) -> String {
        serde_json::json!({
            "Version": "2012-10-17",
            "Id": "key-default-1",
            "Statement": [{
                "Sid": "Enable IAM User Permissions",
                "Effect": "Allow",
                "Principal": {"AWS": format!("arn:aws:iam::{}:root", self.account)},
                "Action": "kms:*",
                "Resource": "*",
            }],
        })
        .to_string()
    }

    fn new_key(
        &self,
        description: String,
        policy: Option<String>,
        tags: Vec<Tag>,
        aws_managed: bool,
    ) -> KeyRecord {
        let key_id = uuid::Uuid::new_v4().to_string();
        KeyRecord {
            format: FORMAT,
            arn: self.arn(&format!("key/{key_id}")),
            key_id,
            description,
            state: KeyState::Enabled,
            created: now_millis(),
            deletion_date: None,
            pending_window_days: None,
            aws_managed,
            policy: policy.unwrap_or_else(|| self.default_policy()),
            tags,
        }
    }

    pub fn create_key(&self, new: NewKey) -> Result<Arc<KeyRecord>> {
        if let Some(u) = new.key_usage.as_deref().filter(|u| *u != "ENCRYPT_DECRYPT") {
            return Err(Error::Unsupported(format!(
                "KeyUsage {u} is not supported: Nimbus serves symmetric ENCRYPT_DECRYPT keys"
            )));
        }
        if let Some(s) = new
            .key_spec
            .as_deref()
            .filter(|s| *s != "SYMMETRIC_DEFAULT")
        {
            return Err(Error::Unsupported(format!(
                "KeySpec {s} is not supported: Nimbus serves SYMMETRIC_DEFAULT keys"
            )));
        }
        if new.description.len() > 8192 {
            return Err(Error::Invalid(
                "Description must be at most 8192 characters long".into(),
            ));
        }
        if let Some(p) = &new.policy {
            check_policy(p)?;
        }
        check_tags(&new.tags)?;
        let rec = self.new_key(new.description, new.policy, new.tags, false);
        Ok(self.keys.put(rec)?)
    }

    /// The key a key id, key ARN, alias name or alias ARN names.
    pub fn describe_key(&self, key: &str) -> Result<Arc<KeyRecord>> {
        self.resolve(key)
    }

    /// Every key, by key id.
    pub fn list_keys(&self) -> Vec<Arc<KeyRecord>> {
        self.expire();
        self.keys.all()
    }

    fn expire(&self) {
        let now = now_millis();
        let due: Vec<String> = self.keys.fold(Vec::new(), |mut due, k| {
            if k.deletion_date.is_some_and(|d| d <= now) {
                due.push(k.key_id.clone());
            }
            due
        });
        for id in due {
            for a in self.aliases.all() {
                if a.target_key_id == id {
                    let _ = self.aliases.delete(&a.name);
                }
            }
            let _ = self.keys.delete(&id);
        }
    }

    fn not_found_key(&self, id: &str) -> Error {
        Error::NotFound(format!(
            "Key '{}' does not exist",
            self.arn(&format!("key/{id}"))
        ))
    }

    /// A key id or key ARN, or an alias name or alias ARN, as (is alias, name).
    fn split_ref<'a>(&self, key: &'a str) -> Result<(bool, &'a str)> {
        if key.is_empty() {
            return Err(Error::Invalid("KeyId must not be empty".into()));
        }
        if let Some(rest) = key.strip_prefix("arn:") {
            let parts: Vec<&str> = rest.splitn(5, ':').collect();
            let resource = match parts.as_slice() {
                [_, "kms", _, _, resource] => *resource,
                _ => return Err(Error::InvalidArn(format!("Invalid arn {key}"))),
            };
            if let Some(id) = resource.strip_prefix("key/") {
                return Ok((false, id));
            }
            if resource.starts_with("alias/") {
                return Ok((true, resource));
            }
            return Err(Error::InvalidArn(format!("Invalid arn {key}")));
        }
        Ok((key.starts_with("alias/"), key))
    }

    fn resolve(&self, key: &str) -> Result<Arc<KeyRecord>> {
        self.expire();
        let (alias, name) = self.split_ref(key)?;
        let id = if alias {
            match self.aliases.get(name) {
                Some(a) => a.target_key_id.clone(),
                None => {
                    return Err(Error::NotFound(format!(
                        "Alias {} is not found.",
                        self.arn(name)
                    )));
                }
            }
        } else {
            name.to_string()
        };
        self.keys.get(&id).ok_or_else(|| self.not_found_key(&id))
    }

    /// [`Kms::resolve`], creating the AWS-managed key an `alias/aws/<service>`
    /// names on first use.
    fn resolve_for_use(&self, key: &str) -> Result<Arc<KeyRecord>> {
        let (alias, name) = self.split_ref(key)?;
        if alias && let Some((_, description)) = MANAGED.iter().find(|(a, _)| *a == name) {
            let _guard = self.managed.lock().unwrap_or_else(|p| p.into_inner());
            if self.aliases.get(name).is_none() {
                let rec = self.new_key(description.to_string(), None, Vec::new(), true);
                let rec = self.keys.put(rec)?;
                let now = now_millis();
                self.aliases.put(AliasRecord {
                    format: FORMAT,
                    name: name.into(),
                    target_key_id: rec.key_id.clone(),
                    created: now,
                    updated: now,
                })?;
            }
        }
        let rec = self.resolve(key)?;
        match rec.state {
            KeyState::Enabled => Ok(rec),
            KeyState::Disabled => Err(Error::Disabled(format!("{} is disabled.", rec.arn))),
            KeyState::PendingDeletion => Err(Error::InvalidState(format!(
                "{} is pending deletion.",
                rec.arn
            ))),
        }
    }

    fn change(
        &self,
        key: &str,
        f: impl FnOnce(&mut KeyRecord) -> Result<()>,
    ) -> Result<Arc<KeyRecord>> {
        let id = self.resolve(key)?.key_id.clone();
        match self.keys.change(&id, f)? {
            Some((rec, ())) => Ok(rec),
            None => Err(self.not_found_key(&id)),
        }
    }

    fn pending_refused(rec: &KeyRecord) -> Result<()> {
        if rec.state == KeyState::PendingDeletion {
            return Err(Error::InvalidState(format!(
                "{} is pending deletion.",
                rec.arn
            )));
        }
        Ok(())
    }

    pub fn set_enabled(&self, key: &str, enabled: bool) -> Result<Arc<KeyRecord>> {
        self.change(key, |k| {
            Kms::pending_refused(k)?;
            k.state = if enabled {
                KeyState::Enabled
            } else {
                KeyState::Disabled
            };
            Ok(())
        })
    }

    /// Schedule the key's deletion in `days` (7 to 30, default 30); it refuses
    /// every use until then, or until [`Kms::cancel_key_deletion`].
    pub fn schedule_key_deletion(&self, key: &str, days: Option<i64>) -> Result<Arc<KeyRecord>> {
        let days = days.unwrap_or(30);
        if !(7..=30).contains(&days) {
            return Err(Error::Invalid(format!(
                "1 validation error detected: Value '{days}' at 'pendingWindowInDays' failed to satisfy constraint: Member must have value between 7 and 30"
            )));
        }
        self.change(key, |k| {
            if k.aws_managed {
                return Err(Error::Unsupported(format!(
                    "{} is an AWS managed key and cannot be deleted",
                    k.arn
                )));
            }
            Kms::pending_refused(k)?;
            k.state = KeyState::PendingDeletion;
            k.pending_window_days = Some(days as u32);
            k.deletion_date = Some(now_millis() + days as u64 * DAY_MS);
            Ok(())
        })
    }

    /// Take back a scheduled deletion; the key is disabled, as on AWS.
    pub fn cancel_key_deletion(&self, key: &str) -> Result<Arc<KeyRecord>> {
        self.change(key, |k| {
            if k.state != KeyState::PendingDeletion {
                return Err(Error::InvalidState(format!(
                    "{} is not pending deletion.",
                    k.arn
                )));
            }
            k.state = KeyState::Disabled;
            k.pending_window_days = None;
            k.deletion_date = None;
            Ok(())
        })
    }

    fn check_alias_name(name: &str) -> Result<()> {
        let Some(rest) = name.strip_prefix("alias/") else {
            return Err(Error::Invalid(format!(
                "Alias must start with the prefix \"alias/\". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html (was {name})"
            )));
        };
        if rest.is_empty()
            || name.len() > 256
            || !rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/_-".contains(&b))
        {
            return Err(Error::InvalidAliasName(format!(
                "Alias name {name} must be 1 to 256 characters of a-z, A-Z, 0-9, /, _ and -"
            )));
        }
        if name.starts_with("alias/aws/") {
            return Err(Error::NotAuthorized(
                "Aliases that begin with alias/aws/ are reserved for AWS managed keys".into(),
            ));
        }
        Ok(())
    }

    /// The customer key an alias may point at (by key id or key ARN).
    fn alias_target(&self, target: &str) -> Result<Arc<KeyRecord>> {
        if self.split_ref(target)?.0 {
            return Err(Error::Invalid(
                "TargetKeyId must be a key id or key ARN, not an alias".into(),
            ));
        }
        let rec = self.resolve(target)?;
        if rec.aws_managed {
            return Err(Error::NotAuthorized(
                "An alias cannot point at an AWS managed key".into(),
            ));
        }
        Kms::pending_refused(&rec)?;
        Ok(rec)
    }

    pub fn create_alias(&self, name: &str, target: &str) -> Result<Arc<AliasRecord>> {
        Kms::check_alias_name(name)?;
        let rec = self.alias_target(target)?;
        let now = now_millis();
        match self.aliases.insert(AliasRecord {
            format: FORMAT,
            name: name.into(),
            target_key_id: rec.key_id.clone(),
            created: now,
            updated: now,
        })? {
            Ok(a) => Ok(a),
            Err(_) => Err(Error::AlreadyExists(format!(
                "An alias with the name {} already exists",
                self.arn(name)
            ))),
        }
    }

    pub fn update_alias(&self, name: &str, target: &str) -> Result<Arc<AliasRecord>> {
        Kms::check_alias_name(name)?;
        let rec = self.alias_target(target)?;
        let changed = self.aliases.change(name, |a| {
            a.target_key_id = rec.key_id.clone();
            a.updated = now_millis();
            Ok::<_, Error>(())
        })?;
        changed
            .map(|(a, ())| a)
            .ok_or_else(|| Error::NotFound(format!("Alias {} is not found.", self.arn(name))))
    }

    pub fn delete_alias(&self, name: &str) -> Result<()> {
        Kms::check_alias_name(name)?;
        match self.aliases.delete(name)? {
            Some(_) => Ok(()),
            None => Err(Error::NotFound(format!(
                "Alias {} is not found.",
                self.arn(name)
            ))),
        }
    }

    /// Every alias, or those naming `key`.
    pub fn list_aliases(&self, key: Option<&str>) -> Result<Vec<Arc<AliasRecord>>> {
        self.expire();
        let id = key.map(|k| self.resolve(k)).transpose()?;
        Ok(self
            .aliases
            .all()
            .into_iter()
            .filter(|a| id.as_ref().is_none_or(|k| k.key_id == a.target_key_id))
            .collect())
    }

    /// Encrypt `plaintext` (1 to 4096 bytes) under `key`.
    pub fn encrypt(
        &self,
        key: &str,
        plaintext: &[u8],
        context: &Context,
    ) -> Result<(Vec<u8>, Arc<KeyRecord>)> {
        if plaintext.is_empty() || plaintext.len() > MAX_PLAINTEXT {
            return Err(Error::Invalid(format!(
                "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length between 1 and {MAX_PLAINTEXT}"
            )));
        }
        self.seal(key, plaintext, context)
    }

    /// [`Kms::encrypt`] for a service's own data: any length.
    pub fn seal(
        &self,
        key: &str,
        plaintext: &[u8],
        context: &Context,
    ) -> Result<(Vec<u8>, Arc<KeyRecord>)> {
        let rec = self.resolve_for_use(key)?;
        let material = self.master.derive(&rec.key_id);
        let blob = crypto::seal(&material, &rec.key_id, plaintext, context)
            .map_err(|e| Error::Crypto(e.to_string()))?;
        Ok((blob, rec))
    }

    /// Decrypt a blob [`Kms::encrypt`] made, under the same context; `key`,
    /// when given, must be the key it names.
    pub fn decrypt(
        &self,
        blob: &[u8],
        context: &Context,
        key: Option<&str>,
    ) -> Result<(Vec<u8>, Arc<KeyRecord>)> {
        let invalid = || Error::InvalidCiphertext(String::new());
        let parsed = crypto::parse(blob).ok_or_else(invalid)?;
        let rec = self.keys.get(parsed.key_id).ok_or_else(invalid)?;
        if let Some(k) = key {
            let wanted = self.resolve(k)?;
            if wanted.key_id != rec.key_id {
                return Err(Error::IncorrectKey(
                    "The key ID in the request does not identify a CMK that can perform this operation."
                        .into(),
                ));
            }
        }
        let rec = self.resolve_for_use(&rec.key_id)?;
        let material = self.master.derive(&rec.key_id);
        let plain = crypto::open(&material, &parsed, context).ok_or_else(invalid)?;
        Ok((plain, rec))
    }

    /// A fresh data key of `bytes` bytes (1 to 1024): its plaintext and its
    /// blob under `key`.
    pub fn generate_data_key(
        &self,
        key: &str,
        bytes: usize,
        context: &Context,
    ) -> Result<(Vec<u8>, Vec<u8>, Arc<KeyRecord>)> {
        if !(1..=1024).contains(&bytes) {
            return Err(Error::Invalid(format!(
                "1 validation error detected: Value '{bytes}' at 'numberOfBytes' failed to satisfy constraint: Member must have value between 1 and 1024"
            )));
        }
        let mut plain = vec![0u8; bytes];
        crypto::random(&mut plain).map_err(|e| Error::Crypto(e.to_string()))?;
        let (blob, rec) = self.seal(key, &plain, context)?;
        Ok((plain, blob, rec))
    }

    /// Decrypt `blob` and encrypt its plaintext under `dest`: (blob, source
    /// key, destination key).
    pub fn re_encrypt(
        &self,
        blob: &[u8],
        source_context: &Context,
        source_key: Option<&str>,
        dest: &str,
        dest_context: &Context,
    ) -> Result<(Vec<u8>, Arc<KeyRecord>, Arc<KeyRecord>)> {
        let (plain, src) = self.decrypt(blob, source_context, source_key)?;
        let (out, dst) = self.seal(dest, &plain, dest_context)?;
        Ok((out, src, dst))
    }

    pub fn key_policy(&self, key: &str, name: Option<&str>) -> Result<String> {
        check_policy_name(name)?;
        Ok(self.resolve(key)?.policy.clone())
    }

    pub fn put_key_policy(&self, key: &str, name: Option<&str>, policy: &str) -> Result<()> {
        check_policy_name(name)?;
        check_policy(policy)?;
        self.change(key, |k| {
            Kms::pending_refused(k)?;
            k.policy = policy.into();
            Ok(())
        })?;
        Ok(())
    }

    pub fn tag(&self, key: &str, tags: Vec<Tag>) -> Result<()> {
        check_tags(&tags)?;
        self.change(key, |k| {
            Kms::pending_refused(k)?;
            for t in tags {
                match k.tags.iter_mut().find(|x| x.key == t.key) {
                    Some(x) => x.value = t.value,
                    None => k.tags.push(t),
                }
            }
            if k.tags.len() > 50 {
                return Err(Error::Tag("A key can have at most 50 tags".into()));
            }
            Ok(())
        })?;
        Ok(())
    }

    pub fn untag(&self, key: &str, keys: &[String]) -> Result<()> {
        self.change(key, |k| {
            Kms::pending_refused(k)?;
            k.tags.retain(|t| !keys.contains(&t.key));
            Ok(())
        })?;
        Ok(())
    }

    pub fn tags(&self, key: &str) -> Result<Vec<Tag>> {
        Ok(self.resolve(key)?.tags.clone())
    }
}

fn check_policy_name(name: Option<&str>) -> Result<()> {
    match name {
        None | Some("default") => Ok(()),
        Some(n) => Err(Error::NotFound(format!(
            "Policy {n} does not exist: a key has one policy, named default"
        ))),
    }
}

fn check_policy(policy: &str) -> Result<()> {
    match serde_json::from_str::<serde_json::Value>(policy) {
        Ok(serde_json::Value::Object(o)) if o.contains_key("Statement") => Ok(()),
        Ok(_) => Err(Error::MalformedPolicy(
            "The key policy must be a JSON object with a Statement".into(),
        )),
        Err(e) => Err(Error::MalformedPolicy(format!(
            "The key policy is not valid JSON: {e}"
        ))),
    }
}

fn check_tags(tags: &[Tag]) -> Result<()> {
    for t in tags {
        if t.key.is_empty() || t.key.len() > 128 || t.value.len() > 256 {
            return Err(Error::Tag(format!(
                "Tag key {:?} must be 1 to 128 characters and its value at most 256",
                t.key
            )));
        }
        if t.key.starts_with("aws:") {
            return Err(Error::Tag("Tag keys may not begin with aws:".into()));
        }
    }
    Ok(())
}
