//! Request fields to the table store's types and back: table definitions,
//! descriptions, items, expression contexts, key conditions.

use crate::{DdbError, R};
use nimbus_tables::expr::{self, Condition, Context, KeyOp, Path};
use nimbus_tables::schema::{IndexDef, KeySchema, Projection, ScalarType, TableRecord, Throughput};
use nimbus_tables::value::{AttributeValue, Item, item_from_json};
use nimbus_tables::{SortCondition, TableStats, TableUpdate, Tables};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};

pub fn missing(field: &str) -> DdbError {
    DdbError::validation(format!(
        "1 validation error detected: Value null at '{field}' failed to satisfy constraint: Member must not be null"
    ))
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

pub fn str_field<'a>(v: &'a Value, name: &str) -> R<&'a str> {
    v.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| missing(&lower_first(name)))
}

pub fn opt_usize(v: &Value, name: &str, lo: usize, hi: usize) -> R<Option<usize>> {
    match v.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(x) => x
            .as_u64()
            .map(|n| n as usize)
            .filter(|n| (lo..=hi).contains(n))
            .map(Some)
            .ok_or_else(|| {
                DdbError::validation(format!(
                    "1 validation error detected: Value '{x}' at '{}' failed to satisfy constraint: Member must have value greater than or equal to {lo}",
                    lower_first(name)
                ))
            }),
    }
}

/// `TableName` (a name or a table ARN).
pub fn table_name(t: &Tables, v: &Value) -> R<String> {
    let name = str_field(v, "TableName")?;
    Ok(t.table_from_arn(name).unwrap_or_else(|| name.to_string()))
}

pub fn item_field(v: &Value, name: &str) -> R<Item> {
    let raw = v.get(name).ok_or_else(|| missing(&lower_first(name)))?;
    item_from_json(raw).map_err(|e| DdbError::validation(e.0))
}

/// The request's expression names and values.
pub fn context(v: &Value) -> R<Context> {
    let mut names = HashMap::new();
    if let Some(n) = v.get("ExpressionAttributeNames") {
        let m = n
            .as_object()
            .ok_or_else(|| DdbError::validation("ExpressionAttributeNames must be a map"))?;
        if m.is_empty() {
            return Err(DdbError::validation(
                "ExpressionAttributeNames must not be empty",
            ));
        }
        for (k, val) in m {
            let s = val.as_str().ok_or_else(|| {
                DdbError::validation("ExpressionAttributeNames values must be strings")
            })?;
            names.insert(k.clone(), s.to_string());
        }
    }
    let mut values = HashMap::new();
    if let Some(n) = v.get("ExpressionAttributeValues") {
        let m = n
            .as_object()
            .ok_or_else(|| DdbError::validation("ExpressionAttributeValues must be a map"))?;
        if m.is_empty() {
            return Err(DdbError::validation(
                "ExpressionAttributeValues must not be empty",
            ));
        }
        for (k, val) in m {
            let av = AttributeValue::from_json(val).map_err(|e| {
                DdbError::validation(format!(
                    "ExpressionAttributeValues contains invalid value: {} for key {k}",
                    e.0
                ))
            })?;
            values.insert(k.clone(), av);
        }
    }
    let any_expr = [
        "ConditionExpression",
        "UpdateExpression",
        "ProjectionExpression",
        "KeyConditionExpression",
        "FilterExpression",
    ]
    .iter()
    .any(|e| v.get(*e).is_some());
    if !any_expr && !values.is_empty() {
        return Err(DdbError::validation(
            "ExpressionAttributeValues can only be specified when using expressions",
        ));
    }
    if !any_expr && !names.is_empty() {
        return Err(DdbError::validation(
            "ExpressionAttributeNames can only be specified when using expressions",
        ));
    }
    Ok(Context::new(names, values))
}

pub fn condition(v: &Value, ctx: &mut Context) -> R<Option<Condition>> {
    match v.get("ConditionExpression").and_then(Value::as_str) {
        Some(s) => Ok(Some(expr::parse_condition(s, "ConditionExpression", ctx)?)),
        None => Ok(None),
    }
}

