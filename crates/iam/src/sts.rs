//! STS: temporary credentials. `AssumeRole` (trust policy checked through
//! [`crate::trust_allows`]), `GetSessionToken`, and the platform's own
//! [`Iam::session_for_role`] for execution environments. Sessions are
//! records (`sts_sessions`), so they survive restarts; expired ones are kept
//! a day (so a late request hears `ExpiredToken`, not "unknown key") and
//! purged when new sessions are made.

use crate::{
    Error, Iam, NamedDocument, PolicyKind, Principal, Result, check_policy_document, document,
    key_id, random_from, secret, trust_allows,
};
use serde::{Deserialize, Serialize};

/// How long an expired session is still recognized.
const KEEP_EXPIRED_MILLIS: u64 = 24 * 3600 * 1000;

/// A temporary session, stored under its access key id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub format: u32,
    /// `ASIA...`.
    pub access_key_id: String,
    pub secret: String,
    pub token: String,
    pub created: u64,
    /// Epoch milliseconds.
    pub expires: u64,
    pub principal: Principal,
    /// The inline session policy, if one was passed.
    pub policy: Option<String>,
    pub policy_arns: Vec<String>,
}

/// What `AssumeRole` is asked.
#[derive(Debug, Clone, Default)]
pub struct AssumeRoleInput {
    pub role_arn: String,
    pub session_name: String,
    pub duration_secs: Option<u32>,
    pub external_id: Option<String>,
    pub policy: Option<String>,
    pub policy_arns: Vec<String>,
}

/// Credentials of a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemporaryCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    /// Epoch milliseconds.
    pub expiration: u64,
}

/// `AssumeRole`'s answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssumedRole {
    pub credentials: TemporaryCredentials,
    /// `arn:aws:sts::ACCT:assumed-role/ROLE/SESSION`.
    pub arn: String,
    /// `AROA...:SESSION`.
    pub assumed_role_id: String,
    /// Percentage of the session policy quota used, when policies were passed.
    pub packed_policy_size: Option<u32>,
}

// Principal is stored in sessions: give it a serde form here, with the record.
impl Serialize for Principal {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        StoredPrincipal::from(self.clone()).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Principal {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        StoredPrincipal::deserialize(d).map(Principal::from)
    }
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "kind")]
enum StoredPrincipal {
    Root {
        account: String,
    },
    User {
        arn: String,
        name: String,
        id: String,
        account: String,
    },
    AssumedRole {
        arn: String,
        role_arn: String,
        role_name: String,
        role_id: String,
        session_name: String,
        account: String,
    },
    Service {
        name: String,
    },
}

impl From<Principal> for StoredPrincipal {
    fn from(p: Principal) -> Self {
        match p {
            Principal::Root { account } => StoredPrincipal::Root { account },
            Principal::User {
                arn,
                name,
                id,
                account,
            } => StoredPrincipal::User {
                arn,
                name,
                id,
                account,
            },
            Principal::AssumedRole {
                arn,
                role_arn,
                role_name,
                role_id,
                session_name,
                account,
            } => StoredPrincipal::AssumedRole {
                arn,
                role_arn,
                role_name,
                role_id,
                session_name,
                account,
            },
            Principal::Service(name) => StoredPrincipal::Service { name },
        }
    }
}

impl From<StoredPrincipal> for Principal {
    fn from(p: StoredPrincipal) -> Self {
        match p {
            StoredPrincipal::Root { account } => Principal::Root { account },
            StoredPrincipal::User {
                arn,
                name,
                id,
                account,
            } => Principal::User {
                arn,
                name,
                id,
                account,
            },
            StoredPrincipal::AssumedRole {
                arn,
                role_arn,
                role_name,
                role_id,
                session_name,
                account,
            } => Principal::AssumedRole {
                arn,
                role_arn,
                role_name,
                role_id,
                session_name,
                account,
            },
            StoredPrincipal::Service { name } => Principal::Service(name),
        }
    }
}

