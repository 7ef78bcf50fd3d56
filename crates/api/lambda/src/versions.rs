//! Versions and aliases.

use crate::*;

impl LambdaApi {
    pub(crate) async fn publish_version(
        &self,
        name: String,
        input: wire::PublishVersionIn,
    ) -> Result<Response<Bytes>, ApiError> {
        let f = &self.functions;
        let rec = f
            .publish_version(
                &name,
                input.description,
                input.code_sha256,
                input.revision_id,
            )
            .await
            .map_err(svc)?;
        Ok(json_response(StatusCode::CREATED, self.config(&rec)))
    }

    pub(crate) async fn list_versions_by_function(
        &self,
        name: String,
        marker: Option<String>,
        max_items: usize,
    ) -> Result<Response<Bytes>, ApiError> {
        let f = &self.functions;
        let all = f.list_versions(&name).map_err(svc)?;
        let start = match &marker {
            Some(m) => all
                .iter()
                .position(|r| r.version == *m)
                .map_or(all.len(), |i| i + 1),
            None => 0,
        };
        let page: Vec<_> = all[start.min(all.len())..].iter().take(max_items).collect();
        let mut body = json!({
            "Versions": page.iter().map(|r| {
                let mut v = wire::configuration_with(r, f.identity(), true);
                snap_start_state(f, r, &mut v);
                v
            }).collect::<Vec<_>>()
        });
        if start + page.len() < all.len()
            && let Some(last) = page.last()
        {
            body["NextMarker"] = json!(last.version);
        }
        Ok(json_response(StatusCode::OK, body))
    }

    pub(crate) async fn create_alias(
        &self,
        name: String,
        input: nimbus_functions::AliasInput,
    ) -> Result<Response<Bytes>, ApiError> {
        let f = &self.functions;
        let a = f.create_alias(&name, input).map_err(svc)?;
        Ok(json_response(
            StatusCode::CREATED,
            wire::alias(&a, f.identity()),
        ))
    }

    pub(crate) async fn get_alias(
        &self,
        name: String,
        alias: String,
    ) -> Result<Response<Bytes>, ApiError> {
        let f = &self.functions;
        let a = f.get_alias(&name, &alias).map_err(svc)?;
        Ok(json_response(StatusCode::OK, wire::alias(&a, f.identity())))
    }

    pub(crate) async fn update_alias(
        &self,
        name: String,
        input: nimbus_functions::AliasInput,
    ) -> Result<Response<Bytes>, ApiError> {
        let f = &self.functions;
        let a = f.update_alias(&name, input).map_err(svc)?;
        Ok(json_response(StatusCode::OK, wire::alias(&a, f.identity())))
    }

    pub(crate) async fn delete_alias(
        &self,
        name: String,
        alias: String,
    ) -> Result<Response<Bytes>, ApiError> {
        let f = &self.functions;
        f.delete_alias(&name, &alias).map_err(svc)?;
        let mut resp = Response::new(Bytes::new());
        *resp.status_mut() = StatusCode::NO_CONTENT;
        Ok(resp)
    }

    pub(crate) async fn list_aliases(&self, name: String) -> Result<Response<Bytes>, ApiError> {
        let f = &self.functions;
        let aliases = f.list_aliases(&name).map_err(svc)?;
        Ok(json_response(
            StatusCode::OK,
            json!({ "Aliases": aliases.iter().map(|a| wire::alias(a, f.identity())).collect::<Vec<_>>() }),
        ))
    }
}

/// A published SnapStart version is `Pending` until its first environment is
/// initialized (Lambda: while it creates the snapshot), and refuses invocations.
pub(crate) fn snap_start_state(
    functions: &nimbus_functions::Functions,
    rec: &nimbus_model::FunctionRecord,
    v: &mut Value,
) {
    if rec.snap_start_on() && functions.snap_start_pending(rec) {
        v["State"] = json!("Pending");
        v["StateReason"] = json!("The function is being created.");
        v["StateReasonCode"] = json!("Creating");
    }
}
