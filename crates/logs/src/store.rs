//! The log store: log groups and streams as durable records, their events
//! in append-only segment files, one per group and ingestion day
//! (`<root>/groups/<dir>/<YYYY-MM-DD>.log`). A stored line is
//! `<timestamp>\t<ingestion time>\t<stream>\t<message>` (the message with
//! `\`, newlines and carriage returns escaped). Functions' output is
//! appended without fsync (no client is told it is stored); `PutLogEvents`
//! is fsynced before it answers. Retention deletes whole day segments once
//! their newest possible event is older than the group's retention.

use nimbus_model::time::now_millis;
use nimbus_storage::records::{Record, Records};
use nimbus_storage::{KvEngine, Table};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

const FORMAT: u32 = 1;
const DAY_MS: u64 = 86_400_000;
/// The retention values CloudWatch Logs takes, in days.
pub const RETENTION_DAYS: [u32; 22] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Limit(String),
    #[error("{0}")]
    Storage(#[from] nimbus_storage::Error),
    #[error("log files: {0}")]
    Io(#[from] std::io::Error),
}

pub type Result<T> = std::result::Result<T, Error>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub format: u32,
    pub name: String,
    pub arn: String,
    pub created_ms: u64,
    pub retention_days: Option<u32>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

impl Record for Group {
    fn key(&self) -> &str {
        &self.name
    }
    fn format(&self) -> u32 {
        self.format
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stream {
    pub format: u32,
    /// `group\nstream`.
    pub key: String,
    pub group: String,
    pub name: String,
    pub created_ms: u64,
}

impl Record for Stream {
    fn key(&self) -> &str {
        &self.key
    }
    fn format(&self) -> u32 {
        self.format
    }
}

fn stream_key(group: &str, stream: &str) -> String {
    format!("{group}\n{stream}")
}

/// One stored event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub timestamp: u64,
    pub ingested: u64,
    pub stream: String,
    pub message: String,
    /// Its place in the group's store (segment, line): its id and order.
    pub id: (u32, u32),
}

/// What a stream's events span, for `DescribeLogStreams`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StreamStats {
    pub first: Option<u64>,
    pub last: Option<u64>,
    pub last_ingestion: Option<u64>,
    pub bytes: u64,
}

impl StreamStats {
    fn add(&mut self, timestamp: u64, ingested: u64, bytes: usize) {
        self.first = Some(self.first.map_or(timestamp, |f| f.min(timestamp)));
        self.last = Some(self.last.map_or(timestamp, |l| l.max(timestamp)));
        self.last_ingestion = Some(self.last_ingestion.map_or(ingested, |l| l.max(ingested)));
        self.bytes += bytes as u64;
    }
}

/// Which events a read takes.
#[derive(Debug, Clone, Default)]
pub struct Query<'a> {
    /// Only these streams (none: all).
    pub streams: &'a [String],
    pub stream_prefix: Option<&'a str>,
    /// `[start, end)` of event timestamps, in ms.
    pub start: Option<u64>,
    pub end: Option<u64>,
}

/// One event of a `PutLogEvents`.
#[derive(Debug, Clone)]
pub struct InputEvent {
    pub timestamp: u64,
    pub message: String,
}

/// Which events of a `PutLogEvents` were refused (`rejectedLogEventsInfo`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rejected {
    pub too_new_start: Option<usize>,
    pub too_old_end: Option<usize>,
    pub expired_end: Option<usize>,
}

struct Writer {
    day: String,
    file: File,
}

