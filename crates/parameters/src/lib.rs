//! SSM Parameter Store for Nimbus: named, versioned parameters in a
//! hierarchy (`/app/prod/db`), with labels, tags, and SecureStrings
//! encrypted through [`nimbus_kms`] (in process; `alias/aws/ssm` unless the
//! caller names a key). Each parameter, with all its versions, is one record
//! of `ssm_parameters`.
//!
//! Not the wire: `api/ssm` reads requests into these inputs and writes these
//! records in SSM's shapes. Values never reach a log.

pub mod name;
#[cfg(test)]
mod tests;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use name::{Reference, Selector};
use nimbus_kms::{Context, Kms};
use nimbus_model::time::now_millis;
use nimbus_storage::records::{Record, Records};
use nimbus_storage::{KvEngine, Table};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub const PARAMETERS: Table = Table("ssm_parameters");
const FORMAT: u32 = 1;
const MAX_VERSIONS: usize = 100;
const MAX_LABELS: usize = 10;
const DEFAULT_KEY: &str = "alias/aws/ssm";

/// What Parameter Store refuses, in its own terms.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    VersionNotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    HierarchyLevel(String),
    #[error("{0}")]
    InvalidAllowedPattern(String),
    #[error("{0}")]
    PatternMismatch(String),
    #[error("{0}")]
    MaxVersions(String),
    #[error("{0}")]
    LabelLimit(String),
    #[error("{0}")]
    InvalidKeyId(String),
    #[error("{0}")]
    InvalidFilterKey(String),
    #[error("{0}")]
    InvalidFilterOption(String),
    #[error("{0}")]
    InvalidFilterValue(String),
    #[error("{0}")]
    InvalidNextToken(String),
    #[error("{0}")]
    InvalidResourceId(String),
    #[error("{0}")]
    TooManyTags(String),
    #[error("{0}")]
    UnsupportedType(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Internal(String),
    #[error(transparent)]
    Storage(#[from] nimbus_storage::Error),
}

pub type Result<T> = std::result::Result<T, Error>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    String,
    StringList,
    SecureString,
}

