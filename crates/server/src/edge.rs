//! The edge: one HTTP listener for every API. It collects the request, picks the
//! service (SigV4 credential scope, `X-Amz-Target`, or path), verifies the
//! signature, and hands the request to that service, which answers in its own
//! wire format. Later services plug in as another [`Service`].

use crate::credentials::Credentials;
use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use nimbus_api_common::sigv4::{self, Authorization, RequestParts};
use nimbus_api_common::{ApiError, auth_error, request_id};
use nimbus_functions::Functions;
use nimbus_invoke::BoxFuture;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use tracing::Instrument;

/// Largest request body the edge reads: a 50 MB zip, base64-encoded in JSON.
const MAX_BODY: usize = 70 * 1024 * 1024;

/// One AWS API behind the edge.
pub trait Service: Send + Sync + 'static {
    /// The SigV4 signing name (`lambda`, `s3`, `sqs` ...).
    fn signing_name(&self) -> &'static str;
    /// Whether an unsigned (or differently scoped) request belongs here by its path.
    fn owns(&self, req: &http::request::Parts) -> bool;
    fn handle(&self, req: Request<Bytes>, request_id: String) -> BoxFuture<'_, Response<Bytes>>;
    fn error(&self, err: &ApiError, request_id: &str) -> Response<Bytes>;
}

/// The Lambda API as an edge service.
pub struct LambdaService(pub Arc<nimbus_api_lambda::LambdaApi>);

impl Service for LambdaService {
    fn signing_name(&self) -> &'static str {
        "lambda"
    }

    fn owns(&self, req: &http::request::Parts) -> bool {
        nimbus_api_lambda::owns_path(req.uri.path())
    }

    fn handle(&self, req: Request<Bytes>, request_id: String) -> BoxFuture<'_, Response<Bytes>> {
        Box::pin(async move { self.0.handle(req, &request_id).await })
    }

    fn error(&self, err: &ApiError, request_id: &str) -> Response<Bytes> {
        err.rest_json(request_id)
    }
}

pub struct Auth {
    pub credentials: Credentials,
    pub any_credentials: bool,
}

pub struct Edge {
    auth: Auth,
    services: Vec<Arc<dyn Service>>,
    functions: Arc<Functions>,
}

impl Edge {
    pub fn new(auth: Auth, services: Vec<Arc<dyn Service>>, functions: Arc<Functions>) -> Edge {
        Edge {
            auth,
            services,
            functions,
        }
    }

    fn route(&self, parts: &http::request::Parts) -> Option<Arc<dyn Service>> {
        let scope_service = parts
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|a| Authorization::parse(a).ok())
            .map(|a| a.service);
        if let Some(name) = scope_service
            && let Some(s) = self.services.iter().find(|s| s.signing_name() == name)
        {
            return Some(s.clone());
        }
        if let Some(target) = parts
            .headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
        {
            let prefix = target.split('.').next().unwrap_or("").to_ascii_lowercase();
            if let Some(s) = self
                .services
                .iter()
                .find(|s| prefix.contains(s.signing_name()))
            {
                return Some(s.clone());
            }
        }
        self.services.iter().find(|s| s.owns(parts)).cloned()
    }

    fn authenticate(
        &self,
        parts: &http::request::Parts,
        body: &[u8],
        service: &dyn Service,
    ) -> Result<(), ApiError> {
        let header = parts
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        let Some(header) = header else {
            return if self.auth.any_credentials {
                Ok(())
            } else {
                Err(auth_error(&sigv4::AuthError::Missing))
            };
        };
        let auth = Authorization::parse(header).map_err(|e| auth_error(&e))?;
        if self.auth.any_credentials {
            return Ok(());
        }
        let payload_hash = match parts
            .headers
            .get("x-amz-content-sha256")
            .and_then(|v| v.to_str().ok())
        {
            Some(h) if service.signing_name() == "s3" => h.to_string(),
            _ => hex::encode(Sha256::digest(body)),
        };
        let rp = RequestParts {
            method: parts.method.as_str(),
            raw_path: parts.uri.path(),
            raw_query: parts.uri.query().unwrap_or(""),
            headers: &parts.headers,
            payload_hash: &payload_hash,
            double_encode_path: service.signing_name() != "s3",
        };
        let creds = &self.auth.credentials;
        let now = (nimbus_model::time::now_millis() / 1000) as i64;
        sigv4::verify(
            &rp,
            &auth,
            |k| (k == creds.access_key_id).then(|| creds.secret_access_key.clone()),
            now,
        )
        .map_err(|e| auth_error(&e))
    }

    async fn handle(&self, req: Request<Incoming>) -> Response<Bytes> {
        let rid = request_id();
        let (parts, body) = req.into_parts();
        if let Some(resp) = self.internal(&parts) {
            return resp;
        }
        let Some(service) = self.route(&parts) else {
            let err = ApiError::new(
                StatusCode::BAD_REQUEST,
                "UnknownServiceException",
                format!(
                    "No Nimbus service handles {} {}",
                    parts.method,
                    parts.uri.path()
                ),
            );
            return err.rest_json(&rid);
        };
        let body = match Limited::new(body, MAX_BODY).collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                let too_big = e
                    .downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some();
                let err = if too_big {
                    ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "RequestTooLargeException",
                        format!("Request must be smaller than {MAX_BODY} bytes"),
                    )
                } else {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "IncompleteBody",
                        "The request body could not be read",
                    )
                };
                return service.error(&err, &rid);
            }
        };
        if let Err(e) = self.authenticate(&parts, &body, service.as_ref()) {
            tracing::debug!(code = %e.code, "request refused by authentication");
            return service.error(&e, &rid);
        }
        let span =
            tracing::debug_span!("request", request_id = %rid, service = service.signing_name());
        service
            .handle(Request::from_parts(parts, body), rid)
            .instrument(span)
            .await
    }

    /// Nimbus's own unauthenticated routes under `/_nimbus/`.
    fn internal(&self, parts: &http::request::Parts) -> Option<Response<Bytes>> {
        let path = parts.uri.path().strip_prefix("/_nimbus/")?;
        let mut resp = if path == "health" {
            Response::new(Bytes::from_static(b"{\"status\":\"ok\"}"))
        } else if let Some(digest) = path.strip_prefix("code/") {
            // The `Code.Location` of GetFunction: the digest is the capability.
            match self
                .functions
                .code_path(digest)
                .and_then(|p| std::fs::read(p).ok())
            {
                Some(zip) => {
                    let mut r = Response::new(Bytes::from(zip));
                    r.headers_mut()
                        .insert("content-type", HeaderValue::from_static("application/zip"));
                    r
                }
                None => {
                    let mut r = Response::new(Bytes::from_static(b"not found"));
                    *r.status_mut() = StatusCode::NOT_FOUND;
                    r
                }
            }
        } else {
            let mut r = Response::new(Bytes::from_static(b"not found"));
            *r.status_mut() = StatusCode::NOT_FOUND;
            r
        };
        if path == "health" {
            resp.headers_mut()
                .insert("content-type", HeaderValue::from_static("application/json"));
        }
        Some(resp)
    }
}

/// Accept connections forever, serving each with HTTP/1.1 keep-alive.
pub async fn serve(listener: tokio::net::TcpListener, edge: Arc<Edge>) {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let edge = edge.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let edge = edge.clone();
                async move { Ok::<_, std::convert::Infallible>(edge.handle(req).await.map(Full::new)) }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), svc)
                .await
            {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
}
