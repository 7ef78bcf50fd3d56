//! The EventBridge API in its JSON protocol (`X-Amz-Target:
//! AWSEvents.<Operation>`, `application/x-amz-json-1.1`): each request is
//! parsed into an [`Operation`], authorized (`events:<Operation>` on the
//! rule's or bus's ARN), run on the event service and answered in
//! EventBridge's shapes and error codes.

use bytes::Bytes;
use http::{Request, Response};
use nimbus_api_common::json::AwsJson;
use nimbus_api_common::{ApiError, BoxFuture, Service};
use nimbus_events::{Entry, Events, NewRule, Target};
use serde_json::{Map, Value, json};
use std::sync::Arc;

pub mod authz;
mod buses;
mod destinations;

/// EventBridge's awsJson framing.
pub const EVENTS_JSON: AwsJson = AwsJson {
    target_prefixes: &["AWSEvents"],
    error_namespace: "",
    content_type: "application/x-amz-json-1.1",
    crc32: false,
};

/// Entries `PutEvents` takes at once, and their total size.
const MAX_ENTRIES: usize = 10;
const MAX_BYTES: usize = 256 * 1024;

macro_rules! operations {
    ($($op:ident),* $(,)?) => {
        /// An EventBridge operation, parsed from `X-Amz-Target`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Operation { $($op),* }

        impl Operation {
            pub fn parse(name: &str) -> Option<Operation> {
                match name {
                    $(stringify!($op) => Some(Operation::$op),)*
                    _ => None,
                }
            }

            pub fn name(self) -> &'static str {
                match self { $(Operation::$op => stringify!($op)),* }
            }
        }
    };
}

operations! {
    CreateEventBus, DescribeEventBus, DeleteEventBus, ListEventBuses, PutRule, DescribeRule,
    DeleteRule, ListRules, EnableRule, DisableRule, PutTargets, RemoveTargets, ListTargetsByRule,
    ListRuleNamesByTarget, PutEvents, TestEventPattern, CreateArchive, DescribeArchive,
    ListArchives, DeleteArchive, StartReplay, DescribeReplay, ListReplays, CancelReplay,
    CreateConnection, DescribeConnection, UpdateConnection, DeleteConnection, ListConnections,
    DeauthorizeConnection, CreateApiDestination, DescribeApiDestination, UpdateApiDestination,
    DeleteApiDestination, ListApiDestinations, PutPermission, RemovePermission, UpdateEventBus,
    TagResource, UntagResource, ListTagsForResource,
}

pub struct EventsApi {
    events: Arc<Events>,
}

type Answer = Result<Value, ApiError>;

fn error(e: nimbus_events::Error) -> ApiError {
    use nimbus_events::Error as E;
    let code = match &e {
        E::NotFound(_) => "ResourceNotFoundException",
        E::AlreadyExists(_) => "ResourceAlreadyExistsException",
        E::Invalid(_) => "ValidationException",
        E::InvalidPattern(_) => "InvalidEventPatternException",
        E::Limit(_) => "LimitExceededException",
        E::Storage(_) => {
            tracing::error!(error = %e, "event service failed");
            return ApiError::new(
                http::StatusCode::INTERNAL_SERVER_ERROR,
                "InternalException",
                "An error occurred on the server side.",
            );
        }
    };
    ApiError::bad_request(code, e.to_string())
}

fn text(p: &Value, k: &str) -> Option<String> {
    p.get(k).and_then(Value::as_str).map(str::to_string)
}

fn required(p: &Value, k: &str) -> Result<String, ApiError> {
    text(p, k).ok_or_else(|| {
        let mut m = k.to_string();
        if let Some(f) = m.get_mut(..1) {
            f.make_ascii_lowercase();
        }
        ApiError::bad_request(
            "ValidationException",
            format!("1 validation error detected: Value null at '{m}' failed to satisfy constraint: Member must not be null"),
        )
    })
}

fn rule_json(r: &nimbus_events::Rule) -> Value {
    let mut v = json!({"Name": r.name, "Arn": r.arn, "State": r.state, "EventBusName": r.bus});
    for (k, x) in [
        ("EventPattern", &r.pattern),
        ("ScheduleExpression", &r.schedule),
        ("Description", &r.description),
        ("RoleArn", &r.role_arn),
    ] {
        if let Some(x) = x {
            v[k] = json!(x);
        }
    }
    v
}

fn target_json(t: &Target) -> Value {
    let mut v = Value::Object(t.extra.clone());
    v["Id"] = json!(t.id);
    v["Arn"] = json!(t.arn);
    for (k, x) in [
        ("Input", &t.input),
        ("InputPath", &t.input_path),
        ("RoleArn", &t.role_arn),
    ] {
        if let Some(x) = x {
            v[k] = json!(x);
        }
    }
    if let Some(tr) = &t.input_transformer {
        v["InputTransformer"] = tr.clone();
    }
    v
}

