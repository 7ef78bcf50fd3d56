//! The deployer: creates a stack's resources wave by wave (the resources of
//! one wave concurrently), recording an event as each one moves; on a
//! failure rolls back (deletes what it made, newest first, keeping
//! `DeletionPolicy: Retain`) unless rollback is disabled; deletes stacks in
//! reverse creation order. It runs in the background after `CreateStack` and
//! `DeleteStack` answer, acting with the extensions (caller, source address,
//! authorizer) of the request that asked.

use crate::providers::{self, Created, Ctx};
use crate::store::{Acting, OutputRecord, ResourceRecord, StackRecord, Stacks};
use crate::{Calls, Identity};
use nimbus_templates::{DynamicRef, Pseudo, Resolver, Stack};
use serde_json::{Map, Value};
use std::sync::Arc;

mod update;

pub(crate) use update::{preview, start_update};

/// What a deployment acts with.
#[derive(Clone)]
pub(crate) struct Deployer {
    pub stacks: Arc<Stacks>,
    pub calls: Arc<dyn Calls>,
    pub identity: Identity,
    pub extensions: http::Extensions,
}

/// Where a request that starts a deployment keeps its task, so that its
/// answer can wait a moment for a quick one (see `CloudFormationApi`'s
/// `Service::handle`).
#[derive(Clone, Default)]
pub(crate) struct Started(pub Arc<std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>>);

impl Started {
    fn keep(d: &Deployer, task: tokio::task::JoinHandle<()>) {
        if let Some(s) = d.extensions.get::<Started>() {
            *s.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(task);
        }
    }

    pub(crate) fn take(&self) -> Option<tokio::task::JoinHandle<()>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// Create the stack's resources, or (with `previous` set) update them.
pub(crate) fn start(d: Deployer, stack_id: String) {
    let kept = d.clone();
    Started::keep(&kept, tokio::spawn(async move { d.run(&stack_id).await }));
}

/// `RollbackStack`: return a stack an operation left failed without rolling
/// back (`DisableRollback`) to its last stable state: an update's
/// (`UPDATE_FAILED`) back to the stack before it, a creation's
/// (`CREATE_FAILED`) to nothing (`ROLLBACK_COMPLETE`).
pub(crate) fn start_rollback(d: Deployer, stack_id: String, creation: bool) {
    let kept = d.clone();
    Started::keep(
        &kept,
        tokio::spawn(async move {
            if creation {
                d.delete(&stack_id, "ROLLBACK").await;
            } else {
                d.roll_back_update(&stack_id).await;
            }
        }),
    );
}

/// What a deployment does to one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    Create,
    Update,
    Replace,
}

/// How a resource moves from `old` to `props`: in place, or replaced —
/// refused when the template names it and the name stays.
fn step_for(kind: &str, old: &ResourceRecord, props: &Map<String, Value>) -> Result<Step, String> {
    if old.resource_type != kind {
        return Err(format!(
            "Update of resource type is not permitted. The new template modifies resource type of the following resources: [{}]",
            old.logical_id
        ));
    }
    // A record from before properties were kept: updated in place if its
    // type allows any update in place.
    let was = old
        .properties
        .as_object()
        .cloned()
        .unwrap_or_else(|| props.clone());
    if !providers::replaces(kind, &was, props) {
        return Ok(Step::Update);
    }
    if let Some(p) = providers::name_property(kind)
        && let Some(name) = props.get(p)
        && was.get(p) == Some(name)
        && old.properties.is_object()
    {
        return Err(format!(
            "CloudFormation cannot update a stack when a custom-named resource requires replacing. Rename {} and update the stack again.",
            name.as_str()
                .map_or_else(|| name.to_string(), str::to_string)
        ));
    }
    Ok(Step::Replace)
}

/// A resource record as its provider made it.
pub(crate) fn created_of(r: &ResourceRecord) -> Created {
    Created {
        physical_id: r.physical_id.clone(),
        reference: r.reference.clone(),
        attributes: r.attributes.clone(),
    }
}

pub(crate) fn start_delete(d: Deployer, stack_id: String) {
    let kept = d.clone();
    Started::keep(
        &kept,
        tokio::spawn(async move {
            d.delete(&stack_id, "DELETE").await;
        }),
    );
}

