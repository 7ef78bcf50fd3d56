//! Streamed response bodies: a body fed through a channel (for responses a
//! function streams), and the AWS event stream message encoding
//! (`application/vnd.amazon.eventstream`, as `InvokeWithResponseStream` answers).

use bytes::{BufMut, Bytes, BytesMut};
use http_body::Frame;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A response body of any kind (buffered or streamed).
pub type StreamedBody = http_body_util::combinators::UnsyncBoxBody<Bytes, std::io::Error>;

/// A body whose pieces arrive through a channel; it ends when the sender is dropped.
pub struct ChannelBody(tokio::sync::mpsc::Receiver<Bytes>);

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        self.0.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b))))
    }
}

pub fn channel_body(rx: tokio::sync::mpsc::Receiver<Bytes>) -> StreamedBody {
    use http_body_util::BodyExt;
    ChannelBody(rx).boxed_unsync()
}

pub fn full_body(b: impl Into<Bytes>) -> StreamedBody {
    use http_body_util::BodyExt;
    http_body_util::Full::new(b.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

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
