//! EventBridge Scheduler: schedules (in groups, `default` always there)
//! that invoke one target each on an `at(...)`, `rate(...)` or `cron(...)`
//! expression read on their time zone's clock, between their `StartDate`
//! and `EndDate`. A firing is staged through the outbox with the
//! schedule's new `last_fired` (or its completion) in one batch, so it runs
//! once, also across a restart. The target is reached as the schedule's
//! role (`Target.RoleArn`), which IAM must let act on it; a one-time
//! schedule whose `ActionAfterCompletion` is `DELETE` is deleted after it
//! fires.

use crate::{Error, Events, Result};
use nimbus_invoke::permissions::Acting;
use nimbus_invoke::{Delivery, DeliveryError};
use nimbus_model::time::now_millis;
use nimbus_schedules::{Flavour, Schedule as Expression, Timestamp, Timing};
use nimbus_storage::WriteBatch;
use nimbus_storage::records::Record;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub const DEFAULT_GROUP: &str = "default";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub format: u32,
    pub name: String,
    pub arn: String,
    pub created_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    pub format: u32,
    /// `group/name`.
    pub key: String,
    pub name: String,
    pub group: String,
    pub arn: String,
    pub expression: String,
    pub timezone: Option<String>,
    pub start_ms: Option<u64>,
    pub end_ms: Option<u64>,
    pub description: Option<String>,
    pub state: String,
    /// `Target` as given (`Arn`, `RoleArn`, `Input`, ...).
    pub target: Value,
    pub flexible_time_window: Value,
    pub action_after_completion: String,
    pub created_ms: u64,
    pub modified_ms: u64,
    /// The last firing (or the creation): the next is the first after it.
    pub last_fired_ms: u64,
    /// No firing is left (a one-time schedule fired, an `EndDate` passed).
    pub done: bool,
}

impl Record for Group {
    fn key(&self) -> &str {
        &self.name
    }
    fn format(&self) -> u32 {
        self.format
    }
}

impl Record for Schedule {
    fn key(&self) -> &str {
        &self.key
    }
    fn format(&self) -> u32 {
        self.format
    }
}

/// A schedule as `CreateSchedule` or `UpdateSchedule` gives it.
#[derive(Debug, Clone, Default)]
pub struct NewSchedule {
    pub name: String,
    pub group: Option<String>,
    pub expression: String,
    pub timezone: Option<String>,
    pub start_ms: Option<u64>,
    pub end_ms: Option<u64>,
    pub description: Option<String>,
    pub state: Option<String>,
    pub target: Value,
    pub flexible_time_window: Value,
    pub action_after_completion: Option<String>,
}

fn invalid(m: impl Into<String>) -> Error {
    Error::Invalid(m.into())
}

fn millis(ms: u64) -> Option<Timestamp> {
    Timestamp::from_millisecond(i64::try_from(ms).ok()?).ok()
}

impl Schedule {
    fn timing(&self) -> Option<(Expression, Timing)> {
        let expr = Expression::parse(&self.expression, Flavour::Scheduler).ok()?;
        let zone = match &self.timezone {
            Some(z) => nimbus_schedules::time_zone(z).ok()?,
            None => nimbus_schedules::TimeZone::UTC,
        };
        let mut timing = Timing::in_zone(zone);
        // Rates count from the start, or from when the schedule was made.
        timing.start = millis(self.start_ms.unwrap_or(self.created_ms));
        timing.end = self.end_ms.and_then(millis);
        Some((expr, timing))
    }
}

impl Events {
    pub fn schedule_group(&self, name: &str) -> Result<std::sync::Arc<Group>> {
        self.groups
            .get(name)
            .ok_or_else(|| Error::NotFound(format!("Schedule group {name} does not exist.")))
    }

    pub fn create_schedule_group(&self, name: &str) -> Result<String> {
        let arn = format!(
            "arn:aws:scheduler:{}:{}:schedule-group/{name}",
            self.region, self.account
        );
        let g = Group {
            format: crate::store::FORMAT,
            name: name.to_string(),
            arn: arn.clone(),
            created_ms: now_millis(),
        };
        match self.groups.insert(g)? {
            Ok(_) => Ok(arn),
            Err(_) => Err(Error::AlreadyExists(format!(
                "Schedule group {name} already exists."
            ))),
        }
    }

    pub fn delete_schedule_group(&self, name: &str) -> Result<()> {
        if name == DEFAULT_GROUP {
            return Err(invalid("The default schedule group cannot be deleted."));
        }
        self.schedule_group(name)?;
        for s in self.schedules.all().iter().filter(|s| s.group == name) {
            self.schedules.delete(&s.key)?;
        }
        self.groups.delete(name)?;
        Ok(())
    }

