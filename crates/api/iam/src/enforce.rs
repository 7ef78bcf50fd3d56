//! IAM enforced: the [`Authorizer`] the edge puts on every request when IAM
//! is on. It finds who signed the request (the edge's [`Caller`]), that
//! principal's policies (identity-based, its permissions boundary, its
//! session's) and the policy of each resource the request acts on (from the
//! [`ResourcePolicies`] registered for its ARN's service), and evaluates each
//! action with the policy crate. The account's root may do anything; a
//! request without a caller (a public function URL) is anonymous, which only
//! a resource policy granting `*` can allow.
//!
//! Policies are compiled once: a principal's set is kept until the identity
//! service hands out a new one (it does after any IAM change), a session's
//! for the session's life.

use nimbus_api_common::Caller;
use nimbus_api_common::authz::{Access, Authorizer, Denied, ResourcePolicies, Scope};
use nimbus_iam::{Iam, NamedDocument, PrincipalPolicies};
use nimbus_policy::{Context, Policy, PolicySet, evaluate};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A principal's policies, compiled.
struct Compiled {
    /// The identity service's answer these were compiled from.
    from: Arc<PrincipalPolicies>,
    identity: Vec<Policy>,
    boundary: Option<Policy>,
}

/// A session's policy documents as last seen, and their compiled form.
type SessionPolicies = (Vec<NamedDocument>, Arc<Vec<Policy>>);

/// Decides every request by its caller's policies.
pub struct Enforcer {
    iam: Arc<Iam>,
    scope: Scope,
    principals: Mutex<HashMap<String, Arc<Compiled>>>,
    sessions: Mutex<HashMap<String, SessionPolicies>>,
    /// By ARN prefix (`arn:aws:lambda:`): where resources' policies are,
    /// and whether a resource's policy must allow (KMS key policies).
    resources: Vec<(String, Arc<dyn ResourcePolicies>, bool)>,
    /// Resource policies compiled, by their text.
    resource_docs: Mutex<HashMap<String, Option<Arc<Policy>>>>,
}

/// Compiled resource policies kept at most (then the cache starts over).
const RESOURCE_DOCS: usize = 4096;

/// Principals' and sessions' compiled policies kept at most (each cache
/// starts over past it: sessions come and go).
const COMPILED: usize = 10_000;

/// Compile stored documents; one that no longer parses allows nothing (it was
/// checked when written, so only a format change could get here).
fn compile(docs: &[NamedDocument]) -> Vec<Policy> {
    docs.iter()
        .filter_map(|d| match nimbus_policy::parse(&d.document) {
            Ok(p) => Some(p.named(&d.source)),
            Err(e) => {
                tracing::warn!(policy = %d.source, error = %e, "stored policy does not parse");
                None
            }
        })
        .collect()
}

impl Enforcer {
    pub fn new(iam: Arc<Iam>, scope: Scope) -> Enforcer {
        Enforcer {
            iam,
            scope,
            principals: Mutex::new(HashMap::new()),
            sessions: Mutex::new(HashMap::new()),
            resources: Vec::new(),
            resource_docs: Mutex::new(HashMap::new()),
        }
    }

    /// Take the policies of resources whose ARNs start with `arn_prefix`
    /// (`arn:aws:sqs:`) from `policies`.
    pub fn with_resource_policies(
        mut self,
        arn_prefix: &str,
        policies: Arc<dyn ResourcePolicies>,
    ) -> Enforcer {
        self.resources
            .push((arn_prefix.to_string(), policies, false));
        self
    }

    /// Take the policies of resources whose ARNs start with `arn_prefix`
    /// from `policies`, as policies that must allow a request (by naming
    /// the caller or delegating to the account's IAM policies) for it to be
    /// allowed at all: KMS key policies.
    pub fn with_required_resource_policies(
        mut self,
        arn_prefix: &str,
        policies: Arc<dyn ResourcePolicies>,
    ) -> Enforcer {
        self.resources
            .push((arn_prefix.to_string(), policies, true));
        self
    }

