//! The one place where errors become DynamoDB's wire errors (rendered by the
//! common awsJson envelope).

use nimbus_api_common::ApiError;
use nimbus_tables::Error as TError;
use nimbus_tables::expr;
use nimbus_tables::value::item_to_json;
use serde_json::{Value, json};

/// An error of this API: the wire error, built only here.
#[derive(Debug)]
pub struct DdbError(pub ApiError);

impl DdbError {
    pub fn validation(message: impl Into<String>) -> DdbError {
        DdbError::new("ValidationException", message)
    }

    pub(crate) fn new(kind: &'static str, message: impl Into<String>) -> DdbError {
        DdbError(ApiError::bad_request(kind, message))
    }
}

impl From<TError> for DdbError {
    fn from(e: TError) -> DdbError {
        let m = e.to_string();
        match e {
            TError::ResourceNotFound(_) => DdbError::new("ResourceNotFoundException", m),
            TError::ResourceInUse(_) => DdbError::new("ResourceInUseException", m),
            TError::Validation(v) if v == "IdempotentParameterMismatch" => DdbError::new(
                "IdempotentParameterMismatchException",
                "Request token has already been used with a different request",
            ),
            TError::Validation(_) => DdbError::validation(m),
            TError::ConditionalCheckFailed { item } => {
                let mut e = DdbError::new("ConditionalCheckFailedException", m);
                if let Some(i) = item {
                    e.0 = e.0.with("Item", item_to_json(&i));
                }
                e
            }
            TError::TransactionCanceled { reasons } => {
                let list: Vec<Value> = reasons
                    .iter()
                    .map(|r| {
                        let mut o = json!({ "Code": r.code });
                        if let Some(msg) = &r.message {
                            o["Message"] = json!(msg);
                        }
                        if let Some(i) = &r.item {
                            o["Item"] = item_to_json(i);
                        }
                        o
                    })
                    .collect();
                let mut e = DdbError::new("TransactionCanceledException", m);
                // DynamoDB spells this one's message member with a capital M.
                e.0.message_key = nimbus_api_common::MessageKey::Upper;
                e.0 = e.0.with("CancellationReasons", json!(list));
                e
            }
            TError::TrimmedData(_) => DdbError::new("TrimmedDataAccessException", m),
            TError::ExpiredIterator(_) => DdbError::new("ExpiredIteratorException", m),
            TError::PolicyNotFound(_) => DdbError::new("PolicyNotFoundException", m),
            TError::Storage(_) | TError::Corrupt(_) => {
                tracing::error!(error = %m, "table store failed");
                DdbError(ApiError::new(
                    http::StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalServerError",
                    "Internal server error",
                ))
            }
        }
    }
}

impl From<expr::ExprError> for DdbError {
    fn from(e: expr::ExprError) -> DdbError {
        DdbError::validation(e.0)
    }
}
