//! The account's identities: IAM users and their access keys, groups, roles
//! with trust policies, customer managed policies with versions, inline
//! policies, attachments and permission boundaries, the AWS managed policy
//! catalog, and STS's temporary sessions ([`sts`]). Every table is a
//! [`Records`] table over the shared KV engine: cached, written through.
//!
//! Two lookups serve the platform on every request, both map reads:
//! [`Iam::resolve_access_key`] (the edge's SigV4 secrets and the caller) and
//! [`Iam::principal_policies`] (what enforcement evaluates).
//!
//! Not here: the wire (`api/iam`, `api/sts`), the policy language and its
//! evaluation (the policy crate), the account's root key (the data
//! directory's `credentials` file; its principal is [`Principal::Root`]).

pub mod document;
mod lookups;
pub mod managed;
pub mod paging;
mod policies;
pub mod sts;
pub mod trust;

pub use document::{PolicyKind, check_policy_document};
pub use paging::Page;
pub use sts::{AssumeRoleInput, AssumedRole, TemporaryCredentials};
pub use trust::trust_allows;

use nimbus_storage::records::{Record, Records};
use nimbus_storage::{KvEngine, Table};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

/// On-disk format of every IAM record.
pub const FORMAT: u32 = 1;

const USERS: Table = Table("iam_users");
const KEYS: Table = Table("iam_access_keys");
const GROUPS: Table = Table("iam_groups");
const ROLES: Table = Table("iam_roles");
const POLICIES: Table = Table("iam_policies");
const SESSIONS: Table = Table("sts_sessions");

