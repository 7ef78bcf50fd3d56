//! Multipart uploads: create, upload parts (and part copies), complete (with
//! composite checksums), abort, and their listings.

use crate::*;

/// S3's composite checksum of a multipart upload: the checksum of the parts'
/// binary checksums, then `-N`.
pub(crate) fn composite_checksum(
    alg: &str,
    parts: &[nimbus_objects::Part],
    wanted: &[CompletedPart],
) -> Option<nimbus_objects::Checksum> {
    let mut h = checksum::Hasher::new(alg)?;
    for w in wanted {
        let p = parts.iter().find(|p| p.number == w.number)?;
        let c = p.checksum.as_ref()?;
        h.update(
            &base64::engine::general_purpose::STANDARD
                .decode(&c.value)
                .ok()?,
        );
    }
    Some(nimbus_objects::Checksum {
        algorithm: alg.to_string(),
        value: format!("{}-{}", h.finish(), wanted.len()),
        kind: "COMPOSITE".into(),
    })
}

/// An upload's `ChecksumAlgorithm` and `ChecksumType` elements, if it asked
/// for a checksum.
fn upload_checksum(u: &nimbus_objects::Upload) -> String {
    match &u.checksum_algorithm {
        Some(a) => format!(
            "{}{}",
            el("ChecksumAlgorithm", a),
            el(
                "ChecksumType",
                u.checksum_type.as_deref().unwrap_or("COMPOSITE")
            )
        ),
        None => String::new(),
    }
}

impl S3Api {
    pub(crate) fn part_number(q: &Query) -> Result<u32, S3Error> {
        q.get("partNumber")
            .and_then(|p| p.parse::<u32>().ok())
            .filter(|n| (1..=nimbus_objects::MAX_PART_NUMBER).contains(n))
            .ok_or_else(|| {
                S3Error::invalid_argument(
                    "Part number must be an integer between 1 and 10000, inclusive",
                )
            })
    }

    pub(crate) async fn upload_part(
        &self,
        bucket: &str,
        key: &str,
        q: &Query,
        h: &HeaderMap,
        body: crate::body::RequestBody,
        payload: &Payload,
    ) -> Result<Response<Body>, S3Error> {
        let number = Self::part_number(q)?;
        let upload_id = q.get("uploadId").unwrap_or("");
        // Fail before reading the body when the upload is unknown.
        self.objects.upload(bucket, key, upload_id)?;
        let checks = checks_from(h)?;
        // Parts are files (a completed upload is its parts' files): never inline.
        let (written, checksum) =
            body::receive(self.objects.data(), body, payload, checks, MAX_PUT_BYTES, 0).await?;
        let part = self
            .objects
            .put_part(bucket, key, upload_id, number, written, checksum)?;
        let mut r = ok_empty(StatusCode::OK);
        set(&mut r, "etag", &format!("\"{}\"", part.etag));
        if let Some(c) = &part.checksum {
            set(
                &mut r,
                &format!("x-amz-checksum-{}", c.algorithm.to_ascii_lowercase()),
                &c.value,
            );
        }
        Ok(r)
    }

