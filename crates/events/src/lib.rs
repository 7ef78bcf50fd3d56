//! EventBridge: event buses (the `default` one always there), rules that
//! select events by an event pattern or fire on a schedule (`rate(...)`,
//! `cron(...)`), and their targets (functions and queues, through the
//! outbox every event-emitting service stages into). `PutEvents` matches
//! each event against the bus's enabled rules and stages one delivery per
//! matching target in a single write batch: once it answers, every
//! delivery survives a crash. A schedule rule's firing is staged with the
//! rule's new `last_fired` in one batch too, so a firing that was due while
//! the server was down runs once after a restart, not zero or many times.
//!
//! Targets act under the identities AWS uses: a function is invoked as
//! `events.amazonaws.com` for the rule (its resource policy must let the
//! rule in), a queue is sent to as the same principal (its queue policy).

pub mod archive;
pub mod bus_policy;
pub mod destinations;
mod input;
mod matching;
mod oauth;
pub mod scheduler;
mod store;
mod tags;
pub mod universal;

pub use input::{render, select, target_input};
pub use store::{Bus, Rule, Target};

use nimbus_invoke::permissions::{Acting, Permissions};
use nimbus_invoke::{Delivery, DeliveryError, Outbox, Staged};
use nimbus_model::time::now_millis;
use nimbus_storage::records::Records;
use nimbus_storage::{KvEngine, Table, WriteBatch};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The bus every account has.
pub const DEFAULT_BUS: &str = "default";
/// Targets a rule may have, as on AWS.
pub const MAX_TARGETS: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    InvalidPattern(String),
    #[error("{0}")]
    Limit(String),
    #[error("{0}")]
    Storage(#[from] nimbus_storage::Error),
}

pub type Result<T> = std::result::Result<T, Error>;

/// One entry of `PutEvents`, as given.
#[derive(Debug, Clone, Default)]
pub struct Entry {
    pub source: Option<String>,
    pub detail_type: Option<String>,
    pub detail: Option<String>,
    pub resources: Vec<String>,
    pub bus: Option<String>,
    pub time: Option<String>,
    pub trace: Option<String>,
}

/// What became of one entry: its event id, or an error code and message.
pub type Outcome = std::result::Result<String, (String, String)>;

/// A rule as `PutRule` gives it.
#[derive(Debug, Clone, Default)]
pub struct NewRule {
    pub name: String,
    pub bus: Option<String>,
    pub pattern: Option<String>,
    pub schedule: Option<String>,
    pub state: Option<String>,
    pub description: Option<String>,
    pub role_arn: Option<String>,
    /// `Tags`: set on the rule, added to its tags when it exists.
    pub tags: BTreeMap<String, String>,
}

pub struct Events {
    kv: Arc<dyn KvEngine>,
    buses: Records<Bus>,
    rules: Records<Rule>,
    archives: Records<archive::Archive>,
    replays: Records<archive::Replay>,
    groups: Records<scheduler::Group>,
    schedules: Records<scheduler::Schedule>,
    outbox: Arc<dyn Outbox>,
    permissions: Option<Arc<dyn Permissions>>,
    account: String,
    region: String,
    /// Each bus's rules by their patterns.
    indexes: matching::Indexes,
    connections: Records<destinations::Connection>,
    destinations: Records<destinations::ApiDestination>,
    /// Sends API destinations' calls durably (none: such targets fail).
    webhooks: Option<Arc<nimbus_webhooks::Webhooks>>,
    /// Calls Scheduler's universal targets (set once the APIs exist).
    sdk_calls: std::sync::OnceLock<Arc<dyn universal::SdkCalls>>,
    /// OAuth connections' access tokens.
    oauth_tokens: Arc<oauth::Tokens>,
}

