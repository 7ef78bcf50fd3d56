//! IAM policies: any bytes parsed as each kind of policy never panic, and a
//! policy that parses evaluates, in every position (identity, boundary,
//! session, resource), against a request context made from the same input
//! without panicking.
#![no_main]
use libfuzzer_sys::fuzz_target;
use nimbus_policy::{Context, ParseKind, PolicySet, Principal, evaluate, parse, parse_as, trusts};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = [
        parse(text),
        parse_as(text, ParseKind::Identity),
        parse_as(text, ParseKind::Resource),
        parse_as(text, ParseKind::Trust),
    ];
    // A context from the input: its lines are the action, the resource and
    // condition values for a few keys policies commonly test.
    let mut lines = text.lines();
    let action = lines.next().unwrap_or("s3:GetObject");
    let resource = lines.next().unwrap_or("arn:aws:s3:::bucket/key");
    let principals = [
        Principal::from_arn("arn:aws:iam::111122223333:user/alice")
            .expect("a user ARN")
            .with_tag("team", action),
        Principal::from_arn("arn:aws:sts::444455556666:assumed-role/Dev/s").expect("a session ARN"),
        Principal::root("111122223333"),
        Principal::service("lambda.amazonaws.com"),
        Principal::anonymous(),
    ];
    for (i, principal) in principals.into_iter().enumerate() {
        let mut ctx = Context::new(action, resource, principal);
        for (key, value) in [
            "aws:SourceArn",
            "aws:SourceIp",
            "aws:CurrentTime",
            "aws:TagKeys",
            "s3:prefix",
            "aws:SecureTransport",
        ]
        .iter()
        .zip(lines.clone())
        {
            ctx.insert(key, value);
        }
        for policy in parsed.iter().flatten() {
            let set = PolicySet {
                identity: vec![policy],
                boundary: Some(policy),
                session: vec![policy],
                resource: Some(policy),
                resource_account: (i % 2 == 1).then(|| "111122223333".to_string()),
                resource_required: i % 3 == 0,
            };
            let e = evaluate(&ctx, &set);
            let _ = e.message(&ctx);
            let _ = trusts(policy, &ctx);
        }
    }
});
