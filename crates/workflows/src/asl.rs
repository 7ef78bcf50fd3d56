//! State machine definitions: parsed and checked once, at `CreateStateMachine`,
//! with Step Functions' validation codes (`SCHEMA_VALIDATION_FAILED`,
//! `MISSING_TRANSITION_TARGET`, ...) and the JSON pointer of the offending field.

use crate::intrinsics;
use crate::path::Path;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A state machine, or a `Parallel` branch, or a `Map` state's item processor.
#[derive(Debug, Clone)]
pub struct Machine {
    pub start_at: String,
    pub states: BTreeMap<String, State>,
    pub timeout_seconds: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct State {
    pub name: String,
    /// `QueryLanguage: JSONata` (the state's own or its machine's).
    pub jsonata: bool,
    pub kind: Kind,
    /// `None` for `End: true` and the terminal types.
    pub next: Option<String>,
    pub input_path: Option<Path>,
    pub output_path: Option<Path>,
    /// `Parameters` (Task, Pass, Parallel, Map's legacy form).
    pub parameters: Option<Template>,
    pub result_selector: Option<Template>,
    /// `None` means `"ResultPath": null` (discard the result).
    pub result_path: Option<Path>,
    pub retry: Vec<Retrier>,
    pub catch: Vec<Catcher>,
    /// JSONata: `Arguments` (Task, Parallel).
    pub arguments: Option<JTemplate>,
    /// JSONata: `Output`.
    pub output: Option<JTemplate>,
    /// `Assign`: workflow variables set when the state ends.
    pub assign: Option<Assign>,
}

/// A JSONata template: a JSON value whose `"{% ... %}"` strings are expressions.
#[derive(Debug, Clone)]
pub enum JTemplate {
    Expr(crate::jsonata::Expr),
    Object(Vec<(String, JTemplate)>),
    Array(Vec<JTemplate>),
    Literal(Value),
}

/// `Assign` in either query language.
#[derive(Debug, Clone)]
pub enum Assign {
    Path(Template),
    Jsonata(JTemplate),
}

/// One of a Choice state's rules, where it leads, and what it assigns.
#[derive(Debug, Clone)]
pub struct Choice {
    pub rule: Rule,
    pub next: String,
    pub assign: Option<Assign>,
    pub output: Option<JTemplate>,
}

#[derive(Debug, Clone)]
pub enum Kind {
    Pass {
        result: Option<Value>,
    },
    Task {
        resource: String,
        timeout: Option<Seconds>,
        heartbeat: Option<Seconds>,
    },
    Choice {
        choices: Vec<Choice>,
        default: Option<String>,
    },
    Wait(WaitFor),
    Succeed,
    Fail {
        error: Option<String>,
        cause: Option<String>,
        /// A path, or an intrinsic function (`States.Format(...)`).
        error_path: Option<Template>,
        cause_path: Option<Template>,
        /// JSONata: `Error` and `Cause` as expressions.
        error_expr: Option<JTemplate>,
        cause_expr: Option<JTemplate>,
    },
    Parallel {
        branches: Vec<Arc<Machine>>,
    },
    Map {
        processor: Arc<Machine>,
        items_path: Option<Path>,
        item_selector: Option<Template>,
        /// JSONata: `Items` and `ItemSelector`.
        items: Option<JTemplate>,
        item_selector_expr: Option<JTemplate>,
        max_concurrency: usize,
        max_concurrency_path: Option<Path>,
        tolerated_percentage: Option<f64>,
        tolerated_count: Option<u64>,
        /// `ProcessorConfig.Mode: DISTRIBUTED`: items read from S3, run in
        /// batches as child executions, results written to S3.
        distributed: Option<Arc<Distributed>>,
    },
}

/// A distributed Map's item reader, batcher and result writer.
#[derive(Debug, Clone, Default)]
pub struct Distributed {
    /// `STANDARD` or `EXPRESS`: how its child executions run.
    pub execution_type: String,
    pub reader: Option<ItemReader>,
    pub batcher: Option<ItemBatcher>,
    pub writer: Option<ResultWriter>,
    /// `Label`: names the Map Run.
    pub label: Option<String>,
}

/// `ItemReader`: `s3:getObject` (a JSON array, JSON Lines or CSV file) or
/// `s3:listObjectsV2` (a bucket's objects).
#[derive(Debug, Clone)]
pub struct ItemReader {
    /// `getObject` or `listObjectsV2`.
    pub action: String,
    /// `JSON`, `JSONL` or `CSV` (for `getObject`).
    pub input_type: Option<String>,
    /// `CSVHeaderLocation: GIVEN`: the headers; else the file's first row.
    pub csv_headers: Option<Vec<String>>,
    pub csv_delimiter: u8,
    pub max_items: Option<u64>,
    pub max_items_path: Option<Path>,
    pub parameters: Option<Template>,
    pub arguments: Option<JTemplate>,
}

/// `ItemBatcher`: items given to each child execution together.
#[derive(Debug, Clone)]
pub struct ItemBatcher {
    pub max_items: Option<u64>,
    pub max_items_path: Option<Path>,
    pub max_bytes: Option<u64>,
    pub batch_input: Option<Template>,
    pub batch_input_expr: Option<JTemplate>,
}

/// `ResultWriter`: `s3:putObject` of the Map Run's results under a prefix.
#[derive(Debug, Clone)]
pub struct ResultWriter {
    pub parameters: Option<Template>,
    pub arguments: Option<JTemplate>,
}

#[derive(Debug, Clone)]
pub enum Seconds {
    Fixed(u64),
    Path(Path),
    Expr(JTemplate),
}

#[derive(Debug, Clone)]
pub enum WaitFor {
    Seconds(u64),
    Timestamp(String),
    SecondsPath(Path),
    TimestampPath(Path),
    /// JSONata: `Seconds` or `Timestamp` as an expression.
    Expr {
        seconds: bool,
        expr: JTemplate,
    },
}

#[derive(Debug, Clone)]
pub struct Retrier {
    pub errors: Vec<String>,
    pub interval_seconds: f64,
    pub max_attempts: u32,
    pub backoff_rate: f64,
    pub max_delay_seconds: Option<f64>,
    pub full_jitter: bool,
}

#[derive(Debug, Clone)]
pub struct Catcher {
    pub errors: Vec<String>,
    pub next: String,
    pub result_path: Option<Path>,
    pub output: Option<JTemplate>,
    pub assign: Option<Assign>,
}

/// A payload template: `Parameters`, `ResultSelector`, `ItemSelector`.
#[derive(Debug, Clone)]
pub enum Template {
    Object(Vec<(String, Template)>),
    Array(Vec<Template>),
    Literal(Value),
    Path(Path),
    Call(intrinsics::Call),
}

/// A choice rule.
#[derive(Debug, Clone)]
pub enum Rule {
    /// JSONata: `Condition`.
    Condition(JTemplate),
    And(Vec<Rule>),
    Or(Vec<Rule>),
    Not(Box<Rule>),
    Compare {
        variable: Path,
        op: String,
        /// The literal to compare with, or the path (`...Path` operators).
        against: Against,
    },
}

#[derive(Debug, Clone)]
pub enum Against {
    Value(Value),
    Path(Path),
}

const COMPARATORS: &[&str] = &[
    "StringEquals",
    "StringLessThan",
    "StringGreaterThan",
    "StringLessThanEquals",
    "StringGreaterThanEquals",
    "StringMatches",
    "NumericEquals",
    "NumericLessThan",
    "NumericGreaterThan",
    "NumericLessThanEquals",
    "NumericGreaterThanEquals",
    "BooleanEquals",
    "TimestampEquals",
    "TimestampLessThan",
    "TimestampGreaterThan",
    "TimestampLessThanEquals",
    "TimestampGreaterThanEquals",
    "IsNull",
    "IsPresent",
    "IsNumeric",
    "IsString",
    "IsBoolean",
    "IsTimestamp",
];

/// A definition that is not valid: Step Functions' message, as
/// `InvalidDefinition` carries it.
#[derive(Debug, Clone, PartialEq)]
pub struct Invalid(pub Vec<String>);

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.0.len();
        if n == 1 {
            write!(f, "Invalid State Machine Definition: '{}'", self.0[0])
        } else {
            write!(
                f,
                "Invalid State Machine Definition: '{}'",
                self.0.join(", ")
            )
        }
    }
}

