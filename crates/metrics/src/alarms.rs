//! CloudWatch metric alarms: durable records evaluated every few seconds
//! against the metrics. An alarm looks at its last `EvaluationPeriods`
//! periods (windows ending now), counts the datapoints that breach its
//! threshold, and goes to `ALARM` when `DatapointsToAlarm` of them do, to
//! `OK` when they do not, and to `INSUFFICIENT_DATA` when there are none
//! (as `TreatMissingData` says missing periods count). A change of state
//! is written with its history item and its actions (an SNS notification,
//! an asynchronous invocation) in one batch through the outbox.
//!
//! A composite alarm has an `AlarmRule` (`crate::rules`) over other alarms'
//! states instead of a metric; it is `ALARM` while its rule holds and `OK`
//! otherwise, re-judged after the metric alarms at every evaluation.

use crate::{MetricId, Metrics};
use nimbus_invoke::permissions::{Acting, Permissions};
use nimbus_invoke::{Delivery, Outbox, Staged};
use nimbus_model::time::{Utc, now_millis};
use nimbus_storage::records::{Record, Records};
use nimbus_storage::{KvEngine, Table, WriteBatch};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::{Arc, OnceLock};

const FORMAT: u32 = 1;
/// History kept per alarm (CloudWatch keeps two weeks; Nimbus the newest).
const HISTORY: usize = 100;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alarm {
    pub format: u32,
    pub name: String,
    pub arn: String,
    pub description: Option<String>,
    pub metric: MetricId,
    /// `Statistic` (`Average`, ...) or `ExtendedStatistic` (`p99`).
    pub statistic: String,
    pub extended: bool,
    pub unit: Option<String>,
    pub period_s: u64,
    pub evaluation_periods: u64,
    pub datapoints_to_alarm: u64,
    pub threshold: f64,
    pub comparison: String,
    /// `missing`, `notBreaching`, `breaching` or `ignore`.
    pub treat_missing: String,
    pub actions_enabled: bool,
    pub alarm_actions: Vec<String>,
    pub ok_actions: Vec<String>,
    pub insufficient_actions: Vec<String>,
    pub state: String,
    pub reason: String,
    pub reason_data: Option<String>,
    pub state_updated_ms: u64,
    pub configuration_updated_ms: u64,
    #[serde(default)]
    pub tags: Vec<(String, String)>,
    /// A composite alarm's `AlarmRule` (its metric fields are unused).
    #[serde(default)]
    pub rule: Option<String>,
    /// A metric math alarm's queries (`Metrics`): its value is the series of
    /// the one that returns data (its `metric` field is unused).
    #[serde(default)]
    pub queries: Vec<AlarmQuery>,
}

/// One query of a metric math alarm: a metric's statistic, or an expression
/// over the others' series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlarmQuery {
    pub id: String,
    pub metric: Option<MetricId>,
    pub stat: Option<String>,
    pub period_s: Option<u64>,
    pub expression: Option<String>,
    pub label: Option<String>,
    pub return_data: bool,
}

impl Alarm {
    pub fn is_composite(&self) -> bool {
        self.rule.is_some()
    }
}

