//! The checksums S3 clients send with uploads (`x-amz-checksum-*`): CRC32,
//! CRC32C, CRC64NVME, SHA1 and SHA256, computed while the body streams in and
//! compared with what the client claimed (base64 of the big-endian value).

use base64::Engine as _;
use sha1::Digest as _;

/// Table-driven reflected CRC (one byte at a time) for the polynomials without
/// a crate of their own here.
struct Table64([u64; 256]);

const fn table32(poly: u32) -> [u32; 256] {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { (c >> 1) ^ poly } else { c >> 1 };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}

const fn table64(poly: u64) -> Table64 {
    let mut t = [0u64; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u64;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { (c >> 1) ^ poly } else { c >> 1 };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    Table64(t)
}

/// CRC-32C (Castagnoli), reflected polynomial.
static CRC32C: [u32; 256] = table32(0x82F6_3B78);
/// CRC-64/NVME, reflected polynomial.
static CRC64NVME: Table64 = table64(0x9A6C_9329_AC4B_C9B5);

/// A running checksum of one algorithm.
pub enum Hasher {
    Crc32(crc32fast::Hasher),
    Crc32c(u32),
    Crc64Nvme(u64),
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
}

/// The algorithms S3 knows, by their wire names.
pub const ALGORITHMS: [&str; 5] = ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"];

impl Hasher {
    /// By S3's name (`CRC32`, `crc32c`, ...); `None` if unknown.
    pub fn new(algorithm: &str) -> Option<Hasher> {
        Some(match algorithm.to_ascii_uppercase().as_str() {
            "CRC32" => Hasher::Crc32(crc32fast::Hasher::new()),
            "CRC32C" => Hasher::Crc32c(!0),
            "CRC64NVME" => Hasher::Crc64Nvme(!0),
            "SHA1" => Hasher::Sha1(sha1::Sha1::new()),
            "SHA256" => Hasher::Sha256(sha2::Sha256::new()),
            _ => return None,
        })
    }

    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Crc32(h) => h.update(data),
            Hasher::Crc32c(c) => {
                for &b in data {
                    *c = CRC32C[((*c ^ b as u32) & 0xFF) as usize] ^ (*c >> 8);
                }
            }
            Hasher::Crc64Nvme(c) => {
                for &b in data {
                    *c = CRC64NVME.0[((*c ^ b as u64) & 0xFF) as usize] ^ (*c >> 8);
                }
            }
            Hasher::Sha1(h) => h.update(data),
            Hasher::Sha256(h) => h.update(data),
        }
    }

    /// The value as S3 puts it on the wire: base64 of the big-endian bytes.
    pub fn finish(self) -> String {
        let bytes: Vec<u8> = match self {
            Hasher::Crc32(h) => h.finalize().to_be_bytes().to_vec(),
            Hasher::Crc32c(c) => (!c).to_be_bytes().to_vec(),
            Hasher::Crc64Nvme(c) => (!c).to_be_bytes().to_vec(),
            Hasher::Sha1(h) => h.finalize().to_vec(),
            Hasher::Sha256(h) => h.finalize().to_vec(),
        };
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(alg: &str, data: &[u8]) -> Vec<u8> {
        let mut h = Hasher::new(alg).unwrap();
        // In two pieces: state carries across updates.
        let (a, b) = data.split_at(data.len() / 2);
        h.update(a);
        h.update(b);
        base64::engine::general_purpose::STANDARD
            .decode(h.finish())
            .unwrap()
    }

    /// The standard check values of each CRC ("123456789").
    #[test]
    fn check_values() {
        assert_eq!(of("CRC32", b"123456789"), 0xCBF4_3926u32.to_be_bytes());
        assert_eq!(of("CRC32C", b"123456789"), 0xE306_9283u32.to_be_bytes());
        assert_eq!(
            of("crc64nvme", b"123456789"),
            0xAE8B_1486_0A79_9888u64.to_be_bytes()
        );
        assert_eq!(
            hex::encode(of("SHA1", b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert!(Hasher::new("MD4").is_none());
    }

    /// What boto3 sent for `hello world` (captured off the wire).
    #[test]
    fn matches_boto3() {
        let mut h = Hasher::new("CRC32").unwrap();
        h.update(b"hello world");
        assert_eq!(h.finish(), "DUoRhQ==");
    }
}
