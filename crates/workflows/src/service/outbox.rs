//! State machines as targets of other services' events (EventBridge rules,
//! Scheduler): a start is staged in the emitter's batch (a STANDARD
//! execution's record, which runs once the batch commits and is resumed
//! after a restart) and launched when it commits.

use super::*;
use nimbus_invoke::{DeliveryError, Outbox, Staged};

impl Outbox for StepFunctions {
    fn exists(&self, target: &str) -> bool {
        self.resolve(target).is_ok()
    }

    fn stage(
        &self,
        target: &str,
        payload: &[u8],
        trace: Option<&str>,
        batch: &mut WriteBatch,
    ) -> std::result::Result<Staged, DeliveryError> {
        let input = String::from_utf8_lossy(payload);
        match self.stage_start(target, &input, trace, batch) {
            Ok(s) => Ok(Staged::new(s)),
            Err(e) if !self.exists(target) => Err(DeliveryError::NoSuchTarget(e.to_string())),
            Err(e) => Err(DeliveryError::Failed(e.to_string())),
        }
    }

    fn committed(&self, staged: Vec<Staged>) {
        for s in staged {
            if let Ok(start) = s.downcast::<StagedStart>() {
                self.launch_staged(start);
            }
        }
    }
}
