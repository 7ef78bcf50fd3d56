//! The edge: one HTTP listener for every API. It picks the service (SigV4
//! credential scope, `X-Amz-Target`, virtual-hosted bucket, or path), verifies
//! the signature, and hands the request to that service, which answers in its
//! own wire format. JSON services get the collected body ([`Service`]); S3 gets
//! the body as a stream with what its signature promises about it, so objects
//! of any size pass through without being held in memory.

use crate::credentials::Credentials;
use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use nimbus_api_common::authz::Access;
use nimbus_api_common::chunked::ChunkSigning;
use nimbus_api_common::sigv4::{self, Authorization, RequestParts};
use nimbus_api_common::{ApiError, Caller, Service, auth_error, request_id};
use nimbus_api_s3::S3Api;
use nimbus_api_s3::body::Payload;
use nimbus_api_s3::error::{S3Error, from_auth};
use nimbus_body::Body;
use nimbus_functions::Functions;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use tracing::Instrument;

/// Largest request body the edge reads: a 50 MB zip, base64-encoded in JSON.
const MAX_BODY: usize = 70 * 1024 * 1024;

/// Largest request body an HTTP API or function URL takes (API Gateway's 10 MB).
const MAX_GATEWAY_BODY: usize = 10 * 1024 * 1024;

pub struct Auth {
    /// The account's root key (the data directory's `credentials`).
    pub credentials: Credentials,
    pub any_credentials: bool,
    pub account: String,
    /// The region endpoints answer for (DynamoDB's health reply names it).
    pub region: String,
    /// IAM users' keys and STS sessions' keys.
    pub iam: Arc<nimbus_iam::Iam>,
    /// What every authenticated request is authorized by (`None`: `--iam off`).
    pub authorizer: Option<Arc<dyn nimbus_api_common::authz::Authorizer>>,
}

impl Auth {
    fn caller(&self, principal: &nimbus_iam::Principal, access_key_id: &str) -> Caller {
        Caller {
            arn: principal.arn(),
            account: principal.account().unwrap_or(&self.account).to_string(),
            user_id: principal.user_id(),
            access_key_id: access_key_id.to_string(),
        }
    }

    /// The secret of `key_id` and who signs with it: the root key, an IAM
    /// user's active key, or an STS session's key, whose request must carry
    /// the session's token (`X-Amz-Security-Token`, header or presigned
    /// query) before the session expires.
    fn identify(
        &self,
        parts: &http::request::Parts,
        key_id: &str,
    ) -> Result<(String, Caller), sigv4::AuthError> {
        let token = parts
            .headers
            .get("x-amz-security-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .or_else(|| {
                sigv4::query_param(parts.uri.query().unwrap_or(""), "X-Amz-Security-Token")
            });
        self.identify_key(key_id, token.as_deref())
    }

    /// [`Auth::identify`] with the session token the request carried.
    fn identify_key(
        &self,
        key_id: &str,
        token: Option<&str>,
    ) -> Result<(String, Caller), sigv4::AuthError> {
        if key_id == self.credentials.access_key_id {
            let root = self.iam.root();
            return Ok((
                self.credentials.secret_access_key.clone(),
                self.caller(&root, key_id),
            ));
        }
        let owner = self
            .iam
            .resolve_access_key(key_id)
            .ok_or(sigv4::AuthError::UnknownAccessKey)?;
        if let Some(session) = &owner.session {
            if token != Some(session.token.as_str()) {
                return Err(sigv4::AuthError::InvalidToken);
            }
            if session.expired {
                return Err(sigv4::AuthError::ExpiredToken);
            }
        } else if !owner.active {
            return Err(sigv4::AuthError::UnknownAccessKey);
        }
        Ok((owner.secret, self.caller(&owner.principal, key_id)))
    }

    /// With `--any-credentials`: whoever the key names, else the root.
    fn unverified(&self, key_id: &str) -> Caller {
        let principal = self
            .iam
            .resolve_access_key(key_id)
            .map_or_else(|| self.iam.root(), |o| o.principal);
        self.caller(&principal, key_id)
    }
}

