//! The embedded storage engine, Nimbus's default: a redb database file for
//! metadata and a directory of content-addressed files for blobs.
//!
//! Durability: redb commits with `Durability::Immediate` (fsync before `commit`
//! returns). Concurrent commits are grouped: whoever finds no commit in progress
//! applies every batch waiting at that moment in one transaction (one fsync), in
//! arrival order, and wakes their callers; each batch stays all-or-nothing. a blob is written to a temporary file, fsynced, renamed into place and
//! its directory fsynced before `put` returns. See `docs/adr/0002-embedded-storage.md`.

use nimbus_storage::{BlobStore, Error, KvEngine, Op, Result, Table, Ticket, WriteBatch};
use redb::{ReadableDatabase, ReadableTable, TableDefinition, TableError};
use sha2::{Digest, Sha256};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// On-disk format of the metadata database. Checked at open.
pub const FORMAT_VERSION: u32 = 1;

const META: TableDefinition<&str, u32> = TableDefinition::new("nimbus_meta");

fn engine_err(e: impl std::fmt::Display) -> Error {
    Error::Engine(e.to_string())
}

fn def(table: Table) -> TableDefinition<'static, &'static [u8], &'static [u8]> {
    TableDefinition::new(table.0)
}

/// The redb-backed key-value engine.
pub struct EmbeddedKv {
    db: redb::Database,
    group: std::sync::Mutex<Group>,
    group_done: std::sync::Condvar,
}

/// Batches waiting to be committed together, and the outcomes of those done.
#[derive(Default)]
struct Group {
    waiting: Vec<(u64, WriteBatch)>,
    leading: bool,
    next_ticket: u64,
    outcomes: std::collections::HashMap<u64, Result<()>>,
}

impl EmbeddedKv {
    /// Open (or create) `path`, refusing a database written in another format.
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
        txn.commit().map_err(engine_err)?;
        Ok(EmbeddedKv {
            db,
            group: std::sync::Mutex::new(Group::default()),
            group_done: std::sync::Condvar::new(),
        })
    }

    /// Apply `batches` in order in one write transaction.
    fn apply<'a>(&self, batches: impl Iterator<Item = &'a WriteBatch>) -> Result<()> {
        let txn = self.db.begin_write().map_err(engine_err)?;
        for batch in batches {
            for op in &batch.ops {
                match op {
                    Op::Put { table, key, value } => {
                        let mut t = txn.open_table(def(*table)).map_err(engine_err)?;
                        t.insert(key.as_slice(), value.as_slice())
                            .map_err(engine_err)?;
                    }
                    Op::Delete { table, key } => {
                        let mut t = txn.open_table(def(*table)).map_err(engine_err)?;
                        t.remove(key.as_slice()).map_err(engine_err)?;
                    }
                }
            }
        }
        txn.commit().map_err(engine_err)
    }

    /// Commit a group; if the combined transaction fails, commit each batch on
    /// its own so one bad batch cannot fail the others.
    fn apply_group(&self, work: &[(u64, WriteBatch)]) -> Vec<(u64, Result<()>)> {
        if work.len() > 1 && self.apply(work.iter().map(|(_, b)| b)).is_ok() {
            return work.iter().map(|(t, _)| (*t, Ok(()))).collect();
        }
        work.iter()
            .map(|(t, b)| (*t, self.apply(std::iter::once(b))))
            .collect()
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
                return outcome;
            }
            if !g.leading {
                g.leading = true;
                let work = std::mem::take(&mut g.waiting);
                drop(g);
                let outcomes = self.apply_group(&work);
                g = self.group.lock().expect("group commit lock");
                g.leading = false;
                g.outcomes.extend(outcomes);
                self.group_done.notify_all();
                continue;
            }
            g = self.group_done.wait(g).expect("group commit lock");
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