struct Checker {
    problems: Vec<String>,
}

impl Checker {
    fn schema(&mut self, msg: impl std::fmt::Display, at: &str) {
        self.problems
            .push(format!("SCHEMA_VALIDATION_FAILED: {msg} at {at}"));
    }
    fn code(&mut self, code: &str, msg: impl std::fmt::Display, at: &str) {
        self.problems.push(format!("{code}: {msg} at {at}"));
    }
}

/// Parse and check a definition document.
pub fn parse(definition: &str) -> Result<Machine, Invalid> {
    let doc: Value = serde_json::from_str(definition).map_err(|e| {
        Invalid(vec![format!(
            "INVALID_JSON_DESCRIPTION: Unexpected input at line {} column {}: {e}",
            e.line(),
            e.column()
        )])
    })?;
    let mut c = Checker {
        problems: Vec::new(),
    };
    let jsonata = match doc.get("QueryLanguage") {
        None => false,
        Some(Value::String(q)) if q == "JSONPath" => false,
        Some(Value::String(q)) if q == "JSONata" => true,
        Some(other) => {
            c.schema(
                format!("The value for the field 'QueryLanguage' must be JSONPath or JSONata, not {other}"),
                "/QueryLanguage",
            );
            false
        }
    };
    let m = machine(&doc, "", &mut c, jsonata);
    if c.problems.is_empty()
        && let Some(m) = m
    {
        return Ok(m);
    }
    Err(Invalid(c.problems))
}

fn machine(doc: &Value, at: &str, c: &mut Checker, jsonata: bool) -> Option<Machine> {
    let Some(obj) = doc.as_object() else {
        c.schema("Expected an object", if at.is_empty() { "/" } else { at });
        return None;
    };
    let start_at = match obj.get("StartAt") {
        Some(Value::String(s)) => s.clone(),
        _ => {
            c.schema(
                "The field \"StartAt\" is required",
                if at.is_empty() { "/" } else { at },
            );
            String::new()
        }
    };
    let Some(states_doc) = obj.get("States").and_then(Value::as_object) else {
        c.schema(
            "The field \"States\" is required",
            if at.is_empty() { "/" } else { at },
        );
        return None;
    };
    let timeout_seconds = obj.get("TimeoutSeconds").and_then(Value::as_u64);
    let mut states = BTreeMap::new();
    for (name, sdoc) in states_doc {
        let sat = format!("{at}/States/{name}");
        if name.len() > 80 {
            c.schema("State names must be 80 characters or fewer", &sat);
        }
        if let Some(s) = state(name, sdoc, &sat, c, jsonata) {
            states.insert(name.clone(), s);
        }
    }
    if !start_at.is_empty() && !states_doc.contains_key(&start_at) {
        c.code(
            "MISSING_TRANSITION_TARGET",
            format!("Missing 'Next' target: {start_at}"),
            &format!("{at}/StartAt"),
        );
    }
    // Every transition names a state of this machine; something must end it;
    // every state but the first is the target of another.
    let mut terminal = false;
    for s in states.values() {
        let sat = format!("{at}/States/{}", s.name);
        let mut targets: Vec<(&str, String)> = Vec::new();
        if let Some(n) = &s.next {
            targets.push((n, format!("{sat}/Next")));
        }
        for (i, k) in s.catch.iter().enumerate() {
            targets.push((&k.next, format!("{sat}/Catch[{i}]/Next")));
        }
        if let Kind::Choice { choices, default } = &s.kind {
            for (i, choice) in choices.iter().enumerate() {
                targets.push((&choice.next, format!("{sat}/Choices[{i}]/Next")));
            }
            if let Some(d) = default {
                targets.push((d, format!("{sat}/Default")));
            }
        }
        for (t, tat) in targets {
            if !states.contains_key(t) {
                c.code(
                    "MISSING_TRANSITION_TARGET",
                    format!("Missing 'Next' target: {t}"),
                    &tat,
                );
            }
        }
        if s.next.is_none() && !matches!(s.kind, Kind::Choice { .. }) {
            terminal = true;
        }
    }
    if !states.is_empty() && !terminal {
        c.code(
            "NO_TERMINAL_STATE",
            "State machine has no terminal state.",
            if at.is_empty() { "/" } else { at },
        );
    } else {
        // (Without a terminal state, Step Functions reports only that.) What
        // leads where is read from the document, so a state with an error of
        // its own still counts for the states it names.
        let mut targeted: std::collections::HashSet<&str> = std::collections::HashSet::new();
        targeted.insert(start_at.as_str());
        for (name, doc) in states_doc {
            fn next(v: &Value) -> Option<&str> {
                v.get("Next").and_then(Value::as_str)
            }
            let mut names: Vec<&str> = Vec::new();
            names.extend(next(doc));
            names.extend(doc.get("Default").and_then(Value::as_str));
            for list in ["Choices", "Catch"] {
                if let Some(items) = doc.get(list).and_then(Value::as_array) {
                    names.extend(items.iter().filter_map(next));
                }
            }
            targeted.extend(names.into_iter().filter(|t| t != name));
        }
        for name in states_doc.keys() {
            if !targeted.contains(name.as_str()) {
                c.code(
                    "MISSING_TRANSITION_TARGET",
                    format!("State \"{name}\" is not reachable."),
                    &format!("{at}/States/{name}"),
                );
            }
        }
    }
    Some(Machine {
        start_at,
        states,
        timeout_seconds,
    })
}

