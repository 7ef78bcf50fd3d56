//! One handler per IAM operation: read the operation's input members from
//! the form into the service's typed input, call the service, write its
//! answer in the output shape. The `operations!` table generates
//! [`Operation`] and the dispatcher.

use crate::error::IamError;
use crate::shapes::{self, date, list, truncation};
use crate::{Call, IamApi};
use nimbus_api_common::xml::el;
use nimbus_iam::paging::page;
use nimbus_iam::{Entity, KeyStatus, NewPolicy, NewRole, NewUser, RoleUpdate, Scope, Tag};

type R<T> = Result<T, IamError>;

macro_rules! operations {
    ($($name:ident => $handler:ident),* $(,)?) => {
        /// An IAM operation, parsed from the form's `Action`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Operation {
            $($name),*
        }

        impl Operation {
            pub fn parse(action: &str) -> Option<Operation> {
                match action {
                    $(stringify!($name) => Some(Operation::$name),)*
                    _ => None,
                }
            }

            pub fn name(self) -> &'static str {
                match self {
                    $(Operation::$name => stringify!($name),)*
                }
            }
        }

        impl IamApi {
            pub(crate) fn execute(&self, op: Operation, c: &Call<'_>) -> R<String> {
                match op {
                    $(Operation::$name => self.$handler(c),)*
                }
            }
        }
    };
}

operations! {
    SimulatePrincipalPolicy => simulate_principal_policy,
    SimulateCustomPolicy => simulate_custom_policy,
    CreateUser => create_user,
    GetUser => get_user,
    ListUsers => list_users,
    DeleteUser => delete_user,
    TagUser => tag_user,
    UntagUser => untag_user,
    ListUserTags => list_user_tags,
    CreateAccessKey => create_access_key,
    ListAccessKeys => list_access_keys,
    UpdateAccessKey => update_access_key,
    DeleteAccessKey => delete_access_key,
    GetAccessKeyLastUsed => get_access_key_last_used,
    CreateGroup => create_group,
    GetGroup => get_group,
    ListGroups => list_groups,
    DeleteGroup => delete_group,
    AddUserToGroup => add_user_to_group,
    RemoveUserFromGroup => remove_user_from_group,
    ListGroupsForUser => list_groups_for_user,
    CreateRole => create_role,
    GetRole => get_role,
    ListRoles => list_roles,
    DeleteRole => delete_role,
    UpdateRole => update_role,
    UpdateRoleDescription => update_role_description,
    UpdateAssumeRolePolicy => update_assume_role_policy,
    TagRole => tag_role,
    UntagRole => untag_role,
    ListRoleTags => list_role_tags,
    CreatePolicy => create_policy,
    GetPolicy => get_policy,
    DeletePolicy => delete_policy,
    ListPolicies => list_policies,
    CreatePolicyVersion => create_policy_version,
    GetPolicyVersion => get_policy_version,
    ListPolicyVersions => list_policy_versions,
    DeletePolicyVersion => delete_policy_version,
    SetDefaultPolicyVersion => set_default_policy_version,
    ListEntitiesForPolicy => list_entities_for_policy,
    PutUserPolicy => put_user_policy,
    GetUserPolicy => get_user_policy,
    DeleteUserPolicy => delete_user_policy,
    ListUserPolicies => list_user_policies,
    PutGroupPolicy => put_group_policy,
    GetGroupPolicy => get_group_policy,
    DeleteGroupPolicy => delete_group_policy,
    ListGroupPolicies => list_group_policies,
    PutRolePolicy => put_role_policy,
    GetRolePolicy => get_role_policy,
    DeleteRolePolicy => delete_role_policy,
    ListRolePolicies => list_role_policies,
    AttachUserPolicy => attach_user_policy,
    DetachUserPolicy => detach_user_policy,
    ListAttachedUserPolicies => list_attached_user_policies,
    AttachGroupPolicy => attach_group_policy,
    DetachGroupPolicy => detach_group_policy,
    ListAttachedGroupPolicies => list_attached_group_policies,
    AttachRolePolicy => attach_role_policy,
    DetachRolePolicy => detach_role_policy,
    ListAttachedRolePolicies => list_attached_role_policies,
    PutUserPermissionsBoundary => put_user_permissions_boundary,
    DeleteUserPermissionsBoundary => delete_user_permissions_boundary,
    PutRolePermissionsBoundary => put_role_permissions_boundary,
    DeleteRolePermissionsBoundary => delete_role_permissions_boundary,
}

