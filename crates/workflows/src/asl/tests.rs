//! Unit tests of `asl`.

use super::*;

#[test]
fn good_definitions_parse() {
    let m = parse(r#"{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"B"},"B":{"Type":"Choice","Choices":[{"Variable":"$.x","NumericGreaterThan":1,"Next":"C"}],"Default":"C"},"C":{"Type":"Succeed"}}}"#).unwrap();
    assert_eq!(m.start_at, "A");
    assert_eq!(m.states.len(), 3);
}

#[test]
fn bad_definitions_name_the_problem_and_where() {
    let cases = [
        ("{", "INVALID_JSON_DESCRIPTION"),
        (r#"{"States":{}}"#, "The field \"StartAt\" is required"),
        (
            r#"{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"Z"}}}"#,
            "MISSING_TRANSITION_TARGET: Missing 'Next' target: Z at /States/A/Next",
        ),
        (
            r#"{"StartAt":"A","States":{"A":{"Type":"Pass"}}}"#,
            "\"Next\" or \"End\" is required at /States/A",
        ),
        (
            r#"{"StartAt":"A","States":{"A":{"Type":"Teleport","End":true}}}"#,
            "at /States/A/Type",
        ),
        (
            r#"{"StartAt":"A","States":{"A":{"Type":"Pass","End":true,"Bogus":1}}}"#,
            "Field 'Bogus' is not supported at /States/A/Bogus",
        ),
        (
            r#"{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:1:function:f","End":true,"ResultPath":"$.a[*]"}}}"#,
            "ReferencePath",
        ),
        (
            r#"{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"A"}}}"#,
            "NO_TERMINAL_STATE",
        ),
        (
            r#"{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"Z"},"B":{"Type":"Pass","Next":"C"},"C":{"Type":"Succeed"}}}"#,
            "MISSING_TRANSITION_TARGET: Missing 'Next' target: Z at /States/A/Next, MISSING_TRANSITION_TARGET: State \"B\" is not reachable. at /States/B'",
        ),
        (
            r#"{"StartAt":"A","States":{"A":{"Type":"Pass","End":true},"L":{"Type":"Pass","Next":"L"}}}"#,
            "State \"L\" is not reachable. at /States/L",
        ),
        (
            r#"{"StartAt":"A","States":{"A":{"Type":"Pass","End":true,"Parameters":{"x.$":"States.Nope()"}}}}"#,
            "Unsupported intrinsic function",
        ),
    ];
    for (doc, want) in cases {
        let e = parse(doc).unwrap_err().to_string();
        assert!(e.starts_with("Invalid State Machine Definition: '"), "{e}");
        assert!(e.contains(want), "{doc}: {e}");
    }
}
