//! Functions themselves: create, read, list, update code and configuration, delete; account settings.

use crate::*;

pub(crate) fn parse_create(req: &Request<Bytes>) -> Result<Operation, ApiError> {
    let body = req.body();
    let input: wire::CreateFunctionIn = json_body(body)?;
    let name = input
            .function_name
            .ok_or_else(|| error::validation("1 validation error detected: Value null at 'functionName' failed to satisfy constraint: Member must not be null"))?;
    let role = input
            .role
            .ok_or_else(|| error::validation("1 validation error detected: Value null at 'role' failed to satisfy constraint: Member must not be null"))?;
    if input.package_type.as_deref().is_some_and(|p| p != "Zip") {
        return Err(unsupported_code_source());
    }
    let code = input.code.ok_or_else(|| {
            error::validation("1 validation error detected: Value null at 'code' failed to satisfy constraint: Member must not be null")
        })?;
    if code.image_uri.is_some() {
        return Err(unsupported_code_source());
    }
    let (zip, s3) = code_source(
        code.zip_file.as_deref(),
        code.s3_bucket,
        code.s3_key,
        code.s3_object_version,
    )?;
    let publish = input.publish.unwrap_or(false);
    Ok(Operation::CreateFunction(
        CreateFunction {
            name,
            runtime: input.runtime,
            role,
            handler: input.handler,
            description: input.description,
            timeout: input.timeout,
            memory_size: input.memory_size,
            ephemeral_storage: input.ephemeral_storage.and_then(|e| e.size),
            environment: input.environment.map(|e| e.variables.unwrap_or_default()),
            architectures: input.architectures,
            zip,
            tags: input.tags.unwrap_or_default(),
            dead_letter_target: input
                .dead_letter_config
                .map(|d| d.target_arn.unwrap_or_default()),
            vpc: input.vpc_config.map(wire::VpcIn::into_model),
            layers: input.layers.unwrap_or_default(),
            s3,
            logging: input.logging_config.map(wire::LoggingIn::into_model),
            tracing: input.tracing_config.and_then(|t| t.mode),
            code_signing_config: input.code_signing_config_arn.filter(|a| !a.is_empty()),
            snap_start: input.snap_start.and_then(|s| s.apply_on),
        },
        publish,
    ))
}

pub(crate) fn parse_list(req: &Request<Bytes>) -> Result<Operation, ApiError> {
    let query = req.uri().query().unwrap_or("");
    let max_items = match query_param(query, "MaxItems") {
            Some(m) => m
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=10_000).contains(n))
                .ok_or_else(|| error::validation(format!("1 validation error detected: Value '{m}' at 'maxItems' failed to satisfy constraint: Member must have value between 1 and 10000")))?,
            None => LIST_PAGE,
        };
    let all_versions = match query_param(query, "FunctionVersion").as_deref() {
        None => false,
        Some("ALL") => true,
        Some(other) => {
            return Err(error::validation(format!(
                "1 validation error detected: Value '{other}' at 'functionVersion' failed to satisfy constraint: Member must satisfy enum value set: [ALL]"
            )));
        }
    };
    Ok(Operation::ListFunctions {
        marker: query_param(query, "Marker"),
        max_items: max_items.min(LIST_PAGE),
        all_versions,
    })
}