/// IAM's quotas that Nimbus enforces.
pub mod limits {
    pub const ACCESS_KEYS_PER_USER: usize = 2;
    pub const VERSIONS_PER_POLICY: usize = 5;
    pub const MANAGED_POLICIES_PER_ENTITY: usize = 10;
    pub const GROUPS_PER_USER: usize = 10;
    pub const TAGS_PER_ENTITY: usize = 50;
    pub const MAX_SESSION_SECS: u32 = 43_200;
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    NoSuchEntity(String),
    #[error("{0}")]
    EntityAlreadyExists(String),
    #[error("{0}")]
    DeleteConflict(String),
    #[error("{0}")]
    LimitExceeded(String),
    #[error("{0}")]
    MalformedPolicyDocument(String),
    #[error("{0}")]
    InvalidInput(String),
    /// A value outside the model's constraints (pattern, length, range).
    #[error("{0}")]
    Validation(String),
    /// AWS managed policies cannot be changed.
    #[error("{0}")]
    Unmodifiable(String),
    /// STS refuses the caller (trust policy, role chaining, session kind).
    #[error("{0}")]
    AccessDenied(String),
    #[error("storage failed: {0}")]
    Storage(#[from] nimbus_storage::Error),
    #[error("no random bytes: {0}")]
    Random(String),
}

pub type Result<T> = std::result::Result<T, Error>;

/// A tag on a user, role or policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// Policies a user, group or role holds: inline documents by name, attached
/// managed policies by ARN.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policies {
    pub inline: BTreeMap<String, String>,
    pub attached: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub format: u32,
    pub name: String,
    pub path: String,
    pub id: String,
    pub arn: String,
    /// Epoch milliseconds.
    pub created: u64,
    pub tags: Vec<Tag>,
    pub policies: Policies,
    /// ARN of the managed policy bounding its permissions.
    pub boundary: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyStatus {
    Active,
    Inactive,
}

impl KeyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "Active",
            KeyStatus::Inactive => "Inactive",
        }
    }

    pub fn parse(s: &str) -> Option<KeyStatus> {
        match s {
            "Active" => Some(KeyStatus::Active),
            "Inactive" => Some(KeyStatus::Inactive),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessKey {
    pub format: u32,
    pub id: String,
    pub secret: String,
    pub user: String,
    pub status: KeyStatus,
    pub created: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    pub format: u32,
    pub name: String,
    pub path: String,
    pub id: String,
    pub arn: String,
    pub created: u64,
    /// User names, in the order they were added.
    pub members: Vec<String>,
    pub policies: Policies,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    pub format: u32,
    pub name: String,
    pub path: String,
    pub id: String,
    pub arn: String,
    pub created: u64,
    /// The trust policy (`AssumeRolePolicyDocument`), as given.
    pub trust: String,
    pub description: Option<String>,
    pub max_session_secs: u32,
    pub tags: Vec<Tag>,
    pub policies: Policies,
    pub boundary: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyVersion {
    /// `v1`, `v2`, ...
    pub id: String,
    pub document: String,
    pub created: u64,
}

/// A managed policy: the account's own (stored), or AWS's ([`managed`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManagedPolicy {
    pub format: u32,
    pub arn: String,
    pub name: String,
    pub path: String,
    pub id: String,
    pub description: String,
    pub created: u64,
    pub updated: u64,
    pub default_version: String,
    /// Oldest first; at most five.
    pub versions: Vec<PolicyVersion>,
    pub next_version: u32,
    pub tags: Vec<Tag>,
    pub aws_managed: bool,
}

impl ManagedPolicy {
    pub fn default_document(&self) -> &str {
        self.versions
            .iter()
            .find(|v| v.id == self.default_version)
            .map_or("", |v| v.document.as_str())
    }
}

macro_rules! record {
    ($t:ty, $key:ident) => {
        impl Record for $t {
            fn key(&self) -> &str {
                &self.$key
            }
            fn format(&self) -> u32 {
                self.format
            }
        }
    };
}
record!(User, name);
record!(AccessKey, id);
record!(Group, name);
record!(Role, name);
record!(ManagedPolicy, arn);
record!(sts::Session, access_key_id);

/// Who made a request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Principal {
    /// The account's root (the data directory's key).
    Root { account: String },
    User {
        arn: String,
        name: String,
        id: String,
        account: String,
    },
    /// A session of a role (`AssumeRole`, a function's execution role).
    AssumedRole {
        /// `arn:aws:sts::ACCT:assumed-role/ROLE/SESSION`.
        arn: String,
        role_arn: String,
        role_name: String,
        role_id: String,
        session_name: String,
        account: String,
    },
    /// An AWS service (`lambda.amazonaws.com`), as the platform acts.
    Service(String),
}

impl Principal {
    pub fn arn(&self) -> String {
        match self {
            Principal::Root { account } => format!("arn:aws:iam::{account}:root"),
            Principal::User { arn, .. } | Principal::AssumedRole { arn, .. } => arn.clone(),
            Principal::Service(s) => s.clone(),
        }
    }

    pub fn account(&self) -> Option<&str> {
        match self {
            Principal::Root { account }
            | Principal::User { account, .. }
            | Principal::AssumedRole { account, .. } => Some(account),
            Principal::Service(_) => None,
        }
    }

    /// `GetCallerIdentity`'s `UserId`: the account id for the root, the
    /// user's id, or `ROLEID:SESSION`.
    pub fn user_id(&self) -> String {
        match self {
            Principal::Root { account } => account.clone(),
            Principal::User { id, .. } => id.clone(),
            Principal::AssumedRole {
                role_id,
                session_name,
                ..
            } => format!("{role_id}:{session_name}"),
            Principal::Service(s) => s.clone(),
        }
    }
}

/// What an access key id stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyOwner {
    pub secret: String,
    pub active: bool,
    pub principal: Principal,
    /// For temporary keys: the token requests must carry, and the expiry.
    pub session: Option<SessionKey>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionKey {
    pub token: String,
    /// Epoch milliseconds.
    pub expires: u64,
    /// Whether it had expired at the time of the lookup.
    pub expired: bool,
    /// The session policy and the documents of its `PolicyArns`, which
    /// bound the session's permissions.
    pub policies: Vec<NamedDocument>,
}

/// A policy document and where it comes from (a managed policy's ARN, or
/// `inline:<entity>/<name>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedDocument {
    pub source: String,
    pub document: String,
}

/// The identity-based policies that apply to a principal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrincipalPolicies {
    /// Inline and attached managed (default version) policies of the user or
    /// role, and of the user's groups.
    pub identity: Vec<NamedDocument>,
    pub boundary: Option<NamedDocument>,
    /// The user's or role's tags (`aws:PrincipalTag/KEY`).
    pub tags: Vec<(String, String)>,
}

/// Milliseconds since the epoch; injectable so tests can move time.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// A change in progress (see [`Iam::writing`]).
struct Writing<'a> {
    _lock: MutexGuard<'a, ()>,
    iam: &'a Iam,
}

