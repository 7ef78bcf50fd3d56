//! The write-ahead log's frame format.
//!
//! A frame is one group commit: `len: u32 LE`, `crc32: u32 LE` of the log's
//! salt (a random number chosen at every checkpoint, stored with it) followed
//! by the payload,
//! then the payload: `seq: u64 LE`, `ops: u32 LE`, and each op as
//! `tag: u8` (1 put, 2 delete), `table: u16 LE length + UTF-8`,
//! `key: u32 LE length + bytes`, and for puts `value: u32 LE length + bytes`.
//! A frame whose length or checksum does not hold ends the log: it is the torn
//! tail of a write that was never acknowledged. So does a frame whose number
//! does not follow the one before: the file is reused after a checkpoint, and
//! what follows the new frames may be older ones.

use nimbus_storage::{Op, WriteBatch};

const HEADER: usize = 8;
const PUT: u8 = 1;
const DELETE: u8 = 2;

/// One change read back from the log.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum LoggedOp {
    Put {
        table: String,
        key: Vec<u8>,
        value: Vec<u8>,
    },
    Delete {
        table: String,
        key: Vec<u8>,
    },
}

/// One group commit read back from the log.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Frame {
    pub seq: u64,
    pub ops: Vec<LoggedOp>,
}

/// Append the frame for `batches`, committed together as number `seq`, to `out`.
/// Fails only when a table name, key or value is too long for the format.
pub(crate) fn encode(
    seq: u64,
    salt: u64,
    batches: &[&WriteBatch],
    out: &mut Vec<u8>,
) -> Result<(), String> {
    let start = out.len();
    out.extend_from_slice(&[0; HEADER]);
    out.extend_from_slice(&seq.to_le_bytes());
    let count: usize = batches.iter().map(|b| b.ops.len()).sum();
    out.extend_from_slice(&len32(count, "operation count")?.to_le_bytes());
    for op in batches.iter().flat_map(|b| &b.ops) {
        let (tag, table, key, value) = match op {
            Op::Put { table, key, value } => (PUT, table, key, Some(value)),
            Op::Delete { table, key } => (DELETE, table, key, None),
        };
        out.push(tag);
        let name = table.0.as_bytes();
        let name_len = u16::try_from(name.len()).map_err(|_| "table name too long")?;
        out.extend_from_slice(&name_len.to_le_bytes());
        out.extend_from_slice(name);
        out.extend_from_slice(&len32(key.len(), "key")?.to_le_bytes());
        out.extend_from_slice(key);
        if let Some(value) = value {
            out.extend_from_slice(&len32(value.len(), "value")?.to_le_bytes());
            out.extend_from_slice(value);
        }
    }
    let payload_len = len32(out.len() - start - HEADER, "frame")?;
    let crc = checksum(salt, &out[start + HEADER..]);
    out[start..start + 4].copy_from_slice(&payload_len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    Ok(())
}

fn len32(n: usize, what: &str) -> Result<u32, String> {
    u32::try_from(n).map_err(|_| format!("{what} too long for the write-ahead log"))
}

/// Every whole frame at the start of `log`, and the length they cover. Reading
/// stops at the first frame that is cut short, fails its checksum, or is not
/// numbered one after the frame before it.
pub(crate) fn decode(log: &[u8], salt: u64) -> (Vec<Frame>, usize) {
    let mut frames: Vec<Frame> = Vec::new();
    let mut at = 0;
    while let Some((frame, len)) = decode_one(&log[at..], salt) {
        if frames
            .last()
            .is_some_and(|f| f.seq.checked_add(1) != Some(frame.seq))
        {
            break;
        }
        frames.push(frame);
        at += len;
    }
    (frames, at)
}

/// Frames written before the last checkpoint carry another salt: left behind in
/// the reused file, they (or user data inside them shaped like a frame) never
/// verify.
fn checksum(salt: u64, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&salt.to_le_bytes());
    h.update(payload);
    h.finalize()
}

