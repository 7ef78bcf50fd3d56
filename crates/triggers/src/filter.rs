//! Event filtering for event source mappings (`FilterCriteria`): each
//! record is matched against the mapping's patterns, in EventBridge's pattern
//! language as Lambda reads it ([`nimbus_patterns`], [`Flavour::Lambda`]).
//! A record is delivered when any filter matches it; records that match none
//! are dropped (for a queue, deleted; for a stream, passed over).

use nimbus_patterns::{Flavour, Pattern};
use serde_json::Value;

/// Check a `FilterCriteria.Filters[].Pattern` string as Lambda does.
/// Returns why not, in the pattern language's words.
pub fn check_pattern(pattern: &str) -> Result<Pattern, String> {
    Pattern::parse_as(pattern, Flavour::Lambda).map_err(|e| e.reason().to_string())
}

/// The patterns of a mapping, compiled (patterns were checked when it was saved).
pub fn compile(patterns: &[String]) -> Vec<Pattern> {
    patterns
        .iter()
        .filter_map(|p| check_pattern(p).ok())
        .collect()
}

/// Whether a record passes a mapping's filters: any matches, or there are none.
pub fn keep(filters: &[Pattern], record: &Value) -> bool {
    filters.is_empty() || filters.iter().any(|f| f.matches(record))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn m(p: &str, e: Value) -> bool {
        check_pattern(p).unwrap().matches(&e)
    }

    #[test]
    fn patterns_match_as_eventbridge_defines() {
        let rec = json!({"eventName": "INSERT", "dynamodb": {"NewImage": {"status": {"S": "open"}, "n": {"N": "5"}}}, "tags": ["a", "b"]});
        assert!(m(r#"{"eventName": ["INSERT", "MODIFY"]}"#, rec.clone()));
        assert!(!m(r#"{"eventName": ["REMOVE"]}"#, rec.clone()));
        assert!(m(
            r#"{"dynamodb": {"NewImage": {"status": {"S": ["open"]}}}}"#,
            rec.clone()
        ));
        assert!(m(
            r#"{"dynamodb": {"NewImage": {"status": {"S": [{"prefix": "op"}]}}}}"#,
            rec.clone()
        ));
        assert!(m(
            r#"{"eventName": [{"anything-but": ["REMOVE"]}]}"#,
            rec.clone()
        ));
        assert!(m(
            r#"{"missing": [{"exists": false}], "eventName": [{"exists": true}]}"#,
            rec.clone()
        ));
        assert!(m(r#"{"tags": ["b"]}"#, rec.clone()));
        assert!(m(
            r#"{"body": {"n": [{"numeric": [">", 1, "<=", 5]}]}}"#,
            json!({"body": {"n": 5}})
        ));
        assert!(!m(
            r#"{"body": {"n": [{"numeric": [">", 5]}]}}"#,
            json!({"body": {"n": 5}})
        ));
        assert!(m(r#"{"$or": [{"a": [1]}, {"b": [2]}]}"#, json!({"b": 2})));
        assert!(m(r#"{"a": [{"suffix": ".png"}]}"#, json!({"a": "x.png"})));
        assert!(m(
            r#"{"a": [{"equals-ignore-case": "ABC"}]}"#,
            json!({"a": "abc"})
        ));
        assert!(m(r#"{"a": [null]}"#, json!({"a": null})));
        assert!(!m(r#"{"a": ["1"]}"#, json!({"a": 1})));
    }

    #[test]
    fn bad_patterns_are_refused() {
        for p in [
            "not json",
            "[]",
            r#"{"a": "scalar"}"#,
            r#"{"a": [{"numeric": [">"]}]}"#,
            r#"{"a": [{"wat": 1}]}"#,
            r#"{"a": [{"wildcard": "x*"}]}"#,
            r#"{"a": [{"anything-but": {"prefix": "x"}}]}"#,
        ] {
            assert!(check_pattern(p).is_err(), "{p}");
        }
    }
}
