//! Whether a role's trust policy lets a principal assume it: the trust policy
//! evaluated by the policy crate (`nimbus_policy::trusts`) for
//! `sts:AssumeRole`, with the request's `sts:ExternalId` and the caller's
//! keys (`aws:PrincipalArn`, `aws:PrincipalAccount`, ...) in the context.

use crate::Principal;

/// The caller as the policy crate names principals.
pub(crate) fn policy_principal(p: &Principal) -> Option<nimbus_policy::Principal> {
    match p {
        Principal::Root { account } => Some(nimbus_policy::Principal::root(account)),
        Principal::User { arn, .. } | Principal::AssumedRole { arn, .. } => {
            nimbus_policy::Principal::from_arn(arn)
        }
        Principal::Service(s) => Some(nimbus_policy::Principal::service(s)),
    }
}

/// Whether `trust_doc` allows `caller` to call `sts:AssumeRole`, with
/// `external_id` as the request's `ExternalId`.
pub fn trust_allows(trust_doc: &str, caller: &Principal, external_id: Option<&str>) -> bool {
    let Ok(trust) = nimbus_policy::parse_as(trust_doc, nimbus_policy::ParseKind::Trust) else {
        return false;
    };
    let Some(principal) = policy_principal(caller) else {
        return false;
    };
    let mut ctx = nimbus_policy::Context::new("sts:AssumeRole", "*", principal);
    if let Some(id) = external_id {
        ctx.insert("sts:ExternalId", id);
    }
    nimbus_policy::trusts(&trust, &ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> Principal {
        Principal::User {
            arn: "arn:aws:iam::000000000000:user/alice".into(),
            name: "alice".into(),
            id: "AIDAEXAMPLE".into(),
            account: "000000000000".into(),
        }
    }

    fn doc(principal: &str, extra: &str) -> String {
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{principal},"Action":"sts:AssumeRole"{extra}}}]}}"#
        )
    }

    #[test]
    fn principals_match_by_arn_account_root_and_service() {
        let root = Principal::Root {
            account: "000000000000".into(),
        };
        let lambda = Principal::Service("lambda.amazonaws.com".into());
        for p in [
            r#"{"AWS":"arn:aws:iam::000000000000:root"}"#,
            r#"{"AWS":"000000000000"}"#,
            r#"{"AWS":["arn:aws:iam::000000000000:user/alice"]}"#,
            r#""*""#,
        ] {
            assert!(trust_allows(&doc(p, ""), &user(), None), "{p}");
        }
        assert!(trust_allows(
            &doc(r#"{"AWS":"000000000000"}"#, ""),
            &root,
            None
        ));
        assert!(!trust_allows(
            &doc(r#"{"AWS":"111111111111"}"#, ""),
            &user(),
            None
        ));
        assert!(!trust_allows(
            &doc(r#"{"AWS":"arn:aws:iam::000000000000:user/bob"}"#, ""),
            &user(),
            None
        ));
        let svc = doc(r#"{"Service":"lambda.amazonaws.com"}"#, "");
        assert!(trust_allows(&svc, &lambda, None));
        assert!(!trust_allows(&svc, &user(), None));
        assert!(!trust_allows(
            &doc(r#"{"AWS":"000000000000"}"#, ""),
            &lambda,
            None
        ));
        let session = Principal::AssumedRole {
            arn: "arn:aws:sts::000000000000:assumed-role/r/s".into(),
            role_arn: "arn:aws:iam::000000000000:role/r".into(),
            role_name: "r".into(),
            role_id: "AROAX".into(),
            session_name: "s".into(),
            account: "000000000000".into(),
        };
        assert!(trust_allows(
            &doc(r#"{"AWS":"arn:aws:iam::000000000000:role/r"}"#, ""),
            &session,
            None
        ));
    }

    #[test]
    fn external_ids_actions_and_denies() {
        let d = doc(
            r#"{"AWS":"000000000000"}"#,
            r#","Condition":{"StringEquals":{"sts:ExternalId":"secret-1"}}"#,
        );
        assert!(trust_allows(&d, &user(), Some("secret-1")));
        assert!(!trust_allows(&d, &user(), Some("other")));
        assert!(!trust_allows(&d, &user(), None));
        let wrong_action =
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRoleWithSAML"}}"#;
        assert!(!trust_allows(wrong_action, &user(), None));
        let star = r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"sts:*"}}"#;
        assert!(trust_allows(star, &user(), None));
        let denied = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"},{"Effect":"Deny","Principal":{"AWS":"arn:aws:iam::000000000000:user/alice"},"Action":"*"}]}"#;
        assert!(!trust_allows(denied, &user(), None));
        let unknown = doc(
            r#""*""#,
            r#","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}"#,
        );
        assert!(!trust_allows(&unknown, &user(), None));
        assert!(!trust_allows("{", &user(), None));
    }
}