/// `ProjectionExpression`, or the legacy `AttributesToGet` as top-level paths.
pub fn projection(v: &Value, ctx: &mut Context) -> R<Option<Vec<Path>>> {
    let legacy = v.get("AttributesToGet").and_then(Value::as_array);
    match (
        v.get("ProjectionExpression").and_then(Value::as_str),
        legacy,
    ) {
        (Some(_), Some(_)) => Err(DdbError::validation(
            "Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {AttributesToGet} Expression parameters: {ProjectionExpression}",
        )),
        (Some(s), None) => Ok(Some(expr::parse_projection(s, ctx)?)),
        (None, Some(list)) => Ok(Some(
            list.iter()
                .filter_map(Value::as_str)
                .map(|a| Path(vec![expr::PathElem::Attr(a.to_string())]))
                .collect(),
        )),
        (None, None) => Ok(None),
    }
}

pub fn return_values(v: &Value, allowed: &[&str]) -> R<String> {
    let rv = v
        .get("ReturnValues")
        .and_then(Value::as_str)
        .unwrap_or("NONE");
    if !allowed.contains(&rv) {
        return Err(DdbError::validation("Return values set to invalid value"));
    }
    Ok(rv.to_string())
}

pub fn old_on_failure(v: &Value) -> R<bool> {
    match v
        .get("ReturnValuesOnConditionCheckFailure")
        .and_then(Value::as_str)
    {
        None | Some("NONE") => Ok(false),
        Some("ALL_OLD") => Ok(true),
        Some(other) => Err(DdbError::validation(format!(
            "1 validation error detected: Value '{other}' at 'returnValuesOnConditionCheckFailure' failed to satisfy constraint: Member must satisfy enum value set: [ALL_OLD, NONE]"
        ))),
    }
}

/// A `KeySchema`: one partition and an optional sort attribute, or, for a
/// global secondary index (`multi`), up to four of each, every HASH element
/// before every RANGE one.
fn key_schema(v: &Value, field: &str, multi: bool) -> R<KeySchema> {
    let list = v
        .get("KeySchema")
        .and_then(Value::as_array)
        .ok_or_else(|| missing(field))?;
    let not_hash_first = || {
        DdbError::validation("Invalid KeySchema: The first KeySchemaElement is not a HASH key type")
    };
    let invalid =
        |m: &str| DdbError::validation(format!("One or more parameter values were invalid: {m}"));
    // Only a global secondary index's key may have more than two attributes.
    if !multi && list.len() > 2 {
        return Err(DdbError::validation(
            "1 validation error detected: Value at 'keySchema' failed to satisfy constraint: Member must have length less than or equal to 2",
        ));
    }
    let (mut hashes, mut ranges): (Vec<String>, Vec<String>) = (Vec::new(), Vec::new());
    for k in list {
        let name = str_field(k, "AttributeName")?.to_string();
        match k.get("KeyType").and_then(Value::as_str) {
            Some("HASH") if ranges.is_empty() && (multi || hashes.is_empty()) => hashes.push(name),
            Some("HASH") if multi => {
                return Err(invalid(
                    "All HASH key attributes must precede RANGE key attributes in the KeySchema",
                ));
            }
            Some("RANGE") if !hashes.is_empty() && (multi || ranges.is_empty()) => {
                ranges.push(name);
            }
            _ => return Err(not_hash_first()),
        }
    }
    if hashes.is_empty() {
        return Err(not_hash_first());
    }
    for (kind, names) in [("HASH", &hashes), ("RANGE", &ranges)] {
        if names.len() > nimbus_tables::schema::MAX_KEY_ATTRIBUTES {
            return Err(invalid(&format!(
                "The KeySchema exceeds the maximum allowed number of {kind} key attributes"
            )));
        }
    }
    let mut seen = std::collections::HashSet::new();
    if multi && !hashes.iter().chain(&ranges).all(|n| seen.insert(n)) {
        return Err(invalid(
            "The KeySchema contains multiple key attributes with the same name",
        ));
    }
    let mut hashes = hashes.into_iter();
    let mut ranges = ranges.into_iter();
    Ok(KeySchema {
        hash: hashes.next().unwrap_or_default(),
        more_hash: hashes.collect(),
        range: ranges.next(),
        more_range: ranges.collect(),
    })
}

