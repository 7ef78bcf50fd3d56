//! One handler per operation: read the members the model gives the input
//! shape, act on the stacks, write the output shape's members.

use crate::error::CfnError;
use crate::shapes::{self, members};
use crate::store::{STACK_FORMAT, Settings, StackRecord};
use crate::{CloudFormationApi, Operation, deploy};
use nimbus_api_common::query::Form;
use nimbus_api_common::xml::{el, escape};
use nimbus_templates::{DynamicRef, Pseudo, Resolver, Stack, Template};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

type Answer = Result<String, CfnError>;

/// IAM resource types, which need `CAPABILITY_IAM`, or `CAPABILITY_NAMED_IAM`
/// when they carry the name member.
const IAM_TYPES: &[(&str, &str)] = &[
    ("AWS::IAM::Role", "RoleName"),
    ("AWS::IAM::User", "UserName"),
    ("AWS::IAM::Group", "GroupName"),
    ("AWS::IAM::ManagedPolicy", "ManagedPolicyName"),
    ("AWS::IAM::Policy", ""),
    ("AWS::IAM::AccessKey", ""),
    ("AWS::IAM::InstanceProfile", "InstanceProfileName"),
    ("AWS::IAM::UserToGroupAddition", ""),
];

/// The capability a template needs, if any, and the types that need it.
pub(crate) fn capability(t: &Template) -> Option<(&'static str, Vec<String>)> {
    let mut named = false;
    let mut kinds: Vec<String> = Vec::new();
    for r in t.resources.values() {
        if let Some((kind, name)) = IAM_TYPES.iter().find(|(k, _)| *k == r.kind) {
            named |= !name.is_empty() && r.properties.contains_key(*name);
            if !kinds.iter().any(|k| k == kind) {
                kinds.push(kind.to_string());
            }
        }
    }
    (!kinds.is_empty()).then(|| {
        let cap = if named {
            "CAPABILITY_NAMED_IAM"
        } else {
            "CAPABILITY_IAM"
        };
        (cap, kinds)
    })
}

/// The tags of a `Tags` member.
pub(crate) fn tags(form: &Form) -> Vec<(String, String)> {
    form.members("Tags")
        .iter()
        .filter_map(|m| {
            let f = |n: &str| m.iter().find(|(k, _)| *k == n).map(|(_, v)| v.to_string());
            Some((f("Key")?, f("Value").unwrap_or_default()))
        })
        .collect()
}

/// Checking a template needs no resource yet; the values of SSM-typed
/// parameters are fetched by the deployer, so a placeholder stands for them.
pub(crate) struct Unbound;

impl Resolver for Unbound {
    fn ref_of(&self, id: &str) -> Result<Value, String> {
        Err(format!("Resource {id} does not exist yet"))
    }
    fn attribute(&self, id: &str, _: &str) -> Result<Value, String> {
        Err(format!("Resource {id} does not exist yet"))
    }
    fn import(&self, name: &str) -> Result<Value, String> {
        Err(format!("No export named {name} found."))
    }
    fn dynamic(&self, _: &DynamicRef) -> Result<String, String> {
        Ok(String::new())
    }
}

fn required<'f>(form: &'f Form, member: &str) -> Result<&'f str, CfnError> {
    form.get(member).ok_or_else(|| CfnError::missing(member))
}

/// The bucket and key of a `TemplateURL`: path style
/// (`https://s3.amazonaws.com/BUCKET/KEY`, Nimbus's own endpoint) or virtual
/// hosted (`https://BUCKET.s3[.REGION].amazonaws.com/KEY`).
fn template_location(url: &str) -> Option<(String, String)> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let (host, path) = rest.split_once('/')?;
    let path = path.split(['?', '#']).next().unwrap_or("");
    let host = host.split(':').next().unwrap_or(host);
    if let Some((bucket, _)) = host.split_once(".s3")
        && !bucket.is_empty()
        && host.ends_with(".amazonaws.com")
    {
        return (!path.is_empty()).then(|| (bucket.to_string(), decode_path(path)));
    }
    let (bucket, key) = path.split_once('/')?;
    (!bucket.is_empty() && !key.is_empty()).then(|| (bucket.to_string(), decode_path(key)))
}

