//! Lifecycle rules, applied: a bucket's rules (as `nimbus-api-s3` read them
//! from its `LifecycleConfiguration`) and the pass that carries them out.
//! A pass expires current versions (deleted, or hidden behind a delete
//! marker in a versioned bucket), removes expired delete markers, deletes
//! noncurrent versions, and aborts old multipart uploads. Ages count in
//! "days" of a configurable length, so tests can run a day in seconds;
//! S3 counts whole days from midnight UTC, Nimbus from the object's time.
//! Versions under Object Lock are left alone, as on S3.

use super::*;
use serde::{Deserialize, Serialize};

/// Which objects a rule applies to: all of these must hold.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Filter {
    #[serde(default)]
    pub prefix: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_greater_than: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_less_than: Option<u64>,
}

impl Filter {
    pub fn matches(&self, o: &Object) -> bool {
        o.key.starts_with(&self.prefix)
            && self.tags.iter().all(|t| o.attributes.tags.contains(t))
            && self.size_greater_than.is_none_or(|n| o.size > n)
            && self.size_less_than.is_none_or(|n| o.size < n)
    }
}

/// `Expiration`: of current versions after `days` or on `date_ms`; or of
/// delete markers with no versions left behind them.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Expiration {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_ms: Option<u64>,
    #[serde(default)]
    pub expired_delete_marker: bool,
}

/// `NoncurrentVersionExpiration`: versions noncurrent for `days`, beyond
/// the `newer` newest noncurrent ones.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NoncurrentExpiration {
    pub days: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newer: Option<u32>,
}

/// One rule of a bucket's lifecycle configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Rule {
    pub id: String,
    pub enabled: bool,
    #[serde(default)]
    pub filter: Filter,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration: Option<Expiration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noncurrent: Option<NoncurrentExpiration>,
    /// `AbortIncompleteMultipartUpload`'s `DaysAfterInitiation`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort_upload_days: Option<u32>,
}

/// When a pass runs, and how long its "day" is.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    pub now_ms: u64,
    pub day_ms: u64,
}

impl Clock {
    /// Whether `days` have passed since `since_ms`.
    fn passed(&self, since_ms: u64, days: u32) -> bool {
        since_ms.saturating_add(u64::from(days).saturating_mul(self.day_ms)) <= self.now_ms
    }
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    pub expired: u64,
    pub noncurrent_deleted: u64,
    pub markers_removed: u64,
    pub uploads_aborted: u64,
}

fn lifecycle_origin() -> events::Origin {
    events::Origin {
        request_id: uuid::Uuid::new_v4().simple().to_string(),
        source_ip: String::new(),
        principal: "s3.amazonaws.com".into(),
        trace: None,
    }
}

impl Objects {
    /// Carry out every bucket's enabled lifecycle rules once.
    pub fn apply_lifecycle(&self, clock: Clock) -> Result<Applied> {
        let mut done = Applied::default();
        for b in self.list_buckets()? {
            let rules: Vec<&Rule> = b.lifecycle.iter().filter(|r| r.enabled).collect();
            if rules.is_empty() {
                continue;
            }
            // One bucket's failure (a record that cannot be read, the bucket
            // deleted meanwhile) does not keep the others' rules from acting.
            if let Err(e) = self.apply_rules(&b, &rules, clock, &mut done) {
                tracing::warn!(bucket = %b.name, error = %e, "lifecycle rules not applied");
            }
        }
        Ok(done)
    }

    fn apply_rules(
        &self,
        b: &Bucket,
        rules: &[&Rule],
        clock: Clock,
        done: &mut Applied,
    ) -> Result<()> {
        if rules.iter().any(|r| r.expiration.is_some()) {
            self.expire_current(b, rules, clock, done)?;
        }
        if b.versioning.is_some() && rules.iter().any(|r| r.noncurrent.is_some()) {
            self.expire_noncurrent(b, rules, clock, done)?;
        }
        if rules.iter().any(|r| r.abort_upload_days.is_some()) {
            self.abort_old_uploads(b, rules, clock, done)?;
        }
        Ok(())
    }

