//! The IAM policy language and AWS's policy evaluation logic, pure: no I/O,
//! no HTTP, no storage, no clock. Services ask it "may this principal do this
//! action on this resource?"; where policies are kept, and how a request's
//! context is gathered, is theirs.
//!
//! - [`parse`] / [`parse_as`] read a policy document (identity-based,
//!   resource-based or trust), refusing what IAM refuses with IAM's message
//!   ([`Malformed`]), and compile it: actions lower-cased, ARN patterns split
//!   into wildcard units, condition values parsed for their operator.
//! - [`Context`] is the request: action, resource, [`Principal`], condition
//!   keys.
//! - [`evaluate`] combines identity-based policies, a permissions boundary,
//!   session policies and a resource-based policy ([`PolicySet`]) into an
//!   [`Evaluation`]: allow, explicit deny or implicit deny, and which policy
//!   (and statement) decided, enough for AWS's `AccessDenied` message.
//!
//! The design and what is simplified: `docs/adr/0014-iam-policies.md`.
//!
//! ```
//! use nimbus_policy::{Context, ParseKind, PolicySet, Principal, evaluate, parse_as};
//!
//! let policy = parse_as(
//!     r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow",
//!         "Action": "s3:GetObject", "Resource": "arn:aws:s3:::photos/${aws:username}/*"}}"#,
//!     ParseKind::Identity,
//! )
//! .unwrap();
//! let alice = Principal::from_arn("arn:aws:iam::111122223333:user/alice").unwrap();
//! let ctx = Context::new("s3:GetObject", "arn:aws:s3:::photos/alice/cat.jpg", alice);
//! let set = PolicySet { identity: vec![&policy], ..PolicySet::default() };
//! assert!(evaluate(&ctx, &set).is_allowed());
//! ```

mod condition;
mod context;
mod document;
mod evaluate;
mod glob;
mod scalar;

pub use condition::Condition;
pub use context::{Context, Principal, PrincipalKind};
pub use document::{
    Effect, Malformed, ParseKind, Policy, Position, Principals, Statement, Version, parse, parse_as,
};
pub use evaluate::{
    Decision, Evaluation, PolicyKind, PolicySet, Reason, evaluate, principal_matches, trusts,
};

/// Policies are compiled once and shared between request handlers.
const _: () = {
    const fn shared<T: Send + Sync>() {}
    shared::<Policy>();
    shared::<Context>();
};

#[cfg(test)]
mod corpus;
#[cfg(test)]
mod props;
