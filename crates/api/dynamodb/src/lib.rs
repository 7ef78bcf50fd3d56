//! The DynamoDB API (`X-Amz-Target: DynamoDB_20120810.<Operation>`) and the
//! DynamoDB Streams API (`DynamoDBStreams_20120810.<Operation>`), both JSON 1.0:
//! each request is checked as DynamoDB checks it, becomes a call on the table
//! store, and is answered in DynamoDB's shapes, with its error types and
//! messages and the `x-amz-crc32` checksum its clients may verify.

pub mod authz;
mod convert;
mod error;
mod legacy;
mod metrics;
mod operations;
mod statements;
mod streams_api;

pub use error::DdbError;
pub use operations::Operation;

use bytes::Bytes;
use convert::*;
use http::{Request, Response};
use nimbus_api_common::json::{AwsJson, gzip_answer};
use nimbus_api_common::{ApiError, BoxFuture, Service};
use nimbus_tables::expr::{self, Context};
use nimbus_tables::value::{Item, item_to_json};
use nimbus_tables::{Change, Error as TError, ReadSpec, Tables, WriteOp, Written};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::Arc;

/// An error on the wire: DynamoDB's type, message and extra fields.
type R<T> = Result<T, DdbError>;

pub struct DynamoDbApi {
    tables: Arc<Tables>,
    /// Where DynamoDB's metrics go, once the server gives a store.
    metrics: std::sync::OnceLock<Arc<nimbus_metrics::Metrics>>,
}

/// Operations that write (and so wait for a commit): run off the async workers
/// so that concurrent writes share one group commit.
/// DynamoDB's (and DynamoDB Streams') awsJson framing; SDKs check the body's CRC32.
pub const DYNAMODB_JSON: AwsJson = AwsJson {
    target_prefixes: &["DynamoDB_20120810", "DynamoDBStreams_20120810"],
    error_namespace: "com.amazonaws.dynamodb.v20120810#",
    content_type: "application/x-amz-json-1.0",
    crc32: true,
};

impl Service for DynamoDbApi {
    fn signing_name(&self) -> &'static str {
        "dynamodb"
    }

    fn owns(&self, req: &http::request::Parts) -> bool {
        DYNAMODB_JSON.owns_request(req)
    }

    /// DynamoDB's request size limit: 16 MB.
    fn max_body(&self) -> usize {
        16 * 1024 * 1024
    }

    fn handle(&self, req: Request<Bytes>, request_id: String) -> BoxFuture<'_, Response<Bytes>> {
        Box::pin(async move {
            let accept = req.headers().get("accept-encoding").cloned();
            let mut resp = DynamoDbApi::handle(self, req, &request_id).await;
            gzip_answer(&mut resp, accept.as_ref(), GZIP_FROM);
            server_header(resp)
        })
    }

    fn error(&self, err: &ApiError, request_id: &str) -> Response<Bytes> {
        // Authentication and body errors, with DynamoDB's names for them.
        let code = match err.code.as_str() {
            "InvalidSignatureException" | "IncompleteSignature" | "SignatureDoesNotMatch" => {
                "InvalidSignatureException"
            }
            "UnrecognizedClientException" | "InvalidClientTokenId" => "UnrecognizedClientException",
            "MissingAuthenticationToken" | "MissingAuthenticationTokenException" => {
                "MissingAuthenticationTokenException"
            }
            _ => "ValidationException",
        };
        let mut e = err.clone();
        e.code = code.into();
        server_header(DYNAMODB_JSON.error(&e, request_id))
    }
}

/// Answers at least this long are gzipped for clients that take gzip
/// (DynamoDB compresses its larger answers; its threshold is not published,
/// clients see compressed bodies from about 5 KB).
const GZIP_FROM: usize = 4 * 1024;

/// DynamoDB names itself `Server: Server`.
fn server_header(mut resp: Response<Bytes>) -> Response<Bytes> {
    resp.headers_mut().insert(
        http::header::SERVER,
        http::HeaderValue::from_static("Server"),
    );
    resp
}

/// IAM's decision, as DynamoDB answers a refusal (`AccessDeniedException`, 400).
fn authorize(
    ext: &http::Extensions,
    access: impl FnOnce(&nimbus_api_common::authz::Scope) -> Vec<nimbus_api_common::authz::Access>,
) -> R<()> {
    nimbus_api_common::authz::authorize(ext, access)
        .map_err(|d| DdbError::new("AccessDeniedException", d.message))
}

impl DynamoDbApi {
    pub fn new(tables: Arc<Tables>) -> DynamoDbApi {
        DynamoDbApi {
            tables,
            metrics: std::sync::OnceLock::new(),
        }
    }

    /// Record `AWS/DynamoDB` metrics in `m` from now on.
    pub fn set_metrics(&self, m: Arc<nimbus_metrics::Metrics>) {
        let _ = self.metrics.set(m);
    }

