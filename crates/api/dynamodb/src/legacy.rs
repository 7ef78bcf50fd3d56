//! DynamoDB's legacy (pre-expression) parameters, as older SDK code and
//! libraries still send them: `Expected`, `KeyConditions`, `QueryFilter`,
//! `ScanFilter` (with `ConditionalOperator`) and `AttributeUpdates`. Each is
//! rewritten into the expression DynamoDB documents as its equivalent
//! (`ConditionExpression`, `KeyConditionExpression`, `FilterExpression`,
//! `UpdateExpression`) with placeholder names and values of its own, so one
//! evaluator serves both. Mixing them with expression parameters is refused
//! with DynamoDB's message. (`AttributesToGet` is read where projections are.)

use crate::R;
use crate::error::DdbError;
use serde_json::{Map, Value};

/// Legacy parameter -> the expression parameter it becomes.
const LEGACY: [(&str, &str); 5] = [
    ("Expected", "ConditionExpression"),
    ("KeyConditions", "KeyConditionExpression"),
    ("QueryFilter", "FilterExpression"),
    ("ScanFilter", "FilterExpression"),
    ("AttributeUpdates", "UpdateExpression"),
];

/// The expression parameters a request may not mix with legacy ones.
const EXPRESSIONS: [&str; 5] = [
    "ConditionExpression",
    "KeyConditionExpression",
    "FilterExpression",
    "UpdateExpression",
    "ProjectionExpression",
];

/// Placeholders for one request's rewritten parameters.
#[derive(Default)]
struct Placeholders {
    names: Map<String, Value>,
    values: Map<String, Value>,
}

impl Placeholders {
    fn name(&mut self, attribute: &str) -> String {
        let key = format!("#legacy{}", self.names.len());
        self.names
            .insert(key.clone(), Value::String(attribute.to_string()));
        key
    }

    fn value(&mut self, v: &Value) -> String {
        let key = format!(":legacy{}", self.values.len());
        self.values.insert(key.clone(), v.clone());
        key
    }
}

/// `v` with its legacy parameters rewritten as expressions; `None` when it
/// has none (the request is used as it is).
pub fn rewrite(v: &Value) -> R<Option<Value>> {
    let given: Vec<&str> = LEGACY
        .iter()
        .map(|(l, _)| *l)
        .chain(["ConditionalOperator"])
        .filter(|l| v.get(*l).is_some_and(|x| !x.is_null()))
        .collect();
    if given.is_empty() {
        return Ok(None);
    }
    let expressions: Vec<&str> = EXPRESSIONS
        .iter()
        .copied()
        .filter(|e| v.get(*e).is_some_and(|x| !x.is_null()))
        .collect();
    if !expressions.is_empty() {
        return Err(DdbError::validation(format!(
            "Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {{{}}} Expression parameters: {{{}}}",
            given.join(", "),
            expressions.join(", ")
        )));
    }
    for p in ["ExpressionAttributeNames", "ExpressionAttributeValues"] {
        if v.get(p).is_some_and(|x| !x.is_null()) {
            return Err(DdbError::validation(format!(
                "{p} can only be specified when using expressions"
            )));
        }
    }
    let joiner = match v.get("ConditionalOperator").and_then(Value::as_str) {
        None | Some("AND") => " AND ",
        Some("OR") => " OR ",
        Some(other) => {
            return Err(DdbError::validation(format!(
                "1 validation error detected: Value '{other}' at 'conditionalOperator' failed to satisfy constraint: Member must satisfy enum value set: [AND, OR]"
            )));
        }
    };
    let mut out = v.clone();
    let o = out.as_object_mut().expect("a request is an object");
    let mut p = Placeholders::default();
    for (legacy, expression) in LEGACY {
        let Some(conditions) = o.remove(legacy).filter(|x| !x.is_null()) else {
            continue;
        };
        let map = conditions.as_object().ok_or_else(|| {
            DdbError::validation(format!("{legacy} must be a map of attribute names"))
        })?;
        let text = match legacy {
            "AttributeUpdates" => updates(map, &mut p)?,
            "KeyConditions" => conditions_of(map, legacy, &mut p)?.join(" AND "),
            _ => conditions_of(map, legacy, &mut p)?.join(joiner),
        };
        if !text.is_empty() {
            o.insert(expression.to_string(), Value::String(text));
        }
    }
    o.remove("ConditionalOperator");
    if !p.names.is_empty() {
        o.insert("ExpressionAttributeNames".into(), Value::Object(p.names));
    }
    if !p.values.is_empty() {
        o.insert("ExpressionAttributeValues".into(), Value::Object(p.values));
    }
    Ok(Some(out))
}