/// `RoleSessionName`: 2 to 64 of `[\w+=,.@-]`.
pub fn check_session_name(name: &str) -> Result<()> {
    let ok = (2..=64).contains(&name.chars().count())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::Validation(format!(
            "1 validation error detected: Value '{name}' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]* and have length between 2 and 64"
        )))
    }
}

fn session_token() -> Result<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    Ok(format!("IQoJb3JpZ2luX2VjE{}", random_from(ALPHABET, 300)?))
}

impl Iam {
    /// `AssumeRole`: `caller` asks for a session of the role.
    pub fn assume_role(&self, caller: &Principal, input: AssumeRoleInput) -> Result<AssumedRole> {
        check_session_name(&input.session_name)?;
        let denied = || {
            Error::AccessDenied(format!(
                "User: {} is not authorized to perform: sts:AssumeRole on resource: {}",
                caller.arn(),
                input.role_arn
            ))
        };
        if input.role_arn.len() < 20 || !input.role_arn.starts_with("arn:") {
            return Err(Error::Validation(format!("{} is invalid", input.role_arn)));
        }
        let role = self.role_by_arn(&input.role_arn).ok_or_else(denied)?;
        if !trust_allows(&role.trust, caller, input.external_id.as_deref()) {
            return Err(denied());
        }
        // Role chaining limits a session to one hour.
        let max = if matches!(caller, Principal::AssumedRole { .. }) {
            3600
        } else {
            role.max_session_secs
        };
        let duration = input.duration_secs.unwrap_or(3600);
        if duration < 900 {
            return Err(Error::Validation(format!(
                "1 validation error detected: Value '{duration}' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900"
            )));
        }
        if duration > max {
            return Err(Error::Validation(format!(
                "The requested DurationSeconds exceeds the {} set for this role.",
                if max == 3600 && matches!(caller, Principal::AssumedRole { .. }) {
                    "1 hour session limit for roles assumed by role chaining"
                } else {
                    "MaxSessionDuration"
                }
            )));
        }
        let (policy, packed) =
            self.session_policies(input.policy.as_deref(), &input.policy_arns)?;
        let principal = Principal::AssumedRole {
            arn: format!(
                "arn:aws:sts::{}:assumed-role/{}/{}",
                self.account, role.name, input.session_name
            ),
            role_arn: role.arn.clone(),
            role_name: role.name.clone(),
            role_id: role.id.clone(),
            session_name: input.session_name.clone(),
            account: self.account.clone(),
        };
        let credentials = self.new_session(principal, duration, policy, input.policy_arns)?;
        Ok(AssumedRole {
            credentials,
            arn: format!(
                "arn:aws:sts::{}:assumed-role/{}/{}",
                self.account, role.name, input.session_name
            ),
            assumed_role_id: format!("{}:{}", role.id, input.session_name),
            packed_policy_size: packed,
        })
    }

    /// Check a session policy and policy ARNs; the packed size in percent.
    fn session_policies(
        &self,
        policy: Option<&str>,
        arns: &[String],
    ) -> Result<(Option<String>, Option<u32>)> {
        if arns.len() > 10 {
            return Err(Error::Validation(
                "1 validation error detected: Value at 'policyArns' failed to satisfy constraint: Member must have length less than or equal to 10".into(),
            ));
        }
        for arn in arns {
            self.policy(arn)?;
        }
        let policy = policy.map(document::decode_document);
        if let Some(p) = &policy {
            check_policy_document(PolicyKind::Session, p)?;
        }
        let packed = (policy.is_some() || !arns.is_empty()).then(|| {
            let size = policy.as_deref().map_or(0, document::counted_size) + 64 * arns.len();
            u32::try_from(size * 100 / PolicyKind::Session.max_chars()).unwrap_or(u32::MAX)
        });
        Ok((policy, packed))
    }

