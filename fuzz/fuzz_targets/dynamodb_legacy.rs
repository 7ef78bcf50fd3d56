//! DynamoDB's legacy parameters (`Expected`, `KeyConditions`, `QueryFilter`,
//! `ScanFilter`, `AttributeUpdates`, `ConditionalOperator`): any request
//! either is refused or becomes expressions that parse, with every
//! placeholder they name defined.
#![no_main]
use libfuzzer_sys::fuzz_target;
use nimbus_tables::expr::{self, Context};
use nimbus_tables::value::AttributeValue;
use serde_json::Value;
use std::collections::HashMap;

fuzz_target!(|data: &[u8]| {
    let Ok(v) = serde_json::from_slice::<Value>(data) else { return };
    if !v.is_object() {
        return;
    }
    let Ok(Some(out)) = nimbus_api_dynamodb::rewrite_legacy(&v) else { return };
    let names: HashMap<String, String> = out
        .get("ExpressionAttributeNames")
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect())
        .unwrap_or_default();
    let mut values = HashMap::new();
    for (k, v) in out.get("ExpressionAttributeValues").and_then(Value::as_object).into_iter().flatten() {
        // An attribute value the request carried that is not valid is refused
        // later by the service, as it would be in an expression request.
        let Ok(a) = AttributeValue::from_json(v) else { return };
        values.insert(k.clone(), a);
    }
    let mut ctx = Context::new(names, values);
    for (field, parse) in [
        ("ConditionExpression", 0),
        ("FilterExpression", 0),
        ("KeyConditionExpression", 1),
        ("UpdateExpression", 2),
    ] {
        let Some(text) = out.get(field).and_then(Value::as_str) else { continue };
        let parsed = match parse {
            0 => expr::parse_condition(text, field, &mut ctx).map(|_| ()),
            1 => expr::parse_key_condition(text, &mut ctx).map(|_| ()),
            _ => expr::parse_update(text, &mut ctx).map(|_| ()),
        };
        assert!(parsed.is_ok(), "{field} {text:?} from {v} does not parse");
    }
});
