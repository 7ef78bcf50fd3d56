//! Layers (`/2018-10-31/layers`): publish, read, list, delete layer versions,
//! and their permission statements.

use crate::*;
use nimbus_functions::layers::{LayerGrant, LayerRecord, PublishLayer};

/// Lambda lists at most 50 layers or layer versions per page.
const LAYER_PAGE: usize = 50;

/// Does this path belong to the layer operations?
pub(crate) const PREFIX: &str = "/2018-10-31/layers";

#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ContentIn {
    zip_file: Option<String>,
    #[serde(rename = "S3Bucket")]
    s3_bucket: Option<String>,
    #[serde(rename = "S3Key")]
    s3_key: Option<String>,
    #[serde(rename = "S3ObjectVersion")]
    s3_object_version: Option<String>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PublishIn {
    content: Option<ContentIn>,
    description: Option<String>,
    compatible_runtimes: Option<Vec<String>>,
    compatible_architectures: Option<Vec<String>>,
    license_info: Option<String>,
}

fn null(field: &str) -> ApiError {
    error::validation(format!(
        "1 validation error detected: Value null at '{field}' failed to satisfy constraint: Member must not be null"
    ))
}

/// A layer named in the path: a name, or the layer's ARN.
fn layer_name(raw: &str, identity: &nimbus_model::Identity) -> Result<String, ApiError> {
    let decoded = decode(raw)?;
    let name = match decoded.split_once(":layer:") {
        Some((prefix, name)) if decoded.starts_with("arn:") => {
            if format!("{prefix}:layer:") != identity.layer_arn("") {
                return Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    "ResourceNotFoundException",
                    "The resource you requested does not exist.",
                ));
            }
            name.to_string()
        }
        _ => decoded,
    };
    if !nimbus_functions::layers::is_valid_layer_name(&name) {
        return Err(error::validation(format!(
            "1 validation error detected: Value '{name}' at 'layerName' failed to satisfy constraint: \
             Member must satisfy regular expression pattern: (arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\\d{{12}}:layer:[a-zA-Z0-9-_]+)|[a-zA-Z0-9-_]+"
        )));
    }
    Ok(name)
}

fn version_number(raw: &str) -> Result<u32, ApiError> {
    raw.parse::<u32>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| invalid(format!("VersionNumber must be a positive number: {raw}")))
}

fn max_items(query: &str) -> Result<usize, ApiError> {
    match query_param(query, "MaxItems") {
        Some(m) => m
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=LAYER_PAGE).contains(n))
            .ok_or_else(|| error::validation(format!(
                "1 validation error detected: Value '{m}' at 'maxItems' failed to satisfy constraint: Member must have value between 1 and {LAYER_PAGE}"
            ))),
        None => Ok(LAYER_PAGE),
    }
}

/// The filters and page of `ListLayers` and `ListLayerVersions`.
#[derive(Debug, Default)]
pub struct ListFilter {
    pub runtime: Option<String>,
    pub architecture: Option<String>,
    pub marker: Option<String>,
    pub max_items: usize,
}

fn list_filter(query: &str) -> Result<ListFilter, ApiError> {
    Ok(ListFilter {
        runtime: query_param(query, "CompatibleRuntime"),
        architecture: query_param(query, "CompatibleArchitecture"),
        marker: query_param(query, "Marker"),
        max_items: max_items(query)?,
    })
}

fn publish_input(name: String, body: &Bytes) -> Result<PublishLayer, ApiError> {
    let input: PublishIn = json_body(body)?;
    let content = input.content.ok_or_else(|| null("content"))?;
    let (zip, s3) = code_source(
        content.zip_file.as_deref(),
        content.s3_bucket,
        content.s3_key,
        content.s3_object_version,
    )?;
    Ok(PublishLayer {
        name,
        description: input.description,
        zip,
        compatible_runtimes: input.compatible_runtimes.unwrap_or_default(),
        compatible_architectures: input.compatible_architectures.unwrap_or_default(),
        license_info: input.license_info,
        s3,
    })
}

fn grant(body: &Bytes, query: &str) -> Result<LayerGrant, ApiError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| error::bad_json(&e))?;
    let field = |n: &str, wire: &str| {
        v.get(n)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| null(wire))
    };
    Ok(LayerGrant {
        statement_id: field("StatementId", "statementId")?,
        action: field("Action", "action")?,
        principal: field("Principal", "principal")?,
        organization_id: v
            .get("OrganizationId")
            .and_then(Value::as_str)
            .map(str::to_string),
        revision_id: query_param(query, "RevisionId"),
    })
}

