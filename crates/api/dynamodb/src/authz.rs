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

/// The table a PartiQL statement names (`... FROM "t"`, `INSERT INTO t`,
/// `UPDATE t`, `DELETE FROM t`), and its verb's action.
fn statement_access(statement: &str, scope: &Scope) -> Access {
    let words: Vec<&str> = statement.split_whitespace().collect();
    let verb = words
        .first()
        .map(|w| w.to_ascii_uppercase())
        .unwrap_or_default();
    let action = match verb.as_str() {
        "INSERT" => "dynamodb:PartiQLInsert",
        "UPDATE" => "dynamodb:PartiQLUpdate",
        "DELETE" => "dynamodb:PartiQLDelete",
        _ => "dynamodb:PartiQLSelect",
    };
    let after = |kw: &str| {
        words
            .iter()
            .position(|w| w.eq_ignore_ascii_case(kw))
            .and_then(|i| words.get(i + 1))
    };
    let target = match verb.as_str() {
        "INSERT" => after("INTO"),
        "UPDATE" => words.get(1),
        _ => after("FROM"),
    };
    let table = target
        .map(|t| {
            // `"t"."index"` names an index of `t`; quotes and a trailing `;` go.
            let t = t.trim_end_matches(';');
            let mut parts = t.splitn(2, '.').map(|p| p.trim_matches('"'));
            let table = parts.next().unwrap_or_default().to_string();
            match parts.next() {
                Some(index) => format!("{table}/index/{index}"),
                None => table,
            }
        })
        .unwrap_or_default();
    if table.is_empty() {
        return Access::any(action);
    }
    Access::new(action, table_arn(scope, &table))
}

/// What `op` with `params` asks of IAM.
pub fn access(op: Operation, params: &Value, scope: &Scope) -> Vec<Access> {
    use Operation::*;
    let table = str_of(params, "TableName").unwrap_or_default();
    let on_table = |action: &str| vec![Access::new(action, table_arn(scope, table))];
    match op {
        ListTables => vec![Access::any("dynamodb:ListTables")],
        DescribeEndpoints => vec![Access::any("dynamodb:DescribeEndpoints")],
        DescribeLimits => vec![Access::any("dynamodb:DescribeLimits")],
        TagResource | UntagResource | ListTagsOfResource => {
            let action = match op {
                TagResource => "dynamodb:TagResource",
                UntagResource => "dynamodb:UntagResource",
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
                let Some((kind, body)) = item.as_object().and_then(|o| o.iter().next()) else {
                    continue;
                };
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
            out
        }
        ExecuteStatement => vec![statement_access(
            str_of(params, "Statement").unwrap_or_default(),
            scope,
        )],
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
    let arn = str_of(params, "StreamArn")
        .map(String::from)
        .or_else(|| {
            // A shard iterator names its table and stream.
            let it = nimbus_tables::streams::Iterator::decode(str_of(params, "ShardIterator")?)?;
            Some(table_arn(
                scope,
                &format!("{}/stream/{}", it.table, it.label),
            ))
        })
        .unwrap_or_else(|| "*".into());
    vec![Access::new(action, arn)]
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
