//! AWS's policy evaluation logic: which policies apply to a request and how
//! their answers combine into allow, explicit deny or implicit deny.
//!
//! The order, as the IAM guide lays it out:
//!
//! 1. An explicit `Deny` in any policy that applies (identity-based,
//!    permissions boundary, session, resource-based) decides.
//! 2. The account root user is allowed everything in its own account.
//! 3. Services, web identity providers and anonymous callers are allowed only
//!    by a resource-based (or trust) policy that names them.
//! 4. In the resource owner's account, the request is allowed when the
//!    identity-based policies allow it within the permissions boundary and the
//!    session policies, or when the resource-based policy allows the principal:
//!    naming the user or the role session's ARN directly is not limited by the
//!    boundary or session policies; naming the role's ARN or `*` is; naming
//!    only the account delegates to the identity-based policies.
//! 5. Across accounts, both sides must allow: the principal's identity-based
//!    policies (within boundary and session policies) and the resource-based
//!    policy (where naming the principal's account is enough).
//!
//! Service control policies, resource control policies and VPC endpoint
//! policies are outside this crate (Nimbus has no organizations).

use crate::context::{Context, Principal, PrincipalKind};
use crate::document::{Effect, Policy, PrincipalEntry, Principals, Statement};

/// The policies that bear on one request.
#[derive(Clone, Debug, Default)]
pub struct PolicySet<'a> {
    /// The principal's identity-based policies: inline and managed, its
    /// groups' for a user.
    pub identity: Vec<&'a Policy>,
    /// The principal's permissions boundary, if it has one.
    pub boundary: Option<&'a Policy>,
    /// The session's policies (inline and managed, as passed to
    /// `AssumeRole` or `GetFederationToken`); none outside a session.
    pub session: Vec<&'a Policy>,
    /// The resource's policy (a bucket policy, a function's policy, a role's
    /// trust policy), if it has one.
    pub resource: Option<&'a Policy>,
    /// The account that owns the resource; `None` means the principal's own.
    pub resource_account: Option<String>,
    /// The resource's policy must allow the request, at least by naming the
    /// caller's account (delegating to its identity-based policies), as a
    /// KMS key policy must: without that, identity-based policies alone
    /// allow nothing.
    pub resource_required: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Allow,
    ExplicitDeny,
    /// Nothing allowed the request: the default.
    ImplicitDeny,
}

/// The kinds of policy AWS's messages name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyKind {
    IdentityBased,
    ResourceBased,
    PermissionsBoundary,
    Session,
}

impl PolicyKind {
    /// The phrase AWS's messages use: `identity-based policy`.
    pub fn phrase(self) -> &'static str {
        match self {
            PolicyKind::IdentityBased => "identity-based policy",
            PolicyKind::ResourceBased => "resource-based policy",
            PolicyKind::PermissionsBoundary => "permissions boundary",
            PolicyKind::Session => "session policy",
        }
    }

    fn article(self) -> &'static str {
        match self {
            PolicyKind::IdentityBased => "an",
            _ => "a",
        }
    }
}

/// Why a request was decided as it was.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    /// A statement allowed (`Allow`) or denied (`ExplicitDeny`) the request.
    Statement {
        kind: PolicyKind,
        /// The policy's name, or its `Id` (see [`Policy::label`]).
        policy: Option<String>,
        sid: Option<String>,
    },
    /// No policy of this kind allows the request (`ImplicitDeny`).
    NotAllowed(PolicyKind),
    /// The account root user in its own account.
    AccountRoot,
}

/// The outcome of [`evaluate`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evaluation {
    pub decision: Decision,
    pub reason: Reason,
}

impl Evaluation {
    pub fn is_allowed(&self) -> bool {
        self.decision == Decision::Allow
    }

