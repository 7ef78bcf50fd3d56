//! The one place where errors become SQS's wire errors: each has SQS's JSON
//! type and its legacy query-protocol code, rendered by the common awsJson
//! (or query) envelope.

use nimbus_api_common::{ApiError, Fault};
use nimbus_queues::Error as QError;

/// An error of this API: the wire error, built only here.
#[derive(Debug)]
pub struct SqsError(pub ApiError);

impl SqsError {
    pub(crate) fn new(
        kind: &'static str,
        query_code: &'static str,
        message: impl Into<String>,
    ) -> SqsError {
        SqsError(ApiError::bad_request(kind, message).with_query_code(query_code))
    }

    /// IAM refused the request: SQS's `AccessDenied`, 403.
    pub(crate) fn denied(d: nimbus_api_common::authz::Denied) -> SqsError {
        let mut e = ApiError::new(http::StatusCode::FORBIDDEN, "AccessDenied", d.message);
        e = e.with_query_code("AccessDenied");
        SqsError(e)
    }

    pub(crate) fn missing(param: &str) -> SqsError {
        SqsError::new(
            "MissingParameter",
            "MissingParameter",
            format!("The request must contain the parameter {param}."),
        )
    }

    pub(crate) fn invalid(message: impl Into<String>) -> SqsError {
        SqsError::new("InvalidParameterValue", "InvalidParameterValue", message)
    }

    /// Whether the caller is at fault.
    pub(crate) fn sender(&self) -> bool {
        self.0.fault() == Fault::Sender
    }

    /// The query protocol's code.
    pub(crate) fn query_code(&self) -> &str {
        self.0.query_code.as_deref().unwrap_or(&self.0.code)
    }
}

impl From<QError> for SqsError {
    fn from(e: QError) -> SqsError {
        let m = e.to_string();
        match e {
            QError::QueueDoesNotExist => SqsError::new(
                "QueueDoesNotExist",
                "AWS.SimpleQueueService.NonExistentQueue",
                m,
            ),
            QError::QueueNameExists(_) => SqsError::new("QueueNameExists", "QueueAlreadyExists", m),
            QError::InvalidAttributeName(_) => {
                SqsError::new("InvalidAttributeName", "InvalidAttributeName", m)
            }
            QError::InvalidAttributeValue(_) => {
                SqsError::new("InvalidAttributeValue", "InvalidAttributeValue", m)
            }
            QError::InvalidParameterValue(_) => SqsError::invalid(m),
            QError::ReceiptHandleIsInvalid(_) => {
                SqsError::new("ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid", m)
            }
            QError::MissingParameter(_) => SqsError::new("MissingParameter", "MissingParameter", m),
            QError::PurgeQueueInProgress(_) => SqsError::new(
                "PurgeQueueInProgress",
                "AWS.SimpleQueueService.PurgeQueueInProgress",
                m,
            ),
            QError::QueueDeletedRecently(_) => SqsError::new(
                "QueueDeletedRecently",
                "AWS.SimpleQueueService.QueueDeletedRecently",
                m,
            ),
            QError::InvalidMessageContents(_) => {
                SqsError::new("InvalidMessageContents", "InvalidMessageContents", m)
            }
            QError::Unsupported(_) => SqsError::new(
                "UnsupportedOperation",
                "AWS.SimpleQueueService.UnsupportedOperation",
                m,
            ),
            QError::Storage(_) | QError::Corrupt(_) => {
                tracing::error!(error = %m, "queue service failed");
                SqsError(
                    ApiError::new(
                        http::StatusCode::INTERNAL_SERVER_ERROR,
                        "InternalError",
                        "We encountered an internal error. Please try again.",
                    )
                    .with_query_code("InternalError"),
                )
            }
        }
    }
}
