//! The `aws-chunked` content encoding of S3 uploads: the body arrives as chunks,
//! each `<hex size>[;chunk-signature=<sig>]\r\n<data>\r\n`, ending with a zero-size
//! chunk and optional trailers (`x-amz-checksum-crc32:...`, and for signed
//! uploads `x-amz-trailer-signature:...`), then an empty line.
//!
//! [`Decoder`] is push-based: feed it whatever the connection delivered, get the
//! payload bytes out, and it verifies every chunk signature (each chains the
//! previous one, starting from the request's own signature) as it goes.

use crate::sigv4::{constant_time_eq, hmac};
use sha2::{Digest, Sha256};

/// Longest chunk header or trailer line we accept.
const MAX_LINE: usize = 4096;
/// Most trailer lines.
const MAX_TRAILERS: usize = 16;
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// What chunk signatures are checked against.
#[derive(Debug, Clone)]
pub struct ChunkSigning {
    /// The day's SigV4 signing key.
    pub key: Vec<u8>,
    /// The request's `X-Amz-Date`.
    pub amz_date: String,
    /// `date/region/service/aws4_request`.
    pub scope: String,
    /// The request's own signature: the first chunk's "previous signature".
    pub seed: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    #[error("{0}")]
    Malformed(String),
    #[error(
        "The request signature we calculated does not match the signature you provided (a chunk signature is wrong)."
    )]
    SignatureMismatch,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Header,
    Data,
    DataEnd,
    Trailer,
    Done,
}

#[derive(Debug)]
pub struct Decoder {
    state: State,
    line: Vec<u8>,
    remaining: u64,
    /// The signature the current chunk claims.
    claimed: Option<String>,
    hasher: Sha256,
    signing: Option<ChunkSigning>,
    previous: String,
    last_chunk: bool,
    trailers: Vec<(String, String)>,
    trailer_signature: Option<String>,
    decoded: u64,
}

impl Decoder {
    /// `signing` is `None` for `STREAMING-UNSIGNED-PAYLOAD-TRAILER` uploads.
    pub fn new(signing: Option<ChunkSigning>) -> Decoder {
        let previous = signing.as_ref().map(|s| s.seed.clone()).unwrap_or_default();
        Decoder {
            state: State::Header,
            line: Vec::new(),
            remaining: 0,
            claimed: None,
            hasher: Sha256::new(),
            signing,
            previous,
            last_chunk: false,
            trailers: Vec::new(),
            trailer_signature: None,
            decoded: 0,
        }
    }

    /// Payload bytes produced so far.
    pub fn decoded_len(&self) -> u64 {
        self.decoded
    }

    /// Decode `input`, handing payload bytes to `out` in order.
    pub fn push<E>(
        &mut self,
        mut input: &[u8],
        out: &mut dyn FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), PushError<E>> {
        while !input.is_empty() {
            match self.state {
                State::Done => {
                    return Err(PushError::Chunk(ChunkError::Malformed(
                        "data after the end of an aws-chunked body".into(),
                    )));
                }
                State::Header | State::Trailer | State::DataEnd => {
                    let Some(pos) = input.iter().position(|&b| b == b'\n') else {
                        self.append_line(input)?;
                        return Ok(());
                    };
                    self.append_line(&input[..pos + 1])?;
                    input = &input[pos + 1..];
                    let mut line = std::mem::take(&mut self.line);
                    line.pop();
                    if line.last() == Some(&b'\r') {
                        line.pop();
                    }
                    self.line_done(&line).map_err(PushError::Chunk)?;
                }
                State::Data => {
                    let n = (self.remaining as usize).min(input.len());
                    let (data, rest) = input.split_at(n);
                    if self.signing.is_some() {
                        self.hasher.update(data);
                    }
                    out(data).map_err(PushError::Sink)?;
                    self.decoded += n as u64;
                    self.remaining -= n as u64;
                    input = rest;
                    if self.remaining == 0 {
                        self.chunk_done().map_err(PushError::Chunk)?;
                        self.state = State::DataEnd;
                    }
                }
            }
        }
        Ok(())
    }

