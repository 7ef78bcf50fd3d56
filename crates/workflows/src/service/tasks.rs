//! Task tokens (`SendTaskSuccess`, `SendTaskFailure`, `SendTaskHeartbeat`),
//! `ValidateStateMachineDefinition`, `TestState` and tags.

use super::*;

impl StepFunctions {
    pub(super) fn token_result(&self, req: &Value) -> Result<String> {
        let token = str_field(req, "taskToken")?;
        if token.is_empty() || token.len() > 2048 {
            return Err(Error::InvalidToken("Invalid Token: 'Invalid token'".into()));
        }
        Ok(token.to_string())
    }

    pub fn send_task_success(&self, req: &Value) -> Result<Value> {
        let token = self.token_result(req)?;
        let output = str_field(req, "output")?;
        if output.len() > MAX_PAYLOAD {
            return Err(Error::InvalidOutput(
                "Output exceeds the maximum size of 262144 bytes".into(),
            ));
        }
        let v: Value = serde_json::from_str(output)
            .map_err(|e| Error::InvalidOutput(format!("Invalid Output: '{e}'")))?;
        if !self.tokens.complete(&token, Ok(v)) {
            return Err(Error::TaskDoesNotExist(
                "Task Does Not Exist: the token is not waited for (finished, timed out or unknown)"
                    .into(),
            ));
        }
        Ok(json!({}))
    }

    pub fn send_task_failure(&self, req: &Value) -> Result<Value> {
        let token = self.token_result(req)?;
        let f = Failure::new(
            req.get("error").and_then(Value::as_str).unwrap_or_default(),
            req.get("cause").and_then(Value::as_str).unwrap_or_default(),
        );
        if !self.tokens.complete(&token, Err(f)) {
            return Err(Error::TaskDoesNotExist(
                "Task Does Not Exist: the token is not waited for (finished, timed out or unknown)"
                    .into(),
            ));
        }
        Ok(json!({}))
    }

    pub fn send_task_heartbeat(&self, req: &Value) -> Result<Value> {
        let token = self.token_result(req)?;
        if !self.tokens.heartbeat(&token) {
            return Err(Error::TaskDoesNotExist(
                "Task Does Not Exist: the token is not waited for (finished, timed out or unknown)"
                    .into(),
            ));
        }
        Ok(json!({}))
    }

    pub fn validate_state_machine_definition(&self, req: &Value) -> Result<Value> {
        let definition = str_field(req, "definition")?;
        Ok(match asl::parse(definition) {
            Ok(_) => json!({"result": "OK", "diagnostics": [], "truncated": false}),
            Err(e) => {
                let diagnostics: Vec<Value> = e
                    .0
                    .iter()
                    .map(|d| {
                        let (code, rest) = d.split_once(": ").unwrap_or(("SCHEMA_VALIDATION_FAILED", d));
                        let (message, location) = match rest.rsplit_once(" at /") {
                            Some((m, l)) => (m.to_string(), Some(format!("/{l}"))),
                            None => (rest.to_string(), None),
                        };
                        json!({"severity": "ERROR", "code": code, "message": message, "location": location})
                    })
                    .collect();
                json!({"result": "FAIL", "diagnostics": diagnostics, "truncated": false})
            }
        })
    }

    /// TestState: run one state on an input, outside any execution.
    pub async fn test_state(&self, req: &Value) -> Result<Value> {
        let definition = str_field(req, "definition")?;
        let state: Value = serde_json::from_str(definition).map_err(|e| {
            Error::InvalidDefinition(format!(
                "Invalid State Machine Definition: 'INVALID_JSON_DESCRIPTION: {e}'"
            ))
        })?;
        let input = Self::parse_input(req)?;
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
        let mut states = json!({"__test": alone, "__caught": {"Type": "Pass", "End": true}});
        if let Some(Value::Array(choices)) = state.get("Choices") {
            states["__test"]["Default"] = json!("__caught");
            for (i, _) in choices.iter().enumerate() {
                states["__test"]["Choices"][i]["Next"] = json!("__caught");
            }
        }
        let doc = json!({"StartAt": "__test", "States": states});
        let machine = Arc::new(Self::check_definition(&doc.to_string())?);
        let m = MachineRecord {
            doc: json!({"name": "TestState", "stateMachineArn": self.machine_arn("TestState"), "roleArn": req.get("roleArn").cloned().unwrap_or(Value::Null)}),
            parsed: machine.clone(),
            versions: Vec::new(),
            aliases: Vec::new(),
        };
        let run = self.new_run(
            &m,
            &format!(
                "arn:aws:states:{}:{}:execution:TestState:test",
                self.region, self.account
            ),
            "test",
            input,
            nimbus_model::time::now_millis(),
            0,
            None,
            true,
        );
        let r = run.execute(machine, None).await;
        let caught = run.history().iter().any(|e| {
            e.kind.ends_with("StateEntered")
                && e.details
                    .as_ref()
                    .is_some_and(|(_, d)| d["name"] == "__caught")
        });
        let mut out = json!({});
        match r {
            Ok(v) => {
                out["output"] = json!(v.to_string());
                out["status"] = json!(if caught && state.get("Catch").is_some() {
                    "CAUGHT_ERROR"
                } else {
                    "SUCCEEDED"
                });
                if let Some(n) = next.filter(|_| !caught || state.get("Catch").is_none()) {
                    out["nextState"] = json!(n);
                }
            }
            Err(f) => {
                out["status"] = json!("FAILED");
                out["error"] = json!(f.error);
                out["cause"] = json!(f.cause);
            }
        }
        if req
            .get("inspectionLevel")
            .and_then(Value::as_str)
            .is_some_and(|l| l != "INFO")
        {
            out["inspectionData"] =
                json!({"input": req.get("input").and_then(Value::as_str).unwrap_or("{}")});
        }
        Ok(out)
    }

    pub fn tag_resource(&self, req: &Value) -> Result<Value> {
        let arn = str_field(req, "resourceArn")?;
        let (name, _) = self.parse_machine_arn(arn)?;
        let tags = req
            .get("tags")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        self.update_machine(&name, not_found(arn), |m| {
            let mut current: Vec<Value> = m.doc["tags"].as_array().cloned().unwrap_or_default();
            for t in tags {
                current.retain(|c| c["key"] != t["key"]);
                current.push(t);
            }
            if current.len() > 50 {
                return Err(Error::TooManyTags("Too many tags: at most 50".into()));
            }
            m.doc["tags"] = Value::Array(current);
            Ok(json!({}))
        })
    }

    pub fn untag_resource(&self, req: &Value) -> Result<Value> {
        let arn = str_field(req, "resourceArn")?;
        let (name, _) = self.parse_machine_arn(arn)?;
        let keys: Vec<Value> = req
            .get("tagKeys")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        self.update_machine(&name, not_found(arn), |m| {
            let mut current: Vec<Value> = m.doc["tags"].as_array().cloned().unwrap_or_default();
            current.retain(|c| !keys.contains(&c["key"]));
            m.doc["tags"] = Value::Array(current);
            Ok(json!({}))
        })
    }

    pub fn list_tags_for_resource(&self, req: &Value) -> Result<Value> {
        let arn = str_field(req, "resourceArn")?;
        let (name, _) = self.parse_machine_arn(arn)?;
        let machines = self.machines();
        let m = machines.get(&name).ok_or_else(|| not_found(arn))?;
        Ok(json!({"tags": m.doc["tags"]}))
    }
}