/// The conditions of `Expected`, `KeyConditions`, `QueryFilter` or
/// `ScanFilter`, one expression each.
fn conditions_of(map: &Map<String, Value>, legacy: &str, p: &mut Placeholders) -> R<Vec<String>> {
    let mut out = Vec::new();
    for (attribute, c) in map {
        let name = p.name(attribute);
        let list: Vec<&Value> = c
            .get("AttributeValueList")
            .and_then(Value::as_array)
            .map(|l| l.iter().collect())
            .unwrap_or_default();
        let operator = c.get("ComparisonOperator").and_then(Value::as_str);
        // `Expected`'s older form: `Exists` and `Value`.
        let Some(operator) = operator else {
            if legacy != "Expected" {
                return Err(DdbError::validation(format!(
                    "One or more parameter values were invalid: ComparisonOperator is required for {legacy} on {attribute}"
                )));
            }
            let exists = c.get("Exists").and_then(Value::as_bool).unwrap_or(true);
            let value = c.get("Value");
            out.push(match (exists, value) {
                (true, Some(v)) => format!("{name} = {}", p.value(v)),
                (true, None) => {
                    return Err(DdbError::validation(
                        "One or more parameter values were invalid: Value must be provided when Exists is true for Attribute: ".to_string()
                            + attribute,
                    ));
                }
                (false, None) => format!("attribute_not_exists({name})"),
                (false, Some(_)) => {
                    return Err(DdbError::validation(format!(
                        "One or more parameter values were invalid: Value cannot be used when Exists is false for Attribute: {attribute}"
                    )));
                }
            });
            continue;
        };
        let arity = |n: usize| -> R<()> {
            if list.len() == n {
                return Ok(());
            }
            Err(DdbError::validation(format!(
                "One or more parameter values were invalid: Invalid number of argument(s) for the {operator} ComparisonOperator"
            )))
        };
        let key_condition = legacy == "KeyConditions";
        let allowed_in_keys = matches!(
            operator,
            "EQ" | "LE" | "LT" | "GE" | "GT" | "BEGINS_WITH" | "BETWEEN"
        );
        if key_condition && !allowed_in_keys {
            return Err(DdbError::validation(format!(
                "One or more parameter values were invalid: Unsupported operator on KeyCondition: {operator}"
            )));
        }
        let compare = |symbol: &str, p: &mut Placeholders| -> R<String> {
            arity(1)?;
            Ok(format!("{name} {symbol} {}", p.value(list[0])))
        };
        out.push(match operator {
            "EQ" => compare("=", p)?,
            "NE" => compare("<>", p)?,
            "LE" => compare("<=", p)?,
            "LT" => compare("<", p)?,
            "GE" => compare(">=", p)?,
            "GT" => compare(">", p)?,
            "NOT_NULL" => {
                arity(0)?;
                format!("attribute_exists({name})")
            }
            "NULL" => {
                arity(0)?;
                format!("attribute_not_exists({name})")
            }
            "CONTAINS" => {
                arity(1)?;
                format!("contains({name}, {})", p.value(list[0]))
            }
            "NOT_CONTAINS" => {
                arity(1)?;
                format!("NOT contains({name}, {})", p.value(list[0]))
            }
            "BEGINS_WITH" => {
                arity(1)?;
                format!("begins_with({name}, {})", p.value(list[0]))
            }
            "IN" => {
                if list.is_empty() {
                    arity(1)?;
                }
                let values: Vec<String> = list.iter().map(|v| p.value(v)).collect();
                format!("{name} IN ({})", values.join(", "))
            }
            "BETWEEN" => {
                arity(2)?;
                let (a, b) = (p.value(list[0]), p.value(list[1]));
                format!("{name} BETWEEN {a} AND {b}")
            }
            other => {
                return Err(DdbError::validation(format!(
                    "1 validation error detected: Value '{other}' at 'comparisonOperator' failed to satisfy constraint: Member must satisfy enum value set: [IN, NULL, BETWEEN, LT, NOT_CONTAINS, EQ, GT, NOT_NULL, NE, LE, BEGINS_WITH, GE, CONTAINS]"
                )));
            }
        });
    }
    Ok(out)
}