fn opt_path(
    obj: &Map<String, Value>,
    field: &str,
    at: &str,
    c: &mut Checker,
    reference: bool,
) -> Result<Option<Path>, ()> {
    match obj.get(field) {
        None => Ok(Some(Path::parse("$").expect("$ parses"))),
        Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => match Path::parse(s) {
            Ok(p) if reference && !p.is_reference() => {
                c.schema(
                    format!("The value for the field '{field}' must be a valid ReferencePath"),
                    &format!("{at}/{field}"),
                );
                Err(())
            }
            Ok(p) => Ok(Some(p)),
            Err(e) => {
                c.schema(e, &format!("{at}/{field}"));
                Err(())
            }
        },
        Some(_) => {
            c.schema(
                format!("The value for the field '{field}' must be a STRING"),
                &format!("{at}/{field}"),
            );
            Err(())
        }
    }
}

fn path_field(obj: &Map<String, Value>, field: &str, at: &str, c: &mut Checker) -> Option<Path> {
    let s = obj.get(field)?.as_str().or_else(|| {
        c.schema(
            format!("The value for the field '{field}' must be a STRING"),
            &format!("{at}/{field}"),
        );
        None
    })?;
    match Path::parse(s) {
        Ok(p) => Some(p),
        Err(e) => {
            c.schema(e, &format!("{at}/{field}"));
            None
        }
    }
}

/// A field that takes a path or an intrinsic function (`ErrorPath`,
/// `CausePath`).
fn path_or_call(
    obj: &Map<String, Value>,
    field: &str,
    at: &str,
    c: &mut Checker,
) -> Option<Template> {
    match obj.get(field).and_then(Value::as_str) {
        Some(s) if intrinsics::is_call(s) => match intrinsics::parse(s) {
            Ok(call) => Some(Template::Call(call)),
            Err(e) => {
                c.schema(e, &format!("{at}/{field}"));
                None
            }
        },
        _ => path_field(obj, field, at, c).map(Template::Path),
    }
}

fn template(v: &Value, at: &str, c: &mut Checker) -> Template {
    match v {
        Value::Object(o) => Template::Object(
            o.iter()
                .map(|(k, v)| {
                    let fat = format!("{at}/{k}");
                    if let Some(key) = k.strip_suffix(".$") {
                        let t = match v.as_str() {
                            Some(s) if intrinsics::is_call(s) => match intrinsics::parse(s) {
                                Ok(call) => Template::Call(call),
                                Err(e) => {
                                    c.schema(e, &fat);
                                    Template::Literal(Value::Null)
                                }
                            },
                            Some(s) => match Path::parse(s) {
                                Ok(p) => Template::Path(p),
                                Err(e) => {
                                    c.schema(e, &fat);
                                    Template::Literal(Value::Null)
                                }
                            },
                            None => {
                                c.schema(format!("The value for the field '{k}' must be a STRING that contains a JSONPath or an intrinsic function"), &fat);
                                Template::Literal(Value::Null)
                            }
                        };
                        (key.to_string(), t)
                    } else {
                        (k.clone(), template(v, &fat, c))
                    }
                })
                .collect(),
        ),
        Value::Array(a) => Template::Array(
            a.iter()
                .enumerate()
                .map(|(i, v)| template(v, &format!("{at}[{i}]"), c))
                .collect(),
        ),
        other => Template::Literal(other.clone()),
    }
}

/// A JSONata template: strings `{% expr %}` become expressions.
fn jtemplate(v: &Value, at: &str, c: &mut Checker) -> JTemplate {
    match v {
        Value::String(text) => match jsonata_string(text) {
            Some(src) => match crate::jsonata::parse(src) {
                Ok(e) => JTemplate::Expr(e),
                Err(e) => {
                    c.schema(
                        format!("The JSONata expression '{src}' is not valid: {e}"),
                        at,
                    );
                    JTemplate::Literal(Value::Null)
                }
            },
            None => JTemplate::Literal(v.clone()),
        },
        Value::Object(o) => JTemplate::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), jtemplate(v, &format!("{at}/{k}"), c)))
                .collect(),
        ),
        Value::Array(a) => JTemplate::Array(
            a.iter()
                .enumerate()
                .map(|(i, v)| jtemplate(v, &format!("{at}[{i}]"), c))
                .collect(),
        ),
        other => JTemplate::Literal(other.clone()),
    }
}

