//! Bucket sub-resources a local platform keeps as written: encryption,
//! logging, website, transfer acceleration, request payment, replication,
//! lifecycle, and the analytics, inventory, metrics and Intelligent-Tiering
//! configurations (by id). A `PUT` stores the document (well-formed, with
//! the root element S3 expects), a `GET` returns it, or what S3 answers for a
//! bucket without one (a default document, or its `NoSuch...` error), so
//! tools that read every sub-resource of a bucket (Terraform, CDK) go on.
//! Lifecycle rules are also read ([`crate::lifecycle`]) and applied by the
//! object store; Nimbus does not act on the others.

use crate::*;

/// One kind of stored configuration.
pub(crate) struct Kind {
    /// The query parameter that names it (`?encryption`).
    pub(crate) query: &'static str,
    /// The root element its document must have.
    root: &'static str,
    /// What `GET` answers for a bucket without one.
    absent: Absent,
    /// Keyed by `?id=` (several per bucket, listed without an id): the
    /// listing's root element.
    list_root: Option<&'static str>,
    /// The IAM actions of reading and of writing (and deleting) it.
    pub(crate) actions: (&'static str, &'static str),
}

enum Absent {
    /// This document (S3's default).
    Default(&'static str),
    /// This error: code and message.
    Missing(&'static str, &'static str),
}

pub(crate) const KINDS: &[Kind] = &[
    Kind {
        query: "encryption",
        root: "ServerSideEncryptionConfiguration",
        absent: Absent::Default(
            "<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm></ApplyServerSideEncryptionByDefault><BucketKeyEnabled>false</BucketKeyEnabled></Rule></ServerSideEncryptionConfiguration>",
        ),
        list_root: None,
        actions: ("GetEncryptionConfiguration", "PutEncryptionConfiguration"),
    },
    Kind {
        query: "logging",
        root: "BucketLoggingStatus",
        absent: Absent::Default("<BucketLoggingStatus></BucketLoggingStatus>"),
        list_root: None,
        actions: ("GetBucketLogging", "PutBucketLogging"),
    },
    Kind {
        query: "website",
        root: "WebsiteConfiguration",
        absent: Absent::Missing(
            "NoSuchWebsiteConfiguration",
            "The specified bucket does not have a website configuration",
        ),
        list_root: None,
        actions: ("GetBucketWebsite", "PutBucketWebsite"),
    },
    Kind {
        query: "accelerate",
        root: "AccelerateConfiguration",
        absent: Absent::Default("<AccelerateConfiguration></AccelerateConfiguration>"),
        list_root: None,
        actions: ("GetAccelerateConfiguration", "PutAccelerateConfiguration"),
    },
    Kind {
        query: "requestPayment",
        root: "RequestPaymentConfiguration",
        absent: Absent::Default(
            "<RequestPaymentConfiguration><Payer>BucketOwner</Payer></RequestPaymentConfiguration>",
        ),
        list_root: None,
        actions: ("GetBucketRequestPayment", "PutBucketRequestPayment"),
    },
    Kind {
        query: "replication",
        root: "ReplicationConfiguration",
        absent: Absent::Missing(
            "ReplicationConfigurationNotFoundError",
            "The replication configuration was not found",
        ),
        list_root: None,
        actions: ("GetReplicationConfiguration", "PutReplicationConfiguration"),
    },
    Kind {
        query: "lifecycle",
        root: "LifecycleConfiguration",
        absent: Absent::Missing(
            "NoSuchLifecycleConfiguration",
            "The lifecycle configuration does not exist",
        ),
        list_root: None,
        actions: ("GetLifecycleConfiguration", "PutLifecycleConfiguration"),
    },
    Kind {
        query: "analytics",
        root: "AnalyticsConfiguration",
        absent: Absent::Missing(
            "NoSuchConfiguration",
            "The specified configuration does not exist.",
        ),
        list_root: Some("ListBucketAnalyticsConfigurationResult"),
        actions: ("GetAnalyticsConfiguration", "PutAnalyticsConfiguration"),
    },
    Kind {
        query: "inventory",
        root: "InventoryConfiguration",
        absent: Absent::Missing(
            "NoSuchConfiguration",
            "The specified configuration does not exist.",
        ),
        list_root: Some("ListInventoryConfigurationsResult"),
        actions: ("GetInventoryConfiguration", "PutInventoryConfiguration"),
    },
    Kind {
        query: "metrics",
        root: "MetricsConfiguration",
        absent: Absent::Missing(
            "NoSuchConfiguration",
            "The specified configuration does not exist.",
        ),
        list_root: Some("ListMetricsConfigurationsResult"),
        actions: ("GetMetricsConfiguration", "PutMetricsConfiguration"),
    },
    Kind {
        query: "intelligent-tiering",
        root: "IntelligentTieringConfiguration",
        absent: Absent::Missing(
            "NoSuchConfiguration",
            "The specified configuration does not exist.",
        ),
        list_root: Some("ListBucketIntelligentTieringConfigurationsOutput"),
        actions: (
            "GetIntelligentTieringConfiguration",
            "PutIntelligentTieringConfiguration",
        ),
    },
];

/// The stored kind a bucket request's query names, if any.
pub(crate) fn kind_of(q: &Query) -> Option<&'static Kind> {
    KINDS.iter().find(|k| q.has(k.query))
}

