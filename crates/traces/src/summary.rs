//! What X-Ray says about whole traces: the facts filter expressions test
//! ([`Facts`]), `GetTraceSummaries`' summaries and the service graph of
//! `GetServiceGraph` / `GetTraceGraph` (a node per service, segments'
//! `name` and `origin`, with nodes inferred from subsegments that call AWS
//! services or remote hosts, and an edge for every call between them).

use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// A service as X-Ray names it: its name and type (the segment's `origin`).
pub type ServiceKey = (String, Option<String>);

fn f(v: &Value, k: &str) -> Option<f64> {
    v.get(k).and_then(Value::as_f64)
}

fn flag(v: &Value, k: &str) -> bool {
    v.get(k).and_then(Value::as_bool) == Some(true)
}

fn service_of(seg: &Value) -> ServiceKey {
    (
        seg.get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        seg.get("origin")
            .and_then(Value::as_str)
            .map(str::to_string),
    )
}

/// Every (sub)segment inside `doc`, `doc` first.
fn walk<'a>(doc: &'a Value, out: &mut Vec<&'a Value>) {
    out.push(doc);
    if let Some(Value::Array(subs)) = doc.get("subsegments") {
        for s in subs {
            walk(s, out);
        }
    }
}

/// The segment a trace started with: the earliest one whose parent is not in the trace.
pub fn root_segment(docs: &[Value]) -> Option<&Value> {
    let mut ids = Vec::new();
    for d in docs {
        walk(d, &mut ids);
    }
    let known: std::collections::HashSet<&str> = ids
        .iter()
        .filter_map(|s| s.get("id").and_then(Value::as_str))
        .collect();
    docs.iter()
        .filter(|d| d.get("type").and_then(Value::as_str) != Some("subsegment"))
        .filter(|d| {
            d.get("parent_id")
                .and_then(Value::as_str)
                .is_none_or(|p| !known.contains(p))
        })
        .min_by(|a, b| {
            f(a, "start_time")
                .unwrap_or(f64::MAX)
                .total_cmp(&f(b, "start_time").unwrap_or(f64::MAX))
        })
}

/// What a filter expression can ask of a trace (or of one service's part of it).
#[derive(Debug, Default, Clone)]
pub struct Facts {
    pub services: Vec<ServiceKey>,
    pub start: f64,
    pub duration: f64,
    pub response_time: f64,
    pub error: bool,
    pub fault: bool,
    pub throttle: bool,
    pub partial: bool,
    pub http: BTreeMap<&'static str, Value>,
    pub users: Vec<String>,
    pub annotations: BTreeMap<String, Vec<Value>>,
    pub resource_arns: Vec<String>,
}

impl Facts {
    /// Facts of the segments `docs` (with their subsegments inside).
    pub fn of(docs: &[Value]) -> Facts {
        let mut facts = Facts::default();
        let mut all = Vec::new();
        for d in docs {
            walk(d, &mut all);
            let s = service_of(d);
            if !facts.services.contains(&s) {
                facts.services.push(s);
            }
            if let Some(u) = d.get("user").and_then(Value::as_str)
                && !facts.users.iter().any(|x| x == u)
            {
                facts.users.push(u.to_string());
            }
            if let Some(a) = d.get("resource_arn").and_then(Value::as_str)
                && !facts.resource_arns.iter().any(|x| x == a)
            {
                facts.resource_arns.push(a.to_string());
            }
        }
        let start = all
            .iter()
            .filter_map(|s| f(s, "start_time"))
            .fold(f64::INFINITY, f64::min);
        let end = all
            .iter()
            .filter_map(|s| f(s, "end_time"))
            .fold(f64::NEG_INFINITY, f64::max);
        facts.start = if start.is_finite() { start } else { 0.0 };
        facts.duration = if end.is_finite() && start.is_finite() {
            (end - start).max(0.0)
        } else {
            0.0
        };
        for s in &all {
            facts.error |= flag(s, "error");
            facts.fault |= flag(s, "fault");
            facts.throttle |= flag(s, "throttle");
            facts.partial |= flag(s, "in_progress");
            if let Some(Value::Object(a)) = s.get("annotations") {
                for (k, v) in a {
                    let vals = facts.annotations.entry(k.clone()).or_default();
                    if !vals.contains(v) {
                        vals.push(v.clone());
                    }
                }
            }
        }
        if let Some(root) = root_segment(docs) {
            facts.response_time = match (f(root, "start_time"), f(root, "end_time")) {
                (Some(a), Some(b)) => (b - a).max(0.0),
                _ => 0.0,
            };
            let req = root.pointer("/http/request");
            let text = |k: &str| req.and_then(|r| r.get(k)).cloned();
            for (name, v) in [
                ("url", text("url")),
                ("method", text("method")),
                ("useragent", text("user_agent")),
                ("clientip", text("client_ip")),
                ("status", root.pointer("/http/response/status").cloned()),
            ] {
                if let Some(v) = v {
                    facts.http.insert(name, v);
                }
            }
        }
        facts
    }

