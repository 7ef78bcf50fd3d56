//! The table store behind the DynamoDB API: tables with DynamoDB's key schemas
//! and secondary indexes, items of DynamoDB's types, conditional writes and
//! transactions evaluated with its expression language, paginated queries and
//! scans, TTL expiry, and change streams written in the same transaction as
//! the change.
//!
//! Items live in memory (ordered maps per table and index) and in the
//! key-value engine, which is the durable copy: writes are applied under one
//! lock, submitted to the engine in that order, and acknowledged once durable
//! (see `docs/adr/0009-tables.md`). Not here: the wire format (`api/dynamodb`).

pub mod expr;
pub mod housekeeping;
pub mod partiql;
pub mod schema;
mod stream_access;
pub mod streams;
pub mod value;

#[cfg(test)]
mod test_rng;

use expr::{Condition, KeyOp, Update};
use nimbus_storage::{KvEngine, Table, WriteBatch};
use schema::{IndexDef, TableRecord, project_for_index};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::{Arc, Mutex};
use value::{AttributeValue, Item, MAX_ITEM_BYTES, item_from_json, item_size, item_to_json};

const TABLES: Table = Table("ddb_tables");
/// `table\0<encoded key>` -> the item in DynamoDB JSON.
const ITEMS: Table = Table("ddb_items");
/// `table\0label\0<seq, 8 bytes big-endian>` -> a stream record.
const STREAMS: Table = Table("ddb_streams");

/// Largest page a Query or Scan reads.
pub const PAGE_BYTES: usize = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    ResourceNotFound(String),
    #[error("{0}")]
    ResourceInUse(String),
    #[error("{0}")]
    Validation(String),
    #[error("The conditional request failed")]
    ConditionalCheckFailed { item: Option<Item> },
    #[error("Transaction cancelled, please refer cancellation reasons for specific reasons [{}]", reasons.iter().map(|r| r.code).collect::<Vec<_>>().join(", "))]
    TransactionCanceled { reasons: Vec<CancelReason> },
    #[error("{0}")]
    TrimmedData(String),
    #[error("{0}")]
    ExpiredIterator(String),
    #[error("{0}")]
    PolicyNotFound(String),
    #[error("{0}")]
    Storage(#[from] nimbus_storage::Error),
    #[error("stored table data is unreadable: {0}")]
    Corrupt(String),
}

impl From<expr::ExprError> for Error {
    fn from(e: expr::ExprError) -> Error {
        Error::Validation(e.0)
    }
}

impl From<value::ValueError> for Error {
    fn from(e: value::ValueError) -> Error {
        Error::Validation(e.0)
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// Why one item of a transaction stopped it (or `None` for the others).
#[derive(Debug, Clone)]
pub struct CancelReason {
    pub code: &'static str,
    pub message: Option<String>,
    pub item: Option<Item>,
}

/// A key value, ordered as DynamoDB orders keys.
#[derive(Debug, Clone, PartialEq, Eq)]
struct K(AttributeValue);

impl Ord for K {
    fn cmp(&self, other: &K) -> std::cmp::Ordering {
        key_order(&self.0, &other.0)
    }
}

/// DynamoDB's key order; a multi-attribute key (a list of its attributes'
/// values) compares attribute by attribute.
fn key_order(a: &AttributeValue, b: &AttributeValue) -> std::cmp::Ordering {
    match (a, b) {
        (AttributeValue::L(x), AttributeValue::L(y)) => x
            .iter()
            .zip(y)
            .map(|(p, q)| key_order(p, q))
            .find(|o| o.is_ne())
            .unwrap_or_else(|| x.len().cmp(&y.len())),
        _ => a
            .key_cmp(b)
            .unwrap_or_else(|| a.type_name().cmp(b.type_name())),
    }
}

impl PartialOrd for K {
    fn partial_cmp(&self, other: &K) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// The sort part of a key; `Low`/`High` bound a partition (and stand for the
/// absent sort key of a hash-only table).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Sort {
    Low,
    Key(K),
    High,
}

type PKey = (K, Sort);
/// An index entry: the index's key, then the table's key (unique).
type IKey = (K, Sort, PKey);

fn pkey(schema: &schema::KeySchema, item: &Item) -> Option<PKey> {
    let hash = K(key_value(item, schema.hash_names())?);
    let sort = match &schema.range {
        Some(_) => Sort::Key(K(key_value(item, schema.range_names())?)),
        None => Sort::Low,
    };
    Some((hash, sort))
}

/// A key's value in `item`: the one attribute's, or the list of a
/// multi-attribute key's; `None` when an attribute is missing (the item is
/// then not in the index).
fn key_value<'a>(item: &Item, mut names: impl Iterator<Item = &'a str>) -> Option<AttributeValue> {
    let first = item.get(names.next()?)?;
    let mut rest = names.peekable();
    if rest.peek().is_none() {
        return Some(first.clone());
    }
    let mut all = vec![first.clone()];
    for n in rest {
        all.push(item.get(n)?.clone());
    }
    Some(AttributeValue::L(all))
}

fn encode_key_part(out: &mut Vec<u8>, v: &AttributeValue) {
    let (tag, bytes): (u8, Vec<u8>) = match v {
        AttributeValue::S(s) => (b'S', s.as_bytes().to_vec()),
        AttributeValue::N(n) => (b'N', n.to_string().into_bytes()),
        AttributeValue::B(b) => (b'B', b.clone()),
        other => (b'?', other.type_name().as_bytes().to_vec()),
    };
    out.push(tag);
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(&bytes);
}

fn item_key(table: &str, key: &PKey) -> Vec<u8> {
    let mut k = table.as_bytes().to_vec();
    k.push(0);
    encode_key_part(&mut k, &key.0.0);
    if let Sort::Key(s) = &key.1 {
        encode_key_part(&mut k, &s.0);
    }
    k
}

fn stream_prefix(table: &str, label: &str) -> Vec<u8> {
    let mut k = table.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(label.as_bytes());
    k.push(0);
    k
}

fn stream_key(table: &str, label: &str, seq: u64) -> Vec<u8> {
    let mut k = stream_prefix(table, label);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

fn decode<T: serde::de::DeserializeOwned>(b: &[u8]) -> Result<T> {
    serde_json::from_slice(b).map_err(|e| Error::Corrupt(e.to_string()))
}

fn encode<T: serde::Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).expect("table data serializes")
}

