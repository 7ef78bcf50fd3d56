//! Archives and replays. An archive keeps the events of one bus that its
//! pattern takes (all of them without one), written in the batch that
//! acknowledges them; a replay sends the archived events of a time range
//! again to the rules of a bus (or only those `FilterArns` name), each
//! carrying `replay-name`, their deliveries staged in one batch. Replays
//! run to completion when started (`COMPLETED`); events older than an
//! archive's retention are dropped when it is read.

use crate::{Error, Events, Result};
use nimbus_model::time::now_millis;
use nimbus_storage::records::Record;
use nimbus_storage::{Table, WriteBatch};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Archived events: `ARCHIVE/EPOCH_MS(20 digits)/EVENT_ID` -> the event.
pub(crate) const ARCHIVED: Table = Table("events_archived");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Archive {
    pub format: u32,
    pub name: String,
    pub arn: String,
    pub source_arn: String,
    pub pattern: Option<String>,
    pub description: Option<String>,
    /// 0: kept for ever.
    pub retention_days: u64,
    pub created_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Replay {
    pub format: u32,
    pub name: String,
    pub arn: String,
    pub archive_arn: String,
    pub destination: String,
    pub filter_arns: Vec<String>,
    pub event_start_ms: u64,
    pub event_end_ms: u64,
    pub started_ms: u64,
    pub ended_ms: u64,
    pub last_replayed_ms: Option<u64>,
    pub replayed: u64,
    pub state: String,
}

impl Record for Archive {
    fn key(&self) -> &str {
        &self.name
    }
    fn format(&self) -> u32 {
        self.format
    }
}

impl Record for Replay {
    fn key(&self) -> &str {
        &self.name
    }
    fn format(&self) -> u32 {
        self.format
    }
}

impl Events {
    pub fn create_archive(
        &self,
        name: &str,
        source_arn: &str,
        pattern: Option<String>,
        description: Option<String>,
        retention_days: u64,
    ) -> Result<String> {
        let bus = self.bus(Some(source_arn))?;
        if let Some(p) = &pattern {
            nimbus_patterns::Pattern::parse(p).map_err(|e| Error::InvalidPattern(e.message()))?;
        }
        let arn = format!(
            "arn:aws:events:{}:{}:archive/{name}",
            self.region, self.account
        );
        let a = Archive {
            format: crate::store::FORMAT,
            name: name.to_string(),
            arn: arn.clone(),
            source_arn: bus.arn.clone(),
            pattern,
            description,
            retention_days,
            created_ms: now_millis(),
        };
        match self.archives.insert(a)? {
            Ok(_) => Ok(arn),
            Err(_) => Err(Error::AlreadyExists(format!(
                "Archive {name} already exists."
            ))),
        }
    }

    pub fn archive(&self, name: &str) -> Result<std::sync::Arc<Archive>> {
        let name = name.rsplit('/').next().unwrap_or(name);
        self.archives
            .get(name)
            .ok_or_else(|| Error::NotFound(format!("Archive {name} does not exist.")))
    }

    pub fn archives(&self) -> Vec<std::sync::Arc<Archive>> {
        let mut v = self.archives.all();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    pub fn delete_archive(&self, name: &str) -> Result<()> {
        let a = self.archive(name)?;
        let mut batch = WriteBatch::default();
        for (k, _) in self
            .kv
            .scan_prefix(ARCHIVED, format!("{}/", a.name).as_bytes())?
        {
            batch.delete(ARCHIVED, k);
        }
        self.kv.commit(batch)?;
        self.archives.delete(&a.name)?;
        Ok(())
    }

    /// How many events an archive holds, and their bytes.
    pub fn archived(&self, name: &str) -> Result<(u64, u64)> {
        let rows = self
            .kv
            .scan_prefix(ARCHIVED, format!("{name}/").as_bytes())?;
        Ok((
            rows.len() as u64,
            rows.iter().map(|(_, v)| v.len() as u64).sum(),
        ))
    }

    /// Add `event` (put on `bus`) to the archives of that bus that take it.
    pub(crate) fn archive_event(&self, bus_arn: &str, event: &Value, batch: &mut WriteBatch) {
        for a in self
            .archives
            .all()
            .iter()
            .filter(|a| a.source_arn == bus_arn)
        {
            let takes = match &a.pattern {
                Some(p) => nimbus_patterns::Pattern::parse(p).is_ok_and(|p| p.matches(event)),
                None => true,
            };
            if takes {
                let id = event["id"].as_str().unwrap_or_default();
                let key = format!("{}/{:020}/{id}", a.name, now_millis());
                batch.put(ARCHIVED, key.as_bytes(), event.to_string().into_bytes());
            }
        }
    }

    /// Replay the events an archive received between `start_ms` and
    /// `end_ms` to the rules of `destination` (a bus ARN; only the rules in
    /// `filter_arns` when given).
    pub fn start_replay(
        &self,
        name: &str,
        archive_arn: &str,
        (start_ms, end_ms): (u64, u64),
        destination: &str,
        filter_arns: Vec<String>,
    ) -> Result<Replay> {
        if self.replays.get(name).is_some() {
            return Err(Error::AlreadyExists(format!(
                "Replay {name} already exists."
            )));
        }
        if start_ms >= end_ms {
            return Err(Error::Invalid(
                "EventStartTime must be before EventEndTime.".into(),
            ));
        }
        let archive = self.archive(archive_arn)?;
        let bus = self.bus(Some(destination))?;
        if bus.arn != archive.source_arn {
            return Err(Error::Invalid(
                "Parameter Destination.Arn is not valid. Reason: Cross event bus replay is not permitted.".into(),
            ));
        }
        let retained_from = match archive.retention_days {
            0 => 0,
            d => now_millis().saturating_sub(d * 86_400_000),
        };
        let started = now_millis();
        let mut batch = WriteBatch::default();
        let mut staged = Vec::new();
        let mut replayed = 0;
        let mut last = None;
        for (k, v) in self
            .kv
            .scan_prefix(ARCHIVED, format!("{}/", archive.name).as_bytes())?
        {
            let key = String::from_utf8_lossy(&k).into_owned();
            let at: u64 = key
                .split('/')
                .nth(1)
                .and_then(|t| t.parse().ok())
                .unwrap_or(0);
            if at < start_ms || at >= end_ms || at < retained_from {
                continue;
            }
            let Ok(mut event) = serde_json::from_slice::<Value>(&v) else {
                continue;
            };
            event["replay-name"] = Value::String(name.to_string());
            for rule in self.matching(&bus.name, &event) {
                if filter_arns.is_empty() || filter_arns.contains(&rule.arn) {
                    self.deliver(&rule, &event, None, &mut batch, &mut staged);
                }
            }
            replayed += 1;
            last = Some(at);
        }
        let replay = Replay {
            format: crate::store::FORMAT,
            name: name.to_string(),
            arn: format!(
                "arn:aws:events:{}:{}:replay/{name}",
                self.region, self.account
            ),
            archive_arn: archive.arn.clone(),
            destination: bus.arn.clone(),
            filter_arns,
            event_start_ms: start_ms,
            event_end_ms: end_ms,
            started_ms: started,
            ended_ms: now_millis(),
            last_replayed_ms: last,
            replayed,
            state: "COMPLETED".into(),
        };
        let mut writer = self.replays.writer();
        writer.put(&mut batch, replay.clone())?;
        self.kv.commit(batch)?;
        writer.apply();
        self.finish(staged);
        Ok(replay)
    }

    pub fn replay(&self, name: &str) -> Result<std::sync::Arc<Replay>> {
        self.replays
            .get(name)
            .ok_or_else(|| Error::NotFound(format!("Replay {name} does not exist.")))
    }

    pub fn replays(&self) -> Vec<std::sync::Arc<Replay>> {
        let mut v = self.replays.all();
        v.sort_by_key(|r| r.started_ms);
        v
    }
}
