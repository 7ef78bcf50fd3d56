//! `PutBucketLifecycleConfiguration`'s document read into the rules the
//! object store applies (`nimbus_objects::lifecycle`), checked as S3 checks
//! it: a filter (or the older top-level `Prefix`), a status, at least one
//! action, positive day counts, dates at midnight UTC, unique ids.

use crate::xml::Element;
use crate::*;
use nimbus_objects::lifecycle::{Expiration, Filter, NoncurrentExpiration, Rule};

/// S3's limit on rules per configuration.
const MAX_RULES: usize = 1000;

fn malformed() -> S3Error {
    S3Error::bad(
        "MalformedXML",
        "The XML you provided was not well-formed or did not validate against our published schema",
    )
}

/// A positive whole number of days, or S3's message naming the action.
fn positive(e: &Element, name: &str, action: &str) -> Result<Option<u32>, S3Error> {
    let Some(v) = e.child_text(name) else {
        return Ok(None);
    };
    match v.trim().parse::<i64>() {
        Ok(n) if n > 0 => u32::try_from(n).map(Some).map_err(|_| malformed()),
        Ok(_) => Err(S3Error::invalid_argument(format!(
            "'{name}' for {action} action must be a positive integer"
        ))),
        Err(_) => Err(malformed()),
    }
}

fn size(e: &Element, name: &str) -> Result<Option<u64>, S3Error> {
    e.child_text(name)
        .map(|v| v.trim().parse::<u64>().map_err(|_| malformed()))
        .transpose()
}

fn tag(e: &Element) -> Result<(String, String), S3Error> {
    let key = e.child_text("Key").ok_or_else(malformed)?;
    Ok((
        key.to_string(),
        e.child_text("Value").unwrap_or("").to_string(),
    ))
}

fn filter(rule: &Element) -> Result<Filter, S3Error> {
    let Some(f) = rule.child("Filter") else {
        // The older form: a top-level `Prefix`.
        let prefix = rule.child_text("Prefix").ok_or_else(malformed)?;
        return Ok(Filter {
            prefix: prefix.to_string(),
            ..Default::default()
        });
    };
    if rule.child("Prefix").is_some() {
        return Err(malformed());
    }
    let (scope, combined) = match f.child("And") {
        // `And` holds every condition: nothing beside it.
        Some(_) if f.children.len() > 1 => return Err(malformed()),
        Some(and) => (and, true),
        None => (f, false),
    };
    let out = Filter {
        prefix: scope.child_text("Prefix").unwrap_or("").to_string(),
        tags: scope
            .children_named("Tag")
            .map(tag)
            .collect::<Result<_, _>>()?,
        size_greater_than: size(scope, "ObjectSizeGreaterThan")?,
        size_less_than: size(scope, "ObjectSizeLessThan")?,
    };
    // Outside `And`, a filter names one condition.
    let conditions = usize::from(!out.prefix.is_empty() || scope.child("Prefix").is_some())
        + out.tags.len()
        + usize::from(out.size_greater_than.is_some())
        + usize::from(out.size_less_than.is_some());
    if !combined && conditions > 1 {
        return Err(malformed());
    }
    if let (Some(gt), Some(lt)) = (out.size_greater_than, out.size_less_than)
        && gt >= lt
    {
        return Err(S3Error::invalid_argument(
            "ObjectSizeLessThan must be greater than ObjectSizeGreaterThan",
        ));
    }
    Ok(out)
}

fn rule(r: &Element) -> Result<Rule, S3Error> {
    let id = r.child_text("ID").unwrap_or("").to_string();
    if id.len() > 255 {
        return Err(S3Error::invalid_argument(
            "ID length should not exceed allowed limit of 255",
        ));
    }
    let enabled = match r.child_text("Status").map(str::trim) {
        Some("Enabled") => true,
        Some("Disabled") => false,
        _ => return Err(malformed()),
    };
    let filter = filter(r)?;
    let expiration = match r.child("Expiration") {
        None => None,
        Some(e) => {
            let days = positive(e, "Days", "Expiration")?;
            let date_ms = match e.child_text("Date") {
                None => None,
                Some(d) => {
                    let secs = nimbus_model::time::parse_rfc3339(d.trim())
                        .filter(|s| *s >= 0.0)
                        .ok_or_else(malformed)?;
                    if secs % 86_400.0 != 0.0 {
                        return Err(S3Error::invalid_argument("'Date' must be at midnight GMT"));
                    }
                    Some((secs * 1000.0) as u64)
                }
            };
            let marker = match e.child_text("ExpiredObjectDeleteMarker").map(str::trim) {
                None => false,
                Some("true") => true,
                Some("false") => false,
                Some(_) => return Err(malformed()),
            };
            if usize::from(days.is_some()) + usize::from(date_ms.is_some()) + usize::from(marker)
                != 1
            {
                if marker {
                    return Err(S3Error::bad(
                        "InvalidRequest",
                        "ExpiredObjectDeleteMarker cannot be specified with Days or Date in a Lifecycle Expiration Policy.",
                    ));
                }
                return Err(malformed());
            }
            if marker && !filter.tags.is_empty() {
                return Err(S3Error::bad(
                    "InvalidRequest",
                    "Tags cannot be specified with ExpiredObjectDeleteMarker in a Lifecycle Expiration Policy.",
                ));
            }
            Some(Expiration {
                days,
                date_ms,
                expired_delete_marker: marker,
            })
        }
    };
    let noncurrent = match r.child("NoncurrentVersionExpiration") {
        None => None,
        Some(n) => {
            let action = "NoncurrentVersionExpiration";
            let days = positive(n, "NoncurrentDays", action)?.ok_or_else(malformed)?;
            let newer = positive(n, "NewerNoncurrentVersions", action)?;
            Some(NoncurrentExpiration { days, newer })
        }
    };
    let abort_upload_days = match r.child("AbortIncompleteMultipartUpload") {
        None => None,
        Some(a) => {
            if !filter.tags.is_empty() {
                return Err(S3Error::bad(
                    "InvalidRequest",
                    "AbortIncompleteMultipartUpload cannot be specified with Tags.",
                ));
            }
            Some(
                positive(a, "DaysAfterInitiation", "AbortIncompleteMultipartUpload")?
                    .ok_or_else(malformed)?,
            )
        }
    };
    // Transitions have no storage classes to move to here: they count as
    // actions and are kept in the stored document.
    let transitions =
        r.child("Transition").is_some() || r.child("NoncurrentVersionTransition").is_some();
    if expiration.is_none() && noncurrent.is_none() && abort_upload_days.is_none() && !transitions {
        return Err(S3Error::bad(
            "InvalidRequest",
            "At least one action needs to be specified in a rule",
        ));
    }
    Ok(Rule {
        id,
        enabled,
        filter,
        expiration,
        noncurrent,
        abort_upload_days,
    })
}