fn target_of(v: &Value) -> Target {
    let mut extra = Map::new();
    for k in [
        "DeadLetterConfig",
        "RetryPolicy",
        "SqsParameters",
        "HttpParameters",
    ] {
        if let Some(x) = v.get(k) {
            extra.insert(k.to_string(), x.clone());
        }
    }
    Target {
        id: text(v, "Id").unwrap_or_default(),
        arn: text(v, "Arn").unwrap_or_default(),
        input: text(v, "Input"),
        input_path: text(v, "InputPath"),
        input_transformer: v.get("InputTransformer").cloned(),
        role_arn: text(v, "RoleArn"),
        extra,
    }
}

impl EventsApi {
    pub fn new(events: Arc<Events>) -> EventsApi {
        EventsApi { events }
    }

    pub fn handle(&self, req: Request<Bytes>, request_id: &str) -> Response<Bytes> {
        let call = match EVENTS_JSON.call(&req) {
            Ok(c) => c,
            Err(e) => return EVENTS_JSON.error(&e, request_id),
        };
        let Some(op) = Operation::parse(&call.operation) else {
            let e = ApiError::bad_request(
                "UnknownOperationException",
                format!("Unknown operation {}", call.operation),
            );
            return EVENTS_JSON.error(&e, request_id);
        };
        if let Err(d) = nimbus_api_common::authz::authorize(req.extensions(), |s| {
            authz::access(op, &call.params, s)
        }) {
            let e = ApiError::bad_request("AccessDeniedException", d.message);
            return EVENTS_JSON.error(&e, request_id);
        }
        let trace = nimbus_api_common::trace_header(&req);
        match self.execute(op, &call.params, trace) {
            Ok(v) => EVENTS_JSON.respond(&v, request_id),
            Err(e) => EVENTS_JSON.error(&e, request_id),
        }
    }

    fn execute(&self, op: Operation, p: &Value, trace: Option<&str>) -> Answer {
        use Operation::*;
        let ev = &self.events;

        let bus = text(p, "EventBusName");
        let bus = bus.as_deref();
        Ok(match op {
            CreateConnection
            | DescribeConnection
            | UpdateConnection
            | DeleteConnection
            | ListConnections
            | DeauthorizeConnection
            | CreateApiDestination
            | DescribeApiDestination
            | UpdateApiDestination
            | DeleteApiDestination
            | ListApiDestinations => return destinations::execute(ev, op, p),
            PutPermission | RemovePermission | UpdateEventBus | TagResource | UntagResource
            | ListTagsForResource => return buses::execute(ev, op, p),
            CreateEventBus => {
                let b = ev
                    .create_bus(
                        &required(p, "Name")?,
                        text(p, "Description"),
                        buses::tags_of(p)?,
                    )
                    .map_err(error)?;
                json!({"EventBusArn": b.arn})
            }
            DescribeEventBus => {
                let b = ev.bus(text(p, "Name").as_deref()).map_err(error)?;
                let mut v = json!({"Name": b.name, "Arn": b.arn,
                    "CreationTime": b.created_ms as f64 / 1000.0});
                if let Some(d) = &b.description {
                    v["Description"] = json!(d);
                }
                if let Some(policy) = &b.policy {
                    v["Policy"] = json!(policy);
                }
                v
            }
            DeleteEventBus => {
                ev.delete_bus(&required(p, "Name")?).map_err(error)?;
                json!({})
            }
            ListEventBuses => {
                let prefix = text(p, "NamePrefix").unwrap_or_default();
                let buses: Vec<Value> = ev
                    .buses()
                    .iter()
                    .filter(|b| b.name.starts_with(&prefix))
                    .map(|b| json!({"Name": b.name, "Arn": b.arn}))
                    .collect();
                json!({"EventBuses": buses})
            }
            PutRule => {
                let arn = ev
                    .put_rule(NewRule {
                        name: required(p, "Name")?,
                        bus: bus.map(str::to_string),
                        pattern: text(p, "EventPattern"),
                        schedule: text(p, "ScheduleExpression"),
                        state: text(p, "State"),
                        description: text(p, "Description"),
                        role_arn: text(p, "RoleArn"),
                        tags: buses::tags_of(p)?,
                    })
                    .map_err(error)?;
                json!({"RuleArn": arn})
            }
            DescribeRule => {
                let r = ev.rule(bus, &required(p, "Name")?).map_err(error)?;
                rule_json(&r)
            }
            DeleteRule => {
                ev.delete_rule(bus, &required(p, "Name")?).map_err(error)?;
                json!({})
            }
            ListRules => {
                let rules = ev
                    .rules(bus, text(p, "NamePrefix").as_deref())
                    .map_err(error)?;
                json!({"Rules": rules.iter().map(|r| rule_json(r)).collect::<Vec<_>>()})
            }
            EnableRule | DisableRule => {
                ev.set_state(bus, &required(p, "Name")?, op == EnableRule)
                    .map_err(error)?;
                json!({})
            }
            PutTargets => {
                let targets: Vec<Target> = p
                    .get("Targets")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(target_of)
                    .collect();
                let failed = ev
                    .put_targets(bus, &required(p, "Rule")?, targets)
                    .map_err(error)?;
                let entries: Vec<Value> = failed
                    .iter()
                    .map(|(id, code, m)| json!({"TargetId": id, "ErrorCode": code, "ErrorMessage": m}))
                    .collect();
                json!({"FailedEntryCount": entries.len(), "FailedEntries": entries})
            }
            RemoveTargets => {
                let ids: Vec<String> = p
                    .get("Ids")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect();
                ev.remove_targets(bus, &required(p, "Rule")?, &ids)
                    .map_err(error)?;
                json!({"FailedEntryCount": 0, "FailedEntries": []})
            }
            ListTargetsByRule => {
                let r = ev.rule(bus, &required(p, "Rule")?).map_err(error)?;
                json!({"Targets": r.targets.iter().map(target_json).collect::<Vec<_>>()})
            }
            ListRuleNamesByTarget => {
                let names = ev
                    .rules_by_target(bus, &required(p, "TargetArn")?)
                    .map_err(error)?;
                json!({"RuleNames": names})
            }
            PutEvents => self.put_events(p, trace)?,
            CreateArchive | DescribeArchive | ListArchives | DeleteArchive | StartReplay
            | DescribeReplay | ListReplays | CancelReplay => self.archives(op, p)?,
            TestEventPattern => {
                let pattern = required(p, "EventPattern")?;
                let event: Value = serde_json::from_str(&required(p, "Event")?).map_err(|_| {
                    ApiError::bad_request(
                        "InvalidEventPatternException",
                        "Event is not valid JSON.",
                    )
                })?;
                let compiled = nimbus_patterns::Pattern::parse(&pattern).map_err(|e| {
                    ApiError::bad_request("InvalidEventPatternException", e.message())
                })?;
                json!({"Result": compiled.matches(&event)})
            }
        })
    }

