//! The dependency graph: which names a value refers to (`Ref`, `Fn::GetAtt`,
//! `Fn::Sub` variables), and the order, in waves, in which resources can be
//! created, with CloudFormation's message for a cycle.

use crate::Error;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// A name a value refers to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reference {
    /// `Ref`, or a `${Name}` in `Fn::Sub`: a parameter, pseudo parameter or resource.
    Ref(String),
    /// `Fn::GetAtt`, or a `${Resource.Attribute}` in `Fn::Sub`.
    GetAtt(String, String),
}

impl Reference {
    /// The parameter or resource referred to.
    pub fn name(&self) -> &str {
        match self {
            Self::Ref(n) | Self::GetAtt(n, _) => n,
        }
    }
}

/// One piece of an `Fn::Sub` string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Part {
    Text(String),
    Var(String),
}

/// Splits an `Fn::Sub` string into text and `${Var}`s; `${!Literal}` is the
/// text `${Literal}`.
pub(crate) fn sub_parts(s: &str) -> Vec<Part> {
    let mut parts = Vec::new();
    let mut text = String::new();
    let mut rest = s;
    while let Some(at) = rest.find("${") {
        text.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        if let Some(lit) = after.strip_prefix('!') {
            text.push_str("${");
            rest = lit;
            continue;
        }
        match after.find('}') {
            Some(end) => {
                if !text.is_empty() {
                    parts.push(Part::Text(std::mem::take(&mut text)));
                }
                parts.push(Part::Var(after[..end].trim().to_string()));
                rest = &after[end + 1..];
            }
            None => {
                text.push_str("${");
                rest = after;
            }
        }
    }
    text.push_str(rest);
    if !text.is_empty() {
        parts.push(Part::Text(text));
    }
    parts
}

fn sub_var(name: &str) -> Reference {
    match name.split_once('.') {
        Some((res, attr)) => Reference::GetAtt(res.to_string(), attr.to_string()),
        None => Reference::Ref(name.to_string()),
    }
}

/// The names `value` refers to. With `taken` (the stack's condition values),
/// only the branch of each `Fn::If` that the condition chooses counts.
pub fn references(value: &Value, taken: Option<&BTreeMap<String, bool>>) -> Vec<Reference> {
    let mut out = Vec::new();
    walk(value, taken, &mut out);
    out.sort();
    out.dedup();
    out
}

fn walk(value: &Value, taken: Option<&BTreeMap<String, bool>>, out: &mut Vec<Reference>) {
    match value {
        Value::Array(items) => items.iter().for_each(|v| walk(v, taken, out)),
        Value::Object(map) if map.len() == 1 => {
            let (key, arg) = map.iter().next().expect("one entry");
            match (key.as_str(), arg) {
                ("Ref", Value::String(name)) => out.push(Reference::Ref(name.clone())),
                ("Fn::GetAtt", Value::String(s)) => match s.split_once('.') {
                    Some((r, a)) => out.push(Reference::GetAtt(r.into(), a.into())),
                    None => out.push(Reference::GetAtt(s.clone(), String::new())),
                },
                ("Fn::GetAtt", Value::Array(items)) => {
                    if let Some(Value::String(r)) = items.first() {
                        let attr = items.get(1).and_then(Value::as_str).unwrap_or_default();
                        out.push(Reference::GetAtt(r.clone(), attr.to_string()));
                    }
                    items.iter().skip(1).for_each(|v| walk(v, taken, out));
                }
                ("Fn::Sub", Value::String(s)) => sub_refs(s, &[], out),
                ("Fn::Sub", Value::Array(items)) => {
                    let locals: Vec<&str> = items
                        .get(1)
                        .and_then(Value::as_object)
                        .map(|m| m.keys().map(String::as_str).collect())
                        .unwrap_or_default();
                    if let Some(Value::String(s)) = items.first() {
                        sub_refs(s, &locals, out);
                    }
                    items.iter().skip(1).for_each(|v| walk(v, taken, out));
                }
                ("Fn::If", Value::Array(items)) if items.len() == 3 => {
                    let chosen = taken
                        .zip(items[0].as_str())
                        .and_then(|(t, c)| t.get(c).copied());
                    match chosen {
                        Some(true) => walk(&items[1], taken, out),
                        Some(false) => walk(&items[2], taken, out),
                        None => items[1..].iter().for_each(|v| walk(v, taken, out)),
                    }
                }
                _ => walk(arg, taken, out),
            }
        }
        Value::Object(map) => map.values().for_each(|v| walk(v, taken, out)),
        _ => {}
    }
}

