//! Stacks as durable records: each stack (its template, parameters, status,
//! outputs), its resources (logical id, physical id, type, status, what
//! `Ref` and `Fn::GetAtt` give) and its events, one record per stack in
//! `storage::records`, keyed by stack id. Deleted stacks stay listed
//! (`DELETE_COMPLETE`) as CloudFormation keeps them for `ListStacks`.

use nimbus_storage::records::{Record, Records};
use nimbus_storage::{KvEngine, Table};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

const STACKS: Table = Table("cfn_stacks");
/// The on-disk format of [`StackRecord`].
pub const STACK_FORMAT: u32 = 1;

/// One stack event, as `DescribeStackEvents` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub event_id: String,
    pub logical_id: String,
    pub physical_id: String,
    pub resource_type: String,
    pub timestamp_ms: u64,
    pub status: String,
    pub reason: Option<String>,
}

/// One resource of a stack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceRecord {
    pub logical_id: String,
    pub resource_type: String,
    /// Empty until the resource exists.
    pub physical_id: String,
    pub status: String,
    pub reason: Option<String>,
    pub updated_ms: u64,
    /// What `Ref` gives.
    pub reference: Value,
    /// What `Fn::GetAtt` gives, by attribute name.
    pub attributes: Map<String, Value>,
    /// `DeletionPolicy: Retain`.
    pub retain: bool,
    /// The name generated for it before the call that creates it, so that
    /// one whose creation a crash interrupted can still be found and deleted.
    #[serde(default)]
    pub pending_name: Option<String>,
    /// The properties it was made or last updated with, resolved: an update
    /// compares the template's new ones with them.
    #[serde(default)]
    pub properties: Value,
}

/// A resolved output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputRecord {
    pub key: String,
    pub value: String,
    pub description: Option<String>,
    pub export_name: Option<String>,
}

/// A stack and everything it holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StackRecord {
    pub format: u32,
    pub stack_id: String,
    pub name: String,
    pub template_body: String,
    pub description: Option<String>,
    /// The parameters as given (key, value), before defaults.
    pub overrides: BTreeMap<String, String>,
    /// Every parameter's bound value, as `DescribeStacks` shows it.
    pub parameters: Vec<(String, String)>,
    pub capabilities: Vec<String>,
    pub tags: Vec<(String, String)>,
    pub disable_rollback: bool,
    /// `OnFailure: DELETE`: a failed creation deletes the stack.
    pub delete_on_failure: bool,
    pub status: String,
    pub reason: Option<String>,
    pub created_ms: u64,
    pub deleted_ms: Option<u64>,
    pub outputs: Vec<OutputRecord>,
    pub resources: Vec<ResourceRecord>,
    /// Oldest first; answers give them newest first.
    pub events: Vec<Event>,
    /// Who asked for the operation in progress, so that a deployment the
    /// server's restart interrupted goes on as them.
    #[serde(default)]
    pub acting: Option<Acting>,
    /// The exports of other stacks it imports (`Fn::ImportValue`): those
    /// stacks cannot be deleted while it lives.
    #[serde(default)]
    pub imports: Vec<String>,
    /// Its change sets (of type `CREATE`: the stack waits in
    /// `REVIEW_IN_PROGRESS` until one is executed).
    #[serde(default)]
    pub change_sets: Vec<ChangeSet>,
    /// While an update runs, what the stack was before it (a rollback
    /// returns to it).
    #[serde(default)]
    pub previous: Option<Box<Previous>>,
    /// While an update runs, the resources it replaced or the template no
    /// longer has: deleted when it completes, kept when it rolls back.
    #[serde(default)]
    pub retired: Vec<ResourceRecord>,
}

/// What an update sets: the template and what goes with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub template_body: String,
    pub description: Option<String>,
    pub overrides: BTreeMap<String, String>,
    pub parameters: Vec<(String, String)>,
    pub capabilities: Vec<String>,
    pub tags: Vec<(String, String)>,
}

/// A stack as it was before an update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Previous {
    pub settings: Settings,
    pub outputs: Vec<OutputRecord>,
    pub resources: Vec<ResourceRecord>,
    pub imports: Vec<String>,
}

/// One change a change set would make, as `DescribeChangeSet` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// `Add`, `Modify` or `Remove`.
    pub action: String,
    pub logical_id: String,
    pub resource_type: String,
    pub physical_id: Option<String>,
    /// For `Modify`: `True`, `False` or `Conditional`.
    pub replacement: Option<String>,
}

