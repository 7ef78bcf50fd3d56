//! Function URLs (`CreateFunctionUrlConfig` and the rest) and resource-based
//! policies (`AddPermission`, `GetPolicy`, `RemovePermission`): Lambda
//! resources, stored beside the functions. The HTTP side of a function URL is
//! served by the `gateway` crate, which looks configurations up by URL id.

use crate::{Error, Functions, Result};
use nimbus_storage::{Table, WriteBatch};

/// `name\0qualifier` -> [`UrlConfig`], and `#id\0<url id>` -> `name\0qualifier`.
const URLS: Table = Table("function_urls");
/// `name\0qualifier` -> the policy's statements (JSON array).
const POLICIES: Table = Table("function_policies");

pub use nimbus_model::UrlConfig;

/// Create or update input (`None`: keep, or the default on create).
#[derive(Debug, Clone, Default)]
pub struct UrlInput {
    pub auth_type: Option<String>,
    pub invoke_mode: Option<String>,
    pub cors: Option<Option<serde_json::Value>>,
}

fn url_key(name: &str, qualifier: Option<&str>) -> Vec<u8> {
    format!("{name}\0{}", qualifier.unwrap_or("")).into_bytes()
}

fn id_key(id: &str) -> Vec<u8> {
    format!("#id\0{id}").into_bytes()
}

fn check(input: &UrlInput) -> Result<()> {
    if let Some(a) = &input.auth_type
        && !matches!(a.as_str(), "NONE" | "AWS_IAM")
    {
        return Err(Error::InvalidParameter(format!(
            "1 validation error detected: Value '{a}' at 'authType' failed to satisfy constraint: Member must satisfy enum value set: [NONE, AWS_IAM]"
        )));
    }
    if let Some(m) = &input.invoke_mode
        && !matches!(m.as_str(), "BUFFERED" | "RESPONSE_STREAM")
    {
        return Err(Error::InvalidParameter(format!(
            "1 validation error detected: Value '{m}' at 'invokeMode' failed to satisfy constraint: Member must satisfy enum value set: [RESPONSE_STREAM, BUFFERED]"
        )));
    }
    Ok(())
}

fn decode<T: serde::de::DeserializeOwned>(b: &[u8]) -> Result<T> {
    serde_json::from_slice(b).map_err(|e| Error::Internal(e.to_string()))
}

impl Functions {
    fn url_target(&self, name: &str, qualifier: Option<&str>) -> Result<()> {
        match qualifier {
            None => {
                self.get(name)?;
            }
            Some(q) if q.bytes().all(|b| b.is_ascii_digit()) || q == "$LATEST" => {
                return Err(Error::InvalidParameter(
                    "Function URLs can only be created for the unqualified function or an alias"
                        .into(),
                ));
            }
            Some(q) => {
                self.resolve(name, Some(q))?;
            }
        }
        Ok(())
    }

    pub fn create_url(
        &self,
        name: &str,
        qualifier: Option<&str>,
        input: UrlInput,
    ) -> Result<UrlConfig> {
        check(&input)?;
        self.url_target(name, qualifier)?;
        if self.kv.get(URLS, &url_key(name, qualifier))?.is_some() {
            return Err(Error::Conflict(format!(
                "Failed to create function url config for [functionArn = {}]. Error message:  FunctionUrlConfig exists for this Lambda function",
                self.identity.function_arn(name)
            )));
        }
        let now = nimbus_model::time::now_millis();
        // Lambda's URL ids are 32 lower-case letters and digits.
        let url_id: String = uuid::Uuid::new_v4().simple().to_string();
        let cfg = UrlConfig {
            url_id: url_id.clone(),
            function_name: name.to_string(),
            qualifier: qualifier.map(str::to_string),
            auth_type: input.auth_type.ok_or_else(|| {
                Error::InvalidParameter(
                    "1 validation error detected: Value null at 'authType' failed to satisfy constraint: Member must not be null".into(),
                )
            })?,
            invoke_mode: input.invoke_mode.unwrap_or_else(|| "BUFFERED".into()),
            cors: input.cors.flatten(),
            created_ms: now,
            modified_ms: now,
        };
        let mut b = WriteBatch::new();
        b.put(
            URLS,
            url_key(name, qualifier),
            serde_json::to_vec(&cfg).map_err(|e| Error::Internal(e.to_string()))?,
        );
        b.put(URLS, id_key(&url_id), url_key(name, qualifier));
        self.kv.commit(b)?;
        Ok(cfg)
    }

