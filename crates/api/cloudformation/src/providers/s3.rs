//! `AWS::S3::Bucket` and `AWS::S3::BucketPolicy` through S3's REST-XML API.
//! A bucket is created, then configured (tags, versioning, CORS, public access
//! block, ownership, notifications); `Ref` is its name; `Arn`, `DomainName`,
//! `DualStackDomainName`, `RegionalDomainName`, `WebsiteURL` as CloudFormation
//! gives them. Deleting a bucket empties nothing: S3 refuses a non-empty one.

use super::{Created, Ctx, refused, required, string};
use bytes::Bytes;
use http::{Method, Request};
use nimbus_api_common::xml::{self, Element, el};
use serde_json::{Map, Value};

/// Regions whose website endpoint is `s3-website-REGION` rather than
/// `s3-website.REGION`.
const DASHED_WEBSITE_REGIONS: [&str; 9] = [
    "us-east-1",
    "us-west-1",
    "us-west-2",
    "eu-west-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-northeast-1",
    "sa-east-1",
    "us-gov-west-1",
];

/// S3's refusal: the status, S3's error code and the message as
/// CloudFormation reports it.
struct Refusal {
    status: u16,
    code: String,
    message: String,
}

/// One S3 call; the answer's document (empty when there is none).
async fn call(
    ctx: &Ctx,
    method: Method,
    path: &str,
    body: Option<String>,
) -> Result<Element, Refusal> {
    let body = body.map_or_else(Bytes::new, Bytes::from);
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/xml")
        .header("content-length", body.len())
        .body(body)
        .map_err(|e| Refusal {
            status: 400,
            code: "InvalidRequest".into(),
            message: e.to_string(),
        })?;
    let (status, body) = ctx.send("s3", req).await;
    let doc = if body.iter().all(u8::is_ascii_whitespace) {
        Element::default()
    } else {
        xml::parse(&body).unwrap_or_default()
    };
    if status >= 300 {
        let text = |name: &str| doc.child_text(name).unwrap_or_default().to_string();
        let message = Some(text("Message"))
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| format!("S3 answered {status}"));
        return Err(Refusal {
            status,
            code: text("Code"),
            message: refused("S3", status, &message),
        });
    }
    Ok(doc)
}

async fn s3(ctx: &Ctx, method: Method, path: &str, body: Option<String>) -> Result<(), String> {
    call(ctx, method, path, body)
        .await
        .map(|_| ())
        .map_err(|r| r.message)
}

pub(super) async fn create(ctx: &Ctx, props: &Map<String, Value>) -> Result<Created, String> {
    let name = match string(props, "BucketName") {
        Some(n) => n,
        None => ctx.generated_lower_name(63),
    };
    let location = (ctx.region != "us-east-1").then(|| {
        format!(
            "<CreateBucketConfiguration>{}</CreateBucketConfiguration>",
            el("LocationConstraint", &ctx.region)
        )
    });
    s3(ctx, Method::PUT, &format!("/{name}"), location).await?;
    if let Err(why) = configure(ctx, &name, props).await {
        // The resource fails without a physical id: nothing would delete it.
        if let Err(left) = delete(ctx, &name).await {
            tracing::warn!(bucket = %name, error = %left, "delete a bucket whose configuration failed");
        }
        return Err(why);
    }
    Ok(attributes(&name, &ctx.region))
}

/// What `Ref` and `Fn::GetAtt` give for the bucket `name` in `region`.
fn attributes(name: &str, region: &str) -> Created {
    let website = if DASHED_WEBSITE_REGIONS.contains(&region) {
        format!("http://{name}.s3-website-{region}.amazonaws.com")
    } else {
        format!("http://{name}.s3-website.{region}.amazonaws.com")
    };
    Created::named(name)
        .with("Arn", format!("arn:aws:s3:::{name}"))
        .with("DomainName", format!("{name}.s3.amazonaws.com"))
        .with(
            "DualStackDomainName",
            format!("{name}.s3.dualstack.{region}.amazonaws.com"),
        )
        .with(
            "RegionalDomainName",
            format!("{name}.s3.{region}.amazonaws.com"),
        )
        .with("WebsiteURL", website)
}