pub struct Logs {
    root: PathBuf,
    groups: Records<Group>,
    streams: Records<Stream>,
    pub(crate) account: String,
    region: String,
    writers: Mutex<HashMap<String, Writer>>,
    /// Streams' spans, per group once it has been read.
    stats: Mutex<HashMap<String, HashMap<String, StreamStats>>>,
    /// Serializes creating groups and streams on the write path.
    creating: Mutex<HashSet<String>>,
    pub(crate) metric_filters: Records<crate::metric_filters::MetricFilter>,
    /// Where metric filters' datapoints go (none: not applied).
    pub(crate) metrics: std::sync::OnceLock<Arc<nimbus_metrics::Metrics>>,
    /// Each group's metric filters, parsed, while none changes.
    pub(crate) compiled: Mutex<HashMap<String, CompiledFilters>>,
    pub(crate) subscriptions: Records<crate::subscriptions::SubscriptionFilter>,
    /// Where subscription filters' events go, and who checks they may.
    #[allow(clippy::type_complexity)]
    pub(crate) outbox: std::sync::OnceLock<(
        Arc<dyn nimbus_invoke::Outbox>,
        Option<Arc<dyn nimbus_invoke::permissions::Permissions>>,
    )>,
    pub(crate) kv: Arc<dyn KvEngine>,
    /// Live Tail sessions, and how many (read without the lock on every write).
    pub(crate) tails: Mutex<Vec<crate::tail::Session>>,
    pub(crate) tailing: std::sync::atomic::AtomicUsize,
    pub(crate) next_tail: std::sync::atomic::AtomicU64,
}

/// A group's metric filters, parsed.
pub(crate) type CompiledFilters = Arc<
    [(
        crate::filter::FilterPattern,
        Vec<crate::metric_filters::Transformation>,
    )],
>;

/// Append `message` to `out` as a stored line holds it (backslashes and line
/// breaks escaped); most lines have none and are copied whole.
fn escape_into(message: &str, out: &mut String) {
    if !message.bytes().any(|b| matches!(b, b'\\' | b'\n' | b'\r')) {
        out.push_str(message);
        return;
    }
    out.push_str(&escape(message));
}

fn escape(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for c in message.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

fn unescape(stored: &str) -> String {
    if !stored.contains('\\') {
        return stored.to_string();
    }
    let mut out = String::with_capacity(stored.len());
    let mut chars = stored.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// A stored line: (timestamp, ingestion time, stream, message). Lines of
/// the first layout (`timestamp\tstream\tmessage`) read with their
/// timestamp as ingestion time.
pub fn parse_line(line: &str) -> Option<(u64, u64, &str, String)> {
    let (ts, rest) = line.split_once('\t')?;
    let timestamp = ts.parse().ok()?;
    let (second, rest) = rest.split_once('\t')?;
    if let Ok(ingested) = second.parse::<u64>()
        && let Some((stream, message)) = rest.split_once('\t')
    {
        return Some((timestamp, ingested, stream, unescape(message)));
    }
    Some((timestamp, timestamp, second, rest.to_string()))
}

/// The folder of a group's segments: its name with every byte but
/// `[A-Za-z0-9._-]` as `%XX` (a long one cut, with a hash of the whole), so
/// readers without the store's records (`nimbus logs`) find it.
pub fn group_dir(root: &Path, group: &str) -> PathBuf {
    let mut name: String = group
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    if name.len() > 200 {
        // FNV-1a: stable across builds and platforms.
        let hash = group.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        name.truncate(150);
        name.push_str(&format!("~{hash:016x}"));
    }
    root.join("groups").join(name)
}

/// A group's segment files, oldest first.
pub fn segments(root: &Path, group: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(group_dir(root, group))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    v.sort();
    v
}

fn day_of(ms: u64) -> String {
    let t = nimbus_model::time::Utc::from_millis(ms).rfc3339_seconds();
    t[..10].to_string()
}

/// Valid log group names: 1 to 512 of `[.-_/#A-Za-z0-9]`.
fn check_group_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 512
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-/#".contains(&b))
    {
        return Err(Error::Invalid(format!(
            "1 validation error detected: Value '{name}' at 'logGroupName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+"
        )));
    }
    Ok(())
}

/// Valid log stream names: 1 to 512 characters, no `:` or `*`.
fn check_stream_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 512 || name.contains([':', '*', '\n', '\t']) {
        return Err(Error::Invalid(format!(
            "1 validation error detected: Value '{name}' at 'logStreamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [^:*]*"
        )));
    }
    Ok(())
}