    /// The policy of the resource `arn` names, compiled (`None` when it has
    /// none, or none that parses), and whether it must allow.
    fn resource_policy(&self, arn: &str) -> (Option<Arc<Policy>>, bool) {
        let Some((_, source, required)) = self
            .resources
            .iter()
            .find(|(p, _, _)| arn.starts_with(p.as_str()))
        else {
            return (None, false);
        };
        // A resource that does not exist has no policy to require: the
        // service answers that it is not found.
        match source.policy(arn) {
            Some(doc) => (self.compile_resource_policy(arn, doc), *required),
            None => (None, false),
        }
    }

    /// The tags of the resource `arn` names (`aws:ResourceTag/KEY`).
    fn resource_tags(&self, arn: &str) -> Vec<(String, String)> {
        self.resources
            .iter()
            .find(|(p, _, _)| arn.starts_with(p.as_str()))
            .map(|(_, source, _)| source.tags(arn))
            .unwrap_or_default()
    }

    fn compile_resource_policy(&self, arn: &str, doc: String) -> Option<Arc<Policy>> {
        let mut cache = self.resource_docs.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = cache.get(&doc) {
            return p.clone();
        }
        let compiled = match nimbus_policy::parse(&doc) {
            Ok(p) => Some(Arc::new(p.named(arn))),
            Err(e) => {
                tracing::warn!(resource = %arn, error = %e, "resource policy does not parse");
                None
            }
        };
        if cache.len() >= RESOURCE_DOCS {
            cache.clear();
        }
        cache.insert(doc, compiled.clone());
        compiled
    }

    fn compiled(&self, principal: &nimbus_iam::Principal) -> Arc<Compiled> {
        let current = self.iam.principal_policies(principal);
        let key = principal.arn();
        let mut cache = self.principals.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = cache.get(&key)
            && Arc::ptr_eq(&c.from, &current)
        {
            return c.clone();
        }
        let c = Arc::new(Compiled {
            identity: compile(&current.identity),
            boundary: current
                .boundary
                .as_ref()
                .and_then(|b| compile(std::slice::from_ref(b)).pop()),
            from: current,
        });
        if cache.len() >= COMPILED {
            cache.clear();
        }
        cache.insert(key, c.clone());
        c
    }

    /// A session's policies compiled, reused while the documents stay the
    /// same (a session policy deleted since resolves to another document).
    fn session(&self, key_id: &str, docs: &[NamedDocument]) -> Arc<Vec<Policy>> {
        let mut cache = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((seen, s)) = cache.get(key_id)
            && seen.as_slice() == docs
        {
            return s.clone();
        }
        let s = Arc::new(compile(docs));
        if cache.len() >= COMPILED {
            cache.clear();
        }
        cache.insert(key_id.to_string(), (docs.to_vec(), s.clone()));
        s
    }
}

impl Enforcer {
    /// Evaluate each access for `principal` with `base`'s policies and each
    /// resource's own policy; the first refused one's message.
    fn decide(
        &self,
        base: &PolicySet<'_>,
        principal: &nimbus_policy::Principal,
        keys: &[(&str, &str)],
        access: &[Access],
    ) -> Result<(), Denied> {
        let now = nimbus_model::time::now_millis();
        let current = nimbus_model::time::Utc::from_millis(now).rfc3339_millis();
        let epoch = (now / 1000).to_string();
        for a in access {
            let (resource, required) = self.resource_policy(&a.resource);
            let set = PolicySet {
                resource: resource.as_deref(),
                resource_required: required,
                ..base.clone()
            };
            let mut ctx = Context::new(&a.action, &a.resource, principal.clone());
            for (k, v) in self.resource_tags(&a.resource) {
                ctx.insert(&format!("aws:ResourceTag/{k}"), &v);
            }
            for (k, v) in keys {
                if !v.is_empty() {
                    ctx.insert(k, v);
                }
            }
            for (k, v) in &a.keys {
                ctx.insert(k, v);
            }
            ctx.insert("aws:CurrentTime", &current);
            ctx.insert("aws:EpochTime", &epoch);
            ctx.insert("aws:SecureTransport", "false");
            let e = evaluate(&ctx, &set);
            if !e.is_allowed() {
                return Err(denied(e.message(&ctx).unwrap_or_else(|| {
                    format!("not authorized to perform: {}", a.action)
                })));
            }
        }
        Ok(())
    }