impl Events {
    pub fn open(
        kv: Arc<dyn KvEngine>,
        outbox: Arc<dyn Outbox>,
        permissions: Option<Arc<dyn Permissions>>,
        account: &str,
        region: &str,
    ) -> Result<Events> {
        let events = Events {
            buses: Records::open(kv.clone(), Table("events_buses"), store::FORMAT)?,
            rules: Records::open(kv.clone(), Table("events_rules"), store::FORMAT)?,
            archives: Records::open(kv.clone(), Table("events_archives"), store::FORMAT)?,
            replays: Records::open(kv.clone(), Table("events_replays"), store::FORMAT)?,
            groups: Records::open(kv.clone(), Table("scheduler_groups"), store::FORMAT)?,
            schedules: Records::open(kv.clone(), Table("scheduler_schedules"), store::FORMAT)?,
            connections: Records::open(kv.clone(), Table("events_connections"), store::FORMAT)?,
            destinations: Records::open(
                kv.clone(),
                Table("events_api_destinations"),
                store::FORMAT,
            )?,
            webhooks: None,
            sdk_calls: std::sync::OnceLock::new(),
            oauth_tokens: Arc::default(),
            kv,
            outbox,
            permissions,
            account: account.to_string(),
            region: region.to_string(),
            indexes: matching::Indexes::default(),
        };
        if events.buses.get(DEFAULT_BUS).is_none() {
            events.buses.put(events.new_bus(DEFAULT_BUS, None))?;
        }
        if events.groups.get(scheduler::DEFAULT_GROUP).is_none() {
            events.create_schedule_group(scheduler::DEFAULT_GROUP)?;
        }
        Ok(events)
    }

    /// Call API destinations through `webhooks`.
    pub fn with_webhooks(mut self, webhooks: Arc<nimbus_webhooks::Webhooks>) -> Events {
        self.webhooks = Some(webhooks);
        self
    }

    /// Judge the calls made to API destinations.
    pub fn own_webhooks(self: &Arc<Self>) {
        if let Some(hooks) = &self.webhooks {
            let me: std::sync::Weak<dyn nimbus_webhooks::Owner> = Arc::downgrade(self) as _;
            hooks.register(destinations::OWNER, me.clone());
            hooks.register(universal::OWNER, me);
        }
    }

    /// Hand what a batch staged to whom it belongs once written: API
    /// destination calls to the webhooks, the rest to the outbox.
    pub(crate) fn finish(&self, staged: Vec<Staged>) {
        let mut calls = Vec::new();
        let mut others = Vec::new();
        for s in staged {
            match s.downcast::<destinations::StagedCall>() {
                Ok(destinations::StagedCall(c)) => calls.push(c),
                Err(other) => others.push(other),
            }
        }
        if let (Some(hooks), false) = (&self.webhooks, calls.is_empty()) {
            hooks.committed(calls);
        }
        if !others.is_empty() {
            self.outbox.committed(others);
        }
    }