/// Which kind of entity an inline or attached policy operation is about.
#[derive(Clone, Copy)]
enum Kind {
    User,
    Group,
    Role,
}

impl Kind {
    fn member(self) -> &'static str {
        match self {
            Kind::User => "UserName",
            Kind::Group => "GroupName",
            Kind::Role => "RoleName",
        }
    }
}

impl Call<'_> {
    pub(crate) fn req(&self, name: &str) -> R<&str> {
        self.form.get(name).ok_or_else(|| IamError::missing(name))
    }

    pub(crate) fn opt(&self, name: &str) -> Option<&str> {
        self.form.get(name)
    }

    fn opt_u32(&self, name: &str) -> R<Option<u32>> {
        self.opt(name)
            .map(|v| {
                v.parse::<u32>().map_err(|_| {
                    IamError::validation(format!(
                        "1 validation error detected: Value '{v}' at '{name}' failed to satisfy constraint: Member must be a number"
                    ))
                })
            })
            .transpose()
    }

    fn flag(&self, name: &str) -> bool {
        self.opt(name)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    fn tags(&self) -> R<Vec<Tag>> {
        self.form
            .members("Tags")
            .into_iter()
            .map(|m| {
                let get = |f: &str| m.iter().find(|(k, _)| *k == f).map(|(_, v)| v.to_string());
                Ok(Tag {
                    key: get("Key").ok_or_else(|| IamError::missing("Tags.member.N.Key"))?,
                    value: get("Value").unwrap_or_default(),
                })
            })
            .collect()
    }

    fn entity(&self, kind: Kind) -> R<Entity<'_>> {
        let name = self.req(kind.member())?;
        Ok(match kind {
            Kind::User => Entity::User(name),
            Kind::Group => Entity::Group(name),
            Kind::Role => Entity::Role(name),
        })
    }

    /// The page of `items` this request's `Marker` and `MaxItems` select.
    fn page<T>(&self, items: Vec<T>, key: impl Fn(&T) -> String) -> R<nimbus_iam::Page<T>> {
        Ok(page(
            items,
            key,
            self.opt("Marker"),
            self.opt_u32("MaxItems")?,
        )?)
    }

    /// The user a request without `UserName` is about: the calling user.
    fn user_name(&self, iam: &nimbus_iam::Iam) -> R<String> {
        if let Some(n) = self.opt("UserName") {
            return Ok(n.to_string());
        }
        let arn = self.caller.map(|c| c.arn.as_str()).unwrap_or_default();
        iam.users(None)
            .into_iter()
            .find(|u| u.arn == arn)
            .map(|u| u.name.clone())
            .ok_or_else(|| {
                IamError::validation("Must specify userName when calling with non-User credentials")
            })
    }
}

impl IamApi {
    // ---- users ----

    fn create_user(&self, c: &Call<'_>) -> R<String> {
        let u = self.iam.create_user(NewUser {
            name: c.req("UserName")?.to_string(),
            path: c.opt("Path").map(str::to_string),
            tags: c.tags()?,
            boundary: c.opt("PermissionsBoundary").map(str::to_string),
        })?;
        Ok(el_raw("User", &shapes::user(&u)))
    }

    fn get_user(&self, c: &Call<'_>) -> R<String> {
        if c.opt("UserName").is_none()
            && let Some(caller) = c.caller
            && caller.arn.ends_with(":root")
        {
            return Ok(el_raw(
                "User",
                &format!(
                    "{}{}{}",
                    el("UserId", &caller.account),
                    el("Arn", &caller.arn),
                    el("CreateDate", &date(0)),
                ),
            ));
        }
        let user = self.iam.user(&c.user_name(&self.iam)?)?;
        Ok(el_raw("User", &shapes::user(&user)))
    }

