//! Live Tail: sessions that receive the events of some groups as they are
//! written (functions' output and `PutLogEvents`). A session is a bounded
//! channel: when its reader falls behind by [`BUFFERED`] events the newest
//! are dropped (CloudWatch buffers 5,000 and drops the oldest); a session ends
//! when its [`Tail`] is dropped.

use crate::Logs;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Weak};

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
    id: u64,
    groups: Vec<String>,
    tx: SyncSender<Tailed>,
}

/// A Live Tail session's end of the channel; dropping it ends the session.
pub struct Tail {
    rx: Receiver<Tailed>,
    id: u64,
    logs: Weak<Logs>,
}

impl Tail {
    /// The events written since the last call.
    pub fn try_iter(&self) -> impl Iterator<Item = Tailed> + '_ {
        self.rx.try_iter()
    }
}

impl Drop for Tail {
    fn drop(&mut self) {
        if let Some(logs) = self.logs.upgrade() {
            let mut sessions = logs.tails.lock().expect("tails lock");
            sessions.retain(|s| s.id != self.id);
            logs.tailing.store(sessions.len(), Ordering::Relaxed);
        }
    }
}

impl Logs {
    /// Start a session on `groups`: every event written to them from now on.
    pub fn tail(self: &Arc<Self>, groups: Vec<String>) -> Tail {
        let (tx, rx) = std::sync::mpsc::sync_channel(BUFFERED);
        let id = self.next_tail.fetch_add(1, Ordering::Relaxed);
        let mut sessions = self.tails.lock().expect("tails lock");
        sessions.push(Session { id, groups, tx });
        self.tailing.store(sessions.len(), Ordering::Relaxed);
        Tail {
            rx,
            id,
            logs: Arc::downgrade(self),
        }
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
    use super::*;

    #[test]
    fn a_session_gets_its_groups_events_and_ends_with_its_reader() {
        let dir = tempfile::tempdir().unwrap();
        let kv =
            Arc::new(nimbus_storage_embedded::EmbeddedKv::open(&dir.path().join("kv")).unwrap());
        let logs = Arc::new(
            crate::Logs::open(dir.path().join("logs"), kv, "000000000000", "us-east-1").unwrap(),
        );
        let rx = logs.tail(vec!["/a".into()]);
        logs.append_lines("/a", "s", &["one", "two"]);
        logs.append_lines("/b", "s", &["elsewhere"]);
        let got: Vec<String> = rx.try_iter().map(|e| e.message).collect();
        assert_eq!(got, ["one", "two"]);
        let quiet = logs.tail(vec!["/quiet".into()]);
        drop(rx);
        drop(quiet);
        assert!(
            logs.tails.lock().unwrap().is_empty(),
            "ended with their readers, written to or not"
        );
    }
}
