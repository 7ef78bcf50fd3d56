//! Function names, partial and full ARNs, and role ARNs parse or fail cleanly.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(r) = nimbus_model::FunctionRef::parse(text) {
        assert!(nimbus_model::arn::is_valid_function_name(&r.name));
    }
    let _ = nimbus_model::arn::is_valid_role_arn(text);
    let _ = nimbus_model::time::parse_amz_date(text);
    let _ = nimbus_model::Runtime::parse(text);
});
