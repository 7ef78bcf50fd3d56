//! The platform's lookups, on every request: what an access key stands for,
//! and the policies that apply to a principal (cached until IAM changes).

use super::*;

/// A policy that allows nothing.
const NOTHING: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"none:none","Resource":"*"}]}"#;

/// Principals whose policies are kept resolved at most (then it starts over).
const POLICY_CACHE: usize = 10_000;

impl Iam {
    /// What an access key id stands for: an IAM user's key or an STS
    /// session's. The root key is not IAM's (see [`Principal::Root`]).
    pub fn resolve_access_key(&self, id: &str) -> Option<KeyOwner> {
        if let Some(k) = self.keys.get(id) {
            let user = self.users.get(&k.user)?;
            return Some(KeyOwner {
                secret: k.secret.clone(),
                active: k.status == KeyStatus::Active,
                principal: self.user_principal(&user),
                session: None,
            });
        }
        let s = self.sessions.get(id)?;
        let expired = self.now() >= s.expires;
        let mut policies = Vec::new();
        if let Some(p) = &s.policy {
            policies.push(NamedDocument {
                source: "session".into(),
                document: p.clone(),
            });
        }
        for arn in &s.policy_arns {
            // A session policy deleted since still bounds the session: as
            // one that allows nothing, never as no bound at all.
            let document = self.policy(arn).map_or_else(
                |_| NOTHING.to_string(),
                |p| p.default_document().to_string(),
            );
            policies.push(NamedDocument {
                source: arn.clone(),
                document,
            });
        }
        Some(KeyOwner {
            secret: s.secret.clone(),
            active: !expired,
            principal: s.principal.clone(),
            session: Some(SessionKey {
                token: s.token.clone(),
                expires: s.expires,
                expired,
                policies,
            }),
        })
    }

    pub(crate) fn user_principal(&self, user: &User) -> Principal {
        Principal::User {
            arn: user.arn.clone(),
            name: user.name.clone(),
            id: user.id.clone(),
            account: self.account.clone(),
        }
    }

    /// The identity-based policies of a principal, from a cache that every
    /// change empties.
    pub fn principal_policies(&self, principal: &Principal) -> Arc<PrincipalPolicies> {
        let key = principal.arn();
        if let Some(p) = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return p.clone();
        }
        let generation = self.generation.load(std::sync::atomic::Ordering::SeqCst);
        let resolved = Arc::new(self.resolve_policies(principal));
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        // Kept only if no change ended while it was read; bounded.
        if self.generation.load(std::sync::atomic::Ordering::SeqCst) == generation {
            if cache.len() >= POLICY_CACHE {
                cache.clear();
            }
            cache.insert(key, resolved.clone());
        }
        resolved
    }

    fn resolve_policies(&self, principal: &Principal) -> PrincipalPolicies {
        let mut out = PrincipalPolicies::default();
        let mut add = |owner: &str, p: &Policies| {
            for (name, doc) in &p.inline {
                out.identity.push(NamedDocument {
                    source: format!("inline:{owner}/{name}"),
                    document: doc.clone(),
                });
            }
            for arn in &p.attached {
                if let Ok(m) = self.policy(arn) {
                    out.identity.push(NamedDocument {
                        source: arn.clone(),
                        document: m.default_document().to_string(),
                    });
                }
            }
        };
        let mut tags = Vec::new();
        let boundary = match principal {
            Principal::User { name, .. } => {
                let Some(u) = self.users.get(name) else {
                    return out;
                };
                add(&u.arn, &u.policies);
                tags = u
                    .tags
                    .iter()
                    .map(|t| (t.key.clone(), t.value.clone()))
                    .collect();
                for g in self.groups.all() {
                    if g.members.iter().any(|m| m == name) {
                        add(&g.arn, &g.policies);
                    }
                }
                u.boundary.clone()
            }
            Principal::AssumedRole {
                role_name, role_id, ..
            } => {
                // A session outlives neither its role nor a role recreated
                // under the same name (a new role, with a new id).
                let Some(r) = self.roles.get(role_name).filter(|r| r.id == *role_id) else {
                    return out;
                };
                add(&r.arn, &r.policies);
                tags = r
                    .tags
                    .iter()
                    .map(|t| (t.key.clone(), t.value.clone()))
                    .collect();
                r.boundary.clone()
            }
            Principal::Root { .. } | Principal::Service(_) => None,
        };
        out.tags = tags;
        out.boundary = boundary.and_then(|arn| {
            self.policy(&arn).ok().map(|p| NamedDocument {
                source: arn,
                document: p.default_document().to_string(),
            })
        });
        out
    }
}
