//! Deployment packages: validating a zip and unpacking it once into a cache
//! directory that every environment of that code shares. Layers are packages
//! too: a function's layers are merged, in order, into one more directory
//! (its `/opt`), made once per list of layers.

use crate::error::{Error, Result};
use std::fs;
use std::io::{Cursor, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Lambda's limit on a package's unzipped size: 250 MB.
pub const MAX_UNZIPPED_BYTES: u64 = 262_144_000;
/// Lambda's limit on a zip uploaded in the request: 50 MB.
pub const MAX_ZIPPED_BYTES: usize = 50 * 1024 * 1024;

const UNZIP_FAILED: &str =
    "Could not unzip uploaded file. Please check your file, then try to upload again.";

/// Where `S3Bucket`/`S3Key`/`S3ObjectVersion` point: a package in Nimbus's
/// own object store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Code {
    pub bucket: String,
    pub key: String,
    pub version: Option<String>,
}

/// The object store, as the functions service reads packages from it (the
/// server provides it: this crate does not depend on the object store).
pub trait CodeObjects: Send + Sync {
    /// The object's bytes, or S3's error code and message.
    fn get(&self, at: &S3Code) -> std::result::Result<Vec<u8>, (String, String)>;
}

/// Read a package from the object store, failing as Lambda fails.
pub fn read_s3(objects: Option<&dyn CodeObjects>, at: &S3Code) -> Result<Vec<u8>> {
    let objects = objects.ok_or_else(|| {
        Error::InvalidParameter(
            "Code from S3 is not available: this server has no object store".into(),
        )
    })?;
    objects.get(at).map_err(|(code, message)| {
        Error::InvalidParameter(format!(
            "Error occurred while GetObject. S3 Error Code: {code}. S3 Error Message: {message}"
        ))
    })
}

/// Unpacked packages under `<data>/code/<digest>/`.
pub struct CodeCache {
    root: PathBuf,
}

