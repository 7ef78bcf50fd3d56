//! A table of versioned records, held in memory for reads and written through
//! to the engine: the shape of every store of named configuration objects
//! (functions and their versions and aliases, HTTP and REST APIs, state
//! machines, ...). Each record is one JSON value under its key, carrying its
//! on-disk format number, which [`Records::open`] checks.
//!
//! Not for data that must be read from disk on demand (objects, items,
//! messages): everything here lives in memory.

use crate::{Error, KvEngine, Result, Table, WriteBatch};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, MutexGuard};

/// A record that knows its own key and format: it is its own [`Schema`].
pub trait Record: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {
    /// The key it is stored and found under.
    fn key(&self) -> &str;
    /// The on-disk format it was written in.
    fn format(&self) -> u32;
}

/// How one table stores a `T`: the key a record goes under and the format it
/// was written in. A [`Record`] is its own schema; a type of another crate, or
/// one stored in two tables under different keys (a function's `$LATEST` and
/// its published versions), gets a schema type per table.
pub trait Schema<T> {
    fn key(rec: &T) -> Cow<'_, str>;
    fn format(rec: &T) -> u32;
}

impl<T: Record> Schema<T> for T {
    fn key(rec: &T) -> Cow<'_, str> {
        Cow::Borrowed(rec.key())
    }
    fn format(rec: &T) -> u32 {
        rec.format()
    }
}

/// Records of one table, by key.
pub struct Records<T, S = T> {
    kv: Arc<dyn KvEngine>,
    table: Table,
    live: Mutex<BTreeMap<String, Arc<T>>>,
    /// Held by every write, so that a read-modify-write ([`Records::change`])
    /// never loses a concurrent one.
    write: Mutex<()>,
    schema: PhantomData<fn() -> S>,
}

