//! The AWS event stream message encoding (`application/vnd.amazon.eventstream`,
//! as `InvokeWithResponseStream` answers). The body type itself is
//! `nimbus_body::Body`.

use bytes::{BufMut, Bytes, BytesMut};

/// One event stream message with string headers: prelude (total length,
/// headers length, CRC32 of those 8 bytes), headers, payload, CRC32 of all.
pub fn event_message(headers: &[(&str, &str)], payload: &[u8]) -> Bytes {
    let mut h = BytesMut::new();
    for (name, value) in headers {
        h.put_u8(name.len() as u8);
        h.put_slice(name.as_bytes());
        h.put_u8(7); // string
        h.put_u16(value.len() as u16);
        h.put_slice(value.as_bytes());
    }
    let total = 12 + h.len() + payload.len() + 4;
    let mut m = BytesMut::with_capacity(total);
    m.put_u32(total as u32);
    m.put_u32(h.len() as u32);
    let prelude_crc = crc32fast::hash(&m[..8]);
    m.put_u32(prelude_crc);
    m.put_slice(&h);
    m.put_slice(payload);
    let crc = crc32fast::hash(&m);
    m.put_u32(crc);
    m.freeze()
}

/// An `event` message of type `event_type`.
pub fn event(event_type: &str, content_type: &str, payload: &[u8]) -> Bytes {
    event_message(
        &[
            (":event-type", event_type),
            (":content-type", content_type),
            (":message-type", "event"),
        ],
        payload,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_messages_have_valid_lengths_and_checksums() {
        let m = event("PayloadChunk", "application/octet-stream", b"hello");
        let total = u32::from_be_bytes(m[0..4].try_into().unwrap()) as usize;
        let headers = u32::from_be_bytes(m[4..8].try_into().unwrap()) as usize;
        assert_eq!(total, m.len());
        assert_eq!(
            u32::from_be_bytes(m[8..12].try_into().unwrap()),
            crc32fast::hash(&m[..8])
        );
        assert_eq!(&m[12 + headers..total - 4], b"hello");
        assert_eq!(
            u32::from_be_bytes(m[total - 4..].try_into().unwrap()),
            crc32fast::hash(&m[..total - 4])
        );
    }
}