impl CodeCache {
    pub fn new(root: PathBuf) -> std::io::Result<CodeCache> {
        fs::create_dir_all(&root)?;
        // Half-extracted directories from a crash are never used: clear them.
        for entry in fs::read_dir(&root)? {
            let entry = entry?;
            if entry.file_name().to_string_lossy().starts_with(".tmp-") {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
        Ok(CodeCache { root })
    }

    pub fn dir(&self, digest: &str) -> PathBuf {
        self.root.join(digest)
    }

    /// Unpack `zip` (whose hex SHA-256 is `digest`) unless it already is.
    pub fn ensure(&self, digest: &str, zip: &[u8]) -> Result<PathBuf> {
        let dest = self.dir(digest);
        if dest.is_dir() {
            return Ok(dest);
        }
        let tmp = self
            .root
            .join(format!(".tmp-{digest}-{}", uuid::Uuid::new_v4().simple()));
        let result = unzip(zip, &tmp).and_then(|()| {
            fs::rename(&tmp, &dest).map_err(|e| Error::Internal(format!("install code: {e}")))
        });
        if result.is_err() {
            let _ = fs::remove_dir_all(&tmp);
            // Another caller may have won the race with the same content.
            if dest.is_dir() {
                return Ok(dest);
            }
        }
        result.map(|()| dest)
    }

    /// The unpacked packages `digests` merged in order (later files over
    /// earlier ones) into one directory, made once per list. Files are hard
    /// links into the unpacked packages, so a merge costs no copies.
    pub fn merged(&self, digests: &[&str]) -> Result<PathBuf> {
        use sha2::Digest as _;
        let key = hex::encode(sha2::Sha256::digest(digests.join(",")));
        let dest = self.root.join(format!("opt-{key}"));
        if dest.is_dir() {
            return Ok(dest);
        }
        let tmp = self
            .root
            .join(format!(".tmp-opt-{key}-{}", uuid::Uuid::new_v4().simple()));
        let result = fs::create_dir_all(&tmp)
            .and_then(|()| digests.iter().try_for_each(|d| overlay(&self.dir(d), &tmp)))
            .and_then(|()| fs::rename(&tmp, &dest));
        if let Err(e) = result {
            let _ = fs::remove_dir_all(&tmp);
            // Another caller may have won the race with the same layers.
            if dest.is_dir() {
                return Ok(dest);
            }
            return Err(Error::Internal(format!("merge layers: {e}")));
        }
        Ok(dest)
    }

    pub fn remove(&self, digest: &str) {
        let _ = fs::remove_dir_all(self.dir(digest));
    }
}

/// Check that `zip` is a package Lambda would accept, without unpacking it;
/// returns its unzipped size.
pub fn validate(zip: &[u8]) -> Result<u64> {
    let mut archive = zip::ZipArchive::new(Cursor::new(zip))
        .map_err(|_| Error::InvalidParameter(UNZIP_FAILED.into()))?;
    let mut total: u64 = 0;
    for i in 0..archive.len() {
        let entry = archive
            .by_index_raw(i)
            .map_err(|_| Error::InvalidParameter(UNZIP_FAILED.into()))?;
        if entry.enclosed_name().is_none() {
            return Err(Error::InvalidParameter(format!(
                "{UNZIP_FAILED} (entry '{}' points outside the package)",
                entry.name()
            )));
        }
        total = total.saturating_add(entry.size());
    }
    if total > MAX_UNZIPPED_BYTES {
        return Err(Error::InvalidParameter(format!(
            "Unzipped size must be smaller than {MAX_UNZIPPED_BYTES} bytes"
        )));
    }
    Ok(total)
}

fn unzip(zip: &[u8], dest: &Path) -> Result<()> {
    validate(zip)?;
    let bad = |e: &dyn std::fmt::Display| Error::InvalidParameter(format!("{UNZIP_FAILED} ({e})"));
    let mut archive = zip::ZipArchive::new(Cursor::new(zip)).map_err(|e| bad(&e))?;
    fs::create_dir_all(dest).map_err(|e| Error::Internal(format!("create code dir: {e}")))?;
    let mut written: u64 = 0;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(|e| bad(&e))?;
        let Some(rel) = entry.enclosed_name() else {
            return Err(bad(&"entry points outside the package"));
        };
        let path = dest.join(rel);
        if entry.is_dir() {
            fs::create_dir_all(&path)
                .map_err(|e| Error::Internal(format!("create {}: {e}", path.display())))?;
            continue;
        }
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)
                .map_err(|e| Error::Internal(format!("create {}: {e}", parent.display())))?;
        }
        let mode = entry.unix_mode();
        if mode.is_some_and(|m| m & 0o170000 == 0o120000) {
            // Symlinks inside packages: keep the target only if it stays inside.
            let mut target = String::new();
            entry.read_to_string(&mut target).map_err(|e| bad(&e))?;
            let resolved = path.parent().unwrap_or(dest).join(&target);
            if target.starts_with('/') || !normalize(&resolved).starts_with(dest) {
                return Err(bad(&format!(
                    "symlink '{}' points outside the package",
                    entry.name()
                )));
            }
            std::os::unix::fs::symlink(&target, &path)
                .map_err(|e| Error::Internal(format!("symlink: {e}")))?;
            continue;
        }
        let mut buf = Vec::with_capacity(entry.size().min(MAX_UNZIPPED_BYTES) as usize);
        // Read at most the declared size plus one byte: a lying header cannot blow the limit.
        (&mut entry)
            .take(MAX_UNZIPPED_BYTES - written + 1)
            .read_to_end(&mut buf)
            .map_err(|e| bad(&e))?;
        written += buf.len() as u64;
        if written > MAX_UNZIPPED_BYTES {
            return Err(Error::InvalidParameter(format!(
                "Unzipped size must be smaller than {MAX_UNZIPPED_BYTES} bytes"
            )));
        }
        fs::write(&path, &buf)
            .map_err(|e| Error::Internal(format!("write {}: {e}", path.display())))?;
        // Keep the package's permission bits (executables stay executable), readable by all.
        let perm = mode.map(|m| (m & 0o777) | 0o444).unwrap_or(0o644);
        fs::set_permissions(&path, fs::Permissions::from_mode(perm))
            .map_err(|e| Error::Internal(format!("chmod {}: {e}", path.display())))?;
    }
    Ok(())
}