    pub fn ok(&self) -> bool {
        !(self.error || self.fault || self.throttle)
    }
}

fn service_id(s: &ServiceKey, account: &str) -> Value {
    let mut v = json!({"Name": s.0, "Names": [s.0], "AccountId": account});
    if let Some(t) = &s.1 {
        v["Type"] = json!(t);
    }
    v
}

/// A trace's summary as `GetTraceSummaries` returns it.
pub fn summary(id: &str, docs: &[Value], account: &str) -> Value {
    let facts = Facts::of(docs);
    let ids: Vec<Value> = facts
        .services
        .iter()
        .map(|s| service_id(s, account))
        .collect();
    let mut annotations = Map::new();
    for (k, vals) in &facts.annotations {
        let list: Vec<Value> = vals
            .iter()
            .map(|v| {
                let av = match v {
                    Value::Bool(b) => json!({"BooleanValue": b}),
                    Value::Number(n) => json!({"NumberValue": n}),
                    other => json!({"StringValue": other.as_str().map_or_else(|| other.to_string(), str::to_string)}),
                };
                json!({"AnnotationValue": av, "ServiceIds": ids})
            })
            .collect();
        annotations.insert(k.clone(), Value::Array(list));
    }
    let http: Map<String, Value> = [
        ("url", "HttpURL"),
        ("status", "HttpStatus"),
        ("method", "HttpMethod"),
        ("useragent", "UserAgent"),
        ("clientip", "ClientIp"),
    ]
    .iter()
    .filter_map(|(k, wire)| facts.http.get(k).map(|v| (wire.to_string(), v.clone())))
    .collect();
    let mut s = json!({
        "Id": id,
        "StartTime": facts.start,
        "Duration": facts.duration,
        "ResponseTime": facts.response_time,
        "HasFault": facts.fault,
        "HasError": facts.error,
        "HasThrottle": facts.throttle,
        "IsPartial": facts.partial,
        "Http": http,
        "Annotations": annotations,
        "Users": facts.users.iter().map(|u| json!({"UserName": u, "ServiceIds": ids})).collect::<Vec<_>>(),
        "ServiceIds": ids,
        "ResourceARNs": facts.resource_arns.iter().map(|a| json!({"ARN": a})).collect::<Vec<_>>(),
        "InstanceIds": [],
        "AvailabilityZones": [],
        "FaultRootCauses": [],
        "ErrorRootCauses": [],
        "ResponseTimeRootCauses": [],
        "Revision": 1,
    });
    if let Some(root) = root_segment(docs) {
        s["EntryPoint"] = service_id(&service_of(root), account);
    }
    s
}

#[derive(Default)]
struct Stats {
    total: u64,
    ok: u64,
    error: u64,
    throttle: u64,
    fault: u64,
    response_time: f64,
    start: f64,
    end: f64,
}

impl Stats {
    fn add(&mut self, seg: &Value) {
        let (a, b) = (
            f(seg, "start_time").unwrap_or(0.0),
            f(seg, "end_time").unwrap_or(0.0),
        );
        if self.total == 0 || a < self.start {
            self.start = a;
        }
        self.end = self.end.max(b);
        self.total += 1;
        self.response_time += (b - a).max(0.0);
        if flag(seg, "fault") {
            self.fault += 1;
        } else if flag(seg, "throttle") {
            self.throttle += 1;
        } else if flag(seg, "error") {
            self.error += 1;
        } else {
            self.ok += 1;
        }
    }

    fn json(&self) -> Value {
        json!({
            "OkCount": self.ok,
            "ErrorStatistics": {"ThrottleCount": self.throttle, "OtherCount": self.error, "TotalCount": self.throttle + self.error},
            "FaultStatistics": {"OtherCount": self.fault, "TotalCount": self.fault},
            "TotalCount": self.total,
            "TotalResponseTime": self.response_time,
        })
    }
}

/// The service name X-Ray shows for an AWS call's subsegment (the SDKs name
/// them by endpoint prefix, `dynamodb`, or by service id, `DynamoDB`).
fn aws_service_name(sdk_name: &str) -> &str {
    const NAMES: [(&str, &str); 12] = [
        ("dynamodb", "DynamoDB"),
        ("s3", "S3"),
        ("sqs", "SQS"),
        ("sns", "SNS"),
        ("lambda", "Lambda"),
        ("states", "StepFunctions"),
        ("sfn", "StepFunctions"),
        ("events", "EventBridge"),
        ("kms", "KMS"),
        ("secretsmanager", "SecretsManager"),
        ("ssm", "SSM"),
        ("logs", "CloudWatchLogs"),
    ];
    let lower = sdk_name.to_ascii_lowercase();
    NAMES
        .iter()
        .find(|(k, _)| *k == lower)
        .map_or(sdk_name, |(_, v)| v)
}

