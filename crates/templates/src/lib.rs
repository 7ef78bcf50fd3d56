//! The CloudFormation template language, pure: no I/O, no HTTP, no services.
//! A deployer (the coming `api/cloudformation` crate) asks it what a template
//! means; creating the resources is the deployer's.
//!
//! - [`parse`] reads a JSON or YAML template (YAML short forms such as `!Ref`
//!   become their long forms) into a [`Template`], refusing what
//!   CloudFormation refuses with its message ([`Error`]).
//! - [`Stack::new`] binds parameters (defaults, overrides, constraints) and
//!   pseudo parameters ([`Pseudo`]) and evaluates the conditions.
//! - [`Stack::plan`] orders the resources the conditions keep into waves that
//!   can be created in parallel ([`Plan`]), refusing cycles.
//! - [`Stack::resource`] and [`Stack::outputs`] resolve every intrinsic
//!   function through a [`Resolver`] the deployer implements: the physical
//!   ids and attributes of resources already created, exports, dynamic
//!   references (`{{resolve:ssm:...}}`).
//!
//! The design, and what is simplified: `docs/adr/0017-templates.md`.
//!
//! ```
//! use nimbus_templates::{DynamicRef, Pseudo, Resolver, Stack, parse};
//! use serde_json::{Value, json};
//! use std::collections::BTreeMap;
//!
//! struct Created;
//! impl Resolver for Created {
//!     fn ref_of(&self, id: &str) -> Result<Value, String> { Ok(json!(format!("{id}-1"))) }
//!     fn attribute(&self, id: &str, a: &str) -> Result<Value, String> { Err(format!("{id}.{a}")) }
//!     fn import(&self, name: &str) -> Result<Value, String> { Err(format!("No export named {name} found.")) }
//!     fn dynamic(&self, r: &DynamicRef) -> Result<String, String> { Err(format!("{r:?}")) }
//! }
//!
//! let template = parse(
//!     "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n      QueueName: !Sub '${AWS::StackName}-q'\n",
//! )
//! .unwrap();
//! let pseudo = Pseudo::new("123456789012", "us-east-1", "app");
//! let stack = Stack::new(&template, &BTreeMap::new(), pseudo, &Created).unwrap();
//! assert_eq!(stack.plan().unwrap().waves, vec![vec!["Q".to_string()]]);
//! let props = stack.resource("Q", &Created).unwrap().unwrap();
//! assert_eq!(props["QueueName"], "app-q");
//! ```

mod evaluate;
mod graph;
mod params;
pub mod sam;
mod template;
mod yaml;

pub use evaluate::{DynamicRef, OutputValue, Resolver, Stack};
pub use graph::{Plan, references};
pub use params::Pseudo;
pub use template::{Output, Parameter, ParameterType, Resource, Template, parse, read};

/// What CloudFormation answers when it refuses a template, its parameters or
/// a value; every variant is its `ValidationError`, and `Display` is its text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The template's structure: "Template format error: ...".
    #[error("Template format error: {0}")]
    Format(String),
    /// An intrinsic function's use: "Template error: ...".
    #[error("Template error: {0}")]
    Template(String),
    /// Parameters and the dependency graph: the message as CloudFormation words it.
    #[error("{0}")]
    Invalid(String),
    /// The resolver could not supply a value; the deployer's message.
    #[error("{0}")]
    Unresolved(String),
}

/// Templates are parsed once and read by every step of a deployment.
const _: () = {
    const fn shared<T: Send + Sync>() {}
    shared::<Template>();
};

#[cfg(test)]
mod corpus;
#[cfg(test)]
mod props;