/// Who a request's deployment acts as, to be kept with the stack.
pub(crate) fn acting(ext: &http::Extensions) -> Option<Acting> {
    let caller = ext.get::<nimbus_api_common::Caller>()?;
    Some(Acting {
        arn: caller.arn.clone(),
        account: caller.account.clone(),
        user_id: caller.user_id.clone(),
        access_key_id: caller.access_key_id.clone(),
        source_ip: ext
            .get::<nimbus_api_common::SourceIp>()
            .map(|ip| ip.0.clone()),
        host: ext.get::<providers::OriginHost>().map(|h| h.0.clone()),
    })
}

/// The extensions a kept [`Acting`] stands for, under `authorizer`.
fn extensions_of(
    acting: Option<&Acting>,
    authorizer: Option<&Arc<dyn nimbus_api_common::authz::Authorizer>>,
) -> http::Extensions {
    let mut ext = http::Extensions::new();
    if let Some(a) = acting {
        ext.insert(nimbus_api_common::Caller {
            arn: a.arn.clone(),
            account: a.account.clone(),
            user_id: a.user_id.clone(),
            access_key_id: a.access_key_id.clone(),
        });
        if let Some(ip) = &a.source_ip {
            ext.insert(nimbus_api_common::SourceIp(ip.clone()));
        }
        if let Some(h) = &a.host {
            ext.insert(providers::OriginHost(h.clone()));
        }
    }
    if let Some(a) = authorizer {
        ext.insert(a.clone());
    }
    ext
}

/// Finish what a restart interrupted, as whoever started it: a creation is
/// failed (the resources being made when the server stopped with it) and
/// rolled back unless rollback is disabled; rollbacks and deletions go on.
/// Returns how many stacks it took up.
pub(crate) fn resume(
    d: &Deployer,
    authorizer: Option<&Arc<dyn nimbus_api_common::authz::Authorizer>>,
) -> usize {
    let mut resumed = 0;
    for s in d.stacks.live() {
        // A stack in review waits for its change set, not for the deployer.
        if !s.status.ends_with("_IN_PROGRESS") || s.status == "REVIEW_IN_PROGRESS" {
            continue;
        }
        let mut d = d.clone();
        d.extensions = extensions_of(s.acting.as_ref(), authorizer);
        let id = s.stack_id.clone();
        resumed += 1;
        match s.status.as_str() {
            "CREATE_IN_PROGRESS" | "UPDATE_IN_PROGRESS" => {
                let in_flight: Vec<&ResourceRecord> = s
                    .resources
                    .iter()
                    .filter(|r| {
                        matches!(
                            r.status.as_str(),
                            "CREATE_IN_PROGRESS" | "UPDATE_IN_PROGRESS"
                        )
                    })
                    .collect();
                let interrupted: Vec<(String, String)> = in_flight
                    .iter()
                    .map(|r| {
                        (
                            r.logical_id.clone(),
                            r.status.replace("IN_PROGRESS", "FAILED"),
                        )
                    })
                    .collect();
                // Made under a generated name, perhaps: look for it by that name.
                let named: Vec<(String, String, String)> = in_flight
                    .iter()
                    .filter(|r| r.physical_id.is_empty())
                    .filter_map(|r| {
                        let name = r.pending_name.clone()?;
                        Some((r.logical_id.clone(), r.resource_type.clone(), name))
                    })
                    .collect();
                let updating = s.status == "UPDATE_IN_PROGRESS";
                let verb = if updating { "update" } else { "create" };
                d.record(&id, |s| {
                    for (r, status) in &interrupted {
                        s.resource_event(
                            r,
                            status,
                            Some(format!(
                                "Nimbus stopped while the resource was being {verb}d"
                            )),
                        );
                    }
                });
                let ids: Vec<&str> = interrupted.iter().map(|(r, _)| r.as_str()).collect();
                let reason = if ids.is_empty() {
                    format!("Nimbus stopped while the stack was being {verb}d. ")
                } else {
                    format!(
                        "The following resource(s) failed to {verb}: [{}]. ",
                        ids.join(", ")
                    )
                };
                tokio::spawn(async move {
                    if let Some(rec) = d.stacks.get(&id) {
                        for (logical_id, kind, name) in named {
                            let ctx = d.ctx(&rec, &logical_id);
                            if let Err(why) = providers::delete_generated(&ctx, &kind, &name).await
                            {
                                tracing::debug!(resource = %name, %why, "no interrupted resource to delete");
                            }
                        }
                    }
                    if updating {
                        d.fail_update(&id, reason).await;
                    } else {
                        d.fail_creation(&id, reason).await;
                    }
                });
            }
            "UPDATE_ROLLBACK_IN_PROGRESS" | "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS" => {
                tokio::spawn(async move {
                    d.roll_back_update(&id).await;
                });
            }
            "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS" => {
                tokio::spawn(async move {
                    d.finish_update(&id).await;
                });
            }
            "ROLLBACK_IN_PROGRESS" => {
                tokio::spawn(async move {
                    d.delete(&id, "ROLLBACK").await;
                });
            }
            _ => {
                tokio::spawn(async move {
                    d.delete(&id, "DELETE").await;
                });
            }
        }
    }
    resumed
}

