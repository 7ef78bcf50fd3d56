//! CloudFormation's answer shapes as XML members (`Stack`, `StackEvent`,
//! `StackResource`, ...), written from the stored records; lists are
//! `<member>` elements as the query protocol writes them.

use crate::store::{Event, ResourceRecord, StackRecord};
use nimbus_api_common::xml::{el, escape};
use nimbus_model::time::Utc;

pub(crate) fn time(ms: u64) -> String {
    Utc::from_millis(ms).rfc3339_millis()
}

fn opt(name: &str, v: Option<&str>) -> String {
    v.map(|v| el(name, v)).unwrap_or_default()
}

/// `<Name><member>..</member>...</Name>`, each entry already written.
pub(crate) fn members(name: &str, items: impl IntoIterator<Item = String>) -> String {
    let inner: String = items
        .into_iter()
        .map(|i| format!("<member>{i}</member>"))
        .collect();
    format!("<{name}>{inner}</{name}>")
}

/// A `Stack`.
pub(crate) fn stack(s: &StackRecord) -> String {
    let params = members(
        "Parameters",
        s.parameters
            .iter()
            .map(|(k, v)| el("ParameterKey", k) + &el("ParameterValue", v)),
    );
    let outputs = members(
        "Outputs",
        s.outputs.iter().map(|o| {
            el("OutputKey", &o.key)
                + &el("OutputValue", &o.value)
                + &opt("Description", o.description.as_deref())
                + &opt("ExportName", o.export_name.as_deref())
        }),
    );
    let tags = members(
        "Tags",
        s.tags.iter().map(|(k, v)| el("Key", k) + &el("Value", v)),
    );
    let caps = members("Capabilities", s.capabilities.iter().map(|c| escape(c)));
    let mut out = el("StackId", &s.stack_id)
        + &el("StackName", &s.name)
        + &opt("Description", s.description.as_deref())
        + &params
        + &el("CreationTime", &time(s.created_ms))
        + &opt("DeletionTime", s.deleted_ms.map(time).as_deref())
        + &el("StackStatus", &s.status)
        + &opt("StackStatusReason", s.reason.as_deref())
        + &el(
            "DisableRollback",
            if s.disable_rollback { "true" } else { "false" },
        )
        + "<NotificationARNs/>"
        + &caps
        + &outputs
        + &tags
        + &el("EnableTerminationProtection", "false");
    out.push_str(
        "<DriftInformation><StackDriftStatus>NOT_CHECKED</StackDriftStatus></DriftInformation>",
    );
    out
}

/// A `StackSummary`.
pub(crate) fn summary(s: &StackRecord) -> String {
    el("StackId", &s.stack_id)
        + &el("StackName", &s.name)
        + &opt("TemplateDescription", s.description.as_deref())
        + &el("CreationTime", &time(s.created_ms))
        + &opt("DeletionTime", s.deleted_ms.map(time).as_deref())
        + &el("StackStatus", &s.status)
        + &opt("StackStatusReason", s.reason.as_deref())
}

/// A `StackEvent`.
pub(crate) fn event(s: &StackRecord, e: &Event) -> String {
    el("StackId", &s.stack_id)
        + &el("EventId", &e.event_id)
        + &el("StackName", &s.name)
        + &el("LogicalResourceId", &e.logical_id)
        + &el("PhysicalResourceId", &e.physical_id)
        + &el("ResourceType", &e.resource_type)
        + &el("Timestamp", &time(e.timestamp_ms))
        + &el("ResourceStatus", &e.status)
        + &opt("ResourceStatusReason", e.reason.as_deref())
}

/// The members `StackResource`, `StackResourceDetail` and
/// `StackResourceSummary` share; `with_stack` adds the stack's id and name,
/// `timestamp` names the time member.
pub(crate) fn resource(
    s: &StackRecord,
    r: &ResourceRecord,
    with_stack: bool,
    timestamp: &str,
) -> String {
    let stack = if with_stack {
        el("StackName", &s.name) + &el("StackId", &s.stack_id)
    } else {
        String::new()
    };
    stack
        + &el("LogicalResourceId", &r.logical_id)
        + &opt(
            "PhysicalResourceId",
            Some(r.physical_id.as_str()).filter(|p| !p.is_empty()),
        )
        + &el("ResourceType", &r.resource_type)
        + &el(timestamp, &time(r.updated_ms))
        + &el("ResourceStatus", &r.status)
        + &opt("ResourceStatusReason", r.reason.as_deref())
        + "<DriftInformation><StackResourceDriftStatus>NOT_CHECKED</StackResourceDriftStatus></DriftInformation>"
}
