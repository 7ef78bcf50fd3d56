//! Object operations: PUT, GET and HEAD (ranges, conditions), copy, delete (one,
//! a version, or many at once).

use crate::*;

/// Evaluate `If-Match`, `If-None-Match`, `If-Modified-Since` and
/// `If-Unmodified-Since` as S3 does; `Err` is the response to send instead.
pub(crate) fn preconditions(h: &HeaderMap, o: &Object) -> Result<(), S3Error> {
    let etag_matches = |list: &str| {
        list.split(',')
            .any(|e| e.trim() == "*" || nimbus_objects::unquote_etag(e) == o.etag)
    };
    let modified_secs = (o.last_modified_ms / 1000) as i64;
    let failed = || {
        S3Error::new(
            StatusCode::PRECONDITION_FAILED,
            "PreconditionFailed",
            "At least one of the pre-conditions you specified did not hold",
        )
    };
    let not_modified = || S3Error::new(StatusCode::NOT_MODIFIED, "NotModified", "Not Modified");
    let if_match = header(h, "if-match");
    if let Some(m) = if_match
        && !etag_matches(m)
    {
        return Err(failed().with("Condition", "If-Match"));
    }
    if if_match.is_none()
        && let Some(d) =
            header(h, "if-unmodified-since").and_then(nimbus_model::time::parse_http_date)
        && modified_secs > d
    {
        return Err(failed().with("Condition", "If-Unmodified-Since"));
    }
    let if_none = header(h, "if-none-match");
    if let Some(m) = if_none
        && etag_matches(m)
    {
        return Err(not_modified());
    }
    if if_none.is_none()
        && let Some(d) =
            header(h, "if-modified-since").and_then(nimbus_model::time::parse_http_date)
        && modified_secs <= d
    {
        return Err(not_modified());
    }
    Ok(())
}

/// `x-amz-copy-source-if-*`, as S3 evaluates them for copies.
pub(crate) fn copy_preconditions(h: &HeaderMap, src: &Object) -> Result<(), S3Error> {
    let mut renamed = HeaderMap::new();
    for (from, to) in [
        ("x-amz-copy-source-if-match", "if-match"),
        ("x-amz-copy-source-if-none-match", "if-none-match"),
        ("x-amz-copy-source-if-modified-since", "if-modified-since"),
        (
            "x-amz-copy-source-if-unmodified-since",
            "if-unmodified-since",
        ),
    ] {
        if let Some(v) = h.get(from) {
            renamed.insert(to, v.clone());
        }
    }
    preconditions(&renamed, src).map_err(|e| {
        if e.status() == StatusCode::NOT_MODIFIED {
            S3Error::new(
                StatusCode::PRECONDITION_FAILED,
                "PreconditionFailed",
                "At least one of the pre-conditions you specified did not hold",
            )
        } else {
            e
        }
    })
}

/// The bytes part `n` of `obj` holds (`partNumber` on GET and HEAD): a part
/// of a multipart upload's object, or the whole of another as its part 1.
fn part_range(obj: &Object, n: &str) -> Result<Option<(u64, u64)>, S3Error> {
    let n: usize = n
        .parse()
        .ok()
        .filter(|n| (1..=10_000).contains(n))
        .ok_or_else(|| {
            S3Error::invalid_argument(
                "Part number must be an integer between 1 and 10000, inclusive",
            )
            .with("ArgumentName", "partNumber")
            .with("ArgumentValue", n)
        })?;
    let unsatisfiable = || {
        S3Error::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "InvalidPartNumber",
            "The requested partnumber is not satisfiable",
        )
        .with("PartNumberRequested", n.to_string())
        .with("ActualPartCount", obj.parts.unwrap_or(1).to_string())
    };
    if obj.parts.is_none() {
        return match n {
            1 if obj.size == 0 => Ok(None),
            1 => Ok(Some((0, obj.size - 1))),
            _ => Err(unsatisfiable()),
        };
    }
    let part = obj.segments.get(n - 1).ok_or_else(unsatisfiable)?;
    let start: u64 = obj.segments[..n - 1].iter().map(|s| s.len).sum();
    if part.len == 0 {
        return Ok(None);
    }
    Ok(Some((start, start + part.len - 1)))
}