    pub fn account(&self) -> &str {
        &self.account
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    fn new_bus(&self, name: &str, description: Option<String>) -> Bus {
        Bus {
            format: store::FORMAT,
            name: name.to_string(),
            arn: format!(
                "arn:aws:events:{}:{}:event-bus/{name}",
                self.region, self.account
            ),
            description,
            policy: None,
            created_ms: now_millis(),
            tags: BTreeMap::new(),
        }
    }

    /// A bus by name or ARN.
    pub fn bus(&self, name_or_arn: Option<&str>) -> Result<Arc<Bus>> {
        let name = bus_name(name_or_arn);
        self.buses
            .get(name)
            .ok_or_else(|| Error::NotFound(format!("Event bus {name} does not exist.")))
    }

    pub fn create_bus(
        &self,
        name: &str,
        description: Option<String>,
        tags: BTreeMap<String, String>,
    ) -> Result<Arc<Bus>> {
        if name == DEFAULT_BUS || name.contains('/') || name.is_empty() || name.len() > 256 {
            return Err(Error::Invalid(format!(
                "Event bus name {name} is not valid."
            )));
        }
        let mut bus = self.new_bus(name, description);
        bus.tags = tags;
        match self.buses.insert(bus)? {
            Ok(b) => Ok(b),
            Err(_) => Err(Error::AlreadyExists(format!(
                "Event bus {name} already exists."
            ))),
        }
    }

    /// `UpdateEventBus`: its description (Nimbus has no KMS keys or
    /// dead-letter queues of buses to change).
    pub fn update_bus(&self, name: Option<&str>, description: Option<String>) -> Result<Arc<Bus>> {
        let name = bus_name(name);
        self.buses
            .change(name, |b| {
                b.description = description;
                Ok::<_, Error>(())
            })?
            .map(|(b, ())| b)
            .ok_or_else(|| Error::NotFound(format!("Event bus {name} does not exist.")))
    }

    pub fn delete_bus(&self, name: &str) -> Result<()> {
        if name == DEFAULT_BUS {
            return Err(Error::Invalid("Cannot delete event bus default.".into()));
        }
        if self.rules.all().iter().any(|r| r.bus == name) {
            return Err(Error::Invalid(format!(
                "Cannot delete event bus {name} because it has rules."
            )));
        }
        self.buses.delete(name)?;
        Ok(())
    }

    pub fn buses(&self) -> Vec<Arc<Bus>> {
        let mut v = self.buses.all();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// Create or update a rule; its ARN.
    pub fn put_rule(&self, r: NewRule) -> Result<String> {
        if r.name.is_empty()
            || r.name.len() > 64
            || !r
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        {
            return Err(Error::Invalid(format!(
                "1 validation error detected: Value '{}' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\.\\-_A-Za-z0-9]+",
                r.name
            )));
        }
        let bus = self.bus(r.bus.as_deref())?;
        match (&r.pattern, &r.schedule) {
            (None, None) => {
                return Err(Error::Invalid(
                    "Parameter(s) EventPattern or ScheduleExpression must be specified.".into(),
                ));
            }
            (_, Some(_)) if bus.name != DEFAULT_BUS => {
                return Err(Error::Invalid(
                    "ScheduleExpression is supported only on the default event bus.".into(),
                ));
            }
            _ => {}
        }
        if let Some(p) = &r.pattern {
            nimbus_patterns::Pattern::parse(p).map_err(|e| Error::InvalidPattern(e.message()))?;
        }
        if let Some(s) = &r.schedule {
            nimbus_schedules::Schedule::parse(s, nimbus_schedules::Flavour::Rule)
                .map_err(|e| Error::Invalid(e.to_string()))?;
        }
        let state = r.state.clone().unwrap_or_else(|| "ENABLED".into());
        if !matches!(state.as_str(), "ENABLED" | "DISABLED") {
            return Err(Error::Invalid(format!(
                "1 validation error detected: Value '{state}' at 'state' failed to satisfy constraint: Member must satisfy enum value set: [ENABLED, DISABLED]"
            )));
        }
        let key = store::rule_key(&bus.name, &r.name);
        let arn = store::rule_arn(&self.region, &self.account, &bus.name, &r.name);
        let now = now_millis();
        let kept = self.rules.get(&key);
        let rule = Rule {
            format: store::FORMAT,
            key,
            name: r.name,
            bus: bus.name.clone(),
            arn: arn.clone(),
            pattern: r.pattern,
            schedule: r.schedule,
            state,
            description: r.description,
            role_arn: r.role_arn,
            targets: kept.as_ref().map(|k| k.targets.clone()).unwrap_or_default(),
            // A rule's schedule counts from when it was made (or changed).
            last_fired_ms: now,
            created_ms: kept.as_ref().map_or(now, |k| k.created_ms),
            tags: {
                let mut tags = kept.as_ref().map(|k| k.tags.clone()).unwrap_or_default();
                tags.extend(r.tags);
                tags
            },
        };
        let bus = rule.bus.clone();
        self.rules.put(rule)?;
        self.indexes.invalidate(&bus);
        Ok(arn)
    }

    pub fn rule(&self, bus: Option<&str>, name: &str) -> Result<Arc<Rule>> {
        let bus = bus_name(bus);
        self.rules.get(&store::rule_key(bus, name)).ok_or_else(|| {
            Error::NotFound(format!("Rule {name} does not exist on EventBus {bus}."))
        })
    }

    pub fn rules(&self, bus: Option<&str>, prefix: Option<&str>) -> Result<Vec<Arc<Rule>>> {
        let bus = self.bus(bus)?;
        let mut v: Vec<_> = self
            .rules
            .all()
            .into_iter()
            .filter(|r| r.bus == bus.name && prefix.is_none_or(|p| r.name.starts_with(p)))
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(v)
    }

    pub fn delete_rule(&self, bus: Option<&str>, name: &str) -> Result<()> {
        let Ok(rule) = self.rule(bus, name) else {
            // Deleting a rule that is not there succeeds, as on AWS.
            return Ok(());
        };
        if !rule.targets.is_empty() {
            return Err(Error::Invalid(
                "Rule can't be deleted since it has targets.".into(),
            ));
        }
        self.rules.delete(&rule.key)?;
        self.indexes.invalidate(&rule.bus);
        Ok(())
    }

    pub fn set_state(&self, bus: Option<&str>, name: &str, enabled: bool) -> Result<()> {
        let rule = self.rule(bus, name)?;
        self.rules.change(&rule.key, |r| {
            r.state = if enabled { "ENABLED" } else { "DISABLED" }.into();
            if enabled {
                r.last_fired_ms = now_millis();
            }
            Ok::<_, Error>(())
        })?;
        Ok(())
    }

    /// Add or replace targets (by `Id`); the ids refused, with why.
    pub fn put_targets(
        &self,
        bus: Option<&str>,
        name: &str,
        targets: Vec<Target>,
    ) -> Result<Vec<(String, String, String)>> {
        let rule = self.rule(bus, name)?;
        let mut failed = Vec::new();
        let mut ok = Vec::new();
        for t in targets {
            if t.id.is_empty() || t.arn.is_empty() {
                failed.push((
                    t.id,
                    "ValidationException".into(),
                    "Id and Arn are required".into(),
                ));
            } else if (t.arn.starts_with("arn:aws:states:") || t.arn.contains(":api-destination/"))
                && t.role_arn.is_none()
            {
                failed.push((
                    t.id.clone(),
                    "ValidationException".into(),
                    format!("RoleArn is required for target arn {}.", t.arn),
                ));
            } else if t.arn.contains(":api-destination/") {
                if self.destination_by_arn(&t.arn).is_some() {
                    ok.push(t);
                } else {
                    failed.push((
                        t.id.clone(),
                        "ResourceNotFoundException".into(),
                        format!("API destination {} does not exist.", t.arn),
                    ));
                }
            } else if !self.outbox.exists(&t.arn) {
                failed.push((
                    t.id.clone(),
                    "ValidationException".into(),
                    format!("Nimbus cannot deliver to {}: only functions, queues, topics, event buses and state machines that exist are targets yet", t.arn),
                ));
            } else {
                ok.push(t);
            }
        }
        self.rules.change(&rule.key, |r| {
            for t in ok {
                r.targets.retain(|x| x.id != t.id);
                r.targets.push(t);
            }
            if r.targets.len() > MAX_TARGETS {
                return Err(Error::Limit(format!(
                    "The requested resource exceeds the maximum number allowed ({MAX_TARGETS} targets per rule)."
                )));
            }
            Ok(())
        })?;
        Ok(failed)
    }

    pub fn remove_targets(&self, bus: Option<&str>, name: &str, ids: &[String]) -> Result<()> {
        let rule = self.rule(bus, name)?;
        self.rules.change(&rule.key, |r| {
            r.targets.retain(|t| !ids.contains(&t.id));
            Ok::<_, Error>(())
        })?;
        Ok(())
    }

    /// The names of the rules with a target of this ARN.
    pub fn rules_by_target(&self, bus: Option<&str>, arn: &str) -> Result<Vec<String>> {
        Ok(self
            .rules(bus, None)?
            .into_iter()
            .filter(|r| r.targets.iter().any(|t| t.arn == arn))
            .map(|r| r.name.clone())
            .collect())
    }

    /// The event an entry stands for, in EventBridge's envelope.
    fn envelope(&self, e: &Entry) -> std::result::Result<Value, (String, String)> {
        let missing = |what: &str| {
            (
                "InvalidArgument".to_string(),
                format!("Parameter {what} is not valid. Reason: {what} is a required argument."),
            )
        };
        let source = e
            .source
            .as_deref()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| missing("Source"))?;
        let detail_type = e
            .detail_type
            .as_deref()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| missing("DetailType"))?;
        let detail = e.detail.as_deref().ok_or_else(|| missing("Detail"))?;
        let detail: Value = match serde_json::from_str(detail) {
            Ok(v @ Value::Object(_)) => v,
            _ => {
                return Err(("MalformedDetail".into(), "Detail is malformed.".into()));
            }
        };
        let time = e.time.clone().unwrap_or_else(|| {
            nimbus_model::time::Utc::from_millis(now_millis()).rfc3339_seconds()
        });
        Ok(json!({
            "version": "0", "id": uuid::Uuid::new_v4().to_string(),
            "detail-type": detail_type, "source": source, "account": self.account,
            "time": time, "region": self.region, "resources": e.resources, "detail": detail,
        }))
    }

