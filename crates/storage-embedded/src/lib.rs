//! The embedded storage engine, Nimbus's default: a redb database file for
//! metadata and a directory of content-addressed files for blobs.
//!
//! Durability: a write-ahead log. Concurrent commits are grouped: whoever finds
//! no commit in progress applies every batch waiting at that moment in one redb
//! transaction, appends the group to `<database>.wal` as one checksummed frame
//! and `fdatasync`s it, and only then commits the transaction (with redb's
//! `Durability::None`: no fsync of its own) and wakes the callers. Each batch
//! stays all-or-nothing. At most every second (or 64 MiB of log) a checkpoint
//! commits redb with `Durability::Immediate` and empties the log; after a crash,
//! redb returns to its last checkpoint and [`EmbeddedKv::open`] replays the
//! frames logged since, up to the first torn one. A blob is written to a
//! temporary file, fsynced, renamed into place and its directory fsynced before
//! `put` returns. See `docs/adr/0002-embedded-storage.md` and
//! `docs/adr/0011-write-ahead-log.md`.

mod wal;

use nimbus_storage::{BlobStore, Error, KvEngine, Op, Result, Table, Ticket, WriteBatch};
use redb::{ReadableDatabase, ReadableTable, TableDefinition, TableError};
use sha2::{Digest, Sha256};
use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// On-disk format of the metadata database. Checked at open.
pub const FORMAT_VERSION: u32 = 1;

const META: TableDefinition<&str, u32> = TableDefinition::new("nimbus_meta");
/// `applied`: the sequence number of the last log frame in the database;
/// `salt`: what the log's frames are checksummed with since the last checkpoint.
const WAL_META: TableDefinition<&str, u64> = TableDefinition::new("nimbus_wal");

/// Checkpoint when the log has grown this large...
const CHECKPOINT_BYTES: u64 = 64 << 20;
/// ...or this long after the last checkpoint, whichever comes first.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

fn engine_err(e: impl std::fmt::Display) -> Error {
    Error::Engine(e.to_string())
}

fn def(table: Table) -> TableDefinition<'static, &'static [u8], &'static [u8]> {
    TableDefinition::new(table.0)
}

/// The redb-backed key-value engine.
pub struct EmbeddedKv {
    db: redb::Database,
    /// Touched only by the group's leader; a lock so the engine is `Sync`.
    wal: std::sync::Mutex<Wal>,
    group: std::sync::Mutex<Group>,
}

/// Batches waiting to be committed together, and the outcomes of those done.
#[derive(Default)]
struct Group {
    waiting: Vec<(u64, WriteBatch)>,
    leading: bool,
    next_ticket: u64,
    outcomes: std::collections::HashMap<u64, Result<()>>,
    /// Threads asleep in `wait`, by ticket: each is woken only when its own
    /// outcome is ready (or to lead the next group), not on every commit.
    parked: std::collections::HashMap<u64, std::thread::Thread>,
}

/// The write-ahead log file and where its end is.
///
/// The file is reused: a checkpoint starts writing at offset 0 again over old
/// frames, whose sequence numbers the database already covers, and the file is
/// grown in zero-filled steps, so that appending a frame does not change its
/// size and `fdatasync` has no metadata to flush.
struct Wal {
    file: File,
    /// Where the next frame goes.
    len: u64,
    /// The file's size.
    capacity: u64,
    salt: u64,
    next_seq: u64,
    last_checkpoint: Instant,
    /// Set when the log could not be put back after a failed commit: from then
    /// on every commit fails rather than risk acknowledging a lost write.
    broken: Option<String>,
    buf: Vec<u8>,
}

impl Wal {
    /// Append `frame` and make it durable. On failure the log is cut back to
    /// where it was, so the frame cannot be replayed later.
    fn append(&mut self, frame: &[u8]) -> Result<()> {
        let written = self
            .grow_for(frame.len() as u64)
            .and_then(|()| self.file.write_all_at(frame, self.len))
            .and_then(|()| self.file.sync_data());
        if let Err(e) = written {
            self.cut_back(self.len);
            return Err(Error::Io(e));
        }
        self.len += frame.len() as u64;
        Ok(())
    }