    pub async fn handle(&self, req: Request<Bytes>, request_id: &str) -> Response<Bytes> {
        let host = req
            .headers()
            .get("host")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("localhost")
            .to_string();
        let mut call = match DYNAMODB_JSON.call(&req) {
            Ok(c) => c,
            Err(e) => return DYNAMODB_JSON.error(&e, request_id),
        };
        let metrics = self
            .metrics
            .get()
            .filter(|_| call.prefix != "DynamoDBStreams_20120810");
        let strip = metrics.is_some() && metrics::ask_capacity(&call.operation, &mut call.params);
        let table = call
            .params
            .get("TableName")
            .and_then(Value::as_str)
            .map(str::to_string);
        let started = std::time::Instant::now();
        let ext = req.extensions();
        let result = if call.prefix == "DynamoDBStreams_20120810" {
            authorize(ext, |s| {
                authz::stream_access(&call.operation, &call.params, s)
            })
            .and_then(|()| streams_api::run(&self.tables, &call.operation, &call.params))
        } else {
            let op = Operation::parse(&call.operation);
            let allowed = match op {
                Some(op) => authorize(ext, |s| authz::access(op, &call.params, s)),
                None => Ok(()),
            };
            match op {
                _ if allowed.is_err() => allowed.map(|()| Value::Null),
                None => Err(DdbError::new(
                    "UnknownOperationException",
                    format!("{} is not a DynamoDB operation", call.operation),
                )),
                // Writes wait for their commit on this worker (block_in_place),
                // so concurrent writers share group commits.
                Some(op) if op.writes() => match tokio::runtime::Handle::current().runtime_flavor()
                {
                    tokio::runtime::RuntimeFlavor::MultiThread => {
                        tokio::task::block_in_place(|| self.run(op, &call.params, &host))
                    }
                    _ => self.run(op, &call.params, &host),
                },
                Some(op) => self.run(op, &call.params, &host),
            }
        };
        let writes = Operation::parse(&call.operation).is_some_and(|o| o.writes());
        match result {
            Ok(mut v) => {
                if let Some(m) = metrics {
                    let ms = started.elapsed().as_secs_f64() * 1000.0;
                    metrics::succeeded(
                        m,
                        &call.operation,
                        writes,
                        table.as_deref(),
                        ms,
                        &mut v,
                        strip,
                    );
                }
                DYNAMODB_JSON.respond(&v, request_id)
            }
            Err(e) => {
                if let Some(m) = metrics {
                    metrics::failed(
                        m,
                        &call.operation,
                        table.as_deref(),
                        &e.0.code,
                        e.0.status.as_u16(),
                    );
                }
                DYNAMODB_JSON.error(&e.0, request_id)
            }
        }
    }

