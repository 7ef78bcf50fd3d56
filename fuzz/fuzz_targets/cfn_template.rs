//! CloudFormation templates: any text parsed as a JSON or YAML template never
//! panics, and a template that parses binds its parameters (those without a
//! default get the input's first line), plans and resolves every resource and
//! output through a resolver that answers everything, without panicking.
#![no_main]
use libfuzzer_sys::fuzz_target;
use nimbus_templates::{DynamicRef, Pseudo, Resolver, Stack, parse};
use serde_json::Value;
use std::collections::BTreeMap;

struct Anything;

impl Resolver for Anything {
    fn ref_of(&self, id: &str) -> Result<Value, String> {
        Ok(Value::String(format!("{id}-id")))
    }
    fn attribute(&self, id: &str, name: &str) -> Result<Value, String> {
        Ok(Value::String(format!("{id}.{name}")))
    }
    fn import(&self, name: &str) -> Result<Value, String> {
        Ok(Value::String(name.to_string()))
    }
    fn dynamic(&self, r: &DynamicRef) -> Result<String, String> {
        Ok(format!("{r:?}"))
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(template) = parse(text) else {
        return;
    };
    let given = text.lines().next().unwrap_or_default().to_string();
    let overrides: BTreeMap<String, String> = template
        .parameters
        .iter()
        .filter(|(_, p)| p.default.is_none())
        .map(|(name, _)| (name.clone(), given.clone()))
        .collect();
    let pseudo = Pseudo::new("123456789012", "us-east-1", "fuzz");
    let Ok(stack) = Stack::new(&template, &overrides, pseudo, &Anything) else {
        return;
    };
    if let Ok(plan) = stack.plan() {
        for id in &plan.order {
            let _ = stack.resource(id, &Anything);
        }
    }
    let _ = stack.outputs(&Anything);
});
