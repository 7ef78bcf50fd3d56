//! Smithy RPC v2 CBOR bodies: any bytes read as CBOR never panic (nor does
//! the error's message), and what reads is written back to the same value.
#![no_main]
use libfuzzer_sys::fuzz_target;
use nimbus_api_common::cbor;

fuzz_target!(|data: &[u8]| {
    match cbor::decode(data) {
        Ok(v) => {
            let again = cbor::decode(&cbor::encode(&v, &["Timestamp"])).expect("what was written reads");
            assert_eq!(again, v);
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