/// The signatures inside S3's POST forms are checked with the same keys.
impl nimbus_api_s3::post::FormSigners for Auth {
    fn signer(
        &self,
        access_key_id: &str,
        token: Option<&str>,
    ) -> Result<nimbus_api_s3::post::FormSigner, sigv4::AuthError> {
        if self.any_credentials {
            return Ok(nimbus_api_s3::post::FormSigner::Trusted(
                self.unverified(access_key_id),
            ));
        }
        let (secret, caller) = self.identify_key(access_key_id, token)?;
        Ok(nimbus_api_s3::post::FormSigner::Verify { secret, caller })
    }
}

pub struct Edge {
    auth: Arc<Auth>,
    services: Vec<Arc<dyn Service>>,
    s3: Arc<S3Api>,
    functions: Arc<Functions>,
    gateway: Arc<nimbus_gateway::serve::Gateway>,
    /// SNS's unauthenticated pages: its certificate, confirmation links.
    topics: Arc<nimbus_topics::Topics>,
    /// CloudWatch metrics, also exposed for Prometheus at `/_nimbus/metrics`.
    metrics: Arc<nimbus_metrics::Metrics>,
    /// X-Ray: the segments of service calls made inside sampled traces.
    traces: Arc<nimbus_traces::Traces>,
}

/// What the edge records about the requests it serves.
pub struct Telemetry {
    pub metrics: Arc<nimbus_metrics::Metrics>,
    pub traces: Arc<nimbus_traces::Traces>,
}

/// An unsigned `GET /` with no query, not to a virtual-hosted bucket: the
/// probe DynamoDB clients make of their endpoint.
fn is_health_probe(parts: &http::request::Parts) -> bool {
    parts.method == http::Method::GET
        && parts.uri.path() == "/"
        && parts.uri.query().is_none_or(str::is_empty)
        && !parts.headers.contains_key("authorization")
        && nimbus_api_s3::host_bucket(&parts.headers).is_none()
}

/// A browser's form upload to a bucket (`POST /bucket`, form data).
fn is_post_form(parts: &http::request::Parts) -> bool {
    parts.method == http::Method::POST
        && parts.uri.query().is_none_or(str::is_empty)
        && parts
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .and_then(nimbus_api_s3::post::boundary)
            .is_some()
}

fn boxed(r: Response<Bytes>) -> Response<Body> {
    r.map(nimbus_body::full)
}

/// Whether a request is for S3: signed for it (SigV4 scope or SigV2), presigned
/// for it, addressed to a virtual-hosted bucket, or claimed by no other service.
fn is_s3(parts: &http::request::Parts, others: Option<&Arc<dyn Service>>) -> bool {
    let auth = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    if let Some(a) = auth {
        if a.starts_with("AWS ") {
            return true;
        }
        if let Ok(a) = Authorization::parse(a) {
            return a.service == "s3";
        }
    }
    let query = parts.uri.query().unwrap_or("");
    if let Some(cred) = sigv4::query_param(query, "X-Amz-Credential") {
        return cred.contains("/s3/");
    }
    if sigv4::query_param(query, "AWSAccessKeyId").is_some() {
        return true;
    }
    nimbus_api_s3::host_bucket(&parts.headers).is_some() || others.is_none()
}

/// A request made inside a sampled X-Ray trace: the call whose segment the
/// service's answer finishes. The header the service sees names that segment
/// as the `Parent`, so what the call causes is traced under it.
fn trace_call(parts: &mut http::request::Parts) -> Option<nimbus_traces::service::Call> {
    let incoming = parts.headers.get("x-amzn-trace-id")?.to_str().ok()?;
    let (call, passed) = nimbus_traces::service::begin(incoming)?;
    parts
        .headers
        .insert("x-amzn-trace-id", HeaderValue::from_str(&passed).ok()?);
    Some(call)
}

