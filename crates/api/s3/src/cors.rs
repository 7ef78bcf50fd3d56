//! CORS: bucket configurations, preflight requests, and the headers added to answers.

use crate::*;

pub(crate) const CORS_METHODS: [&str; 5] = ["GET", "PUT", "POST", "DELETE", "HEAD"];

pub(crate) fn parse_cors(doc: &[u8]) -> Result<Vec<nimbus_objects::CorsRule>, S3Error> {
    let root = xml::parse(doc).map_err(|m| S3Error::bad("MalformedXML", m))?;
    let texts = |r: &xml::Element, name: &str| -> Vec<String> {
        r.children_named(name)
            .map(|e| e.text.trim().to_string())
            .collect()
    };
    let mut rules = Vec::new();
    for r in root.children_named("CORSRule") {
        let rule = nimbus_objects::CorsRule {
            id: r.child_text("ID").map(str::to_string),
            allowed_origins: texts(r, "AllowedOrigin"),
            allowed_methods: texts(r, "AllowedMethod"),
            allowed_headers: texts(r, "AllowedHeader"),
            expose_headers: texts(r, "ExposeHeader"),
            max_age_seconds: r
                .child_text("MaxAgeSeconds")
                .map(|m| {
                    m.trim()
                        .parse()
                        .map_err(|_| S3Error::bad("MalformedXML", "MaxAgeSeconds must be a number"))
                })
                .transpose()?,
        };
        if rule.allowed_origins.is_empty() || rule.allowed_methods.is_empty() {
            return Err(S3Error::bad(
                "MalformedXML",
                "A CORSRule needs at least one AllowedOrigin and one AllowedMethod",
            ));
        }
        if let Some(m) = rule
            .allowed_methods
            .iter()
            .find(|m| !CORS_METHODS.contains(&m.as_str()))
        {
            return Err(S3Error::invalid_argument(format!(
                "Found unsupported HTTP method in CORS config. Unsupported method is {m}"
            )));
        }
        if rule
            .allowed_origins
            .iter()
            .chain(&rule.allowed_headers)
            .any(|o| o.matches('*').count() > 1)
        {
            return Err(S3Error::invalid_argument(
                "An AllowedOrigin or AllowedHeader can have at most one wildcard",
            ));
        }
        rules.push(rule);
    }
    if rules.is_empty() || rules.len() > 100 {
        return Err(S3Error::bad(
            "MalformedXML",
            "A CORS configuration needs between 1 and 100 CORSRules",
        ));
    }
    Ok(rules)
}

pub(crate) fn cors_response(rules: &[nimbus_objects::CorsRule]) -> Response<Body> {
    let mut doc = format!("{DECL}<CORSConfiguration xmlns=\"{NS}\">");
    for r in rules {
        doc.push_str("<CORSRule>");
        if let Some(id) = &r.id {
            doc.push_str(&el("ID", id));
        }
        for (name, values) in [
            ("AllowedHeader", &r.allowed_headers),
            ("AllowedMethod", &r.allowed_methods),
            ("AllowedOrigin", &r.allowed_origins),
            ("ExposeHeader", &r.expose_headers),
        ] {
            for v in values {
                doc.push_str(&el(name, v));
            }
        }
        if let Some(m) = r.max_age_seconds {
            doc.push_str(&el("MaxAgeSeconds", &m.to_string()));
        }
        doc.push_str("</CORSRule>");
    }
    doc.push_str("</CORSConfiguration>");
    xml_response(StatusCode::OK, doc)
}

/// Add the CORS headers of `rule` for a request from `origin`.
pub(crate) fn cors_headers(
    resp: &mut Response<Body>,
    rule: &nimbus_objects::CorsRule,
    origin: &str,
) {
    let any = rule.allowed_origins.iter().any(|o| o == "*");
    set(
        resp,
        "access-control-allow-origin",
        if any { "*" } else { origin },
    );
    set(
        resp,
        "access-control-allow-methods",
        &rule.allowed_methods.join(", "),
    );
    if !rule.expose_headers.is_empty() {
        set(
            resp,
            "access-control-expose-headers",
            &rule.expose_headers.join(", "),
        );
    }
    if let Some(m) = rule.max_age_seconds {
        set(resp, "access-control-max-age", &m.to_string());
    }
    if !any {
        set(resp, "access-control-allow-credentials", "true");
        set(
            resp,
            "vary",
            "Origin, Access-Control-Request-Headers, Access-Control-Request-Method",
        );
    }
}

impl S3Api {
    /// Answer an `OPTIONS` preflight from the bucket's CORS rules.
    pub(crate) fn preflight(&self, bucket: &str, h: &HeaderMap) -> Result<Response<Body>, S3Error> {
        let forbidden = || {
            S3Error::new(
                StatusCode::FORBIDDEN,
                "AccessForbidden",
                "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.",
            )
        };
        let (Some(origin), Some(method)) = (
            header(h, "origin"),
            header(h, "access-control-request-method"),
        ) else {
            return Err(S3Error::bad(
                "BadRequest",
                "Insufficient information. Origin request header needed.",
            ));
        };
        let requested: Vec<String> = header(h, "access-control-request-headers")
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let b = self.objects.bucket(bucket)?;
        let rules = b.cors.unwrap_or_default();
        let rule =
            nimbus_objects::cors_match(&rules, origin, method, &requested).ok_or_else(forbidden)?;
        let mut r = ok_empty(StatusCode::OK);
        cors_headers(&mut r, rule, origin);
        if !requested.is_empty() {
            set(
                &mut r,
                "access-control-allow-headers",
                &requested.join(", "),
            );
        }
        Ok(r)
    }

    /// CORS headers for an actual (non-preflight) request with an `Origin`.
    pub(crate) fn add_cors(
        &self,
        bucket: Option<&str>,
        h: &HeaderMap,
        method: &Method,
        resp: &mut Response<Body>,
    ) {
        let (Some(bucket), Some(origin)) = (bucket, header(h, "origin")) else {
            return;
        };
        let Ok(b) = self.objects.bucket(bucket) else {
            return;
        };
        if let Some(rules) = &b.cors
            && let Some(rule) = nimbus_objects::cors_match(rules, origin, method.as_str(), &[])
        {
            cors_headers(resp, rule, origin);
        }
    }

    pub(crate) async fn put_cors(
        &self,
        bucket: &str,
        body: crate::body::RequestBody,
        payload: &Payload,
    ) -> Result<Response<Body>, S3Error> {
        let doc = body::read_document(body, payload, xml::MAX_DOCUMENT).await?;
        let rules = parse_cors(&doc)?;
        self.objects
            .update_bucket(bucket, |b| b.cors = Some(rules))?;
        Ok(ok_empty(StatusCode::OK))
    }

    pub(crate) fn get_cors(&self, bucket: &str) -> Result<Response<Body>, S3Error> {
        match self.objects.bucket(bucket)?.cors {
            Some(rules) => Ok(cors_response(&rules)),
            None => Err(S3Error::new(
                StatusCode::NOT_FOUND,
                "NoSuchCORSConfiguration",
                "The CORS configuration does not exist",
            )
            .with("BucketName", bucket)),
        }
    }

    pub(crate) fn delete_cors(&self, bucket: &str) -> Result<Response<Body>, S3Error> {
        self.objects.update_bucket(bucket, |b| b.cors = None)?;
        Ok(ok_empty(StatusCode::NO_CONTENT))
    }
}