    /// Decide `access` for a session of the role `role_arn` acting on its
    /// own, as AWS's services act with a role: an event source mapping
    /// polling its queue with the function's execution role, a state
    /// machine's task calling a service with the machine's role.
    pub fn check_role(
        &self,
        role_arn: &str,
        session_name: &str,
        access: &[Access],
    ) -> Result<(), Denied> {
        let Some(role) = self.iam.role_by_arn(role_arn) else {
            return Err(denied(format!(
                "The role {role_arn} does not exist, so nothing is allowed to act with it"
            )));
        };
        let session_arn = format!(
            "arn:aws:sts::{}:assumed-role/{}/{session_name}",
            self.scope.account, role.name
        );
        let acting = nimbus_iam::Principal::AssumedRole {
            arn: session_arn.clone(),
            role_arn: role.arn.clone(),
            role_name: role.name.clone(),
            role_id: role.id.clone(),
            session_name: session_name.to_string(),
            account: self.scope.account.clone(),
        };
        let compiled = self.compiled(&acting);
        let Some(principal) = nimbus_policy::Principal::from_arn(&session_arn) else {
            return Err(denied(format!(
                "{session_arn} is not a principal IAM knows"
            )));
        };
        let principal = tagged(principal, &compiled);
        let base = PolicySet {
            identity: compiled.identity.iter().collect(),
            boundary: compiled.boundary.as_ref(),
            session: Vec::new(),
            resource: None,
            resource_account: None,
            resource_required: false,
        };
        let user_id = format!("{}:{session_name}", role.id);
        self.decide(&base, &principal, &[("aws:userid", &user_id)], access)
    }

    /// Decide `access` for the AWS service `service` (`s3.amazonaws.com`)
    /// acting for the resource `source_arn` of `source_account`: a service
    /// has no identity policies here, so only the resource's own policy (a
    /// function's permissions, a queue's policy) can allow it, with
    /// `aws:SourceArn` and `aws:SourceAccount` set for its conditions.
    pub fn check_service(
        &self,
        service: &str,
        source_arn: &str,
        source_account: &str,
        access: &[Access],
    ) -> Result<(), Denied> {
        let principal = nimbus_policy::Principal::service(service);
        let base = PolicySet {
            identity: Vec::new(),
            boundary: None,
            session: Vec::new(),
            resource: None,
            resource_account: None,
            resource_required: false,
        };
        let keys = [
            ("aws:SourceArn", source_arn),
            ("aws:SourceAccount", source_account),
        ];
        self.decide(&base, &principal, &keys, access)
    }
}

/// The principal with its user's or role's tags (`aws:PrincipalTag/KEY`).
fn tagged(principal: nimbus_policy::Principal, compiled: &Compiled) -> nimbus_policy::Principal {
    compiled
        .from
        .tags
        .iter()
        .fold(principal, |p, (k, v)| p.with_tag(k, v))
}

impl Enforcer {
    /// Decide `access` for an unsigned request (a public function URL, an
    /// anonymous S3 request):
    /// anonymous callers have no policies of their own, so only a resource
    /// policy granting `*` can allow them.
    fn check_anonymous(&self, request: &http::Extensions, access: &[Access]) -> Result<(), Denied> {
        let base = PolicySet {
            identity: Vec::new(),
            boundary: None,
            session: Vec::new(),
            resource: None,
            resource_account: None,
            resource_required: false,
        };
        let keys = [("aws:SourceIp", caller_ip(request))];
        self.decide(&base, &nimbus_policy::Principal::anonymous(), &keys, access)
    }
}

