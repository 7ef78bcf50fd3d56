//! The DynamoDB Streams API: `ListStreams`, `DescribeStream`,
//! `GetShardIterator`, `GetRecords`. Each table stream has one shard.

use crate::convert::{missing, opt_usize, str_field};
use crate::{DdbError, R};
use nimbus_tables::Tables;
use nimbus_tables::streams::{self, ITERATOR_TTL_MS, Iterator};
use serde_json::{Value, json};

pub fn run(t: &Tables, op: &str, v: &Value) -> R<Value> {
    match op {
        "ListStreams" => {
            let table = v.get("TableName").and_then(Value::as_str);
            let limit = opt_usize(v, "Limit", 1, 100)?.unwrap_or(100);
            let after = v.get("ExclusiveStartStreamArn").and_then(Value::as_str);
            let all: Vec<Value> = t
                .streams(table)
                .into_iter()
                .map(|(name, s)| {
                    json!({
                        "StreamArn": t.stream_arn(&name, &s.label),
                        "TableName": name,
                        "StreamLabel": s.label,
                    })
                })
                .collect();
            let start = match after {
                Some(a) => all
                    .iter()
                    .position(|s| s["StreamArn"] == a)
                    .map_or(0, |i| i + 1),
                None => 0,
            };
            let page: Vec<Value> = all.iter().skip(start).take(limit).cloned().collect();
            let mut out = json!({ "Streams": page });
            if start + limit < all.len()
                && let Some(last) = page.last()
            {
                out["LastEvaluatedStreamArn"] = last["StreamArn"].clone();
            }
            Ok(out)
        }
        "DescribeStream" => {
            let arn = str_field(v, "StreamArn")?;
            let (rec, s) = t.stream(arn)?;
            let range = t.stream_range(&rec.name, &s.label)?;
            let mut seq_range = json!({});
            if let Some((lo, hi)) = range {
                seq_range["StartingSequenceNumber"] = json!(streams::sequence_number(lo));
                if !s.enabled {
                    seq_range["EndingSequenceNumber"] = json!(streams::sequence_number(hi));
                }
            } else {
                seq_range["StartingSequenceNumber"] =
                    json!(streams::sequence_number(t.next_sequence()));
            }
            let mut key = vec![json!({ "AttributeName": rec.key.hash, "KeyType": "HASH" })];
            if let Some(r) = &rec.key.range {
                key.push(json!({ "AttributeName": r, "KeyType": "RANGE" }));
            }
            opt_usize(v, "Limit", 1, 100)?;
            // Shards after `ExclusiveStartShardId` only (shard ids order as
            // they were made; a stream here has one).
            let shard = streams::shard_id(&s.label);
            let after = v.get("ExclusiveStartShardId").and_then(Value::as_str);
            // `ShardFilter` `CHILD_SHARDS` asks for a shard's children: the one
            // shard here has no parent, so it is no shard's child.
            let children_only = match v.get("ShardFilter") {
                None | Some(Value::Null) => false,
                Some(f) => match f.get("Type").and_then(Value::as_str) {
                    Some("CHILD_SHARDS") => true,
                    other => {
                        return Err(DdbError::validation(format!(
                            "1 validation error detected: Value '{}' at 'shardFilter.type' failed to satisfy constraint: Member must satisfy enum value set: [CHILD_SHARDS]",
                            other.unwrap_or("null")
                        )));
                    }
                },
            };
            let shards: Vec<Value> = (!children_only && after.is_none_or(|a| shard.as_str() > a))
                .then(|| json!({"ShardId": shard, "SequenceNumberRange": seq_range}))
                .into_iter()
                .collect();
            Ok(json!({ "StreamDescription": {
                "StreamArn": arn,
                "StreamLabel": s.label,
                "StreamStatus": if s.enabled { "ENABLED" } else { "DISABLED" },
                "StreamViewType": s.view_type,
                "CreationRequestDateTime": rec.created_ms as f64 / 1000.0,
                "TableName": rec.name,
                "KeySchema": key,
                "Shards": shards,
            }}))
        }
        "GetShardIterator" => {
            let arn = str_field(v, "StreamArn")?;
            let shard = str_field(v, "ShardId")?;
            let (rec, s) = t.stream(arn)?;
            if shard != streams::shard_id(&s.label) {
                return Err(DdbError::new(
                    "ResourceNotFoundException",
                    format!("Requested resource not found: Shard does not exist: {shard}"),
                ));
            }
            let seq = || -> R<u64> {
                let raw = str_field(v, "SequenceNumber")?;
                streams::parse_sequence_number(raw)
                    .ok_or_else(|| DdbError::validation(format!("Invalid SequenceNumber: {raw}")))
            };
            let next_seq = match v.get("ShardIteratorType").and_then(Value::as_str) {
                Some("TRIM_HORIZON") => 0,
                Some("LATEST") => t.next_sequence(),
                Some("AT_SEQUENCE_NUMBER") => seq()?,
                Some("AFTER_SEQUENCE_NUMBER") => seq()? + 1,
                Some(other) => {
                    return Err(DdbError::validation(format!(
                        "1 validation error detected: Value '{other}' at 'shardIteratorType' failed to satisfy constraint: Member must satisfy enum value set: [AFTER_SEQUENCE_NUMBER, LATEST, AT_SEQUENCE_NUMBER, TRIM_HORIZON]"
                    )));
                }
                None => return Err(missing("shardIteratorType")),
            };
            let it = Iterator {
                table: rec.name,
                label: s.label,
                next_seq,
                issued_ms: nimbus_model::time::now_millis(),
            };
            Ok(json!({ "ShardIterator": it.encode() }))
        }
        "GetRecords" => {
            let raw = str_field(v, "ShardIterator")?;
            let it = Iterator::decode(raw)
                .ok_or_else(|| DdbError::validation("Invalid ShardIterator"))?;
            let now = nimbus_model::time::now_millis();
            if now.saturating_sub(it.issued_ms) > ITERATOR_TTL_MS {
                return Err(DdbError::new(
                    "ExpiredIteratorException",
                    "Iterator expired. The iterator was created over 15 minutes ago.",
                ));
            }
            let limit = opt_usize(v, "Limit", 1, 1000)?.unwrap_or(1000);
            let arn = t.stream_arn(&it.table, &it.label);
            let (_, s) = t.stream(&arn)?;
            let (records, next) = t.stream_records(&it.table, &it.label, it.next_seq, limit)?;
            let mut out = json!({ "Records": records });
            // A disabled stream's shard is closed: once read to its end, no
            // next iterator.
            let closed_and_done = !s.enabled && records_is_empty(&out);
            if !closed_and_done {
                out["NextShardIterator"] = json!(
                    Iterator {
                        next_seq: next,
                        issued_ms: now,
                        ..it
                    }
                    .encode()
                );
            }
            Ok(out)
        }
        _ => Err(DdbError::new(
            "UnknownOperationException",
            format!("DynamoDBStreams_20120810.{op} is not an operation Nimbus serves"),
        )),
    }
}

fn records_is_empty(out: &Value) -> bool {
    out["Records"].as_array().is_none_or(Vec::is_empty)
}
