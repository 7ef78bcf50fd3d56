//! S3 Object Lock: a bucket's lock configuration (enabled, with an optional
//! default retention) and each version's retention and legal hold. A version
//! under an unexpired retention or a legal hold cannot be deleted for good;
//! GOVERNANCE retention gives way to a caller that asks to bypass it,
//! COMPLIANCE retention and legal holds to nobody. Delete markers carry no
//! protection, and new versions can always be written on top of a locked one.

use serde::{Deserialize, Serialize};

/// `GOVERNANCE` or `COMPLIANCE`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum Mode {
    #[serde(rename = "GOVERNANCE")]
    Governance,
    #[serde(rename = "COMPLIANCE")]
    Compliance,
}

impl Mode {
    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "GOVERNANCE" => Some(Mode::Governance),
            "COMPLIANCE" => Some(Mode::Compliance),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Governance => "GOVERNANCE",
            Mode::Compliance => "COMPLIANCE",
        }
    }
}

/// A version's retention: its mode and the instant it ends.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct Retention {
    pub mode: Mode,
    pub until_ms: u64,
}

/// What protects one version.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ObjectLock {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<Retention>,
    /// `Some(true)` for `ON`, `Some(false)` once turned `OFF`; `None` when
    /// never set (S3 then answers that there is no legal hold).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_hold: Option<bool>,
}

impl ObjectLock {
    pub fn is_empty(&self) -> bool {
        self.retention.is_none() && self.legal_hold.is_none()
    }

    /// The retention that still holds at `now_ms`.
    pub fn retained(&self, now_ms: u64) -> Option<Retention> {
        self.retention.filter(|r| r.until_ms > now_ms)
    }

    /// Whether this version may be deleted for good now; `bypass` is the
    /// caller's `x-amz-bypass-governance-retention`.
    pub fn may_delete(&self, now_ms: u64, bypass: bool) -> bool {
        if self.legal_hold == Some(true) {
            return false;
        }
        match self.retained(now_ms) {
            None => true,
            Some(r) => r.mode == Mode::Governance && bypass,
        }
    }

    /// Whether `next` may replace this retention now: extending (or keeping)
    /// a retention is always allowed; shortening or removing it, or turning
    /// COMPLIANCE into GOVERNANCE, only for a GOVERNANCE retention with the
    /// bypass.
    pub fn may_retain(&self, next: Option<&Retention>, now_ms: u64, bypass: bool) -> bool {
        let Some(cur) = self.retained(now_ms) else {
            return true;
        };
        let weaker = match next {
            None => true,
            Some(n) => {
                n.until_ms < cur.until_ms
                    || (cur.mode == Mode::Compliance && n.mode == Mode::Governance)
            }
        };
        !weaker || (cur.mode == Mode::Governance && bypass)
    }
}

/// The default retention of a bucket's new versions: days or years.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct DefaultRetention {
    pub mode: Mode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub years: Option<u32>,
}

const DAY_MS: u64 = 86_400_000;

impl DefaultRetention {
    /// The retention a version written at `now_ms` gets.
    pub fn from(&self, now_ms: u64) -> Retention {
        let days = u64::from(self.days.unwrap_or(0)) + u64::from(self.years.unwrap_or(0)) * 365;
        Retention {
            mode: self.mode,
            until_ms: now_ms.saturating_add(days.saturating_mul(DAY_MS)),
        }
    }
}

/// A bucket's Object Lock configuration: enabled for good once set.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct BucketLock {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<DefaultRetention>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(mode: Mode, until_ms: u64) -> ObjectLock {
        ObjectLock {
            retention: Some(Retention { mode, until_ms }),
            legal_hold: None,
        }
    }

    #[test]
    fn governance_gives_way_to_bypass_compliance_and_holds_to_nobody() {
        let g = held(Mode::Governance, 100);
        assert!(!g.may_delete(50, false));
        assert!(g.may_delete(50, true));
        assert!(g.may_delete(100, false), "expired");
        let c = held(Mode::Compliance, 100);
        assert!(!c.may_delete(50, true));
        let hold = ObjectLock {
            retention: None,
            legal_hold: Some(true),
        };
        assert!(!hold.may_delete(0, true));
        let off = ObjectLock {
            retention: None,
            legal_hold: Some(false),
        };
        assert!(off.may_delete(0, false));
    }

    #[test]
    fn retention_extends_freely_and_shortens_only_by_bypassing_governance() {
        let later = |mode| Retention {
            mode,
            until_ms: 200,
        };
        let sooner = |mode| Retention { mode, until_ms: 60 };
        let c = held(Mode::Compliance, 100);
        assert!(c.may_retain(Some(&later(Mode::Compliance)), 50, false));
        assert!(!c.may_retain(Some(&sooner(Mode::Compliance)), 50, true));
        assert!(!c.may_retain(Some(&later(Mode::Governance)), 50, true));
        assert!(!c.may_retain(None, 50, true));
        let g = held(Mode::Governance, 100);
        assert!(g.may_retain(Some(&later(Mode::Compliance)), 50, false));
        assert!(!g.may_retain(Some(&sooner(Mode::Governance)), 50, false));
        assert!(g.may_retain(Some(&sooner(Mode::Governance)), 50, true));
        assert!(g.may_retain(None, 150, false), "expired");
    }

    #[test]
    fn default_retention_counts_days_and_years() {
        let d = DefaultRetention {
            mode: Mode::Governance,
            days: Some(2),
            years: None,
        };
        assert_eq!(d.from(1000).until_ms, 1000 + 2 * DAY_MS);
        let y = DefaultRetention {
            mode: Mode::Compliance,
            days: None,
            years: Some(1),
        };
        assert_eq!(y.from(0).until_ms, 365 * DAY_MS);
    }
}