    fn archive_json(&self, a: &nimbus_events::archive::Archive) -> Result<Value, ApiError> {
        let (count, bytes) = self.events.archived(&a.name).map_err(error)?;
        let mut v = json!({"ArchiveName": a.name, "ArchiveArn": a.arn, "EventSourceArn": a.source_arn,
            "State": "ENABLED", "RetentionDays": a.retention_days, "SizeBytes": bytes,
            "EventCount": count, "CreationTime": a.created_ms as f64 / 1000.0});
        if let Some(p) = &a.pattern {
            v["EventPattern"] = json!(p);
        }
        if let Some(d) = &a.description {
            v["Description"] = json!(d);
        }
        Ok(v)
    }

    fn replay_json(r: &nimbus_events::archive::Replay) -> Value {
        let s = |ms: u64| ms as f64 / 1000.0;
        let mut v = json!({"ReplayName": r.name, "ReplayArn": r.arn, "State": r.state,
            "EventSourceArn": r.archive_arn,
            "Destination": {"Arn": r.destination, "FilterArns": r.filter_arns},
            "EventStartTime": s(r.event_start_ms), "EventEndTime": s(r.event_end_ms),
            "ReplayStartTime": s(r.started_ms), "ReplayEndTime": s(r.ended_ms)});
        if let Some(t) = r.last_replayed_ms {
            v["EventLastReplayedTime"] = json!(s(t));
        }
        v
    }