struct LiveTable {
    rec: TableRecord,
    items: BTreeMap<PKey, Item>,
    indexes: HashMap<String, BTreeMap<IKey, ()>>,
    bytes: u64,
}

impl LiveTable {
    fn index_entries(&self, index: &IndexDef, pk: &PKey, item: &Item) -> Option<IKey> {
        let (h, s) = pkey(&index.key, item)?;
        Some((h, s, pk.clone()))
    }

    /// Replace the item at `pk` (None: remove), keeping indexes and sizes.
    fn store(&mut self, pk: PKey, new: Option<Item>) {
        let old = match &new {
            Some(item) => self.items.insert(pk.clone(), item.clone()),
            None => self.items.remove(&pk),
        };
        if let Some(o) = &old {
            self.bytes = self.bytes.saturating_sub(item_size(o) as u64);
        }
        if let Some(n) = &new {
            self.bytes += item_size(n) as u64;
        }
        for index in &self.rec.indexes {
            let map = self.indexes.entry(index.name.clone()).or_default();
            if let Some(o) = &old
                && let Some(e) = pkey(&index.key, o)
            {
                map.remove(&(e.0, e.1, pk.clone()));
            }
            if let Some(n) = &new
                && let Some(e) = pkey(&index.key, n)
            {
                map.insert((e.0, e.1, pk.clone()), ());
            }
        }
    }

    fn build_index(&mut self, index: &IndexDef) {
        let mut map = BTreeMap::new();
        for (pk, item) in &self.items {
            if let Some(e) = self.index_entries(index, pk, item) {
                map.insert(e, ());
            }
        }
        self.indexes.insert(index.name.clone(), map);
    }
}

struct State {
    tables: HashMap<String, LiveTable>,
    next_seq: u64,
    /// Transactions by client token: (request fingerprint, when, result).
    tokens: HashMap<String, (String, u64)>,
}

/// What a write does to its item.
pub enum Change {
    Put(Item),
    Update(Update),
    Delete,
    /// A transaction's ConditionCheck: only the condition.
    Check,
}

/// One item write (alone, or one part of a transaction).
pub struct WriteOp {
    pub table: String,
    /// The item's key (for `Put`, taken from the item).
    pub key: Item,
    pub condition: Option<Condition>,
    pub change: Change,
    /// ReturnValuesOnConditionCheckFailure: ALL_OLD.
    pub old_on_failure: bool,
}

/// A write's before and after images.
#[derive(Debug, Clone, Default)]
pub struct Written {
    pub old: Option<Item>,
    pub new: Option<Item>,
}

/// One page of a Query or Scan.
#[derive(Debug, Default)]
pub struct Page {
    /// Items that passed the filter (projected for an index).
    pub items: Vec<Item>,
    pub scanned: usize,
    pub last_key: Option<Item>,
}

/// What to read: the table or one of its indexes, from where, how much.
pub struct ReadSpec<'a> {
    pub table: &'a str,
    pub index: Option<&'a str>,
    pub forward: bool,
    pub limit: Option<usize>,
    pub start: Option<Item>,
    pub filter: Option<&'a Condition>,
}

/// The parts of a table's description DescribeTable shows beyond its record.
#[derive(Debug, Clone)]
pub struct TableStats {
    pub rec: TableRecord,
    pub item_count: u64,
    pub bytes: u64,
    /// Per index: (items, bytes).
    pub index_counts: BTreeMap<String, (u64, u64)>,
}

/// What `UpdateTable` may change.
#[derive(Default)]
pub struct TableUpdate {
    pub attributes: BTreeMap<String, schema::ScalarType>,
    pub billing_mode: Option<String>,
    pub throughput: Option<schema::Throughput>,
    /// Some(Some(view)) enables, Some(None) disables.
    pub stream: Option<Option<String>>,
    pub create_indexes: Vec<IndexDef>,
    pub delete_indexes: Vec<String>,
    pub deletion_protection: Option<bool>,
}

/// The store.
pub struct Tables {
    kv: Arc<dyn KvEngine>,
    account: String,
    region: String,
    state: Mutex<State>,
    /// Woken when stream records are committed.
    stream_notify: tokio::sync::Notify,
}