    /// Put events: each matched against the enabled rules of its bus, one
    /// delivery staged per matching target; all committed before answering.
    pub fn put_events(&self, entries: &[Entry]) -> Result<Vec<Outcome>> {
        let mut batch = WriteBatch::default();
        let mut staged = Vec::new();
        let mut outcomes = Vec::new();
        for e in entries {
            let bus = match self.bus(e.bus.as_deref()) {
                Ok(b) => b,
                Err(why) => {
                    outcomes.push(Err(("InvalidArgument".into(), why.to_string())));
                    continue;
                }
            };
            let event = match self.envelope(e) {
                Ok(v) => v,
                Err(why) => {
                    outcomes.push(Err(why));
                    continue;
                }
            };
            self.archive_event(&bus.arn, &event, &mut batch);
            for rule in self.matching(&bus.name, &event) {
                self.deliver(&rule, &event, e.trace.as_deref(), &mut batch, &mut staged);
            }
            outcomes.push(Ok(event["id"].as_str().unwrap_or_default().to_string()));
        }
        self.kv.commit(batch)?;
        self.finish(staged);
        Ok(outcomes)
    }

    /// Stage `event` for each target of `rule` that may receive it; one
    /// that cannot be delivered goes to its dead-letter queue, if it has
    /// one. (What fails here is what EventBridge does not retry: a missing
    /// target, missing permissions, input that cannot be made.)
    fn deliver(
        &self,
        rule: &Rule,
        event: &Value,
        trace: Option<&str>,
        batch: &mut WriteBatch,
        staged: &mut Vec<Staged>,
    ) {
        for t in &rule.targets {
            match self.deliver_one(rule, t, event, trace, batch) {
                Ok(s) => staged.push(s),
                Err((code, why)) => {
                    tracing::warn!(rule = %rule.arn, target = %t.arn, code, %why, "an EventBridge delivery failed");
                    self.dead_letter(rule, t, event, (code, &why), batch, staged);
                }
            }
        }
    }