impl Logs {
    /// Open the store under `root` (the data directory's `logs` folder);
    /// function logs of the first layout (`<root>/<function>.log`) become
    /// the log groups `/aws/lambda/<function>`.
    pub fn open(root: PathBuf, kv: Arc<dyn KvEngine>, account: &str, region: &str) -> Result<Logs> {
        fs::create_dir_all(root.join("groups"))?;
        let logs = Logs {
            groups: Records::open(kv.clone(), Table("logs_groups"), FORMAT)?,
            streams: Records::open(kv.clone(), Table("logs_streams"), FORMAT)?,
            metric_filters: Records::open(kv.clone(), Table("logs_metric_filters"), FORMAT)?,
            subscriptions: Records::open(kv.clone(), Table("logs_subscription_filters"), FORMAT)?,
            outbox: std::sync::OnceLock::new(),
            kv,
            metrics: std::sync::OnceLock::new(),
            compiled: Mutex::default(),
            root,
            account: account.to_string(),
            region: region.to_string(),
            writers: Mutex::default(),
            stats: Mutex::default(),
            creating: Mutex::default(),
            tails: Mutex::default(),
            tailing: std::sync::atomic::AtomicUsize::new(0),
            next_tail: std::sync::atomic::AtomicU64::new(0),
        };
        logs.adopt_first_layout()?;
        Ok(logs)
    }

