//! The AWS query protocol: `Action=<Operation>&Version=...&<flattened members>`
//! as a form (body or query string), answered with
//! `<OperationResponse><OperationResult>...</OperationResult><ResponseMetadata>`
//! XML, errors as `<ErrorResponse>`. IAM, STS, SNS, CloudFormation, CloudWatch
//! and SQS's older clients speak it. A service declares its [`Query`] once
//! (the XML namespace); form decoding and the envelopes happen here, the
//! members of each operation's result are the service's.

use crate::{ApiError, Fault};
use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};

/// One service's query-protocol framing.
#[derive(Debug, Clone, Copy)]
pub struct Query {
    /// The XML namespace of its documents (`http://queue.amazonaws.com/doc/2012-11-05/`).
    pub namespace: &'static str,
}

/// Decode a form (`application/x-www-form-urlencoded`, `+` as space) into its
/// pairs, in order; malformed escapes are kept as they are.
pub fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(body);
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let s = s.replace('+', " ");
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        // Hex digits are ASCII: work on bytes, never slice the text (a `%` may be
        // followed by a multi-byte character).
        let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub use crate::xml::escape;

/// A decoded query-protocol request: its members by flattened name
/// (`RoleName`, `Tags.member.1.Key`, `PolicyArns.member.2.arn`).
#[derive(Debug, Clone, Default)]
pub struct Form {
    pairs: Vec<(String, String)>,
}

impl Form {
    /// The members of the query string and the body together.
    pub fn new(query: &str, body: &[u8]) -> Form {
        let mut pairs = parse_form(query.as_bytes());
        pairs.extend(parse_form(body));
        Form { pairs }
    }

    /// A member's value (the last one when repeated).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The entries of a list of structures, `name.member.N.field`, in order
    /// of N: each entry's fields by name.
    pub fn members(&self, name: &str) -> Vec<Vec<(&str, &str)>> {
        self.indexed(&format!("{name}.member."))
    }

    /// The entries of a map, `name.entry.N.field` (SNS's `Attributes` and
    /// `MessageAttributes`), in order of N: each entry's fields by name.
    pub fn entries(&self, name: &str) -> Vec<Vec<(&str, &str)>> {
        self.indexed(&format!("{name}.entry."))
    }

    fn indexed(&self, prefix: &str) -> Vec<Vec<(&str, &str)>> {
        let mut by_index: std::collections::BTreeMap<u32, Vec<(&str, &str)>> =
            std::collections::BTreeMap::new();
        for (k, v) in &self.pairs {
            let Some(rest) = k.strip_prefix(prefix) else {
                continue;
            };
            let (n, field) = rest.split_once('.').unwrap_or((rest, ""));
            if let Ok(n) = n.parse::<u32>() {
                by_index.entry(n).or_default().push((field, v.as_str()));
            }
        }
        by_index.into_values().collect()
    }

    /// A list of strings, `name.member.N`, in order of N.
    pub fn list(&self, name: &str) -> Vec<String> {
        self.members(name)
            .into_iter()
            .filter_map(|m| {
                m.iter()
                    .find(|(f, _)| f.is_empty())
                    .map(|(_, v)| v.to_string())
            })
            .collect()
    }
}

impl Query {
    /// The answer document for `action`, its result's members already written as XML.
    pub fn document(&self, action: &str, members: &str, request_id: &str) -> String {
        self.document_with(action, (!members.is_empty()).then_some(members), request_id)
    }

    /// [`Query::document`] with the `<{action}Result>` element given
    /// even when empty (`Some("")`: `<{action}Result/>`, as SQS writes an
    /// empty `ReceiveMessage` answer), or left out (`None`).
    pub fn document_with(&self, action: &str, members: Option<&str>, request_id: &str) -> String {
        let result = match members {
            None => String::new(),
            Some("") => format!("<{action}Result/>"),
            Some(m) => format!("<{action}Result>{m}</{action}Result>"),
        };
        format!(
            "<?xml version=\"1.0\"?><{action}Response xmlns=\"{}\">{result}<ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></{action}Response>",
            self.namespace,
            escape(request_id)
        )
    }

    /// The error document: `Sender` or `Receiver`, the error's query code (or
    /// its code), its message.
    pub fn error_document(&self, e: &ApiError, request_id: &str) -> String {
        let kind = match e.fault() {
            Fault::Sender => "Sender",
            Fault::Receiver => "Receiver",
        };
        format!(
            "<?xml version=\"1.0\"?><ErrorResponse xmlns=\"{}\"><Error><Type>{kind}</Type><Code>{}</Code><Message>{}</Message><Detail/></Error><RequestId>{}</RequestId></ErrorResponse>",
            self.namespace,
            escape(e.query_code.as_deref().unwrap_or(&e.code)),
            escape(&e.message),
            escape(request_id)
        )
    }

    /// An XML response with the request id header.
    pub fn respond(
        &self,
        status: StatusCode,
        document: String,
        request_id: &str,
    ) -> Response<Bytes> {
        let mut r = Response::new(Bytes::from(document));
        *r.status_mut() = status;
        r.headers_mut()
            .insert("content-type", HeaderValue::from_static("text/xml"));
        if let Ok(v) = HeaderValue::from_str(request_id) {
            r.headers_mut().insert("x-amzn-requestid", v);
        }
        r
    }

    /// An error in the query protocol's envelope.
    pub fn error(&self, e: &ApiError, request_id: &str) -> Response<Bytes> {
        let mut r = self.respond(e.status, self.error_document(e, request_id), request_id);
        e.add_headers(&mut r, "x-amzn-requestid", request_id);
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const Q: Query = Query {
        namespace: "http://example.com/doc/",
    };

    #[test]
    fn forms_read_members_and_lists() {
        let f = Form::new(
            "Action=TagRole",
            b"RoleName=r&Tags.member.2.Key=b&Tags.member.1.Key=a&Tags.member.1.Value=1&Keys.member.1=x&Keys.member.10=z&Keys.member.2=y",
        );
        assert_eq!(f.get("Action"), Some("TagRole"));
        assert_eq!(f.get("Missing"), None);
        assert_eq!(f.list("Keys"), ["x", "y", "z"]);
        let tags = f.members("Tags");
        assert_eq!(
            tags,
            vec![vec![("Key", "a"), ("Value", "1")], vec![("Key", "b")]]
        );
    }

    #[test]
    fn forms_decode_and_documents_are_framed() {
        assert_eq!(
            parse_form(b"Action=Send&Body=a+b%26c&Bad=%zz&&Empty"),
            vec![
                ("Action".into(), "Send".into()),
                ("Body".into(), "a b&c".into()),
                ("Bad".into(), "%zz".into()),
                ("Empty".into(), String::new()),
            ]
        );
        let d = Q.document("GetThing", "<A>1</A>", "rid");
        assert!(d.contains("<GetThingResponse xmlns=\"http://example.com/doc/\"><GetThingResult><A>1</A></GetThingResult>"));
        assert!(d.contains("<RequestId>rid</RequestId>"));
        assert!(
            !Q.document("DeleteThing", "", "rid")
                .contains("DeleteThingResult")
        );
        let e = ApiError::bad_request("NoSuchThing", "a <thing>")
            .with_query_code("AWS.Legacy.NoSuchThing");
        let r = Q.error(&e, "rid");
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let body = String::from_utf8_lossy(r.body()).to_string();
        assert!(body.contains("<Type>Sender</Type><Code>AWS.Legacy.NoSuchThing</Code><Message>a &lt;thing&gt;</Message>"), "{body}");
    }
}
