//! Deployment-package validation never panics on arbitrary bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = nimbus_functions::code::validate(data);
});
