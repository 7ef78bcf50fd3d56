//! Lambda's operations as IAM actions (`lambda:<Action>`) on function ARNs
//! (qualified when the request names a version or alias, as Lambda's
//! authorization reference says), event source mapping ARNs, or `*`.
//! Creating a function, or giving it another role, also passes that role.
//! Layer operations act on the layer's ARN (`PublishLayerVersion`) or the
//! layer version's (`arn:...:layer:NAME:VERSION`); listing acts on `*`.
//! Giving a function layers needs `lambda:GetLayerVersion` on each version;
//! code from S3 needs `s3:GetObject` on the object.

use crate::Operation;
use nimbus_api_common::authz::{Access, Scope, pass_role};

fn function_arn(scope: &Scope, name: &str, qualifier: Option<&str>) -> String {
    match qualifier {
        Some(q) => scope.arn("lambda", &format!("function:{name}:{q}")),
        None => scope.arn("lambda", &format!("function:{name}")),
    }
}

/// A function that uses layers must be allowed to read each layer version.
fn uses_layers(arns: &[String]) -> impl Iterator<Item = Access> + '_ {
    arns.iter()
        .map(|arn| Access::new("lambda:GetLayerVersion", arn.clone()))
}

/// Code from S3 is read as the caller: it needs `s3:GetObject` on the object.
fn reads_object(at: &nimbus_functions::code::S3Code) -> Access {
    Access::new(
        "s3:GetObject",
        format!("arn:aws:s3:::{}/{}", at.bucket, at.key),
    )
}

/// What invoking `name` (at `qualifier`) asks of IAM.
pub fn invoke_access(name: &str, qualifier: Option<&str>, scope: &Scope) -> Vec<Access> {
    vec![Access::new(
        "lambda:InvokeFunction",
        function_arn(scope, name, qualifier),
    )]
}

