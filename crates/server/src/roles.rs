//! Execution roles from the identity service: the functions service's
//! [`ExecutionRoles`] seam, answered by IAM (a role Lambda may assume exists
//! and trusts `lambda.amazonaws.com`; each environment gets a session of it).

use nimbus_functions::roles::{ExecutionRoles, RoleCredentials, RoleError};
use nimbus_iam::{Error, Iam};
use std::sync::Arc;

/// How long an environment's role session lasts (IAM caps it at the role's
/// `MaxSessionDuration`; the functions service retires environments before).
const SESSION_SECS: u32 = 12 * 3600;

pub struct IamRoles(pub Arc<Iam>);

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
        let role = self.0.role_by_arn(role_arn).ok_or_else(|| {
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
        // Session names are 2 to 64 characters; a function's name may be one.
        let session = if function.len() < 2 {
            format!("{function}_")
        } else {
            function.to_string()
        };
        let c = self
            .0
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