/// The expression inside `{% ... %}`, if `s` is one.
fn jsonata_string(s: &str) -> Option<&str> {
    let t = s.trim();
    t.strip_prefix("{%")?.strip_suffix("%}").map(str::trim)
}

fn assign(obj: &Map<String, Value>, at: &str, c: &mut Checker, jsonata: bool) -> Option<Assign> {
    let v = obj.get("Assign")?;
    let aat = format!("{at}/Assign");
    if !v.is_object() {
        c.schema("The value for the field 'Assign' must be an OBJECT", &aat);
        return None;
    }
    if let Some(o) = v.as_object() {
        for k in o.keys() {
            let name = k.strip_suffix(".$").unwrap_or(k);
            if name == "states"
                || name.is_empty()
                || !name.chars().all(|ch| ch.is_alphanumeric() || ch == '_')
            {
                c.schema(format!("The variable name '{name}' is not valid (letters, digits and _; 'states' is reserved)"), &format!("{aat}/{k}"));
            }
        }
    }
    Some(if jsonata {
        Assign::Jsonata(jtemplate(v, &aat, c))
    } else {
        Assign::Path(template(v, &aat, c))
    })
}

fn errors_list(v: Option<&Value>, at: &str, c: &mut Checker) -> Vec<String> {
    match v.and_then(Value::as_array) {
        Some(a) if !a.is_empty() => a
            .iter()
            .filter_map(|e| e.as_str().map(String::from))
            .collect(),
        _ => {
            c.schema(
                "The field \"ErrorEquals\" is required and must be a non-empty array",
                at,
            );
            Vec::new()
        }
    }
}

fn seconds(obj: &Map<String, Value>, field: &str, at: &str, c: &mut Checker) -> Option<Seconds> {
    if let Some(v) = obj.get(field) {
        if v.as_str().and_then(jsonata_string).is_some() {
            return Some(Seconds::Expr(jtemplate(v, &format!("{at}/{field}"), c)));
        }
        return match v.as_u64() {
            Some(n) if n > 0 => Some(Seconds::Fixed(n)),
            _ => {
                c.schema(
                    format!("The value for the field '{field}' must be a positive integer"),
                    &format!("{at}/{field}"),
                );
                None
            }
        };
    }
    path_field(obj, &format!("{field}Path"), at, c).map(Seconds::Path)
}

const COMMON: &[&str] = &[
    "Type",
    "Comment",
    "Next",
    "End",
    "InputPath",
    "OutputPath",
    "QueryLanguage",
    "Output",
    "Assign",
];

/// Fields of one query language that the other does not have.
const JSONPATH_ONLY: &[&str] = &[
    "InputPath",
    "OutputPath",
    "Parameters",
    "ResultSelector",
    "ResultPath",
    "ItemsPath",
    "Result",
    "TimeoutSecondsPath",
    "HeartbeatSecondsPath",
    "SecondsPath",
    "TimestampPath",
    "ErrorPath",
    "CausePath",
    "MaxConcurrencyPath",
    "Iterator",
];
const JSONATA_ONLY: &[&str] = &["Arguments", "Output", "Items"];

fn allowed(kind: &str) -> &'static [&'static str] {
    match kind {
        "Pass" => &["Result", "ResultPath", "Parameters"],
        "Task" => &[
            "Resource",
            "Parameters",
            "Arguments",
            "ResultSelector",
            "ResultPath",
            "Retry",
            "Catch",
            "TimeoutSeconds",
            "TimeoutSecondsPath",
            "HeartbeatSeconds",
            "HeartbeatSecondsPath",
            "Credentials",
        ],
        "Choice" => &["Choices", "Default"],
        "Wait" => &["Seconds", "Timestamp", "SecondsPath", "TimestampPath"],
        "Succeed" => &[],
        "Fail" => &["Error", "Cause", "ErrorPath", "CausePath"],
        "Parallel" => &[
            "Branches",
            "Parameters",
            "Arguments",
            "ResultSelector",
            "ResultPath",
            "Retry",
            "Catch",
        ],
        "Map" => &[
            "Items",
            "Iterator",
            "ItemProcessor",
            "ItemsPath",
            "ItemSelector",
            "Parameters",
            "ResultSelector",
            "ResultPath",
            "Retry",
            "Catch",
            "MaxConcurrency",
            "MaxConcurrencyPath",
            "ToleratedFailurePercentage",
            "ToleratedFailureCount",
            "ItemReader",
            "ResultWriter",
            "ItemBatcher",
            "Label",
        ],
        _ => &[],
    }
}

