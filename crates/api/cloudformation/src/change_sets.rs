//! Change sets, as `aws cloudformation deploy` and `sam deploy` make and
//! update stacks. Of type `CREATE`: `CreateChangeSet` stores the stack in
//! `REVIEW_IN_PROGRESS` with the change set (every resource an `Add`),
//! `ExecuteChangeSet` starts its creation. Of type `UPDATE`: the change set
//! keeps the new template and parameters with what they would change
//! (`Add`, `Modify` with its `Replacement`, `Remove`); executing it starts
//! the stack's update.

use crate::error::CfnError;
use crate::shapes::{members, time};
use crate::store::{Change, ChangeSet, StackRecord};
use crate::{CloudFormationApi, deploy};
use nimbus_api_common::ApiError;
use nimbus_api_common::query::Form;
use nimbus_api_common::xml::el;
use std::sync::Arc;

type Answer = Result<String, CfnError>;

fn not_found(name: &str) -> CfnError {
    CfnError(ApiError::new(
        http::StatusCode::NOT_FOUND,
        "ChangeSetNotFound",
        format!("ChangeSet [{name}] does not exist"),
    ))
}

fn invalid_status(message: String) -> CfnError {
    CfnError(ApiError::bad_request("InvalidChangeSetStatus", message))
}

impl CloudFormationApi {
    pub(crate) fn create_change_set(&self, form: &Form, ext: &http::Extensions) -> Answer {
        let name = form
            .get("ChangeSetName")
            .ok_or_else(|| CfnError::missing("ChangeSetName"))?
            .to_string();
        let stack = form.get("StackName").unwrap_or_default();
        let existing = self.stacks.find(stack);
        let in_review = existing
            .as_ref()
            .is_some_and(|s| s.status == "REVIEW_IN_PROGRESS");
        let id = format!(
            "arn:aws:cloudformation:{}:{}:changeSet/{name}/{}",
            self.identity.region,
            self.identity.account,
            uuid::Uuid::new_v4()
        );
        let mut change_set = ChangeSet {
            id: id.clone(),
            name: name.clone(),
            description: form.get("Description").map(str::to_string),
            status: "CREATE_COMPLETE".into(),
            status_reason: None,
            execution_status: "AVAILABLE".into(),
            created_ms: nimbus_model::time::now_millis(),
            adds: Vec::new(),
            changes: Vec::new(),
            settings: None,
        };
        match (form.get("ChangeSetType").unwrap_or("UPDATE"), &existing) {
            ("CREATE", Some(_)) if !in_review => {
                return Err(CfnError(ApiError::bad_request(
                    "AlreadyExistsException",
                    format!(
                        "Stack [{stack}] already exists and cannot be created again with the changeSet [{name}]."
                    ),
                )));
            }
            ("CREATE", _) => {}
            ("UPDATE", None) => {
                return Err(CfnError::validation(format!(
                    "Stack [{stack}] does not exist"
                )));
            }
            ("UPDATE", Some(s)) if s.updatable() && self.unchanged(form, ext, s)? => {
                // Nothing to do: the change set fails as CloudFormation's does,
                // which deployers read as "up to date".
                change_set.status = "FAILED".into();
                change_set.status_reason = Some("The submitted information didn't contain changes. Submit different information to create a change set.".into());
                change_set.execution_status = "UNAVAILABLE".into();
                self.stacks
                    .change(&s.stack_id, |s| s.change_sets.push(change_set))?;
                return Ok(el("Id", &id) + &el("StackId", &s.stack_id));
            }
            ("UPDATE", Some(s)) if s.updatable() => {
                let settings = self.settings(form, ext, &s.name, &s.stack_id, Some(s))?;
                change_set.changes = deploy::preview(&self.deployer(ext), s, &settings)?;
                change_set.settings = Some(Box::new(settings));
                self.stacks
                    .change(&s.stack_id, |s| s.change_sets.push(change_set))?;
                return Ok(el("Id", &id) + &el("StackId", &s.stack_id));
            }
            ("UPDATE", Some(s)) => {
                return Err(CfnError::validation(format!(
                    "Stack:{} is in {} state and can not be updated.",
                    s.stack_id, s.status
                )));
            }
            (other, _) => {
                return Err(CfnError::validation(format!(
                    "1 validation error detected: Value '{other}' at 'changeSetType' failed to satisfy constraint: Member must satisfy enum value set: [IMPORT, UPDATE, CREATE]"
                )));
            }
        }
        let mut rec = self.new_stack(form, ext)?;
        let template = nimbus_templates::parse(&rec.template_body)?;
        change_set.adds = template
            .resources
            .iter()
            .map(|(id, r)| (id.clone(), r.kind.clone()))
            .collect();
        if let Some(review) = existing.filter(|_| in_review) {
            // Another look at a stack not made yet: the newest template wins.
            let stack_id = review.stack_id.clone();
            self.stacks.change(&stack_id, |s| {
                for c in &mut s.change_sets {
                    c.execution_status = "OBSOLETE".into();
                }
                s.template_body = rec.template_body;
                s.description = rec.description;
                s.overrides = rec.overrides;
                s.parameters = rec.parameters;
                s.capabilities = rec.capabilities;
                s.tags = rec.tags;
                s.change_sets.push(change_set);
            })?;
            return Ok(el("Id", &id) + &el("StackId", &stack_id));
        }
        rec.change_sets.push(change_set);
        rec.stack_event("REVIEW_IN_PROGRESS", Some("User Initiated".into()));
        let stack_id = rec.stack_id.clone();
        if self.stacks.create(rec)?.is_err() {
            return Err(CfnError::already_exists(stack));
        }
        Ok(el("Id", &id) + &el("StackId", &stack_id))
    }

