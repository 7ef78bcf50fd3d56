//! Code signing configurations (`Create/Get/Update/Delete/ListCodeSigningConfig(s)`)
//! and the one a function uses (`Put/Get/DeleteFunctionCodeSigningConfig`,
//! `CodeSigningConfigArn` on create). Nimbus has no signing service, so no
//! package it is given is signed: a function whose configuration says
//! `Enforce` refuses new code (`CodeVerificationFailedException`), one that
//! says `Warn` (the default) takes it, as Lambda treats unsigned code.

use crate::{Error, Functions, Result};
use nimbus_storage::{Table, WriteBatch};
use serde::{Deserialize, Serialize};

/// Configuration id -> [`CodeSigningConfig`].
const CONFIGS: Table = Table("code_signing_configs");

/// One code signing configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeSigningConfig {
    /// `csc-` and 17 characters.
    pub id: String,
    pub arn: String,
    pub description: String,
    /// `AllowedPublishers.SigningProfileVersionArns` (1 to 20).
    pub signing_profiles: Vec<String>,
    /// `CodeSigningPolicies.UntrustedArtifactOnDeployment`: `Warn` or `Enforce`.
    pub untrusted_artifact_on_deployment: String,
    pub last_modified_ms: u64,
}

/// Create or update input (`None`: keep, or the default on create).
#[derive(Debug, Clone, Default)]
pub struct CodeSigningInput {
    pub description: Option<String>,
    pub signing_profiles: Option<Vec<String>>,
    pub untrusted_artifact_on_deployment: Option<String>,
}

fn check(input: &CodeSigningInput, creating: bool) -> Result<()> {
    match &input.signing_profiles {
        None if creating => {
            return Err(Error::Validation(
                "1 validation error detected: Value null at 'allowedPublishers' failed to satisfy constraint: Member must not be null".into(),
            ));
        }
        Some(p) if p.is_empty() || p.len() > 20 => {
            return Err(Error::Validation(format!(
                "1 validation error detected: Value '{p:?}' at 'allowedPublishers.signingProfileVersionArns' failed to satisfy constraint: Member must have length between 1 and 20"
            )));
        }
        Some(p) => {
            if let Some(bad) = p
                .iter()
                .find(|a| !(a.starts_with("arn:aws:signer:") && a.contains(":/signing-profiles/")))
            {
                return Err(Error::InvalidParameter(format!(
                    "{bad} is not a signing profile version ARN (arn:aws:signer:REGION:ACCOUNT:/signing-profiles/NAME/VERSION)."
                )));
            }
        }
        None => {}
    }
    if let Some(p) = &input.untrusted_artifact_on_deployment
        && !matches!(p.as_str(), "Warn" | "Enforce")
    {
        return Err(Error::Validation(format!(
            "1 validation error detected: Value '{p}' at 'codeSigningPolicies.untrustedArtifactOnDeployment' failed to satisfy constraint: Member must satisfy enum value set: [Enforce, Warn]"
        )));
    }
    if input
        .description
        .as_ref()
        .is_some_and(|d| d.chars().count() > 256)
    {
        return Err(Error::Validation(
            "1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 256".into(),
        ));
    }
    Ok(())
}

fn decode(b: &[u8]) -> Result<CodeSigningConfig> {
    serde_json::from_slice(b)
        .map_err(|e| Error::Internal(format!("read a code signing config: {e}")))
}

