//! The one place where the workflow service's errors become Step Functions'
//! wire errors: each variant's code, 500 for the service's own failures and
//! 400 for the rest.

use http::StatusCode;
use nimbus_api_common::ApiError;
use nimbus_workflows::service::Error;

pub(crate) fn wire_error(e: &Error) -> ApiError {
    let status = match e {
        Error::Service(m) => {
            tracing::error!(error = %m, "workflow service failed");
            StatusCode::INTERNAL_SERVER_ERROR
        }
        _ => StatusCode::BAD_REQUEST,
    };
    ApiError::new(status, e.code(), e.to_string())
}
