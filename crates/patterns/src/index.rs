//! Many patterns under keys, matched together: [`PatternSet`] answers which
//! of a bus's rules an event matches without trying every rule.
//!
//! Each pattern is filed under one field of its conjunction whose matchers
//! are all exact values (strings, numbers, booleans, null), when it has one
//! outside every `$or`: an event can match it only with one of those values
//! at that path, so the event's values there name the only patterns worth
//! trying. Patterns with no such field are tried for every event. Every
//! candidate is then matched in full, so the index may offer too many
//! candidates but never too few, and the answer is always what
//! [`Pattern::matches`] says. The event is taken apart once, for the lookup
//! and for every candidate. The design: `docs/pattern-index.md`.

use crate::event::{Leaves, matches_leaves};
use crate::matcher::{comparable, ip_bytes};
use crate::{Item, Matcher, Pattern};
use serde_json::Value;
use std::collections::HashMap;
use std::hash::Hash;

#[cfg(test)]
mod tests;

/// What filing a pattern under a path not yet indexed costs, against the
/// patterns already under the values it would join: every event then pays
/// one more lookup.
const NEW_PATH_COST: usize = 1;

/// Patterns under keys (a bus's rules by name, say), matched together.
///
/// ```
/// use nimbus_patterns::{Pattern, PatternSet};
/// use serde_json::json;
///
/// let mut rules = PatternSet::new();
/// rules.insert("s3", Pattern::parse(r#"{"source": ["aws.s3"]}"#).unwrap());
/// rules.insert("big", Pattern::parse(r#"{"detail": {"size": [{"numeric": [">", 1024]}]}}"#).unwrap());
/// let event = json!({"source": "aws.s3", "detail": {"size": 2048}});
/// let mut hits = rules.matching(&event);
/// hits.sort();
/// assert_eq!(hits, ["big", "s3"]);
/// ```
#[derive(Debug, Clone)]
pub struct PatternSet<K> {
    /// Patterns by slot; a removed pattern's slot is reused.
    slots: Vec<Option<Entry<K>>>,
    free: Vec<usize>,
    by_key: HashMap<K, usize>,
    paths: Vec<PathIndex>,
    /// Slots of the patterns with no exact field: tried for every event.
    everywhere: Vec<usize>,
}

#[derive(Debug, Clone)]
struct Entry<K> {
    key: K,
    pattern: Pattern,
    /// The path it is filed under and the values it is filed by; `None` if
    /// it is tried for every event.
    filed: Option<(String, Vec<Exact>)>,
}

/// An exact value of a pattern, as the index files it: equal in the index
/// exactly when the matcher could accept the same event value.
#[derive(Debug, Clone, PartialEq)]
enum Exact {
    /// A string that is not an IP address.
    Str(String),
    /// An IP address, however spelt (a string literal that is an address
    /// matches every spelling of it).
    Address(Vec<u8>),
    /// A number within ±5e9, by its comparable key.
    Number(i64),
    /// A number by its text (numbers also match by their text).
    NumberText(String),
    Bool(bool),
    Null,
}

/// The values a field's matchers accept, if all of them are exact.
fn exact_values(matchers: &[Matcher]) -> Option<Vec<Exact>> {
    let mut out = Vec::new();
    for m in matchers {
        match m {
            Matcher::Str(s) => out.push(match ip_bytes(s) {
                Some(address) => Exact::Address(address),
                None => Exact::Str(s.clone()),
            }),
            Matcher::Num(text, f) => {
                out.extend(comparable(*f).map(Exact::Number));
                out.push(Exact::NumberText(text.clone()));
            }
            Matcher::Bool(b) => out.push(Exact::Bool(*b)),
            Matcher::Null => out.push(Exact::Null),
            _ => return None,
        }
    }
    let mut unique: Vec<Exact> = Vec::with_capacity(out.len());
    for e in out {
        if !unique.contains(&e) {
            unique.push(e);
        }
    }
    Some(unique)
}