    /// `GetSessionToken`: a session of a user or the root, with their own
    /// permissions; 900 s to 36 hours (one hour for the root), 12 by default.
    pub fn get_session_token(
        &self,
        caller: &Principal,
        duration_secs: Option<u32>,
    ) -> Result<TemporaryCredentials> {
        let max = match caller {
            Principal::Root { .. } => 3600,
            Principal::User { .. } => 129_600,
            Principal::AssumedRole { .. } | Principal::Service(_) => {
                return Err(Error::AccessDenied(
                    "Cannot call GetSessionToken with session credentials".into(),
                ));
            }
        };
        let duration = duration_secs.unwrap_or(43_200).min(max);
        if duration_secs.is_some_and(|d| !(900..=129_600).contains(&d)) {
            return Err(Error::Validation(format!(
                "1 validation error detected: Value '{}' at 'durationSeconds' failed to satisfy constraint: Member must have value between 900 and 129600",
                duration_secs.unwrap_or_default()
            )));
        }
        self.new_session(caller.clone(), duration, None, Vec::new())
    }

    /// Credentials of `role_arn` for an execution environment: the platform
    /// acts as `lambda.amazonaws.com`, which the role must trust.
    pub fn session_for_role(
        &self,
        role_arn: &str,
        session_name: &str,
        duration_secs: u32,
    ) -> Result<TemporaryCredentials> {
        check_session_name(session_name)?;
        let role = self.role_by_arn(role_arn).ok_or_else(|| {
            Error::NoSuchEntity(format!("The role with ARN {role_arn} cannot be found."))
        })?;
        let lambda = Principal::Service("lambda.amazonaws.com".into());
        if !trust_allows(&role.trust, &lambda, None) {
            return Err(Error::AccessDenied(format!(
                "The role {role_arn} cannot be assumed by Lambda: its trust policy does not allow lambda.amazonaws.com to call sts:AssumeRole."
            )));
        }
        let principal = Principal::AssumedRole {
            arn: format!(
                "arn:aws:sts::{}:assumed-role/{}/{session_name}",
                self.account, role.name
            ),
            role_arn: role.arn.clone(),
            role_name: role.name.clone(),
            role_id: role.id.clone(),
            session_name: session_name.to_string(),
            account: self.account.clone(),
        };
        self.new_session(
            principal,
            duration_secs.clamp(900, role.max_session_secs),
            None,
            Vec::new(),
        )
    }

    fn new_session(
        &self,
        principal: Principal,
        duration_secs: u32,
        policy: Option<String>,
        policy_arns: Vec<String>,
    ) -> Result<TemporaryCredentials> {
        self.purge_expired()?;
        let now = self.now();
        let session = Session {
            format: crate::FORMAT,
            access_key_id: key_id("ASIA")?,
            secret: secret()?,
            token: session_token()?,
            created: now,
            expires: now + u64::from(duration_secs) * 1000,
            principal,
            policy,
            policy_arns,
        };
        let s = self.sessions.put(session)?;
        Ok(TemporaryCredentials {
            access_key_id: s.access_key_id.clone(),
            secret_access_key: s.secret.clone(),
            session_token: s.token.clone(),
            expiration: s.expires,
        })
    }

    /// Drop sessions that expired more than a day ago.
    fn purge_expired(&self) -> Result<()> {
        let now = self.now();
        let stale: Vec<String> = self.sessions.fold(Vec::new(), |mut v, s| {
            if s.expires + KEEP_EXPIRED_MILLIS < now {
                v.push(s.access_key_id.clone());
            }
            v
        });
        for id in stale {
            self.sessions.delete(&id)?;
        }
        Ok(())
    }

    /// Sessions on record (expired ones included until purged).
    pub fn session_count(&self) -> usize {
        self.sessions.fold(0, |n, _| n + 1)
    }

    /// The session policies a temporary key carries (for enforcement).
    pub fn session_documents(&self, access_key_id: &str) -> Vec<NamedDocument> {
        self.resolve_access_key(access_key_id)
            .and_then(|o| o.session)
            .map(|s| s.policies)
            .unwrap_or_default()
    }
}