/// Parse a request under `/2018-10-31/layers`.
pub(crate) fn parse(
    req: &Request<Bytes>,
    rest: &[&str],
    identity: &nimbus_model::Identity,
) -> Result<Operation, ApiError> {
    let query = req.uri().query().unwrap_or("");
    let body = req.body();
    match (req.method(), rest) {
        (&Method::GET, []) if query_param(query, "find").as_deref() == Some("LayerVersion") => {
            let arn = query_param(query, "Arn").ok_or_else(|| null("arn"))?;
            let (name, version) = arn
                .rsplit_once(':')
                .filter(|_| nimbus_functions::layers::is_layer_version_arn(&arn))
                .ok_or_else(|| {
                    error::validation(format!(
                        "1 validation error detected: Value '{arn}' at 'arn' failed to satisfy constraint: \
                         Member must satisfy regular expression pattern: (arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\\d{{12}}:layer:[a-zA-Z0-9-_]+:[0-9]+)|(arn:[a-zA-Z0-9-]+:lambda:::awslayer:[a-zA-Z0-9-_]+)"
                    ))
                })?;
            Ok(Operation::GetLayerVersion {
                name: layer_name(name, identity)?,
                version: version_number(version)?,
            })
        }
        (&Method::GET, []) => Ok(Operation::ListLayers(list_filter(query)?)),
        (&Method::POST, [raw, "versions"]) => Ok(Operation::PublishLayerVersion(publish_input(
            layer_name(raw, identity)?,
            body,
        )?)),
        (&Method::GET, [raw, "versions"]) => Ok(Operation::ListLayerVersions {
            name: layer_name(raw, identity)?,
            filter: list_filter(query)?,
        }),
        (method, [raw, "versions", n, tail @ ..]) => {
            let name = layer_name(raw, identity)?;
            let version = version_number(n)?;
            match (method, tail) {
                (&Method::GET, []) => Ok(Operation::GetLayerVersion { name, version }),
                (&Method::DELETE, []) => Ok(Operation::DeleteLayerVersion { name, version }),
                (&Method::POST, ["policy"]) => Ok(Operation::AddLayerVersionPermission {
                    name,
                    version,
                    grant: grant(body, query)?,
                }),
                (&Method::GET, ["policy"]) => {
                    Ok(Operation::GetLayerVersionPolicy { name, version })
                }
                (&Method::DELETE, ["policy", sid]) => Ok(Operation::RemoveLayerVersionPermission {
                    name,
                    version,
                    statement_id: decode(sid)?,
                    revision_id: query_param(query, "RevisionId"),
                }),
                _ => Err(not_found(req)),
            }
        }
        _ => Err(not_found(req)),
    }
}

impl LambdaApi {
    /// `LayerVersionsListItem`.
    fn layer_version_item(&self, rec: &LayerRecord) -> Value {
        let mut v = json!({
            "LayerVersionArn": self.functions.layer_version_arn(rec),
            "Version": rec.version,
            "Description": rec.description,
            "CreatedDate": nimbus_model::time::Utc::from_millis(rec.created_ms).lambda_timestamp(),
        });
        if !rec.compatible_runtimes.is_empty() {
            v["CompatibleRuntimes"] = json!(rec.compatible_runtimes);
        }
        if !rec.compatible_architectures.is_empty() {
            v["CompatibleArchitectures"] = json!(rec.compatible_architectures);
        }
        if let Some(l) = &rec.license_info {
            v["LicenseInfo"] = json!(l);
        }
        v
    }

    /// `GetLayerVersionResponse` / `PublishLayerVersionResponse`.
    fn layer_version(&self, rec: &LayerRecord) -> Value {
        let mut v = self.layer_version_item(rec);
        v["LayerArn"] = json!(self.functions.identity().layer_arn(&rec.name));
        v["Content"] = json!({
            "Location": format!(
                "{}/_nimbus/code/{}",
                self.functions.exec_config().endpoint_url,
                rec.code.digest
            ),
            "CodeSha256": rec.code.sha256_b64,
            "CodeSize": rec.code.size,
        });
        v
    }

