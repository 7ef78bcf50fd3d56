//! Bodies in both directions, streamed: uploads go from the connection through
//! the payload's verification (SHA-256, `aws-chunked` signatures, checksums)
//! into a data file without being held in memory; downloads are read from the
//! object's data files a piece at a time.

use crate::checksum::Hasher;
use crate::error::S3Error;
use bytes::Bytes;
use http::StatusCode;
use http_body::Frame;
use http_body_util::BodyExt;
use nimbus_api_common::chunked::{ChunkError, ChunkSigning, Decoder, PushError};
use nimbus_objects::data::{DataDir, DataWriter, Written};
use nimbus_objects::{Checksum, Segment};
use sha2::Digest;
use std::collections::VecDeque;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::pin::Pin;
use std::task::{Context, Poll};

pub use nimbus_body::{Body, empty, full};

/// A request's body: streamed from the connection (the edge), or already in
/// memory (calls made inside the server, whose payload is not signed).
pub enum RequestBody {
    Streamed(hyper::body::Incoming),
    /// Taken on the first poll.
    Buffered(Option<Bytes>),
}

impl http_body::Body for RequestBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.get_mut() {
            RequestBody::Streamed(b) => Pin::new(b).poll_frame(cx),
            RequestBody::Buffered(b) => Poll::Ready(b.take().map(|d| Ok(Frame::data(d)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            RequestBody::Streamed(b) => b.is_end_stream(),
            RequestBody::Buffered(b) => b.is_none(),
        }
    }

    fn size_hint(&self) -> http_body::SizeHint {
        match self {
            RequestBody::Streamed(b) => b.size_hint(),
            RequestBody::Buffered(b) => {
                http_body::SizeHint::with_exact(b.as_ref().map_or(0, |d| d.len() as u64))
            }
        }
    }
}

/// How the request's payload is signed, from `x-amz-content-sha256`.
#[derive(Debug, Clone)]
pub enum Payload {
    /// The hex SHA-256 the signature covers: the body must hash to it.
    Sha256(String),
    /// `UNSIGNED-PAYLOAD` (and presigned URLs).
    Unsigned,
    /// `aws-chunked`: `STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]` (signed
    /// chunks) or `STREAMING-UNSIGNED-PAYLOAD-TRAILER` (`None`).
    Chunked(Option<ChunkSigning>),
}

/// What the client claimed about the body, to check once it is in.
#[derive(Default)]
pub struct Checks {
    /// `Content-MD5`, decoded.
    pub content_md5: Option<Vec<u8>>,
    /// The checksum algorithm and the value claimed in a header (`None` when it
    /// comes in a trailer).
    pub checksum: Option<(String, Option<String>)>,
    /// `x-amz-decoded-content-length` of an `aws-chunked` body.
    pub decoded_length: Option<u64>,
    /// The payload's size as declared (`Content-Length`, or the decoded length).
    pub declared_length: Option<u64>,
}

/// Where received bytes go.
trait Sink {
    fn put(&mut self, data: &[u8]) -> Result<(), S3Error>;
}

struct FileSink<'a> {
    writer: &'a mut DataWriter,
    max: u64,
}

impl Sink for FileSink<'_> {
    fn put(&mut self, data: &[u8]) -> Result<(), S3Error> {
        if self.writer.size() + data.len() as u64 > self.max {
            return Err(S3Error::bad(
                "EntityTooLarge",
                "Your proposed upload exceeds the maximum allowed size",
            ));
        }
        self.writer
            .write(data)
            .map_err(|e| S3Error::internal(format!("write object data: {e}")))
    }
}

struct MemSink {
    buf: Vec<u8>,
    max: usize,
}

impl Sink for MemSink {
    fn put(&mut self, data: &[u8]) -> Result<(), S3Error> {
        if self.buf.len() + data.len() > self.max {
            return Err(S3Error::bad(
                "MalformedXML",
                "The XML you provided was too large",
            ));
        }
        self.buf.extend_from_slice(data);
        Ok(())
    }
}

fn chunk_error(e: ChunkError) -> S3Error {
    match e {
        ChunkError::SignatureMismatch => S3Error::new(
            StatusCode::FORBIDDEN,
            "SignatureDoesNotMatch",
            e.to_string(),
        ),
        ChunkError::Malformed(m) => S3Error::bad("IncompleteBody", m),
    }
}