    fn append_line<E>(&mut self, bytes: &[u8]) -> Result<(), PushError<E>> {
        if self.state == State::DataEnd && bytes.iter().any(|&b| b != b'\r' && b != b'\n') {
            return Err(PushError::Chunk(ChunkError::Malformed(
                "an aws-chunked chunk is longer than its declared size".into(),
            )));
        }
        if self.line.len() + bytes.len() > MAX_LINE {
            return Err(PushError::Chunk(ChunkError::Malformed(
                "an aws-chunked header or trailer line is too long".into(),
            )));
        }
        self.line.extend_from_slice(bytes);
        Ok(())
    }

    fn line_done(&mut self, line: &[u8]) -> Result<(), ChunkError> {
        let malformed = |m: &str| ChunkError::Malformed(m.to_string());
        match self.state {
            State::DataEnd => {
                if !line.is_empty() {
                    return Err(malformed("an aws-chunked chunk does not end with CRLF"));
                }
                self.state = State::Header;
            }
            State::Header => {
                let text = std::str::from_utf8(line)
                    .map_err(|_| malformed("an aws-chunked chunk header is not text"))?;
                let (size, ext) = text.split_once(';').unwrap_or((text, ""));
                let size = u64::from_str_radix(size.trim(), 16)
                    .map_err(|_| malformed("an aws-chunked chunk size is not hexadecimal"))?;
                self.claimed = ext
                    .trim()
                    .strip_prefix("chunk-signature=")
                    .map(str::to_string);
                if self.signing.is_some() && self.claimed.is_none() {
                    return Err(malformed(
                        "a signed aws-chunked chunk has no chunk-signature",
                    ));
                }
                self.remaining = size;
                if size == 0 {
                    self.last_chunk = true;
                    self.chunk_done()?;
                    self.state = State::Trailer;
                } else {
                    self.state = State::Data;
                }
            }
            State::Trailer => {
                if line.is_empty() {
                    self.verify_trailer()?;
                    self.state = State::Done;
                    return Ok(());
                }
                let text = std::str::from_utf8(line)
                    .map_err(|_| malformed("an aws-chunked trailer is not text"))?;
                let (name, value) = text
                    .split_once(':')
                    .ok_or_else(|| malformed("an aws-chunked trailer is not name:value"))?;
                let name = name.trim().to_ascii_lowercase();
                if name == "x-amz-trailer-signature" {
                    self.trailer_signature = Some(value.trim().to_string());
                } else {
                    if self.trailers.len() == MAX_TRAILERS {
                        return Err(malformed("too many aws-chunked trailers"));
                    }
                    self.trailers.push((name, value.trim().to_string()));
                }
            }
            State::Data | State::Done => unreachable!("lines are only read between chunks"),
        }
        Ok(())
    }

    fn chunk_done(&mut self) -> Result<(), ChunkError> {
        let Some(s) = &self.signing else {
            return Ok(());
        };
        let digest = hex::encode(std::mem::take(&mut self.hasher).finalize());
        let sts = format!(
            "AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n{}\n{EMPTY_SHA256}\n{digest}",
            s.amz_date, s.scope, self.previous
        );
        let expected = hex::encode(hmac(&s.key, sts.as_bytes()));
        let claimed = self.claimed.take().unwrap_or_default().to_ascii_lowercase();
        if !constant_time_eq(expected.as_bytes(), claimed.as_bytes()) {
            return Err(ChunkError::SignatureMismatch);
        }
        self.previous = expected;
        Ok(())
    }

    fn verify_trailer(&mut self) -> Result<(), ChunkError> {
        let Some(s) = &self.signing else {
            return Ok(());
        };
        // Signed uploads without trailers end at the zero chunk.
        let Some(claimed) = &self.trailer_signature else {
            if self.trailers.is_empty() {
                return Ok(());
            }
            return Err(ChunkError::Malformed(
                "signed aws-chunked trailers need x-amz-trailer-signature".into(),
            ));
        };
        let mut canonical = String::new();
        for (k, v) in &self.trailers {
            canonical.push_str(&format!("{k}:{v}\n"));
        }
        let sts = format!(
            "AWS4-HMAC-SHA256-TRAILER\n{}\n{}\n{}\n{}",
            s.amz_date,
            s.scope,
            self.previous,
            hex::encode(Sha256::digest(canonical.as_bytes()))
        );
        let expected = hex::encode(hmac(&s.key, sts.as_bytes()));
        if constant_time_eq(expected.as_bytes(), claimed.to_ascii_lowercase().as_bytes()) {
            Ok(())
        } else {
            Err(ChunkError::SignatureMismatch)
        }
    }

