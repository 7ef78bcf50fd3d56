//! PartiQL (`ExecuteStatement`): statements parsed by `tables::partiql` into
//! DynamoDB's expressions and run as the matching item operation (a `SELECT`
//! with the partition key is a Query, otherwise a Scan).

use crate::*;
use nimbus_tables::partiql::Where;
use nimbus_tables::schema::TableRecord;

impl DynamoDbApi {
    /// `ExecuteStatement`: PartiQL, translated to the expression operations.
    pub(crate) fn execute_statement(&self, v: &Value) -> R<Value> {
        use nimbus_tables::partiql::{self, Statement};
        let src = str_field(v, "Statement")?;
        let params: Vec<nimbus_tables::value::AttributeValue> = match v.get("Parameters") {
            Some(Value::Array(a)) => a
                .iter()
                .map(|p| {
                    nimbus_tables::value::AttributeValue::from_json(p)
                        .map_err(|e| DdbError::validation(e.0))
                })
                .collect::<R<_>>()?,
            _ => Vec::new(),
        };
        let parsed = partiql::parse(src, &params).map_err(|e| DdbError::validation(e.0))?;
        let mut names = parsed.names;
        let values = parsed.values;
        let table_of = |t: &str| {
            self.tables.record(t).map_err(|_| {
                DdbError::new(
                    "ResourceNotFoundException",
                    format!("Requested resource not found: Table: {t} not found"),
                )
            })
        };
        // The key named by a WHERE clause's equalities, all of it or an error.
        let key_of = |rec: &nimbus_tables::schema::TableRecord, w: &partiql::Where| -> R<Item> {
            let mut key = Item::new();
            for k in rec.key.names() {
                let v = w
                    .equalities
                    .iter()
                    .find(|(n, _)| n == k)
                    .map(|(_, v)| v.clone())
                    .ok_or_else(|| {
                        DdbError::validation(
                            "Where clause does not contain a mandatory equality on all key attributes",
                        )
                    })?;
                key.insert(k.to_string(), v);
            }
            Ok(key)
        };
        match parsed.statement {
            Statement::Select {
                table,
                index,
                projection,
                filter,
            } => {
                let rec = table_of(&table)?;
                self.select(
                    v,
                    &rec,
                    index,
                    projection,
                    filter,
                    Context::new(names, values),
                )
            }
            Statement::Insert { table, item } => {
                let rec = table_of(&table)?;
                names.insert("#nimbus_key".into(), rec.key.hash.clone());
                let mut ctx = Context::new(names, values);
                let cond = expr::parse_condition(
                    "attribute_not_exists(#nimbus_key)",
                    "ConditionExpression",
                    &mut ctx,
                )?;
                match self.one(WriteOp {
                    table,
                    key: Item::new(),
                    condition: Some(cond),
                    change: Change::Put(item),
                    old_on_failure: false,
                }) {
                    Ok(_) => Ok(json!({ "Items": [] })),
                    Err(e) if e.0.code == "ConditionalCheckFailedException" => Err(DdbError::new(
                        "DuplicateItemException",
                        "Duplicate primary key exists in table",
                    )),
                    Err(e) => Err(e),
                }
            }
            Statement::Update {
                table,
                update,
                filter,
            } => {
                let rec = table_of(&table)?;
                let key = key_of(&rec, &filter)?;
                let mut ctx = Context::new(names, values);
                let u = expr::parse_update(&update, &mut ctx)?;
                let cond =
                    expr::parse_condition(&filter.condition, "ConditionExpression", &mut ctx)?;
                ctx.check_unused()?;
                self.one(WriteOp {
                    table,
                    key,
                    condition: Some(cond),
                    change: Change::Update(u),
                    old_on_failure: false,
                })?;
                Ok(json!({ "Items": [] }))
            }
            Statement::Delete { table, filter } => {
                let rec = table_of(&table)?;
                let key = key_of(&rec, &filter)?;
                // Deleting an item that is not there succeeds; one that is
                // there must meet the rest of the WHERE clause.
                names.insert("#nimbus_key".into(), rec.key.hash.clone());
                let mut ctx = Context::new(names, values);
                let cond = expr::parse_condition(
                    &format!(
                        "attribute_not_exists(#nimbus_key) OR ({})",
                        filter.condition
                    ),
                    "ConditionExpression",
                    &mut ctx,
                )?;
                ctx.check_unused()?;
                self.one(WriteOp {
                    table,
                    key,
                    condition: Some(cond),
                    change: Change::Delete,
                    old_on_failure: false,
                })?;
                Ok(json!({ "Items": [] }))
            }
        }
    }