impl Record for Alarm {
    fn key(&self) -> &str {
        &self.name
    }
    fn format(&self) -> u32 {
        self.format
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryItem {
    pub format: u32,
    /// `alarm\n<ms>-<uuid>`.
    pub key: String,
    pub alarm: String,
    pub at_ms: u64,
    /// `StateUpdate`, `ConfigurationUpdate` or `Action`.
    pub kind: String,
    pub summary: String,
    pub data: String,
}

impl Record for HistoryItem {
    fn key(&self) -> &str {
        &self.key
    }
    fn format(&self) -> u32 {
        self.format
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Storage(#[from] nimbus_storage::Error),
}

pub const COMPARISONS: [&str; 4] = [
    "GreaterThanOrEqualToThreshold",
    "GreaterThanThreshold",
    "LessThanThreshold",
    "LessThanOrEqualToThreshold",
];

fn breaches(comparison: &str, value: f64, threshold: f64) -> bool {
    match comparison {
        "GreaterThanOrEqualToThreshold" => value >= threshold,
        "GreaterThanThreshold" => value > threshold,
        "LessThanThreshold" => value < threshold,
        _ => value <= threshold,
    }
}

fn relation(comparison: &str) -> &'static str {
    match comparison {
        "GreaterThanOrEqualToThreshold" => "greater than or equal to",
        "GreaterThanThreshold" => "greater than",
        "LessThanThreshold" => "less than",
        _ => "less than or equal to",
    }
}

/// A metric math alarm's queries as CloudWatch checks them: unique ids, a
/// metric or an expression each, exactly one returning data.
fn check_queries(queries: &[AlarmQuery]) -> Result<(), Error> {
    let bad = |m: String| Err(Error::Invalid(m));
    if queries.len() > 10 {
        return bad("An alarm's Metrics have at most 10 queries.".into());
    }
    let mut ids = std::collections::HashSet::new();
    for q in queries {
        if q.id.is_empty()
            || !q.id.starts_with(|c: char| c.is_ascii_lowercase())
            || !ids.insert(q.id.as_str())
        {
            return bad(format!(
                "The Id {} is invalid or repeated: ids start with a lower-case letter and are unique.",
                q.id
            ));
        }
        if q.expression
            .as_ref()
            .is_some_and(|e| e.chars().count() > crate::math::MAX_EXPRESSION)
        {
            return bad(format!(
                "The expression of {} is longer than {} characters.",
                q.id,
                crate::math::MAX_EXPRESSION
            ));
        }
        if let Some(p) = q.period_s
            && (p == 0 || !(matches!(p, 10 | 30) || p.is_multiple_of(60)) || p > 86_400 * 7)
        {
            return bad(format!(
                "The Period of {} must be 10, 30 or a multiple of 60 seconds, at most 604800.",
                q.id
            ));
        }
        if q.metric.is_some() == q.expression.is_some() {
            return bad(format!(
                "Query {} must have exactly one of MetricStat and Expression.",
                q.id
            ));
        }
    }
    if queries.iter().filter(|q| q.return_data).count() != 1 {
        return bad("Exactly one element of the Metrics list must return data.".into());
    }
    Ok(())
}

/// The periods an evaluation reads, as CloudWatch's evaluation range: aligned
/// to the period, ending with the current (partial) one, and two more than
/// `EvaluationPeriods`, so a datapoint stays in view for a while after its
/// period has ended instead of only until the next period starts.
pub fn evaluation_range(now: u64, period: u64, evaluation_periods: u64) -> (u64, u64) {
    let period = period.max(1);
    let end = (now / period + 1) * period;
    let start = end.saturating_sub(period.saturating_mul(evaluation_periods.saturating_add(2)));
    (start, end)
}

/// The `EvaluationPeriods` values an alarm is judged on, newest first: the
/// most recent datapoints in the range; when there are fewer, the newest
/// periods without one count as missing.
pub fn evaluated(
    series: &crate::math::Series,
    start: u64,
    period: u64,
    evaluation_periods: u64,
) -> Vec<(u64, Option<f64>)> {
    let n = evaluation_periods as usize;
    let mut present: Vec<(u64, Option<f64>)> = series
        .range(start..)
        .rev()
        .take(n)
        .map(|(t, v)| (*t, Some(*v)))
        .collect();
    if present.len() < n {
        // Count the missing ones from the newest periods down, as the range has them.
        let have: std::collections::HashSet<u64> = present.iter().map(|(t, _)| *t).collect();
        let slots = (0..evaluation_periods.saturating_add(2)).map(|i| start + i * period);
        let mut missing: Vec<(u64, Option<f64>)> = slots
            .rev()
            .filter(|t| !have.contains(t))
            .take(n - present.len())
            .map(|t| (t, None))
            .collect();
        present.append(&mut missing);
        present.sort_by_key(|(t, _)| std::cmp::Reverse(*t));
    }
    present
}

/// What one evaluation found: the new state and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub state: &'static str,
    pub reason: String,
    pub reason_data: Value,
}

/// Decide an alarm's state from its periods' values, newest first
/// (`None`: no datapoint in that period).
pub fn judge(a: &Alarm, values: &[(u64, Option<f64>)]) -> Option<Verdict> {
    let present: Vec<(u64, f64)> = values
        .iter()
        .filter_map(|(t, v)| Some((*t, (*v)?)))
        .collect();
    let missing = values.len() - present.len();
    let breaching: Vec<(u64, f64)> = present
        .iter()
        .copied()
        .filter(|(_, v)| breaches(&a.comparison, *v, a.threshold))
        .collect();
    let mut bad = breaching.len();
    match a.treat_missing.as_str() {
        "breaching" => bad += missing,
        "notBreaching" => {}
        "ignore" if present.is_empty() => return None,
        _ if present.is_empty() => {
            return Some(Verdict {
                state: "INSUFFICIENT_DATA",
                reason: format!(
                    "Insufficient Data: {} datapoints were unknown.",
                    values.len()
                ),
                reason_data: json!({"version": "1.0", "queryDate": Utc::from_millis(now_millis()).rfc3339_millis(),
                    "statistic": a.statistic, "period": a.period_s, "recentDatapoints": [], "threshold": a.threshold}),
            });
        }
        _ => {}
    }
    let shown: Vec<String> = present
        .iter()
        .map(|(t, v)| format!("{v} ({})", Utc::from_millis(*t).rfc3339_seconds()))
        .collect();
    let alarm = bad as u64 >= a.datapoints_to_alarm;
    let reason = if alarm {
        format!(
            "Threshold Crossed: {} out of the last {} datapoints [{}] was {} the threshold ({}) (minimum {} datapoint{} for OK -> ALARM transition).",
            bad,
            values.len(),
            shown.join(", "),
            relation(&a.comparison),
            a.threshold,
            a.datapoints_to_alarm,
            if a.datapoints_to_alarm == 1 { "" } else { "s" }
        )
    } else {
        format!(
            "Threshold Crossed: {} datapoint{} [{}] was not {} the threshold ({}).",
            present.len(),
            if present.len() == 1 { "" } else { "s" },
            shown.join(", "),
            relation(&a.comparison),
            a.threshold
        )
    };
    Some(Verdict {
        state: if alarm { "ALARM" } else { "OK" },
        reason,
        reason_data: json!({"version": "1.0", "queryDate": Utc::from_millis(now_millis()).rfc3339_millis(),
            "startDate": present.last().map(|(t, _)| Utc::from_millis(*t).rfc3339_millis()),
            "statistic": a.statistic, "period": a.period_s,
            "recentDatapoints": present.iter().map(|(_, v)| *v).collect::<Vec<_>>(),
            "threshold": a.threshold, "evaluatedDatapoints": present.iter().map(|(t, v)| json!({
                "timestamp": Utc::from_millis(*t).rfc3339_millis(), "sampleCount": 1.0, "value": v})).collect::<Vec<_>>()}),
    })
}

pub struct Alarms {
    kv: Arc<dyn KvEngine>,
    alarms: Records<Alarm>,
    history: Records<HistoryItem>,
    metrics: Arc<Metrics>,
    outbox: Arc<dyn Outbox>,
    permissions: Option<Arc<dyn Permissions>>,
    account: String,
    region: String,
    /// What a state change's actions are told about the region.
    region_name: OnceLock<String>,
}

impl Alarms {
    pub fn open(
        kv: Arc<dyn KvEngine>,
        metrics: Arc<Metrics>,
        outbox: Arc<dyn Outbox>,
        permissions: Option<Arc<dyn Permissions>>,
        account: &str,
        region: &str,
    ) -> Result<Alarms, Error> {
        Ok(Alarms {
            alarms: Records::open(kv.clone(), Table("cloudwatch_alarms"), FORMAT)?,
            history: Records::open(kv.clone(), Table("cloudwatch_alarm_history"), FORMAT)?,
            kv,
            metrics,
            outbox,
            permissions,
            account: account.to_string(),
            region: region.to_string(),
            region_name: OnceLock::new(),
        })
    }

    pub fn arn(&self, name: &str) -> String {
        format!(
            "arn:aws:cloudwatch:{}:{}:alarm:{name}",
            self.region, self.account
        )
    }

    /// `PutMetricAlarm`: make or replace an alarm (a new one starts in
    /// `INSUFFICIENT_DATA`; a replaced one keeps its state).
    pub fn put(&self, a: Alarm) -> Result<(), Error> {
        if a.name.is_empty() || a.name.len() > 255 {
            return Err(Error::Invalid(
                "AlarmName must be 1 to 255 characters.".into(),
            ));
        }
        if let Some(rule) = &a.rule {
            self.check_rule(&a.name, rule)?;
            return self.store(a);
        }
        if !a.queries.is_empty() {
            check_queries(&a.queries)?;
        }
        if self.alarms.get(&a.name).is_some_and(|k| k.is_composite()) {
            return Err(Error::Invalid(format!(
                "{} is a composite alarm: a metric alarm cannot replace it.",
                a.name
            )));
        }
        if !COMPARISONS.contains(&a.comparison.as_str()) {
            return Err(Error::Invalid(format!(
                "The value {} for parameter ComparisonOperator is invalid: Nimbus takes {}.",
                a.comparison,
                COMPARISONS.join(", ")
            )));
        }
        if a.evaluation_periods == 0
            || a.datapoints_to_alarm == 0
            || a.datapoints_to_alarm > a.evaluation_periods
        {
            return Err(Error::Invalid(
                "DatapointsToAlarm must be between 1 and EvaluationPeriods.".into(),
            ));
        }
        if a.period_s == 0 || !(matches!(a.period_s, 10 | 30) || a.period_s.is_multiple_of(60)) {
            return Err(Error::Invalid(
                "The parameter Period must be 10, 30 or a multiple of 60.".into(),
            ));
        }
        if a.period_s
            .checked_mul(a.evaluation_periods)
            .is_none_or(|span| span > 86_400 * 7)
        {
            return Err(Error::Invalid(
                "The product of Period and EvaluationPeriods must not exceed 604800 (7 days)."
                    .into(),
            ));
        }
        if !matches!(
            a.treat_missing.as_str(),
            "missing" | "notBreaching" | "breaching" | "ignore"
        ) {
            return Err(Error::Invalid(format!(
                "The value {} for parameter TreatMissingData is invalid.",
                a.treat_missing
            )));
        }
        self.store(a)
    }

    /// A composite alarm's rule: it parses, and names alarms that exist,
    /// not itself.
    fn check_rule(&self, name: &str, rule: &str) -> Result<(), Error> {
        let r = crate::rules::AlarmRule::parse(rule).map_err(|e| Error::Invalid(e.0))?;
        for other in r.alarms() {
            let n = self.name_of(&other);
            if n == name {
                return Err(Error::Invalid(format!(
                    "The alarm rule of {name} refers to itself."
                )));
            }
            if self.alarms.get(n).is_none() {
                return Err(Error::Invalid(format!(
                    "The alarm rule refers to the alarm {other}, which does not exist."
                )));
            }
        }
        if let Some(kept) = self.alarms.get(name)
            && !kept.is_composite()
        {
            return Err(Error::Invalid(format!(
                "{name} is a metric alarm: a composite alarm cannot replace it."
            )));
        }
        Ok(())
    }

    /// An alarm's name from a rule's reference (a name or an ARN).
    fn name_of<'a>(&self, reference: &'a str) -> &'a str {
        match reference.strip_prefix("arn:aws:cloudwatch:") {
            Some(rest) => rest.rsplit_once(":alarm:").map_or(reference, |(_, n)| n),
            None => reference,
        }
    }

