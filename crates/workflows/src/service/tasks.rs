//! Task tokens (`SendTaskSuccess`, `SendTaskFailure`, `SendTaskHeartbeat`),
//! `ValidateStateMachineDefinition`, `TestState` and tags.

use super::*;

/// One finding of `ValidateStateMachineDefinition` (all are errors).
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub code: String,
    pub message: String,
    pub location: Option<String>,
}

/// `TestState`'s input.
#[derive(Debug, Clone, Default)]
pub struct TestRun {
    /// One state's definition (a JSON text).
    pub definition: String,
    pub role_arn: Option<String>,
    pub input: Option<String>,
}

/// How the tested state ended.
#[derive(Debug, Clone, PartialEq)]
pub struct TestOutcome {
    /// `SUCCEEDED`, `FAILED` or `CAUGHT_ERROR`.
    pub status: &'static str,
    pub output: Option<String>,
    pub next_state: Option<String>,
    pub error: Option<String>,
    pub cause: Option<String>,
}

fn no_task() -> Error {
    Error::TaskDoesNotExist(
        "Task Does Not Exist: the token is not waited for (finished, timed out or unknown)".into(),
    )
}

fn check_token(token: &str) -> Result<()> {
    if token.is_empty() || token.len() > 2048 {
        return Err(Error::InvalidToken("Invalid Token: 'Invalid token'".into()));
    }
    Ok(())
}

impl StepFunctions {
    pub fn send_task_success(&self, token: &str, output: &str) -> Result<()> {
        check_token(token)?;
        if output.len() > MAX_PAYLOAD {
            return Err(Error::InvalidOutput(
                "Output exceeds the maximum size of 262144 bytes".into(),
            ));
        }
        let v: Value = serde_json::from_str(output)
            .map_err(|e| Error::InvalidOutput(format!("Invalid Output: '{e}'")))?;
        if !self.tokens.complete(token, Ok(v)) {
            return Err(no_task());
        }
        Ok(())
    }

    pub fn send_task_failure(&self, token: &str, error: &str, cause: &str) -> Result<()> {
        check_token(token)?;
        if !self.tokens.complete(token, Err(Failure::new(error, cause))) {
            return Err(no_task());
        }
        Ok(())
    }

    pub fn send_task_heartbeat(&self, token: &str) -> Result<()> {
        check_token(token)?;
        if !self.tokens.heartbeat(token) {
            return Err(no_task());
        }
        Ok(())
    }

    /// What is wrong with a definition; nothing when it is valid.
    pub fn validate_state_machine_definition(&self, definition: &str) -> Vec<Diagnostic> {
        let Err(e) = asl::parse(definition) else {
            return Vec::new();
        };
        e.0.iter()
            .map(|d| {
                let (code, rest) = d
                    .split_once(": ")
                    .unwrap_or(("SCHEMA_VALIDATION_FAILED", d));
                let (message, location) = match rest.rsplit_once(" at /") {
                    Some((m, l)) => (m.to_string(), Some(format!("/{l}"))),
                    None => (rest.to_string(), None),
                };
                Diagnostic {
                    code: code.to_string(),
                    message,
                    location,
                }
            })
            .collect()
    }

    /// TestState: run one state on an input, outside any execution.
    pub async fn test_state(&self, req: TestRun) -> Result<TestOutcome> {
        let state: Value = serde_json::from_str(&req.definition).map_err(|e| {
            Error::InvalidDefinition(format!(
                "Invalid State Machine Definition: 'INVALID_JSON_DESCRIPTION: {e}'"
            ))
        })?;
        let input = Self::parse_input(req.input.as_deref())?;
        // The state alone, its transitions turned into ends so it runs once.
        let mut alone = state.clone();
        let next = alone.get("Next").and_then(Value::as_str).map(String::from);
        if let Some(o) = alone.as_object_mut() {
            if o.remove("Next").is_some() {
                o.insert("End".into(), json!(true));
            }
            if let Some(Value::Array(catchers)) = o.get_mut("Catch") {
                for c in catchers {
                    c["Next"] = json!("__caught");
                }
            }
        }
        let mut states = json!({"__test": alone});
        if let Some(Value::Array(choices)) = state.get("Choices") {
            states["__test"]["Default"] = json!("__caught");
            for (i, _) in choices.iter().enumerate() {
                states["__test"]["Choices"][i]["Next"] = json!("__caught");
            }
        }
        // Where catchers and choices lead (only when something does: a state
        // nothing leads to is refused).
        if state.get("Choices").is_some_and(Value::is_array)
            || state
                .get("Catch")
                .and_then(Value::as_array)
                .is_some_and(|c| !c.is_empty())
        {
            states["__caught"] = json!({"Type": "Pass", "End": true});
        }
        let doc = json!({"StartAt": "__test", "States": states});
        let machine = Arc::new(Self::check_definition(&doc.to_string())?);
        let m = StateMachine {
            format: records::MACHINE_FORMAT,
            arn: self.machine_arn("TestState"),
            name: "TestState".into(),
            definition: String::new(),
            role_arn: req.role_arn.unwrap_or_default(),
            kind: MachineType::Express,
            creation_date: 0.0,
            update_date: None,
            logging_configuration: Value::Null,
            tracing_configuration: Value::Null,
            revision_id: String::new(),
            tags: Vec::new(),
            versions: Vec::new(),
            aliases: Vec::new(),
            parsed: OnceLock::from(machine.clone()),
        };
        let arn = format!(
            "arn:aws:states:{}:{}:execution:TestState:test",
            self.region, self.account
        );
        let start = RunStart::fresh(
            (&arn, "test"),
            input,
            nimbus_model::time::now_millis(),
            None,
        );
        let run = self.new_run(&m, start, None, true);
        let r = run.execute(machine, None).await;
        let caught = run.history().iter().any(|e| {
            e.kind.ends_with("StateEntered")
                && e.details
                    .as_ref()
                    .is_some_and(|(_, d)| d["name"] == "__caught")
        });
        let catches = state.get("Catch").is_some();
        Ok(match r {
            Ok(v) => TestOutcome {
                status: if caught && catches {
                    "CAUGHT_ERROR"
                } else {
                    "SUCCEEDED"
                },
                output: Some(v.to_string()),
                next_state: next.filter(|_| !caught || !catches),
                error: None,
                cause: None,
            },
            Err(f) => TestOutcome {
                status: "FAILED",
                output: None,
                next_state: None,
                error: Some(f.error),
                cause: Some(f.cause),
            },
        })
    }

    pub fn tag_resource(&self, arn: &str, tags: Vec<Tag>) -> Result<()> {
        let (name, _) = self.parse_machine_arn(arn)?;
        self.update_machine(&name, not_found(arn), |m| {
            for t in tags {
                m.tags.retain(|c| c.key != t.key);
                m.tags.push(t);
            }
            if m.tags.len() > 50 {
                return Err(Error::TooManyTags("Too many tags: at most 50".into()));
            }
            Ok(())
        })
    }

    pub fn untag_resource(&self, arn: &str, keys: &[String]) -> Result<()> {
        let (name, _) = self.parse_machine_arn(arn)?;
        self.update_machine(&name, not_found(arn), |m| {
            m.tags.retain(|c| !keys.contains(&c.key));
            Ok(())
        })
    }

    pub fn list_tags_for_resource(&self, arn: &str) -> Result<Vec<Tag>> {
        let (name, _) = self.parse_machine_arn(arn)?;
        Ok(self.machine(&name, not_found(arn))?.tags.clone())
    }
}