fn state(
    name: &str,
    doc: &Value,
    at: &str,
    c: &mut Checker,
    machine_jsonata: bool,
) -> Option<State> {
    let Some(obj) = doc.as_object() else {
        c.schema("Expected an object", at);
        return None;
    };
    let Some(kind_name) = obj.get("Type").and_then(Value::as_str) else {
        c.schema("The field \"Type\" is required", at);
        return None;
    };
    if !matches!(
        kind_name,
        "Pass" | "Task" | "Choice" | "Wait" | "Succeed" | "Fail" | "Parallel" | "Map"
    ) {
        c.schema(format!("The value for the field 'Type' must be one of Pass, Task, Choice, Wait, Succeed, Fail, Parallel, Map, not \"{kind_name}\""), &format!("{at}/Type"));
        return None;
    }
    let jsonata = match obj.get("QueryLanguage").and_then(Value::as_str) {
        Some("JSONata") => true,
        Some("JSONPath") if machine_jsonata => {
            c.schema(
                "A JSONPath state cannot be in a JSONata state machine",
                &format!("{at}/QueryLanguage"),
            );
            true
        }
        Some("JSONPath") | None => machine_jsonata,
        Some(other) => {
            c.schema(
                format!("The value for the field 'QueryLanguage' must be JSONPath or JSONata, not {other}"),
                &format!("{at}/QueryLanguage"),
            );
            machine_jsonata
        }
    };
    for field in obj.keys() {
        let f = field.as_str();
        let terminal_fields =
            kind_name == "Fail" && !matches!(f, "Type" | "Comment" | "QueryLanguage");
        let succeed_assign = kind_name == "Succeed" && f == "Assign";
        let ok = (COMMON.contains(&f) && !terminal_fields && !succeed_assign)
            || allowed(kind_name).contains(&f);
        if !ok {
            c.schema(
                format!("Field '{field}' is not supported"),
                &format!("{at}/{field}"),
            );
        } else if jsonata && JSONPATH_ONLY.contains(&f) {
            c.schema(
                format!("The field '{field}' is not supported in a JSONata state"),
                &format!("{at}/{field}"),
            );
        } else if !jsonata && JSONATA_ONLY.contains(&f) {
            c.schema(
                format!("The field '{field}' is not supported in a JSONPath state (set QueryLanguage to JSONata)"),
                &format!("{at}/{field}"),
            );
        }
    }
    let terminal_kind = matches!(kind_name, "Choice" | "Succeed" | "Fail");
    let end = obj.get("End").and_then(Value::as_bool) == Some(true);
    let next = obj.get("Next").and_then(Value::as_str).map(String::from);
    if !terminal_kind {
        match (&next, end) {
            (Some(_), true) => c.schema("Either 'Next' or 'End' must be set, not both", at),
            (None, false) => c.schema("The field \"Next\" or \"End\" is required", at),
            _ => {}
        }
    }
    let input_path = opt_path(obj, "InputPath", at, c, false).ok()?;
    let output_path = opt_path(obj, "OutputPath", at, c, false).ok()?;
    let result_path = opt_path(obj, "ResultPath", at, c, true).ok()?;
    let parameters = obj
        .get("Parameters")
        .map(|p| template(p, &format!("{at}/Parameters"), c));
    let result_selector = obj
        .get("ResultSelector")
        .map(|p| template(p, &format!("{at}/ResultSelector"), c));
    let arguments = obj
        .get("Arguments")
        .map(|v| jtemplate(v, &format!("{at}/Arguments"), c));
    let output = obj
        .get("Output")
        .map(|v| jtemplate(v, &format!("{at}/Output"), c));
    let state_assign = assign(obj, at, c, jsonata);
    let retry = retriers(obj, at, c);
    let catch = catchers(obj, at, c, jsonata);
    let kind = state_kind(kind_name, obj, at, c, jsonata)?;
    // Map's legacy `Parameters` is its item selector.
    let (parameters, kind) = match kind {
        Kind::Map {
            item_selector: None,
            ..
        } if parameters.is_some() => {
            let mut kind = kind;
            if let Kind::Map { item_selector, .. } = &mut kind {
                *item_selector = parameters;
            }
            (None, kind)
        }
        k => (parameters, k),
    };
    Some(State {
        name: name.into(),
        jsonata,
        kind,
        next: if terminal_kind { None } else { next },
        input_path,
        output_path,
        parameters,
        result_selector,
        result_path,
        retry,
        catch,
        arguments,
        output,
        assign: state_assign,
    })
}

/// A state's `Retry` list, with Step Functions' ranges checked.
fn retriers(obj: &Map<String, Value>, at: &str, c: &mut Checker) -> Vec<Retrier> {
    let mut retry = Vec::new();
    if let Some(list) = obj.get("Retry") {
        for (i, r) in list
            .as_array()
            .map(|a| a.as_slice())
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            let rat = format!("{at}/Retry[{i}]");
            let f = |k: &str| r.get(k).and_then(Value::as_f64);
            let backoff = f("BackoffRate").unwrap_or(2.0);
            if !(backoff >= 1.0 && backoff.is_finite()) {
                c.schema(
                    "The value for the field 'BackoffRate' must be at least 1.0",
                    &rat,
                );
            }
            // Step Functions' ranges: positive whole seconds, attempts 0-99999999.
            let whole = |k: &str, lo: u64, hi: u64, c: &mut Checker| match r.get(k) {
                None => {}
                Some(v) if v.as_u64().is_some_and(|n| (lo..=hi).contains(&n)) => {}
                Some(_) => c.schema(
                    format!("The value for the field '{k}' must be an integer from {lo} to {hi}"),
                    &format!("{rat}/{k}"),
                ),
            };
            whole("IntervalSeconds", 1, 99_999_999, c);
            whole("MaxAttempts", 0, 99_999_999, c);
            whole("MaxDelaySeconds", 1, 31_622_400, c);
            retry.push(Retrier {
                errors: errors_list(r.get("ErrorEquals"), &rat, c),
                interval_seconds: f("IntervalSeconds").unwrap_or(1.0),
                max_attempts: r.get("MaxAttempts").and_then(Value::as_u64).unwrap_or(3) as u32,
                backoff_rate: backoff,
                max_delay_seconds: f("MaxDelaySeconds"),
                full_jitter: r.get("JitterStrategy").and_then(Value::as_str) == Some("FULL"),
            });
        }
    }
    retry
}

/// A state's `Catch` list.
fn catchers(obj: &Map<String, Value>, at: &str, c: &mut Checker, jsonata: bool) -> Vec<Catcher> {
    let mut catch = Vec::new();
    if let Some(list) = obj.get("Catch") {
        for (i, k) in list
            .as_array()
            .map(|a| a.as_slice())
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            let kat = format!("{at}/Catch[{i}]");
            let Some(next) = k.get("Next").and_then(Value::as_str) else {
                c.schema("The field \"Next\" is required", &kat);
                continue;
            };
            let kobj = k.as_object().cloned().unwrap_or_default();
            let Ok(result_path) = opt_path(&kobj, "ResultPath", &kat, c, true) else {
                continue;
            };
            catch.push(Catcher {
                errors: errors_list(k.get("ErrorEquals"), &kat, c),
                next: next.into(),
                result_path,
                output: kobj
                    .get("Output")
                    .map(|v| jtemplate(v, &format!("{kat}/Output"), c)),
                assign: assign(&kobj, &kat, c, jsonata),
            });
        }
    }
    catch
}

