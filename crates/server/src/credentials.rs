//! The platform's access key: created on first start, kept in the data directory in
//! the AWS shared-credentials format so `AWS_SHARED_CREDENTIALS_FILE` is all a
//! client needs.

use anyhow::{Context, Result, bail};
use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

const KEY_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const SECRET_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn random_from(alphabet: &[u8], n: usize) -> Result<String> {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("read random bytes: {e}"))?;
    Ok(bytes
        .iter()
        .map(|b| alphabet[*b as usize % alphabet.len()] as char)
        .collect())
}

impl Credentials {
    pub fn generate() -> Result<Credentials> {
        Ok(Credentials {
            access_key_id: format!("AKIA{}", random_from(KEY_ALPHABET, 16)?),
            secret_access_key: random_from(SECRET_ALPHABET, 40)?,
        })
    }

    /// Read the `default` profile of a shared-credentials file.
    pub fn parse(text: &str) -> Option<Credentials> {
        let mut in_default = false;
        let (mut key, mut secret) = (None, None);
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with('[') {
                in_default = line == "[default]";
                continue;
            }
            if !in_default {
                continue;
            }
            if let Some((k, v)) = line.split_once('=') {
                match k.trim() {
                    "aws_access_key_id" => key = Some(v.trim().to_string()),
                    "aws_secret_access_key" => secret = Some(v.trim().to_string()),
                    _ => {}
                }
            }
        }
        Some(Credentials {
            access_key_id: key?,
            secret_access_key: secret?,
        })
    }

    pub fn render(&self) -> String {
        format!(
            "[default]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            self.access_key_id, self.secret_access_key
        )
    }

    /// Load `path`, or create it (mode 0600, fsynced) on first start.
    pub fn load_or_create(path: &Path) -> Result<Credentials> {
        match fs::read_to_string(path) {
            Ok(text) => match Credentials::parse(&text) {
                Some(c) => Ok(c),
                None => bail!(
                    "{} has no [default] profile with aws_access_key_id and aws_secret_access_key; fix or delete it",
                    path.display()
                ),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let creds = Credentials::generate()?;
                write_private(path, &creds.render()).context("write credentials file")?;
                Ok(creds)
            }
            Err(e) => Err(e).with_context(|| format!("read {}", path.display())),
        }
    }
}

/// Write a file atomically with mode 0600.
pub fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    drop(f);
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials");
        let a = Credentials::load_or_create(&path).unwrap();
        assert!(a.access_key_id.starts_with("AKIA") && a.access_key_id.len() == 20);
        assert_eq!(a.secret_access_key.len(), 40);
        assert_eq!(Credentials::load_or_create(&path).unwrap(), a);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn parses_only_the_default_profile() {
        let text = "[other]\naws_access_key_id = X\naws_secret_access_key = Y\n[default]\naws_access_key_id=A\naws_secret_access_key = B\n";
        let c = Credentials::parse(text).unwrap();
        assert_eq!(
            (c.access_key_id.as_str(), c.secret_access_key.as_str()),
            ("A", "B")
        );
        assert!(Credentials::parse("[default]\naws_access_key_id = A\n").is_none());
    }
}
