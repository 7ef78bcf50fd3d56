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

/// The CRCs' reflected polynomials and widths: the algorithms whose values
/// combine, so a multipart upload can carry a `FULL_OBJECT` checksum.
fn crc_params(algorithm: &str) -> Option<(u64, u32)> {
    match algorithm {
        "CRC32" => Some((0xEDB8_8320, 32)),
        "CRC32C" => Some((0x82F6_3B78, 32)),
        "CRC64NVME" => Some((0x9A6C_9329_AC4B_C9B5, 64)),
        _ => None,
    }
}

/// `a * b` modulo the polynomial, both in reflected form (zlib's
/// `multmodp`, for any width up to 64).
fn mult_mod(a: u64, mut b: u64, poly: u64, width: u32) -> u64 {
    let mut m = 1u64 << (width - 1);
    let mut p = 0;
    while m != 0 {
        if a & m != 0 {
            p ^= b;
            if a & (m - 1) == 0 {
                break;
            }
        }
        m >>= 1;
        b = if b & 1 != 0 { (b >> 1) ^ poly } else { b >> 1 };
    }
    p
}

/// `x^(8 * bytes)` modulo the polynomial: what a CRC is multiplied by to move
/// it past `bytes` more bytes.
fn shift_by_bytes(bytes: u64, poly: u64, width: u32) -> u64 {
    let top = 1u64 << (width - 1);
    // x^(2^k), starting at x^8 (k = 3).
    let mut square = top >> 1;
    for _ in 0..3 {
        square = mult_mod(square, square, poly, width);
    }
    let mut p = top;
    let mut n = bytes;
    while n != 0 {
        if n & 1 != 0 {
            p = mult_mod(square, p, poly, width);
        }
        n >>= 1;
        square = mult_mod(square, square, poly, width);
    }
    p
}

/// The CRC of `A ++ B` from the CRCs of `A` and `B` (base64, as on the wire)
/// and `B`'s length; `None` for an algorithm that is not a CRC or values
/// that are not its width.
pub fn combine(algorithm: &str, first: &str, second: &str, second_len: u64) -> Option<String> {
    let (poly, width) = crc_params(algorithm)?;
    let value = |b64: &str| -> Option<u64> {
        let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
        (bytes.len() * 8 == width as usize)
            .then(|| bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
    };
    let (a, b) = (value(first)?, value(second)?);
    let crc = mult_mod(shift_by_bytes(second_len, poly, width), a, poly, width) ^ b;
    let bytes = crc.to_be_bytes();
    Some(base64::engine::general_purpose::STANDARD.encode(&bytes[8 - width as usize / 8..]))
}

/// The checksum type of a multipart upload that asked for `algorithm`
/// (`x-amz-checksum-type`, or the algorithm's default: `FULL_OBJECT` for
/// CRC64NVME, `COMPOSITE` for the rest), or S3's reason to refuse the pair.
pub fn upload_type(algorithm: &str, requested: Option<&str>) -> Result<&'static str, String> {
    let kind = match requested.map(str::to_ascii_uppercase).as_deref() {
        None if algorithm == "CRC64NVME" => "FULL_OBJECT",
        None => "COMPOSITE",
        Some("FULL_OBJECT") => "FULL_OBJECT",
        Some("COMPOSITE") => "COMPOSITE",
        Some(other) => {
            return Err(format!(
                "Value for x-amz-checksum-type header is invalid: {other}"
            ));
        }
    };
    let allowed = match kind {
        "FULL_OBJECT" => crc_params(algorithm).is_some(),
        _ => algorithm != "CRC64NVME",
    };
    if allowed {
        Ok(kind)
    } else {
        Err(format!(
            "The {kind} checksum type cannot be used with the {} checksum algorithm.",
            algorithm.to_ascii_lowercase()
        ))
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

    #[test]
    fn crcs_of_parts_combine_into_the_whole_objects() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 + i / 13) as u8).collect();
        for alg in ["CRC32", "CRC32C", "CRC64NVME"] {
            let whole = {
                let mut h = Hasher::new(alg).unwrap();
                h.update(&data);
                h.finish()
            };
            for cut in [0, 1, 4096, 9_999, 10_000] {
                let (a, b) = data.split_at(cut);
                let crc = |d: &[u8]| {
                    let mut h = Hasher::new(alg).unwrap();
                    h.update(d);
                    h.finish()
                };
                assert_eq!(
                    combine(alg, &crc(a), &crc(b), b.len() as u64).as_deref(),
                    Some(whole.as_str()),
                    "{alg} cut at {cut}"
                );
            }
        }
        assert_eq!(combine("SHA256", "AAAA", "AAAA", 1), None);
        assert_eq!(combine("CRC32", "AAAAAAAAAAA=", "AAAAAA==", 1), None);
    }

    #[test]
    fn upload_checksum_types_pair_with_their_algorithms() {
        assert_eq!(upload_type("CRC32", None), Ok("COMPOSITE"));
        assert_eq!(upload_type("CRC64NVME", None), Ok("FULL_OBJECT"));
        assert_eq!(
            upload_type("CRC32C", Some("full_object")),
            Ok("FULL_OBJECT")
        );
        assert_eq!(upload_type("SHA256", Some("COMPOSITE")), Ok("COMPOSITE"));
        assert!(
            upload_type("SHA1", Some("FULL_OBJECT"))
                .unwrap_err()
                .contains("sha1")
        );
        assert!(upload_type("CRC64NVME", Some("COMPOSITE")).is_err());
        assert!(upload_type("CRC32", Some("PARTIAL")).is_err());
    }

    /// What boto3 sent for `hello world` (captured off the wire).
    #[test]
    fn matches_boto3() {
        let mut h = Hasher::new("CRC32").unwrap();
        h.update(b"hello world");
        assert_eq!(h.finish(), "DUoRhQ==");
    }
}