    /// Stage `event` for target `t`, or say why not: one of EventBridge's
    /// dead-letter error codes and a message.
    fn deliver_one(
        &self,
        rule: &Rule,
        t: &Target,
        event: &Value,
        trace: Option<&str>,
        batch: &mut WriteBatch,
    ) -> std::result::Result<Staged, (&'static str, String)> {
        if t.arn.contains(":api-destination/") {
            // Called as the target's role, with the target's input.
            let session = format!("events-{}", rule.name);
            let acting = Acting::Role {
                role_arn: t.role_arn.as_deref().unwrap_or_default(),
                session: &session,
            };
            nimbus_invoke::permissions::check(
                self.permissions.as_deref(),
                acting,
                "events:InvokeApiDestination",
                &t.arn,
            )
            .map_err(|why| ("NO_PERMISSIONS", why.to_string()))?;
            let payload = target_input(t, event).map_err(|why| ("INVALID_JSON", why))?;
            return self.stage_call(rule, t, event, &payload, batch);
        }
        // Another bus of the account: no resource policy to ask. A state
        // machine is started as the target's role, as EventBridge does;
        // everything else is reached as the service, by resource policy.
        if !t.arn.contains(":event-bus/") {
            let session = format!("events-{}", rule.name);
            let (acting, action) = if t.arn.starts_with("arn:aws:states:") {
                let role_arn = t.role_arn.as_deref().unwrap_or_default();
                let acting = Acting::Role {
                    role_arn,
                    session: &session,
                };
                (acting, "states:StartExecution")
            } else {
                let acting = Acting::Service {
                    service: "events.amazonaws.com",
                    source_arn: &rule.arn,
                    source_account: &self.account,
                };
                let action = if t.arn.starts_with("arn:aws:sqs:") {
                    "sqs:SendMessage"
                } else if t.arn.starts_with("arn:aws:sns:") {
                    "sns:Publish"
                } else {
                    "lambda:InvokeFunction"
                };
                (acting, action)
            };
            nimbus_invoke::permissions::check(self.permissions.as_deref(), acting, action, &t.arn)
                .map_err(|why| ("NO_PERMISSIONS", why.to_string()))?;
        }
        let payload = target_input(t, event).map_err(|why| ("INVALID_JSON", why))?;
        let mut delivery = Delivery::new(payload.as_bytes(), trace);
        if let Some(group) = t
            .extra
            .get("SqsParameters")
            .and_then(|p| p.get("MessageGroupId"))
            .and_then(Value::as_str)
        {
            // A FIFO queue: the rule's group, the event's id against
            // duplicates.
            delivery.group_id = Some(group.to_string());
            delivery.dedup_id = event["id"].as_str().map(str::to_string);
        }
        self.outbox
            .stage_delivery(&t.arn, &delivery, batch)
            .map_err(|e| match e {
                DeliveryError::NoSuchTarget(m) => ("RESOURCE_NOT_FOUND", m),
                DeliveryError::Unsupported(m) => ("INVALID_PARAMETER", m),
                DeliveryError::Failed(m) => ("ERROR_FROM_TARGET", m),
            })
    }

