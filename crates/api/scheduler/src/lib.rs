//! The EventBridge Scheduler API in its REST-JSON protocol
//! (`/schedules/{Name}`, `/schedule-groups/{Name}`): each request is parsed
//! into an [`Operation`], authorized (`scheduler:<Operation>` on the
//! schedule's or group's ARN) and run on the event service's schedules.
//! Times are epoch seconds, as the SDKs send them.

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use nimbus_api_common::{ApiError, BoxFuture, Service, rest_json};
use nimbus_events::Events;
use nimbus_events::scheduler::{DEFAULT_GROUP, NewSchedule, Schedule};
use serde_json::{Value, json};
use std::sync::Arc;

/// A Scheduler operation and what it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    CreateSchedule(String),
    GetSchedule(String),
    UpdateSchedule(String),
    DeleteSchedule(String),
    ListSchedules,
    CreateScheduleGroup(String),
    GetScheduleGroup(String),
    DeleteScheduleGroup(String),
    ListScheduleGroups,
}

impl Operation {
    pub fn parse(method: &Method, path: &str) -> Option<Operation> {
        // Names are letters, digits, `-`, `_` and `.`: nothing to decode.
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        use Operation as O;
        Some(match (method, parts.as_slice()) {
            (&Method::POST, ["schedules", n]) => O::CreateSchedule(n.to_string()),
            (&Method::GET, ["schedules", n]) => O::GetSchedule(n.to_string()),
            (&Method::PUT, ["schedules", n]) => O::UpdateSchedule(n.to_string()),
            (&Method::DELETE, ["schedules", n]) => O::DeleteSchedule(n.to_string()),
            (&Method::GET, ["schedules"]) => O::ListSchedules,
            (&Method::POST, ["schedule-groups", n]) => O::CreateScheduleGroup(n.to_string()),
            (&Method::GET, ["schedule-groups", n]) => O::GetScheduleGroup(n.to_string()),
            (&Method::DELETE, ["schedule-groups", n]) => O::DeleteScheduleGroup(n.to_string()),
            (&Method::GET, ["schedule-groups"]) => O::ListScheduleGroups,
            _ => return None,
        })
    }

    fn action(&self) -> &'static str {
        use Operation as O;
        match self {
            O::CreateSchedule(_) => "scheduler:CreateSchedule",
            O::GetSchedule(_) => "scheduler:GetSchedule",
            O::UpdateSchedule(_) => "scheduler:UpdateSchedule",
            O::DeleteSchedule(_) => "scheduler:DeleteSchedule",
            O::ListSchedules => "scheduler:ListSchedules",
            O::CreateScheduleGroup(_) => "scheduler:CreateScheduleGroup",
            O::GetScheduleGroup(_) => "scheduler:GetScheduleGroup",
            O::DeleteScheduleGroup(_) => "scheduler:DeleteScheduleGroup",
            O::ListScheduleGroups => "scheduler:ListScheduleGroups",
        }
    }
}

pub struct SchedulerApi {
    events: Arc<Events>,
}

fn error(e: nimbus_events::Error) -> ApiError {
    use nimbus_events::Error as E;
    match &e {
        E::NotFound(m) => ApiError::new(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            m.clone(),
        ),
        E::AlreadyExists(m) => ApiError::new(StatusCode::CONFLICT, "ConflictException", m.clone()),
        E::Invalid(m) | E::InvalidPattern(m) | E::Limit(m) => {
            ApiError::bad_request("ValidationException", m.clone())
        }
        E::Storage(_) => {
            tracing::error!(error = %e, "schedule store failed");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServerException",
                "An error occurred on the server side.",
            )
        }
    }
}