impl Kind {
    pub fn parse(s: &str) -> Result<Kind> {
        match s {
            "String" => Ok(Kind::String),
            "StringList" => Ok(Kind::StringList),
            "SecureString" => Ok(Kind::SecureString),
            other => Err(Error::UnsupportedType(format!(
                "The parameter type {other} is not supported."
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::String => "String",
            Kind::StringList => "StringList",
            Kind::SecureString => "SecureString",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// One version of a parameter.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Version {
    pub version: u64,
    pub kind: Kind,
    /// The value; for a SecureString, the base64 of its KMS blob.
    pub value: String,
    /// A SecureString's key, as the caller named it.
    pub key_id: Option<String>,
    pub description: Option<String>,
    pub allowed_pattern: Option<String>,
    pub tier: String,
    pub data_type: String,
    pub labels: Vec<String>,
    pub modified: u64,
    pub user: String,
}

/// A parameter and its versions, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ParameterRecord {
    pub format: u32,
    pub name: String,
    pub arn: String,
    pub versions: Vec<Version>,
    pub tags: Vec<Tag>,
}

impl Record for ParameterRecord {
    fn key(&self) -> &str {
        &self.name
    }
    fn format(&self) -> u32 {
        self.format
    }
}

impl ParameterRecord {
    pub fn latest(&self) -> &Version {
        self.versions
            .last()
            .expect("a stored parameter has at least one version")
    }
}

/// What `PutParameter` asks for.
#[derive(Debug, Clone, Default)]
pub struct NewParameter {
    pub name: String,
    pub value: String,
    pub kind: Option<Kind>,
    pub key_id: Option<String>,
    pub overwrite: bool,
    pub description: Option<String>,
    pub allowed_pattern: Option<String>,
    pub tier: Option<String>,
    pub data_type: Option<String>,
    pub tags: Vec<Tag>,
    /// The caller's ARN, shown as `LastModifiedUser`.
    pub user: String,
}

/// A version as a read answers it: the value decrypted when asked.
#[derive(Debug, Clone)]
pub struct Shown {
    pub name: String,
    pub arn: String,
    pub version: Version,
    /// The `:version` or `:label` the reference used.
    pub selector: Option<String>,
}

/// One condition of a `ParameterFilters` list (or the older `Filters`).
#[derive(Debug, Clone)]
pub struct Filter {
    pub key: String,
    pub option: Option<String>,
    pub values: Vec<String>,
}

pub struct Parameters {
    kms: Arc<Kms>,
    kv: Arc<dyn KvEngine>,
    records: Records<ParameterRecord>,
}

fn not_found(name: &str) -> Error {
    Error::NotFound(format!("Parameter {name} not found."))
}

fn check_pattern(pattern: &str, value: &str) -> Result<()> {
    use regex_automata::dfa::{dense, regex::Builder};
    use regex_automata::util::syntax;
    if pattern.len() > 1024 {
        return Err(Error::InvalidAllowedPattern(
            "The allowed pattern can be at most 1024 characters.".into(),
        ));
    }
    let re = Builder::new()
        .syntax(syntax::Config::new().unicode(false).utf8(false))
        .dense(
            dense::Config::new()
                .dfa_size_limit(Some(1 << 22))
                .determinize_size_limit(Some(1 << 22)),
        )
        .build(pattern)
        .map_err(|e| {
            Error::InvalidAllowedPattern(format!("The allowed pattern is not valid: {e}"))
        })?;
    if !re.is_match(value.as_bytes()) {
        return Err(Error::PatternMismatch(format!(
            "Parameter value, cannot be validated against allowedPattern: {pattern}"
        )));
    }
    Ok(())
}

fn check_tags(tags: &[Tag]) -> Result<()> {
    for t in tags {
        if t.key.is_empty() || t.key.len() > 128 || t.value.len() > 256 {
            return Err(Error::Invalid(format!(
                "Tag key {:?} must be 1 to 128 characters and its value at most 256.",
                t.key
            )));
        }
    }
    Ok(())
}

/// A filter's options against one string.
fn compare(option: Option<&str>, field: &str, values: &[String]) -> Result<bool> {
    Ok(match option.unwrap_or("Equals") {
        "Equals" => values.iter().any(|v| v == field),
        "BeginsWith" => values.iter().any(|v| field.starts_with(v.as_str())),
        "Contains" => values.iter().any(|v| field.contains(v.as_str())),
        o => {
            return Err(Error::InvalidFilterOption(format!(
                "The filter option {o} is not valid."
            )));
        }
    })
}

/// Whether parameter `p` at version `v` passes `f`. `by_path` is true for
/// `GetParametersByPath`, which takes no `Name` or `Path` filter.
fn passes(p: &ParameterRecord, v: &Version, f: &Filter, by_path: bool) -> Result<bool> {
    let opt = f.option.as_deref();
    if let Some(tag) = f.key.strip_prefix("tag:") {
        return Ok(match p.tags.iter().find(|t| t.key == tag) {
            None => false,
            Some(_) if f.values.is_empty() => true,
            Some(t) => compare(opt, &t.value, &f.values)?,
        });
    }
    if f.values.is_empty() && f.key != "Label" {
        return Err(Error::InvalidFilterValue(format!(
            "The filter {} needs at least one value.",
            f.key
        )));
    }
    match f.key.as_str() {
        "Name" if !by_path => {
            let with_slash = |n: &str| -> String {
                if n.starts_with('/') {
                    n.into()
                } else {
                    format!("/{n}")
                }
            };
            let values: Vec<String> = f.values.iter().map(|v| with_slash(v)).collect();
            compare(opt, &with_slash(&p.name), &values)
        }
        "Path" if !by_path => {
            let recursive = match opt.unwrap_or("OneLevel") {
                "OneLevel" => false,
                "Recursive" => true,
                o => {
                    return Err(Error::InvalidFilterOption(format!(
                        "The filter option {o} is not valid for Path."
                    )));
                }
            };
            Ok(f.values.iter().any(|path| under(&p.name, path, recursive)))
        }
        "Type" => compare(opt, v.kind.as_str(), &f.values),
        "KeyId" => compare(opt, v.key_id.as_deref().unwrap_or(""), &f.values),
        "Tier" => compare(opt, &v.tier, &f.values),
        "DataType" => compare(opt, &v.data_type, &f.values),
        "Label" => Ok(p
            .versions
            .iter()
            .any(|x| x.labels.iter().any(|l| f.values.contains(l)))),
        k => Err(Error::InvalidFilterKey(format!(
            "The filter key {k} is not valid here."
        ))),
    }
}

/// Whether `name` lies under `path` (directly, unless `recursive`).
pub fn under(name: &str, path: &str, recursive: bool) -> bool {
    let base = path.trim_end_matches('/');
    let Some(rest) = name.strip_prefix(base).and_then(|r| r.strip_prefix('/')) else {
        return false;
    };
    !rest.is_empty() && (recursive || !rest.contains('/'))
}

/// A page of `items` after the offset `token`, at most `max`, and the next token.
fn page<T: Clone>(
    items: &[T],
    max: usize,
    token: Option<&str>,
) -> Result<(Vec<T>, Option<String>)> {
    let start = match token {
        None => 0,
        Some(t) => t
            .parse::<usize>()
            .ok()
            .filter(|n| *n <= items.len())
            .ok_or_else(|| Error::InvalidNextToken("The specified token isn't valid.".into()))?,
    };
    let end = (start + max).min(items.len());
    Ok((
        items[start..end].to_vec(),
        (end < items.len()).then(|| end.to_string()),
    ))
}

fn check_max(max: Option<i64>, limit: i64) -> Result<usize> {
    let m = max.unwrap_or(limit);
    if !(1..=limit).contains(&m) {
        return Err(Error::Invalid(format!(
            "1 validation error detected: Value '{m}' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and {limit}"
        )));
    }
    Ok(m as usize)
}

impl Parameters {
    pub fn open(kv: Arc<dyn KvEngine>, kms: Arc<Kms>) -> Result<Parameters> {
        Ok(Parameters {
            kms,
            records: Records::open(kv.clone(), PARAMETERS, FORMAT)?,
            kv,
        })
    }

    /// The account's root: who changed a parameter when the caller is not known.
    pub fn root_user(&self) -> String {
        format!("arn:aws:iam::{}:root", self.kms.account())
    }

    pub fn arn(&self, name: &str) -> String {
        name::arn(self.kms.region(), self.kms.account(), name)
    }

    fn context(arn: &str) -> Context {
        Context::from([("PARAMETER_ARN".to_string(), arn.to_string())])
    }

    /// Store a new version; answers its number and tier.
    pub fn put(&self, new: NewParameter) -> Result<(u64, String)> {
        name::check_name(&new.name)?;
        let tier = match new.tier.as_deref() {
            None | Some("Standard" | "Intelligent-Tiering") => {
                if new.value.len() > 4096 {
                    "Advanced"
                } else {
                    "Standard"
                }
            }
            Some("Advanced") => "Advanced",
            Some(t) => {
                return Err(Error::Invalid(format!(
                    "1 validation error detected: Value '{t}' at 'tier' failed to satisfy constraint: Member must satisfy enum value set: [Advanced, Intelligent-Tiering, Standard]"
                )));
            }
        };
        let max = if tier == "Advanced" { 8192 } else { 4096 };
        if new.value.is_empty() || new.value.len() > max {
            return Err(Error::Invalid(format!(
                "1 validation error detected: Value at 'value' failed to satisfy constraint: Member must have length between 1 and {max} in the {tier} tier"
            )));
        }
        let data_type = new.data_type.clone().unwrap_or_else(|| "text".into());
        if !["text", "aws:ec2:image", "aws:ssm:integration"].contains(&data_type.as_str()) {
            return Err(Error::Invalid(format!(
                "The following data type is not supported: {data_type} (Data type names are all lowercase.)"
            )));
        }
        if new.overwrite && !new.tags.is_empty() {
            return Err(Error::Invalid(
                "Invalid request: tags and overwrite can't be used together. To create a parameter with tags, please remove overwrite flag. To update tags for an existing parameter, please use AddTagsToResource or RemoveTagsFromResource.".into(),
            ));
        }
        check_tags(&new.tags)?;
        if let Some(d) = &new.description
            && d.len() > 1024
        {
            return Err(Error::Invalid(
                "The description can be at most 1024 characters.".into(),
            ));
        }
        if let Some(p) = &new.allowed_pattern {
            check_pattern(p, &new.value)?;
        }
        let arn = self.arn(&new.name);
        let mut w = self.records.writer();
        let existing = self.records.get(&new.name);
        if existing.is_some() && !new.overwrite {
            return Err(Error::AlreadyExists(
                "The parameter already exists. To overwrite this value, set the overwrite option in the request to true.".into(),
            ));
        }
        let kind = match (new.kind, &existing) {
            (Some(k), _) => k,
            (None, Some(e)) => e.latest().kind,
            (None, None) => {
                return Err(Error::Invalid(
                    "A parameter type is required when you create a parameter.".into(),
                ));
            }
        };
        if new.key_id.is_some() && kind != Kind::SecureString {
            return Err(Error::Invalid(
                "KeyId is required for SecureString type parameter only.".into(),
            ));
        }
        let (value, key_id) = if kind == Kind::SecureString {
            let key = new
                .key_id
                .clone()
                .or_else(|| existing.as_ref().and_then(|e| e.latest().key_id.clone()))
                .unwrap_or_else(|| DEFAULT_KEY.into());
            let (blob, _) = self
                .kms
                .seal(&key, new.value.as_bytes(), &Parameters::context(&arn))
                .map_err(|e| match e {
                    nimbus_kms::Error::Storage(_) | nimbus_kms::Error::Crypto(_) => {
                        Error::Internal(e.to_string())
                    }
                    e => Error::InvalidKeyId(format!("{e}")),
                })?;
            (B64.encode(blob), Some(key))
        } else {
            (new.value.clone(), None)
        };
        let mut rec = match &existing {
            Some(e) => ParameterRecord::clone(e),
            None => ParameterRecord {
                format: FORMAT,
                name: new.name.clone(),
                arn,
                versions: Vec::new(),
                tags: new.tags.clone(),
            },
        };
        if rec.versions.len() >= MAX_VERSIONS {
            if !rec.versions[0].labels.is_empty() {
                return Err(Error::MaxVersions(format!(
                    "You attempted to create a new version of {} by calling the PutParameter API with the overwrite flag. Version {}, the oldest version, can't be deleted because it has a label associated with it. Move the label to another version of the parameter, and try again.",
                    new.name, rec.versions[0].version
                )));
            }
            rec.versions.remove(0);
        }
        let version = rec.versions.last().map_or(1, |v| v.version + 1);
        rec.versions.push(Version {
            version,
            kind,
            value,
            key_id,
            description: new.description.or_else(|| {
                existing
                    .as_ref()
                    .and_then(|e| e.latest().description.clone())
            }),
            allowed_pattern: new.allowed_pattern,
            tier: tier.into(),
            data_type,
            labels: Vec::new(),
            modified: now_millis(),
            user: new.user,
        });
        let mut batch = nimbus_storage::WriteBatch::new();
        w.put(&mut batch, rec)?;
        self.kv.commit(batch)?;
        w.apply();
        Ok((version, tier.into()))
    }

    fn find(&self, r: &Reference) -> Result<Arc<ParameterRecord>> {
        r.names
            .iter()
            .find_map(|n| self.records.get(n))
            .ok_or_else(|| not_found(r.names.last().map_or("", String::as_str)))
    }

    fn shown(
        &self,
        p: &ParameterRecord,
        v: &Version,
        decrypt: bool,
        selector: Option<String>,
    ) -> Result<Shown> {
        let mut version = v.clone();
        if decrypt && v.kind == Kind::SecureString {
            let blob = B64
                .decode(&v.value)
                .map_err(|e| Error::Internal(format!("stored SecureString is not base64: {e}")))?;
            let (plain, _) = self
                .kms
                .decrypt(&blob, &Parameters::context(&p.arn), None)
                .map_err(|e| match e {
                    nimbus_kms::Error::Storage(_) | nimbus_kms::Error::Crypto(_) => {
                        Error::Internal(e.to_string())
                    }
                    e => Error::InvalidKeyId(e.to_string()),
                })?;
            version.value = String::from_utf8(plain)
                .map_err(|_| Error::Internal("stored SecureString is not UTF-8".into()))?;
        }
        Ok(Shown {
            name: p.name.clone(),
            arn: p.arn.clone(),
            version,
            selector,
        })
    }

    /// `GetParameter`: the latest version, or the one a selector names.
    pub fn get(&self, reference: &str, decrypt: bool) -> Result<Shown> {
        let r = name::parse_reference(reference)?;
        let p = self.find(&r)?;
        let v = match &r.selector {
            None => p.latest(),
            Some(Selector::Version(n)) => p.versions.iter().find(|v| v.version == *n).ok_or_else(|| {
                Error::VersionNotFound(format!(
                    "Systems Manager could not find version {n} of {}. Verify the version and try again.",
                    p.name
                ))
            })?,
            Some(Selector::Label(l)) => p
                .versions
                .iter()
                .find(|v| v.labels.contains(l))
                .ok_or_else(|| {
                    Error::VersionNotFound(format!(
                        "Systems Manager could not find label {l} of {}. Verify the label and try again.",
                        p.name
                    ))
                })?,
        };
        self.shown(&p, v, decrypt, r.selector.map(|s| s.to_string()))
    }

    /// `GetParameters`: those found, and the references that were not.
    pub fn get_many(
        &self,
        references: &[String],
        decrypt: bool,
    ) -> Result<(Vec<Shown>, Vec<String>)> {
        if references.is_empty() || references.len() > 10 {
            return Err(Error::Invalid(
                "1 validation error detected: Value at 'names' failed to satisfy constraint: Member must have length between 1 and 10".into(),
            ));
        }
        let mut found = Vec::new();
        let mut invalid = Vec::new();
        for r in references {
            match self.get(r, decrypt) {
                Ok(s) => found.push(s),
                Err(Error::NotFound(_) | Error::VersionNotFound(_) | Error::Invalid(_)) => {
                    invalid.push(r.clone());
                }
                Err(e) => return Err(e),
            }
        }
        Ok((found, invalid))
    }

    /// `GetParametersByPath`: the latest versions under `path`.
    pub fn by_path(
        &self,
        path: &str,
        recursive: bool,
        filters: &[Filter],
        decrypt: bool,
        max: Option<i64>,
        token: Option<&str>,
    ) -> Result<(Vec<Shown>, Option<String>)> {
        name::check_path(path)?;
        let max = check_max(max, 10)?;
        let mut matched = Vec::new();
        for p in self.records.all() {
            if !under(&p.name, path, recursive) {
                continue;
            }
            let v = p.latest();
            let mut ok = true;
            for f in filters {
                ok &= passes(&p, v, f, true)?;
            }
            if ok {
                matched.push(p);
            }
        }
        let (shown, next) = page(&matched, max, token)?;
        let out = shown
            .iter()
            .map(|p| self.shown(p, p.latest(), decrypt, None))
            .collect::<Result<Vec<_>>>()?;
        Ok((out, next))
    }

    /// `GetParameterHistory`: every version, oldest first.
    pub fn history(
        &self,
        reference: &str,
        decrypt: bool,
        max: Option<i64>,
        token: Option<&str>,
    ) -> Result<(Vec<Shown>, Option<String>)> {
        let r = name::parse_reference(reference)?;
        let p = self.find(&r)?;
        let max = check_max(max, 50)?;
        let (versions, next) = page(&p.versions, max, token)?;
        let out = versions
            .iter()
            .map(|v| self.shown(&p, v, decrypt, None))
            .collect::<Result<Vec<_>>>()?;
        Ok((out, next))
    }

    pub fn delete(&self, name: &str) -> Result<()> {
        match self.records.delete(name)? {
            Some(_) => Ok(()),
            None => Err(not_found(name)),
        }
    }

    /// `DeleteParameters`: the names deleted and those not found.
    pub fn delete_many(&self, names: &[String]) -> Result<(Vec<String>, Vec<String>)> {
        if names.is_empty() || names.len() > 10 {
            return Err(Error::Invalid(
                "1 validation error detected: Value at 'names' failed to satisfy constraint: Member must have length between 1 and 10".into(),
            ));
        }
        let mut deleted = Vec::new();
        let mut invalid = Vec::new();
        for n in names {
            match self.records.delete(n)? {
                Some(_) => deleted.push(n.clone()),
                None => invalid.push(n.clone()),
            }
        }
        Ok((deleted, invalid))
    }

    fn version_not_found(name: &str, v: u64) -> Error {
        Error::VersionNotFound(format!(
            "Systems Manager could not find version {v} of {name}. Verify the version and try again."
        ))
    }

    /// `LabelParameterVersion`: attach `labels` to `version` (default the
    /// latest), moving them from other versions. Answers the labels refused
    /// as malformed and the version labelled.
    pub fn label(
        &self,
        name: &str,
        version: Option<u64>,
        labels: &[String],
    ) -> Result<(Vec<String>, u64)> {
        if labels.is_empty() || labels.len() > MAX_LABELS {
            return Err(Error::Invalid(
                "1 validation error detected: Value at 'labels' failed to satisfy constraint: Member must have length between 1 and 10".into(),
            ));
        }
        let (good, invalid): (Vec<String>, Vec<String>) =
            labels.iter().cloned().partition(|l| name::valid_label(l));
        let r = name::parse_reference(name)?;
        let p = self.find(&r)?;
        let out = self.records.change(&p.name, |rec| {
            let n = version.unwrap_or(rec.latest().version);
            if !rec.versions.iter().any(|v| v.version == n) {
                return Err(Parameters::version_not_found(&rec.name, n));
            }
            for v in &mut rec.versions {
                v.labels.retain(|l| !good.contains(l));
            }
            let Some(v) = rec.versions.iter_mut().find(|v| v.version == n) else {
                return Err(Parameters::version_not_found(&rec.name, n));
            };
            for l in &good {
                v.labels.push(l.clone());
            }
            if v.labels.len() > MAX_LABELS {
                return Err(Error::LabelLimit(
                    "A parameter version can have maximum 10 labels.Move one or more labels to another version and try again.".into(),
                ));
            }
            Ok(n)
        })?;
        let (_, n) = out.ok_or_else(|| not_found(name))?;
        Ok((invalid, n))
    }

    /// `UnlabelParameterVersion`: the labels removed and those the version
    /// did not have.
    pub fn unlabel(
        &self,
        name: &str,
        version: u64,
        labels: &[String],
    ) -> Result<(Vec<String>, Vec<String>)> {
        let r = name::parse_reference(name)?;
        let p = self.find(&r)?;
        let out = self.records.change(&p.name, |rec| {
            let Some(v) = rec.versions.iter_mut().find(|v| v.version == version) else {
                return Err(Parameters::version_not_found(&p.name, version));
            };
            let (removed, invalid): (Vec<String>, Vec<String>) =
                labels.iter().cloned().partition(|l| v.labels.contains(l));
            v.labels.retain(|l| !removed.contains(l));
            Ok((removed, invalid))
        })?;
        out.map(|(_, r)| r).ok_or_else(|| not_found(name))
    }

    /// `DescribeParameters`: the latest version of each parameter passing
    /// every filter.
    pub fn describe(
        &self,
        filters: &[Filter],
        max: Option<i64>,
        token: Option<&str>,
    ) -> Result<(Vec<Arc<ParameterRecord>>, Option<String>)> {
        let max = check_max(max, 50)?;
        let mut matched = Vec::new();
        for p in self.records.all() {
            let mut ok = true;
            for f in filters {
                ok &= passes(&p, p.latest(), f, false)?;
            }
            if ok {
                matched.push(p);
            }
        }
        page(&matched, max, token)
    }

    fn tagged(&self, name: &str) -> Result<Arc<ParameterRecord>> {
        self.records.get(name).ok_or_else(|| {
            Error::InvalidResourceId(format!("The resource ID {name} is not valid."))
        })
    }

    pub fn add_tags(&self, name: &str, tags: Vec<Tag>) -> Result<()> {
        check_tags(&tags)?;
        self.tagged(name)?;
        self.records.change(name, |p| {
            for t in tags {
                match p.tags.iter_mut().find(|x| x.key == t.key) {
                    Some(x) => x.value = t.value,
                    None => p.tags.push(t),
                }
            }
            if p.tags.len() > 50 {
                return Err(Error::TooManyTags(
                    "A parameter can have at most 50 tags.".into(),
                ));
            }
            Ok(())
        })?;
        Ok(())
    }

    pub fn remove_tags(&self, name: &str, keys: &[String]) -> Result<()> {
        self.tagged(name)?;
        self.records.change(name, |p| {
            p.tags.retain(|t| !keys.contains(&t.key));
            Ok::<_, Error>(())
        })?;
        Ok(())
    }

    pub fn tags(&self, name: &str) -> Result<Vec<Tag>> {
        Ok(self.tagged(name)?.tags.clone())
    }
}
