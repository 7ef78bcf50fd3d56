//! CloudWatch metrics: series (namespace, name, dimensions) of datapoints
//! aggregated into buckets of their storage resolution (60 s, or 1 s for
//! high-resolution data): sample count, sum, minimum, maximum and up to
//! [`SAMPLES`] values for percentiles. Every change is a delta line
//! appended to a day file under `<data>/metrics/` and replayed at start:
//! `PutMetricData`'s fsynced before it answers, the platform's own
//! (Lambda's `Invocations`, `Duration`, ...) gathered in memory and written
//! every few seconds. Day files older than [`RETENTION_DAYS`] are deleted.

pub mod alarms;
pub mod emf;
pub mod math;
pub mod rules;

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

/// Values kept per bucket for percentiles.
pub const SAMPLES: usize = 1000;
/// How long datapoints are kept (CloudWatch keeps one-minute data 15 days).
pub const RETENTION_DAYS: u64 = 15;
const DAY_MS: u64 = 86_400_000;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Invalid(String),
    #[error("metric files: {0}")]
    Io(#[from] std::io::Error),
}

pub type Result<T> = std::result::Result<T, Error>;

/// Which series: namespace, name and dimensions (sorted by name).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MetricId {
    pub namespace: String,
    pub name: String,
    pub dimensions: Vec<(String, String)>,
}

impl MetricId {
    pub fn new(namespace: &str, name: &str, dimensions: &[(&str, &str)]) -> MetricId {
        let mut d: Vec<(String, String)> = dimensions
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        d.sort();
        MetricId {
            namespace: namespace.to_string(),
            name: name.to_string(),
            dimensions: d,
        }
    }
}

/// One bucket's aggregate (or a delta to add to one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    #[serde(rename = "n")]
    pub count: f64,
    #[serde(rename = "s")]
    pub sum: f64,
    #[serde(rename = "lo")]
    pub min: f64,
    #[serde(rename = "hi")]
    pub max: f64,
    #[serde(rename = "v", default, skip_serializing_if = "Vec::is_empty")]
    pub samples: Vec<f64>,
}

impl Stats {
    pub fn one(value: f64) -> Stats {
        Stats {
            count: 1.0,
            sum: value,
            min: value,
            max: value,
            samples: vec![value],
        }
    }

    fn add(&mut self, other: &Stats) {
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        let room = SAMPLES.saturating_sub(self.samples.len());
        self.samples
            .extend(other.samples.iter().take(room).copied());
    }

    /// A statistic by CloudWatch's name: `SampleCount`, `Sum`, `Average`,
    /// `Minimum`, `Maximum`, or a percentile `pNN(.N)`.
    pub fn get(&self, statistic: &str) -> Option<f64> {
        Some(match statistic {
            "SampleCount" => self.count,
            "Sum" => self.sum,
            "Average" => {
                if self.count == 0.0 {
                    return None;
                }
                self.sum / self.count
            }
            "Minimum" => self.min,
            "Maximum" => self.max,
            p => {
                let q: f64 = p.strip_prefix('p')?.parse().ok()?;
                if !(0.0..=100.0).contains(&q) || self.samples.is_empty() {
                    return None;
                }
                let mut v = self.samples.clone();
                v.sort_by(f64::total_cmp);
                let rank = ((q / 100.0) * v.len() as f64).ceil() as usize;
                v[rank.clamp(1, v.len()) - 1]
            }
        })
    }
}

/// A line of a day file: a delta to a bucket.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Line {
    #[serde(rename = "m")]
    id: MetricId,
    /// The bucket's start (ms).
    #[serde(rename = "t")]
    at: u64,
    /// The bucket's length (ms): 60,000 or 1,000.
    #[serde(rename = "r")]
    resolution: u64,
    #[serde(rename = "u", default, skip_serializing_if = "Option::is_none")]
    unit: Option<String>,
    #[serde(flatten)]
    stats: Stats,
}

#[derive(Debug, Default)]
struct Series {
    unit: Option<String>,
    /// By bucket start: (resolution, stats).
    buckets: BTreeMap<u64, (u64, Stats)>,
}

/// One datapoint of a query.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub at: u64,
    pub stats: Stats,
}

