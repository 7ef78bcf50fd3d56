//! The STS API in its query protocol (`https://sts.amazonaws.com/doc/2011-06-15/`):
//! `GetCallerIdentity`, `AssumeRole` and `GetSessionToken` over the identity
//! service's sessions ([`nimbus_iam::sts`]). The caller comes from the edge
//! as a [`Caller`] in the request's extensions; without one (in-process
//! calls) it is the account's root.

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use nimbus_api_common::query::{Form, Query};
use nimbus_api_common::xml::el;
use nimbus_api_common::{ApiError, BoxFuture, Caller, Service};
use nimbus_iam::{AssumeRoleInput, Error, Iam, Principal, TemporaryCredentials};
use std::sync::Arc;

/// STS's query-protocol framing.
pub const STS_QUERY: Query = Query {
    namespace: "https://sts.amazonaws.com/doc/2011-06-15/",
};

/// An STS operation, parsed from the form's `Action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    GetCallerIdentity,
    AssumeRole,
    GetSessionToken,
}

impl Operation {
    pub fn parse(action: &str) -> Option<Operation> {
        Some(match action {
            "GetCallerIdentity" => Operation::GetCallerIdentity,
            "AssumeRole" => Operation::AssumeRole,
            "GetSessionToken" => Operation::GetSessionToken,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Operation::GetCallerIdentity => "GetCallerIdentity",
            Operation::AssumeRole => "AssumeRole",
            Operation::GetSessionToken => "GetSessionToken",
        }
    }
}

/// An error of this API: the wire error, built only here.
#[derive(Debug)]
pub struct StsError(pub ApiError);

impl StsError {
    fn validation(message: impl Into<String>) -> StsError {
        StsError(ApiError::bad_request("ValidationError", message))
    }
}

impl From<Error> for StsError {
    fn from(e: Error) -> StsError {
        let m = e.to_string();
        let (status, code) = match e {
            Error::AccessDenied(_) => (StatusCode::FORBIDDEN, "AccessDenied"),
            Error::MalformedPolicyDocument(_) => {
                (StatusCode::BAD_REQUEST, "MalformedPolicyDocument")
            }
            Error::LimitExceeded(_) => (StatusCode::BAD_REQUEST, "PackedPolicyTooLarge"),
            Error::Validation(_) | Error::InvalidInput(_) => {
                (StatusCode::BAD_REQUEST, "ValidationError")
            }
            // A session policy ARN that names nothing.
            Error::NoSuchEntity(_) => (StatusCode::BAD_REQUEST, "ValidationError"),
            Error::EntityAlreadyExists(_)
            | Error::DeleteConflict(_)
            | Error::Unmodifiable(_)
            | Error::Storage(_)
            | Error::Random(_) => {
                tracing::error!(error = %m, "STS failed");
                return StsError(ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalFailure",
                    "The request processing has failed because of an unknown error.",
                ));
            }
        };
        StsError(ApiError::new(status, code, m))
    }
}

pub struct StsApi {
    iam: Arc<Iam>,
}

fn credentials(c: &TemporaryCredentials) -> String {
    format!(
        "<Credentials>{}{}{}{}</Credentials>",
        el("AccessKeyId", &c.access_key_id),
        el("SecretAccessKey", &c.secret_access_key),
        el("SessionToken", &c.session_token),
        el(
            "Expiration",
            &nimbus_model::time::Utc::from_millis(c.expiration).rfc3339_millis()
        ),
    )
}

impl StsApi {
    pub fn new(iam: Arc<Iam>) -> StsApi {
        StsApi { iam }
    }