    fn adopt_first_layout(&self) -> Result<()> {
        for entry in fs::read_dir(&self.root)?.flatten() {
            let path = entry.path();
            let Some(function) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".log"))
                .map(str::to_string)
            else {
                continue;
            };
            let group = format!("/aws/lambda/{function}");
            let g = match self.groups.get(&group) {
                Some(g) => g,
                None => self.create_group(&group, BTreeMap::new())?,
            };
            let text = fs::read_to_string(&path)?;
            let mut streams = HashSet::new();
            for line in text.lines() {
                if let Some((_, _, stream, _)) = parse_line(line) {
                    streams.insert(stream.to_string());
                }
            }
            for s in streams {
                if self.streams.get(&stream_key(&group, &s)).is_none() {
                    self.put_stream(&group, &s, 0)?;
                }
            }
            let dir = self.group_dir(&g);
            fs::create_dir_all(&dir)?;
            fs::rename(&path, dir.join("0000-00-00.log"))?;
        }
        Ok(())
    }

    /// The account the groups belong to.
    pub fn account(&self) -> &str {
        &self.account
    }

    pub fn group_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:logs:{}:{}:log-group:{name}",
            self.region, self.account
        )
    }

    fn group_dir(&self, g: &Group) -> PathBuf {
        group_dir(&self.root, &g.name)
    }

    pub fn create_group(&self, name: &str, tags: BTreeMap<String, String>) -> Result<Arc<Group>> {
        check_group_name(name)?;
        let g = Group {
            format: FORMAT,
            name: name.to_string(),
            arn: self.group_arn(name),
            created_ms: now_millis(),
            retention_days: None,
            tags,
        };
        match self.groups.insert(g)? {
            Ok(g) => Ok(g),
            Err(_) => Err(Error::AlreadyExists(
                "The specified log group already exists".into(),
            )),
        }
    }

    pub fn group(&self, name: &str) -> Result<Arc<Group>> {
        self.groups
            .get(name)
            .ok_or_else(|| Error::NotFound("The specified log group does not exist.".into()))
    }

    pub fn groups(&self) -> Vec<Arc<Group>> {
        let mut v = self.groups.all();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    pub fn delete_group(&self, name: &str) -> Result<()> {
        let g = self.group(name)?;
        for s in self.streams.prefixed(&format!("{name}\n")) {
            self.streams.delete(&s.key)?;
        }
        for f in self.metric_filters.prefixed(&format!("{name}\n")) {
            self.metric_filters.delete(&f.key)?;
        }
        for f in self.subscriptions.prefixed(&format!("{name}\n")) {
            self.subscriptions.delete(&f.key)?;
        }
        self.compiled.lock().expect("compiled lock").remove(name);
        self.groups.delete(name)?;
        self.writers.lock().expect("writers lock").remove(name);
        self.stats.lock().expect("stats lock").remove(name);
        let _ = fs::remove_dir_all(self.group_dir(&g));
        Ok(())
    }

    pub fn set_retention(&self, name: &str, days: Option<u32>) -> Result<()> {
        if let Some(d) = days
            && !RETENTION_DAYS.contains(&d)
        {
            return Err(Error::Invalid(format!(
                "1 validation error detected: Value '{d}' at 'retentionInDays' failed to satisfy constraint: Member must satisfy enum value set: {RETENTION_DAYS:?}"
            )));
        }
        self.change_group(name, |g| g.retention_days = days)
    }

    pub fn change_group(&self, name: &str, f: impl FnOnce(&mut Group)) -> Result<()> {
        self.groups
            .change(name, |g| {
                f(g);
                Ok::<_, Error>(())
            })?
            .ok_or_else(|| Error::NotFound("The specified log group does not exist.".into()))?;
        Ok(())
    }

    fn put_stream(&self, group: &str, stream: &str, created_ms: u64) -> Result<Arc<Stream>> {
        Ok(self.streams.put(Stream {
            format: FORMAT,
            key: stream_key(group, stream),
            group: group.to_string(),
            name: stream.to_string(),
            created_ms,
        })?)
    }

    pub fn create_stream(&self, group: &str, stream: &str) -> Result<()> {
        self.group(group)?;
        check_stream_name(stream)?;
        if self.streams.get(&stream_key(group, stream)).is_some() {
            return Err(Error::AlreadyExists(
                "The specified log stream already exists".into(),
            ));
        }
        self.put_stream(group, stream, now_millis())?;
        Ok(())
    }

    pub fn delete_stream(&self, group: &str, stream: &str) -> Result<()> {
        self.group(group)?;
        self.streams
            .delete(&stream_key(group, stream))?
            .ok_or_else(|| Error::NotFound("The specified log stream does not exist.".into()))?;
        if let Some(stats) = self.stats.lock().expect("stats lock").get_mut(group) {
            stats.remove(stream);
        }
        Ok(())
    }

    /// The group's streams with what their events span.
    pub fn streams(&self, group: &str) -> Result<Vec<(Arc<Stream>, StreamStats)>> {
        let g = self.group(group)?;
        let known = self.stats.lock().expect("stats lock").get(group).cloned();
        let stats = match known {
            Some(s) => s,
            None => {
                let mut s: HashMap<String, StreamStats> = HashMap::new();
                for e in self.scan(&g, &Query::default())? {
                    s.entry(e.stream.clone()).or_default().add(
                        e.timestamp,
                        e.ingested,
                        e.message.len(),
                    );
                }
                self.stats
                    .lock()
                    .expect("stats lock")
                    .insert(group.to_string(), s.clone());
                s
            }
        };
        let mut v: Vec<_> = self
            .streams
            .prefixed(&format!("{group}\n"))
            .into_iter()
            .map(|s| {
                let st = stats.get(&s.name).copied().unwrap_or_default();
                (s, st)
            })
            .collect();
        v.sort_by(|a, b| a.0.name.cmp(&b.0.name));
        Ok(v)
    }

    /// `PutLogEvents`: validate, append and fsync; which events were
    /// refused for their age.
    pub fn put(&self, group: &str, stream: &str, events: &[InputEvent]) -> Result<Rejected> {
        let g = self.group(group)?;
        if self.streams.get(&stream_key(group, stream)).is_none() {
            return Err(Error::NotFound(
                "The specified log stream does not exist.".into(),
            ));
        }
        if events.is_empty() || events.len() > 10_000 {
            return Err(Error::Invalid(
                "1 validation error detected: Value at 'logEvents' failed to satisfy constraint: Member must have length between 1 and 10000".into(),
            ));
        }
        let size: usize = events.iter().map(|e| e.message.len() + 26).sum();
        if size > 1_048_576 {
            return Err(Error::Invalid(format!(
                "Upload too large: {size} bytes exceeds limit of 1048576"
            )));
        }
        if let Some(big) = events.iter().find(|e| e.message.len() > 1_048_550) {
            return Err(Error::Invalid(format!(
                "Log event too large: {} bytes exceeds limit of 1048550",
                big.message.len()
            )));
        }
        if events.windows(2).any(|w| w[1].timestamp < w[0].timestamp) {
            return Err(Error::Invalid(
                "Log events in a single PutLogEvents request must be in chronological order."
                    .into(),
            ));
        }
        if let (Some(first), Some(last)) = (events.first(), events.last())
            && last.timestamp - first.timestamp > DAY_MS
        {
            return Err(Error::Invalid(
                "The batch of log events in a single PutLogEvents request cannot span more than 24 hours.".into(),
            ));
        }
        let now = now_millis();
        let mut rejected = Rejected::default();
        let mut taken = Vec::new();
        let oldest = now.saturating_sub(14 * DAY_MS);
        let retained = g
            .retention_days
            .map(|d| now.saturating_sub(u64::from(d) * DAY_MS));
        for (i, e) in events.iter().enumerate() {
            if e.timestamp > now + 2 * 3_600_000 {
                rejected.too_new_start.get_or_insert(i);
            } else if retained.is_some_and(|r| e.timestamp < r) {
                rejected.expired_end = Some(i + 1);
            } else if e.timestamp < oldest {
                rejected.too_old_end = Some(i + 1);
            } else {
                taken.push((e.timestamp, e.message.as_str()));
            }
        }
        self.append(&g, stream, &taken, true)?;
        Ok(rejected)
    }

    /// Append a function's output lines (now), making its group and
    /// stream when they are new. Not fsynced; failures are logged.
    pub fn append_lines(&self, group: &str, stream: &str, lines: &[&str]) {
        let g = match self.ensure(group, stream) {
            Ok(g) => g,
            Err(e) => {
                tracing_warn(group, &e);
                return;
            }
        };
        let now = now_millis();
        let events: Vec<(u64, &str)> = lines.iter().map(|l| (now, *l)).collect();
        if let Err(e) = self.append(&g, stream, &events, false) {
            tracing_warn(group, &e);
        }
    }

    fn ensure(&self, group: &str, stream: &str) -> Result<Arc<Group>> {
        if let Some(g) = self.groups.get(group)
            && self.streams.get(&stream_key(group, stream)).is_some()
        {
            return Ok(g);
        }
        let _one = self.creating.lock().expect("creating lock");
        let g = match self.groups.get(group) {
            Some(g) => g,
            None => self.create_group(group, BTreeMap::new())?,
        };
        if self.streams.get(&stream_key(group, stream)).is_none() {
            check_stream_name(stream)?;
            self.put_stream(group, stream, now_millis())?;
        }
        Ok(g)
    }

    fn append(&self, g: &Group, stream: &str, events: &[(u64, &str)], sync: bool) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let now = now_millis();
        let size: usize = events
            .iter()
            .map(|(_, m)| m.len() + 48 + stream.len())
            .sum();
        let mut text = String::with_capacity(size);
        let now_text = now.to_string();
        let mut last_ts = None;
        let mut ts_text = String::new();
        for (ts, m) in events {
            // Lines of one batch mostly share their timestamp: format it once.
            if last_ts != Some(*ts) {
                ts_text = ts.to_string();
                last_ts = Some(*ts);
            }
            text.push_str(&ts_text);
            text.push('\t');
            text.push_str(&now_text);
            text.push('\t');
            text.push_str(stream);
            text.push('\t');
            escape_into(m, &mut text);
            text.push('\n');
        }
        let day = day_of(now);
        let mut writers = self.writers.lock().expect("writers lock");
        let stale = writers.get(&g.name).is_none_or(|w| w.day != day);
        if stale {
            let dir = self.group_dir(g);
            fs::create_dir_all(&dir)?;
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join(format!("{day}.log")))?;
            writers.insert(g.name.clone(), Writer { day, file });
        }
        let w = writers.get_mut(&g.name).expect("just opened");
        w.file.write_all(text.as_bytes())?;
        if sync {
            w.file.sync_data()?;
        }
        drop(writers);
        self.apply_metric_filters(&g.name, events);
        self.apply_subscriptions(&g.name, stream, events);
        self.announce(&g.name, stream, events, now);
        if let Some(stats) = self.stats.lock().expect("stats lock").get_mut(&g.name) {
            let s = match stats.get_mut(stream) {
                Some(s) => s,
                None => stats.entry(stream.to_string()).or_default(),
            };
            for (ts, m) in events {
                s.add(*ts, now, m.len());
            }
        }
        Ok(())
    }

    /// The group's events a query takes, oldest ingested first.
    pub fn events(&self, group: &str, q: &Query) -> Result<Vec<Event>> {
        let g = self.group(group)?;
        self.scan(&g, q)
    }

    fn segments(&self, g: &Group) -> Vec<PathBuf> {
        segments(&self.root, &g.name)
    }

    fn scan(&self, g: &Group, q: &Query) -> Result<Vec<Event>> {
        let created: HashMap<String, u64> = self
            .streams
            .prefixed(&format!("{}\n", g.name))
            .into_iter()
            .map(|s| (s.name.clone(), s.created_ms))
            .collect();
        let mut out = Vec::new();
        for (n, path) in self.segments(g).iter().enumerate() {
            let text = match fs::read_to_string(path) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e.into()),
            };
            for (line_no, line) in text.lines().enumerate() {
                let Some((timestamp, ingested, stream, message)) = parse_line(line) else {
                    continue;
                };
                // A stream deleted (and perhaps made again) hides its old events.
                if created.get(stream).is_none_or(|c| ingested < *c) {
                    continue;
                }
                if q.start.is_some_and(|s| timestamp < s) || q.end.is_some_and(|e| timestamp >= e) {
                    continue;
                }
                if !q.streams.is_empty() && !q.streams.iter().any(|s| s == stream) {
                    continue;
                }
                if q.stream_prefix.is_some_and(|p| !stream.starts_with(p)) {
                    continue;
                }
                out.push(Event {
                    timestamp,
                    ingested,
                    stream: stream.to_string(),
                    message,
                    id: (
                        u32::try_from(n).unwrap_or(u32::MAX),
                        u32::try_from(line_no).unwrap_or(u32::MAX),
                    ),
                });
            }
        }
        Ok(out)
    }

    /// Delete the day segments every group's retention has passed (a
    /// segment's events were ingested on its day, and none may be more than
    /// 14 days older than that). How many were deleted.
    pub fn expire(&self, now: u64) -> usize {
        let mut deleted = 0;
        for g in self.groups.all() {
            let Some(days) = g.retention_days else {
                continue;
            };
            let cutoff = day_of(now.saturating_sub(u64::from(days) * DAY_MS));
            for path in self.segments(&g) {
                let day = path
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or_default()
                    .to_string();
                if day < cutoff && fs::remove_file(&path).is_ok() {
                    deleted += 1;
                    self.stats.lock().expect("stats lock").remove(&g.name);
                }
            }
        }
        deleted
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
}

