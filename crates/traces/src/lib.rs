//! AWS X-Ray's service. `header`: the `X-Amzn-Trace-Id` header and new ids;
//! `store`: segment documents by trace in day files with retention, merged
//! into traces as `BatchGetTraces` returns them; `summary`: trace summaries
//! and service graphs; `filter`: X-Ray's filter expressions; `sampling`:
//! sampling rules and the reservoir; `daemon`: the UDP socket the X-Ray SDKs
//! send segments to (`AWS_XRAY_DAEMON_ADDRESS`); `service`: the segment of a
//! service call in a sampled trace; `otlp`: segments as OpenTelemetry spans
//! for an OTLP collector.
//!
//! Not here: what the platform records about its own work (the Lambda
//! service's segments are made by `nimbus-functions`).

pub mod daemon;
pub mod filter;
pub mod header;
pub mod otlp;
pub mod sampling;
pub mod service;
pub mod store;
pub mod summary;

pub use filter::FilterExpression;
pub use header::TraceHeader;
pub use sampling::{Sampler, SamplingRule};
pub use store::{Rejected, Traces};

/// What goes wrong in the trace service.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("trace storage: {0}")]
    Io(#[from] std::io::Error),
    #[error("trace storage: {0}")]
    Storage(#[from] nimbus_storage::Error),
}

pub type Result<T> = std::result::Result<T, Error>;
