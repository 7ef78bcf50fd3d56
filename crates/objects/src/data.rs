//! Object data on disk: one immutable file per uploaded body (a PUT, or one part
//! of a multipart upload), named by a random id under `<data dir>/objects/data`.
//!
//! A body is streamed into a [`DataWriter`] (hashing as it goes), made durable by
//! [`DataWriter::finish`], and only then referenced from metadata. Files are never
//! modified, so a reader holding one open never sees a torn object; a replaced
//! object's files are removed after the metadata that named them is gone.

use md5::{Digest, Md5};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Where the data files live.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    pub fn open(root: &Path) -> std::io::Result<DataDir> {
        fs::create_dir_all(root.join("tmp"))?;
        // Bodies whose upload never finished (the server died mid-stream).
        if let Ok(entries) = fs::read_dir(root.join("tmp")) {
            for e in entries.flatten() {
                let _ = fs::remove_file(e.path());
            }
        }
        Ok(DataDir {
            root: root.to_path_buf(),
        })
    }

    /// The file of a data id; ids are 32 hex digits, sharded by the first two.
    pub fn path(&self, id: &str) -> PathBuf {
        let shard = id.get(..2).unwrap_or("00");
        self.root.join(shard).join(id)
    }

    /// Start receiving a body.
    pub fn writer(&self) -> std::io::Result<DataWriter> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let tmp = self.root.join("tmp").join(&id);
        let file = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        Ok(DataWriter {
            dir: self.clone(),
            id,
            tmp,
            file: Some(file),
            size: 0,
            md5: Md5::new(),
        })
    }

    /// Remove data files (after the metadata naming them was committed away).
    /// Failures only leak disk space, so they are not errors.
    pub fn remove(&self, ids: &[String]) {
        for id in ids {
            let _ = fs::remove_file(self.path(id));
        }
    }

    pub fn open_file(&self, id: &str) -> std::io::Result<File> {
        File::open(self.path(id))
    }
}

/// A body being received. Dropped unfinished, its file is removed.
#[derive(Debug)]
pub struct DataWriter {
    dir: DataDir,
    id: String,
    tmp: PathBuf,
    file: Option<File>,
    size: u64,
    md5: Md5,
}

/// A received body: its id, size and MD5; durable in its file, or (small
/// bodies) held here to be stored inline with the object's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub id: String,
    pub size: u64,
    pub md5: [u8; 16],
    pub inline: Option<Vec<u8>>,
}

impl Written {
    /// A small body kept in memory, stored inline by the commit that names it.
    pub fn in_memory(bytes: Vec<u8>) -> Written {
        Written {
            id: uuid::Uuid::new_v4().simple().to_string(),
            size: bytes.len() as u64,
            md5: Md5::digest(&bytes).into(),
            inline: Some(bytes),
        }
    }
}

impl DataWriter {
    pub fn write(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| std::io::Error::other("write after finish"))?;
        file.write_all(chunk)?;
        self.md5.update(chunk);
        self.size += chunk.len() as u64;
        Ok(())
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// fsync the file, move it to its place and fsync that directory: after this
    /// returns the body survives a crash. Blocking.
    pub fn finish(mut self) -> std::io::Result<Written> {
        let file = self
            .file
            .take()
            .ok_or_else(|| std::io::Error::other("finish twice"))?;
        file.sync_all()?;
        drop(file);
        let dest = self.dir.path(&self.id);
        let parent = dest.parent().expect("data paths have a shard directory");
        fs::create_dir_all(parent)?;
        fs::rename(&self.tmp, &dest)?;
        File::open(parent)?.sync_all()?;
        let md5 = std::mem::take(&mut self.md5).finalize().into();
        Ok(Written {
            id: std::mem::take(&mut self.id),
            size: self.size,
            md5,
            inline: None,
        })
    }
}

impl Drop for DataWriter {
    fn drop(&mut self) {
        if self.file.is_some() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finished_body_is_in_place_with_its_md5() {
        let d = tempfile::tempdir().unwrap();
        let dir = DataDir::open(d.path()).unwrap();
        let mut w = dir.writer().unwrap();
        w.write(b"hello ").unwrap();
        w.write(b"world").unwrap();
        let done = w.finish().unwrap();
        assert_eq!(done.size, 11);
        assert_eq!(hex::encode(done.md5), "5eb63bbbe01eeed093cb22bb8f5acdc3");
        assert_eq!(fs::read(dir.path(&done.id)).unwrap(), b"hello world");
        dir.remove(std::slice::from_ref(&done.id));
        assert!(!dir.path(&done.id).exists());
    }

    #[test]
    fn an_abandoned_body_leaves_nothing() {
        let d = tempfile::tempdir().unwrap();
        let dir = DataDir::open(d.path()).unwrap();
        let mut w = dir.writer().unwrap();
        w.write(b"partial").unwrap();
        drop(w);
        assert_eq!(fs::read_dir(d.path().join("tmp")).unwrap().count(), 0);
    }
}