    /// AWS's `AccessDenied` message for a denied request: `User: ARN is not
    /// authorized to perform: ACTION on resource: RESOURCE because no
    /// identity-based policy allows the ACTION action` (or `with an explicit
    /// deny in a resource-based policy`). `None` when allowed.
    pub fn message(&self, ctx: &Context) -> Option<String> {
        let why = match (&self.decision, &self.reason) {
            (Decision::Allow, _) => return None,
            (Decision::ExplicitDeny, Reason::Statement { kind, .. }) => {
                format!(
                    "with an explicit deny in {} {}",
                    kind.article(),
                    kind.phrase()
                )
            }
            (_, Reason::NotAllowed(kind) | Reason::Statement { kind, .. }) => format!(
                "because no {} allows the {} action",
                kind.phrase(),
                ctx.action()
            ),
            (_, Reason::AccountRoot) => "because of an explicit deny".to_string(),
        };
        Some(format!(
            "User: {} is not authorized to perform: {} on resource: {} {why}",
            ctx.principal().arn,
            ctx.action(),
            ctx.resource()
        ))
    }
}

/// How a resource-based statement's `Principal` names the caller; the order
/// is the strength of the grant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Grant {
    /// The caller's account: delegated to its identity-based policies.
    Account,
    /// `*`: limited by the caller's boundary and session policies.
    Everyone,
    /// A role session through its role's ARN: limited as `Everyone` is.
    Role,
    /// The caller by its own ARN (user, session, service): not limited.
    Direct,
}

fn role_name(arn: &str) -> Option<(&str, &str)> {
    // arn:PARTITION:iam::ACCOUNT:role/PATH/NAME -> (ACCOUNT, NAME)
    let mut parts = arn.splitn(6, ':');
    let account = parts.nth(4)?;
    let resource = parts.next()?;
    let path = resource.strip_prefix("role/")?;
    Some((account, path.rsplit('/').next()?))
}

fn entry_grant(entry: &PrincipalEntry, p: &Principal) -> Option<Grant> {
    match (entry, &p.kind) {
        (PrincipalEntry::Everyone, _) => Some(Grant::Everyone),
        (PrincipalEntry::Account(a), PrincipalKind::Root) if *a == p.account => Some(Grant::Direct),
        (PrincipalEntry::Account(a), _) if p.has_account() && *a == p.account => {
            Some(Grant::Account)
        }
        (PrincipalEntry::Arn(a), _) if *a == p.arn => Some(Grant::Direct),
        (PrincipalEntry::Arn(a), PrincipalKind::AssumedRole { role_arn, .. }) => {
            let same = *a == *role_arn
                || matches!((role_name(a), role_name(role_arn)), (Some(x), Some(y)) if x == y);
            same.then_some(Grant::Role)
        }
        (PrincipalEntry::Service(s), PrincipalKind::Service { name }) => {
            s.eq_ignore_ascii_case(name).then_some(Grant::Direct)
        }
        (PrincipalEntry::Federated(f), PrincipalKind::Federated { provider }) => {
            (f == provider).then_some(Grant::Direct)
        }
        (PrincipalEntry::CanonicalUser(c), _) => {
            (p.canonical_user.as_deref() == Some(c.as_str())).then_some(Grant::Direct)
        }
        _ => None,
    }
}

/// How strongly a `Principal` element names the caller. A `NotPrincipal`
/// applies to everyone it does not name (naming the account alone does not
/// exclude the account's users).
fn grant(principals: &Principals, p: &Principal) -> Option<Grant> {
    let best = principals
        .entries
        .iter()
        .filter_map(|e| entry_grant(e, p))
        .max();
    if principals.negated {
        match best {
            Some(Grant::Account) | None => Some(Grant::Everyone),
            Some(_) => None,
        }
    } else {
        best
    }
}

/// Whether a `Principal` element names the principal (a `NotPrincipal`
/// element: does not exclude it). Naming the principal's account counts.
pub fn principal_matches(principals: &Principals, principal: &Principal) -> bool {
    grant(principals, principal).is_some()
}

/// Whether the statement covers the request's action, resource and conditions.
fn applies(st: &Statement, ctx: &Context) -> bool {
    st.actions.covers(ctx.action_lower(), ctx)
        && st
            .resources
            .as_ref()
            .is_none_or(|r| r.covers(ctx.resource(), ctx))
        && st.conditions.iter().all(|c| c.holds(ctx))
}

/// How a statement applies, if it does: identity-side policies ignore
/// principals (they have none); a resource-side statement applies only to
/// the principals it names.
fn statement_grant(st: &Statement, ctx: &Context, resource_side: bool) -> Option<Grant> {
    let g = match (&st.principals, resource_side) {
        (Some(ps), _) => grant(ps, ctx.principal())?,
        (None, false) => Grant::Direct,
        (None, true) => return None,
    };
    applies(st, ctx).then_some(g)
}

