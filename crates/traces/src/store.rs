//! Segment documents by trace. Each accepted document is appended to the
//! day file of when it arrived (`<root>/<YYYY-MM-DD>.jsonl`, one compact JSON
//! document per line; `PutTraceSegments` fsyncs before it answers, the
//! daemon's datagrams are not acknowledged and are not synced); all of them
//! are also held in memory by trace. Day files older than the retention (X-Ray
//! keeps traces 30 days) are deleted, and their traces forgotten.
//!
//! A segment sent again under the same id (in progress, then complete)
//! replaces the earlier one. Subsegments sent on their own (`"type":
//! "subsegment"`, as the SDKs stream them from a Lambda function) are put
//! back inside their parent when a trace is read.

use crate::Result;
use crate::header::{valid_segment_id, valid_trace_id};
use nimbus_model::time::{Utc, now_millis};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// X-Ray keeps traces for 30 days.
pub const DEFAULT_RETENTION_DAYS: u32 = 30;
/// The largest segment document X-Ray accepts (64 KB).
pub const MAX_DOCUMENT_BYTES: usize = 64 * 1024;
/// Traces kept in memory at most; the oldest are forgotten first.
pub const MAX_TRACES: usize = 200_000;
/// Bytes of segment documents kept in memory at most; the oldest traces go first.
pub const MAX_BYTES: usize = 512 * 1024 * 1024;
/// Segments and separately sent subsegments of one trace, at most.
pub const MAX_PIECES: usize = 1_000;
/// How deep separately sent subsegments are put back into their parents.
const MAX_NESTING: usize = 32;

/// A document `PutTraceSegments` did not take: X-Ray's `UnprocessedTraceSegment`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub id: Option<String>,
    pub code: String,
    pub message: String,
}

/// One stored segment or independently sent subsegment.
#[derive(Debug, Clone)]
pub struct Stored {
    pub id: String,
    pub parent_id: Option<String>,
    pub subsegment: bool,
    pub doc: Arc<Value>,
    pub received_ms: u64,
    /// Its document's size as stored, for the memory budget.
    pub size: usize,
}

#[derive(Default)]
struct State {
    traces: HashMap<String, Vec<Stored>>,
    /// The documents' bytes held, against [`MAX_BYTES`].
    bytes: usize,
    /// Trace ids in the order they were first seen, for the memory cap.
    order: std::collections::VecDeque<String>,
}

struct DayFile {
    day: String,
    file: fs::File,
}

pub struct Traces {
    /// Where accepted documents are also sent (an OTLP exporter), if anywhere.
    exports: Mutex<Option<std::sync::mpsc::SyncSender<Arc<Value>>>>,
    root: PathBuf,
    retention_days: u32,
    state: Mutex<State>,
    file: Mutex<Option<DayFile>>,
    pub sampler: crate::Sampler,
}

fn day_of(ms: u64) -> String {
    let t = Utc::from_millis(ms);
    format!("{:04}-{:02}-{:02}", t.year, t.month, t.day)
}

