//! AWS API calls made inside the server, for CloudFormation's deployer: a
//! request goes straight to the API with its signing name, carrying the
//! extensions (caller, source address, authorizer) of the request it is made
//! for, so each API authorizes it as that caller, as at the edge. S3, which
//! streams its bodies at the edge, takes these whole.

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use nimbus_api_common::{ApiError, BoxFuture, Service, request_id};
use std::sync::Arc;

pub struct InProcess {
    apis: Vec<Arc<dyn Service>>,
    s3: Arc<nimbus_api_s3::S3Api>,
}

impl InProcess {
    pub fn new(apis: Vec<Arc<dyn Service>>, s3: Arc<nimbus_api_s3::S3Api>) -> InProcess {
        InProcess { apis, s3 }
    }

    async fn s3(&self, req: Request<Bytes>, rid: &str) -> Response<Bytes> {
        let (parts, body) = self.s3.handle_buffered(req, rid).await.into_parts();
        match body.collect().await {
            Ok(b) => Response::from_parts(parts, b.to_bytes()),
            Err(e) => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                format!("read the S3 answer: {e}"),
            )
            .rest_json(rid),
        }
    }
}

impl nimbus_api_common::Calls for InProcess {
    fn call(
        &self,
        signing_name: &'static str,
        req: Request<Bytes>,
    ) -> BoxFuture<'_, Response<Bytes>> {
        Box::pin(async move {
            let rid = request_id();
            if signing_name == "s3" {
                return self.s3(req, &rid).await;
            }
            match self.apis.iter().find(|s| s.signing_name() == signing_name) {
                Some(api) => api.handle(req, rid).await,
                None => ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "UnknownServiceException",
                    format!("No Nimbus service is signed for as {signing_name}"),
                )
                .rest_json(&rid),
            }
        })
    }
}
