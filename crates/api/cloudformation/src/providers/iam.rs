//! `AWS::IAM::Role`, `AWS::IAM::Policy` and `AWS::IAM::ManagedPolicy`
//! through IAM's query API. A role's `Ref` is its name (`Arn`, `RoleId`);
//! an inline policy's is a generated id; a managed policy's its ARN.

use super::{Created, Ctx, required, string};
use nimbus_api_common::xml::Element;
use serde_json::{Map, Value};

type Form = Vec<(String, String)>;

fn form(action: &str, members: &[(&str, String)]) -> Form {
    let mut f = vec![
        ("Action".to_string(), action.to_string()),
        ("Version".to_string(), "2010-05-08".to_string()),
    ];
    f.extend(members.iter().map(|(k, v)| (k.to_string(), v.clone())));
    f
}

/// A policy document as IAM takes it: JSON text.
fn document(v: Option<&Value>) -> Result<String, String> {
    match v {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(v @ Value::Object(_)) => Ok(v.to_string()),
        _ => Err(
            "Properties validation failed for resource: required key [PolicyDocument] not found"
                .into(),
        ),
    }
}

fn names(props: &Map<String, Value>, key: &str) -> Vec<String> {
    props
        .get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

fn texts(e: &Element, list: &str, field: Option<&str>) -> Vec<String> {
    e.child(list)
        .map(|l| {
            l.children_named("member")
                .map(|m| match field {
                    Some(f) => m.child_text(f).unwrap_or_default().to_string(),
                    None => m.text.clone(),
                })
                .collect()
        })
        .unwrap_or_default()
}

pub(super) async fn create_role(ctx: &Ctx, props: &Map<String, Value>) -> Result<Created, String> {
    let name = string(props, "RoleName").unwrap_or_else(|| ctx.generated_name(64));
    let trust = document(props.get("AssumeRolePolicyDocument"))
        .map_err(|_| "Properties validation failed for resource: required key [AssumeRolePolicyDocument] not found".to_string())?;
    let mut members = vec![
        ("RoleName", name.clone()),
        ("AssumeRolePolicyDocument", trust),
    ];
    for k in [
        "Path",
        "Description",
        "MaxSessionDuration",
        "PermissionsBoundary",
    ] {
        if let Some(v) = string(props, k) {
            members.push((k, v));
        }
    }
    let made = ctx.query("iam", &form("CreateRole", &members)).await?;
    let role = made.child("Role").cloned().unwrap_or_default();
    let created = Created::named(name.clone())
        .with("Arn", role.child_text("Arn").unwrap_or_default())
        .with("RoleId", role.child_text("RoleId").unwrap_or_default());
    for p in props
        .get("Policies")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let policy_name = p
            .get("PolicyName")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let doc = document(p.get("PolicyDocument"))?;
        let f = form(
            "PutRolePolicy",
            &[
                ("RoleName", name.clone()),
                ("PolicyName", policy_name.to_string()),
                ("PolicyDocument", doc),
            ],
        );
        ctx.query("iam", &f).await?;
    }
    for arn in names(props, "ManagedPolicyArns") {
        let f = form(
            "AttachRolePolicy",
            &[("RoleName", name.clone()), ("PolicyArn", arn)],
        );
        ctx.query("iam", &f).await?;
    }
    Ok(created)
}

/// The inline policies of a role's properties: name and document.
fn inline_policies(props: &Map<String, Value>) -> Result<Vec<(String, String)>, String> {
    props
        .get("Policies")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|p| {
            let name = p
                .get("PolicyName")
                .and_then(Value::as_str)
                .unwrap_or_default();
            Ok((name.to_string(), document(p.get("PolicyDocument"))?))
        })
        .collect()
}

/// Update a role in place: its trust policy, description and session
/// length, the inline policies put and deleted, the managed policies
/// attached and detached as the template now says.
pub(super) async fn update_role(
    ctx: &Ctx,
    name: &str,
    old: &Map<String, Value>,
    new: &Map<String, Value>,
) -> Result<(), String> {
    let role = || ("RoleName", name.to_string());
    if old.get("AssumeRolePolicyDocument") != new.get("AssumeRolePolicyDocument") {
        let trust = document(new.get("AssumeRolePolicyDocument"))?;
        let f = form(
            "UpdateAssumeRolePolicy",
            &[role(), ("PolicyDocument", trust)],
        );
        ctx.query("iam", &f).await?;
    }
    if old.get("Description") != new.get("Description")
        || old.get("MaxSessionDuration") != new.get("MaxSessionDuration")
    {
        let mut members = vec![role()];
        members.push((
            "Description",
            string(new, "Description").unwrap_or_default(),
        ));
        if let Some(d) = string(new, "MaxSessionDuration") {
            members.push(("MaxSessionDuration", d));
        }
        ctx.query("iam", &form("UpdateRole", &members)).await?;
    }
    let (was, now) = (inline_policies(old)?, inline_policies(new)?);
    for (policy, doc) in &now {
        if !was.iter().any(|(n, d)| n == policy && d == doc) {
            let f = form(
                "PutRolePolicy",
                &[
                    role(),
                    ("PolicyName", policy.clone()),
                    ("PolicyDocument", doc.clone()),
                ],
            );
            ctx.query("iam", &f).await?;
        }
    }
    for (policy, _) in &was {
        if !now.iter().any(|(n, _)| n == policy) {
            let f = form(
                "DeleteRolePolicy",
                &[role(), ("PolicyName", policy.clone())],
            );
            ctx.query("iam", &f).await?;
        }
    }
    let (was, now) = (
        names(old, "ManagedPolicyArns"),
        names(new, "ManagedPolicyArns"),
    );
    for arn in now.iter().filter(|a| !was.contains(a)) {
        let f = form("AttachRolePolicy", &[role(), ("PolicyArn", arn.clone())]);
        ctx.query("iam", &f).await?;
    }
    for arn in was.iter().filter(|a| !now.contains(a)) {
        let f = form("DetachRolePolicy", &[role(), ("PolicyArn", arn.clone())]);
        ctx.query("iam", &f).await?;
    }
    Ok(())
}

