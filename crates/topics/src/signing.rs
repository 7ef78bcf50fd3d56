//! SNS message signatures, as AWS signs what it delivers to HTTP(S)
//! endpoints, queues and functions: an RSA-2048 key whose self-signed X.509
//! certificate subscribers fetch from `SigningCertURL`, the canonical string
//! SNS signs for each message type, and `SignatureVersion` 1 (SHA1withRSA)
//! or 2 (SHA256withRSA). The key and certificate live in the data directory,
//! so a receiver that pinned the certificate keeps verifying across restarts.
//!
//! Not for: serving the certificate or choosing `SigningCertURL` (the
//! caller's), nor deciding which certificate URLs a receiver should trust.

use crate::Error;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use nimbus_model::time::{Utc, now_millis};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use rsa::rand_core::{OsRng, RngCore};
use rsa::{Pkcs1v15Sign, RsaPrivateKey, RsaPublicKey};
use serde_json::{Map, Value};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// The private key, PKCS#8 PEM, in the directory `load_or_create` is given.
pub const KEY_FILE: &str = "sns-signing-key.pem";
/// The self-signed certificate of the key, PEM.
pub const CERT_FILE: &str = "sns-signing-cert.pem";

const KEY_BITS: usize = 2048;
const COMMON_NAME: &str = "Nimbus SNS signing";
const DAY_MILLIS: u64 = 86_400_000;
/// Ten years of days, leap days included.
const VALIDITY_DAYS: u64 = 3653;

/// The members SNS signs, in the order it signs them.
const NOTIFICATION_KEYS: [&str; 6] = [
    "Message",
    "MessageId",
    "Subject",
    "Timestamp",
    "TopicArn",
    "Type",
];
const CONFIRMATION_KEYS: [&str; 7] = [
    "Message",
    "MessageId",
    "SubscribeURL",
    "Timestamp",
    "Token",
    "TopicArn",
    "Type",
];

/// A topic's `SignatureVersion`: the digest signed with the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SignatureVersion {
    /// `"1"`: SHA1withRSA (PKCS#1 v1.5), SNS's default.
    #[default]
    V1,
    /// `"2"`: SHA256withRSA (PKCS#1 v1.5).
    V2,
}

impl SignatureVersion {
    /// The version a `SignatureVersion` value names, if it names one.
    pub fn parse(s: &str) -> Option<SignatureVersion> {
        match s {
            "1" => Some(SignatureVersion::V1),
            "2" => Some(SignatureVersion::V2),
            _ => None,
        }
    }

    /// The wire value: `"1"` or `"2"`.
    pub fn as_str(self) -> &'static str {
        match self {
            SignatureVersion::V1 => "1",
            SignatureVersion::V2 => "2",
        }
    }

    fn padding(self) -> Pkcs1v15Sign {
        match self {
            SignatureVersion::V1 => Pkcs1v15Sign::new::<Sha1>(),
            SignatureVersion::V2 => Pkcs1v15Sign::new::<Sha256>(),
        }
    }

    fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            SignatureVersion::V1 => Sha1::digest(data).to_vec(),
            SignatureVersion::V2 => Sha256::digest(data).to_vec(),
        }
    }
}

/// The key SNS signs messages with, and its certificate.
#[derive(Clone)]
pub struct Signer {
    key: RsaPrivateKey,
    cert_pem: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The private key stays out of logs.
        f.debug_struct("Signer").finish_non_exhaustive()
    }
}

impl Signer {
    /// A new key and certificate, kept nowhere.
    pub fn generate() -> io::Result<Signer> {
        let key = new_key()?;
        let cert_pem = certificate(&key)?;
        Ok(Signer { key, cert_pem })
    }

    /// The key and certificate kept in `dir`, made (and kept) when missing.
    /// The key is the one that matters: a certificate that is missing or is
    /// not the key's is made anew; a key that does not parse is an error
    /// rather than silently replaced.
    pub fn load_or_create(dir: &Path) -> io::Result<Signer> {
        Signer::load_or_create_with(dir, new_key)
    }