pub(crate) fn parse_function(
    req: &Request<Bytes>,
    method: &Method,
    raw: &str,
    rest: &[&str],
    identity: &nimbus_model::Identity,
) -> Result<Operation, ApiError> {
    let query = req.uri().query().unwrap_or("");
    let body = req.body();
    let r = function_ref(raw, identity)?;
    let q = qualifier(&r, query_param(query, "Qualifier"))?;
    let name = r.name.clone();
    match (method, rest) {
        (&Method::GET, []) => Ok(Operation::GetFunction { name, qualifier: q }),
        (&Method::POST, ["versions"]) => Ok(Operation::PublishVersion {
            name,
            input: json_body(body)?,
        }),
        (&Method::GET, ["versions"]) => Ok(Operation::ListVersionsByFunction {
            name,
            marker: query_param(query, "Marker"),
            max_items: query_param(query, "MaxItems")
                .and_then(|m| m.parse().ok())
                .unwrap_or(LIST_PAGE)
                .clamp(1, LIST_PAGE),
        }),
        (&Method::POST, ["aliases"]) => {
            let input: wire::AliasIn = json_body(body)?;
            let alias = input.name.clone().ok_or_else(|| {
                    error::validation("1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null")
                })?;
            Ok(Operation::CreateAlias {
                name,
                input: alias_input(alias, input),
            })
        }
        (&Method::GET, ["aliases"]) => Ok(Operation::ListAliases { name }),
        (&Method::GET, ["aliases", alias]) => Ok(Operation::GetAlias {
            name,
            alias: decode(alias)?,
        }),
        (&Method::DELETE, ["aliases", alias]) => Ok(Operation::DeleteAlias {
            name,
            alias: decode(alias)?,
        }),
        (&Method::PUT, ["aliases", alias]) => {
            let input: wire::AliasIn = json_body(body)?;
            Ok(Operation::UpdateAlias {
                name,
                input: alias_input(decode(alias)?, input),
            })
        }
        (&Method::DELETE, []) => Ok(Operation::DeleteFunction { name, qualifier: q }),
        (&Method::GET, ["configuration"]) => {
            Ok(Operation::GetFunctionConfiguration { name, qualifier: q })
        }
        (&Method::PUT, ["configuration"]) => {
            let input: wire::UpdateConfigurationIn = json_body(body)?;
            Ok(Operation::UpdateFunctionConfiguration {
                name,
                update: UpdateConfiguration {
                    runtime: input.runtime,
                    role: input.role,
                    handler: input.handler,
                    description: input.description,
                    timeout: input.timeout,
                    memory_size: input.memory_size,
                    ephemeral_storage: input.ephemeral_storage.and_then(|e| e.size),
                    environment: input.environment.map(|e| e.variables.unwrap_or_default()),
                    revision_id: input.revision_id,
                    dead_letter_target: input
                        .dead_letter_config
                        .map(|d| d.target_arn.unwrap_or_default()),
                    vpc: input.vpc_config.map(wire::VpcIn::into_model),
                    layers: input.layers,
                    logging: input.logging_config.map(wire::LoggingIn::into_model),
                    tracing: input.tracing_config.and_then(|t| t.mode),
                    snap_start: input
                        .snap_start
                        .map(|s| s.apply_on.unwrap_or_else(|| "None".into())),
                },
            })
        }
        (&Method::PUT, ["code"]) => {
            let input: wire::UpdateCodeIn = json_body(body)?;
            if input.image_uri.is_some() {
                return Err(unsupported_code_source());
            }
            if input.zip_file.is_none() && input.s3_bucket.is_none() && input.s3_key.is_none() {
                return Err(invalid(
                    "Please provide a source for function code: ZipFile, or S3Bucket and S3Key"
                        .into(),
                ));
            }
            let (zip, s3) = code_source(
                input.zip_file.as_deref(),
                input.s3_bucket,
                input.s3_key,
                input.s3_object_version,
            )?;
            Ok(Operation::UpdateFunctionCode {
                name,
                publish: input.publish.unwrap_or(false),
                update: UpdateCode {
                    zip,
                    s3,
                    architectures: input.architectures,
                    revision_id: input.revision_id,
                    dry_run: input.dry_run.unwrap_or(false),
                },
            })
        }
        (&Method::POST, ["invocations"]) => crate::invoke::parse(req, name, q),
        _ => Err(not_found(req)),
    }
}

/// An update's answer as Lambda gives it: `LastUpdateStatus: InProgress` (the
/// next read finds it `Successful`: Nimbus has applied it by now).
fn updating(mut config: Value) -> Value {
    config["LastUpdateStatus"] = json!("InProgress");
    config["LastUpdateStatusReason"] = json!("The function is being created.");
    config["LastUpdateStatusReasonCode"] = json!("Creating");
    config
}

impl LambdaApi {
    pub(crate) async fn create_function(
        &self,
        c: CreateFunction,
        publish: bool,
    ) -> Result<Response<Bytes>, ApiError> {
        let f = &self.functions;
        let name = c.name.clone();
        let mut rec = f.create(c).await.map_err(svc)?;
        if publish {
            rec = f
                .publish_version(&name, None, None, None)
                .await
                .map_err(svc)?;
        }
        // As Lambda answers a create: `Pending` (the next read finds it
        // `Active`: Nimbus has made it by now), no update status yet.
        let mut out = self.config(&rec);
        out["State"] = json!("Pending");
        out["StateReason"] = json!("The function is being created.");
        out["StateReasonCode"] = json!("Creating");
        if let Some(o) = out.as_object_mut() {
            o.remove("LastUpdateStatus");
        }
        Ok(json_response(StatusCode::CREATED, out))
    }

    pub(crate) async fn get_function_configuration(
        &self,
        name: String,
        qualifier: Option<String>,
    ) -> Result<Response<Bytes>, ApiError> {
        let rec = self.version_of(&name, qualifier.as_deref())?;
        Ok(json_response(StatusCode::OK, self.config(&rec)))
    }