    fn list_users(&self, c: &Call<'_>) -> R<String> {
        let p = c.page(self.iam.users(c.opt("PathPrefix")), |u| u.name.clone())?;
        Ok(format!(
            "{}{}",
            list("Users", p.items.iter().map(|u| shapes::user(u))),
            truncation(p.marker.as_deref())
        ))
    }

    fn delete_user(&self, c: &Call<'_>) -> R<String> {
        self.iam.delete_user(c.req("UserName")?)?;
        Ok(String::new())
    }

    fn tag_user(&self, c: &Call<'_>) -> R<String> {
        self.iam.tag_user(c.req("UserName")?, &c.tags()?)?;
        Ok(String::new())
    }

    fn untag_user(&self, c: &Call<'_>) -> R<String> {
        self.iam
            .untag_user(c.req("UserName")?, &c.form.list("TagKeys"))?;
        Ok(String::new())
    }

    fn list_user_tags(&self, c: &Call<'_>) -> R<String> {
        let u = self.iam.user(c.req("UserName")?)?;
        let p = c.page(u.tags.clone(), |t| t.key.clone())?;
        Ok(format!(
            "{}{}",
            shapes::tags(&p.items),
            truncation(p.marker.as_deref())
        ))
    }

    // ---- access keys ----

    fn create_access_key(&self, c: &Call<'_>) -> R<String> {
        let user = c.user_name(&self.iam)?;
        let k = self.iam.create_access_key(&user)?;
        Ok(el_raw("AccessKey", &shapes::access_key(&k, true)))
    }

    fn list_access_keys(&self, c: &Call<'_>) -> R<String> {
        let user = c.user_name(&self.iam)?;
        let p = c.page(self.iam.access_keys(&user)?, |k| k.id.clone())?;
        Ok(format!(
            "{}{}",
            list(
                "AccessKeyMetadata",
                p.items.iter().map(|k| shapes::access_key(k, false))
            ),
            truncation(p.marker.as_deref())
        ))
    }

    fn update_access_key(&self, c: &Call<'_>) -> R<String> {
        let status = c.req("Status")?;
        let status = KeyStatus::parse(status).ok_or_else(|| {
            IamError::validation(format!(
                "1 validation error detected: Value '{status}' at 'status' failed to satisfy constraint: Member must satisfy enum value set: [Active, Inactive]"
            ))
        })?;
        let user = c.user_name(&self.iam).ok();
        self.iam
            .update_access_key(c.req("AccessKeyId")?, user.as_deref(), status)?;
        Ok(String::new())
    }

    fn delete_access_key(&self, c: &Call<'_>) -> R<String> {
        let user = c.user_name(&self.iam).ok();
        self.iam
            .delete_access_key(c.req("AccessKeyId")?, user.as_deref())?;
        Ok(String::new())
    }

    fn get_access_key_last_used(&self, c: &Call<'_>) -> R<String> {
        let k = self.iam.access_key(c.req("AccessKeyId")?, None)?;
        Ok(format!(
            "{}<AccessKeyLastUsed><ServiceName>N/A</ServiceName><Region>N/A</Region></AccessKeyLastUsed>",
            el("UserName", &k.user)
        ))
    }

    // ---- groups ----

    fn create_group(&self, c: &Call<'_>) -> R<String> {
        let g = self.iam.create_group(c.req("GroupName")?, c.opt("Path"))?;
        Ok(el_raw("Group", &shapes::group(&g)))
    }