/// A PUT's condition on the key's current object: `If-None-Match: *` (no
/// object there) or `If-Match: "etag"`; S3 takes no other `If-None-Match`.
pub(crate) fn write_condition(
    h: &HeaderMap,
) -> Result<Option<nimbus_objects::WriteCondition>, S3Error> {
    use nimbus_objects::WriteCondition;
    if let Some(v) = header(h, "if-none-match") {
        if v.trim() != "*" {
            return Err(S3Error::new(
                StatusCode::NOT_IMPLEMENTED,
                "NotImplemented",
                "A header you provided implies functionality that is not implemented",
            )
            .with("Header", "If-None-Match"));
        }
        return Ok(Some(WriteCondition::Absent));
    }
    Ok(header(h, "if-match").map(|v| WriteCondition::Matches(v.trim().to_string())))
}

impl S3Api {
    pub(crate) async fn put_object(
        &self,
        bucket: &str,
        key: &str,
        h: &HeaderMap,
        body: crate::body::RequestBody,
        payload: &Payload,
        origin: &Origin,
    ) -> Result<Response<Body>, S3Error> {
        let mut attrs = attributes_from(h)?;
        // Fail before reading the body when the bucket is missing.
        let b = self.objects.bucket(bucket)?;
        attrs.acl = object_acl(&b, h)?;
        attrs.lock = crate::lock::requested(&b, h)?;
        if let Some(len) = header(h, "content-length").and_then(|v| v.parse::<u64>().ok())
            && len > MAX_PUT_BYTES + 64 * 1024
            && !matches!(payload, Payload::Chunked(_))
        {
            return Err(S3Error::bad(
                "EntityTooLarge",
                "Your proposed upload exceeds the maximum allowed size",
            ));
        }
        let checks = checks_from(h)?;
        // S3 wants a digest of what it will keep from deletion.
        let retained = attrs.lock.retention.is_some()
            || b.object_lock.as_ref().is_some_and(|l| l.default.is_some());
        if retained && checks.content_md5.is_none() && checks.checksum.is_none() {
            return Err(S3Error::bad(
                "InvalidRequest",
                "Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests with Object Lock parameters",
            ));
        }
        let condition = write_condition(h)?;
        let (written, checksum) = body::receive(
            self.objects.data(),
            body,
            payload,
            checks,
            MAX_PUT_BYTES,
            nimbus_objects::INLINE_MAX,
        )
        .await?;
        // On a blocking thread: the commit waits for its group's fsync, and many
        // PUTs waiting at once is what lets them share one.
        let (objects, b, k, origin) = (
            self.objects.clone(),
            bucket.to_string(),
            key.to_string(),
            origin.clone(),
        );
        let obj = tokio::task::spawn_blocking(move || {
            objects.put_if(
                (&b, &k),
                written,
                attrs,
                checksum,
                &origin,
                condition.as_ref(),
            )
        })
        .await
        .map_err(|e| S3Error::internal(e.to_string()))??;
        let mut r = ok_empty(StatusCode::OK);
        set(&mut r, "etag", &format!("\"{}\"", obj.etag));
        if let Some(v) = &obj.version_id {
            set(&mut r, "x-amz-version-id", v);
        }
        if let Some(c) = &obj.checksum {
            set(
                &mut r,
                &format!("x-amz-checksum-{}", c.algorithm.to_ascii_lowercase()),
                &c.value,
            );
            set(&mut r, "x-amz-checksum-type", &c.kind);
        }
        Ok(r)
    }

