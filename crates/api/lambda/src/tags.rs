//! Function tags (`TagResource`, `UntagResource`, `ListTags` under
//! `/2017-03-31/tags/{ARN}`): a function's tags, set on create or later,
//! returned by `GetFunction`, and seen by IAM as `aws:ResourceTag/KEY`.

use crate::*;
use std::collections::BTreeMap;

/// Lambda's bound on a function's tags.
const MAX_TAGS: usize = 50;

pub(crate) fn parse(
    req: &Request<Bytes>,
    raw_arn: &str,
    identity: &nimbus_model::Identity,
) -> Result<Operation, ApiError> {
    let arn = String::from_utf8(percent_decode(raw_arn))
        .map_err(|_| error::validation("Resource must be UTF-8"))?;
    if !arn.starts_with("arn:") || !arn.contains(":function:") {
        return Err(invalid(format!(
            "Tags can be set on functions only here: {arn} is not a function ARN (event source mappings and code signing configs are not taggable in Nimbus yet)"
        )));
    }
    let r = function_ref(raw_arn, identity)?;
    if r.qualifier.is_some() {
        return Err(invalid(
            "Tags on function aliases and versions are not supported. Please specify a function ARN."
                .into(),
        ));
    }
    let name = r.name;
    match *req.method() {
        Method::GET => Ok(Operation::ListTags { name }),
        Method::POST => {
            #[derive(serde::Deserialize, Default)]
            struct In {
                #[serde(rename = "Tags", default)]
                tags: BTreeMap<String, String>,
            }
            let input: In = json_body(req.body())?;
            Ok(Operation::TagResource {
                name,
                tags: input.tags,
            })
        }
        Method::DELETE => {
            let keys: Vec<String> = req
                .uri()
                .query()
                .unwrap_or("")
                .split('&')
                .filter_map(|pair| {
                    let (k, v) = pair.split_once('=')?;
                    (percent_decode(k) == b"tagKeys")
                        .then(|| String::from_utf8_lossy(&percent_decode(v)).into_owned())
                })
                .collect();
            Ok(Operation::UntagResource { name, keys })
        }
        _ => Err(not_found(req)),
    }
}

/// Lambda's checks of tags a request sets.
fn check(tags: &BTreeMap<String, String>) -> Result<(), ApiError> {
    for (k, v) in tags {
        if k.is_empty() || k.chars().count() > 128 {
            return Err(invalid(format!(
                "Tag key {k:?} must be 1 to 128 characters long"
            )));
        }
        if v.chars().count() > 256 {
            return Err(invalid(format!(
                "The value of tag {k:?} must be at most 256 characters long"
            )));
        }
        if k.to_ascii_lowercase().starts_with("aws:") {
            return Err(invalid(format!(
                "Tag key {k:?} uses the aws: prefix, which is reserved for AWS"
            )));
        }
    }
    Ok(())
}

impl LambdaApi {
    pub(crate) async fn tag_resource(
        &self,
        name: String,
        tags: BTreeMap<String, String>,
    ) -> Result<Response<Bytes>, ApiError> {
        check(&tags)?;
        self.functions
            .change_tags(&name, move |current| {
                current.extend(tags);
                (current.len() <= MAX_TAGS).then_some(()).ok_or_else(|| {
                    format!("Number of tags exceeds resource tag limit of {MAX_TAGS}")
                })
            })
            .await
            .map_err(svc)?;
        let mut r = Response::new(Bytes::new());
        *r.status_mut() = StatusCode::NO_CONTENT;
        Ok(r)
    }

    pub(crate) async fn untag_resource(
        &self,
        name: String,
        keys: Vec<String>,
    ) -> Result<Response<Bytes>, ApiError> {
        if keys.is_empty() {
            return Err(error::validation(
                "1 validation error detected: Value null at 'tagKeys' failed to satisfy constraint: Member must not be null",
            ));
        }
        self.functions
            .change_tags(&name, move |current| {
                for k in &keys {
                    current.remove(k);
                }
                Ok(())
            })
            .await
            .map_err(svc)?;
        let mut r = Response::new(Bytes::new());
        *r.status_mut() = StatusCode::NO_CONTENT;
        Ok(r)
    }

    pub(crate) fn list_tags(&self, name: String) -> Result<Response<Bytes>, ApiError> {
        let rec = self.functions.get(&name).map_err(svc)?;
        Ok(json_response(StatusCode::OK, json!({ "Tags": rec.tags })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_checked_as_lambda_checks_them() {
        let ok: BTreeMap<String, String> = [("team".to_string(), "blue".to_string())].into();
        assert!(check(&ok).is_ok());
        let reserved: BTreeMap<String, String> = [("aws:x".to_string(), String::new())].into();
        assert_eq!(
            check(&reserved).unwrap_err().code,
            "InvalidParameterValueException"
        );
        let long: BTreeMap<String, String> = [("k".repeat(129), String::new())].into();
        assert!(check(&long).is_err());
    }
}