    fn store(&self, mut a: Alarm) -> Result<(), Error> {
        let now = now_millis();
        a.format = FORMAT;
        a.arn = self.arn(&a.name);
        a.configuration_updated_ms = now;
        match self.alarms.get(&a.name) {
            Some(kept) => {
                a.state.clone_from(&kept.state);
                a.reason.clone_from(&kept.reason);
                a.reason_data.clone_from(&kept.reason_data);
                a.state_updated_ms = kept.state_updated_ms;
            }
            None => {
                a.state = "INSUFFICIENT_DATA".into();
                a.reason = "Unchecked: Initial alarm creation".into();
                a.reason_data = None;
                a.state_updated_ms = now;
            }
        }
        let name = a.name.clone();
        let mut batch = WriteBatch::default();
        let mut w = self.alarms.writer();
        w.put(&mut batch, a)?;
        let mut hw = self.history.writer();
        hw.put(
            &mut batch,
            self.item(
                &name,
                "ConfigurationUpdate",
                &format!("Alarm \"{name}\" updated"),
                json!({"type": "Update"}),
            ),
        )?;
        self.kv.commit(batch)?;
        w.apply();
        hw.apply();
        Ok(())
    }

    fn item(&self, alarm: &str, kind: &str, summary: &str, data: Value) -> HistoryItem {
        let at = now_millis();
        HistoryItem {
            format: FORMAT,
            key: format!("{alarm}\n{at:016}-{}", uuid::Uuid::new_v4().simple()),
            alarm: alarm.to_string(),
            at_ms: at,
            kind: kind.to_string(),
            summary: summary.to_string(),
            data: data.to_string(),
        }
    }