/// Each configuration the template gives, as its own S3 call.
async fn configure(ctx: &Ctx, name: &str, props: &Map<String, Value>) -> Result<(), String> {
    let path = |sub: &str| format!("/{name}?{sub}");
    if let Some(tags) = props.get("Tags").and_then(Value::as_array) {
        s3(ctx, Method::PUT, &path("tagging"), Some(tagging(tags))).await?;
    }
    if let Some(v) = props.get("VersioningConfiguration") {
        let doc = format!(
            "<VersioningConfiguration>{}</VersioningConfiguration>",
            el("Status", &text(v, "Status"))
        );
        s3(ctx, Method::PUT, &path("versioning"), Some(doc)).await?;
    }
    // Object Lock on a new bucket: versioning on, then the configuration
    // (what creating the bucket with it amounts to).
    let lock = props.get("ObjectLockConfiguration");
    let enabled = props
        .get("ObjectLockEnabled")
        .is_some_and(|v| v == &Value::Bool(true) || v.as_str() == Some("true"));
    if enabled || lock.is_some() {
        let doc = "<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>";
        s3(ctx, Method::PUT, &path("versioning"), Some(doc.into())).await?;
        let rule = lock
            .and_then(|l| l.get("Rule"))
            .and_then(|r| r.get("DefaultRetention"))
            .map(|d| {
                let period: String = ["Mode", "Days", "Years"]
                    .iter()
                    .filter(|k| d.get(**k).is_some())
                    .map(|k| el(k, &text(d, k)))
                    .collect();
                format!("<Rule><DefaultRetention>{period}</DefaultRetention></Rule>")
            })
            .unwrap_or_default();
        let doc = format!(
            "<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled>{rule}</ObjectLockConfiguration>"
        );
        s3(ctx, Method::PUT, &path("object-lock"), Some(doc)).await?;
    }
    if let Some(c) = props.get("CorsConfiguration") {
        s3(ctx, Method::PUT, &path("cors"), Some(cors(c))).await?;
    }
    if let Some(p) = props.get("PublicAccessBlockConfiguration") {
        let doc: String = [
            "BlockPublicAcls",
            "BlockPublicPolicy",
            "IgnorePublicAcls",
            "RestrictPublicBuckets",
        ]
        .iter()
        .filter(|k| p.get(**k).is_some())
        .map(|k| el(k, &text(p, k)))
        .collect();
        let doc = format!("<PublicAccessBlockConfiguration>{doc}</PublicAccessBlockConfiguration>");
        s3(ctx, Method::PUT, &path("publicAccessBlock"), Some(doc)).await?;
    }
    if let Some(o) = props.get("OwnershipControls") {
        let rules: String = list(o, "Rules")
            .map(|r| {
                format!(
                    "<Rule>{}</Rule>",
                    el("ObjectOwnership", &text(r, "ObjectOwnership"))
                )
            })
            .collect();
        let doc = format!("<OwnershipControls>{rules}</OwnershipControls>");
        s3(ctx, Method::PUT, &path("ownershipControls"), Some(doc)).await?;
    }
    if let Some(n) = props.get("NotificationConfiguration") {
        s3(
            ctx,
            Method::PUT,
            &path("notification"),
            Some(notifications(n)),
        )
        .await?;
    }
    Ok(())
}

