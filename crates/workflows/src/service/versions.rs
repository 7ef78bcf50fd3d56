//! State machine versions and aliases (with weighted routing).

use super::*;

/// `CreateStateMachineAlias`'s input.
#[derive(Debug, Clone, Default)]
pub struct NewAlias {
    pub name: String,
    pub description: Option<String>,
    pub routing: Vec<Route>,
}

/// `UpdateStateMachineAlias`'s input: only what is `Some` changes.
#[derive(Debug, Clone, Default)]
pub struct AliasChange {
    pub arn: String,
    pub description: Option<String>,
    pub routing: Option<Vec<Route>>,
}

impl StepFunctions {
    /// Publish the machine's current revision (once: publishing it again
    /// answers the version it made).
    pub fn publish_state_machine_version(
        &self,
        arn: &str,
        revision_id: Option<&str>,
        description: Option<String>,
    ) -> Result<Version> {
        let (name, _) = self.parse_machine_arn(arn)?;
        self.update_machine(&name, no_machine(arn), |m| {
            if revision_id.is_some_and(|r| r != m.revision_id) {
                return Err(Error::Conflict(
                    "The revisionId does not match the state machine's current revision".into(),
                ));
            }
            if let Some(v) = m.versions.iter().find(|v| v.revision_id == m.revision_id) {
                return Ok(v.clone());
            }
            let now = nimbus_model::time::now_millis();
            Self::publish(m, description, now);
            Ok(m.versions.last().cloned().expect("just published"))
        })
    }

    /// Versions, newest first.
    pub fn list_state_machine_versions(&self, arn: &str, p: &Page) -> Result<Listed<Version>> {
        let (name, _) = self.parse_machine_arn(arn)?;
        let m = self.machine(&name, not_found(arn))?;
        page(m.versions.iter().rev().cloned().collect(), p)
    }

    pub fn delete_state_machine_version(&self, arn: &str) -> Result<()> {
        let (name, q) = self.parse_machine_arn(arn)?;
        let Some(q) = q else {
            return Err(Error::Validation(
                "stateMachineVersionArn must name a version".into(),
            ));
        };
        let number = q.parse::<u64>().ok();
        // Deleting a version of a missing machine succeeds, as on Step Functions.
        let done = self.update_machine(&name, no_machine(arn), |m| {
            if m.aliases.iter().any(|a| {
                a.routing_configuration
                    .iter()
                    .any(|r| r.state_machine_version_arn == arn)
            }) {
                return Err(Error::Conflict(format!(
                    "Version {arn} is referenced by an alias"
                )));
            }
            m.versions.retain(|v| Some(v.version) != number);
            Ok(())
        });
        match done {
            Err(e) if !matches!(e, Error::StateMachineDoesNotExist(_)) => Err(e),
            _ => Ok(()),
        }
    }

    /// One or two published versions of `m` whose weights add up to 100.
    fn check_routing(m: &StateMachine, routing: &[Route]) -> Result<()> {
        if routing.is_empty() || routing.len() > 2 {
            return Err(Error::Validation(
                "routingConfiguration must name one or two versions".into(),
            ));
        }
        for r in routing {
            if !m
                .versions
                .iter()
                .any(|v| v.state_machine_version_arn == r.state_machine_version_arn)
            {
                return Err(not_found(&r.state_machine_version_arn));
            }
        }
        if routing.iter().map(|r| r.weight).sum::<u64>() != 100 {
            return Err(Error::Validation(
                "The weights of routingConfiguration must add up to 100".into(),
            ));
        }
        Ok(())
    }

    pub fn create_state_machine_alias(&self, req: NewAlias) -> Result<Alias> {
        let name = req.name.as_str();
        if !valid_name(name) || name.chars().all(|c| c.is_ascii_digit()) {
            return Err(invalid_name(name));
        }
        let first = req
            .routing
            .first()
            .map(|r| r.state_machine_version_arn.clone())
            .unwrap_or_default();
        let (mname, _) = self.parse_machine_arn(&first)?;
        self.update_machine(&mname, not_found(&first), |m| {
            Self::check_routing(m, &req.routing)?;
            let arn = format!("{}:{name}", m.arn);
            if m.alias(name).is_some() {
                return Err(Error::Conflict(format!("Alias already exists: '{arn}'")));
            }
            let alias = Alias {
                state_machine_alias_arn: arn,
                name: name.to_string(),
                description: req.description,
                routing_configuration: req.routing,
                creation_date: secs(nimbus_model::time::now_millis()),
                update_date: None,
            };
            m.aliases.push(alias.clone());
            Ok(alias)
        })
    }

    /// The position of the alias `arn` names in its machine.
    fn alias_index(m: &StateMachine, arn: &str, alias: Option<&str>) -> Result<usize> {
        let alias = alias.ok_or_else(|| not_found(arn))?;
        m.aliases
            .iter()
            .position(|a| a.name == alias)
            .ok_or_else(|| not_found(arn))
    }

    pub fn describe_state_machine_alias(&self, arn: &str) -> Result<Alias> {
        let (name, alias) = self.parse_machine_arn(arn)?;
        let m = self.machine(&name, not_found(arn))?;
        Ok(m.aliases[Self::alias_index(&m, arn, alias.as_deref())?].clone())
    }

    /// Change an alias; its update date.
    pub fn update_state_machine_alias(&self, req: AliasChange) -> Result<f64> {
        let arn = req.arn.as_str();
        let (name, alias) = self.parse_machine_arn(arn)?;
        let now = secs(nimbus_model::time::now_millis());
        self.update_machine(&name, not_found(arn), |m| {
            let i = Self::alias_index(m, arn, alias.as_deref())?;
            if let Some(r) = req.routing {
                Self::check_routing(m, &r)?;
                m.aliases[i].routing_configuration = r;
            }
            if let Some(d) = req.description {
                m.aliases[i].description = Some(d);
            }
            m.aliases[i].update_date = Some(now);
            Ok(now)
        })
    }

    pub fn delete_state_machine_alias(&self, arn: &str) -> Result<()> {
        let (name, alias) = self.parse_machine_arn(arn)?;
        self.update_machine(&name, not_found(arn), |m| {
            let i = Self::alias_index(m, arn, alias.as_deref())?;
            m.aliases.remove(i);
            Ok(())
        })
    }

    pub fn list_state_machine_aliases(&self, arn: &str, p: &Page) -> Result<Listed<Alias>> {
        let (name, _) = self.parse_machine_arn(arn)?;
        let m = self.machine(&name, not_found(arn))?;
        page(m.aliases.clone(), p)
    }
}