    fn get_group(&self, c: &Call<'_>) -> R<String> {
        let g = self.iam.group(c.req("GroupName")?)?;
        let mut users: Vec<_> = g
            .members
            .iter()
            .filter_map(|m| self.iam.user(m).ok())
            .collect();
        users.sort_by(|a, b| a.name.cmp(&b.name));
        let p = c.page(users, |u| u.name.clone())?;
        Ok(format!(
            "{}{}{}",
            el_raw("Group", &shapes::group(&g)),
            list("Users", p.items.iter().map(|u| shapes::user(u))),
            truncation(p.marker.as_deref())
        ))
    }

    fn list_groups(&self, c: &Call<'_>) -> R<String> {
        let p = c.page(self.iam.groups(c.opt("PathPrefix")), |g| g.name.clone())?;
        Ok(format!(
            "{}{}",
            list("Groups", p.items.iter().map(|g| shapes::group(g))),
            truncation(p.marker.as_deref())
        ))
    }

    fn delete_group(&self, c: &Call<'_>) -> R<String> {
        self.iam.delete_group(c.req("GroupName")?)?;
        Ok(String::new())
    }

    fn add_user_to_group(&self, c: &Call<'_>) -> R<String> {
        self.iam
            .add_user_to_group(c.req("GroupName")?, c.req("UserName")?)?;
        Ok(String::new())
    }

    fn remove_user_from_group(&self, c: &Call<'_>) -> R<String> {
        self.iam
            .remove_user_from_group(c.req("GroupName")?, c.req("UserName")?)?;
        Ok(String::new())
    }

    fn list_groups_for_user(&self, c: &Call<'_>) -> R<String> {
        let groups = self.iam.groups_for_user(c.req("UserName")?)?;
        let p = c.page(groups, |g| g.name.clone())?;
        Ok(format!(
            "{}{}",
            list("Groups", p.items.iter().map(|g| shapes::group(g))),
            truncation(p.marker.as_deref())
        ))
    }

    // ---- roles ----

    fn create_role(&self, c: &Call<'_>) -> R<String> {
        let r = self.iam.create_role(NewRole {
            name: c.req("RoleName")?.to_string(),
            path: c.opt("Path").map(str::to_string),
            trust: c.req("AssumeRolePolicyDocument")?.to_string(),
            description: c.opt("Description").map(str::to_string),
            max_session_secs: c.opt_u32("MaxSessionDuration")?,
            tags: c.tags()?,
            boundary: c.opt("PermissionsBoundary").map(str::to_string),
        })?;
        Ok(el_raw("Role", &shapes::role(&r)))
    }

    fn get_role(&self, c: &Call<'_>) -> R<String> {
        let role = self.iam.role(c.req("RoleName")?)?;
        Ok(el_raw("Role", &shapes::role(&role)))
    }

    fn list_roles(&self, c: &Call<'_>) -> R<String> {
        let p = c.page(self.iam.roles(c.opt("PathPrefix")), |r| r.name.clone())?;
        Ok(format!(
            "{}{}",
            list("Roles", p.items.iter().map(|r| shapes::role(r))),
            truncation(p.marker.as_deref())
        ))
    }

    fn delete_role(&self, c: &Call<'_>) -> R<String> {
        self.iam.delete_role(c.req("RoleName")?)?;
        Ok(String::new())
    }

    fn update_role(&self, c: &Call<'_>) -> R<String> {
        self.iam.update_role(
            c.req("RoleName")?,
            RoleUpdate {
                description: c.opt("Description").map(str::to_string),
                max_session_secs: c.opt_u32("MaxSessionDuration")?,
            },
        )?;
        Ok(String::new())
    }

    fn update_role_description(&self, c: &Call<'_>) -> R<String> {
        let r = self.iam.update_role(
            c.req("RoleName")?,
            RoleUpdate {
                description: Some(c.req("Description")?.to_string()),
                max_session_secs: None,
            },
        )?;
        Ok(el_raw("Role", &shapes::role(&r)))
    }

    fn update_assume_role_policy(&self, c: &Call<'_>) -> R<String> {
        self.iam
            .update_trust(c.req("RoleName")?, c.req("PolicyDocument")?)?;
        Ok(String::new())
    }

