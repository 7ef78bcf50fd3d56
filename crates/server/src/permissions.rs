//! What triggers may do, answered by the enforcer: the invoke crate's
//! [`Permissions`] seam over IAM's policies (a role's identity policies for
//! a role, the target resource's policy for a service principal).

use nimbus_api_common::authz::Access;
use nimbus_api_iam::enforce::Enforcer;
use nimbus_invoke::permissions::{Acting, NotPermitted, Permissions};
use std::sync::Arc;

pub struct EnforcedPermissions(pub Arc<Enforcer>);

impl Permissions for EnforcedPermissions {
    fn check(&self, acting: Acting<'_>, action: &str, resource: &str) -> Result<(), NotPermitted> {
        let access = [Access::new(action, resource)];
        let decided = match acting {
            Acting::Role { role_arn, session } => self.0.check_role(role_arn, session, &access),
            Acting::Service {
                service,
                source_arn,
                source_account,
            } => self
                .0
                .check_service(service, source_arn, source_account, &access),
        };
        decided.map_err(|d| NotPermitted(d.message))
    }
}
