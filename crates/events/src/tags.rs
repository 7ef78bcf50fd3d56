//! Tags of rules and buses (`TagResource`, `UntagResource`,
//! `ListTagsForResource`), addressed by ARN.

use crate::{Error, Events, Result};
use std::collections::BTreeMap;

/// What an ARN names among the taggable resources.
enum Taggable {
    Bus(String),
    Rule(String),
}

impl Events {
    fn taggable(&self, arn: &str) -> Result<Taggable> {
        let missing = || Error::NotFound(format!("Resource {arn} does not exist."));
        let prefix = format!("arn:aws:events:{}:{}:", self.region, self.account);
        let rest = arn.strip_prefix(&prefix).ok_or_else(missing)?;
        if let Some(name) = rest.strip_prefix("event-bus/") {
            return self
                .buses
                .get(name)
                .map(|b| Taggable::Bus(b.name.clone()))
                .ok_or_else(missing);
        }
        if rest.starts_with("rule/") {
            return self
                .rules
                .all()
                .into_iter()
                .find(|r| r.arn == arn)
                .map(|r| Taggable::Rule(r.key.clone()))
                .ok_or_else(missing);
        }
        Err(missing())
    }

    pub fn tags(&self, arn: &str) -> Result<BTreeMap<String, String>> {
        let missing = || Error::NotFound(format!("Resource {arn} does not exist."));
        match self.taggable(arn)? {
            Taggable::Bus(name) => self.buses.get(&name).map(|b| b.tags.clone()),
            Taggable::Rule(key) => self.rules.get(&key).map(|r| r.tags.clone()),
        }
        .ok_or_else(missing)
    }

    pub fn tag(&self, arn: &str, tags: BTreeMap<String, String>) -> Result<()> {
        for (k, v) in &tags {
            if k.is_empty() || k.len() > 128 || v.len() > 256 || k.starts_with("aws:") {
                return Err(Error::Invalid(format!(
                    "Tag key '{k}' or its value is not valid: keys are 1 to 128 characters and may not start with aws:, values up to 256."
                )));
            }
        }
        self.retag(arn, |t| t.extend(tags))
    }

    pub fn untag(&self, arn: &str, keys: &[String]) -> Result<()> {
        self.retag(arn, |t| t.retain(|k, _| !keys.contains(k)))
    }

    fn retag(&self, arn: &str, f: impl FnOnce(&mut BTreeMap<String, String>)) -> Result<()> {
        let changed = match self.taggable(arn)? {
            Taggable::Bus(name) => self
                .buses
                .change(&name, |b| {
                    f(&mut b.tags);
                    if b.tags.len() > 50 {
                        return Err(Error::Limit("A resource may have at most 50 tags.".into()));
                    }
                    Ok(())
                })?
                .is_some(),
            Taggable::Rule(key) => self
                .rules
                .change(&key, |r| {
                    f(&mut r.tags);
                    if r.tags.len() > 50 {
                        return Err(Error::Limit("A resource may have at most 50 tags.".into()));
                    }
                    Ok(())
                })?
                .is_some(),
        };
        if changed {
            Ok(())
        } else {
            Err(Error::NotFound(format!("Resource {arn} does not exist.")))
        }
    }
}
