//! Stack updates after the resources moved: the cleanup that deletes what
//! the update replaced or dropped (`UPDATE_COMPLETE_CLEANUP_IN_PROGRESS`),
//! and the rollback that returns a failed update to the stack it was:
//! resources updated in place are updated back, resources it made are
//! deleted, the replaced ones (never deleted before the cleanup) are the
//! stack's again (`UPDATE_ROLLBACK_COMPLETE`). Both record their progress
//! resource by resource, so a restart goes on where they stopped.

use super::{Deployer, created_of};
use crate::providers;
use crate::store::{Change, Previous, ResourceRecord, Settings, StackRecord};
use nimbus_templates::{Pseudo, Stack};
use serde_json::Value;

/// What updating `stack` to `settings` would change, as a change set shows
/// it: each resource added, removed, or modified (replaced `True` or
/// `False`; `Conditional` when its new properties depend on what the update
/// makes). Dynamic references are not fetched for it.
pub(crate) fn preview(
    d: &Deployer,
    stack: &StackRecord,
    settings: &Settings,
) -> Result<Vec<Change>, nimbus_templates::Error> {
    let template = nimbus_templates::parse(&settings.template_body)?;
    let Some(snapshot) = d.snapshot(&stack.stack_id, &[]) else {
        return Ok(Vec::new());
    };
    let pseudo = Pseudo::new(&d.identity.account, &d.identity.region, &stack.name)
        .with_stack_id(&stack.stack_id);
    let bound = Stack::new(&template, &settings.overrides, pseudo, &snapshot)?;
    let plan = bound.plan()?;
    let mut changes = Vec::new();
    let mut planned = Vec::new();
    for id in plan.waves.iter().flatten() {
        planned.push(id.clone());
        let kind = template.resources[id].kind.clone();
        let Some(old) = stack.resource(id) else {
            changes.push(change("Add", id, &kind, None, None));
            continue;
        };
        let replacement = match bound.resource(id, &snapshot) {
            Ok(p) => {
                let p = p.unwrap_or_default();
                if old.properties == Value::Object(p.clone()) {
                    continue;
                }
                match super::step_for(&kind, old, &p) {
                    Ok(super::Step::Update) => "False",
                    _ => "True",
                }
            }
            Err(_) => "Conditional",
        };
        let physical = Some(old.physical_id.clone());
        changes.push(change("Modify", id, &kind, physical, Some(replacement)));
    }
    for r in stack
        .resources
        .iter()
        .filter(|r| !planned.contains(&r.logical_id))
    {
        let physical = Some(r.physical_id.clone());
        changes.push(change(
            "Remove",
            &r.logical_id,
            &r.resource_type,
            physical,
            None,
        ));
    }
    Ok(changes)
}

fn change(
    action: &str,
    id: &str,
    kind: &str,
    physical_id: Option<String>,
    replacement: Option<&str>,
) -> Change {
    Change {
        action: action.to_string(),
        logical_id: id.to_string(),
        resource_type: kind.to_string(),
        physical_id,
        replacement: replacement.map(str::to_string),
    }
}

/// Start updating `stack` to `settings`, as the extensions of `d` say:
/// `false` when the stack is no longer in a state to be updated.
pub(crate) fn start_update(
    d: Deployer,
    stack_id: &str,
    settings: Settings,
    acting: Option<crate::store::Acting>,
) -> nimbus_storage::Result<bool> {
    let started = d.stacks.change(stack_id, |s| {
        if !s.updatable() {
            return false;
        }
        // After an update that failed without rolling back, the stack to
        // return to is still the one before it, and what it replaced is
        // still to be cleaned up.
        let fixing = s.status == "UPDATE_FAILED" && s.previous.is_some();
        if !fixing {
            s.previous = Some(Box::new(Previous {
                settings: s.settings(),
                outputs: s.outputs.clone(),
                resources: s.resources.clone(),
                imports: s.imports.clone(),
            }));
            s.retired.clear();
        }
        s.apply(settings);
        s.acting = acting;
        s.stack_event("UPDATE_IN_PROGRESS", Some("User Initiated".into()));
        true
    })?;
    let started = started.is_some_and(|(_, ok)| ok);
    if started {
        super::start(d, stack_id.to_string());
    }
    Ok(started)
}

/// Whether `r` is the very resource (same physical id) the stack had
/// before the update.
fn kept(previous: &Previous, r: &ResourceRecord) -> bool {
    previous
        .resources
        .iter()
        .any(|p| p.logical_id == r.logical_id && p.physical_id == r.physical_id)
}

impl Deployer {
    /// Delete, one by one, what the update retired; then `UPDATE_COMPLETE`.
    /// A resource that will not go is reported and left (the update stands).
    pub(super) async fn finish_update(&self, stack_id: &str) {
        let Some(rec) = self.stacks.get(stack_id) else {
            return;
        };
        if rec.status != "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS" {
            self.record(stack_id, |s| {
                s.stack_event("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", None);
            });
        }
        for r in rec.retired.iter().rev() {
            if r.physical_id.is_empty() || r.retain {
                let status = if r.retain {
                    "DELETE_SKIPPED"
                } else {
                    "DELETE_COMPLETE"
                };
                self.retire(stack_id, r, status, None);
                continue;
            }
            self.record(stack_id, |s| {
                s.detached_event(r, "DELETE_IN_PROGRESS", None);
            });
            let ctx = self.ctx(&rec, &r.logical_id);
            match providers::delete(&ctx, &r.resource_type, &r.physical_id, &r.attributes).await {
                Ok(()) => self.retire(stack_id, r, "DELETE_COMPLETE", None),
                Err(why) => self.retire(stack_id, r, "DELETE_FAILED", Some(why)),
            }
        }
        self.record(stack_id, |s| {
            s.previous = None;
            s.stack_event("UPDATE_COMPLETE", None);
        });
    }

