//! The IAM API in its query protocol (`Action=CreateRole&...` forms, XML
//! answers in `https://iam.amazonaws.com/doc/2010-05-08/`): each request
//! becomes an [`Operation`] on the identity service ([`nimbus_iam::Iam`]),
//! answered in IAM's shapes ([`shapes`]); errors are mapped in [`error`].
//!
//! The caller (for `GetUser` without a name, `CreateAccessKey` for oneself)
//! comes from the edge as a [`Caller`] in the request's extensions.

pub mod authz;
pub mod enforce;
pub mod error;
mod operations;
pub mod shapes;
mod simulate;

pub use error::IamError;
pub use operations::Operation;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use nimbus_api_common::query::{Form, Query};
use nimbus_api_common::{ApiError, BoxFuture, Caller, Service};
use nimbus_iam::Iam;
use std::sync::Arc;

/// IAM's query-protocol framing.
pub const IAM_QUERY: Query = Query {
    namespace: "https://iam.amazonaws.com/doc/2010-05-08/",
};

pub struct IamApi {
    iam: Arc<Iam>,
}

/// What a handler reads: the form and who sent it.
pub(crate) struct Call<'a> {
    pub form: &'a Form,
    pub caller: Option<&'a Caller>,
}

impl IamApi {
    pub fn new(iam: Arc<Iam>) -> IamApi {
        IamApi { iam }
    }

    /// Answer one request (a form in the query string or body).
    pub fn handle(&self, req: &Request<Bytes>, request_id: &str) -> Response<Bytes> {
        let form = Form::new(req.uri().query().unwrap_or(""), req.body());
        let Some(action) = form.get("Action") else {
            let e = ApiError::bad_request("MissingAction", "Missing Action");
            return IAM_QUERY.error(&e, request_id);
        };
        let Some(op) = Operation::parse(action) else {
            let e = ApiError::bad_request(
                "InvalidAction",
                format!("Could not find operation {action} for version 2010-05-08"),
            );
            return IAM_QUERY.error(&e, request_id);
        };
        if let Err(d) = nimbus_api_common::authz::authorize(req.extensions(), |s| {
            authz::access(op, &form, req.extensions().get::<Caller>(), &self.iam, s)
        }) {
            let e = ApiError::new(StatusCode::FORBIDDEN, "AccessDenied", d.message);
            return IAM_QUERY.error(&e, request_id);
        }
        let call = Call {
            form: &form,
            caller: req.extensions().get::<Caller>(),
        };
        match self.execute(op, &call) {
            Ok(members) => IAM_QUERY.respond(
                StatusCode::OK,
                IAM_QUERY.document(op.name(), &members, request_id),
                request_id,
            ),
            Err(e) => IAM_QUERY.error(&e.0, request_id),
        }
    }
}

impl Service for IamApi {
    fn signing_name(&self) -> &'static str {
        "iam"
    }

    /// IAM is found by its signature's scope only.
    fn owns(&self, _req: &http::request::Parts) -> bool {
        false
    }

    fn handle(&self, req: Request<Bytes>, request_id: String) -> BoxFuture<'_, Response<Bytes>> {
        Box::pin(async move { IamApi::handle(self, &req, &request_id) })
    }

    fn error(&self, err: &ApiError, request_id: &str) -> Response<Bytes> {
        IAM_QUERY.error(&error::from_edge(err), request_id)
    }
}

#[cfg(test)]
mod tests;