    /// The body is complete: the trailers (lowercase names), or an error if it
    /// ended early.
    pub fn finish(self) -> Result<Vec<(String, String)>, ChunkError> {
        match self.state {
            State::Done => Ok(self.trailers),
            // Some clients omit the final empty line after the zero chunk.
            State::Trailer if self.line.is_empty() && self.last_chunk => {
                let mut me = self;
                me.verify_trailer()?;
                Ok(me.trailers)
            }
            _ => Err(ChunkError::Malformed(
                "the aws-chunked body ended before its final chunk".into(),
            )),
        }
    }
}

/// A push failed: the encoding, or the sink the payload went to.
#[derive(Debug)]
pub enum PushError<E> {
    Chunk(ChunkError),
    Sink(E),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(d: &mut Decoder, input: &[u8], step: usize) -> Result<Vec<u8>, ChunkError> {
        let mut out = Vec::new();
        for piece in input.chunks(step.max(1)) {
            d.push(piece, &mut |b: &[u8]| {
                out.extend_from_slice(b);
                Ok::<(), ()>(())
            })
            .map_err(|e| match e {
                PushError::Chunk(c) => c,
                PushError::Sink(()) => unreachable!(),
            })?;
        }
        Ok(out)
    }

    /// The worked example of AWS's "Signature Calculations for the Authorization
    /// Header: Transferring Payload in Multiple Chunks" (66,560 bytes of 'a' in
    /// chunks of 64 KiB and 1 KiB).
    fn aws_example() -> (ChunkSigning, Vec<u8>) {
        let key = crate::sigv4::signing_key(
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "20130524",
            "us-east-1",
            "s3",
        );
        let signing = ChunkSigning {
            key,
            amz_date: "20130524T000000Z".into(),
            scope: "20130524/us-east-1/s3/aws4_request".into(),
            seed: "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9".into(),
        };
        let mut body = Vec::new();
        body.extend_from_slice(b"10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n");
        body.extend(std::iter::repeat_n(b'a', 65536));
        body.extend_from_slice(b"\r\n400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n");
        body.extend(std::iter::repeat_n(b'a', 1024));
        body.extend_from_slice(b"\r\n0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n");
        (signing, body)
    }

    #[test]
    fn the_aws_example_decodes_in_any_split() {
        let (signing, body) = aws_example();
        for step in [1, 7, 4096, body.len()] {
            let mut d = Decoder::new(Some(signing.clone()));
            let out = decode_all(&mut d, &body, step).unwrap();
            assert_eq!(out.len(), 66560);
            assert!(out.iter().all(|&b| b == b'a'));
            assert_eq!(d.finish().unwrap(), vec![]);
        }
    }

    #[test]
    fn a_tampered_chunk_is_caught() {
        let (signing, mut body) = aws_example();
        body[200] = b'b';
        let mut d = Decoder::new(Some(signing));
        assert_eq!(
            decode_all(&mut d, &body, 1000),
            Err(ChunkError::SignatureMismatch)
        );
    }

    #[test]
    fn unsigned_with_a_trailer() {
        let body = b"5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n";
        let mut d = Decoder::new(None);
        assert_eq!(decode_all(&mut d, body, 3).unwrap(), b"hello world");
        assert_eq!(
            d.finish().unwrap(),
            vec![("x-amz-checksum-crc32".to_string(), "DUoRhQ==".to_string())]
        );
    }

    #[test]
    fn truncated_and_malformed_bodies_are_errors() {
        let mut d = Decoder::new(None);
        decode_all(&mut d, b"5\r\nhel", 100).unwrap();
        assert!(d.finish().is_err());
        for bad in [&b"zz\r\n"[..], b"5\r\nhelloXX", b"0\r\nno-colon\r\n"] {
            let mut d = Decoder::new(None);
            assert!(decode_all(&mut d, bad, 100).is_err(), "{bad:?}");
        }
        let mut d = Decoder::new(None);
        let long = vec![b'1'; MAX_LINE + 10];
        assert!(decode_all(&mut d, &long, 100).is_err());
    }
}