    fn run(&self, op: Operation, v: &Value, host: &str) -> R<Value> {
        let t = &self.tables;
        match op {
            Operation::CreateTable => {
                let rec = table_record(v)?;
                let stats = t.create_table(rec)?;
                Ok(json!({ "TableDescription": describe_table(t, &stats, "ACTIVE") }))
            }
            Operation::DescribeTable => {
                let name = table_name(t, v)?;
                let stats = t.describe(&name)?;
                Ok(json!({ "Table": describe_table(t, &stats, "ACTIVE") }))
            }
            Operation::ListTables => {
                let limit = opt_usize(v, "Limit", 1, 100)?.unwrap_or(100);
                let after = v
                    .get("ExclusiveStartTableName")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let names: Vec<String> = t
                    .list()
                    .into_iter()
                    .filter(|n| n.as_str() > after)
                    .collect();
                let page: Vec<&String> = names.iter().take(limit).collect();
                let mut out = json!({ "TableNames": page });
                if names.len() > limit
                    && let Some(last) = page.last()
                {
                    out["LastEvaluatedTableName"] = json!(last);
                }
                Ok(out)
            }
            Operation::UpdateTable => {
                let name = table_name(t, v)?;
                let u = table_update(v)?;
                let created: Vec<String> =
                    u.create_indexes.iter().map(|i| i.name.clone()).collect();
                let stats = t.update_table(&name, u)?;
                // As DynamoDB answers an update: the table `UPDATING`, a new
                // index `CREATING` while it backfills. Nimbus backfills it
                // before answering, so the next DescribeTable finds both ACTIVE.
                let mut d = describe_table(t, &stats, "UPDATING");
                if let Some(gsis) = d
                    .get_mut("GlobalSecondaryIndexes")
                    .and_then(Value::as_array_mut)
                {
                    for g in gsis.iter_mut().filter(|g| {
                        g["IndexName"]
                            .as_str()
                            .is_some_and(|n| created.iter().any(|c| c == n))
                    }) {
                        g["IndexStatus"] = json!("CREATING");
                        g["Backfilling"] = json!(true);
                    }
                }
                Ok(json!({ "TableDescription": d }))
            }
            Operation::DeleteTable => {
                let name = table_name(t, v)?;
                let stats = t.delete_table(&name)?;
                let mut d = describe_table(t, &stats, "DELETING");
                // DeleteTable's description leaves the schema out.
                if let Some(d) = d.as_object_mut() {
                    for gone in [
                        "CreationDateTime",
                        "KeySchema",
                        "AttributeDefinitions",
                        "GlobalSecondaryIndexes",
                        "LocalSecondaryIndexes",
                    ] {
                        d.remove(gone);
                    }
                }
                Ok(json!({ "TableDescription": d }))
            }
            Operation::UpdateTimeToLive => {
                let name = table_name(t, v)?;
                let spec = v
                    .get("TimeToLiveSpecification")
                    .ok_or_else(|| missing("timeToLiveSpecification"))?;
                let enabled = spec
                    .get("Enabled")
                    .and_then(Value::as_bool)
                    .ok_or_else(|| missing("timeToLiveSpecification.enabled"))?;
                let attr = spec
                    .get("AttributeName")
                    .and_then(Value::as_str)
                    .filter(|a| !a.is_empty())
                    .ok_or_else(|| missing("timeToLiveSpecification.attributeName"))?;
                t.set_ttl(&name, enabled.then(|| attr.to_string()))?;
                Ok(
                    json!({ "TimeToLiveSpecification": { "Enabled": enabled, "AttributeName": attr } }),
                )
            }
            Operation::DescribeTimeToLive => {
                let name = table_name(t, v)?;
                let stats = t.describe(&name)?;
                Ok(match stats.rec.ttl_attribute {
                    Some(a) => {
                        json!({ "TimeToLiveDescription": { "TimeToLiveStatus": "ENABLED", "AttributeName": a } })
                    }
                    None => json!({ "TimeToLiveDescription": { "TimeToLiveStatus": "DISABLED" } }),
                })
            }
            Operation::PutResourcePolicy
            | Operation::GetResourcePolicy
            | Operation::DeleteResourcePolicy => self.resource_policy(op, v),
            Operation::TagResource | Operation::UntagResource | Operation::ListTagsOfResource => {
                let arn = str_field(v, "ResourceArn")?;
                let name = t.table_from_arn(arn).ok_or_else(|| {
                    DdbError::new(
                        "ResourceNotFoundException",
                        format!("Requested resource not found: ResourcArn: {arn} not found"),
                    )
                })?;
                match op {
                    Operation::TagResource => {
                        if v.get("Tags").is_none() {
                            return Err(missing("tags"));
                        }
                        let tags = tag_list(v)?;
                        t.tag(&name, |m| {
                            m.extend(tags);
                            check_tag_count(m.len())
                        })?;
                        Ok(json!({}))
                    }
                    Operation::UntagResource => {
                        let keys: Vec<String> = v
                            .get("TagKeys")
                            .and_then(Value::as_array)
                            .ok_or_else(|| missing("tagKeys"))?
                            .iter()
                            .filter_map(|k| k.as_str().map(str::to_string))
                            .collect();
                        t.tag(&name, |m| {
                            m.retain(|k, _| !keys.contains(k));
                            Ok(())
                        })?;
                        Ok(json!({}))
                    }
                    _ => {
                        let stats = t.describe(&name)?;
                        let tags: Vec<Value> = stats
                            .rec
                            .tags
                            .iter()
                            .map(|(k, v)| json!({ "Key": k, "Value": v }))
                            .collect();
                        Ok(json!({ "Tags": tags }))
                    }
                }
            }
            Operation::DescribeEndpoints => Ok(json!({
                "Endpoints": [{ "Address": host, "CachePeriodInMinutes": 1440 }]
            })),
            Operation::DescribeLimits => Ok(json!({
                "AccountMaxReadCapacityUnits": 80000, "AccountMaxWriteCapacityUnits": 80000,
                "TableMaxReadCapacityUnits": 40000, "TableMaxWriteCapacityUnits": 40000
            })),
            Operation::DescribeContinuousBackups => {
                let name = table_name(t, v)?;
                t.describe(&name)?;
                Ok(json!({ "ContinuousBackupsDescription": {
                    "ContinuousBackupsStatus": "DISABLED",
                    "PointInTimeRecoveryDescription": { "PointInTimeRecoveryStatus": "DISABLED" }
                }}))
            }
            Operation::PutItem => self.put_item(&*modern(v)?),
            Operation::GetItem => self.get_item(v),
            Operation::UpdateItem => self.update_item(&*modern(v)?),
            Operation::DeleteItem => self.delete_item(&*modern(v)?),
            Operation::Query => self.query(&*modern(v)?, true),
            Operation::Scan => self.query(&*modern(v)?, false),
            Operation::BatchGetItem => self.batch_get(v),
            Operation::BatchWriteItem => self.batch_write(v),
            Operation::TransactWriteItems => self.transact_write(v),
            Operation::TransactGetItems => self.transact_get(v),
            Operation::ExecuteStatement => self.execute_statement(v),
        }
    }

