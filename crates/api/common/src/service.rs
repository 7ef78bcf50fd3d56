//! The one shape every AWS API has towards the edge: the edge picks a
//! [`Service`] (by SigV4 scope, `X-Amz-Target` or path), verifies the
//! signature, and hands it the request; the service answers in its protocol.

use crate::ApiError;
use bytes::Bytes;
use http::{Request, Response};
use std::future::Future;
use std::pin::Pin;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The seam from one API to the others, for services that act through other
/// services' APIs (CloudFormation's providers, CodeDeploy's traffic
/// shifting): hand a request to the API with this SigV4 signing name
/// (`sqs`, `iam`, `lambda` ...) and get its answer, as if it had come through
/// the edge with the request's extensions (its `Caller`, authorizer). The
/// server implements it over its list of APIs.
pub trait Calls: Send + Sync {
    fn call(
        &self,
        signing_name: &'static str,
        req: Request<Bytes>,
    ) -> BoxFuture<'_, Response<Bytes>>;
}

/// One AWS API behind the edge. Each `api/*` crate implements it on its API
/// type; the server only lists them.
pub trait Service: Send + Sync + 'static {
    /// The SigV4 signing name (`lambda`, `sqs`, `dynamodb` ...).
    fn signing_name(&self) -> &'static str;
    /// Whether a request belongs here when its signature does not say (an
    /// `X-Amz-Target` prefix, a path).
    fn owns(&self, req: &http::request::Parts) -> bool;
    /// Answer a request whose body the edge has read and verified.
    fn handle(&self, req: Request<Bytes>, request_id: String) -> BoxFuture<'_, Response<Bytes>>;
    /// An error found before the service saw the request (authentication, a
    /// body too large), in this service's envelope.
    fn error(&self, err: &ApiError, request_id: &str) -> Response<Bytes>;
    /// The largest request body this API takes (the edge's own limit when
    /// smaller); a larger one is refused with 413 before the API sees it.
    fn max_body(&self) -> usize {
        usize::MAX
    }
    /// Whether this request is answered with a streamed body.
    fn streams(&self, _req: &http::request::Parts) -> bool {
        false
    }
    /// Answer a request [`Service::streams`] claimed.
    fn handle_stream(
        &self,
        req: Request<Bytes>,
        request_id: String,
    ) -> BoxFuture<'_, Response<nimbus_body::Body>> {
        Box::pin(async move { self.handle(req, request_id).await.map(nimbus_body::full) })
    }
}