    /// Whether a change set's template and parameters are the stack's own.
    fn unchanged(
        &self,
        form: &Form,
        ext: &http::Extensions,
        stack: &StackRecord,
    ) -> Result<bool, CfnError> {
        let body = if form.get("UsePreviousTemplate") == Some("true") {
            stack.template_body.clone()
        } else {
            self.template_body(form, ext)?
        };
        let mut overrides = stack.overrides.clone();
        for m in form.members("Parameters") {
            let f = |n: &str| m.iter().find(|(k, _)| *k == n).map(|(_, v)| v.to_string());
            let Some(key) = f("ParameterKey") else {
                continue;
            };
            if f("UsePreviousValue").as_deref() != Some("true") {
                overrides.insert(key, f("ParameterValue").unwrap_or_default());
            }
        }
        Ok(body == stack.template_body && overrides == stack.overrides)
    }

    /// The stack and change set a `ChangeSetName` (an ARN, or a name with
    /// `StackName`) names.
    fn change_set(&self, form: &Form) -> Result<(Arc<StackRecord>, ChangeSet), CfnError> {
        let name = form
            .get("ChangeSetName")
            .ok_or_else(|| CfnError::missing("ChangeSetName"))?;
        let stacks = match form.get("StackName") {
            Some(s) => self.stacks.find(s).into_iter().collect(),
            None => self.stacks.live(),
        };
        stacks
            .into_iter()
            .find_map(|s| {
                let c = s
                    .change_sets
                    .iter()
                    .find(|c| c.id == name || c.name == name)?
                    .clone();
                Some((s, c))
            })
            .ok_or_else(|| not_found(name))
    }

    pub(crate) fn describe_change_set(&self, form: &Form) -> Answer {
        let (s, c) = self.change_set(form)?;
        let params = members(
            "Parameters",
            s.parameters
                .iter()
                .map(|(k, v)| el("ParameterKey", k) + &el("ParameterValue", v)),
        );
        let adds = c.adds.iter().map(|(id, kind)| Change {
            action: "Add".into(),
            logical_id: id.clone(),
            resource_type: kind.clone(),
            physical_id: None,
            replacement: None,
        });
        let changes = members(
            "Changes",
            adds.chain(c.changes.iter().cloned()).map(|x| {
                let scope = if x.action == "Modify" {
                    "<Scope><member>Properties</member></Scope>"
                } else {
                    "<Scope/>"
                };
                format!(
                    "<Type>Resource</Type><ResourceChange>{}{}{}{}{}{scope}<Details/></ResourceChange>",
                    el("Action", &x.action),
                    el("LogicalResourceId", &x.logical_id),
                    x.physical_id
                        .as_deref()
                        .map(|p| el("PhysicalResourceId", p))
                        .unwrap_or_default(),
                    el("ResourceType", &x.resource_type),
                    x.replacement
                        .as_deref()
                        .map(|r| el("Replacement", r))
                        .unwrap_or_default(),
                )
            }),
        );
        Ok(el("ChangeSetName", &c.name)
            + &el("ChangeSetId", &c.id)
            + &el("StackId", &s.stack_id)
            + &el("StackName", &s.name)
            + &c.description
                .as_deref()
                .map(|d| el("Description", d))
                .unwrap_or_default()
            + &params
            + &el("CreationTime", &time(c.created_ms))
            + &el("ExecutionStatus", &c.execution_status)
            + &el("Status", &c.status)
            + &c.status_reason
                .as_deref()
                .map(|r| el("StatusReason", r))
                .unwrap_or_default()
            + "<NotificationARNs/>"
            + &members(
                "Capabilities",
                s.capabilities
                    .iter()
                    .map(|x| nimbus_api_common::xml::escape(x)),
            )
            + &members(
                "Tags",
                s.tags.iter().map(|(k, v)| el("Key", k) + &el("Value", v)),
            )
            + &changes
            + &el("IncludeNestedStacks", "false"))
    }