/// Put the tree `src` over `dest`: what `src` has replaces what `dest` had.
fn overlay(src: &Path, dest: &Path) -> std::io::Result<()> {
    for entry in fs::read_dir(src)? {
        let entry = entry?;
        let (from, to) = (entry.path(), dest.join(entry.file_name()));
        let kind = entry.file_type()?;
        let existing = fs::symlink_metadata(&to).ok();
        if kind.is_dir() {
            match existing {
                Some(m) if m.is_dir() => {}
                Some(_) => {
                    fs::remove_file(&to)?;
                    fs::create_dir(&to)?;
                }
                None => fs::create_dir(&to)?,
            }
            overlay(&from, &to)?;
            continue;
        }
        match existing {
            Some(m) if m.is_dir() => fs::remove_dir_all(&to)?,
            Some(_) => fs::remove_file(&to)?,
            None => {}
        }
        if kind.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&from)?, &to)?;
        } else if fs::hard_link(&from, &to).is_err() {
            fs::copy(&from, &to)?;
        }
    }
    Ok(())
}

fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use zip::write::SimpleFileOptions;

    pub(crate) fn make_zip(files: &[(&str, &[u8], u32)]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data, mode) in files {
            w.start_file(*name, SimpleFileOptions::default().unix_permissions(*mode))
                .unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn unpacks_with_modes() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CodeCache::new(dir.path().to_path_buf()).unwrap();
        let zip = make_zip(&[
            ("app.py", b"x = 1\n", 0o644),
            ("bin/bootstrap", b"#!/bin/sh\n", 0o755),
        ]);
        let out = cache.ensure("d1", &zip).unwrap();
        assert_eq!(fs::read(out.join("app.py")).unwrap(), b"x = 1\n");
        let mode = fs::metadata(out.join("bin/bootstrap"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o111, 0o111);
        // Second call is a cache hit.
        assert_eq!(cache.ensure("d1", b"not even a zip").unwrap(), out);
    }

    #[test]
    fn merges_layers_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CodeCache::new(dir.path().to_path_buf()).unwrap();
        let a = make_zip(&[
            ("python/shared.py", b"A\n", 0o644),
            ("python/only_a.py", b"a\n", 0o644),
            ("bin/tool", b"#!/bin/sh\n", 0o755),
        ]);
        let b = make_zip(&[("python/shared.py", b"B\n", 0o644)]);
        cache.ensure("a", &a).unwrap();
        cache.ensure("b", &b).unwrap();
        let opt = cache.merged(&["a", "b"]).unwrap();
        assert_eq!(fs::read(opt.join("python/shared.py")).unwrap(), b"B\n");
        assert_eq!(fs::read(opt.join("python/only_a.py")).unwrap(), b"a\n");
        let mode = fs::metadata(opt.join("bin/tool"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o111, 0o111);
        // The other order is another directory, where `a` wins.
        let other = cache.merged(&["b", "a"]).unwrap();
        assert_ne!(other, opt);
        assert_eq!(fs::read(other.join("python/shared.py")).unwrap(), b"A\n");
        assert_eq!(cache.merged(&["a", "b"]).unwrap(), opt);
        // The packages themselves are untouched.
        assert_eq!(
            fs::read(cache.dir("a").join("python/shared.py")).unwrap(),
            b"A\n"
        );
    }

    #[test]
    fn refuses_garbage_and_escapes() {
        assert!(matches!(
            validate(b"PK\x03\x04garbage"),
            Err(Error::InvalidParameter(_))
        ));
        assert!(matches!(validate(b""), Err(Error::InvalidParameter(_))));
        let evil = make_zip(&[("../../etc/evil", b"x", 0o644)]);
        let err = validate(&evil).unwrap_err().to_string();
        assert!(err.contains("outside the package"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let cache = CodeCache::new(dir.path().join("code")).unwrap();
        assert!(cache.ensure("evil", &evil).is_err());
        assert!(!dir.path().join("etc").exists());
        // Nothing half-written is left behind.
        assert_eq!(fs::read_dir(dir.path().join("code")).unwrap().count(), 0);
    }
}