/// Read the body through `sink`, verifying what `payload` promises. Returns the
/// trailers of an `aws-chunked` body and the running checksum, if asked for.
async fn pump(
    mut body: RequestBody,
    payload: &Payload,
    sink: &mut (dyn Sink + Send),
    mut checksum: Option<&mut Hasher>,
) -> Result<Vec<(String, String)>, S3Error> {
    let mut sha = match payload {
        Payload::Sha256(_) => Some(sha2::Sha256::new()),
        _ => None,
    };
    let mut decoder = match payload {
        Payload::Chunked(signing) => Some(Decoder::new(signing.clone())),
        _ => None,
    };
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            S3Error::bad(
                "IncompleteBody",
                format!("The request body could not be read: {e}"),
            )
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let mut deliver = |d: &[u8]| -> Result<(), S3Error> {
            if let Some(h) = sha.as_mut() {
                h.update(d);
            }
            if let Some(c) = checksum.as_deref_mut() {
                c.update(d);
            }
            sink.put(d)
        };
        match decoder.as_mut() {
            Some(dec) => dec.push(&data, &mut deliver).map_err(|e| match e {
                PushError::Chunk(c) => chunk_error(c),
                PushError::Sink(s) => s,
            })?,
            None => deliver(&data)?,
        }
    }
    if let (Payload::Sha256(claimed), Some(h)) = (payload, sha) {
        let got = hex::encode(h.finalize());
        if !got.eq_ignore_ascii_case(claimed) {
            return Err(S3Error::bad(
                "XAmzContentSHA256Mismatch",
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
            )
            .with("ClientComputedContentSHA256", claimed.clone())
            .with("S3ComputedContentSHA256", got));
        }
    }
    match decoder {
        Some(dec) => dec.finish().map_err(chunk_error),
        None => Ok(Vec::new()),
    }
}

/// A whole (small) request document, verified.
pub async fn read_document(
    body: RequestBody,
    payload: &Payload,
    max: usize,
) -> Result<Vec<u8>, S3Error> {
    let mut sink = MemSink {
        buf: Vec::new(),
        max,
    };
    pump(body, payload, &mut sink, None).await?;
    Ok(sink.buf)
}

/// Receive an upload, checking everything the client claimed: into memory when
/// `inline_max` allows and the declared size fits (the store keeps it with the
/// metadata), else into a new data file. Nothing is left on disk when it fails.
pub async fn receive(
    data: &DataDir,
    body: RequestBody,
    payload: &Payload,
    checks: Checks,
    max: u64,
    inline_max: u64,
) -> Result<(Written, Option<Checksum>), S3Error> {
    let mut hasher = match &checks.checksum {
        Some((alg, _)) => Some(Hasher::new(alg).ok_or_else(|| {
            S3Error::invalid_argument(format!("Invalid checksum algorithm: {alg}"))
        })?),
        None => None,
    };
    let small = checks.declared_length.is_some_and(|n| n <= inline_max);
    let (written, trailers) = if small {
        let mut sink = MemSink {
            buf: Vec::new(),
            max: inline_max as usize,
        };
        let trailers = pump(body, payload, &mut sink, hasher.as_mut())
            .await
            .map_err(|e| {
                // Over the declared size: a body that lied about its length.
                if e.code() == "MalformedXML" {
                    S3Error::bad(
                        "IncompleteBody",
                        "The body is longer than its declared length",
                    )
                } else {
                    e
                }
            })?;
        (Written::in_memory(sink.buf), trailers)
    } else {
        let mut writer = data
            .writer()
            .map_err(|e| S3Error::internal(format!("create object data: {e}")))?;
        let trailers = {
            let mut sink = FileSink {
                writer: &mut writer,
                max,
            };
            pump(body, payload, &mut sink, hasher.as_mut()).await?
        };
        let written = tokio::task::spawn_blocking(move || writer.finish())
            .await
            .map_err(|e| S3Error::internal(e.to_string()))?
            .map_err(|e| S3Error::internal(format!("store object data: {e}")))?;
        (written, trailers)
    };
    let fail = |e: S3Error| {
        if written.inline.is_none() {
            data.remove(std::slice::from_ref(&written.id));
        }
        Err(e)
    };
    if let Some(n) = checks.decoded_length
        && n != written.size
    {
        return fail(S3Error::bad(
            "IncompleteBody",
            "You did not provide the number of bytes specified by the x-amz-decoded-content-length header",
        ));
    }
    if let Some(md5) = &checks.content_md5
        && md5.as_slice() != written.md5
    {
        return fail(S3Error::bad(
            "BadDigest",
            "The Content-MD5 you specified did not match what we received.",
        ));
    }
    let checksum = match (checks.checksum, hasher) {
        (Some((alg, claimed)), Some(h)) => {
            let header = format!("x-amz-checksum-{}", alg.to_ascii_lowercase());
            let claimed = claimed.or_else(|| {
                trailers
                    .iter()
                    .find(|(k, _)| *k == header)
                    .map(|(_, v)| v.clone())
            });
            let got = h.finish();
            match claimed {
                Some(c) if c != got => {
                    return fail(S3Error::bad(
                        "BadDigest",
                        format!(
                            "The {} you specified did not match the calculated checksum.",
                            alg.to_ascii_uppercase()
                        ),
                    ));
                }
                _ => Some(Checksum {
                    algorithm: alg.to_ascii_uppercase(),
                    value: got,
                    kind: "FULL_OBJECT".into(),
                }),
            }
        }
        _ => None,
    };
    Ok((written, checksum))
}