/// A body sent with `Content-Encoding: gzip` (or `deflate`), decompressed,
/// at most `max` bytes of it (the service's limit); the encoding is taken
/// off the headers. Any other body as it came.
fn decompressed(
    parts: &mut http::request::Parts,
    body: Bytes,
    max: usize,
) -> Result<Bytes, ApiError> {
    use std::io::Read;
    let encoding = parts
        .headers
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
        .map(|e| e.trim().to_ascii_lowercase());
    let Some(encoding) = encoding.filter(|e| e == "gzip" || e == "deflate") else {
        return Ok(body);
    };
    let limit = max as u64 + 1;
    let mut out = Vec::new();
    let read = if encoding == "gzip" {
        flate2::read::GzDecoder::new(&body[..])
            .take(limit)
            .read_to_end(&mut out)
    } else {
        flate2::read::ZlibDecoder::new(&body[..])
            .take(limit)
            .read_to_end(&mut out)
    };
    if read.is_err() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "SerializationException",
            format!("The request body is not valid {encoding} data"),
        ));
    }
    if out.len() > max {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestTooLargeException",
            format!("Request size exceeded {max} bytes"),
        ));
    }
    parts.headers.remove("content-encoding");
    if let Ok(n) = HeaderValue::from_str(&out.len().to_string()) {
        parts.headers.insert("content-length", n);
    }
    Ok(Bytes::from(out))
}

/// The operation a request asks for, for its segment: `X-Amz-Target`'s
/// (JSON protocols) or the form's `Action` (query protocols).
fn operation(parts: &http::request::Parts, body: &[u8]) -> Option<String> {
    if let Some(t) = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
    {
        return t.rsplit('.').next().map(str::to_string);
    }
    let content_type = parts.headers.get("content-type")?.to_str().ok()?;
    if !content_type.starts_with("application/x-www-form-urlencoded") {
        return None;
    }
    let form = nimbus_api_common::query::Form::new(parts.uri.query().unwrap_or(""), body);
    form.get("Action").map(str::to_string)
}

impl Edge {
    pub fn new(
        auth: Auth,
        services: Vec<Arc<dyn Service>>,
        s3: Arc<S3Api>,
        functions: Arc<Functions>,
        gateway: Arc<nimbus_gateway::serve::Gateway>,
        topics: Arc<nimbus_topics::Topics>,
        telemetry: Telemetry,
    ) -> Edge {
        let auth = Arc::new(auth);
        s3.set_form_signers(auth.clone());
        Edge {
            auth,
            services,
            s3,
            functions,
            gateway,
            topics,
            metrics: telemetry.metrics,
            traces: telemetry.traces,
        }
    }

