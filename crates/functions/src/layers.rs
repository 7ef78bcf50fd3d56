//! Lambda layers: published layer versions (immutable zips with their
//! compatibility lists and permission statements), durable like the function
//! registry, their code in the blob store and unpacked once into the code cache.
//!
//! Not the `/opt` a function sees: the execution layer merges a function's
//! layers' unpacked directories into it.

use crate::code::{self, CodeCache};
use crate::error::{Error, Result};
use nimbus_model::{Identity, LayerRef};
use nimbus_storage::records::{Records, Schema};
use nimbus_storage::{BlobStore, KvEngine, Table, WriteBatch};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::sync::{Arc, Mutex};

pub(crate) const LAYER_VERSIONS: Table = Table("layer_versions");
/// The last version number given to each layer name: numbers are never reused,
/// even after every version was deleted.
pub(crate) const LAYER_NAMES: Table = Table("layer_names");
pub const LAYER_RECORD_FORMAT: u32 = 1;
/// A function uses at most this many layers.
pub const MAX_LAYERS: usize = 5;

/// Lambda's answer for a layer version (or layer) that does not exist.
const NOT_FOUND: &str = "The resource you requested does not exist.";

/// The `Runtime` enum of botocore's Lambda model (`CompatibleRuntimes` members).
const RUNTIMES: &[&str] = &[
    "nodejs",
    "nodejs4.3",
    "nodejs6.10",
    "nodejs8.10",
    "nodejs10.x",
    "nodejs12.x",
    "nodejs14.x",
    "nodejs16.x",
    "nodejs18.x",
    "nodejs20.x",
    "nodejs22.x",
    "nodejs24.x",
    "java8",
    "java8.al2",
    "java11",
    "java17",
    "java21",
    "java25",
    "python2.7",
    "python3.6",
    "python3.7",
    "python3.8",
    "python3.9",
    "python3.10",
    "python3.11",
    "python3.12",
    "python3.13",
    "python3.14",
    "dotnetcore1.0",
    "dotnetcore2.0",
    "dotnetcore2.1",
    "dotnetcore3.1",
    "dotnet6",
    "dotnet8",
    "dotnet10",
    "nodejs4.3-edge",
    "go1.x",
    "ruby2.5",
    "ruby2.7",
    "ruby3.2",
    "ruby3.3",
    "ruby3.4",
    "ruby4.0",
    "provided",
    "provided.al2",
    "provided.al2023",
    "nodejs26.x",
    "python3.15",
    "java8.al2023",
    "java11.al2023",
    "java17.al2023",
    "custom",
];

/// One published layer version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerRecord {
    pub format: u32,
    pub name: String,
    pub version: u32,
    #[serde(default)]
    pub description: String,
    pub created_ms: u64,
    #[serde(default)]
    pub compatible_runtimes: Vec<String>,
    #[serde(default)]
    pub compatible_architectures: Vec<String>,
    #[serde(default)]
    pub license_info: Option<String>,
    pub code: nimbus_model::function::CodeRef,
    pub unzipped_size: u64,
    /// `AddLayerVersionPermission` statements, in the order they were added.
    #[serde(default)]
    pub statements: Vec<Value>,
    /// Changes with the policy.
    pub revision_id: String,
}

impl LayerRecord {
    pub fn matches(&self, runtime: Option<&str>, architecture: Option<&str>) -> bool {
        runtime.is_none_or(|r| self.compatible_runtimes.iter().any(|c| c == r))
            && architecture.is_none_or(|a| self.compatible_architectures.iter().any(|c| c == a))
    }
}

/// Layer versions under `name\0{version:010}`: a layer's versions list together, in order.
struct ByVersion;

impl Schema<LayerRecord> for ByVersion {
    fn key(rec: &LayerRecord) -> Cow<'_, str> {
        Cow::Owned(version_key(&rec.name, rec.version))
    }
    fn format(rec: &LayerRecord) -> u32 {
        rec.format
    }
}

fn version_key(name: &str, version: u32) -> String {
    format!("{name}\0{version:010}")
}

/// `PublishLayerVersion`'s input, after the wire layer decoded it.
#[derive(Debug, Clone, Default)]
pub struct PublishLayer {
    pub name: String,
    pub description: Option<String>,
    pub zip: Vec<u8>,
    pub compatible_runtimes: Vec<String>,
    pub compatible_architectures: Vec<String>,
    pub license_info: Option<String>,
    /// `Content.S3Bucket`/`S3Key`: the zip is read from there into `zip`.
    pub s3: Option<code::S3Code>,
}

