//! Bucket policies (`PutBucketPolicy`, `GetBucketPolicy`, `DeleteBucketPolicy`):
//! a resource-based policy checked as IAM checks one when it is written, kept
//! with the bucket, and evaluated with every request to the bucket and its
//! objects by the platform's authorizer.

use crate::S3Api;
use crate::body::{self, Body, Payload, full};
use crate::error::S3Error;
use crate::response::ok_empty;
use http::{HeaderValue, Response, StatusCode};

/// S3's limit on a bucket policy's size.
const MAX_POLICY: usize = 20 * 1024;

impl S3Api {
    pub(crate) async fn put_policy(
        &self,
        bucket: &str,
        body: crate::body::RequestBody,
        payload: &Payload,
    ) -> Result<Response<Body>, S3Error> {
        let doc = body::read_document(body, payload, MAX_POLICY).await?;
        let text = String::from_utf8(doc)
            .map_err(|_| S3Error::bad("MalformedPolicy", "Policies must be valid UTF-8 JSON"))?;
        nimbus_policy::parse_as(&text, nimbus_policy::ParseKind::Resource)
            .map_err(|e| S3Error::bad("MalformedPolicy", e.to_string()))?;
        let b = self.objects.bucket(bucket)?;
        if b.access.block().block_public_policy && crate::acl::is_public_policy(&text) {
            return Err(S3Error::new(
                StatusCode::FORBIDDEN,
                "AccessDenied",
                format!(
                    "Access Denied: the policy of bucket {bucket} would be public, and public policies are blocked by the BlockPublicPolicy block public access setting"
                ),
            ));
        }
        self.objects
            .update_bucket(bucket, |b| b.policy = Some(text))?;
        Ok(ok_empty(StatusCode::NO_CONTENT))
    }

    pub(crate) fn get_policy(&self, bucket: &str) -> Result<Response<Body>, S3Error> {
        match self.objects.bucket(bucket)?.policy {
            Some(doc) => {
                let mut r = Response::new(full(doc));
                r.headers_mut()
                    .insert("content-type", HeaderValue::from_static("application/json"));
                Ok(r)
            }
            None => Err(S3Error::new(
                StatusCode::NOT_FOUND,
                "NoSuchBucketPolicy",
                "The bucket policy does not exist",
            )
            .with("BucketName", bucket)),
        }
    }

    pub(crate) fn delete_policy(&self, bucket: &str) -> Result<Response<Body>, S3Error> {
        self.objects.update_bucket(bucket, |b| b.policy = None)?;
        Ok(ok_empty(StatusCode::NO_CONTENT))
    }
}
