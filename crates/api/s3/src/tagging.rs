//! Bucket and object tagging.

use crate::*;

pub(crate) fn invalid_tag(message: &str) -> S3Error {
    S3Error::bad("InvalidTag", message)
}

/// S3's limits on a tag set.
pub(crate) fn validate_tags(tags: &[(String, String)], max: usize) -> Result<(), S3Error> {
    if tags.len() > max {
        return Err(S3Error::bad(
            "BadRequest",
            format!("Object tags cannot be greater than {max}"),
        ));
    }
    for (i, (k, v)) in tags.iter().enumerate() {
        if k.is_empty() || k.chars().count() > 128 {
            return Err(invalid_tag("The TagKey you have provided is invalid"));
        }
        if v.chars().count() > 256 {
            return Err(invalid_tag("The TagValue you have provided is invalid"));
        }
        if tags[..i].iter().any(|(other, _)| other == k) {
            return Err(invalid_tag(
                "Cannot provide multiple Tags with the same key",
            ));
        }
    }
    Ok(())
}

/// A `<Tagging><TagSet><Tag><Key/><Value/></Tag>...` document.
pub(crate) async fn read_tagging(
    body: crate::body::RequestBody,
    payload: &Payload,
    max: usize,
) -> Result<Vec<(String, String)>, S3Error> {
    let doc = body::read_document(body, payload, xml::MAX_DOCUMENT).await?;
    let root = xml::parse(&doc).map_err(|m| S3Error::bad("MalformedXML", m))?;
    let set = root
        .child("TagSet")
        .ok_or_else(|| S3Error::bad("MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema"))?;
    let tags: Vec<(String, String)> = set
        .children_named("Tag")
        .map(|t| {
            (
                t.child_text("Key").unwrap_or("").to_string(),
                t.child_text("Value").unwrap_or("").to_string(),
            )
        })
        .collect();
    validate_tags(&tags, max)?;
    Ok(tags)
}

pub(crate) fn tagging_response(tags: &[(String, String)]) -> Response<Body> {
    let mut doc = format!("{DECL}<Tagging xmlns=\"{NS}\"><TagSet>");
    for (k, v) in tags {
        doc.push_str(&format!("<Tag>{}{}</Tag>", el("Key", k), el("Value", v)));
    }
    doc.push_str("</TagSet></Tagging>");
    xml_response(StatusCode::OK, doc)
}

impl S3Api {
    pub(crate) async fn put_bucket_tagging(
        &self,
        bucket: &str,
        body: crate::body::RequestBody,
        payload: &Payload,
    ) -> Result<Response<Body>, S3Error> {
        let tags = read_tagging(body, payload, 50).await?;
        self.objects
            .update_bucket(bucket, |b| b.tags = Some(tags))?;
        Ok(ok_empty(StatusCode::NO_CONTENT))
    }

    pub(crate) fn get_bucket_tagging(&self, bucket: &str) -> Result<Response<Body>, S3Error> {
        match self.objects.bucket(bucket)?.tags {
            Some(tags) => Ok(tagging_response(&tags)),
            None => Err(S3Error::new(
                StatusCode::NOT_FOUND,
                "NoSuchTagSet",
                "The TagSet does not exist",
            )
            .with("BucketName", bucket)),
        }
    }

    pub(crate) fn delete_bucket_tagging(&self, bucket: &str) -> Result<Response<Body>, S3Error> {
        self.objects.update_bucket(bucket, |b| b.tags = None)?;
        Ok(ok_empty(StatusCode::NO_CONTENT))
    }

    pub(crate) async fn put_object_tagging(
        &self,
        bucket: &str,
        key: &str,
        body: crate::body::RequestBody,
        payload: &Payload,
    ) -> Result<Response<Body>, S3Error> {
        let tags = read_tagging(body, payload, 10).await?;
        self.objects.set_object_tags(bucket, key, tags)?;
        Ok(ok_empty(StatusCode::OK))
    }

    pub(crate) fn get_object_tagging(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Response<Body>, S3Error> {
        let o = self.objects.head(bucket, key)?;
        Ok(tagging_response(&o.attributes.tags))
    }

    pub(crate) fn delete_object_tagging(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Response<Body>, S3Error> {
        self.objects.set_object_tags(bucket, key, Vec::new())?;
        Ok(ok_empty(StatusCode::NO_CONTENT))
    }
}
