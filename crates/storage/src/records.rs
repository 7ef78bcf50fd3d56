//! A table of versioned records, held in memory for reads and written through
//! to the engine: the shape of every store of named configuration objects
//! (HTTP and REST APIs, state machines, ...). Each record is one JSON value
//! under its key, carrying its on-disk format number, which [`Records::open`]
//! checks.
//!
//! Not for data that must be read from disk on demand (objects, items,
//! messages): everything here lives in memory.

use crate::{Error, KvEngine, Result, Table, WriteBatch};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// A record a [`Records`] table holds.
pub trait Record: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {
    /// The key it is stored and found under.
    fn key(&self) -> &str;
    /// The on-disk format it was written in.
    fn format(&self) -> u32;
}

/// Records of one table, by key.
pub struct Records<T> {
    kv: Arc<dyn KvEngine>,
    table: Table,
    live: Mutex<HashMap<String, Arc<T>>>,
}

impl<T: Record> Records<T> {
    /// Load every record of `table`; fails on a record that does not parse or is
    /// in another format than `format`.
    pub fn open(kv: Arc<dyn KvEngine>, table: Table, format: u32) -> Result<Records<T>> {
        let mut live = HashMap::new();
        for (k, v) in kv.scan_prefix(table, b"")? {
            let rec: T = serde_json::from_slice(&v).map_err(|e| {
                Error::Engine(format!(
                    "record {} of {} is unreadable: {e}",
                    String::from_utf8_lossy(&k),
                    table.0
                ))
            })?;
            if rec.format() != format {
                return Err(Error::FormatMismatch {
                    found: rec.format(),
                    expected: format,
                });
            }
            live.insert(rec.key().to_string(), Arc::new(rec));
        }
        Ok(Records {
            kv,
            table,
            live: Mutex::new(live),
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
    ) -> Result<Records<T>> {
        let unreadable = |k: &[u8], e: &dyn std::fmt::Display| {
            Error::Engine(format!(
                "record {} of {} is unreadable: {e}",
                String::from_utf8_lossy(k),
                table.0
            ))
        };
        let mut live = HashMap::new();
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
            if rec.format() != format {
                return Err(Error::FormatMismatch {
                    found: rec.format(),
                    expected: format,
                });
            }
            if found < format {
                let bytes = serde_json::to_vec(&rec)
                    .map_err(|e| Error::Engine(format!("encode a record of {}: {e}", table.0)))?;
                migrated.put(table, rec.key().as_bytes(), bytes);
            }
            live.insert(rec.key().to_string(), Arc::new(rec));
        }
        if !migrated.ops.is_empty() {
            kv.commit(migrated)?;
        }
        Ok(Records {
            kv,
            table,
            live: Mutex::new(live),
        })
    }

    /// A lock whose holder panicked still guards a consistent map: every
    /// change is one insert or remove.
    fn live(&self) -> MutexGuard<'_, HashMap<String, Arc<T>>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, key: &str) -> Option<Arc<T>> {
        self.live().get(key).cloned()
    }

    /// Every record, in no particular order.
    pub fn all(&self) -> Vec<Arc<T>> {
        self.live().values().cloned().collect()
    }

    /// Store `rec` (new or replacing the one under its key): durable when this
    /// returns, then visible to readers.
    pub fn put(&self, rec: T) -> Result<Arc<T>> {
        let mut b = WriteBatch::new();
        let bytes = serde_json::to_vec(&rec)
            .map_err(|e| Error::Engine(format!("encode a record of {}: {e}", self.table.0)))?;
        b.put(self.table, rec.key().as_bytes(), bytes);
        self.kv.commit(b)?;
        let rec = Arc::new(rec);
        self.live().insert(rec.key().to_string(), rec.clone());
        Ok(rec)
    }

    /// Remove the record under `key`; returns it if there was one.
    pub fn delete(&self, key: &str) -> Result<Option<Arc<T>>> {
        if self.get(key).is_none() {
            return Ok(None);
        }
        let mut b = WriteBatch::new();
        b.delete(self.table, key.as_bytes());
        self.kv.commit(b)?;
        Ok(self.live().remove(key))
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
}
