//! Customer managed policies with their versions, and the inline and attached
//! policies and permission boundaries of users, groups and roles.

use super::*;

impl Iam {
    pub fn create_policy(&self, new: NewPolicy) -> Result<Arc<ManagedPolicy>> {
        check_name(&new.name, "policyName", 128)?;
        let path = check_path(new.path.as_deref())?;
        check_tags(&new.tags)?;
        let document = document::decode_document(&new.document);
        check_policy_document(PolicyKind::Managed, &document)?;
        let _w = self.writing();
        let now = self.now();
        let policy = ManagedPolicy {
            format: FORMAT,
            arn: self.arn("policy", &path, &new.name),
            name: new.name,
            path,
            id: unique_id("ANPA")?,
            description: new.description.unwrap_or_default(),
            created: now,
            updated: now,
            default_version: "v1".into(),
            versions: vec![PolicyVersion {
                id: "v1".into(),
                document,
                created: now,
            }],
            next_version: 2,
            tags: new.tags,
            aws_managed: false,
        };
        self.policies.insert(policy)?.map_err(|p| {
            Error::EntityAlreadyExists(format!(
                "A policy called {} already exists. Duplicate names are not allowed.",
                p.name
            ))
        })
    }

    /// A managed policy, the account's or AWS's.
    pub fn policy(&self, arn: &str) -> Result<Arc<ManagedPolicy>> {
        check_policy_arn(arn)?;
        self.policies
            .get(arn)
            .or_else(|| self.aws_policies.get(arn).cloned())
            .ok_or_else(|| {
                Error::NoSuchEntity(format!("Policy {arn} does not exist or is not attachable."))
            })
    }

    /// A policy of the account's own, which may be changed.
    fn local_policy(&self, arn: &str) -> Result<Arc<ManagedPolicy>> {
        let p = self.policy(arn)?;
        if p.aws_managed {
            return Err(Error::Unmodifiable(format!(
                "Cannot modify AWS managed policy {arn}."
            )));
        }
        Ok(p)
    }

    /// Managed policies by scope, path prefix and whether they are attached
    /// to anything, in ARN order.
    pub fn list_policies(
        &self,
        scope: Scope,
        only_attached: bool,
        path_prefix: Option<&str>,
    ) -> Vec<Arc<ManagedPolicy>> {
        let mut out: Vec<Arc<ManagedPolicy>> = Vec::new();
        if scope != Scope::Local {
            out.extend(self.aws_policies.values().cloned());
        }
        if scope != Scope::Aws {
            out.extend(self.policies.all());
        }
        if let Some(p) = path_prefix {
            out.retain(|x| x.path.starts_with(p));
        }
        if only_attached {
            out.retain(|x| self.attachment_count(&x.arn) > 0);
        }
        out.sort_by(|a, b| a.arn.cmp(&b.arn));
        out
    }

    /// How many users, groups and roles have the policy attached.
    pub fn attachment_count(&self, arn: &str) -> usize {
        let has = |p: &Policies| usize::from(p.attached.iter().any(|a| a == arn));
        self.users.fold(0, |n, u| n + has(&u.policies))
            + self.groups.fold(0, |n, g| n + has(&g.policies))
            + self.roles.fold(0, |n, r| n + has(&r.policies))
    }

    /// How many users and roles the policy bounds.
    pub fn boundary_count(&self, arn: &str) -> usize {
        let is = |b: &Option<String>| usize::from(b.as_deref() == Some(arn));
        self.users.fold(0, |n, u| n + is(&u.boundary))
            + self.roles.fold(0, |n, r| n + is(&r.boundary))
    }

    pub fn policy_entities(&self, arn: &str) -> Result<PolicyEntities> {
        self.policy(arn)?;
        let has = |p: &Policies| p.attached.iter().any(|a| a == arn);
        Ok(PolicyEntities {
            users: self
                .users
                .all()
                .into_iter()
                .filter(|u| has(&u.policies))
                .collect(),
            groups: self
                .groups
                .all()
                .into_iter()
                .filter(|g| has(&g.policies))
                .collect(),
            roles: self
                .roles
                .all()
                .into_iter()
                .filter(|r| has(&r.policies))
                .collect(),
        })
    }