/// A change set: what executing it would do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeSet {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub status: String,
    #[serde(default)]
    pub status_reason: Option<String>,
    pub execution_status: String,
    pub created_ms: u64,
    /// The resources it adds: logical id and type.
    pub adds: Vec<(String, String)>,
    /// For a change set of type `UPDATE`: what it changes.
    #[serde(default)]
    pub changes: Vec<Change>,
    /// For a change set of type `UPDATE`: what executing it sets.
    #[serde(default)]
    pub settings: Option<Box<Settings>>,
}

/// The identity a deployment acts as: the `Caller`, source address and
/// `Host` of the request that started it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Acting {
    pub arn: String,
    pub account: String,
    pub user_id: String,
    pub access_key_id: String,
    pub source_ip: Option<String>,
    pub host: Option<String>,
}

impl Record for StackRecord {
    fn key(&self) -> &str {
        &self.stack_id
    }
    fn format(&self) -> u32 {
        self.format
    }
}

impl StackRecord {
    pub fn resource(&self, logical_id: &str) -> Option<&ResourceRecord> {
        self.resources.iter().find(|r| r.logical_id == logical_id)
    }

    pub fn resource_mut(&mut self, logical_id: &str) -> Option<&mut ResourceRecord> {
        self.resources
            .iter_mut()
            .find(|r| r.logical_id == logical_id)
    }

    /// Its template and what goes with it.
    pub fn settings(&self) -> Settings {
        Settings {
            template_body: self.template_body.clone(),
            description: self.description.clone(),
            overrides: self.overrides.clone(),
            parameters: self.parameters.clone(),
            capabilities: self.capabilities.clone(),
            tags: self.tags.clone(),
        }
    }

    pub fn apply(&mut self, s: Settings) {
        self.template_body = s.template_body;
        self.description = s.description;
        self.overrides = s.overrides;
        self.parameters = s.parameters;
        self.capabilities = s.capabilities;
        self.tags = s.tags;
    }

    /// Whether an update may start: the stack is settled (an update that
    /// failed without rolling back may be fixed by another).
    pub fn updatable(&self) -> bool {
        matches!(
            self.status.as_str(),
            "CREATE_COMPLETE" | "UPDATE_COMPLETE" | "UPDATE_ROLLBACK_COMPLETE" | "UPDATE_FAILED"
        )
    }

    /// Record an event for a resource no longer (or not yet) in
    /// `resources`: one an update replaced.
    pub fn detached_event(&mut self, r: &ResourceRecord, status: &str, reason: Option<String>) {
        self.push_event(
            &r.logical_id,
            &r.physical_id,
            &r.resource_type,
            status,
            reason,
        );
    }

    /// Whether the stack is gone (it stays listed).
    pub fn deleted(&self) -> bool {
        self.status == "DELETE_COMPLETE"
    }

    /// Record an event for the stack itself and move it to `status`; the
    /// event's reason becomes the stack's, except the request's "User
    /// Initiated".
    pub fn stack_event(&mut self, status: &str, reason: Option<String>) {
        let (id, name) = (self.stack_id.clone(), self.name.clone());
        self.status = status.to_string();
        self.reason = reason.clone().filter(|r| r != "User Initiated");
        self.push_event(&name, &id, "AWS::CloudFormation::Stack", status, reason);
    }

    /// Record an event for a resource and move it to `status`.
    pub fn resource_event(&mut self, logical_id: &str, status: &str, reason: Option<String>) {
        let now = nimbus_model::time::now_millis();
        let Some(r) = self.resource_mut(logical_id) else {
            return;
        };
        r.status = status.to_string();
        r.reason.clone_from(&reason);
        r.updated_ms = now;
        let (physical, kind) = (r.physical_id.clone(), r.resource_type.clone());
        self.push_event(logical_id, &physical, &kind, status, reason);
    }

    fn push_event(
        &mut self,
        logical_id: &str,
        physical_id: &str,
        resource_type: &str,
        status: &str,
        reason: Option<String>,
    ) {
        self.events.push(Event {
            event_id: uuid::Uuid::new_v4().to_string(),
            logical_id: logical_id.to_string(),
            physical_id: physical_id.to_string(),
            resource_type: resource_type.to_string(),
            timestamp_ms: nimbus_model::time::now_millis(),
            status: status.to_string(),
            reason,
        });
    }
}

/// Every stack, live and deleted.
pub struct Stacks {
    records: Records<StackRecord>,
}

