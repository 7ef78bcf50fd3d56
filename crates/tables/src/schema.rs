//! What a table is: its key schema, attribute definitions, secondary indexes,
//! stream and TTL settings, as stored (versioned) and as DynamoDB validates them
//! at `CreateTable` and `UpdateTable`.

use crate::value::{AttributeValue, Item};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The on-disk format of [`TableRecord`].
pub const FORMAT: u32 = 1;

/// A key attribute's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScalarType {
    S,
    N,
    B,
}

impl ScalarType {
    pub fn parse(s: &str) -> Option<ScalarType> {
        match s {
            "S" => Some(ScalarType::S),
            "N" => Some(ScalarType::N),
            "B" => Some(ScalarType::B),
            _ => None,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            ScalarType::S => "S",
            ScalarType::N => "N",
            ScalarType::B => "B",
        }
    }

    fn matches(&self, v: &AttributeValue) -> bool {
        matches!(
            (self, v),
            (ScalarType::S, AttributeValue::S(_))
                | (ScalarType::N, AttributeValue::N(_))
                | (ScalarType::B, AttributeValue::B(_))
        )
    }
}

/// A partition key and an optional sort key. A global secondary index may
/// have multi-attribute keys: up to four partition key attributes (`hash`,
/// then `more_hash`) and up to four sort key attributes (`range`, then
/// `more_range`), compared in that order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct KeySchema {
    pub hash: String,
    pub range: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub more_hash: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub more_range: Vec<String>,
}

/// Largest partition key value, in bytes.
pub const MAX_HASH_KEY_BYTES: usize = 2048;
/// Largest sort key value, in bytes.
pub const MAX_RANGE_KEY_BYTES: usize = 1024;

/// Most attributes a multi-attribute partition (or sort) key may have.
pub const MAX_KEY_ATTRIBUTES: usize = 4;

impl KeySchema {
    /// Every key attribute: the partition key's, then the sort key's.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.hash_names().chain(self.range_names())
    }

    /// The partition key's attributes, in order.
    pub fn hash_names(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.hash.as_str()).chain(self.more_hash.iter().map(String::as_str))
    }

    /// The sort key's attributes, in order (none without a sort key).
    pub fn range_names(&self) -> impl Iterator<Item = &str> {
        self.range
            .as_deref()
            .into_iter()
            .chain(self.more_range.iter().map(String::as_str))
    }

    /// Whether either key has more than one attribute.
    pub fn multi(&self) -> bool {
        !self.more_hash.is_empty() || !self.more_range.is_empty()
    }
}