pub struct Metrics {
    root: PathBuf,
    series: Mutex<HashMap<MetricId, Series>>,
    /// The platform's deltas not yet written, by series and bucket.
    pending: Mutex<HashMap<(MetricId, u64), Line>>,
    file: Mutex<Option<(String, File)>>,
}

fn day_of(ms: u64) -> String {
    nimbus_model::time::Utc::from_millis(ms).rfc3339_seconds()[..10].to_string()
}

impl Metrics {
    /// Open the metrics under `root`, replaying what the day files hold.
    pub fn open(root: PathBuf) -> Result<Metrics> {
        fs::create_dir_all(&root)?;
        let m = Metrics {
            root,
            series: Mutex::default(),
            pending: Mutex::default(),
            file: Mutex::default(),
        };
        let mut days: Vec<PathBuf> = fs::read_dir(&m.root)?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
            .collect();
        days.sort();
        for day in days {
            for line in fs::read_to_string(&day)?.lines() {
                // A torn last line (a crash mid-write) is skipped.
                if let Ok(l) = serde_json::from_str::<Line>(line) {
                    m.apply(&l);
                }
            }
        }
        Ok(m)
    }

    fn apply(&self, l: &Line) {
        let mut all = self.series.lock().expect("series lock");
        let s = all.entry(l.id.clone()).or_default();
        if l.unit.is_some() {
            s.unit.clone_from(&l.unit);
        }
        match s.buckets.get_mut(&l.at) {
            Some((_, st)) => st.add(&l.stats),
            None => {
                s.buckets.insert(l.at, (l.resolution, l.stats.clone()));
            }
        }
    }

