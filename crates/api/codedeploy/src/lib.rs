//! The CodeDeploy API in its JSON protocol (`X-Amz-Target:
//! CodeDeploy_20141006.<Operation>`, `application/x-amz-json-1.1`), for the
//! Lambda compute platform: applications, deployment groups, deployment
//! configurations (CodeDeploy's predefined canary, linear and all-at-once
//! ones, and custom ones), and deployments of an AppSpec that moves a
//! function's alias from one version to another. [`runner`] shifts the
//! alias's traffic in the configuration's steps through Lambda's own API (as
//! the deployment's creator, through the `Calls` seam), running the
//! `BeforeAllowTraffic` and `AfterAllowTraffic` hooks, which answer with
//! `PutLifecycleEventHookExecutionStatus`; a failed hook or a stop rolls the
//! traffic back. CloudFormation deploys an alias with an `UpdatePolicy` of
//! `CodeDeployLambdaAliasUpdate` through it, as SAM's
//! `DeploymentPreference` asks. A group's enabled `alarmConfiguration` is
//! watched while a deployment runs: one of its CloudWatch alarms in `ALARM`
//! stops the deployment (`ALARM_ACTIVE`) and rolls the traffic back.

pub mod authz;
pub mod configs;
mod error;
mod operations;
mod runner;
pub mod store;

pub use error::CodeDeployError;

use bytes::Bytes;
use http::{Request, Response};
use nimbus_api_common::json::AwsJson;
use nimbus_api_common::{ApiError, BoxFuture, Calls, Service};
use std::sync::Arc;

/// CodeDeploy's awsJson framing.
pub const CODEDEPLOY_JSON: AwsJson = AwsJson {
    target_prefixes: &["CodeDeploy_20141006"],
    error_namespace: "",
    content_type: "application/x-amz-json-1.1",
    crc32: false,
};

macro_rules! operations {
    ($($op:ident),* $(,)?) => {
        /// A CodeDeploy operation, parsed from `X-Amz-Target`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Operation { $($op),* }

        impl Operation {
            pub fn parse(name: &str) -> Option<Operation> {
                match name {
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

operations! {
    CreateApplication, GetApplication, DeleteApplication, ListApplications,
    CreateDeploymentGroup, GetDeploymentGroup, UpdateDeploymentGroup, DeleteDeploymentGroup,
    ListDeploymentGroups, CreateDeploymentConfig, GetDeploymentConfig, DeleteDeploymentConfig,
    ListDeploymentConfigs, CreateDeployment, GetDeployment, ListDeployments, StopDeployment,
    PutLifecycleEventHookExecutionStatus,
}

/// What the API and its deployments share.
pub(crate) struct Inner {
    pub store: store::Store,
    pub calls: Arc<dyn Calls>,
}

pub struct CodeDeployApi {
    inner: Arc<Inner>,
}

impl CodeDeployApi {
    pub fn new(
        kv: Arc<dyn nimbus_storage::KvEngine>,
        calls: Arc<dyn Calls>,
    ) -> nimbus_storage::Result<CodeDeployApi> {
        Ok(CodeDeployApi {
            inner: Arc::new(Inner {
                store: store::Store::open(kv)?,
                calls,
            }),
        })
    }

    /// Deployments a restart interrupted: failed, their traffic rolled back
    /// to the version they started from, as their creator. How many.
    pub fn resume(
        &self,
        authorizer: Option<&Arc<dyn nimbus_api_common::authz::Authorizer>>,
    ) -> usize {
        runner::resume(&self.inner, authorizer)
    }

    /// Answer one request.
    pub async fn handle(&self, req: Request<Bytes>, request_id: &str) -> Response<Bytes> {
        let call = match CODEDEPLOY_JSON.call(&req) {
            Ok(c) => c,
            Err(e) => return CODEDEPLOY_JSON.error(&e, request_id),
        };
        let Some(op) = Operation::parse(&call.operation) else {
            let e = ApiError::bad_request(
                "UnknownOperationException",
                format!("Unknown operation {}", call.operation),
            );
            return CODEDEPLOY_JSON.error(&e, request_id);
        };
        let inner = &self.inner;
        if let Err(d) = nimbus_api_common::authz::authorize(req.extensions(), |s| {
            authz::access(op, &call.params, s, &|id| {
                inner
                    .store
                    .deployments
                    .get(id)
                    .map(|d| (d.application.clone(), d.group.clone()))
            })
        }) {
            let e = ApiError::new(
                http::StatusCode::BAD_REQUEST,
                "AccessDeniedException",
                d.message,
            );
            return CODEDEPLOY_JSON.error(&e, request_id);
        }
        match operations::execute(&self.inner, op, &call.params, req.extensions()) {
            Ok(v) => CODEDEPLOY_JSON.respond(&v, request_id),
            Err(e) => CODEDEPLOY_JSON.error(&e.0, request_id),
        }
    }
}

impl Service for CodeDeployApi {
    fn signing_name(&self) -> &'static str {
        "codedeploy"
    }

    fn owns(&self, req: &http::request::Parts) -> bool {
        CODEDEPLOY_JSON.owns_request(req)
    }

    fn handle(&self, req: Request<Bytes>, request_id: String) -> BoxFuture<'_, Response<Bytes>> {
        Box::pin(async move { CodeDeployApi::handle(self, req, &request_id).await })
    }

    fn error(&self, err: &ApiError, request_id: &str) -> Response<Bytes> {
        CODEDEPLOY_JSON.error(err, request_id)
    }
}

#[cfg(test)]
mod tests;