    /// `Put/Get/DeleteResourcePolicy` of a table or one of its streams.
    fn resource_policy(&self, op: Operation, v: &Value) -> R<Value> {
        let arn = str_field(v, "ResourceArn")?;
        let not_found = || {
            DdbError::new(
                "ResourceNotFoundException",
                format!("Requested resource not found: ResourcArn: {arn} not found"),
            )
        };
        // table/NAME or table/NAME/stream/LABEL
        let (table_arn, stream) = match arn.split_once("/stream/") {
            Some((t, label)) => (t, Some(label)),
            None => (arn, None),
        };
        let name = self
            .tables
            .table_from_arn(table_arn)
            .ok_or_else(not_found)?;
        let expected = v.get("ExpectedRevisionId").and_then(Value::as_str);
        match op {
            Operation::PutResourcePolicy => {
                let document = str_field(v, "Policy")?;
                if document.len() > 20 * 1024 {
                    return Err(DdbError::validation(
                        "Resource-based policy size exceeds the 20 KB limit",
                    ));
                }
                let parsed: Value = serde_json::from_str(document)
                    .map_err(|e| DdbError::validation(format!("Invalid policy document: {e}")))?;
                if parsed.get("Statement").is_none() {
                    return Err(DdbError::validation(
                        "Invalid policy document: the policy has no Statement",
                    ));
                }
                let revision = self.tables.change_resource_policy(
                    &name,
                    stream,
                    Some(document.to_string()),
                    expected,
                )?;
                Ok(json!({ "RevisionId": revision }))
            }
            Operation::DeleteResourcePolicy => {
                let revision = self
                    .tables
                    .change_resource_policy(&name, stream, None, expected)
                    .map_err(|e| match e {
                        nimbus_tables::Error::PolicyNotFound(m) if expected.is_none() => {
                            DdbError::new("PolicyNotFoundException", format!("{m}: {arn}"))
                        }
                        other => other.into(),
                    })?;
                Ok(json!({ "RevisionId": revision }))
            }
            _ => match self.tables.resource_policy(&name, stream)? {
                Some(p) => Ok(json!({ "Policy": p.document, "RevisionId": p.revision })),
                None => Err(DdbError::new(
                    "PolicyNotFoundException",
                    format!("Resource-based policy not found for the provided ResourceArn: {arn}"),
                )),
            },
        }
    }

    fn put_item(&self, v: &Value) -> R<Value> {
        let table = table_name(&self.tables, v)?;
        let item = item_field(v, "Item")?;
        let rv = return_values(v, &["NONE", "ALL_OLD"])?;
        let mut ctx = context(v)?;
        let condition = condition(v, &mut ctx)?;
        ctx.check_unused()?;
        let size = nimbus_tables::value::item_size(&item);
        let w = self.one(WriteOp {
            table: table.clone(),
            key: Item::new(),
            condition,
            change: Change::Put(item),
            old_on_failure: old_on_failure(v)?,
        })?;
        let mut out = json!({});
        if rv == "ALL_OLD"
            && let Some(o) = &w.old
        {
            out["Attributes"] = item_to_json(o);
        }
        self.consumed_write(&mut out, v, &table, write_units(size), &w);
        Ok(out)
    }

    /// `ConsumedCapacity` of a single-item write, its indexes' share included.
    fn consumed_write(&self, out: &mut Value, v: &Value, table: &str, units: f64, w: &Written) {
        if v.get("ReturnConsumedCapacity").is_none() {
            return;
        }
        let indexes = self
            .tables
            .record(table)
            .map(|rec| index_write_units(&rec, w.old.as_ref(), w.new.as_ref()))
            .unwrap_or_default();
        consumed_by(out, v, table, Some(units), &indexes);
    }

    fn one(&self, op: WriteOp) -> R<Written> {
        Ok(self
            .tables
            .write(vec![op], false)?
            .pop()
            .unwrap_or_default())
    }

    fn get_item(&self, v: &Value) -> R<Value> {
        let table = table_name(&self.tables, v)?;
        let key = item_field(v, "Key")?;
        let mut ctx = context(v)?;
        let projection = projection(v, &mut ctx)?;
        ctx.check_unused()?;
        let item = self.tables.get_item(&table, &key)?;
        let mut out = json!({});
        let size = item.as_ref().map_or(0, nimbus_tables::value::item_size);
        if let Some(i) = item {
            let shown = match &projection {
                Some(p) => expr::project(&i, p),
                None => i,
            };
            out["Item"] = item_to_json(&shown);
        }
        let consistent = v.get("ConsistentRead").and_then(Value::as_bool) == Some(true);
        consumed(&mut out, v, &table, read_units(size, consistent));
        Ok(out)
    }

    fn update_item(&self, v: &Value) -> R<Value> {
        let table = table_name(&self.tables, v)?;
        let key = item_field(v, "Key")?;
        let rv = return_values(
            v,
            &["NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"],
        )?;
        let mut ctx = context(v)?;
        let update = match v.get("UpdateExpression").and_then(Value::as_str) {
            Some(s) => Some(expr::parse_update(s, &mut ctx)?),
            None => None,
        };
        let condition = condition(v, &mut ctx)?;
        ctx.check_unused()?;
        let paths = update.as_ref().map(expr::Update::paths).unwrap_or_default();
        let change = match update {
            Some(u) => Change::Update(u),
            // No update expression: UpdateItem creates the item with its key.
            None => Change::Update(expr::parse_update(
                "REMOVE nimbus_no_such_attribute_",
                &mut Context::new(HashMap::new(), HashMap::new()),
            )?),
        };
        let w = self.one(WriteOp {
            table: table.clone(),
            key,
            condition,
            change,
            old_on_failure: old_on_failure(v)?,
        })?;
        let mut out = json!({});
        let pick = |i: &Option<Item>| i.as_ref().map(|i| expr::project(i, &paths));
        let shown = match rv.as_str() {
            "ALL_OLD" => w.old.clone(),
            "ALL_NEW" => w.new.clone(),
            "UPDATED_OLD" => pick(&w.old),
            "UPDATED_NEW" => pick(&w.new),
            _ => None,
        };
        if let Some(s) = shown.filter(|s| !s.is_empty()) {
            out["Attributes"] = item_to_json(&s);
        }
        let size = w.new.as_ref().map_or(0, nimbus_tables::value::item_size);
        self.consumed_write(&mut out, v, &table, write_units(size), &w);
        Ok(out)
    }