    /// `load_or_create`, with the key made by `new_key` when there is none
    /// (tests spare themselves a slow key generation).
    fn load_or_create_with(
        dir: &Path,
        new_key: impl FnOnce() -> io::Result<RsaPrivateKey>,
    ) -> io::Result<Signer> {
        fs::create_dir_all(dir).map_err(|e| context(e, format!("create {}", dir.display())))?;
        let key_path = dir.join(KEY_FILE);
        let cert_path = dir.join(CERT_FILE);
        let key = match fs::read_to_string(&key_path) {
            Ok(pem) => parse_key(&pem).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("read {}: not a PKCS#8 PEM RSA key", key_path.display()),
                )
            })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let key = new_key()?;
                write_atomically(&key_path, key_pem(&key)?.as_bytes(), 0o600)?;
                key
            }
            Err(e) => return Err(context(e, format!("read {}", key_path.display()))),
        };
        match fs::read_to_string(&cert_path) {
            Ok(pem) if certificate_key(&pem).is_some_and(|k| k == key.to_public_key()) => {
                return Ok(Signer { key, cert_pem: pem });
            }
            Ok(_) => tracing::warn!(
                path = %cert_path.display(),
                "the SNS signing certificate is not its key's; making a new one"
            ),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(context(e, format!("read {}", cert_path.display()))),
        }
        let cert_pem = certificate(&key)?;
        write_atomically(&cert_path, cert_pem.as_bytes(), 0o644)?;
        Ok(Signer { key, cert_pem })
    }

    /// The certificate, PEM: what `SigningCertURL` serves.
    pub fn certificate_pem(&self) -> &str {
        &self.cert_pem
    }

    /// Sign a notification or (un)subscribe confirmation: sets
    /// `SignatureVersion` and `Signature`. `SigningCertURL` is the caller's
    /// to set, before or after: SNS does not sign it. An error when the
    /// message lacks a member SNS signs; the message is then left as it was.
    pub fn sign(
        &self,
        message: &mut Map<String, Value>,
        version: SignatureVersion,
    ) -> Result<(), Error> {
        let data = canonical(message).ok_or_else(|| {
            Error::Invalid("the message lacks a member SNS signs, or has an unknown Type".into())
        })?;
        let signature = self
            .key
            .sign_with_rng(
                &mut OsRng,
                version.padding(),
                &version.digest(data.as_bytes()),
            )
            .map_err(|e| Error::Invalid(format!("sign the message: {e}")))?;
        message.insert("SignatureVersion".into(), version.as_str().into());
        message.insert("Signature".into(), STANDARD.encode(signature).into());
        Ok(())
    }
}

/// The string SNS signs for a message: `Key\nValue\n` for each member it
/// signs, in its order (`Subject` only when present). None when `Type` is
/// not one SNS signs or a member is missing or not a string.
pub fn string_to_sign(message: &Value) -> Option<String> {
    canonical(message.as_object()?)
}

fn canonical(message: &Map<String, Value>) -> Option<String> {
    let keys: &[&str] = match message.get("Type")?.as_str()? {
        "Notification" => &NOTIFICATION_KEYS,
        "SubscriptionConfirmation" | "UnsubscribeConfirmation" => &CONFIRMATION_KEYS,
        _ => return None,
    };
    let mut s = String::new();
    for &key in keys {
        let value = match message.get(key) {
            Some(Value::String(v)) => v,
            // A function's `Records` carry `"Subject": null` when there is none.
            None | Some(Value::Null) if key == "Subject" => continue,
            _ => return None,
        };
        s.push_str(key);
        s.push('\n');
        s.push_str(value);
        s.push('\n');
    }
    Some(s)
}

/// Whether `message` carries a valid `Signature` of its `SignatureVersion`
/// by the key of the certificate `cert_pem`. The certificate itself (its
/// dates, its issuer) is not checked: whether to trust it is the caller's.
pub fn verify(cert_pem: &str, message: &Value) -> bool {
    verified(cert_pem, message).is_some()
}

fn verified(cert_pem: &str, message: &Value) -> Option<()> {
    let key = certificate_key(cert_pem)?;
    let version = SignatureVersion::parse(message.get("SignatureVersion")?.as_str()?)?;
    let signature = STANDARD.decode(message.get("Signature")?.as_str()?).ok()?;
    let data = string_to_sign(message)?;
    key.verify(
        version.padding(),
        &version.digest(data.as_bytes()),
        &signature,
    )
    .ok()
}

fn new_key() -> io::Result<RsaPrivateKey> {
    RsaPrivateKey::new(&mut OsRng, KEY_BITS)
        .map_err(|e| io::Error::other(format!("generate an RSA key: {e}")))
}

fn context(e: io::Error, what: String) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

