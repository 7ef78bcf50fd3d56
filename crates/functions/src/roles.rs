//! Execution roles: what a function's code runs as. Each environment gets
//! short-lived credentials of its function's role (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), so the calls it makes are
//! authorized against that role's policies; an environment whose credentials
//! near their end is retired and the next invocation starts a fresh one.
//! `CreateFunction` refuses a role Lambda cannot assume.
//!
//! The platform's identity service implements [`ExecutionRoles`]; without one
//! (`--iam off`) environments get the platform's own key, as before.

use std::time::Duration;

/// Credentials of a role session.
#[derive(Clone, PartialEq, Eq)]
pub struct RoleCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    /// When they stop working (epoch ms).
    pub expires_ms: u64,
}

impl std::fmt::Debug for RoleCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret and the token never reach a log.
        f.debug_struct("RoleCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("expires_ms", &self.expires_ms)
            .finish_non_exhaustive()
    }
}

/// Why a role cannot run a function.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoleError {
    /// The role does not exist or does not trust `lambda.amazonaws.com`.
    #[error("{0}")]
    NotAssumable(String),
    /// The identity service failed.
    #[error("{0}")]
    Unavailable(String),
}

/// Lambda's message for a role it cannot assume.
pub const NOT_ASSUMABLE: &str = "The role defined for the function cannot be assumed by Lambda.";

/// What issues execution-role credentials.
pub trait ExecutionRoles: Send + Sync {
    /// Whether Lambda may assume `role_arn`.
    fn check(&self, role_arn: &str) -> Result<(), RoleError>;
    /// Credentials of `role_arn` for one environment of `function` (the
    /// session is named after the function, as Lambda names it).
    fn credentials(&self, role_arn: &str, function: &str) -> Result<RoleCredentials, RoleError>;
}

/// How long before their end an environment's credentials count as used up:
/// the environment is retired instead of running another invocation, which
/// could outlast them.
pub const RETIRE_BEFORE_EXPIRY: Duration = Duration::from_secs(15 * 60);

/// Whether credentials ending at `expires_ms` still serve an invocation
/// starting at `now_ms`.
pub fn still_fresh(expires_ms: u64, now_ms: u64) -> bool {
    expires_ms.saturating_sub(now_ms) > RETIRE_BEFORE_EXPIRY.as_millis() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_retire_before_they_expire_and_hide_their_secret() {
        let hour = 3_600_000;
        assert!(still_fresh(10 * hour, 9 * hour));
        assert!(!still_fresh(10 * hour, 10 * hour - 60_000));
        assert!(!still_fresh(10 * hour, 11 * hour));
        let c = RoleCredentials {
            access_key_id: "ASIA1".into(),
            secret_access_key: "s3cr3t".into(),
            session_token: "t0k3n".into(),
            expires_ms: 1,
        };
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("s3cr3t") && !shown.contains("t0k3n"),
            "{shown}"
        );
    }
}