    /// The owner of the caller's key: the root for the data directory's key
    /// (or no caller at all), else an IAM user or session. A key that no
    /// longer resolves (deleted since the edge checked it) is refused, never
    /// taken for the root.
    fn owner(&self, caller: Option<&Caller>) -> Result<(Principal, bool), StsError> {
        let Some(c) = caller else {
            return Ok((self.iam.root(), false));
        };
        if c.arn == format!("arn:aws:iam::{}:root", c.account) {
            return Ok((self.iam.root(), false));
        }
        let owner = self
            .iam
            .resolve_access_key(&c.access_key_id)
            .ok_or_else(|| {
                StsError(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "InvalidClientTokenId",
                    "The security token included in the request is invalid.",
                ))
            })?;
        Ok((owner.principal, owner.session.is_some()))
    }

    fn principal(&self, caller: Option<&Caller>) -> Result<Principal, StsError> {
        self.owner(caller).map(|(p, _)| p)
    }

    pub fn handle(&self, req: &Request<Bytes>, request_id: &str) -> Response<Bytes> {
        let form = Form::new(req.uri().query().unwrap_or(""), req.body());
        let Some(action) = form.get("Action") else {
            let e = ApiError::bad_request("MissingAction", "Missing Action");
            return STS_QUERY.error(&e, request_id);
        };
        let Some(op) = Operation::parse(action) else {
            let e = ApiError::bad_request(
                "InvalidAction",
                format!("Could not find operation {action} for version 2011-06-15"),
            );
            return STS_QUERY.error(&e, request_id);
        };
        // GetCallerIdentity and GetSessionToken need no permission (as on
        // AWS); AssumeRole needs sts:AssumeRole on the role besides its trust.
        if op == Operation::AssumeRole
            && let Err(d) = nimbus_api_common::authz::authorize(req.extensions(), |_| {
                vec![nimbus_api_common::authz::Access::new(
                    "sts:AssumeRole",
                    form.get("RoleArn").unwrap_or("*"),
                )]
            })
        {
            let e = ApiError::new(StatusCode::FORBIDDEN, "AccessDenied", d.message);
            return STS_QUERY.error(&e, request_id);
        }
        let caller = req.extensions().get::<Caller>();
        let out = match op {
            Operation::GetCallerIdentity => Ok(self.get_caller_identity(caller)),
            Operation::AssumeRole => self.assume_role(&form, caller),
            Operation::GetSessionToken => self.get_session_token(&form, caller),
        };
        match out {
            Ok(members) => STS_QUERY.respond(
                StatusCode::OK,
                STS_QUERY.document(op.name(), &members, request_id),
                request_id,
            ),
            Err(e) => STS_QUERY.error(&e.0, request_id),
        }
    }

    fn get_caller_identity(&self, caller: Option<&Caller>) -> String {
        let (user_id, account, arn) = match caller {
            Some(c) => (c.user_id.clone(), c.account.clone(), c.arn.clone()),
            None => {
                let root = self.iam.root();
                (root.user_id(), self.iam.account().to_string(), root.arn())
            }
        };
        format!(
            "{}{}{}",
            el("UserId", &user_id),
            el("Account", &account),
            el("Arn", &arn)
        )
    }

    fn assume_role(&self, f: &Form, caller: Option<&Caller>) -> Result<String, StsError> {
        let req = |n: &str| {
            f.get(n).ok_or_else(|| {
                StsError::validation(format!(
                    "1 validation error detected: Value null at '{}{}' failed to satisfy constraint: Member must not be null",
                    n[..1].to_lowercase(),
                    &n[1..]
                ))
            })
        };
        let duration = duration(f)?;
        let policy_arns = f
            .members("PolicyArns")
            .into_iter()
            .filter_map(|m| {
                m.iter()
                    .find(|(k, _)| *k == "arn")
                    .map(|(_, v)| v.to_string())
            })
            .collect();
        let a = self.iam.assume_role(
            &self.principal(caller)?,
            AssumeRoleInput {
                role_arn: req("RoleArn")?.to_string(),
                session_name: req("RoleSessionName")?.to_string(),
                duration_secs: duration,
                external_id: f.get("ExternalId").map(str::to_string),
                policy: f.get("Policy").map(str::to_string),
                policy_arns,
            },
        )?;
        let mut out = format!(
            "{}<AssumedRoleUser>{}{}</AssumedRoleUser>",
            credentials(&a.credentials),
            el("AssumedRoleId", &a.assumed_role_id),
            el("Arn", &a.arn)
        );
        if let Some(p) = a.packed_policy_size {
            out.push_str(&el("PackedPolicySize", &p.to_string()));
        }
        Ok(out)
    }

    fn get_session_token(&self, f: &Form, caller: Option<&Caller>) -> Result<String, StsError> {
        let (principal, in_session) = self.owner(caller)?;
        // As on AWS: temporary credentials cannot make more of themselves.
        if in_session {
            return Err(StsError(ApiError::new(
                StatusCode::FORBIDDEN,
                "AccessDenied",
                "Cannot call GetSessionToken with session credentials",
            )));
        }
        let c = self.iam.get_session_token(&principal, duration(f)?)?;
        Ok(credentials(&c))
    }
}

