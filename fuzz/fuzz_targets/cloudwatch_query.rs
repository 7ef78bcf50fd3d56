//! CloudWatch's query protocol: any form body becomes the operations'
//! structure without panicking, and that structure written back as the
//! answer's XML members does not panic either.
#![no_main]
use libfuzzer_sys::fuzz_target;
use nimbus_api_cloudwatch::query::{params, xml};

fuzz_target!(|data: &[u8]| {
    let pairs = nimbus_api_common::query::parse_form(data);
    let p = params(&pairs);
    let mut out = String::new();
    xml(&p, "", &["Timestamp", "StartTime"], &mut out);
});