/// The type-specific part of a state: what its `Type` requires and allows.
fn state_kind(
    kind_name: &str,
    obj: &Map<String, Value>,
    at: &str,
    c: &mut Checker,
    jsonata: bool,
) -> Option<Kind> {
    let kind = match kind_name {
        "Pass" => Kind::Pass {
            result: obj.get("Result").cloned(),
        },
        "Task" => {
            let Some(resource) = obj.get("Resource").and_then(Value::as_str) else {
                c.schema("The field \"Resource\" is required", at);
                return None;
            };
            if !resource.starts_with("arn:") {
                c.schema(
                    format!("Value is not a valid resource ARN: {resource}"),
                    &format!("{at}/Resource"),
                );
            }
            Kind::Task {
                resource: resource.into(),
                timeout: seconds(obj, "TimeoutSeconds", at, c),
                heartbeat: seconds(obj, "HeartbeatSeconds", at, c),
            }
        }
        "Choice" => choice_kind(obj, at, c, jsonata)?,
        "Wait" => wait_kind(obj, at, c, jsonata)?,
        "Succeed" => Kind::Succeed,
        "Fail" => {
            let expr = |field: &str, c: &mut Checker| {
                obj.get(field)
                    .filter(|v| jsonata && v.as_str().and_then(jsonata_string).is_some())
                    .map(|v| jtemplate(v, &format!("{at}/{field}"), c))
            };
            let error_expr = expr("Error", c);
            let cause_expr = expr("Cause", c);
            Kind::Fail {
                error: obj.get("Error").and_then(Value::as_str).map(String::from),
                cause: obj.get("Cause").and_then(Value::as_str).map(String::from),
                error_path: path_or_call(obj, "ErrorPath", at, c),
                cause_path: path_or_call(obj, "CausePath", at, c),
                error_expr,
                cause_expr,
            }
        }
        "Parallel" => {
            let mut branches = Vec::new();
            match obj.get("Branches").and_then(Value::as_array) {
                Some(a) if !a.is_empty() => {
                    for (i, b) in a.iter().enumerate() {
                        if let Some(m) = machine(b, &format!("{at}/Branches[{i}]"), c, jsonata) {
                            branches.push(Arc::new(m));
                        }
                    }
                }
                _ => c.schema(
                    "The field \"Branches\" is required and must be a non-empty array",
                    at,
                ),
            }
            Kind::Parallel { branches }
        }
        _ => map_kind(obj, at, c, jsonata)?,
    };
    Some(kind)
}

/// A Choice state's rules (JSONPath rules, or JSONata `Condition`s) and default.
fn choice_kind(obj: &Map<String, Value>, at: &str, c: &mut Checker, jsonata: bool) -> Option<Kind> {
    let mut choices = Vec::new();
    match obj.get("Choices").and_then(Value::as_array) {
        Some(a) if !a.is_empty() => {
            for (i, r) in a.iter().enumerate() {
                let rat = format!("{at}/Choices[{i}]");
                let Some(n) = r.get("Next").and_then(Value::as_str) else {
                    c.schema("The field \"Next\" is required", &rat);
                    continue;
                };
                let parsed = if jsonata {
                    match r.get("Condition") {
                        Some(cond) => Some(Rule::Condition(jtemplate(
                            cond,
                            &format!("{rat}/Condition"),
                            c,
                        ))),
                        None => {
                            c.schema(
                                "The field \"Condition\" is required in a JSONata choice rule",
                                &rat,
                            );
                            None
                        }
                    }
                } else {
                    rule(r, &rat, c)
                };
                let robj = r.as_object().cloned().unwrap_or_default();
                if let Some(rule) = parsed {
                    choices.push(Choice {
                        rule,
                        next: n.to_string(),
                        assign: assign(&robj, &rat, c, jsonata),
                        output: robj
                            .get("Output")
                            .map(|v| jtemplate(v, &format!("{rat}/Output"), c)),
                    });
                }
            }
        }
        _ => c.schema(
            "The field \"Choices\" is required and must be a non-empty array",
            at,
        ),
    }
    Some(Kind::Choice {
        choices,
        default: obj.get("Default").and_then(Value::as_str).map(String::from),
    })
}

/// A Wait state's one of Seconds, Timestamp, SecondsPath, TimestampPath (or a JSONata expression).
fn wait_kind(obj: &Map<String, Value>, at: &str, c: &mut Checker, jsonata: bool) -> Option<Kind> {
    let given: Vec<&str> = ["Seconds", "Timestamp", "SecondsPath", "TimestampPath"]
        .into_iter()
        .filter(|k| obj.contains_key(*k))
        .collect();
    if given.len() != 1 {
        c.schema(
            "A Wait state needs exactly one of Seconds, Timestamp, SecondsPath, TimestampPath",
            at,
        );
        return None;
    }
    let expr_field = given[0];
    let expression = jsonata
        && matches!(expr_field, "Seconds" | "Timestamp")
        && obj[expr_field].as_str().and_then(jsonata_string).is_some();
    Some(Kind::Wait(match expr_field {
        _ if expression => WaitFor::Expr {
            seconds: expr_field == "Seconds",
            expr: jtemplate(&obj[expr_field], &format!("{at}/{expr_field}"), c),
        },
        "Seconds" => match obj["Seconds"].as_u64() {
            Some(n) => WaitFor::Seconds(n),
            None => {
                c.schema(
                    "The value for the field 'Seconds' must be a non-negative integer",
                    &format!("{at}/Seconds"),
                );
                return None;
            }
        },
        "Timestamp" => {
            let t = obj["Timestamp"].as_str().unwrap_or_default();
            if crate::time::parse_timestamp(t).is_none() {
                c.schema(
                    "The value for the field 'Timestamp' must be a valid ISO-8601 timestamp",
                    &format!("{at}/Timestamp"),
                );
            }
            WaitFor::Timestamp(t.into())
        }
        "SecondsPath" => WaitFor::SecondsPath(path_field(obj, "SecondsPath", at, c)?),
        _ => WaitFor::TimestampPath(path_field(obj, "TimestampPath", at, c)?),
    }))
}