impl Drop for Writing<'_> {
    fn drop(&mut self) {
        self.iam
            .generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.iam
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}

/// The IAM service of one account.
pub struct Iam {
    account: String,
    users: Records<User>,
    keys: Records<AccessKey>,
    groups: Records<Group>,
    roles: Records<Role>,
    policies: Records<ManagedPolicy>,
    sessions: Records<sts::Session>,
    aws_policies: BTreeMap<String, Arc<ManagedPolicy>>,
    /// Resolved policies by principal ARN; emptied by every change.
    cache: Mutex<HashMap<String, Arc<PrincipalPolicies>>>,
    /// Moves on after every change (see [`Iam::writing`]).
    generation: std::sync::atomic::AtomicU64,
    /// Held by every change, so checks across tables (a user without keys
    /// before it is deleted) hold until the change is made.
    write: Mutex<()>,
    clock: Clock,
}

/// A new user, role, group or policy's name and path.
#[derive(Debug, Clone, Default)]
pub struct NewUser {
    pub name: String,
    pub path: Option<String>,
    pub tags: Vec<Tag>,
    pub boundary: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct NewRole {
    pub name: String,
    pub path: Option<String>,
    pub trust: String,
    pub description: Option<String>,
    pub max_session_secs: Option<u32>,
    pub tags: Vec<Tag>,
    pub boundary: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct NewPolicy {
    pub name: String,
    pub path: Option<String>,
    pub document: String,
    pub description: Option<String>,
    pub tags: Vec<Tag>,
}

/// A change to a role's settings (`UpdateRole`).
#[derive(Debug, Clone, Default)]
pub struct RoleUpdate {
    pub description: Option<String>,
    pub max_session_secs: Option<u32>,
}

/// Whose inline or attached policies an operation is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity<'a> {
    User(&'a str),
    Group(&'a str),
    Role(&'a str),
}

/// Which managed policies `ListPolicies` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scope {
    #[default]
    All,
    Aws,
    Local,
}

/// The users, groups and roles a managed policy is attached to.
#[derive(Debug, Clone, Default)]
pub struct PolicyEntities {
    pub users: Vec<Arc<User>>,
    pub groups: Vec<Arc<Group>>,
    pub roles: Vec<Arc<Role>>,
}

const ID_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const SECRET_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

pub(crate) fn random_from(alphabet: &[u8], n: usize) -> Result<String> {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).map_err(|e| Error::Random(e.to_string()))?;
    Ok(bytes
        .iter()
        .map(|b| alphabet[*b as usize % alphabet.len()] as char)
        .collect())
}

/// `AIDA...`, `AROA...`: a prefix and 17 characters, as IAM's unique ids.
pub(crate) fn unique_id(prefix: &str) -> Result<String> {
    Ok(format!("{prefix}{}", random_from(ID_ALPHABET, 17)?))
}

/// A 20-character key id (`AKIA...`, `ASIA...`).
pub(crate) fn key_id(prefix: &str) -> Result<String> {
    Ok(format!("{prefix}{}", random_from(ID_ALPHABET, 16)?))
}

pub(crate) fn secret() -> Result<String> {
    random_from(SECRET_ALPHABET, 40)
}

fn validation(value: &str, member: &str, constraint: &str) -> Error {
    Error::Validation(format!(
        "1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: {constraint}"
    ))
}

/// IAM's names: 1 to `max` of `[\w+=,.@-]`.
pub fn check_name(value: &str, member: &str, max: usize) -> Result<()> {
    if value.is_empty() || value.chars().count() > max {
        return Err(validation(
            value,
            member,
            &format!("Member must have length between 1 and {max}"),
        ));
    }
    if !value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c))
    {
        return Err(validation(
            value,
            member,
            "Member must satisfy regular expression pattern: [\\w+=,.@-]+",
        ));
    }
    Ok(())
}

/// `/` or `/a/b/`: IAM's paths.
fn check_path(path: Option<&str>) -> Result<String> {
    let p = path.unwrap_or("/");
    let ok = p.starts_with('/')
        && p.ends_with('/')
        && p.len() <= 512
        && p.chars().all(|c| ('\u{21}'..='\u{7e}').contains(&c));
    if !ok {
        return Err(validation(
            p,
            "path",
            "Member must satisfy regular expression pattern: (\\u002F)|(\\u002F[\\u0021-\\u007E]+\\u002F)",
        ));
    }
    Ok(p.to_string())
}

