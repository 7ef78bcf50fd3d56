//! S3 user metadata beyond ASCII: any header value decodes (RFC 2047 words or
//! not) without panicking, and any stored value comes back from its header
//! form unchanged.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let stored = nimbus_api_s3::metadata::decode(data);
    let header = nimbus_api_s3::metadata::encode(&stored);
    assert!(
        header
            .bytes()
            .all(|b| b == b'\t' || (0x20..0x7f).contains(&b))
    );
    if let Ok(text) = std::str::from_utf8(data)
        && !text.contains("=?")
    {
        assert_eq!(
            nimbus_api_s3::metadata::decode(nimbus_api_s3::metadata::encode(text).as_bytes()),
            text
        );
    }
});
