//! The EventBridge Pipes API in its REST-JSON protocol (`/v1/pipes/{Name}`,
//! `/v1/pipes/{Name}/start|stop`, `/tags/{resourceArn}`): each request is
//! parsed into an [`Operation`], authorized (`pipes:<Operation>` on the
//! pipe's ARN) and run on the pipe service. Times are epoch seconds.

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use nimbus_api_common::{ApiError, BoxFuture, Service, rest_json};
use nimbus_pipes::{Pipe, PipeInput, Pipes};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A Pipes operation and what it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    CreatePipe(String),
    DescribePipe(String),
    UpdatePipe(String),
    DeletePipe(String),
    ListPipes,
    StartPipe(String),
    StopPipe(String),
    TagResource(String),
    UntagResource(String),
    ListTagsForResource(String),
}

/// `%XX` escapes decoded (a tagged resource's ARN comes escaped).
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(h) = s.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(h, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Operation {
    pub fn parse(method: &Method, path: &str) -> Option<Operation> {
        use Operation as O;
        if let Some(arn) = path.strip_prefix("/tags/") {
            let arn = decode(arn);
            return Some(match *method {
                Method::POST => O::TagResource(arn),
                Method::DELETE => O::UntagResource(arn),
                Method::GET => O::ListTagsForResource(arn),
                _ => return None,
            });
        }
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        Some(match (method, parts.as_slice()) {
            (&Method::GET, ["v1", "pipes"]) => O::ListPipes,
            (&Method::POST, ["v1", "pipes", n]) => O::CreatePipe(n.to_string()),
            (&Method::GET, ["v1", "pipes", n]) => O::DescribePipe(n.to_string()),
            (&Method::PUT, ["v1", "pipes", n]) => O::UpdatePipe(n.to_string()),
            (&Method::DELETE, ["v1", "pipes", n]) => O::DeletePipe(n.to_string()),
            (&Method::POST, ["v1", "pipes", n, "start"]) => O::StartPipe(n.to_string()),
            (&Method::POST, ["v1", "pipes", n, "stop"]) => O::StopPipe(n.to_string()),
            _ => return None,
        })
    }

    fn action(&self) -> &'static str {
        use Operation as O;
        match self {
            O::CreatePipe(_) => "pipes:CreatePipe",
            O::DescribePipe(_) => "pipes:DescribePipe",
            O::UpdatePipe(_) => "pipes:UpdatePipe",
            O::DeletePipe(_) => "pipes:DeletePipe",
            O::ListPipes => "pipes:ListPipes",
            O::StartPipe(_) => "pipes:StartPipe",
            O::StopPipe(_) => "pipes:StopPipe",
            O::TagResource(_) => "pipes:TagResource",
            O::UntagResource(_) => "pipes:UntagResource",
            O::ListTagsForResource(_) => "pipes:ListTagsForResource",
        }
    }
}

pub struct PipesApi {
    pipes: Arc<Pipes>,
}

fn error(e: nimbus_pipes::Error) -> ApiError {
    use nimbus_pipes::Error as E;
    match &e {
        E::NotFound(m) => ApiError::new(StatusCode::NOT_FOUND, "NotFoundException", m.clone()),
        E::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "ConflictException", m.clone()),
        E::Invalid(m) => ApiError::bad_request("ValidationException", m.clone()),
        E::Storage(_) => {
            tracing::error!(error = %e, "pipe store failed");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalException",
                "An error occurred on the server side.",
            )
        }
    }
}