/// `AttributeUpdates` as an `UpdateExpression`: `PUT` sets, `ADD` adds to a
/// number or set, `DELETE` removes the attribute (or, with a value, those
/// elements from a set).
fn updates(map: &Map<String, Value>, p: &mut Placeholders) -> R<String> {
    let (mut set, mut add, mut delete, mut remove) = (vec![], vec![], vec![], vec![]);
    for (attribute, u) in map {
        let name = p.name(attribute);
        let action = u.get("Action").and_then(Value::as_str).unwrap_or("PUT");
        let value = u.get("Value");
        match (action, value) {
            ("PUT", Some(v)) => set.push(format!("{name} = {}", p.value(v))),
            ("ADD", Some(v)) => add.push(format!("{name} {}", p.value(v))),
            ("DELETE", Some(v)) => delete.push(format!("{name} {}", p.value(v))),
            ("DELETE", None) => remove.push(name),
            ("PUT" | "ADD", None) => {
                return Err(DdbError::validation(format!(
                    "One or more parameter values were invalid: Only DELETE action is allowed when no attribute value is specified: {attribute}"
                )));
            }
            (other, _) => {
                return Err(DdbError::validation(format!(
                    "1 validation error detected: Value '{other}' at 'attributeUpdates.{attribute}.member.action' failed to satisfy constraint: Member must satisfy enum value set: [ADD, PUT, DELETE]"
                )));
            }
        }
    }
    let mut clauses = Vec::new();
    for (word, parts) in [
        ("SET", set),
        ("ADD", add),
        ("DELETE", delete),
        ("REMOVE", remove),
    ] {
        if !parts.is_empty() {
            clauses.push(format!("{word} {}", parts.join(", ")));
        }
    }
    Ok(clauses.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn expected_and_updates_become_expressions() {
        let v = json!({"TableName": "t", "Key": {"pk": {"S": "a"}},
            "Expected": {"n": {"ComparisonOperator": "GT", "AttributeValueList": [{"N": "1"}]},
                         "gone": {"Exists": false}},
            "ConditionalOperator": "OR",
            "AttributeUpdates": {"n": {"Action": "ADD", "Value": {"N": "2"}},
                                 "s": {"Value": {"S": "x"}}, "old": {"Action": "DELETE"}}});
        let out = rewrite(&v).unwrap().unwrap();
        assert_eq!(
            out["ConditionExpression"],
            "attribute_not_exists(#legacy0) OR #legacy1 > :legacy0"
        );
        assert_eq!(
            out["UpdateExpression"],
            "SET #legacy4 = :legacy2 ADD #legacy2 :legacy1 REMOVE #legacy3"
        );
        assert_eq!(out["ExpressionAttributeNames"]["#legacy1"], "n");
        assert!(out.get("Expected").is_none() && out.get("ConditionalOperator").is_none());
    }

    #[test]
    fn key_conditions_filters_and_refusals() {
        let v = json!({"KeyConditions": {
            "pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "a"}]},
            "sk": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [{"N": "1"}, {"N": "5"}]}},
            "QueryFilter": {"tags": {"ComparisonOperator": "CONTAINS", "AttributeValueList": [{"S": "x"}]}}});
        let out = rewrite(&v).unwrap().unwrap();
        assert_eq!(
            out["KeyConditionExpression"],
            "#legacy0 = :legacy0 AND #legacy1 BETWEEN :legacy1 AND :legacy2"
        );
        assert_eq!(out["FilterExpression"], "contains(#legacy2, :legacy3)");
        let mixed = json!({"Expected": {"a": {"Exists": false}}, "ConditionExpression": "x"});
        let e = rewrite(&mixed).unwrap_err();
        assert!(
            e.0.message.contains(
                "Non-expression parameters: {Expected} Expression parameters: {ConditionExpression}"
            ),
            "{}",
            e.0.message
        );
        let bad = json!({"KeyConditions": {"pk": {"ComparisonOperator": "NE", "AttributeValueList": [{"S": "a"}]}}});
        assert!(
            rewrite(&bad)
                .unwrap_err()
                .0
                .message
                .contains("Unsupported operator on KeyCondition: NE")
        );
        let arity = json!({"ScanFilter": {"a": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [{"N": "1"}]}}});
        assert!(
            rewrite(&arity)
                .unwrap_err()
                .0
                .message
                .contains("Invalid number of argument(s)")
        );
        assert!(rewrite(&json!({"TableName": "t"})).unwrap().is_none());
    }
}