/// Update a bucket in place: each configuration the template gives, put
/// again; a dropped notification configuration emptied.
pub(super) async fn update(
    ctx: &Ctx,
    name: &str,
    old: &Map<String, Value>,
    new: &Map<String, Value>,
) -> Result<(), String> {
    configure(ctx, name, new).await?;
    if old.contains_key("NotificationConfiguration")
        && !new.contains_key("NotificationConfiguration")
    {
        let doc = "<NotificationConfiguration/>".to_string();
        s3(
            ctx,
            Method::PUT,
            &format!("/{name}?notification"),
            Some(doc),
        )
        .await?;
    }
    Ok(())
}

/// A member as text (CloudFormation's booleans and numbers may come either way).
fn text(v: &Value, name: &str) -> String {
    match v.get(name) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

fn list<'a>(v: &'a Value, name: &str) -> impl Iterator<Item = &'a Value> {
    v.get(name).and_then(Value::as_array).into_iter().flatten()
}

fn tagging(tags: &[Value]) -> String {
    let tags: String = tags
        .iter()
        .map(|t| {
            format!(
                "<Tag>{}{}</Tag>",
                el("Key", &text(t, "Key")),
                el("Value", &text(t, "Value"))
            )
        })
        .collect();
    format!("<Tagging><TagSet>{tags}</TagSet></Tagging>")
}

fn cors(c: &Value) -> String {
    let mut doc = String::from("<CORSConfiguration>");
    for r in list(c, "CorsRules") {
        doc.push_str("<CORSRule>");
        if r.get("Id").is_some() {
            doc.push_str(&el("ID", &text(r, "Id")));
        }
        for (member, element) in [
            ("AllowedHeaders", "AllowedHeader"),
            ("AllowedMethods", "AllowedMethod"),
            ("AllowedOrigins", "AllowedOrigin"),
            ("ExposedHeaders", "ExposeHeader"),
        ] {
            for v in list(r, member) {
                doc.push_str(&el(element, v.as_str().unwrap_or_default()));
            }
        }
        if r.get("MaxAge").is_some() {
            doc.push_str(&el("MaxAgeSeconds", &text(r, "MaxAge")));
        }
        doc.push_str("</CORSRule>");
    }
    doc.push_str("</CORSConfiguration>");
    doc
}

/// `LambdaConfigurations` and `QueueConfigurations` as S3's
/// `CloudFunctionConfiguration`s and `QueueConfiguration`s.
fn notifications(n: &Value) -> String {
    let mut doc = String::from("<NotificationConfiguration>");
    for (member, element, target, arn) in [
        (
            "LambdaConfigurations",
            "CloudFunctionConfiguration",
            "CloudFunction",
            "Function",
        ),
        (
            "QueueConfigurations",
            "QueueConfiguration",
            "Queue",
            "Queue",
        ),
        (
            "TopicConfigurations",
            "TopicConfiguration",
            "Topic",
            "Topic",
        ),
    ] {
        for c in list(n, member) {
            doc.push_str(&format!("<{element}>"));
            doc.push_str(&el(target, &text(c, arn)));
            doc.push_str(&el("Event", &text(c, "Event")));
            let rules: String = c
                .pointer("/Filter/S3Key/Rules")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|r| {
                    format!(
                        "<FilterRule>{}{}</FilterRule>",
                        el("Name", &text(r, "Name")),
                        el("Value", &text(r, "Value"))
                    )
                })
                .collect();
            if !rules.is_empty() {
                doc.push_str(&format!("<Filter><S3Key>{rules}</S3Key></Filter>"));
            }
            doc.push_str(&format!("</{element}>"));
        }
    }
    doc.push_str("</NotificationConfiguration>");
    doc
}

pub(super) async fn delete(ctx: &Ctx, name: &str) -> Result<(), String> {
    s3(ctx, Method::DELETE, &format!("/{name}"), None).await
}

/// Delete the bucket `name` if a creation the restart interrupted made it.
pub(super) async fn delete_generated(ctx: &Ctx, name: &str) -> Result<(), String> {
    match call(ctx, Method::DELETE, &format!("/{name}"), None).await {
        Err(r) if r.status == 404 && r.code == "NoSuchBucket" => Ok(()),
        other => other.map(|_| ()).map_err(|r| r.message),
    }
}