/// A URL path's percent escapes decoded (`+` stays itself, as in a path).
fn decode_path(path: &str) -> String {
    let b = path.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
        if b[i] == b'%'
            && let (Some(h), Some(l)) = (
                b.get(i + 1).and_then(|c| hex(*c)),
                b.get(i + 2).and_then(|c| hex(*c)),
            )
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn capabilities_members(t: &Template) -> String {
    match capability(t) {
        Some((cap, kinds)) => {
            members("Capabilities", [escape(cap)])
                + &el(
                    "CapabilitiesReason",
                    &format!(
                        "The following resource(s) require capabilities: [{}]",
                        kinds.join(", ")
                    ),
                )
        }
        None => "<Capabilities/>".to_string(),
    }
}

fn transforms(t: &Template) -> String {
    members("DeclaredTransforms", t.transform.iter().map(|x| escape(x)))
}

/// A stack's name must be CloudFormation's pattern.
fn check_name(name: &str) -> Result<(), CfnError> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-')
        && name.len() <= 128;
    if ok {
        return Ok(());
    }
    Err(CfnError::validation(format!(
        "1 validation error detected: Value '{name}' at 'stackName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z][-a-zA-Z0-9]*|arn:[-a-zA-Z0-9:/._+]*"
    )))
}

impl CloudFormationApi {
    pub(crate) fn execute(&self, op: Operation, form: &Form, ext: &http::Extensions) -> Answer {
        use Operation::*;
        match op {
            ValidateTemplate => self.validate_template(form, ext),
            GetTemplateSummary => self.get_template_summary(form, ext),
            CreateStack => self.create_stack(form, ext),
            UpdateStack => self.update_stack(form, ext),
            DescribeStacks => self.describe_stacks(form),
            DescribeStackEvents => self.describe_stack_events(form),
            DescribeStackResource => self.describe_stack_resource(form),
            DescribeStackResources => self.describe_stack_resources(form),
            ListStackResources => self.list_stack_resources(form),
            ListStacks => self.list_stacks(form),
            GetTemplate => self.get_template(form),
            DeleteStack => self.delete_stack(form, ext),
            ListExports => Ok(self.list_exports()),
            CreateChangeSet => self.create_change_set(form, ext),
            DescribeChangeSet => self.describe_change_set(form),
            ExecuteChangeSet => self.execute_change_set(form, ext),
            DeleteChangeSet => self.delete_change_set(form),
            ListChangeSets => self.list_change_sets(form),
            RollbackStack => self.rollback_stack(form, ext),
        }
    }

    /// The template text of `TemplateBody`, or of the object a `TemplateURL`
    /// names in Nimbus's S3, read as the caller (`s3:GetObject`).
    pub(crate) fn template_body(
        &self,
        form: &Form,
        ext: &http::Extensions,
    ) -> Result<String, CfnError> {
        let url = match (form.get("TemplateBody"), form.get("TemplateURL")) {
            (Some(body), _) => return Ok(body.to_string()),
            (None, Some(url)) => url,
            (None, None) => {
                return Err(CfnError::validation(
                    "Either Template URL or Template Body must be specified.",
                ));
            }
        };
        let unreadable = || {
            CfnError::validation(
                "TemplateURL must reference a valid S3 object to which you have access.",
            )
        };
        let (bucket, key) = template_location(url).ok_or_else(unreadable)?;
        let objects = self.objects.as_ref().ok_or_else(unreadable)?;
        let object = format!("arn:aws:s3:::{bucket}/{key}");
        nimbus_api_common::authz::authorize(ext, |_| {
            vec![nimbus_api_common::authz::Access::new(
                "s3:GetObject",
                object,
            )]
        })
        .map_err(|_| {
            CfnError::validation(
                "S3 error: Access Denied\nFor more information check http://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html",
            )
        })?;
        let bytes = objects.get(&bucket, &key).map_err(|_| unreadable())?;
        String::from_utf8(bytes).map_err(|_| unreadable())
    }

    fn stack(&self, form: &Form) -> Result<Arc<StackRecord>, CfnError> {
        let name = required(form, "StackName")?;
        self.stacks
            .find(name)
            .ok_or_else(|| CfnError::no_stack(name))
    }

