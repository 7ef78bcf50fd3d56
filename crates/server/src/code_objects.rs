//! The object store as the functions service reads code packages from it
//! (`Code.S3Bucket`/`S3Key`, layer content from S3) and CloudFormation reads
//! `TemplateURL`s: the seams that keep `nimbus-functions` and
//! `nimbus-api-cloudformation` off `nimbus-objects`.

use nimbus_functions::code::{CodeObjects, S3Code};
use nimbus_objects::{Error, Objects};
use std::io::Read;
use std::sync::Arc;

pub struct ObjectCode(pub Arc<Objects>);

/// S3's error code for what the store answered, with S3's message.
fn s3_error(e: &Error) -> (String, String) {
    let code = match e {
        Error::NoSuchBucket(_) => "NoSuchBucket",
        Error::NoSuchKey(_) | Error::DeleteMarker { .. } => "NoSuchKey",
        Error::NoSuchVersion(..) => "NoSuchVersion",
        Error::InvalidArgument(_) => "InvalidArgument",
        _ => "InternalError",
    };
    (code.to_string(), e.to_string())
}

impl CodeObjects for ObjectCode {
    fn get(&self, at: &S3Code) -> Result<Vec<u8>, (String, String)> {
        let o = match &at.version {
            Some(v) => self.0.version(&at.bucket, &at.key, v),
            None => self.0.head(&at.bucket, &at.key),
        }
        .map_err(|e| s3_error(&e))?;
        if o.delete_marker {
            return Err(s3_error(&Error::NoSuchKey(at.key.clone())));
        }
        let mut bytes = Vec::with_capacity(o.size as usize);
        let internal = |e: &dyn std::fmt::Display| ("InternalError".to_string(), e.to_string());
        for s in &o.segments {
            if s.inline {
                let data = self
                    .0
                    .inline_data(&s.id)
                    .map_err(|e| s3_error(&e))?
                    .ok_or_else(|| internal(&"inline object data is missing"))?;
                bytes.extend_from_slice(&data);
            } else {
                self.0
                    .data()
                    .open_file(&s.id)
                    .and_then(|mut f| f.read_to_end(&mut bytes))
                    .map_err(|e| internal(&e))?;
            }
        }
        Ok(bytes)
    }
}

impl nimbus_api_cloudformation::TemplateObjects for ObjectCode {
    fn get(&self, bucket: &str, key: &str) -> Result<Vec<u8>, String> {
        let at = S3Code {
            bucket: bucket.to_string(),
            key: key.to_string(),
            version: None,
        };
        CodeObjects::get(self, &at).map_err(|(code, message)| format!("{code}: {message}"))
    }
}
