//! Receiving: long polls, visibility, FIFO group order, redrive to the dead-letter queue at receive, and deletes and visibility changes by receipt handle.

use super::*;

/// How many visible messages past the `max` it hands out a FIFO receive reads,
/// to return as many of one group as it can.
const FIFO_WINDOW: usize = 1000;

impl Queues {
    /// Receive up to `max` visible messages, hiding each for `visibility` seconds
    /// (the queue's default when `None`); messages past the redrive policy's
    /// `maxReceiveCount` move to the dead-letter queue instead. Waits up to
    /// `wait_secs` (the queue's default when `None`) for a message to arrive.
    pub async fn receive(
        &self,
        queue: &str,
        max: usize,
        visibility: Option<u64>,
        wait_secs: Option<u64>,
    ) -> Result<Vec<Received>> {
        let default_wait = {
            let live = self.live.lock().expect("queues lock");
            let q = live.get(queue).ok_or(Error::QueueDoesNotExist)?;
            q.rec
                .attributes
                .get("ReceiveMessageWaitTimeSeconds")
                .and_then(|w| w.parse().ok())
                .unwrap_or(0)
        };
        let wait = wait_secs.unwrap_or(default_wait).min(MAX_WAIT_SECS);
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(wait);
        loop {
            let (got, notify, next_visible) = self.try_receive(queue, max, visibility)?;
            if !got.is_empty() || tokio::time::Instant::now() >= deadline {
                self.count_received(queue, got.len());
                return Ok(got);
            }
            // Wake for a new message, a message becoming visible, or the deadline.
            let mut until = deadline;
            if let Some(at) = next_visible {
                let now_ms = nimbus_model::time::now_millis();
                let soon = tokio::time::Instant::now()
                    + std::time::Duration::from_millis(at.saturating_sub(now_ms));
                until = until.min(soon);
            }
            let notified = notify.notified();
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep_until(until) => {}
            }
        }
    }

    #[allow(clippy::type_complexity)]
    pub(crate) fn try_receive(
        &self,
        queue: &str,
        max: usize,
        visibility: Option<u64>,
    ) -> Result<(Vec<Received>, Arc<tokio::sync::Notify>, Option<u64>)> {
        let now = nimbus_model::time::now_millis();
        let mut live = self.live.lock().expect("queues lock");
        let q = live.get(queue).ok_or(Error::QueueDoesNotExist)?;
        let notify = q.notify.clone();
        let vis = visibility.unwrap_or_else(|| {
            q.rec
                .attributes
                .get("VisibilityTimeout")
                .and_then(|v| v.parse().ok())
                .unwrap_or(30)
        });
        let redrive = q.rec.attributes.get("RedrivePolicy").and_then(|p| {
            let v: serde_json::Value = serde_json::from_str(p).ok()?;
            let dlq = self.name_from_arn(v["deadLetterTargetArn"].as_str()?)?;
            let count = match &v["maxReceiveCount"] {
                serde_json::Value::Number(n) => n.as_u64()?,
                serde_json::Value::String(s) => s.parse().ok()?,
                _ => return None,
            };
            Some((dlq, count as u32))
        });
        let retention_ms: u64 = q
            .rec
            .attributes
            .get("MessageRetentionPeriod")
            .and_then(|r| r.parse().ok())
            .unwrap_or(345_600)
            * 1000;
        let mut batch = WriteBatch::new();
        let mut picked = Vec::new();
        let mut moved = Vec::new();
        let mut expired = Vec::new();
        let mut next_visible: Option<u64> = None;
        let fifo = q.rec.is_fifo();
        let source_arn = self.arn(queue);
        // FIFO: a group with a message in flight delivers nothing until that
        // one is deleted or visible again; a delayed message holds back the
        // messages of its group sent after it.
        let mut blocked: std::collections::HashSet<&str> = std::collections::HashSet::new();
        let mut in_flight: std::collections::HashSet<&str> = std::collections::HashSet::new();
        let mut candidates = Vec::new();
        for m in q.messages.values() {
            if now.saturating_sub(m.sent_ms) > retention_ms {
                expired.push(m.seq);
                continue;
            }
            if m.visible_at_ms > now {
                next_visible =
                    Some(next_visible.map_or(m.visible_at_ms, |n| n.min(m.visible_at_ms)));
                if fifo && let Some(g) = &m.group_id {
                    blocked.insert(g);
                    if m.receive_count > 0 {
                        in_flight.insert(g);
                    }
                }
                continue;
            }
            if fifo && m.group_id.as_deref().is_some_and(|g| blocked.contains(g)) {
                continue;
            }
            // A standard queue is read no further than it can hand out; a
            // FIFO queue a window further, to group its messages.
            if candidates.len() == if fifo { max + FIFO_WINDOW } else { max } {
                break;
            }
            if let Some((dlq, limit)) = &redrive
                && m.receive_count >= *limit
                && live
                    .get(dlq)
                    .is_some_and(|d| redrive_allowed(&d.rec, &source_arn))
            {
                moved.push((m.seq, dlq.clone()));
                continue;
            }
            candidates.push(m);
        }
        if fifo {
            // A message in flight holds its whole group, also the messages
            // before it that became visible again.
            candidates.retain(|m| m.group_id.as_deref().is_none_or(|g| !in_flight.contains(g)));
            // As many messages of one group as possible, groups in the order
            // of their oldest message, as SQS returns them.
            let mut first: HashMap<Option<&str>, usize> = HashMap::new();
            for (i, m) in candidates.iter().enumerate() {
                first.entry(m.group_id.as_deref()).or_insert(i);
            }
            candidates.sort_by_key(|m| (first[&m.group_id.as_deref()], m.seq));
        }
        picked.extend(candidates.iter().take(max).map(|m| m.seq));
        for seq in &expired {
            batch.delete(MESSAGES, message_key(queue, *seq));
        }
        let mut moved_msgs = Vec::new();
        for (seq, dlq) in &moved {
            let q = live.get(queue).expect("queue exists");
            let mut m = q.messages[seq].clone();
            batch.delete(MESSAGES, message_key(queue, *seq));
            m.seq = self
                .next_seq
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            m.receive_count = 0;
            m.first_receive_ms = None;
            m.visible_at_ms = now;
            m.dead_letter_source_arn = Some(source_arn.clone());
            batch.put(MESSAGES, message_key(dlq, m.seq), encode(&m));
            moved_msgs.push((*seq, dlq.clone(), m));
        }
        let mut out = Vec::new();
        let mut before = Vec::new();
        let q = live.get_mut(queue).expect("queue exists");
        // Taken now (hidden in memory), so no other receiver gets them while the
        // commit runs; put back if it fails.
        for seq in &picked {
            let m = q.messages.get_mut(seq).expect("picked from this map");
            before.push(m.clone());
            m.receive_count += 1;
            m.first_receive_ms.get_or_insert(now);
            m.visible_at_ms = now + vis * 1000;
            m.nonce = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
            batch.put(MESSAGES, message_key(queue, *seq), encode(&*m));
            out.push(Received {
                receipt_handle: receipt(queue, m),
                message: m.clone(),
            });
        }
        let mut removed = Vec::new();
        for seq in expired
            .iter()
            .chain(moved_msgs.iter().map(|(old, _, _)| old))
        {
            if let Some(m) = q.messages.remove(seq) {
                removed.push(m);
            }
        }
        if batch.ops.is_empty() {
            return Ok((out, notify, next_visible));
        }
        drop(live);
        // Commit without holding the lock, so concurrent receivers share a commit.
        if let Err(e) = off_worker(|| self.kv.commit(batch)) {
            let mut live = self.live.lock().expect("queues lock");
            if let Some(q) = live.get_mut(queue) {
                for m in before.into_iter().chain(removed) {
                    q.messages.insert(m.seq, m);
                }
            }
            return Err(e.into());
        }
        let mut live = self.live.lock().expect("queues lock");
        for (_, dlq, m) in moved_msgs {
            if let Some(d) = live.get_mut(&dlq) {
                d.messages.insert(m.seq, m);
                d.notify.notify_waiters();
            }
        }
        Ok((out, notify, next_visible))
    }

    pub(crate) fn locate(&self, queue: &str, handle: &str) -> Result<u64> {
        match parse_receipt(handle) {
            Some((q, seq, _)) if q == queue => Ok(seq),
            _ => Err(Error::ReceiptHandleIsInvalid(handle.into())),
        }
    }

    /// Delete a received message (deleting one already gone succeeds, as on SQS).
    pub fn delete_message(&self, queue: &str, handle: &str) -> Result<()> {
        self.delete_messages(queue, &[handle])?
            .pop()
            .unwrap_or(Ok(()))
    }

    /// Delete several received messages in one commit; each handle gets its own
    /// outcome (as `DeleteMessageBatch` reports them).
    pub fn delete_messages(&self, queue: &str, handles: &[&str]) -> Result<Vec<Result<()>>> {
        let mut live = self.live.lock().expect("queues lock");
        let q = live.get_mut(queue).ok_or(Error::QueueDoesNotExist)?;
        let mut batch = WriteBatch::new();
        let mut results = Vec::new();
        let mut gone = Vec::new();
        for h in handles {
            match parse_receipt(h) {
                Some((qn, seq, _)) if qn == queue => {
                    if q.messages.contains_key(&seq) && !gone.contains(&seq) {
                        batch.delete(MESSAGES, message_key(queue, seq));
                        gone.push(seq);
                    }
                    results.push(Ok(()));
                }
                _ => results.push(Err(Error::ReceiptHandleIsInvalid((*h).to_string()))),
            }
        }
        if gone.is_empty() {
            return Ok(results);
        }
        let removed: Vec<Message> = gone.iter().filter_map(|s| q.messages.remove(s)).collect();
        drop(live);
        // Commit without holding the lock; on failure the messages come back.
        if let Err(e) = off_worker(|| self.kv.commit(batch)) {
            let mut live = self.live.lock().expect("queues lock");
            if let Some(q) = live.get_mut(queue) {
                for m in removed {
                    q.messages.insert(m.seq, m);
                }
            }
            return Err(e.into());
        }
        self.count_deleted(queue, gone.len());
        Ok(results)
    }

    /// Change how long a received message stays hidden (0 makes it visible now).
    pub fn change_visibility(&self, queue: &str, handle: &str, secs: u64) -> Result<()> {
        if secs > 43_200 {
            return Err(Error::InvalidParameterValue(
                "Value for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and 43200.".into(),
            ));
        }
        let seq = self.locate(queue, handle)?;
        let now = nimbus_model::time::now_millis();
        let mut live = self.live.lock().expect("queues lock");
        let q = live.get_mut(queue).ok_or(Error::QueueDoesNotExist)?;
        let Some(m) = q.messages.get_mut(&seq) else {
            return Err(Error::InvalidParameterValue(format!(
                "Value {handle} for parameter ReceiptHandle is invalid. Reason: Message does not exist or is not available for visibility timeout change."
            )));
        };
        if m.visible_at_ms <= now {
            return Err(Error::InvalidParameterValue(format!(
                "Value {handle} for parameter ReceiptHandle is invalid. Reason: Message does not exist or is not available for visibility timeout change."
            )));
        }
        let mut updated = m.clone();
        updated.visible_at_ms = now + secs * 1000;
        let mut batch = WriteBatch::new();
        batch.put(MESSAGES, message_key(queue, seq), encode(&updated));
        self.kv.commit(batch)?;
        *m = updated;
        q.notify.notify_waiters();
        Ok(())
    }
}