    fn validate_template(&self, form: &Form, ext: &http::Extensions) -> Answer {
        let t = nimbus_templates::parse(&self.template_body(form, ext)?)?;
        let params = members(
            "Parameters",
            t.parameters.iter().map(|(k, p)| {
                el("ParameterKey", k)
                    + &p.default
                        .as_deref()
                        .map(|d| el("DefaultValue", d))
                        .unwrap_or_default()
                    + &el("NoEcho", if p.no_echo { "true" } else { "false" })
                    + &p.description
                        .as_deref()
                        .map(|d| el("Description", d))
                        .unwrap_or_default()
            }),
        );
        let desc = t
            .description
            .as_deref()
            .map(|d| el("Description", d))
            .unwrap_or_default();
        Ok(params + &desc + &capabilities_members(&t) + &transforms(&t))
    }

    fn get_template_summary(&self, form: &Form, ext: &http::Extensions) -> Answer {
        let body = match form.get("StackName") {
            Some(_) if form.get("TemplateBody").is_none() => {
                self.stack(form)?.template_body.clone()
            }
            _ => self.template_body(form, ext)?,
        };
        let t = nimbus_templates::parse(&body)?;
        let params = members(
            "Parameters",
            t.parameters.iter().map(|(k, p)| {
                let allowed = p
                    .allowed_values
                    .as_ref()
                    .map(|v| {
                        format!(
                            "<ParameterConstraints>{}</ParameterConstraints>",
                            members("AllowedValues", v.iter().map(|x| escape(x)))
                        )
                    })
                    .unwrap_or_default();
                el("ParameterKey", k)
                    + &p.default
                        .as_deref()
                        .map(|d| el("DefaultValue", d))
                        .unwrap_or_default()
                    + &el("ParameterType", &parameter_type(&p.kind))
                    + &el("NoEcho", if p.no_echo { "true" } else { "false" })
                    + &p.description
                        .as_deref()
                        .map(|d| el("Description", d))
                        .unwrap_or_default()
                    + &allowed
            }),
        );
        let mut kinds: Vec<&str> = t.resources.values().map(|r| r.kind.as_str()).collect();
        kinds.sort_unstable();
        kinds.dedup();
        let desc = t
            .description
            .as_deref()
            .map(|d| el("Description", d))
            .unwrap_or_default();
        let version = t.format_version.as_deref().unwrap_or("2010-09-09");
        let metadata = t
            .metadata
            .as_ref()
            .map(|m| el("Metadata", &m.to_string()))
            .unwrap_or_default();
        Ok(params
            + &desc
            + &capabilities_members(&t)
            + &members("ResourceTypes", kinds.iter().map(|k| escape(k)))
            + &el("Version", version)
            + &metadata
            + &transforms(&t))
    }

    fn create_stack(&self, form: &Form, ext: &http::Extensions) -> Answer {
        let mut rec = self.new_stack(form, ext)?;
        let (name, stack_id) = (rec.name.clone(), rec.stack_id.clone());
        rec.stack_event("CREATE_IN_PROGRESS", Some("User Initiated".into()));
        if self.stacks.create(rec)?.is_err() {
            return Err(CfnError::already_exists(&name));
        }
        deploy::start(self.deployer(ext), stack_id.clone());
        Ok(el("StackId", &stack_id))
    }

    /// A stack as `CreateStack` and `CreateChangeSet` describe it, checked
    /// (template, parameters, plan, capabilities) but not stored, with no
    /// status yet.
    pub(crate) fn new_stack(
        &self,
        form: &Form,
        ext: &http::Extensions,
    ) -> Result<StackRecord, CfnError> {
        let name = required(form, "StackName")?;
        check_name(name)?;
        let stack_id = format!(
            "arn:aws:cloudformation:{}:{}:stack/{name}/{}",
            self.identity.region,
            self.identity.account,
            uuid::Uuid::new_v4()
        );
        let settings = self.settings(form, ext, name, &stack_id, None)?;
        let on_failure = form.get("OnFailure").unwrap_or("ROLLBACK");
        let disable_rollback =
            form.get("DisableRollback") == Some("true") || on_failure == "DO_NOTHING";
        Ok(StackRecord {
            format: STACK_FORMAT,
            stack_id: stack_id.clone(),
            name: name.to_string(),
            template_body: settings.template_body,
            description: settings.description,
            overrides: settings.overrides,
            parameters: settings.parameters,
            capabilities: settings.capabilities,
            tags: settings.tags,
            disable_rollback,
            delete_on_failure: on_failure == "DELETE",
            status: String::new(),
            reason: None,
            created_ms: nimbus_model::time::now_millis(),
            deleted_ms: None,
            outputs: Vec::new(),
            resources: Vec::new(),
            events: Vec::new(),
            acting: deploy::acting(ext),
            imports: Vec::new(),
            change_sets: Vec::new(),
            previous: None,
            retired: Vec::new(),
        })
    }