    fn tag_role(&self, c: &Call<'_>) -> R<String> {
        self.iam.tag_role(c.req("RoleName")?, &c.tags()?)?;
        Ok(String::new())
    }

    fn untag_role(&self, c: &Call<'_>) -> R<String> {
        self.iam
            .untag_role(c.req("RoleName")?, &c.form.list("TagKeys"))?;
        Ok(String::new())
    }

    fn list_role_tags(&self, c: &Call<'_>) -> R<String> {
        let r = self.iam.role(c.req("RoleName")?)?;
        let p = c.page(r.tags.clone(), |t| t.key.clone())?;
        Ok(format!(
            "{}{}",
            shapes::tags(&p.items),
            truncation(p.marker.as_deref())
        ))
    }

    // ---- managed policies ----

    fn policy_shape(&self, p: &nimbus_iam::ManagedPolicy) -> String {
        shapes::policy(
            p,
            self.iam.attachment_count(&p.arn),
            self.iam.boundary_count(&p.arn),
        )
    }

    fn create_policy(&self, c: &Call<'_>) -> R<String> {
        let p = self.iam.create_policy(NewPolicy {
            name: c.req("PolicyName")?.to_string(),
            path: c.opt("Path").map(str::to_string),
            document: c.req("PolicyDocument")?.to_string(),
            description: c.opt("Description").map(str::to_string),
            tags: c.tags()?,
        })?;
        Ok(el_raw("Policy", &self.policy_shape(&p)))
    }

    fn get_policy(&self, c: &Call<'_>) -> R<String> {
        let p = self.iam.policy(c.req("PolicyArn")?)?;
        Ok(el_raw("Policy", &self.policy_shape(&p)))
    }

    fn delete_policy(&self, c: &Call<'_>) -> R<String> {
        self.iam.delete_policy(c.req("PolicyArn")?)?;
        Ok(String::new())
    }

    fn list_policies(&self, c: &Call<'_>) -> R<String> {
        let scope = match c.opt("Scope").unwrap_or("All") {
            "All" => Scope::All,
            "AWS" => Scope::Aws,
            "Local" => Scope::Local,
            other => {
                return Err(IamError::validation(format!(
                    "1 validation error detected: Value '{other}' at 'scope' failed to satisfy constraint: Member must satisfy enum value set: [All, AWS, Local]"
                )));
            }
        };
        let all = self
            .iam
            .list_policies(scope, c.flag("OnlyAttached"), c.opt("PathPrefix"));
        let p = c.page(all, |p| p.arn.clone())?;
        Ok(format!(
            "{}{}",
            list("Policies", p.items.iter().map(|p| self.policy_shape(p))),
            truncation(p.marker.as_deref())
        ))
    }

    fn create_policy_version(&self, c: &Call<'_>) -> R<String> {
        let set = c.flag("SetAsDefault");
        let v =
            self.iam
                .create_policy_version(c.req("PolicyArn")?, c.req("PolicyDocument")?, set)?;
        Ok(el_raw("PolicyVersion", &shapes::version(&v, set, false)))
    }

    fn get_policy_version(&self, c: &Call<'_>) -> R<String> {
        let (p, v) = self
            .iam
            .policy_version(c.req("PolicyArn")?, c.req("VersionId")?)?;
        Ok(el_raw(
            "PolicyVersion",
            &shapes::version(&v, v.id == p.default_version, true),
        ))
    }

    fn list_policy_versions(&self, c: &Call<'_>) -> R<String> {
        let p = self.iam.policy(c.req("PolicyArn")?)?;
        let mut versions = p.versions.clone();
        versions.reverse();
        let default = p.default_version.clone();
        let pg = c.page(versions, |v| {
            format!("{:010}", u32::MAX - v.id[1..].parse::<u32>().unwrap_or(0))
        })?;
        Ok(format!(
            "{}{}",
            list(
                "Versions",
                pg.items
                    .iter()
                    .map(|v| shapes::version(v, v.id == default, false))
            ),
            truncation(pg.marker.as_deref())
        ))
    }

