//! What IAM enforcement adds to a request: the authorization of a DynamoDB
//! `GetItem` by a role session whose role has 10 managed policies of 20
//! statements each (the one allowing statement last), measured in process on
//! the real identity store and `Enforcer` (the only work `--iam on` adds over
//! `--iam off`), against computing the request's actions alone.

use crate::bench::client::percentile;
use anyhow::{Context, Result};
use nimbus_api_common::Caller;
use nimbus_api_common::authz::{Authorizer, Scope, authorize};
use nimbus_iam::{Entity, Iam, NewPolicy, NewRole};
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;

#[derive(clap::Args)]
pub struct Args {
    /// Timed authorizations.
    #[arg(long, default_value_t = 200_000)]
    samples: usize,
    /// Managed policies attached to the role.
    #[arg(long, default_value_t = 10)]
    policies: usize,
    /// Statements per policy.
    #[arg(long, default_value_t = 20)]
    statements: usize,
}

const ACCOUNT: &str = "000000000000";
const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

/// A policy of `n` statements on other tables and services; the last policy's
/// last statement allows the measured call.
fn document(p: usize, n: usize, last: bool) -> String {
    let mut statements: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            json!({"Sid": format!("S{p}x{i}"), "Effect": "Allow",
                "Action": [format!("dynamodb:Query"), format!("s3:GetObject"), format!("sqs:Send*")],
                "Resource": [format!("arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/t{p}-{i}"),
                             format!("arn:aws:s3:::bucket-{p}/{i}/*")],
                "Condition": {"StringEquals": {"aws:RequestedRegion": "us-east-1"}}})
        })
        .collect();
    if last {
        statements.pop();
        statements.push(json!({"Sid": "Items", "Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:PutItem"],
            "Resource": format!("arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/users")}));
    }
    json!({"Version": "2012-10-17", "Statement": statements}).to_string()
}

pub fn run(args: Args) -> Result<()> {
    let dir = std::env::temp_dir().join(format!("nimbus-bench-iam-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let kv = Arc::new(
        nimbus_storage_embedded::EmbeddedKv::open(&dir.join("m.redb")).context("open a store")?,
    );
    let iam = Arc::new(Iam::open(kv, ACCOUNT)?);
    iam.create_role(NewRole {
        name: "app".into(),
        trust: TRUST.into(),
        ..Default::default()
    })?;
    for p in 0..args.policies {
        let policy = iam.create_policy(NewPolicy {
            name: format!("p{p}"),
            document: document(p, args.statements, p + 1 == args.policies),
            ..Default::default()
        })?;
        iam.attach_policy(Entity::Role("app"), &policy.arn)?;
    }
    let role = format!("arn:aws:iam::{ACCOUNT}:role/app");
    let session = iam.session_for_role(&role, "bench", 3600)?;
    let enforcer: Arc<dyn Authorizer> = Arc::new(nimbus_api_iam::enforce::Enforcer::new(
        iam.clone(),
        Scope::new(ACCOUNT, "us-east-1"),
    ));
    let mut ext = http::Extensions::new();
    ext.insert(Caller {
        arn: format!("arn:aws:sts::{ACCOUNT}:assumed-role/app/bench"),
        account: ACCOUNT.into(),
        user_id: "AROA:bench".into(),
        access_key_id: session.access_key_id.clone(),
    });
    let params = json!({"TableName": "users", "Key": {"id": {"S": "1"}}});
    let get_item = nimbus_api_dynamodb::Operation::GetItem;
    let access = |s: &Scope| nimbus_api_dynamodb::authz::access(get_item, &params, s);
    // Without an authorizer in the request (`--iam off`): nothing is computed.
    let off = time(args.samples, || authorize(&ext, access).is_ok());
    ext.insert(enforcer);
    anyhow::ensure!(
        authorize(&ext, access).is_ok(),
        "the role should allow GetItem"
    );
    let scan = |s: &Scope| {
        nimbus_api_dynamodb::authz::access(nimbus_api_dynamodb::Operation::Scan, &params, s)
    };
    anyhow::ensure!(
        authorize(&ext, scan).is_err(),
        "the role should not allow Scan"
    );
    let on = time(args.samples, || authorize(&ext, access).is_ok());
    let denied = time(args.samples / 4, || authorize(&ext, scan).is_err());
    println!(
        "nimbus bench iam: a role session with {} managed policies of {} statements; {} authorizations each",
        args.policies, args.statements, args.samples
    );
    println!();
    println!("| authorization of dynamodb:GetItem | p50 us | p99 us |");
    println!("|---|---|---|");
    for (label, mut t) in [
        ("--iam off (no authorizer)", off),
        ("--iam on, allowed", on),
        ("--iam on, denied (Scan)", denied),
    ] {
        let (p50, p99) = (percentile(&mut t, 0.5), percentile(&mut t, 0.99));
        println!("| {label} | {p50:.2} | {p99:.2} |");
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Microseconds of each of `n` calls (every result must be true).
fn time(n: usize, mut f: impl FnMut() -> bool) -> Vec<f64> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let ok = f();
        out.push(t.elapsed().as_secs_f64() * 1e6);
        assert!(
            ok,
            "an authorization answered otherwise than while setting up"
        );
    }
    out
}