fn by(kind: PolicyKind, policy: &Policy, st: &Statement) -> Reason {
    Reason::Statement {
        kind,
        policy: policy.label().map(str::to_string),
        sid: st.sid.clone(),
    }
}

/// The first statement of `effect` among `policies` that applies, with its
/// grant.
fn find<'p>(
    policies: &[&'p Policy],
    effect: Effect,
    ctx: &Context,
    resource_side: bool,
) -> Option<(&'p Policy, &'p Statement, Grant)> {
    let mut best: Option<(&Policy, &Statement, Grant)> = None;
    for &policy in policies {
        for st in policy.statements.iter().filter(|s| s.effect == effect) {
            if let Some(g) = statement_grant(st, ctx, resource_side) {
                if !resource_side || g == Grant::Direct {
                    return Some((policy, st, g));
                }
                if best.is_none_or(|(_, _, b)| g > b) {
                    best = Some((policy, st, g));
                }
            }
        }
    }
    best
}

fn decided(decision: Decision, reason: Reason) -> Evaluation {
    Evaluation { decision, reason }
}

/// Evaluates a request against the policies that bear on it.
pub fn evaluate(ctx: &Context, set: &PolicySet<'_>) -> Evaluation {
    let p = ctx.principal();
    let resource = set.resource.as_slice();
    let boundary = set.boundary.as_slice();
    let sides: [(PolicyKind, &[&Policy], bool); 4] = [
        (PolicyKind::IdentityBased, set.identity.as_slice(), false),
        (PolicyKind::PermissionsBoundary, boundary, false),
        (PolicyKind::Session, set.session.as_slice(), false),
        (PolicyKind::ResourceBased, resource, true),
    ];
    for (kind, policies, resource_side) in sides {
        if let Some((policy, st, _)) = find(policies, Effect::Deny, ctx, resource_side) {
            return decided(Decision::ExplicitDeny, by(kind, policy, st));
        }
    }

    let resource_allow = find(resource, Effect::Allow, ctx, true);
    if !p.has_account() {
        return match resource_allow {
            Some((policy, st, g)) if g != Grant::Account => {
                decided(Decision::Allow, by(PolicyKind::ResourceBased, policy, st))
            }
            _ => decided(
                Decision::ImplicitDeny,
                Reason::NotAllowed(PolicyKind::ResourceBased),
            ),
        };
    }
    let same_account = set
        .resource_account
        .as_deref()
        .is_none_or(|a| a == p.account);
    let root = p.kind == PrincipalKind::Root;
    if root && same_account {
        return decided(Decision::Allow, Reason::AccountRoot);
    }

    let identity = find(&set.identity, Effect::Allow, ctx, false);
    let boundary_ok = boundary.is_empty() || find(boundary, Effect::Allow, ctx, false).is_some();
    let session_ok =
        set.session.is_empty() || find(&set.session, Effect::Allow, ctx, false).is_some();
    let identity_ok = root || identity.is_some();
    let limits = || {
        if !boundary_ok {
            Reason::NotAllowed(PolicyKind::PermissionsBoundary)
        } else if !session_ok {
            Reason::NotAllowed(PolicyKind::Session)
        } else {
            Reason::NotAllowed(PolicyKind::IdentityBased)
        }
    };

    if same_account {
        if set.resource_required && resource_allow.is_none() {
            return decided(
                Decision::ImplicitDeny,
                Reason::NotAllowed(PolicyKind::ResourceBased),
            );
        }
        if let Some((policy, st, _)) = identity.filter(|_| boundary_ok && session_ok) {
            return decided(Decision::Allow, by(PolicyKind::IdentityBased, policy, st));
        }
        let mut limited_grant = false;
        if let Some((policy, st, g)) = resource_allow {
            let within_limits = boundary_ok && session_ok;
            match g {
                Grant::Direct => {
                    return decided(Decision::Allow, by(PolicyKind::ResourceBased, policy, st));
                }
                Grant::Role | Grant::Everyone if within_limits => {
                    return decided(Decision::Allow, by(PolicyKind::ResourceBased, policy, st));
                }
                Grant::Role | Grant::Everyone => limited_grant = true,
                Grant::Account => {}
            }
        }
        let reason = if identity.is_some() || limited_grant {
            limits()
        } else {
            Reason::NotAllowed(PolicyKind::IdentityBased)
        };
        return decided(Decision::ImplicitDeny, reason);
    }

    // Across accounts both sides must allow.
    if !identity_ok {
        return decided(
            Decision::ImplicitDeny,
            Reason::NotAllowed(PolicyKind::IdentityBased),
        );
    }
    if !(boundary_ok && session_ok) {
        return decided(Decision::ImplicitDeny, limits());
    }
    match resource_allow {
        Some((policy, st, _)) => {
            decided(Decision::Allow, by(PolicyKind::ResourceBased, policy, st))
        }
        None => decided(
            Decision::ImplicitDeny,
            Reason::NotAllowed(PolicyKind::ResourceBased),
        ),
    }
}