fn check_tags(tags: &[Tag]) -> Result<()> {
    if tags.len() > limits::TAGS_PER_ENTITY {
        return Err(Error::LimitExceeded(format!(
            "Cannot exceed quota for TagsPerEntity: {}",
            limits::TAGS_PER_ENTITY
        )));
    }
    for t in tags {
        if t.key.is_empty() || t.key.chars().count() > 128 || t.value.chars().count() > 256 {
            return Err(Error::InvalidInput(format!(
                "The tag key '{}' or its value is too long or empty",
                t.key
            )));
        }
    }
    Ok(())
}

/// `tags` with `new` set over them (a key once, case-insensitively).
/// Users and roles: the entities that carry tags.
trait Tagged {
    fn tags_mut(&mut self) -> &mut Vec<Tag>;
}

impl Tagged for User {
    fn tags_mut(&mut self) -> &mut Vec<Tag> {
        &mut self.tags
    }
}

impl Tagged for Role {
    fn tags_mut(&mut self) -> &mut Vec<Tag> {
        &mut self.tags
    }
}

/// Change the tags of the entity `name` of `records` with `f`.
fn retag<T: Record + Tagged>(
    records: &Records<T>,
    name: &str,
    f: impl FnOnce(&mut Vec<Tag>) -> Result<()>,
) -> Result<()> {
    records.change(name, |e| f(e.tags_mut()))?;
    Ok(())
}

/// Tags added (replacing those of the same keys), within IAM's limits.
fn add_tags(tags: &mut Vec<Tag>, new: &[Tag]) -> Result<()> {
    merge_tags(tags, new);
    check_tags(tags)
}

fn remove_tags(tags: &mut Vec<Tag>, keys: &[String]) -> Result<()> {
    tags.retain(|t| !keys.iter().any(|k| k == &t.key));
    Ok(())
}

fn merge_tags(tags: &mut Vec<Tag>, new: &[Tag]) {
    for t in new {
        tags.retain(|o| !o.key.eq_ignore_ascii_case(&t.key));
        tags.push(t.clone());
    }
}

/// A managed policy ARN's parts, or `InvalidInput`.
fn check_policy_arn(arn: &str) -> Result<()> {
    let ok = arn
        .strip_prefix("arn:aws:iam::")
        .and_then(|r| r.split_once(":policy/"))
        .is_some_and(|(acct, name)| !acct.is_empty() && !name.is_empty());
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!("ARN {arn} is not valid.")))
    }
}

impl Iam {
    /// Open the account's IAM tables on `kv`.
    pub fn open(kv: Arc<dyn KvEngine>, account: &str) -> Result<Iam> {
        Iam::open_with_clock(kv, account, Arc::new(nimbus_model::time::now_millis))
    }

    /// [`Iam::open`] with a clock of the caller's (tests of expiry).
    pub fn open_with_clock(kv: Arc<dyn KvEngine>, account: &str, clock: Clock) -> Result<Iam> {
        Ok(Iam {
            account: account.to_string(),
            users: Records::open(kv.clone(), USERS, FORMAT)?,
            keys: Records::open(kv.clone(), KEYS, FORMAT)?,
            groups: Records::open(kv.clone(), GROUPS, FORMAT)?,
            roles: Records::open(kv.clone(), ROLES, FORMAT)?,
            policies: Records::open(kv.clone(), POLICIES, FORMAT)?,
            sessions: Records::open(kv, SESSIONS, FORMAT)?,
            aws_policies: managed::catalog()
                .into_iter()
                .map(|p| (p.arn.clone(), Arc::new(p)))
                .collect(),
            cache: Mutex::new(HashMap::new()),
            generation: std::sync::atomic::AtomicU64::new(0),
            write: Mutex::new(()),
            clock,
        })
    }

    pub fn account(&self) -> &str {
        &self.account
    }

    pub(crate) fn now(&self) -> u64 {
        (self.clock)()
    }