    /// Zero-fill the file so that `more` bytes fit after `len`.
    fn grow_for(&mut self, more: u64) -> std::io::Result<()> {
        const STEP: u64 = 4 << 20;
        let want = (self.len + more).div_ceil(STEP) * STEP;
        if self.capacity >= want {
            return Ok(());
        }
        let zeros = vec![0; 1 << 20];
        while self.capacity < want {
            let n = (want - self.capacity).min(zeros.len() as u64);
            self.file
                .write_all_at(&zeros[..n as usize], self.capacity)?;
            self.capacity += n;
        }
        Ok(())
    }

    /// Forget everything from `len` on by zeroing the frame header there (reading
    /// stops at it); if that fails, refuse all later commits.
    fn cut_back(&mut self, len: u64) {
        let cut = self
            .file
            .write_all_at(&[0; 8], len)
            .and_then(|()| self.file.sync_data());
        if let Err(e) = cut {
            self.broken = Some(format!(
                "the write-ahead log could not be repaired after a failed commit ({e}); restart the server"
            ));
        }
        self.len = len;
    }
}

/// Apply puts (`Some(value)`) and deletes (`None`) in order, opening each
/// table once per transaction.
fn apply_ops<'a>(
    txn: &redb::WriteTransaction,
    ops: impl Iterator<Item = (&'a str, &'a [u8], Option<&'a [u8]>)>,
) -> Result<()> {
    type BytesTable<'t> = redb::Table<'t, &'static [u8], &'static [u8]>;
    let mut open: Vec<(&str, BytesTable)> = Vec::new();
    for (name, key, value) in ops {
        let i = match open.iter().position(|(n, _)| *n == name) {
            Some(i) => i,
            None => {
                let t = txn
                    .open_table(TableDefinition::<&[u8], &[u8]>::new(name))
                    .map_err(engine_err)?;
                open.push((name, t));
                open.len() - 1
            }
        };
        let table = &mut open[i].1;
        match value {
            Some(v) => drop(table.insert(key, v).map_err(engine_err)?),
            None => drop(table.remove(key).map_err(engine_err)?),
        }
    }
    Ok(())
}

fn random_salt() -> u64 {
    let mut b = [0u8; 8];
    // Without randomness the salt is still new at each checkpoint.
    if getrandom::fill(&mut b).is_err() {
        return clock_nanos();
    }
    u64::from_le_bytes(b)
}

fn clock_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
}

fn wal_path(db_path: &Path) -> PathBuf {
    let mut name = db_path.as_os_str().to_owned();
    name.push(".wal");
    PathBuf::from(name)
}

impl EmbeddedKv {
    /// Open (or create) `path`, refusing a database written in another format,
    /// and replay the write-ahead log written since the last checkpoint.
    pub fn open(path: &Path) -> Result<EmbeddedKv> {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        let db = redb::Database::create(path).map_err(engine_err)?;
        let txn = db.begin_write().map_err(engine_err)?;
        {
            let mut meta = txn.open_table(META).map_err(engine_err)?;
            let found = meta.get("format").map_err(engine_err)?.map(|v| v.value());
            match found {
                None => {
                    meta.insert("format", FORMAT_VERSION).map_err(engine_err)?;
                }
                Some(v) if v == FORMAT_VERSION => {}
                Some(found) => {
                    return Err(Error::FormatMismatch {
                        found,
                        expected: FORMAT_VERSION,
                    });
                }
            }
        }
        // Replay what was logged after the last checkpoint, in one durable
        // transaction, then start an empty log.
        let (applied, salt) = {
            let meta = txn.open_table(WAL_META).map_err(engine_err)?;
            let get = |k: &str| -> Result<Option<u64>> {
                Ok(meta.get(k).map_err(engine_err)?.map(|v| v.value()))
            };
            (get("applied")?.unwrap_or(0), get("salt")?.unwrap_or(0))
        };
        let wal_file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(wal_path(path))?;
        let log = fs::read(wal_path(path))?;
        let (frames, _) = wal::decode(&log, salt);
        let mut last = applied;
        // Only the frames right after what the database holds, in order.
        for frame in frames.iter().filter(|f| f.seq > applied) {
            if frame.seq != last + 1 {
                break;
            }
            apply_ops(
                &txn,
                frame.ops.iter().map(|op| match op {
                    wal::LoggedOp::Put { table, key, value } => {
                        (table.as_str(), &key[..], Some(&value[..]))
                    }
                    wal::LoggedOp::Delete { table, key } => (table.as_str(), &key[..], None),
                }),
            )?;
            last = frame.seq;
        }
        let salt = random_salt();
        {
            let mut meta = txn.open_table(WAL_META).map_err(engine_err)?;
            meta.insert("applied", last).map_err(engine_err)?;
            meta.insert("salt", salt).map_err(engine_err)?;
        }
        txn.commit().map_err(engine_err)?;
        // The log file itself must survive a crash for its frames to.
        if let Some(dir) = path.parent() {
            sync_dir(dir)?;
        }
        let capacity = wal_file.metadata()?.len();
        Ok(EmbeddedKv {
            db,
            wal: std::sync::Mutex::new(Wal {
                file: wal_file,
                len: 0,
                capacity,
                salt,
                next_seq: last + 1,
                last_checkpoint: Instant::now(),
                broken: None,
                buf: Vec::new(),
            }),
            group: std::sync::Mutex::new(Group::default()),
        })
    }