/// The client's address (`aws:SourceIp`), as the edge recorded it.
fn caller_ip(request: &http::Extensions) -> &str {
    request
        .get::<nimbus_api_common::SourceIp>()
        .map_or("", |ip| ip.0.as_str())
}

/// Whether `caller` is the account's root (no allocation: this is on every
/// request, invocations included).
fn is_root(caller: &Caller) -> bool {
    caller
        .arn
        .strip_prefix("arn:aws:iam::")
        .and_then(|rest| rest.strip_suffix(":root"))
        == Some(caller.account.as_str())
}

fn denied(message: String) -> Denied {
    Denied { message }
}

impl Authorizer for Enforcer {
    fn scope(&self) -> &Scope {
        &self.scope
    }

    fn unrestricted(&self, request: &http::Extensions) -> bool {
        request.get::<Caller>().is_some_and(is_root)
    }

    fn check(&self, request: &http::Extensions, access: &[Access]) -> Result<(), Denied> {
        if access.is_empty() {
            return Ok(());
        }
        if let Some(r) = request.get::<nimbus_api_common::authz::ActingRole>() {
            return self.check_role(&r.role_arn, &r.session, access);
        }
        let Some(caller) = request.get::<Caller>() else {
            return self.check_anonymous(request, access);
        };
        if is_root(caller) {
            return Ok(());
        }
        if caller.is_anonymous() {
            return self.check_anonymous(request, access);
        }
        let Some(owner) = self.iam.resolve_access_key(&caller.access_key_id) else {
            return Err(denied(format!(
                "The security token included in the request is invalid: {} is not a key of this account",
                caller.access_key_id
            )));
        };
        let compiled = self.compiled(&owner.principal);
        let session = owner
            .session
            .as_ref()
            .filter(|s| !s.policies.is_empty())
            .map(|s| {
                (
                    s.policies.len(),
                    self.session(&caller.access_key_id, &s.policies),
                )
            });
        // A session policy that no longer parses narrows to nothing, never widens.
        if session
            .as_ref()
            .is_some_and(|(n, compiled)| compiled.len() != *n)
        {
            return Err(denied(format!(
                "User: {} is not authorized: a policy of its session cannot be evaluated",
                caller.arn
            )));
        }
        let session = session.map(|(_, compiled)| compiled);
        let Some(principal) = nimbus_policy::Principal::from_arn(&caller.arn) else {
            return Err(denied(format!(
                "{} is not a principal IAM knows",
                caller.arn
            )));
        };
        let principal = tagged(principal, &compiled);
        let base = PolicySet {
            identity: compiled.identity.iter().collect(),
            boundary: compiled.boundary.as_ref(),
            session: session.iter().flat_map(|s| s.iter()).collect(),
            resource: None,
            resource_account: None,
            resource_required: false,
        };
        let keys = [
            ("aws:userid", caller.user_id.as_str()),
            ("aws:SourceIp", caller_ip(request)),
        ];
        self.decide(&base, &principal, &keys, access)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(arn: &str) -> Caller {
        Caller {
            arn: arn.into(),
            account: "000000000000".into(),
            user_id: String::new(),
            access_key_id: String::new(),
        }
    }

    #[test]
    fn only_the_accounts_root_is_unrestricted() {
        assert!(is_root(&caller("arn:aws:iam::000000000000:root")));
        assert!(!is_root(&caller("arn:aws:iam::111111111111:root")));
        assert!(!is_root(&caller("arn:aws:iam::000000000000:user/root")));
        assert!(!is_root(&caller(
            "arn:aws:sts::000000000000:assumed-role/root/root"
        )));
    }
}