    /// Take the write lock; whatever changes also drops the policy cache.
    /// One change at a time; when it is over (committed or not), the policy
    /// cache is emptied and its generation moves on, so a lookup that read
    /// the old records meanwhile does not put them back.
    fn writing(&self) -> Writing<'_> {
        Writing {
            _lock: self.write.lock().unwrap_or_else(|p| p.into_inner()),
            iam: self,
        }
    }

    pub fn root(&self) -> Principal {
        Principal::Root {
            account: self.account.clone(),
        }
    }

    fn arn(&self, kind: &str, path: &str, name: &str) -> String {
        format!("arn:aws:iam::{}:{kind}{path}{name}", self.account)
    }

    // ---- users ----

    pub fn create_user(&self, new: NewUser) -> Result<Arc<User>> {
        check_name(&new.name, "userName", 64)?;
        let path = check_path(new.path.as_deref())?;
        check_tags(&new.tags)?;
        let _w = self.writing();
        if let Some(b) = &new.boundary {
            self.policy(b)?;
        }
        let user = User {
            format: FORMAT,
            arn: self.arn("user", &path, &new.name),
            name: new.name,
            path,
            id: unique_id("AIDA")?,
            created: self.now(),
            tags: new.tags,
            policies: Policies::default(),
            boundary: new.boundary,
        };
        self.users.insert(user)?.map_err(|u| {
            Error::EntityAlreadyExists(format!("User with name {} already exists.", u.name))
        })
    }

    pub fn user(&self, name: &str) -> Result<Arc<User>> {
        self.users.get(name).ok_or_else(|| {
            Error::NoSuchEntity(format!("The user with name {name} cannot be found."))
        })
    }

    pub fn users(&self, path_prefix: Option<&str>) -> Vec<Arc<User>> {
        let mut all = self.users.all();
        if let Some(p) = path_prefix {
            all.retain(|u| u.path.starts_with(p));
        }
        all
    }

    pub fn delete_user(&self, name: &str) -> Result<()> {
        let _w = self.writing();
        let user = self.user(name)?;
        if self.keys.fold(false, |f, k| f || k.user == name) {
            return Err(Error::DeleteConflict(
                "Cannot delete entity, must delete access keys first.".into(),
            ));
        }
        if !user.policies.inline.is_empty() {
            return Err(Error::DeleteConflict(
                "Cannot delete entity, must delete policies first.".into(),
            ));
        }
        if !user.policies.attached.is_empty() {
            return Err(Error::DeleteConflict(
                "Cannot delete entity, must detach all policies first.".into(),
            ));
        }
        if self
            .groups
            .fold(false, |f, g| f || g.members.iter().any(|m| m == name))
        {
            return Err(Error::DeleteConflict(
                "Cannot delete entity, must remove users from group first.".into(),
            ));
        }
        self.users.delete(name)?;
        Ok(())
    }

    // ---- access keys ----

    /// A new active key of `user` (at most two per user).
    pub fn create_access_key(&self, user: &str) -> Result<Arc<AccessKey>> {
        let _w = self.writing();
        self.user(user)?;
        let count = self.keys.fold(0, |n, k| n + usize::from(k.user == user));
        if count >= limits::ACCESS_KEYS_PER_USER {
            return Err(Error::LimitExceeded(format!(
                "Cannot exceed quota for AccessKeysPerUser: {}",
                limits::ACCESS_KEYS_PER_USER
            )));
        }
        let key = AccessKey {
            format: FORMAT,
            id: key_id("AKIA")?,
            secret: secret()?,
            user: user.to_string(),
            status: KeyStatus::Active,
            created: self.now(),
        };
        Ok(self.keys.put(key)?)
    }

    pub fn access_keys(&self, user: &str) -> Result<Vec<Arc<AccessKey>>> {
        self.user(user)?;
        let mut keys: Vec<_> = self
            .keys
            .all()
            .into_iter()
            .filter(|k| k.user == user)
            .collect();
        keys.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(keys)
    }

    /// The key `id`, if it belongs to `user` (when given).
    pub fn access_key(&self, id: &str, user: Option<&str>) -> Result<Arc<AccessKey>> {
        self.keys
            .get(id)
            .filter(|k| user.is_none_or(|u| k.user == u))
            .ok_or_else(|| {
                Error::NoSuchEntity(format!("The Access Key with id {id} cannot be found"))
            })
    }

    pub fn update_access_key(&self, id: &str, user: Option<&str>, status: KeyStatus) -> Result<()> {
        let _w = self.writing();
        self.access_key(id, user)?;
        self.keys.change(id, |k| {
            k.status = status;
            Ok::<_, Error>(())
        })?;
        Ok(())
    }

    pub fn delete_access_key(&self, id: &str, user: Option<&str>) -> Result<()> {
        let _w = self.writing();
        self.access_key(id, user)?;
        self.keys.delete(id)?;
        Ok(())
    }

    // ---- groups ----

    pub fn create_group(&self, name: &str, path: Option<&str>) -> Result<Arc<Group>> {
        check_name(name, "groupName", 128)?;
        let path = check_path(path)?;
        let _w = self.writing();
        let group = Group {
            format: FORMAT,
            arn: self.arn("group", &path, name),
            name: name.to_string(),
            path,
            id: unique_id("AGPA")?,
            created: self.now(),
            members: Vec::new(),
            policies: Policies::default(),
        };
        self.groups.insert(group)?.map_err(|g| {
            Error::EntityAlreadyExists(format!("Group with name {} already exists.", g.name))
        })
    }

    pub fn group(&self, name: &str) -> Result<Arc<Group>> {
        self.groups.get(name).ok_or_else(|| {
            Error::NoSuchEntity(format!("The group with name {name} cannot be found."))
        })
    }

    pub fn groups(&self, path_prefix: Option<&str>) -> Vec<Arc<Group>> {
        let mut all = self.groups.all();
        if let Some(p) = path_prefix {
            all.retain(|g| g.path.starts_with(p));
        }
        all
    }

    pub fn groups_for_user(&self, user: &str) -> Result<Vec<Arc<Group>>> {
        self.user(user)?;
        Ok(self
            .groups
            .all()
            .into_iter()
            .filter(|g| g.members.iter().any(|m| m == user))
            .collect())
    }

    pub fn delete_group(&self, name: &str) -> Result<()> {
        let _w = self.writing();
        let g = self.group(name)?;
        if !g.members.is_empty() {
            return Err(Error::DeleteConflict(
                "Cannot delete entity, must remove users from group first.".into(),
            ));
        }
        if !g.policies.inline.is_empty() {
            return Err(Error::DeleteConflict(
                "Cannot delete entity, must delete policies first.".into(),
            ));
        }
        if !g.policies.attached.is_empty() {
            return Err(Error::DeleteConflict(
                "Cannot delete entity, must detach all policies first.".into(),
            ));
        }
        self.groups.delete(name)?;
        Ok(())
    }

    pub fn add_user_to_group(&self, group: &str, user: &str) -> Result<()> {
        let _w = self.writing();
        self.group(group)?;
        self.user(user)?;
        let member_of = self.groups.fold(0, |n, g| {
            n + usize::from(g.members.iter().any(|m| m == user))
        });
        self.groups.change(group, |g| {
            if g.members.iter().any(|m| m == user) {
                return Ok(());
            }
            if member_of >= limits::GROUPS_PER_USER {
                return Err(Error::LimitExceeded(format!(
                    "Cannot exceed quota for GroupsPerUser: {}",
                    limits::GROUPS_PER_USER
                )));
            }
            g.members.push(user.to_string());
            Ok(())
        })?;
        Ok(())
    }

    pub fn remove_user_from_group(&self, group: &str, user: &str) -> Result<()> {
        let _w = self.writing();
        self.group(group)?;
        self.user(user)?;
        self.groups.change(group, |g| {
            let before = g.members.len();
            g.members.retain(|m| m != user);
            if g.members.len() == before {
                return Err(Error::NoSuchEntity(format!(
                    "The user with name {user} cannot be found in group {group}."
                )));
            }
            Ok(())
        })?;
        Ok(())
    }

    // ---- roles ----

    pub fn create_role(&self, new: NewRole) -> Result<Arc<Role>> {
        check_name(&new.name, "roleName", 64)?;
        let path = check_path(new.path.as_deref())?;
        check_tags(&new.tags)?;
        let trust = document::decode_document(&new.trust);
        check_policy_document(PolicyKind::Trust, &trust)?;
        let max = new.max_session_secs.unwrap_or(3600);
        check_max_session(max)?;
        if let Some(d) = &new.description
            && d.chars().count() > 1000
        {
            return Err(validation(
                d,
                "description",
                "Member must have length less than or equal to 1000",
            ));
        }
        let _w = self.writing();
        if let Some(b) = &new.boundary {
            self.policy(b)?;
        }
        let role = Role {
            format: FORMAT,
            arn: self.arn("role", &path, &new.name),
            name: new.name,
            path,
            id: unique_id("AROA")?,
            created: self.now(),
            trust,
            description: new.description,
            max_session_secs: max,
            tags: new.tags,
            policies: Policies::default(),
            boundary: new.boundary,
        };
        self.roles.insert(role)?.map_err(|r| {
            Error::EntityAlreadyExists(format!("Role with name {} already exists.", r.name))
        })
    }

    pub fn role(&self, name: &str) -> Result<Arc<Role>> {
        self.roles.get(name).ok_or_else(|| {
            Error::NoSuchEntity(format!("The role with name {name} cannot be found."))
        })
    }

    /// The role an ARN names (`arn:aws:iam::ACCT:role/path/name`) in this account.
    pub fn role_by_arn(&self, arn: &str) -> Option<Arc<Role>> {
        let rest = arn.strip_prefix("arn:aws:iam::")?;
        let (acct, rest) = rest.split_once(":role/")?;
        if acct != self.account {
            return None;
        }
        let name = rest.rsplit('/').next()?;
        self.roles.get(name).filter(|r| r.arn == arn)
    }

    pub fn roles(&self, path_prefix: Option<&str>) -> Vec<Arc<Role>> {
        let mut all = self.roles.all();
        if let Some(p) = path_prefix {
            all.retain(|r| r.path.starts_with(p));
        }
        all
    }

    pub fn update_role(&self, name: &str, update: RoleUpdate) -> Result<Arc<Role>> {
        if let Some(m) = update.max_session_secs {
            check_max_session(m)?;
        }
        let _w = self.writing();
        self.role(name)?;
        let (r, ()) = self
            .roles
            .change(name, |r| {
                if let Some(d) = update.description {
                    r.description = Some(d);
                }
                if let Some(m) = update.max_session_secs {
                    r.max_session_secs = m;
                }
                Ok::<_, Error>(())
            })?
            .ok_or_else(|| {
                Error::NoSuchEntity(format!("The role with name {name} cannot be found."))
            })?;
        Ok(r)
    }

    pub fn update_trust(&self, name: &str, trust: &str) -> Result<()> {
        let trust = document::decode_document(trust);
        check_policy_document(PolicyKind::Trust, &trust)?;
        let _w = self.writing();
        self.role(name)?;
        self.roles.change(name, |r| {
            r.trust = trust;
            Ok::<_, Error>(())
        })?;
        Ok(())
    }

    pub fn delete_role(&self, name: &str) -> Result<()> {
        let _w = self.writing();
        let r = self.role(name)?;
        if !r.policies.attached.is_empty() {
            return Err(Error::DeleteConflict(
                "Cannot delete entity, must detach all policies first.".into(),
            ));
        }
        if !r.policies.inline.is_empty() {
            return Err(Error::DeleteConflict(
                "Cannot delete entity, must delete policies first.".into(),
            ));
        }
        self.roles.delete(name)?;
        Ok(())
    }

    pub fn tag_role(&self, name: &str, tags: &[Tag]) -> Result<()> {
        check_tags(tags)?;
        let _w = self.writing();
        self.role(name)?;
        retag(&self.roles, name, |t| add_tags(t, tags))
    }

    pub fn untag_role(&self, name: &str, keys: &[String]) -> Result<()> {
        let _w = self.writing();
        self.role(name)?;
        retag(&self.roles, name, |t| remove_tags(t, keys))
    }

    pub fn tag_user(&self, name: &str, tags: &[Tag]) -> Result<()> {
        check_tags(tags)?;
        let _w = self.writing();
        self.user(name)?;
        retag(&self.users, name, |t| add_tags(t, tags))
    }

    pub fn untag_user(&self, name: &str, keys: &[String]) -> Result<()> {
        let _w = self.writing();
        self.user(name)?;
        retag(&self.users, name, |t| remove_tags(t, keys))
    }
}

fn check_max_session(secs: u32) -> Result<()> {
    if !(3600..=limits::MAX_SESSION_SECS).contains(&secs) {
        return Err(validation(
            &secs.to_string(),
            "maxSessionDuration",
            "Member must have value between 3600 and 43200",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
