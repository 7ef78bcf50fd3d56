//! IAM's operations as IAM actions (`iam:<Operation>`) on the entity each
//! operation acts on, as IAM's authorization reference names it: a user's,
//! group's or role's ARN (with its path), a managed policy's ARN, or `*` for
//! listings of the account. The entity is the one the operation's handler
//! uses (`AttachUserPolicy` is on the user, not the policy), never whichever
//! member a request happens to carry.

use crate::Operation;
use nimbus_api_common::Caller;
use nimbus_api_common::authz::{Access, Scope};
use nimbus_api_common::query::Form;
use nimbus_iam::Iam;

/// What an operation is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    User,
    Group,
    Role,
    Policy,
    /// The policy a simulation reads.
    Source,
    Account,
}

fn target(op: Operation) -> Target {
    let name = op.name();
    match name {
        "ListUsers" | "ListGroups" | "ListRoles" | "ListPolicies" | "SimulateCustomPolicy" => {
            Target::Account
        }
        "SimulatePrincipalPolicy" => Target::Source,
        "ListGroupsForUser" => Target::User,
        _ if name.contains("Role") => Target::Role,
        _ if name.contains("Group") => Target::Group,
        _ if name.contains("User") || name.contains("AccessKey") => Target::User,
        _ if name.contains("Polic") => Target::Policy,
        _ => Target::Account,
    }
}

/// An entity's ARN: the stored one (with its path), or for one not made yet
/// the one the request's `Path` gives it.
fn entity_arn(
    kind: &str,
    name: &str,
    stored: Option<String>,
    form: &Form,
    scope: &Scope,
) -> String {
    stored.unwrap_or_else(|| {
        let path = form.get("Path").unwrap_or("/");
        format!("arn:aws:iam::{}:{kind}{path}{name}", scope.account)
    })
}

/// What `op` with its `form` asks of IAM. An operation on users that names
/// none (`GetUser`, `CreateAccessKey`, ...) is on the calling user.
pub fn access(
    op: Operation,
    form: &Form,
    caller: Option<&Caller>,
    iam: &Iam,
    scope: &Scope,
) -> Vec<Access> {
    let action = format!("iam:{}", op.name());
    let resource = match target(op) {
        Target::Account => None,
        Target::Source => form.get("PolicySourceArn").map(String::from),
        Target::Policy => match (form.get("PolicyArn"), form.get("PolicyName")) {
            (Some(arn), _) => Some(arn.to_string()),
            (None, Some(name)) => {
                let path = form.get("Path").unwrap_or("/");
                Some(format!("arn:aws:iam::{}:policy{path}{name}", scope.account))
            }
            (None, None) => None,
        },
        Target::Role => form.get("RoleName").map(|n| {
            entity_arn(
                "role",
                n,
                iam.role(n).ok().map(|r| r.arn.clone()),
                form,
                scope,
            )
        }),
        Target::Group => form.get("GroupName").map(|n| {
            entity_arn(
                "group",
                n,
                iam.group(n).ok().map(|g| g.arn.clone()),
                form,
                scope,
            )
        }),
        Target::User => match form.get("UserName") {
            Some(n) => Some(entity_arn(
                "user",
                n,
                iam.user(n).ok().map(|u| u.arn.clone()),
                form,
                scope,
            )),
            None => caller
                .filter(|c| c.arn.contains(":user/"))
                .map(|c| c.arn.clone()),
        },
    };
    let mut access = vec![Access::new(action, resource.unwrap_or_else(|| "*".into()))];
    // The tags a request sets or removes are condition keys of its own.
    use Operation::*;
    match op {
        CreateUser | TagUser | CreateRole | TagRole | CreatePolicy => {
            let tags: Vec<(String, String)> = form
                .members("Tags")
                .iter()
                .filter_map(|m| {
                    let field =
                        |f: &str| m.iter().find(|(k, _)| *k == f).map(|(_, v)| v.to_string());
                    Some((field("Key")?, field("Value").unwrap_or_default()))
                })
                .collect();
            nimbus_api_common::authz::request_tags(&mut access, &tags);
        }
        UntagUser | UntagRole => {
            nimbus_api_common::authz::removed_tag_keys(&mut access, &form.list("TagKeys"));
        }
        _ => {}
    }
    access
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_act_on_the_entity_their_handler_uses() {
        assert_eq!(target(Operation::AttachUserPolicy), Target::User);
        assert_eq!(target(Operation::AttachRolePolicy), Target::Role);
        assert_eq!(target(Operation::PutGroupPolicy), Target::Group);
        assert_eq!(target(Operation::AddUserToGroup), Target::Group);
        assert_eq!(target(Operation::ListGroupsForUser), Target::User);
        assert_eq!(target(Operation::CreateAccessKey), Target::User);
        assert_eq!(target(Operation::CreatePolicyVersion), Target::Policy);
        assert_eq!(target(Operation::ListEntitiesForPolicy), Target::Policy);
        assert_eq!(target(Operation::PutRolePermissionsBoundary), Target::Role);
        assert_eq!(target(Operation::ListRoles), Target::Account);
        assert_eq!(target(Operation::SimulatePrincipalPolicy), Target::Source);
    }
}
