//! State machines: create (idempotent), describe (also a version), update
//! (publishing a version if asked), list, delete.

use super::*;

/// `CreateStateMachine`'s input.
#[derive(Debug, Clone, Default)]
pub struct NewMachine {
    pub name: String,
    pub definition: String,
    pub role_arn: String,
    /// `STANDARD` when not given.
    pub kind: Option<String>,
    pub logging_configuration: Option<Value>,
    pub tracing_configuration: Option<Value>,
    pub tags: Vec<Tag>,
    pub publish: bool,
    pub version_description: Option<String>,
}

/// What `CreateStateMachine` made.
#[derive(Debug, Clone)]
pub struct Created {
    pub arn: String,
    pub creation_date: f64,
    pub version_arn: Option<String>,
}

/// `UpdateStateMachine`'s input: only what is `Some` changes.
#[derive(Debug, Clone, Default)]
pub struct MachineChange {
    pub arn: String,
    pub definition: Option<String>,
    pub role_arn: Option<String>,
    pub logging_configuration: Option<Value>,
    pub tracing_configuration: Option<Value>,
    pub publish: bool,
    pub version_description: Option<String>,
}

/// What `UpdateStateMachine` changed.
#[derive(Debug, Clone)]
pub struct Updated {
    pub update_date: f64,
    pub revision_id: String,
    pub version_arn: Option<String>,
}

/// A state machine as `DescribeStateMachine` shows it: the machine, or one of
/// its versions (then `arn` is the version's).
#[derive(Debug, Clone)]
pub struct MachineView {
    pub arn: String,
    pub machine: Arc<StateMachine>,
    pub version: Option<Version>,
}

impl StepFunctions {
    pub fn create_state_machine(&self, req: NewMachine) -> Result<Created> {
        let name = req.name.as_str();
        if !valid_name(name) {
            return Err(invalid_name(name));
        }
        if !nimbus_model::arn::is_valid_role_arn(&req.role_arn) {
            return Err(Error::InvalidArn(format!(
                "Invalid Arn: 'Resource type not valid in this context: {}'",
                req.role_arn
            )));
        }
        let kind_name = req.kind.as_deref().unwrap_or("STANDARD");
        let kind = MachineType::parse(kind_name).ok_or_else(|| Error::Validation(format!(
            "1 validation error detected: Value '{kind_name}' at 'type' failed to satisfy constraint: Member must satisfy enum value set: [STANDARD, EXPRESS]"
        )))?;
        let parsed = Self::check_definition(&req.definition)?;
        let arn = self.machine_arn(name);
        let now = nimbus_model::time::now_millis();
        let mut m = StateMachine {
            format: records::MACHINE_FORMAT,
            arn: arn.clone(),
            name: name.to_string(),
            definition: String::new(),
            role_arn: req.role_arn.clone(),
            kind,
            creation_date: secs(now),
            update_date: None,
            logging_configuration: req
                .logging_configuration
                .unwrap_or(json!({"level": "OFF", "includeExecutionData": false})),
            tracing_configuration: req
                .tracing_configuration
                .unwrap_or(json!({"enabled": false})),
            revision_id: uuid::Uuid::new_v4().to_string(),
            tags: req.tags,
            versions: Vec::new(),
            aliases: Vec::new(),
            parsed: OnceLock::new(),
        };
        m.set_definition(&req.definition, parsed);
        let version_arn = req
            .publish
            .then(|| Self::publish(&mut m, req.version_description, now));
        let creation_date = m.creation_date;
        match blocking(|| self.machines.insert(m))? {
            Ok(_) => Ok(Created {
                arn,
                creation_date,
                version_arn,
            }),
            // Creating the same machine again is idempotent.
            Err(existing)
                if existing.definition == req.definition
                    && existing.role_arn == req.role_arn
                    && existing.kind == kind =>
            {
                Ok(Created {
                    arn,
                    creation_date: existing.creation_date,
                    version_arn: None,
                })
            }
            Err(_) => Err(Error::StateMachineAlreadyExists(format!(
                "State Machine Already Exists: '{arn}'"
            ))),
        }
    }

    /// Publish the machine as it is now as its next version; its ARN.
    pub(super) fn publish(m: &mut StateMachine, description: Option<String>, now: u64) -> String {
        let n = m.versions.iter().map(|v| v.version).max().unwrap_or(0) + 1;
        let arn = format!("{}:{n}", m.arn);
        m.versions.push(Version {
            version: n,
            state_machine_version_arn: arn.clone(),
            definition: m.definition.clone(),
            role_arn: m.role_arn.clone(),
            revision_id: m.revision_id.clone(),
            description,
            creation_date: secs(now),
        });
        arn
    }

    pub fn describe_state_machine(&self, arn: &str) -> Result<MachineView> {
        let (name, qualifier) = self.parse_machine_arn(arn)?;
        let m = self.machine(&name, no_machine(arn))?;
        let version = match qualifier {
            None => None,
            Some(q) => Some(
                q.parse::<u64>()
                    .ok()
                    .and_then(|n| m.version(n))
                    .cloned()
                    .ok_or_else(|| no_machine(arn))?,
            ),
        };
        Ok(MachineView {
            arn: arn.to_string(),
            machine: m,
            version,
        })
    }

    pub fn update_state_machine(&self, req: MachineChange) -> Result<Updated> {
        let arn = req.arn.as_str();
        let (name, q) = self.parse_machine_arn(arn)?;
        if q.is_some() {
            return Err(Error::Validation(
                "Versions and aliases cannot be updated; update the state machine".into(),
            ));
        }
        if req.definition.is_none()
            && req.role_arn.is_none()
            && req.logging_configuration.is_none()
            && req.tracing_configuration.is_none()
        {
            return Err(Error::MissingRequiredParameter("Either the definition, the roleArn, the loggingConfiguration or the tracingConfiguration must be specified".into(),
            ));
        }
        let parsed = req
            .definition
            .as_deref()
            .map(Self::check_definition)
            .transpose()?;
        self.update_machine(&name, no_machine(arn), |next| {
            if let (Some(d), Some(p)) = (&req.definition, parsed) {
                next.set_definition(d, p);
            }
            if let Some(r) = req.role_arn {
                next.role_arn = r;
            }
            if let Some(v) = req.logging_configuration {
                next.logging_configuration = v;
            }
            if let Some(v) = req.tracing_configuration {
                next.tracing_configuration = v;
            }
            let now = nimbus_model::time::now_millis();
            next.revision_id = uuid::Uuid::new_v4().to_string();
            next.update_date = Some(secs(now));
            let version_arn = req
                .publish
                .then(|| Self::publish(next, req.version_description, now));
            Ok(Updated {
                update_date: secs(now),
                revision_id: next.revision_id.clone(),
                version_arn,
            })
        })
    }

    /// State machines by name.
    pub fn list_state_machines(&self, p: &Page) -> Result<Listed<Arc<StateMachine>>> {
        let mut all = self.machines.all();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        page(all, p)
    }

    pub fn delete_state_machine(&self, arn: &str) -> Result<()> {
        let (name, q) = self.parse_machine_arn(arn)?;
        if q.is_some() {
            return Err(Error::Validation(
                "Use DeleteStateMachineVersion or DeleteStateMachineAlias for a qualified ARN"
                    .into(),
            ));
        }
        blocking(|| self.machines.delete(&name))?;
        Ok(())
    }
}
