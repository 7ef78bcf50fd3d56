//! Whether API Gateway may invoke a function for an API. As on AWS, it acts
//! as `apigateway.amazonaws.com` for the API's `execute-api` ARN, which only
//! the function's resource policy can allow (`aws lambda add-permission
//! --principal apigateway.amazonaws.com --source-arn ...`), unless the
//! integration names a role to invoke with (`CredentialsArn`), whose own
//! policies must then allow `lambda:InvokeFunction`. Not for authorizing the
//! callers of an API: that is the routes' authorizers' job.

use nimbus_invoke::permissions::{self, Acting, Permissions};
use nimbus_model::Identity;

/// The principal API Gateway acts as.
const APIGATEWAY_PRINCIPAL: &str = "apigateway.amazonaws.com";

/// The session name a role is assumed under for an integration.
const SESSION: &str = "apigateway";

/// `arn:aws:execute-api:REGION:ACCOUNT:API_ID/TAIL`: `TAIL` is
/// `STAGE/METHOD/PATH` for a route, `STAGE/$default` for an HTTP API's
/// `$default` route, `authorizers/ID` for an authorizer.
pub fn execute_api_arn(identity: &Identity, api_id: &str, tail: &str) -> String {
    format!(
        "arn:aws:execute-api:{}:{}:{api_id}/{tail}",
        identity.region, identity.account_id
    )
}

/// What API Gateway is about to invoke, and for what.
pub struct Invoking<'a> {
    pub function: &'a str,
    pub qualifier: Option<&'a str>,
    /// The `execute-api` ARN of the route or authorizer.
    pub source_arn: &'a str,
    /// The integration's role, if it names one.
    pub credentials: Option<&'a str>,
}

/// Whether API Gateway may make the invocation (`None` permissions: IAM is
/// off, it may). A refusal is logged here: the caller only sees API
/// Gateway's 500, as on AWS.
pub fn may_invoke(
    permissions: Option<&dyn Permissions>,
    identity: &Identity,
    what: &Invoking<'_>,
) -> bool {
    let mut function = identity.function_arn(what.function);
    if let Some(q) = what.qualifier {
        function = format!("{function}:{q}");
    }
    let acting = match what.credentials {
        Some(role_arn) => Acting::Role {
            role_arn,
            session: SESSION,
        },
        None => Acting::Service {
            service: APIGATEWAY_PRINCIPAL,
            source_arn: what.source_arn,
            source_account: &identity.account_id,
        },
    };
    match permissions::check(permissions, acting, "lambda:InvokeFunction", &function) {
        Ok(()) => true,
        Err(denied) => {
            tracing::warn!(
                function = %function,
                source_arn = what.source_arn,
                reason = %denied,
                "API Gateway does not have permission to invoke the function"
            );
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nimbus_invoke::permissions::NotPermitted;

    /// Allows API Gateway only for `abc/prod/*`, and the role `r`.
    struct OnlyProd;

    impl Permissions for OnlyProd {
        fn check(&self, acting: Acting<'_>, _: &str, _: &str) -> Result<(), NotPermitted> {
            let ok = match acting {
                Acting::Service { source_arn, .. } => source_arn.contains(":abc/prod/"),
                Acting::Role { role_arn, .. } => role_arn.ends_with(":role/r"),
            };
            if ok {
                Ok(())
            } else {
                Err(NotPermitted("no".into()))
            }
        }
    }

    #[test]
    fn the_source_arn_or_the_role_decides() {
        let id = Identity {
            account_id: "000000000000".into(),
            region: "us-east-1".into(),
        };
        let prod = execute_api_arn(&id, "abc", "prod/GET/items/1");
        assert_eq!(
            prod,
            "arn:aws:execute-api:us-east-1:000000000000:abc/prod/GET/items/1"
        );
        let dev = execute_api_arn(&id, "abc", "dev/GET/items/1");
        let call = |source_arn: &str, credentials| {
            let what = Invoking {
                function: "f",
                qualifier: None,
                source_arn,
                credentials,
            };
            may_invoke(Some(&OnlyProd), &id, &what)
        };
        assert!(call(&prod, None));
        assert!(!call(&dev, None));
        assert!(call(&dev, Some("arn:aws:iam::000000000000:role/r")));
        assert!(!call(&prod, Some("arn:aws:iam::000000000000:role/other")));
        let what = Invoking {
            function: "f",
            qualifier: None,
            source_arn: &dev,
            credentials: None,
        };
        assert!(may_invoke(None, &id, &what), "IAM off: allowed");
    }
}