/// The patterns filed under one path, by value.
#[derive(Debug, Clone, Default)]
struct PathIndex {
    path: String,
    patterns: usize,
    strings: HashMap<String, Vec<usize>>,
    addresses: HashMap<Vec<u8>, Vec<usize>>,
    numbers: HashMap<i64, Vec<usize>>,
    number_texts: HashMap<String, Vec<usize>>,
    trues: Vec<usize>,
    falses: Vec<usize>,
    nulls: Vec<usize>,
}

/// Take `slot` out of the bucket under `key`, dropping the bucket if empty.
fn take_from<Q: Eq + Hash>(map: &mut HashMap<Q, Vec<usize>>, key: &Q, slot: usize) {
    if let Some(bucket) = map.get_mut(key) {
        bucket.retain(|&s| s != slot);
        if bucket.is_empty() {
            map.remove(key);
        }
    }
}

impl PathIndex {
    fn new(path: &str) -> PathIndex {
        PathIndex {
            path: path.to_string(),
            ..PathIndex::default()
        }
    }

    /// How many patterns are filed under `value`.
    fn bucket_len(&self, value: &Exact) -> usize {
        let len = |b: Option<&Vec<usize>>| b.map_or(0, Vec::len);
        match value {
            Exact::Str(s) => len(self.strings.get(s)),
            Exact::Address(a) => len(self.addresses.get(a)),
            Exact::Number(k) => len(self.numbers.get(k)),
            Exact::NumberText(t) => len(self.number_texts.get(t)),
            Exact::Bool(true) => self.trues.len(),
            Exact::Bool(false) => self.falses.len(),
            Exact::Null => self.nulls.len(),
        }
    }

    fn file(&mut self, values: &[Exact], slot: usize) {
        self.patterns += 1;
        for value in values {
            let bucket = match value {
                Exact::Str(s) => self.strings.entry(s.clone()).or_default(),
                Exact::Address(a) => self.addresses.entry(a.clone()).or_default(),
                Exact::Number(k) => self.numbers.entry(*k).or_default(),
                Exact::NumberText(t) => self.number_texts.entry(t.clone()).or_default(),
                Exact::Bool(true) => &mut self.trues,
                Exact::Bool(false) => &mut self.falses,
                Exact::Null => &mut self.nulls,
            };
            bucket.push(slot);
        }
    }

    fn unfile(&mut self, values: &[Exact], slot: usize) {
        self.patterns -= 1;
        for value in values {
            match value {
                Exact::Str(s) => take_from(&mut self.strings, s, slot),
                Exact::Address(a) => take_from(&mut self.addresses, a, slot),
                Exact::Number(k) => take_from(&mut self.numbers, k, slot),
                Exact::NumberText(t) => take_from(&mut self.number_texts, t, slot),
                Exact::Bool(true) => self.trues.retain(|&s| s != slot),
                Exact::Bool(false) => self.falses.retain(|&s| s != slot),
                Exact::Null => self.nulls.retain(|&s| s != slot),
            }
        }
    }

    /// The slots filed under a value the matchers of `value` could accept.
    fn candidates(&self, value: &Value, out: &mut Vec<usize>) {
        let mut add = |bucket: Option<&Vec<usize>>| out.extend(bucket.into_iter().flatten());
        match value {
            Value::String(s) => {
                add(self.strings.get(s.as_str()));
                if !self.addresses.is_empty()
                    && let Some(address) = ip_bytes(s)
                {
                    add(self.addresses.get(&address));
                }
            }
            Value::Number(n) => {
                if let Some(k) = n.as_f64().and_then(comparable) {
                    add(self.numbers.get(&k));
                }
                if !self.number_texts.is_empty() {
                    add(self.number_texts.get(&n.to_string()));
                }
            }
            Value::Bool(true) => add(Some(&self.trues)),
            Value::Bool(false) => add(Some(&self.falses)),
            Value::Null => add(Some(&self.nulls)),
            // Leaves are scalars: arrays and objects were taken apart.
            Value::Array(_) | Value::Object(_) => {}
        }
    }
}