/// `AddLayerVersionPermission`'s input.
#[derive(Debug, Clone, Default)]
pub struct LayerGrant {
    pub statement_id: String,
    pub action: String,
    pub principal: String,
    pub organization_id: Option<String>,
    pub revision_id: Option<String>,
}

/// Layer names: 1-140 of `[a-zA-Z0-9-_]`.
pub fn is_valid_layer_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 140
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
}

/// A layer version ARN's name and version, if it is one of this account's.
pub fn parse_version_arn(arn: &str, identity: &Identity) -> Option<(String, u32)> {
    let rest = arn.strip_prefix(&identity.layer_arn(""))?;
    let (name, version) = rest.split_once(':')?;
    if !is_valid_layer_name(name)
        || version.is_empty()
        || !version.bytes().all(|c| c.is_ascii_digit())
    {
        return None;
    }
    Some((name.to_string(), version.parse().ok()?))
}

/// Whether `arn` has the shape of a layer version ARN (any account or region).
pub fn is_layer_version_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.split(':').collect();
    matches!(parts.as_slice(),
        ["arn", p, "lambda", region, account, "layer", name, version]
            if p.starts_with("aws") && !region.is_empty()
                && account.len() == 12 && account.bytes().all(|c| c.is_ascii_digit())
                && is_valid_layer_name(name)
                && !version.is_empty() && version.bytes().all(|c| c.is_ascii_digit()))
}

fn new_revision() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn check_publish(req: &PublishLayer) -> Result<()> {
    if !is_valid_layer_name(&req.name) {
        return Err(Error::Validation(format!(
            "1 validation error detected: Value '{}' at 'layerName' failed to satisfy constraint: \
             Member must satisfy regular expression pattern: (arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\\d{{12}}:layer:[a-zA-Z0-9-_]+)|[a-zA-Z0-9-_]+",
            req.name
        )));
    }
    if req
        .description
        .as_ref()
        .is_some_and(|d| d.chars().count() > 256)
    {
        return Err(Error::Validation(
            "1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 256".into(),
        ));
    }
    if req
        .license_info
        .as_ref()
        .is_some_and(|l| l.chars().count() > 512)
    {
        return Err(Error::Validation(
            "1 validation error detected: Value at 'licenseInfo' failed to satisfy constraint: Member must have length less than or equal to 512".into(),
        ));
    }
    let runtimes = &req.compatible_runtimes;
    if runtimes.len() > 15 || runtimes.iter().any(|r| !RUNTIMES.contains(&r.as_str())) {
        return Err(Error::Validation(format!(
            "1 validation error detected: Value '[{}]' at 'compatibleRuntimes' failed to satisfy constraint: \
             Member must satisfy constraint: [Member must satisfy enum value set: [{}]]",
            runtimes.join(", "),
            RUNTIMES.join(", ")
        )));
    }
    let archs = &req.compatible_architectures;
    if archs.len() > 2 || archs.iter().any(|a| a != "x86_64" && a != "arm64") {
        return Err(Error::Validation(format!(
            "1 validation error detected: Value '[{}]' at 'compatibleArchitectures' failed to satisfy constraint: \
             Member must satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64]]",
            archs.join(", ")
        )));
    }
    Ok(())
}

/// The published layer versions of the account.
pub(crate) struct Layers {
    kv: Arc<dyn KvEngine>,
    blobs: Arc<dyn BlobStore>,
    code: Arc<CodeCache>,
    identity: Identity,
    versions: Records<LayerRecord, ByVersion>,
    write: Mutex<()>,
}

impl Layers {
    pub fn open(
        kv: Arc<dyn KvEngine>,
        blobs: Arc<dyn BlobStore>,
        code: Arc<CodeCache>,
        identity: Identity,
    ) -> Result<Layers> {
        let versions = Records::open(kv.clone(), LAYER_VERSIONS, LAYER_RECORD_FORMAT)?;
        Ok(Layers {
            kv,
            blobs,
            code,
            identity,
            versions,
            write: Mutex::new(()),
        })
    }