impl Stacks {
    pub fn open(kv: Arc<dyn KvEngine>) -> nimbus_storage::Result<Stacks> {
        Ok(Stacks {
            records: Records::open(kv, STACKS, STACK_FORMAT)?,
        })
    }

    /// A stack by name (the live one) or by id (live or deleted), as
    /// CloudFormation's `StackName` members accept either.
    pub fn find(&self, name_or_id: &str) -> Option<Arc<StackRecord>> {
        if name_or_id.starts_with("arn:") {
            return self.records.get(name_or_id);
        }
        self.live().into_iter().find(|s| s.name == name_or_id)
    }

    /// Stacks that are not deleted, oldest first.
    pub fn live(&self) -> Vec<Arc<StackRecord>> {
        let mut v: Vec<_> = self
            .records
            .all()
            .into_iter()
            .filter(|s| !s.deleted())
            .collect();
        v.sort_by_key(|s| s.created_ms);
        v
    }

    /// Every stack, deleted ones too, newest first.
    pub fn all(&self) -> Vec<Arc<StackRecord>> {
        let mut v = self.records.all();
        v.sort_by_key(|s| std::cmp::Reverse(s.created_ms));
        v
    }

    pub fn get(&self, stack_id: &str) -> Option<Arc<StackRecord>> {
        self.records.get(stack_id)
    }

    /// Store a new stack unless a live one has its name: `Err(existing)`.
    pub fn create(
        &self,
        rec: StackRecord,
    ) -> nimbus_storage::Result<Result<Arc<StackRecord>, Arc<StackRecord>>> {
        // Creation runs under one lock so two requests cannot both take a name.
        static CREATING: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _guard = CREATING.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(existing) = self.find(&rec.name) {
            return Ok(Err(existing));
        }
        self.records.insert(rec)
    }

    /// Edit a stack and store it; `None` when there is no such stack.
    pub fn change<O>(
        &self,
        stack_id: &str,
        f: impl FnOnce(&mut StackRecord) -> O,
    ) -> nimbus_storage::Result<Option<(Arc<StackRecord>, O)>> {
        self.records
            .change(stack_id, |s| Ok::<_, nimbus_storage::Error>(f(s)))
    }

    /// Every export of a live stack: name, value, exporting stack id.
    pub fn exports(&self) -> Vec<(String, String, String)> {
        let mut out: Vec<_> = self
            .live()
            .iter()
            .flat_map(|s| {
                s.outputs.iter().filter_map(|o| {
                    o.export_name
                        .as_ref()
                        .map(|n| (n.clone(), o.value.clone(), s.stack_id.clone()))
                })
            })
            .collect();
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn stack(name: &str) -> StackRecord {
        StackRecord {
            format: STACK_FORMAT,
            stack_id: format!("arn:aws:cloudformation:us-east-1:000000000000:stack/{name}/1"),
            name: name.into(),
            template_body: "{}".into(),
            description: None,
            overrides: BTreeMap::new(),
            parameters: Vec::new(),
            capabilities: Vec::new(),
            tags: Vec::new(),
            disable_rollback: false,
            delete_on_failure: false,
            status: "CREATE_IN_PROGRESS".into(),
            reason: None,
            created_ms: 1,
            deleted_ms: None,
            outputs: vec![OutputRecord {
                key: "O".into(),
                value: "v".into(),
                description: None,
                export_name: Some("x".into()),
            }],
            resources: Vec::new(),
            events: Vec::new(),
            acting: None,
            imports: Vec::new(),
            change_sets: Vec::new(),
            previous: None,
            retired: Vec::new(),
        }
    }

    #[test]
    fn stacks_survive_reopening_and_names_are_taken_once() {
        let dir = tempfile::tempdir().unwrap();
        let kv: Arc<dyn KvEngine> =
            Arc::new(nimbus_storage_embedded::EmbeddedKv::open(&dir.path().join("db")).unwrap());
        let stacks = Stacks::open(kv.clone()).unwrap();
        assert!(stacks.create(stack("a")).unwrap().is_ok());
        assert!(stacks.create(stack("a")).unwrap().is_err());
        stacks
            .change(&stack("a").stack_id, |s| {
                s.stack_event("CREATE_COMPLETE", None);
            })
            .unwrap();
        drop(stacks);
        let stacks = Stacks::open(kv).unwrap();
        let a = stacks.find("a").unwrap();
        assert_eq!(a.status, "CREATE_COMPLETE");
        assert_eq!(a.events.len(), 1);
        assert_eq!(
            stacks.exports(),
            vec![("x".into(), "v".into(), a.stack_id.clone())]
        );
    }
}
