//! CloudWatch Logs' service. `store`: log groups and streams, their events
//! in day segments, retention; `filter`: the filter pattern language that
//! `FilterLogEvents`, metric filters, subscription filters and Live Tail
//! share.

pub mod filter;
pub mod insights;
pub mod metric_filters;
pub mod store;
pub mod subscriptions;
pub mod tail;

pub use filter::{FilterError, FilterPattern};
pub use store::{Error, Event, Group, InputEvent, Logs, Query, Rejected, Stream, StreamStats};
