//! The pure parts of pipes: what an ARN names, how updates merge source
//! settings, where filters are read from.

use super::*;
use serde_json::json;

#[test]
fn arns_name_the_kinds_pipes_know() {
    let k = |a| kind(a);
    assert_eq!(
        k("arn:aws:lambda:us-east-1:000000000000:function:f"),
        Some("lambda")
    );
    assert_eq!(k("arn:aws:sqs:us-east-1:000000000000:q"), Some("sqs"));
    assert_eq!(
        k("arn:aws:states:us-east-1:000000000000:stateMachine:m"),
        Some("states")
    );
    assert_eq!(
        k("arn:aws:events:us-east-1:000000000000:event-bus/default"),
        Some("events")
    );
    assert_eq!(
        k("arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/2026-01-01T00:00:00.000"),
        Some("dynamodb")
    );
    assert_eq!(k("arn:aws:kinesis:us-east-1:000000000000:stream/s"), None);
}

#[test]
fn updates_merge_source_settings_and_filters_are_found() {
    let mut params = json!({
        "SqsQueueParameters": {"BatchSize": 5, "MaximumBatchingWindowInSeconds": 1},
        "FilterCriteria": {"Filters": [{"Pattern": "{\"body\": {\"a\": [1]}}"}]}
    });
    merge(&mut params, json!({"SqsQueueParameters": {"BatchSize": 9}}));
    assert_eq!(params["SqsQueueParameters"]["BatchSize"], 9);
    assert_eq!(
        params["SqsQueueParameters"]["MaximumBatchingWindowInSeconds"],
        1
    );
    assert_eq!(
        filters(&params),
        vec!["{\"body\": {\"a\": [1]}}".to_string()]
    );
    merge(&mut params, json!({"FilterCriteria": {"Filters": []}}));
    assert!(filters(&params).is_empty());
}