/// `AWS::S3::BucketPolicy`: the `PolicyDocument` of `Bucket`; `Ref` is the
/// bucket's name.
pub(super) async fn create_policy(
    ctx: &Ctx,
    props: &Map<String, Value>,
) -> Result<Created, String> {
    let bucket = required(props, "Bucket")?;
    let doc = match props.get("PolicyDocument") {
        Some(Value::String(s)) => s.clone(),
        Some(v @ Value::Object(_)) => v.to_string(),
        _ => {
            return Err(
                "Properties validation failed for resource: required key [PolicyDocument] not found".into(),
            );
        }
    };
    s3(ctx, Method::PUT, &format!("/{bucket}?policy"), Some(doc)).await?;
    Ok(Created::named(bucket))
}

pub(super) async fn delete_policy(ctx: &Ctx, bucket: &str) -> Result<(), String> {
    s3(ctx, Method::DELETE, &format!("/{bucket}?policy"), None).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn attributes_as_cloudformation_gives_them() {
        let c = attributes("b1", "us-east-1");
        assert_eq!(c.reference, json!("b1"));
        assert_eq!(c.attributes["Arn"], json!("arn:aws:s3:::b1"));
        assert_eq!(c.attributes["DomainName"], json!("b1.s3.amazonaws.com"));
        assert_eq!(
            c.attributes["RegionalDomainName"],
            json!("b1.s3.us-east-1.amazonaws.com")
        );
        assert_eq!(
            c.attributes["WebsiteURL"],
            json!("http://b1.s3-website-us-east-1.amazonaws.com")
        );
        let c = attributes("b1", "eu-central-1");
        assert_eq!(
            c.attributes["WebsiteURL"],
            json!("http://b1.s3-website.eu-central-1.amazonaws.com")
        );
    }

    #[test]
    fn notification_documents() {
        let n = json!({
            "LambdaConfigurations": [{
                "Event": "s3:ObjectCreated:*",
                "Function": "arn:aws:lambda:us-east-1:000000000000:function:f",
                "Filter": {"S3Key": {"Rules": [{"Name": "prefix", "Value": "in/"}]}}
            }],
            "QueueConfigurations": [{"Event": "s3:ObjectRemoved:*", "Queue": "arn:aws:sqs:us-east-1:000000000000:q"}]
        });
        assert_eq!(
            notifications(&n),
            "<NotificationConfiguration><CloudFunctionConfiguration>\
             <CloudFunction>arn:aws:lambda:us-east-1:000000000000:function:f</CloudFunction>\
             <Event>s3:ObjectCreated:*</Event><Filter><S3Key><FilterRule><Name>prefix</Name>\
             <Value>in/</Value></FilterRule></S3Key></Filter></CloudFunctionConfiguration>\
             <QueueConfiguration><Queue>arn:aws:sqs:us-east-1:000000000000:q</Queue>\
             <Event>s3:ObjectRemoved:*</Event></QueueConfiguration></NotificationConfiguration>"
        );
    }

    #[test]
    fn cors_and_tag_documents() {
        let c = json!({"CorsRules": [{"AllowedMethods": ["GET"], "AllowedOrigins": ["*"], "MaxAge": 60, "Id": "r"}]});
        assert_eq!(
            cors(&c),
            "<CORSConfiguration><CORSRule><ID>r</ID><AllowedMethod>GET</AllowedMethod>\
             <AllowedOrigin>*</AllowedOrigin><MaxAgeSeconds>60</MaxAgeSeconds></CORSRule>\
             </CORSConfiguration>"
        );
        assert_eq!(
            tagging(&[json!({"Key": "a", "Value": "<b>"})]),
            "<Tagging><TagSet><Tag><Key>a</Key><Value>&lt;b&gt;</Value></Tag></TagSet></Tagging>"
        );
    }
}