fn projection_def(v: &Value) -> R<Projection> {
    let p = v.get("Projection").ok_or_else(|| missing("projection"))?;
    Ok(
        match p
            .get("ProjectionType")
            .and_then(Value::as_str)
            .unwrap_or("ALL")
        {
            "ALL" => Projection::All,
            "KEYS_ONLY" => Projection::KeysOnly,
            "INCLUDE" => Projection::Include(
                p.get("NonKeyAttributes")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default(),
            ),
            other => {
                return Err(DdbError::validation(format!(
                    "1 validation error detected: Value '{other}' at 'projection.projectionType' failed to satisfy constraint: Member must satisfy enum value set: [ALL, INCLUDE, KEYS_ONLY]"
                )));
            }
        },
    )
}

fn throughput(v: &Value) -> Option<Throughput> {
    let p = v.get("ProvisionedThroughput")?;
    Some(Throughput {
        read: p.get("ReadCapacityUnits").and_then(Value::as_u64)?,
        write: p.get("WriteCapacityUnits").and_then(Value::as_u64)?,
    })
}

fn index_def(v: &Value, global: bool) -> R<IndexDef> {
    Ok(IndexDef {
        name: str_field(v, "IndexName")?.to_string(),
        global,
        key: key_schema(v, "keySchema", global)?,
        projection: projection_def(v)?,
        throughput: throughput(v),
        created_ms: 0,
    })
}

fn attribute_definitions(v: &Value) -> R<BTreeMap<String, ScalarType>> {
    let mut out = BTreeMap::new();
    for d in v
        .get("AttributeDefinitions")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let name = str_field(d, "AttributeName")?;
        let ty = d
            .get("AttributeType")
            .and_then(Value::as_str)
            .and_then(ScalarType::parse)
            .ok_or_else(|| {
                DdbError::validation(
                    "1 validation error detected: Value at 'attributeDefinitions.member.attributeType' failed to satisfy constraint: Member must satisfy enum value set: [B, N, S]",
                )
            })?;
        out.insert(name.to_string(), ty);
    }
    Ok(out)
}

fn stream_view(spec: &Value) -> R<Option<String>> {
    if spec.get("StreamEnabled").and_then(Value::as_bool) != Some(true) {
        return Ok(None);
    }
    match spec.get("StreamViewType").and_then(Value::as_str) {
        Some(t @ ("KEYS_ONLY" | "NEW_IMAGE" | "OLD_IMAGE" | "NEW_AND_OLD_IMAGES")) => {
            Ok(Some(t.to_string()))
        }
        _ => Err(DdbError::validation(
            "One or more parameter values were invalid: StreamViewType must be one of KEYS_ONLY, NEW_IMAGE, OLD_IMAGE, NEW_AND_OLD_IMAGES when StreamEnabled is true",
        )),
    }
}

/// Most tags a table may carry.
const MAX_TAGS: usize = 50;

/// A request's `Tags`, each key 1-128 and each value 0-256 characters.
pub fn tag_list(v: &Value) -> R<Vec<(String, String)>> {
    let Some(list) = v.get("Tags").and_then(Value::as_array) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::with_capacity(list.len());
    for (i, tag) in list.iter().enumerate() {
        let key = str_field(tag, "Key")?;
        let value = str_field(tag, "Value")?;
        for (what, text, min, max) in [("key", key, 1, 128), ("value", value, 0, 256)] {
            let len = text.chars().count();
            if len < min || len > max {
                let bound = if len < min {
                    format!("greater than or equal to {min}")
                } else {
                    format!("less than or equal to {max}")
                };
                return Err(DdbError::validation(format!(
                    "1 validation error detected: Value '{text}' at 'tags.{}.member.{what}' failed to satisfy constraint: Member must have length {bound}",
                    i + 1
                )));
            }
        }
        out.push((key.to_string(), value.to_string()));
    }
    Ok(out)
}

