//! Reading executions: describe, list (by machine, status, pages), history (pages, reverse order), stop, and waiting for an end.

use super::*;

impl StepFunctions {
    pub(super) fn execution(&self, arn: &str) -> Result<Value> {
        let missing = || Error::ExecutionDoesNotExist(format!("Execution Does Not Exist: '{arn}'"));
        if !arn.starts_with("arn:aws:states:") || !arn.contains(":execution:") {
            if arn.contains(":express:") {
                return Err(missing());
            }
            return Err(Error::InvalidArn(format!(
                "Invalid Arn: 'Resource type not valid in this context: {arn}'"
            )));
        }
        let raw = self
            .kv
            .get(EXECUTIONS, arn.as_bytes())?
            .ok_or_else(missing)?;
        // A running execution's latest state is in memory.
        if let Some(r) = self.running().get(arn)
            && let Some(p) = &r.persist
        {
            return Ok(p.record.lock().unwrap_or_else(|p| p.into_inner()).clone());
        }
        serde_json::from_slice(&raw).map_err(|e| Error::Service(e.to_string()))
    }

    pub fn describe_execution(&self, req: &Value) -> Result<Value> {
        let rec = self.execution(str_field(req, "executionArn")?)?;
        Ok(describe(&rec))
    }

    pub fn describe_state_machine_for_execution(&self, req: &Value) -> Result<Value> {
        let rec = self.execution(str_field(req, "executionArn")?)?;
        let name = self
            .parse_machine_arn(rec["stateMachineArn"].as_str().unwrap_or_default())?
            .0;
        let m = self.machines().get(&name).cloned();
        Ok(json!({
            "stateMachineArn": rec["stateMachineArn"],
            "name": name,
            "definition": rec["definition"],
            "roleArn": rec["roleArn"],
            "updateDate": m.as_ref().map(|m| m.doc.get("updateDate").cloned().unwrap_or(m.doc["creationDate"].clone())),
            "loggingConfiguration": m.as_ref().map(|m| m.doc["loggingConfiguration"].clone()),
            "tracingConfiguration": m.as_ref().map(|m| m.doc["tracingConfiguration"].clone()),
            "revisionId": m.as_ref().map(|m| m.doc["revisionId"].clone()),
        }))
    }

    pub fn list_executions(&self, req: &Value) -> Result<Value> {
        let arn = match (
            req.get("stateMachineArn").and_then(Value::as_str),
            req.get("mapRunArn"),
        ) {
            (Some(a), _) => a,
            (None, Some(_)) => {
                return Err(Error::ResourceNotFound(
                    "Map runs (distributed map) are not supported by Nimbus".into(),
                ));
            }
            (None, None) => {
                return Err(Error::Validation(
                    "Must provide a StateMachine ARN or MapRun ARN".into(),
                ));
            }
        };
        let (name, q) = self.parse_machine_arn(arn)?;
        let m = self
            .machines()
            .get(&name)
            .cloned()
            .ok_or_else(|| no_machine(arn))?;
        if m.express() {
            return Err(Error::StateMachineTypeNotSupported(
                "This operation is not supported by this type of state machine".into(),
            ));
        }
        let status = req.get("statusFilter").and_then(Value::as_str);
        let mut prefix = m.arn().as_bytes().to_vec();
        prefix.push(0);
        let mut all = Vec::new();
        for (_, exec) in self.kv.scan_prefix(BY_MACHINE, &prefix)? {
            let Ok(rec) = self.execution(&String::from_utf8_lossy(&exec)) else {
                continue;
            };
            if status.is_some_and(|s| rec["status"] != s) {
                continue;
            }
            if let Some(q) = &q {
                let key = if q.chars().all(|c| c.is_ascii_digit()) {
                    "stateMachineVersionArn"
                } else {
                    "stateMachineAliasArn"
                };
                if rec[key] != arn {
                    continue;
                }
            }
            let mut item = json!({
                "executionArn": rec["executionArn"],
                "stateMachineArn": rec["stateMachineArn"],
                "name": rec["name"],
                "status": rec["status"],
                "startDate": secs(rec["startDate"].as_u64().unwrap_or(0)),
                "redriveCount": 0,
            });
            if let Some(s) = rec["stopDate"].as_u64() {
                item["stopDate"] = secs(s);
            }
            for k in ["stateMachineVersionArn", "stateMachineAliasArn"] {
                if rec.get(k).is_some() {
                    item[k] = rec[k].clone();
                }
            }
            all.push(item);
        }
        let (items, next) = page(&all, req)?;
        Ok(json!({"executions": items, "nextToken": next}))
    }