    pub fn get_url(&self, name: &str, qualifier: Option<&str>) -> Result<UrlConfig> {
        self.url_target(name, qualifier)?;
        let v = self
            .kv
            .get(URLS, &url_key(name, qualifier))?
            .ok_or_else(|| Error::NotFound("The resource you requested does not exist.".into()))?;
        decode(&v)
    }

    pub fn update_url(
        &self,
        name: &str,
        qualifier: Option<&str>,
        input: UrlInput,
    ) -> Result<UrlConfig> {
        check(&input)?;
        let mut cfg = self.get_url(name, qualifier)?;
        if let Some(a) = input.auth_type {
            cfg.auth_type = a;
        }
        if let Some(m) = input.invoke_mode {
            cfg.invoke_mode = m;
        }
        if let Some(c) = input.cors {
            cfg.cors = c;
        }
        cfg.modified_ms = nimbus_model::time::now_millis();
        let mut b = WriteBatch::new();
        b.put(
            URLS,
            url_key(name, qualifier),
            serde_json::to_vec(&cfg).map_err(|e| Error::Internal(e.to_string()))?,
        );
        self.kv.commit(b)?;
        self.forget_cached_urls();
        Ok(cfg)
    }

    pub fn delete_url(&self, name: &str, qualifier: Option<&str>) -> Result<()> {
        let cfg = self.get_url(name, qualifier)?;
        let mut b = WriteBatch::new();
        b.delete(URLS, url_key(name, qualifier));
        b.delete(URLS, id_key(&cfg.url_id));
        self.kv.commit(b)?;
        self.forget_cached_urls();
        Ok(())
    }

    pub fn list_urls(&self, name: &str) -> Result<Vec<UrlConfig>> {
        self.get(name)?;
        let mut out = Vec::new();
        for (_, v) in self.kv.scan_prefix(URLS, format!("{name}\0").as_bytes())? {
            out.push(decode(&v)?);
        }
        Ok(out)
    }

    /// The configuration a URL id names (for serving requests; cached).
    pub fn url_config_by_id(&self, url_id: &str) -> Result<Option<UrlConfig>> {
        if let Some(c) = self.url_cache.lock().expect("url cache").get(url_id) {
            return Ok(Some(c.clone()));
        }
        let Some(k) = self.kv.get(URLS, &id_key(url_id))? else {
            return Ok(None);
        };
        let Some(v) = self.kv.get(URLS, &k)? else {
            return Ok(None);
        };
        let cfg: UrlConfig = decode(&v)?;
        self.url_cache
            .lock()
            .expect("url cache")
            .insert(url_id.to_string(), cfg.clone());
        Ok(Some(cfg))
    }

    /// A deleted function takes its URLs and policy with it.
    pub(crate) fn forget_function_resources(&self, name: &str) -> Result<()> {
        let mut b = WriteBatch::new();
        let prefix = format!("{name}\0");
        for (k, v) in self.kv.scan_prefix(URLS, prefix.as_bytes())? {
            let cfg: UrlConfig = decode(&v)?;
            b.delete(URLS, k);
            b.delete(URLS, id_key(&cfg.url_id));
        }
        for (k, _) in self.kv.scan_prefix(POLICIES, prefix.as_bytes())? {
            b.delete(POLICIES, k);
        }
        if !b.is_empty() {
            self.kv.commit(b)?;
        }
        self.forget_cached_urls();
        Ok(())
    }

    fn forget_cached_urls(&self) {
        self.url_cache.lock().expect("url cache").clear();
    }