    pub fn version_arn(&self, rec: &LayerRecord) -> String {
        format!("{}:{}", self.identity.layer_arn(&rec.name), rec.version)
    }

    fn last_number(&self, name: &str) -> Result<u32> {
        Ok(match self.kv.get(LAYER_NAMES, name.as_bytes())? {
            Some(v) => serde_json::from_slice(&v)
                .map_err(|e| Error::Internal(format!("read layer counter of {name}: {e}")))?,
            None => 0,
        })
    }

    /// Store the zip, unpack it once, and publish it as the layer's next version.
    pub fn publish(&self, req: PublishLayer) -> Result<Arc<LayerRecord>> {
        check_publish(&req)?;
        if req.zip.is_empty() {
            return Err(Error::InvalidParameter(
                "Please provide a source for the layer content: ZipFile or S3Bucket and S3Key"
                    .into(),
            ));
        }
        if req.s3.is_none() && req.zip.len() > code::MAX_ZIPPED_BYTES {
            return Err(Error::RequestTooLarge(format!(
                "Request must be smaller than {} bytes for the PublishLayerVersion operation",
                code::MAX_ZIPPED_BYTES
            )));
        }
        let unzipped_size = code::validate(&req.zip)?;
        let sha = Sha256::digest(&req.zip);
        let digest = hex::encode(sha);
        self.code.ensure(&digest, &req.zip)?;
        let stored = self.blobs.put(&req.zip)?;
        debug_assert_eq!(stored, digest);
        use base64::Engine as _;
        let code = nimbus_model::function::CodeRef {
            digest,
            sha256_b64: base64::engine::general_purpose::STANDARD.encode(sha),
            size: req.zip.len() as u64,
        };
        let _w = self.write.lock().expect("layer write lock");
        let version = self.last_number(&req.name)? + 1;
        let rec = LayerRecord {
            format: LAYER_RECORD_FORMAT,
            name: req.name.clone(),
            version,
            description: req.description.unwrap_or_default(),
            created_ms: nimbus_model::time::now_millis(),
            compatible_runtimes: req.compatible_runtimes,
            compatible_architectures: req.compatible_architectures,
            license_info: req.license_info,
            code,
            unzipped_size,
            statements: Vec::new(),
            revision_id: new_revision(),
        };
        // The version and the layer's counter commit together.
        let mut writer = self.versions.writer();
        let mut batch = WriteBatch::new();
        let rec = writer.put(&mut batch, rec)?;
        batch.put(
            LAYER_NAMES,
            req.name.into_bytes(),
            serde_json::to_vec(&version).map_err(|e| Error::Internal(e.to_string()))?,
        );
        self.kv.commit(batch)?;
        writer.apply();
        Ok(rec)
    }

    pub fn get(&self, name: &str, version: u32) -> Result<Arc<LayerRecord>> {
        self.versions
            .get(&version_key(name, version))
            .ok_or_else(|| Error::NotFound(NOT_FOUND.into()))
    }

    /// A layer's versions, newest first.
    pub fn versions(&self, name: &str) -> Vec<Arc<LayerRecord>> {
        let mut all = self.versions.prefixed(&format!("{name}\0"));
        all.reverse();
        all
    }

    /// Each layer's newest version that matches the filters, by layer name.
    pub fn latest(
        &self,
        runtime: Option<&str>,
        architecture: Option<&str>,
    ) -> Vec<Arc<LayerRecord>> {
        let mut out: Vec<Arc<LayerRecord>> = Vec::new();
        // In key order: by name, then by version, so the last match of a name wins.
        for rec in self.versions.all() {
            if !rec.matches(runtime, architecture) {
                continue;
            }
            match out.last_mut() {
                Some(last) if last.name == rec.name => *last = rec,
                _ => out.push(rec),
            }
        }
        out
    }

    /// Delete a version (nothing happens if there is none); returns what was deleted.
    pub fn delete(&self, name: &str, version: u32) -> Result<Option<Arc<LayerRecord>>> {
        let _w = self.write.lock().expect("layer write lock");
        Ok(self.versions.delete(&version_key(name, version))?)
    }

    /// Whether any layer version is stored from the zip `digest`.
    pub fn uses(&self, digest: &str) -> bool {
        self.versions
            .fold(false, |used, r| used || r.code.digest == digest)
    }