fn seconds(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

/// The members every pipe answer has; `current` is its state now.
fn summary(p: &Pipe, current: &str) -> Value {
    json!({
        "Arn": p.arn, "Name": p.name, "DesiredState": p.desired_state,
        "CurrentState": current,
        "CreationTime": seconds(p.created_ms), "LastModifiedTime": seconds(p.modified_ms),
    })
}

fn describe(p: &Pipe) -> Value {
    let mut v = summary(p, &p.desired_state);
    for (k, x) in [
        ("Source", json!(p.source)),
        ("SourceParameters", p.source_parameters.clone()),
        ("EnrichmentParameters", p.enrichment_parameters.clone()),
        ("Target", json!(p.target)),
        ("TargetParameters", p.target_parameters.clone()),
        ("RoleArn", json!(p.role_arn)),
        ("Tags", json!(p.tags)),
    ] {
        v[k] = x;
    }
    if let Some(e) = &p.enrichment {
        v["Enrichment"] = json!(e);
    }
    if let Some(d) = &p.description {
        v["Description"] = json!(d);
    }
    v
}

fn input(name: &str, b: &Value) -> PipeInput {
    let text = |k: &str| b.get(k).and_then(Value::as_str).map(str::to_string);
    let object = |k: &str| b.get(k).filter(|v| v.is_object()).cloned();
    PipeInput {
        name: name.to_string(),
        description: text("Description"),
        desired_state: text("DesiredState"),
        source: text("Source"),
        source_parameters: object("SourceParameters"),
        enrichment: text("Enrichment"),
        enrichment_parameters: object("EnrichmentParameters"),
        target: text("Target"),
        target_parameters: object("TargetParameters"),
        role_arn: text("RoleArn"),
        tags: tag_map(b.get("Tags")),
    }
}

fn tag_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// A query parameter's values (`tagKeys=a&tagKeys=b`).
fn query_all(req: &Request<Bytes>, key: &str) -> Vec<String> {
    req.uri()
        .query()
        .map(|q| {
            nimbus_api_common::query::parse_form(q.as_bytes())
                .into_iter()
                .filter(|(k, _)| k == key)
                .map(|(_, v)| v)
                .collect()
        })
        .unwrap_or_default()
}

impl PipesApi {
    pub fn new(pipes: Arc<Pipes>) -> PipesApi {
        PipesApi { pipes }
    }

    fn arn_of(&self, op: &Operation) -> String {
        use Operation as O;
        match op {
            O::CreatePipe(n)
            | O::DescribePipe(n)
            | O::UpdatePipe(n)
            | O::DeletePipe(n)
            | O::StartPipe(n)
            | O::StopPipe(n) => self.pipes.arn(n),
            O::TagResource(a) | O::UntagResource(a) | O::ListTagsForResource(a) => a.clone(),
            O::ListPipes => "*".into(),
        }
    }

    pub fn handle(&self, req: Request<Bytes>, request_id: &str) -> Response<Bytes> {
        let Some(op) = Operation::parse(req.method(), req.uri().path()) else {
            let e = ApiError::new(
                StatusCode::NOT_FOUND,
                "UnknownOperationException",
                "Unknown operation",
            );
            return e.rest_json(request_id);
        };
        let body = match rest_json::body(req.body(), "ValidationException") {
            Ok(b) => b,
            Err(e) => return e.rest_json(request_id),
        };
        let arn = self.arn_of(&op);
        if let Err(d) = nimbus_api_common::authz::authorize(req.extensions(), |_| {
            vec![if arn == "*" {
                nimbus_api_common::authz::Access::any(op.action())
            } else {
                nimbus_api_common::authz::Access::new(op.action(), arn.clone())
            }]
        }) {
            return ApiError::new(StatusCode::FORBIDDEN, "AccessDeniedException", d.message)
                .rest_json(request_id);
        }
        rest_json::answer(self.execute(&op, &req, &body), request_id)
    }

    fn execute(
        &self,
        op: &Operation,
        req: &Request<Bytes>,
        body: &Value,
    ) -> Result<Value, ApiError> {
        use Operation as O;
        let ps = &self.pipes;
        let name_of = |arn: &str| arn.rsplit_once("pipe/").map(|(_, n)| n.to_string());
        Ok(match op {
            O::CreatePipe(n) => {
                summary(&*ps.create_pipe(input(n, body)).map_err(error)?, "CREATING")
            }
            O::UpdatePipe(n) => {
                summary(&*ps.update_pipe(input(n, body)).map_err(error)?, "UPDATING")
            }
            O::DescribePipe(n) => describe(&*ps.pipe(n).map_err(error)?),
            O::DeletePipe(n) => {
                let p = ps.delete_pipe(n).map_err(error)?;
                let mut v = summary(&p, "DELETING");
                v["DesiredState"] = json!("DELETED");
                v
            }
            O::StartPipe(n) => summary(&*ps.set_desired_state(n, true).map_err(error)?, "STARTING"),
            O::StopPipe(n) => summary(&*ps.set_desired_state(n, false).map_err(error)?, "STOPPING"),
            O::ListPipes => {
                let q = |k: &str| query_all(req, k).into_iter().next();
                let (prefix, desired, current) =
                    (q("NamePrefix"), q("DesiredState"), q("CurrentState"));
                let (source, target) = (q("SourcePrefix"), q("TargetPrefix"));
                let list: Vec<Value> = ps
                    .pipes(prefix.as_deref())
                    .iter()
                    .filter(|p| desired.as_deref().is_none_or(|d| p.desired_state == d))
                    .filter(|p| current.as_deref().is_none_or(|c| p.desired_state == c))
                    .filter(|p| source.as_deref().is_none_or(|s| p.source.starts_with(s)))
                    .filter(|p| target.as_deref().is_none_or(|t| p.target.starts_with(t)))
                    .map(|p| {
                        let mut v = summary(p, &p.desired_state);
                        v["Source"] = json!(p.source);
                        v["Target"] = json!(p.target);
                        if let Some(e) = &p.enrichment {
                            v["Enrichment"] = json!(e);
                        }
                        v
                    })
                    .collect();
                json!({"Pipes": list})
            }
            O::TagResource(arn) => {
                ps.tag(arn, tag_map(body.get("tags")), &[]).map_err(error)?;
                json!({})
            }
            O::UntagResource(arn) => {
                ps.tag(arn, BTreeMap::new(), &query_all(req, "tagKeys"))
                    .map_err(error)?;
                json!({})
            }
            O::ListTagsForResource(arn) => {
                let name = name_of(arn).unwrap_or_default();
                json!({"tags": ps.pipe(&name).map_err(error)?.tags})
            }
        })
    }
}

impl Service for PipesApi {
    fn signing_name(&self) -> &'static str {
        "pipes"
    }

    /// Pipes is found by its signature's scope only.
    fn owns(&self, _req: &http::request::Parts) -> bool {
        false
    }

    fn handle(&self, req: Request<Bytes>, request_id: String) -> BoxFuture<'_, Response<Bytes>> {
        Box::pin(async move { PipesApi::handle(self, req, &request_id) })
    }

    fn error(&self, err: &ApiError, request_id: &str) -> Response<Bytes> {
        err.rest_json(request_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse_to_operations() {
        use Operation as O;
        let p = |m: Method, path: &str| Operation::parse(&m, path);
        assert_eq!(
            p(Method::POST, "/v1/pipes/a"),
            Some(O::CreatePipe("a".into()))
        );
        assert_eq!(
            p(Method::POST, "/v1/pipes/a/stop"),
            Some(O::StopPipe("a".into()))
        );
        assert_eq!(p(Method::GET, "/v1/pipes"), Some(O::ListPipes));
        assert_eq!(
            p(
                Method::GET,
                "/tags/arn%3Aaws%3Apipes%3Aus-east-1%3A000000000000%3Apipe%2Fa"
            ),
            Some(O::ListTagsForResource(
                "arn:aws:pipes:us-east-1:000000000000:pipe/a".into()
            ))
        );
        assert_eq!(p(Method::PATCH, "/v1/pipes/a"), None);
    }
}