    /// `AddPermission`: add a statement to the function's resource policy
    /// (what the platform's IAM consults for service principals and other
    /// callers); returns the statement.
    pub fn add_permission(
        &self,
        name: &str,
        qualifier: Option<&str>,
        grant: &Grant<'_>,
    ) -> Result<serde_json::Value> {
        let rec = self.resolve(name, qualifier)?;
        // Read, change, write: one policy change at a time, or two concurrent
        // grants would each write the policy without the other's statement.
        let _one = POLICY_WRITES.lock().unwrap_or_else(|p| p.into_inner());
        let mut statements = self.policy_statements(name, qualifier)?;
        let statement_id = grant.statement_id;
        if statements.iter().any(|s| s["Sid"] == statement_id) {
            return Err(Error::Conflict(format!(
                "The statement id ({statement_id}) provided already exists. Please provide a new statement id, or remove the existing statement."
            )));
        }
        let mut resource = self.identity.function_arn(&rec.name);
        if let Some(q) = qualifier {
            resource = format!("{resource}:{q}");
        }
        let st = grant.statement(&resource);
        statements.push(st.clone());
        self.write_statements(name, qualifier, &statements)?;
        Ok(st)
    }

    /// Store a function's policy statements (none: the policy is gone).
    fn write_statements(
        &self,
        name: &str,
        qualifier: Option<&str>,
        statements: &[serde_json::Value],
    ) -> Result<()> {
        let mut b = WriteBatch::new();
        if statements.is_empty() {
            b.delete(POLICIES, url_key(name, qualifier));
        } else {
            b.put(
                POLICIES,
                url_key(name, qualifier),
                serde_json::to_vec(statements).map_err(|e| Error::Internal(e.to_string()))?,
            );
        }
        self.kv.commit(b)?;
        Ok(())
    }

    pub fn policy_statements(
        &self,
        name: &str,
        qualifier: Option<&str>,
    ) -> Result<Vec<serde_json::Value>> {
        self.resolve(name, qualifier)?;
        match self.kv.get(POLICIES, &url_key(name, qualifier))? {
            Some(v) => decode(&v),
            None => Ok(Vec::new()),
        }
    }

    /// `PutResourcePolicy` / `DeleteResourcePolicy`: the function's statements replaced
    /// whole (none: the policy is gone), after `check` accepts the current ones.
    pub fn replace_policy(
        &self,
        name: &str,
        qualifier: Option<&str>,
        statements: Vec<serde_json::Value>,
        check: impl FnOnce(&[serde_json::Value]) -> Result<()>,
    ) -> Result<Vec<serde_json::Value>> {
        let _one = POLICY_WRITES.lock().unwrap_or_else(|p| p.into_inner());
        let current = self.policy_statements(name, qualifier)?;
        check(&current)?;
        self.write_statements(name, qualifier, &statements)?;
        Ok(statements)
    }

    pub fn remove_permission(
        &self,
        name: &str,
        qualifier: Option<&str>,
        statement_id: &str,
    ) -> Result<()> {
        let _one = POLICY_WRITES.lock().unwrap_or_else(|p| p.into_inner());
        let mut statements = self.policy_statements(name, qualifier)?;
        let before = statements.len();
        statements.retain(|s| s["Sid"] != statement_id);
        if statements.len() == before {
            return Err(Error::NotFound(format!(
                "Statement {statement_id} is not found in resource policy."
            )));
        }
        self.write_statements(name, qualifier, &statements)
    }
}

/// Serializes changes to functions' resource policies (each a read, a change
/// and a write of one record).
static POLICY_WRITES: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// What `AddPermission` grants: `action` to `principal` (a service, an
/// account, an ARN or `*`), narrowed by the request's optional conditions.
#[derive(Debug, Default)]
pub struct Grant<'a> {
    pub statement_id: &'a str,
    pub action: &'a str,
    pub principal: &'a str,
    /// The resource the service acts for (`aws:SourceArn`, matched with
    /// `ArnLike` as Lambda writes it).
    pub source_arn: Option<&'a str>,
    /// The account that owns that resource (`aws:SourceAccount`).
    pub source_account: Option<&'a str>,
    /// Only function URL requests of this auth type (`NONE`, `AWS_IAM`).
    pub function_url_auth_type: Option<&'a str>,
    /// Only invocations through a function URL (`lambda:InvokeFunction`).
    pub invoked_via_function_url: bool,
}