    fn delete_item(&self, v: &Value) -> R<Value> {
        let table = table_name(&self.tables, v)?;
        let key = item_field(v, "Key")?;
        let rv = return_values(v, &["NONE", "ALL_OLD"])?;
        let mut ctx = context(v)?;
        let condition = condition(v, &mut ctx)?;
        ctx.check_unused()?;
        let w = self.one(WriteOp {
            table: table.clone(),
            key,
            condition,
            change: Change::Delete,
            old_on_failure: old_on_failure(v)?,
        })?;
        let mut out = json!({});
        if rv == "ALL_OLD"
            && let Some(o) = &w.old
        {
            out["Attributes"] = item_to_json(o);
        }
        let size = w.old.as_ref().map_or(0, nimbus_tables::value::item_size);
        self.consumed_write(&mut out, v, &table, write_units(size), &w);
        Ok(out)
    }

    /// Query (`is_query`) or Scan.
    fn query(&self, v: &Value, is_query: bool) -> R<Value> {
        let table = table_name(&self.tables, v)?;
        let rec = self.tables.record(&table).map_err(|_| {
            DdbError::new("ResourceNotFoundException", "Requested resource not found")
        })?;
        let index = v.get("IndexName").and_then(Value::as_str);
        let mut ctx = context(v)?;
        let (hash, sort) = if is_query {
            let src = v
                .get("KeyConditionExpression")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    DdbError::validation(
                        "Either the KeyConditions or KeyConditionExpression parameter must be specified in the request.",
                    )
                })?;
            let parts = expr::parse_key_condition(src, &mut ctx)?;
            let schema = match index {
                Some(i) => {
                    &rec.index(i)
                        .ok_or_else(|| {
                            DdbError::validation(format!(
                                "The table does not have the specified index: {i}"
                            ))
                        })?
                        .key
                }
                None => &rec.key,
            };
            key_condition(schema, parts)?
        } else {
            (None, None)
        };
        let filter = match v.get("FilterExpression").and_then(Value::as_str) {
            Some(s) => Some(expr::parse_condition(s, "FilterExpression", &mut ctx)?),
            None => None,
        };
        let projection = projection(v, &mut ctx)?;
        ctx.check_unused()?;
        let select = v
            .get("Select")
            .and_then(Value::as_str)
            .unwrap_or(if projection.is_some() {
                "SPECIFIC_ATTRIBUTES"
            } else {
                "ALL_ATTRIBUTES"
            });
        match select {
            "ALL_ATTRIBUTES" | "ALL_PROJECTED_ATTRIBUTES" | "COUNT" if projection.is_some() => {
                return Err(DdbError::validation(format!(
                    "Cannot specify the ProjectionExpression when choosing to get {select}"
                )));
            }
            "ALL_ATTRIBUTES" | "ALL_PROJECTED_ATTRIBUTES" | "COUNT" | "SPECIFIC_ATTRIBUTES" => {}
            other => {
                return Err(DdbError::validation(format!(
                    "1 validation error detected: Value '{other}' at 'select' failed to satisfy constraint: Member must satisfy enum value set: [SPECIFIC_ATTRIBUTES, COUNT, ALL_ATTRIBUTES, ALL_PROJECTED_ATTRIBUTES]"
                )));
            }
        }
        if v.get("ConsistentRead").and_then(Value::as_bool) == Some(true)
            && index.and_then(|i| rec.index(i)).is_some_and(|i| i.global)
        {
            return Err(DdbError::validation(
                "Consistent reads are not supported on global secondary indexes",
            ));
        }
        let segment = if is_query { None } else { segments(v)? };
        let start = match v.get("ExclusiveStartKey") {
            Some(k) if !k.is_null() => Some(item_field(v, "ExclusiveStartKey")?),
            _ => None,
        };
        let spec = ReadSpec {
            table: &table,
            index,
            forward: v.get("ScanIndexForward").and_then(Value::as_bool) != Some(false),
            limit: opt_usize(v, "Limit", 1, usize::MAX)?,
            start,
            filter: filter.as_ref(),
        };
        let page = self
            .tables
            .read(&spec, hash.as_ref(), sort.as_ref(), segment)?;
        let mut out = json!({ "Count": page.items.len(), "ScannedCount": page.scanned });
        let size: usize = page.items.iter().map(nimbus_tables::value::item_size).sum();
        if select != "COUNT" {
            let items: Vec<Value> = page
                .items
                .iter()
                .map(|i| match &projection {
                    Some(p) => item_to_json(&expr::project(i, p)),
                    None => item_to_json(i),
                })
                .collect();
            out["Items"] = json!(items);
        }
        if let Some(k) = page.last_key {
            out["LastEvaluatedKey"] = item_to_json(&k);
        }
        let consistent = v.get("ConsistentRead").and_then(Value::as_bool) == Some(true);
        let units = read_units(size, consistent);
        match index.and_then(|i| rec.index(i)) {
            // A read of an index is charged to the index.
            Some(i) => consumed_by(
                &mut out,
                v,
                &table,
                None,
                &[(i.name.clone(), i.global, units)],
            ),
            None => consumed(&mut out, v, &table, units),
        }
        Ok(out)
    }

    fn batch_get(&self, v: &Value) -> R<Value> {
        let requests = v
            .get("RequestItems")
            .and_then(Value::as_object)
            .ok_or_else(|| missing("requestItems"))?;
        let total: usize = requests
            .values()
            .map(|r| r.get("Keys").and_then(Value::as_array).map_or(0, Vec::len))
            .sum();
        if total > 100 {
            return Err(DdbError::validation(
                "Too many items requested for the BatchGetItem call",
            ));
        }
        let mut responses = Map::new();
        let mut units = Units::default();
        for (table, r) in requests {
            let name = self
                .tables
                .table_from_arn(table)
                .unwrap_or_else(|| table.clone());
            let consistent = r.get("ConsistentRead").and_then(Value::as_bool) == Some(true);
            let keys = r
                .get("Keys")
                .and_then(Value::as_array)
                .filter(|k| !k.is_empty())
                .ok_or_else(|| {
                    DdbError::validation(
                        "1 validation error detected: Value null at 'requestItems.keys' failed to satisfy constraint: Member must not be null",
                    )
                })?;
            let mut ctx = context(r)?;
            let projection = projection(r, &mut ctx)?;
            ctx.check_unused()?;
            let mut seen: Vec<Item> = Vec::new();
            let mut items = Vec::new();
            for k in keys {
                let key = nimbus_tables::value::item_from_json(k)
                    .map_err(|e| DdbError::validation(e.0))?;
                if seen.contains(&key) {
                    return Err(DdbError::validation(
                        "Provided list of item keys contains duplicates",
                    ));
                }
                let found = self.tables.get_item(&name, &key)?;
                let size = found.as_ref().map_or(0, nimbus_tables::value::item_size);
                units.add(&name, read_units(size, consistent));
                if let Some(i) = found {
                    items.push(item_to_json(&match &projection {
                        Some(p) => expr::project(&i, p),
                        None => i,
                    }));
                }
                seen.push(key);
            }
            responses.insert(table.clone(), json!(items));
        }
        let mut out = json!({ "Responses": responses, "UnprocessedKeys": {} });
        units.report(&mut out, v);
        Ok(out)
    }

    fn batch_write(&self, v: &Value) -> R<Value> {
        let requests = v
            .get("RequestItems")
            .and_then(Value::as_object)
            .ok_or_else(|| missing("requestItems"))?;
        let mut ops = Vec::new();
        let mut units = Units::default();
        for (table, list) in requests {
            let name = self
                .tables
                .table_from_arn(table)
                .unwrap_or_else(|| table.clone());
            let list = list.as_array().filter(|l| !l.is_empty()).ok_or_else(|| {
                DdbError::validation(
                    "1 validation error detected: Value at 'requestItems' failed to satisfy constraint: Map value must satisfy constraint: [Member must have length less than or equal to 25, Member must have length greater than or equal to 1]",
                )
            })?;
            for r in list {
                let op = match (r.get("PutRequest"), r.get("DeleteRequest")) {
                    (Some(p), None) => {
                        let item = item_field(p, "Item")?;
                        let size = nimbus_tables::value::item_size(&item);
                        if size > nimbus_tables::value::MAX_ITEM_BYTES {
                            return Err(DdbError::validation(
                                "Item size has exceeded the maximum allowed size",
                            ));
                        }
                        units.add(&name, write_units(size));
                        WriteOp {
                            table: name.clone(),
                            key: Item::new(),
                            condition: None,
                            change: Change::Put(item),
                            old_on_failure: false,
                        }
                    }
                    (None, Some(d)) => {
                        units.add(&name, write_units(0));
                        WriteOp {
                            table: name.clone(),
                            key: item_field(d, "Key")?,
                            condition: None,
                            change: Change::Delete,
                            old_on_failure: false,
                        }
                    }
                    _ => {
                        return Err(DdbError::validation(
                            "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes",
                        ));
                    }
                };
                ops.push(op);
            }
        }
        if ops.len() > 25 {
            return Err(DdbError::validation(
                "Too many items requested for the BatchWriteItem call",
            ));
        }
        if ops.is_empty() {
            return Err(DdbError::validation(
                "1 validation error detected: Value '{}' at 'requestItems' failed to satisfy constraint: Member must have length greater than or equal to 1",
            ));
        }
        match self.tables.write(ops, false) {
            Ok(_) => {
                let mut out = json!({ "UnprocessedItems": {} });
                units.report(&mut out, v);
                Ok(out)
            }
            Err(TError::Validation(m)) if m.contains("multiple operations on one item") => Err(
                DdbError::validation("Provided list of item keys contains duplicates"),
            ),
            Err(e) => Err(e.into()),
        }
    }

    fn transact_write(&self, v: &Value) -> R<Value> {
        let items = v
            .get("TransactItems")
            .and_then(Value::as_array)
            .ok_or_else(|| missing("transactItems"))?;
        if items.is_empty() || items.len() > 100 {
            return Err(DdbError::validation(format!(
                "1 validation error detected: Value at 'transactItems' failed to satisfy constraint: Member must have length less than or equal to 100, Member must have length greater than or equal to 1; got {}",
                items.len()
            )));
        }
        let mut ops = Vec::new();
        let mut units = Units::default();
        for it in items {
            let (kind, body) = match it.as_object().map(|o| o.iter().collect::<Vec<_>>()) {
                Some(pairs) if pairs.len() == 1 => (pairs[0].0.as_str(), pairs[0].1),
                _ => {
                    return Err(DdbError::validation(
                        "TransactItems can only contain one of Check, Put, Update or Delete",
                    ));
                }
            };
            let table = table_name(&self.tables, body)?;
            let mut ctx = context(body)?;
            let cond = condition(body, &mut ctx)?;
            let (key, change) = match kind {
                "Put" => (Item::new(), Change::Put(item_field(body, "Item")?)),
                "Delete" => (item_field(body, "Key")?, Change::Delete),
                "ConditionCheck" => {
                    if cond.is_none() {
                        return Err(DdbError::validation(
                            "The ConditionCheck operation requires a ConditionExpression",
                        ));
                    }
                    (item_field(body, "Key")?, Change::Check)
                }
                "Update" => {
                    let src = str_field(body, "UpdateExpression")?;
                    (
                        item_field(body, "Key")?,
                        Change::Update(expr::parse_update(src, &mut ctx)?),
                    )
                }
                other => {
                    return Err(DdbError::validation(format!(
                        "Unknown TransactItems member {other}"
                    )));
                }
            };
            ctx.check_unused()?;
            // Transactions cost twice: a prepare and a commit per item.
            let size = match &change {
                Change::Put(item) => nimbus_tables::value::item_size(item),
                _ => 0,
            };
            units.add(&table, 2.0 * write_units(size));
            ops.push(WriteOp {
                table,
                key,
                condition: cond,
                change,
                old_on_failure: old_on_failure(body)?,
            });
        }
        let token = v.get("ClientRequestToken").and_then(Value::as_str);
        if let Some(tok) = token {
            use sha2::Digest as _;
            let print = hex::encode(sha2::Sha256::digest(v["TransactItems"].to_string()));
            if !self.tables.claim_token(tok, &print)? {
                return Ok(json!({}));
            }
        }
        match self.tables.write(ops, true) {
            Ok(_) => {
                let mut out = json!({});
                units.report(&mut out, v);
                Ok(out)
            }
            Err(e) => {
                if let Some(tok) = token {
                    self.tables.release_token(tok);
                }
                Err(match e {
                    TError::Validation(m) if m.contains("multiple operations on one item") => {
                        DdbError::validation(
                            "Transaction request cannot include multiple operations on one item",
                        )
                    }
                    e => e.into(),
                })
            }
        }
    }

    fn transact_get(&self, v: &Value) -> R<Value> {
        let items = v
            .get("TransactItems")
            .and_then(Value::as_array)
            .ok_or_else(|| missing("transactItems"))?;
        if items.is_empty() || items.len() > 100 {
            return Err(DdbError::validation(
                "1 validation error detected: Value at 'transactItems' failed to satisfy constraint: Member must have length less than or equal to 100",
            ));
        }
        let mut out = Vec::new();
        let mut units = Units::default();
        for it in items {
            let get = it.get("Get").ok_or_else(|| missing("transactItems.get"))?;
            let table = table_name(&self.tables, get)?;
            let key = item_field(get, "Key")?;
            let mut ctx = context(get)?;
            let projection = projection(get, &mut ctx)?;
            ctx.check_unused()?;
            let found = self.tables.get_item(&table, &key)?;
            let size = found.as_ref().map_or(0, nimbus_tables::value::item_size);
            units.add(&table, 2.0 * read_units(size, true));
            out.push(match found {
                Some(i) => json!({ "Item": item_to_json(&match &projection {
                    Some(p) => expr::project(&i, p),
                    None => i,
                }) }),
                None => json!({}),
            });
        }
        let mut answer = json!({ "Responses": out });
        units.report(&mut answer, v);
        Ok(answer)
    }
}

