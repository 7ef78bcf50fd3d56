//! IAM's operations as IAM actions (`iam:<Operation>`) on the user, role,
//! group or policy they name (`arn:aws:iam::ACCT:role/NAME`), or `*` for
//! listings of the account.

use crate::Operation;
use nimbus_api_common::Caller;
use nimbus_api_common::authz::{Access, Scope};
use nimbus_api_common::query::Form;

/// What `op` with its `form` asks of IAM. An operation on users that names
/// none (`GetUser`, `CreateAccessKey`, ...) is on the calling user.
pub fn access(op: Operation, form: &Form, caller: Option<&Caller>, scope: &Scope) -> Vec<Access> {
    let action = format!("iam:{}", op.name());
    let iam = |kind: &str, name: &str| format!("arn:aws:iam::{}:{kind}/{name}", scope.account);
    let resource = if let Some(arn) = form.get("PolicyArn").or(form.get("PolicySourceArn")) {
        arn.to_string()
    } else if let Some(role) = form.get("RoleName") {
        iam("role", role)
    } else if let Some(group) = form.get("GroupName") {
        iam("group", group)
    } else if let Some(user) = form.get("UserName") {
        iam("user", user)
    } else if let Some(me) = caller.filter(|c| c.arn.contains(":user/") && user_operation(op)) {
        me.arn.clone()
    } else {
        "*".to_string()
    };
    vec![Access::new(action, resource)]
}

/// Operations on one user that default to the caller.
fn user_operation(op: Operation) -> bool {
    matches!(
        op,
        Operation::GetUser
            | Operation::CreateAccessKey
            | Operation::ListAccessKeys
            | Operation::UpdateAccessKey
            | Operation::DeleteAccessKey
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_name_their_entity() {
        let s = Scope::new("000000000000", "us-east-1");
        let form = Form::new(
            "Action=AttachRolePolicy&RoleName=app&PolicyArn=arn%3Aaws%3Aiam%3A%3Aaws%3Apolicy%2FReadOnlyAccess",
            b"",
        );
        assert_eq!(
            access(Operation::AttachRolePolicy, &form, None, &s),
            [Access::new(
                "iam:AttachRolePolicy",
                "arn:aws:iam::aws:policy/ReadOnlyAccess"
            )]
        );
        let form = Form::new("Action=CreateUser&UserName=alice", b"");
        assert_eq!(
            access(Operation::CreateUser, &form, None, &s)[0].resource,
            "arn:aws:iam::000000000000:user/alice"
        );
        let form = Form::new("Action=ListRoles", b"");
        assert_eq!(
            access(Operation::ListRoles, &form, None, &s)[0].resource,
            "*"
        );
        let me = Caller {
            arn: "arn:aws:iam::000000000000:user/dev/alice".into(),
            account: "000000000000".into(),
            user_id: "AIDA1".into(),
            access_key_id: "AKIA1".into(),
        };
        let form = Form::new("Action=GetUser", b"");
        assert_eq!(
            access(Operation::GetUser, &form, Some(&me), &s)[0].resource,
            me.arn
        );
    }
}