fn key_pem(key: &RsaPrivateKey) -> io::Result<String> {
    let der = key
        .to_pkcs8_der()
        .map_err(|e| io::Error::other(format!("encode the key as PKCS#8: {e}")))?;
    Ok(pem_encode("PRIVATE KEY", der.as_bytes()))
}

fn parse_key(pem: &str) -> Option<RsaPrivateKey> {
    RsaPrivateKey::from_pkcs8_der(&pem_decode(pem, "PRIVATE KEY")?).ok()
}

/// Write `bytes` to `path` so that a crash leaves the old file or the new
/// one, never part of one: a temporary file beside it, synced, renamed over
/// it, and the directory synced so the rename itself survives.
fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    // A leftover of a crash would keep its own mode through `open`.
    let _ = fs::remove_file(&tmp);
    let written = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        fs::File::open(dir)?.sync_all()
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written.map_err(|e| context(e, format!("write {}", path.display())))
}

fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut pem = format!("-----BEGIN {label}-----\n");
    let mut line = 0;
    while line < b64.len() {
        let end = (line + 64).min(b64.len());
        // Base64 is ASCII: every index is a char boundary.
        pem.push_str(&b64[line..end]);
        pem.push('\n');
        line = end;
    }
    pem.push_str(&format!("-----END {label}-----\n"));
    pem
}

/// The DER of the first `label` block of `pem`.
fn pem_decode(pem: &str, label: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem.find(&begin)? + begin.len();
    let len = pem[start..].find(&end)?;
    let body: String = pem[start..start + len]
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    STANDARD.decode(body).ok()
}

// A DER writer for the one certificate Nimbus makes; see `certificate`.

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const OCTET_STRING: u8 = 0x04;
const UTF8_STRING: u8 = 0x0c;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;
/// `[n]` EXPLICIT: context-specific, constructed.
const EXPLICIT: u8 = 0xa0;

/// AlgorithmIdentifier { sha256WithRSAEncryption (1.2.840.113549.1.1.11), NULL }.
const SHA256_WITH_RSA: [u8; 15] = [
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00,
];
/// The OID of commonName (2.5.4.3).
const OID_COMMON_NAME: [u8; 5] = [0x06, 0x03, 0x55, 0x04, 0x03];
/// The OID of basicConstraints (2.5.29.19).
const OID_BASIC_CONSTRAINTS: [u8; 5] = [0x06, 0x03, 0x55, 0x1d, 0x13];
const TRUE: [u8; 3] = [0x01, 0x01, 0xff];

fn tlv(tag: u8, contents: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = contents.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(contents);
    out
}

fn constructed(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    tlv(tag, &parts.concat())
}

/// A non-negative INTEGER from big-endian bytes.
fn integer(be: &[u8]) -> Vec<u8> {
    let skip = be
        .iter()
        .take_while(|&&b| b == 0)
        .count()
        .min(be.len().saturating_sub(1));
    let be = &be[skip..];
    if be.first().is_some_and(|&b| b & 0x80 != 0) {
        tlv(INTEGER, &[&[0][..], be].concat())
    } else {
        tlv(INTEGER, be)
    }
}

/// RFC 5280: UTCTime through 2049, GeneralizedTime after.
fn time(millis: u64) -> Vec<u8> {
    let t = Utc::from_millis(millis);
    let rest = format!(
        "{:02}{:02}{:02}{:02}{:02}Z",
        t.month, t.day, t.hour, t.minute, t.second
    );
    if (1950..2050).contains(&t.year) {
        tlv(UTC_TIME, format!("{:02}{rest}", t.year % 100).as_bytes())
    } else {
        tlv(GENERALIZED_TIME, format!("{:04}{rest}", t.year).as_bytes())
    }
}

/// A Name of one RDN: CN=`cn`.
fn common_name(cn: &str) -> Vec<u8> {
    let attribute = constructed(
        SEQUENCE,
        &[&OID_COMMON_NAME, &tlv(UTF8_STRING, cn.as_bytes())],
    );
    constructed(SEQUENCE, &[&tlv(SET, &attribute)])
}