/// Capacity units a multi-table call consumed, by table, for its
/// `ConsumedCapacity` list.
#[derive(Default)]
struct Units(std::collections::BTreeMap<String, f64>);

impl Units {
    fn add(&mut self, table: &str, units: f64) {
        *self.0.entry(table.to_string()).or_default() += units;
    }

    /// Attach the list when `ReturnConsumedCapacity` asks (`INDEXES` adds
    /// each table's own figure).
    fn report(&self, out: &mut Value, v: &Value) {
        let mode = v.get("ReturnConsumedCapacity").and_then(Value::as_str);
        if !matches!(mode, Some("TOTAL" | "INDEXES")) {
            return;
        }
        let list: Vec<Value> = self
            .0
            .iter()
            .map(|(t, u)| {
                let mut c = json!({ "TableName": t, "CapacityUnits": u });
                if mode == Some("INDEXES") {
                    c["Table"] = json!({ "CapacityUnits": u });
                }
                c
            })
            .collect();
        out["ConsumedCapacity"] = json!(list);
    }
}

/// `NextToken` of a PartiQL page: the last evaluated key, opaque.
fn encode_token(key: &Item) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(item_to_json(key).to_string())
}

fn decode_token(t: &str) -> Option<Item> {
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(t)
        .ok()?;
    let v: Value = serde_json::from_slice(&raw).ok()?;
    nimbus_tables::value::item_from_json(&v).ok()
}

