//! API Gateway's management operations as IAM sees them: the HTTP method as
//! the action (`apigateway:GET`, `apigateway:POST`, ...) on the resource's
//! path (`arn:aws:apigateway:us-east-1::/apis/a1b2c3/routes`, without v2's
//! `/v2` prefix), as API Gateway's authorization reference names them.

use nimbus_api_common::authz::{Access, Scope};

/// What a management request (`method` on `path`) asks of IAM.
pub fn access(method: &http::Method, path: &str, scope: &Scope) -> Vec<Access> {
    let path = path.strip_prefix("/v2").unwrap_or(path);
    let path = path.trim_end_matches('/');
    vec![Access::new(
        format!("apigateway:{}", method.as_str()),
        format!("arn:aws:apigateway:{}::{path}", scope.region),
    )]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_are_actions_on_paths() {
        let s = Scope::new("000000000000", "us-east-1");
        assert_eq!(
            access(&http::Method::POST, "/v2/apis/abc/routes", &s),
            [Access::new(
                "apigateway:POST",
                "arn:aws:apigateway:us-east-1::/apis/abc/routes"
            )]
        );
        assert_eq!(
            access(&http::Method::GET, "/restapis/x/", &s)[0].resource,
            "arn:aws:apigateway:us-east-1::/restapis/x"
        );
    }
}