    pub fn delete_policy(&self, arn: &str) -> Result<()> {
        let _w = self.writing();
        let p = self.local_policy(arn)?;
        if self.attachment_count(arn) > 0 || self.boundary_count(arn) > 0 {
            return Err(Error::DeleteConflict(
                "Cannot delete a policy attached to entities.".into(),
            ));
        }
        if p.versions.len() > 1 {
            return Err(Error::DeleteConflict(
                "This policy has more than one version. Before you delete a policy, you must delete the policy's versions. The default version is deleted with the policy.".into(),
            ));
        }
        self.policies.delete(arn)?;
        Ok(())
    }

    pub fn create_policy_version(
        &self,
        arn: &str,
        document: &str,
        set_as_default: bool,
    ) -> Result<PolicyVersion> {
        let document = document::decode_document(document);
        check_policy_document(PolicyKind::Managed, &document)?;
        let _w = self.writing();
        self.local_policy(arn)?;
        let now = self.now();
        let (_, v) = self
            .policies
            .change(arn, |p| {
                if p.versions.len() >= limits::VERSIONS_PER_POLICY {
                    return Err(Error::LimitExceeded(format!(
                        "A managed policy can have up to {} versions. Before you create a new version, you must delete an existing version.",
                        limits::VERSIONS_PER_POLICY
                    )));
                }
                let v = PolicyVersion {
                    id: format!("v{}", p.next_version),
                    document,
                    created: now,
                };
                p.next_version += 1;
                p.updated = now;
                if set_as_default {
                    p.default_version = v.id.clone();
                }
                p.versions.push(v.clone());
                Ok(v)
            })?
            .ok_or_else(|| Error::NoSuchEntity(format!("Policy {arn} does not exist or is not attachable.")))?;
        Ok(v)
    }

    pub fn policy_version(
        &self,
        arn: &str,
        version: &str,
    ) -> Result<(Arc<ManagedPolicy>, PolicyVersion)> {
        let p = self.policy(arn)?;
        let v = p
            .versions
            .iter()
            .find(|v| v.id == version)
            .cloned()
            .ok_or_else(|| {
                Error::NoSuchEntity(format!(
                    "Policy {arn} version {version} does not exist or is not attachable."
                ))
            })?;
        Ok((p, v))
    }

    pub fn set_default_policy_version(&self, arn: &str, version: &str) -> Result<()> {
        let _w = self.writing();
        self.local_policy(arn)?;
        self.policy_version(arn, version)?;
        let now = self.now();
        self.policies.change(arn, |p| {
            p.default_version = version.to_string();
            p.updated = now;
            Ok::<_, Error>(())
        })?;
        Ok(())
    }

    pub fn delete_policy_version(&self, arn: &str, version: &str) -> Result<()> {
        let _w = self.writing();
        let (p, _) = self.policy_version(arn, version)?;
        self.local_policy(arn)?;
        if p.default_version == version {
            return Err(Error::DeleteConflict(
                "Cannot delete the default version of a policy.".into(),
            ));
        }
        self.policies.change(arn, |p| {
            p.versions.retain(|v| v.id != version);
            Ok::<_, Error>(())
        })?;
        Ok(())
    }

    // ---- inline and attached policies of users, groups and roles ----

    /// Change the policies of an entity: `f` edits them, given the entity's
    /// kind of inline policy (for quotas).
    fn change_policies(
        &self,
        entity: Entity<'_>,
        f: impl FnOnce(&mut Policies, PolicyKind) -> Result<()>,
    ) -> Result<()> {
        let found = match entity {
            Entity::User(n) => {
                self.user(n)?;
                self.users
                    .change(n, |u| f(&mut u.policies, PolicyKind::UserInline))?
                    .map(|_| ())
            }
            Entity::Group(n) => {
                self.group(n)?;
                self.groups
                    .change(n, |g| f(&mut g.policies, PolicyKind::GroupInline))?
                    .map(|_| ())
            }
            Entity::Role(n) => {
                self.role(n)?;
                self.roles
                    .change(n, |r| f(&mut r.policies, PolicyKind::RoleInline))?
                    .map(|_| ())
            }
        };
        found.ok_or_else(|| self.no_entity(entity))
    }

    fn no_entity(&self, entity: Entity<'_>) -> Error {
        let (kind, name) = match entity {
            Entity::User(n) => ("user", n),
            Entity::Group(n) => ("group", n),
            Entity::Role(n) => ("role", n),
        };
        Error::NoSuchEntity(format!("The {kind} with name {name} cannot be found."))
    }