    pub(crate) async fn upload_part_copy(
        &self,
        bucket: &str,
        key: &str,
        q: &Query,
        h: &HeaderMap,
    ) -> Result<Response<Body>, S3Error> {
        let number = Self::part_number(q)?;
        let upload_id = q.get("uploadId").unwrap_or("").to_string();
        self.objects.upload(bucket, key, &upload_id)?;
        let (sb, sk) = copy_source(h)?;
        let src = self.objects.head(&sb, &sk)?;
        copy_preconditions(h, &src)?;
        let (start, end) = match header(h, "x-amz-copy-source-range") {
            Some(r) => {
                let spec = r
                    .trim()
                    .strip_prefix("bytes=")
                    .and_then(|s| s.split_once('-'));
                match spec.and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?)))
                {
                    Some((a, b)) if a <= b && b < src.size => (a, b),
                    _ => {
                        return Err(S3Error::invalid_argument(
                            "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy",
                        ));
                    }
                }
            }
            None => (0, src.size.saturating_sub(1)),
        };
        let objects = self.objects.clone();
        let segments = src.segments.clone();
        let size = src.size;
        let written = tokio::task::spawn_blocking(move || -> std::io::Result<_> {
            let mut w = objects.data().writer()?;
            if size > 0 {
                let mut body = FileBody::open(&objects, &segments, start, end)?;
                for piece in &mut body.pieces {
                    use std::io::Read;
                    match piece {
                        body::Piece::Mem(b) => w.write(b)?,
                        body::Piece::File(f, left) => {
                            let mut buf = vec![0u8; 256 * 1024];
                            while *left > 0 {
                                let n = f.read(&mut buf[..(*left).min(256 * 1024) as usize])?;
                                if n == 0 {
                                    break;
                                }
                                w.write(&buf[..n])?;
                                *left -= n as u64;
                            }
                        }
                    }
                }
            }
            w.finish()
        })
        .await
        .map_err(|e| S3Error::internal(e.to_string()))?
        .map_err(|e| S3Error::internal(format!("copy part data: {e}")))?;
        let part = self
            .objects
            .put_part(bucket, key, &upload_id, number, written, None)?;
        Ok(xml_response(
            StatusCode::OK,
            format!(
                "{DECL}<CopyPartResult xmlns=\"{NS}\">{}{}</CopyPartResult>",
                el("LastModified", &iso(part.last_modified_ms)),
                el("ETag", &format!("\"{}\"", part.etag))
            ),
        ))
    }

    pub(crate) async fn complete(
        &self,
        bucket: &str,
        key: &str,
        q: &Query,
        (h, body): (&HeaderMap, crate::body::RequestBody),
        payload: &Payload,
        origin: &Origin,
    ) -> Result<Response<Body>, S3Error> {
        let upload_id = q.get("uploadId").unwrap_or("");
        let condition = write_condition(h)?;
        let doc = body::read_document(body, payload, xml::MAX_DOCUMENT).await?;
        let root = xml::parse(&doc).map_err(|m| S3Error::bad("MalformedXML", m))?;
        let mut wanted = Vec::new();
        for p in root.children_named("Part") {
            let number = p
                .child_text("PartNumber")
                .and_then(|n| n.trim().parse::<u32>().ok())
                .ok_or_else(|| S3Error::bad("MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema"))?;
            let etag = p.child_text("ETag").unwrap_or("").to_string();
            wanted.push(CompletedPart { number, etag });
        }
        // A composite checksum of the parts' checksums, when the upload asked for one.
        // A completed upload is gone: the store answers a repeated completion.
        let checksum = match self.objects.upload(bucket, key, upload_id) {
            // (An upload made before checksum types were kept: CRC64NVME is
            // FULL_OBJECT, the rest COMPOSITE.)
            Ok(upload) => {
                let full_object = match upload.checksum_type.as_deref() {
                    Some(kind) => kind == "FULL_OBJECT",
                    None => upload.checksum_algorithm.as_deref() == Some("CRC64NVME"),
                };
                match &upload.checksum_algorithm {
                    Some(alg) if full_object => {
                        let parts = self.objects.parts(upload_id)?;
                        self.full_object_checksum(alg, &parts, &wanted).await?
                    }
                    Some(alg) => composite_checksum(alg, &self.objects.parts(upload_id)?, &wanted),
                    None => None,
                }
            }
            Err(nimbus_objects::Error::NoSuchUpload(_)) => None,
            Err(e) => return Err(e.into()),
        };
        // The whole object's checksum, when the client sent it, must agree.
        if let Some(c) = &checksum
            && let Some(claimed) = header(
                h,
                &format!("x-amz-checksum-{}", c.algorithm.to_ascii_lowercase()),
            )
            && claimed != c.value
            && c.value.split_once('-').map(|(v, _)| v) != Some(claimed)
        {
            return Err(S3Error::bad(
                "BadDigest",
                format!(
                    "The {} you specified did not match the calculated checksum.",
                    c.algorithm
                ),
            ));
        }
        let obj = self.objects.complete_upload(
            (bucket, key, upload_id),
            &wanted,
            checksum,
            origin,
            condition.as_ref(),
        )?;
        let mut doc = format!(
            "{DECL}<CompleteMultipartUploadResult xmlns=\"{NS}\">{}{}{}{}",
            el("Location", &format!("/{bucket}/{key}")),
            el("Bucket", bucket),
            el("Key", key),
            el("ETag", &format!("\"{}\"", obj.etag))
        );
        if let Some(c) = &obj.checksum {
            doc.push_str(&el(&format!("Checksum{}", c.algorithm), &c.value));
            doc.push_str(&el("ChecksumType", &c.kind));
        }
        doc.push_str("</CompleteMultipartUploadResult>");
        let mut r = xml_response(StatusCode::OK, doc);
        if let Some(v) = &obj.version_id {
            set(&mut r, "x-amz-version-id", v);
        }
        Ok(r)
    }

    /// A `FULL_OBJECT` upload's checksum: the parts' CRCs combined in the
    /// order completed (a part uploaded without the upload's algorithm is
    /// read back and hashed).
    async fn full_object_checksum(
        &self,
        alg: &str,
        parts: &[nimbus_objects::Part],
        wanted: &[CompletedPart],
    ) -> Result<Option<nimbus_objects::Checksum>, S3Error> {
        let by_number: std::collections::HashMap<u32, &nimbus_objects::Part> =
            parts.iter().map(|p| (p.number, p)).collect();
        let mut whole: Option<String> = None;
        for w in wanted {
            let Some(p) = by_number.get(&w.number).copied() else {
                // Not a part of this upload: completing refuses it.
                return Ok(None);
            };
            let crc = match &p.checksum {
                Some(c) if c.algorithm == alg => c.value.clone(),
                _ => {
                    let objects = self.objects.clone();
                    let (id, alg) = (p.data.id.clone(), alg.to_string());
                    tokio::task::spawn_blocking(move || -> std::io::Result<String> {
                        use std::io::Read;
                        let mut f = objects.data().open_file(&id)?;
                        let mut h = checksum::Hasher::new(&alg)
                            .ok_or_else(|| std::io::Error::other("not a checksum algorithm"))?;
                        let mut buf = vec![0u8; 256 * 1024];
                        loop {
                            let n = f.read(&mut buf)?;
                            if n == 0 {
                                return Ok(h.finish());
                            }
                            h.update(&buf[..n]);
                        }
                    })
                    .await
                    .map_err(|e| S3Error::internal(e.to_string()))?
                    .map_err(|e| S3Error::internal(e.to_string()))?
                }
            };
            whole = Some(match whole {
                None => crc,
                Some(sofar) => checksum::combine(alg, &sofar, &crc, p.size)
                    .ok_or_else(|| S3Error::internal("a part's checksum does not combine"))?,
            });
        }
        Ok(whole.map(|value| nimbus_objects::Checksum {
            algorithm: alg.to_string(),
            value,
            kind: "FULL_OBJECT".into(),
        }))
    }

    pub(crate) fn list_parts(
        &self,
        bucket: &str,
        key: &str,
        q: &Query,
    ) -> Result<Response<Body>, S3Error> {
        let upload_id = q.get("uploadId").unwrap_or("");
        let upload = self.objects.upload(bucket, key, upload_id)?;
        let max = max_keys(q, "max-parts")?;
        let marker: u32 = q
            .get("part-number-marker")
            .map(|m| {
                m.parse()
                    .map_err(|_| S3Error::invalid_argument("Invalid part-number-marker"))
            })
            .transpose()?
            .unwrap_or(0);
        let parts: Vec<_> = self
            .objects
            .parts(upload_id)?
            .into_iter()
            .filter(|p| p.number > marker)
            .collect();
        let truncated = parts.len() > max;
        let page = &parts[..parts.len().min(max)];
        let mut doc = format!(
            "{DECL}<ListPartsResult xmlns=\"{NS}\">{}{}{}{}",
            el("Bucket", bucket),
            el("Key", key),
            el("UploadId", upload_id),
            el("PartNumberMarker", &marker.to_string())
        );
        if let Some(last) = page.last() {
            doc.push_str(&el("NextPartNumberMarker", &last.number.to_string()));
        }
        doc.push_str(&el("MaxParts", &max.to_string()));
        doc.push_str(&el("IsTruncated", if truncated { "true" } else { "false" }));
        for p in page {
            doc.push_str(&format!(
                "<Part>{}{}{}{}",
                el("PartNumber", &p.number.to_string()),
                el("LastModified", &iso(p.last_modified_ms)),
                el("ETag", &format!("\"{}\"", p.etag)),
                el("Size", &p.size.to_string())
            ));
            if let Some(c) = &p.checksum {
                doc.push_str(&el(&format!("Checksum{}", c.algorithm), &c.value));
            }
            doc.push_str("</Part>");
        }
        doc.push_str(&format!(
            "<Initiator><ID>{OWNER_ID}</ID><DisplayName>{OWNER_NAME}</DisplayName></Initiator>{}{}",
            owner(),
            el(
                "StorageClass",
                upload
                    .attributes
                    .storage_class
                    .as_deref()
                    .unwrap_or("STANDARD")
            )
        ));
        doc.push_str(&upload_checksum(&upload));
        doc.push_str("</ListPartsResult>");
        Ok(xml_response(StatusCode::OK, doc))
    }

    pub(crate) fn list_uploads(&self, bucket: &str, q: &Query) -> Result<Response<Body>, S3Error> {
        let url = crate::listings::url_encoding(q)?;
        let prefix = q.get("prefix").unwrap_or("");
        let max = max_keys(q, "max-uploads")?;
        let key_marker = q.get("key-marker").unwrap_or("");
        let id_marker = q.get("upload-id-marker").unwrap_or("");
        let ups: Vec<_> = self
            .objects
            .list_uploads(bucket, prefix)?
            .into_iter()
            .filter(|u| {
                key_marker.is_empty()
                    || u.key.as_str() > key_marker
                    || (u.key == key_marker
                        && !id_marker.is_empty()
                        && u.upload_id.as_str() > id_marker)
            })
            .collect();
        let truncated = ups.len() > max;
        let page = &ups[..ups.len().min(max)];
        let mut doc = format!(
            "{DECL}<ListMultipartUploadsResult xmlns=\"{NS}\">{}{}{}{}",
            el("Bucket", bucket),
            el("KeyMarker", &encode_key(key_marker, url)),
            el("UploadIdMarker", id_marker),
            el("Prefix", &encode_key(prefix, url))
        );
        if url {
            doc.push_str("<EncodingType>url</EncodingType>");
        }
        if truncated && let Some(last) = page.last() {
            doc.push_str(&el("NextKeyMarker", &encode_key(&last.key, url)));
            doc.push_str(&el("NextUploadIdMarker", &last.upload_id));
        }
        doc.push_str(&el("MaxUploads", &max.to_string()));
        doc.push_str(&el("IsTruncated", if truncated { "true" } else { "false" }));
        for u in page {
            doc.push_str(&format!(
                "<Upload>{}{}<Initiator><ID>{OWNER_ID}</ID><DisplayName>{OWNER_NAME}</DisplayName></Initiator>{}{}{}{}</Upload>",
                el("Key", &encode_key(&u.key, url)),
                el("UploadId", &u.upload_id),
                owner(),
                el("StorageClass", "STANDARD"),
                el("Initiated", &iso(u.initiated_ms)),
                upload_checksum(u)
            ));
        }
        doc.push_str("</ListMultipartUploadsResult>");
        Ok(xml_response(StatusCode::OK, doc))
    }

    pub(crate) fn create_upload(
        &self,
        bucket: &str,
        key: &str,
        h: &HeaderMap,
    ) -> Result<Response<Body>, S3Error> {
        let mut attrs = attributes_from(h)?;
        let b = self.objects.bucket(bucket)?;
        attrs.acl = object_acl(&b, h)?;
        attrs.lock = crate::lock::requested(&b, h)?;
        let alg = header(h, "x-amz-checksum-algorithm").map(|a| a.to_ascii_uppercase());
        let kind = header(h, "x-amz-checksum-type");
        let checksum = match alg {
            Some(alg) if checksum::Hasher::new(&alg).is_some() => {
                let kind = checksum::upload_type(&alg, kind)
                    .map_err(|m| S3Error::bad("InvalidRequest", m))?;
                Some((alg, kind.to_string()))
            }
            Some(_) => {
                return Err(S3Error::invalid_argument(
                    "Value for x-amz-checksum-algorithm header is invalid.",
                ));
            }
            None if kind.is_some() => {
                return Err(S3Error::bad(
                    "InvalidRequest",
                    "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header.",
                ));
            }
            None => None,
        };
        let u = self
            .objects
            .create_upload(bucket, key, attrs, checksum.clone())?;
        let mut r = xml_response(
            StatusCode::OK,
            format!(
                "{DECL}<InitiateMultipartUploadResult xmlns=\"{NS}\">{}{}{}</InitiateMultipartUploadResult>",
                el("Bucket", bucket),
                el("Key", key),
                el("UploadId", &u.upload_id)
            ),
        );
        if let Some((alg, kind)) = checksum {
            set(&mut r, "x-amz-checksum-algorithm", &alg);
            set(&mut r, "x-amz-checksum-type", &kind);
        }
        Ok(r)
    }
}
