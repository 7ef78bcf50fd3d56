//! The States Language: definitions (with their paths, templates, intrinsic
//! calls and choice rules), JSONPath selection and `ResultPath` placement,
//! intrinsic functions, JSONata expressions (parsed and evaluated) and
//! timestamps never panic on any input.
#![no_main]
use libfuzzer_sys::fuzz_target;
use nimbus_workflows::path::Path;
use nimbus_workflows::{asl, engine, intrinsics, jsonata, time};
use serde_json::json;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let doc = json!({
        "a": {"b": [1, "two", {"c": null}], "s": "text"},
        "items": [{"id": 1}, {"id": 2}],
        "n": 3,
    });
    let _ = asl::parse(text);
    if let Ok(p) = Path::parse(text) {
        let _ = p.select(&doc);
        let mut target = doc.clone();
        if p.is_reference() {
            let _ = p.set(&mut target, json!({"x": 1}));
        }
    }
    if let Ok(call) = intrinsics::parse(text) {
        let _ = intrinsics::eval(&call, &doc, &json!({"Execution": {"Name": "n"}}));
    }
    if let Ok(e) = jsonata::parse(text) {
        let vars = serde_json::Map::from_iter([("states".to_string(), json!({"input": doc.clone()}))]);
        let _ = jsonata::evaluate(&e, &doc, &vars);
    }
    let _ = time::parse_timestamp(text);
    let _ = engine::Resource::parse(text);
    // A field of a Pass state's Parameters, as a definition carries it.
    let wrapped = json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true,
        "Parameters": {"v.$": text}}}});
    if let Ok(m) = asl::parse(&wrapped.to_string())
        && let Some(t) = m.states["A"].parameters.as_ref()
    {
        let _ = engine::render_template(t, &doc, &json!({}));
    }
});
