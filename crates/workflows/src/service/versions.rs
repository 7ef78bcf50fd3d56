//! State machine versions and aliases (with weighted routing).

use super::*;

impl StepFunctions {
    pub fn publish_state_machine_version(&self, req: &Value) -> Result<Value> {
        let arn = str_field(req, "stateMachineArn")?;
        let (name, _) = self.parse_machine_arn(arn)?;
        self.update_machine(&name, no_machine(arn), |m| {
            if let Some(rev) = req.get("revisionId").and_then(Value::as_str)
                && m.doc["revisionId"] != rev
            {
                return Err(Error::Conflict("The revisionId does not match the state machine's current revision".into(),
                ));
            }
            // Publishing an unchanged revision again returns the version it made.
            if let Some(v) = m
                .versions
                .iter()
                .find(|v| v["revisionId"] == m.doc["revisionId"])
            {
                return Ok(
                    json!({"stateMachineVersionArn": v["stateMachineVersionArn"], "creationDate": v["creationDate"]}),
                );
            }
            let now = nimbus_model::time::now_millis();
            let varn = Self::publish(m, req.get("description"), now);
            Ok(json!({"stateMachineVersionArn": varn, "creationDate": secs(now)}))
        })
    }

    pub fn list_state_machine_versions(&self, req: &Value) -> Result<Value> {
        let arn = str_field(req, "stateMachineArn")?;
        let (name, _) = self.parse_machine_arn(arn)?;
        let machines = self.machines();
        let m = machines.get(&name).ok_or_else(|| not_found(arn))?;
        let mut all: Vec<Value> = m
            .versions
            .iter()
            .map(|v| json!({"stateMachineVersionArn": v["stateMachineVersionArn"], "creationDate": v["creationDate"]}))
            .collect();
        all.reverse();
        let (items, next) = page(&all, req)?;
        Ok(json!({"stateMachineVersions": items, "nextToken": next}))
    }

    pub fn delete_state_machine_version(&self, req: &Value) -> Result<Value> {
        let arn = str_field(req, "stateMachineVersionArn")?;
        let (name, q) = self.parse_machine_arn(arn)?;
        let Some(q) = q else {
            return Err(Error::Validation(
                "stateMachineVersionArn must name a version".into(),
            ));
        };
        // Deleting a version of a missing machine succeeds, as on Step Functions.
        let done = self.update_machine(&name, no_machine(arn), |m| {
            if m.aliases.iter().any(|a| {
                a["routingConfiguration"]
                    .as_array()
                    .is_some_and(|r| r.iter().any(|r| r["stateMachineVersionArn"] == arn))
            }) {
                return Err(Error::Conflict(format!(
                    "Version {arn} is referenced by an alias"
                )));
            }
            m.versions.retain(|v| !version_is(v, &q));
            Ok(())
        });
        match done {
            Err(e) if !matches!(e, Error::StateMachineDoesNotExist(_)) => Err(e),
            _ => Ok(json!({})),
        }
    }

    pub(super) fn check_routing(&self, m: &MachineRecord, routing: &Value) -> Result<Vec<Value>> {
        let list = routing
            .as_array()
            .filter(|a| !a.is_empty() && a.len() <= 2)
            .ok_or_else(|| {
                Error::Validation("routingConfiguration must name one or two versions".into())
            })?;
        let mut total = 0;
        for r in list {
            let varn = r["stateMachineVersionArn"].as_str().unwrap_or_default();
            if !m
                .versions
                .iter()
                .any(|v| v["stateMachineVersionArn"] == varn)
            {
                return Err(not_found(varn));
            }
            total += r["weight"].as_u64().unwrap_or(0);
        }
        if total != 100 {
            return Err(Error::Validation(
                "The weights of routingConfiguration must add up to 100".into(),
            ));
        }
        Ok(list.clone())
    }