/// The rules of a `LifecycleConfiguration` document.
pub(crate) fn parse(root: &Element) -> Result<Vec<Rule>, S3Error> {
    let rules: Vec<&Element> = root.children_named("Rule").collect();
    if rules.is_empty() || rules.len() > MAX_RULES {
        return Err(malformed());
    }
    let mut out: Vec<Rule> = Vec::with_capacity(rules.len());
    for r in rules {
        let mut rule = rule(r)?;
        if rule.id.is_empty() {
            rule.id = uuid::Uuid::new_v4().simple().to_string();
        }
        if out.iter().any(|o| o.id == rule.id) {
            return Err(S3Error::invalid_argument(
                "Rule ID must be unique. Found same ID for more than one rule",
            ));
        }
        out.push(rule);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(doc: &str) -> Result<Vec<Rule>, S3Error> {
        parse(&xml::parse(doc.as_bytes()).unwrap())
    }

    #[test]
    fn rules_with_their_filters_and_actions() {
        let rules = read(
            "<LifecycleConfiguration><Rule><ID>a</ID><Filter><And><Prefix>logs/</Prefix><Tag><Key>k</Key><Value>v</Value></Tag><ObjectSizeGreaterThan>10</ObjectSizeGreaterThan></And></Filter><Status>Enabled</Status><Expiration><Days>3</Days></Expiration><NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays><NewerNoncurrentVersions>2</NewerNoncurrentVersions></NoncurrentVersionExpiration></Rule><Rule><ID>b</ID><Prefix>tmp/</Prefix><Status>Disabled</Status><AbortIncompleteMultipartUpload><DaysAfterInitiation>7</DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule></LifecycleConfiguration>",
        )
        .unwrap();
        assert_eq!(rules[0].filter.prefix, "logs/");
        assert_eq!(rules[0].filter.tags, [("k".to_string(), "v".to_string())]);
        assert_eq!(rules[0].filter.size_greater_than, Some(10));
        assert_eq!(rules[0].expiration.as_ref().unwrap().days, Some(3));
        assert_eq!(rules[0].noncurrent.as_ref().unwrap().newer, Some(2));
        assert_eq!(rules[1].filter.prefix, "tmp/");
        assert!(!rules[1].enabled);
        assert_eq!(rules[1].abort_upload_days, Some(7));
    }

    #[test]
    fn s3s_refusals() {
        let code = |doc: &str| read(doc).unwrap_err().code().to_string();
        let wrap = |body: &str| {
            format!(
                "<LifecycleConfiguration><Rule><ID>r</ID>{body}</Rule></LifecycleConfiguration>"
            )
        };
        assert_eq!(
            code(&wrap(
                "<Filter/><Status>Enabled</Status><Expiration><Days>0</Days></Expiration>"
            )),
            "InvalidArgument"
        );
        assert_eq!(
            code(&wrap("<Filter/><Status>Enabled</Status>")),
            "InvalidRequest"
        );
        assert_eq!(
            code(&wrap(
                "<Status>Enabled</Status><Expiration><Days>1</Days></Expiration>"
            )),
            "MalformedXML"
        );
        assert_eq!(
            code(&wrap(
                "<Filter/><Status>On</Status><Expiration><Days>1</Days></Expiration>"
            )),
            "MalformedXML"
        );
        assert_eq!(
            code(&wrap(
                "<Filter/><Status>Enabled</Status><Expiration><Date>2030-01-01T12:00:00Z</Date></Expiration>"
            )),
            "InvalidArgument"
        );
        assert_eq!(
            code(&wrap(
                "<Filter/><Status>Enabled</Status><Expiration><Days>1</Days><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration>"
            )),
            "InvalidRequest"
        );
        assert_eq!(
            code(&wrap(
                "<Filter><Prefix>a</Prefix><Tag><Key>k</Key></Tag></Filter><Status>Enabled</Status><Expiration><Days>1</Days></Expiration>"
            )),
            "MalformedXML"
        );
        assert_eq!(
            code("<LifecycleConfiguration></LifecycleConfiguration>"),
            "MalformedXML"
        );
        assert_eq!(
            code(&wrap(
                "<Filter><Prefix>tmp/</Prefix><And><Tag><Key>a</Key></Tag><Tag><Key>b</Key></Tag></And></Filter><Status>Enabled</Status><Expiration><Days>1</Days></Expiration>"
            )),
            "MalformedXML"
        );
        let twice = "<Rule><ID>x</ID><Filter/><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>";
        assert_eq!(
            code(&format!(
                "<LifecycleConfiguration>{twice}{twice}</LifecycleConfiguration>"
            )),
            "InvalidArgument"
        );
    }
}