/// Check a document as X-Ray does and return (trace id, id, parent id, subsegment).
fn check(doc: &Value) -> std::result::Result<(String, String, Option<String>, bool), Rejected> {
    let id = doc.get("id").and_then(Value::as_str).map(str::to_string);
    let bad = |message: &str| Rejected {
        id: id.clone(),
        code: "InvalidSegment".into(),
        message: message.into(),
    };
    let Some(obj) = doc.as_object() else {
        return Err(bad("A segment document must be a JSON object"));
    };
    let Some(sid) = id.clone().filter(|i| valid_segment_id(i)) else {
        return Err(bad("Invalid segment ID: must be 16 hexadecimal digits"));
    };
    let Some(trace) = obj
        .get("trace_id")
        .and_then(Value::as_str)
        .filter(|t| valid_trace_id(t))
    else {
        return Err(bad(
            "Invalid trace ID: must be of the form 1-xxxxxxxx-xxxxxxxxxxxxxxxxxxxxxxxx",
        ));
    };
    let subsegment = obj.get("type").and_then(Value::as_str) == Some("subsegment");
    let parent = obj.get("parent_id").and_then(Value::as_str);
    if parent.is_some_and(|p| !valid_segment_id(p)) {
        return Err(bad("Invalid parent ID: must be 16 hexadecimal digits"));
    }
    if subsegment && parent.is_none() {
        return Err(bad("A subsegment sent on its own must have a parent_id"));
    }
    match obj.get("name").and_then(Value::as_str) {
        Some(n) if !n.is_empty() && n.chars().count() <= 200 => {}
        _ => return Err(bad("A segment must have a name of 1 to 200 characters")),
    }
    if !obj.get("start_time").is_some_and(Value::is_number) {
        return Err(bad("A segment must have a numeric start_time"));
    }
    let done = obj.get("end_time").is_some_and(Value::is_number);
    let open = obj.get("in_progress").and_then(Value::as_bool) == Some(true);
    if !done && !open {
        return Err(bad("A segment must have an end_time or be in_progress"));
    }
    Ok((
        trace.to_string(),
        sid,
        parent.map(str::to_string),
        subsegment,
    ))
}

impl Traces {
    /// Open the store under `root` (the data directory's `traces` folder),
    /// reading back the day files within the retention.
    pub fn open(
        root: PathBuf,
        kv: Arc<dyn nimbus_storage::KvEngine>,
        retention_days: u32,
    ) -> Result<Traces> {
        fs::create_dir_all(&root)?;
        let traces = Traces {
            sampler: crate::Sampler::open(kv)?,
            exports: Mutex::new(None),
            root,
            retention_days: retention_days.max(1),
            state: Mutex::default(),
            file: Mutex::new(None),
        };
        traces.expire(now_millis());
        let mut files: Vec<PathBuf> = fs::read_dir(&traces.root)?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
            .collect();
        files.sort();
        for path in files {
            let bytes = fs::read(&path)?;
            let received = path
                .file_stem()
                .and_then(|s| s.to_str())
                .and_then(day_start_ms)
                .unwrap_or(0);
            let mut state = traces.state.lock().expect("traces lock");
            // A torn line (a crash mid-append of an unsynced datagram) is
            // skipped, whatever bytes it ends with.
            for line in bytes.split(|b| *b == b'\n') {
                let Ok(doc) = serde_json::from_slice::<Value>(line) else {
                    continue;
                };
                if let Ok(c) = check(&doc) {
                    insert(&mut state, c, doc, received, line.len());
                }
            }
        }
        Ok(traces)
    }

    /// Take segment documents (JSON text each); `durable`: synced to disk
    /// before returning. Returns the documents refused, with why.
    pub fn put(&self, docs: &[String], durable: bool) -> Result<Vec<Rejected>> {
        let mut rejected = Vec::new();
        let mut accepted = Vec::new();
        for text in docs {
            if text.len() > MAX_DOCUMENT_BYTES {
                rejected.push(Rejected {
                    id: None,
                    code: "SegmentTooLarge".into(),
                    message: format!(
                        "Segment document of {} bytes is larger than the limit of {MAX_DOCUMENT_BYTES} bytes",
                        text.len()
                    ),
                });
                continue;
            }
            let doc: Value = match serde_json::from_str(text) {
                Ok(d) => d,
                Err(e) => {
                    rejected.push(Rejected {
                        id: None,
                        code: "InvalidSegment".into(),
                        message: format!("The segment document is not JSON: {e}"),
                    });
                    continue;
                }
            };
            accepted.push(doc);
        }
        rejected.extend(self.put_values(accepted, durable)?);
        Ok(rejected)
    }

