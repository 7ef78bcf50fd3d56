//! Property tests: the linear wildcard matcher agrees with a plain recursive
//! one (segment by segment for ARNs) on random patterns, and evaluation keeps
//! its invariants over random policies (a matching `Deny` always wins, more
//! `Allow` never denies more, a boundary or session policy only takes away).
//! Fixed seeds: failures reproduce.

use crate::glob::{Glob, Syntax};
use crate::{Context, Decision, ParseKind, Policy, PolicySet, Principal, evaluate, parse_as};

/// xorshift64*: small, deterministic, good enough to pick shapes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    fn text(&mut self, alphabet: &[char], max: usize) -> String {
        let n = self.below(max + 1);
        (0..n).map(|_| *self.pick(alphabet)).collect()
    }
}

fn reference_glob(p: &[char], s: &[char]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some(('*', rest)) => (0..=s.len()).any(|i| reference_glob(rest, &s[i..])),
        Some(('?', rest)) => !s.is_empty() && reference_glob(rest, &s[1..]),
        Some((c, rest)) => s.first() == Some(c) && reference_glob(rest, &s[1..]),
    }
}

fn chars(s: &str) -> Vec<char> {
    s.chars().collect()
}

/// The definition: an ARN pattern's first five segments match the ARN's
/// one by one; the rest matches the rest, `:` included; all-`*` matches all.
fn reference_arn(p: &str, s: &str) -> bool {
    if !p.is_empty() && p.chars().all(|c| c == '*') {
        return true;
    }
    let ps: Vec<&str> = p.splitn(6, ':').collect();
    let ss: Vec<&str> = s.splitn(6, ':').collect();
    ps.len() == ss.len()
        && ps
            .iter()
            .zip(&ss)
            .all(|(a, b)| reference_glob(&chars(a), &chars(b)))
}

fn user() -> Principal {
    Principal::from_arn("arn:aws:iam::111122223333:user/alice").unwrap()
}

#[test]
fn wildcard_matching_agrees_with_the_definition() {
    let ctx = Context::new("s3:GetObject", "*", user());
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for round in 0..40_000 {
        let arn = round % 2 == 1;
        let (pattern, subject) = if arn && round % 4 == 1 {
            // ARN-shaped: six segments (sometimes five or seven).
            let mut segments = |alphabet: &[char], max| -> String {
                let n = 5 + rng.below(3);
                (0..n)
                    .map(|_| rng.text(alphabet, max))
                    .collect::<Vec<_>>()
                    .join(":")
            };
            (
                segments(&['a', 'b', '*', '?', '/'], 2),
                segments(&['a', 'b', '/'], 2),
            )
        } else {
            (
                rng.text(&['a', 'b', ':', ':', '/', '*', '?'], 9),
                rng.text(&['a', 'b', ':', ':', '/'], 11),
            )
        };
        let syntax = Syntax {
            arn,
            ..Syntax::default()
        };
        let got = Glob::new(&pattern, syntax).matches(&subject, &ctx);
        let want = if arn {
            reference_arn(&pattern, &subject)
        } else {
            reference_glob(&chars(&pattern), &chars(&subject))
        };
        assert_eq!(got, want, "pattern {pattern:?} on {subject:?} (arn: {arn})");
    }
}

const ACTIONS: &[&str] = &[
    "s3:GetObject",
    "s3:*",
    "s3:Get*",
    "sqs:SendMessage",
    "*",
    "iam:?istUsers",
];
const RESOURCES: &[&str] = &[
    "arn:aws:s3:::photos/cat.jpg",
    "arn:aws:s3:::photos/*",
    "*",
    "arn:aws:sqs:us-east-1:111122223333:orders",
    "arn:aws:*:*:111122223333:*",
];
const CONDITIONS: &[&str] = &[
    "",
    r#", "Condition": {"Bool": {"aws:SecureTransport": "true"}}"#,
    r#", "Condition": {"StringEquals": {"aws:username": "alice"}}"#,
    r#", "Condition": {"StringNotLike": {"aws:username": "a*"}}"#,
    r#", "Condition": {"ForAnyValue:StringEquals": {"aws:TagKeys": "env"}}"#,
];

