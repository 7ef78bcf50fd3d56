//! Stages and deployments, for HTTP APIs ([`crate::apis`]) and REST APIs
//! ([`crate::rest`]) alike: a deployment records what an API was when it was
//! deployed (`S`: an HTTP API's routes and integrations, a REST API's resource
//! tree), and a stage names the deployment it serves, with its variables.
//!
//! An HTTP API stage may instead auto-deploy: it serves the API as it is now,
//! and every change of the API records an automatic deployment (which captures
//! nothing). Not here: what a capture means when a request is served
//! ([`crate::serve`]).

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The stage a request without a stage segment is served by (HTTP APIs).
pub const DEFAULT_STAGE: &str = "$default";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Stage {
    pub name: String,
    /// The deployment it serves; None for a stage never deployed to.
    pub deployment_id: Option<String>,
    /// Serve the API as it is now (HTTP APIs only).
    #[serde(default)]
    pub auto_deploy: bool,
    pub description: Option<String>,
    pub variables: BTreeMap<String, String>,
    pub created_ms: u64,
    pub modified_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Deployment<S> {
    pub id: String,
    pub description: Option<String>,
    pub created_ms: u64,
    /// Recorded by a change of an API with auto-deploying stages.
    #[serde(default)]
    pub auto_deployed: bool,
    /// What was deployed; None for an automatic deployment, whose stages
    /// serve the API as it is.
    pub captured: Option<S>,
}

/// What deploying to a stage that does not exist does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// Fail with `NotFound` (HTTP APIs' `CreateDeployment`).
    Refuse,
    /// Create the stage (REST APIs' `CreateDeployment`).
    Create,
}

/// An API's stages and deployments. Stored within the API's record as its
/// `stages` and `deployments` fields.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Stages<S> {
    stages: Vec<Stage>,
    deployments: Vec<Deployment<S>>,
}

impl<S> Default for Stages<S> {
    fn default() -> Self {
        Stages {
            stages: Vec::new(),
            deployments: Vec::new(),
        }
    }
}