fn sub_refs(s: &str, locals: &[&str], out: &mut Vec<Reference>) {
    for part in sub_parts(s) {
        if let Part::Var(v) = part
            && !locals.contains(&v.as_str())
        {
            out.push(sub_var(&v));
        }
    }
}

/// The order in which a stack's resources can be created.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// Each resource and the resources it waits for.
    pub dependencies: BTreeMap<String, BTreeSet<String>>,
    /// Resources in an order where each comes after what it waits for.
    pub order: Vec<String>,
    /// Groups that can be created in parallel: each wave waits only for
    /// earlier waves. Deletion runs the waves backwards.
    pub waves: Vec<Vec<String>>,
}

/// Orders resources by their dependencies, refusing a cycle with
/// CloudFormation's message.
pub(crate) fn plan(dependencies: BTreeMap<String, BTreeSet<String>>) -> Result<Plan, Error> {
    let mut remaining: BTreeMap<&str, BTreeSet<&str>> = dependencies
        .iter()
        .map(|(k, ds)| (k.as_str(), ds.iter().map(String::as_str).collect()))
        .collect();
    let mut waves: Vec<Vec<String>> = Vec::new();
    while !remaining.is_empty() {
        let ready: Vec<&str> = remaining
            .iter()
            .filter(|(_, ds)| ds.is_empty())
            .map(|(k, _)| *k)
            .collect();
        if ready.is_empty() {
            return Err(cycle(remaining));
        }
        for r in &ready {
            remaining.remove(r);
        }
        for ds in remaining.values_mut() {
            for r in &ready {
                ds.remove(r);
            }
        }
        waves.push(ready.into_iter().map(str::to_string).collect());
    }
    Ok(Plan {
        order: waves.iter().flatten().cloned().collect(),
        waves,
        dependencies,
    })
}

/// Trims what only waits on a cycle (nothing in a cycle is waited on by
/// nothing), leaving the resources on or between cycles.
fn cycle(mut remaining: BTreeMap<&str, BTreeSet<&str>>) -> Error {
    loop {
        let waited: BTreeSet<&str> = remaining.values().flatten().copied().collect();
        let leaves: Vec<&str> = remaining
            .keys()
            .copied()
            .filter(|k| !waited.contains(k))
            .collect();
        if leaves.is_empty() {
            break;
        }
        for l in leaves {
            remaining.remove(l);
        }
    }
    let names: Vec<&str> = remaining.keys().copied().collect();
    Error::Invalid(format!(
        "Circular dependency between resources: [{}]",
        names.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deps(pairs: &[(&str, &[&str])]) -> BTreeMap<String, BTreeSet<String>> {
        pairs
            .iter()
            .map(|(k, ds)| (k.to_string(), ds.iter().map(|d| d.to_string()).collect()))
            .collect()
    }

    #[test]
    fn waves_group_independent_resources() {
        let p = plan(deps(&[
            ("A", &[]),
            ("B", &["A"]),
            ("C", &["A"]),
            ("D", &["B", "C"]),
        ]))
        .unwrap();
        assert_eq!(p.waves, vec![vec!["A"], vec!["B", "C"], vec!["D"]]);
        assert_eq!(p.order, ["A", "B", "C", "D"]);
    }

    #[test]
    fn cycles_name_their_resources() {
        let e = plan(deps(&[
            ("A", &["B"]),
            ("B", &["A"]),
            ("C", &["A"]),
            ("D", &[]),
        ]))
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "Circular dependency between resources: [A, B]"
        );
    }

    #[test]
    fn sub_strings_split_into_variables() {
        assert_eq!(
            sub_parts("a-${X}-${!Y}-${R.Arn}"),
            vec![
                Part::Text("a-".into()),
                Part::Var("X".into()),
                Part::Text("-${Y}-".into()),
                Part::Var("R.Arn".into()),
            ]
        );
        let refs = references(
            &json!({"Fn::Sub": ["${A}${B.Arn}${L}", {"L": {"Ref": "C"}}]}),
            None,
        );
        assert_eq!(
            refs,
            vec![
                Reference::Ref("A".into()),
                Reference::Ref("C".into()),
                Reference::GetAtt("B".into(), "Arn".into()),
            ]
        );
    }

    #[test]
    fn only_the_taken_branch_counts() {
        let v = json!({"Fn::If": ["C", {"Ref": "A"}, {"Ref": "B"}]});
        let taken = BTreeMap::from([("C".to_string(), false)]);
        assert_eq!(
            references(&v, Some(&taken)),
            vec![Reference::Ref("B".into())]
        );
        assert_eq!(references(&v, None).len(), 2);
    }
}