fn tracing_warn(group: &str, e: &Error) {
    tracing::warn!(group, error = %e, "a function's log lines were dropped");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &Path) -> Logs {
        let kv: Arc<dyn KvEngine> =
            Arc::new(nimbus_storage_embedded::EmbeddedKv::open(&dir.join("kv.redb")).unwrap());
        Logs::open(dir.join("logs"), kv, "000000000000", "us-east-1").unwrap()
    }

    #[test]
    fn messages_keep_their_newlines_and_backslashes() {
        for m in ["plain", "two\nlines", "a\\nb", "cr\r\n", "tab\there", "\\"] {
            let line = format!("1\t2\ts\t{}", escape(m));
            assert_eq!(parse_line(&line).unwrap().3, m);
        }
        assert_eq!(
            parse_line("5\ts\told layout").unwrap(),
            (5, 5, "s", "old layout".into())
        );
    }

    #[test]
    fn put_log_events_are_read_back_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let logs = open(dir.path());
        logs.create_group("/app/orders", BTreeMap::new()).unwrap();
        assert!(matches!(
            logs.create_group("/app/orders", BTreeMap::new()),
            Err(Error::AlreadyExists(_))
        ));
        assert!(matches!(
            logs.put("/app/orders", "s", &[]),
            Err(Error::NotFound(_))
        ));
        logs.create_stream("/app/orders", "s").unwrap();
        let now = now_millis();
        let ev = |t: u64, m: &str| InputEvent {
            timestamp: t,
            message: m.into(),
        };
        assert!(matches!(
            logs.put("/app/orders", "s", &[ev(now, "b"), ev(now - 1, "a")]),
            Err(Error::Invalid(_))
        ));
        let r = logs.put(
            "/app/orders",
            "s",
            &[
                ev(now - 15 * DAY_MS, "old"),
                ev(now, "one\ntwo"),
                ev(now + 3 * 3_600_000, "new"),
            ],
        );
        // The batch spans more than 24 hours.
        assert!(matches!(r, Err(Error::Invalid(_))));
        let r = logs
            .put(
                "/app/orders",
                "s",
                &[ev(now, "one\ntwo"), ev(now + 3 * 3_600_000, "new")],
            )
            .unwrap();
        assert_eq!(r.too_new_start, Some(1));
        let got = logs.events("/app/orders", &Query::default()).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].message, "one\ntwo");
        let streams = logs.streams("/app/orders").unwrap();
        assert_eq!(streams[0].1.last, Some(now));
        logs.delete_stream("/app/orders", "s").unwrap();
        assert!(
            logs.events("/app/orders", &Query::default())
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn function_lines_make_their_group_and_stream_and_old_files_are_adopted() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("logs")).unwrap();
        fs::write(
            dir.path().join("logs/f.log"),
            "1000\t2026/01/01/[$LATEST]abc\tSTART\n",
        )
        .unwrap();
        let logs = open(dir.path());
        assert!(!dir.path().join("logs/f.log").exists());
        logs.append_lines("/aws/lambda/f", "2026/01/02/[$LATEST]def", &["hello"]);
        let got = logs.events("/aws/lambda/f", &Query::default()).unwrap();
        let messages: Vec<&str> = got.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(messages, ["START", "hello"]);
        assert_eq!(logs.streams("/aws/lambda/f").unwrap().len(), 2);
        let only = ["2026/01/02/[$LATEST]def".to_string()];
        let q = Query {
            streams: &only,
            ..Query::default()
        };
        assert_eq!(logs.events("/aws/lambda/f", &q).unwrap().len(), 1);
    }

    #[test]
    fn group_folders_are_found_from_the_name() {
        let root = Path::new("/d");
        assert_eq!(
            group_dir(root, "/aws/lambda/f"),
            Path::new("/d/groups/%2Faws%2Flambda%2Ff")
        );
        let long = "/a".repeat(256);
        let dir = group_dir(root, &long);
        assert!(dir.file_name().unwrap().len() < 180);
        assert_ne!(dir, group_dir(root, &"/b".repeat(256)));
    }

    #[test]
    fn retention_deletes_whole_days() {
        let dir = tempfile::tempdir().unwrap();
        let logs = open(dir.path());
        logs.append_lines("/g", "s", &["today"]);
        logs.set_retention("/g", Some(1)).unwrap();
        assert!(logs.set_retention("/g", Some(2)).is_err());
        assert_eq!(logs.expire(now_millis()), 0);
        assert_eq!(logs.expire(now_millis() + 3 * DAY_MS), 1);
        assert!(logs.events("/g", &Query::default()).unwrap().is_empty());
    }
}
