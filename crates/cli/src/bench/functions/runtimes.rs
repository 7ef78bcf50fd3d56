//! The managed runtimes beyond Python in `nimbus bench functions --runtimes`: no-ops on
//! Node.js, Ruby and Java (compiled here with the host's `javac`), and the cold start of
//! a Java SnapStart version (a restore of an environment initialized at publish).

use super::{Client, ensure_function, invoke, stats, timing_part, zip_of};
use anyhow::{Context, Result, bail};
use std::time::{Duration, Instant};

const JAVA_NOOP: &str = "package bench;\npublic class Noop {\n    public static Object handle(Object event) {\n        return null;\n    }\n}\n";

/// A jar holding `bench.Noop`, compiled with the host's `javac`.
fn java_noop_jar() -> Result<Vec<u8>> {
    let dir = std::env::temp_dir().join(format!("nimbus-bench-java-{}", std::process::id()));
    let src = dir.join("bench/Noop.java");
    std::fs::create_dir_all(src.parent().expect("has a parent"))?;
    std::fs::write(&src, JAVA_NOOP)?;
    let out = std::process::Command::new("javac")
        .args(["--release", "11", "-d"])
        .arg(dir.join("classes"))
        .arg(&src)
        .output()
        .context("run javac (the Java rows need a JDK)")?;
    if !out.status.success() {
        bail!("javac failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let class = std::fs::read(dir.join("classes/bench/Noop.class"))?;
    let _ = std::fs::remove_dir_all(&dir);
    zip_of(&[("bench/Noop.class", &class, 0o644)])
}

/// Create the no-ops; their rows in the table, as (label, function name).
pub(super) async fn managed_noops(c: &mut Client) -> Result<Vec<(&'static str, &'static str)>> {
    let node = zip_of(&[("index.js", b"exports.handler = async () => null;\n", 0o644)])?;
    ensure_function(
        c,
        "bench-node-noop",
        "nodejs20.x",
        "index.handler",
        &node,
        None,
    )
    .await?;
    let ruby = zip_of(&[(
        "app.rb",
        b"def handler(event:, context:)\n  nil\nend\n",
        0o644,
    )])?;
    ensure_function(c, "bench-ruby-noop", "ruby3.3", "app.handler", &ruby, None).await?;
    let jar = java_noop_jar()?;
    ensure_function(
        c,
        "bench-java-noop",
        "java21",
        "bench.Noop::handle",
        &jar,
        None,
    )
    .await?;
    Ok(vec![
        ("nodejs20.x no-op", "bench-node-noop"),
        ("ruby3.3 no-op", "bench-ruby-noop"),
        ("java21 no-op", "bench-java-noop"),
    ])
}

/// `n` cold starts of a java21 SnapStart no-op: each round publishes a version, waits
/// until it is `Active` (its environment initialized), then invokes it. Returns
/// (client-observed p50/p99, restore p50/p99), ms.
pub(super) async fn snap_start(c: &mut Client, n: usize) -> Result<((f64, f64), (f64, f64))> {
    let name = "bench-java-snapstart";
    let jar = java_noop_jar()?;
    let snap = serde_json::json!({ "ApplyOn": "PublishedVersions" });
    ensure_function(
        c,
        name,
        "java21",
        "bench.Noop::handle",
        &jar,
        Some(("SnapStart", snap)),
    )
    .await?;
    let (mut total, mut restore) = (vec![], vec![]);
    for i in 0..n {
        let body = serde_json::json!({ "Description": format!("round {i}") });
        let r = c
            .call(
                "POST",
                &format!("/2015-03-31/functions/{name}/versions"),
                body.to_string().as_bytes(),
                &[],
            )
            .await?;
        if r.status != 201 {
            bail!(
                "publish {name}: {} {}",
                r.status,
                String::from_utf8_lossy(&r.body)
            );
        }
        let v: serde_json::Value = serde_json::from_slice(&r.body)?;
        let qualified = format!("{name}:{}", v["Version"].as_str().unwrap_or_default());
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let r = c
                .call(
                    "GET",
                    &format!("/2015-03-31/functions/{qualified}/configuration"),
                    b"",
                    &[],
                )
                .await?;
            let cfg: serde_json::Value = serde_json::from_slice(&r.body)?;
            if cfg["State"] == "Active" {
                break;
            }
            if Instant::now() > deadline {
                bail!("{qualified} never became Active: {cfg}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let start = Instant::now();
        let r = invoke(c, &qualified).await?;
        total.push(start.elapsed().as_secs_f64() * 1000.0);
        restore.push(
            timing_part(&r.headers, "restore")
                .context("a SnapStart cold start without restore timing")?,
        );
    }
    let _ = c
        .call("DELETE", &format!("/2015-03-31/functions/{name}"), b"", &[])
        .await;
    Ok((stats(total), stats(restore)))
}