fn now_ms() -> u64 {
    nimbus_model::time::now_millis()
}

fn not_found() -> Error {
    Error::ResourceNotFound("Requested resource not found".into())
}

fn table_not_found(name: &str) -> Error {
    Error::ResourceNotFound(format!(
        "Requested resource not found: Table: {name} not found"
    ))
}

impl Tables {
    pub fn open(kv: Arc<dyn KvEngine>, account: &str, region: &str) -> Result<Tables> {
        let mut tables = HashMap::new();
        for (_, v) in kv.scan_prefix(TABLES, b"")? {
            let rec: TableRecord = decode(&v)?;
            if rec.format != schema::FORMAT {
                return Err(Error::Corrupt(format!(
                    "table {} is in format {}, this build reads {}",
                    rec.name,
                    rec.format,
                    schema::FORMAT
                )));
            }
            tables.insert(
                rec.name.clone(),
                LiveTable {
                    rec,
                    items: BTreeMap::new(),
                    indexes: HashMap::new(),
                    bytes: 0,
                },
            );
        }
        for t in tables.values_mut() {
            let mut prefix = t.rec.name.as_bytes().to_vec();
            prefix.push(0);
            for (_, v) in kv.scan_prefix(ITEMS, &prefix)? {
                let json: Value = decode(&v)?;
                let item = item_from_json(&json)?;
                if let Some(pk) = pkey(&t.rec.key, &item) {
                    t.bytes += item_size(&item) as u64;
                    t.items.insert(pk, item);
                }
            }
            for index in t.rec.indexes.clone() {
                t.build_index(&index);
            }
        }
        let mut next_seq = 1;
        if let Some((k, _)) = kv
            .scan_prefix(STREAMS, b"")?
            .into_iter()
            .max_by_key(|(k, _)| {
                k.get(k.len().saturating_sub(8)..)
                    .and_then(|b| <[u8; 8]>::try_from(b).ok())
                    .map(u64::from_be_bytes)
            })
            && let Some(b) = k.get(k.len().saturating_sub(8)..)
            && let Ok(b) = <[u8; 8]>::try_from(b)
        {
            next_seq = u64::from_be_bytes(b) + 1;
        }
        Ok(Tables {
            kv,
            account: account.into(),
            region: region.into(),
            state: Mutex::new(State {
                tables,
                next_seq,
                tokens: HashMap::new(),
            }),
            stream_notify: tokio::sync::Notify::new(),
        })
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    pub fn table_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:dynamodb:{}:{}:table/{name}",
            self.region, self.account
        )
    }

    pub fn stream_arn(&self, table: &str, label: &str) -> String {
        format!("{}/stream/{label}", self.table_arn(table))
    }

    /// The table and label of a stream ARN of this account.
    pub fn parse_stream_arn(&self, arn: &str) -> Option<(String, String)> {
        let rest = arn.strip_prefix(&format!("{}/", self.table_arn("").trim_end_matches('/')))?;
        let (table, label) = rest.split_once("/stream/")?;
        Some((table.to_string(), label.to_string()))
    }

    /// The table named by a table ARN of this account (or a bare name).
    pub fn table_from_arn(&self, arn: &str) -> Option<String> {
        let prefix = format!("arn:aws:dynamodb:{}:{}:table/", self.region, self.account);
        let name = arn.strip_prefix(&prefix)?;
        (!name.contains('/')).then(|| name.to_string())
    }

    pub fn stream_notify(&self) -> &tokio::sync::Notify {
        &self.stream_notify
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("tables lock")
    }

    pub fn create_table(&self, mut rec: TableRecord) -> Result<TableStats> {
        schema::check_definition(&rec)?;
        rec.format = schema::FORMAT;
        rec.created_ms = now_ms();
        rec.id = uuid::Uuid::new_v4().to_string();
        for i in &mut rec.indexes {
            i.created_ms = rec.created_ms;
        }
        let mut st = self.lock();
        if st.tables.contains_key(&rec.name) {
            return Err(Error::ResourceInUse(format!(
                "Table already exists: {}",
                rec.name
            )));
        }
        let mut batch = WriteBatch::new();
        batch.put(TABLES, rec.name.as_bytes(), encode(&rec));
        self.kv.commit(batch)?;
        let mut t = LiveTable {
            rec: rec.clone(),
            items: BTreeMap::new(),
            indexes: HashMap::new(),
            bytes: 0,
        };
        for index in rec.indexes.clone() {
            t.build_index(&index);
        }
        st.tables.insert(rec.name.clone(), t);
        Ok(stats(&st.tables[&rec.name]))
    }

    pub fn describe(&self, name: &str) -> Result<TableStats> {
        let st = self.lock();
        st.tables
            .get(name)
            .map(stats)
            .ok_or_else(|| table_not_found(name))
    }

    /// A table's definition (cheaper than [`Tables::describe`], which counts).
    pub fn record(&self, name: &str) -> Result<TableRecord> {
        let st = self.lock();
        st.tables
            .get(name)
            .map(|t| t.rec.clone())
            .ok_or_else(|| table_not_found(name))
    }

    pub fn list(&self) -> Vec<String> {
        let mut names: Vec<String> = self.lock().tables.keys().cloned().collect();
        names.sort();
        names
    }

    pub fn delete_table(&self, name: &str) -> Result<TableStats> {
        let mut st = self.lock();
        let t = st.tables.get(name).ok_or_else(|| table_not_found(name))?;
        if t.rec.deletion_protection {
            return Err(Error::Validation(format!(
                "Resource cannot be deleted as it is currently protected against deletion. Disable deletion protection first. Table: {name}"
            )));
        }
        let out = stats(t);
        let mut batch = WriteBatch::new();
        batch.delete(TABLES, name.as_bytes());
        for pk in t.items.keys() {
            batch.delete(ITEMS, item_key(name, pk));
        }
        let mut prefix = name.as_bytes().to_vec();
        prefix.push(0);
        for (k, _) in self.kv.scan_prefix(STREAMS, &prefix)? {
            batch.delete(STREAMS, k);
        }
        self.kv.commit(batch)?;
        st.tables.remove(name);
        Ok(out)
    }

    /// Change a table's record with `f` and store it.
    fn change_record(
        &self,
        name: &str,
        f: impl FnOnce(&mut TableRecord) -> Result<()>,
    ) -> Result<TableStats> {
        let mut st = self.lock();
        let t = st
            .tables
            .get_mut(name)
            .ok_or_else(|| table_not_found(name))?;
        let mut rec = t.rec.clone();
        f(&mut rec)?;
        let mut batch = WriteBatch::new();
        batch.put(TABLES, name.as_bytes(), encode(&rec));
        self.kv.commit(batch)?;
        let added: Vec<IndexDef> = rec
            .indexes
            .iter()
            .filter(|i| t.rec.index(&i.name).is_none())
            .cloned()
            .collect();
        t.rec = rec;
        t.indexes.retain(|n, _| t.rec.index(n).is_some());
        for index in added {
            t.build_index(&index);
        }
        Ok(stats(t))
    }

    pub fn update_table(&self, name: &str, u: TableUpdate) -> Result<TableStats> {
        self.change_record(name, |rec| {
            for (k, v) in &u.attributes {
                match rec.attributes.get(k) {
                    Some(t) if t != v => {
                        return Err(Error::Validation(format!(
                            "One or more parameter values were invalid: Cannot change the type of attribute {k}"
                        )));
                    }
                    _ => {}
                }
            }
            if let Some(m) = &u.billing_mode {
                rec.billing_mode = m.clone();
            }
            if let Some(t) = u.throughput {
                rec.throughput = t;
            }
            if let Some(p) = u.deletion_protection {
                rec.deletion_protection = p;
            }
            for d in &u.delete_indexes {
                let before = rec.indexes.len();
                rec.indexes.retain(|i| !(i.global && &i.name == d));
                if rec.indexes.len() == before {
                    return Err(Error::ResourceNotFound(format!(
                        "Requested resource not found: Index: {d} not found"
                    )));
                }
            }
            for c in &u.create_indexes {
                if rec.index(&c.name).is_some() {
                    return Err(Error::Validation(format!(
                        "One or more parameter values were invalid: Index {} already exists",
                        c.name
                    )));
                }
                for k in c.key.names() {
                    if let Some(t) = u.attributes.get(k) {
                        rec.attributes.insert(k.to_string(), *t);
                    }
                }
                let mut c = c.clone();
                c.created_ms = now_ms();
                rec.indexes.push(c);
            }
            // Attribute definitions keep only what keys use.
            let used: std::collections::HashSet<String> = rec
                .key
                .names()
                .chain(rec.indexes.iter().flat_map(|i| i.key.names()))
                .map(str::to_string)
                .collect();
            rec.attributes.retain(|k, _| used.contains(k));
            schema::check_definition(rec)?;
            match &u.stream {
                Some(Some(view)) => {
                    if rec.stream.as_ref().is_some_and(|s| s.enabled) {
                        return Err(Error::Validation(format!(
                            "Table already has an enabled stream: {}",
                            self.table_arn(&rec.name)
                        )));
                    }
                    if let Some(old) = rec.stream.take() {
                        rec.old_streams.push(old);
                    }
                    rec.stream = Some(schema::StreamDef {
                        view_type: view.clone(),
                        label: stream_label(),
                        enabled: true,
                    });
                }
                Some(None) => match rec.stream.as_mut() {
                    Some(s) if s.enabled => s.enabled = false,
                    _ => {
                        return Err(Error::Validation(
                            "Table does not have a stream to disable".into(),
                        ));
                    }
                },
                None => {}
            }
            Ok(())
        })
    }

    /// The resource policy of the table (`stream` `None`) or of one of its
    /// streams (by label), if any.
    pub fn resource_policy(
        &self,
        name: &str,
        stream: Option<&str>,
    ) -> Result<Option<schema::ResourcePolicy>> {
        let rec = self.record(name)?;
        Ok(rec.policies.get(stream.unwrap_or("")).cloned())
    }

    /// Set (`Some`) or delete (`None`) a resource policy, if its revision is
    /// still `expected` (when given); the new revision, or the deleted one's.
    /// A stream's policy needs that stream to exist.
    pub fn change_resource_policy(
        &self,
        name: &str,
        stream: Option<&str>,
        document: Option<String>,
        expected: Option<&str>,
    ) -> Result<String> {
        let mut revision = String::new();
        self.change_record(name, |rec| {
            let key = stream.unwrap_or("").to_string();
            if let Some(label) = stream {
                let known = rec.stream.iter().chain(&rec.old_streams).any(|s| s.label == label);
                if !known {
                    return Err(Error::ResourceNotFound(format!(
                        "Requested resource not found: Stream: {label} not found"
                    )));
                }
            }
            let current = rec.policies.get(&key).map(|p| p.revision.clone());
            if let Some(want) = expected
                && current.as_deref() != Some(want)
            {
                return Err(Error::PolicyNotFound(format!(
                    "Resource-based policy not found for the provided ResourceArn: Requested update for policy with revision id {want}, but the policy associated to target table {name} has revision id {}.",
                    current.as_deref().unwrap_or("none")
                )));
            }
            match document {
                Some(document) => {
                    // Revisions are times, ever increasing for the resource.
                    let now = now_ms().to_string();
                    revision = match &current {
                        Some(c) if c.as_str() >= now.as_str() => {
                            (c.parse::<u64>().unwrap_or(0) + 1).to_string()
                        }
                        _ => now,
                    };
                    rec.policies.insert(
                        key,
                        schema::ResourcePolicy {
                            document,
                            revision: revision.clone(),
                        },
                    );
                }
                None => {
                    let Some(old) = rec.policies.remove(&key) else {
                        return Err(Error::PolicyNotFound(
                            "Resource-based policy not found for the provided ResourceArn".into(),
                        ));
                    };
                    revision = old.revision;
                }
            }
            Ok(())
        })?;
        Ok(revision)
    }

    pub fn set_ttl(&self, name: &str, attribute: Option<String>) -> Result<()> {
        self.change_record(name, |rec| {
            match (&rec.ttl_attribute, &attribute) {
                (Some(_), Some(_)) => {
                    return Err(Error::Validation("TimeToLive is already enabled".into()));
                }
                (None, None) => {
                    return Err(Error::Validation("TimeToLive is already disabled".into()));
                }
                _ => {}
            }
            rec.ttl_attribute = attribute;
            Ok(())
        })
        .map(|_| ())
    }

    /// Change a table's tags; `f` may refuse the change, leaving them as they were.
    pub fn tag(
        &self,
        name: &str,
        f: impl FnOnce(&mut BTreeMap<String, String>) -> Result<()>,
    ) -> Result<()> {
        self.change_record(name, |rec| f(&mut rec.tags)).map(|_| ())
    }

    pub fn get_item(&self, table: &str, key: &Item) -> Result<Option<Item>> {
        let st = self.lock();
        let t = st.tables.get(table).ok_or_else(not_found)?;
        t.rec.check_key(key)?;
        let pk = pkey(&t.rec.key, key).ok_or_else(not_found)?;
        Ok(t.items.get(&pk).cloned())
    }

    /// Apply `ops` all together or not at all. One op outside a `transaction`
    /// fails alone with `ConditionalCheckFailed`; otherwise with
    /// `TransactionCanceled`, naming each op's reason. Returns each op's images once durable.
    pub fn write(&self, ops: Vec<WriteOp>, transaction: bool) -> Result<Vec<Written>> {
        let single = ops.len() == 1 && !transaction;
        let now = now_ms();
        let mut st = self.lock();
        // Evaluate every op against the current items, changing nothing yet.
        let mut planned: Vec<(String, PKey, Written)> = Vec::new();
        let mut reasons: Vec<CancelReason> = Vec::new();
        let mut failed = false;
        for op in &ops {
            let t = st.tables.get(&op.table).ok_or_else(not_found)?;
            let key = match &op.change {
                Change::Put(item) => {
                    t.rec.check_item(item)?;
                    t.rec.key_of(item)
                }
                _ => {
                    t.rec.check_key(&op.key)?;
                    op.key.clone()
                }
            };
            let pk = pkey(&t.rec.key, &key).ok_or_else(not_found)?;
            if planned.iter().any(|(n, p, _)| n == &op.table && p == &pk) {
                return Err(Error::Validation(
                    "Transaction request cannot include multiple operations on one item".into(),
                ));
            }
            let old = t.items.get(&pk).cloned();
            let empty = Item::new();
            let passes = op
                .condition
                .as_ref()
                .is_none_or(|c| c.eval(old.as_ref().unwrap_or(&empty)));
            if !passes {
                failed = true;
                reasons.push(CancelReason {
                    code: "ConditionalCheckFailed",
                    message: Some("The conditional request failed".into()),
                    item: if op.old_on_failure { old.clone() } else { None },
                });
                if single {
                    return Err(Error::ConditionalCheckFailed {
                        item: if op.old_on_failure { old } else { None },
                    });
                }
                planned.push((op.table.clone(), pk, Written::default()));
                continue;
            }
            let new = match &op.change {
                Change::Put(item) => Some(item.clone()),
                Change::Delete => None,
                Change::Check => old.clone(),
                Change::Update(u) => {
                    for p in u.paths() {
                        if t.rec.key.names().any(|k| k == p.top()) {
                            return Err(Error::Validation(format!(
                                "One or more parameter values were invalid: Cannot update attribute {}. This attribute is part of the key",
                                p.top()
                            )));
                        }
                    }
                    let mut item = old.clone().unwrap_or_else(|| key.clone());
                    match u.apply(&mut item) {
                        Ok(()) => {}
                        Err(e) if single => return Err(e.into()),
                        Err(e) => {
                            failed = true;
                            reasons.push(CancelReason {
                                code: "ValidationError",
                                message: Some(e.0),
                                item: None,
                            });
                            planned.push((op.table.clone(), pk, Written::default()));
                            continue;
                        }
                    }
                    t.rec.check_item(&item)?;
                    Some(item)
                }
            };
            if let Some(n) = &new
                && item_size(n) > MAX_ITEM_BYTES
            {
                let e = Error::Validation("Item size has exceeded the maximum allowed size".into());
                if single {
                    return Err(e);
                }
                failed = true;
                reasons.push(CancelReason {
                    code: "ValidationError",
                    message: Some(e.to_string()),
                    item: None,
                });
                planned.push((op.table.clone(), pk, Written::default()));
                continue;
            }
            reasons.push(CancelReason {
                code: "None",
                message: None,
                item: None,
            });
            planned.push((op.table.clone(), pk, Written { old, new }));
        }
        if failed {
            return Err(Error::TransactionCanceled { reasons });
        }
        // Apply in memory, with stream records, and submit in this order.
        let mut batch = WriteBatch::new();
        let mut streamed = false;
        let mut undo: Vec<(String, PKey, Option<Item>)> = Vec::new();
        for ((table, pk, w), op) in planned.iter().zip(&ops) {
            if matches!(op.change, Change::Check) || w.old == w.new {
                continue;
            }
            let seq = st.next_seq;
            let t = st.tables.get_mut(table).expect("planned on a live table");
            match &w.new {
                Some(n) => batch.put(ITEMS, item_key(table, pk), item_to_json(n).to_string()),
                None => batch.delete(ITEMS, item_key(table, pk)),
            };
            if let Some(s) = t.rec.stream.as_ref().filter(|s| s.enabled) {
                let keys = t.rec.key_of(
                    w.new
                        .as_ref()
                        .or(w.old.as_ref())
                        .expect("a change has an image"),
                );
                let r = streams::record(
                    &self.region,
                    &s.view_type,
                    seq,
                    now,
                    &keys,
                    w.old.as_ref(),
                    w.new.as_ref(),
                    false,
                );
                batch.put(STREAMS, stream_key(table, &s.label, seq), r.to_string());
                streamed = true;
                st.next_seq += 1;
            }
            let t = st.tables.get_mut(table).expect("planned on a live table");
            undo.push((table.clone(), pk.clone(), w.old.clone()));
            t.store(pk.clone(), w.new.clone());
        }
        if batch.is_empty() {
            return Ok(planned.into_iter().map(|(_, _, w)| w).collect());
        }
        let ticket = self.kv.submit(batch);
        drop(st);
        if let Err(e) = self.kv.wait(ticket) {
            // Not durable: take the change back out of memory.
            let mut st = self.lock();
            for (table, pk, old) in undo.into_iter().rev() {
                if let Some(t) = st.tables.get_mut(&table) {
                    t.store(pk, old);
                }
            }
            return Err(e.into());
        }
        if streamed {
            self.stream_notify.notify_waiters();
        }
        Ok(planned.into_iter().map(|(_, _, w)| w).collect())
    }

    /// Read items for `Query` (`hash` and `sort` set) or `Scan` (`hash` None,
    /// optionally one `segment` of `total`).
    pub fn read(
        &self,
        spec: &ReadSpec<'_>,
        hash: Option<&AttributeValue>,
        sort: Option<&SortCondition>,
        segment: Option<(u32, u32)>,
    ) -> Result<Page> {
        let st = self.lock();
        let t = st.tables.get(spec.table).ok_or_else(not_found)?;
        let index = match spec.index {
            Some(name) => Some(t.rec.index(name).ok_or_else(|| {
                Error::Validation(format!(
                    "The table does not have the specified index: {name}"
                ))
            })?),
            None => None,
        };
        // Where to start: after ExclusiveStartKey.
        let start: Option<(K, Sort, PKey)> = match &spec.start {
            None => None,
            Some(k) => {
                let bad = || {
                    Error::Validation(
                        "The provided starting key is invalid: The provided key element does not match the schema".into(),
                    )
                };
                let tpk = pkey(&t.rec.key, k).ok_or_else(bad)?;
                match index {
                    Some(i) => {
                        let (h, s) = pkey(&i.key, k).ok_or_else(bad)?;
                        Some((h, s, tpk))
                    }
                    None => Some((tpk.0.clone(), tpk.1.clone(), tpk)),
                }
            }
        };
        let limit = spec.limit.unwrap_or(usize::MAX);
        let mut page = Page::default();
        let mut bytes = 0usize;
        let mut visit = |tpk: &PKey, ikey: Option<&IKey>| -> bool {
            let Some(item) = t.items.get(tpk) else {
                return true;
            };
            let seen = match index {
                Some(i) => project_for_index(&t.rec, i, item),
                None => item.clone(),
            };
            page.scanned += 1;
            bytes += item_size(&seen);
            if spec.filter.is_none_or(|f| f.eval(&seen)) {
                page.items.push(seen);
            }
            if page.scanned >= limit || bytes >= PAGE_BYTES {
                let mut last = t.rec.key_of(item);
                if let (Some(i), Some(_)) = (index, ikey) {
                    for n in i.key.names() {
                        if let Some(v) = item.get(n) {
                            last.insert(n.to_string(), v.clone());
                        }
                    }
                }
                page.last_key = Some(last);
                return false;
            }
            true
        };
        let sort_ok = |s: &Sort| -> bool {
            let Some(cond) = sort else { return true };
            let Sort::Key(K(v)) = s else { return false };
            cond.matches(v)
        };
        let in_segment =
            |h: &K| -> bool { segment.is_none_or(|(seg, total)| segment_of(&h.0, total) == seg) };
        match (index, hash) {
            (None, Some(h)) => {
                let lo = (K(h.clone()), Sort::Low);
                let hi = (K(h.clone()), Sort::High);
                let keys: Box<dyn Iterator<Item = &PKey>> = match (&start, spec.forward) {
                    (Some((_, _, s)), true) => Box::new(
                        t.items
                            .range((Bound::Excluded(s.clone()), Bound::Included(hi)))
                            .map(|(k, _)| k),
                    ),
                    (Some((_, _, s)), false) => Box::new(
                        t.items
                            .range((Bound::Included(lo), Bound::Excluded(s.clone())))
                            .rev()
                            .map(|(k, _)| k),
                    ),
                    (None, true) => Box::new(t.items.range(lo..=hi).map(|(k, _)| k)),
                    (None, false) => Box::new(t.items.range(lo..=hi).rev().map(|(k, _)| k)),
                };
                for k in keys {
                    if sort_ok(&k.1) && !visit(k, None) {
                        break;
                    }
                }
            }
            (None, None) => {
                let keys: Box<dyn Iterator<Item = &PKey>> = match &start {
                    Some((_, _, s)) => Box::new(
                        t.items
                            .range((Bound::Excluded(s.clone()), Bound::Unbounded))
                            .map(|(k, _)| k),
                    ),
                    None => Box::new(t.items.keys()),
                };
                for k in keys {
                    if in_segment(&k.0) && !visit(k, None) {
                        break;
                    }
                }
            }
            (Some(i), h) => {
                let empty_map = BTreeMap::new();
                let map = t.indexes.get(&i.name).unwrap_or(&empty_map);
                let min_pk = || (K(AttributeValue::Null), Sort::Low);
                let entries: Box<dyn Iterator<Item = &IKey>> = match h {
                    Some(h) => {
                        let lo = (K(h.clone()), Sort::Low, min_pk());
                        let hi = (K(h.clone()), Sort::High, min_pk());
                        match (&start, spec.forward) {
                            (Some(s), true) => Box::new(
                                map.range((Bound::Excluded(s.clone()), Bound::Excluded(hi)))
                                    .map(|(k, _)| k),
                            ),
                            (Some(s), false) => Box::new(
                                map.range((Bound::Included(lo), Bound::Excluded(s.clone())))
                                    .rev()
                                    .map(|(k, _)| k),
                            ),
                            (None, true) => Box::new(
                                map.range((Bound::Included(lo), Bound::Excluded(hi)))
                                    .map(|(k, _)| k),
                            ),
                            (None, false) => Box::new(
                                map.range((Bound::Included(lo), Bound::Excluded(hi)))
                                    .rev()
                                    .map(|(k, _)| k),
                            ),
                        }
                    }
                    None => match &start {
                        Some(s) => Box::new(
                            map.range((Bound::Excluded(s.clone()), Bound::Unbounded))
                                .map(|(k, _)| k),
                        ),
                        None => Box::new(map.keys()),
                    },
                };
                for e in entries {
                    let ok = if h.is_some() {
                        sort_ok(&e.1)
                    } else {
                        in_segment(&e.0)
                    };
                    if ok && !visit(&e.2, Some(e)) {
                        break;
                    }
                }
            }
        }
        Ok(page)
    }

    /// Delete items whose TTL attribute (epoch seconds) is before `now_secs`,
    /// as the service would: stream records name the service as the deleter.
    /// Returns how many were deleted.
    pub fn expire(&self, now_secs: u64) -> Result<usize> {
        let now = now_ms();
        let mut st = self.lock();
        let mut batch = WriteBatch::new();
        let mut gone: Vec<(String, PKey, Item)> = Vec::new();
        for (name, t) in &st.tables {
            let Some(attr) = &t.rec.ttl_attribute else {
                continue;
            };
            for (pk, item) in &t.items {
                if let Some(AttributeValue::N(n)) = item.get(attr)
                    && n.to_f64() < now_secs as f64
                    && n.to_f64() > 0.0
                {
                    gone.push((name.clone(), pk.clone(), item.clone()));
                }
            }
        }
        if gone.is_empty() {
            return Ok(0);
        }
        let mut streamed = false;
        for (table, pk, item) in &gone {
            let seq = st.next_seq;
            let t = st.tables.get_mut(table).expect("found above");
            batch.delete(ITEMS, item_key(table, pk));
            if let Some(s) = t.rec.stream.as_ref().filter(|s| s.enabled) {
                let keys = t.rec.key_of(item);
                let r = streams::record(
                    &self.region,
                    &s.view_type,
                    seq,
                    now,
                    &keys,
                    Some(item),
                    None,
                    true,
                );
                batch.put(STREAMS, stream_key(table, &s.label, seq), r.to_string());
                streamed = true;
                st.next_seq += 1;
            }
            let t = st.tables.get_mut(table).expect("found above");
            t.store(pk.clone(), None);
        }
        let ticket = self.kv.submit(batch);
        drop(st);
        if let Err(e) = self.kv.wait(ticket) {
            let mut st = self.lock();
            for (table, pk, item) in gone {
                if let Some(t) = st.tables.get_mut(&table) {
                    t.store(pk, Some(item));
                }
            }
            return Err(e.into());
        }
        if streamed {
            self.stream_notify.notify_waiters();
        }
        Ok(gone.len())
    }

    /// Remember a transaction's client token: `Ok(true)` when it is new or a
    /// retry of the same request within ten minutes (`Ok(false)`: a retry that
    /// should return success without writing again).
    pub fn claim_token(&self, token: &str, fingerprint: &str) -> Result<bool> {
        let now = now_ms();
        let mut st = self.lock();
        st.tokens
            .retain(|_, (_, at)| now.saturating_sub(*at) < 10 * 60 * 1000);
        match st.tokens.get(token) {
            Some((f, _)) if f == fingerprint => Ok(false),
            Some(_) => Err(Error::Validation("IdempotentParameterMismatch".into())),
            None => {
                st.tokens
                    .insert(token.to_string(), (fingerprint.to_string(), now));
                Ok(true)
            }
        }
    }

    /// Forget a token whose transaction did not commit.
    pub fn release_token(&self, token: &str) {
        self.lock().tokens.remove(token);
    }
}

