//! DynamoDB's operations as IAM actions on table, index and stream ARNs, as
//! DynamoDB's authorization reference names them: batch and transaction
//! operations need an action on every table they touch, PartiQL statements
//! the `PartiQL*` action of their verb.

use crate::operations::Operation;
use nimbus_api_common::authz::{Access, Scope};
use serde_json::Value;

/// A table named by its name or by its ARN (DynamoDB takes both).
fn table_arn(scope: &Scope, table: &str) -> String {
    if table.starts_with("arn:") {
        return table.to_string();
    }
    scope.arn("dynamodb", &format!("table/{table}"))
}

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// What a PartiQL statement asks: its verb's `PartiQL*` action on the table
/// (or index) the statement's own parser finds. A statement that does not
/// parse is refused by the service before it touches anything; it is checked
/// against `*`.
fn statement_access(params: &Value, scope: &Scope) -> Access {
    use nimbus_tables::partiql::{Statement, parse};
    let statement = str_of(params, "Statement").unwrap_or_default();
    let values: Vec<nimbus_tables::value::AttributeValue> = params
        .get("Parameters")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|p| nimbus_tables::value::AttributeValue::from_json(p).ok())
                .collect()
        })
        .unwrap_or_default();
    let Ok(parsed) = parse(statement, &values) else {
        return Access::any("dynamodb:PartiQLSelect");
    };
    let (action, table, index) = match &parsed.statement {
        Statement::Select { table, index, .. } => ("dynamodb:PartiQLSelect", table, index.as_ref()),
        Statement::Insert { table, .. } => ("dynamodb:PartiQLInsert", table, None),
        Statement::Update { table, .. } => ("dynamodb:PartiQLUpdate", table, None),
        Statement::Delete { table, .. } => ("dynamodb:PartiQLDelete", table, None),
    };
    let mut arn = table_arn(scope, table);
    if let Some(i) = index {
        arn = format!("{arn}/index/{i}");
    }
    Access::new(action, arn)
}

/// What `op` with `params` asks of IAM.
/// What `op` with `params` asks of IAM, with the tags it sets or removes
/// as condition keys (`aws:RequestTag/KEY`, `aws:TagKeys`).
pub fn access(op: Operation, params: &Value, scope: &Scope) -> Vec<Access> {
    let mut access = asked(op, params, scope);
    tagging(op, params, &mut access);
    access
}

fn asked(op: Operation, params: &Value, scope: &Scope) -> Vec<Access> {
    use Operation::*;
    let table = str_of(params, "TableName").unwrap_or_default();
    let on_table = |action: &str| vec![Access::new(action, table_arn(scope, table))];
    match op {
        ListTables => vec![Access::any("dynamodb:ListTables")],
        DescribeEndpoints => vec![Access::any("dynamodb:DescribeEndpoints")],
        DescribeLimits => vec![Access::any("dynamodb:DescribeLimits")],
        TagResource | UntagResource | ListTagsOfResource | PutResourcePolicy
        | GetResourcePolicy | DeleteResourcePolicy => {
            let action = match op {
                TagResource => "dynamodb:TagResource",
                UntagResource => "dynamodb:UntagResource",
                PutResourcePolicy => "dynamodb:PutResourcePolicy",
                GetResourcePolicy => "dynamodb:GetResourcePolicy",
                DeleteResourcePolicy => "dynamodb:DeleteResourcePolicy",
                _ => "dynamodb:ListTagsOfResource",
            };
            vec![Access::new(
                action,
                str_of(params, "ResourceArn").unwrap_or("*"),
            )]
        }
        Query | Scan => {
            let action = if op == Query {
                "dynamodb:Query"
            } else {
                "dynamodb:Scan"
            };
            let mut arn = table_arn(scope, table);
            if let Some(index) = str_of(params, "IndexName") {
                arn = format!("{arn}/index/{index}");
            }
            vec![Access::new(action, arn)]
        }
        BatchGetItem | BatchWriteItem => {
            let action = if op == BatchGetItem {
                "dynamodb:BatchGetItem"
            } else {
                "dynamodb:BatchWriteItem"
            };
            let mut tables: Vec<&String> = params
                .get("RequestItems")
                .and_then(Value::as_object)
                .map(|o| o.keys().collect())
                .unwrap_or_default();
            tables.sort();
            tables
                .into_iter()
                .map(|t| Access::new(action, table_arn(scope, t)))
                .collect()
        }
        TransactWriteItems | TransactGetItems => {
            let mut out: Vec<Access> = Vec::new();
            for item in params
                .get("TransactItems")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                // Every entry of every item: the service takes the one it
                // knows, whatever else an item carries.
                for (kind, body) in item.as_object().into_iter().flatten() {
                    let action = match kind.as_str() {
                        "Put" => "dynamodb:PutItem",
                        "Update" => "dynamodb:UpdateItem",
                        "Delete" => "dynamodb:DeleteItem",
                        "ConditionCheck" => "dynamodb:ConditionCheckItem",
                        _ => "dynamodb:GetItem",
                    };
                    let a = Access::new(
                        action,
                        table_arn(scope, str_of(body, "TableName").unwrap_or_default()),
                    );
                    if !out.contains(&a) {
                        out.push(a);
                    }
                }
            }
            out
        }
        ExecuteStatement => vec![statement_access(params, scope)],
        CreateTable => on_table("dynamodb:CreateTable"),
        DescribeTable => on_table("dynamodb:DescribeTable"),
        UpdateTable => on_table("dynamodb:UpdateTable"),
        DeleteTable => on_table("dynamodb:DeleteTable"),
        UpdateTimeToLive => on_table("dynamodb:UpdateTimeToLive"),
        DescribeTimeToLive => on_table("dynamodb:DescribeTimeToLive"),
        DescribeContinuousBackups => on_table("dynamodb:DescribeContinuousBackups"),
        PutItem => on_table("dynamodb:PutItem"),
        GetItem => on_table("dynamodb:GetItem"),
        UpdateItem => on_table("dynamodb:UpdateItem"),
        DeleteItem => on_table("dynamodb:DeleteItem"),
    }
}