impl<K: Clone + Eq + Hash> Default for PatternSet<K> {
    fn default() -> Self {
        PatternSet {
            slots: Vec::new(),
            free: Vec::new(),
            by_key: HashMap::new(),
            paths: Vec::new(),
            everywhere: Vec::new(),
        }
    }
}

impl<K: Clone + Eq + Hash> PatternSet<K> {
    pub fn new() -> Self {
        Self::default()
    }

    /// How many patterns the set holds.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// The pattern under `key`.
    pub fn get(&self, key: &K) -> Option<&Pattern> {
        let slot = *self.by_key.get(key)?;
        self.slots[slot].as_ref().map(|e| &e.pattern)
    }

    /// Put `pattern` under `key`, returning the pattern it replaces.
    pub fn insert(&mut self, key: K, pattern: Pattern) -> Option<Pattern> {
        let old = self.remove(&key);
        let filed = self.choose_path(&pattern);
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.slots.push(None);
                self.slots.len() - 1
            }
        };
        match &filed {
            Some((path, values)) => {
                let at = match self.paths.iter().position(|p| &p.path == path) {
                    Some(at) => at,
                    None => {
                        self.paths.push(PathIndex::new(path));
                        self.paths.len() - 1
                    }
                };
                self.paths[at].file(values, slot);
            }
            None => self.everywhere.push(slot),
        }
        self.by_key.insert(key.clone(), slot);
        self.slots[slot] = Some(Entry {
            key,
            pattern,
            filed,
        });
        old
    }

    /// Take the pattern under `key` out of the set.
    pub fn remove(&mut self, key: &K) -> Option<Pattern> {
        let slot = self.by_key.remove(key)?;
        let entry = self.slots[slot].take()?;
        match &entry.filed {
            Some((path, values)) => {
                if let Some(at) = self.paths.iter().position(|p| &p.path == path) {
                    self.paths[at].unfile(values, slot);
                    if self.paths[at].patterns == 0 {
                        self.paths.swap_remove(at);
                    }
                }
            }
            None => self.everywhere.retain(|&s| s != slot),
        }
        self.free.push(slot);
        Some(entry.pattern)
    }

    /// The path to file `pattern` under, and its values there: of the fields
    /// of its conjunction whose matchers are all exact, the one whose values
    /// hold the fewest patterns already (a path not yet indexed counting as
    /// [`NEW_PATH_COST`] more); ties go to the field with fewer values, then
    /// to the shorter path, then to the first in byte order. `None` if it has no
    /// such field.
    fn choose_path(&self, pattern: &Pattern) -> Option<(String, Vec<Exact>)> {
        let exact_fields = pattern.rule.items.iter().filter_map(|item| match item {
            Item::Field { path, matchers } => Some((path, exact_values(matchers)?)),
            Item::Or(_) => None,
        });
        let (path, values) = exact_fields.min_by_key(|&(path, ref values)| {
            let cost = match self.paths.iter().find(|p| &p.path == path) {
                Some(index) => values.iter().map(|v| index.bucket_len(v)).sum(),
                None => NEW_PATH_COST,
            };
            (cost, values.len(), path.len(), path.as_str())
        })?;
        Some((path.clone(), values))
    }

    /// Call `found` with the key of every pattern `event` matches, each once,
    /// in no particular order.
    pub fn for_each_matching(&self, event: &Value, mut found: impl FnMut(&K)) {
        if self.is_empty() {
            return;
        }
        let leaves = Leaves::of(event);
        let mut candidates = self.everywhere.clone();
        for index in &self.paths {
            for value in leaves.values(&index.path) {
                index.candidates(value, &mut candidates);
            }
        }
        candidates.sort_unstable();
        candidates.dedup();
        for slot in candidates {
            if let Some(entry) = &self.slots[slot]
                && matches_leaves(&entry.pattern.rule, &leaves)
            {
                found(&entry.key);
            }
        }
    }

    /// The keys of the patterns `event` matches, in no particular order:
    /// exactly those whose [`Pattern::matches`] holds.
    pub fn matching(&self, event: &Value) -> Vec<K> {
        let mut out = Vec::new();
        self.for_each_matching(event, |k| out.push(k.clone()));
        out
    }
}
