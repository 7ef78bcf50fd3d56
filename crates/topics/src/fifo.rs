//! FIFO topics: a publish's group and deduplication ids checked against its
//! topic, duplicates within five minutes answered with the first publish's
//! id and sent nowhere, and the sequence numbers FIFO messages carry.

use crate::{DEDUP_WINDOW_MS, Error, Message, Published, Result, Topic, Topics};
use nimbus_model::time::now_millis;
use sha2::Digest;

/// A FIFO publish's `MessageGroupId` and deduplication id (the given one,
/// or the body's SHA-256 with `ContentBasedDeduplication`).
pub(crate) struct Ids {
    pub group: String,
    pub dedup: String,
}

impl Topics {
    /// Check `m`'s FIFO members against `topic`: its ids for a FIFO topic,
    /// none for a standard one.
    pub(crate) fn fifo_ids(&self, topic: &Topic, m: &Message) -> Result<Option<Ids>> {
        if !topic.is_fifo() {
            if m.dedup_id.is_some() {
                return Err(Error::Invalid(
                    "Invalid parameter: MessageDeduplicationId Reason: The request includes MessageDeduplicationId parameter that is not valid for this topic type".into(),
                ));
            }
            return Ok(None);
        }
        let Some(group) = m.group_id.clone().filter(|g| !g.is_empty()) else {
            return Err(Error::Invalid(
                "Invalid parameter: The MessageGroupId parameter is required for FIFO topics"
                    .into(),
            ));
        };
        let dedup = match &m.dedup_id {
            Some(d) => d.clone(),
            None if topic
                .attributes
                .get("ContentBasedDeduplication")
                .is_some_and(|v| v == "true") =>
            {
                hex::encode(sha2::Sha256::digest(m.message.as_bytes()))
            }
            None => {
                return Err(Error::Invalid(
                    "Invalid parameter: The topic should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly".into(),
                ));
            }
        };
        Ok(Some(Ids { group, dedup }))
    }

    /// What the first publish of `dedup` to `topic` within the window
    /// answered; otherwise `fresh` is reserved under it and `None`
    /// returned.
    pub(crate) fn reserve(&self, topic: &str, dedup: &str, fresh: &Published) -> Option<Published> {
        let now = now_millis();
        let mut seen = self.dedup.lock().expect("dedup lock");
        seen.retain(|_, (until, _)| *until > now);
        let key = (topic.to_string(), dedup.to_string());
        if let Some((_, first)) = seen.get(&key) {
            return Some(first.clone());
        }
        seen.insert(key, (now + DEDUP_WINDOW_MS, fresh.clone()));
        None
    }

    /// Forget a reservation whose publish did not commit.
    pub(crate) fn release(&self, topic: &str, dedup: &str) {
        let mut seen = self.dedup.lock().expect("dedup lock");
        seen.remove(&(topic.to_string(), dedup.to_string()));
    }

    /// The next sequence number, 20 digits, rising across restarts.
    pub(crate) fn next_sequence(&self) -> String {
        use std::sync::atomic::Ordering;
        let floor = now_millis().saturating_mul(1_000_000);
        let mut current = self.sequence.load(Ordering::SeqCst);
        loop {
            let next = current.max(floor) + 1;
            match self
                .sequence
                .compare_exchange(current, next, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return format!("{next:020}"),
                Err(seen) => current = seen,
            }
        }
    }
}