pub(super) async fn delete_role(ctx: &Ctx, name: &str) -> Result<(), String> {
    let role = [("RoleName", name.to_string())];
    let inline = ctx.query("iam", &form("ListRolePolicies", &role)).await?;
    for p in texts(&inline, "PolicyNames", None) {
        let f = form(
            "DeleteRolePolicy",
            &[("RoleName", name.to_string()), ("PolicyName", p)],
        );
        ctx.query("iam", &f).await?;
    }
    let attached = ctx
        .query("iam", &form("ListAttachedRolePolicies", &role))
        .await?;
    for arn in texts(&attached, "AttachedPolicies", Some("PolicyArn")) {
        let f = form(
            "DetachRolePolicy",
            &[("RoleName", name.to_string()), ("PolicyArn", arn)],
        );
        ctx.query("iam", &f).await?;
    }
    ctx.query("iam", &form("DeleteRole", &role))
        .await
        .map(|_| ())
}

/// The principals a policy is put on or attached to, as the
/// `(entity member, Put action, Delete action, Attach, Detach)` of each kind.
const HOLDERS: [(&str, &str, &str, &str, &str, &str); 3] = [
    (
        "Roles",
        "RoleName",
        "PutRolePolicy",
        "DeleteRolePolicy",
        "AttachRolePolicy",
        "DetachRolePolicy",
    ),
    (
        "Users",
        "UserName",
        "PutUserPolicy",
        "DeleteUserPolicy",
        "AttachUserPolicy",
        "DetachUserPolicy",
    ),
    (
        "Groups",
        "GroupName",
        "PutGroupPolicy",
        "DeleteGroupPolicy",
        "AttachGroupPolicy",
        "DetachGroupPolicy",
    ),
];

pub(super) async fn create_policy(
    ctx: &Ctx,
    props: &Map<String, Value>,
) -> Result<Created, String> {
    let policy_name = required(props, "PolicyName")?;
    let doc = document(props.get("PolicyDocument"))?;
    let mut created =
        Created::named(ctx.generated_name(64)).with("PolicyName", policy_name.clone());
    for (list, member, put, ..) in HOLDERS {
        let holders = names(props, list);
        for h in &holders {
            let f = form(
                put,
                &[
                    (member, h.clone()),
                    ("PolicyName", policy_name.clone()),
                    ("PolicyDocument", doc.clone()),
                ],
            );
            ctx.query("iam", &f).await?;
        }
        created = created.with(list, holders);
    }
    let id = created.physical_id.clone();
    Ok(created.with("Id", id))
}

pub(super) async fn delete_policy(
    ctx: &Ctx,
    attributes: &Map<String, Value>,
) -> Result<(), String> {
    let policy_name = string(attributes, "PolicyName").unwrap_or_default();
    for (list, member, _, delete, ..) in HOLDERS {
        for h in names(attributes, list) {
            let f = form(delete, &[(member, h), ("PolicyName", policy_name.clone())]);
            ctx.query("iam", &f).await?;
        }
    }
    Ok(())
}

pub(super) async fn create_managed_policy(
    ctx: &Ctx,
    props: &Map<String, Value>,
) -> Result<Created, String> {
    let name = string(props, "ManagedPolicyName").unwrap_or_else(|| ctx.generated_name(128));
    let mut members = vec![
        ("PolicyName", name.clone()),
        ("PolicyDocument", document(props.get("PolicyDocument"))?),
    ];
    for k in ["Path", "Description"] {
        if let Some(v) = string(props, k) {
            members.push((k, v));
        }
    }
    let made = ctx.query("iam", &form("CreatePolicy", &members)).await?;
    let arn = made
        .child("Policy")
        .and_then(|p| p.child_text("Arn"))
        .unwrap_or_default()
        .to_string();
    let mut created = Created::named(arn.clone()).with("PolicyArn", arn.clone());
    for (list, member, _, _, attach, _) in HOLDERS {
        let holders = names(props, list);
        for h in &holders {
            ctx.query(
                "iam",
                &form(attach, &[(member, h.clone()), ("PolicyArn", arn.clone())]),
            )
            .await?;
        }
        created = created.with(list, holders);
    }
    Ok(created)
}

pub(super) async fn delete_managed_policy(
    ctx: &Ctx,
    arn: &str,
    attributes: &Map<String, Value>,
) -> Result<(), String> {
    for (list, member, _, _, _, detach) in HOLDERS {
        for h in names(attributes, list) {
            ctx.query(
                "iam",
                &form(detach, &[(member, h), ("PolicyArn", arn.to_string())]),
            )
            .await?;
        }
    }
    ctx.query(
        "iam",
        &form("DeletePolicy", &[("PolicyArn", arn.to_string())]),
    )
    .await
    .map(|_| ())
}
