//! `nimbus bench events`: EventBridge `PutEvents` throughput into a bus with
//! 100 rules of mixed patterns (each matched event written to a queue in the
//! batch that acknowledges it), the time from an acknowledged event to its
//! target queue's waiting receiver, and SNS `Publish` / `PublishBatch`
//! throughput to a topic with 10 queue subscribers. Results go in
//! `docs/benchmarks.md`.

use crate::bench::client::{self, Conn, Endpoint, percentile};
use anyhow::{Context, Result};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct Args {
    /// The Nimbus server's data directory (credentials and endpoint are read from it).
    #[arg(long, default_value = ".nimbus", env = "NIMBUS_DATA_DIR")]
    data_dir: PathBuf,
    /// Concurrent clients for the throughput runs.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Seconds of each throughput run.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Events timed from acknowledgement to delivery.
    #[arg(long, default_value_t = 100)]
    samples: usize,
    /// Rules on the benchmark's bus.
    #[arg(long, default_value_t = 100)]
    rules: usize,
    /// Queues subscribed to the benchmark's topic.
    #[arg(long, default_value_t = 10)]
    subscribers: usize,
}

fn short_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..10].to_string()
}

/// A queue that EventBridge and SNS may send to; its URL and ARN.
async fn open_queue(c: &mut Conn, name: &str) -> Result<(String, String)> {
    let url = c
        .json("AmazonSQS", "CreateQueue", &json!({ "QueueName": name }))
        .await?["QueueUrl"]
        .as_str()
        .context("CreateQueue without QueueUrl")?
        .to_string();
    let arn = c
        .json(
            "AmazonSQS",
            "GetQueueAttributes",
            &json!({ "QueueUrl": url, "AttributeNames": ["QueueArn"] }),
        )
        .await?["Attributes"]["QueueArn"]
        .as_str()
        .context("no QueueArn")?
        .to_string();
    let policy = json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Principal": {"Service": ["events.amazonaws.com", "sns.amazonaws.com"]},
        "Action": "sqs:SendMessage", "Resource": arn}]});
    c.json(
        "AmazonSQS",
        "SetQueueAttributes",
        &json!({ "QueueUrl": url, "Attributes": { "Policy": policy.to_string() } }),
    )
    .await?;
    Ok((url, arn))
}

/// Rule `i` of the mix: exact source and detail-type (60%), exact source
/// with a numeric range (15%), a detail-type prefix (10%, no exact field),
/// `anything-but` with an exact status (10%), and `$or` (5%, no exact
/// field at the top).
fn pattern(i: usize, rules: usize) -> Value {
    let share = i * 100 / rules.max(1);
    match share {
        0..60 => {
            json!({"source": [format!("app.{}", i % 20)], "detail-type": [format!("type{i}")]})
        }
        60..75 => json!({"source": [format!("app.{}", i % 20)],
                         "detail": {"amount": [{"numeric": [">", i % 100]}]}}),
        75..85 => json!({"detail-type": [{"prefix": format!("type-prefix-{i}")}]}),
        85..95 => json!({"source": [{"anything-but": ["app.0"]}],
                         "detail": {"status": [format!("s{i}")]}}),
        _ => json!({"$or": [{"source": [format!("x{i}")]}, {"detail-type": [format!("y{i}")]}]}),
    }
}

/// Entry `k` of the event stream (about two matching rules each).
fn entry(bus: &str, k: usize) -> Value {
    json!({
        "EventBusName": bus, "Source": format!("app.{}", k % 20),
        "DetailType": format!("type{}", k % 100),
        "Detail": json!({"amount": k % 100, "status": format!("s{}", k % 100)}).to_string(),
    })
}

/// PutEvents/s (and deliveries/s) from `clients` writers of 10 entries.
async fn put_events_rate(ep: &Arc<Endpoint>, args: &Args, bus: &str) -> Result<(f64, f64)> {
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for client in 0..args.clients {
        let (ep, bus) = (ep.clone(), bus.to_string());
        tasks.push(tokio::spawn(async move {
            let mut c = Conn::connect(ep, "events").await?;
            let mut n = 0usize;
            let mut k = client * 7919;
            while Instant::now() < deadline {
                let entries: Vec<Value> = (0..10).map(|i| entry(&bus, k + i)).collect();
                k += 10;
                let r = c
                    .json("AWSEvents", "PutEvents", &json!({ "Entries": entries }))
                    .await?;
                n += 10 - r["FailedEntryCount"].as_u64().unwrap_or(0) as usize;
            }
            anyhow::Ok(n)
        }));
    }
    let mut put = 0;
    for t in tasks {
        put += t.await??;
    }
    let secs = started.elapsed().as_secs_f64();
    Ok((put as f64 / secs, secs))
}