/// Check a stage name as `CreateStage` does.
pub fn check_name(name: &str) -> Result<()> {
    let ok = name == DEFAULT_STAGE
        || (!name.is_empty()
            && name.len() <= 128
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_')));
    if ok {
        Ok(())
    } else {
        Err(Error::BadRequest(format!(
            "Stage name only allows a-zA-Z0-9_- (or $default); got {name}"
        )))
    }
}

fn no_stage(name: &str) -> Error {
    Error::NotFound(format!("Invalid stage identifier specified {name}"))
}

fn no_deployment(id: &str) -> Error {
    Error::NotFound(format!("Invalid Deployment identifier specified {id}"))
}

fn now() -> u64 {
    nimbus_model::time::now_millis()
}

impl<S: Clone> Stages<S> {
    /// Every stage, in the order they were created.
    pub fn list(&self) -> &[Stage] {
        &self.stages
    }

    pub fn get(&self, name: &str) -> Option<&Stage> {
        self.stages.iter().find(|s| s.name == name)
    }

    /// The stage `name`, or `NotFound`.
    pub fn find(&self, name: &str) -> Result<&Stage> {
        self.get(name).ok_or_else(|| no_stage(name))
    }

    /// The stage `name` to change, or `NotFound`.
    pub fn find_mut(&mut self, name: &str) -> Result<&mut Stage> {
        self.stages
            .iter_mut()
            .find(|s| s.name == name)
            .ok_or_else(|| no_stage(name))
    }

    /// Every deployment, oldest first.
    pub fn deployments(&self) -> &[Deployment<S>] {
        &self.deployments
    }

    pub fn deployment(&self, id: &str) -> Option<&Deployment<S>> {
        self.deployments.iter().find(|d| d.id == id)
    }

    /// The deployment `id`, or `NotFound`.
    pub fn find_deployment(&self, id: &str) -> Result<&Deployment<S>> {
        self.deployment(id).ok_or_else(|| no_deployment(id))
    }

    /// What the deployment `stage` names captured (None for a stage never
    /// deployed to, or one whose deployment was automatic).
    pub fn captured(&self, stage: &Stage) -> Option<&S> {
        let id = stage.deployment_id.as_deref()?;
        self.deployment(id)?.captured.as_ref()
    }

    /// Create a stage (`CreateStage`), serving `deployment` if given.
    pub fn create(
        &mut self,
        name: &str,
        auto_deploy: bool,
        deployment: Option<String>,
        variables: BTreeMap<String, String>,
        description: Option<String>,
    ) -> Result<Stage> {
        check_name(name)?;
        if let Some(d) = &deployment {
            self.find_deployment(d)?;
        }
        if self.get(name).is_some() {
            return Err(Error::Conflict(format!("Stage {name} already exists")));
        }
        let t = now();
        let s = Stage {
            name: name.to_string(),
            deployment_id: deployment,
            auto_deploy,
            description,
            variables,
            created_ms: t,
            modified_ms: t,
        };
        self.stages.push(s.clone());
        Ok(s)
    }

    /// Point the stage `name` at the deployment `id` (`UpdateStage`).
    pub fn point(&mut self, name: &str, id: &str) -> Result<&mut Stage> {
        self.find_deployment(id)?;
        let s = self.find_mut(name)?;
        s.deployment_id = Some(id.to_string());
        s.modified_ms = now();
        Ok(s)
    }

    /// Delete the stage `name` (`DeleteStage`).
    pub fn delete(&mut self, name: &str) -> Result<Stage> {
        let i = self
            .stages
            .iter()
            .position(|s| s.name == name)
            .ok_or_else(|| no_stage(name))?;
        Ok(self.stages.remove(i))
    }

    /// Record a deployment of `captured` (`CreateDeployment`) and, if `stage`
    /// is given, point that stage at it with `variables` added to its own.
    pub fn deploy(
        &mut self,
        captured: S,
        description: Option<String>,
        stage: Option<&str>,
        variables: BTreeMap<String, String>,
        missing: Missing,
    ) -> Result<Deployment<S>> {
        let d = Deployment {
            id: crate::apis::new_id(),
            description,
            created_ms: now(),
            auto_deployed: false,
            captured: Some(captured),
        };
        if let Some(name) = stage {
            match self.find_mut(name) {
                Ok(s) if s.auto_deploy => {
                    return Err(Error::BadRequest(format!(
                        "Stage {name} is configured for auto-deploy: deployments are made automatically"
                    )));
                }
                Ok(s) => {
                    s.deployment_id = Some(d.id.clone());
                    s.variables.extend(variables);
                    s.modified_ms = d.created_ms;
                }
                Err(e) if missing == Missing::Refuse => return Err(e),
                Err(_) => {
                    self.deployments.push(d.clone());
                    self.create(name, false, Some(d.id.clone()), variables, None)?;
                    return Ok(d);
                }
            }
        }
        self.deployments.push(d.clone());
        Ok(d)
    }

    /// After a change of the API: record an automatic deployment for the
    /// auto-deploying stages, if there are any.
    pub fn auto_deploy(&mut self) {
        if !self.stages.iter().any(|s| s.auto_deploy) {
            return;
        }
        let d = Deployment {
            id: crate::apis::new_id(),
            description: Some(
                "Automatic deployment triggered by changes to the Api configuration".into(),
            ),
            created_ms: now(),
            auto_deployed: true,
            captured: None,
        };
        for s in self.stages.iter_mut().filter(|s| s.auto_deploy) {
            s.deployment_id = Some(d.id.clone());
        }
        self.deployments.push(d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_names_are_checked_once_for_both_kinds_of_api() {
        for good in ["$default", "prod", "v1_beta-2", &"a".repeat(128)] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "a b", "a/b", "$other", &"a".repeat(129)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn stages_serve_what_their_deployment_captured() {
        let mut s: Stages<u32> = Stages::default();
        s.create("auto", true, None, BTreeMap::new(), None).unwrap();
        assert!(matches!(
            s.create("auto", false, None, BTreeMap::new(), None),
            Err(Error::Conflict(_))
        ));
        assert!(matches!(
            s.deploy(1, None, Some("prod"), BTreeMap::new(), Missing::Refuse),
            Err(Error::NotFound(_))
        ));
        assert!(matches!(
            s.deploy(1, None, Some("auto"), BTreeMap::new(), Missing::Refuse),
            Err(Error::BadRequest(_))
        ));
        let vars = BTreeMap::from([("k".to_string(), "v".to_string())]);
        let d1 = s
            .deploy(1, None, Some("prod"), vars, Missing::Create)
            .unwrap();
        let prod = s.find("prod").unwrap().clone();
        assert_eq!(prod.deployment_id.as_deref(), Some(d1.id.as_str()));
        assert_eq!(prod.variables["k"], "v");
        assert_eq!(s.captured(&prod), Some(&1));
        let d2 = s
            .deploy(2, None, None, BTreeMap::new(), Missing::Refuse)
            .unwrap();
        assert_eq!(s.captured(s.find("prod").unwrap()), Some(&1));
        s.point("prod", &d2.id).unwrap();
        assert_eq!(s.captured(s.find("prod").unwrap()), Some(&2));
        assert!(s.point("prod", "nosuch").is_err());
        s.auto_deploy();
        let auto = s.find("auto").unwrap();
        assert!(
            s.find_deployment(auto.deployment_id.as_deref().unwrap())
                .unwrap()
                .auto_deployed
        );
        assert_eq!(s.captured(auto), None);
        assert_eq!(s.deployments().len(), 3);
        s.delete("prod").unwrap();
        assert!(matches!(s.delete("prod"), Err(Error::NotFound(_))));
        assert_eq!(s.list().len(), 1);
    }
}