    fn write(&self, lines: &[Line], sync: bool) -> Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        let now = nimbus_model::time::now_millis();
        let day = day_of(now);
        let mut text = String::new();
        for l in lines {
            text.push_str(&serde_json::to_string(l).expect("a line encodes"));
            text.push('\n');
        }
        let mut file = self.file.lock().expect("file lock");
        if file.as_ref().is_none_or(|(d, _)| *d != day) {
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.root.join(format!("{day}.jsonl")))?;
            *file = Some((day, f));
        }
        let (_, f) = file.as_mut().expect("just opened");
        f.write_all(text.as_bytes())?;
        if sync {
            f.sync_data()?;
        }
        Ok(())
    }

    /// `PutMetricData`'s datapoints: written (fsynced), then counted.
    pub fn put(&self, data: Vec<(MetricId, u64, bool, Option<String>, Stats)>) -> Result<()> {
        let lines: Vec<Line> = data
            .into_iter()
            .map(|(id, at, high_resolution, unit, stats)| {
                let resolution = if high_resolution { 1_000 } else { 60_000 };
                Line {
                    id,
                    at: at - at % resolution,
                    resolution,
                    unit,
                    stats,
                }
            })
            .collect();
        self.write(&lines, true)?;
        for l in &lines {
            self.apply(l);
        }
        Ok(())
    }

    /// A datapoint the platform records (now, one-minute resolution):
    /// counted at once, written with the next [`Metrics::flush`].
    pub fn record(&self, id: MetricId, unit: &str, value: f64) {
        self.record_all(vec![(id, unit, value)]);
    }

    /// Several datapoints the platform records at once (one invocation's).
    pub fn record_all(&self, points: Vec<(MetricId, &str, f64)>) {
        let now = nimbus_model::time::now_millis();
        let at = now - now % 60_000;
        let mut all = self.series.lock().expect("series lock");
        let mut pending = self.pending.lock().expect("pending lock");
        for (id, unit, value) in points {
            let stats = Stats::one(value);
            let s = all.entry(id.clone()).or_default();
            if s.unit.as_deref() != Some(unit) {
                s.unit = Some(unit.to_string());
            }
            match s.buckets.get_mut(&at) {
                Some((_, st)) => st.add(&stats),
                None => {
                    s.buckets.insert(at, (60_000, stats.clone()));
                }
            }
            // Gather deltas of one bucket into one line.
            match pending.entry((id, at)) {
                std::collections::hash_map::Entry::Occupied(mut p) => p.get_mut().stats.add(&stats),
                std::collections::hash_map::Entry::Vacant(v) => {
                    let id = v.key().0.clone();
                    v.insert(Line {
                        id,
                        at,
                        resolution: 60_000,
                        unit: Some(unit.to_string()),
                        stats,
                    });
                }
            }
        }
    }

    /// Datapoints the platform read from somewhere (a function's log in the
    /// embedded metric format), with their own times: counted at once,
    /// written with the next [`Metrics::flush`].
    pub fn record_points(&self, points: Vec<emf::Datapoint>) {
        let mut all = self.series.lock().expect("series lock");
        let mut pending = self.pending.lock().expect("pending lock");
        for (id, at, high, unit, stats) in points {
            let resolution = if high { 1_000 } else { 60_000 };
            let at = at - at % resolution;
            let s = all.entry(id.clone()).or_default();
            if unit.is_some() {
                s.unit.clone_from(&unit);
            }
            match s.buckets.get_mut(&at) {
                Some((_, st)) => st.add(&stats),
                None => {
                    s.buckets.insert(at, (resolution, stats.clone()));
                }
            }
            match pending.entry((id, at)) {
                std::collections::hash_map::Entry::Occupied(mut p) => p.get_mut().stats.add(&stats),
                std::collections::hash_map::Entry::Vacant(v) => {
                    let id = v.key().0.clone();
                    v.insert(Line {
                        id,
                        at,
                        resolution,
                        unit,
                        stats,
                    });
                }
            }
        }
    }

    /// Write the platform's gathered datapoints.
    pub fn flush(&self) -> Result<()> {
        let lines: Vec<Line> = std::mem::take(&mut *self.pending.lock().expect("pending lock"))
            .into_values()
            .collect();
        self.write(&lines, false)
    }

    /// Delete the day files past retention; how many.
    pub fn expire(&self, now: u64) -> usize {
        let cutoff = day_of(now.saturating_sub(RETENTION_DAYS * DAY_MS));
        let mut deleted = 0;
        for e in fs::read_dir(&self.root).into_iter().flatten().flatten() {
            let p = e.path();
            let day = p
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default()
                .to_string();
            if p.extension().is_some_and(|x| x == "jsonl")
                && day < cutoff
                && fs::remove_file(&p).is_ok()
            {
                deleted += 1;
            }
        }
        let oldest = now.saturating_sub(RETENTION_DAYS * DAY_MS);
        for s in self.series.lock().expect("series lock").values_mut() {
            s.buckets.retain(|at, _| *at >= oldest);
        }
        deleted
    }

    /// The series matching a `ListMetrics` filter: namespace, name, and
    /// dimensions that must be there (with the value, if one is given).
    pub fn list(
        &self,
        namespace: Option<&str>,
        name: Option<&str>,
        dimensions: &[(String, Option<String>)],
    ) -> Vec<MetricId> {
        let mut v: Vec<MetricId> = self
            .series
            .lock()
            .expect("series lock")
            .keys()
            .filter(|id| namespace.is_none_or(|n| id.namespace == n))
            .filter(|id| name.is_none_or(|n| id.name == n))
            .filter(|id| {
                dimensions.iter().all(|(k, want)| {
                    id.dimensions
                        .iter()
                        .any(|(dk, dv)| dk == k && want.as_ref().is_none_or(|w| w == dv))
                })
            })
            .cloned()
            .collect();
        v.sort();
        v
    }

    /// The series' datapoints aggregated by `period` (ms) over
    /// `[start, end)`, oldest first, and its unit.
    pub fn query(
        &self,
        id: &MetricId,
        start: u64,
        end: u64,
        period: u64,
    ) -> (Vec<Point>, Option<String>) {
        let all = self.series.lock().expect("series lock");
        let Some(s) = all.get(id) else {
            return (Vec::new(), None);
        };
        let mut out: BTreeMap<u64, Stats> = BTreeMap::new();
        for (at, (_, st)) in s.buckets.range(start..end) {
            let slot = start + (at - start) / period * period;
            match out.get_mut(&slot) {
                Some(x) => x.add(st),
                None => {
                    out.insert(slot, st.clone());
                }
            }
        }
        (
            out.into_iter()
                .map(|(at, stats)| Point { at, stats })
                .collect(),
            s.unit.clone(),
        )
    }
}