    pub fn schedule_groups(&self) -> Vec<std::sync::Arc<Group>> {
        let mut v = self.groups.all();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    fn checked(&self, s: &NewSchedule, kept: Option<&Schedule>) -> Result<Schedule> {
        let group = s.group.clone().unwrap_or_else(|| DEFAULT_GROUP.into());
        self.schedule_group(&group)?;
        Expression::parse(&s.expression, Flavour::Scheduler).map_err(|e| invalid(e.to_string()))?;
        if let Some(z) = &s.timezone {
            nimbus_schedules::time_zone(z).map_err(|e| invalid(e.to_string()))?;
        }
        let target_arn = s
            .target
            .get("Arn")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if target_arn.is_empty() || s.target.get("RoleArn").and_then(Value::as_str).is_none() {
            return Err(invalid("Target needs an Arn and a RoleArn."));
        }
        if target_arn.starts_with("arn:aws:scheduler:::aws-sdk:") {
            self.check_universal(target_arn, s.target.get("Input").and_then(Value::as_str))?;
        } else if !self.outbox.exists(target_arn) {
            return Err(invalid(format!(
                "Nimbus cannot invoke {target_arn}: only functions, queues, topics, event buses, state machines that exist and universal targets (arn:aws:scheduler:::aws-sdk:service:apiAction) are targets"
            )));
        }
        let mode = s.flexible_time_window.get("Mode").and_then(Value::as_str);
        let window = s
            .flexible_time_window
            .get("MaximumWindowInMinutes")
            .and_then(Value::as_u64);
        match (mode, window) {
            (Some("OFF"), None) => {}
            (Some("FLEXIBLE"), Some(1..=1440)) => {}
            _ => {
                return Err(invalid(
                    "FlexibleTimeWindow needs Mode OFF, or Mode FLEXIBLE with MaximumWindowInMinutes from 1 to 1440.",
                ));
            }
        }
        let state = s.state.clone().unwrap_or_else(|| "ENABLED".into());
        if !matches!(state.as_str(), "ENABLED" | "DISABLED") {
            return Err(invalid(format!(
                "State {state} is not valid: ENABLED or DISABLED."
            )));
        }
        let after = s
            .action_after_completion
            .clone()
            .unwrap_or_else(|| "NONE".into());
        if !matches!(after.as_str(), "NONE" | "DELETE") {
            return Err(invalid(format!(
                "ActionAfterCompletion {after} is not valid: NONE or DELETE."
            )));
        }
        let now = now_millis();
        Ok(Schedule {
            format: crate::store::FORMAT,
            key: format!("{group}/{}", s.name),
            arn: format!(
                "arn:aws:scheduler:{}:{}:schedule/{group}/{}",
                self.region, self.account, s.name
            ),
            name: s.name.clone(),
            group,
            expression: s.expression.clone(),
            timezone: s.timezone.clone(),
            start_ms: s.start_ms,
            end_ms: s.end_ms,
            description: s.description.clone(),
            state,
            target: s.target.clone(),
            flexible_time_window: s.flexible_time_window.clone(),
            action_after_completion: after,
            created_ms: kept.map_or(now, |k| k.created_ms),
            modified_ms: now,
            last_fired_ms: now,
            done: false,
        })
    }

    pub fn create_schedule(&self, s: &NewSchedule) -> Result<String> {
        let made = self.checked(s, None)?;
        let arn = made.arn.clone();
        match self.schedules.insert(made)? {
            Ok(_) => Ok(arn),
            Err(_) => Err(Error::AlreadyExists(format!(
                "Schedule {} already exists.",
                s.name
            ))),
        }
    }

    pub fn update_schedule(&self, s: &NewSchedule) -> Result<String> {
        let group = s.group.clone().unwrap_or_else(|| DEFAULT_GROUP.into());
        let kept = self.schedule(&group, &s.name)?;
        let made = self.checked(s, Some(&kept))?;
        let arn = made.arn.clone();
        self.schedules.put(made)?;
        Ok(arn)
    }

    pub fn schedule(&self, group: &str, name: &str) -> Result<std::sync::Arc<Schedule>> {
        self.schedules
            .get(&format!("{group}/{name}"))
            .ok_or_else(|| Error::NotFound(format!("Schedule {name} does not exist.")))
    }

    pub fn delete_schedule(&self, group: &str, name: &str) -> Result<()> {
        let s = self.schedule(group, name)?;
        self.schedules.delete(&s.key)?;
        Ok(())
    }

    pub fn schedules(
        &self,
        group: Option<&str>,
        prefix: Option<&str>,
    ) -> Vec<std::sync::Arc<Schedule>> {
        let mut v: Vec<_> = self
            .schedules
            .all()
            .into_iter()
            .filter(|s| group.is_none_or(|g| s.group == g))
            .filter(|s| prefix.is_none_or(|p| s.name.starts_with(p)))
            .collect();
        v.sort_by(|a, b| a.key.cmp(&b.key));
        v
    }

    /// What the target receives: its `Input` (an event built from it for a
    /// bus, with `EventBridgeParameters`), or `{}`.
    fn schedule_payload(&self, s: &Schedule) -> String {
        let input = s
            .target
            .get("Input")
            .and_then(Value::as_str)
            .unwrap_or("{}");
        let arn = s
            .target
            .get("Arn")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !arn.contains(":event-bus/") {
            return input.to_string();
        }
        let p = s.target.get("EventBridgeParameters");
        let text = |k: &str| {
            p.and_then(|p| p.get(k))
                .and_then(Value::as_str)
                .unwrap_or("")
        };
        let detail: Value = serde_json::from_str(input).unwrap_or_else(|_| json!({}));
        json!({
            "version": "0", "id": uuid::Uuid::new_v4().to_string(),
            "detail-type": text("DetailType"), "source": text("Source"),
            "account": self.account,
            "time": nimbus_model::time::Utc::from_millis(now_millis()).rfc3339_seconds(),
            "region": self.region, "resources": [s.arn], "detail": detail,
        })
        .to_string()
    }

    /// Fire the schedules due at `now` (ms). How many fired.
    pub fn fire_schedules(&self, now: u64) -> Result<usize> {
        let mut fired = 0;
        for s in self.schedules.all() {
            if s.done || s.state != "ENABLED" {
                continue;
            }
            let Some((expr, timing)) = s.timing() else {
                continue;
            };
            let Some(last) = millis(s.last_fired_ms) else {
                continue;
            };
            let next = expr.next_after(last, &timing);
            let due =
                next.is_some_and(|n| n.as_millisecond() <= i64::try_from(now).unwrap_or(i64::MAX));
            if next.is_some() && !due {
                continue;
            }
            let mut batch = WriteBatch::default();
            let mut staged = Vec::new();
            if due {
                self.invoke_target(&s, &mut batch, &mut staged);
                fired += 1;
            }
            let mut after = (*s).clone();
            after.last_fired_ms = now;
            let ended = match millis(now) {
                Some(t) => expr.next_after(t, &timing).is_none(),
                None => true,
            };
            after.done = ended;
            let mut writer = self.schedules.writer();
            if ended && s.action_after_completion == "DELETE" {
                writer.delete(&mut batch, &s.key);
            } else {
                writer.put(&mut batch, after)?;
            }
            self.kv.commit(batch)?;
            writer.apply();
            self.finish(staged);
        }
        Ok(fired)
    }

    fn invoke_target(
        &self,
        s: &Schedule,
        batch: &mut WriteBatch,
        staged: &mut Vec<nimbus_invoke::Staged>,
    ) {
        let arn = s
            .target
            .get("Arn")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if crate::universal::parse(arn).is_some() {
            match self.stage_universal(s, batch) {
                Some(call) => staged.push(call),
                None => {
                    tracing::warn!(schedule = %s.arn, "universal targets need the server's webhooks");
                }
            }
            return;
        }
        let role = s
            .target
            .get("RoleArn")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let action = if arn.starts_with("arn:aws:sqs:") {
            "sqs:SendMessage"
        } else if arn.starts_with("arn:aws:sns:") {
            "sns:Publish"
        } else if arn.contains(":event-bus/") {
            "events:PutEvents"
        } else if arn.starts_with("arn:aws:states:") {
            "states:StartExecution"
        } else {
            "lambda:InvokeFunction"
        };
        let session = format!("scheduler-{}", s.name);
        let acting = || Acting::Role {
            role_arn: role,
            session: &session,
        };
        let payload = self.schedule_payload(s);
        let mut delivery = Delivery::new(payload.as_bytes(), None);
        if let Some(group) = s
            .target
            .pointer("/SqsParameters/MessageGroupId")
            .and_then(Value::as_str)
        {
            delivery.group_id = Some(group.to_string());
            delivery.dedup_id = Some(uuid::Uuid::new_v4().to_string());
        }
        let outcome =
            nimbus_invoke::permissions::check(self.permissions.as_deref(), acting(), action, arn)
                .map_err(|why| ("AccessDeniedException", why.to_string()))
                .and_then(|()| {
                    self.outbox
                        .stage_delivery(arn, &delivery, batch)
                        .map_err(|e| match e {
                            DeliveryError::NoSuchTarget(m) => ("ResourceNotFoundException", m),
                            other => ("ValidationException", other.to_string()),
                        })
                });
        let (code, why) = match outcome {
            Ok(t) => {
                staged.push(t);
                return;
            }
            Err(e) => e,
        };
        tracing::warn!(schedule = %s.arn, target = arn, code, %why, "a scheduled invocation failed");
        // The dead-letter queue, sent to as the schedule's role, with the
        // attributes Scheduler adds.
        let Some(dlq) = s
            .target
            .pointer("/DeadLetterConfig/Arn")
            .and_then(Value::as_str)
        else {
            return;
        };
        let dead = Delivery::new(payload.as_bytes(), None)
            .attribute("ERROR_CODE", code)
            .attribute("ERROR_MESSAGE", why)
            .attribute("EXECUTION_ID", uuid::Uuid::new_v4().to_string())
            .attribute("SCHEDULE_ARN", s.arn.clone())
            .attribute("TARGET_ARN", arn);
        staged.extend(self.stage_dead_letter(acting(), dlq, &dead, batch));
    }
}