    pub(crate) fn execute_change_set(&self, form: &Form, ext: &http::Extensions) -> Answer {
        let (s, c) = self.change_set(form)?;
        if let Some(settings) = c.settings.clone() {
            return self.execute_update(form, ext, &s, &c, *settings);
        }
        if c.execution_status != "AVAILABLE" || s.status != "REVIEW_IN_PROGRESS" {
            return Err(invalid_status(format!(
                "ChangeSet [{}] cannot be executed in its current execution status of [{}]",
                c.id, c.execution_status
            )));
        }
        let disable = form.get("DisableRollback") == Some("true");
        self.stacks.change(&s.stack_id, |s| {
            for other in &mut s.change_sets {
                other.execution_status = if other.id == c.id {
                    "EXECUTE_IN_PROGRESS".into()
                } else {
                    "OBSOLETE".into()
                };
            }
            s.disable_rollback |= disable;
            s.acting = deploy::acting(ext);
            s.stack_event("CREATE_IN_PROGRESS", Some("User Initiated".into()));
        })?;
        deploy::start(self.deployer(ext), s.stack_id.clone());
        Ok(String::new())
    }

    /// Execute a change set of type `UPDATE`: the stack's update starts.
    fn execute_update(
        &self,
        form: &Form,
        ext: &http::Extensions,
        s: &StackRecord,
        c: &ChangeSet,
        settings: crate::store::Settings,
    ) -> Answer {
        if c.execution_status != "AVAILABLE" || !s.updatable() {
            return Err(invalid_status(format!(
                "ChangeSet [{}] cannot be executed in its current execution status of [{}]",
                c.id, c.execution_status
            )));
        }
        let disable = form.get("DisableRollback") == Some("true");
        self.stacks.change(&s.stack_id, |s| {
            for other in &mut s.change_sets {
                other.execution_status = if other.id == c.id {
                    "EXECUTE_IN_PROGRESS".into()
                } else {
                    "OBSOLETE".into()
                };
            }
            s.disable_rollback |= disable;
        })?;
        if !deploy::start_update(
            self.deployer(ext),
            &s.stack_id,
            settings,
            deploy::acting(ext),
        )? {
            return Err(invalid_status(format!(
                "ChangeSet [{}] cannot be executed while the stack is being updated",
                c.id
            )));
        }
        Ok(String::new())
    }

    pub(crate) fn delete_change_set(&self, form: &Form) -> Answer {
        let (s, c) = self.change_set(form)?;
        if c.execution_status == "EXECUTE_IN_PROGRESS" {
            return Err(invalid_status(format!(
                "ChangeSet [{}] cannot be deleted in its current execution status of [{}]",
                c.id, c.execution_status
            )));
        }
        self.stacks.change(&s.stack_id, |s| {
            s.change_sets.retain(|x| x.id != c.id);
        })?;
        Ok(String::new())
    }

    pub(crate) fn list_change_sets(&self, form: &Form) -> Answer {
        let stack = form
            .get("StackName")
            .ok_or_else(|| CfnError::missing("StackName"))?;
        let s = self
            .stacks
            .find(stack)
            .ok_or_else(|| CfnError::no_stack(stack))?;
        Ok(members(
            "Summaries",
            s.change_sets.iter().map(|c| {
                el("StackId", &s.stack_id)
                    + &el("StackName", &s.name)
                    + &el("ChangeSetId", &c.id)
                    + &el("ChangeSetName", &c.name)
                    + &el("ExecutionStatus", &c.execution_status)
                    + &el("Status", &c.status)
                    + &c.status_reason
                        .as_deref()
                        .map(|r| el("StatusReason", r))
                        .unwrap_or_default()
                    + &el("CreationTime", &time(c.created_ms))
                    + &c.description
                        .as_deref()
                        .map(|d| el("Description", d))
                        .unwrap_or_default()
            }),
        ))
    }
}
