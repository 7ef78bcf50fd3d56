//! Conversion between HTTP requests/responses and the Lambda event / result
//! payloads used by API Gateway (HTTP API payload formats 1.0 and 2.0, REST
//! `AWS_PROXY`) and Lambda function URLs, plus HTTP API route-key matching.

use std::collections::BTreeMap;

mod events;
mod responses;
mod routing;
mod util;

#[cfg(test)]
mod tests;

pub use events::{event_function_url, event_v1, event_v2};
pub use responses::{response_v1, response_v2};
pub use routing::{check_route_key, match_route};
pub use util::{format_request_time, is_text_content_type};

/// An incoming request as the server received it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpRequest {
    /// e.g. "GET".
    pub method: String,
    /// As received, percent-encoded, without the stage prefix, e.g. "/items/a%20b".
    pub raw_path: String,
    /// Without '?', as received ("a=1&a=2&b=x%20y"); may be "".
    pub raw_query: String,
    /// Names lower-cased by the caller, in arrival order, repeated names allowed.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub source_ip: String,
    /// e.g. "HTTP/1.1".
    pub protocol: String,
}

impl HttpRequest {
    /// The X-Ray trace header (`X-Amzn-Trace-Id`) the request came with.
    pub fn trace_header(&self) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == "x-amzn-trace-id")
            .map(|(_, v)| v.as_str())
    }
}

/// Where the request was routed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Route {
    /// The API id, or the function URL id.
    pub api_id: String,
    /// "$default" or e.g. "prod".
    pub stage: String,
    /// "GET /items/{id}", "ANY /{proxy+}", "$default".
    pub route_key: String,
    /// For 1.0/REST: the resource, e.g. "/items/{id}". When empty, the request's
    /// raw path is used (what HTTP APIs send for the `$default` route).
    pub resource_path: String,
    /// Decoded values.
    pub path_parameters: BTreeMap<String, String>,
    pub stage_variables: BTreeMap<String, String>,
    /// Host header value or "{api-id}.execute-api.localhost".
    pub domain_name: String,
    pub account_id: String,
    pub request_id: String,
    /// Epoch milliseconds of arrival.
    pub time_ms: u64,
    /// The full path including the stage ("/prod/items/1"). Used for
    /// `requestContext.path` (1.0) and `rawPath` / `requestContext.http.path`
    /// (2.0, named stages only). When empty it is derived from stage + raw path.
    pub full_path: String,
}

/// A response to send to the client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The response API Gateway sends when the integration result is unusable:
    /// 502 `{"message":"Internal Server Error"}`.
    pub fn bad_gateway() -> HttpResponse {
        HttpResponse {
            status: 502,
            headers: vec![("content-type".to_string(), "application/json".to_string())],
            body: br#"{"message":"Internal Server Error"}"#.to_vec(),
        }
    }
}