    /// The policies an entity holds.
    pub fn entity_policies(&self, entity: Entity<'_>) -> Result<Policies> {
        Ok(match entity {
            Entity::User(n) => self.user(n)?.policies.clone(),
            Entity::Group(n) => self.group(n)?.policies.clone(),
            Entity::Role(n) => self.role(n)?.policies.clone(),
        })
    }

    pub fn put_inline_policy(&self, entity: Entity<'_>, name: &str, document: &str) -> Result<()> {
        check_name(name, "policyName", 128)?;
        let document = document::decode_document(document);
        let _w = self.writing();
        self.change_policies(entity, |p, kind| {
            check_policy_document(kind, &document)?;
            let others: usize = p
                .inline
                .iter()
                .filter(|(n, _)| n.as_str() != name)
                .map(|(_, d)| document::counted_size(d))
                .sum();
            if others + document::counted_size(&document) > kind.max_chars() {
                return Err(Error::LimitExceeded(format!(
                    "Maximum policy size of {} bytes exceeded for {}.",
                    kind.max_chars(),
                    match entity {
                        Entity::User(n) | Entity::Group(n) | Entity::Role(n) => n,
                    }
                )));
            }
            p.inline.insert(name.to_string(), document);
            Ok(())
        })
    }

    pub fn inline_policy(&self, entity: Entity<'_>, name: &str) -> Result<String> {
        self.entity_policies(entity)?
            .inline
            .get(name)
            .cloned()
            .ok_or_else(|| inline_missing(entity, name))
    }

    pub fn delete_inline_policy(&self, entity: Entity<'_>, name: &str) -> Result<()> {
        let _w = self.writing();
        self.change_policies(entity, |p, _| {
            p.inline
                .remove(name)
                .map(|_| ())
                .ok_or_else(|| inline_missing(entity, name))
        })
    }

    pub fn attach_policy(&self, entity: Entity<'_>, arn: &str) -> Result<()> {
        let _w = self.writing();
        self.policy(arn)?;
        self.change_policies(entity, |p, _| {
            if p.attached.iter().any(|a| a == arn) {
                return Ok(());
            }
            if p.attached.len() >= limits::MANAGED_POLICIES_PER_ENTITY {
                let what = match entity {
                    Entity::User(_) => "PoliciesPerUser",
                    Entity::Group(_) => "PoliciesPerGroup",
                    Entity::Role(_) => "PoliciesPerRole",
                };
                return Err(Error::LimitExceeded(format!(
                    "Cannot exceed quota for {what}: {}",
                    limits::MANAGED_POLICIES_PER_ENTITY
                )));
            }
            p.attached.push(arn.to_string());
            Ok(())
        })
    }

    pub fn detach_policy(&self, entity: Entity<'_>, arn: &str) -> Result<()> {
        check_policy_arn(arn)?;
        let _w = self.writing();
        self.change_policies(entity, |p, _| {
            let before = p.attached.len();
            p.attached.retain(|a| a != arn);
            if p.attached.len() == before {
                return Err(Error::NoSuchEntity(format!("Policy {arn} was not found.")));
            }
            Ok(())
        })
    }

    /// Set (`Some`) or remove a user's or role's permissions boundary.
    pub fn set_boundary(&self, entity: Entity<'_>, arn: Option<&str>) -> Result<()> {
        let _w = self.writing();
        if let Some(a) = arn {
            self.policy(a)?;
        }
        let set = |b: &mut Option<String>| {
            *b = arn.map(str::to_string);
            Ok::<_, Error>(())
        };
        let found = match entity {
            Entity::User(n) => self.users.change(n, |u| set(&mut u.boundary))?.is_some(),
            Entity::Role(n) => self.roles.change(n, |r| set(&mut r.boundary))?.is_some(),
            Entity::Group(_) => {
                return Err(Error::InvalidInput(
                    "Groups have no permissions boundary.".into(),
                ));
            }
        };
        if found {
            Ok(())
        } else {
            Err(self.no_entity(entity))
        }
    }
}

fn inline_missing(entity: Entity<'_>, name: &str) -> Error {
    let (kind, owner) = match entity {
        Entity::User(n) => ("user", n),
        Entity::Group(n) => ("group", n),
        Entity::Role(n) => ("role", n),
    };
    Error::NoSuchEntity(format!(
        "The {kind} policy with name {name} cannot be found for {owner}."
    ))
}