    pub(crate) async fn copy_object(
        &self,
        bucket: &str,
        key: &str,
        h: &HeaderMap,
        origin: &Origin,
    ) -> Result<Response<Body>, S3Error> {
        let (sb, sk, sv) = copy_source_version(h)?;
        let src = match &sv {
            Some(v) => self.objects.version(&sb, &sk, v)?,
            None => self.objects.head(&sb, &sk)?,
        };
        if src.delete_marker {
            return Err(S3Error::bad(
                "InvalidRequest",
                "The source of a copy request may not specifically refer to a delete marker by version id.",
            ));
        }
        copy_preconditions(h, &src)?;
        let replace = match header(h, "x-amz-metadata-directive") {
            None | Some("COPY") => false,
            Some("REPLACE") => true,
            Some(_) => return Err(S3Error::invalid_argument("Unknown metadata directive.")),
        };
        if sb == bucket && sk == key && !replace {
            return Err(S3Error::bad(
                "InvalidRequest",
                "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
            ));
        }
        let mut attrs = if replace {
            attributes_from(h)?
        } else {
            src.attributes.clone()
        };
        // An ACL and Object Lock settings are never copied: the copy gets
        // what its request names.
        let dest = self.objects.bucket(bucket)?;
        attrs.acl = object_acl(&dest, h)?;
        attrs.lock = crate::lock::requested(&dest, h)?;
        attrs.tags = match header(h, "x-amz-tagging-directive") {
            None | Some("COPY") => src.attributes.tags.clone(),
            Some("REPLACE") => attributes_from(h)?.tags,
            Some(_) => return Err(S3Error::invalid_argument("Unknown tagging directive.")),
        };
        let objects = self.objects.clone();
        let (bucket_s, key_s, origin) = (bucket.to_string(), key.to_string(), origin.clone());
        let obj = tokio::task::spawn_blocking(move || {
            objects.copy(&src, &bucket_s, &key_s, attrs, &origin)
        })
        .await
        .map_err(|e| S3Error::internal(e.to_string()))??;
        let mut r = xml_response(
            StatusCode::OK,
            format!(
                "{DECL}<CopyObjectResult xmlns=\"{NS}\">{}{}</CopyObjectResult>",
                el("LastModified", &iso(obj.last_modified_ms)),
                el("ETag", &format!("\"{}\"", obj.etag))
            ),
        );
        if let Some(v) = &obj.version_id {
            set(&mut r, "x-amz-version-id", v);
        }
        if let Some(v) = sv {
            set(&mut r, "x-amz-copy-source-version-id", &v);
        }
        Ok(r)
    }

    /// The object (or its `version`) a read names; a version that is a
    /// delete marker is `MethodNotAllowed`, as S3 answers.
    fn readable(&self, bucket: &str, key: &str, version: Option<&str>) -> Result<Object, S3Error> {
        let Some(v) = version else {
            return Ok(self.objects.head(bucket, key)?);
        };
        let o = self.objects.version(bucket, key, v)?;
        if o.delete_marker {
            return Err(method_not_allowed()
                .header("x-amz-delete-marker", "true")
                .header("x-amz-version-id", v));
        }
        Ok(o)
    }

    /// `GetObjectAttributes`: what `x-amz-object-attributes` asks of an object
    /// (or version) without its data: `ETag`, `Checksum`, `ObjectParts`,
    /// `StorageClass`, `ObjectSize`.
    pub(crate) fn get_object_attributes(
        &self,
        bucket: &str,
        key: &str,
        h: &HeaderMap,
        q: &Query,
    ) -> Result<Response<Body>, S3Error> {
        let asked: Vec<String> = header(h, "x-amz-object-attributes")
            .unwrap_or("")
            .split(',')
            .map(|a| a.trim().to_string())
            .filter(|a| !a.is_empty())
            .collect();
        const KNOWN: [&str; 5] = [
            "ETag",
            "Checksum",
            "ObjectParts",
            "StorageClass",
            "ObjectSize",
        ];
        if asked.is_empty() {
            return Err(S3Error::invalid_argument(
                "Invalid attribute name specified.",
            ));
        }
        if let Some(bad) = asked.iter().find(|a| !KNOWN.contains(&a.as_str())) {
            return Err(S3Error::invalid_argument(format!(
                "Invalid attribute name specified: {bad}"
            )));
        }
        let obj = self.readable(bucket, key, q.get("versionId"))?;
        let want = |a: &str| asked.iter().any(|x| x == a);
        let mut doc = format!("{DECL}<GetObjectAttributesResponse xmlns=\"{NS}\">");
        if want("ETag") {
            doc.push_str(&el("ETag", &obj.etag));
        }
        if want("Checksum")
            && let Some(c) = &obj.checksum
        {
            doc.push_str(&format!(
                "<Checksum>{}{}</Checksum>",
                el(&format!("Checksum{}", c.algorithm), &c.value),
                el("ChecksumType", &c.kind)
            ));
        }
        if want("ObjectParts")
            && let Some(n) = obj.parts
        {
            doc.push_str(&format!(
                "<ObjectParts>{}{}{}{}{}</ObjectParts>",
                el("PartsCount", &n.to_string()),
                el("PartNumberMarker", "0"),
                el("NextPartNumberMarker", "0"),
                el("MaxParts", "1000"),
                el("IsTruncated", "false")
            ));
        }
        if want("StorageClass") {
            doc.push_str(&el(
                "StorageClass",
                obj.attributes
                    .storage_class
                    .as_deref()
                    .unwrap_or("STANDARD"),
            ));
        }
        if want("ObjectSize") {
            doc.push_str(&el("ObjectSize", &obj.size.to_string()));
        }
        doc.push_str("</GetObjectAttributesResponse>");
        let mut r = xml_response(StatusCode::OK, doc);
        set(&mut r, "last-modified", &http_date(obj.last_modified_ms));
        if let Some(v) = &obj.version_id {
            set(&mut r, "x-amz-version-id", v);
        }
        Ok(r)
    }