    /// Send `event`, which could not be delivered to `t`, to the target's
    /// dead-letter queue with the attributes EventBridge adds. The queue's
    /// policy must let the rule send to it; a refused or missing queue
    /// loses the event, as on AWS (logged).
    fn dead_letter(
        &self,
        rule: &Rule,
        t: &Target,
        event: &Value,
        (code, why): (&str, &str),
        batch: &mut WriteBatch,
        staged: &mut Vec<Staged>,
    ) {
        let Some(dlq) = t
            .extra
            .get("DeadLetterConfig")
            .and_then(|d| d.get("Arn"))
            .and_then(Value::as_str)
        else {
            return;
        };
        let acting = Acting::Service {
            service: "events.amazonaws.com",
            source_arn: &rule.arn,
            source_account: &self.account,
        };
        let body = event.to_string();
        let delivery = Delivery::new(body.as_bytes(), None)
            .attribute("RULE_ARN", rule.arn.clone())
            .attribute("TARGET_ARN", t.arn.clone())
            .attribute("ERROR_CODE", code)
            .attribute("ERROR_MESSAGE", why)
            .attribute("RETRY_ATTEMPTS", "0");
        staged.extend(self.stage_dead_letter(acting, dlq, &delivery, batch));
    }

    /// Send an undeliverable event (or call) to a dead-letter queue as
    /// `acting` (EventBridge for a rule, a schedule's role), whose queue
    /// policy or IAM must let it; a refused or missing queue loses it, as
    /// on AWS (logged). The one way EventBridge and Scheduler dead-letter.
    pub(crate) fn stage_dead_letter(
        &self,
        acting: Acting<'_>,
        dlq: &str,
        delivery: &Delivery<'_>,
        batch: &mut WriteBatch,
    ) -> Option<Staged> {
        let sent = nimbus_invoke::permissions::check(
            self.permissions.as_deref(),
            acting,
            "sqs:SendMessage",
            dlq,
        )
        .map_err(|e| e.to_string())
        .and_then(|()| {
            self.outbox
                .stage_delivery(dlq, delivery, batch)
                .map_err(|e| e.to_string())
        });
        match sent {
            Ok(s) => Some(s),
            Err(why) => {
                tracing::warn!(dlq, %why, "an undeliverable event could not go to its dead-letter queue");
                None
            }
        }
    }

