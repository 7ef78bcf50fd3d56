//! HTTP front doors for functions: API Gateway HTTP APIs ([`apis`]: routes,
//! integrations, CORS, Lambda authorizers), REST APIs ([`rest`]: resource
//! trees, methods), the stages and deployments of both ([`stages`]), and
//! Lambda function URLs, all
//! turning an HTTP request into API Gateway's Lambda event formats
//! ([`http_events`]) and the function's result back into an HTTP response
//! ([`serve`]). The management APIs live in `api/apigateway` (HTTP APIs) and
//! `api/lambda` (function URLs).

pub mod access;
pub mod apis;
pub mod http_events;
pub mod jwt;
pub mod rest;
pub mod serve;
pub mod stages;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Conflict(String),
    /// The store failed, or a stored API is unreadable or in another format.
    #[error("{0}")]
    Storage(#[from] nimbus_storage::Error),
}

pub type Result<T> = std::result::Result<T, Error>;
