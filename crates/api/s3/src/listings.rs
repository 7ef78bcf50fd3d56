//! Listings: `ListObjects` (v1 and v2, prefixes and delimiters) and `ListObjectVersions`.

use crate::*;

/// Whether a listing's keys go out URL-encoded: only when the request asks
/// (`encoding-type=url`, which every SDK sends and decodes); any other value
/// is refused.
pub(crate) fn url_encoding(q: &Query) -> Result<bool, S3Error> {
    match q.get("encoding-type") {
        None => Ok(false),
        Some("url") => Ok(true),
        Some(_) => Err(S3Error::invalid_argument(
            "Invalid Encoding Method specified in Request",
        )),
    }
}

impl S3Api {
    pub(crate) fn list_objects(
        &self,
        bucket: &str,
        q: &Query,
        v2: bool,
    ) -> Result<Response<Body>, S3Error> {
        let url = url_encoding(q)?;
        let prefix = q.get("prefix").unwrap_or("").to_string();
        let delimiter = q
            .get("delimiter")
            .filter(|d| !d.is_empty())
            .map(str::to_string);
        let max = max_keys(q, "max-keys")?;
        let token = q.get("continuation-token");
        let after = if v2 {
            match token {
                Some(t) => Some(
                    base64::engine::general_purpose::URL_SAFE_NO_PAD
                        .decode(t)
                        .map_err(|_| {
                            S3Error::invalid_argument(
                                "The continuation token provided is incorrect",
                            )
                        })?,
                ),
                None => q.get("start-after").map(|s| s.as_bytes().to_vec()),
            }
        } else {
            q.get("marker")
                .filter(|m| !m.is_empty())
                .map(|s| s.as_bytes().to_vec())
        };
        let listing = self.objects.list(
            bucket,
            &ListQuery {
                prefix: prefix.clone(),
                delimiter: delimiter.clone(),
                after,
                max_keys: max,
            },
        )?;
        let mut doc = format!(
            "{DECL}<ListBucketResult xmlns=\"{NS}\">{}",
            el("Name", bucket)
        );
        doc.push_str(&el("Prefix", &encode_key(&prefix, url)));
        if v2 {
            if let Some(t) = token {
                doc.push_str(&el("ContinuationToken", t));
            }
            if let Some(s) = q.get("start-after") {
                doc.push_str(&el("StartAfter", &encode_key(s, url)));
            }
            doc.push_str(&el(
                "KeyCount",
                &(listing.objects.len() + listing.common_prefixes.len()).to_string(),
            ));
        } else {
            doc.push_str(&el(
                "Marker",
                &encode_key(q.get("marker").unwrap_or(""), url),
            ));
        }
        if let Some(d) = &delimiter {
            doc.push_str(&el("Delimiter", &encode_key(d, url)));
        }
        doc.push_str(&el("MaxKeys", &max.to_string()));
        if url {
            doc.push_str("<EncodingType>url</EncodingType>");
        }
        doc.push_str(&el(
            "IsTruncated",
            if listing.truncated { "true" } else { "false" },
        ));
        if listing.truncated {
            if v2 {
                if let Some(n) = &listing.next_after {
                    doc.push_str(&el(
                        "NextContinuationToken",
                        &base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(n),
                    ));
                }
            } else if delimiter.is_some()
                && let Some(last) = &listing.last
            {
                doc.push_str(&el("NextMarker", &encode_key(last, url)));
            }
        }
        for o in &listing.objects {
            doc.push_str(&format!(
                "<Contents>{}{}{}{}{}{}</Contents>",
                el("Key", &encode_key(&o.key, url)),
                el("LastModified", &iso(o.last_modified_ms)),
                el("ETag", &format!("\"{}\"", o.etag)),
                el("Size", &o.size.to_string()),
                // v2 names the owner only when asked (`fetch-owner=true`).
                if !v2 || q.get("fetch-owner") == Some("true") {
                    owner()
                } else {
                    String::new()
                },
                el(
                    "StorageClass",
                    o.attributes.storage_class.as_deref().unwrap_or("STANDARD")
                ),
            ));
        }
        for p in &listing.common_prefixes {
            doc.push_str(&format!(
                "<CommonPrefixes>{}</CommonPrefixes>",
                el("Prefix", &encode_key(p, url))
            ));
        }
        doc.push_str("</ListBucketResult>");
        Ok(xml_response(StatusCode::OK, doc))
    }

    pub(crate) fn list_versions(&self, bucket: &str, q: &Query) -> Result<Response<Body>, S3Error> {
        let url = url_encoding(q)?;
        let prefix = q.get("prefix").unwrap_or("");
        let delimiter = q.get("delimiter").filter(|d| !d.is_empty());
        let max = max_keys(q, "max-keys")?;
        let key_marker = q.get("key-marker").filter(|k| !k.is_empty());
        let version_marker = q.get("version-id-marker").filter(|v| !v.is_empty());
        let l = self.objects.list_versions(
            bucket,
            prefix,
            delimiter,
            key_marker,
            version_marker,
            max,
        )?;
        let mut doc = format!(
            "{DECL}<ListVersionsResult xmlns=\"{NS}\">{}{}{}{}{}",
            el("Name", bucket),
            el("Prefix", &encode_key(prefix, url)),
            el("KeyMarker", &encode_key(key_marker.unwrap_or(""), url)),
            el("VersionIdMarker", version_marker.unwrap_or("")),
            el("MaxKeys", &max.to_string())
        );
        if let Some(d) = delimiter {
            doc.push_str(&el("Delimiter", &encode_key(d, url)));
        }
        if url {
            doc.push_str("<EncodingType>url</EncodingType>");
        }
        doc.push_str(&el(
            "IsTruncated",
            if l.truncated { "true" } else { "false" },
        ));
        if let Some(k) = &l.next_key_marker {
            doc.push_str(&el("NextKeyMarker", &encode_key(k, url)));
        }
        if let Some(v) = &l.next_version_marker {
            doc.push_str(&el("NextVersionIdMarker", v));
        }
        for e in &l.entries {
            let o = &e.object;
            let common = format!(
                "{}{}{}{}",
                el("Key", &encode_key(&o.key, url)),
                el("VersionId", nimbus_objects::wire_version(o)),
                el("IsLatest", if e.is_latest { "true" } else { "false" }),
                el("LastModified", &iso(o.last_modified_ms))
            );
            if o.delete_marker {
                doc.push_str(&format!("<DeleteMarker>{common}{}</DeleteMarker>", owner()));
            } else {
                doc.push_str(&format!(
                    "<Version>{common}{}{}{}{}</Version>",
                    el("ETag", &format!("\"{}\"", o.etag)),
                    el("Size", &o.size.to_string()),
                    el(
                        "StorageClass",
                        o.attributes.storage_class.as_deref().unwrap_or("STANDARD")
                    ),
                    owner()
                ));
            }
        }
        for p in &l.common_prefixes {
            doc.push_str(&format!(
                "<CommonPrefixes>{}</CommonPrefixes>",
                el("Prefix", &encode_key(p, url))
            ));
        }
        doc.push_str("</ListVersionsResult>");
        Ok(xml_response(StatusCode::OK, doc))
    }
}