/// The service graph of `traces` (each a trace's assembled documents).
pub fn service_graph(traces: &[Vec<Value>], account: &str) -> Vec<Value> {
    let mut nodes: Vec<ServiceKey> = Vec::new();
    let mut stats: BTreeMap<usize, Stats> = BTreeMap::new();
    let mut roots: std::collections::BTreeSet<usize> = Default::default();
    let mut edges: BTreeMap<(usize, usize), Stats> = BTreeMap::new();
    let node = |k: ServiceKey, nodes: &mut Vec<ServiceKey>| match nodes.iter().position(|n| *n == k)
    {
        Some(i) => i,
        None => {
            nodes.push(k);
            nodes.len() - 1
        }
    };
    for docs in traces {
        // Which node each (sub)segment id belongs to, for parents in other segments.
        let mut owner: BTreeMap<String, usize> = BTreeMap::new();
        let mut idx = Vec::new();
        for d in docs {
            let n = node(service_of(d), &mut nodes);
            idx.push(n);
            let mut all = Vec::new();
            walk(d, &mut all);
            for s in all {
                if let Some(id) = s.get("id").and_then(Value::as_str) {
                    owner.insert(id.to_string(), n);
                }
            }
        }
        let called: std::collections::HashSet<&str> = docs
            .iter()
            .filter_map(|d| d.get("parent_id").and_then(Value::as_str))
            .collect();
        for (d, &n) in docs.iter().zip(&idx) {
            stats.entry(n).or_default().add(d);
            match d
                .get("parent_id")
                .and_then(Value::as_str)
                .and_then(|p| owner.get(p))
            {
                Some(&from) if from != n => edges.entry((from, n)).or_default().add(d),
                Some(_) => {}
                None => {
                    roots.insert(n);
                }
            }
            // Calls to AWS services and remote hosts that sent no segment of
            // their own become inferred nodes.
            let mut all = Vec::new();
            walk(d, &mut all);
            for s in all.into_iter().skip(1) {
                let ns = s.get("namespace").and_then(Value::as_str);
                let sid = s.get("id").and_then(Value::as_str).unwrap_or_default();
                if !matches!(ns, Some("aws" | "remote")) || called.contains(sid) {
                    continue;
                }
                let name = s.get("name").and_then(Value::as_str).unwrap_or_default();
                let (name, ty) = if ns == Some("aws") {
                    let canonical = aws_service_name(name);
                    (canonical.to_string(), format!("AWS::{canonical}"))
                } else {
                    (name.to_string(), "remote".into())
                };
                let to = node((name, Some(ty)), &mut nodes);
                stats.entry(to).or_default().add(s);
                edges.entry((n, to)).or_default().add(s);
            }
        }
    }
    nodes
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let st = stats.remove(&i).unwrap_or_default();
            let out: Vec<Value> = edges
                .iter()
                .filter(|((from, _), _)| *from == i)
                .map(|((_, to), e)| {
                    json!({"ReferenceId": to, "StartTime": e.start, "EndTime": e.end,
                           "SummaryStatistics": e.json(), "ResponseTimeHistogram": [], "Aliases": []})
                })
                .collect();
            let mut v = json!({
                "ReferenceId": i,
                "Name": k.0,
                "Names": [k.0],
                "Root": roots.contains(&i),
                "AccountId": account,
                "State": "active",
                "StartTime": st.start,
                "EndTime": st.end,
                "Edges": out,
                "SummaryStatistics": st.json(),
                "DurationHistogram": [],
                "ResponseTimeHistogram": [],
            });
            if let Some(t) = &k.1 {
                v["Type"] = json!(t);
            }
            v
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lambda_trace_makes_a_graph_from_service_to_function_to_dynamodb() {
        let service = json!({"id": "aaaaaaaaaaaaaaaa", "name": "orders", "origin": "AWS::Lambda", "start_time": 10.0, "end_time": 10.5});
        let function = json!({"id": "bbbbbbbbbbbbbbbb", "parent_id": "aaaaaaaaaaaaaaaa", "name": "orders",
            "origin": "AWS::Lambda::Function", "start_time": 10.01, "end_time": 10.4, "fault": true,
            "subsegments": [{"id": "cccccccccccccccc", "name": "DynamoDB", "namespace": "aws", "start_time": 10.1, "end_time": 10.2,
                             "annotations": {"order": 7}}]});
        let docs = vec![service, function];
        let g = service_graph(std::slice::from_ref(&docs), "000000000000");
        assert_eq!(g.len(), 3);
        assert_eq!(g[0]["Root"], true);
        assert_eq!(g[0]["Edges"][0]["ReferenceId"], 1);
        assert_eq!(g[1]["Type"], "AWS::Lambda::Function");
        assert_eq!(
            g[1]["SummaryStatistics"]["FaultStatistics"]["TotalCount"],
            1
        );
        assert_eq!(g[2]["Type"], "AWS::DynamoDB");
        let s = summary("1-x", &docs, "000000000000");
        assert_eq!(s["HasFault"], true);
        assert_eq!(s["EntryPoint"]["Type"], "AWS::Lambda");
        assert!((s["Duration"].as_f64().unwrap() - 0.5).abs() < 1e-9);
        assert_eq!(
            s["Annotations"]["order"][0]["AnnotationValue"]["NumberValue"],
            7
        );
    }
}