/// A Map state: its processor (inline or distributed), items, selector, concurrency and tolerated failures.
fn map_kind(obj: &Map<String, Value>, at: &str, c: &mut Checker, jsonata: bool) -> Option<Kind> {
    let (field, proc_doc) = match (obj.get("ItemProcessor"), obj.get("Iterator")) {
        (Some(p), _) => ("ItemProcessor", p),
        (None, Some(p)) => ("Iterator", p),
        (None, None) => {
            c.schema("The field \"ItemProcessor\" is required", at);
            return None;
        }
    };
    let mode = proc_doc
        .pointer("/ProcessorConfig/Mode")
        .and_then(Value::as_str)
        .unwrap_or("INLINE");
    let distributed = match mode {
        "INLINE" => {
            for only in ["ItemReader", "ResultWriter", "ItemBatcher"] {
                if obj.contains_key(only) {
                    c.schema(
                        format!("The field '{only}' is only supported in DISTRIBUTED mode"),
                        &format!("{at}/{only}"),
                    );
                }
            }
            None
        }
        "DISTRIBUTED" => Some(Arc::new(distributed(obj, proc_doc, at, c, jsonata)?)),
        other => {
            c.schema(
                format!("The value for the field 'Mode' must be one of INLINE, DISTRIBUTED, not \"{other}\""),
                &format!("{at}/{field}/ProcessorConfig/Mode"),
            );
            None
        }
    };
    let processor = machine(proc_doc, &format!("{at}/{field}"), c, jsonata)?;
    let (item_selector, item_selector_expr) = match obj.get("ItemSelector") {
        Some(p) if jsonata => (None, Some(jtemplate(p, &format!("{at}/ItemSelector"), c))),
        Some(p) => (Some(template(p, &format!("{at}/ItemSelector"), c)), None),
        None => (None, None),
    };
    Some(Kind::Map {
        processor: Arc::new(processor),
        items_path: opt_path(obj, "ItemsPath", at, c, true).ok()?,
        item_selector,
        items: obj
            .get("Items")
            .map(|v| jtemplate(v, &format!("{at}/Items"), c)),
        item_selector_expr,
        max_concurrency: obj
            .get("MaxConcurrency")
            .and_then(Value::as_u64)
            .unwrap_or(0) as usize,
        max_concurrency_path: path_field(obj, "MaxConcurrencyPath", at, c),
        tolerated_percentage: obj
            .get("ToleratedFailurePercentage")
            .and_then(Value::as_f64),
        tolerated_count: obj.get("ToleratedFailureCount").and_then(Value::as_u64),
        distributed,
    })
}

