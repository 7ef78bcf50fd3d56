//! Asynchronous invocation settings (`FunctionEventInvokeConfig`).

use crate::*;

pub(crate) fn parse(
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
    if q.as_deref().is_some_and(|q| q != "$LATEST") {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            format!(
                "Function not found: {}:{}",
                identity.function_arn(&r.name),
                q.unwrap_or_default()
            ),
        ));
    }
    let name = r.name;
    match (method, rest) {
        (&Method::PUT, []) => Ok(Operation::PutFunctionEventInvokeConfig {
            name,
            input: event_config_input(body)?,
            merge: false,
        }),
        (&Method::POST, []) => Ok(Operation::PutFunctionEventInvokeConfig {
            name,
            input: event_config_input(body)?,
            merge: true,
        }),
        (&Method::GET, []) => Ok(Operation::GetFunctionEventInvokeConfig { name }),
        (&Method::DELETE, []) => Ok(Operation::DeleteFunctionEventInvokeConfig { name }),
        (&Method::GET, ["list"]) => Ok(Operation::ListFunctionEventInvokeConfigs { name }),
        _ => Err(not_found(req)),
    }
}

impl LambdaApi {
    pub(crate) async fn put_function_event_invoke_config(
        &self,
        name: String,
        input: nimbus_functions::EventInvokeConfigInput,
        merge: bool,
    ) -> Result<Response<Bytes>, ApiError> {
        let f = &self.functions;
        let cfg = f
            .set_event_invoke_config(&name, input, merge)
            .map_err(svc)?;
        Ok(json_response(
            StatusCode::OK,
            wire::event_invoke_config(&cfg, &f.identity().function_arn(&name)),
        ))
    }

    pub(crate) async fn get_function_event_invoke_config(
        &self,
        name: String,
    ) -> Result<Response<Bytes>, ApiError> {
        let f = &self.functions;
        match f.event_invoke_config(&name).map_err(svc)? {
            Some(cfg) => Ok(json_response(
                StatusCode::OK,
                wire::event_invoke_config(&cfg, &f.identity().function_arn(&name)),
            )),
            None => Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "ResourceNotFoundException",
                format!(
                    "The function {} doesn't have an EventInvokeConfig",
                    f.identity().function_arn(&name)
                ),
            )),
        }
    }

    pub(crate) async fn delete_function_event_invoke_config(
        &self,
        name: String,
    ) -> Result<Response<Bytes>, ApiError> {
        let f = &self.functions;
        f.delete_event_invoke_config(&name).map_err(svc)?;
        let mut resp = Response::new(Bytes::new());
        *resp.status_mut() = StatusCode::NO_CONTENT;
        Ok(resp)
    }

    pub(crate) async fn list_function_event_invoke_configs(
        &self,
        name: String,
    ) -> Result<Response<Bytes>, ApiError> {
        let f = &self.functions;
        let configs: Vec<Value> = f
            .event_invoke_config(&name)
            .map_err(svc)?
            .iter()
            .map(|c| wire::event_invoke_config(c, &f.identity().function_arn(&name)))
            .collect();
        Ok(json_response(
            StatusCode::OK,
            json!({ "FunctionEventInvokeConfigs": configs }),
        ))
    }
}