    /// A `SELECT`: a Query when the WHERE clause fixes the partition key (and
    /// maybe a sort key condition), else a Scan; filtered, projected, paged.
    fn select(
        &self,
        v: &Value,
        rec: &TableRecord,
        index: Option<String>,
        projection: Option<String>,
        filter: Option<Where>,
        mut ctx: Context,
    ) -> R<Value> {
        let table = rec.name.as_str();
        let schema = match &index {
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
        let cond = match &filter {
            Some(w) => Some(expr::parse_condition(
                &w.condition,
                "ConditionExpression",
                &mut ctx,
            )?),
            None => None,
        };
        let projection = match &projection {
            Some(p) => Some(expr::parse_projection(p, &mut ctx)?),
            None => None,
        };
        ctx.check_unused()?;
        // An equality on the partition key makes it a Query.
        let hash = filter.as_ref().and_then(|w| {
            w.equalities
                .iter()
                .find(|(n, _)| *n == schema.hash)
                .map(|(_, v)| v.clone())
        });
        // (A multi-attribute index is scanned with the statement's filter.)
        let hash = hash.filter(|_| !schema.multi());
        let sort = match (&hash, &filter, &schema.range) {
            (Some(_), Some(w), Some(r)) => {
                sort_condition(w, r).map(nimbus_tables::SortCondition::on)
            }
            _ => None,
        };
        let start = match v.get("NextToken").and_then(Value::as_str) {
            Some(t) => {
                Some(decode_token(t).ok_or_else(|| DdbError::validation("Invalid NextToken"))?)
            }
            None => None,
        };
        let spec = ReadSpec {
            table,
            index: index.as_deref(),
            forward: true,
            limit: opt_usize(v, "Limit", 1, usize::MAX)?,
            start,
            filter: cond.as_ref(),
        };
        let page = self
            .tables
            .read(&spec, hash.as_ref(), sort.as_ref(), None)?;
        let items: Vec<Value> = page
            .items
            .iter()
            .map(|i| match &projection {
                Some(p) => item_to_json(&expr::project(i, p)),
                None => item_to_json(i),
            })
            .collect();
        let mut out = json!({ "Items": items });
        if let Some(k) = page.last_key {
            out["NextToken"] = json!(encode_token(&k));
        }
        Ok(out)
    }
}

/// The sort key condition a WHERE clause gives for the sort key `r`: an
/// equality, or the first range conjunct on it.
fn sort_condition(w: &Where, r: &str) -> Option<expr::KeyOp> {
    w.equalities
        .iter()
        .find(|(n, _)| n == r)
        .map(|(_, v)| expr::KeyOp::Eq(v.clone()))
        .or_else(|| {
            w.ranges
                .iter()
                .find(|(n, _, _)| n == r)
                .and_then(|(_, op, vs)| {
                    let a = vs.first()?.clone();
                    Some(match op.as_str() {
                        "<" => expr::KeyOp::Lt(a),
                        "<=" => expr::KeyOp::Le(a),
                        ">" => expr::KeyOp::Gt(a),
                        ">=" => expr::KeyOp::Ge(a),
                        "begins_with" => expr::KeyOp::BeginsWith(a),
                        "BETWEEN" => expr::KeyOp::Between(a, vs.get(1)?.clone()),
                        _ => return None,
                    })
                })
        })
}
