//! The CloudFormation template language, pure: no I/O, no HTTP, no services.
//! A deployer (the coming `api/cloudformation` crate) asks it what a template
//! means; creating the resources is the deployer's.
//!
//! The design, and what is simplified: `docs/adr/0017-templates.md`.

mod yaml;

/// What CloudFormation answers when it refuses a template, its parameters or
/// a value; every variant is its `ValidationError`, and `Display` is its text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The template's structure: "Template format error: ...".
    #[error("Template format error: {0}")]
    Format(String),
}

/// Reads a YAML template into the JSON tree CloudFormation evaluates.
pub fn parse_yaml(text: &str) -> Result<serde_json::Value, Error> {
    yaml::parse(text)
}