    /// Fire the schedule rules due at `now` (milliseconds): each one's
    /// targets get a `Scheduled Event`, and its `last_fired` moves to
    /// `now`, in one batch. Firings missed while the server was down run
    /// once. How many rules fired.
    pub fn fire_due(&self, now: u64) -> Result<usize> {
        let mut fired = 0;
        for rule in self.rules.all() {
            let Some(expr) = rule.schedule.as_deref().filter(|_| rule.enabled()) else {
                continue;
            };
            let Ok(schedule) =
                nimbus_schedules::Schedule::parse(expr, nimbus_schedules::Flavour::Rule)
            else {
                continue;
            };
            let mut timing = nimbus_schedules::Timing::utc();
            let millis = |ms: u64| {
                nimbus_schedules::Timestamp::from_millisecond(i64::try_from(ms).unwrap_or(i64::MAX))
                    .ok()
            };
            timing.start = millis(rule.created_ms);
            let Some(last) = millis(rule.last_fired_ms) else {
                continue;
            };
            let due = schedule.next_after(last, &timing).is_some_and(|next| {
                next.as_millisecond() <= i64::try_from(now).unwrap_or(i64::MAX)
            });
            if !due {
                continue;
            }
            let event = json!({
                "version": "0", "id": uuid::Uuid::new_v4().to_string(),
                "detail-type": "Scheduled Event", "source": "aws.events",
                "account": self.account,
                "time": nimbus_model::time::Utc::from_millis(now).rfc3339_seconds(),
                "region": self.region, "resources": [rule.arn], "detail": {},
            });
            let mut batch = WriteBatch::default();
            let mut staged = Vec::new();
            self.deliver(&rule, &event, None, &mut batch, &mut staged);
            let mut next = (*rule).clone();
            next.last_fired_ms = now;
            let mut writer = self.rules.writer();
            writer.put(&mut batch, next)?;
            self.kv.commit(batch)?;
            writer.apply();
            self.finish(staged);
            fired += 1;
        }
        Ok(fired)
    }

    /// Fire due schedules every second, for as long as the runtime runs.
    pub fn start(self: &Arc<Self>) {
        let events = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
            loop {
                tick.tick().await;
                let Some(events) = events.upgrade() else {
                    return;
                };
                if let Err(e) = events.fire_due(now_millis()) {
                    tracing::error!(error = %e, "fire scheduled rules");
                }
                if let Err(e) = events.fire_schedules(now_millis()) {
                    tracing::error!(error = %e, "fire schedules");
                }
            }
        });
    }
}