    pub fn get(&self, name: &str) -> Option<Arc<Alarm>> {
        self.alarms.get(name)
    }

    pub fn all(&self) -> Vec<Arc<Alarm>> {
        let mut v = self.alarms.all();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    pub fn delete(&self, names: &[String]) -> Result<(), Error> {
        for n in names {
            if self.alarms.get(n).is_none() {
                return Err(Error::NotFound(format!("The alarm {n} does not exist.")));
            }
        }
        for n in names {
            self.alarms.delete(n)?;
            for h in self.history.prefixed(&format!("{n}\n")) {
                self.history.delete(&h.key)?;
            }
        }
        Ok(())
    }

    pub fn set_actions_enabled(&self, names: &[String], enabled: bool) -> Result<(), Error> {
        for n in names {
            self.alarms.change(n, |a| {
                a.actions_enabled = enabled;
                Ok::<_, Error>(())
            })?;
        }
        Ok(())
    }

    /// An alarm's history, newest first.
    pub fn history(&self, name: Option<&str>) -> Vec<Arc<HistoryItem>> {
        let mut v = match name {
            Some(n) => self.history.prefixed(&format!("{n}\n")),
            None => self.history.all(),
        };
        v.sort_by(|a, b| b.at_ms.cmp(&a.at_ms).then_with(|| b.key.cmp(&a.key)));
        v
    }

    /// `SetAlarmState`: the state until the next evaluation says otherwise.
    pub fn set_state(
        &self,
        name: &str,
        state: &str,
        reason: &str,
        data: Option<&str>,
    ) -> Result<(), Error> {
        if !matches!(state, "OK" | "ALARM" | "INSUFFICIENT_DATA") {
            return Err(Error::Invalid(format!(
                "The value {state} for parameter StateValue is invalid."
            )));
        }
        if let Some(d) = data
            && serde_json::from_str::<Value>(d).is_err()
        {
            return Err(Error::Invalid("StateReasonData is not valid JSON.".into()));
        }
        let a = self
            .alarms
            .get(name)
            .ok_or_else(|| Error::NotFound(format!("Alarm {name} not found")))?;
        let v = Verdict {
            state: match state {
                "OK" => "OK",
                "ALARM" => "ALARM",
                _ => "INSUFFICIENT_DATA",
            },
            reason: reason.to_string(),
            reason_data: data
                .and_then(|d| serde_json::from_str(d).ok())
                .unwrap_or(Value::Null),
        };
        self.transition(&a, v)
    }

    /// Evaluate every alarm now; how many changed state.
    pub fn evaluate(&self) -> usize {
        let now = now_millis();
        let mut changed = 0;
        for a in self.alarms.all() {
            if a.is_composite() {
                continue;
            }
            let period = a.period_s * 1000;
            let (start, end) = evaluation_range(now, period, a.evaluation_periods);
            let series = if a.queries.is_empty() {
                let (points, _) = self.metrics.query(&a.metric, start, end, period);
                points
                    .iter()
                    .filter_map(|p| Some((p.at, p.stats.get(&a.statistic)?)))
                    .collect()
            } else {
                match self.math_series(&a, start, end) {
                    Ok(s) => s,
                    Err(why) => {
                        tracing::warn!(alarm = %a.name, error = %why, "evaluate a metric math alarm");
                        continue;
                    }
                }
            };
            let values = evaluated(&series, start, period, a.evaluation_periods);
            let Some(v) = judge(&a, &values) else {
                continue;
            };
            if v.state != a.state {
                match self.transition(&a, v) {
                    Ok(()) => changed += 1,
                    Err(e) => {
                        tracing::warn!(alarm = %a.name, error = %e, "record an alarm's new state");
                    }
                }
            }
        }
        changed + self.evaluate_composites()
    }

    /// A metric math alarm's series over `[start, end)`: its metric queries'
    /// statistics, then its expressions (which may use each other), and the
    /// one that returns data.
    fn math_series(&self, a: &Alarm, start: u64, end: u64) -> Result<crate::math::Series, String> {
        use std::collections::HashMap;
        let mut known: HashMap<String, crate::math::Series> = HashMap::new();
        let mut stats = Vec::new();
        for q in &a.queries {
            let (Some(m), Some(stat)) = (&q.metric, &q.stat) else {
                continue;
            };
            let period = q.period_s.unwrap_or(a.period_s) * 1000;
            let (points, _) = self.metrics.query(m, start, end, period.max(1000));
            let series = points
                .iter()
                .filter_map(|p| Some((p.at, p.stats.get(stat)?)))
                .collect();
            known.insert(q.id.clone(), series);
            stats.push(q.id.clone());
        }
        let mut pending: Vec<&AlarmQuery> = a
            .queries
            .iter()
            .filter(|q| q.expression.is_some())
            .collect();
        while !pending.is_empty() {
            let before = pending.len();
            let mut why = String::new();
            pending.retain(|q| {
                match crate::math::evaluate(
                    q.expression.as_deref().unwrap_or_default(),
                    &known,
                    &stats,
                ) {
                    Ok(s) => {
                        known.insert(q.id.clone(), s);
                        false
                    }
                    Err(e) => {
                        why = format!("{}: {e}", q.id);
                        true
                    }
                }
            });
            if pending.len() == before {
                return Err(why);
            }
        }
        let id = a
            .queries
            .iter()
            .find(|q| q.return_data)
            .map(|q| q.id.clone())
            .unwrap_or_default();
        Ok(known.remove(&id).unwrap_or_default())
    }

    /// Judge the composite alarms by their rules; rules over other
    /// composites settle within a few rounds.
    fn evaluate_composites(&self) -> usize {
        let mut changed = 0;
        // Each composite changes at most once per evaluation: rules that refer
        // to each other in a cycle cannot flip back and forth within one.
        let mut moved: std::collections::HashSet<String> = Default::default();
        for _ in 0..4 {
            let mut round = 0;
            for a in self.alarms.all().iter().filter(|a| a.is_composite()) {
                if moved.contains(&a.name) {
                    continue;
                }
                let Some(rule) = a
                    .rule
                    .as_deref()
                    .and_then(|r| crate::rules::AlarmRule::parse(r).ok())
                else {
                    continue;
                };
                let state_of = |r: &str| self.alarms.get(self.name_of(r)).map(|x| x.state.clone());
                let holds = rule.holds(&state_of);
                let state = if holds { "ALARM" } else { "OK" };
                if a.state == state {
                    continue;
                }
                let triggering: Vec<Value> = rule
                    .alarms()
                    .iter()
                    .filter_map(|r| self.alarms.get(self.name_of(r)))
                    .map(|x| json!({"arn": x.arn, "state": {"value": x.state, "timestamp": Utc::from_millis(x.state_updated_ms).rfc3339_millis()}}))
                    .collect();
                let v = Verdict {
                    state,
                    reason: format!(
                        "The alarm rule {} is {}.",
                        a.rule.as_deref().unwrap_or_default(),
                        if holds { "TRUE" } else { "FALSE" }
                    ),
                    reason_data: json!({"triggeringAlarms": triggering}),
                };
                match self.transition(a, v) {
                    Ok(()) => {
                        round += 1;
                        moved.insert(a.name.clone());
                    }
                    Err(e) => {
                        tracing::warn!(alarm = %a.name, error = %e, "record a composite alarm's new state");
                    }
                }
            }
            changed += round;
            if round == 0 {
                break;
            }
        }
        changed
    }

    /// Move `a` to the verdict's state: the alarm, its history item and its
    /// actions in one batch.
    fn transition(&self, a: &Alarm, v: Verdict) -> Result<(), Error> {
        let now = now_millis();
        let old = a.state.clone();
        let mut next = a.clone();
        next.state = v.state.to_string();
        next.reason.clone_from(&v.reason);
        next.reason_data = (!v.reason_data.is_null()).then(|| v.reason_data.to_string());
        next.state_updated_ms = now;
        let mut batch = WriteBatch::default();
        let mut staged = Vec::new();
        if a.actions_enabled {
            let targets = match v.state {
                "ALARM" => &a.alarm_actions,
                "OK" => &a.ok_actions,
                _ => &a.insufficient_actions,
            };
            for target in targets {
                self.stage_action(&next, &old, target, &mut batch, &mut staged);
            }
        }
        let mut w = self.alarms.writer();
        w.put(&mut batch, next)?;
        let mut hw = self.history.writer();
        let summary = format!("Alarm updated from {old} to {}", v.state);
        hw.put(&mut batch, self.item(&a.name, "StateUpdate", &summary, json!({
            "version": "1.0",
            "oldState": {"stateValue": old, "stateReason": a.reason},
            "newState": {"stateValue": v.state, "stateReason": v.reason, "stateReasonData": v.reason_data},
        })))?;
        let mut old_items = self.history(Some(&a.name));
        let drop: Vec<String> = old_items
            .split_off(old_items.len().min(HISTORY))
            .iter()
            .map(|h| h.key.clone())
            .collect();
        for k in &drop {
            hw.delete(&mut batch, k);
        }
        self.kv.commit(batch)?;
        w.apply();
        hw.apply();
        if !staged.is_empty() {
            self.outbox.committed(staged);
        }
        Ok(())
    }

    fn region_name(&self) -> &str {
        self.region_name.get_or_init(|| {
            match self.region.as_str() {
                "us-east-1" => "US East (N. Virginia)",
                "us-east-2" => "US East (Ohio)",
                "us-west-1" => "US West (N. California)",
                "us-west-2" => "US West (Oregon)",
                "eu-west-1" => "EU (Ireland)",
                "eu-central-1" => "EU (Frankfurt)",
                other => other,
            }
            .to_string()
        })
    }

    /// Stage one action of a state change: an SNS topic's notification or
    /// a function's invocation (which its policy must let
    /// `lambda.alarms.cloudwatch.amazonaws.com` make).
    fn stage_action(
        &self,
        a: &Alarm,
        old: &str,
        target: &str,
        batch: &mut WriteBatch,
        staged: &mut Vec<Staged>,
    ) {
        let time = Utc::from_millis(a.state_updated_ms).rfc3339_millis();
        let dims: Vec<Value> = a
            .metric
            .dimensions
            .iter()
            .map(|(k, v)| json!({"name": k, "value": v}))
            .collect();
        let (payload, subject) = if target.starts_with("arn:aws:sns:") {
            let mut trigger = json!({
                "MetricName": a.metric.name, "Namespace": a.metric.namespace,
                "StatisticType": if a.extended { "ExtendedStatistic" } else { "Statistic" },
                "Unit": a.unit, "Dimensions": dims, "Period": a.period_s,
                "EvaluationPeriods": a.evaluation_periods, "DatapointsToAlarm": a.datapoints_to_alarm,
                "ComparisonOperator": a.comparison, "Threshold": a.threshold,
                "TreatMissingData": a.treat_missing, "EvaluateLowSampleCountPercentile": "",
            });
            trigger[if a.extended {
                "ExtendedStatistic"
            } else {
                "Statistic"
            }] = json!(if a.extended {
                a.statistic.clone()
            } else {
                a.statistic.to_uppercase()
            });
            let mut body = json!({
                "AlarmName": a.name, "AlarmDescription": a.description, "AWSAccountId": self.account,
                "AlarmConfigurationUpdatedTimestamp": Utc::from_millis(a.configuration_updated_ms).rfc3339_millis(),
                "NewStateValue": a.state, "NewStateReason": a.reason, "StateChangeTime": time,
                "Region": self.region_name(), "AlarmArn": a.arn, "OldStateValue": old,
                "OKActions": a.ok_actions, "AlarmActions": a.alarm_actions,
                "InsufficientDataActions": a.insufficient_actions, "Trigger": trigger,
            });
            if !a.queries.is_empty() {
                let queries: Vec<Value> = a
                    .queries
                    .iter()
                    .map(|q| {
                        let mut v = json!({"Id": q.id, "ReturnData": q.return_data, "Label": q.label});
                        if let (Some(m), Some(stat)) = (&q.metric, &q.stat) {
                            v["MetricStat"] = json!({"Metric": {"Namespace": m.namespace, "MetricName": m.name,
                                "Dimensions": m.dimensions.iter().map(|(k, x)| json!({"name": k, "value": x})).collect::<Vec<_>>()},
                                "Period": q.period_s, "Stat": stat});
                        }
                        if let Some(e) = &q.expression {
                            v["Expression"] = json!(e);
                        }
                        v
                    })
                    .collect();
                if let Some(t) = body["Trigger"].as_object_mut() {
                    for k in [
                        "MetricName",
                        "Namespace",
                        "StatisticType",
                        "Statistic",
                        "Unit",
                        "Dimensions",
                    ] {
                        t.remove(k);
                    }
                    t.insert("Metrics".into(), Value::Array(queries));
                }
            }
            if let Some(rule) = &a.rule {
                body["AlarmRule"] = json!(rule);
                if let Some(o) = body.as_object_mut() {
                    o.remove("Trigger");
                }
            }
            (
                body.to_string(),
                Some(format!(
                    "{}: \"{}\" in {}",
                    a.state,
                    a.name,
                    self.region_name()
                )),
            )
        } else if target.starts_with("arn:aws:lambda:") {
            let check = nimbus_invoke::permissions::check(
                self.permissions.as_deref(),
                Acting::Service {
                    service: "lambda.alarms.cloudwatch.amazonaws.com",
                    source_arn: &a.arn,
                    source_account: &self.account,
                },
                "lambda:InvokeFunction",
                target,
            );
            if let Err(e) = check {
                tracing::warn!(alarm = %a.name, target, error = %e, "an alarm action was not allowed");
                return;
            }
            let mut body = json!({
                "source": "aws.cloudwatch", "alarmArn": a.arn, "accountId": self.account,
                "time": time, "region": self.region,
                "alarmData": {
                    "alarmName": a.name,
                    "state": {"value": a.state, "reason": a.reason, "reasonData": a.reason_data, "timestamp": time},
                    "previousState": {"value": old},
                    "configuration": {"description": a.description, "metrics": [{
                        "id": "m1", "returnData": true,
                        "metricStat": {"metric": {"namespace": a.metric.namespace, "name": a.metric.name,
                            "dimensions": a.metric.dimensions.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>()},
                            "period": a.period_s, "stat": a.statistic}}]},
                },
            });
            if let Some(rule) = &a.rule {
                body["alarmData"]["configuration"] =
                    json!({"description": a.description, "alarmRule": rule});
            }
            (body.to_string(), None)
        } else {
            tracing::warn!(alarm = %a.name, target, "Nimbus runs alarm actions on SNS topics and Lambda functions only");
            return;
        };
        let mut d = Delivery::new(payload.as_bytes(), None);
        d.subject = subject;
        match self.outbox.stage_delivery(target, &d, batch) {
            Ok(s) => staged.push(s),
            Err(e) => {
                tracing::warn!(alarm = %a.name, target, error = %e, "an alarm action could not be staged");
            }
        }
    }

    /// Evaluate the alarms every few seconds for as long as the runtime runs.
    pub fn start(self: &Arc<Self>) {
        let me = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                let Some(alarms) = me.upgrade() else {
                    return;
                };
                alarms.evaluate();
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alarm(comparison: &str, treat: &str, m: u64, n: u64) -> Alarm {
        Alarm {
            format: FORMAT,
            name: "a".into(),
            arn: String::new(),
            description: None,
            metric: MetricId::new("App", "Errors", &[]),
            statistic: "Sum".into(),
            extended: false,
            unit: None,
            period_s: 60,
            evaluation_periods: n,
            datapoints_to_alarm: m,
            threshold: 1.0,
            comparison: comparison.into(),
            treat_missing: treat.into(),
            actions_enabled: true,
            alarm_actions: vec![],
            ok_actions: vec![],
            insufficient_actions: vec![],
            state: "INSUFFICIENT_DATA".into(),
            reason: String::new(),
            reason_data: None,
            state_updated_ms: 0,
            configuration_updated_ms: 0,
            tags: vec![],
            rule: None,
            queries: vec![],
        }
    }

    #[test]
    fn a_datapoint_stays_in_view_after_its_period_ends() {
        let minute = 60_000;
        let now = 10 * minute + 2_000; // two seconds into a new minute
        let (start, end) = evaluation_range(now, minute, 1);
        assert_eq!((start, end), (8 * minute, 11 * minute));
        // A datapoint of the minute that just ended is what a 1-period alarm sees.
        let series = crate::math::Series::from([(9 * minute, 5.0)]);
        assert_eq!(
            evaluated(&series, start, minute, 1),
            vec![(9 * minute, Some(5.0))]
        );
        // No data at all: the newest periods count as missing.
        let (start, _) = evaluation_range(now, minute, 2);
        let none = evaluated(&crate::math::Series::new(), start, minute, 2);
        assert_eq!(none, vec![(10 * minute, None), (9 * minute, None)]);
        // Fewer datapoints than periods: the rest are missing.
        let some = evaluated(&series, start, minute, 2);
        assert_eq!(some, vec![(10 * minute, None), (9 * minute, Some(5.0))]);
    }

    #[test]
    fn m_of_n_breaching_datapoints_alarm() {
        let a = alarm("GreaterThanOrEqualToThreshold", "missing", 2, 3);
        let v = judge(&a, &[(3, Some(5.0)), (2, Some(0.0)), (1, Some(2.0))]).unwrap();
        assert_eq!(v.state, "ALARM");
        assert!(
            v.reason
                .starts_with("Threshold Crossed: 2 out of the last 3")
        );
        assert_eq!(
            judge(&a, &[(3, Some(5.0)), (2, Some(0.0)), (1, Some(0.0))])
                .unwrap()
                .state,
            "OK"
        );
    }

    #[test]
    fn missing_data_is_treated_as_asked() {
        let none = [(2, None), (1, None)];
        assert_eq!(
            judge(&alarm("GreaterThanThreshold", "missing", 1, 2), &none)
                .unwrap()
                .state,
            "INSUFFICIENT_DATA"
        );
        assert_eq!(
            judge(&alarm("GreaterThanThreshold", "breaching", 1, 2), &none)
                .unwrap()
                .state,
            "ALARM"
        );
        assert_eq!(
            judge(&alarm("GreaterThanThreshold", "notBreaching", 1, 2), &none)
                .unwrap()
                .state,
            "OK"
        );
        assert!(judge(&alarm("GreaterThanThreshold", "ignore", 1, 2), &none).is_none());
        assert_eq!(
            judge(
                &alarm("LessThanThreshold", "missing", 1, 2),
                &[(2, Some(0.5)), (1, None)]
            )
            .unwrap()
            .state,
            "ALARM"
        );
    }
}