/// What the resources made so far answer for `Ref`, `Fn::GetAtt` and
/// `Fn::ImportValue`, and the values of the dynamic references fetched so
/// far. A reference not fetched yet is noted in `missing` and answered with
/// a placeholder: the caller fetches what is missing and resolves again
/// (the template engine is synchronous; the services are not).
struct Snapshot {
    stack: Arc<StackRecord>,
    exports: Vec<(String, String, String)>,
    fetched: Vec<(DynamicRef, String)>,
    missing: std::sync::Mutex<Vec<DynamicRef>>,
    /// The exports resolved through it.
    imported: std::sync::Mutex<Vec<String>>,
}

impl Snapshot {
    fn take_missing(&self) -> Vec<DynamicRef> {
        std::mem::take(&mut *self.missing.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl Resolver for Snapshot {
    fn ref_of(&self, id: &str) -> Result<Value, String> {
        match self.stack.resource(id) {
            Some(r) if !r.physical_id.is_empty() => Ok(r.reference.clone()),
            _ => Err(format!("Resource {id} does not exist")),
        }
    }

    fn attribute(&self, id: &str, name: &str) -> Result<Value, String> {
        let r = self
            .stack
            .resource(id)
            .ok_or_else(|| format!("Resource {id} does not exist"))?;
        r.attributes.get(name).cloned().ok_or_else(|| {
            format!(
                "Template error: resource {id} does not support attribute type {name} in Fn::GetAtt"
            )
        })
    }

    fn import(&self, name: &str) -> Result<Value, String> {
        let (_, value, _) = self
            .exports
            .iter()
            .find(|(n, _, id)| n == name && *id != self.stack.stack_id)
            .ok_or_else(|| format!("No export named {name} found."))?;
        self.imported
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(name.to_string());
        Ok(Value::String(value.clone()))
    }

    fn dynamic(&self, r: &DynamicRef) -> Result<String, String> {
        if let Some((_, v)) = self.fetched.iter().find(|(f, _)| f == r) {
            return Ok(v.clone());
        }
        self.missing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(r.clone());
        Ok(String::new())
    }
}

impl Deployer {
    fn snapshot(&self, stack_id: &str, fetched: &[(DynamicRef, String)]) -> Option<Snapshot> {
        Some(Snapshot {
            stack: self.stacks.get(stack_id)?,
            exports: self.stacks.exports(),
            fetched: fetched.to_vec(),
            missing: std::sync::Mutex::new(Vec::new()),
            imported: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// Run `resolve` against `snapshot`; if it met dynamic references not
    /// fetched yet, fetch them (as the caller) and run it once more.
    async fn resolving<T>(
        &self,
        snapshot: &mut Snapshot,
        ctx: &Ctx,
        resolve: impl Fn(&Snapshot) -> Result<T, nimbus_templates::Error>,
    ) -> Result<T, String> {
        let first = resolve(snapshot);
        let missing = snapshot.take_missing();
        if missing.is_empty() {
            return first.map_err(|e| e.to_string());
        }
        for r in missing {
            let value = providers::dynamic(ctx, &r).await?;
            snapshot.fetched.push((r, value));
        }
        resolve(snapshot).map_err(|e| e.to_string())
    }

    fn ctx(&self, stack: &StackRecord, logical_id: &str) -> Ctx {
        let (stacks, stack_id, id) = (
            self.stacks.clone(),
            stack.stack_id.clone(),
            logical_id.to_string(),
        );
        let claim = move |name: &str| {
            let kept = stacks.change(&stack_id, |s| {
                if let Some(r) = s.resource_mut(&id) {
                    r.pending_name = Some(name.to_string());
                }
            });
            if let Err(e) = kept {
                tracing::error!(stack = %stack_id, error = %e, "record a generated name");
            }
        };
        Ctx {
            calls: self.calls.clone(),
            extensions: self.extensions.clone(),
            stack_name: stack.name.clone(),
            logical_id: logical_id.to_string(),
            region: self.identity.region.clone(),
            claim: Some(Arc::new(claim)),
        }
    }

    /// Record a change; a failed write is logged here (the deployment goes on
    /// with what it knows).
    fn record(&self, stack_id: &str, f: impl FnOnce(&mut StackRecord)) {
        if let Err(e) = self.stacks.change(stack_id, f) {
            tracing::error!(stack = stack_id, error = %e, "record a stack change");
        }
    }

    /// Create a stack's resources, or update them to its new template.
    async fn run(&self, stack_id: &str) {
        let updating = self
            .stacks
            .get(stack_id)
            .is_some_and(|s| s.previous.is_some());
        let outcome = self.deploy_resources(stack_id, updating).await;
        let executed = if outcome.is_ok() {
            "EXECUTE_COMPLETE"
        } else {
            "EXECUTE_FAILED"
        };
        self.record(stack_id, |s| {
            for c in &mut s.change_sets {
                if c.execution_status == "EXECUTE_IN_PROGRESS" {
                    c.execution_status = executed.to_string();
                }
            }
        });
        match (outcome, updating) {
            (Ok(()), false) => self.record(stack_id, |s| s.stack_event("CREATE_COMPLETE", None)),
            (Err(failure), false) => self.fail_creation(stack_id, failure).await,
            (Ok(()), true) => self.finish_update(stack_id).await,
            (Err(failure), true) => self.fail_update(stack_id, failure).await,
        }
    }

    /// Create or update every resource of the stack's template and resolve
    /// the outputs; on a failure, the stack's reason.
    async fn deploy_resources(&self, stack_id: &str, updating: bool) -> Result<(), String> {
        let rec = self.stacks.get(stack_id).ok_or("the stack is gone")?;
        let template = nimbus_templates::parse(&rec.template_body).map_err(|e| e.to_string())?;
        let pseudo = Pseudo::new(&self.identity.account, &self.identity.region, &rec.name)
            .with_stack_id(stack_id);
        let mut snapshot = self.snapshot(stack_id, &[]).ok_or("the stack is gone")?;
        let ctx = self.ctx(&rec, &rec.name);
        let bound = self
            .resolving(&mut snapshot, &ctx, |s| {
                Stack::new(&template, &rec.overrides, pseudo.clone(), s)
            })
            .await?;
        let plan = bound.plan().map_err(|e| e.to_string())?;
        let placeholders = providers::ec2::allowed(&template);
        let mut fetched = snapshot.fetched;
        for wave in &plan.waves {
            let mut tasks = tokio::task::JoinSet::new();
            let mut snapshot = self
                .snapshot(stack_id, &fetched)
                .ok_or("the stack is gone")?;
            let mut failed = Vec::new();
            let mut running = std::collections::BTreeSet::new();
            for id in wave {
                let r = &template.resources[id];
                let ctx = self.ctx(&snapshot.stack, id);
                let resolved = self
                    .resolving(&mut snapshot, &ctx, |s| bound.resource(id, s))
                    .await;
                let existing = snapshot.stack.resource(id).cloned();
                let props = match resolved {
                    Ok(p) => p.unwrap_or_default(),
                    Err(e) => {
                        self.begin(
                            stack_id,
                            id,
                            r,
                            existing.as_ref(),
                            Value::Null,
                            Step::Create,
                        );
                        failed.push((id.clone(), e));
                        continue;
                    }
                };
                if providers::ec2::KINDS.contains(&r.kind.as_str()) && !placeholders.contains(id) {
                    self.begin(
                        stack_id,
                        id,
                        r,
                        existing.as_ref(),
                        Value::Null,
                        Step::Create,
                    );
                    failed.push((id.clone(), format!(
                        "Nimbus does not support resource type {}: EC2 resources are accepted only as placeholders that a Lambda function's VpcConfig refers to",
                        r.kind
                    )));
                    continue;
                }
                let step = match &existing {
                    None => Step::Create,
                    Some(old) if old.properties == Value::Object(props.clone()) => continue,
                    Some(old) => match step_for(&r.kind, old, &props) {
                        Ok(step) => step,
                        Err(why) => {
                            failed.push((id.clone(), why));
                            self.record(stack_id, |s| {
                                s.resource_event(id, "UPDATE_IN_PROGRESS", None);
                            });
                            continue;
                        }
                    },
                };
                let policy = match step {
                    Step::Update => self
                        .resolving(&mut snapshot, &ctx, |s| bound.update_policy(id, s))
                        .await
                        .ok()
                        .flatten(),
                    _ => None,
                };
                let was = existing.as_ref().map(created_of);
                let old_props = existing
                    .as_ref()
                    .and_then(|o| o.properties.as_object().cloned())
                    .unwrap_or_default();
                self.begin(
                    stack_id,
                    id,
                    r,
                    existing.as_ref(),
                    Value::Object(props.clone()),
                    step,
                );
                let kind = r.kind.clone();
                let id = id.clone();
                running.insert(id.clone());
                tasks.spawn(async move {
                    let made = match (step, was) {
                        (Step::Update, Some(was)) => {
                            let both = (&old_props, &props);
                            providers::update(&ctx, &kind, &was, both, policy.as_ref()).await
                        }
                        _ => providers::create(&ctx, &kind, &props).await,
                    };
                    (id, step, made)
                });
            }
            self.keep_imports(stack_id, &snapshot);
            fetched = snapshot.fetched;
            while let Some(done) = tasks.join_next().await {
                let Ok((id, step, made)) = done else {
                    continue;
                };
                running.remove(&id);
                match made {
                    Ok(created) => self.created(stack_id, &id, step, created),
                    Err(reason) => failed.push((id, reason)),
                }
            }
            // A provider that panicked answered nothing.
            failed.extend(
                running
                    .into_iter()
                    .map(|id| (id, "Internal failure".to_string())),
            );
            if !failed.is_empty() {
                failed.sort();
                let names: Vec<&str> = failed.iter().map(|(id, _)| id.as_str()).collect();
                let verb = if updating { "update" } else { "create" };
                let reason = format!(
                    "The following resource(s) failed to {verb}: [{}]. ",
                    names.join(", ")
                );
                self.record(stack_id, |s| {
                    for (id, why) in failed {
                        let status = match s.resource(&id).map(|r| r.status.as_str()) {
                            Some("UPDATE_IN_PROGRESS") => "UPDATE_FAILED",
                            _ => "CREATE_FAILED",
                        };
                        s.resource_event(&id, status, Some(why));
                    }
                });
                return Err(reason);
            }
        }
        let mut snapshot = self
            .snapshot(stack_id, &fetched)
            .ok_or("the stack is gone")?;
        let outputs = self
            .resolving(&mut snapshot, &ctx, |s| bound.outputs(s))
            .await?;
        self.keep_imports(stack_id, &snapshot);
        let mut records = Vec::new();
        for (key, o) in outputs {
            if let Some(name) = &o.export_name
                && let Some((_, _, other)) = snapshot
                    .exports
                    .iter()
                    .find(|(n, _, id)| n == name && id != stack_id)
            {
                return Err(format!(
                    "Export with name {name} is already exported by stack {other}"
                ));
            }
            records.push(OutputRecord {
                key,
                value: text(&o.value),
                description: o.description,
                export_name: o.export_name,
            });
        }
        if updating && let Some(rec) = self.stacks.get(stack_id) {
            self.check_exports_in_use(&rec, &records)?;
        }
        let planned: std::collections::BTreeSet<&String> = plan.waves.iter().flatten().collect();
        self.record(stack_id, |s| {
            s.outputs = records;
            // What the template no longer has goes when the update completes.
            let (kept, gone) = std::mem::take(&mut s.resources)
                .into_iter()
                .partition(|r| planned.contains(&r.logical_id));
            s.resources = kept;
            s.retired.extend::<Vec<_>>(gone);
        });
        Ok(())
    }

    /// Record that `id` starts its `step` with `props`: a new record for a
    /// creation or a replacement (the replaced one retired), the new
    /// properties for an update in place (so that a rollback reverts them
    /// even if the update fails half-way).
    fn begin(
        &self,
        stack_id: &str,
        id: &str,
        r: &nimbus_templates::Resource,
        existing: Option<&ResourceRecord>,
        props: Value,
        step: Step,
    ) {
        let fresh = || ResourceRecord {
            logical_id: id.to_string(),
            resource_type: r.kind.clone(),
            physical_id: String::new(),
            status: String::new(),
            reason: None,
            updated_ms: nimbus_model::time::now_millis(),
            reference: Value::Null,
            attributes: Map::new(),
            retain: r.deletion_policy.as_deref() == Some("Retain"),
            pending_name: None,
            properties: props.clone(),
        };
        self.record(stack_id, |s| match (step, existing) {
            (Step::Create, None) => {
                s.resources.push(fresh());
                s.resource_event(id, "CREATE_IN_PROGRESS", None);
            }
            (Step::Create, Some(_)) => {
                s.resource_event(id, "UPDATE_IN_PROGRESS", None);
            }
            (Step::Replace, _) => {
                if let Some(i) = s.resources.iter().position(|x| x.logical_id == id) {
                    // A replaced resource is kept by `UpdateReplacePolicy: Retain`.
                    let mut old = s.resources.remove(i);
                    old.retain = r.update_replace_policy.as_deref() == Some("Retain");
                    s.retired.push(old);
                }
                s.resources.push(fresh());
                s.resource_event(
                    id,
                    "UPDATE_IN_PROGRESS",
                    Some("Requested update requires the creation of a new physical resource; hence creating one.".into()),
                );
            }
            (Step::Update, _) => {
                if let Some(x) = s.resource_mut(id) {
                    x.properties = props.clone();
                    x.retain = r.deletion_policy.as_deref() == Some("Retain");
                }
                s.resource_event(id, "UPDATE_IN_PROGRESS", None);
            }
        });
    }

    fn created(&self, stack_id: &str, id: &str, step: Step, created: Created) {
        self.record(stack_id, |s| {
            if let Some(r) = s.resource_mut(id) {
                r.physical_id = created.physical_id;
                r.reference = created.reference;
                r.attributes = created.attributes;
            }
            let status = match step {
                Step::Create => "CREATE_COMPLETE",
                _ => "UPDATE_COMPLETE",
            };
            let placeholder = s
                .resource(id)
                .is_some_and(|r| providers::ec2::KINDS.contains(&r.resource_type.as_str()));
            s.resource_event(
                id,
                status,
                placeholder.then(|| providers::ec2::NOTE.to_string()),
            );
        });
    }

    async fn fail_creation(&self, stack_id: &str, reason: String) {
        let Some(rec) = self.stacks.get(stack_id) else {
            return;
        };
        if rec.disable_rollback {
            self.record(stack_id, |s| s.stack_event("CREATE_FAILED", Some(reason)));
            return;
        }
        self.record(stack_id, |s| {
            s.stack_event(
                "ROLLBACK_IN_PROGRESS",
                Some(format!("{reason}Rollback requested by user.")),
            );
        });
        if self.delete(stack_id, "ROLLBACK").await && rec.delete_on_failure {
            self.record(stack_id, |s| s.stack_event("DELETE_IN_PROGRESS", None));
            self.delete(stack_id, "DELETE").await;
        }
    }

    /// Delete the stack's resources, newest first; `phase` is `DELETE` (the
    /// stack ends `DELETE_COMPLETE`) or `ROLLBACK` (`ROLLBACK_COMPLETE`).
    /// Whether every resource went.
    /// Note the exports `snapshot` resolved as imported by the stack.
    fn keep_imports(&self, stack_id: &str, snapshot: &Snapshot) {
        let names =
            std::mem::take(&mut *snapshot.imported.lock().unwrap_or_else(|p| p.into_inner()));
        if names.is_empty() {
            return;
        }
        self.record(stack_id, |s| {
            for n in names {
                if !s.imports.contains(&n) {
                    s.imports.push(n);
                }
            }
        });
    }

    /// Why the stack cannot be deleted yet: another live stack imports one of
    /// its exports.
    fn imported_elsewhere(&self, rec: &StackRecord) -> Option<String> {
        let live = self.stacks.live();
        rec.outputs
            .iter()
            .filter_map(|o| o.export_name.as_ref())
            .find_map(|name| {
                let user = live
                    .iter()
                    .find(|s| s.stack_id != rec.stack_id && s.imports.contains(name))?;
                Some(format!(
                    "Export {name} cannot be deleted as it is in use by {}",
                    user.name
                ))
            })
    }

    /// An update may not drop or change an export another live stack
    /// imports (CloudFormation's rule): the reason to fail it.
    fn check_exports_in_use(&self, rec: &StackRecord, new: &[OutputRecord]) -> Result<(), String> {
        let live = self.stacks.live();
        for old in &rec.outputs {
            let Some(name) = &old.export_name else {
                continue;
            };
            let Some(user) = live
                .iter()
                .find(|s| s.stack_id != rec.stack_id && s.imports.contains(name))
            else {
                continue;
            };
            match new.iter().find(|o| o.export_name.as_ref() == Some(name)) {
                None => {
                    return Err(format!(
                        "Export {name} cannot be deleted as it is in use by {}",
                        user.name
                    ));
                }
                Some(o) if o.value != old.value => {
                    return Err(format!(
                        "Cannot update export {name} as it is in use by {}",
                        user.name
                    ));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    async fn delete(&self, stack_id: &str, phase: &str) -> bool {
        let Some(rec) = self.stacks.get(stack_id) else {
            return false;
        };
        if phase == "DELETE"
            && let Some(reason) = self.imported_elsewhere(&rec)
        {
            self.record(stack_id, |s| s.stack_event("DELETE_FAILED", Some(reason)));
            return false;
        }
        let mut failed = Vec::new();
        for r in rec.resources.iter().rev() {
            if r.status == "DELETE_COMPLETE" || r.status == "DELETE_SKIPPED" {
                continue;
            }
            if r.physical_id.is_empty() {
                // Never made: nothing to delete.
                self.record(stack_id, |s| {
                    s.resource_event(&r.logical_id, "DELETE_COMPLETE", None);
                });
                continue;
            }
            if r.retain {
                self.record(stack_id, |s| {
                    s.resource_event(&r.logical_id, "DELETE_SKIPPED", None);
                });
                continue;
            }
            self.record(stack_id, |s| {
                s.resource_event(&r.logical_id, "DELETE_IN_PROGRESS", None);
            });
            let ctx = self.ctx(&rec, &r.logical_id);
            match providers::delete(&ctx, &r.resource_type, &r.physical_id, &r.attributes).await {
                Ok(()) => self.record(stack_id, |s| {
                    s.resource_event(&r.logical_id, "DELETE_COMPLETE", None);
                }),
                Err(why) => {
                    failed.push(r.logical_id.clone());
                    self.record(stack_id, |s| {
                        s.resource_event(&r.logical_id, "DELETE_FAILED", Some(why));
                    });
                }
            }
        }
        let ok = failed.is_empty();
        self.record(stack_id, |s| {
            let reason = (!ok).then(|| {
                format!(
                    "The following resource(s) failed to delete: [{}]. ",
                    failed.join(", ")
                )
            });
            let kept = s.reason.clone();
            s.stack_event(
                &format!("{phase}_{}", if ok { "COMPLETE" } else { "FAILED" }),
                reason.clone(),
            );
            // A rolled-back stack keeps saying why it was rolled back.
            s.reason = reason.or(if phase == "ROLLBACK" { kept } else { None });
            if ok && phase == "DELETE" {
                s.deleted_ms = Some(nimbus_model::time::now_millis());
                s.outputs.clear();
            }
        });
        ok
    }
}

/// An output's value as CloudFormation shows it: lists joined by commas.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}