    pub fn digests(&self) -> Vec<String> {
        self.versions.fold(Vec::new(), |mut d, r| {
            d.push(r.code.digest.clone());
            d
        })
    }

    /// What a function's `Layers` refer to, checked as Lambda checks them.
    pub fn resolve(&self, arns: &[String]) -> Result<Vec<LayerRef>> {
        if let Some(bad) = arns.iter().find(|a| !is_layer_version_arn(a)) {
            return Err(Error::Validation(format!(
                "1 validation error detected: Value '[{bad}]' at 'layers' failed to satisfy constraint: \
                 Member must satisfy constraint: [Member must have length less than or equal to 140, \
                 Member must have length greater than or equal to 1, Member must satisfy regular expression pattern: \
                 (arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\\d{{12}}:layer:[a-zA-Z0-9-_]+:[0-9]+)|(arn:[a-zA-Z0-9-]+:lambda:::awslayer:[a-zA-Z0-9-_]+)]"
            )));
        }
        if arns.len() > MAX_LAYERS {
            return Err(Error::InvalidParameter(format!(
                "Cannot reference more than {MAX_LAYERS} layers."
            )));
        }
        arns.iter()
            .map(|arn| {
                let missing =
                    || Error::InvalidParameter(format!("Layer version {arn} does not exist."));
                let (name, version) = parse_version_arn(arn, &self.identity).ok_or_else(missing)?;
                let rec = self.get(&name, version).map_err(|_| missing())?;
                Ok(LayerRef {
                    arn: arn.clone(),
                    digest: rec.code.digest.clone(),
                    code_size: rec.code.size,
                    unzipped_size: rec.unzipped_size,
                })
            })
            .collect()
    }

    /// `AddLayerVersionPermission`: the statement added.
    pub fn add_permission(
        &self,
        name: &str,
        version: u32,
        g: &LayerGrant,
    ) -> Result<(Value, String)> {
        if g.action != "lambda:GetLayerVersion" {
            return Err(Error::Validation(format!(
                "1 validation error detected: Value '{}' at 'action' failed to satisfy constraint: \
                 Member must satisfy regular expression pattern: lambda:GetLayerVersion",
                g.action
            )));
        }
        let principal_ok = g.principal == "*"
            || (g.principal.len() == 12 && g.principal.bytes().all(|c| c.is_ascii_digit()))
            || (g.principal.starts_with("arn:aws:iam::") && g.principal.ends_with(":root"));
        if !principal_ok {
            return Err(Error::Validation(format!(
                "1 validation error detected: Value '{}' at 'principal' failed to satisfy constraint: \
                 Member must satisfy regular expression pattern: \\d{{12}}|\\*|arn:(aws[a-zA-Z-]*):iam::\\d{{12}}:root",
                g.principal
            )));
        }
        if g.organization_id.is_some() && g.principal != "*" {
            return Err(Error::InvalidParameter(
                "OrganizationId can only be specified with Principal set to *".into(),
            ));
        }
        let _w = self.write.lock().expect("layer write lock");
        let key = version_key(name, version);
        let arn = format!("{}:{version}", self.identity.layer_arn(name));
        let (rec, st) = self
            .versions
            .change(&key, |rec| {
                check_revision(&rec.revision_id, g.revision_id.as_deref())?;
                if rec.statements.iter().any(|s| s["Sid"] == g.statement_id.as_str()) {
                    return Err(Error::Conflict(format!(
                        "The statement id ({}) provided already exists. Please provide a new statement id, or remove the existing statement.",
                        g.statement_id
                    )));
                }
                let principal = if g.principal == "*" {
                    json!("*")
                } else if g.principal.starts_with("arn:") {
                    json!({ "AWS": g.principal })
                } else {
                    json!({ "AWS": format!("arn:aws:iam::{}:root", g.principal) })
                };
                let mut st = json!({
                    "Sid": g.statement_id, "Effect": "Allow", "Principal": principal,
                    "Action": g.action, "Resource": arn,
                });
                if let Some(org) = &g.organization_id {
                    st["Condition"] = json!({ "StringEquals": { "aws:PrincipalOrgID": org } });
                }
                rec.statements.push(st.clone());
                rec.revision_id = new_revision();
                Ok::<_, Error>(st)
            })?
            .ok_or_else(|| Error::NotFound(NOT_FOUND.into()))?;
        Ok((st, rec.revision_id.clone()))
    }