/// What `op` asks of IAM.
pub fn access(op: &Operation, scope: &Scope) -> Vec<Access> {
    use Operation::*;
    let on = |action: &str, name: &str, q: Option<&str>| {
        vec![Access::new(
            format!("lambda:{action}"),
            function_arn(scope, name, q),
        )]
    };
    let mapping = |action: &str, uuid: &str| {
        vec![Access::new(
            format!("lambda:{action}"),
            scope.arn("lambda", &format!("event-source-mapping:{uuid}")),
        )]
    };
    let layer = |action: &str, name: &str, version: Option<u32>| {
        let resource = match version {
            Some(v) => scope.arn("lambda", &format!("layer:{name}:{v}")),
            None => scope.arn("lambda", &format!("layer:{name}")),
        };
        vec![Access::new(format!("lambda:{action}"), resource)]
    };
    match op {
        CreateFunction(f, _) => {
            let mut a = on("CreateFunction", &f.name, None);
            request_tags(&mut a, &f.tags);
            a.push(pass_role(&f.role));
            a.extend(uses_layers(&f.layers));
            a.extend(f.s3.as_ref().map(reads_object));
            a
        }
        TagResource { name, tags } => {
            let mut a = on("TagResource", name, None);
            request_tags(&mut a, tags);
            a
        }
        UntagResource { name, keys } => {
            let mut a = on("UntagResource", name, None);
            nimbus_api_common::authz::removed_tag_keys(&mut a, keys);
            a
        }
        ListTags { name } => on("ListTags", name, None),
        PublishVersion { name, .. } => on("PublishVersion", name, None),
        ListVersionsByFunction { name, .. } => on("ListVersionsByFunction", name, None),
        CreateAlias { name, .. } => on("CreateAlias", name, None),
        GetAlias { name, alias } => on("GetAlias", name, Some(alias)),
        UpdateAlias { name, input } => on("UpdateAlias", name, Some(&input.name)),
        DeleteAlias { name, alias } => on("DeleteAlias", name, Some(alias)),
        ListAliases { name } => on("ListAliases", name, None),
        PutProvisionedConcurrencyConfig {
            name, qualifier, ..
        } => on("PutProvisionedConcurrencyConfig", name, Some(qualifier)),
        GetProvisionedConcurrencyConfig { name, qualifier } => {
            on("GetProvisionedConcurrencyConfig", name, Some(qualifier))
        }
        DeleteProvisionedConcurrencyConfig { name, qualifier } => {
            on("DeleteProvisionedConcurrencyConfig", name, Some(qualifier))
        }
        ListProvisionedConcurrencyConfigs { name } => {
            on("ListProvisionedConcurrencyConfigs", name, None)
        }
        GetFunction { name, qualifier } => on("GetFunction", name, qualifier.as_deref()),
        GetFunctionConfiguration { name, qualifier } => {
            on("GetFunctionConfiguration", name, qualifier.as_deref())
        }
        ListFunctions { .. } => vec![Access::any("lambda:ListFunctions")],
        UpdateFunctionCode { name, update, .. } => {
            let mut a = on("UpdateFunctionCode", name, None);
            a.extend(update.s3.as_ref().map(reads_object));
            a
        }
        UpdateFunctionConfiguration { name, update } => {
            let mut a = on("UpdateFunctionConfiguration", name, None);
            if let Some(role) = &update.role {
                a.push(pass_role(role));
            }
            a.extend(uses_layers(update.layers.as_deref().unwrap_or_default()));
            a
        }
        DeleteFunction { name, qualifier } => on("DeleteFunction", name, qualifier.as_deref()),
        Invoke(r) | InvokeAsync(r) => invoke_access(&r.function, r.qualifier.as_deref(), scope),
        PutFunctionRecursionConfig { name, .. } => on("PutFunctionRecursionConfig", name, None),
        CreateCodeSigningConfig(_) => vec![Access::any("lambda:CreateCodeSigningConfig")],
        ListCodeSigningConfigs { .. } => vec![Access::any("lambda:ListCodeSigningConfigs")],
        GetCodeSigningConfig { arn } => {
            vec![Access::new("lambda:GetCodeSigningConfig", arn.clone())]
        }
        UpdateCodeSigningConfig { arn, .. } => {
            vec![Access::new("lambda:UpdateCodeSigningConfig", arn.clone())]
        }
        DeleteCodeSigningConfig { arn } => {
            vec![Access::new("lambda:DeleteCodeSigningConfig", arn.clone())]
        }
        ListFunctionsByCodeSigningConfig { arn, .. } => {
            vec![Access::new(
                "lambda:ListFunctionsByCodeSigningConfig",
                arn.clone(),
            )]
        }
        PutFunctionCodeSigningConfig { name, .. } => on("PutFunctionCodeSigningConfig", name, None),
        GetFunctionCodeSigningConfig { name } => on("GetFunctionCodeSigningConfig", name, None),
        DeleteFunctionCodeSigningConfig { name } => {
            on("DeleteFunctionCodeSigningConfig", name, None)
        }
        GetFunctionRecursionConfig { name } => on("GetFunctionRecursionConfig", name, None),
        PutRuntimeManagementConfig {
            name, qualifier, ..
        } => on("PutRuntimeManagementConfig", name, qualifier.as_deref()),
        GetRuntimeManagementConfig { name, qualifier } => {
            on("GetRuntimeManagementConfig", name, qualifier.as_deref())
        }
        GetAccountSettings => vec![Access::any("lambda:GetAccountSettings")],
        PutFunctionConcurrency { name, .. } => on("PutFunctionConcurrency", name, None),
        GetFunctionConcurrency { name } => on("GetFunctionConcurrency", name, None),
        DeleteFunctionConcurrency { name } => on("DeleteFunctionConcurrency", name, None),
        PutFunctionEventInvokeConfig { name, .. } => on("PutFunctionEventInvokeConfig", name, None),
        GetFunctionEventInvokeConfig { name } => on("GetFunctionEventInvokeConfig", name, None),
        DeleteFunctionEventInvokeConfig { name } => {
            on("DeleteFunctionEventInvokeConfig", name, None)
        }
        ListFunctionEventInvokeConfigs { name } => on("ListFunctionEventInvokeConfigs", name, None),
        CreateEventSourceMapping(_) => vec![Access::any("lambda:CreateEventSourceMapping")],
        GetEventSourceMapping(uuid) => mapping("GetEventSourceMapping", uuid),
        UpdateEventSourceMapping(uuid, _) => mapping("UpdateEventSourceMapping", uuid),
        DeleteEventSourceMapping(uuid) => mapping("DeleteEventSourceMapping", uuid),
        ListEventSourceMappings { .. } => vec![Access::any("lambda:ListEventSourceMappings")],
        PublishLayerVersion(p) => {
            let mut a = layer("PublishLayerVersion", &p.name, None);
            a.extend(p.s3.as_ref().map(reads_object));
            a
        }
        GetLayerVersion { name, version } => layer("GetLayerVersion", name, Some(*version)),
        ListLayers(_) => vec![Access::any("lambda:ListLayers")],
        ListLayerVersions { .. } => vec![Access::any("lambda:ListLayerVersions")],
        DeleteLayerVersion { name, version } => layer("DeleteLayerVersion", name, Some(*version)),
        AddLayerVersionPermission { name, version, .. } => {
            layer("AddLayerVersionPermission", name, Some(*version))
        }
        RemoveLayerVersionPermission { name, version, .. } => {
            layer("RemoveLayerVersionPermission", name, Some(*version))
        }
        GetLayerVersionPolicy { name, version } => {
            layer("GetLayerVersionPolicy", name, Some(*version))
        }
    }
}