    /// Apply `batches` in order in one write transaction, log them, and commit.
    /// Readers see the changes only once the log holds them durably.
    fn apply_logged(&self, wal: &mut Wal, batches: &[&WriteBatch]) -> Result<()> {
        if let Some(why) = &wal.broken {
            return Err(Error::Engine(why.clone()));
        }
        let mut txn = self.db.begin_write().map_err(engine_err)?;
        txn.set_durability(redb::Durability::None)
            .map_err(engine_err)?;
        apply_ops(
            &txn,
            batches.iter().flat_map(|b| &b.ops).map(|op| match op {
                Op::Put { table, key, value } => (table.0, &key[..], Some(&value[..])),
                Op::Delete { table, key } => (table.0, &key[..], None),
            }),
        )?;
        let seq = wal.next_seq;
        txn.open_table(WAL_META)
            .map_err(engine_err)?
            .insert("applied", seq)
            .map_err(engine_err)?;
        let before = wal.len;
        let mut frame = std::mem::take(&mut wal.buf);
        frame.clear();
        let logged = wal::encode(seq, wal.salt, batches, &mut frame)
            .map_err(Error::Engine)
            .and_then(|()| wal.append(&frame));
        wal.buf = frame;
        if let Err(e) = logged {
            drop(txn);
            self.recover(wal);
            return Err(e);
        }
        if let Err(e) = txn.commit() {
            // Logged but not applied: take the frame back, or a restart would
            // apply a write its caller was told had failed.
            wal.cut_back(before);
            self.recover(wal);
            return Err(engine_err(e));
        }
        wal.next_seq += 1;
        Ok(())
    }

    /// After a failed commit whose frame could not be cut back out of the log:
    /// a checkpoint changes the salt, so that frame can never be replayed,
    /// and commits may resume.
    fn recover(&self, wal: &mut Wal) {
        if wal.broken.is_some() {
            let _ = self.checkpoint(wal);
        }
    }

    /// Make every commit so far durable in redb itself and empty the log.
    fn checkpoint(&self, wal: &mut Wal) -> Result<()> {
        let salt = random_salt();
        let txn = self.db.begin_write().map_err(engine_err)?;
        {
            let mut meta = txn.open_table(WAL_META).map_err(engine_err)?;
            meta.insert("applied", wal.next_seq - 1)
                .map_err(engine_err)?;
            meta.insert("salt", salt).map_err(engine_err)?;
        }
        txn.commit().map_err(engine_err)?;
        // Frames from here on are checksummed with the new salt: those left
        // in the file from before never verify again.
        wal.salt = salt;
        wal.len = 0;
        wal.last_checkpoint = Instant::now();
        wal.broken = None;
        Ok(())
    }

    /// Commit a group; if the combined transaction fails, commit each batch on
    /// its own so one bad batch cannot fail the others.
    fn apply_group(&self, work: &[(u64, WriteBatch)]) -> Vec<(u64, Result<()>)> {
        let mut wal = self.wal.lock().expect("write-ahead log lock");
        let all: Vec<&WriteBatch> = work.iter().map(|(_, b)| b).collect();
        let outcomes = if work.len() > 1 && self.apply_logged(&mut wal, &all).is_ok() {
            work.iter().map(|(t, _)| (*t, Ok(()))).collect()
        } else {
            work.iter()
                .map(|(t, b)| (*t, self.apply_logged(&mut wal, &[b])))
                .collect()
        };
        if wal.len >= CHECKPOINT_BYTES || wal.last_checkpoint.elapsed() >= CHECKPOINT_EVERY {
            // A failed checkpoint loses nothing: the log still holds the frames.
            let _ = self.checkpoint(&mut wal);
        }
        outcomes
    }
}

