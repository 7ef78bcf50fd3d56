//! Multipart uploads: create, parts, complete (the object is the list of its parts' files), abort, list.

use super::*;

impl Objects {
    /// A new upload; `checksum` is the algorithm and type it asked for.
    pub fn create_upload(
        &self,
        bucket: &str,
        key: &str,
        attributes: Attributes,
        checksum: Option<(String, String)>,
    ) -> Result<Upload> {
        validate_key(key)?;
        self.bucket(bucket)?;
        let u = Upload {
            upload_id: uuid::Uuid::new_v4().simple().to_string(),
            bucket: bucket.into(),
            key: key.into(),
            initiated_ms: nimbus_model::time::now_millis(),
            attributes,
            checksum_type: checksum.as_ref().map(|(_, kind)| kind.clone()),
            checksum_algorithm: checksum.map(|(alg, _)| alg),
        };
        let mut batch = WriteBatch::new();
        batch.put(UPLOADS, upload_key(bucket, key, &u.upload_id), encode(&u));
        self.kv.commit(batch)?;
        Ok(u)
    }

    pub fn upload(&self, bucket: &str, key: &str, upload_id: &str) -> Result<Upload> {
        self.bucket(bucket)?;
        match self.kv.get(UPLOADS, &upload_key(bucket, key, upload_id))? {
            Some(v) => decode(&v),
            None => Err(Error::NoSuchUpload(upload_id.into())),
        }
    }

    pub(crate) fn check_part_number(number: u32) -> Result<()> {
        if !(1..=MAX_PART_NUMBER).contains(&number) {
            return Err(Error::InvalidArgument(format!(
                "Part number must be an integer between 1 and {MAX_PART_NUMBER}, inclusive"
            )));
        }
        Ok(())
    }