    /// [`Traces::put`] of documents already parsed (the platform's own).
    pub fn put_values(&self, docs: Vec<Value>, durable: bool) -> Result<Vec<Rejected>> {
        let mut rejected = Vec::new();
        let mut accepted = Vec::new();
        {
            let state = self.state.lock().expect("traces lock");
            let mut added: HashMap<String, usize> = HashMap::new();
            for doc in docs {
                match check(&doc) {
                    Ok(c) => {
                        let held = state.traces.get(&c.0).map_or(0, Vec::len);
                        let n = added.entry(c.0.clone()).or_default();
                        if held + *n >= MAX_PIECES {
                            rejected.push(Rejected {
                                id: Some(c.1.clone()),
                                code: "TraceTooLarge".into(),
                                message: format!(
                                    "Trace {} already has {MAX_PIECES} segments and subsegments sent on their own",
                                    c.0
                                ),
                            });
                            continue;
                        }
                        *n += 1;
                        accepted.push((c, doc));
                    }
                    Err(r) => rejected.push(r),
                }
            }
        }
        if accepted.is_empty() {
            return Ok(rejected);
        }
        let now = now_millis();
        let mut sizes = Vec::with_capacity(accepted.len());
        {
            let mut lines = String::new();
            for (_, doc) in &accepted {
                let line = doc.to_string();
                sizes.push(line.len());
                lines.push_str(&line);
                lines.push('\n');
            }
            let mut file = self.file.lock().expect("trace file lock");
            let day = day_of(now);
            if file.as_ref().is_none_or(|f| f.day != day) {
                let path = self.root.join(format!("{day}.jsonl"));
                let mut f = fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .read(true)
                    .open(&path)?;
                // A line torn by a crash would swallow the next one: end it first.
                if ends_torn(&mut f)? {
                    f.write_all(b"\n")?;
                }
                *file = Some(DayFile { day, file: f });
            }
            let f = &mut file.as_mut().expect("just opened").file;
            f.write_all(lines.as_bytes())?;
            if durable {
                f.sync_data()?;
            }
        }
        let export = self.exports.lock().expect("exports lock").clone();
        let mut state = self.state.lock().expect("traces lock");
        for ((c, doc), size) in accepted.into_iter().zip(sizes) {
            let doc = insert(&mut state, c, doc, now, size);
            // An exporter that falls behind loses documents rather than memory.
            if let Some(tx) = &export {
                let _ = tx.try_send(doc);
            }
        }
        Ok(rejected)
    }

    /// Forget traces and delete day files older than the retention; returns
    /// the number of files removed.
    pub fn expire(&self, now: u64) -> usize {
        let cutoff_ms = now.saturating_sub(u64::from(self.retention_days) * 86_400_000);
        let cutoff_day = day_of(cutoff_ms);
        let mut removed = 0;
        if let Ok(dir) = fs::read_dir(&self.root) {
            for e in dir.flatten() {
                let p = e.path();
                let old = p.file_stem().and_then(|s| s.to_str()).is_some_and(|d| {
                    p.extension().is_some_and(|x| x == "jsonl") && *d < *cutoff_day.as_str()
                });
                if old && fs::remove_file(&p).is_ok() {
                    removed += 1;
                }
            }
        }
        let day_start = day_start_ms(&cutoff_day).unwrap_or(0);
        let mut state = self.state.lock().expect("traces lock");
        let mut freed = 0;
        state.traces.retain(|_, segs| {
            segs.retain(|s| {
                let keep = s.received_ms >= day_start;
                if !keep {
                    freed += s.size;
                }
                keep
            });
            !segs.is_empty()
        });
        state.bytes = state.bytes.saturating_sub(freed);
        let State { traces, order, .. } = &mut *state;
        order.retain(|t| traces.contains_key(t));
        removed
    }

    /// The stored pieces of a trace.
    pub fn pieces(&self, trace_id: &str) -> Option<Vec<Stored>> {
        self.state
            .lock()
            .expect("traces lock")
            .traces
            .get(trace_id)
            .cloned()
    }

