//! CloudFormation's operations as IAM actions (`cloudformation:<Operation>`)
//! on the stack they name, `arn:aws:cloudformation:REGION:ACCOUNT:stack/NAME/*`
//! (or the stack id when the request gives one), as CloudFormation's
//! authorization reference names it; listings and template checks are on `*`.
//! The resources a stack makes are authorized one by one, as the caller,
//! when the deployer makes them.

use crate::Operation;
use nimbus_api_common::authz::{Access, Scope};
use nimbus_api_common::query::Form;

/// What `op` with its `form` asks of IAM.
pub fn access(op: Operation, form: &Form, scope: &Scope) -> Vec<Access> {
    let action = format!("cloudformation:{}", op.name());
    let stack = match op {
        Operation::ValidateTemplate | Operation::ListStacks | Operation::ListExports => None,
        _ => form.get("StackName"),
    };
    let resource = match stack {
        Some(id) if id.starts_with("arn:") => id.to_string(),
        Some(name) => scope.arn("cloudformation", &format!("stack/{name}/*")),
        None => "*".to_string(),
    };
    let mut access = vec![Access::new(action, resource)];
    if op == Operation::CreateStack {
        let tags: Vec<(String, String)> = crate::operations::tags(form);
        nimbus_api_common::authz::request_tags(&mut access, &tags);
    }
    access
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_operations_are_on_the_stack() {
        let scope = Scope::new("123456789012", "us-east-1");
        let form = Form::new("", b"StackName=app");
        let a = access(Operation::CreateStack, &form, &scope);
        assert_eq!(a[0].action, "cloudformation:CreateStack");
        assert_eq!(
            a[0].resource,
            "arn:aws:cloudformation:us-east-1:123456789012:stack/app/*"
        );
        let a = access(Operation::ListStacks, &form, &scope);
        assert_eq!(a[0].resource, "*");
        let form = Form::new(
            "",
            b"StackName=arn%3Aaws%3Acloudformation%3Aus-east-1%3A1%3Astack%2Fa%2Fu",
        );
        let a = access(Operation::DescribeStacks, &form, &scope);
        assert_eq!(
            a[0].resource,
            "arn:aws:cloudformation:us-east-1:1:stack/a/u"
        );
    }
}
