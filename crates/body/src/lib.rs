//! The response body every Nimbus front door answers with (the edge, each AWS
//! API, the gateway): a whole buffer, a file read piece by piece, or pieces a
//! function streams through a channel, behind one boxed type.
//!
//! Not for request bodies: those arrive as hyper's `Incoming` and each API
//! reads them its own way.

use bytes::Bytes;
use http_body::Frame;
use http_body_util::BodyExt;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A response body of any kind (buffered or streamed).
pub type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, std::io::Error>;

/// A body holding `b` whole.
pub fn full(b: impl Into<Bytes>) -> Body {
    http_body_util::Full::new(b.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

pub fn empty() -> Body {
    full(Bytes::new())
}

/// A body whose pieces arrive through a channel; it ends when the sender is dropped.
pub fn channel(rx: tokio::sync::mpsc::Receiver<Bytes>) -> Body {
    ChannelBody(rx).boxed_unsync()
}

struct ChannelBody(tokio::sync::mpsc::Receiver<Bytes>);

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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_channel_body_ends_when_its_sender_is_dropped() {
        let (tx, rx) = tokio::sync::mpsc::channel(2);
        tx.send(Bytes::from_static(b"a")).await.unwrap();
        tx.send(Bytes::from_static(b"b")).await.unwrap();
        drop(tx);
        let all = channel(rx).collect().await.unwrap().to_bytes();
        assert_eq!(&all[..], b"ab");
        assert_eq!(&full("xyz").collect().await.unwrap().to_bytes()[..], b"xyz");
    }
}
