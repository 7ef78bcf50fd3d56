//! Sampling rules (`GetSamplingRules`, `CreateSamplingRule`, ...) and the
//! decisions made with them: the first matching rule by priority samples up
//! to `ReservoirSize` requests a second, then `FixedRate` of the rest, as the
//! X-Ray SDKs' centralized sampling does. The `Default` rule (1 a second and
//! 5%) always exists and can be changed but not deleted.

use crate::header::random_unit;
use crate::{Error, Result};
use nimbus_model::time::now_millis;
use nimbus_storage::records::{Record, Records};
use nimbus_storage::{KvEngine, Table};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

const FORMAT: u32 = 1;
pub const DEFAULT_RULE: &str = "Default";

/// A sampling rule as X-Ray's API has it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SamplingRule {
    pub format: u32,
    pub name: String,
    pub priority: u32,
    pub fixed_rate: f64,
    pub reservoir_size: u32,
    pub service_name: String,
    pub service_type: String,
    pub host: String,
    pub http_method: String,
    pub url_path: String,
    pub resource_arn: String,
    pub version: u32,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    pub created_ms: u64,
    pub modified_ms: u64,
}

impl Record for SamplingRule {
    fn key(&self) -> &str {
        &self.name
    }
    fn format(&self) -> u32 {
        self.format
    }
}

impl SamplingRule {
    fn default_rule() -> SamplingRule {
        SamplingRule {
            format: FORMAT,
            name: DEFAULT_RULE.into(),
            priority: 10_000,
            fixed_rate: 0.05,
            reservoir_size: 1,
            service_name: "*".into(),
            service_type: "*".into(),
            host: "*".into(),
            http_method: "*".into(),
            url_path: "*".into(),
            resource_arn: "*".into(),
            version: 1,
            attributes: BTreeMap::new(),
            created_ms: 0,
            modified_ms: 0,
        }
    }

    fn matches(&self, r: &Request<'_>) -> bool {
        glob(&self.service_name, r.service_name)
            && glob(&self.service_type, r.service_type)
            && glob(&self.host, r.host)
            && glob(&self.http_method, r.http_method)
            && glob(&self.url_path, r.url_path)
            && glob(&self.resource_arn, r.resource_arn)
    }

    /// Check the values X-Ray checks.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Invalid(m));
        if self.name.is_empty() || self.name.len() > 32 {
            return bad("RuleName must be 1 to 32 characters".into());
        }
        if !(1..=9999).contains(&self.priority) && self.name != DEFAULT_RULE {
            return bad(format!(
                "Priority {} is not between 1 and 9999",
                self.priority
            ));
        }
        if !(0.0..=1.0).contains(&self.fixed_rate) {
            return bad(format!(
                "FixedRate {} is not between 0 and 1",
                self.fixed_rate
            ));
        }
        if self.version != 1 {
            return bad("Version must be 1".into());
        }
        Ok(())
    }
}

/// What a request is, for matching rules against it.
#[derive(Debug, Default, Clone, Copy)]
pub struct Request<'a> {
    pub service_name: &'a str,
    pub service_type: &'a str,
    pub host: &'a str,
    pub http_method: &'a str,
    pub url_path: &'a str,
    pub resource_arn: &'a str,
}

/// X-Ray's rule wildcards: `*` any run of characters, `?` any one; case
/// does not matter, as in the X-Ray SDKs' matching.
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (
        pattern.to_lowercase().chars().collect(),
        text.to_lowercase().chars().collect(),
    );
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// The reservoir of a rule in the current second, and its counts.
#[derive(Default, Clone, Copy)]
struct Window {
    second: u64,
    taken: u32,
}

/// Counts since the last `GetSamplingStatisticSummaries`.
#[derive(Default, Clone, Copy, Debug)]
pub struct Counts {
    pub requests: u64,
    pub sampled: u64,
    pub borrowed: u64,
}

pub struct Sampler {
    rules: Records<SamplingRule>,
    /// The rules by priority, as [`Sampler::rules`] gives them, until one changes.
    sorted: Mutex<Option<Arc<[Arc<SamplingRule>]>>>,
    windows: Mutex<HashMap<String, Window>>,
    counts: Mutex<HashMap<String, Counts>>,
}

impl Sampler {
    pub fn open(kv: Arc<dyn KvEngine>) -> Result<Sampler> {
        let rules = Records::open(kv, Table("xray_sampling_rules"), FORMAT)?;
        Ok(Sampler {
            rules,
            sorted: Mutex::new(None),
            windows: Mutex::default(),
            counts: Mutex::default(),
        })
    }

    /// The rules by priority, the default rule last.
    pub fn rules(&self) -> Vec<Arc<SamplingRule>> {
        self.sorted().to_vec()
    }

    fn sorted(&self) -> Arc<[Arc<SamplingRule>]> {
        let mut cached = self.sorted.lock().expect("sampling lock");
        if let Some(r) = cached.as_ref() {
            return r.clone();
        }
        let mut all = self.rules.all();
        if !all.iter().any(|r| r.name == DEFAULT_RULE) {
            all.push(Arc::new(SamplingRule::default_rule()));
        }
        all.sort_by(|a, b| {
            a.priority
                .cmp(&b.priority)
                .then_with(|| a.name.cmp(&b.name))
        });
        let r: Arc<[Arc<SamplingRule>]> = all.into();
        *cached = Some(r.clone());
        r
    }

    fn changed(&self) {
        *self.sorted.lock().expect("sampling lock") = None;
    }