fn stats(t: &LiveTable) -> TableStats {
    let mut index_counts = BTreeMap::new();
    for i in &t.rec.indexes {
        let map = t.indexes.get(&i.name);
        let (mut n, mut b) = (0u64, 0u64);
        if let Some(map) = map {
            for (_, _, pk) in map.keys() {
                if let Some(item) = t.items.get(pk) {
                    n += 1;
                    b += item_size(&project_for_index(&t.rec, i, item)) as u64;
                }
            }
        }
        index_counts.insert(i.name.clone(), (n, b));
    }
    TableStats {
        rec: t.rec.clone(),
        item_count: t.items.len() as u64,
        bytes: t.bytes,
        index_counts,
    }
}

/// A stream's label: its creation time, as DynamoDB names streams.
fn stream_label() -> String {
    nimbus_model::time::Utc::from_millis(now_ms())
        .rfc3339_millis()
        .trim_end_matches('Z')
        .to_string()
}

/// Which of `total` scan segments a partition key belongs to.
fn segment_of(v: &AttributeValue, total: u32) -> u32 {
    let mut bytes = Vec::new();
    match v {
        // A multi-attribute key: every attribute counts.
        AttributeValue::L(parts) => parts.iter().for_each(|p| encode_key_part(&mut bytes, p)),
        single => encode_key_part(&mut bytes, single),
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h % u64::from(total.max(1))) as u32
}