impl<T, S> Records<T, S>
where
    T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    S: Schema<T>,
{
    /// Load every record of `table`; fails on a record that does not parse, is
    /// in another format than `format`, or is stored under another key than
    /// its own.
    pub fn open(kv: Arc<dyn KvEngine>, table: Table, format: u32) -> Result<Records<T, S>> {
        let mut live = BTreeMap::new();
        for (k, v) in kv.scan_prefix(table, b"")? {
            let unreadable = |why: String| {
                Error::Engine(format!(
                    "record {} of {} is unreadable: {why}",
                    String::from_utf8_lossy(&k),
                    table.0
                ))
            };
            let rec: T = serde_json::from_slice(&v).map_err(|e| unreadable(e.to_string()))?;
            if S::format(&rec) != format {
                return Err(Error::FormatMismatch {
                    found: S::format(&rec),
                    expected: format,
                });
            }
            let key = S::key(&rec).into_owned();
            if key.as_bytes() != k.as_slice() {
                return Err(unreadable(format!("it belongs under key {key:?}")));
            }
            live.insert(key, Arc::new(rec));
        }
        Ok(Records {
            kv,
            table,
            live: Mutex::new(live),
            write: Mutex::new(()),
            schema: PhantomData,
        })
    }

    /// [`Records::open`] for a table whose records may be in an older format:
    /// a record whose top-level `format` field is below `format` is handed to
    /// `migrate` (with the format it was found in), which returns it in
    /// `format`; every migrated record is written back, in one batch, before
    /// this returns. A record in a newer format is refused.
    pub fn open_migrating(
        kv: Arc<dyn KvEngine>,
        table: Table,
        format: u32,
        migrate: impl Fn(u32, serde_json::Value) -> Result<serde_json::Value>,
    ) -> Result<Records<T, S>> {
        let unreadable = |k: &[u8], e: &dyn std::fmt::Display| {
            Error::Engine(format!(
                "record {} of {} is unreadable: {e}",
                String::from_utf8_lossy(k),
                table.0
            ))
        };
        let mut live = BTreeMap::new();
        let mut migrated = WriteBatch::new();
        for (k, v) in kv.scan_prefix(table, b"")? {
            let mut value: serde_json::Value =
                serde_json::from_slice(&v).map_err(|e| unreadable(&k, &e))?;
            let found = value
                .get("format")
                .and_then(serde_json::Value::as_u64)
                .and_then(|f| u32::try_from(f).ok())
                .ok_or_else(|| unreadable(&k, &"no format number"))?;
            if found > format {
                return Err(Error::FormatMismatch {
                    found,
                    expected: format,
                });
            }
            if found < format {
                value = migrate(found, value)?;
            }
            let rec: T = serde_json::from_value(value).map_err(|e| unreadable(&k, &e))?;
            if S::format(&rec) != format {
                return Err(Error::FormatMismatch {
                    found: S::format(&rec),
                    expected: format,
                });
            }
            if found < format {
                let bytes = serde_json::to_vec(&rec)
                    .map_err(|e| Error::Engine(format!("encode a record of {}: {e}", table.0)))?;
                migrated.put(table, k.clone(), bytes);
            }
            let key = S::key(&rec).into_owned();
            if key.as_bytes() != k.as_slice() {
                return Err(unreadable(&k, &format!("it belongs under key {key:?}")));
            }
            live.insert(key, Arc::new(rec));
        }
        if !migrated.ops.is_empty() {
            kv.commit(migrated)?;
        }
        Ok(Records {
            kv,
            table,
            live: Mutex::new(live),
            write: Mutex::new(()),
            schema: PhantomData,
        })
    }

    /// A lock whose holder panicked still guards a consistent map: every
    /// change is one insert or remove.
    fn live(&self) -> MutexGuard<'_, BTreeMap<String, Arc<T>>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, key: &str) -> Option<Arc<T>> {
        self.live().get(key).cloned()
    }

    /// Every record, in key order.
    pub fn all(&self) -> Vec<Arc<T>> {
        self.live().values().cloned().collect()
    }

    /// The records whose key starts with `prefix`, in key order.
    pub fn prefixed(&self, prefix: &str) -> Vec<Arc<T>> {
        self.live()
            .range::<str, _>((
                std::ops::Bound::Included(prefix),
                std::ops::Bound::Unbounded,
            ))
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(_, r)| r.clone())
            .collect()
    }

    /// Fold `f` over every record without copying any: for what is read on
    /// every request (a sum over the table). `f` runs under the table's read
    /// lock, so it must not call back into this table.
    pub fn fold<A>(&self, init: A, f: impl FnMut(A, &T) -> A) -> A {
        self.live().values().map(|r| &**r).fold(init, f)
    }

    /// Take the table's write lock, to stage writes into a batch the caller
    /// commits together with other tables' (a function and its versions);
    /// [`Writer::apply`] then shows them to readers. Holders of several
    /// tables' writers must take them in one fixed order.
    pub fn writer(&self) -> Writer<'_, T, S> {
        Writer {
            records: self,
            _lock: self.write.lock().unwrap_or_else(|p| p.into_inner()),
            staged: Vec::new(),
        }
    }

    /// Commit a batch of this table only and show it to readers.
    fn commit(&self, w: Writer<'_, T, S>, batch: WriteBatch) -> Result<()> {
        self.kv.commit(batch)?;
        w.apply();
        Ok(())
    }

    /// Store `rec` (new or replacing the one under its key): durable when this
    /// returns, then visible to readers.
    pub fn put(&self, rec: T) -> Result<Arc<T>> {
        let mut w = self.writer();
        let mut b = WriteBatch::new();
        let rec = w.put(&mut b, rec)?;
        self.commit(w, b)?;
        Ok(rec)
    }

    /// Store `rec` unless its key is taken: `Ok(Err(existing))` then, and
    /// nothing is written.
    pub fn insert(&self, rec: T) -> Result<std::result::Result<Arc<T>, Arc<T>>> {
        let mut w = self.writer();
        if let Some(existing) = self.get(&S::key(&rec)) {
            return Ok(Err(existing));
        }
        let mut b = WriteBatch::new();
        let rec = w.put(&mut b, rec)?;
        self.commit(w, b)?;
        Ok(Ok(rec))
    }

    /// Change the record under `key`: `f` edits a copy, which is stored and
    /// only then replaces the live one. Changes of one table run one at a
    /// time, so none is lost; nothing changes if `f` or the write fails.
    /// `Ok(None)` when no record has the key.
    pub fn change<O, E: From<Error>>(
        &self,
        key: &str,
        f: impl FnOnce(&mut T) -> std::result::Result<O, E>,
    ) -> std::result::Result<Option<(Arc<T>, O)>, E> {
        let mut w = self.writer();
        let Some(current) = self.get(key) else {
            return Ok(None);
        };
        let mut next = T::clone(&current);
        let out = f(&mut next)?;
        let mut b = WriteBatch::new();
        let stored = w.put(&mut b, next)?;
        self.commit(w, b)?;
        Ok(Some((stored, out)))
    }

    /// Remove the record under `key`; returns it if there was one.
    pub fn delete(&self, key: &str) -> Result<Option<Arc<T>>> {
        let mut w = self.writer();
        let mut b = WriteBatch::new();
        let Some(old) = w.delete(&mut b, key) else {
            return Ok(None);
        };
        self.commit(w, b)?;
        Ok(Some(old))
    }
}