    pub fn remove_permission(
        &self,
        name: &str,
        version: u32,
        statement_id: &str,
        revision_id: Option<&str>,
    ) -> Result<()> {
        let _w = self.write.lock().expect("layer write lock");
        self.versions
            .change(&version_key(name, version), |rec| {
                check_revision(&rec.revision_id, revision_id)?;
                let before = rec.statements.len();
                rec.statements.retain(|s| s["Sid"] != statement_id);
                if rec.statements.len() == before {
                    return Err(Error::NotFound(format!(
                        "Statement {statement_id} is not found in resource policy."
                    )));
                }
                rec.revision_id = new_revision();
                Ok::<_, Error>(())
            })?
            .ok_or_else(|| Error::NotFound(NOT_FOUND.into()))?;
        Ok(())
    }

    /// `GetLayerVersionPolicy`: the policy document and its revision.
    pub fn policy(&self, name: &str, version: u32) -> Result<(Value, String)> {
        let rec = self.get(name, version)?;
        if rec.statements.is_empty() {
            return Err(Error::NotFound(
                "No policy is associated with the given resource.".into(),
            ));
        }
        let policy =
            json!({ "Version": "2012-10-17", "Id": "default", "Statement": rec.statements });
        Ok((policy, rec.revision_id.clone()))
    }
}

fn check_revision(current: &str, given: Option<&str>) -> Result<()> {
    match given {
        Some(rev) if rev != current => Err(Error::PreconditionFailed(
            "The Revision Id provided does not match the latest Revision Id. Call the GetLayerVersionPolicy API to retrieve the latest Revision Id".into(),
        )),
        _ => Ok(()),
    }
}

/// The service's layer operations: the store's, off the async threads where they write.
impl crate::Functions {
    pub async fn publish_layer_version(
        self: &Arc<Self>,
        req: PublishLayer,
    ) -> Result<Arc<LayerRecord>> {
        let me = self.clone();
        crate::spawn_blocking(move || {
            let mut req = req;
            if let Some(at) = &req.s3 {
                req.zip = me.read_s3(at)?;
            }
            me.registry.layers.publish(req)
        })
        .await
    }

    pub fn get_layer_version(&self, name: &str, version: u32) -> Result<Arc<LayerRecord>> {
        self.registry.layers.get(name, version)
    }

    /// A layer's versions, newest first, that match the filters.
    pub fn list_layer_versions(
        &self,
        name: &str,
        runtime: Option<&str>,
        architecture: Option<&str>,
    ) -> Vec<Arc<LayerRecord>> {
        let mut all = self.registry.layers.versions(name);
        all.retain(|r| r.matches(runtime, architecture));
        all
    }

    /// Each layer's newest version that matches the filters, by name.
    pub fn list_layers(
        &self,
        runtime: Option<&str>,
        architecture: Option<&str>,
    ) -> Vec<Arc<LayerRecord>> {
        self.registry.layers.latest(runtime, architecture)
    }

    /// Functions that use the version keep it (and its code) until they change.
    pub async fn delete_layer_version(self: &Arc<Self>, name: &str, version: u32) -> Result<()> {
        let me = self.clone();
        let name = name.to_string();
        crate::spawn_blocking(move || {
            if let Some(old) = me.registry.layers.delete(&name, version)? {
                me.registry.release_code(&old.code.digest);
            }
            Ok(())
        })
        .await
    }

    pub fn layer_version_arn(&self, rec: &LayerRecord) -> String {
        self.registry.layers.version_arn(rec)
    }

    pub fn add_layer_version_permission(
        &self,
        name: &str,
        version: u32,
        grant: &LayerGrant,
    ) -> Result<(Value, String)> {
        self.registry.layers.add_permission(name, version, grant)
    }

    pub fn remove_layer_version_permission(
        &self,
        name: &str,
        version: u32,
        statement_id: &str,
        revision_id: Option<&str>,
    ) -> Result<()> {
        self.registry
            .layers
            .remove_permission(name, version, statement_id, revision_id)
    }

    pub fn get_layer_version_policy(&self, name: &str, version: u32) -> Result<(Value, String)> {
        self.registry.layers.policy(name, version)
    }
}

#[cfg(test)]
mod tests;
