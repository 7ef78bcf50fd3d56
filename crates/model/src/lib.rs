//! Plain data shared across Nimbus: account and region identity, ARNs, the stored
//! shape of a function, and the time formats AWS puts on the wire.
//!
//! This crate has no I/O and no async: it is what every layer may depend on.

pub mod arn;
pub mod function;
pub mod time;

pub use arn::{FunctionRef, Identity};
pub use function::{
    AliasRecord, EventInvokeConfig, FunctionRecord, LATEST, LayerRef, ProvisionedConfig, Runtime,
    RuntimeFamily, RuntimeManagement, UrlConfig,
};