    pub fn create_state_machine_alias(&self, req: &Value) -> Result<Value> {
        let name = str_field(req, "name")?;
        if !valid_name(name) || name.chars().all(|c| c.is_ascii_digit()) {
            return Err(Error::InvalidName(format!("Invalid Name: '{name}'")));
        }
        let routing = req
            .get("routingConfiguration")
            .cloned()
            .unwrap_or(Value::Null);
        let first = routing[0]["stateMachineVersionArn"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let (mname, _) = self.parse_machine_arn(&first)?;
        self.update_machine(&mname, not_found(&first), |m| {
            let routing = self.check_routing(m, &routing)?;
            let arn = format!("{}:{name}", m.arn());
            if m.aliases.iter().any(|a| a["name"] == name) {
                return Err(Error::Conflict(format!("Alias already exists: '{arn}'")));
            }
            let now = nimbus_model::time::now_millis();
            m.aliases.push(json!({
                "stateMachineAliasArn": arn,
                "name": name,
                "description": req.get("description").cloned().unwrap_or(Value::Null),
                "routingConfiguration": routing,
                "creationDate": secs(now),
            }));
            Ok(json!({"stateMachineAliasArn": arn, "creationDate": secs(now)}))
        })
    }

    /// The position of the alias `arn` names in its machine.
    pub(super) fn alias_index(m: &MachineRecord, arn: &str, alias: Option<&str>) -> Result<usize> {
        let alias = alias.ok_or_else(|| not_found(arn))?;
        m.aliases
            .iter()
            .position(|a| a["name"] == alias)
            .ok_or_else(|| not_found(arn))
    }

    pub fn describe_state_machine_alias(&self, req: &Value) -> Result<Value> {
        let arn = str_field(req, "stateMachineAliasArn")?;
        let (name, alias) = self.parse_machine_arn(arn)?;
        let machines = self.machines();
        let m = machines.get(&name).ok_or_else(|| not_found(arn))?;
        let mut a = m.aliases[Self::alias_index(m, arn, alias.as_deref())?].clone();
        if a["description"].is_null()
            && let Some(o) = a.as_object_mut()
        {
            o.remove("description");
        }
        Ok(a)
    }

    pub fn update_state_machine_alias(&self, req: &Value) -> Result<Value> {
        let arn = str_field(req, "stateMachineAliasArn")?;
        let (name, alias) = self.parse_machine_arn(arn)?;
        let now = nimbus_model::time::now_millis();
        self.update_machine(&name, not_found(arn), |m| {
            let i = Self::alias_index(m, arn, alias.as_deref())?;
            if let Some(r) = req.get("routingConfiguration") {
                m.aliases[i]["routingConfiguration"] = json!(self.check_routing(m, r)?);
            }
            if let Some(d) = req.get("description") {
                m.aliases[i]["description"] = d.clone();
            }
            m.aliases[i]["updateDate"] = secs(now);
            Ok(json!({"updateDate": secs(now)}))
        })
    }

    pub fn delete_state_machine_alias(&self, req: &Value) -> Result<Value> {
        let arn = str_field(req, "stateMachineAliasArn")?;
        let (name, alias) = self.parse_machine_arn(arn)?;
        self.update_machine(&name, not_found(arn), |m| {
            let i = Self::alias_index(m, arn, alias.as_deref())?;
            m.aliases.remove(i);
            Ok(json!({}))
        })
    }

    pub fn list_state_machine_aliases(&self, req: &Value) -> Result<Value> {
        let arn = str_field(req, "stateMachineArn")?;
        let (name, _) = self.parse_machine_arn(arn)?;
        let machines = self.machines();
        let m = machines.get(&name).ok_or_else(|| not_found(arn))?;
        let all: Vec<Value> = m
            .aliases
            .iter()
            .map(|a| json!({"stateMachineAliasArn": a["stateMachineAliasArn"], "creationDate": a["creationDate"]}))
            .collect();
        let (items, next) = page(&all, req)?;
        Ok(json!({"stateMachineAliases": items, "nextToken": next}))
    }
}