/// The write lock of one table and the writes staged under it (see
/// [`Records::writer`]). Dropping it without [`Writer::apply`], as after a
/// failed commit, leaves readers seeing what they saw before.
#[must_use = "apply the staged writes once their batch is committed"]
pub struct Writer<'a, T, S = T> {
    records: &'a Records<T, S>,
    _lock: MutexGuard<'a, ()>,
    /// Key and record (`None`: removed), in the order staged.
    staged: Vec<(String, Option<Arc<T>>)>,
}

impl<T, S> Writer<'_, T, S>
where
    T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    S: Schema<T>,
{
    /// Add the write of `rec` to `batch`; returns the record readers will see
    /// after [`Writer::apply`].
    pub fn put(&mut self, batch: &mut WriteBatch, rec: T) -> Result<Arc<T>> {
        let table = self.records.table;
        let bytes = serde_json::to_vec(&rec)
            .map_err(|e| Error::Engine(format!("encode a record of {}: {e}", table.0)))?;
        let key = S::key(&rec).into_owned();
        batch.put(table, key.as_bytes(), bytes);
        let rec = Arc::new(rec);
        self.staged.push((key, Some(rec.clone())));
        Ok(rec)
    }

    /// Add the removal of the record under `key` to `batch` and return that
    /// record; nothing is added when no live record has the key.
    pub fn delete(&mut self, batch: &mut WriteBatch, key: &str) -> Option<Arc<T>> {
        let old = self.records.get(key)?;
        batch.delete(self.records.table, key.as_bytes());
        self.staged.push((key.to_string(), None));
        Some(old)
    }

    /// Show the staged writes to readers: call once their batch is committed.
    pub fn apply(self) {
        let mut live = self.records.live();
        for (key, rec) in self.staged {
            match rec {
                Some(rec) => live.insert(key, rec),
                None => live.remove(&key),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Op;
    use std::collections::BTreeMap;

    /// (table, key) -> value.
    type Pairs = BTreeMap<(&'static str, Vec<u8>), Vec<u8>>;

    /// An engine of one map: enough to test what sits on the trait.
    #[derive(Default)]
    struct MemKv(Mutex<Pairs>);

    impl KvEngine for MemKv {
        fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
            Ok(self
                .0
                .lock()
                .unwrap()
                .get(&(table.0, key.to_vec()))
                .cloned())
        }
        fn scan_prefix(&self, table: Table, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
            Ok(self
                .0
                .lock()
                .unwrap()
                .iter()
                .filter(|((t, k), _)| *t == table.0 && k.starts_with(prefix))
                .map(|((_, k), v)| (k.clone(), v.clone()))
                .collect())
        }
        fn commit(&self, batch: WriteBatch) -> Result<()> {
            let mut m = self.0.lock().unwrap();
            for op in batch.ops {
                match op {
                    Op::Put { table, key, value } => {
                        m.insert((table.0, key), value);
                    }
                    Op::Delete { table, key } => {
                        m.remove(&(table.0, key));
                    }
                }
            }
            Ok(())
        }
    }

    #[derive(Clone, serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct Thing {
        format: u32,
        id: String,
        n: u32,
    }

    impl Record for Thing {
        fn key(&self) -> &str {
            &self.id
        }
        fn format(&self) -> u32 {
            self.format
        }
    }

    const THINGS: Table = Table("things");

    #[test]
    fn records_are_written_through_and_reloaded() {
        let kv: Arc<dyn KvEngine> = Arc::new(MemKv::default());
        let r: Records<Thing> = Records::open(kv.clone(), THINGS, 1).unwrap();
        r.put(Thing {
            format: 1,
            id: "a".into(),
            n: 1,
        })
        .unwrap();
        r.put(Thing {
            format: 1,
            id: "b".into(),
            n: 2,
        })
        .unwrap();
        r.put(Thing {
            format: 1,
            id: "a".into(),
            n: 3,
        })
        .unwrap();
        assert_eq!(r.get("a").unwrap().n, 3);
        assert_eq!(r.delete("b").unwrap().unwrap().n, 2);
        assert!(r.delete("b").unwrap().is_none());
        let again: Records<Thing> = Records::open(kv.clone(), THINGS, 1).unwrap();
        assert_eq!(again.all().len(), 1);
        assert_eq!(again.get("a").unwrap().n, 3);
        // Another format is refused, not misread.
        assert!(matches!(
            Records::<Thing>::open(kv, THINGS, 2),
            Err(Error::FormatMismatch {
                found: 1,
                expected: 2
            })
        ));
    }

    #[test]
    fn changes_are_serialized_and_all_or_nothing() {
        let kv: Arc<dyn KvEngine> = Arc::new(MemKv::default());
        let r: Arc<Records<Thing>> = Arc::new(Records::open(kv.clone(), THINGS, 1).unwrap());
        let thing = |n| Thing {
            format: 1,
            id: "a".into(),
            n,
        };
        assert!(r.insert(thing(0)).unwrap().is_ok());
        assert_eq!(r.insert(thing(9)).unwrap().unwrap_err().n, 0);
        // Concurrent increments: none is lost.
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let r = r.clone();
                std::thread::spawn(move || {
                    for _ in 0..50 {
                        r.change("a", |t| {
                            t.n += 1;
                            Ok::<_, Error>(())
                        })
                        .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(r.get("a").unwrap().n, 200);
        // A failing change leaves the record as it was, in memory and on disk.
        let failed = r.change("a", |t| {
            t.n = 0;
            Err::<(), _>(Error::Engine("no".into()))
        });
        assert!(failed.is_err());
        assert_eq!(r.get("a").unwrap().n, 200);
        let again: Records<Thing> = Records::open(kv, THINGS, 1).unwrap();
        assert_eq!(again.get("a").unwrap().n, 200);
        assert!(
            r.change("missing", |_| Ok::<_, Error>(()))
                .unwrap()
                .is_none()
        );
    }

    /// `Thing`s of a second table, under `id\0{n:04}`: a composite key.
    struct ByN;

    impl Schema<Thing> for ByN {
        fn key(rec: &Thing) -> Cow<'_, str> {
            Cow::Owned(format!("{}\0{:04}", rec.id, rec.n))
        }
        fn format(rec: &Thing) -> u32 {
            rec.format
        }
    }

    const BY_N: Table = Table("things_by_n");

    fn thing(id: &str, n: u32) -> Thing {
        Thing {
            format: 1,
            id: id.into(),
            n,
        }
    }

    #[test]
    fn schemas_key_records_and_prefixes_list_in_key_order() {
        let kv: Arc<dyn KvEngine> = Arc::new(MemKv::default());
        let r: Records<Thing, ByN> = Records::open(kv.clone(), BY_N, 1).unwrap();
        for (id, n) in [("a", 10), ("a", 2), ("ab", 1), ("b", 1)] {
            r.put(thing(id, n)).unwrap();
        }
        assert_eq!(
            kv.get(BY_N, b"a\x000010").unwrap(),
            Some(serde_json::to_vec(&thing("a", 10)).unwrap()),
            "stored under the schema's key, as plain JSON"
        );
        let ns = |v: Vec<Arc<Thing>>| v.iter().map(|t| (t.id.clone(), t.n)).collect::<Vec<_>>();
        assert_eq!(
            ns(r.prefixed("a\0")),
            [("a".to_string(), 2), ("a".to_string(), 10)]
        );
        assert!(r.prefixed("c").is_empty());
        assert_eq!(r.fold(0, |sum, t| sum + t.n), 14);
        assert!(r.get("a\x000002").is_some());
        let again: Records<Thing, ByN> = Records::open(kv.clone(), BY_N, 1).unwrap();
        assert_eq!(ns(again.all()), ns(r.all()));
        // A record under another key than its own is refused, not misfiled.
        let mut b = WriteBatch::new();
        b.put(
            BY_N,
            b"b\x000007".to_vec(),
            serde_json::to_vec(&thing("b", 1)).unwrap(),
        );
        kv.commit(b).unwrap();
        assert!(matches!(
            Records::<Thing, ByN>::open(kv, BY_N, 1),
            Err(Error::Engine(_))
        ));
    }

    /// Fails every commit while `fail` is set.
    #[derive(Default)]
    struct Failing {
        kv: MemKv,
        fail: std::sync::atomic::AtomicBool,
    }

    impl KvEngine for Failing {
        fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
            self.kv.get(table, key)
        }
        fn scan_prefix(&self, table: Table, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
            self.kv.scan_prefix(table, prefix)
        }
        fn commit(&self, batch: WriteBatch) -> Result<()> {
            if self.fail.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(Error::Engine("injected".into()));
            }
            self.kv.commit(batch)
        }
    }

    #[test]
    fn writers_commit_several_tables_in_one_batch() {
        let engine = Arc::new(Failing::default());
        let kv: Arc<dyn KvEngine> = engine.clone();
        let things: Records<Thing> = Records::open(kv.clone(), THINGS, 1).unwrap();
        let by_n: Records<Thing, ByN> = Records::open(kv.clone(), BY_N, 1).unwrap();
        things.put(thing("a", 1)).unwrap();
        by_n.put(thing("a", 1)).unwrap();
        // Move "a" from 1 to 2 in both tables at once, with a failed attempt first.
        let attempt = || {
            let mut t = things.writer();
            let mut n = by_n.writer();
            let mut b = WriteBatch::new();
            t.put(&mut b, thing("a", 2)).unwrap();
            assert_eq!(n.delete(&mut b, "a\x000001").unwrap().n, 1);
            assert!(n.delete(&mut b, "a\x000009").is_none());
            n.put(&mut b, thing("a", 2)).unwrap();
            assert_eq!(things.get("a").unwrap().n, 1, "staged, not yet shown");
            kv.commit(b)?;
            t.apply();
            n.apply();
            Ok::<_, Error>(())
        };
        engine.fail.store(true, std::sync::atomic::Ordering::SeqCst);
        assert!(attempt().is_err());
        assert_eq!(things.get("a").unwrap().n, 1);
        assert_eq!(by_n.all().len(), 1);
        assert!(by_n.get("a\x000001").is_some());
        engine
            .fail
            .store(false, std::sync::atomic::Ordering::SeqCst);
        attempt().unwrap();
        for (live, reopened) in [
            (
                things.all(),
                Records::<Thing>::open(kv.clone(), THINGS, 1).unwrap().all(),
            ),
            (
                by_n.all(),
                Records::<Thing, ByN>::open(kv.clone(), BY_N, 1)
                    .unwrap()
                    .all(),
            ),
        ] {
            assert_eq!(live, reopened);
            assert_eq!(live.iter().map(|t| t.n).collect::<Vec<_>>(), [2]);
        }
    }
}
