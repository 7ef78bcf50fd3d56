//! SQS's query-protocol form parsing and its translation to JSON shapes and back
//! to XML never panic, whatever the body.
#![no_main]
use libfuzzer_sys::fuzz_target;
use nimbus_api_sqs::query;

fuzz_target!(|data: &[u8]| {
    let params = query::parse_form(data);
    if let Some((action, input)) = query::to_json(&params) {
        let _ = query::to_xml(&action, &input, "rid");
    }
    let e = nimbus_api_common::ApiError::bad_request(String::from_utf8_lossy(data), "m");
    let _ = query::SQS_QUERY.error_document(&e, "rid");
});
