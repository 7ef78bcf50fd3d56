//! Who a trigger acts as. On AWS, what runs a function or reads a queue on a
//! user's behalf does so under an identity IAM can check: an event source
//! mapping polls its queue with the function's execution role, a state
//! machine's tasks call services with the machine's role, and S3 or API
//! Gateway invoke a function as a service principal that only the function's
//! resource policy can let in (with `aws:SourceArn` naming the bucket or the
//! API). Triggers ask [`Permissions`] before they act; the platform's IAM
//! answers it, and without IAM (`--iam off`) there is none and everything
//! is allowed.

/// The identity a trigger acts under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acting<'a> {
    /// A session of a role, named `session` (Lambda names a mapping's
    /// session after the function, Step Functions after the execution).
    Role { role_arn: &'a str, session: &'a str },
    /// An AWS service principal (`s3.amazonaws.com`) acting for the
    /// resource `source_arn` of the account `source_account`.
    Service {
        service: &'a str,
        source_arn: &'a str,
        source_account: &'a str,
    },
}

/// Refused: AWS's message ("User: arn:aws:sts::...:assumed-role/r/f is not
/// authorized to perform: sqs:ReceiveMessage on resource: ...").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotPermitted(pub String);

/// Decides what triggers may do under an identity.
pub trait Permissions: Send + Sync {
    /// Ok when `acting` may perform `action` (`sqs:ReceiveMessage`) on
    /// `resource` (an ARN).
    fn check(&self, acting: Acting<'_>, action: &str, resource: &str) -> Result<(), NotPermitted>;
}

/// Check against `permissions` when there are any (IAM on); allowed otherwise.
pub fn check(
    permissions: Option<&dyn Permissions>,
    acting: Acting<'_>,
    action: &str,
    resource: &str,
) -> Result<(), NotPermitted> {
    permissions.map_or(Ok(()), |p| p.check(acting, action, resource))
}

/// Permissions decided by an authority made after the services that ask
/// (the platform's IAM needs their resource policies to decide): nothing is
/// permitted until it is [set](Deferred::set).
#[derive(Default)]
pub struct Deferred(std::sync::OnceLock<std::sync::Arc<dyn Permissions>>);

impl Deferred {
    /// The authority from now on (the first one set stays).
    pub fn set(&self, authority: std::sync::Arc<dyn Permissions>) {
        let _ = self.0.set(authority);
    }
}

impl Permissions for Deferred {
    fn check(&self, acting: Acting<'_>, action: &str, resource: &str) -> Result<(), NotPermitted> {
        match self.0.get() {
            Some(p) => p.check(acting, action, resource),
            None => Err(NotPermitted(format!(
                "{action} on {resource} cannot be authorized yet: IAM is still starting"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct OnlyS3;

    impl Permissions for OnlyS3 {
        fn check(&self, acting: Acting<'_>, action: &str, _: &str) -> Result<(), NotPermitted> {
            match acting {
                Acting::Service {
                    service: "s3.amazonaws.com",
                    ..
                } => Ok(()),
                _ => Err(NotPermitted(format!("not authorized to perform: {action}"))),
            }
        }
    }

    #[test]
    fn without_permissions_everything_is_allowed() {
        let role = Acting::Role {
            role_arn: "arn:aws:iam::000000000000:role/r",
            session: "f",
        };
        assert!(check(None, role, "sqs:ReceiveMessage", "*").is_ok());
        let denied = check(Some(&OnlyS3), role, "sqs:ReceiveMessage", "*").unwrap_err();
        assert!(denied.0.contains("sqs:ReceiveMessage"));
        let s3 = Acting::Service {
            service: "s3.amazonaws.com",
            source_arn: "arn:aws:s3:::b",
            source_account: "000000000000",
        };
        assert!(check(Some(&OnlyS3), s3, "lambda:InvokeFunction", "*").is_ok());
    }

    #[test]
    fn deferred_permits_nothing_until_set() {
        let d = Deferred::default();
        let s3 = Acting::Service {
            service: "s3.amazonaws.com",
            source_arn: "arn:aws:s3:::b",
            source_account: "000000000000",
        };
        assert!(d.check(s3, "lambda:InvokeFunction", "*").is_err());
        d.set(std::sync::Arc::new(OnlyS3));
        assert!(d.check(s3, "lambda:InvokeFunction", "*").is_ok());
    }
}
