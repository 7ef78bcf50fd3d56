//! CodeDeploy's objects as durable records: applications, deployment groups
//! (keyed `application/group`), custom deployment configurations and
//! deployments, one `storage::records` table each.

use nimbus_storage::records::{Record, Records};
use nimbus_storage::{KvEngine, Table};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;

pub const FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Application {
    pub format: u32,
    pub name: String,
    pub id: String,
    pub compute_platform: String,
    pub created_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub format: u32,
    /// `application/group`.
    pub key: String,
    pub application: String,
    pub name: String,
    pub id: String,
    pub config: String,
    pub service_role_arn: Option<String>,
    /// As given: `alarmConfiguration`, `autoRollbackConfiguration`,
    /// `deploymentStyle`, `triggerConfigurations`.
    pub settings: serde_json::Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    pub format: u32,
    pub name: String,
    pub id: String,
    pub compute_platform: String,
    /// `trafficRoutingConfig`, as given.
    pub routing: Value,
    pub created_ms: u64,
}

/// One lifecycle hook of a deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hook {
    /// `BeforeAllowTraffic` or `AfterAllowTraffic`.
    pub event: String,
    pub function: String,
    pub execution_id: String,
    /// `Pending`, `InProgress`, `Succeeded` or `Failed`.
    pub status: String,
}

/// Who created a deployment: its traffic shifting acts as them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Acting {
    pub arn: String,
    pub account: String,
    pub user_id: String,
    pub access_key_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deployment {
    pub format: u32,
    pub id: String,
    pub application: String,
    pub group: String,
    pub config: String,
    pub description: Option<String>,
    /// `revision` as given (its AppSpec content).
    pub revision: Value,
    pub function: String,
    pub alias: String,
    pub current_version: String,
    pub target_version: String,
    pub hooks: Vec<Hook>,
    /// `Created`, `InProgress`, `Succeeded`, `Failed` or `Stopped`.
    pub status: String,
    pub error: Option<(String, String)>,
    /// Set by `StopDeployment`: whether to roll the traffic back.
    pub stop_requested: Option<bool>,
    pub rolled_back: bool,
    /// The target version's share of the traffic, in percent.
    pub shifted: u32,
    pub creator: String,
    pub created_ms: u64,
    pub started_ms: Option<u64>,
    pub completed_ms: Option<u64>,
    pub acting: Option<Acting>,
    /// The group's CloudWatch alarms (when its `alarmConfiguration` is
    /// enabled): one in `ALARM` stops the deployment.
    #[serde(default)]
    pub alarms: Vec<String>,
}

macro_rules! record {
    ($t:ty, $key:ident) => {
        impl Record for $t {
            fn key(&self) -> &str {
                &self.$key
            }
            fn format(&self) -> u32 {
                self.format
            }
        }
    };
}
record!(Application, name);
record!(Group, key);
record!(Config, name);
record!(Deployment, id);

impl Deployment {
    pub fn finished(&self) -> bool {
        matches!(self.status.as_str(), "Succeeded" | "Failed" | "Stopped")
    }
}

/// Every CodeDeploy object.
pub struct Store {
    pub applications: Records<Application>,
    pub groups: Records<Group>,
    pub configs: Records<Config>,
    pub deployments: Records<Deployment>,
}

impl Store {
    pub fn open(kv: Arc<dyn KvEngine>) -> nimbus_storage::Result<Store> {
        Ok(Store {
            applications: Records::open(kv.clone(), Table("codedeploy_applications"), FORMAT)?,
            groups: Records::open(kv.clone(), Table("codedeploy_groups"), FORMAT)?,
            configs: Records::open(kv.clone(), Table("codedeploy_configs"), FORMAT)?,
            deployments: Records::open(kv, Table("codedeploy_deployments"), FORMAT)?,
        })
    }
}