    /// Archives and replays.
    fn archives(&self, op: Operation, p: &Value) -> Answer {
        use Operation::*;
        let ev = &self.events;
        let ms = |k: &str| {
            p.get(k)
                .and_then(Value::as_f64)
                .map(|s| (s * 1000.0) as u64)
        };
        Ok(match op {
            CreateArchive => {
                let arn = ev
                    .create_archive(
                        &required(p, "ArchiveName")?,
                        &required(p, "EventSourceArn")?,
                        text(p, "EventPattern"),
                        text(p, "Description"),
                        p.get("RetentionDays").and_then(Value::as_u64).unwrap_or(0),
                    )
                    .map_err(error)?;
                let a = ev.archive(&arn).map_err(error)?;
                json!({"ArchiveArn": arn, "State": "ENABLED", "CreationTime": a.created_ms as f64 / 1000.0})
            }
            DescribeArchive => {
                self.archive_json(&*ev.archive(&required(p, "ArchiveName")?).map_err(error)?)?
            }
            ListArchives => {
                let prefix = text(p, "NamePrefix").unwrap_or_default();
                let source = text(p, "EventSourceArn");
                let mut list = Vec::new();
                for a in ev.archives() {
                    if a.name.starts_with(&prefix)
                        && source.as_ref().is_none_or(|s| *s == a.source_arn)
                    {
                        list.push(self.archive_json(&a)?);
                    }
                }
                json!({"Archives": list})
            }
            DeleteArchive => {
                ev.delete_archive(&required(p, "ArchiveName")?)
                    .map_err(error)?;
                json!({})
            }
            StartReplay => {
                let destination = p.get("Destination").cloned().unwrap_or_default();
                let filters: Vec<String> = destination
                    .get("FilterArns")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect();
                let r = ev
                    .start_replay(
                        &required(p, "ReplayName")?,
                        &required(p, "EventSourceArn")?,
                        (
                            ms("EventStartTime").unwrap_or(0),
                            ms("EventEndTime").unwrap_or(0),
                        ),
                        destination
                            .get("Arn")
                            .and_then(Value::as_str)
                            .unwrap_or_default(),
                        filters,
                    )
                    .map_err(error)?;
                json!({"ReplayArn": r.arn, "State": r.state, "ReplayStartTime": r.started_ms as f64 / 1000.0})
            }
            DescribeReplay => {
                Self::replay_json(&*ev.replay(&required(p, "ReplayName")?).map_err(error)?)
            }
            ListReplays => {
                let list: Vec<Value> = ev.replays().iter().map(|r| Self::replay_json(r)).collect();
                json!({"Replays": list})
            }
            CancelReplay => {
                let r = ev.replay(&required(p, "ReplayName")?).map_err(error)?;
                return Err(ApiError::bad_request(
                    "IllegalStatusException",
                    format!(
                        "Replay {} is not in a state that can be cancelled: it is {}.",
                        r.name, r.state
                    ),
                ));
            }
            _ => json!({}),
        })
    }

    /// `trace`: the request's trace header, for entries without a `TraceHeader`.
    fn put_events(&self, p: &Value, trace: Option<&str>) -> Answer {
        let entries = p
            .get("Entries")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if entries.is_empty() || entries.len() > MAX_ENTRIES {
            return Err(ApiError::bad_request(
                "ValidationException",
                format!(
                    "1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length less than or equal to {MAX_ENTRIES} and greater than or equal to 1"
                ),
            ));
        }
        let size: usize = entries.iter().map(|e| e.to_string().len()).sum();
        if size > MAX_BYTES {
            return Err(ApiError::bad_request(
                "ValidationException",
                "Total size of the entries in the request is over the limit.",
            ));
        }
        let entries: Vec<Entry> = entries
            .iter()
            .map(|e| Entry {
                source: text(e, "Source"),
                detail_type: text(e, "DetailType"),
                detail: text(e, "Detail"),
                resources: e
                    .get("Resources")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|r| r.as_str().map(str::to_string))
                    .collect(),
                bus: text(e, "EventBusName"),
                time: e.get("Time").and_then(Value::as_f64).map(|s| {
                    nimbus_model::time::Utc::from_millis((s * 1000.0) as u64).rfc3339_seconds()
                }),
                trace: text(e, "TraceHeader").or_else(|| trace.map(str::to_string)),
            })
            .collect();
        let outcomes = self.events.put_events(&entries).map_err(error)?;
        let failed = outcomes.iter().filter(|o| o.is_err()).count();
        let shown: Vec<Value> = outcomes
            .into_iter()
            .map(|o| match o {
                Ok(id) => json!({"EventId": id}),
                Err((code, message)) => json!({"ErrorCode": code, "ErrorMessage": message}),
            })
            .collect();
        Ok(json!({"FailedEntryCount": failed, "Entries": shown}))
    }
}

impl Service for EventsApi {
    fn signing_name(&self) -> &'static str {
        "events"
    }

    fn owns(&self, req: &http::request::Parts) -> bool {
        EVENTS_JSON.owns_request(req)
    }

    fn handle(&self, req: Request<Bytes>, request_id: String) -> BoxFuture<'_, Response<Bytes>> {
        Box::pin(async move { EventsApi::handle(self, req, &request_id) })
    }

    fn error(&self, err: &ApiError, request_id: &str) -> Response<Bytes> {
        EVENTS_JSON.error(err, request_id)
    }
}
