//! Bucket operations: list, create, location and versioning configuration.

use crate::*;

impl S3Api {
    /// `ListBuckets`, by name, with `prefix`, `bucket-region`, and pages of
    /// `max-buckets` (1 to 10,000) continued by `continuation-token`.
    pub(crate) fn list_buckets(&self, q: &Query) -> Result<Response<Body>, S3Error> {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let prefix = q.get("prefix").unwrap_or("");
        let region = q.get("bucket-region");
        let max = match q.get("max-buckets") {
            None => None,
            Some(m) => Some(
                m.parse::<usize>()
                    .ok()
                    .filter(|n| (1..=10_000).contains(n))
                    .ok_or_else(|| {
                        S3Error::invalid_argument(
                            "Argument max-buckets must be an integer between 1 and 10000",
                        )
                        .with("ArgumentName", "max-buckets")
                        .with("ArgumentValue", m)
                    })?,
            ),
        };
        let after = match q.get("continuation-token") {
            None => None,
            Some(t) => Some(
                b64.decode(t)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| {
                        S3Error::invalid_argument("The continuation token provided is incorrect")
                            .with("ArgumentName", "continuation-token")
                    })?,
            ),
        };
        let mut all: Vec<_> = self
            .objects
            .list_buckets()?
            .into_iter()
            .filter(|b| b.name.starts_with(prefix))
            .filter(|b| region.is_none_or(|r| b.region == r))
            .filter(|b| after.as_deref().is_none_or(|a| b.name.as_str() > a))
            .collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        let page = max.unwrap_or(usize::MAX).min(all.len());
        let mut doc = format!(
            "{DECL}<ListAllMyBucketsResult xmlns=\"{NS}\">{}<Buckets>",
            owner()
        );
        for b in &all[..page] {
            doc.push_str(&format!(
                "<Bucket>{}{}{}</Bucket>",
                el("Name", &b.name),
                el("CreationDate", &iso(b.created_ms)),
                el("BucketRegion", &b.region)
            ));
        }
        doc.push_str("</Buckets>");
        if page < all.len() {
            let last = &all[page - 1].name;
            doc.push_str(&el("ContinuationToken", &b64.encode(last)));
        }
        if q.has("prefix") {
            doc.push_str(&el("Prefix", prefix));
        }
        doc.push_str("</ListAllMyBucketsResult>");
        Ok(xml_response(StatusCode::OK, doc))
    }

    pub(crate) async fn create_bucket(
        &self,
        bucket: &str,
        h: &HeaderMap,
        body: crate::body::RequestBody,
        payload: &Payload,
    ) -> Result<Response<Body>, S3Error> {
        // New buckets: ACLs off unless the request asks for another object
        // ownership, and public access blocked.
        let ownership = match header(h, "x-amz-object-ownership") {
            Some(o) if nimbus_objects::access::OWNERSHIP.contains(&o) => Some(o),
            Some(o) => {
                return Err(S3Error::invalid_argument(format!(
                    "Invalid x-amz-object-ownership {o:?}: use BucketOwnerEnforced, BucketOwnerPreferred or ObjectWriter"
                )));
            }
            None => None,
        };
        let mut access = nimbus_objects::access::BucketAccess::new_bucket(ownership);
        let grants = acl::requested(h)?.unwrap_or_default();
        if access.acls_disabled() && !grants.is_empty() {
            return Err(acl::enforced_with_acl());
        }
        acl::allowed(&access, &grants)?;
        access.acl = grants;
        let doc = body::read_document(body, payload, xml::MAX_DOCUMENT).await?;
        let mut region = "us-east-1".to_string();
        if !doc.iter().all(u8::is_ascii_whitespace) {
            let root = xml::parse(&doc).map_err(|m| S3Error::bad("MalformedXML", m))?;
            if let Some(loc) = root.child_text("LocationConstraint").map(str::trim)
                && !loc.is_empty()
            {
                if loc == "us-east-1" {
                    return Err(S3Error::bad(
                        "InvalidLocationConstraint",
                        "The specified location-constraint is not valid",
                    )
                    .with("LocationConstraint", loc));
                }
                region = loc.to_string();
            }
        }
        let _ = &self.region;
        let object_lock = match header(h, "x-amz-bucket-object-lock-enabled").map(str::trim) {
            None => false,
            Some(v) if v.eq_ignore_ascii_case("true") => true,
            Some(v) if v.eq_ignore_ascii_case("false") => false,
            Some(v) => {
                return Err(S3Error::invalid_argument(
                    "Invalid x-amz-bucket-object-lock-enabled header: use true or false",
                )
                .with("ArgumentName", "x-amz-bucket-object-lock-enabled")
                .with("ArgumentValue", v));
            }
        };
        self.objects
            .create_bucket_with(bucket, &region, access, object_lock)?;
        let mut r = ok_empty(StatusCode::OK);
        set(&mut r, "location", &format!("/{bucket}"));
        Ok(r)
    }

    pub(crate) fn get_location(&self, bucket: &str) -> Result<Response<Body>, S3Error> {
        let b = self.objects.bucket(bucket)?;
        let loc = if b.region == "us-east-1" {
            ""
        } else {
            &b.region
        };
        Ok(xml_response(
            StatusCode::OK,
            format!(
                "{DECL}<LocationConstraint xmlns=\"{NS}\">{}</LocationConstraint>",
                escape(loc)
            ),
        ))
    }

    pub(crate) fn get_versioning(&self, bucket: &str) -> Result<Response<Body>, S3Error> {
        let b = self.objects.bucket(bucket)?;
        let status = b.versioning.map(|s| el("Status", &s)).unwrap_or_default();
        Ok(xml_response(
            StatusCode::OK,
            format!(
                "{DECL}<VersioningConfiguration xmlns=\"{NS}\">{status}</VersioningConfiguration>"
            ),
        ))
    }

    pub(crate) async fn put_versioning(
        &self,
        bucket: &str,
        body: crate::body::RequestBody,
        payload: &Payload,
    ) -> Result<Response<Body>, S3Error> {
        let doc = body::read_document(body, payload, xml::MAX_DOCUMENT).await?;
        let root = xml::parse(&doc).map_err(|m| S3Error::bad("MalformedXML", m))?;
        let status = match root.child_text("Status").map(str::trim) {
            Some(s @ ("Enabled" | "Suspended")) => s.to_string(),
            _ => {
                return Err(S3Error::bad(
                    "IllegalVersioningConfigurationException",
                    "The Versioning element must be specified: Status is Enabled or Suspended",
                ));
            }
        };
        // Judged and written under the bucket's lock, so an Object Lock
        // configuration cannot arrive in between.
        self.objects.try_update_bucket(bucket, |b| {
            if status != "Enabled" && b.object_lock.is_some() {
                return Err(nimbus_objects::Error::InvalidBucketState(
                    "An Object Lock configuration is present on this bucket, so the versioning state cannot be changed."
                        .into(),
                ));
            }
            b.versioning = Some(status);
            Ok(())
        })?;
        Ok(ok_empty(StatusCode::OK))
    }
}