    fn delete_policy_version(&self, c: &Call<'_>) -> R<String> {
        self.iam
            .delete_policy_version(c.req("PolicyArn")?, c.req("VersionId")?)?;
        Ok(String::new())
    }

    fn set_default_policy_version(&self, c: &Call<'_>) -> R<String> {
        self.iam
            .set_default_policy_version(c.req("PolicyArn")?, c.req("VersionId")?)?;
        Ok(String::new())
    }

    fn list_entities_for_policy(&self, c: &Call<'_>) -> R<String> {
        let e = self.iam.policy_entities(c.req("PolicyArn")?)?;
        let filter = c.opt("EntityFilter");
        let wants = |k: &str| filter.is_none_or(|f| f == k);
        let groups = if wants("Group") { e.groups } else { Vec::new() };
        let users = if wants("User") { e.users } else { Vec::new() };
        let roles = if wants("Role") { e.roles } else { Vec::new() };
        Ok(format!(
            "{}{}{}<IsTruncated>false</IsTruncated>",
            list(
                "PolicyGroups",
                groups.iter().map(|g| format!(
                    "{}{}",
                    el("GroupName", &g.name),
                    el("GroupId", &g.id)
                ))
            ),
            list(
                "PolicyUsers",
                users
                    .iter()
                    .map(|u| format!("{}{}", el("UserName", &u.name), el("UserId", &u.id)))
            ),
            list(
                "PolicyRoles",
                roles
                    .iter()
                    .map(|r| format!("{}{}", el("RoleName", &r.name), el("RoleId", &r.id)))
            ),
        ))
    }

    // ---- inline policies ----

    fn put_inline(&self, c: &Call<'_>, kind: Kind) -> R<String> {
        self.iam.put_inline_policy(
            c.entity(kind)?,
            c.req("PolicyName")?,
            c.req("PolicyDocument")?,
        )?;
        Ok(String::new())
    }

    fn get_inline(&self, c: &Call<'_>, kind: Kind) -> R<String> {
        let owner = c.req(kind.member())?;
        let name = c.req("PolicyName")?;
        let doc = self.iam.inline_policy(c.entity(kind)?, name)?;
        Ok(format!(
            "{}{}{}",
            el(kind.member(), owner),
            el("PolicyName", name),
            el("PolicyDocument", &shapes::document(&doc))
        ))
    }

    fn delete_inline(&self, c: &Call<'_>, kind: Kind) -> R<String> {
        self.iam
            .delete_inline_policy(c.entity(kind)?, c.req("PolicyName")?)?;
        Ok(String::new())
    }

    fn list_inline(&self, c: &Call<'_>, kind: Kind) -> R<String> {
        let names: Vec<String> = self
            .iam
            .entity_policies(c.entity(kind)?)?
            .inline
            .into_keys()
            .collect();
        let p = c.page(names, String::clone)?;
        Ok(format!(
            "{}{}",
            list(
                "PolicyNames",
                p.items.iter().map(|n| nimbus_api_common::xml::escape(n))
            ),
            truncation(p.marker.as_deref())
        ))
    }

    fn put_user_policy(&self, c: &Call<'_>) -> R<String> {
        self.put_inline(c, Kind::User)
    }
    fn get_user_policy(&self, c: &Call<'_>) -> R<String> {
        self.get_inline(c, Kind::User)
    }
    fn delete_user_policy(&self, c: &Call<'_>) -> R<String> {
        self.delete_inline(c, Kind::User)
    }
    fn list_user_policies(&self, c: &Call<'_>) -> R<String> {
        self.list_inline(c, Kind::User)
    }
    fn put_group_policy(&self, c: &Call<'_>) -> R<String> {
        self.put_inline(c, Kind::Group)
    }
    fn get_group_policy(&self, c: &Call<'_>) -> R<String> {
        self.get_inline(c, Kind::Group)
    }
    fn delete_group_policy(&self, c: &Call<'_>) -> R<String> {
        self.delete_inline(c, Kind::Group)
    }
    fn list_group_policies(&self, c: &Call<'_>) -> R<String> {
        self.list_inline(c, Kind::Group)
    }
    fn put_role_policy(&self, c: &Call<'_>) -> R<String> {
        self.put_inline(c, Kind::Role)
    }
    fn get_role_policy(&self, c: &Call<'_>) -> R<String> {
        self.get_inline(c, Kind::Role)
    }
    fn delete_role_policy(&self, c: &Call<'_>) -> R<String> {
        self.delete_inline(c, Kind::Role)
    }
    fn list_role_policies(&self, c: &Call<'_>) -> R<String> {
        self.list_inline(c, Kind::Role)
    }