    pub fn rule(&self, name: &str) -> Option<Arc<SamplingRule>> {
        self.rules().into_iter().find(|r| r.name == name)
    }

    pub fn create(&self, mut rule: SamplingRule) -> Result<Arc<SamplingRule>> {
        rule.validate()?;
        if self.rule(&rule.name).is_some() {
            return Err(Error::AlreadyExists(format!(
                "A sampling rule named {} already exists",
                rule.name
            )));
        }
        let now = now_millis();
        rule.created_ms = now;
        rule.modified_ms = now;
        let made = self.rules.put(rule)?;
        self.changed();
        Ok(made)
    }

    /// Change a rule (the default one included) with `f`.
    pub fn update(
        &self,
        name: &str,
        f: impl FnOnce(&mut SamplingRule),
    ) -> Result<Arc<SamplingRule>> {
        let Some(old) = self.rule(name) else {
            return Err(Error::NotFound(format!(
                "Sampling rule {name} does not exist"
            )));
        };
        let mut rule = (*old).clone();
        f(&mut rule);
        rule.name = old.name.clone();
        let matches_the_same = |a: &SamplingRule, b: &SamplingRule| {
            (
                &a.service_name,
                &a.service_type,
                &a.host,
                &a.http_method,
                &a.url_path,
                &a.resource_arn,
            ) == (
                &b.service_name,
                &b.service_type,
                &b.host,
                &b.http_method,
                &b.url_path,
                &b.resource_arn,
            ) && a.priority == b.priority
        };
        if rule.name == DEFAULT_RULE && !matches_the_same(&rule, &old) {
            return Err(Error::Invalid(
                "Only the FixedRate and ReservoirSize of the Default rule can be changed".into(),
            ));
        }
        rule.modified_ms = now_millis();
        rule.validate()?;
        let made = self.rules.put(rule)?;
        self.changed();
        Ok(made)
    }

    pub fn delete(&self, name: &str) -> Result<Arc<SamplingRule>> {
        if name == DEFAULT_RULE {
            return Err(Error::Invalid(
                "The default sampling rule cannot be deleted".into(),
            ));
        }
        let gone = self
            .rules
            .delete(name)?
            .ok_or_else(|| Error::NotFound(format!("Sampling rule {name} does not exist")))?;
        self.changed();
        Ok(gone)
    }

    /// Decide whether to sample `r`; returns the rule used and the decision.
    pub fn decide(&self, r: &Request<'_>) -> (String, bool) {
        let rules = self.sorted();
        let Some(rule) = rules.iter().find(|x| x.matches(r)).cloned() else {
            return (DEFAULT_RULE.into(), false);
        };
        let second = now_millis() / 1000;
        let from_reservoir = {
            let mut w = self.windows.lock().expect("sampling lock");
            let win = match w.get_mut(&rule.name) {
                Some(win) => win,
                None => w.entry(rule.name.clone()).or_default(),
            };
            if win.second != second {
                *win = Window { second, taken: 0 };
            }
            if win.taken < rule.reservoir_size {
                win.taken += 1;
                true
            } else {
                false
            }
        };
        let sampled = from_reservoir || random_unit() < rule.fixed_rate;
        let mut c = self.counts.lock().expect("sampling lock");
        let e = match c.get_mut(&rule.name) {
            Some(e) => e,
            None => c.entry(rule.name.clone()).or_default(),
        };
        e.requests += 1;
        e.sampled += u64::from(sampled);
        (rule.name.clone(), sampled)
    }

    /// Counts per rule since the last call, which resets them.
    pub fn take_counts(&self) -> Vec<(String, Counts)> {
        let mut c = self.counts.lock().expect("sampling lock");
        let mut out: Vec<(String, Counts)> = c.drain().collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Record statistics a client reported with `GetSamplingTargets`.
    pub fn report(&self, rule: &str, requests: u64, sampled: u64, borrowed: u64) {
        let mut c = self.counts.lock().expect("sampling lock");
        let e = c.entry(rule.to_string()).or_default();
        e.requests += requests;
        e.sampled += sampled;
        e.borrowed += borrowed;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_as_xray_rules_do() {
        assert!(glob("*", ""));
        assert!(glob("*", "anything"));
        assert!(glob("/api/*", "/api/orders/1"));
        assert!(glob("GE?", "GET"));
        assert!(!glob("GE?", "GETS"));
        assert!(glob("*orders*", "/v1/orders/9"));
        assert!(glob("GET", "get") && glob("/API/*", "/api/x"));
        assert!(!glob("/api/*", "/web/x"));
    }

    #[test]
    fn the_reservoir_takes_one_a_second_then_the_fixed_rate() {
        let dir = tempfile::tempdir().unwrap();
        let kv =
            Arc::new(nimbus_storage_embedded::EmbeddedKv::open(&dir.path().join("kv")).unwrap());
        let s = Sampler::open(kv).unwrap();
        s.update(DEFAULT_RULE, |r| r.fixed_rate = 0.0).unwrap();
        let r = Request::default();
        let decisions: Vec<bool> = (0..5).map(|_| s.decide(&r).1).collect();
        // All five fit in one or two seconds: one or two from the reservoir.
        let n = decisions.iter().filter(|d| **d).count();
        assert!((1..=2).contains(&n), "{decisions:?}");
        assert!(decisions[0]);
        s.update(DEFAULT_RULE, |r| {
            r.fixed_rate = 1.0;
            r.reservoir_size = 0;
        })
        .unwrap();
        assert!((0..5).all(|_| s.decide(&r).1));
        assert!(s.delete(DEFAULT_RULE).is_err());
    }
}
