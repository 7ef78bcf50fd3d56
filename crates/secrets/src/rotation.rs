//! `RotateSecret`: the secret gets a valueless version labelled `AWSPENDING`
//! under the request's token, and the rotation function is invoked (through
//! the `Invoker`, in the background, as AWS does) for each of the four steps
//! (`createSecret`, `setSecret`, `testSecret`, `finishSecret`) with
//! `{"Step", "SecretId", "ClientRequestToken"}`. The function does the work
//! through the Secrets Manager API; a failed step ends the attempt and leaves
//! the pending version for the next. Once `finishSecret` has made the new
//! version `AWSCURRENT`, its `AWSPENDING` label goes.

use crate::{CURRENT, Error, PENDING, Result, Rotation, Secrets, Version, Written, check_token};
use nimbus_invoke::InvokeRequest;
use nimbus_model::time::now_millis;
use std::sync::Arc;

pub const STEPS: [&str; 4] = ["createSecret", "setSecret", "testSecret", "finishSecret"];

impl Secrets {
    /// Configure rotation (`rotation`, merged over what the secret had) and,
    /// when `immediately`, start one: answers the new version's id at once.
    pub fn rotate(
        self: &Arc<Self>,
        id: &str,
        token: Option<String>,
        rotation: Rotation,
        immediately: bool,
    ) -> Result<Written> {
        let s = self.find_live(id)?;
        let mut config = s.rotation.clone().unwrap_or_default();
        if rotation.lambda_arn.is_some() {
            config.lambda_arn = rotation.lambda_arn;
        }
        if rotation.automatically_after_days.is_some() || rotation.schedule_expression.is_some() {
            if rotation.automatically_after_days.is_some() && rotation.schedule_expression.is_some()
            {
                return Err(Error::InvalidParameter(
                    "You can't specify both AutomaticallyAfterDays and ScheduleExpression.".into(),
                ));
            }
            if let Some(d) = rotation.automatically_after_days
                && !(1..=1000).contains(&d)
            {
                return Err(Error::InvalidParameter(
                    "AutomaticallyAfterDays must be between 1 and 1000.".into(),
                ));
            }
            config.automatically_after_days = rotation.automatically_after_days;
            config.schedule_expression = rotation.schedule_expression;
        }
        if rotation.duration.is_some() {
            config.duration = rotation.duration;
        }
        let Some(lambda) = config.lambda_arn.clone() else {
            return Err(Error::InvalidRequest(
                "No Lambda rotation function ARN is associated with this secret.".into(),
            ));
        };
        let invoker = self.invoker.get().cloned().ok_or_else(|| {
            Error::InvalidRequest("Rotation functions cannot be run on this server.".into())
        })?;
        let target = invoker.target(&lambda).map_err(|_| {
            Error::InvalidRequest(
                "Secrets Manager cannot invoke the specified Lambda function. Ensure that the function policy grants access to the principal secretsmanager.amazonaws.com."
                    .into(),
            )
        })?;
        let token = match (immediately, token) {
            (false, _) => None,
            (true, Some(t)) => {
                check_token(&t)?;
                Some(t)
            }
            (true, None) => Some(uuid::Uuid::new_v4().to_string()),
        };
        if token.is_some() && s.version_with_stage(CURRENT).is_none() {
            return Err(Error::InvalidRequest(
                "A secret must have an AWSCURRENT version before it can rotate.".into(),
            ));
        }
        let runtime = match token {
            Some(_) => Some(
                tokio::runtime::Handle::try_current()
                    .map_err(|_| Error::Internal("rotation needs the server's runtime".into()))?,
            ),
            None => None,
        };
        let (rec, ()) = self
            .records
            .change(&s.name, |r| {
                r.rotation = Some(config);
                r.rotation_enabled = true;
                if let Some(t) = &token
                    && r.version(t).is_none()
                {
                    r.versions.push(Version {
                        id: t.clone(),
                        stages: Vec::new(),
                        created: now_millis(),
                        value: None,
                        kms_key_ids: Vec::new(),
                    });
                    r.move_stage(PENDING, t);
                }
                r.last_changed = now_millis();
                Ok::<_, Error>(())
            })?
            .ok_or_else(crate::not_found)?;
        if let (Some(t), Some(rt)) = (&token, runtime) {
            let me = self.clone();
            let (arn, t) = (rec.arn.clone(), t.clone());
            rt.spawn(async move { me.run_rotation(invoker, target, arn, t).await });
        }
        Ok(Written {
            arn: rec.arn.clone(),
            name: rec.name.clone(),
            version_id: token,
            stages: Vec::new(),
        })
    }

    async fn run_rotation(
        self: Arc<Self>,
        invoker: Arc<dyn nimbus_invoke::Invoker>,
        target: nimbus_invoke::Target,
        arn: String,
        token: String,
    ) {
        for step in STEPS {
            let payload = serde_json::json!({
                "Step": step,
                "SecretId": arn,
                "ClientRequestToken": token,
                "RotationToken": token,
            });
            let req = InvokeRequest::sync(
                target.name.clone(),
                target.qualifier.clone(),
                bytes::Bytes::from(payload.to_string()),
            );
            let failure = match invoker.invoke(req).await {
                Ok(r) if r.function_error.is_none() => None,
                Ok(r) => Some(String::from_utf8_lossy(&r.payload).into_owned()),
                Err(e) => Some(e.to_string()),
            };
            if let Some(why) = failure {
                tracing::warn!(secret = %arn, step, function = %target.name, error = %why, "secret rotation step failed");
                return;
            }
        }
        if let Ok(s) = self.find(&arn) {
            let r = self.records.change(&s.name, |r| {
                // A finished rotation's version is current; it is pending no more.
                if let Some(v) = r.versions.iter_mut().find(|v| v.id == token)
                    && v.stages.iter().any(|x| x == CURRENT)
                {
                    v.stages.retain(|x| x != PENDING);
                }
                r.last_rotated = Some(now_millis());
                Ok::<_, Error>(())
            });
            if let Err(e) = r {
                tracing::warn!(error = %e, "record a secret's rotation");
            }
        }
    }
}