    /// A trace's segment documents with independently sent subsegments put
    /// back inside their parents (those whose parent never arrived stay on
    /// their own).
    pub fn trace(&self, trace_id: &str) -> Option<Vec<Value>> {
        self.pieces(trace_id).map(|p| assemble(&p))
    }

    /// Ids of the traces with a segment that started within `[start, end]`
    /// (epoch seconds), oldest first.
    pub fn trace_ids_between(&self, start: f64, end: f64) -> Vec<String> {
        let state = self.state.lock().expect("traces lock");
        let mut ids: Vec<(f64, String)> = state
            .traces
            .iter()
            .filter_map(|(id, segs)| {
                let first = segs
                    .iter()
                    .filter_map(|s| s.doc.get("start_time").and_then(Value::as_f64))
                    .fold(f64::INFINITY, f64::min);
                (first >= start && first <= end).then(|| (first, id.clone()))
            })
            .collect();
        ids.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
        ids.into_iter().map(|(_, id)| id).collect()
    }

    /// Send every document accepted from now on to the returned receiver too
    /// (at most `capacity` waiting; more are dropped).
    pub fn export(&self, capacity: usize) -> std::sync::mpsc::Receiver<Arc<Value>> {
        let (tx, rx) = std::sync::mpsc::sync_channel(capacity);
        *self.exports.lock().expect("exports lock") = Some(tx);
        rx
    }

    pub fn retention_days(&self) -> u32 {
        self.retention_days
    }

    pub fn root(&self) -> &std::path::Path {
        &self.root
    }
}

/// Whether `f` has bytes after its last line break.
fn ends_torn(f: &mut fs::File) -> std::io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    let len = f.metadata()?.len();
    if len == 0 {
        return Ok(false);
    }
    let mut last = [0u8; 1];
    f.seek(SeekFrom::Start(len - 1))?;
    f.read_exact(&mut last)?;
    Ok(last[0] != b'\n')
}

/// Epoch milliseconds of `YYYY-MM-DD`'s midnight.
fn day_start_ms(day: &str) -> Option<u64> {
    let mut it = day.split('-');
    let y: i64 = it.next()?.parse().ok()?;
    let m: u32 = it.next()?.parse().ok()?;
    let d: u32 = it.next()?.parse().ok()?;
    let days = nimbus_model::time::days_from_civil(y, m, d);
    u64::try_from(days).ok().map(|d| d * 86_400_000)
}

fn insert(
    state: &mut State,
    c: (String, String, Option<String>, bool),
    doc: Value,
    received: u64,
    size: usize,
) -> Arc<Value> {
    let (trace, id, parent_id, subsegment) = c;
    let doc = Arc::new(doc);
    let stored = Stored {
        id,
        parent_id,
        subsegment,
        doc: doc.clone(),
        received_ms: received,
        size,
    };
    state.bytes += size;
    match state.traces.get_mut(&trace) {
        Some(segs) => match segs.iter().position(|s| s.id == stored.id) {
            Some(i) => {
                let old = std::mem::replace(&mut segs[i], stored);
                state.bytes = state.bytes.saturating_sub(old.size);
            }
            None if segs.len() >= MAX_PIECES => state.bytes = state.bytes.saturating_sub(size),
            None => segs.push(stored),
        },
        None => {
            state.traces.insert(trace.clone(), vec![stored]);
            state.order.push_back(trace);
            while state.order.len() > MAX_TRACES || state.bytes > MAX_BYTES {
                let Some(old) = state.order.pop_front() else {
                    break;
                };
                if let Some(gone) = state.traces.remove(&old) {
                    let freed: usize = gone.iter().map(|s| s.size).sum();
                    state.bytes = state.bytes.saturating_sub(freed);
                }
            }
        }
    }
    doc
}