    /// A request to an HTTP API or a function URL: no AWS signature unless the
    /// URL's auth type is `AWS_IAM` (then one for `lambda`).
    async fn serve_gateway(
        &self,
        target: nimbus_gateway::serve::Target,
        path: String,
        mut parts: http::request::Parts,
        body: Incoming,
        rid: &str,
        peer: &str,
    ) -> Response<Body> {
        use nimbus_gateway::serve::Target;
        // API Gateway and function URLs start a trace for a request that comes
        // without one (its function decides whether to sample it); an API
        // records its own segment in a sampled one.
        if !parts.headers.contains_key("x-amzn-trace-id") {
            let root = format!("Root={}", nimbus_traces::header::new_trace_id());
            if let Ok(v) = HeaderValue::from_str(&root) {
                parts.headers.insert("x-amzn-trace-id", v);
            }
        }
        let traced = match &target {
            Target::Api(_) => trace_call(&mut parts),
            Target::FunctionUrl(_) => None,
        };
        let body = match Limited::new(body, MAX_GATEWAY_BODY).collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => {
                let mut r = Response::new(Bytes::from_static(
                    b"{\"message\":\"Request Entity Too Large\"}",
                ));
                *r.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
                return boxed(r);
            }
        };
        let call = |body| nimbus_gateway::serve::Call {
            path: &path,
            parts: &parts,
            body,
            request_id: rid,
            source_ip: peer,
        };
        match target {
            Target::Api(id) => {
                let started = std::time::Instant::now();
                let resp = self.gateway.serve_api(&id, call(body)).await;
                let integration = resp
                    .extensions()
                    .get::<nimbus_gateway::serve::IntegrationLatency>()
                    .map(|i| i.0);
                self.count_api_request(&id, resp.status(), started.elapsed(), integration);
                if let Some(t) = traced {
                    let (name, origin) = nimbus_traces::service::API_STAGE;
                    let name = format!("{name}/{id}");
                    let op = format!("{} {}", parts.method, path);
                    let status = resp.status().as_u16();
                    t.finish(&self.traces, (&name, origin), Some(&op), rid, status);
                }
                boxed(resp)
            }
            Target::FunctionUrl(id) => {
                let admitted = match self.gateway.url(&id) {
                    Some(url) => self.url_caller(&parts, &body, &url, peer),
                    // No such URL: the gateway answers it.
                    None => Some(None),
                };
                let Some(caller) = admitted else {
                    let mut r = Response::new(Bytes::from_static(b"{\"Message\":\"Forbidden\"}"));
                    *r.status_mut() = StatusCode::FORBIDDEN;
                    r.headers_mut()
                        .insert("content-type", HeaderValue::from_static("application/json"));
                    return boxed(r);
                };
                return self
                    .gateway
                    .serve_url(&id, call(body), caller.as_deref())
                    .await;
            }
        }
    }

    /// API Gateway's metrics of one request: `Count`, client and server
    /// errors, `Latency` and (when it called one) `IntegrationLatency` (ms), by
    /// the API's dimension.
    fn count_api_request(
        &self,
        api_id: &str,
        status: StatusCode,
        took: std::time::Duration,
        integration: Option<std::time::Duration>,
    ) {
        use nimbus_metrics::MetricId;
        let Some(names) = self.gateway.metric_names(api_id) else {
            return;
        };
        let (k, v) = (names.dimension.0, names.dimension.1.as_str());
        let id = |name: &str| MetricId::new("AWS/ApiGateway", name, &[(k, v)]);
        let flag = |b: bool| if b { 1.0 } else { 0.0 };
        let mut points = vec![
            (id("Count"), "Count", 1.0),
            (
                id(names.client_errors),
                "Count",
                flag(status.is_client_error()),
            ),
            (
                id(names.server_errors),
                "Count",
                flag(status.is_server_error()),
            ),
            (id("Latency"), "Milliseconds", took.as_secs_f64() * 1000.0),
        ];
        if let Some(i) = integration {
            let ms = i.as_secs_f64() * 1000.0;
            points.push((id("IntegrationLatency"), "Milliseconds", ms));
        }
        self.metrics.record_all(points);
    }

    /// Who may call a function URL, as Lambda decides: the caller must be
    /// allowed `lambda:InvokeFunctionUrl` and `lambda:InvokeFunction` on the
    /// function (with `lambda:FunctionUrlAuthType` and
    /// `lambda:InvokedViaFunctionUrl` in the context). An `AWS_IAM` URL's
    /// caller is who signed the request for `lambda` (by its identity
    /// policies or the function's policy); a `NONE` URL's is anonymous, so
    /// only the function's policy, granting `*`, can let it in. `None` when
    /// refused; else the signing key, if any.
    fn url_caller(
        &self,
        parts: &http::request::Parts,
        body: &[u8],
        url: &nimbus_model::UrlConfig,
        peer: &str,
    ) -> Option<Option<String>> {
        let mut request = http::Extensions::new();
        let mut key = None;
        if url.auth_type == "AWS_IAM" {
            let lambda = self
                .services
                .iter()
                .find(|s| s.signing_name() == "lambda")?;
            if !parts.headers.contains_key("authorization") {
                return None;
            }
            let caller = self.authenticate(parts, body, lambda.as_ref()).ok()?;
            key = Some(caller.access_key_id.clone());
            request.insert(caller);
        }
        request.insert(nimbus_api_common::SourceIp(peer.to_string()));
        if let Some(a) = &self.auth.authorizer {
            request.insert(a.clone());
        }
        let function = match &url.qualifier {
            Some(q) => format!("function:{}:{q}", url.function_name),
            None => format!("function:{}", url.function_name),
        };
        let allowed = nimbus_api_common::authz::authorize(&request, |scope| {
            let arn = scope.arn("lambda", &function);
            ["lambda:InvokeFunctionUrl", "lambda:InvokeFunction"]
                .into_iter()
                .map(|action| {
                    Access::new(action, arn.clone())
                        .with_key("lambda:FunctionUrlAuthType", url.auth_type.clone())
                        .with_key("lambda:InvokedViaFunctionUrl", "true")
                })
                .collect()
        });
        match allowed {
            Ok(()) => Some(key),
            Err(denied) => {
                tracing::debug!(reason = %denied.message, "function URL request refused by IAM");
                None
            }
        }
    }

    /// Verify an S3 request's signature (header SigV4 or SigV2, or presigned
    /// URL), and say how its payload must be checked and who signed it.
    fn authenticate_s3(&self, parts: &http::request::Parts) -> Result<(Payload, Caller), S3Error> {
        let identify = |key: &str| self.auth.identify(parts, key).map_err(|e| from_auth(&e));
        let h = &parts.headers;
        let query = parts.uri.query().unwrap_or("");
        let content_sha = h
            .get("x-amz-content-sha256")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let now = (nimbus_model::time::now_millis() / 1000) as i64;
        let header = h.get("authorization").and_then(|v| v.to_str().ok());
        let payload_of = |sha: &Option<String>, signing: Option<ChunkSigning>| match sha.as_deref()
        {
            None | Some("UNSIGNED-PAYLOAD") => Ok(Payload::Unsigned),
            Some("STREAMING-UNSIGNED-PAYLOAD-TRAILER") => Ok(Payload::Chunked(None)),
            Some(
                "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" | "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
            ) => Ok(Payload::Chunked(signing)),
            Some(hex) if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
                Ok(Payload::Sha256(hex.to_ascii_lowercase()))
            }
            Some(other) => Err(S3Error::bad(
                "InvalidArgument",
                format!(
                    "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-*, or a SHA-256 digest, not {other:?}"
                ),
            )),
        };
        // CORS preflights are unauthenticated, as on S3; they read no body.
        if self.auth.any_credentials || parts.method == http::Method::OPTIONS {
            let caller = self.auth.unverified("");
            return payload_of(&content_sha, None).map(|p| (p, caller));
        }
        fn rp<'a>(
            parts: &'a http::request::Parts,
            query: &'a str,
            payload_hash: &'a str,
        ) -> RequestParts<'a> {
            RequestParts {
                method: parts.method.as_str(),
                raw_path: parts.uri.path(),
                raw_query: query,
                headers: &parts.headers,
                payload_hash,
                double_encode_path: false,
            }
        }
        // SigV2 (header or presigned query): the payload is not signed.
        let verify_v2 = |v2: &nimbus_api_common::sigv2::V2| -> Result<(Payload, Caller), S3Error> {
            let (secret, caller) = identify(&v2.access_key_id)?;
            let resource = nimbus_api_common::sigv2::canonical_resource(
                nimbus_api_s3::host_bucket(h).as_deref(),
                parts.uri.path(),
                query,
            );
            nimbus_api_common::sigv2::verify(
                v2,
                parts.method.as_str(),
                h,
                &resource,
                |_| Some(secret.clone()),
                now,
            )
            .map_err(|e| from_auth(&e))?;
            Ok((Payload::Unsigned, caller))
        };
        if let Some(header) = header {
            if let Some(v2) = nimbus_api_common::sigv2::parse_header(header) {
                return verify_v2(&v2);
            }
            let auth = Authorization::parse(header).map_err(|e| from_auth(&e))?;
            let sha = content_sha.clone().ok_or_else(|| {
                S3Error::bad(
                    "InvalidRequest",
                    "Missing required header for this request: x-amz-content-sha256",
                )
            })?;
            let (secret, caller) = identify(&auth.access_key_id)?;
            sigv4::verify(
                &rp(parts, query, &sha),
                &auth,
                |_| Some(secret.clone()),
                now,
            )
            .map_err(|e| from_auth(&e))?;
            let signing = {
                ChunkSigning {
                    key: sigv4::signing_key(&secret, &auth.date, &auth.region, &auth.service),
                    amz_date: sigv4::request_date(h).map(|(d, _)| d).unwrap_or_default(),
                    scope: auth.scope(),
                    seed: auth.signature.clone(),
                }
            };
            return payload_of(&content_sha, Some(signing)).map(|p| (p, caller));
        }
        if let Some(p) = sigv4::parse_presigned(query) {
            let p = p.map_err(|e| from_auth(&e))?;
            let sha = sigv4::query_param(query, "X-Amz-Content-Sha256")
                .unwrap_or_else(|| "UNSIGNED-PAYLOAD".into());
            let (secret, caller) = identify(&p.auth.access_key_id)?;
            sigv4::verify_presigned(&rp(parts, query, &sha), &p, |_| Some(secret.clone()), now)
                .map_err(|e| from_auth(&e))?;
            return Ok((Payload::Unsigned, caller));
        }
        if let Some(v2) = nimbus_api_common::sigv2::parse_query(query) {
            return verify_v2(&v2.map_err(|e| from_auth(&e))?);
        }
        // Unsigned: anonymous, which only a bucket's policy or ACL can let
        // in; without IAM nothing would check it, so it is refused. A POST
        // form carries its signature inside: S3 checks it there.
        if self.auth.authorizer.is_some() || is_post_form(parts) {
            return payload_of(&content_sha, None).map(|p| (p, Caller::anonymous()));
        }
        Err(from_auth(&sigv4::AuthError::Missing))
    }

    fn route(&self, parts: &http::request::Parts) -> Option<Arc<dyn Service>> {
        let scope_service = parts
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|a| Authorization::parse(a).ok())
            .map(|a| a.service);
        if let Some(name) = scope_service
            && let Some(s) = self.services.iter().find(|s| s.signing_name() == name)
        {
            return Some(s.clone());
        }
        if let Some(target) = parts
            .headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
        {
            let prefix = target.split('.').next().unwrap_or("").to_ascii_lowercase();
            if let Some(s) = self
                .services
                .iter()
                .find(|s| prefix.contains(s.signing_name()))
            {
                return Some(s.clone());
            }
        }
        self.services.iter().find(|s| s.owns(parts)).cloned()
    }

    /// Verify a request's SigV4 header signature; who signed it.
    fn authenticate(
        &self,
        parts: &http::request::Parts,
        body: &[u8],
        service: &dyn Service,
    ) -> Result<Caller, ApiError> {
        let header = parts
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        let Some(header) = header else {
            return if self.auth.any_credentials {
                Ok(self.auth.unverified(""))
            } else {
                Err(auth_error(&sigv4::AuthError::Missing))
            };
        };
        let auth = Authorization::parse(header).map_err(|e| auth_error(&e))?;
        if self.auth.any_credentials {
            return Ok(self.auth.unverified(&auth.access_key_id));
        }
        let payload_hash = match parts
            .headers
            .get("x-amz-content-sha256")
            .and_then(|v| v.to_str().ok())
        {
            Some(h) if service.signing_name() == "s3" => h.to_string(),
            _ => hex::encode(Sha256::digest(body)),
        };
        let rp = RequestParts {
            method: parts.method.as_str(),
            raw_path: parts.uri.path(),
            raw_query: parts.uri.query().unwrap_or(""),
            headers: &parts.headers,
            payload_hash: &payload_hash,
            double_encode_path: service.signing_name() != "s3",
        };
        let (secret, caller) = self
            .auth
            .identify(parts, &auth.access_key_id)
            .map_err(|e| auth_error(&e))?;
        let now = (nimbus_model::time::now_millis() / 1000) as i64;
        sigv4::verify(&rp, &auth, |_| Some(secret.clone()), now).map_err(|e| auth_error(&e))?;
        Ok(caller)
    }

    /// Put who signed a request, and the authorizer that will judge it, into
    /// its extensions; the client's address (`aws:SourceIp`) only when the
    /// caller's policies will be evaluated (the root's requests, invocations
    /// among them, skip the allocation).
    fn hand_over(&self, ext: &mut http::Extensions, caller: Caller, peer: &str) {
        ext.insert(caller);
        if let Some(a) = &self.auth.authorizer {
            ext.insert(a.clone());
            if !a.unrestricted(ext) {
                ext.insert(nimbus_api_common::SourceIp(peer.to_string()));
            }
        }
    }

    /// [`Edge::hand_over`] for S3, whose POST forms name their own signer:
    /// the address goes with them whoever signed the outer request.
    fn hand_over_s3(&self, parts: &mut http::request::Parts, caller: Caller, peer: &str) {
        let form = is_post_form(parts);
        self.hand_over(&mut parts.extensions, caller, peer);
        if form && self.auth.authorizer.is_some() {
            parts
                .extensions
                .insert(nimbus_api_common::SourceIp(peer.to_string()));
        }
    }

    async fn handle(&self, req: Request<Incoming>, peer: &str) -> Response<Body> {
        let rid = request_id();
        let (mut parts, body) = req.into_parts();
        if let Some((target, path)) = nimbus_gateway::serve::addressed(&parts) {
            let span = tracing::debug_span!("request", request_id = %rid, service = "gateway");
            return self
                .serve_gateway(target, path, parts, body, &rid, peer)
                .instrument(span)
                .await;
        }
        if let Some(resp) = self.internal(&parts) {
            return boxed(resp);
        }
        let service = self.route(&parts);
        if is_s3(&parts, service.as_ref()) {
            return match self.authenticate_s3(&parts) {
                Ok((payload, caller)) => {
                    self.hand_over_s3(&mut parts, caller, peer);
                    let span = tracing::debug_span!("request", request_id = %rid, service = "s3");
                    self.s3
                        .handle(parts, body, payload, &rid)
                        .instrument(span)
                        .await
                }
                Err(e) => {
                    tracing::debug!(code = %e.code(), "S3 request refused by authentication");
                    self.s3.error_response(
                        &e,
                        parts.uri.path(),
                        &rid,
                        parts.method == http::Method::HEAD,
                    )
                }
            };
        }
        let Some(service) = service else {
            let err = ApiError::new(
                StatusCode::BAD_REQUEST,
                "UnknownServiceException",
                format!(
                    "No Nimbus service handles {} {}",
                    parts.method,
                    parts.uri.path()
                ),
            );
            return boxed(err.rest_json(&rid));
        };
        let limit = service.max_body().min(MAX_BODY);
        let body = match Limited::new(body, limit).collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                let too_big = e
                    .downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some();
                let err = if too_big {
                    ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "RequestTooLargeException",
                        format!("Request size exceeded {limit} bytes"),
                    )
                } else {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "IncompleteBody",
                        "The request body could not be read",
                    )
                };
                return boxed(service.error(&err, &rid));
            }
        };
        match self.authenticate(&parts, &body, service.as_ref()) {
            Ok(caller) => self.hand_over(&mut parts.extensions, caller, peer),
            Err(e) => {
                tracing::debug!(code = %e.code, "request refused by authentication");
                return boxed(service.error(&e, &rid));
            }
        }
        // A compressed body (the SDKs gzip large `PutMetricData` calls) was
        // signed as sent; the service reads it decompressed.
        let body = match decompressed(&mut parts, body, limit) {
            Ok(b) => b,
            Err(e) => return boxed(service.error(&e, &rid)),
        };
        // A service that records its own X-Ray segment does so for a call in a
        // sampled trace.
        let traced = nimbus_traces::service::identity(service.signing_name())
            .and_then(|who| Some((who, trace_call(&mut parts)?, operation(&parts, &body))));
        let span =
            tracing::debug_span!("request", request_id = %rid, service = service.signing_name());
        let resp = if service.streams(&parts) {
            service
                .handle_stream(Request::from_parts(parts, body), rid.clone())
                .instrument(span)
                .await
        } else {
            boxed(
                service
                    .handle(Request::from_parts(parts, body), rid.clone())
                    .instrument(span)
                    .await,
            )
        };
        if let Some((who, call, op)) = traced {
            let status = resp.status().as_u16();
            call.finish(&self.traces, who, op.as_deref(), &rid, status);
        }
        resp
    }

    /// SNS's pages: the signing certificate, and the links messages carry
    /// (a subscription confirmed or ended by visiting them, as on SNS).
    fn sns_page(&self, page: &str, query: &str) -> Response<Bytes> {
        let form = nimbus_api_common::query::Form::new(query, &[]);
        let get = |k: &str| form.get(k).unwrap_or_default();
        let answer = |status: StatusCode, body: String, kind: &'static str| {
            let mut r = Response::new(Bytes::from(body));
            *r.status_mut() = status;
            r.headers_mut()
                .insert("content-type", HeaderValue::from_static(kind));
            r
        };
        let xml = |action: &str, result: String| {
            format!(
                "<{action}Response xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><{action}Result>{result}</{action}Result><ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></{action}Response>",
                uuid::Uuid::new_v4()
            )
        };
        let arn_xml = |arn: &str| {
            format!(
                "<SubscriptionArn>{}</SubscriptionArn>",
                nimbus_api_common::xml::escape(arn)
            )
        };
        match page {
            "SimpleNotificationService.pem" => match self.topics.certificate_pem() {
                Some(pem) => answer(StatusCode::OK, pem.to_string(), "application/x-pem-file"),
                None => answer(StatusCode::NOT_FOUND, "no signing key".into(), "text/plain"),
            },
            "confirm" => match self
                .topics
                .confirm_subscription(get("TopicArn"), get("Token"))
            {
                Ok(arn) => answer(
                    StatusCode::OK,
                    xml("ConfirmSubscription", arn_xml(&arn)),
                    "text/xml",
                ),
                Err(e) => answer(StatusCode::BAD_REQUEST, e.to_string(), "text/plain"),
            },
            "unsubscribe" => match self.topics.unsubscribe(get("SubscriptionArn")) {
                Ok(()) => answer(
                    StatusCode::OK,
                    xml("Unsubscribe", String::new()),
                    "text/xml",
                ),
                Err(e) => answer(StatusCode::BAD_REQUEST, e.to_string(), "text/plain"),
            },
            _ => answer(StatusCode::NOT_FOUND, "not found".into(), "text/plain"),
        }
    }

    /// Nimbus's own unauthenticated routes under `/_nimbus/`.
    fn internal(&self, parts: &http::request::Parts) -> Option<Response<Bytes>> {
        if is_health_probe(parts) {
            // DynamoDB's endpoint answers an unsigned `GET /` so; a signed one
            // is S3's ListBuckets.
            let mut r = Response::new(Bytes::from(format!(
                "healthy: dynamodb.{}.amazonaws.com ",
                self.auth.region
            )));
            r.headers_mut()
                .insert("content-type", HeaderValue::from_static("text/plain"));
            return Some(r);
        }
        let path = parts.uri.path().strip_prefix("/_nimbus/")?;
        let mut resp = if path == "health" {
            Response::new(Bytes::from_static(b"{\"status\":\"ok\"}"))
        } else if path == "metrics" {
            let mut r = Response::new(Bytes::from(self.metrics.prometheus()));
            r.headers_mut().insert(
                "content-type",
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            r
        } else if let Some(page) = path.strip_prefix("sns/") {
            self.sns_page(page, parts.uri.query().unwrap_or(""))
        } else if let Some(digest) = path.strip_prefix("code/") {
            // The `Code.Location` of GetFunction: the digest is the capability.
            match self
                .functions
                .code_path(digest)
                .and_then(|p| std::fs::read(p).ok())
            {
                Some(zip) => {
                    let mut r = Response::new(Bytes::from(zip));
                    r.headers_mut()
                        .insert("content-type", HeaderValue::from_static("application/zip"));
                    r
                }
                None => {
                    let mut r = Response::new(Bytes::from_static(b"not found"));
                    *r.status_mut() = StatusCode::NOT_FOUND;
                    r
                }
            }
        } else {
            let mut r = Response::new(Bytes::from_static(b"not found"));
            *r.status_mut() = StatusCode::NOT_FOUND;
            r
        };
        if path == "health" {
            resp.headers_mut()
                .insert("content-type", HeaderValue::from_static("application/json"));
        }
        Some(resp)
    }
}

/// Accept connections forever, serving each with HTTP/1.1 keep-alive.
pub async fn serve(listener: tokio::net::TcpListener, edge: Arc<Edge>) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let edge = edge.clone();
        let peer = peer.ip().to_string();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let edge = edge.clone();
                let peer = peer.clone();
                async move { Ok::<_, std::convert::Infallible>(edge.handle(req, &peer).await) }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), svc)
                .await
            {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
}