    /// Record the end of a retired resource and forget it.
    fn retire(&self, stack_id: &str, r: &ResourceRecord, status: &str, why: Option<String>) {
        self.record(stack_id, |s| {
            s.detached_event(r, status, why);
            s.retired
                .retain(|x| !(x.logical_id == r.logical_id && x.physical_id == r.physical_id));
        });
    }

    pub(super) async fn fail_update(&self, stack_id: &str, reason: String) {
        // `DisableRollback`: the stack stays as the update left it, to be
        // fixed by another update or rolled back by `RollbackStack`.
        if self
            .stacks
            .get(stack_id)
            .is_some_and(|r| r.disable_rollback)
        {
            self.record(stack_id, |s| s.stack_event("UPDATE_FAILED", Some(reason)));
            return;
        }
        self.record(stack_id, |s| {
            s.stack_event("UPDATE_ROLLBACK_IN_PROGRESS", Some(reason));
        });
        self.roll_back_update(stack_id).await;
    }

    /// Return the stack to what it was before the update.
    pub(super) async fn roll_back_update(&self, stack_id: &str) {
        let Some(rec) = self.stacks.get(stack_id) else {
            return;
        };
        let Some(previous) = rec.previous.clone() else {
            return;
        };
        // The stack keeps saying why it was rolled back.
        let why = rec
            .events
            .iter()
            .rev()
            .find(|e| e.logical_id == rec.name && e.status == "UPDATE_ROLLBACK_IN_PROGRESS")
            .and_then(|e| e.reason.clone());
        let mut failed = self.revert_in_place(&rec, &previous).await;
        if rec.status != "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS" {
            self.record(stack_id, |s| {
                s.stack_event("UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS", None);
            });
        }
        let Some(rec) = self.stacks.get(stack_id) else {
            return;
        };
        for r in rec.resources.iter().rev().filter(|r| !kept(&previous, r)) {
            let id = r.logical_id.clone();
            let forget = |s: &mut StackRecord| {
                s.resources
                    .retain(|x| !(x.logical_id == id && x.physical_id == r.physical_id));
            };
            if r.physical_id.is_empty() {
                self.record(stack_id, forget);
                continue;
            }
            self.record(stack_id, |s| {
                s.detached_event(r, "DELETE_IN_PROGRESS", None);
            });
            let ctx = self.ctx(&rec, &r.logical_id);
            match providers::delete(&ctx, &r.resource_type, &r.physical_id, &r.attributes).await {
                Ok(()) => self.record(stack_id, |s| {
                    s.detached_event(r, "DELETE_COMPLETE", None);
                    forget(s);
                }),
                Err(why) => {
                    failed.push(r.logical_id.clone());
                    self.record(stack_id, |s| {
                        s.detached_event(r, "DELETE_FAILED", Some(why));
                    });
                }
            }
        }
        self.record(stack_id, |s| {
            let Previous {
                settings,
                outputs,
                resources,
                imports,
            } = *previous;
            s.apply(settings);
            s.outputs = outputs;
            s.resources = resources;
            s.imports = imports;
            s.retired.clear();
            s.previous = None;
            if failed.is_empty() {
                s.stack_event("UPDATE_ROLLBACK_COMPLETE", None);
                s.reason = why;
            } else {
                s.stack_event(
                    "UPDATE_ROLLBACK_FAILED",
                    Some(format!(
                        "The following resource(s) failed to roll back: [{}]. ",
                        failed.join(", ")
                    )),
                );
            }
        });
    }

    /// Update back each resource the update changed in place; the logical
    /// ids that would not go back.
    async fn revert_in_place(&self, rec: &StackRecord, previous: &Previous) -> Vec<String> {
        let stack_id = rec.stack_id.as_str();
        let mut failed = Vec::new();
        for r in rec.resources.iter().rev() {
            let Some(p) = previous
                .resources
                .iter()
                .find(|p| p.logical_id == r.logical_id && p.physical_id == r.physical_id)
            else {
                continue;
            };
            if r.physical_id.is_empty() || p.properties == r.properties {
                continue;
            }
            self.record(stack_id, |s| {
                s.resource_event(&r.logical_id, "UPDATE_IN_PROGRESS", None);
            });
            let ctx = self.ctx(rec, &r.logical_id);
            let (now, was) = (
                r.properties.as_object().cloned().unwrap_or_default(),
                p.properties.as_object().cloned().unwrap_or_default(),
            );
            let both = (&now, &was);
            match providers::update(&ctx, &r.resource_type, &created_of(r), both, None).await {
                Ok(_) => self.record(stack_id, |s| {
                    if let Some(x) = s.resource_mut(&r.logical_id) {
                        x.properties = p.properties.clone();
                    }
                    s.resource_event(&r.logical_id, "UPDATE_COMPLETE", None);
                }),
                Err(why) => {
                    failed.push(r.logical_id.clone());
                    self.record(stack_id, |s| {
                        s.resource_event(&r.logical_id, "UPDATE_FAILED", Some(why));
                    });
                }
            }
        }
        failed
    }
}