fn seconds(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

fn query(req: &Request<Bytes>, key: &str) -> Option<String> {
    req.uri().query().and_then(|q| {
        nimbus_api_common::query::parse_form(q.as_bytes())
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    })
}

fn schedule_json(s: &Schedule) -> Value {
    let mut v = json!({
        "Arn": s.arn, "Name": s.name, "GroupName": s.group, "ScheduleExpression": s.expression,
        "State": s.state, "Target": s.target, "FlexibleTimeWindow": s.flexible_time_window,
        "ActionAfterCompletion": s.action_after_completion,
        "CreationDate": seconds(s.created_ms), "LastModificationDate": seconds(s.modified_ms),
    });
    if let Some(z) = &s.timezone {
        v["ScheduleExpressionTimezone"] = json!(z);
    }
    if let Some(d) = &s.description {
        v["Description"] = json!(d);
    }
    if let Some(t) = s.start_ms {
        v["StartDate"] = json!(seconds(t));
    }
    if let Some(t) = s.end_ms {
        v["EndDate"] = json!(seconds(t));
    }
    v
}

fn new_schedule(name: &str, b: &Value) -> NewSchedule {
    let text = |k: &str| b.get(k).and_then(Value::as_str).map(str::to_string);
    let ms = |k: &str| {
        b.get(k)
            .and_then(Value::as_f64)
            .map(|s| (s * 1000.0) as u64)
    };
    NewSchedule {
        name: name.to_string(),
        group: text("GroupName"),
        expression: text("ScheduleExpression").unwrap_or_default(),
        timezone: text("ScheduleExpressionTimezone"),
        start_ms: ms("StartDate"),
        end_ms: ms("EndDate"),
        description: text("Description"),
        state: text("State"),
        target: b.get("Target").cloned().unwrap_or(Value::Null),
        flexible_time_window: b.get("FlexibleTimeWindow").cloned().unwrap_or(Value::Null),
        action_after_completion: text("ActionAfterCompletion"),
    }
}

impl SchedulerApi {
    pub fn new(events: Arc<Events>) -> SchedulerApi {
        SchedulerApi { events }
    }

    fn arn_of(&self, op: &Operation, req: &Request<Bytes>, body: &Value) -> String {
        let scope = |r: String| {
            format!(
                "arn:aws:scheduler:{}:{}:{r}",
                self.events.region(),
                self.events.account()
            )
        };
        use Operation as O;
        match op {
            O::CreateSchedule(n) | O::UpdateSchedule(n) => {
                let g = body
                    .get("GroupName")
                    .and_then(Value::as_str)
                    .unwrap_or(DEFAULT_GROUP);
                scope(format!("schedule/{g}/{n}"))
            }
            O::GetSchedule(n) | O::DeleteSchedule(n) => {
                let g = query(req, "groupName").unwrap_or_else(|| DEFAULT_GROUP.into());
                scope(format!("schedule/{g}/{n}"))
            }
            O::CreateScheduleGroup(n) | O::GetScheduleGroup(n) | O::DeleteScheduleGroup(n) => {
                scope(format!("schedule-group/{n}"))
            }
            O::ListSchedules | O::ListScheduleGroups => "*".into(),
        }
    }

    pub fn handle(&self, req: Request<Bytes>, request_id: &str) -> Response<Bytes> {
        let Some(op) = Operation::parse(req.method(), req.uri().path()) else {
            let e = ApiError::new(
                StatusCode::NOT_FOUND,
                "UnknownOperationException",
                "Unknown operation",
            );
            return e.rest_json(request_id);
        };
        let body = match rest_json::body(req.body(), "ValidationException") {
            Ok(b) => b,
            Err(e) => return e.rest_json(request_id),
        };
        let arn = self.arn_of(&op, &req, &body);
        if let Err(d) = nimbus_api_common::authz::authorize(req.extensions(), |_| {
            vec![if arn == "*" {
                nimbus_api_common::authz::Access::any(op.action())
            } else {
                nimbus_api_common::authz::Access::new(op.action(), arn.clone())
            }]
        }) {
            return ApiError::new(StatusCode::FORBIDDEN, "AccessDeniedException", d.message)
                .rest_json(request_id);
        }
        rest_json::answer(self.execute(&op, &req, &body), request_id)
    }

    fn execute(
        &self,
        op: &Operation,
        req: &Request<Bytes>,
        body: &Value,
    ) -> Result<Value, ApiError> {
        use Operation as O;
        let ev = &self.events;
        let group = || query(req, "groupName").unwrap_or_else(|| DEFAULT_GROUP.into());
        Ok(match op {
            O::CreateSchedule(n) => {
                json!({"ScheduleArn": ev.create_schedule(&new_schedule(n, body)).map_err(error)?})
            }
            O::UpdateSchedule(n) => {
                json!({"ScheduleArn": ev.update_schedule(&new_schedule(n, body)).map_err(error)?})
            }
            O::GetSchedule(n) => schedule_json(&*ev.schedule(&group(), n).map_err(error)?),
            O::DeleteSchedule(n) => {
                ev.delete_schedule(&group(), n).map_err(error)?;
                json!({})
            }
            O::ListSchedules => {
                let g = query(req, "ScheduleGroup");
                let prefix = query(req, "NamePrefix");
                let state = query(req, "State");
                let list: Vec<Value> = ev
                    .schedules(g.as_deref(), prefix.as_deref())
                    .iter()
                    .filter(|s| state.as_deref().is_none_or(|st| s.state == st))
                    .map(|s| json!({"Arn": s.arn, "Name": s.name, "GroupName": s.group, "State": s.state,
                        "CreationDate": seconds(s.created_ms), "LastModificationDate": seconds(s.modified_ms),
                        "Target": {"Arn": s.target.get("Arn")}}))
                    .collect();
                json!({"Schedules": list})
            }
            O::CreateScheduleGroup(n) => {
                json!({"ScheduleGroupArn": ev.create_schedule_group(n).map_err(error)?})
            }
            O::GetScheduleGroup(n) => {
                let g = ev.schedule_group(n).map_err(error)?;
                json!({"Arn": g.arn, "Name": g.name, "State": "ACTIVE",
                       "CreationDate": seconds(g.created_ms), "LastModificationDate": seconds(g.created_ms)})
            }
            O::DeleteScheduleGroup(n) => {
                ev.delete_schedule_group(n).map_err(error)?;
                json!({})
            }
            O::ListScheduleGroups => {
                let list: Vec<Value> = ev
                    .schedule_groups()
                    .iter()
                    .map(|g| json!({"Arn": g.arn, "Name": g.name, "State": "ACTIVE",
                        "CreationDate": seconds(g.created_ms), "LastModificationDate": seconds(g.created_ms)}))
                    .collect();
                json!({"ScheduleGroups": list})
            }
        })
    }
}

impl Service for SchedulerApi {
    fn signing_name(&self) -> &'static str {
        "scheduler"
    }

    /// Scheduler is found by its signature's scope only.
    fn owns(&self, _req: &http::request::Parts) -> bool {
        false
    }

    fn handle(&self, req: Request<Bytes>, request_id: String) -> BoxFuture<'_, Response<Bytes>> {
        Box::pin(async move { SchedulerApi::handle(self, req, &request_id) })
    }

    fn error(&self, err: &ApiError, request_id: &str) -> Response<Bytes> {
        err.rest_json(request_id)
    }
}