/// Refuse a table's tags beyond [`MAX_TAGS`].
pub fn check_tag_count(n: usize) -> nimbus_tables::Result<()> {
    if n > MAX_TAGS {
        return Err(nimbus_tables::Error::Validation(format!(
            "One or more parameter values were invalid: The number of tags for a resource cannot exceed {MAX_TAGS}"
        )));
    }
    Ok(())
}

/// A `CreateTable` request as a table record.
pub fn table_record(v: &Value) -> R<TableRecord> {
    let name = str_field(v, "TableName")?.to_string();
    let key = key_schema(v, "keySchema", false)?;
    let attributes = attribute_definitions(v)?;
    if v.get("AttributeDefinitions").is_none() {
        return Err(missing("attributeDefinitions"));
    }
    let mut indexes = Vec::new();
    for (field, global) in [
        ("GlobalSecondaryIndexes", true),
        ("LocalSecondaryIndexes", false),
    ] {
        if let Some(list) = v.get(field).and_then(Value::as_array) {
            for i in list {
                indexes.push(index_def(i, global)?);
            }
        }
    }
    let billing_mode = v
        .get("BillingMode")
        .and_then(Value::as_str)
        .unwrap_or("PROVISIONED")
        .to_string();
    if !matches!(billing_mode.as_str(), "PROVISIONED" | "PAY_PER_REQUEST") {
        return Err(DdbError::validation(format!(
            "1 validation error detected: Value '{billing_mode}' at 'billingMode' failed to satisfy constraint: Member must satisfy enum value set: [PROVISIONED, PAY_PER_REQUEST]"
        )));
    }
    let tp = throughput(v);
    if billing_mode == "PAY_PER_REQUEST" && tp.is_some() {
        return Err(DdbError::validation(
            "One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST",
        ));
    }
    if billing_mode == "PROVISIONED" && tp.is_none() {
        return Err(DdbError::validation(
            "One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED",
        ));
    }
    let stream = match v.get("StreamSpecification") {
        Some(s) => stream_view(s)?.map(|view_type| nimbus_tables::schema::StreamDef {
            view_type,
            label: nimbus_model::time::Utc::from_millis(nimbus_model::time::now_millis())
                .rfc3339_millis()
                .trim_end_matches('Z')
                .to_string(),
            enabled: true,
        }),
        None => None,
    };
    let tags: BTreeMap<String, String> = tag_list(v)?.into_iter().collect();
    check_tag_count(tags.len()).map_err(|e| DdbError::validation(e.to_string()))?;
    Ok(TableRecord {
        format: nimbus_tables::schema::FORMAT,
        name,
        id: String::new(),
        created_ms: 0,
        key,
        attributes,
        indexes,
        billing_mode,
        throughput: tp.unwrap_or_default(),
        stream,
        old_streams: Vec::new(),
        ttl_attribute: None,
        tags,
        deletion_protection: v
            .get("DeletionProtectionEnabled")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        table_class: v
            .get("TableClass")
            .and_then(Value::as_str)
            .map(str::to_string),
        policies: Default::default(),
    })
}

pub fn table_update(v: &Value) -> R<TableUpdate> {
    let mut u = TableUpdate {
        attributes: attribute_definitions(v)?,
        billing_mode: v
            .get("BillingMode")
            .and_then(Value::as_str)
            .map(str::to_string),
        throughput: throughput(v),
        deletion_protection: v.get("DeletionProtectionEnabled").and_then(Value::as_bool),
        ..TableUpdate::default()
    };
    if let Some(s) = v.get("StreamSpecification") {
        u.stream = Some(stream_view(s)?);
    }
    for change in v
        .get("GlobalSecondaryIndexUpdates")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        if let Some(c) = change.get("Create") {
            u.create_indexes.push(index_def(c, true)?);
        } else if let Some(d) = change.get("Delete") {
            u.delete_indexes
                .push(str_field(d, "IndexName")?.to_string());
        }
    }
    Ok(u)
}

fn key_schema_json(k: &KeySchema) -> Value {
    let element = |name: &str, kind: &str| json!({ "AttributeName": name, "KeyType": kind });
    let hashes = k.hash_names().map(|n| element(n, "HASH"));
    json!(
        hashes
            .chain(k.range_names().map(|n| element(n, "RANGE")))
            .collect::<Vec<_>>()
    )
}

