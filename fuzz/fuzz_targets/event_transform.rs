//! Event transforms: any text as an EventBridge `InputTransformer` (its
//! `InputTemplate` and `InputPathsMap`), an `InputPath`, or a Pipes input
//! template, applied to an event made from the rest of the input (JSON if
//! it parses, a string otherwise), never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;
use nimbus_events::{Target, target_input};
use nimbus_pipes::template::{Context, apply};
use serde_json::{Value, json};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut parts = text.splitn(3, '\n');
    let template = parts.next().unwrap_or("");
    let paths = parts.next().unwrap_or("");
    let rest = parts.next().unwrap_or("");
    let event = serde_json::from_str::<Value>(rest).unwrap_or_else(|_| Value::String(rest.into()));
    let paths_map = serde_json::from_str::<Value>(paths).unwrap_or_else(|_| json!({"p": paths}));
    let transformer = Target {
        input_transformer: Some(json!({"InputPathsMap": paths_map, "InputTemplate": template})),
        ..Target::default()
    };
    let _ = target_input(&transformer, &event);
    let path = Target {
        input_path: Some(paths.to_string()),
        ..Target::default()
    };
    let _ = target_input(&path, &event);
    let ctx = Context {
        pipe_arn: "arn:aws:pipes:us-east-1:000000000000:pipe/p",
        pipe_name: "p",
        source_arn: "",
        enrichment_arn: "",
        target_arn: "",
    };
    let _ = apply(template, &event, &ctx);
});
