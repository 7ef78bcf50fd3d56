//! The table store's background work: expire items past their TTL (every
//! second) and trim stream records past their 24 hours (every minute), while
//! the store lives.

use crate::{Error, Tables};
use std::sync::{Arc, Weak};

/// Start the housekeeping task; it ends when the store is dropped. Call inside
/// a Tokio runtime.
pub fn start(tables: &Arc<Tables>) {
    tokio::spawn(run(Arc::downgrade(tables)));
}

async fn run(tables: Weak<Tables>) {
    let mut tick = 0u64;
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        let Some(t) = tables.upgrade() else { return };
        tick += 1;
        let result = tokio::task::spawn_blocking(move || {
            let now = nimbus_model::time::now_millis();
            t.expire(now / 1000)?;
            if tick.is_multiple_of(60) {
                t.trim_streams(now)?;
            }
            Ok::<_, Error>(())
        })
        .await;
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "table housekeeping failed"),
            Err(e) => tracing::error!(error = %e, "table housekeeping task failed"),
        }
    }
}