/// Attach `ConsumedCapacity` when asked for.
fn consumed(out: &mut Value, v: &Value, table: &str, units: f64) {
    consumed_by(out, v, table, Some(units), &[]);
}

/// Attach `ConsumedCapacity` of a call that consumed `table_units` on the
/// table (none: it read an index only) and `indexes` on its indexes (name,
/// global, units): their sum, and with `INDEXES` each one's figure.
fn consumed_by(
    out: &mut Value,
    v: &Value,
    table: &str,
    table_units: Option<f64>,
    indexes: &[(String, bool, f64)],
) {
    let total = table_units.unwrap_or(0.0) + indexes.iter().map(|(_, _, u)| u).sum::<f64>();
    match v.get("ReturnConsumedCapacity").and_then(Value::as_str) {
        Some("TOTAL") => {
            out["ConsumedCapacity"] = json!({ "TableName": table, "CapacityUnits": total });
        }
        Some("INDEXES") => {
            let mut c = json!({ "TableName": table, "CapacityUnits": total });
            if let Some(u) = table_units {
                c["Table"] = json!({ "CapacityUnits": u });
            }
            for (field, global) in [
                ("GlobalSecondaryIndexes", true),
                ("LocalSecondaryIndexes", false),
            ] {
                let by_index: serde_json::Map<String, Value> = indexes
                    .iter()
                    .filter(|(_, g, _)| *g == global)
                    .map(|(n, _, u)| (n.clone(), json!({ "CapacityUnits": u })))
                    .collect();
                if !by_index.is_empty() {
                    c[field] = Value::Object(by_index);
                }
            }
            out["ConsumedCapacity"] = c;
        }
        _ => {}
    }
}