    fn expire_current(
        &self,
        b: &Bucket,
        rules: &[&Rule],
        clock: Clock,
        done: &mut Applied,
    ) -> Result<()> {
        let prefix = format!("{}/", b.name);
        for (_, v) in self.kv.scan_prefix(OBJECTS, prefix.as_bytes())? {
            let o: Object = decode(&v)?;
            if o.delete_marker {
                // A lone delete marker: removed by `ExpiredObjectDeleteMarker`,
                // or once a rule's `Days` or `Date` has passed for it.
                let expire_marker = rules.iter().any(|r| {
                    o.key.starts_with(&r.filter.prefix)
                        && r.filter.tags.is_empty()
                        && r.expiration.as_ref().is_some_and(|e| {
                            e.expired_delete_marker
                                || e.days.is_some_and(|d| clock.passed(o.last_modified_ms, d))
                                || e.date_ms.is_some_and(|d| d <= clock.now_ms)
                        })
                });
                // Removed only with no versions behind it (checked under
                // the key's lock).
                if expire_marker && self.expire_version(b, &o, true)? {
                    done.markers_removed += 1;
                }
                continue;
            }
            let due = rules.iter().any(|r| {
                r.filter.matches(&o)
                    && r.expiration.as_ref().is_some_and(|e| {
                        e.days.is_some_and(|d| clock.passed(o.last_modified_ms, d))
                            || e.date_ms.is_some_and(|d| d <= clock.now_ms)
                    })
            });
            if due
                && self
                    .remove_current(&b.name, &o.key, &lifecycle_origin(), Some(&o))?
                    .is_some()
            {
                done.expired += 1;
            }
        }
        Ok(())
    }

    fn expire_noncurrent(
        &self,
        b: &Bucket,
        rules: &[&Rule],
        clock: Clock,
        done: &mut Applied,
    ) -> Result<()> {
        let prefix = format!("{}/", b.name);
        // Versions are kept by key, newest first: walk each key's run.
        let mut run: Vec<Object> = Vec::new();
        let mut entries = self
            .kv
            .scan_prefix(VERSIONS, prefix.as_bytes())?
            .into_iter()
            .map(|(_, v)| decode::<Object>(&v))
            .peekable();
        while let Some(o) = entries.next() {
            let o = o?;
            let last_of_key = match entries.peek() {
                Some(Ok(next)) => next.key != o.key,
                _ => true,
            };
            run.push(o);
            if last_of_key {
                self.expire_versions_of(b, rules, clock, std::mem::take(&mut run), done)?;
            }
        }
        Ok(())
    }

    /// One key's noncurrent versions (newest first): a version became
    /// noncurrent when the next newer one was written.
    fn expire_versions_of(
        &self,
        b: &Bucket,
        rules: &[&Rule],
        clock: Clock,
        versions: Vec<Object>,
        done: &mut Applied,
    ) -> Result<()> {
        let Some(first) = versions.first() else {
            return Ok(());
        };
        let current_ms = self
            .current(&b.name, &first.key)?
            .map_or(first.last_modified_ms, |c| c.last_modified_ms);
        let mut successor_ms = current_ms;
        for (rank, v) in versions.iter().enumerate() {
            let became_noncurrent = successor_ms;
            successor_ms = v.last_modified_ms;
            let due = rules.iter().any(|r| {
                (v.delete_marker || r.filter.matches(v))
                    && v.key.starts_with(&r.filter.prefix)
                    && r.noncurrent.as_ref().is_some_and(|n| {
                        clock.passed(became_noncurrent, n.days)
                            && n.newer.is_none_or(|keep| rank >= keep as usize)
                    })
            });
            if !due {
                continue;
            }
            if self.expire_version(b, v, false)? {
                done.noncurrent_deleted += 1;
            }
        }
        Ok(())
    }

    /// Remove version `v` (current, or not) for good, if it is still as the
    /// pass saw it and no Object Lock holds it; whether it went.
    fn expire_version(&self, b: &Bucket, v: &Object, current: bool) -> Result<bool> {
        let seen = Seen {
            last_modified_ms: v.last_modified_ms,
            delete_marker: v.delete_marker,
            current,
        };
        match self.delete_version_as(
            &b.name,
            &v.key,
            wire_version(v),
            &lifecycle_origin(),
            Removal::Lifecycle(seen),
        ) {
            Ok(removed) => Ok(removed.is_some()),
            Err(Error::ObjectLocked) => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn abort_old_uploads(
        &self,
        b: &Bucket,
        rules: &[&Rule],
        clock: Clock,
        done: &mut Applied,
    ) -> Result<()> {
        for u in self.list_uploads(&b.name, "")? {
            let due = rules.iter().any(|r| {
                u.key.starts_with(&r.filter.prefix)
                    && r.abort_upload_days
                        .is_some_and(|d| clock.passed(u.initiated_ms, d))
            });
            if !due {
                continue;
            }
            match self.abort_upload(&b.name, &u.key, &u.upload_id) {
                Ok(()) => done.uploads_aborted += 1,
                // Completed or aborted since it was listed.
                Err(Error::NoSuchUpload(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}