    pub(crate) fn get_object(
        &self,
        bucket: &str,
        key: &str,
        h: &HeaderMap,
        q: &Query,
        head_only: bool,
    ) -> Result<Response<Body>, S3Error> {
        // A replaced object's files are removed right after its metadata: if the
        // files vanished between reading one and opening the other, read again.
        for attempt in 0..3 {
            let obj = self.readable(bucket, key, q.get("versionId"))?;
            if let Err(e) = preconditions(h, &obj) {
                if e.status() == StatusCode::NOT_MODIFIED {
                    let mut r = ok_empty(StatusCode::NOT_MODIFIED);
                    set(&mut r, "etag", &format!("\"{}\"", obj.etag));
                    set(&mut r, "last-modified", &http_date(obj.last_modified_ms));
                    return Ok(r);
                }
                return Err(e);
            }
            let range = match q.get("partNumber") {
                Some(n) => {
                    if h.contains_key("range") {
                        return Err(S3Error::invalid_argument(
                            "Cannot specify both Range header and partNumber query parameter",
                        ));
                    }
                    part_range(&obj, n)?
                }
                None => parse_range(h, obj.size)?,
            };
            let (start, end) = range.unwrap_or((0, obj.size.saturating_sub(1)));
            let len = if obj.size == 0 { 0 } else { end - start + 1 };
            let body = if head_only || len == 0 {
                empty()
            } else {
                match FileBody::open(&self.objects, &obj.segments, start, end) {
                    Ok(b) => http_body_util::BodyExt::boxed_unsync(b),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound && attempt < 2 => continue,
                    Err(e) => return Err(S3Error::internal(format!("open object data: {e}"))),
                }
            };
            let mut r = Response::new(body);
            object_headers(&mut r, &obj, h, range.is_none());
            if q.has("partNumber")
                && let Some(n) = obj.parts
            {
                set(&mut r, "x-amz-mp-parts-count", &n.to_string());
            }
            set(&mut r, "content-length", &len.to_string());
            if let Some((s, e)) = range {
                *r.status_mut() = StatusCode::PARTIAL_CONTENT;
                set(
                    &mut r,
                    "content-range",
                    &format!("bytes {s}-{e}/{}", obj.size),
                );
            }
            for (param, name) in [
                ("response-content-type", "content-type"),
                ("response-content-language", "content-language"),
                ("response-expires", "expires"),
                ("response-cache-control", "cache-control"),
                ("response-content-disposition", "content-disposition"),
                ("response-content-encoding", "content-encoding"),
            ] {
                if let Some(v) = q.get(param) {
                    set(&mut r, name, v);
                }
            }
            return Ok(r);
        }
        Err(S3Error::internal(
            "the object changed while it was being read; retry",
        ))
    }