impl Grant<'_> {
    /// The policy statement Lambda writes for this grant on `resource`.
    fn statement(&self, resource: &str) -> serde_json::Value {
        let principal = if self.principal == "*" {
            serde_json::json!("*")
        } else if self.principal.contains('.') {
            serde_json::json!({ "Service": self.principal })
        } else {
            serde_json::json!({ "AWS": self.principal })
        };
        let mut st = serde_json::json!({
            "Sid": self.statement_id, "Effect": "Allow", "Principal": principal,
            "Action": self.action, "Resource": resource,
        });
        let mut equals = serde_json::Map::new();
        if let Some(a) = self.source_account {
            equals.insert("AWS:SourceAccount".into(), a.into());
        }
        if let Some(t) = self.function_url_auth_type {
            equals.insert("lambda:FunctionUrlAuthType".into(), t.into());
        }
        let mut condition = serde_json::Map::new();
        if !equals.is_empty() {
            condition.insert("StringEquals".into(), equals.into());
        }
        if self.invoked_via_function_url {
            condition.insert(
                "Bool".into(),
                serde_json::json!({ "lambda:InvokedViaFunctionUrl": "true" }),
            );
        }
        if let Some(s) = self.source_arn {
            condition.insert("ArnLike".into(), serde_json::json!({ "AWS:SourceArn": s }));
        }
        if !condition.is_empty() {
            st["Condition"] = condition.into();
        }
        st
    }
}

impl nimbus_invoke::FunctionUrls for Functions {
    fn url_by_id(&self, url_id: &str) -> Option<UrlConfig> {
        self.url_config_by_id(url_id).unwrap_or_else(|e| {
            tracing::error!(url_id, error = %e, "read a function URL configuration failed");
            None
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Grant;
    use serde_json::json;

    #[test]
    fn grants_become_the_statements_lambda_writes() {
        let f = "arn:aws:lambda:us-east-1:000000000000:function:f";
        let s3 = Grant {
            statement_id: "s3",
            action: "lambda:InvokeFunction",
            principal: "s3.amazonaws.com",
            source_arn: Some("arn:aws:s3:::b"),
            source_account: Some("000000000000"),
            ..Grant::default()
        };
        assert_eq!(
            s3.statement(f),
            json!({"Sid": "s3", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
                   "Action": "lambda:InvokeFunction", "Resource": f,
                   "Condition": {"StringEquals": {"AWS:SourceAccount": "000000000000"},
                                 "ArnLike": {"AWS:SourceArn": "arn:aws:s3:::b"}}})
        );
        let public = Grant {
            statement_id: "url",
            action: "lambda:InvokeFunction",
            principal: "*",
            invoked_via_function_url: true,
            ..Grant::default()
        };
        let st = public.statement(f);
        assert_eq!(st["Principal"], "*");
        assert_eq!(
            st["Condition"],
            json!({"Bool": {"lambda:InvokedViaFunctionUrl": "true"}})
        );
        let user = Grant {
            statement_id: "u",
            action: "lambda:InvokeFunctionUrl",
            principal: "arn:aws:iam::000000000000:user/u",
            function_url_auth_type: Some("AWS_IAM"),
            ..Grant::default()
        };
        let st = user.statement(f);
        assert_eq!(
            st["Principal"],
            json!({"AWS": "arn:aws:iam::000000000000:user/u"})
        );
        assert_eq!(
            st["Condition"],
            json!({"StringEquals": {"lambda:FunctionUrlAuthType": "AWS_IAM"}})
        );
    }
}
