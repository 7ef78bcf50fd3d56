//! SNS filter policies with `FilterPolicyScope: MessageAttributes`: the
//! message's attributes become the object the policy is matched against.
//! A `String` attribute is a string, a `Number` attribute a number (so only
//! `Number` attributes meet `numeric`), a `String.Array` attribute the array
//! its value holds; `Binary` attributes are not matched (SNS ignores them).
//! With `FilterPolicyScope: MessageBody` the body itself is the event.

use serde_json::{Map, Value};

/// One message attribute, as `Publish` carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute<'a> {
    pub name: &'a str,
    /// `String`, `Number`, `String.Array`, `Binary`, or a custom type after
    /// a dot (`Number.float`): what precedes the dot decides.
    pub data_type: &'a str,
    pub value: &'a str,
}

/// The object a filter policy in the attribute scope is matched against.
pub fn attributes_event<'a>(attributes: impl IntoIterator<Item = Attribute<'a>>) -> Value {
    let mut out = Map::new();
    for a in attributes {
        let base = a.data_type.split('.').next().unwrap_or("");
        let v = match (base, a.data_type) {
            (_, "String.Array") => match serde_json::from_str::<Value>(a.value) {
                Ok(arr @ Value::Array(_)) => arr,
                _ => continue,
            },
            ("String", _) => Value::String(a.value.to_string()),
            ("Number", _) => match serde_json::from_str::<serde_json::Number>(a.value.trim()) {
                Ok(n) => Value::Number(n),
                Err(_) => continue,
            },
            _ => continue,
        };
        out.insert(a.name.to_string(), v);
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Flavour, Pattern};

    fn attr<'a>(name: &'a str, data_type: &'a str, value: &'a str) -> Attribute<'a> {
        Attribute {
            name,
            data_type,
            value,
        }
    }

    #[test]
    fn attributes_match_by_their_types() {
        let event = attributes_event([
            attr("store", "String", "example_corp"),
            attr("price_usd", "Number", "210.75"),
            attr(
                "customer_interests",
                "String.Array",
                r#"["soccer", "rugby"]"#,
            ),
            attr("blob", "Binary", "AAAA"),
        ]);
        let p = |s: &str| Pattern::parse_as(s, Flavour::SnsAttributes).unwrap();
        assert!(p(r#"{"store": ["example_corp"]}"#).matches(&event));
        assert!(p(r#"{"price_usd": [{"numeric": [">=", 100]}]}"#).matches(&event));
        assert!(p(r#"{"customer_interests": ["rugby"]}"#).matches(&event));
        assert!(!p(r#"{"blob": [{"exists": true}]}"#).matches(&event));
        let n = attributes_event([attr("price_usd", "String", "210.75")]);
        assert!(!p(r#"{"price_usd": [{"numeric": [">=", 100]}]}"#).matches(&n));
    }

    #[test]
    fn attribute_policies_are_flat_and_small() {
        let e = |s: &str| Pattern::parse_as(s, Flavour::SnsAttributes).unwrap_err();
        assert_eq!(
            e(r#"{"a": {"b": ["c"]}}"#).reason(),
            "Filter policy scope MessageAttributes does not support nested filter policy"
        );
        assert_eq!(
            e(r#"{"a": [1], "b": [1], "c": [1], "d": [1], "e": [1], "f": [1]}"#).message(),
            "Invalid parameter: FilterPolicy: Filter policy can not have more than 5 keys"
        );
        assert_eq!(
            e(r#"{"a": [1,2,3,4,5,6,7,8,9,10], "b": [1,2,3,4,5,6,7,8,9,10], "c": [1,2]}"#).reason(),
            "Filter policy is too complex"
        );
        assert_eq!(
            e(r#"{"a": [{"wildcard": "x*"}]}"#).reason(),
            "Unrecognized match type wildcard"
        );
        assert!(Pattern::parse_as(r#"{"a": {"b": ["c"]}}"#, Flavour::SnsBody).is_ok());
    }
}