/// Where a configuration is kept in the bucket's record.
fn slot(kind: &Kind, id: Option<&str>) -> String {
    match id {
        Some(id) => format!("{}/{id}", kind.query),
        None => kind.query.to_string(),
    }
}

/// Insert S3's namespace into a stored document's root element.
fn with_namespace(doc: &str) -> String {
    let doc = doc.trim_start();
    let doc = match doc.strip_prefix("<?xml") {
        Some(rest) => rest.split_once("?>").map_or(doc, |(_, d)| d.trim_start()),
        None => doc,
    };
    let Some(end) = doc.find(['>', ' ', '/']) else {
        return format!("{DECL}{doc}");
    };
    if doc[..doc.find('>').unwrap_or(doc.len())].contains("xmlns") {
        return format!("{DECL}{doc}");
    }
    format!("{DECL}{} xmlns=\"{NS}\"{}", &doc[..end], &doc[end..])
}

impl S3Api {
    pub(crate) async fn put_config(
        &self,
        bucket: &str,
        kind: &'static Kind,
        q: &Query,
        body: crate::body::RequestBody,
        payload: &Payload,
    ) -> Result<Response<Body>, S3Error> {
        let doc = body::read_document(body, payload, xml::MAX_DOCUMENT).await?;
        let root = xml::parse(&doc).map_err(|m| S3Error::bad("MalformedXML", m))?;
        if root.name != kind.root {
            return Err(S3Error::bad(
                "MalformedXML",
                format!(
                    "The XML you provided was not well-formed or did not validate against our published schema: expected {}",
                    kind.root
                ),
            ));
        }
        let id = q.get("id");
        if kind.list_root.is_some() {
            let Some(id) = id.filter(|i| !i.is_empty()) else {
                return Err(S3Error::invalid_argument("Missing required parameter: id"));
            };
            if root.child_text("Id") != Some(id) {
                return Err(S3Error::invalid_argument(
                    "The Id in the configuration must match the id of the request",
                ));
            }
        }
        let b = self.objects.bucket(bucket)?;
        if kind.query == "replication" && b.versioning.as_deref() != Some("Enabled") {
            return Err(S3Error::bad(
                "InvalidRequest",
                "Versioning must be 'Enabled' on the bucket to apply a replication configuration",
            ));
        }
        let rules = match kind.query {
            "lifecycle" => crate::lifecycle::parse(&root)?,
            _ => Vec::new(),
        };
        let text = String::from_utf8_lossy(&doc).into_owned();
        let key = slot(kind, id.filter(|_| kind.list_root.is_some()));
        self.objects.update_bucket(bucket, |b| {
            if kind.query == "lifecycle" {
                b.lifecycle = rules;
            }
            b.configs.insert(key, text);
        })?;
        Ok(ok_empty(StatusCode::OK))
    }

    pub(crate) fn get_config(
        &self,
        bucket: &str,
        kind: &'static Kind,
        q: &Query,
    ) -> Result<Response<Body>, S3Error> {
        let b = self.objects.bucket(bucket)?;
        if let Some(list_root) = kind.list_root
            && q.get("id").is_none()
        {
            let prefix = format!("{}/", kind.query);
            let mut doc = format!("{DECL}<{list_root} xmlns=\"{NS}\">");
            for (_, stored) in b
                .configs
                .range(prefix.clone()..)
                .take_while(|(k, _)| k.starts_with(&prefix))
            {
                let inner = with_namespace(stored);
                doc.push_str(inner.strip_prefix(DECL).unwrap_or(&inner));
            }
            doc.push_str("<IsTruncated>false</IsTruncated>");
            doc.push_str(&format!("</{list_root}>"));
            return Ok(xml_response(StatusCode::OK, doc));
        }
        let key = slot(kind, q.get("id").filter(|_| kind.list_root.is_some()));
        match (b.configs.get(&key), &kind.absent) {
            (Some(stored), _) => Ok(xml_response(StatusCode::OK, with_namespace(stored))),
            (None, Absent::Default(doc)) => Ok(xml_response(StatusCode::OK, with_namespace(doc))),
            (None, Absent::Missing(code, message)) => {
                Err(S3Error::new(StatusCode::NOT_FOUND, code, *message).with("BucketName", bucket))
            }
        }
    }

    pub(crate) fn delete_config(
        &self,
        bucket: &str,
        kind: &'static Kind,
        q: &Query,
    ) -> Result<Response<Body>, S3Error> {
        let key = slot(kind, q.get("id").filter(|_| kind.list_root.is_some()));
        self.objects.update_bucket(bucket, |b| {
            if kind.query == "lifecycle" {
                b.lifecycle.clear();
            }
            b.configs.remove(&key);
        })?;
        Ok(ok_empty(StatusCode::NO_CONTENT))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_documents_come_back_in_s3s_namespace() {
        let got = with_namespace(
            "<?xml version=\"1.0\"?>\n<WebsiteConfiguration><IndexDocument/></WebsiteConfiguration>",
        );
        assert_eq!(
            got,
            format!(
                "{DECL}<WebsiteConfiguration xmlns=\"{NS}\"><IndexDocument/></WebsiteConfiguration>"
            )
        );
        let already = format!("<A xmlns=\"{NS}\"></A>");
        assert_eq!(with_namespace(&already), format!("{DECL}{already}"));
        assert!(KINDS.iter().all(|k| !k.query.is_empty()));
    }
}