    pub(crate) async fn get_function(
        &self,
        name: String,
        qualifier: Option<String>,
    ) -> Result<Response<Bytes>, ApiError> {
        let f = &self.functions;
        let rec = self.version_of(&name, qualifier.as_deref())?;
        let location = format!(
            "{}/_nimbus/code/{}",
            f.exec_config().endpoint_url,
            rec.code.digest
        );
        let mut body = json!({
            "Configuration": self.config(&rec),
            "Code": { "RepositoryType": "S3", "Location": location },
        });
        if !rec.tags.is_empty() {
            body["Tags"] = json!(rec.tags);
        }
        if let Some(n) = rec.reserved_concurrency {
            body["Concurrency"] = json!({ "ReservedConcurrentExecutions": n });
        }
        Ok(json_response(StatusCode::OK, body))
    }

    /// `ListFunctions`: each function's `$LATEST`, or with `FunctionVersion=ALL`
    /// its published versions after it; the marker is the last entry's key.
    pub(crate) async fn list_functions(
        &self,
        marker: Option<String>,
        max_items: usize,
        all_versions: bool,
    ) -> Result<Response<Bytes>, ApiError> {
        let f = &self.functions;
        // Keys order as the entries do: by name, then `$LATEST` and the
        // versions in turn (`!` sorts before every character of a name).
        let key = |r: &nimbus_model::FunctionRecord| match all_versions {
            false => r.name.clone(),
            true => format!("{}!{:010}", r.name, r.version.parse::<u32>().unwrap_or(0)),
        };
        let mut all = Vec::new();
        for latest in f.list() {
            if all_versions {
                all.extend(f.list_versions(&latest.name).unwrap_or_default());
            } else {
                all.push(latest);
            }
        }
        let start = match &marker {
            Some(m) => all
                .iter()
                .position(|r| key(r).as_str() > m.as_str())
                .unwrap_or(all.len()),
            None => 0,
        };
        let page: Vec<_> = all[start..].iter().take(max_items).collect();
        let mut body =
            json!({ "Functions": page.iter().map(|r| self.config(r)).collect::<Vec<_>>() });
        if start + page.len() < all.len()
            && let Some(last) = page.last()
        {
            body["NextMarker"] = json!(key(last));
        }
        Ok(json_response(StatusCode::OK, body))
    }

    pub(crate) async fn update_function_code(
        &self,
        name: String,
        update: UpdateCode,
        publish: bool,
    ) -> Result<Response<Bytes>, ApiError> {
        let f = &self.functions;
        let dry = update.dry_run;
        let mut rec = f.update_code(&name, update).await.map_err(svc)?;
        if publish && !dry {
            rec = f
                .publish_version(&name, None, None, None)
                .await
                .map_err(svc)?;
        }
        Ok(json_response(StatusCode::OK, updating(self.config(&rec))))
    }

    pub(crate) async fn update_function_configuration(
        &self,
        name: String,
        update: UpdateConfiguration,
    ) -> Result<Response<Bytes>, ApiError> {
        let f = &self.functions;
        let rec = f.update_configuration(&name, update).await.map_err(svc)?;
        Ok(json_response(StatusCode::OK, updating(self.config(&rec))))
    }

    pub(crate) async fn delete_function(
        &self,
        name: String,
        qualifier: Option<String>,
    ) -> Result<Response<Bytes>, ApiError> {
        let f = &self.functions;
        if qualifier.as_deref() == Some("$LATEST") {
            return Err(invalid(
                "$LATEST version cannot be deleted without deleting the function.".into(),
            ));
        }
        match qualifier.as_deref() {
            Some(v) if v.bytes().all(|c| c.is_ascii_digit()) => {
                f.delete_version(&name, v).await.map_err(svc)?;
            }
            Some(other) => {
                return Err(invalid(format!(
                    "Deletion of aliases through DeleteFunction is not supported: use DeleteAlias for {other}"
                )));
            }
            None => f.delete(&name).await.map_err(svc)?,
        }
        let mut resp = Response::new(Bytes::new());
        *resp.status_mut() = StatusCode::NO_CONTENT;
        Ok(resp)
    }

    pub(crate) async fn get_account_settings(&self) -> Result<Response<Bytes>, ApiError> {
        let f = &self.functions;
        let (limit, unreserved) = f.concurrency_limits();
        let all = f.list();
        let total: u64 = all.iter().map(|r| r.code.size).sum();
        Ok(json_response(
            StatusCode::OK,
            json!({
                "AccountLimit": {
                    "TotalCodeSize": 80_530_636_800u64,
                    "CodeSizeUnzipped": nimbus_functions::code::MAX_UNZIPPED_BYTES,
                    "CodeSizeZipped": nimbus_functions::code::MAX_ZIPPED_BYTES,
                    "ConcurrentExecutions": limit,
                    "UnreservedConcurrentExecutions": unreserved,
                },
                "AccountUsage": { "TotalCodeSize": total, "FunctionCount": all.len() },
            }),
        ))
    }
}