/// A query's condition on the sort key: `last` on the only sort key
/// attribute, or, for a multi-attribute sort key, equality on its first
/// attributes (`prefix`) and `last` on the next one.
#[derive(Debug, Clone, PartialEq)]
pub struct SortCondition {
    pub prefix: Vec<AttributeValue>,
    pub last: Option<KeyOp>,
}

impl SortCondition {
    /// `op` on a single-attribute sort key.
    pub fn on(op: KeyOp) -> SortCondition {
        SortCondition {
            prefix: Vec::new(),
            last: Some(op),
        }
    }

    /// Whether an index entry's sort key value (a list for a multi-attribute
    /// key) satisfies the condition.
    fn matches(&self, v: &AttributeValue) -> bool {
        let (prefix, next) = match v {
            AttributeValue::L(values) => (
                values.get(..self.prefix.len()),
                values.get(self.prefix.len()),
            ),
            single => (Some(&[][..]), Some(single)),
        };
        let Some(prefix) = prefix else { return false };
        prefix
            .iter()
            .zip(&self.prefix)
            .all(|(a, b)| a.key_cmp(b) == Some(std::cmp::Ordering::Equal))
            && match (&self.last, next) {
                (None, _) => true,
                (Some(op), Some(v)) => sort_matches(v, op),
                (Some(_), None) => false,
            }
    }
}

/// Whether a sort key value satisfies a key condition.
fn sort_matches(v: &AttributeValue, op: &KeyOp) -> bool {
    use std::cmp::Ordering::*;
    let cmp = |w: &AttributeValue| v.key_cmp(w);
    match op {
        KeyOp::Eq(w) => cmp(w) == Some(Equal),
        KeyOp::Lt(w) => cmp(w) == Some(Less),
        KeyOp::Le(w) => matches!(cmp(w), Some(Less | Equal)),
        KeyOp::Gt(w) => cmp(w) == Some(Greater),
        KeyOp::Ge(w) => matches!(cmp(w), Some(Greater | Equal)),
        KeyOp::Between(a, b) => {
            matches!(cmp(a), Some(Greater | Equal)) && matches!(cmp(b), Some(Less | Equal))
        }
        KeyOp::BeginsWith(p) => match (v, p) {
            (AttributeValue::S(s), AttributeValue::S(p)) => s.starts_with(p.as_str()),
            (AttributeValue::B(s), AttributeValue::B(p)) => s.starts_with(p),
            _ => false,
        },
    }
}

#[cfg(test)]
mod tests;
