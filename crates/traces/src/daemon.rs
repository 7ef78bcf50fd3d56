//! The X-Ray daemon's UDP protocol: each datagram is a header line
//! `{"format": "json", "version": 1}` and one segment document. Segments
//! are stored as they come (not synced: a datagram is never acknowledged).

use crate::Traces;
use std::sync::Arc;

/// The largest datagram the SDKs send (a segment document is at most 64 KB).
const MAX_DATAGRAM: usize = 65_536;

/// The segment document of a datagram, if its header is the daemon's.
pub fn document(datagram: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(datagram).ok()?;
    let (header, body) = text.split_once('\n')?;
    let h: serde_json::Value = serde_json::from_str(header).ok()?;
    (h.get("format").and_then(|f| f.as_str()) == Some("json")).then_some(body.trim())
}

/// Receive segments on `socket` until the task is aborted or the socket fails.
pub async fn serve(socket: tokio::net::UdpSocket, traces: Arc<Traces>) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let n = match socket.recv(&mut buf).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "trace daemon receive failed");
                return;
            }
        };
        let Some(doc) = document(&buf[..n]) else {
            tracing::debug!(bytes = n, "trace daemon: not a segment datagram");
            continue;
        };
        match traces.put(&[doc.to_string()], false) {
            Ok(rejected) => {
                for r in rejected {
                    tracing::debug!(code = %r.code, message = %r.message, "trace daemon: segment refused");
                }
            }
            Err(e) => tracing::warn!(error = %e, "store a segment failed"),
        }
    }
}

/// Serve a std socket (made inside an environment's network) on the current runtime.
pub fn spawn(
    socket: std::net::UdpSocket,
    traces: Arc<Traces>,
) -> std::io::Result<tokio::task::AbortHandle> {
    socket.set_nonblocking(true)?;
    let socket = tokio::net::UdpSocket::from_std(socket)?;
    Ok(tokio::spawn(serve(socket, traces)).abort_handle())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datagrams_carry_a_header_line_then_the_document() {
        assert_eq!(
            document(b"{\"format\": \"json\", \"version\": 1}\n{\"id\":\"a\"}"),
            Some("{\"id\":\"a\"}")
        );
        assert_eq!(document(b"{\"id\":\"a\"}"), None);
        assert_eq!(document(b"{\"format\":\"xml\"}\n{}"), None);
        assert_eq!(document(&[0xff, 0xfe, b'\n']), None);
    }
}