/// The key's self-signed X.509 v3 certificate, PEM: CN "Nimbus SNS signing"
/// as subject and issuer, a random positive serial, valid from a day ago for
/// ten years, sha256WithRSAEncryption, and a critical basicConstraints that
/// says it is no CA (it signs messages, not certificates).
fn certificate(key: &RsaPrivateKey) -> io::Result<String> {
    let spki = key
        .to_public_key()
        .to_public_key_der()
        .map_err(|e| io::Error::other(format!("encode the public key: {e}")))?;
    let mut serial = [0u8; 16];
    OsRng.fill_bytes(&mut serial);
    // Positive, and 16 bytes long whatever the draw.
    serial[0] = (serial[0] & 0x7f) | 0x40;
    let now = now_millis();
    let validity = constructed(
        SEQUENCE,
        &[
            &time(now.saturating_sub(DAY_MILLIS)),
            &time(now + VALIDITY_DAYS * DAY_MILLIS),
        ],
    );
    // BasicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE, ... }: empty.
    let basic_constraints = constructed(
        SEQUENCE,
        &[
            &OID_BASIC_CONSTRAINTS,
            &TRUE,
            &tlv(OCTET_STRING, &tlv(SEQUENCE, &[])),
        ],
    );
    let name = common_name(COMMON_NAME);
    let tbs = constructed(
        SEQUENCE,
        &[
            &tlv(EXPLICIT, &integer(&[2])), // v3
            &integer(&serial),
            &SHA256_WITH_RSA,
            &name,
            &validity,
            &name,
            spki.as_bytes(),
            &tlv(EXPLICIT | 3, &tlv(SEQUENCE, &basic_constraints)),
        ],
    );
    let signature = key
        .sign_with_rng(
            &mut OsRng,
            Pkcs1v15Sign::new::<Sha256>(),
            &Sha256::digest(&tbs),
        )
        .map_err(|e| io::Error::other(format!("sign the certificate: {e}")))?;
    // A BIT STRING's first byte counts the unused bits of its last: none.
    let signature = tlv(BIT_STRING, &[&[0][..], &signature].concat());
    let cert = constructed(SEQUENCE, &[&tbs, &SHA256_WITH_RSA, &signature]);
    Ok(pem_encode("CERTIFICATE", &cert))
}

/// A DER element read off the front of some input.
#[derive(Debug, PartialEq, Eq)]
struct Element<'a> {
    tag: u8,
    contents: &'a [u8],
    /// Header and contents.
    whole: &'a [u8],
    /// What follows the element.
    rest: &'a [u8],
}

/// The DER element `input` starts with. Only what certificates use:
/// one-byte tags, definite lengths.
fn element(input: &[u8]) -> Option<Element<'_>> {
    let (&tag, rest) = input.split_first()?;
    if tag & 0x1f == 0x1f {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |len, &b| len << 8 | b as usize);
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    let header = input.len() - rest.len();
    Some(Element {
        tag,
        contents: &rest[..len],
        whole: &input[..header + len],
        rest: &rest[len..],
    })
}