/// Milliseconds from PutEvents' answer to a waiting receiver's message.
async fn delivery_latency(ep: &Arc<Endpoint>, args: &Args, sqs: &mut Conn) -> Result<Vec<f64>> {
    let mut ev = Conn::connect(ep.clone(), "events").await?;
    let (url, arn) = open_queue(sqs, &format!("bench-latency-{}", short_id())).await?;
    let rule = format!("bench-latency-{}", short_id());
    ev.json(
        "AWSEvents",
        "PutRule",
        &json!({ "Name": rule, "EventPattern": json!({"source": ["bench.latency"]}).to_string() }),
    )
    .await?;
    ev.json(
        "AWSEvents",
        "PutTargets",
        &json!({ "Rule": rule, "Targets": [{"Id": "q", "Arn": arn}] }),
    )
    .await?;
    let mut receiver = Conn::connect(ep.clone(), "sqs").await?;
    let mut lat = Vec::new();
    for _ in 0..args.samples {
        let u = url.clone();
        let poll = tokio::spawn(async move {
            let r = receiver
                .json(
                    "AmazonSQS",
                    "ReceiveMessage",
                    &json!({ "QueueUrl": u, "WaitTimeSeconds": 5 }),
                )
                .await;
            (receiver, r, Instant::now())
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        ev.json(
            "AWSEvents",
            "PutEvents",
            &json!({ "Entries": [{"Source": "bench.latency", "DetailType": "t", "Detail": "{}"}] }),
        )
        .await?;
        let acked = Instant::now();
        let (back, r, got) = poll.await?;
        receiver = back;
        if let Some(h) = r?["Messages"][0]["ReceiptHandle"].as_str() {
            sqs.json(
                "AmazonSQS",
                "DeleteMessage",
                &json!({ "QueueUrl": url, "ReceiptHandle": h }),
            )
            .await?;
            lat.push(got.saturating_duration_since(acked).as_secs_f64() * 1000.0);
        }
    }
    ev.json(
        "AWSEvents",
        "RemoveTargets",
        &json!({ "Rule": rule, "Ids": ["q"] }),
    )
    .await?;
    ev.json("AWSEvents", "DeleteRule", &json!({ "Name": rule }))
        .await?;
    sqs.json("AmazonSQS", "DeleteQueue", &json!({ "QueueUrl": url }))
        .await?;
    Ok(lat)
}

/// A query-protocol SNS call; the answer's text.
async fn sns(c: &mut Conn, form: &[(&str, &str)]) -> Result<String> {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    let body: Vec<String> = form
        .iter()
        .chain(&[("Version", "2010-03-31")])
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect();
    let r = c
        .send(
            "POST",
            "/",
            &[("content-type", "application/x-www-form-urlencoded")],
            bytes::Bytes::from(body.join("&")),
            None,
            client::Keep::Body,
        )
        .await?;
    let text = String::from_utf8_lossy(&r.body).into_owned();
    if !r.status.is_success() {
        anyhow::bail!("SNS {}: {} {text}", form[0].1, r.status);
    }
    Ok(text)
}

/// The text of `<tag>` in an XML answer.
fn xml_value(text: &str, tag: &str) -> Option<String> {
    let start = text.find(&format!("<{tag}>"))? + tag.len() + 2;
    let end = text[start..].find(&format!("</{tag}>"))? + start;
    Some(text[start..end].to_string())
}

/// Publishes/s to a topic with `subscribers` raw queue subscriptions, one
/// message per call and ten per `PublishBatch`.
async fn publish_rates(ep: &Arc<Endpoint>, args: &Args, sqs: &mut Conn) -> Result<(f64, f64)> {
    let mut c = Conn::connect(ep.clone(), "sns").await?;
    let topic = xml_value(
        &sns(
            &mut c,
            &[
                ("Action", "CreateTopic"),
                ("Name", &format!("bench-{}", short_id())),
            ],
        )
        .await?,
        "TopicArn",
    )
    .context("CreateTopic without TopicArn")?;
    let mut urls = Vec::new();
    for i in 0..args.subscribers {
        let (url, arn) = open_queue(sqs, &format!("bench-sub-{i}-{}", short_id())).await?;
        sns(
            &mut c,
            &[
                ("Action", "Subscribe"),
                ("TopicArn", &topic),
                ("Protocol", "sqs"),
                ("Endpoint", &arn),
                ("Attributes.entry.1.key", "RawMessageDelivery"),
                ("Attributes.entry.1.value", "true"),
            ],
        )
        .await?;
        urls.push(url);
    }
    let mut rates = Vec::new();
    for batch in [false, true] {
        let deadline = Instant::now() + Duration::from_secs(args.seconds);
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..args.clients {
            let (ep, topic) = (ep.clone(), topic.clone());
            tasks.push(tokio::spawn(async move {
                let mut c = Conn::connect(ep, "sns").await?;
                let mut n = 0usize;
                let body = "x".repeat(100);
                while Instant::now() < deadline {
                    if batch {
                        let mut form = vec![
                            ("Action".to_string(), "PublishBatch".to_string()),
                            ("TopicArn".to_string(), topic.clone()),
                        ];
                        for i in 1..=10 {
                            let p = format!("PublishBatchRequestEntries.member.{i}");
                            form.push((format!("{p}.Id"), format!("m{i}")));
                            form.push((format!("{p}.Message"), body.clone()));
                        }
                        let form: Vec<(&str, &str)> =
                            form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                        sns(&mut c, &form).await?;
                        n += 10;
                    } else {
                        sns(
                            &mut c,
                            &[
                                ("Action", "Publish"),
                                ("TopicArn", &topic),
                                ("Message", &body),
                            ],
                        )
                        .await?;
                        n += 1;
                    }
                }
                anyhow::Ok(n)
            }));
        }
        let mut published = 0;
        for t in tasks {
            published += t.await??;
        }
        rates.push(published as f64 / started.elapsed().as_secs_f64());
        for url in &urls {
            sqs.json("AmazonSQS", "PurgeQueue", &json!({ "QueueUrl": url }))
                .await?;
        }
    }
    for url in &urls {
        sqs.json("AmazonSQS", "DeleteQueue", &json!({ "QueueUrl": url }))
            .await?;
    }
    sns(&mut c, &[("Action", "DeleteTopic"), ("TopicArn", &topic)]).await?;
    Ok((rates[0], rates[1]))
}

async fn measure(ep: Arc<Endpoint>, args: &Args) -> Result<()> {
    let mut ev = Conn::connect(ep.clone(), "events").await?;
    let mut sqs = Conn::connect(ep.clone(), "sqs").await?;
    let bus = format!("bench-{}", short_id());
    ev.json("AWSEvents", "CreateEventBus", &json!({ "Name": bus }))
        .await?;
    let (url, arn) = open_queue(&mut sqs, &format!("bench-events-{}", short_id())).await?;
    for i in 0..args.rules {
        let name = format!("r{i}");
        ev.json(
            "AWSEvents",
            "PutRule",
            &json!({ "Name": name, "EventBusName": bus, "EventPattern": pattern(i, args.rules).to_string() }),
        )
        .await?;
        ev.json(
            "AWSEvents",
            "PutTargets",
            &json!({ "Rule": name, "EventBusName": bus, "Targets": [{"Id": "q", "Arn": arn}] }),
        )
        .await?;
    }
    let (rate, secs) = put_events_rate(&ep, args, &bus).await?;
    let delivered = sqs
        .json(
            "AmazonSQS",
            "GetQueueAttributes",
            &json!({ "QueueUrl": url, "AttributeNames": ["ApproximateNumberOfMessages"] }),
        )
        .await?["Attributes"]["ApproximateNumberOfMessages"]
        .as_str()
        .and_then(|n| n.parse::<f64>().ok())
        .unwrap_or(0.0);
    println!(
        "PutEvents into a bus with {} rules: {rate:.0} events/s ({:.0} target deliveries/s, {:.1} per event)",
        args.rules,
        delivered / secs,
        delivered / (rate * secs).max(1.0)
    );
    for i in 0..args.rules {
        let name = format!("r{i}");
        ev.json(
            "AWSEvents",
            "RemoveTargets",
            &json!({ "Rule": name, "EventBusName": bus, "Ids": ["q"] }),
        )
        .await?;
        ev.json(
            "AWSEvents",
            "DeleteRule",
            &json!({ "Name": name, "EventBusName": bus }),
        )
        .await?;
    }
    ev.json("AWSEvents", "DeleteEventBus", &json!({ "Name": bus }))
        .await?;
    sqs.json("AmazonSQS", "DeleteQueue", &json!({ "QueueUrl": url }))
        .await?;

    let mut lat = delivery_latency(&ep, args, &mut sqs).await?;
    println!(
        "event to target (PutEvents acknowledged -> waiting receiver has it): p50 {:.2} ms, p99 {:.2} ms ({} samples)",
        percentile(&mut lat, 0.5),
        percentile(&mut lat, 0.99),
        lat.len()
    );

    let (one, batch) = publish_rates(&ep, args, &mut sqs).await?;
    println!(
        "SNS to {} queue subscribers: Publish {one:.0} messages/s ({:.0} deliveries/s); PublishBatch of 10 {batch:.0} messages/s ({:.0} deliveries/s)",
        args.subscribers,
        one * args.subscribers as f64,
        batch * args.subscribers as f64
    );
    Ok(())
}

pub fn run(args: Args) -> Result<()> {
    let ep = Arc::new(client::nimbus(&args.data_dir)?);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        println!(
            "nimbus bench events: {} clients x {} s per run, {} rules, {} subscribers",
            args.clients, args.seconds, args.rules, args.subscribers
        );
        measure(ep, &args).await
    })
}
