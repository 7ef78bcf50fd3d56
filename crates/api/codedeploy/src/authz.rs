//! CodeDeploy's operations as IAM actions (`codedeploy:<Operation>`) on its
//! ARNs: `application:NAME`, `deploymentgroup:APPLICATION/GROUP` (also for
//! a group's deployments) and `deploymentconfig:NAME`. Listing operations
//! and `PutLifecycleEventHookExecutionStatus` are not resource-scoped.

use crate::Operation;
use nimbus_api_common::authz::{Access, Scope};
use serde_json::Value;

/// The application and group of a deployment, by id.
pub type DeploymentOf<'a> = &'a dyn Fn(&str) -> Option<(String, String)>;

pub fn access(op: Operation, params: &Value, scope: &Scope, of: DeploymentOf<'_>) -> Vec<Access> {
    use Operation::*;
    let action = format!("codedeploy:{}", op.name());
    let s = |k: &str| params.get(k).and_then(Value::as_str).unwrap_or_default();
    let group =
        |app: &str, group: &str| scope.arn("codedeploy", &format!("deploymentgroup:{app}/{group}"));
    let resource = match op {
        CreateApplication | GetApplication | DeleteApplication | ListDeploymentGroups => scope.arn(
            "codedeploy",
            &format!("application:{}", s("applicationName")),
        ),
        CreateDeploymentGroup
        | GetDeploymentGroup
        | DeleteDeploymentGroup
        | CreateDeployment
        | ListDeployments => group(s("applicationName"), s("deploymentGroupName")),
        UpdateDeploymentGroup => group(s("applicationName"), s("currentDeploymentGroupName")),
        CreateDeploymentConfig | GetDeploymentConfig | DeleteDeploymentConfig => scope.arn(
            "codedeploy",
            &format!("deploymentconfig:{}", s("deploymentConfigName")),
        ),
        GetDeployment | StopDeployment => match of(s("deploymentId")) {
            Some((app, g)) => group(&app, &g),
            None => return vec![Access::any(action)],
        },
        ListApplications | ListDeploymentConfigs | PutLifecycleEventHookExecutionStatus => {
            return vec![Access::any(action)];
        }
    };
    vec![Access::new(action, resource)]
}