/// What a bus target staged: the deliveries to the targets of its rules.
struct StagedEvent(Vec<Staged>);

thread_local! {
    /// How many buses the event being staged has passed through: a rule
    /// that targets a bus whose rule targets the first would loop.
    static HOPS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// The buses an event may pass through in one staging.
const MAX_HOPS: u32 = 5;

impl Events {
    /// The event a payload sent to a bus stands for: an event as it is (a
    /// rule targeting another bus), or a Lambda destination record wrapped
    /// as Lambda wraps it.
    fn event_of(&self, payload: &[u8]) -> std::result::Result<Value, String> {
        let v: Value = serde_json::from_slice(payload).map_err(|e| format!("not JSON: {e}"))?;
        if v.get("detail-type").is_some() && v.get("source").is_some() {
            return Ok(v);
        }
        let Some(condition) = v
            .pointer("/requestContext/condition")
            .and_then(Value::as_str)
        else {
            return Err("neither an event nor a Lambda destination record".into());
        };
        let outcome = if condition == "Success" {
            "Success"
        } else {
            "Failure"
        };
        let function = v
            .pointer("/requestContext/functionArn")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let unqualified = match function.split(':').collect::<Vec<_>>().as_slice() {
            [head @ .., _] if function.matches(':').count() >= 7 => head.join(":"),
            _ => function.to_string(),
        };
        Ok(json!({
            "version": "0", "id": uuid::Uuid::new_v4().to_string(),
            "detail-type": format!("Lambda Function Invocation Result - {outcome}"),
            "source": "lambda", "account": self.account,
            "time": nimbus_model::time::Utc::from_millis(now_millis()).rfc3339_seconds(),
            "region": self.region, "resources": [unqualified], "detail": v,
        }))
    }
}

/// Buses as targets of other services (a rule's target, a Lambda
/// destination, S3's events): the event is matched against the bus's rules
/// and their deliveries staged in the emitter's batch.
impl Outbox for Events {
    fn exists(&self, target: &str) -> bool {
        target.contains(":event-bus/") && self.bus(Some(target)).is_ok()
    }

    fn stage(
        &self,
        target: &str,
        payload: &[u8],
        trace: Option<&str>,
        batch: &mut WriteBatch,
    ) -> std::result::Result<Staged, DeliveryError> {
        let bus = self
            .bus(Some(target))
            .map_err(|e| DeliveryError::NoSuchTarget(e.to_string()))?;
        let event = self.event_of(payload).map_err(DeliveryError::Failed)?;
        let hops = HOPS.with(|h| h.get());
        if hops >= MAX_HOPS {
            return Err(DeliveryError::Failed(format!(
                "the event went through {MAX_HOPS} buses: a loop of rules"
            )));
        }
        HOPS.with(|h| h.set(hops + 1));
        let mut staged = Vec::new();
        for rule in self.matching(&bus.name, &event) {
            self.deliver(&rule, &event, trace, batch, &mut staged);
        }
        HOPS.with(|h| h.set(hops));
        Ok(Staged::new(StagedEvent(staged)))
    }

    fn committed(&self, staged: Vec<Staged>) {
        let inner: Vec<Staged> = staged
            .into_iter()
            .filter_map(|s| s.downcast::<StagedEvent>().ok())
            .flat_map(|e| e.0)
            .collect();
        if !inner.is_empty() {
            self.finish(inner);
        }
    }
}

/// A bus's name from a name or an ARN (`default` when none).
fn bus_name(name_or_arn: Option<&str>) -> &str {
    match name_or_arn {
        None | Some("") => DEFAULT_BUS,
        Some(s) => s.rsplit_once("event-bus/").map_or(s, |(_, n)| n),
    }
}

#[cfg(test)]
mod tests;
