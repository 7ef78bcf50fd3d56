//! Event source mappings, run by the `triggers` crate.

use crate::*;

pub(crate) fn parse_create(
    req: &Request<Bytes>,
    identity: &nimbus_model::Identity,
) -> Result<Operation, ApiError> {
    let body = req.body();
    Ok(Operation::CreateEventSourceMapping(mapping_input(
        body, identity,
    )?))
}

pub(crate) fn parse_list(
    req: &Request<Bytes>,
    identity: &nimbus_model::Identity,
) -> Result<Operation, ApiError> {
    let query = req.uri().query().unwrap_or("");
    let function = match query_param(query, "FunctionName") {
        Some(f) => Some(function_ref(&f, identity)?.name),
        None => None,
    };
    Ok(Operation::ListEventSourceMappings {
        function,
        source: query_param(query, "EventSourceArn"),
        marker: query_param(query, "Marker"),
        max_items: query_param(query, "MaxItems")
            .and_then(|m| m.parse().ok())
            .unwrap_or(100usize)
            .clamp(1, 10_000),
    })
}

pub(crate) fn parse_item(
    req: &Request<Bytes>,
    method: &Method,
    uuid: &str,
    identity: &nimbus_model::Identity,
) -> Result<Operation, ApiError> {
    let body = req.body();
    let uuid = decode(uuid)?;
    match *method {
        Method::GET => Ok(Operation::GetEventSourceMapping(uuid)),
        Method::PUT => Ok(Operation::UpdateEventSourceMapping(
            uuid,
            mapping_input(body, identity)?,
        )),
        Method::DELETE => Ok(Operation::DeleteEventSourceMapping(uuid)),
        _ => Err(not_found(req)),
    }
}

impl LambdaApi {
    /// A mapping as Lambda shows it; one whose function's role may not read
    /// its source says so in `LastProcessingResult`.
    fn mapping_view(&self, m: &nimbus_triggers::Mapping, state: &str) -> Value {
        let mut v = mapping_json(m, self.functions.identity(), state);
        if let Some(problem) = self.triggers.problem(&m.uuid) {
            v["LastProcessingResult"] = problem.into();
        }
        v
    }

    pub(crate) async fn create_event_source_mapping(
        &self,
        input: nimbus_triggers::MappingInput,
    ) -> Result<Response<Bytes>, ApiError> {
        let t = &self.triggers;
        let m = t.create_mapping(input).map_err(trg)?;
        Ok(json_response(
            StatusCode::ACCEPTED,
            self.mapping_view(&m, "Creating"),
        ))
    }

    pub(crate) async fn get_event_source_mapping(
        &self,
        uuid: String,
    ) -> Result<Response<Bytes>, ApiError> {
        let t = &self.triggers;
        let m = t.get_mapping(&uuid).map_err(trg)?;
        Ok(json_response(
            StatusCode::OK,
            self.mapping_view(&m, mapping_state(&m)),
        ))
    }

    pub(crate) async fn update_event_source_mapping(
        &self,
        uuid: String,
        input: nimbus_triggers::MappingInput,
    ) -> Result<Response<Bytes>, ApiError> {
        let t = &self.triggers;
        let m = t.update_mapping(&uuid, input).map_err(trg)?;
        Ok(json_response(
            StatusCode::ACCEPTED,
            self.mapping_view(&m, if m.enabled { "Enabling" } else { "Disabling" }),
        ))
    }

    pub(crate) async fn delete_event_source_mapping(
        &self,
        uuid: String,
    ) -> Result<Response<Bytes>, ApiError> {
        let t = &self.triggers;
        let m = t.delete_mapping(&uuid).map_err(trg)?;
        Ok(json_response(
            StatusCode::ACCEPTED,
            self.mapping_view(&m, "Deleting"),
        ))
    }

    pub(crate) async fn list_event_source_mappings(
        &self,
        function: Option<String>,
        source: Option<String>,
        marker: Option<String>,
        max_items: usize,
    ) -> Result<Response<Bytes>, ApiError> {
        let t = &self.triggers;
        let all = t
            .list_mappings(function.as_deref(), source.as_deref())
            .map_err(trg)?;
        let start = marker.as_deref().map_or(0, |m| {
            all.iter()
                .position(|x| x.uuid.as_str() > m)
                .unwrap_or(all.len())
        });
        let page = &all[start..(start + max_items).min(all.len())];
        let mut out = json!({
            "EventSourceMappings": page
                .iter()
                .map(|m| self.mapping_view(m, mapping_state(m)))
                .collect::<Vec<_>>()
        });
        if start + max_items < all.len()
            && let Some(last) = page.last()
        {
            out["NextMarker"] = last.uuid.clone().into();
        }
        Ok(json_response(StatusCode::OK, out))
    }
}