    // ---- attached managed policies ----

    fn attach(&self, c: &Call<'_>, kind: Kind) -> R<String> {
        self.iam
            .attach_policy(c.entity(kind)?, c.req("PolicyArn")?)?;
        Ok(String::new())
    }

    fn detach(&self, c: &Call<'_>, kind: Kind) -> R<String> {
        self.iam
            .detach_policy(c.entity(kind)?, c.req("PolicyArn")?)?;
        Ok(String::new())
    }

    fn list_attached(&self, c: &Call<'_>, kind: Kind) -> R<String> {
        let mut arns = self.iam.entity_policies(c.entity(kind)?)?.attached;
        if let Some(prefix) = c.opt("PathPrefix") {
            arns.retain(|a| self.iam.policy(a).is_ok_and(|p| p.path.starts_with(prefix)));
        }
        arns.sort();
        let p = c.page(arns, String::clone)?;
        Ok(format!(
            "{}{}",
            list("AttachedPolicies", shapes::attached(&p.items)),
            truncation(p.marker.as_deref())
        ))
    }

    fn attach_user_policy(&self, c: &Call<'_>) -> R<String> {
        self.attach(c, Kind::User)
    }
    fn detach_user_policy(&self, c: &Call<'_>) -> R<String> {
        self.detach(c, Kind::User)
    }
    fn list_attached_user_policies(&self, c: &Call<'_>) -> R<String> {
        self.list_attached(c, Kind::User)
    }
    fn attach_group_policy(&self, c: &Call<'_>) -> R<String> {
        self.attach(c, Kind::Group)
    }
    fn detach_group_policy(&self, c: &Call<'_>) -> R<String> {
        self.detach(c, Kind::Group)
    }
    fn list_attached_group_policies(&self, c: &Call<'_>) -> R<String> {
        self.list_attached(c, Kind::Group)
    }
    fn attach_role_policy(&self, c: &Call<'_>) -> R<String> {
        self.attach(c, Kind::Role)
    }
    fn detach_role_policy(&self, c: &Call<'_>) -> R<String> {
        self.detach(c, Kind::Role)
    }
    fn list_attached_role_policies(&self, c: &Call<'_>) -> R<String> {
        self.list_attached(c, Kind::Role)
    }

    // ---- permissions boundaries ----

    fn put_user_permissions_boundary(&self, c: &Call<'_>) -> R<String> {
        self.iam
            .set_boundary(c.entity(Kind::User)?, Some(c.req("PermissionsBoundary")?))?;
        Ok(String::new())
    }
    fn delete_user_permissions_boundary(&self, c: &Call<'_>) -> R<String> {
        self.iam.set_boundary(c.entity(Kind::User)?, None)?;
        Ok(String::new())
    }
    fn put_role_permissions_boundary(&self, c: &Call<'_>) -> R<String> {
        self.iam
            .set_boundary(c.entity(Kind::Role)?, Some(c.req("PermissionsBoundary")?))?;
        Ok(String::new())
    }
    fn delete_role_permissions_boundary(&self, c: &Call<'_>) -> R<String> {
        self.iam.set_boundary(c.entity(Kind::Role)?, None)?;
        Ok(String::new())
    }
}

/// `<name>members</name>` around members already written as XML.
fn el_raw(name: &str, members: &str) -> String {
    format!("<{name}>{members}</{name}>")
}