/// One stretch of an object's bytes: the rest of an open data file (how much of
/// it to send), or inline bytes.
pub(crate) enum Piece {
    File(File, u64),
    Mem(Bytes),
}

/// An object's bytes `start..=end` (inclusive), read from its data files and
/// inline pieces.
pub struct FileBody {
    pub(crate) pieces: VecDeque<Piece>,
    remaining: u64,
}

const READ_CHUNK: usize = 256 * 1024;

impl FileBody {
    /// Open the files now, so a later replacement of the object cannot tear
    /// what this response sends.
    pub fn open(
        objects: &nimbus_objects::Objects,
        segments: &[Segment],
        start: u64,
        end: u64,
    ) -> std::io::Result<FileBody> {
        let mut pieces = VecDeque::new();
        let mut offset = 0u64;
        let mut remaining = 0;
        for s in segments {
            let (seg_start, seg_end) = (offset, offset + s.len);
            offset = seg_end;
            if s.len == 0 || seg_end <= start || seg_start > end {
                continue;
            }
            let from = start.saturating_sub(seg_start);
            let to = (end + 1).min(seg_end) - seg_start;
            if s.inline {
                let bytes = objects
                    .inline_data(&s.id)
                    .map_err(std::io::Error::other)?
                    .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))?;
                let bytes = Bytes::from(bytes);
                if (to as usize) > bytes.len() {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "inline object data is shorter than its metadata says",
                    ));
                }
                pieces.push_back(Piece::Mem(bytes.slice(from as usize..to as usize)));
            } else {
                let mut f = objects.data().open_file(&s.id)?;
                if from > 0 {
                    f.seek(SeekFrom::Start(from))?;
                }
                pieces.push_back(Piece::File(f, to - from));
            }
            remaining += to - from;
        }
        Ok(FileBody { pieces, remaining })
    }
}

impl http_body::Body for FileBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        loop {
            let (file, left) = match self.pieces.front_mut() {
                None => return Poll::Ready(None),
                Some(Piece::Mem(_)) => {
                    let Some(Piece::Mem(b)) = self.pieces.pop_front() else {
                        unreachable!("the front piece is in memory")
                    };
                    self.remaining -= b.len() as u64;
                    if b.is_empty() {
                        continue;
                    }
                    return Poll::Ready(Some(Ok(Frame::data(b))));
                }
                Some(Piece::File(file, left)) => (file, left),
            };
            if *left == 0 {
                self.pieces.pop_front();
                continue;
            }
            let n = (*left).min(READ_CHUNK as u64) as usize;
            let mut buf = vec![0u8; n];
            // Page-cache reads of an immutable file: short enough to do inline.
            let got = match file.read(&mut buf) {
                Ok(0) => {
                    return Poll::Ready(Some(Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "object data is shorter than its metadata says",
                    ))));
                }
                Ok(g) => g,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Poll::Ready(Some(Err(e))),
            };
            buf.truncate(got);
            *left -= got as u64;
            self.remaining -= got as u64;
            return Poll::Ready(Some(Ok(Frame::data(Bytes::from(buf)))));
        }
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.remaining)
    }
}
