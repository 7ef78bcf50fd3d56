//! DynamoDB's expression language (condition, update, projection and key
//! condition expressions), PartiQL statements, attribute values and numbers
//! never panic on any input, and what parses evaluates and applies without
//! panicking either; PartiQL's translations parse as expressions.
#![no_main]
use libfuzzer_sys::fuzz_target;
use nimbus_tables::expr::{self, Context};
use nimbus_tables::value::{AttributeValue, Item, Number};
use std::collections::HashMap;

fn context() -> Context {
    let names = HashMap::from([("#a".to_string(), "a".to_string()), ("#l".to_string(), "l".to_string())]);
    let values = HashMap::from([
        (":n".to_string(), AttributeValue::N(Number::from_i64(3))),
        (":s".to_string(), AttributeValue::S("x".into())),
        (":l".to_string(), AttributeValue::L(vec![AttributeValue::Null])),
        (":ss".to_string(), AttributeValue::Ss(vec!["x".into()])),
    ]);
    Context::new(names, values)
}

fn item() -> Item {
    Item::from([
        ("a".to_string(), AttributeValue::N(Number::from_i64(1))),
        ("s".to_string(), AttributeValue::S("xyz".into())),
        ("l".to_string(), AttributeValue::L(vec![AttributeValue::Bool(true), AttributeValue::M(Item::new())])),
        ("ss".to_string(), AttributeValue::Ss(vec!["x".into(), "y".into()])),
    ])
}

fuzz_target!(|data: &[u8]| {
    let Some((&kind, rest)) = data.split_first() else { return };
    let src = String::from_utf8_lossy(rest);
    let mut ctx = context();
    match kind % 6 {
        0 => {
            if let Ok(c) = expr::parse_condition(&src, "ConditionExpression", &mut ctx) {
                c.eval(&item());
                c.eval(&Item::new());
            }
        }
        1 => {
            if let Ok(u) = expr::parse_update(&src, &mut ctx) {
                let mut i = item();
                let _ = u.apply(&mut i);
                let _ = u.paths();
            }
        }
        2 => {
            if let Ok(p) = expr::parse_projection(&src, &mut ctx) {
                expr::project(&item(), &p);
            }
        }
        3 => {
            let _ = expr::parse_key_condition(&src, &mut ctx);
        }
        4 => {
            let params = [AttributeValue::S("p".into()), AttributeValue::N(Number::from_i64(7))];
            if let Ok(p) = nimbus_tables::partiql::parse(&src, &params) {
                let mut c = Context::new(p.names, p.values);
                let texts: Vec<String> = match p.statement {
                    nimbus_tables::partiql::Statement::Select { filter, .. } => {
                        filter.map(|w| w.condition).into_iter().collect()
                    }
                    nimbus_tables::partiql::Statement::Update { filter, update, .. } => {
                        let _ = expr::parse_update(&update, &mut c);
                        vec![filter.condition]
                    }
                    nimbus_tables::partiql::Statement::Delete { filter, .. } => vec![filter.condition],
                    nimbus_tables::partiql::Statement::Insert { .. } => vec![],
                };
                for t in texts {
                    if let Ok(cond) = expr::parse_condition(&t, "ConditionExpression", &mut c) {
                        cond.eval(&item());
                    }
                }
            }
        }
        _ => {
            let _ = Number::parse(&src);
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(rest) {
                if let Ok(a) = AttributeValue::from_json(&v) {
                    let _ = a.to_json();
                    let _ = a.size();
                }
            }
        }
    }
    let _ = ctx.check_unused();
});