impl Functions {
    /// The id a configuration's ARN (or the id itself) names.
    fn code_signing_id<'a>(&self, arn: &'a str) -> Result<&'a str> {
        let id = arn.rsplit(':').next().unwrap_or(arn);
        let well_formed = id.len() == 21
            && id.starts_with("csc-")
            && id[4..]
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if !well_formed || (arn.contains(':') && !arn.starts_with("arn:aws:lambda:")) {
            return Err(Error::Validation(format!(
                "1 validation error detected: Value '{arn}' at 'codeSigningConfigArn' failed to satisfy constraint: Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*)?:lambda:[a-z]{{2}}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{{1}}:\\d{{12}}:code-signing-config:csc-[a-z0-9]{{17}}"
            )));
        }
        Ok(id)
    }

    pub fn create_code_signing_config(&self, input: CodeSigningInput) -> Result<CodeSigningConfig> {
        check(&input, true)?;
        let suffix: String = uuid::Uuid::new_v4().simple().to_string()[..17].to_string();
        let id = format!("csc-{suffix}");
        let cfg = CodeSigningConfig {
            arn: format!(
                "arn:aws:lambda:{}:{}:code-signing-config:{id}",
                self.identity().region,
                self.identity().account_id
            ),
            id,
            description: input.description.unwrap_or_default(),
            signing_profiles: input.signing_profiles.unwrap_or_default(),
            untrusted_artifact_on_deployment: input
                .untrusted_artifact_on_deployment
                .unwrap_or_else(|| "Warn".into()),
            last_modified_ms: nimbus_model::time::now_millis(),
        };
        self.put_code_signing(&cfg)?;
        Ok(cfg)
    }

    fn put_code_signing(&self, cfg: &CodeSigningConfig) -> Result<()> {
        let mut b = WriteBatch::new();
        b.put(
            CONFIGS,
            cfg.id.as_bytes().to_vec(),
            serde_json::to_vec(cfg).expect("code signing configs serialize"),
        );
        self.kv.commit(b)?;
        Ok(())
    }

    pub fn code_signing_config(&self, arn: &str) -> Result<CodeSigningConfig> {
        let id = self.code_signing_id(arn)?;
        match self.kv.get(CONFIGS, id.as_bytes())? {
            Some(v) => decode(&v),
            None => Err(Error::NotFound(format!(
                "The code signing configuration cannot be found. Check that the provided configuration is not deleted: {arn}."
            ))),
        }
    }

    pub fn update_code_signing_config(
        &self,
        arn: &str,
        input: CodeSigningInput,
    ) -> Result<CodeSigningConfig> {
        check(&input, false)?;
        let mut cfg = self.code_signing_config(arn)?;
        if let Some(d) = input.description {
            cfg.description = d;
        }
        if let Some(p) = input.signing_profiles {
            cfg.signing_profiles = p;
        }
        if let Some(p) = input.untrusted_artifact_on_deployment {
            cfg.untrusted_artifact_on_deployment = p;
        }
        cfg.last_modified_ms = nimbus_model::time::now_millis();
        self.put_code_signing(&cfg)?;
        Ok(cfg)
    }

    /// Delete a configuration no function uses.
    pub fn delete_code_signing_config(&self, arn: &str) -> Result<()> {
        let cfg = self.code_signing_config(arn)?;
        if !self.functions_signed_by(&cfg.arn).is_empty() {
            return Err(Error::Conflict(format!(
                "The code signing configuration {} cannot be deleted because it is used by one or more functions.",
                cfg.arn
            )));
        }
        let mut b = WriteBatch::new();
        b.delete(CONFIGS, cfg.id.into_bytes());
        self.kv.commit(b)?;
        Ok(())
    }

    /// Every configuration, by id.
    pub fn list_code_signing_configs(&self) -> Result<Vec<CodeSigningConfig>> {
        self.kv
            .scan_prefix(CONFIGS, b"")?
            .into_iter()
            .map(|(_, v)| decode(&v))
            .collect()
    }

    /// The functions (names) that use the configuration `arn`.
    pub fn functions_signed_by(&self, arn: &str) -> Vec<String> {
        self.list()
            .into_iter()
            .filter(|f| f.code_signing_config.as_deref() == Some(arn))
            .map(|f| f.name.clone())
            .collect()
    }

    /// Refuse a new package for a function whose configuration enforces
    /// signatures (no package Nimbus is given is signed).
    /// Returns the configuration's ARN as stored (canonical).
    pub(crate) fn check_signature(&self, csc: Option<&str>) -> Result<Option<String>> {
        let Some(arn) = csc else { return Ok(None) };
        let cfg = match self.code_signing_config(arn) {
            Ok(c) => c,
            Err(Error::NotFound(_)) => {
                return Err(Error::CodeSigningConfigNotFound(format!(
                    "The code signing configuration cannot be found. Check that the provided configuration is not deleted: {arn}."
                )));
            }
            Err(e) => return Err(e),
        };
        if cfg.untrusted_artifact_on_deployment == "Enforce" {
            return Err(Error::CodeVerificationFailed(
                "The code signature failed one or more of the validation checks for signature mismatch or expiry, and the code signing policy is set to ENFORCE. Lambda blocks the deployment.".into(),
            ));
        }
        Ok(Some(cfg.arn))
    }

    /// `PutFunctionCodeSigningConfig` (`Some`) or `Delete...` (`None`).
    pub async fn set_function_code_signing(
        self: &std::sync::Arc<Self>,
        name: &str,
        arn: Option<String>,
    ) -> Result<std::sync::Arc<nimbus_model::FunctionRecord>> {
        // Stored as the configuration's own ARN, whatever form named it.
        let arn = match arn {
            Some(a) => match self.code_signing_config(&a) {
                Err(Error::NotFound(m)) => return Err(Error::CodeSigningConfigNotFound(m)),
                other => Some(other?.arn),
            },
            None => None,
        };
        self.change_settings(name, None, move |rec| {
            rec.code_signing_config = arn;
            Ok(())
        })
        .await
    }
}