/// A Prometheus metric or label name: letters, digits and `_`, in snake case.
fn prometheus_name(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    let mut prev_lower = false;
    for c in s.chars() {
        if c.is_ascii_uppercase() {
            if prev_lower {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
            prev_lower = false;
        } else if c.is_ascii_alphanumeric() {
            out.push(c);
            prev_lower = c.is_ascii_lowercase();
        } else {
            if !out.ends_with('_') {
                out.push('_');
            }
            prev_lower = false;
        }
    }
    out.trim_matches('_').to_string()
}

/// A label name: a Prometheus name that does not start with a digit.
fn prometheus_label(s: &str) -> String {
    let n = prometheus_name(s);
    if n.is_empty() || n.starts_with(|c: char| c.is_ascii_digit()) {
        format!("_{n}")
    } else {
        n
    }
}

fn prometheus_value(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    /// Every series in Prometheus' text format: per series a summary of
    /// what its kept datapoints hold (`_sum`, `_count`: they only grow until
    /// the retention drops old buckets) and a gauge of its latest minute's
    /// maximum (`_last`), with the dimensions as labels.
    /// `AWS/Lambda` `Invocations` by `FunctionName` becomes
    /// `aws_lambda_invocations_sum{function_name="..."}`.
    pub fn prometheus(&self) -> String {
        use std::fmt::Write as _;
        // Sums taken under the lock; names and text made after it, so that
        // recording (on every invocation) waits only for the sums.
        let snapshot: Vec<(MetricId, f64, f64, f64)> = {
            let all = self.series.lock().expect("series lock");
            all.iter()
                .map(|(id, s)| {
                    let (mut sum, mut count) = (0.0, 0.0);
                    for (_, st) in s.buckets.values() {
                        sum += st.sum;
                        count += st.count;
                    }
                    let last = s.buckets.values().next_back().map_or(0.0, |(_, st)| st.max);
                    (id.clone(), sum, count, last)
                })
                .collect()
        };
        let mut families: BTreeMap<String, Vec<(String, f64, f64, f64)>> = BTreeMap::new();
        for (id, sum, count, last) in snapshot {
            let mut family = format!(
                "{}_{}",
                prometheus_name(&id.namespace),
                prometheus_name(&id.name)
            );
            if family.starts_with(|c: char| c.is_ascii_digit()) {
                family.insert(0, '_');
            }
            // Two dimensions may make one label name (`FunctionName` and
            // `function_name`): the first is kept.
            let mut seen = std::collections::HashSet::new();
            let labels: Vec<String> = id
                .dimensions
                .iter()
                .map(|(k, v)| (prometheus_label(k), v))
                .filter(|(k, _)| seen.insert(k.clone()))
                .map(|(k, v)| format!("{k}=\"{}\"", prometheus_value(v)))
                .collect();
            families
                .entry(family)
                .or_default()
                .push((labels.join(","), sum, count, last));
        }
        let mut out = String::new();
        for (family, rows) in &mut families {
            rows.sort_by(|a, b| a.0.cmp(&b.0));
            let _ = writeln!(out, "# TYPE {family} summary");
            for (labels, sum, count, _) in rows.iter() {
                let _ = writeln!(out, "{family}_sum{{{labels}}} {sum}");
                let _ = writeln!(out, "{family}_count{{{labels}}} {count}");
            }
            let _ = writeln!(out, "# TYPE {family}_last gauge");
            for (labels, _, _, last) in rows.iter() {
                let _ = writeln!(out, "{family}_last{{{labels}}} {last}");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_names_and_labels() {
        assert_eq!(prometheus_name("AWS/Lambda"), "aws_lambda");
        assert_eq!(
            prometheus_name("ConcurrentExecutions"),
            "concurrent_executions"
        );
        assert_eq!(prometheus_name("FunctionName"), "function_name");
        assert_eq!(prometheus_name("AWS/ApiGateway"), "aws_api_gateway");
        assert_eq!(prometheus_name("4XXError"), "4xxerror");
        assert_eq!(prometheus_label("1st"), "_1st");
        assert_eq!(prometheus_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        let dir = tempfile::tempdir().unwrap();
        let m = Metrics::open(dir.path().to_path_buf()).unwrap();
        m.record_all(vec![
            (
                MetricId::new("AWS/Lambda", "Invocations", &[("FunctionName", "f")]),
                "Count",
                1.0,
            ),
            (
                MetricId::new("AWS/Lambda", "Invocations", &[("FunctionName", "f")]),
                "Count",
                1.0,
            ),
        ]);
        let text = m.prometheus();
        assert!(
            text.contains("# TYPE aws_lambda_invocations summary\n"),
            "{text}"
        );
        assert!(
            text.contains("aws_lambda_invocations_sum{function_name=\"f\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("aws_lambda_invocations_count{function_name=\"f\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("aws_lambda_invocations_last{function_name=\"f\"} 1\n"),
            "{text}"
        );
    }

    fn set(values: &[f64]) -> Stats {
        let mut s = Stats::one(values[0]);
        for v in &values[1..] {
            s.add(&Stats::one(*v));
        }
        s
    }

    #[test]
    fn statistics_and_percentiles() {
        let s = set(&[1.0, 2.0, 3.0, 4.0, 100.0]);
        assert_eq!(s.get("SampleCount"), Some(5.0));
        assert_eq!(s.get("Average"), Some(22.0));
        assert_eq!(s.get("Maximum"), Some(100.0));
        assert_eq!(s.get("p50"), Some(3.0));
        assert_eq!(s.get("p99"), Some(100.0));
        assert_eq!(s.get("p101"), None);
        assert_eq!(s.get("Median"), None);
    }

    #[test]
    fn datapoints_survive_a_restart_and_aggregate_by_period() {
        let dir = tempfile::tempdir().unwrap();
        let id = MetricId::new("App", "Latency", &[("Service", "orders")]);
        let t0 = 1_700_000_040_000u64; // a minute's start
        {
            let m = Metrics::open(dir.path().to_path_buf()).unwrap();
            m.put(vec![
                (
                    id.clone(),
                    t0,
                    false,
                    Some("Milliseconds".into()),
                    Stats::one(10.0),
                ),
                (id.clone(), t0 + 61_000, false, None, Stats::one(30.0)),
            ])
            .unwrap();
            m.record(
                MetricId::new("AWS/Lambda", "Invocations", &[("FunctionName", "f")]),
                "Count",
                1.0,
            );
            m.flush().unwrap();
        }
        let m = Metrics::open(dir.path().to_path_buf()).unwrap();
        let (points, unit) = m.query(&id, t0, t0 + 120_000, 60_000);
        assert_eq!(unit.as_deref(), Some("Milliseconds"));
        assert_eq!(points.len(), 2);
        let (one, _) = m.query(&id, t0, t0 + 120_000, 120_000);
        assert_eq!(one[0].stats.get("Average"), Some(20.0));
        assert_eq!(m.list(Some("AWS/Lambda"), None, &[]).len(), 1);
        let only = [("Service".to_string(), Some("billing".to_string()))];
        assert!(m.list(None, None, &only).is_empty());
    }

    #[test]
    fn datapoints_past_fifteen_days_leave_disk_and_memory() {
        assert_eq!(
            RETENTION_DAYS, 15,
            "CloudWatch keeps 1-minute datapoints 15 days"
        );
        let dir = tempfile::tempdir().unwrap();
        let id = MetricId::new("App", "Orders", &[]);
        let now = nimbus_model::time::now_millis();
        let minute = |t: u64| t / 60_000 * 60_000;
        let (old, recent) = (minute(now - 16 * DAY_MS), minute(now - 60_000));
        {
            // A day file written sixteen days ago (day files are named by the
            // day they were written).
            let m = Metrics::open(dir.path().to_path_buf()).unwrap();
            m.put(vec![(id.clone(), old, false, None, Stats::one(1.0))])
                .unwrap();
        }
        let today = dir.path().join(format!("{}.jsonl", day_of(now)));
        let then = dir.path().join(format!("{}.jsonl", day_of(old)));
        std::fs::rename(&today, &then).unwrap();
        let m = Metrics::open(dir.path().to_path_buf()).unwrap();
        m.put(vec![(id.clone(), recent, false, None, Stats::one(2.0))])
            .unwrap();
        assert_eq!(m.query(&id, old, old + 60_000, 60_000).0.len(), 1);
        assert_eq!(m.expire(now), 1);
        assert!(!then.exists() && today.exists());
        assert!(m.query(&id, old, old + 60_000, 60_000).0.is_empty());
        assert_eq!(m.query(&id, recent, recent + 60_000, 60_000).0.len(), 1);
    }
}