fn decode_one(bytes: &[u8], salt: u64) -> Option<(Frame, usize)> {
    let mut r = Reader(bytes);
    let len = r.u32()? as usize;
    let crc = r.u32()?;
    let payload = r.take(len)?;
    if checksum(salt, payload) != crc {
        return None;
    }
    let mut p = Reader(payload);
    let seq = p.u64()?;
    let count = p.u32()?;
    let mut ops = Vec::new();
    for _ in 0..count {
        let tag = p.take(1)?[0];
        let name_len = u16::from_le_bytes(p.take(2)?.try_into().ok()?) as usize;
        let table = String::from_utf8(p.take(name_len)?.to_vec()).ok()?;
        let key_len = p.u32()? as usize;
        let key = p.take(key_len)?.to_vec();
        ops.push(match tag {
            PUT => {
                let value_len = p.u32()? as usize;
                let value = p.take(value_len)?.to_vec();
                LoggedOp::Put { table, key, value }
            }
            DELETE => LoggedOp::Delete { table, key },
            _ => return None,
        });
    }
    if !p.0.is_empty() {
        return None;
    }
    Some((Frame { seq, ops }, HEADER + len))
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nimbus_storage::Table;

    fn sample() -> (WriteBatch, WriteBatch) {
        let mut a = WriteBatch::new();
        a.put(Table("objects"), b"k1".to_vec(), vec![7; 300]);
        a.delete(Table("queues"), b"gone".to_vec());
        let mut b = WriteBatch::new();
        b.put(Table("t"), Vec::new(), Vec::new());
        (a, b)
    }

    #[test]
    fn frames_round_trip_in_order() {
        let (a, b) = sample();
        let mut log = Vec::new();
        encode(1, 7, &[&a, &b], &mut log).unwrap();
        encode(2, 7, &[&b], &mut log).unwrap();
        let (frames, len) = decode(&log, 7);
        assert_eq!(len, log.len());
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].seq, 1);
        assert_eq!(
            frames[0].ops,
            vec![
                LoggedOp::Put {
                    table: "objects".into(),
                    key: b"k1".to_vec(),
                    value: vec![7; 300]
                },
                LoggedOp::Delete {
                    table: "queues".into(),
                    key: b"gone".to_vec()
                },
                LoggedOp::Put {
                    table: "t".into(),
                    key: vec![],
                    value: vec![]
                },
            ]
        );
        assert_eq!(frames[1].seq, 2);
    }

    #[test]
    fn a_torn_or_corrupt_tail_ends_the_log() {
        let (a, b) = sample();
        let mut log = Vec::new();
        encode(1, 7, &[&a], &mut log).unwrap();
        let first = log.len();
        encode(2, 7, &[&b], &mut log).unwrap();
        // Every cut inside the second frame keeps exactly the first.
        for cut in first..log.len() {
            let (frames, len) = decode(&log[..cut], 7);
            assert_eq!((frames.len(), len), (1, first), "cut at {cut}");
        }
        // A flipped bit anywhere in the second frame drops it.
        for i in first..log.len() {
            let mut bad = log.clone();
            bad[i] ^= 0x10;
            let (frames, len) = decode(&bad, 7);
            assert_eq!((frames.len(), len), (1, first), "flip at {i}");
        }
        // An older frame left behind the newer ones is not read.
        let mut reused = log.clone();
        encode(1, 7, &[&b], &mut reused).unwrap();
        assert_eq!(decode(&reused, 7).0.len(), 2);
        // Frames of another salt (before the last checkpoint) are not read.
        assert_eq!(decode(&log, 8).0.len(), 0);
        // Garbage (zeros from a preallocated tail) is not a frame.
        let mut zeros = log.clone();
        zeros.extend_from_slice(&[0; 64]);
        assert_eq!(decode(&zeros, 7).0.len(), 2);
    }
}
