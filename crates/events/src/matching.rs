//! Which rules of a bus an event matches: one `PatternSet` per bus (rules
//! filed by an exact field of their pattern, see `docs/pattern-index.md`),
//! built on first use and dropped when a rule of the bus is put or deleted.

use crate::{Events, Rule};
use nimbus_patterns::{Pattern, PatternSet};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// The buses' pattern indexes, by bus name: rule keys under their
/// compiled patterns.
/// A change counter guards against caching an index built from rules read
/// before a change that came in meanwhile.
#[derive(Default)]
pub(crate) struct Indexes {
    sets: RwLock<HashMap<String, Arc<PatternSet<String>>>>,
    changes: AtomicU64,
}

impl Indexes {
    /// Forget `bus`'s index: one of its rules changed.
    pub(crate) fn invalidate(&self, bus: &str) {
        let mut sets = self.sets.write().expect("index lock");
        self.changes.fetch_add(1, Ordering::SeqCst);
        sets.remove(bus);
    }
}

impl Events {
    /// `bus`'s index, built from its rules when there is none.
    fn index(&self, bus: &str) -> Arc<PatternSet<String>> {
        if let Some(set) = self.indexes.sets.read().expect("index lock").get(bus) {
            return set.clone();
        }
        let seen = self.indexes.changes.load(Ordering::SeqCst);
        let mut set = PatternSet::new();
        for r in self.rules.all().into_iter().filter(|r| r.bus == bus) {
            if let Some(p) = r.pattern.as_deref().and_then(|p| Pattern::parse(p).ok()) {
                set.insert(r.key.clone(), p);
            }
        }
        let set = Arc::new(set);
        let mut sets = self.indexes.sets.write().expect("index lock");
        if self.indexes.changes.load(Ordering::SeqCst) == seen {
            sets.insert(bus.to_string(), set.clone());
        }
        set
    }

    /// The enabled rules of `bus` whose pattern matches `event`, in key
    /// order.
    pub(crate) fn matching(&self, bus: &str, event: &Value) -> Vec<Arc<Rule>> {
        let mut keys = Vec::new();
        self.index(bus)
            .for_each_matching(event, |k| keys.push(k.clone()));
        keys.sort();
        keys.into_iter()
            .filter_map(|k| self.rules.get(&k))
            .filter(|r| r.bus == bus && r.enabled())
            .collect()
    }
}