    /// The template and parameters a request gives for the stack `name`,
    /// checked (template, parameters, plan, capabilities); for an update of
    /// `previous`, with its template and values where the request says
    /// `UsePreviousTemplate` / `UsePreviousValue`, its tags unless new ones
    /// are given, and no resource changing type.
    pub(crate) fn settings(
        &self,
        form: &Form,
        ext: &http::Extensions,
        name: &str,
        stack_id: &str,
        previous: Option<&StackRecord>,
    ) -> Result<Settings, CfnError> {
        let body = match previous {
            Some(p) if form.get("UsePreviousTemplate") == Some("true") => p.template_body.clone(),
            _ => self.template_body(form, ext)?,
        };
        let template = nimbus_templates::parse(&body)?;
        let mut overrides = BTreeMap::new();
        for m in form.members("Parameters") {
            let f = |n: &str| m.iter().find(|(k, _)| *k == n).map(|(_, v)| v.to_string());
            let Some(key) = f("ParameterKey") else {
                continue;
            };
            if f("UsePreviousValue").as_deref() == Some("true") {
                if let Some(v) = previous.and_then(|p| p.overrides.get(&key)) {
                    overrides.insert(key, v.clone());
                }
            } else {
                overrides.insert(key, f("ParameterValue").unwrap_or_default());
            }
        }
        let pseudo = Pseudo::new(&self.identity.account, &self.identity.region, name)
            .with_stack_id(stack_id);
        let bound = Stack::new(&template, &overrides, pseudo, &Unbound)?;
        bound.plan()?;
        let capabilities = form.list("Capabilities");
        if let Some((cap, _)) = capability(&template) {
            let granted = capabilities
                .iter()
                .any(|c| c == cap || c == "CAPABILITY_NAMED_IAM");
            if !granted {
                return Err(CfnError::insufficient_capabilities(cap));
            }
        }
        if let Some(p) = previous {
            let changed: Vec<&str> = p
                .resources
                .iter()
                .filter(|r| {
                    template
                        .resources
                        .get(&r.logical_id)
                        .is_some_and(|t| t.kind != r.resource_type)
                })
                .map(|r| r.logical_id.as_str())
                .collect();
            if !changed.is_empty() {
                return Err(CfnError::validation(format!(
                    "Update of resource type is not permitted. The new template modifies resource type of the following resources: [{}]",
                    changed.join(", ")
                )));
            }
        }
        let parameters = bound
            .parameters()
            .iter()
            .map(|(k, v)| {
                let text = match v {
                    Value::String(s) => s.clone(),
                    Value::Array(items) => items
                        .iter()
                        .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string))
                        .collect::<Vec<_>>()
                        .join(","),
                    other => other.to_string(),
                };
                let shown = if template.parameters.get(k).is_some_and(|p| p.no_echo) {
                    "****".to_string()
                } else {
                    text
                };
                (k.clone(), shown)
            })
            .collect();
        let given_tags = tags(form);
        let tags = match previous {
            Some(p) if given_tags.is_empty() => p.tags.clone(),
            _ => given_tags,
        };
        Ok(Settings {
            template_body: body,
            description: template.description.clone(),
            overrides,
            parameters,
            capabilities,
            tags,
        })
    }

    /// `UpdateStack`: the stack moves to its new template, in the
    /// background.
    fn update_stack(&self, form: &Form, ext: &http::Extensions) -> Answer {
        let s = self.stack(form)?;
        if !s.updatable() {
            return Err(CfnError::validation(format!(
                "Stack:{} is in {} state and can not be updated.",
                s.stack_id, s.status
            )));
        }
        let settings = self.settings(form, ext, &s.name, &s.stack_id, Some(&s))?;
        if settings.template_body == s.template_body
            && settings.overrides == s.overrides
            && settings.tags == s.tags
        {
            return Err(CfnError::validation("No updates are to be performed."));
        }
        // This update's choice: a failure leaves it `UPDATE_FAILED` instead
        // of rolling back.
        let disable = form.get("DisableRollback") == Some("true");
        self.stacks
            .change(&s.stack_id, |s| s.disable_rollback = disable)?;
        if !deploy::start_update(
            self.deployer(ext),
            &s.stack_id,
            settings,
            deploy::acting(ext),
        )? {
            return Err(CfnError::validation(format!(
                "Stack:{} is in UPDATE_IN_PROGRESS state and can not be updated.",
                s.stack_id
            )));
        }
        Ok(el("StackId", &s.stack_id))
    }

    pub(crate) fn deployer(&self, ext: &http::Extensions) -> deploy::Deployer {
        deploy::Deployer {
            stacks: self.stacks.clone(),
            calls: self.calls.clone(),
            identity: self.identity.clone(),
            extensions: ext.clone(),
        }
    }

    fn describe_stacks(&self, form: &Form) -> Answer {
        let stacks = match form.get("StackName") {
            Some(_) => vec![self.stack(form)?],
            None => {
                let mut v = self.stacks.live();
                v.reverse();
                v
            }
        };
        Ok(members("Stacks", stacks.iter().map(|s| shapes::stack(s))))
    }

    fn describe_stack_events(&self, form: &Form) -> Answer {
        let s = self.stack(form)?;
        Ok(members(
            "StackEvents",
            s.events.iter().rev().map(|e| shapes::event(&s, e)),
        ))
    }

    fn describe_stack_resource(&self, form: &Form) -> Answer {
        let s = self.stack(form)?;
        let logical = required(form, "LogicalResourceId")?;
        let r = s.resource(logical).ok_or_else(|| {
            CfnError::validation(format!(
                "Resource {logical} does not exist for stack {}",
                s.name
            ))
        })?;
        Ok(format!(
            "<StackResourceDetail>{}</StackResourceDetail>",
            shapes::resource(&s, r, true, "LastUpdatedTimestamp")
        ))
    }

    fn describe_stack_resources(&self, form: &Form) -> Answer {
        let s = match (form.get("StackName"), form.get("PhysicalResourceId")) {
            (None, Some(p)) => self
                .stacks
                .live()
                .into_iter()
                .find(|s| s.resources.iter().any(|r| r.physical_id == p))
                .ok_or_else(|| CfnError::validation(format!("Stack for {p} does not exist")))?,
            _ => self.stack(form)?,
        };
        let logical = form.get("LogicalResourceId");
        Ok(members(
            "StackResources",
            s.resources
                .iter()
                .filter(|r| logical.is_none_or(|l| l == r.logical_id))
                .map(|r| shapes::resource(&s, r, true, "Timestamp")),
        ))
    }

    fn list_stack_resources(&self, form: &Form) -> Answer {
        let s = self.stack(form)?;
        Ok(members(
            "StackResourceSummaries",
            s.resources
                .iter()
                .map(|r| shapes::resource(&s, r, false, "LastUpdatedTimestamp")),
        ))
    }

    fn list_stacks(&self, form: &Form) -> Answer {
        let filter = form.list("StackStatusFilter");
        Ok(members(
            "StackSummaries",
            self.stacks
                .all()
                .iter()
                .filter(|s| filter.is_empty() || filter.contains(&s.status))
                .map(|s| shapes::summary(s)),
        ))
    }

    fn get_template(&self, form: &Form) -> Answer {
        let s = self.stack(form)?;
        Ok(el("TemplateBody", &s.template_body)
            + &members(
                "StagesAvailable",
                ["Original".to_string(), "Processed".to_string()],
            ))
    }

    fn delete_stack(&self, form: &Form, ext: &http::Extensions) -> Answer {
        let name = required(form, "StackName")?;
        // Deleting a stack that does not exist succeeds, as on CloudFormation.
        let Some(s) = self.stacks.find(name) else {
            return Ok(String::new());
        };
        if s.deleted() || s.status == "DELETE_IN_PROGRESS" {
            return Ok(String::new());
        }
        if s.status.ends_with("_IN_PROGRESS") && s.status != "REVIEW_IN_PROGRESS" {
            return Err(CfnError::validation(format!(
                "Stack [{}] cannot be deleted while in status {}",
                s.name, s.status
            )));
        }
        self.stacks.change(&s.stack_id, |s| {
            s.stack_event("DELETE_IN_PROGRESS", Some("User Initiated".into()));
            s.acting = deploy::acting(ext);
        })?;
        deploy::start_delete(self.deployer(ext), s.stack_id.clone());
        Ok(String::new())
    }

    /// `RollbackStack`: a stack left `UPDATE_FAILED` or `CREATE_FAILED` (with
    /// `DisableRollback`) goes back to its last stable state.
    fn rollback_stack(&self, form: &Form, ext: &http::Extensions) -> Answer {
        let s = self.stack(form)?;
        // Checked and started in one change, so two calls cannot both start one.
        let started = self.stacks.change(&s.stack_id, |r| {
            let (creation, status) = match r.status.as_str() {
                "UPDATE_FAILED" => (false, "UPDATE_ROLLBACK_IN_PROGRESS"),
                "CREATE_FAILED" => (true, "ROLLBACK_IN_PROGRESS"),
                other => return Err(other.to_string()),
            };
            r.stack_event(status, Some("User Initiated".into()));
            r.acting = deploy::acting(ext);
            Ok(creation)
        })?;
        match started {
            Some((_, Ok(creation))) => {
                deploy::start_rollback(self.deployer(ext), s.stack_id.clone(), creation);
                Ok(el("StackId", &s.stack_id))
            }
            Some((_, Err(status))) => Err(CfnError::validation(format!(
                "Stack {} is in {status} state and can not be rolled back",
                s.stack_id
            ))),
            None => Err(CfnError::validation(format!(
                "Stack with id {} does not exist",
                s.stack_id
            ))),
        }
    }

    fn list_exports(&self) -> String {
        members(
            "Exports",
            self.stacks.exports().iter().map(|(name, value, id)| {
                el("ExportingStackId", id) + &el("Name", name) + &el("Value", value)
            }),
        )
    }
}

