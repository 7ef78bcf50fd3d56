//! Object Lock on the wire: a bucket's `?object-lock` configuration, a
//! version's `?retention` and `?legal-hold`, the `x-amz-object-lock-*`
//! headers of uploads and reads, and `x-amz-bypass-governance-retention`.
//! The rules themselves live in `nimbus_objects::lock`.

use crate::*;
use nimbus_objects::lock::{BucketLock, DefaultRetention, Mode, ObjectLock, Retention};

fn malformed() -> S3Error {
    S3Error::bad(
        "MalformedXML",
        "The XML you provided was not well-formed or did not validate against our published schema",
    )
}

fn missing_configuration() -> S3Error {
    S3Error::bad(
        "InvalidRequest",
        "Bucket is missing Object Lock Configuration",
    )
}

fn no_lock_configuration() -> S3Error {
    S3Error::new(
        StatusCode::NOT_FOUND,
        "NoSuchObjectLockConfiguration",
        "The specified object does not have a ObjectLock configuration",
    )
}

/// `x-amz-bypass-governance-retention: true`.
pub(crate) fn bypass(h: &HeaderMap) -> bool {
    header(h, "x-amz-bypass-governance-retention")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// A timestamp as S3 reads `RetainUntilDate` (ISO 8601), in milliseconds.
fn parse_date(s: &str) -> Option<u64> {
    let secs = nimbus_model::time::parse_rfc3339(s.trim())?;
    (secs >= 0.0).then(|| (secs * 1000.0).round() as u64)
}

fn future(until_ms: u64) -> Result<(), S3Error> {
    if until_ms <= nimbus_model::time::now_millis() {
        return Err(S3Error::invalid_argument(
            "The retain until date must be in the future!",
        ));
    }
    Ok(())
}

/// The lock an upload's `x-amz-object-lock-*` headers ask for, once the
/// bucket has Object Lock.
pub(crate) fn requested(
    bucket: &nimbus_objects::Bucket,
    h: &HeaderMap,
) -> Result<ObjectLock, S3Error> {
    let mode = header(h, "x-amz-object-lock-mode");
    let until = header(h, "x-amz-object-lock-retain-until-date");
    let hold = header(h, "x-amz-object-lock-legal-hold");
    if mode.is_none() && until.is_none() && hold.is_none() {
        return Ok(ObjectLock::default());
    }
    if bucket.object_lock.is_none() {
        return Err(missing_configuration());
    }
    let retention = match (mode, until) {
        (None, None) => None,
        (Some(m), Some(u)) => {
            let mode = Mode::parse(m.trim()).ok_or_else(|| {
                S3Error::invalid_argument("Unknown wormMode directive.")
                    .with("ArgumentName", "x-amz-object-lock-mode")
                    .with("ArgumentValue", m)
            })?;
            let until_ms = parse_date(u).ok_or_else(|| {
                S3Error::invalid_argument(
                    "The retain until date must be provided in ISO 8601 format",
                )
                .with("ArgumentName", "x-amz-object-lock-retain-until-date")
                .with("ArgumentValue", u)
            })?;
            future(until_ms)?;
            Some(Retention { mode, until_ms })
        }
        _ => {
            return Err(S3Error::invalid_argument(
                "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied",
            ));
        }
    };
    let legal_hold = match hold.map(str::trim) {
        None => None,
        Some("ON") => Some(true),
        Some("OFF") => Some(false),
        Some(v) => {
            return Err(
                S3Error::invalid_argument("Legal Hold must be either of 'ON' or 'OFF'")
                    .with("ArgumentName", "x-amz-object-lock-legal-hold")
                    .with("ArgumentValue", v),
            );
        }
    };
    Ok(ObjectLock {
        retention,
        legal_hold,
    })
}

/// The `x-amz-object-lock-*` headers GET and HEAD answer with.
pub(crate) fn headers(resp: &mut Response<Body>, lock: &ObjectLock) {
    if let Some(r) = &lock.retention {
        set(resp, "x-amz-object-lock-mode", r.mode.as_str());
        set(
            resp,
            "x-amz-object-lock-retain-until-date",
            &iso(r.until_ms),
        );
    }
    if let Some(on) = lock.legal_hold {
        set(
            resp,
            "x-amz-object-lock-legal-hold",
            if on { "ON" } else { "OFF" },
        );
    }
}

/// A `PutObjectLockConfiguration` document: `None` for a configuration
/// without a default rule.
fn parse_configuration(doc: &[u8]) -> Result<Option<DefaultRetention>, S3Error> {
    let root = xml::parse(doc).map_err(|m| S3Error::bad("MalformedXML", m))?;
    if root.name != "ObjectLockConfiguration" {
        return Err(malformed());
    }
    if root.child_text("ObjectLockEnabled").map(str::trim) != Some("Enabled") {
        return Err(malformed());
    }
    let Some(rule) = root.child("Rule") else {
        return Ok(None);
    };
    let d = rule.child("DefaultRetention").ok_or_else(malformed)?;
    let mode = d
        .child_text("Mode")
        .and_then(|m| Mode::parse(m.trim()))
        .ok_or_else(malformed)?;
    let number = |name: &str| -> Result<Option<u32>, S3Error> {
        let Some(v) = d.child_text(name) else {
            return Ok(None);
        };
        match v.trim().parse::<i64>() {
            Ok(n) if n > 0 => u32::try_from(n).map(Some).map_err(|_| malformed()),
            Ok(_) => Err(S3Error::invalid_argument(
                "Default retention period must be a positive integer value",
            )),
            Err(_) => Err(malformed()),
        }
    };
    let (days, years) = (number("Days")?, number("Years")?);
    if days.is_some() == years.is_some() {
        return Err(malformed());
    }
    if days.is_some_and(|d| d > 36_500) || years.is_some_and(|y| y > 100) {
        return Err(S3Error::invalid_argument(
            "Default retention period is too large.",
        ));
    }
    Ok(Some(DefaultRetention { mode, days, years }))
}

/// A `PutObjectRetention` document: `None` removes the retention.
fn parse_retention(doc: &[u8]) -> Result<Option<Retention>, S3Error> {
    let root = xml::parse(doc).map_err(|m| S3Error::bad("MalformedXML", m))?;
    if root.name != "Retention" {
        return Err(malformed());
    }
    let mode = root.child_text("Mode").map(str::trim);
    let until = root.child_text("RetainUntilDate").map(str::trim);
    match (mode, until) {
        (None, None) => Ok(None),
        (Some(m), Some(u)) => {
            let mode = Mode::parse(m).ok_or_else(malformed)?;
            let until_ms = parse_date(u).ok_or_else(malformed)?;
            future(until_ms)?;
            Ok(Some(Retention { mode, until_ms }))
        }
        _ => Err(malformed()),
    }
}

/// Every document this module reads (the fuzz target's entry).
pub(crate) fn read_documents(doc: &[u8]) {
    let _ = parse_configuration(doc);
    let _ = parse_retention(doc);
}

fn version_header(r: &mut Response<Body>, version: Option<&str>) {
    if let Some(v) = version {
        set(r, "x-amz-version-id", v);
    }
}

impl S3Api {
    pub(crate) async fn put_lock_configuration(
        &self,
        bucket: &str,
        body: crate::body::RequestBody,
        payload: &Payload,
    ) -> Result<Response<Body>, S3Error> {
        let doc = body::read_document(body, payload, xml::MAX_DOCUMENT).await?;
        let default = parse_configuration(&doc)?;
        self.objects.try_update_bucket(bucket, |b| {
            if b.object_lock.is_none() && b.versioning.as_deref() != Some("Enabled") {
                return Err(nimbus_objects::Error::InvalidBucketState(
                    "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration"
                        .into(),
                ));
            }
            b.object_lock = Some(BucketLock { default });
            Ok(())
        })?;
        Ok(ok_empty(StatusCode::OK))
    }

    pub(crate) fn get_lock_configuration(&self, bucket: &str) -> Result<Response<Body>, S3Error> {
        let b = self.objects.bucket(bucket)?;
        let Some(lock) = b.object_lock else {
            return Err(S3Error::new(
                StatusCode::NOT_FOUND,
                "ObjectLockConfigurationNotFoundError",
                "Object Lock configuration does not exist for this bucket",
            )
            .with("BucketName", bucket));
        };
        let rule = lock
            .default
            .map(|d| {
                let period = match (d.days, d.years) {
                    (Some(n), _) => el("Days", &n.to_string()),
                    (_, Some(n)) => el("Years", &n.to_string()),
                    _ => String::new(),
                };
                format!(
                    "<Rule><DefaultRetention>{}{period}</DefaultRetention></Rule>",
                    el("Mode", d.mode.as_str())
                )
            })
            .unwrap_or_default();
        Ok(xml_response(
            StatusCode::OK,
            format!(
                "{DECL}<ObjectLockConfiguration xmlns=\"{NS}\"><ObjectLockEnabled>Enabled</ObjectLockEnabled>{rule}</ObjectLockConfiguration>"
            ),
        ))
    }

    pub(crate) async fn put_retention(
        &self,
        (bucket, key): (&str, &str),
        version: Option<&str>,
        h: &HeaderMap,
        body: crate::body::RequestBody,
        payload: &Payload,
    ) -> Result<Response<Body>, S3Error> {
        let doc = body::read_document(body, payload, xml::MAX_DOCUMENT).await?;
        let next = parse_retention(&doc)?;
        let bypass = bypass(h);
        self.objects.change_lock(bucket, key, version, |lock| {
            if !lock.may_retain(next.as_ref(), nimbus_model::time::now_millis(), bypass) {
                return Err(nimbus_objects::Error::ObjectLocked);
            }
            lock.retention = next;
            Ok(())
        })?;
        let mut r = ok_empty(StatusCode::OK);
        version_header(&mut r, version);
        Ok(r)
    }

    pub(crate) fn get_retention(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
    ) -> Result<Response<Body>, S3Error> {
        let retention = self
            .objects
            .object_lock(bucket, key, version)?
            .retention
            .ok_or_else(no_lock_configuration)?;
        Ok(xml_response(
            StatusCode::OK,
            format!(
                "{DECL}<Retention xmlns=\"{NS}\">{}{}</Retention>",
                el("Mode", retention.mode.as_str()),
                el("RetainUntilDate", &iso(retention.until_ms))
            ),
        ))
    }

    pub(crate) async fn put_legal_hold(
        &self,
        (bucket, key): (&str, &str),
        version: Option<&str>,
        body: crate::body::RequestBody,
        payload: &Payload,
    ) -> Result<Response<Body>, S3Error> {
        let doc = body::read_document(body, payload, xml::MAX_DOCUMENT).await?;
        let root = xml::parse(&doc).map_err(|m| S3Error::bad("MalformedXML", m))?;
        let on = match (root.name.as_str(), root.child_text("Status").map(str::trim)) {
            ("LegalHold", Some("ON")) => true,
            ("LegalHold", Some("OFF")) => false,
            _ => return Err(malformed()),
        };
        self.objects.change_lock(bucket, key, version, |lock| {
            lock.legal_hold = Some(on);
            Ok(())
        })?;
        let mut r = ok_empty(StatusCode::OK);
        version_header(&mut r, version);
        Ok(r)
    }

    pub(crate) fn get_legal_hold(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
    ) -> Result<Response<Body>, S3Error> {
        let on = self
            .objects
            .object_lock(bucket, key, version)?
            .legal_hold
            .ok_or_else(no_lock_configuration)?;
        Ok(xml_response(
            StatusCode::OK,
            format!(
                "{DECL}<LegalHold xmlns=\"{NS}\">{}</LegalHold>",
                el("Status", if on { "ON" } else { "OFF" })
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configurations_as_s3_reads_them() {
        let d = parse_configuration(
            b"<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention><Mode>GOVERNANCE</Mode><Days>3</Days></DefaultRetention></Rule></ObjectLockConfiguration>",
        )
        .unwrap()
        .unwrap();
        assert_eq!((d.mode, d.days, d.years), (Mode::Governance, Some(3), None));
        assert_eq!(
            parse_configuration(b"<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled></ObjectLockConfiguration>").unwrap(),
            None
        );
        let code = |doc: &[u8]| parse_configuration(doc).unwrap_err().code().to_string();
        assert_eq!(
            code(b"<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention><Mode>GOVERNANCE</Mode><Days>1</Days><Years>1</Years></DefaultRetention></Rule></ObjectLockConfiguration>"),
            "MalformedXML"
        );
        assert_eq!(
            code(b"<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention><Mode>COMPLIANCE</Mode><Days>0</Days></DefaultRetention></Rule></ObjectLockConfiguration>"),
            "InvalidArgument"
        );
        assert_eq!(
            code(b"<ObjectLockConfiguration><Rule/></ObjectLockConfiguration>"),
            "MalformedXML"
        );
    }

    #[test]
    fn retentions_need_both_fields_and_a_future_date() {
        assert_eq!(parse_retention(b"<Retention/>").unwrap(), None);
        let r = parse_retention(
            b"<Retention><Mode>COMPLIANCE</Mode><RetainUntilDate>2999-01-01T00:00:00Z</RetainUntilDate></Retention>",
        )
        .unwrap()
        .unwrap();
        assert_eq!(r.mode, Mode::Compliance);
        let code = |doc: &[u8]| parse_retention(doc).unwrap_err().code().to_string();
        assert_eq!(
            code(b"<Retention><Mode>GOVERNANCE</Mode></Retention>"),
            "MalformedXML"
        );
        assert_eq!(
            code(b"<Retention><Mode>GOVERNANCE</Mode><RetainUntilDate>2001-01-01T00:00:00Z</RetainUntilDate></Retention>"),
            "InvalidArgument"
        );
    }
}
