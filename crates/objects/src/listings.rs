//! Listings of current objects (prefixes, delimiters, pages) and of versions.

use super::*;

impl Objects {
    /// Every version of the keys in `bucket` under `prefix`, newest first per key,
    /// after (`key_marker`, `version_marker`).
    pub fn list_versions(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: Option<&str>,
        key_marker: Option<&str>,
        version_marker: Option<&str>,
        max: usize,
    ) -> Result<VersionListing> {
        self.bucket(bucket)?;
        let base = format!("{bucket}/");
        let full_prefix = format!("{base}{prefix}");
        let mut out = VersionListing::default();
        let mut after: Option<Vec<u8>> = key_marker.map(|m| {
            let mut k = base.as_bytes().to_vec();
            k.extend_from_slice(m.as_bytes());
            k
        });
        // Versions of the marker key after the version marker come first.
        let mut resume_in: Option<(String, String)> = match (key_marker, version_marker) {
            (Some(k), Some(v)) if !v.is_empty() => Some((k.to_string(), v.to_string())),
            _ => None,
        };
        let mut count = 0usize;
        'pages: loop {
            type Pairs = Vec<(Vec<u8>, Vec<u8>)>;
            let (keys, resuming): (Pairs, bool) = match resume_in.take() {
                Some((k, _)) => {
                    let full = object_key(bucket, &k);
                    match self.kv.get(OBJECTS, &full)? {
                        Some(v) => (vec![(full, v)], true),
                        None => (Vec::new(), true),
                    }
                }
                None => (
                    self.kv
                        .scan_page(OBJECTS, full_prefix.as_bytes(), after.as_deref(), 100)?,
                    false,
                ),
            };
            if keys.is_empty() && !resuming {
                break;
            }
            for (k, v) in keys {
                let key = String::from_utf8_lossy(&k[base.len()..]).to_string();
                after = Some(k.clone());
                let rest = &key[prefix.len().min(key.len())..];
                if let Some(d) = delimiter.filter(|d| !d.is_empty())
                    && let Some(i) = rest.find(d)
                {
                    let cp = format!("{prefix}{}", &rest[..i + d.len()]);
                    if count == max {
                        out.truncated = true;
                        break 'pages;
                    }
                    let mut bound = base.as_bytes().to_vec();
                    bound.extend_from_slice(cp.as_bytes());
                    bound.push(0xFF);
                    after = Some(bound);
                    out.next_key_marker = Some(cp.clone());
                    out.next_version_marker = None;
                    out.common_prefixes.push(cp);
                    count += 1;
                    continue 'pages;
                }
                let current: Object = decode(&v)?;
                let mut versions = vec![(current, true)];
                for (_, nv) in self
                    .kv
                    .scan_prefix(VERSIONS, &versions_prefix(bucket, &key))?
                {
                    versions.push((decode(&nv)?, false));
                }
                let skip_until = if resuming { version_marker } else { None };
                let mut skipping = skip_until.is_some();
                for (o, latest) in versions {
                    if skipping {
                        if Some(wire_version(&o)) == skip_until {
                            skipping = false;
                        }
                        continue;
                    }
                    if count == max {
                        out.truncated = true;
                        break 'pages;
                    }
                    out.next_key_marker = Some(key.clone());
                    out.next_version_marker = Some(wire_version(&o).to_string());
                    out.entries.push(VersionEntry {
                        object: o,
                        is_latest: latest,
                    });
                    count += 1;
                }
            }
        }
        if !out.truncated {
            out.next_key_marker = None;
            out.next_version_marker = None;
        }
        Ok(out)
    }

    /// One page of keys (and common prefixes) in `bucket`, in UTF-8 byte order.
    pub fn list(&self, bucket: &str, q: &ListQuery) -> Result<Listing> {
        self.bucket(bucket)?;
        let base = format!("{bucket}/");
        let full_prefix = format!("{base}{}", q.prefix);
        let mut after: Option<Vec<u8>> = q.after.as_ref().map(|a| {
            let mut k = base.as_bytes().to_vec();
            k.extend_from_slice(a);
            k
        });
        let mut out = Listing::default();
        if q.max_keys == 0 {
            return Ok(out);
        }
        let mut returned = 0usize;
        'pages: loop {
            let page = self.kv.scan_page(
                OBJECTS,
                full_prefix.as_bytes(),
                after.as_deref(),
                q.max_keys.max(100) + 1,
            )?;
            if page.is_empty() {
                break;
            }
            for (k, v) in page {
                let key = String::from_utf8_lossy(&k[base.len()..]).to_string();
                if returned == q.max_keys {
                    out.truncated = true;
                    break 'pages;
                }
                let rest = &key[q.prefix.len()..];
                if let Some(d) = q.delimiter.as_deref().filter(|d| !d.is_empty())
                    && let Some(i) = rest.find(d)
                {
                    let cp = format!("{}{}", q.prefix, &rest[..i + d.len()]);
                    // Skip every key under this prefix: 0xFF sorts after all UTF-8.
                    let mut bound = cp.clone().into_bytes();
                    bound.push(0xFF);
                    let mut full = base.as_bytes().to_vec();
                    full.extend_from_slice(&bound);
                    // A prefix at or before the marker was listed on an earlier page.
                    if q.after.as_deref().is_some_and(|a| cp.as_bytes() <= a) {
                        after = Some(full);
                        continue 'pages;
                    }
                    out.last = Some(cp.clone());
                    out.next_after = Some(bound.clone());
                    out.common_prefixes.push(cp);
                    returned += 1;
                    after = Some(full);
                    continue 'pages;
                }
                let obj: Object = decode(&v)?;
                if obj.delete_marker {
                    after = Some(k);
                    continue;
                }
                out.last = Some(key.clone());
                out.next_after = Some(key.into_bytes());
                out.objects.push(obj);
                returned += 1;
                after = Some(k);
            }
        }
        if !out.truncated {
            out.next_after = None;
        }
        Ok(out)
    }
}
