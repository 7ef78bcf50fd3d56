//! Storage engine traits: a transactional key-value store for metadata and a
//! content-addressed blob store for code and (later) objects.
//!
//! Services depend on these traits only. Every engine runs [`conformance`]; the
//! embedded engine is the default, PostgreSQL comes with scale-out. This crate
//! does not know what a function or a bucket is: keys and values are bytes.

pub mod conformance;
pub mod faulty;
pub mod records;

use std::path::PathBuf;

/// What can go wrong in an engine, coarse enough for callers to act on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("storage I/O failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("storage engine failed: {0}")]
    Engine(String),
    #[error("data directory holds format {found}, this build reads format {expected}")]
    FormatMismatch { found: u32, expected: u32 },
    #[error("blob {0} not found")]
    BlobNotFound(String),
}

pub type Result<T> = std::result::Result<T, Error>;

/// A named keyspace. Tables are declared as constants by the services that own them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Table(pub &'static str);

/// One change inside a [`WriteBatch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Put {
        table: Table,
        key: Vec<u8>,
        value: Vec<u8>,
    },
    Delete {
        table: Table,
        key: Vec<u8>,
    },
}

/// Changes applied all together or not at all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteBatch {
    pub ops: Vec<Op>,
}

impl WriteBatch {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn put(
        &mut self,
        table: Table,
        key: impl Into<Vec<u8>>,
        value: impl Into<Vec<u8>>,
    ) -> &mut Self {
        self.ops.push(Op::Put {
            table,
            key: key.into(),
            value: value.into(),
        });
        self
    }

    pub fn delete(&mut self, table: Table, key: impl Into<Vec<u8>>) -> &mut Self {
        self.ops.push(Op::Delete {
            table,
            key: key.into(),
        });
        self
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// A transactional, durable key-value store.
///
/// `commit` returns only once the batch is durable: after it returns, a `kill -9`
/// of the process loses none of it.
pub trait KvEngine: Send + Sync + 'static {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>>;
    /// All pairs whose key starts with `prefix`, in key order.
    fn scan_prefix(&self, table: Table, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>>;
    /// At most `limit` pairs whose key starts with `prefix` and sorts after
    /// `after` (all of the prefix when `None`), in key order: a page of a listing.
    fn scan_page(
        &self,
        table: Table,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        Ok(self
            .scan_prefix(table, prefix)?
            .into_iter()
            .filter(|(k, _)| after.is_none_or(|a| k.as_slice() > a))
            .take(limit)
            .collect())
    }
    fn commit(&self, batch: WriteBatch) -> Result<()>;

    /// Queue `batch` for commit and return at once; [`KvEngine::wait`] blocks
    /// until it is durable. Batches submitted one after another (for instance
    /// under the caller's own lock) commit in that order, so a caller can apply
    /// changes in memory under its lock, submit, release the lock, and wait
    /// while others' changes join the same group commit. The default commits
    /// right away.
    fn submit(&self, batch: WriteBatch) -> Ticket {
        Ticket::Done(self.commit(batch))
    }

    /// Wait for a submitted batch to be durable (or to have failed).
    fn wait(&self, ticket: Ticket) -> Result<()> {
        match ticket {
            Ticket::Done(r) => r,
            Ticket::Pending(_) => Err(Error::Engine("this engine does not queue commits".into())),
        }
    }
}

/// A batch handed to [`KvEngine::submit`].
#[derive(Debug)]
#[must_use = "wait for the ticket before acknowledging the write"]
pub enum Ticket {
    /// Already committed (or failed).
    Done(Result<()>),
    /// Queued in the engine under this number.
    Pending(u64),
}

/// Content-addressed immutable blobs named by the hex SHA-256 of their bytes.
pub trait BlobStore: Send + Sync + 'static {
    /// Store `bytes` durably and return their hex SHA-256.
    fn put(&self, bytes: &[u8]) -> Result<String>;
    fn get(&self, digest: &str) -> Result<Vec<u8>>;
    /// A local path to the blob, for engines whose blobs are files.
    fn path(&self, digest: &str) -> Option<PathBuf>;
    fn delete(&self, digest: &str) -> Result<()>;
    fn exists(&self, digest: &str) -> Result<bool>;
}