fn projection_json(p: &Projection) -> Value {
    match p {
        Projection::All => json!({ "ProjectionType": "ALL" }),
        Projection::KeysOnly => json!({ "ProjectionType": "KEYS_ONLY" }),
        Projection::Include(a) => json!({ "ProjectionType": "INCLUDE", "NonKeyAttributes": a }),
    }
}

fn throughput_json(t: &Throughput) -> Value {
    json!({ "ReadCapacityUnits": t.read, "WriteCapacityUnits": t.write, "NumberOfDecreasesToday": 0 })
}

/// DynamoDB's `TableDescription`.
pub fn describe_table(t: &Tables, s: &TableStats, status: &str) -> Value {
    let rec = &s.rec;
    let arn = t.table_arn(&rec.name);
    let mut d = json!({
        "TableName": rec.name,
        "TableArn": arn,
        "TableId": rec.id,
        "TableStatus": status,
        "CreationDateTime": rec.created_ms as f64 / 1000.0,
        "KeySchema": key_schema_json(&rec.key),
        "AttributeDefinitions": rec.attributes.iter()
            .map(|(n, ty)| json!({ "AttributeName": n, "AttributeType": ty.as_str() }))
            .collect::<Vec<_>>(),
        "ProvisionedThroughput": throughput_json(&rec.throughput),
        "TableSizeBytes": s.bytes,
        "ItemCount": s.item_count,
        "DeletionProtectionEnabled": rec.deletion_protection,
    });
    if rec.billing_mode == "PAY_PER_REQUEST" {
        d["BillingModeSummary"] = json!({
            "BillingMode": "PAY_PER_REQUEST",
            "LastUpdateToPayPerRequestDateTime": rec.created_ms as f64 / 1000.0,
        });
    }
    let (mut gsis, mut lsis) = (Vec::new(), Vec::new());
    for i in &rec.indexes {
        let (n, b) = s.index_counts.get(&i.name).copied().unwrap_or((0, 0));
        let mut o = json!({
            "IndexName": i.name,
            "KeySchema": key_schema_json(&i.key),
            "Projection": projection_json(&i.projection),
            "IndexSizeBytes": b,
            "ItemCount": n,
            "IndexArn": format!("{arn}/index/{}", i.name),
        });
        if i.global {
            o["IndexStatus"] = json!("ACTIVE");
            o["ProvisionedThroughput"] = throughput_json(&i.throughput.unwrap_or_default());
            gsis.push(o);
        } else {
            lsis.push(o);
        }
    }
    if !gsis.is_empty() {
        d["GlobalSecondaryIndexes"] = json!(gsis);
    }
    if !lsis.is_empty() {
        d["LocalSecondaryIndexes"] = json!(lsis);
    }
    if let Some(st) = &rec.stream {
        if st.enabled {
            d["StreamSpecification"] =
                json!({ "StreamEnabled": true, "StreamViewType": st.view_type });
        }
        d["LatestStreamLabel"] = json!(st.label);
        d["LatestStreamArn"] = json!(t.stream_arn(&rec.name, &st.label));
    }
    if let Some(c) = &rec.table_class {
        d["TableClassSummary"] = json!({ "TableClass": c });
    }
    d
}

/// Check a parsed key condition against the key schema being queried:
/// returns the partition key value (a list of values for a multi-attribute
/// partition key) and the sort key condition.
pub fn key_condition(
    schema: &KeySchema,
    parts: Vec<(String, KeyOp)>,
) -> R<(Option<AttributeValue>, Option<SortCondition>)> {
    if schema.multi() {
        return multi_key_condition(schema, parts);
    }
    if parts.len() > 2 {
        return Err(DdbError::validation(
            "Conditions can be of length 1 or 2 only",
        ));
    }
    let mut hash = None;
    let mut sort = None;
    for (name, op) in parts {
        if name == schema.hash {
            match op {
                KeyOp::Eq(v) => hash = Some(v),
                _ => {
                    return Err(DdbError::validation("Query key condition not supported"));
                }
            }
        } else if schema.range.as_deref() == Some(name.as_str()) {
            sort = Some(SortCondition::on(op));
        } else {
            return Err(DdbError::validation(format!(
                "Query condition missed key schema element: {}",
                if hash.is_none() {
                    schema.hash.as_str()
                } else {
                    schema.range.as_deref().unwrap_or(&schema.hash)
                }
            )));
        }
    }
    let Some(h) = hash else {
        return Err(DdbError::validation(format!(
            "Query condition missed key schema element: {}",
            schema.hash
        )));
    };
    Ok((Some(h), sort))
}