/// A distributed Map's reader, batcher and writer, checked as Step
/// Functions checks them.
fn distributed(
    obj: &Map<String, Value>,
    proc_doc: &Value,
    at: &str,
    c: &mut Checker,
    jsonata: bool,
) -> Option<Distributed> {
    let execution_type = proc_doc
        .pointer("/ProcessorConfig/ExecutionType")
        .and_then(Value::as_str)
        .unwrap_or("STANDARD")
        .to_string();
    if !matches!(execution_type.as_str(), "STANDARD" | "EXPRESS") {
        c.schema(
            format!("The value for the field 'ExecutionType' must be one of STANDARD, EXPRESS, not \"{execution_type}\""),
            &format!("{at}/ItemProcessor/ProcessorConfig/ExecutionType"),
        );
    }
    let payload = |o: &Map<String, Value>, at: &str, c: &mut Checker| {
        let parameters = o
            .get("Parameters")
            .filter(|_| !jsonata)
            .map(|p| template(p, &format!("{at}/Parameters"), c));
        let arguments = o
            .get("Arguments")
            .filter(|_| jsonata)
            .map(|p| jtemplate(p, &format!("{at}/Arguments"), c));
        (parameters, arguments)
    };
    let reader = match obj.get("ItemReader") {
        None => None,
        Some(r) => {
            let rat = format!("{at}/ItemReader");
            let Some(r) = r.as_object() else {
                c.schema(
                    "The value for the field 'ItemReader' must be an OBJECT",
                    &rat,
                );
                return None;
            };
            let action = match r.get("Resource").and_then(Value::as_str) {
                Some("arn:aws:states:::s3:getObject") => "getObject",
                Some("arn:aws:states:::s3:listObjectsV2") => "listObjectsV2",
                other => {
                    c.schema(
                        format!("The value for the field 'Resource' must be arn:aws:states:::s3:getObject or arn:aws:states:::s3:listObjectsV2, not {}", other.unwrap_or("missing")),
                        &format!("{rat}/Resource"),
                    );
                    return None;
                }
            };
            let config = r.get("ReaderConfig").and_then(Value::as_object);
            let field = |k: &str| config.and_then(|c| c.get(k));
            let input_type = field("InputType")
                .and_then(Value::as_str)
                .map(str::to_string);
            match (action, input_type.as_deref()) {
                ("getObject", Some("JSON" | "JSONL" | "CSV")) | ("listObjectsV2", None) => {}
                ("getObject", None) => {
                    c.schema(
                        "The field 'InputType' is required in the ReaderConfig of arn:aws:states:::s3:getObject",
                        &format!("{rat}/ReaderConfig"),
                    );
                }
                (_, Some(t)) => {
                    c.schema(
                        format!("ReaderConfig InputType {t} is not supported by Nimbus yet (JSON, JSONL and CSV are)"),
                        &format!("{rat}/ReaderConfig/InputType"),
                    );
                }
                _ => {}
            }
            let csv_headers = match field("CSVHeaderLocation").and_then(Value::as_str) {
                Some("GIVEN") => {
                    let headers: Option<Vec<String>> =
                        field("CSVHeaders").and_then(Value::as_array).map(|a| {
                            a.iter()
                                .filter_map(|h| h.as_str().map(str::to_string))
                                .collect()
                        });
                    if headers.as_ref().is_none_or(Vec::is_empty) {
                        c.schema(
                            "The field 'CSVHeaders' is required when CSVHeaderLocation is GIVEN",
                            &format!("{rat}/ReaderConfig"),
                        );
                    }
                    headers
                }
                None | Some("FIRST_ROW") => None,
                Some(other) => {
                    c.schema(
                        format!("The value for the field 'CSVHeaderLocation' must be one of FIRST_ROW, GIVEN, not \"{other}\""),
                        &format!("{rat}/ReaderConfig/CSVHeaderLocation"),
                    );
                    None
                }
            };
            let csv_delimiter = match field("CSVDelimiter").and_then(Value::as_str) {
                None | Some("COMMA") => b',',
                Some("PIPE") => b'|',
                Some("SEMICOLON") => b';',
                Some("SPACE") => b' ',
                Some("TAB") => b'\t',
                Some(other) => {
                    c.schema(
                        format!("The value for the field 'CSVDelimiter' must be one of COMMA, PIPE, SEMICOLON, SPACE, TAB, not \"{other}\""),
                        &format!("{rat}/ReaderConfig/CSVDelimiter"),
                    );
                    b','
                }
            };
            let max_items_path = config.and_then(|o| path_field(o, "MaxItemsPath", &rat, c));
            let (parameters, arguments) = payload(r, &rat, c);
            Some(ItemReader {
                action: action.to_string(),
                input_type,
                csv_headers,
                csv_delimiter,
                max_items: field("MaxItems").and_then(Value::as_u64),
                max_items_path,
                parameters,
                arguments,
            })
        }
    };
    let batcher = obj.get("ItemBatcher").and_then(Value::as_object).map(|b| {
        let bat = format!("{at}/ItemBatcher");
        let (batch_input, batch_input_expr) = match b.get("BatchInput") {
            Some(t) if jsonata => (None, Some(jtemplate(t, &format!("{bat}/BatchInput"), c))),
            Some(t) => (Some(template(t, &format!("{bat}/BatchInput"), c)), None),
            None => (None, None),
        };
        ItemBatcher {
            max_items: b.get("MaxItemsPerBatch").and_then(Value::as_u64),
            max_items_path: path_field(b, "MaxItemsPerBatchPath", &bat, c),
            max_bytes: b.get("MaxInputBytesPerBatch").and_then(Value::as_u64),
            batch_input,
            batch_input_expr,
        }
    });
    let writer = match obj.get("ResultWriter").and_then(Value::as_object) {
        None => None,
        Some(w) => {
            let wat = format!("{at}/ResultWriter");
            if w.get("Resource").and_then(Value::as_str) != Some("arn:aws:states:::s3:putObject") {
                c.schema(
                    "The value for the field 'Resource' must be arn:aws:states:::s3:putObject",
                    &format!("{wat}/Resource"),
                );
            }
            let (parameters, arguments) = payload(w, &wat, c);
            Some(ResultWriter {
                parameters,
                arguments,
            })
        }
    };
    let label = obj.get("Label").and_then(Value::as_str).map(str::to_string);
    if let Some(l) = &label
        && (l.is_empty()
            || l.chars().count() > 40
            || l.chars().any(|ch| {
                ch.is_whitespace() || ch.is_control() || ":?*<>{}[];,\\|^~$#%&`\"".contains(ch)
            }))
    {
        c.schema(
            "The value for the field 'Label' must be 1 to 40 characters without whitespace or any of :?*<>{}[];,\\|^~$#%&`\"",
            &format!("{at}/Label"),
        );
    }
    Some(Distributed {
        execution_type,
        reader,
        batcher,
        writer,
        label,
    })
}

fn rule(doc: &Value, at: &str, c: &mut Checker) -> Option<Rule> {
    let obj = doc.as_object()?;
    for (k, ctor) in [("And", 0), ("Or", 1)] {
        if let Some(list) = obj.get(k) {
            let Some(a) = list.as_array().filter(|a| !a.is_empty()) else {
                c.schema(
                    format!("The value for the field '{k}' must be a non-empty array"),
                    at,
                );
                return None;
            };
            let rules: Vec<Rule> = a
                .iter()
                .enumerate()
                .filter_map(|(i, r)| rule(r, &format!("{at}/{k}[{i}]"), c))
                .collect();
            return Some(if ctor == 0 {
                Rule::And(rules)
            } else {
                Rule::Or(rules)
            });
        }
    }
    if let Some(inner) = obj.get("Not") {
        return rule(inner, &format!("{at}/Not"), c).map(|r| Rule::Not(Box::new(r)));
    }
    let Some(variable) = path_field(obj, "Variable", at, c) else {
        c.schema("The field \"Variable\" is required", at);
        return None;
    };
    let ops: Vec<&String> = obj
        .keys()
        .filter(|k| !matches!(k.as_str(), "Variable" | "Next" | "Comment" | "Assign"))
        .collect();
    if ops.len() != 1 {
        c.schema("A choice rule needs exactly one comparison operator", at);
        return None;
    }
    let op = ops[0].as_str();
    let (base, is_path) = match op.strip_suffix("Path") {
        Some(b) if COMPARATORS.contains(&b) && !b.starts_with("Is") => (b, true),
        _ => (op, false),
    };
    if !COMPARATORS.contains(&base) {
        c.schema(
            format!("Field '{op}' is not supported"),
            &format!("{at}/{op}"),
        );
        return None;
    }
    let v = &obj[op];
    let against = if is_path {
        Against::Path(path_field(obj, op, at, c)?)
    } else {
        let ok = match base {
            b if b.starts_with("String") || b.starts_with("Timestamp") => v.is_string(),
            b if b.starts_with("Numeric") => v.is_number(),
            _ => v.is_boolean(),
        };
        if !ok {
            c.schema(
                format!("The value for the field '{op}' has the wrong type"),
                &format!("{at}/{op}"),
            );
        }
        Against::Value(v.clone())
    };
    Some(Rule::Compare {
        variable,
        op: base.to_string(),
        against,
    })
}

#[cfg(test)]
mod tests;