fn statement(rng: &mut Rng, effect: &str, principal: bool) -> String {
    let action = rng.pick(ACTIONS);
    let not = if rng.below(5) == 0 { "Not" } else { "" };
    let resource = rng.pick(RESOURCES);
    let condition = rng.pick(CONDITIONS);
    let principal = if principal {
        r#""Principal": {"AWS": "arn:aws:iam::111122223333:user/alice"}, "#
    } else {
        ""
    };
    format!(
        r#"{{"Effect": "{effect}", {principal}"{not}Action": "{action}", "Resource": "{resource}"{condition}}}"#
    )
}

fn policy(rng: &mut Rng, kind: ParseKind, allow_only: bool) -> Policy {
    let n = 1 + rng.below(3);
    let statements: Vec<String> = (0..n)
        .map(|_| {
            let effect = if allow_only || rng.below(4) != 0 {
                "Allow"
            } else {
                "Deny"
            };
            statement(rng, effect, kind == ParseKind::Resource)
        })
        .collect();
    let doc = format!(
        r#"{{"Version": "2012-10-17", "Statement": [{}]}}"#,
        statements.join(",")
    );
    parse_as(&doc, kind).unwrap_or_else(|e| panic!("{doc}: {e}"))
}

fn context(rng: &mut Rng) -> Context {
    let action = *rng.pick(&[
        "s3:GetObject",
        "s3:PutObject",
        "sqs:SendMessage",
        "iam:ListUsers",
    ]);
    let resource = *rng.pick(&[
        "arn:aws:s3:::photos/cat.jpg",
        "arn:aws:sqs:us-east-1:111122223333:orders",
        "*",
    ]);
    let mut ctx = Context::new(action, resource, user());
    if rng.below(2) == 0 {
        ctx.insert("aws:SecureTransport", "true");
    }
    if rng.below(2) == 0 {
        ctx.set("aws:TagKeys", vec!["env".into(), "team".into()]);
    }
    ctx
}

#[test]
fn evaluation_invariants() {
    let everything = parse_as(
        r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}"#,
        ParseKind::Identity,
    )
    .unwrap();
    let nothing = parse_as(
        r#"{"Version": "2012-10-17", "Statement": {"Effect": "Deny", "Action": "*", "Resource": "*"}}"#,
        ParseKind::Identity,
    )
    .unwrap();
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    for _ in 0..3_000 {
        let identity: Vec<Policy> = (0..rng.below(3))
            .map(|_| policy(&mut rng, ParseKind::Identity, false))
            .collect();
        let boundary = policy(&mut rng, ParseKind::Identity, false);
        let session = policy(&mut rng, ParseKind::Identity, false);
        let resource = policy(&mut rng, ParseKind::Resource, false);
        let ctx = context(&mut rng);
        let base = PolicySet {
            identity: identity.iter().collect(),
            ..PolicySet::default()
        };
        let plain = evaluate(&ctx, &base).decision;

        // A Deny that matches everything wins over anything.
        let mut denied = base.clone();
        denied.identity.push(&nothing);
        denied.resource = Some(&resource);
        assert_eq!(evaluate(&ctx, &denied).decision, Decision::ExplicitDeny);

        // Allowing more never denies more; an explicit deny stays.
        let mut more = base.clone();
        more.identity.push(&everything);
        let widened = evaluate(&ctx, &more).decision;
        match plain {
            Decision::ExplicitDeny => assert_eq!(widened, Decision::ExplicitDeny),
            _ => assert_ne!(widened, Decision::ImplicitDeny),
        }

        // A boundary or a session policy only takes away.
        for limited in [
            PolicySet {
                boundary: Some(&boundary),
                ..base.clone()
            },
            PolicySet {
                session: vec![&session],
                ..base.clone()
            },
        ] {
            if evaluate(&ctx, &limited).is_allowed() {
                assert_eq!(plain, Decision::Allow);
            }
        }

        // In the same account a resource policy adds, unless it denies.
        let with_resource = PolicySet {
            resource: Some(&resource),
            ..base.clone()
        };
        let e = evaluate(&ctx, &with_resource).decision;
        if plain == Decision::Allow {
            assert_ne!(e, Decision::ImplicitDeny);
        }
    }
}