/// Whether a role's trust policy lets the caller in (`sts:AssumeRole` and
/// its siblings, by `ctx`'s action): no statement denies and one names the
/// caller (its account counts). Whether the caller may also call
/// `sts:AssumeRole` by its own policies is [`evaluate`]'s question, with the
/// trust policy as the resource policy and the role's account as the
/// resource's.
pub fn trusts(trust: &Policy, ctx: &Context) -> bool {
    let policies = [trust];
    find(&policies, Effect::Deny, ctx, true).is_none()
        && find(&policies, Effect::Allow, ctx, true).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::{ParseKind, parse_as};

    fn user(name: &str) -> Principal {
        Principal::from_arn(&format!("arn:aws:iam::111122223333:user/{name}")).unwrap()
    }

    #[test]
    fn deny_beats_allow() {
        let p = parse_as(
            r#"{"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
                {"Sid": "NoDelete", "Effect": "Deny", "Action": "s3:Delete*", "Resource": "*"}]}"#,
            ParseKind::Identity,
        )
        .unwrap()
        .named("s3-admin");
        let set = PolicySet {
            identity: vec![&p],
            ..PolicySet::default()
        };
        let get = Context::new("s3:GetObject", "arn:aws:s3:::b/k", user("alice"));
        assert!(evaluate(&get, &set).is_allowed());
        let del = Context::new("S3:DeleteObject", "arn:aws:s3:::b/k", user("alice"));
        let e = evaluate(&del, &set);
        assert_eq!(e.decision, Decision::ExplicitDeny);
        assert_eq!(
            e.reason,
            Reason::Statement {
                kind: PolicyKind::IdentityBased,
                policy: Some("s3-admin".into()),
                sid: Some("NoDelete".into())
            }
        );
        assert_eq!(
            e.message(&del).unwrap(),
            "User: arn:aws:iam::111122223333:user/alice is not authorized to perform: \
             S3:DeleteObject on resource: arn:aws:s3:::b/k with an explicit deny in an \
             identity-based policy"
        );
    }

    #[test]
    fn nothing_allows() {
        let ctx = Context::new(
            "sqs:SendMessage",
            "arn:aws:sqs:us-east-1:111122223333:q",
            user("bob"),
        );
        let e = evaluate(&ctx, &PolicySet::default());
        assert_eq!(e.decision, Decision::ImplicitDeny);
        assert!(
            e.message(&ctx)
                .unwrap()
                .ends_with("because no identity-based policy allows the sqs:SendMessage action")
        );
    }

    #[test]
    fn trust_policies() {
        let trust = parse_as(
            r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}}"#,
            ParseKind::Trust,
        )
        .unwrap();
        let lambda = Context::new(
            "sts:AssumeRole",
            "arn:aws:iam::111122223333:role/r",
            Principal::service("lambda.amazonaws.com"),
        );
        assert!(trusts(&trust, &lambda));
        let other = Context::new(
            "sts:AssumeRole",
            "arn:aws:iam::111122223333:role/r",
            Principal::service("states.amazonaws.com"),
        );
        assert!(!trusts(&trust, &other));
        let ps = trust.statements[0].principals().unwrap();
        assert!(principal_matches(
            ps,
            &Principal::service("lambda.amazonaws.com")
        ));
        assert!(!principal_matches(ps, &user("alice")));
    }
}
