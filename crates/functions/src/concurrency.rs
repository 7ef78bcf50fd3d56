//! Concurrency accounting: how many invocations run at once, per function and
//! across the account, and the admission check that throttles as Lambda does.

use nimbus_model::FunctionRecord;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Why an invocation was throttled (Lambda's `Reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttle {
    /// The function's reserved concurrency is used up (or is 0).
    Reserved,
    /// The account's unreserved concurrency is used up.
    Account,
}

impl Throttle {
    pub fn reason(self) -> &'static str {
        match self {
            Throttle::Reserved => "ReservedFunctionConcurrentInvocationLimitExceeded",
            Throttle::Account => "ConcurrentInvocationLimitExceeded",
        }
    }
}

#[derive(Default)]
struct Counts {
    per_function: HashMap<String, u32>,
    unreserved: u32,
}

/// In-flight invocations.
#[derive(Default, Clone)]
pub struct Concurrency {
    counts: Arc<Mutex<Counts>>,
}

/// One admitted invocation; dropping it frees its slot.
pub struct Admission {
    counts: Arc<Mutex<Counts>>,
    function: String,
    unreserved: bool,
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut c = self.counts.lock().expect("concurrency lock");
        if let Some(n) = c.per_function.get_mut(&self.function) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                c.per_function.remove(&self.function);
            }
        }
        if self.unreserved {
            c.unreserved = c.unreserved.saturating_sub(1);
        }
    }
}

impl Concurrency {
    /// In-flight invocations now: of `function`, and of the whole account.
    pub fn in_flight(&self, function: &str) -> (u32, u32) {
        let c = self.counts.lock().expect("concurrency lock");
        (
            c.per_function.get(function).copied().unwrap_or(0),
            c.per_function.values().sum(),
        )
    }

    /// Admit one invocation of `rec`, given the account limit and the total of all
    /// functions' reservations.
    pub fn admit(
        &self,
        rec: &FunctionRecord,
        account_limit: u32,
        reserved_total: u32,
    ) -> Result<Admission, Throttle> {
        let mut c = self.counts.lock().expect("concurrency lock");
        let running = c.per_function.get(&rec.name).copied().unwrap_or(0);
        let unreserved = match rec.reserved_concurrency {
            Some(r) if running >= r => return Err(Throttle::Reserved),
            Some(_) => false,
            None => {
                if c.unreserved >= account_limit.saturating_sub(reserved_total) {
                    return Err(Throttle::Account);
                }
                true
            }
        };
        *c.per_function.entry(rec.name.clone()).or_insert(0) += 1;
        if unreserved {
            c.unreserved += 1;
        }
        Ok(Admission {
            counts: self.counts.clone(),
            function: rec.name.clone(),
            unreserved,
        })
    }

    pub fn running(&self, function: &str) -> u32 {
        self.counts
            .lock()
            .expect("concurrency lock")
            .per_function
            .get(function)
            .copied()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nimbus_model::function::{CodeRef, FUNCTION_RECORD_FORMAT};

    fn rec(name: &str, reserved: Option<u32>) -> FunctionRecord {
        FunctionRecord {
            format: FUNCTION_RECORD_FORMAT,
            name: name.into(),
            runtime: "python3.12".into(),
            role: String::new(),
            handler: String::new(),
            description: String::new(),
            timeout_secs: 3,
            memory_mb: 128,
            ephemeral_storage_mb: 512,
            environment: Default::default(),
            architecture: "x86_64".into(),
            code: CodeRef {
                digest: String::new(),
                sha256_b64: String::new(),
                size: 0,
            },
            last_modified_ms: 0,
            revision_id: String::new(),
            tags: Default::default(),
            reserved_concurrency: reserved,
            dead_letter_target: None,
            version: "$LATEST".into(),
            last_version: 0,
            vpc: None,
            layers: Vec::new(),
            logging: None,
            tracing: None,
            recursive_loop: None,
            runtime_management: None,
            code_signing_config: None,
            snap_start: None,
        }
    }

    #[test]
    fn reserved_caps_the_function_and_zero_throttles_all() {
        let c = Concurrency::default();
        let f = rec("f", Some(2));
        let a = c.admit(&f, 1000, 2).unwrap();
        let _b = c.admit(&f, 1000, 2).unwrap();
        assert_eq!(c.admit(&f, 1000, 2).err(), Some(Throttle::Reserved));
        drop(a);
        assert!(c.admit(&f, 1000, 2).is_ok());
        assert_eq!(
            c.admit(&rec("z", Some(0)), 1000, 0).err(),
            Some(Throttle::Reserved)
        );
    }

    #[test]
    fn unreserved_pool_is_what_reservations_leave() {
        let c = Concurrency::default();
        let g = rec("g", None);
        let held: Vec<_> = (0..3).map(|_| c.admit(&g, 10, 7).unwrap()).collect();
        assert_eq!(c.admit(&g, 10, 7).err(), Some(Throttle::Account));
        // A function with its own reservation is not affected by the account pool.
        assert!(c.admit(&rec("r", Some(1)), 10, 7).is_ok());
        drop(held);
        assert_eq!(c.running("g"), 0);
    }
}
