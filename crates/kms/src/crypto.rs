//! The cryptography under every KMS key: the data directory's master key
//! (`<data>/kms-master.key`, 32 random bytes, mode 0600), each key's material
//! derived from it with HKDF-SHA256, and the self-describing ciphertext blob
//! Decrypt reads without being told the key. Nothing here logs.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// The blob format this build writes (and the only one it reads).
pub const BLOB_VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// The data directory's root of all KMS key material. Its bytes never leave
/// this module: no `Debug`, no `Display`.
pub struct MasterKey([u8; 32]);

impl MasterKey {
    /// Read the key at `path`, or create it (32 random bytes, mode 0600,
    /// fsynced) when there is none.
    pub fn load_or_create(path: &Path) -> std::io::Result<MasterKey> {
        match std::fs::read(path) {
            Ok(bytes) => {
                let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("{} does not hold a 32-byte key", path.display()),
                    )
                })?;
                return Ok(MasterKey(key));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let mut key = [0u8; 32];
        random(&mut key)?;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)?;
        f.write_all(&key)?;
        f.sync_all()?;
        if let Some(dir) = path.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(MasterKey(key))
    }

    /// A key made from fixed bytes (tests, fuzzing).
    pub fn from_bytes(key: [u8; 32]) -> MasterKey {
        MasterKey(key)
    }

    /// The material of the KMS key `key_id`: HKDF-SHA256 (RFC 5869) of the
    /// master key, one 32-byte block.
    pub fn derive(&self, key_id: &str) -> [u8; 32] {
        let prk = hmac(b"nimbus-kms-v1", &self.0);
        let mut info = b"key-material ".to_vec();
        info.extend_from_slice(key_id.as_bytes());
        info.push(1);
        hmac(&prk, &info)
    }
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes keys of any length");
    m.update(data);
    m.finalize().into_bytes().into()
}

/// Fill `buf` from the operating system's random source.
pub fn random(buf: &mut [u8]) -> std::io::Result<()> {
    getrandom::fill(buf).map_err(|e| std::io::Error::other(format!("read random bytes: {e}")))
}

/// The encryption context as authenticated data: its pairs in key order.
fn aad(header: &[u8], context: &BTreeMap<String, String>) -> Vec<u8> {
    let mut aad = header.to_vec();
    for (k, v) in context {
        for part in [k, v] {
            aad.extend_from_slice(&(part.len() as u32).to_be_bytes());
            aad.extend_from_slice(part.as_bytes());
        }
    }
    aad
}

fn header(key_id: &str) -> Vec<u8> {
    let mut h = vec![BLOB_VERSION, key_id.len() as u8];
    h.extend_from_slice(key_id.as_bytes());
    h
}

/// Seal `plaintext` under `material`: `version | len | key id | nonce |
/// AES-256-GCM ciphertext and tag`, the key id and the context authenticated.
pub fn seal(
    material: &[u8; 32],
    key_id: &str,
    plaintext: &[u8],
    context: &BTreeMap<String, String>,
) -> std::io::Result<Vec<u8>> {
    let mut nonce = [0u8; NONCE_LEN];
    random(&mut nonce)?;
    let header = header(key_id);
    let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(material));
    let sealed = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: &aad(&header, context),
            },
        )
        .map_err(|_| std::io::Error::other("AES-GCM refused to encrypt"))?;
    let mut blob = header;
    blob.extend_from_slice(&nonce);
    blob.extend_from_slice(&sealed);
    Ok(blob)
}

/// A blob's parts, as [`parse`] finds them.
pub struct Blob<'a> {
    pub key_id: &'a str,
    header: &'a [u8],
    nonce: &'a [u8],
    sealed: &'a [u8],
}

/// Split a blob into its parts; `None` when it is not one this build wrote.
pub fn parse(blob: &[u8]) -> Option<Blob<'_>> {
    let (&version, rest) = blob.split_first()?;
    let (&len, rest) = rest.split_first()?;
    if version != BLOB_VERSION || len == 0 || rest.len() < usize::from(len) + NONCE_LEN + TAG_LEN {
        return None;
    }
    let (id, rest) = rest.split_at(usize::from(len));
    let key_id = std::str::from_utf8(id).ok()?;
    let (nonce, sealed) = rest.split_at(NONCE_LEN);
    Some(Blob {
        key_id,
        header: &blob[..2 + usize::from(len)],
        nonce,
        sealed,
    })
}

/// Open a parsed blob with `material`; `None` when it was tampered with, the
/// context differs, or the material is not its key's.
pub fn open(
    material: &[u8; 32],
    blob: &Blob<'_>,
    context: &BTreeMap<String, String>,
) -> Option<Vec<u8>> {
    let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(material));
    cipher
        .decrypt(
            Nonce::from_slice(blob.nonce),
            Payload {
                msg: blob.sealed,
                aad: &aad(blob.header, context),
            },
        )
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn blobs_round_trip_and_refuse_tampering() {
        let m = MasterKey::from_bytes([7; 32]);
        let k = m.derive("key-1");
        assert_ne!(k, m.derive("key-2"), "each key has its own material");
        let c = ctx(&[("purpose", "test")]);
        let blob = seal(&k, "key-1", b"hello", &c).unwrap();
        let parsed = parse(&blob).unwrap();
        assert_eq!(parsed.key_id, "key-1");
        assert_eq!(open(&k, &parsed, &c).unwrap(), b"hello");
        assert!(open(&k, &parsed, &ctx(&[])).is_none(), "context must match");
        assert!(open(&m.derive("key-2"), &parsed, &c).is_none());
        for i in 0..blob.len() {
            let mut t = blob.clone();
            t[i] ^= 1;
            let ok = parse(&t).and_then(|p| open(&k, &p, &c));
            assert!(ok.is_none(), "flipping byte {i} must be detected");
        }
        for cut in 0..blob.len() {
            let ok = parse(&blob[..cut]).and_then(|p| open(&k, &p, &c));
            assert!(ok.is_none(), "a blob cut at {cut} must not open");
        }
        assert!(parse(b"").is_none() && parse(&[1, 0]).is_none());
    }

    #[test]
    fn the_master_key_file_is_private_and_stable() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("kms-master.key");
        let a = MasterKey::load_or_create(&p).unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let b = MasterKey::load_or_create(&p).unwrap();
        assert_eq!(a.derive("k"), b.derive("k"));
        std::fs::write(&p, b"short").unwrap();
        assert!(MasterKey::load_or_create(&p).is_err());
    }
}
