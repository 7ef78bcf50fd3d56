//! Execution roles from the identity service: the functions service's
//! [`ExecutionRoles`] seam, answered by IAM (a role Lambda may assume exists
//! and trusts `lambda.amazonaws.com`; each environment gets a session of it).

use nimbus_functions::roles::{ExecutionRoles, RoleCredentials, RoleError};
use nimbus_iam::{Error, Iam};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// How long an environment's role session lasts (IAM caps it at the role's
/// `MaxSessionDuration`; the functions service retires environments before).
const SESSION_SECS: u32 = 12 * 3600;

/// A session is shared by the environments of one function started while
/// it has at least this long to run (each new one would otherwise write a
/// durable session on every cold start); an environment is retired 15
/// minutes before its credentials end, so each still serves 15 minutes.
const SHARE_WHILE_MS: u64 = 30 * 60 * 1000;

/// Sessions kept for reuse at most (then the cache starts over).
const KEPT: usize = 4096;

pub struct IamRoles {
    iam: Arc<Iam>,
    /// By (role id, function): the latest session made.
    sessions: Mutex<HashMap<(String, String), RoleCredentials>>,
}

impl IamRoles {
    pub fn new(iam: Arc<Iam>) -> IamRoles {
        IamRoles {
            iam,
            sessions: Mutex::new(HashMap::new()),
        }
    }
}

fn role_error(e: Error) -> RoleError {
    match e {
        Error::NoSuchEntity(m) | Error::AccessDenied(m) | Error::InvalidInput(m) => {
            RoleError::NotAssumable(m)
        }
        other => RoleError::Unavailable(other.to_string()),
    }
}

impl ExecutionRoles for IamRoles {
    fn check(&self, role_arn: &str) -> Result<(), RoleError> {
        let role = self.iam.role_by_arn(role_arn).ok_or_else(|| {
            RoleError::NotAssumable(format!("The role with ARN {role_arn} cannot be found."))
        })?;
        let lambda = nimbus_iam::Principal::Service("lambda.amazonaws.com".into());
        if nimbus_iam::trust::trust_allows(&role.trust, &lambda, None) {
            Ok(())
        } else {
            Err(RoleError::NotAssumable(format!(
                "The trust policy of {role_arn} does not let lambda.amazonaws.com assume it."
            )))
        }
    }

    fn credentials(&self, role_arn: &str, function: &str) -> Result<RoleCredentials, RoleError> {
        // A role made again under the same name is another role: its id
        // keys the shared session.
        let role_id = self
            .iam
            .role_by_arn(role_arn)
            .map(|r| r.id.clone())
            .unwrap_or_default();
        let key = (role_id, function.to_string());
        let now = nimbus_model::time::now_millis();
        let shared = self
            .sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .filter(|c| c.expires_ms.saturating_sub(now) > SHARE_WHILE_MS)
            .cloned();
        if let Some(c) = shared
            && self.iam.resolve_access_key(&c.access_key_id).is_some()
        {
            return Ok(c);
        }
        let fresh = self.new_session(role_arn, function)?;
        let mut kept = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        if kept.len() >= KEPT {
            kept.clear();
        }
        kept.insert(key, fresh.clone());
        Ok(fresh)
    }
}

impl IamRoles {
    fn new_session(&self, role_arn: &str, function: &str) -> Result<RoleCredentials, RoleError> {
        // Session names are 2 to 64 characters; a function's name may be one.
        let session = if function.len() < 2 {
            format!("{function}_")
        } else {
            function.to_string()
        };
        let c = self
            .iam
            .session_for_role(role_arn, &session, SESSION_SECS)
            .map_err(role_error)?;
        Ok(RoleCredentials {
            access_key_id: c.access_key_id,
            secret_access_key: c.secret_access_key,
            session_token: c.session_token,
            expires_ms: c.expiration,
        })
    }
}
