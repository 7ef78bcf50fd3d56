//! `SimulatePrincipalPolicy` and `SimulateCustomPolicy`: what a principal's
//! policies (or given policies) decide for actions on resources, evaluated by
//! the same policy crate that enforces every request.

use crate::error::IamError;
use crate::shapes::list;
use crate::{Call, IamApi};
use nimbus_api_common::xml::el;
use nimbus_iam::Principal;
use nimbus_policy::{Context, Decision, Policy, PolicySet, Reason, evaluate};

type R<T> = Result<T, IamError>;

fn malformed(e: nimbus_policy::Malformed) -> IamError {
    IamError(nimbus_api_common::ApiError::bad_request(
        "MalformedPolicyDocument",
        e.to_string(),
    ))
}

/// The documents of `PolicyInputList`, parsed.
fn input_policies(c: &Call<'_>) -> R<Vec<Policy>> {
    c.form
        .list("PolicyInputList")
        .iter()
        .enumerate()
        .map(|(i, d)| {
            nimbus_policy::parse(d)
                .map(|p| p.named(&format!("PolicyInputList.{}", i + 1)))
                .map_err(malformed)
        })
        .collect()
}

/// One `EvaluationResults` member per (action, resource).
fn simulate(
    c: &Call<'_>,
    principal: nimbus_policy::Principal,
    identity: &[Policy],
    boundary: Option<&Policy>,
) -> R<String> {
    let actions = c.form.list("ActionNames");
    if actions.is_empty() {
        return Err(IamError::missing("ActionNames"));
    }
    let mut resources = c.form.list("ResourceArns");
    if resources.is_empty() {
        resources.push("*".into());
    }
    let set = PolicySet {
        identity: identity.iter().collect(),
        boundary,
        ..Default::default()
    };
    let mut results = Vec::new();
    for action in &actions {
        for resource in &resources {
            let ctx = Context::new(action, resource, principal.clone());
            let e = evaluate(&ctx, &set);
            let decision = match e.decision {
                Decision::Allow => "allowed",
                Decision::ExplicitDeny => "explicitDeny",
                Decision::ImplicitDeny => "implicitDeny",
            };
            let matched = match &e.reason {
                Reason::Statement { policy, .. } => vec![format!(
                    "{}{}",
                    el("SourcePolicyId", policy.as_deref().unwrap_or("")),
                    el("SourcePolicyType", "IAM Policy")
                )],
                _ => Vec::new(),
            };
            results.push(format!(
                "{}{}{}{}{}",
                el("EvalActionName", action),
                el("EvalResourceName", resource),
                el("EvalDecision", decision),
                list("MatchedStatements", matched),
                list("MissingContextValues", Vec::new()),
            ));
        }
    }
    Ok(format!(
        "{}<IsTruncated>false</IsTruncated>",
        list("EvaluationResults", results)
    ))
}

impl IamApi {
    pub(crate) fn simulate_custom_policy(&self, c: &Call<'_>) -> R<String> {
        let policies = input_policies(c)?;
        if policies.is_empty() {
            return Err(IamError::missing("PolicyInputList"));
        }
        // Only the given policies decide: the caller is a plain user, never the
        // root (which every policy would let through).
        let anyone = format!("arn:aws:iam::{}:user/simulation", self.iam.account());
        let caller = c
            .opt("CallerArn")
            .and_then(nimbus_policy::Principal::from_arn)
            .filter(|p| !p.arn.ends_with(":root"))
            .or_else(|| nimbus_policy::Principal::from_arn(&anyone))
            .ok_or_else(|| IamError::validation("CallerArn is not a principal"))?;
        simulate(c, caller, &policies, None)
    }

    pub(crate) fn simulate_principal_policy(&self, c: &Call<'_>) -> R<String> {
        let source = c.req("PolicySourceArn")?;
        let account = self.iam.account().to_string();
        let name = source.rsplit('/').next().unwrap_or_default();
        let (principal, policy_principal) = if source.contains(":user/") {
            let u = self.iam.user(name)?;
            (
                Principal::User {
                    arn: u.arn.clone(),
                    name: u.name.clone(),
                    id: u.id.clone(),
                    account: account.clone(),
                },
                nimbus_policy::Principal::from_arn(&u.arn),
            )
        } else if source.contains(":role/") {
            let r = self.iam.role(name)?;
            let session = format!("arn:aws:sts::{account}:assumed-role/{}/simulation", r.name);
            (
                Principal::AssumedRole {
                    arn: session.clone(),
                    role_arn: r.arn.clone(),
                    role_name: r.name.clone(),
                    role_id: r.id.clone(),
                    session_name: "simulation".into(),
                    account: account.clone(),
                },
                nimbus_policy::Principal::from_arn(&session),
            )
        } else {
            return Err(IamError::validation(format!(
                "PolicySourceArn {source} must name a user or a role"
            )));
        };
        let stored = self.iam.principal_policies(&principal);
        let mut identity: Vec<Policy> = stored
            .identity
            .iter()
            .filter_map(|d| {
                nimbus_policy::parse(&d.document)
                    .ok()
                    .map(|p| p.named(&d.source))
            })
            .collect();
        identity.extend(input_policies(c)?);
        let boundary = stored.boundary.as_ref().and_then(|b| {
            nimbus_policy::parse(&b.document)
                .ok()
                .map(|p| p.named(&b.source))
        });
        let caller = c
            .opt("CallerArn")
            .and_then(nimbus_policy::Principal::from_arn)
            .or(policy_principal)
            .ok_or_else(|| IamError::validation(format!("{source} is not a principal")))?;
        simulate(c, caller, &identity, boundary.as_ref())
    }
}
