//! The CloudFormation API in its query protocol (`Action=CreateStack&...`
//! forms, XML answers in `http://cloudformation.amazonaws.com/doc/2010-05-15/`):
//! each request becomes an [`Operation`]; templates are read by
//! `nimbus-templates`, stacks kept in [`store`], and [`deploy`] creates and
//! deletes their resources in the background, wave by wave.
//!
//! Resources are made by in-process AWS API calls through [`Calls`], carrying
//! the extensions of the request that asked (its `Caller`, `SourceIp` and
//! authorizer): each API authorizes each call as the stack's creator, as
//! CloudFormation acts with its caller's permissions. Change sets, updates
//! and their rollbacks, and the SAM transform (in `nimbus-templates`) are
//! described in `docs/adr/0017-templates.md`.

pub mod authz;
mod change_sets;
mod deploy;
pub mod error;
mod operations;
mod providers;
mod shapes;
pub mod store;

pub use error::CfnError;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use nimbus_api_common::query::{Form, Query};
use nimbus_api_common::{ApiError, BoxFuture, Service};
use std::sync::Arc;
use store::Stacks;

/// CloudFormation's query-protocol framing.
pub const CFN_QUERY: Query = Query {
    namespace: "http://cloudformation.amazonaws.com/doc/2010-05-15/",
};

/// The seam to the other APIs (see [`nimbus_api_common::Calls`]).
pub use nimbus_api_common::Calls;

/// Where `TemplateURL`s are read: Nimbus's own S3. The server implements
/// it over the object store; the caller's `s3:GetObject` is checked here.
pub trait TemplateObjects: Send + Sync {
    /// The object's bytes, or why not.
    fn get(&self, bucket: &str, key: &str) -> Result<Vec<u8>, String>;
}

macro_rules! operations {
    ($($op:ident),* $(,)?) => {
        /// The operations this API serves.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Operation { $($op),* }

        impl Operation {
            pub fn parse(action: &str) -> Option<Operation> {
                match action {
                    $(stringify!($op) => Some(Operation::$op),)*
                    _ => None,
                }
            }

            pub fn name(self) -> &'static str {
                match self { $(Operation::$op => stringify!($op)),* }
            }
        }
    };
}

operations!(
    ValidateTemplate,
    GetTemplateSummary,
    CreateStack,
    UpdateStack,
    DescribeStacks,
    DescribeStackEvents,
    DescribeStackResource,
    DescribeStackResources,
    ListStackResources,
    ListStacks,
    GetTemplate,
    DeleteStack,
    ListExports,
    CreateChangeSet,
    DescribeChangeSet,
    ExecuteChangeSet,
    DeleteChangeSet,
    ListChangeSets,
    RollbackStack,
);

/// The account and region stacks live in.
#[derive(Debug, Clone)]
pub struct Identity {
    pub account: String,
    pub region: String,
}

pub struct CloudFormationApi {
    stacks: Arc<Stacks>,
    calls: Arc<dyn Calls>,
    identity: Identity,
    objects: Option<Arc<dyn TemplateObjects>>,
}

impl CloudFormationApi {
    pub fn new(stacks: Arc<Stacks>, calls: Arc<dyn Calls>, identity: Identity) -> Self {
        CloudFormationApi {
            stacks,
            calls,
            identity,
            objects: None,
        }
    }

    /// Read `TemplateURL`s from `objects`.
    #[must_use]
    pub fn with_template_objects(mut self, objects: Arc<dyn TemplateObjects>) -> Self {
        self.objects = Some(objects);
        self
    }

    /// Finish the deployments a restart interrupted (see
    /// [`deploy::resume`]), authorized by `authorizer` as the edge would
    /// authorize their callers. Call once, when the server starts.
    pub fn resume(
        &self,
        authorizer: Option<&Arc<dyn nimbus_api_common::authz::Authorizer>>,
    ) -> usize {
        let d = deploy::Deployer {
            stacks: self.stacks.clone(),
            calls: self.calls.clone(),
            identity: self.identity.clone(),
            extensions: http::Extensions::new(),
        };
        deploy::resume(&d, authorizer)
    }

    /// Answer one request (a form in the query string or body).
    pub fn handle(&self, req: &Request<Bytes>, request_id: &str) -> Response<Bytes> {
        self.handle_starting(req, request_id, &deploy::Started::default())
    }

    /// Answer one request; a deployment it starts is kept in `started`.
    fn handle_starting(
        &self,
        req: &Request<Bytes>,
        request_id: &str,
        started: &deploy::Started,
    ) -> Response<Bytes> {
        let form = Form::new(req.uri().query().unwrap_or(""), req.body());
        let Some(action) = form.get("Action") else {
            let e = ApiError::bad_request("MissingAction", "Missing Action");
            return CFN_QUERY.error(&e, request_id);
        };
        let Some(op) = Operation::parse(action) else {
            let e = ApiError::bad_request(
                "InvalidAction",
                format!("Could not find operation {action} for version 2010-05-15"),
            );
            return CFN_QUERY.error(&e, request_id);
        };
        if let Err(d) =
            nimbus_api_common::authz::authorize(req.extensions(), |s| authz::access(op, &form, s))
        {
            let e = ApiError::new(StatusCode::FORBIDDEN, "AccessDenied", d.message);
            return CFN_QUERY.error(&e, request_id);
        }
        // The deployer acts with this request's extensions and endpoint.
        let mut ext = req.extensions().clone();
        if let Some(h) = req.headers().get("host").and_then(|v| v.to_str().ok()) {
            ext.insert(providers::OriginHost(h.to_string()));
        }
        ext.insert(started.clone());
        match self.execute(op, &form, &ext) {
            Ok(members) => CFN_QUERY.respond(
                StatusCode::OK,
                document(op, &members, request_id),
                request_id,
            ),
            Err(e) => CFN_QUERY.error(&e.0, request_id),
        }
    }
}

/// The answer document. An operation whose output shape has no members
/// still answers an empty result element, which botocore reads.
fn document(op: Operation, members: &str, request_id: &str) -> String {
    let doc = CFN_QUERY.document(op.name(), members, request_id);
    if !members.is_empty()
        || !matches!(op, Operation::ExecuteChangeSet | Operation::DeleteChangeSet)
    {
        return doc;
    }
    let opening = format!("<{}Response xmlns=\"{}\">", op.name(), CFN_QUERY.namespace);
    doc.replacen(&opening, &format!("{opening}<{}Result/>", op.name()), 1)
}

/// How long an answer that started a deployment waits for it to finish.
const QUICK_DEPLOYMENT: std::time::Duration = std::time::Duration::from_secs(2);

impl Service for CloudFormationApi {
    fn signing_name(&self) -> &'static str {
        "cloudformation"
    }

    /// CloudFormation is found by its signature's scope only.
    fn owns(&self, _req: &http::request::Parts) -> bool {
        false
    }

    fn handle(&self, req: Request<Bytes>, request_id: String) -> BoxFuture<'_, Response<Bytes>> {
        Box::pin(async move {
            let started = deploy::Started::default();
            let answer = self.handle_starting(&req, &request_id, &started);
            // A deployment that finishes quickly is finished before the answer,
            // so that a client's first look (waiters poll every 5 to 30 s)
            // finds it done; a longer one goes on in the background.
            if let Some(task) = started.take() {
                let _ = tokio::time::timeout(QUICK_DEPLOYMENT, task).await;
            }
            answer
        })
    }

    fn error(&self, err: &ApiError, request_id: &str) -> Response<Bytes> {
        CFN_QUERY.error(&error::from_edge(err), request_id)
    }
}

#[cfg(test)]
mod tests;