    /// Store a received part, replacing an earlier upload of the same number.
    pub fn put_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        number: u32,
        written: Written,
        checksum: Option<Checksum>,
    ) -> Result<Part> {
        // Parts are always files: a completed upload's object is its parts' files.
        let written = match written.inline {
            Some(bytes) => {
                let mut w = self.data.writer()?;
                w.write(&bytes)?;
                w.finish()?
            }
            None => written,
        };
        let fail = |e: Error| {
            self.data.remove(std::slice::from_ref(&written.id));
            Err(e)
        };
        if let Err(e) = Self::check_part_number(number) {
            return fail(e);
        }
        // Under the key's lock: a completion or an abort cannot come between
        // the upload's check and this part's commit.
        let _one_writer = self.lock_key(&object_key(bucket, key));
        if let Err(e) = self.upload(bucket, key, upload_id) {
            return fail(e);
        }
        let part = Part {
            number,
            etag: hex::encode(written.md5),
            size: written.size,
            last_modified_ms: nimbus_model::time::now_millis(),
            data: Segment {
                id: written.id.clone(),
                len: written.size,
                inline: false,
            },
            checksum,
        };
        let k = part_key(upload_id, number);
        let old: Option<Part> = self.kv.get(PARTS, &k)?.map(|v| decode(&v)).transpose()?;
        let mut batch = WriteBatch::new();
        batch.put(PARTS, k, encode(&part));
        if let Err(e) = self.kv.commit(batch) {
            return fail(e.into());
        }
        if let Some(old) = old {
            self.data.remove(&[old.data.id]);
        }
        Ok(part)
    }

    pub fn parts(&self, upload_id: &str) -> Result<Vec<Part>> {
        self.kv
            .scan_prefix(PARTS, format!("{upload_id}/").as_bytes())?
            .iter()
            .map(|(_, v)| decode(v))
            .collect()
    }

    /// Assemble the named parts into the object (no data is copied).
    pub fn complete_upload(
        &self,
        (bucket, key, upload_id): (&str, &str, &str),
        wanted: &[CompletedPart],
        checksum: Option<Checksum>,
        origin: &events::Origin,
        condition: Option<&WriteCondition>,
    ) -> Result<Object> {
        let b = self.bucket(bucket)?;
        let ok = object_key(bucket, key);
        // Held from the upload's read to its commit: one completion wins.
        let _one_writer = self.lock_key(&ok);
        let upload = match self.upload(bucket, key, upload_id) {
            Ok(u) => u,
            // Completed already: the same answer while its object is current.
            Err(Error::NoSuchUpload(id)) => {
                return match self.current(bucket, key)? {
                    Some(o) if !o.delete_marker && o.upload_id.as_deref() == Some(upload_id) => {
                        Ok(o)
                    }
                    _ => Err(Error::NoSuchUpload(id)),
                };
            }
            Err(e) => return Err(e),
        };
        if wanted.is_empty() {
            return Err(Error::InvalidArgument(
                "You must specify at least one part".into(),
            ));
        }
        if wanted.windows(2).any(|w| w[0].number >= w[1].number) {
            return Err(Error::InvalidPartOrder);
        }
        let stored = self.parts(upload_id)?;
        let mut used = Vec::new();
        for (i, w) in wanted.iter().enumerate() {
            let Some(p) = stored.iter().find(|p| p.number == w.number) else {
                return Err(Error::InvalidPart(w.number));
            };
            if unquote_etag(&w.etag) != p.etag {
                return Err(Error::InvalidPart(w.number));
            }
            if i + 1 < wanted.len() && p.size < MIN_PART_BYTES {
                return Err(Error::EntityTooSmall);
            }
            used.push(p.clone());
        }
        let etags: Vec<String> = used.iter().map(|p| p.etag.clone()).collect();
        let obj = Object {
            key: key.into(),
            size: used.iter().map(|p| p.size).sum(),
            etag: multipart_etag(&etags),
            last_modified_ms: nimbus_model::time::now_millis(),
            attributes: upload.attributes.clone(),
            checksum,
            segments: used
                .iter()
                .filter(|p| p.size > 0)
                .map(|p| p.data.clone())
                .collect(),
            parts: Some(used.len() as u32),
            version_id: None,
            delete_marker: false,
            upload_id: Some(upload_id.to_string()),
        };
        let old = self.current(bucket, key)?;
        check_condition(condition, old.as_ref(), key)?;
        let mut obj = obj;
        let mut batch = WriteBatch::new();
        let old_files = self.supersede(&b, &mut obj, old.as_ref(), &mut batch);
        batch.put(OBJECTS, ok, encode(&obj));
        batch.delete(UPLOADS, upload_key(bucket, key, upload_id));
        let mut unused = Vec::new();
        for p in &stored {
            batch.delete(PARTS, part_key(upload_id, p.number));
            if !used.iter().any(|u| u.number == p.number) || p.size == 0 {
                unused.push(p.data.id.clone());
            }
        }
        let staged = self.notify(
            &b,
            &events::Change {
                event: "ObjectCreated:CompleteMultipartUpload",
                object: &obj,
                origin,
            },
            &mut batch,
        );
        self.commit_notified(batch, staged)?;
        unused.extend(old_files);
        self.data.remove(&unused);
        Ok(obj)
    }

    pub fn abort_upload(&self, bucket: &str, key: &str, upload_id: &str) -> Result<()> {
        // Under the key's lock: a completion taking these parts' files either
        // committed before (the upload is gone) or waits.
        let _one_writer = self.lock_key(&object_key(bucket, key));
        self.upload(bucket, key, upload_id)?;
        let parts = self.parts(upload_id)?;
        let mut batch = WriteBatch::new();
        batch.delete(UPLOADS, upload_key(bucket, key, upload_id));
        for p in &parts {
            batch.delete(PARTS, part_key(upload_id, p.number));
        }
        self.kv.commit(batch)?;
        let ids: Vec<String> = parts.into_iter().map(|p| p.data.id).collect();
        self.data.remove(&ids);
        Ok(())
    }

    /// Unfinished uploads in `bucket` under `prefix`, by key then initiation.
    pub fn list_uploads(&self, bucket: &str, prefix: &str) -> Result<Vec<Upload>> {
        self.bucket(bucket)?;
        let mut ups: Vec<Upload> = self
            .kv
            .scan_prefix(UPLOADS, format!("{bucket}/{prefix}").as_bytes())?
            .iter()
            .map(|(_, v)| decode(v))
            .collect::<Result<_>>()?;
        ups.sort_by(|a, b| a.key.cmp(&b.key).then(a.initiated_ms.cmp(&b.initiated_ms)));
        Ok(ups)
    }
}
