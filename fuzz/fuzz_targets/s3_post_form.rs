//! S3's browser upload forms: a body read as `multipart/form-data` (the
//! fields before the file, the file's end), its policy document decoded and
//! checked, its fields as headers and its tagging document; none panics.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    nimbus_api_s3::post::read_form(data, "multipart/form-data; boundary=XyZ");
    // The first line may name its own boundary.
    if let Some(i) = data.iter().position(|b| *b == b'\n')
        && let Ok(content_type) = std::str::from_utf8(&data[..i])
    {
        nimbus_api_s3::post::read_form(&data[i + 1..], content_type);
    }
    // The whole input as a policy field.
    if let Ok(text) = std::str::from_utf8(data) {
        use base64::Engine as _;
        for policy in [
            text.to_string(),
            base64::engine::general_purpose::STANDARD.encode(data),
        ] {
            let body = format!(
                "--XyZ\r\nContent-Disposition: form-data; name=\"policy\"\r\n\r\n{policy}\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n\r\nx\r\n--XyZ--\r\n"
            );
            nimbus_api_s3::post::read_form(body.as_bytes(), "multipart/form-data; boundary=XyZ");
        }
    }
});
