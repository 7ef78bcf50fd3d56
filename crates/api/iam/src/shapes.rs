//! IAM's output shapes as XML: the members of users, roles, groups,
//! policies, versions, keys and tags as botocore's model names them. Policy
//! documents go out URL-encoded, as IAM sends them (botocore decodes them).

use nimbus_api_common::sigv4::uri_encode;
use nimbus_api_common::xml::el;
use nimbus_iam::{AccessKey, Group, ManagedPolicy, PolicyVersion, Role, Tag, User};

/// IAM's timestamps: ISO 8601 in UTC.
pub fn date(millis: u64) -> String {
    nimbus_model::time::Utc::from_millis(millis).rfc3339_millis()
}

/// A policy document as IAM returns it.
pub fn document(doc: &str) -> String {
    uri_encode(doc.as_bytes(), false)
}

/// `<name><member>...</member>...</name>`: a list of already-written members.
pub fn list(name: &str, members: impl IntoIterator<Item = String>) -> String {
    let mut s = format!("<{name}>");
    for m in members {
        s.push_str("<member>");
        s.push_str(&m);
        s.push_str("</member>");
    }
    s.push_str(&format!("</{name}>"));
    s
}

/// `IsTruncated` and, when there is more, `Marker`.
pub fn truncation(marker: Option<&str>) -> String {
    match marker {
        Some(m) => format!("<IsTruncated>true</IsTruncated>{}", el("Marker", m)),
        None => "<IsTruncated>false</IsTruncated>".into(),
    }
}

pub fn tags(tags: &[Tag]) -> String {
    list(
        "Tags",
        tags.iter()
            .map(|t| format!("{}{}", el("Key", &t.key), el("Value", &t.value))),
    )
}

fn boundary(arn: Option<&str>) -> String {
    arn.map(|a| {
        format!(
            "<PermissionsBoundary><PermissionsBoundaryType>Policy</PermissionsBoundaryType>{}</PermissionsBoundary>",
            el("PermissionsBoundaryArn", a)
        )
    })
    .unwrap_or_default()
}

pub fn user(u: &User) -> String {
    let mut s = format!(
        "{}{}{}{}{}{}",
        el("Path", &u.path),
        el("UserName", &u.name),
        el("UserId", &u.id),
        el("Arn", &u.arn),
        el("CreateDate", &date(u.created)),
        boundary(u.boundary.as_deref()),
    );
    if !u.tags.is_empty() {
        s.push_str(&tags(&u.tags));
    }
    s
}

pub fn role(r: &Role) -> String {
    let mut s = format!(
        "{}{}{}{}{}{}",
        el("Path", &r.path),
        el("RoleName", &r.name),
        el("RoleId", &r.id),
        el("Arn", &r.arn),
        el("CreateDate", &date(r.created)),
        el("AssumeRolePolicyDocument", &document(&r.trust)),
    );
    if let Some(d) = &r.description {
        s.push_str(&el("Description", d));
    }
    s.push_str(&el("MaxSessionDuration", &r.max_session_secs.to_string()));
    s.push_str(&boundary(r.boundary.as_deref()));
    if !r.tags.is_empty() {
        s.push_str(&tags(&r.tags));
    }
    s.push_str("<RoleLastUsed/>");
    s
}

pub fn group(g: &Group) -> String {
    format!(
        "{}{}{}{}{}",
        el("Path", &g.path),
        el("GroupName", &g.name),
        el("GroupId", &g.id),
        el("Arn", &g.arn),
        el("CreateDate", &date(g.created)),
    )
}

/// A managed policy with its attachment and boundary counts.
pub fn policy(p: &ManagedPolicy, attachments: usize, boundaries: usize) -> String {
    let mut s = format!(
        "{}{}{}{}{}{}{}<IsAttachable>true</IsAttachable>",
        el("PolicyName", &p.name),
        el("PolicyId", &p.id),
        el("Arn", &p.arn),
        el("Path", &p.path),
        el("DefaultVersionId", &p.default_version),
        el("AttachmentCount", &attachments.to_string()),
        el("PermissionsBoundaryUsageCount", &boundaries.to_string()),
    );
    if !p.description.is_empty() {
        s.push_str(&el("Description", &p.description));
    }
    s.push_str(&el("CreateDate", &date(p.created)));
    s.push_str(&el("UpdateDate", &date(p.updated)));
    if !p.tags.is_empty() {
        s.push_str(&tags(&p.tags));
    }
    s
}

pub fn version(v: &PolicyVersion, is_default: bool, with_document: bool) -> String {
    let doc = if with_document {
        el("Document", &document(&v.document))
    } else {
        String::new()
    };
    format!(
        "{doc}{}{}{}",
        el("VersionId", &v.id),
        el(
            "IsDefaultVersion",
            if is_default { "true" } else { "false" }
        ),
        el("CreateDate", &date(v.created)),
    )
}

pub fn access_key(k: &AccessKey, with_secret: bool) -> String {
    let secret = if with_secret {
        el("SecretAccessKey", &k.secret)
    } else {
        String::new()
    };
    format!(
        "{}{}{}{secret}{}",
        el("UserName", &k.user),
        el("AccessKeyId", &k.id),
        el("Status", k.status.as_str()),
        el("CreateDate", &date(k.created)),
    )
}

pub fn attached(arns: &[String]) -> Vec<String> {
    arns.iter()
        .map(|a| {
            let name = a.rsplit('/').next().unwrap_or(a);
            format!("{}{}", el("PolicyName", name), el("PolicyArn", a))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_url_encoded_and_lists_use_members() {
        assert_eq!(document(r#"{"a": 1}"#), "%7B%22a%22%3A%201%7D");
        assert_eq!(
            list("Xs", ["<A>1</A>".to_string()]),
            "<Xs><member><A>1</A></member></Xs>"
        );
        assert_eq!(truncation(None), "<IsTruncated>false</IsTruncated>");
        assert!(truncation(Some("k")).contains("<Marker>k</Marker>"));
    }
}
