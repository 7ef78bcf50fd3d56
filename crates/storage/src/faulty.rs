//! A failure-injecting wrapper: makes the N-th commit fail before it reaches the
//! engine, so callers can prove they leave no half-written state behind.

use crate::{Error, KvEngine, Result, Table, WriteBatch};
use std::sync::atomic::{AtomicU64, Ordering};

pub struct FaultyKv<E> {
    inner: E,
    commits: AtomicU64,
    fail_at: AtomicU64,
}

impl<E: KvEngine> FaultyKv<E> {
    pub fn new(inner: E) -> Self {
        FaultyKv {
            inner,
            commits: AtomicU64::new(0),
            fail_at: AtomicU64::new(u64::MAX),
        }
    }

    /// Fail the commit that is the `n`-th from now (1 = the next one).
    pub fn fail_nth_commit(&self, n: u64) {
        let done = self.commits.load(Ordering::SeqCst);
        self.fail_at.store(done + n, Ordering::SeqCst);
    }
}

impl<E: KvEngine> KvEngine for FaultyKv<E> {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.inner.get(table, key)
    }

    fn scan_prefix(&self, table: Table, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.inner.scan_prefix(table, prefix)
    }

    fn commit(&self, batch: WriteBatch) -> Result<()> {
        let n = self.commits.fetch_add(1, Ordering::SeqCst) + 1;
        if n == self.fail_at.load(Ordering::SeqCst) {
            return Err(Error::Engine("injected commit failure".into()));
        }
        self.inner.commit(batch)
    }
}