    pub(crate) async fn delete_objects(
        &self,
        bucket: &str,
        (h, body): (&HeaderMap, crate::body::RequestBody),
        payload: &Payload,
        origin: &Origin,
        request: &http::Extensions,
    ) -> Result<Response<Body>, S3Error> {
        let bypass = crate::lock::bypass(h);
        let doc = body::read_document(body, payload, xml::MAX_DOCUMENT).await?;
        let root = xml::parse(&doc).map_err(|m| S3Error::bad("MalformedXML", m))?;
        if root.name != "Delete" {
            return Err(S3Error::bad(
                "MalformedXML",
                "The XML you provided was not well-formed or did not validate against our published schema",
            ));
        }
        let quiet = root.child_text("Quiet").is_some_and(|q| q.trim() == "true");
        let keys: Vec<(&str, Option<&str>)> = root
            .children_named("Object")
            .filter_map(|o| Some((o.child_text("Key")?, o.child_text("VersionId"))))
            .collect();
        if keys.is_empty() || keys.len() > 1000 {
            return Err(S3Error::bad(
                "MalformedXML",
                "The XML you provided was not well-formed or did not validate against our published schema",
            ));
        }
        self.objects.bucket(bucket)?;
        let mut out = format!("{DECL}<DeleteResult xmlns=\"{NS}\">");
        for (k, version) in keys {
            // S3 authorizes each key as its own delete.
            if let Err(d) = nimbus_api_common::authz::authorize(request, |_| {
                crate::authz::delete_one(bucket, k, version, bypass)
            }) {
                out.push_str(&format!(
                    "<Error>{}{}{}{}</Error>",
                    el("Key", k),
                    version.map(|v| el("VersionId", v)).unwrap_or_default(),
                    el("Code", "AccessDenied"),
                    el("Message", &d.message)
                ));
                continue;
            }
            let done = match version {
                Some(v) => self.objects.delete_version(bucket, k, v, origin, bypass),
                None => self.objects.delete(bucket, k, origin),
            };
            match done {
                Ok(d) => {
                    if !quiet {
                        let mut e = el("Key", k);
                        if let Some(v) = version {
                            e.push_str(&el("VersionId", v));
                        }
                        if d.delete_marker {
                            e.push_str(&el("DeleteMarker", "true"));
                            if version.is_none()
                                && let Some(v) = &d.version_id
                            {
                                e.push_str(&el("DeleteMarkerVersionId", v));
                            }
                        }
                        out.push_str(&format!("<Deleted>{e}</Deleted>"));
                    }
                }
                Err(e) => {
                    let e = S3Error::from(e);
                    out.push_str(&format!(
                        "<Error>{}{}{}</Error>",
                        el("Key", k),
                        el("Code", e.code()),
                        el("Message", &e.0.message)
                    ));
                }
            }
        }
        out.push_str("</DeleteResult>");
        Ok(xml_response(StatusCode::OK, out))
    }

    pub(crate) fn delete_object(
        &self,
        bucket: &str,
        key: &str,
        q: &Query,
        h: &HeaderMap,
        origin: &Origin,
    ) -> Result<Response<Body>, S3Error> {
        let d = match q.get("versionId") {
            Some(v) => {
                self.objects
                    .delete_version(bucket, key, v, origin, crate::lock::bypass(h))?
            }
            None => self.objects.delete(bucket, key, origin)?,
        };
        let mut r = ok_empty(StatusCode::NO_CONTENT);
        if let Some(v) = &d.version_id {
            set(&mut r, "x-amz-version-id", v);
        }
        if d.delete_marker {
            set(&mut r, "x-amz-delete-marker", "true");
        }
        Ok(r)
    }
}

/// The ACL grants a write asks for on an object of `bucket`, once the
/// bucket's settings allow them.
pub(crate) fn object_acl(
    bucket: &nimbus_objects::Bucket,
    h: &HeaderMap,
) -> Result<Vec<nimbus_objects::access::Grant>, S3Error> {
    let grants = crate::acl::requested(h)?.unwrap_or_default();
    crate::acl::allowed(&bucket.access, &grants)?;
    Ok(grants)
}
