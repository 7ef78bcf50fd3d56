//! AWS API calls made inside the server, for CloudFormation's deployer: a
//! request goes straight to the API with its signing name, carrying the
//! extensions (caller, source address, authorizer) of the request it is made
//! for, so each API authorizes it as that caller, as at the edge.

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use nimbus_api_common::{ApiError, BoxFuture, Service, request_id};
use std::sync::Arc;

pub struct InProcess {
    apis: Vec<Arc<dyn Service>>,
}

impl InProcess {
    pub fn new(apis: Vec<Arc<dyn Service>>) -> InProcess {
        InProcess { apis }
    }
}

impl nimbus_api_cloudformation::Calls for InProcess {
    fn call(
        &self,
        signing_name: &'static str,
        req: Request<Bytes>,
    ) -> BoxFuture<'_, Response<Bytes>> {
        Box::pin(async move {
            let rid = request_id();
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
