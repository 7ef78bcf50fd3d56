//! Matching a compiled rule against an event, as EventBridge does: the event
//! is taken apart into leaves (a dotted path, a value, and which element of
//! each enclosing array it sits in), and the rule holds when each field can
//! take a leaf it matches, all the chosen leaves agreeing on the element of
//! every array they share. So `{"a": {"b": [1], "c": [2]}}` matches
//! `{"a": [{"b": 1, "c": 2}]}` but not `{"a": [{"b": 1}, {"c": 2}]}`.
//!
//! `exists: false` holds when the path has no leaf anywhere in the event; an
//! object, an empty array or a missing field all count as absent ("exists"
//! looks at leaves only).
//!
//! An event is taken apart once ([`Leaves::of`]) and may then be matched
//! against many rules: [`crate::PatternSet`] does so.

use crate::{Item, Rule};
use serde_json::Value;
use std::collections::HashMap;

/// A leaf of the event: a value, and the (array, element) pairs it sits in.
struct Leaf<'e> {
    value: &'e Value,
    arrays: Vec<(u32, u32)>,
}

/// An event taken apart into its leaves, by dotted path.
#[derive(Default)]
pub(crate) struct Leaves<'e> {
    by_path: HashMap<String, Vec<Leaf<'e>>>,
    arrays: u32,
}

impl<'e> Leaves<'e> {
    pub(crate) fn of(event: &'e Value) -> Leaves<'e> {
        let mut leaves = Leaves::default();
        leaves.walk(&mut String::new(), event, &mut Vec::new());
        leaves
    }

    /// The scalar values at `path`, from every element of every array on the
    /// way: the values a field of that path is matched against.
    pub(crate) fn values(&self, path: &str) -> impl Iterator<Item = &'e Value> + '_ {
        self.by_path
            .get(path)
            .into_iter()
            .flatten()
            .map(|leaf| leaf.value)
    }

    /// Walk `v`, whose dotted path is `path`; `path` is one buffer for the
    /// whole walk, so only a path seen for the first time is copied.
    fn walk(&mut self, path: &mut String, v: &'e Value, within: &mut Vec<(u32, u32)>) {
        match v {
            Value::Object(m) => {
                let len = path.len();
                for (k, inner) in m {
                    if len > 0 {
                        path.push('.');
                    }
                    path.push_str(k);
                    self.walk(path, inner, within);
                    path.truncate(len);
                }
            }
            Value::Array(items) => {
                let id = self.arrays;
                self.arrays += 1;
                for (i, item) in items.iter().enumerate() {
                    within.push((id, i as u32));
                    self.walk(path, item, within);
                    within.pop();
                }
            }
            scalar => {
                let leaf = Leaf {
                    value: scalar,
                    arrays: within.clone(),
                };
                match self.by_path.get_mut(path.as_str()) {
                    Some(leaves) => leaves.push(leaf),
                    None => {
                        self.by_path.insert(path.clone(), vec![leaf]);
                    }
                }
            }
        }
    }
}

/// How many steps one match may take: a pattern with many alternatives over
/// an event with long arrays could otherwise take exponential time. A match
/// that runs out is reported as no match.
const BUDGET: u32 = 200_000;

struct Search<'r, 'e> {
    leaves: &'r Leaves<'e>,
    budget: u32,
}

fn consistent(chosen: &[(u32, u32)], leaf: &[(u32, u32)]) -> bool {
    leaf.iter()
        .all(|(a, i)| chosen.iter().all(|(b, j)| a != b || i == j))
}

impl<'r> Search<'r, '_> {
    /// Whether every item on `todo` can hold together with `chosen`; `todo`
    /// is as it was when this returns.
    fn solve(&mut self, todo: &mut Vec<&'r Item>, chosen: &mut Vec<(u32, u32)>) -> bool {
        let mut taken = Vec::new();
        let ok = self.take(todo, chosen, &mut taken);
        while let Some(item) = taken.pop() {
            todo.push(item);
        }
        ok
    }

    /// Fields that a leaf outside every array satisfies are settled in a
    /// loop (such a leaf constrains nothing else, so it is always the best
    /// choice); only a choice among array elements, or among alternatives,
    /// recurses.
    fn take(
        &mut self,
        todo: &mut Vec<&'r Item>,
        chosen: &mut Vec<(u32, u32)>,
        taken: &mut Vec<&'r Item>,
    ) -> bool {
        loop {
            let Some(item) = todo.pop() else {
                return true;
            };
            taken.push(item);
            if self.budget == 0 {
                return false;
            }
            self.budget -= 1;
            match item {
                Item::Field { path, matchers } => {
                    let leaves = self.leaves.by_path.get(path).map_or(&[][..], Vec::as_slice);
                    let absent_ok =
                        leaves.is_empty() && matchers.contains(&crate::Matcher::Exists(false));
                    let matching = |leaf: &Leaf<'_>| matchers.iter().any(|m| m.matches(leaf.value));
                    if absent_ok || leaves.iter().any(|l| l.arrays.is_empty() && matching(l)) {
                        continue;
                    }
                    return leaves.iter().any(|leaf| {
                        if !consistent(chosen, &leaf.arrays) || !matching(leaf) {
                            return false;
                        }
                        let n = chosen.len();
                        chosen.extend_from_slice(&leaf.arrays);
                        let ok = self.solve(todo, chosen);
                        chosen.truncate(n);
                        ok
                    });
                }
                Item::Or(alts) => {
                    return alts.iter().any(|alt| {
                        let n = todo.len();
                        push_items(todo, alt);
                        let ok = self.solve(todo, chosen);
                        todo.truncate(n);
                        ok
                    });
                }
            }
        }
    }
}

/// Push a rule's items so that its fields are tried before its alternatives.
fn push_items<'r>(todo: &mut Vec<&'r Item>, rule: &'r Rule) {
    todo.extend(rule.items.iter().filter(|i| matches!(i, Item::Or(_))));
    todo.extend(
        rule.items
            .iter()
            .filter(|i| matches!(i, Item::Field { .. })),
    );
}

pub(crate) fn matches(rule: &Rule, event: &Value) -> bool {
    matches_leaves(rule, &Leaves::of(event))
}

/// Whether an event, already taken apart, matches `rule`.
pub(crate) fn matches_leaves(rule: &Rule, leaves: &Leaves<'_>) -> bool {
    let mut search = Search {
        leaves,
        budget: BUDGET,
    };
    let mut todo = Vec::new();
    push_items(&mut todo, rule);
    search.solve(&mut todo, &mut Vec::new())
}