/// [`key_condition`] for a multi-attribute key: equality on every partition
/// attribute; conditions on the sort attributes from the first, without a
/// gap, all equalities but the last.
fn multi_key_condition(
    schema: &KeySchema,
    mut parts: Vec<(String, KeyOp)>,
) -> R<(Option<AttributeValue>, Option<SortCondition>)> {
    let mut take = |name: &str| {
        parts
            .iter()
            .position(|(n, _)| n == name)
            .map(|i| parts.swap_remove(i).1)
    };
    let mut hash = Vec::new();
    for name in schema.hash_names() {
        match take(name) {
            Some(KeyOp::Eq(v)) => hash.push(v),
            Some(_) => return Err(DdbError::validation("Query key condition not supported")),
            None => {
                return Err(DdbError::validation(format!(
                    "Query condition missed key schema element: {name}"
                )));
            }
        }
    }
    let sorts: Vec<(&str, Option<KeyOp>)> = schema.range_names().map(|n| (n, take(n))).collect();
    if let Some((name, _)) = parts.first() {
        return Err(DdbError::validation(format!(
            "Query condition missed key schema element: {name}"
        )));
    }
    let mut sort = None;
    if let Some(last) = sorts.iter().rposition(|(_, op)| op.is_some()) {
        let lacking: Vec<&str> = sorts[..last]
            .iter()
            .filter(|(_, op)| !matches!(op, Some(KeyOp::Eq(_))))
            .map(|(n, _)| *n)
            .collect();
        if !lacking.is_empty() {
            return Err(DdbError::validation(format!(
                "RANGE key attributes {} must have equality conditions specified in the query because a condition is present on key attribute {}",
                lacking.join(", "),
                sorts[last].0
            )));
        }
        let mut sorts = sorts.into_iter().take(last + 1).map(|(_, op)| op);
        let prefix = sorts
            .by_ref()
            .take(last)
            .filter_map(|op| match op {
                Some(KeyOp::Eq(v)) => Some(v),
                _ => None,
            })
            .collect();
        sort = Some(SortCondition {
            prefix,
            last: sorts.next().flatten(),
        });
    }
    let hash = match <[AttributeValue; 1]>::try_from(hash) {
        Ok([one]) => one,
        Err(all) => AttributeValue::L(all),
    };
    Ok((Some(hash), sort))
}

/// `Segment` and `TotalSegments` of a parallel scan.
pub fn segments(v: &Value) -> R<Option<(u32, u32)>> {
    let seg = v.get("Segment").and_then(Value::as_u64);
    let total = v.get("TotalSegments").and_then(Value::as_u64);
    match (seg, total) {
        (None, None) => Ok(None),
        (Some(s), Some(t)) if (1..=1_000_000).contains(&t) && s < t => {
            Ok(Some((s as u32, t as u32)))
        }
        (Some(s), Some(t)) if s >= t => Err(DdbError::validation(format!(
            "The Segment parameter is zero-based and must be less than parameter TotalSegments: Segment: {s} is not less than TotalSegments: {t}"
        ))),
        (Some(_), None) => Err(DdbError::validation(
            "The TotalSegments parameter is required but was not present in the request when Segment parameter is present",
        )),
        (None, Some(_)) => Err(DdbError::validation(
            "The Segment parameter is required but was not present in the request when parameter TotalSegments is present",
        )),
        _ => Err(DdbError::validation(
            "1 validation error detected: Value at 'totalSegments' failed to satisfy constraint: Member must have value less than or equal to 1000000",
        )),
    }
}