fn parameter_type(kind: &nimbus_templates::ParameterType) -> String {
    use nimbus_templates::ParameterType as P;
    match kind {
        P::String => "String".into(),
        P::Number => "Number".into(),
        P::NumberList => "List<Number>".into(),
        P::CommaDelimitedList => "CommaDelimitedList".into(),
        P::Aws { name, list: false } => name.clone(),
        P::Aws { name, list: true } => format!("List<{name}>"),
        P::Ssm { value_type, .. } => format!("AWS::SSM::Parameter::Value<{value_type}>"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_urls_name_a_bucket_and_key() {
        let at = |u: &str| template_location(u).map(|(b, k)| format!("{b} {k}"));
        assert_eq!(
            at("https://s3.amazonaws.com/b/t.yaml").as_deref(),
            Some("b t.yaml")
        );
        assert_eq!(
            at("http://127.0.0.1:4566/b/dir/a%20b+c.yaml").as_deref(),
            Some("b dir/a b+c.yaml")
        );
        assert_eq!(at("https://b.s3.amazonaws.com/k").as_deref(), Some("b k"));
        assert_eq!(
            at("https://b.s3.eu-west-1.amazonaws.com/p/k?x=1").as_deref(),
            Some("b p/k")
        );
        assert_eq!(at("https://s3.amazonaws.com/b"), None);
        assert_eq!(at("ftp://x/b/k"), None);
    }

    #[test]
    fn iam_resources_need_capabilities() {
        let t = nimbus_templates::parse("Resources:\n  R:\n    Type: AWS::IAM::Role\n").unwrap();
        assert_eq!(
            capability(&t),
            Some(("CAPABILITY_IAM", vec!["AWS::IAM::Role".to_string()]))
        );
        let t = nimbus_templates::parse("Resources:\n  Q:\n    Type: AWS::SQS::Queue\n").unwrap();
        assert_eq!(capability(&t), None);
    }
}