/// Which attributes an index keeps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Projection {
    All,
    KeysOnly,
    Include(Vec<String>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Throughput {
    pub read: u64,
    pub write: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexDef {
    pub name: String,
    /// Global (own partition key) or local (the table's partition key).
    pub global: bool,
    pub key: KeySchema,
    pub projection: Projection,
    pub throughput: Option<Throughput>,
    pub created_ms: u64,
}

/// The table's change stream, when enabled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamDef {
    /// KEYS_ONLY, NEW_IMAGE, OLD_IMAGE or NEW_AND_OLD_IMAGES.
    pub view_type: String,
    /// The stream's label (its creation time), part of its ARN.
    pub label: String,
    pub enabled: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableRecord {
    pub format: u32,
    pub name: String,
    pub id: String,
    pub created_ms: u64,
    pub key: KeySchema,
    /// AttributeDefinitions: every key attribute of the table and its indexes.
    pub attributes: BTreeMap<String, ScalarType>,
    pub indexes: Vec<IndexDef>,
    /// PAY_PER_REQUEST or PROVISIONED.
    pub billing_mode: String,
    pub throughput: Throughput,
    pub stream: Option<StreamDef>,
    /// Streams of this table that were disabled (or replaced), still readable.
    #[serde(default)]
    pub old_streams: Vec<StreamDef>,
    pub ttl_attribute: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub deletion_protection: bool,
    pub table_class: Option<String>,
    /// Resource-based policies: the table's (key `""`) and its streams'
    /// (key: the stream's label).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub policies: BTreeMap<String, ResourcePolicy>,
}

/// A resource-based policy and its revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourcePolicy {
    pub document: String,
    pub revision: String,
}

impl TableRecord {
    pub fn index(&self, name: &str) -> Option<&IndexDef> {
        self.indexes.iter().find(|i| i.name == name)
    }

    /// Check an item's key attributes (and index key attributes) for a write.
    pub fn check_item(&self, item: &Item) -> Result<()> {
        for name in self.key.names() {
            let ty = self.attributes[name];
            match item.get(name) {
                None => {
                    return Err(Error::Validation(format!(
                        "One or more parameter values were invalid: Missing the key {name} in the item"
                    )));
                }
                Some(v) if !ty.matches(v) => {
                    return Err(Error::Validation(format!(
                        "One or more parameter values were invalid: Type mismatch for key {name} expected: {} actual: {}",
                        ty.as_str(),
                        v.type_name()
                    )));
                }
                Some(v) => check_not_empty(name, v)?,
            }
        }
        self.check_key_sizes(item)?;
        for index in &self.indexes {
            for name in index.key.names() {
                let ty = self.attributes[name];
                if let Some(v) = item.get(name) {
                    if !ty.matches(v) {
                        return Err(Error::Validation(format!(
                            "One or more parameter values were invalid: Type mismatch for Index Key {name} Expected: {} Actual: {} IndexName: {}",
                            ty.as_str(),
                            v.type_name(),
                            index.name
                        )));
                    }
                    check_not_empty(name, v)?;
                }
            }
        }
        Ok(())
    }

    /// Check a `Key` parameter: exactly the table's key attributes, right types.
    pub fn check_key(&self, key: &Item) -> Result<()> {
        let mismatch =
            || Error::Validation("The provided key element does not match the schema".into());
        if key.len() != self.key.names().count() {
            return Err(mismatch());
        }
        for name in self.key.names() {
            let v = key.get(name).ok_or_else(mismatch)?;
            if !self.attributes[name].matches(v) {
                return Err(mismatch());
            }
            check_not_empty(name, v)?;
        }
        self.check_key_sizes(key)
    }

    /// DynamoDB's key size limits: 2048 bytes for a partition key value,
    /// 1024 for a sort key value.
    fn check_key_sizes(&self, item: &Item) -> Result<()> {
        let size = |name: &str| match item.get(name) {
            Some(AttributeValue::S(s)) => s.len(),
            Some(AttributeValue::B(b)) => b.len(),
            _ => 0,
        };
        if size(&self.key.hash) > MAX_HASH_KEY_BYTES {
            return Err(Error::Validation(format!(
                "One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of{MAX_HASH_KEY_BYTES} bytes"
            )));
        }
        if self.key.range.as_deref().map_or(0, size) > MAX_RANGE_KEY_BYTES {
            return Err(Error::Validation(format!(
                "One or more parameter values were invalid: Aggregated size of all range keys has exceeded the size limit of {MAX_RANGE_KEY_BYTES} bytes"
            )));
        }
        Ok(())
    }

    /// The key attributes of `item`.
    pub fn key_of(&self, item: &Item) -> Item {
        self.key
            .names()
            .filter_map(|n| item.get(n).map(|v| (n.to_string(), v.clone())))
            .collect()
    }
}

fn check_not_empty(name: &str, v: &AttributeValue) -> Result<()> {
    let empty = match v {
        AttributeValue::S(s) => s.is_empty(),
        AttributeValue::B(b) => b.is_empty(),
        _ => false,
    };
    if empty {
        return Err(Error::Validation(format!(
            "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty string value. Key: {name}"
        )));
    }
    Ok(())
}

/// DynamoDB's table and index name rule: 3-255 of `[a-zA-Z0-9_.-]`.
pub fn check_name(what: &str, name: &str) -> Result<()> {
    let ok = (3..=255).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if !ok {
        return Err(Error::Validation(format!(
            "1 validation error detected: Value '{name}' at '{what}' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+ and length between 3 and 255"
        )));
    }
    Ok(())
}

/// Check a new table's definition as `CreateTable` does.
pub fn check_definition(rec: &TableRecord) -> Result<()> {
    check_name("tableName", &rec.name)?;
    let mut used: Vec<&str> = rec.key.names().collect();
    if rec.key.range.as_deref() == Some(rec.key.hash.as_str()) {
        return Err(Error::Validation(
            "Invalid KeySchema: Some index key attribute have no definition".into(),
        ));
    }
    let mut names = std::collections::HashSet::new();
    for index in &rec.indexes {
        check_name("indexName", &index.name)?;
        if !names.insert(index.name.as_str()) {
            return Err(Error::Validation(format!(
                "One or more parameter values were invalid: Duplicate index name: {}",
                index.name
            )));
        }
        if !index.global {
            if index.key.hash != rec.key.hash {
                return Err(Error::Validation(format!(
                    "One or more parameter values were invalid: Index KeySchema does not have the same leading hash key as table KeySchema for index: {}. index hash key: {}, table hash key: {}",
                    index.name, index.key.hash, rec.key.hash
                )));
            }
            if rec.key.range.is_none() {
                return Err(Error::Validation(
                    "One or more parameter values were invalid: Table KeySchema does not have a range key, which is required when specifying a LocalSecondaryIndex".into(),
                ));
            }
            if index.key.range.is_none() {
                return Err(Error::Validation(format!(
                    "One or more parameter values were invalid: Index KeySchema for LocalSecondaryIndex {} must have a range key",
                    index.name
                )));
            }
        }
        if let Projection::Include(attrs) = &index.projection
            && attrs.is_empty()
        {
            return Err(Error::Validation(
                "One or more parameter values were invalid: NonKeyAttributes must not be empty for INCLUDE projections".into(),
            ));
        }
        used.extend(index.key.names());
    }
    for name in &used {
        if !rec.attributes.contains_key(*name) {
            return Err(Error::Validation(
                "One or more parameter values were invalid: Some index key attributes are not defined in AttributeDefinitions. Keys: ["
                    .to_string()
                    + name
                    + "], AttributeDefinitions: ["
                    + &rec.attributes.keys().cloned().collect::<Vec<_>>().join(", ")
                    + "]",
            ));
        }
    }
    if rec.attributes.len() > used.iter().collect::<std::collections::HashSet<_>>().len() {
        return Err(Error::Validation(
            "One or more parameter values were invalid: Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions".into(),
        ));
    }
    if rec.billing_mode == "PROVISIONED" && (rec.throughput.read == 0 || rec.throughput.write == 0)
    {
        return Err(Error::Validation(
            "One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED".into(),
        ));
    }
    Ok(())
}

/// The attributes an index keeps of `item`: its projection plus the table's and
/// the index's keys.
pub fn project_for_index(rec: &TableRecord, index: &IndexDef, item: &Item) -> Item {
    match &index.projection {
        Projection::All => item.clone(),
        p => {
            let mut out: Item = BTreeMap::new();
            let extra: &[String] = match p {
                Projection::Include(a) => a,
                _ => &[],
            };
            for name in rec
                .key
                .names()
                .chain(index.key.names())
                .chain(extra.iter().map(String::as_str))
            {
                if let Some(v) = item.get(name) {
                    out.insert(name.to_string(), v.clone());
                }
            }
            out
        }
    }
}
