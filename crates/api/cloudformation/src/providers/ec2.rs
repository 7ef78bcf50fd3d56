//! `AWS::EC2::VPC`, `AWS::EC2::Subnet` and `AWS::EC2::SecurityGroup` as
//! placeholders: Nimbus has no EC2, and functions run on the host's
//! network, but templates give their functions a `VpcConfig` naming such
//! resources. They are accepted only where a function's `VpcConfig` refers
//! to them (directly, or through another placeholder, as a subnet names its
//! VPC), get ids of EC2's shape, and their `CREATE_COMPLETE` event says
//! what they are.

use super::{Created, string};
use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// The placeholder types.
pub(crate) const KINDS: [&str; 3] = [
    "AWS::EC2::VPC",
    "AWS::EC2::Subnet",
    "AWS::EC2::SecurityGroup",
];

/// What a placeholder's `CREATE_COMPLETE` event says.
pub(crate) const NOTE: &str = "Nimbus has no EC2: this resource is a placeholder for a function's VpcConfig, and the function runs on the host's network";

/// The resources of `template` that may be placeholders: those of
/// [`KINDS`] a function's `VpcConfig` refers to, and those they refer to.
pub(crate) fn allowed(template: &nimbus_templates::Template) -> BTreeSet<String> {
    let mut allowed = BTreeSet::new();
    let mut queue: Vec<&Value> = template
        .resources
        .values()
        .filter(|r| r.kind == "AWS::Lambda::Function")
        .filter_map(|r| r.properties.get("VpcConfig"))
        .collect();
    while let Some(v) = queue.pop() {
        for r in nimbus_templates::references(v, None) {
            let name = r.name().to_string();
            let Some(res) = template.resources.get(&name) else {
                continue;
            };
            if KINDS.contains(&res.kind.as_str()) && allowed.insert(name) {
                queue.extend(res.properties.values());
            }
        }
    }
    allowed
}

fn id(prefix: &str) -> String {
    let hex = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}-{}", &hex[..17])
}

pub(super) fn create(kind: &str, region: &str, props: &Map<String, Value>) -> Created {
    let text = |k: &str| string(props, k).unwrap_or_default();
    match kind {
        "AWS::EC2::VPC" => {
            let vpc = id("vpc");
            Created::named(vpc.clone())
                .with("VpcId", vpc)
                .with("CidrBlock", text("CidrBlock"))
                .with("DefaultSecurityGroup", id("sg"))
                .with("DefaultNetworkAcl", id("acl"))
                .with("CidrBlockAssociations", Value::Array(Vec::new()))
                .with("Ipv6CidrBlocks", Value::Array(Vec::new()))
        }
        "AWS::EC2::Subnet" => {
            let subnet = id("subnet");
            let zone = string(props, "AvailabilityZone").unwrap_or_else(|| format!("{region}a"));
            Created::named(subnet.clone())
                .with("SubnetId", subnet)
                .with("VpcId", text("VpcId"))
                .with("AvailabilityZone", zone)
                .with("CidrBlock", text("CidrBlock"))
        }
        _ => {
            let group = id("sg");
            Created::named(group.clone())
                .with("GroupId", group)
                .with("VpcId", text("VpcId"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_a_function_s_vpc_config_reaches_is_allowed() {
        let t = nimbus_templates::parse(
            "
Resources:
  Vpc: {Type: AWS::EC2::VPC, Properties: {CidrBlock: 10.0.0.0/16}}
  Other: {Type: AWS::EC2::VPC, Properties: {CidrBlock: 10.1.0.0/16}}
  Subnet: {Type: AWS::EC2::Subnet, Properties: {VpcId: !Ref Vpc, CidrBlock: 10.0.1.0/24}}
  Group: {Type: AWS::EC2::SecurityGroup, Properties: {GroupDescription: g, VpcId: !Ref Vpc}}
  Fn:
    Type: AWS::Lambda::Function
    Properties:
      Role: r
      Code: {ZipFile: x}
      VpcConfig:
        SubnetIds: [!Ref Subnet]
        SecurityGroupIds: [!GetAtt Group.GroupId]
",
        )
        .unwrap();
        let allowed: Vec<String> = allowed(&t).into_iter().collect();
        assert_eq!(allowed, ["Group", "Subnet", "Vpc"]);
    }
}