/// What a DynamoDB Streams operation asks of IAM: its action on the stream.
pub fn stream_access(operation: &str, params: &Value, scope: &Scope) -> Vec<Access> {
    let action = format!("dynamodb:{operation}");
    if operation == "ListStreams" {
        return vec![Access::any(action)];
    }
    // GetRecords reads what its iterator names, whatever else the request says.
    let arn = if operation == "GetRecords" {
        str_of(params, "ShardIterator")
            .and_then(nimbus_tables::streams::Iterator::decode)
            .map(|it| table_arn(scope, &format!("{}/stream/{}", it.table, it.label)))
    } else {
        str_of(params, "StreamArn").map(String::from)
    }
    .unwrap_or_else(|| "*".into());
    vec![Access::new(action, arn)]
}

/// The tags `op` sets or removes, as condition keys on its first access.
fn tagging(op: Operation, params: &Value, access: &mut [Access]) {
    use nimbus_api_common::authz::{json_strings, json_tags, removed_tag_keys, request_tags};
    let (sets, removes) = match op {
        Operation::CreateTable | Operation::TagResource => (Some("Tags"), None),
        Operation::UntagResource => (None, Some("TagKeys")),
        _ => (None, None),
    };
    if let Some(m) = sets {
        request_tags(access, &json_tags(params, m));
    }
    if let Some(m) = removes {
        removed_tag_keys(access, &json_strings(params, m));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn s() -> Scope {
        Scope::new("000000000000", "us-east-1")
    }

    #[test]
    fn item_operations_name_their_table_and_index() {
        let t = "arn:aws:dynamodb:us-east-1:000000000000:table/users";
        assert_eq!(
            access(Operation::GetItem, &json!({"TableName": "users"}), &s()),
            [Access::new("dynamodb:GetItem", t)]
        );
        assert_eq!(
            access(
                Operation::Query,
                &json!({"TableName": "users", "IndexName": "by-email"}),
                &s()
            )[0]
            .resource,
            format!("{t}/index/by-email")
        );
    }

    #[test]
    fn batches_and_transactions_need_every_table() {
        let b = access(
            Operation::BatchGetItem,
            &json!({"RequestItems": {"b": {}, "a": {}}}),
            &s(),
        );
        assert_eq!(b.len(), 2);
        assert!(b[0].resource.ends_with("table/a"));
        let t = access(
            Operation::TransactWriteItems,
            &json!({"TransactItems": [
                {"Put": {"TableName": "a"}},
                {"ConditionCheck": {"TableName": "b"}},
                {"Put": {"TableName": "a"}},
            ]}),
            &s(),
        );
        let actions: Vec<&str> = t.iter().map(|a| a.action.as_str()).collect();
        assert_eq!(actions, ["dynamodb:PutItem", "dynamodb:ConditionCheckItem"]);
    }

    #[test]
    fn a_transaction_item_is_checked_by_every_entry() {
        let t = access(
            Operation::TransactGetItems,
            &json!({"TransactItems": [{"A": {"TableName": "public"}, "Get": {"TableName": "secret"}}]}),
            &s(),
        );
        assert!(
            t.iter().any(|a| a.resource.ends_with("table/secret")),
            "{t:?}"
        );
    }

    #[test]
    fn stream_reads_name_the_stream() {
        let it = nimbus_tables::streams::Iterator {
            table: "users".into(),
            label: "2026-12-06T00:00:00.000".into(),
            next_seq: 1,
            issued_ms: 0,
        };
        let a = stream_access("GetRecords", &json!({"ShardIterator": it.encode()}), &s());
        assert_eq!(
            a[0].resource,
            "arn:aws:dynamodb:us-east-1:000000000000:table/users/stream/2026-12-06T00:00:00.000"
        );
        assert_eq!(
            stream_access("ListStreams", &json!({}), &s())[0].resource,
            "*"
        );
    }

    #[test]
    fn statements_map_to_partiql_actions() {
        for (stmt, action, table) in [
            (
                "SELECT * FROM \"users\" WHERE id = 1",
                "dynamodb:PartiQLSelect",
                "users",
            ),
            (
                "select * from users.\"by-email\"",
                "dynamodb:PartiQLSelect",
                "users/index/by-email",
            ),
            (
                "INSERT INTO users VALUE {'id': 1}",
                "dynamodb:PartiQLInsert",
                "users",
            ),
            (
                "UPDATE \"users\" SET a = 1 WHERE id = 1",
                "dynamodb:PartiQLUpdate",
                "users",
            ),
            (
                "DELETE FROM users WHERE id = 1",
                "dynamodb:PartiQLDelete",
                "users",
            ),
        ] {
            let a = access(
                Operation::ExecuteStatement,
                &json!({"Statement": stmt}),
                &s(),
            );
            assert_eq!(a[0].action, action, "{stmt}");
            assert!(
                a[0].resource.ends_with(&format!("table/{table}")),
                "{stmt}: {:?}",
                a[0]
            );
        }
    }
}