impl Drop for EmbeddedKv {
    fn drop(&mut self) {
        if let Ok(mut wal) = self.wal.lock()
            && wal.len > 0
            && wal.broken.is_none()
        {
            let _ = self.checkpoint(&mut wal);
        }
    }
}

impl KvEngine for EmbeddedKv {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let txn = self.db.begin_read().map_err(engine_err)?;
        let t = match txn.open_table(def(table)) {
            Ok(t) => t,
            Err(TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(engine_err(e)),
        };
        Ok(t.get(key).map_err(engine_err)?.map(|v| v.value().to_vec()))
    }

    fn scan_prefix(&self, table: Table, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let txn = self.db.begin_read().map_err(engine_err)?;
        let t = match txn.open_table(def(table)) {
            Ok(t) => t,
            Err(TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(engine_err(e)),
        };
        let mut out = Vec::new();
        for entry in t.range::<&[u8]>(prefix..).map_err(engine_err)? {
            let (k, v) = entry.map_err(engine_err)?;
            if !k.value().starts_with(prefix) {
                break;
            }
            out.push((k.value().to_vec(), v.value().to_vec()));
        }
        Ok(out)
    }

    fn scan_page(
        &self,
        table: Table,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        use std::ops::Bound;
        let txn = self.db.begin_read().map_err(engine_err)?;
        let t = match txn.open_table(def(table)) {
            Ok(t) => t,
            Err(TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(engine_err(e)),
        };
        let start = match after {
            Some(a) if a >= prefix => Bound::Excluded(a),
            _ => Bound::Included(prefix),
        };
        let mut out = Vec::new();
        for entry in t
            .range::<&[u8]>((start, Bound::Unbounded))
            .map_err(engine_err)?
        {
            if out.len() >= limit {
                break;
            }
            let (k, v) = entry.map_err(engine_err)?;
            if !k.value().starts_with(prefix) {
                break;
            }
            out.push((k.value().to_vec(), v.value().to_vec()));
        }
        Ok(out)
    }

    fn commit(&self, batch: WriteBatch) -> Result<()> {
        let ticket = self.submit(batch);
        self.wait(ticket)
    }

    fn submit(&self, batch: WriteBatch) -> Ticket {
        let mut g = self.group.lock().expect("group commit lock");
        let ticket = g.next_ticket;
        g.next_ticket += 1;
        g.waiting.push((ticket, batch));
        Ticket::Pending(ticket)
    }

    fn wait(&self, ticket: Ticket) -> Result<()> {
        let ticket = match ticket {
            Ticket::Done(r) => return r,
            Ticket::Pending(t) => t,
        };
        let mut g = self.group.lock().expect("group commit lock");
        loop {
            if let Some(outcome) = g.outcomes.remove(&ticket) {
                g.parked.remove(&ticket);
                return outcome;
            }
            if !g.leading {
                g.leading = true;
                let work = std::mem::take(&mut g.waiting);
                drop(g);
                // A panic while committing must not leave every later commit
                // waiting for a leader that is gone.
                let outcomes = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    self.apply_group(&work)
                }))
                .unwrap_or_else(|_| {
                    work.iter()
                        .map(|(t, _)| {
                            (
                                *t,
                                Err(Error::Engine("the commit failed unexpectedly".into())),
                            )
                        })
                        .collect()
                });
                g = self.group.lock().unwrap_or_else(|p| p.into_inner());
                g.leading = false;
                for (t, _) in &outcomes {
                    if let Some(th) = g.parked.remove(t) {
                        th.unpark();
                    }
                }
                g.outcomes.extend(outcomes);
                // Batches that arrived meanwhile: wake one of their waiters to lead.
                if !g.waiting.is_empty()
                    && let Some(&t) = g.parked.keys().next()
                    && let Some(th) = g.parked.remove(&t)
                {
                    th.unpark();
                }
                continue;
            }
            g.parked.insert(ticket, std::thread::current());
            drop(g);
            std::thread::park();
            g = self.group.lock().expect("group commit lock");
        }
    }
}