fn duration(f: &Form) -> Result<Option<u32>, StsError> {
    f.get("DurationSeconds")
        .map(|d| {
            d.parse::<u32>().map_err(|_| {
                StsError::validation(format!(
                    "1 validation error detected: Value '{d}' at 'durationSeconds' failed to satisfy constraint: Member must be a number"
                ))
            })
        })
        .transpose()
}

impl Service for StsApi {
    fn signing_name(&self) -> &'static str {
        "sts"
    }

    /// STS is found by its signature's scope only.
    fn owns(&self, _req: &http::request::Parts) -> bool {
        false
    }

    fn handle(&self, req: Request<Bytes>, request_id: String) -> BoxFuture<'_, Response<Bytes>> {
        Box::pin(async move { StsApi::handle(self, &req, &request_id) })
    }

    fn error(&self, err: &ApiError, request_id: &str) -> Response<Bytes> {
        let code = match err.code.as_str() {
            "UnrecognizedClientException" => "InvalidClientTokenId",
            "ExpiredTokenException" => "ExpiredToken",
            "InvalidSignatureException" => "SignatureDoesNotMatch",
            "IncompleteSignatureException" => "IncompleteSignature",
            "MissingAuthenticationTokenException" => "MissingAuthenticationToken",
            other => other,
        };
        STS_QUERY.error(&err.clone().with_query_code(code), request_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nimbus_api_common::xml;

    const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"x-1"}}}]}"#;

    fn setup() -> (tempfile::TempDir, Arc<Iam>, StsApi) {
        let dir = tempfile::tempdir().unwrap();
        let kv: Arc<dyn nimbus_storage::KvEngine> =
            Arc::new(nimbus_storage_embedded::EmbeddedKv::open(&dir.path().join("kv")).unwrap());
        let iam = Arc::new(Iam::open(kv, "000000000000").unwrap());
        (dir, iam.clone(), StsApi::new(iam))
    }

    fn call(api: &StsApi, body: &str, caller: Option<Caller>) -> (u16, xml::Element) {
        let mut req = Request::new(Bytes::from(body.to_string()));
        if let Some(c) = caller {
            req.extensions_mut().insert(c);
        }
        let r = api.handle(&req, "rid");
        (r.status().as_u16(), xml::parse(r.body()).unwrap())
    }

    #[test]
    fn assume_role_and_caller_identity() {
        let (_d, iam, api) = setup();
        iam.create_role(nimbus_iam::NewRole {
            name: "ops".into(),
            trust: TRUST.into(),
            ..Default::default()
        })
        .unwrap();
        let (s, doc) = call(&api, "Action=GetCallerIdentity", None);
        assert_eq!(s, 200);
        let r = doc.child("GetCallerIdentityResult").unwrap();
        assert_eq!(r.child_text("Arn"), Some("arn:aws:iam::000000000000:root"));
        assert_eq!(r.child_text("UserId"), Some("000000000000"));
        let base = "Action=AssumeRole&RoleArn=arn%3Aaws%3Aiam%3A%3A000000000000%3Arole%2Fops&RoleSessionName=s1";
        let (s, doc) = call(&api, base, None);
        assert_eq!(s, 403);
        assert_eq!(
            doc.child("Error").unwrap().child_text("Code"),
            Some("AccessDenied")
        );
        let (s, doc) = call(
            &api,
            &format!("{base}&ExternalId=x-1&DurationSeconds=900"),
            None,
        );
        assert_eq!(s, 200, "{doc:?}");
        let r = doc.child("AssumeRoleResult").unwrap();
        let c = r.child("Credentials").unwrap();
        assert!(c.child_text("AccessKeyId").unwrap().starts_with("ASIA"));
        assert_eq!(
            r.child("AssumedRoleUser").unwrap().child_text("Arn"),
            Some("arn:aws:sts::000000000000:assumed-role/ops/s1")
        );
        let (s, doc) = call(
            &api,
            &format!("{base}&ExternalId=x-1&DurationSeconds=60"),
            None,
        );
        assert_eq!(s, 400);
        assert_eq!(
            doc.child("Error").unwrap().child_text("Code"),
            Some("ValidationError")
        );
        let (s, doc) = call(&api, "Action=GetSessionToken", None);
        assert_eq!(s, 200);
        assert!(
            doc.child("GetSessionTokenResult")
                .unwrap()
                .child("Credentials")
                .is_some()
        );
        let (s, _) = call(&api, "Action=AssumeRoleWithSAML", None);
        assert_eq!(s, 400);
    }
}
