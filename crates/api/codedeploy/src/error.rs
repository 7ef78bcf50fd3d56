//! CodeDeploy's wire errors: each is a 400 with its own code.

use nimbus_api_common::ApiError;

pub struct CodeDeployError(pub ApiError);

impl CodeDeployError {
    pub fn new(code: &str, message: impl Into<String>) -> CodeDeployError {
        CodeDeployError(ApiError::bad_request(code, message))
    }

    /// A required name the request left out: CodeDeploy has a code for each.
    pub fn required(what: &str) -> CodeDeployError {
        let code = match what {
            "applicationName" => "ApplicationNameRequiredException",
            "deploymentGroupName" | "currentDeploymentGroupName" => {
                "DeploymentGroupNameRequiredException"
            }
            "deploymentConfigName" => "DeploymentConfigNameRequiredException",
            "deploymentId" => "DeploymentIdRequiredException",
            "serviceRoleArn" => "RoleRequiredException",
            "revision" => "RevisionRequiredException",
            "lifecycleEventHookExecutionId" => "InvalidLifecycleEventHookExecutionIdException",
            _ => "InvalidInputException",
        };
        CodeDeployError::new(code, format!("The {what} is required"))
    }

    pub fn no_application(name: &str) -> CodeDeployError {
        CodeDeployError::new(
            "ApplicationDoesNotExistException",
            format!("No application found for name: {name}"),
        )
    }

    pub fn no_group(name: &str) -> CodeDeployError {
        CodeDeployError::new(
            "DeploymentGroupDoesNotExistException",
            format!("No Deployment Group found for name: {name}"),
        )
    }

    pub fn no_config(name: &str) -> CodeDeployError {
        CodeDeployError::new(
            "DeploymentConfigDoesNotExistException",
            format!("No deployment configuration found for name: {name}"),
        )
    }

    pub fn no_deployment(id: &str) -> CodeDeployError {
        CodeDeployError::new(
            "DeploymentDoesNotExistException",
            format!("The deployment {id} could not be found"),
        )
    }
}

impl From<nimbus_storage::Error> for CodeDeployError {
    fn from(e: nimbus_storage::Error) -> CodeDeployError {
        tracing::error!(error = %e, "CodeDeploy store failed");
        CodeDeployError(ApiError::new(
            http::StatusCode::INTERNAL_SERVER_ERROR,
            "InternalFailure",
            "An error occurred on the server side.",
        ))
    }
}
