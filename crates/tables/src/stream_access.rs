//! Reading table streams as DynamoDB Streams and event source mappings do: streams, shards' sequence ranges, records, and trimming past 24 hours.

use super::*;

impl Tables {
    /// Every stream of every table (or of one): (table, stream def).
    pub fn streams(&self, table: Option<&str>) -> Vec<(String, schema::StreamDef)> {
        let st = self.lock();
        let mut out = Vec::new();
        for (name, t) in &st.tables {
            if table.is_some_and(|n| n != name) {
                continue;
            }
            for s in t.rec.old_streams.iter().chain(t.rec.stream.as_ref()) {
                out.push((name.clone(), s.clone()));
            }
        }
        out.sort_by(|a, b| (&a.0, &a.1.label).cmp(&(&b.0, &b.1.label)));
        out
    }

    /// The table record and stream of a stream ARN.
    pub fn stream(&self, arn: &str) -> Result<(TableRecord, schema::StreamDef)> {
        let (table, label) = self.parse_stream_arn(arn).ok_or_else(|| {
            Error::ResourceNotFound(format!(
                "Requested resource not found: Stream: {arn} not found"
            ))
        })?;
        let st = self.lock();
        let t = st.tables.get(&table).ok_or_else(|| {
            Error::ResourceNotFound(format!(
                "Requested resource not found: Stream: {arn} not found"
            ))
        })?;
        let s = t
            .rec
            .old_streams
            .iter()
            .chain(t.rec.stream.as_ref())
            .find(|s| s.label == label)
            .cloned()
            .ok_or_else(|| {
                Error::ResourceNotFound(format!(
                    "Requested resource not found: Stream: {arn} not found"
                ))
            })?;
        Ok((t.rec.clone(), s))
    }

    /// The first and last sequence numbers a stream holds (None when empty).
    pub fn stream_range(&self, table: &str, label: &str) -> Result<Option<(u64, u64)>> {
        let prefix = stream_prefix(table, label);
        let first = self.kv.scan_page(STREAMS, &prefix, None, 1)?;
        let Some((k, _)) = first.first() else {
            return Ok(None);
        };
        let seq_of = |k: &[u8]| {
            k.get(k.len().saturating_sub(8)..)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map_or(0, u64::from_be_bytes)
        };
        let lo = seq_of(k);
        // The last one: the stream's records are few enough in development to
        // walk; a reverse scan would avoid it.
        let mut hi = lo;
        let mut after = Some(k.clone());
        loop {
            let page = self
                .kv
                .scan_page(STREAMS, &prefix, after.as_deref(), 1000)?;
            match page.last() {
                Some((k, _)) => {
                    hi = seq_of(k);
                    after = Some(k.clone());
                }
                None => break,
            }
        }
        Ok(Some((lo, hi)))
    }

    /// The next sequence number any stream will use.
    pub fn next_sequence(&self) -> u64 {
        self.lock().next_seq
    }

    /// Up to `limit` records of a stream from sequence number `from` on, and
    /// the sequence number to continue from.
    pub fn stream_records(
        &self,
        table: &str,
        label: &str,
        from: u64,
        limit: usize,
    ) -> Result<(Vec<Value>, u64)> {
        let prefix = stream_prefix(table, label);
        let after = from.checked_sub(1).map(|p| stream_key(table, label, p));
        let page = self
            .kv
            .scan_page(STREAMS, &prefix, after.as_deref(), limit)?;
        let mut next = from;
        let mut out = Vec::new();
        for (k, v) in page {
            if let Some(b) = k.get(k.len().saturating_sub(8)..)
                && let Ok(b) = <[u8; 8]>::try_from(b)
            {
                next = u64::from_be_bytes(b) + 1;
            }
            out.push(decode::<Value>(&v)?);
        }
        Ok((out, next))
    }

    /// Forget stream records older than the retention period. Returns how many.
    /// A stream's records are in sequence order, which is time order, so each
    /// stream is trimmed from its start up to its first young record.
    pub fn trim_streams(&self, now: u64) -> Result<usize> {
        let all: Vec<(String, String)> = self
            .streams(None)
            .into_iter()
            .map(|(t, s)| (t, s.label))
            .collect();
        let mut n = 0;
        for (table, label) in all {
            let prefix = stream_prefix(&table, &label);
            loop {
                let page = self.kv.scan_page(STREAMS, &prefix, None, 500)?;
                let mut batch = WriteBatch::new();
                let mut young = false;
                for (k, v) in &page {
                    let r: Value = decode(v)?;
                    let created = r["dynamodb"]["ApproximateCreationDateTime"]
                        .as_f64()
                        .unwrap_or(0.0)
                        * 1000.0;
                    if (created as u64) + streams::RETENTION_MS >= now {
                        young = true;
                        break;
                    }
                    batch.delete(STREAMS, k.clone());
                    n += 1;
                }
                if !batch.is_empty() {
                    self.kv.commit(batch)?;
                }
                if young || page.len() < 500 {
                    break;
                }
            }
        }
        Ok(n)
    }
}
