//! The functions service's errors. The Lambda API maps each onto AWS's error code.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `ResourceNotFoundException`.
    #[error("{0}")]
    NotFound(String),
    /// `ResourceConflictException`.
    #[error("{0}")]
    Conflict(String),
    /// `InvalidParameterValueException`.
    #[error("{0}")]
    InvalidParameter(String),
    /// `ValidationException`: the request broke a model constraint.
    #[error("{0}")]
    Validation(String),
    /// `PreconditionFailedException`: a stale `RevisionId`.
    #[error("{0}")]
    PreconditionFailed(String),
    /// `RequestTooLargeException`.
    #[error("{0}")]
    RequestTooLarge(String),
    /// `CodeSigningConfigNotFoundException`.
    #[error("{0}")]
    CodeSigningConfigNotFound(String),
    /// `CodeVerificationFailedException`: unsigned code under `Enforce`.
    #[error("{0}")]
    CodeVerificationFailed(String),
    #[error("storage failed: {0}")]
    Storage(#[from] nimbus_storage::Error),
    #[error("{0}")]
    Internal(String),
}

pub type Result<T> = std::result::Result<T, Error>;