/// Put `child` into the (sub)segment with id `parent` somewhere in `doc`.
fn adopt(doc: &mut Value, parent: &str, child: &Value, depth: usize) -> bool {
    if depth > MAX_NESTING {
        return false;
    }
    if doc.get("id").and_then(Value::as_str) == Some(parent) {
        let Some(obj) = doc.as_object_mut() else {
            return false;
        };
        let subs = obj
            .entry("subsegments")
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(a) = subs {
            let cid = child.get("id");
            match a.iter_mut().find(|s| s.get("id") == cid) {
                Some(slot) => *slot = child.clone(),
                None => a.push(child.clone()),
            }
        }
        return true;
    }
    match doc.get_mut("subsegments") {
        Some(Value::Array(subs)) => subs.iter_mut().any(|s| adopt(s, parent, child, depth + 1)),
        _ => false,
    }
}

/// A trace's documents as X-Ray returns them.
pub fn assemble(pieces: &[Stored]) -> Vec<Value> {
    let mut segments: Vec<Value> = pieces
        .iter()
        .filter(|p| !p.subsegment)
        .map(|p| (*p.doc).clone())
        .collect();
    let mut loose: Vec<Value> = pieces
        .iter()
        .filter(|p| p.subsegment)
        .map(|p| {
            let mut d = (*p.doc).clone();
            // Inside its parent, a subsegment does not repeat what the parent says.
            if let Some(o) = d.as_object_mut() {
                for k in ["type", "trace_id", "parent_id"] {
                    o.remove(k);
                }
            }
            let mut keep = Map::new();
            keep.insert(
                "parent".into(),
                Value::String(p.parent_id.clone().unwrap_or_default()),
            );
            keep.insert("doc".into(), d);
            Value::Object(keep)
        })
        .collect();
    // Subsegments may arrive inside-out (a child before its parent subsegment
    // is placed): place what can be placed until nothing changes.
    loop {
        let before = loose.len();
        loose.retain(|l| {
            let parent = l["parent"].as_str().unwrap_or_default();
            let child = &l["doc"];
            !segments.iter_mut().any(|s| adopt(s, parent, child, 0))
        });
        if loose.len() == before || loose.is_empty() {
            break;
        }
    }
    let orphans = pieces
        .iter()
        .filter(|p| p.subsegment)
        .filter(|p| {
            loose
                .iter()
                .any(|l| l["doc"].get("id").and_then(Value::as_str) == Some(p.id.as_str()))
        })
        .map(|p| (*p.doc).clone());
    segments.extend(orphans);
    segments
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn open(dir: &std::path::Path) -> Traces {
        let kv = Arc::new(nimbus_storage_embedded::EmbeddedKv::open(&dir.join("kv")).unwrap());
        Traces::open(dir.join("traces"), kv, DEFAULT_RETENTION_DAYS).unwrap()
    }

    const T: &str = "1-5759e988-bd862e3fe1be46a994272793";

    #[test]
    fn streamed_subsegments_go_back_inside_their_segment_and_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let seg = json!({"trace_id": T, "id": "aaaaaaaaaaaaaaaa", "name": "fn", "start_time": 1.0, "end_time": 2.0});
        let sub = json!({"type": "subsegment", "trace_id": T, "parent_id": "aaaaaaaaaaaaaaaa", "id": "bbbbbbbbbbbbbbbb", "name": "work", "start_time": 1.1, "end_time": 1.9});
        let inner = json!({"type": "subsegment", "trace_id": T, "parent_id": "bbbbbbbbbbbbbbbb", "id": "cccccccccccccccc", "name": "inner", "start_time": 1.2, "end_time": 1.3});
        {
            let t = open(dir.path());
            let r = t
                .put(&[inner.to_string(), sub.to_string(), seg.to_string()], true)
                .unwrap();
            assert!(r.is_empty(), "{r:?}");
        }
        let t = open(dir.path());
        let docs = t.trace(T).unwrap();
        assert_eq!(docs.len(), 1, "{docs:?}");
        assert_eq!(docs[0]["subsegments"][0]["name"], "work");
        assert_eq!(docs[0]["subsegments"][0]["subsegments"][0]["name"], "inner");
        assert!(docs[0]["subsegments"][0].get("trace_id").is_none());
    }

    #[test]
    fn bad_documents_are_refused_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        let t = open(dir.path());
        let r = t
            .put(
                &[
                    "not json".into(),
                    json!({"trace_id": "1-x", "id": "aaaaaaaaaaaaaaaa", "name": "a", "start_time": 1.0, "end_time": 2.0}).to_string(),
                    json!({"trace_id": T, "id": "aaaaaaaaaaaaaaaa", "name": "a", "start_time": 1.0}).to_string(),
                    "x".repeat(MAX_DOCUMENT_BYTES + 1),
                ],
                false,
            )
            .unwrap();
        assert_eq!(r.len(), 4);
        assert!(r.iter().any(|x| x.code == "SegmentTooLarge"), "{r:?}");
        assert!(r.iter().any(|x| x.message.contains("trace ID")), "{r:?}");
        assert!(t.trace(T).is_none());
    }

    #[test]
    fn a_torn_line_loses_only_itself_and_deep_chains_stay_flat() {
        let dir = tempfile::tempdir().unwrap();
        {
            let t = open(dir.path());
            let seg = json!({"trace_id": T, "id": "aaaaaaaaaaaaaaaa", "name": "fn", "start_time": 1.0, "end_time": 2.0});
            t.put(&[seg.to_string()], true).unwrap();
        }
        // A crash in the middle of a line, inside a multi-byte character.
        let day = std::fs::read_dir(dir.path().join("traces"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let mut f = std::fs::OpenOptions::new().append(true).open(&day).unwrap();
        f.write_all(&"{\"name\": \"é".as_bytes()[..10]).unwrap();
        drop(f);
        let t = open(dir.path());
        let next = json!({"trace_id": T, "id": "bbbbbbbbbbbbbbbb", "name": "fn", "start_time": 1.0, "end_time": 2.0});
        t.put(&[next.to_string()], true).unwrap();
        // A chain of subsegments each under the previous one.
        let mut parent = "bbbbbbbbbbbbbbbb".to_string();
        let mut chain = Vec::new();
        for i in 0..200u32 {
            let id = format!("{:016x}", 0x1000 + i);
            chain.push(
                json!({"type": "subsegment", "trace_id": T, "parent_id": parent, "id": id,
                              "name": "s", "start_time": 1.0, "end_time": 2.0})
                .to_string(),
            );
            parent = id;
        }
        t.put(&chain, false).unwrap();
        drop(t);
        let t = open(dir.path());
        let docs = t.trace(T).unwrap();
        assert!(
            docs.iter().any(|d| d["id"] == "bbbbbbbbbbbbbbbb"),
            "the write after the torn line survives"
        );
        assert!(
            docs.len() > 2,
            "subsegments beyond the nesting limit stay on their own"
        );
    }

    #[test]
    fn traces_past_the_retention_are_deleted_from_disk_and_memory() {
        let dir = tempfile::tempdir().unwrap();
        let t = open(dir.path());
        let seg = json!({"trace_id": T, "id": "aaaaaaaaaaaaaaaa", "name": "fn", "start_time": 1.0, "end_time": 2.0});
        t.put(&[seg.to_string()], true).unwrap();
        assert_eq!(t.expire(now_millis()), 0);
        assert!(t.trace(T).is_some());
        let later = now_millis() + u64::from(DEFAULT_RETENTION_DAYS + 1) * 86_400_000;
        assert_eq!(t.expire(later), 1);
        assert!(t.trace(T).is_none());
        assert_eq!(fs::read_dir(t.root()).unwrap().count(), 0);
    }
}
