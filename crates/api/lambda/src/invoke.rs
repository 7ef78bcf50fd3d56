//! The synchronous and asynchronous `Invoke` operation.

use crate::*;

/// `POST /2015-03-31/functions/{name}/invocations`: the invocation type, log
/// type and client context headers checked as Lambda checks them.
pub(crate) fn parse(
    req: &Request<Bytes>,
    name: String,
    q: Option<String>,
) -> Result<Operation, ApiError> {
    let body = req.body();
    let invocation_type = match header(req, "x-amz-invocation-type").as_deref() {
        None | Some("RequestResponse") => InvocationType::RequestResponse,
        Some("Event") => InvocationType::Event,
        Some("DryRun") => InvocationType::DryRun,
        Some(other) => {
            return Err(error::validation(format!(
                "1 validation error detected: Value '{other}' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]"
            )));
        }
    };
    let log_tail = match header(req, "x-amz-log-type").as_deref() {
        None | Some("None") => false,
        Some("Tail") => true,
        Some(other) => {
            return Err(error::validation(format!(
                "1 validation error detected: Value '{other}' at 'logType' failed to satisfy constraint: Member must satisfy enum value set: [None, Tail]"
            )));
        }
    };
    let client_context = match header(req, "x-amz-client-context") {
        None => None,
        Some(b64) => {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .ok()
                .filter(|raw| raw.len() <= 3583)
                .and_then(|raw| String::from_utf8(raw).ok())
                .filter(|s| serde_json::from_str::<Value>(s).is_ok_and(|v| v.is_object()));
            Some(raw.ok_or_else(|| {
                invalid("Client context must be a valid Base64-encoded JSON object.".into())
            })?)
        }
    };
    Ok(Operation::Invoke(InvokeRequest {
        function: name,
        qualifier: q,
        payload: body.clone(),
        invocation_type,
        log_tail,
        client_context,
        trace_id: header(req, "x-amzn-trace-id"),
        request_id: None,
        stream: false,
    }))
}

impl LambdaApi {
    pub(crate) async fn invoke_function(
        &self,
        req: InvokeRequest,
    ) -> Result<Response<Bytes>, ApiError> {
        let whole = std::time::Instant::now();
        let out = self
            .invoker
            .invoke(req)
            .await
            .map_err(|e| error::from_invoke(&e))?;
        let mut resp = Response::new(out.payload);
        *resp.status_mut() = StatusCode::from_u16(out.status).unwrap_or(StatusCode::OK);
        let h = resp.headers_mut();
        h.insert("content-type", HeaderValue::from_static("application/json"));
        let mut set = |k: &'static str, v: &str| {
            if let Ok(v) = HeaderValue::from_str(v) {
                h.insert(k, v);
            }
        };
        set("x-amz-executed-version", &out.executed_version);
        // The invocation's id is the request's id, as on Lambda.
        set("x-amzn-requestid", &out.request_id);
        if let Some(fe) = &out.function_error {
            set("x-amz-function-error", fe);
        }
        if let Some(l) = &out.log_result {
            set("x-amz-log-result", l);
        }
        let t = out.timing;
        // `server`: everything from the parsed request to the response.
        let mut timing = format!(
            "server={:.3};invoke={:.3}",
            whole.elapsed().as_secs_f64() * 1000.0,
            t.invoke_ms
        );
        if let (Some(c), Some(i)) = (t.create_ms, t.init_ms) {
            timing.push_str(&format!(";create={c:.3};init={i:.3}"));
        }
        if let Some(r) = t.runtime_start_ms {
            timing.push_str(&format!(";runtime_start={r:.3}"));
        }
        if let Some(r) = t.restore_ms {
            timing.push_str(&format!(";restore={r:.3}"));
        }
        for (k, v) in &t.parts {
            timing.push_str(&format!(";sandbox.{k}={v:.3}"));
        }
        set("x-nimbus-timing", &timing);
        Ok(resp)
    }
}