    pub fn get_execution_history(&self, req: &Value) -> Result<Value> {
        let arn = str_field(req, "executionArn")?;
        // ExecutionDoesNotExist / InvalidArn before reading the history.
        self.execution(arn)?;
        let mut prefix = arn.as_bytes().to_vec();
        prefix.push(0);
        let include = req.get("includeExecutionData").and_then(Value::as_bool) != Some(false);
        // A running execution's latest events are not stored yet: read them
        // first, then the stored ones (a transition in between moves events
        // from one to the other, never out of both).
        let unsaved = self
            .running()
            .get(arn)
            .map(|r| r.run.unsaved_events())
            .unwrap_or_default();
        let mut events: Vec<Value> = self
            .kv
            .scan_prefix(HISTORY, &prefix)?
            .into_iter()
            .filter_map(|(_, v)| serde_json::from_slice::<Value>(&v).ok())
            .collect();
        let stored = events.last().and_then(|e| e["id"].as_u64()).unwrap_or(0);
        events.extend(
            unsaved
                .iter()
                .filter(|e| e.id > stored)
                .map(|e| e.to_json()),
        );
        if !include {
            for e in &mut events {
                if let Some(o) = e.as_object_mut() {
                    for (k, d) in o.iter_mut() {
                        if k.ends_with("EventDetails")
                            && let Some(d) = d.as_object_mut()
                        {
                            for f in ["input", "output", "parameters"] {
                                d.remove(f);
                            }
                        }
                    }
                }
            }
        }
        if req.get("reverseOrder").and_then(Value::as_bool) == Some(true) {
            events.reverse();
        }
        let (items, next) = page(&events, req)?;
        Ok(json!({"events": items, "nextToken": next}))
    }

    pub fn stop_execution(&self, req: &Value) -> Result<Value> {
        let arn = str_field(req, "executionArn")?;
        let rec = self.execution(arn)?;
        let now = nimbus_model::time::now_millis();
        if rec["status"] != "RUNNING" {
            return Ok(json!({"stopDate": secs(rec["stopDate"].as_u64().unwrap_or(now))}));
        }
        let error = req.get("error").and_then(Value::as_str);
        let cause = req.get("cause").and_then(Value::as_str);
        let running = self.running().remove(arn);
        match running {
            Some(r) => {
                if r.persist.as_ref().is_some_and(|p| !p.claim_stop()) {
                    // It ended (or is being stopped) meanwhile.
                    let rec = self.execution(arn)?;
                    return Ok(json!({"stopDate": secs(rec["stopDate"].as_u64().unwrap_or(now))}));
                }
                r.abort.abort();
                r.run.aborted(error, cause);
            }
            None => {
                let mut rec = rec;
                apply_end(
                    &mut rec,
                    &End {
                        status: "ABORTED",
                        output: None,
                        failure: Some(Failure::new(
                            error.unwrap_or_default(),
                            cause.unwrap_or_default(),
                        )),
                    },
                );
                let mut b = WriteBatch::new();
                b.put(EXECUTIONS, arn.as_bytes().to_vec(), rec.to_string());
                let kv = self.kv.clone();
                blocking(move || kv.commit(b))?;
            }
        }
        Ok(json!({"stopDate": secs(now)}))
    }

    /// Wait until an execution started here ends; its record then.
    pub async fn wait_for(&self, arn: &str) -> Result<Value> {
        let rx = self.running().get(arn).map(|r| r.done.clone());
        if let Some(mut rx) = rx {
            while !*rx.borrow() {
                if rx.changed().await.is_err() {
                    break;
                }
            }
        }
        // A stopped run's task ends before StopExecution records the end.
        for _ in 0..1000 {
            let rec = self.execution(arn)?;
            if rec["status"] != "RUNNING" || self.running().contains_key(arn) {
                return Ok(rec);
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        self.execution(arn)
    }
}