/// Blobs as files under `root/sha256/<first two hex>/<hex>`.
pub struct FileBlobs {
    root: PathBuf,
    tmp_seq: AtomicU64,
}

fn is_digest(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

impl FileBlobs {
    pub fn open(root: &Path) -> Result<FileBlobs> {
        fs::create_dir_all(root.join("sha256"))?;
        fs::create_dir_all(root.join("tmp"))?;
        // Leftovers of writes interrupted by a crash were never acknowledged.
        for entry in fs::read_dir(root.join("tmp"))? {
            let _ = fs::remove_file(entry?.path());
        }
        Ok(FileBlobs {
            root: root.to_path_buf(),
            tmp_seq: AtomicU64::new(0),
        })
    }

    fn file(&self, digest: &str) -> Option<PathBuf> {
        is_digest(digest).then(|| self.root.join("sha256").join(&digest[..2]).join(digest))
    }
}

impl BlobStore for FileBlobs {
    fn put(&self, bytes: &[u8]) -> Result<String> {
        let digest = hex::encode(Sha256::digest(bytes));
        let dest = self.file(&digest).expect("hex digest is valid");
        if dest.exists() {
            return Ok(digest);
        }
        let dir = dest.parent().expect("blob path has a parent");
        fs::create_dir_all(dir)?;
        let tmp = self.root.join("tmp").join(format!(
            "{}-{}",
            std::process::id(),
            self.tmp_seq.fetch_add(1, Ordering::Relaxed)
        ));
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, &dest)?;
        sync_dir(dir)?;
        Ok(digest)
    }

    fn get(&self, digest: &str) -> Result<Vec<u8>> {
        let path = self
            .file(digest)
            .ok_or_else(|| Error::BlobNotFound(digest.to_string()))?;
        fs::read(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::BlobNotFound(digest.to_string()),
            _ => Error::Io(e),
        })
    }

    fn path(&self, digest: &str) -> Option<PathBuf> {
        self.file(digest)
    }

    fn delete(&self, digest: &str) -> Result<()> {
        let Some(path) = self.file(digest) else {
            return Ok(());
        };
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::Io(e)),
        }
    }

    fn exists(&self, digest: &str) -> Result<bool> {
        Ok(self.file(digest).is_some_and(|p| p.exists()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nimbus_storage::conformance;
    use nimbus_storage::faulty::FaultyKv;

    #[test]
    fn kv_conformance() {
        let dir = tempfile::tempdir().unwrap();
        conformance::kv_suite(&EmbeddedKv::open(&dir.path().join("meta.redb")).unwrap());
        conformance::kv_concurrent_suite(std::sync::Arc::new(
            EmbeddedKv::open(&dir.path().join("concurrent.redb")).unwrap(),
        ));
    }

    #[test]
    fn blob_conformance() {
        let dir = tempfile::tempdir().unwrap();
        conformance::blob_suite(&FileBlobs::open(dir.path()).unwrap());
    }

    #[test]
    fn reopen_keeps_data_and_checks_format() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.redb");
        {
            let kv = EmbeddedKv::open(&path).unwrap();
            let mut b = WriteBatch::new();
            b.put(Table("t"), b"k".to_vec(), b"v".to_vec());
            kv.commit(b).unwrap();
        }
        let kv = EmbeddedKv::open(&path).unwrap();
        assert_eq!(
            kv.get(Table("t"), b"k").unwrap().as_deref(),
            Some(&b"v"[..])
        );
        drop(kv);
        // A database from a future format is refused, not misread.
        {
            let db = redb::Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            txn.open_table(META).unwrap().insert("format", 99).unwrap();
            txn.commit().unwrap();
        }
        assert!(matches!(
            EmbeddedKv::open(&path),
            Err(Error::FormatMismatch { found: 99, .. })
        ));
    }

    #[test]
    fn open_replays_logged_frames_up_to_a_torn_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.redb");
        {
            let kv = EmbeddedKv::open(&path).unwrap();
            let mut b = WriteBatch::new();
            b.put(Table("t"), b"before".to_vec(), b"1".to_vec());
            kv.commit(b).unwrap();
        }
        // What a crash leaves: frames after the checkpoint (one already in the
        // database, two not), then half a frame.
        let salt = {
            let db = redb::Database::open(&path).unwrap();
            let txn = db.begin_read().unwrap();
            let meta = txn.open_table(WAL_META).unwrap();
            meta.get("salt").unwrap().unwrap().value()
        };
        let mut log = Vec::new();
        let mut old = WriteBatch::new();
        old.put(Table("t"), b"before".to_vec(), b"stale".to_vec());
        wal::encode(1, salt, &[&old], &mut log).unwrap();
        let mut a = WriteBatch::new();
        a.put(Table("t"), b"a".to_vec(), b"2".to_vec());
        a.delete(Table("t"), b"before".to_vec());
        let mut b = WriteBatch::new();
        b.put(Table("new"), b"b".to_vec(), b"3".to_vec());
        wal::encode(2, salt, &[&a], &mut log).unwrap();
        wal::encode(3, salt, &[&b], &mut log).unwrap();
        let whole = log.len();
        wal::encode(4, salt, &[&old], &mut log).unwrap();
        log.truncate(whole + 5);
        fs::write(wal_path(&path), &log).unwrap();

        let kv = EmbeddedKv::open(&path).unwrap();
        assert_eq!(kv.get(Table("t"), b"before").unwrap(), None);
        assert_eq!(
            kv.get(Table("t"), b"a").unwrap().as_deref(),
            Some(&b"2"[..])
        );
        assert_eq!(
            kv.get(Table("new"), b"b").unwrap().as_deref(),
            Some(&b"3"[..])
        );
        // Numbering continues after the replayed frames.
        let mut c = WriteBatch::new();
        c.put(Table("t"), b"c".to_vec(), b"4".to_vec());
        kv.commit(c).unwrap();
        assert_eq!(kv.wal.lock().unwrap().next_seq, 5);
    }

    /// Commits acknowledged by a process killed with SIGKILL are all there when
    /// the database is opened again, whether they reached a checkpoint or only
    /// the log. The test runs itself as the child that is killed.
    #[test]
    fn acknowledged_commits_survive_kill_9() {
        const CHILD: &str = "NIMBUS_WAL_KILL_CHILD";
        if let Ok(dir) = std::env::var(CHILD) {
            let kv =
                std::sync::Arc::new(EmbeddedKv::open(&Path::new(&dir).join("m.redb")).unwrap());
            let out = std::sync::Arc::new(std::sync::Mutex::new(std::io::stdout()));
            let workers: Vec<_> = (0..4u32)
                .map(|w| {
                    let (kv, out) = (kv.clone(), out.clone());
                    std::thread::spawn(move || {
                        for i in 0u32.. {
                            let key = format!("{w}-{i}");
                            let mut b = WriteBatch::new();
                            b.put(Table("acks"), key.clone().into_bytes(), vec![w as u8; 100]);
                            kv.commit(b).unwrap();
                            writeln!(out.lock().unwrap(), "ack {key}").unwrap();
                        }
                    })
                })
                .collect();
            for w in workers {
                w.join().unwrap();
            }
            return;
        }
        use std::io::BufRead;
        let dir = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "tests::acknowledged_commits_survive_kill_9",
                "--nocapture",
            ])
            .env(CHILD, dir.path())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let started = Instant::now();
        let mut acked = Vec::new();
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        // Long enough to cross a checkpoint, so both paths are exercised.
        while started.elapsed() < CHECKPOINT_EVERY * 2 || acked.len() < 500 {
            let line = lines.next().expect("child stopped early").unwrap();
            if let Some(key) = line.strip_prefix("ack ") {
                acked.push(key.to_string());
            }
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        drop(lines);
        let kv = EmbeddedKv::open(&dir.path().join("m.redb")).unwrap();
        for key in &acked {
            assert!(
                kv.get(Table("acks"), key.as_bytes()).unwrap().is_some(),
                "acknowledged {key} lost ({} acknowledged)",
                acked.len()
            );
        }
    }

    #[test]
    fn failed_commit_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let kv = FaultyKv::new(EmbeddedKv::open(&dir.path().join("m.redb")).unwrap());
        conformance::kv_suite(&kv);
        kv.fail_nth_commit(1);
        let mut b = WriteBatch::new();
        b.put(Table("t"), b"a".to_vec(), b"1".to_vec());
        assert!(kv.commit(b.clone()).is_err());
        assert_eq!(kv.get(Table("t"), b"a").unwrap(), None);
        kv.commit(b).unwrap();
        assert!(kv.get(Table("t"), b"a").unwrap().is_some());
    }
}