/// What a function URL or permission request (`urls::handle`'s paths) asks
/// of IAM; `None` for a path that is not one of them.
pub fn url_access(
    method: &http::Method,
    path: &str,
    qualifier: Option<&str>,
    scope: &Scope,
) -> Option<Vec<Access>> {
    use http::Method;
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    // As the handler reads it: percent-decoded; a name, a partial ARN or a
    // full ARN, maybe ending in `:QUALIFIER`.
    let raw = String::from_utf8(nimbus_api_common::sigv4::percent_decode(segments.get(2)?)).ok()?;
    let rest = raw.split_once("function:").map_or(raw.as_str(), |(_, r)| r);
    let (name, in_name) = match rest.split_once(':') {
        Some((n, q)) => (n, Some(q)),
        None => (rest, None),
    };
    let qualifier = qualifier.or(in_name);
    let action = match (method, segments.as_slice()) {
        (&Method::POST, [_, "functions", _, "url"]) => "CreateFunctionUrlConfig",
        (&Method::GET, [_, "functions", _, "url"]) => "GetFunctionUrlConfig",
        (&Method::PUT, [_, "functions", _, "url"]) => "UpdateFunctionUrlConfig",
        (&Method::DELETE, [_, "functions", _, "url"]) => "DeleteFunctionUrlConfig",
        (&Method::GET, [_, "functions", _, "urls"]) => "ListFunctionUrlConfigs",
        (&Method::POST, [_, "functions", _, "policy"]) => "AddPermission",
        (&Method::GET, [_, "functions", _, "policy"]) => "GetPolicy",
        (&Method::DELETE, [_, "functions", _, "policy", _]) => "RemovePermission",
        (&Method::GET, [_, "resource-policy", _]) => "GetResourcePolicy",
        (&Method::PUT, [_, "resource-policy", _]) => "PutResourcePolicy",
        (&Method::DELETE, [_, "resource-policy", _]) => "DeleteResourcePolicy",
        _ => return None,
    };
    Some(vec![Access::new(
        format!("lambda:{action}"),
        function_arn(scope, name, qualifier),
    )])
}

/// A map of tags as the condition keys of a request setting them.
fn request_tags(access: &mut [Access], tags: &std::collections::BTreeMap<String, String>) {
    let tags: Vec<(String, String)> = tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    nimbus_api_common::authz::request_tags(access, &tags);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invocations_name_the_qualified_function() {
        let s = Scope::new("000000000000", "us-east-1");
        let op = Operation::GetFunction {
            name: "f".into(),
            qualifier: Some("live".into()),
        };
        assert_eq!(
            access(&op, &s),
            [Access::new(
                "lambda:GetFunction",
                "arn:aws:lambda:us-east-1:000000000000:function:f:live"
            )]
        );
        let urls = url_access(
            &http::Method::POST,
            "/2015-03-31/functions/arn:aws:lambda:us-east-1:000000000000:function:f/policy",
            None,
            &s,
        )
        .unwrap();
        assert_eq!(
            urls,
            [Access::new(
                "lambda:AddPermission",
                "arn:aws:lambda:us-east-1:000000000000:function:f"
            )]
        );
        assert!(url_access(&http::Method::GET, "/2015-03-31/nothing", None, &s).is_none());
    }

    #[test]
    fn code_from_s3_and_layers_are_checked_on_create() {
        let s = Scope::new("000000000000", "us-east-1");
        let layer = "arn:aws:lambda:us-east-1:000000000000:layer:deps:2".to_string();
        let op = Operation::CreateFunction(
            nimbus_functions::CreateFunction {
                name: "f".into(),
                role: "arn:aws:iam::000000000000:role/r".into(),
                layers: vec![layer.clone()],
                s3: Some(nimbus_functions::code::S3Code {
                    bucket: "b".into(),
                    key: "k/app.zip".into(),
                    version: None,
                }),
                ..Default::default()
            },
            false,
        );
        let a = access(&op, &s);
        assert!(a.contains(&Access::new("lambda:GetLayerVersion", layer)));
        assert!(a.contains(&Access::new("s3:GetObject", "arn:aws:s3:::b/k/app.zip")));
    }

    #[test]
    fn layer_operations_name_the_layer_or_its_version() {
        let s = Scope::new("000000000000", "us-east-1");
        let get = Operation::GetLayerVersion {
            name: "deps".into(),
            version: 3,
        };
        assert_eq!(
            access(&get, &s),
            [Access::new(
                "lambda:GetLayerVersion",
                "arn:aws:lambda:us-east-1:000000000000:layer:deps:3"
            )]
        );
        let publish = Operation::PublishLayerVersion(nimbus_functions::layers::PublishLayer {
            name: "deps".into(),
            ..Default::default()
        });
        assert_eq!(
            access(&publish, &s),
            [Access::new(
                "lambda:PublishLayerVersion",
                "arn:aws:lambda:us-east-1:000000000000:layer:deps"
            )]
        );
    }
}