/// The RSA public key of a PEM certificate: the subjectPublicKeyInfo of
/// its tbsCertificate, after the optional version and five other members.
fn certificate_key(cert_pem: &str) -> Option<RsaPublicKey> {
    let der = pem_decode(cert_pem, "CERTIFICATE")?;
    let sequence = |input| element(input).filter(|e| e.tag == SEQUENCE);
    let cert = sequence(&der)?;
    let tbs = sequence(cert.contents)?;
    let version = element(tbs.contents)?;
    let mut rest = if version.tag == EXPLICIT {
        version.rest
    } else {
        tbs.contents
    };
    // serialNumber, signature, issuer, validity, subject.
    for _ in 0..5 {
        rest = element(rest)?.rest;
    }
    RsaPublicKey::from_public_key_der(sequence(rest)?.whole).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::os::unix::fs::PermissionsExt;
    use std::process::Command;
    use std::sync::OnceLock;

    /// RSA key generation takes seconds in a debug build: one key for all.
    fn signer() -> &'static Signer {
        static SIGNER: OnceLock<Signer> = OnceLock::new();
        SIGNER.get_or_init(|| Signer::generate().expect("generate a signer"))
    }

    fn notification() -> Value {
        json!({
            "Type": "Notification",
            "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
            "TopicArn": "arn:aws:sns:us-west-2:123456789012:MyTopic",
            "Subject": "My First Message",
            "Message": "Hello world!\nSecond line",
            "Timestamp": "2012-05-02T00:54:06.655Z",
            "UnsubscribeURL": "http://localhost:4566/?Action=Unsubscribe&SubscriptionArn=x",
        })
    }

    fn confirmation(kind: &str) -> Value {
        json!({
            "Type": kind,
            "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
            "Token": "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a747ba6f3beb71854e285d6ad02428b09ceece29417f1f02d609c582afbacc99c583a916b9981dd2728f4ae6fdb82efd087cc3b7849e05798d2d2785c03b0879594eeac82c01f235d0e717736",
            "TopicArn": "arn:aws:sns:us-west-2:123456789012:MyTopic",
            "Message": "You have chosen to subscribe to the topic arn:aws:sns:us-west-2:123456789012:MyTopic.\nTo confirm the subscription, visit the SubscribeURL included in this message.",
            "SubscribeURL": "https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:us-west-2:123456789012:MyTopic&Token=2336412f37",
            "Timestamp": "2012-04-26T20:45:04.751Z",
        })
    }

    #[test]
    fn notification_string_with_subject() {
        assert_eq!(
            string_to_sign(&notification()).unwrap(),
            "Message\nHello world!\nSecond line\n\
             MessageId\n22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324\n\
             Subject\nMy First Message\n\
             Timestamp\n2012-05-02T00:54:06.655Z\n\
             TopicArn\narn:aws:sns:us-west-2:123456789012:MyTopic\n\
             Type\nNotification\n"
        );
    }

    #[test]
    fn notification_string_without_subject() {
        let expected = "Message\nHello world!\nSecond line\n\
                        MessageId\n22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324\n\
                        Timestamp\n2012-05-02T00:54:06.655Z\n\
                        TopicArn\narn:aws:sns:us-west-2:123456789012:MyTopic\n\
                        Type\nNotification\n";
        let mut m = notification();
        m.as_object_mut().unwrap().remove("Subject");
        assert_eq!(string_to_sign(&m).unwrap(), expected);
        // As a function's `Records` write it.
        m["Subject"] = Value::Null;
        assert_eq!(string_to_sign(&m).unwrap(), expected);
    }

    #[test]
    fn confirmation_strings() {
        for kind in ["SubscriptionConfirmation", "UnsubscribeConfirmation"] {
            assert_eq!(
                string_to_sign(&confirmation(kind)).unwrap(),
                format!(
                    "Message\nYou have chosen to subscribe to the topic arn:aws:sns:us-west-2:123456789012:MyTopic.\n\
                     To confirm the subscription, visit the SubscribeURL included in this message.\n\
                     MessageId\n165545c9-2a5c-472c-8df2-7ff2be2b3b1b\n\
                     SubscribeURL\nhttps://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:us-west-2:123456789012:MyTopic&Token=2336412f37\n\
                     Timestamp\n2012-04-26T20:45:04.751Z\n\
                     Token\n2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a747ba6f3beb71854e285d6ad02428b09ceece29417f1f02d609c582afbacc99c583a916b9981dd2728f4ae6fdb82efd087cc3b7849e05798d2d2785c03b0879594eeac82c01f235d0e717736\n\
                     TopicArn\narn:aws:sns:us-west-2:123456789012:MyTopic\n\
                     Type\n{kind}\n"
                )
            );
        }
    }

    #[test]
    fn no_string_for_what_sns_does_not_sign() {
        let mut m = notification();
        m["Type"] = json!("Other");
        assert_eq!(string_to_sign(&m), None);
        let mut m = notification();
        m.as_object_mut().unwrap().remove("MessageId");
        assert_eq!(string_to_sign(&m), None);
        let mut m = notification();
        m["Timestamp"] = json!(1);
        assert_eq!(string_to_sign(&m), None);
        let mut m = confirmation("SubscriptionConfirmation");
        m.as_object_mut().unwrap().remove("Token");
        assert_eq!(string_to_sign(&m), None);
        assert_eq!(string_to_sign(&json!("Notification")), None);
    }

    fn signed(message: Value, version: SignatureVersion) -> Value {
        let Value::Object(mut m) = message else {
            panic!("not an object")
        };
        signer().sign(&mut m, version).unwrap();
        Value::Object(m)
    }

    #[test]
    fn signed_messages_verify() {
        let cert = signer().certificate_pem();
        for version in [SignatureVersion::V1, SignatureVersion::V2] {
            for message in [
                notification(),
                confirmation("SubscriptionConfirmation"),
                confirmation("UnsubscribeConfirmation"),
            ] {
                let mut m = signed(message, version);
                assert_eq!(m["SignatureVersion"], version.as_str());
                // 2048 bits, base64.
                assert_eq!(m["Signature"].as_str().unwrap().len(), 344);
                assert!(verify(cert, &m), "{version:?} {m}");
                // Not signed, so set whenever.
                m["SigningCertURL"] = json!("http://localhost:4566/sns-signing-cert.pem");
                assert!(verify(cert, &m));
            }
        }
    }

    #[test]
    fn tampering_breaks_the_signature() {
        let cert = signer().certificate_pem();
        for version in [SignatureVersion::V1, SignatureVersion::V2] {
            let m = signed(notification(), version);
            for (key, value) in [
                ("Message", json!("Hello world!")),
                ("Subject", json!("Another")),
                ("Subject", Value::Null),
                ("MessageId", json!("x")),
                ("Timestamp", json!("2012-05-02T00:54:06.656Z")),
                (
                    "TopicArn",
                    json!("arn:aws:sns:us-west-2:123456789012:Other"),
                ),
                ("Type", json!("SubscriptionConfirmation")),
            ] {
                let mut t = m.clone();
                t[key] = value;
                assert!(!verify(cert, &t), "{key} changed");
            }
            let mut t = m.clone();
            t["SignatureVersion"] = json!(if version == SignatureVersion::V1 {
                "2"
            } else {
                "1"
            });
            assert!(!verify(cert, &t), "version swapped");
            let mut t = m.clone();
            t["SignatureVersion"] = json!("3");
            assert!(!verify(cert, &t));
            let mut t = m.clone();
            t["Signature"] = json!("not base64!");
            assert!(!verify(cert, &t));
            let mut t = m.clone();
            t.as_object_mut().unwrap().remove("Signature");
            assert!(!verify(cert, &t));
        }
    }

    #[test]
    fn sign_refuses_what_sns_does_not_sign() {
        let Value::Object(mut m) = notification() else {
            unreachable!()
        };
        m.remove("TopicArn");
        let before = m.clone();
        assert!(signer().sign(&mut m, SignatureVersion::V2).is_err());
        assert_eq!(m, before);
    }

    #[test]
    fn broken_certificates_verify_nothing() {
        let m = signed(notification(), SignatureVersion::V2);
        let cert = signer().certificate_pem();
        assert!(!verify("", &m));
        assert!(!verify("not a certificate", &m));
        let der = pem_decode(cert, "CERTIFICATE").unwrap();
        for cut in [1, 2, 4, 100, der.len() / 2, der.len() - 1] {
            let truncated = pem_encode("CERTIFICATE", &der[..cut]);
            assert!(!verify(&truncated, &m), "cut at {cut}");
        }
        // Every byte flipped in the header and key parts: no panic.
        for i in 0..400.min(der.len()) {
            let mut bad = der.clone();
            bad[i] ^= 0xff;
            let _ = certificate_key(&pem_encode("CERTIFICATE", &bad));
        }
    }

    #[test]
    fn der_writer_and_reader_agree() {
        assert_eq!(integer(&[0, 0, 1]), [0x02, 0x01, 0x01]);
        assert_eq!(integer(&[0]), [0x02, 0x01, 0x00]);
        assert_eq!(integer(&[0x80]), [0x02, 0x02, 0x00, 0x80]);
        let long = tlv(OCTET_STRING, &[7; 300]);
        assert_eq!(&long[..4], [0x04, 0x82, 0x01, 0x2c]);
        let input = [&long[..], &[0x05, 0x00]].concat();
        assert_eq!(
            element(&input),
            Some(Element {
                tag: OCTET_STRING,
                contents: &[7; 300],
                whole: &long,
                rest: &[0x05, 0x00],
            })
        );
        assert_eq!(
            element(&[0x30, 0x80, 0x00, 0x00]),
            None,
            "indefinite length"
        );
        assert_eq!(element(&[0x30, 0x05, 0x00]), None, "short");
        // 2026-04-14T00:00:00Z, and one in 2051.
        assert_eq!(time(1_776_124_800_000), tlv(UTC_TIME, b"260414000000Z"));
        assert_eq!(
            time(2_556_144_000_000),
            tlv(GENERALIZED_TIME, b"20510101000000Z")
        );
    }

    #[test]
    fn the_certificate_holds_the_key() {
        let s = signer();
        assert_eq!(
            certificate_key(s.certificate_pem()),
            Some(s.key.to_public_key())
        );
        assert!(
            s.certificate_pem()
                .starts_with("-----BEGIN CERTIFICATE-----\n")
        );
        assert!(s.certificate_pem().lines().all(|l| l.len() <= 64));
    }

    #[test]
    fn load_or_create_keeps_the_key_and_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path().join("sns");
        let first = Signer::load_or_create_with(&dir, || Ok(signer().key.clone())).unwrap();
        let key = fs::read(dir.join(KEY_FILE)).unwrap();
        let cert = fs::read_to_string(dir.join(CERT_FILE)).unwrap();
        assert_eq!(cert, first.certificate_pem());
        let mode = fs::metadata(dir.join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "no temporary file left: {names:?}");

        let second = Signer::load_or_create(&dir).unwrap();
        assert_eq!(second.certificate_pem(), first.certificate_pem());
        assert_eq!(fs::read(dir.join(KEY_FILE)).unwrap(), key);
        assert_eq!(fs::read_to_string(dir.join(CERT_FILE)).unwrap(), cert);
        let Value::Object(mut m) = notification() else {
            unreachable!()
        };
        second.sign(&mut m, SignatureVersion::V1).unwrap();
        assert!(verify(&cert, &Value::Object(m)));
    }

    #[test]
    fn a_lost_certificate_is_made_anew_from_the_key() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(KEY_FILE), key_pem(&signer().key).unwrap()).unwrap();
        fs::write(dir.path().join(CERT_FILE), "garbage").unwrap();
        let loaded = Signer::load_or_create(dir.path()).unwrap();
        let cert = fs::read_to_string(dir.path().join(CERT_FILE)).unwrap();
        assert_eq!(loaded.certificate_pem(), cert);
        assert_eq!(certificate_key(&cert), Some(signer().key.to_public_key()));
        // A message the shared signer signed verifies with the new certificate.
        assert!(verify(&cert, &signed(notification(), SignatureVersion::V2)));

        fs::write(dir.path().join(KEY_FILE), "garbage").unwrap();
        let err = Signer::load_or_create(dir.path()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }

    fn openssl(dir: &Path, args: &[&str]) -> std::process::Output {
        Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("run openssl")
    }

    #[test]
    fn openssl_agrees() {
        if Command::new("openssl").arg("version").output().is_err() {
            eprintln!("openssl is not on PATH: skipping the check against it");
            return;
        }
        let s = signer();
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::write(d.join("cert.pem"), s.certificate_pem()).unwrap();
        fs::write(d.join("key.pem"), key_pem(&s.key).unwrap()).unwrap();

        let text = openssl(d, &["x509", "-in", "cert.pem", "-noout", "-text"]);
        assert!(text.status.success(), "{text:?}");
        let text = String::from_utf8_lossy(&text.stdout);
        assert!(text.contains("Version: 3"), "{text}");
        assert!(text.contains("CN = Nimbus SNS signing"), "{text}");
        assert!(text.contains("sha256WithRSAEncryption"), "{text}");
        assert!(text.contains("Public-Key: (2048 bit)"), "{text}");
        assert!(text.contains("CA:FALSE"), "{text}");

        let verified = openssl(d, &["verify", "-CAfile", "cert.pem", "cert.pem"]);
        assert!(verified.status.success(), "{verified:?}");
        let key = openssl(d, &["pkey", "-in", "key.pem", "-noout"]);
        assert!(key.status.success(), "{key:?}");
        let public = openssl(
            d,
            &[
                "x509", "-in", "cert.pem", "-pubkey", "-noout", "-out", "pub.pem",
            ],
        );
        assert!(public.status.success(), "{public:?}");

        for (version, digest) in [
            (SignatureVersion::V1, "-sha1"),
            (SignatureVersion::V2, "-sha256"),
        ] {
            let m = signed(notification(), version);
            fs::write(d.join("data"), string_to_sign(&m).unwrap()).unwrap();
            let sig = STANDARD.decode(m["Signature"].as_str().unwrap()).unwrap();
            fs::write(d.join("sig.bin"), sig).unwrap();
            let out = openssl(
                d,
                &[
                    "dgst",
                    digest,
                    "-verify",
                    "pub.pem",
                    "-signature",
                    "sig.bin",
                    "data",
                ],
            );
            assert!(out.status.success(), "{version:?}: {out:?}");
            assert!(String::from_utf8_lossy(&out.stdout).contains("Verified OK"));
        }
    }
}