/// What an index keeps of `item`: its keys (the table's and the index's)
/// and the projected attributes; `None` when the item lacks the index's keys.
fn projected(
    rec: &nimbus_tables::schema::TableRecord,
    index: &nimbus_tables::schema::IndexDef,
    item: &Item,
) -> Option<Item> {
    if index.key.names().any(|k| !item.contains_key(k)) {
        return None;
    }
    Some(match &index.projection {
        nimbus_tables::schema::Projection::All => item.clone(),
        other => item
            .iter()
            .filter(|(name, _)| {
                rec.key.names().chain(index.key.names()).any(|k| k == name.as_str())
                    || matches!(other, nimbus_tables::schema::Projection::Include(a) if a.contains(name))
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    })
}

/// The write units a change from `old` to `new` costs each index it
/// touches: a new or removed entry one write, a moved one (its index key
/// changed) two, an updated one one.
fn index_write_units(
    rec: &nimbus_tables::schema::TableRecord,
    old: Option<&Item>,
    new: Option<&Item>,
) -> Vec<(String, bool, f64)> {
    let size = |i: &Item| write_units(nimbus_tables::value::item_size(i));
    rec.indexes
        .iter()
        .filter_map(|index| {
            let before = old.and_then(|o| projected(rec, index, o));
            let after = new.and_then(|n| projected(rec, index, n));
            let units = match (&before, &after) {
                (None, None) => return None,
                (Some(b), None) => size(b),
                (None, Some(a)) => size(a),
                (Some(b), Some(a)) => {
                    let moved = index.key.names().any(|k| b.get(k) != a.get(k));
                    if moved {
                        size(b) + size(a)
                    } else if b == a {
                        return None;
                    } else {
                        size(a)
                    }
                }
            };
            Some((index.name.clone(), index.global, units))
        })
        .collect()
}

fn read_units(bytes: usize, consistent: bool) -> f64 {
    let units = bytes.div_ceil(4096).max(1) as f64;
    if consistent { units } else { units / 2.0 }
}

fn write_units(bytes: usize) -> f64 {
    bytes.div_ceil(1024).max(1) as f64
}

/// [`legacy::rewrite`] for callers outside the service (the fuzz target):
/// the request with its legacy parameters as expressions, or DynamoDB's
/// message refusing it.
pub fn rewrite_legacy(v: &Value) -> Result<Option<Value>, String> {
    legacy::rewrite(v).map_err(|e| e.0.message)
}

/// A request with its legacy parameters (`Expected`, `KeyConditions`, ...)
/// rewritten as the expressions they stand for.
fn modern(v: &Value) -> R<std::borrow::Cow<'_, Value>> {
    Ok(match legacy::rewrite(v)? {
        Some(rewritten) => std::borrow::Cow::Owned(rewritten),
        None => std::borrow::Cow::Borrowed(v),
    })
}

#[cfg(test)]
mod tests;