    pub(crate) async fn execute_layer(&self, op: Operation) -> Result<Response<Bytes>, ApiError> {
        let f = &self.functions;
        match op {
            Operation::PublishLayerVersion(req) => {
                let rec = f.publish_layer_version(req).await.map_err(svc)?;
                Ok(json_response(StatusCode::CREATED, self.layer_version(&rec)))
            }
            Operation::GetLayerVersion { name, version } => {
                let rec = f.get_layer_version(&name, version).map_err(svc)?;
                Ok(json_response(StatusCode::OK, self.layer_version(&rec)))
            }
            Operation::ListLayers(filter) => {
                let all = f.list_layers(filter.runtime.as_deref(), filter.architecture.as_deref());
                let start = filter.marker.as_ref().map_or(0, |m| {
                    all.iter().position(|r| r.name > *m).unwrap_or(all.len())
                });
                let page: Vec<_> = all[start..].iter().take(filter.max_items).collect();
                let layers: Vec<Value> = page
                    .iter()
                    .map(|r| {
                        json!({
                            "LayerName": r.name,
                            "LayerArn": f.identity().layer_arn(&r.name),
                            "LatestMatchingVersion": self.layer_version_item(r),
                        })
                    })
                    .collect();
                let mut body = json!({ "Layers": layers });
                if start + page.len() < all.len()
                    && let Some(last) = page.last()
                {
                    body["NextMarker"] = json!(last.name);
                }
                Ok(json_response(StatusCode::OK, body))
            }
            Operation::ListLayerVersions { name, filter } => {
                let all = f.list_layer_versions(
                    &name,
                    filter.runtime.as_deref(),
                    filter.architecture.as_deref(),
                );
                // Newest first: the marker is the last version of the previous page.
                let start = match filter.marker.as_deref().and_then(|m| m.parse::<u32>().ok()) {
                    Some(m) => all.iter().position(|r| r.version < m).unwrap_or(all.len()),
                    None => 0,
                };
                let page: Vec<_> = all[start..].iter().take(filter.max_items).collect();
                let mut body = json!({
                    "LayerVersions": page.iter().map(|r| self.layer_version_item(r)).collect::<Vec<_>>()
                });
                if start + page.len() < all.len()
                    && let Some(last) = page.last()
                {
                    body["NextMarker"] = json!(last.version.to_string());
                }
                Ok(json_response(StatusCode::OK, body))
            }
            Operation::DeleteLayerVersion { name, version } => {
                f.delete_layer_version(&name, version).await.map_err(svc)?;
                Ok(no_content())
            }
            Operation::AddLayerVersionPermission {
                name,
                version,
                grant,
            } => {
                let (st, revision) = f
                    .add_layer_version_permission(&name, version, &grant)
                    .map_err(svc)?;
                Ok(json_response(
                    StatusCode::CREATED,
                    json!({ "Statement": st.to_string(), "RevisionId": revision }),
                ))
            }
            Operation::RemoveLayerVersionPermission {
                name,
                version,
                statement_id,
                revision_id,
            } => {
                f.remove_layer_version_permission(
                    &name,
                    version,
                    &statement_id,
                    revision_id.as_deref(),
                )
                .map_err(svc)?;
                Ok(no_content())
            }
            Operation::GetLayerVersionPolicy { name, version } => {
                let (policy, revision) = f.get_layer_version_policy(&name, version).map_err(svc)?;
                Ok(json_response(
                    StatusCode::OK,
                    json!({ "Policy": policy.to_string(), "RevisionId": revision }),
                ))
            }
            other => Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "ServiceException",
                format!("not a layer operation: {other:?}"),
            )),
        }
    }
}

fn no_content() -> Response<Bytes> {
    let mut resp = Response::new(Bytes::new());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, uri: &str, body: &str) -> Request<Bytes> {
        Request::builder()
            .method(method)
            .uri(uri)
            .body(Bytes::from(body.to_string()))
            .unwrap()
    }

    #[test]
    fn parses_layer_routes() {
        let id = nimbus_model::Identity::default();
        let by_arn = req(
            "GET",
            "/2018-10-31/layers?find=LayerVersion&Arn=arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Alayer%3Adeps%3A3",
            "",
        );
        match crate::parse(&by_arn, &id).unwrap() {
            Operation::GetLayerVersion { name, version } => {
                assert_eq!((name.as_str(), version), ("deps", 3));
            }
            other => panic!("{other:?}"),
        }
        let by_layer_arn = req(
            "DELETE",
            "/2018-10-31/layers/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Alayer%3Adeps/versions/2/policy/s1",
            "",
        );
        assert!(matches!(
            crate::parse(&by_layer_arn, &id).unwrap(),
            Operation::RemoveLayerVersionPermission { version: 2, .. }
        ));
        let list = req(
            "GET",
            "/2018-10-31/layers?CompatibleRuntime=python3.12&MaxItems=2",
            "",
        );
        match crate::parse(&list, &id).unwrap() {
            Operation::ListLayers(f) => {
                assert_eq!(f.runtime.as_deref(), Some("python3.12"));
                assert_eq!(f.max_items, 2);
            }
            other => panic!("{other:?}"),
        }
        let cases = [
            (
                req("GET", "/2018-10-31/layers?MaxItems=51", ""),
                "ValidationException",
            ),
            (
                req("POST", "/2018-10-31/layers/bad%20name/versions", "{}"),
                "ValidationException",
            ),
            (
                req("POST", "/2018-10-31/layers/l/versions", "{}"),
                "ValidationException",
            ),
            (
                req("GET", "/2018-10-31/layers/l/versions/x", ""),
                "InvalidParameterValueException",
            ),
            (
                req("GET", "/2018-10-31/layers?find=LayerVersion&Arn=nope", ""),
                "ValidationException",
            ),
        ];
        for (r, code) in cases {
            let uri = r.uri().clone();
            assert_eq!(crate::parse(&r, &id).unwrap_err().code, code, "{uri}");
        }
    }
}
