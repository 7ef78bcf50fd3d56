//! Live Tail: sessions that receive the events of some groups as they are
//! written (functions' output and `PutLogEvents`). A session is a bounded
//! channel: when its reader falls behind by [`BUFFERED`] events the newest
//! are dropped (CloudWatch buffers 5,000 and drops the oldest), and a session
//! whose reader is gone is forgotten at the next write.

use crate::Logs;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};

/// Events a session holds for its reader.
pub const BUFFERED: usize = 5_000;

/// One event written to a tailed group.
#[derive(Debug, Clone, PartialEq)]
pub struct Tailed {
    pub group: String,
    pub stream: String,
    pub timestamp: u64,
    pub ingested: u64,
    pub message: String,
}

/// A session's groups and where their events go.
pub(crate) struct Session {
    groups: Vec<String>,
    tx: SyncSender<Tailed>,
}

impl Logs {
    /// Start a session on `groups`: every event written to them from now on.
    pub fn tail(&self, groups: Vec<String>) -> Receiver<Tailed> {
        let (tx, rx) = std::sync::mpsc::sync_channel(BUFFERED);
        let mut sessions = self.tails.lock().expect("tails lock");
        sessions.push(Session { groups, tx });
        self.tailing.store(sessions.len(), Ordering::Relaxed);
        rx
    }

    /// Hand events just written to `group` to its sessions.
    pub(crate) fn announce(&self, group: &str, stream: &str, events: &[(u64, &str)], now: u64) {
        if self.tailing.load(Ordering::Relaxed) == 0 {
            return;
        }
        let mut sessions = self.tails.lock().expect("tails lock");
        sessions.retain(|s| {
            if !s.groups.iter().any(|g| g == group) {
                return true;
            }
            for (ts, m) in events {
                let e = Tailed {
                    group: group.to_string(),
                    stream: stream.to_string(),
                    timestamp: *ts,
                    ingested: now,
                    message: m.to_string(),
                };
                match s.tx.try_send(e) {
                    Ok(()) | Err(TrySendError::Full(_)) => {}
                    Err(TrySendError::Disconnected(_)) => return false,
                }
            }
            true
        });
        self.tailing.store(sessions.len(), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    #[test]
    fn a_session_gets_its_groups_events_and_is_dropped_when_its_reader_goes() {
        let dir = tempfile::tempdir().unwrap();
        let kv =
            Arc::new(nimbus_storage_embedded::EmbeddedKv::open(&dir.path().join("kv")).unwrap());
        let logs =
            crate::Logs::open(dir.path().join("logs"), kv, "000000000000", "us-east-1").unwrap();
        let rx = logs.tail(vec!["/a".into()]);
        logs.append_lines("/a", "s", &["one", "two"]);
        logs.append_lines("/b", "s", &["elsewhere"]);
        let got: Vec<String> = rx.try_iter().map(|e| e.message).collect();
        assert_eq!(got, ["one", "two"]);
        drop(rx);
        logs.append_lines("/a", "s", &["three"]);
        assert!(logs.tails.lock().unwrap().is_empty());
    }
}
