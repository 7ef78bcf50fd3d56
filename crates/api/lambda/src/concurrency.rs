//! Reserved and provisioned concurrency.

use crate::*;

pub(crate) fn parse_provisioned(
    req: &Request<Bytes>,
    method: &Method,
    raw: &str,
    identity: &nimbus_model::Identity,
) -> Result<Operation, ApiError> {
    let query = req.uri().query().unwrap_or("");
    let body = req.body();
    let name = function_ref(raw, identity)?.name;
    if method == Method::GET && query_param(query, "List").is_some() {
        return Ok(Operation::ListProvisionedConcurrencyConfigs { name });
    }
    let qualifier = query_param(query, "Qualifier").ok_or_else(|| {
            error::validation("1 validation error detected: Value null at 'qualifier' failed to satisfy constraint: Member must not be null")
        })?;
    if method == Method::PUT {
        let v: Value = json_body::<Option<Value>>(body)?.unwrap_or(Value::Null);
        let requested = v.get("ProvisionedConcurrentExecutions").and_then(Value::as_i64).ok_or_else(|| {
                error::validation("1 validation error detected: Value null at 'provisionedConcurrentExecutions' failed to satisfy constraint: Member must not be null")
            })?;
        Ok(Operation::PutProvisionedConcurrencyConfig {
            name,
            qualifier,
            requested,
        })
    } else if method == Method::GET {
        Ok(Operation::GetProvisionedConcurrencyConfig { name, qualifier })
    } else if method == Method::DELETE {
        Ok(Operation::DeleteProvisionedConcurrencyConfig { name, qualifier })
    } else {
        Err(not_found(req))
    }
}

pub(crate) fn parse_reserved(
    req: &Request<Bytes>,
    method: &Method,
    date: &str,
    raw: &str,
    identity: &nimbus_model::Identity,
) -> Result<Operation, ApiError> {
    let body = req.body();
    let name = function_ref(raw, identity)?.name;
    match (method, date) {
        (&Method::PUT, "2017-10-31") => {
            let input: wire::ConcurrencyIn = json_body(body)?;
            let reserved = input.reserved_concurrent_executions.ok_or_else(|| {
                    error::validation("1 validation error detected: Value null at 'reservedConcurrentExecutions' failed to satisfy constraint: Member must not be null")
                })?;
            Ok(Operation::PutFunctionConcurrency { name, reserved })
        }
        (&Method::DELETE, "2017-10-31") => Ok(Operation::DeleteFunctionConcurrency { name }),
        (&Method::GET, "2019-09-30") => Ok(Operation::GetFunctionConcurrency { name }),
        _ => Err(not_found(req)),
    }
}

impl LambdaApi {
    pub(crate) async fn put_provisioned_concurrency_config(
        &self,
        name: String,
        qualifier: String,
        requested: i64,
    ) -> Result<Response<Bytes>, ApiError> {
        let f = &self.functions;
        let cfg = f
            .put_provisioned(&name, &qualifier, requested)
            .map_err(svc)?;
        Ok(json_response(
            StatusCode::ACCEPTED,
            self.provisioned(&cfg, false),
        ))
    }

    pub(crate) async fn get_provisioned_concurrency_config(
        &self,
        name: String,
        qualifier: String,
    ) -> Result<Response<Bytes>, ApiError> {
        let f = &self.functions;
        match f.get_provisioned(&name, &qualifier).map_err(svc)? {
            Some(cfg) => Ok(json_response(StatusCode::OK, self.provisioned(&cfg, false))),
            None => Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "ProvisionedConcurrencyConfigNotFoundException",
                "No Provisioned Concurrency Config found for this function",
            )),
        }
    }

    pub(crate) async fn delete_provisioned_concurrency_config(
        &self,
        name: String,
        qualifier: String,
    ) -> Result<Response<Bytes>, ApiError> {
        let f = &self.functions;
        if !f.delete_provisioned(&name, &qualifier).map_err(svc)? {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "ProvisionedConcurrencyConfigNotFoundException",
                "No Provisioned Concurrency Config found for this function",
            ));
        }
        let mut resp = Response::new(Bytes::new());
        *resp.status_mut() = StatusCode::NO_CONTENT;
        Ok(resp)
    }

    pub(crate) async fn list_provisioned_concurrency_configs(
        &self,
        name: String,
    ) -> Result<Response<Bytes>, ApiError> {
        let f = &self.functions;
        let all = f.list_provisioned(&name).map_err(svc)?;
        Ok(json_response(
            StatusCode::OK,
            json!({ "ProvisionedConcurrencyConfigs": all.iter().map(|c| self.provisioned(c, true)).collect::<Vec<_>>() }),
        ))
    }

    pub(crate) async fn put_function_concurrency(
        &self,
        name: String,
        reserved: i64,
    ) -> Result<Response<Bytes>, ApiError> {
        let f = &self.functions;
        let rec = f.put_concurrency(&name, reserved).await.map_err(svc)?;
        Ok(json_response(
            StatusCode::OK,
            json!({ "ReservedConcurrentExecutions": rec.reserved_concurrency }),
        ))
    }

    pub(crate) async fn get_function_concurrency(
        &self,
        name: String,
    ) -> Result<Response<Bytes>, ApiError> {
        let f = &self.functions;
        let rec = f.get(&name).map_err(svc)?;
        let body = match rec.reserved_concurrency {
            Some(n) => json!({ "ReservedConcurrentExecutions": n }),
            None => json!({}),
        };
        Ok(json_response(StatusCode::OK, body))
    }

    pub(crate) async fn delete_function_concurrency(
        &self,
        name: String,
    ) -> Result<Response<Bytes>, ApiError> {
        let f = &self.functions;
        f.delete_concurrency(&name).await.map_err(svc)?;
        let mut resp = Response::new(Bytes::new());
        *resp.status_mut() = StatusCode::NO_CONTENT;
        Ok(resp)
    }
}
